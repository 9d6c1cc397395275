package Cutover::Test;

# The integration test harness, modelled on Test::Nginx: it starts test
# backends and cutover on free ports of 127.0.0.1, talks raw HTTP to them,
# and tears everything down at the end of the test file.  Teardown fails
# the file when a cutover log shows an [alert] or a sanitizer report, or
# when a process does not exit cleanly on SIGTERM.  The harness only ever
# emits failing assertions, so a test's plan counts its own tests only.
# Only core Perl modules are used.  The API is documented in the POD at the
# end of this file (perldoc t/lib/Cutover/Test.pm).

use strict;
use warnings;

use Config;
use Exporter qw(import);
use Digest::SHA ();
use Errno qw(EAGAIN EINTR);
use File::Basename qw(dirname);
use File::Path qw(remove_tree);
use File::Spec ();
use File::Temp ();
use Fcntl qw(O_WRONLY O_CREAT O_EXCL);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time sleep);

our @EXPORT = qw(free_port tmpdir start_backend write_conf start_cutover
    run_cutover http_request http_get http_post http_client run_parallel
    pattern pattern_sha1 wait_for openssl test_lib preload_env
    read_until_close read_closed);

our $TIMEOUT = $ENV{CUTOVER_TEST_TIMEOUT} // 600;

my $TMPDIR;		# per-file temp dir, made on first use
my @PROCS;		# every process started, for teardown
my %PORTS_GIVEN;	# ports free_port() handed out already
my @CLAIMS;		# this file's claims on them, removed at the end
my $SEQ = 0;		# numbers the files of the temp dir
my $MAIN_PID = $$;	# teardown runs in the test process only
my $PATTERN = join '', map { chr(ord('a') + $_ % 26) } 0 .. 26 * 5100 - 1;

$SIG{PIPE} = 'IGNORE';
# A test that hangs dies, so that END still stops what it started.
$SIG{ALRM} = sub { die "test file timed out after $TIMEOUT s\n" };
$SIG{INT} = $SIG{TERM} = sub { die "killed by SIG$_[0]\n" };
alarm $TIMEOUT if $TIMEOUT > 0;

# free_port() -> PORT: a TCP port of 127.0.0.1 free right now, and not
# handed to another test file running at the same time (prove -j): the
# port is free only until its user binds it, so each one handed out is
# claimed by a file named after it in $TMPDIR/cutover-test-ports, made
# with O_EXCL.  A claim older than the test timeout is left from a run
# that died and is taken over.
my $CLAIM_DIR = File::Spec->catdir(File::Spec->tmpdir, 'cutover-test-ports');

sub _claim_port {
	my ($port) = @_;
	my $path = "$CLAIM_DIR/$port";
	# Shared by every user, as /tmp is.
	chmod(01777, $CLAIM_DIR) if mkdir $CLAIM_DIR;
	if (!sysopen(my $fh, $path, O_WRONLY | O_CREAT | O_EXCL)) {
		# Where no claim can be made, the port goes unclaimed.
		return 1 unless $!{EEXIST};
		my $mtime = (stat $path)[9];
		return 0 if !defined $mtime ||
		    time - $mtime < ($TIMEOUT > 0 ? $TIMEOUT : 3600);
		utime(undef, undef, $path) or return 0;
	}
	push @CLAIMS, $path;
	return 1;
}

sub free_port {
	for (1 .. 50) {
		my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
		    LocalPort => 0, Proto => 'tcp', Listen => 1)
		    or die "free_port: $!\n";
		my $port = $s->sockport;
		close $s;
		next if $PORTS_GIVEN{$port}++ || !_claim_port($port);
		return $port;
	}
	die "free_port: no new free port\n";
}

# tmpdir() -> DIR: this test file's temp dir, removed at the end unless a
# test failed or CUTOVER_KEEP_TMP is set.
sub tmpdir {
	$TMPDIR //= File::Temp::tempdir('cutover-test-XXXXXX', TMPDIR => 1,
	    CLEANUP => 0);
	return $TMPDIR;
}

