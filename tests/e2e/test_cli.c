/*
 * The spanlab command line as a user meets it: help and version, exit
 * codes, one-line errors that name the file, and `sizeclasses` printing
 * Go's table as text and JSON.
 */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sizeclass.h"
#include "testlib.h"

#define RUN(r, input, ...) \
	cr_assert_eq(tl_run(r, input, (const char *const[]){ __VA_ARGS__, NULL }), 0, "cannot run spanlab")

Test(cli, help_and_version)
{
	struct tl_run r;
	RUN(&r, NULL, "spanlab", "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: spanlab") && strstr(r.out, "sizeclasses"), "%s", r.out);
	cr_assert_eq(r.err_len, 0);
	tl_run_free(&r);

	RUN(&r, NULL, "spanlab", "--version");
	cr_assert_eq(r.status, 0);
	cr_assert(!strncmp(r.out, "spanlab ", 8), "%s", r.out);
	tl_run_free(&r);

	RUN(&r, NULL, "spanlab", "sizeclasses", "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: spanlab sizeclasses"), "%s", r.out);
	tl_run_free(&r);
}

/* Bad usage: exit 2, nothing on stdout, a message and a hint on stderr. */
Test(cli, bad_usage_exits_2_with_one_line)
{
	static const char *const cases[][4] = {
		{ "spanlab", NULL },
		{ "spanlab", "frobnicate", NULL },
		{ "spanlab", "--frob", NULL },
		{ "spanlab", "sizeclasses", "--bogus", NULL },
		{ "spanlab", "sizeclasses", "--config", NULL },
		{ "spanlab", "sizeclasses", "extra", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tl_run r;
		cr_assert_eq(tl_run(&r, NULL, cases[i]), 0);
		cr_assert_eq(r.status, 2, "case %zu: exit %d", i, r.status);
		cr_assert_eq(r.out_len, 0, "case %zu printed on stdout", i);
		cr_assert_eq(tl_count_lines(r.err), 2, "case %zu: '%s'", i, r.err);
		cr_assert(strstr(r.err, "Try 'spanlab"), "case %zu: '%s'", i, r.err);
		tl_run_free(&r);
	}
}

Test(cli, sizeclasses_text_is_go_header_comment)
{
	struct tl_run r;
	RUN(&r, NULL, "spanlab", "sizeclasses");
	cr_assert_eq(r.status, 0, "%s", r.err);
	/* 1 header + 67 classes, a blank line, the alignment table (1 + 7). */
	cr_assert_eq(tl_count_lines(r.out), 1 + 67 + 1 + 8, "%s", r.out);
	cr_assert(strstr(r.out, "   67      32768       32768        1           0     12.50%       8192\n"));
	cr_assert(strstr(r.out, "    5         48        8192      170          32     31.52%         16\n"));
	tl_run_free(&r);
}

Test(cli, sizeclasses_json_is_go_table)
{
	const struct sl_sizeclasses *go = sl_sizeclasses_go();
	struct tl_run r;
	RUN(&r, NULL, "spanlab", "sizeclasses", "--json");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cJSON *root = cJSON_Parse(r.out);
	cr_assert(root, "not JSON");
	cJSON *sc = cJSON_GetObjectItem(root, "sizeclasses");
	cJSON *tab = cJSON_GetObjectItem(sc, "table");
	cr_assert_eq(cJSON_GetArraySize(tab), 67);
	int c = 1;
	for (cJSON *row = tab->child; row; row = row->next, c++) {
		cr_assert_eq(cJSON_GetArrayItem(row, 0)->valueint, (int)go->class_to_size[c]);
		cr_assert_eq(cJSON_GetArrayItem(row, 1)->valueint, (int)go->class_to_allocnpages[c]);
	}
	cJSON *rows = cJSON_GetObjectItem(sc, "classes");
	cJSON *r5 = cJSON_GetArrayItem(rows, 4);
	cr_assert_eq(cJSON_GetObjectItem(r5, "objects")->valueint, 170);
	cr_assert_eq(cJSON_GetObjectItem(r5, "tail_waste")->valueint, 32);
	cr_assert_float_eq(cJSON_GetObjectItem(r5, "max_waste")->valuedouble, 0.3152, 1e-9);
	cJSON_Delete(root);
	tl_run_free(&r);
}

/* --json output loads back through --config and prints the same table. */
Test(cli, sizeclasses_json_round_trip_through_config)
{
	char *dir = tl_tmpdir(), path[4096];
	struct tl_run r, a, b;
	RUN(&r, NULL, "spanlab", "sizeclasses", "--json");
	snprintf(path, sizeof path, "%s/t.json", dir);
	cr_assert_eq(tl_write_file(path, r.out, r.out_len), 0);
	RUN(&a, NULL, "spanlab", "sizeclasses", "--config", path);
	RUN(&b, NULL, "spanlab", "sizeclasses");
	cr_assert_eq(a.status, 0, "%s", a.err);
	cr_assert_str_eq(a.out, b.out);
	tl_run_free(&r);
	tl_run_free(&a);
	tl_run_free(&b);
	tl_tmpdir_remove(dir);
}

/* Bad files: exit 2, one line naming the file and the problem. */
Test(cli, bad_config_files_exit_2_naming_the_file)
{
	static const struct { const char *content, *expect; } cases[] = {
		{ NULL, "cannot read" },
		{ "{\"sizeclasses\": ", "line 1, column " },
		{ "{\"sizeclasses\": {\"table\": [[8,1],[12,1],[32768,4]]}}", "not a multiple of 8" },
		{ "{\"sizeclasses\": {\"max_waste\": \"big\"}}", "'sizeclasses.max_waste' must be a number" },
		{ "{\"sizeclasses\": {\"page_size\": 16384, \"max_small_size\": 65536}}", "division magic" },
		/* a table the tiny allocator cannot use: refused with the config,
		 * by replay too (it failed the run, exit 1, naming no file) */
		{ "{\"sizeclasses\": {\"table\": [[16,1],[32768,4]]}}", "'tiny' needs size class 2 to be 16 bytes" },
	};
	char *dir = tl_tmpdir();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[4096];
		struct tl_run r;
		snprintf(path, sizeof path, "%s/c%zu.json", dir, i);
		if (cases[i].content)
			cr_assert_eq(tl_write_file(path, cases[i].content, strlen(cases[i].content)), 0);
		char trace[4096];
		tl_root_path("traces/data/go-wordtree.slt", trace, sizeof trace);
		if (strstr(cases[i].expect, "'tiny'"))
			RUN(&r, NULL, "spanlab", "replay", "-q", trace, "--config", path);
		else
			RUN(&r, NULL, "spanlab", "sizeclasses", "--config", path);
		cr_assert_eq(r.status, 2, "case %zu: exit %d", i, r.status);
		cr_assert_eq(tl_count_lines(r.err), 1, "case %zu: '%s'", i, r.err);
		cr_assert(strstr(r.err, path), "case %zu does not name the file: '%s'", i, r.err);
		cr_assert(strstr(r.err, cases[i].expect), "case %zu: '%s' lacks '%s'", i, r.err, cases[i].expect);
		cr_assert_eq(r.out_len, 0);
		tl_run_free(&r);
	}
	tl_tmpdir_remove(dir);
}
