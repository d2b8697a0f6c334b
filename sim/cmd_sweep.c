/*
 * spanlab sweep SWEEP.json: expand a sweep file (sim/sweep.h) and run each
 * of its runs as its own `spanlab replay` process, --jobs at a time, each
 * writing its own database in a work folder next to the results database
 * (RESULTS.work/ for RESULTS.db), merged into the results database
 * (db_merge) as soon as it completes. `--list` prints the same replay
 * commands instead, for GNU parallel or a Slurm array, merged afterwards
 * with `spanlab merge`.
 *
 * Steps, each safe to interrupt:
 *   1. load and check the whole plan (exit 2 before any run on a bad file);
 *   2. record the plan in the results database (sweep_points) and write
 *      one config file per distinct config into the work folder;
 *   3. merge any per-run database left in the work folder by an earlier
 *      sweep or by --list commands, then delete it;
 *   4. count each identity's complete runs in the results database: the
 *      runs still to do are the repeats beyond that count (resuming);
 *   5. run them, biggest trace first; a run that exits 0 is merged and its
 *      file deleted; one that fails is recorded in the results database as
 *      failed (or interrupted, for SIGINT/SIGTERM) with the last line of its
 *      stderr, and the others go on.
 *
 * Children run in their own process groups and get SIGTERM if the sweep
 * dies (PR_SET_PDEATHSIG), so a terminal's ^C reaches them once, through
 * the sweep, which forwards SIGINT/SIGTERM and records them interrupted;
 * a second signal SIGKILLs them, and they are recorded interrupted too.
 * Exit: 0 all runs complete, 1 a run failed, 2 bad usage or sweep file,
 * 130 interrupted.
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "sweep.h"

static const char usage_text[] =
	"usage: spanlab sweep SWEEP.json [--jobs N] [--db FILE] [--list] [--sweep-id ID] [-q]\n\n"
	"Run every (trace, config, repeat) of a sweep file (docs/sweeps.md) as its own\n"
	"replay, in parallel, and merge them into one results database. Runs already\n"
	"complete there are skipped, so running the same sweep again resumes it.\n\n"
	"  --jobs N       replays at a time (default: the number of cores)\n"
	"  --db FILE      the results database (default: SWEEP.db in the current folder);\n"
	"                 per-run files go to FILE's name with .work instead of .db\n"
	"  --list         print the replay commands still to run, one per line, for GNU\n"
	"                 parallel or a Slurm array; merge with spanlab merge FILE WORK/*.db\n"
	"  --sweep-id ID  the sweep's id in the database (default: the file's \"sweep_id\",\n"
	"                 else its name without .json)\n"
	"  -q, --quiet    no progress line\n"
	"  -h, --help     this text\n\n"
	"Exit status: 0 every run complete, 1 a run failed, 2 bad usage or sweep file,\n"
	"130 interrupted.\n";

struct job {
	size_t cell;
	uint32_t repeat;
	char *db, *log;		/* per-run files */
	char *argv[12];		/* the replay command */
	int argc;
	pid_t pid;
};

struct sweep {
	struct sweep_plan plan;
	const char *prog;	/* argv[0] of the replay commands */
	char *db_path, *work;
	struct db *db;
	struct job *jobs;
	size_t njobs;
	uint32_t *done;		/* complete runs per cell, from the results database */
	bool quiet;
	int lock_fd;		/* WORK/lock, flocked: one sweep per work folder */
	/* counts of this invocation */
	size_t already, complete, failed, interrupted, merge_errors;
	bool killed;	/* a second signal: the runs were sent SIGKILL */
};

static volatile sig_atomic_t stop_signal, stop_count;

static void on_stop(int sig)
{
	stop_signal = sig;
	stop_count++;
}

/* ---- paths and files ---------------------------------------------------- */

static char *default_db(const char *sweep_file)
{
	const char *base = strrchr(sweep_file, '/');
	char *s;
	base = base ? base + 1 : sweep_file;
	size_t n = strlen(base);
	if (n > 5 && !strcmp(base + n - 5, ".json"))
		n -= 5;
	return asprintf(&s, "%.*s.db", (int)n, base) < 0 ? NULL : s;
}

