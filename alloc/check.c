/*
 * Tier-3 validators: walk every structure and check every equation. Run
 * by sl_heap_check (after every operation in the randomized tests, at
 * every snapshot of a --check replay). Each returns 0, or -1 with the
 * first violation in err, in words and with the values involved.
 *
 *   mspan_check      allocCount == allocated slots <= nelems; no free or
 *                    live bit past nelems; a cached span's window matches
 *                    its group and no group below it has a free slot;
 *                    live bits only on allocated slots (cached: on every
 *                    free slot too), none where unused; fast_lim as the
 *                    span's state says; the spans map points at the span
 *                    for all its pages; page_in_use marks its first page;
 *                    tiny masks only in allocated slots.
 *   mcentral_check   list length == n; every member's in_set, class,
 *                    state and sweepgen agree with the set; partial sets
 *                    hold spans with a free slot, full swept sets none.
 *   page_alloc_check every leaf summary == the summary recomputed from
 *                    its bitmap; no scavenged bit on an allocated page;
 *                    nothing free below search_addr; every allocated page
 *                    is in exactly one in-use span or one P's page cache;
 *                    a page cache holds an aligned 64-page block of
 *                    allocated pages, no page of another P's;
 *                    per-state page counts == the sysmem counters.
 *   heap_check       all of the above, the P caches, the unswept count,
 *                    in-use spans per size class (== the walk's count,
 *                    <= their running maximum), and the accounting
 *                    identity recomputed by walking every span against
 *                    sl_heap_stats.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err != NULL && len > 0)
		vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

#define CHECK(cond, ...) do { if (!(cond)) return fail(err, len, __VA_ARGS__); } while (0)

static bool is_tiny(const struct mspan *s)
{
	return s->spanclass == make_span_class(TINY_SIZE_CLASS, true);
}

/*
 * Do all entries of spans[lo, hi) point at s? Does any hold NULL? A large
 * span has thousands of pages, so both are bitwise, without a branch or a
 * compare per page: baseline x86-64 (SSE2) has no 64-bit compare, and a
 * count of equal entries was not vectorized, while xor/or and sub/or/and
 * are. (x | -x has its top bit set exactly when x is not 0.)
 */
static bool spans_all(struct mspan *const *spans, uint32_t lo, uint32_t hi, const struct mspan *s)
{
	uintptr_t diff = 0;
	for (uint32_t i = lo; i < hi; i++)
		diff |= (uintptr_t)spans[i] ^ (uintptr_t)s;
	return diff == 0;
}

static bool spans_any_null(struct mspan *const *spans, uint32_t lo, uint32_t hi)
{
	uint64_t all = ~UINT64_C(0);
	for (uint32_t i = lo; i < hi; i++) {
		uint64_t x = (uintptr_t)spans[i];
		all &= x | (0 - x);
	}
	return !(all >> 63);
}

/* How many of bits [lo, hi) of bitmap w are set. */
static uint32_t bits_in(const uint64_t *w, uint32_t lo, uint32_t hi)
{
	uint32_t n = 0;
	for (uint32_t i = lo; i < hi; i = (i | 63) + 1) {
		uint64_t x = w[i / 64] >> (i % 64);
		uint32_t k = hi - i < 64 - i % 64 ? hi - i : 64 - i % 64;
		n += (uint32_t)__builtin_popcountll(k < 64 ? x & ((UINT64_C(1) << k) - 1) : x);
	}
	return n;
}

