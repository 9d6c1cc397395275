#!/usr/bin/perl
# Sticky routing through the proxy: a user keyed by cookie, header or
# client address stays on one pool, sticky_cookie_set issues the cookie to
# new users, and users only move from stable to canary as the share grows.

use strict;
use warnings;
use Test::More tests => 7;
use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $port = free_port();

sub conf {
	my ($w) = @_;
	return <<"EOF";
[global]
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}

[pool green]
server = g1 127.0.0.1:@{[$green->port]}

[route cookie]
path_prefix = /c
split = blue @{[100 - $w]}, green $w
sticky = cookie uid
sticky_cookie_set = on

[route header]
path_prefix = /h
split = blue 50, green 50
sticky = header X-User

[route ip]
path_prefix = /i
split = blue 50, green 50
sticky = client_ip
EOF
}

my $cv = start_cutover(conf => conf(30));

my (%first, $stable) = ();
$stable = 1;
for my $u (1 .. 100) {
	my %seen;
	for (1 .. 3) {
		my $r = http_get($port, '/c', Cookie => "uid=user$u");
		$seen{$r->{headers}{'x-backend'}}++;
	}
	$stable = 0 if keys %seen != 1;
	($first{$u}) = keys %seen;
}
ok($stable, 'each of 100 cookie users stays on one pool');
my $g = grep { $first{$_} eq 'green' } keys %first;
ok($g > 10 && $g < 50, "about 30% of users are on green ($g of 100)");

my $r = http_get($port, '/c');
my ($cookie) = ($r->{headers}{'set-cookie'} // '') =~ /^uid=(\d+);/;
ok(defined $cookie, 'a new user is issued a sticky cookie');
my $back = $r->{headers}{'x-backend'};
my $same = 1;
for (1 .. 5) {
	my $r2 = http_get($port, '/c', Cookie => "uid=$cookie");
	$same = 0 if $r2->{headers}{'x-backend'} ne $back;
	$same = 0 if defined $r2->{headers}{'set-cookie'};
}
ok($same, 'and with it stays where it landed, without a new cookie');

my %h;
$h{http_get($port, '/h', 'X-User' => 'alice')->{headers}{'x-backend'}}++
    for 1 .. 10;
is(scalar keys %h, 1, 'a sticky header keeps one user on one pool');
my %i;
$i{http_get($port, '/i')->{headers}{'x-backend'}}++ for 1 .. 10;
is(scalar keys %i, 1, 'sticky client_ip keeps one address on one pool');

# Raise the canary share: users only move from blue to green.
$cv->stop;
$cv = start_cutover(conf => conf(60));
my $moved_back = 0;
for my $u (1 .. 100) {
	my $r2 = http_get($port, '/c', Cookie => "uid=user$u");
	$moved_back++ if $first{$u} eq 'green' &&
	    $r2->{headers}{'x-backend'} eq 'blue';
}
is($moved_back, 0, 'going from 30% to 60% moves no user back to blue');
