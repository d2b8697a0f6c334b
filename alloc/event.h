/*
 * The event-sink contract between the allocator core and its observers.
 *
 * The core reports what happens on its slow paths through one callback,
 * struct sl_sink, attached to a heap with sl_sink_attach(). With no sink
 * attached (emit == NULL) the core pays one predictable branch per
 * slow-path event and nothing else. Nothing is emitted on the mcache-hit
 * fast path: that path only bumps per-P counters (see stats.h).
 *
 * Every event carries a header:
 *   op          the operation index the caller last published with
 *               sl_heap_clock(h)->op (the trace event being replayed); every
 *               event caused by that operation carries it;
 *   clock_bytes the caller's Wilson clock (requested bytes allocated so
 *               far, sl_heap_clock(h)->bytes) at that operation;
 *   seq         a per-heap sequence number, 0, 1, 2, ... in emission order.
 * and one payload, listed below with its fields. All fields are int64 so
 * that one X-macro list (SL_EVENT_LIST) expands into the C structs, the
 * names, the SQLite column lists and the JSON keys.
 *
 * The events (Go names in parentheses):
 *   refill       mcache_refill got a span for (p, spc) from `source`
 *                (enum sl_refill_source); free_slots = nelems - allocCount
 *                of the span the P now holds.
 *   span_move    a span changed place: from/to are enum sl_span_set, move
 *                is the number of Go's move catalogue M1..M12
 *                (docs/database.md, span_moves); alloc_count/nelems after it.
 *   span_alloc   mheap_alloc_span handed out npages at base for spc; source
 *                is enum sl_page_source; scav_bytes were Prepared and made
 *                Ready for it.
 *   span_free    mheap_free_span returned npages at base to the page heap.
 *   arena        an address range changed memory state (enum sl_mem_state),
 *                emitted by the sysmem.c wrapper that made the system call.
 *   scavenge     the scavenger released `bytes` (reason: enum
 *                sl_scav_reason); the Ready->Prepared arena events for the
 *                same bytes precede it.
 *   gc_start     a simulated GC cycle begins (reason: enum sl_gc_reason).
 *   gc_end       the cycle's mark and (eager) sweep are done.
 *
 * Ordering: events are emitted synchronously, in the order the core
 * performs the actions; within one operation, a refill that grows the heap
 * emits arena, then span_alloc, then span_move (M1), then refill. Sinks
 * must not call back into the heap.
 */
#ifndef SPANLAB_EVENT_H
#define SPANLAB_EVENT_H

#include <stdint.h>

/* Where a refilled span came from (mcentral.cacheSpan). */
enum sl_refill_source {
	SL_REFILL_PARTIAL_SWEPT = 0,
	SL_REFILL_PARTIAL_UNSWEPT = 1,
	SL_REFILL_FULL_UNSWEPT = 2,
	SL_REFILL_GROW = 3,		/* a new span from the page heap */
	SL_REFILL_NSOURCES
};

/* Places a span can be. */
enum sl_span_set {
	SL_SET_NONE = 0,		/* not yet a span / no longer one */
	SL_SET_HEAP = 1,		/* free pages in the page heap */
	SL_SET_MCACHE = 2,		/* cached by a P */
	SL_SET_PARTIAL_SWEPT = 3,
	SL_SET_PARTIAL_UNSWEPT = 4,
	SL_SET_FULL_SWEPT = 5,
	SL_SET_FULL_UNSWEPT = 6,
	SL_SET_NSETS
};

/* How the page heap served a span allocation. */
enum sl_page_source {
	SL_PAGE_PAGECACHE = 0,		/* the P's 64-page cache */
	SL_PAGE_HEAP = 1,		/* pageAlloc.alloc, no growth */
	SL_PAGE_GROW = 2,		/* needed mheap.grow first */
	SL_PAGE_NSOURCES
};

/* OS memory states (Go mem.go). */
enum sl_mem_state {
	SL_MEM_NONE = 0,
	SL_MEM_RESERVED = 1,
	SL_MEM_PREPARED = 2,
	SL_MEM_READY = 3,
	SL_MEM_NSTATES
};

