#!/usr/bin/perl
# Active health checks: a new server starts "checking" and takes traffic
# only once it passes health_rise checks; a bad status, an answer slower
# than health_timeout, a refused connection and a server that accepts and
# never answers each take a server down after health_fall failures, with
# the reason in the log; the check is a GET of health_path with the
# server's Host header; a hanging check delays no proxied request; the
# first checks of a pool are spread over health_interval; health_expect
# decides which statuses pass, so a server whose answer leaves that range
# at run time goes down and comes back once it is in it again; a reload
# keeps the health of servers that did not change and checks new ones.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

use Cutover::Test;

plan tests => 28;

my $ok = start_backend(name => 'ok');
my $bad = start_backend(name => 'bad', args => ['-H', '503']);
my $slow = start_backend(name => 'slow', args => ['-D', '400']);
my $exp = start_backend(name => 'exp');
my $dead = free_port();
# Accepts (the kernel completes handshakes on the backlog) and never
# answers: the test takes the first check's connection to read its head.
my $hang = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
    Proto => 'tcp', Listen => 64) or die "listen: $!\n";
my $hport = $hang->sockport;
my $port = free_port();

my $checks = <<'EOF';
health_path = /health
health_interval = 100ms
health_timeout = 100ms
health_rise = 2
health_fall = 2
EOF

# The config; extra goes into pool ok (the reload adds a server there).
sub conf_text {
	my ($extra) = @_;
	my $text = <<"EOF";
[global]
log_level = debug
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool ok]
server = ok1 127.0.0.1:${\ $ok->port}
$extra$checks
[pool bad]
server = bad1 127.0.0.1:${\ $bad->port}
$checks
[pool slow]
server = slow1 127.0.0.1:${\ $slow->port}
$checks
[pool dead]
server = dead1 127.0.0.1:$dead
$checks
[pool hang]
server = hang1 127.0.0.1:$hport
health_path = /hc
health_interval = 3s
health_timeout = 2s
health_fall = 1

# 301 would pass the default 200-399, not this range.
[pool expect]
server = exp1 127.0.0.1:${\ $exp->port}
health_expect = 200-204
$checks
[pool spread]
server = sp1 127.0.0.1:${\ $ok->port}
server = sp2 127.0.0.1:${\ $ok->port}
server = sp3 127.0.0.1:${\ $ok->port}
server = sp4 127.0.0.1:${\ $ok->port}
health_path = /health
health_interval = 800ms
health_timeout = 100ms

EOF
	for my $p (qw(ok bad slow dead hang spread expect)) {
		$text .= "[route $p]\npath_prefix = /$p\nsplit = $p 100\n\n";
	}
	return $text;
}

my $cut = start_cutover(conf => conf_text(''));

# The first check of pool hang: read its head, then hold the connection.
my $held;
my $head = '';
if (IO::Select->new($hang)->can_read(5) and $held = $hang->accept) {
	my $sel = IO::Select->new($held);
	my $deadline = time + 5;
	while ($head !~ /\r\n\r\n/ && time < $deadline) {
		last unless $sel->can_read($deadline - time);
		last unless sysread($held, $head, 4096, length $head);
	}
}
like($head, qr{\AGET /hc HTTP/1\.1\r\n}, 'the check is a GET of health_path');
like($head, qr{\r\nHost: 127\.0\.0\.1:$hport\r\n}i,
    'the check carries the Host header of the server as written');

ok($cut->wait_log(qr/pool ok: server ok1: up after 2 passed checks/),
    'a healthy server goes up after health_rise passed checks');
ok($cut->wait_log(qr/pool bad: server bad1: down after 2 failed checks \(status 503\)/),
    'a server answering 503 goes down, the status given as the reason');
ok($cut->wait_log(qr/pool slow: server slow1: down after 2 failed checks \(timeout after 100ms\)/),
    'an answer slower than health_timeout counts as a failure');
ok($cut->wait_log(qr/pool dead: server dead1: down after 2 failed checks \(connect refused\)/),
    'a refused connection counts as a failure');

is(http_get($port, '/ok')->{status}, 200, 'a server that is up takes traffic');
my $t0 = time;
my $r = http_get($port, '/bad');
is($r->{status}, 503, 'a pool whose only server never passed is down');
ok(time - $t0 < 1, 'and the 503 comes at once');
is(scalar(grep { !m{ /(?:health|_control)} } $bad->requests), 0,
    'a server that never passed got no request');

