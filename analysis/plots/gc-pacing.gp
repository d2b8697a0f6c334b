# gc-pacing: the GC pacer over time (one run of the gc policy with at least
# one cycle), against MiB allocated: the heap goal (steps, drawn at its
# changes), Go's heapLive (the pacer's input: allocated slots, live or dead
# and not yet swept, with the spans the Ps hold counted whole; the
# snapshots and, at each cycle, its value at the start and the marked
# bytes it drops to), the live requested bytes, and per cycle the heapLive
# at its start: triangles where the pacer's trigger started it, diamonds
# where a trace marker or a forced GC did, and the bytes it marked live
# (circles); past 40 cycles no per-cycle markers (the line shows them).
#% order    100
#% per      run
#% when     SELECT count(*) > 0 FROM v_gc_cycles WHERE run_id = :run AND heap_goal IS NOT NULL
#% data     SELECT clock_bytes, live_bytes
#%+         FROM v_memory WHERE run_id = :run ORDER BY op, kind
#% data.goal SELECT clock_bytes, heap_goal_bytes FROM (
#%+           SELECT clock_bytes, heap_goal_bytes, lag(heap_goal_bytes) OVER w AS prev, lead(op) OVER w AS next
#%+           FROM v_memory WHERE run_id = :run WINDOW w AS (ORDER BY op, kind))
#%+         WHERE prev IS NULL OR heap_goal_bytes <> prev OR next IS NULL
#% data.heaplive SELECT clock_bytes, heap_live FROM (
#%+           SELECT op, 2 AS k, clock_bytes, heap_live_bytes AS heap_live FROM v_memory WHERE run_id = :run
#%+           UNION ALL SELECT op, 0, clock_bytes, heap_live FROM v_gc_cycles WHERE run_id = :run
#%+           UNION ALL SELECT end_op, 1, end_clock_bytes, heap_marked FROM v_gc_cycles
#%+             WHERE run_id = :run AND end_op IS NOT NULL)
#%+         ORDER BY clock_bytes, op, k
#% data.cycles SELECT cycle, clock_bytes, heap_live, trigger, heap_goal, end_clock_bytes, heap_marked,
#%+           reason = 'pacer' AS pacer
#%+         FROM v_gc_cycles WHERE run_id = :run ORDER BY cycle
#% caption  GC pacing against MiB allocated: the heap goal (goal), Go's heapLive (allocated slots, live and dead but not yet swept, with cached spans counted whole; it drops to the marked bytes at each cycle), live requested bytes (live), and per cycle Go's heapLive at its start (triangles where it crossed the pacer's trigger, diamonds where a trace marker or a forced GC started it) and the bytes it marked live (marked, circles).

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

n_pacer = 0
n_other = 0
stats data_cycles using (column("pacer") > 0.5 ? (n_pacer = n_pacer + 1) : (n_other = n_other + 1)) nooutput
# Past 40 cycles the per-cycle markers would cover the lines (a long run
# has a thousand): the heapLive line's drops still show each cycle.
few = n_pacer + n_other <= 40
if (!few) { n_pacer = 0; n_other = 0 }

plot keyentry with lines lt 3 title 'goal', \
     keyentry with linespoints lt 2 title 'heapLive', \
     keyentry with linespoints lt 1 title 'live', \
     keyentry with points lt 5 pt 8 ps 0.8 title (n_pacer > 0 ? 'trigger' : ''), \
     keyentry with points lt 5 pt 12 ps 0.8 title (n_other > 0 ? 'marker/forced' : ''), \
     keyentry with points lt 4 pt 6 ps 0.8 title (few ? 'marked' : ''), \
     data_goal using (@X):(column("heap_goal_bytes") > 0 ? column("heap_goal_bytes") / MiB : NaN) \
          with steps lt 3, \
     data_heaplive using (@X):(column("heap_live") / MiB) with lines lt 2, \
     data_heaplive using (mark(@X, 2)):(column("heap_live") / MiB) with points lt 2, \
     data using (@X):(column("live_bytes") / MiB) with lines lt 1, \
     ''   using (mark(@X, 1)):(column("live_bytes") / MiB) with points lt 1, \
     data_cycles using (column("clock_bytes") / clock_div):(few && column("pacer") > 0.5 ? column("heap_live") / MiB : NaN) \
          with points lt 5 pt 8 ps 0.8, \
     ''          using (column("clock_bytes") / clock_div):(few && column("pacer") < 0.5 ? column("heap_live") / MiB : NaN) \
          with points lt 5 pt 12 ps 0.8, \
     ''          using (column("end_clock_bytes") / clock_div):(few ? column("heap_marked") / MiB : NaN) \
          with points lt 4 pt 6 ps 0.8
