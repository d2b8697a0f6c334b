/*
 * spanlab record [-o OUT.slt] [--children] [--tick NS] -- PROG [ARGS...]:
 * run PROG with the recorder preloaded (traces/record/preload.c) and merge
 * the raw rings it writes into OUT.slt while it runs (record_merge.c).
 *
 * The recorder library is looked for next to this executable, then in
 * ../lib/spanlab/ relative to it (an installed tree), then at
 * $SPANLAB_RECORD_LIB. The child gets LD_PRELOAD (ours first, the user's
 * kept after it), SPANLAB_RECORD_SHM (the shared memory's descriptor,
 * inherited by every descendant) and SPANLAB_RECORD_PID (its own pid, so
 * exec'd descendants know they are not the recorded process). With
 * --children every descendant process that loads the recorder gets its own
 * OUT-base.PID.slt, and `spanlab record` waits for all of them.
 *
 * Exit status: PROG's (128 + signal if it was killed), so scripts see the
 * program's result; 2 for bad usage or a program that cannot be started;
 * 1 if no trace was written (e.g. a statically linked PROG).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "record_merge.h"
#include "slt.h"

#define SHM_FD_MIN 500	/* the program's descriptor for the recorder's memory */

static const char usage_text[] =
	"usage: spanlab record [-o OUT.slt] [--children] [--tick NS] -- PROG [ARGS...]\n\n"
	"Run PROG (an unmodified, dynamically linked program) with the spanlab\n"
	"recorder preloaded and write its allocation trace to OUT.slt (default:\n"
	"PROG's name + .slt in the current directory).\n\n"
	"  -o, --output OUT  the trace to write (replaced if it exists)\n"
	"  --children        also record child processes, each to OUT-base.PID.slt\n"
	"  --tick NS         timestamp resolution in ns (default 1000)\n"
	"  -h, --help        this text\n\n"
	"Exit status: PROG's own (128 + signal if killed); 2 bad usage or PROG\n"
	"cannot be run; 1 no trace was written.\n";

/* The recorder library: next to us, ../lib/spanlab/, $SPANLAB_RECORD_LIB. */
static int find_lib(char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			snprintf(out, cap, "%s/libspanlab-record.so", exe);
			if (access(out, R_OK) == 0)
				return 0;
			snprintf(out, cap, "%s/../lib/spanlab/libspanlab-record.so", exe);
			if (access(out, R_OK) == 0)
				return 0;
		}
	}
	const char *env = getenv("SPANLAB_RECORD_LIB");
	if (env && access(env, R_OK) == 0) {
		snprintf(out, cap, "%s", env);
		return 0;
	}
	return -1;
}

struct rec {
	const char *out;
	bool children;
	uint64_t tick;
	char **prog;
};

