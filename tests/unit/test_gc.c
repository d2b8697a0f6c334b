/*
 * The simulated GC and the pacer (gc.c, sweep.c): heap_live accounting,
 * the declared deterministic trigger and Go 1.19's heap goal, cycle counts
 * for a known sequence, GOGC off, and the gc policy's free semantics
 * (nothing reusable before the sweep, double frees caught even between
 * mark and lazy sweep). Expected values are computed here from Go's
 * formulas, not copied from a run.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "coretest.h"
#include "internal.h"

#define MIB (1ull << 20)

static uint64_t go_goal(uint64_t marked, int gogc)
{
	uint64_t goal = marked + marked * (uint64_t)gogc / 100, min = 4 * MIB * (uint64_t)gogc / 100;
	return goal < min ? min : goal;
}

static uint64_t go_trigger(uint64_t marked, uint64_t goal, double frac)
{
	if (marked >= goal)
		return goal;
	uint64_t t = marked + (uint64_t)(frac * (double)(goal - marked));
	if (goal > 4 * MIB && goal - 4 * MIB > t)
		t = goal - 4 * MIB;
	return t > goal ? goal : t;
}

static const struct sl_event *nth(const struct ct_events *r, enum sl_event_kind k, size_t n)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->ev[i].kind == k && n-- == 0)
			return &r->ev[i];
	return NULL;
}

static void pacing_run(int gogc)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.gogc = gogc;
	struct sl_heap *h = ct_heap(&cfg);
	struct ct_events rec = { 0 };
	sl_sink_attach(h, ct_recorder(&rec));
	struct sl_p *p = sl_heap_p(h, 0);
	double frac = cfg.trigger_fraction;
	cr_assert_eq(cfg.trigger_fraction, 0.95, "the declared default trigger fraction");
	uint64_t marked = 0, goal = go_goal(0, gogc), trig = go_trigger(0, goal, frac);
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.heap_goal, goal);
	cr_assert_eq(st.gc_trigger, trig);
	uint64_t nobj = 0, cycles = 0;
	while (cycles < 3) {
		ct_events_clear(&rec);
		cr_assert_not_null(sl_malloc(p, 1000));	/* class 1024, 8 per span */
		nobj++;
		if (nobj == 1) {
			sl_heap_stats(h, &st);
			cr_assert_eq(st.heap_live, 8192, "a refill counts the whole span in heap_live");
		}
		const struct sl_event *gs = nth(&rec, SL_EV_GC_START, 0);
		if (gs == NULL) {
			if (rec.n > 0) {	/* a refill: heap_live changed */
				sl_heap_stats(h, &st);
				cr_assert_lt(st.heap_live, trig, "heap_live %lu reached trigger %lu without a cycle",
					     (unsigned long)st.heap_live, (unsigned long)trig);
			}
			continue;
		}
		cr_assert_eq(gs->u.gc_start.reason, SL_GC_PACER);
		cr_assert_geq((uint64_t)gs->u.gc_start.heap_live, trig);
		cr_assert_eq((uint64_t)gs->u.gc_start.trigger, trig);
		const struct sl_event *ge = nth(&rec, SL_EV_GC_END, 0);
		cr_assert_not_null(ge);
		marked = nobj * 1024;			/* nothing was freed */
		cr_assert_eq((uint64_t)ge->u.gc_end.heap_marked, marked);
		goal = go_goal(marked, gogc);
		trig = go_trigger(marked, goal, frac);
		cr_assert_eq((uint64_t)ge->u.gc_end.heap_goal, goal, "cycle %lu goal", (unsigned long)cycles + 1);
		cr_assert_eq((uint64_t)ge->u.gc_end.trigger, trig, "cycle %lu trigger", (unsigned long)cycles + 1);
		cr_assert_eq((uint64_t)ge->u.gc_end.objects_freed, 0);
		cycles++;
		sl_heap_stats(h, &st);
		cr_assert_eq(st.gc_cycles, cycles);
		cr_assert_eq(st.heap_marked, marked);
	}
	ct_check(h, "after three paced cycles");
	sl_heap_destroy(h);
	ct_events_free(&rec);
}

