-- The spanlab database: one file holds many runs of the replay engine, each
-- with every slow-path event of the allocator core, periodic snapshots and
-- per-size-class figures. docs/database.md describes every table and column.
--
-- spanlab creates databases from this file (it is compiled into the
-- binary). Lines of the form
--     -- @columns NAME
-- are replaced, on creation, by the columns of a C field list, each with a
-- leading comma:
--     refill, span_move, ...  the payload fields of that event kind
--                             (SL_EV_*_FIELDS in alloc/event.h);
--     gc                      gc_start's fields, then end_seq, end_op,
--                             end_clock_bytes and gc_end's fields, each
--                             prefixed with end_;
--     snapshot                SL_SNAPSHOT_FIELDS (sim/snapshot.h);
--     size_class              SL_SIZE_CLASS_FIELDS (sim/summary.h);
--     summary                 SL_SUMMARY_FIELDS (sim/summary.h).
-- Adding a field to one of those lists is therefore a one-line change; the
-- C code checks at every open that the database has each column it writes.
-- `sqlite3 FILE .schema` shows the expanded result. Running this file by
-- hand gives tables without the generated columns: do not.
--
-- Invariants:
--   * a run's status is 'running' from its first committed transaction;
--     only its last transaction sets 'complete', 'failed' or 'interrupted';
--   * every row of every other table carries the run_id of a runs row;
--   * event tables have no index while a file's first run loads (measured:
--     an index on (run_id, seq) costs ~45% of the insert rate); the
--     statements after the @after-load line run once a run has finished.

-- Written by db.c at creation: schema_version, created_at, created_by.
-- PRAGMA application_id and PRAGMA user_version carry the same identity.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE runs (
	run_id          INTEGER PRIMARY KEY,
	run_uuid        TEXT NOT NULL UNIQUE,          -- stable across merges
	sweep_id        TEXT,                          -- NULL outside a sweep
	status          TEXT NOT NULL
	                CHECK (status IN ('running', 'complete', 'failed', 'interrupted')),
	error           TEXT,                          -- one line, for failed/interrupted
	started_at      TEXT NOT NULL,                 -- ISO 8601 UTC
	finished_at     TEXT CHECK (finished_at IS NOT NULL OR status = 'running'),
	trace_path      TEXT,
	trace_name      TEXT,
	trace_format    TEXT,
	trace_sha256    TEXT,                          -- of the file's bytes as stored (NULL: a pipe)
	config_json     TEXT NOT NULL,                 -- the effective config
	allocator       TEXT NOT NULL,                 -- go | glibc | jemalloc | ...
	free_policy     TEXT,                          -- gc | immediate
	procs           INTEGER,
	tiny_assumption TEXT,
	argv            TEXT,                          -- JSON array of strings
	host            TEXT,
	kernel          TEXT,
	pid             INTEGER,
	tool_version    TEXT NOT NULL,
	build           TEXT,
	sqlite_version  TEXT NOT NULL,
	cjson_version   TEXT,
	schema_version  INTEGER NOT NULL,
	event_rows      INTEGER,                       -- rows in the event tables, at finish
	snapshot_rows   INTEGER
	-- @columns summary
);

-- Lookup tables for the enums of alloc/event.h and sim/snapshot.h, filled
-- by db.c from the same names the core exposes.
CREATE TABLE refill_sources (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE span_sets      (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE page_sources   (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE mem_states     (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE scav_reasons   (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE gc_reasons     (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE snapshot_kinds (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);

-- Event tables: one row per event, in the order of seq within a run.
-- run_id, seq (the heap's emission order), op (the trace operation that
-- caused it) and clock_bytes (requested bytes allocated up to and including
-- that operation: Wilson's clock) lead every row.
CREATE TABLE cache_refills (
	run_id      INTEGER NOT NULL REFERENCES runs (run_id),
	seq         INTEGER NOT NULL,
	op          INTEGER NOT NULL,
	clock_bytes INTEGER NOT NULL
	-- @columns refill
);

CREATE TABLE span_moves (
	run_id      INTEGER NOT NULL REFERENCES runs (run_id),
	seq         INTEGER NOT NULL,
	op          INTEGER NOT NULL,
	clock_bytes INTEGER NOT NULL
	-- @columns span_move
);

CREATE TABLE span_allocs (
	run_id      INTEGER NOT NULL REFERENCES runs (run_id),
	seq         INTEGER NOT NULL,
	op          INTEGER NOT NULL,
	clock_bytes INTEGER NOT NULL
	-- @columns span_alloc
);

CREATE TABLE span_frees (
	run_id      INTEGER NOT NULL REFERENCES runs (run_id),
	seq         INTEGER NOT NULL,
	op          INTEGER NOT NULL,
	clock_bytes INTEGER NOT NULL
	-- @columns span_free
);

CREATE TABLE arena_transitions (
	run_id      INTEGER NOT NULL REFERENCES runs (run_id),
	seq         INTEGER NOT NULL,
	op          INTEGER NOT NULL,
	clock_bytes INTEGER NOT NULL
	-- @columns arena
);

CREATE TABLE scavenges (
	run_id      INTEGER NOT NULL REFERENCES runs (run_id),
	seq         INTEGER NOT NULL,
	op          INTEGER NOT NULL,
	clock_bytes INTEGER NOT NULL
	-- @columns scavenge
);

-- One row per GC cycle: its gc_start event (seq, op, clock_bytes and
-- fields) and its gc_end event (end_*). A half is NULL when that event was
-- not logged (a run that stopped mid-cycle).
CREATE TABLE gc_cycles (
	run_id      INTEGER NOT NULL REFERENCES runs (run_id),
	seq         INTEGER,
	op          INTEGER,
	clock_bytes INTEGER
	-- @columns gc
);

CREATE TABLE snapshots (
	run_id      INTEGER NOT NULL REFERENCES runs (run_id)
	-- @columns snapshot
);

-- Written once per run, at its end.
CREATE TABLE size_class_stats (
	run_id      INTEGER NOT NULL REFERENCES runs (run_id)
	-- @columns size_class
);

-- @after-load
-- Run after a complete run and after a merge, once the file holds two or
-- more runs (a single run needs no index to be found). In a file that has
-- them, later runs maintain these indexes while they load.
CREATE INDEX IF NOT EXISTS cache_refills_run     ON cache_refills (run_id, seq);
CREATE INDEX IF NOT EXISTS span_moves_run        ON span_moves (run_id, seq);
CREATE INDEX IF NOT EXISTS span_allocs_run       ON span_allocs (run_id, seq);
CREATE INDEX IF NOT EXISTS span_frees_run        ON span_frees (run_id, seq);
CREATE INDEX IF NOT EXISTS arena_transitions_run ON arena_transitions (run_id, seq);
CREATE INDEX IF NOT EXISTS scavenges_run         ON scavenges (run_id, seq);
CREATE INDEX IF NOT EXISTS gc_cycles_run         ON gc_cycles (run_id, seq);
CREATE INDEX IF NOT EXISTS snapshots_run         ON snapshots (run_id, op);
CREATE INDEX IF NOT EXISTS size_class_stats_run  ON size_class_stats (run_id, size_class);
