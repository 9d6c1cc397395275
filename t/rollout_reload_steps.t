#!/usr/bin/perl
# A reload that edits a running rollout's steps serves the new weight of
# the current step at once, as a restart with edited steps does: the
# split, the responses counted per backend and rollout status agree,
# instead of the status naming the new weight while the old one serves.

use strict;
use warnings;
use Test::More tests => 10;
use Cutover::Test;
use Cutover::Rollout;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $port = free_port();
my $dir = tmpdir();
my $conf = sub {
	my ($steps) = @_;
	return blue_green_conf($port, $blue, $green) . <<"EOF";
[global]
state_file = $dir/state

[route app]
split = blue 100, green 0

[rollout app]
canary = green
steps = $steps
interval = 1h
EOF
};

# Responses per backend over 100 requests, as "blue:N green:N".
sub served {
	my %n = (blue => 0, green => 0);
	$n{http_get($port, '/')->{headers}{'x-backend'} // 'none'}++
	    for 1 .. 100;
	return join ' ', map { "$_:$n{$_}" } sort keys %n;
}

my $cv = start_cutover(conf => $conf->('10, 50, 100'));
is($cv->admin('rollout start app'), "ok\n", 'the rollout starts');
is(served(), 'blue:90 green:10', 'the first step serves 10%');

$cv->rewrite($conf->('30, 60, 100'));
is($cv->admin('reload'), "ok\n", 'a reload edits the steps');
my $st = rollout_status($cv, 'app');
is("$st->{state} $st->{step} $st->{step_weight}", 'running 1 30',
    'the rollout stays at step 1, whose weight is now 30');
is(split_of($cv, 'app'), 'blue:70 green:30', 'the split gives it 30');
is($st->{weight}, 30, 'rollout status says the canary has 30%');
is(served(), 'blue:70 green:30', 'and 30% is what is served');

# Edited while stopped: the restart serves the edited step too.
$cv->stop;
$cv = start_cutover(conf => $conf->('20, 100'));
$st = rollout_status($cv, 'app');
is("$st->{state} $st->{step} $st->{step_weight}", 'running 1 20',
    'after a restart on edited steps, step 1 weighs 20');
is(split_of($cv, 'app'), 'blue:80 green:20', 'the split gives it 20');
is(served(), 'blue:80 green:20', 'and 20% is what is served');
