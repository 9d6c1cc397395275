#!/usr/bin/perl
# workers = 2: connections are dealt to both event-loop threads, the split
# stays exact across them, upstream connections are reused per worker, a
# reload under load loses nothing and reaches both, a breaker opened by
# traffic on either worker recovers on its timer, maint closes the idle
# connections of every worker, max_connections counts them all (and the
# listener resumes when a worker ends a connection at once), a graceful
# shutdown lets requests in flight on both finish, and a request sent
# just before SIGTERM is answered though no worker had read it yet.

use strict;
use warnings;
use Test::More tests => 26;
use IO::Socket::INET;
use POSIX ();
use Cutover::Test;
use Time::HiRes qw(time sleep);

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $dead = free_port();		# nothing listens there
my $port = free_port();
my $sock = tmpdir() . '/workers.sock';

sub conf {
	my ($split) = @_;
	return <<"EOF";
[global]
workers = 2
shutdown_grace = 10s
admin_socket = $sock
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}
keepalive = 64

[pool green]
server = g1 127.0.0.1:@{[$green->port]}

[pool flaky]
server = ok 127.0.0.1:@{[$blue->port]}
server = dead 127.0.0.1:$dead
breaker_failures = 2
breaker_recovery = 500ms
retries = 1

[route app]
split = $split

[route flaky]
host = flaky.test
split = flaky 1
EOF
}

