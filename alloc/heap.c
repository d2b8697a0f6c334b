/*
 * The page heap: Go's mheap (mheap.go). See malloc.c for the overview.
 *
 * mheap owns everything: the arenas and their page allocator, the
 * mcentrals, the Ps, the metadata allocators, the stats and the pacer.
 * mheap_alloc_span carves npages out of the page heap (the P's page cache
 * first for requests under 16 pages, then first fit, growing the heap by
 * whole chunks if nothing fits), makes the scavenged part of it Ready and
 * initialises the span; mheap_free_span gives the pages back as free and
 * unscavenged (still Ready) for the scavenger to release later.
 *
 * Page accounting (Go's heapInUse / heapFree / heapReleased):
 *   heap_inuse    pages in in-use spans;
 *   heap_free     free pages that are Ready (including P page caches);
 *   heap_released free pages that are Prepared.
 * heap_inuse + heap_free == Ready bytes and heap_released == Prepared
 * bytes at all times (check.c). The in-use span counts (spans_inuse, and
 * by size class spans_by_class with its running maximum
 * peak_spans_by_class) change only in mheap_alloc_span and
 * mheap_free_span, the two places a span enters or leaves state in-use, so
 * the maximum is exact at no cost to the allocation fast path.
 *
 * The heap struct itself lives at the start of its first metadata chunk,
 * so a heap is one handle and nothing is global.
 */
#include <stdio.h>

#include "internal.h"

static bool is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }
static uint32_t log2u(uint64_t x) { return (uint32_t)__builtin_ctzll(x); }

void sl_heap_config_default(struct sl_heap_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->classes = *sl_sizeclasses_go();
	cfg->arena_bytes = (size_t)64 << 20;
	cfg->nprocs = 1;
	cfg->free_policy = SL_FREE_GC;
	cfg->sweep_mode = SL_SWEEP_EAGER;
	cfg->gogc = 100;
	cfg->trigger_fraction = 0.95;
	cfg->tiny = true;
	cfg->scavenger = true;
	cfg->retain_extra_percent = 10;
	cfg->os = NULL;
}

/* An arena holds whole chunks (the page allocator's bitmaps and summaries
 * are per chunk) and is indexed by a power-of-two split of the address. */
int sl_arena_bytes_check(uint64_t arena_bytes, uint32_t page_size, char *err, size_t errlen)
{
	uint64_t chunk = (uint64_t)CHUNK_PAGES * page_size;
	if (is_pow2(arena_bytes) && arena_bytes >= chunk && arena_bytes <= ((uint64_t)1 << 40))
		return 0;
	snprintf(err, errlen, "must be a power of two from one page-allocator chunk (%llu MiB: %u pages of %u bytes) to 1 TiB",
		 (unsigned long long)(chunk >> 20), (unsigned)CHUNK_PAGES, page_size);
	return -1;
}

static int config_check(const struct sl_heap_config *cfg, char *err, size_t len)
{
	const struct sl_sizeclasses *t = &cfg->classes;
	char why[160];
	if (!sl_sizeclasses_check(t, why, sizeof why)) {
		snprintf(err, len, "size-class table: %s", why);
		return -1;
	}
	if (t->page_size < SL_MIN_PAGE_SIZE || t->page_size > SL_MAX_PAGE_SIZE || !is_pow2(t->page_size)) {
		snprintf(err, len, "page size %u: must be a power of two in 4..64 KiB", t->page_size);
		return -1;
	}
	if (sl_arena_bytes_check(cfg->arena_bytes, t->page_size, why, sizeof why)) {
		snprintf(err, len, "arena size %zu: %s", cfg->arena_bytes, why);
		return -1;
	}
	if (cfg->nprocs < 1 || cfg->nprocs > SL_MAX_PROCS) {
		snprintf(err, len, "nprocs %d: must be 1..%d", cfg->nprocs, SL_MAX_PROCS);
		return -1;
	}
	if (cfg->free_policy != SL_FREE_GC && cfg->free_policy != SL_FREE_IMMEDIATE) {
		snprintf(err, len, "unknown free policy %d", (int)cfg->free_policy);
		return -1;
	}
	if (cfg->sweep_mode != SL_SWEEP_EAGER && cfg->sweep_mode != SL_SWEEP_LAZY) {
		snprintf(err, len, "unknown sweep mode %d", (int)cfg->sweep_mode);
		return -1;
	}
	if (!(cfg->trigger_fraction > 0.0 && cfg->trigger_fraction <= 1.0)) {
		snprintf(err, len, "trigger fraction %g: must be in (0, 1]", cfg->trigger_fraction);
		return -1;
	}
	if (cfg->retain_extra_percent < 0 || cfg->retain_extra_percent > 1000) {
		snprintf(err, len, "retain extra percent %d: must be 0..1000", cfg->retain_extra_percent);
		return -1;
	}
	if (cfg->tiny && t->nclasses <= TINY_SIZE_CLASS) {
		snprintf(err, len, "tiny allocator needs size class 2");
		return -1;
	}
	if (cfg->tiny && t->class_to_size[TINY_SIZE_CLASS] != TINY_SIZE) {
		snprintf(err, len, "tiny allocator needs class 2 to be 16 bytes (it is %u); turn tiny off",
			 t->class_to_size[TINY_SIZE_CLASS]);
		return -1;
	}
	return 0;
}

