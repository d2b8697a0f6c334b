/*
 * The validators (alloc/check.c) catch what their opening comment says
 * they check. Every other test trusts sl_heap_check to fail on a broken
 * heap; here each invariant is broken by hand, one at a time, on a heap
 * that passes: the check must fail with that invariant's message, and
 * pass again once the one change is undone (so the change alone was
 * caught, not some other state of the heap).
 *
 * The heap: 4 MiB arenas, two Ps; small objects in cached, partial and
 * full spans, half of them freed and swept by a GC; tiny objects; a live
 * large object;
 * free pages, some scavenged; a P page cache holding pages.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "coretest.h"
#include "internal.h"

struct world {
	struct sl_heap *hp;
	struct mheap *h;
	void *small[600];
	void *tiny[30];
	void *large;
};

static struct world w;

static void build(void)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 4u << 20);
	cfg.nprocs = 2;
	w.hp = ct_heap(&cfg);
	w.h = &w.hp->h;
	struct sl_p *p0 = sl_heap_p(w.hp, 0), *p1 = sl_heap_p(w.hp, 1);
	void *gone = sl_malloc(p0, 300 << 10);
	for (int i = 0; i < 600; i++)
		cr_assert_not_null(w.small[i] = sl_malloc(p0, 48));
	for (int i = 0; i < 30; i++)
		cr_assert_not_null(w.tiny[i] = sl_malloc(p0, 6));
	w.large = sl_malloc(p1, 100 << 10);
	cr_assert_eq(sl_free(p0, gone), SL_FREE_OK);
	for (int i = 0; i < 600; i += 2)
		cr_assert_eq(sl_free(p0, w.small[i]), SL_FREE_OK);
	sl_heap_gc(w.hp);
	sl_heap_scavenge_all(w.hp);
	cr_assert_not_null(sl_malloc(p1, 2000), "a span for P 1 from the page heap, through its page cache");
	ct_check(w.hp, "the heap before any change");
}

static void teardown(void)
{
	sl_heap_destroy(w.hp);
	memset(&w, 0, sizeof w);
}

TestSuite(check, .init = build, .fini = teardown);

/* The check fails, naming `what`. */
static void caught(const char *what)
{
	char err[512] = "";
	cr_assert_eq(sl_heap_check(w.hp, err, sizeof err), -1, "not caught: %s", what);
	cr_assert(strstr(err, what), "caught as '%s', expected '%s'", err, what);
}

static void passes(void)
{
	ct_check(w.hp, "the heap after undoing the change");
}

/* The one-field cases: set *v to bad (flip bit i of a bitmap), expect
 * `what`, undo, expect a pass. */
static void caught_u32(uint32_t *v, uint32_t bad, const char *what)
{
	uint32_t old = *v;
	*v = bad;
	caught(what);
	*v = old;
	passes();
}

static void caught_flip(uint64_t *bits, uint32_t i, const char *what)
{
	bits[i / 64] ^= (uint64_t)1 << i % 64;
	caught(what);
	bits[i / 64] ^= (uint64_t)1 << i % 64;
	passes();
}

/* The first page (grown, in arena order) with the given alloc/scav bits;
 * with_span: allocated pages must (1) or must not (0) be in a span, -1
 * either. Fails the test if there is none. */
struct page {
	struct heap_arena *ha;
	struct palloc_chunk *c;
	uint32_t ci, i;		/* chunk, page within the chunk */
	uintptr_t a;
};

static struct page find_page(bool alloc, bool scav, int with_span)
{
	struct mheap *h = w.h;
	for (uint32_t ai = 0; ai < h->narenas; ai++) {
		struct heap_arena *ha = h->all_arenas[ai];
		for (uint32_t ci = 0; ci < h->arena_pages / CHUNK_PAGES; ci++) {
			struct palloc_chunk *c = &ha->chunks[ci];
			for (uint32_t i = 0; c->grown && i < CHUNK_PAGES; i++) {
				uintptr_t a = ha->base + ((uintptr_t)(ci * CHUNK_PAGES + i) << h->page_shift);
				if (bit_get(c->alloc, i) != alloc || bit_get(c->scav, i) != scav)
					continue;
				if (alloc && with_span >= 0 && (span_of_heap(h, a) != NULL) != with_span)
					continue;
				return (struct page){ ha, c, ci, i, a };
			}
		}
	}
	cr_assert_fail("no page with alloc %d scav %d span %d", alloc, scav, with_span);
	return (struct page){ 0 };
}

static struct mspan **spans_entry(const struct page *pg)
{
	return &pg->ha->spans[(pg->a - pg->ha->base) >> w.h->page_shift];
}

