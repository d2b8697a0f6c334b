/*
 * scripts/figures.sh and scripts/report.sh as a user meets them: on a
 * database replayed from small bundled traces, every expected figure is
 * drawn (and no other), in both widths and both formats, non-empty, of the
 * documented size, with nothing on gnuplot's stderr; a gnuplot warning
 * fails the script; --run draws the runs named; the HTML page lists every
 * run and links every figure there is, and nothing that is not there, with
 * no network reference; bad usage and bad databases are one-line errors
 * with exit status 2 that write nothing.
 *
 * The database (built once, before the first test):
 *   1  go-wordtree.slt   gc: GC cycles from trace markers; no timestamps
 *   2  git.slt           --free immediate: no GC; timestamps
 * so each conditional figure (memory-time, gc-pacing) is drawn for one run
 * and left out for the other.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testlib.h"

#define DB_ENV "SPANLAB_TEST_FIGURES_DB"

static char *dir;	/* the runner's: holds the shared database */

static int replay(const char *dbpath, const char *trace, const char *extra1, const char *extra2)
{
	struct tl_run r;
	if (tl_run(&r, NULL, (const char *const[]){ "spanlab", "replay", trace, "--db", dbpath, "--quiet", extra1,
						    extra2, NULL }) || r.status != 0) {
		fprintf(stderr, "test_figures: replay %s failed: %s\n", trace, r.err ? r.err : "cannot run spanlab");
		tl_run_free(&r);
		return -1;
	}
	tl_run_free(&r);
	return 0;
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	char path[4096], git[4096], wordtree[4096];
	dir = tl_tmpdir();
	if (!dir)
		return;
	snprintf(path, sizeof path, "%s/figures.db", dir);
	tl_root_path("traces/data/git.slt", git, sizeof git);
	tl_root_path("traces/data/go-wordtree.slt", wordtree, sizeof wordtree);
	if (replay(path, wordtree, NULL, NULL) == 0 && replay(path, git, "--free", "immediate") == 0)
		setenv(DB_ENV, path, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	tl_tmpdir_remove(dir);
}

/* Each test: the shared database, and a temporary directory of its own. */
static const char *dbpath;
static char *tmp;

static void setup(void)
{
	dbpath = getenv(DB_ENV);
	cr_assert(dbpath, "the test database could not be built (see the messages above)");
	tmp = tl_tmpdir();
	cr_assert(tmp);
}

static void teardown(void)
{
	tl_tmpdir_remove(tmp);
}

TestSuite(figures, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers -------------------------------------------------------------- */

static const char *script(const char *name)
{
	static char buf[2][4096];
	static int i;
	char rel[256];
	snprintf(rel, sizeof rel, "scripts/%s", name);
	i ^= 1;
	return tl_root_path(rel, buf[i], sizeof buf[i]);
}

static int exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

static void copy_file(const char *from, const char *to)
{
	size_t n;
	char *s = tl_read_file(from, &n);
	cr_assert(s, "cannot read %s", from);
	cr_assert_eq(tl_write_file(to, s, n), 0, "cannot write %s", to);
	free(s);
	chmod(to, 0755);
}

/* The one-line error of a bad invocation: status 2, one line, named. */
static void assert_usage_error(const struct tl_run *r, const char *what)
{
	cr_assert_eq(r->status, 2, "%s: exit %d, stderr '%s'", what, r->status, r->err);
	cr_assert_eq(tl_count_lines(r->err), 1, "%s: not one line: '%s'", what, r->err);
	cr_assert(!strncmp(r->err, "figures.sh: ", 12) || !strncmp(r->err, "usage: ", 7), "%s: '%s'", what, r->err);
}

/* The figures expected of the shared database, as file bases. */
static const char *const expected[] = {
	"hit-rates", "refill-sources", "fragmentation-jw",
	"memory-ops-run1", "memory-alloc-run1", "fragmentation-run1", "size-classes-run1",
	"arena-states-run1", "gc-pacing-run1",
	"memory-ops-run2", "memory-alloc-run2", "memory-time-run2", "fragmentation-run2", "size-classes-run2",
	"arena-states-run2",
};
#define NEXPECTED (sizeof expected / sizeof expected[0])

static int is_expected(const char *file, size_t nexp, const char *const *exp)
{
	static const char *const variants[] = { "-1col.png", "-1col.pdf", "-2col.png", "-2col.pdf" };
	for (size_t i = 0; i < nexp; i++)
		for (int v = 0; v < 4; v++) {
			char name[512];
			snprintf(name, sizeof name, "%s%s", exp[i], variants[v]);
			if (!strcmp(file, name))
				return 1;
		}
	return 0;
}

/* Every expected figure in all four variants, non-empty and sized for a
 * two-column paper; no figure file that was not expected. */
static void assert_figures(const char *out, size_t nexp, const char *const *exp)
{
	for (size_t i = 0; i < nexp; i++) {
		for (int w = 0; w < 2; w++) {
			char png[4096], pdf[4096];
			snprintf(png, sizeof png, "%s/%s-%s.png", out, exp[i], w ? "2col" : "1col");
			snprintf(pdf, sizeof pdf, "%s/%s-%s.pdf", out, exp[i], w ? "2col" : "1col");
			size_t n;
			char *s = tl_read_file(png, &n);
			cr_assert(s, "missing %s", png);
			cr_assert_gt(n, 2000, "%s: %zu bytes", png, n);
			cr_assert(!memcmp(s, "\x89PNG\r\n\x1a\n", 8), "%s is not a PNG", png);
			/* IHDR width: 3.3 in or 7 in at 200 dpi */
			unsigned width = (unsigned)(unsigned char)s[16] << 24 | (unsigned)(unsigned char)s[17] << 16 |
					 (unsigned)(unsigned char)s[18] << 8 | (unsigned)(unsigned char)s[19];
			cr_assert_eq(width, w ? 1400u : 660u, "%s: %u px wide", png, width);
			free(s);
			s = tl_read_file(pdf, &n);
			cr_assert(s, "missing %s", pdf);
			cr_assert_gt(n, 2000, "%s: %zu bytes", pdf, n);
			cr_assert(!memcmp(s, "%PDF-", 5), "%s is not a PDF", pdf);
			const char *mb = memmem(s, n, "/MediaBox [", 11);
			double x0, y0, x1;
			cr_assert(mb && sscanf(mb, "/MediaBox [ %lf %lf %lf", &x0, &y0, &x1) == 3, "%s: no MediaBox", pdf);
			double want = (w ? 7.0 : 3.3) * 72;
			cr_assert(x1 - x0 > want - 1 && x1 - x0 < want + 1, "%s: %g pt wide, want %g", pdf, x1 - x0, want);
			free(s);
		}
	}
	DIR *d = opendir(out);
	cr_assert(d);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l > 4 && (!strcmp(e->d_name + l - 4, ".png") || !strcmp(e->d_name + l - 4, ".pdf"))) {
			cr_assert(is_expected(e->d_name, nexp, exp), "unexpected figure %s", e->d_name);
			files++;
		}
	}
	closedir(d);
	cr_assert_eq(files, (int)(4 * nexp));
}

