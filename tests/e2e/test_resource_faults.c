/*
 * Resource faults during a real `spanlab replay --db`:
 *   - the OS refuses a call: SPANLAB_FAULT_OS (sim/os_fault.h) makes the
 *     Nth mmap-like call (reserve, map, metadata alloc) or madvise fail,
 *     for N = 1 to 4 and 12 more spread up to the number of such calls
 *     the run makes (a run with no failure says how many it counted). Each
 *     run must end by itself (no signal), with exit 1 and one line naming
 *     the trace (or the heap) and the injected failure, the database
 *     sound and the run recorded as failed with that line; or, when the
 *     allocator absorbs the failure (a refused madvise leaves memory
 *     Ready), complete with the validators passing (--check=N) and a
 *     warning saying so.
 *   - the disk holding the database fills up mid-run (a private
 *     2 MiB tmpfs in a mount namespace): exit 1, one line saying "disk full",
 *     PRAGMA integrity_check ok, the earlier run unchanged, the new one
 *     failed, its event_rows and snapshot_rows the rows it has.
 * The SQLite layer's own fault tests are tests/unit/test_db_refuse.c and
 * test_db_kill.c; these run the whole CLI.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sink_sqlite.h"
#include "testlib.h"

#define RUN(r, ...) \
	cr_assert_eq(tl_run(r, NULL, (const char *const[]){ __VA_ARGS__, NULL }), 0, "cannot run spanlab")



static const char *gen(const char *dir, const char *kind, const char *ops)
{
	static char path[4096];
	struct tl_run r;
	snprintf(path, sizeof path, "%s/%s-%s.slt", dir, kind, ops);
	RUN(&r, "spanlab", "gen", kind, "--ops", ops, "--seed", "11", "-o", path);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	return path;
}

/* One replay with the spec'd fault; returns whether it stopped the run.
 * *absorbed: the fault was hit and the allocator went on (exit 0). */
