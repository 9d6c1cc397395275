#!/usr/bin/perl
# The admin socket: its file mode, every command of SPEC section 3 in its
# text and json forms with their error answers, changes that apply to the
# next requests at once and are logged as old -> new, several commands on
# one connection, and the limits: line length, 16 clients, 30 s idle.

use strict;
use warnings;
use Test::More tests => 147;
use IO::Socket::UNIX;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time sleep);
use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $api1 = start_backend(name => 'api1');
my $api2 = start_backend(name => 'api2');
my $api3 = start_backend(name => 'api3');
my $port = free_port();
my $dir = tmpdir();

my $cv = start_cutover(conf => <<"EOF");
[global]
state_file = $dir/admin.state
status_listen = off
admin_timeout = 10s

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}

[pool green]
server = g1 127.0.0.1:@{[$green->port]}

[pool api]
balance = roundrobin
server = a1 127.0.0.1:@{[$api1->port]}
server = a2 127.0.0.1:@{[$api2->port]} weight=1

[route app]
split = blue 100, green 0
match_header = X-Canary: 1 -> green
match_cookie = canary=yes -> green

[route api]
path_prefix = /api/
split = api 1
sticky = cookie uid
EOF

my $sock = $cv->admin_socket;
my $t0 = time;
# Connected now and silent from here on: closed after admin_timeout.
my $idle = IO::Socket::UNIX->new(Peer => $sock);

