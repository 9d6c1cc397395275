#!/usr/bin/perl
# report.pl RESULTS.TSV OUTDIR: the figures of scripts/bench.
#
# Reads the raw runs (one line per run; see run_case and run_idle in
# scripts/bench), takes the median of each figure per profile and target,
# the ratios to HAProxy and to the direct run, and writes OUTDIR/latest.json,
# OUTDIR/latest.md and the data files of chart.gp (chart-rps.dat,
# chart-p99.dat).  Facts about the machine come in BENCH_* variables.
use strict;
use warnings;

my ($tsv, $out) = @ARGV;
die "usage: report.pl RESULTS.TSV OUTDIR\n" unless defined $out;

my @order = qw(cutover cutover-w2 cutover-batch cutover-nopoll haproxy nginx
    direct);
my %desc = (
	'small-50'  => '100-byte responses, 50 keep-alive connections',
	'small-400' => '100-byte responses, 400 keep-alive connections',
	'16k-50'    => '16 KiB responses, 50 keep-alive connections',
	'close-50'  => 'a new connection per request (Connection: close), 50 at once',
	'tls-50'    => '100-byte responses over TLS 1.3, 50 keep-alive connections',
);

my (@profiles, %seen, %runs);
open my $in, '<', $tsv or die "$tsv: $!\n";
while (<$in>) {
	chomp;
	my @f = split /\t/;
	next unless @f >= 10;
	my ($p, $t) = @f[0, 1];
	push @profiles, $p unless $seen{$p}++;
	my $r;
	if ($p =~ /^idle-(?:tls-)?(\d+)/) {
		$r = { run => $f[2], rss_before_kb => $f[3], rss_after_kb => $f[4],
		    bytes_per_conn => $f[5], held => $f[6], error => $f[9] };
	} else {
		$r = { run => $f[2], rps => $f[3], p50_us => $f[4], p99_us => $f[5],
		    requests => $f[6], cpu_s_per_1k => $f[7], rss_kb => $f[8],
		    error => $f[9], cpu_user_s_per_1k => $f[10],
		    cpu_sys_s_per_1k => $f[11],
		    backend_switches_per_1k => $f[12],
		    backend_preempted_per_1k => $f[13] };
	}
	push @{ $runs{$p}{$t} }, $r;
}
close $in;

sub median {
	my @v = sort { $a <=> $b } grep { defined && $_ >= 0 } @_;
	return undef unless @v;
	my $m = int(@v / 2);
	return @v % 2 ? $v[$m] : ($v[$m - 1] + $v[$m]) / 2;
}

sub ratio {
	my ($a, $b) = @_;
	return undef unless defined $a && defined $b && $b > 0;
	return $a / $b;
}