struct sl_heap *sl_heap_new(const struct sl_heap_config *cfg, char *err, size_t errlen)
{
	char dummy[8];
	if (err == NULL) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (config_check(cfg, err, errlen) != 0)
		return NULL;
	const struct sl_os_ops *os = cfg->os ? cfg->os : &sl_os_posix;
	/* Bootstrap: the heap lives in its first metadata chunk. */
	size_t hsz = (sizeof(struct mheap) + 4095) & ~(size_t)4095;
	size_t first = hsz + PERSISTENT_CHUNK;
	void *mem;
	if (os->alloc(os->ctx, first, &mem) != 0) {
		snprintf(err, errlen, "cannot map %zu bytes of heap metadata", first);
		return NULL;
	}
	struct mheap *h = (struct mheap *)((char *)mem + 64);
	struct persistent_chunk *pc = mem;
	pc->size = first;
	pc->next = NULL;
	memset(h, 0, sizeof *h);
	h->persistent.chunks = pc;
	h->persistent.cur = (char *)mem + 64 + hsz;
	h->persistent.end = (char *)mem + first;
	h->sys.os = os;
	h->sys.metadata = first;
	h->cfg = *cfg;
	h->cfg.os = os;
	h->sc = &h->cfg.classes;
	h->page_size = h->sc->page_size;
	h->page_shift = h->sc->page_shift;
	h->arena_shift = log2u(cfg->arena_bytes);
	h->arena_pages = (uint32_t)(cfg->arena_bytes >> h->page_shift);
	uint32_t idx_bits = HEAP_ADDR_BITS - h->arena_shift;
	h->l2_bits = idx_bits < 16 ? idx_bits : 16;
	h->l1_entries = 1u << (idx_bits - h->l2_bits);
	h->nspc = 2 * h->sc->nclasses;
	h->pages.search_addr = MAX_SEARCH_ADDR;
	h->sweep_done = true;
	h->scav_goal = UINT64_MAX;
#if defined(__x86_64__)
	h->popcnt = __builtin_cpu_supports("popcnt");
#endif
	arena_init_hints(h);
	fixalloc_init(&h->spanalloc, sizeof(struct mspan));
	h->arena_l1 = persistent_alloc(h, h->l1_entries * sizeof(*h->arena_l1), 64);
	h->central = persistent_alloc(h, h->nspc * sizeof(struct mcentral), 64);
	h->ps = persistent_alloc(h, (size_t)cfg->nprocs * sizeof(struct sl_p), 64);
	if (!h->arena_l1 || !h->central || !h->ps) {
		snprintf(err, errlen, "cannot map heap metadata");
		persistent_release_all(h);
		return NULL;
	}
	for (uint32_t i = 0; i < h->nspc; i++)
		h->central[i].spanclass = (span_class_t)i;
	for (int i = 0; i < cfg->nprocs; i++) {
		h->ps[i].id = i;
		mcache_init(h, &h->ps[i]);
	}
	gc_commit(h);
	return (struct sl_heap *)h;
}

void sl_heap_destroy(struct sl_heap *hp)
{
	if (hp == NULL)
		return;
	struct mheap *h = &hp->h;
	for (int i = 0; i < h->cfg.nprocs; i++)
		page_cache_flush(h, &h->ps[i].pcache);
	arena_release_all(h);
	persistent_release_all(h);
}

struct sl_p *sl_heap_p(struct sl_heap *hp, int i)
{
	if (i < 0 || i >= hp->h.cfg.nprocs)
		return NULL;
	return &hp->h.ps[i];
}

int sl_p_id(const struct sl_p *p) { return p->id; }
const struct sl_heap_config *sl_heap_config_of(const struct sl_heap *hp) { return &hp->h.cfg; }
void sl_sink_attach(struct sl_heap *hp, struct sl_sink sink)
{
	hp->h.sink = sink;
	sweep_set_pace(&hp->h, hp->h.sweep_pages_per_byte);	/* refill_general */
}
struct sl_clock *sl_heap_clock(struct sl_heap *hp) { return &hp->h.clock; }

