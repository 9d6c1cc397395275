#!/usr/bin/perl
# A client that half-closes after its request still gets the whole
# answer (also after a large upload to a slow server, and after a body
# sent with its head while the server's connection is still being made),
# and a server that resets inside a close-delimited body never has it
# passed off as whole.

use strict;
use warnings;
use Test::More tests => 7;
use IO::Socket::INET;
use IO::Select;
use Socket qw(SHUT_WR);
use Cutover::Test;

my $be = start_backend(name => 'b');
my $port = free_port();
my $cv = start_cutover(conf => <<"EOF");
[global]
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool p]
server = b1 127.0.0.1:@{[$be->port]}
breaker_failures = 1000

# No idle connections: each request waits for a connect.
[pool fresh]
server = f1 127.0.0.1:@{[$be->port]}
keepalive = 0
breaker_failures = 1000

[route r]
split = p 1

[route fresh]
path_prefix = /fresh
split = fresh 1
EOF

# Reads until the peer closes or 3 s pass without a byte.
sub slurp_sock {
	my ($c) = @_;
	my $buf = '';
	my $sel = IO::Select->new($c);
	while ($sel->can_read(3)) {
		my $n = sysread($c, $buf, 65536, length $buf);
		last unless $n;
	}
	return $buf;
}

my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "$!";
print $c "GET /?size=10&delay=200 HTTP/1.1\r\nHost: x\r\n\r\n";
shutdown($c, SHUT_WR);
like(slurp_sock($c), qr{^HTTP/1\.1 200 .*\r\n\r\nabcdefghij\z}s,
    'a half-closed client gets its whole response');

my $n = 4 * 1024 * 1024;
$c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "$!";
print $c "POST /?echo=count&delay=500 HTTP/1.1\r\nHost: x\r\n"
    . "Content-Length: $n\r\n\r\n";
my ($sent, $chunk) = (0, 'a' x 65536);
while ($sent < $n) {
	my $w = syswrite($c, $chunk, $n - $sent < 65536 ? $n - $sent : 65536);
	last unless defined $w;
	$sent += $w;
}
shutdown($c, SHUT_WR);
like(slurp_sock($c), qr/bytes=$n /,
    'a 4 MiB upload followed by a half-close reaches a slow server whole');

$c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "$!";
print $c "GET /?noheaders-close=1&size=200000&die=100000 HTTP/1.1\r\n"
    . "Host: x\r\n\r\n";
unlike(slurp_sock($c), qr/\r\n0\r\n\r\n\z/,
    'a reset inside a close-delimited body ends without a last chunk');

# A whole request with a body, then a half-close at once: the EOF comes
# while cutover connects to the server, and the request still goes on.
my %ok = (length => 0, chunked => 0);
for my $i (1 .. 5) {
	$c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "$!";
	print $c "POST /fresh/?echo=count HTTP/1.1\r\nHost: x\r\n"
	    . "Content-Length: 5\r\n\r\nhello";
	shutdown($c, SHUT_WR);
	$ok{length}++ if slurp_sock($c) =~ /^HTTP\/1\.1 200 .*bytes=5 /s;
	$c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "$!";
	print $c "POST /fresh/?echo=count HTTP/1.1\r\nHost: x\r\n"
	    . "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
	shutdown($c, SHUT_WR);
	$ok{chunked}++ if slurp_sock($c) =~ /^HTTP\/1\.1 200 .*bytes=5 /s;
}
is($ok{length}, 5, 'a Content-Length body sent before a half-close is '
    . 'answered, connect or not');
is($ok{chunked}, 5, 'so is a chunked one');

# A body cut short by the half-close is no request to answer.
$c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "$!";
print $c "POST /fresh/?echo=count HTTP/1.1\r\nHost: x\r\n"
    . "Content-Length: 10\r\n\r\nhello";
shutdown($c, SHUT_WR);
is(slurp_sock($c), '', 'a body cut short by a half-close gets no answer');

# So is a chunked one cut short: what reached the server is not passed
# off as a whole request.
$c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "$!";
print $c "POST /fresh/?echo=count HTTP/1.1\r\nHost: x\r\n"
    . "Transfer-Encoding: chunked\r\n\r\n5\r\nhel";
shutdown($c, SHUT_WR);
unlike(slurp_sock($c), qr/^HTTP\/1\.1 200 /,
    'a chunked body cut short by a half-close is not answered as whole');
