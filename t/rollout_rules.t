#!/usr/bin/perl
# The other rules of a rollout and its admin commands: a p95 breach and an
# availability breach each roll back with their reason; the latency ratio
# pauses for confirmation, `confirm` resumes, `abort` rolls back; `pause`,
# `resume` and `promote`; commands out of turn are refused; a canary
# pool that goes down is a breach even while the rollout is paused.

use strict;
use warnings;
use Test::More tests => 24;
use Time::HiRes qw(time sleep);
use Cutover::Test;
use Cutover::Rollout;

my $blue = start_backend(name => 'blue');
my $slow = start_backend(name => 'slow', args => ['-d', 300]);
my $bad = start_backend(name => 'bad', args => ['-s', 500]);
my $good = start_backend(name => 'good');
my $lag = start_backend(name => 'lag', args => ['-d', 40]);
my $green = start_backend(name => 'green');
my $down = start_backend(name => 'down');
my $port = free_port();

sub route {
	my ($name, $canary, $extra) = @_;
	return <<"EOF";
[route $name]
path_prefix = /$name
split = blue 100, $canary 0

[rollout $name]
canary = $canary
steps = 50, 100
interval = 1m
min_requests = 10
$extra
EOF
}

my $cv = start_cutover(conf => <<"EOF" .
[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}
[pool slow]
server = s1 127.0.0.1:${\ $slow->port}
[pool flaky]
server = f1 127.0.0.1:${\ $good->port} weight=7
server = f2 127.0.0.1:${\ $bad->port} weight=3
breaker_failures = 10000
[pool lag]
server = l1 127.0.0.1:${\ $lag->port}
[pool green]
server = g1 127.0.0.1:${\ $green->port}
[pool down]
server = d1 127.0.0.1:${\ $down->port}
breaker_failures = 2
EOF
    route('p95', 'slow', "max_p95_latency = 100ms\nmax_latency_ratio = 100") .
    route('avail', 'flaky', "max_error_rate = 1\nmax_error_rate_delta = 1\n" .
	"min_availability = 0.9") .
    route('ratio', 'lag', "max_latency_ratio = 2") .
    route('ctl', 'green', '') .
    route('gone', 'down', ''));

# Sends traffic to a route until its rollout leaves the given state.
sub drive {
	my ($route, $state, $timeout) = @_;
	my $st;
	my $deadline = time + ($timeout // 10);
	while (time < $deadline) {
		$st = rollout_status($cv, $route);
		return $st if ($st->{state} // '') ne $state;
		run_parallel(port => $port, path => "/$route", conns => 4,
		    requests => 5);
	}
	return $st;
}

# p95
$cv->admin('rollout start p95');
my $st = drive('p95', 'running');
is($st->{state}, 'rolled_back', 'a slow canary is rolled back');
like($st->{reason}, qr/^p95_latency 0\.3\d\ds above max_p95_latency 0\.100s/,
    'for its p95, with the value and the threshold');
is(split_of($cv, 'p95'), 'blue:100 slow:0', 'its split is restored');

# availability
$cv->admin('rollout start avail');
$st = drive('avail', 'running');
is($st->{state}, 'rolled_back', 'a canary failing 30% is rolled back');
like($st->{reason}, qr/^availability 0\.[67]\d\d below min_availability 0\.900/,
    'for its availability when the error rate rules allow it');
is(metric_value($cv,
    'cutover_rollbacks_total{route="avail",reason="availability"}'), 1,
    'the rollback is counted with reason availability');

# latency ratio: pause, confirm, abort
$cv->admin('rollout start ratio');
$st = drive('ratio', 'running');
is($st->{state}, 'paused', 'a canary twice as slow as stable pauses');
ok($st->{awaiting_confirm}, 'awaiting confirmation');
like($st->{reason}, qr/^latency_ratio \d+\.\d\d above max_latency_ratio 2\.00/,
    'with the ratio and the threshold as the reason');
is($cv->admin('rollout resume ctl'),
    "error: rollout: rollout ctl is idle: cannot resume it\n",
    'an idle rollout cannot be resumed');
is($cv->admin('rollout confirm ratio'), "ok\n", 'confirm answers ok');
$st = drive('ratio', 'running', 2);
is($st->{state}, 'running', 'a confirmed step is not paused again');
is($cv->admin('rollout abort ratio'), "ok\n", 'abort answers ok');
$st = rollout_status($cv, 'ratio');
is($st->{state}, 'rolled_back', 'abort rolls back');
is($st->{reason}, 'aborted by admin', 'saying so');
is(split_of($cv, 'ratio'), 'blue:100 lag:0', 'abort restores the split');

# pause, resume, promote
$cv->admin('rollout start ctl');
is($cv->admin('rollout confirm ctl'),
    "error: rollout: rollout ctl is running: cannot confirm it\n",
    'confirm needs a rollout awaiting it');
is($cv->admin('rollout pause ctl'), "ok\n", 'pause answers ok');
$st = rollout_status($cv, 'ctl');
ok($st->{state} eq 'paused' && !$st->{awaiting_confirm},
    'the rollout is paused, not awaiting confirm');
is($cv->admin('rollout resume ctl'), "ok\n", 'resume answers ok');
is(rollout_status($cv, 'ctl')->{state}, 'running', 'it runs again');
is($cv->admin('rollout promote ctl'), "ok\n", 'promote answers ok');
is(split_of($cv, 'ctl'), 'blue:0 green:100', 'promote gives green 100');

# a canary pool down is a breach, even while paused
$cv->admin('rollout start gone');
$cv->admin('rollout pause gone');
$down->kill('KILL');
$st = drive('gone', 'paused');
like($st->{reason} // '', qr/^canary pool down is down/,
    'a canary pool going down rolls back a paused rollout');
