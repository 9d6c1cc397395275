#!/usr/bin/perl
# The status endpoint's plumbing: /live and /ready, 404 for other paths,
# 405 for other methods, HEAD without a body; status_listen = off opens
# nothing; a reload that moves status_listen moves the endpoint; and on
# SIGTERM /ready turns 503 while a slow request finishes, /live still
# answers, new clients are refused and cutover exits 0 at the end.  A
# status_listen on [::] is IPv6 only, as listeners are: it leaves the
# same port of IPv4 to a listener.

use strict;
use warnings;

use Test::More tests => 32;
use IO::Socket::IP;
use Time::HiRes qw(time sleep);

use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $port = free_port();
my $conf = <<"EOF";
[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}

[route all]
split = blue 100
EOF
my $cut = start_cutover(conf => $conf);
my $sp = $cut->status_port;

# /live and /ready while running.
my $r = http_get($sp, '/live');
is($r->{status}, 200, '/live answers 200');
is($r->{body}, "ok\n", '/live says ok');
$r = http_get($sp, '/ready');
is($r->{status}, 200, '/ready answers 200 once the listeners are bound');
is($r->{body}, "ready\n", '/ready says ready');
like($r->{headers}{'cache-control'} // '', qr/no-store/,
    'answers are not cached');

# Other paths and methods.
$r = http_get($sp, '/nope');
is($r->{status}, 404, 'an unknown path gets 404');
$r = http_get($sp, '/metrics/extra');
is($r->{status}, 404, 'a path below /metrics gets 404');
$r = http_get($sp, '/live?probe=1');
is($r->{status}, 200, 'a query string is ignored');
$r = http_post($sp, '/metrics', 'x=1');
is($r->{status}, 405, 'POST gets 405');
is($r->{headers}{allow}, 'GET, HEAD', '405 names the allowed methods');
$r = http_request($sp, "DELETE /status HTTP/1.1\r\nHost: x\r\n" .
    "Connection: close\r\n\r\n");
is($r->{status}, 405, 'DELETE gets 405');

# HEAD: the head of GET, no body, and the connection stays usable.
my $c = http_client($sp);
$r = $c->request("HEAD /live HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 200, 'HEAD /live answers 200');
is($r->{headers}{'content-length'}, 3, 'HEAD gives the length of GET');
is($r->{body}, '', 'HEAD has no body');
$r = $c->request("GET /live HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{body}, "ok\n", 'a GET after HEAD on one connection is framed right');
$c->close;

# A reload that moves status_listen moves the endpoint.
my $sp2 = free_port();
my $text = $cut->{conf_text};
$text =~ s/^status_listen = .*$/status_listen = 127.0.0.1:$sp2/m;
my $mark = $cut->log_mark;
open my $fh, '>', $cut->conf_path or die $cut->conf_path . ": $!";
print $fh $text;
close $fh;
$cut->reload;
ok($cut->wait_log(qr/config reloaded/, from => $mark),
    'the reload that moves status_listen succeeds');
$r = http_get($sp2, '/live');
is($r->{status}, 200, 'the endpoint answers on its new address');
$r = http_get($sp, '/live');
ok($r->{error}, 'the old address is closed');
$sp = $sp2;

# status_listen = off: no endpoint.
my $off = start_cutover(conf => "[global]\nstatus_listen = off\n\n" .
    $conf =~ s/bind = 127.0.0.1:$port/bind = 127.0.0.1:${\ free_port()}/r);
unlike($off->log, qr/status endpoint/, 'status_listen = off opens nothing');
$off->stop;

# SIGTERM with a slow request in flight.
my $slow = http_client($port);
ok($slow->send("GET /?delay=2000 HTTP/1.1\r\nHost: x\r\n" .
    "Connection: close\r\n\r\n"), 'a slow request is sent');
ok(wait_for(sub { grep { /delay=2000/ } $blue->requests }),
    'the backend has the slow request');
$cut->signal('TERM');
my $t0 = time;
my $ready = wait_for(sub {
	my $x = http_get($sp, '/ready');
	return ($x->{status} // 0) == 503 ? $x : undef;
}, timeout => 2);
ok($ready, '/ready turns 503 after SIGTERM');
is($ready && $ready->{body}, "shutting down\n", '/ready says why');
$r = http_get($sp, '/live');
is($r->{status}, 200, '/live still answers during the grace period');
$r = http_get($port, '/');
ok($r->{error} || !$r->{complete}, 'new clients are refused meanwhile');
$r = http_get($sp, '/ready');
is($r->{status}, 503, '/ready stays 503 while the request runs');
$r = $slow->response(timeout => 5);
is($r->{status}, 200, 'the slow request finishes with 200');
ok(time - $t0 >= 1, 'it finished after /ready had turned');
ok(wait_for(sub { !$cut->alive }, timeout => 5),
    'cutover exits once the request is done');
is($cut->exit_status, 0, 'it exits 0');

# [::]:P for the endpoint and 127.0.0.1:P for a listener.
SKIP: {
	my $probe = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0,
	    Listen => 1);
	skip 'no IPv6 on this machine', 2 unless $probe;
	close $probe;
	my $p = free_port();
	my $cv = start_cutover(conf => <<"EOF");
[global]
status_listen = [::]:$p

[listener web]
bind = 127.0.0.1:$p

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}

[route all]
split = blue 100
EOF
	is(http_get($p, '/')->{status}, 200,
	    'a listener on 127.0.0.1 and the endpoint on [::] share a port');
	my $c = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $p,
	    Timeout => 5);
	my $line = '';
	if ($c) {
		print $c "GET /live HTTP/1.1\r\nHost: x\r\n" .
		    "Connection: close\r\n\r\n";
		$line = <$c> // '';
	}
	like($line, qr{^HTTP/1\.1 200 }, 'the endpoint answers over IPv6');
	$cv->stop;
}
