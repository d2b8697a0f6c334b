/*
 * Files spanlab must refuse, each with a one-line message that names the
 * file and the right exit code (cli.h: 2 not a usable database, 1 cannot
 * write), and with nothing half-done: not SQLite, SQLite but not spanlab,
 * another application's id, a newer schema, a directory, read-only paths
 * (file, directory, both; a file to read whose killed writer's journal
 * only a writer may roll back), and a full disk at creation and in mid-run.
 *
 * Read-only cases run in a child that drops root (root ignores file
 * modes). Disk-full cases mount a small tmpfs in a private mount namespace
 * of a child when the system allows it, and otherwise (and always, as a
 * second way) fill a database to its PRAGMA max_page_count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "test_db_util.h"

static char *dir;
static char path[4096];

static void setup(void)
{
	dir = tl_tmpdir();
	cr_assert(dir);
	tg_path(path, sizeof path, dir, "r.db");
}

static void teardown(void)
{
	chmod(dir, 0700);
	tl_tmpdir_remove(dir);
}

TestSuite(db_refuse, .init = setup, .fini = teardown, .timeout = 60);

/* db_open must fail with `code` and a one-line message naming `p` and
 * containing `want`. */
static void expect(const char *p, enum db_open_mode mode, int code, const char *want)
{
	struct db *db = NULL;
	char err[1024] = "";
	int got = db_open(p, mode, &db, err, sizeof err);
	cr_assert_eq(got, code, "%s: exit %d, want %d (%s)", p, got, code, err);
	cr_assert_null(db);
	cr_assert(strstr(err, p), "message does not name the file: '%s'", err);
	cr_assert(strstr(err, want), "message '%s' lacks '%s'", err, want);
	cr_assert_null(strchr(err, '\n'), "not one line: '%s'", err);
}

static void write_text(const char *p, const char *text)
{
	cr_assert_eq(tl_write_file(p, text, strlen(text)), 0);
}

static void sql_file(const char *p, const char *sql)
{
	sqlite3 *c;
	cr_assert_eq(sqlite3_open(p, &c), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
	sqlite3_close(c);
}

Test(db_refuse, not_a_sqlite_file)
{
	char text[4096];
	memset(text, 'x', sizeof text - 1);
	text[sizeof text - 1] = 0;
	write_text(path, text);
	expect(path, DB_OPEN_WRITE, SL_EXIT_USAGE, "not a SQLite database");
	expect(path, DB_OPEN_READ, SL_EXIT_USAGE, "not a SQLite database");
	size_t len;
	char *after = cli_read_file(path, &len);
	cr_assert_eq(len, sizeof text - 1, "the file was changed");
	free(after);
}

Test(db_refuse, sqlite_but_not_spanlab)
{
	sql_file(path, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
	expect(path, DB_OPEN_WRITE, SL_EXIT_USAGE, "not a spanlab database (application_id 0");
	sqlite3 *c = tq_open(path);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM sqlite_schema"), 1, "nothing was added");
	sqlite3_close(c);
}

Test(db_refuse, another_application_id)
{
	db_close(tg_open(path));
	sql_file(path, "PRAGMA application_id = 305419896");	/* 0x12345678 */
	expect(path, DB_OPEN_WRITE, SL_EXIT_USAGE, "application_id 0x12345678, expected 0x53504c42");
}

Test(db_refuse, a_newer_schema_version)
{
	char sql[64];
	db_close(tg_open(path));
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", DB_SCHEMA_VERSION + 1);
	sql_file(path, sql);
	char want[128];
	snprintf(want, sizeof want, "written by a newer spanlab (schema version %d; this one reads up to %d)",
		 DB_SCHEMA_VERSION + 1, DB_SCHEMA_VERSION);
	expect(path, DB_OPEN_WRITE, SL_EXIT_USAGE, want);
	expect(path, DB_OPEN_READ, SL_EXIT_USAGE, want);
}

Test(db_refuse, directories_and_missing_inputs)
{
	expect(dir, DB_OPEN_WRITE, SL_EXIT_USAGE, "is a directory");
	expect(path, DB_OPEN_READ, SL_EXIT_USAGE, "No such file");
	char deep[4096];
	tg_path(deep, sizeof deep, dir, "no/such/dir/x.db");
	expect(deep, DB_OPEN_WRITE, SL_EXIT_FAIL, "No such file or directory");
}

Test(db_refuse, a_deleted_database_with_its_wal_left_behind)
{
	char wal[4200];
	snprintf(wal, sizeof wal, "%s-wal", path);
	write_text(wal, "stale pages of a deleted database");
	expect(path, DB_OPEN_WRITE, SL_EXIT_USAGE, "remove");
	cr_assert_neq(access(path, F_OK), 0, "no database was created");
}

Test(db_refuse, an_empty_file_becomes_a_database)
{
	write_text(path, "");
	struct db *db = tg_open(path);
	db_close(db);
	sqlite3 *c = tq_open(path);
	cr_assert_eq(tq_i64(c, "PRAGMA application_id"), DB_APPLICATION_ID);
	sqlite3_close(c);
}

/* --- children: read-only paths and full disks ------------------------------- */

struct verdict {
	int skipped;
	char msg[1024];		/* empty: passed */
};

#define CHECK(v, cond, ...) \
	do { \
		if (!(cond) && !(v)->msg[0] && snprintf((v)->msg, sizeof (v)->msg, __VA_ARGS__) < 0) \
			abort(); \
	} while (0)

/* Run fn in a child (its mounts and credentials stay there) and assert on
 * its verdict. */
static void in_child(void (*fn)(struct verdict *, const void *), const void *arg)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		struct verdict v = { 0 };
		fn(&v, arg);
		_exit(write(p[1], &v, sizeof v) == sizeof v ? 0 : 1);
	}
	close(p[1]);
	struct verdict v;
	ssize_t n = read(p[0], &v, sizeof v);
	int st;
	waitpid(pid, &st, 0);
	cr_assert_eq(n, (ssize_t)sizeof v, "the child died (status %#x)", st);
	if (v.skipped)
		fprintf(stderr, "skipped: %s\n", v.msg);
	else
		cr_assert_eq(v.msg[0], 0, "%s", v.msg);
}

