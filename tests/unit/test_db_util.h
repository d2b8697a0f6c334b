/*
 * Helpers shared by the database tests (header-only: the test files each
 * build into their own binary). Synthetic events of every kind from a
 * seeded generator, a run written through the real sink, and small
 * queries on a plain SQLite connection of the test's own.
 */
#ifndef SPANLAB_TEST_DB_UTIL_H
#define SPANLAB_TEST_DB_UTIL_H

#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "sink_sqlite.h"
#include "testlib.h"

/* xorshift64*: deterministic from the seed; the event header counters
 * continue from one tg_stream call to the next. */
struct tg {
	uint64_t x;
	uint64_t seq, op, clock, cycle;
};

static inline uint64_t tg_next(struct tg *g)
{
	g->x ^= g->x >> 12;
	g->x ^= g->x << 25;
	g->x ^= g->x >> 27;
	return g->x * 2685821657736338717ull;
}

static inline int64_t tg_range(struct tg *g, int64_t n)
{
	return (int64_t)(tg_next(g) % (uint64_t)n);
}

/* A field value: mostly small, sometimes an address, now and then an
 * extreme, so the round trip covers every SQLite integer width. */
static inline int64_t tg_value(struct tg *g)
{
	switch (tg_range(g, 16)) {
	case 0: return INT64_MAX;
	case 1: return INT64_MIN + 1;	/* INT64_MIN is SIM_NULL in snapshots */
	case 2: return -tg_range(g, 1000);
	case 3: case 4: return 0xc000000000ll + tg_range(g, 1 << 20) * 8192;
	default: return tg_range(g, 1 << 14);
	}
}

static inline unsigned tg_nfields(enum sl_event_kind k)
{
	static const unsigned n[] = {
#define ONE(f) +1
#define X(kind, name, fields) [SL_EV_##kind] = 0 fields(ONE),
		SL_EVENT_LIST(X)
#undef X
#undef ONE
	};
	return n[k];
}

static inline int64_t *tg_fields(struct sl_event *e)
{
	return (int64_t *)(void *)&e->u;
}

/* Fill e with kind k and random fields; the header from the counters. */
static inline void tg_event(struct tg *g, struct sl_event *e, enum sl_event_kind k, uint64_t seq,
			    uint64_t op, uint64_t clock)
{
	memset(e, 0, sizeof *e);
	e->kind = k;
	e->seq = seq;
	e->op = op;
	e->clock_bytes = clock;
	for (unsigned i = 0; i < tg_nfields(k); i++)
		tg_fields(e)[i] = tg_value(g);
}

/* A stream of n events: realistic proportions (refills and span moves
 * dominate), GC cycles as start/end pairs with matching cycle numbers.
 * Writes them to out (may be NULL) and emits each through sink. */
static inline void tg_stream(struct tg *g, struct sl_sink sink, size_t n, struct sl_event *out)
{
	for (size_t i = 0; i < n; i++) {
		struct sl_event e;
		int64_t r = tg_range(g, 100);
		enum sl_event_kind k = r < 35 ? SL_EV_REFILL : r < 80 ? SL_EV_SPAN_MOVE : r < 86 ? SL_EV_SPAN_ALLOC
				       : r < 91 ? SL_EV_SPAN_FREE : r < 97 ? SL_EV_ARENA : r < 98 ? SL_EV_SCAVENGE
										 : SL_EV_GC_START;
		g->op += (uint64_t)tg_range(g, 40);
		g->clock += (uint64_t)tg_range(g, 4000);
		if (k == SL_EV_GC_START && i + 1 < n) {
			tg_event(g, &e, k, g->seq++, g->op, g->clock);
			e.u.gc_start.cycle = (int64_t)++g->cycle;
			if (out)
				out[i] = e;
			sink.emit(sink.ctx, &e);
			i++;
			tg_event(g, &e, SL_EV_GC_END, g->seq++, g->op, g->clock);
			e.u.gc_end.cycle = (int64_t)g->cycle;
		} else {
			tg_event(g, &e, k == SL_EV_GC_START ? SL_EV_REFILL : k, g->seq++, g->op, g->clock);
		}
		if (out)
			out[i] = e;
		sink.emit(sink.ctx, &e);
	}
}

