/*
 * Workload-fitted size classes: the objective, the candidate sizes and the
 * exact dynamic programme of fit.h.
 */
#include "fit.h"
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "slt.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

enum { TINY_BYTES = 16 };	/* the tiny allocator's block: classes 1, 2 are 8, 16 */

static int max_small_check(uint32_t max_small, char *err, size_t errlen)
{
	if (max_small < SL_SMALL_SIZE_MAX || max_small > SL_MAX_SMALL_LIMIT)
		FAIL("max_small_size %u must be from %u to %u", max_small, SL_SMALL_SIZE_MAX, SL_MAX_SMALL_LIMIT);
	return 0;
}

int fit_hist_init(struct fit_hist *h, uint32_t max_small, bool tiny, char *err, size_t errlen)
{
	memset(h, 0, sizeof *h);
	if (max_small_check(max_small, err, errlen))
		return -1;
	h->max_small = max_small;
	h->tiny = tiny;
	if (!(h->count = calloc((size_t)max_small + 1, sizeof *h->count)))
		FAIL("out of memory");
	return 0;
}

void fit_hist_free(struct fit_hist *h)
{
	free(h->count);
	h->count = NULL;
}

void fit_hist_add(struct fit_hist *h, uint64_t size, uint64_t n, bool aligned)
{
	if (size == 0)
		size = 1;
	if (h->tiny && size < TINY_BYTES) {
		h->tiny_requests += n;
	} else if (size > h->max_small) {
		h->large_requests += n;
	} else {
		h->count[size] += n;
		h->requests += n;
		h->requested_bytes += size * n;
		if (aligned)
			h->aligned_requests += n;
	}
}

int fit_hist_from_trace(struct fit_hist *h, const char *path, char *err, size_t errlen)
{
	struct slt_open_opts o = { 0 };
	struct slt_source *s = slt_open(path, &o, err, errlen);
	struct slt_event ev;
	int rc;

	if (!s)
		return cli_trace_code(NULL);
	while ((rc = slt_next(s, &ev)) > 0) {
		switch (ev.op) {
		case SLT_MALLOC: case SLT_CALLOC: case SLT_REALLOC:
			fit_hist_add(h, ev.size, 1, false);
			break;
		case SLT_ALIGNED:
			fit_hist_add(h, ev.size, 1, true);
			break;
		default:
			break;
		}
	}
	int code = rc >= 0 ? 0 : cli_trace_code(s);
	if (rc < 0)
		snprintf(err, errlen, "%s", slt_error(s));
	slt_close(s);
	return code;
}

uint64_t fit_waste(const struct fit_hist *h, const struct sl_sizeclasses *t)
{
	uint64_t w = 0;
	for (uint32_t s = 1; s <= h->max_small; s++)
		if (h->count[s])
			w += h->count[s] * (t->class_to_size[sl_size_to_class(t, s)] - s);
	return w;
}

uint32_t fit_pages(uint32_t size, uint32_t page_size)
{
	uint64_t alloc = page_size;
	while (alloc % size > alloc / 8)
		alloc += page_size;
	return (uint32_t)(alloc / page_size);
}

/* ---- allowed class sizes -------------------------------------------------- */

/* Which sizes may be classes, memoised (one byte per multiple of 8). The
 * verdict comes from the table validator's own rule for one row
 * (sl_sizeclass_row_check), so fit and validation cannot disagree. */
struct allowed {
	uint32_t max_small, page_size;
	uint8_t *memo;			/* 0 unknown, 1 yes, 2 no; index size / 8 */
};

static bool aligned_ok(uint32_t c)
{
	return c % 8 == 0 && (c < 32 || c % 16 == 0) && (c <= SL_SMALL_SIZE_MAX || c % SL_LARGE_SIZE_DIV == 0);
}

static bool is_allowed(struct allowed *a, uint32_t c)
{
	if (c == 0 || c > a->max_small || !aligned_ok(c))
		return false;
	uint8_t *m = &a->memo[c / 8];
	if (!*m) {
		char why[256];
		*m = sl_sizeclass_row_check(a->page_size, a->max_small, c, fit_pages(c, a->page_size), why,
					    sizeof why) == 0 ? 1 : 2;
	}
	return *m == 1;
}

