/*
 * The trace commands end to end: `spanlab record` on workloads that are
 * this test binary itself, re-run with SLTEST_WORKLOAD set (its
 * constructor runs the workload before Criterion starts):
 *   1        threads one after another, realloc chains, aligned
 *            allocations, fork (with and without --children) and _exit;
 *   xthread  two threads handing objects to each other through a queue
 *            while churning on their own; each logs what it did, and the
 *            trace must show each thread's sequence and every cross-thread
 *            malloc before its free (normal and tiny rings);
 *   kill     two threads allocating, then SIGKILL: the trace is cut short,
 *            reads cleanly and holds every allocation made before the kill;
 *   small    a few allocations, recorded through `sh -c 'exec ...'`;
 *   manythreads  1,500 threads one after another (more than the rings);
 *   timed    three allocations 100 ms apart, timed by the program too:
 *            their times in the trace;
 *   orphan   allocates once spanlab record was killed: it must finish;
 *   steady   allocations at a steady pace for about a second, for
 *            spanlab record to be killed at 20 points along the trace.
 * Also a recording of sh and ls with --children, which runs under ASan too
 * (the merger is then sanitized; the workloads above cannot be, since a
 * sanitized program cannot host the preloaded recorder). Then `convert` to
 * text and back; `info --json` keys; `gen` kinds; bad input exits 2 with
 * one line.
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <criterion/criterion.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slt.h"
#include "testlib.h"

#define RUN(r, ...) \
	cr_assert_eq(tl_run(r, NULL, (const char *const[]){ __VA_ARGS__, NULL }), 0, "cannot run spanlab")

/* ---- the recorded workload ---------------------------------------------
 * Sizes 7000..7999 mark the workload's own objects (libc's have others).
 * Worker w (1..NW): NOBJ mallocs of 7000 + 10 w + i % 10, a realloc chain
 * of CHAIN steps from 7500 + w, three aligned allocations, then frees all
 * but the last KEEP mallocs. The main thread forks a child that allocates
 * 7900 B five times and _exits, then _exits itself. */
enum { NW = 4, NOBJ = 60, CHAIN = 8, KEEP = 3 };

static uint64_t chain_size(int w, int j) { return 7500 + (uint64_t)w + 10 * (uint64_t)j; }

static void *volatile sink;

static void *worker(void *arg)
{
	int w = (int)(intptr_t)arg;
	void *p[NOBJ], *a, *b, *c;
	for (int i = 0; i < NOBJ; i++)
		p[i] = malloc(7000 + 10 * w + i % 10);
	void *q = malloc(chain_size(w, 0));
	for (int j = 1; j <= CHAIN; j++)
		q = realloc(q, chain_size(w, j));
	if (posix_memalign(&a, 64, 7200 + w))
		abort();
	b = aligned_alloc(256, 256 * (27 + (size_t)w));	/* a multiple: C11 */
	c = memalign(4096, 7400 + w);
	sink = b;	/* escapes: the compiler may not elide the pair */
	for (int i = 0; i < NOBJ - KEEP; i++)
		free(p[i]);
	free(q), free(a), free(b), free(c);
	return NULL;
}

/* ---- xthread: objects handed across threads --------------------------
 * Thread A mallocs XN objects of 40000 + i % 4 bytes and passes each to B,
 * which frees it; B does the same with 50000 + i % 4 for A. Both churn on
 * their own (small sizes) in between. Four sizes, so that glibc hands an
 * address freed by one thread to the other often (what a recorder that
 * orders frees wrongly gets caught on). Each thread logs its marked
 * operations in order; the logs go to $SLTEST_LOG. */
enum { XN = 2000, QCAP = 16, LOGMAX = 2 * XN + 16 };

struct xq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void *item[QCAP];
	unsigned head, tail;
};

static struct xq xq[2] = { { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0 }, 0, 0 },
			   { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0 }, 0, 0 } };
static struct xlog {
	int n;
	char op[LOGMAX];	/* 'm' or 'f' */
	int size[LOGMAX];
} xlog[2];

