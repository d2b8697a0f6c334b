/*
 * Per-P caches: Go's mcache (mcache.go) and the tiny and large paths of
 * mallocgc (malloc.go).
 *
 * A P allocates small objects from alloc[spc], one span per span class,
 * with no lock and no event (mspan_next_free_fast). When that span is
 * full, refill hands it back to its mcentral (uncache_span) and caches a
 * span with free slots (cache_span). Each alloc[spc] starts at the
 * read-only empty_mspan (no free slot), so the first allocation of a class
 * lands in refill without an "initialised?" test on the fast path.
 *
 * Counters. The fast path bumps only P-local fields (req_bytes and, on
 * free, trace_frees, by size class); it does not even count the span's
 * allocations: a cached span's allocCount is derived from its window
 * (mspan_alloc_count). Slot allocation counts are derived as Go does:
 * allocCount - alloc_count_before_cache, flushed at refill / release_all.
 * heap_live
 * (the pacer's input) counts a refilled span's free slots as allocated at
 * once, and release_all takes back the unused ones, as in Go.
 *
 * Tiny allocator (mallocgc's tiny path): requests under 16 bytes are
 * packed into the current 16-byte block (span class 5, noscan) at an
 * offset aligned by the request's size (8 if a multiple of 8, else 4,
 * else 2); if it does not fit, a new block is allocated and becomes
 * current only if it leaves more room than the old one. Every sub-object
 * is recorded in its block's masks (start bit, end bit), so a free is
 * validated and the block dies when its last sub-object does (gc policy:
 * at the next mark; immediate: at once, unless it is still the current
 * block). release_all drops the current block, as Go does at every GC.
 *
 * Large objects (> max_small_size): a span of their own, class 0, pushed
 * on full swept so the sweeper sees it (M10).
 */
#include "internal.h"

void mcache_init(struct mheap *h, struct sl_p *p)
{
	struct mcache *c = &p->mcache;
	for (uint32_t i = 0; i < 2 * SL_MAX_CLASSES; i++)
		c->alloc[i] = (struct mspan *)&empty_mspan;
	/* n -> span class for n <= 1024: one load on sl_malloc's path instead
	 * of a rounding and a load (Go's size_to_class8). SPC_OTHER sends 0,
	 * the tiny allocator's sizes and sizes above max_small_size to
	 * malloc_other. */
	for (uint32_t n = 0; n <= SL_SMALL_SIZE_MAX; n++)
		c->size_to_spc[n] = n == 0 || (h->cfg.tiny && n < TINY_SIZE) || n > h->sc->max_small_size
			? SPC_OTHER : make_span_class(sl_size_to_class(h->sc, n), false);
	c->heap = h;
	c->page_shift = h->page_shift;
	c->tiny_spc = h->cfg.tiny ? make_span_class(TINY_SIZE_CLASS, true) : 0xffff;
	c->immediate = h->cfg.free_policy == SL_FREE_IMMEDIATE;
}

/*
 * span_of through the P's one-entry arena cache: sl_free's lookup is one
 * subtract, one compare and two loads while frees stay in the grown part
 * of the arena they hit last (a replay's heap usually fits in one). A miss
 * looks the arena up in the arena map and caches it, with its grown bytes
 * as they are now (a cache made before the arena grew only sends frees
 * above its old end here).
 */
struct mspan *mcache_span_of(struct mcache *c, uintptr_t p)
{
	struct heap_arena *ha = arena_of(c->heap, p);
	if (ha == NULL)
		return NULL;
	c->arena_base = ha->base;
	c->arena_bytes = ha->mapped;	/* no NULL entry below (heap_arena) */
	c->arena_spans = ha->spans;
	return span_entry(ha->spans[(p - ha->base) >> c->page_shift]);
}

static void flush_span_counts(struct mheap *h, struct mspan *s)
{
	h->small_alloc_count[s->spanclass] += (uint32_t)(s->alloc_count - s->alloc_count_before_cache);
}

static void flush_p_class(struct mheap *h, struct mcache *c, uint32_t cls)
{
	h->req_bytes[cls] += c->req_bytes[cls];
	c->req_bytes[cls] = 0;
	h->trace_frees[cls] += c->trace_frees[cls];
	c->trace_frees[cls] = 0;
}

