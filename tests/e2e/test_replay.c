/*
 * spanlab replay end to end: the summary's live figures against an
 * independent computation from the trace, the database's tables against
 * each other and the summary, determinism, --db not changing the figures,
 * interruption and SIGKILL, and bad input.
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "slt.h"
#include "testlib.h"

#define RUN(r, ...) \
	cr_assert_eq(tl_run(r, NULL, (const char *const[]){ __VA_ARGS__, NULL }), 0, "cannot run spanlab")


/* ---- independent figures from the trace ---------------------------------- */

struct trace_figures {
	uint64_t events, allocs, frees, unknown_frees;
	uint64_t peak_live, peak_index, final_live, final_objects;
};

static void compute_figures(const char *path, struct trace_figures *f)
{
	char err[512];
	struct slt_open_opts o = { 0 };
	struct slt_source *s = slt_open(path, &o, err, sizeof err);
	cr_assert(s, "%s", err);
	uint64_t cap = 1 << 16, *size = calloc(cap, sizeof *size), live = 0;
	unsigned char *is_live = calloc(cap, 1);
	struct slt_event ev;
	int rc;
	memset(f, 0, sizeof *f);
	while ((rc = slt_next(s, &ev)) > 0) {
		uint64_t need = ev.id > ev.old_id ? ev.id : ev.old_id;
		if (need >= cap) {
			uint64_t nc = cap;
			while (nc <= need)
				nc *= 2;
			size = realloc(size, nc * sizeof *size);
			is_live = realloc(is_live, nc);
			memset(size + cap, 0, (nc - cap) * sizeof *size);
			memset(is_live + cap, 0, nc - cap);
			cap = nc;
		}
		switch (ev.op) {
		case SLT_MALLOC: case SLT_CALLOC: case SLT_ALIGNED:
			size[ev.id] = ev.size, is_live[ev.id] = 1, live += ev.size;
			f->allocs++, f->final_objects++;
			break;
		case SLT_REALLOC:
			if (is_live[ev.old_id]) {
				live -= size[ev.old_id];
				f->frees++;
			} else {
				f->final_objects++;
			}
			size[ev.id] = ev.size, is_live[ev.id] = 1, live += ev.size;
			f->allocs++;
			break;
		case SLT_FREE:
			if (is_live[ev.id]) {
				live -= size[ev.id], is_live[ev.id] = 0;
				f->frees++, f->final_objects--;
			} else {
				f->unknown_frees++;
			}
			break;
		default:
			break;
		}
		if (live > f->peak_live)
			f->peak_live = live, f->peak_index = f->events;
		f->events++;
	}
	cr_assert_eq(rc, 0, "%s", slt_error(s));
	/* frees the trace source dropped (importers) or the recorder saw */
	f->unknown_frees += slt_source_report(s)->unknown_frees;
	f->final_live = live;
	slt_close(s);
	free(size);
	free(is_live);
}

static int64_t jint(cJSON *o, const char *k)
{
	cJSON *v = cJSON_GetObjectItem(o, k);
	cr_assert(cJSON_IsNumber(v), "no number '%s'", k);
	return (int64_t)v->valuedouble;
}

static cJSON *replay_json(const char *trace, const char *db, const char *extra)
{
	struct tl_run r;
	if (db && extra)
		RUN(&r, "spanlab", "replay", "-q", "--json", trace, "--db", db, extra);
	else if (db)
		RUN(&r, "spanlab", "replay", "-q", "--json", trace, "--db", db);
	else if (extra)
		RUN(&r, "spanlab", "replay", "-q", "--json", trace, extra);
	else
		RUN(&r, "spanlab", "replay", "-q", "--json", trace);
	cr_assert_eq(r.status, 0, "replay %s: exit %d: %s", trace, r.status, r.err);
	cJSON *j = cJSON_Parse(r.out);
	cr_assert(j, "replay %s: not JSON: %s", trace, r.out);
	tl_run_free(&r);
	return j;
}

