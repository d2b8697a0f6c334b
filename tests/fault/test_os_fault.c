/*
 * Fault injection through the fake OS layer: for every kind of OS call
 * (reserve, map, unused, metadata alloc) and every N, a fixed script runs
 * with the Nth such call failing. Asserted: no crash; the failure surfaces
 * as a NULL allocation (or a NULL heap with a message) and nowhere else;
 * the heap passes sl_heap_check after every step; later allocations
 * succeed; destroying the heap unmaps every byte.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "coretest.h"

struct outcome { int nulls; bool heap_failed; };

static struct outcome script(struct ct_os *os)
{
	struct outcome o = { 0, false };
	struct sl_heap_config cfg;
	ct_config(&cfg, 4 << 20);		/* small arenas: more reserve calls */
	cfg.os = &os->ops;
	cfg.nprocs = 2;
	char err[256];
	struct sl_heap *h = sl_heap_new(&cfg, err, sizeof err);
	if (h == NULL) {
		cr_assert_neq(err[0], 0, "a failed heap creation says why");
		o.heap_failed = true;
		return o;
	}
	void *v[300];
	size_t nv = 0;
	char when[64];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 100; i++) {
			struct sl_p *p = sl_heap_p(h, i % 2);
			size_t n = i % 10 == 0 ? 300000 + 5000 * (size_t)i : i % 3 == 0 ? 5 : 100 + 37 * (size_t)i;
			void *x = i % 7 == 0 ? sl_calloc(p, 1, n) : sl_malloc(p, n);
			if (x == NULL) {
				o.nulls++;
			} else {
				memset(x, 0x33, n);
				v[nv++] = x;
			}
			snprintf(when, sizeof when, "round %d alloc %d", round, i);
			ct_check(h, when);
		}
		for (size_t i = 0; i < nv; i += 2)
			cr_assert_eq(sl_free(sl_heap_p(h, 0), v[i]), SL_FREE_OK);
		size_t k = 0;
		for (size_t i = 1; i < nv; i += 2)
			v[k++] = v[i];
		nv = k;
		sl_heap_gc(h);
		ct_check(h, "after gc");
		sl_heap_scavenge_all(h);
		ct_check(h, "after scavenge_all");
	}
	for (size_t i = 0; i < nv; i++)
		cr_assert_eq(((unsigned char *)v[i])[0], 0x33, "an object lost its contents");
	sl_heap_destroy(h);
	return o;
}

static void sweep_kind(enum ct_os_call kind, bool surfaces)
{
	struct ct_os os;
	ct_os_init(&os);
	os.fail_mask = 1u << kind;
	script(&os);
	uint64_t total = os.counted;
	cr_assert_gt(total, 0, "the script makes calls of this kind");
	cr_assert_eq(os.mapped_bytes, 0);
	for (uint64_t n = 1; n <= total; n++) {
		ct_os_init(&os);
		os.fail_mask = 1u << kind;
		os.fail_at = n;
		struct outcome o = script(&os);
		cr_assert_eq(os.failures, 1, "call %lu failed once", (unsigned long)n);
		if (surfaces)
			cr_assert(o.nulls > 0 || o.heap_failed, "failing call %lu of kind %d left no trace", (unsigned long)n, kind);
		cr_assert_eq(os.mapped_bytes, 0, "failing call %lu: %ld bytes leaked", (unsigned long)n,
			     (long)os.mapped_bytes);
	}
}

Test(os_fault, reserve_fails) { sweep_kind(CT_RESERVE, true); }
Test(os_fault, map_fails) { sweep_kind(CT_MAP, true); }
Test(os_fault, metadata_alloc_fails) { sweep_kind(CT_ALLOC, true); }
/* A failing madvise leaves the pages Ready; the scavenger gives up quietly. */
Test(os_fault, unused_fails) { sweep_kind(CT_UNUSED, false); }
