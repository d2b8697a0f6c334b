/*
 * Sweeping: Go's mgcsweep.go (sweepLocked.sweep, sweepone, the page
 * reclaimer, proportional sweep) and gcPaceSweeper (mgcpacer.go).
 *
 * Sweeping a span applies the last mark: free_bits := ~mark_bits,
 * live_bits &= mark_bits, alloc_count := marked slots. Unmarked slots become free
 * (small_free_count), and a span the sweep leaves with nothing allocated
 * goes back to the page heap. With preserve (cache_span sweeping a span it
 * is about to hand to a P) the span stays where the caller puts it;
 * otherwise the sweep files it: heap, full swept or partial swept.
 *
 * Who sweeps (gc policy):
 *   eager (default, the deterministic reference; Go with
 *         GODEBUG=gcstoptheworld=2): gc_cycle sweeps every span right
 *         after the flip, in sweepone order;
 *   lazy  spans are swept on demand: cache_span (M3/M4), the reclaimer
 *         before a page allocation (M9: in-use spans with no marked
 *         object, found through page_in_use &~ page_marks, a 512-page
 *         chunk at a time; pages any sweepone frees are its credit), proportional
 *         sweep before each refill and large allocation
 *         (deduct_sweep_credit: enough pages to finish by the next
 *         trigger), and uncache of stale spans (M7). The next cycle
 *         finishes whatever is left (finishsweep_m).
 * sweepone visits sweep classes in Go's order: span class 0 full, 0
 * partial, 1 full, ... with a cursor that only moves forward in a cycle.
 * When the last unswept span is swept, the post-GC scavenger runs.
 */
#include "internal.h"

/* sweepLocker.tryAcquire: s sits in an unswept set or is found by the
 * reclaimer; claim it (sweepgen sg-2 -> sg-1). */
void sweep_acquire(struct mheap *h, struct mspan *s)
{
	if (s->sweepgen != h->sweepgen - 2)
		sl_throw("sweeping span %#lx with sweepgen %u (heap %u)",
			 (unsigned long)s->base, s->sweepgen, h->sweepgen);
	s->sweepgen = h->sweepgen - 1;
	if (h->nunswept == 0)
		sl_throw("unswept span count underflow");
	h->nunswept--;
}

void sweep_check_done(struct mheap *h)
{
	if (h->nunswept == 0 && !h->sweep_done) {
		h->sweep_done = true;
		sweep_set_pace(h, 0);
		if (!h->in_gc)
			scavenge_after_sweep(h);
	}
}

/*
 * The second half of sweepLocked.sweep: the bitmaps already say what the
 * mark kept (nalloc slots); count what was freed and file the span, as
 * move `move` of Go's catalogue (7 a stale span from a P, 8 sweepone and
 * the eager sweep, 9 the reclaimer; a large span's is 11 whoever sweeps).
 * Returns true if the span went back to the heap.
 */
static bool sweep_apply(struct mheap *h, struct mspan *s, uint32_t nalloc, bool preserve, int move)
{
	if (nalloc > s->alloc_count)
		sl_throw("span %#lx: %u marked > %u allocated", (unsigned long)s->base, nalloc, s->alloc_count);
	uint32_t nfreed = s->alloc_count - nalloc;
	s->alloc_count = nalloc;
	s->sweepgen = h->sweepgen;
	h->pages_swept += s->npages;
	h->spans_swept++;
	h->objects_swept_free += nfreed;
	bool large = span_class_sizeclass(s->spanclass) == 0;
	if (!large) {
		h->bytes_swept_free += (uint64_t)nfreed * s->elemsize;
		if (nfreed > 0) {
			s->needzero = true;
			h->small_free_count[s->spanclass] += nfreed;
		}
		if (!preserve) {
			if (nalloc == 0) {
				span_move_to(h, s, SL_SET_HEAP, move);
				mheap_free_span(h, s);
				return true;
			}
			span_move_to(h, s, nalloc == s->nelems ? SL_SET_FULL_SWEPT : SL_SET_PARTIAL_SWEPT, move);
		}
		return false;
	}
	if (nfreed > 0) {
		h->bytes_swept_free += (uint64_t)s->npages << h->page_shift;
		h->large_free += (uint64_t)s->npages << h->page_shift;
		h->large_free_count++;
		h->large_live_count--;
	}
	if (!preserve) {
		if (nfreed > 0) {
			span_move_to(h, s, SL_SET_HEAP, 11);
			mheap_free_span(h, s);
			return true;
		}
		span_move_to(h, s, SL_SET_FULL_SWEPT, 11);
	}
	return false;
}

