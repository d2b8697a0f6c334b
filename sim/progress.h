/*
 * A progress line on stderr for long work (replay, convert, sweep):
 * "replay  1234567/9999999 ops  12.3%  8.1 M ops/s  ETA 0:07", redrawn in
 * place at most 5 times a second, only when stderr is a terminal, the work
 * has run for more than a second, and the user did not ask for --quiet
 * (NO_COLOR and TERM=dumb drop the clear-to-end-of-line escape).
 *
 * Cost on the hot loop: progress_tick() is one decrement and compare; the
 * clock is read every 2^16 ticks (measurements.md 3.5).
 */
#ifndef SPANLAB_PROGRESS_H
#define SPANLAB_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	bool enabled;		/* stderr is a tty and not --quiet */
	bool shown;		/* something was drawn (finish prints '\n') */
	bool plain;		/* TERM=dumb: no escape sequences */
	const char *label, *unit;
	uint64_t total;		/* 0: unknown */
	uint64_t countdown;	/* ticks until the next clock read */
	double start, last_draw;
};

void progress_init(struct progress *p, const char *label, const char *unit, uint64_t total, bool quiet);
void progress_slow(struct progress *p, uint64_t done);
void progress_finish(struct progress *p, uint64_t done);

/* Call once per unit of work with the count done so far. */
static inline void progress_tick(struct progress *p, uint64_t done)
{
	if (__builtin_expect(--p->countdown == 0, 0))
		progress_slow(p, done);
}

#endif
