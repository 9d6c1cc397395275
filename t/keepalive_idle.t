#!/usr/bin/perl
# A keep-alive connection idle between requests is reduced to its socket
# and a small record.  Its next request is served as before (with a body,
# chunked, pipelined, after a reload), keepalive_timeout still closes it on
# time, the admin socket and max_connections still count it, a half-close
# or a reset while reduced closes it, and graceful shutdown closes it at
# once.  All of it with one worker, then with two.  keepalive_timeout = 0
# keeps no connection: the answer says Connection: close.

use strict;
use warnings;
use Test::More tests => 3;
use Socket qw(SHUT_WR SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);
use Cutover::Test;

my $be = start_backend(name => 'blue');
my $REDUCED = qr/client 127\.0\.0\.1: idle after \d+ requests, reduced/;
my $get = "GET /?size=10 HTTP/1.1\r\nHost: x\r\n\r\n";
my ($cv, $port);

# Waits until n more connections were reduced since the log mark.
sub reduced {
	my ($mark, $n) = @_;
	return wait_for(sub {
		my @l = grep { /$REDUCED/ } split /\n/,
		    substr($cv->log, $mark);
		return @l >= $n;
	}, timeout => 3);
}

# The connection counts of "show info": total, reading, active, idle.
sub counts {
	my $info = $cv->admin('show info') // '';
	return 'none' unless $info =~ /^connections: (\d+) \((.*)\)$/m;
	my ($n, $by) = ($1, $2);
	return join ' ', $n, $by =~ /^reading (\d+), active (\d+), idle (\d+)$/;
}

# Runs the checks on the cutover just started.
sub scenario {
	plan(tests => 25);

	# A request, then the connection goes idle and is reduced.
	my $mark = $cv->log_mark;
	my $c = http_client($port);
	my $r = $c->request($get);
	is($r->{body}, 'abcdefghij',
	    'a keep-alive client gets its first answer');
	ok(reduced($mark, 1), 'the idle connection is reduced');
	is(counts(), '1 0 0 1', 'show info counts it, as idle');

	# A body wakes it: Content-Length, then chunked.
	my $n = 300000;
	$r = $c->request("POST /?echo=count HTTP/1.1\r\nHost: x\r\n" .
	    "Content-Length: $n\r\n\r\n", body_size => $n);
	is($r->{body}, "bytes=$n sum=" . pattern_sha1($n) . "\n",
	    'a request with a body is served whole after the reduction');
	ok(!defined $r->{headers}{connection}, 'and the connection stays open');
	$mark = $cv->log_mark;
	ok(reduced($mark, 1), 'the connection is reduced again');
	$r = $c->request("POST /?echo=count HTTP/1.1\r\nHost: x\r\n" .
	    "Transfer-Encoding: chunked\r\n\r\n", body_size => 70000,
	    chunk_size => 7000);
	is($r->{body}, "bytes=70000 sum=" . pattern_sha1(70000) . "\n",
	    'so is a chunked one');

	# Pipelined requests arriving together at a reduced connection.
	$mark = $cv->log_mark;
	ok(reduced($mark, 1), 'reduced before the pipelined requests');
	my @r = $c->pipeline("GET /?size=5 HTTP/1.1\r\nHost: x\r\n\r\n",
	    "POST /?echo=count HTTP/1.1\r\nHost: x\r\n" .
	    "Content-Length: 4\r\n\r\nabcd",
	    "GET /?size=3 HTTP/1.1\r\nHost: x\r\n\r\n");
	is(join('|', map { "$_->{status} $_->{body}" } @r),
	    '200 abcde|200 bytes=4 sum=' . pattern_sha1(4) . "\n|200 abc",
	    'three pipelined requests are answered in order');

	# A reload while reduced: the connection serves the next request.
	$mark = $cv->log_mark;
	ok(reduced($mark, 1), 'reduced before a reload');
	$cv->reload;
	ok($cv->wait_log(qr/config reloaded/, from => $mark),
	    'the config is reloaded');
	$r = $c->request($get);
	is($r->{body}, 'abcdefghij', 'the reduced connection serves after it');

	# keepalive_timeout (1 s) still closes it, counted from the last answer.
	my $t0 = time;
	$mark = $cv->log_mark;
	ok(reduced($mark, 1), 'reduced before keepalive_timeout');
	ok($c->closed(timeout => 3), 'keepalive_timeout closes the connection');
	my $took = time - $t0;
	ok($took > 0.8 && $took < 1.8, 'after 1 s') or
	    diag("closed after $took s");
	ok($cv->wait_log(qr/closed after 7 requests: keepalive_timeout/,
	    from => $mark), 'the log says why');

	# max_connections counts reduced connections: with two, the third waits.
	$mark = $cv->log_mark;
	my @idle = map { http_client($port) } 1 .. 2;
	$_->request($get) for @idle;
	ok(reduced($mark, 2), 'two connections are reduced');
	my $third = http_client($port);
	$third->send($get);
	$r = $third->response(timeout => 0.5);
	ok(!$r->{complete}, 'a third waits at max_connections = 2');
	$idle[0]->close;
	$r = $third->response(timeout => 3);
	is($r->{body}, 'abcdefghij',
	    'and is served once a reduced one closes');
	$third->close;

	# A half-close while reduced closes the connection.
	$mark = $cv->log_mark;
	my $hc = http_client($port);
	$hc->request($get);
	ok(reduced($mark, 1), 'reduced before a half-close');
	shutdown($hc->sock, SHUT_WR);
	ok($hc->closed(timeout => 2), 'a half-close while reduced closes it');

	# So does a reset, and nothing is left counted.
	setsockopt($idle[1]->sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
	$idle[1]->close;
	$hc->close;
	ok(wait_for(sub { counts() eq '0 0 0 0' }),
	    'a reset while reduced closes it, and all counts are back to 0');

	# Graceful shutdown closes reduced connections at once.
	$mark = $cv->log_mark;
	my $quiet = http_client($port);
	$quiet->request($get);
	ok(reduced($mark, 1), 'reduced before the shutdown');
	my $busy = http_client($port, timeout => 10);
	$busy->send("GET /?delay=1000&size=10 HTTP/1.1\r\nHost: x\r\n\r\n");
	sleep 0.2;
	$cv->signal('TERM');
	ok($quiet->closed(timeout => 1),
	    'SIGTERM closes the reduced connection at once');
	$r = $busy->response(timeout => 5);
	ok($r->{body} eq 'abcdefghij' && $cv->wait_exit(timeout => 5) == 0,
	    'the request in flight completes and cutover exits 0');
}

for my $workers (1, 2) {
	$port = free_port();
	$cv = start_cutover(conf => <<"EOF");
[global]
workers = $workers
status_listen = off
log_level = debug
keepalive_timeout = 1s
max_connections = 2
shutdown_grace = 10s

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$be->port]}

[route app]
split = blue 1
EOF
	subtest("workers = $workers" => \&scenario);
}

# keepalive_timeout = 0: the answer says it closes, and it does.
$cv->stop;
$cv = start_cutover(conf => <<"EOF");
[global]
status_listen = off
keepalive_timeout = 0

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$be->port]}

[route app]
split = blue 1
EOF
subtest('keepalive_timeout = 0' => sub {
	plan(tests => 3);
	my $c = http_client($port);
	my $r = $c->request($get);
	is($r->{body}, 'abcdefghij', 'the request is answered');
	is($r->{headers}{connection}, 'close', 'with Connection: close');
	ok($c->closed, 'and the connection is closed');
});
