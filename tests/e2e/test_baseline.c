/*
 * spanlab replay --allocator glibc|jemalloc|mimalloc|tcmalloc end to end:
 * every installed baseline replays a bundled trace into the same database
 * as the Go core's run, with the same live figures (a property of the
 * trace), its own memory figures, and NULL where only the Go model has a
 * figure; a missing library is one line naming the Debian package, exit
 * 2, before any run is recorded; SIGTERM to the parent stops the child at
 * a record and logs the run as interrupted. No timings.
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "baseline.h"
#include "testlib.h"

#define RUN(r, ...) \
	cr_assert_eq(tl_run(r, NULL, (const char *const[]){ __VA_ARGS__, NULL }), 0, "cannot run spanlab")

static const enum sim_allocator baselines[] = { SIM_ALLOC_GLIBC, SIM_ALLOC_JEMALLOC, SIM_ALLOC_MIMALLOC,
						SIM_ALLOC_TCMALLOC };

static bool installed(enum sim_allocator a)
{
	char path[PATH_MAX], err[512];
	return baseline_locate(baseline_of(a), path, sizeof path, err, sizeof err) == 0;
}

static void trace_path(const char *name, char *buf, size_t len)
{
	char rel[128];
	snprintf(rel, sizeof rel, "traces/data/%s", name);
	tl_root_path(rel, buf, len);
}

static sqlite3 *open_db(const char *path)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return db;
}

static int64_t q1(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t q1(sqlite3 *db, const char *fmt, ...)
{
	char sql[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: no row", sql);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static cJSON *replay_json(const char *trace, const char *db, const char *alloc)
{
	struct tl_run r;
	RUN(&r, "spanlab", "replay", "-q", "--json", "--check", trace, "--db", db, "--allocator", alloc);
	cr_assert_eq(r.status, 0, "replay --allocator %s: exit %d: %s", alloc, r.status, r.err);
	cJSON *j = cJSON_Parse(r.out);
	cr_assert(j, "replay --allocator %s: not JSON: %s", alloc, r.out);
	tl_run_free(&r);
	return j;
}

/* The figures every allocator must agree on: the trace's. */
static const char live_cols[] = "op, kind, clock_bytes, live_bytes, live_objects, mallocs, frees";
static const char summary_cols[] =
	"ops, mallocs, frees, unknown_frees, peak_live_bytes, peak_live_op, final_live_bytes, final_live_objects";

static bool asan_build(void)
{
	const char *v = getenv("SPANLAB_VARIANT");
	return v && !strcmp(v, "asan");
}

/* AddressSanitizer replaces malloc: such a build refuses baselines. */
static void assert_refused_under_asan(const char *trace)
{
	struct tl_run r;
	RUN(&r, "spanlab", "replay", "-q", trace, "--allocator", "glibc");
	cr_assert_eq(r.status, 2, "exit %d", r.status);
	cr_assert_eq(tl_count_lines(r.err), 1, "not one line: %s", r.err);
	cr_assert(strstr(r.err, "AddressSanitizer"), "%s", r.err);
	tl_run_free(&r);
}