Test(pacer, gogc_100_three_cycles) { pacing_run(100); }
Test(pacer, gogc_50_three_cycles) { pacing_run(50); }
Test(pacer, gogc_300_three_cycles) { pacing_run(300); }

Test(pacer, gogc_off_never_collects)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.gogc = -1;
	struct sl_heap *h = ct_heap(&cfg);
	struct sl_p *p = sl_heap_p(h, 0);
	for (int i = 0; i < 12 * 1024; i++)
		sl_free(p, sl_malloc(p, 1000));
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.gc_cycles, 0);
	cr_assert_eq(st.heap_goal, 0, "no goal with GOGC off");
	cr_assert_geq(st.heap_inuse, 12 * MIB, "nothing was reclaimed");
	sl_heap_gc(h);
	sl_heap_stats(h, &st);
	cr_assert_eq(st.gc_cycles, 1, "a forced cycle still runs");
	cr_assert_eq(st.heap_inuse, 0);
	sl_heap_destroy(h);
}

Test(gc_policy, dead_objects_wait_for_the_sweep)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	struct sl_heap *h = ct_heap(&cfg);
	struct sl_p *p = sl_heap_p(h, 0);
	void *a = sl_malloc(p, 100), *b = sl_malloc(p, 100);
	cr_assert_eq(sl_free(p, a), SL_FREE_OK);
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.dead_bytes, 112, "a's slot is dead, not free");
	cr_assert_eq(st.live_bytes, 100);
	void *c = sl_malloc(p, 100);
	cr_assert(c != a, "no reuse before a GC");
	sl_heap_gc(h);
	sl_heap_stats(h, &st);
	cr_assert_eq(st.dead_bytes, 0);
	cr_assert_eq(st.objects_swept_free, 1);
	void *d = sl_malloc(p, 100);
	cr_assert_eq(d, a, "after the sweep the lowest free slot is a's");
	(void)b;
	ct_check(h, "after reuse");
	sl_heap_destroy(h);
}

Test(gc_policy, double_free_caught_between_mark_and_lazy_sweep)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.sweep_mode = SL_SWEEP_LAZY;
	struct sl_heap *h = ct_heap(&cfg);
	struct sl_p *p = sl_heap_p(h, 0);
	void *v[20];
	for (int i = 0; i < 20; i++)
		v[i] = sl_malloc(p, 500);
	cr_assert_eq(sl_free(p, v[3]), SL_FREE_OK);
	cr_assert_eq(sl_free(p, v[3]), SL_FREE_DOUBLE_FREE);
	sl_heap_gc_marker(h);
	cr_assert_eq(sl_free(p, v[3]), SL_FREE_DOUBLE_FREE, "still known as freed in an unswept span");
	cr_assert_eq(sl_free(p, v[4]), SL_FREE_OK, "a live object of an unswept span can be freed");
	ct_check(h, "between mark and sweep");
	sl_heap_gc(h);
	cr_assert_eq(sl_free(p, v[3]), SL_FREE_NOT_ALLOCATED, "reclaimed: the slot is free");
	cr_assert_eq(sl_free(p, v[4]), SL_FREE_NOT_ALLOCATED);
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.bad_frees, 4);
	cr_assert_eq(st.live_objects, 18);
	ct_check(h, "after the sweep");
	sl_heap_destroy(h);
}

Test(gc_policy, marker_is_a_cycle_only_in_the_gc_policy)
{
	for (int pol = 0; pol < 2; pol++) {
		struct sl_heap_config cfg;
		ct_config(&cfg, 0);
		cfg.free_policy = pol ? SL_FREE_IMMEDIATE : SL_FREE_GC;
		struct sl_heap *h = ct_heap(&cfg);
		sl_free(sl_heap_p(h, 0), sl_malloc(sl_heap_p(h, 0), 10));
		sl_heap_gc_marker(h);
		struct sl_stats st;
		sl_heap_stats(h, &st);
		cr_assert_eq(st.gc_cycles, pol ? 0 : 1);
		sl_heap_gc(h);
		sl_heap_stats(h, &st);
		cr_assert_eq(st.gc_cycles, pol ? 1 : 2, "sl_heap_gc forces a cycle in both policies");
		sl_heap_destroy(h);
	}
}