/* ---- page_alloc_check ------------------------------------------------------- */

Test(check, a_grown_page_without_a_spans_map_entry)
{
	struct page pg = find_page(false, true, -1);
	struct mspan **e = spans_entry(&pg), *old = *e;
	*e = NULL;
	caught("NULL spans-map entry");
	*e = old;
	passes();
}

Test(check, a_free_page_below_search_addr)
{
	struct page pg = find_page(false, true, -1);
	uintptr_t old = w.h->pages.search_addr;
	w.h->pages.search_addr = pg.a + w.h->page_size;
	caught("below search_addr");
	w.h->pages.search_addr = old;
	passes();
}

Test(check, a_free_page_while_search_addr_says_full)
{
	uintptr_t old = w.h->pages.search_addr;
	w.h->pages.search_addr = MAX_SEARCH_ADDR;
	caught("search_addr says the heap is full");
	w.h->pages.search_addr = old;
	passes();
}

Test(check, an_allocated_page_marked_scavenged)
{
	struct page pg = find_page(true, false, 1);
	caught_flip(pg.c->scav, pg.i, "has its scavenged bit set");
}

Test(check, an_allocated_page_in_no_span_and_no_cache)
{
	struct page pg = find_page(false, true, -1);
	struct palloc_chunk old = *pg.c;
	bit_set(pg.c->alloc, pg.i);
	bit_clear(pg.c->scav, pg.i);
	page_alloc_update(w.h, pg.c);	/* the summary agrees: only the owner is missing */
	caught("is in no span and no page cache");
	*pg.c = old;
	passes();
}

/* A P's page cache that holds something, and the other P. */
static struct page_cache *holding_cache(int *other)
{
	for (int i = 0; i < w.h->cfg.nprocs; i++)
		if (w.h->ps[i].pcache.cache != 0) {
			*other = !i;
			return &w.h->ps[i].pcache;
		}
	cr_assert_fail("no P's page cache holds pages");
	return NULL;
}

Test(check, a_span_page_also_in_a_page_cache)
{
	int o, i;
	struct page_cache *pc = holding_cache(&o), old = *pc;
	for (i = 0; i < 64; i++)	/* a page of its block that a span holds */
		if (!(pc->cache >> i & 1) && span_of_heap(w.h, pc->base + ((uintptr_t)i << w.h->page_shift)))
			break;
	cr_assert_lt(i, 64, "the cache's block holds a span page too");
	pc->cache |= (uint64_t)1 << i;
	caught("is in a span and a page cache");
	*pc = old;
	passes();
}

Test(check, a_page_cache_off_its_64_page_block)
{
	int o;
	struct page_cache *pc = holding_cache(&o);
	uintptr_t old = pc->base;
	pc->base += w.h->page_size;
	caught("is not a 64-page block of a grown chunk");
	pc->base = old;
	passes();
}

Test(check, a_page_cache_holding_pages_free_in_the_bitmap)
{
	int o;
	struct page_cache *pc = holding_cache(&o);
	struct page pg = find_page(false, true, -1);
	struct page_cache old = *pc;
	pc->base = pg.a - ((uintptr_t)(pg.i % 64) << w.h->page_shift);
	pc->cache = (uint64_t)1 << pg.i % 64;
	pc->scav = 0;
	/* (the cache's own pages are orphaned too, but the caches are
	 * checked before the pages) */
	caught("holds pages that are free in the bitmap");
	*pc = old;
	passes();
}

Test(check, two_ps_holding_the_same_page)
{
	int o;
	struct page_cache *pc = holding_cache(&o), *oc = &w.h->ps[o].pcache, old = *oc;
	*oc = *pc;
	oc->cache &= -oc->cache;	/* one page of the other P's block */
	oc->scav &= oc->cache;
	caught("hold the same pages");
	*oc = old;
	passes();
}

/* Valid: two Ps hold disjoint pages of one block (Go reaches this when a
 * span of a P's block is freed and another P refills its cache there). */
Test(check, two_ps_sharing_a_block_pass)
{
	int o;
	struct page_cache *pc = holding_cache(&o), *oc = &w.h->ps[o].pcache;
	page_cache_flush(w.h, oc);
	ct_check(w.hp, "after flushing a page cache");
	cr_assert_geq(__builtin_popcountll(pc->cache), 2, "a cache of two pages or more to share");
	uint64_t high = pc->cache & ~(pc->cache & -pc->cache);	/* all but its lowest page */
	*oc = (struct page_cache){ pc->base, high, pc->scav & high };
	pc->cache &= ~high;
	pc->scav &= ~high;
	ct_check(w.hp, "two Ps holding disjoint pages of one block");
}

