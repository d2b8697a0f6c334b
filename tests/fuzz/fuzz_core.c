/*
 * Fuzz the allocator core directly: the input is a program of operations
 * on a fresh heap (config from the first two bytes: 1-4 Ps, free policy, sweep
 * mode, tiny on/off, GOGC) with frees of anything: live objects, freed
 * ones (double frees), interior pointers, pointers into another heap or
 * the stack, NULL; reallocs of all of those; zero, huge and absurd sizes
 * and alignments, calloc overflow. This is where arbitrary pointers reach
 * sl_free: a replay maps trace ids to pointers and never hands the core
 * one it did not return (docs/errors.md, "Misuse").
 *
 * A shadow model knows every live object. Properties:
 *   - sl_free of a live object's start is SL_FREE_OK; of anything else it
 *     is refused with a specific result and changes no statistic but
 *     bad_frees (and the heap passes its validators); a pointer inside a
 *     live object, past its start, is SL_FREE_INTERIOR (tiny sub-objects
 *     too);
 *   - allocations succeed unless the request is absurd (2^47 bytes or more,
 *     an alignment of 2^47 or more) or calloc overflows; results are aligned,
 *     sl_usable_size covers them, calloc memory is zero;
 *   - contents written at allocation survive until the free;
 *   - sl_heap_check passes after every operation (or every 4, 16, 64).
 */
#include "fuzz.h"
#include "fuzz_bytes.h"

#include <stdlib.h>
#include <string.h>

#include "spanlab.h"

enum { SLOTS = 48, DEAD = 16, FILL = 32 };

struct obj {
	unsigned char *p;
	size_t n;
	uint8_t tag;
};

struct world {
	struct sl_heap *h, *other;
	int nprocs;
	bool tiny;
	struct obj live[SLOTS];
	unsigned char *dead[DEAD];	/* freed pointers, for double frees */
	unsigned ndead;
	void *foreign;			/* an object of the other heap */
	uint64_t step;
};

/* The first and last FILL bytes hold tag + offset (a pattern by position,
 * so the two ends may overlap). */
static void fill(struct obj *o)
{
	size_t k = o->n < FILL ? o->n : FILL;
	for (size_t i = 0; i < k; i++) {
		o->p[i] = (uint8_t)(o->tag + i);
		o->p[o->n - 1 - i] = (uint8_t)(o->tag + o->n - 1 - i);
	}
}

static void verify(const struct world *w, const struct obj *o)
{
	size_t k = o->n < FILL ? o->n : FILL;
	for (size_t i = 0; i < k; i++)
		if (o->p[i] != (uint8_t)(o->tag + i) || o->p[o->n - 1 - i] != (uint8_t)(o->tag + o->n - 1 - i))
			fuzz_fail("step %llu: the %zu-byte object at %p was overwritten",
				  (unsigned long long)w->step, o->n, (void *)o->p);
}

static void check(struct world *w)
{
	char err[512];
	if (sl_heap_check(w->h, err, sizeof err))
		fuzz_fail("step %llu: heap check: %s", (unsigned long long)w->step, err);
}

/* Is a the start of a live object? */
static int live_start(const struct world *w, const unsigned char *a)
{
	if (a == NULL)
		return -1;
	for (int i = 0; i < SLOTS; i++)
		if (w->live[i].p == a)
			return i;
	return -1;
}

/* The live object that a lies inside, past its start; -1 if none. */
static int live_inside(const struct world *w, const unsigned char *a)
{
	for (int i = 0; i < SLOTS; i++) {
		const struct obj *o = &w->live[i];
		if (o->p && a > o->p && a < o->p + o->n)
			return i;
	}
	return -1;
}