/* Every bundled trace (the .slt files in traces/data), replayed with --check. */
Test(replay, live_figures_equal_an_independent_computation, .timeout = 300)
{
	char dir[4096];
	size_t n = 0;
	DIR *d = opendir(tl_root_path("traces/data", dir, sizeof dir));
	cr_assert(d, "cannot list %s", dir);
	for (struct dirent *e; (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".slt"))
			continue;
		char path[8192];
		struct trace_figures f;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		compute_figures(path, &f);
		cJSON *j = replay_json(path, NULL, "--check");
		const char *rel = e->d_name;
		cr_assert_eq(jint(j, "ops"), (int64_t)f.events, "%s ops", rel);
		cr_assert_eq(jint(j, "mallocs"), (int64_t)f.allocs, "%s mallocs", rel);
		cr_assert_eq(jint(j, "frees"), (int64_t)f.frees, "%s frees", rel);
		cr_assert_eq(jint(j, "unknown_frees"), (int64_t)f.unknown_frees, "%s unknown", rel);
		cr_assert_eq(jint(j, "peak_live_bytes"), (int64_t)f.peak_live, "%s peak", rel);
		cr_assert_eq(jint(j, "peak_live_op"), (int64_t)f.peak_index, "%s peak op", rel);
		cr_assert_eq(jint(j, "final_live_bytes"), (int64_t)f.final_live, "%s final", rel);
		cr_assert_eq(jint(j, "final_live_objects"), (int64_t)f.final_objects, "%s objects", rel);
		cr_assert_geq(jint(j, "peak_heap_inuse_bytes"), (int64_t)f.peak_live, "%s in-use below live", rel);
		cJSON_Delete(j);
		n++;
	}
	closedir(d);
	cr_assert_geq(n, 5, "only %zu bundled traces found", n);
}

/* ---- the database ----------------------------------------------------------- */

static sqlite3 *open_db(const char *path)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return db;
}



static void trace_path(const char *name, char *buf, size_t len)
{
	char rel[128];
	snprintf(rel, sizeof rel, "traces/data/%s", name);
	tl_root_path(rel, buf, len);
}

Test(replay, database_tables_agree_with_the_summary_and_each_other, .timeout = 120)
{
	char *dir = tl_tmpdir(), db[4096], trace[4096];
	snprintf(db, sizeof db, "%s/r.db", dir);
	trace_path("sqlite3.slt", trace, sizeof trace);
	cJSON *j = replay_json(trace, db, NULL);
	sqlite3 *d = open_db(db);

	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE status = 'complete'"), 1);
	static const char *const tables[] = { "cache_refills", "span_moves", "span_allocs", "span_frees",
					      "arena_transitions", "snapshots", "size_class_stats", "gc_cycles" };
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		char sql[128];
		snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
		cr_assert_gt(tl_q1(d, sql), 0, "table %s has no rows", tables[i]);
	}
	/* One refill row per mcache miss. */
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM cache_refills"), jint(j, "refills"));
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM span_moves"), jint(j, "span_moves"));
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM arena_transitions"), jint(j, "arena_transitions"));
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM gc_cycles"), jint(j, "gc_cycles"));

	/* Arena transitions replayed from nothing give the final state bytes. */
	int64_t by_state[SL_MEM_NSTATES] = { 0 };
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(d, "SELECT from_state, to_state, bytes FROM arena_transitions ORDER BY seq",
					-1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int from = sqlite3_column_int(st, 0), to = sqlite3_column_int(st, 1);
		int64_t bytes = sqlite3_column_int64(st, 2);
		cr_assert(from >= 0 && from < SL_MEM_NSTATES && to >= 0 && to < SL_MEM_NSTATES);
		by_state[from] -= bytes;
		by_state[to] += bytes;
		cr_assert(from == SL_MEM_NONE || by_state[from] >= 0, "state %d went negative", from);
	}
	sqlite3_finalize(st);
	const char *fin = "SELECT %s FROM snapshots WHERE kind = 2";
	char sql[256];
	snprintf(sql, sizeof sql, fin, "ready_bytes");
	cr_assert_eq(by_state[SL_MEM_READY], tl_q1(d, sql));
	snprintf(sql, sizeof sql, fin, "heap_sys_bytes - ready_bytes");
	cr_assert_eq(by_state[SL_MEM_PREPARED], tl_q1(d, sql));
	snprintf(sql, sizeof sql, fin, "reserved_bytes");
	cr_assert_eq(by_state[SL_MEM_RESERVED], tl_q1(d, sql));

	/* Each span's last move says where it is: spans not back in the page
	 * heap are the spans in use at the end. */
	int64_t in_use = tl_q1(d, "SELECT count(*) FROM (SELECT span_base, to_set FROM span_moves m WHERE seq = "
			       "(SELECT max(seq) FROM span_moves WHERE span_base = m.span_base)) "
			       "WHERE to_set NOT IN (0, 1)");
	snprintf(sql, sizeof sql, fin, "spans_inuse");
	cr_assert_eq(in_use, tl_q1(d, sql), "spans by their last move vs spans in use");

	/* Size-class rows add up to the run's mallocs (a realloc counts once). */
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM size_class_stats"), 68);
	cr_assert_eq(tl_q1(d, "SELECT sum(requested_bytes) FROM size_class_stats"),
		     tl_q1(d, "SELECT max(clock_bytes) FROM snapshots"));
	sqlite3_close(d);
	cJSON_Delete(j);
	tl_tmpdir_remove(dir);
}

