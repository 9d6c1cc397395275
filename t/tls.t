#!/usr/bin/perl
# TLS on both sides.  Listeners with tls_cert terminate TLS (verified by
# the client against a test CA), tell the server X-Forwarded-Proto: https,
# keep connections alive across requests and idle time, stream large
# bodies both ways, refuse versions below tls_min_version and offer only
# http/1.1 by ALPN.  Pools with tls = on speak TLS to their servers: the
# certificate is checked against tls_ca and the server's address, or the
# tls_sni name which also goes out as SNI; a server whose certificate
# does not match gets no request and the client a 502.  Health checks use
# the same settings.  A reload reads the certificates again: new
# connections get the new one, connections made before keep theirs, and a
# certificate that cannot be loaded refuses the reload.

use strict;
use warnings;

use IO::Socket::SSL;
use IPC::Open2 qw(open2);
use Test::More;
use Time::HiRes qw(sleep time);

use Cutover::Test;

plan tests => 98;

my $dir = Cutover::Test::tmpdir() . '/tls';
mkdir $dir;


# A test CA, and certificates it signs for CN with subjectAltNames.
openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " .
    "-keyout $dir/ca.key -out $dir/ca.crt -days 2 -subj '/CN=test CA'");
sub cert {
	my ($name, $cn, $san) = @_;
	openssl("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " .
	    "-keyout $dir/$name.key -out $dir/$name.csr -subj '/CN=$cn'");
	open(my $fh, '>', "$dir/$name.ext") or die;
	print $fh "subjectAltName=$san\n";
	close $fh;
	openssl("x509 -req -in $dir/$name.csr -CA $dir/ca.crt " .
	    "-CAkey $dir/ca.key -CAcreateserial -out $dir/$name.crt " .
	    "-days 2 -extfile $dir/$name.ext");
	system("cat $dir/$name.crt $dir/$name.key > $dir/$name.pem") == 0
	    or die;
}
cert('front', 'front one', 'DNS:localhost,IP:127.0.0.1');
cert('front2', 'front two', 'DNS:localhost,IP:127.0.0.1');
cert('back', 'backend', 'DNS:backend.test,IP:127.0.0.1');
cert('other', 'other one', 'DNS:other.test,DNS:*.wild.test');
cert('client', 'pool client', 'DNS:cutover.client');
# OCSP responses from the test CA, in NAME-chain.pem.ocsp next to a chain
# file (certificate, CA, key) for tls_ocsp_stapling: good, or revoked.
sub ocsp {
	my ($name, $revoked, $signer) = @_;
	$signer //= 'ca';
	system("cat $dir/$name.crt $dir/ca.crt $dir/$name.key > " .
	    "$dir/$name-chain.pem") == 0 or die;
	my $serial = `openssl x509 -in $dir/$name.crt -noout -serial`;
	$serial =~ s/^serial=|\s+$//g;
	my @t = gmtime(time + 2 * 86400);
	my $end = sprintf('%02d%02d%02d%02d%02d%02dZ', $t[5] % 100, $t[4] + 1,
	    @t[3, 2, 1, 0]);
	open(my $fh, '>', "$dir/$name.index") or die;
	print $fh $revoked ? "R\t$end\t$end\t$serial\tunknown\t/CN=x\n"
	    : "V\t$end\t\t$serial\tunknown\t/CN=x\n";
	close $fh;
	openssl("ocsp -issuer $dir/ca.crt -cert $dir/$name.crt -no_nonce " .
	    "-reqout $dir/$name.req");
	openssl("ocsp -index $dir/$name.index -rsigner $dir/$signer.crt " .
	    "-rkey $dir/$signer.key -CA $dir/ca.crt -reqin $dir/$name.req " .
	    "-respout $dir/$name-chain.pem.ocsp -ndays 1");
}
ocsp('front');
ocsp('other', 1);
# A client certificate from another CA, which listeners must refuse.
openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " .
    "-keyout $dir/rogue-ca.key -out $dir/rogue-ca.crt -days 2 " .
    "-subj '/CN=rogue CA'");
openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " .
    "-keyout $dir/rogue.key -out $dir/rogue.crt -days 2 -subj '/CN=rogue' " .
    "-CA $dir/rogue-ca.crt -CAkey $dir/rogue-ca.key");
system("cp $dir/ca.crt $dir/clients.pem") == 0 or die;
# A response the wrong CA signed.
ocsp('front2', 0, 'rogue-ca');
# A key of another certificate: must not load with front.crt.
openssl("genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 " .
    "-out $dir/other.key");

my $plain = start_backend(name => 'plain');
my $tb = start_backend(name => 'tlsb', args => ['-t', "$dir/back.pem"]);
my $tbh = start_backend(name => 'tlsh', args => ['-t', "$dir/back.pem"]);
# Asks for a client certificate from the test CA.
my $tbm = start_backend(name => 'tlsm',
    args => ['-t', "$dir/back.pem", '-C', "$dir/ca.crt"]);
