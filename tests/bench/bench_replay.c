/*
 * bench_replay: `spanlab replay` end to end, as a user runs it, on real
 * and synthetic traces, the allocators interleaved and every comparison
 * measured in the same run.
 *
 *   throughput  ops per second of the replay loop for the Go core (no
 *               --db) and each installed baseline (--allocator glibc|
 *               jemalloc|mimalloc|tcmalloc) through the same replayer: by
 *               the replaying thread's CPU time (the summary's
 *               cpu_seconds; targets) and by wall time (ops_per_second),
 *               the allocator's statistics calls at snapshots left out of
 *               both; ratio to glibc's median; the peak RSS of the
 *               replaying process (wait4). On a shared machine wall time
 *               also counts waiting for a CPU: the two figures differ by
 *               the machine's load, the CPU figure far less from run to run.
 *   logging     the Go core with --db FILE (a fresh file each run) against
 *               without, with the default snapshot interval: the ratio of
 *               process elapsed times (what a user waits for: the final
 *               flush and commit included; target), of process CPU time
 *               (both threads: the cost when no core is idle) and of the
 *               loop's CPU time; rows written (event_rows + snapshot_rows
 *               of the run) per elapsed second, and CPU added per row.
 *   memory      from the same throughput runs of the Go core: peak RSS of
 *               the process against the model's peak Ready bytes; the
 *               target is RSS <= 1.1 x Ready + 64 MiB. --memory runs the Go
 *               core alone and reports only this.
 *
 * Each figure is the median of --reps runs with min and max; in each rep
 * every trace runs every variant in turn (A B C D, A B C D, ...), so drift
 * of a shared machine spreads over all of them.
 *
 * The throughput runs take a snapshot every --snapshot-every N operations
 * (default 1,000,000: the peak and the final snapshot only on the bundled
 * traces), the logging runs the default ~2,000 per trace. Reading an
 * allocator's statistics is left out of the loop's time, but not the cache
 * lines it evicts, and that differs by allocator: glibc's mallinfo2 walks
 * every free chunk (at 2,000 snapshots cc1.slt replays ~35% slower in CPU
 * time through glibc, ~5% through the core), and on a 600k-object heap
 * 2,000 of them take ~20 s of the benchmark's own time.
 *
 * A trace given as PATH@peer is judged against the best peer (the target
 * for the synthetic trace); the others against 1.5 x glibc.
 *
 * Prints tables on stdout; --json FILE gets the figures, --targets FILE one
 * line per target: name, measured, limit, met (yes/no), a tab between.
 *
 * Usage: bench_replay --bin SPANLAB [--reps R] [--memory] [--snapshot-every N]
 *                     [--json FILE] [--targets FILE] TRACE[@peer]...
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "baseline.h"

/* Variants: the allocators (throughput), then the Go core with --db, and
 * without it, both at the default snapshot interval (logging). */
enum { MAX_TRACES = 16, MAX_REPS = 64, VAR_GODB = SIM_ALLOC_N, VAR_GONODB, NVAR };

static const char *var_name(int v)
{
	return v == VAR_GODB ? "go --db" : v == VAR_GONODB ? "go" : sim_allocator_name((enum sim_allocator)v);
}

struct sample {
	double ops_per_s;	/* ops / wall_seconds of the loop */
	double ops_per_cpu_s;	/* ops / cpu_seconds of the loop */
	double wall, cpu;	/* the loop's wall and CPU seconds */
	double elapsed, pcpu;	/* the process: elapsed, user + system CPU (children included) */
	double maxrss, peak_ready, peak_live, rows;
};

struct trace {
	const char *path, *name;
	bool vs_peer;			/* judged against the best peer, not glibc */
	struct sample s[NVAR][MAX_REPS];
	int n[NVAR];
};

static const char *bin;
static const char *snap_every = "1000000";	/* the throughput runs' */
static char tmpdir[PATH_MAX];

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_replay: %s: %s\n", what, msg);
	exit(1);
}

/* ---- one run --------------------------------------------------------------- */