static inline void tg_discard(void *ctx, const struct sl_event *e)
{
	(void)ctx;
	(void)e;
}

static inline struct sl_sink tg_discard_sink(void)
{
	return (struct sl_sink){ .emit = tg_discard, .ctx = NULL };
}

static inline struct db_run_info tg_info(void)
{
	static char *argv[] = { "spanlab", "replay", "t.slt", NULL };
	return (struct db_run_info){
		.trace_path = NULL,
		.trace_name = "synthetic",
		.trace_format = "slt",
		.trace_sha256 = "0000000000000000000000000000000000000000000000000000000000000000",
		.config_json = "{\"procs\":1}",
		.free_policy = "gc",
		.procs = 1,
		.tiny_assumption = DB_TINY_ON,
		.argc = 3,
		.argv = argv,
	};
}

static inline void tg_path(char *buf, size_t len, const char *dir, const char *name)
{
	if (snprintf(buf, len, "%s/%s", dir, name) >= (int)len)
		abort();	/* test paths are short */
}

static inline struct db *tg_open(const char *path)
{
	struct db *db;
	char err[1024];
	int code = db_open(path, DB_OPEN_WRITE, &db, err, sizeof err);
	cr_assert_eq(code, 0, "db_open: %s", err);
	return db;
}

/* One whole run of n synthetic events (and a few snapshots); returns its id. */
static inline int64_t tg_run(struct db *db, uint64_t seed, size_t n, enum db_run_status status)
{
	struct db_run *run;
	struct db_run_info info = tg_info();
	struct tg g = { .x = seed | 1 };
	char err[1024];

	cr_assert_eq(db_run_begin(db, &info, &run, err, sizeof err), 0, "begin: %s", err);
	int64_t id = db_run_id(run);
	tg_stream(&g, db_run_sink(run), n, NULL);
	for (int i = 0; i < 10; i++) {
		struct sim_snapshot s = { .op = i, .clock_bytes = i * 100, .trace_time_ns = SIM_NULL, .live_bytes = i };
		cr_assert_eq(db_run_snapshot(run, &s), 0);
	}
	struct sim_summary sum = { .ops = (int64_t)n, .hit_rate_mcache = 0.5 };
	cr_assert_eq(db_run_finish(run, status, &sum, NULL, err, sizeof err), 0, "finish: %s", err);
	return id;
}

/* A plain connection of the test's own. */
static inline sqlite3 *tq_open(const char *path)
{
	sqlite3 *c;
	cr_assert_eq(sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK, "%s", path);
	sqlite3_busy_timeout(c, 10000);
	return c;
}