static void sweep_check_state(struct mheap *h, struct mspan *s)
{
	if (s->state != MSPAN_IN_USE || s->sweepgen != h->sweepgen - 1)
		sl_throw("sweep of span %#lx in state %u sweepgen %u (heap %u)",
			 (unsigned long)s->base, s->state, s->sweepgen, h->sweepgen);
}

/*
 * sweepLocked.sweep. Precondition: s->sweepgen == sg - 1 (acquired).
 * Returns true if the span went back to the heap.
 */
bool mspan_sweep(struct mheap *h, struct mspan *s, bool preserve, int move)
{
	sweep_check_state(h, s);
	/* one pass: count marks, free what is not marked (allocBits =
	 * gcmarkBits), keep live bits only on survivors (an object freed after
	 * the mark stays allocated and dead until the next cycle) */
	uint32_t nalloc = 0, nw = mspan_words(s);
	uint64_t *mark = s->mark_bits, *fb = s->free_bits, *live = s->live_bits;
	for (uint32_t w = 0; w < nw; w++) {
		nalloc += SL_POPCOUNT(h, mark[w]);
		live[w] &= mark[w];
		fb[w] = ~mark[w] & mspan_valid(s, w);
	}
	return sweep_apply(h, s, nalloc, preserve, move);
}

/* A FIFO being built: spans appended in order, spliced onto a set once. */
struct span_chain {
	struct mspan *head, *tail;
	uint64_t n;
};

static inline void chain_append(struct span_chain *ch, struct span_set *b, struct mspan *s)
{
	s->in_set = b;
	s->prev = ch->tail;
	s->next = NULL;
	if (ch->tail)
		ch->tail->next = s;
	else
		ch->head = s;
	ch->tail = s;
	ch->n++;
}

static void chain_splice(struct span_set *b, struct span_chain *ch)
{
	if (ch->head == NULL)
		return;
	ch->head->prev = b->tail;
	if (b->tail)
		b->tail->next = ch->head;
	else
		b->head = ch->head;
	b->tail = ch->tail;
	b->n += ch->n;
}

/*
 * The eager cycle's mark and sweep of one unswept set of small spans of
 * the gc policy (sweep class sc): one pass over each span's bitmaps, the
 * per-span counters summed per set, and the spans that stay filed onto
 * their swept set in order with one splice per set. Not cached, so a span's
 * live bits are exactly its live objects: the mark is live_bits itself, and
 * sweeping makes free_bits its complement. Returns the marked slots. Same
 * spans, moves, events and figures as mark_span + sweepLocked.sweep one
 * span at a time.
 */