static void xpush(struct xq *q, void *p)
{
	pthread_mutex_lock(&q->mu);
	while (q->tail - q->head == QCAP)
		pthread_cond_wait(&q->cv, &q->mu);
	q->item[q->tail++ % QCAP] = p;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* An item if one is queued (block only if `wait`). */
static void *xpop(struct xq *q, bool wait)
{
	void *p = NULL;
	pthread_mutex_lock(&q->mu);
	while (wait && q->head == q->tail)
		pthread_cond_wait(&q->cv, &q->mu);
	if (q->head != q->tail) {
		p = q->item[q->head++ % QCAP];
		pthread_cond_broadcast(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	return p;
}

static void xfree(int me, void *p)
{
	struct xlog *l = &xlog[me];
	l->op[l->n] = 'f', l->size[l->n++] = (int)(*(int *)p);
	free(p);
}

static void *xworker(void *arg)
{
	int me = (int)(intptr_t)arg, base = me ? 50000 : 40000, got = 0;
	struct xlog *l = &xlog[me];
	void *mine[64] = { 0 };
	unsigned x = 7u + (unsigned)me;
	for (int i = 0; i < XN; i++) {
		int *p = malloc((size_t)(base + i % 4));
		*p = base + i % 4;	/* the object knows its size: xfree logs it */
		l->op[l->n] = 'm', l->size[l->n++] = base + i % 4;
		xpush(&xq[!me], p);
		void *q;
		while ((q = xpop(&xq[me], false)))
			xfree(me, q), got++;
		for (int k = 0; k < 8; k++) {	/* churn: address reuse across threads */
			x = x * 1103515245u + 12345u;
			unsigned s = (x >> 8) & 63;
			free(mine[s]);
			mine[s] = malloc(16 + (x >> 16) % 2000);
		}
	}
	while (got < XN)
		xfree(me, xpop(&xq[me], true)), got++;
	for (int s = 0; s < 64; s++)
		free(mine[s]);
	return NULL;
}

static void xthread(void)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, xworker, (void *)(intptr_t)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	FILE *f = fopen(getenv("SLTEST_LOG"), "w");
	for (int i = 0; f && i < 2; i++)
		for (int k = 0; k < xlog[i].n; k++)
			fprintf(f, "%d %c %d\n", i, xlog[i].op[k], xlog[i].size[k]);
	if (f)
		fclose(f);
	exit(0);
}

/* ---- kill: SIGKILL while two threads allocate ------------------------- */
enum { KN = 5000 };

static void *kill_churn(void *arg)
{
	(void)arg;
	for (unsigned x = 1;; x = x * 1103515245u + 12345u) {
		sink = malloc(16 + (x >> 16) % 500);	/* through sink: not elided */
		free(sink);
	}
	return NULL;
}

static void kill_workload(void)
{
	pthread_t t;
	pthread_create(&t, NULL, kill_churn, NULL);
	for (int i = 0; i < KN; i++)
		if (!(sink = malloc(61000 + (size_t)(i % 7))))
			abort();
	kill(getpid(), SIGKILL);
}

/* ---- steady: a paced stream of allocations --------------------------- */
enum { ST_STEPS = 60, ST_PER_STEP = 2000, ST_MIN = 20000, ST_SPAN = 1000 };

/* The size of the workload's allocation after the one of state *x. */
static size_t steady_size(unsigned *x)
{
	*x = *x * 1103515245u + 12345u;
	return ST_MIN + (*x >> 16) % ST_SPAN;
}

static void steady(void)
{
	void *slot[64] = { 0 };
	unsigned x = 1;
	for (int step = 0; step < ST_STEPS; step++) {
		for (int i = 0; i < ST_PER_STEP; i++) {
			size_t n = steady_size(&x);
			unsigned k = (x >> 8) & 63;
			free(slot[k]);
			if (!(slot[k] = malloc(n)))
				abort();
		}
		usleep(10000);
	}
	exit(0);
}

/* ---- manythreads: more threads than rings, one after another --------- */
enum { MT = 1500 };

static void *one_alloc(void *arg)
{
	sink = malloc(64000 + (size_t)(intptr_t)arg % 3);
	free(sink);
	return NULL;
}

static void many_threads(void)
{
	for (int i = 0; i < MT; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, one_alloc, (void *)(intptr_t)i))
			abort();
		pthread_join(t, NULL);
	}
	exit(0);
}

__attribute__((constructor)) static void workload(void)
{
	const char *mode = getenv("SLTEST_WORKLOAD");
	if (!mode)
		return;
	if (!strcmp(mode, "xthread"))
		xthread();
	if (!strcmp(mode, "kill"))
		kill_workload();
	if (!strcmp(mode, "manythreads"))
		many_threads();
	if (!strcmp(mode, "steady"))
		steady();
	if (!strcmp(mode, "orphan")) {	/* outlives spanlab record: must finish */
		alarm(30);	/* a recorder that blocks it must not leave it behind */
		while (access(getenv("SLTEST_GO"), F_OK) < 0)	/* the recorder is dead */
			usleep(10000);
		for (unsigned x = 1, i = 0; i < 400000; i++, x = x * 1103515245u + 12345u) {
			sink = malloc(16 + (x >> 16) % 500);
			free(sink);
		}
		FILE *f = fopen(getenv("SLTEST_LOG"), "w");
		if (f)
			fclose(f);
		exit(0);
	}
	if (!strcmp(mode, "timed")) {	/* three allocations 100 ms apart */
		FILE *log = fopen(getenv("SLTEST_LOG"), "w");
		for (int i = 0; log && i < 3; i++) {
			struct timespec t0, t1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			sink = malloc(65000 + (size_t)i);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			fprintf(log, "%lld %lld\n", (long long)t0.tv_sec * 1000000000 + t0.tv_nsec,
				(long long)t1.tv_sec * 1000000000 + t1.tv_nsec);
			if (i < 2)
				usleep(100000);
		}
		exit(log && !fclose(log) ? 0 : 1);
	}
	if (!strcmp(mode, "small")) {
		for (int i = 0; i < 10; i++) {
			sink = malloc(63000 + (size_t)i);
			free(sink);
		}
		exit(3);
	}
	pthread_t t[NW];
	for (int w = 0; w < NW; w++) {
		pthread_create(&t[w], NULL, worker, (void *)(intptr_t)(w + 1));
		pthread_join(t[w], NULL);	/* one at a time: thread ids follow w */
	}
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 5; i++)
			if (!malloc(7900))
				abort();
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	_exit(7);
}

struct trace_sum {
	int events, mallocs;
	int mallocs_of[3];	/* 7900 B; 61000..61006 B; 63000..63009 B */
	int frees_of[3];
	bool complete;
	struct slt_report report;
	char meta[1024];
};
static int one_child_trace(const char *dir, const char *prefix, char *path, size_t cap);
static void sum_trace(const char *path, struct trace_sum *t);

/* Per trace thread: the workload's events in order, as (op, size). */
struct seen {
	int n;
	enum slt_op op[512];
	uint64_t size[512];
};

