#!/usr/bin/perl
# The webhook queue is bounded (64 events) and keeps the latest events
# when a receiver that does not answer lets it fill: each event dropped
# is logged, the proxy keeps serving meanwhile, and once the receiver
# answers it gets the rollout's last event.

use strict;
use warnings;
use Test::More tests => 5;
use Time::HiRes qw(time sleep);
use Cutover::Test;
use Cutover::Rollout;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $hook = start_webhook(delay => 2);
my $port = free_port();
my $cv = start_cutover(conf => "[global]\nwebhook = " . $hook->url . "\n" .
    blue_green_conf($port, $blue, $green) . <<"EOF");
[route app]
split = blue 100, green 0
[rollout app]
canary = green
interval = 1m
EOF

# Three events (started, step, rolled_back) per round, 90 in all, while
# the receiver holds the first one.
for (1 .. 30) {
	$cv->admin('rollout start app');
	$cv->admin('rollout abort app');
}
$cv->admin('rollout start app');
$cv->admin('rollout promote app');
my $r = http_get($port, '/');
is($r->{status}, 200, 'the proxy serves while the webhook hangs');
ok($cv->wait_log(qr/rollout webhook: queue full, event app \w+ dropped/),
    'a dropped event is logged');
ok(wait_for(sub { grep { $_ eq 'promoted' } $hook->events }, timeout => 10),
    'the receiver gets the last event once it answers');
my @ev = $hook->events;
is($ev[-1], 'promoted', 'as the last one');
cmp_ok(scalar @ev, '<=', 65, 'no more events than the queue holds, ' .
    'and the one in flight');
