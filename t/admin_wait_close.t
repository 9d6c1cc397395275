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
use Time::HiRes qw(time sleep);
use Cutover::Test;

my $slow = test_lib('slow_resolve.so');
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

my $cv = start_cutover(conf => conf(), env => preload_env($slow));

# 1. A lookup of 1 s: a half-closed client waits for its answer.
$cv->rewrite(conf("server = h1 hang-1.invalid:80\n"));
my $s = $cv->admin_send("reload\n");
shutdown($s, 1);
like(read_until_close($s, 5), qr/\Aerror: reload refused\n.*cannot resolve host/s,
    'a client that shut down its sending half gets its answer');

# 2. Again, and the client closes behind a second command.
my $mark = $cv->log_mark;
close $cv->admin_send("reload\nset server blue/b1 drain\n");
ok($cv->wait_log(qr/server b1: ready -> drain/, from => $mark),
    'a command sent behind the reload runs after the client closed');
is($cv->admin('set server blue/b1 ready'), "ok\n", 'b1 is ready again');

# 3. Lookups of 8 s: more clients than places send a command that waits,
# then close; a new client is served at once.
$cv->rewrite(conf("server = h1 hang-8.invalid:80\n"));
my @waits = (
	[sub { "reload\n" },
	    'clients gone while their reloads wait leave their places free'],
	[sub { "add server blue a$_[0] hang-8.invalid:80\n" },
	    'and so do clients gone while their add servers wait'],
);
for my $w (@waits) {
	my ($cmd, $name) = @$w;
	for my $i (1 .. $MAX + 4) {
		my $c = $cv->admin_send($cmd->($i));
		sleep 0.05;
		close $c;
	}
	sleep 0.2;
	like($cv->admin('show info', timeout => 2) // '',
	    qr/^pid: $cv->{pid}$/m, $name);
}
is($cv->stop, 0, 'cutover exits 0 with lookups still hanging');
