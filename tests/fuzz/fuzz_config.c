/*
 * Fuzz the config JSON (what --config FILE and a sweep's base are): any
 * bytes through config_load_text and config_resolve. Properties: a
 * rejected config gets one line naming the file; an accepted one
 * resolves or is rejected by resolve with one line; a resolved config
 * printed by config_to_string loads back to the same string (what the
 * database stores for a run can be replayed). table_file paths resolve
 * against a directory that does not exist, so the fuzzer reads no files.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"

static void one_line(const char *err, const char *what)
{
	if (!err[0] || strchr(err, '\n'))
		fuzz_fail("%s: not one line: '%s'", what, err);
}

int fuzz_config(const uint8_t *data, size_t size)
{
	static struct sim_config c, c2;	/* ~2 KiB of size-class rows each */
	char err[1024];

	config_defaults(&c);
	if (config_load_text((const char *)data, size, "fuzz.json", "/nonexistent-fuzz-dir", &c, err,
			     sizeof err)) {
		one_line(err, "load");
		if (strncmp(err, "fuzz.json: ", 11) && strncmp(err, "/nonexistent-fuzz-dir/", 22))
			fuzz_fail("load: the error does not name the file: '%s'", err);
		return 0;
	}
	if (config_resolve(&c, err, sizeof err)) {
		one_line(err, "resolve");
		return 0;
	}
	char *s1 = config_to_string(&c);
	if (!s1)
		fuzz_fail("config_to_string returned NULL");
	config_defaults(&c2);
	if (config_load_text(s1, strlen(s1), "printed.json", NULL, &c2, err, sizeof err))
		fuzz_fail("a printed config does not load back: %s\n%s", err, s1);
	if (config_resolve(&c2, err, sizeof err))
		fuzz_fail("a printed config does not resolve: %s\n%s", err, s1);
	char *s2 = config_to_string(&c2);
	if (strcmp(s1, s2))
		fuzz_fail("a config does not round-trip:\n%s\n---\n%s", s1, s2);
	free(s1);
	free(s2);
	return 0;
}

FUZZ_TARGET(config)
