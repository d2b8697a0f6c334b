-- The analysis views: every figure of scripts/figures.sh and every number
-- of scripts/report.sh is a SELECT over these views, and each view is a
-- SELECT over the tables of analysis/schema.sql. docs/figures.md defines
-- every column and says how to read each figure.
--
-- spanlab installs this file in every database it finishes a run in (it is
-- compiled into the binary; sim/db.c db_after_load, docs/database.md
-- "Indexes and views"), so `sqlite3 FILE 'SELECT * FROM v_summary'` works on
-- any database. scripts/figures.sh does not rely on that: it reads the
-- database read-only and creates these views as TEMP views from this file
-- in its own session, so a database written by an older spanlab (or none
-- at all) is drawn with the views of this checkout. Hence the one rule for
-- this file: every view starts with `CREATE VIEW v_` at the start of a
-- line, and nothing else does.
--
-- Conventions: one row per run (or per run and something) keyed by
-- run_id; bytes in bytes (figures scale to MiB); ratios as fractions
-- (0.25, not 25); enums by name, joined from the lookup tables, never by
-- their integer ids; a ratio with nothing to divide by is NULL.

-- v_runs: every run with the labels figures and tables print.
--   trace   the trace's file name without .gz and .slt;
--   config  the free policy, then every setting that differs from Go's
--           defaults (docs/config.md), in a fixed order: lazy sweep,
--           GOGC, Ps, tiny off, scavenger, trigger fraction, arena size,
--           size-class table or generator parameters; for a baseline's
--           run (replay --allocator glibc ...), whose config_json has no
--           Go settings, the allocator's name;
--   label   trace and config ("sqlite3 gc", "sqlite3 immediate"), the
--           status added for a run that is not complete, and " #ID"
--           added to every run whose label would otherwise equal another
--           run's (repeats of one configuration; w and w.slt, the same
--           trace as text and converted): labels are unique, since
--           figures use them as legend and series names. The test is on
--           the label's text itself, so nothing the label leaves out
--           (.slt, .gz) can make two labels equal.
CREATE VIEW v_runs AS
WITH c AS (
	SELECT run_id, status, sweep_id, ops, free_policy, allocator, procs, trace_complete,
	       coalesce(trace_name, trace_path, 'run ' || run_id) AS trace_file,
	       trim(CASE WHEN allocator <> 'go' THEN allocator ELSE
	         coalesce(free_policy, '')
	         || CASE WHEN json_extract(config_json, '$.sweep') = 'lazy' THEN ' lazy-sweep' ELSE '' END
	         || CASE WHEN json_extract(config_json, '$.gogc') IS NOT 100
	                 THEN ' GOGC=' || json_extract(config_json, '$.gogc') ELSE '' END
	         || CASE WHEN procs > 1 THEN ' P=' || procs ELSE '' END
	         || CASE WHEN json_extract(config_json, '$.tiny') = 0 THEN ' no-tiny' ELSE '' END
	         || CASE WHEN json_extract(config_json, '$.scavenger.enabled') = 0 THEN ' no-scavenger'
	                 WHEN json_extract(config_json, '$.scavenger.retain_extra_percent') IS NOT 10
	                 THEN ' retain=' || json_extract(config_json, '$.scavenger.retain_extra_percent') || '%'
	                 ELSE '' END
	         || CASE WHEN json_extract(config_json, '$.trigger_fraction') IS NOT 0.95
	                 THEN ' trigger=' || json_extract(config_json, '$.trigger_fraction') ELSE '' END
	         || CASE WHEN json_extract(config_json, '$.arena_size') IS NOT 67108864
	                 THEN ' arena=' || (json_extract(config_json, '$.arena_size') >> 20) || 'MiB' ELSE '' END
	         || CASE WHEN json_extract(config_json, '$.sizeclasses.page_size') IS NOT 8192
	                 THEN ' page=' || json_extract(config_json, '$.sizeclasses.page_size') ELSE '' END
	         || CASE WHEN json_extract(config_json, '$.sizeclasses.max_small_size') IS NOT 32768
	                 THEN ' max-small=' || json_extract(config_json, '$.sizeclasses.max_small_size') ELSE '' END
	         || CASE WHEN json_type(config_json, '$.sizeclasses.table') = 'array'
	                 THEN ' table(' || json_array_length(config_json, '$.sizeclasses.table') || ' classes)'
	                 ELSE
	                   CASE WHEN json_extract(config_json, '$.sizeclasses.max_waste') IS NOT 0.125
	                        THEN ' max-waste=' || json_extract(config_json, '$.sizeclasses.max_waste') ELSE '' END
	                || CASE WHEN json_extract(config_json, '$.sizeclasses.tail_waste') IS NOT 0.125
	                        THEN ' tail-waste=' || json_extract(config_json, '$.sizeclasses.tail_waste') ELSE '' END
	                || CASE WHEN json_extract(config_json, '$.sizeclasses.min_align') IS NOT 8
	                        THEN ' min-align=' || json_extract(config_json, '$.sizeclasses.min_align') ELSE '' END
	                || CASE WHEN json_extract(config_json, '$.sizeclasses.align16_from') IS NOT 32
	                        THEN ' align16-from=' || json_extract(config_json, '$.sizeclasses.align16_from') ELSE '' END
	                || CASE WHEN json_extract(config_json, '$.sizeclasses.prop_align_from') IS NOT 128
	                        THEN ' prop-from=' || json_extract(config_json, '$.sizeclasses.prop_align_from') ELSE '' END
	                || CASE WHEN json_extract(config_json, '$.sizeclasses.max_align') IS NOT 256
	                        THEN ' max-align=' || json_extract(config_json, '$.sizeclasses.max_align') ELSE '' END
	                || CASE WHEN json_extract(config_json, '$.sizeclasses.merge') = 0 THEN ' no-merge' ELSE '' END
	                || CASE WHEN json_extract(config_json, '$.sizeclasses.fill_span') = 0 THEN ' no-fill-span' ELSE '' END
	                 END END) AS config
	FROM runs
), b AS (
	SELECT *, CASE WHEN trace_file LIKE '%.gz' THEN substr(trace_file, 1, length(trace_file) - 3)
	               ELSE trace_file END AS t1
	FROM c
), d AS (
	SELECT *, CASE WHEN t1 LIKE '%.slt' THEN substr(t1, 1, length(t1) - 4) ELSE t1 END AS trace
	FROM b
), e AS (
	SELECT *, trace || ' ' || config
	          || CASE WHEN status <> 'complete' THEN ' (' || status || ')' ELSE '' END
	          || CASE WHEN trace_complete = 0 THEN ' (trace cut short)' ELSE '' END AS plain
	FROM d
)
SELECT run_id, status, sweep_id, trace, config, free_policy, allocator, procs, ops,
       plain || CASE WHEN count(*) OVER (PARTITION BY plain) > 1 THEN ' #' || run_id ELSE '' END AS label
