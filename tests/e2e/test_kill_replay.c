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
#include "testlib.h"

/* ---- a VFS that dies at its k-th write, sync or truncate ------------------ */

struct kfile {
	sqlite3_file base;
	sqlite3_file *real;	/* the default VFS's file, right after this struct */
};

static sqlite3_vfs *orig_vfs;
static sqlite3_vfs kill_vfs;
static long io_count, kill_at;	/* kill_at 0: count only */

static void tick(void)
{
	long n = __atomic_add_fetch(&io_count, 1, __ATOMIC_SEQ_CST);
	if (kill_at && n == kill_at)
		raise(SIGKILL);
}

#define REAL(f) (((struct kfile *)(f))->real)
static int k_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int k_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), b, n, o); }
static int k_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
	tick();
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int k_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	tick();
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int k_sync(sqlite3_file *f, int flags)
{
	tick();
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int k_size(sqlite3_file *f, sqlite3_int64 *s) { return REAL(f)->pMethods->xFileSize(REAL(f), s); }
static int k_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int k_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int k_reserved(sqlite3_file *f, int *r) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r); }
static int k_control(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int k_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int k_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int k_shm_map(sqlite3_file *f, int i, int sz, int ext, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, ext, p);
}
static int k_shm_lock(sqlite3_file *f, int o, int n, int fl) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl); }
static void k_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int k_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int k_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p) { return REAL(f)->pMethods->xFetch(REAL(f), o, n, p); }
static int k_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, p); }

static const sqlite3_io_methods kill_methods = {
	3, k_close, k_read, k_write, k_truncate, k_sync, k_size, k_lock, k_unlock, k_reserved, k_control,
	k_sector, k_device, k_shm_map, k_shm_lock, k_shm_barrier, k_shm_unmap, k_fetch, k_unfetch,
};

static int k_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out)
{
	struct kfile *k = (struct kfile *)f;
	k->real = (sqlite3_file *)(k + 1);
	int rc = orig_vfs->xOpen(orig_vfs, name, k->real, flags, out);
	k->base.pMethods = rc == SQLITE_OK && k->real->pMethods ? &kill_methods : NULL;
	return rc;
}

static void kill_vfs_install(long at)
{
	orig_vfs = sqlite3_vfs_find(NULL);
	kill_vfs = *orig_vfs;
	kill_vfs.zName = "spanlab-kill-replay";
	kill_vfs.szOsFile = (int)sizeof(struct kfile) + orig_vfs->szOsFile;
	kill_vfs.xOpen = k_open;
	io_count = 0;
	kill_at = at;
	sqlite3_vfs_register(&kill_vfs, 1);
}

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
		long n = io_count;
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

static int64_t q1(sqlite3 *d, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	cr_assert_eq(sqlite3_prepare_v2(d, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(d));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char *qtext(sqlite3 *d, const char *sql)
{
	sqlite3_stmt *st;
	char *v = NULL;
	cr_assert_eq(sqlite3_prepare_v2(d, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(d));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

struct run_rows {
	int64_t rows[NT];
	char *summary;		/* status, ops, peak figures */
};

static void run_rows(sqlite3 *d, int64_t run, struct run_rows *r)
{
	char sql[256];
	for (int t = 0; t < NT; t++) {
		snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE run_id = %lld", tables[t], (long long)run);
		r->rows[t] = q1(d, sql);
	}
	snprintf(sql, sizeof sql,
		 "SELECT status || ':' || ifnull(ops, '-') || ':' || ifnull(peak_live_bytes, '-') || ':' || "
		 "ifnull(peak_heap_inuse_bytes, '-') FROM runs WHERE run_id = %lld", (long long)run);
	r->summary = qtext(d, sql);
}

struct ctx {
	const char *trace, *base, *db;	/* each kill starts from a copy of base */
	long n;
	struct run_rows before, ref;	/* run 1 (in base); run 2 when whole */
};

static void copy_file(const char *from, const char *to)
{
	static char buf[1 << 16];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(in >= 0 && out >= 0, "copy %s -> %s", from, to);
	ssize_t k;
	while ((k = read(in, buf, sizeof buf)) > 0)
		cr_assert_eq(write(out, buf, (size_t)k), k);
	close(in);
	close(out);
}

static void fresh_copy(const struct ctx *c)
{
	char p[4200];
	copy_file(c->base, c->db);
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
	char *ok = qtext(d, "PRAGMA integrity_check");
	cr_assert(ok && !strcmp(ok, "ok"), "kill at write %ld of %ld: integrity_check: %s", at, c->n, ok);
	free(ok);
	struct run_rows now;
	run_rows(d, 1, &now);
	cr_assert_str_eq(now.summary, c->before.summary, "kill at write %ld: run 1 changed", at);
	for (int t = 0; t < NT; t++)
		cr_assert_eq(now.rows[t], c->before.rows[t], "kill at write %ld: run 1's %s changed", at, tables[t]);
	free(now.summary);
	cr_assert_leq(q1(d, "SELECT max(run_id) FROM runs"), 2);
	if (q1(d, "SELECT count(*) FROM runs WHERE run_id = 2") == 1) {
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
