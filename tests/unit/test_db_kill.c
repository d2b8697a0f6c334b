/*
 * SIGKILL at any moment. A child logs a run (or merges databases) into a
 * copy of a database that already holds complete runs, and dies by
 * SIGKILL: either at its k-th file write, sync or truncate, through a VFS
 * shim registered as SQLite's default (so every point of every commit,
 * the final one included, and of the checkpoint at close can be hit), or
 * after a random delay from outside. Afterwards the file must pass
 * PRAGMA integrity_check, the earlier runs must be unchanged, and the
 * killed run must not be complete: it holds a prefix of whole batches of
 * its events, or, if the kill came after its last commit, all of them.
 *
 * The I/O sequence of a run is deterministic (the writer thread writes
 * between the caller's begin and finish, never at the same time), so the
 * k-th write names the same point on every try. Kill points: spread over
 * the whole run, plus the last ones (final commit, indexes, checkpoint).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "killvfs.h"
#include "test_db_util.h"

/* --- the workloads ----------------------------------------------------------------- */

/* Batches of 512 events (the size does not change what a crash can do, and
 * small ones keep the test fast): two committed by the writer, the rest by
 * the final transaction. */
#define BATCH 512
#define RUN_EVENTS (2 * BATCH + 100)

static char *dir;
static char base[4096], work[4096], in1[4096], in2[4096];
static char *digest_before[2];
static char *uuid_before[2];

/* Log one run of RUN_EVENTS events from `seed` on an open handle; its
 * sweep_id names the seed from the start, so even a killed run can be
 * checked. */
static int log_run_on(struct db *db, uint64_t seed)
{
	struct db_run *run;
	struct db_run_info info = tg_info();
	struct tg g = { .x = seed | 1 };
	char err[1024], sweep[32];
	snprintf(sweep, sizeof sweep, "%llu", (unsigned long long)seed);
	info.sweep_id = sweep;
	if (db_run_begin(db, &info, &run, err, sizeof err))
		return 1;
	tg_stream(&g, db_run_sink(run), RUN_EVENTS, NULL);
	for (int i = 0; i < 50; i++) {
		struct sim_snapshot s = { .op = i, .trace_time_ns = SIM_NULL };
		db_run_snapshot(run, &s);
	}
	struct sim_summary sum = { .ops = (int64_t)seed };
	return db_run_finish(run, DB_RUN_COMPLETE, &sum, NULL, err, sizeof err);
}

static int log_run(const char *path, uint64_t seed)
{
	struct db *db;
	char err[1024];
	if (db_open(path, DB_OPEN_WRITE, &db, err, sizeof err))
		return 1;
	int code = log_run_on(db, seed);
	db_close(db);
	return code;
}

static int merge_two(const char *out)
{
	struct db *db;
	struct db_merge_stats st;
	char err[1024];
	if (db_open(out, DB_OPEN_WRITE, &db, err, sizeof err) || db_merge(db, in1, &st, err, sizeof err) ||
	    db_merge(db, in2, &st, err, sizeof err))
		return 1;
	db_after_load(db);
	db_close(db);
	return 0;
}

enum workload { W_RUN, W_MERGE };

static void copy_file(const char *from, const char *to)
{
	size_t len;
	char *data = cli_read_file(from, &len);
	cr_assert(data, "%s", from);
	cr_assert_eq(tl_write_file(to, data, len), 0);
	free(data);
	char side[4200];
	snprintf(side, sizeof side, "%s-wal", to);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", to);
	unlink(side);
}

/* Run the workload on a fresh copy of base in a child that dies at its
 * `at`-th write (0: never). Returns the child's write count when it
 * finished, or -1 if it was killed. */
static long child(enum workload w, long at)
{
	int p[2];
	copy_file(base, work);
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		kill_vfs_install(at);
		int rc = w == W_RUN ? log_run(work, 1234) : merge_two(work);
		long n = kill_vfs_count();
		_exit(rc == 0 && write(p[1], &n, sizeof n) == sizeof n ? 0 : 1);
	}
	close(p[1]);
	long n = -1;
	ssize_t got = read(p[0], &n, sizeof n);
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		return -1;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0 && got == (ssize_t)sizeof n, "child status %#x", st);
	return n;
}

