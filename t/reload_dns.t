#!/usr/bin/perl
# Names are resolved off the event loop.  cutover runs with a resolv.conf
# of its own (in a private mount namespace) that points at a DNS server
# of this test, which answers one name only after a delay.  A reload of a
# config naming that host, and "add server" with it, must leave traffic
# flowing while the answer is awaited; the admin answer comes once the
# work is done, in order with the client's next commands.  A name that
# does not resolve refuses the reload; SIGTERM during a slow load exits
# cleanly.

use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use Cutover::Test;

# cutover runs through a wrapper that gives it a resolv.conf of its own.
my $dir = tmpdir();
my $resolv = "$dir/resolv.conf";
plan skip_all => 'a private resolv.conf needs root, unshare(1) and mount(8)'
    unless $> == 0 && -x '/usr/bin/unshare' && system('unshare -m sh -c '
    . "'mount --bind /etc/hostname /etc/resolv.conf' 2>/dev/null") == 0;
plan tests => 28;

my $DELAY = 2;			# seconds the slow name takes
my $SLOW = 'slow.cutover.test';
my $MISSING = 'missing.cutover.test';

# A DNS server on a loopback address of port 53: $SLOW is 127.0.0.1 after
# $DELAY s, $MISSING and every other name does not exist.  Every query is
# counted in a file, so the test can tell the name was asked for.
my $dns_ip;
my $dns;
for (1 .. 20) {
	$dns_ip = join '.', 127, 53, 1 + int rand 250, 1 + int rand 250;
	$dns = IO::Socket::INET->new(Proto => 'udp', LocalAddr => $dns_ip,
	    LocalPort => 53, ReuseAddr => 1) and last;
}
die "cannot bind a DNS server on port 53: $!\n" unless $dns;
my $queries = tmpdir() . '/dns-queries';
my $dns_pid = fork // die "fork: $!\n";
if ($dns_pid == 0) {
	my @due;	# [time, reply, peer]
	my $sel = IO::Select->new($dns);
	my $stop = time + 120;
	while (time < $stop) {
		my $wait = @due ? $due[0][0] - time : 1;
		$wait = 0 if $wait < 0;
		if ($sel->can_read($wait)) {
			my $peer = $dns->recv(my $q, 512);
			my ($reply, $slow) = dns_reply($q);
			if (defined $reply) {
				push @due, [time + ($slow ? $DELAY : 0), $reply,
				    $peer];
				@due = sort { $a->[0] <=> $b->[0] } @due;
			}
		}
		while (@due && $due[0][0] <= time) {
			my $d = shift @due;
			$dns->send($d->[1], 0, $d->[2]);
		}
	}
	POSIX::_exit(0);
}
close $dns;
END { if ($dns_pid) { local $?; kill 'KILL', $dns_pid; waitpid $dns_pid, 0 } }

# The answer to query q, and whether it waits $DELAY s.
sub dns_reply {
	my ($q) = @_;
	return unless length $q > 12;
	my ($id) = unpack 'n', $q;
	my ($pos, @labels) = (12);
	while ($pos < length $q) {
		my $len = ord substr $q, $pos, 1;
		$pos++;
		last if $len == 0;
		push @labels, lc substr $q, $pos, $len;
		$pos += $len;
	}
	my ($type) = unpack 'n', substr $q, $pos, 2;
	my $question = substr $q, 12, $pos + 4 - 12;
	my $name = join '.', @labels;
	if (open my $fh, '>>', $queries) { print $fh "$name $type\n" }
	my $found = $name eq $SLOW;
	my $answer = '';
	$answer = pack('n n n N n', 0xc00c, 1, 1, 60, 4) . pack('C4', 127, 0, 0, 1)
	    if $found && $type == 1;
	my $flags = $found ? 0x8180 : 0x8183;
	return (pack('n6', $id, $flags, 1, length $answer ? 1 : 0, 0, 0)
	    . $question . $answer, $found);
}

open my $rf, '>', $resolv or die "$resolv: $!\n";
print $rf "nameserver $dns_ip\noptions timeout:5 attempts:1\n";
close $rf;
my $wrapper = "$dir/cutover-dns";
open my $wf, '>', $wrapper or die "$wrapper: $!\n";
print $wf "#!/bin/sh\nexec unshare -m sh -c 'mount --bind \"\$0\" "
    . "/etc/resolv.conf && exec \"\$\@\"' '$resolv' '$ENV{CUTOVER_BIN}' "
    . "\"\$\@\"\n";
