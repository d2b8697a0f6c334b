/*
 * spanlab's allocator core: the front door (Go's malloc.go) and the
 * overview of the whole design.
 *
 * Structures (one file each; Go's names in snake case):
 *   sysmem.c    mem.go: None/Reserved/Prepared/Ready and their accounting
 *   arena.c     heapArena, mheap.sysAlloc, mheap.grow: arenas at Go's hints
 *   pagealloc.c pageAlloc: chunk bitmaps + summaries, address-ordered first
 *               fit, scavenged bits, highest-first scavenge search
 *   pagecache.c pageCache: a P's 64-page block for spans under 16 pages
 *   span.c      mspan: slots, free/mark/live bits, the 64-slot window
 *   spanset.c   spanSet: FIFO sets with explicit membership
 *   central.c   mcentral: partial/full x swept/unswept, cache/uncache/grow
 *   cache.c     mcache: per-P spans, refill, release_all, tiny, large
 *   heap.c      mheap: span alloc/free, the heap handle, config
 *   sweep.c     sweeping, sweepone, reclaim, proportional sweep
 *   gc.c        the simulated GC, the pacer, the immediate policy
 *   scavenge.c  the scavenger's goals and schedule
 *   stats.c     MemStats-style figures and the accounting identity
 *   check.c     the validators behind sl_heap_check
 *   fixalloc.c  off-heap metadata: persistent chunks, fixalloc, bitmaps
 *
 * Allocation (sl_malloc), each step amortising the next, slower one:
 *   1. size -> span class: one range test and one load from the P's copy
 *      of the class table (16..1024 bytes; larger small sizes take one
 *      more call).
 *   2. mcache hit: mspan_next_free_fast on the window p's span keeps on
 *      one 64-slot group: one test, one bsf, clear-lowest-bit, one store;
 *      then the requested size (by slot) and one P-local counter (by
 *      class). No lock, no event, no other store.
 *   3. next group: mspan_next_group moves the window to the span's next
 *      group with a free slot.
 *   4. refill (per span: ~nelems allocations): the full span goes back to
 *      its mcentral, which hands out a swept partial span, else sweeps an
 *      unswept one, else grows; refill counts the whole span in heap_live
 *      and then tests the GC trigger.
 *   5. grow (per span of pages): the P's page cache (per 64 pages), else
 *      first fit in the page heap, else mheap.grow maps another 4 MiB
 *      chunk (reserving a 64 MiB arena when the current one is used up).
 *   Tiny (< 16 B, noscan): packed into the P's current 16-byte block.
 *   Large (> max_small_size): a span of its own from step 5, straight to
 *   mcentral's full swept set.
 *
 * Free (sl_free) first validates the pointer cheaply in every build: an
 * arena of this heap, a page of an in-use span, a slot boundary, an
 * allocated slot, not already freed. Then:
 *   gc policy: clear the slot's live bit. Nothing else changes until the
 *     next simulated GC cycle (gc.c), which marks allocated & live,
 *     flips sweepgen, sweeps (eagerly, or lazily through cache_span,
 *     reclaim and proportional sweep), flushes every P, and then lets the
 *     scavenger return pages above its goal to the OS.
 *   immediate policy (ablation, not Go): the slot is the span's next free
 *     slot at once; an uncached span moves full -> partial -> heap.
 *
 * Type information: C traces have none. Requests under 16 B are tiny
 * (noscan, span class 5) when the tiny allocator is on; all others are
 * treated as pointer-bearing (span class size<<1|0). A 0-byte request is
 * served as a 1-byte one.
 */
#include "internal.h"

static const char *const free_result_names[] = {
#define X(name, text) text,
	SL_FREE_RESULTS(X)
#undef X
};

const char *sl_free_result_name(enum sl_free_result r)
{
	return (unsigned)r < SL_FREE_NRESULTS ? free_result_names[r] : "unknown";
}

/* Take the window's lowest free slot of s (there is one) for a small
 * object of n requested bytes (class cls). */
static inline void *take_small(struct mcache *c, struct mspan *s, uint32_t cls, size_t n)
{
	size_t bit = mspan_take(s);
	s->greq[bit] = (uint32_t)n;
	c->req_bytes[cls] += (int64_t)n;
	return (void *)(s->gaddr + (uintptr_t)bit * s->elemsize);
}