FROM e;

-- v_memory: memory over time, one row per snapshot (periodic, peak_live,
-- final), in bytes. The layers, each at most the next: live_bytes
-- (requested) <= live_rounded_bytes (slots of the size classes) <=
-- heap_inuse_bytes (pages of in-use spans) <= ready_bytes (backed by the
-- OS) <= heap_sys_bytes (Prepared + Ready). Time axes: op (operations
-- replayed), clock_bytes (requested bytes allocated: Wilson's clock),
-- trace_time_s (the trace's timestamps, NULL when it has none). In every
-- row op counts the operations replayed: the peak_live row, taken right
-- after operation index runs.peak_live_op, has op = peak_live_op + 1.
CREATE VIEW v_memory AS
SELECT s.run_id, s.op,
       s.clock_bytes,
       s.trace_time_ns / 1e9 AS trace_time_s,
       k.name AS kind,
       s.live_bytes, s.live_objects, s.live_rounded_bytes, s.internal_frag_bytes, s.dead_bytes,
       s.heap_inuse_bytes, s.ready_bytes, s.heap_sys_bytes, s.released_bytes, s.reserved_bytes,
       s.spans_inuse, s.heap_goal_bytes, s.heap_live_bytes, s.gc_cycles, s.mallocs, s.frees, s.refills
FROM snapshots s
JOIN snapshot_kinds k ON k.id = s.kind;

-- v_fragmentation: fragmentation over time, one row per snapshot: the
-- allocator's memory over live requested bytes at that moment (1.0: no
-- overhead), and internal waste over live bytes (0.0: none). NULL while
-- nothing is live.
CREATE VIEW v_fragmentation AS
SELECT run_id, op, clock_bytes, trace_time_s, kind, live_bytes,
       CAST(heap_inuse_bytes AS REAL) / nullif(live_bytes, 0) AS inuse_over_live,
       CAST(ready_bytes AS REAL) / nullif(live_bytes, 0) AS ready_over_live,
       CAST(heap_sys_bytes AS REAL) / nullif(live_bytes, 0) AS sys_over_live,
       CAST(internal_frag_bytes AS REAL) / nullif(live_bytes, 0) AS internal_over_live
FROM v_memory;

-- v_jw: Johnstone & Wilson's fragmentation measures #1-#4 (ISMM 1998), one
-- row per run and memory measure M ('heap_inuse', 'ready'), as fractions
-- over live bytes L (0.25: M is 25% above L):
--   jw1 = mean(M) / mean(L) - 1 over the periodic snapshots, each weighted
--         by the operations it stands for (a pipe's interval doubles);
--   jw2 = M / L - 1 at the (first) peak of L;
--   jw3 = M / L - 1 at the first operation where M reaches its maximum;
--   jw4 = max(M) / max(L) - 1.
-- These are the replay's own figures (runs.frag_*), exact: the maxima for
-- #3 and #4 are taken after every operation, not only at snapshots (a
-- baseline's: at its snapshots).
CREATE VIEW v_jw AS
SELECT run_id, 'heap_inuse' AS memory, 1 AS memory_order,
       peak_heap_inuse_bytes AS peak_memory_bytes, peak_live_bytes,
       frag_inuse_jw1 AS jw1, frag_inuse_jw2 AS jw2, frag_inuse_jw3 AS jw3, frag_inuse_jw4 AS jw4
FROM runs
UNION ALL
SELECT run_id, 'ready', 2, peak_ready_bytes, peak_live_bytes,
       frag_ready_jw1, frag_ready_jw2, frag_ready_jw3, frag_ready_jw4
FROM runs;

-- v_hit_rates: one row per run and tier, hits and lookups counted from the
-- event log and the per-class table:
--   mcache     lookups: small allocations, i.e. slot allocations of the
--              small size classes plus tiny sub-objects packed into a P's
--              current 16-byte block (size_class_stats, classes >= 1);
--              misses: refills (cache_refills rows).
--   mcentral   lookups: refills; misses: refills that needed a new span
--              (source 'grow').
--   pagecache  lookups: span allocations in the page heap (span_allocs);
--              misses: those not served by the P's page cache.
--   heap       lookups: span allocations the page cache did not serve;
--              misses: those that grew the heap (source 'grow').
-- hit_rate = hits / lookups = 1 - misses / lookups; summary_hit_rate is the replay's
-- figure from its counters (runs.hit_rate_*), equal for every tier. A run
-- logged without its events ("log_events": false) has no rows to count,
-- nor has a baseline's (no tiers): their lookups, hits and misses are
-- NULL and hit_rate is the summary's (NULL for a baseline).
CREATE VIEW v_hit_rates AS
WITH refills AS (
	SELECT c.run_id, count(*) AS n, count(*) FILTER (WHERE s.name = 'grow') AS grow
	FROM cache_refills c JOIN refill_sources s ON s.id = c.source
	GROUP BY c.run_id
), pages AS (
	SELECT a.run_id, count(*) AS n,
	       count(*) FILTER (WHERE s.name = 'pagecache') AS cached,
	       count(*) FILTER (WHERE s.name = 'grow') AS grow
	FROM span_allocs a JOIN page_sources s ON s.id = a.source
	GROUP BY a.run_id
), slots AS (
	SELECT run_id, sum(mallocs + coalesce(tiny_allocs, 0)) AS n FROM size_class_stats WHERE size_class > 0 GROUP BY run_id
), t AS (
	SELECT r.run_id, 1 AS tier_order, 'mcache' AS tier, sl.n AS lookups, coalesce(rf.n, 0) AS misses,
	       r.hit_rate_mcache AS summary_hit_rate
	FROM runs r LEFT JOIN slots sl ON sl.run_id = r.run_id LEFT JOIN refills rf ON rf.run_id = r.run_id
	UNION ALL
	SELECT r.run_id, 2, 'mcentral', coalesce(rf.n, 0), coalesce(rf.grow, 0), r.hit_rate_mcentral
	FROM runs r LEFT JOIN refills rf ON rf.run_id = r.run_id
	UNION ALL
	SELECT r.run_id, 3, 'pagecache', coalesce(p.n, 0), coalesce(p.n - p.cached, 0), r.hit_rate_pagecache
	FROM runs r LEFT JOIN pages p ON p.run_id = r.run_id
	UNION ALL
	SELECT r.run_id, 4, 'heap', coalesce(p.n - p.cached, 0), coalesce(p.grow, 0), r.hit_rate_heap
	FROM runs r LEFT JOIN pages p ON p.run_id = r.run_id
)
SELECT t.run_id, tier_order, tier,
       CASE WHEN e.logged THEN lookups END AS lookups,
       CASE WHEN e.logged THEN lookups - misses END AS hits,
       CASE WHEN e.logged THEN misses END AS misses,
       CASE WHEN e.logged THEN CAST(lookups - misses AS REAL) / nullif(lookups, 0)
            ELSE summary_hit_rate END AS hit_rate,
       summary_hit_rate
FROM t JOIN (SELECT run_id, allocator = 'go' AND coalesce(json_extract(config_json, '$.log_events'), 1) <> 0 AS logged
             FROM runs) e ON e.run_id = t.run_id;

-- v_size_classes: one row per run and size class (class 0: large objects,
-- slot_size 0), from size_class_stats and the refill events:
--   refill_events     cache_refills rows of the class (equals refills);
--   slot_hit_rate     1 - refills / mallocs: slot allocations of the class
--                     served without a refill (class 0: NULL);
--   internal_frag_bytes_at_peak  slot minus requested bytes of the class's
--                     live objects at the peak of live bytes (the class's
--                     share of the internal waste a paper reports);
--   peak_spans        in-use spans of the class, maximum over the run
--                     (exact: kept by the core at every span allocation).
CREATE VIEW v_size_classes AS
WITH ev AS (
	SELECT run_id, spc >> 1 AS size_class, count(*) AS n FROM cache_refills GROUP BY 1, 2
)
SELECT c.run_id, c.size_class, c.slot_size, c.mallocs, c.frees, c.refills,
       coalesce(ev.n, 0) AS refill_events,
       CASE WHEN c.size_class > 0 THEN 1.0 - CAST(c.refills AS REAL) / nullif(c.mallocs, 0) END AS slot_hit_rate,
       c.peak_spans, c.internal_frag_bytes_at_peak, c.requested_bytes
FROM size_class_stats c
LEFT JOIN ev ON ev.run_id = c.run_id AND ev.size_class = c.size_class;

-- v_arena_states: arena bytes in each OS memory state over time, one row
-- per arena transition (the state after it) plus one at the end of the run
-- (op = runs.ops, kind 'end'): the running sums of the transitions' bytes
-- into and out of each state. reserved + prepared + ready = arenas x arena
-- size; prepared + ready = heap sys.
CREATE VIEW v_arena_states AS
WITH t AS (
	SELECT a.run_id, a.seq, a.op, a.clock_bytes,
	       sum((CASE WHEN ts.name = 'reserved' THEN a.bytes ELSE 0 END)
	           - (CASE WHEN fs.name = 'reserved' THEN a.bytes ELSE 0 END)) OVER w AS reserved_bytes,
	       sum((CASE WHEN ts.name = 'prepared' THEN a.bytes ELSE 0 END)
	           - (CASE WHEN fs.name = 'prepared' THEN a.bytes ELSE 0 END)) OVER w AS prepared_bytes,
	       sum((CASE WHEN ts.name = 'ready' THEN a.bytes ELSE 0 END)
	           - (CASE WHEN fs.name = 'ready' THEN a.bytes ELSE 0 END)) OVER w AS ready_bytes
	FROM arena_transitions a
	JOIN mem_states fs ON fs.id = a.from_state
	JOIN mem_states ts ON ts.id = a.to_state
	WINDOW w AS (PARTITION BY a.run_id ORDER BY a.seq ROWS UNBOUNDED PRECEDING)
), last AS (
	SELECT run_id, max(seq) AS seq FROM t GROUP BY run_id
)
SELECT run_id, seq, op, clock_bytes, 'transition' AS kind, reserved_bytes, prepared_bytes, ready_bytes
FROM t
UNION ALL
SELECT t.run_id, t.seq, r.ops, s.clock_bytes, 'end', t.reserved_bytes, t.prepared_bytes, t.ready_bytes
FROM t
JOIN last USING (run_id, seq)
JOIN runs r ON r.run_id = t.run_id
JOIN snapshots s ON s.run_id = t.run_id AND s.kind = (SELECT id FROM snapshot_kinds WHERE name = 'final')
WHERE r.ops IS NOT NULL;

-- v_refill_sources: where mcache refills found their span, one row per run
-- and source (every source, zero counts included): partial_swept,
-- partial_unswept, full_unswept (an existing span of the mcentral) or grow
-- (a new span from the page heap); fraction of the run's refills. NULL
-- (unknown, not 0) for a baseline's run and a run logged without events.
CREATE VIEW v_refill_sources AS
WITH n AS (
	SELECT run_id, source, count(*) AS refills FROM cache_refills GROUP BY run_id, source
), e AS (
	SELECT run_id, allocator = 'go' AND coalesce(json_extract(config_json, '$.log_events'), 1) <> 0 AS logged
	FROM runs
)
SELECT e.run_id, s.id AS source_order, s.name AS source,
       CASE WHEN e.logged THEN coalesce(n.refills, 0) END AS refills,
       CASE WHEN e.logged THEN CAST(coalesce(n.refills, 0) AS REAL) /
                               nullif(sum(coalesce(n.refills, 0)) OVER (PARTITION BY e.run_id), 0) END AS fraction
FROM e
CROSS JOIN refill_sources s
LEFT JOIN n ON n.run_id = e.run_id AND n.source = s.id;

-- v_gc_cycles: one row per GC cycle with its reason by name: when it
-- started (op, clock_bytes), Go's heapLive that crossed the trigger, the
-- goal it was paced for, when it ended, the bytes it marked live and the
-- goal and trigger it set for the next cycle.
CREATE VIEW v_gc_cycles AS
SELECT g.run_id, g.cycle, r.name AS reason, g.op, g.clock_bytes, g.heap_live, g.trigger, g.heap_goal,
       g.end_op, g.end_clock_bytes, g.end_heap_marked AS heap_marked,
       g.end_heap_goal AS next_heap_goal, g.end_trigger AS next_trigger,
       g.end_spans_swept AS spans_swept, g.end_objects_freed AS objects_freed, g.end_bytes_freed AS bytes_freed
FROM gc_cycles g
LEFT JOIN gc_reasons r ON r.id = g.reason;

-- v_summary: one row per run, the figures of the report's table: the run,
-- its size, peak memory, J&W #3/#4 for heap in-use and Ready bytes, and
-- the hit rates of v_hit_rates.
CREATE VIEW v_summary AS
SELECT v.run_id, v.label, v.trace, v.config, v.status, r.ops, r.mallocs, r.frees,
       r.peak_live_bytes, r.peak_heap_inuse_bytes, r.peak_ready_bytes, r.peak_heap_sys_bytes,
       r.internal_frag_bytes_at_peak,
       r.frag_inuse_jw3, r.frag_inuse_jw4, r.frag_ready_jw3, r.frag_ready_jw4,
       h.hit_rate_mcache, h.hit_rate_mcentral, h.hit_rate_pagecache, h.hit_rate_heap,
       r.refills, r.gc_cycles, r.wall_seconds
FROM v_runs v
JOIN runs r ON r.run_id = v.run_id
LEFT JOIN (
	SELECT run_id,
	       max(CASE tier WHEN 'mcache' THEN hit_rate END) AS hit_rate_mcache,
	       max(CASE tier WHEN 'mcentral' THEN hit_rate END) AS hit_rate_mcentral,
	       max(CASE tier WHEN 'pagecache' THEN hit_rate END) AS hit_rate_pagecache,
	       max(CASE tier WHEN 'heap' THEN hit_rate END) AS hit_rate_heap
	FROM v_hit_rates GROUP BY run_id
) h ON h.run_id = v.run_id;
