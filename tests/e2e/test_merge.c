/*
 * spanlab merge as a user meets it: the output holds exactly the union of
 * the inputs' complete runs, each with every row it had (compared by a
 * digest of every table, keyed by run_uuid), configs and sweep ids kept;
 * merging again adds nothing; a merge killed at random moments leaves the
 * output sound and holding whole inputs only; bad inputs (damaged or
 * foreign schemas among them) and bad usage are one-line errors with the
 * documented exit codes, and touch nothing.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../unit/test_db_util.h"

#define RUN(r, ...) \
	cr_assert_eq(tl_run(r, NULL, (const char *const[]){ __VA_ARGS__, NULL }), 0, "cannot run spanlab")

static char *dir;
static char a[4096], b[4096], c3[4096], out[4096];

/* A run that stays 'running': its process dies before finishing. */
static void abandoned_run(const char *path)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		struct db *db;
		struct db_run *run;
		struct db_run_info info = tg_info();
		struct tg g = { .x = 3 };
		char err[512];
		if (db_open(path, DB_OPEN_WRITE, &db, err, sizeof err) || db_run_begin(db, &info, &run, err, sizeof err))
			_exit(1);
		tg_stream(&g, db_run_sink(run), 20000, NULL);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int64_t run_with_sweep(struct db *db, uint64_t seed, const char *sweep, const char *config)
{
	struct db_run *run;
	struct db_run_info info = tg_info();
	struct tg g = { .x = seed | 1 };
	char err[512];
	info.sweep_id = sweep;
	info.config_json = config;
	cr_assert_eq(db_run_begin(db, &info, &run, err, sizeof err), 0, "%s", err);
	tg_stream(&g, db_run_sink(run), 5000, NULL);
	struct sim_size_class_row row = { .size_class = 5, .slot_size = 48, .mallocs = (int64_t)seed };
	db_run_size_class(run, &row);
	int64_t id = db_run_id(run);
	cr_assert_eq(db_run_finish(run, DB_RUN_COMPLETE, NULL, NULL, err, sizeof err), 0, "%s", err);
	return id;
}

static void setup(void)
{
	dir = tl_tmpdir();
	cr_assert(dir);
	tg_path(a, sizeof a, dir, "a.db");
	tg_path(b, sizeof b, dir, "b.db");
	tg_path(c3, sizeof c3, dir, "c.db");
	tg_path(out, sizeof out, dir, "out.db");
	struct db *db = tg_open(a);
	run_with_sweep(db, 1, "sweep-1", "{\"sizeclasses\":{\"max_waste\":0.0625}}");
	run_with_sweep(db, 2, "sweep-1", "{\"sizeclasses\":{\"max_waste\":0.25}}");
	db_close(db);
	abandoned_run(a);
	db = tg_open(b);
	tg_run(db, 3, 7000, DB_RUN_COMPLETE);
	tg_run(db, 4, 100, DB_RUN_FAILED);
	db_close(db);
	db = tg_open(c3);
	tg_run(db, 5, 20000, DB_RUN_COMPLETE);
	tg_run(db, 6, 10, DB_RUN_INTERRUPTED);
	tg_run(db, 7, 9000, DB_RUN_COMPLETE);
	db_close(db);
}

static void teardown(void)
{
	tl_tmpdir_remove(dir);
}

TestSuite(merge, .init = setup, .fini = teardown, .timeout = 60);

/* "uuid digest" lines of the runs of `path` with the given status filter. */
static char *digests(const char *path, const char *where)
{
	sqlite3 *c = tq_open(path);
	int64_t n = tq_i64(c, "SELECT count(*) FROM runs WHERE %s", where);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	for (int64_t i = 0; i < n; i++) {
		char *u = tq_text(c, "SELECT run_uuid FROM runs WHERE %s ORDER BY run_uuid LIMIT 1 OFFSET %lld", where,
				  (long long)i);
		char *d = tq_run_digest(c, u);
		char *extra = tq_text(c, "SELECT coalesce(sweep_id, '-') || ' ' || started_at FROM runs WHERE run_uuid = '%s'", u);
		fprintf(f, "%s %s %s\n", u, d, extra);
		free(u);
		free(d);
		free(extra);
	}
	fclose(f);
	sqlite3_close(c);
	return text;
}