int mspan_check(struct mheap *h, struct mspan *s, char *err, size_t len)
{
	unsigned long b = (unsigned long)s->base;
	CHECK(s->state == MSPAN_IN_USE, "span %#lx: state %u", b, s->state);
	uint32_t ac = mspan_alloc_count(h, s);
	CHECK(ac <= s->nelems, "span %#lx: allocCount %u > nelems %u", b, ac, s->nelems);
	uint32_t n = mspan_count_allocated(s);
	CHECK(n == ac, "span %#lx (class %u): allocCount %u but %u slots allocated", b, s->spanclass >> 1, ac, n);
	uint64_t sb = (uint64_t)s->npages << h->page_shift;
	bool large = span_class_sizeclass(s->spanclass) == 0, cached = s->set == SL_SET_MCACHE;
	if (!large)
		CHECK((uint64_t)s->nelems * s->elemsize <= sb, "span %#lx: nelems*elemsize > span bytes", b);
	else
		CHECK(s->nelems == 1 && ac == 1, "large span %#lx: %u slots, allocCount %u", b, s->nelems, ac);
	uint32_t nw = mspan_words(s);
	for (uint32_t w = 0; w < nw; w++) {
		uint64_t f = mspan_free_word(s, w), live = s->live_bits[w];
		CHECK((f & ~mspan_valid(s, w)) == 0, "span %#lx: free bits past nelems in group %u", b, w);
		if (cached && w < s->cur)
			CHECK(f == 0, "cached span %#lx: free slots in group %u below the window %u", b, w, s->cur);
		if (s->free_path == FREE_PATH_GC || (large && h->cfg.free_policy == SL_FREE_GC)) {
			CHECK((live & ~mspan_valid(s, w)) == 0, "span %#lx: live bits past nelems", b);
			if (cached)
				CHECK((f & ~live) == 0, "cached span %#lx: a free slot of group %u is not live", b, w);
			else
				CHECK((f & live) == 0, "span %#lx: a free slot of group %u is live", b, w);
		} else {
			CHECK(live == 0, "span %#lx (class %u): live bits in a span that does not use them", b,
			      s->spanclass);
		}
	}
	if (cached) {
		CHECK(s->cur < nw && s->greq == s->reqsize + (size_t)s->cur * 64 &&
		      s->gaddr == s->base + (uintptr_t)s->cur * 64 * s->elemsize,
		      "cached span %#lx: window %u does not match its group", b, s->cur);
		CHECK(s->fast_lim == 0, "cached span %#lx: sl_free's fast path is on", b);
	} else {
		CHECK(s->fast_lim == s->fast_lim_idle, "span %#lx: fast_lim %u, %u when not cached", b, s->fast_lim,
		      s->fast_lim_idle);
	}
	CHECK(s->fast_lim_idle == (s->free_path == FREE_PATH_GC && !(s->nelems % 64 == 0 && s->nelems * s->elemsize < sb)
				   ? s->divmul : 0), "span %#lx (class %u): fast_lim_idle %u, divmul %u", b, s->spanclass,
	      s->fast_lim_idle, s->divmul);
	if (is_tiny(s))
		for (uint32_t i = 0; i < s->nelems; i++)
			if (s->reqsize[i] != 0)
				CHECK(mspan_is_allocated(s, i), "span %#lx: tiny slot %u has live sub-objects but is free", b, i);
	/* An arena at a time (a large span may cross arenas): every spans-map
	 * entry points at s, and of the pages' pageInUse bits only the first
	 * page's is set. */
	for (uint32_t i = 0; i < s->npages;) {
		uintptr_t a = s->base + ((uintptr_t)i << h->page_shift);
		struct heap_arena *ha = arena_of(h, a);
		CHECK(ha != NULL, "span %#lx: page %u is in no arena", b, i);
		uint32_t lo = (uint32_t)((a - ha->base) >> h->page_shift);
		uint32_t left = s->npages - i, hi = left < h->arena_pages - lo ? lo + left : h->arena_pages;
		if (!spans_all(ha->spans, lo, hi, s)) {
			while (ha->spans[lo] == s)
				lo++, i++;
			return fail(err, len, "span %#lx: spans map entry of page %u does not point at it", b, i);
		}
		if (bits_in(ha->page_in_use, lo, hi) != (i == 0) || (i == 0 && !bit_get(ha->page_in_use, lo))) {
			while (bit_get(ha->page_in_use, lo) == (i == 0))
				lo++, i++;
			return fail(err, len, "span %#lx: pageInUse bit of page %u wrong", b, i);
		}
		i += hi - lo;
	}
	return 0;
}

