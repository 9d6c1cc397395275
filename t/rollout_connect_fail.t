#!/usr/bin/perl
# A canary that refuses connections is judged by its attempts: each
# request sent to it is retried on the stable pool and answered, and the
# canary's failed connects count in its error rate (max_error_rate is a
# 5xx + connect-failure ratio), so the rollout rolls back for its error
# rate instead of seeing no canary traffic at all.

use strict;
use warnings;
use Test::More tests => 4;
use Time::HiRes qw(time);
use Cutover::Test;
use Cutover::Rollout;

my $blue = start_backend(name => 'blue');
my $port = free_port();
my $closed = free_port();	# nothing listens there
my $cv = start_cutover(conf => <<"EOF");
[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}

# The breaker must not take the canary out before it is judged.
[pool green]
server = g1 127.0.0.1:$closed
breaker_failures = 10000

[route app]
split = blue 100, green 0

[rollout app]
canary = green
steps = 50, 100
interval = 30s
min_requests = 10
max_error_rate = 0.05
EOF

is($cv->admin('rollout start app'), "ok\n", 'the rollout starts');
my ($ok, $all) = (0, 0);
my $deadline = time + 15;
while (time < $deadline &&
    rollout_status($cv, 'app')->{state} eq 'running') {
	for (1 .. 10) {
		$all++;
		$ok++ if http_get($port, '/')->{status} == 200;
	}
}
is($ok, $all, "every request is answered ($all), the canary's retried");
my $st = rollout_status($cv, 'app');
is($st->{state}, 'rolled_back', 'the rollout rolls back');
like($st->{reason}, qr/^error_rate 1\.0+ above max_error_rate 0\.050/,
    'for the canary\'s error rate, its failed connects');
