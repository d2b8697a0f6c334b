/*
 * spanlab sweep as a user meets it: a 4-run sweep on tiny traces gives 4
 * complete runs with the right configs; running it again adds nothing;
 * more repeats add only the new ones; a failing trace and a killed replay
 * are recorded as failed with their reasons while the others complete, and
 * the next sweep retries them; SIGTERM to the sweep leaves its runs
 * interrupted; --list run through xargs -P and spanlab merge gives the same
 * runs, row for row, as the sweep itself; bad sweep files are one line and
 * exit 2 before anything is written. And `sizeclasses --fit` end to end.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "../unit/test_db_util.h"
#include "cli.h"

#define RUN(r, ...) \
	cr_assert_eq(tl_run(r, NULL, (const char *const[]){ __VA_ARGS__, NULL }), 0, "cannot run spanlab")

static char *dir;
static char sweep[4096], db[4096], work[4096];

static void path(char *buf, const char *name)
{
	tg_path(buf, 4096, dir, name);
}

static void write_text(const char *name, const char *text)
{
	char p[4096];
	path(p, name);
	cr_assert_eq(tl_write_file(p, text, strlen(text)), 0, "%s", p);
}

static void setup(void)
{
	dir = tl_tmpdir();
	cr_assert(dir);
	write_text("t1.txt", "# spanlab text trace v1\nm 1 24\nm 2 100\nm 3 100\nf 1\nm 4 5000\nf 2\nm 5 40000\n");
	write_text("t2.txt", "# spanlab text trace v1\nm 1 48\nm 2 48\nm 3 700\nf 3\nm 4 300\n");
	write_text("s.json", "{\"traces\": [\"t1.txt\", \"t2.txt\"],"
			     " \"grid\": {\"sizeclasses.max_waste\": [0.0625, 0.5]}}");
	path(sweep, "s.json");
	path(db, "out/r.db");
	path(work, "out/r.work");
}

static void teardown(void)
{
	tl_tmpdir_remove(dir);
}

TestSuite(sweep_cli, .init = setup, .fini = teardown, .timeout = 120);

static size_t count_files(const char *d, const char *suffix)
{
	DIR *dd = opendir(d);
	struct dirent *e;
	size_t n = 0;
	if (!dd)
		return 0;
	while ((e = readdir(dd))) {
		size_t l = strlen(e->d_name), s = strlen(suffix);
		n += l > s && !strcmp(e->d_name + l - s, suffix);
	}
	closedir(dd);
	return n;
}

/* Complete runs of (trace_name, max_waste). */
static int64_t complete_runs(sqlite3 *c, const char *trace, double w)
{
	return tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'complete' AND sweep_id = 's' AND trace_name = '%s'"
			 " AND json_extract(config_json, '$.sizeclasses.max_waste') = %.17g",
		      trace, w);
}

Test(sweep_cli, four_runs_then_nothing_then_more_repeats)
{
	struct tl_run r;
	RUN(&r, "spanlab", "sweep", sweep, "--db", db, "--jobs", "2");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.err, "", "no progress line when stderr is not a terminal");
	cr_assert(strstr(r.out, "0 complete already, 4 completed now, 0 failed"), "%s", r.out);
	tl_run_free(&r);

	sqlite3 *c = tq_open(db);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs"), 4);
	static const char *const traces[] = { "t1.txt", "t2.txt" };
	static const double waste[] = { 0.0625, 0.5 };
	for (int t = 0; t < 2; t++)
		for (int w = 0; w < 2; w++)
			cr_assert_eq(complete_runs(c, traces[t], waste[w]), 1, "%s at %g", traces[t], waste[w]);
	/* Each run holds its own events, and the runs differ where the tables do. */
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs r WHERE event_rows > 0 AND event_rows ="
			       " (SELECT count(*) FROM cache_refills WHERE run_id = r.run_id)"
			       " + (SELECT count(*) FROM span_moves WHERE run_id = r.run_id)"
			       " + (SELECT count(*) FROM span_allocs WHERE run_id = r.run_id)"
			       " + (SELECT count(*) FROM span_frees WHERE run_id = r.run_id)"
			       " + (SELECT count(*) FROM arena_transitions WHERE run_id = r.run_id)"
			       " + (SELECT count(*) FROM scavenges WHERE run_id = r.run_id)"
			       " + (SELECT count(*) FROM gc_cycles WHERE run_id = r.run_id)"),
		     4);
	/* Each run used its own table: one size_class_stats row per class
	 * (and class 0), as many as the plan says the config has. */
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs r JOIN sweep_points p ON p.sweep_id = r.sweep_id"
			       " AND p.trace_sha256 = r.trace_sha256 AND p.config_json = r.config_json"
			       " WHERE p.nclasses + 1 = (SELECT count(*) FROM size_class_stats WHERE run_id = r.run_id)"),
		     4);
	cr_assert_gt(tq_i64(c, "SELECT max(nclasses) - min(nclasses) FROM sweep_points"), 0);
	/* The plan: every cell matches exactly one complete run by identity. */
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM sweep_points"), 4);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM sweep_points p WHERE (SELECT count(*) FROM runs r"
			       " WHERE r.sweep_id = p.sweep_id AND r.trace_sha256 = p.trace_sha256"
			       " AND r.config_json = p.config_json AND r.status = 'complete') = 1"),
		     4);
	sqlite3_close(c);
	cr_assert_eq(count_files(work, ".db"), 0, "per-run files are deleted once merged");
	cr_assert_eq(count_files(work, ".json"), 4, "one config file per distinct config");

	RUN(&r, "spanlab", "sweep", sweep, "--db", db);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "4 complete already, 0 completed now"), "%s", r.out);
	tl_run_free(&r);
	c = tq_open(db);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs"), 4, "running again adds nothing");
	sqlite3_close(c);

	write_text("s.json", "{\"traces\": [\"t1.txt\", \"t2.txt\"], \"repeats\": 3,"
			     " \"grid\": {\"sizeclasses.max_waste\": [0.0625, 0.5]}}");
	RUN(&r, "spanlab", "sweep", sweep, "--db", db, "--jobs", "3");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "4 complete already, 8 completed now"), "%s", r.out);
	tl_run_free(&r);
	c = tq_open(db);
	for (int t = 0; t < 2; t++)
		for (int w = 0; w < 2; w++)
			cr_assert_eq(complete_runs(c, traces[t], waste[w]), 3);
	/* Repeats of a deterministic replay hold the same rows. */
	char *d1 = tq_text(c, "SELECT run_uuid FROM runs WHERE trace_name = 't2.txt' ORDER BY run_id LIMIT 1");
	char *d2 = tq_text(c, "SELECT run_uuid FROM runs WHERE trace_name = 't2.txt' AND config_json ="
			      " (SELECT config_json FROM runs WHERE run_uuid = '%s') ORDER BY run_id DESC LIMIT 1", d1);
	char *g1 = tq_run_digest(c, d1), *g2 = tq_run_digest(c, d2);
	cr_assert_str_neq(d1, d2);
	cr_assert_str_eq(g1, g2);
	free(d1), free(d2), free(g1), free(g2);
	sqlite3_close(c);
}

