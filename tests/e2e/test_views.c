/*
 * The analysis views (analysis/views.sql) against independent figures:
 * every test replays small traces into a fresh database with the real
 * spanlab binary, then recomputes what a view says from the raw tables in
 * C (counting rows, running sums, maxima) with the core's enum values
 * rather than the lookup tables the views join, and compares. Where the
 * replay's own summary (runs.*) holds the same figure, computed from the
 * allocator's counters, it is a third witness.
 *
 * The runs of the database:
 *   1  git-index-pack.slt     gc (default config), a snapshot after every operation
 *   2  go-wordtree.slt        gc: a GC cycle from a trace marker, no timestamps
 *   3  git-index-pack.slt --free immediate
 *   4  uniform (spanlab gen)  gc: sizes 16..512, so no tiny allocations
 *   5  git-index-pack.slt --gogc 50 --procs 2 --sweep lazy
 *   6  git-index-pack.slt     gc again: the same label as run 1
 *   7  git-index-pack.slt with a config: max_waste 0.25, tiny off
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "sha256.h"
#include "testlib.h"

#define NRUNS 7

/* The database is built once, before the first test (Criterion's PRE_ALL
 * hook, in the runner), and every test opens it read-only: its path goes
 * to the tests, which run in processes of their own, through the
 * environment. */
#define DB_ENV "SPANLAB_TEST_VIEWS_DB"

static char *dir;
static sqlite3 *db;

static int replay(const char *dbpath, const char *trace, const char *const *extra)
{
	const char *argv[16] = { "spanlab", "replay", trace, "--db", dbpath, "--quiet" };
	int n = 6;
	for (; extra && *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	struct tl_run r;
	if (tl_run(&r, NULL, argv) || r.status != 0) {
		fprintf(stderr, "test_views: replay %s failed: %s\n", trace, r.err ? r.err : "cannot run spanlab");
		tl_run_free(&r);
		return -1;
	}
	tl_run_free(&r);
	return 0;
}

static int build_db(const char *dbpath)
{
	char git[4096], wordtree[4096], uniform[4096], cfg[4096];
	snprintf(uniform, sizeof uniform, "%s/uniform.slt", dir);
	snprintf(cfg, sizeof cfg, "%s/waste.json", dir);
	tl_root_path("traces/data/git-index-pack.slt", git, sizeof git);
	tl_root_path("traces/data/go-wordtree.slt", wordtree, sizeof wordtree);
	const char *json = "{\"sizeclasses\": {\"max_waste\": 0.25}, \"tiny\": false}";
	struct tl_run r;
	if (tl_write_file(cfg, json, strlen(json)) ||
	    tl_run(&r, NULL, (const char *const[]){ "spanlab", "gen", "uniform", "--ops", "20000", "--seed", "3", "-o",
						    uniform, NULL }) || r.status != 0) {
		fprintf(stderr, "test_views: cannot write the inputs\n");
		return -1;
	}
	tl_run_free(&r);
	static const char *const every_op[] = { "--snapshot-every", "1", NULL };
	return replay(dbpath, git, every_op) || replay(dbpath, wordtree, NULL) ||
	       replay(dbpath, git, (const char *const[]){ "--free", "immediate", NULL }) ||
	       replay(dbpath, uniform, NULL) ||
	       replay(dbpath, git, (const char *const[]){ "--gogc", "50", "--procs", "2", "--sweep", "lazy", NULL }) ||
	       replay(dbpath, git, every_op) || replay(dbpath, git, (const char *const[]){ "--config", cfg, NULL });
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	char path[4096];
	dir = tl_tmpdir();
	if (!dir)
		return;
	snprintf(path, sizeof path, "%s/views.db", dir);
	if (build_db(path) == 0)
		setenv(DB_ENV, path, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	tl_tmpdir_remove(dir);
	dir = NULL;
}

static void setup(void)
{
	const char *path = getenv(DB_ENV);
	cr_assert(path, "the test database could not be built (see the messages above)");
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
}

static void teardown(void)
{
	sqlite3_close(db);
}

TestSuite(views, .init = setup, .fini = teardown, .timeout = 60);

/* ---- small query helpers ------------------------------------------------ */

static sqlite3_stmt *prep(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_free(sql);
	return st;
}

/* The first column of the first row (the row must exist). */
static double q_real(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: no row", sql);
	double v = sqlite3_column_type(st, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return v;
}

static int64_t q_int(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: no row", sql);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return v;
}

static double col_real(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* Equal as doubles up to rounding (both NaN counts as equal: both NULL). */
static int same(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return fabs(a - b) <= 1e-12 * fmax(1.0, fabs(b));
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

/* ---- the views are in the database, from this views.sql ------------------ */

Test(views, installed_from_this_views_file)
{
	static const char *const names[] = { "v_runs", "v_memory", "v_fragmentation", "v_jw", "v_hit_rates",
					     "v_size_classes", "v_arena_states", "v_refill_sources", "v_gc_cycles",
					     "v_summary" };
	char path[4096], hex[65];
	tl_root_path("analysis/views.sql", path, sizeof path);
	cr_assert_eq(sha256_file(path, hex), 0);
	sqlite3_stmt *st = prep("SELECT value FROM meta WHERE key = 'views_sha256'");
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "no views_sha256 in meta: views not installed");
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), hex, "the database's views are not analysis/views.sql");
	sqlite3_finalize(st);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		cr_assert_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE type = 'view' AND name = %Q", names[i]), 1,
			     "view %s missing", names[i]);
		cr_assert_eq(q_int("SELECT instr(' ' || value || ' ', ' %q ') > 0 FROM meta WHERE key = 'views'", names[i]),
			     1, "meta.views does not list %s", names[i]);
		q_int("SELECT count(*) FROM %s", names[i]); /* runs without error */
	}
	cr_assert_eq(q_int("SELECT count(*) FROM runs WHERE status = 'complete'"), NRUNS);
}