/* ---- figures.sh --------------------------------------------------------------- */

Test(figures, draws_every_expected_figure_without_a_warning)
{
	char out[2048], csv[4096];
	snprintf(out, sizeof out, "%s/out", tmp);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("figures.sh"), dbpath, out, NULL }), 0);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	/* gnuplot said nothing: the only line is the script's own summary */
	cr_assert_eq(tl_count_lines(r.err), 1, "stderr: '%s'", r.err);
	cr_assert(strstr(r.err, "figures.sh: 15 figures of 2 run(s)"), "stderr: '%s'", r.err);
	cr_assert(!strcasestr(r.err, "warning"), "stderr: '%s'", r.err);
	tl_run_free(&r);
	assert_figures(out, NEXPECTED, expected);
	/* the list the report reads: one line per figure, with its run's label */
	snprintf(csv, sizeof csv, "%s/figures.csv", out);
	char *list = tl_read_file(csv, NULL);
	cr_assert(list);
	cr_assert_eq(tl_count_lines(list), NEXPECTED + 1, "%s", list);
	for (size_t i = 0; i < NEXPECTED; i++) {
		char field[256];
		snprintf(field, sizeof field, ",%s,", expected[i]);
		cr_assert(strstr(list, field), "figures.csv lacks %s", expected[i]);
	}
	cr_assert(strstr(list, "memory-ops,1,\"go-wordtree gc\","), "%s", list);
	cr_assert(strstr(list, "memory-ops,2,\"git immediate\","), "%s", list);
	free(list);
}

Test(figures, run_option_draws_only_the_runs_named)
{
	char out[4096];
	snprintf(out, sizeof out, "%s/out", tmp);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("figures.sh"), dbpath, out, "--run", "2", NULL }), 0);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	tl_run_free(&r);
	static const char *const only2[] = {
		"hit-rates", "refill-sources", "fragmentation-jw", "memory-ops-run2", "memory-alloc-run2",
		"memory-time-run2", "fragmentation-run2", "size-classes-run2", "arena-states-run2",
	};
	assert_figures(out, sizeof only2 / sizeof only2[0], only2);
	char path[4200];
	snprintf(path, sizeof path, "%s/hit-rates.csv", out);
	cr_assert(!exists(path), "rows are kept only with --data");
}

