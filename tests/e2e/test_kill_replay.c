/*
 * Kill-anywhere consistency of `spanlab replay --db` (issue item 3). A
 * child process runs the replay command itself (cmd_replay, the CLI's own
 * code) with every file SQLite opens going through a VFS shim that counts
 * writes, syncs and truncates and raises SIGKILL at the k-th. A counting
 * run gives N, the I/O operations of one whole replay; the replay is then
 * killed at 20 points spread over 1..N, and at every write around its
 * final commit (found by bisection: the first kill that leaves the run
 * complete). Each kill starts from a fresh copy of the same database, so
 * the k-th write is the same point every time. After each kill: PRAGMA
 * integrity_check is ok, the run logged before is unchanged, and the
 * killed run is 'running' with at most the reference run's rows, or,
 * killed after its last commit, complete with exactly them. The SQLite
 * layer's own kill test is tests/unit/test_db_kill.c (its shim is the
 * model for this one); this one kills the CLI's whole replay path.
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
#include <unistd.h>

#include "commands.h"
#include "killvfs.h"
#include "testlib.h"

/* ---- one replay in a child ----------------------------------------------- */

/* Run `spanlab replay -q TRACE --db DB` in a child through cmd_replay with
 * the shim killing at `at` (0: never). Returns the I/O count of a whole
 * run (at == 0) or -1 when the child died by SIGKILL. */
static long replay_child(const char *trace, const char *db, long at)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);
		dup2(nul, 1);
		dup2(nul, 2);
		kill_vfs_install(at);
		char *argv[] = { "replay", "-q", (char *)trace, "--db", (char *)db, NULL };
		int code = cmd_replay(5, argv);
		long n = kill_vfs_count();
		if (write(p[1], &n, sizeof n) != sizeof n)
			code = 99;
		_exit(code);
	}
	close(p[1]);
	long n = -1;
	ssize_t got = read(p[0], &n, sizeof n);
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st)) {
		cr_assert_eq(WTERMSIG(st), SIGKILL, "the replay died by signal %d", WTERMSIG(st));
		return -1;
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the replay exited %d", WEXITSTATUS(st));
	cr_assert_eq(got, (ssize_t)sizeof n);
	return n;
}

/* ---- what a database holds ------------------------------------------------ */

static const char *const tables[] = { "cache_refills", "span_moves", "arena_transitions", "snapshots",
				      "size_class_stats" };
enum { NT = sizeof tables / sizeof tables[0] };



struct run_rows {
	int64_t rows[NT];
	char *summary;		/* status, ops, peak figures */
};

static void run_rows(sqlite3 *d, int64_t run, struct run_rows *r)
{
	char sql[256];
	for (int t = 0; t < NT; t++) {
		snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE run_id = %lld", tables[t], (long long)run);
		r->rows[t] = tl_q1(d, sql);
	}
	snprintf(sql, sizeof sql,
		 "SELECT status || ':' || ifnull(ops, '-') || ':' || ifnull(peak_live_bytes, '-') || ':' || "
		 "ifnull(peak_heap_inuse_bytes, '-') FROM runs WHERE run_id = %lld", (long long)run);
	r->summary = tl_qtext(d, sql);
}

struct ctx {
	const char *trace, *base, *db;	/* each kill starts from a copy of base */
	long n;
	struct run_rows before, ref;	/* run 1 (in base); run 2 when whole */
};


static void fresh_copy(const struct ctx *c)
{
	char p[4200];
	tl_copy_file(c->base, c->db);
	snprintf(p, sizeof p, "%s-wal", c->db);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", c->db);
	unlink(p);
}

/* Kill a replay at write `at`, check the database; true if the killed run
 * is complete (the kill came after its last commit). */
