/*
 * The recorder's merger (sim/record_merge.c) on raw rings written by hand,
 * without processes: records of several rings come out in sequence order
 * with dense thread ids; a record only the second read of the heads showed
 * stops the pass; rings wrap through RAW_PAD; realloc pairs keep
 * an address's history in order; the consistency report counts what the
 * records say; RAW_END completes the trace and drops later records; no
 * END leaves it cut short but readable; a newer image of a pid replaces an
 * older one; a ring of a finished image is handed back; and seeded garbage
 * in a ring never crashes the merger, never makes it write a malformed
 * trace and never leaves records unconsumed (which would block a program).
 * Expected traces are written out by each test, event by event.
 *
 * Then: a reused ring padded before its THREAD_START; a full disk (the
 * file size limit) cuts the trace at a whole buffer, and the result counts
 * what the file holds. And the merger with its own shared memory and real
 * processes (forked here, writing records as the recorder does): the first
 * events, written before the merger's first pass, are each stamped; slots
 * and rings left CLAIMED by claimers that died are handed back, and
 * rec_merger_run returns.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "rawtest.h"
#include "record_merge.h"
#include "slt.h"
#include "testlib.h"

/* ---- a hand-written shared memory --------------------------------------- */

static struct raw_hdr *shm_new(uint32_t ring_words)
{
	uint64_t mo, doff, total;
	raw_layout(ring_words, &mo, &doff, &total);
	struct raw_hdr *h = mmap(NULL, total, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(h, MAP_FAILED);
	h->magic = RAW_MAGIC;
	h->version = RAW_VERSION;
	h->ring_words = ring_words;
	h->meta_off = mo;
	h->data_off = doff;
	h->total = total;
	h->epoch = 2;
	return h;
}

static void shm_free(struct raw_hdr *h)
{
	munmap(h, h->total);
}

static void proc_live(struct raw_hdr *h, unsigned slot, int pid, bool root, uint64_t start_tsc)
{
	struct raw_proc *p = &h->procs[slot];
	char meta[64];
	snprintf(meta, sizeof meta, "{\"slot\":%u}", slot);
	memcpy(raw_meta(h, slot), meta, strlen(meta) + 1);
	p->meta_len = (uint32_t)strlen(meta);
	p->pid = pid;
	p->root = root;
	p->start_tsc = start_tsc;
	p->gen++;
	p->state = RAW_LIVE;
	h->claims++;
}

static void ring_live(struct raw_hdr *h, unsigned ring, unsigned slot)
{
	struct raw_ring *r = &h->rings[ring];
	r->proc = slot;
	r->proc_gen = h->procs[slot].gen;
	r->ostid = 1;
	r->state = RAW_LIVE;
	h->claims++;
}

/* Where the producer side writes next (head may lag: unpublished words). */
static uint64_t wpos[RAW_NRINGS];

/* Append one record as the producer would (padding at the ring's end) but
 * without publishing it. */
static void put(struct raw_hdr *h, unsigned ring, uint64_t seq, unsigned op, uint64_t a,
		uint64_t b, uint64_t c, bool stamp, uint64_t tsc)
{
	uint64_t n = h->ring_words, *d = raw_ring_data(h, ring);
	uint64_t idx = wpos[ring] & (n - 1);
	if (n - idx <= RAW_MAXREC) {
		d[idx] = RAW_PAD;
		wpos[ring] += n - idx;
		idx = 0;
	}
	uint64_t *w = d + idx, k = 1, args[3] = { a, b, c };
	for (unsigned i = 0; i < raw_args(op); i++)
		w[k++] = args[i];
	if (stamp)
		w[k++] = tsc;
	w[0] = seq << 8 | op | (stamp ? RAW_TIME : 0);
	wpos[ring] += k;
}

static void publish(struct raw_hdr *h, unsigned ring)
{
	h->rings[ring].head = wpos[ring];
}

static void rec(struct raw_hdr *h, unsigned ring, uint64_t seq, unsigned op, uint64_t a,
		uint64_t b, uint64_t c)
{
	put(h, ring, seq, op, a, b, c, false, 0);
	publish(h, ring);
}

/* ---- reading what came out --------------------------------------------- */

struct ev {
	enum slt_op op;
	uint32_t tid;
	uint64_t id, size, align, ts;
};

struct got {
	struct ev ev[4096];
	size_t n;
	bool complete;
	struct slt_report report;
	char meta[256];
};

static void read_out(const char *path, struct got *g)
{
	char err[512];
	struct slt_source *s = slt_open(path, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	struct slt_event e;
	int rc;
	g->n = 0;
	while ((rc = slt_next(s, &e)) > 0) {
		cr_assert_lt(g->n, 4096);
		g->ev[g->n++] = (struct ev){ e.op, e.tid, e.id, e.size, e.align, e.ts_ns };
	}
	cr_assert_eq(rc, 0, "the merged trace is malformed: %s", slt_error(s));
	g->complete = slt_source_complete(s);
	g->report = *slt_source_report(s);
	snprintf(g->meta, sizeof g->meta, "%s", slt_source_meta(s));
	slt_close(s);
}

static void expect(const struct got *g, const struct ev *want, size_t n)
{
	cr_assert_eq(g->n, n, "%zu events, expected %zu", g->n, n);
	for (size_t i = 0; i < n; i++) {
		const struct ev *a = &g->ev[i], *b = &want[i];
		cr_assert_eq(a->op, b->op, "event %zu: op %d, expected %d", i, a->op, b->op);
		cr_assert_eq(a->tid, b->tid, "event %zu: thread %u, expected %u", i, a->tid, b->tid);
		if (b->op != SLT_THREAD_START && b->op != SLT_THREAD_EXIT)
			cr_assert_eq(a->id, b->id, "event %zu: id %llu, expected %llu", i,
				     (unsigned long long)a->id, (unsigned long long)b->id);
		if (b->op == SLT_MALLOC || b->op == SLT_REALLOC || b->op == SLT_ALIGNED)
			cr_assert_eq(a->size, b->size, "event %zu: size", i);
		if (b->op == SLT_ALIGNED)
			cr_assert_eq(a->align, b->align, "event %zu: align", i);
	}
}

/* Every counter of the trace's report as given (the rest 0). */
static void expect_report(const struct got *g, const struct slt_report *want)
{
#define X(name, doc) \
	cr_assert_eq(g->report.name, want->name, "report: " #name " %llu, expected %llu", \
		     (unsigned long long)g->report.name, (unsigned long long)want->name);
	SLT_REPORT_FIELDS(X)
#undef X
}

struct fixture {
	char *dir;
	char out[4096];
	struct rec_merger *m;
	struct raw_hdr *h;
};

static void fx_start(struct fixture *f, uint32_t ring_words)
{
	memset(wpos, 0, sizeof wpos);
	f->dir = tl_tmpdir();
	snprintf(f->out, sizeof f->out, "%s/t.slt", f->dir);
	f->h = shm_new(ring_words);
}

/* fx_start, and the root process (pid 100) live in slot 0 with ring 0. */
static void fx_start_root(struct fixture *f, uint32_t ring_words)
{
	fx_start(f, ring_words);
	proc_live(f->h, 0, 100, true, 0);
	ring_live(f->h, 0, 0);
}

static void fx_merger(struct fixture *f, struct rec_opts *o)
{
	o->out = f->out;
	f->m = rec_merger_attach(f->h, o);
	cr_assert(f->m);
	rec_merger_set_tsc_scale(f->m, 1ull << 32);
	/* The first pass attaches the slots and rings: what they hold was
	 * not seen by its first read of the heads, so it emits nothing. */
	cr_assert_eq(rec_merger_pass(f->m), 0, "a new ring's records wait one pass");
}

/* One pass over what the rings hold, the process then dead: its trace
 * read back. */
static struct got *fx_drain(struct fixture *f)
{
	rec_merger_pass(f->m);
	rec_merger_proc_dead(f->m, 0);
	struct got *g = malloc(sizeof *g);
	read_out(f->out, g);
	return g;
}

static void fx_end(struct fixture *f)
{
	rec_merger_free(f->m);
	shm_free(f->h);
	tl_tmpdir_remove(f->dir);
}

/* What the merger says on stderr (a broken trace's line) between begin
 * and end, as a malloc'ed string. */
struct capture {
	int saved;
	char path[4200];
};

static void capture_begin(struct capture *c, const struct fixture *f)
{
	snprintf(c->path, sizeof c->path, "%s/stderr", f->dir);
	fflush(stderr);
	c->saved = dup(2);
	int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(c->saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
}

static char *capture_end(struct capture *c)
{
	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	char *text = tl_read_file(c->path, NULL);
	cr_assert(text);
	return text;
}

/* Merge f's rings, expecting the trace to break: the line it gets
 * (docs/errors.md, rec-raw-*), once, and the trace left cut short with
 * the records before the break. meddle, if given, runs once the merger
 * has started (to corrupt what it reads next). */
static struct got *drain_broken(struct fixture *f, struct rec_opts *o, const char *what,
				void (*meddle)(struct fixture *))
{
	struct capture cap;
	char want[4400];
	capture_begin(&cap, f);
	fx_merger(f, o);
	if (meddle)
		meddle(f);
	struct got *g = fx_drain(f);
	char *said = capture_end(&cap);
	snprintf(want, sizeof want, "spanlab record: %s: %s; the trace stops here\n", f->out, what);
	cr_assert_str_eq(said, want);
	free(said);
	cr_assert(!g->complete, "a broken trace must be left cut short");
	return g;
}

#define TS(t) { SLT_THREAD_START, t, 0, 0, 0, 0 }
#define TX(t) { SLT_THREAD_EXIT, t, 0, 0, 0, 0 }
#define M(t, id, sz) { SLT_MALLOC, t, id, sz, 0, 0 }
#define R(t, id, sz) { SLT_REALLOC, t, id, sz, 0, 0 }
#define F(t, id) { SLT_FREE, t, id, 0, 0, 0 }
#define A(t, id, sz, al) { SLT_ALIGNED, t, id, sz, al, 0 }

/* ---- the tests ------------------------------------------------------------ */

Test(record_merge, rings_merge_in_sequence_order)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start_root(&f, 1024);
	ring_live(f.h, 1, 0);
	/* Thread A mallocs a, B mallocs b, B frees a, A frees b. */
	rec(f.h, 0, 1, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 1, 2, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 0, 3, RAW_MALLOC, 0xa0, 100, 0);
	rec(f.h, 1, 4, RAW_MALLOC, 0xb0, 200, 0);
	rec(f.h, 1, 5, RAW_FREE, 0xa0, 0, 0);
	rec(f.h, 0, 6, RAW_FREE, 0xb0, 0, 0);
	rec(f.h, 1, 7, RAW_THREAD_EXIT, 0, 0, 0);
	rec(f.h, 0, 8, RAW_END, 0, 0, 0);
	fx_merger(&f, &o);
	cr_assert_eq(rec_merger_pass(f.m), 8);
	rec_merger_proc_dead(f.m, 0);
	struct got *g = malloc(sizeof *g);
	read_out(f.out, g);
	static const struct ev want[] = {
		TS(0), TS(1), M(0, 0, 100), M(1, 1, 200), F(1, 0), F(0, 1), TX(1),
	};
	expect(g, want, sizeof want / sizeof want[0]);
	cr_assert(g->complete, "RAW_END must complete the trace");
	cr_assert_eq(slt_report_inconsistencies(&g->report), 0);
	cr_assert(strstr(g->meta, "\"slot\":0"), "metadata: %s", g->meta);
	const struct rec_result *res;
	cr_assert_eq(rec_merger_results(f.m, &res), 1);
	cr_assert(res[0].root && res[0].complete);
	cr_assert_eq(res[0].events, 7);
	cr_assert_eq(res[0].threads, 2);
	free(g);
	fx_end(&f);
}

/* Ring 1's seq 3 is published after the first read of the heads: the pass
 * must stop before it (it could depend on a record not yet seen), and not
 * run ahead to seq 4 of ring 0. */
struct late {
	struct raw_hdr *h;
	int calls;
};

static void publish_late(void *ctx)
{
	struct late *l = ctx;
	if (l->calls++ == 1)	/* the pass after the one that attached */
		publish(l->h, 1);
}

Test(record_merge, pass_stops_at_a_record_only_the_second_read_saw)
{
	struct fixture f;
	fx_start(&f, 1024);
	struct late l = { f.h, 0 };
	struct rec_opts o = { .between_reads = publish_late, .between_ctx = &l };
	proc_live(f.h, 0, 100, true, 0);
	ring_live(f.h, 0, 0);
	ring_live(f.h, 1, 0);
	rec(f.h, 0, 1, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 1, 2, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 0, 4, RAW_MALLOC, 0xa0, 100, 0);
	put(f.h, 1, 3, RAW_MALLOC, 0xb0, 200, 0, false, 0);	/* written, not yet published */
	fx_merger(&f, &o);
	cr_assert_eq(rec_merger_pass(f.m), 2, "only seq 1 and 2 may go out in the first pass");
	cr_assert_eq(rec_merger_pass(f.m), 2, "then seq 3 and 4, in that order");
	rec_merger_proc_dead(f.m, 0);
	struct got *g = malloc(sizeof *g);
	read_out(f.out, g);
	static const struct ev want[] = { TS(0), TS(1), M(1, 0, 200), M(0, 1, 100) };
	expect(g, want, 4);
	cr_assert(!g->complete, "no RAW_END: cut short");
	free(g);
	fx_end(&f);
}

/* A 64-word ring wraps dozens of times through RAW_PAD; stamped records
 * set the time (scale 1: a TSC tick is a ns; tick 1 us). */
Test(record_merge, small_ring_wraps_and_time_follows_stamps)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start(&f, 64);
	proc_live(f.h, 0, 100, true, 1000);
	ring_live(f.h, 0, 0);
	fx_merger(&f, &o);
	static struct ev want[4096];
	size_t nw = 0;
	uint64_t seq = 1, tsc = 1000, live = 0;
	rec(f.h, 0, seq++, RAW_THREAD_START, 0, 0, 0);
	want[nw++] = (struct ev)TS(0);
	for (int round = 0; round < 300; round++) {
		/* Up to 8 records per round: fewer than fit in 64 words. */
		for (int k = 0; k < 8; k++) {
			bool stamp = (seq % 3) == 0;
			tsc += 1500;
			if (live < 4) {
				put(f.h, 0, seq++, RAW_MALLOC, 0x1000 + 16 * live, 24 + live, 0, stamp, tsc);
				want[nw++] = (struct ev)M(0, live, 24 + live);
				live++;
			} else {
				live--;
				put(f.h, 0, seq++, RAW_FREE, 0x1000 + 16 * live, 0, 0, stamp, tsc);
				want[nw++] = (struct ev)F(0, live);
			}
			if (stamp)
				want[nw - 1].ts = (tsc - 1000) / 1000 * 1000;
			else
				want[nw - 1].ts = nw > 1 ? want[nw - 2].ts : 0;
		}
		publish(f.h, 0);
		rec_merger_pass(f.m);
		cr_assert_eq(f.h->rings[0].tail, f.h->rings[0].head, "round %d: not drained", round);
	}
	cr_assert_gt(wpos[0], 30 * 64, "the ring should have wrapped many times");
	rec_merger_proc_dead(f.m, 0);
	struct got *g = malloc(sizeof *g);
	read_out(f.out, g);
	expect(g, want, nw);
	for (size_t i = 1; i < nw; i++)
		cr_assert_eq(g->ev[i].ts, want[i].ts, "event %zu: time %llu, expected %llu", i,
			     (unsigned long long)g->ev[i].ts, (unsigned long long)want[i].ts);
	free(g);
	fx_end(&f);
}

/* A threaded realloc moves p to q; between RAW_OUT and RAW_IN thread B is
 * handed p: p must be a new object, not a double allocation. Then the
 * report's counters, each provoked once. */
Test(record_merge, threaded_realloc_and_the_report)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start_root(&f, 1024);
	ring_live(f.h, 1, 0);
	uint64_t s = 1;
	rec(f.h, 0, s++, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 1, s++, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 0, s++, RAW_MALLOC, 0x100, 100, 0);		/* id 0 */
	rec(f.h, 0, s++, RAW_OUT, 0x100, 300, 0);		/* realloc(0x100, 300) begins */
	rec(f.h, 1, s++, RAW_MALLOC, 0x100, 50, 0);		/* B gets the old address: id 1 */
	rec(f.h, 0, s++, RAW_IN, 0x200, 0, 0);			/* ... ends at 0x200: id 0 */
	rec(f.h, 1, s++, RAW_FREE, 0x200, 0, 0);		/* B frees A's moved object */
	rec(f.h, 0, s++, RAW_FREE, 0x100, 0, 0);		/* A frees B's */
	rec(f.h, 0, s++, RAW_MALLOC, 0x300, 70, 0);		/* id 1 (LIFO) */
	rec(f.h, 0, s++, RAW_OUT, 0x300, 700, 0);
	rec(f.h, 0, s++, RAW_IN, 0, 0, 0);			/* failed: 0x300 keeps id 1 */
	rec(f.h, 0, s++, RAW_OUT, 0x300, 0, 0);			/* realloc(p, 0): a free */
	rec(f.h, 0, s++, RAW_OUT, 0x999, 80, 0);		/* unknown: a malloc, id 1 */
	rec(f.h, 0, s++, RAW_IN, 0x400, 0, 0);
	rec(f.h, 0, s++, RAW_FREE, 0x777, 0, 0);		/* unknown free */
	rec(f.h, 0, s++, RAW_MALLOC, 0x400, 90, 0);		/* 0x400 again: old freed first */
	rec(f.h, 0, s++, RAW_ALIGNED, 0x500, 64, 24);		/* 24 is no power of two */
	rec(f.h, 0, s++, RAW_MALLOC, 0, 1u << 30, 0);		/* failed */
	rec(f.h, 0, s++, RAW_OUT, 0x500, 128, 0);		/* realloc(0x500, 128) to 0x600 */
	rec(f.h, 0, s++, RAW_IN, 0x600, 0, 0);
	rec(f.h, 0, s++, RAW_END, 0, 0, 0);
	fx_merger(&f, &o);
	struct got *g = fx_drain(&f);
	static const struct ev want[] = {
		TS(0), TS(1), M(0, 0, 100), M(1, 1, 50), R(0, 0, 300), F(1, 0), F(0, 1),
		M(0, 1, 70), F(0, 1), M(0, 1, 80), F(0, 1), M(0, 1, 90), A(0, 0, 64, 32),
		R(0, 0, 128),
	};
	expect(g, want, sizeof want / sizeof want[0]);
	cr_assert(g->complete);
	expect_report(g, &(struct slt_report){ .double_allocs = 1, .unknown_frees = 1, .realloc_zero = 1,
					       .realloc_unknown = 1, .lost_alignment = 1, .failed_allocs = 2 });
	free(g);
	fx_end(&f);
}

