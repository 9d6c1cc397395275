#!/usr/bin/perl
# Graceful shutdown: on SIGTERM the proxy stops accepting, closes idle
# keep-alive connections, lets a request in flight finish and exits 0.

use strict;
use warnings;
use Test::More tests => 6;
use Cutover::Test;
use Time::HiRes qw(time sleep);

my $be = start_backend(name => 'blue');
my $port = free_port();
my $cv = start_cutover(conf => <<"EOF");
[global]
status_listen = off
shutdown_grace = 10s

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$be->port]}

[route app]
split = blue 1
EOF

my $idle = http_client($port);
my $r = $idle->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 200, 'an idle keep-alive client got its answer');

my $busy = http_client($port, timeout => 10);
$busy->send("GET /?delay=1500&size=1000 HTTP/1.1\r\nHost: x\r\n\r\n");
sleep 0.3;
my $t0 = time;
$cv->signal('TERM');
ok($idle->closed(timeout => 2), 'the idle connection is closed at once');
$r = $busy->response(timeout => 10);
ok($r->{status} == 200 && $r->{complete} && length $r->{body} == 1000,
    'the request in flight completes');
is($r->{headers}{connection}, 'close', 'and is told the connection closes');
my $st = $cv->wait_exit(timeout => 10);
is($st, 0, 'cutover exits 0');
ok(!defined http_client($port, timeout => 1), 'and no longer accepts');
