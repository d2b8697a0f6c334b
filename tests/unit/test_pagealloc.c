/*
 * The page allocator (pagealloc.c, pagecache.c): address-ordered first fit
 * across chunk and arena boundaries, scavenged-byte accounting, leaf
 * summaries, and the per-P page cache's window rule.
 *
 * Tests drive the internal functions on a heap grown by hand: 8 MiB arenas
 * (two 512-page chunks each), four chunks grown, so runs can straddle a
 * chunk boundary and an arena boundary. A shadow bitmap is the reference:
 * first fit is the lowest page index starting npages free pages.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "coretest.h"
#include "internal.h"
#include "testlib.h"

enum { NCHUNKS = 4, NPAGES = NCHUNKS * CHUNK_PAGES };

struct pa {
	struct sl_heap *hp;
	struct mheap *h;
	uintptr_t base;
	uint32_t page;
	bool alloc[NPAGES], scav[NPAGES];
};

static void pa_init(struct pa *t)
{
	memset(t, 0, sizeof *t);
	struct sl_heap_config cfg;
	ct_config(&cfg, (size_t)2 * CHUNK_PAGES * 8192);
	t->hp = ct_heap(&cfg);
	t->h = &t->hp->h;
	t->page = t->h->page_size;
	cr_assert_eq(mheap_grow(t->h, NPAGES), (uint64_t)NPAGES * t->page);
	cr_assert_eq(t->h->narenas, 2);
	cr_assert_eq(t->h->all_arenas[1]->base, t->h->all_arenas[0]->base + t->h->cfg.arena_bytes,
		     "the two arenas are contiguous");
	t->base = t->h->all_arenas[0]->base;
	for (int i = 0; i < NPAGES; i++)
		t->scav[i] = true;
}

static int ref_first_fit(const struct pa *t, uint32_t n)
{
	uint32_t run = 0;
	for (uint32_t i = 0; i < NPAGES; i++) {
		run = t->alloc[i] ? 0 : run + 1;
		if (run == n)
			return (int)(i + 1 - n);
	}
	return -1;
}

static int pa_alloc(struct pa *t, uint32_t n)
{
	uint64_t scav;
	uintptr_t a = page_alloc_alloc(t->h, n, &scav);
	int want = ref_first_fit(t, n);
	if (want < 0) {
		cr_assert_eq(a, 0, "alloc %u: got %#lx, reference says no run fits", n, (unsigned long)a);
		return -1;
	}
	cr_assert_eq(a, t->base + (uintptr_t)want * t->page, "alloc %u: got page %ld, first fit is page %d", n,
		     (long)((intptr_t)(a - t->base) / t->page), want);
	uint64_t ws = 0;
	for (uint32_t i = 0; i < n; i++) {
		ws += t->scav[want + i] ? t->page : 0;
		t->alloc[want + i] = true;
		t->scav[want + i] = false;
	}
	cr_assert_eq(scav, ws, "alloc %u at page %d: %lu scavenged bytes, reference %lu", n, want,
		     (unsigned long)scav, (unsigned long)ws);
	return want;
}

static void pa_free(struct pa *t, uint32_t first, uint32_t n, bool scavenged)
{
	page_alloc_free(t->h, t->base + (uintptr_t)first * t->page, n, scavenged);
	for (uint32_t i = 0; i < n; i++) {
		t->alloc[first + i] = false;
		t->scav[first + i] = scavenged;
	}
}

/* Bitmaps and summaries against the shadow. */
static void pa_compare(struct pa *t)
{
	for (uint32_t i = 0; i < NPAGES; i++) {
		struct palloc_chunk *c = page_alloc_chunk_of(t->h, t->base + (uintptr_t)i * t->page);
		uint32_t k = i % CHUNK_PAGES;
		cr_assert_eq(bit_get(c->alloc, k), t->alloc[i], "page %u: alloc bit", i);
		if (!t->alloc[i])
			cr_assert_eq(bit_get(c->scav, k), t->scav[i], "page %u: scavenged bit", i);
	}
	for (uint32_t ci = 0; ci < NCHUNKS; ci++) {
		struct palloc_chunk *c = page_alloc_chunk_of(t->h, t->base + (uintptr_t)ci * CHUNK_PAGES * t->page);
		uint32_t start = 0, max = 0, end = 0, run = 0;
		while (start < CHUNK_PAGES && !t->alloc[ci * CHUNK_PAGES + start])
			start++;
		for (uint32_t i = 0; i < CHUNK_PAGES; i++) {
			run = t->alloc[ci * CHUNK_PAGES + i] ? 0 : run + 1;
			if (run > max)
				max = run;
		}
		end = run;
		cr_assert(c->start == start && c->max == max && c->end == end,
			  "chunk %u: summary (%u,%u,%u), expected (%u,%u,%u)", ci, c->start, c->max, c->end,
			  start, max, end);
	}
}