static SL_NOINLINE void *malloc_other(struct sl_p *p, size_t n, bool needzero);

/* malloc_small_slow's general half: next group or any refill, then the
 * GC trigger. */
static SL_NOINLINE void *malloc_small_refill(struct sl_p *p, span_class_t spc, size_t n)
{
	struct mcache *c = &p->mcache;
	struct mspan *s = mcache_next_free(p, spc);
	if (s == NULL)
		return NULL;
	void *v = take_small(c, s, spc >> 1, n);
	gc_maybe_start(c->heap);
	return v;
}

/* The GC trigger fired after a refill: start the cycle, return v. */
static SL_NOINLINE void *malloc_start_gc(struct mheap *h, void *v)
{
	gc_start_paced(h);
	return v;
}

/*
 * The small path past the fast path: for a span with one group, the common
 * refill (mcache_refill_fast) with no call; anything else (another group,
 * any other refill) tail-calls malloc_small_refill. Then the GC trigger.
 */
static SL_NOINLINE void *malloc_small_slow(struct sl_p *p, span_class_t spc, size_t n)
{
	struct mcache *c = &p->mcache;
	struct mheap *h = c->heap;
	if (spc == SPC_OTHER)
		return malloc_other(p, n, false);
	struct mspan *s = c->alloc[spc];
	if (s->cur + 1 < mspan_words(s) || (s = mcache_refill_fast(h, c, spc)) == NULL)
		return malloc_small_refill(p, spc, n);
	void *v = take_small(c, s, spc >> 1, n);
	if (SL_UNLIKELY(h->heap_live >= h->trigger))
		return malloc_start_gc(h, v);
	return v;
}

/* Everything that is not a non-tiny small request of up to 1024 bytes. */
static SL_NOINLINE void *malloc_other(struct sl_p *p, size_t n, bool needzero)
{
	struct mheap *h = p->mcache.heap;
	if (n == 0)
		n = 1;
	if (n < TINY_SIZE && h->cfg.tiny)
		return mcache_alloc_tiny(p, n);
	if (n <= h->sc->max_small_size) {
		uint32_t cls = sl_size_to_class(h->sc, n);
		struct mspan *s = p->mcache.alloc[make_span_class(cls, false)];
		if (s->alloc_mask == 0)
			return malloc_small_slow(p, make_span_class(cls, false), n);
		return take_small(&p->mcache, s, cls, n);
	}
	return mcache_alloc_large(p, n, needzero);
}

/*
 * sl_malloc. The mcache hit for up to 1024 bytes: one range test, one table
 * load for the span class, the span, then mspan_next_free_fast (one test,
 * one bsf, clear-lowest-bit, one store), the requested-size word and one
 * P-local counter. No event, no lock; every miss goes to a slow path.
 */
void *sl_malloc(struct sl_p *p, size_t n)
{
	struct mcache *c = &p->mcache;
	if (SL_UNLIKELY(n > SL_SMALL_SIZE_MAX))
		return malloc_other(p, n, false);
	size_t spc = c->size_to_spc[n];
	struct mspan *s = c->alloc[spc];
	size_t bit;
	if (SL_UNLIKELY(!mspan_next_free_fast(s, &bit)))
		return malloc_small_slow(p, (span_class_t)spc, n);
	s->greq[bit] = (uint32_t)n;
	/* req_bytes[spc / 2]: spc is a scan class here (even), so its byte
	 * offset is spc * 4, which the addressing mode scales for free */
	*(int64_t *)((char *)c->req_bytes + spc * (sizeof c->req_bytes[0] / 2)) += (int64_t)n;
	return (void *)(s->gaddr + (uintptr_t)bit * s->elemsize);
}

