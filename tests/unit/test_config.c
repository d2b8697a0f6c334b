/*
 * Replay config from JSON: every key parsed, unknown keys and bad values
 * rejected with the key named, size-class tables round-tripped through the
 * JSON that `spanlab sizeclasses --json` prints.
 */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testlib.h"

static int load(const char *json, struct sim_config *c, char *err, size_t len)
{
	config_defaults(c);
	return config_load_text(json, strlen(json), "t.json", NULL, c, err, len);
}

Test(config, defaults_are_go)
{
	struct sim_config c;
	char err[256];
	config_defaults(&c);
	cr_assert_eq(config_resolve(&c, err, sizeof err), 0, "%s", err);
	cr_assert(sl_sizeclasses_equal(&c.classes, sl_sizeclasses_go()));
	cr_assert_eq(c.arena_size, 64u << 20);
	cr_assert_eq(c.gogc, 100);
	cr_assert_eq(c.free_policy, SIM_FREE_GC);
	cr_assert_eq(c.sweep, SIM_SWEEP_EAGER);
}

Test(config, every_key_is_applied)
{
	struct sim_config c;
	char err[256];
	const char *json = "{\"arena_size\": \"16MiB\", \"procs\": 4, \"free\": \"immediate\","
			   " \"sweep\": \"lazy\", \"gogc\": \"off\", \"trigger_fraction\": 0.7,"
			   " \"tiny\": false, \"scavenger\": {\"enabled\": false, \"retain_extra_percent\": 25},"
			   " \"snapshot_every\": 5000, \"sizeclasses\": {\"max_waste\": 0.25}}";
	cr_assert_eq(load(json, &c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.arena_size, 16u << 20);
	cr_assert_eq(c.procs, 4);
	cr_assert_eq(c.free_policy, SIM_FREE_IMMEDIATE);
	cr_assert_eq(c.sweep, SIM_SWEEP_LAZY);
	cr_assert_lt(c.gogc, 0);
	cr_assert_float_eq(c.trigger_fraction, 0.7, 1e-12);
	cr_assert_not(c.tiny);
	cr_assert_not(c.scavenger);
	cr_assert_eq(c.retain_extra_percent, 25);
	cr_assert_eq(c.snapshot_every, 5000);
	cr_assert_float_eq(c.sc_params.max_waste, 0.25, 1e-12);
	cr_assert_lt(c.classes.nclasses, SL_GO_NUM_CLASSES);

	/* The effective config loads back to the same settings. */
	char *s = config_to_string(&c);
	struct sim_config d;
	cr_assert_eq(load(s, &d, err, sizeof err), 0, "%s: %s", s, err);
	char *s2 = config_to_string(&d);
	cr_assert_str_eq(s, s2);
	free(s);
	free(s2);
}

struct bad { const char *json, *expect; };

static const struct bad bad_configs[] = {
	{ "{\"procz\": 1}", "'procz' is not a known key" },
	{ "{\"procs\": 0}", "'procs' must be an integer from 1 to 64" },
	{ "{\"procs\": 1.5}", "'procs' must be an integer" },
	{ "{\"procs\": \"2\"}", "'procs' must be an integer" },
	{ "{\"free\": \"later\"}", "'free' must be \"gc\" or \"immediate\"" },
	{ "{\"sweep\": 1}", "'sweep' must be \"eager\" or \"lazy\"" },
	{ "{\"gogc\": -5}", "'gogc' must be an integer from 1 to 1000000 or \"off\"" },
	{ "{\"tiny\": 1}", "'tiny' must be true or false" },
	{ "{\"arena_size\": \"64 parsecs\"}", "'arena_size' must be a byte count" },
	{ "{\"scavenger\": {\"retain\": 3}}", "'scavenger.retain' is not a known key" },
	{ "{\"sizeclasses\": {\"max_wast\": 0.2}}", "'sizeclasses.max_wast' is not a known key" },
	{ "{\"sizeclasses\": {\"max_waste\": 1.5}}", "'sizeclasses.max_waste' must be a number in (0, 1]" },
	{ "{\"sizeclasses\": {\"table\": [[8,1],[16]]}}", "'sizeclasses.table[1]' must be a [size, pages] pair" },
	{ "{\"sizeclasses\": {\"table\": [[8,1],[32768,4]], \"max_waste\": 0.2}}", "cannot be combined with a table" },
	{ "{\"sizeclasses\": {\"table\": [[8,1],[24,1],[20,1],[32768,4]]}}", "class 3: size 20 is not larger" },
	{ "{\"sizeclasses\": {\"table\": [[8,1],[32768,4]], \"nclasses\": 5}}", "'sizeclasses.nclasses' does not match" },
	{ "[1, 2]", "a config must be a JSON object" },
	{ "{\"procs\": 2,\n \"free\": }", "line 2, column 10: invalid JSON" },
	{ "{\"procs\": 2} {", "line 1, column 14: unexpected text after the JSON object" },
};

Test(config, bad_values_name_the_key)
{
	for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
		struct sim_config c;
		char err[512] = "";
		cr_assert_eq(load(bad_configs[i].json, &c, err, sizeof err), -1, "accepted: %s",
			     bad_configs[i].json);
		cr_assert(strstr(err, bad_configs[i].expect), "%s\n  gave: %s\n  want: %s", bad_configs[i].json,
			  err, bad_configs[i].expect);
		cr_assert(!strncmp(err, "t.json: ", 8), "message does not name the file: %s", err);
	}
}

