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
#define RECLAIM_CHUNK_PAGES 512u			/* pagesPerReclaimerChunk */
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
 *   spans[i]:     the span owning page i if that page is in an in-use span
 *                 (Go's spans map); &dead_mspan for every other page of a
 *                 grown chunk, NULL in chunks not grown yet. The grown
 *                 chunks are the first `mapped` bytes of the arena (grow
 *                 consumes arenas upward from their base), so below
 *                 `mapped` an entry is never NULL: sl_free's arena cache
 *                 covers only that prefix and needs no NULL test.
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
 * mspan. Slot n (< nelems) is free iff its bit in free_bits is set, except
 * in the group (64 slots) a P allocates from: while the span is cached,
 * alloc_mask is the truth for group `cur` and every group below it is full.
 * Allocation takes the lowest free slot, as Go's nextFreeFast does (Go:
 * allocBits + freeindex + allocCache; the same order, see span.c).
 *
 * live_bits (gc policy, small non-tiny and large spans): slot allocated and
 * not freed by the trace since it was last marked; while the span is cached
 * its free slots are set too (so the slots a P allocates need no store).
 * The mark is live & allocated. Tiny and immediate-policy spans leave it 0.
 *
 * Invariants (mspan_check):
 *   alloc_count == allocated slots <= nelems when not cached (cached: see
 *   mspan_alloc_count); free bits only below nelems; large spans: one slot,
 *   nelems == 1, never free while in use; nelems * elemsize <= npages *
 *   page_size.
 */
struct mspan {
	/* First line: the malloc fast path reads only these, and writes only
	 * alloc_mask; sl_free's fast path reads base..fast_lim, then the live
	 * bit and class_off. */
	uint64_t alloc_mask;		/* cached: free slots of group cur; else 0 */
	uint32_t *greq;			/* reqsize + 64 * cur */
	uintptr_t gaddr;		/* address of slot 64 * cur */
	uint32_t elemsize;		/* slot bytes (large: npages * page_size) */
	uint32_t nelems;		/* slots in the span */
	uintptr_t base;			/* startAddr, page aligned */
	uint32_t *reqsize;		/* requested bytes per slot; tiny spans: the
					 * start mask (low 16) and end mask (high
					 * 16) of live sub-objects in the block */
	uint64_t *live_bits;		/* see above */
	uint32_t divmul;		/* class_to_divmagic; 0 for large */
	uint32_t fast_lim;		/* sl_free's gc fast path applies iff
					 * (uint32)((p - base) * divmul) < fast_lim:
					 * divmul for an uncached small non-tiny span
					 * of the gc policy (then the test is "p is a
					 * slot boundary"), else 0 (never) */
	/* Second line: the three bitmaps of spans with at most 64 slots
	 * (every class from 128 B up) and the rest of what free reads. */
	uint64_t inline_bits[3];
	uint64_t *free_bits;		/* 1 = free slot (Go: ~allocBits) */
	uint64_t *mark_bits;		/* gcmarkBits of the last mark */
	uint32_t alloc_count;		/* allocated slots; stale while cached */
	uint32_t cur;			/* cached: the group alloc_mask holds */
	uint16_t class_off;		/* sizeclass * 8: byte offset of the class
					 * in the P's per-class counter arrays */
	uint8_t state;			/* enum mspan_state */
	uint8_t set;			/* enum sl_span_set: where it is now */
	bool needzero;			/* slots may hold old data */
	uint8_t free_path;		/* enum free_path of this span */
	span_class_t spanclass;
	uint32_t npages;
	uint32_t alloc_count_before_cache; /* alloc_count when cached */

	/* Cold. */
	uint32_t sweepgen;		/* see mheap.sweepgen */
	uint32_t fast_lim_idle;		/* fast_lim when not cached (set once) */
	void *bits_block;		/* the block holding the bitmaps and reqsize */
	uint64_t large_req;		/* large: the requested size */
	uintptr_t large_off;		/* large: object offset from base (aligned
					 * allocations over a page; else 0) */
	struct span_set *in_set;	/* the mcentral set holding it, or NULL */
	struct mspan *next, *prev;	/* links in in_set */
};