static void check_integrity(sqlite3 *c, long at)
{
	char *ok = tq_text(c, "PRAGMA integrity_check");
	cr_assert_str_eq(ok, "ok", "killed at write %ld: integrity_check says %s", at, ok);
	free(ok);
}

/* The earlier runs are exactly as they were. */
static void check_earlier_runs(sqlite3 *c, long at)
{
	for (int i = 0; i < 2; i++) {
		char *d = tq_run_digest(c, uuid_before[i]);
		cr_assert_str_eq(d, digest_before[i], "killed at write %ld: earlier run %d changed", at, i);
		free(d);
	}
}

/* The killed run: complete with everything, or not complete with a prefix
 * of whole batches. Returns 1 if complete. */
static int check_killed_run(sqlite3 *c, long at)
{
	if (tq_i64(c, "SELECT count(*) FROM runs WHERE sweep_id = '1234'") == 0)
		return 0;	/* killed before its row was committed */
	int64_t id = tq_i64(c, "SELECT run_id FROM runs WHERE sweep_id = '1234'");
	char *status = tq_text(c, "SELECT status FROM runs WHERE run_id = %lld", (long long)id);
	int64_t logged = run_events_logged(c, id);
	int complete = !strcmp(status, "complete");
	if (complete) {
		check_run_equals(c, id, 1234, RUN_EVENTS, RUN_EVENTS);
		cr_assert_eq(tq_i64(c, "SELECT event_rows FROM runs WHERE run_id = %lld", (long long)id),
			     tq_i64(c, "SELECT (SELECT count(*) FROM cache_refills WHERE run_id = %1$lld) +"
				       " (SELECT count(*) FROM span_moves WHERE run_id = %1$lld) +"
				       " (SELECT count(*) FROM span_allocs WHERE run_id = %1$lld) +"
				       " (SELECT count(*) FROM span_frees WHERE run_id = %1$lld) +"
				       " (SELECT count(*) FROM arena_transitions WHERE run_id = %1$lld) +"
				       " (SELECT count(*) FROM scavenges WHERE run_id = %1$lld) +"
				       " (SELECT count(*) FROM gc_cycles WHERE run_id = %1$lld)", (long long)id));
	} else {
		cr_assert_str_eq(status, "running", "killed at write %ld", at);
		size_t upto = (size_t)(logged + BATCH - 1) / BATCH * BATCH;
		cr_assert_lt(upto, RUN_EVENTS, "killed at write %ld: a running run holds its last batch", at);
		check_run_prefix(c, id, 1234, RUN_EVENTS, RUN_EVENTS, upto);
	}
	free(status);
	return complete;
}

static void setup(void)
{
	sink_sqlite_test_batch_events = BATCH;
	dir = tl_tmpdir();
	cr_assert(dir);
	tg_path(base, sizeof base, dir, "base.db");
	tg_path(work, sizeof work, dir, "work.db");
	tg_path(in1, sizeof in1, dir, "in1.db");
	tg_path(in2, sizeof in2, dir, "in2.db");
	struct db *db = tg_open(base);
	tg_run(db, 1, 3000, DB_RUN_COMPLETE);
	tg_run(db, 2, 3000, DB_RUN_COMPLETE);
	db_close(db);
	sqlite3 *c = tq_open(base);
	for (int i = 0; i < 2; i++) {
		uuid_before[i] = tq_text(c, "SELECT run_uuid FROM runs WHERE run_id = %d", i + 1);
		digest_before[i] = tq_run_digest(c, uuid_before[i]);
	}
	sqlite3_close(c);
}

static void teardown(void)
{
	for (int i = 0; i < 2; i++) {
		free(uuid_before[i]);
		free(digest_before[i]);
	}
	tl_tmpdir_remove(dir);
}

TestSuite(db_kill, .init = setup, .fini = teardown, .timeout = 120);

/* Kill points for a workload of `total` writes: `spread` evenly over it,
 * the last `tail` one by one, and `random` more from the seed. */
