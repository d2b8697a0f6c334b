/* Helpers for the allocator-core tests; see tests/coretest.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coretest.h"

static int ct_fail(struct ct_os *os, enum ct_os_call k)
{
	os->calls[k]++;
	if (!(os->fail_mask >> k & 1))
		return 0;
	os->counted++;
	if (os->fail_at != 0 && os->counted == os->fail_at) {
		os->failures++;
		return ENOMEM;
	}
	return 0;
}

static int ct_reserve(void *ctx, void *hint, size_t n, void **out)
{
	struct ct_os *os = ctx;
	if (ct_fail(os, CT_RESERVE))
		return ENOMEM;
	int e = sl_os_posix.reserve(NULL, hint, n, out);
	if (e == 0)
		os->mapped_bytes += (int64_t)n;
	return e;
}
static int ct_map(void *ctx, void *v, size_t n)
{
	struct ct_os *os = ctx;
	return ct_fail(os, CT_MAP) ? ENOMEM : sl_os_posix.map(NULL, v, n);
}
static int ct_used(void *ctx, void *v, size_t n)
{
	struct ct_os *os = ctx;
	return ct_fail(os, CT_USED) ? ENOMEM : 0;
}
static int ct_unused(void *ctx, void *v, size_t n)
{
	struct ct_os *os = ctx;
	return ct_fail(os, CT_UNUSED) ? ENOMEM : sl_os_posix.unused(NULL, v, n);
}
static int ct_release(void *ctx, void *v, size_t n)
{
	struct ct_os *os = ctx;
	os->calls[CT_RELEASE]++;
	os->mapped_bytes -= (int64_t)n;
	return sl_os_posix.release(NULL, v, n);
}
static int ct_alloc(void *ctx, size_t n, void **out)
{
	struct ct_os *os = ctx;
	if (ct_fail(os, CT_ALLOC))
		return ENOMEM;
	int e = sl_os_posix.alloc(NULL, n, out);
	if (e == 0)
		os->mapped_bytes += (int64_t)n;
	return e;
}

void ct_os_init(struct ct_os *os)
{
	memset(os, 0, sizeof *os);
	os->ops = (struct sl_os_ops){ ct_reserve, ct_map, ct_used, ct_unused, ct_release, ct_alloc, os };
}

void ct_config(struct sl_heap_config *cfg, size_t arena_bytes)
{
	sl_heap_config_default(cfg);
	if (arena_bytes)
		cfg->arena_bytes = arena_bytes;
}

struct sl_heap *ct_heap(const struct sl_heap_config *cfg)
{
	char err[256];
	struct sl_heap *h = sl_heap_new(cfg, err, sizeof err);
	cr_assert_not_null(h, "sl_heap_new: %s", err);
	return h;
}

void ct_check(struct sl_heap *h, const char *when)
{
	char err[512];
	int r = sl_heap_check(h, err, sizeof err);
	cr_assert_eq(r, 0, "heap check failed %s: %s", when, err);
}

static void ct_record(void *ctx, const struct sl_event *ev)
{
	struct ct_events *r = ctx;
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 256;
		r->ev = realloc(r->ev, r->cap * sizeof *r->ev);
		cr_assert_not_null(r->ev);
	}
	r->ev[r->n++] = *ev;
}

struct sl_sink ct_recorder(struct ct_events *r)
{
	return (struct sl_sink){ ct_record, r };
}

void ct_events_clear(struct ct_events *r) { r->n = 0; }

void ct_events_free(struct ct_events *r)
{
	free(r->ev);
	memset(r, 0, sizeof *r);
}

size_t ct_count(const struct ct_events *r, enum sl_event_kind k)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->ev[i].kind == k;
	return n;
}