/* ---- a sweep in the background, one of its replays killed ------------------- */

static bool sweep_without_stdin;	/* start_sweep closes the sweep's stdin */

static pid_t start_sweep(const char *json_path, const char *db_path, const char *errfile)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0666), nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		if (sweep_without_stdin)
			close(0);
		dup2(nul, 1);
		dup2(fd, 2);
		const char *bin = getenv("SPANLAB_BIN");
		execl(bin ? bin : "build/spanlab", "spanlab", "sweep", json_path, "--db", db_path, "--jobs", "2", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* The pid of a replay child of `parent` whose command line contains
 * `needle`; waits up to 30 s for one to appear. */
static pid_t find_child(pid_t parent, const char *needle)
{
	for (int tries = 0; tries < 6000; tries++) {
		pid_t pids[64];
		char cmd[64][512];
		int n = tl_children(parent, pids, cmd, 64);
		for (int i = 0; i < n; i++)
			if (strstr(cmd[i], needle) && strstr(cmd[i], " replay "))
				return pids[i];
		nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
	}
	cr_assert_fail("no replay of %s appeared", needle);
	return -1;
}

/* Stop a sweep and its replays (each in a process group of its own), so
 * that nothing finishes or starts meanwhile however slow the machine:
 * the sweep first, and its children once it can no longer fork. */
static void freeze(pid_t sweep_pid)
{
	tl_stop(sweep_pid);
	pid_t pids[64];
	int n = tl_children(sweep_pid, pids, NULL, 64);
	for (int i = 0; i < n; i++)
		tl_stop(pids[i]);	/* stopped, not about to be: a signal sent next stays pending */
}

/* Resume them, the sweep first: it has been sent SIGTERM meanwhile, and
 * its replays resume once it has passed the signal on to each of them. */
static void thaw_terminated(pid_t sweep_pid)
{
	cr_assert_eq(kill(sweep_pid, SIGCONT), 0);
	pid_t pids[64];
	int n = tl_children(sweep_pid, pids, NULL, 64);
	for (int i = 0; i < n; i++) {
		for (int t = 0; t < 30000 && !tl_signal_pending(pids[i], SIGTERM) && tl_proc_state(pids[i]) == 'T'; t++)
			nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
		cr_assert(tl_signal_pending(pids[i], SIGTERM), "the sweep did not pass SIGTERM on to %d", (int)pids[i]);
		kill(pids[i], SIGCONT);
	}
}

static int wait_status(pid_t pid)
{
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void make_long_trace(void)
{
	char p[4096];
	struct tl_run r;
	path(p, "long.slt");
	RUN(&r, "spanlab", "gen", "uniform", "--ops", "400000", "--seed", "3", "-o", p);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
}

Test(sweep_cli, failed_and_killed_runs_do_not_stop_the_others)
{
	char errfile[4096], bad[4096], f[4096];
	make_long_trace();
	write_text("bad.txt", "# spanlab text trace v1\nm 1 100\nm 2 200\nf 1\nbogus line\n");
	write_text("f.json", "{\"traces\": [\"long.slt\", \"bad.txt\", \"t1.txt\", \"t2.txt\"]}");
	path(f, "f.json");
	path(errfile, "sweep.err");
	path(bad, "bad.txt");

	pid_t sp = start_sweep(f, db, errfile);
	pid_t victim = find_child(sp, "long.slt");
	tl_stop(victim);	/* it cannot finish first, however slow this test is */
	cr_assert_eq(tl_proc_state(victim), 'T', "the replay of long.slt ended before it was killed");
	cr_assert_eq(kill(victim, SIGKILL), 0);
	cr_assert_eq(wait_status(sp), 1, "a failed run makes the sweep exit 1");

	sqlite3 *c = tq_open(db);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs"), 4);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'complete'"), 2);
	char *e = tq_text(c, "SELECT status || ': ' || error FROM runs WHERE trace_name = 'long.slt'");
	cr_assert(strstr(e, "failed: killed by signal 9"), "%s", e);
	free(e);
	e = tq_text(c, "SELECT status || ': ' || error FROM runs WHERE trace_name = 'bad.txt'");
	cr_assert(strstr(e, "failed: ") && strstr(e, "line 5") && strstr(e, "bogus line"), "%s", e);
	free(e);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE trace_name = 'long.slt' AND sweep_id = 'f'"
			       " AND config_json = (SELECT config_json FROM sweep_points WHERE trace_name = 'long.slt')"),
		     1, "the failed run carries the cell's identity");
	e = tq_text(c, "SELECT json_extract(argv, '$[0]') FROM runs WHERE trace_name = 'long.slt'");
	cr_assert_str_eq(e, "replay", "argv from the command on, as a replay records it");
	free(e);
	sqlite3_close(c);

	/* The next sweep retries what did not complete. */
	struct tl_run r;
	RUN(&r, "spanlab", "sweep", f, "--db", db);
	cr_assert_eq(r.status, 1, "bad.txt fails again");
	cr_assert(strstr(r.out, "2 complete already, 1 completed now, 1 failed"), "%s", r.out);
	cr_assert_eq(tl_count_lines(r.err), 1, "one line per failed run: %s", r.err);
	cr_assert(strstr(r.err, "bad.txt") && strstr(r.err, "line 5"), "%s", r.err);
	tl_run_free(&r);
	c = tq_open(db);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'complete' AND trace_name = 'long.slt'"), 1);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'failed'"), 3, "failures stay on record");
	sqlite3_close(c);
}

