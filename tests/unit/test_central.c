/*
 * mcentral (central.c): where refills find spans, in Go's order (partial
 * swept, partial unswept, full unswept, grow), and the set moves of each
 * free policy, read from the event stream.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "coretest.h"
#include "internal.h"

enum { OBJ = 1000, PER_SPAN = 8 };	/* class 32: 1024 B, 8 per 8 KiB span */

static struct sl_heap *heap(enum sl_free_policy pol, enum sl_sweep_mode sweep, struct ct_events *rec)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.free_policy = pol;
	cfg.sweep_mode = sweep;
	cfg.scavenger = false;
	struct sl_heap *h = ct_heap(&cfg);
	cr_assert_eq(cfg.classes.class_to_size[sl_size_to_class(&cfg.classes, OBJ)], 1024);
	sl_sink_attach(h, ct_recorder(rec));
	return h;
}

Test(mcentral, refill_sources_in_go_order)
{
	struct ct_events rec = { 0 };
	struct sl_heap *h = heap(SL_FREE_GC, SL_SWEEP_LAZY, &rec);
	struct sl_p *p = sl_heap_p(h, 0);
	void *o[7][PER_SPAN];
	for (int s = 0; s < 7; s++)		/* spans A..G; G stays cached */
		for (int i = 0; i < PER_SPAN; i++)
			o[s][i] = sl_malloc(p, OBJ);
	sl_free(p, o[0][3]);			/* A, B: one dead each */
	sl_free(p, o[1][5]);
	/* A forced cycle, lazy mode: release_all sweeps the stale cached G
	 * first, then the final sweep A..F, so full swept = G C D E F. */
	sl_heap_gc(h);
	sl_free(p, o[2][0]);			/* C, D: one dead each; E: all dead */
	sl_free(p, o[3][7]);
	for (int i = 0; i < PER_SPAN; i++)
		sl_free(p, o[4][i]);
	sl_heap_gc_marker(h);			/* lazy: everything left unswept */
	ct_check(h, "after the lazy cycle");
	cr_assert(sweepone(&h->h), "background sweep step 1: G, still full");
	cr_assert(sweepone(&h->h), "background sweep step 2: C, now partial swept");
	ct_events_clear(&rec);
	uintptr_t base[7] = { 0 };
	for (int s = 0; s < 7; s++)
		base[s] = (uintptr_t)o[s][0] & ~(uintptr_t)8191;
	/* C:1 free slot, A:1, B:1, D:1, E:8, then F (full) is parked and a new span grows */
	for (int i = 0; i < 1 + 1 + 1 + 1 + 8 + 1; i++)
		cr_assert_not_null(sl_malloc(p, OBJ));
	struct { enum sl_refill_source src; int span; } want[] = {
		{ SL_REFILL_PARTIAL_SWEPT, 2 }, { SL_REFILL_PARTIAL_UNSWEPT, 0 },
		{ SL_REFILL_PARTIAL_UNSWEPT, 1 }, { SL_REFILL_FULL_UNSWEPT, 3 },
		{ SL_REFILL_FULL_UNSWEPT, 4 }, { SL_REFILL_GROW, -1 },
	};
	size_t k = 0;
	bool f_parked = false;
	for (size_t i = 0; i < rec.n; i++) {
		const struct sl_event *e = &rec.ev[i];
		if (e->kind == SL_EV_SPAN_MOVE && (uintptr_t)e->u.span_move.span_base == base[5]) {
			cr_assert_eq(e->u.span_move.from_set, SL_SET_FULL_UNSWEPT);
			cr_assert_eq(e->u.span_move.to_set, SL_SET_FULL_SWEPT, "a still-full span is parked in full swept");
			cr_assert_eq(e->u.span_move.move, 4);
			f_parked = true;
		}
		if (e->kind != SL_EV_REFILL)
			continue;
		cr_assert_lt(k, sizeof want / sizeof want[0], "too many refills");
		cr_assert_eq(e->u.refill.source, want[k].src, "refill %zu from %s, want %s", k,
			     sl_refill_source_name(e->u.refill.source), sl_refill_source_name(want[k].src));
		if (want[k].span >= 0)
			cr_assert_eq((uintptr_t)e->u.refill.span_base, base[want[k].span], "refill %zu: wrong span", k);
		k++;
	}
	cr_assert_eq(k, sizeof want / sizeof want[0], "%zu refills", k);
	cr_assert(f_parked);
	ct_check(h, "after the refills");
	sl_heap_destroy(h);
	ct_events_free(&rec);
}

static int moves(const struct ct_events *r, uintptr_t base, enum sl_span_set from, enum sl_span_set to)
{
	int n = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct sl_event *e = &r->ev[i];
		n += e->kind == SL_EV_SPAN_MOVE && (uintptr_t)e->u.span_move.span_base == base &&
		     e->u.span_move.from_set == from && e->u.span_move.to_set == to;
	}
	return n;
}

