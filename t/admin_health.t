#!/usr/bin/perl
# Servers added and deleted over the admin socket in a pool with active
# health checks: an added server starts "checking", is checked and takes
# traffic once up, and comes back checked after a restart; a deleted one
# is no longer checked.

use strict;
use warnings;
use Test::More tests => 11;
use JSON::PP;
use Time::HiRes qw(sleep);
use Cutover::Test;

my $b1 = start_backend(name => 'b1');
my $b2 = start_backend(name => 'b2');
my $port = free_port();
my $dir = tmpdir();

my $conf = <<"EOF";
[global]
status_listen = off
state_file = $dir/health.state

[listener web]
bind = 127.0.0.1:$port

[pool app]
server = s1 127.0.0.1:@{[$b1->port]}
health_path = /health
health_interval = 100ms
health_timeout = 100ms
health_rise = 2
health_fall = 2

[route app]
split = app 1
EOF
my $cv = start_cutover(conf => $conf);

# The health of a server of the pool, or undef.
sub health {
	my ($name) = @_;
	my $j = eval { decode_json($cv->admin('show pools json')) } or
	    return undef;
	my ($s) = grep { $_->{name} eq $name } @{$j->{pools}[0]{servers}};
	return $s ? $s->{health} : undef;
}

sub health_checks {
	return scalar grep { / \/health$/ } $b2->requests;
}

ok(wait_for(sub { (health('s1') // '') eq 'up' }), 's1 is up');
is($cv->admin("add server app s2 127.0.0.1:@{[$b2->port]}"), "ok\n",
    'add server to a pool with health checks');
is(health('s2'), 'checking', 'the added server starts checking');
ok(wait_for(sub { (health('s2') // '') eq 'up' }),
    'and goes up once it passes its checks');
ok(health_checks() >= 2, 'the checks reached it');
my %n;
for (1 .. 10) {
	$n{http_get($port, '/')->{headers}{'x-backend'} // 'error'}++;
}
is($n{b2} // 0, 5, 'then it takes its share of traffic');

# Restart: the added server is back, checked anew.
$cv->stop;
$cv = start_cutover(conf => $conf);
ok(defined health('s2'), 'after a restart the added server is back');
ok(wait_for(sub { (health('s2') // '') eq 'up' }), 'and checked up again');

# Delete it: its checks stop.
is($cv->admin('set server app/s2 maint'), "ok\n", 's2 to maint');
is($cv->admin('del server app/s2'), "ok\n", 'del server');
sleep 0.3;
my $before = health_checks();
sleep 0.5;
is(health_checks(), $before, 'the deleted server is no longer checked');