static void read_trace(const char *path, struct seen *th, int nth, uint64_t *live_ours,
		       uint64_t *other_7900)
{
	char err[1024];
	struct slt_source *s = slt_open(path, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	static uint64_t size[1 << 16];
	static bool ours[1 << 16];
	struct slt_event ev;
	int rc;
	*live_ours = *other_7900 = 0;
	while ((rc = slt_next(s, &ev)) > 0) {
		cr_assert_lt(ev.id, 1 << 16);
		bool alloc = ev.op == SLT_MALLOC || ev.op == SLT_CALLOC || ev.op == SLT_ALIGNED;
		if (alloc || ev.op == SLT_REALLOC) {
			if (ev.op == SLT_REALLOC && ours[ev.id])
				*live_ours -= size[ev.id];
			size[ev.id] = ev.size;
			ours[ev.id] = ev.size >= 7000 && ev.size < 8000;
			*other_7900 += ev.size == 7900;
			if (ours[ev.id])
				*live_ours += ev.size;
		}
		bool mine = ours[ev.id] && (alloc || ev.op == SLT_REALLOC || ev.op == SLT_FREE);
		if (ev.op == SLT_FREE && ours[ev.id]) {
			*live_ours -= size[ev.id];
			ours[ev.id] = false;
		}
		if (mine && (int)ev.tid < nth) {
			struct seen *t = &th[ev.tid];
			cr_assert_lt(t->n, 512);
			t->op[t->n] = ev.op, t->size[t->n++] = ev.op == SLT_FREE ? size[ev.id] : ev.size;
		}
	}
	cr_assert_eq(rc, 0, "%s", slt_error(s));
	cr_assert(slt_source_complete(s), "no END record: _exit did not finish the trace");
	slt_close(s);
}

/* What worker w did, as the trace must show it. */
static void expected(int w, struct seen *e)
{
	e->n = 0;
#define PUT(o, sz) (e->op[e->n] = (o), e->size[e->n++] = (sz))
	for (int i = 0; i < NOBJ; i++)
		PUT(SLT_MALLOC, 7000 + 10 * w + i % 10);
	PUT(SLT_MALLOC, chain_size(w, 0));
	for (int j = 1; j <= CHAIN; j++)
		PUT(SLT_REALLOC, chain_size(w, j));
	PUT(SLT_ALIGNED, 7200 + w), PUT(SLT_ALIGNED, 256 * (27 + w)), PUT(SLT_ALIGNED, 7400 + w);
	for (int i = 0; i < NOBJ - KEEP; i++)
		PUT(SLT_FREE, 7000 + 10 * w + i % 10);
	PUT(SLT_FREE, chain_size(w, CHAIN));
	PUT(SLT_FREE, 7200 + w), PUT(SLT_FREE, 256 * (27 + w)), PUT(SLT_FREE, 7400 + w);
#undef PUT
}

Test(trace_cli, record_threads_realloc_aligned_fork_exit, .timeout = 60)
{
	/* The workload is this binary: under ASan it cannot host a preloaded,
	 * unsanitized malloc (ASan must come first). Release and debug cover it. */
	const char *variant = getenv("SPANLAB_VARIANT");
	if (variant && !strcmp(variant, "asan"))
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096], self[4096];
	ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
	self[k] = 0;
	snprintf(out, sizeof out, "%s/w.slt", dir);
	setenv("SLTEST_WORKLOAD", "1", 1);
	struct tl_run r;
	RUN(&r, "spanlab", "record", "-o", out, "--", self);
	cr_assert_eq(r.status, 7, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "spanlab record: "), "%s", r.err);
	tl_run_free(&r);

	static struct seen th[NW + 1];
	uint64_t live, n7900;
	read_trace(out, th, NW + 1, &live, &n7900);
	uint64_t want_live = 0;
	for (int w = 1; w <= NW; w++) {
		static struct seen e;
		expected(w, &e);
		cr_assert_eq(th[w].n, e.n, "thread %d: %d events, expected %d", w, th[w].n, e.n);
		for (int i = 0; i < e.n; i++) {
			cr_assert_eq(th[w].op[i], e.op[i], "thread %d event %d", w, i);
			cr_assert_eq(th[w].size[i], e.size[i], "thread %d event %d", w, i);
		}
		for (int i = NOBJ - KEEP; i < NOBJ; i++)
			want_live += 7000 + 10 * (uint64_t)w + (uint64_t)(i % 10);
	}
	cr_assert_eq(live, want_live, "live bytes of the workload's objects");
	cr_assert_eq(n7900, 0, "the forked child wrote into the parent's trace");

	/* --children: the child's own file holds its five allocations, and
	 * is complete (its _exit wrote END). */
	RUN(&r, "spanlab", "record", "--children", "-o", out, "--", self);
	cr_assert_eq(r.status, 7, "%s", r.err);
	tl_run_free(&r);
	char child[4200];
	cr_assert_eq(one_child_trace(dir, "w.", child, sizeof child), 0, "expected one child trace");
	struct trace_sum cs;
	sum_trace(child, &cs);
	cr_assert(cs.complete, "the child's _exit must complete its trace");
	cr_assert_eq(cs.mallocs_of[0], 5, "child trace: %d mallocs of 7900 B", cs.mallocs_of[0]);
	cr_assert_eq(cs.events, cs.mallocs + 1, "the child did nothing but its mallocs");
	unsetenv("SLTEST_WORKLOAD");
	tl_tmpdir_remove(dir);
}

