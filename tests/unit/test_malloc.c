/*
 * The front door (malloc.c): aligned allocation, calloc, realloc,
 * usable_size, the free error codes, config validation.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "coretest.h"

static struct sl_heap *heap(enum sl_free_policy pol)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.free_policy = pol;
	return ct_heap(&cfg);
}

Test(malloc_api, aligned_alloc_every_power_of_two)
{
	struct sl_heap *h = heap(SL_FREE_GC);
	struct sl_p *p = sl_heap_p(h, 0);
	size_t sizes[] = { 1, 7, 16, 100, 1000, 5000, 40000, 300000 };
	for (size_t a = 1; a <= ((size_t)1 << 20); a <<= 1) {
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			enum sl_align_err e = SL_ALIGN_NOMEM;
			char *v = sl_aligned_alloc(p, a, sizes[k], &e);
			cr_assert_eq(e, SL_ALIGN_OK);
			cr_assert_not_null(v);
			cr_assert_eq((uintptr_t)v % a, 0, "align %zu size %zu: %p", a, sizes[k], (void *)v);
			cr_assert_geq(sl_usable_size(h, v), sizes[k]);
			memset(v, 0x5a, sizes[k]);
			if (k % 2)
				cr_assert_eq(sl_free(p, v), SL_FREE_OK, "an aligned object frees by its pointer");
		}
	}
	ct_check(h, "after aligned allocations");
	sl_heap_destroy(h);
}

Test(malloc_api, aligned_alloc_rejects_bad_alignment)
{
	struct sl_heap *h = heap(SL_FREE_GC);
	struct sl_p *p = sl_heap_p(h, 0);
	size_t bad[] = { 0, 3, 24, 100, (size_t)1 << 20 | 1 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum sl_align_err e = SL_ALIGN_OK;
		cr_assert_null(sl_aligned_alloc(p, bad[i], 64, &e));
		cr_assert_eq(e, SL_ALIGN_NOT_POWER_OF_TWO, "alignment %zu", bad[i]);
	}
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.mallocs, 0, "nothing was allocated");
	sl_heap_destroy(h);
}

Test(malloc_api, calloc_clears_reused_memory)
{
	for (int pol = 0; pol < 2; pol++) {
		struct sl_heap *h = heap(pol ? SL_FREE_IMMEDIATE : SL_FREE_GC);
		struct sl_p *p = sl_heap_p(h, 0);
		size_t sizes[] = { 5, 24, 500, 3000, 50000 };
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			void *d[64];
			for (int i = 0; i < 64; i++) {
				d[i] = sl_malloc(p, sizes[k]);
				memset(d[i], 0xee, sizes[k]);
			}
			for (int i = 0; i < 64; i++)
				sl_free(p, d[i]);
			sl_heap_gc(h);
			for (int i = 0; i < 64; i++) {
				unsigned char *c = sl_calloc(p, 1, sizes[k]);
				for (size_t j = 0; j < sizes[k]; j++)
					cr_assert_eq(c[j], 0, "calloc(%zu) byte %zu not zero", sizes[k], j);
			}
		}
		cr_assert_null(sl_calloc(p, SIZE_MAX / 2, 3), "overflow is an error");
		ct_check(h, "after calloc");
		sl_heap_destroy(h);
	}
}

Test(malloc_api, realloc_in_place_copy_and_edges)
{
	struct sl_heap *h = heap(SL_FREE_GC);
	struct sl_p *p = sl_heap_p(h, 0);
	char *a = sl_realloc(p, NULL, 100);		/* = malloc */
	cr_assert_not_null(a);
	memcpy(a, "spanlab", 8);
	cr_assert_eq(sl_realloc(p, a, 112), a, "fits the 112-byte slot: in place");
	char *b = sl_realloc(p, a, 113);
	cr_assert_neq(b, a, "beyond the slot: moved");
	cr_assert_str_eq(b, "spanlab");
	cr_assert_eq(sl_free(p, a), SL_FREE_DOUBLE_FREE, "the old object was freed by realloc");
	char *c = sl_realloc(p, b, 50000);
	cr_assert_str_eq(c, "spanlab");
	cr_assert_eq(sl_realloc(p, c, 40000), c, "a smaller size fits the large span");
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.live_bytes, 40000, "the requested size follows realloc");
	cr_assert_null(sl_realloc(p, c, 0), "realloc(p, 0) frees and returns NULL");
	sl_heap_stats(h, &st);
	cr_assert_eq(st.live_objects, 0);
	int local;
	cr_assert_null(sl_realloc(p, &local, 10), "a foreign pointer is refused");
	ct_check(h, "after realloc");
	sl_heap_destroy(h);
}

