# memory-time: memory over time against the trace's own timestamps (one
# run; only for traces that carry timestamps).
#% order    60
#% per      run
#% when     SELECT max(trace_time_s) > min(trace_time_s) FROM v_memory WHERE run_id = :run
#% data     SELECT trace_time_s, live_bytes, live_rounded_bytes, heap_inuse_bytes, ready_bytes, heap_sys_bytes
#%+         FROM v_memory WHERE run_id = :run ORDER BY op, kind
#% caption  Memory against the trace's recorded time: the same layers as against operations.

fig_height = (exists("width") && width < 5) ? 2.6 : 2.8  # room for a key of three rows
load 'lib-common.gp'
xcol = "trace_time_s"
stats data using (column(xcol)) nooutput
xscale = STATS_max < 2 ? 1000 : 1
xlab = STATS_max < 2 ? 'trace time (ms)' : 'trace time (s)'
load 'lib-memory.gp'
