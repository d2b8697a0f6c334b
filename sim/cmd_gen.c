/*
 * spanlab gen KIND [--ops N] [--seed S] [--threads T] -o OUT.slt: seeded
 * synthetic workloads for tests and benchmarks (-o -: to stdout). The same KIND, N, S and T
 * always give the same file (splitmix64; no clock, no addresses).
 *
 *   uniform    sizes uniform in 16..512 B; mallocs and random frees keep
 *              about 1/8 of the ops live; a free everything at the end
 *   heavytail  Pareto(alpha 1.1) sizes from 16 B, capped at 4 MiB: most
 *              small, a few huge; random lifetimes as in uniform
 *   phases     the classic fragmentation stressor: each of 8 phases fills
 *              the heap with small objects of one size band, then frees all
 *              but every 16th (long-lived, scattered); every second phase
 *              asks for a larger band (32-63 B twice, 64-127 B twice, ...)
 *              that the holes cannot serve
 *   prodcons   T threads (default 2): thread 0 produces objects into a
 *              queue, the others consume and free them (cross-thread frees);
 *              thread start/exit events bracket each thread
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "slt.h"

static const char usage_text[] =
	"usage: spanlab gen KIND [--ops N] [--seed S] [--threads T] -o OUT.slt\n\n"
	"Write a seeded synthetic trace. KIND is one of:\n"
	"  uniform    sizes uniform in 16..512 bytes, random lifetimes\n"
	"  heavytail  Pareto sizes (most small, a few up to 4 MiB), random lifetimes\n"
	"  phases     phase changes that leave long-lived objects scattered\n"
	"  prodcons   a producer thread allocates, consumer threads free\n\n"
	"  --ops N       allocation operations (default 100000)\n"
	"  --seed S      random seed (default 1)\n"
	"  --threads T   threads for prodcons (2..64, default 2)\n"
	"  -o, --output  the .slt file to write (-: stdout, not a terminal)\n"
	"  -h, --help    this text\n";

struct gen {
	struct slt_writer w;
	uint64_t rng, ts;
	uint64_t *live;		/* ids of live objects, in no order */
	uint64_t nlive, cap;
	uint64_t ops, threads;
	int err;
};

