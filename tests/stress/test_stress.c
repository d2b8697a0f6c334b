/*
 * Stress: NOT A BENCHMARK. Long seeded random traces replayed through the
 * whole engine (replay_run, the CLI's path) with --check: content patterns
 * written at both ends of every object and verified at every free and
 * realloc, the replay's live figures cross-checked against the
 * allocator's, and the tier-3 validators (sl_heap_check, the accounting
 * identity) every N operations. Each configuration replays twice and must
 * give the same figures (determinism).
 *
 * The traces: 1-64 threads mapped onto 1-16 Ps, each thread allocating
 * (malloc, calloc, aligned up to 64 KiB, sizes from tiny to a few MiB with
 * a heavy tail), reallocating, freeing its own objects and objects other
 * threads handed to it (a transfer array, as mimalloc's test-stress
 * does), threads starting and exiting, GC markers. Both free policies,
 * both sweep modes, tiny on and off, GOGC from 25 to off, small and
 * default arenas.
 *
 * `make test` runs the short version (a few seconds); `make stress`
 * (SPANLAB_STRESS=long) runs four times the configurations, each 100
 * times longer (5 M operations). The seed is printed; rerun with SPANLAB_SEED=<seed>.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "slt.h"
#include "testlib.h"

struct rng { uint64_t s; };

static uint64_t next(struct rng *r)	/* splitmix64 */
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n) { return next(r) % n; }

static uint64_t size_of(struct rng *r)
{
	uint64_t k = below(r, 1000);
	if (k < 300)
		return below(r, 16);			/* tiny (and 0) */
	if (k < 900)
		return 16 + below(r, 1024);		/* small */
	if (k < 990)
		return 1024 + below(r, 31 * 1024);	/* up to the largest class */
	if (k < 999)
		return 32769 + below(r, 512 * 1024);	/* large */
	return (1u << 20) + below(r, 3u << 20);		/* a few MiB */
}

struct cfg {
	unsigned threads, procs;
	enum sim_free_policy pol;
	enum sim_sweep_mode sweep;
	bool tiny;
	int64_t gogc;
	uint64_t arena, check_every;
};

/* Write a random trace of `ops` events to path. Live objects are capped
 * (4096) so memory stays bounded however long the trace. */
static void write_trace(const char *path, uint64_t seed, uint64_t ops, unsigned threads)
{
	enum { MAXLIVE = 4096, TRANSFER = 64 };
	struct rng r = { seed };
	FILE *f = fopen(path, "wb");
	cr_assert(f, "cannot write %s", path);
	static struct slt_writer w;
	cr_assert_eq(slt_writer_init(&w, slt_sink_stdio, f, 1000, "{\"generator\":\"test_stress\"}"), 0);
	static uint64_t id[MAXLIVE];
	static uint32_t owner[MAXLIVE];
	uint64_t transfer[TRANSFER];
	unsigned nlive = 0, ntransfer = 0;
	bool started[64] = { false };
	uint64_t ts = 0;

	for (uint64_t n = 0; n < ops; n++) {
		uint32_t t = (uint32_t)below(&r, threads);
		ts += below(&r, 3000);
		if (!started[t]) {
			started[t] = true;
			cr_assert_eq(slt_write_mark(&w, SLT_THREAD_START, t, ts), 0);
			continue;
		}
		uint64_t k = below(&r, 1000);
		if (k < 2) {				/* a GC marker */
			cr_assert_eq(slt_write_mark(&w, SLT_GC, t, ts), 0);
		} else if (k < 4 && threads > 1) {	/* the thread exits; its objects stay */
			cr_assert_eq(slt_write_mark(&w, SLT_THREAD_EXIT, t, ts), 0);
			started[t] = false;
		} else if (k < 40 && nlive && ntransfer < TRANSFER) {	/* hand an object over */
			unsigned i = (unsigned)below(&r, nlive);
			transfer[ntransfer++] = id[i];
			id[i] = id[--nlive];
			owner[i] = owner[nlive];
		} else if (k < 80 && ntransfer) {	/* free a handed-over object */
			unsigned i = (unsigned)below(&r, ntransfer);
			cr_assert_eq(slt_write_free(&w, t, ts, transfer[i]), 0);
			transfer[i] = transfer[--ntransfer];
		} else if (k < 150 && nlive) {		/* realloc */
			unsigned i = (unsigned)below(&r, nlive);
			cr_assert_eq(slt_write_realloc(&w, t, ts, id[i], size_of(&r)), 0);
		} else if ((k < 560 && nlive) || nlive == MAXLIVE) {	/* free, mostly the thread's own */
			unsigned i = (unsigned)below(&r, nlive);
			for (int tries = 0; tries < 4 && owner[i] != t; tries++)
				i = (unsigned)below(&r, nlive);
			cr_assert_eq(slt_write_free(&w, t, ts, id[i]), 0);
			id[i] = id[--nlive];
			owner[i] = owner[nlive];
		} else {				/* allocate */
			uint64_t a = below(&r, 20);
			enum slt_op op = a < 2 ? SLT_CALLOC : a < 3 ? SLT_ALIGNED : SLT_MALLOC;
			uint64_t align = op == SLT_ALIGNED ? 1ull << below(&r, 17) : 0;
			uint64_t v = slt_write_alloc(&w, op, t, ts, size_of(&r), align);
			cr_assert_neq(v, UINT64_MAX);
			id[nlive] = v;
			owner[nlive++] = t;
		}
	}
	cr_assert_eq(slt_writer_finish(&w), 0);
	cr_assert_eq(fclose(f), 0);
}

