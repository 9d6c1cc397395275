# The test backend and the harness, tested against each other before any
# proxy is involved: the default answer and its identification headers,
# the query parameters (status, size, chunked, die, close, echo, headers,
# delay, hang, reset, noheaders-close, interim, bad), keep-alive and
# pipelining, the -k idle close, 100-continue, /health, /_control, the
# WebSocket tunnel, the request log and the 400 for malformed input.

use strict;
use warnings;

use Test::More tests => 76;
use Time::HiRes qw(time);

use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $port = $blue->port;
ok($port > 0, 'the backend reports the port it picked');

# The default answer.
my $r = http_get($port, '/');
is($r->{status}, 200, 'a plain GET gets 200');
is($r->{body}, "blue\n", 'the body is the backend name');
is($r->{headers}{'x-backend'}, 'blue', 'X-Backend names the backend');
is($r->{headers}{'x-req'}, 1, 'X-Req counts from 1');
is($r->{headers}{'content-length'}, 5, 'the body has a Content-Length');
ok($r->{complete}, 'the response is complete');
my $first_conn = $r->{headers}{'x-conn'};

# status=, size=, chunked=.
$r = http_get($port, '/x?status=503');
is($r->{status}, 503, 'status= sets the status');
is($r->{body}, "blue\n", 'a status= answer keeps the default body');

$r = http_get($port, '/?size=100000');
is($r->{body_length}, 100000, 'size= sets the body length');
is($r->{body}, pattern(0, 100000), 'size= sends the pattern bytes');

$r = http_get($port, '/?chunked=1');
is($r->{headers}{'transfer-encoding'}, 'chunked', 'chunked=1 sends chunks');
is($r->{body}, "blue\n", 'the chunked body decodes to the name');
cmp_ok($r->{chunks}, '>', 1, 'the body comes in several chunks');

$r = http_get($port, '/?chunked=1&size=1000000');
is($r->{body_length}, 1000000, 'a large chunked body has every byte');
is($r->{body}, pattern(0, 1000000), 'a large chunked body is the pattern');

