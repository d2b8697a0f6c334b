/* The stderr progress line: see progress.h. */
#include "progress.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { TICKS_PER_CLOCK_READ = 1 << 16 };
static const double REDRAW_SECONDS = 0.2, FIRST_DRAW_SECONDS = 1.0;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_init(struct progress *p, const char *label, const char *unit, uint64_t total, bool quiet)
{
	const char *term = getenv("TERM");
	memset(p, 0, sizeof *p);
	p->enabled = !quiet && isatty(STDERR_FILENO);
	p->plain = !term || !strcmp(term, "dumb") || getenv("NO_COLOR");
	p->label = label;
	p->unit = unit;
	p->total = total;
	p->countdown = p->enabled ? TICKS_PER_CLOCK_READ : UINT64_MAX;
	p->start = p->last_draw = p->enabled ? now() : 0;
}

static void draw(struct progress *p, uint64_t done, double t)
{
	double el = t - p->start, rate = el > 0 ? done / el : 0;
	char eta[32] = "";
	if (p->total && rate > 0 && done <= p->total)
		cli_eta(eta, sizeof eta, (double)(p->total - done) / rate);
	if (p->total)
		fprintf(stderr, "\r%s  %llu/%llu %s  %.1f%%  %.2f M %s/s%s%s", p->label,
			(unsigned long long)done, (unsigned long long)p->total, p->unit,
			100.0 * done / p->total, rate / 1e6, p->unit, eta, p->plain ? "" : "\033[K");
	else
		fprintf(stderr, "\r%s  %llu %s  %.2f M %s/s%s", p->label, (unsigned long long)done,
			p->unit, rate / 1e6, p->unit, p->plain ? "" : "\033[K");
	p->shown = true;
	p->last_draw = t;
}

void progress_slow(struct progress *p, uint64_t done)
{
	p->countdown = TICKS_PER_CLOCK_READ;
	if (!p->enabled)
		return;
	double t = now();
	if (t - p->start >= FIRST_DRAW_SECONDS && t - p->last_draw >= REDRAW_SECONDS)
		draw(p, done, t);
}

void progress_finish(struct progress *p, uint64_t done)
{
	if (p->enabled && p->shown) {
		draw(p, done, now());
		fputc('\n', stderr);
	}
	p->enabled = false;
}
