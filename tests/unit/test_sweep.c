/*
 * Sweep files (sim/sweep.h): grid expansion (counts, order, each cell's
 * effective config read back from its JSON), dotted keys replacing what
 * base holds, identical configs sharing their runs, fitted tables per
 * trace, labels and the swept value, relative trace paths; and bad sweep
 * files, each rejected with one line naming the file and the key.
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "sweep.h"
#include "testlib.h"

static char *dir;
static char sweep_path[4096];

/* Two small text traces: t1 in the folder, t2 in a subfolder. */
static void setup(void)
{
	char p[4200];
	dir = tl_tmpdir();
	cr_assert(dir);
	snprintf(p, sizeof p, "%s/t1.txt", dir);
	const char *t1 = "# spanlab text trace v1\nm 1 24\nm 2 100\nm 3 100\nf 1\nm 4 5000\nf 2\n";
	cr_assert_eq(tl_write_file(p, t1, strlen(t1)), 0);
	snprintf(p, sizeof p, "%s/sub", dir);
	cr_assert_eq(mkdir(p, 0777), 0);
	snprintf(p, sizeof p, "%s/sub/t2.txt", dir);
	const char *t2 = "# spanlab text trace v1\nm 1 48\nm 2 48\nm 3 700\nf 3\n";
	cr_assert_eq(tl_write_file(p, t2, strlen(t2)), 0);
	snprintf(p, sizeof p, "%s/bad.txt", dir);	/* malformed at its line 2 */
	const char *bad = "# spanlab text trace v1\nfrob 1\n";
	cr_assert_eq(tl_write_file(p, bad, strlen(bad)), 0);
	snprintf(sweep_path, sizeof sweep_path, "%s/s.json", dir);
}

static void teardown(void)
{
	tl_tmpdir_remove(dir);
}

TestSuite(sweep, .init = setup, .fini = teardown, .timeout = 60);

/* Write the sweep file and load it; returns sweep_load's code. */
static int load(const char *json, struct sweep_plan *p, char *err, size_t errlen)
{
	cr_assert_eq(tl_write_file(sweep_path, json, strlen(json)), 0);
	return sweep_load(sweep_path, NULL, p, err, errlen);
}

static cJSON *cell_config(const struct sweep_plan *p, size_t cell)
{
	cJSON *c = cJSON_Parse(p->cells[cell].config_json);
	cr_assert(c, "cell %zu: config is not JSON", cell);
	return c;
}

static double num_at(const cJSON *c, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	cr_assert(cJSON_IsNumber(v), "%s.%s is not a number", a, b ? b : "");
	return v->valuedouble;
}

Test(sweep, cross_product_in_order)
{
	struct sweep_plan p;
	char err[1024];
	int rc = load("{\"traces\": [\"t1.txt\", \"sub/t2.txt\"],"
		      " \"base\": {\"gogc\": 50},"
		      " \"grid\": {\"sizeclasses.max_waste\": [0.0625, 0.25, 0.5], \"procs\": [1, 4]},"
		      " \"repeats\": 2}",
		      &p, err, sizeof err);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(p.ntraces, 2);
	cr_assert_eq(p.npoints, 6);
	cr_assert_eq(p.ncells, 12);
	cr_assert_eq(p.repeats, 2);
	cr_assert_eq(p.distinct, 12);
	cr_assert_str_eq(p.sweep_id, "s", "the default id is the file's name");
	cr_assert_str_eq(p.x_key, "size classes", "two keys vary: x is the number of classes");
	static const double waste[] = { 0.0625, 0.25, 0.5 };
	static const double procs[] = { 1, 4 };
	for (size_t pi = 0; pi < 6; pi++) {
		for (size_t t = 0; t < 2; t++) {
			size_t ci = pi * 2 + t;
			cr_assert_eq(p.cells[ci].point, pi);
			cr_assert_eq(p.cells[ci].trace, t);
			cJSON *c = cell_config(&p, ci);
			/* the first key varies slowest */
			cr_assert_eq(num_at(c, "sizeclasses", "max_waste"), waste[pi / 2], "cell %zu", ci);
			cr_assert_eq(num_at(c, "procs", NULL), procs[pi % 2], "cell %zu", ci);
			cr_assert_eq(num_at(c, "gogc", NULL), 50, "base applies to every cell");
			cr_assert_eq(num_at(c, "sizeclasses", "tail_waste"), 0.125, "defaults fill the rest");
			cJSON_Delete(c);
		}
	}
	cr_assert_str_eq(p.points[3].label, "max_waste=0.25, procs=4");
	char t2[4200];
	snprintf(t2, sizeof t2, "%s/sub/t2.txt", dir);
	cr_assert_str_eq(p.traces[1].path, t2);
	cr_assert_str_eq(p.traces[1].name, "t2.txt");
	cr_assert(p.cells[0].nclasses > p.cells[4].nclasses, "a larger waste bound gives fewer classes");
	sweep_free(&p);
}