/* generate -> JSON -> load -> identical, for Go's table and another one. */
Test(config, sizeclass_json_round_trip)
{
	static const double fractions[] = { 0.125, 0.25, 0.0625 };
	for (size_t i = 0; i < sizeof fractions / sizeof fractions[0]; i++) {
		struct sim_config c, back;
		char err[512];
		config_defaults(&c);
		c.sc_params.max_waste = c.sc_params.tail_waste = fractions[i];
		cr_assert_eq(config_resolve(&c, err, sizeof err), 0, "%s", err);

		cJSON *root = cJSON_CreateObject();
		cJSON_AddItemToObject(root, "sizeclasses", config_sizeclasses_json(&c.classes, true));
		char *text = cJSON_Print(root);
		cJSON_Delete(root);
		cr_assert_eq(load(text, &back, err, sizeof err), 0, "f=%g: %s", fractions[i], err);
		cr_assert(back.sc_explicit);
		cr_assert(sl_sizeclasses_equal(&c.classes, &back.classes), "f=%g: table changed", fractions[i]);
		free(text);
	}
}

Test(config, table_file_is_read_relative_to_the_config)
{
	char *dir = tl_tmpdir(), path[4096];
	struct sim_config c;
	char err[512];
	cr_assert(dir);
	snprintf(path, sizeof path, "%s/tab.json", dir);
	const char *tab = "{\"sizeclasses\": {\"table\": [[16,1],[64,1],[256,1],[1024,1],[4096,1],[32768,4]]}}";
	cr_assert_eq(tl_write_file(path, tab, strlen(tab)), 0);
	snprintf(path, sizeof path, "%s/cfg.json", dir);
	const char *cfg = "{\"sizeclasses\": {\"table_file\": \"tab.json\"}}";
	cr_assert_eq(tl_write_file(path, cfg, strlen(cfg)), 0);
	config_defaults(&c);
	cr_assert_eq(config_load_file(path, &c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.classes.nclasses, 7);
	cr_assert_eq(c.classes.class_to_size[3], 256);
	/* page_size and max_small_size beside table_file apply, as beside a
	 * table (they were dropped: 8 KiB spans) */
	cfg = "{\"sizeclasses\": {\"table_file\": \"tab.json\", \"page_size\": 16384}}";
	cr_assert_eq(tl_write_file(path, cfg, strlen(cfg)), 0);
	config_defaults(&c);
	cr_assert_eq(config_load_file(path, &c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.classes.page_size, 16384);
	snprintf(path, sizeof path, "%s/missing.json", dir);
	cr_assert_eq(config_load_file(path, &c, err, sizeof err), -1);
	cr_assert(strstr(err, "missing.json: cannot read"), "%s", err);
	tl_tmpdir_remove(dir);
}

/* A table file that names a table file: a.json -> b.json -> a.json would
 * recurse until the stack ran out; one level is all a table file gets. */
Test(config, a_table_file_cannot_name_another)
{
	char *dir = tl_tmpdir(), path[4096];
	struct sim_config c;
	char err[512];
	cr_assert(dir);
	const char *a = "{\"sizeclasses\": {\"table_file\": \"b.json\"}}";
	const char *b = "{\"sizeclasses\": {\"table_file\": \"a.json\"}}";
	snprintf(path, sizeof path, "%s/b.json", dir);
	cr_assert_eq(tl_write_file(path, b, strlen(b)), 0);
	snprintf(path, sizeof path, "%s/a.json", dir);
	cr_assert_eq(tl_write_file(path, a, strlen(a)), 0);
	config_defaults(&c);
	cr_assert_eq(config_load_file(path, &c, err, sizeof err), -1);
	cr_assert(strstr(err, "a.json: 'sizeclasses.table_file' ") && strstr(err, "/b.json names a table_file itself"),
		  "%s", err);
	tl_tmpdir_remove(dir);
}
