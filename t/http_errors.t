#!/usr/bin/perl
# The answers the proxy gives itself: 400 for every request-smuggling
# vector (with nothing reaching a server), 408, 413, 414, 431, 502, 503
# and 504, each with a short body and a log line saying why; and a server
# dying mid-response never passed off as a complete response.

use strict;
use warnings;
use Test::More tests => 44;
use Cutover::Test;

my $be = start_backend(name => 'blue');
my $port = free_port();
my $dead = free_port();
my $cv = start_cutover(conf => <<"EOF");
[global]
status_listen = off
client_header_timeout = 300ms
client_body_timeout = 150ms
max_body_size = 1k
max_uri_size = 100
max_header_size = 1k

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$be->port]}
response_timeout = 300ms
# Failures here are on purpose: keep the breaker out of the way.
breaker_failures = 1000

[pool dead]
server = d1 127.0.0.1:$dead

[pool zero]
server = z1 127.0.0.1:@{[$be->port]} weight=0

[route app]
split = blue 1

[route dead]
path_prefix = /dead
split = dead 1

[route zero]
path_prefix = /zero
split = zero 1
EOF

my @smuggle = (
	['both Content-Length and Transfer-Encoding',
	    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	    . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
	['differing Content-Length headers',
	    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	    . "Content-Length: 6\r\n\r\nabcdef"],
	['a Content-Length list with differing values',
	    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nabcdef"],
	['a Transfer-Encoding whose final coding is not chunked',
	    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip"
	    . "\r\n\r\n0\r\n\r\n"],
	['a bad chunk size',
	    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    . "0x5\r\nabcde\r\n0\r\n\r\n"],
	['obsolete line folding',
	    "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"],
	['whitespace before a colon',
	    "GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n"],
	['a bare CR in a field value',
	    "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"],
	['a NUL in a field value',
	    "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"],
	['an invalid header name',
	    "GET / HTTP/1.1\r\nHost: x\r\nX(A): a\r\n\r\n"],
	['a missing Host in HTTP/1.1', "GET / HTTP/1.1\r\n\r\n"],
	['a bare LF line ending', "GET / HTTP/1.1\nHost: x\n\n"],
);
my $before = scalar $be->requests;
for my $t (@smuggle) {
	my $c = http_client($port);
	my $r = $c->request($t->[1]);
	ok($r->{status} == 400 && $c->closed,
	    "$t->[0]: 400 and the connection closes");
}
is(scalar($be->requests), $before, 'none of them reached the server');
like($cv->log, qr/400: both content-length and transfer-encoding/,
    'the log says why');

my $r = http_get($port, '/' . ('a' x 200));
is($r->{status}, 414, 'a target longer than max_uri_size: 414');
$r = http_get($port, '/', 'X-Big' => 'b' x 2000);
is($r->{status}, 431, 'a head larger than max_header_size: 431');
$r = http_post($port, '/?echo=1', 'x' x 2000);
is($r->{status}, 413, 'a body larger than max_body_size: 413');
$r = http_request($port, "POST /?echo=count HTTP/1.1\r\nHost: x\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    body_size => 5000, chunk_size => 500);
ok(!$r->{complete} || $r->{status} == 413,
    'a chunked body growing past max_body_size is refused');

# 408: a head that never ends.
my $c = http_client($port);
$c->send("GET / HTTP/1.1\r\nHost: x\r\n");
$r = $c->response(timeout => 3);
is($r->{status}, 408, 'a head not finished in client_header_timeout: 408');
$c = http_client($port);
ok($c->closed(timeout => 3), 'an idle new connection is closed quietly');
$c = http_client($port);
$r = $c->request("POST /?echo=count HTTP/1.1\r\nHost: x\r\n"
    . "Content-Length: 10\r\n\r\nabc", timeout => 3);
is($r->{status}, 408, 'a body stalling beyond client_body_timeout: 408');

$r = http_get($port, '/dead/');
is($r->{status}, 502, 'connection refused: 502');
like($r->{body}, qr/502/, 'with a short body');
like($cv->log, qr/server d1, client 127\.0\.0\.1: 502: cannot connect/,
    'and a log line naming the server and the reason');
$r = http_get($port, '/zero/');
is($r->{status}, 503, 'no eligible server: 503');
my $t0 = Time::HiRes::time();
$r = http_get($port, '/?delay=3000');
is($r->{status}, 504, 'no response within response_timeout: 504');
ok(Time::HiRes::time() - $t0 < 2, 'answered after the timeout, not later');
like($cv->log, qr/504: response_timeout/, 'the log says response_timeout');

# An upload that keeps moving outlasts response_timeout: the wait for
# the answer starts from the last body byte, not from the head.  Sends
# 500 bytes in ten steps 100 ms apart; returns the response.
sub slow_upload {
	my ($query) = @_;
	my $c = http_client($port);
	$c->send("POST /?echo=count$query HTTP/1.1\r\nHost: x\r\n"
	    . "Content-Length: 500\r\n\r\n");
	for my $i (0 .. 9) {
		Time::HiRes::sleep(0.1);
		$c->send('a' x 50);
	}
	return $c->response(timeout => 3);
}
is(slow_upload('')->{status}, 200,
    'an upload of 1 s in steps of 100 ms, response_timeout 300 ms: 200');
# The same after the server sent an interim answer: still moving.
$r = slow_upload('&interim=103');
is($r->{status}, 200, '... and after a 103 from the server: 200');

# Once the response has begun, response_timeout bounds each wait for the
# server's next bytes (cutover.conf(5)): a body that stalls longer is
# cut, never passed off as complete.
$r = http_get($port, '/?chunked=1&size=300&chunkdelay=600');
is($r->{status}, 200, 'a response body that stalls: the head went out');
ok(!$r->{complete}, '... and the body is cut after response_timeout');
like($cv->log, qr/response_timeout in the body/,
    '... with a log line saying so');

# The server dies in the middle of the body.
$c = http_client($port);
$r = $c->request("GET /?die=1000&size=100000 HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 200, 'a server dying mid-body: the head went out');
ok(!$r->{complete}, 'the body is not passed off as complete');
ok($c->closed, 'the client connection is closed');
$c = http_client($port);
$r = $c->request("GET /?die=1000&size=100000&chunked=1 HTTP/1.1\r\n"
    . "Host: x\r\n\r\n");
ok(!$r->{complete}, 'a chunked body lacks its last chunk when the server '
    . 'dies');
like($cv->log, qr/upstream closed in the response body/,
    'and the log says so');

$r = http_get($port, '/?reset=1');
is($r->{status}, 502, 'a server that resets without answering: 502');
$r = http_get($port, '/?status=500');
is($r->{status}, 500, "a server's own 500 passes through");
$r = http_get($port, '/');
is($r->{status}, 200, 'the proxy still serves afterwards');

# Methods and versions the grammar refuses.
$r = http_request($port, "GET / HTTP/2.0\r\nHost: x\r\n\r\n");
is($r->{status}, 505, 'an HTTP/2.0 request line: 505');
$r = http_request($port, "G\@T / HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 400, 'an invalid method token: 400');
$r = http_request($port, "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 400, 'a space in the target: 400');