static void replay_once(const char *path, const struct cfg *c, uint64_t tseed, uint64_t ops,
			struct sim_summary *sum)
{
	struct replay_opts o;
	char err[1024];
	memset(&o, 0, sizeof o);
	config_defaults(&o.cfg);
	o.cfg.procs = c->procs;
	o.cfg.free_policy = c->pol;
	o.cfg.sweep = c->sweep;
	o.cfg.tiny = c->tiny;
	o.cfg.gogc = c->gogc;
	o.cfg.arena_size = c->arena;
	cr_assert_eq(config_resolve(&o.cfg, err, sizeof err), 0, "%s", err);
	o.trace = path;
	o.check = true;
	o.check_every = c->check_every;
	o.quiet = true;
	enum replay_status st = replay_run(&o, NULL, sum, err, sizeof err);
	cr_assert_eq(st, REPLAY_OK, "trace seed %llu (%llu ops), %u threads on %u Ps, %s/%s, tiny %s, GOGC %lld: %s",
		     (unsigned long long)tseed, (unsigned long long)ops, c->threads, c->procs,
		     config_free_policy_name(c->pol), config_sweep_name(c->sweep), c->tiny ? "on" : "off",
		     (long long)c->gogc, err);
}

static void stress(const char *name, uint64_t ops_short, int nconfigs_short)
{
	bool lng = getenv("SPANLAB_STRESS") && !strcmp(getenv("SPANLAB_STRESS"), "long");
	uint64_t ops = lng ? ops_short * 100 : ops_short;
	int nconfigs = lng ? nconfigs_short * 4 : nconfigs_short;
	uint64_t seed = tl_seed(name);
	struct rng r = { seed };
	char *dir = tl_tmpdir(), path[4096];
	snprintf(path, sizeof path, "%s/stress.slt", dir);
	static const unsigned thread_counts[] = { 1, 2, 3, 8, 17, 64 };
	static const int64_t gogcs[] = { 100, 25, 400, -1 };

	for (int i = 0; i < nconfigs; i++) {
		struct cfg c = {
			.threads = thread_counts[below(&r, 6)],
			.procs = 1 + (unsigned)below(&r, 16),
			.pol = i & 1 ? SIM_FREE_IMMEDIATE : SIM_FREE_GC,
			.sweep = i & 2 ? SIM_SWEEP_LAZY : SIM_SWEEP_EAGER,
			.tiny = !(i & 4),
			.gogc = gogcs[below(&r, 4)],
			.arena = below(&r, 2) ? 4u << 20 : 64u << 20,
			.check_every = 500 + below(&r, 10000),
		};
		uint64_t tseed = next(&r);
		write_trace(path, tseed, ops, c.threads);
		struct sim_summary a, b;
		replay_once(path, &c, tseed, ops, &a);
		replay_once(path, &c, tseed, ops, &b);
		cr_assert(a.ops == b.ops && a.peak_heap_inuse_bytes == b.peak_heap_inuse_bytes &&
			  a.peak_ready_bytes == b.peak_ready_bytes && a.refills == b.refills &&
			  a.span_moves == b.span_moves && a.arena_transitions == b.arena_transitions &&
			  a.gc_cycles == b.gc_cycles && a.final_live_bytes == b.final_live_bytes,
			  "config %d: two replays of one trace differ", i);
		fprintf(stderr, "  config %2d: %2u threads on %2u Ps, %-9s %-5s tiny %-3s GOGC %4lld, %2llu MiB arenas, "
				"check every %5llu: %llu ops, %lld GC cycles, peak in-use %.1f MiB\n",
			i, c.threads, c.procs, config_free_policy_name(c.pol), config_sweep_name(c.sweep),
			c.tiny ? "on" : "off", (long long)c.gogc, (unsigned long long)(c.arena >> 20),
			(unsigned long long)c.check_every, (unsigned long long)a.ops, (long long)a.gc_cycles,
			(double)a.peak_heap_inuse_bytes / (1 << 20));
	}
	tl_tmpdir_remove(dir);
}

/* Every combination of policy, sweep and tiny appears in the first 8
 * configurations (bits of the index); threads, Ps, GOGC and arenas are
 * drawn from the seed. */
Test(stress, random_traces_all_policies, .timeout = 0)
{
	stress("stress/random_traces_all_policies", 50000, 8);
}

/*
 * Regression: `make stress` (seed 1795869126466552132, 8 threads on 4 Ps,
 * gc/lazy) found that mcentral_cache_span swept unswept spans without
 * checking whether any were left, so after it swept the last one the heap
 * failed its own validator ("sweep_done 0 with 0 unswept spans"); the
 * core's random-ops test found it too, and main fixed it (6f71698). The
 * trace below is the stress trace of that seed, cut to its first 27,000
 * steps (~26,000 events; the first failing check was at op 25,525),
 * replayed with validators after every operation.
 */
Test(stress, sweep_done_after_cache_span, .timeout = 600)
{
	char *dir = tl_tmpdir(), path[4096];
	snprintf(path, sizeof path, "%s/sweep-done.slt", dir);
	const uint64_t tseed = 10155607034857903342ull, ops = 27000;
	write_trace(path, tseed, ops, 8);
	struct cfg c = { .threads = 8, .procs = 4, .pol = SIM_FREE_GC, .sweep = SIM_SWEEP_LAZY, .tiny = true,
			 .gogc = 100, .arena = 64u << 20, .check_every = 1 };
	struct sim_summary s;
	replay_once(path, &c, tseed, ops, &s);
	tl_tmpdir_remove(dir);
}
