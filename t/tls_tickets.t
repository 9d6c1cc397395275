#!/usr/bin/perl
# Session ticket keys rotate (tls_ticket_rotate).  A key encrypts new
# tickets for one period, then the next ticket made brings a new key; a
# ticket under the old key still resumes, and is renewed under the new
# one, until its key is three periods old; after that it costs a full
# handshake.  Keys outlive reloads, rotation or not.  openssl s_client
# saves and offers the sessions: TLS 1.3, whose tickets come after the
# handshake, so each connection makes one request and reads the answer.
# TLS 1.2 resumes by ticket too, and never from a cache of sessions by
# ID, which would outlast the keys.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);

use Cutover::Test;

plan tests => 15;

my $dir = Cutover::Test::tmpdir() . '/tickets';
mkdir $dir;

openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " .
    "-keyout $dir/front.key -out $dir/front.crt -days 2 " .
    "-subj '/CN=localhost' -addext subjectAltName=IP:127.0.0.1");
open(my $rq, '>', "$dir/get.req") or die;
print $rq "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
close $rq;

my $back = start_backend(name => 'plain');
my $port = free_port();
sub conf {
	my ($rotate) = @_;
	return <<"EOF";
[global]
tls_ticket_rotate = $rotate

[listener web]
bind = 127.0.0.1:$port
tls_cert = $dir/front.crt
tls_key = $dir/front.key

[pool blue]
server = b1 127.0.0.1:$back->{port}

[route app]
split = blue 100
EOF
}
my $cut = start_cutover(conf => conf('1s'));

# One request over a new connection, offering the session in file $in if
# given and saving the one it ends with to $out: "new", "reused", or the
# output when no answer came.
sub session {
	my ($in, $out, $opts) = @_;
	$opts //= '-tls1_3';
	unlink "$dir/$out.sess";
	my $o = `openssl s_client -connect 127.0.0.1:$port -CAfile \\
	    $dir/front.crt $opts -ign_eof -sess_out $dir/$out.sess \\
	    @{[ $in ? "-sess_in $dir/$in.sess" : '' ]} < $dir/get.req 2>&1`;
	return $o unless $o =~ m{HTTP/1\.1 200};
	return 'reused' if $o =~ /^Reused,/m;
	return 'new' if $o =~ /^New,/m;
	return $o;
}

# The key that encrypts the first ticket is made with it, before $t0.
is(session(undef, 'a'), 'new', 'a first connection: full handshake');
my $t0 = time;
is(session('a', 'a2'), 'reused', 'its ticket resumes at once');
ok(-s "$dir/a2.sess", '... and a new ticket comes back (TLS 1.3: one use)');

# One period later, the old key still decrypts; the ticket that comes back
# is under a new key.
sleep($t0 + 1.3 - time);
is(session('a', 'b'), 'reused',
    'a ticket under the key of the last period resumes');

# Three periods after the first key was made, its tickets are refused;
# the renewed one, under a key made after $t0 + 1.3, resumes.
sleep($t0 + 3.2 - time);
is(session('a', 'c'), 'new',
    'a ticket whose key is three periods old costs a full handshake');
is(session('b', 'b2'), 'reused', 'a renewed ticket resumes');

# A reload keeps the keys; with rotation off the newest lasts.
my $mark = $cut->log_mark;
$cut->rewrite(conf('off'));
$cut->reload;
ok($cut->wait_log(qr/config reloaded/, from => $mark),
    'a reload with tls_ticket_rotate = off');
is(session('b2', 'd'), 'reused', 'a ticket from before the reload resumes');
is(session('a', 'z'), 'new',
    'a ticket refused before the reload stays refused without rotation');
sleep(1.2);
is(session('d', 'e'), 'reused',
    'without rotation, a ticket resumes after what was a period');
is(session('e', 'f'), 'reused', '... and so does the one it came back with');

# TLS 1.2: a ticket resumes; without tickets there is no cache of sessions
# by ID to resume from, whatever the keys.
is(session(undef, 't12', '-tls1_2'), 'new', 'TLS 1.2: a full handshake');
is(session('t12', 't12b', '-tls1_2'), 'reused', 'TLS 1.2: its ticket resumes');
is(session(undef, 'id', '-tls1_2 -no_ticket'), 'new',
    'TLS 1.2 without tickets: a full handshake');
ok(!-s "$dir/id.sess" || session('id', 'id2', '-tls1_2 -no_ticket') eq 'new',
    '... and the next one is full too: no session cache by ID');
