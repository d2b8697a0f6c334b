/*
 * A cursor over the fuzz input, for the harnesses that read it as a
 * program of operations (fuzz_replay, fuzz_core): past the end every read
 * gives 0, so every input is a valid program.
 */
#ifndef SPANLAB_FUZZ_BYTES_H
#define SPANLAB_FUZZ_BYTES_H

#include <stddef.h>
#include <stdint.h>

struct fz {
	const uint8_t *p;
	size_t n, i;
};

static inline uint8_t fz_u8(struct fz *f)
{
	return f->i < f->n ? f->p[f->i++] : 0;
}

static inline int fz_more(const struct fz *f)
{
	return f->i < f->n;
}

/* A size: mostly small (tiny, small classes), some large, a few absurd
 * (*absurd set: at least 2^47 bytes, which fail with out of memory). */
static inline uint64_t fz_size(struct fz *f, int *absurd)
{
	uint8_t s = fz_u8(f);
	*absurd = 0;
	if (s < 128)
		return s;				/* 0..127: zero, tiny, small */
	if (s < 200)
		return (uint64_t)(s - 128) * 456 + fz_u8(f);	/* up to ~33 KiB: every class, the edge */
	if (s < 250)
		return ((uint64_t)(s - 199) << 15) + (uint64_t)fz_u8(f) * 4099;	/* large, up to ~2.6 MiB */
	/* From 2^47 nothing fits the address space: refused at once. (8 GiB
	 * or 2^40 would be served or refused only after registering thousands
	 * of 4 MiB arenas: a second or more per input, and no new path.) */
	*absurd = 1;
	static const uint64_t huge[] = { 1ull << 48, 1ull << 47, (1ull << 62) + 1, UINT64_MAX >> 1,
					 UINT64_MAX - 4096, UINT64_MAX };
	return huge[(s - 250) % 6];
}

/* An alignment: powers of two up to 64 MiB, a few absurd ones (2^47 and
 * more: *absurd set, they fail with out of memory), sometimes not a power
 * of two. (Between, 2^32..2^46, the core registers up to millions of
 * 4 MiB arenas before it succeeds or fails: seconds per input; see
 * docs/errors.md, "Known limits".) */
static inline uint64_t fz_align(struct fz *f, int *absurd)
{
	uint8_t a = fz_u8(f);
	*absurd = 0;
	if (a < 200)
		return (uint64_t)1 << (a % 18);		/* 1 .. 128 KiB */
	if (a < 230)
		return (uint64_t)1 << (18 + a % 9);	/* 256 KiB .. 64 MiB */
	if (a < 240) {
		*absurd = 1;
		return (uint64_t)1 << (47 + a % 10);	/* 2^47 .. 2^56 */
	}
	return (uint64_t)a * 3;				/* not a power of two */
}

#endif