/* A signal handler that reallocs between a realloc's RAW_OUT
 * and RAW_IN writes its own pair into the same ring, nested inside: both
 * reallocs are kept. Nine deep (one past the merger's stack), the
 * innermost pair is not recorded, counted, and its object keeps its
 * old address. A RAW_IN with no RAW_OUT before it in its ring is counted
 * too. */
Test(record_merge, reallocs_nested_in_a_realloc_gap)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start_root(&f, 1024);
	uint64_t s = 1;
	rec(f.h, 0, s++, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 0, s++, RAW_MALLOC, 0x100, 100, 0);		/* id 0 */
	rec(f.h, 0, s++, RAW_MALLOC, 0x200, 200, 0);		/* id 1 */
	rec(f.h, 0, s++, RAW_OUT, 0x100, 300, 0);		/* realloc(0x100, 300) begins */
	rec(f.h, 0, s++, RAW_OUT, 0x200, 500, 0);		/* a handler's realloc(0x200, 500) */
	rec(f.h, 0, s++, RAW_IN, 0x300, 0, 0);			/* ... ends at 0x300 */
	rec(f.h, 0, s++, RAW_IN, 0x400, 0, 0);			/* the first ends at 0x400 */
	rec(f.h, 0, s++, RAW_FREE, 0x300, 0, 0);
	rec(f.h, 0, s++, RAW_FREE, 0x400, 0, 0);
	for (unsigned i = 0; i < 9; i++)			/* ids 0, 1, ... 8 */
		rec(f.h, 0, s++, RAW_MALLOC, 0x1000 + 0x10 * i, 10 + i, 0);
	for (unsigned i = 0; i < 9; i++)
		rec(f.h, 0, s++, RAW_OUT, 0x1000 + 0x10 * i, 100 + i, 0);
	for (unsigned i = 9; i-- > 0;)
		rec(f.h, 0, s++, RAW_IN, 0x2000 + 0x10 * i, 0, 0);
	rec(f.h, 0, s++, RAW_FREE, 0x1080, 0, 0);		/* the unrecorded one's old address */
	rec(f.h, 0, s++, RAW_IN, 0x3000, 0, 0);			/* no RAW_OUT here: a fork in a gap */
	rec(f.h, 0, s++, RAW_END, 0, 0, 0);
	fx_merger(&f, &o);
	struct got *g = fx_drain(&f);
	static const struct ev want[] = {
		TS(0), M(0, 0, 100), M(0, 1, 200), R(0, 1, 500), R(0, 0, 300), F(0, 1), F(0, 0),
		M(0, 0, 10), M(0, 1, 11), M(0, 2, 12), M(0, 3, 13), M(0, 4, 14), M(0, 5, 15), M(0, 6, 16),
		M(0, 7, 17), M(0, 8, 18),
		R(0, 7, 107), R(0, 6, 106), R(0, 5, 105), R(0, 4, 104), R(0, 3, 103), R(0, 2, 102),
		R(0, 1, 101), R(0, 0, 100), F(0, 8),
	};
	expect(g, want, sizeof want / sizeof want[0]);
	cr_assert(g->complete);
	expect_report(g, &(struct slt_report){ .lost_results = 2 });
	free(g);
	fx_end(&f);
}