Test(sweep, one_numeric_key_is_x)
{
	struct sweep_plan p;
	char err[1024];
	cr_assert_eq(load("{\"traces\": [\"t1.txt\"], \"grid\": {\"gogc\": [25, 100, 400], \"tiny\": [false]}}", &p, err,
			  sizeof err),
		     0, "%s", err);
	cr_assert_str_eq(p.x_key, "gogc");
	static const double gogc[] = { 25, 100, 400 };
	for (size_t i = 0; i < 3; i++) {
		cr_assert(p.points[i].has_x);
		cr_assert_eq(sweep_cell_x(&p, &p.cells[i]), gogc[i]);
		cJSON *c = cell_config(&p, i);
		cr_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "tiny")), "a one-value key applies too");
		cJSON_Delete(c);
	}
	cr_assert_str_eq(p.points[1].label, "gogc=100", "one-value keys stay out of labels");
	sweep_free(&p);
}

/* A key's value replaces what base holds there: "sizeclasses": {} is
 * Go's table whatever base says, and equal configs share their runs. */
Test(sweep, dotted_keys_replace_base)
{
	struct sweep_plan p;
	char err[1024];
	cr_assert_eq(load("{\"traces\": [\"t1.txt\", \"sub/t2.txt\"],"
			  " \"base\": {\"sizeclasses\": {\"max_waste\": 0.25}, \"scavenger\": false},"
			  " \"grid\": {\"sizeclasses\": [{}, {\"max_waste\": 0.125}, {\"tail_waste\": 0.25}],"
			  "           \"scavenger.retain_extra_percent\": [20]},"
			  " \"labels\": {\"sizeclasses\": [\"Go\", \"Go again\", \"tail 25%\"]}}",
			  &p, err, sizeof err),
		     0, "%s", err);
	cr_assert_eq(p.npoints, 3);
	cJSON *c0 = cell_config(&p, 0), *c4 = cell_config(&p, 4);
	cr_assert_eq(num_at(c0, "sizeclasses", "max_waste"), 0.125, "{} replaced base's 0.25");
	cr_assert_eq(num_at(c4, "sizeclasses", "tail_waste"), 0.25);
	cr_assert_eq(num_at(c4, "sizeclasses", "max_waste"), 0.125, "the point's object replaced base's");
	cr_assert_eq(num_at(c0, "scavenger", "retain_extra_percent"), 20);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c0, "scavenger"),
								 "enabled")),
		  "base's `false` became an object holding only the grid's key");
	cJSON_Delete(c0);
	cJSON_Delete(c4);
	/* points 0 and 1 are the same config on each trace */
	cr_assert_eq(p.distinct, 4);
	cr_assert_eq(p.cells[2].same_as, 0);
	cr_assert_eq(p.cells[3].same_as, 1);
	cr_assert_str_eq(p.cells[2].key, p.cells[0].key);
	cr_assert_str_neq(p.cells[0].key, p.cells[1].key, "another trace, another identity");
	cr_assert_str_eq(p.points[1].label, "Go again");
	sweep_free(&p);
}