enum sl_scav_reason {
	SL_SCAV_GC = 0,			/* after a GC cycle, to the retain goal */
	SL_SCAV_GROWTH = 1,		/* synchronous, on heap growth (allocSpan) */
	SL_SCAV_FORCED = 2,		/* sl_heap_scavenge_all (FreeOSMemory) */
};

enum sl_gc_reason {
	SL_GC_PACER = 0,		/* heapLive reached the trigger */
	SL_GC_MARKER = 1,		/* a GC marker in the trace */
	SL_GC_FORCED = 2,		/* sl_heap_gc() */
};

/*  kind     name         fields */
#define SL_EVENT_LIST(X) \
	X(REFILL,     refill,     SL_EV_REFILL_FIELDS) \
	X(SPAN_MOVE,  span_move,  SL_EV_SPAN_MOVE_FIELDS) \
	X(SPAN_ALLOC, span_alloc, SL_EV_SPAN_ALLOC_FIELDS) \
	X(SPAN_FREE,  span_free,  SL_EV_SPAN_FREE_FIELDS) \
	X(ARENA,      arena,      SL_EV_ARENA_FIELDS) \
	X(SCAVENGE,   scavenge,   SL_EV_SCAVENGE_FIELDS) \
	X(GC_START,   gc_start,   SL_EV_GC_START_FIELDS) \
	X(GC_END,     gc_end,     SL_EV_GC_END_FIELDS)

#define SL_EV_REFILL_FIELDS(F) \
	F(p) F(spc) F(source) F(free_slots) F(span_base) F(npages)
#define SL_EV_SPAN_MOVE_FIELDS(F) \
	F(span_base) F(spc) F(npages) F(from_set) F(to_set) F(move) F(alloc_count) F(nelems)
#define SL_EV_SPAN_ALLOC_FIELDS(F) \
	F(p) F(base) F(npages) F(spc) F(source) F(scav_bytes)
#define SL_EV_SPAN_FREE_FIELDS(F) \
	F(base) F(npages) F(spc)
#define SL_EV_ARENA_FIELDS(F) \
	F(arena) F(base) F(bytes) F(npages) F(from_state) F(to_state)
#define SL_EV_SCAVENGE_FIELDS(F) \
	F(bytes) F(reason) F(released_total)
#define SL_EV_GC_START_FIELDS(F) \
	F(cycle) F(reason) F(heap_live) F(trigger) F(heap_goal)
#define SL_EV_GC_END_FIELDS(F) \
	F(cycle) F(heap_marked) F(heap_goal) F(trigger) F(spans_swept) F(objects_freed) F(bytes_freed)

#define SL_EV_FIELD_DECL(name) int64_t name;

enum sl_event_kind {
#define X(kind, name, fields) SL_EV_##kind,
	SL_EVENT_LIST(X)
#undef X
	SL_EV_NKINDS
};

#define X(kind, name, fields) struct sl_ev_##name { fields(SL_EV_FIELD_DECL) };
SL_EVENT_LIST(X)
#undef X

struct sl_event {
	enum sl_event_kind kind;
	uint64_t op;			/* operation index (caller's clock) */
	uint64_t clock_bytes;		/* requested bytes allocated so far */
	uint64_t seq;			/* per-heap emission order */
	union {
#define X(kind, name, fields) struct sl_ev_##name name;
		SL_EVENT_LIST(X)
#undef X
	} u;
};

struct sl_sink {
	void (*emit)(void *ctx, const struct sl_event *ev);
	void *ctx;
};

/* The caller's clock: publish the current operation before each call into
 * the heap; the core copies it into every event header. */
struct sl_clock {
	uint64_t op;
	uint64_t bytes;
};

/* Names for the enums and event kinds (static strings). */
const char *sl_event_kind_name(enum sl_event_kind k);
const char *sl_refill_source_name(enum sl_refill_source s);
const char *sl_span_set_name(enum sl_span_set s);
const char *sl_page_source_name(enum sl_page_source s);
const char *sl_mem_state_name(enum sl_mem_state s);
const char *sl_scav_reason_name(enum sl_scav_reason r);
const char *sl_gc_reason_name(enum sl_gc_reason r);

#endif
