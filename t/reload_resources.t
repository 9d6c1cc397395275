#!/usr/bin/perl
# A reload whose status_listen or admin_socket cannot be bound, or whose
# access_log or error_log cannot be opened, is refused and says why, as
# the start refuses it: the running sockets and logs stay, and the answer
# is not "ok" while half of the new config is missing.  A status_listen
# that moves to a free port, or onto the port of a bind the same reload
# drops (also as the wildcard address of that port), is taken.

use strict;
use warnings;
use Test::More tests => 22;
use IO::Socket::INET;
use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $port = free_port();
my $port2 = free_port();
my $status = free_port();
my $dir = tmpdir();

sub conf {
	my (%o) = @_;
	return <<"EOF";
[global]
status_listen = @{[$o{status_host} // '127.0.0.1']}:@{[$o{status} // $status]}
access_log = @{[$o{access} // "$dir/access.log"]}
@{[$o{global} // '']}
[listener web]
bind = 127.0.0.1:$port
@{[$o{bind} // '']}
[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}

[route app]
split = blue 1
EOF
}

sub live {
	my ($p) = @_;
	my $r = eval { http_get($p, '/live') };
	return $r && $r->{status} ? $r->{status} : 0;
}

sub access_lines {
	open my $fh, '<', "$dir/access.log" or return 0;
	my @l = <$fh>;
	return scalar @l;
}

my $cv = start_cutover(conf => conf());
is(live($status), 200, 'the status endpoint answers');

# A port someone else holds.
my $squat = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
    Listen => 1, ReuseAddr => 1) or die "listen: $!";
my $taken = $squat->sockport;
$cv->rewrite(conf(status => $taken));
my $r = $cv->ctl('reload');
is($r->{status}, 1, 'a status_listen on a taken port: reload refused');
like($r->{err}, qr/^error: reload refused\nstatus_listen: cannot listen on 127\.0\.0\.1:$taken: Address already in use$/,
    'and says why') or diag($r->{out}, $r->{err});
is(live($status), 200, 'the status endpoint stays where it was');

# A log that cannot be opened.
$cv->rewrite(conf(access => "$dir/nonexistent/access.log"));
$r = $cv->ctl('reload');
is($r->{status}, 1, 'an access_log that cannot be opened: reload refused');
like($r->{err}, qr/^error: reload refused\naccess_log \Q$dir\E\/nonexistent\/access\.log: No such file or directory$/,
    'and says why');
my $before = access_lines();
is(http_get($port, '/')->{status}, 200, 'a request');
ok(wait_for(sub { access_lines() == $before + 1 }, timeout => 5),
    'still goes to the access log');
$cv->rewrite(conf(global => "error_log = $dir/nonexistent/error.log"));
$r = $cv->ctl('reload');
is($r->{status}, 1, 'an error_log that cannot be opened: reload refused');
like($r->{err}, qr/^error: reload refused\nerror_log \Q$dir\E\/nonexistent\/error\.log: No such file or directory$/,
    'and says why');

$cv->rewrite(conf(global => "admin_socket = $dir/nonexistent/a.sock"));
$r = $cv->ctl('reload');
is($r->{status}, 1, 'an admin_socket that cannot be bound: reload refused');
like($r->{err}, qr/^error: reload refused\nadmin_socket: cannot listen on \Q$dir\E\/nonexistent\/a\.sock: No such file or directory$/,
    'and says why');
is($cv->admin('show info') =~ /^admin socket: \Q$cv->{admin_socket}\E$/m, 1,
    'the admin socket stays where it was');

# Moves that must work.
$cv->rewrite(conf(status => $port2));
is($cv->admin('reload'), "ok\n", 'status_listen to a free port: ok');
is(live($port2), 200, 'the endpoint moved');
is(live($status), 0, 'and left its old port');
$cv->rewrite(conf(status => $port2, bind => "bind = 127.0.0.1:$status"));
is($cv->admin('reload'), "ok\n", 'a bind on the old status port: ok');
# The bind goes, the endpoint takes its port.
$cv->rewrite(conf(status => $status));
is($cv->admin('reload'), "ok\n", 'status_listen onto a dropped bind: ok');
is(live($status), 200, 'the endpoint answers there');
# The same onto a wildcard address: the dropped bind held the port too.
my $port3 = free_port();
$cv->rewrite(conf(bind => "bind = 127.0.0.1:$port3"));
is($cv->admin('reload'), "ok\n", 'a bind on a third port: ok');
$cv->rewrite(conf(status_host => '0.0.0.0', status => $port3));
is($cv->admin('reload'), "ok\n",
    'status_listen on the wildcard of a dropped bind\'s port: ok');
is(live($port3), 200, 'the endpoint answers there');
close $squat;