Test(baseline, every_installed_allocator_logs_the_go_runs_live_figures, .timeout = 180)
{
	char *dir = tl_tmpdir(), db[4096], trace[4096];
	snprintf(db, sizeof db, "%s/b.db", dir);
	trace_path("sqlite3.slt", trace, sizeof trace);
	if (asan_build()) {
		assert_refused_under_asan(trace);
		tl_tmpdir_remove(dir);
		return;
	}
	cJSON_Delete(replay_json(trace, db, "go"));	/* run 1: the core */

	int tested = 0;
	for (size_t i = 0; i < sizeof baselines / sizeof baselines[0]; i++) {
		const char *name = sim_allocator_name(baselines[i]);
		if (!installed(baselines[i])) {
			fprintf(stderr, "note: %s is not installed (scripts/deps.sh --extra): not tested\n", name);
			continue;
		}
		tested++;
		cJSON *j = replay_json(trace, db, name);
		cr_assert_str_eq(cJSON_GetObjectItem(j, "allocator")->valuestring, name);
		cJSON *hr = cJSON_GetObjectItem(j, "hit_rates");
		cr_assert(cJSON_IsNull(cJSON_GetObjectItem(hr, "mcache")), "%s: a hit rate in the JSON", name);
		cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "refills")), "%s: refills in the JSON", name);
		int64_t run = (int64_t)cJSON_GetObjectItem(j, "run_id")->valuedouble;
		cJSON_Delete(j);

		sqlite3 *d = open_db(db);
		cr_assert_eq(q1(d, "SELECT count(*) FROM runs WHERE run_id = %lld AND status = 'complete' AND "
				   "allocator = '%s' AND free_policy IS NULL AND tiny_assumption IS NULL AND "
				   "json_extract(config_json, '$.allocator') = '%s' AND "
				   "json_extract(config_json, '$.version') <> ''",
			     (long long)run, name, name), 1, "%s: the runs row", name);
		/* The trace's figures: equal to the Go run's, snapshot by snapshot. */
		cr_assert_eq(q1(d, "SELECT count(*) FROM (SELECT %s FROM runs WHERE run_id = 1 EXCEPT "
				   "SELECT %s FROM runs WHERE run_id = %lld)", summary_cols, summary_cols,
			     (long long)run), 0, "%s: summary live figures differ from the Go run's", name);
		cr_assert_eq(q1(d, "SELECT count(*) FROM snapshots WHERE run_id = %lld", (long long)run),
			     q1(d, "SELECT count(*) FROM snapshots WHERE run_id = 1"), "%s: snapshot count", name);
		cr_assert_eq(q1(d, "SELECT count(*) FROM (SELECT %s FROM snapshots WHERE run_id = 1 EXCEPT "
				   "SELECT %s FROM snapshots WHERE run_id = %lld)", live_cols, live_cols,
			     (long long)run), 0, "%s: snapshot live figures differ from the Go run's", name);
		/* Its own memory at every snapshot: at least the live bytes,
		 * Ready at least in-use; Go-only columns NULL. */
		cr_assert_eq(q1(d, "SELECT count(*) FROM snapshots WHERE run_id = %lld AND (heap_inuse_bytes IS NULL "
				   "OR ready_bytes IS NULL OR heap_sys_bytes IS NULL OR heap_inuse_bytes < live_bytes "
				   "OR live_rounded_bytes < live_bytes OR ready_bytes < heap_inuse_bytes)",
			     (long long)run), 0, "%s: memory figures below live bytes, or missing", name);
		cr_assert_eq(q1(d, "SELECT count(*) FROM snapshots WHERE run_id = %lld AND (refills IS NOT NULL OR "
				   "gc_cycles IS NOT NULL OR spans_inuse IS NOT NULL OR heap_goal_bytes IS NOT NULL OR "
				   "heap_live_bytes IS NOT NULL)",
			     (long long)run), 0, "%s: a Go-only snapshot figure is not NULL", name);
		cr_assert_eq(q1(d, "SELECT count(*) FROM runs WHERE run_id = %lld AND hit_rate_mcache IS NULL AND "
				   "hit_rate_heap IS NULL AND refills IS NULL AND gc_cycles IS NULL AND "
				   "peak_heap_inuse_bytes >= peak_live_bytes AND frag_ready_jw4 IS NOT NULL",
			     (long long)run), 1, "%s: the summary's memory and Go-only figures", name);
		/* The figures' label (analysis/views.sql), for plots next to the Go run. */
		cr_assert_eq(q1(d, "SELECT count(*) FROM v_runs WHERE run_id = %lld AND label = 'sqlite3 %s'",
				(long long)run, name), 1, "%s: no label in v_runs", name);
		cr_assert_eq(q1(d, "SELECT count(*) FROM size_class_stats WHERE run_id = %lld", (long long)run), 0);
		cr_assert_eq(q1(d, "SELECT event_rows FROM runs WHERE run_id = %lld", (long long)run), 0);
		sqlite3_close(d);
	}
	cr_assert_geq(tested, 1, "glibc is always there");
	tl_tmpdir_remove(dir);
}