static bool faulty_replay(const char *trace, const char *db, const char *spec, int64_t run_no, bool *absorbed)
{
	struct tl_run r;
	char sql[256];
	setenv("SPANLAB_FAULT_OS", spec, 1);
	RUN(&r, "spanlab", "replay", "-q", "--check=20000", "--arena-size", "4MiB", "--procs", "3", trace, "--db", db);
	unsetenv("SPANLAB_FAULT_OS");
	cr_assert(r.status == 0 || r.status == 1, "%s: exit %d (a crash?): %s", spec, r.status, r.err);
	sqlite3 *d;
	cr_assert_eq(sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	char *ok = tl_qtext(d, "PRAGMA integrity_check");
	cr_assert(ok && !strcmp(ok, "ok"), "%s: integrity_check: %s", spec, ok ? ok : "(null)");
	free(ok);
	snprintf(sql, sizeof sql, "SELECT status FROM runs WHERE run_id = %lld", (long long)run_no);
	char *status = tl_qtext(d, sql);
	cr_assert(status, "%s: run %lld was not recorded", spec, (long long)run_no);
	bool hit = r.status == 1;
	if (hit) {
		cr_assert_eq(tl_count_lines(r.err), 1, "%s: not one line: %s", spec, r.err);
		cr_assert(strstr(r.err, "SPANLAB_FAULT_OS failed") &&
			  (strstr(r.err, trace) || strstr(r.err, "cannot create the heap")),
			  "%s: unclear error: %s", spec, r.err);
		cr_assert(strstr(r.err, "out of memory") || strstr(r.err, "cannot"), "%s: %s", spec, r.err);
		cr_assert_str_eq(status, "failed", "%s", spec);
		snprintf(sql, sizeof sql, "SELECT error FROM runs WHERE run_id = %lld", (long long)run_no);
		char *e = tl_qtext(d, sql);
		cr_assert(e && strstr(r.err, e), "%s: the run's error '%s' is not the message '%s'", spec,
			  e ? e : "(null)", r.err);
		free(e);
	} else {
		cr_assert_str_eq(status, "complete", "%s: exit 0 but the run is %s", spec, status);
		*absorbed = strstr(r.err, "SPANLAB_FAULT_OS failed") != NULL;
	}
	free(status);
	sqlite3_close(d);
	tl_run_free(&r);
	return hit;
}

/* The calls of a kind a replay of trace makes: a run with the fault set
 * beyond them says how many it counted. */
static int count_calls(const char *trace, const char *db, const char *kind, int64_t run_no)
{
	struct tl_run r;
	char spec[64], sql[128];
	snprintf(spec, sizeof spec, "%s:1000000000", kind);
	setenv("SPANLAB_FAULT_OS", spec, 1);
	RUN(&r, "spanlab", "replay", "-q", "--check=20000", "--arena-size", "4MiB", "--procs", "3", trace, "--db", db);
	unsetenv("SPANLAB_FAULT_OS");
	int calls = -1;
	const char *at = strstr(r.err, "failed none of the ");
	cr_assert(r.status == 0 && at && sscanf(at, "failed none of the %d calls", &calls) == 1, "%s: exit %d: %s", spec,
		  r.status, r.err);
	tl_run_free(&r);
	sqlite3 *d;
	cr_assert_eq(sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	snprintf(sql, sizeof sql, "SELECT status FROM runs WHERE run_id = %lld", (long long)run_no);
	char *status = tl_qtext(d, sql);
	cr_assert(status && !strcmp(status, "complete"), "%s: run %lld is %s", spec, (long long)run_no,
		  status ? status : "not recorded");
	free(status);
	sqlite3_close(d);
	return calls;
}

/* For each kind, the replay first counts its calls (C); then its Nth call
 * fails, for N = 1 to 4 and 12 more spread evenly up to C: each such run
 * stops cleanly or absorbs the failure and says so, never neither. */
Test(resource_faults, every_nth_os_call_fails, .timeout = 600)
{
	char *dir = tl_tmpdir(), db[4096];
	snprintf(db, sizeof db, "%s/f.db", dir);
	const char *traces[2];
	traces[0] = strdup(gen(dir, "heavytail", "40000"));	/* large objects, scavenging */
	traces[1] = strdup(gen(dir, "phases", "200000"));	/* growth in steps */
	static const char *const kinds[] = { "alloc", "reserve", "map", "unused" };
	int64_t run_no = 0;
	for (int t = 0; t < 2; t++) {
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
			int calls = count_calls(traces[t], db, kinds[k], ++run_no), hits = 0, absorbed = 0, runs = 0;
			cr_assert_gt(calls, 0, "trace %d makes no %s call", t, kinds[k]);
			for (int i = 1, last = 0; i <= 16; i++) {
				int n = i <= 4 ? i : 4 + (int)((int64_t)(calls - 4) * (i - 4) / 12);
				if (n > calls || n <= last)
					continue;	/* past the calls, or the same N again */
				last = n;
				char spec[64];
				bool ab = false;
				snprintf(spec, sizeof spec, "%s:%d", kinds[k], n);
				bool hit = faulty_replay(traces[t], db, spec, ++run_no, &ab);
				cr_assert(hit || ab, "%s of %d calls: the run neither stopped nor said it went on", spec, calls);
				hits += hit;
				absorbed += ab;
				runs++;
			}
			fprintf(stderr, "  trace %d: %-8s %4d calls, %2d of them failed: %d runs stopped cleanly, %d went on\n",
				t, kinds[k], calls, runs, hits, absorbed);
		}
		/* Every call from the Nth on fails: the run still stops cleanly. */
		for (int n = 1; n <= 12; n += 3) {
			char spec[64];
			bool ab;
			snprintf(spec, sizeof spec, "mmap,madvise:%d+", n);
			faulty_replay(traces[t], db, spec, ++run_no, &ab);
		}
	}
	free((char *)traces[0]);
	free((char *)traces[1]);
	tl_tmpdir_remove(dir);
}

Test(resource_faults, bad_fault_spec_is_usage)
{
	struct tl_run r;
	char trace[4096];
	tl_root_path("traces/data/git.slt", trace, sizeof trace);
	setenv("SPANLAB_FAULT_OS", "mmap", 1);
	RUN(&r, "spanlab", "replay", "-q", trace);
	unsetenv("SPANLAB_FAULT_OS");
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "SPANLAB_FAULT_OS='mmap'"), "%s", r.err);
	tl_run_free(&r);
}

/* ---- a full disk under the database ------------------------------------- */

static bool private_tmpfs(const char *where, unsigned kib)
{
	char opt[64];
	if (unshare(CLONE_NEWNS) != 0)
		return false;
	snprintf(opt, sizeof opt, "size=%uk", kib);
	return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	       mount("tmpfs", where, "tmpfs", 0, opt) == 0;
}

/* Runs whose event_rows or snapshot_rows differ from the rows the tables
 * hold for them (a gc_cycles row counts once). */
