/*
 * The page allocator: Go's pageAlloc (mpagealloc.go, mpallocbits.go) and
 * the scavenger's page search (mgcscavenge.go).
 *
 * Free pages are tracked per 512-page chunk (struct palloc_chunk, stored
 * in its arena): an alloc bitmap (1 = allocated), a scavenged bitmap (1 =
 * the free page is Prepared, i.e. released to the OS or never touched),
 * and a leaf summary (start, max, end) = free pages at the chunk's low
 * end, the longest free run, free pages at its high end. A chunk that has
 * not been grown into (still Reserved) summarises as (0, 0, 0).
 *
 * Allocation is address-ordered first fit over the whole heap: the lowest
 * address with npages contiguous free pages wins, across chunk and arena
 * boundaries when the arenas are contiguous. Go finds it with a 5-level
 * radix tree of summaries; we walk the leaf summaries of the chunks in
 * address order, carrying a run across chunk boundaries exactly as Go's
 * tree walk merges (start, max, end) of adjacent entries, and descend
 * into a chunk's bitmap only where its max says the run fits. This gives
 * identical results (test_pagealloc compares every allocation against a
 * brute-force bitmap search); a heap has tens of chunks per GiB, so the
 * walk is short, and P page caches take most small requests anyway.
 *
 * search_addr: every page below it is allocated. alloc starts from its
 * chunk and raises it to the first free page it saw; free lowers it. Go's
 * searchAddr is a coarser lower bound (the base of the first summary entry
 * with free pages); since first fit does not depend on where a search
 * starts below the first free page, the results are the same, and the
 * page cache's rule (its window is the 64-page block holding the lowest
 * free page) also comes out the same.
 *
 * Scavenged bits: grow marks new pages scavenged (Prepared); alloc_range
 * clears the bits of the pages it hands out and returns how many bytes
 * were scavenged (the caller makes them Ready); free leaves the bits
 * alone (the pages are Ready, unscavenged) and sets the chunk's
 * scav_index flag so the scavenger will look there.
 *
 * Scavenging (page_alloc_scavenge) releases the highest run of free,
 * unscavenged pages in the highest flagged chunk, truncated from its top
 * end to what is still wanted, and repeats: high addresses first, as Go
 * 1.19's scavengeOne/findScavengeCandidate. Go's transparent-huge-page
 * extension of a candidate is not modelled (we issue no THP advice).
 */
#include "internal.h"

/* ---- bitmap helpers (mpallocbits.go) ---- */

void bits_set_range(uint64_t *w, uint32_t i, uint32_t n)
{
	while (n > 0) {
		uint32_t b = i % 64, k = 64 - b < n ? 64 - b : n;
		uint64_t m = k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1) << b;
		w[i / 64] |= m;
		i += k;
		n -= k;
	}
}

void bits_clear_range(uint64_t *w, uint32_t i, uint32_t n)
{
	while (n > 0) {
		uint32_t b = i % 64, k = 64 - b < n ? 64 - b : n;
		uint64_t m = k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1) << b;
		w[i / 64] &= ~m;
		i += k;
		n -= k;
	}
}

uint32_t bits_count_range(const uint64_t *w, uint32_t i, uint32_t n)
{
	uint32_t c = 0;
	while (n > 0) {
		uint32_t b = i % 64, k = 64 - b < n ? 64 - b : n;
		uint64_t m = k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1) << b;
		c += (uint32_t)sl_popcount64(w[i / 64] & m);
		i += k;
		n -= k;
	}
	return c;
}

/* First index >= i in [0, CHUNK_PAGES) whose bit equals `val`, or
 * CHUNK_PAGES. */
static uint32_t chunk_find_bit(const uint64_t *w, uint32_t i, bool val)
{
	while (i < CHUNK_PAGES) {
		uint64_t x = val ? w[i / 64] : ~w[i / 64];
		x &= ~(uint64_t)0 << (i % 64);
		if (x != 0)
			return (i & ~63u) + (uint32_t)__builtin_ctzll(x);
		i = (i & ~63u) + 64;
	}
	return CHUNK_PAGES;
}