/* A database and its -wal and -shm files. */
static void remove_db(const char *p)
{
	char side[4200];
	unlink(p);
	snprintf(side, sizeof side, "%s-wal", p);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", p);
	unlink(side);
}

static int cmp_line(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The complete runs of the inputs, as one sorted digest text. */
static char *expected_union(const char *const *in, size_t n)
{
	char *all = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&all, &len);
	for (size_t i = 0; i < n; i++) {
		char *d = digests(in[i], "status = 'complete'");
		fputs(d, f);
		free(d);
	}
	fclose(f);
	/* sort the lines: digests() sorts per file, the union must be too */
	size_t nl = tl_count_lines(all), k = 0;
	char **lines = calloc(nl, sizeof *lines);
	for (char *save, *l = strtok_r(all, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		lines[k++] = l;
	qsort(lines, k, sizeof *lines, cmp_line);
	char *sorted = NULL;
	f = open_memstream(&sorted, &len);
	for (size_t i = 0; i < k; i++)
		fprintf(f, "%s\n", lines[i]);
	fclose(f);
	free(lines);
	free(all);
	return sorted;
}

Test(merge, output_is_the_union_of_complete_runs)
{
	struct tl_run r;
	RUN(&r, "spanlab", "merge", out, a, b, c3);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(r.err_len, 0, "%s", r.err);
	cr_assert_eq(tl_count_lines(r.out), 3, "%s", r.out);
	cr_assert(strstr(r.out, "a.db: 2 runs merged, 0 already present, 1 not complete (skipped)"), "%s", r.out);
	cr_assert(strstr(r.out, "c.db: 2 runs merged, 0 already present, 1 not complete (skipped)"), "%s", r.out);
	tl_run_free(&r);

	const char *const in[] = { a, b, c3 };
	char *want = expected_union(in, 3);
	char *got = digests(out, "1");
	cr_assert_str_eq(got, want, "merged runs differ from the inputs' complete runs");
	free(want);
	free(got);

	sqlite3 *c = tq_open(out);
	char *ok = tq_text(c, "PRAGMA integrity_check");
	cr_assert_str_eq(ok, "ok");
	free(ok);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE sweep_id = 'sweep-1'"), 2);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE config_json LIKE '%%0.0625%%'"), 1);
	cr_assert_eq(tq_i64(c, "SELECT count(DISTINCT run_id) FROM runs"), 5, "run ids are remapped, not clashing");
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM size_class_stats WHERE slot_size = 48"), 2);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name LIKE '%%_run'"), 9);
	sqlite3_close(c);
}

Test(merge, merging_again_adds_nothing)
{
	struct tl_run r;
	RUN(&r, "spanlab", "merge", out, a, b);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	char *before = digests(out, "1");

	RUN(&r, "spanlab", "merge", out, c3, a, b, c3);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "a.db: 0 runs merged, 2 already present"), "%s", r.out);
	cr_assert(strstr(r.out, "b.db: 0 runs merged, 1 already present"), "%s", r.out);
	cr_assert(strstr(r.out, "c.db: 0 runs merged, 2 already present"), "second c.db: %s", r.out);
	tl_run_free(&r);

	const char *const in[] = { a, b, c3 };
	char *want = expected_union(in, 3), *got = digests(out, "1");
	cr_assert_str_eq(got, want);
	cr_assert(strstr(got, before) || tl_count_lines(before) == 3, "earlier merged runs changed");
	free(want);
	free(got);
	free(before);

	/* a merged database merges like any other, and back again is a no-op */
	char out2[4096];
	tg_path(out2, sizeof out2, dir, "out2.db");
	RUN(&r, "spanlab", "merge", "-q", out2, out);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(r.out_len, 0, "-q prints nothing");
	tl_run_free(&r);
	RUN(&r, "spanlab", "merge", out, out2);
	cr_assert(strstr(r.out, "0 runs merged, 5 already present"), "%s", r.out);
	tl_run_free(&r);
	char *d1 = digests(out, "1"), *d2 = digests(out2, "1");
	cr_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
}

/* spanlab merge -q OUT IN, which must succeed. */
static void merge_quietly(const char *in)
{
	struct tl_run r;
	RUN(&r, "spanlab", "merge", "-q", out, in);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
}

