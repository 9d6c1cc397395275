#!/usr/bin/perl
# The access log in both formats, and listeners on IPv6: combined lines
# as nginx writes them (quotes and other bytes escaped as \xHH), JSON
# lines with route, pool, server, status, bytes and times, and a request
# over [::1] served like any other.

use strict;
use warnings;
use Test::More tests => 15;
use Cutover::Test;
use JSON::PP;
use IO::Socket::IP;

my $be = start_backend(name => 'blue');
my $port = free_port();
my $dir = tmpdir();

sub conf {
	my ($format, $log, $v6) = @_;
	return <<"EOF";
[global]
status_listen = off
access_log = $log
access_log_format = $format

[listener web]
bind = 127.0.0.1:$port
@{[$v6 ? "bind = [::1]:$v6" : '']}

[pool blue]
server = b1 127.0.0.1:@{[$be->port]}

[route app]
split = blue 1
EOF
}

my $cv = start_cutover(conf => conf('combined', "$dir/access.log"));
http_get($port, '/hello?x=1', 'User-Agent' => 'test-agent',
    Referer => 'http://ref.test/');
http_get($port, '/missing', Host => 'x', 'User-Agent' => 'a"b');
# Fields that grow fourfold when escaped.
http_get($port, '/long?x=' . ('\\' x 2100), Host => 'x',
    'User-Agent' => "\xc3\xa9" x 1100);
$cv->stop;
my @lines = split /\n/, Cutover::Test::_slurp("$dir/access.log");
is(scalar @lines, 3, 'one combined line per request');
my $re = '^127\.0\.0\.1 - - \[\d\d/\w\w\w/\d{4}:[\d:]+ [+-]\d{4}\] '
    . '"GET /hello\?x=1 HTTP/1\.1" 200 \d+ "http://ref\.test/" '
    . '"test-agent"$';
my ($hello) = grep { m{"GET /hello} } @lines;
like($hello // '', qr/$re/, 'in the combined format');
my ($missing) = grep { m{"GET /missing} } @lines;
like($missing // '', qr/ "a\\x22b"$/,
    'a quote in a field is escaped as \x22, as nginx does');
my ($long) = grep { m{"GET /long} } @lines;
like($long // '', qr{^127\.0\.0\.1 - - \[[^]]+\] "GET /long\?x=(\\x5C)+ HTTP/1\.1" 200 \d+ "-" "(\\x[0-9A-F]{2})+"$},
    'long escaped fields are cut short at a whole escape, the line whole')
    or diag(substr($long // '', -100));

my $v6 = free_port();
my $have_v6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => $v6,
    Listen => 1);
close $have_v6 if $have_v6;
$cv = start_cutover(conf => conf('json', "$dir/access.json",
    $have_v6 ? $v6 : 0));
my $r = http_get($port, '/j',
    'User-Agent' => "agent \"quoted\" \\ x caf\xc3\xa9 \xff");
is($r->{status}, 200, 'a request with the JSON log on');
# Fields longer than the line has room for: cut short, the line whole.
my $long = 'A' x 200;
$r = http_request($port, "$long /" . ('b' x 8100) . " HTTP/1.1\r\n"
    . "Host: x\r\nUser-Agent: " . ("\xe9" x 3000) . "\r\n"
    . "Referer: " . ('"' x 3000) . "\r\nConnection: close\r\n\r\n");
ok($r->{status} && $cv->alive,
    'a request with an 8 KB target and long escaped headers is answered');
$cv->stop;
# Two workers may write their lines out of order (access_log_buffer).
my ($j, $jlong) = (sort { length $a <=> length $b } split /\n/,
    Cutover::Test::_slurp("$dir/access.json"))[0, -1];
my $el = eval { decode_json($jlong // '') };
ok($el && $el->{method} eq $long && $el->{status} == $r->{status} &&
    index('/' . ('b' x 8100), $el->{target}) == 0 &&
    $el->{server} eq 'b1', 'its JSON line is whole, long values cut short')
    or diag(substr($jlong // '', 0, 300));
my $e = eval { decode_json($j) };
ok($e && $e->{user_agent} eq "agent \"quoted\" \\ x caf\x{e9} \x{ff}",
    'the JSON line parses, quotes and backslashes escaped, UTF-8 kept, '
    . 'other bytes as \\u00XX') or diag($j);
is($e->{route}, 'app', 'it names the route');
is($e->{pool}, 'blue', 'the pool');
is($e->{server}, 'b1', 'the server');
ok($e->{status} == 200 && $e->{bytes} > 0, 'the status and bytes');
ok(defined $e->{upstream_time} && defined $e->{request_time},
    'the upstream and total times');

SKIP: {
	skip 'no IPv6 loopback on this machine', 2 unless $have_v6;
	$cv = start_cutover(conf => conf('json', "$dir/a6.json", $v6));
	my $s = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $v6,
	    Timeout => 5);
	ok($s, 'the listener accepts on [::1]');
	print $s "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	local $/;
	my $resp = <$s> // '';
	like($resp, qr{^HTTP/1\.1 200 .*blue}s, 'and proxies the request');
}
