#!/usr/bin/perl
# Hot reload, by SIGHUP and by the admin command: a request in flight
# finishes on its config and a keep-alive connection moves to the new one
# at its next request; listening sockets that stay are never reopened,
# added binds open and removed ones close; a config with errors, or one
# whose new bind cannot open, leaves the running one in place and says
# why as FILE:LINE; runtime changes, counters and added servers carry
# over; the admin socket follows a new admin_socket path.

use strict;
use warnings;
use Test::More tests => 34;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep);
use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $extra = start_backend(name => 'extra');
my $port = free_port();
my $port2 = free_port();
my $dir = tmpdir();
my $sock = "$dir/reload.sock";

# The config: a split, the binds, and extra [global] lines.
sub conf {
	my (%o) = @_;
	my $binds = join '', map { "bind = 127.0.0.1:$_\n" }
	    @{$o{ports} // [$port]};
	return <<"EOF";
[global]
status_listen = off
admin_socket = @{[$o{sock} // $sock]}
@{[$o{global} // '']}
[listener web]
$binds
[pool blue]
server = b1 127.0.0.1:@{[$blue->port]}

[pool green]
server = g1 127.0.0.1:@{[$green->port]}

[route app]
split = @{[$o{split} // 'blue 100, green 0']}
EOF
}

sub spew {
	my ($path, $text) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh $text;
	close $fh;
}

sub split_of {
	my ($cv) = @_;
	my $j = eval { decode_json($cv->admin('show routes json')) } or
	    return 'no answer';
	return join ' ', map { "$_->{pool}:$_->{conf_weight}:$_->{weight}" }
	    @{$j->{routes}[0]{split}};
}

my $cv = start_cutover(conf => conf());
my $path = $cv->conf_path;

# A request in flight and an idle keep-alive connection across a reload.
my $slow = http_client($port);
$slow->send("GET /?delay=1000 HTTP/1.1\r\nHost: x\r\n\r\n");
my $ka = http_client($port);
is($ka->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n")->{headers}{'x-backend'},
    'blue', 'a keep-alive connection is served by blue');
sleep 0.2;
spew($path, conf(split => 'blue 0, green 100'));
my $mark = $cv->log_mark;
$cv->reload;
ok($cv->wait_log(qr/config reloaded from \Q$path\E: 1 routes, 2 pools, 2 servers \(2 kept\), 1 listening sockets$/,
    from => $mark), 'SIGHUP reloads and logs a summary');
my $r = $slow->response(timeout => 5);
is("$r->{status} $r->{headers}{'x-backend'}", '200 blue',
    'the request in flight finishes on the config it started with');
is($ka->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n")->{headers}{'x-backend'},
    'green', 'the keep-alive connection moves to the new split');
is(http_get($port, '/')->{headers}{'x-backend'}, 'green',
    'a new connection follows the new split');
my @opened = $cv->log =~ /listener web: listening on 127\.0\.0\.1:$port$/mg;
is(scalar @opened, 1, 'the listening socket that stays is not reopened');

# Added and removed binds.
spew($path, conf(split => 'blue 0, green 100', ports => [$port, $port2]));
is($cv->admin('reload'), "ok\n", 'reload with a second bind: ok');
is(http_get($port2, '/')->{status}, 200, 'the added bind accepts');
my $held = http_client($port2);
is($held->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n")->{status}, 200,
    'a keep-alive connection on the added bind');
spew($path, conf(split => 'blue 0, green 100'));
$mark = $cv->log_mark;
is($cv->admin('reload'), "ok\n", 'reload without it: ok');
ok($cv->wait_log(qr/listener web: no longer listening on 127\.0\.0\.1:$port2$/,
    from => $mark), 'the removed bind is logged');
ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port2,
    Proto => 'tcp', Timeout => 1), 'the removed bind refuses connections');
is($held->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n")->{status}, 200,
    'a connection accepted on it before goes on');
$held->close;
@opened = $cv->log =~ /listener web: listening on 127\.0\.0\.1:$port$/mg;
is(scalar @opened, 1, 'the kept bind still was opened only once');

# A new bind that cannot open: the reload is refused as a whole.
my $squat = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
    LocalPort => $port2, Listen => 1, ReuseAddr => 1) or die;
spew($path, conf(split => 'blue 100, green 0', ports => [$port, $port2]));
$r = $cv->ctl('reload');
is($r->{status}, 1, 'a reload whose bind cannot open exits 1');
like($r->{err}, qr/^error: reload refused\nlistener web: cannot listen on 127\.0\.0\.1:$port2: Address already in use$/,
    'saying which bind and why');
is(split_of($cv), 'blue:0:0 green:100:100', 'the running config stays');
close $squat;

# A broken config: refused with FILE:LINE by SIGHUP and by reload.
spew($path, conf(split => 'blue 100, red 5'));
my @cl = split /\n/, conf(split => 'blue 100, red 5');
my ($line) = grep { $cl[$_ - 1] =~ /^split/ } 1 .. @cl;
$mark = $cv->log_mark;
$cv->reload;
ok($cv->wait_log(qr/\[error\] reload refused: \Q$path\E:$line: route app: split: pool "red" is not defined$/,
    from => $mark), 'SIGHUP with a broken config logs FILE:LINE');
$r = $cv->ctl('reload');
like($r->{err}, qr/^error: reload refused\n\Q$path\E:$line: route app: split: pool "red" is not defined$/,
    'reload answers FILE:LINE');
is(http_get($port, '/')->{headers}{'x-backend'}, 'green',
    'the proxy goes on with the running config');
ok($cv->alive, 'and runs');

# Runtime state across a reload of an unchanged config.
spew($path, conf(split => 'blue 0, green 100'));
is($cv->admin('reload'), "ok\n", 'back to a good config');
is($cv->admin('set split app blue=30 green=70'), "ok\n", 'set split');
is($cv->admin('set weight green/g1 5'), "ok\n", 'set weight');
is($cv->admin("add server green x1 127.0.0.1:@{[$extra->port]}"), "ok\n",
    'add server');
my $before = decode_json($cv->admin('show pools json'));
my ($g1) = grep { $_->{name} eq 'g1' } @{$before->{pools}[1]{servers}};
$cv->reload;
ok(wait_for(sub { $cv->log =~ /SIGHUP: reloading\n.*config reloaded/s }),
    'SIGHUP reload with runtime changes');
is($cv->admin('reload'), "ok\n", 'and an admin reload');
is(split_of($cv), 'blue:0:30 green:100:70', 'the runtime split stays');
my $after = decode_json($cv->admin('show pools json'));
my @g = @{$after->{pools}[1]{servers}};
is(join(' ', map { "$_->{name}:$_->{weight}" . ($_->{added} ? '+' : '') }
    @g), 'g1:5 x1:1+', 'the runtime weight and the added server stay');
is($g[0]{requests}, $g1->{requests}, 'the counters carry over');
my %n;
my $c = http_client($port);
for (1 .. 100) {
	my $x = $c->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	$n{$x->{headers}{'x-backend'} // 'error'}++;
}
is($n{blue} // 0, 30, 'traffic follows the runtime split after reloads');
ok(($n{extra} // 0) > 0, 'the added server still takes requests');

# A new admin_socket path.
my $sock2 = "$dir/moved.sock";
spew($path, conf(split => 'blue 0, green 100', sock => $sock2));
is($cv->admin('reload'), "ok\n", 'reload with another admin_socket');
my $s2 = IO::Socket::UNIX->new(Peer => $sock2);
ok($s2 && !-e $sock, 'the admin socket moved and the old file is gone');
