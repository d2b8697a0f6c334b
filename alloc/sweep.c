/*
 * Sweeping: Go's mgcsweep.go (sweepLocked.sweep, sweepone, the page
 * reclaimer, proportional sweep) and gcPaceSweeper (mgcpacer.go).
 *
 * Sweeping a span applies the last mark: alloc_bits := mark_bits,
 * alloc_count := marked slots, freeindex := 0. Unmarked slots become free
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
 *         object, found through page_in_use &~ page_marks), proportional
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
		h->sweep_pages_per_byte = 0;
		if (!h->in_gc)
			scavenge_after_sweep(h);
	}
}

/*
 * sweepLocked.sweep. Precondition: s->sweepgen == sg - 1 (acquired).
 * Returns true if the span went back to the heap.
 */
bool mspan_sweep(struct mheap *h, struct mspan *s, bool preserve)
{
	uint32_t sg = h->sweepgen;
	if (s->state != MSPAN_IN_USE || s->sweepgen != sg - 1)
		sl_throw("sweep of span %#lx in state %u sweepgen %u (heap %u)",
			 (unsigned long)s->base, s->state, s->sweepgen, sg);
	h->pages_swept += s->npages;
	h->spans_swept++;
	/* one pass: count marks, keep freed bits only on survivors (freed
	 * after the mark), and clear the old alloc bits for the next mark */
	uint32_t nalloc = 0, nw = (s->nelems + 63) / 64;
	uint64_t *mark = s->mark_bits, *old = s->alloc_bits, *freed = s->freed_bits;
	for (uint32_t w = 0; w < nw; w++) {
		nalloc += sl_popcount64(mark[w]);
		freed[w] &= mark[w];
		old[w] = 0;
	}
	if (nalloc > s->alloc_count)
		sl_throw("span %#lx: %u marked > %u allocated", (unsigned long)s->base, nalloc, s->alloc_count);
	uint32_t nfreed = s->alloc_count - nalloc;
	s->alloc_count = nalloc;
	s->freeindex = 0;
	s->alloc_bits = mark;		/* allocBits = gcmarkBits, fresh gcmarkBits */
	s->mark_bits = old;
	mspan_refill_alloc_cache(s, 0);
	s->sweepgen = sg;
	bool large = span_class_sizeclass(s->spanclass) == 0;
	h->objects_swept_free += nfreed;
	h->bytes_swept_free += large ? (nfreed ? (uint64_t)s->npages << h->page_shift : 0)
				     : (uint64_t)nfreed * s->elemsize;
	if (!large) {
		if (nfreed > 0) {
			s->needzero = true;
			h->small_free_count[s->spanclass] += nfreed;
		}
		if (!preserve) {
			if (nalloc == 0) {
				span_move_to(h, s, SL_SET_HEAP, 8);
				mheap_free_span(h, s);
				return true;
			}
			span_move_to(h, s, nalloc == s->nelems ? SL_SET_FULL_SWEPT : SL_SET_PARTIAL_SWEPT, 8);
		}
		return false;
	}
	if (nfreed > 0) {
		h->large_free += (uint64_t)s->npages << h->page_shift;
		h->large_free_count++;
		h->large_live_count--;
	}
	if (!preserve) {
		if (nfreed > 0) {
			span_move_to(h, s, SL_SET_HEAP, 8);
			mheap_free_span(h, s);
			return true;
		}
		span_move_to(h, s, SL_SET_FULL_SWEPT, 8);
	}
	return false;
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
		mspan_sweep(h, s, false);
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
			mspan_sweep(h, s, false);
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
	int64_t target = (int64_t)(h->sweep_pages_per_byte * (double)new_live) - (int64_t)caller_pages;
	while (target > (int64_t)(h->pages_swept - h->pages_swept_basis)) {
		if (!sweepone(h)) {
			h->sweep_pages_per_byte = 0;
			break;
		}
	}
}

/* gcPaceSweeper: pages to sweep per byte allocated until the trigger. */
void sweep_pace(struct mheap *h)
{
	if (h->sweep_done) {
		h->sweep_pages_per_byte = 0;
		return;
	}
	int64_t dist = (int64_t)h->trigger - (int64_t)h->heap_live - (int64_t)SWEEP_MIN_HEAP_DISTANCE;
	if (dist < (int64_t)h->page_size)
		dist = h->page_size;
	int64_t pages = (int64_t)h->pages_in_use - (int64_t)h->pages_swept;
	if (pages <= 0) {
		h->sweep_pages_per_byte = 0;
		return;
	}
	h->sweep_pages_per_byte = (double)pages / (double)dist;
	h->sweep_heap_live_basis = h->heap_live;
	h->pages_swept_basis = h->pages_swept;
}

/*
 * mheap.reclaim: before allocating npages while sweeping is unfinished,
 * sweep in-use spans with no marked object (they will be freed) until
 * npages pages came back, walking the arenas in address order from a
 * cursor that only moves forward in a cycle. Extra pages are credit.
 */
void mheap_reclaim(struct mheap *h, uint32_t npages)
{
	if (h->reclaim_credit >= npages) {
		h->reclaim_credit -= npages;
		return;
	}
	uint64_t want = npages - h->reclaim_credit;
	h->reclaim_credit = 0;
	while (h->reclaim_arena < h->narenas) {
		struct heap_arena *ha = h->all_arenas[h->reclaim_arena];
		for (uint32_t i = h->reclaim_page; i < h->arena_pages; i++) {
			if (!bit_get(ha->page_in_use, i) || bit_get(ha->page_marks, i))
				continue;
			struct mspan *s = ha->spans[i];
			if (s == NULL || s->sweepgen != h->sweepgen - 2)
				continue;
			uint32_t np = s->npages;
			span_set_remove(s->in_set, s);
			sweep_acquire(h, s);
			if (mspan_sweep(h, s, false)) {
				sweep_check_done(h);
				if (np >= want) {
					h->reclaim_credit += np - want;
					h->reclaim_page = i + 1;
					return;
				}
				want -= np;
			}
		}
		h->reclaim_arena++;
		h->reclaim_page = 0;
	}
	sweep_check_done(h);
}