/* OUT's complete runs are those of the inputs, rows and all. */
static void assert_out_is_union(const char *const *in, size_t n)
{
	char *want = expected_union(in, n), *got = digests(out, "1");
	cr_assert_str_eq(got, want);
	free(want);
	free(got);
}

/* A table of OUT's own with a run_id column, which no input has (a user's
 * table, or one a later schema adds): nothing to copy into it, and the
 * merge goes on (it failed as "out of memory"). */
Test(merge, a_run_table_only_out_has)
{
	struct tl_run r;
	merge_quietly(a);
	sqlite3 *c = tq_open(out);
	cr_assert_eq(sqlite3_exec(c, "CREATE TABLE run_notes (run_id INTEGER, note TEXT);"
				     " INSERT INTO run_notes SELECT run_id, 'mine' FROM runs", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(c);
	RUN(&r, "spanlab", "merge", out, b);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "b.db: 1 runs merged"), "%s", r.out);
	tl_run_free(&r);
	assert_out_is_union((const char *const[]){ a, b }, 2);
	c = tq_open(out);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM run_notes"), 2, "the user's rows are kept");
	sqlite3_close(c);
}

/* OUT holding a run as not complete that the input holds complete (OUT is
 * a copy of the file taken while the run ran): the complete run replaces
 * it, rows and all, instead of counting as already present. */
Test(merge, a_complete_run_replaces_its_incomplete_copy)
{
	struct tl_run r;
	merge_quietly(c3);
	sqlite3 *c = tq_open(out);
	char *uuid = tq_text(c, "SELECT run_uuid FROM runs ORDER BY event_rows DESC LIMIT 1");
	int64_t id = tq_i64(c, "SELECT run_id FROM runs WHERE run_uuid = '%s'", uuid);
	int64_t rows = tq_i64(c, "SELECT count(*) FROM span_allocs WHERE run_id = %lld", (long long)id);
	cr_assert_gt(rows, 10);
	char sql[1024];
	snprintf(sql, sizeof sql,	/* what a copy taken mid-run holds: a prefix, no summary */
		 "UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = %lld;"
		 " DELETE FROM span_allocs WHERE run_id = %lld AND rowid > (SELECT min(rowid) + %lld FROM span_allocs"
		 " WHERE run_id = %lld); DELETE FROM size_class_stats WHERE run_id = %lld;"
		 /* a table of the user's, named as SQL must quote: its rows of the run go too */
		 " CREATE TABLE \"run notes\" (run_id INTEGER, note TEXT);"
		 " INSERT INTO \"run notes\" VALUES (%lld, 'copied mid-run')",
		 (long long)id, (long long)id, (long long)rows / 2, (long long)id, (long long)id, (long long)id);
	cr_assert_eq(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
	sqlite3_close(c);

	RUN(&r, "spanlab", "merge", out, c3);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "c.db: 1 runs merged (1 replacing incomplete copies), 1 already present"), "%s",
		  r.out);
	tl_run_free(&r);
	assert_out_is_union((const char *const[]){ c3 }, 1);
	c = tq_open(out);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE run_uuid = '%s'", uuid), 1);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE status != 'complete'"), 0);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM \"run notes\""), 0);
	static const char *const tables[] = { "cache_refills", "span_moves", "span_allocs", "span_frees",
					      "arena_transitions", "scavenges", "gc_cycles", "snapshots",
					      "size_class_stats" };
	for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
		cr_assert_eq(tq_i64(c, "SELECT count(*) FROM %s WHERE run_id NOT IN (SELECT run_id FROM runs)",
				    tables[i]), 0, "%s keeps the replaced copy's rows", tables[i]);
	sqlite3_close(c);
	free(uuid);
}

/* An input a writer was killed in the middle of writing, a hot journal
 * beside it: merged as committed (the unfinished transaction rolled back,
 * as any SQLite connection allowed to write would), not refused as
 * read-only. */
Test(merge, an_input_left_in_mid_transaction)
{
	struct tl_run r;
	char *before = digests(b, "1");
	tq_kill_mid_transaction(b, TQ_MANY_PAGES " DELETE FROM runs;");
	RUN(&r, "spanlab", "merge", out, b);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "b.db: 1 runs merged"), "%s", r.out);
	tl_run_free(&r);
	char *after = digests(b, "1");
	cr_assert_str_eq(after, before, "the input holds what was committed");
	free(after);
	free(before);
	assert_out_is_union((const char *const[]){ b }, 1);
}

