#!/usr/bin/perl
# HTTP/1.x framing through the proxy: chunked bodies both ways, pipelined
# requests answered in order, HEAD, 204 and 304 without bodies,
# Expect: 100-continue, hop-by-hop headers removed and X-Forwarded-*
# added (and, with forwarded_headers = off, neither added nor touched),
# HTTP/1.0 clients, and close-delimited responses.

use strict;
use warnings;
use Test::More tests => 66;
use IO::Socket::INET;
use Cutover::Test;

my $be = start_backend(name => 'blue');
my $port = free_port();
my $plain = free_port();
my $cv = start_cutover(conf => <<"EOF");
[global]
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[listener plain]
bind = 127.0.0.1:$plain
forwarded_headers = off

[pool blue]
server = b1 127.0.0.1:@{[$be->port]}

[route app]
split = blue 1
EOF

# Chunked response to an HTTP/1.1 client stays chunked and complete.
my $r = http_get($port, '/?chunked=1&size=100000');
is($r->{status}, 200, 'chunked response: 200');
is($r->{headers}{'transfer-encoding'}, 'chunked', 'it is sent chunked');
is(length $r->{body}, 100000, 'with every byte');
ok($r->{complete}, 'and its last chunk');

# Chunked request body reaches the server whole.
my $body = pattern(0, 300000);
$r = http_request($port, "POST /?echo=count HTTP/1.1\r\nHost: x\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    body_size => 300000, chunk_size => 7000);
is($r->{body}, 'bytes=300000 sum=' . pattern_sha1(300000) . "\n",
    'a chunked upload arrives whole');
$r = http_post($port, '/?echo=1', 'hello world');
is($r->{body}, 'hello world', 'a small Content-Length body is echoed');

# Pipelining: three requests in one write, answers in order.
my $c = http_client($port);
my @rs = $c->pipeline(map { "GET /?delay=" . (30 - $_ * 10) .
    "&n=$_ HTTP/1.1\r\nHost: x\r\n\r\n" } 0 .. 2);
is(scalar @rs, 3, 'three pipelined requests get three answers');
my @q = map { $_->{headers}{'x-req'} } @rs;
ok($q[1] == $q[0] + 1 && $q[2] == $q[1] + 1 &&
    !grep({ $_->{headers}{'x-conn'} ne $rs[0]{headers}{'x-conn'} } @rs),
    'in order, one after another on one upstream connection');
ok(!grep({ $_->{status} != 200 } @rs), 'all 200');

# HEAD, 204, 304: no body even when the server lies about length.
$r = $c->request("HEAD /?size=5000 HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 200, 'HEAD: 200');
is($r->{headers}{'content-length'}, '5000', 'HEAD keeps Content-Length');
is($r->{body}, '', 'and has no body');
$r = $c->request("GET /?status=204 HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 204, '204 passes');
$r = $c->request("GET /?status=304 HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 304, '304 passes');
$r = $c->request("GET /?n=after HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 200, 'the connection is still in step after them');

# Expect: 100-continue gets an interim 100, then the final answer.
$r = $c->request("POST /?echo=1 HTTP/1.1\r\nHost: x\r\n"
    . "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n", body => 'abcde');
is($r->{status}, 200, 'Expect: 100-continue request answered 200');
is(scalar(@{$r->{interim}}), 1, 'after one interim response');
is($r->{body}, 'abcde', 'and the body went through');

# Hop-by-hop headers go, forwarding headers come.
$r = http_request($port, "GET /?headers=1 HTTP/1.1\r\nHost: x\r\n"
    . "Connection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n"
    . "TE: trailers\r\nProxy-Connection: keep-alive\r\n"
    . "X-Forwarded-For: 10.1.1.1\r\nX-Real-IP: 6.6.6.6\r\n"
    . "X-Forwarded-Proto: gopher\r\nX-Keep: yes\r\n\r\n");
my $head = $r->{body};
unlike($head, qr/^(X-Secret|Keep-Alive|TE|Proxy-Connection):/mi,
    'hop-by-hop headers and those named by Connection are removed');
like($head, qr/^X-Keep: yes\r$/m, 'end-to-end headers pass');
like($head, qr/^X-Forwarded-For: 10\.1\.1\.1, 127\.0\.0\.1\r$/m,
    'X-Forwarded-For gets the client appended');
like($head, qr/^X-Real-IP: 127\.0\.0\.1\r$/m, 'X-Real-IP is replaced');
like($head, qr/^X-Forwarded-Proto: http\r$/m, 'X-Forwarded-Proto is set');
like($head, qr{^GET /\?headers=1 HTTP/1\.1\r$}m,
    'the request line goes out as HTTP/1.1');

# Several X-Forwarded-For lines are one list (RFC 9110 5.3): every hop
# stays, in order, with the client appended once.
$r = http_request($port, "GET /?headers=1 HTTP/1.1\r\nHost: x\r\n"
    . "X-Forwarded-For: 10.1.1.1\r\nX-Keep: yes\r\n"
    . "X-Forwarded-For: 10.2.2.2, 10.3.3.3\r\nConnection: close\r\n\r\n");
is(join('|', $r->{body} =~ /^(X-Forwarded-For: .*)\r$/mig),
    'X-Forwarded-For: 10.1.1.1, 10.2.2.2, 10.3.3.3, 127.0.0.1',
    'several X-Forwarded-For lines are joined, the client appended');

# The client's address as written from each of these loopback sources:
# octets of one, two and three digits, and 0 and 255.
for my $from ('127.0.0.1', '127.10.200.3', '127.255.0.99', '127.1.20.255') {
	my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
	    LocalAddr => $from, Timeout => 5);
	my $got = '';
	if ($sock) {
		print $sock "GET /?headers=1 HTTP/1.1\r\nHost: x\r\n"
		    . "Connection: close\r\n\r\n";
		local $/;
		$got = <$sock> // '';
	}
	like($got, qr/^X-Forwarded-For: \Q$from\E\r\nX-Forwarded-Proto: http\r\nX-Real-IP: \Q$from\E\r$/m,
	    "a client from $from is named $from");
}

# forwarded_headers = off, for a proxy behind another that sets them:
# nothing added, and what the client sent goes on as it was.
$r = http_get($plain, '/?headers=1');
unlike($r->{body}, qr/^(X-Forwarded-For|X-Forwarded-Proto|X-Real-IP):/mi,
    'forwarded_headers = off adds no X-Forwarded-For, -Proto or X-Real-IP');
$r = http_request($plain, "GET /?headers=1 HTTP/1.1\r\nHost: x\r\n"
    . "X-Forwarded-For: 10.1.1.1, 10.2.2.2\r\nX-Real-IP: 6.6.6.6\r\n"
    . "X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n");
$head = $r->{body};
is(join('|', $head =~ /^(X-Forwarded-For: .*)\r$/mig),
    'X-Forwarded-For: 10.1.1.1, 10.2.2.2',
    'the client\'s X-Forwarded-For passes unchanged, once');
is(join('|', $head =~ /^(X-Real-IP: .*)\r$/mig), 'X-Real-IP: 6.6.6.6',
    'the client\'s X-Real-IP passes unchanged, once');
is(join('|', $head =~ /^(X-Forwarded-Proto: .*)\r$/mig),
    'X-Forwarded-Proto: https',
    'the client\'s X-Forwarded-Proto passes unchanged, once');

# HTTP/1.0 client: chunked response arrives raw and the connection closes.
$r = http_request($port, "GET /?chunked=1&size=5000 HTTP/1.0\r\n\r\n");
is(length $r->{body}, 5000, 'an HTTP/1.0 client gets a chunked body raw');
ok(!defined $r->{headers}{'transfer-encoding'},
    'without Transfer-Encoding');
$c = http_client($port);
$r = $c->request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
is($r->{headers}{connection}, 'keep-alive',
    'HTTP/1.0 keep-alive is acknowledged');
$r = $c->request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
is($r->{status}, 200, 'and the connection serves a second request');

# A close-delimited response reaches a 1.1 client chunked, connection kept.
$c = http_client($port);
$r = $c->request("GET /?noheaders-close=1&size=7000 HTTP/1.1\r\n"
    . "Host: x\r\n\r\n");
is(length $r->{body}, 7000, 'a close-delimited body arrives whole');
is($r->{headers}{'transfer-encoding'}, 'chunked', 're-framed as chunked');
$r = $c->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 200, 'and the client connection stays usable');

# One clean message goes on: equal Content-Length values as one field.
$r = http_request($port, "POST /?headers=1 HTTP/1.1\r\nHost: x\r\n"
    . "Content-Length: 3, 3\r\ncontent-length: 3\r\nConnection: close\r\n\r\n"
    . "abc");
is($r->{status}, 200, 'a request with equal Content-Length values passes');
is(scalar(() = $r->{body} =~ /^content-length:/mig), 1,
    'with one Content-Length field');
like($r->{body}, qr/^Content-Length: 3\r$/m, 'of that value');
$c = http_client($port);
$r = $c->request("GET /?bad=5 HTTP/1.1\r\nHost: x\r\n\r\n");
ok($r->{status} == 200 && $r->{body} eq 'hello' &&
    $r->{headers}{'content-length'} eq '5',
    'a response with "Content-Length: 5, 5" goes on with one value')
    or diag(explain($r));

# Transfer codings other than chunked: 501 for a request, nothing sent
# on; 502 for a response, as no request asked for one (TE is dropped).
$r = http_request($port, "POST /?n=gzip HTTP/1.1\r\nHost: x\r\n"
    . "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
is($r->{status}, 501, 'a request with gzip, chunked gets 501');
$r = http_get($port, '/?bad=4');
is($r->{status}, 502, 'a response with Transfer-Encoding: gzip gets 502');
$r = http_request($port, "HEAD /?bad=4 HTTP/1.1\r\nHost: x\r\n\r\n");
ok($r->{status} == 200 && !exists $r->{headers}{'transfer-encoding'},
    'but not when it has no body: a HEAD gets 200, without the header')
    or diag(explain($r));

# The request target: what browsers send unencoded passes as it is; a
# fragment, a quote or a broken %-escape in the path does not.
$r = http_get($port, '/a[1]|{x}^?f[a]=1&p=100%&headers=1');
like($r->{body}, qr{^GET /a\[1\]\|\{x\}\^\?f\[a\]=1&p=100%&headers=1 }m,
    'brackets, braces, | and ^ pass as they are');
$r = http_request($port, "GET http://x?headers=1 HTTP/1.1\r\nHost: x\r\n\r\n");
like($r->{body}, qr{^GET /\?headers=1 HTTP/1\.1\r$}m,
    'an absolute-form target with only a query goes on as /?query');
$r = http_request($port, "GET http://x HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 200, 'one without a path is routed as /');
for my $t ('/a#b', '/a"b', '/a%zz', 'ftp://x/') {
	$r = http_request($port, "GET $t HTTP/1.1\r\nHost: x\r\n\r\n");
	is($r->{status}, 400, "GET $t gets 400");
}

# Host: from an absolute-form target, in place of the client's (RFC 9112
# 3.2.2); made from the server's address for HTTP/1.0 without one.
$r = http_request($port, "GET http://target.test/?headers=1 HTTP/1.1\r\n"
    . "Host: other.test\r\nConnection: close\r\n\r\n");
ok($r->{body} =~ /^Host: target\.test\r$/m &&
    scalar(() = $r->{body} =~ /^host:/mig) == 1,
    'an absolute-form target sets the Host sent on')
    or diag($r->{body});
$r = http_request($port, "GET /?headers=1 HTTP/1.0\r\n\r\n");
like($r->{body}, qr/^Host: 127\.0\.0\.1:\Q${\ $be->port}\E\r$/m,
    'an HTTP/1.0 request without Host gets the server\'s address');

# 1xx answers flooding a client that does not read: cutover takes them
# from the server no faster than the client takes them.
$c = http_client($port);
my $read0 = $cv->read_bytes;
$c->send("GET /?interim=103&interims=400000 HTTP/1.1\r\nHost: x\r\n\r\n");
sleep(1);
my $mb = ($cv->read_bytes - $read0) / 1e6;
ok($mb < 10, sprintf('400,000 interim answers (25 MB) to a client not '
    . 'reading: cutover read %.1f MB of them', $mb));
$c->close;

# A body to a client that stops reading: cutover reads a bounded part of
# it, stops reading the server while its buffers are full, and reads on
# as the client drains them, until the client has the body whole.
$c = http_client($port);
$read0 = $cv->read_bytes;
$c->send("GET /?size=40000000 HTTP/1.1\r\nHost: x\r\n\r\n");
sleep(1);
$mb = ($cv->read_bytes - $read0) / 1e6;
ok($mb < 24, sprintf('a client not reading 40 MB: cutover read %.1f MB of '
    . 'it', $mb));
$r = $c->response(discard => 1);
ok($r->{complete} && $r->{body_length} == 40000000 &&
    $r->{body_sha1} eq pattern_sha1(40000000),
    'and it gets the 40 MB whole once it reads');
$c->close;

# A response with both Content-Length and chunked: the chunked body goes
# on, and the server's connection is not used again (RFC 9112 6.3).
$c = http_client($port);
my $before = $c->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
$r = $c->request("GET /?bad=6 HTTP/1.1\r\nHost: x\r\n\r\n");
my $after = $c->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
ok($r->{body} eq 'hello' && $r->{headers}{'x-conn'} eq
    $before->{headers}{'x-conn'},
    'a response with Content-Length and chunked: the chunked body')
    or diag(explain($r));
isnt($after->{headers}{'x-conn'}, $r->{headers}{'x-conn'},
    'and its server connection is closed, not reused');

# No Content-Length on a 204 (RFC 9110 8.6), even when the server sent one.
$r = $c->request("GET /?bad=7 HTTP/1.1\r\nHost: x\r\n\r\n");
ok($r->{status} == 204 && !exists $r->{headers}{'content-length'},
    'a 204 goes on without the Content-Length its server sent')
    or diag(explain($r->{headers}));

# OPTIONS * is routed as /; CONNECT opens no tunnel: 501.
$r = http_request($port, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{headers}{'x-backend'}, 'blue', 'OPTIONS * reaches the server');
$r = http_request($port, "CONNECT 127.0.0.1:${\ $be->port} HTTP/1.1\r\n"
    . "Host: 127.0.0.1\r\n\r\n");
is($r->{status}, 501, 'CONNECT gets 501');

# OPTIONS in absolute-form without a path asks about the server: "*"
# (RFC 9112 3.2.4).
my $star = grep { /OPTIONS \*$/ } $be->requests;
$r = http_request($port, "OPTIONS http://x HTTP/1.1\r\nHost: x\r\n\r\n");
ok($r->{status} == 200 && grep({ /OPTIONS \*$/ } $be->requests) == $star + 1,
    'OPTIONS http://x goes on as OPTIONS *');

# A slow client behind a flood of 1xx from a server that then closes:
# waiting for the client is not a head cut short.
{
	use Socket qw(SOL_SOCKET SO_RCVBUF sockaddr_in inet_aton);
	my $s = IO::Socket::INET->new(Proto => 'tcp') or die;
	setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', 4096)) or die;
	connect($s, sockaddr_in($port, inet_aton('127.0.0.1'))) or die;
	syswrite($s, "GET /?interim=103&interims=200000&close=1&size=5 "
	    . "HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	sleep(1);
	my ($data, $t0) = ('', time);
	while (time - $t0 < 60) {
		my $n = sysread($s, my $buf, 4096) or last;
		$data .= $buf;
		select(undef, undef, undef, 0.001);
	}
	my @st = $data =~ /^HTTP\/1\.1 (\d\d\d)/mg;
	ok(@st == 200001 && $st[-1] eq '200' && $data =~ /abcde\z/,
	    'a slow client gets 200,000 interim answers, then the 200 of a '
	    . 'server that closed long before') or diag("statuses: "
	    . scalar(@st) . ", last $st[-1]");
}