/* A replay killed while it created its database leaves a file with a hot
 * journal: the next sweep rolls it back to the empty file it was and
 * removes it, as any leftover that holds no run, without a warning. */
Test(sweep_cli, a_leftover_killed_while_created_goes_quietly)
{
	char out_dir[4096], left[4200], journal[4300];
	path(out_dir, "out");
	cr_assert_eq(mkdir(out_dir, 0755), 0);
	cr_assert_eq(mkdir(work, 0755), 0);
	snprintf(left, sizeof left, "%s/0123456789abcdef-r0.db", work);
	snprintf(journal, sizeof journal, "%s-journal", left);
	tq_kill_mid_transaction(left, TQ_MANY_PAGES);

	struct tl_run r;
	RUN(&r, "spanlab", "sweep", sweep, "--db", db);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.err, "");
	cr_assert(strstr(r.out, "0 complete already, 4 completed now, 0 failed"), "%s", r.out);
	tl_run_free(&r);
	cr_assert(access(left, F_OK) != 0 && access(journal, F_OK) != 0, "the leftover and its journal are gone");
}

/* A sweep of four runs of a long trace, two at a time, frozen (freeze)
 * once its first replay has started, and when *replay is given, once
 * that replay handles SIGTERM (it is past its start-up, and will not die
 * of a SIGTERM sent while it is stopped); f: its sweep file. */
static pid_t start_frozen_sweep(char *f, char *errfile, pid_t *replay)
{
	make_long_trace();
	write_text("g.json", "{\"traces\": [\"long.slt\"], \"grid\": {\"procs\": [1, 2, 3, 4]}}");
	path(f, "g.json");
	path(errfile, "sweep.err");
	pid_t sp = start_sweep(f, db, errfile);
	pid_t c = find_child(sp, "long.slt");
	for (int t = 0; replay && t < 30000 && !tl_signal_caught(c, SIGTERM); t++)
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
	if (replay) {
		cr_assert(tl_signal_caught(c, SIGTERM), "replay %d does not handle SIGTERM after 30 s", (int)c);
		*replay = c;
	}
	freeze(sp);
	return sp;
}

Test(sweep_cli, sigterm_leaves_runs_interrupted_and_one_sweep_at_a_time)
{
	char errfile[4096], f[4096];
	/* A second sweep on the same database is refused while this one runs
	 * (frozen until its SIGTERM has reached its replays: on a loaded
	 * machine the second sweep can take longer than the first one's
	 * replays, and then all four would have started before the SIGTERM). */
	pid_t sp = start_frozen_sweep(f, errfile, NULL);
	struct tl_run r;
	RUN(&r, "spanlab", "sweep", f, "--db", db);
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "another spanlab sweep"), "%s", r.err);
	tl_run_free(&r);
	cr_assert_eq(kill(sp, SIGTERM), 0);
	thaw_terminated(sp);
	cr_assert_eq(wait_status(sp), 130);
	sqlite3 *c = tq_open(db);
	int64_t n = tq_i64(c, "SELECT count(*) FROM runs");
	int64_t intr = tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'interrupted'");
	cr_assert(intr >= 1 && intr <= 2, "%lld interrupted: the 2 running at most", (long long)intr);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'complete'") + intr, n,
		     "runs stopped by the sweep's SIGTERM are interrupted, not failed");
	cr_assert_lt(n, 4, "no run starts after the signal");
	sqlite3_close(c);
}

/* A second ^C kills the replays (SIGKILL): they are recorded interrupted,
 * as the first signal's are, not failed. The replays are kept stopped, so
 * that the first SIGINT (pending in each) cannot end them first. */
Test(sweep_cli, a_second_sigint_kills_the_runs_and_records_them_interrupted)
{
	char errfile[4096], f[4096];
	pid_t sp = start_frozen_sweep(f, errfile, NULL);
	cr_assert_eq(kill(sp, SIGINT), 0);
	cr_assert_eq(kill(sp, SIGCONT), 0);
	pid_t pids[64];
	int n = tl_children(sp, pids, NULL, 64);
	cr_assert_gt(n, 0);
	for (int i = 0; i < n; i++) {
		for (int t = 0; t < 30000 && !tl_signal_pending(pids[i], SIGINT); t++)
			nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
		cr_assert(tl_signal_pending(pids[i], SIGINT), "the sweep did not pass SIGINT on to %d", (int)pids[i]);
		cr_assert_eq(tl_proc_state(pids[i]), 'T');
	}
	cr_assert_eq(kill(sp, SIGINT), 0);
	cr_assert_eq(wait_status(sp), 130);
	sqlite3 *c = tq_open(db);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs"), n, "the %d runs that had started", n);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'interrupted'"
			       " AND error LIKE 'killed by signal 9%%'"), n, "%s", tq_text(c, "SELECT group_concat(status || ': ' || error, ' / ') FROM runs"));
	sqlite3_close(c);
	char *err = tl_read_file(errfile, NULL);
	cr_assert(err && strstr(err, "interrupted: killed by signal 9") && !strstr(err, " failed: "), "%s", err);
	free(err);
}

