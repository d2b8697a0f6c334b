/*
 * The event sink end to end: synthetic events of every kind, snapshots and
 * size-class rows go through the real sink (batches, writer thread, the
 * sl_rows INSERTs) into a database file, and are read back with a plain
 * SQLite connection and compared value by value. Also: GC start/end
 * pairing, the run lifecycle and its statuses, runs that share a file
 * (two handles in one process, two processes at once), and the summary's
 * JSON. Randomized tests print their seed (SPANLAB_SEED replays one).
 */
#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "sha256.h"
#include "test_db_util.h"

struct fixture {
	char *dir;
	char path[4096];
};

static struct fixture fx;

static void setup(void)
{
	fx.dir = tl_tmpdir();
	cr_assert(fx.dir);
	tg_path(fx.path, sizeof fx.path, fx.dir, "t.db");
}

static void teardown(void)
{
	tl_tmpdir_remove(fx.dir);
}

TestSuite(db_sink, .init = setup, .fini = teardown, .timeout = 60);

/* Random snapshot fields (op increasing, some timestamps NULL). */
static void random_snapshot(struct tg *g, struct sim_snapshot *s, size_t i)
{
	int64_t *f = (int64_t *)(void *)s;
	for (size_t j = 0; j < sizeof *s / sizeof *f; j++)
		f[j] = tg_value(g);
	s->op = (int64_t)i;
	s->trace_time_ns = i % 3 ? (int64_t)i * 1000 : SIM_NULL;
}

static void check_snapshots(sqlite3 *c, int64_t id, const struct sim_snapshot *snaps, size_t n)
{
	unsigned nt;
	const struct sink_table *t = sink_tables(&nt);
	while (t->rows != SINK_ROWS_SNAPSHOT)
		t++;
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT * FROM snapshots WHERE run_id = %lld ORDER BY op", (long long)id);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK);
	cr_assert_eq((unsigned)sqlite3_column_count(st), t->ncols);
	size_t i = 0;
	for (; sqlite3_step(st) == SQLITE_ROW; i++) {
		cr_assert_lt(i, n);
		const int64_t *f = (const int64_t *)(const void *)&snaps[i];
		for (unsigned j = 1; j < t->ncols; j++) {
			cr_assert_str_eq(sqlite3_column_name(st, (int)j), t->cols[j].name);
			if (f[j - 1] == SIM_NULL)
				cr_assert_eq(sqlite3_column_type(st, (int)j), SQLITE_NULL, "snapshot %zu %s", i,
					     t->cols[j].name);
			else
				cr_assert_eq(sqlite3_column_int64(st, (int)j), f[j - 1], "snapshot %zu %s", i,
					     t->cols[j].name);
		}
	}
	cr_assert_eq(i, n);
	sqlite3_finalize(st);
}

