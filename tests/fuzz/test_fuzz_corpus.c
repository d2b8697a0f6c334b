/*
 * Every fuzz harness over its seeds (tests/fuzz/corpus/NAME/) and its
 * saved crashes (tests/fuzz/regress/NAME/): the same functions libFuzzer
 * and AFL++ drive (`make fuzz`), so CI without clang still replays every
 * input that once broke something. A harness that finds a broken property
 * aborts, which Criterion reports as a crash of the case.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "testlib.h"

typedef int (*harness_fn)(const uint8_t *, size_t);

static size_t replay_dir(const char *name, const char *kind, harness_fn fn)
{
	char rel[256], dir[4096], path[8192];
	snprintf(rel, sizeof rel, "tests/fuzz/%s/%s", kind, name);
	tl_root_path(rel, dir, sizeof dir);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		cr_assert(f, "cannot open %s", path);
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		rewind(f);
		uint8_t *buf = malloc((size_t)len + 1);
		cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		fprintf(stderr, "  %s %s/%s (%ld bytes)\n", name, kind, e->d_name, len);
		cr_assert_eq(fn(buf, (size_t)len), 0, "%s", path);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

static void replay_all(const char *name, harness_fn fn)
{
	size_t seeds = replay_dir(name, "corpus", fn);
	replay_dir(name, "regress", fn);
	cr_assert_gt(seeds, 0, "no seeds for the %s harness in tests/fuzz/corpus/%s", name, name);
}

Test(fuzz_corpus, slt) { replay_all("slt", fuzz_slt); }
Test(fuzz_corpus, text) { replay_all("text", fuzz_text); }
Test(fuzz_corpus, mtrace) { replay_all("mtrace", fuzz_mtrace); }
Test(fuzz_corpus, valgrind) { replay_all("valgrind", fuzz_valgrind); }
Test(fuzz_corpus, goalloc) { replay_all("goalloc", fuzz_goalloc); }
Test(fuzz_corpus, detect) { replay_all("detect", fuzz_detect); }
Test(fuzz_corpus, config) { replay_all("config", fuzz_config); }
Test(fuzz_corpus, replay, .timeout = 120) { replay_all("replay", fuzz_replay); }
Test(fuzz_corpus, core, .timeout = 120) { replay_all("core", fuzz_core); }
Test(fuzz_corpus, sweep) { replay_all("sweep", fuzz_sweep); }

/* Regression inputs only count if they still exercise the bug's path:
 * each one is named for what it broke (tests/fuzz/README.md). */
Test(fuzz_corpus, every_regress_dir_names_a_harness)
{
	static const char *const names[] = { "slt", "text", "mtrace", "valgrind", "goalloc",
					     "detect", "config", "replay", "core", "sweep" };
	char dir[4096];
	DIR *d = opendir(tl_root_path("tests/fuzz/regress", dir, sizeof dir));
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		bool known = false;
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			known |= !strcmp(e->d_name, names[i]);
		cr_assert(known, "tests/fuzz/regress/%s is not a harness", e->d_name);
	}
	closedir(d);
}