/* --data keeps a figure's second query ("data.cycles") as NAME.cycles.csv. */
Test(figures, data_option_keeps_every_query_of_a_figure)
{
	char out[4096], path[4200];
	snprintf(out, sizeof out, "%s/out", tmp);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("figures.sh"), dbpath, out, "--run", "1", "--data",
							       NULL }), 0);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	tl_run_free(&r);
	snprintf(path, sizeof path, "%s/gc-pacing-run1.cycles.csv", out);
	char *rows = tl_read_file(path, NULL);
	cr_assert(rows, "no %s", path);
	cr_assert(!strncmp(rows, "cycle,clock_bytes,", 18) && tl_count_lines(rows) >= 2, "'%s'", rows);
	free(rows);
	snprintf(path, sizeof path, "%s/gc-pacing-run1.csv", out);
	rows = tl_read_file(path, NULL);
	cr_assert(rows && !strncmp(rows, "clock_bytes,live_bytes", 22) && strchr("\r\n", rows[22]), "'%s'", rows ? rows : "");
	free(rows);
	/* heapLive through the snapshots and each cycle's start and end: one
	 * row more per cycle start and end than the snapshots */
	snprintf(path, sizeof path, "%s/gc-pacing-run1.heaplive.csv", out);
	rows = tl_read_file(path, NULL);
	cr_assert(rows && !strncmp(rows, "clock_bytes,heap_live", 21) && strchr("\r\n", rows[21]), "'%s'", rows ? rows : "");
	snprintf(path, sizeof path, "%s/gc-pacing-run1.csv", out);
	char *snaps = tl_read_file(path, NULL);
	snprintf(path, sizeof path, "%s/gc-pacing-run1.cycles.csv", out);
	char *cycles = tl_read_file(path, NULL);
	cr_assert_eq(tl_count_lines(rows), tl_count_lines(snaps) + 2 * (tl_count_lines(cycles) - 1));
	free(rows);
	free(snaps);
	free(cycles);
}

/* A figure whose gnuplot run prints a warning, or whose query fails, is a
 * failure, reported, and left out of the list; the other figures are still
 * drawn. Run on a copy of the scripts with two extra figure scripts: one
 * warns, one's query names a column there is not (figures.sh runs every
 * query in one sqlite3 session and, when that fails, each on its own to
 * say which failed). */
/* A copy of figures.sh, the SQL it reads and the hit-rates figure with its
 * libraries, in tmp/tree, with the figure scripts `extra` (name, text,
 * ..., NULL) added. */
static void copy_tree(const char *const *extra)
{
	char path[4096], from[4096];
	static const char *const dirs[] = { "tree", "tree/scripts", "tree/analysis", "tree/analysis/plots" };
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/%s", tmp, dirs[i]);
		cr_assert_eq(mkdir(path, 0755), 0);
	}
	static const char *const files[] = { "scripts/figures.sh", "analysis/views.sql", "analysis/compat.sql",
					     "analysis/plots/lib-common.gp", "analysis/plots/lib-terminal.gp",
					     "analysis/plots/lib-bars.gp",
					     "analysis/plots/hit-rates.gp" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/tree/%s", tmp, files[i]);
		copy_file(tl_root_path(files[i], from, sizeof from), path);
	}
	for (; *extra; extra += 2) {
		snprintf(path, sizeof path, "%s/tree/analysis/plots/%s.gp", tmp, extra[0]);
		cr_assert_eq(tl_write_file(path, extra[1], strlen(extra[1])), 0);
	}
}

Test(figures, a_gnuplot_warning_or_a_failed_query_fails_the_script)
{
	char path[4096], out[2048];
	const char *warns = "#% per all\n"
			    "#% data SELECT 1 AS x, 1 AS y\n"
			    "load 'lib-common.gp'\n"
			    "set yrange [1:1]\n"
			    "plot data using \"x\":\"y\" with lines\n";
	const char *bad = "#% per run\n"
			  "#% data SELECT no_such_column FROM runs WHERE run_id = :run\n"
			  "load 'lib-common.gp'\n"
			  "plot data using 1:1 with lines\n";
	copy_tree((const char *const[]){ "warns", warns, "badquery", bad, NULL });

	snprintf(path, sizeof path, "%s/tree/scripts/figures.sh", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ path, dbpath, out, NULL }), 0);
	cr_assert_eq(r.status, 1, "a warning and a failed query must fail figures.sh: exit %d, '%s'", r.status, r.err);
	cr_assert(strstr(r.err, "warns") && strcasestr(r.err, "warning"), "the warning is not reported: '%s'", r.err);
	for (int run = 1; run <= 2; run++) {
		char want[128];
		snprintf(want, sizeof want, "badquery (run %d): the query 'data' failed: ", run);
		cr_assert(strstr(r.err, want) && strstr(r.err, "no_such_column"), "'%s' is not reported: '%s'", want,
			  r.err);
	}
	tl_run_free(&r);
	snprintf(path, sizeof path, "%s/figures.csv", out);
	char *list = tl_read_file(path, NULL);
	cr_assert(list);
	cr_assert(strstr(list, "hit-rates,"), "%s", list);
	cr_assert(!strstr(list, "warns"), "a figure drawn with a warning is listed: %s", list);
	cr_assert(!strstr(list, "badquery"), "a figure whose query failed is listed: %s", list);
	free(list);
	snprintf(path, sizeof path, "%s/hit-rates-2col.pdf", out);
	cr_assert(exists(path));
}