int mcentral_check(struct mheap *h, struct mcentral *c, char *err, size_t len)
{
	struct { struct span_set *b; enum sl_span_set k; } sets[4] = {
		{ mcentral_partial_swept(h, c), SL_SET_PARTIAL_SWEPT },
		{ mcentral_partial_unswept(h, c), SL_SET_PARTIAL_UNSWEPT },
		{ mcentral_full_swept(h, c), SL_SET_FULL_SWEPT },
		{ mcentral_full_unswept(h, c), SL_SET_FULL_UNSWEPT },
	};
	for (int k = 0; k < 4; k++) {
		uint64_t n = 0;
		struct mspan *prev = NULL;
		for (struct mspan *s = sets[k].b->head; s != NULL; prev = s, s = s->next) {
			unsigned long b = (unsigned long)s->base;
			n++;
			CHECK(s->prev == prev, "mcentral %u: broken links at span %#lx", c->spanclass, b);
			CHECK(s->in_set == sets[k].b && s->set == sets[k].k,
			      "mcentral %u: span %#lx in set %s says it is in %s", c->spanclass, b,
			      sl_span_set_name(sets[k].k), sl_span_set_name((enum sl_span_set)s->set));
			CHECK(s->spanclass == c->spanclass, "mcentral %u holds span %#lx of class %u",
			      c->spanclass, b, s->spanclass);
			CHECK(s->state == MSPAN_IN_USE, "mcentral %u: span %#lx not in use", c->spanclass, b);
			bool swept = sets[k].k == SL_SET_PARTIAL_SWEPT || sets[k].k == SL_SET_FULL_SWEPT;
			CHECK(s->sweepgen == (swept ? h->sweepgen : h->sweepgen - 2),
			      "mcentral %u: span %#lx in %s has sweepgen %u (heap %u)", c->spanclass, b,
			      sl_span_set_name(sets[k].k), s->sweepgen, h->sweepgen);
			if (sets[k].k == SL_SET_PARTIAL_SWEPT || sets[k].k == SL_SET_PARTIAL_UNSWEPT)
				CHECK(s->alloc_count < s->nelems, "mcentral %u: full span %#lx in a partial set", c->spanclass, b);
			if (sets[k].k == SL_SET_FULL_SWEPT)
				CHECK(s->alloc_count == s->nelems, "mcentral %u: span %#lx with free slots in full swept",
				      c->spanclass, b);
		}
		CHECK(n == sets[k].b->n, "mcentral %u: set %s counts %lu, holds %lu", c->spanclass,
		      sl_span_set_name(sets[k].k), (unsigned long)sets[k].b->n, (unsigned long)n);
	}
	return 0;
}

/* Page sums by state, in bytes. */
struct page_sums {
	uint64_t ready, prepared, free_ready, inuse;
};

/*
 * How many pages from page i of a bitmap word (at arena page first) the
 * per-page checks below would pass the same way as page i, which is in
 * span s and passed them: allocated, in no page cache (bits ok), the same
 * spans-map entry, inside s. A large span is counted a run at a time, not
 * a page at a time (which cost the replay fuzzer 1.7x the instructions).
 */
static uint32_t span_run(const struct mheap *h, const struct heap_arena *ha, const struct mspan *s,
			 uint32_t first, uint32_t i, uint64_t ok)
{
	uintptr_t a = ha->base + ((uintptr_t)(first + i) << h->page_shift);
	uint64_t left = s->npages - ((a - s->base) >> h->page_shift);	/* pages of s from a on */
	uint32_t end = left < 64 - i ? i + (uint32_t)left : 64;
	uint64_t bad = ~ok & ~((UINT64_C(1) << i << 1) - 1);		/* above i */
	if (bad != 0 && (uint32_t)__builtin_ctzll(bad) < end)
		end = (uint32_t)__builtin_ctzll(bad);
	if (!spans_all(ha->spans, first + i, first + end, ha->spans[first + i]))
		return 1;
	return end - i;
}

/*
 * The 64 pages of word wi of grown chunk c (at base): free pages by their
 * scavenged bit and against search_addr a word at a time; every page has
 * a spans-map entry; every allocated page is in exactly one in-use span
 * or one P's page cache, page by page.
 */