Test(merge, killed_merge_leaves_whole_inputs)
{
	uint64_t seed = tl_seed("merge::killed_merge_leaves_whole_inputs");
	struct tg g = { .x = seed | 1 };
	/* a bigger input, so the merge takes long enough to be hit */
	char big[4096];
	tg_path(big, sizeof big, dir, "big.db");
	struct db *db = tg_open(big);
	for (int i = 0; i < 4; i++)
		tg_run(db, 100 + (uint64_t)i, 50000, DB_RUN_COMPLETE);
	db_close(db);
	const char *const only_a[] = { a }, *const with_big[] = { a, big };
	char *state0 = expected_union(only_a, 1), *state1 = expected_union(with_big, 2);
	int outcome[2] = { 0 };

	for (int round = 0; round < 5; round++) {
		struct tl_run r;
		remove_db(out);
		RUN(&r, "spanlab", "merge", "-q", out, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tl_run_free(&r);
		pid_t pid = fork();
		cr_assert_neq(pid, -1);
		if (pid == 0) {
			int devnull = open("/dev/null", O_WRONLY);
			dup2(devnull, 1);
			execl(getenv("SPANLAB_BIN") ? getenv("SPANLAB_BIN") : "build/spanlab", "spanlab", "merge", out,
			      big, (char *)NULL);
			_exit(127);
		}
		/* the merge takes ~0.2 s here (0.6 s under ASan): kill anywhere in
		 * it or just after; tests/unit/test_db_kill.c hits every write */
		struct timespec d = { 0, (long)tg_range(&g, 400) * 1000000L };
		nanosleep(&d, NULL);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);

		sqlite3 *c = tq_open(out);
		char *ok = tq_text(c, "PRAGMA integrity_check");
		cr_assert_str_eq(ok, "ok", "round %d", round);
		free(ok);
		sqlite3_close(c);
		char *now = digests(out, "1");
		cr_assert(!strcmp(now, state0) || !strcmp(now, state1), "round %d: OUT holds part of an input:\n%s",
			  round, now);
		outcome[!strcmp(now, state1)]++;
		free(now);
	}
	cr_log_info("killed merges: %d left OUT as it was, %d after the input's commit", outcome[0], outcome[1]);
	free(state0);
	free(state1);
}

Test(merge, bad_inputs_exit_2_and_touch_nothing)
{
	char text[4096], missing[4096], newer[4096];
	tg_path(text, sizeof text, dir, "notes.txt");
	tg_path(missing, sizeof missing, dir, "missing.db");
	tg_path(newer, sizeof newer, dir, "newer.db");
	char junk[2048];
	memset(junk, 'j', sizeof junk);
	cr_assert_eq(tl_write_file(text, junk, sizeof junk), 0);
	db_close(tg_open(newer));
	sqlite3 *c = tq_open(newer);
	cr_assert_eq(sqlite3_exec(c, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(c);

	const struct { const char *in, *want; } cases[] = {
		{ text, "not a SQLite database" },
		{ missing, "No such file" },
		{ newer, "newer spanlab" },
		{ dir, "is a directory" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct tl_run r;
		RUN(&r, "spanlab", "merge", out, a, cases[i].in);
		cr_assert_eq(r.status, 2, "case %zu: exit %d (%s)", i, r.status, r.err);
		cr_assert_eq(tl_count_lines(r.err), 1, "case %zu: '%s'", i, r.err);
		cr_assert(strstr(r.err, cases[i].in) && strstr(r.err, cases[i].want), "case %zu: '%s'", i, r.err);
		cr_assert_eq(r.out_len, 0);
		cr_assert_neq(access(out, F_OK), 0, "case %zu: OUT was created although an input is bad", i);
		tl_run_free(&r);
	}
	struct tl_run r;
	RUN(&r, "spanlab", "merge", a, a);
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "is the output database"), "%s", r.err);
	tl_run_free(&r);

	/* OUT among later inputs: refused before b's runs are written to it */
	char *before = digests(a, "1");
	RUN(&r, "spanlab", "merge", a, b, a);
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "is the output database"), "%s", r.err);
	cr_assert_eq(r.out_len, 0, "%s", r.out);
	tl_run_free(&r);
	char *after = digests(a, "1");
	cr_assert_str_eq(after, before, "OUT changed although an input was OUT itself");
	free(before);
	free(after);
}

