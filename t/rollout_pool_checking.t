#!/usr/bin/perl
# The canary pool down rolls back, but a pool whose servers are in their
# first health checks is not down yet: a reload that moves the canary to
# a new address (a new server, "checking") and a restart (every server
# "checking") leave the rollout running.  A restart in the middle of a
# rollout keeps the breach armed: a canary found dead after the restart
# rolls back, as it would have before.  A canary answering 500s opens its
# breaker and so is down, but once it served min_requests its error rate
# is the reason given.

use strict;
use warnings;
use Test::More tests => 13;
use Time::HiRes qw(time sleep);
use Cutover::Test;
use Cutover::Rollout;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $green2 = start_backend(name => 'green');
my $port = free_port();
my $dir = tmpdir();
my $conf = sub {
	my ($gport, $checks) = @_;
	$checks = $checks ? "health_path = /health\nhealth_interval = 300ms\n" .
	    "health_timeout = 200ms\n" : '';
	return <<"EOF";
[global]
state_file = $dir/state

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}

[pool green]
server = g1 127.0.0.1:$gport
$checks
[route app]
split = blue 100, green 0

[rollout app]
canary = green
steps = 10, 50, 100
interval = 1h
EOF
};

my $cv = start_cutover(conf => $conf->($green->port, 1));
is($cv->admin('rollout start app'), "ok\n", 'the rollout starts');
ok(wait_for(sub { rollout_status($cv, 'app')->{state} eq 'running' },
    timeout => 5), 'it runs once the canary is up');

# The new version of the canary on another port: a reload.
$cv->rewrite($conf->($green2->port, 1));
is($cv->admin('reload'), "ok\n", 'a reload moves g1 to another address');
sleep 1.5;
my $st = rollout_status($cv, 'app');
is($st->{state}, 'running', 'the rollout runs on: g1 was only checking')
    or diag($st->{reason});
is(split_of($cv, 'app'), 'blue:90 green:10', 'the split is the step\'s');

# A restart: every server is checking again.
$cv->stop;
$cv = start_cutover(conf => $conf->($green2->port, 1));
sleep 1.5;
is(rollout_status($cv, 'app')->{state}, 'running',
    'after a restart the rollout runs on');

# A restart that finds the canary dead, without health checks: its
# breaker opens under traffic and the pool is down.  From a rollout of
# its own, started on a canary that dies while the proxy is stopped.
$cv->stop;
unlink "$dir/state";
my $green3 = start_backend(name => 'green');
$cv = start_cutover(conf => $conf->($green3->port, 0));
$cv->admin('rollout start app');
is(rollout_status($cv, 'app')->{state}, 'running', 'a new rollout runs');
$cv->stop;
$green3->stop;
$cv = start_cutover(conf => $conf->($green3->port, 0));
my $deadline = time + 10;
while (time < $deadline) {
	last if rollout_status($cv, 'app')->{state} ne 'running';
	http_get($port, '/') for 1 .. 20;
}
$st = rollout_status($cv, 'app');
is($st->{state}, 'rolled_back', 'the dead canary is rolled back');
like($st->{reason}, qr/^canary pool green is down \(no eligible server; \d+ of \d+ canary requests failed in the last \d+s\)$/,
    'as the pool down, with its requests');
is(split_of($cv, 'app'), 'blue:100 green:0', 'the split is restored');

# A canary answering 500: the breaker (5 failures) opens before the tick.
$cv->stop;
my $red = start_backend(name => 'red', args => ['-s', 500]);
$cv = start_cutover(conf => <<"EOF");
[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}
[pool red]
server = r1 127.0.0.1:${\ $red->port}

[route app]
split = blue 100, red 0

[rollout app]
canary = red
steps = 50, 100
interval = 1h
min_requests = 4
EOF
$cv->admin('rollout start app');
$deadline = time + 10;
while (time < $deadline) {
	last if rollout_status($cv, 'app')->{state} ne 'running';
	http_get($port, '/') for 1 .. 20;
}
$st = rollout_status($cv, 'app');
is($st->{state}, 'rolled_back', 'a canary answering 500s is rolled back');
like($st->{reason}, qr/^error_rate 1\.000 above max_error_rate 0\.050 /,
    'for its error rate, though its pool is down too');
is(metric_value($cv,
    'cutover_rollbacks_total{route="app",reason="error_rate"}'), 1,
    'counted as an error rate rollback');
