/*
 * Central free lists: Go's mcentral (mcentral.go).
 *
 * One mcentral per span class holds the spans of that class that no P has
 * cached, in four sets: partial (at least one free slot) and full (none,
 * or a large object), each in a swept and an unswept variant. Which of
 * partial[0]/partial[1] is the swept one flips every GC cycle:
 * partial[sweepgen/2 % 2] is swept, so when the cycle adds 2 to sweepgen,
 * last cycle's swept sets become this cycle's unswept sets without moving
 * a span (move M12, one event per span).
 *
 * cache_span (a P's refill) takes, in this order: a swept partial span
 * (M2); while sweeping is unfinished, an unswept partial span, swept now
 * and used even if it turned out empty (M3); an unswept full span, swept
 * now, used if sweeping freed a slot and otherwise parked in full swept
 * (M4); at most SPAN_BUDGET+1 spans over both unswept searches; else a new
 * span from the heap (grow, M1). uncache_span takes a span back from a P:
 * to full swept (M5, from refill), to partial or full swept (M6, from
 * release_all), or, if it was cached before the cycle flipped (stale),
 * through a sweep that may free it (M7).
 *
 * Immediate policy (not Go): a P may cache a span whose allocCount has
 * dropped to 0 through frees; uncache_span then gives it to the heap
 * instead of asserting allocCount > 0 as Go does.
 */
#include "internal.h"

/* span_move_to's event (span_move_to itself is inline in internal.h). */
void span_move_emit(struct mheap *h, const struct mspan *s, enum sl_span_set from, enum sl_span_set to, int move)
{
	SL_EMIT(h, SPAN_MOVE, span_move,
		.span_base = (int64_t)s->base, .spc = s->spanclass, .npages = s->npages,
		.from_set = from, .to_set = to, .move = move,
		.alloc_count = s->alloc_count, .nelems = s->nelems);
}

/*
 * mcentral.cacheSpan: a span with at least one free slot for p, or NULL
 * when the heap is out of memory. *src says where it came from.
 */
struct mspan *mcentral_cache_span(struct mheap *h, struct mcentral *c, struct sl_p *p, enum sl_refill_source *src)
{
	uint32_t cls = span_class_sizeclass(c->spanclass);
	deduct_sweep_credit(h, (uint64_t)h->sc->class_to_allocnpages[cls] << h->page_shift, 0);
	int budget = SPAN_BUDGET;
	struct mspan *s = mcentral_partial_swept(h, c)->head;
	int move = 2;
	if (s != NULL) {
		*src = SL_REFILL_PARTIAL_SWEPT;
		goto havespan;
	}
	if (!h->sweep_done) {
		for (; budget >= 0; budget--) {
			s = mcentral_partial_unswept(h, c)->head;
			if (s == NULL)
				break;
			span_set_remove(s->in_set, s);
			sweep_acquire(h, s);
			mspan_sweep(h, s, true, 0);
			sweep_check_done(h);
			*src = SL_REFILL_PARTIAL_UNSWEPT;
			move = 3;
			goto havespan;
		}
		for (; budget >= 0; budget--) {
			s = mcentral_full_unswept(h, c)->head;
			if (s == NULL)
				break;
			span_set_remove(s->in_set, s);
			sweep_acquire(h, s);
			mspan_sweep(h, s, true, 0);
			sweep_check_done(h);
			if (s->alloc_count < s->nelems) {
				*src = SL_REFILL_FULL_UNSWEPT;
				move = 4;
				goto havespan;
			}
			span_move_to(h, s, SL_SET_FULL_SWEPT, 4);
		}
	}
	s = mcentral_grow(h, c, p);
	if (s == NULL)
		return NULL;
	*src = SL_REFILL_GROW;
	move = 1;
havespan:
	if (s->nelems - s->alloc_count == 0)
		sl_throw("span %#lx has no free objects", (unsigned long)s->base);
	mspan_cache(s);
	span_move_to(h, s, SL_SET_MCACHE, move);
	return s;
}

/*
 * mcentral.uncacheSpan: s comes back from a P (move is 5 from refill, 6
 * from release_all). A stale span is swept on the way (M7).
 */
void mcentral_uncache_span(struct mheap *h, struct mcentral *c, struct mspan *s, int move)
{
	uint32_t sg = h->sweepgen;
	if (s->alloc_count == 0 && h->cfg.free_policy == SL_FREE_IMMEDIATE) {
		s->sweepgen = sg;
		span_move_to(h, s, SL_SET_HEAP, move);
		mheap_free_span(h, s);
		return;
	}
	if (s->alloc_count == 0)
		sl_throw("uncaching span %#lx with allocCount == 0", (unsigned long)s->base);
	if (s->sweepgen == sg + 1) {
		s->sweepgen = sg - 1;
		mspan_sweep(h, s, false, 7);
		return;
	}
	s->sweepgen = sg;
	span_move_to(h, s, s->alloc_count < s->nelems ? SL_SET_PARTIAL_SWEPT : SL_SET_FULL_SWEPT, move);
}

/* mcentral.grow: a new span of this class from the heap (NULL: OOM). */
struct mspan *mcentral_grow(struct mheap *h, struct mcentral *c, struct sl_p *p)
{
	uint32_t cls = span_class_sizeclass(c->spanclass);
	return mheap_alloc(h, p, h->sc->class_to_allocnpages[cls], c->spanclass);
}
