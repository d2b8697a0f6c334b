/*
 * Internal declarations of the allocator core, grouped per source file:
 * this header is the table of contents of alloc/. Nothing outside alloc/
 * includes it except the tests.
 *
 * See malloc.c for the overview of the design. Names follow the Go runtime
 * one to one in snake case: (c *mcentral) cacheSpan -> mcentral_cache_span.
 */
#ifndef SPANLAB_INTERNAL_H
#define SPANLAB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "spanlab.h"

/* ---- build configuration (static const bool, not #ifdef blocks) -------- */

#ifdef SL_DEBUG
static const bool SL_CONFIG_DEBUG = true;
#else
static const bool SL_CONFIG_DEBUG = false;
#endif
/* Events compiled in; with no sink attached each costs one branch. */
static const bool SL_CONFIG_EVENTS = true;

#define SL_LIKELY(x)   __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SL_NOINLINE    __attribute__((noinline))
#define SL_COLD        __attribute__((cold, noinline))

/*
 * Assertion tiers.
 *   sl_throw            a broken invariant of the core itself: print,
 *                       abort. Always on (Go's throw).
 *   SL_ASSERT           cheap API-level and per-operation conditions
 *   SL_ASSERT_INTERNAL  (the same switch): debug and test builds only.
 *   validators          O(n) walks (check.c), run by sl_heap_check: after
 *                       every operation in the randomized tests, at
 *                       --check snapshots.
 * Misuse by the caller (bad free) is never an assertion: it is an error
 * value, checked in every build.
 */