/* calloc: only memory that may be dirty is cleared (Go's needzero). */
void *sl_calloc(struct sl_p *p, size_t n, size_t m)
{
	size_t size;
	if (__builtin_mul_overflow(n, m, &size))
		return NULL;
	struct mheap *h = p->mcache.heap;
	if (size > h->sc->max_small_size)
		return mcache_alloc_large(p, size, true);
	void *v = sl_malloc(p, size);
	if (v == NULL || size == 0)
		return v;
	struct mspan *s = span_of(h, (uintptr_t)v);
	if (s->spanclass == make_span_class(TINY_SIZE_CLASS, true))
		return v;	/* tiny blocks are cleared when made, offsets never reused */
	if (s->needzero)
		memset(v, 0, size);
	return v;
}

/* Which P's current tiny block is `block`? */
static bool tiny_is_current(const struct mheap *h, uintptr_t block)
{
	for (int i = 0; i < h->cfg.nprocs; i++)
		if (h->ps[i].mcache.tiny == block)
			return true;
	return false;
}

/* Size of the live tiny sub-object starting at offset o of mask m. */
static inline uint32_t tiny_size_at(uint32_t m, uint32_t o)
{
	uint32_t ends = (m >> 16) & ~(((uint32_t)1 << o) - 1);
	return (uint32_t)__builtin_ctz(ends) - o + 1;
}

/* Is offset o inside a live sub-object of mask m, past its start? The
 * nearest live start below o owns o if its object reaches o. */
static bool tiny_inside_live(uint32_t m, uint32_t o)
{
	uint32_t below = m & 0xffff & (((uint32_t)1 << o) - 1);
	if (below == 0)
		return false;
	uint32_t start = 31 - (uint32_t)__builtin_clz(below);
	return start + tiny_size_at(m, start) > o;
}

static SL_NOINLINE enum sl_free_result free_tiny(struct sl_p *p, struct mspan *s, uint32_t idx, uint32_t o)
{
	struct mheap *h = p->mcache.heap;
	struct mcache *c = &p->mcache;
	if (!mspan_is_allocated(s, idx))
		return SL_FREE_NOT_ALLOCATED;
	uint32_t m = s->reqsize[idx];
	if (!(m >> o & 1))
		return tiny_inside_live(m, o) ? SL_FREE_INTERIOR : SL_FREE_TINY_NOT_LIVE;
	uint32_t size = tiny_size_at(m, o);
	m &= ~((uint32_t)1 << o | (uint32_t)1 << (16 + o + size - 1));
	s->reqsize[idx] = m;
	c->tiny_req_bytes -= size;
	c->tiny_live_objects--;
	if (m != 0)
		return SL_FREE_OK;
	c->tiny_live_blocks--;
	uintptr_t block = s->base + (uintptr_t)idx * TINY_SIZE;
	if (h->cfg.free_policy == SL_FREE_IMMEDIATE && !tiny_is_current(h, block))
		return free_immediate(h, p, s, idx);
	return SL_FREE_OK;
}

/* Why ptr is not an object of this heap. */
static SL_NOINLINE enum sl_free_result free_bad(struct mheap *h, uintptr_t a, enum sl_free_result r)
{
	if (r == SL_FREE_NOT_IN_USE && arena_of(h, a) == NULL)
		r = SL_FREE_FOREIGN;
	h->bad_frees++;
	return r;
}

/* sl_free's less common half: large objects and the gc policy's objects
 * in cached spans (the checks are done). */
static SL_NOINLINE enum sl_free_result free_other(struct sl_p *p, struct mspan *s, uint32_t idx, uintptr_t off)
{
	struct mcache *c = &p->mcache;
	struct mheap *h = c->heap;
	uint32_t cls = s->spanclass >> 1;
	int64_t req;
	if (cls != 0) {
		req = (int64_t)s->reqsize[idx];
	} else {
		if (off != s->large_off)
			return free_bad(h, s->base + off, SL_FREE_INTERIOR);
		req = (int64_t)s->large_req;
		h->large_live_objs--;
		h->large_live_bytes -= (uint64_t)s->npages << h->page_shift;
	}
	if (h->cfg.free_policy == SL_FREE_GC)
		bit_clear(s->live_bits, idx);
	else
		free_immediate(h, p, s, idx);
	c->req_bytes[cls] -= req;
	c->trace_frees[cls]++;
	return SL_FREE_OK;
}

/*
 * The immediate policy's free of a small, non-tiny, allocated slot (the
 * checks are done): the slot becomes free at once (mspan_free_slot).
 */
