/*
 * The replay engine (see replay.h for the contract).
 *
 * Per operation the loop does: decode one event, publish the op index and
 * Wilson clock to the heap, call the allocator, write the object's first
 * and last byte, and update live bytes; after an allocation (the only
 * operation that can raise them) it compares live bytes and three
 * allocator counters against their running maxima (for peak heap in-use,
 * Ready and sys bytes and Johnstone & Wilson #3). Everything else (the
 * peak snapshot, periodic snapshots, validators, the progress line, a look
 * at replay_stop) is one slow tick on one countdown: a decrement and a
 * compare per operation.
 *
 * One loop, two allocators. The loop body is written once, with a
 * compile-time `go` argument, and forced inline into two loops: loop_go
 * calls the core through its P handles; loop_libc calls the process's own
 * malloc/calloc/realloc/posix_memalign/free, which in a baseline's child
 * process (sim/baseline.h) is the baseline's, through LD_PRELOAD. Constant
 * folding removes the other side from each, so the Go path pays nothing
 * for the baselines and both replay with the same decoding, the same
 * memory touching and the same bookkeeping. What differs is Go-only: the
 * clock published to the heap, per-class requested bytes, the sampling
 * of the core's counters; a baseline's memory figures are read
 * through its adapter at snapshots only (those calls cost microseconds).
 *
 * Snapshots read sl_heap_stats, which is flush-equivalent and moves no
 * span, so taking one never changes what the allocator does next: a run
 * with --db gives the same figures as one without. The time spent reading
 * the allocator's statistics for snapshots is an observer's cost that
 * differs by allocator (glibc's mallinfo2 walks every free chunk), so it
 * is left out of wall_seconds and cpu_seconds. cpu_seconds is the
 * replaying thread's CPU time over the loop, the figure to compare on a
 * shared machine, where wall time also counts waiting for a CPU.
 *
 * The replayer's own tables (the object table) are mmap'ed, never taken
 * from malloc, so a baseline's figures hold the trace's objects only (and
 * the trace reader's few buffers).
 */
#define _GNU_SOURCE
#include "replay.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "baseline.h"
#include "progress.h"
#include "spanlab.h"

/* The loop body's helpers are forced inline, so that each of the two
 * loops is specialised by constant folding of its `go` argument. */
#define LOOP_INLINE static inline __attribute__((always_inline))

volatile sig_atomic_t replay_stop;

/* About 2,000 snapshots over a trace: enough for a smooth curve on a
 * 7-inch figure, few enough to cost nothing (a snapshot is ~70 class rows
 * of arithmetic). A trace of unknown length (read from a pipe) starts at
 * one snapshot per operation and doubles the interval after each 2,000:
 * about 2,000 x log2(ops / 2,000) snapshots, each weighted by its interval
 * in the time averages (J&W #1). */
enum { SNAPSHOTS_PER_TRACE = 2000, OS_PAGE = 4096 };

/* The slow tick runs at least every STOP_POLL operations, to look at
 * replay_stop: 1,024 operations are well under a millisecond, and the
 * stop still lands on a record boundary. The progress line's clock is read
 * every PROGRESS_EVERY operations (measurements.md 3.5). Trace threads
 * below TID_CACHE find their P in a table, not by a division. */
enum { STOP_POLL = 1024, PROGRESS_EVERY = 1 << 16, TID_CACHE = 256 };

struct obj {
	unsigned char *ptr;	/* NULL: id not live */
	uint64_t size;		/* requested bytes */
};

struct replay {
	const struct replay_opts *o;
	const struct replay_out *out;
	const struct baseline *bl;	/* NULL: the Go core */
	struct slt_source *src;	/* NULL only if its open was interrupted */
	struct sl_heap *h;
	struct sl_clock *clock;
	struct sl_counters mem;
	struct sl_p *ps[SL_MAX_PROCS];
	struct sl_p *p_of_tid[TID_CACHE];	/* ps[tid % nprocs] */
	int nprocs;

	struct obj *objs;
	uint64_t nobjs;

	/* the trace's own figures */
	uint64_t ops, mallocs, frees, unknown_frees;
	uint64_t live_bytes, live_objects, clock_bytes, last_ts;
	uint64_t live_zero;		/* live objects of 0 bytes: the core counts 1 byte each */
	uint64_t peak_live_bytes, peak_live_op;
	uint64_t peak_op;		/* from the first pass; UINT64_MAX: unknown */
	uint64_t requested_by_class[SL_MAX_CLASSES];	/* by the class the object got */
	uint32_t tiny_class;		/* the 16-byte class tiny blocks come from */
	uint32_t zero_class;		/* the class a 0-byte request (1 byte to the core) gets */