static inline __attribute__((always_inline)) uint64_t sweep_set_body(struct mheap *h, struct mcentral *c,
								     struct mspan *s, bool hw_popcount)
{
#define POPCOUNT(x) (hw_popcount ? (unsigned)__builtin_popcountll(x) : sl_popcount64(x))
	/* nelems, npages and elemsize are the span class's */
	uint32_t sg = h->sweepgen, elemsize = s->elemsize, nelems = s->nelems, npages = s->npages;
	uint32_t nw = (nelems + 63) / 64;
	uint64_t lastmask = nelems % 64 ? ((uint64_t)1 << (nelems % 64)) - 1 : ~(uint64_t)0;
	struct span_set *fullb = mcentral_full_swept(h, c), *partb = mcentral_partial_swept(h, c);
	struct span_chain full = { 0 }, part = { 0 };
	uint64_t nmarked = 0, nallocated = 0, nspans = 0;
	bool emit = SL_CONFIG_EVENTS && h->sink.emit != NULL;
	while (s != NULL) {
		struct mspan *next = s->next;
		if (s->sweepgen != sg - 2 || s->state != MSPAN_IN_USE)
			sl_throw("sweeping span %#lx with sweepgen %u (heap %u)", (unsigned long)s->base,
				 s->sweepgen, sg);
		uint32_t nalloc = 0, ac = s->alloc_count;
		uint64_t *fb = s->free_bits, *live = s->live_bits;
		for (uint32_t w = 0; w + 1 < nw; w++) {
			nalloc += POPCOUNT(live[w]);
			fb[w] = ~live[w];
		}
		uint64_t m = live[nw - 1];
		nalloc += POPCOUNT(m);
		fb[nw - 1] = ~m & lastmask;
		if (nalloc > ac)
			sl_throw("span %#lx: %u marked > %u allocated", (unsigned long)s->base, nalloc, ac);
		s->alloc_count = nalloc;
		s->sweepgen = sg;
		if (nalloc != ac)
			s->needzero = true;
		nmarked += nalloc;
		nallocated += ac;
		nspans++;
		enum sl_span_set from = (enum sl_span_set)s->set;
		enum sl_span_set to = nalloc == 0 ? SL_SET_HEAP : nalloc == nelems ? SL_SET_FULL_SWEPT
				    : SL_SET_PARTIAL_SWEPT;
		s->set = (uint8_t)to;
		if (SL_UNLIKELY(emit))
			span_move_emit(h, s, from, to, 8);
		if (to == SL_SET_FULL_SWEPT) {
			chain_append(&full, fullb, s);
		} else if (to == SL_SET_PARTIAL_SWEPT) {
			chain_append(&part, partb, s);
		} else {
			s->in_set = NULL;
			s->next = s->prev = NULL;
			mheap_free_span(h, s);
		}
		s = next;
	}
	chain_splice(fullb, &full);
	chain_splice(partb, &part);
	uint64_t nfreed = nallocated - nmarked;
	h->span_moves += nspans;
	h->pages_swept += nspans * npages;
	h->spans_swept += nspans;
	h->objects_swept_free += nfreed;
	h->bytes_swept_free += nfreed * elemsize;
	h->small_free_count[c->spanclass] += nfreed;
	return nmarked;
#undef POPCOUNT
}

/* sweep_set_body with the CPU's popcnt instruction (mheap.popcnt), and
 * without it (a baseline x86-64 build has none). */
#if defined(__x86_64__)
__attribute__((target("popcnt")))
static uint64_t sweep_set_popcnt(struct mheap *h, struct mcentral *c, struct mspan *s)
{
	return sweep_set_body(h, c, s, true);
}
#endif
static uint64_t sweep_set_fast(struct mheap *h, struct mcentral *c, struct mspan *s)
{
#if defined(__x86_64__)
	if (h->popcnt)
		return sweep_set_popcnt(h, c, s);
#endif
	return sweep_set_body(h, c, s, false);
}

/*
 * The eager cycle's mark and sweep of one span that sits in a set and is
 * not a gc-policy small span (large, tiny): large spans are marked by
 * live_bits[0]; tiny spans by the general mark (gcMarkTinyAllocs
 * included). Adds the marked bytes to *marked.
 */