static void born(struct world *w, int slot, unsigned char *p, size_t n, uint64_t align)
{
	if (align && ((uintptr_t)p & (align - 1)))
		fuzz_fail("step %llu: %p is not aligned to %llu", (unsigned long long)w->step, (void *)p,
			  (unsigned long long)align);
	/* Go's tiny allocator aligns a sub-object of n < 16 bytes only as n
	 * needs (8, 4, 2 or 1 by n's low bits: malloc.go); everything else is
	 * 8-aligned. */
	size_t m = n ? n : 1;	/* 0 bytes are served as 1 */
	size_t need = m >= 16 || !w->tiny ? 8 : !(m & 7) ? 8 : !(m & 3) ? 4 : !(m & 1) ? 2 : 1;
	if ((uintptr_t)p & (need - 1))
		fuzz_fail("step %llu: %p (%zu bytes) is not %zu-aligned", (unsigned long long)w->step, (void *)p, n,
			  need);
	if (sl_usable_size(w->h, p) < (n ? n : 1) && n >= 16)
		fuzz_fail("step %llu: usable size %zu below the request %zu", (unsigned long long)w->step,
			  sl_usable_size(w->h, p), n);
	for (int i = 0; i < SLOTS; i++) {
		const struct obj *o = &w->live[i];
		size_t ol = o->n ? o->n : 1, nl = n ? n : 1;
		if (o->p && p < o->p + ol && o->p < p + nl)
			fuzz_fail("step %llu: new object %p+%zu overlaps live %p+%zu", (unsigned long long)w->step,
				  (void *)p, n, (void *)o->p, o->n);
	}
	struct obj *o = &w->live[slot];
	o->p = p;
	o->n = n;
	o->tag = (uint8_t)(w->step * 31 + 7);
	fill(o);
}

static void died(struct world *w, int slot)
{
	w->dead[w->ndead++ % DEAD] = w->live[slot].p;
	w->live[slot].p = NULL;
}

/* A free the shadow model predicts. */
static void free_any(struct world *w, struct sl_p *p, unsigned char *a)
{
	int slot = live_start(w, a);
	if (slot >= 0) {
		verify(w, &w->live[slot]);
		enum sl_free_result r = sl_free(p, a);
		if (r != SL_FREE_OK)
			fuzz_fail("step %llu: free of the live object %p refused: %s", (unsigned long long)w->step,
				  (void *)a, sl_free_result_name(r));
		died(w, slot);
	} else {
		struct sl_stats *before = malloc(sizeof *before), *after = malloc(sizeof *after);
		sl_heap_stats(w->h, before);
		enum sl_free_result r = sl_free(p, a);
		if (r == SL_FREE_OK)
			fuzz_fail("step %llu: free of %p (not a live object) accepted", (unsigned long long)w->step,
				  (void *)a);
		if (a == NULL && r != SL_FREE_NULL_PTR)
			fuzz_fail("free(NULL): %s", sl_free_result_name(r));
		int in = live_inside(w, a);
		if (in >= 0 && r != SL_FREE_INTERIOR)
			fuzz_fail("step %llu: free of %p inside the live object %p+%zu: %s, not an interior pointer",
				  (unsigned long long)w->step, (void *)a, (void *)w->live[in].p, w->live[in].n,
				  sl_free_result_name(r));
		sl_heap_stats(w->h, after);
		if (after->bad_frees != before->bad_frees + (a != NULL))
			fuzz_fail("step %llu: a refused free (%s) was not counted", (unsigned long long)w->step,
				  sl_free_result_name(r));
		after->bad_frees = before->bad_frees;
		if (memcmp(before, after, sizeof *before))
			fuzz_fail("step %llu: a refused free (%s) changed the statistics", (unsigned long long)w->step,
				  sl_free_result_name(r));
		free(before);
		free(after);
	}
}

static unsigned char *pick_bad(struct world *w, struct fz *f)
{
	uint8_t k = fz_u8(f), i = fz_u8(f);
	switch (k % 5) {
	case 0:
		return w->dead[i % DEAD];			/* double free (or NULL) */
	case 1: {
		const struct obj *o = &w->live[i % SLOTS];	/* interior pointer */
		if (!o->p)
			return NULL;
		return o->p + 1 + (o->n > 1 ? fz_u8(f) % (o->n - 1) + (size_t)fz_u8(f) * 256 % o->n : 0);
	}
	case 2:
		return w->foreign;				/* another heap's object */
	case 3:
		return (unsigned char *)&w->step;		/* the stack (well, this struct) */
	default: {
		const struct obj *o = &w->live[i % SLOTS];	/* just past an object */
		return o->p ? o->p + (o->n ? o->n : 1) + fz_u8(f) : NULL;
	}
	}
}

