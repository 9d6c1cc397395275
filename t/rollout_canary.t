#!/usr/bin/perl
# A healthy canary with interval = 1s walks the default steps 5, 10, 25,
# 50, 100 and is promoted: at each step the traffic observed through the
# proxy matches the step's weight, the webhook gets started, one step
# event per step and promoted, in order, and `cutoverctl rollout status
# --follow` draws the progress and exits 0.

use strict;
use warnings;
use Test::More tests => 16;
use POSIX ();
use Time::HiRes qw(time sleep);
use Cutover::Test;
use Cutover::Rollout;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $hook = start_webhook();
my $port = free_port();
my $cv = start_cutover(conf => <<"EOF");
[global]
webhook = ${\ $hook->url}

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}

[pool green]
server = g1 127.0.0.1:${\ $green->port}

[route app]
split = blue 100, green 0

[rollout app]
canary = green
interval = 1s
min_requests = 5
# Both pools are the same server: on a loaded machine the canary's p95 over
# a few requests can still come out several times the stable one's.
max_latency_ratio = 100
EOF

my $st = rollout_status($cv, 'app');
is($st->{state}, 'idle', 'the rollout starts idle');
is($cv->admin('rollout start app'), "ok\n", 'rollout start answers ok');

# Follow it from a child, as a pipeline would.
my $follow_out = tmpdir() . '/follow.out';
my $fpid = fork // die "fork: $!";
if ($fpid == 0) {
	open STDOUT, '>', $follow_out;
	open STDERR, '>&', \*STDOUT;
	exec $ENV{CUTOVERCTL_BIN}, '-s', $cv->admin_socket, 'rollout',
	    'status', 'app', '--follow' or POSIX::_exit(127);
}

# Steady traffic in small batches; a batch counts for a step only when the
# step was the same before and after it.
my (%seen, %total, $final);
my $deadline = time + 40;
while (time < $deadline) {
	my $before = rollout_status($cv, 'app');
	if (($before->{state} // '') ne 'running') {
		$final = $before;
		last;
	}
	my $r = run_parallel(port => $port, conns => 4, requests => 10);
	my $after = rollout_status($cv, 'app');
	next unless ($after->{state} // '') eq 'running' &&
	    $after->{step} == $before->{step};
	my $w = $before->{step_weight};
	$seen{$w} += $r->{backends}{green} // 0;
	$total{$w} += $r->{requests};
}
is($final->{state}, 'promoted', 'the rollout is promoted');
is(split_of($cv, 'app'), 'blue:0 green:100',
    'after promotion green is the only pool');
for my $w (5, 10, 25, 50, 100) {
	my $share = $total{$w} ? 100 * ($seen{$w} // 0) / $total{$w} : -1;
	ok($total{$w} && $total{$w} >= 40 && abs($share - $w) <= 2,
	    "at step $w% green got $w% of the traffic") or
	    diag(sprintf "step %d: %d of %d requests to green (%.1f%%)", $w,
	    $seen{$w} // 0, $total{$w} // 0, $share);
}
like($final->{last_decision}, qr/^promoted: every step passed/,
    'the last decision says why it promoted');

# The follower should be gone by now; never wait for it forever.
wait_for(sub { waitpid($fpid, POSIX::WNOHANG()) == $fpid }, timeout => 5)
    or do { kill 'KILL', $fpid; waitpid($fpid, 0) };
is($? >> 8, 0, 'rollout status --follow exits 0 on promotion');
open my $fh, '<', $follow_out;
my @lines = <$fh>;
ok((grep { /^app: running step 3\/5 canary 25% \[#####\.+\]/ } @lines),
    '--follow prints the step, the canary weight and a bar') or
    diag(@lines);
like($lines[-1] // '', qr/^app: promoted step 5\/5 canary 100%/,
    '--follow ends on the promotion');

ok(wait_for(sub { (($hook->events)[-1] // '') eq 'promoted' }, timeout => 5),
    'the webhook received the promotion');
is(join(' ', $hook->events), 'started step step step step step promoted',
    'the webhook got every event in order');
my ($promoted) = grep { $_->{event} eq 'promoted' } $hook->bodies;
is_deeply([ @{$promoted // {}}{qw(route canary stable weight)} ],
    [ 'app', 'green', 'blue', 100 ], 'an event names route, pools, weight');
