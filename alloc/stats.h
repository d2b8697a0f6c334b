/*
 * Public stats layout: one X-macro list (SL_STAT_FIELDS) expands into
 * struct sl_stats, the names, and whatever a consumer generates from it
 * (JSON keys, SQLite columns). docs/metrics.md defines every field.
 *
 * Values are flush-equivalent (Go's ReadMemStats after flushallmcaches)
 * but computed without moving spans: allocations still pending in cached
 * spans (allocCount - allocCountBeforeCache) and the per-P counters are
 * added in. Each field is marked C (consistent: exact at any point between
 * two heap calls) or A (approximate by Go's definition, e.g. heap_live
 * counts whole cached spans).
 *
 * The accounting identity (checked by sl_heap_check and the tests):
 *   live_bytes + internal_frag_bytes + dead_bytes
 *     + free_slot_bytes_cached + free_slot_bytes_central + tail_waste_bytes
 *     = heap_inuse
 *   heap_inuse + heap_free = ready_bytes
 *   heap_released = prepared_bytes
 *   ready_bytes + prepared_bytes = heap_sys
 */
#ifndef SPANLAB_STATS_H
#define SPANLAB_STATS_H

#include <stdint.h>

#define SL_STAT_VERSION 2

/*  name                       kind  meaning (docs/metrics.md has the long form) */
#define SL_STAT_FIELDS(X) \
	X(live_bytes,              C, "requested bytes of objects allocated and not freed") \
	X(live_objects,            C, "objects allocated and not freed (tiny sub-objects count one each)") \
	X(internal_frag_bytes,     C, "slot bytes of live objects minus their requested bytes") \
	X(dead_bytes,              C, "bytes of allocated slots with no live object (freed, not yet swept)") \
	X(free_slot_bytes_cached,  C, "free slots in spans cached by Ps") \
	X(free_slot_bytes_central, C, "free slots in spans held by mcentral") \
	X(tail_waste_bytes,        C, "span bytes past the last slot") \
	X(heap_alloc,              C, "Go HeapAlloc: bytes in allocated slots, incl. dead unswept") \
	X(total_alloc,             C, "Go TotalAlloc") \
	X(mallocs,                 C, "Go Mallocs") \
	X(frees,                   C, "Go Frees") \
	X(heap_objects,            C, "Go HeapObjects") \
	X(heap_inuse,              C, "Go HeapInuse: pages in in-use spans") \
	X(heap_free,               C, "free pages that are Ready (heapFree), incl. P page caches") \
	X(heap_idle,               C, "Go HeapIdle = heap_free + heap_released") \
	X(heap_released,           C, "Go HeapReleased: free pages that are Prepared") \
	X(heap_sys,                C, "Go HeapSys = heap_inuse + heap_idle") \
	X(reserved_bytes,          C, "address space in state Reserved") \
	X(prepared_bytes,          C, "address space in state Prepared") \
	X(ready_bytes,             C, "address space in state Ready (what the OS backs)") \
	X(metadata_bytes,          C, "off-heap metadata mapped from the OS") \
	X(spans_inuse,             C, "spans in state in-use") \
	X(large_alloc,             C, "bytes of large spans allocated, ever") \
	X(large_alloc_count,       C, "large objects allocated, ever") \
	X(large_free,              C, "bytes of large spans reclaimed, ever") \
	X(large_free_count,        C, "large objects reclaimed, ever") \
	X(tiny_allocs,             C, "tiny sub-objects packed into an existing block (Go tinyAllocs)") \
	X(small_allocs,            C, "small non-tiny-packed allocations (slot allocations)") \
	X(refills,                 C, "mcache refills") \
	X(refills_by_grow,         C, "refills served by a new span from the page heap") \
	X(page_allocs,             C, "span allocations in the page heap") \
	X(page_allocs_cache,       C, "of those, served by a P's page cache") \
	X(page_allocs_grow,        C, "of those, that needed mheap.grow") \
	X(span_moves,              C, "span_move events (emitted or not)") \
	X(arena_transitions,       C, "OS state transitions (sys_* calls)") \
	X(scavenged_bytes,         C, "bytes released Ready->Prepared by the scavenger, ever") \
	X(heap_live,               A, "Go heapLive (pacer input; counts whole cached spans)") \
	X(heap_marked,             C, "Go heapMarked at the last cycle") \
	X(heap_goal,               C, "Go NextGC (heap goal); 0 when GOGC is off or under the immediate policy") \
	X(gc_trigger,              C, "heapLive value that starts the next cycle; 0 as heap_goal is") \
	X(gc_cycles,               C, "completed GC cycles") \
	X(objects_swept_free,      C, "objects reclaimed by sweeping, ever") \
	X(immediate_frees,         C, "objects reclaimed at once by the immediate policy") \
	X(bad_frees,               C, "sl_free calls rejected as misuse")

/* Per size class (index = size class; 0 = large objects). The tiny
 * allocator's blocks live in class 2 (16 B); its sub-objects are counted in
 * live_objects/live_bytes of that class. */
#define SL_CLASS_STAT_FIELDS(X) \
	X(size,          "slot size (class 0: 0)") \
	X(mallocs,       "slot allocations (Go smallAllocCount; large: count)") \
	X(frees,         "slots reclaimed (Go smallFreeCount)") \
	X(refills,       "mcache refills of this class (both span classes)") \
	X(spans_inuse,   "in-use spans of this class") \
	X(peak_spans,    "max of spans_inuse since the heap was made (exact: kept at span allocation)") \
	X(live_objects,  "objects allocated and not freed") \
	X(live_bytes,    "their requested bytes") \
	X(internal_frag, "their slot bytes minus live_bytes")

struct sl_class_stats {
#define X(name, doc) uint64_t name;
	SL_CLASS_STAT_FIELDS(X)
#undef X
};

struct sl_stats {
	uint32_t version;		/* SL_STAT_VERSION */
	uint32_t nclasses;		/* entries used in by_class; the rest are zero */
#define X(name, kind, doc) uint64_t name;
	SL_STAT_FIELDS(X)
#undef X
	struct sl_class_stats by_class[256];
};

/* Names and docs, in SL_STAT_FIELDS order. */
extern const char *const sl_stat_names[];
extern const char *const sl_stat_docs[];
extern const unsigned sl_stat_count;

#endif
