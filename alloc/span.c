/*
 * Spans: Go's mspan (mheap.go) and its allocation bitmap walk (mbitmap.go).
 *
 * A span is npages contiguous pages holding nelems slots of elemsize
 * bytes (small classes) or one large object (class 0). Allocation always
 * takes the lowest free slot of the span, which is the order Go's
 * freeindex + allocBits + allocCache walk produces.
 *
 * Departure from Go: instead of allocBits (1 = allocated at or above
 * freeindex) and a shifted allocCache, a span keeps free_bits (1 = free),
 * and a P allocates from a window on one 64-slot group: alloc_mask, the
 * group's free bits, with gaddr/greq pointing at the group's first slot and
 * requested-size word. The fast path is then one test, one bsf and a
 * clear-lowest-bit; no freeindex store, no shift, no allocCount store
 * (allocCount of a cached span is derived when it is needed,
 * mspan_alloc_count). Every group below the window is full, so "lowest
 * free slot" is the window's lowest bit, then the next groups in order.
 * While cached, free_bits[cur] is stale and alloc_mask is the truth; when
 * uncached, free_bits is exact.
 *
 * Per-span bitmaps (one block from bits_alloc, like Go's gcBits arenas;
 * spans of at most 64 slots keep the three bitmaps inline):
 *   free_bits  the allocation state (Go ~allocBits);
 *   mark_bits  the last mark's result (Go gcmarkBits), consumed by sweep;
 *   live_bits  gc policy: allocated and not freed by the trace since the
 *              last mark (plus, while cached, the free slots), so that
 *              sl_free tests and clears one bit and the mark is
 *              live & allocated; malloc never touches a bitmap;
 *   reqsize    requested bytes per slot (live and internal-fragmentation
 *              stats); for tiny blocks, the start and end masks of their
 *              live sub-objects.
 */
#include "internal.h"

const struct mspan empty_mspan = { .alloc_mask = 0, .nelems = 0 };
const struct mspan dead_mspan = { .base = 0, .divmul = 0, .fast_lim = 0, .state = MSPAN_DEAD };

static inline uint32_t bitmap_words(uint32_t nelems) { return (nelems + 63) / 64; }

#if defined(__x86_64__)
__attribute__((target("popcnt"))) unsigned sl_popcount64_hw(uint64_t x)
{
	return (unsigned)__builtin_popcountll(x);
}
#else
unsigned sl_popcount64_hw(uint64_t x)
{
	return sl_popcount64(x);
}
#endif

/* Bytes of the bits block: three bitmaps unless inline, and reqsize. */
static size_t bits_bytes(uint32_t nelems)
{
	uint32_t w = bitmap_words(nelems);
	return (w <= 1 ? 0 : (size_t)w * 8 * 3) + (size_t)nelems * 4;
}

/* Allocate and clear the span's bitmaps (a small span starts with every
 * slot free); free_bits stays NULL if the OS refuses metadata memory.
 * Spans of at most 64 slots keep their three bitmaps inline (one cache
 * line with the fields sl_free reads); the requested-size words always
 * live in a separate block. */
void mspan_init_bits(struct mheap *h, struct mspan *s)
{
	uint32_t w = bitmap_words(s->nelems);
	bool inl = w <= 1;
	uint64_t *b = bits_alloc(h, bits_bytes(s->nelems));
	s->bits_block = b;
	s->free_bits = NULL;
	if (b == NULL)
		return;
	if (inl) {
		memset(s->inline_bits, 0, sizeof s->inline_bits);
		s->free_bits = &s->inline_bits[0];
		s->mark_bits = &s->inline_bits[1];
		s->live_bits = &s->inline_bits[2];
		s->reqsize = (uint32_t *)b;
	} else {
		s->free_bits = b;
		s->mark_bits = b + w;
		s->live_bits = b + 2 * w;
		s->reqsize = (uint32_t *)(b + 3 * w);
	}
	if (span_class_sizeclass(s->spanclass) != 0)
		for (uint32_t i = 0; i < w; i++)
			s->free_bits[i] = mspan_valid(s, i);
}