static void pa_fini(struct pa *t)
{
	sl_heap_destroy(t->hp);
}

Test(pagealloc, first_fit_matches_brute_force)
{
	struct pa t;
	pa_init(&t);
	struct ct_rng r = { tl_seed("pagealloc.first_fit_matches_brute_force") | 1 };
	struct { uint32_t first, n; } live[512];
	int nlive = 0;
	for (int op = 0; op < 3000; op++) {
		if (nlive > 0 && (ct_below(&r, 2) == 0 || nlive == 512)) {
			int i = (int)ct_below(&r, (uint64_t)nlive);
			pa_free(&t, live[i].first, live[i].n, ct_below(&r, 4) == 0);
			live[i] = live[--nlive];
		} else {
			uint32_t n = ct_below(&r, 8) == 0 ? 1 + (uint32_t)ct_below(&r, 700) : 1 + (uint32_t)ct_below(&r, 20);
			int at = pa_alloc(&t, n);
			if (at >= 0) {
				live[nlive].first = (uint32_t)at;
				live[nlive++].n = n;
			}
		}
		if (op % 100 == 0)
			pa_compare(&t);
	}
	pa_compare(&t);
	pa_fini(&t);
}

/* Named cases: before (allocated page ranges), one request, the answer. */
struct fit_case {
	const char *name;
	struct { uint32_t first, n; } before[4];
	uint32_t npages;
	int want;			/* page index, -1: no fit */
};

static const struct fit_case fit_cases[] = {
	{ "empty_heap_first_page", { { 0, 0 } }, 1, 0 },
	{ "skip_allocated_prefix", { { 0, 10 } }, 1, 10 },
	{ "hole_too_small_is_skipped", { { 0, 10 }, { 12, 50 } }, 3, 62 },
	{ "hole_exact_fit", { { 0, 10 }, { 13, 50 } }, 3, 10 },
	{ "straddle_chunk_boundary", { { 0, 509 }, { 515, 100 } }, 6, 509 },
	{ "straddle_arena_boundary", { { 0, 1020 }, { 1030, 10 } }, 8, 1020 },
	{ "run_over_a_whole_chunk", { { 0, 500 }, { 1100, 5 } }, 600, 500 },
	{ "exhaust_minus_3", { { 0, NPAGES - 3 } }, 3, NPAGES - 3 },
	{ "exhaust_minus_3_then_4_fails", { { 0, NPAGES - 3 } }, 4, -1 },
	{ "larger_than_heap_fails", { { 0, 0 } }, NPAGES + 1, -1 },
};

static void run_fit_case(const struct fit_case *c)
{
	struct pa t;
	pa_init(&t);
	for (int i = 0; i < 4 && c->before[i].n; i++) {
		uint64_t scav;
		uintptr_t a = t.base + (uintptr_t)c->before[i].first * t.page;
		page_alloc_alloc_range(t.h, a, c->before[i].n);
		(void)scav;
		for (uint32_t k = 0; k < c->before[i].n; k++) {
			t.alloc[c->before[i].first + k] = true;
			t.scav[c->before[i].first + k] = false;
		}
	}
	t.h->pages.search_addr = t.base;	/* nothing below the heap */
	int got = pa_alloc(&t, c->npages);
	cr_assert_eq(got, c->want, "%s: got page %d, want %d", c->name, got, c->want);
	pa_compare(&t);
	pa_fini(&t);
}

Test(pagealloc, named_first_fit_cases)
{
	for (size_t i = 0; i < sizeof fit_cases / sizeof fit_cases[0]; i++)
		run_fit_case(&fit_cases[i]);
}

Test(pagealloc, scavenged_bytes_follow_the_pages)
{
	struct pa t;
	pa_init(&t);
	cr_assert_eq(pa_alloc(&t, 10), 0);		/* fresh: all scavenged */
	pa_free(&t, 2, 4, false);			/* freed span: Ready */
	cr_assert_eq(pa_alloc(&t, 6), 10, "the 4-page hole is too small");
	cr_assert_eq(pa_alloc(&t, 4), 2, "the hole fits 4 (pa_alloc checks 0 scavenged bytes)");
	pa_free(&t, 10, 6, true);			/* scavenger's free: Prepared */
	cr_assert_eq(pa_alloc(&t, 8), 10, "8 pages: 6 scavenged by free, 2 fresh");
	pa_compare(&t);
	pa_fini(&t);
}

