#!/usr/bin/perl
# Lingering close.  When cutover closes a client connection after its
# last answer (here Connection: close) while the client has sent bytes it
# did not read, closing at once would make the kernel reset the
# connection and drop what of the answer the client had not taken yet.
# So the connection is half-closed and what the client still sends is
# dropped until it closes or 5 seconds pass, over plain TCP and TLS alike:
# a client uploading a body too large gets to send it and read its 413.

use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::SSL;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Test::More tests => 16;
use Time::HiRes qw(sleep time);
use Cutover::Test;

my $dir = Cutover::Test::tmpdir();
Cutover::Test::openssl("req -x509 -newkey ec -pkeyopt " .
    "ec_paramgen_curve:P-256 -nodes -keyout $dir/key.pem -out " .
    "$dir/cert.pem -days 2 -subj /CN=localhost");

my $be = start_backend(name => 'b');
my $port = free_port();
my $tport = free_port();
my $cv = start_cutover(conf => <<"EOF");
[global]
status_listen = off
log_level = debug
max_body_size = 64k

[listener web]
bind = 127.0.0.1:$port

[listener tls]
bind = 127.0.0.1:$tport
tls_cert = $dir/cert.pem
tls_key = $dir/key.pem

[pool p]
server = b1 127.0.0.1:@{[$be->port]}

[route r]
split = p 1
EOF

sub client {
	my ($tls) = @_;
	my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $tls ? $tport : $port) or die "connect: $!";
	# A small window: most of the answer waits in cutover's kernel.
	setsockopt($c, SOL_SOCKET, SO_RCVBUF, 65536);
	return $c unless $tls;
	IO::Socket::SSL->start_SSL($c, SSL_verify_mode => SSL_VERIFY_NONE)
	    or die "TLS: $SSL_ERROR";
	return $c;
}

# Reads until the end of the connection or 10 s; what an error cut
# short counts as not read.
sub slurp {
	my ($c) = @_;
	my ($got, $end) = ('', time + 10);
	while (time < $end) {
		my $n = sysread($c, $got, 65536, length $got);
		last unless $n;
	}
	return $got;
}

# Whether the peer's close_notify came in on a TLS connection.
sub notified {
	my ($c) = @_;
	return Net::SSLeay::get_shutdown($c->_get_ssl_object) &
	    Net::SSLeay::RECEIVED_SHUTDOWN();
}

my $size = 8 * 1024 * 1024;
for my $tls (0, 1) {
	my $what = $tls ? 'TLS' : 'plain';
	my $mark = $cv->log_mark;
	my $c = client($tls);
	# The request, then requests cutover will not read: all in the
	# kernel's buffers before the answer is read at all.
	print $c "GET /?size=$size HTTP/1.1\r\nHost: x\r\n"
	    . "Connection: close\r\n\r\n"
	    . ("GET / HTTP/1.1\r\nHost: x\r\n\r\n" x 5000);
	sleep 1;
	my $got = slurp($c);
	$got =~ s/\A.*?\r\n\r\n//s;
	is(length $got, $size, "$what: a slow client with unread requests " .
	    'behind a Connection: close gets the whole answer');
	ok($cv->wait_log(qr/unread bytes after the last answer, lingering/,
	    from => $mark), "$what: its connection lingered");
	close $c;
	ok($cv->wait_log(qr/closed after \d+ requests: client closed after the last answer/,
	    from => $mark), "$what: and closed when the client closed");
}

# An upload larger than max_body_size: cutover answers 413 at once and
# closes, the client still sending.  It can send its whole body without
# a reset and then read the 413, as browsers need to show it.
$SIG{PIPE} = 'IGNORE';
for my $tls (0, 1) {
	my $what = $tls ? 'TLS' : 'plain';
	my $c = client($tls);
	my $len = 10 * 1024 * 1024;
	syswrite($c, "POST / HTTP/1.1\r\nHost: x\r\n"
	    . "Content-Length: $len\r\n\r\n") or die "write: $!";
	my ($chunk, $sent) = ('u' x 16384, 0);
	while ($sent < $len) {
		my $n = syswrite($c, $chunk);
		last unless $n;
		$sent += $n;
	}
	is($sent, $len, "$what: a client sends its whole 10 MB body " .
	    'after an early 413, without a reset');
	like(slurp($c), qr{\AHTTP/1\.1 413 }, "$what: and reads the 413");
	ok(notified($c), 'TLS: the whole 413 ends with close_notify') if $tls;
	close $c;
}

# An error answer cutover writes itself is whole: over TLS it ends with
# close_notify, lingering or not.
my $c400 = client(1);
print $c400 "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n";
like(slurp($c400), qr{\AHTTP/1\.1 400 }, 'TLS: a malformed request gets 400');
ok(notified($c400), '... and close_notify after it');
close $c400;

# A client that goes on sending and never closes is let go after 5 s,
# with its bytes never read.
my $mark = $cv->log_mark;
my $c = client(0);
print $c "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    . "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
my $t0 = time;
my $line;
while (time - $t0 < 9) {
	last if $line = $cv->wait_log(qr/lingering close ran out/,
	    from => $mark, timeout => 0.2);
	syswrite($c, 'x' x 1000) or last;
}
ok($line, 'a lingering client that never closes is let go');
cmp_ok(time - $t0, '<', 7.5, '... within about 5 s, although it kept ' .
    'sending');
close $c;

ok(Cutover::Test::wait_for(sub {
	$cv->admin('show info') =~ /^connections: 0 /m }, timeout => 5),
    'no connection is left behind');
