/*
 * The figures of one replay, written once (SL_SUMMARY_FIELDS) and expanded
 * into struct sim_summary, the summary columns of the `runs` table (the
 * "-- @columns summary" line of analysis/schema.sql), the UPDATE that
 * completes a run (sim/db.c) and the `replay --json` object
 * (summary_to_json). Adding a figure is one line here; docs/database.md
 * gives the long form of each.
 *
 * The per-size-class figures of the `size_class_stats` table are listed the
 * same way (SL_SIZE_CLASS_FIELDS), one row per class at the end of a run.
 *
 * Types: INT is int64_t (SQLite INTEGER, a JSON integer); REAL is double
 * (SQLite REAL, a JSON number). A REAL that is NaN or infinite (a ratio
 * with nothing to divide by) is NULL in SQLite and null in JSON, and so is
 * an INT holding SIM_NULL (sim/snapshot.h): a figure only the Go model has,
 * in a baseline's run (`replay --allocator glibc` ...: refills, span moves,
 * arena transitions, GC cycles; the hit rates are NaN there), or a figure
 * the run never measured: internal_frag_bytes_at_peak (the summary's and
 * each class's) when no peak snapshot was taken, because the trace came
 * from a pipe (no first pass finds its peak) or the run was interrupted
 * before the peak. Unknown is NULL, never 0.
 *
 * Fragmentation (Johnstone & Wilson, "The memory fragmentation problem:
 * solved?", ISMM 1998), for allocator memory M (heap in-use, or Ready
 * bytes) against live bytes L, all as fractions (0.25 = 25% over live):
 *   #1  mean(M) / mean(L) - 1 over the periodic snapshots, weighted by
 *       the operations each stands for (a pipe's interval doubles);
 *   #2  M / L - 1 after the operation that first reaches peak L;
 *   #3  M / L - 1 after the first operation at which M reaches its maximum;
 *   #4  max(M) / max(L) - 1.
 */
#ifndef SPANLAB_SUMMARY_H
#define SPANLAB_SUMMARY_H

#include <stdint.h>

struct cJSON;

#define SL_SUMMARY_VERSION 3