Test(db_sink, round_trip_every_kind, .description = "events, snapshots and class rows come back equal")
{
	const size_t n = 50000;		/* three event batches and a partial one */
	const size_t nsnap = 2500;	/* two snapshot batches and a partial one */
	struct tg g = { .x = tl_seed("db_sink::round_trip_every_kind") | 1 };
	struct sl_event *ev = calloc(n, sizeof *ev);
	struct sim_snapshot *snaps = calloc(nsnap, sizeof *snaps);
	struct db *db = tg_open(fx.path);
	struct db_run_info info = tg_info();
	struct db_run *run;
	char err[1024];

	cr_assert_eq(db_run_begin(db, &info, &run, err, sizeof err), 0, "%s", err);
	int64_t id = db_run_id(run);
	struct sl_sink sink = db_run_sink(run);
	for (size_t slice = 0; slice < 10; slice++) {	/* snapshots between events, as in a replay */
		tg_stream(&g, sink, n / 10, ev + slice * (n / 10));
		for (size_t k = slice * (nsnap / 10); k < (slice + 1) * (nsnap / 10); k++) {
			random_snapshot(&g, &snaps[k], k);
			cr_assert_eq(db_run_snapshot(run, &snaps[k]), 0);
		}
	}
	for (int cls = 0; cls < 68; cls++) {
		struct sim_size_class_row r = { .size_class = cls, .slot_size = cls * 16, .mallocs = cls * 7,
						.requested_bytes = INT64_MAX - cls };
		cr_assert_eq(db_run_size_class(run, &r), 0);
	}
	struct sim_summary sum = { .ops = 123, .peak_live_bytes = 1 << 30, .hit_rate_mcache = 0.875,
				   .frag_ready_jw4 = NAN, .wall_seconds = 1.5 };
	cr_assert_eq(db_run_finish(run, DB_RUN_COMPLETE, &sum, NULL, err, sizeof err), 0, "%s", err);
	db_close(db);

	sqlite3 *c = tq_open(fx.path);
	unsigned nt;
	const struct sink_table *t = sink_tables(&nt);
	int64_t rows = 0;
	for (unsigned i = 0; i < nt; i++) {
		if (t[i].rows == SINK_ROWS_EVENT)
			rows += (int64_t)check_event_table(c, &t[i], id, ev, n);
		else if (t[i].rows == SINK_ROWS_GC)
			rows += (int64_t)check_gc_table(c, id, ev, n);
	}
	int64_t gc_events = 0;
	for (size_t i = 0; i < n; i++)
		gc_events += ev[i].kind == SL_EV_GC_START || ev[i].kind == SL_EV_GC_END;
	cr_assert_gt(gc_events, 0, "the stream should hold GC cycles");
	cr_assert_eq(rows, (int64_t)n - gc_events / 2, "every event is a row, a GC cycle one row");
	check_snapshots(c, id, snaps, nsnap);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM size_class_stats WHERE run_id = %lld", (long long)id), 68);
	cr_assert_eq(tq_i64(c, "SELECT requested_bytes FROM size_class_stats WHERE size_class = 67"), INT64_MAX - 67);
	cr_assert_eq(tq_i64(c, "SELECT event_rows FROM runs"), rows);
	cr_assert_eq(tq_i64(c, "SELECT snapshot_rows FROM runs"), (int64_t)nsnap);
	cr_assert_eq(tq_i64(c, "SELECT ops FROM runs"), 123);
	cr_assert_eq(tq_i64(c, "SELECT hit_rate_mcache = 0.875 FROM runs"), 1);
	cr_assert_eq(tq_i64(c, "SELECT frag_ready_jw4 IS NULL FROM runs"), 1, "NaN is stored as NULL");
	cr_assert_eq(tq_i64(c, "SELECT status = 'complete' AND finished_at IS NOT NULL FROM runs"), 1);
	sqlite3_close(c);
	free(ev);
	free(snaps);
}

static void emit_gc(struct sl_sink sink, enum sl_event_kind k, uint64_t seq, int64_t cycle)
{
	struct sl_event e = { .kind = k, .seq = seq, .op = seq * 10, .clock_bytes = seq * 100 };
	if (k == SL_EV_GC_START)
		e.u.gc_start = (struct sl_ev_gc_start){ .cycle = cycle, .reason = SL_GC_MARKER, .heap_goal = 4 << 20 };
	else
		e.u.gc_end = (struct sl_ev_gc_end){ .cycle = cycle, .heap_marked = 1000 + cycle };
	sink.emit(sink.ctx, &e);
}

