#!/usr/bin/perl
# Retries: a request whose connection to a server failed before anything
# was sent goes to another eligible server of the pool, then to the stable
# pool, POST included, while `retries` lasts; with retries = 0 it gets a
# 502.  A request that reached a server is never replayed: a backend that
# reads the request and resets gets the client a 502 and no other server
# sees the request; a backend that accepts and resets at once has the
# request retried only if the proxy had not sent it yet.  A server that
# never completes the handshake is given up after connect_timeout: the
# request is retried on another server, or gets a 504 without retries.

use strict;
use warnings;

use Digest::SHA qw(sha1_hex);
use IO::Select;
use IO::Socket::INET;
use Socket qw(AF_INET SOCK_STREAM SOL_SOCKET SO_LINGER inet_aton
    pack_sockaddr_in unpack_sockaddr_in);
use Test::More;
use Time::HiRes qw(time sleep);

use Cutover::Test;

plan tests => 22;

# Requests a backend served, leaving out health checks and /_control.
sub hits {
	my ($b) = @_;
	return scalar grep { !m{ /(?:health|_control)} } $b->requests;
}

my $good = start_backend(name => 'good');
my $good2 = start_backend(name => 'good2');
my $st = start_backend(name => 'stable');
my $r1 = start_backend(name => 'r1');
my $r2 = start_backend(name => 'r2');
my $good3 = start_backend(name => 'good3');
my $dead = free_port();
my $rst = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
    Proto => 'tcp', Listen => 16) or die "listen: $!\n";
my $good4 = start_backend(name => 'good4');
# A listener with a backlog of 0 whose queue holds one connection nobody
# accepts: Linux drops the SYNs of further connections, so a connect to it
# hangs (on loopback, no unroutable address needed).
socket(my $full, AF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
bind($full, pack_sockaddr_in(0, inet_aton('127.0.0.1'))) or die "bind: $!\n";
listen($full, 0) or die "listen: $!\n";
my $fport = (unpack_sockaddr_in(getsockname($full)))[0];
my $filler = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
    PeerPort => $fport, Proto => 'tcp', Timeout => 2);
my $probe = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
    PeerPort => $fport, Proto => 'tcp', Timeout => 0.5);
my $hangs = $filler && !$probe;
close $probe if $probe;
my $port = free_port();

my $cut = start_cutover(conf => <<"EOF");
[global]
status_listen = off

[listener web]
bind = 127.0.0.1:$port

# One server refuses connections: retried on the other.
[pool two]
server = gone 127.0.0.1:$dead
server = good 127.0.0.1:${\ $good->port}
retries = 1
breaker_failures = 1000

[pool none]
server = gone 127.0.0.1:$dead
server = good2 127.0.0.1:${\ $good2->port}
retries = 0
breaker_failures = 1000

# Its only server refuses: the retry goes to the stable pool.
[pool lone]
server = gone 127.0.0.1:$dead
retries = 1
breaker_failures = 1000

[pool stable]
server = st 127.0.0.1:${\ $st->port}

# Fresh connections only, so no retry of a stale keep-alive connection.
[pool rst]
server = r1 127.0.0.1:${\ $r1->port}
server = r2 127.0.0.1:${\ $r2->port}
keepalive = 0
retries = 1
breaker_failures = 1000

[pool acc]
server = rs 127.0.0.1:${\ $rst->sockport}
server = good3 127.0.0.1:${\ $good3->port}
keepalive = 0
retries = 1
breaker_failures = 1000

# Its first server never completes a connect.
[pool slowc]
server = stuck 127.0.0.1:$fport
server = good4 127.0.0.1:${\ $good4->port}
connect_timeout = 300ms
retries = 1
breaker_failures = 1000

[pool stuck]
server = stuck 127.0.0.1:$fport
connect_timeout = 300ms
retries = 0
breaker_failures = 1000

[route slowc]
path_prefix = /slowc
split = slowc 100

[route stuck]
path_prefix = /stuck
split = stuck 100

[route two]
path_prefix = /two
split = two 100

[route none]
path_prefix = /none
split = none 100

[route lone]
path_prefix = /lone
split = lone 100
stable = stable

[route rst]
path_prefix = /rst
split = rst 100