static int page_word_check(struct mheap *h, const struct heap_arena *ha, const struct palloc_chunk *c,
			   uintptr_t base, uint32_t wi, struct page_sums *ps, char *err, size_t len)
{
	uint64_t al = c->alloc[wi], sc = c->scav[wi], fr = ~al;
	uintptr_t wbase = base + ((uintptr_t)wi * 64 << h->page_shift);
	uint32_t first = (uint32_t)((wbase - ha->base) >> h->page_shift);
	if (spans_any_null(ha->spans, first, first + 64)) {
		uint32_t i = 0;
		while (ha->spans[first + i] != NULL)
			i++;
		return fail(err, len, "grown page %#lx has a NULL spans-map entry",
			    (unsigned long)(wbase + ((uintptr_t)i << h->page_shift)));
	}
	if (fr != 0) {
		uintptr_t a = wbase + ((uintptr_t)__builtin_ctzll(fr) << h->page_shift);	/* the lowest free */
		CHECK(h->pages.search_addr != MAX_SEARCH_ADDR, "free page %#lx but search_addr says the heap is full",
		      (unsigned long)a);
		CHECK(a >= h->pages.search_addr, "free page %#lx below search_addr %#lx", (unsigned long)a,
		      (unsigned long)h->pages.search_addr);
		ps->prepared += (uint64_t)__builtin_popcountll(fr & sc) * h->page_size;
		uint64_t unscav = (uint64_t)__builtin_popcountll(fr & ~sc) * h->page_size;
		ps->ready += unscav;
		ps->free_ready += unscav;
	}
	CHECK((al & sc) == 0, "allocated page %#lx has its scavenged bit set",
	      (unsigned long)(wbase + ((uintptr_t)__builtin_ctzll(al & sc) << h->page_shift)));
	/* A page cache holds an aligned 64-page block (page_cache_check). */
	uint64_t pc_held = 0, pc_scav = 0;
	for (int p = 0; p < h->cfg.nprocs; p++) {
		const struct page_cache *pc = &h->ps[p].pcache;
		if (pc->cache != 0 && pc->base == wbase) {
			pc_held |= pc->cache;
			pc_scav |= pc->scav;
		}
	}
	for (uint64_t m = al; m != 0; m &= m - 1) {
		uint32_t i = (uint32_t)__builtin_ctzll(m);
		uintptr_t a = wbase + ((uintptr_t)i << h->page_shift);
		struct mspan *s = span_entry(ha->spans[first + i]);
		bool cached = pc_held >> i & 1;
		if (s != NULL) {
			CHECK(!cached, "page %#lx is in a span and a page cache", (unsigned long)a);
			CHECK(s->state == MSPAN_IN_USE && a >= s->base && a < s->base + ((uintptr_t)s->npages << h->page_shift),
			      "page %#lx: spans map points at a span that does not hold it", (unsigned long)a);
			uint32_t run = span_run(h, ha, s, first, i, al & ~pc_held);
			ps->ready += (uint64_t)run * h->page_size;
			ps->inuse += (uint64_t)run * h->page_size;
			m &= ~(((UINT64_C(2) << (run - 1)) - 1) << i) | (UINT64_C(1) << i);	/* m &= m - 1 clears i */
		} else {
			CHECK(cached, "allocated page %#lx is in no span and no page cache", (unsigned long)a);
			if (pc_scav >> i & 1) {
				ps->prepared += h->page_size;
			} else {
				ps->ready += h->page_size;
				ps->free_ready += h->page_size;
			}
		}
	}
	return 0;
}

/* Each P's page cache: scavenged bits only on pages it holds; what it
 * holds is an aligned 64-page block of a grown chunk, allocated in the
 * chunk's bitmap and held by no other P. */
static int page_cache_check(struct mheap *h, char *err, size_t len)
{
	for (int i = 0; i < h->cfg.nprocs; i++) {
		const struct page_cache *c = &h->ps[i].pcache;
		CHECK((c->scav & ~c->cache) == 0, "P %d: page cache has scavenged bits on pages it does not hold", i);
		if (c->cache == 0)
			continue;
		const struct heap_arena *ha = arena_of(h, c->base);
		uintptr_t off = ha != NULL ? c->base - ha->base : 1;
		uint32_t first = (uint32_t)(off >> h->page_shift);
		CHECK(ha != NULL && off % ((uintptr_t)64 << h->page_shift) == 0 && off < ha->mapped,
		      "P %d: page cache base %#lx is not a 64-page block of a grown chunk", i, (unsigned long)c->base);
		const struct palloc_chunk *ch = &ha->chunks[first / CHUNK_PAGES];
		CHECK((c->cache & ~ch->alloc[first % CHUNK_PAGES / 64]) == 0,
		      "P %d: page cache at %#lx holds pages that are free in the bitmap", i, (unsigned long)c->base);
		for (int j = 0; j < i; j++) {
			const struct page_cache *o = &h->ps[j].pcache;
			CHECK(o->base != c->base || (o->cache & c->cache) == 0,
			      "Ps %d and %d hold the same pages at %#lx in their page caches", j, i, (unsigned long)c->base);
		}
	}
	return 0;
}

