#!/usr/bin/perl
# strategy = blue-green: the rollout waits for the new pool to be healthy,
# switches 100% to it in one change, watches it for interval and
# promotes; a new pool that breaches is switched back at once.

use strict;
use warnings;
use Test::More tests => 11;
use Time::HiRes qw(time sleep);
use Cutover::Test;
use Cutover::Rollout;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green', args => ['-H', 503]);
my $bad = start_backend(name => 'bad', args => ['-s', 502]);
my $port = free_port();
my $cv = start_cutover(conf => <<"EOF");
[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}
[pool green]
server = g1 127.0.0.1:${\ $green->port}
health_path = /health
health_interval = 200ms
health_timeout = 200ms
health_rise = 1
[pool bad]
server = x1 127.0.0.1:${\ $bad->port}
breaker_failures = 10000

[route app]
split = blue 100, green 0
[rollout app]
strategy = blue-green
canary = green
interval = 2s
min_requests = 5

[route next]
path_prefix = /next
split = blue 100, bad 0
[rollout next]
strategy = blue-green
canary = bad
interval = 30s
min_requests = 5
EOF

$cv->admin('rollout start app');
sleep 0.6;
my $st = rollout_status($cv, 'app');
ok($st->{state} eq 'waiting' && split_of($cv, 'app') eq 'blue:100 green:0',
    'while green is not healthy the rollout waits, blue keeps everything');
is($cv->admin('rollout promote app'), "error: rollout: canary pool green "
    . "is down (no eligible server): not promoted; abort, then switch, "
    . "forces it\n", 'promote is refused while the canary pool is down');
is(split_of($cv, 'app'), 'blue:100 green:0', 'and blue keeps everything');
$green->control(health => 200);
ok(wait_for(sub { split_of($cv, 'app') eq 'blue:0 green:100' }),
    'once green is up, all traffic switches to it in one change');
my $t0 = time;
$st = rollout_status($cv, 'app');
is("$st->{state} $st->{step}/$st->{steps}", 'running 1/1',
    'the switch is the one step');
while (time < $t0 + 8 && $st->{state} eq 'running') {
	my $r = run_parallel(port => $port, conns => 2, requests => 10);
	$st = rollout_status($cv, 'app');
}
is($st->{state}, 'promoted', 'after interval without breach it promotes');
ok(time - $t0 >= 1.8, 'not before interval passed');
ok($cv->log =~ /rollout app: step 1\/1: switched 100% to green/,
    'the switch is logged');

$cv->admin('rollout start next');
is(split_of($cv, 'next'), 'blue:0 bad:100', 'the next release switches');
my $deadline = time + 5;
while (time < $deadline &&
    rollout_status($cv, 'next')->{state} eq 'running') {
	run_parallel(port => $port, path => '/next', conns => 2,
	    requests => 5);
}
$st = rollout_status($cv, 'next');
is($st->{state}, 'rolled_back', 'a breach rolls it back');
is(split_of($cv, 'next'), 'blue:100 bad:0', 'and switches back to blue');