/* A class's peak_spans is the exact maximum of its in-use spans, the one
 * the span_allocs and span_frees rows give when replayed in order, whatever
 * the snapshot interval, and without the event log too. Sampled at
 * snapshots it was 737 / 740 / 610 summed over classes for the default
 * interval, 1 and 5000 on this trace: 742 spans in fact. */
Test(replay, peak_spans_are_exact_whatever_the_snapshot_interval, .timeout = 120)
{
	char *dir = tl_tmpdir(), db[4096], trace[4096];
	snprintf(db, sizeof db, "%s/p.db", dir);
	trace_path("git-index-pack.slt", trace, sizeof trace);
	struct tl_run r;
	RUN(&r, "spanlab", "replay", "-q", trace, "--db", db);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	RUN(&r, "spanlab", "replay", "-q", trace, "--db", db, "--snapshot-every=1");
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	RUN(&r, "spanlab", "replay", "-q", trace, "--db", db, "--snapshot-every=5000");
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	RUN(&r, "spanlab", "replay", "-q", trace, "--db", db, "--snapshot-every=5000", "--no-events");
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	sqlite3 *d = open_db(db);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE status = 'complete'"), 4);
	int64_t wrong = tl_q1(d,
		"WITH ev AS (SELECT seq, spc >> 1 AS c, 1 AS d FROM span_allocs WHERE run_id = 1 "
		"            UNION ALL SELECT seq, spc >> 1, -1 FROM span_frees WHERE run_id = 1), "
		"n AS (SELECT c, sum(d) OVER (PARTITION BY c ORDER BY seq) AS n FROM ev), "
		"m AS (SELECT c, max(n) AS m FROM n GROUP BY c) "
		"SELECT count(*) FROM size_class_stats s LEFT JOIN m ON m.c = s.size_class "
		"WHERE s.run_id = 1 AND s.peak_spans IS NOT coalesce(m.m, 0)");
	cr_assert_eq(wrong, 0, "%lld classes' peak_spans differ from the span events' maximum", (long long)wrong);
	cr_assert_gt(tl_q1(d, "SELECT sum(peak_spans) FROM size_class_stats WHERE run_id = 1"), 0);
	for (int run = 2; run <= 4; run++) {
		char sql[512];
		snprintf(sql, sizeof sql, "SELECT count(*) FROM size_class_stats a JOIN size_class_stats b "
			 "ON b.size_class = a.size_class AND b.run_id = %d "
			 "WHERE a.run_id = 1 AND a.peak_spans IS NOT b.peak_spans", run);
		cr_assert_eq(tl_q1(d, sql), 0, "run %d's peak_spans differ from the default interval's", run);
	}
	sqlite3_close(d);
	tl_tmpdir_remove(dir);
}

