/*
 * Heap arenas: Go's heapArena, (h *mheap).sysAlloc and (h *mheap).grow
 * (malloc.go, mheap.go).
 *
 * The heap's address space is a set of arenas, each arena_bytes long
 * (64 MiB by default, any power of two of at least one page-allocator
 * chunk) and aligned to its size. An arena is reserved (None -> Reserved)
 * when the heap first needs it, at Go's address hints: 0x00c000000000,
 * then 0x01c000000000, ... 0x7fc000000000 (i<<40 | 0xc0<<32), each hint
 * advancing past what it produced, so the heap normally starts at
 * 0xc000000000 and grows upward contiguously. A hint the kernel does not
 * honour (another heap, or something else, is there) is discarded, as Go
 * does; when all hints are gone an aligned reservation anywhere is taken
 * and its end becomes the next hint. Several heaps in one process thus
 * take disjoint ranges.
 *
 * The arena map (Go's mheap.arenas, an L1/L2 array indexed by address >>
 * arena shift) makes span_of(p) three dependent loads. Go uses one level
 * of 4M entries on amd64; with configurable arena sizes we split the index
 * into L1 (inline array) and L2 (64K entries, allocated on first use).
 *
 * Growth (mheap.grow): the page allocator grows in whole chunks (512
 * pages: 4 MiB with 8 KiB pages). grow maps (Reserved -> Prepared) the
 * next alignUp(npage, 512) pages of the current reservation, cur_arena,
 * reserving a new arena when it is used up; a new reservation that is not
 * contiguous with cur_arena makes grow map the rest of the old one first.
 * Freshly mapped pages are free and scavenged (Prepared: heap_released).
 *
 * Departures from Go: no down-growing hints (Go adds them only on the
 * rare aligned fallback); arenas are unmapped when the heap is destroyed
 * (Go never frees them).
 */
#include <errno.h>

#include "internal.h"

void arena_init_hints(struct mheap *h)
{
	/* mallocinit pushes i<<40 | 0x00c0<<32 for i = 0x7f down to 0 onto
	 * the head of the list: the next hint to try is the last entry. */
	h->nhints = 0;
	for (int i = 0x7f; i >= 0; i--)
		h->hints[h->nhints++] = (uintptr_t)i << 40 | (uintptr_t)0x00c0 << 32;
}

static int arena_map_insert(struct mheap *h, struct heap_arena *ha)
{
	arena_idx_t ri = ha->idx;
	uint64_t l1 = ri >> h->l2_bits;
	if (l1 >= h->l1_entries)
		return ERANGE;
	if (h->arena_l1[l1] == NULL) {
		h->arena_l1[l1] = persistent_alloc(h, sizeof(struct heap_arena *) << h->l2_bits, 64);
		if (h->arena_l1[l1] == NULL)
			return ENOMEM;
	}
	if (h->narenas == h->arenas_cap) {
		uint32_t cap = h->arenas_cap ? 2 * h->arenas_cap : 16;
		struct heap_arena **a = persistent_alloc(h, cap * sizeof(*a), 8);
		if (a == NULL)
			return ENOMEM;
		if (h->narenas)
			memcpy(a, h->all_arenas, h->narenas * sizeof(*a));
		h->all_arenas = a;	/* the old array stays in metadata */
		h->arenas_cap = cap;
	}
	uint32_t i = h->narenas;
	while (i > 0 && h->all_arenas[i - 1]->base > ha->base) {
		h->all_arenas[i] = h->all_arenas[i - 1];
		i--;
	}
	h->all_arenas[i] = ha;
	h->narenas++;
	h->arena_l1[l1][ri & ((1u << h->l2_bits) - 1)] = ha;
	return 0;
}

static struct heap_arena *arena_new(struct mheap *h, uintptr_t base)
{
	uint32_t np = h->arena_pages, nchunks = np / CHUNK_PAGES;
	struct heap_arena *ha = persistent_alloc(h, sizeof(*ha), 64);
	if (ha == NULL)
		return NULL;
	memset(ha, 0, sizeof(*ha));
	ha->base = base;
	ha->idx = arena_index(h, base);
	ha->spans = persistent_alloc(h, np * sizeof(struct mspan *), 64);
	ha->page_in_use = persistent_alloc(h, np / 8, 64);
	ha->page_marks = persistent_alloc(h, np / 8, 64);
	ha->chunks = persistent_alloc(h, nchunks * sizeof(struct palloc_chunk), 64);
	if (!ha->spans || !ha->page_in_use || !ha->page_marks || !ha->chunks)
		return NULL;
	/* persistent memory is fresh from mmap (zero) and never reused */
	return ha;
}

/*
 * (h *mheap).sysAlloc: reserve at least n bytes (rounded up to arenas) and
 * register the arenas. Returns 0 and the Reserved range, or an errno.
 */
