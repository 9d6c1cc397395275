#!/usr/bin/perl
# Out of file descriptors, as clients holding many status connections
# make a proxy with a low limit, accept fails while connections wait in
# the backlog.  The listeners then rest instead of spinning: the event
# loop stays idle and the log gets a few lines, not ~100000 a second; and
# once the clients are gone the status endpoint, the proxy's listener and
# the admin socket accept again.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Socket::UNIX;
use Test::More tests => 6;
use Time::HiRes qw(time sleep);

use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $port = free_port();
my $dir = tmpdir();

# cutover under a limit of 64 descriptors.
my $wrapper = "$dir/cutover-ulimit";
open my $fh, '>', $wrapper or die "$wrapper: $!\n";
print $fh "#!/bin/sh\nulimit -n 64 || exit 1\nexec '$ENV{CUTOVER_BIN}' \"\$@\"\n";
close $fh;
chmod 0755, $wrapper;
my $cut = do {
	local $ENV{CUTOVER_BIN} = $wrapper;
	start_cutover(conf => <<"EOF");
[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}

[route all]
split = blue 100
EOF
};
my $sp = $cut->status_port;

# CPU seconds the process used so far.
sub cpu {
	open my $st, '<', "/proc/${\ $cut->pid}/stat" or return 0;
	my @f = split ' ', (<$st> =~ s/^.*\) //r);
	return ($f[11] + $f[12]) / 100;
}

# More connections than descriptors, each with half a request head.
my @held;
for (1 .. 100) {
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $sp,
	    Proto => 'tcp', Timeout => 2) or last;
	syswrite($s, "GET /live HTTP/1.1\r\n");
	push @held, $s;
}
# And one for the proxy's listener, which waits in its backlog too, and
# one for the admin socket.
push @held, IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
    Proto => 'tcp', Timeout => 2) // ();
push @held, IO::Socket::UNIX->new(Peer => $cut->admin_socket) // ();
sleep 0.5;
my $mark = $cut->log_mark;
my $cpu0 = cpu();
sleep 2;
my $used = cpu() - $cpu0;
my $lines = () = substr($cut->log, $mark, 1 << 20) =~
    /accept: Too many open files/g;
ok(@held > 64, 'more connections than descriptors were opened (' .
    scalar(@held) . ')');
cmp_ok($used, '<', 0.5, "the event loop does not spin (${used}s of CPU " .
    'in 2s)');
cmp_ok($lines, '<', 100, "accept failures are logged a few times ($lines)");

close $_ for @held;
@held = ();
my $ok = wait_for(sub { (http_get($sp, '/live')->{status} // 0) == 200 },
    timeout => 5);
ok($ok, 'once they are gone the status endpoint accepts again');
$ok = wait_for(sub { (http_get($port, '/')->{status} // 0) == 200 },
    timeout => 5);
ok($ok, 'and so does the listener');
like($cut->admin('show info') // '', qr/^connections: /m,
    'and so does the admin socket');
