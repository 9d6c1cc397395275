#!/usr/bin/perl
# Bodies are streamed, never held: a 1 GiB upload and a 1 GiB download
# pass through the proxy whole, while the proxy's peak resident memory
# grows by a bounded amount (read from /proc).  Set CUTOVER_STREAM_SIZE
# to change the size.

use strict;
use warnings;
use Test::More tests => 6;
use Cutover::Test;

my $size = $ENV{CUTOVER_STREAM_SIZE} // 1024 * 1024 * 1024;
my $bound = 64 * 1024 * 1024;
my $be = start_backend(name => 'blue');
my $port = free_port();
# AddressSanitizer keeps freed memory in quarantine (256 MiB by default),
# which would count as growth: keep its quarantine small.
my $asan = join ':', grep { defined && length } $ENV{ASAN_OPTIONS},
    'quarantine_size_mb=4', 'thread_local_quarantine_size_kb=64';
my $cv = start_cutover(env => { ASAN_OPTIONS => $asan }, conf => <<"EOF");
[global]
status_listen = off

[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:@{[$be->port]}

[route app]
split = blue 1
EOF

# Peak resident set of a process in bytes.
sub hwm {
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/status" or return 0;
	while (<$fh>) {
		return $1 * 1024 if /^VmHWM:\s+(\d+) kB/;
	}
	return 0;
}

http_get($port, '/');
my $base = hwm($cv->pid);

my $r = http_request($port, "POST /?echo=count HTTP/1.1\r\nHost: x\r\n"
    . "Content-Length: $size\r\nConnection: close\r\n\r\n",
    body_size => $size, timeout => 300);
is($r->{body}, "bytes=$size sum=" . pattern_sha1($size) . "\n",
    'a 1 GiB upload reaches the server whole');

$r = http_request($port, "GET /?size=$size HTTP/1.1\r\nHost: x\r\n"
    . "Connection: close\r\n\r\n", discard => 1, timeout => 300);
is($r->{body_length}, $size, 'a 1 GiB download reaches the client whole');
is($r->{body_sha1}, pattern_sha1($size), 'byte for byte');

$r = http_request($port, "POST /?echo=count HTTP/1.1\r\nHost: x\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    body_size => $size / 4, chunk_size => 65536, timeout => 300);
is($r->{body}, "bytes=" . ($size / 4) . " sum=" . pattern_sha1($size / 4)
    . "\n", 'a chunked upload of a quarter of that arrives whole');

my $grow = hwm($cv->pid) - $base;
ok($grow < $bound, sprintf('peak memory grew by %.1f MiB, under %d MiB',
    $grow / 1048576, $bound / 1048576));
diag(sprintf('peak RSS growth: %.1f MiB', $grow / 1048576));

# A slow reader: the proxy must stop reading from the server meanwhile.
my $c = http_client($port);
$c->send("GET /?size=$size HTTP/1.1\r\nHost: x\r\n\r\n");
sleep 1;
my $g2 = hwm($cv->pid) - $base;
ok($g2 < $bound, 'a client that does not read does not make the proxy '
    . 'buffer the body');
$c->close;