Test(malloc_api, free_error_codes)
{
	struct sl_heap *h = heap(SL_FREE_GC), *other = heap(SL_FREE_GC);
	struct sl_p *p = sl_heap_p(h, 0);
	char *small = sl_malloc(p, 100), *large = sl_malloc(p, 100000);
	char *theirs = sl_malloc(sl_heap_p(other, 0), 100);
	int stack;
	char *libc = malloc(16);
	struct sl_stats before, after;
	sl_heap_stats(h, &before);
	struct { void *ptr; enum sl_free_result want; } cases[] = {
		{ NULL, SL_FREE_NULL_PTR },
		{ &stack, SL_FREE_FOREIGN },
		{ libc, SL_FREE_FOREIGN },
		{ theirs, SL_FREE_FOREIGN },
		{ (void *)((uintptr_t)1 << 60), SL_FREE_FOREIGN },
		{ small + 8, SL_FREE_INTERIOR },
		{ large + 16, SL_FREE_INTERIOR },
		{ small + 112, SL_FREE_NOT_ALLOCATED },	/* the next slot, never handed out */
		{ small + 20 * 8192, SL_FREE_NOT_IN_USE },	/* free pages of the arena */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum sl_free_result r = sl_free(p, cases[i].ptr);
		cr_assert_eq(r, cases[i].want, "case %zu: %s, want %s", i, sl_free_result_name(r),
			     sl_free_result_name(cases[i].want));
	}
	sl_heap_stats(h, &after);
	cr_assert_eq(after.bad_frees, before.bad_frees + sizeof cases / sizeof cases[0] - 1);
	cr_assert_eq(after.live_bytes, before.live_bytes, "misuse changed nothing");
	cr_assert_eq(after.heap_alloc, before.heap_alloc);
	cr_assert_eq(sl_free(p, small), SL_FREE_OK);
	cr_assert_eq(sl_free(p, small), SL_FREE_DOUBLE_FREE);
	cr_assert_eq(sl_free(p, large), SL_FREE_OK);
	cr_assert_eq(sl_free(p, large), SL_FREE_DOUBLE_FREE);
	for (int r = 0; r < SL_FREE_NRESULTS; r++)
		cr_assert_str_neq(sl_free_result_name((enum sl_free_result)r), "unknown");
	ct_check(h, "after misuse");
	free(libc);
	sl_heap_destroy(h);
	sl_heap_destroy(other);
}

Test(malloc_api, usable_size)
{
	struct sl_heap *h = heap(SL_FREE_GC);
	struct sl_p *p = sl_heap_p(h, 0);
	char *t = sl_malloc(p, 5), *s = sl_malloc(p, 100), *l = sl_malloc(p, 40000);
	cr_assert_eq(sl_usable_size(h, t), 5, "a tiny sub-object's own size");
	cr_assert_eq(sl_usable_size(h, s), 112, "the slot");
	cr_assert_eq(sl_usable_size(h, l), 40960, "the large span");
	cr_assert_eq(sl_usable_size(h, s + 1), 0);
	sl_free(p, s);
	cr_assert_eq(sl_usable_size(h, s), 0, "freed objects have no usable size");
	cr_assert_eq(sl_usable_size(h, NULL), 0);
	sl_heap_destroy(h);
}

Test(malloc_api, config_validation)
{
	struct { const char *name; void (*edit)(struct sl_heap_config *); } cases[] = {
		{ "arena not a power of two", NULL }, { "arena below a chunk", NULL }, { "nprocs 0", NULL },
		{ "nprocs 65", NULL }, { "trigger fraction 0", NULL }, { "tiny with 8-byte class 2", NULL },
	};
	for (int i = 0; i < 6; i++) {
		struct sl_heap_config cfg;
		ct_config(&cfg, 0);
		switch (i) {
		case 0: cfg.arena_bytes = 3 << 20; break;
		case 1: cfg.arena_bytes = 1 << 20; break;
		case 2: cfg.nprocs = 0; break;
		case 3: cfg.nprocs = 65; break;
		case 4: cfg.trigger_fraction = 0; break;
		case 5: {
			uint32_t rows[][2] = { { 8, 1 }, { 24, 1 }, { 32768, 4 } };
			char e[200];
			cr_assert_eq(sl_sizeclasses_from_rows(8192, 32768, rows, 3, &cfg.classes, e, sizeof e), 0, "%s", e);
			break;
		}
		}
		char err[256] = "";
		cr_assert_null(sl_heap_new(&cfg, err, sizeof err), "%s accepted", cases[i].name);
		cr_assert_neq(err[0], 0, "%s: no message", cases[i].name);
	}
}

Test(malloc_api, explicit_ps_are_independent)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.nprocs = 4;
	struct sl_heap *h = ct_heap(&cfg);
	cr_assert_null(sl_heap_p(h, 4));
	cr_assert_null(sl_heap_p(h, -1));
	uintptr_t a[4];
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(sl_p_id(sl_heap_p(h, i)), i);
		a[i] = (uintptr_t)sl_malloc(sl_heap_p(h, i), 64);
	}
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			cr_assert_neq(a[i] & ~(uintptr_t)8191, a[j] & ~(uintptr_t)8191, "Ps %d and %d share a span", i, j);
	cr_assert_eq(sl_free(sl_heap_p(h, 3), (void *)a[0]), SL_FREE_OK, "any P may free any object");
	ct_check(h, "four Ps");
	sl_heap_destroy(h);
}
