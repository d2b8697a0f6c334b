/*
 * bench_db: rows per second through the SQLite event sink, against
 * baselines measured in the same run on the same rows and schema.
 *
 *   sink        db_run_begin, emit every event, db_run_finish into a fresh
 *               file: batches of SINK_BATCH_EVENTS on the writer thread,
 *               INSERT ... SELECT from the batch, until the final commit
 *   index_s     building the after-load indexes over those rows (done when
 *               a file gets its second run)
 *   emit_cpu    CPU time of the emitting thread per event during that run
 *               (the replay's own cost of logging)
 *   sink_cpu    CPU time of the whole process per row (both threads): the
 *               cost of logging when no second core is free
 *   sink_indexed the same into a file that already has the indexes (a
 *               later run appending to a results database)
 *   single      baseline: one prepared single-row INSERT per table, a
 *               transaction per 10,000 rows, in the calling thread
 *               (measurements.md 1.1's method)
 *   values64    a 64-row INSERT ... VALUES per table, same transactions
 *   loop_overhead  a replay-like loop doing ~1 us of work per event with
 *               the sink attached, over the same loop with no sink, until
 *               the last emit returns; total_overhead includes
 *               db_run_finish; finish_s is that finish (drain, last commit)
 *
 * Every file is WAL + synchronous=NORMAL (crash-safe), created by db_open
 * (same page size), in $TMPDIR. The event mix follows a replay's: refills
 * and span moves dominate, field values in realistic ranges. Each figure
 * is the median of --reps runs (interleaved), with min and max.
 *
 * Usage: bench_db [--smoke] [--events N] [--reps R] [--json FILE]
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "sink_sqlite.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_db: %s: %s\n", what, msg);
	exit(1);
}

/* --- a replay-like stream of events ---------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static const char *const *field_names[SL_EV_NKINDS];
static unsigned nfields[SL_EV_NKINDS];

static void init_names(void)
{
#define NAME(f) #f,
#define ONE(f) +1
#define X(kind, name, fields) \
	{ static const char *const n[] = { fields(NAME) }; field_names[SL_EV_##kind] = n; nfields[SL_EV_##kind] = 0 fields(ONE); }
	SL_EVENT_LIST(X)
#undef X
#undef ONE
#undef NAME
}

/* A value in the range a field of that name takes in a replay. */
static int64_t value_for(const char *field)
{
	uint64_t r = next();
	if (strstr(field, "base"))
		return (int64_t)(0xc000000000ull + (r % (1u << 20)) * 8192);
	if (strstr(field, "bytes") || strstr(field, "heap_") || !strcmp(field, "trigger"))
		return (int64_t)((r % 8192) * 8192);
	if (!strcmp(field, "npages"))
		return (int64_t)(1 + r % 4);
	return (int64_t)(r % 1024);
}

static struct sl_event *make_events(size_t n)
{
	struct sl_event *ev = calloc(n, sizeof *ev);
	uint64_t op = 0, clock = 0;
	if (!ev)
		die("events", "out of memory");
	for (size_t i = 0; i < n; i++) {
		uint64_t r = next() % 100;
		enum sl_event_kind k = r < 35 ? SL_EV_REFILL : r < 80 ? SL_EV_SPAN_MOVE : r < 86 ? SL_EV_SPAN_ALLOC
				       : r < 91 ? SL_EV_SPAN_FREE : r < 97 ? SL_EV_ARENA : r < 98 ? SL_EV_SCAVENGE
				       : r % 2 ? SL_EV_GC_START : SL_EV_GC_END;
		op += next() % 64;
		clock += next() % 4096;
		ev[i] = (struct sl_event){ .kind = k, .seq = i, .op = op, .clock_bytes = clock };
		int64_t *f = (int64_t *)(void *)&ev[i].u;
		for (unsigned j = 0; j < nfields[k]; j++)
			f[j] = value_for(field_names[k][j]);
	}
	return ev;
}

/* Rows the events make: one each, a gc_start + gc_end pair one. */
static size_t rows_of(const struct sl_event *ev, size_t n)
{
	size_t rows = 0;
	for (size_t i = 0; i < n; i++)
		rows += ev[i].kind != SL_EV_GC_END || i == 0 || ev[i - 1].kind != SL_EV_GC_START;
	return rows;
}

/* --- files --------------------------------------------------------------------- */

static char dir[4096];

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
	char side[4200];
	unlink(buf);
	snprintf(side, sizeof side, "%s-wal", buf);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", buf);
	unlink(side);
}

static struct db *open_db(const char *p)
{
	struct db *db;
	char err[1024];
	if (db_open(p, DB_OPEN_WRITE, &db, err, sizeof err))
		die("open", err);
	return db;
}

