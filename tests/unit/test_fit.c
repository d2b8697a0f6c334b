/*
 * Workload-fitted size classes (sim/fit.h): the fitted table against an
 * exhaustive search over every valid table, zero waste when the requests
 * are exactly the classes, never more waste than Go's table with as many
 * classes, Go's page rule, the limits, and the bundled traces.
 *
 * The brute force is independent of fit.c: it enumerates every subset of
 * the sizes the validator's rules allow below 1 KiB (multiples of 8, of 16
 * from 32 B; every such size fits a 1-page span with exact magic, which the
 * test checks through sl_sizeclasses_from_rows), and scores a table by
 * scanning for the smallest class at or above each request.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "sizeclass.h"
#include "testlib.h"

static uint64_t rng(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ull;
}

static struct fit_hist hist(uint32_t max_small, bool tiny)
{
	struct fit_hist h;
	char err[256];
	cr_assert_eq(fit_hist_init(&h, max_small, tiny, err, sizeof err), 0, "%s", err);
	return h;
}

/* Waste of sorted classes c[0..n-1] on h, by scanning. */
static uint64_t scan_waste(const struct fit_hist *h, const uint32_t *c, size_t n)
{
	uint64_t w = 0;
	for (uint32_t s = 1; s <= h->max_small; s++) {
		if (!h->count[s])
			continue;
		size_t i = 0;
		while (i < n && c[i] < s)
			i++;
		cr_assert_lt(i, n, "request %u above every class", s);
		w += h->count[s] * (c[i] - s);
	}
	return w;
}

struct bf {
	const struct fit_hist *h;
	uint32_t *opts;		/* sizes to choose from, ascending */
	size_t nopts;
	uint32_t cls[8];
	size_t nfixed;		/* cls[0..nfixed-1] fixed (8, 16) */
	uint32_t last;		/* max_small, always the last class */
	uint64_t best;
};

/* Every choice of `left` more sizes from opts[from..], then `last`. */
static void enumerate(struct bf *b, size_t n, size_t from, size_t left)
{
	if (left == 0) {
		b->cls[n] = b->last;
		uint64_t w = scan_waste(b->h, b->cls, n + 1);
		if (w < b->best)
			b->best = w;
		return;
	}
	for (size_t i = from; i < b->nopts; i++) {
		b->cls[n] = b->opts[i];
		enumerate(b, n + 1, i + 1, left - 1);
	}
}

/* The least waste over every table of exactly k classes (max_small 1024). */
static uint64_t brute_force(const struct fit_hist *h, uint32_t k)
{
	struct bf b = { .h = h, .last = 1024, .best = UINT64_MAX };
	uint32_t opts[200];
	size_t n = 0;
	if (h->tiny) {
		b.cls[0] = 8;
		b.cls[1] = 16;
		b.nfixed = 2;
	}
	for (uint32_t v = 8; v < 1024; v += 8)
		if ((v < 32 || v % 16 == 0) && (!h->tiny || v > 16))
			opts[n++] = v;
	b.opts = opts;
	b.nopts = n;
	enumerate(&b, b.nfixed, 0, k - b.nfixed - 1);
	return b.best;
}

Test(fit, below_1k_every_aligned_size_is_a_valid_class)
{
	struct sl_sizeclasses *t = malloc(sizeof *t);
	char err[256];
	for (uint32_t v = 8; v < 1024; v += 8) {
		uint32_t rows[2][2] = { { v, 1 }, { 1024, 1 } };
		bool aligned = v < 32 || v % 16 == 0;
		int rc = sl_sizeclasses_from_rows(8192, 1024, (const uint32_t (*)[2])rows, 2, t, err, sizeof err);
		cr_assert_eq(rc == 0, aligned, "size %u: %s", v, err);
		if (aligned)
			cr_assert_eq(fit_pages(v, 8192), 1, "size %u", v);
	}
	free(t);
}