int page_alloc_check(struct mheap *h, char *err, size_t len)
{
	struct page_sums ps = { 0 };
	uint64_t reserved = 0;
	uintptr_t cb = (uintptr_t)CHUNK_PAGES << h->page_shift;
	if (page_cache_check(h, err, len) != 0)
		return -1;
	for (uint32_t ai = 0; ai < h->narenas; ai++) {
		struct heap_arena *ha = h->all_arenas[ai];
		if (ai > 0)
			CHECK(h->all_arenas[ai - 1]->base < ha->base, "arenas not sorted");
		CHECK(arena_of(h, ha->base) == ha, "arena map does not resolve arena %#lx", (unsigned long)ha->base);
		uint64_t mapped = 0;
		for (uint32_t ci = 0; ci < h->arena_pages / CHUNK_PAGES; ci++) {
			struct palloc_chunk *c = &ha->chunks[ci], t = *c;
			uintptr_t base = ha->base + ci * cb;
			if (!c->grown) {
				reserved += cb;
				CHECK(c->max == 0, "chunk %#lx not grown but has free pages", (unsigned long)base);
				continue;
			}
			CHECK((uint64_t)ci * cb == mapped, "arena %#lx: grown chunk %u after %lu grown bytes: not a prefix",
			      (unsigned long)ha->base, ci, (unsigned long)mapped);
			mapped += cb;
			page_alloc_update(h, &t);
			CHECK(t.start == c->start && t.max == c->max && t.end == c->end,
			      "chunk %#lx: summary (%u,%u,%u), bitmap says (%u,%u,%u)", (unsigned long)base,
			      c->start, c->max, c->end, t.start, t.max, t.end);
			bool unscav_free = false;
			for (uint32_t wi = 0; wi < CHUNK_WORDS; wi++) {
				if (page_word_check(h, ha, c, base, wi, &ps, err, len) != 0)
					return -1;
				unscav_free |= (~c->alloc[wi] & ~c->scav[wi]) != 0;
			}
			if (unscav_free)
				CHECK(c->scav_index, "chunk %#lx has free unscavenged pages but no scavenge-index bit",
				      (unsigned long)base);
		}
		CHECK(mapped == ha->mapped, "arena %#lx: %lu bytes mapped, chunks say %lu", (unsigned long)ha->base,
		      (unsigned long)ha->mapped, (unsigned long)mapped);
	}
	CHECK(reserved == h->sys.bytes[SL_MEM_RESERVED], "Reserved: %lu counted, %lu by page state",
	      (unsigned long)h->sys.bytes[SL_MEM_RESERVED], (unsigned long)reserved);
	CHECK(ps.prepared == h->sys.bytes[SL_MEM_PREPARED], "Prepared: %lu counted, %lu by page state",
	      (unsigned long)h->sys.bytes[SL_MEM_PREPARED], (unsigned long)ps.prepared);
	CHECK(ps.ready == h->sys.bytes[SL_MEM_READY], "Ready: %lu counted, %lu by page state",
	      (unsigned long)h->sys.bytes[SL_MEM_READY], (unsigned long)ps.ready);
	CHECK(ps.inuse == h->heap_inuse, "heap_inuse %lu, spans hold %lu", (unsigned long)h->heap_inuse,
	      (unsigned long)ps.inuse);
	CHECK(ps.free_ready == h->heap_free, "heap_free %lu, free Ready pages %lu", (unsigned long)h->heap_free,
	      (unsigned long)ps.free_ready);
	CHECK(ps.prepared == h->heap_released, "heap_released %lu, free Prepared pages %lu",
	      (unsigned long)h->heap_released, (unsigned long)ps.prepared);
	return 0;
}

/* Walk every in-use span: their own checks, membership, and the sums the
 * identity needs. */
struct walk_sums {
	uint64_t spans, alloc_bytes, live_slot, live_req, central_free, cached_free, tail, unswept;
	uint64_t live_objects;
	uint64_t spans_by_class[SL_MAX_CLASSES];
};

/* The sub-objects of allocated tiny slot k: its masks (reqsize[k]: bit o
 * starts one at byte o, bit 16 + e ends one at byte e). */