/* Requested bytes go to the class the object got, not to the class of its
 * size: an aligned request can get a larger class (or a large span), and
 * a realloc in place stays in its class. */
Test(replay, requested_bytes_go_to_the_class_the_object_got)
{
	char *dir = tl_tmpdir(), trace[4096], db[4096];
	snprintf(trace, sizeof trace, "%s/aligned.txt", dir);
	snprintf(db, sizeof db, "%s/a.db", dir);
	const char *t = "# spanlab text trace v1\n"
			"a 1 100 4096\n"	/* the 4096-byte class, not 112 */
			"a 2 24 64\n"		/* the 64-byte class, not 24 */
			"m 3 20\n"		/* 24 */
			"m 4 100\n"		/* 112 */
			"r 4 4 90\n"		/* in place: still 112, not 96 */
			"m 5 20\n"		/* 24 */
			"r 5 5 200\n"		/* moved: 208 */
			"a 6 100 16384\n";	/* above the page size: a large span */
	cr_assert_eq(tl_write_file(trace, t, strlen(t)), 0);
	cJSON_Delete(replay_json(trace, db, NULL));
	sqlite3 *d = open_db(db);
	static const struct { int64_t slot, mallocs, requested; } want[] = {
		{ 0, 1, 100 }, { 24, 2, 40 }, { 64, 1, 24 }, { 112, 1, 190 }, { 208, 1, 200 }, { 4096, 1, 100 },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		char sql[256];
		snprintf(sql, sizeof sql, "SELECT mallocs FROM size_class_stats WHERE slot_size = %lld",
			 (long long)want[i].slot);
		cr_assert_eq(tl_q1(d, sql), want[i].mallocs, "%lld-byte class: mallocs", (long long)want[i].slot);
		snprintf(sql, sizeof sql, "SELECT requested_bytes FROM size_class_stats WHERE slot_size = %lld",
			 (long long)want[i].slot);
		cr_assert_eq(tl_q1(d, sql), want[i].requested, "%lld-byte class: requested bytes",
			     (long long)want[i].slot);
	}
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM size_class_stats WHERE requested_bytes > 0 AND "
			      "slot_size NOT IN (0, 24, 64, 112, 208, 4096)"), 0);
	sqlite3_close(d);
	tl_tmpdir_remove(dir);
}

/* Two replays of one trace and config: identical rows in every table, and
 * a replay with --db gives the summary of one without. */
Test(replay, deterministic_and_db_does_not_change_figures, .timeout = 120)
{
	char *dir = tl_tmpdir(), a[4096], b[4096], trace[4096];
	snprintf(a, sizeof a, "%s/a.db", dir);
	snprintf(b, sizeof b, "%s/b.db", dir);
	trace_path("cc1.slt", trace, sizeof trace);
	cJSON *ja = replay_json(trace, a, "--procs=2");
	cJSON *jb = replay_json(trace, b, "--procs=2");
	cJSON *jn = replay_json(trace, NULL, "--procs=2");
	static const char *const volatile_keys[] = { "wall_seconds", "ops_per_second", "cpu_seconds", "run_id",
						     "db" };
	for (size_t i = 0; i < sizeof volatile_keys / sizeof volatile_keys[0]; i++) {
		cJSON_DeleteItemFromObject(ja, volatile_keys[i]);
		cJSON_DeleteItemFromObject(jb, volatile_keys[i]);
		cJSON_DeleteItemFromObject(jn, volatile_keys[i]);
	}
	cr_assert(cJSON_Compare(ja, jb, 1), "two replays differ");
	cr_assert(cJSON_Compare(ja, jn, 1), "--db changed the summary");

	sqlite3 *d;
	cr_assert_eq(sqlite3_open(a, &d), SQLITE_OK);
	char sql[16384];
	snprintf(sql, sizeof sql, "ATTACH '%s' AS b", b);
	cr_assert_eq(sqlite3_exec(d, sql, NULL, NULL, NULL), SQLITE_OK);
	static const char *const tables[] = { "cache_refills", "span_moves", "span_allocs", "span_frees",
					      "arena_transitions", "snapshots", "size_class_stats", "gc_cycles",
					      "scavenges" };
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		/* every column but run_id, both ways */
		char cols[1024] = "";
		char pragma[128];
		snprintf(pragma, sizeof pragma, "SELECT group_concat(name) FROM pragma_table_info('%s') "
			 "WHERE name <> 'run_id'", tables[i]);
		char *c = tl_qtext(d, pragma);
		cr_assert(c, "no columns for %s", tables[i]);
		snprintf(cols, sizeof cols, "%s", c);
		free(c);
		snprintf(sql, sizeof sql,
			 "SELECT (SELECT count(*) FROM (SELECT %s FROM main.%s EXCEPT SELECT %s FROM b.%s)) + "
			 "(SELECT count(*) FROM (SELECT %s FROM b.%s EXCEPT SELECT %s FROM main.%s)) + "
			 "abs((SELECT count(*) FROM main.%s) - (SELECT count(*) FROM b.%s))",
			 cols, tables[i], cols, tables[i], cols, tables[i], cols, tables[i], tables[i], tables[i]);
		cr_assert_eq(tl_q1(d, sql), 0, "table %s differs between two replays", tables[i]);
	}
	sqlite3_close(d);
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	cJSON_Delete(jn);
	tl_tmpdir_remove(dir);
}