close $wf;
chmod 0755, $wrapper;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $port = free_port();

sub conf {
	my ($extra) = @_;
	$extra //= '';
	return <<"EOF";
[global]
workers = 2
shutdown_grace = 10s

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}
$extra
[route app]
split = blue 100
EOF
}

# Runs sub while a client sends requests one after another; returns what
# sub returned, the number of requests, their errors and the longest one.
sub with_traffic {
	my ($sub) = @_;
	my $out = "$dir/traffic-" . int(rand 1e9);
	my $stop = "$out.stop";
	my $pid = fork // die "fork: $!\n";
	if ($pid == 0) {
		my ($n, $errors, $max) = (0, 0, 0);
		my $end = time + 30;
		while (!-e $stop && time < $end) {
			my $t0 = time;
			my $r = http_get($port, '/');
			my $t = time - $t0;
			$max = $t if $t > $max;
			$n++;
			$errors++ unless ($r->{status} // 0) == 200;
		}
		open my $fh, '>', $out or POSIX::_exit(1);
		print $fh "$n $errors $max\n";
		close $fh;
		POSIX::_exit(0);
	}
	sleep 0.3;
	my $t0 = time;
	my @ret = $sub->();
	my $took = time - $t0;
	sleep 0.2;
	open my $sf, '>', $stop or die "$stop: $!\n";
	close $sf;
	waitpid $pid, 0;
	open my $fh, '<', $out or die "$out: $!\n";
	my ($n, $errors, $max) = split ' ', scalar <$fh>;
	return { ret => \@ret, took => $took, n => $n, errors => $errors,
	    max => $max };
}

my $cv;
{
	local $ENV{CUTOVER_BIN} = $wrapper;
	$cv = start_cutover(conf => conf());
}
is(http_get($port, '/')->{status}, 200, 'cutover serves, in its namespace');

# 1. A reload whose config names the slow host.
$cv->rewrite(conf("server = s1 $SLOW:@{[$green->port]}\n"));
my $t = with_traffic(sub { $cv->admin('reload', timeout => 15) });
is($t->{ret}[0], "ok\n", 'reload naming a slow host: ok');
ok($t->{took} >= $DELAY - 0.2,
    sprintf('the answer waited for the name (%.2f s)', $t->{took}));
ok($t->{n} >= 10, "requests went on meanwhile ($t->{n})");
is($t->{errors}, 0, 'none failed');
ok($t->{max} < $DELAY / 2,
    sprintf('the longest took %.3f s: the event loop never waited for '
    . 'DNS', $t->{max}));
like($cv->admin('show pools') // '', qr/s1 .*127\.0\.0\.1:\d+|s1 .*\Q$SLOW\E/,
    'the new server is in the pool');
my %seen;
for (1 .. 20) {
	my $r = http_get($port, '/');
	$seen{$r->{headers}{'x-backend'} // '?'}++;
}
ok($seen{green}, 'and it takes traffic');

# 2. add server with the slow host, then a command behind it.
$t = with_traffic(sub {
	my $s = IO::Socket::UNIX->new(Peer => $cv->admin_socket)
	    or return 'no socket';
	print $s "add server blue s2 $SLOW:@{[$green->port]} weight=2\n"
	    . "show pools\n";
	local $/;
	my $all = '';
	my $sel = IO::Select->new($s);
	my $end = time + 15;
	while ($all !~ /\n\n.*\n\n\z/s && $sel->can_read($end - time)) {
		sysread($s, $all, 65536, length $all) or last;
	}
	return $all;
});
like($t->{ret}[0], qr/\Aok\n\n/, 'add server with a slow host: ok');
like($t->{ret}[0], qr/\Aok\n\n.*\bs2\b/s,
    'the pipelined show pools comes after it and shows s2');
ok($t->{took} >= $DELAY - 0.2,
    sprintf('the answer waited for the name (%.2f s)', $t->{took}));
ok($t->{n} >= 10 && $t->{errors} == 0,
    "requests went on meanwhile ($t->{n}, $t->{errors} errors)");
ok($t->{max} < $DELAY / 2, sprintf('the longest took %.3f s', $t->{max}));

# 3. A name that does not exist: the reload is refused, traffic goes on.
$cv->rewrite(conf("server = s1 $MISSING:@{[$green->port]}\n"));
my $ans = $cv->admin('reload', timeout => 15) // '';
like($ans, qr/\Aerror: reload refused\n.*cannot resolve host/s,
    'a name that does not resolve: reload refused, and why');
is(http_get($port, '/')->{status}, 200, 'the running config serves on');
like($cv->ctl('show', 'pools')->{out}, qr/\bs2\b/,
    'with the server added at run time');

# 4. Reloads asked for while one resolves: each is answered, the later
# two by one more load, which reads the file after they asked.
$cv->rewrite(conf("server = s1 $SLOW:@{[$green->port]}\n"));
my $mark4 = $cv->log_mark;
my @socks = map {
	my $s = IO::Socket::UNIX->new(Peer => $cv->admin_socket);
	print $s "reload\n" if $s;
	sleep 0.2;
	$s;
} 1 .. 3;
my @answers = map {
	my $s = $_;
	my $a = '';
	my $sel = IO::Select->new($s);
	my $end = time + 20;
	while ($a !~ /\n\n\z/ && $sel->can_read($end - time)) {
		sysread($s, $a, 4096, length $a) or last;
	}
	$a;
} @socks;
is_deeply(\@answers, ["ok\n\n", "ok\n\n", "ok\n\n"],
    'three reloads asked for at once are all answered ok');
my $loads = () = substr($cv->log, $mark4) =~ /config reloaded/g;
is($loads, 2, 'the two asked for during the first load ran as one');

# 5. SIGHUP works the same way.  The server added at run time is carried
# over with the address it was resolved to: no name is asked for again.
my $slow_queries = sub {
	open my $qf, '<', $queries or return 0;
	return scalar grep { /^\Q$SLOW\E / } <$qf>;
};
my $before = $slow_queries->();
$cv->rewrite(conf());
my $mark = $cv->log_mark;
$cv->reload;
ok($cv->wait_log(qr/config reloaded/, from => $mark), 'SIGHUP reloads');
my $pools = $cv->admin('show pools') // '';
ok($pools !~ /\bs1\b/ && $pools =~ /\bs2\b/,
    's1 is gone again, s2 (added at run time) stays');
is($slow_queries->(), $before, 'and s2 kept its address without a query');

# 6. SIGTERM while a load waits for DNS, and an admin client's reload
# waits behind it with more commands next: a clean exit, the reload's
# refusal sent, nothing read after it once the loop has ended.
$cv->rewrite(conf("server = s1 $SLOW:@{[$green->port]}\n"));
$mark = $cv->log_mark;
$cv->reload;
sleep 0.3;
my $late = IO::Socket::UNIX->new(Peer => $cv->admin_socket);
print $late "reload\nset server blue/b1 maint\n"
    . "add server blue s9 127.0.0.1:@{[$green->port]}\n" if $late;
sleep 0.3;
$cv->signal('TERM');
is($cv->wait_exit(timeout => 15), 0, 'SIGTERM during a slow load: exit 0');
unlike(substr($cv->log, $mark), qr/config reloaded/,
    'the load that finished after the shutdown was not applied');
like(substr($cv->log, $mark), qr/reload refused: shutting down/,
    'it was refused as shutting down');
unlike(substr($cv->log, $mark), qr/server s9 .*added|b1.* maint/,
    'and the commands queued behind it did not run');
my $got = '';
if ($late) {
	my $sel = IO::Select->new($late);
	while ($sel->can_read(2)) {
		sysread($late, $got, 4096, length $got) or last;
	}
}
is($got, "error: reload refused\nshutting down\n\n",
    'the admin client got that answer before the socket closed');

open my $qf, '<', $queries or die "$queries: $!\n";
my $asked = join '', <$qf>;
like($asked, qr/^\Q$SLOW\E 1$/m, 'cutover asked our DNS server for A');
like($asked, qr/^\Q$MISSING\E /m, 'and for the missing name');
