/*
 * spanlab: the public API of the allocator core.
 *
 * A heap (struct sl_heap) is a complete Go-1.19-style allocator: arenas of
 * real virtual memory, a page allocator, mcentral span sets and one mcache
 * per P. All of its state is reachable from the handle: several heaps can
 * live in one process, and sl_heap_destroy returns every byte to the OS.
 *
 * A P (struct sl_p) is an explicit handle, so one thread can drive N Ps in
 * a deterministic order. Nothing here is thread-safe: a heap and its Ps
 * belong to one thread at a time.
 *
 * Type information: C traces have none. Requests under 16 bytes go through
 * the tiny allocator (noscan, span class 5) when it is on; every other
 * object is treated as pointer-bearing (scan span classes, class<<1|0).
 * A request of 0 bytes is served as a 1-byte request (a unique pointer
 * that can be freed), not Go's shared zerobase.
 *
 * See docs/allocator.md for the design and docs/metrics.md for the stats.
 */
#ifndef SPANLAB_H
#define SPANLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "sizeclass.h"
#include "stats.h"

struct sl_heap;
struct sl_p;

/*
 * The OS layer: one function per primitive, all on page-aligned ranges with
 * size > 0; each returns 0 or an errno value. NULL in sl_heap_config.os
 * means the real calls (sl_os_posix). Tests swap in fakes that count calls
 * or fail the Nth one.
 *   reserve  mmap(hint, n, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS), hint only;
 *            *out = what the kernel returned (may differ from hint)
 *   map      mmap(v, n, PROT_READ|PROT_WRITE, MAP_FIXED|...) over a
 *            reservation (Reserved -> Prepared)
 *   used     Prepared -> Ready; Go on Linux makes no call (NULL allowed)
 *   unused   madvise(v, n, MADV_DONTNEED) (Ready -> Prepared)
 *   release  munmap(v, n) (-> None)
 *   alloc    mmap a fresh read-write anonymous range for metadata
 *            (Go's sysAlloc: None -> Ready, off-heap)
 */
struct sl_os_ops {
	int (*reserve)(void *ctx, void *hint, size_t n, void **out);
	int (*map)(void *ctx, void *v, size_t n);
	int (*used)(void *ctx, void *v, size_t n);
	int (*unused)(void *ctx, void *v, size_t n);
	int (*release)(void *ctx, void *v, size_t n);
	int (*alloc)(void *ctx, size_t n, void **out);
	void *ctx;
};

/* The real primitives (alloc/os_posix.c). */
extern const struct sl_os_ops sl_os_posix;

enum sl_free_policy {
	SL_FREE_GC = 0,			/* Go-faithful: free = unreachable; sweep reclaims */
	SL_FREE_IMMEDIATE = 1,		/* ablation, not Go: the slot is reusable at once */
};

enum sl_sweep_mode {
	SL_SWEEP_EAGER = 0,		/* sweep everything at the cycle (gcstoptheworld=2) */
	SL_SWEEP_LAZY = 1,		/* cacheSpan, reclaim and proportional sweep */
};

struct sl_heap_config {
	struct sl_sizeclasses classes;	/* copied in; page_size is the heap's page */
	size_t arena_bytes;		/* sl_arena_bytes_check; default 64 MiB */
	int nprocs;			/* 1..SL_MAX_PROCS */
	enum sl_free_policy free_policy;
	enum sl_sweep_mode sweep_mode;
	int gogc;			/* 100; negative: no pacer-triggered cycles */
	double trigger_fraction;	/* 0.95: the declared trigger (Go 1.19 clamps at 61/64) */
	bool tiny;			/* tiny allocator on (default) */
	bool scavenger;			/* background (post-GC) and growth scavenging */
	int retain_extra_percent;	/* 10 (Go's retainExtraPercent) */
	const struct sl_os_ops *os;	/* NULL: sl_os_posix */
};

enum { SL_MAX_PROCS = 64 };

/* Fill a config with Go 1.19's defaults and Go's size-class table. */
void sl_heap_config_default(struct sl_heap_config *cfg);

/* The arena rule sl_heap_new applies: a power of two from one
 * page-allocator chunk (512 pages of page_size, a valid page size) to
 * 1 TiB. 0, or -1 with what it must be ("must be ...", naming no key) in
 * err. A config reader calls it once it knows the page size, so a bad
 * arena is refused as input instead of failing at heap creation. */
int sl_arena_bytes_check(uint64_t arena_bytes, uint32_t page_size, char *err, size_t errlen);

/* Create a heap; NULL with a one-line reason in err on a bad config or when
 * the OS refuses the first metadata mapping. */