static SL_NOINLINE enum sl_free_result free_small_immediate(struct mcache *c, struct mspan *s, uint32_t idx)
{
	uint32_t cls = s->spanclass >> 1;
	c->req_bytes[cls] -= s->reqsize[idx];
	c->trace_frees[cls]++;
	struct mheap *h = c->heap;
	h->immediate_frees++;
	mspan_free_slot(s, idx);
	s->mark_bits[idx / 64] &= ~((uint64_t)1 << (idx % 64));
	s->needzero = true;
	h->small_free_count[s->spanclass]++;
	if (s->set == SL_SET_MCACHE)
		s->alloc_count_before_cache--;
	else if (SL_UNLIKELY(--s->alloc_count == 0 || s->set == SL_SET_FULL_SWEPT))
		free_immediate_move(h, s);
	return SL_FREE_OK;
}

/* sl_free's careful path: every case the fast path hands over. */
static SL_NOINLINE enum sl_free_result free_slow(struct sl_p *p, void *ptr)
{
	struct mcache *c = &p->mcache;
	struct mheap *h = c->heap;
	uintptr_t a = (uintptr_t)ptr;
	if (a == 0)
		return SL_FREE_NULL_PTR;
	uintptr_t aoff = a - c->arena_base;
	struct mspan *s = aoff < c->arena_bytes ? span_entry(c->arena_spans[aoff >> c->page_shift])
		: mcache_span_of(c, a);
	if (s == NULL)
		return free_bad(h, a, SL_FREE_NOT_IN_USE);
	uintptr_t off = a - s->base;
	uint32_t idx = sl_divide_by_elemsize(s->divmul, off);
	if (s->spanclass == c->tiny_spc) {
		enum sl_free_result r = free_tiny(p, s, idx, (uint32_t)(off - (uintptr_t)idx * TINY_SIZE));
		return r == SL_FREE_OK ? r : free_bad(h, a, r);
	}
	if (off != (uintptr_t)idx * s->elemsize && span_class_sizeclass(s->spanclass) != 0)
		return free_bad(h, a, SL_FREE_INTERIOR);
	if (!mspan_is_allocated(s, idx))
		return free_bad(h, a, SL_FREE_NOT_ALLOCATED);
	if (mspan_is_freed(h, s, idx))
		return free_bad(h, a, SL_FREE_DOUBLE_FREE);
	if (c->immediate && span_class_sizeclass(s->spanclass) != 0)
		return free_small_immediate(c, s, idx);
	return free_other(p, s, idx, off);
}

/*
 * Off sl_free's gc fast path (s is not NULL; q is the division-magic
 * product of ptr's offset): the gc policy's objects in a span a P caches
 * (allocated: below the window's group, or not free in the window or in
 * free_bits above it; then the live bit as on the fast path), the
 * immediate policy's small objects; else the careful path.
 */
static SL_NOINLINE enum sl_free_result free_not_gc(struct sl_p *p, void *ptr, struct mspan *s, uint64_t q)
{
	struct mcache *c = &p->mcache;
	size_t idx = (size_t)(q >> 32), w = idx / 64;
	if ((uint32_t)q >= s->divmul || idx >= s->nelems)	/* not a slot boundary, or large */
		return free_slow(p, ptr);
	if (s->free_path == FREE_PATH_GC && s->set == SL_SET_MCACHE) {
		uint64_t fw = w == s->cur ? s->alloc_mask : s->free_bits[w];
		if ((fw >> (idx % 64) & 1) || !sl_bitmap_test_clear(s->live_bits, idx))
			return free_slow(p, ptr);
		size_t off = s->class_off;
		*(int64_t *)((char *)c->req_bytes + off) -= s->reqsize[idx];
		*(uint64_t *)((char *)c->trace_frees + off) += 1;
		return SL_FREE_OK;
	}
	if (s->free_path == FREE_PATH_IMMEDIATE && mspan_is_allocated(s, (uint32_t)idx))
		return free_small_immediate(c, s, (uint32_t)idx);
	return free_slow(p, ptr);
}