Test(baseline, a_missing_library_is_one_line_naming_the_package_and_exit_2, .timeout = 60)
{
	char *dir = tl_tmpdir(), db[4096], trace[4096];
	snprintf(db, sizeof db, "%s/m.db", dir);
	trace_path("git.slt", trace, sizeof trace);
	/* An empty directory stands for a system without the packages. */
	setenv("SPANLAB_BASELINE_LIBDIR", dir, 1);
	static const char *const packages[] = { "libjemalloc2", "libmimalloc2.0", "libtcmalloc-minimal4" };
	for (size_t i = 1; i < sizeof baselines / sizeof baselines[0]; i++) {
		struct tl_run r;
		const char *name = sim_allocator_name(baselines[i]);
		RUN(&r, "spanlab", "replay", "-q", trace, "--db", db, "--allocator", name);
		cr_assert_eq(r.status, 2, "%s: exit %d", name, r.status);
		cr_assert_eq(tl_count_lines(r.err), 1, "%s: not one line: %s", name, r.err);
		cr_assert(strstr(r.err, packages[i - 1]), "%s: the package is not named: %s", name, r.err);
		cr_assert_eq(r.out_len, 0, "%s: output on stdout", name);
		tl_run_free(&r);
	}
	cr_assert(access(db, F_OK) != 0, "a run was recorded for a missing library");
	/* glibc needs no library. */
	struct tl_run r;
	RUN(&r, "spanlab", "replay", "-q", trace, "--allocator", "glibc");
	cr_assert_eq(r.status, asan_build() ? 2 : 0, "glibc: %s", r.err);
	tl_run_free(&r);
	unsetenv("SPANLAB_BASELINE_LIBDIR");
	tl_tmpdir_remove(dir);
}

static int64_t snapshot_rows(const char *db)
{
	sqlite3 *d;
	sqlite3_stmt *st;
	int64_t n = 0;
	if (sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(d, "SELECT count(*) FROM snapshots", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(d);
	return n;
}

/* A glibc replay of a 3-million-operation trace into db, and its child,
 * stopped (SIGSTOP) once the run is in its loop (its first snapshots are
 * in the database): it cannot finish before a signal sent next arrives,
 * however loaded the machine. Skips the test on an ASan build. */
static pid_t start_stopped_replay(const char *dir, const char *db, pid_t *child)
{
	char trace[4096];
	struct tl_run r;
	snprintf(trace, sizeof trace, "%s/big.slt", dir);
	RUN(&r, "spanlab", "gen", "uniform", "--ops", "3000000", "--seed", "3", "-o", trace);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);

	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		/* A snapshot every 2,048 ops: the run is in its loop once the
		 * first batch of snapshots is in the database. */
		execl(getenv("SPANLAB_BIN"), "spanlab", "replay", "-q", trace, "--db", db, "--allocator", "glibc",
		      "--snapshot-every", "2048", (char *)NULL);
		_exit(127);
	}
	struct timespec ts = { 0, 10 * 1000000L };
	for (int i = 0; i < 6000 && snapshot_rows(db) == 0; i++)
		nanosleep(&ts, NULL);
	cr_assert_eq(tl_children(pid, child, NULL, 1), 1, "the baseline child runs");
	tl_stop(*child);
	cr_assert_eq(tl_proc_state(*child), 'T', "the baseline child ended before it was stopped");
	return pid;
}

Test(baseline, sigterm_to_the_parent_stops_the_child_and_logs_interrupted, .timeout = 120)
{
	if (asan_build())
		cr_skip_test("AddressSanitizer builds refuse baselines");
	char *dir = tl_tmpdir(), db[4096];
	snprintf(db, sizeof db, "%s/i.db", dir);
	pid_t child, pid = start_stopped_replay(dir, db, &child);
	kill(pid, SIGTERM);
	for (int i = 0; i < 30000 && !tl_signal_pending(child, SIGTERM); i++)
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
	cr_assert(tl_signal_pending(child, SIGTERM), "the parent did not pass SIGTERM on");
	kill(child, SIGCONT);
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 130, "exit %d",
		  WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	sqlite3 *d = open_db(db);
	cr_assert_eq(q1(d, "SELECT count(*) FROM runs WHERE status = 'interrupted' AND allocator = 'glibc' "
			   "AND ops > 0 AND ops < 6000000"), 1);
	cr_assert_eq(q1(d, "SELECT count(*) FROM snapshots WHERE kind = 2 AND op = (SELECT ops FROM runs)"), 1,
		     "the final snapshot is at the last operation replayed");
	sqlite3_close(d);
	tl_tmpdir_remove(dir);
}

