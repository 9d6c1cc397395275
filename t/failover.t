#!/usr/bin/perl
# Failover: a canary pool whose every server is down sends its share to
# the stable pool with no client error; a stable server killed with
# SIGKILL under continuous traffic costs no client error (retries = 1),
# is marked down within about health_interval * health_fall +
# health_timeout and up again once it restarts and passes health_rise
# checks; with both pools down the proxy answers 503 at once.  Requests
# the stable pool takes for the canary are counted in /metrics.

use strict;
use warnings;

use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use Cutover::Test;

plan tests => 17;

# Requests a backend served, leaving out health checks and /_control.
sub hits {
	my ($b) = @_;
	return scalar grep { !m{ /(?:health|_control)} } $b->requests;
}

# Runs batches of run_parallel in a child until the file $stop exists (60
# s at most) and writes the totals to $out, one "key value" a line.
sub start_traffic {
	my ($port, $stop, $out) = @_;
	my $pid = fork // die "fork: $!\n";
	return $pid if $pid;
	my %t = map { $_ => 0 } qw(requests ok errors transport_errors);
	my $deadline = time + 60;
	while (!-e $stop && time < $deadline) {
		my $r = run_parallel(port => $port, conns => 200, requests => 5,
		    timeout => 20);
		$t{$_} += $r->{$_} for qw(requests ok errors transport_errors);
		$t{"status_$_"} += $r->{statuses}{$_} for keys %{$r->{statuses}};
		$t{"backend_$_"} += $r->{backends}{$_} for keys %{$r->{backends}};
	}
	open my $fh, '>', $out or POSIX::_exit(1);
	print $fh "$_ $t{$_}\n" for sort keys %t;
	close $fh;
	POSIX::_exit(0);
}

# Reads what start_traffic() wrote.
sub traffic_result {
	my ($out) = @_;
	open my $fh, '<', $out or return {};
	my %t = map { /^(\S+) (\d+)$/ ? ($1 => $2) : () } <$fh>;
	return \%t;
}

my $s1 = start_backend(name => 's1');
my $s2 = start_backend(name => 's2');
my $s2port = $s2->port;
my $c2 = start_backend(name => 'c2', args => ['-H', '503']);
my $dead = free_port();
my $port = free_port();

# Short, but not so short that a loaded test machine fails the checks of
# the server that stays up.
my $checks = <<'EOF';
health_path = /health
health_interval = 200ms
health_timeout = 200ms
health_rise = 2
health_fall = 3
breaker_recovery = 500ms
retries = 1
keepalive = 256
EOF

my $cut = start_cutover(conf => <<"EOF");
[global]
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool stable]
server = s1 127.0.0.1:${\ $s1->port}
server = s2 127.0.0.1:$s2port
$checks
[pool canary]
server = c1 127.0.0.1:$dead
server = c2 127.0.0.1:${\ $c2->port}
$checks
[route app]
split = canary 50, stable 50
stable = stable
EOF

ok($cut->wait_log(qr/pool stable: server s1: up/) &&
    $cut->wait_log(qr/pool stable: server s2: up/),
    'the stable servers go up');
ok($cut->wait_log(qr/pool canary: server c1: down/) &&
    $cut->wait_log(qr/pool canary: server c2: down/),
    'the canary servers go down');

my $r = run_parallel(port => $port, conns => 10, requests => 20);
is($r->{errors}, 0, 'a canary pool with every server down costs no error');
is(($r->{backends}{s1} // 0) + ($r->{backends}{s2} // 0), 200,
    'all its share goes to the stable pool');
my ($fell) = ($cut->admin('show metrics') // '') =~
    /^cutover_stable_fallbacks_total\{route="app",pool="canary"\} (\d+)$/m;
$fell //= 0;
ok($fell >= 90 && $fell <= 110,
    "the canary's share, taken by the stable pool, is counted ($fell)");

# SIGKILL of s2 under continuous traffic.  Requests in flight on reused
# upstream connections are retried when the server dies; one on a fresh
# connection had reached the server and gets a 502.  While the killed
# process is torn down its sockets still accept and say nothing, so all
# 200 connections of the traffic may pile up on it: first fill each idle
# list beyond that, with 420 slow requests at once (210 per server).
run_parallel(port => $port, conns => 420, requests => 1,
    path => '/?delay=300');
my $stop = tmpdir() . '/traffic.stop';
my $out = tmpdir() . '/traffic.out';
my $child = start_traffic($port, $stop, $out);
sleep 1;
my $mark = $cut->log_mark;
my $t0 = time;
$s2->kill('KILL');
my $down = $cut->wait_log(qr/pool stable: server s2: down after/,
    from => $mark, timeout => 5);
my $t_down = time - $t0;
ok($down, 'the killed server is marked down');
ok($t_down < 2, sprintf('within health_interval * health_fall + '
    . 'health_timeout and some slack (%.3f s, bound 0.8 s)', $t_down));
note("down: $down");
sleep 0.3;
$mark = $cut->log_mark;
$t0 = time;
my $s2b = start_backend(name => 's2', port => $s2port);
my $up = $cut->wait_log(qr/pool stable: server s2: up after 2 passed checks/,
    from => $mark, timeout => 5);
my $t_up = time - $t0;
ok($up, 'the restarted server is marked up again');
ok($t_up < 2, sprintf('after health_rise checks (%.3f s, about 0.4 s)',
    $t_up));
my $back = wait_for(sub { hits($s2b) > 0 }, timeout => 5);
ok($back, 'and takes traffic again');
open my $fh, '>', $stop or die "$stop: $!\n";
close $fh;
waitpid($child, 0);
my $t = traffic_result($out);
cmp_ok($t->{requests} // 0, '>=', 400, 'traffic ran throughout ('
    . ($t->{requests} // 0) . ' requests, 200 connections)');
is($t->{errors} // -1, 0, 'the kill cost clients no error');
is($t->{transport_errors} // -1, 0, 'and no broken connection');
note(join ' ', map { "$_=$t->{$_}" } sort keys %$t);
diag(sprintf('kill test: down after %.3f s, up after %.3f s, %d requests, '
    . '%d client errors', $t_down, $t_up, $t->{requests} // 0,
    $t->{errors} // -1)) if $ENV{CUTOVER_TEST_VERBOSE};

# Both pools down: 503 at once.
$mark = $cut->log_mark;
$s1->kill('KILL');
$s2b->kill('KILL');
ok($cut->wait_log(qr/pool stable: server s1: down after/, from => $mark) &&
    $cut->wait_log(qr/pool stable: server s2: down after/, from => $mark),
    'both stable servers are marked down');
my ($max, @st) = (0);
for (1 .. 20) {
	my $t1 = time;
	push @st, http_get($port, '/')->{status} // 0;
	$max = time - $t1 if time - $t1 > $max;
}
is(scalar(grep { $_ == 503 } @st), 20, 'with both pools down every request '
    . 'gets 503');
ok($max < 0.25, sprintf('answered at once (slowest %.3f s)', $max));
like($cut->log, qr/no eligible server|no pool of the route is up/,
    'the 503 is logged with its reason');

$cut->stop;
