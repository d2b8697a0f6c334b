/*
 * The replay engine (see replay.h for the contract).
 *
 * Per operation the loop does: decode one event, publish the op index and
 * Wilson clock to the heap, call the allocator, write the object's first
 * and last byte, update live bytes, and compare three allocator counters
 * against their running maxima (for peak heap in-use, Ready and sys bytes
 * and Johnstone & Wilson #3). Everything else (snapshots, validators,
 * progress) runs on a countdown: one decrement and compare per operation.
 *
 * Snapshots read sl_heap_stats, which is flush-equivalent and moves no
 * span, so taking one never changes what the allocator does next: a run
 * with --db gives the same figures as one without.
 */
#define _GNU_SOURCE
#include "replay.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "progress.h"
#include "spanlab.h"

volatile sig_atomic_t replay_stop;

/* About 2,000 snapshots over a trace: enough for a smooth curve on a
 * 7-inch figure, few enough to cost nothing (a snapshot is ~70 class rows
 * of arithmetic). */
enum { SNAPSHOTS_PER_TRACE = 2000, OS_PAGE = 4096 };

struct obj {
	unsigned char *ptr;	/* NULL: id not live */
	uint64_t size;		/* requested bytes */
};

struct replay {
	const struct replay_opts *o;
	const struct replay_out *out;
	struct slt_source *src;
	struct sl_heap *h;
	struct sl_clock *clock;
	struct sl_counters mem;
	struct sl_p *ps[SL_MAX_PROCS];
	int nprocs;

	struct obj *objs;
	uint64_t nobjs;

	/* the trace's own figures */
	uint64_t ops, mallocs, frees, unknown_frees;
	uint64_t live_bytes, live_objects, clock_bytes, last_ts;
	uint64_t live_zero;		/* live objects of 0 bytes: the core counts 1 byte each */
	uint64_t peak_live_bytes, peak_live_op;
	uint64_t peak_op;		/* from the first pass; UINT64_MAX: unknown */
	uint64_t requested_by_class[SL_MAX_CLASSES];
	uint32_t tiny_class;		/* the 16-byte class tiny blocks come from */

	/* allocator maxima, sampled after every operation */
	uint64_t max_inuse, max_ready, max_sys;
	uint64_t live_at_max_inuse, live_at_max_ready;

	/* snapshots */
	uint64_t snap_every, snap_countdown, check_countdown;
	double sum_inuse, sum_ready, sum_live;
	uint64_t nsnaps;
	struct sl_stats *st;		/* scratch for sl_heap_stats */
	struct sim_snapshot peak_snap;
	bool have_peak_snap;
	uint64_t peak_spans[SL_MAX_CLASSES];
	uint64_t frag_at_peak[SL_MAX_CLASSES];

	struct progress prog;
	char *err;
	size_t errlen;
};

uint64_t replay_auto_snapshot_every(uint64_t n)
{
	uint64_t every = n / SNAPSHOTS_PER_TRACE;
	return every ? every : 1;
}

