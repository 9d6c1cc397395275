#!/usr/bin/perl
# The other rules of a rollout and its admin commands: a p95 breach and an
# availability breach each roll back with their reason; the latency ratio
# pauses for confirmation, `confirm` resumes, `abort` rolls back; `pause`,
# `resume` and `promote`; commands out of turn are refused; a canary
# pool that goes down is a breach even while the rollout is paused.

use strict;
use warnings;
use Test::More tests => 43;
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
my $held = start_backend(name => 'held', args => ['-d', 40]);
my $wobbly = start_backend(name => 'wobbly');
my $hook = start_webhook();
my $port = free_port();

# A route and its rollout; keys in extra replace the defaults here.
sub route {
	my ($name, $canary, $extra) = @_;
	my $text = <<"EOF";
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
	for my $k ($extra =~ /^(\w+)\s*=/mg) {
		$text =~ s/^\Q$k\E = .*\n(?=(?s:.*)^\Q$k\E = )//m;
	}
	return $text;
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
# Route same: its stable pool fails as much as its canary, 30%.
[pool flaky_st]
server = f1 127.0.0.1:${\ $good->port} weight=7
server = f2 127.0.0.1:${\ $bad->port} weight=3
breaker_failures = 10000
[pool flaky_same]
server = f1 127.0.0.1:${\ $good->port} weight=7
server = f2 127.0.0.1:${\ $bad->port} weight=3
breaker_failures = 10000
[pool held]
server = h1 127.0.0.1:${\ $held->port}
breaker_failures = 10000
# Two pools of one server, so that one switch makes both fail.
[pool wa]
server = w1 127.0.0.1:${\ $wobbly->port}
breaker_failures = 10000
[pool wb]
server = w1 127.0.0.1:${\ $wobbly->port}
breaker_failures = 10000

[pool starve]
server = s1 127.0.0.1:${\ $green->port}

[route same]
path_prefix = /same
split = flaky_st 100, flaky_same 0

[rollout same]
canary = flaky_same
steps = 50, 100
interval = 1m
min_requests = 10
max_error_rate = 0.5
max_error_rate_delta = 0.15
min_availability = 0
max_latency_ratio = 100
EOF
    route('p95', 'slow', "max_p95_latency = 100ms\nmax_latency_ratio = 100") .
    route('avail', 'flaky', "max_error_rate = 1\nmax_error_rate_delta = 1\n" .
	"min_availability = 0.9") .
    route('ratio', 'lag', "max_latency_ratio = 2") .
    route('ctl', 'green', '') .
    route('gone', 'down', '') .
    route('delta', 'flaky', "max_error_rate = 0.5\nmax_error_rate_delta = 0.15\n" .
	"min_availability = 0\nwebhook = ${\ $hook->url}") .
    route('held', 'held', "max_latency_ratio = 2") .
    route('availa', 'wa', "max_error_rate = 1\nmax_error_rate_delta = 1\n" .
	"min_availability = 0.5\navailability_window = 1s") .
    route('availb', 'wb', "max_error_rate = 1\nmax_error_rate_delta = 1\n" .
	"min_availability = 0.5\navailability_window = 1m") .
    route('starve', 'starve', "interval = 1s\nmin_requests = 20\n" .
	"webhook = ${\ $hook->url}"));

# Not enough traffic: started first, judged at the end, so that its three
# intervals pass while the other rules are tested.  Five requests are
# fewer than min_requests.
$cv->admin('rollout start starve');
http_get($port, '/starve') for 1 .. 5;

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

# error_rate_delta: the canary fails 30%, the stable pool never; 0.3 is
# under max_error_rate but above the stable rate by more than the delta.
$cv->admin('rollout start delta');
$st = drive('delta', 'running');
is($st->{state}, 'rolled_back', 'a canary failing more than stable by '
    . 'more than max_error_rate_delta is rolled back');