Test(db_sink, gc_cycles_pair_start_and_end, .description = "unmatched halves become rows with NULLs")
{
	struct db *db = tg_open(fx.path);
	struct db_run_info info = tg_info();
	struct db_run *run;
	char err[1024];

	cr_assert_eq(db_run_begin(db, &info, &run, err, sizeof err), 0, "%s", err);
	struct sl_sink sink = db_run_sink(run);
	emit_gc(sink, SL_EV_GC_START, 0, 1);
	emit_gc(sink, SL_EV_GC_END, 1, 1);	/* (1, 1) */
	emit_gc(sink, SL_EV_GC_START, 2, 2);	/* (2, -): another start follows */
	emit_gc(sink, SL_EV_GC_START, 3, 3);	/* (3, -): the next end is another cycle's */
	emit_gc(sink, SL_EV_GC_END, 4, 4);	/* (-, 4) */
	emit_gc(sink, SL_EV_GC_END, 5, 5);	/* (-, 5): no start at all */
	emit_gc(sink, SL_EV_GC_START, 6, 6);	/* (6, -): still open at the end */
	cr_assert_eq(db_run_finish(run, DB_RUN_COMPLETE, NULL, NULL, err, sizeof err), 0, "%s", err);
	db_close(db);

	static const struct { int64_t cycle, end_cycle, seq, end_seq; } want[] = {
		{ 1, 1, 0, 1 }, { 2, -1, 2, -1 }, { 3, -1, 3, -1 }, { -1, 4, -1, 4 }, { -1, 5, -1, 5 }, { 6, -1, 6, -1 },
	};
	sqlite3 *c = tq_open(fx.path);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(c,
					"SELECT coalesce(cycle, -1), coalesce(end_cycle, -1), coalesce(seq, -1),"
					" coalesce(end_seq, -1), coalesce(op, -1), coalesce(end_heap_marked, -1)"
					" FROM gc_cycles ORDER BY coalesce(seq, end_seq)",
					-1, &st, NULL),
		     SQLITE_OK);
	size_t i = 0;
	for (; sqlite3_step(st) == SQLITE_ROW; i++) {
		cr_assert_lt(i, sizeof want / sizeof want[0]);
		cr_assert_eq(sqlite3_column_int64(st, 0), want[i].cycle, "row %zu", i);
		cr_assert_eq(sqlite3_column_int64(st, 1), want[i].end_cycle, "row %zu", i);
		cr_assert_eq(sqlite3_column_int64(st, 2), want[i].seq, "row %zu", i);
		cr_assert_eq(sqlite3_column_int64(st, 3), want[i].end_seq, "row %zu", i);
		cr_assert_eq(sqlite3_column_int64(st, 4), want[i].seq < 0 ? -1 : want[i].seq * 10, "row %zu", i);
		cr_assert_eq(sqlite3_column_int64(st, 5), want[i].end_cycle < 0 ? -1 : 1000 + want[i].end_cycle);
	}
	cr_assert_eq(i, sizeof want / sizeof want[0]);
	sqlite3_finalize(st);
	cr_assert_eq(tq_i64(c, "SELECT event_rows FROM runs"), 6);
	sqlite3_close(c);
}