/* A sweep that is SIGKILLed cannot stop its replays, only PDEATHSIG can
 * (SIGTERM), and they go on writing their files in the work folder until
 * it ends them. The work folder stays locked until the last has ended: a
 * second sweep would otherwise merge a file still being written and start
 * the same run into it. One replay, past its start-up, is kept stopped
 * meanwhile, so that the lock is checked while it certainly lives. The
 * test adopts the orphaned replays (a subreaper): their process groups
 * keep a parent in the session, so the kernel does not send them the
 * SIGHUP and SIGCONT of an orphaned group that has stopped members. */
static void killed_sweeps_replays_keep_its_lock(void)
{
	char errfile[4096], f[4096];
	pid_t c, pids[64];
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	pid_t sp = start_frozen_sweep(f, errfile, &c);
	int n = tl_children(sp, pids, NULL, 64);
	cr_assert_eq(kill(sp, SIGKILL), 0);
	cr_assert_eq(wait_status(sp), 128 + SIGKILL);
	for (int t = 0; t < 30000 && !tl_signal_pending(c, SIGTERM); t++)
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
	cr_assert(tl_signal_pending(c, SIGTERM), "replay %d got no SIGTERM from its parent's death", (int)c);
	cr_assert_eq(tl_proc_state(c), 'T');

	struct tl_run r;
	RUN(&r, "spanlab", "sweep", f, "--db", db);
	cr_assert_eq(r.status, 1, "a second sweep ran beside the first one's replay (exit %d): %s", r.status, r.err);
	cr_assert(strstr(r.err, "another spanlab sweep, or a replay it started"), "%s", r.err);
	tl_run_free(&r);

	for (int i = 0; i < n; i++) {
		kill(pids[i], SIGCONT);
		int st = wait_status(pids[i]);
		cr_assert(pids[i] != c || st == 130, "replay %d, stopped by its SIGTERM, exited %d", (int)c, st);
	}
	RUN(&r, "spanlab", "sweep", f, "--db", db);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	sqlite3 *db_c = tq_open(db);
	char *ok = tq_text(db_c, "PRAGMA integrity_check");
	cr_assert_str_eq(ok, "ok");
	free(ok);
	cr_assert_eq(tq_i64(db_c, "SELECT count(*) FROM runs WHERE status = 'complete'"), 4, "%s",
		     tq_text(db_c, "SELECT group_concat(status || ': ' || coalesce(error, ''), ' / ') FROM runs"));
	sqlite3_close(db_c);
}

Test(sweep_cli, a_killed_sweeps_replays_keep_its_lock)
{
	killed_sweeps_replays_keep_its_lock();
}

/* The same with the sweep's stdin closed: its lock must not take fd 0,
 * which each replay's dup2 of /dev/null would close. */
Test(sweep_cli, a_killed_sweeps_replays_keep_its_lock_without_stdin)
{
	sweep_without_stdin = true;
	killed_sweeps_replays_keep_its_lock();
}

/* ---- --list through xargs and merge ------------------------------------------ */

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "digest" lines of the complete runs of a file, sorted, keyed by identity. */
static char *contents(const char *file)
{
	sqlite3 *c = tq_open(file);
	int64_t n = tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'complete'");
	char **lines = calloc((size_t)n, sizeof *lines);
	for (int64_t i = 0; i < n; i++) {
		char *u = tq_text(c, "SELECT run_uuid FROM runs WHERE status = 'complete' ORDER BY run_uuid LIMIT 1 OFFSET %lld",
				  (long long)i);
		char *d = tq_run_digest(c, u);
		char *id = tq_text(c, "SELECT sweep_id || ' ' || trace_sha256 || ' ' || trace_path FROM runs WHERE run_uuid = '%s'", u);
		cr_assert(asprintf(&lines[i], "%s %s", id, d) > 0);
		free(u), free(d), free(id);
	}
	char *plan = tq_text(c, "SELECT group_concat(label || ' ' || config_json || ' ' || run_key, char(10)) FROM"
				" (SELECT * FROM sweep_points ORDER BY point, trace)");
	sqlite3_close(c);
	qsort(lines, (size_t)n, sizeof *lines, cmp_lines);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	for (int64_t i = 0; i < n; i++) {
		fprintf(f, "%s\n", lines[i]);
		free(lines[i]);
	}
	fprintf(f, "%s\n", plan);
	fclose(f);
	free(lines);
	free(plan);
	return out;
}

