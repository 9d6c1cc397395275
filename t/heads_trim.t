#!/usr/bin/perl
# Parsed request and response heads are kept for reuse, as many as were
# under way at once; after a burst, those no request takes are freed
# within seconds, down to 32 per worker, so that the peak of a burst does
# not stay in memory for the process's life.  show info counts them.

use strict;
use warnings;
use Test::More tests => 7;
use Cutover::Test;

my $back = start_backend(name => 'blue');
my $port = free_port();
my $cut = start_cutover(conf => <<"EOF");
[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$back->port]}
keepalive = 256

[route app]
split = blue 100
EOF

# The sum over workers of "cached heads" in show info, and the workers.
sub cached { return $cut->worker_figure('cached heads') }

# 150 requests under way at once: each gives back a request head and a
# response head when it ends.
sub burst {
	return run_parallel(port => $port, conns => 150, requests => 1,
	    path => '/?delay=400', timeout => 30);
}

my $r = burst();
is($r->{ok}, 150, 'a burst of 150 requests at once: all answered');
my ($after, $workers) = cached();
cmp_ok($after // 0, '>=', 150,
    'after it, the heads it used are kept for reuse') or
    diag($cut->admin('show info'));

my $floor = 32 * ($workers // 1);
my $trimmed = Cutover::Test::wait_for(sub {
	my ($n) = cached();
	return defined $n && $n <= $floor;
}, timeout => 5);
ok($trimmed, "within seconds, those unused are freed, down to $floor") or
    diag($cut->admin('show info'));
my ($left) = cached();
cmp_ok($left, '>=', 1, '... but not all of them');

# The list grows again with the next burst, which loses nothing.
$r = burst();
is($r->{ok}, 150, 'the next burst: all answered');
($after) = cached();
cmp_ok($after // 0, '>=', 150, '... and the heads are kept again');

# JSON says the same, per worker.
my $json = $cut->admin('show info json') // '';
like($json, qr/"cached_heads":\d+/, 'show info json has cached_heads');