static int tiny_walk(const struct mspan *s, uint32_t k, struct walk_sums *w, char *err, size_t len)
{
	uint32_t m = s->reqsize[k];
	if (m == 0)
		return 0;
	w->live_slot += TINY_SIZE;
	for (uint32_t o = 0; o < 16; o++) {
		if (!(m >> o & 1))
			continue;
		uint32_t ends = (m >> 16) & ~(((uint32_t)1 << o) - 1);
		CHECK(ends != 0, "tiny block %#lx: sub-object at %u has no end", (unsigned long)(s->base + k * TINY_SIZE),
		      o);
		w->live_req += (uint32_t)__builtin_ctz(ends) - o + 1;
		w->live_objects++;
	}
	return 0;
}

static int walk_spans(struct mheap *h, struct walk_sums *w, char *err, size_t len)
{
	memset(w, 0, sizeof *w);
	for (uint32_t ai = 0; ai < h->narenas; ai++) {
		struct heap_arena *ha = h->all_arenas[ai];
		for (uint32_t pw = 0; pw < h->arena_pages / 64; pw++)
		for (uint64_t x = ha->page_in_use[pw]; x != 0; x &= x - 1) {
			uint32_t i = pw * 64 + (uint32_t)__builtin_ctzll(x);
			struct mspan *s = span_entry(ha->spans[i]);
			CHECK(s != NULL, "pageInUse bit set for page %#lx with no span",
			      (unsigned long)(ha->base + ((uintptr_t)i << h->page_shift)));
			if (mspan_check(h, s, err, len) != 0)
				return -1;
			w->spans++;
			w->spans_by_class[span_class_sizeclass(s->spanclass)]++;
			bool large = span_class_sizeclass(s->spanclass) == 0;
			uint64_t sb = (uint64_t)s->npages << h->page_shift;
			uint32_t ac = mspan_alloc_count(h, s);
			uint64_t free_b = large ? 0 : (uint64_t)(s->nelems - ac) * s->elemsize;
			w->alloc_bytes += large ? (ac ? sb : 0) : (uint64_t)ac * s->elemsize;
			if (!large)
				w->tail += sb - (uint64_t)s->nelems * s->elemsize;
			if (s->set == SL_SET_MCACHE) {
				int owners = 0;
				for (int p = 0; p < h->cfg.nprocs; p++)
					owners += h->ps[p].mcache.alloc[s->spanclass] == s;
				CHECK(owners == 1, "span %#lx is marked cached but %d Ps hold it", (unsigned long)s->base, owners);
				CHECK(s->sweepgen == h->sweepgen + 3 || s->sweepgen == h->sweepgen + 1,
				      "cached span %#lx has sweepgen %u (heap %u)", (unsigned long)s->base, s->sweepgen, h->sweepgen);
				w->cached_free += free_b;
			} else {
				CHECK(s->in_set != NULL, "span %#lx (set %s) is in no set and not cached",
				      (unsigned long)s->base, sl_span_set_name((enum sl_span_set)s->set));
				w->central_free += free_b;
				if (s->set == SL_SET_PARTIAL_UNSWEPT || s->set == SL_SET_FULL_UNSWEPT)
					w->unswept++;
			}
			if (large) {
				if (!mspan_is_freed(h, s, 0)) {
					w->live_slot += sb;
					w->live_req += s->large_req;
					w->live_objects++;
				}
				continue;
			}
			/* Live slots a word at a time: allocated, and not freed
			 * by the trace (mspan_is_freed, a word at a time). */
			bool tiny = is_tiny(s), by_live = mspan_tracks_frees(h, s);
			for (uint32_t wi = 0; wi < mspan_words(s); wi++) {
				uint64_t live = ~mspan_free_word(s, wi) & mspan_valid(s, wi);
				if (by_live)
					live &= s->live_bits[wi];
				for (; live != 0; live &= live - 1) {
					uint32_t k = wi * 64 + (uint32_t)__builtin_ctzll(live);
					if (tiny) {
						if (tiny_walk(s, k, w, err, len) != 0)
							return -1;
						continue;
					}
					w->live_slot += s->elemsize;
					w->live_req += s->reqsize[k];
					w->live_objects++;
				}
			}
		}
	}
	return 0;
}