# Closes its idle keep-alive connections after 300 ms.
my $tbk = start_backend(name => 'tlsk',
    args => ['-t', "$dir/back.pem", '-k', 300]);
my ($port, $port13, $hport, $mport, $oport) = map { free_port() } 1 .. 5;

sub conf {
	my ($cert, %o) = @_;
	my $http_tls = $o{http_tls} ? "tls_cert = $dir/$cert.pem" : '';
	my $sni = $o{sni} // 'backend.test';
	return <<"EOF";
[global]
keepalive_timeout = 3s

[listener web]
bind = 127.0.0.1:$port
tls_cert = $dir/$cert.crt
tls_key = $dir/$cert.key

# A second certificate, chosen by SNI.
[listener web13]
bind = 127.0.0.1:$port13
tls_cert = $dir/$cert.pem
tls_cert = $dir/other.pem
tls_min_version = TLSv1.3

[listener http]
bind = 127.0.0.1:$hport
$http_tls

# Staples the OCSP response in front-chain.pem.ocsp.
[listener ocsp]
bind = 127.0.0.1:$oport
tls_cert = $dir/front-chain.pem
tls_ocsp_stapling = on

# Clients must show a certificate from the test CA (a copy of it, which
# a test replaces).
[listener mtls]
bind = 127.0.0.1:$mport
tls_cert = $dir/$cert.pem
tls_client_ca = $dir/clients.pem

[pool plain]
server = p1 127.0.0.1:${\ $plain->port}

# Checked against the address: no SNI.
[pool byip]
server = t1 127.0.0.1:${\ $tb->port}
tls = on
tls_ca = $dir/ca.crt

# Checked against tls_sni, which goes out as SNI.
[pool byname]
server = t2 127.0.0.1:${\ $tb->port}
tls = on
tls_ca = $dir/ca.crt
tls_sni = $sni
retries = 0

# The certificate does not name wrong.test.
[pool wrong]
server = t3 127.0.0.1:${\ $tb->port}
tls = on
tls_ca = $dir/ca.crt
tls_sni = wrong.test
retries = 0

# Not verified: the system's CAs do not know the test CA.
[pool noverify]
server = t4 127.0.0.1:${\ $tb->port}
tls = on
tls_verify = off

# Only eligible once its HTTPS health checks pass.
[pool checked]
server = t5 127.0.0.1:${\ $tbh->port}
tls = on
tls_ca = $dir/ca.crt
health_path = /health
health_interval = 200ms
health_timeout = 150ms
health_rise = 1

# Its checks fail the certificate check: it never comes up.
[pool checkedbad]
server = t6 127.0.0.1:${\ $tbh->port}
tls = on
tls_ca = $dir/ca.crt
tls_sni = wrong.test
health_path = /health
health_interval = 200ms
health_timeout = 150ms
health_rise = 1

[route checkedbad]
path_prefix = /checkedbad
split = checkedbad 1

[pool shortidle]
server = t7 127.0.0.1:${\ $tbk->port}
tls = on
tls_ca = $dir/ca.crt

[route shortidle]
path_prefix = /shortidle
split = shortidle 1

# A new TLS connection per request: each one after the first resumes.
[pool resume]
server = t8 127.0.0.1:${\ $tb->port}
tls = on
tls_ca = $dir/ca.crt
keepalive = 0

[route resume]
path_prefix = /resume
split = resume 1

# Client certificates for a server that asks for one, also in checks.
[pool mtls]
server = m1 127.0.0.1:${\ $tbm->port}
tls = on
tls_ca = $dir/ca.crt
tls_cert = $dir/client.crt
tls_key = $dir/client.key
health_path = /health
health_interval = 200ms
health_timeout = 150ms
health_rise = 1

[pool nomtls]
server = m2 127.0.0.1:${\ $tbm->port}
tls = on
tls_ca = $dir/ca.crt
retries = 0

[route mtls]
path_prefix = /mtls
split = mtls 1

[route nomtls]
path_prefix = /nomtls
split = nomtls 1

[route byip]
path_prefix = /byip
split = byip 1

[route byname]
path_prefix = /byname
split = byname 1

[route wrong]
path_prefix = /wrong
split = wrong 1

[route noverify]
path_prefix = /noverify
split = noverify 1

[route checked]
path_prefix = /checked
split = checked 1

[route plain]
split = plain 1
EOF
}

# Under AddressSanitizer, freed memory waits in a quarantine (256 MB) that
# would hide whether cutover buffers a body it cannot pass on.
my %env = defined $ENV{ASAN_OPTIONS} ?
    (ASAN_OPTIONS => "$ENV{ASAN_OPTIONS}:quarantine_size_mb=1") : ();
my $cut = start_cutover(conf => conf('front'), env => \%env);

