/*
 * mcache (cache.c): the empty sentinel, the tiny allocator's packing and
 * reclamation, large objects.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "coretest.h"
#include "internal.h"

static struct sl_heap *heap(enum sl_free_policy pol, bool tiny)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.free_policy = pol;
	cfg.tiny = tiny;
	return ct_heap(&cfg);
}

Test(mcache, starts_at_the_empty_sentinel)
{
	struct sl_heap *h = heap(SL_FREE_GC, true);
	struct sl_p *p = sl_heap_p(h, 0);
	for (uint32_t spc = 0; spc < h->h.nspc; spc++)
		cr_assert_eq(p->mcache.alloc[spc], &empty_mspan, "alloc[%u] is not the sentinel", spc);
	size_t bit;
	cr_assert_not(mspan_next_free_fast((struct mspan *)&empty_mspan, &bit), "the sentinel has no free slot");
	cr_assert_eq(empty_mspan.nelems, 0, "and no group to move to");
	void *v = sl_malloc(p, 100);
	cr_assert_neq(p->mcache.alloc[make_span_class(sl_size_to_class(h->h.sc, 100), false)], &empty_mspan);
	cr_assert_not_null(v);
	sl_heap_destroy(h);
}

Test(mcache, tiny_packing_follows_go_alignment)
{
	struct sl_heap *h = heap(SL_FREE_GC, true);
	struct sl_p *p = sl_heap_p(h, 0);
	/* sizes and the offset each lands at inside the current block */
	struct { size_t n; uintptr_t off; bool new_block; } seq[] = {
		{ 1, 0, true }, { 2, 2, false }, { 4, 4, false }, { 8, 8, false },	/* block full */
		{ 3, 0, true },		/* new block, replaces the full one (3 < 16) */
		{ 5, 3, false },	/* odd size: no rounding */
		{ 12, 0, true },	/* 8 + 12 > 16: new block; 12 < 8? no: old one stays current */
		{ 6, 8, false },	/* packs into the old block at 8 (rounded to 2) */
	};
	uintptr_t block = 0;
	for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
		uintptr_t v = (uintptr_t)sl_malloc(p, seq[i].n);
		cr_assert_neq(v, 0);
		if (seq[i].new_block) {
			cr_assert_eq(v % 16, 0, "a new block is 16-aligned");
			if (seq[i].n != 12)
				block = v;
			continue;
		}
		cr_assert_eq(v, block + seq[i].off, "object %zu (%zu B) at offset %ld, want %lu", i, seq[i].n,
			     (long)(v - block), (unsigned long)seq[i].off);
	}
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.tiny_allocs, 5, "5 objects were packed into existing blocks");
	cr_assert_eq(st.live_objects, 8);
	cr_assert_eq(st.live_bytes, 1 + 2 + 4 + 8 + 3 + 5 + 12 + 6);
	cr_assert_eq(st.by_class[2].mallocs, 3, "three 16-byte blocks");
	ct_check(h, "after packing");
	sl_heap_destroy(h);
}

Test(mcache, tiny_block_dies_with_its_last_sub_object)
{
	for (int pol = 0; pol < 2; pol++) {
		struct sl_heap *h = heap(pol ? SL_FREE_IMMEDIATE : SL_FREE_GC, true);
		struct sl_p *p = sl_heap_p(h, 0);
		char *a = sl_malloc(p, 4), *b = sl_malloc(p, 4), *c = sl_malloc(p, 8);
		cr_assert(b == a + 4 && c == a + 8, "three sub-objects in one block");
		char *d = sl_malloc(p, 1);		/* a second block becomes current */
		cr_assert_eq(d, a + 16);
		cr_assert_eq(sl_free(p, a + 1), SL_FREE_INTERIOR, "interior pointer of a live sub-object");
		cr_assert_eq(sl_free(p, a), SL_FREE_OK);
		cr_assert_eq(sl_free(p, a), SL_FREE_TINY_NOT_LIVE, "double free of a sub-object");
		cr_assert_eq(sl_free(p, a + 1), SL_FREE_TINY_NOT_LIVE, "pointer into a freed sub-object");
		cr_assert_eq(sl_free(p, c), SL_FREE_OK);
		sl_heap_gc(h);
		sl_heap_gc(h);				/* d's block is current for one cycle */
		char *e = sl_malloc(p, 16 - 1);
		cr_assert_neq(e, a, "policy %d: block still holds b, it must not be reused", pol);
		ct_check(h, "one live sub-object left");
		cr_assert_eq(sl_free(p, b), SL_FREE_OK);
		if (pol == 0)
			sl_heap_gc(h);			/* gc policy: reclaimed by the sweep */
		char *f = sl_malloc(p, 2);
		char *g = sl_malloc(p, 16 - 1);		/* does not fit next to f: a new block */
		cr_assert(f == a || g == a, "policy %d: the dead block's slot is reused (%p %p, was %p)", pol,
			  (void *)f, (void *)g, (void *)a);
		ct_check(h, "after reuse");
		sl_heap_destroy(h);
	}
}

/*
 * A bad free into a tiny block: inside a live sub-object it is an interior
 * pointer; anywhere else that no live sub-object starts (a freed one, the
 * padding Go's alignment leaves, the unused tail) it is TINY_NOT_LIVE.
 * Every offset of the block, for blocks packed three ways, after every
 * subset of their sub-objects is freed, in both policies; the expected
 * result comes from the list of sub-objects, not from the block's masks.
 */
