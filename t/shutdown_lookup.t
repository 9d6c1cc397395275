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
use Time::HiRes qw(time sleep);
use Cutover::Test;

my $slow = test_lib('slow_resolve.so');
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

my $cv = start_cutover(conf => conf(), env => preload_env($slow));
is(http_get($port, '/')->{status}, 200, 'cutover serves, with the preload');

$cv->rewrite(conf("server = h1 hang-$HANG.invalid:80\n"));
my $mark = $cv->log_mark;
my $reload = $cv->admin_send("reload\n");
sleep 0.2;
my $again = $cv->admin_send("reload\n");
my $add = $cv->admin_send(
    "add server blue h2 hang-$HANG.invalid:80\n");
sleep 0.3;
my $t0 = time;
$cv->signal('TERM');
my $status = $cv->wait_exit(timeout => $HANG + 5);
my $took = time - $t0;
is($status, 0, 'SIGTERM while lookups hang: exit 0');
ok($took < $HANG / 2,
    sprintf('the exit did not wait for the lookups (%.2f s; they hang '
    . '%d s)', $took, $HANG));
is(read_until_close($reload, 2), "error: reload refused\nshutting down\n\n",
    'the client of the reload in progress was refused as shutting down');
is(read_until_close($again, 2), "error: reload refused\nshutting down\n\n",
    'so was the client of the reload asked for behind it');
is(read_until_close($add, 2), "error: shutting down\n\n",
    'and the client of the add server');
my $log = substr($cv->log, $mark);
like($log, qr/reload refused: shutting down/, 'the refusal is logged');
unlike($log, qr/config reloaded|server h2 .*added/,
    'nothing of what was resolving was applied');