static size_t kill_points(long total, long *at, size_t spread, size_t tail, size_t random, uint64_t seed)
{
	size_t n = 0;
	struct tg g = { .x = seed | 1 };
	for (size_t i = 1; i <= spread; i++)
		at[n++] = 1 + (long)(i * (size_t)(total - 1) / (spread + 1));
	for (long k = total - (long)tail + 1; k <= total; k++)
		if (k >= 1)
			at[n++] = k;
	for (size_t i = 0; i < random; i++)
		at[n++] = 1 + tg_range(&g, total);
	return n;
}

Test(db_kill, at_every_kind_of_write_during_a_run, .description = "integrity ok, earlier runs unchanged")
{
	uint64_t seed = tl_seed("db_kill::at_every_kind_of_write_during_a_run");
	long total = child(W_RUN, 0);
	cr_assert_gt(total, 10, "the run wrote only %ld times", total);
	long at[64];
	size_t n = kill_points(total, at, 24, 12, 6, seed);
	int complete = 0, running = 0;
	for (size_t i = 0; i < n; i++) {
		long done = child(W_RUN, at[i]);
		cr_assert_eq(done, -1, "write %ld of %ld: the child was not killed", at[i], total);
		sqlite3 *c = tq_open(work);
		check_integrity(c, at[i]);
		check_earlier_runs(c, at[i]);
		int k = check_killed_run(c, at[i]);
		complete += k;
		running += !k;
		sqlite3_close(c);
	}
	cr_log_info("run of %ld writes killed at %zu points: %d complete, %d not", total, n, complete, running);
	/* the points cover both sides of the final commit */
	cr_assert_gt(complete, 0, "no kill landed after the final commit");
	cr_assert_gt(running, 0, "no kill landed before the final commit");
}

/* The runs of `path` as uuid -> digest lines, sorted. */
static char *all_digests(const char *path)
{
	sqlite3 *c = tq_open(path);
	int64_t n = tq_i64(c, "SELECT count(*) FROM runs");
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	for (int64_t i = 0; i < n; i++) {
		char *u = tq_text(c, "SELECT run_uuid FROM runs ORDER BY run_uuid LIMIT 1 OFFSET %lld", (long long)i);
		char *d = tq_run_digest(c, u);
		fprintf(f, "%s %s\n", u, d);
		free(u);
		free(d);
	}
	fclose(f);
	sqlite3_close(c);
	return out;
}

/* Lines of `part` all occur in `whole`. */
static bool contains_lines(const char *whole, const char *part)
{
	for (const char *p = part; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p) + 1;
		char *line = strndup(p, len);
		bool found = strstr(whole, line) != NULL;
		free(line);
		if (!found)
			return false;
		p += len;
	}
	return true;
}

Test(db_kill, during_a_merge, .description = "OUT keeps whole inputs only")
{
	uint64_t seed = tl_seed("db_kill::during_a_merge");
	struct db *db = tg_open(in1);
	tg_run(db, 11, 3000, DB_RUN_COMPLETE);
	tg_run(db, 12, 100, DB_RUN_COMPLETE);
	db_close(db);
	db = tg_open(in2);
	tg_run(db, 13, 3000, DB_RUN_COMPLETE);
	db_close(db);
	/* the three acceptable outcomes: base, base + in1, base + in1 + in2 */
	char *states[3];
	states[0] = all_digests(base);
	long total = child(W_MERGE, 0);
	states[2] = all_digests(work);
	char *d1 = all_digests(in1), *d2 = all_digests(in2);
	cr_assert(contains_lines(states[2], d1) && contains_lines(states[2], d2), "merge lost rows:\n%s", states[2]);

	long at[64];
	int seen[3] = { 0 };
	size_t n = kill_points(total, at, 20, 8, 4, seed);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(child(W_MERGE, at[i]), -1, "write %ld of %ld: not killed", at[i], total);
		sqlite3 *c = tq_open(work);
		check_integrity(c, at[i]);
		sqlite3_close(c);
		char *now = all_digests(work);
		int which = !strcmp(now, states[0]) ? 0 : !strcmp(now, states[2]) ? 2
			  : contains_lines(now, states[0]) && contains_lines(now, d1) && !contains_lines(now, d2) &&
					    tl_count_lines(now) == tl_count_lines(states[0]) + tl_count_lines(d1)
				    ? 1 : -1;
		cr_assert_neq(which, -1, "killed at write %ld of %ld: OUT holds a partial input:\n%s", at[i], total, now);
		seen[which]++;
		free(now);
	}
	cr_log_info("merge of %ld writes killed at %zu points: OUT held base %d, +in1 %d, +in1+in2 %d times",
		    total, n, seen[0], seen[1], seen[2]);
	cr_assert(seen[0] && seen[2], "the kill points missed the start or the end of the merge");
	for (int i = 0; i < 3; i += 2)
		free(states[i]);
	free(d1);
	free(d2);
}

