# memory-alloc: memory over time against bytes allocated, Wilson's clock
# (one run): traces of one program recorded on different machines line up.
#% order    50
#% per      run
#% data     SELECT clock_bytes, live_bytes, live_rounded_bytes, heap_inuse_bytes, ready_bytes, heap_sys_bytes
#%+         FROM v_memory WHERE run_id = :run ORDER BY op, kind
#% caption  Memory against MiB allocated (Wilson's allocation clock): the same layers as against operations.

fig_height = (exists("width") && width < 5) ? 2.6 : 2.8  # room for a key of three rows
load 'lib-common.gp'
xcol = "clock_bytes"
stats data using xcol nooutput
dummy = set_clock(STATS_max)
xscale = 1 / clock_div
xlab = clock_label
load 'lib-memory.gp'