Test(sweep_cli, list_xargs_merge_equals_sweep)
{
	char db_b[4096], work_b[4096];
	struct tl_run r;
	path(db_b, "b/r.db");
	path(work_b, "b/r.work");

	RUN(&r, "spanlab", "sweep", sweep, "--db", db);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);

	struct tl_run list;
	RUN(&list, "spanlab", "sweep", sweep, "--db", db_b, "--list");
	cr_assert_eq(list.status, 0, "%s", list.err);
	cr_assert_eq(tl_count_lines(list.out), 4, "%s", list.out);
	cr_assert(strstr(list.out, " replay ") && strstr(list.out, " --sweep-id s "), "%s", list.out);
	cr_assert_eq(tl_run(&r, list.out, (const char *const[]){ "xargs", "-d", "\n", "-n", "1", "-P", "2", "sh", "-c", NULL }),
		     0);
	cr_assert_eq(r.status, 0, "xargs: %s", r.err);
	tl_run_free(&r);
	tl_run_free(&list);
	cr_assert_eq(count_files(work_b, ".db"), 4);

	/* spanlab merge OUT WORK/<each>.db */
	const char *argv[16] = { "spanlab", "merge", "-q", db_b };
	int argc = 4;
	DIR *d = opendir(work_b);
	struct dirent *e;
	char names[8][4400];
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".db") && !strstr(e->d_name, ".db-")) {
			cr_assert_lt(argc, 12);
			snprintf(names[argc - 4], sizeof names[0], "%s/%s", work_b, e->d_name);
			argv[argc] = names[argc - 4];
			argc++;
		}
	closedir(d);
	cr_assert_eq(tl_run(&r, NULL, argv), 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);

	char *a = contents(db), *b = contents(db_b);
	cr_assert_str_eq(a, b, "sweep:\n%s\nlist + xargs + merge:\n%s", a, b);
	free(a);
	free(b);

	/* The sweep sees the merged runs as done, and --list prints nothing. */
	RUN(&r, "spanlab", "sweep", sweep, "--db", db_b, "--list");
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.out, "");
	cr_assert(strstr(r.err, "complete"), "%s", r.err);
	tl_run_free(&r);
	RUN(&r, "spanlab", "sweep", sweep, "--db", db_b);
	cr_assert(strstr(r.out, "4 complete already, 0 completed now"), "%s", r.out);
	tl_run_free(&r);
}

/* ---- bad input ---------------------------------------------------------------- */

Test(sweep_cli, bad_sweep_file_is_one_line_and_writes_nothing)
{
	struct tl_run r;
	char f[4096];
	struct stat st;
	write_text("bad.json", "{\"traces\": [\"t1.txt\"], \"grid\": {\"sizeclasses.max_wast\": [0.1]}}");
	path(f, "bad.json");
	RUN(&r, "spanlab", "sweep", f, "--db", db);
	cr_assert_eq(r.status, 2);
	cr_assert_eq(tl_count_lines(r.err), 1, "%s", r.err);
	cr_assert(strstr(r.err, "spanlab sweep: ") && strstr(r.err, f) && strstr(r.err, "'sizeclasses.max_wast'"), "%s",
		  r.err);
	cr_assert_neq(stat(db, &st), 0, "no database before the plan is valid");
	tl_run_free(&r);

	RUN(&r, "spanlab", "sweep", sweep, "--jobs", "0");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "--jobs"), "%s", r.err);
	tl_run_free(&r);
	RUN(&r, "spanlab", "sweep");
	cr_assert_eq(r.status, 2);
	tl_run_free(&r);
}

/* A grid page size whose one page-allocator chunk outgrows base's arena
 * (16 KiB pages: 8 MiB) fails the plan, naming that grid value, before
 * anything is written; it used to pass and fail that run at heap creation. */
Test(sweep_cli, an_arena_below_a_grid_page_sizes_chunk_is_refused_before_any_run)
{
	struct tl_run r;
	char f[4096];
	struct stat st;
	write_text("arena.json", "{\"traces\": [\"t1.txt\"], \"base\": {\"arena_size\": \"4MiB\"},"
				 " \"grid\": {\"sizeclasses.page_size\": [8192, 16384]}}");
	path(f, "arena.json");
	RUN(&r, "spanlab", "sweep", f, "--db", db);
	cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "%s", r.err);
	cr_assert(strstr(r.err, f) && strstr(r.err, "grid['sizeclasses.page_size'][1]: 'arena_size'"), "%s", r.err);
	cr_assert_neq(stat(db, &st), 0, "no database before the plan is valid");
	cr_assert_neq(stat(work, &st), 0, "no work folder before the plan is valid");
	tl_run_free(&r);
}

/* ---- sizeclasses --fit ------------------------------------------------------- */

static cJSON *fit_json(const char *trace, const char *k, const char *config)
{
	struct tl_run r;
	if (config)
		RUN(&r, "spanlab", "sizeclasses", "--fit", trace, "--classes", k, "--config", config, "--json");
	else
		RUN(&r, "spanlab", "sizeclasses", "--fit", trace, "--classes", k, "--json");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cJSON *j = cJSON_Parse(r.out);
	cr_assert(j, "%s", r.out);
	tl_run_free(&r);
	return j;
}

static double jnum(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	cr_assert(cJSON_IsNumber(v), "%s.%s", a, b ? b : "");
	return v->valuedouble;
}

