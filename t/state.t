#!/usr/bin/perl
# The state file: changes made over the admin socket (split, weights,
# server states, added and deleted servers) come back after a restart;
# a value edited in the config since wins, at a restart as at a reload,
# entry by entry; a missing, corrupt or unwritable state file is reported
# and never stops the proxy.

use strict;
use warnings;
use Test::More tests => 44;
use JSON::PP;
use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $extra = start_backend(name => 'extra');
my $port = free_port();
my $dir = tmpdir();
my $state = "$dir/cutover.state";

# The config, with the given split and weight of b1.
sub conf {
	my ($split, $w1) = @_;
	return <<"EOF";
[global]
state_file = $state
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$blue->port]} weight=$w1
server = b2 127.0.0.1:@{[$blue->port]}
server = b3 127.0.0.1:@{[$blue->port]}

[pool green]
server = g1 127.0.0.1:@{[$green->port]}

[route app]
split = $split
EOF
}

sub slurp {
	my ($path) = @_;
	open my $fh, '<', $path or return '';
	local $/;
	return <$fh>;
}

sub spew {
	my ($path, $text) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh $text;
	close $fh;
}

# Split "blue:W green:W" and servers "name:weight:state ..." of blue.
sub split_of {
	my ($cv) = @_;
	my $j = eval { decode_json($cv->admin('show routes json')) } or
	    return 'no answer';
	return join ' ', map { "$_->{pool}:$_->{weight}" }
	    @{$j->{routes}[0]{split}};
}

