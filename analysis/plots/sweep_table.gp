# The classic fragmentation table, rendered: J&W #4 with M = heap in-use
# (max heap in-use / max live bytes - 1, in %), one row per configuration
# (the sweep's points, in order), one column per trace, then the mean over
# the traces ('-' where a trace has no complete run of that point: a mean
# over fewer traces would not compare with the others).
# scripts/sweep-figures.sh writes the same numbers as CSV and LaTeX.
# Extra input: -e nrows=N (points) -e ncols=N (traces + 1).
width = 2.6 + 0.9 * ncols
height = 0.8 + 0.25 * nrows
load 'analysis/plots/sweep_common.gp'
unset grid
unset border
unset tics
unset key
set margins 1, 1, 1, 2.5
set title 'J&W #4, M = heap in-use (%): max(M) / max(live bytes) - 1'
# column c of the table at x: the labels' column is 2.2 wide, the others 1
cell_x(c) = c == 0 ? 0 : 2.2 + (c - 0.5)
set xrange [-0.1 : 2.2 + ncols]
set yrange [-nrows - 0.6 : 0.6]
labels = sprintf("SELECT 0, 0, 'configuration' UNION ALL" \
    . " SELECT DISTINCT 0, point + 1, label FROM sweep_points p WHERE %s", sel)
heads = sprintf("SELECT DISTINCT trace + 1, 0, trace_name FROM sweep_points p WHERE %s" \
    . " UNION ALL SELECT %d, 0, 'mean'", sel, ncols)
cells = cte . sprintf(", v AS (SELECT point, trace, avg(100.0 * frag_inuse_jw4) AS v FROM c GROUP BY point, trace)" \
    . " SELECT trace + 1, point + 1, printf('%%.1f', v) FROM v" \
    . " UNION ALL SELECT %d, point + 1, CASE WHEN count(v) = %d THEN printf('%%.1f', avg(v)) ELSE '-' END" \
    . " FROM v GROUP BY point", ncols, ncols - 1)
plot q(labels) using (cell_x($1)):(-$2):3 with labels left notitle, \
     q(heads) using (cell_x($1)):(-$2):3 with labels center notitle, \
     q(cells) using (cell_x($1)):(-$2):3 with labels center notitle