static void flush_p_tiny(struct mheap *h, struct mcache *c)
{
	h->tiny_allocs += c->tiny_allocs;
	h->tiny_req_bytes += c->tiny_req_bytes;
	h->tiny_live_objects += c->tiny_live_objects;
	h->tiny_live_blocks += c->tiny_live_blocks;
	h->large_req_bytes += c->large_req_bytes;
	c->tiny_allocs = 0;
	c->tiny_req_bytes = c->tiny_live_objects = c->tiny_live_blocks = c->large_req_bytes = 0;
}

static SL_NOINLINE void refill_emit(struct mheap *h, struct sl_p *p, span_class_t spc, struct mspan *s,
				     enum sl_refill_source src)
{
	SL_EMIT(h, REFILL, refill, .p = p->id, .spc = spc, .source = src,
		.free_slots = s->nelems - s->alloc_count, .span_base = (int64_t)s->base,
		.npages = s->npages);
}

/*
 * mcache.refill: alloc[spc] is full; replace it with a span that has a
 * free slot and return it, or NULL on out of memory (alloc[spc] is then
 * the empty sentinel). The common case (the full span goes to full swept,
 * M5; a swept partial span comes back, M2) is inline: about 120
 * instructions, once per ~14 allocations in the core benchmark.
 */
struct mspan *mcache_refill(struct mheap *h, struct sl_p *p, span_class_t spc)
{
	struct mcache *c = &p->mcache;
	struct mcentral *central = &h->central[spc];
	struct mspan *s = c->alloc[spc];
	if (s != &empty_mspan) {
		mspan_uncache_full(s);
		flush_span_counts(h, s);
		c->alloc[spc] = (struct mspan *)&empty_mspan;
		mcentral_uncache_span_inline(h, central, s, 5);
	}
	enum sl_refill_source src = SL_REFILL_PARTIAL_SWEPT;
	s = mcentral_cache_span_partial(h, central);
	if (s == NULL && (s = mcentral_cache_span(h, central, p, &src)) == NULL)
		return NULL;
	s->sweepgen = h->sweepgen + 3;
	s->alloc_count_before_cache = s->alloc_count;
	h->heap_live += ((uint64_t)s->npages << h->page_shift) - (uint64_t)s->alloc_count * s->elemsize;
	c->alloc[spc] = s;
	h->refills++;
	h->refills_by_class[span_class_sizeclass(spc)]++;
	if (src == SL_REFILL_GROW)
		h->refills_by_grow++;
	if (SL_CONFIG_EVENTS && SL_UNLIKELY(h->sink.emit != NULL))
		refill_emit(h, p, spc, s, src);
	return s;
}

/*
 * nextFree: the slow half of a small allocation, when alloc[spc]'s window
 * is used up. Moves the window to the span's next group with a free slot,
 * else refills. Returns the span (its window has a free slot), or NULL
 * when the heap is out of memory. The caller takes the slot, records the
 * object and then tests the GC trigger (gc_maybe_start), as mallocgc does
 * when shouldhelpgc is set.
 */
struct mspan *mcache_next_free(struct sl_p *p, span_class_t spc)
{
	struct mspan *s = p->mcache.alloc[spc];
	if (mspan_next_group(s))
		return s;
	return mcache_refill(p->mcache.heap, p, spc);
}

/* Tiny block masks: bit o of the low half = a live sub-object starts at
 * offset o; bit o of the high half = one ends at offset o. */
static inline uint32_t tiny_mask(uint32_t off, uint32_t n)
{
	return (uint32_t)1 << off | (uint32_t)1 << (16 + off + n - 1);
}

/* The current block stops being current; in the immediate policy a block
 * whose sub-objects are all freed dies now. */
void mcache_tiny_drop(struct mheap *h, struct sl_p *p)
{
	struct mcache *c = &p->mcache;
	uintptr_t old = c->tiny;
	uint32_t *meta = c->tiny_meta;
	c->tiny = 0;
	c->tinyoffset = 0;
	c->tiny_meta = NULL;
	if (old != 0 && *meta == 0 && h->cfg.free_policy == SL_FREE_IMMEDIATE) {
		struct mspan *s = span_of(h, old);
		free_immediate(h, p, s, mspan_obj_index(s, old));
	}
}

