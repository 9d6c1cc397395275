#!/usr/bin/perl
# metrics = prometheus: answers that are not one sound figure never pass
# for a healthy canary.  A negative value (an error rate or a p95 never
# is one, so a broken query), several series where one is asked for, and
# a body cut short in the middle of its JSON, and one too large to be
# read whole (64 KiB) though what came of it was JSON, each pause the rollout with
# the reason, where the canary would otherwise be stepped up and promoted
# on a figure that means nothing.  A p95 of +Inf (histogram_quantile()
# past the last bucket) is a figure: it rolls back, and the rollout's JSON
# stays JSON.

use strict;
use warnings;
use Test::More tests => 15;
use Time::HiRes qw(time sleep);
use Cutover::Test;
use Cutover::Rollout;

my $vec = '{"status":"success","data":{"resultType":"vector","result":[';
my $one = '{"metric":{"pod":"%s"},"value":[1700000000,"%s"]}';
my %answers = (
	negative => $vec . sprintf($one, 'a', '-0.5') . ']}}',
	neginf => $vec . sprintf($one, 'a', '-Inf') . ']}}',
	several => $vec . sprintf($one, 'a', '0.001') . ',' .
	    sprintf($one, 'b', '0.9') . ']}}',
	truncated => $vec . '{"metric":{},"value":[1700000000,"0.001"',
	large => $vec . sprintf($one, 'a', '0.001') . ']}}' . ' ' x 70000,
	inf => [errors => 0.001, p95 => '+Inf'],
	# A percentage where a ratio is meant: every canary would roll back.
	percent => [errors => 5, p95 => 0.01],
);
my %prom = map { $_ => start_fake_prometheus(ref $answers{$_} ?
    @{$answers{$_}} : (raw => $answers{$_})) } keys %answers;
my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $port = free_port();

my $conf = blue_green_conf($port, $blue, $green);
for my $name (sort keys %answers) {
	$conf .= <<"EOF";
[route $name]
path_prefix = /$name
split = blue 100, green 0
[rollout $name]
canary = green
steps = 50, 100
interval = 1s
min_requests = 5
metrics = prometheus ${\ $prom{$name}->url}
error_rate_query = errors{pool="{pool}"}
p95_query = p95{pool="{pool}"}
EOF
}
my $cv = start_cutover(conf => $conf);

$cv->admin("rollout start $_") for sort keys %answers;
my %st;
my $deadline = time + 8;
while (time < $deadline) {
	%st = map { $_ => rollout_status($cv, $_) } keys %answers;
	last unless grep { ($_->{state} // '') eq 'running' } values %st;
	run_parallel(port => $port, path => "/$_", conns => 2, requests => 3)
	    for keys %answers;
}
my %why = (
	negative => qr/the value -0\.5 is negative/,
	neginf => qr/the value -Inf is negative/,
	several => qr/the query returned 2 series, not one/,
	truncated => qr/the answer is not JSON/,
	large => qr/the answer is larger than 64 KiB/,
	percent => qr/the error rate 5 is above 1: the query must give a ratio/,
);
for my $name (grep { $_ ne 'inf' } sort keys %answers) {
	is($st{$name}{state}, 'paused',
	    "$name: the rollout pauses, it is not stepped up");
	like($st{$name}{reason},
	    qr/^no figures from Prometheus: Prometheus: $why{$name}/,
	    "$name: the reason says what is wrong with the answer");
}
is($st{inf}{state}, 'rolled_back', 'a p95 of +Inf rolls the canary back');
like($st{inf}{reason}, qr/^p95_latency inf(?:s)? above max_p95_latency/,
    'the reason gives the figure');
is($st{inf}{window}{p95}, 9**9**9, 'rollout status json gives it as infinity');
