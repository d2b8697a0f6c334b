# memory-ops: memory over time against trace operations (one run).
#% order    40
#% per      run
#% data     SELECT op, live_bytes, live_rounded_bytes, heap_inuse_bytes, ready_bytes, heap_sys_bytes
#%+         FROM v_memory WHERE run_id = :run ORDER BY op, kind
#% caption  Memory against trace operations: live requested bytes, live bytes rounded to their size classes, heap in-use, Ready and heap sys. Each gap is the memory lost at one layer.

fig_height = (exists("width") && width < 5) ? 2.6 : 2.8  # room for a key of three rows
load 'lib-common.gp'
xcol = "op"
xscale = 1
xlab = 'trace operations (ops)'
xfmt = '%.0s%c'
load 'lib-memory.gp'
