# hit-rates: hit rates per allocator tier, one group of bars per run:
# mcache (small allocations served without a refill), mcentral (refills
# served by an existing span), pagecache (span allocations served by the
# P's page cache), heap (the others, served without growing the heap). A
# baseline's run has no tiers: no group (as refill-sources).
# Definitions: v_hit_rates in analysis/views.sql.
#% order    10
#% per      all
#% when     SELECT count(*) > 0 FROM v_hit_rates JOIN selected_runs USING (run_id) WHERE hit_rate IS NOT NULL
#% data     SELECT v.run_id, v.label, length(v.label) AS label_len,
#%+           100 * max(CASE h.tier WHEN 'mcache' THEN h.hit_rate END) AS mcache,
#%+           100 * max(CASE h.tier WHEN 'mcentral' THEN h.hit_rate END) AS mcentral,
#%+           100 * max(CASE h.tier WHEN 'pagecache' THEN h.hit_rate END) AS pagecache,
#%+           100 * max(CASE h.tier WHEN 'heap' THEN h.hit_rate END) AS heap
#%+         FROM v_hit_rates h JOIN v_runs v USING (run_id) JOIN selected_runs USING (run_id)
#%+         GROUP BY h.run_id HAVING count(h.hit_rate) > 0 ORDER BY h.run_id
#% caption  Hit rates per tier and run: mcache (slot allocations without a refill), mcentral (refills served by an existing span), pagecache (span allocations served by the P's page cache) and heap (the rest, served without growing the heap). A baseline's run (no such tiers) has no group.

load 'lib-common.gp'
load 'lib-bars.gp'
set style histogram clustered gap 1
set ylabel 'hit rate (%)'
set yrange [0:100]
set ytics 20

plot data using "mcache":xtic(bar_tic(0)) lt 1 lw 0.5 fc rgb bar1 title 'mcache', \
     ''   using "mcentral" lt 1 lw 0.5 fc rgb bar2 title 'mcentral', \
     ''   using "pagecache" lt 1 lw 0.5 fc rgb bar3 title 'pagecache', \
     ''   using "heap" lt 1 lw 0.5 fc rgb bar4 title 'heap'