static void sweep_other_eager(struct mheap *h, struct mspan *s, uint64_t *marked)
{
	s->sweepgen = h->sweepgen - 1;
	s->in_set = NULL;
	s->next = s->prev = NULL;
	sweep_check_state(h, s);
	if (span_class_sizeclass(s->spanclass) == 0) {
		uint32_t nalloc = (uint32_t)(s->live_bits[0] & 1);
		*marked += nalloc ? (uint64_t)s->npages << h->page_shift : 0;
		sweep_apply(h, s, nalloc, false, 8);
		return;
	}
	gc_mark_span(h, s, marked);
	mspan_sweep(h, s, false, 8);
}

/*
 * The whole eager cycle's sweep (gc policy), fused with the mark of every
 * span in a set: the flip has made every set span unswept; sweep them in
 * sweepone order. Each unswept set is taken whole (nothing is added to an
 * unswept set during the sweep). Returns the marked bytes of those spans.
 */
uint64_t sweep_eager_marked(struct mheap *h)
{
	uint64_t marked = 0;
	for (uint32_t sc = 0; sc < 2 * h->nspc; sc++) {
		struct mcentral *c = &h->central[sc >> 1];
		struct span_set *b = (sc & 1) == 0 ? mcentral_full_unswept(h, c) : mcentral_partial_unswept(h, c);
		struct mspan *s = b->head;
		if (s == NULL)
			continue;
		h->nunswept -= b->n;
		b->head = b->tail = NULL;
		b->n = 0;
		if (s->free_path == FREE_PATH_GC) {	/* a class property */
			uint64_t elemsize = s->elemsize;	/* s may be freed */
			marked += sweep_set_fast(h, c, s) * elemsize;
			continue;
		}
		while (s != NULL) {
			struct mspan *next = s->next;
			if (s->sweepgen != h->sweepgen - 2)
				sl_throw("sweeping span %#lx with sweepgen %u (heap %u)",
					 (unsigned long)s->base, s->sweepgen, h->sweepgen);
			sweep_other_eager(h, s, &marked);
			s = next;
		}
	}
	h->sweep_central_index = 2 * h->nspc;
	sweep_check_done(h);
	return marked;
}

/* sweepone: sweep one unswept span in sweep-class order; false if none
 * is left. */
bool sweepone(struct mheap *h)
{
	for (uint32_t sc = h->sweep_central_index; sc < 2 * h->nspc; sc++) {
		struct mcentral *c = &h->central[sc >> 1];
		struct span_set *b = (sc & 1) == 0 ? mcentral_full_unswept(h, c) : mcentral_partial_unswept(h, c);
		struct mspan *s = b->head;
		if (s == NULL)
			continue;
		h->sweep_central_index = sc;
		span_set_remove(b, s);
		sweep_acquire(h, s);
		uint32_t np = s->npages;
		if (mspan_sweep(h, s, false, 8))
			h->reclaim_credit += np;	/* freed pages pre-pay the reclaimer */
		sweep_check_done(h);
		return true;
	}
	h->sweep_central_index = 2 * h->nspc;
	sweep_check_done(h);
	return false;
}

/* finishsweep_m / the eager sweep: sweep everything that is left, in
 * sweepone's order (one loop instead of one sweepone call per span). */
void sweep_finish(struct mheap *h)
{
	for (uint32_t sc = h->sweep_central_index; sc < 2 * h->nspc; sc++) {
		struct mcentral *c = &h->central[sc >> 1];
		struct span_set *b = (sc & 1) == 0 ? mcentral_full_unswept(h, c) : mcentral_partial_unswept(h, c);
		struct mspan *s;
		h->sweep_central_index = sc;
		while ((s = b->head) != NULL) {
			span_set_remove(b, s);
			sweep_acquire(h, s);
			mspan_sweep(h, s, false, 8);
		}
	}
	h->sweep_central_index = 2 * h->nspc;
	sweep_check_done(h);
}

/*
 * deductSweepCredit: before allocating span_bytes, sweep enough pages to
 * stay on the proportional schedule set by sweep_pace.
 */
