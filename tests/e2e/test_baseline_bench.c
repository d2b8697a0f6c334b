/*
 * `scripts/bench.sh --smoke` runs every benchmark part at tiny sizes with
 * one repetition, into a temporary directory, and writes one JSON file
 * with the provenance, the targets and each part: the benchmarks still
 * run. No timing is checked (timings never live in the test suite).
 * Release builds only: the parts run the release bench programs.
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

Test(bench, smoke_runs_every_part_and_writes_bench_json, .timeout = 600)
{
	const char *variant = getenv("SPANLAB_VARIANT");
	if (variant && strcmp(variant, "release"))
		cr_skip_test("the benchmarks run release builds only");
	char *dir = tl_tmpdir(), script[4096], json[4096];
	tl_root_path("scripts/bench.sh", script, sizeof script);
	snprintf(json, sizeof json, "%s/bench.json", dir);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ script, "--smoke", "--out", dir, NULL }), 0);
	cr_assert_eq(r.status, 0, "bench.sh --smoke: exit %d\n%s\n%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "== replay") && strstr(r.out, "replayer peak memory") && strstr(r.out, "== targets"),
		  "parts missing from the output:\n%s", r.out);
	tl_run_free(&r);

	FILE *f = fopen(json, "r");
	cr_assert(f, "no %s", json);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	cJSON *j = cJSON_Parse(buf);
	cr_assert(j, "bench.json is not JSON");
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "meta"), "smoke")));
	cr_assert_gt(cJSON_GetArraySize(cJSON_GetObjectItem(j, "targets")), 0, "no targets");
	cJSON *replay = cJSON_GetObjectItem(j, "replay");
	cr_assert(cJSON_GetObjectItem(cJSON_GetObjectItem(replay, "throughput"), "go-wordtree.slt"), "no replay figures");
	cr_assert(cJSON_GetObjectItem(replay, "memory"), "no memory figures");
	cJSON_Delete(j);
	tl_tmpdir_remove(dir);
}