void mspan_free_bits(struct mheap *h, struct mspan *s)
{
	if (s->bits_block != NULL)
		bits_free(h, s->bits_block, bits_bytes(s->nelems));
	s->bits_block = NULL;
	s->free_bits = s->mark_bits = s->live_bits = NULL;
	s->reqsize = NULL;
}

/* Allocated slots counted from the bitmaps as they are now (validators). */
uint32_t mspan_count_allocated(const struct mspan *s)
{
	uint32_t n = 0;
	for (uint32_t w = 0; w < mspan_words(s); w++)
		n += sl_popcount64(~mspan_free_word(s, w) & mspan_valid(s, w));
	return n;
}

/* allocCount: s->alloc_count, or for a cached span the slots not free in
 * the window and above it (every group below is full). */
uint32_t mspan_alloc_count(const struct mheap *h, const struct mspan *s)
{
	if (s->set != SL_SET_MCACHE)
		return s->alloc_count;
	uint32_t nfree = SL_POPCOUNT(h, s->alloc_mask);
	for (uint32_t w = s->cur + 1; w < mspan_words(s); w++)
		nfree += SL_POPCOUNT(h, s->free_bits[w]);
	return s->nelems - nfree;
}

/* mspan_next_group past its one-group test. */
bool mspan_next_group_slow(struct mspan *s)
{
	uint32_t nw = mspan_words(s);
	for (uint32_t w = s->cur + 1; w < nw; w++) {
		if (s->free_bits[w] != 0) {
			s->free_bits[s->cur] = 0;
			mspan_window_load(s, w);
			return true;
		}
	}
	return false;
}

void sl_throw_no_free(const struct mspan *s)
{
	sl_throw("span %#lx has no free objects", (unsigned long)s->base);
}

/*
 * s leaves its P: the window is written back, allocCount is exact again,
 * the free slots stop being live, and sl_free's fast path applies again.
 * Called while s->set is still SL_SET_MCACHE.
 */
void mspan_uncache(const struct mheap *h, struct mspan *s)
{
	uint32_t nw = mspan_words(s);
	s->alloc_count = mspan_alloc_count(h, s);
	s->free_bits[s->cur] = s->alloc_mask;
	if (s->free_path == FREE_PATH_GC)
		for (uint32_t i = s->cur; i < nw; i++)
			s->live_bits[i] &= ~s->free_bits[i];
	s->fast_lim = s->fast_lim_idle;
}

/*
 * Immediate policy: slot idx (allocated) is free now and, being the lowest
 * free slot or not, is handed out in Go's order. For a cached span below
 * the window, the window moves down to idx's group. The caller counts.
 */
void mspan_free_slot(struct mspan *s, uint32_t idx)
{
	uint32_t w = idx / 64;
	uint64_t bit = (uint64_t)1 << (idx % 64);
	if (s->set != SL_SET_MCACHE) {
		s->free_bits[w] |= bit;
		return;
	}
	if (w == s->cur) {
		s->alloc_mask |= bit;
		return;
	}
	s->free_bits[w] |= bit;
	if (w < s->cur) {
		s->free_bits[s->cur] = s->alloc_mask;
		mspan_window_load(s, w);
	}
}

/*
 * The mark of group w: allocated slots, less (gc policy) those the trace
 * freed; tiny blocks are filtered by the caller.
 */
uint64_t mspan_mark_word(const struct mheap *h, const struct mspan *s, uint32_t w)
{
	uint64_t m = ~mspan_free_word(s, w) & mspan_valid(s, w);
	if (h->cfg.free_policy == SL_FREE_GC && s->spanclass != make_span_class(TINY_SIZE_CLASS, true))
		m &= s->live_bits[w];
	return m;
}