void deduct_sweep_credit_slow(struct mheap *h, uint64_t span_bytes, uint32_t caller_pages)
{
	uint64_t new_live = span_bytes;
	if (h->sweep_heap_live_basis < h->heap_live)
		new_live += h->heap_live - h->sweep_heap_live_basis;
	/* Go converts the product as it is; past 2^62 pages (a pace no heap
	 * below exabytes sets) the target is simply everything. */
	double pages = h->sweep_pages_per_byte * (double)new_live;
	int64_t target = (pages < 0x1p62 ? (int64_t)pages : INT64_MAX / 2) - (int64_t)caller_pages;
	while (target > (int64_t)(h->pages_swept - h->pages_swept_basis)) {
		if (!sweepone(h)) {
			sweep_set_pace(h, 0);
			break;
		}
	}
}

/* gcPaceSweeper: pages to sweep per byte allocated until the trigger. */
void sweep_pace(struct mheap *h)
{
	if (h->sweep_done) {
		sweep_set_pace(h, 0);
		return;
	}
	int64_t dist = (int64_t)h->trigger - (int64_t)h->heap_live - (int64_t)SWEEP_MIN_HEAP_DISTANCE;
	if (dist < (int64_t)h->page_size)
		dist = h->page_size;
	int64_t pages = (int64_t)h->pages_in_use - (int64_t)h->pages_swept;
	if (pages <= 0) {
		sweep_set_pace(h, 0);
		return;
	}
	sweep_set_pace(h, (double)pages / (double)dist);
	h->sweep_heap_live_basis = h->heap_live;
	h->pages_swept_basis = h->pages_swept;
}

/* reclaimChunk: sweep the in-use, unmarked, unswept spans whose first
 * page is one of n pages from page `first` of arena ai; the pages freed. */
static uint64_t reclaim_chunk(struct mheap *h, uint32_t ai, uint32_t first, uint32_t n)
{
	struct heap_arena *ha = h->all_arenas[ai];
	uint64_t freed = 0;
	for (uint32_t w = first / 64; w < (first + n) / 64; w++) {
		/* a sweep clears only its own span's bit: the word read once will do */
		for (uint64_t x = ha->page_in_use[w] & ~ha->page_marks[w]; x != 0; x &= x - 1) {
			struct mspan *s = ha->spans[w * 64 + (uint32_t)__builtin_ctzll(x)];
			if (s->sweepgen != h->sweepgen - 2)
				continue;	/* swept already */
			uint32_t np = s->npages;
			span_set_remove(s->in_set, s);
			sweep_acquire(h, s);
			if (mspan_sweep(h, s, false, 9))
				freed += np;
		}
	}
	return freed;
}

/*
 * mheap.reclaim: before allocating npages while sweeping is unfinished,
 * take pages from the credit (pages freed by sweeps beyond earlier
 * requests, sweepone's included), then claim the next 512-page chunk of
 * the arenas (in order) and sweep every span with no marked object that
 * starts in it, until npages pages came back. A chunk is swept whole:
 * the pages beyond the request become credit. Done once the index has
 * passed the last arena.
 */
void mheap_reclaim(struct mheap *h, uint32_t npages)
{
	uint64_t want = npages, end = (uint64_t)h->narenas * h->arena_pages;
	while (want > 0) {
		if (h->reclaim_credit > 0) {
			uint64_t take = h->reclaim_credit < want ? h->reclaim_credit : want;
			h->reclaim_credit -= take;
			want -= take;
			continue;
		}
		if (h->reclaim_index >= end)
			break;
		uint64_t idx = h->reclaim_index;
		h->reclaim_index += RECLAIM_CHUNK_PAGES;
		uint64_t found = reclaim_chunk(h, (uint32_t)(idx / h->arena_pages), (uint32_t)(idx % h->arena_pages),
					       RECLAIM_CHUNK_PAGES);
		if (found <= want) {
			want -= found;
		} else {
			h->reclaim_credit += found - want;
			want = 0;
		}
	}
	sweep_check_done(h);
}
