#!/usr/bin/perl
# cutoverctl and the socket's guard: exit 0 with the answer on stdout, 1
# with an error answer on stderr, 2 when it cannot talk to the proxy (no
# socket, nobody listening, permission denied, refused uid); --json
# anywhere on the line; rollout status --follow not there yet.  cutover
# itself replaces a stale socket and refuses one a live proxy holds.

use strict;
use warnings;
use Test::More tests => 39;
use IO::Socket::UNIX;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep);
use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $port = free_port();
my $dir = tmpdir();
my $sock = "$dir/ctl.sock";

# A stale socket, as a killed proxy leaves it: nobody listens on it.
my $stale = IO::Socket::UNIX->new(Local => $sock, Listen => 1) or die;
close $stale;
ok(-S $sock, 'a stale socket file is in the way');

my $conf = <<"EOF";
[global]
admin_socket = $sock
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}

[route app]
split = blue 1
EOF
my $cv = start_cutover(conf => $conf);
ok($cv->wait_log(qr/admin socket \Q$sock\E: removing the stale socket/),
    'cutover replaces a stale socket and says so');

my $r = $cv->ctl('show', 'info');
is($r->{status}, 0, 'cutoverctl show info exits 0');
like($r->{out}, qr/^pid: ${\ $cv->pid}$/m, 'and prints the answer');
unlike($r->{out}, qr/\n\n\z/, 'without the empty line that ends it');

$r = $cv->ctl('--json', 'show', 'pools');
is($r->{status}, 0, 'cutoverctl --json show pools exits 0');
my $j = eval { decode_json($r->{out}) };
is($j && $j->{pools}[0]{servers}[0]{name}, 'b1',
    '--json before the command gives JSON');
$r = $cv->ctl('show', 'routes', '--json');
$j = eval { decode_json($r->{out}) };
is($j && $j->{routes}[0]{name}, 'app', '--json after it too');
$r = $cv->ctl('show routes');
like($r->{out}, qr/^route app:/m, 'a command in one argument works too');

$r = $cv->ctl('set', 'weight', 'blue/b9', '1');
is($r->{status}, 1, 'an error answer exits 1');
is($r->{err}, "error: pool blue: no server \"b9\"\n",
    'and goes to stderr as answered');
is($r->{out}, '', 'with nothing on stdout');

$r = $cv->ctl('bogus');
is($r->{status}, 1, 'an unknown command exits 1');
like($r->{err}, qr/^error: unknown command "bogus"; try help$/m,
    'with the error of the proxy');

$r = $cv->ctl('reload');
is("$r->{status} $r->{out}", "0 ok\n", 'cutoverctl reload: ok, exit 0');

$r = $cv->ctl('rollout', 'status', 'app', '--follow');
is($r->{status}, 1, 'rollout status --follow of a route without rollout '
    . 'exits 1');
like($r->{err}, qr/^error: rollout: no \[rollout\] for route app$/m,
    'with the error of the proxy');

$r = $cv->ctl('show', "info\nreload");
is($r->{status}, 2, 'an argument with a line break is refused: exit 2');

my $bin = $ENV{CUTOVERCTL_BIN};
$r = Cutover::Test::_run_capture([$bin, '-s', "$dir/none.sock", 'show',
    'info']);