static bool kill_and_check(struct ctx *c, long at)
{
	sqlite3 *d;
	bool complete = false;
	fresh_copy(c);
	long rc = replay_child(c->trace, c->db, at);
	cr_assert_eq(rc, -1, "the replay was not killed at write %ld of %ld", at, c->n);
	cr_assert_eq(sqlite3_open_v2(c->db, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	char *ok = tl_qtext(d, "PRAGMA integrity_check");
	cr_assert(ok && !strcmp(ok, "ok"), "kill at write %ld of %ld: integrity_check: %s", at, c->n, ok);
	free(ok);
	struct run_rows now;
	run_rows(d, 1, &now);
	cr_assert_str_eq(now.summary, c->before.summary, "kill at write %ld: run 1 changed", at);
	for (int t = 0; t < NT; t++)
		cr_assert_eq(now.rows[t], c->before.rows[t], "kill at write %ld: run 1's %s changed", at, tables[t]);
	free(now.summary);
	cr_assert_leq(tl_q1(d, "SELECT max(run_id) FROM runs"), 2);
	if (tl_q1(d, "SELECT count(*) FROM runs WHERE run_id = 2") == 1) {
		struct run_rows k;
		run_rows(d, 2, &k);
		if (!strncmp(k.summary, "complete:", 9)) {
			/* killed after its last commit: all of it is there */
			complete = true;
			for (int t = 0; t < NT; t++)
				cr_assert_eq(k.rows[t], c->ref.rows[t], "kill at write %ld: a complete run lacks %s rows",
					     at, tables[t]);
			cr_assert_str_eq(k.summary, c->ref.summary, "kill at write %ld: complete with other figures", at);
		} else {
			cr_assert(!strncmp(k.summary, "running:", 8), "kill at write %ld: the killed run is '%s'", at,
				  k.summary);
			for (int t = 0; t < NT; t++)
				cr_assert_leq(k.rows[t], c->ref.rows[t], "kill at write %ld: %s", at, tables[t]);
		}
		free(k.summary);
	}
	sqlite3_close(d);
	return complete;
}

Test(kill_replay, sigkill_at_20_points_and_the_final_commit, .timeout = 600)
{
	char *dir = tl_tmpdir(), db[4096], trace[4096], small[4096];
	struct tl_run r;
	snprintf(db, sizeof db, "%s/k.db", dir);
	snprintf(trace, sizeof trace, "%s/u.slt", dir);
	snprintf(small, sizeof small, "%s/small.slt", dir);
	const char *gen[] = { "spanlab", "gen", "uniform", "--ops", "80000", "--seed", "5", "-o", trace, NULL };
	const char *gen_small[] = { "spanlab", "gen", "heavytail", "--ops", "5000", "--seed", "6", "-o", small, NULL };
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(tl_run(&r, NULL, i ? gen_small : gen), 0);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tl_run_free(&r);
	}

	/* base: one complete run logged the ordinary way. The reference: the
	 * same replay through the shim on a copy, counting its I/O. */
	char base[4096];
	snprintf(base, sizeof base, "%s/base.db", dir);
	const char *first[] = { "spanlab", "replay", "-q", small, "--db", base, NULL };
	cr_assert_eq(tl_run(&r, NULL, first), 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	struct ctx c = { trace, base, db, 0, { { 0 }, NULL }, { { 0 }, NULL } };
	fresh_copy(&c);
	c.n = replay_child(trace, db, 0);
	cr_assert_gt(c.n, 20, "a whole replay made only %ld writes", c.n);
	long n = c.n;
	sqlite3 *d;
	cr_assert_eq(sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	run_rows(d, 1, &c.before);
	run_rows(d, 2, &c.ref);
	sqlite3_close(d);
	cr_assert(!strncmp(c.ref.summary, "complete:", 9), "%s", c.ref.summary);

	int kills = 0;
	for (int i = 0; i < 20; i++, kills++)
		kill_and_check(&c, 1 + (n - 1) * i / 19);	/* spread over 1 .. n */
	/* The final commit: the first kill point after which the run is
	 * complete (monotone: once committed, later kills cannot undo it),
	 * found by bisection, then every point around it. */
	long lo = 1, hi = n;	/* kill at lo: not complete; at hi: complete */
	cr_assert(kill_and_check(&c, hi), "a kill at the very last write left the run incomplete");
	while (hi - lo > 1) {
		long mid = lo + (hi - lo) / 2;
		if (kill_and_check(&c, mid))
			hi = mid;
		else
			lo = mid;
		kills++;
	}
	for (long at = hi - 4; at <= hi + 3 && at <= n; at++, kills++)
		cr_assert_eq(kill_and_check(&c, at), at >= hi, "kill at write %ld, final commit at %ld", at, hi);
	fprintf(stderr, "  %d kills over %ld writes (the final commit's last write is write %ld): database sound each time\n",
		kills, n, hi - 1);
	free(c.before.summary);
	free(c.ref.summary);
	tl_tmpdir_remove(dir);
}