Test(check, a_large_span_across_two_arenas)
{
	unsigned char *big = sl_malloc(sl_heap_p(w.hp, 0), 6u << 20);
	cr_assert_not_null(big);
	struct mspan *s = span_of_heap(w.h, (uintptr_t)big);
	uintptr_t last = s->base + ((uintptr_t)(s->npages - 1) << w.h->page_shift);
	struct heap_arena *ha = arena_of(w.h, last);
	cr_assert_neq(ha, arena_of(w.h, s->base), "6 MiB spans two 4 MiB arenas");
	passes();
	uint32_t i = (uint32_t)((last - ha->base) >> w.h->page_shift);
	caught_flip(ha->page_in_use, i, "pageInUse bit of page");
}

/* mspan_check's own walk of a span's pages, on its own (sl_heap_check
 * would meet the page first in page_alloc_check): a wrong entry in either
 * arena of a span across two is named by its page. */
Test(check, mspan_check_names_a_span_page_mapped_elsewhere)
{
	unsigned char *big = sl_malloc(sl_heap_p(w.hp, 0), 6u << 20);
	cr_assert_not_null(big);
	struct mspan *s = span_of_heap(w.h, (uintptr_t)big), *other = span_of_heap(w.h, (uintptr_t)w.large);
	uint32_t pages[] = { 1, s->npages / 2, s->npages - 1 };
	for (size_t k = 0; k < sizeof pages / sizeof *pages; k++) {
		uintptr_t a = s->base + ((uintptr_t)pages[k] << w.h->page_shift);
		struct heap_arena *ha = arena_of(w.h, a);
		struct mspan **e = &ha->spans[(a - ha->base) >> w.h->page_shift];
		char err[512] = "", want[64];
		cr_assert_eq(mspan_check(w.h, s, err, sizeof err), 0, "%s", err);
		*e = other;
		cr_assert_eq(mspan_check(w.h, s, err, sizeof err), -1, "page %u mapped elsewhere not caught", pages[k]);
		snprintf(want, sizeof want, "spans map entry of page %u does", pages[k]);
		cr_assert(strstr(err, want), "caught as '%s', expected '%s'", err, want);
		*e = s;
	}
	passes();
}

Test(check, a_spans_map_entry_naming_the_wrong_span)
{
	struct page pg = find_page(true, false, 1);
	struct mspan **e = spans_entry(&pg), *old = *e;
	*e = span_of_heap(w.h, (uintptr_t)w.large);
	cr_assert_neq(*e, old, "the page is not the large object's");
	caught("points at a span that does not hold it");
	*e = old;
	passes();
}

/* page_alloc_check counts a large span's pages a run at a time: a wrong
 * entry inside a run, at either end of a bitmap word or at the span's
 * last page, is still named page by page. */
Test(check, page_alloc_check_names_a_wrong_entry_inside_a_large_span)
{
	unsigned char *big = sl_malloc(sl_heap_p(w.hp, 0), 6u << 20);
	cr_assert_not_null(big);
	struct mspan *s = span_of_heap(w.h, (uintptr_t)big), *other = span_of_heap(w.h, (uintptr_t)w.large);
	struct heap_arena *ha0 = arena_of(w.h, s->base);
	uint32_t at = (uint32_t)((s->base - ha0->base) >> w.h->page_shift) % 64;
	uint32_t word = (64 - at) % 64;		/* the span's first page that starts a bitmap word */
	cr_assert_lt(word + 129, s->npages);
	uint32_t pages[] = { 1, word + 63, word + 64, word + 65, word + 127, word + 128, s->npages / 2,
			     s->npages - 2, s->npages - 1 };
	for (size_t k = 0; k < sizeof pages / sizeof *pages; k++) {
		uintptr_t a = s->base + ((uintptr_t)pages[k] << w.h->page_shift);
		struct heap_arena *ha = arena_of(w.h, a);
		struct mspan **e = &ha->spans[(a - ha->base) >> w.h->page_shift];
		char err[512] = "", want[64];
		*e = other;
		cr_assert_eq(page_alloc_check(w.h, err, sizeof err), -1, "page %u mapped elsewhere not caught", pages[k]);
		snprintf(want, sizeof want, "page %#lx: spans map points", (unsigned long)a);
		cr_assert(strstr(err, want), "caught as '%s', expected '%s'", err, want);
		*e = s;
		cr_assert_eq(page_alloc_check(w.h, err, sizeof err), 0, "%s", err);
	}
	passes();
}