static int allowed_init(struct allowed *a, uint32_t max_small, uint32_t page_size, char *err, size_t errlen)
{
	char why[256];
	if (page_size < SL_MIN_PAGE_SIZE || page_size > SL_MAX_PAGE_SIZE || (page_size & (page_size - 1)))
		FAIL("page_size %u must be a power of two from %u to %u", page_size, SL_MIN_PAGE_SIZE,
		     SL_MAX_PAGE_SIZE);
	if (!aligned_ok(max_small) ||
	    sl_sizeclass_row_check(page_size, max_small, max_small, fit_pages(max_small, page_size), why, sizeof why))
		FAIL("max_small_size %u cannot be a size class (alignment, pages or division magic)", max_small);
	a->max_small = max_small;
	a->page_size = page_size;
	if (!(a->memo = calloc(max_small / 8 + 1, 1)))
		FAIL("out of memory");
	return 0;
}

static void allowed_free(struct allowed *a)
{
	free(a->memo);
}

/* a(s): the smallest allowed size >= s (max_small is allowed, so s <= max_small has one). */
static uint32_t smallest_allowed(struct allowed *a, uint32_t s)
{
	uint32_t c = (s + 7) & ~7u;
	while (!is_allowed(a, c))
		c += 8;
	return c;
}

/* The allowed sizes above `floor` (fixed classes sit at or below it). */
static uint32_t count_allowed(struct allowed *a, uint32_t floor)
{
	uint32_t n = 0;
	for (uint32_t c = floor + 8; c <= a->max_small; c += 8)
		n += is_allowed(a, c);
	return n;
}

int fit_resolve_config(struct sim_config *c, char *err, size_t errlen)
{
	struct allowed a;
	char why[256];
	if (!config_resolve(c, err, errlen))
		return 0;
	if (c->sc_explicit || max_small_check(c->sc_params.max_small_size, why, sizeof why) ||
	    allowed_init(&a, c->sc_params.max_small_size, c->sc_params.page_size, why, sizeof why))
		return -1;
	allowed_free(&a);
	return 1;
}

uint32_t fit_min_classes(bool tiny)
{
	return tiny ? 3 : 1;	/* 8, 16 and max_small_size; or max_small_size alone */
}

uint32_t fit_max_classes(uint32_t max_small, uint32_t page_size, bool tiny)
{
	struct allowed a;
	char err[256];
	if (allowed_init(&a, max_small, page_size, err, sizeof err))
		return 0;
	uint32_t n = tiny ? 2 + count_allowed(&a, TINY_BYTES) : count_allowed(&a, 0);
	allowed_free(&a);
	return n < SL_MAX_CLASSES - 1 ? n : SL_MAX_CLASSES - 1;
}

/* ---- the dynamic programme ------------------------------------------------ */

struct groups {
	uint32_t m;
	uint32_t *v;		/* candidate size of group j (1-based; v[m] = max_small) */
	uint64_t *pw, *ps;	/* prefix sums of requests and requested bytes, pw[0] = 0 */
};

/* Waste of class v[j] serving groups i+1..j. */
static inline uint64_t cost(const struct groups *g, uint32_t i, uint32_t j)
{
	return g->v[j] * (g->pw[j] - g->pw[i]) - (g->ps[j] - g->ps[i]);
}

/* Group the counted requests above `floor` by a(s); the last group is
 * max_small_size, added empty if no request needs it. */