static char *work_dir(const char *db)
{
	size_t n = strlen(db);
	char *s;
	if (n > 3 && !strcmp(db + n - 3, ".db"))
		n -= 3;
	return asprintf(&s, "%.*s.work", (int)n, db) < 0 ? NULL : s;
}

/* mkdir -p */
static int make_dirs(const char *path)
{
	char *p = strdup(path);
	int rc = 0;
	if (!p)
		return -1;
	for (char *s = p + 1; *s && !rc; s++)
		if (*s == '/') {
			*s = 0;
			if (mkdir(p, 0777) && errno != EEXIST)
				rc = -1;
			*s = '/';
		}
	if (!rc && mkdir(p, 0777) && errno != EEXIST)
		rc = -1;
	free(p);
	return rc;
}

static int write_file_atomic(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(text, f);
	fputc('\n', f);
	if (fclose(f) || rename(tmp, path)) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static char *config_path(const struct sweep *s, const struct sweep_cell *c)
{
	char *p;
	return asprintf(&p, "%s/%s.json", s->work, c->key) < 0 ? NULL : p;
}

/* The config files, one per distinct config, pretty-printed. */
static int write_configs(struct sweep *s)
{
	for (size_t i = 0; i < s->plan.ncells; i++) {
		struct sweep_cell *c = &s->plan.cells[i];
		if (c->same_as != i)
			continue;
		char *path = config_path(s, c);
		cJSON *j = cJSON_Parse(c->config_json);
		char *text = j ? cJSON_Print(j) : NULL;
		int rc = path && text ? write_file_atomic(path, text) : -1;
		if (rc)
			cli_fail("sweep", "%s: cannot write: %s", path ? path : s->work, path && text ? strerror(errno) : "out of memory");
		cJSON_Delete(j);
		free(text);
		free(path);
		if (rc)
			return SL_EXIT_FAIL;
	}
	return 0;
}

/* ---- step 3: leftovers ---------------------------------------------------- */

static int merge_leftovers(struct sweep *s)
{
	DIR *d = opendir(s->work);
	struct dirent *e;
	char err[1024];
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 4 || strcmp(e->d_name + n - 3, ".db"))
			continue;
		char *path;
		if (asprintf(&path, "%s/%s", s->work, e->d_name) < 0)
			continue;
		/* A file that is not a usable database (a replay killed while
		 * creating it) holds no complete run: it goes. One that cannot
		 * be merged for the output's sake (disk full) stays. */
		struct db_merge_stats st;
		int code = db_merge(s->db, path, &st, err, sizeof err);
		if (code == 0 || code == SL_EXIT_USAGE)
			db_remove_files(path);
		else
			fprintf(stderr, "spanlab sweep: warning: leftover %s not merged: %s\n", path, err);
		free(path);
	}
	closedir(d);
	return 0;
}

/* ---- step 4: the jobs ----------------------------------------------------- */

static int cmp_jobs(const void *a, const void *b, void *arg)
{
	const struct sweep *s = arg;
	const struct job *x = a, *y = b;
	uint64_t bx = s->plan.traces[s->plan.cells[x->cell].trace].bytes;
	uint64_t by = s->plan.traces[s->plan.cells[y->cell].trace].bytes;
	if (bx != by)
		return bx < by ? 1 : -1;	/* biggest trace first: shorter tail */
	if (x->cell != y->cell)
		return x->cell < y->cell ? -1 : 1;
	return (x->repeat > y->repeat) - (x->repeat < y->repeat);
}

