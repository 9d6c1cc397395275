#!/usr/bin/perl
# /status.json and the /status page: the JSON parses, round-trips, and
# holds routes (split as configured and effective), pools (every server
# with weight, health, breaker, admin state and counters), rollouts and
# process info; the HTML page is self-contained (no external assets) and,
# rendered by headless Chromium, shows every route and server both as the
# server rendered it and after its script has refreshed it from
# /status.json.  A screenshot is taken (kept with CUTOVER_KEEP_TMP=1).

use strict;
use warnings;

use JSON::PP ();
use Test::More tests => 40;

use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $port = free_port();
my $cut = start_cutover(conf => <<"EOF");
[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}
server = b2 127.0.0.1:${\ $blue->port} weight=3

[pool green]
server = g1 127.0.0.1:${\ $green->port}
balance = least_conn

[route app]
split = blue 90, green 10
match_header = X-Canary: 1 -> green

[route api]
host = api.test
path_prefix = /v1
split = green 100
EOF
my $sp = $cut->status_port;

my $res = run_parallel(port => $port, conns => 2, requests => 20);
is($res->{ok}, 40, '40 requests succeed');

# /status.json
my $r = http_get($sp, '/status.json');
is($r->{status}, 200, '/status.json answers 200');
like($r->{headers}{'content-type'}, qr{^application/json},
    'it is served as JSON');
my $json = JSON::PP->new->canonical;
my $d = eval { $json->decode($r->{body}) };
ok($d, '/status.json parses') or diag($@);
$d //= {};
my $again = eval { $json->decode($json->encode($d)) };
is_deeply($again, $d, 'it round-trips through encode and decode');
is(ref $d->{rollouts}, 'ARRAY', 'rollouts is a list');
is($d->{info}{pid}, $cut->pid, 'info has the pid');
like($d->{info}{version}, qr/^\d+\.\d+/, 'info has the version');
ok(JSON::PP::is_bool($d->{info}{ready}) && $d->{info}{ready},
    'info says ready, as a boolean');
is($d->{info}{requests}, 40, 'info counts the requests');
ok(defined $d->{info}{connections}{open}, 'info has the connections');

my %routes = map { $_->{name} => $_ } @{$d->{routes} // []};
is(join(',', sort keys %routes), 'api,app', 'both routes are listed');
my %split = map { $_->{pool} => $_ } @{$routes{app}{split} // []};
is($split{blue}{configured}, 90, 'blue is configured at 90');
is($split{blue}{share}, 90, 'blue\'s effective share is 90%');
is($split{green}{share}, 10, 'green\'s effective share is 10%');
is($routes{app}{stable}, 'blue', 'the stable pool defaults to the first');
is($routes{app}{matches}[0]{pool}, 'green', 'match rules are listed');
is_deeply($routes{api}{hosts}, ['api.test'], 'hosts are listed');
is($routes{api}{path_prefix}, '/v1', 'the path prefix is listed');

my %pools = map { $_->{name} => $_ } @{$d->{pools} // []};
is(join(',', sort keys %pools), 'blue,green', 'both pools are listed');
is($pools{green}{balance}, 'least_conn', 'a pool shows its balance');
my %srv = map { $_->{name} => $_ } @{$pools{blue}{servers} // []};
is($srv{b2}{weight}, 3, 'a server shows its weight');
is(join(',', map { $srv{b1}{$_} // 'undef' }
    qw(admin health breaker)), 'ready,up,closed',
    'a server shows admin state, health and breaker');
is($srv{b1}{requests} + $srv{b2}{requests} +
    $pools{green}{servers}[0]{requests}, 40,
    'server request counters add up to the requests sent');
is($srv{b2}{requests}, 3 * $srv{b1}{requests},
    'b2 (weight 3) served three times what b1 did');
ok(defined $srv{b1}{active} && defined $srv{b1}{errors},
    'a server shows active requests and errors');

# /status: the page itself.
$r = http_get($sp, '/status');
is($r->{status}, 200, '/status answers 200');
like($r->{headers}{'content-type'}, qr{^text/html}, 'it is HTML');
my $html = $r->{body};
unlike($html, qr/<(?:link|img|iframe)\b|\bsrc=|\@import|url\(/i,
    'the page loads no external assets');
like($html, qr{<script>.*/status\.json.*</script>}s,
    'its script refreshes from /status.json');
my @names = qw(app api blue green b1 b2 g1);
is(scalar(grep { $html !~ /\b\Q$_\E\b/ } @names), 0,
    'the served page names every route, pool and server');

my $chromium;
for (qw(chromium chromium-browser google-chrome)) {
	my $p = `command -v $_ 2>/dev/null`;
	chomp $p;
	if ($p) {
		$chromium = $p;
		last;
	}
}

# Runs headless Chromium with the given arguments; returns its stdout.
sub chromium {
	my (@args) = @_;
	my $err = tmpdir() . '/chromium.err';
	my @cmd = ('timeout', '60', $chromium, '--headless', '--no-sandbox',
	    '--disable-gpu', '--disable-background-networking',
	    "--user-data-dir=" . tmpdir() . '/chromium', @args,
	    "http://127.0.0.1:$sp/status");
	my $pid = open(my $fh, '-|') // die "fork: $!";
	if ($pid == 0) {
		open STDERR, '>>', $err;
		exec @cmd or die "exec $chromium: $!";
	}
	local $/;
	my $out = <$fh> // '';
	close $fh;
	return $out;
}

SKIP: {
	skip 'chromium is not installed (Debian package chromium)', 8
	    unless $chromium;

	# At load, before the script's first refresh (2 s), the DOM is what
	# the server rendered: what a browser without script shows.
	my $dom = chromium('--dump-dom');
	like($dom, qr/<body>.*<h2>Routes<\/h2>/s,
	    'Chromium renders the page');
	unlike($dom, qr/<body[^>]*data-updated/, 'as the server made it');
	my @missing = grep { $dom !~ /data-(?:route|pool|server)="\Q$_\E"/ }
	    @names;
	is("@missing", '', 'that DOM shows every route, pool and server');
	like($dom, qr/no rollouts/, 'the rollouts section says none');

	$dom = chromium('--virtual-time-budget=6000', '--dump-dom');
	like($dom, qr/<body[^>]* data-updated="\d{4}-/,
	    'the script re-rendered the page from /status.json');
	@missing = grep { $dom !~ /data-(?:route|pool|server)="\Q$_\E"/ }
	    @names;
	is("@missing", '', 'after it the DOM still shows every route, pool ' .
	    'and server');
	like($dom, qr{<td class="pct">90%</td>}, 'the split shows 90%');
	like($dom, qr{class="badge ok">up</span>}, 'health shows as a badge');

	my $png = tmpdir() . '/status.png';
	chromium("--screenshot=$png", '--window-size=1200,900',
	    '--hide-scrollbars');
	ok(-s $png > 10000, "a screenshot was taken ($png)");
}
