/*
 * Kill-anywhere consistency of `spanlab sweep` (issue item 3): a sweep of
 * 4 runs into a results database that already holds a run is killed with
 * SIGKILL at 20 moments spread over its duration and at two near its end
 * (the last merge), each time from a fresh copy of that database. The
 * sweep's replays are separate processes; each merge into the results
 * database is one transaction (db_merge), whose every write the SQLite
 * layer's own test kills (tests/unit/test_db_kill.c, during_a_merge).
 * After each kill: PRAGMA integrity_check is ok, the earlier run is
 * unchanged, every complete sweep run is exactly a run of the
 * uninterrupted reference sweep, and running the same sweep again resumes
 * it to exactly the reference: the same 4 complete runs, none twice.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

static char *qtext(const char *db, const char *sql)
{
	sqlite3 *d;
	sqlite3_stmt *st;
	char *v = NULL;
	cr_assert_eq(sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s", db);
	cr_assert_eq(sqlite3_prepare_v2(d, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(d));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = strdup(sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
	sqlite3_finalize(st);
	sqlite3_close(d);
	return v ? v : strdup("");
}

/* One line per complete run of the sweep: identity and figures, sorted. */
#define DIGEST_SQL(where) \
	"SELECT ifnull(group_concat(l, char(10)), '') FROM (SELECT trace_sha256 || ' ' || config_json || ' ' || " \
	"ops || ':' || peak_live_bytes || ':' || peak_heap_inuse_bytes || ':' || refills || ':' || span_moves || " \
	"':' || event_rows || ':' || snapshot_rows || ':' || " \
	"(SELECT count(*) FROM span_moves m WHERE m.run_id = r.run_id) || ':' || " \
	"(SELECT count(*) FROM snapshots s WHERE s.run_id = r.run_id) AS l " \
	"FROM runs r WHERE " where " ORDER BY l)"

/* Lines of a group_concat (no trailing newline). */
static size_t nlines(const char *s)
{
	return *s ? tl_count_lines(s) + 1 : 0;
}


static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A fresh work.db from base.db, no work folder. */
static void fresh(const char *dir, const char *base, const char *db)
{
	char cmd[8400];
	tl_copy_file(base, db);
	snprintf(cmd, sizeof cmd, "rm -rf '%s/work.work' '%s-wal' '%s-shm'", dir, db, db);
	cr_assert_eq(system(cmd), 0);
}

/* Start `spanlab sweep` (kill_ms < 0: let it finish); returns its exit
 * code, or -1 if it was killed. */
