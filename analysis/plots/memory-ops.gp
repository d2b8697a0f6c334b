# memory-ops: memory over time against trace operations (one run).
#% order    40
#% per      run
#% data     SELECT op, live_bytes, live_rounded_bytes, heap_inuse_bytes, ready_bytes, heap_sys_bytes
#%+         FROM v_memory WHERE run_id = :run ORDER BY op, kind
#% caption  Memory against trace operations: live requested bytes, live bytes rounded to their size classes, heap in-use, Ready and heap sys. Each gap is the memory lost at one layer.

fig_height = (exists("width") && width < 5) ? 2.6 : 2.8  # room for a key of three rows
load 'lib-common.gp'
xcol = "op"
# Operations in thousands or millions, ticks as plain numbers: an SI tick
# format ('%.0s%c') printed 1,500 as "2k".
stats data using xcol nooutput
ops_unit = STATS_max >= 2e6 ? 1e6 : STATS_max >= 2e3 ? 1e3 : 1
xscale = 1.0 / ops_unit
xlab = ops_unit == 1e6 ? 'trace operations (millions)' : ops_unit == 1e3 ? 'trace operations (thousands)' \
                                                          : 'trace operations'
load 'lib-memory.gp'