	/* allocator maxima, sampled after every operation (a baseline: at
	 * every snapshot) */
	uint64_t max_inuse, max_ready, max_sys;
	uint64_t live_at_max_inuse, live_at_max_ready;
	double stats_seconds;		/* reading the allocator's statistics: wall */
	double stats_cpu;		/* and the thread's CPU time */

	/* The slow tick: operations until it runs, and the operation counts
	 * (r->ops after the increment) at which each of its jobs is due
	 * (UINT64_MAX: never). */
	uint64_t tick;
	uint64_t next_snap, next_check, next_progress;

	/* snapshots */
	uint64_t snap_every;
	uint64_t snaps_to_double;	/* unknown length: snapshots until snap_every doubles (0: fixed) */
	double sum_inuse, sum_ready, sum_live;
	uint64_t nsnaps;
	struct sl_stats *st;		/* scratch for sl_heap_stats */
	struct sim_snapshot peak_snap;
	bool have_peak_snap;
	bool read_to_end;	/* the loop met the end of the trace */
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
	__attribute__((format(printf, 3, 4), cold, noinline));
static enum replay_status fail(struct replay *r, enum replay_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
	return st;
}

/* ---- the first pass: event count and the peak of live bytes ---------- */

static enum replay_status fail_buf(char *err, size_t errlen, enum replay_status st, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), cold));
static enum replay_status fail_buf(char *err, size_t errlen, enum replay_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return st;
}

/* A trace that cannot be opened or read is bad input, but for memory
 * running out in its reader: a failed run (exit 1). */
static enum replay_status open_status(void)
{
	return errno == ENOMEM ? REPLAY_FAILED : REPLAY_BAD_INPUT;
}

static enum replay_status read_status(const struct slt_source *s)
{
	return slt_source_oom(s) ? REPLAY_FAILED : REPLAY_BAD_INPUT;
}

enum replay_status replay_first_pass(const char *trace, const struct slt_open_opts *open,
				     uint64_t *events, uint64_t *peak_op, char *err, size_t errlen)
{
	struct stat sb;
	char e[1024];

	*peak_op = UINT64_MAX;
	*events = 0;
	if (stat(trace, &sb) || !S_ISREG(sb.st_mode))
		return REPLAY_OK;	/* a pipe: one pass only, peak found on the way */
	struct slt_source *s = slt_open(trace, open, e, sizeof e);
	if (!s)
		return fail_buf(err, errlen, open_status(), "%s", e);
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
					return fail_buf(err, errlen, REPLAY_FAILED, "%s: out of memory in the first pass",
							trace);
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
			*peak_op = n;
		}
		n++;
	}
	free(size);
	if (rc < 0) {
		enum replay_status st = fail_buf(err, errlen, read_status(s), "%s", slt_error(s));
		slt_close(s);
		return st;
	}
	slt_close(s);
	*events = n;
	return REPLAY_OK;
}

/* ---- snapshots ---------------------------------------------------------- */

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* The replaying thread's CPU time (its page faults included): unlike
 * wall time, it does not grow while a busy machine runs someone else. */