extern const struct mspan empty_mspan;	/* nelems 0, alloc_mask 0 */
extern const struct mspan dead_mspan;	/* spans-map entry of a free page:
					 * fast_lim 0, so sl_free's fast path
					 * hands it to the careful path */

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
/* popcount with the CPU's instruction (a call) where the heap found one
 * (mheap.popcnt), else sl_popcount64: for the per-span loops of the mark
 * and the general sweep. */
unsigned sl_popcount64_hw(uint64_t x);
#define SL_POPCOUNT(h, x) ((h)->popcnt ? sl_popcount64_hw(x) : sl_popcount64(x))
/* Index of the lowest set bit of x != 0: one bsf (the builtin adds a
 * dependency-breaking xor on x86-64). */
static inline uint64_t sl_ctz64(uint64_t x)
{
#if defined(__x86_64__)
	uint64_t r;
	__asm__("bsfq %1, %0" : "=r"(r) : "rm"(x) : "cc");
	return r;
#else
	return (uint64_t)__builtin_ctzll(x);
#endif
}
/* Clear bit i of the bitmap at w and say whether it was set. */
static inline bool sl_bitmap_test_clear(uint64_t *w, uint64_t i)
{
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__)
	bool was;
	__asm__("btrq %2, %0" : "+m"(*(uint64_t (*)[])w), "=@ccc"(was) : "r"(i) : "memory");
	return was;
#else
	uint64_t bit = (uint64_t)1 << (i % 64);
	bool was = (w[i / 64] & bit) != 0;
	w[i / 64] &= ~bit;
	return was;
#endif
}
/* Clear bit i % 64 of *w and say whether it was set: one btr on a
 * register (the word is written back either way; a clear bit stays
 * clear). */
static inline bool sl_bit_test_clear(uint64_t *w, uint64_t i)
{
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__)
	bool was;
	uint64_t x = *w;
	__asm__("btrq %2, %0" : "+r"(x), "=@ccc"(was) : "r"(i));
	*w = x;
	return was;
#else
	uint64_t x = *w, bit = (uint64_t)1 << (i % 64);
	*w = x & ~bit;
	return (x & bit) != 0;
#endif
}
static inline bool bit_get(const uint64_t *w, uint32_t i) { return w[i / 64] >> (i % 64) & 1; }
static inline void bit_set(uint64_t *w, uint32_t i) { w[i / 64] |= (uint64_t)1 << (i % 64); }
static inline void bit_clear(uint64_t *w, uint32_t i) { w[i / 64] &= ~((uint64_t)1 << (i % 64)); }
static inline uint32_t mspan_words(const struct mspan *s) { return (s->nelems + 63) / 64; }
/* Valid slot bits of group w (slots below nelems). */
static inline uint64_t mspan_valid(const struct mspan *s, uint32_t w)
{
	uint32_t past = (w + 1) * 64;
	return past <= s->nelems ? ~(uint64_t)0 : ((uint64_t)1 << (s->nelems - w * 64)) - 1;
}
/* The free bits of group w as they are now (the P's window if cached). */
static inline uint64_t mspan_free_word(const struct mspan *s, uint32_t w)
{
	return s->set == SL_SET_MCACHE && w == s->cur ? s->alloc_mask : s->free_bits[w];
}
static inline bool mspan_is_allocated(const struct mspan *s, uint32_t i)
{
	return i < s->nelems && !(mspan_free_word(s, i / 64) >> (i % 64) & 1);
}

/*
 * nextFreeFast: the mcache-hit path. Takes the lowest free slot of the
 * P's 64-slot window into *bitp (its slot is 64 * cur + *bitp). Cost: one
 * load, one test, one bsf, clear-lowest-bit and one store; no other store,
 * no event, no lock, no initialisation branch (the empty sentinel has
 * alloc_mask == 0 and sends the caller to the slow path).
 */
static inline bool mspan_next_free_fast(struct mspan *s, size_t *bitp)
{
	uint64_t m = s->alloc_mask;
	if (SL_UNLIKELY(m == 0))
		return false;
	*bitp = sl_ctz64(m);
	s->alloc_mask = m & (m - 1);
	return true;
}

/* The same on a window known to have a free slot (after mcache_next_free). */
static inline size_t mspan_take(struct mspan *s)
{
	uint64_t m = s->alloc_mask;
	s->alloc_mask = m & (m - 1);
	return sl_ctz64(m);
}