Test(gc_policy, lazy_sweep_is_proportional_and_finishes_before_the_next_cycle)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.sweep_mode = SL_SWEEP_LAZY;
	struct sl_heap *h = ct_heap(&cfg);
	struct sl_p *p = sl_heap_p(h, 0);
	void *v[4000];
	for (int i = 0; i < 4000; i++)
		v[i] = sl_malloc(p, 500);
	for (int i = 0; i < 4000; i += 2)
		sl_free(p, v[i]);
	sl_heap_gc_marker(h);
	cr_assert(!h->h.sweep_done, "a lazy cycle leaves spans unswept");
	uint64_t unswept0 = h->h.nunswept;
	cr_assert_gt(unswept0, 100);
	cr_assert_gt(h->h.sweep_pages_per_byte, 0.0, "proportional sweep is paced");
	for (int i = 0; i < 200; i++)
		sl_malloc(p, 500);
	cr_assert_lt(h->h.nunswept, unswept0, "allocation sweeps as it goes");
	ct_check(h, "mid-sweep");
	sl_heap_gc_marker(h);		/* finishsweep_m first */
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.gc_cycles, 2);
	ct_check(h, "after the second cycle");
	sl_heap_destroy(h);
}

/* The sweep credit's pages (pace x bytes) past 2^63 sweep everything: the
 * conversion of such a double to int64_t is undefined, and on x86-64 it
 * gave INT64_MIN, a target met before sweeping a page. */
Test(gc_policy, a_sweep_credit_past_two_to_the_63_pages_sweeps_everything)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.sweep_mode = SL_SWEEP_LAZY;
	struct sl_heap *h = ct_heap(&cfg);
	struct sl_p *p = sl_heap_p(h, 0);
	for (int i = 0; i < 4000; i++)
		sl_free(p, sl_malloc(p, 500));
	sl_heap_gc_marker(h);
	cr_assert_gt(h->h.nunswept, 10, "a lazy cycle leaves spans unswept");
	h->h.sweep_pages_per_byte = 4.0;
	deduct_sweep_credit_slow(&h->h, (uint64_t)1 << 62, 0);
	cr_assert_eq(h->h.nunswept, 0, "%llu spans left unswept", (unsigned long long)h->h.nunswept);
	cr_assert(h->h.sweep_done);
	ct_check(h, "after sweeping everything");
	sl_heap_destroy(h);
}

/* ---- the lazy sweep's page reclaimer and pacer floor (mheap.go reclaim,
 * mgcsweep.go sweepone, mgcpacer.go commit) ----------------------------- */

static struct sl_heap *lazy_heap(int gogc)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.sweep_mode = SL_SWEEP_LAZY;
	cfg.gogc = gogc;
	cfg.scavenger = false;
	return ct_heap(&cfg);
}

static uint64_t page_of(struct sl_heap *h, const void *p)
{
	return ((uintptr_t)p - h->h.all_arenas[0]->base) >> h->h.page_shift;
}

/* Go's reclaimer sweeps a whole 512-page chunk: all four dead spans of
 * chunk 0 come back, and a 32-page object fits where two of them were
 * (pages 64..95) without growing the heap. Stopping at the first pages
 * found (two 16-page spans, not adjacent) grew it. */