static uint64_t next_rand(struct gen *g)
{
	uint64_t z = (g->rng += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t below(struct gen *g, uint64_t n)
{
	return next_rand(g) % n;
}

static void tick(struct gen *g)
{
	g->ts += 50 + below(g, 100);	/* 50..149 ns between events */
}

static void do_malloc(struct gen *g, uint32_t tid, uint64_t size)
{
	tick(g);
	uint64_t id = slt_write_alloc(&g->w, SLT_MALLOC, tid, g->ts, size, 0);
	if (id == UINT64_MAX) {
		g->err = 1;
		return;
	}
	if (g->nlive == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 1024;
		uint64_t *p = realloc(g->live, g->cap * sizeof *p);
		if (!p) {
			g->err = 1;
			return;
		}
		g->live = p;
	}
	g->live[g->nlive++] = id;
}

/* Free live[i] (swap-remove). */
static void do_free(struct gen *g, uint32_t tid, uint64_t i)
{
	tick(g);
	if (slt_write_free(&g->w, tid, g->ts, g->live[i]) < 0)
		g->err = 1;
	g->live[i] = g->live[--g->nlive];
}

static void free_all(struct gen *g, uint32_t tid)
{
	while (g->nlive && !g->err)
		do_free(g, tid, g->nlive - 1);
}

static uint64_t pareto(struct gen *g)
{
	double u = ((double)(next_rand(g) >> 11) + 1) / 9007199254740993.0;
	double x = 16.0 / pow(u, 1.0 / 1.1);
	return x > 4194304.0 ? 4194304 : (uint64_t)x;
}

/* uniform and heavytail: a malloc, then frees while more than ops/8 live. */
static void gen_random(struct gen *g, bool heavy)
{
	uint64_t target = g->ops / 8 + 1;
	for (uint64_t i = 0; i < g->ops && !g->err; i++) {
		do_malloc(g, 0, heavy ? pareto(g) : 16 + below(g, 497));
		while (g->nlive > target || (g->nlive > 1 && below(g, 4) == 0))
			do_free(g, 0, below(g, g->nlive));
	}
	free_all(g, 0);
}

/* phases: 8 phases; phase p allocates sizes in [32 << p/2, 64 << p/2). */
static void gen_phases(struct gen *g)
{
	for (int p = 0; p < 8 && !g->err; p++) {
		/* ops allocations in all, spread evenly over the phases */
		uint64_t lo = 32ull << (p / 2), first = g->nlive, per = g->ops / 8 + ((uint64_t)p < g->ops % 8);
		for (uint64_t i = 0; i < per && !g->err; i++)
			do_malloc(g, 0, lo + below(g, lo));
		/* Keep every 16th object of this phase: free the rest, newest first. */
		for (uint64_t i = g->nlive; i-- > first && !g->err;) {
			if ((i - first) % 16 == 0)
				continue;
			do_free(g, 0, i);
		}
		if (slt_write_mark(&g->w, SLT_GC, 0, g->ts) < 0)
			g->err = 1;
	}
	free_all(g, 0);
}

/* prodcons: thread 0 produces bursts; consumers free the oldest objects. */
static void gen_prodcons(struct gen *g)
{
	uint32_t nt = (uint32_t)g->threads;
	for (uint32_t t = 0; t < nt; t++)
		g->err |= slt_write_mark(&g->w, SLT_THREAD_START, t, g->ts) < 0;
	uint64_t head = 0;	/* queue = live[head..nlive) in production order */
	for (uint64_t i = 0; i < g->ops && !g->err; i++) {
		do_malloc(g, 0, 32 + below(g, 993));
		while (g->nlive - head > 64 || (g->nlive > head && below(g, 2))) {
			uint32_t t = 1 + (uint32_t)below(g, nt - 1);
			tick(g);
			g->err |= slt_write_free(&g->w, t, g->ts, g->live[head++]) < 0;
		}
		if (head > 4096) {	/* compact the queue */
			memmove(g->live, g->live + head, (g->nlive - head) * sizeof *g->live);
			g->nlive -= head;
			head = 0;
		}
	}
	while (g->nlive > head && !g->err) {
		tick(g);
		g->err |= slt_write_free(&g->w, 1, g->ts, g->live[head++]) < 0;
	}
	g->nlive = 0;
	for (uint32_t t = nt; t-- > 0;)
		g->err |= slt_write_mark(&g->w, SLT_THREAD_EXIT, t, g->ts) < 0;
}

static const char *const kinds[] = { "uniform", "heavytail", "phases", "prodcons" };

static int parse_args(int argc, char **argv, int *kind, struct gen *g, uint64_t *seed,
		      const char **out)
{
	static const struct option opts[] = {
		{ "ops", required_argument, 0, 'n' },	  { "seed", required_argument, 0, 's' },
		{ "threads", required_argument, 0, 't' }, { "output", required_argument, 0, 'o' },
		{ "help", no_argument, 0, 'h' },	  { 0, 0, 0, 0 },
	};
	int o;
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":n:s:t:o:h", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			if (!cli_parse_u64(optarg, 1, 1000000000, &g->ops))
				return cli_usage("gen", "--ops takes 1..1000000000, not '%s'", optarg);
			break;
		case 's':
			if (!cli_parse_u64(optarg, 0, UINT64_MAX, seed))
				return cli_usage("gen", "--seed takes an unsigned integer, not '%s'", optarg);
			break;
		case 't':
			if (!cli_parse_u64(optarg, 2, 64, &g->threads))
				return cli_usage("gen", "--threads takes 2..64, not '%s'", optarg);
			break;
		case 'o': *out = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		case ':': return cli_usage("gen", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage("gen", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage("gen", optind >= argc ? "missing KIND" : "unexpected argument '%s'",
				 argv[optind + 1 < argc ? optind + 1 : optind]);
	for (*kind = 0; *kind < 4; (*kind)++)
		if (!strcmp(argv[optind], kinds[*kind]))
			break;
	if (*kind == 4)
		return cli_usage("gen", "unknown KIND '%s' (uniform, heavytail, phases, prodcons)",
				 argv[optind]);
	if (!*out)
		return cli_usage("gen", "missing -o OUT.slt");
	if (cli_out_is_stdout(*out) && isatty(1))
		return cli_usage("gen", "refusing to write .slt to a terminal: use -o OUT.slt");
	return 0;
}

int cmd_gen(int argc, char **argv)
{
	struct gen *g = calloc(1, sizeof *g);
	const char *out = NULL;
	uint64_t seed = 1;
	int kind = 0, rc;
	if (!g)
		return cli_fail("gen", "out of memory");
	g->ops = 100000;
	g->threads = 2;
	if ((rc = parse_args(argc, argv, &kind, g, &seed, &out))) {
		free(g);
		return rc < 0 ? SL_EXIT_OK : rc;
	}
	g->rng = seed;
	struct cli_out o;
	if (cli_out_open(&o, out)) {
		free(g);
		return cli_fail("gen", "%s: cannot create: %m", out);
	}
	FILE *f = o.f;
	char meta[256];
	snprintf(meta, sizeof meta,
		 "{\"generator\":\"spanlab gen\",\"kind\":\"%s\",\"ops\":%llu,\"seed\":%llu,"
		 "\"threads\":%llu}", kinds[kind], (unsigned long long)g->ops,
		 (unsigned long long)seed, (unsigned long long)(kind == 3 ? g->threads : 1));
	g->err = slt_writer_init(&g->w, slt_sink_stdio, f, 0, meta) < 0;
	if (!g->err) {
		if (kind <= 1)
			gen_random(g, kind == 1);
		else if (kind == 2)
			gen_phases(g);
		else
			gen_prodcons(g);
	}
	if (!g->err)
		g->err = slt_writer_finish(&g->w) < 0;
	else
		slt_writer_discard(&g->w);
	/* written whole or not at all: never a cut-short trace under OUT's name */
	if (g->err)
		cli_out_abort(&o);
	else
		g->err = cli_out_commit(&o) != 0;
	free(g->live);
	rc = g->err ? cli_fail("gen", "%s: write failed: %m", cli_out_is_stdout(out) ? "stdout" : out) : SL_EXIT_OK;
	free(g);
	return rc;
}