is($r->{status}, 2, 'no socket: exit 2');
like($r->{err}, qr/none\.sock: no such socket \(is cutover running/,
    'saying there is no such socket');

my $dead = "$dir/dead.sock";
my $d = IO::Socket::UNIX->new(Local => $dead, Listen => 1) or die;
close $d;
$r = Cutover::Test::_run_capture([$bin, '-s', $dead, 'show', 'info']);
is($r->{status}, 2, 'a socket nobody listens on: exit 2');
like($r->{err}, qr/connection refused \(cutover is not running\)/,
    'saying cutover is not running');
$r = Cutover::Test::_run_capture([$bin, '-s', $dir, 'show', 'info']);
ok($r->{status} == 2 && $r->{err} =~ /: not a socket$/m,
    'a directory: exit 2, not a socket') or diag($r->{err});

$r = Cutover::Test::_run_capture([$bin]);
is($r->{status}, 2, 'no command: exit 2');
like($r->{err}, qr/^usage: cutoverctl/, 'with the usage');

# A second cutover on the same socket does not steal it.
my $port2 = free_port();
(my $conf2 = $conf) =~ s/:$port\n/:$port2\n/;
my $path2 = write_conf($conf2);
$r = run_cutover('-c', $path2);
is($r->{status}, 1, 'a second cutover on a live socket exits 1');
like($r->{err}, qr/admin socket \Q$sock\E: cannot replace: in use by another process/,
    'saying the socket is in use');
is($cv->ctl('show', 'info')->{status}, 0,
    'the first one still answers on it');

# Another uid: run cutoverctl as nobody.
SKIP: {
	skip 'dropping to nobody needs root and setpriv', 3
	    unless $> == 0 && -x '/usr/bin/setpriv';
	my @drop = ('/usr/bin/setpriv', '--reuid=nobody', '--regid=nogroup',
	    '--clear-groups');
	$r = Cutover::Test::_run_capture([@drop, $bin, '-s', "$dir/none.sock",
	    'help']);
	skip 'nobody cannot run cutoverctl from the build dir', 3
	    unless $r->{status} == 2 && $r->{err} =~ /no such socket/;
	# The socket is 0600 in a 0700 dir: nobody cannot even connect.
	$r = Cutover::Test::_run_capture([@drop, $bin, '-s', $sock, 'help']);
	is($r->{status}, 2, 'another uid cannot connect: exit 2');
	# Opened up, the proxy itself refuses the uid.
	my $mode = (stat $dir)[2] & 07777;
	chmod 0711, $dir;
	chmod 0666, $sock;
	$r = Cutover::Test::_run_capture([@drop, $bin, '-s', $sock, 'help']);
	chmod 0600, $sock;
	chmod $mode, $dir;
	is("$r->{status} $r->{err}", "2 cutoverctl: $sock: permission denied "
	    . "(the proxy takes only its own user and root)\n",
	    'a socket opened to all still refuses another uid: exit 2');
	ok($cv->wait_log(qr/admin: uid 65534, pid \d+ refused: permission denied/),
	    'the refusal is logged with the uid');
}

# With admin clients at the limit, cutoverctl says so and exits 2 every
# time, also when the proxy's answer and close beat its command (it then
# reads the answer rather than report a broken pipe).
my (@st, @clear);
for (1 .. 10) {
	my @busy = map { IO::Socket::UNIX->new(Peer => $sock) } 1 .. 16;
	my $b = $cv->ctl('show', 'info');
	push @st, $b->{status};
	push @clear, $b->{err} =~ /too many admin clients at once/ ? 1 : 0;
	close $_ for grep { defined } @busy;
	sleep 0.1;
}
is("@st", join(' ', (2) x 10), 'cutoverctl exits 2 when the admin socket is full');
is("@clear", join(' ', (1) x 10), 'and says why each time');

# During a graceful shutdown the socket still answers.
my $slow = http_client($port);
$slow->send("GET /?delay=1500 HTTP/1.1\r\nHost: x\r\n\r\n");
sleep 0.3;
$cv->signal('TERM');
ok(wait_for(sub { ($cv->admin('show info') // '') =~ /^shutting down: yes$/m }),
    'show info says the proxy is shutting down');
is($cv->admin('reload'), "error: reload refused\nshutting down\n",
    'reload is refused while shutting down');
$r = $slow->response(timeout => 5);
is($r->{status}, 200, 'the request in flight finishes');
ok(wait_for(sub { !$cv->alive }), 'then cutover exits');
is($cv->exit_status, 0, 'with status 0');
ok(!-e $sock, 'and removes its socket');