/* ---- hit rates ---------------------------------------------------------- */

struct tier { const char *name; double rate; int64_t lookups, misses; };

static void view_tier(int64_t run, const char *tier, struct tier *t)
{
	sqlite3_stmt *st = prep("SELECT hit_rate, lookups, misses, hits, summary_hit_rate FROM v_hit_rates "
				"WHERE run_id = %lld AND tier = %Q", (long long)run, tier);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "run %lld: no %s row", (long long)run, tier);
	t->name = tier;
	t->rate = col_real(st, 0);
	t->lookups = sqlite3_column_int64(st, 1);
	t->misses = sqlite3_column_int64(st, 2);
	cr_assert_eq(sqlite3_column_int64(st, 3) + t->misses, t->lookups, "%s: hits + misses != lookups", tier);
	cr_assert_eq(sqlite3_step(st), SQLITE_DONE, "run %lld: two %s rows", (long long)run, tier);
	sqlite3_finalize(st);
}

Test(views, hit_rates_from_the_event_log_and_the_summary)
{
	for (int64_t run = 1; run <= NRUNS; run++) {
		/* Independent counts: the raw rows, classified by the core's enum values. */
		int64_t refills = 0, refill_grow = 0, pages = 0, page_cached = 0, page_grow = 0, slots = 0;
		sqlite3_stmt *st = prep("SELECT source FROM cache_refills WHERE run_id = %lld", (long long)run);
		while (sqlite3_step(st) == SQLITE_ROW) {
			refills++;
			refill_grow += sqlite3_column_int(st, 0) == SL_REFILL_GROW;
		}
		sqlite3_finalize(st);
		st = prep("SELECT source FROM span_allocs WHERE run_id = %lld", (long long)run);
		while (sqlite3_step(st) == SQLITE_ROW) {
			pages++;
			page_cached += sqlite3_column_int(st, 0) == SL_PAGE_PAGECACHE;
			page_grow += sqlite3_column_int(st, 0) == SL_PAGE_GROW;
		}
		sqlite3_finalize(st);
		st = prep("SELECT size_class, mallocs, tiny_allocs FROM size_class_stats WHERE run_id = %lld",
			  (long long)run);
		while (sqlite3_step(st) == SQLITE_ROW)
			if (sqlite3_column_int(st, 0) > 0)
				slots += sqlite3_column_int64(st, 1) + sqlite3_column_int64(st, 2);
		sqlite3_finalize(st);
		cr_assert_gt(refills, 0, "run %lld has no refills: a weak test", (long long)run);
		cr_assert_eq(refills, q_int("SELECT refills FROM runs WHERE run_id = %lld", (long long)run),
			     "run %lld: refill events != the summary's refills", (long long)run);

		struct tier mc, ce, pc, hp;
		view_tier(run, "mcache", &mc);
		view_tier(run, "mcentral", &ce);
		view_tier(run, "pagecache", &pc);
		view_tier(run, "heap", &hp);
		cr_assert_eq(q_int("SELECT count(*) FROM v_hit_rates WHERE run_id = %lld", (long long)run), 4);

		/* mcache: 1 - refills / small allocations, tiny-packed ones included (docs/figures.md) */
		cr_assert_eq(mc.lookups, slots);
		cr_assert_eq(mc.misses, refills);
		cr_assert(same(mc.rate, 1.0 - (double)refills / (double)slots), "run %lld mcache %.15g", (long long)run,
			  mc.rate);
		double sum_mc = q_real("SELECT hit_rate_mcache FROM runs WHERE run_id = %lld", (long long)run);
		cr_assert(same(mc.rate, sum_mc), "run %lld: view %.15g, summary %.15g", (long long)run, mc.rate, sum_mc);

		/* mcentral, pagecache, heap: the events against the allocator's counters */
		double want_ce = ratio((double)(refills - refill_grow), (double)refills);
		double want_pc = ratio((double)page_cached, (double)pages);
		double want_hp = ratio((double)(pages - page_cached - page_grow), (double)(pages - page_cached));
		cr_assert(same(ce.rate, want_ce), "run %lld mcentral %.15g want %.15g", (long long)run, ce.rate, want_ce);
		cr_assert(same(pc.rate, want_pc), "run %lld pagecache %.15g want %.15g", (long long)run, pc.rate, want_pc);
		cr_assert(same(hp.rate, want_hp), "run %lld heap %.15g want %.15g", (long long)run, hp.rate, want_hp);
		cr_assert(same(ce.rate, q_real("SELECT hit_rate_mcentral FROM runs WHERE run_id = %lld", (long long)run)));
		cr_assert(same(pc.rate, q_real("SELECT hit_rate_pagecache FROM runs WHERE run_id = %lld", (long long)run)));
		cr_assert(same(hp.rate, q_real("SELECT hit_rate_heap FROM runs WHERE run_id = %lld", (long long)run)));
	}
}