Test(db_sink, statuses_and_errors, .description = "complete, failed, interrupted, closed early")
{
	struct db *db = tg_open(fx.path);
	struct db_run_info info = tg_info();
	struct db_run *run, *other;
	char err[1024];
	struct sim_summary sum = { .ops = 77, .wall_seconds = 0.25 };

	int64_t a = tg_run(db, 1, 100, DB_RUN_COMPLETE);

	cr_assert_eq(db_run_begin(db, &info, &run, err, sizeof err), 0, "%s", err);
	int64_t b = db_run_id(run);
	cr_assert_neq(db_run_begin(db, &info, &other, err, sizeof err), 0, "one run at a time per handle");
	cr_assert(strstr(err, "already"), "%s", err);
	cr_assert_eq(db_run_finish(run, DB_RUN_FAILED, NULL, "trace.slt: byte 12: bad record", err, sizeof err), 0);

	cr_assert_eq(db_run_begin(db, &info, &run, err, sizeof err), 0, "%s", err);
	int64_t c_id = db_run_id(run);
	cr_assert_eq(db_run_finish(run, DB_RUN_INTERRUPTED, &sum, "interrupted by SIGINT", err, sizeof err), 0);

	cr_assert_eq(db_run_begin(db, &info, &run, err, sizeof err), 0, "%s", err);
	int64_t d = db_run_id(run);
	db_close(db);	/* without finishing: recorded as failed */

	sqlite3 *c = tq_open(fx.path);
	static const char *const want[] = { "complete", "failed", "interrupted", "failed" };
	int64_t ids[] = { a, b, c_id, d };
	for (int i = 0; i < 4; i++) {
		char *s = tq_text(c, "SELECT status FROM runs WHERE run_id = %lld", (long long)ids[i]);
		cr_assert_str_eq(s, want[i], "run %d", i);
		free(s);
		cr_assert_eq(tq_i64(c, "SELECT finished_at IS NOT NULL FROM runs WHERE run_id = %lld", (long long)ids[i]), 1);
	}
	char *e = tq_text(c, "SELECT error FROM runs WHERE run_id = %lld", (long long)b);
	cr_assert_str_eq(e, "trace.slt: byte 12: bad record");
	free(e);
	cr_assert_eq(tq_i64(c, "SELECT ops IS NULL FROM runs WHERE run_id = %lld", (long long)b), 1);
	cr_assert_eq(tq_i64(c, "SELECT ops FROM runs WHERE run_id = %lld", (long long)c_id), 77);
	e = tq_text(c, "SELECT error FROM runs WHERE run_id = %lld", (long long)d);
	cr_assert(strstr(e, "closed before"), "%s", e);
	free(e);
	/* the run row carries its provenance */
	cr_assert_eq(tq_i64(c, "SELECT length(run_uuid) = 36 AND config_json = '{\"procs\":1}'"
			       " AND argv = '[\"spanlab\",\"replay\",\"t.slt\"]' AND allocator = 'go'"
			       " AND sqlite_version = sqlite_version() AND schema_version = %d"
			       " AND tiny_assumption LIKE '%%tiny allocator%%' AND host IS NOT NULL"
			       " FROM runs WHERE run_id = %lld", DB_SCHEMA_VERSION, (long long)a), 1);
	cr_assert_eq(tq_i64(c, "SELECT count(DISTINCT run_uuid) FROM runs"), 4);
	sqlite3_close(c);
}

Test(db_sink, two_handles_interleaved, .description = "two runs logged at once into one file stay apart")
{
	const size_t n = 40000;
	uint64_t seed = tl_seed("db_sink::two_handles_interleaved");
	struct db *db1 = tg_open(fx.path), *db2 = tg_open(fx.path);
	struct db_run_info info = tg_info();
	struct db_run *r1, *r2;
	struct tg g1 = { .x = seed | 1 }, g2 = { .x = (seed + 1) | 1 };
	char err[1024];

	cr_assert_eq(db_run_begin(db1, &info, &r1, err, sizeof err), 0, "%s", err);
	cr_assert_eq(db_run_begin(db2, &info, &r2, err, sizeof err), 0, "%s", err);
	for (size_t i = 0; i < n; i += 1000) {
		tg_stream(&g1, db_run_sink(r1), 1000, NULL);
		tg_stream(&g2, db_run_sink(r2), 1000, NULL);
	}
	int64_t id1 = db_run_id(r1), id2 = db_run_id(r2);
	cr_assert_eq(db_run_finish(r2, DB_RUN_COMPLETE, NULL, NULL, err, sizeof err), 0, "%s", err);
	cr_assert_eq(db_run_finish(r1, DB_RUN_COMPLETE, NULL, NULL, err, sizeof err), 0, "%s", err);
	db_close(db1);
	db_close(db2);

	sqlite3 *c = tq_open(fx.path);
	check_run_equals(c, id1, seed, n, 1000);
	check_run_equals(c, id2, seed + 1, n, 1000);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'complete'"), 2);
	sqlite3_close(c);
}

/* A child process that logs one run of n events from `seed`; exits 0 when
 * it completed. `go` is read before starting, so runs overlap. */