static int make_jobs(struct sweep *s)
{
	struct sweep_plan *p = &s->plan;
	s->njobs = 0;
	s->already = 0;
	for (size_t i = 0; i < p->ncells; i++)
		if (p->cells[i].same_as == i) {
			uint32_t d = s->done[i] < p->repeats ? s->done[i] : p->repeats;
			s->already += d;
			s->njobs += p->repeats - d;
		}
	if (!(s->jobs = calloc(s->njobs ? s->njobs : 1, sizeof *s->jobs))) {
		s->njobs = 0;	/* free_jobs has nothing to free */
		return -1;
	}
	size_t n = 0;
	for (size_t i = 0; i < p->ncells; i++) {
		struct sweep_cell *c = &p->cells[i];
		if (c->same_as != i)
			continue;
		for (uint32_t r = s->done[i]; r < p->repeats; r++) {
			struct job *j = &s->jobs[n++];
			j->cell = i;
			j->repeat = r;
			char *cfg = config_path(s, c);
			if (!cfg || asprintf(&j->db, "%s/%s-r%u.db", s->work, c->key, r) < 0 ||
			    asprintf(&j->log, "%s/%s-r%u.log", s->work, c->key, r) < 0)
				return -1;
			/* The trace last, after "--": a name may start with '-'. */
			char **a = j->argv;
			a[0] = (char *)s->prog;
			a[1] = "replay";
			a[2] = "--config";
			a[3] = cfg;
			a[4] = "--db";
			a[5] = j->db;
			a[6] = "--sweep-id";
			a[7] = p->sweep_id;
			a[8] = "--quiet";
			a[9] = "--";
			a[10] = p->traces[c->trace].path;
			a[11] = NULL;
			j->argc = 11;
		}
	}
	qsort_r(s->jobs, s->njobs, sizeof *s->jobs, cmp_jobs, s);
	return 0;
}

static void free_jobs(struct sweep *s)
{
	for (size_t i = 0; i < s->njobs; i++) {
		free(s->jobs[i].argv[3]);	/* the config file's path */
		free(s->jobs[i].db);
		free(s->jobs[i].log);
	}
	free(s->jobs);
}

/* ---- --list --------------------------------------------------------------- */

static void put_quoted(const char *a)
{
	bool plain = *a != 0;
	for (const char *c = a; *c; c++)
		plain = plain && (strchr("_-./=:,+@%", *c) || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
				  (*c >= 'A' && *c <= 'Z'));
	if (plain) {
		fputs(a, stdout);
		return;
	}
	putchar('\'');
	for (const char *c = a; *c; c++)
		if (*c == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*c);
	putchar('\'');
}

/* --list prints one command per line (docs/sweeps.md runs them with
 * xargs -d '\n'): a path with a line break cannot be listed. Checked
 * before anything is written (the work folder's paths are the database's
 * with ".work" for ".db"). 0, or the exit code. */
static int listable(const struct sweep *s)
{
	const char *paths[] = { s->prog, s->db_path };
	const char *bad = NULL;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		bad = bad ? bad : strpbrk(paths[i], "\n\r") ? paths[i] : NULL;
	for (size_t i = 0; !bad && i < s->plan.ntraces; i++)
		bad = strpbrk(s->plan.traces[i].path, "\n\r") ? s->plan.traces[i].path : NULL;
	if (!bad)
		return 0;
	return cli_bad_input("sweep", "--list: '%.*s...' has a line break, which one command per line cannot hold "
				      "(run the sweep without --list)", (int)strcspn(bad, "\n\r"), bad);
}

static int list_jobs(struct sweep *s)
{
	for (size_t i = 0; i < s->njobs; i++) {
		for (int k = 0; k < s->jobs[i].argc; k++) {
			if (k)
				putchar(' ');
			put_quoted(s->jobs[i].argv[k]);
		}
		putchar('\n');
	}
	if (cli_flush_stdout("sweep"))
		return SL_EXIT_FAIL;
	if (!s->njobs)
		fprintf(stderr, "spanlab sweep: every run of sweep '%s' is complete in %s\n", s->plan.sweep_id, s->db_path);
	return SL_EXIT_OK;
}

/* ---- progress ------------------------------------------------------------- */