/* ---- memory and fragmentation over time --------------------------------- */

Test(views, memory_and_fragmentation_rows_are_the_snapshots)
{
	for (int64_t run = 1; run <= NRUNS; run++) {
		/* snapshot kinds 2 (final), 1 (peak_live), 0 (periodic) sort as the names do */
		sqlite3_stmt *raw = prep("SELECT kind, op, live_bytes, heap_inuse_bytes, ready_bytes, heap_sys_bytes, "
					 "internal_frag_bytes, clock_bytes FROM snapshots WHERE run_id = %lld "
					 "ORDER BY kind DESC, op", (long long)run);
		sqlite3_stmt *v = prep("SELECT kind, op, live_bytes, inuse_over_live, ready_over_live, "
				       "sys_over_live, internal_over_live, clock_bytes FROM v_fragmentation "
				       "WHERE run_id = %lld ORDER BY kind, op", (long long)run);
		sqlite3_stmt *m = prep("SELECT heap_inuse_bytes, ready_bytes, heap_sys_bytes, live_rounded_bytes "
				       "FROM v_memory WHERE run_id = %lld ORDER BY kind, op", (long long)run);
		static const char *const kind_names[] = { "periodic", "peak_live", "final" };
		int64_t peak_live_op = q_int("SELECT peak_live_op FROM runs WHERE run_id = %lld", (long long)run);
		int64_t rows = 0;
		while (sqlite3_step(raw) == SQLITE_ROW) {
			cr_assert_eq(sqlite3_step(v), SQLITE_ROW, "run %lld: fewer view rows than snapshots", (long long)run);
			int kind = sqlite3_column_int(raw, 0);
			int64_t op = sqlite3_column_int64(raw, 1);
			double live = sqlite3_column_double(raw, 2);
			cr_assert_str_eq((const char *)sqlite3_column_text(v, 0), kind_names[kind]);
			/* every row's op counts operations replayed: the peak_live row comes
			 * right after operation index peak_live_op */
			cr_assert_eq(sqlite3_column_int64(v, 1), op);
			if (kind == 1)
				cr_assert_eq(op, peak_live_op + 1, "run %lld: peak row at op %lld", (long long)run,
					     (long long)op);
			cr_assert_eq(sqlite3_column_int64(v, 7), sqlite3_column_int64(raw, 7));
			cr_assert_eq(sqlite3_step(m), SQLITE_ROW);
			cr_assert_eq(sqlite3_column_int64(m, 0), sqlite3_column_int64(raw, 3));
			cr_assert_eq(sqlite3_column_int64(m, 1), sqlite3_column_int64(raw, 4));
			cr_assert_eq(sqlite3_column_int64(m, 2), sqlite3_column_int64(raw, 5));
			cr_assert_eq(sqlite3_column_int64(m, 3) - (int64_t)live, sqlite3_column_int64(raw, 6),
				     "live rounded - live != internal waste");
			cr_assert(same(col_real(v, 3), ratio(sqlite3_column_double(raw, 3), live)));
			cr_assert(same(col_real(v, 4), ratio(sqlite3_column_double(raw, 4), live)));
			cr_assert(same(col_real(v, 5), ratio(sqlite3_column_double(raw, 5), live)));
			cr_assert(same(col_real(v, 6), ratio(sqlite3_column_double(raw, 6), live)));
			rows++;
		}
		cr_assert_eq(sqlite3_step(v), SQLITE_DONE, "run %lld: more view rows than snapshots", (long long)run);
		cr_assert_eq(rows, q_int("SELECT snapshot_rows FROM runs WHERE run_id = %lld", (long long)run));
		sqlite3_finalize(raw);
		sqlite3_finalize(v);
		sqlite3_finalize(m);
	}
	/* run 1 has a snapshot after every operation: the peak_live row must be
	 * the state of the periodic row with the same op (the +1 is right). */
	cr_assert_eq(q_int("SELECT count(*) FROM v_memory p JOIN v_memory q USING (run_id, op) "
			   "WHERE p.run_id = 1 AND p.kind = 'peak_live' AND q.kind = 'periodic' "
			   "AND p.live_bytes = q.live_bytes AND p.heap_inuse_bytes = q.heap_inuse_bytes "
			   "AND p.clock_bytes = q.clock_bytes"), 1);
}