Test(sweep, fitted_tables_per_trace)
{
	struct sweep_plan p;
	char err[1024];
	cr_assert_eq(load("{\"traces\": [\"t1.txt\", \"sub/t2.txt\"], \"sweep_id\": \"fits\","
			  " \"grid\": {\"sizeclasses.fit\": [3, 6]}}",
			  &p, err, sizeof err),
		     0, "%s", err);
	cr_assert_str_eq(p.sweep_id, "fits");
	cr_assert_str_eq(p.x_key, "sizeclasses.fit");
	for (size_t i = 0; i < p.ncells; i++) {
		uint32_t k = i < 2 ? 3 : 6;
		cr_assert_eq(p.cells[i].fit, k);
		cr_assert_eq(p.cells[i].nclasses, k);
		cJSON *c = cell_config(&p, i);
		const cJSON *tab = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "sizeclasses"), "table");
		cr_assert_eq(cJSON_GetArraySize(tab), (int)k, "cell %zu holds its fitted table", i);
		cJSON_Delete(c);
	}
	/* t2's sizes are 48 and 700 (tiny on: 8, 16, then the fit): with 6
	 * classes both are classes. */
	cJSON *c = cell_config(&p, 3);
	const cJSON *tab = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "sizeclasses"), "table");
	int has48 = 0, has704 = 0;
	for (const cJSON *row = tab->child; row; row = row->next) {
		has48 += row->child->valuedouble == 48;
		has704 += row->child->valuedouble == 704;
	}
	cr_assert(has48 && has704, "700 rounds to 704, the smallest 16-byte multiple");
	cJSON_Delete(c);
	sweep_free(&p);
}

Test(sweep, sweep_id_override_changes_identity)
{
	struct sweep_plan a, b;
	char err[1024];
	const char *json = "{\"traces\": [\"t1.txt\"]}";
	cr_assert_eq(load(json, &a, err, sizeof err), 0, "%s", err);
	cr_assert_eq(tl_write_file(sweep_path, json, strlen(json)), 0);
	cr_assert_eq(sweep_load(sweep_path, "other", &b, err, sizeof err), 0, "%s", err);
	cr_assert_eq(a.npoints, 1);
	cr_assert_str_eq(a.points[0].label, "base");
	cr_assert_str_eq(b.sweep_id, "other");
	cr_assert_str_eq(a.cells[0].config_json, b.cells[0].config_json);
	cr_assert_str_neq(a.cells[0].key, b.cells[0].key);
	sweep_free(&a);
	sweep_free(&b);
}

/* ---- bad sweep files ------------------------------------------------------ */

struct bad_case {
	const char *name, *json;
	const char *want[3];	/* substrings of the message, after "FILE: " */
};

#define N47 "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36," \
	    "37,38,39,40,41,42,43,44,45,46,47"