struct prog {
	bool enabled, plain, shown;
	double start, last;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void prog_init(struct prog *g, bool quiet)
{
	const char *term = getenv("TERM");
	memset(g, 0, sizeof *g);
	g->enabled = !quiet && isatty(STDERR_FILENO);
	g->plain = !term || !strcmp(term, "dumb") || getenv("NO_COLOR");
	g->start = g->last = now();
}

/* "sweep ID  7/40 runs  1 failed  ETA 1:23", after a second, at most 5 Hz. */
static void prog_draw(struct prog *g, const struct sweep *s, bool force)
{
	double t = now();
	if (!g->enabled || (!force && (t - g->start < 1.0 || t - g->last < 0.2)))
		return;
	size_t ended = s->complete + s->failed + s->interrupted;
	char eta[32] = "";
	if (ended && ended < s->njobs)
		cli_eta(eta, sizeof eta, (t - g->start) / (double)ended * (double)(s->njobs - ended));
	fprintf(stderr, "\rsweep %s  %zu/%zu runs", s->plan.sweep_id, ended, s->njobs);
	if (s->failed + s->interrupted)
		fprintf(stderr, "  %zu failed", s->failed + s->interrupted);
	fprintf(stderr, "%s%s", eta, g->plain ? "" : "\033[K");
	g->shown = true;
	g->last = t;
}

/* Before a line of its own on stderr. */
static void prog_clear(struct prog *g)
{
	if (g->shown)
		fputs(g->plain ? "\n" : "\r\033[K", stderr);
	g->shown = false;
}

/* ---- step 5: running ------------------------------------------------------- */

static pid_t launch(struct job *j, int lock_fd, const sigset_t *old_mask)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* Child: only async-signal-safe calls until exec. */
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(128 + SIGTERM);
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigaction(SIGINT, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	sigprocmask(SIG_SETMASK, old_mask, NULL);
	/* The replay holds the sweep's lock too (flock belongs to the open
	 * file, shared across fork and exec): a sweep that is SIGKILLed
	 * releases it only when the last of its replays, which PDEATHSIG is
	 * ending, has stopped writing its file in the work folder. */
	fcntl(lock_fd, F_SETFD, 0);
	/* Opened in this order, fds[i] >= i: no dup2 overwrites one still to
	 * be moved. Those above 2 are closed once moved. */
	int fds[3];
	fds[0] = open("/dev/null", O_RDONLY);
	fds[1] = open("/dev/null", O_WRONLY);
	fds[2] = open(j->log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	for (int i = 0; i < 3; i++)
		if (fds[i] < 0 || dup2(fds[i], i) < 0)
			_exit(127);
	for (int i = 0; i < 3; i++)
		if (fds[i] > 2)
			close(fds[i]);
	execv("/proc/self/exe", j->argv);
	static const char msg[] = "spanlab sweep: cannot run /proc/self/exe\n";
	ssize_t w = write(2, msg, sizeof msg - 1);
	(void)w;
	_exit(127);
}

/* The last non-empty line of a run's stderr. */
static void last_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	*out = 0;
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (*line) {
			size_t n = strlen(line) < len - 1 ? strlen(line) : len - 1;
			memcpy(out, line, n);
			out[n] = 0;
		}
	}
	fclose(f);
}

static void finished(struct sweep *s, struct job *j, int status, struct prog *g)
{
	struct sweep_plan *p = &s->plan;
	struct sweep_cell *c = &p->cells[j->cell];
	char err[1024], why[1200], line[1024];

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		struct db_merge_stats st;
		int rc = db_merge(s->db, j->db, &st, err, sizeof err);
		if (rc == 0 && st.merged + st.present >= 1) {
			db_remove_files(j->db);
			unlink(j->log);
			s->complete++;
			return;
		}
		prog_clear(g);
		fprintf(stderr, "spanlab sweep: %s: not merged, kept for `spanlab merge`: %s\n", j->db,
			rc ? err : "it holds no complete run");
		s->merge_errors++;
		return;
	}
	last_line(j->log, line, sizeof line);
	bool intr = (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGINT) ||
		    (WIFSIGNALED(status) && (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM ||
					     (WTERMSIG(status) == SIGKILL && s->killed)));
	if (WIFSIGNALED(status))
		snprintf(why, sizeof why, "killed by signal %d (%s)%s%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
			 *line ? "; last message: " : "", line);
	else if (*line)
		snprintf(why, sizeof why, "%s", line);
	else
		snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(status));
	prog_clear(g);
	fprintf(stderr, "spanlab sweep: run %s [%s] repeat %u %s: %s (log: %s)\n", p->traces[c->trace].name,
		p->points[c->point].label, j->repeat, intr ? "interrupted" : "failed", why, j->log);
	/* argv as the replay itself records it: from the command name on (the
	 * program's path is the machine's, not the run's) */
	if (sweep_db_record_failure(s->db, p, c, j->argc - 1, j->argv + 1, intr ? DB_RUN_INTERRUPTED : DB_RUN_FAILED,
				    why, err, sizeof err))
		fprintf(stderr, "spanlab sweep: cannot record the failure: %s\n", err);
	if (intr)
		s->interrupted++;
	else
		s->failed++;
}