static int parse_args(int argc, char **argv, struct rec *r, char *defout, size_t cap)
{
	static const struct option opts[] = {
		{ "output", required_argument, 0, 'o' }, { "children", no_argument, 0, 'c' },
		{ "tick", required_argument, 0, 't' },	 { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int o;
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+:o:h", opts, NULL)) != -1) {
		switch (o) {
		case 'o': r->out = optarg; break;
		case 'c': r->children = true; break;
		case 't':
			if (!cli_parse_u64(optarg, 1, 1000000000, &r->tick))
				return cli_usage("record", "--tick takes 1..1000000000 ns, not '%s'", optarg);
			break;
		case 'h': fputs(usage_text, stdout); return -1;
		case ':': return cli_usage("record", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage("record", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage("record", "missing PROG (spanlab record [-o OUT.slt] -- PROG ...)");
	r->prog = argv + optind;
	if (!r->out) {
		const char *base = strrchr(r->prog[0], '/');
		snprintf(defout, cap, "%s.slt", base ? base + 1 : r->prog[0]);
		r->out = defout;
	}
	return 0;
}

/* In the child: the environment, then exec. Reports errno on errpipe. */
static void child(const struct rec *r, const char *lib, int shm_fd, int errpipe)
{
	char buf[PATH_MAX * 2], pid[32], fd[32];
	const char *old = getenv("LD_PRELOAD");
	snprintf(buf, sizeof buf, "%s%s%s", lib, old && *old ? " " : "", old ? old : "");
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	/* An inheritable dup well above the descriptors scripts use (exec 3>...). */
	int hi = fcntl(shm_fd, F_DUPFD, SHM_FD_MIN);
	snprintf(fd, sizeof fd, "%d", hi >= 0 ? hi : shm_fd);
	setenv("LD_PRELOAD", buf, 1);
	setenv("SPANLAB_RECORD_SHM", fd, 1);
	setenv("SPANLAB_RECORD_PID", pid, 1);
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	execvp(r->prog[0], r->prog);
	int e = errno;
	ssize_t k = write(errpipe, &e, sizeof e);
	(void)k;
	_exit(127);
}

/* CPU seconds (user + system) of a rusage. */
static double cpu_s(const struct rusage *ru)
{
	return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) +
	       (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1e-6;
}

/* Start PROG and merge its rings until it and every recorded process are
 * done. *status and *ru are PROG's. */
static int run(const struct rec *r, const char *lib, struct rec_merger *m, int shm_fd,
	       int *status, struct rusage *ru)
{
	int pfd[2];
	char err[1024];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cli_fail("record", "pipe: %m");
	unlink(r->out);	/* so a program that never loads the recorder leaves none */
	void (*oldint)(int) = signal(SIGINT, SIG_IGN), (*oldquit)(int) = signal(SIGQUIT, SIG_IGN);
	pid_t pid = fork();
	if (pid < 0)
		return cli_fail("record", "fork: %m");
	if (pid == 0)
		child(r, lib, shm_fd, pfd[1]);
	close(pfd[1]);
	int e = 0;
	ssize_t k = read(pfd[0], &e, sizeof e);
	close(pfd[0]);
	int rc = rec_merger_run(m, pid, status, ru, err, sizeof err);
	signal(SIGINT, oldint);
	signal(SIGQUIT, oldquit);
	if (k == (ssize_t)sizeof e)
		return cli_bad_input("record", "%s: cannot run: %s", r->prog[0], strerror(e));
	if (rc < 0)
		return cli_fail("record", "%s", err);
	return 0;
}

static void summary(const struct rec_result *res, const char *prog, int code, bool killed,
		    double prog_cpu, double rec_cpu)
{
	fprintf(stderr, "spanlab record: %s: %llu events, %llu threads, %llu bytes (%.2f B/event)%s",
		res->path, (unsigned long long)res->events, (unsigned long long)res->threads,
		(unsigned long long)res->bytes,
		res->events ? (double)res->bytes / (double)res->events : 0.0,
		res->complete ? "" : ", cut short");
	if (res->root)
		fprintf(stderr, "; %s %s %d; CPU: program %.3f s, recorder %.3f s\n", prog,
			killed ? "was killed by signal" : "exited with status", code, prog_cpu,
			rec_cpu);
	else
		fprintf(stderr, " (process %d)\n", (int)res->pid);
}

int cmd_record(int argc, char **argv)
{
	struct rec r = { 0 };
	char defout[PATH_MAX], lib[PATH_MAX + 64], err[1024];
	int rc = parse_args(argc, argv, &r, defout, sizeof defout), status = 0, shm_fd;
	struct rusage ru = { 0 }, self;
	if (rc)
		return rc < 0 ? SL_EXIT_OK : rc;
	if (find_lib(lib, sizeof lib) < 0)
		return cli_fail("record", "libspanlab-record.so not found next to spanlab, in "
			       "../lib/spanlab/, or at $SPANLAB_RECORD_LIB");
	/* SPANLAB_RECORD_RING_WORDS: a testing knob (tiny rings wrap and fill). */
	const char *rw = getenv("SPANLAB_RECORD_RING_WORDS");
	struct rec_opts o = { .out = r.out, .children = r.children, .tick_ns = (uint32_t)r.tick,
			      .ring_words = rw ? (uint32_t)strtoul(rw, NULL, 10) : 0 };
	struct rec_merger *m = rec_merger_new(&o, &shm_fd, err, sizeof err);
	if (!m)
		return cli_fail("record", "%s", err);
	if ((rc = run(&r, lib, m, shm_fd, &status, &ru))) {
		rec_merger_free(m);
		return rc;
	}
	getrusage(RUSAGE_SELF, &self);
	bool killed = WIFSIGNALED(status);
	int code = killed ? WTERMSIG(status) : WEXITSTATUS(status);
	const struct rec_result *res;
	size_t n = rec_merger_results(m, &res);
	bool root_seen = false;
	for (size_t i = 0; i < n; i++) {
		summary(&res[i], r.prog[0], code, killed, cpu_s(&ru), cpu_s(&self));
		root_seen |= res[i].root;
	}
	rec_merger_free(m);
	if (!root_seen)
		return cli_fail("record", "%s: no trace written (is %s dynamically linked?)", r.out,
				r.prog[0]);
	return killed ? 128 + code : code;
}