# test_lib(NAME) -> the path of a library make check builds next to
# t/backend for LD_PRELOAD (slow_resolve.so, clock_shift.so); dies when it
# is not built, so that a test that needs it fails rather than skips.
sub test_lib {
	my ($name) = @_;
	my $path = dirname($ENV{CUTOVER_BACKEND} // '.') . "/$name";
	die "$path is not built (make check builds it)\n" unless -f $path;
	return $path;
}

# preload_env(PATH) -> the env for start_cutover() that preloads the
# library PATH into cutover.  AddressSanitizer checks that its runtime
# comes first among the process's libraries: the preloaded one does not.
sub preload_env {
	my ($path) = @_;
	return { LD_PRELOAD => $path, ASAN_OPTIONS => join ':',
	    grep { length } $ENV{ASAN_OPTIONS} // '',
	    'verify_asan_link_order=0' };
}

# read_until_close(SOCKET, SECONDS) -> what SOCKET receives until it is
# closed, or until SECONDS have passed.
sub read_until_close {
	return (read_closed(@_))[0];
}

# read_closed(SOCKET, SECONDS) -> (bytes, closed): the same, and whether
# the peer closed.
sub read_closed {
	my ($s, $timeout) = @_;
	my ($got, $closed) = ('', 0);
	my $sel = IO::Select->new($s);
	my $end = time + $timeout;
	while (time < $end && $sel->can_read($end - time)) {
		next if sysread($s, $got, 65536, length $got);
		$closed = 1;
		last;
	}
	return ($got, $closed);
}

# openssl(ARGS): runs the openssl command quietly; dies with its output
# when it fails (test certificates, OCSP responses).
sub openssl {
	my $out = `openssl @_ 2>&1`;
	die "openssl @_: $out" if $?;
}

# Writes a file whole.
sub _spew {
	my ($path, $text) = @_;
	open my $fh, '>', $path or die "$path: $!\n";
	print $fh $text;
	close $fh or die "$path: $!\n";
}

# Reads a file whole; '' when it does not exist.
sub _slurp {
	my ($path) = @_;
	open my $fh, '<', $path or return '';
	local $/;
	my $text = <$fh>;
	return $text // '';
}

# write_conf($text, [name => FILE]) -> PATH: writes the text verbatim into
# the temp dir.
sub write_conf {
	my ($text, %o) = @_;
	my $path = tmpdir() . '/' . ($o{name} // 'cutover-' . ++$SEQ . '.conf');
	_spew($path, $text);
	return $path;
}

# wait_for(CODE, timeout => 5, interval => 0.05) -> the first true value
# CODE returns, or undef on timeout.
sub wait_for {
	my ($code, %o) = @_;
	my $deadline = time + ($o{timeout} // 5);
	while (1) {
		my $v = $code->();
		return $v if $v;
		return undef if time >= $deadline;
		sleep($o{interval} // 0.05);
	}
}

# Forks and execs argv with stdout and stderr sent to the given files;
# the child dies with the test (PR_SET_PDEATHSIG) where Linux allows.
sub _spawn {
	my ($argv, $out, $err, $env) = @_;
	my $pid = fork // die "fork: $!\n";
	return $pid if $pid;
	# prctl(PR_SET_PDEATHSIG, SIGKILL); the syscall number is per arch.
	my $nr = $Config{archname} =~ /^x86_64-linux/ ? 157 :
	    $Config{archname} =~ /^aarch64-linux/ ? 167 : undef;
	syscall($nr, 1, 9) if defined $nr;
	# Ignored signals stay ignored across exec: give SIGPIPE back.
	$SIG{PIPE} = 'DEFAULT';
	$ENV{$_} = $env->{$_} for keys %{$env // {}};
	open STDIN, '<', '/dev/null';
	if (ref $out) {
		open STDOUT, '>&', $out;
	} else {
		open STDOUT, '>>', $out;
	}
	open STDERR, '>>', $err;
	exec @$argv or do {
		print STDERR "exec $argv->[0]: $!\n";
		POSIX::_exit(127);
	};
}

# Decodes a wait status: the exit code, or 128 + the signal number.
sub _wstatus {
	my ($st) = @_;
	return $st & 127 ? 128 + ($st & 127) : $st >> 8;
}

# _run_capture([argv], timeout => 10, env => {}) -> {status, out, err, all}
sub _run_capture {
	my ($argv, %o) = @_;
	my $n = ++$SEQ;
	my ($out, $err) = (tmpdir() . "/run-$n.out", tmpdir() . "/run-$n.err");
	my $pid = _spawn($argv, $out, $err, $o{env});
	my $deadline = time + ($o{timeout} // 10);
	my $st;
	while (1) {
		if (waitpid($pid, WNOHANG) == $pid) {
			$st = _wstatus($?);
			last;
		}
		if (time >= $deadline) {
			kill 'KILL', $pid;
			waitpid($pid, 0);
			ok(0, "@$argv finishes within " .
			    ($o{timeout} // 10) . ' s');
			$st = -1;
			last;
		}
		sleep 0.02;
	}
	my %r = (status => $st, out => _slurp($out), err => _slurp($err));
	$r{all} = $r{out} . $r{err};
	_check_reports("@$argv", $r{err}, 1);
	return \%r;
}

# run_cutover(ARGS...) -> {status, out, err, all}: runs $CUTOVER_BIN with
# the arguments to its end (for -t and -V), 10 s at most.
sub run_cutover {
	my $bin = $ENV{CUTOVER_BIN} or die "CUTOVER_BIN is not set\n";
	return _run_capture([$bin, @_]);
}

# Lines of a log that make a test file fail.
sub _report_lines {
	my ($text, $alerts) = @_;
	my $san = qr/AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:/;
	my $re = $alerts ? qr/\[alert\]|$san/ : $san;
	return grep { /$re/ } split /\n/, $text;
}

# Fails (once) when text holds alert or sanitizer lines; prints them.
sub _check_reports {
	my ($what, $text, $alerts) = @_;
	my @bad = _report_lines($text, $alerts);
	return 1 unless @bad;
	ok(0, "no alert or sanitizer report from $what");
	diag("$what: $_") for @bad[0 .. ($#bad < 30 ? $#bad : 29)];
	if ($text =~ /(==\d+==ERROR:.*?)(?:\n\n|\z)/s) {
		diag($1);
	}
	return 0;
}

# Registers a process for teardown.
sub _track {
	my ($obj) = @_;
	push @PROCS, $obj;
	return $obj;
}

# start_backend(name => 'blue', args => [...], port => 0) -> backend
# object.  Starts $CUTOVER_BACKEND -p PORT -n NAME -l REQLOG ARGS and waits
# for its "port=N" and "ready" lines (10 s).
sub start_backend {
	my (%o) = @_;
	my $bin = $ENV{CUTOVER_BACKEND} or die "CUTOVER_BACKEND is not set\n";
	my $name = $o{name} // 'backend';
	my $n = ++$SEQ;
	my $dir = tmpdir();
	my $self = bless {
		name => $name,
		reqlog => "$dir/backend-$name-$n.req",
		errlog => "$dir/backend-$name-$n.log",
	}, 'Cutover::Test::Backend';
	pipe(my $r, my $w) or die "pipe: $!\n";
	$self->{pid} = _spawn([$bin, '-p', $o{port} // 0, '-n', $name,
	    '-l', $self->{reqlog}, @{$o{args} // []}], $w, $self->{errlog});
	close $w;
	_track($self);
	my $sel = IO::Select->new($r);
	my $deadline = time + 10;
	my $buf = '';
	while ($buf !~ /^ready$/m) {
		my $left = $deadline - time;
		my $got = $left > 0 && $sel->can_read($left) ?
		    sysread($r, $buf, 4096, length $buf) : undef;
		if (!$got) {
			close $r;
			die "backend $name did not start: " .
			    _slurp($self->{errlog}) . "\n";
		}
	}
	close $r;
	($self->{port}) = $buf =~ /^port=(\d+)$/m
	    or die "backend $name: no port line\n";
	return $self;
}

# Adds admin_socket and status_listen to [global] when the config lacks
# them, so that parallel test files never share a socket or port;
# workers = $CUTOVER_TEST_WORKERS, when set, to run the suite threaded;
# and batch_wait = $CUTOVER_TEST_BATCH_WAIT, when set, to run it with the
# batching event loop (not where the config sets busy_poll, which excludes
# it).
sub _conf_defaults {
	my ($text, $n, $status_port) = @_;
	my @add;
	push @add, 'admin_socket = ' . tmpdir() . "/cutover-$n.sock"
	    unless $text =~ /^\s*admin_socket\s*=/m;
	push @add, 'status_listen = 127.0.0.1:' . ($status_port // free_port())
	    unless $text =~ /^\s*status_listen\s*=/m;
	push @add, "workers = $ENV{CUTOVER_TEST_WORKERS}"
	    if $ENV{CUTOVER_TEST_WORKERS} && $text !~ /^\s*workers\s*=/m;
	push @add, "batch_wait = $ENV{CUTOVER_TEST_BATCH_WAIT}"
	    if $ENV{CUTOVER_TEST_BATCH_WAIT} &&
	    $text !~ /^\s*(?:batch_wait|busy_poll)\s*=/m;
	return $text unless @add;
	my $add = join '', map { "$_\n" } @add;
	$text .= "\n" unless $text =~ /\n\z/;
	return "[global]\n$add\n$text"
	    unless $text =~ s/^(\s*\[global\][ \t]*\r?\n)/$1$add/m;
	return $text;
}

# The value of a key in the config text (the first one), or undef.
sub _conf_value {
	my ($text, $key) = @_;
	return $text =~ /^\s*\Q$key\E\s*=\s*([^;#\r\n]*?)\s*$/m ? $1 : undef;
}

# host and port to connect to for a bind address of the config.
sub _connect_addr {
	my ($spec) = @_;
	my ($host, $port) = $spec =~ /^\[(.*)\]:(\d+)$/ ? ($1, $2) :
	    $spec =~ /^(.*):(\d+)$/ ? ($1, $2) : ('127.0.0.1', $spec);
	$host = '127.0.0.1' if $host eq '' || $host eq '*' ||
	    $host eq '0.0.0.0';
	$host = '::1' if $host eq '::';
	return ($host, $port);
}

# Whether something accepts connections on host:port now.
sub _port_open {
	my ($host, $port) = @_;
	my $s;
	if ($host =~ /:/) {
		require IO::Socket::IP;
		$s = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port,
		    Proto => 'tcp', Timeout => 1);
	} else {
		$s = IO::Socket::INET->new(PeerAddr => $host,
		    PeerPort => $port, Proto => 'tcp', Timeout => 1);
	}
	return 0 unless $s;
	close $s;
	return 1;
}

# start_cutover(conf => TEXT|PATH, args => [], raw => 0, wait => 1,
# env => {}) -> cutover object.  Runs $CUTOVER_BIN -c FILE ARGS in the
# foreground, stdout and stderr to files of the temp dir, and waits (10 s)
# until every bind port and status_listen accept connections.
sub start_cutover {
	my (%o) = @_;
	my $bin = $ENV{CUTOVER_BIN} or die "CUTOVER_BIN is not set\n";
	my $n = ++$SEQ;
	my $dir = tmpdir();
	my $text = $o{conf} // die "start_cutover: no conf\n";
	$text = _slurp($text) if $text !~ /\n/ && -f $text;
	$text = _conf_defaults($text, $n) unless $o{raw};
	my $self = bless {
		n => $n,
		raw => $o{raw},
		conf_text => $text,
		conf_path => write_conf($text, name => "cutover-$n.conf"),
		log_path => "$dir/cutover-$n.log",
		out_path => "$dir/cutover-$n.out",
	}, 'Cutover::Test::Cutover';
	my $el = _conf_value($text, 'error_log');
	$self->{error_log} = $el if defined $el && $el ne 'stderr';
	$self->{admin_socket} = _conf_value($text, 'admin_socket');
	my $sl = _conf_value($text, 'status_listen');
	$self->{status_port} = (_connect_addr($sl))[1]
	    if defined $sl && $sl ne 'off';
	my @binds = $text =~ /^\s*bind\s*=\s*([^;#\s]+)/mg;
	push @binds, $sl if defined $sl && $sl ne 'off';
	$self->{ports} = [map { (_connect_addr($_))[1] } @binds];
	$self->{pid} = _spawn([$bin, '-c', $self->{conf_path},
	    @{$o{args} // []}], $self->{out_path}, $self->{log_path}, $o{env});
	_track($self);
	return $self if defined $o{wait} && !$o{wait};
	my $up = wait_for(sub {
		if (!$self->alive) {
			# The die fails the file: teardown need not blame it.
			$self->{killed} = 1;
			die "cutover exited early with status " .
			    $self->exit_status . ":\n" . $self->log . "\n";
		}
		return !grep { !_port_open(_connect_addr($_)) } @binds;
	}, timeout => 10, interval => 0.05);
	die "cutover did not open @binds within 10 s:\n" . $self->log . "\n"
	    unless $up;
	return $self;
}

# Sends a request and reads one response on a fresh connection.
#
# http_request(PORT, RAW, timeout => 5, body => STR, body_size => N,
#     chunk_size => K, discard => 0, interim => 0, method => M) -> response
sub http_request {
	my ($port, $raw, %o) = @_;
	my $c = http_client($port, timeout => $o{timeout});
	return { error => "connect: $!", complete => 0, interim => [],
	    headers => {}, header_list => [], body => '', raw => '' }
	    unless $c;
	my $r = $c->request($raw, %o);
	$c->close;
	return $r;
}

# Builds a request head: method, path, then header pairs in order; Host
# and Connection: close are added unless given.
sub _head {
	my ($method, $port, $path, @h) = @_;
	my %have;
	for (my $i = 0; $i < @h; $i += 2) {
		$have{lc $h[$i]} = 1;
	}
	my $head = "$method $path HTTP/1.1\r\n";
	$head .= "Host: 127.0.0.1:$port\r\n" unless $have{host};
	for (my $i = 0; $i < @h; $i += 2) {
		$head .= "$h[$i]: $h[$i + 1]\r\n";
	}
	$head .= "Connection: close\r\n" unless $have{connection};
	return $head;
}

# http_get(PORT, PATH, NAME => VALUE, ...) -> response
sub http_get {
	my ($port, $path, @h) = @_;
	return http_request($port, _head('GET', $port, $path, @h) . "\r\n");
}

# http_post(PORT, PATH, BODY, NAME => VALUE, ...) -> response
sub http_post {
	my ($port, $path, $body, @h) = @_;
	return http_request($port, _head('POST', $port, $path, @h,
	    'Content-Length' => length $body) . "\r\n" . $body);
}

# http_client(PORT, timeout => 5) -> client object on a new connection,
# or undef when the connection fails ($! says why).
sub http_client {
	my ($port, %o) = @_;
	return Cutover::Test::Client->new($port, %o);
}

# pattern(OFFSET, LEN) -> LEN bytes of the backend's body pattern starting
# at OFFSET: byte i is chr(ord('a') + i % 26).
sub pattern {
	my ($off, $len) = @_;
	my $s = '';
	while ($len > 0) {
		my $n = $len > 130000 ? 130000 : $len;
		$s .= substr($PATTERN, $off % 26, $n);
		$off += $n;
		$len -= $n;
	}
	return $s;
}

# pattern_sha1(LEN) -> hex SHA-1 of the first LEN pattern bytes (what
# echo=count answers for such a body).
sub pattern_sha1 {
	my ($len) = @_;
	my $d = Digest::SHA->new(1);
	my $off = 0;
	while ($off < $len) {
		my $n = $len - $off > 130000 ? 130000 : $len - $off;
		$d->add(substr($PATTERN, $off % 26, $n));
		$off += $n;
	}
	return $d->hexdigest;
}

# run_parallel(port => P, conns => 10, requests => 10, path => '/',
#     headers => [NAME => VALUE ...], request => RAW, timeout => 60)
# -> {requests, ok, errors, transport_errors, backends => {NAME => n},
#     statuses => {CODE => n}, elapsed}
sub run_parallel {
	my (%o) = @_;
	my $port = $o{port} // die "run_parallel: no port\n";
	my $raw = $o{request} // _head('GET', $port, $o{path} // '/',
	    @{$o{headers} // []}, Connection => 'keep-alive') . "\r\n";
	my ($method) = $raw =~ /^(\S+)/;
	my $conns = $o{conns} // 10;
	my %res = (requests => $conns * ($o{requests} // 10), ok => 0,
	    errors => 0, transport_errors => 0, backends => {},
	    statuses => {});
	my $deadline = time + ($o{timeout} // 60);
	my $start = time;
	my @c = map { { left => $o{requests} // 10 } } 1 .. $conns;
	my $fail = sub {
		my ($c) = @_;
		$res{errors}++;
		$res{transport_errors}++;
		$c->{left}--;
		close $c->{sock} if $c->{sock};
		delete @$c{qw(sock parser out)};
	};
	while (time < $deadline) {
		my ($rs, $ws) = (IO::Select->new, IO::Select->new);
		my %by;
		for my $c (@c) {
			next if $c->{left} <= 0;
			if (!$c->{sock}) {
				$c->{sock} = IO::Socket::INET->new(
				    PeerAddr => '127.0.0.1', PeerPort => $port,
				    Proto => 'tcp', Timeout => 2);
				if (!$c->{sock}) {
					$fail->($c);
					next;
				}
				$c->{sock}->blocking(0);
			}
			if (!$c->{parser}) {
				$c->{parser} = Cutover::Test::Parser->new(
				    method => $method);
				$c->{out} = $raw;
			}
			$by{fileno $c->{sock}} = $c;
			$rs->add($c->{sock});
			$ws->add($c->{sock}) if length $c->{out};
		}
		last unless keys %by;
		my ($r, $w) = IO::Select->select($rs, $ws, undef, 0.2);
		for my $s (@{$w // []}) {
			my $c = $by{fileno $s};
			my $n = syswrite($s, $c->{out});
			if (!defined $n) {
				$fail->($c) unless $! == EAGAIN || $! == EINTR;
				next;
			}
			substr($c->{out}, 0, $n, '');
		}
		for my $s (@{$r // []}) {
			my $c = $by{fileno $s};
			next unless $c->{sock};
			my $n = sysread($s, my $buf, 65536);
			next if !defined $n && ($! == EAGAIN || $! == EINTR);
			my $p = $c->{parser};
			my $done = $n ? $p->feed($buf) :
			    $p->eof(defined $n ? undef : "$!");
			if (!$done) {
				next if $n;
				$fail->($c);
				next;
			}
			if (!$p->{complete}) {
				$fail->($c);
				next;
			}
			my $st = $p->{status};
			$res{statuses}{$st}++;
			my $be = $p->{headers}{'x-backend'} // '-';
			$res{backends}{$be}++;
			$st < 500 ? $res{ok}++ : $res{errors}++;
			$c->{left}--;
			delete $c->{parser};
			if (!$n || $p->{close} || length $p->{rest}) {
				close $c->{sock};
				delete $c->{sock};
			}
		}
	}
	for my $c (@c) {
		next if $c->{left} <= 0;
		$res{errors} += $c->{left};
		$res{transport_errors} += $c->{left};
		close $c->{sock} if $c->{sock};
	}
	$res{elapsed} = time - $start;
	return \%res;
}

# Stops every process still running and checks the logs; called from END.
sub _teardown {
	for my $p (reverse @PROCS) {
		$p->_stop_quietly if $p->alive;
	}
	for my $p (@PROCS) {
		$p->_check_logs;
	}
	@PROCS = ();
	unlink @CLAIMS;
	@CLAIMS = ();
	return unless defined $TMPDIR;
	my $tb = Test::More->builder;
	if ($ENV{CUTOVER_KEEP_TMP} || !$tb->is_passing) {
		diag("logs kept in $TMPDIR");
	} else {
		remove_tree($TMPDIR);
	}
}

END {
	if ($$ == $MAIN_PID) {
		my $status = $?;
		alarm 0;
		_teardown();
		$? = $status;
	}
}

# --------------------------------------------------------------------
# A process started by the harness: what backends and cutover share.

package Cutover::Test::Process;

use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time sleep);

# ->pid
sub pid { $_[0]{pid} }

# ->read_bytes -> bytes the process has read so far (rchar of
# /proc/PID/io): how much of a peer's data it took in, whatever the
# allocator or the sanitizers do to its memory.
sub read_bytes {
	my ($self) = @_;
	open(my $fh, '<', "/proc/$self->{pid}/io") or return 0;
	while (<$fh>) {
		return $1 if /^rchar:\s+(\d+)/;
	}
	return 0;
}

# ->alive -> whether the process still runs (reaps it when it ended).
sub alive {
	my ($self) = @_;
	return 0 if defined $self->{status};
	my $w = waitpid($self->{pid}, WNOHANG);
	return 1 if $w == 0;
	# -1: reaped elsewhere; its status is lost.
	$self->{status} = $w == $self->{pid} ? Cutover::Test::_wstatus($?) : 0;
	return 0;
}

# ->exit_status -> exit code (128 + signal when killed); undef if running.
sub exit_status {
	my ($self) = @_;
	$self->alive;
	return $self->{status};
}

# ->signal(SIG): sends a signal ('HUP', 'USR1', ...).  After 'KILL' the
# process is reaped and its death is not held against the test.
sub signal {
	my ($self, $sig) = @_;
	return 0 unless $self->alive;
	kill $sig, $self->{pid};
	if ($sig eq 'KILL' || $sig eq '9') {
		waitpid($self->{pid}, 0);
		$self->{status} = Cutover::Test::_wstatus($?);
		$self->{killed} = 1;
	}
	return 1;
}

# ->wait_exit(timeout => 10) -> exit status, or undef if it still runs.
# An exit the test waits for is not held against it at teardown.
sub wait_exit {
	my ($self, %o) = @_;
	Cutover::Test::wait_for(sub { !$self->alive },
	    timeout => $o{timeout} // 10, interval => 0.02);
	return undef if $self->alive;
	$self->{killed} = 1;
	return $self->{status};
}

# ->stop -> exit status.  SIGTERM, then up to 10 s for the exit; after that
# SIGKILL and a failed test.  A status other than 0 fails a test too.
sub stop {
	my ($self) = @_;
	my $what = $self->_what;
	if ($self->alive) {
		kill 'TERM', $self->{pid};
		my $gone = Cutover::Test::wait_for(sub { !$self->alive },
		    timeout => 10, interval => 0.02);
		if (!$gone) {
			kill 'KILL', $self->{pid};
			waitpid($self->{pid}, 0);
			$self->{status} = Cutover::Test::_wstatus($?);
			$self->{killed} = 1;
			ok(0, "$what exits within 10 s of SIGTERM");
			return $self->{status};
		}
	}
	if ($self->{status} != 0 && !$self->{killed} && !$self->{blamed}++) {
		ok(0, "$what exits with status 0 (got $self->{status})");
		diag($self->_tail);
	}
	return $self->{status};
}

# Teardown's stop: like stop.
sub _stop_quietly {
	my ($self) = @_;
	$self->stop;
}

# The last lines of the process's log, for diagnostics.
sub _tail {
	my ($self) = @_;
	my @l = split /\n/, $self->log;
	@l = @l[-20 .. -1] if @l > 20;
	return join "\n", @l;
}

# Teardown: a process that died on its own, and reports in its logs.
sub _check_logs {
	my ($self) = @_;
	my $what = $self->_what;
	if (defined $self->{status} && $self->{status} != 0 &&
	    !$self->{killed} && !$self->{blamed}++) {
		ok(0, "$what exits with status 0 (got $self->{status})");
		diag($self->_tail);
	}
	Cutover::Test::_check_reports($what, $self->log,
	    $self->{check_alerts});
}

# --------------------------------------------------------------------

package Cutover::Test::Backend;

our @ISA = ('Cutover::Test::Process');

sub _what { "backend $_[0]{name}" }

# ->port, ->name
sub port { $_[0]{port} }
sub name { $_[0]{name} }

# ->kill(SIG): same as ->signal (USR1 makes /health answer 503, USR2
# undoes it; TERM and KILL stop it).
sub kill {
	my ($self, $sig) = @_;
	return $self->signal($sig);
}

# ->log -> the backend's stderr.
sub log { Cutover::Test::_slurp($_[0]{errlog}) }

# ->requests -> lines of its request log, one per request:
# "conn=N METHOD TARGET", or "conn=N BAD reason" for a refused request.
sub requests {
	my ($self) = @_;
	return split /\n/, Cutover::Test::_slurp($self->{reqlog});
}

# ->control(status => N, delay => MS, health => N, health_delay => MS):
# changes the backend's defaults through GET /_control.  Returns true on
# success.
sub control {
	my ($self, %p) = @_;
	my $q = join '&', map { "$_=$p{$_}" } sort keys %p;
	my $r = Cutover::Test::http_get($self->{port}, "/_control?$q");
	return ($r->{status} // 0) == 200;
}

# --------------------------------------------------------------------

package Cutover::Test::Cutover;

use IO::Select;
use IO::Socket::UNIX;
use Time::HiRes qw(time);

our @ISA = ('Cutover::Test::Process');

sub _what { "cutover-$_[0]{n}" }

# ->conf_path, ->log_path, ->admin_socket, ->status_port, ->ports
sub conf_path { $_[0]{conf_path} }
sub log_path { $_[0]{log_path} }
sub admin_socket { $_[0]{admin_socket} }
sub status_port { $_[0]{status_port} }
sub ports { @{$_[0]{ports}} }

# ->log -> what cutover wrote to stderr, then its error_log file if the
# config names one.
sub log {
	my ($self) = @_;
	my $text = Cutover::Test::_slurp($self->{log_path});
	$text .= Cutover::Test::_slurp($self->{error_log})
	    if defined $self->{error_log};
	return $text;
}

# ->stdout -> what cutover wrote to stdout (access_log = -).
sub stdout { Cutover::Test::_slurp($_[0]{out_path}) }

# ->log_mark -> a position in ->log for wait_log(from => ...).
sub log_mark { length $_[0]->log }

# ->wait_log(qr/RE/, timeout => 5, from => MARK) -> the first log line
# after MARK matching RE, or undef after the timeout.
sub wait_log {
	my ($self, $re, %o) = @_;
	my $from = $o{from} // 0;
	return Cutover::Test::wait_for(sub {
		my ($line) = grep { /$re/ } split /\n/,
		    substr($self->log, $from);
		return $line;
	}, timeout => $o{timeout} // 5);
}

# ->reload: SIGHUP.
sub reload { $_[0]->signal('HUP') }

# ->terminate_busy(PORT, n => 4, delay => 800, settle => 0.3) -> how many
# of n requests, each held delay ms by the backend and sent before
# SIGTERM (settle seconds before it), were answered 200 and complete.
sub terminate_busy {
	my ($self, $port, %o) = @_;
	my $delay = $o{delay} // 800;
	my @busy = map {
		my $c = Cutover::Test::http_client($port, timeout => 10);
		$c->send("GET /?delay=$delay HTTP/1.1\r\nHost: app.test\r\n\r\n");
		$c;
	} 1 .. ($o{n} // 4);
	Time::HiRes::sleep($o{settle} // 0.3);
	$self->signal('TERM');
	return scalar grep {
		my $r = $_->response(timeout => 10);
		$r->{status} == 200 && $r->{complete}
	} @busy;
}

# ->rewrite(TEXT): replaces the config file with TEXT plus what
# start_cutover added to the first one (the same admin socket and status
# port, workers and batch_wait from the environment), in one rename, so
# that a reload never reads a half-written file.
sub rewrite {
	my ($self, $text) = @_;
	$text = Cutover::Test::_conf_defaults($text, $self->{n},
	    $self->{status_port}) unless $self->{raw};
	my $tmp = "$self->{conf_path}.new";
	Cutover::Test::_spew($tmp, $text);
	rename $tmp, $self->{conf_path} or die "rename $tmp: $!\n";
	$self->{conf_text} = $text;
}

# ->reloading(sub { my ($i) = @_; CONFIG TEXT }, sub { WORK }) -> WORK's
# result: while WORK runs, a child rewrites the config with the text of
# reload $i (1, 2, ...) and sends SIGHUP, every 50 ms; at most 2,000
# times, and never past the end of the test that started it.
sub reloading {
	my ($self, $conf, $work) = @_;
	my $parent = $$;
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		$SIG{TERM} = sub { POSIX::_exit(0) };
		eval {
			for my $i (1 .. 2000) {
				last if getppid() != $parent;
				$self->rewrite($conf->($i));
				kill 'HUP', $self->{pid};
				Time::HiRes::sleep(0.05);
			}
		};
		POSIX::_exit($@ ? 1 : 0);
	}
	my $res = eval { $work->() };
	my $err = $@;
	kill 'TERM', $pid;
	waitpid $pid, 0;
	die $err if $err;
	return $res;
}

# ->admin_send(BYTES) -> a new connection to the admin socket on which
# BYTES were sent, to read the answer (or close) later.
sub admin_send {
	my ($self, $bytes) = @_;
	my $s = IO::Socket::UNIX->new(Peer => $self->{admin_socket})
	    or die "admin socket: $!\n";
	print $s $bytes;
	$s->flush;
	return $s;
}

# ->worker_figure(LABEL) -> the sum over workers of one figure of show
# info ("busy polls", "cached heads", ...), or undef when it is not there;
# in list context also the number of workers.
sub worker_figure {
	my ($self, $label) = @_;
	my $info = $self->admin('show info') // '';
	my ($workers) = $info =~ /^workers: (\d+)/m;
	my ($list) = $info =~ /; \Q$label\E ([\d, ]+)[;)]/;
	my $sum;
	if (defined $list) {
		$sum = 0;
		$sum += $_ for split /, /, $list;
	}
	return wantarray ? ($sum, $workers) : $sum;
}

# ->admin(COMMAND, timeout => 5) -> the answer without its final empty
# line, or undef when the socket did not answer.
sub admin {
	my ($self, $cmd, %o) = @_;
	my $s = IO::Socket::UNIX->new(Peer => $self->{admin_socket})
	    or return undef;
	$s->blocking(0);
	my $out = "$cmd\n";
	my $in = '';
	my $sel = IO::Select->new($s);
	my $deadline = time + ($o{timeout} // 5);
	while ($in !~ /\n\n\z/ && (my $left = $deadline - time) > 0) {
		if (length $out && $sel->can_write($left)) {
			my $n = syswrite($s, $out);
			substr($out, 0, $n, '') if $n;
		}
		next unless $sel->can_read(length $out ? 0 : $left);
		my $n = sysread($s, $in, 65536, length $in);
		last unless $n;
	}
	close $s;
	return undef unless $in =~ s/\n\n\z/\n/;
	return $in;
}

# ->ctl(ARGS...) -> {status, out, err, all}: runs $CUTOVERCTL_BIN -s
# SOCKET ARGS.
sub ctl {
	my ($self, @args) = @_;
	my $bin = $ENV{CUTOVERCTL_BIN} or die "CUTOVERCTL_BIN is not set\n";
	return Cutover::Test::_run_capture([$bin, '-s', $self->{admin_socket},
	    @args], timeout => 20);
}

sub _check_logs {
	my ($self) = @_;
	$self->{check_alerts} = 1;
	$self->SUPER::_check_logs;
}

# --------------------------------------------------------------------
# An incremental HTTP/1.x response parser.  feed() and eof() return true
# once the response is over; its fields are then those of a response.

package Cutover::Test::Parser;

use Digest::SHA ();

sub new {
	my ($class, %o) = @_;
	return bless {
		method => uc($o{method} // 'GET'),
		discard => $o{discard},
		stop_1xx => $o{interim},
		state => 'head', buf => '', raw => '', body => '',
		body_length => 0, interim => [], headers => {},
		header_list => [], trailers => {}, complete => 0,
	}, $class;
}

# Takes bytes from the connection; true when the response is over.
sub feed {
	my ($self, $data) = @_;
	$self->{buf} .= $data;
	return $self->_parse;
}

# The connection ended (err: $! of a failed read, if any).
sub eof {
	my ($self, $err) = @_;
	return 1 if $self->{done};
	$self->_parse if length $self->{buf};
	return 1 if $self->{done};
	if ($self->{state} eq 'close') {
		$self->{complete} = 1;
	} else {
		$self->{error} = $err ? "read: $err" :
		    $self->{state} eq 'head' && !length $self->{raw} ?
		    'connection closed before a response' :
		    "connection closed in $self->{state}";
	}
	$self->{close} = 1;
	return $self->_finish;
}

sub _finish {
	my ($self) = @_;
	$self->{done} = 1;
	$self->{rest} = $self->{buf};
	delete $self->{buf};
	$self->{body_sha1} = $self->{sha}->hexdigest if $self->{sha};
	delete $self->{sha};
	return 1;
}

sub _fail {
	my ($self, $why) = @_;
	$self->{error} = $why;
	$self->{close} = 1;
	return $self->_finish;
}

# Keeps body bytes, or only counts and hashes them with discard.
sub _body {
	my ($self, $bytes) = @_;
	$self->{body_length} += length $bytes;
	if ($self->{discard}) {
		($self->{sha} //= Digest::SHA->new(1))->add($bytes);
	} else {
		$self->{body} .= $bytes;
	}
}

# Raw bytes kept for ->{raw}, unless discarding.
sub _raw {
	my ($self, $bytes) = @_;
	$self->{raw} .= $bytes unless $self->{discard};
}

sub _parse_head {
	my ($self) = @_;
	my $end = index $self->{buf}, "\r\n\r\n";
	if ($end < 0) {
		return $self->_fail('response head too large')
		    if length $self->{buf} > 1048576;
		return 0;
	}
	my $head = substr($self->{buf}, 0, $end + 4, '');
	$self->_raw($head);
	my ($line, @fields) = split /\r\n/, $head;
	my ($ver, $st, $reason) = $line =~ m{^HTTP/(\d\.\d) (\d{3})(?: (.*))?$}
	    or return $self->_fail("bad status line: $line");
	my (%h, @list);
	for (@fields) {
		my ($n, $v) = /^([^:\s]+):[ \t]*(.*?)[ \t]*$/
		    or return $self->_fail("bad header line: $_");
		push @list, [$n, $v];
		$h{lc $n} = exists $h{lc $n} ? "$h{lc $n}, $v" : $v;
	}
	if ($st >= 100 && $st < 200 && $st != 101) {
		push @{$self->{interim}}, { status => $st, headers => \%h };
		return 1 unless $self->{stop_1xx};
	}
	@$self{qw(version status reason headers header_list)} =
	    ($ver, $st, $reason // '', \%h, \@list);
	my $conn = lc($h{connection} // '');
	$self->{close} = 1 if $conn =~ /\bclose\b/ ||
	    ($ver eq '1.0' && $conn !~ /\bkeep-alive\b/);
	if ($st < 200 || $st == 204 || $st == 304 ||
	    $self->{method} eq 'HEAD') {
		$self->{complete} = 1;
		return $self->_finish;
	}
	if (lc($h{'transfer-encoding'} // '') =~ /chunked\s*$/) {
		$self->{state} = 'chunk-size';
	} elsif (defined $h{'content-length'}) {
		return $self->_fail("bad content-length")
		    unless $h{'content-length'} =~ /^(\d+)$/;
		$self->{left} = $1;
		$self->{state} = 'length';
	} else {
		$self->{state} = 'close';
		$self->{close} = 1;
	}
	return 1;
}

# Advances through whatever is buffered; true when the response is over.
sub _parse {
	my ($self) = @_;
	while (!$self->{done}) {
		my $st = $self->{state};
		if ($st eq 'head') {
			my $r = $self->_parse_head;
			return $self->{done} if $self->{done};
			return 0 unless $r;
		} elsif ($st eq 'length') {
			my $n = length $self->{buf};
			$n = $self->{left} if $n > $self->{left};
			my $b = substr($self->{buf}, 0, $n, '');
			$self->_raw($b);
			$self->_body($b);
			$self->{left} -= $n;
			if ($self->{left} == 0) {
				$self->{complete} = 1;
				return $self->_finish;
			}
			return 0;
		} elsif ($st eq 'close') {
			my $b = $self->{buf};
			$self->{buf} = '';
			$self->_raw($b);
			$self->_body($b);
			return 0;
		} elsif ($st eq 'chunk-size' || $st eq 'trailer') {
			my $end = index $self->{buf}, "\r\n";
			return 0 if $end < 0;
			my $line = substr($self->{buf}, 0, $end + 2, '');
			$self->_raw($line);
			$line =~ s/\r\n\z//;
			if ($st eq 'trailer') {
				if ($line eq '') {
					$self->{complete} = 1;
					return $self->_finish;
				}
				my ($n, $v) = $line =~ /^([^:\s]+):\s*(.*?)\s*$/
				    or return $self->_fail("bad trailer");
				$self->{trailers}{lc $n} = $v;
				next;
			}
			$line =~ /^([0-9a-fA-F]+)[ \t]*(?:;.*)?$/
			    or return $self->_fail("bad chunk size: $line");
			$self->{left} = hex $1;
			$self->{chunks}++ if $self->{left};
			$self->{state} = $self->{left} ? 'chunk' : 'trailer';
		} elsif ($st eq 'chunk') {
			my $n = length $self->{buf};
			return 0 if $n == 0;
			$n = $self->{left} if $n > $self->{left};
			my $b = substr($self->{buf}, 0, $n, '');
			$self->_raw($b);
			$self->_body($b);
			$self->{left} -= $n;
			$self->{state} = 'chunk-crlf' if $self->{left} == 0;
		} elsif ($st eq 'chunk-crlf') {
			return 0 if length $self->{buf} < 2;
			my $crlf = substr($self->{buf}, 0, 2, '');
			$self->_raw($crlf);
			return $self->_fail('no CRLF after chunk')
			    unless $crlf eq "\r\n";
			$self->{state} = 'chunk-size';
		}
	}
	return 1;
}

# The response as returned to tests: a plain hash.
sub result {
	my ($self) = @_;
	my %r = %$self;
	delete @r{qw(buf state left method discard stop_1xx done sha)};
	return \%r;
}

# --------------------------------------------------------------------
# A client connection that sends requests and reads their responses in
# order, full duplex so that a streamed upload and an echo never block
# each other.

package Cutover::Test::Client;

use Errno qw(EAGAIN EINTR);
use IO::Select;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);

sub new {
	my ($class, $port, %o) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $port, Proto => 'tcp', Timeout => $o{timeout} // 5)
	    or return undef;
	setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
	$s->blocking(0);
	return bless { sock => $s, port => $port, buf => '', methods => [],
	    eof => 0, timeout => $o{timeout} // 5 }, $class;
}

# ->sock -> the socket.
sub sock { $_[0]{sock} }

# Remembers the method of a request sent, for the response without body
# that HEAD gets.
sub _note_method {
	my ($self, $raw) = @_;
	push @{$self->{methods}}, $1 if $raw =~ m{^(?:\r\n)*([A-Z]+) \S+ HTTP/};
}

# The body source: raw bytes, then body_size pattern bytes, plain or in
# chunks of chunk_size.
sub _source {
	my ($raw, %o) = @_;
	my ($off, $size, $ck) = (0, $o{body_size} // 0, $o{chunk_size});
	my $pending = $raw . ($o{body} // '');
	my $ended = !defined $o{body_size};
	return sub {
		if (length $pending) {
			my $p = $pending;
			$pending = '';
			return $p;
		}
		return undef if $ended;
		if ($off >= $size) {
			$ended = 1;
			return $ck ? "0\r\n\r\n" : undef;
		}
		my $n = $size - $off;
		my $max = $ck // 65536;
		$n = $max if $n > $max;
		my $p = Cutover::Test::pattern($off, $n);
		$off += $n;
		return $ck ? sprintf("%x\r\n%s\r\n", $n, $p) : $p;
	};
}

# Runs the connection until the parser is done or the deadline passes,
# sending what the source gives meanwhile.  Returns the parser.
sub _exchange {
	my ($self, $src, $p, $deadline) = @_;
	my $s = $self->{sock};
	my $out = '';
	my $sel = IO::Select->new($s);
	if ($p && length $self->{buf}) {
		my $b = $self->{buf};
		$self->{buf} = '';
		if ($p && $p->feed($b)) {
			$self->{buf} = $p->{rest};
			return $p;
		}
	}
	while (1) {
		$out = $src->() // '' if $src && !length $out;
		undef $src if $src && !length $out;
		return $p if !$p && !$src;
		my $left = $deadline - time;
		if ($left <= 0) {
			$p->_fail('timeout') if $p;
			return $p;
		}
		if ($self->{eof}) {
			$p->eof($self->{error}) if $p;
			return $p if $p;
			undef $src;
			next;
		}
		my ($r, $w) = IO::Select->select($sel, length $out ? $sel :
		    undef, undef, $left);
		if ($w && @$w) {
			my $n = syswrite($s, $out);
			if (defined $n) {
				substr($out, 0, $n, '');
			} elsif ($! != EAGAIN && $! != EINTR) {
				# The peer stopped reading: keep reading.
				$out = '';
				undef $src;
			}
		}
		next unless $r && @$r;
		my $n = sysread($s, my $buf, 262144);
		next if !defined $n && ($! == EAGAIN || $! == EINTR);
		if (!$n) {
			$self->{eof} = 1;
			$self->{error} = "$!" unless defined $n;
			next;
		}
		if (!$p) {
			$self->{buf} .= $buf;
			next;
		}
		if ($p->feed($buf)) {
			$self->{buf} = $p->{rest};
			return $p;
		}
	}
}

# ->send(RAW, body => STR, body_size => N, chunk_size => K, timeout => T)
# -> true when all was written and the peer has not closed.  Responses
# that arrive meanwhile are kept for ->response.
sub send {
	my ($self, $raw, %o) = @_;
	$self->_note_method($raw);
	my $src = _source($raw, %o);
	my $deadline = time + ($o{timeout} // $self->{timeout});
	$self->_exchange($src, undef, $deadline);
	return time < $deadline && !$self->{eof};
}

# ->response(timeout => T, method => M, discard => 0, interim => 0)
# -> response hash of the next response on the connection.
sub response {
	my ($self, %o) = @_;
	my $p = Cutover::Test::Parser->new(
	    method => $o{method} // $self->{methods}[0] // 'GET',
	    discard => $o{discard}, interim => $o{interim});
	$self->_exchange(undef, $p, time + ($o{timeout} // $self->{timeout}));
	my $st = $p->{status} // 0;
	# An interim answer leaves the request waiting for its final one.
	shift @{$self->{methods}} unless $st >= 100 && $st < 200 && $st != 101;
	return $p->result;
}

# ->request(RAW, %opts) -> response: sends (streaming body_size bytes if
# asked) while reading the response.  Options as send and response.
sub request {
	my ($self, $raw, %o) = @_;
	$self->_note_method($raw);
	my $method = $o{method} // shift @{$self->{methods}};
	my $p = Cutover::Test::Parser->new(method => $method,
	    discard => $o{discard}, interim => $o{interim});
	$self->_exchange(_source($raw, %o), $p,
	    time + ($o{timeout} // $self->{timeout}));
	return $p->result;
}

# ->pipeline(RAW1, RAW2, ...) -> list of responses: writes all requests
# at once, then reads one response for each, in order.
sub pipeline {
	my ($self, @raws) = @_;
	$self->_note_method($_) for @raws;
	my $deadline = time + $self->{timeout};
	$self->_exchange(_source(join('', @raws)), undef, $deadline);
	return map { $self->response } @raws;
}

# ->closed(timeout => 2) -> true when the peer closes the connection
# within the timeout (bytes that arrive meanwhile are kept).
sub closed {
	my ($self, %o) = @_;
	my $deadline = time + ($o{timeout} // 2);
	my $sel = IO::Select->new($self->{sock});
	while (!$self->{eof} && (my $left = $deadline - time) > 0) {
		next unless $sel->can_read($left);
		my $n = sysread($self->{sock}, my $buf, 65536);
		next if !defined $n && ($! == EAGAIN || $! == EINTR);
		if (!$n) {
			$self->{eof} = 1;
		} else {
			$self->{buf} .= $buf;
		}
	}
	return $self->{eof};
}

# ->read_raw(timeout => 1) -> whatever bytes arrive within the timeout
# (for tunnels after a 101); also those left over from a response.
sub read_raw {
	my ($self, %o) = @_;
	my $want = $o{length};
	my $deadline = time + ($o{timeout} // 1);
	my $sel = IO::Select->new($self->{sock});
	while (!$self->{eof} && (!defined $want || length $self->{buf} < $want)
	    && (my $left = $deadline - time) > 0) {
		next unless $sel->can_read($left);
		my $n = sysread($self->{sock}, my $buf, 65536);
		next if !defined $n && ($! == EAGAIN || $! == EINTR);
		$self->{eof} = 1 unless $n;
		$self->{buf} .= $buf if $n;
	}
	my $b = $self->{buf};
	$self->{buf} = '';
	return $b;
}

# ->close
sub close {
	my ($self) = @_;
	CORE::close($self->{sock}) if $self->{sock};
	delete $self->{sock};
}

1;

__END__

=head1 NAME

Cutover::Test - harness for cutover's integration tests

=head1 SYNOPSIS

    use Test::More tests => 2;
    use Cutover::Test;

    my $blue = start_backend(name => 'blue');
    my $port = free_port();
    my $cut = start_cutover(conf => <<"EOF");
    [listener web]
    bind = 127.0.0.1:$port
    [pool blue]
    server = b1 127.0.0.1:${\ $blue->port}
    [route all]
    split = blue 100
    EOF

    my $r = http_get($port, '/');
    is($r->{status}, 200, 'the proxy answers');
    is($r->{headers}{'x-backend'}, 'blue', 'the answer comes from blue');

=head1 DESCRIPTION

Binary paths come from the environment, as set by C<make check>:
C<CUTOVER_BIN>, C<CUTOVERCTL_BIN> and C<CUTOVER_BACKEND>.  Everything
listens on 127.0.0.1, on ports picked free at run time.  Each test file
gets a temp dir (kept when a test failed or C<CUTOVER_KEEP_TMP> is set)
for configs, logs and sockets.  A file that runs longer than
C<CUTOVER_TEST_TIMEOUT> seconds (600) dies.

At the end of the file every process still running gets SIGTERM (SIGKILL
after 10 s, which fails a test).  The file fails when a process exited
with a status other than 0 (unless the test killed it with SIGKILL), when a
cutover log has an C<[alert]> line, or when any log of cutover or of a
backend holds an AddressSanitizer, LeakSanitizer or UBSan
(C<runtime error:>) report; the offending lines are printed.  The harness
only emits failing assertions, never passing ones, so plans count only
the test's own assertions.

=head1 FUNCTIONS

=over

=item free_port() -> PORT

A port of 127.0.0.1 that is free now, never the same twice in a file, and
never one that another test file running at the same time holds: each
port handed out is claimed by a file in F<$TMPDIR/cutover-test-ports>
until the end of the test file.

=item tmpdir() -> DIR

The file's temp dir.

=item write_conf(TEXT, name => FILE) -> PATH

Writes TEXT verbatim to the temp dir (for C<cutover -t> tests).

=item start_backend(name => NAME, args => [...], port => PORT) -> BACKEND

Starts C<$CUTOVER_BACKEND -p PORT -n NAME -l REQLOG ARGS> (PORT 0 by
default: a free one) and waits for it to listen.  Dies when it does not
within 10 s.  Extra args: C<-H STATUS>/C<-D MS> for /health,
C<-s STATUS>/C<-d MS> for the default status and delay.  Pass the port of
a stopped backend to bring it back on the same port.

=item start_cutover(conf => TEXT|PATH, %opt) -> CUTOVER

Options: C<< args => [...] >>, C<< raw => 0 >>, C<< wait => 1 >>,
C<< env => {} >>.

Writes the config to the temp dir and runs C<$CUTOVER_BIN -c FILE ARGS> in
the foreground, stderr to a log file.  Unless C<raw>, a config without
C<admin_socket> or C<status_listen> gets them added after C<[global]>
(a C<[global]> section is prepended when there is none): the admin
socket in the temp dir, the status endpoint on a free port.  When
C<CUTOVER_TEST_WORKERS> is set, a config without C<workers> also gets
C<workers = $CUTOVER_TEST_WORKERS>, which runs the suite threaded, and
when C<CUTOVER_TEST_BATCH_WAIT> is set, a config without C<batch_wait>
or C<busy_poll> gets C<batch_wait = $CUTOVER_TEST_BATCH_WAIT>.  Then it
waits up to 10 s until every C<bind> address and C<status_listen> accept
connections, and dies with the log if they do not or cutover exits
(C<< wait => 0 >> returns at once).

=item run_cutover(ARGS...) -> {status, out, err, all}

Runs C<$CUTOVER_BIN ARGS> to its end (10 s at most): for C<-t> and C<-V>.
C<status> is the exit code, C<all> is stdout then stderr.

=item http_request(PORT, RAW, %opt) -> RESPONSE

Connects, sends RAW, reads one response, closes.  Options: C<timeout>
(5 s, for the whole exchange), C<body> (bytes sent after RAW),
C<body_size> (stream that many pattern bytes after RAW; with
C<chunk_size>, as chunks of that size and a last chunk; RAW must carry the
matching Content-Length or Transfer-Encoding), C<discard> (do not keep
the body: only C<body_length> and C<body_sha1>), C<interim> (return a 1xx
as the response), C<method> (framing of the answer; taken from RAW).
Sending and reading run together, so an echo of a large upload works.
A connection that fails gives a response with C<error> set.

=item http_get(PORT, PATH, NAME => VALUE, ...) -> RESPONSE

GET with the given header fields in order; C<Host> and
C<Connection: close> are added unless given.

=item http_post(PORT, PATH, BODY, NAME => VALUE, ...) -> RESPONSE

POST with a Content-Length body.

=item http_client(PORT, timeout => 5) -> CLIENT

A keep-alive connection (undef when connecting fails, with C<$!>).

=item run_parallel(%opt) -> RESULT

A tiny load generator: C<conns> connections (10) each doing C<requests>
keep-alive requests (10) one after the other, all at once with
non-blocking IO, to C<port>, for C<path> ('/') with C<headers> (a list
of pairs), or the raw C<request> given.  Reconnects when the server
closes.  Stops at C<timeout> (60 s).  Returns

    { requests => N,              # conns * requests
      ok => N,                    # complete responses with status < 500
      errors => N,                # everything else: no complete answer,
                                  #   or status >= 500
      transport_errors => N,      # of those, no complete answer
      backends => { blue => N, green => M, '-' => K }, # by X-Backend
      statuses => { 200 => N, 502 => M },
      elapsed => SECONDS }

=item pattern(OFFSET, LEN) -> BYTES

The backend's body pattern: byte i is C<chr(ord('a') + i % 26)>.

=item pattern_sha1(LEN) -> HEX

SHA-1 of the first LEN pattern bytes, as C<echo=count> reports it.

=item wait_for(CODE, timeout => 5, interval => 0.05) -> VALUE

Calls CODE until it returns true; that value, or undef on timeout.

=item openssl(ARGS), test_lib(NAME) -> PATH, preload_env(PATH) -> ENV,
read_until_close(SOCKET, SECONDS) -> BYTES,
read_closed(SOCKET, SECONDS) -> (BYTES, CLOSED)

Runs openssl quietly (dies on failure); the path of a library make check
builds for LD_PRELOAD (dies when missing); the C<env> of start_cutover()
that preloads it under the sanitizers too; what a socket receives until
it closes (and whether it did).

=back

=head1 RESPONSES

A response is a hash:

    { status => 200, reason => 'OK', version => '1.1',
      headers => { 'x-backend' => 'blue', ... },   # lower-case names,
                                     # repeated fields joined with ', '
      header_list => [ ['X-Backend', 'blue'], ... ],  # as received
      body => 'blue\n',              # decoded (chunks joined)
      body_length => 5,
      body_sha1 => HEX,              # only with discard
      raw => "HTTP/1.1 200 OK\r\n...",  # bytes as received (not with discard)
      chunks => N,                   # data chunks of a chunked body
      trailers => { name => value },
      interim => [ { status => 100, headers => {...} }, ... ],
      complete => 1,                 # the framing ended properly
      close => 1,                    # the connection will close after it
      error => undef,                # or why it is incomplete: 'timeout',
                                     # 'connection closed in length' (FIN
                                     # mid-body; also 'in chunk', ...),
                                     # 'connection closed before a
                                     # response', 'read: Connection reset
                                     # by peer', 'connect: Connection
                                     # refused', 'bad status line: ...'
      status => undef,               # when no head was read
      rest => '' }                   # bytes after it (pipelined answers)

A body cut short (a Content-Length not reached, a chunked body without
its last chunk) has C<complete> 0 and C<error> set; a body delimited by
the close is complete at EOF.  A 101 ends the response: read the tunnel
with the client's C<read_raw>.

=head1 OBJECTS

=head2 Backend

C<< ->port >>, C<< ->pid >>, C<< ->name >>; C<< ->stop >> (SIGTERM, exit
status; fails a test unless it exits 0 within 10 s); C<< ->kill(SIG) >>
(USR1: /health answers 503, USR2: back to normal, KILL: dies at once and is
reaped); C<< ->alive >>; C<< ->log >> (stderr); C<< ->requests >> (lines
of the request log, C<conn=N METHOD TARGET> or C<conn=N BAD reason>);
C<< ->control(status => N, delay => MS, health => N, health_delay => MS) >>
(changes its defaults at run time through C</_control>).

=head2 The backend's behaviour

C<$CUTOVER_BACKEND> (t/backend.c) answers 200 with the body C<NAME\n> and
the headers C<X-Backend: NAME>, C<X-Conn: N> (the connection's number
since start, from 1) and C<X-Req: M> (the request's number on that
connection, from 1).  Query parameters of the request target change it:
C<status=N>, C<delay=MS>, C<size=N> (pattern bytes), C<chunked=1>,
C<chunkdelay=MS>, C<die=N> (claims more, sends N bytes, RST),
C<close=1>, C<echo=1> (streams the request body back), C<echo=count>
(C<bytes=N sum=SHA1HEX\n>), C<headers=1> (the request head verbatim),
C<hang=1>, C<reset=1>, C<noheaders-close=1>, C<interim=103>, C<bad=1>
(malformed status line), C<bad=2> (two Content-Length values), C<bad=3>
(head cut short, RST), C<bad=4> (C<Transfer-Encoding: gzip>), C<bad=5>
(C<Content-Length: 5, 5>), C<bad=6> (Content-Length and chunked, kept
alive), C<bad=7> (a 204 with C<Content-Length: 0>), C<interims=N> (with
C<interim=>, N interim answers).  C<GET /health> answers C<ok\n>; C<GET /ws> with
C<Upgrade: websocket> gets a 101 and an echo tunnel.  Options: C<-H
STATUS>, C<-D MS> (health), C<-s STATUS>, C<-d MS> (defaults for other
requests), C<-k MS> (close idle keep-alive connections).  See the comment
at the top of t/backend.c.

=head2 Cutover

C<< ->pid >>, C<< ->alive >>, C<< ->exit_status >>, C<< ->stop >> (as for
the backend), C<< ->wait_exit(timeout => 10) >> (waits for an exit the
test expects, e.g. after C<< wait => 0 >>; returns the status or undef),
C<< ->signal(SIG) >>, C<< ->reload >> (SIGHUP), C<< ->log >>
(stderr, then the error_log file if the config has one), C<< ->stdout >>,
C<< ->log_mark >> and C<< ->wait_log(qr/RE/, timeout => 5, from => MARK) >>
(the first matching line after the mark, or undef),
C<< ->admin(COMMAND) >> (the answer over the admin socket, without its
ending empty line; undef when the socket does not answer),
C<< ->admin_send(BYTES) >> (a new admin connection BYTES were sent on),
C<< ->ctl(ARGS...) >> (runs C<$CUTOVERCTL_BIN -s SOCKET ARGS>, returns
{status, out, err, all}), C<< ->admin_socket >>, C<< ->status_port >>,
C<< ->ports >>, C<< ->conf_path >>, C<< ->log_path >>.

=head2 Client

C<< ->request(RAW, %opt) >> (as http_request), C<< ->send(RAW, %opt) >> and
C<< ->response(%opt) >> separately (e.g. to wait for a C<100 Continue>
with C<< interim => 1 >> before sending the body),
C<< ->pipeline(RAW, ...) >> (one write, then the responses in order),
C<< ->closed(timeout => 2) >> (true once the peer closed),
C<< ->read_raw(timeout => 1, length => N) >> (raw bytes, for tunnels),
C<< ->sock >>, C<< ->close >>.  Responses to HEAD requests are read
without a body: the client remembers the method of each request sent.

=cut
