/*
 * A snapshot: the allocator's memory at one point of a replay, the rows of
 * the `snapshots` table that memory-over-time and fragmentation-over-time
 * figures read. Written once (SL_SNAPSHOT_FIELDS) and expanded into struct
 * sim_snapshot and the table's columns (the "-- @columns snapshot" line of
 * analysis/schema.sql); the sink inserts the fields in this order.
 *
 * The replay takes one every --snapshot-every operations, one at the peak
 * of live bytes (kind peak_live, emitted when the run ends, so rows are not
 * in op order: ORDER BY op) and one at the end (kind final). Counters are
 * cumulative from the start of the run; byte figures are those of the
 * moment. Fields of type NINT are NULL in SQLite when they hold SIM_NULL
 * (trace_time_ns for traces without timestamps).
 *
 * Every field is an int64_t, and the struct has no padding (checked in
 * sink_sqlite.c), so the sink reads it as an array.
 */
#ifndef SPANLAB_SNAPSHOT_H
#define SPANLAB_SNAPSHOT_H

#include <stdint.h>

#define SIM_NULL INT64_MIN

enum sim_snapshot_kind {
	SIM_SNAPSHOT_PERIODIC = 0,	/* every --snapshot-every operations */
	SIM_SNAPSHOT_PEAK_LIVE = 1,	/* at the peak of live bytes */
	SIM_SNAPSHOT_FINAL = 2,		/* after the last operation */
	SIM_SNAPSHOT_NKINDS
};

/*  column                type  meaning */
#define SL_SNAPSHOT_FIELDS(X) \
	X(op,                  INT,  "operations replayed before the snapshot") \
	X(clock_bytes,         INT,  "requested bytes allocated so far (Wilson's clock)") \
	X(trace_time_ns,       NINT, "trace timestamp of the last operation, ns (NULL: none)") \
	X(kind,                INT,  "enum sim_snapshot_kind (snapshot_kinds table)") \
	X(live_bytes,          INT,  "requested bytes of live objects") \
	X(live_objects,        INT,  "live objects") \
	X(live_rounded_bytes,  INT,  "slot bytes of live objects (sizes rounded to their class)") \
	X(internal_frag_bytes, INT,  "live_rounded_bytes - live_bytes") \
	X(dead_bytes,          INT,  "slot bytes of freed objects not yet swept (gc policy)") \
	X(heap_inuse_bytes,    INT,  "pages of spans holding objects (Go HeapInuse)") \
	X(heap_sys_bytes,      INT,  "arena bytes Prepared or Ready (Go HeapSys)") \
	X(ready_bytes,         INT,  "arena bytes Ready (backed by the OS)") \
	X(released_bytes,      INT,  "free arena bytes Prepared (Go HeapReleased)") \
	X(reserved_bytes,      INT,  "arena address space Reserved, not yet Prepared") \
	X(spans_inuse,         INT,  "in-use spans") \
	X(heap_goal_bytes,     INT,  "GC heap goal (0: GC off or immediate policy)") \
	X(heap_live_bytes,     INT,  "Go heapLive, the pacer's input (cached spans count whole)") \
	X(gc_cycles,           INT,  "GC cycles completed") \
	X(mallocs,             INT,  "allocations so far") \
	X(frees,               INT,  "frees of known objects so far") \
	X(refills,             INT,  "mcache refills so far") \
	X(span_moves,          INT,  "span moves so far")

struct sim_snapshot {
#define X(name, type, doc) int64_t name;
	SL_SNAPSHOT_FIELDS(X)
#undef X
};

#endif