int heap_check(struct mheap *h, char *err, size_t len)
{
	if (page_alloc_check(h, err, len) != 0)
		return -1;
	for (uint32_t spc = 0; spc < h->nspc; spc++) {
		if (mcentral_check(h, &h->central[spc], err, len) != 0)
			return -1;
	}
	for (int p = 0; p < h->cfg.nprocs; p++) {
		const struct mcache *c = &h->ps[p].mcache;
		for (uint32_t spc = 0; spc < h->nspc; spc++) {
			const struct mspan *s = c->alloc[spc];
			if (s == &empty_mspan)
				continue;
			CHECK(s->spanclass == spc && s->set == SL_SET_MCACHE && s->state == MSPAN_IN_USE,
			      "P %d caches span %#lx as class %u (span class %u, set %s)", p, (unsigned long)s->base,
			      spc, s->spanclass, sl_span_set_name((enum sl_span_set)s->set));
		}
		if (c->tiny != 0) {
			struct mspan *s = span_of_heap(h, c->tiny);
			CHECK(s != NULL && is_tiny(s) && c->tiny_meta == &s->reqsize[mspan_obj_index(s, c->tiny)] &&
			      mspan_is_allocated(s, mspan_obj_index(s, c->tiny)),
			      "P %d: current tiny block %#lx is not an allocated tiny slot", p, (unsigned long)c->tiny);
		}
	}
	struct walk_sums w;
	if (walk_spans(h, &w, err, len) != 0)
		return -1;
	CHECK(w.spans == h->spans_inuse, "spans_inuse %lu, walk found %lu", (unsigned long)h->spans_inuse,
	      (unsigned long)w.spans);
	for (uint32_t cls = 0; cls < h->sc->nclasses; cls++) {
		CHECK(w.spans_by_class[cls] == h->spans_by_class[cls], "class %u: spans_by_class %lu, walk found %lu",
		      cls, (unsigned long)h->spans_by_class[cls], (unsigned long)w.spans_by_class[cls]);
		CHECK(h->peak_spans_by_class[cls] >= h->spans_by_class[cls],
		      "class %u: peak_spans_by_class %lu below the %lu spans in use", cls,
		      (unsigned long)h->peak_spans_by_class[cls], (unsigned long)h->spans_by_class[cls]);
	}
	CHECK(w.unswept == h->nunswept, "unswept count %lu, sets hold %lu", (unsigned long)h->nunswept,
	      (unsigned long)w.unswept);
	CHECK(h->sweep_done == (w.unswept == 0), "sweep_done %d with %lu unswept spans", h->sweep_done,
	      (unsigned long)w.unswept);
	struct sl_stats st;
	heap_stats_compute(h, &st);
#define EQ(a, b, what) CHECK((a) == (b), "%s: stats %lu, walk %lu", what, (unsigned long)(a), (unsigned long)(b))
	EQ(st.heap_alloc, w.alloc_bytes, "heap_alloc");
	EQ(st.live_bytes, w.live_req, "live_bytes");
	EQ(st.live_objects, w.live_objects, "live_objects");
	EQ(st.live_bytes + st.internal_frag_bytes, w.live_slot, "live slot bytes");
	EQ(st.free_slot_bytes_cached, w.cached_free, "free_slot_bytes_cached");
	EQ(st.free_slot_bytes_central, w.central_free, "free_slot_bytes_central");
	EQ(st.tail_waste_bytes, w.tail, "tail_waste_bytes");
	EQ(st.live_bytes + st.internal_frag_bytes + st.dead_bytes + st.free_slot_bytes_cached +
	   st.free_slot_bytes_central + st.tail_waste_bytes, st.heap_inuse, "identity: slots + waste == heap_inuse");
	EQ(st.heap_inuse + st.heap_free, st.ready_bytes, "identity: heap_inuse + heap_free == Ready");
	EQ(st.heap_released, st.prepared_bytes, "identity: heap_released == Prepared");
	EQ(st.ready_bytes + st.prepared_bytes, st.heap_sys, "identity: Ready + Prepared == heap_sys");
	EQ(st.reserved_bytes + st.prepared_bytes + st.ready_bytes, (uint64_t)h->narenas * h->cfg.arena_bytes,
	   "arena bytes by state");
#undef EQ
	return 0;
}

int sl_heap_check(struct sl_heap *hp, char *err, size_t len)
{
	return heap_check(&hp->h, err, len);
}
