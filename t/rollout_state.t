#!/usr/bin/perl
# A rollout survives a reload and a restart: it resumes at the same step
# with the remaining time of the step honoured and its rollback point
# intact, and a rollback after the restart restores the split of before
# the start.  auto_start does not start a rollout again once it ended.

use strict;
use warnings;
use Test::More tests => 13;
use Time::HiRes qw(time sleep);
use Cutover::Test;
use Cutover::Rollout;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $port = free_port();
my $dir = tmpdir();
my $state = "$dir/cutover.state";
my $sock = "$dir/admin.sock";
my $conf = write_conf(<<"EOF");
[global]
state_file = $state
admin_socket = $sock
status_listen = off

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
steps = 10, 20, 50, 100
interval = 3s
min_requests = 5
auto_start = on
EOF

my $cv = start_cutover(conf => $conf);
my $st = rollout_status($cv, 'app');
is($st->{state}, 'running', 'auto_start starts the rollout');
my $deadline = time + 15;
while (time < $deadline && rollout_status($cv, 'app')->{step} < 2) {
	run_parallel(port => $port, conns => 4, requests => 10);
}
$st = rollout_status($cv, 'app');
is($st->{step}, 2, 'the rollout reached step 2');

$cv->reload;
ok($cv->wait_log(qr/config reloaded/), 'a reload mid-rollout');
my $r = rollout_status($cv, 'app');
ok($r->{state} eq 'running' && $r->{step} == 2,
    'the reload keeps the rollout at its step');

my $elapsed = rollout_status($cv, 'app')->{step_elapsed};
$cv->stop;
like(do { open my $fh, '<', $state; local $/; <$fh> },
    qr/^rollout app green running 1 \d+ \d+ 0 blue=100,green=0 -$/m,
    'the state file holds the rollout, its step and rollback point');
$cv = start_cutover(conf => $conf);
$r = rollout_status($cv, 'app');
is($r->{state}, 'running', 'after a restart the rollout runs');
is($r->{step}, 2, 'at the same step');
is(split_of($cv, 'app'), 'blue:80 green:20', 'with the same split');
ok($r->{step_elapsed} >= $elapsed && $r->{next_step_in} < 3,
    'the time already spent in the step counts') or
    diag("elapsed before $elapsed, now $r->{step_elapsed}, next in " .
    "$r->{next_step_in}");
is_deeply($r->{rollback_point}, { blue => 100, green => 0 },
    'the rollback point is intact');
ok($cv->log =~ /rollout app: restored from the state file: running at step 2\/4/,
    'the restore is logged');

is($cv->admin('rollout abort app'), "ok\n", 'abort after the restart');
$cv->stop;
$cv = start_cutover(conf => $conf);
is(split_of($cv, 'app') . ' ' . rollout_status($cv, 'app')->{state},
    'blue:100 green:0 rolled_back',
    'the rollback point came back and auto_start does not start again');