/* Other threads may still allocate while one runs exit: records numbered
 * after RAW_END are dropped, earlier ones kept even if they come later. */
Test(record_merge, records_after_end_are_dropped)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start_root(&f, 1024);
	ring_live(f.h, 1, 0);
	rec(f.h, 0, 1, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 0, 2, RAW_MALLOC, 0xa0, 10, 0);
	rec(f.h, 0, 4, RAW_END, 0, 0, 0);
	fx_merger(&f, &o);
	rec_merger_pass(f.m);
	/* Thread B took 3 before END and publishes it only now, then 5. */
	rec(f.h, 1, 3, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 1, 5, RAW_MALLOC, 0xb0, 20, 0);
	rec_merger_proc_dead(f.m, 0);
	struct got *g = malloc(sizeof *g);
	read_out(f.out, g);
	static const struct ev want[] = { TS(0), M(0, 0, 10), TS(1) };
	expect(g, want, 3);
	cr_assert(g->complete);
	cr_assert_eq(rec_merger_after_end(f.m), 1);
	free(g);
	fx_end(&f);
}

/* Op 5, a realloc in one record before raw version 2, is malformed now:
 * the trace stops before it, cut short, and nothing after it is read. */
Test(record_merge, the_retired_one_record_realloc_stops_the_trace)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start_root(&f, 1024);
	rec(f.h, 0, 1, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 0, 2, RAW_MALLOC, 0xa0, 10, 0);
	rec(f.h, 0, 3, RAW_OP5_GONE, 0xa0, 0xb0, 20);
	rec(f.h, 0, 4, RAW_MALLOC, 0xc0, 30, 0);
	rec(f.h, 0, 5, RAW_END, 0, 0, 0);
	struct got *g = drain_broken(&f, &o, "a malformed raw record", NULL);
	static const struct ev want[] = { TS(0), M(0, 0, 10) };
	expect(g, want, 2);
	free(g);
	fx_end(&f);
}

