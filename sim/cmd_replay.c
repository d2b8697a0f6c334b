/*
 * spanlab replay TRACE: replay a trace through the allocator core, print
 * the summary (a table, or --json), and with --db log the run's events,
 * snapshots and per-class figures into a spanlab database.
 *
 * With --allocator glibc|jemalloc|mimalloc|tcmalloc the trace goes through
 * that C allocator instead, in a child process (sim/baseline.h); its
 * snapshots and summary are logged and printed the same way, Go-only
 * figures left NULL. The hidden --baseline-child option makes this command
 * that child.
 *
 * Exit codes: 0 complete, 1 failed run (out of memory, a validator, the
 * database), 2 bad usage, a bad config or a malformed trace, 130 stopped by
 * SIGINT/SIGTERM (the run is logged as interrupted).
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baseline.h"
#include "cli.h"
#include "config.h"
#include "db.h"
#include "os_fault.h"
#include "replay.h"

static const char usage_text[] =
	"usage: spanlab replay TRACE [options]\n\n"
	"Replay a trace (.slt, mtrace, valgrind, Go allocfreetrace or text; gzip\n"
	"accepted) through the Go-style allocator and print its figures.\n\n"
	"  --allocator NAME     go (the core, default), or a baseline replayed through a\n"
	"                       real allocator: glibc, jemalloc, mimalloc, tcmalloc\n"
	"  --config FILE        a JSON config (docs/config.md); flags override it\n"
	"  --db FILE            log the run into this spanlab database\n"
	"  --procs N            Ps the trace's threads are mapped onto (thread t -> P t mod N)\n"
	"  --free gc|immediate  free policy (gc: Go-faithful, the default)\n"
	"  --sweep eager|lazy   sweep mode of the gc policy\n"
	"  --gogc N|off         GOGC\n"
	"  --tiny on|off        the tiny allocator for requests under 16 bytes\n"
	"  --arena-size BYTES   heap arena size (e.g. 64MiB)\n"
	"  --snapshot-every N   a snapshot every N operations (default: ~2,000 per trace)\n"
	"  --no-events          with --db: log snapshots, per-class rows and the summary,\n"
	"                       not one row per event (config \"log_events\": false)\n"
	"  --from FORMAT        the trace's format (slt, text, mtrace, valgrind, goalloc)\n"
	"  --strict             any trace inconsistency is an error\n"
	"  --touch              write every page of every object, not just its ends\n"
	"  --check[=N]          heap validators and content checks (every N ops; default:\n"
	"                       at every snapshot and at the end)\n"
	"  --sweep-id ID        record the run as part of sweep ID\n"
	"  --json               print the summary as JSON\n"
	"  -q, --quiet          no progress line\n"
	"  -h, --help           this text\n\n"
	"Exit status: 0 complete, 1 failed run, 2 bad usage or input, 130 interrupted.\n";

struct replay_cli {
	struct replay_opts o;
	const char *config, *db, *sweep_id;
	bool json;
	enum sim_allocator allocator;
	const char *child;		/* --baseline-child FD,EVENTS,PEAK_OP */
	struct baseline_proc bp;	/* a baseline's child, seen from the parent */
	/* flags that override the config file, applied after it */
	const char *procs, *free_policy, *sweep, *gogc, *tiny, *arena_size;
	bool no_events;
};

