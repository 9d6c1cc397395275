#!/usr/bin/perl
# A reload that renames a [listener] or drops one: the client connections
# accepted before go on, and each next request moves to the new config
# (cutover.conf(5), "Reloads").  A renamed listener's connections belong
# to the listener that now binds their address, with its routes and its
# forwarded_headers; a dropped listener's are taken by the routes that
# name no listener and keep forwarding as their listener did.

use strict;
use warnings;
use Test::More tests => 12;
use Time::HiRes qw(sleep);
use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my ($p1, $p2) = (free_port(), free_port());

sub conf {
	my (%o) = @_;
	my $c = <<"EOF";
[listener $o{first}]
bind = 127.0.0.1:$p1
EOF
	$c .= <<"EOF" if $o{second};
[listener back]
bind = 127.0.0.1:$p2
forwarded_headers = off
EOF
	$c .= <<"EOF";
[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}

[pool green]
server = g1 127.0.0.1:@{[$green->port]}

[route only]
listener = $o{first}
path_prefix = /only
split = green 100

[route app]
split = blue 100
EOF
	return $c;
}

my $cv = start_cutover(conf => conf(first => 'web', second => 1));
my $get = "GET /?headers=1 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n";
my $only = "GET /only?headers=1 HTTP/1.1\r\nHost: x\r\n\r\n";

my $ka = http_client($p1);
my $held = http_client($p2);
is($ka->request($only)->{headers}{'x-backend'}, 'green',
    'before: the route bound to listener web takes its connection');
like($held->request($get)->{body}, qr/^X-Forwarded-For: 10\.9\.9\.9\r$/m,
    'before: listener back (forwarded_headers = off) passes X-Forwarded-For as is');

# Idle past 20 ms, both connections are reduced to their sockets and a
# small record, which must carry what the session knew.
sleep(0.1);

# web becomes www on the same address; back goes.
$cv->rewrite(conf(first => 'www'));
is($cv->admin('reload'), "ok\n", 'a reload renaming web to www and dropping back: ok');

my $r = $ka->request($only);
is($r->{status}, 200, 'a connection accepted on web: its next request is answered');
is($r->{headers}{'x-backend'}, 'green',
    '... under www, the listener now on its address, whose route takes it');
$r = $ka->request($get);
like($r->{body}, qr/^X-Forwarded-For: 10\.9\.9\.9, 127\.0\.0\.1\r$/m,
    '... with www\'s forwarded_headers');
is(http_client($p1)->request($only)->{headers}{'x-backend'}, 'green',
    'a new connection to the renamed listener alike');

$r = $held->request($get);
is($r->{status}, 200, 'a connection accepted on the dropped listener goes on');
like($r->{body}, qr/^X-Forwarded-For: 10\.9\.9\.9\r$/m,
    '... forwarding as its listener did');
is($held->request($only)->{headers}{'x-backend'}, 'blue',
    '... and a route bound to another listener does not take it');
ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p2", Timeout => 1),
    'the dropped listener\'s address refuses new connections');
unlike($cv->log, qr/listener no longer configured/, 'no request refused');
