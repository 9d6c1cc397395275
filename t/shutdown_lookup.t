#!/usr/bin/perl
# SIGTERM while name lookups hang: a reload whose config names a host
# whose lookup does not end in time (t/slow_resolve.c, preloaded, holds
# hang-N.invalid for N seconds), a reload asked for behind it and an "add
# server" resolving such a host.  The exit does not wait for the lookups:
# it comes as soon as the sessions are done, exit 0, without a leak or a
# race report about the threads left blocked; each admin client waiting
# gets its refusal before the socket closes.

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
plan tests => 8;

my $HANG = 8;		# seconds a lookup hangs: longer than any exit
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
is(http_get($port, '/')->{status}, 200, 'cutover serves, with the preload');

# Sends a command; returns the socket, to read the answer later.
sub send_cmd {
	my ($cmd) = @_;
	my $s = IO::Socket::UNIX->new(Peer => $cv->admin_socket)
	    or die "admin socket: $!\n";
	print $s "$cmd\n";
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

$cv->rewrite(conf("server = h1 hang-$HANG.invalid:80\n"));
my $mark = $cv->log_mark;
my $reload = send_cmd('reload');
sleep 0.2;
my $again = send_cmd('reload');
my $add = send_cmd("add server blue h2 hang-$HANG.invalid:80");
sleep 0.3;
my $t0 = time;
$cv->signal('TERM');
my $status = $cv->wait_exit(timeout => $HANG + 5);
my $took = time - $t0;
is($status, 0, 'SIGTERM while lookups hang: exit 0');
ok($took < $HANG / 2,
    sprintf('the exit did not wait for the lookups (%.2f s; they hang '
    . '%d s)', $took, $HANG));
is(read_all($reload, 2), "error: reload refused\nshutting down\n\n",
    'the client of the reload in progress was refused as shutting down');
is(read_all($again, 2), "error: reload refused\nshutting down\n\n",
    'so was the client of the reload asked for behind it');
is(read_all($add, 2), "error: shutting down\n\n",
    'and the client of the add server');
my $log = substr($cv->log, $mark);
like($log, qr/reload refused: shutting down/, 'the refusal is logged');
unlike($log, qr/config reloaded|server h2 .*added/,
    'nothing of what was resolving was applied');