static void on_signal(int sig)
{
	replay_stop = sig;
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int parse_args(int argc, char **argv, struct replay_cli *c)
{
	enum { O_CONFIG = 256, O_DB, O_PROCS, O_FREE, O_SWEEP, O_GOGC, O_TINY, O_ARENA, O_SNAP,
	       O_FROM, O_STRICT, O_TOUCH, O_CHECK, O_SWEEPID, O_JSON, O_ALLOC, O_CHILD, O_NOEVENTS };
	static const struct option opts[] = {
		{ "config", required_argument, 0, O_CONFIG }, { "db", required_argument, 0, O_DB },
		{ "procs", required_argument, 0, O_PROCS }, { "free", required_argument, 0, O_FREE },
		{ "sweep", required_argument, 0, O_SWEEP }, { "gogc", required_argument, 0, O_GOGC },
		{ "tiny", required_argument, 0, O_TINY }, { "arena-size", required_argument, 0, O_ARENA },
		{ "snapshot-every", required_argument, 0, O_SNAP }, { "from", required_argument, 0, O_FROM },
		{ "strict", no_argument, 0, O_STRICT }, { "touch", no_argument, 0, O_TOUCH },
		{ "check", optional_argument, 0, O_CHECK }, { "sweep-id", required_argument, 0, O_SWEEPID },
		{ "no-events", no_argument, 0, O_NOEVENTS },
		{ "json", no_argument, 0, O_JSON }, { "quiet", no_argument, 0, 'q' },
		{ "allocator", required_argument, 0, O_ALLOC },
		{ "baseline-child", required_argument, 0, O_CHILD },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	int o, rc;

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
		switch (o) {
		case O_CONFIG: c->config = optarg; break;
		case O_DB: c->db = optarg; break;
		case O_PROCS: c->procs = optarg; break;
		case O_FREE: c->free_policy = optarg; break;
		case O_SWEEP: c->sweep = optarg; break;
		case O_GOGC: c->gogc = optarg; break;
		case O_TINY: c->tiny = optarg; break;
		case O_ARENA: c->arena_size = optarg; break;
		case O_SNAP:
			if (!cli_parse_u64(optarg, 1, UINT64_MAX >> 12, &c->o.snapshot_every))
				return cli_usage("replay", "--snapshot-every needs a positive integer, not '%s'", optarg);
			break;
		case O_FROM:
			if ((rc = cli_parse_from("replay", optarg, &c->o.open.format)))
				return rc;
			break;
		case O_STRICT: c->o.open.strict = true; break;
		case O_TOUCH: c->o.touch = true; break;
		case O_CHECK:
			c->o.check = true;
			if (optarg && !cli_parse_u64(optarg, 1, UINT64_MAX, &c->o.check_every))
				return cli_usage("replay", "--check needs a positive integer, not '%s'", optarg);
			break;
		case O_SWEEPID: c->sweep_id = optarg; break;
		case O_NOEVENTS: c->no_events = true; break;
		case O_JSON: c->json = true; break;
		case O_ALLOC:
			if (!sim_allocator_parse(optarg, &c->allocator))
				return cli_usage("replay", "unknown allocator '%s' (go, glibc, jemalloc, mimalloc, tcmalloc)",
						 optarg);
			break;
		case O_CHILD: c->child = optarg; break;
		case 'q': c->o.quiet = true; break;
		case 'h': fputs(usage_text, stdout); return -1;
		case ':': return cli_usage("replay", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage("replay", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage("replay", "missing TRACE");
	if (optind + 1 < argc)
		return cli_usage("replay", "unexpected argument '%s'", argv[optind + 1]);
	c->o.trace = argv[optind];
	return 0;
}

/* Flags override the file: each is applied as the config key it names, so
 * it is checked by the same code and named the same way in errors. */
static int apply_flags(struct replay_cli *c, char *err, size_t errlen)
{
	cJSON *root = cJSON_CreateObject();
	uint64_t u;
	int rc = 0;

	if (c->procs) {
		if (!cli_parse_u64(c->procs, 0, UINT32_MAX, &u))
			u = 0;
		cJSON_AddNumberToObject(root, "procs", (double)u);
	}
	if (c->free_policy)
		cJSON_AddStringToObject(root, "free", c->free_policy);
	if (c->sweep)
		cJSON_AddStringToObject(root, "sweep", c->sweep);
	if (c->gogc) {
		if (!strcmp(c->gogc, "off"))
			cJSON_AddStringToObject(root, "gogc", "off");
		else
			cJSON_AddNumberToObject(root, "gogc", cli_parse_u64(c->gogc, 0, 1u << 30, &u) ? (double)u : -1);
	}
	if (c->tiny) {
		if (!strcmp(c->tiny, "on") || !strcmp(c->tiny, "off"))
			cJSON_AddBoolToObject(root, "tiny", !strcmp(c->tiny, "on"));
		else
			cJSON_AddStringToObject(root, "tiny", c->tiny);
	}
	if (c->arena_size)
		cJSON_AddStringToObject(root, "arena_size", c->arena_size);
	if (c->no_events)
		cJSON_AddBoolToObject(root, "log_events", false);
	if (c->o.snapshot_every)	/* parsed above 0 and below 2^52: exact as a double */
		cJSON_AddNumberToObject(root, "snapshot_every", (double)c->o.snapshot_every);
	if (root->child)
		rc = config_apply_json(root, "command line", NULL, &c->o.cfg, err, errlen);
	cJSON_Delete(root);
	return rc;
}

/* ---- the human-readable summary ---------------------------------------- */

static void pct(FILE *f, double v)
{
	if (isnan(v))
		fprintf(f, "%9s", "-");
	else
		fprintf(f, "%8.2f%%", 100 * v);
}

static const char *mib(char *buf, int64_t b)
{
	if (b == SIM_NULL)
		snprintf(buf, 32, "-");
	else
		snprintf(buf, 32, "%.2f MiB", (double)b / (1 << 20));
	return buf;
}

static void print_config(FILE *f, const struct replay_cli *c)
{
	const struct sim_config *cfg = &c->o.cfg;
	char a[32];

	if (c->o.baseline) {
		fprintf(f, "allocator        %s (%s), a baseline: Go-only figures are '-'\n", c->bp.version,
			*c->bp.library ? c->bp.library : "the process's own");
		return;
	}
	fprintf(f, "config           %s free policy%s, %s sweep, GOGC %s, %u P%s, tiny %s, %u size classes\n",
		config_free_policy_name(cfg->free_policy),
		cfg->free_policy == SIM_FREE_IMMEDIATE ? " (ablation, not Go)" : "", config_sweep_name(cfg->sweep),
		cfg->gogc < 0 ? "off" : (snprintf(a, sizeof a, "%lld", (long long)cfg->gogc), a), cfg->procs,
		cfg->procs == 1 ? "" : "s", cfg->tiny ? "on" : "off", cfg->classes.nclasses - 1);
}

static void count(FILE *f, const char *what, int64_t v, const char *sep)
{
	if (v == SIM_NULL)
		fprintf(f, "- %s%s", what, sep);
	else
		fprintf(f, "%lld %s%s", (long long)v, what, sep);
}

static void print_text(const struct replay_cli *c, const struct sim_summary *s, int64_t run_id,
		       const char *status)
{
	char a[32], b[32], d[32];
	FILE *f = stdout;

	fprintf(f, "trace            %s\n", c->o.trace);
	print_config(f, c);
	fprintf(f, "status           %s", status);
	if (run_id > 0)
		fprintf(f, " (run %lld in %s)", (long long)run_id, c->db);
	if (s->trace_complete == 0)
		fprintf(f, "; the trace was cut short (no END record): its events were replayed");
	fprintf(f, "\noperations       %lld: %lld allocations, %lld frees, %lld unknown frees\n",
		(long long)s->ops, (long long)s->mallocs, (long long)s->frees, (long long)s->unknown_frees);
	fprintf(f, "live bytes       peak %s after op %lld; final %s in %lld objects\n",
		mib(a, s->peak_live_bytes), (long long)s->peak_live_op, mib(b, s->final_live_bytes),
		(long long)s->final_live_objects);
	fprintf(f, "allocator peaks  heap in-use %s, Ready %s, heap sys %s%s\n", mib(a, s->peak_heap_inuse_bytes),
		mib(b, s->peak_ready_bytes), mib(d, s->peak_heap_sys_bytes),
		c->o.baseline ? " (at snapshots)" : "");
	fprintf(f, "internal frag    %s at peak live\n", mib(a, s->internal_frag_bytes_at_peak));
	fprintf(f, "fragmentation    (Johnstone & Wilson, memory over live bytes - 1)\n");
	fprintf(f, "                        #1 avg  #2 at peak live  #3 at peak mem  #4 max/max\n");
	fprintf(f, "  heap in-use       ");
	pct(f, s->frag_inuse_jw1), fputs("        ", f), pct(f, s->frag_inuse_jw2), fputs("       ", f);
	pct(f, s->frag_inuse_jw3), fputs("  ", f), pct(f, s->frag_inuse_jw4), fputc('\n', f);
	fprintf(f, "  Ready bytes       ");
	pct(f, s->frag_ready_jw1), fputs("        ", f), pct(f, s->frag_ready_jw2), fputs("       ", f);
	pct(f, s->frag_ready_jw3), fputs("  ", f), pct(f, s->frag_ready_jw4), fputc('\n', f);
	fprintf(f, "hit rates        mcache");
	pct(f, s->hit_rate_mcache), fputs("  mcentral", f), pct(f, s->hit_rate_mcentral);
	fputs("  pagecache", f), pct(f, s->hit_rate_pagecache), fputs("  heap", f), pct(f, s->hit_rate_heap);
	fprintf(f, "\nevents           ");
	count(f, "refills", s->refills, ", ");
	count(f, "span moves", s->span_moves, ", ");
	count(f, "arena transitions", s->arena_transitions, ", ");
	count(f, "GC cycles", s->gc_cycles, "\n");
	fprintf(f, "time             %.3f s, %.2f M ops/s; CPU %.3f s, %.2f M ops/s\n", s->wall_seconds,
		s->ops_per_second / 1e6, s->cpu_seconds, s->cpu_seconds > 0 ? (double)s->ops / s->cpu_seconds / 1e6 : NAN);
}

static char *run_config(const struct replay_cli *c)
{
	return c->o.baseline ? baseline_config_json(&c->bp, &c->o) : config_to_string(&c->o.cfg);
}

static void print_json(const struct replay_cli *c, const struct sim_summary *s, int64_t run_id,
		       const char *status)
{
	cJSON *o = summary_to_json(s);
	cJSON_AddStringToObject(o, "status", status);
	cJSON_AddStringToObject(o, "trace", c->o.trace);
	cJSON_AddStringToObject(o, "allocator", sim_allocator_name(c->allocator));
	if (run_id > 0) {
		cJSON_AddNumberToObject(o, "run_id", (double)run_id);
		cJSON_AddStringToObject(o, "db", c->db);
	}
	if (c->o.baseline) {
		char *cfg = run_config(c);
		cJSON_AddItemToObject(o, "config", cJSON_Parse(cfg ? cfg : "null"));
		free(cfg);
	} else {
		cJSON_AddItemToObject(o, "config", config_to_json(&c->o.cfg));
	}
	char *text = cJSON_Print(o);
	puts(text);
	free(text);
	cJSON_Delete(o);
}

/* ---- the database glue --------------------------------------------------- */

static int out_snapshot(void *ctx, const struct sim_snapshot *snap)
{
	return db_run_snapshot(ctx, snap);
}

static int out_size_class(void *ctx, const struct sim_size_class_row *row)
{
	return db_run_size_class(ctx, row);
}

static const char *out_error(void *ctx)
{
	return db_run_error(ctx);
}

static int begin_run(struct replay_cli *c, struct db *db, int argc, char **argv, const char *format,
		     struct db_run **run, char *err, size_t errlen)
{
	bool go = !c->o.baseline;
	char *cfg = run_config(c);
	const char *base = strrchr(c->o.trace, '/');
	struct db_run_info info = {
		.trace_path = c->o.trace,
		.trace_name = base ? base + 1 : c->o.trace,
		.trace_format = format,
		.config_json = cfg,
		.allocator = sim_allocator_name(c->allocator),
		/* a baseline frees as C does and has no Ps or tiny allocator */
		.free_policy = go ? config_free_policy_name(c->o.cfg.free_policy) : NULL,
		.procs = go ? c->o.cfg.procs : 0,
		.tiny_assumption = !go ? NULL : c->o.cfg.tiny ? DB_TINY_ON : DB_TINY_OFF,
		.argc = argc,
		.argv = argv,
		.sweep_id = c->sweep_id,
	};
	int rc = cfg ? db_run_begin(db, &info, run, err, errlen) : (snprintf(err, errlen, "out of memory"), 1);
	free(cfg);
	return rc;
}

static enum db_run_status db_status(enum replay_status st)
{
	switch (st) {
	case REPLAY_OK: return DB_RUN_COMPLETE;
	case REPLAY_INTERRUPTED: return DB_RUN_INTERRUPTED;
	default: return DB_RUN_FAILED;
	}
}

/*
 * Before a database is opened (or created) for a run: the trace must open
 * as a trace, with the reader's own message if not (SL_EXIT_USAGE; or
 * SL_EXIT_FAIL if memory ran out; nothing written); *format is what it was detected as. A trace that is not a
 * regular file (a pipe) is not opened twice: its format is left unknown
 * unless --from names it, and the replay meets any fault.
 */
static int probe_trace(const struct replay_cli *c, const char **format, char *err, size_t errlen)
{
	*format = c->o.open.format ? slt_format_name(c->o.open.format) : NULL;
	if (slt_path_streams(c->o.trace))
		return 0;
	struct slt_source *s = slt_open(c->o.trace, &c->o.open, err, errlen);
	if (!s)
		return cli_trace_code(NULL);
	*format = slt_format_name(slt_source_format(s));
	slt_close(s);
	return 0;
}

/* The child of a baseline run (sim/baseline.h): no database, no output. */
static int run_child(struct replay_cli *c)
{
	int fd;

	if (!c->o.baseline || !baseline_child_parse(c->child, &fd, &c->o.events, &c->o.peak_op))
		return cli_usage("replay", "--baseline-child is internal to baseline runs");
	c->o.first_pass_known = true;
	c->o.quiet = true;
	return baseline_child_main(&c->o, fd);
}

/* The replay itself: in this process (Go), or in a baseline's child. */
static enum replay_status run(struct replay_cli *c, const struct replay_out *out, struct sim_summary *sum,
			      char *err, size_t errlen)
{
	if (!c->o.baseline)
		return replay_run(&c->o, out, sum, err, errlen);
	return baseline_relay(&c->bp, out, c->o.quiet, sum, err, errlen);
}

int cmd_replay(int argc, char **argv)
{
	struct replay_cli c = { 0 };
	struct db *db = NULL;
	struct db_run *run_ = NULL;
	struct replay_out out = { 0 };
	struct sim_summary sum;
	char err[1024], err2[1024];
	int rc;

	config_defaults(&c.o.cfg);
	if ((rc = parse_args(argc, argv, &c)))
		return rc < 0 ? SL_EXIT_OK : rc;
	if (c.db && db_write_path_check(c.db, err, sizeof err))	/* before a baseline's child starts */
		return cli_bad_input("replay", "%s", err);
	c.o.baseline = baseline_of(c.allocator);
	if (c.child)
		return run_child(&c);
	if (c.config && config_load_file(c.config, &c.o.cfg, err, sizeof err))
		return cli_bad_input("replay", "%s", err);
	if (apply_flags(&c, err, sizeof err))
		return cli_bad_input("replay", "%s", err);
	if (config_resolve(&c.o.cfg, err, sizeof err))
		return cli_bad_input("replay", "%s: 'sizeclasses': %s", c.config ? c.config : "config", err);
	if (config_check_heap(&c.o.cfg, err, sizeof err))
		return cli_bad_input("replay", "%s: %s", c.config ? c.config : "command line", err);
	/* Fault injection for tests (os_fault.h): not an option users meet. */
	static struct os_fault fault;
	const char *fault_spec = getenv("SPANLAB_FAULT_OS");
	if (fault_spec && *fault_spec) {
		if (os_fault_init(&fault, fault_spec, err, sizeof err))
			return cli_usage("replay", "%s", err);
		c.o.os = &fault.ops;
	}

	install_signals();
	if (c.o.baseline) {
		/* The library, the first pass and the child's hello come first:
		 * a missing library is refused before a run is recorded. */
		enum replay_status bs = baseline_spawn(c.o.baseline, &c.o, &c.bp, err, sizeof err);
		if (bs == REPLAY_BAD_INPUT)
			return cli_bad_input("replay", "%s", err);
		if (bs)
			return cli_fail("replay", "%s", err);
	}
	if (c.db) {
		const char *format;
		if ((rc = probe_trace(&c, &format, err, sizeof err))) {
			if (c.o.baseline)
				baseline_abandon(&c.bp);
			return cli_error("replay", rc, "%s", err);
		}
		if ((rc = db_open(c.db, DB_OPEN_WRITE, &db, err, sizeof err))) {
			if (c.o.baseline)
				baseline_abandon(&c.bp);
			return cli_error("replay", rc, "%s", err);
		}
		if ((rc = begin_run(&c, db, argc, argv, format, &run_, err, sizeof err))) {
			if (c.o.baseline)
				baseline_abandon(&c.bp);
			db_close(db);
			return cli_error("replay", rc, "%s", err);
		}
		out = (struct replay_out){ run_, db_run_sink(run_), out_snapshot, out_size_class, out_error };
		if (!c.o.cfg.log_events)
			out.sink = (struct sl_sink){ 0 };	/* counts still reach the summary */
	}
	enum replay_status st = run(&c, &out, &sum, err, sizeof err);
	if (st == REPLAY_FAILED && fault.failures) {
		size_t n = strlen(err);
		snprintf(err + n, sizeof err - n, " (SPANLAB_FAULT_OS failed %llu OS calls)",
			 (unsigned long long)fault.failures);
	} else if (fault.failures) {
		fprintf(stderr, "spanlab replay: warning: SPANLAB_FAULT_OS failed %llu OS calls; the allocator went on\n",
			(unsigned long long)fault.failures);
	} else if (st == REPLAY_OK && c.o.os == &fault.ops) {
		/* so that a test knows which call numbers the run reaches */
		fprintf(stderr, "spanlab replay: warning: SPANLAB_FAULT_OS failed none of the %llu calls it counted\n",
			(unsigned long long)fault.calls);
	}
	int64_t run_id = run_ ? db_run_id(run_) : 0;
	if (st == REPLAY_INTERRUPTED)	/* the run's error says why it stopped */
		snprintf(err, sizeof err, "interrupted by %s after %lld operations",
			 replay_stop == SIGTERM ? "SIGTERM" : replay_stop == SIGINT ? "SIGINT"
			 : "a signal to the replay process", (long long)sum.ops);
	if (run_) {
		bool have_sum = st == REPLAY_OK || st == REPLAY_INTERRUPTED;
		if (db_run_finish(run_, db_status(st), have_sum ? &sum : NULL, st ? err : NULL, err2, sizeof err2)) {
			db_close(db);
			if (st == REPLAY_OK || st == REPLAY_INTERRUPTED)
				return cli_fail("replay", "%s", err2);
			if (!strcmp(err, err2))	/* the replay failed because the log did */
				return cli_fail("replay", "%s", err);
			return cli_fail("replay", "%s (and the database: %s)", err, err2);
		}
		if (db_warning(db))
			fprintf(stderr, "spanlab replay: warning: %s\n", db_warning(db));
		db_close(db);
	}
	switch (st) {
	case REPLAY_OK:
	case REPLAY_INTERRUPTED: {
		const char *status = st == REPLAY_OK ? "complete" : "interrupted";
		if (c.json)
			print_json(&c, &sum, run_id, status);
		else
			print_text(&c, &sum, run_id, status);
		if (cli_flush_stdout("replay"))
			return SL_EXIT_FAIL;
		if (st == REPLAY_INTERRUPTED) {
			fprintf(stderr, "spanlab replay: interrupted after %lld operations%s\n", (long long)sum.ops,
				run_ ? "; the run is logged as interrupted" : "");
			return 128 + SIGINT;
		}
		return SL_EXIT_OK;
	}
	case REPLAY_BAD_INPUT:
		return cli_bad_input("replay", "%s", err);
	default:
		return cli_fail("replay", "%s", err);
	}
}