static pid_t spawn_writer(const char *path, uint64_t seed, size_t n, int go)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid)
		return pid;
	char b;
	if (read(go, &b, 1) != 1)
		_exit(3);
	struct db *db;
	struct db_run *run;
	struct db_run_info info = tg_info();
	struct tg g = { .x = seed | 1 };
	char err[1024];
	if (db_open(path, DB_OPEN_WRITE, &db, err, sizeof err) ||
	    db_run_begin(db, &info, &run, err, sizeof err)) {
		fprintf(stderr, "writer: %s\n", err);
		_exit(1);
	}
	tg_stream(&g, db_run_sink(run), n, NULL);
	struct sim_summary sum = { .ops = (int64_t)seed };
	int code = db_run_finish(run, DB_RUN_COMPLETE, &sum, NULL, err, sizeof err);
	if (code)
		fprintf(stderr, "writer: %s\n", err);
	db_close(db);
	_exit(code ? 2 : 0);
}

Test(db_sink, two_processes_at_once, .description = "concurrent writers wait for the lock, both complete")
{
	const size_t n = 60000;
	uint64_t seed = tl_seed("db_sink::two_processes_at_once");
	int go[2];

	db_close(tg_open(fx.path));	/* created first, so neither child races to create it */
	cr_assert_eq(pipe(go), 0);
	pid_t a = spawn_writer(fx.path, seed, n, go[0]);
	pid_t b = spawn_writer(fx.path, seed + 1, n, go[0]);
	cr_assert_eq(write(go[1], "ab", 2), 2);
	int sa, sb;
	waitpid(a, &sa, 0);
	waitpid(b, &sb, 0);
	cr_assert(WIFEXITED(sa) && WEXITSTATUS(sa) == 0, "writer a: status %#x", sa);
	cr_assert(WIFEXITED(sb) && WEXITSTATUS(sb) == 0, "writer b: status %#x", sb);

	sqlite3 *c = tq_open(fx.path);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'complete'"), 2);
	for (int i = 0; i < 2; i++) {
		int64_t id = tq_i64(c, "SELECT run_id FROM runs WHERE ops = %lld", (long long)(seed + (uint64_t)i));
		check_run_equals(c, id, seed + (uint64_t)i, n, n);
	}
	sqlite3_close(c);
}

Test(db_sink, summary_json_has_the_design_keys)
{
	static const char *const top[] = {
		"ops", "mallocs", "frees", "unknown_frees", "peak_live_bytes", "final_live_bytes",
		"final_live_objects", "peak_heap_inuse_bytes", "peak_heap_sys_bytes", "peak_ready_bytes",
		"internal_frag_bytes_at_peak", "refills", "span_moves", "arena_transitions", "gc_cycles",
		"hit_rates", "wall_seconds", "ops_per_second", "fragmentation",
	};
	static const char *const tiers[] = { "mcache", "mcentral", "pagecache", "heap" };
	struct sim_summary s = { .ops = 1000000, .peak_live_bytes = (int64_t)1 << 40, .hit_rate_mcache = 0.96875,
				 .hit_rate_heap = NAN, .frag_ready_jw3 = 0.5 };
	cJSON *j = summary_to_json(&s);
	cr_assert(j);
	for (size_t i = 0; i < sizeof top / sizeof *top; i++)
		cr_assert(cJSON_GetObjectItemCaseSensitive(j, top[i]), "missing key %s", top[i]);
	cJSON *hr = cJSON_GetObjectItemCaseSensitive(j, "hit_rates");
	for (size_t i = 0; i < 4; i++)
		cr_assert(cJSON_GetObjectItemCaseSensitive(hr, tiers[i]), "missing hit_rates.%s", tiers[i]);
	cr_assert_float_eq(cJSON_GetObjectItemCaseSensitive(hr, "mcache")->valuedouble, 0.96875, 0);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(j, "peak_live_bytes")->valuedouble, 1099511627776.0);
	cJSON *fr = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "fragmentation"), "ready");
	cr_assert_float_eq(cJSON_GetObjectItemCaseSensitive(fr, "jw3")->valuedouble, 0.5, 0);
	char *text = cJSON_PrintUnformatted(j);
	cr_assert(strstr(text, "\"heap\":null"), "NaN prints as null: %s", text);
	cr_assert(strstr(text, "\"ops\":1000000,"), "integers print as integers: %s", text);
	free(text);
	cJSON_Delete(j);
}

