/*
 * The trace commands end to end: `spanlab record` on a workload with
 * threads, realloc chains, aligned allocations, fork and _exit (this test
 * binary itself, re-run with SLTEST_WORKLOAD set: its constructor runs the
 * workload before Criterion starts); `convert` to text and back; `info
 * --json` keys; `gen` kinds; bad input exits 2 with one line.
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <criterion/criterion.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

__attribute__((constructor)) static void workload(void)
{
	if (!getenv("SLTEST_WORKLOAD"))
		return;
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

	/* --children: the child's own file holds its five allocations. */
	RUN(&r, "spanlab", "record", "--children", "-o", out, "--", self);
	cr_assert_eq(r.status, 7, "%s", r.err);
	tl_run_free(&r);
	char cmd[8192];
	snprintf(cmd, sizeof cmd, "ls %s/w.*.slt | wc -l | grep -qx 1", dir);
	cr_assert_eq(system(cmd), 0, "expected one child trace");
	snprintf(cmd, sizeof cmd, "%s info --json %s/w.*.slt | grep -q '\"mallocs\":\\s*[5-9]'",
		 getenv("SPANLAB_BIN") ? getenv("SPANLAB_BIN") : "build/spanlab", dir);
	cr_assert_eq(system(cmd), 0, "child trace lacks its mallocs");
	unsetenv("SLTEST_WORKLOAD");
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