static double jnum(cJSON *o, const char *k)
{
	cJSON *v = cJSON_GetObjectItem(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static double run_rows(const char *db)
{
	sqlite3 *d;
	sqlite3_stmt *st;
	double rows = NAN;
	if (sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(d, "SELECT event_rows + snapshot_rows FROM runs", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			rows = (double)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(d);
	return rows;
}

static void remove_db(const char *db)
{
	char p[PATH_MAX + 32];
	unlink(db);
	snprintf(p, sizeof p, "%s-wal", db);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", db);
	unlink(p);
}

/* Run `spanlab replay` for variant v of t; its --json summary, elapsed
 * time and peak RSS (wait4: the largest of the process and its waited
 * children, so a baseline's child counts). */
static struct sample run_one(const struct trace *t, int v)
{
	char db[PATH_MAX + 16], out[PATH_MAX + 16];
	const char *argv[16];
	int k = 0;

	snprintf(db, sizeof db, "%s/run.db", tmpdir);
	snprintf(out, sizeof out, "%s/out.json", tmpdir);
	remove_db(db);
	argv[k++] = "spanlab";
	argv[k++] = "replay";
	argv[k++] = t->path;
	argv[k++] = "--json";
	argv[k++] = "--quiet";
	if (v == VAR_GODB) {
		argv[k++] = "--db";
		argv[k++] = db;
	} else if (v < SIM_ALLOC_N) {	/* throughput */
		argv[k++] = "--allocator";
		argv[k++] = sim_allocator_name((enum sim_allocator)v);
		argv[k++] = "--snapshot-every";
		argv[k++] = snap_every;
	}
	argv[k] = NULL;

	fflush(NULL);
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(127);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			die("wait4", strerror(errno));
	double elapsed = now() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_replay: %s --allocator %s failed (status %d)\n", t->path, var_name(v), status);
		exit(1);
	}
	FILE *f = fopen(out, "r");
	static char buf[1 << 16];
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	cJSON *j = cJSON_Parse(buf);
	if (!j)
		die(t->path, "replay printed no JSON");
	struct sample s = {
		.ops_per_s = jnum(j, "ops_per_second"),
		.ops_per_cpu_s = jnum(j, "ops") / jnum(j, "cpu_seconds"),
		.wall = jnum(j, "wall_seconds"),
		.cpu = jnum(j, "cpu_seconds"),
		.elapsed = elapsed,
		.pcpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
			ru.ru_stime.tv_usec * 1e-6,
		.maxrss = (double)ru.ru_maxrss * 1024,
		.peak_ready = jnum(j, "peak_ready_bytes"),
		.peak_live = jnum(j, "peak_live_bytes"),
		.rows = v == VAR_GODB ? run_rows(db) : NAN,
	};
	cJSON_Delete(j);
	remove_db(db);
	return s;
}

/* ---- statistics ---------------------------------------------------------- */

struct stat3 {
	double med, lo, hi;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median, min and max of field `off` over the samples of t's variant v. */
static struct stat3 stat_of(const struct trace *t, int v, size_t off)
{
	double x[MAX_REPS];
	int n = t->n[v];
	if (n == 0)
		return (struct stat3){ NAN, NAN, NAN };
	for (int i = 0; i < n; i++)
		x[i] = *(const double *)((const char *)&t->s[v][i] + off);
	qsort(x, (size_t)n, sizeof *x, cmp_double);
	double med = n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
	return (struct stat3){ med, x[0], x[n - 1] };
}

#define STAT(t, v, field) stat_of(t, v, offsetof(struct sample, field))

static cJSON *stat_json(struct stat3 s, double scale)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "median", s.med * scale);
	cJSON_AddNumberToObject(o, "min", s.lo * scale);
	cJSON_AddNumberToObject(o, "max", s.hi * scale);
	return o;
}

/* ---- targets ----------------------------------------------------------- */

static FILE *targets;

static void target(const char *name, double measured, double limit, bool met, const char *unit)
{
	if (targets)
		fprintf(targets, "%s\t%.4g %s\t%.4g %s\t%s\n", name, measured, unit, limit, unit, met ? "yes" : "no");
}

/* ---- the parts --------------------------------------------------------------- */

static const double MIB = 1024.0 * 1024.0;

static void throughput_report(struct trace *tr, int nt, bool installed[], cJSON *root)
{
	cJSON *tj = cJSON_AddObjectToObject(root, "throughput");
	printf("replay throughput, M ops per second of the replay loop: by the replaying thread's CPU time\n"
	       "(targets) and by wall time; median [min..max]; ratio = median / glibc's median\n");
	printf("%-16s %-9s %8s %17s %6s %8s %17s %6s %8s\n", "trace", "allocator", "CPU", "[min..max]", "ratio",
	       "wall", "[min..max]", "ratio", "RSS MiB");
	for (int i = 0; i < nt; i++) {
		struct trace *t = &tr[i];
		cJSON *o = cJSON_AddObjectToObject(tj, t->name);
		struct stat3 g = STAT(t, SIM_ALLOC_GLIBC, ops_per_cpu_s), gw = STAT(t, SIM_ALLOC_GLIBC, ops_per_s);
		double best_peer = 0;
		const char *best = "-";
		for (int v = 0; v < SIM_ALLOC_N; v++) {
			if (!installed[v])
				continue;
			struct stat3 c = STAT(t, v, ops_per_cpu_s), w = STAT(t, v, ops_per_s), m = STAT(t, v, maxrss);
			printf("%-16s %-9s %8.2f %7.2f..%-7.2f %5.2fx %8.2f %7.2f..%-7.2f %5.2fx %8.1f\n", t->name,
			       var_name(v), c.med / 1e6, c.lo / 1e6, c.hi / 1e6, c.med / g.med, w.med / 1e6, w.lo / 1e6,
			       w.hi / 1e6, w.med / gw.med, m.med / MIB);
			cJSON *a = cJSON_AddObjectToObject(o, var_name(v));
			cJSON_AddItemToObject(a, "mops_per_cpu_s", stat_json(c, 1e-6));
			cJSON_AddNumberToObject(a, "cpu_ratio_to_glibc", c.med / g.med);
			cJSON_AddItemToObject(a, "mops_per_s", stat_json(w, 1e-6));
			cJSON_AddNumberToObject(a, "ratio_to_glibc", w.med / gw.med);
			cJSON_AddItemToObject(a, "peak_rss_mib", stat_json(m, 1 / MIB));
			if (v != SIM_ALLOC_GO && c.med > best_peer) {
				best_peer = c.med;
				best = var_name(v);
			}
		}
		struct stat3 go = STAT(t, SIM_ALLOC_GO, ops_per_cpu_s);
		char name[160];
		if (t->vs_peer) {	/* the synthetic trace: at least the best peer */
			snprintf(name, sizeof name, "replay %s: go / best peer (%s), CPU ops/s", t->name, best);
			target(name, go.med / best_peer, 1.0, go.med >= best_peer, "x");
		} else {
			snprintf(name, sizeof name, "replay %s: go / glibc, CPU ops/s", t->name);
			target(name, go.med / g.med, 1.5, go.med >= 1.5 * g.med, "x");
		}
	}
}

static void logging_report(struct trace *tr, int nt, cJSON *root)
{
	cJSON *lj = cJSON_AddObjectToObject(root, "logging");
	printf("\nlogging overhead: the Go core with --db FILE against without (default snapshots); elapsed =\n"
	       "process wall time (target), CPU = process user + system time of all threads (the cost when no\n"
	       "core is idle), loop = the replay thread's loop CPU; rows/s = rows / elapsed; us/row = added CPU\n");
	printf("%-16s %8s %15s %8s %15s %6s %6s %6s %9s %8s %6s\n", "trace", "none s", "[min..max]", "--db s",
	       "[min..max]", "ratio", "CPU", "loop", "rows", "k rows/s", "us/row");
	for (int i = 0; i < nt; i++) {
		struct trace *t = &tr[i];
		int nodb = VAR_GONODB;
		struct stat3 a = STAT(t, nodb, elapsed), b = STAT(t, VAR_GODB, elapsed);
		struct stat3 pa = STAT(t, nodb, pcpu), pb = STAT(t, VAR_GODB, pcpu);
		struct stat3 ca = STAT(t, nodb, cpu), cb = STAT(t, VAR_GODB, cpu);
		struct stat3 rows = STAT(t, VAR_GODB, rows);
		double ratio = b.med / a.med, per_row = (pb.med - pa.med) / rows.med * 1e6;
		double rps = rows.med / b.med;
		printf("%-16s %8.3f %7.3f..%-7.3f %8.3f %7.3f..%-7.3f %5.2fx %5.2fx %5.2fx %9.0f %8.1f %6.2f\n", t->name,
		       a.med, a.lo, a.hi, b.med, b.lo, b.hi, ratio, pb.med / pa.med, cb.med / ca.med, rows.med,
		       rps / 1e3, per_row);
		cJSON *o = cJSON_AddObjectToObject(lj, t->name);
		cJSON_AddItemToObject(o, "no_db_elapsed_s", stat_json(a, 1));
		cJSON_AddItemToObject(o, "db_elapsed_s", stat_json(b, 1));
		cJSON_AddNumberToObject(o, "ratio", ratio);
		cJSON_AddItemToObject(o, "no_db_process_cpu_s", stat_json(pa, 1));
		cJSON_AddItemToObject(o, "db_process_cpu_s", stat_json(pb, 1));
		cJSON_AddNumberToObject(o, "cpu_ratio", pb.med / pa.med);
		cJSON_AddNumberToObject(o, "loop_cpu_ratio", cb.med / ca.med);
		cJSON_AddNumberToObject(o, "rows", rows.med);
		cJSON_AddNumberToObject(o, "rows_per_s", rps);
		cJSON_AddNumberToObject(o, "added_cpu_us_per_row", per_row);
		char name[160];
		snprintf(name, sizeof name, "logging %s: --db / none, elapsed", t->name);
		target(name, ratio, 1.25, ratio <= 1.25, "x");
	}
}

static void memory_report(struct trace *tr, int nt, cJSON *root)
{
	cJSON *mj = cJSON_AddObjectToObject(root, "memory");
	printf("replayer peak memory: peak RSS of `spanlab replay` (Go core, no db) against the model's peak Ready\n");
	printf("%-16s %10s %10s %10s %19s %10s %6s\n", "trace", "live MiB", "Ready MiB", "RSS MiB", "[min..max]",
	       "limit MiB", "RSS/lim");
	for (int i = 0; i < nt; i++) {
		struct trace *t = &tr[i];
		struct stat3 rss = STAT(t, SIM_ALLOC_GO, maxrss), ready = STAT(t, SIM_ALLOC_GO, peak_ready);
		struct stat3 live = STAT(t, SIM_ALLOC_GO, peak_live);
		double limit = 1.1 * ready.med + 64 * MIB;
		printf("%-16s %10.2f %10.2f %10.2f %8.2f..%-8.2f %10.2f %6.2f\n", t->name, live.med / MIB,
		       ready.med / MIB, rss.med / MIB, rss.lo / MIB, rss.hi / MIB, limit / MIB, rss.med / limit);
		cJSON *o = cJSON_AddObjectToObject(mj, t->name);
		cJSON_AddNumberToObject(o, "peak_live_mib", live.med / MIB);
		cJSON_AddNumberToObject(o, "peak_ready_mib", ready.med / MIB);
		cJSON_AddItemToObject(o, "peak_rss_mib", stat_json(rss, 1 / MIB));
		cJSON_AddNumberToObject(o, "limit_mib", limit / MIB);
		cJSON_AddNumberToObject(o, "rss_over_limit", rss.med / limit);
		cJSON_AddNumberToObject(o, "rss_over_ready", rss.med / ready.med);
		char name[160];
		snprintf(name, sizeof name, "memory %s: RSS <= 1.1 x Ready + 64 MiB", t->name);
		target(name, rss.med / MIB, limit / MIB, rss.med <= limit, "MiB");
	}
}

int main(int argc, char **argv)
{
	static struct trace tr[MAX_TRACES];
	const char *json = NULL, *tpath = NULL;
	int reps = 5, nt = 0;
	bool memory = false, installed[SIM_ALLOC_N] = { true };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--bin") && i + 1 < argc)
			bin = argv[++i];
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json = argv[++i];
		else if (!strcmp(argv[i], "--targets") && i + 1 < argc)
			tpath = argv[++i];
		else if (!strcmp(argv[i], "--memory"))
			memory = true;
		else if (!strcmp(argv[i], "--snapshot-every") && i + 1 < argc)
			snap_every = argv[++i];
		else if (argv[i][0] != '-' && nt < MAX_TRACES) {
			struct trace *t = &tr[nt++];
			char *at = strrchr(argv[i], '@');
			if (at && !strcmp(at, "@peer")) {
				*at = 0;
				t->vs_peer = true;
			}
			t->path = argv[i];
			const char *slash = strrchr(t->path, '/');
			t->name = slash ? slash + 1 : t->path;
		} else {
			fprintf(stderr, "usage: bench_replay --bin SPANLAB [--reps R] [--memory] [--snapshot-every N] "
					"[--json FILE] [--targets FILE] TRACE[@peer]...\n");
			return 2;
		}
	}
	if (!bin || !nt || reps < 1 || reps > MAX_REPS)
		die("usage", "--bin, at least one trace and 1 <= --reps <= 64");
	const char *td = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/bench_replay.XXXXXX", td && *td ? td : "/tmp");
	if (!mkdtemp(tmpdir))
		die("mkdtemp", strerror(errno));
	for (int v = 1; v < SIM_ALLOC_N && !memory; v++) {
		char path[PATH_MAX], err[512];
		installed[v] = baseline_locate(baseline_of((enum sim_allocator)v), path, sizeof path, err, sizeof err) == 0;
		if (!installed[v])
			fprintf(stderr, "bench_replay: %s (skipped)\n", err);
	}

	for (int r = 0; r < reps; r++)
		for (int i = 0; i < nt; i++)
			for (int v = 0; v < NVAR; v++) {
				bool run = v < SIM_ALLOC_N ? installed[v] && (!memory || v == SIM_ALLOC_GO)
					 : !memory;
				if (run)
					tr[i].s[v][tr[i].n[v]++] = run_one(&tr[i], v);
			}

	if (tpath && !(targets = fopen(tpath, "w")))
		die(tpath, strerror(errno));
	cJSON *root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "reps", reps);
	if (!memory) {
		throughput_report(tr, nt, installed, root);
		logging_report(tr, nt, root);
		printf("\n");
	}
	memory_report(tr, nt, root);
	if (targets)
		fclose(targets);
	if (json) {
		FILE *f = fopen(json, "w");
		char *s = cJSON_Print(root);
		if (!f || !s)
			die(json, "cannot write");
		fputs(s, f);
		fputc('\n', f);
		fclose(f);
		free(s);
	}
	cJSON_Delete(root);
	rmdir(tmpdir);
	return 0;
}