/* The replay's loop in miniature: one refill per record, polling the stop
 * flag at each boundary; on a signal, finish as interrupted and exit 130
 * after reporting how many events were emitted. */
static void interrupted_child(const char *path, int ready, int report)
{
	struct db *db;
	struct db_run *run;
	struct db_run_info info = tg_info();
	char err[1024];
	if (db_open(path, DB_OPEN_WRITE, &db, err, sizeof err) || db_run_begin(db, &info, &run, err, sizeof err))
		_exit(1);
	db_stop_install();
	struct sl_sink sink = db_run_sink(run);
	int64_t n = 0;
	while (!db_stop_requested()) {
		struct sl_event e = { .kind = SL_EV_REFILL, .seq = (uint64_t)n, .op = (uint64_t)n };
		sink.emit(sink.ctx, &e);
		if (++n == 30000 && write(ready, "r", 1) != 1)
			_exit(1);
	}
	char msg[64];
	snprintf(msg, sizeof msg, "interrupted by signal %d", db_stop_requested());
	if (db_run_finish(run, DB_RUN_INTERRUPTED, NULL, msg, err, sizeof err))
		_exit(2);
	db_close(db);
	if (write(report, &n, sizeof n) != sizeof n)
		_exit(1);
	_exit(130);
}

static void check_interrupt(const char *path, int sig)
{
	int ready[2], report[2];
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(report), 0);
	pid_t pid = fork();
	if (pid == 0)
		interrupted_child(path, ready[1], report[1]);
	char b;
	cr_assert_eq(read(ready[0], &b, 1), 1);
	kill(pid, sig);
	int64_t n = 0;
	cr_assert_eq(read(report[0], &n, sizeof n), (ssize_t)sizeof n);
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %#x", st);
	sqlite3 *c = tq_open(path);
	int64_t id = tq_i64(c, "SELECT max(run_id) FROM runs");
	char *s = tq_text(c, "SELECT status || ': ' || error FROM runs WHERE run_id = %lld", (long long)id);
	char want[64];
	snprintf(want, sizeof want, "interrupted: interrupted by signal %d", sig);
	cr_assert_str_eq(s, want);
	free(s);
	cr_assert_geq(n, 30000);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM cache_refills WHERE run_id = %lld", (long long)id), n,
		     "every event emitted before the stop is committed");
	cr_assert_eq(tq_i64(c, "SELECT event_rows FROM runs WHERE run_id = %lld", (long long)id), n);
	sqlite3_close(c);
}

Test(db_sink, sigint_and_sigterm_stop_at_a_record, .description = "status interrupted, all logged rows kept")
{
	check_interrupt(fx.path, SIGINT);
	check_interrupt(fx.path, SIGTERM);
}

Test(db_sink, trace_hash_is_computed_when_not_given)
{
	char trace[4096], hex[65], err[1024];
	tg_path(trace, sizeof trace, fx.dir, "t.slt");
	cr_assert_eq(tl_write_file(trace, "SLT\0 some records", 18), 0);
	cr_assert_eq(sha256_file(trace, hex), 0);
	struct db *db = tg_open(fx.path);
	struct db_run_info info = tg_info();
	struct db_run *run;
	info.trace_path = trace;
	info.trace_sha256 = NULL;
	cr_assert_eq(db_run_begin(db, &info, &run, err, sizeof err), 0, "%s", err);
	cr_assert_eq(db_run_finish(run, DB_RUN_COMPLETE, NULL, NULL, err, sizeof err), 0, "%s", err);
	strcat(trace, ".gone");
	info.trace_path = trace;
	cr_assert_eq(db_run_begin(db, &info, &run, err, sizeof err), SL_EXIT_USAGE);
	cr_assert(strstr(err, trace) && strstr(err, "No such file"), "%s", err);
	db_close(db);
	sqlite3 *c = tq_open(fx.path);
	char *got = tq_text(c, "SELECT trace_sha256 FROM runs");
	cr_assert_str_eq(got, hex);
	free(got);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs"), 1, "a run that cannot start leaves no row");
	sqlite3_close(c);
}