/* ---- Johnstone & Wilson ------------------------------------------------- */

Test(views, jw_measures_from_the_snapshots)
{
	static const char *const mem[] = { "heap_inuse", "ready" };
	static const char *const col[] = { "heap_inuse_bytes", "ready_bytes" };
	for (int64_t run = 1; run <= NRUNS; run++) {
		int64_t peak_live = q_int("SELECT peak_live_bytes FROM runs WHERE run_id = %lld", (long long)run);
		int every_op = q_int("SELECT count(*) = max(op) FROM snapshots WHERE run_id = %lld AND kind = 0",
				     (long long)run);
		for (int m = 0; m < 2; m++) {
			double sum_m = 0, sum_l = 0, max_m = 0, live_at_max = 0;
			sqlite3_stmt *st = prep("SELECT %s, live_bytes FROM snapshots WHERE run_id = %lld AND kind = 0 "
						"ORDER BY op", col[m], (long long)run);
			while (sqlite3_step(st) == SQLITE_ROW) {
				double mm = sqlite3_column_double(st, 0), l = sqlite3_column_double(st, 1);
				sum_m += mm;
				sum_l += l;
				if (mm > max_m) {
					max_m = mm;
					live_at_max = l;
				}
			}
			sqlite3_finalize(st);
			double at_peak = q_real("SELECT %s FROM snapshots WHERE run_id = %lld AND kind = 1", col[m],
						(long long)run);
			sqlite3_stmt *v = prep("SELECT jw1, jw2, jw3, jw4, peak_memory_bytes, peak_live_bytes FROM v_jw "
					       "WHERE run_id = %lld AND memory = %Q", (long long)run, mem[m]);
			cr_assert_eq(sqlite3_step(v), SQLITE_ROW);
			cr_assert(same(col_real(v, 0), sum_m / sum_l - 1), "run %lld %s #1", (long long)run, mem[m]);
			cr_assert(same(col_real(v, 1), at_peak / (double)peak_live - 1), "run %lld %s #2", (long long)run,
				  mem[m]);
			cr_assert_eq(sqlite3_column_int64(v, 5), peak_live);
			/* #3 and #4 take the maxima after every operation; snapshots can only miss one */
			double jw4 = col_real(v, 3);
			cr_assert(same(jw4, sqlite3_column_double(v, 4) / (double)peak_live - 1));
			cr_assert_leq(max_m / (double)peak_live - 1, jw4 + 1e-12, "run %lld %s #4", (long long)run, mem[m]);
			if (every_op) {
				cr_assert(same(jw4, max_m / (double)peak_live - 1), "run %lld %s #4", (long long)run, mem[m]);
				cr_assert(same(col_real(v, 2), max_m / live_at_max - 1), "run %lld %s #3", (long long)run,
					  mem[m]);
			}
			sqlite3_finalize(v);
		}
	}
	cr_assert_eq(q_int("SELECT count(*) FROM snapshots WHERE run_id = 1 AND kind = 0"),
		     q_int("SELECT ops FROM runs WHERE run_id = 1"), "run 1 should snapshot every operation");
}

/* ---- per size class ----------------------------------------------------- */

Test(views, size_classes_count_the_refill_events)
{
	for (int64_t run = 1; run <= NRUNS; run++) {
		int64_t by_class[256] = { 0 };
		sqlite3_stmt *st = prep("SELECT spc FROM cache_refills WHERE run_id = %lld", (long long)run);
		while (sqlite3_step(st) == SQLITE_ROW)
			by_class[(sqlite3_column_int(st, 0) >> 1) & 255]++;
		sqlite3_finalize(st);
		sqlite3_stmt *v = prep("SELECT v.size_class, v.refill_events, v.refills, v.slot_hit_rate, v.mallocs, "
				       "c.refills, c.mallocs, c.peak_spans, v.peak_spans "
				       "FROM v_size_classes v JOIN size_class_stats c USING (run_id, size_class) "
				       "WHERE run_id = %lld ORDER BY size_class", (long long)run);
		int64_t rows = 0, with_refills = 0;
		while (sqlite3_step(v) == SQLITE_ROW) {
			int c = sqlite3_column_int(v, 0);
			int64_t refills = sqlite3_column_int64(v, 2), mallocs = sqlite3_column_int64(v, 4);
			cr_assert_eq(sqlite3_column_int64(v, 1), by_class[c], "run %lld class %d", (long long)run, c);
			cr_assert_eq(refills, by_class[c], "run %lld class %d: counter != events", (long long)run, c);
			cr_assert_eq(refills, sqlite3_column_int64(v, 5));
			cr_assert_eq(mallocs, sqlite3_column_int64(v, 6));
			cr_assert_eq(sqlite3_column_int64(v, 7), sqlite3_column_int64(v, 8));
			if (c == 0)
				cr_assert(isnan(col_real(v, 3)), "large objects have no slot hit rate");
			else
				cr_assert(same(col_real(v, 3), mallocs ? 1.0 - (double)refills / (double)mallocs : NAN));
			with_refills += refills > 0;
			rows++;
		}
		sqlite3_finalize(v);
		cr_assert_eq(rows, q_int("SELECT count(*) FROM size_class_stats WHERE run_id = %lld", (long long)run));
		cr_assert_gt(with_refills, 1);
	}
}

