/*
 * spanlab replay --db, around the replay itself: a trace that does not
 * open, or a config whose arena is below one chunk of its page size, is
 * refused before a database is created for it; a trace read from
 * a pipe replays into a database (it was drained by its SHA-256 first);
 * ^C while a FIFO's open waits for a writer interrupts the run;
 * the run records the trace's format and the snapshot interval it used;
 * a summary that cannot be written is a failure, not an exit 0.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

static char *dir;

static void setup(void)
{
	dir = tl_tmpdir();
	cr_assert(dir);
}

static void teardown(void)
{
	tl_tmpdir_remove(dir);
}

TestSuite(replay_cli, .init = setup, .fini = teardown, .timeout = 120);

static const char *at(const char *name)
{
	static char buf[4][4096];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
	return buf[i];
}

static const char *trace(const char *name)
{
	static char buf[2][4096];
	static int i;
	char rel[256];
	i ^= 1;
	snprintf(rel, sizeof rel, "traces/data/%s", name);
	return tl_root_path(rel, buf[i], sizeof buf[i]);
}

static sqlite3 *open_db(const char *path)
{
	sqlite3 *d;
	cr_assert_eq(sqlite3_open_v2(path, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s", path);
	return d;
}

Test(replay_cli, a_trace_that_does_not_open_is_refused_before_a_database_exists)
{
	cr_assert_eq(tl_write_file(at("junk.txt"), "junk\n", 5), 0);
	const char *bad[][2] = {
		{ at("missing.slt"), "No such file or directory" },
		{ dir, "is a directory" },
		{ at("junk.txt"), "line 1: unknown trace format" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct tl_run r;
		const char *db = at("never.db");
		cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ "spanlab", "replay", bad[i][0], "--db", db, NULL }), 0);
		cr_assert_eq(r.status, 2, "%s: exit %d (%s)", bad[i][0], r.status, r.err);
		cr_assert_eq(tl_count_lines(r.err), 1, "%s", r.err);
		cr_assert(strstr(r.err, bad[i][0]) && strstr(r.err, bad[i][1]), "%s", r.err);
		tl_run_free(&r);
		struct stat st;
		cr_assert_neq(stat(db, &st), 0, "%s: a database was created", bad[i][0]);
	}
}

/* The arena's lower bound is one page-allocator chunk of the config's page
 * size (512 pages: 8 MiB with 16 KiB pages), whichever key sets it: bad
 * input naming the file and the key, before a database exists, not a run
 * that fails at heap creation. */
Test(replay_cli, an_arena_below_one_chunk_of_its_page_size_is_refused_before_a_database_exists)
{
	const char *cfgs[] = {
		"{\"arena_size\": \"4MiB\", \"sizeclasses\": {\"page_size\": 16384}}",
		"{\"sizeclasses\": {\"page_size\": 65536}, \"arena_size\": \"16MiB\"}",
	};
	for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
		struct tl_run r;
		const char *cfg = at("p.json"), *db = at("never.db");
		cr_assert_eq(tl_write_file(cfg, cfgs[i], strlen(cfgs[i])), 0);
		cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ "spanlab", "replay", trace("git.slt"), "--config", cfg,
								      "--db", db, "-q", NULL }), 0);
		cr_assert_eq(r.status, 2, "%s: exit %d (%s)", cfgs[i], r.status, r.err);
		cr_assert_eq(tl_count_lines(r.err), 1, "%s", r.err);
		cr_assert(strstr(r.err, cfg) && strstr(r.err, "'arena_size'") && strstr(r.err, "page-allocator chunk"),
			  "%s", r.err);
		tl_run_free(&r);
		struct stat st;
		cr_assert_neq(stat(db, &st), 0, "%s: a database was created", cfgs[i]);
	}
	/* One chunk of 4 KiB pages is 2 MiB: the heap takes it, and so does
	 * the config. */
	const char *ok = "{\"arena_size\": \"2MiB\", \"sizeclasses\": {\"page_size\": 4096}}";
	struct tl_run r;
	cr_assert_eq(tl_write_file(at("ok.json"), ok, strlen(ok)), 0);
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ "spanlab", "replay", trace("git.slt"), "--config",
							      at("ok.json"), "-q", NULL }), 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
}

/* Replay from a FIFO that a child fills with the trace's bytes. */
static struct tl_run replay_fifo(const char *from, const char *db, const char *extra)
{
	const char *fifo = at("t.fifo");
	unlink(fifo);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	pid_t w = fork();
	cr_assert_neq(w, -1);
	if (w == 0) {
		size_t n;
		char *bytes = tl_read_file(from, &n);
		int fd = open(fifo, O_WRONLY);
		_exit(bytes && fd >= 0 && write(fd, bytes, n) == (ssize_t)n ? 0 : 1);
	}
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ "spanlab", "replay", fifo, "--db", db, "-q", extra, NULL }),
		     0);
	int st;
	cr_assert_eq(waitpid(w, &st, 0), w);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the writer could not write the whole trace");
	return r;
}

