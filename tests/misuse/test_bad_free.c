/*
 * Misuse: double frees, foreign and interior pointers, frees through the
 * wrong heap, in every policy and sweep mode, mixed into a live workload.
 * The core must diagnose each with its own error value, count it, and
 * leave the heap exactly as it was (stats unchanged, validators pass,
 * every live object's contents intact). Runs under ASan in make test-asan.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "coretest.h"
#include "testlib.h"

static void misuse_run(enum sl_free_policy pol, enum sl_sweep_mode sweep, const char *name)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.free_policy = pol;
	cfg.sweep_mode = sweep;
	struct sl_heap *h = ct_heap(&cfg), *other = ct_heap(&cfg);
	struct sl_p *p = sl_heap_p(h, 0);
	struct ct_rng r = { tl_seed(name) | 1 };
	enum { N = 400 };
	unsigned char *v[N];
	size_t n[N];
	bool live[N];
	for (int i = 0; i < N; i++) {
		n[i] = 1 + ct_below(&r, i % 20 == 0 ? 100000 : 2000);
		v[i] = sl_malloc(p, n[i]);
		memset(v[i], i & 0xff, n[i]);
		live[i] = true;
	}
	void *foreign = sl_malloc(sl_heap_p(other, 0), 64);
	uint64_t bad = 0;
	for (int step = 0; step < 2000; step++) {
		int i = (int)ct_below(&r, N);
		struct sl_stats before, after;
		sl_heap_stats(h, &before);
		enum sl_free_result res;
		switch (ct_below(&r, 6)) {
		case 0:		/* double free, or a first free */
			if (!live[i]) {
				/* a stale pointer into a reused slot is a live object
				 * again: no allocator can tell; skip those */
				bool reused = false;
				for (int j = 0; j < N; j++)
					reused |= live[j] && v[j] <= v[i] && v[i] < v[j] + (n[j] ? n[j] : 1);
				if (reused)
					continue;
			}
			res = sl_free(p, v[i]);
			if (live[i]) {
				cr_assert_eq(res, SL_FREE_OK);
				live[i] = false;
				continue;
			}
			cr_assert(res == SL_FREE_DOUBLE_FREE || res == SL_FREE_NOT_ALLOCATED ||
				  res == SL_FREE_TINY_NOT_LIVE || res == SL_FREE_NOT_IN_USE,
				  "double free of object %d: %s", i, sl_free_result_name(res));
			break;
		case 1:
			if (n[i] < 2 || !live[i])
				continue;
			res = sl_free(p, v[i] + 1 + ct_below(&r, n[i] - 1));
			cr_assert_eq(res, SL_FREE_INTERIOR, "an interior pointer of live object %d (%zu bytes): %s",
				     i, n[i], sl_free_result_name(res));
			break;
		case 2:
			res = sl_free(p, foreign);
			cr_assert_eq(res, SL_FREE_FOREIGN);
			break;
		case 3:
			res = sl_free(p, &step);
			cr_assert_eq(res, SL_FREE_FOREIGN);
			break;
		case 4:
			if (live[i] || ct_below(&r, 3) != 0)
				continue;
			v[i] = sl_malloc(p, n[i]);	/* reallocate a freed one */
			memset(v[i], i & 0xff, n[i]);
			live[i] = true;
			continue;
		default:
			if (ct_below(&r, 50) == 0)
				sl_heap_gc_marker(h);
			continue;
		}
		bad++;
		sl_heap_stats(h, &after);
		cr_assert_eq(after.bad_frees, before.bad_frees + 1);
		cr_assert_eq(after.live_bytes, before.live_bytes);
		cr_assert_eq(after.heap_alloc, before.heap_alloc);
		cr_assert_eq(after.heap_inuse, before.heap_inuse);
		if (step % 50 == 0)
			ct_check(h, "during misuse");
	}
	for (int i = 0; i < N; i++)
		if (live[i])
			for (size_t k = 0; k < n[i]; k++)
				cr_assert_eq(v[i][k], i & 0xff, "object %d corrupted", i);
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.bad_frees, bad);
	ct_check(h, "at the end");
	sl_heap_destroy(h);
	sl_heap_destroy(other);
}

Test(misuse, gc_eager) { misuse_run(SL_FREE_GC, SL_SWEEP_EAGER, "misuse.gc_eager"); }
Test(misuse, gc_lazy) { misuse_run(SL_FREE_GC, SL_SWEEP_LAZY, "misuse.gc_lazy"); }
Test(misuse, immediate) { misuse_run(SL_FREE_IMMEDIATE, SL_SWEEP_EAGER, "misuse.immediate"); }
