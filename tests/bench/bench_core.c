/*
 * bench_core: malloc+free pairs through the allocator core against glibc
 * malloc in the same binary (measurements.md 1.2's loop).
 *
 *   bench_core MODE PAIRS [SEED]
 *     MODE  null | glibc | gc | immediate
 *   prints one line: "MODE ns_per_pair X pairs N"
 *
 * The loop: fill a window of 10,000 live objects, then PAIRS times pick a
 * slot with xorshift, free it, allocate a random size in 8..512 and write
 * one byte. The fill is not timed. "null" runs the same loop without
 * allocator calls (the harness cost). One P; the core's default config
 * (Go's size classes, GOGC 100, tiny on, scavenger on), eager sweep.
 * scripts/bench.d/10-core.sh repeats runs, takes medians and runs the
 * instruction counts under callgrind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spanlab.h"

enum { WINDOW = 10000 };

static uint64_t rng;
static inline uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static char null_buf[WINDOW][8];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_core null|glibc|gc|immediate PAIRS [SEED]\n");
		return 2;
	}
	const char *mode = argv[1];
	long pairs = atol(argv[2]);
	rng = argc > 3 ? strtoull(argv[3], NULL, 0) : 88172645463325252ull;
	int m = !strcmp(mode, "null") ? 0 : !strcmp(mode, "glibc") ? 1 : !strcmp(mode, "gc") ? 2
		: !strcmp(mode, "immediate") ? 3 : -1;
	if (m < 0 || pairs <= 0) {
		fprintf(stderr, "bench_core: bad mode or pair count\n");
		return 2;
	}
	struct sl_heap *h = NULL;
	struct sl_p *p = NULL;
	if (m >= 2) {
		struct sl_heap_config cfg;
		char err[200];
		sl_heap_config_default(&cfg);
		cfg.free_policy = m == 2 ? SL_FREE_GC : SL_FREE_IMMEDIATE;
		h = sl_heap_new(&cfg, err, sizeof err);
		if (h == NULL) {
			fprintf(stderr, "bench_core: %s\n", err);
			return 1;
		}
		p = sl_heap_p(h, 0);
	}
	static void *win[WINDOW];
	for (int i = 0; i < WINDOW; i++) {
		size_t n = 8 + xorshift() % 505;
		win[i] = m == 0 ? null_buf[i] : m == 1 ? malloc(n) : sl_malloc(p, n);
		((volatile char *)win[i])[0] = 1;
	}
	double t0 = now();
	for (long k = 0; k < pairs; k++) {
		uint64_t r = xorshift();
		uint32_t i = (uint32_t)(r % WINDOW);
		size_t n = 8 + (r >> 32) % 505;
		void *v;
		switch (m) {
		case 0:
			v = null_buf[(i + n) % WINDOW];
			break;
		case 1:
			free(win[i]);
			v = malloc(n);
			break;
		default:
			sl_free(p, win[i]);
			v = sl_malloc(p, n);
			break;
		}
		((volatile char *)v)[0] = (char)k;
		win[i] = v;
	}
	double t1 = now();
	printf("%s ns_per_pair %.3f pairs %ld\n", mode, (t1 - t0) * 1e9 / (double)pairs, pairs);
	if (h != NULL) {
		struct sl_stats st;
		sl_heap_stats(h, &st);
		fprintf(stderr, "%s: gc_cycles %lu refills %lu heap_sys %lu\n", mode,
			(unsigned long)st.gc_cycles, (unsigned long)st.refills, (unsigned long)st.heap_sys);
		sl_heap_destroy(h);
	} else if (m == 1) {
		for (int i = 0; i < WINDOW; i++)
			free(win[i]);
	}
	return 0;
}