sub servers_of {
	my ($cv, $pool) = @_;
	my $j = eval { decode_json($cv->admin('show pools json')) } or
	    return 'no answer';
	my ($p) = grep { $_->{name} eq ($pool // 'blue') } @{$j->{pools}};
	return join ' ', map { "$_->{name}:$_->{weight}:$_->{state}" .
	    ($_->{added} ? ':added' : '') } @{$p->{servers}};
}

my $conf = conf('blue 100, green 0', 1);
my $cv = start_cutover(conf => $conf);
ok($cv->wait_log(qr/state file \Q$state\E: not found, starting from the config alone/),
    'a missing state file is reported at info');
is(split_of($cv), 'blue:100 green:0', 'the split is the config\'s');

is($cv->admin('set split app blue=70 green=30'), "ok\n", 'set split');
is($cv->admin('set weight blue/b1 7'), "ok\n", 'set weight');
is($cv->admin('set server blue/b2 drain'), "ok\n", 'set server drain');
is($cv->admin('set server blue/b3 maint'), "ok\n", 'set server maint');
is($cv->admin('del server blue/b3'), "ok\n", 'del server');
is($cv->admin("add server blue x1 127.0.0.1:@{[$extra->port]} weight=4"),
    "ok\n", 'add server');
is($cv->admin('set server blue/x1 drain'), "ok\n",
    'set server on the added server');

my $text = slurp($state);
my $bp = $blue->port;
my $ep = $extra->port;
is($text, <<"EOF", 'the state file holds each change and the value it was based on');
# cutover state file, written by cutover: see cutover.conf(5)
cutover-state 1
split app blue 70 100
split app green 30 0
server blue b1 127.0.0.1:$bp 7 1 ready
server blue b2 127.0.0.1:$bp 1 1 drain
added blue x1 127.0.0.1:$ep 4 4 drain
deleted blue b3 127.0.0.1:$bp
EOF
is((stat $state)[2] & 0777, 0600, 'the state file has mode 0600');
is(join(' ', grep { !/^cutover\.state$|\.(conf|sock|log|out|req|err)$/ }
    map { s{.*/}{}r } glob("$dir/*")), '',
    'no temp file is left beside it');

# A restart brings everything back.
$cv->stop;
$cv = start_cutover(conf => $conf);
ok($cv->wait_log(qr/state file \Q$state\E: 6 records restored/),
    'the restart restores the records');
is(split_of($cv), 'blue:70 green:30', 'the split is back after a restart');
is(servers_of($cv), 'b1:7:ready b2:1:drain x1:4:drain:added',
    'weights, states, the added and the deleted server are back');
my $c = http_client($port);
my %n;
for (1 .. 100) {
	my $r = $c->request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	$n{$r->{headers}{'x-backend'} // 'error'}++;
}
is($n{green} // 0, 30, 'and traffic follows the restored split');

# A reload with the same config keeps the runtime values.
is($cv->admin('reload'), "ok\n", 'reload the same config');
is(split_of($cv), 'blue:70 green:30', 'the runtime split stays');
is(servers_of($cv), 'b1:7:ready b2:1:drain x1:4:drain:added',
    'the runtime server state stays');

# Edited split in the config: the config wins, at a reload.
spew($cv->conf_path, conf('blue 50, green 50', 1) =~
    s/^status_listen = off$/status_listen = off\nadmin_socket = ${\ $cv->admin_socket}/mr);
my $mark = $cv->log_mark;
is($cv->admin('reload'), "ok\n", 'reload a config with another split');
is(split_of($cv), 'blue:50 green:50', 'the edited split wins');
ok($cv->wait_log(qr/state: route app: pool blue: the config changed its weight from 100 to 50: the config wins over 70/,
    from => $mark), 'the log says the config won');
is(servers_of($cv), 'b1:7:ready b2:1:drain x1:4:drain:added',
    'the servers, not edited, keep their runtime state');
unlike(slurp($state), qr/^split/m,
    'the state file forgets the overridden split');

# Entry by entry: only green's weight edited.
is($cv->admin('set split app blue=20 green=80'), "ok\n", 'set split again');
spew($cv->conf_path, slurp($cv->conf_path) =~
    s/^split = .*$/split = blue 50, green 40/mr);
is($cv->admin('reload'), "ok\n", 'reload with only green edited');
is(split_of($cv), 'blue:20 green:40',
    'blue keeps its runtime weight, green takes the edited one');

# Edited while stopped: the config wins at the restart, and the server
# weight edited too.
$cv->stop;
my $conf2 = conf('blue 60, green 40', 2);
$cv = start_cutover(conf => $conf2);
is(split_of($cv), 'blue:60 green:40',
    'a split edited while stopped wins at the restart');
is(servers_of($cv), 'b1:2:ready b2:1:drain x1:4:drain:added',
    'an edited server weight wins, the rest is restored');

# Corrupt state files.
$cv->stop;
spew($state, "garbage\n");
$cv = start_cutover(conf => $conf2);
ok($cv->wait_log(qr/\[warn\] state file \Q$state\E:1: not a cutover state file; the state file is ignored/),
    'a corrupt state file is reported with its line');
ok($cv->alive, 'and cutover runs');
is(split_of($cv), 'blue:60 green:40', 'on the config alone');
is(http_get($port, '/')->{status}, 200, 'and serves');
$cv->stop;
spew($state, "cutover-state 1\nsplit app blue 5 60\nsplit app green x 40\n");
$cv = start_cutover(conf => $conf2);
ok($cv->wait_log(qr/state file \Q$state\E:3: bad weight; the state file is ignored/),
    'a bad record is reported with its line');
is(split_of($cv), 'blue:60 green:40', 'and no half of the file is used');
$cv->stop;
spew($state, "cutover-state 1\nsplit app blue 5 60");
$cv = start_cutover(conf => $conf2);
ok($cv->wait_log(qr/state file \Q$state\E:2: truncated line; the state file is ignored/),
    'a truncated file is reported');
$cv->stop;

# A state file that cannot be written: logged, the change still applies.
(my $conf3 = $conf2) =~ s{^state_file = .*$}{state_file = $dir/nodir/state}m;
$cv = start_cutover(conf => $conf3);
is($cv->admin('set split app blue=1 green=1'), "ok\n",
    'a change with an unwritable state file is answered ok');
ok($cv->wait_log(qr/\[error\] state file \Q$dir\E\/nodir\/state: cannot create a temp file beside it: No such file or directory; the old file stays/),
    'and the failed write is logged');
is(split_of($cv), 'blue:1 green:1', 'the change applies all the same');
$cv->stop;

# A server replaced at run time: g2 added, then g1, green's only server
# in the config, drained and deleted.  The deletion went through since
# g2 was there, and it holds at a reload and a restart alike.
$cv = start_cutover(conf => $conf2);
is($cv->admin("add server green g2 127.0.0.1:@{[$extra->port]}"), "ok\n",
    'add a second server to green');
$cv->admin('set server green/g1 drain');
is($cv->admin('del server green/g1'), "ok\n",
    'delete green\'s config server');
is($cv->admin('reload'), "ok\n", 'reload the same config');
is(servers_of($cv, 'green'), 'g2:1:ready:added',
    'the deleted server stays deleted at a reload');
$cv->stop;
$cv = start_cutover(conf => $conf2);
is(servers_of($cv, 'green'), 'g2:1:ready:added',
    'and at a restart');
$cv->stop;