Test(mcache, tiny_bad_free_is_interior_only_inside_a_live_sub_object)
{
	static const size_t packs[][4] = { { 1, 8 }, { 3, 2, 4, 1 }, { 5, 2, 6 } };
	for (int pol = 0; pol < 2; pol++)
		for (size_t k = 0; k < sizeof packs / sizeof packs[0]; k++) {
			size_t nsub = 0;
			while (nsub < 4 && packs[k][nsub])
				nsub++;
			for (unsigned freed = 0; freed < 1u << nsub; freed++) {
				struct sl_heap *h = heap(pol ? SL_FREE_IMMEDIATE : SL_FREE_GC, true);
				struct sl_p *p = sl_heap_p(h, 0);
				char *sub[4], *block = NULL;
				for (size_t i = 0; i < nsub; i++) {
					sub[i] = sl_malloc(p, packs[k][i]);
					if (i == 0)
						block = sub[0];
					cr_assert(sub[i] >= block && sub[i] + packs[k][i] <= block + 16,
						  "pack %zu: sub-object %zu is not in the first block", k, i);
				}
				for (size_t i = 0; i < nsub; i++)
					if (freed >> i & 1)
						cr_assert_eq(sl_free(p, sub[i]), SL_FREE_OK);
				struct sl_stats before, after;
				sl_heap_stats(h, &before);
				int bad = 0;
				for (char *a = block; a < block + 16; a++) {
					bool live_start = false, inside = false;
					for (size_t i = 0; i < nsub; i++) {
						bool live = !(freed >> i & 1);
						live_start |= live && a == sub[i];
						inside |= live && a > sub[i] && a < sub[i] + packs[k][i];
					}
					if (live_start)
						continue;
					enum sl_free_result want = inside ? SL_FREE_INTERIOR : SL_FREE_TINY_NOT_LIVE;
					enum sl_free_result r = sl_free(p, a);
					cr_assert_eq(r, want, "policy %d, pack %zu, freed %#x, offset %td: %s, want %s", pol,
						     k, freed, a - block, sl_free_result_name(r), sl_free_result_name(want));
					bad++;
				}
				sl_heap_stats(h, &after);
				cr_assert_eq(after.bad_frees, before.bad_frees + bad);
				cr_assert_eq(after.live_bytes, before.live_bytes, "a refused free changed live bytes");
				cr_assert_eq(after.live_objects, before.live_objects);
				ct_check(h, "after bad frees into a tiny block");
				sl_heap_destroy(h);
			}
		}
}

Test(mcache, tiny_off_uses_size_classes)
{
	struct sl_heap *h = heap(SL_FREE_GC, false);
	struct sl_p *p = sl_heap_p(h, 0);
	uintptr_t a = (uintptr_t)sl_malloc(p, 1), b = (uintptr_t)sl_malloc(p, 1);
	cr_assert_eq(b - a, 8, "1-byte objects in the 8-byte class");
	struct mspan *s = span_of(&h->h, a);
	cr_assert_eq(s->spanclass, make_span_class(1, false), "scan span class 2 (class 1)");
	uintptr_t c = (uintptr_t)sl_malloc(p, 9);
	cr_assert_eq(span_of(&h->h, c)->spanclass, make_span_class(2, false));
	sl_heap_destroy(h);
}

Test(mcache, large_objects_have_their_own_span)
{
	for (int pol = 0; pol < 2; pol++) {
		struct sl_heap *h = heap(pol ? SL_FREE_IMMEDIATE : SL_FREE_GC, true);
		struct sl_p *p = sl_heap_p(h, 0);
		size_t n = 32769;		/* max_small_size + 1 */
		char *v = sl_malloc(p, n);
		cr_assert_not_null(v);
		cr_assert_eq((uintptr_t)v % 8192, 0, "page aligned");
		struct mspan *s = span_of(&h->h, (uintptr_t)v);
		cr_assert_eq(s->spanclass, 0);
		cr_assert_eq(s->npages, 5);
		cr_assert_eq(s->set, SL_SET_FULL_SWEPT, "M10: straight to full swept");
		cr_assert_eq(sl_usable_size(h, v), 5 * 8192);
		memset(v, 1, n);
		struct sl_stats st;
		sl_heap_stats(h, &st);
		cr_assert_eq(st.heap_inuse, 5 * 8192);
		cr_assert_eq(st.large_alloc_count, 1);
		cr_assert_eq(st.internal_frag_bytes, 5 * 8192 - n);
		cr_assert_eq(sl_free(p, v + 8192), SL_FREE_INTERIOR);
		cr_assert_eq(sl_free(p, v), SL_FREE_OK);
		sl_heap_stats(h, &st);
		cr_assert_eq(st.heap_inuse, pol ? 0 : 5 * 8192, "policy %d: pages back %s", pol,
			     pol ? "at once" : "only at the sweep");
		sl_heap_gc(h);
		sl_heap_stats(h, &st);
		cr_assert_eq(st.heap_inuse, 0);
		cr_assert_eq(st.large_free_count, 1);
		ct_check(h, "after the large object died");
		sl_heap_destroy(h);
	}
}
