/*
 * Spans: Go's mspan (mheap.go) and its allocation bitmap walk (mbitmap.go).
 *
 * A span is npages contiguous pages holding nelems slots of elemsize
 * bytes (small classes) or one large object (class 0). Slot n is
 * allocated iff n < freeindex or alloc_bits[n]: allocation only advances
 * freeindex, so the lowest free slot at or after freeindex is always the
 * next one handed out (Go's order). alloc_cache caches the complement of
 * the 64 alloc bits of freeindex's group, shifted to start at freeindex.
 *
 * Departure from Go: Go's cache has bits past nelems set (they read as
 * free) and nextFreeFast must compare against nelems and refuse to cross a
 * 64-slot boundary. We clear the bits past nelems when loading, so a zero
 * cache means exactly "nothing left in this group": the fast path is one
 * test and one ctz, and mspan_next_free_index loads the next group. The
 * allocation order is unchanged.
 *
 * Per-span bitmaps (one block from bits_alloc, like Go's gcBits arenas):
 *   alloc_bits  allocation state above freeindex (Go allocBits);
 *   mark_bits   the last mark's result (Go gcmarkBits), consumed by sweep;
 *   freed_bits  gc policy: objects the trace freed since the last mark.
 *               The mark computes mark = allocated & ~freed, so malloc
 *               never touches a bitmap and free only sets one bit;
 *   reqsize     requested bytes per slot (live and internal-fragmentation
 *               stats); for tiny blocks, the start and end masks of their
 *               live sub-objects.
 */
#include "internal.h"

const struct mspan empty_mspan = { .alloc_cache = 0, .nelems = 0, .freeindex = 0 };

static inline uint32_t bitmap_words(uint32_t nelems) { return (nelems + 63) / 64; }

/* Allocate and zero the span's bitmaps; alloc_bits stays NULL if the OS
 * refuses metadata memory. Spans of at most 64 slots keep their three
 * bitmaps inline (one cache line with the fields sl_free reads); the
 * requested-size words always live in a separate block. */
void mspan_init_bits(struct mheap *h, struct mspan *s)
{
	uint32_t w = bitmap_words(s->nelems);
	bool inl = w <= 1;
	s->bits_bytes = (inl ? 0 : (size_t)w * 8 * 3) + (size_t)s->nelems * 4;
	uint64_t *b = bits_alloc(h, s->bits_bytes);
	s->bits_block = b;
	s->alloc_bits = NULL;
	if (b == NULL)
		return;
	if (inl) {
		memset(s->inline_bits, 0, sizeof s->inline_bits);
		s->alloc_bits = &s->inline_bits[0];
		s->mark_bits = &s->inline_bits[1];
		s->freed_bits = &s->inline_bits[2];
		s->reqsize = (uint32_t *)b;
		return;
	}
	s->alloc_bits = b;
	s->mark_bits = b + w;
	s->freed_bits = b + 2 * w;
	s->reqsize = (uint32_t *)(b + 3 * w);
}

void mspan_free_bits(struct mheap *h, struct mspan *s)
{
	if (s->bits_block != NULL)
		bits_free(h, s->bits_block, s->bits_bytes);
	s->bits_block = NULL;
	s->alloc_bits = s->mark_bits = s->freed_bits = NULL;
	s->reqsize = NULL;
}

/*
 * nextFreeIndex: the index of the next free slot at or after freeindex,
 * consuming it (freeindex moves past it), or nelems if the span is full.
 * The caller counts the allocation. Never writes to a full span, so the
 * read-only empty sentinel is safe here.
 */
uint32_t mspan_next_free_index(struct mspan *s)
{
	uint32_t fi = s->freeindex, n = s->nelems;
	if (fi >= n)
		return n;
	uint64_t c = s->alloc_cache;
	while (c == 0) {
		if (fi % 64 != 0) {
			fi = (fi + 63) & ~63u;
		} else {
			mspan_refill_alloc_cache(s, fi / 64);
			c = s->alloc_cache;
			if (c != 0)
				break;
			fi += 64;
		}
		if (fi >= n) {
			s->freeindex = n;
			s->alloc_cache = 0;
			return n;
		}
	}
	unsigned tz = (unsigned)__builtin_ctzll(c);
	uint32_t idx = fi + tz;
	s->alloc_cache = (c >> tz) >> 1;
	s->freeindex = idx + 1;
	return idx;
}

/* Allocated slots counted from the bitmap (validators, stats). */
uint32_t mspan_count_alloc(const struct mspan *s)
{
	uint32_t n = s->freeindex;
	for (uint32_t i = s->freeindex; i < s->nelems; i++)
		n += bit_get(s->alloc_bits, i);
	return n;
}

/*
 * Immediate policy: make slot idx (< freeindex) the next free slot. Every
 * slot in [idx, freeindex) is allocated by definition; write that into
 * alloc_bits before freeindex drops to idx, then clear idx's bit.
 */
static SL_NOINLINE void materialize_wide(struct mspan *s, uint32_t idx)
{
	bits_set_range(s->alloc_bits, idx, s->freeindex - idx);	/* spans over 64 slots */
	s->freeindex = idx;
	bit_clear(s->alloc_bits, idx);
	mspan_refill_alloc_cache(s, idx / 64);
	s->alloc_cache >>= idx % 64;
}

void mspan_materialize_below(struct mspan *s, uint32_t idx)
{
	uint32_t fi = s->freeindex;
	uint64_t *w = s->alloc_bits;
	if (idx < fi) {
		if (SL_UNLIKELY(idx / 64 != (fi - 1) / 64))
			return materialize_wide(s, idx);
		w[idx / 64] |= (~(uint64_t)0 << (idx % 64)) & (~(uint64_t)0 >> (63 - (fi - 1) % 64));
		s->freeindex = fi = idx;
	}
	w[idx / 64] &= ~((uint64_t)1 << (idx % 64));
	mspan_refill_alloc_cache(s, fi / 64);
	s->alloc_cache >>= fi % 64;
}
