#!/usr/bin/perl
# A client that half-closes after its request still gets the whole
# answer (also after a large upload to a slow server), and a server that
# resets inside a close-delimited body never has it passed off as whole.

use strict;
use warnings;
use Test::More tests => 3;
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

[route r]
split = p 1
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