SL_COLD __attribute__((noreturn, format(printf, 3, 4)))
void sl_throw_at(const char *file, int line, const char *fmt, ...);
#define sl_throw(...) sl_throw_at(__FILE__, __LINE__, __VA_ARGS__)
#define SL_ASSERT(c) \
	do { if (SL_CONFIG_DEBUG && !(c)) sl_throw("assertion failed: %s", #c); } while (0)
#define SL_ASSERT_INTERNAL(c) SL_ASSERT(c)

/* ---- constants (Go names; page size is a heap parameter) --------------- */

enum {
	CHUNK_PAGES      = 512,	/* pallocChunkPages: a page-allocator chunk */
	CHUNK_WORDS      = CHUNK_PAGES / 64,
	PAGE_CACHE_PAGES = 64,	/* pageCachePages: one 64-page-aligned block */
	TINY_SIZE        = 16,	/* maxTinySize: the tiny block */
	TINY_SIZE_CLASS  = 2,	/* tinySizeClass: the 16-byte class */
	SPAN_BUDGET      = 100,	/* mcentral.cacheSpan: at most 100 spans swept
				 * per refill, which bounds the sweep work one
				 * allocation can be charged (Go's constant) */
	PHYS_PAGE_SIZE   = 4096,	/* physPageSize on linux/amd64 */
	HEAP_ADDR_BITS   = 48,
};
#define DEFAULT_HEAP_MINIMUM    ((uint64_t)4 << 20)	/* defaultHeapMinimum */
#define SWEEP_MIN_HEAP_DISTANCE ((uint64_t)1 << 20)	/* sweepMinHeapDistance */
#define PERSISTENT_CHUNK        ((size_t)256 << 10)	/* persistentChunkSize */
#define MAX_SEARCH_ADDR         (~(uintptr_t)0)

typedef uint16_t span_class_t;	/* size class << 1 | noscan */
typedef uint64_t arena_idx_t;	/* address >> arena shift */

static inline span_class_t make_span_class(uint32_t sizeclass, bool noscan)
{
	return (span_class_t)(sizeclass << 1 | (noscan ? 1u : 0u));
}
static inline uint32_t span_class_sizeclass(span_class_t spc) { return spc >> 1; }
static inline bool span_class_noscan(span_class_t spc) { return spc & 1; }

struct mheap;
struct mspan;
struct mcache;

/* ---- sysmem.c: the OS state machine (mem.go) -------------------------- */

/*
 * Every byte of heap address space is None, Reserved, Prepared or Ready.
 * Each edge is one function; each updates the byte counter of both states
 * and emits an arena event in the same place. Invariant:
 *   reserved + prepared + ready == bytes of all reserved arenas.
 */
struct sysmem {
	const struct sl_os_ops *os;
	uint64_t bytes[SL_MEM_NSTATES];	/* [NONE] unused */
	uint64_t metadata;		/* off-heap bytes from sys_alloc */
	uint64_t transitions;		/* state-changing calls made */
};
int sys_reserve(struct mheap *h, void *hint, size_t n, void **out, bool exact);
int sys_reserve_aligned(struct mheap *h, size_t n, size_t align, void **out);
int sys_map(struct mheap *h, void *v, size_t n);
void sys_used(struct mheap *h, void *v, size_t n, size_t prepared);
int sys_unused(struct mheap *h, void *v, size_t n);
void sys_free(struct mheap *h, void *v, size_t n, enum sl_mem_state from);
void sys_free_arena(struct mheap *h, void *v, size_t n, const uint64_t by_state[SL_MEM_NSTATES]);
void *sys_alloc(struct mheap *h, size_t n);
void sys_free_metadata(struct mheap *h, void *v, size_t n);

/* ---- fixalloc.c: off-heap metadata (malloc.go persistentalloc, mfixalloc.go) */

/* Chunks mapped with sys_alloc and kept on a list so that heap destruction
 * unmaps them all. Nothing is ever returned to the OS earlier. */
struct persistent_chunk {
	struct persistent_chunk *next;
	size_t size;
};
struct persistent_alloc {
	struct persistent_chunk *chunks;
	char *cur, *end;
};
void *persistent_alloc(struct mheap *h, size_t size, size_t align);
void persistent_release_all(struct mheap *h);

/* Fixed-size records with a free list (mspan structs). Not zeroed on reuse
 * unless zero is set, like Go's fixalloc. */
struct fixalloc {
	size_t size;
	void *list;			/* free records, linked through their first word */
	size_t inuse;			/* records handed out */
};
void fixalloc_init(struct fixalloc *f, size_t size);
void *fixalloc_alloc(struct mheap *h, struct fixalloc *f);
void fixalloc_free(struct fixalloc *f, void *v);

/* Power-of-two blocks for span bitmaps (Go's gcBits arenas): free lists
 * per size 2^k bytes, k = 3..MAX. */
enum { BITS_MIN_SHIFT = 3, BITS_MAX_SHIFT = 40 };
struct bits_alloc {
	void *free[BITS_MAX_SHIFT + 1];
};
void *bits_alloc(struct mheap *h, size_t bytes);
void bits_free(struct mheap *h, void *v, size_t bytes);

/* ---- arena.c: heapArena, mheap.sysAlloc, mheap.grow ------------------- */

/*
 * One page-allocator chunk (pallocData + its leaf summary).
 *   alloc: 1 = allocated (in a span, in a P's page cache, or being
 *          scavenged); 0 = free.
 *   scav:  1 = scavenged (Prepared); meaningful for free pages only, and
 *          always 0 for allocated pages (the information moves into the
 *          span, or into the page cache's scav mask).
 *   start/max/end: free pages at the low end, longest free run, free pages
 *          at the high end. All 0 while the chunk is not grown (Go: an
 *          unmapped summary is 0).
 *   scav_index: may hold free, unscavenged pages (Go's scavengeIndex bit).
 */
struct palloc_chunk {
	uint64_t alloc[CHUNK_WORDS];
	uint64_t scav[CHUNK_WORDS];
	uint16_t start, max, end;
	bool grown;			/* mapped (Reserved -> Prepared) and handed to pages */
	bool scav_index;
};

/*
 * heapArena: one arena_bytes-aligned region of arena_bytes.
 *   spans[i]:     the span owning page i if that page is in an in-use span;
 *                 stale or NULL for free pages (Go's spans map).
 *   page_in_use:  bit i set iff page i is the first page of an in-use span.
 *   page_marks:   bit i set iff page i starts a span with a marked object
 *                 at the last mark (the lazy reclaimer's pageMarks).
 */
struct heap_arena {
	uintptr_t base;
	arena_idx_t idx;
	struct mspan **spans;
	uint64_t *page_in_use;
	uint64_t *page_marks;
	struct palloc_chunk *chunks;	/* arena_pages / CHUNK_PAGES */
	uint64_t mapped;		/* bytes sysMapped (chunks grown) */
	uintptr_t zeroed_base;		/* offset of the first never-used byte:
					 * below it pages may be dirty (Go) */
};

static inline arena_idx_t arena_index(const struct mheap *h, uintptr_t p);
static inline struct heap_arena *arena_of(const struct mheap *h, uintptr_t p);

int mheap_sys_alloc(struct mheap *h, size_t n, uintptr_t *out, size_t *outsize);
uint64_t mheap_grow(struct mheap *h, uint32_t npage);
void arena_init_hints(struct mheap *h);
void arena_release_all(struct mheap *h);

/* ---- pagealloc.c: pageAlloc (mpagealloc.go, mpallocbits.go) ----------- */

/* search_addr: every page below it is allocated (a lower bound; any lower
 * bound gives the same first-fit result). MAX_SEARCH_ADDR = heap full.
 * scav_search_addr: the scavenger's downward cursor (scavengeIndex). */
struct page_alloc {
	uintptr_t search_addr;
	uintptr_t scav_search_addr;
};
uintptr_t page_alloc_alloc(struct mheap *h, uint32_t npages, uint64_t *scav);
uint64_t page_alloc_alloc_range(struct mheap *h, uintptr_t base, uint32_t npages);
void page_alloc_free(struct mheap *h, uintptr_t base, uint32_t npages, bool scavenged);
void page_alloc_grow(struct mheap *h, uintptr_t base, size_t size);
void page_alloc_update(struct mheap *h, struct palloc_chunk *c);
struct palloc_chunk *page_alloc_chunk_of(const struct mheap *h, uintptr_t p);
uintptr_t page_alloc_find_first_free(struct mheap *h);
uint64_t page_alloc_scavenge(struct mheap *h, uint64_t nbytes);
/* Bit helpers over a chunk bitmap (mpallocbits.go). */
uint32_t palloc_find(const uint64_t *alloc, uint32_t npages, uint32_t search_idx, uint32_t *first_free);
void bits_set_range(uint64_t *w, uint32_t i, uint32_t n);
void bits_clear_range(uint64_t *w, uint32_t i, uint32_t n);
uint32_t bits_count_range(const uint64_t *w, uint32_t i, uint32_t n);

/* ---- pagecache.c: the per-P page cache (mpagecache.go) ----------------- */

/* cache: 1 = free page owned by this cache; scav: 1 = that page is
 * scavenged. base == 0 means empty. Pages in the cache are allocated in
 * the chunk bitmaps and counted as heap_free/heap_released by their scav
 * bit. */
struct page_cache {
	uintptr_t base;
	uint64_t cache;
	uint64_t scav;
};
uintptr_t page_cache_alloc(struct mheap *h, struct page_cache *c, uint32_t npages, uint64_t *scav);
void page_alloc_alloc_to_cache(struct mheap *h, struct page_cache *c);
void page_cache_flush(struct mheap *h, struct page_cache *c);

/* ---- span.c: mspan ---------------------------------------------------- */

enum mspan_state { MSPAN_DEAD = 0, MSPAN_IN_USE = 1 };
/* sl_free's dispatch, decided once per span at allocation. */
enum free_path { FREE_PATH_SLOW = 0, FREE_PATH_GC = 1, FREE_PATH_IMMEDIATE = 2 };

struct span_set;

/*
 * mspan. Allocation state of slot n:
 *   n <  freeindex: allocated;
 *   n >= freeindex: allocated iff alloc_bits[n] (allocation never sets
 *                   alloc_bits; it only advances freeindex).
 * alloc_cache holds the complement of the 64 alloc bits of the group that
 * contains freeindex, shifted so bit 0 is freeindex, with bits at or past
 * nelems cleared: 0 means "this group is used up" and sends the caller to
 * the slow path (mspan_next_free_index). Invariants (mspan_check):
 *   alloc_count == number of allocated slots <= nelems;
 *   nelems * elemsize <= npages * page_size; limit == base + nelems*elemsize
 *   (large: base + requested size).
 */
struct mspan {
	/* Hot: read and written by mspan_next_free_fast, grouped first. */
	uint64_t alloc_cache;
	uint32_t freeindex;		/* next slot to examine, 0..nelems */
	uint32_t elemsize;		/* slot bytes (large: npages * page_size) */
	uintptr_t base;			/* startAddr, page aligned */
	uint32_t *reqsize;		/* requested bytes per slot; tiny spans: the
					 * start mask (low 16) and end mask (high
					 * 16) of live sub-objects in the block */
	uint32_t nelems;		/* slots in the span */
	uint32_t alloc_count;		/* allocated slots */
	uint64_t *freed_bits;		/* gc policy: freed by the trace since the
					 * last mark; live = allocated & ~freed */
	uint64_t *alloc_bits;		/* 1 = allocated (for n >= freeindex) */
	uint8_t fast_free;		/* enum free_path: which sl_free path a
					 * small, non-tiny span takes */
	uint8_t sizeclass;		/* spanclass >> 1 */
	uint32_t divmul;		/* class_to_divmagic; 0 for large */
	/* Second line: the three bitmaps of spans with at most 64 slots
	 * (every class from 128 B up), next to the fields that free reads. */
	uint64_t inline_bits[3];

	/* Cold. */
	uint32_t npages;
	uint32_t alloc_count_before_cache; /* alloc_count when cached */
	uint32_t sweepgen;		/* see mheap.sweepgen */
	span_class_t spanclass;
	uint8_t state;			/* enum mspan_state */
	uint8_t set;			/* enum sl_span_set: where it is now */
	bool needzero;			/* slots may hold old data */
	uint64_t *mark_bits;		/* gcmarkBits of the last mark */
	void *bits_block;		/* the block holding the 3 bitmaps and
					 * reqsize (sweep swaps alloc/mark) */
	size_t bits_bytes;		/* its size */
	uintptr_t limit;
	uint64_t large_req;		/* large: the requested size */
	uintptr_t large_off;		/* large: object offset from base (aligned
					 * allocations over a page; else 0) */
	struct span_set *in_set;	/* the mcentral set holding it, or NULL */
	struct mspan *next, *prev;	/* links in in_set */
};

extern const struct mspan empty_mspan;	/* nelems 0, alloc_cache 0 */

static inline uint32_t mspan_obj_index(const struct mspan *s, uintptr_t p)
{
	return sl_divide_by_elemsize(s->divmul, p - s->base);
}
/* popcount without a libgcc call (the build targets baseline x86-64). */
static inline unsigned sl_popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}
static inline bool bit_get(const uint64_t *w, uint32_t i) { return w[i / 64] >> (i % 64) & 1; }
static inline void bit_set(uint64_t *w, uint32_t i) { w[i / 64] |= (uint64_t)1 << (i % 64); }
static inline void bit_clear(uint64_t *w, uint32_t i) { w[i / 64] &= ~((uint64_t)1 << (i % 64)); }
static inline bool mspan_is_allocated(const struct mspan *s, uint32_t i)
{
	return i < s->freeindex || bit_get(s->alloc_bits, i);
}

/*
 * nextFreeFast: the mcache-hit path. Takes the lowest free slot of the
 * cached 64-slot group into *idxp. Cost: one load of alloc_cache, one
 * test, one ctz; stores only to the span (cache, freeindex, alloc_count).
 * No event, no lock, no initialisation branch (the empty sentinel has
 * alloc_cache == 0 and sends the caller to the slow path).
 */
static inline bool mspan_next_free_fast(struct mspan *s, uint32_t *idxp)
{
	uint64_t c = s->alloc_cache;
	if (SL_UNLIKELY(c == 0))
		return false;
	unsigned tz = (unsigned)__builtin_ctzll(c);
	uint32_t idx = s->freeindex + tz;
	s->alloc_cache = (c >> tz) >> 1;
	s->freeindex = idx + 1;
	s->alloc_count++;
	*idxp = idx;
	return true;
}

static inline void *mspan_slot(const struct mspan *s, uint32_t idx)
{
	return (void *)(s->base + (uintptr_t)idx * s->elemsize);
}

uint32_t mspan_next_free_index(struct mspan *s);

/* refillAllocCache: load the complement of group `whichword`'s alloc
 * bits, with the bits at or past nelems cleared. */
static inline void mspan_refill_alloc_cache(struct mspan *s, uint32_t whichword)
{
	uint64_t c = ~s->alloc_bits[whichword];
	uint32_t past = (whichword + 1) * 64;
	if (past > s->nelems)
		c &= ((uint64_t)1 << (s->nelems - whichword * 64)) - 1;
	s->alloc_cache = c;
}
void mspan_init_bits(struct mheap *h, struct mspan *s);
void mspan_free_bits(struct mheap *h, struct mspan *s);
uint32_t mspan_count_alloc(const struct mspan *s);
void mspan_materialize_below(struct mspan *s, uint32_t idx);

/* ---- spanset.c: partial/full span sets (mspanset.go) ------------------ */

/* A FIFO of spans (push at tail, pop at head) with explicit membership, so
 * a span can also leave from the middle (immediate policy, reclaim). Go's
 * spanSet drops such entries lazily when popped; with no stale entries the
 * order of the rest is the same. */
struct span_set {
	struct mspan *head, *tail;
	uint64_t n;
};
static inline void span_set_push(struct span_set *b, struct mspan *s)
{
	SL_ASSERT(s->in_set == NULL);
	s->next = NULL;
	s->prev = b->tail;
	if (b->tail)
		b->tail->next = s;
	else
		b->head = s;
	b->tail = s;
	b->n++;
	s->in_set = b;
}

static inline void span_set_remove(struct span_set *b, struct mspan *s)
{
	SL_ASSERT(s->in_set == b);
	if (s->prev)
		s->prev->next = s->next;
	else
		b->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		b->tail = s->prev;
	b->n--;
	s->next = s->prev = NULL;
	s->in_set = NULL;
}

static inline struct mspan *span_set_pop(struct span_set *b)
{
	struct mspan *s = b->head;
	if (s != NULL)
		span_set_remove(b, s);
	return s;
}

/* ---- central.c: mcentral ---------------------------------------------- */

/* partial[sweepgen/2 % 2] is the swept partial set, the other the unswept
 * one; likewise full. A span in a set is not cached by any P. */
struct mcentral {
	span_class_t spanclass;
	struct span_set partial[2];
	struct span_set full[2];
};
/* partialSwept(sg) etc.: which of the two sets plays which role now. */
#define MCENTRAL_SET(name, field, swept) \
	static inline struct span_set *mcentral_##name(const uint32_t *sweepgen, struct mcentral *c) \
	{ return &c->field[(*sweepgen / 2 % 2) ^ (swept ? 0u : 1u)]; }
MCENTRAL_SET(partial_swept_sg, partial, true)
MCENTRAL_SET(partial_unswept_sg, partial, false)
MCENTRAL_SET(full_swept_sg, full, true)
MCENTRAL_SET(full_unswept_sg, full, false)
#undef MCENTRAL_SET
#define mcentral_partial_swept(h, c) mcentral_partial_swept_sg(&(h)->sweepgen, (c))
#define mcentral_partial_unswept(h, c) mcentral_partial_unswept_sg(&(h)->sweepgen, (c))
#define mcentral_full_swept(h, c) mcentral_full_swept_sg(&(h)->sweepgen, (c))
#define mcentral_full_unswept(h, c) mcentral_full_unswept_sg(&(h)->sweepgen, (c))
struct mspan *mcentral_cache_span(struct mheap *h, struct mcentral *c, struct sl_p *p, enum sl_refill_source *src);
void mcentral_uncache_span(struct mheap *h, struct mcentral *c, struct mspan *s, int move);
struct mspan *mcentral_grow(struct mheap *h, struct mcentral *c, struct sl_p *p);
void span_move_emit(struct mheap *h, const struct mspan *s, enum sl_span_set from, enum sl_span_set to, int move);
static inline void span_move_to(struct mheap *h, struct mspan *s, enum sl_span_set to, int move);


/* ---- cache.c: mcache, per P ------------------------------------------- */

/*
 * mcache: one per P. alloc[spc] is the span this P allocates class spc
 * from; it starts at &empty_mspan, so the first allocation refills with no
 * initialisation check. The per-P counters are plain fields, flushed into
 * the heap only by refill/release_all (and summed by sl_heap_stats).
 */
struct mcache {
	/* Hot: the malloc and free paths touch only these. */
	struct mspan *alloc[2 * SL_MAX_CLASSES];
	const struct sl_sizeclasses *sc;
	size_t small_min;		/* smallest request of the plain small path:
					 * 16 with the tiny allocator, else 1 */
	size_t small_span;		/* max_small_size - small_min */
	uintptr_t arena_base;		/* a one-entry arena cache for sl_free: */
	uintptr_t arena_bytes;		/*   the arena last looked up and its */
	struct mspan **arena_spans;	/*   spans map (0/0/NULL: empty) */
	uint32_t page_shift;
	span_class_t tiny_spc;		/* 5 with the tiny allocator, else an
					 * impossible span class */
	bool immediate;			/* free policy is immediate */
	int64_t req_bytes[SL_MAX_CLASSES];	/* net requested bytes by size class */
	uint64_t trace_frees[SL_MAX_CLASSES];	/* sl_free calls by size class */
	struct mheap *heap;
	uintptr_t tiny;			/* current tiny block, 0 = none */
	uint32_t *tiny_meta;		/* its masks (reqsize entry of its slot) */
	uint32_t tinyoffset;
	uint64_t tiny_allocs;		/* packed into an existing block */
	int64_t tiny_req_bytes;		/* net requested bytes of tiny sub-objects */
	int64_t tiny_live_objects;	/* live tiny sub-objects */
	int64_t tiny_live_blocks;	/* tiny blocks with >= 1 live sub-object */
	int64_t large_req_bytes;
};

/* struct sl_p: Go's P as far as the allocator sees it. */
struct sl_p {
	struct mcache mcache;
	struct page_cache pcache;
	int id;
};

void mcache_init(struct mheap *h, struct sl_p *p);
SL_NOINLINE void *mcache_next_free(struct sl_p *p, span_class_t spc, uint32_t *idx, struct mspan **sp);
void mcache_refill(struct mheap *h, struct sl_p *p, span_class_t spc);
void mcache_release_all(struct mheap *h, struct sl_p *p);
void *mcache_alloc_tiny(struct sl_p *p, size_t n);
void *mcache_alloc_large(struct sl_p *p, size_t n, bool needzero);
void mcache_tiny_drop(struct mheap *h, struct sl_p *p);

/* ---- heap.c: mheap ---------------------------------------------------- */

/*
 * sweepgen: +2 at every cycle. A span's sweepgen relative to it:
 *   sg-2 needs sweeping, sg-1 being swept, sg swept,
 *   sg+1 cached before the flip (stale), sg+3 swept and cached.
 */
struct mheap {
	struct sl_heap_config cfg;	/* cfg.classes is the heap's table */
	const struct sl_sizeclasses *sc; /* == &cfg.classes */
	uint32_t page_size, page_shift;
	uint32_t arena_shift;		/* log2(cfg.arena_bytes) */
	uint32_t arena_pages;
	uint32_t l2_bits;		/* arena map: l1 = idx >> l2_bits */
	uint32_t nspc;			/* span classes in use: 2 * nclasses */

	struct heap_arena ***arena_l1;	/* [1 << l1 bits] -> [1 << l2_bits] */
	uint32_t l1_entries;
	struct heap_arena **all_arenas;	/* sorted by base */
	uint32_t narenas, arenas_cap;
	uintptr_t hints[128];		/* arenaHints: upward hints, next first */
	uint32_t nhints;
	uintptr_t cur_arena_base, cur_arena_end; /* Reserved range grow consumes */

	struct page_alloc pages;
	struct sysmem sys;
	struct persistent_alloc persistent;
	struct fixalloc spanalloc;
	struct bits_alloc bitsalloc;
	struct mcentral *central;	/* [nspc] */
	struct sl_p *ps;		/* [cfg.nprocs] */

	uint32_t sweepgen;
	bool sweep_done;		/* no unswept span left this cycle */
	uint64_t nunswept;		/* spans in unswept sets */
	uint64_t reclaim_credit;	/* pages reclaimed beyond a request */

	/* consistent stats (mstats.go heapStats), flushed from Ps */
	uint64_t heap_inuse, heap_free, heap_released;
	uint64_t spans_inuse;
	uint64_t small_alloc_count[2 * SL_MAX_CLASSES];
	uint64_t small_free_count[2 * SL_MAX_CLASSES];
	uint64_t refills_by_class[SL_MAX_CLASSES];
	uint64_t spans_by_class[SL_MAX_CLASSES];
	int64_t req_bytes[SL_MAX_CLASSES];
	uint64_t trace_frees[SL_MAX_CLASSES];
	uint64_t tiny_allocs;
	int64_t tiny_req_bytes, tiny_live_objects, tiny_live_blocks, large_req_bytes;
	uint64_t large_alloc, large_alloc_count, large_free, large_free_count;
	uint64_t large_live_count;	/* large spans not yet reclaimed */
	uint64_t large_live_objs;	/* large objects not freed by the trace */
	uint64_t large_live_bytes;	/* their span bytes */
	uint64_t refills, refills_by_grow;
	uint64_t page_allocs, page_allocs_cache, page_allocs_grow;
	uint64_t span_moves, scavenged_bytes, objects_swept_free, immediate_frees;
	uint64_t bytes_swept_free, spans_swept;
	uint64_t bad_frees;

	/* pacer (mgcpacer.go) */
	uint64_t heap_live, heap_marked, heap_goal, trigger, gc_cycles;
	uint64_t last_heap_goal, last_heap_inuse;
	uint64_t scav_goal;		/* gcPercentGoal; UINT64_MAX = off */
	bool in_gc;			/* a cycle is running: no nested trigger */

	/* proportional sweep (mgcsweep.go, mgcpacer.go) */
	uint64_t pages_in_use, pages_swept, pages_swept_basis;
	uint64_t sweep_heap_live_basis;
	double sweep_pages_per_byte;
	uint32_t sweep_central_index;	/* sweepone's sweep-class cursor */
	uint32_t reclaim_arena, reclaim_page; /* the reclaimer's cursor */

	struct sl_sink sink;
	struct sl_clock clock;
	uint64_t seq;
};

struct sl_heap { struct mheap h; };

/* The mcentral set of kind k (partial/full x swept/unswept) for s's class. */
static inline struct span_set *mcentral_set(struct mheap *h, span_class_t spc, enum sl_span_set k)
{
	struct mcentral *c = &h->central[spc];
	uint32_t i = (h->sweepgen / 2 % 2) ^ (k == SL_SET_PARTIAL_UNSWEPT || k == SL_SET_FULL_UNSWEPT);
	return k <= SL_SET_PARTIAL_UNSWEPT ? &c->partial[i] : &c->full[i];
}

/*
 * Move s to the place `to` (a set, a P's mcache, the heap) and report it
 * as move number `move` of Go's catalogue (go-allocator-facts.md 5.6; 0 =
 * the immediate policy's moves, not in Go). The one place span membership
 * changes, so every move is counted and, with a sink, an event.
 */
static inline void span_move_to(struct mheap *h, struct mspan *s, enum sl_span_set to, int move)
{
	enum sl_span_set from = (enum sl_span_set)s->set;
	if (s->in_set != NULL)
		span_set_remove(s->in_set, s);
	if (to >= SL_SET_PARTIAL_SWEPT)
		span_set_push(mcentral_set(h, s->spanclass, to), s);
	s->set = (uint8_t)to;
	h->span_moves++;
	if (SL_CONFIG_EVENTS && SL_UNLIKELY(h->sink.emit != NULL))
		span_move_emit(h, s, from, to, move);
}

static inline arena_idx_t arena_index(const struct mheap *h, uintptr_t p)
{
	return (arena_idx_t)p >> h->arena_shift;
}
/* The L1 array covers the whole 48-bit address space, so one constant
 * shift rejects everything else. */
static inline struct heap_arena *arena_of(const struct mheap *h, uintptr_t p)
{
	if (SL_UNLIKELY(p >> HEAP_ADDR_BITS))
		return NULL;
	arena_idx_t ri = arena_index(h, p);
	struct heap_arena **l2 = h->arena_l1[ri >> h->l2_bits];
	if (l2 == NULL)
		return NULL;
	return l2[ri & ((1u << h->l2_bits) - 1)];
}
/* spanOf: the span entry for p's page (may be stale for free pages). */
static inline struct mspan *span_of(const struct mheap *h, uintptr_t p)
{
	struct heap_arena *ha = arena_of(h, p);
	if (ha == NULL)
		return NULL;
	return ha->spans[(p - ha->base) >> h->page_shift];
}
struct mspan *span_of_heap(const struct mheap *h, uintptr_t p);
struct mspan *mcache_span_of(struct mcache *c, uintptr_t p);

struct mspan *mheap_alloc(struct mheap *h, struct sl_p *p, uint32_t npages, span_class_t spc);
void mheap_free_span(struct mheap *h, struct mspan *s);
struct mspan *mheap_alloc_span(struct mheap *h, struct sl_p *p, uint32_t npages, span_class_t spc);
static inline uint64_t heap_retained(const struct mheap *h) { return h->heap_inuse + h->heap_free; }

/* ---- sweep.c: sweeping (mgcsweep.go) ---------------------------------- */

bool mspan_sweep(struct mheap *h, struct mspan *s, bool preserve);
void sweep_acquire(struct mheap *h, struct mspan *s);
/* After any sweep: when no unswept span is left, sweeping is done (and the
 * post-sweep scavenger runs, outside a cycle). */
void sweep_check_done(struct mheap *h);
bool sweepone(struct mheap *h);
void sweep_finish(struct mheap *h);
void deduct_sweep_credit_slow(struct mheap *h, uint64_t span_bytes, uint32_t caller_pages);
void mheap_reclaim(struct mheap *h, uint32_t npages);
void sweep_pace(struct mheap *h);

/* deductSweepCredit's "nothing to do" test, inline. */
static inline void deduct_sweep_credit(struct mheap *h, uint64_t span_bytes, uint32_t caller_pages)
{
	if (SL_UNLIKELY(h->sweep_pages_per_byte != 0))
		deduct_sweep_credit_slow(h, span_bytes, caller_pages);
}

/* ---- gc.c: free policies and the simulated GC (mgc.go, mgcpacer.go) ---- */

void gc_commit(struct mheap *h);
void gc_start_paced(struct mheap *h);
/* gcTrigger{gcTriggerHeap}.test, after a refill or large allocation. */
static inline void gc_maybe_start(struct mheap *h)
{
	if (SL_UNLIKELY(h->heap_live >= h->trigger))
		gc_start_paced(h);
}
void gc_cycle(struct mheap *h, enum sl_gc_reason reason);
void gc_mark(struct mheap *h);
enum sl_free_result free_immediate(struct mheap *h, struct sl_p *p, struct mspan *s, uint32_t idx);
void free_immediate_move(struct mheap *h, struct mspan *s);

/* ---- scavenge.c: the scavenger (mgcscavenge.go) ----------------------- */

void scavenge_pace(struct mheap *h);
void scavenge_after_sweep(struct mheap *h);
uint64_t scavenge_growth_amount(struct mheap *h, uint64_t growth);

/* ---- event.c: event emission ------------------------------------------ */

void sl_emit_slow(struct mheap *h, struct sl_event *ev);
#define SL_EMIT(h, KIND, name, ...) \
	do { \
		if (SL_CONFIG_EVENTS && SL_UNLIKELY((h)->sink.emit != NULL)) { \
			struct sl_event ev_ = { .kind = SL_EV_##KIND }; \
			ev_.u.name = (struct sl_ev_##name){ __VA_ARGS__ }; \
			sl_emit_slow((h), &ev_); \
		} \
	} while (0)

/* ---- stats.c ----------------------------------------------------------- */

void heap_stats_compute(struct mheap *h, struct sl_stats *st);

/* ---- check.c: tier-3 validators --------------------------------------- */

int mspan_check(struct mheap *h, struct mspan *s, char *err, size_t len);
int mcentral_check(struct mheap *h, struct mcentral *c, char *err, size_t len);
int page_alloc_check(struct mheap *h, char *err, size_t len);
int heap_check(struct mheap *h, char *err, size_t len);

/* ---- malloc.c ---------------------------------------------------------- */

void *mallocgc_slow(struct sl_p *p, size_t n, bool needzero);

#endif