/* ---- stopping: SIGINT, SIGTERM, SIGKILL -------------------------------------- */

static char *big_trace(const char *dir, const char *allocations)
{
	static char path[4096];
	struct tl_run r;
	snprintf(path, sizeof path, "%s/big.slt", dir);
	RUN(&r, "spanlab", "gen", "uniform", "--ops", allocations, "--seed", "7", "-o", path);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	return path;
}

/* Rows of the newest run in `table` (0 while the database or run is not there). */
static int64_t rows_of_last_run(const char *db, const char *table)
{
	sqlite3 *d;
	sqlite3_stmt *st;
	int64_t n = 0;
	char sql[256];
	if (sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(d);
		return 0;
	}
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE run_id = (SELECT max(run_id) FROM runs)", table);
	if (sqlite3_prepare_v2(d, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(d);
	return n;
}

/* Start a replay into db; signal it after `ms` milliseconds, or (ms < 0)
 * once its first batch of events is committed, i.e. in the replay loop.
 * Its stderr goes to errpath (NULL: /dev/null). */
static int replay_and_signal_err(const char *trace, const char *db, int sig, int ms, const char *errpath)
{
	int64_t before = rows_of_last_run(db, "span_moves");
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		const char *bin = getenv("SPANLAB_BIN");
		int fd = open("/dev/null", O_WRONLY);
		int efd = errpath ? open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600) : fd;
		dup2(fd, 1);
		dup2(efd, 2);
		execl(bin, "spanlab", "replay", "-q", "--check=100000", trace, "--db", db, (char *)NULL);
		_exit(127);
	}
	if (ms >= 0) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	} else {
		struct timespec ts = { 0, 10 * 1000000L };
		for (int i = 0; i < 3000 && rows_of_last_run(db, "span_moves") <= before; i++)
			nanosleep(&ts, NULL);
	}
	kill(pid, sig);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int replay_and_signal(const char *trace, const char *db, int sig, int ms)
{
	return replay_and_signal_err(trace, db, sig, ms, NULL);
}

static void assert_intact(const char *db, int64_t complete_runs)
{
	sqlite3 *d = open_db(db);
	char *ok = tl_qtext(d, "PRAGMA integrity_check");
	cr_assert_str_eq(ok, "ok");
	free(ok);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE status = 'complete'"), complete_runs);
	sqlite3_close(d);
}