/*
 * pallocBits.find: the first run of npages free pages starting at or
 * after search_idx, or UINT32_MAX; *first_free = the first free page at or
 * after search_idx (CHUNK_PAGES if none).
 */
uint32_t palloc_find(const uint64_t *alloc, uint32_t npages, uint32_t search_idx, uint32_t *first_free)
{
	uint32_t i = chunk_find_bit(alloc, search_idx, false);
	if (first_free)
		*first_free = i;
	while (i < CHUNK_PAGES) {
		uint32_t e = chunk_find_bit(alloc, i, true);
		if (e - i >= npages)
			return i;
		if (e >= CHUNK_PAGES)
			break;
		i = chunk_find_bit(alloc, e, false);
	}
	return UINT32_MAX;
}

/* pallocBits.summarize: recompute the leaf summary of a grown chunk. */
void page_alloc_update(struct mheap *h, struct palloc_chunk *c)
{
	if (!c->grown) {
		c->start = c->max = c->end = 0;
		return;
	}
	uint32_t start = chunk_find_bit(c->alloc, 0, true), max = start, end = 0;
	if (start < CHUNK_PAGES) {
		uint32_t i = start;
		while (i < CHUNK_PAGES) {
			uint32_t f = chunk_find_bit(c->alloc, i, false);
			if (f >= CHUNK_PAGES)
				break;
			uint32_t e = chunk_find_bit(c->alloc, f, true);
			if (e - f > max)
				max = e - f;
			if (e == CHUNK_PAGES)
				end = e - f;
			i = e;
		}
	} else {
		end = CHUNK_PAGES;
	}
	c->start = (uint16_t)start;
	c->max = (uint16_t)max;
	c->end = (uint16_t)end;
}

/* ---- chunk addressing ---- */

struct palloc_chunk *page_alloc_chunk_of(const struct mheap *h, uintptr_t p)
{
	struct heap_arena *ha = arena_of(h, p);
	if (ha == NULL)
		return NULL;
	return &ha->chunks[(p - ha->base) >> (h->page_shift + 9)];
}

static inline uintptr_t chunk_bytes(const struct mheap *h)
{
	return (uintptr_t)CHUNK_PAGES << h->page_shift;
}