# A TLS connection to a listener, verified against the test CA.
sub tls_connect {
	my ($p, %o) = @_;
	return IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $p,
	    SSL_ca_file => "$dir/ca.crt", SSL_verifycn_name => 'localhost',
	    SSL_verifycn_scheme => 'http', Timeout => 5, %o);
}

# Sends raw on a TLS connection and reads one response.
sub tls_request {
	my ($s, $raw, %o) = @_;
	my $p = Cutover::Test::Parser->new(%o);
	!length $raw or print $s $raw or return { error => "write: $!" };
	my $deadline = time + 10;
	while (!$p->{done} && time < $deadline) {
		my $n = sysread($s, my $buf, 65536);
		if (!$n) {
			$p->eof($n // $SSL_ERROR);
			last;
		}
		$p->feed($buf);
	}
	return $p->result;
}

sub get_head {
	my ($path, @h) = @_;
	return "GET $path HTTP/1.1\r\nHost: app.test\r\n" .
	    join('', map { "$_\r\n" } @h) . "\r\n";
}

# 1. Terminating TLS: a verified connection, X-Forwarded-Proto: https.
my $c = tls_connect($port);
ok($c, 'a TLS client connects, verifying the certificate')
    or diag("TLS connect: $SSL_ERROR");
my $r = tls_request($c, get_head('/?headers=1'));
is($r->{status}, 200, 'a request over TLS is answered');
like($r->{body}, qr/^X-Forwarded-Proto: https\r$/m,
    'the server is told X-Forwarded-Proto: https');
like($r->{body}, qr/^X-Forwarded-For: 127\.0\.0\.1\r$/m,
    '... and the client address');
is($c->peer_certificate('commonName'), 'front one',
    'the listener shows tls_cert');

# 2. Keep-alive over TLS, also after idle time (longer than the 20 ms
# after which plain idle connections are reduced).
$r = tls_request($c, get_head('/?size=10'));
is($r->{headers}{'x-conn'}, 1, 'a second request on the same connection');
sleep(0.3);
$r = tls_request($c, get_head('/?size=10'));
ok($r->{complete} && $r->{body} eq 'abcdefghij',
    'and a third after 300 ms idle');
my $pipe = join('', map { get_head("/?size=$_") } 1 .. 3);
print $c $pipe;
my @sizes;
for (1 .. 3) {
	my $p = Cutover::Test::Parser->new;
	while (!$p->{done}) {
		my $n = sysread($c, my $buf, 65536) or last;
		$p->feed($buf);
		# What one read brought past this response is the next's.
		while ($p->{done} && length $p->{rest} && @sizes < 2) {
			push @sizes, $p->result->{body_length};
			my $rest = $p->{rest};
			$p = Cutover::Test::Parser->new;
			$p->feed($rest);
		}
	}
	push @sizes, $p->result->{body_length} if $p->{done} && @sizes < 3;
	last if @sizes >= 3;
}
is_deeply(\@sizes, [1, 2, 3], 'pipelined requests over TLS, in order');

# keepalive_timeout closes an idle TLS connection.
my $idle = tls_connect($port);
tls_request($idle, get_head('/?size=1'));
my $t0 = time;
my $n = sysread($idle, my $junk, 100);
my $waited = time - $t0;
ok(!$n && $waited > 2 && $waited < 8,
    sprintf('keepalive_timeout closes an idle TLS client (%.1f s)',
    $waited));

# Idle, a TLS connection is reduced as a plain one is, to its socket, its
# TLS state and a small record (seen in a debug log), and its next request
# builds the rest again.
{
	my $p2 = free_port();
	my $dbg = start_cutover(conf => <<"EOF");
[global]
log_level = debug

[listener web]
bind = 127.0.0.1:$p2
tls_cert = $dir/front.crt
tls_key = $dir/front.key

[pool plain]
server = p1 127.0.0.1:${\ $plain->port}

[route all]
split = plain 1
EOF
	my $t = tls_connect($p2);
	tls_request($t, get_head('/?size=1'));
	ok($dbg->wait_log(qr/idle after 1 requests, reduced$/, timeout => 3),
	    'an idle TLS connection is reduced');
	$r = tls_request($t, get_head('/?size=10'));
	ok($r->{complete} && $r->{body} eq 'abcdefghij',
	    'its next request is served on the same TLS connection');
	$dbg->wait_log(qr/idle after 2 requests, reduced$/, timeout => 3);
	close $t;
	ok($dbg->wait_log(qr/closed after 2 requests: /, timeout => 3),
	    'a client that closes it while reduced is let go');

	# A TLS record with no request in it (a KeyUpdate, sent by
	# s_client's "k" command) wakes the connection: it is reduced again.
	my $mark = $dbg->log_mark;
	my $pid = open2(my $out, my $in, 'openssl', 's_client', '-connect',
	    "127.0.0.1:$p2", '-crlf', '-tls1_3');
	print $in "GET /?size=1 HTTP/1.1\nHost: x\n\n";
	$in->flush;
	$dbg->wait_log(qr/idle after 1 requests, reduced$/, from => $mark,
	    timeout => 3);
	$mark = $dbg->log_mark;
	print $in "k\n";
	$in->flush;
	ok($dbg->wait_log(qr/idle after 1 requests, reduced$/, from => $mark,
	    timeout => 3), 'a KeyUpdate while reduced: reduced again');
	close $in;
	waitpid($pid, 0);
	$dbg->stop;
}

# 3. Large bodies both ways, TLS on both sides.
$c = tls_connect($port);
$r = tls_request($c, get_head('/byip?size=3000000'), discard => 1);
ok($r->{complete} && $r->{body_length} == 3000000 &&
    $r->{body_sha1} eq Cutover::Test::pattern_sha1(3000000),
    '3 MB from a TLS server to a TLS client, whole');
my $size = 2 * 1024 * 1024;
print $c "POST /byip?echo=count HTTP/1.1\r\nHost: app.test\r\n" .
    "Content-Length: $size\r\n\r\n";
for (my $off = 0; $off < $size; $off += 65536) {
	print $c Cutover::Test::pattern($off, 65536);
}
$r = tls_request($c, '');
is($r->{body}, sprintf("bytes=%d sum=%s\n", $size,
    Cutover::Test::pattern_sha1($size)),
    'a 2 MB upload reaches the TLS server whole');
$r = tls_request($c, "POST /byip?echo=count HTTP/1.1\r\nHost: app.test\r\n" .
    "Transfer-Encoding: chunked\r\n\r\n" .
    join('', map { sprintf("%x\r\n%s\r\n", 1000, 'x' x 1000) } 1 .. 50) .
    "0\r\n\r\n");
like($r->{body}, qr/^bytes=50000 /, 'a chunked upload over TLS both ways');

# Upstream TLS connections are kept alive and reused (by the worker that
# made them: the same client connection).
my $first = tls_request($c, get_head('/byip?size=1'));
my $second = tls_request($c, get_head('/byip?size=1'));
is($second->{headers}{'x-conn'}, $first->{headers}{'x-conn'},
    'a TLS connection to a server serves the next request too');

# Without keep-alive, each connection resumes the TLS session of the last.
my @res = map { tls_request($c, get_head('/resume?size=1')) } 1 .. 3;
is_deeply([map { $_->{headers}{'x-tls-resumed'} } @res], [0, 1, 1],
    'new TLS connections to a server resume its session');
isnt($res[1]{headers}{'x-conn'}, $res[2]{headers}{'x-conn'},
    '... on connections of their own');

# A server that asks for a client certificate gets the pool's tls_cert,
# in health checks too; without one, it refuses the handshake.
# (The first answer: a later one may come over a connection that resumed
# the session, whose client certificate the backend cannot name.)
my $first_m;
ok(Cutover::Test::wait_for(sub {
	$first_m = tls_request(tls_connect($port), get_head('/mtls'));
	($first_m->{status} // 0) == 200
}, timeout => 5), 'a pool with a client certificate: checks pass, 200');
is($first_m->{headers}{'x-tls-client'}, 'pool client',
    'the server saw tls_cert');
is(tls_request(tls_connect($port), get_head('/nomtls'))->{status}, 502,
    'a pool without one: 502');

# A server added at run time to a TLS pool speaks TLS like the others.
like($cut->admin('add server nomtls m3 127.0.0.1:' . $tb->port) // '',
    qr/^ok/, 'a server added to a TLS pool at run time');
$cut->admin('set server nomtls/m2 maint');
$r = tls_request(tls_connect($port), get_head('/nomtls?size=4'));
ok($r->{status} == 200 && $r->{body} eq 'abcd' &&
    $r->{headers}{'x-backend'} eq 'tlsb',
    'it is verified and answers over TLS');

# A server that closes its idle TLS connections costs no request.
is(tls_request($c, get_head('/shortidle?size=1'))->{status}, 200,
    'a request to a server that closes idle connections');
sleep(0.6);
$r = tls_request($c, get_head('/shortidle?size=3'));
ok($r->{status} == 200 && $r->{body} eq 'abc',
    'and one after it closed the idle TLS connection');

# A TLS server dying mid-body: the client must not get it as complete.
my $d = tls_connect($port);
$r = tls_request($d, get_head('/byip?size=200000&die=50000'), discard => 1);
ok(!$r->{complete} && $r->{body_length} < 200000,
    'a TLS server dying mid-body: the response is cut, not complete')
    or diag(explain($r->{error}, $r->{body_length}));

# A close-delimited body ends at the server's close: over plain TCP any
# FIN, over TLS only one after close_notify; a bare FIN is a crash.
$r = tls_request(tls_connect($port),
    get_head('/?noheaders-close=1&size=300000&die=100000&fin=1'),
    discard => 1);
ok($r->{complete} && $r->{body_length} == 100000,
    'a plain server closing ends a close-delimited body');
$r = tls_request(tls_connect($port),
    get_head('/byip?noheaders-close=1&size=300000&die=100000&fin=1'),
    discard => 1);
ok(!$r->{complete},
    'a TLS server closing without close_notify cuts it short')
    or diag(explain($r->{error}, $r->{body_length}));

# To an HTTP/1.0 client the only sign of a cut body is a close without
# close_notify; a whole one ends with it.
sub end_of {
	my ($path) = @_;
	my $s = tls_connect($port) or return 'no connection';
	print $s "GET $path HTTP/1.0\r\nHost: app.test\r\n\r\n";
	my ($n, $got) = (0, 0);
	$got += $n while ($n = sysread($s, my $buf, 65536));
	my $notify = Net::SSLeay::get_shutdown($s->_get_ssl_object) &
	    Net::SSLeay::RECEIVED_SHUTDOWN();
	return $notify ? "close_notify after $got" : "cut after $got";
}
like(end_of('/byip?noheaders-close=1&size=1000'), qr/^close_notify /,
    'HTTP/1.0: a whole close-delimited body ends with close_notify');
like(end_of('/byip?noheaders-close=1&size=300000&die=100000'), qr/^cut /,
    'HTTP/1.0: one cut short ends without');

# A client that stops reading: cutover reads a bounded part of the body
# from the server (its buffers and the sockets' fill up, then it stops),
# then the whole body arrives once the client reads again.  Counted in
# bytes read by system calls (/proc/PID/io), which no allocator or
# sanitizer skews as it does RSS.
my $slow = tls_connect($port);
my $read0 = $cut->read_bytes;
print $slow get_head('/byip?size=40000000');
sleep(1.5);
my $mb = ($cut->read_bytes - $read0) / 1e6;
ok($mb < 24, sprintf('a client not reading 40 MB: cutover read %.1f MB '
    . 'of it', $mb));
$r = tls_request($slow, '', discard => 1);
ok($r->{complete} && $r->{body_length} == 40000000 &&
    $r->{body_sha1} eq Cutover::Test::pattern_sha1(40000000),
    'and it gets the 40 MB whole once it reads');

# 4. Server names: none for an address, tls_sni when set.  On a new
# connection: the 40 MB above can take longer than keepalive_timeout on a
# busy machine, and $c would have been closed meanwhile.
$c = tls_connect($port);
$r = tls_request($c, get_head('/byip'));
is($r->{headers}{'x-tls-sni'}, '-',
    'no SNI towards a server given by address');
$r = tls_request($c, get_head('/byname'));
is($r->{status}, 200, 'a server checked against tls_sni answers');
is($r->{headers}{'x-tls-sni'}, 'backend.test', 'tls_sni goes out as SNI');
$r = tls_request($c, get_head('/noverify'));
is($r->{status}, 200, 'tls_verify = off talks to an unknown CA');

# 5. A certificate that does not match: no request reaches the server.
my $before = grep { m{ /wrong} } $tb->requests;
my $mark = $cut->log_mark;
$r = tls_request($c, get_head('/wrong'));
is($r->{status}, 502, 'a server whose certificate does not match: 502');
ok($cut->wait_log(qr/wrong.*certificate verify failed/, from => $mark),
    'the log says the certificate check failed')
    or diag(substr($cut->log, $mark));
is(scalar(grep { m{ /wrong} } $tb->requests), $before,
    'and the server got no request');

# 6. HTTPS health checks with the pool's CA.
ok(Cutover::Test::wait_for(sub {
	(tls_request(tls_connect($port), get_head('/checked'))->{status} //
	    0) == 200
}, timeout => 5), 'a pool with HTTPS health checks comes up');
ok(scalar(grep { m{ /health} } $tbh->requests) > 0,
    'its server saw the checks');
ok($cut->wait_log(qr/server t6: .*(?:certificate|SSL)/),
    'checks that fail the certificate check say so')
    or diag($cut->log);
is(tls_request(tls_connect($port), get_head('/checkedbad'))->{status}, 503,
    'and keep that server out');

# 7. Versions and ALPN.
my $old = tls_connect($port13, SSL_version => 'TLSv1_2');
ok(!$old, 'tls_min_version = TLSv1.3 refuses a TLS 1.2 client');
my $new = tls_connect($port13);
ok($new && $new->get_sslversion eq 'TLSv1_3', '... and takes TLS 1.3');
is(tls_request($new, get_head('/'))->{status}, 200,
    '... which gets answered');
# Certificates by SNI: the first that covers the name, else the first.
sub cn_for {
	my ($name) = @_;
	my $s = tls_connect($port13, SSL_hostname => $name,
	    SSL_verifycn_name => $name) or return "none: $SSL_ERROR";
	return $s->peer_certificate('commonName');
}
is(cn_for('other.test'), 'other one', 'SNI other.test: its certificate');
is(cn_for('a.wild.test'), 'other one', '... and by its wildcard');
is(cn_for('localhost'), 'front one', 'SNI localhost: the first certificate');
$new = tls_connect($port13, SSL_hostname => 'unknown.test',
    SSL_verify_mode => SSL_VERIFY_NONE);
is($new && $new->peer_certificate('commonName'), 'front one',
    'an unknown name: the first certificate');
my $h2 = tls_connect($port, SSL_alpn_protocols => ['h2', 'http/1.1']);
is($h2 && $h2->alpn_selected, 'http/1.1',
    'ALPN picks http/1.1 over h2');
$h2 = tls_connect($port, SSL_alpn_protocols => ['h2']);
ok($h2 && !$h2->alpn_selected,
    'a client offering only h2 gets no protocol, not an error');

# 8. Not TLS, on a TLS port: closed without an answer; nothing breaks.
my $raw = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
    Timeout => 5) or die;
print $raw get_head('/');
$raw->blocking(1);
my $got = '';
1 while sysread($raw, $got, 4096, length $got);
like($got, qr{^HTTP/1\.1 400 .*\r\n\r\nplain HTTP request sent to a TLS listener\n\z}s,
    'plain HTTP on a TLS port: a 400 saying so, then the close');
ok($cut->alive, 'cutover is still running');
is(tls_request(tls_connect($port), get_head('/'))->{status}, 200,
    'and serves TLS after it');

# An unfinished handshake ends with client_header_timeout; others go on.
my $stall = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
    Timeout => 5) or die;
