/*
 * Fuzz the sweep file (spanlab sweep SWEEP.json; sim/sweep.h): any bytes
 * through sweep_load, which parses the file, reads its traces (their
 * SHA-256, and their sizes for "sizeclasses.fit") and expands the grid
 * into cells with resolved configs. The file sits in a scratch folder
 * that also holds two small traces, a.slt and b.txt, for the seeds to
 * name. Properties: a rejected file gets one line naming it; an accepted
 * one has points x traces cells, and every cell's config loads back and
 * prints the same (what a run stores is what it replays).
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "sweep.h"

static const char *scratch(void)
{
	static char dir[64];
	if (dir[0])
		return dir;
	snprintf(dir, sizeof dir, "/tmp/spanlab-fuzz-sweep-XXXXXX");
	if (!mkdtemp(dir))
		fuzz_fail("mkdtemp failed");
	static const char slt[] = "\x89SLT\r\n\x1a\n\x01\x00\x00\x00\xe8\x03\x00\x00\x02\x00\x00\x00{}"
				  "\xf0\x18\x03\x09\x02\x01\x01\x00\x00\x00\x00\x00\x00\x0a\x00\x00\x00SLTEND\r\n";
	static const char txt[] = "# spanlab text trace v1\nm 1 16\nm 2 100\nf 1\nm 3 4000\n";
	char p[128];
	FILE *f;
	snprintf(p, sizeof p, "%s/a.slt", dir);
	if (!(f = fopen(p, "wb")) || fwrite(slt, 1, sizeof slt - 1, f) != sizeof slt - 1 || fclose(f))
		fuzz_fail("cannot write %s", p);
	snprintf(p, sizeof p, "%s/b.txt", dir);
	if (!(f = fopen(p, "wb")) || fwrite(txt, 1, sizeof txt - 1, f) != sizeof txt - 1 || fclose(f))
		fuzz_fail("cannot write %s", p);
	return dir;
}

int fuzz_sweep(const uint8_t *data, size_t size)
{
	char path[128], err[1024];
	snprintf(path, sizeof path, "%s/s.json", scratch());
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f))
		fuzz_fail("cannot write %s", path);
	struct sweep_plan p;
	memset(&p, 0, sizeof p);
	err[0] = 0;
	int rc = sweep_load(path, NULL, &p, err, sizeof err);
	if (rc) {
		if (!err[0] || strchr(err, '\n') || strncmp(err, path, strlen(path)))
			fuzz_fail("sweep_load %d: not one line naming the file: '%s'", rc, err);
		sweep_free(&p);
		return 0;
	}
	if (p.ncells != p.npoints * p.ntraces || !p.ntraces)
		fuzz_fail("%zu cells for %zu points x %zu traces", p.ncells, p.npoints, p.ntraces);
	static struct sim_config c;
	for (size_t i = 0; i < p.ncells && i < 64; i++) {
		const char *js = p.cells[i].config_json;
		config_defaults(&c);
		if (config_load_text(js, strlen(js), "cell", NULL, &c, err, sizeof err) ||
		    config_resolve(&c, err, sizeof err))
			fuzz_fail("cell %zu's config does not load back: %s\n%s", i, err, js);
		char *again = config_to_string(&c);
		if (strcmp(again, js))
			fuzz_fail("cell %zu's config does not round-trip:\n%s\n---\n%s", i, js, again);
		free(again);
	}
	sweep_free(&p);
	return 0;
}

FUZZ_TARGET(sweep)