/* spanOfHeap: the in-use span that contains p, or NULL. */
struct mspan *span_of_heap(const struct mheap *h, uintptr_t p)
{
	struct mspan *s = span_of(h, p);
	if (s == NULL || s->state != MSPAN_IN_USE || p < s->base ||
	    p >= s->base + ((uintptr_t)s->npages << h->page_shift))
		return NULL;
	return s;
}

/* allocNeedsZero: may [base, base+npages) hold old data? Advances each
 * arena's zeroed_base past the range. */
static bool alloc_needs_zero(struct mheap *h, uintptr_t base, uint32_t npages)
{
	bool need = false;
	uintptr_t end = base + ((uintptr_t)npages << h->page_shift);
	while (base < end) {
		struct heap_arena *ha = arena_of(h, base);
		uintptr_t off = base - ha->base, lim = end - ha->base;
		if (lim > h->cfg.arena_bytes)
			lim = h->cfg.arena_bytes;
		if (off < ha->zeroed_base)
			need = true;
		if (lim > ha->zeroed_base)
			ha->zeroed_base = lim;
		base = ha->base + lim;
	}
	return need;
}

/* Span-class fields of a fresh span (allocSpan's tail). */
static void span_init_class(struct mheap *h, struct mspan *s, uint32_t npages, span_class_t spc)
{
	uint32_t cls = span_class_sizeclass(spc);
	memset(s, 0, sizeof *s);
	s->npages = npages;
	s->spanclass = spc;
	s->class_off = (uint16_t)(cls * sizeof(int64_t));
	if (cls == 0) {
		s->elemsize = (uint32_t)((uint64_t)npages << h->page_shift > UINT32_MAX ? 0 : (uint64_t)npages << h->page_shift);
		s->nelems = 1;
		s->divmul = 0;
	} else {
		s->elemsize = h->sc->class_to_size[cls];
		s->divmul = h->sc->class_to_divmagic[cls];
		s->nelems = sl_divide_by_elemsize(s->divmul, (uintptr_t)npages << h->page_shift);
		if (h->cfg.tiny && spc == make_span_class(TINY_SIZE_CLASS, true))
			s->free_path = FREE_PATH_SLOW;
		else
			s->free_path = h->cfg.free_policy == SL_FREE_GC ? FREE_PATH_GC : FREE_PATH_IMMEDIATE;
		/* sl_free's gc fast path, once the span is not cached. A slot
		 * boundary at nelems (a tail of one slot size cannot happen, but
		 * a custom table could put one at a bitmap word boundary) would
		 * index past live_bits: no fast path then. */
		bool past = s->nelems % 64 == 0 && (uint64_t)s->nelems * s->elemsize < (uint64_t)npages << h->page_shift;
		if (s->free_path == FREE_PATH_GC && !past)
			s->fast_lim_idle = s->divmul;
	}
}

/*
 * mheap.allocSpan: npages for span class spc, served from p's page cache
 * when p is given and npages < 16, else from the page heap, growing it if
 * needed. NULL when the OS refuses memory (the heap is unchanged).
 */
