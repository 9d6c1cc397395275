#!/usr/bin/perl
# batch_wait: the event loop that sleeps instead of blocking under dense
# traffic loses and mixes up nothing.  Dense and lone traffic, small and
# large responses, a body streamed through the buffers' watermarks, reloads
# that turn it on and off under load, and a graceful shutdown with
# requests in flight.  (Its speed is measured by scripts/bench, not here.)

use strict;
use warnings;
use Test::More tests => 16;
use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $port = free_port();

sub conf {
	my ($wait) = @_;
	return <<"EOF";
[global]
batch_wait = $wait
shutdown_grace = 10s

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}
keepalive = 64

[pool green]
server = g1 127.0.0.1:@{[$green->port]}
keepalive = 64

[route app]
split = blue 90, green 10
EOF
}

my $cv = start_cutover(conf => conf('200us'));

# Dense traffic: 50 connections at once, the loop batching.
my $res = run_parallel(port => $port, conns => 50, requests => 60);
is($res->{ok}, 3000, '3,000 requests over 50 connections answered');
is($res->{errors}, 0, 'no errors');
is($res->{backends}{blue} // 0, 2700, 'exactly 90% to blue');
is($res->{backends}{green} // 0, 300, 'exactly 10% to green');
my ($sleeps) = ($cv->admin('show info') // '') =~ /; batch sleeps ([\d, ]+)\)/;
my $slept = 0;
$slept += $_ for split /, /, $sleeps // '';
ok($slept > 0, "the loop slept instead of blocking ($slept times)");

$res = run_parallel(port => $port, conns => 50, requests => 20,
    path => '/?size=16384');
is($res->{ok}, 1000, '1,000 responses of 16 KiB over 50 connections');
is($res->{errors}, 0, 'no errors');

# A lone client: every message comes after the loop has caught up.
$res = run_parallel(port => $port, conns => 1, requests => 200);
is($res->{ok}, 200, 'a lone keep-alive client: 200 requests answered');

my $r = http_get($port, '/?size=3000000');
is($r->{status}, 200, 'a 3 MB response');
ok($r->{body_length} == 3000000 && $r->{body} eq pattern(0, 3000000),
    'arrives whole and in order through the buffers');

# Reloads under load turn batch_wait on (at its maximum) and off.
# Rounds of 2,000 requests until at least 4 reloads ran (at most 20).
my $mark = $cv->log_mark;
my %sum = (requests => 0, ok => 0, errors => 0);
my $reloads = 0;
$cv->reloading(sub { conf($_[0] % 2 ? 'off' : '1ms') }, sub {
	for (1 .. 20) {
		my $r = run_parallel(port => $port, conns => 20, requests => 100);
		$sum{$_} += $r->{$_} for keys %sum;
		$reloads = () = substr($cv->log, $mark) =~ /config reloaded/g;
		last if $reloads >= 4;
	}
});
is($sum{ok}, $sum{requests},
    "$reloads reloads during $sum{requests} requests: all answered");
is($sum{errors}, 0, 'none failed');
ok($reloads >= 4 && $cv->log !~ /reload refused/,
    'several reloads ran, none refused');

# Back to 200us; a graceful shutdown while requests are in flight.
$cv->rewrite(conf('200us'));
$mark = $cv->log_mark;
$cv->reload;
ok($cv->wait_log(qr/config reloaded/, from => $mark), 'reloaded to 200us');
is($cv->terminate_busy($port, delay => 500, settle => 0.2), 4,
    'SIGTERM: the four requests in flight complete');
is($cv->wait_exit(timeout => 10), 0, 'and cutover exits 0');
