#!/usr/bin/perl
# A canary answering 30% 500s is rolled back within 2 s of its window
# reaching min_requests: the split goes back exactly to what it was at
# start (three pools, one of them set to 0 by the rollout), the reason
# names the metric, its value and the threshold,
# cutover_rollbacks_total{reason="error_rate"} counts it, and the webhook
# received started, step and rolled_back in that order.

use strict;
use warnings;
use Test::More tests => 12;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use Cutover::Test;
use Cutover::Rollout;

my $blue = start_backend(name => 'blue');
my $grey = start_backend(name => 'grey');
my $green = start_backend(name => 'green');
my $bad = start_backend(name => 'green', args => ['-s', 500]);
my $hook = start_webhook();
my $port = free_port();
my $cv = start_cutover(conf => <<"EOF");
[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}

[pool grey]
server = x1 127.0.0.1:${\ $grey->port}

# 3 requests in 10 answer 500; the breaker must not hide them
[pool green]
server = g1 127.0.0.1:${\ $green->port} weight=7
server = g2 127.0.0.1:${\ $bad->port} weight=3
breaker_failures = 10000

[route app]
split = blue 90, green 0, grey 10

[rollout app]
canary = green
steps = 50, 100
interval = 30s
min_requests = 20
webhook = ${\ $hook->url}
EOF

is($cv->admin('rollout start app'), "ok\n", 'the rollout starts');
is(split_of($cv, 'app'), 'blue:50 green:50 grey:0',
    'the first step gives green 50, the stable pool the rest, grey 0');

# One request at a time, so that the moment the canary's 20th request
# is answered is known.
my ($n, $t_min);
my $deadline = time + 20;
while (time < $deadline) {
	my $r = http_get($port, '/');
	$n++ if ($r->{headers}{'x-backend'} // '') eq 'green';
	if (!defined $t_min && $n && $n >= 20) {
		$t_min = time;
		last;
	}
}
ok(defined $t_min, 'the canary got min_requests requests');
# Traffic goes on, as it would in production.
my $st;
$deadline = time + 5;
while (time < $deadline) {
	$st = rollout_status($cv, 'app');
	last if $st->{state} eq 'rolled_back';
	run_parallel(port => $port, conns => 2, requests => 5);
}
is($st->{state}, 'rolled_back', 'the rollout rolled back');
my $line = $cv->wait_log(qr/rollout app: rolled back/) // '';
my $t_back;
if ($line =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(\.\d+)Z/) {
	$t_back = timegm($6, $5, $4, $3, $2 - 1, $1) + $7;
}
my $delay = defined $t_back && defined $t_min ? $t_back - $t_min : 99;
ok($delay < 2, 'it rolled back within 2 s of reaching min_requests');
diag(sprintf 'rollback %.3f s after the 20th canary request', $delay);
like($st->{reason},
    qr/^error_rate 0\.\d+ above max_error_rate 0\.050 \(\d+ of \d+ canary requests failed/,
    'the reason names the metric, its value and the threshold');
is(split_of($cv, 'app'), 'blue:90 green:0 grey:10',
    'the split is restored exactly');
is_deeply($st->{rollback_point}, { blue => 90, green => 0, grey => 10 },
    'the rollback point is what the split was at start');
is(metric_value($cv,
    'cutover_rollbacks_total{route="app",reason="error_rate"}'), 1,
    'cutover_rollbacks_total counts it by reason');
my $r = run_parallel(port => $port, conns => 2, requests => 50);
is($r->{backends}{green} // 0, 0, 'no request reaches green any more');
ok(wait_for(sub { ($hook->events)[-1] // '' }, timeout => 5) &&
    wait_for(sub { grep { $_ eq 'rolled_back' } $hook->events },
    timeout => 5), 'the webhook got the rollback');
is(join(' ', $hook->events), 'started step rolled_back',
    'the webhook got started, step, rolled_back in order');