/* ---- arena states ------------------------------------------------------- */

Test(views, arena_states_are_running_sums_and_match_the_snapshots)
{
	for (int64_t run = 1; run <= NRUNS; run++) {
		int64_t state[SL_MEM_NSTATES] = { 0 };
		sqlite3_stmt *raw = prep("SELECT seq, op, bytes, from_state, to_state FROM arena_transitions "
					 "WHERE run_id = %lld ORDER BY seq", (long long)run);
		sqlite3_stmt *v = prep("SELECT seq, op, reserved_bytes, prepared_bytes, ready_bytes FROM v_arena_states "
				       "WHERE run_id = %lld AND kind = 'transition' ORDER BY seq", (long long)run);
		sqlite3_stmt *snap = prep("SELECT op, reserved_bytes, heap_sys_bytes, ready_bytes FROM snapshots "
					  "WHERE run_id = %lld AND kind = 0 ORDER BY op", (long long)run);
		int have_snap = sqlite3_step(snap) == SQLITE_ROW;
		int64_t transitions = 0, checked = 0;
		while (sqlite3_step(raw) == SQLITE_ROW) {
			int64_t op = sqlite3_column_int64(raw, 1), bytes = sqlite3_column_int64(raw, 2);
			/* snapshots taken before this transition's operation see the state so far */
			while (have_snap && sqlite3_column_int64(snap, 0) <= op) {
				cr_assert_eq(state[SL_MEM_READY], sqlite3_column_int64(snap, 3), "run %lld op %lld",
					     (long long)run, (long long)sqlite3_column_int64(snap, 0));
				cr_assert_eq(state[SL_MEM_PREPARED] + state[SL_MEM_READY], sqlite3_column_int64(snap, 2));
				cr_assert_eq(state[SL_MEM_RESERVED], sqlite3_column_int64(snap, 1));
				checked++;
				have_snap = sqlite3_step(snap) == SQLITE_ROW;
			}
			state[sqlite3_column_int(raw, 3)] -= bytes;
			state[sqlite3_column_int(raw, 4)] += bytes;
			cr_assert_eq(sqlite3_step(v), SQLITE_ROW);
			cr_assert_eq(sqlite3_column_int64(v, 0), sqlite3_column_int64(raw, 0));
			cr_assert_eq(sqlite3_column_int64(v, 1), op);
			cr_assert_eq(sqlite3_column_int64(v, 2), state[SL_MEM_RESERVED]);
			cr_assert_eq(sqlite3_column_int64(v, 3), state[SL_MEM_PREPARED]);
			cr_assert_eq(sqlite3_column_int64(v, 4), state[SL_MEM_READY]);
			transitions++;
		}
		for (; have_snap; have_snap = sqlite3_step(snap) == SQLITE_ROW, checked++)
			cr_assert_eq(state[SL_MEM_READY], sqlite3_column_int64(snap, 3));
		cr_assert_eq(sqlite3_step(v), SQLITE_DONE);
		cr_assert_gt(transitions, 2);
		cr_assert_gt(checked, 100, "run %lld: %lld snapshots checked", (long long)run, (long long)checked);
		sqlite3_finalize(raw);
		sqlite3_finalize(v);
		sqlite3_finalize(snap);
		/* the end row: the state after the last transition, at the run's last operation */
		sqlite3_stmt *end = prep("SELECT op, reserved_bytes, prepared_bytes, ready_bytes FROM v_arena_states "
					 "WHERE run_id = %lld AND kind = 'end'", (long long)run);
		cr_assert_eq(sqlite3_step(end), SQLITE_ROW);
		cr_assert_eq(sqlite3_column_int64(end, 0), q_int("SELECT ops FROM runs WHERE run_id = %lld", (long long)run));
		cr_assert_eq(sqlite3_column_int64(end, 1), state[SL_MEM_RESERVED]);
		cr_assert_eq(sqlite3_column_int64(end, 2), state[SL_MEM_PREPARED]);
		cr_assert_eq(sqlite3_column_int64(end, 3), state[SL_MEM_READY]);
		cr_assert_eq(sqlite3_step(end), SQLITE_DONE);
		sqlite3_finalize(end);
		cr_assert_eq(state[SL_MEM_READY], q_int("SELECT ready_bytes FROM snapshots WHERE run_id = %lld AND kind = 2",
							(long long)run));
	}
}

