# arena-states: heap arena bytes in each OS memory state over time (one
# run), stacked: Ready (backed by the OS) at the bottom, Prepared (mapped,
# not backed: released, or never touched since the heap grew) on it,
# Reserved (address space only) on top, against MiB allocated. The states
# change only at arena transitions, so the areas are steps: the query gives
# each transition two rows, the values before and after it, and each area
# is drawn as one polygon (filledcurves).
#
# A long run has tens of thousands of transitions, many per pixel column,
# and gnuplot took seconds per file to fill them. The query cuts the x
# range into 4096 columns, about one per dot of the 7-inch figure printed
# at 600 dpi (its PNG has 1,400 pixels), and keeps in each only the
# transitions that draw something there: the first, the last, and those
# at the highest and lowest value of each of the three bands. A column's
# filled height is its highest value and its outline runs from the lowest
# to the highest, so the picture is the same at that resolution (a PDF
# zoomed far in shows a dropped step inside a column as a short diagonal);
# the steps between columns are exact, since each column's first and last
# are kept with "before" values taken from the whole series. (git gc's
# 45,848 transitions keep 9,273.) Today only Ready goes down within a run,
# so the other two bands' extreme values are those of a column's first and
# last rows; they are asked for all the same.
#
# A 64 MiB arena reserves far more address space than a small trace maps;
# when the Reserved band would flatten the others, the y axis is broken: the
# lower panel shows 0 to the most memory ever mapped, the upper one the top
# of the Reserved band.
#% order    90
#% per      run
#% when     SELECT count(*) > 0 FROM v_arena_states WHERE run_id = :run
#% data     WITH t AS (
#%+           SELECT seq, kind, clock_bytes, reserved_bytes + prepared_bytes + ready_bytes AS total_bytes,
#%+                  prepared_bytes + ready_bytes AS mapped_bytes, ready_bytes
#%+           FROM v_arena_states WHERE run_id = :run),
#%+         s AS (
#%+           SELECT *, lag(total_bytes, 1, 0) OVER w AS prev_total, lag(mapped_bytes, 1, 0) OVER w AS prev_mapped,
#%+                  lag(ready_bytes, 1, 0) OVER w AS prev_ready,
#%+                  CAST(clock_bytes * 4096.0 / (SELECT max(max(clock_bytes), 1) FROM t) AS INT) AS col
#%+           FROM t WINDOW w AS (ORDER BY seq, kind DESC)),
#%+         k AS (
#%+           SELECT *, row_number() OVER (PARTITION BY col ORDER BY seq, kind DESC) AS first,
#%+                  row_number() OVER (PARTITION BY col ORDER BY seq DESC, kind) AS last,
#%+                  row_number() OVER (PARTITION BY col ORDER BY total_bytes DESC, seq) AS total_hi,
#%+                  row_number() OVER (PARTITION BY col ORDER BY total_bytes, seq) AS total_lo,
#%+                  row_number() OVER (PARTITION BY col ORDER BY mapped_bytes DESC, seq) AS mapped_hi,
#%+                  row_number() OVER (PARTITION BY col ORDER BY mapped_bytes, seq) AS mapped_lo,
#%+                  row_number() OVER (PARTITION BY col ORDER BY ready_bytes DESC, seq) AS ready_hi,
#%+                  row_number() OVER (PARTITION BY col ORDER BY ready_bytes, seq) AS ready_lo
#%+           FROM s),
#%+         kept AS (
#%+           SELECT * FROM k WHERE 1 IN (first, last, total_hi, total_lo, mapped_hi, mapped_lo, ready_hi, ready_lo))
#%+         SELECT clock_bytes, total_bytes, mapped_bytes, ready_bytes
#%+         FROM (SELECT seq, kind, 0 AS step, clock_bytes, prev_total AS total_bytes, prev_mapped AS mapped_bytes,
#%+                      prev_ready AS ready_bytes FROM kept
#%+               UNION ALL
#%+               SELECT seq, kind, 1, clock_bytes, total_bytes, mapped_bytes, ready_bytes FROM kept)
#%+         ORDER BY seq, kind DESC, step
#% caption  Heap arena bytes per OS memory state over time, stacked: Ready (backed by the OS), Prepared (mapped, not backed) and Reserved (address space only), against MiB allocated. A broken y axis keeps the large Reserved band from flattening the others.

load 'lib-common.gp'

stats data using "clock_bytes" nooutput
dummy = set_clock(STATS_max)
X = 'column("clock_bytes") / clock_div'
stats data using (column("mapped_bytes") / MiB) nooutput
mapped_max = STATS_max
stats data using (column("total_bytes") > 0 ? column("total_bytes") / MiB : NaN) nooutput
total_min = STATS_min
total_max = STATS_max
low_top = mapped_max * 1.15
broken = (total_min * 0.9 > low_top * 1.2)

set xrange [0:*]
set autoscale xfixmax
set style fill solid 1.0 noborder
set key at screen 0.5, screen 0.995 center top horizontal maxrows 1 samplen 2 title label
set lmargin at screen (single ? 0.17 : 0.09)
set rmargin at screen 0.97
set multiplot

# The stack: three filled areas, outlined.
stack = 'keyentry with boxes lt 1 lw 0.5 fs solid 1 border lc rgb "black" fc rgb bar4 title "Reserved", \
         keyentry with boxes lt 1 lw 0.5 fs solid 1 border lc rgb "black" fc rgb bar3 title "Prepared", \
         keyentry with boxes lt 1 lw 0.5 fs solid 1 border lc rgb "black" fc rgb bar1 title "Ready", \
         data using (@X):(column("total_bytes") / MiB) with filledcurves y=0 fc rgb bar4, \
         ""   using (@X):(column("mapped_bytes") / MiB) with filledcurves y=0 fc rgb bar3, \
         ""   using (@X):(column("ready_bytes") / MiB) with filledcurves y=0 fc rgb bar1, \
         ""   using (@X):(column("total_bytes") / MiB) with lines lt 1 lw 0.6, \
         ""   using (@X):(column("mapped_bytes") / MiB) with lines lt 1 lw 0.6'

if (broken) {
	# upper panel: the top of the Reserved band
	set border 2 back lw 0.8
	unset xtics
	unset xlabel
	set yrange [total_min * 0.9 : total_max * 1.04]
	set ytics nice_step(total_max * 1.04 - total_min * 0.9, 2)
	set tmargin at screen 0.80
	set bmargin at screen 0.67
	set label 1 'arena memory (MiB)' at screen 0.015, screen 0.5 rotate by 90 center
	plot @stack
	unset key
	unset label 1
	# lower panel: 0 to the most memory ever mapped
	set border 3 back lw 0.8
	set xtics nomirror
	set xlabel clock_label
	set yrange [0 : low_top]
	set ytics nice_step(low_top, 4)
	set tmargin at screen 0.63
	set bmargin at screen (single ? 0.19 : 0.16)
	# the break marks on the y axis
	set arrow 1 from graph -0.015, graph 1.01 to graph 0.015, graph 1.05 nohead lw 0.8 front
	set arrow 2 from graph -0.015, graph 1.05 to graph 0.015, graph 1.09 nohead lw 0.8 front
	plot @stack
} else {
	set ylabel 'arena memory (MiB)'
	set xlabel clock_label
	set yrange [0 : total_max * 1.05]
	set tmargin at screen 0.80
	set bmargin at screen (single ? 0.19 : 0.16)
	plot @stack
}
unset multiplot
