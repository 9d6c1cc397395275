# chart.gp: the chart of scripts/bench.  gnuplot -e "dir='bench-results'"
# reads dir/chart-rps.dat and dir/chart-p99.dat (written by report.pl: one
# row per profile, one column per proxy) and draws dir/latest.svg.
if (!exists("dir")) dir = 'bench-results'
# ncol (the profile's column and one per target that ran) and their
# colours, from report.pl.
load dir.'/chart-cols.gp'
set terminal svg size 900,760 dynamic font 'sans,12' background '#ffffff'
set output dir.'/latest.svg'
set datafile missing '-'
set datafile separator '\t'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside top center horizontal
set grid ytics
set yrange [0:*]
set xtics nomirror
set ytics nomirror

set multiplot layout 2,1 title 'cutover vs HAProxy vs nginx (1 worker each unless named; median of runs)'
set title 'throughput (requests per second, higher is better)'
set format y '%.0f'
plot for [i=2:ncol] dir.'/chart-rps.dat' using i:xtic(1) title columnheader(i) \
    lc rgb word(colours, i - 1)
set title 'p99 latency (ms, log scale, lower is better)'
set logscale y
set yrange [0.1:*]
set format y '%g'
plot for [i=2:ncol] dir.'/chart-p99.dat' using i:xtic(1) title columnheader(i) \
    lc rgb word(colours, i - 1)
unset multiplot