my $cv = start_cutover(conf => conf('blue 90, green 10'));
like($cv->admin('show info'), qr/^workers: 2 \(sessions/m,
    'show info reports 2 workers');

# 40 connections of 50 requests: dealt in turn to both workers.
my $res = run_parallel(port => $port, conns => 40, requests => 50,
    headers => [Host => 'app.test']);
is($res->{ok}, 2000, 'all 2,000 requests over 40 connections answered');
is($res->{errors}, 0, 'no errors');
is($res->{backends}{blue} // 0, 1800, 'exactly 90% to blue across workers');
is($res->{backends}{green} // 0, 200, 'exactly 10% to green');
my ($reqs) = $cv->admin('show info') =~ /^workers: 2 .*; requests (\d+, \d+);/m;
my @per = split /, /, $reqs // '0, 0';
ok($per[0] >= 500 && $per[1] >= 500,
    "both workers served requests ($reqs)");
my %conns = map { /conn=(\d+)/ ? ($1 => 1) : () } $blue->requests;
ok(keys(%conns) <= 80,
    'blue saw ' . keys(%conns) . ' connections for 1,800 requests: reused');
my ($idle) = $cv->admin('show pools') =~ /^\s+b1\s.*\s(\d+)$/m;
ok(defined $idle && $idle > 0, "idle upstream connections kept ($idle)");

# maint closes the idle connections of both workers.
# The other worker closes its own through its queue: a moment later.
$cv->admin('set server blue/b1 maint');
ok(wait_for(sub {
	($idle) = $cv->admin('show pools') =~ /^\s+b1\s.*\s(\d+)$/m;
	defined $idle && $idle == 0;
}), 'maint closes the idle upstream connections of every worker');
$cv->admin('set server blue/b1 ready');

# Reloads under load: nothing lost, the new split on both workers.
$res = $cv->reloading(
    sub { conf($_[0] % 2 ? 'blue 50, green 50' : 'blue 90, green 10') },
    sub { run_parallel(port => $port, conns => 20, requests => 400,
	headers => [Host => 'app.test']) });
my $reloads = () = $cv->log =~ /config reloaded/g;
is($res->{ok}, 8000, "$reloads reloads during 8,000 requests: all answered");
is($res->{errors}, 0, 'none failed');
ok($reloads >= 3 && $cv->log !~ /reload refused/,
    'several reloads ran, none refused');
# The last config has blue 90, green 10; set 50/50 once more.
$cv->rewrite(conf('blue 50, green 50'));
my $mark = $cv->log_mark;
$cv->reload;
ok($cv->wait_log(qr/config reloaded/, from => $mark), 'reloaded to 50/50');
sleep 0.1;
$res = run_parallel(port => $port, conns => 10, requests => 20,
    headers => [Host => 'app.test']);
is($res->{backends}{green} // 0, 100,
    'the new split holds exactly on connections of both workers');

# Connect failures on both workers open the breaker; its timer (the main
# thread's) lets a probe through after breaker_recovery.
$mark = $cv->log_mark;
$res = run_parallel(port => $port, conns => 8, requests => 5,
    headers => [Host => 'flaky.test']);
is($res->{errors}, 0, 'a dead server in the pool: retried, no errors');
ok($cv->wait_log(qr/server dead: breaker open/, from => $mark),
    'the breaker of the dead server opens');
ok($cv->wait_log(qr/server dead: breaker half-open/, from => $mark,
    timeout => 3), 'and goes half-open after breaker_recovery');

# A graceful shutdown with requests in flight on both workers.
is($cv->terminate_busy($port, delay => 800, settle => 0.3), 4,
    'SIGTERM: the four requests in flight complete');
is($cv->wait_exit(timeout => 10), 0, 'and cutover exits 0');

# max_connections counts the connections of every worker.
my $p2 = free_port();
my $cv2 = start_cutover(conf => <<"EOF");
[global]
workers = 2
max_connections = 3

[listener web]
bind = 127.0.0.1:$p2

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}

[route app]
split = blue 1
EOF
my @held = map { http_client($p2) } 1 .. 3;
my $ok = grep {
	my $r = $_->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	$r->{status} == 200
} @held;
is($ok, 3, 'three connections at max_connections = 3 are served');
my $fourth = http_client($p2, timeout => 5);
$fourth->send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
my $r = $fourth->response(timeout => 0.5);
ok(!$r->{complete}, 'a fourth waits in the backlog');
$held[0]->close;
$r = $fourth->response(timeout => 5);
is($r->{status}, 200, 'and is served once one of the three closes');

# A connection that a worker ends before the main thread paused the
# listener at max_connections must not leave it paused.  Two are held;
# each connection closed at once fills the third place, on both workers.
$fourth->close;
my $stuck = 0;
for (1 .. 10) {
	for (1 .. 2) {
		my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p2");
		close $s if $s;
	}
	$r = http_request($p2, "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	    timeout => 2);
	$stuck++ if ($r->{status} // 0) != 200;
}
is($stuck, 0, 'below max_connections the listener always accepts again');
$cv2->stop;

# Requests sent right before SIGTERM: a worker runs their accepts and the
# shutdown in one go, and must not take an unread request for an idle
# connection.
my $lost = 0;
for (1 .. 5) {
	my $p3 = free_port();
	my $cv3 = start_cutover(conf => <<"EOF");
[global]
workers = 2
status_listen = off

[listener web]
bind = 127.0.0.1:$p3

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}

[route app]
split = blue 1
EOF
	my @c = map { http_client($p3, timeout => 5) } 1 .. 4;
	$_->send("GET /?delay=100 HTTP/1.1\r\nHost: x\r\n\r\n") for @c;
	$cv3->signal('TERM');
	$lost += grep { ($_->response(timeout => 5)->{status} // 0) != 200 } @c;
	$cv3->wait_exit(timeout => 10);
}
is($lost, 0, 'requests sent before SIGTERM are all answered');

# Reloads that replace breakers while both workers trip them: a breaker
# timer queued by a worker for the main thread must not outlive the
# breaker a reload frees (the sanitizer build reports it when it does).
# Each reload moves the dead server to another port, so nothing carries.
{
	my $p4 = free_port();
	my @deadports = (free_port(), free_port());
	my $conf4 = sub {
		my ($i) = @_;
		return <<"EOF";
[global]
workers = 2
status_listen = off

[listener web]
bind = 127.0.0.1:$p4

[pool flaky]
server = ok 127.0.0.1:@{[$blue->port]}
server = dead 127.0.0.1:$deadports[$i % 2]
breaker_failures = 1
breaker_recovery = 1ms
retries = 1

[route app]
split = flaky 1
EOF
	};
	my $cv4 = start_cutover(conf => $conf4->(0));
	my $pid = fork // die "fork: $!\n";
	if ($pid == 0) {
		# Traffic for the reloads to cut into; bounded in time.
		my $end = time + 10;
		run_parallel(port => $p4, conns => 8, requests => 50)
		    while time < $end;
		POSIX::_exit(0);
	}
	my ($n, $refused) = (0, 0);
	for my $i (1 .. 150) {
		$cv4->rewrite($conf4->($i));
		my $a = $cv4->admin('reload', timeout => 10) // '';
		$n++;
		$refused++ unless $a eq "ok\n";
	}
	kill 'TERM', $pid;
	waitpid $pid, 0;
	is("$n $refused", '150 0',
	    '150 reloads replacing tripped breakers on both workers, all ok');
	is(http_get($p4, '/')->{status}, 200, 'and cutover serves on');
	$cv4->stop;
}