/* The only OUT-base.PID.slt in dir (prefix "w."): 0 and its path. */
static int one_child_trace(const char *dir, const char *prefix, char *path, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)) && strcmp(e->d_name + strlen(prefix), "slt")) {
			snprintf(path, cap, "%s/%s", dir, e->d_name);
			n++;
		}
	if (d)
		closedir(d);
	return n == 1 ? 0 : -1;
}

/* Counts of a trace, read with the streaming reader (which rejects any
 * record out of order: a free of an id that is not live). */
static void sum_trace(const char *path, struct trace_sum *t)
{
	char err[1024];
	memset(t, 0, sizeof *t);
	struct slt_source *s = slt_open(path, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	struct slt_event ev;
	int rc;
	static uint64_t size[1 << 16];
	while ((rc = slt_next(s, &ev)) > 0) {
		t->events++;
		cr_assert_lt(ev.id, 1 << 16);
		if (ev.op == SLT_MALLOC || ev.op == SLT_CALLOC || ev.op == SLT_ALIGNED) {
			t->mallocs++;
			size[ev.id] = ev.size;
			t->mallocs_of[0] += ev.size == 7900;
			t->mallocs_of[1] += ev.size >= 61000 && ev.size < 61007;
			t->mallocs_of[2] += ev.size >= 63000 && ev.size < 63010;
		}
		if (ev.op == SLT_FREE)
			t->frees_of[2] += size[ev.id] >= 63000 && size[ev.id] < 63010;
	}
	cr_assert_eq(rc, 0, "%s", slt_error(s));
	t->complete = slt_source_complete(s);
	t->report = *slt_source_report(s);
	snprintf(t->meta, sizeof t->meta, "%s", slt_source_meta(s));
	slt_close(s);
}

static void self_path(char *out, size_t cap)
{
	ssize_t k = readlink("/proc/self/exe", out, cap - 1);
	cr_assert_gt(k, 0);
	out[k] = 0;
}

static bool sanitized(void)
{
	const char *variant = getenv("SPANLAB_VARIANT");
	return variant && !strcmp(variant, "asan");
}

/* Record the xthread workload (ring_words NULL: the default rings) and
 * check the trace against the threads' own logs. */
static void check_xthread(const char *ring_words)
{
	char *dir = tl_tmpdir(), out[4096], log[4096], self[4096];
	self_path(self, sizeof self);
	snprintf(out, sizeof out, "%s/x.slt", dir);
	snprintf(log, sizeof log, "%s/x.log", dir);
	setenv("SLTEST_WORKLOAD", "xthread", 1);
	setenv("SLTEST_LOG", log, 1);
	if (ring_words)
		setenv("SPANLAB_RECORD_RING_WORDS", ring_words, 1);
	struct tl_run r;
	RUN(&r, "spanlab", "record", "-o", out, "--", self);
	unsetenv("SLTEST_WORKLOAD");
	unsetenv("SPANLAB_RECORD_RING_WORDS");
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	tl_run_free(&r);

	/* What each thread did, in its own order. */
	static char want_op[2][LOGMAX], got_op[2][LOGMAX];
	static int want_size[2][LOGMAX], got_size[2][LOGMAX];
	int nwant[2] = { 0, 0 }, ngot[2] = { 0, 0 };
	FILE *f = fopen(log, "r");
	cr_assert(f, "the workload wrote no log");
	int th, sz;
	char op;
	while (fscanf(f, "%d %c %d", &th, &op, &sz) == 3) {
		cr_assert(th == 0 || th == 1);
		want_op[th][nwant[th]] = op, want_size[th][nwant[th]++] = sz;
	}
	fclose(f);
	cr_assert_eq(nwant[0], 2 * XN);
	cr_assert_eq(nwant[1], 2 * XN);

	/* What the trace says, per trace thread, for the marked objects. */
	char err[1024];
	struct slt_source *s = slt_open(out, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	static uint64_t size[1 << 20];
	static uint32_t by[1 << 20];	/* the thread that allocated it */
	int prog_of_tid[64];
	memset(prog_of_tid, -1, sizeof prog_of_tid);
	struct slt_event ev;
	int rc, cross = 0;
	while ((rc = slt_next(s, &ev)) > 0) {
		cr_assert_lt(ev.id, 1 << 20);
		cr_assert_lt(ev.tid, 64);
		bool alloc = ev.op == SLT_MALLOC || ev.op == SLT_CALLOC || ev.op == SLT_ALIGNED;
		if (alloc || ev.op == SLT_REALLOC)
			size[ev.id] = ev.size, by[ev.id] = ev.tid;
		uint64_t z = size[ev.id];
		bool marked = (z >= 40000 && z < 40004) || (z >= 50000 && z < 50004);
		if (!marked || !(alloc || ev.op == SLT_FREE))
			continue;
		if (alloc && prog_of_tid[ev.tid] < 0)	/* a thread's first marked event is its malloc */
			prog_of_tid[ev.tid] = z >= 50000;
		int pt = prog_of_tid[ev.tid];
		cr_assert(pt >= 0, "thread %u frees before it allocates", ev.tid);
		cr_assert_lt(ngot[pt], LOGMAX);
		got_op[pt][ngot[pt]] = alloc ? 'm' : 'f', got_size[pt][ngot[pt]++] = (int)z;
		if (ev.op == SLT_FREE) {
			cr_assert_neq(by[ev.id], ev.tid, "object of %d B freed by its own thread", (int)z);
			cross++;
		}
	}
	cr_assert_eq(rc, 0, "%s", slt_error(s));
	cr_assert(slt_source_complete(s), "exit() must complete the trace");
	const struct slt_report *rep = slt_source_report(s);
	cr_assert_eq(rep->double_allocs, 0, "an address was handed out again before its free");
	cr_assert_eq(rep->unknown_frees, 0, "a free came before its malloc");
	slt_close(s);
	cr_assert_eq(cross, 2 * XN, "every handed-over object freed by the other thread");
	for (int t = 0; t < 2; t++) {
		cr_assert_eq(ngot[t], nwant[t], "thread %d: %d marked events, did %d", t, ngot[t], nwant[t]);
		for (int i = 0; i < nwant[t]; i++)
			cr_assert(got_op[t][i] == want_op[t][i] && got_size[t][i] == want_size[t][i],
				  "thread %d event %d: trace %c %d, program %c %d", t, i, got_op[t][i],
				  got_size[t][i], want_op[t][i], want_size[t][i]);
	}
	tl_tmpdir_remove(dir);
}

Test(trace_cli, record_cross_thread_order, .timeout = 120)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	check_xthread(NULL);
	check_xthread("128");	/* 1 KiB rings: they wrap and fill all the time */
}

Test(trace_cli, record_sigkill_leaves_every_published_record, .timeout = 60)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096], self[4096];
	self_path(self, sizeof self);
	snprintf(out, sizeof out, "%s/k.slt", dir);
	setenv("SLTEST_WORKLOAD", "kill", 1);
	struct tl_run r;
	RUN(&r, "spanlab", "record", "-o", out, "--", self);
	unsetenv("SLTEST_WORKLOAD");
	cr_assert_eq(r.status, 128 + SIGKILL, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "cut short") && strstr(r.err, "killed by signal 9"), "%s", r.err);
	tl_run_free(&r);
	struct trace_sum t;
	sum_trace(out, &t);	/* reads to its end without an error */
	cr_assert(!t.complete, "a killed program's trace has no END");
	cr_assert_eq(t.mallocs_of[1], KN, "%d of the %d allocations made before the kill",
		     t.mallocs_of[1], KN);
	tl_tmpdir_remove(dir);
}