like($st->{reason}, qr/^error_rate_delta 0\.[23]\d\d above max_error_rate_delta 0\.150 \(canary 0\.[23]\d\d, stable 0\.000 /,
    'for error_rate_delta, with the value, the threshold and both rates');
is(metric_value($cv,
    'cutover_rollbacks_total{route="delta",reason="error_rate_delta"}'), 1,
    'the rollback is counted with reason error_rate_delta');
ok($cv->wait_log(qr/rollout delta: rolled back at step 1\/2: error_rate_delta /),
    'the log says why it rolled back');
my $posted = wait_for(sub {
	(grep { ($_->{route} // '') eq 'delta' &&
	    $_->{event} eq 'rolled_back' } $hook->bodies)[0] }, timeout => 5);
like($posted->{message} // '', qr/error_rate_delta 0\.\d+ above max_error_rate_delta 0\.150/,
    'the webhook gets rolled_back with the reason');

# The same failure rate in the stable pool: the delta rule judges the
# canary against its baseline, so this one goes on.
$cv->admin('rollout start same');
my $t_end = time + 1.5;
run_parallel(port => $port, path => '/same', conns => 4, requests => 5)
    while time < $t_end;
$st = rollout_status($cv, 'same');
ok($st->{state} eq 'running' && $st->{window}{requests} >= 10 &&
    $st->{window}{stable_requests} >= 10,
    'a canary failing as much as its stable pool is not rolled back')
    or diag(explain($st));

# A breach while the rollout waits for confirm rolls back at once.
$cv->admin('rollout start held');
$st = drive('held', 'running');
ok($st->{state} eq 'paused' && $st->{awaiting_confirm},
    'a slow canary waits for confirm');
$held->control(status => 500);
$st = drive('held', 'paused', 5);
is($st->{state}, 'rolled_back',
    'a canary failing while awaiting confirm is rolled back, not kept waiting');
like($st->{reason}, qr/^error_rate 0\.\d+ above max_error_rate 0\.050/,
    'for its error rate');
is(split_of($cv, 'held'), 'blue:100 held:0', 'its split is restored');

# availability_window: the same canary history judged over 2 s (a 1s
# window plus the current second) and over a minute.  Many good requests,
# a quiet gap longer than the short window, then only failures: the short
# window sees nothing but failures, the long one mostly successes.
$cv->admin('rollout start availa');
$cv->admin('rollout start availb');
run_parallel(port => $port, path => "/$_", conns => 8, requests => 50)
    for qw(availa availb);
my $sa = rollout_status($cv, 'availa');
my $sb = rollout_status($cv, 'availb');
ok($sa->{state} eq 'running' && $sb->{state} eq 'running',
    'both rollouts run while the canary succeeds');
sleep 2.5;
# 15 failures each: 0 of 15 in the short window, 200 of 215 in the long.
$wobbly->control(status => 500);
run_parallel(port => $port, path => "/$_", conns => 2, requests => 15)
    for qw(availa availb);
$wobbly->control(status => 200);
$sa = wait_for(sub {
	my $s = rollout_status($cv, 'availa');
	return $s->{state} ne 'running' && $s }, timeout => 3) // $sa;
is($sa->{state}, 'rolled_back',
    'failures filling a short availability_window roll back');
like($sa->{reason}, qr/^availability 0\.\d+ below min_availability 0\.500 \(\d+ of \d+ canary requests succeeded in the last 2s\)/,
    'for its availability over that window');
$sb = rollout_status($cv, 'availb');
ok($sb->{state} eq 'running' && $sb->{availability}{value} > 0.5,
    'the same failures within a long window of successes do not')
    or diag(explain($sb));

# Not enough traffic: three intervals of 1 s, then a pause, no step on.
$st = rollout_status($cv, 'starve');
is($st->{state}, 'paused', 'a rollout without enough traffic pauses');
like($st->{reason}, qr/^not enough traffic: \d canary requests in the last 2s, min_requests 20/,
    'with the reason "not enough traffic"');
is($st->{step}, 1, 'without taking a step');
my @t = map {
	my $l = $cv->wait_log($_) // '';
	$l =~ /T(\d\d):(\d\d):(\d\d(?:\.\d+)?)Z/ ? $1 * 3600 + $2 * 60 + $3 : 0
} qr/rollout starve: step 1\/2/, qr/rollout starve: paused at step 1\/2: not enough traffic/;
my $after = $t[1] - $t[0];
ok($after >= 3 && $after < 4,
    sprintf('it pauses after three intervals (%.3f s)', $after));
$posted = wait_for(sub {
	(grep { ($_->{route} // '') eq 'starve' &&
	    $_->{event} eq 'paused' } $hook->bodies)[0] }, timeout => 5);
like($posted->{message} // '', qr/not enough traffic/,
    'the webhook gets a paused event with the reason');