static void op(struct world *w, struct fz *f)
{
	uint8_t c = fz_u8(f);
	struct sl_p *p = sl_heap_p(w->h, (c >> 4) % w->nprocs);
	int slot = fz_u8(f) % SLOTS, absurd, absurd2;
	struct obj *o = &w->live[slot];
	uint64_t n, align;
	unsigned char *v;

	switch (c % 11) {
	case 0:
	case 1:
	case 2:		/* malloc */
		if (o->p)
			free_any(w, p, o->p);
		n = fz_size(f, &absurd);
		v = sl_malloc(p, (size_t)n);
		if (!v && !absurd)
			fuzz_fail("step %llu: malloc(%llu) failed", (unsigned long long)w->step, (unsigned long long)n);
		if (v)
			born(w, slot, v, (size_t)n, 0);
		break;
	case 3: {	/* calloc, with overflow */
		if (o->p)
			free_any(w, p, o->p);
		n = fz_size(f, &absurd);
		uint64_t m = fz_u8(f) == 255 ? UINT64_MAX / 2 + 3 : 1u + fz_u8(f) % 4u;
		uint64_t total;
		int overflow = __builtin_mul_overflow(n, m, &total);
		v = sl_calloc(p, (size_t)n, (size_t)m);
		if (overflow && v)
			fuzz_fail("calloc(%llu, %llu) overflows but returned %p", (unsigned long long)n,
				  (unsigned long long)m, (void *)v);
		if (!v && !overflow && !absurd && total < (1ull << 33))
			fuzz_fail("step %llu: calloc(%llu, %llu) failed", (unsigned long long)w->step,
				  (unsigned long long)n, (unsigned long long)m);
		if (v) {
			static const unsigned char zero[4096];
			size_t k = total < sizeof zero ? (size_t)total : sizeof zero;
			if (memcmp(v, zero, k) || memcmp(v + total - k, zero, k))
				fuzz_fail("step %llu: calloc memory is not zero", (unsigned long long)w->step);
			born(w, slot, v, (size_t)total, 0);
		}
		break;
	}
	case 4: {	/* aligned */
		if (o->p)
			free_any(w, p, o->p);
		n = fz_size(f, &absurd);
		align = fz_align(f, &absurd2);
		enum sl_align_err e;
		v = sl_aligned_alloc(p, (size_t)align, (size_t)n, &e);
		int pow2 = align && !(align & (align - 1));
		if (!pow2 && (v || e != SL_ALIGN_NOT_POWER_OF_TWO))
			fuzz_fail("aligned_alloc(%llu, ...) accepted a bad alignment", (unsigned long long)align);
		if (pow2 && !v && !absurd && !absurd2)
			fuzz_fail("step %llu: aligned_alloc(%llu, %llu) failed", (unsigned long long)w->step,
				  (unsigned long long)align, (unsigned long long)n);
		if (v)
			born(w, slot, v, (size_t)n, align);
		break;
	}
	case 5: {	/* realloc of a live object, NULL, or a bad pointer */
		n = fz_size(f, &absurd);
		unsigned char *old = (fz_u8(f) & 3) ? o->p : pick_bad(w, f);
		int ls = live_start(w, old);
		if (ls >= 0)
			verify(w, &w->live[ls]);
		struct obj keep = ls >= 0 ? w->live[ls] : (struct obj){ 0 };
		v = sl_realloc(p, old, (size_t)n);
		if (old && ls < 0) {		/* invalid: NULL, nothing changes */
			if (v)
				fuzz_fail("step %llu: realloc of %p (not live) returned %p", (unsigned long long)w->step,
					  (void *)old, (void *)v);
			break;
		}
		if (old && n == 0) {		/* a free */
			if (v)
				fuzz_fail("realloc(p, 0) returned %p", (void *)v);
			died(w, ls);
			break;
		}
		if (!v) {
			if (!absurd)
				fuzz_fail("step %llu: realloc to %llu failed", (unsigned long long)w->step,
					  (unsigned long long)n);
			break;			/* the old object is still live */
		}
		if (ls >= 0) {
			size_t k = keep.n < n ? keep.n : (size_t)n;
			for (size_t i = 0; i < k && i < FILL; i++)
				if (v[i] != (uint8_t)(keep.tag + i))
					fuzz_fail("step %llu: realloc lost byte %zu", (unsigned long long)w->step, i);
			w->live[ls].p = NULL;
			if (v != old)
				w->dead[w->ndead++ % DEAD] = old;
		} else if (o->p) {
			free_any(w, p, o->p);
			ls = slot;
		}
		born(w, ls >= 0 ? ls : slot, v, (size_t)n, 0);
		break;
	}
	case 6:
	case 7:		/* free a live object */
		if (o->p)
			free_any(w, p, o->p);
		break;
	case 8:		/* free anything */
		free_any(w, p, pick_bad(w, f));
		break;
	case 9:
		switch (fz_u8(f) % 3) {
		case 0: sl_heap_gc(w->h); break;
		case 1: sl_heap_gc_marker(w->h); break;
		default: sl_heap_scavenge_all(w->h); break;
		}
		break;
	default:	/* verify everything */
		for (int i = 0; i < SLOTS; i++)
			if (w->live[i].p)
				verify(w, &w->live[i]);
		break;
	}
}

