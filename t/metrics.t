#!/usr/bin/perl
# /metrics: the exposition passes "promtool check metrics", every metric
# of SPEC section 4 is there with HELP and TYPE, and the figures match
# what was sent: requests by route, pool, server and code class (404s
# without a route, 5xx from a server, a 502 for a dead one), the duration
# histogram's buckets, split weights, server and connection gauges, and
# reload counters; counters survive a reload that changes the split.

use strict;
use warnings;

use Test::More tests => 34;

use Cutover::Test;

my $N = 200;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $dead = free_port();
my $port = free_port();
my $conf = <<"EOF";
[global]
shutdown_grace = 2s

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}

[pool green]
server = g1 127.0.0.1:${\ $green->port}

[pool gone]
server = d1 127.0.0.1:$dead
retries = 0

[route app]
host = app.test
split = blue 75, green 25

[route dead]
host = dead.test
split = gone 100
EOF
my $cut = start_cutover(conf => $conf);
my $sp = $cut->status_port;

# Returns the exposition text.
sub scrape {
	my $r = http_get($sp, '/metrics');
	return $r->{status} == 200 ? $r->{body} : '';
}

# Parses the exposition into { name => [ [ {labels}, value ], ... ] } and
# the HELP and TYPE lines into { name => type } and { name => help }.
sub parse {
	my ($text) = @_;
	my (%s, %type, %help);
	for (split /\n/, $text) {
		if (/^# TYPE (\S+) (\S+)$/) {
			$type{$1} = $2;
		} elsif (/^# HELP (\S+) (.+)$/) {
			$help{$1} = $2;
		} elsif (/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/) {
			my ($name, $l, $v) = ($1, $2 // '', $3);
			my %l;
			while ($l =~
			    /\G([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)",?/gc) {
				$l{$1} = $2;
			}
			push @{$s{$name}}, [\%l, $v];
		}
	}
	return (\%s, \%type, \%help);
}

# Sums the samples of a metric whose labels match the given ones.
sub total {
	my ($s, $name, %want) = @_;
	my $sum = 0;
	SAMPLE: for my $x (@{$s->{$name} // []}) {
		for (keys %want) {
			next SAMPLE unless ($x->[0]{$_} // '') eq $want{$_};
		}
		$sum += $x->[1];
	}
	return $sum;
}

my $res = run_parallel(port => $port, conns => 4, requests => $N / 4,
    headers => [Host => 'app.test']);
is($res->{ok}, $N, "$N requests through the app route succeed");
my ($s) = parse(scrape());
is(total($s, 'cutover_requests_total', route => 'app', pool => 'blue') .
    '/' . total($s, 'cutover_requests_total', route => 'app',
    pool => 'green'), ($N * 3 / 4) . '/' . ($N / 4),
    'blue and green counted 75/25, as the split sends them');
for (1 .. 8) {
	http_get($port, '/', Host => 'nowhere.test');
}
for (1 .. 4) {
	http_get($port, '/?status=500', Host => 'app.test',
	    'X-Seq' => $_);
}
for (1 .. 3) {
	http_get($port, '/', Host => 'dead.test');
}
my $r = http_get($port, '/?delay=300', Host => 'app.test');
is($r->{status}, 200, 'a 300 ms request succeeds');

my $text = scrape();
my ($type, $help);
($s, $type, $help) = parse($text);

SKIP: {
	my $promtool = `command -v promtool 2>/dev/null`;
	chomp $promtool;
	skip 'promtool is not installed (Debian package prometheus)', 2
	    unless $promtool;
	my $file = tmpdir() . '/metrics.txt';
	open my $fh, '>', $file or die "$file: $!";
	print $fh $text;
	close $fh;
	my $out = `$promtool check metrics < $file 2>&1`;
	is($?, 0, 'promtool check metrics passes') or diag($out);
	is($out, '', 'promtool has no lint remarks');
}

my @families = qw(cutover_requests_total cutover_request_duration_seconds
    cutover_split_weight cutover_server_up cutover_breaker_state
    cutover_rollout_weight cutover_rollbacks_total cutover_connections
    cutover_health_checks_total cutover_config_reloads_total
    cutover_stable_fallbacks_total);
my @missing = grep { !$type->{$_} || !$help->{$_} } @families;
is("@missing", '', 'every metric of the spec has HELP and TYPE');
is($type->{cutover_request_duration_seconds}, 'histogram',
    'request duration is a histogram');
is($type->{cutover_requests_total}, 'counter', 'requests are a counter');

my $all = $N + 8 + 4 + 3 + 1;
is(total($s, 'cutover_requests_total'), $all,
    "cutover_requests_total sums to the $all requests sent");
is(total($s, 'cutover_requests_total', route => 'app', pool => 'blue',
    server => 'b1', code => '2xx') +
    total($s, 'cutover_requests_total', route => 'app', pool => 'green',
    server => 'g1', code => '2xx'), $N + 1, '2xx of the app route');
my $b5 = total($s, 'cutover_requests_total', route => 'app',
    code => '5xx');
is($b5, 4, 'the 500s of the backend count as 5xx');
is(total($s, 'cutover_requests_total', route => '', code => '4xx'), 8,
    'requests without a route count with an empty route label');
is(total($s, 'cutover_requests_total', route => 'dead', pool => 'gone',
    code => '5xx'), 3, 'a dead server\'s 502s count as 5xx of its pool');
is(scalar(grep { $_->[0]{code} !~ /^[1-5]xx$/ }
    @{$s->{cutover_requests_total}}), 0, 'code is always a class');

# The histogram.
my %h = map { $_->[0]{le} => $_->[1] } grep {
    $_->[0]{route} eq 'app' && $_->[0]{pool} eq 'blue' }
    @{$s->{cutover_request_duration_seconds_bucket}};
my @le = qw(0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10
    +Inf);
is(join(',', sort { ($a eq '+Inf' ? 1e9 : $a) <=> ($b eq '+Inf' ? 1e9 : $b) }
    keys %h), join(',', @le), 'the buckets run from 1 ms to 10 s and +Inf');
my @v = map { $h{$_} } @le;
is(scalar(grep { $v[$_] < $v[$_ - 1] } 1 .. $#v), 0,
    'bucket counts are cumulative');
my $app = total($s, 'cutover_request_duration_seconds_count',
    route => 'app');
is($app, $N + 5, 'the histogram counts every request of the route');
is($h{'+Inf'}, total($s, 'cutover_requests_total', route => 'app',
    pool => 'blue'), '+Inf of blue equals its request count');
my $slow_pool = $h{'+Inf'} - $h{'0.25'} == 1 ? 'blue' : 'green';
my %g = map { $_->[0]{le} => $_->[1] } grep {
    $_->[0]{route} eq 'app' && $_->[0]{pool} eq $slow_pool }
    @{$s->{cutover_request_duration_seconds_bucket}};
is($g{'+Inf'} - $g{'0.25'}, 1, 'the 300 ms request is above le=0.25');
is($g{'+Inf'} - $g{'0.5'}, 0, 'and within le=0.5');
ok(total($s, 'cutover_request_duration_seconds_sum', route => 'app',
    pool => $slow_pool) >= 0.3, 'the sum holds its 300 ms');

# Gauges of the running config.
is(total($s, 'cutover_split_weight', route => 'app', pool => 'blue'), 75,
    'split weight of blue is 75');
is(total($s, 'cutover_split_weight', route => 'app', pool => 'green'), 25,
    'split weight of green is 25');
is(total($s, 'cutover_server_up', pool => 'blue', server => 'b1'), 1,
    'b1 is up');
is(total($s, 'cutover_breaker_state', pool => 'blue', server => 'b1'), 0,
    'b1\'s breaker is closed');
is(join(',', sort map { $_->[0]{state} } @{$s->{cutover_connections}}),
    'active,idle,reading', 'connections by state');

# An idle keep-alive connection shows up.
my $c = http_client($port);
$r = $c->request("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n");
($s) = parse(scrape());
ok(total($s, 'cutover_connections', state => 'idle') >= 1,
    'an idle keep-alive connection counts as idle');
$c->close;

# Reloads: one refused, one that changes the split.
my $path = $cut->conf_path;
my $good = $cut->{conf_text};
my $mark = $cut->log_mark;
open my $fh, '>', $path or die "$path: $!";
print $fh $good . "\n[route broken\n";
close $fh;
$cut->reload;
ok($cut->wait_log(qr/reload refused/, from => $mark),
    'a broken reload is refused');
$mark = $cut->log_mark;
open $fh, '>', $path or die "$path: $!";
print $fh $good =~ s/split = blue 75, green 25/split = blue 50, green 50/r;
close $fh;
$cut->reload;
ok($cut->wait_log(qr/config reloaded/, from => $mark),
    'a reload that changes the split succeeds');
($s) = parse(scrape());
is(total($s, 'cutover_config_reloads_total', result => 'failed'), 1,
    'the refused reload is counted');
is(total($s, 'cutover_config_reloads_total', result => 'ok'), 1,
    'the good reload is counted');
is(total($s, 'cutover_split_weight', route => 'app', pool => 'green'), 50,
    'the split weight follows the reload');
is(total($s, 'cutover_requests_total'), $all + 1,
    'request counters survive the reload');
http_get($port, '/', Host => 'app.test');
($s) = parse(scrape());
is(total($s, 'cutover_requests_total'), $all + 2,
    'and keep counting in the same series');