[route acc]
path_prefix = /acc
split = acc 100
EOF

my @s = map { http_get($port, '/two')->{status} // 0 } 1 .. 10;
is(scalar(grep { $_ == 200 } @s), 10,
    'requests to a refusing server are retried on another server');
is(hits($good), 10, 'the other server served them all');
my $refused = () = $cut->log =~ /server gone, client [^:]+: cannot connect/g;
ok($refused >= 5, "the refusing server was tried ($refused times)");

my $body = 'x' x 5000;
my $sum = sha1_hex($body);
my $ok = 0;
for (1 .. 4) {
	my $r = http_post($port, '/two?echo=count', $body);
	$ok++ if ($r->{status} // 0) == 200 &&
	    $r->{body} =~ /^bytes=5000 sum=$sum$/m;
}
is($ok, 4, 'a POST is retried too, its body intact');

@s = map { http_get($port, '/none')->{status} // 0 } 1 .. 4;
is(scalar(grep { $_ == 502 } @s), 2, 'with retries = 0 a refused '
    . 'connection gets the client a 502');
is(scalar(grep { $_ == 200 } @s), 2, 'and the other server still serves');

my $r = http_get($port, '/lone');
is($r->{status}, 200, 'a pool with no other server retries on the stable '
    . 'pool');
is($r->{headers}{'x-backend'}, 'stable', 'the stable pool answers');
$r = http_post($port, '/lone?echo=count', $body);
like($r->{body} // '', qr/^bytes=5000 sum=$sum$/m,
    'a POST too, its body intact');

# The request reached the server, which reset the connection: 502.
$r = http_get($port, '/rst?reset=1');
is($r->{status}, 502, 'a server that resets after reading the request: 502');
is(hits($r1) + hits($r2), 1, 'the request is not replayed');
$r = http_post($port, '/rst?reset=1', $body);
ok(($r->{status} // 0) == 502 || !$r->{complete},
    'a POST that reached the server is not retried either');
is(hits($r1) + hits($r2), 2, 'nor replayed');

# Accept, then reset at once: retried only when nothing was sent yet.
my $mark = $cut->log_mark;
my $c = http_client($port);
$c->send("GET /acc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
my $s = IO::Select->new($rst)->can_read(5) ? $rst->accept : undef;
ok($s, 'the proxy connects to the resetting server');
if ($s) {
	setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
	close $s;
}
$r = $c->response(timeout => 5);
$c->close;
my $retried = substr($cut->log, $mark) =~ /server rs, client [^:]+: cannot connect/;
if ($retried) {
	is($r->{status}, 200, 'reset before the request was sent: retried');
} else {
	is($r->{status}, 502, 'reset after the request was sent: 502');
}
is(hits($good3), $retried ? 1 : 0, 'the other server saw the request only '
    . 'if it was retried');

# connect_timeout: the connect is given up after 300 ms, not the default
# 2 s, then retried on the other server, or answered 504 without retries.
SKIP: {
	skip('a loopback connect to a full backlog does not hang here', 6)
	    unless $hangs;
	$mark = $cut->log_mark;
	my ($max, @st) = (0);
	for (1 .. 2) {
		my $t = time;
		$r = http_get($port, '/slowc');
		push @st, ($r->{status} // 0) . ' ' .
		    ($r->{headers}{'x-backend'} // '-');
		$max = time - $t if time - $t > $max;
	}
	is("@st", '200 good4 200 good4', 'a request to a server that does '
	    . 'not accept is retried on the other server');
	ok($max >= 0.25 && $max < 1.5, 'after about connect_timeout ('
	    . sprintf('%.3f', $max) . ' s)');
	like(substr($cut->log, $mark),
	    qr/pool slowc, server stuck, client [^:]+: connect_timeout/,
	    'the log names the server and connect_timeout');
	my $t = time;
	$r = http_get($port, '/stuck');
	my $dt = time - $t;
	is($r->{status}, 504, 'without retries the client gets 504');
	ok($dt >= 0.25 && $dt < 1.5, 'after about connect_timeout ('
	    . sprintf('%.3f', $dt) . ' s)');
	like($r->{body} // '', qr/504/, 'with a short body');
}
close $filler if $filler;

$cut->stop;
