# size-classes: per size class (one run): slot allocations and mcache
# refills (top, log scale), and the internal waste of the class's live
# objects at the peak of live bytes (bottom). One bar per small size class,
# in class order; tick labels give the slot size at some classes. A run
# with no snapshot at the peak (a trace read from a pipe) has NULL there:
# the bottom panel then says the waste is unknown rather than drawing 0.
# Large objects (class 0) have no slot and are left out.
#% order    80
#% per      run
#% when     SELECT count(*) > 0 FROM v_size_classes WHERE run_id = :run AND size_class > 0 AND mallocs > 0
#% data     SELECT size_class, slot_size, mallocs, refills, internal_frag_bytes_at_peak,
#%+         internal_frag_bytes_at_peak IS NOT NULL AS frag_known
#%+         FROM v_size_classes WHERE run_id = :run AND size_class > 0 ORDER BY size_class
#% caption  Per size class: slot allocations and mcache refills (top, log scale), and internal waste (slot minus requested bytes) of the live objects at the peak of live bytes (bottom). Ticks are labelled with the slot size of the smallest and largest class and of the powers of four from 64 B.

fig_height = (exists("width") && width < 5) ? 3.2 : 3.4
load 'lib-common.gp'

# Labels at the smallest class, the powers of four from 64 (64, 256, 1K, 4K,
# 16K) and the largest class: every power of two would crowd the small
# classes, which are dense.
pow4(n) = (n > 0 && (int(n) & (int(n) - 1)) == 0 && (int(n) & 0x55555555) != 0)
size_label(n) = (n >= 1024 ? sprintf("%dK", int(n) / 1024) : sprintf("%d", int(n)))
stats data using "slot_size" nooutput
min_slot = STATS_min
max_slot = STATS_max
ticklabel(n) = ((pow4(n) && n >= 64) || n == min_slot || n == max_slot ? size_label(n) : "")

stats data using "size_class" nooutput
nclass = STATS_max

set xrange [0.4:nclass + 0.6]
set grid noxtics ytics
set lmargin 9
set rmargin 2
set multiplot layout 2, 1 title label

# top: allocations and refills
set key outside top right horizontal samplen 1.5
set logscale y 10
set yrange [0.5:*]	# a class with one allocation still shows a bar
set format y '%.0s%c'
set ylabel 'count'
unset xtics
set bmargin 0.6
set tmargin 1.5
plot data using "size_class":(column("mallocs") > 0 ? column("mallocs") : NaN):(0.8) \
          with boxes lt 1 lw 0.5 fc rgb bar3 title 'slot allocations', \
     ''   using "size_class":(column("refills") > 0 ? column("refills") : NaN):(0.4) \
          with boxes lt 1 lw 0.5 fc rgb bar1 title 'refills'

# bottom: internal waste at peak
unset logscale y
set autoscale y
unset key
set format y '%g'
set ylabel 'waste at peak (KiB)'
set xlabel 'size class (labelled by slot size, bytes)'
set bmargin 3.5
set tmargin 0.6
set xtics nomirror rotate by 45 right scale 0.5
stats data using "frag_known" nooutput
frag_known = STATS_max > 0
waste_max = 0
if (frag_known) {
	stats data using (column("internal_frag_bytes_at_peak") / KiB) nooutput
	waste_max = STATS_max
}
set ytics nice_step(waste_max, 4)
if (waste_max > 0) {
	set yrange [0:*]
} else {
	set yrange [0:1]
	set label 2 (frag_known ? 'no internal waste at peak' : 'waste at peak unknown: no peak snapshot') \
	    at graph 0.5, graph 0.5 center
}
if (frag_known) {
	plot data using "size_class":(column("internal_frag_bytes_at_peak") / KiB):(0.8):xtic(ticklabel(column("slot_size"))) \
	          with boxes lt 1 lw 0.5 fc rgb bar2
} else {
	plot data using "size_class":(0):xtic(ticklabel(column("slot_size"))) with points pt 0 ps 0 lc rgb "#FF000000"
}
unset multiplot
