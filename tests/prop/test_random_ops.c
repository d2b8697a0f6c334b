/*
 * Seeded random operation sequences through the public API, with the
 * tier-3 validators (sl_heap_check, including the accounting identity)
 * after every operation. Properties asserted:
 *   - every returned pointer is aligned (8 B; the requested alignment for
 *     aligned allocations) and writable for its size;
 *   - no two live objects overlap;
 *   - a byte pattern written at allocation survives until the free;
 *   - sl_usable_size covers the request; calloc memory reads zero;
 *   - live bytes / live objects in the stats equal the test's own count.
 * Configurations: both free policies, both sweep modes, tiny on/off, 1-8
 * Ps, small arenas and a 16 KiB page. The seed is printed; rerun with
 * SPANLAB_SEED=<seed>.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coretest.h"
#include "testlib.h"

struct obj {
	unsigned char *p;
	size_t n;
	uint8_t tag;
};

struct world {
	struct sl_heap *h;
	struct obj *o;
	size_t n, cap;
	uint64_t live_bytes;
	struct ct_rng rng;
	int nprocs;
	bool tiny;
};

static void fill(struct obj *o)
{
	for (size_t i = 0; i < o->n; i++)
		o->p[i] = (uint8_t)(o->tag + i * 7);
}

static void verify(const struct obj *o, const char *when)
{
	for (size_t i = 0; i < o->n; i++)
		cr_assert_eq(o->p[i], (uint8_t)(o->tag + i * 7),
			     "%s: byte %zu of a %zu-byte object at %p changed", when, i, o->n, (void *)o->p);
}

static void no_overlap(const struct world *w, const unsigned char *p, size_t n)
{
	size_t len = n ? n : 1;
	for (size_t i = 0; i < w->n; i++) {
		const struct obj *o = &w->o[i];
		size_t ol = o->n ? o->n : 1;
		cr_assert(p + len <= o->p || o->p + ol <= p, "new object %p+%zu overlaps live %p+%zu",
			  (void *)p, n, (void *)o->p, o->n);
	}
}

static size_t pick_size(struct ct_rng *r)
{
	switch (ct_below(r, 10)) {
	case 0: case 1: return 1 + ct_below(r, 15);		/* tiny */
	case 2: case 3: case 4: return 16 + ct_below(r, 497);	/* small */
	case 5: case 6: return 512 + ct_below(r, 3584);
	case 7: return 4096 + ct_below(r, 28673);		/* up to 32 KiB */
	case 8: return 32768 + ct_below(r, 200000);		/* large */
	default: return ct_below(r, 3) == 0 ? 0 : 1 + ct_below(r, 64);
	}
}

static void add(struct world *w, unsigned char *p, size_t n, size_t align, bool zero)
{
	cr_assert_not_null(p, "allocation of %zu bytes failed", n);
	cr_assert_eq((uintptr_t)p % align, 0, "%p not aligned to %zu", (void *)p, align);
	cr_assert_geq(sl_usable_size(w->h, p), n ? n : 1, "usable size below request %zu", n);
	if (zero)
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(p[i], 0, "calloc byte %zu of %zu not zero", i, n);
	no_overlap(w, p, n);
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 256;
		w->o = realloc(w->o, w->cap * sizeof *w->o);
	}
	struct obj *o = &w->o[w->n++];
	o->p = p;
	o->n = n;
	o->tag = (uint8_t)ct_next(&w->rng);
	fill(o);
	w->live_bytes += n ? n : 1;
}

/* Go's alignment: 8 B for small objects; tiny sub-objects (< 16 B) only
 * by their size (8 if a multiple of 8, else 4, else 2, else 1). */
static size_t go_align(const struct world *w, size_t n)
{
	if (n == 0)
		n = 1;	/* served as a 1-byte request */
	if (n >= 16 || !w->tiny)
		return 8;
	return n % 8 == 0 ? 8 : n % 4 == 0 ? 4 : n % 2 == 0 ? 2 : 1;
}

static struct sl_p *any_p(struct world *w)
{
	return sl_heap_p(w->h, (int)ct_below(&w->rng, (uint64_t)w->nprocs));
}

static void step(struct world *w)
{
	struct ct_rng *r = &w->rng;
	uint64_t op = ct_below(r, 100);
	if (w->n > 0 && (op < 40 || w->n > 400)) {
		size_t i = ct_below(r, w->n);
		struct obj o = w->o[i];
		verify(&o, "before free");
		if (ct_below(r, 4) == 0) {	/* realloc */
			size_t n = pick_size(r);
			if (n == 0)
				n = 1;
			unsigned char *q = sl_realloc(any_p(w), o.p, n);
			cr_assert_not_null(q, "realloc to %zu failed", n);
			size_t keep = o.n < n ? o.n : n;
			for (size_t k = 0; k < keep; k++)
				cr_assert_eq(q[k], (uint8_t)(o.tag + k * 7), "realloc lost byte %zu", k);
			w->o[i] = w->o[--w->n];
			w->live_bytes -= o.n ? o.n : 1;
			add(w, q, n, go_align(w, n), false);
			return;
		}
		cr_assert_eq(sl_free(any_p(w), o.p), SL_FREE_OK);
		w->o[i] = w->o[--w->n];
		w->live_bytes -= o.n ? o.n : 1;
		return;
	}
	size_t n = pick_size(r);
	if (op < 75) {
		unsigned char *p = sl_malloc(any_p(w), n);
		add(w, p, n, go_align(w, n), false);
	} else if (op < 85) {
		unsigned char *p = sl_calloc(any_p(w), 1, n);
		add(w, p, n, go_align(w, n), true);
	} else if (op < 95) {
		size_t align = (size_t)1 << ct_below(r, 17);
		enum sl_align_err e;
		unsigned char *p = sl_aligned_alloc(any_p(w), align, n, &e);
		cr_assert_eq(e, SL_ALIGN_OK);
		add(w, p, n, align, false);
	} else if (op < 97) {
		sl_heap_gc_marker(w->h);
	} else if (op < 98) {
		sl_heap_gc(w->h);
	} else if (op == 98) {
		sl_heap_scavenge_all(w->h);
	} else {
		unsigned char *p = sl_malloc(any_p(w), n);
		add(w, p, n, go_align(w, n), false);
	}
}