int mheap_sys_alloc(struct mheap *h, size_t n, uintptr_t *out, size_t *outsize)
{
	size_t ab = h->cfg.arena_bytes;
	n = (n + ab - 1) & ~(ab - 1);
	void *v = NULL;
	int e = ENOMEM;
	while (h->nhints > 0) {
		uintptr_t p = h->hints[h->nhints - 1];
		if (p + n < p || p + n > (uintptr_t)1 << HEAP_ADDR_BITS || (p & (ab - 1)) != 0) {
			h->nhints--;
			continue;
		}
		e = sys_reserve(h, (void *)p, n, &v, true);
		if (e == 0) {
			h->hints[h->nhints - 1] = p + n;
			break;
		}
		if (e != EEXIST)
			return e;	/* a real failure (fault injection, ENOMEM) */
		h->nhints--;		/* somebody is there: discard the hint */
	}
	if (e != 0) {
		e = sys_reserve_aligned(h, n, ab, &v);
		if (e != 0)
			return e;
		h->hints[h->nhints++] = (uintptr_t)v + n;
	}
	uintptr_t base = (uintptr_t)v;
	for (uintptr_t a = base; a < base + n; a += ab) {
		struct heap_arena *ha = arena_new(h, a);
		if (ha == NULL || arena_map_insert(h, ha) != 0) {
			/* Arenas already registered keep their reservation;
			 * give back the rest. */
			sys_free(h, (void *)a, base + n - a, SL_MEM_RESERVED);
			if (a == base)
				return ENOMEM;
			n = a - base;
			break;
		}
	}
	*out = base;
	*outsize = n;
	return 0;
}

/* Map [v, v+size) (Reserved -> Prepared) and hand it to the page
 * allocator as free, scavenged pages. */
static int grow_map(struct mheap *h, uintptr_t v, size_t size)
{
	int e = sys_map(h, (void *)v, size);
	if (e != 0)
		return e;
	h->heap_released += size;
	for (uintptr_t a = v; a < v + size; ) {
		struct heap_arena *ha = arena_of(h, a);
		uintptr_t end = ha->base + h->cfg.arena_bytes;
		if (end > v + size)
			end = v + size;
		if (a - ha->base != ha->mapped)
			sl_throw("arena %#lx grows at %#lx, not at its mapped end", (unsigned long)ha->base,
				 (unsigned long)a);
		for (uintptr_t q = a; q < end; q += h->page_size)	/* free pages */
			ha->spans[(q - ha->base) >> h->page_shift] = (struct mspan *)&dead_mspan;
		ha->mapped += end - a;
		a = end;
	}
	page_alloc_grow(h, v, size);
	return 0;
}

/*
 * (h *mheap).grow: add at least npage pages to the page heap. Returns the
 * bytes of new memory handed to the page allocator (0: out of memory).
 */
uint64_t mheap_grow(struct mheap *h, uint32_t npage)
{
	size_t chunk_bytes = (size_t)CHUNK_PAGES << h->page_shift;
	size_t ask = (((size_t)npage + CHUNK_PAGES - 1) / CHUNK_PAGES) * chunk_bytes;
	uint64_t total = 0;
	if (h->cur_arena_end - h->cur_arena_base < ask) {
		uintptr_t av;
		size_t asize;
		if (mheap_sys_alloc(h, ask, &av, &asize) != 0)
			return 0;
		if (av == h->cur_arena_end && h->cur_arena_end != 0) {
			h->cur_arena_end = av + asize;
		} else {
			if (h->cur_arena_base < h->cur_arena_end) {
				size_t left = h->cur_arena_end - h->cur_arena_base;
				if (grow_map(h, h->cur_arena_base, left) == 0)
					total += left;
			}
			h->cur_arena_base = av;
			h->cur_arena_end = av + asize;
		}
	}
	uintptr_t v = h->cur_arena_base;
	if (grow_map(h, v, ask) != 0)
		return total;
	h->cur_arena_base = v + ask;
	return total + ask;
}

/* Destroy: every arena back to None, with its per-state byte counts.
 * Page caches must have been flushed (their pages back in the bitmaps). */
void arena_release_all(struct mheap *h)
{
	for (uint32_t i = 0; i < h->narenas; i++) {
		struct heap_arena *ha = h->all_arenas[i];
		uint64_t by[SL_MEM_NSTATES] = {0};
		uint32_t nchunks = h->arena_pages / CHUNK_PAGES;
		uint64_t prepared_pages = 0;
		for (uint32_t c = 0; c < nchunks; c++) {
			if (!ha->chunks[c].grown)
				continue;
			for (int w = 0; w < CHUNK_WORDS; w++)
				prepared_pages += (uint64_t)sl_popcount64(ha->chunks[c].scav[w]);
		}
		by[SL_MEM_RESERVED] = h->cfg.arena_bytes - ha->mapped;
		by[SL_MEM_PREPARED] = prepared_pages << h->page_shift;
		by[SL_MEM_READY] = ha->mapped - by[SL_MEM_PREPARED];
		sys_free_arena(h, (void *)ha->base, h->cfg.arena_bytes, by);
	}
	h->narenas = 0;
}