/* A ring's first record must be its thread's THREAD_START: a ring that
 * starts otherwise stops the trace before it (rec-raw-start). */
Test(record_merge, a_ring_without_thread_start_stops_the_trace)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start_root(&f, 1024);
	rec(f.h, 0, 1, RAW_MALLOC, 0xa0, 10, 0);
	rec(f.h, 0, 2, RAW_END, 0, 0, 0);
	struct got *g = drain_broken(&f, &o, "a ring without THREAD_START", NULL);
	expect(g, NULL, 0);
	cr_assert_eq(f.h->rings[0].tail, f.h->rings[0].head, "the ring is drained all the same");
	free(g);
	fx_end(&f);
}

/* Two rings whose next records carry one number: which came first cannot
 * be known, so the trace stops before both (rec-raw-seq). */
Test(record_merge, two_records_with_one_number_stop_the_trace)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start_root(&f, 1024);
	ring_live(f.h, 1, 0);
	rec(f.h, 0, 1, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 1, 2, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 0, 3, RAW_MALLOC, 0xa0, 10, 0);
	rec(f.h, 1, 3, RAW_MALLOC, 0xb0, 20, 0);
	struct got *g = drain_broken(&f, &o, "two records with one sequence number", NULL);
	static const struct ev want[] = { TS(0), TS(1) };
	expect(g, want, 2);
	for (unsigned r = 0; r < 2; r++)
		cr_assert_eq(f.h->rings[r].tail, f.h->rings[r].head, "ring %u is drained all the same", r);
	free(g);
	fx_end(&f);
}

