#!/usr/bin/perl
# HTTP versions (RFC 9112 section 2.3, RFC 9110 section 15.6.6): a request
# or response of a later HTTP/1 minor version is taken as HTTP/1.1 and
# goes on as HTTP/1.1; another major version gets 505 from the proxy, and
# from a server, 502; what is no version at all gets 400.

use strict;
use warnings;
use Test::More tests => 16;
use IO::Socket::INET;
use POSIX ();
use Cutover::Test;

my $be = start_backend(name => 'blue');
my $port = free_port();

# A server answering with the version its request's path names.
my $raw = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
    Listen => 16, ReuseAddr => 1) or die "listen: $!\n";
my $raw_pid = fork // die "fork: $!\n";
if ($raw_pid == 0) {
	$SIG{ALRM} = 'DEFAULT';
	$SIG{TERM} = sub { POSIX::_exit(0) };
	while (my $c = $raw->accept) {
		my $head = '';
		while (defined(my $line = <$c>)) {
			$head .= $line;
			last if $line eq "\r\n";
		}
		my ($v) = $head =~ m{^GET /v/(\d\.\d) };
		print $c "HTTP/${\ ($v // '1.1')} 200 OK\r\nContent-Length: 2\r\n" .
		    "Connection: close\r\n\r\nhi";
		close $c;
	}
	POSIX::_exit(0);
}
END { kill 'TERM', $raw_pid and waitpid($raw_pid, 0) if $raw_pid; }

my $cv = start_cutover(conf => <<"EOF");
[global]
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $be->port}
[pool raw]
server = r1 127.0.0.1:${\ $raw->sockport}
breaker_failures = 1000

[route raw]
path_prefix = /v/
split = raw 1

[route app]
split = blue 1
EOF

# Requests of later minor versions: answered, and kept alive as HTTP/1.1.
for my $v ('1.2', '1.9') {
	my $c = http_client($port);
	my $r = $c->request("GET / HTTP/$v\r\nHost: x\r\n\r\n");
	is($r->{status}, 200, "an HTTP/$v request is answered");
	like($r->{raw}, qr{^HTTP/1\.1 200 }, 'in HTTP/1.1');
	$r = $c->request("GET / HTTP/$v\r\nHost: x\r\n\r\n");
	is($r->{status}, 200, 'and its connection is kept alive');
	$c->close;
}

# Other major versions: 505, and the connection closed.
for my $v ('2.0', '0.9') {
	my $c = http_client($port);
	my $r = $c->request("GET / HTTP/$v\r\nHost: x\r\n\r\n");
	like($r->{raw}, qr{^HTTP/1\.1 505 HTTP Version Not Supported\r\n},
	    "an HTTP/$v request gets 505");
	ok($c->closed, 'and its connection is closed');
}
like($cv->log, qr/unsupported http version/, 'the log says why');

my $r = http_request($port, "GET / HTTP/1.10\r\nHost: x\r\n\r\n");
is($r->{status}, 400, 'HTTP/1.10 is no version: 400');
$r = http_request($port, "GET / HTTP/2\r\nHost: x\r\n\r\n");
is($r->{status}, 400, 'nor is HTTP/2: 400');

# Responses.
$r = http_get($port, '/v/1.2');
ok($r->{status} == 200 && $r->{body} eq 'hi',
    'an HTTP/1.2 response passes on as HTTP/1.1');
$r = http_get($port, '/v/2.0');
is($r->{status}, 502, 'an HTTP/2.0 response gets 502');
my @seen = $be->requests;
ok(@seen == 4 && !grep(/ BAD /, @seen),
    'the server got the four HTTP/1.x requests, as HTTP/1.1') or
    diag(join "\n", @seen);