static int make_groups(const struct fit_hist *h, struct allowed *a, uint32_t floor, struct groups *g)
{
	size_t cap = (size_t)h->max_small / 8 + 2;	/* at most one group per multiple of 8 */
	g->m = 0;
	g->v = malloc(cap * sizeof *g->v);
	g->pw = malloc(cap * sizeof *g->pw);
	g->ps = malloc(cap * sizeof *g->ps);
	if (!g->v || !g->pw || !g->ps)
		return -1;
	g->v[0] = floor;
	g->pw[0] = g->ps[0] = 0;
	for (uint32_t s = floor + 1; s <= h->max_small; s++) {
		if (!h->count[s])
			continue;
		uint32_t c = smallest_allowed(a, s);
		if (g->m == 0 || g->v[g->m] != c) {
			g->m++;
			g->v[g->m] = c;
			g->pw[g->m] = g->pw[g->m - 1];
			g->ps[g->m] = g->ps[g->m - 1];
		}
		g->pw[g->m] += h->count[s];
		g->ps[g->m] += h->count[s] * s;
	}
	if (g->m == 0 || g->v[g->m] != h->max_small) {
		g->m++;
		g->v[g->m] = h->max_small;
		g->pw[g->m] = g->pw[g->m - 1];
		g->ps[g->m] = g->ps[g->m - 1];
	}
	return 0;
}

static void groups_free(struct groups *g)
{
	free(g->v);
	free(g->pw);
	free(g->ps);
}

#define INF UINT64_MAX

struct layer {
	const struct groups *g;
	const uint64_t *prev;	/* f_{k-1} */
	uint64_t *cur;		/* f_k */
	uint32_t *opt;		/* argmin i of f_k(j) */
	uint32_t k;
};

/* f_k(j) for j in [lo, hi], knowing the best i lies in [ilo, ihi]
 * (monotone by the Monge property); ties take the smallest i. */
static void solve(struct layer *L, uint32_t lo, uint32_t hi, uint32_t ilo, uint32_t ihi)
{
	if (lo > hi)
		return;
	uint32_t j = lo + (hi - lo) / 2, best_i = ilo;
	uint64_t best = INF;
	uint32_t top = ihi < j - 1 ? ihi : j - 1;
	for (uint32_t i = ilo; i <= top; i++) {
		if (L->prev[i] == INF)
			continue;
		uint64_t f = L->prev[i] + cost(L->g, i, j);
		if (f < best) {
			best = f;
			best_i = i;
		}
	}
	L->cur[j] = best;
	L->opt[j] = best_i;
	if (j > lo)
		solve(L, lo, j - 1, ilo, best_i);
	solve(L, j + 1, hi, best_i, ihi);
}

/* The best subset of at most kmax groups' sizes ending at v[m]: its sizes
 * in out[], ascending; returns how many, and the waste in *waste. */
static int dp(const struct groups *g, uint32_t kmax, uint32_t *out, uint32_t *nout, uint64_t *waste)
{
	uint32_t m = g->m, kk = kmax < m ? kmax : m;
	uint64_t *f = malloc((size_t)(kk + 1) * (m + 1) * sizeof *f);
	uint32_t *opt = malloc((size_t)(kk + 1) * (m + 1) * sizeof *opt);
	if (!f || !opt) {
		free(f);
		free(opt);
		return -1;
	}
	/* layer 0: nothing covered with no class */
	f[0] = 0;
	for (uint32_t j = 1; j <= m; j++)
		f[j] = INF;
	for (uint32_t k = 1; k <= kk; k++) {
		uint64_t *cur = f + (size_t)k * (m + 1);
		uint32_t *o = opt + (size_t)k * (m + 1);
		for (uint32_t j = 0; j < k; j++)
			cur[j] = INF;	/* k classes need k groups */
		struct layer L = { g, f + (size_t)(k - 1) * (m + 1), cur, o, k };
		solve(&L, k, m, k - 1, m - 1);
	}
	uint32_t bk = 1;
	for (uint32_t k = 2; k <= kk; k++)
		if (f[(size_t)k * (m + 1) + m] < f[(size_t)bk * (m + 1) + m])
			bk = k;
	*waste = f[(size_t)bk * (m + 1) + m];
	*nout = bk;
	for (uint32_t k = bk, j = m; k >= 1; k--) {
		out[k - 1] = g->v[j];
		j = opt[(size_t)k * (m + 1) + j];
	}
	free(f);
	free(opt);
	return 0;
}

/* ---- padding and the table ---------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Add one allowed size in the widest gap (by ratio) of the sorted sizes
 * c[0..n-1] above `floor`: the allowed size nearest the gap's geometric
 * mean. Returns false if no gap has room. */