/* Each message whole, its variable parts (the folder) left out. */
static const struct bad_case bad_cases[] = {
	{ "not_json", "{\"traces\": [", { "line 1, column 12: invalid JSON" } },
	{ "trailing_text", "{\"traces\": [\"t1.txt\"]}\n]", { "line 2, column 1: unexpected text after the JSON object" } },
	{ "not_object", "[1]", { "a sweep file must be a JSON object with \"traces\" and \"grid\"" } },
	{ "unknown_key", "{\"traces\": [\"t1.txt\"], \"gird\": {}}",
	  { "'gird' is not a known key (sweep_id, traces, base, grid, labels, repeats)" } },
	{ "no_traces", "{\"grid\": {}}", { "'traces' is missing: the traces to replay, relative to this file" } },
	{ "empty_traces", "{\"traces\": []}", { "'traces' must be a non-empty array of file names" } },
	{ "trace_not_string", "{\"traces\": [\"t1.txt\", 3]}", { "'traces[1]' must be a file name" } },
	{ "missing_trace", "{\"traces\": [\"t1.txt\", \"nope.slt\"]}",
	  { "'traces[1]': cannot read ", "/nope.slt: No such file or directory" } },
	{ "trace_is_dir", "{\"traces\": [\"sub\"]}", { "'traces[0]': ", "/sub is not a regular file" } },
	{ "base_not_object", "{\"traces\": [\"t1.txt\"], \"base\": 3}",
	  { "'base' must be an object (a replay config, docs/config.md)" } },
	{ "base_bad_value", "{\"traces\": [\"t1.txt\"], \"base\": {\"gogc\": -1}}",
	  { "base: 'gogc' must be an integer from 1 to 1000000 or \"off\"" } },
	{ "base_unknown_key", "{\"traces\": [\"t1.txt\"], \"base\": {\"sizeclasses\": {\"max_wast\": 0.1}}}",
	  { "base: 'sizeclasses.max_wast' is not a known key" } },
	{ "grid_not_object", "{\"traces\": [\"t1.txt\"], \"grid\": [1]}",
	  { "'grid' must be an object of \"dotted.key\": [values]" } },
	{ "labels_not_object", "{\"traces\": [\"t1.txt\"], \"labels\": [\"a\"]}",
	  { "'labels' must be an object of \"dotted.key\": [names]" } },
	{ "grid_not_array", "{\"traces\": [\"t1.txt\"], \"grid\": {\"procs\": 2}}",
	  { "'grid.procs' must be a non-empty array of values" } },
	{ "grid_empty_array", "{\"traces\": [\"t1.txt\"], \"grid\": {\"procs\": []}}",
	  { "'grid.procs' must be a non-empty array of values" } },
	{ "grid_bad_path", "{\"traces\": [\"t1.txt\"], \"grid\": {\"sizeclasses..max_waste\": [1]}}",
	  { "grid key 'sizeclasses..max_waste' is not a dotted path such as \"sizeclasses.max_waste\"" } },
	{ "grid_key_twice", "{\"traces\": [\"t1.txt\"], \"grid\": {\"procs\": [1, 2], \"procs\": [3]}}",
	  { "grid key 'procs' is given twice" } },
	{ "grid_overlapping_keys", "{\"traces\": [\"t1.txt\"], \"grid\": {\"sizeclasses.max_waste\": [0.25, 0.5],"
	  " \"sizeclasses\": [{}]}}",
	  { "grid keys 'sizeclasses.max_waste' and 'sizeclasses' overlap: a value of one would replace the other's" } },
	{ "grid_overlapping_keys_later", "{\"traces\": [\"t1.txt\"], \"grid\": {\"scavenger\": [false, true],"
	  " \"scavenger.enabled\": [true]}}",
	  { "grid keys 'scavenger' and 'scavenger.enabled' overlap: a value of one would replace the other's" } },
	{ "top_level_key_twice", "{\"traces\": [\"t1.txt\"], \"grid\": {\"procs\": [1]}, \"grid\": {\"procs\": [2, 3]}}",
	  { "'grid' is given twice" } },
	{ "grid_bad_value", "{\"traces\": [\"t1.txt\"], \"grid\": {\"procs\": [1, 0]}}",
	  { "grid['procs'][1]: 'procs' must be an integer from 1 to 64" } },
	{ "grid_unknown_key", "{\"traces\": [\"t1.txt\"], \"grid\": {\"sizeclasses.max_wast\": [0.1]}}",
	  { "grid['sizeclasses.max_wast'][0]: 'sizeclasses.max_wast' is not a known key" } },
	{ "grid_conflicts_with_base",
	  "{\"traces\": [\"t1.txt\"], \"base\": {\"tiny\": false, \"sizeclasses\": {\"table\": [[8, 1], [32768, 4]]}},"
	  " \"grid\": {\"sizeclasses.max_waste\": [0.2]}}",
	  { "grid['sizeclasses.max_waste'][0]: 'sizeclasses.max_waste' is a generator parameter and cannot be combined "
	    "with a table" } },
	{ "grid_invalid_table", "{\"traces\": [\"t1.txt\"], \"grid\": {\"sizeclasses.table\": [[[8, 1], [30000, 4]]]}}",
	  { "grid['sizeclasses.table'][0]: 'sizeclasses': " } },
	{ "tiny_needs_16", "{\"traces\": [\"t1.txt\"], \"base\": {\"tiny\": false}, \"grid\": {\"tiny\": [false, true],"
	  " \"sizeclasses.table\": [[[8, 1], [24, 1], [32768, 4]]]}}",
	  { "grid point 1 (tiny=true): 'tiny' needs size class 2 to be 16 bytes (it is 24); set \"tiny\": false" } },
	{ "arena_below_a_grid_page_size", "{\"traces\": [\"t1.txt\"], \"base\": {\"arena_size\": \"4MiB\"},"
	  " \"grid\": {\"sizeclasses.page_size\": [8192, 16384]}}",
	  { "grid['sizeclasses.page_size'][1]: 'arena_size' must be a power of two from one page-allocator chunk "
	    "(8 MiB: 512 pages of 16384 bytes) to 1 TiB" } },
	{ "arena_below_a_fitted_page_size", "{\"traces\": [\"t1.txt\"], \"base\": {\"arena_size\": \"4MiB\"},"
	  " \"grid\": {\"sizeclasses\": [{\"fit\": 16}, {\"fit\": 16, \"page_size\": 16384}]}}",
	  { "grid['sizeclasses'][1]: 'arena_size' must be a power of two from one page-allocator chunk "
	    "(8 MiB: 512 pages of 16384 bytes) to 1 TiB" } },
	{ "repeats_zero", "{\"traces\": [\"t1.txt\"], \"repeats\": 0}", { "'repeats' must be an integer from 1 to 1000" } },
	{ "repeats_fraction", "{\"traces\": [\"t1.txt\"], \"repeats\": 1.5}", { "'repeats' must be an integer from 1 to 1000" } },
	{ "sweep_id_empty", "{\"traces\": [\"t1.txt\"], \"sweep_id\": \"\"}",
	  { "'sweep_id' must be a name of 1 to 200 characters on one line" } },
	{ "sweep_id_two_lines", "{\"traces\": [\"t1.txt\"], \"sweep_id\": \"a\\nb\"}",
	  { "'sweep_id' must be a name of 1 to 200 characters on one line" } },
	{ "labels_unknown", "{\"traces\": [\"t1.txt\"], \"grid\": {\"procs\": [1, 2]}, \"labels\": {\"gogc\": [\"a\"]}}",
	  { "'labels.gogc' names no grid key" } },
	{ "labels_length", "{\"traces\": [\"t1.txt\"], \"grid\": {\"procs\": [1, 2]}, \"labels\": {\"procs\": [\"one\"]}}",
	  { "'labels.procs' must be an array of 2 names, one per value of 'grid.procs'" } },
	{ "fit_zero", "{\"traces\": [\"t1.txt\"], \"grid\": {\"sizeclasses.fit\": [16, 0]}}",
	  { "grid['sizeclasses.fit'][1]: 'sizeclasses.fit' must be an integer from 1 to 255 (classes of the fitted table)" } },
	{ "fit_too_few_for_tiny", "{\"traces\": [\"t1.txt\"], \"grid\": {\"sizeclasses.fit\": [2]}}",
	  { "grid['sizeclasses.fit'][0]: 'sizeclasses.fit' 2: a table needs at least 3 classes with tiny on "
	    "(8, 16 and max_small_size)" } },
	{ "fit_with_generator", "{\"traces\": [\"t1.txt\"], \"base\": {\"sizeclasses\": {\"max_waste\": 0.2}},"
	  " \"grid\": {\"sizeclasses.fit\": [16]}}",
	  { "grid['sizeclasses.fit'][0]: 'sizeclasses.fit' cannot be combined with 'sizeclasses.max_waste' "
	    "(only page_size and max_small_size)" } },
	{ "fit_bad_trace", "{\"traces\": [\"t1.txt\", \"bad.txt\"], \"grid\": {\"sizeclasses.fit\": [4]}}",
	  { "'sizeclasses.fit' needs the sizes of 'traces[1]': ", "/bad.txt: line 2: unknown operation in \"frob 1\"" } },
	{ "fit_too_many", "{\"traces\": [\"t1.txt\"], \"base\": {\"sizeclasses\": {\"max_small_size\": 1024}},"
	  " \"grid\": {\"sizeclasses.fit\": [100]}}",
	  { "'sizeclasses.fit' 100 for ", "/t1.txt: ", "only 66 sizes" } },
	/* 47^3 = 103,823 points */
	{ "too_many_cells", "{\"traces\": [\"t1.txt\"], \"grid\": {\"gogc\": [" N47 "], \"procs\": [" N47 "],"
	  " \"scavenger.retain_extra_percent\": [" N47 "]}}",
	  { "the grid has more than 100000 points x traces; split the sweep" } },
};