/* ---- refill sources and GC cycles ---------------------------------------- */

Test(views, refill_sources_count_every_source)
{
	for (int64_t run = 1; run <= NRUNS; run++) {
		int64_t n[SL_REFILL_NSOURCES] = { 0 }, all = 0;
		sqlite3_stmt *st = prep("SELECT source FROM cache_refills WHERE run_id = %lld", (long long)run);
		while (sqlite3_step(st) == SQLITE_ROW) {
			n[sqlite3_column_int(st, 0)]++;
			all++;
		}
		sqlite3_finalize(st);
		static const char *const names[] = { "partial_swept", "partial_unswept", "full_unswept", "grow" };
		double total = 0;
		for (int s = 0; s < SL_REFILL_NSOURCES; s++) {
			sqlite3_stmt *v = prep("SELECT refills, fraction FROM v_refill_sources WHERE run_id = %lld AND "
					       "source = %Q", (long long)run, names[s]);
			cr_assert_eq(sqlite3_step(v), SQLITE_ROW, "run %lld: no row for %s", (long long)run, names[s]);
			cr_assert_eq(sqlite3_column_int64(v, 0), n[s], "run %lld %s", (long long)run, names[s]);
			cr_assert(same(col_real(v, 1), (double)n[s] / (double)all));
			total += col_real(v, 1);
			sqlite3_finalize(v);
		}
		cr_assert(same(total, 1.0));
		cr_assert_eq(q_int("SELECT count(*) FROM v_refill_sources WHERE run_id = %lld", (long long)run),
			     SL_REFILL_NSOURCES);
	}
}

Test(views, gc_cycles_one_row_per_cycle)
{
	for (int64_t run = 1; run <= NRUNS; run++) {
		int64_t cycles = q_int("SELECT gc_cycles FROM runs WHERE run_id = %lld", (long long)run);
		cr_assert_eq(q_int("SELECT count(*) FROM v_gc_cycles WHERE run_id = %lld AND heap_marked IS NOT NULL",
				   (long long)run), cycles, "run %lld", (long long)run);
		cr_assert_eq(q_int("SELECT count(*) FROM v_gc_cycles WHERE run_id = %lld", (long long)run),
			     q_int("SELECT count(*) FROM gc_cycles WHERE run_id = %lld", (long long)run));
		/* per cycle: the start and end columns of the table, under their view names */
		cr_assert_eq(q_int("SELECT count(*) FROM v_gc_cycles v JOIN gc_cycles g USING (run_id, cycle) "
				   "WHERE run_id = %lld AND v.heap_live = g.heap_live AND v.heap_goal = g.heap_goal "
				   "AND v.heap_marked = g.end_heap_marked AND v.next_heap_goal = g.end_heap_goal",
				   (long long)run), cycles);
	}
	cr_assert_eq(q_int("SELECT count(*) FROM v_gc_cycles WHERE run_id = 3"), 0, "the immediate policy has no GC");
	cr_assert_gt(q_int("SELECT count(*) FROM v_gc_cycles WHERE run_id = 2 AND reason = 'marker'"), 0,
		     "go-wordtree's cycles come from its GC markers");
	cr_assert_gt(q_int("SELECT count(*) FROM v_gc_cycles WHERE run_id = 1 AND reason = 'pacer'"), 0);
}

/* ---- labels and the summary --------------------------------------------- */

Test(views, run_labels_name_trace_and_config)
{
	static const char *const want[NRUNS + 1] = {
		NULL,
		"git-index-pack gc #1",
		"go-wordtree gc",
		"git-index-pack immediate",
		"uniform gc",
		"git-index-pack gc lazy-sweep GOGC=50 P=2",
		"git-index-pack gc #6",
		"git-index-pack gc no-tiny max-waste=0.25",
	};
	for (int64_t run = 1; run <= NRUNS; run++) {
		sqlite3_stmt *st = prep("SELECT label FROM v_runs WHERE run_id = %lld", (long long)run);
		cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
		cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), want[run], "run %lld", (long long)run);
		sqlite3_finalize(st);
	}
	cr_assert_eq(q_int("SELECT count(DISTINCT label) FROM v_runs"), NRUNS, "labels must tell runs apart");
}

/* Labels drop .slt and .gz, so runs can share one that their trace names
 * do not: a text trace w and its conversion w.slt both read "w gc", and
 * used to keep that label (the repeats were found by the name with only
 * .gz dropped). Runs that did not complete can share one too. Every label
 * must be unique: figures use them as legend and series names. */
