#!/usr/bin/perl
# tls_ocsp_stapling = fetch: cutover asks the OCSP responder the
# certificate names (Authority Information Access) for its status, by
# HTTP GET with the request in base64 (RFC 6960 appendix A.1), and
# staples the answer once it checks out.  A responder's answer that does
# not (here: revoked) is logged and not stapled, and the fetch is tried
# again a second later; a reload takes the current response over without
# asking the responder; a certificate that names no responder refuses the
# config.  The responder is a test server on loopback answering with
# responses made by openssl ocsp.

use strict;
use warnings;

use MIME::Base64 qw(decode_base64);
use Test::More;
use Time::HiRes qw(sleep time);

use Cutover::Rollout;
use Cutover::Test;

plan tests => 19;

my $dir = Cutover::Test::tmpdir() . '/ocsp';
mkdir $dir;

# What the responder answers: the DER response in $dir/NAME.der for NAME
# in the file "mode", nothing (the connection closed) for "down", and
# not for 20 s for "hang".
sub mode {
	open(my $fh, '>', "$dir/mode") or die;
	print $fh $_[0];
	close $fh;
}
mode('revoked');
my $log = "$dir/responder.log";
my ($rport) = Cutover::Rollout::_serve(sub {
	open(my $fh, '<', "$dir/mode") or return (500, 'no mode');
	my $m = <$fh>;
	return () if $m eq 'down';
	sleep(20) if $m eq 'hang';
	open(my $r, '<:raw', "$dir/$m.der") or return (500, "no $m");
	local $/;
	return (200, scalar <$r>);
}, $log);

# A CA, and a certificate that names the responder.
openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " .
    "-keyout $dir/ca.key -out $dir/ca.crt -days 2 -subj '/CN=test CA'");
sub cert {
	my ($name, $ext) = @_;
	openssl("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " .
	    "-keyout $dir/$name.key -out $dir/$name.csr -subj '/CN=localhost'");
	open(my $fh, '>', "$dir/$name.ext") or die;
	print $fh "subjectAltName=IP:127.0.0.1\n$ext";
	close $fh;
	openssl("x509 -req -in $dir/$name.csr -CA $dir/ca.crt " .
	    "-CAkey $dir/ca.key -CAcreateserial -out $dir/$name.crt " .
	    "-days 2 -extfile $dir/$name.ext");
	system("cat $dir/$name.crt $dir/ca.crt $dir/$name.key > " .
	    "$dir/$name.pem") == 0 or die;
}
cert('front', "authorityInfoAccess=OCSP;URI:http://127.0.0.1:$rport/ocsp\n");
cert('noaia', '');

# The responses: good and revoked, from the request openssl makes, and
# stale: good, but signed a day and two minutes ago for a day (openssl
# made to see that time through t/clock_shift.c).
my $serial = `openssl x509 -in $dir/front.crt -noout -serial`;
$serial =~ s/^serial=|\s+$//g;
my @t = gmtime(time + 2 * 86400);
my $end = sprintf('%02d%02d%02d%02d%02d%02dZ', $t[5] % 100, $t[4] + 1,
    @t[3, 2, 1, 0]);
openssl("ocsp -issuer $dir/ca.crt -cert $dir/front.crt -no_nonce " .
    "-reqout $dir/req.der");
for my $m ('good', 'revoked') {
	open(my $fh, '>', "$dir/$m.index") or die;
	print $fh $m eq 'revoked' ? "R\t$end\t$end\t$serial\tunknown\t/CN=x\n"
	    : "V\t$end\t\t$serial\tunknown\t/CN=x\n";
	close $fh;
	openssl("ocsp -index $dir/$m.index -rsigner $dir/ca.crt " .
	    "-rkey $dir/ca.key -CA $dir/ca.crt -reqin $dir/req.der " .
	    "-respout $dir/$m.der -ndays 1");
}
{
	local $ENV{LD_PRELOAD} = test_lib('clock_shift.so');
	local $ENV{CLOCK_SHIFT} = -(86400 + 120);
	openssl("ocsp -index $dir/good.index -rsigner $dir/ca.crt " .
	    "-rkey $dir/ca.key -CA $dir/ca.crt -reqin $dir/req.der " .
	    "-respout $dir/stale.der -ndays 1");
}

my $back = start_backend(name => 'plain');
my $port = free_port();
# A listener on port $p whose certificate is in $dir/$cert.pem.
sub conf {
	my ($p, $cert, $stapling) = @_;
	$stapling //= 'fetch';
	return <<"EOF";
[listener web]
bind = 127.0.0.1:$p
tls_cert = $dir/$cert.pem
tls_ocsp_stapling = $stapling

[pool blue]
server = b1 127.0.0.1:$back->{port}

[route app]
split = blue 100
EOF
}
my $cut = start_cutover(conf => conf($port, 'front'));