static inline void *mspan_slot(const struct mspan *s, uint32_t idx)
{
	return (void *)(s->base + (uintptr_t)idx * s->elemsize);
}

/* Point the window at group w (its free bits become alloc_mask). */
static inline void mspan_window_load(struct mspan *s, uint32_t w)
{
	s->cur = w;
	s->alloc_mask = s->free_bits[w];
	s->greq = s->reqsize + (size_t)w * 64;
	s->gaddr = s->base + (uintptr_t)w * 64 * s->elemsize;
}

bool mspan_next_group_slow(struct mspan *s);
/*
 * nextFreeIndex's group step: the window is used up; move it to the next
 * group with a free slot. false if there is none (the span is full; also
 * for the empty sentinel, which has no group).
 */
static inline bool mspan_next_group(struct mspan *s)
{
	if (SL_LIKELY(s->cur + 1 >= mspan_words(s)))
		return false;
	return mspan_next_group_slow(s);
}

/*
 * A P takes s (uncached, with a free slot): the window goes to its lowest
 * group with a free slot. In the gc policy its free slots become live, so
 * that the objects the P allocates are live with no store on the fast path;
 * while cached, sl_free's fast path does not apply (fast_lim 0).
 */
void sl_throw_no_free(const struct mspan *s);
static inline void mspan_cache(struct mspan *s)
{
	uint32_t nw = mspan_words(s), w = 0;
	s->fast_lim = 0;
	if (SL_LIKELY(nw == 1)) {		/* every class from 128 B up */
		uint64_t f = s->free_bits[0];
		if (SL_UNLIKELY(f == 0))
			sl_throw_no_free(s);
		if (s->free_path == FREE_PATH_GC)
			s->live_bits[0] |= f;
		s->cur = 0;
		s->alloc_mask = f;
		s->greq = s->reqsize;
		s->gaddr = s->base;
		return;
	}
	while (w < nw && s->free_bits[w] == 0)
		w++;
	if (SL_UNLIKELY(w == nw))
		sl_throw_no_free(s);
	if (s->free_path == FREE_PATH_GC)
		for (uint32_t i = w; i < nw; i++)
			s->live_bits[i] |= s->free_bits[i];
	mspan_window_load(s, w);
}

/* refill's uncache of its span, which is full: allocCount is nelems, the
 * window goes back (no free slot, so no live bit to drop). Called while
 * s->set is still SL_SET_MCACHE. */
static inline void mspan_uncache_full(struct mspan *s)
{
	SL_ASSERT_INTERNAL(s->alloc_mask == 0 && !mspan_next_group(s));
	s->alloc_count = s->nelems;
	s->free_bits[s->cur] = 0;
	s->fast_lim = s->fast_lim_idle;
}

void mspan_init_bits(struct mheap *h, struct mspan *s);
void mspan_free_bits(struct mheap *h, struct mspan *s);
uint32_t mspan_count_allocated(const struct mspan *s);
uint32_t mspan_alloc_count(const struct mheap *h, const struct mspan *s);
void mspan_uncache(const struct mheap *h, struct mspan *s);
void mspan_free_slot(struct mspan *s, uint32_t idx);
uint64_t mspan_mark_word(const struct mheap *h, const struct mspan *s, uint32_t w);

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
enum { SPC_OTHER = 1 };		/* span class 0 noscan: never cached, so
				 * alloc[SPC_OTHER] stays at the sentinel */
struct mcache {
	/* Hot: the malloc and free paths touch only these. */
	struct mspan *alloc[2 * SL_MAX_CLASSES];
	uint16_t size_to_spc[SL_SMALL_SIZE_MAX + 1];
					/* n -> span class for sl_malloc's 0..1024
					 * bytes; SPC_OTHER for 0, tiny sizes and
					 * sizes above max_small_size */
	uintptr_t arena_base;		/* a one-entry arena cache for sl_free: */
	uintptr_t arena_bytes;		/*   the arena last looked up, its grown */
	struct mspan **arena_spans;	/*   bytes and spans map (0/0/NULL: empty) */
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
struct mspan *mcache_next_free(struct sl_p *p, span_class_t spc);
struct mspan *mcache_refill(struct mheap *h, struct sl_p *p, span_class_t spc);
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
	uint64_t spans_by_class[SL_MAX_CLASSES];	/* in-use spans; sum == spans_inuse */
	uint64_t peak_spans_by_class[SL_MAX_CLASSES];	/* max of spans_by_class since the heap
							 * was made; raised in mheap_alloc_span,
							 * so >= spans_by_class */
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
	bool sweep_paced;		/* sweep_pages_per_byte != 0 */
	bool refill_general;		/* a sink or sweep_paced: refills take
					 * mcache_refill, never the inline case */
	bool popcnt;			/* the CPU has popcnt (the eager sweep uses it) */
	uint32_t sweep_central_index;	/* sweepone's sweep-class cursor */
	uint64_t reclaim_index;		/* the reclaimer's next page (over all arenas) */