Test(pagecache, window_is_the_block_of_the_lowest_free_page)
{
	struct pa t;
	pa_init(&t);
	page_alloc_alloc_range(t.h, t.base, 100);
	t.h->pages.search_addr = t.base;
	struct page_cache c;
	page_alloc_alloc_to_cache(t.h, &c);
	cr_assert_eq(c.base, t.base + 64 * (uintptr_t)t.page, "block 64..127 holds page 100");
	cr_assert_eq(c.cache, ~(uint64_t)0 << 36, "pages 100..127 are the cache's");
	cr_assert_eq(c.scav, c.cache, "fresh pages are scavenged");
	cr_assert_eq(t.h->pages.search_addr, c.base + 63 * (uintptr_t)t.page, "searchAddr = base + 63 pages");
	uint64_t scav;
	uintptr_t a = page_cache_alloc(t.h, &c, 3, &scav);
	cr_assert_eq(a, t.base + 100 * (uintptr_t)t.page);
	cr_assert_eq(scav, 3 * (uint64_t)t.page);
	a = page_cache_alloc(t.h, &c, 1, &scav);
	cr_assert_eq(a, t.base + 103 * (uintptr_t)t.page);
	cr_assert_eq(page_cache_alloc(t.h, &c, 30, &scav), 0, "only 24 pages left in the cache");
	cr_assert_eq(c.cache, ~(uint64_t)0 << 40, "a failed request leaves the cache as it was");
	/* the heap's own first fit does not see the cached pages */
	uintptr_t b = page_alloc_alloc(t.h, 1, &scav);
	cr_assert_eq(b, t.base + 128 * (uintptr_t)t.page);
	page_cache_flush(t.h, &c);
	struct palloc_chunk *ch = page_alloc_chunk_of(t.h, t.base);
	cr_assert(bit_get(ch->alloc, 103) && !bit_get(ch->alloc, 104) && bit_get(ch->scav, 104),
		  "flush returns the cached pages with their scavenged bits");
	pa_fini(&t);
}

Test(pagecache, window_at_the_end_of_a_chunk)
{
	struct pa t;
	pa_init(&t);
	page_alloc_alloc_range(t.h, t.base, CHUNK_PAGES - 1);	/* page 511 free */
	t.h->pages.search_addr = t.base;
	struct page_cache c;
	page_alloc_alloc_to_cache(t.h, &c);
	cr_assert_eq(c.base, t.base + 448 * (uintptr_t)t.page);
	cr_assert_eq(c.cache, (uint64_t)1 << 63);
	uint64_t scav;
	cr_assert_eq(page_cache_alloc(t.h, &c, 2, &scav), 0, "one cached page cannot serve two");
	uintptr_t a = page_alloc_alloc(t.h, 2, &scav);
	cr_assert_eq(a, t.base + CHUNK_PAGES * (uintptr_t)t.page, "the heap serves 2 pages from the next chunk");
	pa_fini(&t);
}

Test(pagecache, spans_under_16_pages_come_from_the_cache)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	struct sl_heap *hp = ct_heap(&cfg);
	struct ct_events rec = { 0 };
	sl_sink_attach(hp, ct_recorder(&rec));
	struct sl_p *p = sl_heap_p(hp, 0);
	cr_assert_not_null(sl_malloc(p, 100));		/* grows; fills the page cache */
	ct_events_clear(&rec);
	cr_assert_not_null(sl_malloc(p, 15 * 8192));	/* large, 15 pages */
	cr_assert_not_null(sl_malloc(p, 16 * 8192));	/* large, 16 pages */
	int seen = 0;
	for (size_t i = 0; i < rec.n; i++) {
		if (rec.ev[i].kind != SL_EV_SPAN_ALLOC)
			continue;
		const struct sl_ev_span_alloc *a = &rec.ev[i].u.span_alloc;
		if (a->npages == 15)
			cr_assert_eq(a->source, SL_PAGE_PAGECACHE, "15 pages come from the page cache");
		if (a->npages == 16)
			cr_assert_eq(a->source, SL_PAGE_HEAP, "16 pages bypass the page cache");
		seen++;
	}
	cr_assert_eq(seen, 2);
	ct_check(hp, "after two large allocations");
	sl_heap_destroy(hp);
	ct_events_free(&rec);
}