Test(sweep_cli, fit_exact_sizes)
{
	char t[4096], cfg[4096], out[4096];
	/* 272, 560, 1664 are valid classes that Go's table lacks: Go serves
	 * them from 288, 576 and 1792 (Go 1.19 sizeclasses.go). */
	write_text("few.txt", "# spanlab text trace v1\nm 1 272\nm 2 272\nm 3 560\nm 4 1664\nm 5 1664\nm 6 1664\n"
			      "m 7 32768\nm 8 5\nm 9 100000\n");
	write_text("notiny.json", "{\"tiny\": false}");
	path(t, "few.txt");
	path(cfg, "notiny.json");
	cJSON *j = fit_json(t, "5", cfg);
	cr_assert_eq(jnum(j, "waste_bytes", NULL), 1 * (8 - 5), "tiny off: the 5-byte request is counted (8-byte class)");
	cJSON_Delete(j);
	j = fit_json(t, "4", cfg);
	cr_assert_gt(jnum(j, "waste_bytes", NULL), 3, "five sizes, four classes: something must share");
	cJSON_Delete(j);

	j = fit_json(t, "6", NULL);
	uint64_t go = 2 * (288 - 272) + (576 - 560) + 3 * (1792 - 1664);
	cr_assert_eq(jnum(j, "waste_bytes", NULL), 0, "8, 16, 272, 560, 1664, 32768");
	cr_assert_eq(jnum(j, "baseline", "waste_bytes"), (double)go);
	cr_assert_eq(jnum(j, "baseline", "classes"), 67);
	cr_assert_eq(jnum(j, "tiny_requests", NULL), 1);
	cr_assert_eq(jnum(j, "large_requests", NULL), 1);
	cr_assert_eq(jnum(j, "requests", NULL), 7);
	/* Its config loads back as a replay config and names the same table. */
	char *text = cJSON_Print(cJSON_GetObjectItemCaseSensitive(j, "config"));
	path(out, "fitted.json");
	cr_assert_eq(tl_write_file(out, text, strlen(text)), 0);
	free(text);
	cJSON_Delete(j);
	struct tl_run r;
	RUN(&r, "spanlab", "sizeclasses", "--config", out);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "  272  ") && strstr(r.out, " 1664  "), "%s", r.out);
	tl_run_free(&r);
	/* Replayed, every small object fills its slot: what is left is the
	 * large object's page rounding and the tiny block's 16 - 5 bytes;
	 * Go's table adds exactly the waste the fit reported for it. */
	uint64_t other = (100000 + 8191) / 8192 * 8192 - 100000 + (16 - 5);
	RUN(&r, "spanlab", "replay", t, "--config", out, "--json");
	cr_assert_eq(r.status, 0, "%s", r.err);
	j = cJSON_Parse(r.out);
	cr_assert_eq(jnum(j, "internal_frag_bytes_at_peak", NULL), (double)other);
	cJSON_Delete(j);
	tl_run_free(&r);
	RUN(&r, "spanlab", "replay", t, "--json");
	j = cJSON_Parse(r.out);
	cr_assert_eq(jnum(j, "internal_frag_bytes_at_peak", NULL), (double)(other + go));
	cJSON_Delete(j);
	tl_run_free(&r);

	RUN(&r, "spanlab", "sizeclasses", "--fit", t, "--classes", "6");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "fitted,   6 classes") && strstr(r.out, "Go 1.19   67 classes"), "%s", r.out);
	tl_run_free(&r);
	RUN(&r, "spanlab", "sizeclasses", "--fit", t, "--classes", "2");
	cr_assert_eq(r.status, 2);
	cr_assert_eq(tl_count_lines(r.err), 1, "%s", r.err);
	tl_run_free(&r);
	RUN(&r, "spanlab", "sizeclasses", "--classes", "6");
	cr_assert_eq(r.status, 2);
	tl_run_free(&r);
}

/* Go's generator makes no table with 128 KiB small objects (division
 * magic), but a table can have them: --fit and a sweep's fit need only
 * the bounds. Without a fit, the generator's refusal stands. */
Test(sweep_cli, fit_beyond_the_generators_limit)
{
	char t[4096], big[4096], out[4096], sw[4096];
	struct tl_run r;
	write_text("big.txt", "# spanlab text trace v1\nm 1 100000\nm 2 40000\nm 3 40000\nm 4 200000\nm 5 8\n");
	write_text("big.json", "{\"sizeclasses\": {\"max_small_size\": 131072}}");
	path(t, "big.txt");
	path(big, "big.json");
	RUN(&r, "spanlab", "sizeclasses", "--config", big);
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "division magic") && tl_count_lines(r.err) == 1, "%s", r.err);
	tl_run_free(&r);

	cJSON *j = fit_json(t, "4", big);
	cr_assert_eq(jnum(j, "requests", NULL), 3, "100000 and 40000 are small under this table");
	cr_assert_eq(jnum(j, "large_requests", NULL), 1);
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "baseline");
	cr_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "classes")) &&
		  cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "waste_bytes")), "no baseline table");
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(b, "error");
	cr_assert(cJSON_IsString(why) && strstr(why->valuestring, "division magic"));
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "config"), "sizeclasses");
	cr_assert_eq(jnum(sc, "max_small_size", NULL), 131072);
	const cJSON *rows = cJSON_GetObjectItemCaseSensitive(sc, "table");
	cr_assert_eq(cJSON_GetArraySize(rows), 4);
	cr_assert_eq(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 3), 0)->valueint, 131072);
	/* 8, 16, the 40000s' class, 131072 for the 100000. */
	uint32_t c3 = (uint32_t)cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 2), 0)->valueint;
	cr_assert(c3 >= 40000 && c3 < 40000 + 128, "class 3 is %u", c3);
	cr_assert_eq(jnum(j, "waste_bytes", NULL), 131072 - 100000 + 2 * (double)(c3 - 40000));
	/* The fitted config replays: the 100000-byte object in a 128 KiB slot. */
	char *text = cJSON_Print(cJSON_GetObjectItemCaseSensitive(j, "config"));
	path(out, "bigfit.json");
	cr_assert_eq(tl_write_file(out, text, strlen(text)), 0);
	free(text);
	cJSON_Delete(j);
	RUN(&r, "spanlab", "replay", t, "--config", out, "--json");
	cr_assert_eq(r.status, 0, "%s", r.err);
	j = cJSON_Parse(r.out);
	cr_assert_geq(jnum(j, "internal_frag_bytes_at_peak", NULL), 131072 - 100000);
	cJSON_Delete(j);
	tl_run_free(&r);
	RUN(&r, "spanlab", "sizeclasses", "--fit", t, "--classes", "4", "--config", big);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "config   no table: ") && strstr(r.out, "division magic"), "%s", r.out);
	tl_run_free(&r);

	/* A sweep fits such a table per trace; a point without fit is refused. */
	write_text("big-sweep.json", "{\"traces\": [\"big.txt\"], \"grid\": {\"sizeclasses\":"
				     " [{\"fit\": 4, \"max_small_size\": 131072}, {\"max_small_size\": 131072}]}}");
	path(sw, "big-sweep.json");
	RUN(&r, "spanlab", "sweep", sw, "--db", db);
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "grid['sizeclasses'][1]") && strstr(r.err, "division magic"), "%s", r.err);
	tl_run_free(&r);
	write_text("big-sweep.json", "{\"traces\": [\"big.txt\"], \"grid\": {\"sizeclasses\":"
				     " [{\"fit\": 4, \"max_small_size\": 131072}, {}]}}");
	RUN(&r, "spanlab", "sweep", sw, "--db", db);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	sqlite3 *c = tq_open(db);
	cr_assert_eq(tl_q1(c, "SELECT count(*) FROM runs WHERE status = 'complete' AND"
			      " json_extract(config_json, '$.sizeclasses.max_small_size') = 131072"), 1);
	cr_assert_eq(tl_q1(c, "SELECT count(*) FROM runs WHERE status = 'complete'"), 2);
	sqlite3_close(c);
}