print $stall "\x16\x03\x01";
is(tls_request(tls_connect($port), get_head('/'))->{status}, 200,
    'a stalled handshake holds no one up');

# Handshakes are counted in /metrics, with clients and with servers.
my $m = http_get($cut->status_port, '/metrics')->{body};
my %count;
$count{"$1 $2"} = $3 while $m =~
    /^cutover_tls_handshakes_total\{peer="(\w+)",result="(\w+)"\} (\d+)$/mg;
ok(($count{'client ok'} // 0) >= 10 && ($count{'client failed'} // 0) >= 2,
    'handshakes with clients are counted, done and failed')
    or diag(explain(\%count));
ok(($count{'server ok'} // 0) >= 3 && ($count{'server failed'} // 0) >= 1,
    'and with servers')
    or diag(explain(\%count));

# 9. A WebSocket tunnel through a TLS listener.
my $ws = tls_connect($port);
$r = tls_request($ws, "GET /ws HTTP/1.1\r\nHost: app.test\r\n" .
    "Upgrade: websocket\r\nConnection: Upgrade\r\n" .
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" .
    "Sec-WebSocket-Version: 13\r\n\r\n");
is($r->{status}, 101, 'an upgrade through a TLS listener');
print $ws "ping over tls";
my $echo = '';
while (length $echo < 13) {
	sysread($ws, $echo, 100, length $echo) or last;
}
is($echo, 'ping over tls', 'the tunnel carries bytes both ways');

# 10. Session tickets, and client certificates asked by a listener.
my $ticket_ctx = IO::Socket::SSL::SSL_Context->new(
    SSL_ca_file => "$dir/ca.crt", SSL_verify_mode => SSL_VERIFY_PEER,
    SSL_session_cache => IO::Socket::SSL::Session_Cache->new(4));
# One request, so that the ticket, sent after the handshake, is read.
sub ticketed {
	my $s = tls_connect($port, SSL_reuse_ctx => $ticket_ctx,
	    SSL_session_key => 'web') or return undef;
	my $st = tls_request($s, get_head('/'))->{status};
	my $reused = $s->get_session_reused;
	# Closed with close_notify: OpenSSL drops the session of a
	# connection freed without one from the client's cache.
	close($s);
	return { status => $st, reused => $reused };
}
my $t1 = ticketed();
my $t2 = ticketed();
ok($t1 && $t1->{status} == 200 && !$t1->{reused} && $t2 && $t2->{reused},
    'a client resumes its TLS session')
    or diag(explain([$t1, $t2]));

sub mtls_request {
	my (%o) = @_;
	my $s = tls_connect($mport, %o) or return { error => "$SSL_ERROR" };
	return tls_request($s, get_head('/?size=3'));
}
is(mtls_request()->{status}, undef,
    'a client without a certificate gets no answer from tls_client_ca');
$r = mtls_request(SSL_cert_file => "$dir/client.crt",
    SSL_key_file => "$dir/client.key");
ok($r->{status} && $r->{status} == 200 && $r->{body} eq 'abc',
    'one with a certificate from that CA is served')
    or diag(explain($r));
is(mtls_request(SSL_cert_file => "$dir/rogue.crt",
    SSL_key_file => "$dir/rogue.key")->{status}, undef,
    'one with a certificate from another CA is not');
# A ticket from a listener without client certificates must not resume
# where one is asked for: that would skip the check.
$r = mtls_request(SSL_reuse_ctx => $ticket_ctx, SSL_session_key => 'web');
is($r->{status}, undef,
    'a session from another listener does not resume past the check')
    or diag(explain($r));
# The same with TLS 1.2, whose tickets and session IDs take another path
# through OpenSSL than TLS 1.3's PSKs.
my $ticket12 = IO::Socket::SSL::SSL_Context->new(
    SSL_ca_file => "$dir/ca.crt", SSL_verify_mode => SSL_VERIFY_PEER,
    SSL_version => 'TLSv1_2',
    SSL_session_cache => IO::Socket::SSL::Session_Cache->new(4));
my @r12;
for (1 .. 2) {
	my $s = tls_connect($port, SSL_reuse_ctx => $ticket12,
	    SSL_session_key => 'web');
	my $st = $s && tls_request($s, get_head('/'))->{status};
	push @r12, $s ? [$st, $s->get_session_reused, $s->get_sslversion]
	    : ["$SSL_ERROR"];
	close($s) if $s;
}
ok($r12[1][0] && $r12[1][0] == 200 && $r12[1][1] && $r12[1][2] eq 'TLSv1_2',
    'a TLS 1.2 client resumes its session on the same listener')
    or diag(explain(\@r12));
$r = mtls_request(SSL_reuse_ctx => $ticket12, SSL_session_key => 'web');
is($r->{status}, undef,
    '... but not on another one past its client certificate check')
    or diag(explain($r));
# The failed handshake dropped the session from the client's cache: one
# more from the web listener for the reload below.
ticketed();

# The CAs in tls_client_ca replaced in place, then a reload: a session
# made with a certificate from the old CA no longer resumes.
open(my $rq, '>', "$dir/get.req") or die;
print $rq "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
close $rq;
my $sc = "openssl s_client -connect 127.0.0.1:$mport -CAfile $dir/ca.crt " .
    "-ign_eof";
my $o = `$sc -cert $dir/client.crt -key $dir/client.key \\
    -sess_out $dir/mtls.sess < $dir/get.req 2>&1`;
# (s_client's own output may run into the response: no anchor.)
like($o, qr{HTTP/1\.1 200}, 'a client with its certificate; its session '
    . 'saved');
system("cp $dir/rogue-ca.crt $dir/clients.pem") == 0 or die;
$mark = $cut->log_mark;
$cut->reload;
ok($cut->wait_log(qr/config reloaded/, from => $mark),
    'a reload with other CAs in the same tls_client_ca file');
$o = `$sc -sess_in $dir/mtls.sess < $dir/get.req 2>&1`;
unlike($o, qr{HTTP/1\.1 200},
    'the session from before, without a certificate, is not served')
    or diag(join("\n", grep { /Reused|New,|HTTP/ } split /\n/, $o));
system("cp $dir/ca.crt $dir/clients.pem") == 0 or die;

# OCSP stapling: a client that asks for the certificate's status gets
# the response read from the file.
my $st = `echo | openssl s_client -connect 127.0.0.1:$oport -status \\
    -CAfile $dir/ca.crt 2>&1`;
ok($st =~ /OCSP Response Status: successful/ && $st =~ /Cert Status: good/ &&
    $st =~ /Verify return code: 0/,
    'tls_ocsp_stapling: the stapled response says good') or diag($st);

# 11. Reload: new connections get the new certificate, old ones go on.
my $keep = tls_connect($port);
is(tls_request($keep, get_head('/'))->{status}, 200,
    'a connection from before the reload');
$mark = $cut->log_mark;
$cut->rewrite(conf('front2'));
$cut->reload;
ok($cut->wait_log(qr/config reloaded/, from => $mark),
    'a reload with another certificate')
    or diag(substr($cut->log, $mark));
my $t3 = ticketed();
ok($t3 && $t3->{status} == 200 && $t3->{reused},
    'and resumes it after a reload: the ticket keys outlive reloads')
    or diag(explain($t3));
my $c2 = tls_connect($port);
is($c2 && $c2->peer_certificate('commonName'), 'front two',
    'new connections get the new certificate');
$r = tls_request($keep, get_head('/?size=5'));
ok($r->{complete} && $r->{body} eq 'abcde',
    'the old connection still works');
is($keep->peer_certificate('commonName'), 'front one',
    '... on the old certificate');

# A reload checks servers anew: a TLS connection kept from before is not
# reused under changed TLS settings.
my $k = tls_connect($port);
is(tls_request($k, get_head('/byname'))->{status}, 200,
    'a kept TLS connection to a server');
$mark = $cut->log_mark;
$cut->rewrite(conf('front2', sni => 'wrong.test'));
$cut->reload;
ok($cut->wait_log(qr/config reloaded/, from => $mark),
    'a reload changing its tls_sni');
is(tls_request($k, get_head('/byname'))->{status}, 502,
    'the next request is checked against it: 502');

# A certificate that cannot be loaded refuses the reload.
(my $broken = conf('front2')) =~ s{tls_key = \S+}{tls_key = $dir/other.key};
$mark = $cut->log_mark;
$cut->rewrite($broken);
$cut->reload;
ok($cut->wait_log(qr/reload refused: .*does not match/, from => $mark),
    'a key that does not match the certificate refuses the reload')
    or diag(substr($cut->log, $mark));
$c2 = tls_connect($port);
is($c2 && $c2->peer_certificate('commonName'), 'front two',
    'and the running certificate stays');

# A reload that turns TLS on for a listener: its idle plain connections
# stay plain, new ones speak TLS.
my $plainc = http_client($hport);
$r = $plainc->request(get_head('/?size=2'));
is($r->{status}, 200, 'a plain keep-alive connection');
sleep(0.2);
$mark = $cut->log_mark;
$cut->rewrite(conf('front2', http_tls => 1));
$cut->reload;
ok($cut->wait_log(qr/config reloaded/, from => $mark),
    'a reload turning TLS on for that listener');
$r = $plainc->request(get_head('/?size=2'));
ok($r->{complete} && $r->{body} eq 'ab',
    'the idle plain connection goes on in plain HTTP');
$r = tls_request(tls_connect($hport), get_head('/?size=2'));
is($r->{body}, 'ab', 'a new connection to it speaks TLS');

# 12. cutover -t reports unusable TLS files with their line.
my $bad = Cutover::Test::write_conf(<<"EOF", name => 'tls-bad.conf');
[listener web]
bind = 127.0.0.1:$port
tls_cert = $dir/front.crt
tls_key = $dir/other.key

[listener web2]
bind = 127.0.0.1:$port13
tls_cert = $dir/front.key
tls_cert = $dir/nothing.pem

[listener web3]
bind = 127.0.0.1:$mport
tls_cert = $dir/front.pem
tls_client_ca = $dir/front.key

[pool p]
server = a 127.0.0.1:1
tls = on
tls_ca = $dir/nothing.crt

[listener ocsp]
bind = 127.0.0.1:$oport
tls_cert = $dir/front.pem
tls_cert = $dir/other-chain.pem
tls_cert = $dir/back-ca.pem
tls_cert = $dir/front2-chain.pem
tls_cert = $dir/front-trail.pem
tls_ocsp_stapling = on

[route r]
split = p 1
EOF
# The back certificate with its issuer, and front's response.
system("cat $dir/back.crt $dir/ca.crt $dir/back.key > $dir/back-ca.pem && " .
    "cp $dir/front-chain.pem.ocsp $dir/back-ca.pem.ocsp") == 0 or die;
# A good response with bytes after it.
system("cp $dir/front-chain.pem $dir/front-trail.pem && " .
    "(cat $dir/front-chain.pem.ocsp; echo junk) > $dir/front-trail.pem.ocsp")
    == 0 or die;
my $run = Cutover::Test::run_cutover('-t', '-c', $bad);
my $out = $run->{all};
is($run->{status}, 1, 'cutover -t refuses unusable TLS files');
like($out, qr/\Q$bad\E:4: listener web: the key in \S+other\.key does not match/,
    'a key of another certificate, at its line');
like($out, qr/\Q$bad\E:8: listener web2: no certificate in \S+front\.key/,
    'a file without a certificate, at its line');
like($out, qr/\Q$bad\E:9: listener web2: cannot read \S+nothing\.pem: No such file/,
    'and the next tls_cert too');
like($out, qr/\Q$bad\E:14: listener web3: cannot load the CA certificates in \S+front\.key/,
    'a tls_client_ca without certificates, at its line');
like($out, qr/\Q$bad\E:19: pool p: cannot read \S+nothing\.crt: No such file/,
    'a missing tls_ca, at its line');
like($out, qr/\Q$bad\E:23: listener ocsp: tls_ocsp_stapling: cannot read \S+front\.pem\.ocsp: No such file/,
    'tls_ocsp_stapling without a response file');
like($out, qr/\Q$bad\E:24: listener ocsp: tls_ocsp_stapling: \S+other-chain\.pem\.ocsp: the certificate is revoked/,
    'a response saying revoked');
like($out, qr/\Q$bad\E:25: listener ocsp: tls_ocsp_stapling: \S+back-ca\.pem\.ocsp: it is not about this certificate/,
    'a response about another certificate');
like($out, qr/\Q$bad\E:26: listener ocsp: tls_ocsp_stapling: \S+front2-chain\.pem\.ocsp: its signature does not check out/,
    'a response signed by another CA');
like($out, qr/\Q$bad\E:27: listener ocsp: tls_ocsp_stapling: \S+front-trail\.pem\.ocsp: 5 bytes after the response/,
    'a response with bytes after it');