/* 1,500 threads one after another, more than the 1,024 rings: rings of
 * exited threads are handed back and reused, no thread goes unrecorded. */
Test(trace_cli, record_reuses_rings_of_exited_threads, .timeout = 60)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096], self[4096], err[1024];
	self_path(self, sizeof self);
	snprintf(out, sizeof out, "%s/m.slt", dir);
	setenv("SLTEST_WORKLOAD", "manythreads", 1);
	struct tl_run r;
	RUN(&r, "spanlab", "record", "-o", out, "--", self);
	unsetenv("SLTEST_WORKLOAD");
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert(!strstr(r.err, "not recorded"), "%s", r.err);
	tl_run_free(&r);
	struct slt_source *s = slt_open(out, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	struct slt_event ev;
	int rc, starts = 0, exits = 0, marked = 0;
	uint32_t max_tid = 0;
	while ((rc = slt_next(s, &ev)) > 0) {
		starts += ev.op == SLT_THREAD_START;
		exits += ev.op == SLT_THREAD_EXIT;
		marked += ev.op == SLT_MALLOC && ev.size >= 64000 && ev.size < 64003;
		max_tid = ev.tid > max_tid ? ev.tid : max_tid;
	}
	cr_assert_eq(rc, 0, "%s", slt_error(s));
	cr_assert(slt_source_complete(s));
	slt_close(s);
	cr_assert_eq(marked, MT, "%d of %d threads' allocations", marked, MT);
	cr_assert_eq(starts, MT + 1, "the main thread and every other");
	cr_assert_eq(exits, MT);
	cr_assert_eq(max_tid, MT, "dense thread ids 0..%d", MT);
	tl_tmpdir_remove(dir);
}

/* Time stamps are real: allocations 100 ms apart are 100 ms apart in the
 * trace (within 30 ms: the sleep's own slack, and the 1 us tick). While
 * the program sleeps the merger asks for a stamp on every event. */
Test(trace_cli, record_time_follows_the_clock, .timeout = 60)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096], self[4096], err[1024], log[4096];
	self_path(self, sizeof self);
	snprintf(out, sizeof out, "%s/t.slt", dir);
	snprintf(log, sizeof log, "%s/clock", dir);
	setenv("SLTEST_WORKLOAD", "timed", 1);
	setenv("SLTEST_LOG", log, 1);
	struct tl_run r;
	RUN(&r, "spanlab", "record", "-o", out, "--", self);
	unsetenv("SLTEST_WORKLOAD");
	unsetenv("SLTEST_LOG");
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	tl_run_free(&r);
	struct slt_source *s = slt_open(out, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	struct slt_event ev;
	uint64_t at[3] = { 0, 0, 0 };
	int n = 0;
	while (slt_next(s, &ev) > 0)
		if (ev.op == SLT_MALLOC && ev.size >= 65000 && ev.size < 65003)
			at[ev.size - 65000] = ev.ts_ns, n++;
	slt_close(s);
	cr_assert_eq(n, 3);
	/* The program's own clock around each malloc bounds the gap between
	 * two of them (however long a loaded machine made it sleep); the
	 * trace's gap must lie within, give or take the TSC scale (1%) and a
	 * tick plus a stamp's lateness (1 ms). */
	long long before[3], after[3];
	FILE *f = fopen(log, "r");
	cr_assert(f);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(fscanf(f, "%lld %lld", &before[i], &after[i]), 2);
	fclose(f);
	for (int i = 1; i < 3; i++) {
		int64_t d = (int64_t)(at[i] - at[i - 1]);
		long long lo = before[i] - after[i - 1], hi = after[i] - before[i - 1];
		cr_assert_geq(lo, 100000000, "the program slept 100 ms");
		cr_assert(d >= lo - lo / 100 - 1000000 && d <= hi + hi / 100 + 1000000,
			  "allocations %d and %d: %lld ns apart in the trace, %lld..%lld ns by the program's clock",
			  i - 1, i, (long long)d, lo, hi);
	}
	tl_tmpdir_remove(dir);
}