/* ---- scripts/sweep-figures.sh ---------------------------------------------------- */

static bool file_starts(const char *p, const char *magic)
{
	char buf[16] = { 0 };
	FILE *f = fopen(p, "rb");
	if (!f)
		return false;
	size_t n = fread(buf, 1, strlen(magic), f);
	fclose(f);
	return n == strlen(magic) && !memcmp(buf, magic, n);
}

Test(sweep_cli, figures_and_the_jw4_table)
{
	struct tl_run r;
	char script[4096], figs[4096], p[4400];
	RUN(&r, "spanlab", "sweep", sweep, "--db", db);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	tl_root_path("scripts/sweep-figures.sh", script, sizeof script);
	path(figs, "figs");
	RUN(&r, "bash", script, db, figs);
	cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
	cr_assert_str_eq(r.err, "", "gnuplot said something");
	tl_run_free(&r);
	/* Relative DB and OUTDIR are the caller's, wherever the script lives
	 * (an installed one under share/spanlab wrote into its own folder). */
	char sh[9000];
	snprintf(sh, sizeof sh, "cd '%s' && bash '%s' out/r.db relfigs", dir, script);
	RUN(&r, "/bin/sh", "-c", sh);
	cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
	tl_run_free(&r);
	path(p, "relfigs/sweep-s-frag.png");
	cr_assert(file_starts(p, "\x89PNG"), "%s: a relative OUTDIR is not the caller's", p);
	static const char *const names[] = { "frag", "heap", "cache", "jw4" };
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "%s/sweep-s-%s.png", figs, names[i]);
		cr_assert(file_starts(p, "\x89PNG"), "%s", p);
		snprintf(p, sizeof p, "%s/sweep-s-%s.pdf", figs, names[i]);
		cr_assert(file_starts(p, "%PDF"), "%s", p);
	}

	/* The table: each cell is the run's J&W #4 in %, the mean theirs. */
	sqlite3 *c = tq_open(db);
	char expect[2048];
	int o = snprintf(expect, sizeof expect, "configuration,t1.txt,t2.txt,mean\n");
	static const double waste[] = { 0.0625, 0.5 };
	for (int w = 0; w < 2; w++) {
		double v[2];
		for (int t = 0; t < 2; t++) {
			char *s = tq_text(c, "SELECT frag_inuse_jw4 FROM runs WHERE trace_name = 't%d.txt' AND"
					     " json_extract(config_json, '$.sizeclasses.max_waste') = %.17g", t + 1, waste[w]);
			v[t] = 100 * strtod(s, NULL);
			free(s);
		}
		o += snprintf(expect + o, sizeof expect - (size_t)o, "max_waste=%g,%.1f,%.1f,%.1f\n", waste[w], v[0], v[1],
			      (v[0] + v[1]) / 2);
	}
	sqlite3_close(c);
	snprintf(p, sizeof p, "%s/sweep-s-jw4.csv", figs);
	size_t len;
	char *csv = cli_read_file(p, &len);
	cr_assert(csv, "%s", p);
	cr_assert_str_eq(csv, expect);
	free(csv);
	snprintf(p, sizeof p, "%s/sweep-s-jw4.tex", figs);
	cr_assert(file_starts(p, "% J&W #4"), "%s", p);

	/* A point with a trace missing (its run failed) has no mean: one over
	 * fewer traces would not compare with the other rows'. */
	sqlite3 *w;
	cr_assert_eq(sqlite3_open(db, &w), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(w, "UPDATE runs SET status = 'failed' WHERE trace_name = 't2.txt' AND"
				     " json_extract(config_json, '$.sizeclasses.max_waste') = 0.5", NULL, NULL, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_changes(w), 1);
	sqlite3_close(w);
	RUN(&r, "bash", script, db, figs);
	cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
	cr_assert_str_eq(r.err, "", "gnuplot said something");
	tl_run_free(&r);
	snprintf(p, sizeof p, "%s/sweep-s-jw4.csv", figs);
	csv = cli_read_file(p, &len);
	cr_assert(csv, "%s", p);
	char *row = strstr(csv, "max_waste=0.5,");
	cr_assert(row && strchr(row, '\n') && strchr(row, '\n')[-1] == ',' && strchr(row, '\n')[-2] == ',',
		  "the row with a failed run has neither its cell nor a mean:\n%s", csv);
	cr_assert(strstr(csv, "max_waste=0.0625,") && strchr(strstr(csv, "max_waste=0.0625,"), '\n')[-1] != ',',
		  "the complete row keeps its mean:\n%s", csv);
	free(csv);
}