Test(reclaim, a_chunk_is_swept_whole)
{
	struct sl_heap *h = lazy_heap(300);
	struct sl_p *p = sl_heap_p(h, 0);
	void *v[32];
	for (int i = 0; i < 32; i++) {
		v[i] = sl_malloc(p, 16 * 8192);
		cr_assert_eq(page_of(h, v[i]), (uint64_t)i * 16, "object %d at page %llu", i,
			     (unsigned long long)page_of(h, v[i]));
	}
	for (int i = 0; i < 6; i++)
		if (i != 1 && i != 3)
			cr_assert_eq(sl_free(p, v[i]), SL_FREE_OK);
	sl_heap_gc_marker(h);
	cr_assert(!h->h.sweep_done);
	uint32_t arenas = h->h.narenas;
	uint64_t swept = h->h.spans_swept;
	void *big = sl_malloc(p, 32 * 8192);
	cr_assert_eq(page_of(h, big), 64, "the 32 pages at %llu", (unsigned long long)page_of(h, big));
	cr_assert_eq(h->h.narenas, arenas);
	cr_assert_geq(h->h.spans_swept - swept, 4, "all four dead spans swept");
	ct_check(h, "after the reclaim");
	sl_heap_destroy(h);
}

/* sweepone's freed pages are the reclaimer's credit; a request the credit
 * covers sweeps nothing; the next claims chunk 0 and sweeps every dead
 * span in it, the pages beyond the request becoming credit. */
Test(reclaim, sweepone_pays_credit_and_the_rest_of_a_chunk_is_credit)
{
	struct sl_heap *h = lazy_heap(300);
	struct sl_p *p = sl_heap_p(h, 0);
	void *v[20];
	for (int i = 0; i < 20; i++)
		v[i] = sl_malloc(p, 20 * 8192);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(sl_free(p, v[i]), SL_FREE_OK);
	sl_heap_gc_marker(h);
	struct mheap *m = &h->h;
	cr_assert_eq(m->nunswept, 20);
	cr_assert_eq(m->reclaim_credit, 0);
	cr_assert(sweepone(m));
	cr_assert_eq(m->reclaim_credit, 20, "the 20 pages sweepone freed");
	uint64_t swept = m->spans_swept;
	mheap_reclaim(m, 10);
	cr_assert_eq(m->reclaim_credit, 10);
	cr_assert_eq(m->spans_swept, swept, "the credit covered it: nothing swept");
	mheap_reclaim(m, 30);
	cr_assert_eq(m->spans_swept - swept, 19, "the rest of chunk 0");
	cr_assert_eq(m->reclaim_credit, 19 * 20 - 20, "380 pages freed for 20 wanted");
	cr_assert_eq(m->nunswept, 0);
	ct_check(h, "after the reclaim");
	sl_heap_destroy(h);
}

/* While the lazy sweep is unfinished, goal and trigger keep 1 MiB of
 * runway above heap_live (sweepDistMinTrigger); the eager sweep is done
 * at commit and keeps Go's GOGC goal. 2 MiB live, GOGC 25: the goal
 * would be 2.5 MiB, the floor is 3 MiB. */
Test(pacer, the_lazy_sweep_keeps_a_mebibyte_of_runway)
{
	for (int lazy = 0; lazy < 2; lazy++) {
		struct sl_heap_config cfg;
		ct_config(&cfg, 0);
		cfg.sweep_mode = lazy ? SL_SWEEP_LAZY : SL_SWEEP_EAGER;
		cfg.gogc = 25;
		struct sl_heap *h = ct_heap(&cfg);
		struct sl_p *p = sl_heap_p(h, 0);
		for (int i = 0; i < 2048; i++)
			cr_assert_not_null(sl_malloc(p, 1024));
		for (int i = 0; i < 512; i++)
			sl_free(p, sl_malloc(p, 1024));	/* garbage: unswept spans for the lazy sweep */
		sl_heap_gc_marker(h);
		uint64_t marked = h->h.heap_marked;
		cr_assert_eq(marked, 2 * MIB, "the 2 MiB still live");
		cr_assert_eq(h->h.sweep_done, !lazy);
		uint64_t goal = lazy ? h->h.heap_live + MIB : go_goal(marked, 25);
		cr_assert_eq(h->h.heap_goal, goal, "%s: goal %llu", lazy ? "lazy" : "eager",
			     (unsigned long long)h->h.heap_goal);
		cr_assert_eq(h->h.trigger, lazy ? goal : go_trigger(marked, goal, cfg.trigger_fraction));
		sl_heap_destroy(h);
	}
}