Test(replay_cli, a_trace_from_a_pipe_replays_into_a_database)
{
	const char *db = at("p.db");
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ "spanlab", "replay", trace("go-wordtree.slt"), "--db", db,
							   "-q", NULL }), 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	r = replay_fifo(trace("go-wordtree.slt"), db, NULL);
	cr_assert_eq(r.status, 0, "the piped replay: exit %d: %s", r.status, r.err);
	tl_run_free(&r);
	r = replay_fifo(trace("go-wordtree.slt"), db, "--from=slt");
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	sqlite3 *d = open_db(db);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE status = 'complete'"), 3);
	cr_assert_eq(tl_q1(d, "SELECT count(DISTINCT ops) FROM runs"), 1, "every event of the pipe was replayed");
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE run_id > 1 AND trace_sha256 IS NULL"), 2,
		     "a pipe has no SHA-256 of its bytes");
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE run_id = 2 AND trace_format IS NULL"), 1,
		     "nor a format, unless --from names it");
	char *f = tl_qtext(d, "SELECT trace_format FROM runs WHERE run_id = 3");
	cr_assert(f && !strcmp(f, "slt"), "%s", f ? f : "NULL");
	free(f);
	/* No first pass: the peak is unknown (NULL, not 0), and the interval
	 * grows from 1, doubling after each 2,000 snapshots (not one per
	 * operation); J&W #1, weighted by interval, stays near the file's. */
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE run_id > 1 AND internal_frag_bytes_at_peak IS NULL"), 2);
	int64_t ops = tl_q1(d, "SELECT ops FROM runs WHERE run_id = 2");
	int64_t snaps = tl_q1(d, "SELECT count(*) FROM snapshots WHERE run_id = 2");
	cr_assert(snaps > 2000 && snaps < ops / 2, "%lld snapshots of %lld operations", (long long)snaps, (long long)ops);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE run_id = 2 AND"
			      " abs(frag_inuse_jw1 / (SELECT frag_inuse_jw1 FROM runs WHERE run_id = 1) - 1) < 0.01"), 1);
	sqlite3_close(d);
}

/* The kernel function a process sleeps in ("" if it runs or is gone). */
static void wchan_of(pid_t pid, char *buf, size_t len)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/wchan", pid);
	FILE *f = fopen(p, "r");
	buf[0] = 0;
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = 0;
		fclose(f);
	}
}

Test(replay_cli, sigint_while_a_fifo_waits_for_its_writer_interrupts_the_run)
{
	const char *fifo = at("w.fifo"), *db = at("w.db");
	const char *bin = getenv("SPANLAB_BIN") ? getenv("SPANLAB_BIN") : "build/spanlab";
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(bin, bin, "replay", fifo, "--db", db, "-q", (char *)NULL);
		_exit(127);
	}
	/* Its run is begun, and its open of the FIFO waits for a writer. */
	char wchan[128];
	for (int i = 0; i < 25000; i++) {
		wchan_of(pid, wchan, sizeof wchan);
		if (!strcmp(wchan, "wait_for_partner"))
			break;
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
	}
	cr_assert_str_eq(wchan, "wait_for_partner", "the replay never waited in the FIFO's open");
	cr_assert_eq(kill(pid, SIGINT), 0);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %#x: not interrupted", st);
	sqlite3 *d = open_db(db);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs WHERE status = 'interrupted' AND ops = 0"
			      " AND error = 'interrupted by SIGINT after 0 operations'"), 1);
	sqlite3_close(d);
}