static void head_past_a_ring(struct fixture *f)
{
	f->h->rings[0].head = f->h->rings[0].tail + 64 + 1;
}

/* A head more than a ring ahead of the merger's tail (no producer gets
 * there): nothing of the ring is read, the trace stops (rec-raw-head). */
Test(record_merge, a_head_out_of_range_stops_the_trace)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start_root(&f, 64);
	rec(f.h, 0, 1, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 0, 2, RAW_MALLOC, 0xa0, 10, 0);
	struct got *g = drain_broken(&f, &o, "a ring's head is out of range", head_past_a_ring);
	expect(g, NULL, 0);
	free(g);
	fx_end(&f);
}

/* exec: a second image of pid 100 (later start) replaces the first, even
 * when it sits in a lower slot; its ring is handed back. A ring claimed
 * for an image that is gone (stale gen) is handed back unread. A non-root
 * process writes OUT-base.PID.slt. */
Test(record_merge, exec_replaces_image_and_children_get_their_own_file)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start(&f, 1024);
	proc_live(f.h, 1, 100, true, 10);	/* the old image */
	ring_live(f.h, 0, 1);
	rec(f.h, 0, 1, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 0, 2, RAW_MALLOC, 0xa0, 11, 0);
	proc_live(f.h, 0, 100, true, 20);	/* the new image, lower slot */
	ring_live(f.h, 1, 0);
	rec(f.h, 1, 1, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 1, 2, RAW_MALLOC, 0xa0, 22, 0);
	rec(f.h, 1, 3, RAW_END, 0, 0, 0);
	proc_live(f.h, 2, 200, false, 30);	/* a child */
	ring_live(f.h, 2, 2);
	rec(f.h, 2, 1, RAW_THREAD_START, 0, 0, 0);
	rec(f.h, 2, 2, RAW_CALLOC, 0xc0, 33, 0);
	rec(f.h, 2, 3, RAW_END, 0, 0, 0);
	ring_live(f.h, 3, 2);
	f.h->rings[3].proc_gen = 0;		/* claimed for an earlier process in slot 2 */
	fx_merger(&f, &o);
	rec_merger_pass(f.m);
	cr_assert_eq(f.h->procs[1].state, RAW_FREE_SLOT, "the replaced image's slot is free");
	cr_assert_eq(f.h->rings[0].state, RAW_FREE_SLOT, "and so is its ring");
	cr_assert_eq(f.h->rings[3].state, RAW_FREE_SLOT, "a stale ring is handed back");
	rec_merger_proc_dead(f.m, 0);
	rec_merger_proc_dead(f.m, 2);
	struct got *g = malloc(sizeof *g);
	read_out(f.out, g);
	static const struct ev root[] = { TS(0), M(0, 0, 22) };
	expect(g, root, 2);
	cr_assert(strstr(g->meta, "\"slot\":0"), "the newer image's metadata: %s", g->meta);
	char child[4200];
	snprintf(child, sizeof child, "%s/t.200.slt", f.dir);
	read_out(child, g);
	static const struct ev kid[] = { TS(0), { SLT_CALLOC, 0, 0, 33, 0, 0 } };
	expect(g, kid, 2);
	cr_assert(g->complete);
	const struct rec_result *res;
	cr_assert_eq(rec_merger_results(f.m, &res), 2, "the replaced image is no result");
	free(g);
	fx_end(&f);
}

