# gc-pacing: the GC pacer over time (one run of the gc policy with at least
# one cycle), against MiB allocated: the heap goal (steps), Go's heapLive
# (the pacer's input: allocated slots, live or dead and not yet swept, with
# the spans the Ps hold counted whole), the live requested bytes, and per
# cycle the heapLive that crossed the trigger (triangles) and the bytes
# the cycle marked live (circles).
#% order    100
#% per      run
#% when     SELECT count(*) > 0 FROM v_gc_cycles WHERE run_id = :run AND heap_goal IS NOT NULL
#% data     SELECT clock_bytes, live_bytes, heap_live_bytes, heap_goal_bytes
#%+         FROM v_memory WHERE run_id = :run ORDER BY op, kind
#% data.cycles SELECT cycle, clock_bytes, heap_live, trigger, heap_goal, end_clock_bytes, heap_marked
#%+         FROM v_gc_cycles WHERE run_id = :run ORDER BY cycle
#% caption  GC pacing against MiB allocated: the heap goal (goal), Go's heapLive (allocated slots, live and dead but not yet swept, with cached spans counted whole), live requested bytes (live), and per cycle Go's heapLive when it crossed the trigger (trigger, triangles) and the bytes it marked live (marked, circles).

load 'lib-common.gp'

stats data using "clock_bytes" nooutput
dummy = set_clock(STATS_max)
X = 'column("clock_bytes") / clock_div'
stats data using (@X) nooutput
dummy = set_marks(STATS_min, STATS_max)

set xlabel clock_label
set ylabel 'heap (MiB)'
set xrange [0:*]
set autoscale xfixmax
set yrange [0:*]
set offsets 0, 0, graph 0.05, 0
set key outside top center horizontal samplen 2 title label

plot keyentry with lines lt 3 title 'goal', \
     keyentry with linespoints lt 2 title 'heapLive', \
     keyentry with linespoints lt 1 title 'live', \
     keyentry with points lt 5 pt 8 ps 0.8 title 'trigger', \
     keyentry with points lt 4 pt 6 ps 0.8 title 'marked', \
     data using (@X):(column("heap_goal_bytes") > 0 ? column("heap_goal_bytes") / MiB : NaN) \
          with steps lt 3, \
     ''   using (@X):(column("heap_live_bytes") / MiB) with lines lt 2, \
     ''   using (mark(@X, 2)):(column("heap_live_bytes") / MiB) with points lt 2, \
     ''   using (@X):(column("live_bytes") / MiB) with lines lt 1, \
     ''   using (mark(@X, 1)):(column("live_bytes") / MiB) with points lt 1, \
     data_cycles using (column("clock_bytes") / clock_div):(column("heap_live") / MiB) with points lt 5 pt 8 ps 0.8, \
     ''          using (column("end_clock_bytes") / clock_div):(column("heap_marked") / MiB) with points lt 4 pt 6 ps 0.8