Test(fit, matches_exhaustive_search)
{
	uint64_t seed = tl_seed("fit::matches_exhaustive_search"), x = seed | 1;
	for (int round = 0; round < 24; round++) {
		bool tiny = round % 2;
		struct fit_hist h = hist(1024, tiny);
		int distinct = 2 + (int)(rng(&x) % 12);
		for (int i = 0; i < distinct; i++)
			fit_hist_add(&h, 1 + rng(&x) % 1024, 1 + rng(&x) % 50, false);
		uint32_t kmin = tiny ? 3 : 1;
		for (uint32_t k = kmin; k <= kmin + 3; k++) {
			struct fit_result r;
			char err[256];
			cr_assert_eq(fit_table(&h, k, 8192, &r, err, sizeof err), 0, "seed %llu: %s",
				     (unsigned long long)seed, err);
			cr_assert_eq(r.nrows, k);
			uint32_t cls[SL_MAX_CLASSES];
			for (size_t i = 0; i < r.nrows; i++)
				cls[i] = r.rows[i][0];
			uint64_t best = brute_force(&h, k);
			cr_assert_eq(r.waste, best, "seed %llu round %d k %u: fitted %llu, exhaustive %llu",
				     (unsigned long long)seed, round, k, (unsigned long long)r.waste,
				     (unsigned long long)best);
			cr_assert_eq(scan_waste(&h, cls, r.nrows), r.waste, "seed %llu: reported waste",
				     (unsigned long long)seed);
			if (tiny)
				cr_assert(cls[0] == 8 && cls[1] == 16, "tiny needs classes 8 and 16");
		}
		fit_hist_free(&h);
	}
}

/* The sizes are exactly valid classes, max_small_size among them. */
Test(fit, exact_sizes_waste_nothing)
{
	static const uint32_t sizes[] = { 272, 560, 1664, 32768 };
	struct fit_result r;
	char err[256];

	struct fit_hist h = hist(32768, false);
	for (size_t i = 0; i < 4; i++)
		fit_hist_add(&h, sizes[i], 3 + i, false);
	cr_assert_eq(fit_table(&h, 4, 8192, &r, err, sizeof err), 0, "%s", err);
	cr_assert_eq(r.waste, 0);
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(r.rows[i][0], sizes[i]);
	fit_hist_free(&h);

	/* With tiny on, 8 and 16 are classes too, and 5-byte requests are
	 * the tiny allocator's: not counted. */
	h = hist(32768, true);
	for (size_t i = 0; i < 4; i++)
		fit_hist_add(&h, sizes[i], 2, false);
	fit_hist_add(&h, 16, 4, false);
	fit_hist_add(&h, 5, 100, false);
	cr_assert_eq(h.tiny_requests, 100);
	cr_assert_eq(fit_table(&h, 6, 8192, &r, err, sizeof err), 0, "%s", err);
	cr_assert_eq(r.waste, 0);
	cr_assert_eq(r.serving, 5, "16, 272, 560, 1664 and 32768 serve; 8 does not");
	fit_hist_free(&h);
}

/* Requests that are not class sizes: the waste is exactly each request's
 * distance to the next allowed size, once there are classes enough. */
Test(fit, unaligned_sizes_waste_their_alignment)
{
	struct fit_hist h = hist(32768, false);
	struct fit_result r;
	char err[256];
	fit_hist_add(&h, 100, 7, false);	/* -> 112: 12 each */
	fit_hist_add(&h, 1030, 2, false);	/* -> 1152: 122 each */
	fit_hist_add(&h, 20000, 1, false);	/* -> 20096: 96 */
	fit_hist_add(&h, 40000, 9, false);	/* large: not counted */
	cr_assert_eq(fit_table(&h, 4, 8192, &r, err, sizeof err), 0, "%s", err);
	cr_assert_eq(r.waste, 7 * 12 + 2 * 122 + 96);
	cr_assert_eq(h.large_requests, 9);
	fit_hist_free(&h);
}

Test(fit, more_classes_never_waste_more)
{
	uint64_t seed = tl_seed("fit::more_classes_never_waste_more"), x = seed | 1;
	struct fit_hist h = hist(32768, true);
	for (int i = 0; i < 300; i++)
		fit_hist_add(&h, 1 + rng(&x) % (rng(&x) % 4 ? 2048 : 32768), 1 + rng(&x) % 1000, false);
	uint64_t prev = UINT64_MAX;
	for (uint32_t k = 3; k <= 120; k += 3) {
		struct fit_result r;
		char err[256];
		cr_assert_eq(fit_table(&h, k, 8192, &r, err, sizeof err), 0, "%s", err);
		cr_assert_leq(r.waste, prev, "seed %llu: k %u wastes more than k - 3", (unsigned long long)seed, k);
		prev = r.waste;
	}
	fit_hist_free(&h);
}

static void assert_not_above_go(const struct fit_hist *h, const char *what)
{
	const struct sl_sizeclasses *go = sl_sizeclasses_go();
	struct fit_result r;
	char err[256];
	uint32_t go_cls[SL_MAX_CLASSES];
	for (uint32_t c = 1; c < go->nclasses; c++)
		go_cls[c - 1] = go->class_to_size[c];
	cr_assert_eq(fit_table(h, 67, 8192, &r, err, sizeof err), 0, "%s: %s", what, err);
	uint64_t go_waste = scan_waste(h, go_cls, go->nclasses - 1);
	cr_assert_eq(fit_waste(h, go), go_waste, "%s: fit_waste of Go's table", what);
	cr_assert_leq(r.waste, go_waste, "%s: fitted %llu > Go's %llu", what, (unsigned long long)r.waste,
		      (unsigned long long)go_waste);
}