/* A "#% when" that fails stops figures.sh (the answers come from one
 * sqlite3 session): exit 1, the error named, nothing listed. */
Test(figures, a_failed_when_query_fails_the_script)
{
	char path[4096], out[2048];
	const char *bad = "#% per run\n"
			  "#% when SELECT no_such_column FROM runs WHERE run_id = :run\n"
			  "#% data SELECT 1 AS x\n"
			  "load 'lib-common.gp'\n"
			  "plot data using 1:1 with lines\n";
	copy_tree((const char *const[]){ "badwhen", bad, NULL });
	snprintf(path, sizeof path, "%s/tree/scripts/figures.sh", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ path, dbpath, out, NULL }), 0);
	cr_assert_eq(r.status, 1, "exit %d, '%s'", r.status, r.err);
	cr_assert(strstr(r.err, "a '#% when' query or the runs' labels failed: ") && strstr(r.err, "no_such_column"),
		  "'%s'", r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "'%s'", r.err);
	tl_run_free(&r);
	snprintf(path, sizeof path, "%s/figures.csv", out);
	cr_assert(!exists(path), "a figure list was written");
}

/* arena-states keeps, of a run's transitions, those that draw something in
 * each of its 4096 columns of x: in every column, each band's highest and
 * lowest value over the rows drawn (a transition's state before and after
 * it) are those of every transition, so are its first and last row (the
 * steps between columns), and the rows drawn are some of the run's, in
 * its order. The full series is read from v_arena_states and its
 * "before" states are worked out here, not by the figure's query. The run
 * is git index-pack's trace with the gc policy: its scavenger makes 6,001
 * transitions, several in many columns. */
#define AS_COLS 4096

struct as_range {
	long long lo[3], hi[3], first[4], last[4];
	int n;
};

/* Add a row (clock and the three bands) to its column. */
static void as_widen(struct as_range *c, const long long row[4])
{
	const long long *v = row + 1;
	if (!c->n)
		memcpy(c->first, row, sizeof c->first);
	memcpy(c->last, row, sizeof c->last);
	for (int b = 0; b < 3; b++) {
		if (!c->n || v[b] < c->lo[b])
			c->lo[b] = v[b];
		if (!c->n || v[b] > c->hi[b])
			c->hi[b] = v[b];
	}
	c->n++;
}

Test(figures, arena_states_keeps_what_each_column_draws)
{
	char db_path[4096], git[4096], out[4096], path[4200];
	snprintf(db_path, sizeof db_path, "%s/gc.db", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	tl_root_path("traces/data/git-index-pack.slt", git, sizeof git);
	cr_assert_eq(replay(db_path, git, NULL, NULL), 0);
	/* drawn alone (with hit-rates, which copy_tree always copies) */
	char *gp = tl_read_file(tl_root_path("analysis/plots/arena-states.gp", path, sizeof path), NULL);
	cr_assert(gp);
	copy_tree((const char *const[]){ "arena-states", gp, NULL });
	free(gp);
	snprintf(path, sizeof path, "%s/tree/scripts/figures.sh", tmp);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ path, db_path, out, "--data", NULL }), 0);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	tl_run_free(&r);

	/* every row drawn if nothing were dropped: before and after each */
	sqlite3 *db;
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT clock_bytes, reserved_bytes + prepared_bytes + ready_bytes, "
					"prepared_bytes + ready_bytes, ready_bytes FROM v_arena_states "
					"WHERE run_id = 1 ORDER BY seq, kind DESC", -1, &st, NULL), SQLITE_OK,
		     "%s", sqlite3_errmsg(db));
	long long (*all)[4] = NULL, max_clock = 1, prev[3] = { 0, 0, 0 };
	int n = 0, cap = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n + 2 > cap) {
			cap = cap ? 2 * cap : 4096;
			all = realloc(all, (size_t)cap * sizeof *all);
			cr_assert(all);
		}
		long long c = sqlite3_column_int64(st, 0);
		long long *b = all[n++], *a = all[n++];
		b[0] = a[0] = c;
		for (int i = 0; i < 3; i++) {
			b[1 + i] = prev[i];
			a[1 + i] = prev[i] = sqlite3_column_int64(st, 1 + i);
		}
		if (c > max_clock)
			max_clock = c;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	cr_assert_gt(n, 2 * 4096, "only %d arena states: the test wants several per column", n / 2);

	struct as_range *full = calloc(AS_COLS + 1, sizeof *full), *kept = calloc(AS_COLS + 1, sizeof *kept);
	cr_assert(full && kept);
	for (int i = 0; i < n; i++)
		as_widen(&full[(int)(all[i][0] * (double)AS_COLS / (double)max_clock)], all[i]);

	snprintf(path, sizeof path, "%s/arena-states-run1.csv", out);
	char *csv = tl_read_file(path, NULL);
	cr_assert(csv, "no %s", path);
	const char *head = "clock_bytes,total_bytes,mapped_bytes,ready_bytes";
	cr_assert(!strncmp(csv, head, strlen(head)), "'%.80s'", csv);
	int rows = 0, j = 0;
	long long row[4];
	for (char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
		cr_assert_eq(sscanf(line + 1, "%lld,%lld,%lld,%lld", &row[0], &row[1], &row[2], &row[3]), 4,
			     "row %d: '%.60s'", rows + 1, line + 1);
		while (j < n && memcmp(all[j], row, sizeof row))
			j++;
		cr_assert_lt(j, n, "row %d (%lld,%lld,%lld,%lld) is not one of the run's states after row %d's", rows + 1,
			     row[0], row[1], row[2], row[3], rows);
		cr_assert(rows || j == 0, "the first row drawn is not the run's first");
		j++;
		as_widen(&kept[(int)(row[0] * (double)AS_COLS / (double)max_clock)], row);
		rows++;
	}
	cr_assert(rows && !memcmp(row, all[n - 1], sizeof row), "the last row drawn is not the run's last");
	for (int c = 0; c <= AS_COLS; c++) {
		cr_assert_eq(kept[c].n > 0, full[c].n > 0, "column %d: %d rows kept of %d", c, kept[c].n, full[c].n);
		/* the steps from one column to the next are the run's */
		cr_assert(!full[c].n || (!memcmp(kept[c].first, full[c].first, sizeof kept[c].first) &&
					 !memcmp(kept[c].last, full[c].last, sizeof kept[c].last)),
			  "column %d: its first or last row is not the run's", c);
		for (int b = 0; b < 3 && full[c].n; b++)
			cr_assert(kept[c].lo[b] == full[c].lo[b] && kept[c].hi[b] == full[c].hi[b],
				  "column %d, band %d: kept %lld..%lld, the run %lld..%lld", c, b, kept[c].lo[b],
				  kept[c].hi[b], full[c].lo[b], full[c].hi[b]);
	}
	cr_assert_lt(rows, n - 2000, "%d rows kept of %d: the columns were not reduced", rows, n);
	free(csv);
	free(full);
	free(kept);
	free(all);
}

