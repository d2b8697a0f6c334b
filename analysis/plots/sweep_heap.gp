# Peak heap in-use and peak Ready bytes (MiB) against the number of size
# classes, one line per trace (and family of tables).
load 'analysis/plots/sweep_common.gp'
set multiplot title 'Allocator memory against the number of size classes'
set xlabel 'size classes'
set logscale y 2
eval panel(1, 2)
set ylabel 'peak heap in-use (MiB)'
yexpr = 'peak_heap_inuse_bytes / 1048576.0'; xcol = 'nclasses'; eval fix_ranges
plot for [s in series] series_q(s, yexpr, xcol) using 1:2 with @ST pt s_pt(s) dt s_dt(s) lw 1.5 notitle
eval panel(2, 2)
set ylabel 'peak Ready bytes (MiB)'
yexpr = 'peak_ready_bytes / 1048576.0'; xcol = 'nclasses'; eval fix_ranges
plot for [s in series] series_q(s, yexpr, xcol) using 1:2 with @ST pt s_pt(s) dt s_dt(s) lw 1.5 notitle
eval key_plot
unset multiplot