static int64_t miscounted_runs(sqlite3 *d)
{
	unsigned n;
	const struct sink_table *t = sink_tables(&n);
	char sql[4096];
	int o = snprintf(sql, sizeof sql, "SELECT count(*) FROM runs AS r WHERE event_rows IS NOT (0");
	for (unsigned i = 0; i < n; i++)
		if (t[i].rows == SINK_ROWS_EVENT || t[i].rows == SINK_ROWS_GC)
			o += snprintf(sql + o, sizeof sql - (size_t)o,
				      " + (SELECT count(*) FROM %s AS e WHERE e.run_id = r.run_id)", t[i].name);
	snprintf(sql + o, sizeof sql - (size_t)o,
		 ") OR snapshot_rows IS NOT (SELECT count(*) FROM snapshots AS s WHERE s.run_id = r.run_id)");
	return tl_q1(d, sql);
}

/* In a child: the tmpfs lives in the child's mount namespace only, so
 * everything that looks at it runs there. Exit 0 pass, 3 skip, 1 fail
 * with the reason on stderr. */
static int full_disk_child(const char *mnt, const char *small, const char *big)
{
	char db[4200];
	struct tl_run r;
	if (!private_tmpfs(mnt, 2048))
		return 3;
	snprintf(db, sizeof db, "%s/full.db", mnt);
	if (tl_run(&r, NULL, (const char *const[]){ "spanlab", "replay", "-q", small, "--db", db, NULL }) ||
	    r.status != 0) {
		fprintf(stderr, "the first run failed: %s\n", r.err);
		return 1;
	}
	tl_run_free(&r);
	sqlite3 *d;
	sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL);
	char *before = tl_qtext(d, "SELECT ops || ':' || peak_live_bytes || ':' || status || ':' || "
				"(SELECT count(*) FROM span_moves WHERE run_id = 1) FROM runs WHERE run_id = 1");
	sqlite3_close(d);
	if (tl_run(&r, NULL, (const char *const[]){ "spanlab", "replay", "-q", big, "--db", db, NULL })) {
		fprintf(stderr, "cannot run spanlab\n");
		return 1;
	}
	int fails = 0;
#define EXPECT(c, ...) do { if (!(c)) { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); fails++; } } while (0)
	EXPECT(r.status == 1, "exit %d on a full disk: %s", r.status, r.err);
	EXPECT(tl_count_lines(r.err) == 1 && strstr(r.err, "disk full") && strstr(r.err, db),
	       "not one line naming the database and 'disk full': %s", r.err);
	EXPECT(!strstr(strstr(r.err, "disk full") ? strstr(r.err, "disk full") + 1 : r.err, "disk full"),
	       "the same failure said twice: %s", r.err);
	sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL);
	char *ok = tl_qtext(d, "PRAGMA integrity_check");
	EXPECT(ok && !strcmp(ok, "ok"), "integrity_check: %s", ok ? ok : "(null)");
	char *after = tl_qtext(d, "SELECT ops || ':' || peak_live_bytes || ':' || status || ':' || "
			       "(SELECT count(*) FROM span_moves WHERE run_id = 1) FROM runs WHERE run_id = 1");
	EXPECT(before && after && !strcmp(before, after), "the first run changed: %s -> %s", before, after);
	EXPECT(tl_q1(d, "SELECT count(*) FROM runs WHERE run_id > 1 AND status = 'complete'") == 0,
	       "the run that hit a full disk claims to be complete");
	EXPECT(tl_q1(d, "SELECT count(*) FROM runs WHERE run_id > 1 AND status = 'failed'") == 1,
	       "the run that hit a full disk is not recorded as failed");
	EXPECT(miscounted_runs(d) == 0, "a run's event_rows or snapshot_rows are not the rows it has "
					"(rows of a batch that was rolled back counted?)");
	sqlite3_close(d);
	tl_run_free(&r);
	return fails ? 1 : 0;
}

Test(resource_faults, full_disk_under_the_database)
{
	char *dir = tl_tmpdir(), mnt[4096], small[4096];
	snprintf(mnt, sizeof mnt, "%s/mnt", dir);
	cr_assert_eq(mkdir(mnt, 0755), 0);
	snprintf(small, sizeof small, "%s", gen(dir, "uniform", "3000"));	/* its run: ~0.5 MiB */
	const char *big = gen(dir, "uniform", "1000000");
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0)
		_exit(full_disk_child(mnt, small, big));
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st), "the child died (status %#x)", st);
	if (WEXITSTATUS(st) == 3)
		fprintf(stderr, "skipped: no private tmpfs here (needs CAP_SYS_ADMIN): the SQLite layer's "
				"max_page_count test still covers a full database\n");
	else
		cr_assert_eq(WEXITSTATUS(st), 0, "see the lines above");
	tl_tmpdir_remove(dir);
}