struct mspan *mheap_alloc_span(struct mheap *h, struct sl_p *p, uint32_t npages, span_class_t spc)
{
	struct mspan *s = fixalloc_alloc(h, &h->spanalloc);
	if (s == NULL)
		return NULL;
	span_init_class(h, s, npages, spc);
	mspan_init_bits(h, s);
	if (s->free_bits == NULL) {
		mspan_free_bits(h, s);
		fixalloc_free(&h->spanalloc, s);
		return NULL;
	}
	uint64_t scav = 0, growth = 0;
	uintptr_t base = 0;
	enum sl_page_source src = SL_PAGE_PAGECACHE;
	if (p != NULL && npages < PAGE_CACHE_PAGES / 4) {
		if (p->pcache.cache == 0)
			page_alloc_alloc_to_cache(h, &p->pcache);
		base = page_cache_alloc(h, &p->pcache, npages, &scav);
	}
	if (base == 0) {
		src = SL_PAGE_HEAP;
		base = page_alloc_alloc(h, npages, &scav);
		if (base == 0) {
			src = SL_PAGE_GROW;
			growth = mheap_grow(h, npages);
			if (growth != 0)
				base = page_alloc_alloc(h, npages, &scav);
			if (base == 0) {
				mspan_free_bits(h, s);
				fixalloc_free(&h->spanalloc, s);
				return NULL;
			}
		}
	}
	uint64_t nbytes = (uint64_t)npages << h->page_shift;
	if (growth > 0) {
		uint64_t todo = scavenge_growth_amount(h, growth);
		if (todo > 0) {
			uint64_t r = page_alloc_scavenge(h, todo);
			SL_EMIT(h, SCAVENGE, scavenge, .bytes = (int64_t)r, .reason = SL_SCAV_GROWTH,
				.released_total = (int64_t)h->scavenged_bytes);
		}
	}
	if (scav != 0) {
		sys_used(h, (void *)base, nbytes, scav);
		h->heap_released -= scav;
	}
	h->heap_free -= nbytes - scav;
	h->heap_inuse += nbytes;
	h->spans_inuse++;
	uint32_t cls = span_class_sizeclass(spc);
	if (++h->spans_by_class[cls] > h->peak_spans_by_class[cls])
		h->peak_spans_by_class[cls] = h->spans_by_class[cls];
	h->pages_in_use += npages;
	s->base = base;
	s->needzero = alloc_needs_zero(h, base, npages);
	s->sweepgen = h->sweepgen;
	s->state = MSPAN_IN_USE;
	s->set = SL_SET_NONE;
	for (uint32_t i = 0; i < npages; i++) {
		uintptr_t a = base + ((uintptr_t)i << h->page_shift);
		struct heap_arena *ha = arena_of(h, a);
		ha->spans[(a - ha->base) >> h->page_shift] = s;
	}
	struct heap_arena *ha = arena_of(h, base);
	bit_set(ha->page_in_use, (uint32_t)((base - ha->base) >> h->page_shift));
	h->page_allocs++;
	if (src == SL_PAGE_PAGECACHE)
		h->page_allocs_cache++;
	else if (src == SL_PAGE_GROW)
		h->page_allocs_grow++;
	SL_EMIT(h, SPAN_ALLOC, span_alloc, .p = p ? p->id : -1, .base = (int64_t)base,
		.npages = npages, .spc = spc, .source = src, .scav_bytes = (int64_t)scav);
	return s;
}

/* mheap.alloc: reclaim first while lazy sweeping is unfinished. */
struct mspan *mheap_alloc(struct mheap *h, struct sl_p *p, uint32_t npages, span_class_t spc)
{
	if (!h->sweep_done)
		mheap_reclaim(h, npages);
	return mheap_alloc_span(h, p, npages, spc);
}

/*
 * mheap.freeSpan: s (in use, no allocated slot) goes back to the page heap
 * as free, unscavenged pages. The caller has already moved it to
 * SL_SET_HEAP (the move event). Unlike Go we reset its spans-map entries
 * (to &dead_mspan), so a stale pointer never resolves to a recycled mspan.
 */
void mheap_free_span(struct mheap *h, struct mspan *s)
{
	if (s->state != MSPAN_IN_USE)
		sl_throw("freeing span %#lx that is not in use", (unsigned long)s->base);
	if (SL_CONFIG_DEBUG) {
		for (int i = 0; i < h->cfg.nprocs; i++)
			if (h->ps[i].mcache.alloc[s->spanclass] == s)
				sl_throw("freeing span %#lx cached by P %d", (unsigned long)s->base, i);
		if (s->in_set != NULL || s->set != SL_SET_HEAP)
			sl_throw("freeing span %#lx still in set %u", (unsigned long)s->base, s->set);
	}
	uint64_t nbytes = (uint64_t)s->npages << h->page_shift;
	SL_EMIT(h, SPAN_FREE, span_free, .base = (int64_t)s->base, .npages = s->npages, .spc = s->spanclass);
	struct heap_arena *ha = arena_of(h, s->base);
	bit_clear(ha->page_in_use, (uint32_t)((s->base - ha->base) >> h->page_shift));
	bit_clear(ha->page_marks, (uint32_t)((s->base - ha->base) >> h->page_shift));
	for (uint32_t i = 0; i < s->npages; i++) {
		uintptr_t a = s->base + ((uintptr_t)i << h->page_shift);
		struct heap_arena *a2 = arena_of(h, a);
		a2->spans[(a - a2->base) >> h->page_shift] = (struct mspan *)&dead_mspan;
	}
	h->pages_in_use -= s->npages;
	h->heap_free += nbytes;
	h->heap_inuse -= nbytes;
	h->spans_inuse--;
	h->spans_by_class[span_class_sizeclass(s->spanclass)]--;
	page_alloc_free(h, s->base, s->npages, false);
	s->state = MSPAN_DEAD;
	mspan_free_bits(h, s);
	fixalloc_free(&h->spanalloc, s);
}
