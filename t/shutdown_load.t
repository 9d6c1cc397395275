#!/usr/bin/perl
# SIGTERM while a reload's thread is busy with what is not a name lookup:
# here reading a listener's certificate, held by t/slow_resolve.c
# (preloaded: opening a file named slow-open-N takes N seconds, and the
# load opens it twice).  Unlike a lookup (t/shutdown_lookup.t), that is
# waited for: the thread uses OpenSSL and the heap, which the exit tears
# down.  So the exit comes once the load is done, exit 0, without a
# sanitizer report; the load is refused as shutting down, and the admin
# client that asked for it gets that answer before the socket closes.
# Meanwhile an "add server" in a lookup is given up at once, and its
# thread, back from the lookup while the exit still waits for the load,
# goes no further.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Cutover::Test;

my $slow = test_lib('slow_resolve.so');
plan tests => 9;

my $SLOW = 2;		# seconds each open of the certificate takes
my $HANG = 1;		# seconds the lookup of the added server takes
my $dir = Cutover::Test::tmpdir() . '/load';
mkdir $dir;
openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " .
    "-keyout $dir/front.key -out $dir/front.crt -days 2 " .
    "-subj '/CN=localhost' -addext subjectAltName=IP:127.0.0.1");
# The same certificate, under a name that makes each open slow.
my $cert = "$dir/slow-open-$SLOW.crt";
open(my $in, '<', "$dir/front.crt") or die "front.crt: $!";
open(my $out, '>', $cert) or die "$cert: $!";
print $out do { local $/; <$in> };
close $out or die "$cert: $!";

my $be = start_backend(name => 'blue');
my $port = free_port();

sub conf {
	my ($crt) = @_;
	return <<"EOF";
[global]
shutdown_grace = 10s

[listener web]
bind = 127.0.0.1:$port
tls_cert = $crt
tls_key = $dir/front.key

[pool blue]
server = b1 127.0.0.1:@{[$be->port]}

[route app]
split = blue 1
EOF
}

my $cv = start_cutover(conf => conf("$dir/front.crt"),
    env => preload_env($slow));
ok($cv->alive, 'cutover runs, with the preload');

$cv->rewrite(conf($cert));
my $mark = $cv->log_mark;
my $reload = $cv->admin_send("reload\n");
my $began = $cv->wait_log(qr/slow_resolve: .*slow-open-$SLOW/, from => $mark,
    timeout => 5);
my $t1 = time;
ok($began, 'the reload reads the slow certificate');
my $add = $cv->admin_send("add server blue h2 hang-$HANG.invalid:80\n");
sleep 0.3;
my $t0 = time;
$cv->signal('TERM');
my $status = $cv->wait_exit(timeout => 4 * $SLOW + 10);
my $took = time - $t0;
is($status, 0, 'SIGTERM while the load reads a certificate: exit 0');
# At least the rest of the open under way when the signal came.
ok($took >= $SLOW - ($t0 - $t1) - 0.2,
    sprintf('the exit waited for the load (%.2f s after SIGTERM; an open '
    . 'takes %d s)', $took, $SLOW));
ok($took > $HANG + 0.2, 'the lookup of the added server ended before the '
    . 'exit');
is(read_until_close($reload, 2), "error: reload refused\nshutting down\n\n",
    'the client of the reload was refused as shutting down');
is(read_until_close($add, 2), "error: shutting down\n\n",
    'the client of the add server too, not told of the failed lookup');
my $log = substr($cv->log, $mark);
like($log, qr/reload refused: shutting down/, 'the refusal is logged');
unlike($log, qr/config reloaded|server h2|not waited for/,
    'the load was neither applied nor given up, the add went no further');