/* Seeded garbage: records with random (also invalid) ops, addresses from
 * a small pool, random stamps and pads, several rings. Whatever the rings
 * say, the merger must not crash and its trace must read back cleanly. */
Test(record_merge, garbage_in_rings_never_breaks_the_trace, .timeout = 60)
{
	uint64_t seed = tl_seed("record_merge::garbage_in_rings_never_breaks_the_trace");
	srandom((unsigned)seed);
	for (int trial = 0; trial < 40; trial++) {
		struct fixture f;
		struct rec_opts o = { 0 };
		fx_start(&f, 256);
		proc_live(f.h, 0, 100, true, 0);
		fx_merger(&f, &o);
		unsigned nr = 1 + (unsigned)(random() % 4);
		uint64_t seq = 1;
		for (unsigned r = 0; r < nr; r++) {
			ring_live(f.h, r, 0);
			rec(f.h, r, seq++, trial % 7 ? RAW_THREAD_START : RAW_MALLOC, 0x10, 1, 0);
		}
		for (int step = 0; step < 200; step++) {
			unsigned r = (unsigned)(random() % nr);
			int kind = (int)(random() % 100);
			if (kind < 3) {	/* raw garbage word */
				uint64_t *d = raw_ring_data(f.h, r);
				d[wpos[r] & 255] = (uint64_t)random() << 32 | (uint64_t)random();
				wpos[r]++;
			} else {
				unsigned op = 1 + (unsigned)(random() % (RAW_NOPS - 1));
				if (op == RAW_PAD)
					op = RAW_FREE;
				uint64_t addr = (uint64_t)(random() % 8) * 16, v = (uint64_t)random();
				uint64_t s = kind < 10 ? (uint64_t)random() % (seq + 5) : seq++;
				put(f.h, r, s, op, addr, v % 3 ? v % 4096 : 0, v % 5 == 0 ? 24 : 64,
				    v % 4 == 0, v);
			}
			if (random() % 4 == 0)
				publish(f.h, r);
			if (random() % 8 == 0)
				rec_merger_pass(f.m);
		}
		for (unsigned r = 0; r < nr; r++)
			publish(f.h, r);
		rec_merger_pass(f.m);
		rec_merger_pass(f.m);
		for (unsigned r = 0; r < nr; r++)	/* a producer would wait on it forever */
			cr_assert_eq(f.h->rings[r].tail, f.h->rings[r].head,
				     "trial %d: ring %u left unconsumed", trial, r);
		rec_merger_proc_dead(f.m, 0);
		struct got *g = malloc(sizeof *g);
		read_out(f.out, g);	/* asserts a clean read */
		free(g);
		fx_end(&f);
	}
}

/* A reused ring whose head lies within RAW_MAXREC of its lap's end: the
 * thread pads before its THREAD_START. The single-ring path must skip the
 * pad as the multi-ring one does. */
Test(record_merge, single_ring_pads_before_thread_start)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start(&f, 64);
	proc_live(f.h, 0, 100, true, 0);
	wpos[0] = 64 - 3;	/* where the ring's last thread left it */
	f.h->rings[0].head = f.h->rings[0].tail = wpos[0];
	ring_live(f.h, 0, 0);
	rec(f.h, 0, 1, RAW_THREAD_START, 0, 0, 0);	/* RAW_PAD, then the record */
	rec(f.h, 0, 2, RAW_MALLOC, 0xa0, 10, 0);
	rec(f.h, 0, 3, RAW_END, 0, 0, 0);
	cr_assert_eq(f.h->rings[0].head, 64 + 5, "the producer padded");
	fx_merger(&f, &o);
	cr_assert_eq(rec_merger_pass(f.m), 3);
	rec_merger_proc_dead(f.m, 0);
	struct got *g = malloc(sizeof *g);
	read_out(f.out, g);
	static const struct ev want[] = { TS(0), M(0, 0, 10) };
	expect(g, want, 2);
	cr_assert(g->complete);
	free(g);
	fx_end(&f);
}

/* A full disk (here the file size limit) in the middle of a trace: the
 * file is cut back to its last whole buffer, reads cleanly, and the result
 * says why and counts the events the file holds, not those merged. */
Test(record_merge, a_full_disk_cuts_the_trace_at_a_whole_buffer, .timeout = 60)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start_root(&f, 1024);
	fx_merger(&f, &o);
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 100003;	/* the header and one 64 KiB buffer fit, not two */
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	uint64_t seq = 1;
	rec(f.h, 0, seq++, RAW_THREAD_START, 0, 0, 0);
	for (int i = 0; i < 100000; i++) {	/* ~2.5 bytes each: three buffers */
		rec(f.h, 0, seq++, RAW_MALLOC, 0x1000, 16 + (uint64_t)(i * 7919 % 500), 0);
		rec(f.h, 0, seq++, RAW_FREE, 0x1000, 0, 0);
		if (i % 64 == 63)
			rec_merger_pass(f.m);
	}
	rec(f.h, 0, seq++, RAW_END, 0, 0, 0);
	rec_merger_pass(f.m);
	rec_merger_pass(f.m);
	cr_assert_eq(f.h->rings[0].tail, f.h->rings[0].head, "a full disk must not block the program");
	rec_merger_proc_dead(f.m, 0);
	setrlimit(RLIMIT_FSIZE, &old);
	const struct rec_result *res;
	cr_assert_eq(rec_merger_results(f.m, &res), 1);
	cr_assert_eq(res[0].err, EFBIG, "err %d", res[0].err);
	cr_assert(!res[0].complete);
	struct stat st;
	cr_assert_eq(stat(f.out, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, res[0].bytes, "the file is what the result says");
	cr_assert_lt(st.st_size, 100003);
	char err[512];
	struct slt_source *src = slt_open(f.out, NULL, err, sizeof err);
	cr_assert(src, "%s", err);
	struct slt_event e;
	uint64_t n = 0;
	int rc;
	while ((rc = slt_next(src, &e)) > 0)
		n++;
	cr_assert_eq(rc, 0, "the file must read to its end: %s", slt_error(src));
	cr_assert(!slt_source_complete(src));
	slt_close(src);
	cr_assert_gt(n, 1000);
	cr_assert_eq(res[0].events, n, "result %llu events, file %llu",
		     (unsigned long long)res[0].events, (unsigned long long)n);
	fx_end(&f);
}