void *mcache_alloc_tiny(struct sl_p *p, size_t n)
{
	struct mcache *c = &p->mcache;
	uint32_t off = c->tinyoffset, size = (uint32_t)n;
	if ((size & 7) == 0)
		off = (off + 7) & ~7u;
	else if ((size & 3) == 0)
		off = (off + 3) & ~3u;
	else if ((size & 1) == 0)
		off = (off + 1) & ~1u;
	if (off + size <= TINY_SIZE && c->tiny != 0) {
		void *x = (void *)(c->tiny + off);
		if (*c->tiny_meta == 0)
			c->tiny_live_blocks++;
		*c->tiny_meta |= tiny_mask(off, size);
		c->tinyoffset = off + size;
		c->tiny_allocs++;
		c->tiny_req_bytes += size;
		c->tiny_live_objects++;
		return x;
	}
	span_class_t spc = make_span_class(TINY_SIZE_CLASS, true);
	struct mspan *s = c->alloc[spc];
	size_t bit;
	bool slow = false;
	if (!mspan_next_free_fast(s, &bit)) {
		if ((s = mcache_next_free(p, spc)) == NULL)
			return NULL;
		bit = mspan_take(s);
		slow = true;
	}
	void *v = (void *)(s->gaddr + (uintptr_t)bit * TINY_SIZE);
	((uint64_t *)v)[0] = 0;
	((uint64_t *)v)[1] = 0;
	uint32_t *meta = &s->greq[bit];	/* before a tiny drop can move the window */
	*meta = tiny_mask(0, size);
	c->tiny_live_blocks++;
	c->tiny_req_bytes += size;
	c->tiny_live_objects++;
	if (size < c->tinyoffset || c->tiny == 0) {
		if (c->tiny != 0)
			mcache_tiny_drop(c->heap, p);
		c->tiny = (uintptr_t)v;
		c->tinyoffset = size;
		c->tiny_meta = meta;
	}
	if (slow)
		gc_maybe_start(c->heap);
	return v;
}

/* mcache.allocLarge + mallocgc's large branch. */
void *mcache_alloc_large(struct sl_p *p, size_t n, bool needzero)
{
	struct mheap *h = p->mcache.heap;
	uint64_t npages = (n + h->page_size - 1) >> h->page_shift;
	if (n > ((uint64_t)1 << HEAP_ADDR_BITS) || npages > UINT32_MAX / 2)
		return NULL;
	deduct_sweep_credit(h, npages << h->page_shift, (uint32_t)npages);
	struct mspan *s = mheap_alloc(h, p, (uint32_t)npages, make_span_class(0, false));
	if (s == NULL)
		return NULL;
	h->large_alloc += npages << h->page_shift;
	h->large_alloc_count++;
	h->large_live_count++;
	h->large_live_objs++;
	h->large_live_bytes += npages << h->page_shift;
	h->heap_live += npages << h->page_shift;
	s->large_req = n;
	s->alloc_count = 1;		/* free_bits[0] is 0: the slot is taken */
	if (h->cfg.free_policy == SL_FREE_GC)
		s->live_bits[0] = 1;
	p->mcache.req_bytes[0] += (int64_t)n;
	span_move_to(h, s, SL_SET_FULL_SWEPT, 10);
	if (needzero && s->needzero)
		memset((void *)s->base, 0, n);
	gc_maybe_start(h);
	return (void *)s->base;
}

/*
 * mcache.releaseAll: hand every cached span back (stale ones are swept on
 * the way), drop the tiny block and flush every P counter.
 */
void mcache_release_all(struct mheap *h, struct sl_p *p)
{
	struct mcache *c = &p->mcache;
	mcache_tiny_drop(h, p);
	for (uint32_t spc = 0; spc < h->nspc; spc++) {
		struct mspan *s = c->alloc[spc];
		if (s == &empty_mspan)
			continue;
		mspan_uncache(h, s);
		flush_span_counts(h, s);
		if (s->sweepgen != h->sweepgen + 1)
			h->heap_live -= (uint64_t)(s->nelems - s->alloc_count) * s->elemsize;
		c->alloc[spc] = (struct mspan *)&empty_mspan;
		mcentral_uncache_span(h, &h->central[spc], s, 6);
	}
	for (uint32_t cls = 0; cls < h->sc->nclasses; cls++)
		flush_p_class(h, c, cls);
	flush_p_tiny(h, c);
}