static struct db_run_info info(void)
{
	return (struct db_run_info){ .config_json = "{}", .trace_name = "bench" };
}

/* --- the measurements ------------------------------------------------------------ */

static double cpu_now(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU seconds of the last run_sink: the emitting thread's (emit copies and
 * handoffs; waiting for the writer costs none) and the whole process's
 * (both threads). Less sensitive to other load than wall time. */
static double last_emit_cpu, last_process_cpu;

/* One run through the sink; returns its load time (begin done to final
 * commit done). */
static double run_sink(struct db *db, const struct sl_event *ev, size_t n)
{
	struct db_run *run;
	struct db_run_info in = info();
	char err[1024];
	if (db_run_begin(db, &in, &run, err, sizeof err))
		die("begin", err);
	struct sl_sink sink = db_run_sink(run);
	double p0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID), t0 = now(), e0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
	for (size_t i = 0; i < n; i++)
		sink.emit(sink.ctx, &ev[i]);
	last_emit_cpu = cpu_now(CLOCK_THREAD_CPUTIME_ID) - e0;
	if (db_run_finish(run, DB_RUN_COMPLETE, NULL, NULL, err, sizeof err))
		die("finish", err);
	last_process_cpu = cpu_now(CLOCK_PROCESS_CPUTIME_ID) - p0;
	return now() - t0;
}

/* A first run into a fresh file (no index is built for one run); then
 * *index_s: the indexes over its rows, built when an empty second run
 * completes. */
static double bench_sink(const struct sl_event *ev, size_t n, double *index_s)
{
	char p[4200];
	path_of(p, sizeof p, "sink.db");
	struct db *db = open_db(p);
	double t = run_sink(db, ev, n);
	double emit = last_emit_cpu, process = last_process_cpu;
	*index_s = run_sink(db, ev, 0);
	last_emit_cpu = emit;
	last_process_cpu = process;
	db_close(db);
	return t;
}

/* A third run into a file whose indexes exist (built when its second,
 * small run completed): a later run appending to a results database. */
static double bench_sink_indexed(const struct sl_event *ev, size_t n)
{
	char p[4200];
	path_of(p, sizeof p, "indexed.db");
	struct db *db = open_db(p);
	run_sink(db, ev, 1000);
	run_sink(db, ev, 1000);
	double t = run_sink(db, ev, n);
	db_close(db);
	return t;
}