Test(fit, never_above_go_with_67_classes)
{
	uint64_t seed = tl_seed("fit::never_above_go_with_67_classes"), x = seed | 1;
	for (int round = 0; round < 20; round++) {
		struct fit_hist h = hist(32768, true);
		int n = 1 + (int)(rng(&x) % 2000);
		for (int i = 0; i < n; i++)
			fit_hist_add(&h, rng(&x) % (1u << (4 + rng(&x) % 12)), 1 + rng(&x) % 100, false);
		char what[64];
		snprintf(what, sizeof what, "seed %llu round %d", (unsigned long long)seed, round);
		assert_not_above_go(&h, what);
		fit_hist_free(&h);
	}
}

Test(fit, bundled_traces)
{
	static const char *const traces[] = { "cc1.slt", "git.slt", "go-wordtree.slt", "python3.slt", "sqlite3.slt" };
	for (size_t i = 0; i < sizeof traces / sizeof traces[0]; i++) {
		char rel[128], path[4096], err[512];
		snprintf(rel, sizeof rel, "traces/data/%s", traces[i]);
		tl_root_path(rel, path, sizeof path);
		struct fit_hist h = hist(32768, true);
		cr_assert_eq(fit_hist_from_trace(&h, path, err, sizeof err), 0, "%s", err);
		cr_assert_gt(h.requests, 0, "%s", path);
		assert_not_above_go(&h, traces[i]);
		fit_hist_free(&h);
	}
}

/* Go's rule (mksizeclasses.go): the fewest pages whose tail is <= 1/8. */
Test(fit, pages_by_tail_waste)
{
	/* 8192 % 1792 = 1024 <= 8192/8: 1 page.  8192 % 3072 = 2048 > 1024,
	 * 16384 % 3072 = 1024 <= 2048: 2.  32768: 8192 is too small, 4 pages
	 * hold one object with no tail.  20096: 24576 % 20096 = 4480 > 3072,
	 * 32768 % 20096 = 12672 > 4096, 40960 % 20096 = 768 <= 5120: 5. */
	cr_assert_eq(fit_pages(1792, 8192), 1);
	cr_assert_eq(fit_pages(3072, 8192), 2);
	cr_assert_eq(fit_pages(32768, 8192), 4);
	cr_assert_eq(fit_pages(20096, 8192), 5);
	cr_assert_eq(fit_pages(8, 4096), 1);
}

Test(fit, limits)
{
	struct fit_result r;
	char err[256];
	struct fit_hist h = hist(1024, true);
	fit_hist_add(&h, 100, 1, false);
	cr_assert_neq(fit_table(&h, 2, 8192, &r, err, sizeof err), 0);
	cr_assert(strstr(err, "8, 16 and max_small_size"), "%s", err);
	fit_hist_free(&h);

	/* Below 1 KiB with tiny off: 8, 16, 24, then 32..1024 by 16: 66 sizes. */
	h = hist(1024, false);
	fit_hist_add(&h, 100, 1, false);
	cr_assert_eq(fit_max_classes(1024, 8192, false), 66);
	cr_assert_eq(fit_table(&h, 66, 8192, &r, err, sizeof err), 0, "%s", err);
	cr_assert_neq(fit_table(&h, 67, 8192, &r, err, sizeof err), 0);
	cr_assert(strstr(err, "only 66 sizes"), "%s", err);
	fit_hist_free(&h);

	char e2[256];
	cr_assert_neq(fit_hist_init(&h, 1000, true, e2, sizeof e2), 0, "max_small below 1 KiB");
}

/* A trace with few sizes still gets exactly k classes (padded). */
Test(fit, padded_to_k_classes)
{
	struct fit_hist h = hist(32768, true);
	struct fit_result r;
	char err[256];
	struct sl_sizeclasses *t = malloc(sizeof *t);
	fit_hist_add(&h, 48, 10, false);
	cr_assert_eq(fit_table(&h, 67, 8192, &r, err, sizeof err), 0, "%s", err);
	cr_assert_eq(r.nrows, 67);
	cr_assert_eq(r.waste, 0);
	cr_assert_eq(sl_sizeclasses_from_rows(8192, 32768, (const uint32_t (*)[2])r.rows, r.nrows, t, err, sizeof err),
		     0, "%s", err);
	free(t);
	fit_hist_free(&h);
}
