/*
 * gen and convert write OUT whole or not at all (sim/cli.h, cli_out): a
 * regular file through a temporary name, a symbolic link through to the
 * file it names (the link stays; made if not there yet), a device in place (never replaced by a
 * file, never removed on a failed write); -o - is stdout (record refuses
 * it); output to stdout that cannot be written fails. Devices are made with mknod in the test's own folder
 * (skipped without the right to), never the system's.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "testlib.h"

static char *dir;

static void setup(void)
{
	dir = tl_tmpdir();
	cr_assert(dir);
	cr_assert_eq(chdir(dir), 0);
}

static void teardown(void)
{
	tl_tmpdir_remove(dir);
}

TestSuite(outputs, .init = setup, .fini = teardown, .timeout = 60);

static struct tl_run run(const char *const *argv)
{
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, argv), 0, "cannot run spanlab");
	return r;
}

static void ok(const char *const *argv)
{
	struct tl_run r = run(argv);
	cr_assert_eq(r.status, 0, "%s %s: exit %d: %s", argv[1], argv[2], r.status, r.err);
	tl_run_free(&r);
}

static int64_t mallocs(const char *trace)
{
	struct tl_run r = run((const char *const[]){ "spanlab", "info", "--json", trace, NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	const char *m = strstr(r.out, "\"mallocs\":");
	cr_assert(m, "%s", r.out);
	int64_t n = strtoll(m + 10, NULL, 10);
	tl_run_free(&r);
	return n;
}

static bool is_char_device(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

Test(outputs, a_link_keeps_pointing_at_the_file_written)
{
	ok((const char *const[]){ "spanlab", "gen", "uniform", "--ops", "10", "-o", "target.slt", NULL });
	cr_assert_eq(symlink("target.slt", "link.slt"), 0);
	ok((const char *const[]){ "spanlab", "gen", "uniform", "--ops", "100", "-o", "link.slt", NULL });
	struct stat st;
	cr_assert(lstat("link.slt", &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced by a file");
	cr_assert_eq(mallocs("target.slt"), 100);
	ok((const char *const[]){ "spanlab", "convert", "target.slt", "--to", "text", "-o", "link.slt", NULL });
	cr_assert(lstat("link.slt", &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced by a file");
	cr_assert_eq(mallocs("target.slt"), 100);
}

/* A link to a file not there yet: the file is made, as the shell's >
 * makes it, through a chain of links, relative ones from their folder. */
Test(outputs, a_link_to_no_file_yet_creates_that_file)
{
	cr_assert_eq(mkdir("sub", 0700), 0);
	cr_assert_eq(symlink("new.slt", "sub/hop.slt"), 0);
	cr_assert_eq(symlink("sub/hop.slt", "link.slt"), 0);
	ok((const char *const[]){ "spanlab", "gen", "uniform", "--ops", "100", "-o", "link.slt", NULL });
	struct stat st;
	cr_assert(lstat("link.slt", &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced by a file");
	cr_assert(lstat("sub/hop.slt", &st) == 0 && S_ISLNK(st.st_mode), "the second link was replaced");
	cr_assert_eq(mallocs("sub/new.slt"), 100);
	cr_assert_eq(symlink("loop2", "loop1"), 0);
	cr_assert_eq(symlink("loop1", "loop2"), 0);
	struct tl_run r = run((const char *const[]){ "spanlab", "gen", "uniform", "--ops", "10", "-o", "loop1", NULL });
	cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "loop1") && tl_count_lines(r.err) == 1, "%s", r.err);
	tl_run_free(&r);
	cr_assert(lstat("loop1", &st) == 0 && S_ISLNK(st.st_mode), "a link of the loop was replaced");
}

/* A copy of /dev/full (1, 7) and of /dev/null (1, 3) here: a failed gen
 * removed its OUT (as root, `-o /dev/full` removed the device), convert
 * renamed a file over it. */