/* spanlab record is killed while the program runs: the program must not
 * block on its full ring; it stops recording and finishes, and the file
 * reads back cut short. */
Test(trace_cli, record_program_outlives_a_killed_recorder, .timeout = 60)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096], self[4096], done[4096], go[4096];
	self_path(self, sizeof self);
	snprintf(out, sizeof out, "%s/o.slt", dir);
	snprintf(done, sizeof done, "%s/done", dir);
	snprintf(go, sizeof go, "%s/go", dir);
	const char *bin = getenv("SPANLAB_BIN") ? getenv("SPANLAB_BIN") : "build/spanlab";
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setenv("SLTEST_WORKLOAD", "orphan", 1);
		setenv("SLTEST_LOG", done, 1);
		setenv("SLTEST_GO", go, 1);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);	/* the program outlives us: it must not hold our pipes */
		dup2(null, 2);
		execl(bin, bin, "record", "-o", out, "--", self, (char *)NULL);
		_exit(127);
	}
	/* Kill once recording has begun (the merger has written the header),
	 * then let the program allocate: it waits for the go file. */
	struct stat sb;
	for (int w = 0; w < 30000 && (stat(out, &sb) < 0 || sb.st_size < 20); w += 10)
		usleep(10000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cr_assert_eq(tl_write_file(go, "", 0), 0);
	int waited = 0;
	while (access(done, F_OK) < 0 && waited < 20000) {
		usleep(50000);
		waited += 50;
	}
	cr_assert_eq(access(done, F_OK), 0, "the program did not finish within 20 s");
	struct trace_sum t;
	sum_trace(out, &t);
	cr_assert(!t.complete);
	tl_tmpdir_remove(dir);
}

/* A recording of the steady workload, and when spanlab record is to be
 * SIGKILLed: once OUT holds kill_at bytes (K_SIZE), once the program has
 * exited (K_EXITED: the recorder is draining its rings and writing END),
 * 20 ms after that (K_LATER), or never (K_NEVER). */
enum kill_when { K_NEVER, K_SIZE, K_EXITED, K_LATER };

struct steady_run {
	enum kill_when when;
	uint64_t kill_at;
	char out[4200];
	pid_t rec, prog;
	int64_t exited_ns;
	bool ended;
};

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void steady_start(struct steady_run *r)
{
	char self[4096];
	self_path(self, sizeof self);
	unlink(r->out);
	const char *bin = getenv("SPANLAB_BIN") ? getenv("SPANLAB_BIN") : "build/spanlab";
	r->rec = fork();
	cr_assert_geq(r->rec, 0);
	if (r->rec == 0) {
		setenv("SLTEST_WORKLOAD", "steady", 1);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(bin, bin, "record", "-o", r->out, "--", self, (char *)NULL);
		_exit(127);
	}
}

/* Whether r's spanlab record is to be killed now. */
static bool steady_kill_now(struct steady_run *r)
{
	struct stat sb;
	char st;
	switch (r->when) {
	case K_SIZE:
		return stat(r->out, &sb) == 0 && (uint64_t)sb.st_size >= r->kill_at;
	case K_EXITED:
	case K_LATER:
		if (!r->exited_ns && ((st = tl_proc_state(r->prog)) == 0 || st == 'Z'))
			r->exited_ns = now_ns();
		return r->exited_ns && (r->when == K_EXITED || now_ns() - r->exited_ns >= 20000000);
	default:
		return false;
	}
}

/* Run the recordings side by side (each is mostly the program's sleep),
 * killing each when it says; then wait for the programs that outlived
 * their recorder (this test is their subreaper): each must finish and
 * exit 0, not block on a dead recorder. */
static void steady_runs(struct steady_run *runs, int n)
{
	for (int i = 0; i < n; i++)
		steady_start(&runs[i]);
	for (int left = n; left;) {
		for (int i = 0; i < n; i++) {
			struct steady_run *r = &runs[i];
			int st;
			if (r->ended)
				continue;
			if (waitpid(r->rec, &st, WNOHANG) == r->rec) {
				cr_assert(r->when != K_NEVER || (WIFEXITED(st) && WEXITSTATUS(st) == 0),
					  "spanlab record: status %#x", st);
				r->ended = true;
				left--;
				continue;
			}
			pid_t kids[4];
			if (!r->prog && tl_children(r->rec, kids, NULL, 4) == 1)
				r->prog = kids[0];
			if (r->prog && steady_kill_now(r))
				kill(r->rec, SIGKILL);
		}
		nanosleep(&(struct timespec){ 0, 200 * 1000 }, NULL);
	}
	int st;
	for (pid_t p; (p = waitpid(-1, &st, 0)) > 0;)
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "program %d outlived its recorder badly: %#x", (int)p, st);
}

/* Reads OUT to its end: it must read without an error, every byte read
 * but less than one record dropped at its end, and the workload's
 * allocations in it must be the first n of the workload's, in order.
 * Returns n; *size is OUT's size, *dropped the bytes dropped. */
