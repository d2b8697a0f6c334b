# fragmentation-jw: Johnstone & Wilson's fragmentation measures #3 (memory
# over live bytes at the peak of memory) and #4 (peak memory over peak live
# bytes), for memory = heap in-use and memory = Ready bytes, one group of
# bars per run, in percent over live bytes (J&W 1998's table, as bars).
#% order    30
#% per      all
#% data     SELECT v.run_id, v.label, length(v.label) AS label_len,
#%+           100 * r.frag_inuse_jw3 AS inuse_jw3, 100 * r.frag_inuse_jw4 AS inuse_jw4,
#%+           100 * r.frag_ready_jw3 AS ready_jw3, 100 * r.frag_ready_jw4 AS ready_jw4
#%+         FROM runs r JOIN v_runs v USING (run_id) JOIN selected_runs USING (run_id)
#%+         ORDER BY r.run_id
#% caption  Johnstone and Wilson's fragmentation #3 (memory over live bytes at the peak of memory) and #4 (peak memory over peak live bytes), with memory = heap in-use and = Ready bytes, in percent above live bytes.

load 'lib-common.gp'
load 'lib-bars.gp'
set style histogram clustered gap 1
set ylabel 'fragmentation (% over live)'
set yrange [0:*]

plot data using "inuse_jw3":xtic(bar_tic(0)) lt 1 lw 0.5 fc rgb bar1 title 'in-use #3', \
     ''   using "inuse_jw4" lt 1 lw 0.5 fc rgb bar2 title 'in-use #4', \
     ''   using "ready_jw3" lt 1 lw 0.5 fc rgb bar3 title 'Ready #3', \
     ''   using "ready_jw4" lt 1 lw 0.5 fc rgb bar4 title 'Ready #4'
