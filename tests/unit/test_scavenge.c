/*
 * The scavenger (scavenge.c, pagealloc.c): after a GC cycle it releases
 * exactly down to Go 1.19's retain goal (last heap in-use x goal ratio +
 * 10%, rounded to the 4 KiB physical page), highest addresses first; on
 * growth it releases min(growth, overage); FreeOSMemory releases every
 * free page. Expected amounts are computed here from the formula.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "coretest.h"
#include "internal.h"

static uint64_t go_scav_goal(const struct mheap *h)
{
	double ratio = (double)h->heap_goal / (double)h->last_heap_goal;
	uint64_t goal = (uint64_t)((double)h->last_heap_inuse * ratio);
	goal += (uint64_t)((double)goal * h->cfg.retain_extra_percent / 100.0);
	return (goal + 4095) & ~(uint64_t)4095;
}

/* The highest free Ready page and the lowest page released by the last
 * scavenge (both 0 if none). */
static uintptr_t highest_free_ready(struct mheap *h)
{
	uintptr_t best = 0;
	for (uint32_t a = 0; a < h->narenas; a++) {
		struct heap_arena *ha = h->all_arenas[a];
		for (uint32_t c = 0; c < h->arena_pages / CHUNK_PAGES; c++) {
			struct palloc_chunk *ch = &ha->chunks[c];
			if (!ch->grown)
				continue;
			for (uint32_t i = 0; i < CHUNK_PAGES; i++)
				if (!bit_get(ch->alloc, i) && !bit_get(ch->scav, i))
					best = ha->base + ((uintptr_t)(c * CHUNK_PAGES + i) << h->page_shift);
		}
	}
	return best;
}

Test(scavenger, releases_down_to_the_retain_goal_highest_first)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	struct sl_heap *hp = ct_heap(&cfg);
	struct mheap *h = &hp->h;
	struct sl_p *p = sl_heap_p(hp, 0);
	void *v[200];
	for (int i = 0; i < 200; i++)
		v[i] = sl_malloc(p, 128 << 10);	/* 16 pages each (no page cache), 25 MiB */
	for (int i = 0; i < 200; i++)
		if (i % 10 != 0)
			sl_free(p, v[i]);
	struct ct_events rec = { 0 };
	sl_sink_attach(hp, ct_recorder(&rec));
	sl_heap_gc_marker(hp);
	cr_assert_neq(h->last_heap_goal, 0);
	uint64_t goal = go_scav_goal(h);
	uint64_t retained = heap_retained(h), released = 0;
	uintptr_t lowest_released = UINTPTR_MAX;
	for (size_t i = 0; i < rec.n; i++) {
		const struct sl_event *e = &rec.ev[i];
		if (e->kind == SL_EV_ARENA && e->u.arena.to_state == SL_MEM_PREPARED &&
		    (uintptr_t)e->u.arena.base < lowest_released)
			lowest_released = (uintptr_t)e->u.arena.base;
		if (e->kind == SL_EV_SCAVENGE) {
			cr_assert_eq(e->u.scavenge.reason, SL_SCAV_GC);
			released += (uint64_t)e->u.scavenge.bytes;
		}
	}
	uint64_t before = retained + released;
	cr_assert_gt(before, goal + 4096, "the test must leave more than the goal retained (%lu vs %lu)",
		     (unsigned long)before, (unsigned long)goal);
	uint64_t want = ((before - goal) + 8191) & ~(uint64_t)8191;	/* whole runtime pages */
	uint64_t releasable = released + h->heap_free;	/* no page caches in play: large objects > 15 pages */
	if (want > releasable)
		want = releasable;
	cr_assert_eq(released, want, "released %lu, Go's goal asks for %lu", (unsigned long)released,
		     (unsigned long)want);
	cr_assert(retained <= goal || h->heap_free == 0, "retained %lu above goal %lu with free pages left",
		  (unsigned long)retained, (unsigned long)goal);
	cr_assert_lt(highest_free_ready(h), lowest_released, "releases come from the top");
	ct_check(hp, "after the post-GC scavenge");
	sl_heap_destroy(hp);
	ct_events_free(&rec);
}

Test(scavenger, no_goal_before_the_first_cycle_or_when_off)
{
	for (int off = 0; off < 2; off++) {
		struct sl_heap_config cfg;
		ct_config(&cfg, 0);
		cfg.scavenger = !off;
		struct sl_heap *hp = ct_heap(&cfg);
		struct sl_p *p = sl_heap_p(hp, 0);
		cr_assert_eq(hp->h.scav_goal, UINT64_MAX);
		void *v[100];
		for (int i = 0; i < 100; i++)
			v[i] = sl_malloc(p, 64 << 10);
		for (int i = 0; i < 100; i++)
			sl_free(p, v[i]);
		sl_heap_gc(hp);
		struct sl_stats st;
		sl_heap_stats(hp, &st);
		if (off) {
			cr_assert_eq(st.scavenged_bytes, 0, "scavenger off: nothing released");
			cr_assert_eq(st.heap_free, 100 * (64 << 10));
		} else {
			cr_assert_gt(st.scavenged_bytes, 0);
		}
		sl_heap_scavenge_all(hp);
		sl_heap_stats(hp, &st);
		cr_assert_eq(st.heap_free, 0, "FreeOSMemory releases every free page");
		ct_check(hp, "after scavenge_all");
		sl_heap_destroy(hp);
	}
}

