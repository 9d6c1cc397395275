#!/usr/bin/perl
# JSON answers are UTF-8 whatever bytes the config holds: a match_header
# value in UTF-8 comes out as those characters in /status.json and in
# show routes json (not each byte as a character of its own), and a byte
# that is no UTF-8 comes out as \u00XX, so that a strict parser takes the
# whole document.

use strict;
use warnings;

use Encode ();
use JSON::PP ();
use Test::More tests => 8;

use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $port = free_port();
# "caf\xc3\xa9" is "café" in UTF-8; \xff is no UTF-8 at all.
my $cut = start_cutover(conf => <<"EOF");
[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}

[route all]
path_prefix = /caf\xc3\xa9
split = blue 100
match_header = X-Name: caf\xc3\xa9 \xff -> blue
EOF

# The document as bytes: strict UTF-8, then JSON.
sub strict_json {
	my ($bytes) = @_;
	my $ok = eval {
		Encode::decode('UTF-8', my $copy = $bytes, Encode::FB_CROAK);
		1;
	};
	return (undef, 'not UTF-8') unless $ok;
	my $d = eval { JSON::PP->new->utf8->decode($bytes) };
	return ($d, $@);
}

my $r = http_get($cut->status_port, '/status.json');
is($r->{status}, 200, '/status.json answers');
my ($d, $err) = strict_json($r->{body});
ok($d, '/status.json is UTF-8 JSON') or diag($err);
my ($route) = grep { $_->{name} eq 'all' } @{$d->{routes} // []};
is($route->{path_prefix}, "/caf\x{e9}", 'a UTF-8 path_prefix reads as such');
is($route->{matches}[0]{value}, "caf\x{e9} \x{ff}",
    'a byte that is no UTF-8 reads as \u00XX');

my $a = $cut->admin('show routes json');
ok(defined $a, 'show routes json answers');
($d, $err) = strict_json($a // '');
ok($d, 'its answer is UTF-8 JSON') or diag($err);
($route) = grep { $_->{name} eq 'all' } @{$d->{routes} // []};
is($route->{path_prefix}, "/caf\x{e9}",
    'a UTF-8 path_prefix is not taken byte by byte');
is($route->{matches}[0]{value}, "caf\x{e9} \x{ff}",
    'nor is a match value');