	struct sl_sink sink;
	struct sl_clock clock;
	uint64_t seq;
};

struct sl_heap { struct mheap h; };

/* Do s's live bits tell which allocated slots the trace freed (gc policy,
 * not yet reclaimed)? Tiny blocks keep their own masks; the immediate
 * policy reclaims at once. */
static inline bool mspan_tracks_frees(const struct mheap *h, const struct mspan *s)
{
	return h->cfg.free_policy == SL_FREE_GC && s->spanclass != make_span_class(TINY_SIZE_CLASS, true);
}

/* Was the allocated slot idx freed by the trace, not yet reclaimed? */
static inline bool mspan_is_freed(const struct mheap *h, const struct mspan *s, uint32_t idx)
{
	return mspan_tracks_frees(h, s) && !bit_get(s->live_bits, idx);
}

/* The mcentral set of kind k (partial/full x swept/unswept) for s's class. */
static inline struct span_set *mcentral_set(struct mheap *h, span_class_t spc, enum sl_span_set k)
{
	struct mcentral *c = &h->central[spc];
	uint32_t i = (h->sweepgen / 2 % 2) ^ (k == SL_SET_PARTIAL_UNSWEPT || k == SL_SET_FULL_UNSWEPT);
	return k <= SL_SET_PARTIAL_UNSWEPT ? &c->partial[i] : &c->full[i];
}

/*
 * Move s to the place `to` (a set, a P's mcache, the heap) and report it
 * as move number `move` of Go's catalogue of span moves, M1-M12 (docs/
 * database.md, span_moves.move; 0 = the immediate policy's moves, not in Go). The one place span membership
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

/*
 * mcentral.cacheSpan's common case, inline in refill: no proportional
 * sweep is due (deductSweepCredit would do nothing) and a swept partial
 * span is waiting (M2). NULL: take the full mcentral_cache_span.
 */
static inline struct mspan *mcentral_cache_span_partial(struct mheap *h, struct mcentral *c)
{
	struct mspan *s = mcentral_partial_swept(h, c)->head;
	if (h->sweep_paced || s == NULL)
		return NULL;
	if (SL_UNLIKELY(s->alloc_count == s->nelems))
		sl_throw_no_free(s);
	mspan_cache(s);
	span_move_to(h, s, SL_SET_MCACHE, 2);
	return s;
}

/*
 * mcentral.uncacheSpan's common case, inline in refill: s still holds an
 * object and is not stale, so it only goes to a swept set. Else the full
 * mcentral_uncache_span.
 */
static inline void mcentral_uncache_span_inline(struct mheap *h, struct mcentral *c, struct mspan *s, int move)
{
	uint32_t sg = h->sweepgen;
	if (SL_UNLIKELY(s->alloc_count == 0 || s->sweepgen == sg + 1)) {
		mcentral_uncache_span(h, c, s, move);
		return;
	}
	s->sweepgen = sg;
	span_move_to(h, s, s->alloc_count < s->nelems ? SL_SET_PARTIAL_SWEPT : SL_SET_FULL_SWEPT, move);
}

/*
 * mcache.refill's common case as one inline, leaf sequence: no sink, no
 * proportional sweep due (refill_general), the P's span for spc is full
 * and not stale, or is the empty sentinel, and a swept partial span is
 * waiting. Then: the full span goes to full swept (M5), the partial one to
 * the P (M2), with the same counters as mcache_refill. Returns the new
 * span, or NULL with nothing changed when the case does not apply (the
 * caller then calls mcache_refill).
 */