/* Start runs in the free slots of running[] until none is left or a stop
 * was asked for. A run that cannot start is recorded as failed. */
static void fill(struct sweep *s, struct job **running, unsigned jobs, size_t *next, size_t *nrun,
		 const sigset_t *old, struct prog *g)
{
	for (unsigned k = 0; k < jobs; k++) {
		while (!running[k] && !stop_signal && *next < s->njobs) {
			struct job *j = &s->jobs[(*next)++];
			db_remove_files(j->db);	/* a failed earlier attempt */
			if ((j->pid = launch(j, s->lock_fd, old)) >= 0) {
				running[k] = j;
				++*nrun;
				break;
			}
			prog_clear(g);
			fprintf(stderr, "spanlab sweep: cannot start a replay: %s\n", strerror(errno));
			finished(s, j, 127 << 8, g);
		}
	}
}

static int run_jobs(struct sweep *s, unsigned jobs)
{
	struct job **running = calloc(jobs, sizeof *running);
	sigset_t chld, old;
	struct prog g;
	size_t next = 0, nrun = 0;
	int forwarded = 0;

	if (!running)
		return cli_fail("sweep", "out of memory");
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	prog_init(&g, s->quiet);

	fill(s, running, jobs, &next, &nrun, &old, &g);
	while (nrun) {
		/* First signal: pass it on; the runs stop at a record boundary
		 * and log themselves interrupted. Another (even one that came
		 * before the first was passed on): kill them. */
		for (; stop_signal && forwarded < stop_count && forwarded < 2; forwarded++) {
			s->killed = forwarded > 0;
			for (unsigned k = 0; k < jobs; k++)
				if (running[k])
					kill(running[k]->pid, s->killed ? SIGKILL : stop_signal);
		}
		/* SIGCHLD is blocked: wait for it, or 200 ms for the progress line. */
		struct timespec tick = { 0, 200 * 1000 * 1000 };
		sigtimedwait(&chld, NULL, &tick);
		for (unsigned k = 0; k < jobs; k++) {
			int st;
			if (!running[k] || waitpid(running[k]->pid, &st, WNOHANG) != running[k]->pid)
				continue;
			struct job *j = running[k];
			running[k] = NULL;
			nrun--;
			/* Start the next run before merging this one: the merge
			 * overlaps the replays still running. */
			fill(s, running, jobs, &next, &nrun, &old, &g);
			finished(s, j, st, &g);
		}
		prog_draw(&g, s, false);
	}
	prog_draw(&g, s, true);
	prog_clear(&g);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(running);
	return 0;
}

/* ---- the command ------------------------------------------------------------ */

static int prepare(struct sweep *s)
{
	char err[1024];
	int code;
	char *dbdir = strdup(s->db_path), *slash = dbdir ? strrchr(dbdir, '/') : NULL;

	if (slash && slash != dbdir) {
		*slash = 0;
		make_dirs(dbdir);
	}
	free(dbdir);
	if (make_dirs(s->work))
		return cli_fail("sweep", "%s: cannot create the work folder: %s", s->work, strerror(errno));
	/* Two sweeps on one results database would run the same replays into
	 * the same files and merge each other's halves. */
	char lock[PATH_MAX];
	snprintf(lock, sizeof lock, "%s/lock", s->work);
	if ((s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0)
		return cli_fail("sweep", "%s: %s", lock, strerror(errno));
	if (s->lock_fd < 3) {	/* 0-2 were closed: a replay's dup2 would close it */
		int fd = fcntl(s->lock_fd, F_DUPFD_CLOEXEC, 3);
		close(s->lock_fd);
		if ((s->lock_fd = fd) < 0)
			return cli_fail("sweep", "%s: %s", lock, strerror(errno));
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB))
		return cli_fail("sweep", "%s: another spanlab sweep, or a replay it started, is using this work folder (and its database)", s->work);
	if ((code = db_open(s->db_path, DB_OPEN_WRITE, &s->db, err, sizeof err)))
		return cli_error("sweep", code, "%s", err);
	if ((code = sweep_db_record_plan(s->db, &s->plan, err, sizeof err)))
		return cli_fail("sweep", "%s", err);
	if ((code = write_configs(s)))
		return code;
	merge_leftovers(s);
	if (!(s->done = calloc(s->plan.ncells, sizeof *s->done)))
		return cli_fail("sweep", "out of memory");
	if ((code = sweep_db_done(s->db, &s->plan, s->done, err, sizeof err)))
		return cli_fail("sweep", "%s", err);
	if (make_jobs(s))
		return cli_fail("sweep", "out of memory");
	return 0;
}