int fuzz_core(const uint8_t *data, size_t size)
{
	struct fz f = { data, size, 0 };
	struct sl_heap_config cfg;
	char err[256];
	uint8_t c = fz_u8(&f);
	static struct world w;
	static struct sl_heap *other;	/* only lends a foreign pointer: one for all runs */
	static void *foreign;

	memset(&w, 0, sizeof w);
	sl_heap_config_default(&cfg);
	cfg.arena_bytes = 4u << 20;
	cfg.nprocs = 1 + (c & 3);
	cfg.free_policy = c >> 2 & 1 ? SL_FREE_IMMEDIATE : SL_FREE_GC;
	cfg.sweep_mode = c >> 3 & 1 ? SL_SWEEP_LAZY : SL_SWEEP_EAGER;
	cfg.tiny = !(c >> 4 & 1);
	cfg.gogc = (int[]){ 100, -1, 1, 10 }[c >> 5 & 3];
	cfg.scavenger = !(c >> 7);
	w.h = sl_heap_new(&cfg, err, sizeof err);
	if (!other) {
		other = sl_heap_new(&cfg, err, sizeof err);
		if (other)
			foreign = sl_malloc(sl_heap_p(other, 0), 64);
	}
	if (!w.h || !other)
		fuzz_fail("sl_heap_new: %s", err);
	w.other = other;
	w.foreign = foreign;
	w.nprocs = cfg.nprocs;
	w.tiny = cfg.tiny;
	/* Validators after every 1, 4, 16 or 64 operations: every one finds
	 * a fault at its operation, the sparser ones let the fuzzer run
	 * longer programs. */
	unsigned every = 1u << 2 * (fz_u8(&f) & 3);
	for (w.step = 0; fz_more(&f) && w.step < 2000; w.step++) {
		op(&w, &f);
		if (w.step % every == every - 1)
			check(&w);
	}
	for (int i = 0; i < SLOTS; i++)
		if (w.live[i].p)
			free_any(&w, sl_heap_p(w.h, i % w.nprocs), w.live[i].p);
	sl_heap_gc(w.h);
	check(&w);
	struct sl_stats *st = malloc(sizeof *st);
	sl_heap_stats(w.h, st);
	if (st->live_objects || st->live_bytes)
		fuzz_fail("everything freed, yet %llu live objects, %llu live bytes",
			  (unsigned long long)st->live_objects, (unsigned long long)st->live_bytes);
	free(st);
	sl_heap_destroy(w.h);
	return 0;
}

FUZZ_TARGET(core)