/* Runs at the edges of what the figures expect: one small allocation (one
 * size class, one refill, nothing live at the end), and large objects
 * only (no small size class, no mcache lookup). They draw without a
 * warning; the per-class figure is left out where there is no small class. */
Test(figures, degenerate_runs_draw_without_a_warning)
{
	char one[4096], large[4096], path[4096], out[2048];
	snprintf(one, sizeof one, "%s/one.txt", tmp);
	snprintf(large, sizeof large, "%s/large.txt", tmp);
	snprintf(path, sizeof path, "%s/edge.db", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	const char *one_text = "# spanlab text trace v1\nm 1 100\nf 1\n";
	cr_assert_eq(tl_write_file(one, one_text, strlen(one_text)), 0);
	char text[4096] = "# spanlab text trace v1\n";
	for (int i = 1; i <= 40; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text), "m %d %d\n", i, 40000 + 1000 * i);
	for (int i = 1; i <= 40; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text), "f %d\n", i);
	cr_assert_eq(tl_write_file(large, text, strlen(text)), 0);
	cr_assert_eq(replay(path, one, NULL, NULL), 0);
	cr_assert_eq(replay(path, large, NULL, NULL), 0);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("figures.sh"), path, out, "--data", NULL }), 0);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "stderr: '%s'", r.err);
	tl_run_free(&r);
	static const char *const edge[] = {
		"hit-rates", "refill-sources", "fragmentation-jw",
		"memory-ops-run1", "memory-alloc-run1", "fragmentation-run1", "size-classes-run1", "arena-states-run1",
		"memory-ops-run2", "memory-alloc-run2", "fragmentation-run2", "arena-states-run2",
	};
	assert_figures(out, sizeof edge / sizeof edge[0], edge);
	/* --data: each figure's rows next to it, a header line first; the run
	 * of large objects only logged no refill and has no refill-sources
	 * bar (it had an empty one), but a hit-rates bar. */
	for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
		snprintf(path, sizeof path, "%s/%s.csv", out, edge[i]);
		char *rows = tl_read_file(path, NULL);
		cr_assert(rows, "--data wrote no %s", path);
		cr_assert(strchr(rows, ',') && tl_count_lines(rows) >= 2, "%s: '%s'", path, rows);
		free(rows);
	}
	snprintf(path, sizeof path, "%s/gc-pacing-run1.csv", out);
	cr_assert(!exists(path), "no data of a figure not drawn");
	snprintf(path, sizeof path, "%s/refill-sources.csv", out);
	char *rows = tl_read_file(path, NULL);
	cr_assert_eq(tl_count_lines(rows), 2, "a header and run 1: '%s'", rows);
	cr_assert(!strncmp(rows, "run_id,label,label_len,partial_swept,", 37) && strstr(rows, ",\"one.txt "), "'%s'", rows);
	free(rows);
	snprintf(path, sizeof path, "%s/hit-rates.csv", out);
	rows = tl_read_file(path, NULL);
	cr_assert(strstr(rows, ",\"one.txt ") && strstr(rows, ",\"large.txt "), "'%s'", rows);
	free(rows);
}