static enum replay_status fail(struct replay *r, enum replay_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum replay_status fail(struct replay *r, enum replay_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
	return st;
}

/* ---- the first pass: event count and the peak of live bytes ---------- */

static enum replay_status first_pass(struct replay *r, uint64_t *events)
{
	struct stat sb;
	char err[1024];

	r->peak_op = UINT64_MAX;
	*events = 0;
	if (stat(r->o->trace, &sb) || !S_ISREG(sb.st_mode))
		return REPLAY_OK;	/* a pipe: one pass only, peak found on the way */
	struct slt_source *s = slt_open(r->o->trace, &r->o->open, err, sizeof err);
	if (!s)
		return fail(r, REPLAY_BAD_INPUT, "%s", err);
	uint64_t *size = NULL, cap = 0, live = 0, peak = 0, n = 0;
	struct slt_event ev;
	int rc;
	while ((rc = slt_next(s, &ev)) > 0) {
		if (ev.op <= SLT_ALIGNED && ev.op != SLT_FREE) {
			if (ev.id >= cap) {
				uint64_t nc = cap ? cap : 1024;
				while (nc <= ev.id)
					nc *= 2;
				uint64_t *ns = realloc(size, nc * sizeof *ns);
				if (!ns) {
					free(size);
					slt_close(s);
					return fail(r, REPLAY_FAILED, "%s: out of memory in the first pass", r->o->trace);
				}
				memset(ns + cap, 0, (nc - cap) * sizeof *ns);
				size = ns;
				cap = nc;
			}
			if (ev.op == SLT_REALLOC)
				live -= size[ev.old_id];
			size[ev.id] = ev.size;
			live += ev.size;
		} else if (ev.op == SLT_FREE && ev.id < cap) {
			live -= size[ev.id];
			size[ev.id] = 0;
		}
		if (live > peak) {
			peak = live;
			r->peak_op = n;
		}
		n++;
	}
	free(size);
	if (rc < 0) {
		enum replay_status st = fail(r, REPLAY_BAD_INPUT, "%s", slt_error(s));
		slt_close(s);
		return st;
	}
	slt_close(s);
	*events = n;
	return REPLAY_OK;
}

/* ---- snapshots ---------------------------------------------------------- */

static void fill_snapshot(struct replay *r, struct sim_snapshot *sn, enum sim_snapshot_kind kind)
{
	struct sl_stats *st = r->st;
	sl_heap_stats(r->h, st);
	sn->op = (int64_t)r->ops;
	sn->clock_bytes = (int64_t)r->clock_bytes;
	sn->trace_time_ns = slt_source_tick_ns(r->src) ? (int64_t)r->last_ts : SIM_NULL;
	sn->kind = kind;
	sn->live_bytes = (int64_t)r->live_bytes;
	sn->live_objects = (int64_t)r->live_objects;
	sn->live_rounded_bytes = (int64_t)(st->live_bytes + st->internal_frag_bytes);
	sn->internal_frag_bytes = (int64_t)st->internal_frag_bytes;
	sn->dead_bytes = (int64_t)st->dead_bytes;
	sn->heap_inuse_bytes = (int64_t)st->heap_inuse;
	sn->heap_sys_bytes = (int64_t)st->heap_sys;
	sn->ready_bytes = (int64_t)st->ready_bytes;
	sn->released_bytes = (int64_t)st->heap_released;
	sn->reserved_bytes = (int64_t)st->reserved_bytes;
	sn->spans_inuse = (int64_t)st->spans_inuse;
	sn->heap_goal_bytes = (int64_t)st->heap_goal;
	sn->heap_live_bytes = (int64_t)st->heap_live;
	sn->gc_cycles = (int64_t)st->gc_cycles;
	sn->mallocs = (int64_t)r->mallocs;
	sn->frees = (int64_t)r->frees;
	sn->refills = (int64_t)st->refills;
	sn->span_moves = (int64_t)st->span_moves;
	for (uint32_t c = 0; c < st->nclasses; c++)
		if (st->by_class[c].spans_inuse > r->peak_spans[c])
			r->peak_spans[c] = st->by_class[c].spans_inuse;
}

/* The replay's own live figures must equal the allocator's (which serves
 * and counts a 0-byte request as 1 byte: spanlab.h). */
static enum replay_status cross_check(struct replay *r)
{
	if (r->st->live_bytes != r->live_bytes + r->live_zero || r->st->live_objects != r->live_objects)
		return fail(r, REPLAY_FAILED,
			    "%s: op %llu: allocator counts %llu live bytes in %llu objects, the trace %llu in %llu",
			    r->o->trace, (unsigned long long)r->ops, (unsigned long long)r->st->live_bytes,
			    (unsigned long long)r->st->live_objects, (unsigned long long)r->live_bytes,
			    (unsigned long long)r->live_objects);
	return REPLAY_OK;
}

static enum replay_status emit_snapshot(struct replay *r, struct sim_snapshot *sn)
{
	if (r->out->snapshot && r->out->snapshot(r->out->ctx, sn))
		return fail(r, REPLAY_FAILED, "%s", r->out->error ? r->out->error(r->out->ctx) : "snapshot output failed");
	return REPLAY_OK;
}

static enum replay_status run_check(struct replay *r)
{
	char err[512];
	if (sl_heap_check(r->h, err, sizeof err))
		return fail(r, REPLAY_FAILED, "%s: op %llu: heap check failed: %s", r->o->trace,
			    (unsigned long long)r->ops, err);
	return REPLAY_OK;
}

static enum replay_status periodic(struct replay *r)
{
	struct sim_snapshot sn;
	enum replay_status st;

	r->snap_countdown = r->snap_every;
	fill_snapshot(r, &sn, SIM_SNAPSHOT_PERIODIC);
	r->sum_inuse += (double)sn.heap_inuse_bytes;
	r->sum_ready += (double)sn.ready_bytes;
	r->sum_live += (double)sn.live_bytes;
	r->nsnaps++;
	if (r->o->check && r->o->check_every == 0 && ((st = cross_check(r)) || (st = run_check(r))))
		return st;
	return emit_snapshot(r, &sn);
}

/* After the peak operation: kept and emitted at the end (kind peak_live). */
static void take_peak_snapshot(struct replay *r)
{
	fill_snapshot(r, &r->peak_snap, SIM_SNAPSHOT_PEAK_LIVE);
	r->have_peak_snap = true;
	for (uint32_t c = 0; c < r->st->nclasses; c++)
		r->frag_at_peak[c] = r->st->by_class[c].internal_frag;
}

/* ---- the operations ----------------------------------------------------- */

static uint8_t pattern(uint64_t id, uint64_t size)
{
	return (uint8_t)((id * 0x9E3779B97F4A7C15ull + size) >> 56) | 1;
}

static void touch(struct replay *r, unsigned char *p, uint64_t id, uint64_t size)
{
	if (size == 0)
		return;
	uint8_t v = r->o->check ? pattern(id, size) : (uint8_t)id;
	if (r->o->touch)
		for (uint64_t off = OS_PAGE - ((uintptr_t)p & (OS_PAGE - 1)); off < size; off += OS_PAGE)
			p[off] = v;
	p[0] = v;
	p[size - 1] = v;
}

static enum replay_status verify(struct replay *r, const struct obj *o, uint64_t id, const char *when)
{
	if (o->size == 0)
		return REPLAY_OK;
	uint8_t v = pattern(id, o->size);
	if (o->ptr[0] != v || o->ptr[o->size - 1] != v)
		return fail(r, REPLAY_FAILED,
			    "%s: op %llu: object %llu (%llu bytes at %p) was overwritten before %s",
			    r->o->trace, (unsigned long long)r->ops, (unsigned long long)id,
			    (unsigned long long)o->size, (void *)o->ptr, when);
	return REPLAY_OK;
}

static enum replay_status grow_objs(struct replay *r, uint64_t id)
{
	uint64_t n = r->nobjs ? r->nobjs : 4096;
	while (n <= id)
		n *= 2;
	struct obj *no = realloc(r->objs, n * sizeof *no);
	if (!no)
		return fail(r, REPLAY_FAILED, "%s: out of memory for %llu object slots", r->o->trace,
			    (unsigned long long)n);
	memset(no + r->nobjs, 0, (n - r->nobjs) * sizeof *no);
	r->objs = no;
	r->nobjs = n;
	return REPLAY_OK;
}

static uint32_t class_of(const struct replay *r, uint64_t size)
{
	const struct sl_sizeclasses *t = &r->o->cfg.classes;
	if (size > t->max_small_size)
		return 0;
	if (size < 16 && r->o->cfg.tiny)
		return sl_size_to_class(t, 16);
	return sl_size_to_class(t, size ? size : 1);
}

static enum replay_status do_alloc(struct replay *r, struct sl_p *p, const struct slt_event *ev)
{
	enum replay_status st;
	unsigned char *ptr;

	if (ev->id >= r->nobjs && (st = grow_objs(r, ev->id)))
		return st;
	struct obj *o = &r->objs[ev->id];
	if (o->ptr)
		return fail(r, REPLAY_BAD_INPUT, "%s: event %llu: allocation of object %llu, which is live",
			    r->o->trace, (unsigned long long)r->ops, (unsigned long long)ev->id);
	r->clock->bytes = r->clock_bytes += ev->size;
	if (ev->op == SLT_CALLOC) {
		ptr = sl_calloc(p, ev->size, 1);
		if (ptr && r->o->check && ev->size && (ptr[0] || ptr[ev->size - 1]))
			return fail(r, REPLAY_FAILED, "%s: op %llu: calloc(%llu) returned memory that is not zero",
				    r->o->trace, (unsigned long long)r->ops, (unsigned long long)ev->size);
	} else if (ev->op == SLT_ALIGNED) {
		enum sl_align_err ae = SL_ALIGN_OK;
		ptr = sl_aligned_alloc(p, ev->align, ev->size, &ae);
		if (ae == SL_ALIGN_NOT_POWER_OF_TWO)
			return fail(r, REPLAY_BAD_INPUT, "%s: event %llu: alignment %llu is not a power of two",
				    r->o->trace, (unsigned long long)r->ops, (unsigned long long)ev->align);
		if (ptr && ((uintptr_t)ptr & (ev->align - 1)))
			return fail(r, REPLAY_FAILED, "%s: op %llu: %p is not aligned to %llu", r->o->trace,
				    (unsigned long long)r->ops, (void *)ptr, (unsigned long long)ev->align);
	} else {
		ptr = sl_malloc(p, ev->size);
	}
	if (!ptr)
		return fail(r, REPLAY_FAILED, "%s: op %llu: out of memory allocating %llu bytes", r->o->trace,
			    (unsigned long long)r->ops, (unsigned long long)ev->size);
	o->ptr = ptr;
	o->size = ev->size;
	touch(r, ptr, ev->id, ev->size);
	r->live_bytes += ev->size;
	r->live_zero += ev->size == 0;
	r->live_objects++;
	r->mallocs++;
	r->requested_by_class[class_of(r, ev->size)] += ev->size;
	return REPLAY_OK;
}

static enum replay_status do_free(struct replay *r, struct sl_p *p, uint64_t id)
{
	enum replay_status st;
	struct obj *o = id < r->nobjs ? &r->objs[id] : NULL;

	if (!o || !o->ptr) {
		r->unknown_frees++;
		if (r->o->open.strict)
			return fail(r, REPLAY_BAD_INPUT, "%s: event %llu: free of object %llu, which is not live",
				    r->o->trace, (unsigned long long)r->ops, (unsigned long long)id);
		return REPLAY_OK;
	}
	if (r->o->check && (st = verify(r, o, id, "free")))
		return st;
	enum sl_free_result fr = sl_free(p, o->ptr);
	if (fr != SL_FREE_OK)
		return fail(r, REPLAY_FAILED, "%s: op %llu: the allocator refused free(%p) of object %llu: %s",
			    r->o->trace, (unsigned long long)r->ops, (void *)o->ptr, (unsigned long long)id,
			    sl_free_result_name(fr));
	r->live_bytes -= o->size;
	r->live_zero -= o->size == 0;
	r->live_objects--;
	r->frees++;
	o->ptr = NULL;
	o->size = 0;
	return REPLAY_OK;
}

static enum replay_status do_realloc(struct replay *r, struct sl_p *p, const struct slt_event *ev)
{
	enum replay_status st;
	struct obj *o = ev->old_id < r->nobjs ? &r->objs[ev->old_id] : NULL;

	if (!o || !o->ptr) {
		/* realloc(NULL, n) is malloc(n) */
		struct slt_event m = *ev;
		m.op = SLT_MALLOC;
		return do_alloc(r, p, &m);
	}
	if (r->o->check && (st = verify(r, o, ev->old_id, "realloc")))
		return st;
	uint8_t first = o->size ? o->ptr[0] : 0;
	r->clock->bytes = r->clock_bytes += ev->size;
	/* A trace's realloc to 0 bytes that returned an object (the importers
	 * turn realloc(p, 0) = NULL into a free) is a 0-byte object, which the
	 * core serves as 1 byte; sl_realloc(p, 0) would free it. */
	unsigned char *np = sl_realloc(p, o->ptr, ev->size ? ev->size : 1);
	if (!np)
		return fail(r, REPLAY_FAILED, "%s: op %llu: out of memory reallocating to %llu bytes",
			    r->o->trace, (unsigned long long)r->ops, (unsigned long long)ev->size);
	if (r->o->check && o->size && ev->size && np[0] != first)
		return fail(r, REPLAY_FAILED, "%s: op %llu: realloc lost the object's contents", r->o->trace,
			    (unsigned long long)r->ops);
	r->live_bytes += ev->size - o->size;
	r->live_zero += (ev->size == 0) - (o->size == 0);
	r->mallocs++;
	r->frees++;
	r->requested_by_class[class_of(r, ev->size)] += ev->size;
	o->ptr = np;
	o->size = ev->size;
	touch(r, np, ev->id, ev->size);
	return REPLAY_OK;
}

static enum replay_status do_op(struct replay *r, const struct slt_event *ev)
{
	struct sl_p *p = r->ps[ev->tid % (uint32_t)r->nprocs];

	r->clock->op = r->ops;
	r->last_ts = ev->ts_ns;
	switch (ev->op) {
	case SLT_MALLOC:
	case SLT_CALLOC:
	case SLT_ALIGNED:
		return do_alloc(r, p, ev);
	case SLT_REALLOC:
		return do_realloc(r, p, ev);
	case SLT_FREE:
		return do_free(r, p, ev->id);
	case SLT_GC:
		sl_heap_gc_marker(r->h);
		return REPLAY_OK;
	default:
		return REPLAY_OK;	/* thread start/exit */
	}
}

/* After every operation: maxima, then the countdowns. */
static enum replay_status after_op(struct replay *r)
{
	enum replay_status st;
	uint64_t inuse = *r->mem.heap_inuse, ready = r->mem.state_bytes[SL_MEM_READY];
	uint64_t sys = ready + r->mem.state_bytes[SL_MEM_PREPARED];

	if (inuse > r->max_inuse) {
		r->max_inuse = inuse;
		r->live_at_max_inuse = r->live_bytes;
	}
	if (ready > r->max_ready) {
		r->max_ready = ready;
		r->live_at_max_ready = r->live_bytes;
	}
	if (sys > r->max_sys)
		r->max_sys = sys;
	if (r->live_bytes > r->peak_live_bytes) {
		r->peak_live_bytes = r->live_bytes;
		r->peak_live_op = r->ops;
	}
	r->ops++;
	if (r->ops == r->peak_op + 1)
		take_peak_snapshot(r);
	if (--r->snap_countdown == 0 && (st = periodic(r)))
		return st;
	if (r->o->check && r->o->check_every && --r->check_countdown == 0) {
		r->check_countdown = r->o->check_every;
		if ((st = run_check(r)))
			return st;
	}
	progress_tick(&r->prog, r->ops);
	return REPLAY_OK;
}

/* ---- set-up, the loop, the figures -------------------------------------- */

static void heap_config(const struct sim_config *c, struct sl_heap_config *hc)
{
	sl_heap_config_default(hc);
	hc->classes = c->classes;
	hc->arena_bytes = c->arena_size;
	hc->nprocs = (int)c->procs;
	hc->free_policy = c->free_policy == SIM_FREE_IMMEDIATE ? SL_FREE_IMMEDIATE : SL_FREE_GC;
	hc->sweep_mode = c->sweep == SIM_SWEEP_LAZY ? SL_SWEEP_LAZY : SL_SWEEP_EAGER;
	hc->gogc = c->gogc < 0 ? -1 : (int)c->gogc;
	hc->trigger_fraction = c->trigger_fraction;
	hc->tiny = c->tiny;
	hc->scavenger = c->scavenger;
	hc->retain_extra_percent = (int)c->retain_extra_percent;
}

static double ratio_minus_one(double m, double l)
{
	return l > 0 ? m / l - 1 : NAN;
}

static double rate(uint64_t hits, uint64_t all)
{
	return all ? (double)hits / (double)all : NAN;
}

static void summarize(struct replay *r, struct sim_summary *s, double wall)
{
	const struct sl_stats *st = r->st;	/* the final snapshot's */
	uint64_t small = st->small_allocs + st->tiny_allocs;
	uint64_t not_cached = st->page_allocs - st->page_allocs_cache;

	memset(s, 0, sizeof *s);
	s->ops = (int64_t)r->ops;
	s->mallocs = (int64_t)r->mallocs;
	s->frees = (int64_t)r->frees;
	/* The trace's own count too: importers drop a free of an address
	 * they do not know (a double free, a foreign or interior pointer) and
	 * count it in the consistency report, and a .slt's END record carries
	 * the recorder's count. Either way it is the trace's misuse. */
	s->unknown_frees = (int64_t)(r->unknown_frees + slt_source_report(r->src)->unknown_frees);
	s->peak_live_bytes = (int64_t)r->peak_live_bytes;
	s->peak_live_op = (int64_t)r->peak_live_op;
	s->final_live_bytes = (int64_t)r->live_bytes;
	s->final_live_objects = (int64_t)r->live_objects;
	s->peak_heap_inuse_bytes = (int64_t)r->max_inuse;
	s->peak_heap_sys_bytes = (int64_t)r->max_sys;
	s->peak_ready_bytes = (int64_t)r->max_ready;
	s->internal_frag_bytes_at_peak = r->have_peak_snap ? r->peak_snap.internal_frag_bytes : 0;
	s->refills = (int64_t)st->refills;
	s->span_moves = (int64_t)st->span_moves;
	s->arena_transitions = (int64_t)st->arena_transitions;
	s->gc_cycles = (int64_t)st->gc_cycles;
	s->hit_rate_mcache = rate(small - st->refills, small);
	s->hit_rate_mcentral = rate(st->refills - st->refills_by_grow, st->refills);
	s->hit_rate_pagecache = rate(st->page_allocs_cache, st->page_allocs);
	s->hit_rate_heap = rate(not_cached - st->page_allocs_grow, not_cached);
	double pl = (double)r->peak_live_bytes;
	s->frag_inuse_jw1 = r->nsnaps ? ratio_minus_one(r->sum_inuse, r->sum_live) : NAN;
	s->frag_ready_jw1 = r->nsnaps ? ratio_minus_one(r->sum_ready, r->sum_live) : NAN;
	s->frag_inuse_jw2 = r->have_peak_snap ? ratio_minus_one((double)r->peak_snap.heap_inuse_bytes, pl) : NAN;
	s->frag_ready_jw2 = r->have_peak_snap ? ratio_minus_one((double)r->peak_snap.ready_bytes, pl) : NAN;
	s->frag_inuse_jw3 = ratio_minus_one((double)r->max_inuse, (double)r->live_at_max_inuse);
	s->frag_ready_jw3 = ratio_minus_one((double)r->max_ready, (double)r->live_at_max_ready);
	s->frag_inuse_jw4 = ratio_minus_one((double)r->max_inuse, pl);
	s->frag_ready_jw4 = ratio_minus_one((double)r->max_ready, pl);
	s->wall_seconds = wall;
	s->ops_per_second = wall > 0 ? (double)r->ops / wall : NAN;
}

static enum replay_status emit_class_rows(struct replay *r)
{
	const struct sl_stats *st = r->st;
	if (!r->out->size_class)
		return REPLAY_OK;
	for (uint32_t c = 0; c < st->nclasses; c++) {
		const struct sl_class_stats *cs = &st->by_class[c];
		struct sim_size_class_row row = {
			.size_class = c,
			.slot_size = (int64_t)cs->size,
			.mallocs = (int64_t)cs->mallocs,
			.tiny_allocs = c == r->tiny_class ? (int64_t)st->tiny_allocs : 0,
			.frees = (int64_t)cs->frees,
			.refills = (int64_t)cs->refills,
			.peak_spans = (int64_t)r->peak_spans[c],
			.internal_frag_bytes_at_peak = (int64_t)r->frag_at_peak[c],
			.requested_bytes = (int64_t)r->requested_by_class[c],
		};
		if (r->out->size_class(r->out->ctx, &row))
			return fail(r, REPLAY_FAILED, "%s", r->out->error ? r->out->error(r->out->ctx) : "output failed");
	}
	return REPLAY_OK;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The final snapshot, the peak snapshot, the class rows, the summary. */
static enum replay_status finish(struct replay *r, struct sim_summary *sum, double wall)
{
	enum replay_status st;
	struct sim_snapshot fin;

	fill_snapshot(r, &fin, SIM_SNAPSHOT_FINAL);
	if (r->o->check && ((st = cross_check(r)) || (st = run_check(r))))
		return st;
	if (r->nsnaps == 0) {	/* a trace shorter than one interval */
		r->sum_inuse = (double)fin.heap_inuse_bytes;
		r->sum_ready = (double)fin.ready_bytes;
		r->sum_live = (double)fin.live_bytes;
		r->nsnaps = 1;
	}
	if ((st = emit_snapshot(r, &fin)))
		return st;
	if (r->have_peak_snap && (st = emit_snapshot(r, &r->peak_snap)))
		return st;
	if ((st = emit_class_rows(r)))
		return st;
	summarize(r, sum, wall);
	return REPLAY_OK;
}

static enum replay_status loop(struct replay *r)
{
	struct slt_event ev;
	enum replay_status st;
	int rc;

	while ((rc = slt_next(r->src, &ev)) > 0) {
		if (replay_stop)
			return REPLAY_INTERRUPTED;
		if ((st = do_op(r, &ev)) || (st = after_op(r)))
			return st;
	}
	if (rc < 0)
		return fail(r, REPLAY_BAD_INPUT, "%s", slt_error(r->src));
	return REPLAY_OK;
}

static enum replay_status setup(struct replay *r)
{
	struct sl_heap_config hc;
	uint64_t events = 0, max_ids = 0;
	enum replay_status st;
	char err[1024];

	if ((st = first_pass(r, &events)))
		return st;
	r->src = slt_open(r->o->trace, &r->o->open, err, sizeof err);
	if (!r->src)
		return fail(r, REPLAY_BAD_INPUT, "%s", err);
	if (slt_source_counts(r->src, &events, &max_ids) && max_ids && (st = grow_objs(r, max_ids - 1)))
		return st;
	heap_config(&r->o->cfg, &hc);
	hc.os = r->o->os;
	r->h = sl_heap_new(&hc, err, sizeof err);
	if (!r->h)
		return fail(r, REPLAY_FAILED, "cannot create the heap: %s", err);
	r->nprocs = hc.nprocs;
	for (int i = 0; i < r->nprocs; i++)
		r->ps[i] = sl_heap_p(r->h, i);
	r->clock = sl_heap_clock(r->h);
	sl_heap_counters(r->h, &r->mem);
	if (r->out->sink.emit)
		sl_sink_attach(r->h, r->out->sink);
	r->st = calloc(1, sizeof *r->st);
	if (!r->st)
		return fail(r, REPLAY_FAILED, "out of memory");
	r->snap_every = r->o->snapshot_every ? r->o->snapshot_every
			: r->o->cfg.snapshot_every ? r->o->cfg.snapshot_every
			: replay_auto_snapshot_every(events);
	r->snap_countdown = r->snap_every;
	r->tiny_class = r->o->cfg.tiny ? sl_size_to_class(&r->o->cfg.classes, 16) : UINT32_MAX;
	r->check_countdown = r->o->check_every;
	progress_init(&r->prog, "replay", "ops", events, r->o->quiet);
	return REPLAY_OK;
}

enum replay_status replay_run(const struct replay_opts *opts, const struct replay_out *out,
			      struct sim_summary *sum, char *err, size_t errlen)
{
	static const struct replay_out none;
	struct replay r = { .o = opts, .out = out ? out : &none, .err = err, .errlen = errlen };
	enum replay_status st;

	err[0] = 0;
	if ((st = setup(&r)) == REPLAY_OK) {
		double t0 = now();
		st = loop(&r);
		double wall = now() - t0;
		progress_finish(&r.prog, r.ops);
		if (st == REPLAY_OK || st == REPLAY_INTERRUPTED) {
			enum replay_status fs = finish(&r, sum, wall);
			if (fs)
				st = fs;
		}
	}
	if (r.h) {
		/* Tearing the heap down is not part of the run: no events. */
		sl_sink_attach(r.h, (struct sl_sink){ 0 });
		sl_heap_destroy(r.h);
	}
	if (r.src)
		slt_close(r.src);
	free(r.objs);
	free(r.st);
	return st;
}
