/*
 * The recorder's merger (sim/record_merge.c) on raw rings written by hand,
 * without processes: records of several rings come out in sequence order
 * with dense thread ids; a record only the second read of the heads showed
 * stops the pass; rings wrap through RAW_PAD; threaded realloc pairs keep
 * an address's history in order; the consistency report counts what the
 * records say; RAW_END completes the trace and drops later records; no
 * END leaves it cut short but readable; a newer image of a pid replaces an
 * older one; a ring of a finished image is handed back; and seeded garbage
 * in a ring never crashes the merger, never makes it write a malformed
 * trace and never leaves records unconsumed (which would block a program).
 * Expected traces are written out by each test, event by event.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "record/raw.h"
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

static void fx_end(struct fixture *f)
{
	rec_merger_free(f->m);
	shm_free(f->h);
	tl_tmpdir_remove(f->dir);
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
	fx_start(&f, 1024);
	proc_live(f.h, 0, 100, true, 0);
	ring_live(f.h, 0, 0);
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
	fx_start(&f, 1024);
	proc_live(f.h, 0, 100, true, 0);
	ring_live(f.h, 0, 0);
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
	rec(f.h, 0, s++, RAW_REALLOC, 0x999, 0x400, 80);	/* unknown: a malloc, id 1 */
	rec(f.h, 0, s++, RAW_FREE, 0x777, 0, 0);		/* unknown free */
	rec(f.h, 0, s++, RAW_MALLOC, 0x400, 90, 0);		/* 0x400 again: old freed first */
	rec(f.h, 0, s++, RAW_ALIGNED, 0x500, 64, 24);		/* 24 is no power of two */
	rec(f.h, 0, s++, RAW_MALLOC, 0, 1u << 30, 0);		/* failed */
	rec(f.h, 0, s++, RAW_REALLOC, 0x500, 0x600, 128);	/* single-threaded realloc */
	rec(f.h, 0, s++, RAW_END, 0, 0, 0);
	fx_merger(&f, &o);
	rec_merger_pass(f.m);
	rec_merger_proc_dead(f.m, 0);
	struct got *g = malloc(sizeof *g);
	read_out(f.out, g);
	static const struct ev want[] = {
		TS(0), TS(1), M(0, 0, 100), M(1, 1, 50), R(0, 0, 300), F(1, 0), F(0, 1),
		M(0, 1, 70), F(0, 1), M(0, 1, 80), F(0, 1), M(0, 1, 90), A(0, 0, 64, 32),
		R(0, 0, 128),
	};
	expect(g, want, sizeof want / sizeof want[0]);
	cr_assert(g->complete);
	cr_assert_eq(g->report.double_allocs, 1);
	cr_assert_eq(g->report.unknown_frees, 1);
	cr_assert_eq(g->report.realloc_zero, 1);
	cr_assert_eq(g->report.realloc_unknown, 1);
	cr_assert_eq(g->report.lost_alignment, 1);
	cr_assert_eq(g->report.failed_allocs, 2);
	free(g);
	fx_end(&f);
}

/* Other threads may still allocate while one runs exit: records numbered
 * after RAW_END are dropped, earlier ones kept even if they come later. */
Test(record_merge, records_after_end_are_dropped)
{
	struct fixture f;
	struct rec_opts o = { 0 };
	fx_start(&f, 1024);
	proc_live(f.h, 0, 100, true, 0);
	ring_live(f.h, 0, 0);
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
