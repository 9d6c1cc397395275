#!/usr/bin/perl
# The corpus of broken configs: "cutover -t -c FILE" must exit 1 and print
# exactly the "FILE:LINE: message" lines each t/conf-errors/*.conf lists in
# its "# expect: LINE: message" header, in that order.  The example configs
# in conf/ must pass with "FILE: ok".

use strict;
use warnings;
use Test::More;

my $bin = $ENV{CUTOVER_BIN}
    or plan skip_all => 'CUTOVER_BIN is not set (run through make check)';
my $srcdir = $ENV{CUTOVER_SRCDIR} // '.';

# Runs "cutover -t -c FILE"; returns the exit status and the output lines.
sub check_config {
	my ($file) = @_;
	my $pid = open(my $fh, '-|') // die "cannot fork: $!";
	if ($pid == 0) {
		open(STDERR, '>&', \*STDOUT) or die "cannot dup stdout: $!";
		exec($bin, '-t', '-c', $file) or die "cannot run $bin: $!";
	}
	my @out = <$fh>;
	close($fh);
	chomp(@out);
	return ($? >> 8, @out);
}

# Returns the expected messages of a corpus file, as "FILE:LINE: message".
sub expected {
	my ($file) = @_;
	open(my $fh, '<', $file) or die "cannot open $file: $!";
	my @want;
	while (my $line = <$fh>) {
		last unless $line =~ /^# expect: (\d+): (.*)$/;
		push(@want, "$file:$1: $2");
	}
	close($fh);
	return @want;
}

my @files = sort glob("$srcdir/t/conf-errors/*.conf");
ok(@files >= 25, 'the corpus holds at least 25 broken configs');

for my $file (@files) {
	my @want = expected($file);
	ok(@want > 0, "$file declares the errors it expects");
	my ($status, @out) = check_config($file);
	is($status, 1, "$file is refused with exit status 1");
	my @got = grep { /^\Q$file\E:\d+: / } @out;
	is_deeply(\@got, \@want, "$file reports exactly its expected errors")
	    or diag(join("\n", 'output:', @out));
}

for my $name ('cutover.conf', 'demo.conf') {
	my $file = "$srcdir/conf/$name";
	next unless -e $file;
	my ($status, @out) = check_config($file);
	is($status, 0, "conf/$name passes cutover -t");
	is_deeply(\@out, ["$file: ok"], "conf/$name prints \"FILE: ok\"");
}

done_testing();