# What a client that asks for the certificate's status is told.
sub status {
	my $o = `echo | openssl s_client -connect 127.0.0.1:$port -status \\
	    -CAfile $dir/ca.crt 2>&1`;
	return 'good' if $o =~ /Cert Status: good/ &&
	    $o =~ /Verify return code: 0/;
	return 'none' if $o =~ /OCSP response: no response sent/;
	return $o;
}

ok($cut->wait_log(qr/tls_ocsp_stapling \S+front\.pem: the certificate is revoked; nothing to staple, fetching again in 1s/),
    'a revoked status from the responder is logged');
is(status(), 'none', '... and not stapled');

# The request went out as RFC 6960 says: GET, the responder's path, "/",
# and the DER request, the same openssl makes, in URL-encoded base64.
open(my $lf, '<', $log) or die;
my ($method, $target) = split / /, scalar <$lf>;
close $lf;
is($method, 'GET', 'the request is a GET');
my ($b64) = $target =~ m{^/ocsp/(.+)$};
$b64 =~ s/%([0-9A-F]{2})/chr hex $1/ge if defined $b64;
open(my $rq, '<:raw', "$dir/req.der") or die;
my $want = do { local $/; <$rq> };
ok(defined $b64 && decode_base64($b64) eq $want,
    'of the certificate\'s request, in base64 after the responder\'s path')
    or diag($target);

my $mark = $cut->log_mark;
mode('good');
ok($cut->wait_log(qr/tls_ocsp_stapling \S+front\.pem: a response from the responder, good until \d{4}-/,
    from => $mark, timeout => 5),
    'once the responder says good, the response is taken');
is(status(), 'good', 'and stapled');

# A reload while the responder is down: the response stays.
mode('down');
$mark = $cut->log_mark;
$cut->reload;
ok($cut->wait_log(qr/config reloaded/, from => $mark), 'a reload');
is(status(), 'good', 'the response fetched before is stapled still');
sleep(1.2);
unlike(substr($cut->log, $mark), qr/fetching again/,
    'and the responder is not asked again before its time');

# A certificate that names no responder cannot be stapled by fetching.
my $conf = write_conf(conf($port, 'noaia'), name => 'noaia.conf');
my $r = run_cutover('-t', '-c', $conf);
isnt($r->{status}, 0, 'a certificate without a responder refuses the config');
like($r->{all}, qr/:3: listener web: tls_ocsp_stapling: \S+noaia\.pem: the certificate names no OCSP responder/,
    'saying so at the line of its tls_cert');

# A response that expired two minutes ago is out of date, though within
# the five minutes of clock skew OpenSSL's check allows: in a file it
# refuses the config, and fetched it is not taken (where it would replace
# a response still current, and staple nothing).
system("cp $dir/stale.der $dir/front.pem.ocsp") == 0 or die;
$conf = write_conf(conf($port, 'front', 'on'), name => 'stale.conf');
$r = run_cutover('-t', '-c', $conf);
like($r->{all}, qr/tls_ocsp_stapling: \S+front\.pem\.ocsp: it is out of date/,
    'an expired response in the file refuses the config');
mode('stale');
my $port4 = free_port();
my $cut4 = start_cutover(conf => conf($port4, 'front'));
ok($cut4->wait_log(qr/tls_ocsp_stapling \S+front\.pem: it is out of date; nothing to staple, fetching again in 1s/,
    timeout => 5), 'an expired response from the responder is not taken');
is($cut4->stop, 0, 'a clean exit');

# Stopped while a fetch hangs: cutover exits at once, and (under the
# sanitizers) without a leak.
mode('hang');
my $port2 = free_port();
my $cut2 = start_cutover(conf => conf($port2, 'front'));
ok(Cutover::Test::wait_for(sub {
	open(my $fh, '<', $log) or return 0;
	my @l = <$fh>;
	return @l >= 3;
}, timeout => 5), 'a second cutover asks the hanging responder');
my $t0 = time;
is($cut2->stop, 0, 'SIGTERM while the fetch hangs: a clean exit');
cmp_ok(time - $t0, '<', 5, '... without waiting for the responder');

# A reload drops the context whose fetch hangs (stapling turned off), then
# a stop while that fetch is still in flight: it is cancelled too, and
# (under the sanitizers) nothing leaks.
my $port3 = free_port();
my $cut3 = start_cutover(conf => conf($port3, 'front'));
# Its first fetch starts a second after it does; the responder, still
# busy with the hanging request, holds it unanswered.
sleep(1.5);
$mark = $cut3->log_mark;
$cut3->rewrite(conf($port3, 'front', 'off'));
$cut3->reload;
ok($cut3->wait_log(qr/config reloaded/, from => $mark),
    'a reload drops the context being fetched for');
is($cut3->stop, 0,
    'SIGTERM while the dropped context\'s fetch hangs: a clean exit');