Test(replay, sigint_and_sigterm_stop_at_a_record_and_mark_interrupted, .timeout = 120)
{
	char *dir = tl_tmpdir(), db[4096], errpath[4200];
	snprintf(db, sizeof db, "%s/s.db", dir);
	snprintf(errpath, sizeof errpath, "%s/stderr", dir);
	const char *trace = big_trace(dir, "3000000");
	int sigs[] = { SIGINT, SIGTERM };
	for (int i = 0; i < 2; i++) {
		int code = replay_and_signal_err(trace, db, sigs[i], -1, errpath);
		cr_assert_eq(code, 130, "signal %d: exit %d", sigs[i], code);
		sqlite3 *d = open_db(db);
		cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE status = 'interrupted' AND ops > 0"), i + 1);
		cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE trace_complete IS NULL"), i + 1,
			     "a run that stopped early did not learn whether its trace was whole");
		char q[200];
		snprintf(q, sizeof q, "SELECT count(*) FROM runs WHERE error = 'interrupted by %s after ' || ops || ' operations'",
			 sigs[i] == SIGINT ? "SIGINT" : "SIGTERM");
		cr_assert_eq(tl_q1(d, q), 1, "the run's error says why it stopped");
		/* docs/errors.md run-interrupted: the one line, with the run's ops */
		char want[200], *said = tl_read_file(errpath, NULL);
		snprintf(want, sizeof want, "spanlab replay: interrupted after %lld operations; the run is logged as interrupted\n",
			 (long long)tl_q1(d, "SELECT ops FROM runs ORDER BY run_id DESC LIMIT 1"));
		cr_assert(said, "%s", errpath);
		cr_assert_str_eq(said, want, "signal %d", sigs[i]);
		free(said);
		sqlite3_close(d);
		assert_intact(db, 0);
	}
	tl_tmpdir_remove(dir);
}

/* A run interrupted before the trace's peak of live bytes took no peak
 * snapshot: its internal fragmentation at the peak is unknown, NULL in the
 * run and in every class, not 0 beside snapshots that show megabytes. */
Test(replay, frag_at_peak_is_null_when_interrupted_before_the_peak, .timeout = 120)
{
	char *dir = tl_tmpdir(), db[4096];
	snprintf(db, sizeof db, "%s/i.db", dir);
	const char *trace = big_trace(dir, "3000000");
	struct tl_run r;
	RUN(&r, "spanlab", "info", "--json", trace);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cJSON *info = cJSON_Parse(r.out);
	cr_assert(info, "info: not JSON: %s", r.out);
	int64_t peak_index = jint(info, "peak_event_index");
	cJSON_Delete(info);
	tl_run_free(&r);
	cr_assert_eq(replay_and_signal(trace, db, SIGINT, -1), 130);
	sqlite3 *d = open_db(db);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE status = 'interrupted'"), 1);
	int64_t ops = tl_q1(d, "SELECT ops FROM runs");
	cr_assert(ops > 0 && ops <= peak_index, "stopped after %lld ops, the peak is at %lld: too late to test",
		  (long long)ops, (long long)peak_index);
	cr_assert_gt(tl_q1(d, "SELECT max(internal_frag_bytes) FROM snapshots"), 0);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM snapshots WHERE kind = 1"), 0, "a peak snapshot");
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE internal_frag_bytes_at_peak IS NULL"), 1);
	cr_assert_gt(tl_q1(d, "SELECT count(*) FROM size_class_stats"), 0);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM size_class_stats WHERE internal_frag_bytes_at_peak IS NOT NULL"), 0);
	sqlite3_close(d);
	tl_tmpdir_remove(dir);
}