static int summary(struct sweep *s)
{
	struct sweep_plan *p = &s->plan;
	printf("sweep %s: %zu point%s x %zu trace%s x %u repeat%s: %zu runs of %zu distinct configs\n", p->sweep_id,
	       p->npoints, p->npoints == 1 ? "" : "s", p->ntraces, p->ntraces == 1 ? "" : "s", p->repeats,
	       p->repeats == 1 ? "" : "s", p->distinct * p->repeats, p->distinct);
	printf("  %zu complete already, %zu completed now, %zu failed, %zu interrupted", s->already, s->complete,
	       s->failed, s->interrupted);
	if (s->merge_errors)
		printf(", %zu not merged", s->merge_errors);
	printf("\n  results in %s\n", s->db_path);
	if (cli_flush_stdout("sweep"))
		return SL_EXIT_FAIL;
	if (stop_signal)
		return 128 + SIGINT;
	return s->failed || s->interrupted || s->merge_errors ? SL_EXIT_FAIL : SL_EXIT_OK;
}

int cmd_sweep(int argc, char **argv)
{
	enum { O_JOBS = 256, O_DB, O_LIST, O_ID };
	static const struct option opts[] = {
		{ "jobs", required_argument, 0, O_JOBS }, { "db", required_argument, 0, O_DB },
		{ "list", no_argument, 0, O_LIST }, { "sweep-id", required_argument, 0, O_ID },
		{ "quiet", no_argument, 0, 'q' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct sweep s = { .lock_fd = -1 };
	const char *db = NULL, *id = NULL;
	bool list = false;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t jobs = cores > 0 ? (uint64_t)cores : 1;
	char err[1400];
	int o, code;

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
		switch (o) {
		case O_JOBS:
			if (!cli_parse_u64(optarg, 1, 1024, &jobs))
				return cli_usage("sweep", "--jobs needs an integer from 1 to 1024, not '%s'", optarg);
			break;
		case O_DB: db = optarg; break;
		case O_LIST: list = true; break;
		case O_ID:
			if (!sweep_id_ok(optarg))
				return cli_usage("sweep", "--sweep-id must be a name on one line");
			id = optarg;
			break;
		case 'q': s.quiet = true; break;
		case 'h': fputs(usage_text, stdout); return SL_EXIT_OK;
		case ':': return cli_usage("sweep", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage("sweep", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage("sweep", "missing SWEEP.json");
	if (optind + 1 < argc)
		return cli_usage("sweep", "unexpected argument '%s'", argv[optind + 1]);

	/* The replay commands name the binary as this process was named:
	 * a path if it was run by path, else "spanlab" (found on PATH). */
	s.prog = strchr(program_invocation_name, '/') ? program_invocation_name : "spanlab";
	if ((code = sweep_load(argv[optind], id, &s.plan, err, sizeof err))) {
		code = cli_error("sweep", code, "%s", err);
		goto out;
	}
	if (db && db_write_path_check(db, err, sizeof err)) {
		code = cli_bad_input("sweep", "%s", err);
		goto out;
	}
	s.db_path = db ? strdup(db) : default_db(argv[optind]);
	s.work = s.db_path ? work_dir(s.db_path) : NULL;
	if (!s.work) {
		code = cli_fail("sweep", "out of memory");
		goto out;
	}
	if ((list && (code = listable(&s))) || (code = prepare(&s)))
		goto out;
	if (list) {
		code = list_jobs(&s);
		goto out;
	}
	run_jobs(&s, (unsigned)jobs);
	db_after_load(s.db);
	if (db_warning(s.db))
		fprintf(stderr, "spanlab sweep: warning: %s\n", db_warning(s.db));
	code = summary(&s);
out:
	if (s.db)
		db_close(s.db);
	if (s.lock_fd >= 0)
		close(s.lock_fd);
	free_jobs(&s);
	free(s.done);
	free(s.db_path);
	free(s.work);
	sweep_free(&s.plan);
	return code;
}