$r = http_request($port, "HEAD /?size=77 HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{headers}{'content-length'}, 77, 'HEAD gets the Content-Length');
is($r->{body}, '', 'HEAD gets no body');

$r = http_get($port, '/?status=204');
ok($r->{complete} && !defined $r->{headers}{'content-length'},
    '204 has neither body nor Content-Length');

# Keep-alive: X-Conn and X-Req.
my $c = http_client($port);
my $head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
my $r1 = $c->request($head);
my $r2 = $c->request($head);
is($r1->{headers}{'x-conn'}, $r2->{headers}{'x-conn'},
    'two requests on one connection share X-Conn');
is("$r1->{headers}{'x-req'},$r2->{headers}{'x-req'}", '1,2',
    'X-Req counts the requests of the connection');
cmp_ok($r1->{headers}{'x-conn'}, '>', $first_conn,
    'a new connection gets a higher X-Conn');
$c->close;

# Pipelining: two requests in one write, answered in order.
$c = http_client($port);
my @rs = $c->pipeline("GET /?status=201 HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /?status=202 HTTP/1.1\r\nHost: x\r\n\r\n");
is(join(',', map { $_->{status} } @rs), '201,202',
    'pipelined requests are answered in order');
is(join(',', map { $_->{headers}{'x-req'} } @rs), '1,2',
    'pipelined requests are counted on one connection');
$c->close;

# HTTP/1.0 closes unless asked to keep alive.
$c = http_client($port);
$r = $c->request("GET / HTTP/1.0\r\n\r\n");
ok($r->{complete} && $c->closed, 'an HTTP/1.0 request gets a close');
$c = http_client($port);
$r = $c->request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
is($r->{headers}{connection}, 'keep-alive', 'HTTP/1.0 keep-alive is honoured');
ok(!$c->closed(timeout => 0.3), 'the keep-alive connection stays open');
$c->close;

# Request bodies: echo=count over 10 MB, plain and chunked, and echo=1.
my $size = 10 * 1024 * 1024;
my $sum = pattern_sha1($size);
$r = http_request($port, "POST /?echo=count HTTP/1.1\r\nHost: x\r\n" .
    "Content-Length: $size\r\n\r\n", body_size => $size, timeout => 60);
is($r->{body}, "bytes=$size sum=$sum\n",
    'echo=count counts and hashes a 10 MB Content-Length body');
$r = http_request($port, "POST /?echo=count HTTP/1.1\r\nHost: x\r\n" .
    "Transfer-Encoding: chunked\r\n\r\n", body_size => $size,
    chunk_size => 100000, timeout => 60);
is($r->{body}, "bytes=$size sum=$sum\n",
    'echo=count decodes a 10 MB chunked body');
$r = http_request($port, "POST /?echo=1 HTTP/1.1\r\nHost: x\r\n" .
    "Content-Length: $size\r\n\r\n", body_size => $size, discard => 1,
    timeout => 60);
is("$r->{body_length} $r->{body_sha1}", "$size $sum",
    'echo=1 streams a 10 MB body back');
$r = http_request($port, "POST /?echo=1 HTTP/1.1\r\nHost: x\r\n" .
    "Transfer-Encoding: chunked\r\n\r\n", body => "5\r\nhello\r\n0\r\n\r\n");
is($r->{body}, 'hello', 'echo=1 echoes a chunked body in chunks');
$r = http_post($port, '/?status=201', 'some body');
is($r->{status}, 201, 'a body that is not echoed is read and dropped');

# Expect: 100-continue.
$c = http_client($port);
$c->send("POST /?echo=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n" .
    "Expect: 100-continue\r\n\r\n");
$r = $c->response(interim => 1);
is($r->{status}, 100, '100-continue gets an interim 100 before the body');
$c->send("ping");
$r = $c->response;
is("$r->{status} $r->{body}", '200 ping', 'the body is read after the 100');
$c->close;
$r = http_get($port, '/?interim=103');
is(join(',', map { $_->{status} } @{$r->{interim}}), '103',
    'interim=103 sends a 103 first');
is($r->{status}, 200, 'the final response follows the interim one');

# headers=1 answers with the head it received.
my $sent = "GET /?headers=1 HTTP/1.1\r\nHost: x\r\nX-Test: one\r\n" .
    "Connection: close\r\n\r\n";
$r = http_request($port, $sent);
is($r->{body}, $sent, 'headers=1 answers with the request head verbatim');

# close=, noheaders-close=, die=, reset=, hang=, delay=.
$c = http_client($port);
$r = $c->request("GET /?close=1 HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{headers}{connection}, 'close', 'close=1 says Connection: close');
ok($c->closed, 'close=1 closes the connection');

$r = http_get($port, '/?noheaders-close=1&size=5000');
ok(!defined $r->{headers}{'content-length'} &&
    !defined $r->{headers}{'transfer-encoding'},
    'noheaders-close=1 sends no framing header');
is($r->{body_length}, 5000, 'the close-delimited body arrives whole');
ok($r->{complete}, 'a close-delimited body is complete at the close');

$r = http_get($port, '/?die=50000');
cmp_ok($r->{headers}{'content-length'}, '>', 50000,
    'die= claims a longer body');
is($r->{body_length}, 50000, 'die= sends the bytes it says');
ok(!$r->{complete}, 'the body died before its end');
$r = http_get($port, '/?die=3000&chunked=1');
ok(!$r->{complete} && $r->{body_length} == 3000,
    'die= with chunked=1 ends without the last chunk');

$r = http_get($port, '/?reset=1');
ok(!defined $r->{status} && $r->{error}, 'reset=1 answers nothing');

my $t0 = time;
$r = http_get($port, '/?delay=300');
my $took = time - $t0;
ok($r->{status} == 200 && $took >= 0.3, 'delay= waits before answering');

$r = http_request($port, "GET /?hang=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    timeout => 0.5);
is($r->{error}, 'timeout', 'hang=1 never answers');

$r = http_get($port, '/?chunked=1&size=3&chunkdelay=200');
ok($r->{complete} && $r->{chunks} == 3,
    'chunkdelay= still sends every chunk');

# bad= answers that a proxy must refuse.
$r = http_get($port, '/?bad=1');
like($r->{error}, qr/bad status line/, 'bad=1 sends a malformed status line');
$r = http_get($port, '/?bad=2');
like($r->{raw}, qr/Content-Length: 5\r\nContent-Length: 7\r\n/,
    'bad=2 sends two different Content-Length values');
$r = http_get($port, '/?bad=3');
ok(!$r->{complete} && !defined $r->{status}, 'bad=3 cuts the head short');

# -k closes idle keep-alive connections.
my $idle = start_backend(name => 'idle', args => ['-k', 200]);
$c = http_client($idle->port);
$r = $c->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
ok($r->{status} == 200 && $c->closed(timeout => 2),
    '-k closes a keep-alive connection once idle');
$c->close;

# /health, -H, SIGUSR1/SIGUSR2 and /_control.
$r = http_get($port, '/health');
is("$r->{status} $r->{body}", "200 ok\n", '/health answers 200 ok');
$blue->kill('USR1');
ok(wait_for(sub { http_get($port, '/health')->{status} == 503 }),
    'SIGUSR1 turns /health to 503');
$blue->kill('USR2');
ok(wait_for(sub { http_get($port, '/health')->{status} == 200 }),
    'SIGUSR2 turns /health back to 200');
ok($blue->control(status => 500, health => 503),
    '/_control accepts new defaults');
is(http_get($port, '/')->{status}, 500, '/_control status= sets the default');
is(http_get($port, '/health')->{status}, 503,
    '/_control health= sets the health status');
is(http_get($port, '/?status=202')->{status}, 202,
    'a status= parameter beats the default');
$blue->control(status => 200, health => 200);

my $sick = start_backend(name => 'sick', args => ['-H', 503, '-D', 200]);
$t0 = time;
$r = http_get($sick->port, '/health');
ok($r->{status} == 503 && time - $t0 >= 0.2, '-H and -D shape /health');
is(http_get($sick->port, '/')->{status}, 200,
    '-H leaves other requests alone');

# The WebSocket tunnel.
$c = http_client($port);
$r = $c->request("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" .
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" .
    "Sec-WebSocket-Version: 13\r\n\r\n");
is($r->{status}, 101, 'GET /ws with Upgrade gets 101');
is($r->{headers}{'sec-websocket-accept'}, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
    'the 101 carries the RFC 6455 accept key');
print {$c->sock} "hello tunnel";
is($c->read_raw(length => 12), 'hello tunnel',
    'bytes after the 101 are echoed');
$c->close;

# Malformed input gets 400 and a close.
for my $bad ("GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET / HTTP/9.9\r\n\r\n") {
	(my $name = $bad) =~ s/\r\n.*//s;
	$c = http_client($port);
	$r = $c->request($bad);
	ok($r->{status} == 400 && $c->closed,
	    "malformed input gets 400: $name");
	$c->close;
}
$c = http_client($port);
$r = $c->request("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" .
    "zz\r\n");
ok($r->{status} == 400 && $c->closed, 'a bad chunk size gets 400');
$c->close;

# The request log.
my @log = $blue->requests;
ok((grep { /^conn=\d+ GET \/x\?status=503$/ } @log),
    'the request log names connection, method and target');
ok((grep { /^conn=\d+ BAD / } @log), 'refused requests are logged as BAD');

# Run in parallel.
my $green = start_backend(name => 'green');
my $p = run_parallel(port => $green->port, conns => 8, requests => 25);
is($p->{backends}{green}, 200, 'run_parallel does every request');
is($p->{errors}, 0, 'run_parallel counts no error');

# SIGTERM ends the backend with status 0.
is($green->stop, 0, 'SIGTERM stops the backend with status 0');
ok(!$green->alive, 'the stopped backend is gone');