/* Index in all_arenas of the first arena that ends above p. */
static uint32_t arena_pos_from(const struct mheap *h, uintptr_t p)
{
	uint32_t lo = 0, hi = h->narenas;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (h->all_arenas[mid]->base + h->cfg.arena_bytes <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * find: first fit of npages over the chunks at and above search_addr.
 * Returns the address (0: none) and the first free page seen in
 * *first_free (MAX_SEARCH_ADDR if none).
 */
static uintptr_t page_alloc_find(struct mheap *h, uint32_t npages, uintptr_t *first_free)
{
	uintptr_t cb = chunk_bytes(h), sa = h->pages.search_addr;
	uintptr_t run_base = 0, run_size = 0, prev_end = 0;
	*first_free = MAX_SEARCH_ADDR;
	for (uint32_t ai = arena_pos_from(h, sa); ai < h->narenas; ai++) {
		struct heap_arena *ha = h->all_arenas[ai];
		uint32_t nchunks = h->arena_pages / CHUNK_PAGES, c0 = 0;
		if (sa > ha->base)
			c0 = (uint32_t)((sa - ha->base) / cb);
		for (uint32_t ci = c0; ci < nchunks; ci++) {
			struct palloc_chunk *c = &ha->chunks[ci];
			uintptr_t base = ha->base + ci * cb;
			if (base != prev_end)
				run_size = 0;
			prev_end = base + cb;
			if (c->max == 0) {
				run_size = 0;
				continue;
			}
			if (*first_free == MAX_SEARCH_ADDR) {
				uint32_t from = sa > base ? (uint32_t)((sa - base) >> h->page_shift) : 0;
				uint32_t ff = chunk_find_bit(c->alloc, from, false);
				*first_free = base + ((uintptr_t)ff << h->page_shift);
			}
			if (run_size + c->start >= npages)
				return run_size == 0 ? base : run_base;
			if (c->max >= npages) {
				uint32_t j = palloc_find(c->alloc, npages, 0, NULL);
				if (j == UINT32_MAX)
					sl_throw("bad summary data: chunk %#lx max %u", (unsigned long)base, c->max);
				return base + ((uintptr_t)j << h->page_shift);
			}
			if (c->start == CHUNK_PAGES) {
				if (run_size == 0)
					run_base = base;
				run_size += CHUNK_PAGES;
			} else {
				run_size = c->end;
				run_base = base + ((uintptr_t)(CHUNK_PAGES - c->end) << h->page_shift);
			}
		}
	}
	return 0;
}

/* The lowest free page in the heap (find(1)), or 0. */
uintptr_t page_alloc_find_first_free(struct mheap *h)
{
	uintptr_t ff;
	return page_alloc_find(h, 1, &ff);
}

/*
 * allocRange: mark [base, base+npages) allocated, clear its scavenged bits
 * and return how many of its bytes were scavenged.
 */
uint64_t page_alloc_alloc_range(struct mheap *h, uintptr_t base, uint32_t npages)
{
	uint64_t scav_pages = 0;
	uintptr_t cb = chunk_bytes(h);
	while (npages > 0) {
		struct palloc_chunk *c = page_alloc_chunk_of(h, base);
		uint32_t i = (uint32_t)((base & (cb - 1)) >> h->page_shift);
		uint32_t n = CHUNK_PAGES - i < npages ? CHUNK_PAGES - i : npages;
		SL_ASSERT(c != NULL && c->grown && bits_count_range(c->alloc, i, n) == 0);
		scav_pages += bits_count_range(c->scav, i, n);
		bits_clear_range(c->scav, i, n);
		bits_set_range(c->alloc, i, n);
		page_alloc_update(h, c);
		base += (uintptr_t)n << h->page_shift;
		npages -= n;
	}
	return scav_pages << h->page_shift;
}

/*
 * pageAlloc.alloc: first fit of npages. Returns the base (0 if no run
 * fits) and the scavenged bytes in it.
 */
uintptr_t page_alloc_alloc(struct mheap *h, uint32_t npages, uint64_t *scav)
{
	uintptr_t sa = h->pages.search_addr, addr = 0, new_sa = 0;
	*scav = 0;
	if (sa == MAX_SEARCH_ADDR)
		return 0;
	struct palloc_chunk *c = page_alloc_chunk_of(h, sa);
	uint32_t idx = (uint32_t)((sa & (chunk_bytes(h) - 1)) >> h->page_shift);
	if (c != NULL && CHUNK_PAGES - idx >= npages && c->max >= npages) {
		uint32_t ff, j = palloc_find(c->alloc, npages, idx, &ff);
		if (j == UINT32_MAX)
			sl_throw("bad summary data: search_addr %#lx npages %u", (unsigned long)sa, npages);
		uintptr_t cbase = sa & ~(chunk_bytes(h) - 1);
		addr = cbase + ((uintptr_t)j << h->page_shift);
		new_sa = cbase + ((uintptr_t)ff << h->page_shift);
	} else {
		addr = page_alloc_find(h, npages, &new_sa);
		if (addr == 0) {
			if (npages == 1)
				h->pages.search_addr = MAX_SEARCH_ADDR;
			return 0;
		}
	}
	*scav = page_alloc_alloc_range(h, addr, npages);
	if (new_sa > h->pages.search_addr)
		h->pages.search_addr = new_sa;
	return addr;
}

/* pageAlloc.free: [base, base+npages) becomes free; scavenged says whether
 * those pages are Prepared (the scavenger) or Ready (a freed span). */
void page_alloc_free(struct mheap *h, uintptr_t base, uint32_t npages, bool scavenged)
{
	uintptr_t cb = chunk_bytes(h);
	if (base < h->pages.search_addr)
		h->pages.search_addr = base;
	while (npages > 0) {
		struct palloc_chunk *c = page_alloc_chunk_of(h, base);
		uint32_t i = (uint32_t)((base & (cb - 1)) >> h->page_shift);
		uint32_t n = CHUNK_PAGES - i < npages ? CHUNK_PAGES - i : npages;
		SL_ASSERT(bits_count_range(c->alloc, i, n) == n);
		bits_clear_range(c->alloc, i, n);
		if (scavenged)
			bits_set_range(c->scav, i, n);
		else
			c->scav_index = true;
		page_alloc_update(h, c);
		base += (uintptr_t)n << h->page_shift;
		npages -= n;
	}
}

/* pageAlloc.grow: [base, base+size) (whole chunks) joins the page heap as
 * free, scavenged pages. */
void page_alloc_grow(struct mheap *h, uintptr_t base, size_t size)
{
	uintptr_t cb = chunk_bytes(h);
	SL_ASSERT((base & (cb - 1)) == 0 && (size & (cb - 1)) == 0);
	for (uintptr_t a = base; a < base + size; a += cb) {
		struct palloc_chunk *c = page_alloc_chunk_of(h, a);
		c->grown = true;
		memset(c->alloc, 0, sizeof c->alloc);
		memset(c->scav, 0xff, sizeof c->scav);
		c->scav_index = false;
		page_alloc_update(h, c);
	}
	if (base < h->pages.search_addr)
		h->pages.search_addr = base;
}

/*
 * findScavengeCandidate: the highest run of free, unscavenged pages in c,
 * truncated from its top end to max_pages. Returns its length (0: none)
 * and its first page in *start.
 */
static uint32_t find_scavenge_candidate(const struct palloc_chunk *c, uint32_t max_pages, uint32_t *start)
{
	uint64_t busy[CHUNK_WORDS];
	for (int w = 0; w < CHUNK_WORDS; w++)
		busy[w] = c->alloc[w] | c->scav[w];
	int32_t top = -1;
	for (int32_t i = CHUNK_PAGES - 1; i >= 0; i--)
		if (!bit_get(busy, (uint32_t)i)) {
			top = i;
			break;
		}
	if (top < 0)
		return 0;
	int32_t lo = top;
	while (lo > 0 && !bit_get(busy, (uint32_t)(lo - 1)) && (uint32_t)(top - lo + 1) < max_pages)
		lo--;
	*start = (uint32_t)lo;
	return (uint32_t)(top - lo + 1);
}

/*
 * pageAlloc.scavenge: release (Ready -> Prepared) up to nbytes of free,
 * unscavenged pages, highest addresses first. Returns the bytes released;
 * stops early if the OS refuses (the pages then stay Ready).
 */
uint64_t page_alloc_scavenge(struct mheap *h, uint64_t nbytes)
{
	uint64_t released = 0;
	uintptr_t cb = chunk_bytes(h);
	for (uint32_t ai = h->narenas; ai-- > 0 && released < nbytes; ) {
		struct heap_arena *ha = h->all_arenas[ai];
		for (uint32_t ci = h->arena_pages / CHUNK_PAGES; ci-- > 0 && released < nbytes; ) {
			struct palloc_chunk *c = &ha->chunks[ci];
			while (c->scav_index && released < nbytes) {
				uint64_t left = nbytes - released;
				uint64_t want = (left >> h->page_shift) + ((left & (h->page_size - 1)) != 0);
				uint32_t start, n = find_scavenge_candidate(c, want > CHUNK_PAGES ? CHUNK_PAGES : (uint32_t)want, &start);
				if (n == 0) {
					c->scav_index = false;
					break;
				}
				uintptr_t addr = ha->base + ci * cb + ((uintptr_t)start << h->page_shift);
				uint64_t bytes = (uint64_t)n << h->page_shift;
				if (sys_unused(h, (void *)addr, bytes) != 0)
					return released;
				bits_set_range(c->scav, start, n);
				h->heap_free -= bytes;
				h->heap_released += bytes;
				h->scavenged_bytes += bytes;
				released += bytes;
			}
		}
	}
	return released;
}
