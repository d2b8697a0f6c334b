# Shared by the sweep_*.gp figures (scripts/sweep-figures.sh runs them).
#
# Input, from the driver:
#   environment SWEEP_DB   the results database (read with the sqlite3 CLI)
#   environment SWEEP_OUT  the output path without extension
#   -e fmt='png'|'pdf'     one terminal per call
#   -e sel='...'           SQL condition on sweep_points p choosing the sweep
#   -e series='t:f ...'    (trace index : 1 if fitted tables) pairs with data
#   -e mixed=0|1           the sweep has fitted and generated tables
#   -e split_x=0|1, split_n=0|1  a series holds two points of one x (of one
#                          number of classes): more than that varies, and
#                          its points are drawn without lines (a line
#                          would join points of different settings)
#
# Every figure reads the complete runs of one sweep, joined to the plan by
# run identity (docs/sweeps.md): c is one row per run with the plan's
# point, trace, x (the swept value, or the number of classes), nclasses and
# fitted. Repeats are averaged (a deterministic replay repeats its figures
# exactly; only timings vary). Black and white: traces differ by point
# type, fitted (solid) and generated (dashed) tables by line type.

out = system('printf "%s" "$SWEEP_OUT"')
q(sql) = sprintf('< sqlite3 -readonly -separator "|" "$SWEEP_DB" "%s"', sql)
cte = "WITH c AS (SELECT p.point AS point, p.trace AS trace, p.x AS x, p.nclasses AS nclasses," \
    . " (p.fit_classes IS NOT NULL) AS fitted, r.* FROM sweep_points p JOIN runs r" \
    . " ON r.sweep_id = p.sweep_id AND r.trace_sha256 = p.trace_sha256 AND r.config_json = p.config_json" \
    . " WHERE r.status = 'complete' AND " . sel . ") "
trace_name(t) = system(sprintf('sqlite3 -readonly "$SWEEP_DB" "SELECT trace_name FROM sweep_points p WHERE %s AND trace = %d LIMIT 1"', sel, t))
s_trace(s) = int(s[1:strstrt(s, ':') - 1])
s_fit(s) = int(s[strstrt(s, ':') + 1:])
s_title(s) = trace_name(s_trace(s)) . (mixed ? (s_fit(s) ? ' (fitted)' : ' (generated)') : '')
# A trace's marker family (open/filled pairs, then + and x) cycles through
# 7, its dash type through 5: 35 traces before a style repeats (7 when
# fitted and generated tables share the figure: the dash tells those).
s_family(t) = int(word("4 6 8 10 12 14 1", t % 7 + 1))
s_pt(s) = s_family(s_trace(s)) + (mixed ? s_fit(s) : 1)
s_dt(s) = mixed ? (s_fit(s) ? 1 : 2) : 1 + s_trace(s) % 5
# The figure's values for one series: x, then a per-run expression, averaged.
series_q(s, expr, xcol) = q(sprintf("%s SELECT %s, avg(%s) FROM c WHERE trace = %d AND fitted = %d GROUP BY point ORDER BY 1", \
                                    cte, xcol, expr, s_trace(s), s_fit(s)))

# Axis ranges from the data, widened when every value is the same (gnuplot
# warns about an empty range, and a warning fails the driver); stats
# obeys the ranges in force, so they are reset first:
#   yexpr = 'per-run SQL expression'; xcol = 'x' or 'nclasses'; eval fix_ranges
pad(v) = v == 0 ? 1 : abs(v) * 0.1
fix_range(axis) = sprintf("if (STATS_max - STATS_min <= 1e-9 * (abs(STATS_max) + 1)) {" \
    . " set %srange [STATS_min - pad(STATS_min) : STATS_max + pad(STATS_max)] } else { set %srange [*:*] }", axis, axis)
fix_ranges = "set xrange [*:*]; set yrange [*:*];" \
    . " stats q(sprintf('%s SELECT %s, avg(%s) FROM c GROUP BY point, trace', cte, xcol, yexpr)) using 1 nooutput;" \
    . " eval fix_range('x');" \
    . " stats q(sprintf('%s SELECT %s, avg(%s) FROM c GROUP BY point, trace', cte, xcol, yexpr)) using 2 nooutput;" \
    . " eval fix_range('y');" \
    . " ST = (xcol eq 'x' ? split_x : split_n) ? 'points' : 'linespoints'"

# The terminal of the other figures (lib-terminal.gp), in black and white,
# the width of a two-column page's text (7 in, as their -2col): placed at
# its own size, its fonts are 9 pt in print. The table sets its own size.
if (!exists("width")) width = 7
if (!exists("height")) height = 3.6
mono = 1
fsize = 9
out = out . '.' . fmt
load 'analysis/plots/lib-terminal.gp'
set pointsize 0.8
set grid
unset key
# Panels side by side above the key, which gets the bottom quarter to itself
# (a key inside a narrow panel would stack into one column over the data).
panel(i, n) = sprintf('set origin %g, 0.26; set size %g, 0.68', (i - 1.0) / n, 1.0 / n)
key_plot = "unset logscale; unset grid; unset border; unset tics; unset xlabel; unset ylabel; unset title;" \
         . " set origin 0, 0; set size 1, 0.26; set xrange [0:1]; set yrange [0:1];" \
         . " set key center center horizontal width 1 samplen 3 font ',8' noenhanced;" \
         . " plot for [s in series] NaN with linespoints pt s_pt(s) dt s_dt(s) lw 1.5 title s_title(s)"
set datafile separator '|'
