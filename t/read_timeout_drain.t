#!/usr/bin/perl
# A read timeout runs from the last read or the last drain of the input,
# as under libevent's read watermark: response_timeout bounds a wait for
# the server's next bytes, not the time a slow client takes for what
# cutover holds already.  max_header_size = 8m lets the input of the
# server connection hold 8 MB: cutover has the 12 MB response at once,
# and hands it to a client that takes 400 KB every 100 ms, some 3 s.

use strict;
use warnings;
use Test::More tests => 3;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes qw(sleep time);
use Cutover::Test;

my $be = start_backend(name => 'blue');
my $port = free_port();
my $cv = start_cutover(conf => <<"EOF2");
[global]
status_listen = off
max_header_size = 8m

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$be->port]}
response_timeout = 1s

[route app]
split = blue 1
EOF2

my $size = 12000000;
my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
    Proto => 'tcp') or die "connect: $!\n";
# A small window, so that the kernel does not take the body in our stead.
setsockopt($c, SOL_SOCKET, SO_RCVBUF, 65536);
print $c "GET /?size=$size HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
my ($got, $buf, $t0, $n) = ('', '', time, 1);
while ($n && time - $t0 < 30) {
	my $slot = 0;
	while ($slot < 400000) {
		$n = sysread($c, $buf, 400000 - $slot);
		last if !$n;
		$got .= $buf;
		$slot += $n;
	}
	sleep(0.1);
}
my $took = time - $t0;
my (undef, $body) = split(/\r\n\r\n/, $got, 2);
$body //= '';
ok($took > 2, sprintf('the client took %.1f s, more than response_timeout',
    $took));
ok(length $body == $size && $body eq pattern(0, $size),
    sprintf('and got the body whole (%d of %d bytes)', length $body, $size));
unlike($cv->log, qr/response_timeout in the body/,
    'no response_timeout: the server had sent it all');