Test(views, run_labels_are_unique_when_only_the_suffix_differs)
{
	char *tmp = tl_tmpdir(), path[4096], text[4096], slt[4096];
	cr_assert(tmp);
	snprintf(path, sizeof path, "%s/labels.db", tmp);
	snprintf(text, sizeof text, "%s/w", tmp);
	snprintf(slt, sizeof slt, "%s/w.slt", tmp);
	const char *body = "# spanlab text trace v1\nm 1 100\nm 2 5000\nf 1\nm 3 70000\nf 2\nf 3\n";
	cr_assert_eq(tl_write_file(text, body, strlen(body)), 0);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ "spanlab", "convert", text, "-o", slt, NULL }), 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	cr_assert_eq(replay(path, text, NULL), 0);
	cr_assert_eq(replay(path, slt, NULL), 0);
	/* two runs that fail alike: the OS refuses the heap's first mapping */
	setenv("SPANLAB_FAULT_OS", "map:1", 1);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ "spanlab", "replay", text, "--db", path, "-q", NULL }),
			     0);
		cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
		tl_run_free(&r);
	}
	unsetenv("SPANLAB_FAULT_OS");
	/* w.slt without its footer and the end of its END record: a trace
	 * cut short, which the label must say (runs.trace_complete = 0) */
	char cut[4200];
	size_t len;
	char *whole = tl_read_file(slt, &len);
	cr_assert(whole && len > 20);
	snprintf(cut, sizeof cut, "%s/w-cut.slt", tmp);
	cr_assert_eq(tl_write_file(cut, whole, len - 14), 0);
	free(whole);
	cr_assert_eq(replay(path, cut, NULL), 0);

	sqlite3 *d;
	cr_assert_eq(sqlite3_open_v2(path, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	static const char *const want[] = { "w gc #1", "w gc #2", "w gc (failed) #3", "w gc (failed) #4",
					    "w-cut gc (trace cut short)" };
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(d, "SELECT label FROM v_runs ORDER BY run_id", -1, &st, NULL), SQLITE_OK,
		     "%s", sqlite3_errmsg(d));
	size_t n = 0;
	for (; sqlite3_step(st) == SQLITE_ROW; n++) {
		cr_assert_lt(n, sizeof want / sizeof *want);
		cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), want[n], "run %zu", n + 1);
	}
	cr_assert_eq(n, sizeof want / sizeof *want);
	sqlite3_finalize(st);
	sqlite3_close(d);
	tl_tmpdir_remove(tmp);
}

Test(views, summary_is_the_runs_and_the_hit_rates)
{
	cr_assert_eq(q_int("SELECT count(*) FROM v_summary"), NRUNS);
	cr_assert_eq(q_int("SELECT count(*) FROM v_summary s JOIN runs r USING (run_id) "
			   "WHERE s.ops = r.ops AND s.peak_live_bytes = r.peak_live_bytes "
			   "AND s.peak_heap_inuse_bytes = r.peak_heap_inuse_bytes AND s.peak_ready_bytes = r.peak_ready_bytes "
			   "AND s.frag_inuse_jw3 = r.frag_inuse_jw3 AND s.frag_inuse_jw4 = r.frag_inuse_jw4 "
			   "AND s.frag_ready_jw3 = r.frag_ready_jw3 AND s.frag_ready_jw4 = r.frag_ready_jw4"), NRUNS);
	static const char *const tiers[] = { "mcache", "mcentral", "pagecache", "heap" };
	for (int t = 0; t < 4; t++)
		cr_assert_eq(q_int("SELECT count(*) FROM v_summary s JOIN v_hit_rates h USING (run_id) "
				   "WHERE h.tier = %Q AND s.hit_rate_%s IS h.hit_rate", tiers[t], tiers[t]), NRUNS,
			     "%s", tiers[t]);
}

/* A run logged without its event rows ("log_events": false) has nothing
 * for the views to count: its hit rates are the summary's, and the tier
 * counts are NULL rather than zeros that would read as 100% hits. */