/* INSERT INTO t (cols) VALUES (?, ...) x rows. */
static sqlite3_stmt *prepare_insert(sqlite3 *c, const struct sink_table *t, unsigned rows)
{
	size_t cap = 256 + (size_t)rows * t->ncols * 4 + t->ncols * 40, len = 0;
	char *sql = malloc(cap);
	len += (size_t)snprintf(sql + len, cap - len, "INSERT INTO %s (", t->name);
	for (unsigned i = 0; i < t->ncols; i++)
		len += (size_t)snprintf(sql + len, cap - len, "%s\"%s\"", i ? "," : "", t->cols[i].name);
	len += (size_t)snprintf(sql + len, cap - len, ") VALUES ");
	for (unsigned r = 0; r < rows; r++) {
		len += (size_t)snprintf(sql + len, cap - len, "%s(", r ? "," : "");
		for (unsigned i = 0; i < t->ncols; i++)
			len += (size_t)snprintf(sql + len, cap - len, "%s?", i ? "," : "");
		len += (size_t)snprintf(sql + len, cap - len, ")");
	}
	sqlite3_stmt *st;
	if (sqlite3_prepare_v3(c, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		die("prepare", sqlite3_errmsg(c));
	free(sql);
	return st;
}

static void exec(sqlite3 *c, const char *sql)
{
	if (sqlite3_exec(c, sql, NULL, NULL, NULL) != SQLITE_OK)
		die(sql, sqlite3_errmsg(c));
}

/* Bind one event as row `row` of a statement for its table. */
static void bind_event(sqlite3_stmt *st, const struct sink_table *t, unsigned row, const struct sl_event *e)
{
	int base = (int)(row * t->ncols);
	const int64_t *f = (const int64_t *)(const void *)&e->u;
	sqlite3_bind_int64(st, base + 1, 1);
	sqlite3_bind_int64(st, base + 2, (int64_t)e->seq);
	sqlite3_bind_int64(st, base + 3, (int64_t)e->op);
	sqlite3_bind_int64(st, base + 4, (int64_t)e->clock_bytes);
	for (unsigned j = 4; j < t->ncols; j++)
		sqlite3_bind_int64(st, base + 1 + (int)j, j - 4 < nfields[e->kind] ? f[j - 4] : 0);
}

static void step(sqlite3 *c, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		die("insert", sqlite3_errmsg(c));
	sqlite3_reset(st);
}

/* Baselines: rows in emission order, each to its table's statement, `per`
 * rows per statement (1: single-row), COMMIT every 10,000 rows. GC events
 * go one row each into a table of similar width (the sink pairs them; they
 * are 2% of the rows). */
static double bench_baseline(const struct sl_event *ev, size_t n, unsigned per)
{
	char p[4200];
	path_of(p, sizeof p, per == 1 ? "single.db" : "values.db");
	struct db *db = open_db(p);
	sqlite3 *c = db_handle(db);
	unsigned nt;
	const struct sink_table *t = sink_tables(&nt);
	const struct sink_table *of_kind[SL_EV_NKINDS] = { 0 };
	sqlite3_stmt *one[SL_EV_NKINDS], *many[SL_EV_NKINDS];
	const struct sl_event *pending[SL_EV_NKINDS][64];
	unsigned npending[SL_EV_NKINDS] = { 0 };
	for (unsigned i = 0; i < nt; i++)
		if (t[i].rows == SINK_ROWS_EVENT)
			of_kind[t[i].kind] = &t[i];
	for (int k = 0; k < SL_EV_NKINDS; k++) {
		if (!of_kind[k])
			of_kind[k] = of_kind[SL_EV_SPAN_ALLOC];
		one[k] = prepare_insert(c, of_kind[k], 1);
		many[k] = per > 1 ? prepare_insert(c, of_kind[k], per) : one[k];
	}
	double t0 = now();
	exec(c, "BEGIN IMMEDIATE");
	for (size_t i = 0; i < n; i++) {
		int k = ev[i].kind;
		pending[k][npending[k]] = &ev[i];
		bind_event(many[k], of_kind[k], npending[k], &ev[i]);
		if (++npending[k] == per) {
			step(c, many[k]);
			npending[k] = 0;
		}
		if ((i + 1) % 10000 == 0) {
			exec(c, "COMMIT");
			exec(c, "BEGIN IMMEDIATE");
		}
	}
	for (int k = 0; k < SL_EV_NKINDS; k++)	/* what is left of partly bound statements */
		for (unsigned r = 0; r < npending[k] && per > 1; r++) {
			bind_event(one[k], of_kind[k], 0, pending[k][r]);
			step(c, one[k]);
		}
	exec(c, "COMMIT");
	double elapsed = now() - t0;
	for (int k = 0; k < SL_EV_NKINDS; k++) {
		if (many[k] != one[k])
			sqlite3_finalize(many[k]);
		sqlite3_finalize(one[k]);
	}
	db_close(db);
	return elapsed;
}

/* ~1 us of arithmetic the optimiser cannot drop. */
static volatile uint64_t sink_hole;

static void work(unsigned iters)
{
	uint64_t x = sink_hole;
	for (unsigned i = 0; i < iters; i++)
		x = x * 6364136223846793005u + 1442695040888963407u;
	sink_hole = x;
}

static unsigned calibrate_us(void)
{
	unsigned iters = 1000;
	for (;;) {
		double t0 = now();
		for (int i = 0; i < 1000; i++)
			work(iters);
		double per = (now() - t0) / 1000;
		if (per > 2e-7)
			return (unsigned)(iters * 1e-6 / per);
		iters *= 2;
	}
}

/* The replay-like loop with the sink attached: *loop is its time over the
 * bare loop's until the last emit returns (what the replay's wall_seconds
 * sees), *total the same including db_run_finish (drain, final commit);
 * returns the finish time. */
static double bench_overhead(const struct sl_event *ev, size_t n, unsigned iters, double *loop, double *total)
{
	char p[4200];
	path_of(p, sizeof p, "overhead.db");
	double t0 = now();
	for (size_t i = 0; i < n; i++)
		work(iters);
	double bare = now() - t0;

	struct db *db = open_db(p);
	struct db_run *run;
	struct db_run_info in = info();
	char err[1024];
	if (db_run_begin(db, &in, &run, err, sizeof err))
		die("begin", err);
	struct sl_sink sink = db_run_sink(run);
	t0 = now();
	for (size_t i = 0; i < n; i++) {
		work(iters);
		sink.emit(sink.ctx, &ev[i]);
	}
	double t1 = now();
	if (db_run_finish(run, DB_RUN_COMPLETE, NULL, NULL, err, sizeof err))
		die("finish", err);
	double t2 = now();
	db_close(db);
	*loop = (t1 - t0) / bare;
	*total = (t2 - t0) / bare;
	return t2 - t1;
}

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* --- statistics and output --------------------------------------------------------- */

struct series {
	const char *name, *unit;
	double v[64];
	int n;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(struct series *s, double *lo, double *hi)
{
	double v[64];
	memcpy(v, s->v, sizeof v);
	qsort(v, (size_t)s->n, sizeof *v, cmp_double);
	*lo = v[0];
	*hi = v[s->n - 1];
	return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

int main(int argc, char **argv)
{
	size_t n = 1000000;
	int reps = 5;
	const char *json = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--smoke")) {
			n = 40000;
			reps = 1;
		} else if (!strcmp(argv[i], "--events") && i + 1 < argc) {
			n = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
			reps = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else {
			fprintf(stderr, "usage: bench_db [--smoke] [--events N] [--reps R] [--json FILE]\n");
			return 2;
		}
	}
	if (reps < 1 || reps > 64 || n < 1000)
		die("arguments", "reps must be 1..64 and events at least 1000");
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/bench_db-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die(dir, "cannot create");
	init_names();
	struct sl_event *ev = make_events(n);
	size_t rows = rows_of(ev, n);
	unsigned iters = calibrate_us();

	struct series sink = { .name = "sink", .unit = "rows/s" }, indexed = { .name = "sink_indexed", .unit = "rows/s" },
		      single = { .name = "single", .unit = "rows/s" }, values = { .name = "values64", .unit = "rows/s" },
		      index = { .name = "index_s", .unit = "s" }, loop = { .name = "loop_overhead", .unit = "x" },
		      total = { .name = "total_overhead", .unit = "x" }, finish = { .name = "finish_s", .unit = "s" },
		      emit = { .name = "emit_cpu", .unit = "ns/event" }, cpu = { .name = "sink_cpu", .unit = "us/row" };
	for (int r = 0; r < reps; r++) {
		double ix, lo_r, to_r;
		sink.v[sink.n++] = (double)rows / bench_sink(ev, n, &ix);
		emit.v[emit.n++] = last_emit_cpu / (double)n * 1e9;
		cpu.v[cpu.n++] = last_process_cpu / (double)rows * 1e6;
		index.v[index.n++] = ix;
		single.v[single.n++] = (double)n / bench_baseline(ev, n, 1);
		values.v[values.n++] = (double)n / bench_baseline(ev, n, 64);
		indexed.v[indexed.n++] = (double)rows / bench_sink_indexed(ev, n);
		finish.v[finish.n++] = bench_overhead(ev, n, iters, &lo_r, &to_r);
		loop.v[loop.n++] = lo_r;
		total.v[total.n++] = to_r;
	}

	struct series *all[] = { &sink, &single, &values, &indexed, &index, &emit, &cpu, &loop, &finish, &total };
	double lo, hi, base = median(&single, &lo, &hi);
	printf("SQLite event sink, %zu events (%zu rows) per run, %d runs, WAL + synchronous=NORMAL\n", n, rows, reps);
	printf("%-14s %14s %14s %14s   %s\n", "measure", "median", "min", "max", "unit");
	FILE *jf = json ? fopen(json, "w") : NULL;
	if (json && !jf)
		die(json, "cannot write");
	if (jf)
		fprintf(jf, "{\"events\": %zu, \"rows\": %zu, \"reps\": %d, \"page_size\": ", n, rows, reps);
	if (jf) {
		sqlite3 *c;
		char p[4200];
		snprintf(p, sizeof p, "%s/sink.db", dir);
		sqlite3_open(p, &c);
		sqlite3_stmt *st;
		sqlite3_prepare_v2(c, "PRAGMA page_size", -1, &st, NULL);
		fprintf(jf, "%d", sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0);
		sqlite3_finalize(st);
		sqlite3_close(c);
	}
	for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
		double m = median(all[i], &lo, &hi);
		bool rate = !strcmp(all[i]->unit, "rows/s");
		if (rate)
			printf("%-14s %14.3f %14.3f %14.3f   M rows/s, %.2fx single\n", all[i]->name, m / 1e6, lo / 1e6,
			       hi / 1e6, m / base);
		else
			printf("%-14s %14.3f %14.3f %14.3f   %s\n", all[i]->name, m, lo, hi, all[i]->unit);
		if (jf)
			fprintf(jf, ", \"%s\": {\"median\": %.6g, \"min\": %.6g, \"max\": %.6g, \"unit\": \"%s\"}",
				all[i]->name, m, lo, hi, all[i]->unit);
	}
	if (jf) {
		fprintf(jf, ", \"sink_over_single\": %.4g}\n", median(&sink, &lo, &hi) / base);
		fclose(jf);
	}
	printf("emit_cpu: CPU of the emitting (replay) thread per event; sink_cpu: CPU of both threads per row\n"
	       "index_s: building the (run_id, seq) indexes over one run's rows (done once a file has 2 runs)\n"
	       "overhead: a loop of ~1 us of work per event with the sink over without; loop: until the\n"
	       "last emit, total: with db_run_finish (finish_s: drain and final commit)\n");
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(ev);
	return 0;
}
