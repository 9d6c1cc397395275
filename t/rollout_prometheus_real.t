#!/usr/bin/perl
# metrics = prometheus against a real Prometheus (Debian's prometheus),
# started here on 127.0.0.1, scraping cutover's /metrics every second: a
# faulty canary is rolled back on the error rate Prometheus computes from
# cutover's own counters, and once Prometheus is stopped a new rollout
# pauses with the reason and is never promoted.

use strict;
use warnings;
use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use Cutover::Test;
use Cutover::Rollout;

my $PROMETHEUS = '/usr/bin/prometheus';
plan skip_all => "$PROMETHEUS (Debian's prometheus) is not installed"
    unless -x $PROMETHEUS;
plan tests => 9;

my $prom_pid;
END {
	if ($prom_pid) {
		kill 'TERM', $prom_pid;
		waitpid($prom_pid, 0);
	}
}

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my ($port, $status_port, $prom_port) = (free_port(), free_port(),
    free_port());
my $prom_url = "http://127.0.0.1:$prom_port";
my $q_err = 'sum(rate(cutover_requests_total{route="{route}",pool="{pool}"' .
    ',code="5xx"}[10s]))/sum(rate(cutover_requests_total{route="{route}",' .
    'pool="{pool}"}[10s]))';
my $q_p95 = 'histogram_quantile(0.95,sum by(le)(rate(' .
    'cutover_request_duration_seconds_bucket{route="{route}",' .
    'pool="{pool}"}[10s])))';

my $cv = start_cutover(conf => <<"EOF");
[global]
status_listen = 127.0.0.1:$status_port
[listener web]
bind = 127.0.0.1:$port
[pool blue]
server = b1 127.0.0.1:${\ $blue->port}
[pool green]
server = g1 127.0.0.1:${\ $green->port}
breaker_failures = 10000
[route app]
split = blue 100, green 0
match_header = X-Canary: 1 -> green
[rollout app]
canary = green
steps = 50, 100
interval = 2s
min_requests = 5
metrics = prometheus $prom_url
error_rate_query = $q_err
p95_query = $q_p95
EOF

# Prometheus, scraping cutover's status_listen every second.
my $dir = tmpdir();
open my $fh, '>', "$dir/prometheus.yml" or die "$dir/prometheus.yml: $!";
print $fh <<"EOF";
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: cutover
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$status_port']
EOF
close $fh;
$prom_pid = fork // die "fork: $!\n";
if ($prom_pid == 0) {
	open STDIN, '<', '/dev/null';
	open STDOUT, '>', "$dir/prometheus.log";
	open STDERR, '>&', \*STDOUT;
	exec $PROMETHEUS, "--config.file=$dir/prometheus.yml",
	    "--storage.tsdb.path=$dir/prometheus-data",
	    "--web.listen-address=127.0.0.1:$prom_port" or POSIX::_exit(127);
}

sub prom_log {
	open my $l, '<', "$dir/prometheus.log" or return '';
	local $/;
	return <$l>;
}

my $ready = wait_for(sub {
	return 0 if waitpid($prom_pid, WNOHANG) == $prom_pid;
	my $r = eval { http_get($prom_port, '/-/ready') };
	return $r && ($r->{status} // 0) == 200;
}, timeout => 20, interval => 0.2);
die "prometheus is not ready after 20 s:\n" . prom_log() unless $ready;

# Asks Prometheus the error rate query for route app, pool green.
sub prom_error_rate {
	(my $q = $q_err) =~ s/\{route\}/app/g;
	$q =~ s/\{pool\}/green/g;
	$q =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
	my $r = eval { http_get($prom_port, "/api/v1/query?query=$q") }
	    or return undef;
	return $r->{body} =~ /"value":\[[\d.]+,"([\d.eE+-]+)"\]/ ? $1 : undef;
}

# A faulty green, seen by Prometheus: requests forced to it fail until
# the error rate query answers a number.
ok($green->control(status => 500), 'green answers 500 from now on');
my $rate;
wait_for(sub {
	run_parallel(port => $port, conns => 2, requests => 5);
	run_parallel(port => $port, conns => 1, requests => 5,
	    headers => ['X-Canary' => 1]);
	$rate = prom_error_rate();
	return defined $rate && $rate > 0.5;
}, timeout => 20, interval => 0.2);
ok(defined $rate && $rate > 0.5,
    'Prometheus scrapes the errors of green from cutover')
    or diag("error rate: " . ($rate // 'none') . "\n" . prom_log());

# No request went to green in the last 2.5 s: the rollout's own window is
# empty at first, and only Prometheus knows green fails.
run_parallel(port => $port, conns => 2, requests => 10) for 1 .. 5;
sleep 2.5;

# Steady, slow traffic until the rollout is no longer in $state.
sub drive {
	my ($state, $timeout) = @_;
	my ($st, @seen);
	my $deadline = time + $timeout;
	while (time < $deadline) {
		$st = rollout_status($cv, 'app');
		push @seen, $st->{state} // '?';
		last if ($st->{state} // '') ne $state;
		run_parallel(port => $port, conns => 1, requests => 2);
		sleep 0.1;
	}
	return ($st, @seen);
}

my $mark = $cv->log_mark;
$cv->admin('rollout start app');
my ($st) = drive('running', 15);
is($st->{state}, 'rolled_back',
    'the faulty canary is rolled back on the figures of Prometheus');
like($st->{reason},
    qr/^error_rate \d\.\d{3} above max_error_rate 0\.050 \(from Prometheus;/,
    'the reason names the metric and says the figure is from Prometheus');
like(substr($cv->log, $mark),
    qr/rollout app: rolled back at step 1\/2: error_rate [\d.]+ above max_error_rate 0\.050 \(from Prometheus;/,
    'and so does the log');
is(split_of($cv, 'app'), 'blue:100 green:0', 'the split is restored');

# Prometheus stopped: a healthy green is never promoted on missing data.
$green->control(status => 200);
kill 'TERM', $prom_pid;
waitpid($prom_pid, 0);
undef $prom_pid;
# Its last answers, fresh for 3 s, and the last failures of green in the
# rollout's window both age out.
sleep 3.5;
$cv->admin('rollout start app');
my @seen;
($st, @seen) = drive('running', 10);
is($st->{state}, 'paused', 'Prometheus stopped: the rollout pauses');
like($st->{reason}, qr/^no figures from Prometheus: cannot reach Prometheus/,
    'saying why');
my @later;
(undef, @later) = drive('paused', 6);	# three intervals of traffic
ok(!grep({ $_ eq 'promoted' } @seen, @later) &&
    rollout_status($cv, 'app')->{state} eq 'paused',
    'and it stays paused, never promoted, over three intervals')
    or diag("states: @seen @later");