Test(outputs, a_device_is_written_in_place_and_never_removed)
{
	if (mknod("full", S_IFCHR | 0666, makedev(1, 7)) || mknod("null", S_IFCHR | 0666, makedev(1, 3)))
		cr_skip_test("mknod is not allowed here");
	struct tl_run r = run((const char *const[]){ "spanlab", "gen", "uniform", "--ops", "100", "-o", "full", NULL });
	cr_assert_eq(r.status, 1, "exit %d", r.status);
	cr_assert(strstr(r.err, "write failed: No space left on device"), "%s", r.err);
	tl_run_free(&r);
	cr_assert(is_char_device("full"), "the device was removed");
	ok((const char *const[]){ "spanlab", "gen", "uniform", "--ops", "100", "-o", "t.slt", NULL });
	ok((const char *const[]){ "spanlab", "convert", "t.slt", "-o", "null", NULL });
	ok((const char *const[]){ "spanlab", "gen", "phases", "--ops", "10", "-o", "null", NULL });
	cr_assert(is_char_device("null"), "a file replaced the device");
	struct stat st;
	cr_assert_neq(stat("null.tmp", &st), 0);
}

/* The text and .slt forms to a full stdout, without -o or with -o -:
 * exit 1 with one line (a small output sat in the buffer and was lost
 * with exit 0). */
Test(outputs, a_full_stdout_fails)
{
	ok((const char *const[]){ "spanlab", "gen", "uniform", "--ops", "3", "-o", "t.slt", NULL });
	const char *bin = getenv("SPANLAB_BIN");
	cr_assert(bin);
	for (int i = 0; i < 4; i++) {
		char sh[4200];
		static const char *const cmd[] = { "convert t.slt", "convert t.slt --to text", "convert t.slt -o -",
						   "gen uniform --ops 3 -o -" };
		snprintf(sh, sizeof sh, "'%s' %s >/dev/full", bin, cmd[i]);
		struct tl_run r = run((const char *const[]){ "/bin/sh", "-c", sh, NULL });
		cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
		cr_assert(tl_count_lines(r.err) == 1 && strstr(r.err, "stdout: write failed"), "%s", r.err);
		tl_run_free(&r);
	}
}

/* -o - is stdout, as without convert's -o (a file named "-" was written,
 * exit 0); gen writes its .slt there too. record refuses it: PROG's own
 * output goes to stdout while the trace is written. */
Test(outputs, dash_is_stdout_for_gen_and_convert_and_refused_by_record)
{
	struct stat st;
	ok((const char *const[]){ "spanlab", "gen", "uniform", "--ops", "3", "-o", "t.slt", NULL });
	struct tl_run r = run((const char *const[]){ "spanlab", "convert", "t.slt", "--to", "text", "-o", "-", NULL });
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert(!strncmp(r.out, "# spanlab text trace v1\n", 24), "stdout: '%s'", r.out);
	tl_run_free(&r);
	cr_assert_neq(lstat("-", &st), 0, "convert wrote a file named '-'");

	const char *const *const slt[] = {
		(const char *const[]){ "spanlab", "convert", "t.slt", "-o", "-", NULL },
		(const char *const[]){ "spanlab", "gen", "uniform", "--ops", "3", "-o", "-", NULL },
	};
	for (size_t i = 0; i < sizeof slt / sizeof *slt; i++) {
		r = run(slt[i]);
		cr_assert_eq(r.status, 0, "%s: exit %d: %s", slt[i][1], r.status, r.err);
		cr_assert(r.out_len > 8 && !memcmp(r.out, "\x89SLT\r\n\x1a\n", 8), "%s: stdout is not a .slt", slt[i][1]);
		tl_run_free(&r);
		cr_assert_neq(lstat("-", &st), 0, "%s wrote a file named '-'", slt[i][1]);
	}

	r = run((const char *const[]){ "spanlab", "record", "-o", "-", "--", "true", NULL });
	cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "spanlab record: -o -: ") && tl_count_lines(r.err) == 2, "%s", r.err);
	tl_run_free(&r);
	cr_assert_neq(lstat("-", &st), 0, "record wrote a file named '-'");
}

/* phases: exactly --ops allocations over its 8 phases (ops/8 + 1 per
 * phase gave 1,008 for 1,000, and 8 for 1). */
Test(outputs, phases_allocates_exactly_ops)
{
	const char *ops[] = { "1", "7", "1000", "1003" };
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
		ok((const char *const[]){ "spanlab", "gen", "phases", "--ops", ops[i], "-o", "p.slt", NULL });
		cr_assert_eq(mallocs("p.slt"), atoll(ops[i]), "--ops %s", ops[i]);
	}
}