sub jnum {
	my ($v, $fmt) = @_;
	return 'null' unless defined $v;
	return sprintf($fmt // '%.6g', $v);
}

sub jstr {
	my $s = shift;
	$s =~ s/(["\\])/\\$1/g;
	$s =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord $1)/ge;
	return "\"$s\"";
}

# Medians per profile and target.
my %med;
for my $p (@profiles) {
	for my $t (keys %{ $runs{$p} }) {
		my @all = @{ $runs{$p}{$t} };
		# Runs with errors do not count in the medians (a run of fast
		# 503s is no throughput), unless every run had errors.
		my @r = grep { $_->{error} eq 'ok' } @all;
		@r = @all unless @r;
		my %m;
		my @keys = $p =~ /^idle-/
		    ? qw(rss_before_kb rss_after_kb bytes_per_conn)
		    : qw(rps p50_us p99_us cpu_s_per_1k cpu_user_s_per_1k
		    cpu_sys_s_per_1k rss_kb backend_switches_per_1k
		    backend_preempted_per_1k);
		for my $k (@keys) {
			$m{$k} = median(map { $_->{$k} } @r);
		}
		$m{errors} = scalar grep { $_->{error} ne 'ok' } @all;
		$m{runs} = scalar @all;
		$med{$p}{$t} = \%m;
	}
}

# Round by round: a round runs every target once, back to back, so the
# ratio of two targets' figures within a round is little moved by the
# machine getting faster or slower between rounds.  Median, lowest and
# highest of each cutover target's ratio to each peer, over rounds
# without errors, for req/s and for p99 latency.
my %paired;
for my $p (grep { !/^idle-/ } @profiles) {
	for my $t (grep { /^cutover/ && $runs{$p}{$_} } @order) {
		for my $peer (qw(haproxy nginx)) {
			my (%a, %b);
			$a{$_->{run}} = $_ for grep { $_->{error} eq 'ok' }
			    @{ $runs{$p}{$t} };
			$b{$_->{run}} = $_ for grep { $_->{error} eq 'ok' }
			    @{ $runs{$p}{$peer} // [] };
			for my $k (qw(rps p99_us)) {
				my @q;
				for my $r (keys %a) {
					my $q = $b{$r} && ratio($a{$r}{$k},
					    $b{$r}{$k});
					push @q, $q if defined $q;
				}
				next unless @q;
				@q = sort { $a <=> $b } @q;
				$paired{$p}{$t}{$peer}{$k} = {
				    median => median(@q), low => $q[0],
				    high => $q[-1], rounds => scalar @q };
			}
		}
	}
}

my %E = map { $_ => $ENV{"BENCH_$_"} // '' }
    qw(DATE CPU NPROC KERNEL PINNING CMD RUNS DURATION ELAPSED REV VERSIONS ERRORS
    BUSY);

# --- JSON ---
open my $j, '>', "$out/latest.json" or die "$out/latest.json: $!\n";
print $j "{\n";
print $j "  \"date\": ", jstr($E{DATE}), ",\n";
print $j "  \"machine\": { \"nproc\": ", jnum($E{NPROC} || undef, '%d'),
    ", \"cpu\": ", jstr($E{CPU}), ", \"kernel\": ", jstr($E{KERNEL}), " },\n";
print $j "  \"pinning\": ", jstr($E{PINNING}), ",\n";
print $j "  \"busy_before\": ", jstr($E{BUSY}), ",\n";
print $j "  \"command\": ", jstr($E{CMD}), ",\n";
print $j "  \"cutover_revision\": ", jstr($E{REV}), ",\n";
print $j "  \"versions\": ", jstr($E{VERSIONS}), ",\n";
print $j "  \"runs_per_case\": ", jnum($E{RUNS} || undef, '%d'),
    ", \"seconds_per_run\": ", jnum($E{DURATION} || undef, '%d'),
    ", \"seconds_of_runs\": ", jnum($E{ELAPSED} || undef, '%d'), ",\n";
print $j "  \"errors\": ", jnum($E{ERRORS} || 0, '%d'), ",\n";
print $j "  \"profiles\": [\n";
my @pj;
for my $p (@profiles) {
	my ($tls, $n) = $p =~ /^idle-(tls-)?(\d+)/;
	my $idle = defined $n;
	my $d = $idle ? "$n idle " . ($tls ? 'TLS 1.3 ' : '') .
	    "keep-alive client connections held" : $desc{$p} // $p;
	my @tj;
	for my $t (grep { $med{$p}{$_} } @order) {
		my $m = $med{$p}{$t};
		my $h = $med{$p}{haproxy};
		my $x = $med{$p}{direct};
		my @runs_j;
		for my $r (@{ $runs{$p}{$t} }) {
			push @runs_j, '{ ' . join(', ', map {
			    my $v = $r->{$_};
			    "\"$_\": " . ($_ eq 'error' ? jstr($v)
			    : defined $v && $v >= 0 ? jnum($v) : 'null')
			} sort keys %$r) . ' }';
		}
		my $s = "        { \"target\": \"$t\", \"runs\": " . scalar(@runs_j)
		    . ", \"errors\": $m->{errors},\n";
		if ($idle) {
			$s .= "          \"median\": { \"rss_before_kb\": "
			    . jnum($m->{rss_before_kb}) . ", \"rss_after_kb\": "
			    . jnum($m->{rss_after_kb}) . ", \"bytes_per_conn\": "
			    . jnum($m->{bytes_per_conn}) . " },\n";
			$s .= "          \"vs_haproxy\": { \"bytes_per_conn\": "
			    . jnum(ratio($m->{bytes_per_conn}, $h && $h->{bytes_per_conn}), '%.3f')
			    . " },\n";
		} else {
			$s .= "          \"median\": { " . join(', ', map {
			    "\"$_\": " . jnum($m->{$_}) } qw(rps p50_us p99_us
			    cpu_s_per_1k cpu_user_s_per_1k cpu_sys_s_per_1k
			    rss_kb backend_switches_per_1k
			    backend_preempted_per_1k)) . " },\n";
			my @refs = (['vs_haproxy', $h], ['vs_direct', $x]);
			push @refs, ['vs_cutover', $med{$p}{cutover}]
			    if $t =~ /^cutover-/;
			for my $ref (@refs) {
				my ($name, $b) = @$ref;
				$s .= "          \"$name\": { " . join(', ', map {
				    "\"$_\": " . jnum(ratio($m->{$_}, $b && $b->{$_}), '%.3f')
				} qw(rps p50_us p99_us cpu_s_per_1k rss_kb)) . " },\n";
			}
			for my $peer (qw(haproxy nginx)) {
				for my $k (qw(rps p99_us)) {
					my $q = $paired{$p} && $paired{$p}{$t} &&
					    $paired{$p}{$t}{$peer} &&
					    $paired{$p}{$t}{$peer}{$k} or next;
					(my $n = $k) =~ s/_us$//;
					$s .= "          \"${n}_per_round_vs_$peer\": { "
					    . join(', ', map { "\"$_\": "
					    . jnum($q->{$_}, $_ eq 'rounds' ? '%d' : '%.3f')
					    } qw(median low high rounds)) . " },\n";
				}
			}
		}
		$s .= "          \"all_runs\": [\n            "
		    . join(",\n            ", @runs_j) . "\n          ] }";
		push @tj, $s;
	}
	push @pj, "    { \"name\": \"$p\", \"description\": " . jstr($d)
	    . ",\n      \"results\": [\n" . join(",\n", @tj) . "\n      ] }";
}
print $j join(",\n", @pj), "\n  ]\n}\n";
close $j;

# --- Markdown ---
sub fmt_ratio { my $r = shift; defined $r ? sprintf('%.2f', $r) : '–' }
sub fmt_int {
	my $v = shift;
	return '–' unless defined $v;
	my $s = sprintf('%.0f', $v);
	1 while $s =~ s/^(\d+)(\d{3})/$1,$2/;
	return $s;
}
sub fmt_ms { my $v = shift; defined $v ? sprintf('%.2f', $v / 1000) : '–' }

open my $md, '>', "$out/latest.md" or die "$out/latest.md: $!\n";
print $md "Machine: $E{NPROC} CPUs ($E{CPU}), Linux $E{KERNEL}; $E{DATE}; ",
    "cutover $E{REV}.\n";
print $md "Versions: $E{VERSIONS}.\n";
print $md "Pinning: $E{PINNING}. Median of $E{RUNS} interleaved runs of ",
    "$E{DURATION} s each. Command: `$E{CMD}`.\n";
print $md "Busy before the run (1 s): $E{BUSY}.\n" if $E{BUSY} ne '';
print $md "\n";
my @thr = grep { !/^idle-/ } @profiles;
if (@thr) {
	print $md "| profile | proxy | req/s | × HAProxy | × direct | p50 ms | ",
	    "p99 ms | p99 × HAProxy | CPU s / 1k req | CPU × HAProxy | kernel share | RSS MiB | errors |\n";
	print $md "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
	for my $p (@thr) {
		for my $t (grep { $med{$p}{$_} } @order) {
			my $m = $med{$p}{$t};
			my $h = $med{$p}{haproxy};
			my $x = $med{$p}{direct};
			my $ks = ratio($m->{cpu_sys_s_per_1k}, $m->{cpu_s_per_1k});
			printf $md "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			    $p, $t, fmt_int($m->{rps}),
			    fmt_ratio(ratio($m->{rps}, $h && $h->{rps})),
			    fmt_ratio(ratio($m->{rps}, $x && $x->{rps})),
			    fmt_ms($m->{p50_us}), fmt_ms($m->{p99_us}),
			    fmt_ratio(ratio($m->{p99_us}, $h && $h->{p99_us})),
			    defined $m->{cpu_s_per_1k} ? sprintf('%.4f', $m->{cpu_s_per_1k}) : '–',
			    fmt_ratio(ratio($m->{cpu_s_per_1k}, $h && $h->{cpu_s_per_1k})),
			    defined $ks ? sprintf('%.0f%%', 100 * $ks) : '–',
			    defined $m->{rss_kb} ? sprintf('%.1f', $m->{rss_kb} / 1024) : '–',
			    $m->{errors} ? "**$m->{errors} of $m->{runs} runs**" : 0;
		}
	}
	print $md "\n";
	my @pp = grep { $paired{$_} } @thr;
	if (@pp) {
		print $md "Each figure over each peer's, round by round (a ",
		    "round runs every proxy once, back to back): median ",
		    "(lowest-highest) over the rounds.\n\n";
		print $md "| profile | proxy | req/s × HAProxy | req/s × nginx ",
		    "| p99 × HAProxy | p99 × nginx |\n",
		    "|---|---|---:|---:|---:|---:|\n";
		for my $p (@pp) {
			for my $t (grep { $paired{$p}{$_} } @order) {
				printf $md "| %s | %s | %s | %s | %s | %s |\n",
				    $p, $t, map {
					my ($k, $peer) = @$_;
					my $q = $paired{$p}{$t}{$peer} &&
					    $paired{$p}{$t}{$peer}{$k};
					$q ? sprintf('%.2f (%.2f-%.2f)',
					    $q->{median}, $q->{low}, $q->{high})
					    : '–'
				} (['rps', 'haproxy'], ['rps', 'nginx'],
				    ['p99_us', 'haproxy'], ['p99_us', 'nginx']);
			}
		}
		print $md "\n";
	}
	# The backend's lost turns: where wrk and the backend share a CPU,
	# each one is a switch between the two, which that CPU pays for
	# whichever proxy runs.
	my @sw = grep { my $p = $_; grep {
	    defined $med{$p}{$_}{backend_switches_per_1k} } keys %{ $med{$p} } }
	    @thr;
	my @swt = grep { my $t = $_; grep { $med{$_}{$t} } @sw } @order;
	if (@sw) {
		print $md "Backend context switches per 1,000 requests, in all ",
		    "and preempted (by wrk, when they share a CPU); median ",
		    "over the runs.\n\n| profile | ", join(' | ', @swt),
		    " |\n|---|", '---:|' x @swt, "\n";
		for my $p (@sw) {
			print $md "| $p | ", join(' | ', map {
				my $m = $med{$p}{$_};
				$m && defined $m->{backend_switches_per_1k}
				    ? sprintf('%.0f (%.0f)',
				    $m->{backend_switches_per_1k},
				    $m->{backend_preempted_per_1k}) : '–'
			} @swt), " |\n";
		}
		print $md "\n";
	}
	for my $v (['cutover-w2', 'workers = 2 over workers = 1'],
	    ['cutover-batch', 'batch_wait = 20us over cutover'],
	    ['cutover-nopoll', 'busy_poll = off over cutover']) {
		my ($t, $what) = @$v;
		my @have = grep { $med{$_}{$t} && $med{$_}{cutover} } @thr;
		print $md "cutover with $what (req/s): ",
		    join(', ', map { "$_ " . fmt_ratio(ratio(
		    $med{$_}{$t}{rps}, $med{$_}{cutover}{rps})) . '×' } @have),
		    ".\n\n" if @have;
	}
}
for my $p (grep { /^idle-/ } @profiles) {
	my ($tls, $n) = $p =~ /^idle-(tls-)?(\d+)/;
	print $md "Idle ", $tls ? 'TLS 1.3 ' : '', "keep-alive connections ",
	    "($n held, one request each): proxy RSS growth.\n\n";
	print $md "| proxy | RSS before MiB | RSS after MiB | bytes / connection | × HAProxy | errors |\n";
	print $md "|---|---:|---:|---:|---:|---:|\n";
	for my $t (grep { $med{$p}{$_} } @order) {
		my $m = $med{$p}{$t};
		my $h = $med{$p}{haproxy};
		printf $md "| %s | %.1f | %.1f | %s | %s | %s |\n", $t,
		    ($m->{rss_before_kb} // 0) / 1024, ($m->{rss_after_kb} // 0) / 1024,
		    fmt_int($m->{bytes_per_conn}),
		    fmt_ratio(ratio($m->{bytes_per_conn}, $h && $h->{bytes_per_conn})),
		    $m->{errors} ? "**$m->{errors} of $m->{runs} runs**" : 0;
	}
	print $md "\n";
}
print $md "**ERRORS in $E{ERRORS} runs**: the medians leave those runs out; ",
    "see the errors column and bench-results/latest.json.\n"
    if $E{ERRORS};
close $md;

# --- chart data: one row per profile, one column per target ---
# Each target keeps its colour whichever targets ran.
my %colour = (cutover => '#1b9e77', 'cutover-w2' => '#d95f02',
    'cutover-batch' => '#66a61e', 'cutover-nopoll' => '#e6ab02',
    haproxy => '#7570b3', nginx => '#e7298a',
    direct => '#999999');
my @ran = grep { my $t = $_; grep { $med{$_}{$t} } @thr } @order;
open my $g, '>', "$out/chart-cols.gp" or die "$out/chart-cols.gp: $!\n";
print $g "ncol = ", 1 + @ran, "\n",
    "colours = \"", join(' ', map { $colour{$_} } @ran), "\"\n";
close $g;
for my $k (['rps', 'chart-rps.dat', 1], ['p99_us', 'chart-p99.dat', 1000]) {
	my ($key, $file, $div) = @$k;
	my @cols = @ran;
	open my $c, '>', "$out/$file" or die "$out/$file: $!\n";
	print $c join("\t", 'profile', @cols), "\n";
	for my $p (@thr) {
		print $c join("\t", $p, map {
			my $v = $med{$p}{$_} && $med{$p}{$_}{$key};
			defined $v ? $v / $div : '-'
		} @cols), "\n";
	}
	close $c;
}