/* Write the sweep file NAME (JSON), run it into db, then
 * scripts/sweep-figures.sh over db into FIGS for sweep ID; both must
 * succeed with gnuplot silent. Returns the script's stdout (malloc'ed). */
static char *sweep_figures(const char *name, const char *json, const char *figs, const char *id)
{
	struct tl_run r;
	char script[4096], f[4096];
	write_text(name, json);
	path(f, name);
	RUN(&r, "spanlab", "sweep", f, "--db", db);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	tl_root_path("scripts/sweep-figures.sh", script, sizeof script);
	RUN(&r, "bash", script, db, figs, id);
	cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
	cr_assert_str_eq(r.err, "", "gnuplot said something");
	char *out = strdup(r.out);
	tl_run_free(&r);
	return out;
}

/* Two grid keys: a trace's points at one number of classes differ in the
 * other key, and the figures do not join them by lines (they say so);
 * with one key they are joined. */
Test(sweep_cli, figures_of_two_varying_keys_are_not_joined)
{
	char figs[4096];
	path(figs, "figs");
	char *out = sweep_figures("two.json", "{\"traces\": [\"t1.txt\", \"t2.txt\"],"
				  " \"grid\": {\"sizeclasses.max_waste\": [0.0625, 0.5], \"procs\": [1, 2]}}", figs, "two");
	cr_assert(strstr(out, "two: more than the x parameter varies: points of one trace are not joined"), "%s", out);
	free(out);
	out = sweep_figures("one.json", "{\"traces\": [\"t1.txt\", \"t2.txt\"],"
			    " \"grid\": {\"sizeclasses.max_waste\": [0.0625, 0.5]}}", figs, "one");
	cr_assert(!strstr(out, "not joined"), "one key varies in sweep one: %s", out);
	free(out);
}

/* An unknown sweep id is bad input: exit 2, one line, no OUTDIR made, and
 * the database is opened read-only (its bytes do not change). */
Test(sweep_cli, figures_of_an_unknown_sweep_write_nothing)
{
	char figs[4096], other[4096], script[4096];
	path(figs, "figs");
	free(sweep_figures("one.json", "{\"traces\": [\"t1.txt\"]}", figs, "one"));
	size_t before_len, after_len;
	char *before = cli_read_file(db, &before_len);
	cr_assert(before);
	path(other, "other");
	tl_root_path("scripts/sweep-figures.sh", script, sizeof script);
	struct tl_run r;
	RUN(&r, "bash", script, db, other, "nope");
	cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "%s", r.err);
	cr_assert(strstr(r.err, "no sweep 'nope'"), "%s", r.err);
	tl_run_free(&r);
	struct stat st;
	cr_assert(stat(other, &st) != 0, "OUTDIR was created");
	char *after = cli_read_file(db, &after_len);
	cr_assert(after && after_len == before_len && !memcmp(before, after, before_len), "the database changed");
	free(before);
	free(after);
}

/* Labels with LaTeX's special characters come out escaped in the .tex
 * table, braces, tilde and caret included. */
Test(sweep_cli, the_latex_table_escapes_labels)
{
	char figs[4096], tex[4400];
	path(figs, "figs");
	free(sweep_figures("l.json", "{\"traces\": [\"t1.txt\"], \"grid\": {\"sizeclasses.max_waste\": [0.0625, 0.5]},"
			   " \"labels\": {\"sizeclasses.max_waste\": [\"a{1}_%\", \"b^~\\\\c\"]}}", figs, "l"));
	snprintf(tex, sizeof tex, "%s/sweep-l-jw4.tex", figs);
	size_t len;
	char *t = cli_read_file(tex, &len);
	cr_assert(t, "%s", tex);
	cr_assert(strstr(t, "a\\{1\\}\\_\\% &"), "%s", t);
	cr_assert(strstr(t, "b\\textasciicircum{}\\textasciitilde{}\\textbackslash{}c &"), "%s", t);
	free(t);
}

/* --list prints one command per line: a path with a line break is
 * refused (exit 2, one line) before anything is written. */
Test(sweep_cli, list_refuses_a_path_with_a_line_break)
{
	char nl[4096], nldb[4200], nlwork[4200];
	path(nl, "a\nb");
	cr_assert_eq(mkdir(nl, 0777), 0);
	snprintf(nldb, sizeof nldb, "%s/r.db", nl);
	snprintf(nlwork, sizeof nlwork, "%s/r.work", nl);
	struct tl_run r;
	RUN(&r, "spanlab", "sweep", sweep, "--db", nldb, "--list");
	cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "%s", r.err);
	cr_assert(strstr(r.err, "line break"), "%s", r.err);
	cr_assert_str_eq(r.out, "");
	tl_run_free(&r);
	struct stat st;
	cr_assert(stat(nldb, &st) != 0 && stat(nlwork, &st) != 0, "nothing is written");
}

/* A trace whose name starts with '-' is a trace, not an option of the
 * replays the sweep runs (the sweep file named from its own folder, so
 * that the trace's path is the bare name). */
Test(sweep_cli, a_trace_named_like_an_option)
{
	write_text("-t.txt", "# spanlab text trace v1\nm 1 16\nm 2 100\nf 1\n");
	write_text("dash.json", "{\"traces\": [\"-t.txt\"]}");
	cr_assert_eq(chdir(dir), 0);
	struct tl_run r;
	RUN(&r, "spanlab", "sweep", "dash.json", "--db", db, "--jobs", "1");
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	sqlite3 *c = tq_open(db);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'complete' AND trace_name = '-t.txt' AND ops = 3"),
		     1);
	sqlite3_close(c);
}