/*  column                        type  JSON key (dotted: nested)          meaning */
#define SL_SUMMARY_FIELDS(X) \
	X(ops,                        INT,  "ops",                             "trace operations replayed (a realloc is one)") \
	X(mallocs,                    INT,  "mallocs",                         "allocations: malloc, calloc, aligned, realloc's new object") \
	X(frees,                      INT,  "frees",                           "frees of known objects, realloc's old object included") \
	X(unknown_frees,              INT,  "unknown_frees",                   "frees of pointers the trace never allocated (ignored)") \
	X(peak_live_bytes,            INT,  "peak_live_bytes",                 "max of live requested bytes between operations") \
	X(peak_live_op,               INT,  "peak_live_op",                    "first operation index after which live bytes peak") \
	X(final_live_bytes,           INT,  "final_live_bytes",                "live requested bytes at the end") \
	X(final_live_objects,         INT,  "final_live_objects",              "live objects at the end") \
	X(peak_heap_inuse_bytes,      INT,  "peak_heap_inuse_bytes",           "max of heap in-use (pages of spans holding objects)") \
	X(peak_heap_sys_bytes,        INT,  "peak_heap_sys_bytes",             "max of arena bytes in state Prepared or Ready") \
	X(peak_ready_bytes,           INT,  "peak_ready_bytes",                "max of arena bytes in state Ready") \
	X(internal_frag_bytes_at_peak, INT, "internal_frag_bytes_at_peak",     "slot minus requested bytes of live objects, at peak live") \
	X(refills,                    INT,  "refills",                         "mcache refills") \
	X(span_moves,                 INT,  "span_moves",                      "span_move events") \
	X(arena_transitions,          INT,  "arena_transitions",               "arena state transitions") \
	X(gc_cycles,                  INT,  "gc_cycles",                       "completed GC cycles") \
	X(hit_rate_mcache,            REAL, "hit_rates.mcache",                "small allocations without a refill / small allocations") \
	X(hit_rate_mcentral,          REAL, "hit_rates.mcentral",              "refills served by an existing span / refills") \
	X(hit_rate_pagecache,         REAL, "hit_rates.pagecache",             "page allocations served by the P's page cache / page allocations") \
	X(hit_rate_heap,              REAL, "hit_rates.heap",                  "page allocations not served by the page cache that did not grow the heap / those") \
	X(frag_inuse_jw1,             REAL, "fragmentation.heap_inuse.jw1",    "J&W #1 with M = heap in-use: averaged over operations") \
	X(frag_inuse_jw2,             REAL, "fragmentation.heap_inuse.jw2",    "J&W #2 with M = heap in-use: at peak live") \
	X(frag_inuse_jw3,             REAL, "fragmentation.heap_inuse.jw3",    "J&W #3 with M = heap in-use: at peak M") \
	X(frag_inuse_jw4,             REAL, "fragmentation.heap_inuse.jw4",    "J&W #4 with M = heap in-use: max M over max live") \
	X(frag_ready_jw1,             REAL, "fragmentation.ready.jw1",         "J&W #1 with M = Ready bytes: averaged over operations") \
	X(frag_ready_jw2,             REAL, "fragmentation.ready.jw2",         "J&W #2 with M = Ready bytes: at peak live") \
	X(frag_ready_jw3,             REAL, "fragmentation.ready.jw3",         "J&W #3 with M = Ready bytes: at peak M") \
	X(frag_ready_jw4,             REAL, "fragmentation.ready.jw4",         "J&W #4 with M = Ready bytes: max M over max live") \
	X(wall_seconds,               REAL, "wall_seconds",                    "wall time of the replay loop, statistics reads excluded") \
	X(ops_per_second,             REAL, "ops_per_second",                  "ops / wall_seconds") \
	X(cpu_seconds,                REAL, "cpu_seconds",                     "CPU time of the replaying thread over the loop, statistics reads excluded") \
	X(trace_complete,             INT,  "trace_complete",                  "1: the trace was read to its end; 0: a .slt cut short; NULL: not read to the end")

/* One row per size class (class 0: large objects), written at the end of
 * a run. All INT; internal_frag_bytes_at_peak is SIM_NULL (NULL) without
 * a peak snapshot, as in the summary. requested_bytes counts each request
 * in the class the object got, which is not always the class of its size:
 * an aligned request can get a larger class (or a large span), and a
 * realloc that stays in place keeps the class the object had. */
#define SL_SIZE_CLASS_FIELDS(X) \
	X(size_class,                 "size class (0: large objects)") \
	X(slot_size,                  "bytes per slot (class 0: 0)") \
	X(mallocs,                    "slot allocations in this class") \
	X(tiny_allocs,                "tiny sub-objects packed into a P's current block (tiny class only)") \
	X(frees,                      "slots freed in this class") \
	X(refills,                    "mcache refills of this class") \
	X(peak_spans,                 "max of in-use spans of this class over the run (exact: the core's)") \
	X(internal_frag_bytes_at_peak, "slot minus requested bytes of its live objects, at peak live") \
	X(requested_bytes,            "requested bytes of the allocations and reallocs served in this class")

#define SIM_CTYPE_INT  int64_t
#define SIM_CTYPE_REAL double

struct sim_summary {
#define X(name, type, json, doc) SIM_CTYPE_##type name;
	SL_SUMMARY_FIELDS(X)
#undef X
};

struct sim_size_class_row {
#define X(name, doc) int64_t name;
	SL_SIZE_CLASS_FIELDS(X)
#undef X
};

/* The summary as the `replay --json` object (keys as listed above, dotted
 * keys nested). Caller deletes. NULL on out of memory. */
struct cJSON *summary_to_json(const struct sim_summary *s);

#endif