static void run(const char *name, struct sl_heap_config *cfg, int ops)
{
	struct world w = { 0 };
	w.rng.s = tl_seed(name) | 1;
	w.nprocs = cfg->nprocs;
	w.tiny = cfg->tiny;
	w.h = ct_heap(cfg);
	char when[64];
	for (int i = 0; i < ops; i++) {
		step(&w);
		snprintf(when, sizeof when, "after op %d", i);
		ct_check(w.h, when);
		if (i % 64 == 0) {
			struct sl_stats st;
			sl_heap_stats(w.h, &st);
			cr_assert_eq(st.live_objects, w.n, "live objects %lu, test holds %zu",
				     (unsigned long)st.live_objects, w.n);
			cr_assert_eq(st.live_bytes, w.live_bytes, "live bytes %lu, test holds %lu",
				     (unsigned long)st.live_bytes, (unsigned long)w.live_bytes);
			for (size_t k = 0; k < w.n; k++)
				verify(&w.o[k], when);
		}
	}
	while (w.n > 0) {
		verify(&w.o[w.n - 1], "at the end");
		cr_assert_eq(sl_free(sl_heap_p(w.h, 0), w.o[--w.n].p), SL_FREE_OK);
	}
	/* Two cycles: a P's current tiny block survives the cycle in which it
	 * is current (gcMarkTinyAllocs) and is dropped by it. */
	sl_heap_gc(w.h);
	sl_heap_scavenge_all(w.h);
	ct_check(w.h, "after freeing everything");
	struct sl_stats st;
	sl_heap_stats(w.h, &st);
	cr_assert_eq(st.live_bytes, 0);
	cr_assert_eq(st.heap_inuse, 0, "heap_inuse %lu after freeing all and a GC", (unsigned long)st.heap_inuse);
	/* FreeOSMemory leaves the Ps' page caches alone, as Go does. */
	uint64_t cache_max = (uint64_t)cfg->nprocs * 64 * cfg->classes.page_size;
	cr_assert_leq(st.ready_bytes, cache_max, "ready %lu after scavenge_all", (unsigned long)st.ready_bytes);
	sl_heap_destroy(w.h);
	free(w.o);
}

struct cfgcase {
	const char *name;
	enum sl_free_policy policy;
	enum sl_sweep_mode sweep;
	bool tiny;
	int nprocs;
	size_t arena;
	uint32_t page;			/* 0: Go's 8 KiB */
	int gogc;
};

static const struct cfgcase cases[] = {
	{ "gc_eager_1p", SL_FREE_GC, SL_SWEEP_EAGER, true, 1, 0, 0, 100 },
	{ "gc_lazy_1p", SL_FREE_GC, SL_SWEEP_LAZY, true, 1, 0, 0, 100 },
	{ "gc_eager_notiny_4p", SL_FREE_GC, SL_SWEEP_EAGER, false, 4, 8 << 20, 0, 100 },
	{ "gc_lazy_8p_gogc10", SL_FREE_GC, SL_SWEEP_LAZY, true, 8, 4 << 20, 0, 10 },
	{ "immediate_1p", SL_FREE_IMMEDIATE, SL_SWEEP_EAGER, true, 1, 0, 0, 100 },
	{ "immediate_notiny_3p", SL_FREE_IMMEDIATE, SL_SWEEP_EAGER, false, 3, 4 << 20, 0, 100 },
	{ "gc_page16k_2p", SL_FREE_GC, SL_SWEEP_LAZY, true, 2, 8 << 20, 16384, 50 },
	{ "gc_page4k_tiny_arenas", SL_FREE_GC, SL_SWEEP_EAGER, true, 2, 2 << 20, 4096, 100 },
	{ "immediate_page64k", SL_FREE_IMMEDIATE, SL_SWEEP_EAGER, true, 1, 0, 65536, 100 },
};

static void run_case(int i)
{
	const struct cfgcase *c = &cases[i];
	struct sl_heap_config cfg;
	ct_config(&cfg, c->arena);
	cfg.free_policy = c->policy;
	cfg.sweep_mode = c->sweep;
	cfg.tiny = c->tiny;
	cfg.nprocs = c->nprocs;
	cfg.gogc = c->gogc;
	if (c->page) {
		struct sl_sizeclass_params prm;
		char err[200];
		sl_sizeclass_params_go(&prm);
		prm.page_size = c->page;
		cr_assert_eq(sl_sizeclasses_generate(&prm, &cfg.classes, err, sizeof err), 0, "%s", err);
	}
	run(c->name, &cfg, 1500);
}

Test(random_ops, gc_eager_1p) { run_case(0); }
Test(random_ops, gc_lazy_1p) { run_case(1); }
Test(random_ops, gc_eager_notiny_4p) { run_case(2); }
Test(random_ops, gc_lazy_8p_gogc10) { run_case(3); }
Test(random_ops, immediate_1p) { run_case(4); }
Test(random_ops, immediate_notiny_3p) { run_case(5); }
Test(random_ops, gc_page16k_2p) { run_case(6); }
Test(random_ops, gc_page4k_tiny_arenas) { run_case(7); }
Test(random_ops, immediate_page64k) { run_case(8); }
