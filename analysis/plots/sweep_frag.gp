# Internal fragmentation and Johnstone & Wilson #3 / #4 (M = heap in-use)
# against the swept parameter, one line per trace (and per family of
# tables when fitted and generated ones are mixed): internal fragmentation
# in % of live bytes, #3 = M / live - 1 at M's peak, #4 = max M / max live
# - 1 (docs/metrics.md). Extra input:
#   -e xlabel='...'  the swept parameter's name;  -e logx=0|1
load 'analysis/plots/sweep_common.gp'
set multiplot title 'Fragmentation against ' . xlabel
if (logx) { set logscale x 2 }
set xlabel xlabel
eval panel(1, 3)
set ylabel 'internal frag. at peak live (%)'
yexpr = '100.0 * internal_frag_bytes_at_peak / peak_live_bytes'; xcol = 'x'; eval fix_ranges
plot for [s in series] series_q(s, yexpr, xcol) using 1:2 with @ST pt s_pt(s) dt s_dt(s) lw 1.5 notitle
eval panel(2, 3)
set ylabel 'J&W #3, M = heap in-use (%)'
yexpr = '100.0 * frag_inuse_jw3'; xcol = 'x'; eval fix_ranges
plot for [s in series] series_q(s, yexpr, xcol) using 1:2 with @ST pt s_pt(s) dt s_dt(s) lw 1.5 notitle
eval panel(3, 3)
set ylabel 'J&W #4, M = heap in-use (%)'
yexpr = '100.0 * frag_inuse_jw4'; xcol = 'x'; eval fix_ranges
plot for [s in series] series_q(s, yexpr, xcol) using 1:2 with @ST pt s_pt(s) dt s_dt(s) lw 1.5 notitle
eval key_plot
unset multiplot