static bool pad_one(struct allowed *a, uint32_t *c, uint32_t *n, uint32_t floor)
{
	double best_ratio = 0;
	uint32_t best = 0;
	for (uint32_t i = 0; i < *n; i++) {
		uint32_t lo = i ? c[i - 1] : floor, hi = c[i];
		double base = lo > 8 ? lo : 8, ratio = hi / base, mid = sqrt(base * hi);
		if (ratio <= best_ratio)
			continue;
		uint32_t pick = 0;
		double dist = INFINITY;
		for (uint32_t v = lo + 8; v < hi; v += 8)
			if (fabs(v - mid) < dist && is_allowed(a, v)) {
				dist = fabs(v - mid);
				pick = v;
			}
		if (pick) {
			best_ratio = ratio;
			best = pick;
		}
	}
	if (!best)
		return false;
	c[(*n)++] = best;
	qsort(c, *n, sizeof *c, cmp_u32);
	return true;
}

/* Classes of t that serve at least one counted request. */
static uint32_t serving_classes(const struct fit_hist *h, const struct sl_sizeclasses *t)
{
	bool used[SL_MAX_CLASSES] = { false };
	uint32_t n = 0;
	for (uint32_t s = 1; s <= h->max_small; s++)
		if (h->count[s]) {
			uint32_t c = sl_size_to_class(t, s);
			n += !used[c];
			used[c] = true;
		}
	return n;
}

int fit_table(const struct fit_hist *h, uint32_t k, uint32_t page_size, struct fit_result *r, char *err,
	      size_t errlen)
{
	uint32_t fixed = h->tiny ? 2 : 0, floor = h->tiny ? TINY_BYTES : 0;
	uint32_t sizes[SL_MAX_CLASSES], n = 0;
	struct allowed a;
	struct groups g = { 0 };
	struct sl_sizeclasses *t = NULL;
	uint64_t waste = 0;
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (k < fit_min_classes(h->tiny) || k > SL_MAX_CLASSES - 1)
		FAIL("%u classes: a table needs %u to %d classes%s", k, fit_min_classes(h->tiny), SL_MAX_CLASSES - 1,
		     h->tiny ? " (with tiny on: 8, 16 and max_small_size at least)" : "");
	if (allowed_init(&a, h->max_small, page_size, err, errlen))
		return -1;
	uint32_t most = fixed + count_allowed(&a, floor);
	if (k > most) {
		snprintf(err, errlen, "%u classes: only %u sizes can be classes with page_size %u and max_small_size %u%s",
			 k, most, page_size, h->max_small, h->tiny ? " and tiny on" : "");
		goto out;
	}
	if (!(t = malloc(sizeof *t)) || make_groups(h, &a, floor, &g) || dp(&g, k - fixed, sizes + fixed, &n, &waste)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (n < k - fixed && pad_one(&a, sizes + fixed, &n, floor))
		;
	if (h->tiny) {
		sizes[0] = 8;
		sizes[1] = TINY_BYTES;
	}
	n += fixed;
	for (uint32_t i = 0; i < n; i++) {
		r->rows[i][0] = sizes[i];
		r->rows[i][1] = fit_pages(sizes[i], page_size);
	}
	r->nrows = n;
	if (n != k) {
		snprintf(err, errlen, "%u classes: could not place %u unused classes", k, k - n);
		goto out;
	}
	/* The table must pass the validator, and its waste must be the
	 * programme's optimum: both are checks of this file's reasoning. */
	char why[256];
	if (sl_sizeclasses_from_rows(page_size, h->max_small, (const uint32_t (*)[2])r->rows, n, t, why, sizeof why)) {
		snprintf(err, errlen, "internal error: the fitted table is invalid: %s", why);
		goto out;
	}
	r->waste = fit_waste(h, t);
	if (r->waste != waste) {
		snprintf(err, errlen, "internal error: the fitted table wastes %llu bytes, the programme said %llu",
			 (unsigned long long)r->waste, (unsigned long long)waste);
		goto out;
	}
	r->groups = g.m;
	r->serving = serving_classes(h, t);
	rc = 0;
out:
	free(t);
	groups_free(&g);
	allowed_free(&a);
	return rc;
}