Test(replay, sigkill_anywhere_leaves_a_consistent_database, .timeout = 240)
{
	char *dir = tl_tmpdir(), db[4096], small[4096];
	snprintf(db, sizeof db, "%s/k.db", dir);
	trace_path("go-wordtree.slt", small, sizeof small);
	/* 12 M operations: 5-7 s of a release replay here, so that even a
	 * machine twice as fast is still replaying at the last kill */
	const char *trace = big_trace(dir, "6000000");
	cJSON *j = replay_json(small, db, NULL);	/* one complete run first */
	cJSON_Delete(j);
	sqlite3 *d = open_db(db);
	int64_t before = tl_q1(d, "SELECT count(*) FROM span_moves");
	char *sum_before = tl_qtext(d, "SELECT group_concat(ops || ':' || peak_live_bytes) FROM runs");
	sqlite3_close(d);
	static const int delays_ms[] = { 5, 40, 150, 400, 800, 1300 };
	for (size_t i = 0; i < sizeof delays_ms / sizeof delays_ms[0]; i++) {
		replay_and_signal(trace, db, SIGKILL, delays_ms[i]);
		assert_intact(db, 1);
		d = open_db(db);
		cr_assert_eq(tl_q1(d, "SELECT count(*) FROM span_moves WHERE run_id = 1"), before,
			     "the complete run's rows changed after a kill at %d ms", delays_ms[i]);
		char *sum = tl_qtext(d, "SELECT group_concat(ops || ':' || peak_live_bytes) FROM runs WHERE run_id = 1");
		cr_assert_str_eq(sum, sum_before);
		free(sum);
		sqlite3_close(d);
	}
	free(sum_before);
	tl_tmpdir_remove(dir);
}

/* A text trace's @NS times reach the snapshots (the memory-time figure
 * needs them); before its first nonzero time a snapshot's time is NULL,
 * and a text trace without times has none at all. */
Test(replay, text_trace_times_reach_the_snapshots)
{
	char *dir = tl_tmpdir(), timed[4096], untimed[4096], db[4096];
	snprintf(timed, sizeof timed, "%s/timed.txt", dir);
	snprintf(untimed, sizeof untimed, "%s/untimed.txt", dir);
	snprintf(db, sizeof db, "%s/t.db", dir);
	const char *t = "# spanlab text trace v1\n@0 m 1 100\n@1000000 m 2 5000\n@2000000 f 1\n@3000000 m 3 300\n";
	const char *u = "# spanlab text trace v1\nm 1 100\nm 2 5000\nf 1\nm 3 300\n";
	cr_assert_eq(tl_write_file(timed, t, strlen(t)), 0);
	cr_assert_eq(tl_write_file(untimed, u, strlen(u)), 0);
	cJSON_Delete(replay_json(timed, db, "--snapshot-every=1"));
	cJSON_Delete(replay_json(untimed, db, "--snapshot-every=1"));
	sqlite3 *d = open_db(db);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM snapshots WHERE run_id = 1 AND op = 1 AND trace_time_ns IS NULL"), 1);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM snapshots WHERE run_id = 1 AND op = 3 AND trace_time_ns = 2000000"), 1);
	cr_assert_eq(tl_q1(d, "SELECT max(trace_time_ns) FROM snapshots WHERE run_id = 1"), 3000000);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM snapshots WHERE run_id = 2 AND trace_time_ns IS NOT NULL"), 0);
	sqlite3_close(d);
	tl_tmpdir_remove(dir);
}

/* A trace read from a pipe has no first pass, so no peak snapshot: the
 * internal fragmentation at the peak is unknown (JSON null, as J&W #2),
 * where the same trace from a file gives the figure, equal to the peak
 * snapshot's and to the sum over classes. Peak after op 1: (112 - 100) +
 * (24 - 20) bytes. (The run and class rows of an unknown figure are NULL
 * too: frag_at_peak_is_null_when_interrupted_before_the_peak.) */
