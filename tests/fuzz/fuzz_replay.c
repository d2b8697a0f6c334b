/*
 * Fuzz the replay of arbitrary well-formed traces: the input is a program
 * that the harness writes out as a text trace (docs/trace-format.md), so
 * every input is a valid trace whose operations are anything a trace can
 * say: frees and reallocs of keys never allocated or already freed,
 * double allocations of a key, zero, huge and absurd sizes, alignments
 * that are absurd or not powers of two, GC markers, 1-8 threads. The
 * first byte picks the configuration (Ps, free policy, sweep, tiny, GOGC);
 * the replay runs with --check (validators and the live-figure cross
 * check at every snapshot, a snapshot every 4 to 32 operations, content
 * patterns verified at every free and realloc) on 4 MiB arenas.
 *
 * Properties: the replay completes, except that a request the trace makes
 * absurd (2^47 bytes or more) may fail with "out of
 * memory"; any other failure (a validator, a refused free, lost contents,
 * a cross-check mismatch) is a bug. Errors are one line naming the trace.
 */
#define _GNU_SOURCE
#include "fuzz.h"
#include "fuzz_bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

static struct sim_config base;

/* fz_size, within the text form's numbers (below 2^63). */
static uint64_t text_size(struct fz *f, int *absurd)
{
	uint64_t n = fz_size(f, absurd);
	return n > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : n;
}

static void emit_trace(struct fz *f, FILE *out, int *absurd_any)
{
	fputs("# spanlab text trace v1\n", out);
	for (int n = 0; fz_more(f) && n < 1500; n++) {
		uint8_t c = fz_u8(f);
		unsigned tid = c >> 5;
		unsigned long long key = fz_u8(f) % 40, key2;
		uint64_t size, align;
		int absurd, absurd2;
		fprintf(out, "t%u ", tid);
		switch (c % 9) {
		case 0:
		case 1:
			size = text_size(f, &absurd);
			fprintf(out, "m %llu %llu\n", key, (unsigned long long)size);
			break;
		case 2:
			size = text_size(f, &absurd);
			fprintf(out, "c %llu %llu\n", key, (unsigned long long)size);
			break;
		case 3:
			size = text_size(f, &absurd);
			align = fz_align(f, &absurd2);
			/* the text form takes powers of two up to 2^40 (else the
			 * trace is malformed: docs/errors.md); 2^40 itself would
			 * take seconds (fuzz_bytes.h), so absurd ones become 2^26 */
			if (align > (1ull << 26))
				align = 1ull << 26;
			if (align & (align - 1))
				align = 1ull << (64 - __builtin_clzll(align));
			if (!align)
				align = 1;
			(void)absurd2;
			fprintf(out, "a %llu %llu %llu\n", key, (unsigned long long)size, (unsigned long long)align);
			break;
		case 4:
			size = text_size(f, &absurd);
			key2 = fz_u8(f) % 40;
			fprintf(out, "r %llu %llu %llu\n", key, key2, (unsigned long long)size);
			break;
		case 5:
		case 6:
			absurd = 0;
			fprintf(out, "f %llu\n", key);
			break;
		case 7:
			absurd = 0;
			fputs("gc\n", out);
			break;
		default:
			absurd = 0;
			fputs(c & 1 ? "thread-start\n" : "thread-exit\n", out);
			break;
		}
		*absurd_any |= absurd;
	}
}

int fuzz_replay(const uint8_t *data, size_t size)
{
	static bool init;
	static struct replay_opts o;
	static char *text;
	char err[1024];
	size_t len;
	int absurd = 0;

	if (!init) {
		config_defaults(&base);
		base.arena_size = 4u << 20;
		if (config_resolve(&base, err, sizeof err))
			fuzz_fail("config_resolve: %s", err);
		init = true;
	}
	struct fz f = { data, size, 0 };
	uint8_t c = fz_u8(&f), d = fz_u8(&f);
	memset(&o, 0, sizeof o);
	o.cfg = base;
	o.cfg.procs = 1 + (c & 7);
	o.cfg.free_policy = c >> 3 & 1 ? SIM_FREE_IMMEDIATE : SIM_FREE_GC;
	o.cfg.sweep = c >> 4 & 1 ? SIM_SWEEP_LAZY : SIM_SWEEP_EAGER;
	o.cfg.tiny = !(c >> 5 & 1);
	o.cfg.gogc = (int64_t[]){ 100, -1, 1, 25 }[c >> 6];
	o.cfg.scavenger = !(d & 1);
	o.snapshot_every = 4u << (d >> 1 & 3);	/* validators every 4..32 ops */
	o.check = true;
	o.quiet = true;
	o.touch = d >> 6 == 3;
	o.open.format = SLT_FMT_TEXT;

	FILE *out = open_memstream(&text, &len);
	emit_trace(&f, out, &absurd);
	fclose(out);
	o.trace = fuzz_file((const uint8_t *)text, len);

	struct sim_summary sum;
	enum replay_status st = replay_run(&o, NULL, &sum, err, sizeof err);
	if (st != REPLAY_OK) {
		if (!err[0] || strchr(err, '\n') || strncmp(err, o.trace, strlen(o.trace)))
			fuzz_fail("replay error not one line naming the trace: '%s'", err);
		if (!(st == REPLAY_FAILED && absurd && strstr(err, "out of memory")))
			fuzz_fail("replay failed (status %d): %s\n--- trace ---\n%s", st, err, text);
	} else if (sum.final_live_objects < 0 || sum.ops < 0) {
		fuzz_fail("summary: %lld live objects after %lld ops", (long long)sum.final_live_objects,
			  (long long)sum.ops);
	}
	free(text);
	text = NULL;
	return 0;
}

FUZZ_TARGET(replay)
