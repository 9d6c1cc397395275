#!/usr/bin/perl
# Reload under continuous load: while clients send requests over
# keep-alive connections and over a new connection each, 50 reloads
# (SIGHUP and the admin command in turn) switch between two valid configs
# with different splits.  No request may fail and no connection may be
# reset, and after the last reload the split is exactly the last config's.

use strict;
use warnings;
use Test::More tests => 9;
use POSIX ();
use Time::HiRes qw(time sleep);
use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $port = free_port();
my $dir = tmpdir();
my $sock = "$dir/load.sock";
my $reloads = 50;

sub conf {
	my ($split) = @_;
	return <<"EOF";
[global]
status_listen = off
admin_socket = $sock
state_file = $dir/load.state

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}

[pool green]
server = g1 127.0.0.1:@{[$green->port]}

[route app]
split = $split
EOF
}

my @splits = ('blue 90, green 10', 'blue 20, green 80');
my $cv = start_cutover(conf => conf($splits[1]));
my $path = $cv->conf_path;

sub spew {
	my ($p, $text) = @_;
	open my $fh, '>', "$p.tmp" or die "$p: $!";
	print $fh $text;
	close $fh;
	rename "$p.tmp", $p or die "$p: $!";
}

# Runs code in a child that reports a line in a file and leaves without
# the harness's teardown.
sub child {
	my ($out, $code) = @_;
	my $pid = fork // die "fork: $!";
	return $pid if $pid;
	my $res = eval { $code->() } // "died: $@";
	open my $fh, '>', $out or POSIX::_exit(1);
	print $fh $res;
	close $fh;
	POSIX::_exit(0);
}

sub slurp {
	my ($p) = @_;
	open my $fh, '<', $p or return '';
	local $/;
	return <$fh>;
}

# The reloader: waits for the load to start, then 50 reloads, ~40 ms
# apart, alternating SIGHUP and the admin command.
my $t_start = time;
my $reloader = child("$dir/reloader.out", sub {
	sleep 0.3;
	my ($ok, $first) = (0, time);
	for my $i (1 .. $reloads) {
		spew($path, conf($splits[$i % 2]));
		if ($i % 2) {
			kill 'HUP', $cv->pid;
			$ok++;
		} else {
			my $a = $cv->admin('reload') // '';
			$ok++ if $a eq "ok\n";
		}
		sleep 0.04;
	}
	return "$ok $first " . time;
});

# Load in rounds until the reloader is done, then one round more.
sub load {
	my (%o) = @_;
	my %sum = map { $_ => 0 } qw(requests ok errors transport_errors);
	my $last = 0;
	while (!$last) {
		$last = -e "$dir/reloader.out";
		my $res = run_parallel(port => $port, timeout => 120, %o);
		$sum{$_} += $res->{$_} for keys %sum;
	}
	return \%sum;
}

# New connections, one request each.
my $closer = child("$dir/closer.out", sub {
	my $res = load(conns => 5, requests => 20, request =>
	    "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	return join ' ', map { $res->{$_} } qw(requests ok errors
	    transport_errors);
});

# Keep-alive connections in this process.
my $ka = load(conns => 20, requests => 50);
my $t_ka = time;
waitpid($reloader, 0);
waitpid($closer, 0);

my ($rok, $rfirst, $rlast) = split ' ', slurp("$dir/reloader.out");
my ($cn, $cok, $cerr, $ctr) = split ' ', slurp("$dir/closer.out");
is($rok, $reloads, "$reloads reloads were sent");
ok(defined $rlast && $rlast < $t_ka,
    'the reloads all happened while the keep-alive load ran');
is($ka->{errors}, 0, "no keep-alive request failed ($ka->{requests} sent)");
is($ka->{transport_errors}, 0, 'no keep-alive connection was reset');
is("$cerr/$ctr", '0/0', "no request on a new connection failed or was "
    . "reset (@{[$cn // '?']} sent)");
ok(wait_for(sub { my @l = $cv->log =~ /config reloaded from/g;
    @l == $reloads }), "the log shows $reloads reloads");
unlike($cv->log, qr/reload refused/, 'none was refused');

# After the last reload (an even one: admin reload of $splits[0]).
my $c = http_client($port);
my %n;
for (1 .. 100) {
	my $r = $c->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	$n{$r->{headers}{'x-backend'} // 'error'}++;
}
is(($n{blue} // 0) . '/' . ($n{green} // 0), '90/10',
    'after the last reload the split is exactly the last config\'s');
ok($cv->alive, 'cutover runs');
note(sprintf('reload under load: %d requests (%d keep-alive, %d on new '
    . 'connections), %d failed, %d reloads in %.1f s',
    $ka->{requests} + ($cn // 0), $ka->{requests}, $cn // 0,
    $ka->{errors} + ($cerr // 0), $rok // 0, $t_ka - $t_start));