Test(replay, frag_at_peak_is_null_for_a_trace_from_a_pipe)
{
	char *dir = tl_tmpdir(), file[4096], db[4096];
	snprintf(file, sizeof file, "%s/t.txt", dir);
	snprintf(db, sizeof db, "%s/f.db", dir);
	const char *t = "# spanlab text trace v1\nm 1 100\nm 2 20\nf 2\nm 3 8\n";
	cr_assert_eq(tl_write_file(file, t, strlen(t)), 0);
	cJSON *jf = replay_json(file, db, NULL);
	cr_assert_eq(jint(jf, "internal_frag_bytes_at_peak"), 16);
	cJSON_Delete(jf);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, t, (const char *const[]){ "spanlab", "replay", "-q", "--json", "/dev/stdin", NULL }), 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cJSON *jp = cJSON_Parse(r.out);
	cr_assert(jp, "not JSON: %s", r.out);
	tl_run_free(&r);
	cr_assert_eq(jint(jp, "peak_live_bytes"), 120, "the peak is found on the way");
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(jp, "internal_frag_bytes_at_peak")),
		  "a pipe's internal_frag_bytes_at_peak is not null");
	cJSON *jw = cJSON_GetObjectItem(cJSON_GetObjectItem(jp, "fragmentation"), "heap_inuse");
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(jw, "jw2")), "a pipe's J&W #2 is not null");
	cJSON_Delete(jp);

	sqlite3 *d = open_db(db);
	cr_assert_eq(tl_q1(d, "SELECT internal_frag_bytes_at_peak FROM runs WHERE run_id = 1"), 16);
	cr_assert_eq(tl_q1(d, "SELECT internal_frag_bytes FROM snapshots WHERE run_id = 1 AND kind = 1"), 16);
	cr_assert_eq(tl_q1(d, "SELECT sum(internal_frag_bytes_at_peak) FROM size_class_stats WHERE run_id = 1"), 16);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM size_class_stats WHERE run_id = 1 AND "
			      "internal_frag_bytes_at_peak IS NULL"), 0);
	sqlite3_close(d);
	tl_tmpdir_remove(dir);
}

/* ---- bad input ----------------------------------------------------------------- */

Test(replay, bad_input_is_one_line_and_exit_2)
{
	char *dir = tl_tmpdir(), bad[4096], cut[4096], trace[4096], notdb[4096], cfg[4096];
	trace_path("git-index-pack.slt", trace, sizeof trace);
	snprintf(bad, sizeof bad, "%s/bad.txt", dir);
	tl_write_file(bad, "# spanlab text trace v1\nm 1 16\nfrob 2\n", 38);
	/* a .slt with an invalid opcode (15) in the middle of its records */
	FILE *f = fopen(trace, "rb");
	static unsigned char buf[4096];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	buf[n / 2] = 0xff;
	snprintf(cut, sizeof cut, "%s/cut.slt", dir);
	tl_write_file(cut, buf, n);
	snprintf(notdb, sizeof notdb, "%s/notdb.db", dir);
	tl_write_file(notdb, "this is not a database\n", 23);
	snprintf(cfg, sizeof cfg, "%s/c.json", dir);
	tl_write_file(cfg, "{\"procs\": 0}", 12);

	struct { const char *const argv[8]; int code; const char *expect; } cases[] = {
		{ { "spanlab", "replay", NULL }, 2, "missing TRACE" },
		{ { "spanlab", "replay", "/nonexistent/x.slt", NULL }, 2, "/nonexistent/x.slt" },
		{ { "spanlab", "replay", bad, NULL }, 2, "line 3" },
		{ { "spanlab", "replay", "--config", cfg, trace, NULL }, 2, "'procs'" },
		{ { "spanlab", "replay", "--free", "later", trace, NULL }, 2, "'free'" },
		{ { "spanlab", "replay", "--db", notdb, trace, NULL }, 2, notdb },
		{ { "spanlab", "replay", "--db", "/nonexistent/dir/x.db", trace, NULL }, 1, "/nonexistent/dir/x.db" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tl_run r;
		cr_assert_eq(tl_run(&r, NULL, cases[i].argv), 0);
		cr_assert_eq(r.status, cases[i].code, "case %zu: exit %d: %s", i, r.status, r.err);
		cr_assert(strstr(r.err, cases[i].expect), "case %zu: '%s' lacks '%s'", i, r.err, cases[i].expect);
		cr_assert_leq(tl_count_lines(r.err), 2, "case %zu: '%s'", i, r.err);
		tl_run_free(&r);
	}
	/* A malformed trace with --db: the run is recorded as failed, not complete. */
	char db[4096];
	snprintf(db, sizeof db, "%s/f.db", dir);
	struct tl_run r;
	RUN(&r, "spanlab", "replay", "-q", cut, "--db", db);
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "byte"), "%s", r.err);
	tl_run_free(&r);
	sqlite3 *d = open_db(db);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE status = 'failed' AND error LIKE '%byte%'"), 1);
	sqlite3_close(d);
	tl_tmpdir_remove(dir);
}