Test(views, hit_rates_of_a_run_logged_without_events)
{
	char *tmp = tl_tmpdir(), path[4096], trace[4096];
	cr_assert(tmp);
	snprintf(path, sizeof path, "%s/noev.db", tmp);
	tl_root_path("traces/data/go-wordtree.slt", trace, sizeof trace);
	cr_assert_eq(replay(path, trace, (const char *const[]){ "--no-events", NULL }), 0);
	sqlite3 *d;
	cr_assert_eq(sqlite3_open_v2(path, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(d,
		"SELECT h.tier, h.hit_rate, h.lookups, CASE h.tier WHEN 'mcache' THEN r.hit_rate_mcache "
		"WHEN 'mcentral' THEN r.hit_rate_mcentral WHEN 'pagecache' THEN r.hit_rate_pagecache "
		"ELSE r.hit_rate_heap END, (SELECT count(*) FROM cache_refills) "
		"FROM v_hit_rates h JOIN runs r USING (run_id)", -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(d));
	int rows = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		rows++;
		cr_assert_eq(sqlite3_column_int(st, 4), 0, "event rows were logged");
		cr_assert_eq(sqlite3_column_type(st, 2), SQLITE_NULL, "%s: lookups counted from no rows",
			     sqlite3_column_text(st, 0));
		cr_assert_float_eq(sqlite3_column_double(st, 1), sqlite3_column_double(st, 3), 1e-12, "%s",
				   sqlite3_column_text(st, 0));
		cr_assert_lt(sqlite3_column_double(st, 1), 1.0, "%s: a perfect hit rate from no rows",
			     sqlite3_column_text(st, 0));
	}
	cr_assert_eq(rows, 4);
	sqlite3_finalize(st);
	sqlite3_close(d);
	tl_tmpdir_remove(tmp);
}

/* Unknown is NULL, never 0: a baseline's run has no tiers (hit-rate
 * counts and refill sources NULL, not zeros), nor refill sources has a run
 * logged without events; the immediate policy has no GC goal (0, as with
 * GOGC off). And a 0-byte request, served as 1 byte, is waste: live
 * rounded = live + internal fragmentation at every snapshot, the
 * per-class figures summing to the run's. */
Test(views, unknowns_and_identities_of_odd_runs)
{
	char *tmp = tl_tmpdir(), path[4096], trace[4096], zero[4096];
	cr_assert(tmp);
	snprintf(path, sizeof path, "%s/odd.db", tmp);
	snprintf(zero, sizeof zero, "%s/zero.txt", tmp);
	const char *z = "# spanlab text trace v1\nm 1 0\nm 2 0\nm 3 100\nm 4 40000\nf 3\nm 5 0\n";
	cr_assert_eq(tl_write_file(zero, z, strlen(z)), 0);
	tl_root_path("traces/data/go-wordtree.slt", trace, sizeof trace);
	/* A baseline needs a build without ASan (it replaces malloc): run 1
	 * is then a Go run, and the baseline's checks are left out. */
	const char *variant = getenv("SPANLAB_VARIANT");
	bool baseline = !variant || strcmp(variant, "asan");
	cr_assert_eq(replay(path, trace, (const char *const[]){ "--allocator", baseline ? "glibc" : "go", NULL }), 0);
	cr_assert_eq(replay(path, trace, (const char *const[]){ "--no-events", NULL }), 0);
	cr_assert_eq(replay(path, trace, (const char *const[]){ "--free", "immediate", NULL }), 0);
	cr_assert_eq(replay(path, zero, (const char *const[]){ "--snapshot-every", "1", NULL }), 0);
	cr_assert_eq(replay(path, zero, (const char *const[]){ "--snapshot-every", "1", "--tiny", "off", NULL }), 0);
	sqlite3 *d;
	cr_assert_eq(sqlite3_open_v2(path, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (baseline)
		cr_assert_eq(tl_q1(d, "SELECT count(*) FROM v_hit_rates WHERE run_id = 1 AND lookups IS NULL AND hits IS NULL"
				      " AND misses IS NULL AND hit_rate IS NULL"), 4, "a baseline's tiers are unknown");
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM v_refill_sources WHERE run_id IN (1, 2) AND refills IS NULL"
			      " AND fraction IS NULL"), baseline ? 8 : 4, "a baseline's and an eventless run's sources are unknown");
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM v_refill_sources WHERE run_id = 3 AND refills IS NULL"), 0);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM snapshots WHERE run_id = 3 AND heap_goal_bytes <> 0"), 0,
		     "the immediate policy has no GC goal");
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM snapshots WHERE run_id IN (4, 5)"
			      " AND live_rounded_bytes <> live_bytes + internal_frag_bytes"), 0);
	cr_assert_eq(tl_q1(d, "SELECT count(*) FROM runs r WHERE run_id IN (4, 5) AND internal_frag_bytes_at_peak ="
			      " (SELECT sum(internal_frag_bytes_at_peak) FROM size_class_stats s WHERE s.run_id = r.run_id)"
			      " AND internal_frag_bytes_at_peak = (SELECT internal_frag_bytes FROM snapshots s"
			      "   WHERE s.run_id = r.run_id AND s.kind = (SELECT id FROM snapshot_kinds WHERE name = 'peak_live'))"),
		     2);
	cr_assert_eq(tl_q1(d, "SELECT internal_frag_bytes FROM snapshots WHERE run_id = 4 AND op = 2"), 16,
		     "two 0-byte objects in a 16-byte tiny block: 16 bytes of waste");
	sqlite3_close(d);
	tl_tmpdir_remove(tmp);
}
