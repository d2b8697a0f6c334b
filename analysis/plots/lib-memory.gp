# lib-memory.gp: memory over time, the body of memory-ops.gp,
# memory-alloc.gp and memory-time.gp, which load lib-common.gp and set
#   xcol    the time column of the data (op, clock_bytes, trace_time_s);
#   xscale  what it is multiplied by; xlab, the x axis label;
#   xfmt    optional, the x tick format (default %g).
# Data (v_memory, one run): five layers, each at most the next, so the gap
# between two lines is the memory lost at that layer.

stats data using (column(xcol) * xscale) nooutput
dummy = set_marks(STATS_min, STATS_max)

set xlabel xlab
set ylabel 'memory (MiB)'
set xrange [0:*]
set autoscale xfixmax
set yrange [0:*]
set offsets 0, 0, graph 0.05, 0
set format x (exists("xfmt") ? xfmt : '%g')
set key outside top center horizontal samplen 2 title label

X = 'column(xcol) * xscale'
plot keyentry with linespoints lt 5 title 'heap sys', \
     keyentry with linespoints lt 4 title 'Ready', \
     keyentry with linespoints lt 3 title 'heap in-use', \
     keyentry with linespoints lt 2 title 'live (rounded)', \
     keyentry with linespoints lt 1 title 'live (requested)', \
     data using (@X):(column("heap_sys_bytes") / MiB) with lines lt 5, \
     ''   using (mark(@X, 5)):(column("heap_sys_bytes") / MiB) with points lt 5, \
     ''   using (@X):(column("ready_bytes") / MiB) with lines lt 4, \
     ''   using (mark(@X, 4)):(column("ready_bytes") / MiB) with points lt 4, \
     ''   using (@X):(column("heap_inuse_bytes") / MiB) with lines lt 3, \
     ''   using (mark(@X, 3)):(column("heap_inuse_bytes") / MiB) with points lt 3, \
     ''   using (@X):(column("live_rounded_bytes") / MiB) with lines lt 2, \
     ''   using (mark(@X, 2)):(column("live_rounded_bytes") / MiB) with points lt 2, \
     ''   using (@X):(column("live_bytes") / MiB) with lines lt 1, \
     ''   using (mark(@X, 1)):(column("live_bytes") / MiB) with points lt 1