/* A child that does not stop (here: stopped by SIGSTOP) 5 s after the
 * parent passed SIGTERM on is killed: the parent does not wait forever,
 * and the run is failed, saying why. */
Test(baseline, a_child_that_does_not_stop_is_killed_after_five_seconds, .timeout = 120)
{
	if (asan_build())
		cr_skip_test("AddressSanitizer builds refuse baselines");
	char *dir = tl_tmpdir(), db[4096];
	snprintf(db, sizeof db, "%s/k.db", dir);
	pid_t child, pid = start_stopped_replay(dir, db, &child);
	kill(pid, SIGTERM);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	cr_assert_eq(tl_proc_state(child), 0, "the child is gone");
	sqlite3 *d = open_db(db);
	char *e = tl_qtext(d, "SELECT status || ': ' || error FROM runs");
	cr_assert(e && strstr(e, "failed: ") && strstr(e, "did not stop within 5 s of SIGTERM"), "%s", e ? e : "NULL");
	free(e);
	sqlite3_close(d);
	tl_tmpdir_remove(dir);
}

/* The child's command line ends "-- TRACE" (a trace named like an option
 * is a trace); a trace from a pipe gets the core's growing snapshot
 * schedule (it got one snapshot per operation); the allocator's own
 * settings in the environment are recorded in the run's config. */
Test(baseline, option_like_names_pipes_and_allocator_settings, .timeout = 120)
{
	if (asan_build())
		cr_skip_test("AddressSanitizer builds refuse baselines");
	char *dir = tl_tmpdir(), db[4096], trace[4096], dash[4096];
	snprintf(db, sizeof db, "%s/p.db", dir);
	trace_path("go-wordtree.slt", trace, sizeof trace);
	snprintf(dash, sizeof dash, "%s/-w.slt", dir);
	tl_copy_file(trace, dash);
	cr_assert_eq(chdir(dir), 0);
	struct tl_run r;
	RUN(&r, "spanlab", "replay", "-q", "--allocator", "glibc", "--db", db, "--", "-w.slt");
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	char text[4096];	/* the pipe carries the text form: tl_run's input is a string */
	snprintf(text, sizeof text, "%s/w.txt", dir);
	RUN(&r, "spanlab", "convert", trace, "-o", text, "--to", "text");
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	char *bytes = tl_read_file(text, NULL);
	cr_assert(bytes);
	for (int go = 0; go < 2; go++) {
		cr_assert_eq(tl_run(&r, bytes, (const char *const[]){ "spanlab", "replay", "-q", "/dev/stdin", "--db", db,
								     "--allocator", go ? "go" : "glibc", NULL }), 0);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tl_run_free(&r);
	}
	free(bytes);
	setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=4096", 1);
	RUN(&r, "spanlab", "replay", "-q", "--allocator", "glibc", "--db", db, trace);
	unsetenv("GLIBC_TUNABLES");
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	sqlite3 *d = open_db(db);
	cr_assert_eq(q1(d, "SELECT count(*) FROM runs WHERE status = 'complete'"), 4);
	cr_assert_eq(q1(d, "SELECT count(*) FROM snapshots a JOIN snapshots b ON b.op = a.op AND b.kind = a.kind"
			   " WHERE a.run_id = 2 AND b.run_id = 3"), q1(d, "SELECT count(*) FROM snapshots WHERE run_id = 3"),
		     "the piped glibc run has the core's snapshot operations");
	cr_assert_eq(q1(d, "SELECT count(*) FROM snapshots WHERE run_id = 2"), q1(d, "SELECT count(*) FROM snapshots WHERE run_id = 3"));
	cr_assert_lt(q1(d, "SELECT count(*) FROM snapshots WHERE run_id = 2"), q1(d, "SELECT ops FROM runs WHERE run_id = 2") / 2);
	cr_assert_eq(q1(d, "SELECT count(*) FROM runs WHERE run_id = 4 AND json_extract(config_json,"
			   " '$.environment.GLIBC_TUNABLES') = 'glibc.malloc.mmap_threshold=4096'"), 1);
	cr_assert_eq(q1(d, "SELECT count(*) FROM runs WHERE run_id < 4 AND json_extract(config_json, '$.environment') IS NULL"), 3);
	sqlite3_close(d);
	tl_tmpdir_remove(dir);
}