static inline struct mspan *mcache_refill_fast(struct mheap *h, struct mcache *c, span_class_t spc)
{
	struct mcentral *central = &h->central[spc];
	struct mspan *old = c->alloc[spc];
	uint32_t sg = h->sweepgen, swept = sg / 2 % 2;
	struct span_set *ps = &central->partial[swept], *fs = &central->full[swept];
	struct mspan *s = ps->head;
	if (SL_UNLIKELY(s == NULL || old->sweepgen == sg + 1 || h->refill_general))
		return NULL;
	if (SL_UNLIKELY(s->alloc_count == s->nelems))
		sl_throw_no_free(s);
	if (SL_LIKELY(old != &empty_mspan)) {
		/* M5: the full span leaves the P for full swept */
		mspan_uncache_full(old);
		h->small_alloc_count[spc] += old->nelems - old->alloc_count_before_cache;
		old->sweepgen = sg;
		old->set = SL_SET_FULL_SWEPT;
		span_set_push(fs, old);
		h->span_moves++;
	}
	/* M2: the head of partial swept comes to the P */
	struct mspan *next = s->next;
	ps->head = next;
	if (next != NULL)
		next->prev = NULL;
	else
		ps->tail = NULL;
	ps->n--;
	s->next = NULL;
	s->in_set = NULL;
	mspan_cache(s);
	s->set = SL_SET_MCACHE;
	h->span_moves++;
	s->sweepgen = sg + 3;
	s->alloc_count_before_cache = s->alloc_count;
	h->heap_live += ((uint64_t)s->npages << h->page_shift) - (uint64_t)s->alloc_count * s->elemsize;
	c->alloc[spc] = s;
	h->refills++;
	h->refills_by_class[span_class_sizeclass(spc)]++;
	return s;
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
/* A spans-map entry as a span or NULL (free page). */
static inline struct mspan *span_entry(struct mspan *s)
{
	return s == &dead_mspan ? NULL : s;
}
/* spanOf: the in-use span owning p's page, or NULL. */
static inline struct mspan *span_of(const struct mheap *h, uintptr_t p)
{
	struct heap_arena *ha = arena_of(h, p);
	if (ha == NULL)
		return NULL;
	return span_entry(ha->spans[(p - ha->base) >> h->page_shift]);
}
struct mspan *span_of_heap(const struct mheap *h, uintptr_t p);
struct mspan *mcache_span_of(struct mcache *c, uintptr_t p);

struct mspan *mheap_alloc(struct mheap *h, struct sl_p *p, uint32_t npages, span_class_t spc);
void mheap_free_span(struct mheap *h, struct mspan *s);
struct mspan *mheap_alloc_span(struct mheap *h, struct sl_p *p, uint32_t npages, span_class_t spc);
static inline uint64_t heap_retained(const struct mheap *h) { return h->heap_inuse + h->heap_free; }

/* ---- sweep.c: sweeping (mgcsweep.go) ---------------------------------- */

/* move: the catalogue number of the span's move (unused if preserve). */
bool mspan_sweep(struct mheap *h, struct mspan *s, bool preserve, int move);
void sweep_acquire(struct mheap *h, struct mspan *s);
/* After any sweep: when no unswept span is left, sweeping is done (and the
 * post-sweep scavenger runs, outside a cycle). */
void sweep_check_done(struct mheap *h);
bool sweepone(struct mheap *h);
void sweep_finish(struct mheap *h);
uint64_t sweep_eager_marked(struct mheap *h);
void deduct_sweep_credit_slow(struct mheap *h, uint64_t span_bytes, uint32_t caller_pages);
void mheap_reclaim(struct mheap *h, uint32_t npages);
void sweep_pace(struct mheap *h);

/* deductSweepCredit's "nothing to do" test, inline. */
static inline void deduct_sweep_credit(struct mheap *h, uint64_t span_bytes, uint32_t caller_pages)
{
	if (SL_UNLIKELY(h->sweep_paced))
		deduct_sweep_credit_slow(h, span_bytes, caller_pages);
}

static inline void sweep_set_pace(struct mheap *h, double pages_per_byte)
{
	h->sweep_pages_per_byte = pages_per_byte;
	h->sweep_paced = pages_per_byte != 0;
	h->refill_general = h->sweep_paced || (SL_CONFIG_EVENTS && h->sink.emit != NULL);
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
uint32_t gc_mark_span(struct mheap *h, struct mspan *s, uint64_t *marked);
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