/* Become an unprivileged user if root (root writes read-only files). */
static void drop_root(void)
{
	if (geteuid() == 0 && (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)))
		_exit(3);
}

static void check_open_fails(struct verdict *v, const char *p, int code, const char *want)
{
	struct db *db;
	char err[1024] = "";
	int got = db_open(p, DB_OPEN_WRITE, &db, err, sizeof err);
	CHECK(v, got == code, "%s: exit %d, want %d (%s)", p, got, code, err);
	CHECK(v, strstr(err, p) && strstr(err, want) && !strchr(err, '\n'), "message '%s' lacks '%s'", err, want);
}

static void readonly_cases(struct verdict *v, const void *arg)
{
	char sub[4096], p[4096];
	(void)arg;
	drop_root();
	/* 1. a new file in a read-only directory */
	tg_path(sub, sizeof sub, dir, "rodir");
	tg_path(p, sizeof p, sub, "new.db");
	check_open_fails(v, p, SL_EXIT_FAIL, "cannot create the database: ");
	check_open_fails(v, p, SL_EXIT_FAIL, "Permission denied");
	CHECK(v, access(p, F_OK) != 0, "%s was created", p);
	/* 2. an existing database whose file is read-only */
	tg_path(p, sizeof p, dir, "ro.db");
	check_open_fails(v, p, SL_EXIT_FAIL, "read-only");
	/* 3. a writable database in a read-only directory (no room for -wal) */
	tg_path(p, sizeof p, sub, "rw.db");
	check_open_fails(v, p, SL_EXIT_FAIL, "cannot");
	/* 4. read (a merge input) but left in mid-transaction, which only a
	 *    writer may roll back */
	struct db *db;
	char err[1024] = "";
	tg_path(p, sizeof p, sub, "hot.db");
	int got = db_open(p, DB_OPEN_READ, &db, err, sizeof err);
	CHECK(v, got == SL_EXIT_FAIL && strstr(err, p) && strstr(err, "left in mid-transaction by a killed writer"),
	      "%s: exit %d (%s)", p, got, err);
}