static double cpu_now(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

/* Reading the allocator's statistics is left out of both clocks. */
struct stats_timer {
	double wall, cpu;
};

static struct stats_timer stats_begin(void)
{
	return (struct stats_timer){ now(), cpu_now() };
}

static void stats_end(struct replay *r, struct stats_timer t)
{
	r->stats_seconds += now() - t.wall;
	r->stats_cpu += cpu_now() - t.cpu;
}

/* A baseline's running maxima, from its figures at each snapshot. */
static void baseline_maxima(struct replay *r, const struct baseline_mem *m)
{
	if (m->inuse != SIM_NULL && (uint64_t)m->inuse > r->max_inuse) {
		r->max_inuse = (uint64_t)m->inuse;
		r->live_at_max_inuse = r->live_bytes;
	}
	if (m->ready != SIM_NULL && (uint64_t)m->ready > r->max_ready) {
		r->max_ready = (uint64_t)m->ready;
		r->live_at_max_ready = r->live_bytes;
	}
	if (m->sys != SIM_NULL && (uint64_t)m->sys > r->max_sys)
		r->max_sys = (uint64_t)m->sys;
}

/* A baseline's snapshot: the trace's figures, the adapter's memory
 * figures, NULL for what only the Go model has. */
static void fill_snapshot_baseline(struct replay *r, struct sim_snapshot *sn)
{
	struct baseline_mem m;
	struct stats_timer t = stats_begin();
	r->bl->mem(&m);
	stats_end(r, t);
	baseline_maxima(r, &m);
	sn->live_rounded_bytes = m.allocated;
	sn->internal_frag_bytes = m.allocated == SIM_NULL ? SIM_NULL : m.allocated - (int64_t)r->live_bytes;
	sn->heap_inuse_bytes = m.inuse;
	sn->heap_sys_bytes = m.sys;
	sn->ready_bytes = m.ready;
	sn->released_bytes = m.released;
	sn->dead_bytes = sn->reserved_bytes = sn->spans_inuse = sn->heap_goal_bytes = sn->heap_live_bytes = SIM_NULL;
	sn->gc_cycles = sn->refills = sn->span_moves = SIM_NULL;
}

static void fill_snapshot(struct replay *r, struct sim_snapshot *sn, enum sim_snapshot_kind kind)
{
	struct sl_stats *st = r->st;
	sn->op = (int64_t)r->ops;
	sn->clock_bytes = (int64_t)r->clock_bytes;
	/* A .slt always has times; a text or valgrind trace may (@NS, time
	 * stamps): from its first nonzero one on (the readers never let time
	 * go back, so a nonzero last_ts stays nonzero). */
	sn->trace_time_ns = (r->src && slt_source_tick_ns(r->src)) || r->last_ts ? (int64_t)r->last_ts : SIM_NULL;
	sn->kind = kind;
	sn->live_bytes = (int64_t)r->live_bytes;
	sn->live_objects = (int64_t)r->live_objects;
	sn->mallocs = (int64_t)r->mallocs;
	sn->frees = (int64_t)r->frees;
	if (r->bl) {
		fill_snapshot_baseline(r, sn);
		return;
	}
	struct stats_timer t = stats_begin();
	sl_heap_stats(r->h, st);
	stats_end(r, t);
	/* The core serves a 0-byte request as 1 byte: that byte is waste too,
	 * so that live_rounded = live_bytes (the trace's) + internal_frag. */
	sn->live_rounded_bytes = (int64_t)(st->live_bytes + st->internal_frag_bytes);
	sn->internal_frag_bytes = (int64_t)(st->internal_frag_bytes + r->live_zero);
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
	sn->refills = (int64_t)st->refills;
	sn->span_moves = (int64_t)st->span_moves;
}

/* The replay's own live figures must equal the allocator's (which serves
 * and counts a 0-byte request as 1 byte: spanlab.h). */
static enum replay_status cross_check(struct replay *r)
{
	if (r->bl)
		return REPLAY_OK;	/* a baseline has no live-object count to compare */
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
	if (r->bl)
		return REPLAY_OK;	/* the validators are the core's */
	if (sl_heap_check(r->h, err, sizeof err))
		return fail(r, REPLAY_FAILED, "%s: op %llu: heap check failed: %s", r->o->trace,
			    (unsigned long long)r->ops, err);
	return REPLAY_OK;
}

static enum replay_status periodic(struct replay *r)
{
	struct sim_snapshot sn;
	enum replay_status st;

	fill_snapshot(r, &sn, SIM_SNAPSHOT_PERIODIC);
	/* weights only where intervals differ: a fixed interval's sums stay
	 * those of the plain mean, to the last bit */
	double w = r->snaps_to_double ? (double)r->snap_every : 1.0;
	if (sn.heap_inuse_bytes != SIM_NULL)
		r->sum_inuse += w * (double)sn.heap_inuse_bytes;
	if (sn.ready_bytes != SIM_NULL)
		r->sum_ready += w * (double)sn.ready_bytes;
	r->sum_live += w * (double)sn.live_bytes;
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
	if (r->bl)
		return;
	for (uint32_t c = 0; c < r->st->nclasses; c++)
		r->frag_at_peak[c] = r->st->by_class[c].internal_frag;
	r->frag_at_peak[r->zero_class] += r->live_zero;	/* as fill_snapshot */
}

/* ---- the operations ----------------------------------------------------- */
/* Each takes `go`, a constant in each of the two loops: true calls the core
 * through P p, false the process's malloc (p is then NULL). */

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

/* The object table: mmap'ed (never from the allocator under test), grown
 * by doubling with mremap; fresh pages read as zero (no id live). */
static __attribute__((noinline)) enum replay_status grow_objs(struct replay *r, uint64_t id)
{
	uint64_t n = r->nobjs ? r->nobjs : 4096;
	while (n <= id)
		n *= 2;
	size_t old = r->nobjs * sizeof *r->objs, sz = n * sizeof *r->objs;
	void *no = r->objs ? mremap(r->objs, old, sz, MREMAP_MAYMOVE)
			   : mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (no == MAP_FAILED)
		return fail(r, REPLAY_FAILED, "%s: out of memory for %llu object slots", r->o->trace,
			    (unsigned long long)n);
	r->objs = no;
	r->nobjs = n;
	return REPLAY_OK;
}

/* The size class sl_malloc and sl_calloc serve `size` bytes from (the
 * core's dispatch, mirrored: no lookup on the replay's common path). */
static uint32_t class_of(const struct replay *r, uint64_t size)
{
	const struct sl_sizeclasses *t = &r->o->cfg.classes;
	if (size > t->max_small_size)
		return 0;
	if (size < 16 && r->o->cfg.tiny)
		return sl_size_to_class(t, 16);
	return sl_size_to_class(t, size ? size : 1);
}

/* The class the core gave the live object at ptr, where its size does not
 * say: an aligned request may get a larger class than its size asks for,
 * and a realloc in place keeps the class it had. One span lookup. */
static __attribute__((noinline)) enum replay_status class_got(struct replay *r, const void *ptr, uint32_t *cls)
{
	int c = sl_size_class_of(r->h, ptr);
	if (c < 0)
		return fail(r, REPLAY_FAILED, "%s: op %llu: the allocator has no live object at %p, which it just returned",
			    r->o->trace, (unsigned long long)r->ops, ptr);
	*cls = (uint32_t)c;
	return REPLAY_OK;
}

/* posix_memalign for any power of two, as sl_aligned_alloc takes them. */
static void *libc_aligned_alloc(size_t align, size_t n, enum sl_align_err *ae)
{
	void *p;
	if (align & (align - 1)) {
		*ae = SL_ALIGN_NOT_POWER_OF_TWO;
		return NULL;
	}
	if (align < sizeof(void *))
		align = sizeof(void *);
	return posix_memalign(&p, align, n) ? NULL : p;
}

LOOP_INLINE void *op_malloc(struct sl_p *p, uint64_t n, const bool go)
{
	return go ? sl_malloc(p, n) : malloc(n);
}

LOOP_INLINE void *op_calloc(struct sl_p *p, uint64_t n, const bool go)
{
	return go ? sl_calloc(p, n, 1) : calloc(n, 1);
}

LOOP_INLINE void *op_aligned(struct sl_p *p, uint64_t align, uint64_t n, enum sl_align_err *ae, const bool go)
{
	return go ? sl_aligned_alloc(p, align, n, ae) : libc_aligned_alloc(align, n, ae);
}

/* realloc(p, 0) frees in glibc; a trace's zero-byte realloc keeps a live
 * object, so a baseline is asked for one byte (the core serves 0 as 1). */
LOOP_INLINE void *op_realloc(struct sl_p *p, void *ptr, uint64_t n, const bool go)
{
	return go ? sl_realloc(p, ptr, n) : realloc(ptr, n ? n : 1);
}

/* After an allocation (the only operations that raise live bytes or, in
 * the core, heap in-use, Ready and sys bytes: frees, sweeps and GC markers
 * only lower them): the core's counters against their maxima (a load and
 * a compare each), live bytes against theirs. */
LOOP_INLINE void note_alloc(struct replay *r, const bool go)
{
	if (go) {
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
	}
	if (r->live_bytes > r->peak_live_bytes) {
		r->peak_live_bytes = r->live_bytes;
		r->peak_live_op = r->ops;
	}
}

LOOP_INLINE enum replay_status do_alloc(struct replay *r, struct sl_p *p, const struct slt_event *ev,
					const bool go)
{
	enum replay_status st;
	unsigned char *ptr;

	if (ev->id >= r->nobjs && (st = grow_objs(r, ev->id)))
		return st;
	struct obj *o = &r->objs[ev->id];
	if (o->ptr)
		return fail(r, REPLAY_BAD_INPUT, "%s: event %llu: allocation of object %llu, which is live",
			    r->o->trace, (unsigned long long)r->ops, (unsigned long long)ev->id);
	r->clock_bytes += ev->size;
	if (go)
		r->clock->bytes = r->clock_bytes;
	if (ev->op == SLT_CALLOC) {
		ptr = op_calloc(p, ev->size, go);
		if (ptr && r->o->check && ev->size && (ptr[0] || ptr[ev->size - 1]))
			return fail(r, REPLAY_FAILED, "%s: op %llu: calloc(%llu) returned memory that is not zero",
				    r->o->trace, (unsigned long long)r->ops, (unsigned long long)ev->size);
	} else if (ev->op == SLT_ALIGNED) {
		enum sl_align_err ae = SL_ALIGN_OK;
		ptr = op_aligned(p, ev->align, ev->size, &ae, go);
		if (ae == SL_ALIGN_NOT_POWER_OF_TWO)
			return fail(r, REPLAY_BAD_INPUT, "%s: event %llu: alignment %llu is not a power of two",
				    r->o->trace, (unsigned long long)r->ops, (unsigned long long)ev->align);
		if (ptr && ((uintptr_t)ptr & (ev->align - 1)))
			return fail(r, REPLAY_FAILED, "%s: op %llu: %p is not aligned to %llu", r->o->trace,
				    (unsigned long long)r->ops, (void *)ptr, (unsigned long long)ev->align);
	} else {
		ptr = op_malloc(p, ev->size, go);
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
	if (go) {
		uint32_t cls;
		if (ev->op != SLT_ALIGNED)
			cls = class_of(r, ev->size);
		else if ((st = class_got(r, ptr, &cls)))
			return st;
		r->requested_by_class[cls] += ev->size;
	}
	note_alloc(r, go);
	return REPLAY_OK;
}

LOOP_INLINE enum replay_status do_free(struct replay *r, struct sl_p *p, uint64_t id, const bool go)
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
	if (go) {
		enum sl_free_result fr = sl_free(p, o->ptr);
		if (fr != SL_FREE_OK)
			return fail(r, REPLAY_FAILED,
				    "%s: op %llu: the allocator refused free(%p) of object %llu: %s",
				    r->o->trace, (unsigned long long)r->ops, (void *)o->ptr,
				    (unsigned long long)id, sl_free_result_name(fr));
	} else {
		free(o->ptr);
	}
	r->live_bytes -= o->size;
	r->live_zero -= o->size == 0;
	r->live_objects--;
	r->frees++;
	o->ptr = NULL;
	o->size = 0;
	return REPLAY_OK;
}

LOOP_INLINE enum replay_status do_realloc(struct replay *r, struct sl_p *p, const struct slt_event *ev,
					  const bool go)
{
	enum replay_status st;
	struct obj *o = ev->old_id < r->nobjs ? &r->objs[ev->old_id] : NULL;

	if (!o || !o->ptr) {
		/* realloc(NULL, n) is malloc(n) */
		struct slt_event m = *ev;
		m.op = SLT_MALLOC;
		return do_alloc(r, p, &m, go);
	}
	if (r->o->check && (st = verify(r, o, ev->old_id, "realloc")))
		return st;
	uint8_t first = o->size ? o->ptr[0] : 0;
	r->clock_bytes += ev->size;
	if (go)
		r->clock->bytes = r->clock_bytes;
	/* A trace's realloc to 0 bytes that returned an object (the importers
	 * turn realloc(p, 0) = NULL into a free) is a 0-byte object, which the
	 * core serves as 1 byte; realloc(p, 0) would free it. */
	unsigned char *np = op_realloc(p, o->ptr, ev->size ? ev->size : 1, go);
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
	if (go) {
		/* moved: a new object, from the class sl_malloc serves its size
		 * from; in place (the new object is allocated before the old
		 * one is freed, so the same address means in place): the class
		 * the object already had */
		uint32_t cls;
		if (np != o->ptr)
			cls = class_of(r, ev->size);
		else if ((st = class_got(r, np, &cls)))
			return st;
		r->requested_by_class[cls] += ev->size;
	}
	o->ptr = np;
	o->size = ev->size;
	touch(r, np, ev->id, ev->size);
	note_alloc(r, go);
	return REPLAY_OK;
}

LOOP_INLINE enum replay_status do_op(struct replay *r, const struct slt_event *ev, const bool go)
{
	struct sl_p *p = !go ? NULL : ev->tid < TID_CACHE ? r->p_of_tid[ev->tid] : r->ps[ev->tid % (uint32_t)r->nprocs];

	if (go)
		r->clock->op = r->ops;
	r->last_ts = ev->ts_ns;
	switch (ev->op) {
	case SLT_MALLOC:
	case SLT_CALLOC:
	case SLT_ALIGNED:
		return do_alloc(r, p, ev, go);
	case SLT_REALLOC:
		return do_realloc(r, p, ev, go);
	case SLT_FREE:
		return do_free(r, p, ev->id, go);
	case SLT_GC:
		if (go)
			sl_heap_gc_marker(r->h);	/* a C allocator has no GC */
		return REPLAY_OK;
	default:
		return REPLAY_OK;	/* thread start/exit */
	}
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Everything that is not done after every operation, in one place: the
 * peak snapshot (after operation index peak_op, when peak_op + 1 are
 * done: its op is that count, as every other snapshot's), periodic snapshots,
 * validator runs, the progress line, a look at replay_stop. Called after
 * operation r->ops instead of the plain increment, when r->tick runs out;
 * it sets the next tick at the nearest job. */
static __attribute__((noinline)) enum replay_status slow_tick(struct replay *r)
{
	enum replay_status st;

	uint64_t done = ++r->ops;
	if (done == r->peak_op + 1)	/* peak_op UINT64_MAX (unknown): never */
		take_peak_snapshot(r);
	if (done == r->next_snap) {
		if ((st = periodic(r)))
			return st;
		if (r->snaps_to_double && --r->snaps_to_double == 0) {
			r->snap_every *= 2;
			r->snaps_to_double = SNAPSHOTS_PER_TRACE;
		}
		r->next_snap += r->snap_every;
	}
	if (done == r->next_check) {
		r->next_check += r->o->check_every;
		if ((st = run_check(r)))
			return st;
	}
	if (done >= r->next_progress) {
		r->next_progress = done + PROGRESS_EVERY;
		progress_slow(&r->prog, done);
	}
	if (replay_stop)
		return REPLAY_INTERRUPTED;
	uint64_t next = min_u64(min_u64(r->next_snap, r->next_check), min_u64(r->next_progress, done + STOP_POLL));
	if (r->peak_op != UINT64_MAX && r->peak_op >= done)
		next = min_u64(next, r->peak_op + 1);
	r->tick = next - done;
	return REPLAY_OK;
}

/* After every operation: one decrement for the slow tick. */
LOOP_INLINE enum replay_status after_op(struct replay *r)
{
	if (__builtin_expect(--r->tick == 0, 0))
		return slow_tick(r);
	r->ops++;
	return REPLAY_OK;
}

LOOP_INLINE enum replay_status loop_body(struct replay *r, const bool go)
{
	struct slt_event ev;
	enum replay_status st;
	int rc;

	if (replay_stop)
		return REPLAY_INTERRUPTED;
	while ((rc = slt_next(r->src, &ev)) > 0)
		if ((st = do_op(r, &ev, go)) || (st = after_op(r)))
			return st;
	if (rc < 0)
		return fail(r, read_status(r->src), "%s", slt_error(r->src));
	return REPLAY_OK;
}

/* The two specialisations; noinline keeps them apart in profiles. */
static __attribute__((noinline)) enum replay_status loop_go(struct replay *r)
{
	return loop_body(r, true);
}

static __attribute__((noinline)) enum replay_status loop_libc(struct replay *r)
{
	return loop_body(r, false);
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

/* The Go-only figures: the core's counters, or NULL for a baseline. */
static void summarize_go(struct replay *r, struct sim_summary *s)
{
	const struct sl_stats *st = r->st;	/* the final snapshot's */
	uint64_t small = st->small_allocs + st->tiny_allocs;
	uint64_t not_cached = st->page_allocs - st->page_allocs_cache;

	/* Unknown (NULL, never a plausible 0) without a peak snapshot: a trace
	 * read from a pipe has no first pass to find its peak, and a run
	 * interrupted before the peak never got there. */
	s->internal_frag_bytes_at_peak = r->have_peak_snap ? r->peak_snap.internal_frag_bytes : SIM_NULL;
	if (r->bl) {
		s->refills = s->span_moves = s->arena_transitions = s->gc_cycles = SIM_NULL;
		s->hit_rate_mcache = s->hit_rate_mcentral = s->hit_rate_pagecache = s->hit_rate_heap = NAN;
		return;
	}
	s->refills = (int64_t)st->refills;
	s->span_moves = (int64_t)st->span_moves;
	s->arena_transitions = (int64_t)st->arena_transitions;
	s->gc_cycles = (int64_t)st->gc_cycles;
	s->hit_rate_mcache = rate(small - st->refills, small);
	s->hit_rate_mcentral = rate(st->refills - st->refills_by_grow, st->refills);
	s->hit_rate_pagecache = rate(st->page_allocs_cache, st->page_allocs);
	s->hit_rate_heap = rate(not_cached - st->page_allocs_grow, not_cached);
}

/* A snapshot figure as a double, NaN for NULL. */
static double fig(int64_t v)
{
	return v == SIM_NULL ? NAN : (double)v;
}

static void summarize(struct replay *r, struct sim_summary *s, double wall, double cpu)
{
	memset(s, 0, sizeof *s);
	s->ops = (int64_t)r->ops;
	s->mallocs = (int64_t)r->mallocs;
	s->frees = (int64_t)r->frees;
	/* The trace's own count too: importers drop a free of an address
	 * they do not know (a double free, a foreign or interior pointer) and
	 * count it in the consistency report, and a .slt's END record carries
	 * the recorder's count. Either way it is the trace's misuse. */
	s->unknown_frees = (int64_t)(r->unknown_frees + (r->src ? slt_source_report(r->src)->unknown_frees : 0));
	s->peak_live_bytes = (int64_t)r->peak_live_bytes;
	s->peak_live_op = (int64_t)r->peak_live_op;
	s->final_live_bytes = (int64_t)r->live_bytes;
	s->final_live_objects = (int64_t)r->live_objects;
	s->peak_heap_inuse_bytes = (int64_t)r->max_inuse;
	s->peak_heap_sys_bytes = (int64_t)r->max_sys;
	s->peak_ready_bytes = (int64_t)r->max_ready;
	summarize_go(r, s);
	double pl = (double)r->peak_live_bytes;
	s->frag_inuse_jw1 = r->nsnaps ? ratio_minus_one(r->sum_inuse, r->sum_live) : NAN;
	s->frag_ready_jw1 = r->nsnaps ? ratio_minus_one(r->sum_ready, r->sum_live) : NAN;
	s->frag_inuse_jw2 = r->have_peak_snap ? ratio_minus_one(fig(r->peak_snap.heap_inuse_bytes), pl) : NAN;
	s->frag_ready_jw2 = r->have_peak_snap ? ratio_minus_one(fig(r->peak_snap.ready_bytes), pl) : NAN;
	s->frag_inuse_jw3 = ratio_minus_one((double)r->max_inuse, (double)r->live_at_max_inuse);
	s->frag_ready_jw3 = ratio_minus_one((double)r->max_ready, (double)r->live_at_max_ready);
	s->frag_inuse_jw4 = ratio_minus_one((double)r->max_inuse, pl);
	s->frag_ready_jw4 = ratio_minus_one((double)r->max_ready, pl);
	s->wall_seconds = wall;
	s->ops_per_second = wall > 0 ? (double)r->ops / wall : NAN;
	s->cpu_seconds = cpu;
	/* A trace cut short (a program or recorder killed) replays as far as
	 * it goes; the run says so, as `spanlab info` does. */
	s->trace_complete = r->read_to_end && r->src ? slt_source_complete(r->src) : SIM_NULL;
}

static enum replay_status emit_class_rows(struct replay *r)
{
	const struct sl_stats *st = r->st;
	if (!r->out->size_class || r->bl)
		return REPLAY_OK;	/* a baseline has no Go size classes */
	for (uint32_t c = 0; c < st->nclasses; c++) {
		const struct sl_class_stats *cs = &st->by_class[c];
		struct sim_size_class_row row = {
			.size_class = c,
			.slot_size = (int64_t)cs->size,
			.mallocs = (int64_t)cs->mallocs,
			.tiny_allocs = c == r->tiny_class ? (int64_t)st->tiny_allocs : 0,
			.frees = (int64_t)cs->frees,
			.refills = (int64_t)cs->refills,
			.peak_spans = (int64_t)cs->peak_spans,
			.internal_frag_bytes_at_peak = r->have_peak_snap ? (int64_t)r->frag_at_peak[c] : SIM_NULL,
			.requested_bytes = (int64_t)r->requested_by_class[c],
		};
		if (r->out->size_class(r->out->ctx, &row))
			return fail(r, REPLAY_FAILED, "%s", r->out->error ? r->out->error(r->out->ctx) : "output failed");
	}
	return REPLAY_OK;
}

/* The final snapshot, the peak snapshot, the class rows, the summary. */
static enum replay_status finish(struct replay *r, struct sim_summary *sum, double wall, double cpu)
{
	enum replay_status st;
	struct sim_snapshot fin;

	fill_snapshot(r, &fin, SIM_SNAPSHOT_FINAL);
	if (r->o->check && ((st = cross_check(r)) || (st = run_check(r))))
		return st;
	if (r->nsnaps == 0) {	/* a trace shorter than one interval */
		r->sum_inuse = fig(fin.heap_inuse_bytes);
		r->sum_ready = fig(fin.ready_bytes);
		r->sum_live = (double)fin.live_bytes;
		r->nsnaps = 1;
	}
	if ((st = emit_snapshot(r, &fin)))
		return st;
	if (r->have_peak_snap && (st = emit_snapshot(r, &r->peak_snap)))
		return st;
	if ((st = emit_class_rows(r)))
		return st;
	summarize(r, sum, wall, cpu);
	return REPLAY_OK;
}

uint64_t replay_snapshot_every(const struct replay_opts *opts, uint64_t events)
{
	return opts->snapshot_every ? opts->snapshot_every
	     : opts->cfg.snapshot_every ? opts->cfg.snapshot_every
	     : replay_auto_snapshot_every(events);
}

/* The core: a heap, its Ps, the counters sampled per op, the sink. */
static enum replay_status setup_go(struct replay *r)
{
	struct sl_heap_config hc;
	char err[1024];

	heap_config(&r->o->cfg, &hc);
	hc.os = r->o->os;
	r->h = sl_heap_new(&hc, err, sizeof err);
	if (!r->h)
		return fail(r, REPLAY_FAILED, "cannot create the heap: %s", err);
	r->nprocs = hc.nprocs;
	for (int i = 0; i < r->nprocs; i++)
		r->ps[i] = sl_heap_p(r->h, i);
	for (int t = 0; t < TID_CACHE; t++)
		r->p_of_tid[t] = r->ps[t % r->nprocs];
	r->clock = sl_heap_clock(r->h);
	sl_heap_counters(r->h, &r->mem);
	if (r->out->sink.emit)
		sl_sink_attach(r->h, r->out->sink);
	return REPLAY_OK;
}

static enum replay_status setup(struct replay *r)
{
	uint64_t events = 0, max_ids = 0;
	enum replay_status st;
	char err[1024];

	if (r->o->first_pass_known) {
		events = r->o->events;
		r->peak_op = r->o->peak_op;
	} else if ((st = replay_first_pass(r->o->trace, &r->o->open, &events, &r->peak_op, r->err, r->errlen))) {
		return st;
	}
	/* A FIFO's open waits for a writer: ^C there interrupts a run of no
	 * operations, which the rest of the set-up still prepares. */
	r->src = slt_open(r->o->trace, &r->o->open, err, sizeof err);
	if (!r->src && !replay_stop)
		return fail(r, open_status(), "%s", err);
	if (r->src && slt_source_counts(r->src, &events, &max_ids) && max_ids && (st = grow_objs(r, max_ids - 1)))
		return st;
	if (!r->bl && (st = setup_go(r)))
		return st;
	/* Scratch for sl_heap_stats: mmap'ed like the object table (and
	 * unused by a baseline, whose malloc it must not touch). */
	r->st = mmap(NULL, sizeof *r->st, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->st == MAP_FAILED) {
		r->st = NULL;
		return fail(r, REPLAY_FAILED, "out of memory");
	}
	r->snap_every = replay_snapshot_every(r->o, events);
	if (!events && !r->o->snapshot_every && !r->o->cfg.snapshot_every)
		r->snaps_to_double = SNAPSHOTS_PER_TRACE;	/* length unknown */
	r->tiny_class = r->o->cfg.tiny ? sl_size_to_class(&r->o->cfg.classes, 16) : UINT32_MAX;
	r->zero_class = r->o->cfg.tiny ? r->tiny_class : sl_size_to_class(&r->o->cfg.classes, 1);
	progress_init(&r->prog, "replay", "ops", events, r->o->quiet);
	r->next_snap = r->snap_every;
	r->next_check = !r->bl && r->o->check && r->o->check_every ? r->o->check_every : UINT64_MAX;
	r->next_progress = r->prog.enabled ? PROGRESS_EVERY : UINT64_MAX;
	r->tick = min_u64(min_u64(r->next_snap, r->next_check), min_u64(r->next_progress, STOP_POLL));
	if (r->peak_op != UINT64_MAX)
		r->tick = min_u64(r->tick, r->peak_op + 1);
	return REPLAY_OK;
}

enum replay_status replay_run(const struct replay_opts *opts, const struct replay_out *out,
			      struct sim_summary *sum, char *err, size_t errlen)
{
	static const struct replay_out none;
	struct replay r = { .o = opts, .out = out ? out : &none, .bl = opts->baseline, .err = err,
			    .errlen = errlen };
	enum replay_status st;

	err[0] = 0;
	if ((st = setup(&r)) == REPLAY_OK) {
		double t0 = now(), c0 = cpu_now();
		st = !r.src ? REPLAY_INTERRUPTED : r.bl ? loop_libc(&r) : loop_go(&r);
		r.read_to_end = st == REPLAY_OK;
		double wall = now() - t0 - r.stats_seconds, cpu = cpu_now() - c0 - r.stats_cpu;
		progress_finish(&r.prog, r.ops);
		if (st == REPLAY_OK || st == REPLAY_INTERRUPTED) {
			enum replay_status fs = finish(&r, sum, wall, cpu);
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
	if (r.objs)
		munmap(r.objs, r.nobjs * sizeof *r.objs);
	if (r.st)
		munmap(r.st, sizeof *r.st);
	return st;
}