Test(scavenger, growth_releases_min_of_growth_and_overage)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	struct sl_heap *hp = ct_heap(&cfg);
	struct mheap *h = &hp->h;
	struct sl_p *p = sl_heap_p(hp, 0);
	/* a goal: a cycle with a small live heap and many free pages */
	void *v[64];
	for (int i = 0; i < 64; i++)
		v[i] = sl_malloc(p, 128 << 10);	/* 16 pages each */
	void *fence = sl_malloc(p, 128 << 10);	/* keeps the big object out of the hole */
	for (int i = 1; i < 64; i++)
		sl_free(p, v[i]);
	cfg.scavenger = true;
	h->cfg.scavenger = false;		/* keep the free pages Ready for now */
	sl_heap_gc_marker(hp);
	h->cfg.scavenger = true;
	scavenge_pace(h);
	cr_assert_neq(h->scav_goal, UINT64_MAX, "the goal is set");
	uint64_t retained = heap_retained(h), goal = h->scav_goal;
	cr_assert_gt(retained, goal);
	struct ct_events rec = { 0 };
	sl_sink_attach(hp, ct_recorder(&rec));
	uint64_t free_ready = h->heap_free;
	struct sl_stats st;
	sl_heap_stats(hp, &st);
	void *big = sl_malloc(p, st.heap_sys + (4 << 20));	/* fits nowhere: the heap grows */
	cr_assert_not_null(big);
	uint64_t growth = 0, released = 0;
	for (size_t i = 0; i < rec.n; i++) {
		const struct sl_event *e = &rec.ev[i];
		if (e->kind == SL_EV_ARENA && e->u.arena.to_state == SL_MEM_PREPARED &&
		    e->u.arena.from_state == SL_MEM_RESERVED)
			growth += (uint64_t)e->u.arena.bytes;
		if (e->kind == SL_EV_SCAVENGE) {
			cr_assert_eq(e->u.scavenge.reason, SL_SCAV_GROWTH);
			released += (uint64_t)e->u.scavenge.bytes;
		}
	}
	cr_assert_gt(growth, 0);
	uint64_t over = retained + growth - goal, want = over < growth ? over : growth;
	want = (want + 8191) & ~(uint64_t)8191;
	if (want > free_ready)
		want = free_ready;
	cr_assert_gt(want, 0);
	(void)fence;
	cr_assert_eq(released, want, "growth scavenging released %lu, want %lu", (unsigned long)released,
		     (unsigned long)want);
	ct_check(hp, "after growth scavenging");
	sl_heap_destroy(hp);
	ct_events_free(&rec);
}

/* A goal past 2^64 bytes (a terabyte heap whose goal then grew by GOGC's
 * largest factor) is no goal: nothing is released. The conversion of such
 * a double to an integer is undefined; on x86-64 it gave a goal of 0 or
 * 2^63, and a goal of 0 would have released every free page. */
Test(scavenger, a_goal_past_two_to_the_64_releases_nothing)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.scavenger = true;
	struct sl_heap *hp = ct_heap(&cfg);
	struct mheap *h = &hp->h;
	struct sl_p *p = sl_heap_p(hp, 0);
	for (int i = 0; i < 64; i++)
		sl_free(p, sl_malloc(p, 128 << 10));	/* a retained heap to release from */
	cr_assert_gt(heap_retained(h), 256u << 10);
	const uint64_t T = (uint64_t)1 << 40;
	struct { uint64_t inuse, goal, last_goal; } cases[] = {
		{ 16 * T, (uint64_t)1 << 62, 4u << 20 },	/* ratio 2^40 x 2^44 */
		{ (uint64_t)1 << 63, 8u << 20, 4u << 20 },	/* ratio 2 x 2^63 */
		{ UINT64_MAX - 100, 4u << 20, 4u << 20 },	/* 2^64 - 100, then the 10% */
	};
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		h->last_heap_inuse = cases[k].inuse;
		h->heap_goal = cases[k].goal;
		h->last_heap_goal = cases[k].last_goal;
		scavenge_pace(h);
		cr_assert_eq(h->scav_goal, UINT64_MAX, "case %zu: goal %llu set", k, (unsigned long long)h->scav_goal);
	}
	/* and an ordinary one still sets Go's goal */
	h->last_heap_inuse = 64u << 10;
	h->heap_goal = 8u << 20;
	h->last_heap_goal = 4u << 20;
	scavenge_pace(h);
	cr_assert_eq(h->scav_goal, go_scav_goal(h), "goal %llu, Go %llu, retained %llu", (unsigned long long)h->scav_goal,
		     (unsigned long long)go_scav_goal(h), (unsigned long long)heap_retained(h));
	sl_heap_destroy(hp);
}

