# refill-sources: where mcache refills found their span, as a share of each
# run's refills (stacked bars): an existing span of the mcentral (partial
# swept, partial unswept, full unswept) or a new span from the page heap
# (grow). A run without a logged refill has no bar (an empty one would
# read as a run whose refills were all of no kind).
#% order    20
#% per      all
#% when     SELECT count(*) > 0 FROM cache_refills WHERE run_id IN (SELECT run_id FROM selected_runs)
#% data     SELECT v.run_id, v.label, length(v.label) AS label_len,
#%+           100 * coalesce(max(CASE s.source WHEN 'partial_swept' THEN s.fraction END), 0) AS partial_swept,
#%+           100 * coalesce(max(CASE s.source WHEN 'partial_unswept' THEN s.fraction END), 0) AS partial_unswept,
#%+           100 * coalesce(max(CASE s.source WHEN 'full_unswept' THEN s.fraction END), 0) AS full_unswept,
#%+           100 * coalesce(max(CASE s.source WHEN 'grow' THEN s.fraction END), 0) AS grow
#%+         FROM v_refill_sources s JOIN v_runs v USING (run_id) JOIN selected_runs USING (run_id)
#%+         GROUP BY s.run_id HAVING sum(s.refills) > 0 ORDER BY s.run_id
#% caption  Where mcache refills found their span, as a share of each run's refills: a partial swept, partial unswept or full unswept span of the mcentral, or a new span from the page heap (grow). A run that logged no refill (large objects only, or replayed with --no-events) has no bar.

load 'lib-common.gp'
load 'lib-bars.gp'
set style histogram rowstacked
set boxwidth 0.6 relative
set ylabel 'refills (%)'
set yrange [0:100]
set ytics 20

plot data using "partial_swept":xtic(bar_tic(0)) lt 1 lw 0.5 fc rgb bar1 title 'partial swept', \
     ''   using "partial_unswept" lt 1 lw 0.5 fc rgb bar2 title 'partial unswept', \
     ''   using "full_unswept" lt 1 lw 0.5 fc rgb bar3 title 'full unswept', \
     ''   using "grow" lt 1 lw 0.5 fc rgb bar4 title 'grow (new span)'
