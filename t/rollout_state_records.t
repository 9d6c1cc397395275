#!/usr/bin/perl
# What a rollout record of the state file must carry across a restart
# besides its step: a `rollout confirm` that waived the step's latency
# ratio stays given (the rollout does not pause again in that step), and
# a record longer than 1 KiB (a split of pools with long names) is read
# back instead of making the whole file ignored.

use strict;
use warnings;
use Test::More tests => 12;
use Time::HiRes qw(time sleep);
use Cutover::Test;
use Cutover::Rollout;

my $blue = start_backend(name => 'blue');
my $lag = start_backend(name => 'lag', args => ['-d', 40]);
my $port = free_port();
my $dir = tmpdir();
my $state = "$dir/cutover.state";

# Six pools of 200-character names, idle in the split of route long.
my @long = map { ('p' x 199) . $_ } 1 .. 6;
my $pools = join '', map { "[pool $_]\nserver = s 127.0.0.1:" .
    $blue->port . "\n" } @long;
my $split = join ', ', map { "$_ 0" } @long;

my $conf = write_conf(<<"EOF");
[global]
state_file = $state
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}
[pool lag]
server = l1 127.0.0.1:${\ $lag->port}
$pools
[route ratio]
path_prefix = /ratio
split = blue 100, lag 0

[rollout ratio]
canary = lag
steps = 50, 100
interval = 1m
min_requests = 10
max_latency_ratio = 2

[route long]
path_prefix = /long
split = blue 100, $split

[rollout long]
canary = $long[0]
steps = 10, 100
interval = 1m
EOF

# Sends traffic to route ratio until its rollout leaves the given state.
sub drive {
	my ($cv, $state, $timeout) = @_;
	my $st;
	my $deadline = time + $timeout;
	while (time < $deadline) {
		$st = rollout_status($cv, 'ratio');
		return $st if $st->{state} ne $state;
		run_parallel(port => $port, path => '/ratio', conns => 4,
		    requests => 5);
	}
	return $st;
}

my $cv = start_cutover(conf => $conf);
$cv->admin('rollout start ratio');
$cv->admin('rollout start long');
my $st = drive($cv, 'running', 10);
ok($st->{state} eq 'paused' && $st->{awaiting_confirm},
    'a canary twice as slow pauses for confirm');
is($cv->admin('rollout confirm ratio'), "ok\n", 'confirm');
$cv->stop;

my $text = do { open my $fh, '<', $state; local $/; <$fh> };
like($text, qr/^rollout ratio lag running\+confirmed 0 \d+ \d+ 0 /m,
    'the state file says the step was confirmed');
my ($line) = $text =~ /^(rollout long .*)$/m;
ok(defined $line && length($line) > 1024,
    'the record of route long is longer than 1 KiB') or
    diag(defined $line ? length($line) : 'no record');

$cv = start_cutover(conf => $conf);
$st = rollout_status($cv, 'ratio');
ok($st->{state} eq 'running' && $st->{step} == 1,
    'after a restart the confirmed rollout runs at its step');
$st = drive($cv, 'running', 3);
is($st->{state}, 'running', 'and its step is not paused again');
unlike($cv->log, qr/state file.*ignored/, 'the state file is not ignored');
$st = rollout_status($cv, 'long');
ok($st->{state} eq 'running' && $st->{step} == 1,
    'the rollout of the long record is restored');
is_deeply($st->{rollback_point},
    { blue => 100, map { ($_ => 0) } @long },
    'with its whole rollback point');
like(split_of($cv, 'long'), qr/^blue:90 \Q$long[0]\E:10 /,
    'and its split');

# The mark goes with the rollout's end.
is($cv->admin('rollout abort ratio'), "ok\n", 'abort');
$cv->stop;
unlike(do { open my $fh, '<', $state; local $/; <$fh> },
    qr/^rollout ratio .*confirmed/m, 'an ended rollout is not confirmed');