Test(db_refuse, read_only_paths, .description = "file, directory, both: exit 1, nothing changed")
{
	char sub[4096], p[4096];
	chmod(dir, 0755);
	tg_path(sub, sizeof sub, dir, "rodir");
	cr_assert_eq(mkdir(sub, 0755), 0);

	tg_path(p, sizeof p, dir, "ro.db");
	struct db *db = tg_open(p);
	int64_t id = tg_run(db, 9, 1000, DB_RUN_COMPLETE);
	db_close(db);
	sqlite3 *c = tq_open(p);
	char *uuid = tq_text(c, "SELECT run_uuid FROM runs WHERE run_id = %lld", (long long)id);
	char *before = tq_run_digest(c, uuid);
	sqlite3_close(c);
	cr_assert_eq(chmod(p, 0444), 0);

	tg_path(p, sizeof p, sub, "rw.db");
	db_close(tg_open(p));
	cr_assert_eq(chmod(p, 0666), 0);
	tg_path(p, sizeof p, sub, "hot.db");
	db_close(tg_open(p));
	tq_kill_mid_transaction(p, TQ_MANY_PAGES);
	cr_assert_eq(chmod(sub, 0555), 0);

	in_child(readonly_cases, NULL);

	char journal[4200];
	snprintf(journal, sizeof journal, "%s-journal", p);
	cr_assert_eq(access(journal, F_OK), 0, "the reader that may not write left the journal alone");

	tg_path(p, sizeof p, dir, "ro.db");
	c = tq_open(p);
	char *after = tq_run_digest(c, uuid);
	cr_assert_str_eq(after, before);
	sqlite3_close(c);
	free(uuid);
	free(before);
	free(after);
}

/* A tmpfs of `kib` KiB on `where`, private to this process; false if the
 * system does not allow it (no root, no user namespaces). */
static bool private_tmpfs(const char *where, unsigned kib)
{
	char opt[64];
	if (unshare(CLONE_NEWNS) != 0) {
		uid_t uid = geteuid();
		gid_t gid = getegid();
		char map[64];
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
			return false;
		snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
		tl_write_file("/proc/self/setgroups", "deny", 4);
		if (tl_write_file("/proc/self/uid_map", map, strlen(map)))
			return false;
		snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
		if (tl_write_file("/proc/self/gid_map", map, strlen(map)))
			return false;
	}
	snprintf(opt, sizeof opt, "size=%uk", kib);
	return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	       mount("tmpfs", where, "tmpfs", 0, opt) == 0;
}

/* Fill a file system with one file until writes fail. */
static void fill(const char *p)
{
	static char block[4096];
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	while (fd >= 0 && write(fd, block, sizeof block) > 0)
		;
	close(fd);
}

static void full_at_creation(struct verdict *v, const void *arg)
{
	char mnt[4096], p[4096], filler[4096];
	(void)arg;
	tg_path(mnt, sizeof mnt, dir, "mnt");
	if (!private_tmpfs(mnt, 256)) {
		v->skipped = 1;
		snprintf(v->msg, sizeof v->msg, "no private tmpfs here: disk full at creation not tested");
		return;
	}
	tg_path(filler, sizeof filler, mnt, "filler");
	fill(filler);
	tg_path(p, sizeof p, mnt, "full.db");
	check_open_fails(v, p, SL_EXIT_FAIL, "disk full");
	CHECK(v, access(p, F_OK) != 0, "a half-created %s was left behind", p);
}

Test(db_refuse, disk_full_at_creation)
{
	char mnt[4096];
	tg_path(mnt, sizeof mnt, dir, "mnt");
	cr_assert_eq(mkdir(mnt, 0755), 0);
	in_child(full_at_creation, NULL);
}

/* Log a complete run, then a run that fills the disk; the second fails
 * with a one-line "disk full", the file stays sound, the first run is as
 * it was and the second is not complete. `limit_pages` > 0: fill the
 * database to PRAGMA max_page_count instead of the file system. */
