# fragmentation: fragmentation over time (one run): heap in-use, Ready
# bytes and heap sys over live requested bytes (1: no overhead), and
# internal waste over live bytes (0: none), against MiB allocated, on a log
# scale. Moments with less than 1% of the run's peak live bytes live (the
# start of a trace, often its end) are left out: their ratios divide by
# almost nothing and would set the scale.
#% order    70
#% per      run
#% data     SELECT clock_bytes, live_bytes, inuse_over_live, ready_over_live, sys_over_live, internal_over_live
#%+         FROM v_fragmentation
#%+         WHERE run_id = :run AND live_bytes >= 0.01 * (SELECT peak_live_bytes FROM runs WHERE run_id = :run)
#%+         ORDER BY op, kind
#% caption  Fragmentation over time: heap in-use, Ready bytes and heap sys divided by live requested bytes (1 = no overhead), and internal waste (slot minus requested bytes) divided by live bytes, against MiB allocated; log scale; moments with less than 1% of peak live bytes live are left out.

load 'lib-common.gp'

stats data using "clock_bytes" nooutput
dummy = set_clock(STATS_max)
X = 'column("clock_bytes") / clock_div'
stats data using (@X) nooutput
dummy = set_marks(STATS_min, STATS_max)

set xlabel clock_label
set ylabel 'bytes per live byte (ratio)'
set xrange [0:*]
set autoscale xfixmax
set logscale y 10
set format y '%g'
set key outside top center horizontal samplen 2 title label
# No internal waste at all (every request a class size) has no line on a
# log scale: no key entry names it, and the x label says so (where it
# cannot cover a curve).
stats data using (column("internal_over_live") > 0 ? 1 : 0) nooutput
int_title = STATS_max > 0 ? 'internal waste' : ''
if (STATS_max == 0) set xlabel clock_label . '; no internal waste'

plot keyentry with linespoints lt 5 title 'heap sys', \
     keyentry with linespoints lt 4 title 'Ready', \
     keyentry with linespoints lt 3 title 'heap in-use', \
     keyentry with linespoints lt 2 title int_title, \
     data using (@X):"sys_over_live" with lines lt 5, \
     ''   using (mark(@X, 5)):"sys_over_live" with points lt 5, \
     ''   using (@X):"ready_over_live" with lines lt 4, \
     ''   using (mark(@X, 4)):"ready_over_live" with points lt 4, \
     ''   using (@X):"inuse_over_live" with lines lt 3, \
     ''   using (mark(@X, 3)):"inuse_over_live" with points lt 3, \
     ''   using (@X):"internal_over_live" with lines lt 2, \
     ''   using (mark(@X, 2)):"internal_over_live" with points lt 2
