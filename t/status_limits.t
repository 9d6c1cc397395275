#!/usr/bin/perl
# The status endpoint's own server: requests pipelined on one connection
# answered in order, also when the client half-closes behind them;
# HTTP/1.0 and "Connection: close" closed after the answer, HTTP/1.0 with
# keep-alive kept; a request with a body answered and closed, without a
# reset when the body stays unread; bad and oversized heads refused,
# absolute-form targets.  Its limits: a request head must
# be whole within 10 s however slowly its bytes come, and at most 64
# connections are open at once; more wait in the backlog until one
# closes, and the proxy keeps serving meanwhile.

use strict;
use warnings;
use Test::More tests => 19;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use Cutover::Test;

my $be = start_backend(name => 'b');
my $port = free_port();
my $cv = start_cutover(conf => <<"EOF");
[listener web]
bind = 127.0.0.1:$port

[pool p]
server = b1 127.0.0.1:@{[$be->port]}

[route r]
split = p 1
EOF
my $sp = $cv->status_port;

sub conn {
	my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$sp")
	    or die "connect: $!";
	return $c;
}

sub statuses {
	my ($raw) = @_;
	return join ',', $raw =~ m{HTTP/1\.1 (\d+) }g;
}

my $c = conn();
syswrite($c, "GET /live HTTP/1.1\r\nHost: x\r\n\r\n"
    . "HEAD /ready HTTP/1.1\r\nHost: x\r\n\r\n"
    . "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
my ($r, $closed) = read_closed($c, 5);
is(statuses($r), '200,200,404', 'three pipelined requests, in order');
ok($closed && $r =~ /not found\n\z/, '... the connection closed after '
    . 'the one that asked');

$c = conn();
syswrite($c, "GET /live HTTP/1.1\r\nHost: x\r\n\r\n" x 10);
shutdown($c, 1);
($r, $closed) = read_closed($c, 5);
ok($closed && statuses($r) eq join(',', (200) x 10),
    'ten pipelined requests, then a half-close: all ten answered')
    or diag(statuses($r));

$c = conn();
syswrite($c, "GET /live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
sysread($c, $r, 4096);
syswrite($c, "GET /ready HTTP/1.0\r\n\r\n");
my ($r2, $closed2) = read_closed($c, 5);
ok($r =~ m{\r\nConnection: keep-alive\r\n\r\nok\n\z} && $closed2 &&
    $r2 =~ m{\r\nConnection: close\r\n\r\nready\n\z},
    'HTTP/1.0 with keep-alive: said so, and the connection kept')
    or diag("$r\n$r2");

$c = conn();
syswrite($c, "GET /live HTTP/1.0\r\n\r\n");
($r, $closed) = read_closed($c, 5);
ok($closed && $r =~ m{^HTTP/1\.1 200 .*\r\nConnection: close\r\n\r\nok\n\z}s,
    'HTTP/1.0 without keep-alive: answered and closed') or diag($r);

$c = conn();
syswrite($c, "POST /live HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
    . "abcdeGET /live HTTP/1.1\r\nHost: x\r\n\r\n");
($r, $closed) = read_closed($c, 5);
ok($closed && statuses($r) eq '405',
    'a request with a body: answered, then closed') or diag($r);

# A body nobody reads: the close must not reset the answer away.
$c = conn();
my $head = "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n";
syswrite($c, $head . ('b' x 200000));
($r, my $err) = ('', '');
my $sel = IO::Select->new($c);
while ($sel->can_read(5)) {
	my $n = sysread($c, $r, 65536, length $r);
	$err = "$!" unless defined $n;
	last unless $n;
}
my ($len) = $r =~ /\r\nContent-Length: (\d+)\r\n/;
my ($body) = $r =~ /\r\n\r\n(.*)\z/s;
ok(defined $len && length($body // '') == $len && $err eq '',
    'with a large unread body: the whole answer, then a clean close')
    or diag("error '$err', " . length($body // '') . ' of ' . ($len // '?'));

$c = conn();
syswrite($c, "GET /live HTTP/1.1\r\nHost x\r\n\r\n");
($r, $closed) = read_closed($c, 5);
ok($closed && statuses($r) eq '400', 'a malformed head: 400 and closed')
    or diag($r);

$c = conn();
syswrite($c, "GET /live HTTP/1.1\r\nHost: x\r\nX-Big: " . ('a' x 20000)
    . "\r\n\r\n");
($r, $closed) = read_closed($c, 5);
ok($closed && statuses($r) eq '431', 'a head over 16 KiB: 431 and closed')
    or diag(substr($r, 0, 200));

$r = http_request($sp, "GET http://status.test/metrics?x=1 HTTP/1.1\r\n"
    . "Host: status.test\r\nConnection: close\r\n\r\n");
ok($r->{status} == 200 && $r->{body} =~ /^cutover_/m,
    'an absolute-form target with a query');

# A client that sends a byte a second is cut at 10 s, not kept forever;
# it runs in a child while 63 silent connections fill the endpoint.
pipe(my $rd, my $wr) or die "pipe: $!";
my $child = fork // die "fork: $!";
if ($child == 0) {
	close $rd;
	my $slow = conn();
	my $t0 = time;
	my $head = "GET /live HTTP/1.1\r\nHost: x\r\nX-Slow: " . ('s' x 30);
	my $sel = IO::Select->new($slow);
	my ($sent, $cut) = (0, -1);
	while (time - $t0 < 16) {
		last unless defined syswrite($slow,
		    substr($head, $sent++ % length $head, 1));
		next unless $sel->can_read(1);
		if (!sysread($slow, my $b, 4096)) {
			$cut = time - $t0;
			last;
		}
	}
	print $wr "$cut\n";
	close $wr;
	require POSIX;
	POSIX::_exit(0);
}
close $wr;
sleep 0.3;
my @idle = map { conn() } 1 .. 63;
sleep 0.5;
$c = conn();
syswrite($c, "GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
($r) = read_closed($c, 1);
is($r, '', 'a 65th connection is not served while 64 are open');
ok($cv->wait_log(qr/64 connections open/), 'cutover says why');
is(http_get($port, '/?size=3')->{status}, 200, 'the proxy serves meanwhile');
close shift @idle;
($r, $closed) = read_closed($c, 5);
ok($closed && statuses($r) eq '200', 'it is answered once one closes');

# The silent ones are closed by cutover at their deadline.
my $gone = 0;
my $deadline = time + 13;
for my $i (@idle) {
	my $s = IO::Select->new($i);
	next unless $s->can_read($deadline - time > 0 ? $deadline - time : 0);
	$gone++ unless sysread($i, my $b, 10);
}
is($gone, 62, 'the silent connections are closed within about 10 s');
close $_ for @idle;
my $cut_after = <$rd>;
waitpid($child, 0);
chomp($cut_after //= -1);
ok($cut_after >= 9 && $cut_after < 14,
    'a head that trickles in is cut after about 10 s ('
    . ($cut_after >= 0 ? sprintf('%.1f s', $cut_after) : 'not cut') . ')');

$r = http_get($sp, '/live');
is($r->{status}, 200, 'the endpoint answers afterwards');
ok($cv->alive, 'cutover is running');
$cv->stop;
is($cv->exit_status, 0, 'and exits cleanly');
