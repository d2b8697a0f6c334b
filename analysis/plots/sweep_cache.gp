# mcache hit rate (%) and mcache refills against the number of size
# classes, one line per trace (and family of tables).
load 'analysis/plots/sweep_common.gp'
set multiplot title 'mcache behaviour against the number of size classes'
set xlabel 'size classes'
eval panel(1, 2)
set ylabel 'mcache hit rate (%)'
yexpr = '100.0 * hit_rate_mcache'; xcol = 'nclasses'; eval fix_ranges
plot for [s in series] series_q(s, yexpr, xcol) using 1:2 with @ST pt s_pt(s) dt s_dt(s) lw 1.5 notitle
eval panel(2, 2)
set logscale y 10
set ylabel 'mcache refills'
yexpr = 'refills'; xcol = 'nclasses'; eval fix_ranges
plot for [s in series] series_q(s, yexpr, xcol) using 1:2 with @ST pt s_pt(s) dt s_dt(s) lw 1.5 notitle
eval key_plot
unset multiplot