static int sweep(const char *json, const char *db, double kill_s)
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(getenv("SPANLAB_BIN"), "spanlab", "sweep", json, "--jobs", "1", "-q", "--db", db, (char *)NULL);
		_exit(127);
	}
	if (kill_s >= 0) {
		struct timespec ts = { (time_t)kill_s, (long)((kill_s - (double)(time_t)kill_s) * 1e9) };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		return -1;
	cr_assert(WIFEXITED(st), "the sweep died by signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

/* Resume: the killed sweep's replays got SIGTERM (PR_SET_PDEATHSIG) and
 * may hold the work folder's lock for a moment; retry while it says so. */
static int resume(const char *json, const char *db)
{
	int code = 1;
	for (int i = 0; i < 100 && code == 1; i++) {
		code = sweep(json, db, -1);
		if (code == 1) {
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	return code;
}

Test(kill_sweep, sigkill_anywhere_then_resume, .timeout = 900)
{
	char *dir = tl_tmpdir(), base[4096], db[4096], json[4096], t[2][4096];
	struct tl_run r;
	snprintf(base, sizeof base, "%s/base.db", dir);
	snprintf(db, sizeof db, "%s/work.db", dir);
	snprintf(json, sizeof json, "%s/k.json", dir);
	for (int i = 0; i < 2; i++) {
		snprintf(t[i], sizeof t[i], "%s/t%d.slt", dir, i);
		const char *gen[] = { "spanlab", "gen", i ? "heavytail" : "uniform", "--ops", i ? "25000" : "50000",
				      "--seed", i ? "2" : "1", "-o", t[i], NULL };
		cr_assert_eq(tl_run(&r, NULL, gen), 0);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tl_run_free(&r);
	}
	const char *text = "{\"sweep_id\": \"k\", \"traces\": [\"t0.slt\", \"t1.slt\"],"
			   " \"grid\": {\"free\": [\"gc\", \"immediate\"]}}";
	cr_assert_eq(tl_write_file(json, text, strlen(text)), 0);
	const char *first[] = { "spanlab", "replay", "-q", t[1], "--db", base, NULL };
	cr_assert_eq(tl_run(&r, NULL, first), 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	char *run1 = qtext(base, DIGEST_SQL("run_id = 1"));

	/* The reference: the same sweep, uninterrupted, timed. The kill
	 * points scale with the fastest of three, so a load spike during the
	 * timing does not push them past the end of the sweeps that follow. */
	double total = 1e9;
	char *ref = NULL;
	for (int i = 0; i < 3; i++) {
		fresh(dir, base, db);
		double t0 = now();
		cr_assert_eq(sweep(json, db, -1), 0);
		double took = now() - t0;
		total = took < total ? took : total;
		char *got = qtext(db, DIGEST_SQL("sweep_id = 'k' AND status = 'complete'"));
		cr_assert_eq(nlines(got), 4, "the reference sweep has %zu complete runs:\n%s", nlines(got), got);
		if (ref) {
			cr_assert_str_eq(got, ref, "two uninterrupted sweeps differ");
			free(got);
		} else {
			ref = got;
		}
	}

	double points[22];
	int np = 0;
	for (int i = 1; i <= 20; i++)
		points[np++] = total * i / 21;
	points[np++] = total * 0.97;
	points[np++] = total * 0.995;
	int killed = 0, partial = 0;
	for (int i = 0; i < np; i++) {
		fresh(dir, base, db);
		int code = sweep(json, db, points[i]);
		cr_assert(code == -1 || code == 0, "kill at %.3f s: a sweep that ended before it exited %d", points[i], code);
		killed += code == -1;
		char *ok = qtext(db, "PRAGMA integrity_check");
		cr_assert_str_eq(ok, "ok", "kill at %.3f s: integrity_check", points[i]);
		free(ok);
		char *r1 = qtext(db, DIGEST_SQL("run_id = 1"));
		cr_assert_str_eq(r1, run1, "kill at %.3f s: the earlier run changed", points[i]);
		free(r1);
		/* every complete run is one of the reference's, whole */
		char *done = qtext(db, DIGEST_SQL("sweep_id = 'k' AND status = 'complete'"));
		for (char *l = done, *e; *l; l = *e ? e + 1 : e) {
			e = strchr(l, '\n');
			if (!e)
				e = l + strlen(l);
			char line[8192];
			snprintf(line, sizeof line, "%.*s", (int)(e - l), l);
			cr_assert(strstr(ref, line), "kill at %.3f s: a complete run that is not the reference's: %s",
				  points[i], line);
		}
		partial += nlines(done) < 4;
		free(done);
		/* resuming gives exactly the reference */
		cr_assert_eq(resume(json, db), 0, "kill at %.3f s: the resumed sweep failed", points[i]);
		char *after = qtext(db, DIGEST_SQL("sweep_id = 'k' AND status = 'complete'"));
		cr_assert_str_eq(after, ref, "kill at %.3f s: the resumed sweep differs from the reference", points[i]);
		free(after);
	}
	fprintf(stderr, "  sweep of 4 runs (%.2f s) killed at %d points (%d before its end, %d with runs to resume): "
			"sound each time, resumed to the reference\n", total, np, killed, partial);
	cr_assert_gt(partial, np / 2, "most kills should interrupt the sweep");
	free(ref);
	free(run1);
	tl_tmpdir_remove(dir);
}
