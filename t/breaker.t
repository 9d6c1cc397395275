#!/usr/bin/perl
# Circuit breakers: a server answering 500 has its breaker opened after
# breaker_failures failures in a row, gets no traffic while it is open,
# gets exactly one probe request once breaker_recovery has passed (even
# with many requests arriving at once), is opened again when the probe
# fails and closed when it succeeds.  Connect failures open a breaker too,
# with no health checks configured, so the dead server stops costing
# retries at once.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);

use Cutover::Test;

plan tests => 19;

# Requests a backend served, leaving out health checks and /_control.
sub hits {
	my ($b) = @_;
	return scalar grep { !m{ /(?:health|_control)} } $b->requests;
}

my $good = start_backend(name => 'good');
my $flaky = start_backend(name => 'flaky', args => ['-s', '500']);
my $g2 = start_backend(name => 'g2');
my $gone = free_port();
my $port = free_port();

my $cut = start_cutover(conf => <<"EOF");
[global]
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool app]
server = good 127.0.0.1:${\ $good->port}
server = flaky 127.0.0.1:${\ $flaky->port}
breaker_failures = 3
breaker_recovery = 2s
retries = 0

[pool conn]
server = gone 127.0.0.1:$gone
server = g2 127.0.0.1:${\ $g2->port}
breaker_failures = 2
breaker_recovery = 60s
retries = 1

[route conn]
path_prefix = /conn
split = conn 100

[route app]
split = app 100
EOF

# Sequential requests: round-robin alternates, so flaky gets every other
# one until its third 500 opens the breaker.
my %st;
$st{http_get($port, '/')->{status} // 0}++ for 1 .. 20;
is(hits($flaky), 3, 'the failing server got breaker_failures requests');
is($st{500} // 0, 3, 'clients saw exactly those 500s');
ok($cut->wait_log(qr/pool app: server flaky: breaker open: 3 consecutive failures, the last 5xx/),
    'the breaker opened, the reason logged');
my $opened = time;

$st{http_get($port, '/')->{status} // 0}++ for 1 .. 20;
is(hits($flaky), 3, 'an open breaker gets no traffic');
ok(time - $opened < 2, 'all of that within breaker_recovery');

# Half-open with a slow failing probe: 30 requests over 10 connections
# arrive while the probe is out; only the probe may reach flaky.
$flaky->control(delay => 300);
ok($cut->wait_log(qr/pool app: server flaky: breaker half-open/,
    timeout => 5), 'the breaker goes half-open after breaker_recovery');
my $r = run_parallel(port => $port, conns => 10, requests => 3);
is(hits($flaky), 4, 'half-open lets exactly one probe through');
is($r->{statuses}{500} // 0, 1, 'the probe is the only failed request');
is($r->{statuses}{200} // 0, 29, 'the rest went to the good server');
ok($cut->wait_log(qr/pool app: server flaky: breaker open: the probe failed \(5xx\)/),
    'a failed probe opens the breaker again');
my $mark = $cut->log_mark;
$st{http_get($port, '/')->{status} // 0}++ for 1 .. 10;
is(hits($flaky), 4, 'and it takes no traffic again');

# The server recovers; the next probe closes the breaker.
$flaky->control(status => 200, delay => 0);
ok($cut->wait_log(qr/pool app: server flaky: breaker half-open/,
    from => $mark, timeout => 5), 'half-open again after breaker_recovery');
my %be;
$be{http_get($port, '/')->{headers}{'x-backend'} // '-'}++ for 1 .. 10;
ok($cut->wait_log(qr/pool app: server flaky: breaker closed: the probe succeeded/),
    'a successful probe closes the breaker');
my $share = $be{flaky} // 0;
ok($share >= 4 && $share <= 6,
    "and the server takes its share again ($share of 10)");

# Connect failures: after two, the dead server is skipped without a try.
my @s = map { http_get($port, '/conn')->{status} // 0 } 1 .. 10;
is(scalar(grep { $_ == 200 } @s), 10,
    'requests hitting a refusing server are retried on another');
ok($cut->wait_log(qr/pool conn: server gone: breaker open: 2 consecutive failures, the last connect failure/),
    'connect failures open the breaker');
my $tries = () = $cut->log =~ /server gone, client [^:]+: cannot connect/g;
is($tries, 2, 'the dead server is tried only until its breaker opens');
@s = map { http_get($port, '/conn')->{status} // 0 } 1 .. 10;
$tries = () = $cut->log =~ /server gone, client [^:]+: cannot connect/g;
is($tries, 2, 'an open breaker makes the server ineligible at once');
is(scalar(grep { $_ == 200 } @s), 10, 'with no client error');

$cut->stop;
