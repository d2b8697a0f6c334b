/*
 * The per-P page cache: Go's pageCache (mpagecache.go).
 *
 * A P owns one 64-page-aligned block of pages (512 KiB with 8 KiB pages):
 * `cache` has a bit per page that is free and owned by the cache, `scav`
 * says which of those are scavenged. In the chunk bitmaps every page of
 * the block is allocated, so the rest of the heap cannot take them; their
 * bytes still count as heap_free / heap_released until a span is made of
 * them. mheap_alloc_span serves requests of fewer than 16 pages
 * (PAGE_CACHE_PAGES / 4: every small-class span, large objects up to 15
 * pages) from the cache first, refilling an empty cache with
 * alloc_to_cache; a request the cache cannot serve goes to the page heap
 * and the cache keeps its pages. Go flushes a cache only when a P is
 * destroyed; so do we (sl_heap_destroy).
 */
#include "internal.h"

/* findBitRange64: the lowest run of n ones in c, or 64. */
static uint32_t find_bit_range64(uint64_t c, uint32_t n)
{
	uint32_t p = n - 1;
	uint64_t k = 1;
	while (p > 0) {
		uint32_t s = k < p ? (uint32_t)k : p;
		c &= c >> s;
		if (c == 0)
			return 64;
		p -= s;
		k *= 2;
	}
	return c == 0 ? 64 : (uint32_t)__builtin_ctzll(c);
}

/* pageCache.alloc: npages from the cache (0 if no run fits) and the
 * scavenged bytes among them. */
uintptr_t page_cache_alloc(struct mheap *h, struct page_cache *c, uint32_t npages, uint64_t *scav)
{
	*scav = 0;
	if (c->cache == 0)
		return 0;
	uint32_t i = npages == 1 ? (uint32_t)__builtin_ctzll(c->cache) : find_bit_range64(c->cache, npages);
	if (i >= 64)
		return 0;
	uint64_t mask = (npages == 64 ? ~(uint64_t)0 : (((uint64_t)1 << npages) - 1)) << i;
	*scav = (uint64_t)sl_popcount64(c->scav & mask) << h->page_shift;
	c->cache &= ~mask;
	c->scav &= ~mask;
	return c->base + ((uintptr_t)i << h->page_shift);
}

/*
 * pageAlloc.allocToCache: fill c with the 64-page block that holds the
 * lowest free page; all its free pages become the cache's, and
 * search_addr moves to the block's last page. An empty cache if the heap
 * has no free page.
 */
void page_alloc_alloc_to_cache(struct mheap *h, struct page_cache *c)
{
	uintptr_t sa = h->pages.search_addr, addr = 0;
	memset(c, 0, sizeof *c);
	if (sa == MAX_SEARCH_ADDR)
		return;
	struct palloc_chunk *ch = page_alloc_chunk_of(h, sa);
	uintptr_t cb = (uintptr_t)CHUNK_PAGES << h->page_shift;
	if (ch != NULL && ch->max != 0) {
		uint32_t ff;
		(void)palloc_find(ch->alloc, 1, (uint32_t)((sa & (cb - 1)) >> h->page_shift), &ff);
		if (ff >= CHUNK_PAGES)
			sl_throw("bad summary data: no free page at or after search_addr %#lx", (unsigned long)sa);
		addr = (sa & ~(cb - 1)) + ((uintptr_t)ff << h->page_shift);
	} else {
		addr = page_alloc_find_first_free(h);
		if (addr == 0) {
			h->pages.search_addr = MAX_SEARCH_ADDR;
			return;
		}
		ch = page_alloc_chunk_of(h, addr);
	}
	uint32_t w = (uint32_t)((addr & (cb - 1)) >> h->page_shift) / 64;
	c->base = (addr & ~(cb - 1)) + ((uintptr_t)w * 64 << h->page_shift);
	c->cache = ~ch->alloc[w];
	c->scav = ch->scav[w];
	ch->alloc[w] = ~(uint64_t)0;
	ch->scav[w] = 0;
	page_alloc_update(h, ch);
	h->pages.search_addr = c->base + ((uintptr_t)(PAGE_CACHE_PAGES - 1) << h->page_shift);
}

/* pageCache.flush: give every cached page back, with its scavenged bit. */
void page_cache_flush(struct mheap *h, struct page_cache *c)
{
	for (uint32_t i = 0; i < 64; i++) {
		if (!(c->cache >> i & 1))
			continue;
		page_alloc_free(h, c->base + ((uintptr_t)i << h->page_shift), 1, c->scav >> i & 1);
	}
	memset(c, 0, sizeof *c);
}