/*
 * sl_free. Validation stays on in every build; misuse returns an error and
 * leaves the heap as it was. The fast path (gc policy, small non-tiny
 * object in a span no P caches, arena cache hit) is a straight line: arena
 * cache (one subtract, one compare), spans map, one multiply by the
 * division magic whose low half says "slot boundary and fast path" (one
 * compare against fast_lim) and whose high half is the slot index, then
 * one live bit tested and cleared ("allocated and not yet freed") and two
 * P-local counters. Everything else goes to free_not_gc / free_slow.
 */
enum sl_free_result sl_free(struct sl_p *p, void *ptr)
{
	struct mcache *c = &p->mcache;
	uintptr_t a = (uintptr_t)ptr, aoff = a - c->arena_base;
	if (SL_UNLIKELY(aoff >= c->arena_bytes))
		return free_slow(p, ptr);
	struct mspan *s = c->arena_spans[aoff >> c->page_shift];	/* never NULL */
	uint64_t q = (uint64_t)(a - s->base) * s->divmul;
	if (SL_UNLIKELY((uint32_t)q >= s->fast_lim))
		return free_not_gc(p, ptr, s, q);
	size_t idx = (size_t)(q >> 32);
	if (SL_UNLIKELY(!sl_bitmap_test_clear(s->live_bits, idx)))
		return free_slow(p, ptr);
	/* req_bytes[cls] and trace_frees[cls], at the class's byte offset */
	size_t off = s->class_off;
	*(int64_t *)((char *)c->req_bytes + off) -= s->reqsize[idx];
	*(uint64_t *)((char *)c->trace_frees + off) += 1;
	return SL_FREE_OK;
}

/*
 * The live object at ptr: its span and slot, and the sub-object offset
 * for tiny blocks. false if ptr is not one.
 */
static bool find_object(struct mheap *h, uintptr_t a, struct mspan **sp, uint32_t *idxp, uint32_t *op)
{
	struct mspan *s = span_of(h, a);
	if (s == NULL)
		return false;
	uintptr_t off = a - s->base;
	uint32_t idx = sl_divide_by_elemsize(s->divmul, off);
	uint32_t o = (uint32_t)(off - (uintptr_t)idx * s->elemsize);
	bool tiny = s->spanclass == make_span_class(TINY_SIZE_CLASS, true);
	if (!mspan_is_allocated(s, idx))
		return false;
	if (tiny) {
		if (!(s->reqsize[idx] >> o & 1))
			return false;
	} else if (span_class_sizeclass(s->spanclass) == 0) {
		if (off != s->large_off || mspan_is_freed(h, s, 0))
			return false;
	} else if (o != 0 || mspan_is_freed(h, s, idx)) {
		return false;
	}
	*sp = s;
	*idxp = idx;
	*op = o;
	return true;
}

size_t sl_usable_size(struct sl_heap *hp, const void *ptr)
{
	struct mheap *h = &hp->h;
	struct mspan *s;
	uint32_t idx, o;
	if (ptr == NULL || !find_object(h, (uintptr_t)ptr, &s, &idx, &o))
		return 0;
	if (s->spanclass == make_span_class(TINY_SIZE_CLASS, true))
		return tiny_size_at(s->reqsize[idx], o);
	if (span_class_sizeclass(s->spanclass) == 0)
		return ((size_t)s->npages << h->page_shift) - s->large_off;
	return s->elemsize;
}

int sl_size_class_of(struct sl_heap *hp, const void *ptr)
{
	struct mspan *s;
	uint32_t idx, o;
	if (ptr == NULL || !find_object(&hp->h, (uintptr_t)ptr, &s, &idx, &o))
		return -1;
	return (int)span_class_sizeclass(s->spanclass);
}

/*
 * realloc (Go has none): in place when n fits the object's slot (its
 * requested size is updated; a tiny sub-object also needs the alignment a
 * fresh n-byte tiny object would get), else allocate, copy the old requested
 * bytes, free. realloc(NULL, n) = malloc(n); realloc(ptr, 0) frees ptr and
 * returns NULL (glibc's behaviour). An invalid ptr returns NULL and
 * changes nothing.
 */
