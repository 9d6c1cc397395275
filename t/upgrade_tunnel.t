#!/usr/bin/perl
# Upgrade (WebSocket) requests are tunnelled after the server's 101: the
# Upgrade and Connection headers reach the server, the 101 reaches the
# client, and bytes then flow both ways unchanged until one side closes.
# An offer of h2c (retired by RFC 9113) is no tunnel: the request goes on
# without its Upgrade, as any other.

use strict;
use warnings;
use Test::More tests => 11;
use Cutover::Test;

my $be = start_backend(name => 'ws');
my $port = free_port();
my $cv = start_cutover(conf => <<"EOF");
[global]
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool ws]
server = w1 127.0.0.1:@{[$be->port]}

[route app]
split = ws 1
EOF

my $c = http_client($port);
my $r = $c->request("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    . "Sec-WebSocket-Version: 13\r\n\r\n");
is($r->{status}, 101, 'the server switches protocols');
like($r->{headers}{upgrade} // '', qr/websocket/i,
    'the 101 keeps its Upgrade header');
is($r->{headers}{'sec-websocket-accept'}, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
    'and the accept key computed from the key we sent');
syswrite($c->sock, "hello through the tunnel");
is($c->read_raw(length => 24, timeout => 3), 'hello through the tunnel',
    'bytes come back through the tunnel');
my $big = 'z' x 300000;
my $got = '';
my $off = 0;
while (length $got < length $big) {
	if ($off < length $big) {
		my $n = syswrite($c->sock, $big, 65536, $off);
		$off += $n if $n;
	}
	$got .= $c->read_raw(timeout => 0.2);
	last if $c->{eof};
}
is(length $got, length $big, '300 kB echo through the tunnel arrive whole');
$c->close;

$r = http_get($port, '/ws', Upgrade => 'websocket');
isnt($r->{status}, 101, 'without Connection: upgrade there is no tunnel');
$r = http_get($port, '/');
is($r->{status}, 200, 'ordinary requests still pass');

# h2c: the server never sees the offer, the connection stays HTTP/1.1.
$c = http_client($port);
$r = $c->request("GET /?headers=1 HTTP/1.1\r\nHost: x\r\n"
    . "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    . "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n");
is($r->{status}, 200, 'an h2c offer is answered as a plain request');
unlike($r->{body}, qr/^(upgrade|http2-settings):/mi,
    '... and its Upgrade and HTTP2-Settings do not reach the server');
$r = $c->request("GET /?headers=1 HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 200, '... and the connection goes on with HTTP/1.1');
$c->close;
$r = http_get($port, '/ws', Upgrade => 'websocket, h2c',
    Connection => 'Upgrade');
isnt($r->{status}, 101, 'an offer of WebSocket and h2c is no tunnel');