static void full_mid_run(struct verdict *v, const char *p, int limit_pages)
{
	struct db *db;
	struct db_run *run;
	struct db_run_info info = tg_info();
	struct tg g = { .x = 77 };
	char err[1024];

	CHECK(v, db_open(p, DB_OPEN_WRITE, &db, err, sizeof err) == 0, "open: %s", err);
	if (v->msg[0])
		return;
	int64_t first = tg_run(db, 21, 2000, DB_RUN_COMPLETE);
	sqlite3 *c;
	sqlite3_open(p, &c);
	char *uuid = tq_text(c, "SELECT run_uuid FROM runs WHERE run_id = %lld", (long long)first);
	char *before = tq_run_digest(c, uuid);
	sqlite3_close(c);
	if (limit_pages) {
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA max_page_count = %d", limit_pages);
		sqlite3_exec(db_handle(db), sql, NULL, NULL, NULL);
	}
	CHECK(v, db_run_begin(db, &info, &run, err, sizeof err) == 0, "begin: %s", err);
	if (v->msg[0])
		return;
	int64_t second = db_run_id(run);
	int stopped = 0;
	for (int i = 0; i < 400 && !stopped; i++) {
		tg_stream(&g, db_run_sink(run), 1000, NULL);
		struct sim_snapshot s = { .op = i };
		stopped = db_run_snapshot(run, &s) != 0;
	}
	CHECK(v, stopped, "400k events never filled the disk");
	CHECK(v, db_run_error(run) && strstr(db_run_error(run), "disk full"), "error: %s",
	      db_run_error(run) ? db_run_error(run) : "(none)");
	int code = db_run_finish(run, DB_RUN_COMPLETE, NULL, NULL, err, sizeof err);
	CHECK(v, code == SL_EXIT_FAIL, "finish after a full disk: exit %d (%s)", code, err);
	CHECK(v, strstr(err, p) && strstr(err, "disk full") && !strchr(err, '\n'), "finish: '%s'", err);
	db_close(db);

	sqlite3_open(p, &c);
	char *ok = tq_text(c, "PRAGMA integrity_check");
	CHECK(v, !strcmp(ok, "ok"), "integrity_check: %s", ok);
	char *after = tq_run_digest(c, uuid);
	CHECK(v, !strcmp(after, before), "the first run changed:\n%s\n%s", before, after);
	char *status = tq_text(c, "SELECT status FROM runs WHERE run_id = %lld", (long long)second);
	CHECK(v, strcmp(status, "complete"), "the run that hit a full disk claims to be complete");
	CHECK(v, !strcmp(status, "failed"), "the run that hit a full disk is '%s', not failed", status);
	/* its row counts are what the tables hold: the batch that did not
	 * fit was rolled back, and is not counted */
	int64_t events = tq_event_rows(c, second), snaps = tq_i64(c,
		"SELECT count(*) FROM snapshots WHERE run_id = %lld", (long long)second);
	int64_t event_rows = tq_i64(c, "SELECT event_rows FROM runs WHERE run_id = %lld", (long long)second);
	int64_t snapshot_rows = tq_i64(c, "SELECT snapshot_rows FROM runs WHERE run_id = %lld", (long long)second);
	CHECK(v, event_rows == events, "event_rows %lld, the tables hold %lld",
	      (long long)event_rows, (long long)events);
	CHECK(v, snapshot_rows == snaps, "snapshot_rows %lld, the table holds %lld",
	      (long long)snapshot_rows, (long long)snaps);
	sqlite3_close(c);
	free(ok);
	free(after);
	free(status);
	free(uuid);
	free(before);
}

static void full_mid_run_tmpfs(struct verdict *v, const void *arg)
{
	char mnt[4096], p[4096];
	(void)arg;
	tg_path(mnt, sizeof mnt, dir, "mnt");
	if (!private_tmpfs(mnt, 2048)) {
		v->skipped = 1;
		snprintf(v->msg, sizeof v->msg, "no private tmpfs here: covered by max_page_count only");
		return;
	}
	tg_path(p, sizeof p, mnt, "mid.db");
	full_mid_run(v, p, 0);
}

static void full_mid_run_pages(struct verdict *v, const void *arg)
{
	(void)arg;
	full_mid_run(v, path, 200);	/* 200 pages of 16 KiB: about 3 MiB */
}

Test(db_refuse, disk_full_mid_run, .description = "one-line error, run not complete, others untouched")
{
	char mnt[4096];
	tg_path(mnt, sizeof mnt, dir, "mnt");
	cr_assert_eq(mkdir(mnt, 0755), 0);
	in_child(full_mid_run_tmpfs, NULL);
	in_child(full_mid_run_pages, NULL);
}