# The hanging check is out for 2 s: proxied traffic must not notice.
my ($max, $fails) = (0, 0);
for (1 .. 40) {
	my $t = time;
	$fails++ if (http_get($port, '/ok')->{status} // 0) != 200;
	my $dt = time - $t;
	$max = $dt if $dt > $max;
	sleep 0.02;
}
is($fails, 0, 'requests succeed while a check hangs');
ok($max < 0.5, "no request waits on the hanging check (slowest "
    . sprintf('%.3f', $max) . ' s)');
ok($cut->wait_log(qr/pool hang: server hang1: down after 1 failed check \(timeout after 2000ms\)/),
    'a server that accepts and never answers goes down on health_timeout');

# The first checks of pool spread: four servers, one every 200 ms.
my @first;
for my $i (1 .. 4) {
	my $line = $cut->wait_log(qr/pool spread: server sp$i: check /);
	push @first, $line =~ /T\d\d:(\d\d):(\d\d\.\d+)Z/ ? $1 * 60 + $2 : 0;
}
my @sorted = sort { $a <=> $b } @first;
my $span = $sorted[-1] - $sorted[0];
ok($span >= 0.4 && $span < 0.8, 'the first checks of a pool are spread '
    . 'over health_interval (' . sprintf('%.3f', $span) . ' s)');

# Back up: health_rise passes after the endpoint recovers.
$bad->control(health => 200);
ok($cut->wait_log(qr/pool bad: server bad1: up after 2 passed checks/),
    'a down server goes up after health_rise passed checks');
is(http_get($port, '/bad')->{status}, 200, 'and takes traffic again');
$slow->control(health_delay => 0);
ok($cut->wait_log(qr/pool slow: server slow1: up after 2 passed checks/),
    'a slow server that speeds up goes up again');

# health_expect at run time: a redirect is outside 200-204, so the server
# goes down; a 204 is inside, so it comes back.
ok($cut->wait_log(qr/pool expect: server exp1: up after 2 passed checks/),
    'a server answering within health_expect goes up');
my $mk = $cut->log_mark;
$exp->control(health => 301);
ok($cut->wait_log(qr/pool expect: server exp1: down after 2 failed checks \(status 301\)/,
    from => $mk), 'a health answer outside health_expect takes it down');
is(http_get($port, '/expect')->{status}, 503, 'and it gets no traffic');
$mk = $cut->log_mark;
$exp->control(health => 204);
ok($cut->wait_log(qr/pool expect: server exp1: up after 2 passed checks/,
    from => $mk), 'a health answer within health_expect again brings it '
    . 'back');
$r = http_get($port, '/expect');
is($r->{status}, 200, 'and it takes traffic again');
is($r->{headers}{'x-backend'}, 'exp', 'from that server');

# Reload with a new server in pool ok: known servers keep their state.
my $mark = $cut->log_mark;
my ($globals) = $cut->{conf_text} =~ /\A(.*?)(?=\[listener web\])/s;
my ($rest) = conf_text("server = ok2 127.0.0.1:${\ $ok->port}\n") =~
    /(\[listener web\].*)\z/s;
open my $fh, '>', $cut->conf_path or die "${\ $cut->conf_path}: $!\n";
print $fh $globals, $rest;
close $fh;
$cut->reload;
ok($cut->wait_log(qr/config reloaded/, from => $mark), 'the config reloads');
my @st = map { http_get($port, '/ok')->{status} // 0 } 1 .. 5;
is_deeply(\@st, [200, 200, 200, 200, 200],
    'a server that was up stays up across the reload');
ok($cut->wait_log(qr/pool ok: server ok2: up after 2 passed checks/,
    from => $mark), 'a new server starts checking and goes up');
is(http_get($port, '/dead')->{status}, 503,
    'a server that was down stays down across the reload');
my @again = grep { /server (?:ok1|dead1): (?:up|down|checking)/ }
    split /\n/, substr($cut->log, $mark);
is(scalar(@again), 0, 'known servers change no state at the reload');

close $held if $held;
$cut->stop;