/* A copy of `from` at `to` (views dropped: they would stop the edits),
 * edited by `sql`. */
static void edited_copy(const char *from, const char *to, const char *sql)
{
	tl_copy_file(from, to);
	sqlite3 *c = tq_open(to);
	char *views = tq_text(c, "SELECT coalesce(group_concat('DROP VIEW \"' || name || '\";', ''), '')"
				 " FROM sqlite_schema WHERE type = 'view'");
	cr_assert_eq(sqlite3_exec(c, views, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
	cr_assert_eq(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(c));
	free(views);
	sqlite3_close(c);
}

/* Files with spanlab's identity whose tables are not those of their
 * schema version: each input is checked before OUT is opened, so OUT is
 * neither created nor changed, and the message names the input and what
 * it lacks (it used to be "OUT: SQL logic error", exit 1, OUT created). */
Test(merge, damaged_or_foreign_schemas_exit_2_and_touch_nothing)
{
	char bare[4096], noruns[4096], renamed[4096], lookup[4096];
	tg_path(bare, sizeof bare, dir, "bare.db");
	tg_path(noruns, sizeof noruns, dir, "noruns.db");
	tg_path(renamed, sizeof renamed, dir, "renamed.db");
	tg_path(lookup, sizeof lookup, dir, "lookup.db");
	sqlite3 *c;
	cr_assert_eq(sqlite3_open(bare, &c), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(c, "PRAGMA application_id = 1397771330; PRAGMA user_version = 2;"
				     "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
				     NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(c);
	edited_copy(b, noruns, "DROP TABLE runs");
	edited_copy(b, renamed, "ALTER TABLE runs RENAME COLUMN status TO state");
	edited_copy(b, lookup, "UPDATE mem_states SET name = 'mapped' WHERE id = 2");

	const struct { const char *in, *want; } cases[] = {
		{ bare, "damaged spanlab database (no table runs)" },
		{ noruns, "damaged spanlab database (no table runs)" },
		{ renamed, "damaged spanlab database (table runs has no column status)" },
		{ lookup, "table mem_states: id 2 is 'mapped' in the file but 'prepared'" },
	};
	char *before = digests(a, "1");
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct tl_run r;
		RUN(&r, "spanlab", "merge", out, c3, cases[i].in);
		cr_assert_eq(r.status, 2, "case %zu: exit %d (%s)", i, r.status, r.err);
		cr_assert_eq(tl_count_lines(r.err), 1, "case %zu: '%s'", i, r.err);
		cr_assert(strstr(r.err, cases[i].in) && strstr(r.err, cases[i].want), "case %zu: '%s'", i, r.err);
		cr_assert_eq(r.out_len, 0, "case %zu: %s", i, r.out);
		cr_assert_neq(access(out, F_OK), 0, "case %zu: OUT was created although an input is bad", i);
		tl_run_free(&r);
		/* an existing OUT stays as it was */
		RUN(&r, "spanlab", "merge", a, c3, cases[i].in);
		cr_assert_eq(r.status, 2, "case %zu: exit %d (%s)", i, r.status, r.err);
		cr_assert(strstr(r.err, cases[i].in) && strstr(r.err, cases[i].want), "case %zu: '%s'", i, r.err);
		tl_run_free(&r);
		char *after = digests(a, "1");
		cr_assert_str_eq(after, before, "case %zu: OUT changed although an input is bad", i);
		free(after);
	}
	free(before);
}

/* A file of schema version 1 lacks the columns version 2 added, and is
 * still a good input: the check knows which version added what. */
Test(merge, a_version_1_input_merges)
{
	char v1[4096];
	tg_path(v1, sizeof v1, dir, "v1.db");
	edited_copy(b, v1, "ALTER TABLE runs DROP COLUMN cpu_seconds;"
			   "ALTER TABLE runs DROP COLUMN trace_complete;"
			   "ALTER TABLE snapshots DROP COLUMN heap_live_bytes;"
			   "ALTER TABLE size_class_stats DROP COLUMN tiny_allocs;"
			   "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
			   "PRAGMA user_version = 1");
	struct tl_run r;
	RUN(&r, "spanlab", "merge", out, v1);
	cr_assert_eq(r.status, 0, "exit %d (%s)", r.status, r.err);
	cr_assert(strstr(r.out, "1 runs merged"), "%s", r.out);
	tl_run_free(&r);
	sqlite3 *c = tq_open(out);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE cpu_seconds IS NULL AND trace_complete IS NULL"), 1);
	sqlite3_close(c);
}

/* A foreign file with every column but not the constraints (here a runs
 * table copied without its NOT NULLs) fails at its turn: named as the
 * input, exit 2, the output unchanged. */
Test(merge, rows_that_break_the_schema_are_the_inputs_fault)
{
	char loose[4096];
	tg_path(loose, sizeof loose, dir, "loose.db");
	edited_copy(b, loose, "CREATE TABLE r2 AS SELECT * FROM runs; DROP TABLE runs;"
			      " ALTER TABLE r2 RENAME TO runs; UPDATE runs SET allocator = NULL");
	char *before = digests(a, "1");
	struct tl_run r;
	RUN(&r, "spanlab", "merge", a, loose);
	cr_assert_eq(r.status, 2, "exit %d (%s)", r.status, r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "'%s'", r.err);
	cr_assert(strstr(r.err, loose) && strstr(r.err, "NOT NULL constraint failed: runs.allocator"), "'%s'", r.err);
	tl_run_free(&r);
	char *after = digests(a, "1");
	cr_assert_str_eq(after, before, "OUT changed");
	free(before);
	free(after);
}

/* A failure that is the output's keeps SQLite's own message, which the
 * rollback used to replace with a generic one ("constraint failed"). */
Test(merge, the_outputs_own_error_keeps_its_message)
{
	db_close(tg_open(out));
	sqlite3 *c = tq_open(out);
	cr_assert_eq(sqlite3_exec(c, "CREATE TRIGGER no_foreign_runs BEFORE INSERT ON runs"
				     " BEGIN SELECT RAISE(ABORT, 'this file takes no merged runs'); END",
				     NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
	sqlite3_close(c);
	struct tl_run r;
	RUN(&r, "spanlab", "merge", out, b);
	cr_assert_eq(r.status, 1, "exit %d (%s)", r.status, r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "'%s'", r.err);
	cr_assert(strstr(r.err, out) && strstr(r.err, "this file takes no merged runs"), "'%s'", r.err);
	tl_run_free(&r);
	c = tq_open(out);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs"), 0);
	sqlite3_close(c);
}

/* An absolute path may start with "//" (POSIX leaves its meaning to the
 * system; Linux reads it as "/"): not a URI authority. */
Test(merge, input_path_starting_with_two_slashes)
{
	char slashed[4200];
	cr_assert_eq(a[0], '/');
	snprintf(slashed, sizeof slashed, "/%s", a);
	struct tl_run r;
	RUN(&r, "spanlab", "merge", out, slashed);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "2 runs merged"), "%s", r.out);
	tl_run_free(&r);
}

Test(merge, unwritable_output_exits_1)
{
	char bad[4096];
	tg_path(bad, sizeof bad, dir, "no/such/dir/out.db");
	struct tl_run r;
	RUN(&r, "spanlab", "merge", bad, a);
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "'%s'", r.err);
	cr_assert(strstr(r.err, bad), "'%s'", r.err);
	tl_run_free(&r);
}

Test(merge, usage)
{
	static const char *const cases[][6] = {
		{ "spanlab", "merge", NULL },
		{ "spanlab", "merge", "out.db", NULL },
		{ "spanlab", "merge", "--frob", "a", "b", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct tl_run r;
		cr_assert_eq(tl_run(&r, NULL, cases[i]), 0);
		cr_assert_eq(r.status, 2, "case %zu", i);
		cr_assert_eq(tl_count_lines(r.err), 2, "case %zu: '%s'", i, r.err);
		cr_assert(strstr(r.err, "Try 'spanlab merge --help'"), "case %zu: '%s'", i, r.err);
		tl_run_free(&r);
	}
	struct tl_run r;
	RUN(&r, "spanlab", "merge", "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: spanlab merge"), "%s", r.out);
	tl_run_free(&r);
	RUN(&r, "spanlab", "--help");
	cr_assert(strstr(r.out, "merge"), "merge is listed in spanlab --help");
	tl_run_free(&r);
}
