#!/usr/bin/perl
# The event loop's ways of waiting for work: busy_poll (polling a while
# before blocking; the default), neither (block at once), and batch_wait
# (sleeping to gather messages).  In each, nothing is lost or mixed up:
# dense and lone traffic, small and large responses, a body streamed
# through the buffers' watermarks; show info counts what the loop did;
# an idle loop uses no CPU.  Then reloads under load switch between them,
# both on is refused, and a graceful shutdown finishes requests in
# flight.  (Their speed is measured by scripts/bench, not here.)

use strict;
use warnings;
use Test::More tests => 31;
use Time::HiRes qw(sleep);
use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $port = free_port();

# Each mode: its [global] lines, and the show info figure it moves.
# Every mode names busy_poll, so the test harness adds no batch_wait.
# busy_poll at its maximum: the window adapts to how long a blocking wait
# and its pass take, and under ASan on a slow machine each took over 50us,
# which closed a 50us window for good (0 busy polls in 3,000 requests).
my @modes = (
	["busy_poll = 1ms\n", 'busy polls'],
	["busy_poll = off\n", undef],
	["busy_poll = off\nbatch_wait = 200us\n", 'batch sleeps'],
);

sub conf {
	my ($global) = @_;
	return <<"EOF";
[global]
${global}shutdown_grace = 10s

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}
keepalive = 64

[pool green]
server = g1 127.0.0.1:@{[$green->port]}
keepalive = 64

[route app]
split = blue 90, green 10
EOF
}

# CPU time (ms) cutover uses over secs seconds of doing nothing.
sub idle_cpu_ms {
	my ($cv, $secs) = @_;
	my $ticks = sub {
		open my $fh, '<', '/proc/' . $cv->pid . '/stat' or return 0;
		my @f = split ' ', (<$fh> =~ s/^.*\) //r);
		return $f[11] + $f[12];
	};
	my $t0 = $ticks->();
	sleep $secs;
	return ($ticks->() - $t0) * 1000 / 100;
}

for my $mode (@modes) {
	my ($global, $label) = @$mode;
	my $name = $global =~ s/\n(?=.)/, /r =~ s/\n//r;
	my $cv = start_cutover(conf => conf($global));

	# Dense traffic: 50 connections at once.
	my $res = run_parallel(port => $port, conns => 50, requests => 60);
	is($res->{ok}, 3000, "$name: 3,000 requests over 50 connections");
	is($res->{errors}, 0, "$name: no errors");
	is(($res->{backends}{blue} // 0) . ' ' . ($res->{backends}{green} // 0),
	    '2700 300', "$name: exactly 90% to blue, 10% to green");
	if (defined $label) {
		my $n = $cv->worker_figure($label);
		ok(defined $n && $n > 0, "$name: show info counts $label (" .
		    ($n // 'none') . ')');
	} else {
		is($cv->worker_figure('busy polls') . ' ' .
		    $cv->worker_figure('batch sleeps'),
		    '0 0', "$name: no busy polls, no batch sleeps");
	}

	$res = run_parallel(port => $port, conns => 50, requests => 20,
	    path => '/?size=16384');
	ok($res->{ok} == 1000 && $res->{errors} == 0,
	    "$name: 1,000 responses of 16 KiB over 50 connections");

	# A lone client: every message comes after the loop has caught up.
	$res = run_parallel(port => $port, conns => 1, requests => 200);
	is($res->{ok}, 200, "$name: a lone keep-alive client, 200 requests");

	my $r = http_get($port, '/?size=3000000');
	ok(($r->{status} // 0) == 200 && $r->{body_length} == 3000000 &&
	    $r->{body} eq pattern(0, 3000000),
	    "$name: a 3 MB response arrives whole and in order");

	# Once traffic stops, the loop blocks: no CPU (a loop left polling
	# would use a whole core).
	sleep 0.3;
	my $ms = idle_cpu_ms($cv, 2);
	ok($ms < 400, "$name: idle for 2 s after traffic, ${ms} ms of CPU");
	$cv->stop;
}

# Reloads under load rotate through the modes, at their largest values.
# Rounds of 2,000 requests until at least 6 reloads ran (at most 20).
my @big = ("busy_poll = 1ms\n", "busy_poll = off\n",
    "busy_poll = off\nbatch_wait = 1ms\n");
my $cv = start_cutover(conf => conf($big[0]));
my $mark = $cv->log_mark;
my %sum = (requests => 0, ok => 0, errors => 0);
my $reloads = 0;
$cv->reloading(sub { conf($big[($_[0] + 1) % 3]) }, sub {
	for (1 .. 20) {
		my $r = run_parallel(port => $port, conns => 20, requests => 100);
		$sum{$_} += $r->{$_} for keys %sum;
		$reloads = () = substr($cv->log, $mark) =~ /config reloaded/g;
		last if $reloads >= 6;
	}
});
is($sum{ok}, $sum{requests},
    "$reloads reloads during $sum{requests} requests: all answered");
is($sum{errors}, 0, 'none failed');
ok($reloads >= 6 && $cv->log !~ /reload refused/,
    'several reloads ran, none refused');

# Both on is refused at reload, and the running config stays.
$cv->rewrite(conf("busy_poll = 10us\nbatch_wait = 20us\n"));
$mark = $cv->log_mark;
$cv->reload;
ok($cv->wait_log(qr/reload refused: .*busy_poll and batch_wait exclude each other/,
    from => $mark), 'busy_poll and batch_wait both on: reload refused');
is(run_parallel(port => $port, conns => 10, requests => 20)->{ok}, 200,
    'the running config serves on');

# A graceful shutdown while requests are in flight.
is($cv->terminate_busy($port, delay => 500, settle => 0.2), 4,
    'SIGTERM: the four requests in flight complete');
is($cv->wait_exit(timeout => 10), 0, 'and cutover exits 0');