/* The first column of the first row of a printf-formatted query. */
static inline int64_t tq_i64(sqlite3 *c, const char *fmt, ...)
{
	char sql[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(c));
	int rc = sqlite3_step(st);
	cr_assert(rc == SQLITE_ROW, "%s: no row (%s)", sql, sqlite3_errmsg(c));
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The same, as text (caller frees; NULL for SQL NULL). */
static inline char *tq_text(sqlite3 *c, const char *fmt, ...)
{
	char sql[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(c));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: no row", sql);
	const unsigned char *t = sqlite3_column_text(st, 0);
	char *s = t ? strdup((const char *)t) : NULL;
	sqlite3_finalize(st);
	return s;
}

/* A digest of every row of run `id` in every run table, as the sum of a
 * per-row hash over all columns but run_id: equal for equal contents. */
static inline char *tq_run_digest(sqlite3 *c, const char *uuid)
{
	unsigned n;
	const struct sink_table *t = sink_tables(&n);
	int64_t id = tq_i64(c, "SELECT run_id FROM runs WHERE run_uuid = '%s'", uuid);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	for (unsigned i = 0; i < n; i++) {
		char sql[4096];
		int o = snprintf(sql, sizeof sql, "SELECT count(*), total(");
		for (unsigned j = 1; j < t[i].ncols; j++)
			o += snprintf(sql + o, sizeof sql - (size_t)o, "%s(coalesce(%s, 7) %% 1000003) * %u",
				      j > 1 ? " + " : "", t[i].cols[j].name, j * 2654435761u % 1000);
		snprintf(sql + o, sizeof sql - (size_t)o, ") FROM %s WHERE run_id = %lld", t[i].name, (long long)id);
		sqlite3_stmt *st;
		cr_assert_eq(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
		cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
		fprintf(f, "%s:%lld:%.17g ", t[i].name, (long long)sqlite3_column_int64(st, 0),
			sqlite3_column_double(st, 1));
		sqlite3_finalize(st);
	}
	char *status = tq_text(c, "SELECT status || ' ' || coalesce(event_rows, -1) || ' ' || config_json FROM runs WHERE run_id = %lld", (long long)id);
	fprintf(f, "%s", status);
	free(status);
	fclose(f);
	return out;
}

/* Compare table t's rows of run `id` with the expected events of its kind,
 * in seq order; returns the number of rows. */
static inline size_t check_event_table(sqlite3 *c, const struct sink_table *t, int64_t id, const struct sl_event *ev,
				size_t n)
{
	char sql[4096];
	int o = snprintf(sql, sizeof sql, "SELECT ");
	for (unsigned j = 1; j < t->ncols; j++)
		o += snprintf(sql + o, sizeof sql - (size_t)o, "%s%s", j > 1 ? ", " : "", t->cols[j].name);
	snprintf(sql + o, sizeof sql - (size_t)o, " FROM %s WHERE run_id = %lld ORDER BY seq", t->name, (long long)id);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
	size_t rows = 0, i = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		while (i < n && ev[i].kind != t->kind)
			i++;
		cr_assert_lt(i, n, "%s: more rows than events", t->name);
		const struct sl_event *e = &ev[i++];
		cr_assert_eq(sqlite3_column_int64(st, 0), (int64_t)e->seq, "%s row %zu seq", t->name, rows);
		cr_assert_eq(sqlite3_column_int64(st, 1), (int64_t)e->op, "%s row %zu op", t->name, rows);
		cr_assert_eq(sqlite3_column_int64(st, 2), (int64_t)e->clock_bytes, "%s row %zu clock", t->name, rows);
		for (unsigned f = 0; f < tg_nfields(t->kind); f++)
			cr_assert_eq(sqlite3_column_int64(st, 3 + (int)f), tg_fields((struct sl_event *)e)[f],
				     "%s row %zu column %s", t->name, rows, t->cols[4 + f].name);
		rows++;
	}
	while (i < n && ev[i].kind != t->kind)
		i++;
	cr_assert_eq(i, n, "%s: fewer rows than events", t->name);
	sqlite3_finalize(st);
	return rows;
}

/* gc_cycles: one row per start/end pair, every column of both halves. */
static inline size_t check_gc_table(sqlite3 *c, int64_t id, const struct sl_event *ev, size_t n)
{
	sqlite3_stmt *st;
	const unsigned ns = tg_nfields(SL_EV_GC_START), ne = tg_nfields(SL_EV_GC_END);
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT * FROM gc_cycles WHERE run_id = %lld ORDER BY seq", (long long)id);
	cr_assert_eq(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK);
	size_t rows = 0, i = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		while (i < n && ev[i].kind != SL_EV_GC_START)
			i++;
		cr_assert_lt(i + 1, n);
		const struct sl_event *s = &ev[i], *e = &ev[i + 1];
		cr_assert_eq(e->kind, SL_EV_GC_END);
		int col = 1;
		cr_assert_eq(sqlite3_column_int64(st, col++), (int64_t)s->seq);
		cr_assert_eq(sqlite3_column_int64(st, col++), (int64_t)s->op);
		cr_assert_eq(sqlite3_column_int64(st, col++), (int64_t)s->clock_bytes);
		for (unsigned f = 0; f < ns; f++)
			cr_assert_eq(sqlite3_column_int64(st, col++), tg_fields((struct sl_event *)s)[f]);
		cr_assert_eq(sqlite3_column_int64(st, col++), (int64_t)e->seq);
		cr_assert_eq(sqlite3_column_int64(st, col++), (int64_t)e->op);
		cr_assert_eq(sqlite3_column_int64(st, col++), (int64_t)e->clock_bytes);
		for (unsigned f = 0; f < ne; f++)
			cr_assert_eq(sqlite3_column_int64(st, col++), tg_fields((struct sl_event *)e)[f]);
		cr_assert_eq(col, sqlite3_column_count(st));
		i += 2;
		rows++;
	}
	sqlite3_finalize(st);
	return rows;
}