/* The three bar charts, both widths, drawn into out. */
static void assert_bars_drawn(const char *out)
{
	for (int i = 0; i < 3; i++) {
		static const char *const bars[] = { "hit-rates", "refill-sources", "fragmentation-jw" };
		for (int w = 0; w < 2; w++) {
			char f[2200];
			struct stat st;
			snprintf(f, sizeof f, "%s/%s-%s.pdf", out, bars[i], w ? "2col" : "1col");
			cr_assert(stat(f, &st) == 0 && st.st_size > 2000, "%s was not drawn", f);
		}
	}
}

/* Four runs whose labels do not fit under their bars in a one-column
 * figure: the bar charts break them into lines and draw without a
 * gnuplot warning (slanted whole, they took more height than the figure
 * has: "difficulty making room for xtic labels", and the figures failed). */
Test(figures, long_labels_draw_without_a_warning)
{
	char path[4096], out[2048], wordtree[4096];
	snprintf(path, sizeof path, "%s/long.db", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	tl_root_path("traces/data/go-wordtree.slt", wordtree, sizeof wordtree);
	cr_assert_eq(replay(path, wordtree, NULL, NULL), 0);
	cr_assert_eq(replay(path, wordtree, "--no-events", NULL), 0);
	cr_assert_eq(replay(path, wordtree, "--free", "immediate"), 0);
	cr_assert_eq(replay(path, wordtree, "--sweep", "lazy"), 0);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("figures.sh"), path, out, NULL }), 0);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "stderr: '%s'", r.err);
	tl_run_free(&r);
	assert_bars_drawn(out);
}

/* A sweep's tens of runs: the bar charts' groups are too narrow for any
 * label, even slanted (gnuplot warned and the figures were left out):
 * they are labelled by run id. Only the bar charts are drawn (--run of a
 * run without per-run figures would not do: --run selects the bars' runs
 * too), so the runs replay a tiny trace. A baseline's run, where one can
 * run, has no group, and a database of baselines only has no hit-rates
 * figure instead of a failed one. */
Test(figures, many_runs_and_baselines_draw_without_a_warning)
{
	char path[4096], out[2048], trace[4096], gogc[24][8];
	snprintf(path, sizeof path, "%s/many.db", tmp);
	snprintf(out, sizeof out, "%s/many", tmp);
	snprintf(trace, sizeof trace, "%s/tiny.txt", tmp);
	const char *t = "# spanlab text trace v1\nm 1 100\nm 2 5000\nm 3 40000\nf 1\nm 4 24\n";
	cr_assert_eq(tl_write_file(trace, t, strlen(t)), 0);
	for (int i = 0; i < 24; i++) {
		snprintf(gogc[i], sizeof gogc[i], "%d", 10 * (i + 1));
		cr_assert_eq(replay(path, trace, "--gogc", gogc[i]), 0);
	}
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("figures.sh"), path, out, NULL }), 0);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	tl_run_free(&r);
	assert_bars_drawn(out);
	const char *variant = getenv("SPANLAB_VARIANT");
	if (variant && !strcmp(variant, "asan"))
		return;	/* a baseline needs a build without ASan */
	snprintf(path, sizeof path, "%s/baseline.db", tmp);
	snprintf(out, sizeof out, "%s/baseline", tmp);
	cr_assert_eq(replay(path, trace, "--allocator", "glibc"), 0);
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("figures.sh"), path, out, NULL }), 0);
	cr_assert_eq(r.status, 0, "a database of baselines only: exit %d: %s", r.status, r.err);
	tl_run_free(&r);
	char f[2200];
	snprintf(f, sizeof f, "%s/hit-rates-1col.png", out);
	cr_assert(!exists(f), "hit-rates of no tiers was drawn");
}

/* A database written before schema version 2 (without the columns added
 * since, spanlab adds them only when it next writes) is drawn and
 * reported, by the read-only scripts, as is (analysis/compat.sql). */