void *sl_realloc(struct sl_p *p, void *ptr, size_t n)
{
	struct mcache *c = &p->mcache;
	struct mheap *h = c->heap;
	if (ptr == NULL)
		return sl_malloc(p, n);
	struct mspan *s;
	uint32_t idx, o;
	if (!find_object(h, (uintptr_t)ptr, &s, &idx, &o))
		return NULL;
	if (n == 0) {
		sl_free(p, ptr);
		return NULL;
	}
	uint32_t cls = span_class_sizeclass(s->spanclass);
	size_t old;
	if (s->spanclass == make_span_class(TINY_SIZE_CLASS, true)) {
		old = tiny_size_at(s->reqsize[idx], o);
		size_t al = (n & 7) == 0 ? 8 : (n & 3) == 0 ? 4 : (n & 1) == 0 ? 2 : 1;
		if (n <= old && ((uintptr_t)ptr & (al - 1)) == 0) {
			s->reqsize[idx] &= ~((uint32_t)1 << (16 + o + old - 1));
			s->reqsize[idx] |= (uint32_t)1 << (16 + o + n - 1);
			c->tiny_req_bytes -= (int64_t)(old - n);
			return ptr;
		}
	} else if (cls == 0) {
		old = s->large_req;
		if (n <= ((size_t)s->npages << h->page_shift) - s->large_off) {
			c->req_bytes[0] += (int64_t)n - (int64_t)old;
			s->large_req = n;
			return ptr;
		}
	} else {
		old = s->reqsize[idx];
		if (n <= s->elemsize) {
			c->req_bytes[cls] += (int64_t)n - (int64_t)old;
			s->reqsize[idx] = (uint32_t)n;
			return ptr;
		}
	}
	void *v = sl_malloc(p, n);
	if (v == NULL)
		return NULL;
	memcpy(v, ptr, old < n ? old : n);
	sl_free(p, ptr);
	return v;
}

/*
 * Aligned allocation. Every slot of a class whose size is a multiple of
 * align is aligned to it (spans are page aligned), so a small request
 * takes the smallest class >= n with that property (never the tiny
 * allocator); a large one, or an alignment above the page size, gets a
 * large span of n + align - page_size bytes with the object at the first
 * aligned address (large_off). align must be a power of two.
 */
void *sl_aligned_alloc(struct sl_p *p, size_t align, size_t n, enum sl_align_err *err)
{
	struct mheap *h = p->mcache.heap;
	enum sl_align_err dummy;
	if (err == NULL)
		err = &dummy;
	*err = SL_ALIGN_OK;
	if (align == 0 || (align & (align - 1)) != 0) {
		*err = SL_ALIGN_NOT_POWER_OF_TWO;
		return NULL;
	}
	if (n == 0)
		n = 1;
	if (align <= 8 && (n >= TINY_SIZE || !h->cfg.tiny))
		return sl_malloc(p, n);	/* every slot is 8-aligned */
	void *v = NULL;
	if (align <= h->page_size && n <= h->sc->max_small_size) {
		uint32_t cls = sl_size_to_class(h->sc, n < TINY_SIZE ? TINY_SIZE : n);
		while (cls < h->sc->nclasses && h->sc->class_to_size[cls] % align != 0)
			cls++;
		if (cls < h->sc->nclasses) {
			span_class_t spc = make_span_class(cls, false);
			struct mspan *s = p->mcache.alloc[spc];
			if (s->alloc_mask != 0)
				v = take_small(&p->mcache, s, cls, n);
			else
				v = malloc_small_slow(p, spc, n);
			if (v == NULL)
				*err = SL_ALIGN_NOMEM;
			return v;
		}
	}
	size_t extra = align > h->page_size ? align - h->page_size : 0;
	if (n + extra < n) {
		*err = SL_ALIGN_NOMEM;
		return NULL;
	}
	v = mcache_alloc_large(p, n + extra, false);
	if (v == NULL) {
		*err = SL_ALIGN_NOMEM;
		return NULL;
	}
	struct mspan *s = span_of(h, (uintptr_t)v);
	uintptr_t a = ((uintptr_t)v + align - 1) & ~(uintptr_t)(align - 1);
	s->large_off = a - s->base;
	p->mcache.req_bytes[0] -= (int64_t)(n + extra - n);
	s->large_req = n;
	return (void *)a;
}