static void check_bad(const struct bad_case *c)
{
	struct sweep_plan p;
	char err[1024];
	int rc = load(c->json, &p, err, sizeof err);
	cr_assert_eq(rc, SL_EXIT_USAGE, "%s: loaded (rc %d)", c->name, rc);
	cr_assert(!strncmp(err, sweep_path, strlen(sweep_path)) && err[strlen(sweep_path)] == ':',
		  "%s: the message does not start with the file: %s", c->name, err);
	cr_assert(!strchr(err, '\n'), "%s: more than one line", c->name);
	cr_assert(!strstr(err + strlen(sweep_path), sweep_path), "%s: the file is named twice: %s", c->name, err);
	for (size_t i = 0; i < 3 && c->want[i]; i++)
		cr_assert(strstr(err, c->want[i]), "%s: '%s' not in: %s", c->name, c->want[i], err);
	sweep_free(&p);
}

Test(sweep, bad_files_name_the_file_and_key)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
		check_bad(&bad_cases[i]);
}

/* docs/errors.md's rows name these cases as "test_sweep (NAME, NAME...)":
 * each name must be a case above, so a renamed case cannot leave the catalogue
 * pointing nowhere. */
Test(sweep, catalogue_names_cases_that_exist)
{
	char path[4096], line[4096];
	FILE *f = fopen(tl_root_path("docs/errors.md", path, sizeof path), "r");
	cr_assert(f, "cannot open %s", path);
	int named = 0;
	while (fgets(line, sizeof line, f)) {
		char *p = strstr(line, "test_sweep (");
		if (!p || strncmp(line, "| `", 3))	/* table rows only */
			continue;
		char *names = p + strlen("test_sweep ("), *close = strchr(names, ')'), *save = NULL;
		cr_assert(close, "%s", line);
		*close = 0;
		for (char *n = strtok_r(names, ", ", &save); n; n = strtok_r(NULL, ", ", &save)) {
			size_t i;
			for (i = 0; i < sizeof bad_cases / sizeof bad_cases[0] && strcmp(bad_cases[i].name, n); i++)
				;
			cr_assert_lt(i, sizeof bad_cases / sizeof bad_cases[0], "docs/errors.md names test_sweep (%s), "
				     "which is no case of bad_cases", n);
			named++;
		}
	}
	fclose(f);
	cr_assert_gt(named, 0, "docs/errors.md names no test_sweep case");
}