# Sends the request n times on one connection; counts X-Backend values.
sub spread {
	my ($n, $path, @h) = @_;
	my $c = http_client($port);
	my %seen;
	for (1 .. $n) {
		my $r = $c->request("GET $path HTTP/1.1\r\nHost: x\r\n" .
		    join('', map { "$_\r\n" } @h) . "\r\n");
		$seen{$r->{headers}{'x-backend'} // 'error'}++;
	}
	$c->close;
	return \%seen;
}

# The answer decoded as JSON, or undef.
sub json_of {
	my ($cmd) = @_;
	my $a = $cv->admin($cmd) // return undef;
	return eval { decode_json($a) };
}

# Sends raw bytes on a new connection; returns what comes back until the
# proxy closes or the timeout.
sub raw_exchange {
	my ($bytes, %o) = @_;
	my $s = IO::Socket::UNIX->new(Peer => $sock) or return undef;
	print $s $bytes;
	shutdown($s, 1) if $o{shut};
	my $sel = IO::Select->new($s);
	my $in = '';
	my $deadline = time + ($o{timeout} // 3);
	while ((my $left = $deadline - time) > 0) {
		last if $o{until} && $in =~ $o{until};
		last unless $sel->can_read($left);
		my $n = sysread($s, $in, 65536, length $in);
		last unless $n;
	}
	return ($in, $s);
}

# The socket file.
ok(-S $sock, 'the admin socket exists');
is((stat $sock)[2] & 07777, 0600, 'the admin socket has mode 0600');

# help
my $a = $cv->admin('help');
for my $cmd ('show info', 'show routes', 'show pools', 'show rollouts',
    'show metrics', 'set split', 'switch', 'set weight', 'set server',
    'add server', 'del server', 'rollout start', 'rollout pause',
    'rollout resume', 'rollout confirm', 'rollout abort', 'rollout promote',
    'reload', 'quit') {
	like($a, qr/^\Q$cmd\E\b/m, "help lists $cmd");
}

# show info
$a = $cv->admin('show info');
like($a, qr/^version: \d+\.\d+/m, 'show info gives the version');
like($a, qr/^pid: ${\ $cv->pid}$/m, 'show info gives the pid');
like($a, qr/^uptime: \d+s$/m, 'show info gives the uptime');
like($a, qr/^config: \Q${\ $cv->conf_path}\E$/m,
    'show info gives the config file');
like($a, qr/^connections: \d+ \(reading \d+, active \d+, idle \d+\)$/m,
    'show info gives the connections by state');
like($a, qr/^shutting down: no$/m, 'show info says it is not shutting down');
my $j = json_of('show info json');
ok($j && $j->{pid} == $cv->pid && defined $j->{version} &&
    defined $j->{connections}{total} && defined $j->{requests} &&
    $j->{shutting_down} == JSON::PP::false, 'show info json has the same');

# show routes
$a = $cv->admin('show routes');
like($a, qr/^route app: host any, path_prefix \/, listener all, stable blue, sticky off$/m,
    'show routes describes the route');
like($a, qr/^\s+blue\s+100\s+100\s+100\.0%$/m,
    'show routes gives the configured and effective weights and share');
like($a, qr/^\s+match_header X-Canary: 1 -> green$/m,
    'show routes lists the match rules');
like($a, qr/^route api: .*sticky cookie uid$/m, 'show routes gives sticky');
$j = json_of('show routes json');
my ($app) = grep { $_->{name} eq 'app' } @{$j->{routes} // []};
is_deeply($app && $app->{split}, [
    { pool => 'blue', conf_weight => 100, weight => 100, share => 100 },
    { pool => 'green', conf_weight => 0, weight => 0, share => 0 } ],
    'show routes json gives the split');
is_deeply($app && $app->{matches}, [
    { kind => 'header', name => 'X-Canary', value => '1', pool => 'green' },
    { kind => 'cookie', name => 'canary', value => 'yes', pool => 'green' }],
    'show routes json gives the match rules');
my ($apir) = grep { $_->{name} eq 'api' } @{$j->{routes} // []};
is($apir && $apir->{sticky}{kind} . ' ' . $apir->{sticky}{name},
    'cookie uid', 'show routes json gives sticky');

# show pools
http_get($port, '/api/x');
$a = $cv->admin('show pools');
like($a, qr/^pool api: roundrobin, health checks off$/m,
    'show pools describes the pool');
like($a, qr/^\s+server\s+address\s+weight\s+conf\s+health\s+breaker\s+state\s+active\s+requests\s+errors\s+idle$/m,
    'show pools has a header line');
like($a, qr/^\s+a1\s+127\.0\.0\.1:\d+\s+1\s+1\s+up\s+closed\s+ready\s+0\s+\d+\s+0\s+\d+$/m,
    'show pools gives each server');
$j = json_of('show pools json');
my ($api) = grep { $_->{name} eq 'api' } @{$j->{pools} // []};
my $a1 = $api ? $api->{servers}[0] : {};
is(join(',', map { "$_=" . (ref $a1->{$_} ? ($a1->{$_} ? 1 : 0) :
    $a1->{$_} // 'undef') } qw(name weight conf_weight health breaker state
    active errors added)),
    'name=a1,weight=1,conf_weight=1,health=up,breaker=closed,state=ready,'
    . 'active=0,errors=0,added=0', 'show pools json gives each server');
ok(defined $a1->{requests} && defined $a1->{idle},
    'show pools json gives requests and idle connections');
is($api->{servers}[0]{requests} + $api->{servers}[1]{requests}, 1,
    'show pools counts the request sent');

# show rollouts
is($cv->admin('show rollouts'), "no rollouts\n", 'show rollouts: none');
is_deeply(json_of('show rollouts json'), { rollouts => [] },
    'show rollouts json: an empty list');

# show metrics
$a = $cv->admin('show metrics');
like($a, qr/^# TYPE /m, 'show metrics gives the Prometheus text');
unlike($a, qr/\n\n/, 'show metrics has no empty line inside the answer');
# As JSON: the same families and samples, label values unescaped.
my $mj = json_of('show metrics json');
my %fam = map { $_->{name} => $_ } @{$mj->{metrics} // []};
my @types = $a =~ /^# TYPE (\S+)/mg;
is_deeply([sort keys %fam], [sort @types],
    'show metrics json has a family per # TYPE line');
my @samples = grep { !/^#/ } split /\n/, $a;
is(scalar(map { @{$_->{samples}} } values %fam), scalar @samples,
    'and every sample line');
my ($req) = grep { $_->{name} eq 'cutover_requests_total' }
    map { @{$_->{samples}} } values %fam;
ok($req && $fam{cutover_requests_total}{type} eq 'counter' &&
    $fam{cutover_requests_total}{help} ne '' &&
    ref $req->{labels} eq 'HASH' && $req->{value} =~ /^\d+$/,
    'a counter with its type, help, labels and a numeric value')
    or diag(explain($fam{cutover_requests_total}));

# set split
my $mark = $cv->log_mark;
is($cv->admin('set split app blue=90 green=10'), "ok\n", 'set split: ok');
ok($cv->wait_log(qr/admin: route app: split blue 100, green 0 -> blue 90, green 10$/,
    from => $mark), 'set split is logged as old -> new');
my $n = spread(100, '/');
is($n->{green} // 0, 10, 'the new split applies to the next requests: '
    . '10 of 100 to green');
$j = json_of('show routes json');
($app) = grep { $_->{name} eq 'app' } @{$j->{routes}};
is(join(' ', map { "$_->{pool}:$_->{conf_weight}:$_->{weight}:$_->{share}" }
    @{$app->{split}}), 'blue:100:90:90 green:0:10:10',
    'show routes json gives configured and effective weights');
is($cv->admin('set split app green=20'), "ok\n",
    'set split with one pool: ok');
$j = json_of('show routes json');
($app) = grep { $_->{name} eq 'app' } @{$j->{routes}};
is(join(' ', map { $_->{weight} } @{$app->{split}}), '90 20',
    'set split leaves the pools it does not name alone');
is($cv->admin('set split nope blue=1'), "error: no route \"nope\"\n",
    'set split: unknown route');
is($cv->admin('set split app red=1'),
    "error: route app: pool \"red\" is not in its split\n",
    'set split: a pool outside the split');
is($cv->admin('set split app api=1'),
    "error: route app: pool \"api\" is not in its split\n",
    'set split: a pool of another route');
is($cv->admin('set split app blue=10001'),
    "error: route app: pool blue: weight \"10001\" out of range 0-10000\n",
    'set split: a weight above 10000');
is($cv->admin('set split app blue=-1'),
    "error: route app: pool blue: weight \"-1\" out of range 0-10000\n",
    'set split: a negative weight');
is($cv->admin('set split app blue=x'),
    "error: route app: pool blue: weight \"x\" out of range 0-10000\n",
    'set split: a weight that is no number');
is($cv->admin('set split app blue=0 green=0'),
    "error: route app: the weights would all be 0\n",
    'set split: all weights 0');
is($cv->admin('set split app blue=1 blue=2'),
    "error: route app: pool blue given twice\n", 'set split: a pool twice');
is($cv->admin('set split app blue'),
    "error: usage: set split ROUTE POOL=W [POOL=W ...]\n",
    'set split: no =');
is($cv->admin('set split app'),
    "error: usage: set split ROUTE POOL=W [POOL=W ...]\n",
    'set split: no weights');
$j = json_of('show routes json');
($app) = grep { $_->{name} eq 'app' } @{$j->{routes}};
is(join(' ', map { $_->{weight} } @{$app->{split}}), '90 20',
    'a refused set split changes nothing');

# switch
$mark = $cv->log_mark;
is($cv->admin('switch app green'), "ok\n", 'switch: ok');
ok($cv->wait_log(qr/admin: route app: split blue 90, green 20 -> blue 0, green 100$/,
    from => $mark), 'switch is logged as old -> new');
$n = spread(20, '/');
is($n->{green} // 0, 20, 'after switch every request goes to green');
is($cv->admin('switch app blue'), "ok\n", 'switch back: ok');
$n = spread(20, '/');
is($n->{blue} // 0, 20, 'after switching back every request goes to blue');
is($cv->admin('switch app red'),
    "error: route app: pool \"red\" is not in its split\n",
    'switch: a pool outside the split');
is($cv->admin('switch nope blue'), "error: no route \"nope\"\n",
    'switch: unknown route');
is($cv->admin('switch app'), "error: usage: switch ROUTE POOL\n",
    'switch: no pool');
is($cv->admin('switch app blue green'), "error: usage: switch ROUTE POOL\n",
    'switch: two pools');

# set weight
$mark = $cv->log_mark;
is($cv->admin('set weight api/a1 3'), "ok\n", 'set weight: ok');
ok($cv->wait_log(qr/admin: pool api: server a1: weight 1 -> 3$/,
    from => $mark), 'set weight is logged as old -> new');
$n = spread(100, '/api/x');
is(($n->{api1} // 0) . '/' . ($n->{api2} // 0), '75/25',
    'weights 3 and 1 share 100 requests 75/25');
is($cv->admin('set weight api/a1 0'), "ok\n", 'set weight 0: ok');
$n = spread(10, '/api/x');
is($n->{api2} // 0, 10, 'a server of weight 0 gets no request');
is($cv->admin('set weight api/a1 1'), "ok\n", 'set weight back: ok');
is($cv->admin('set weight api/a1 257'),
    "error: pool api: server a1: weight \"257\" out of range 0-256\n",
    'set weight: above 256');
is($cv->admin('set weight api/a1 1x'),
    "error: pool api: server a1: weight \"1x\" out of range 0-256\n",
    'set weight: not a number');
is($cv->admin('set weight nope/a1 1'), "error: no pool \"nope\"\n",
    'set weight: unknown pool');
is($cv->admin('set weight api/a9 1'), "error: pool api: no server \"a9\"\n",
    'set weight: unknown server');
is($cv->admin('set weight api 1'),
    "error: usage: set weight POOL/SERVER W\n", 'set weight: no server');
is($cv->admin('set weight api/a1'),
    "error: usage: set weight POOL/SERVER W\n", 'set weight: no weight');

# set server
$mark = $cv->log_mark;
is($cv->admin('set server api/a1 drain'), "ok\n", 'set server drain: ok');
ok($cv->wait_log(qr/admin: pool api: server a1: ready -> drain/,
    from => $mark), 'set server is logged as old -> new');
$n = spread(10, '/api/x');
is($n->{api2} // 0, 10, 'a draining server gets no new request');
is($cv->admin('set server api/a1 maint'), "ok\n", 'set server maint: ok');
$n = spread(10, '/api/x');
is($n->{api2} // 0, 10, 'a server in maint gets no request');
$j = json_of('show pools json');
($api) = grep { $_->{name} eq 'api' } @{$j->{pools}};
is($api->{servers}[0]{state}, 'maint', 'show pools json gives the state');
is($cv->admin('set server api/a1 ready'), "ok\n", 'set server ready: ok');
$n = spread(10, '/api/x');
is($n->{api1} // 0, 5, 'a ready server takes its share again');
is($cv->admin('set server api/a1 up'),
    "error: usage: set server POOL/SERVER ready|drain|maint\n",
    'set server: an unknown state');
is($cv->admin('set server api/zz drain'),
    "error: pool api: no server \"zz\"\n", 'set server: unknown server');

# add server
$mark = $cv->log_mark;
is($cv->admin("add server api a3 127.0.0.1:@{[$api3->port]} weight=2"),
    "ok\n", 'add server: ok');
ok($cv->wait_log(qr/admin: pool api: server a3 127\.0\.0\.1:\d+ added, weight 2$/,
    from => $mark), 'add server is logged');
$n = spread(40, '/api/x');
is(($n->{api1} // 0) . '/' . ($n->{api2} // 0) . '/' . ($n->{api3} // 0),
    '10/10/20', 'the added server takes its share at once');
$j = json_of('show pools json');
($api) = grep { $_->{name} eq 'api' } @{$j->{pools}};
my ($a3) = grep { $_->{name} eq 'a3' } @{$api->{servers}};
ok($a3 && $a3->{added} && $a3->{weight} == 2,
    'show pools json marks the added server');
is($cv->admin("add server api a3 127.0.0.1:1"),
    "error: pool api: server a3 exists already\n",
    'add server: a name taken');
is($cv->admin("add server api a4 127.0.0.1"),
    "error: pool api: server a4: missing port \"127.0.0.1\"\n",
    'add server: no port');
is($cv->admin("add server api a4 127.0.0.1:1 weight=300"),
    "error: pool api: server a4: weight 300 out of range 0-256\n",
    'add server: weight out of range');
is($cv->admin("add server api a4 127.0.0.1:1 backup"),
    "error: usage: add server POOL NAME HOST:PORT [weight=N]\n",
    'add server: an unknown option');
is($cv->admin("add server nope a4 127.0.0.1:1"), "error: no pool \"nope\"\n",
    'add server: unknown pool');
is($cv->admin("add server api a4"),
    "error: usage: add server POOL NAME HOST:PORT [weight=N]\n",
    'add server: no address');

# del server
is($cv->admin('del server api/a3'),
    "error: pool api: server a3 is ready: set it to drain or maint first\n",
    'del server: refused while ready');
# A request in flight on a3 alone.
$cv->admin('set server api/a1 drain');
$cv->admin('set server api/a2 drain');
my $slow = http_client($port);
$slow->send("GET /api/x?delay=1500 HTTP/1.1\r\nHost: x\r\n\r\n");
ok(wait_for(sub { my $p = json_of('show pools json');
    my ($pp) = grep { $_->{name} eq 'api' } @{$p->{pools}};
    my ($s) = grep { $_->{name} eq 'a3' } @{$pp->{servers}};
    $s && $s->{active} == 1 }), 'show pools counts a request in flight');
$cv->admin('set server api/a3 drain');
is($cv->admin('del server api/a3'),
    "error: pool api: server a3 still has 1 requests in flight\n",
    'del server: refused while a request is in flight');
my $r = $slow->response(timeout => 5);
is($r->{headers}{'x-backend'}, 'api3',
    'the request in flight on a draining server finishes there');
$slow->close;
$mark = $cv->log_mark;
is($cv->admin('del server api/a3'), "ok\n", 'del server once drained: ok');
ok($cv->wait_log(qr/admin: pool api: server a3 127\.0\.0\.1:\d+ deleted$/,
    from => $mark), 'del server is logged');
$j = json_of('show pools json');
($api) = grep { $_->{name} eq 'api' } @{$j->{pools}};
is(join(',', map { $_->{name} } @{$api->{servers}}), 'a1,a2',
    'the deleted server is gone from show pools');
$cv->admin('set server api/a1 ready');
$cv->admin('set server api/a2 ready');
$n = spread(10, '/api/x');
is(($n->{api1} // 0) + ($n->{api2} // 0), 10,
    'requests go to the servers left');
$cv->admin('set server blue/b1 maint');
is($cv->admin('del server blue/b1'),
    "error: pool blue: server b1 is the pool's only server\n",
    'del server: refused for the only server of a pool');
$cv->admin('set server blue/b1 ready');
is($cv->admin('del server api'), "error: usage: del server POOL/SERVER\n",
    'del server: no server');
is($cv->admin('del server api/zz'), "error: pool api: no server \"zz\"\n",
    'del server: unknown server');

# Every change is in the state file.
my $state = do { local (@ARGV, $/) = "$dir/admin.state"; <> } // '';
like($state, qr/^cutover-state 1$/m, 'the changes are in the state file');

# rollout
for my $verb (qw(start pause resume confirm abort promote)) {
	is($cv->admin("rollout $verb app"),
	    "error: rollout: no [rollout] for route app\n",
	    "rollout $verb: no rollout for the route");
}
is($cv->admin('rollout status app json'),
    "error: rollout: no [rollout] for route app\n",
    'rollout status: no rollout for the route');
is($cv->admin('rollout start nope'), "error: no route \"nope\"\n",
    'rollout start: unknown route');
is($cv->admin('rollout start'), "error: usage: rollout start ROUTE\n",
    'rollout start: no route');

# reload
$mark = $cv->log_mark;
is($cv->admin('reload'), "ok\n", 'reload: ok');
ok($cv->wait_log(qr/config reloaded from/, from => $mark),
    'reload is logged');
my $good = do { local (@ARGV, $/) = $cv->conf_path; <> };
open my $fh, '>>', $cv->conf_path or die;
print $fh "[pool broken]\nserver = x\nbogus = 1\n";
close $fh;
my @lines = split /\n/, $good . "[pool broken]\nserver = x\nbogus = 1\n";
my $l1 = @lines - 1;
my $l2 = @lines;
$a = $cv->admin('reload');
my $cp = $cv->conf_path;
like($a, qr/\Aerror: reload refused\n/, 'reload of a broken config: error');
like($a, qr/^\Q$cp\E:$l1: pool broken: server x: missing address$/m,
    'the answer names the first error as FILE:LINE');
like($a, qr/^\Q$cp\E:$l2: pool broken: unknown key "bogus"$/m,
    'and the second one');
is(http_get($port, '/')->{status}, 200,
    'the proxy serves on with the old config');
open $fh, '>', $cv->conf_path or die;
print $fh $good;
close $fh;
is($cv->admin('reload'), "ok\n", 'reload of the fixed config: ok');

# Unknown and malformed commands.
is($cv->admin('frobnicate'),
    "error: unknown command \"frobnicate\"; try help\n", 'an unknown command');
is($cv->admin('show foo'), "error: unknown command \"show foo\"; try help\n",
    'an unknown show');
is($cv->admin('show'), "error: incomplete command \"show\"; try help\n",
    'show alone');
is($cv->admin('show info extra'), "error: usage: show info [json]\n",
    'show info with an extra word');
is($cv->admin('show metrics json x'), "error: usage: show metrics [json]\n",
    'show metrics with an extra word');

# The protocol itself.
my ($in) = raw_exchange("show rollouts\r\nshow rollouts json\nquit\n",
    until => qr/bye\n\n/);
is($in, "no rollouts\n\n{\"rollouts\":[]}\n\nbye\n\n",
    'commands on one connection, CRLF too, each answer ends with an empty line');
my $s;
($in, $s) = raw_exchange("quit\nshow info\n");
is($in, "bye\n\n", 'quit answers bye and closes; what follows is not read');
($in) = raw_exchange("\n\nhelp\n", until => qr/\n\n/);
like($in, qr/\Ahelp /, 'empty lines get no answer');
($in) = raw_exchange('x' x 5000);
is($in, "error: line too long (limit 4096 bytes)\n\n",
    'a line over 4096 bytes: an error, then the proxy closes');
($in) = raw_exchange("show rollouts", shut => 1);
is($in, "no rollouts\n\n",
    'a last command without newline is answered at end of input');

# 16 clients at once: the idle one and 15 more.
my @held = map { IO::Socket::UNIX->new(Peer => $sock) } 1 .. 15;
sleep 0.2;
($in) = raw_exchange("help\n");
is($in, "error: too many admin clients\n\n", 'a 17th client is refused');
close $_ for @held;
ok(wait_for(sub { my $x = $cv->admin('show rollouts');
    defined $x && $x eq "no rollouts\n" }),
    'once they leave, a client is taken again');

# The client connected at the start and silent since is closed after
# admin_timeout, 10 s here (ample for what comes before it under the
# sanitizers).
my $left = $t0 + 11 - time;
sleep $left if $left > 0;
my $sel = IO::Select->new($idle);
my $eof = $sel->can_read(5) && !sysread($idle, my $buf, 10);
ok($eof, 'a client silent for admin_timeout is closed');
