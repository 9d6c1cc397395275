#!/usr/bin/perl
# A new connection is read as soon as it is accepted, and its read event
# added only when the session waits for the client: a request head that
# comes in pieces or late, a body behind its head, requests pipelined in
# the first read or sent while the first waits on the server, an empty
# connection, and a client that resets its connection while its first
# request waits on a slow server, or after the head of a slow answer
# (noticed within about 100 ms, not at the next write).

use strict;
use warnings;
use Test::More tests => 13;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);
use Cutover::Test;

my $be = start_backend(name => 'b');
my $port = free_port();
my $dir = tmpdir();
my $cv = start_cutover(conf => <<"EOF");
[global]
access_log = $dir/access.json
access_log_format = json

[listener web]
bind = 127.0.0.1:$port

[pool p]
server = b1 127.0.0.1:@{[$be->port]}
breaker_failures = 1000

[route r]
split = p 1
EOF

sub conn {
	my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
	    or die "connect: $!";
	return $c;
}

sub statuses {
	my ($raw) = @_;
	return join ",", $raw =~ m{HTTP/1\.1 (\d+) }g;
}

my @answers;
for (1 .. 20) {
	push @answers, http_get($port, "/?size=10")->{status};
}
is(join(',', @answers), join(',', (200) x 20),
    'twenty requests, each on a connection of its own');

my $c = conn();
syswrite($c, "GET /?size=5 HTTP/1.1\r\nHo");
sleep 0.3;
syswrite($c, "st: x\r\nConnection: close\r\n\r\n");
like(read_until_close($c, 5), qr{^HTTP/1\.1 200 .*\r\n\r\nabcde\z}s,
    'a head that comes in two pieces');

$c = conn();
sleep 0.3;
syswrite($c, "GET /?size=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
like(read_until_close($c, 5), qr{^HTTP/1\.1 200 .*\r\n\r\nabcde\z}s,
    'a head sent 300 ms after the connection');

$c = conn();
syswrite($c, "POST /?echo=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
    . "Connection: close\r\n\r\n");
sleep 0.3;
syswrite($c, "123456");
my $r = read_until_close($c, 5);
like($r, qr{^HTTP/1\.1 200 .*\r\n\r\n123456\z}s,
    'a body sent 300 ms after its head')
    or diag($r);

$c = conn();
syswrite($c, "GET /?size=3 HTTP/1.1\r\nHost: x\r\n\r\n"
    . "GET /?size=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
$r = read_until_close($c, 5);
like($r, qr{\r\n\r\nabcHTTP/1\.1 200 .*\r\n\r\nabcd\z}s,
    'two requests pipelined in the first read, answered in order');
is(statuses($r), '200,200', '... both');

$c = conn();
syswrite($c, "GET /?size=3&delay=300 HTTP/1.1\r\nHost: x\r\n\r\n");
sleep 0.1;
syswrite($c, "GET /?size=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
$r = read_until_close($c, 5);
is(statuses($r), '200,200',
    'a request sent while the first waits on a slow server');

$c = conn();
close $c;
$c = conn();
shutdown($c, 1);
is(read_until_close($c, 5), '', 'a connection closed at once, or with nothing sent');

# A reset while the first request waits on a server that takes 5 s.
$c = conn();
my $t0 = time;
syswrite($c, "GET /reset?delay=5000 HTTP/1.1\r\nHost: x\r\n\r\n");
sleep 0.3;
setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
close $c;
my $line = wait_for(sub {
	my ($l) = grep { m{"/reset} } split /\n/,
	    (-e "$dir/access.json" ? Cutover::Test::_slurp("$dir/access.json")
	    : '');
	return $l;
}, timeout => 6);
my $took = time - $t0;
my $e = eval { decode_json($line // '') };
is($e && $e->{status}, 499, 'a client that reset its connection is logged '
    . 'as 499') or diag($line);
ok(defined $line && $took < 3, 'before the server answers (after '
    . sprintf('%.2f', $took) . ' s)');

# A reset after the head of a slow answer (a chunk every 3 s).
sub active {
	my ($n) = http_get($cv->status_port, '/metrics')->{body} =~
	    /^cutover_connections\{state="active"\} (\d+)/m;
	return $n;
}
$c = conn();
$t0 = time;
syswrite($c, "GET /?size=100&chunked=1&chunkdelay=3000 HTTP/1.1\r\n"
    . "Host: x\r\n\r\n");
my $got = '';
my $sel = IO::Select->new($c);
while ($got !~ /\r\n\r\n/ && $sel->can_read(2)) {
	sysread($c, $got, 4096, length $got) or last;
}
like($got, qr{^HTTP/1\.1 200 }, 'a slow chunked answer starts');
setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
close $c;
ok(wait_for(sub { defined(my $n = active()) or return 0; $n == 0 },
    timeout => 2.5), 'a reset after its head ends the request before the '
    . 'next chunk');

is(http_get($port, '/?size=2')->{status}, 200, 'cutover serves on');
$cv->stop;