/* From outside, at random times: a child logs runs one after another into
 * one file until it is killed, a random moment after one of its runs has
 * begun; every complete run is whole and stays so, every other run is a
 * prefix of whole batches. */
static void outside_writer(int began, uint64_t first)
{
	struct db *db;
	char err[1024];
	if (db_open(work, DB_OPEN_WRITE, &db, err, sizeof err))
		_exit(1);
	for (uint64_t s = first;; s++) {
		struct db_run *run;
		struct db_run_info info = tg_info();
		struct tg g = { .x = s | 1 };
		char sweep[32];
		snprintf(sweep, sizeof sweep, "%llu", (unsigned long long)s);
		info.sweep_id = sweep;
		if (db_run_begin(db, &info, &run, err, sizeof err) || write(began, "b", 1) != 1)
			_exit(1);
		tg_stream(&g, db_run_sink(run), RUN_EVENTS, NULL);
		struct sim_summary sum = { .ops = (int64_t)s };
		if (db_run_finish(run, DB_RUN_COMPLETE, &sum, NULL, err, sizeof err))
			_exit(1);
	}
}

Test(db_kill, from_outside_at_random_times)
{
	uint64_t seed = tl_seed("db_kill::from_outside_at_random_times");
	struct tg g = { .x = seed | 1 };
	uint64_t next = 100;
	int64_t checked = 2;	/* runs already checked (base's two by digest) */
	int64_t killed_runs = 0;
	char *complete_before = strdup("");
	copy_file(base, work);
	for (int round = 0; round < 8; round++) {
		int began[2];
		cr_assert_eq(pipe(began), 0);
		pid_t pid = fork();
		cr_assert_neq(pid, -1);
		if (pid == 0)
			outside_writer(began[1], next);
		close(began[1]);
		char b;
		for (int64_t k = 1 + tg_range(&g, 3); k > 0; k--)
			cr_assert_eq(read(began[0], &b, 1), 1, "the writer died");
		struct timespec d = { 0, (long)tg_range(&g, 4000) * 1000L };	/* 0-4 ms */
		nanosleep(&d, NULL);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		close(began[0]);
		cr_assert(WIFSIGNALED(st), "the writer stopped on its own (status %#x)", st);

		sqlite3 *c = tq_open(work);
		check_integrity(c, -1);
		check_earlier_runs(c, -1);
		int64_t nruns = tq_i64(c, "SELECT count(*) FROM runs");
		for (int64_t id = checked + 1; id <= nruns; id++) {
			char *status = tq_text(c, "SELECT status FROM runs WHERE run_id = %lld", (long long)id);
			uint64_t s = (uint64_t)tq_i64(c, "SELECT sweep_id FROM runs WHERE run_id = %lld", (long long)id);
			if (!strcmp(status, "complete")) {
				check_run_equals(c, id, s, RUN_EVENTS, RUN_EVENTS);
			} else {
				cr_assert_str_eq(status, "running");
				killed_runs++;
				int64_t logged = run_events_logged(c, id);
				size_t upto = (size_t)(logged + BATCH - 1) / BATCH * BATCH;
				check_run_prefix(c, id, s, RUN_EVENTS, RUN_EVENTS, upto);
			}
			next = s + 1 > next ? s + 1 : next;
			free(status);
		}
		checked = nruns;
		sqlite3_close(c);
		char *now = all_digests(work);
		cr_assert(contains_lines(now, complete_before), "a run changed after a later kill");
		free(complete_before);
		complete_before = now;
	}
	free(complete_before);
	cr_log_info("%lld runs logged, %lld of them killed mid-way", (long long)checked - 2, (long long)killed_runs);
	cr_assert_gt(killed_runs, 0, "no kill landed inside a run");
}
