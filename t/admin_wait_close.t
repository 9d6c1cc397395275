#!/usr/bin/perl
# An admin client that closes its connection while its command waits for
# a name lookup (a reload, an add server) frees its place at once, so
# that clients that give up and try again cannot use up the 16 places
# (proxy/admin.c) while a lookup hangs.  A client that only shuts down
# its sending half still gets its answer, and a command sent behind the
# one waited for still runs once the client has gone.  Lookups hang
# through t/slow_resolve.c, preloaded: hang-N.invalid takes N seconds.

use strict;
use warnings;
use Test::More;
use File::Basename qw(dirname);
use IO::Select;
use IO::Socket::UNIX;
use Time::HiRes qw(time sleep);
use Cutover::Test;

my $preload = dirname($ENV{CUTOVER_BACKEND} // '.') . '/slow_resolve.so';
# make check builds it: without it the test fails rather than skips.
die "$preload is not built (make check builds it)\n" unless -f $preload;
plan tests => 6;

my $MAX = 16;		# admin clients served at once
my $be = start_backend(name => 'blue');
my $port = free_port();

sub conf {
	my ($extra) = @_;
	return <<"EOF";
[global]
shutdown_grace = 10s

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$be->port]}
@{[$extra // '']}
[route app]
split = blue 1
EOF
}

# ASan checks that its runtime comes first among the libraries of the
# process: the preloaded one comes before it here.
my $asan = join ':', grep { length } $ENV{ASAN_OPTIONS} // '',
    'verify_asan_link_order=0';
my $cv = start_cutover(conf => conf(),
    env => { LD_PRELOAD => $preload, ASAN_OPTIONS => $asan });

# Connects and sends bytes; returns the socket.
sub send_raw {
	my ($bytes) = @_;
	my $s = IO::Socket::UNIX->new(Peer => $cv->admin_socket)
	    or die "admin socket: $!\n";
	print $s $bytes;
	$s->flush;
	return $s;
}

# What a socket receives until it closes, within timeout seconds.
sub read_all {
	my ($s, $timeout) = @_;
	my $got = '';
	my $sel = IO::Select->new($s);
	my $end = time + $timeout;
	while (time < $end && $sel->can_read($end - time)) {
		sysread($s, $got, 4096, length $got) or last;
	}
	return $got;
}

# 1. A lookup of 1 s: a half-closed client waits for its answer.
$cv->rewrite(conf("server = h1 hang-1.invalid:80\n"));
my $s = send_raw("reload\n");
shutdown($s, 1);
like(read_all($s, 5), qr/\Aerror: reload refused\n.*cannot resolve host/s,
    'a client that shut down its sending half gets its answer');

# 2. Again, and the client closes behind a second command.
my $mark = $cv->log_mark;
close send_raw("reload\nset server blue/b1 drain\n");
ok($cv->wait_log(qr/server b1: ready -> drain/, from => $mark),
    'a command sent behind the reload runs after the client closed');
is($cv->admin('set server blue/b1 ready'), "ok\n", 'b1 is ready again');

# 3. Lookups of 8 s: more clients than places send a command that waits,
# then close; a new client is served at once.
$cv->rewrite(conf("server = h1 hang-8.invalid:80\n"));
for my $i (1 .. $MAX + 4) {
	my $c = send_raw("reload\n");
	sleep 0.05;
	close $c;
}
sleep 0.2;
like($cv->admin('show info', timeout => 2) // '', qr/^pid: $cv->{pid}$/m,
    'clients gone while their reloads wait leave their places free');
for my $i (1 .. $MAX + 4) {
	my $c = send_raw("add server blue a$i hang-8.invalid:80\n");
	sleep 0.05;
	close $c;
}
sleep 0.2;
like($cv->admin('show info', timeout => 2) // '', qr/^pid: $cv->{pid}$/m,
    'and so do clients gone while their add servers wait');
is($cv->stop, 0, 'cutover exits 0 with lookups still hanging');