Test(replay_cli, the_run_records_the_format_and_the_snapshot_interval_it_used)
{
	const char *db = at("c.db"), *cfg = at("se.json"), *txt = at("t.txt");
	const char *text = "# spanlab text trace v1\nm 1 100\nm 2 200\nf 1\nf 2\n";
	cr_assert_eq(tl_write_file(cfg, "{\"snapshot_every\": 500}", 23), 0);
	cr_assert_eq(tl_write_file(txt, text, strlen(text)), 0);
	const char *const runs[][8] = {
		{ "spanlab", "replay", trace("go-wordtree.slt"), "--db", db, "-q", "--snapshot-every=100", NULL },
		{ "spanlab", "replay", trace("go-wordtree.slt"), "--db", db, "-q", "--config", cfg, },
		{ "spanlab", "replay", trace("go-wordtree.slt"), "--db", db, "-q", "--config", cfg, },
		{ "spanlab", "replay", txt, "--db", db, "-q", NULL },
	};
	for (size_t i = 0; i < 4; i++) {
		struct tl_run r;
		const char *argv[10] = { 0 };
		memcpy(argv, runs[i], sizeof runs[i]);
		if (i == 2)
			argv[8] = "--snapshot-every=100";	/* the flag overrides the file */
		cr_assert_eq(tl_run(&r, NULL, argv), 0);
		cr_assert_eq(r.status, 0, "run %zu: %s", i + 1, r.err);
		tl_run_free(&r);
	}
	sqlite3 *d = open_db(db);
	static const int64_t every[] = { 100, 500, 100, 0 };
	for (int id = 1; id <= 4; id++) {
		char q[256];
		snprintf(q, sizeof q, "SELECT json_extract(config_json, '$.snapshot_every') FROM runs WHERE run_id = %d", id);
		cr_assert_eq(tl_q1(d, q), every[id - 1], "run %d", id);
	}
	/* the recorded interval is the one the periodic snapshots were taken at */
	cr_assert_eq(tl_q1(d, "SELECT min(s.op) FROM snapshots s JOIN snapshot_kinds k ON k.id = s.kind"
			       " WHERE s.run_id = 3 AND k.name = 'periodic'"), 100);
	char *f = tl_qtext(d, "SELECT group_concat(trace_format, ' ') FROM (SELECT trace_format FROM runs ORDER BY run_id)");
	cr_assert_str_eq(f, "slt slt slt text");
	free(f);
	/* an event's clock_bytes counts its own operation's request
	 * (docs/database.md): the first allocation's refill is at 100 */
	cr_assert_eq(tl_q1(d, "SELECT clock_bytes FROM cache_refills WHERE run_id = 4 AND op = 0"), 100);
	cr_assert_eq(tl_q1(d, "SELECT clock_bytes FROM cache_refills WHERE run_id = 4 AND op = 1"), 300);
	sqlite3_close(d);
}

/* runs.trace_complete: 1 for a trace read to its END (and for the text
 * forms), 0 for a .slt cut short at a record or inside one, whose events
 * were replayed all the same (the run is complete), and the summary's
 * status line says so; the same .slt whole, with its END, is 1. */
Test(replay_cli, a_trace_cut_short_is_replayed_and_the_run_says_so)
{
	const char *db = at("cut.db"), *dst = at("copy.slt");
	size_t len;
	char *whole = tl_read_file(trace("go-wordtree.slt"), &len);
	cr_assert(whole && len > 4096);
	/* the bundled trace ends with its END record and 12-byte footer: one
	 * cut ends the file inside END, one 5000 bytes in (inside some record
	 * or at its end) */
	const size_t cuts[] = { len, len - 12 - 5, 5000 };
	const char *text = "# spanlab text trace v1\nm 1 100\nf 1\n", *txt = at("t.txt");
	cr_assert_eq(tl_write_file(txt, text, strlen(text)), 0);
	for (size_t i = 0; i < 4; i++) {
		if (i < 3)
			cr_assert_eq(tl_write_file(dst, whole, cuts[i]), 0);
		struct tl_run r;
		cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ "spanlab", "replay", i < 3 ? dst : txt, "--db", db, NULL }), 0);
		cr_assert_eq(r.status, 0, "cut %zu: %s", i, r.err);
		bool said = strstr(r.out, "; the trace was cut short (no END record): its events were replayed\n") != NULL;
		cr_assert_eq(said, i == 1 || i == 2, "cut %zu: %s", i, r.out);
		tl_run_free(&r);
	}
	free(whole);
	sqlite3 *d = open_db(db);
	static const char *const want[] = { "complete 1", "complete 0", "complete 0", "complete 1" };
	for (int id = 1; id <= 4; id++) {
		char q[128];
		snprintf(q, sizeof q, "SELECT status || ' ' || trace_complete FROM runs WHERE run_id = %d", id);
		char *got = tl_qtext(d, q);
		cr_assert(got && !strcmp(got, want[id - 1]), "run %d: %s, not %s", id, got ? got : "(none)", want[id - 1]);
		free(got);
	}
	/* the cut runs replayed fewer operations than the whole one */
	cr_assert_lt(tl_q1(d, "SELECT ops FROM runs WHERE run_id = 3"), tl_q1(d, "SELECT ops FROM runs WHERE run_id = 1"));
	sqlite3_close(d);
}

/* A summary on a full disk (/dev/full) is lost: exit 1 and say so. */
Test(replay_cli, a_summary_that_cannot_be_written_is_a_failure)
{
	const char *bin = getenv("SPANLAB_BIN");
	cr_assert(bin);
	const char *cmds[] = { "replay -q --json", "replay -q", "info --json", "info" };
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		char sh[8192];
		snprintf(sh, sizeof sh, "'%s' %s '%s' >/dev/full", bin, cmds[i], trace("go-wordtree.slt"));
		struct tl_run r;
		cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ "/bin/sh", "-c", sh, NULL }), 0);
		cr_assert_eq(r.status, 1, "%s: exit %d", cmds[i], r.status);
		cr_assert_eq(tl_count_lines(r.err), 1, "%s", r.err);
		cr_assert(strstr(r.err, "writing to stdout failed"), "%s", r.err);
		tl_run_free(&r);
	}
}