Test(mcentral, immediate_policy_moves_full_partial_heap)
{
	struct ct_events rec = { 0 };
	struct sl_heap *h = heap(SL_FREE_IMMEDIATE, SL_SWEEP_EAGER, &rec);
	struct sl_p *p = sl_heap_p(h, 0);
	void *a[PER_SPAN], *b;
	for (int i = 0; i < PER_SPAN; i++)
		a[i] = sl_malloc(p, OBJ);
	b = sl_malloc(p, OBJ);			/* refill: A goes to full swept (M5) */
	uintptr_t base = (uintptr_t)a[0] & ~(uintptr_t)8191;
	cr_assert_eq(moves(&rec, base, SL_SET_MCACHE, SL_SET_FULL_SWEPT), 1);
	ct_events_clear(&rec);
	cr_assert_eq(sl_free(p, a[4]), SL_FREE_OK);
	cr_assert_eq(moves(&rec, base, SL_SET_FULL_SWEPT, SL_SET_PARTIAL_SWEPT), 1, "full -> partial at the first free");
	ct_check(h, "after the first free");
	for (int i = 0; i < PER_SPAN; i++)
		if (i != 4)
			cr_assert_eq(sl_free(p, a[i]), SL_FREE_OK);
	cr_assert_eq(moves(&rec, base, SL_SET_PARTIAL_SWEPT, SL_SET_HEAP), 1, "partial -> heap at the last free");
	cr_assert_eq(ct_count(&rec, SL_EV_SPAN_FREE), 1);
	ct_events_clear(&rec);
	cr_assert_eq(sl_free(p, b), SL_FREE_OK);	/* B's span is cached: it stays */
	cr_assert_eq(ct_count(&rec, SL_EV_SPAN_MOVE), 0);
	void *c = sl_malloc(p, OBJ);
	cr_assert_eq(c, b, "the freed slot is the next one handed out");
	ct_check(h, "after reuse");
	sl_heap_destroy(h);
	ct_events_free(&rec);
}

Test(mcentral, gc_policy_moves_only_at_sweep)
{
	struct ct_events rec = { 0 };
	struct sl_heap *h = heap(SL_FREE_GC, SL_SWEEP_EAGER, &rec);
	struct sl_p *p = sl_heap_p(h, 0);
	void *a[PER_SPAN];
	for (int i = 0; i < PER_SPAN; i++)
		a[i] = sl_malloc(p, OBJ);
	void *b = sl_malloc(p, OBJ);
	uintptr_t base = (uintptr_t)a[0] & ~(uintptr_t)8191;
	ct_events_clear(&rec);
	for (int i = 0; i < PER_SPAN; i++)
		cr_assert_eq(sl_free(p, a[i]), SL_FREE_OK);
	cr_assert_eq(rec.n, 0, "a free in the gc policy emits nothing and moves nothing");
	void *c = sl_malloc(p, OBJ);
	cr_assert_neq(c, a[0], "dead objects are not reused before a GC");
	sl_heap_gc(h);
	cr_assert_eq(moves(&rec, base, SL_SET_FULL_SWEPT, SL_SET_FULL_UNSWEPT), 1, "M12 role flip");
	cr_assert_eq(moves(&rec, base, SL_SET_FULL_UNSWEPT, SL_SET_HEAP), 1, "the sweep frees the empty span (M8)");
	cr_assert_eq(ct_count(&rec, SL_EV_GC_START), 1);
	cr_assert_eq(ct_count(&rec, SL_EV_GC_END), 1);
	cr_assert_eq(rec.ev[0].kind, SL_EV_GC_START, "gc_start comes first");
	cr_assert_eq(rec.ev[0].u.gc_start.reason, SL_GC_FORCED);
	(void)b;
	ct_check(h, "after the cycle");
	sl_heap_destroy(h);
	ct_events_free(&rec);
}

/* A sweep's move says who swept: 7 a P's stale span at its uncache, 8
 * sweepone, 9 the reclaimer before a page allocation, 11 a large span. */
Test(mcentral, sweeps_are_numbered_by_who_sweeps)
{
	struct ct_events rec = { 0 };
	struct sl_heap *h = heap(SL_FREE_GC, SL_SWEEP_LAZY, &rec);
	struct sl_p *p = sl_heap_p(h, 0);
	void *o[4][PER_SPAN];
	for (int s = 0; s < 4; s++)		/* spans A..D; D stays cached */
		for (int i = 0; i < PER_SPAN; i++)
			o[s][i] = sl_malloc(p, OBJ);
	void *big = sl_malloc(p, 64 << 10);
	for (int i = 0; i < PER_SPAN; i++) {	/* A, B and D all dead, C one dead */
		sl_free(p, o[0][i]);
		sl_free(p, o[1][i]);
		sl_free(p, o[3][i]);
	}
	sl_free(p, o[2][0]);
	sl_free(p, big);
	uintptr_t base[4], bigbase = (uintptr_t)big;
	for (int s = 0; s < 4; s++)
		base[s] = (uintptr_t)o[s][0] & ~(uintptr_t)8191;
	ct_events_clear(&rec);
	sl_heap_gc_marker(h);			/* lazy: D uncached stale (M7), the rest left */
	cr_assert(sweepone(&h->h), "background step 1: the large span (class 0 comes first)");
	cr_assert(sweepone(&h->h), "background step 2: A");
	ct_check(h, "after two sweepone steps");
	/* a 16-page allocation: the reclaimer sweeps what is left first */
	cr_assert_not_null(sl_malloc(p, 128 << 10));
	ct_check(h, "after the reclaim");
	/* Each span's move to the heap: D 7, the large span 11, A 8, B 9. */
	const uintptr_t span[4] = { base[3], bigbase, base[0], base[1] };
	const int want[4] = { 7, 11, 8, 9 };
	int got[4] = { 0 };
	for (size_t i = 0; i < rec.n; i++) {
		const struct sl_event *e = &rec.ev[i];
		if (e->kind != SL_EV_SPAN_MOVE || e->u.span_move.to_set != SL_SET_HEAP)
			continue;
		for (int k = 0; k < 4; k++)
			if ((uintptr_t)e->u.span_move.span_base == span[k])
				got[k] = (int)e->u.span_move.move;
	}
	for (int k = 0; k < 4; k++)
		cr_assert_eq(got[k], want[k], "span %d went to the heap as move %d, want %d", k, got[k], want[k]);
	sl_heap_destroy(h);
	ct_events_free(&rec);
}