Test(check, a_chunk_summary_that_disagrees_with_its_bitmap)
{
	struct page pg = find_page(false, true, -1);
	uint16_t old = pg.c->max;
	pg.c->max = (uint16_t)(old - 1);
	caught("bitmap says");
	pg.c->max = old;
	passes();
}

Test(check, free_unscavenged_pages_without_a_scavenge_index_bit)
{
	struct page pg = find_page(false, true, -1);
	struct palloc_chunk old = *pg.c;
	bit_clear(pg.c->scav, pg.i);	/* free and unscavenged: counted as Ready below */
	pg.c->scav_index = false;
	caught("no scavenge-index bit");
	*pg.c = old;
	passes();
}

Test(check, counters_that_disagree_with_the_pages)
{
	struct { uint64_t *v; const char *what; } c[] = {
		{ &w.h->sys.bytes[SL_MEM_RESERVED], "Reserved:" },
		{ &w.h->sys.bytes[SL_MEM_PREPARED], "Prepared:" },
		{ &w.h->sys.bytes[SL_MEM_READY], "Ready:" },
		{ &w.h->heap_inuse, "heap_inuse" },
		{ &w.h->heap_free, "heap_free" },
		{ &w.h->heap_released, "heap_released" },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		*c[i].v += w.h->page_size;
		caught(c[i].what);
		*c[i].v -= w.h->page_size;
		passes();
	}
}

Test(check, scavenged_bits_on_pages_a_page_cache_does_not_hold)
{
	struct page_cache *pc = NULL;
	for (int i = 0; i < w.h->cfg.nprocs; i++)
		if (w.h->ps[i].pcache.cache != ~(uint64_t)0 && w.h->ps[i].pcache.cache != 0)
			pc = &w.h->ps[i].pcache;
	cr_assert_not_null(pc, "a P's page cache holds some pages, not all 64");
	uint64_t old = pc->scav;
	pc->scav |= ~pc->cache & -~pc->cache;	/* the lowest page it does not hold */
	caught("page cache has scavenged bits on pages it does not hold");
	pc->scav = old;
	passes();
}

/* ---- mspan_check, mcentral_check, heap_check ---------------------------------- */

Test(check, a_span_whose_alloc_count_is_off)
{
	struct mspan *s = span_of_heap(w.h, (uintptr_t)w.small[1]);
	cr_assert(s->in_set != NULL && s->alloc_count + 1 < s->nelems, "a partial 48-byte span in its mcentral");
	caught_u32(&s->alloc_count, s->alloc_count + 1, "allocCount");
}

Test(check, a_page_in_use_bit_on_a_span_page_past_the_first)
{
	struct mspan *s = span_of_heap(w.h, (uintptr_t)w.large);
	cr_assert_gt(s->npages, 1);
	struct heap_arena *ha = arena_of(w.h, s->base);
	uint32_t i = (uint32_t)((s->base - ha->base) >> w.h->page_shift) + 1;
	caught_flip(ha->page_in_use, i, "pageInUse");
}

Test(check, an_mcentral_set_that_miscounts)
{
	struct mspan *s = span_of_heap(w.h, (uintptr_t)w.small[1]);
	cr_assert(s->in_set != NULL, "the first 48-byte span went back to its mcentral");
	s->in_set->n++;
	caught("counts");
	s->in_set->n--;
	passes();
}

Test(check, a_span_count_the_walk_does_not_find)
{
	uint64_t old = w.h->spans_inuse;
	w.h->spans_inuse++;
	caught("spans_inuse");
	w.h->spans_inuse = old;
	passes();
}

Test(check, a_live_object_whose_size_the_walk_does_not_find)
{
	struct mspan *s = span_of_heap(w.h, (uintptr_t)w.small[1]);
	uint32_t k = mspan_obj_index(s, (uintptr_t)w.small[1]);
	caught_u32(&s->reqsize[k], s->reqsize[k] + 1, "live_bytes: stats");
}

Test(check, a_live_object_without_its_live_bit)
{
	struct mspan *s = span_of_heap(w.h, (uintptr_t)w.small[1]);
	uint32_t k = mspan_obj_index(s, (uintptr_t)w.small[1]);
	cr_assert(bit_get(s->live_bits, k), "the gc policy keeps live bits");
	caught_flip(s->live_bits, k, "live_bytes: stats");
}

Test(check, a_tiny_sub_object_without_an_end)
{
	struct mspan *s = span_of_heap(w.h, (uintptr_t)w.tiny[0]);
	uint32_t k = mspan_obj_index(s, (uintptr_t)w.tiny[0]);
	cr_assert_neq(s->reqsize[k] & 0xffff, 0, "the block holds sub-objects");
	caught_u32(&s->reqsize[k], s->reqsize[k] & 0xffff, "has no end");
}