static int steady_prefix(const char *out, uint64_t *size, uint64_t *dropped, bool *complete)
{
	char err[1024];
	struct stat sb;
	cr_assert_eq(stat(out, &sb), 0, "%s", out);
	*size = (uint64_t)sb.st_size;
	struct slt_source *s = slt_open(out, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	struct slt_event ev;
	unsigned x = 1;
	int n = 0, rc;
	while ((rc = slt_next(s, &ev)) > 0) {
		if (ev.op != SLT_MALLOC || ev.size < ST_MIN || ev.size >= ST_MIN + ST_SPAN)
			continue;
		size_t want = steady_size(&x);
		cr_assert_eq(ev.size, want, "%s: allocation %d is %llu bytes, the workload's was %zu", out, n,
			     (unsigned long long)ev.size, want);
		n++;
	}
	cr_assert_eq(rc, 0, "%s", slt_error(s));
	*complete = slt_source_complete(s);
	uint64_t read = slt_source_bytes(s);
	*dropped = slt_source_partial_bytes(s);
	cr_assert(read + *dropped == *size && *dropped < 128, "%s: %llu bytes read and %llu dropped of %llu", out,
		  (unsigned long long)read, (unsigned long long)*dropped, (unsigned long long)*size);
	slt_close(s);
	return n;
}

/* Kill-anywhere for the recorder: spanlab record is SIGKILLed at 20
 * points of a recording: by the size OUT has reached (1/20 to 18/20 of a
 * whole recording's), once the program has exited and 20 ms after (while
 * it drains the rings and writes END, or just after). Each time OUT reads
 * cleanly to its last whole record (a kill inside write(2) leaves part of
 * a record: slt_source_partial_bytes), holds a prefix of the workload's
 * allocations, and is not complete unless it holds them all. */
Test(trace_cli, record_killed_anywhere_reads_to_its_last_record, .timeout = 300)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	char *dir = tl_tmpdir();
	struct steady_run runs[20] = { { 0 } };
	snprintf(runs[0].out, sizeof runs[0].out, "%s/whole.slt", dir);
	steady_runs(runs, 1);
	bool complete;
	uint64_t whole, dropped;
	cr_assert_eq(steady_prefix(runs[0].out, &whole, &dropped, &complete), ST_STEPS * ST_PER_STEP);
	cr_assert(complete);
	for (int k = 0; k < 20; k++) {
		runs[k] = (struct steady_run){ .when = k < 18 ? K_SIZE : k == 18 ? K_EXITED : K_LATER,
					       .kill_at = whole * (uint64_t)(k + 1) / 20 };
		snprintf(runs[k].out, sizeof runs[k].out, "%s/k%d.slt", dir, k + 1);
	}
	for (int b = 0; b < 20; b += 5)
		steady_runs(runs + b, 5);
	int cut = 0;
	for (int k = 0; k < 20; k++) {
		uint64_t size;
		int n = steady_prefix(runs[k].out, &size, &dropped, &complete);
		char when[64];
		snprintf(when, sizeof when, runs[k].when == K_SIZE ? "at %llu bytes" : runs[k].when == K_EXITED ? "at exit" : "20 ms after exit",
			 (unsigned long long)runs[k].kill_at);
		cr_log_info("kill %d %s: %llu bytes (%llu of a record dropped), %d allocations, %s", k + 1, when,
			    (unsigned long long)size, (unsigned long long)dropped, n, complete ? "complete" : "cut short");
		cr_assert(!complete || n == ST_STEPS * ST_PER_STEP, "a complete trace with %d allocations", n);
		cr_assert(runs[k].when != K_SIZE || size >= runs[k].kill_at, "killed at %llu bytes, the file holds %llu",
			  (unsigned long long)runs[k].kill_at, (unsigned long long)size);
		/* up to 3/4 of the way a kill comes before the end however
		 * late this loop sees the size; later ones may come after it */
		cr_assert(!complete || k >= 15, "kill %d: the recording was complete by then", k + 1);
		cut += !complete;
	}
	cr_log_info("%d of the 20 kills cut the trace short", cut);
	tl_tmpdir_remove(dir);
}

Test(trace_cli, record_exec_keeps_the_last_image, .timeout = 60)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096], self[4096];
	self_path(self, sizeof self);
	snprintf(out, sizeof out, "%s/e.slt", dir);
	setenv("SLTEST_WORKLOAD", "small", 1);
	struct tl_run r;
	RUN(&r, "spanlab", "record", "-o", out, "--", "sh", "-c", "exec \"$0\"", self);
	unsetenv("SLTEST_WORKLOAD");
	cr_assert_eq(r.status, 3, "exit %d: %s", r.status, r.err);
	tl_run_free(&r);
	struct trace_sum t;
	sum_trace(out, &t);
	cr_assert(t.complete);
	cr_assert(strstr(t.meta, self), "metadata names the exec'd program: %s", t.meta);
	cr_assert_eq(t.mallocs_of[2], 10);
	cr_assert_eq(t.frees_of[2], 10);
	tl_tmpdir_remove(dir);
}

/* Debian programs, so it runs in every variant: sh forks 12 ls. Each
 * child claims its slot and its first ring while the merger may be
 * scanning: a merger that took such a ring for an orphan lost that ls's
 * trace about once in 60 children under ASan. */
