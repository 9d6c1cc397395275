#!/usr/bin/perl
# The access log's buffer: a line reaches the file about a second after
# its request while cutover runs, at once with access_log_buffer = 0;
# thousands of requests over two workers through a small buffer give one
# whole line each, none split or lost; a reload that moves the log or
# turns it off, and SIGUSR1 after a rotation, first write both workers'
# lines to the old file.

use strict;
use warnings;
use Test::More tests => 13;
use JSON::PP;
use Time::HiRes qw(time sleep);
use Cutover::Test;

my $be = start_backend(name => 'b');
my $port = free_port();
my $dir = tmpdir();

sub conf {
	my (%o) = @_;
	return <<"EOF";
[global]
status_listen = off
workers = $o{workers}
access_log = $o{log}
access_log_format = json
access_log_buffer = $o{buffer}

[listener web]
bind = 127.0.0.1:$port

[pool p]
server = b1 127.0.0.1:@{[$be->port]}

[route r]
split = p 1
EOF
}

sub lines {
	my ($path) = @_;
	return () unless -e $path;
	return split /\n/, Cutover::Test::_slurp($path);
}

# Waits for the line of a target; returns the seconds it took.
sub seen_after {
	my ($path, $target, $t0) = @_;
	my $ok = wait_for(sub { grep { index($_, "\"$target") >= 0 }
	    lines($path) }, timeout => 5, interval => 0.02);
	return $ok ? time - $t0 : undef;
}

my $log = "$dir/a.json";
my $cv = start_cutover(conf => conf(workers => 1, log => $log,
    buffer => '64k'));
my $t0 = time;
is(http_get($port, '/first')->{status}, 200, 'a request');
my $took = seen_after($log, '/first', $t0);
ok(defined $took && $took < 3, 'its line is in the file while cutover '
    . 'runs (after ' . (defined $took ? sprintf('%.2f s', $took) : 'never')
    . ')');
$cv->stop;

$cv = start_cutover(conf => conf(workers => 1, log => $log, buffer => 0));
$t0 = time;
http_get($port, '/unbuffered');
my @now = grep { m{"/unbuffered} } lines($log);
is(scalar @now, 1, 'with access_log_buffer = 0 the line is there once the '
    . 'answer is');
$cv->stop;

# 3,000 requests over two workers through 4 KiB buffers.
unlink $log;
$cv = start_cutover(conf => conf(workers => 2, log => $log, buffer => '4k'));
my $r = run_parallel(port => $port, path => '/many?pad=' . ('x' x 300),
    conns => 20, requests => 150);
is($r->{ok}, 3000, '3000 requests answered');
# A reload that moves the log: every line logged before it, by either
# worker, is in the old file, every line after it in the new one.
my $log2 = "$dir/b.json";
$cv->rewrite(conf(workers => 2, log => $log2, buffer => '4k'));
is($cv->ctl('reload')->{status}, 0, 'a reload moves the access log');
$r = run_parallel(port => $port, path => '/after', conns => 4,
    requests => 25);
is($r->{ok}, 100, '100 more requests answered');
# Rotation: the file renamed, then SIGUSR1 reopens the log by its name.
rename($log2, "$log2.1") or die "rename: $!";
$cv->signal('USR1');
ok(wait_for(sub { -e $log2 }), 'SIGUSR1 reopens the access log');
$r = run_parallel(port => $port, path => '/rotated', conns => 4,
    requests => 10);
is($r->{ok}, 40, '40 more requests answered');
# One that turns it off: the lines before it are still written.
$cv->rewrite(conf(workers => 2, log => 'off', buffer => '4k'));
is($cv->ctl('reload')->{status}, 0, 'a reload turns the access log off');
$cv->signal('TERM');
ok(defined $cv->wait_exit(timeout => 10), 'cutover exits on SIGTERM');

sub targets {
	my ($path) = @_;
	my ($bad, %seen) = (0);
	for my $l (lines($path)) {
		my $e = eval { decode_json($l) };
		if (!$e || !defined $e->{target}) {
			$bad++;
			next;
		}
		$seen{$e->{target} =~ s/\?.*//r}++;
	}
	return ($bad, join ' ', map { "$_=$seen{$_}" } sort keys %seen);
}
my ($bad, $seen) = targets($log);
is("$bad $seen", '0 /many=3000',
    'the first file: a whole JSON line for each of the 3000 requests');
($bad, $seen) = targets("$log2.1");
is("$bad $seen", '0 /after=100',
    'the second, rotated: one for each of the 100 after the reload');
($bad, $seen) = targets($log2);
is("$bad $seen", '0 /rotated=40',
    'the file reopened by SIGUSR1: the 40 after the rotation');
