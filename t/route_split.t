#!/usr/bin/perl
# Routing through the real proxy: an exact 95/5 split, header and cookie
# canary rules, route choice by host and path prefix, 404 without a
# route, routes bound to a listener served on that listener only, and
# keep-alive reuse of upstream connections.

use strict;
use warnings;
use Test::More tests => 19;
use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $api = start_backend(name => 'api');
my $port = free_port();
my $iport = free_port();

my $cv = start_cutover(conf => <<"EOF");
[global]
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[listener internal]
bind = 127.0.0.1:$iport

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}

[pool green]
server = g1 127.0.0.1:@{[$green->port]}

[pool api]
server = a1 127.0.0.1:@{[$api->port]}

[route app]
host = app.test
split = blue 95, green 5
match_header = X-Canary: 1 -> green
match_header = X-Beta -> green
match_cookie = canary=yes -> green

[route app-api]
host = app.test
path_prefix = /api/
split = api 1

[route wild]
host = *.example.test
split = green 1

# Served on the internal listener only; another on both, by name.
[route ops]
listener = internal
path_prefix = /ops/
split = api 1

[route both]
listener = internal
listener = web
path_prefix = /both/
split = green 1
EOF

# One keep-alive connection makes 200 requests: exactly 10 go to green.
my $c = http_client($port);
my %n;
for (1 .. 200) {
	my $r = $c->request("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n");
	$n{$r->{headers}{'x-backend'} // 'error'}++;
}
is($n{green} // 0, 10, 'split blue 95, green 5 sends exactly 10 of 200 '
    . 'requests to green');
is($n{blue} // 0, 190, 'and the other 190 to blue');

my $r = http_get($port, '/', Host => 'app.test', 'X-Canary' => '1');
is($r->{headers}{'x-backend'}, 'green', 'X-Canary: 1 lands on green');
$r = http_get($port, '/', Host => 'app.test', 'X-Canary' => '2');
my $r2 = http_get($port, '/', Host => 'app.test', 'X-Canary' => '2');
ok(grep({ $_->{headers}{'x-backend'} eq 'blue' } $r, $r2),
    'X-Canary with another value follows the split');
$r = http_get($port, '/', Host => 'app.test', 'X-Beta' => 'anything');
is($r->{headers}{'x-backend'}, 'green', 'presence of X-Beta lands on green');
my $all = 1;
for (1 .. 20) {
	$r = http_get($port, '/', Host => 'app.test',
	    Cookie => 'a=b; canary=yes; c=d');
	$all = 0 if ($r->{headers}{'x-backend'} // '') ne 'green';
}
ok($all, 'cookie canary=yes among other cookies always lands on green');

$r = http_get($port, '/api/users', Host => 'APP.test:8080');
is($r->{headers}{'x-backend'}, 'api',
    'the longest path prefix wins, host compared without case and port');
$r = http_get($port, '/apix', Host => 'app.test');
isnt($r->{headers}{'x-backend'}, 'api', '/apix is not under /api/');
$r = http_get($port, '/', Host => 'deep.www.example.test');
is($r->{headers}{'x-backend'}, 'green', 'a wildcard host matches');
$r = http_get($port, '/', Host => 'other.test');
is($r->{status}, 404, 'no route gives 404');
like($r->{body}, qr/404/, 'with a short body');
$r = http_request($port, "GET http://app.test/api/x HTTP/1.1\r\n"
    . "Host: app.test\r\nConnection: close\r\n\r\n");
is($r->{headers}{'x-backend'}, 'api',
    'an absolute-form target routes by its own authority');

# A route's listener key: an internal route is not reachable from the
# public listener, while routes without the key are served on both.
$r = http_get($iport, '/ops/x', Host => 'any.test');
is($r->{headers}{'x-backend'}, 'api',
    'a route bound to a listener is served there');
$r = http_get($port, '/ops/x', Host => 'any.test');
is($r->{status}, 404, 'and is not reachable from another listener (404)');
is(scalar(grep { m{GET /ops/} } $api->requests), 1,
    'the request on the other listener reached no server');
$r = http_get($iport, '/', Host => 'app.test', 'X-Canary' => '1');
is($r->{headers}{'x-backend'}, 'green',
    'a route without listener is served on every listener');
ok((http_get($port, '/both/x')->{headers}{'x-backend'} // '') eq 'green' &&
    (http_get($iport, '/both/x')->{headers}{'x-backend'} // '') eq 'green',
    'a route naming two listeners is served on both');

# Upstream keep-alive: many client connections, few server connections.
# Each worker keeps its own idle connections, and client connections are
# dealt to the workers in turn: one upstream connection per worker.
my ($workers) = $cv->admin('show info') =~ /^workers: (\d+)/m;
my %conns;
for (1 .. 30) {
	$r = http_get($port, '/api/k', Host => 'app.test');
	$conns{$r->{headers}{'x-conn'}}++;
}
is(scalar keys %conns, $workers // 1, '30 requests on new client '
    . 'connections reuse one upstream connection per worker');
is(scalar(grep { m{GET /api/k} } $api->requests), 30,
    'the server saw each of them once');