Test(figures, a_database_of_schema_version_1_is_drawn)
{
	char old[2048], out[2048];
	snprintf(old, sizeof old, "%s/v1.db", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	tl_copy_file(dbpath, old);
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(old, &db), SQLITE_OK);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'view'", -1, &st, NULL), SQLITE_OK);
	char drops[8192] = "";
	while (sqlite3_step(st) == SQLITE_ROW)
		snprintf(drops + strlen(drops), sizeof drops - strlen(drops), "DROP VIEW \"%s\";",
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	cr_assert_eq(sqlite3_exec(db, drops, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_exec(db, "ALTER TABLE runs DROP COLUMN cpu_seconds;"
				      "ALTER TABLE runs DROP COLUMN trace_complete;"
				      "ALTER TABLE snapshots DROP COLUMN heap_live_bytes;"
				      "ALTER TABLE size_class_stats DROP COLUMN tiny_allocs;"
				      "PRAGMA user_version = 1;", NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("report.sh"), old, out, NULL }), 0);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert_eq(tl_count_lines(r.err), 2, "figures.sh's and report.sh's lines only: '%s'", r.err);
	cr_assert(strstr(r.out, "go-wordtree gc") && strstr(r.out, "git immediate"), "%s", r.out);
	tl_run_free(&r);
	static const char *const some[] = { "hit-rates", "fragmentation-jw", "memory-ops-run1", "size-classes-run2" };
	for (size_t i = 0; i < sizeof some / sizeof some[0]; i++) {
		char f[2200];
		struct stat sb;
		snprintf(f, sizeof f, "%s/%s-1col.pdf", out, some[i]);
		cr_assert(stat(f, &sb) == 0 && sb.st_size > 2000, "%s was not drawn", f);
	}
}

/* ---- errors ------------------------------------------------------------------- */

static void make_db(const char *path, const char *status_sql)
{
	char git[4096];
	tl_root_path("traces/data/git.slt", git, sizeof git);
	cr_assert_eq(replay(path, git, NULL, NULL), 0);
	if (status_sql) {
		sqlite3 *db;
		cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
		cr_assert_eq(sqlite3_exec(db, status_sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
		sqlite3_close(db);
	}
}

Test(figures, bad_usage_and_bad_databases_exit_2_and_write_nothing)
{
	char text[4096], plain[4096], none[4096], failed[4096], missing[4096], out[4096];
	snprintf(text, sizeof text, "%s/text.db", tmp);
	snprintf(plain, sizeof plain, "%s/plain.db", tmp);
	snprintf(none, sizeof none, "%s/none.db", tmp);
	snprintf(failed, sizeof failed, "%s/failed.db", tmp);
	snprintf(missing, sizeof missing, "%s/missing.db", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	cr_assert_eq(tl_write_file(text, "not a database\n", 15), 0);
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(plain, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "CREATE TABLE runs (run_id INTEGER)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	make_db(none, "UPDATE runs SET status = 'interrupted', error = 'stopped'");
	make_db(failed, "INSERT INTO runs (run_uuid, status, error, started_at, finished_at, config_json, allocator, "
			"tool_version, sqlite_version, schema_version) SELECT 'x', 'failed', 'broke', started_at, "
			"finished_at, config_json, allocator, tool_version, sqlite_version, schema_version FROM runs");

	const char *fig = script("figures.sh");
	struct { const char *what; const char *argv[8]; } cases[] = {
		{ "no arguments", { fig, NULL } },
		{ "no OUTDIR", { fig, dbpath, NULL } },
		{ "unknown option", { fig, dbpath, out, "--bogus", NULL } },
		{ "--run without an id", { fig, dbpath, out, "--run", NULL } },
		{ "--run not a number", { fig, dbpath, out, "--run", "two", NULL } },
		{ "missing database", { fig, missing, out, NULL } },
		{ "a directory", { fig, tmp, out, NULL } },
		{ "not SQLite", { fig, text, out, NULL } },
		{ "SQLite, not spanlab", { fig, plain, out, NULL } },
		{ "no complete run", { fig, none, out, NULL } },
		{ "no such run", { fig, dbpath, out, "--run", "9", NULL } },
		{ "a failed run", { fig, failed, out, "--run", "1", "--run", "2", NULL } },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tl_run r;
		cr_assert_eq(tl_run(&r, NULL, cases[i].argv), 0);
		assert_usage_error(&r, cases[i].what);
		tl_run_free(&r);
		cr_assert(!exists(out), "%s: the output directory was created", cases[i].what);
	}
	/* the messages say what is wrong */
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ fig, dbpath, out, "--run", "9", NULL }), 0);
	cr_assert(strstr(r.err, "no run 9"), "%s", r.err);
	tl_run_free(&r);
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ fig, failed, out, "--run", "2", NULL }), 0);
	cr_assert(strstr(r.err, "run 2 is failed"), "%s", r.err);
	tl_run_free(&r);
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ fig, plain, out, NULL }), 0);
	cr_assert(strstr(r.err, "not a spanlab database"), "%s", r.err);
	tl_run_free(&r);
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ fig, none, out, NULL }), 0);
	cr_assert(strstr(r.err, "no complete runs"), "%s", r.err);
	tl_run_free(&r);
	/* report.sh passes the error on and writes no page */
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("report.sh"), text, out, NULL }), 0);
	cr_assert_eq(r.status, 2, "report.sh: exit %d", r.status);
	cr_assert_eq(tl_count_lines(r.err), 1, "report.sh: '%s'", r.err);
	tl_run_free(&r);
	cr_assert(!exists(out));
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("report.sh"), NULL }), 0);
	cr_assert_eq(r.status, 2);
	tl_run_free(&r);
}

/* ---- report.sh ------------------------------------------------------------------ */

/* Every href="X" and src="X" of the page that is not an anchor names a file
 * in out; returns how many there were. */