/* ---- the merger's own memory, written by forked processes ------------ */

/* The merger's shared memory as a program maps it. */
static struct raw_hdr *map_shm(int fd)
{
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	struct raw_hdr *h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(h, MAP_FAILED);
	return h;
}

/* What a producer does when it claims (preload.c claim_proc, thread_start):
 * CAS a free slot or ring to CLAIMED, then (if `id`) write its pid or tid,
 * then (if `live`) the rest and LIVE. Returns the index. */
static unsigned claim_slot(struct raw_hdr *h, bool root, bool id, bool live)
{
	for (unsigned i = 0; i < RAW_NPROCS; i++) {
		struct raw_proc *s = &h->procs[i];
		uint32_t want = RAW_FREE_SLOT;
		if (!__atomic_compare_exchange_n(&s->state, &want, RAW_CLAIMED, false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		if (id)
			s->pid = getpid();
		if (live) {
			s->root = root;
			memcpy(raw_meta(h, i), "{}", 3);
			s->meta_len = 2;
			s->start_tsc = __rdtsc();
			s->gen++;
			__atomic_store_n(&s->state, RAW_LIVE, __ATOMIC_RELEASE);
		}
		__atomic_fetch_add(&h->claims, 1, __ATOMIC_RELEASE);
		return i;
	}
	abort();
}

static unsigned claim_ring(struct raw_hdr *h, unsigned slot, bool id, bool live)
{
	for (unsigned i = 0; i < RAW_NRINGS; i++) {
		struct raw_ring *r = &h->rings[i];
		uint32_t want = RAW_FREE_SLOT;
		if (!__atomic_compare_exchange_n(&r->state, &want, RAW_CLAIMED, false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		r->proc = slot;
		r->proc_gen = h->procs[slot].gen;
		if (id)
			r->ostid = (int32_t)syscall(SYS_gettid);
		if (live)
			__atomic_store_n(&r->state, RAW_LIVE, __ATOMIC_RELEASE);
		__atomic_fetch_add(&h->claims, 1, __ATOMIC_RELEASE);
		return i;
	}
	abort();
}

/* A thread writing its ring as preload.c's rec_body does, with its
 * stamping rule: a TSC word when the merger's epoch changed since the last
 * stamp or every RAW_STAMP_EVERY events. (These run in forked processes:
 * they abort rather than assert.) */
struct producer {
	struct raw_hdr *h;
	unsigned ring;
	uint64_t pos, seq;
	uint32_t epoch, countdown;
};

static void produce(struct producer *p, unsigned op, uint64_t a, uint64_t b)
{
	uint64_t n = p->h->ring_words, *d = raw_ring_data(p->h, p->ring);
	uint64_t idx = p->pos & (n - 1), *w = d + idx, k = 1;
	if (p->pos + RAW_MAXREC >= n)
		abort();	/* these processes stay within a ring's first lap */
	if (raw_args(op) > 0)
		w[k++] = a;
	if (raw_args(op) > 1)
		w[k++] = b;
	uint32_t e = __atomic_load_n(&p->h->epoch, __ATOMIC_RELAXED);
	if (e != p->epoch || --p->countdown == 0) {
		w[k++] = __rdtsc();
		op |= RAW_TIME;
		p->countdown = RAW_STAMP_EVERY;
		p->epoch = e & ~1u;
	}
	w[0] = p->seq++ << 8 | op;
	p->pos += k;
	__atomic_store_n(&p->h->rings[p->ring].head, p->pos, __ATOMIC_RELEASE);
}

/* A recorded process: its slot and first ring, LIVE, and THREAD_START. */
static void start_process(struct producer *p, struct raw_hdr *h, bool root)
{
	memset(p, 0, sizeof *p);
	p->h = h;
	p->seq = 1;
	p->countdown = 1;
	unsigned slot = claim_slot(h, root, true, true);
	p->ring = claim_ring(h, slot, true, true);
	produce(p, RAW_THREAD_START, 0, 0);
}

static void busy_us(unsigned us)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000ll + (b.tv_nsec - a.tv_nsec) < us * 1000ll);
}

struct real {
	char *dir;
	char out[4096];
	struct rec_merger *m;
	struct raw_hdr *h;
	int shm_fd;
};

static void real_start(struct real *r, bool children)
{
	char err[512];
	r->dir = tl_tmpdir();
	snprintf(r->out, sizeof r->out, "%s/t.slt", r->dir);
	struct rec_opts o = { .out = r->out, .children = children };
	r->m = rec_merger_new(&o, &r->shm_fd, err, sizeof err);
	cr_assert(r->m, "%s", err);
	r->h = map_shm(r->shm_fd);
}

/* Run the merger until root and every recorded process are done. */
static int real_run(struct real *r, pid_t root)
{
	char err[512];
	int status = -1;
	struct rusage ru;
	cr_assert_eq(rec_merger_run(r->m, root, &status, &ru, err, sizeof err), 0, "%s", err);
	return status;
}

static void real_end(struct real *r)
{
	munmap(r->h, r->h->total);
	rec_merger_free(r->m);
	tl_tmpdir_remove(r->dir);
}

/* The merger sleeps over its first millisecond (TSC calibration) before
 * its first pass: a program's first events, written meanwhile, must each
 * get a time stamp, not one in RAW_STAMP_EVERY. Here they are all written
 * before rec_merger_run starts, 100 us apart. */
Test(record_merge, first_events_are_stamped_before_the_first_pass, .timeout = 60)
{
	struct real r;
	real_start(&r, false);
	int ready[2];
	cr_assert_eq(pipe(ready), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct producer p;
		start_process(&p, r.h, true);
		for (int i = 0; i < 15; i++) {
			busy_us(100);
			produce(&p, RAW_MALLOC, 0x1000 + 64 * (uint64_t)i, 100 + (uint64_t)i);
		}
		produce(&p, RAW_END, 0, 0);
		char c = 1;
		_exit(write(ready[1], &c, 1) == 1 ? 0 : 1);
	}
	close(ready[1]);
	char c;
	cr_assert_eq(read(ready[0], &c, 1), 1, "the producer failed");
	close(ready[0]);
	cr_assert_eq(real_run(&r, pid), 0);
	struct got *g = malloc(sizeof *g);
	read_out(r.out, g);
	cr_assert(g->complete);
	cr_assert_eq(g->n, 16, "THREAD_START and 15 mallocs, got %zu events", g->n);
	for (size_t i = 2; i < g->n; i++)
		cr_assert_gt(g->ev[i].ts, g->ev[i - 1].ts,
			     "malloc %zu at %llu ns, malloc %zu at %llu: 100 us apart, one stamp", i - 1,
			     (unsigned long long)g->ev[i].ts, i - 2, (unsigned long long)g->ev[i - 1].ts);
	free(g);
	real_end(&r);
}

/* A process killed between claiming a slot or ring (the CAS) and making it
 * LIVE leaves it CLAIMED; the merger must hand it back and, once every
 * recorded process is gone, return. The root leaves a slot and a ring
 * claimed without an id (killed before writing its pid or tid) and exits:
 * rec_merger_run must return (it waited forever). */
Test(record_merge, claims_of_a_dead_root_are_handed_back, .timeout = 60)
{
	struct real r;
	real_start(&r, false);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct producer p;
		start_process(&p, r.h, true);
		produce(&p, RAW_MALLOC, 0x1000, 10);
		claim_slot(r.h, true, false, false);
		claim_ring(r.h, 0, false, false);
		kill(getpid(), SIGKILL);
	}
	int status = real_run(&r, pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %d", status);
	for (unsigned i = 0; i < RAW_NPROCS; i++)
		cr_assert_eq(r.h->procs[i].state, RAW_FREE_SLOT, "slot %u", i);
	for (unsigned i = 0; i < RAW_NRINGS; i++)
		cr_assert_eq(r.h->rings[i].state, RAW_FREE_SLOT, "ring %u", i);
	const struct rec_result *res;
	cr_assert_eq(rec_merger_results(r.m, &res), 1);
	cr_assert_eq(res[0].events, 2, "THREAD_START and the malloc");
	real_end(&r);
}

/* A child that claims (as claim_slot or claim_ring: kind 0 a slot with
 * its pid, 1 a ring with its tid, 2 a slot without its pid) and is killed
 * before it makes the claim LIVE. Returns the index, or -1. */
static int claim_and_die(struct raw_hdr *h, int kind, unsigned owner)
{
	int up[2];
	unsigned v;
	if (pipe(up) < 0)
		return -1;
	pid_t c = fork();
	if (c == 0) {
		v = kind == 0 ? claim_slot(h, false, true, false)
			      : kind == 1 ? claim_ring(h, owner, true, false) : claim_slot(h, false, false, false);
		if (write(up[1], &v, sizeof v) != sizeof v)
			_exit(1);
		kill(getpid(), SIGKILL);
	}
	close(up[1]);
	bool ok = c > 0 && read(up[0], &v, sizeof v) == sizeof v && waitpid(c, NULL, 0) == c;
	close(up[0]);
	return ok ? (int)v : -1;
}

/* The root of claims_of_dead_children_are_handed_back; its exit status
 * says what it saw. */
static int watch_reclaim(struct raw_hdr *h)
{
	unsigned mine = claim_slot(h, false, true, false);	/* alive: kept */
	int slot = claim_and_die(h, 0, 0), ring = claim_and_die(h, 1, mine);
	if (slot < 0 || ring < 0)
		return 10;
	/* The dead claimers' slot and ring come back within 20 s. */
	int rc = raw_wait_handed_back(h, (unsigned)slot, (unsigned)ring);
	if (rc)
		return rc;
	if (h->procs[mine].state != RAW_CLAIMED)
		return 4;	/* its claimer is alive */
	return claim_and_die(h, 2, 0) < 0 ? 10 : 0;	/* freed once all are gone */
}

/* With --children: a child killed after writing its pid into a claimed
 * slot, and one after writing its tid into a claimed ring, have their
 * claims handed back while the root still runs (the root watches for it;
 * a slot claimed by the root itself, alive, must stay claimed meanwhile).
 * A child that dies before writing its pid leaves a claim that only the
 * end of every process frees; then rec_merger_run returns. */
Test(record_merge, claims_of_dead_children_are_handed_back, .timeout = 60)
{
	struct real r;
	real_start(&r, true);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct producer p;
		start_process(&p, r.h, true);
		int rc = watch_reclaim(r.h);
		produce(&p, RAW_END, 0, 0);
		_exit(rc);
	}
	int status = real_run(&r, pid);
	cr_assert(WIFEXITED(status), "status %d", status);
	cr_assert_eq(WEXITSTATUS(status), 0, "the root saw: 2 slot kept, 3 ring kept, 4 live claim "
		     "freed (%d)", WEXITSTATUS(status));
	for (unsigned i = 0; i < RAW_NPROCS; i++)
		cr_assert_eq(r.h->procs[i].state, RAW_FREE_SLOT, "slot %u", i);
	for (unsigned i = 0; i < RAW_NRINGS; i++)
		cr_assert_eq(r.h->rings[i].state, RAW_FREE_SLOT, "ring %u", i);
	real_end(&r);
}