Test(sweep, shipped_examples_load)
{
	static const char *const files[] = { "scripts/sweeps/demo.json", "scripts/sweeps/example.json" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char path[4096], err[1024];
		struct sweep_plan p;
		tl_root_path(files[i], path, sizeof path);
		cr_assert_eq(sweep_load(path, NULL, &p, err, sizeof err), 0, "%s", err);
		cr_assert_gt(p.ncells, 1, "%s", files[i]);
		sweep_free(&p);
	}
}

/* "../t.txt" next to a sweep file reached through a symbolic link is the
 * file the kernel opens (beside the link's target), not the one beside
 * the link: the path keeps its "..". */
Test(sweep, dot_dot_through_a_symlinked_folder)
{
	char real[4200], lnk[4200], file[4400], there[4400], json[4400], err[1024];
	snprintf(real, sizeof real, "%s/real", dir);
	cr_assert_eq(mkdir(real, 0777), 0);
	snprintf(file, sizeof file, "%s/real/sweeps", dir);
	cr_assert_eq(mkdir(file, 0777), 0);
	snprintf(lnk, sizeof lnk, "%s/lnk", dir);
	cr_assert_eq(symlink(file, lnk), 0);
	snprintf(there, sizeof there, "%s/real/t.txt", dir);
	const char *a = "# spanlab text trace v1\nm 1 16\n";
	cr_assert_eq(tl_write_file(there, a, strlen(a)), 0);
	snprintf(file, sizeof file, "%s/t.txt", dir);	/* beside the link: not this one */
	const char *b = "# spanlab text trace v1\nm 1 16\nm 2 32\nf 1\n";
	cr_assert_eq(tl_write_file(file, b, strlen(b)), 0);
	snprintf(json, sizeof json, "%s/lnk/s.json", dir);
	const char *s = "{\"traces\": [\"../t.txt\"]}";
	cr_assert_eq(tl_write_file(json, s, strlen(s)), 0);
	struct sweep_plan p;
	cr_assert_eq(sweep_load(json, NULL, &p, err, sizeof err), 0, "%s", err);
	char *got = realpath(p.traces[0].path, NULL), *want = realpath(there, NULL);
	cr_assert(got && want && !strcmp(got, want), "the sweep reads %s (%s), the kernel opens %s", p.traces[0].path,
		  got ? got : "?", want ? want : "?");
	free(got);
	free(want);
	sweep_free(&p);
}

/* Values that agree to six digits still get labels of their own. */
Test(sweep, close_values_get_distinct_labels)
{
	struct sweep_plan p;
	char err[1024];
	int rc = load("{\"traces\": [\"t1.txt\"], \"grid\": {\"sizeclasses.tail_waste\": [0.1, 0.10000001, 0.125],"
		      " \"gogc\": [1000, 50]}}", &p, err, sizeof err);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(p.npoints, 6);
	cr_assert_str_eq(p.points[0].label, "tail_waste=0.1, gogc=1000");
	cr_assert_str_eq(p.points[2].label, "tail_waste=0.10000001, gogc=1000");
	cr_assert_str_eq(p.points[5].label, "tail_waste=0.125, gogc=50");
	sweep_free(&p);
}