static int assert_links_resolve(const char *html, const char *out)
{
	int n = 0;
	static const char *const attrs[] = { "href=\"", "src=\"" };
	for (int a = 0; a < 2; a++) {
		for (const char *p = strstr(html, attrs[a]); p; p = strstr(p + 1, attrs[a])) {
			p += strlen(attrs[a]);
			const char *q = strchr(p, '"');
			cr_assert(q);
			char target[512], path[8192];
			snprintf(target, sizeof target, "%.*s", (int)(q - p), p);
			if (target[0] == '#')
				continue;
			cr_assert(!strchr(target, ':') && target[0] != '/', "not a relative link: %s", target);
			snprintf(path, sizeof path, "%s/%s", out, target);
			cr_assert(exists(path), "the page links %s, which is not there", target);
			n++;
		}
	}
	return n;
}

Test(figures, report_lists_every_run_and_links_every_figure)
{
	char out[2048], page[4096];
	snprintf(out, sizeof out, "%s/report", tmp);
	snprintf(page, sizeof page, "%s/index.html", out);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("report.sh"), dbpath, out, NULL }), 0);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	/* the summary table on stdout: a header and one line per run */
	cr_assert(strstr(r.out, "go-wordtree gc") && strstr(r.out, "git immediate"), "%s", r.out);
	cr_assert_eq(tl_count_lines(r.out), 2 + 2, "%s", r.out);
	tl_run_free(&r);
	char *html = tl_read_file(page, NULL);
	cr_assert(html, "no %s", page);
	cr_assert(!strstr(html, "http://") && !strstr(html, "https://") && !strstr(html, "<script"),
		  "the page must work offline");

	/* every run: its section and its row */
	sqlite3 *db;
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT run_id, trace_name FROM runs WHERE status = 'complete'", -1, &st,
					NULL), SQLITE_OK);
	int runs = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		char id[64], anchor[64];
		snprintf(id, sizeof id, "id=\"run%d\"", sqlite3_column_int(st, 0));
		snprintf(anchor, sizeof anchor, "href=\"#run%d\"", sqlite3_column_int(st, 0));
		cr_assert(strstr(html, id) && strstr(html, anchor), "run %d is not on the page", sqlite3_column_int(st, 0));
		runs++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	cr_assert_eq(runs, 2);
	cr_assert(strstr(html, "go-wordtree gc") && strstr(html, "git immediate"));
	cr_assert(strstr(html, "J&amp;W #3"), "the J&W columns are missing");

	/* every figure file in the directory is linked, and every link is a file */
	DIR *d = opendir(out);
	cr_assert(d);
	struct dirent *e;
	int figures = 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l > 4 && (!strcmp(e->d_name + l - 4, ".png") || !strcmp(e->d_name + l - 4, ".pdf"))) {
			char link[512];
			snprintf(link, sizeof link, "href=\"%s\"", e->d_name);
			cr_assert(strstr(html, link), "%s is not linked", e->d_name);
			figures++;
		}
	}
	closedir(d);
	cr_assert_eq(figures, (int)(4 * NEXPECTED));
	cr_assert_geq(assert_links_resolve(html, out), figures);
	free(html);
}

/* A baseline run has no allocator tiers: its hit rates are blank (not the
 * 0% printf makes of NULL), its section is on the page like any other;
 * and an OUTDIR with a quote and a space works (sqlite3's .import cannot
 * quote it). Baselines are refused under ASan. */
Test(figures, report_leaves_blank_what_the_database_does_not_hold)
{
	const char *v = getenv("SPANLAB_VARIANT");
	if (v && !strcmp(v, "asan"))
		cr_skip_test("AddressSanitizer builds refuse baselines");
	char db[2048], out[2048], page[4096], wordtree[4096];
	snprintf(db, sizeof db, "%s/b.db", tmp);
	snprintf(out, sizeof out, "%s/it's out", tmp);
	snprintf(page, sizeof page, "%s/index.html", out);
	tl_root_path("traces/data/go-wordtree.slt", wordtree, sizeof wordtree);
	cr_assert_eq(replay(db, wordtree, NULL, NULL), 0);
	cr_assert_eq(replay(db, wordtree, "--allocator", "glibc"), 0);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script("report.sh"), db, out, NULL }), 0);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	const char *row = strstr(r.out, "go-wordtree glibc");
	cr_assert(row, "%s", r.out);
	cr_assert(!strstr(row, "0.00%") && !strstr(row, "0.0%"), "a baseline has no hit rates: %s", row);
	tl_run_free(&r);
	char *html = tl_read_file(page, NULL);
	cr_assert(html, "no %s", page);
	cr_assert(strstr(html, "id=\"run2\"") && strstr(html, "allocator glibc"), "run 2 has no section");
	row = strstr(html, "<tr><td><a href=\"#run2\">");
	cr_assert(row);
	const char *end = strstr(row, "</tr>");
	cr_assert(end && end - row > 45 && !strncmp(end - 45, "<td></td><td></td><td></td><td></td><td></td>", 45),
		  "hit rates and GC cycles of a baseline are blank: %.*s", (int)(end - row), row);
	free(html);
}
