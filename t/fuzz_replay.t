#!/usr/bin/perl
# The fuzzing corpus replayed: each libFuzzer harness of t/fuzz, built with
# the normal compiler around t/fuzz/replay.c, runs every file of its
# t/fuzz/corpus/NAME (hand-written seeds and the reproducers of bugs the
# fuzzers found) and must break none of its invariants.  scripts/fuzz does
# the fuzzing itself.

use strict;
use warnings;
use Test::More;

my @harnesses = qw(http_request http_response chunked conf admin);
my $bin = $ENV{CUTOVER_FUZZ} or BAIL_OUT('CUTOVER_FUZZ is not set');
my $src = $ENV{CUTOVER_SRCDIR} // '.';

plan tests => 2 * @harnesses;

for my $name (@harnesses) {
	my $dir = "$src/t/fuzz/corpus/$name";
	opendir(my $dh, $dir) or die "cannot open $dir: $!";
	my $files = grep { !/^\./ && -f "$dir/$_" } readdir($dh);
	closedir($dh);

	my $out = `$bin/replay_$name $dir 2>&1`;
	my $status = $?;
	is($status, 0, "the $name harness keeps its invariants on its corpus")
	    or diag($out);
	like($out, qr/^replayed $files inputs$/m,
	    "the $name harness replays all $files inputs of its corpus");
}