struct sl_heap *sl_heap_new(const struct sl_heap_config *cfg, char *err, size_t errlen);

/* Return every byte (arenas and metadata) to the OS. */
void sl_heap_destroy(struct sl_heap *h);

/* P number i, 0 <= i < nprocs. */
struct sl_p *sl_heap_p(struct sl_heap *h, int i);
int sl_p_id(const struct sl_p *p);

/* The allocation API. NULL means out of memory (the heap stays valid) or,
 * for sl_aligned_alloc, a bad alignment (then *err, if given, says which). */
void *sl_malloc(struct sl_p *p, size_t n);
void *sl_calloc(struct sl_p *p, size_t n, size_t m);
void *sl_realloc(struct sl_p *p, void *ptr, size_t n);

enum sl_align_err {
	SL_ALIGN_OK = 0,
	SL_ALIGN_NOT_POWER_OF_TWO = 1,	/* EINVAL in posix_memalign */
	SL_ALIGN_NOMEM = 2,		/* ENOMEM */
};
/* Aligned allocation with posix_memalign/aligned_alloc/memalign semantics:
 * align must be a power of two (any, including < sizeof(void*)); the
 * result is aligned to it. Bad alignment returns NULL and sets *err. */
void *sl_aligned_alloc(struct sl_p *p, size_t align, size_t n, enum sl_align_err *err);

/* The result of sl_free. Misuse never changes the heap. */
#define SL_FREE_RESULTS(X) \
	X(OK,             "ok") \
	X(NULL_PTR,       "free(NULL): nothing to do") \
	X(FOREIGN,        "pointer outside every arena of this heap") \
	X(NOT_IN_USE,     "pointer into free pages (no span in use)") \
	X(INTERIOR,       "pointer is not the start of an object") \
	X(NOT_ALLOCATED,  "slot was never allocated or already reclaimed") \
	X(DOUBLE_FREE,    "object already freed") \
	X(TINY_NOT_LIVE,  "no live tiny sub-object here (double free, or a pointer into a freed one)")

enum sl_free_result {
#define X(name, text) SL_FREE_##name,
	SL_FREE_RESULTS(X)
#undef X
	SL_FREE_NRESULTS
};
const char *sl_free_result_name(enum sl_free_result r);

enum sl_free_result sl_free(struct sl_p *p, void *ptr);

/* Bytes usable at ptr: a small object's slot size, a large object's pages
 * past its start, a tiny sub-object's own size (its block records where
 * each sub-object ends). 0 for a pointer this heap does not own as a live
 * object. */
size_t sl_usable_size(struct sl_heap *h, const void *ptr);

/* The size class of the live object at ptr (0: a large object; a tiny
 * sub-object: the 16-byte class of its block), or -1 for a pointer this
 * heap does not own as a live object. That is the class the object got,
 * which may be larger than its size asks for: an aligned request's
 * (sl_aligned_alloc), or one that sl_realloc shrank in place. One span
 * lookup. */
int sl_size_class_of(struct sl_heap *h, const void *ptr);

/* Simulated GC: a forced cycle (both policies), a trace GC marker (a cycle
 * in the gc policy, a no-op in immediate), FreeOSMemory (a forced cycle,
 * then release every free page). */
void sl_heap_gc(struct sl_heap *h);
void sl_heap_gc_marker(struct sl_heap *h);
void sl_heap_scavenge_all(struct sl_heap *h);

/* Events: attach a sink (emit == NULL detaches). The caller publishes its
 * operation index and Wilson clock through the returned pointer. */
void sl_sink_attach(struct sl_heap *h, struct sl_sink sink);
struct sl_clock *sl_heap_clock(struct sl_heap *h);

/* Where the core keeps two exact counters, for sampling after every
 * operation at the cost of a load (the replay's peaks and J&W #3). They
 * change only on slow paths and are exact between calls into the heap. */
struct sl_counters {
	const uint64_t *heap_inuse;	/* Go HeapInuse */
	const uint64_t *state_bytes;	/* [enum sl_mem_state]: address space per state */
};
void sl_heap_counters(const struct sl_heap *h, struct sl_counters *out);

/* Flush-equivalent stats (no span moves). */
void sl_heap_stats(struct sl_heap *h, struct sl_stats *st);

/* Tier-3 validators over every structure and the accounting identity:
 * 0, or -1 with the first violation in err. */
int sl_heap_check(struct sl_heap *h, char *err, size_t errlen);

const struct sl_heap_config *sl_heap_config_of(const struct sl_heap *h);

#endif