Test(trace_cli, record_children_of_a_shell, .timeout = 60)
{
	char *dir = tl_tmpdir(), out[4096];
	snprintf(out, sizeof out, "%s/sh.slt", dir);
	struct tl_run r;
	RUN(&r, "spanlab", "record", "--children", "-o", out, "--", "sh", "-c",
	    "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do ls -l / > /dev/null; done; true");
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert_eq(tl_count_lines(r.err), 13, "one summary line per process: %s", r.err);
	tl_run_free(&r);
	struct trace_sum t;
	sum_trace(out, &t);
	cr_assert(t.complete && t.events > 0);
	cr_assert(strstr(t.meta, "\"sh\""), "%s", t.meta);
	DIR *d = opendir(dir);
	struct dirent *e;
	int kids = 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "sh.", 3) || !strcmp(e->d_name, "sh.slt"))
			continue;
		char p[4400];
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		sum_trace(p, &t);
		cr_assert(t.complete, "%s", p);
		cr_assert_gt(t.mallocs, 10, "%s", p);
		cr_assert(strstr(t.meta, "\"ls\""), "a child is the exec'd ls: %s", t.meta);
		kids++;
	}
	closedir(d);
	cr_assert_eq(kids, 12);
	tl_tmpdir_remove(dir);
}

static cJSON *info_json(const char *path)
{
	struct tl_run r;
	RUN(&r, "spanlab", "info", "--json", path);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cJSON *j = cJSON_Parse(r.out);
	cr_assert(j, "not JSON: %s", r.out);
	tl_run_free(&r);
	return j;
}

static double num(cJSON *j, const char *k)
{
	cJSON *v = cJSON_GetObjectItem(j, k);
	cr_assert(v, "missing key %s", k);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

Test(trace_cli, gen_convert_text_and_back)
{
	static const char *const kinds[] = { "uniform", "heavytail", "phases", "prodcons" };
	char *dir = tl_tmpdir(), a[4096], t[4096], b[4096];
	for (int i = 0; i < 4; i++) {
		struct tl_run r;
		snprintf(a, sizeof a, "%s/%s.slt", dir, kinds[i]);
		snprintf(t, sizeof t, "%s/%s.txt", dir, kinds[i]);
		snprintf(b, sizeof b, "%s/%s.back.slt", dir, kinds[i]);
		RUN(&r, "spanlab", "gen", kinds[i], "--ops", "3000", "--seed", "9", "--threads", "3", "-o", a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tl_run_free(&r);
		RUN(&r, "spanlab", "convert", a, "--to", "text", "-o", t);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tl_run_free(&r);
		RUN(&r, "spanlab", "convert", t, "-o", b);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tl_run_free(&r);
		cJSON *ja = info_json(a), *jb = info_json(b);
		static const char *const keys[] = {
			"events", "mallocs", "callocs", "reallocs", "frees", "aligned_allocs", "gc_markers",
			"threads", "unknown_frees", "peak_live_bytes", "peak_event_index",
			"final_live_bytes", "final_live_objects", "bytes_per_event",
		};
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
			if (strcmp(keys[k], "bytes_per_event"))
				cr_assert_eq(num(ja, keys[k]), num(jb, keys[k]), "%s: %s", kinds[i], keys[k]);
		cr_assert_gt(num(ja, "mallocs"), 2999);
		cr_assert_eq(num(ja, "final_live_bytes"), 0, "%s frees everything", kinds[i]);
		cr_assert_eq(num(ja, "threads"), i == 3 ? 3 : 1);
		cr_assert_lt(num(ja, "bytes_per_event"), 6.0);
		cJSON_Delete(ja);
		cJSON_Delete(jb);
	}
	tl_tmpdir_remove(dir);
}

/* info: a 0-byte request is served as 1 byte, so it counts in class 1
 * (it was counted as large); a trace where nothing is ever live names no
 * peak event in the text (as JSON's null). */
Test(trace_cli, info_zero_byte_requests_and_no_peak)
{
	char *dir = tl_tmpdir(), z[4096], g[4096];
	snprintf(z, sizeof z, "%s/z.txt", dir);
	snprintf(g, sizeof g, "%s/g.txt", dir);
	const char *zt = "# spanlab text trace v1\nm 1 0\nm 2 32769\n", *gt = "# spanlab text trace v1\ngc\n";
	cr_assert_eq(tl_write_file(z, zt, strlen(zt)), 0);
	cr_assert_eq(tl_write_file(g, gt, strlen(gt)), 0);
	struct tl_run r;
	RUN(&r, "spanlab", "info", z);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "   0:     0 1\n") && strstr(r.out, "   1:     8 1\n"), "%s", r.out);
	tl_run_free(&r);
	RUN(&r, "spanlab", "info", g);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "peak live      0 bytes (no live byte after any event)"), "%s", r.out);
	tl_run_free(&r);
	tl_tmpdir_remove(dir);
}

Test(trace_cli, bad_input_exits_2_with_one_line)
{
	char *dir = tl_tmpdir(), p[4096];
	static const char *const bodies[] = { "hello world\n", "\x89SLT\r\n\x1a\n\x01", "m 1 2\nf\n" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/bad%d", dir, i);
		tl_write_file(p, bodies[i], strlen(bodies[i]) + (i == 1));
		const char *cmds[][5] = { { "spanlab", "info", p, NULL }, { "spanlab", "convert", p, "--to", "text" } };
		for (int c = 0; c < 2; c++) {
			struct tl_run r;
			cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ cmds[c][0], cmds[c][1], cmds[c][2],
									     cmds[c][3], cmds[c][4], NULL }), 0);
			cr_assert_eq(r.status, 2, "case %d/%d: exit %d", i, c, r.status);
			cr_assert_eq(tl_count_lines(r.err), 1, "case %d/%d: '%s'", i, c, r.err);
			cr_assert(strstr(r.err, p) && (strstr(r.err, "line ") || strstr(r.err, "byte ")),
				  "case %d/%d: '%s'", i, c, r.err);
			tl_run_free(&r);
		}
	}
	tl_tmpdir_remove(dir);
}
