package Cutover::Rollout;
# Helpers of the rollout tests (t/rollout*.t): a webhook receiver, a fake
# Prometheus, and short ways to read a rollout's status and a route's
# split over the admin socket.  Only core Perl modules are used.
use strict;
use warnings;
use Exporter qw(import);
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use Cutover::Test;

our @EXPORT = qw(start_webhook start_fake_prometheus rollout_status
    split_of metric_value blue_green_conf);

my @CHILDREN;

# Serves HTTP on a free port of 127.0.0.1 in a child process: each request
# is handed to $handler->($method, $target, $body), which returns
# (status, body); with $log, "METHOD TARGET BODY" lines are appended to it.
# With $delay, connections wait that many seconds before the first accept.
sub _serve {
	my ($handler, $log, $delay) = @_;
	my $port = free_port();
	my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
	    LocalPort => $port, Listen => 16, ReuseAddr => 1)
	    or die "listen on $port: $!\n";
	my $pid = fork // die "fork: $!\n";
	if ($pid == 0) {
		$SIG{ALRM} = 'DEFAULT';
		$SIG{TERM} = sub { POSIX::_exit(0) };
		sleep $delay if $delay;
		while (my $c = $srv->accept) {
			local $/ = "\r\n";
			my $line = <$c> // next;
			my ($method, $target) = split / /, $line;
			my $len = 0;
			while (my $h = <$c>) {
				last if $h eq "\r\n";
				$len = $1 if $h =~ /^content-length:\s*(\d+)/i;
			}
			my $body = '';
			read($c, $body, $len) if $len > 0;
			if (defined $log) {
				open my $fh, '>>', $log;
				print $fh "$method $target $body\n";
				close $fh;
			}
			my ($status, $out) = $handler->($method, $target,
			    $body);
			next unless defined $status;	# no answer: hang up
			print $c "HTTP/1.1 $status X\r\nContent-Type: " .
			    "application/json\r\nContent-Length: " .
			    length($out) . "\r\nConnection: close\r\n\r\n$out";
			close $c;
		}
		POSIX::_exit(0);
	}
	close $srv;
	push @CHILDREN, $pid;
	return ($port, $pid);
}

# start_webhook(delay => SECONDS) -> HOOK: a receiver of webhook POSTs,
# which answers nothing for the first SECONDS when delay is given.  ->url,
# ->events (the event names received, in order), ->bodies (decoded),
# ->stop.
sub start_webhook {
	my (%o) = @_;
	my $log = tmpdir() . '/webhook-' . free_port() . '.log';
	my ($port, $pid) = _serve(sub { return (200, "{}") }, $log,
	    $o{delay});
	return bless { port => $port, pid => $pid, log => $log },
	    'Cutover::Rollout::Hook';
}

# start_fake_prometheus(\%values) -> PROM: answers /api/v1/query with the
# value of the first key of %values the query contains; a key "garbage"
# makes every answer garbage, a key "raw" every answer its value.  ->url,
# ->queries (how many it got so far), ->stop.  The values are read from a
# file the test may rewrite with ->set(%values).
sub start_fake_prometheus {
	my (%values) = @_;
	my $file = tmpdir() . '/prom-' . free_port() . '.json';
	my $self = bless { file => $file, log => "$file.log" },
	    'Cutover::Rollout::Prom';
	$self->set(%values);
	my ($port, $pid) = _serve(sub {
		my ($method, $target) = @_;
		open my $fh, '<', $file or return (500, 'no values');
		local $/;
		my $v = decode_json(<$fh>);
		return (200, 'this is not json') if $v->{garbage};
		return (200, $v->{raw}) if defined $v->{raw};
		(my $q = $target) =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
		for my $k (sort keys %$v) {
			next unless index($q, $k) >= 0;
			return (200, '{"status":"success","data":{"resultType":'
			    . '"vector","result":[{"metric":{},"value":'
			    . '[1700000000,"' . $v->{$k} . '"]}]}}');
		}
		return (200, '{"status":"success","data":{"resultType":'
		    . '"vector","result":[]}}');
	}, $self->{log});
	@$self{qw(port pid)} = ($port, $pid);
	return $self;
}

# blue_green_conf($port, $blue, $green) -> the config lines of a
# listener "web" on $port and pools "blue" and "green" of one server each,
# the backends $blue and $green: what the rollouts of a test share.
sub blue_green_conf {
	my ($port, $blue, $green) = @_;
	return <<"EOF";
[listener web]
bind = 127.0.0.1:$port
[pool blue]
server = b1 127.0.0.1:${\ $blue->port}
[pool green]
server = g1 127.0.0.1:${\ $green->port}
EOF
}

# rollout_status($cv, $route) -> the decoded `rollout status ROUTE json`.
sub rollout_status {
	my ($cv, $route) = @_;
	my $a = $cv->admin("rollout status $route json") // return {};
	return eval { decode_json($a) } // {};
}

# split_of($cv, $route) -> "blue:90 green:0": the effective split.
sub split_of {
	my ($cv, $route) = @_;
	my $j = eval { decode_json($cv->admin('show routes json')) } or
	    return 'no answer';
	my ($r) = grep { $_->{name} eq $route } @{$j->{routes}};
	return join ' ', map { "$_->{pool}:$_->{weight}" } @{$r->{split}};
}

# metric_value($cv, $series) -> the value of one series of show metrics,
# 0 when absent.
sub metric_value {
	my ($cv, $series) = @_;
	for (split /\n/, $cv->admin('show metrics') // '') {
		return $1 if /^\Q$series\E (\S+)$/;
	}
	return 0;
}

END {
	kill 'TERM', @CHILDREN if @CHILDREN;
	waitpid($_, 0) for @CHILDREN;
}

package Cutover::Rollout::Hook;

sub url { return "http://127.0.0.1:$_[0]{port}/hook" }
sub port { return $_[0]{port} }

sub bodies {
	my ($self) = @_;
	open my $fh, '<', $self->{log} or return ();
	my @b;
	while (<$fh>) {
		chomp;
		my (undef, undef, $body) = split / /, $_, 3;
		push @b, eval { JSON::PP::decode_json($body) } // {};
	}
	return @b;
}

sub events { return map { $_->{event} // '?' } $_[0]->bodies }

package Cutover::Rollout::Prom;

sub url { return "http://127.0.0.1:$_[0]{port}" }

sub queries {
	open(my $fh, '<', $_[0]{log}) or return 0;
	my @l = <$fh>;
	return scalar @l;
}

sub set {
	my ($self, %values) = @_;
	open my $fh, '>', "$self->{file}.tmp" or die "$self->{file}: $!";
	print $fh JSON::PP::encode_json(\%values);
	close $fh;
	rename "$self->{file}.tmp", $self->{file};
}

sub stop {
	my ($self) = @_;
	kill 'TERM', $self->{pid};
	waitpid($self->{pid}, 0);
}

1;