/* The rows of run `id` equal the first `upto` of n events generated from
 * `seed` by calls of `chunk` events (chunk boundaries change the stream). */
static inline void check_run_prefix(sqlite3 *c, int64_t id, uint64_t seed, size_t n, size_t chunk, size_t upto)
{
	struct sl_event *ev = calloc(n, sizeof *ev);
	struct tg g = { .x = seed | 1 };
	unsigned nt;
	const struct sink_table *t = sink_tables(&nt);

	for (size_t i = 0; i < n; i += chunk)
		tg_stream(&g, tg_discard_sink(), chunk, ev + i);
	for (unsigned i = 0; i < nt; i++) {
		if (t[i].rows == SINK_ROWS_EVENT)
			check_event_table(c, &t[i], id, ev, upto);
		else if (t[i].rows == SINK_ROWS_GC)
			check_gc_table(c, id, ev, upto);
	}
	free(ev);
}

static inline void check_run_equals(sqlite3 *c, int64_t id, uint64_t seed, size_t n, size_t chunk)
{
	check_run_prefix(c, id, seed, n, chunk, n);
}

/* Rows run `id` has in the event tables (a gc_cycles row counts once),
 * as runs.event_rows counts them. */
static inline int64_t tq_event_rows(sqlite3 *c, int64_t id)
{
	unsigned nt;
	const struct sink_table *t = sink_tables(&nt);
	int64_t rows = 0;
	for (unsigned i = 0; i < nt; i++)
		if (t[i].rows == SINK_ROWS_EVENT || t[i].rows == SINK_ROWS_GC)
			rows += tq_i64(c, "SELECT count(*) FROM %s WHERE run_id = %lld", t[i].name, (long long)id);
	return rows;
}

/* 1 + the largest seq logged for run `id` (0: none). */
static inline int64_t run_events_logged(sqlite3 *c, int64_t id)
{
	unsigned nt;
	const struct sink_table *t = sink_tables(&nt);
	int64_t top = -1;
	for (unsigned i = 0; i < nt; i++) {
		if (t[i].rows != SINK_ROWS_EVENT && t[i].rows != SINK_ROWS_GC)
			continue;
		int64_t m = tq_i64(c, "SELECT coalesce(max(max(coalesce(seq, -1), %s)), -1) FROM %s WHERE run_id = %lld",
				   t[i].rows == SINK_ROWS_GC ? "coalesce(end_seq, -1)" : "-1", t[i].name, (long long)id);
		top = m > top ? m : top;
	}
	return top + 1;
}

/* Leaves `path` as a writer killed in mid-transaction leaves it, with a
 * hot rollback journal beside it: a child switches the file to rollback
 * journaling, runs `sql` in one transaction with a page cache too small to
 * hold it (so changed pages reach the file, behind a synced journal) and
 * is killed before COMMIT. */
static inline void tq_kill_mid_transaction(const char *path, const char *sql)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		sqlite3 *c;
		if (sqlite3_open(path, &c) != SQLITE_OK ||
		    sqlite3_exec(c, "PRAGMA journal_mode = DELETE; PRAGMA cache_size = 4; BEGIN", NULL, NULL, NULL) ||
		    sqlite3_exec(c, sql, NULL, NULL, NULL))
			_exit(1);
		kill(getpid(), SIGKILL);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the writer failed before its kill");
	char journal[8192];
	struct stat js;
	snprintf(journal, sizeof journal, "%s-journal", path);
	cr_assert(stat(journal, &js) == 0 && js.st_size > 0, "no hot journal beside %s", path);
}

/* SQL that writes more pages than tq_kill_mid_transaction's cache holds. */
#define TQ_MANY_PAGES \
	"CREATE TABLE junk (x BLOB); WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n" \
	" WHERE i < 2000) INSERT INTO junk SELECT randomblob(400) FROM n;"

#endif
