#!/usr/bin/perl
# metrics = prometheus URL: the controller judges the canary by the error
# rate and p95 a Prometheus server answers for the queries, with {route}
# and {pool} filled in (here a fake Prometheus written in Perl, so that
# the figures are the test's to choose): a fleet-wide error rate above
# the threshold rolls back a canary that is healthy locally; Prometheus
# unreachable or answering garbage pauses the rollout with the reason and
# never promotes it.

use strict;
use warnings;
use Test::More tests => 14;
use Time::HiRes qw(time sleep);
use Cutover::Test;
use Cutover::Rollout;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $prom = start_fake_prometheus('pool="green"' => 0.5, p95 => 0.01);
my $dead = start_fake_prometheus(p95 => 0.01);
my $junk = start_fake_prometheus(garbage => 1);
my $port = free_port();

sub route {
	my ($name, $url) = @_;
	return <<"EOF";
[route $name]
path_prefix = /$name
split = blue 100, green 0
[rollout $name]
canary = green
steps = 50, 100
interval = 1s
min_requests = 5
metrics = prometheus $url
error_rate_query = sum(rate(errors{route="{route}",pool="{pool}"}[1m]))
p95_query = p95{route="{route}"}
EOF
}

my $cv = start_cutover(conf => blue_green_conf($port, $blue, $green) .
    route('app', $prom->url) . route('gone', $dead->url) .
    route('junk', $junk->url));

sub drive {
	my ($route, $state, $timeout) = @_;
	my $st;
	my $deadline = time + ($timeout // 10);
	while (time < $deadline) {
		$st = rollout_status($cv, $route);
		return $st if ($st->{state} // '') ne $state;
		run_parallel(port => $port, path => "/$route", conns => 2,
		    requests => 5);
	}
	return $st;
}

$cv->admin('rollout start app');
my $st = drive('app', 'running');
is($st->{state}, 'rolled_back',
    'a fleet-wide error rate from Prometheus rolls the canary back');
like($st->{reason}, qr/^error_rate 0\.500 above max_error_rate 0\.050/,
    'the reason gives the figure Prometheus answered');
is($st->{metrics}, 'prometheus', 'show rollouts says where figures come from');

$dead->stop;
$cv->admin('rollout start gone');
$st = drive('gone', 'running');
is($st->{state}, 'paused', 'Prometheus unreachable pauses the rollout');
like($st->{reason}, qr/^no figures from Prometheus: cannot reach Prometheus/,
    'saying why');
sleep 1.5;
is(rollout_status($cv, 'gone')->{state}, 'paused',
    'and it stays paused, never promoted on missing data');
is(scalar(() = $cv->log =~
    /\[warn\] rollout gone: error_rate query: cannot reach Prometheus/g), 1,
    'the failing query is logged once, not at each attempt');

$cv->admin('rollout start junk');
$st = drive('junk', 'running');
is($st->{state}, 'paused', 'garbage from Prometheus pauses the rollout');
like($st->{reason}, qr/^no figures from Prometheus: Prometheus: the answer is not JSON/,
    'saying why');
# Paused, it keeps asking, so as to go on once the figures are good: once
# a second per figure, not at each turn of the controller (250 ms).
my $q0 = $junk->queries;
sleep 2;
my $asked = $junk->queries - $q0;
ok($asked >= 2 && $asked <= 6,
    'a paused rollout asks Prometheus about once a second per figure')
    or diag("$asked queries in 2 s");

# Broken in another way, it says so once more; answering well, once.
my $mark0 = $cv->log_mark;
$junk->set('pool="green"' => 5, p95 => 0.01);
ok($cv->wait_log(qr/\[warn\] rollout junk: error_rate query: Prometheus: the error rate 5 is above 1/,
    from => $mark0), 'a new kind of failure is logged');
sleep 1.5;
is(scalar(() = substr($cv->log, $mark0) =~ /\[warn\] rollout junk: error_rate query/g),
    1, '... once');

# A new run starts afresh: the failure that paused the last one is not
# held against it before Prometheus has answered this one.
$cv->admin('rollout abort junk');
sleep 0.5;
$junk->set('pool="green"' => 0.001, p95 => 0.01);
my $mark = $cv->log_mark;
$cv->admin('rollout start junk');
$st = drive('junk', 'running');
is($st->{state}, 'promoted',
    'a rollout started again once Prometheus answers well is promoted');
ok(!$cv->wait_log(qr/rollout junk: paused/, from => $mark, timeout => 0),
    'without a pause on the last run\'s failure');
