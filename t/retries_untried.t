#!/usr/bin/perl
# A retry goes to a server the request has not been tried on: with two
# refusing servers of weight 5 and a good one of weight 1, and retries = 2,
# the three attempts of a request must not be spent on the refusing two
# (the first, the second, the first again) while the good one is never
# tried.  Breakers are kept closed so that only the retries decide.

use strict;
use warnings;

use Test::More;

use Cutover::Test;

plan tests => 2;

my $good = start_backend(name => 'good');
my ($d1, $d2) = (free_port(), free_port());
my $port = free_port();

my $cut = start_cutover(conf => <<"EOF");
[global]
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool app]
server = d1 127.0.0.1:$d1 weight=5
server = d2 127.0.0.1:$d2 weight=5
server = good 127.0.0.1:${\ $good->port}
breaker_failures = 10000
retries = 2

[route app]
split = app 100
EOF

my %st;
$st{http_get($port, '/')->{status} // 0}++ for 1 .. 20;
is($st{200} // 0, 20, 'every request reached the good server')
    or diag explain \%st;
my $tries = () = $cut->log =~ /server d\d, client [^:]+: cannot connect/g;
ok($tries <= 40,
    "no request tried a refusing server twice ($tries tries for 20)");

$cut->stop;
