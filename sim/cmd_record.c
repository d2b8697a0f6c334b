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
 * exec'd descendants know they are not the recorded process). ld.so splits
 * LD_PRELOAD at spaces and colons: a library path with one is preloaded
 * through a symbolic link in a private temporary directory, removed when
 * the recording ends. The child gets the SIGINT, SIGQUIT and SIGXFSZ
 * dispositions we were started with (we ignore the first two while it runs,
 * so that Ctrl-C reaches the program and the trace is finished, and SIGXFSZ,
 * so that a file size limit fails a write instead of killing us). With
 * --children every descendant process that loads the recorder gets its own
 * OUT-base.PID.slt, and `spanlab record` waits for all of them; it is a
 * child subreaper, so orphaned descendants become its children and it
 * knows when none is left (record_merge.c: claims whose claimer died).
 *
 * The trace file: OUT is checked before PROG starts. A new path or a
 * regular file (through symbolic links: their target) is replaced through a
 * temporary file in its directory, renamed over it once the program has
 * loaded the recorder and the trace's header is written: a program that
 * cannot run or never loads the recorder leaves OUT as it was, and from the
 * rename on OUT holds the trace as it grows, readable to its last whole
 * record even if spanlab record is killed. Anything else (a device such as
 * /dev/null, a FIFO) is opened and written as it is, never unlinked.
 *
 * Exit status: PROG's (128 + signal if it was killed), so scripts see the
 * program's result; 2 for bad usage (a malformed SPANLAB_RECORD_RING_WORDS
 * too), an OUT that cannot be created or a
 * program that cannot be started; 1 if no trace was written (e.g. a
 * statically linked PROG) or the root's trace could not be written whole
 * (a full disk: the file is cut short at its last whole buffer).
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "record_merge.h"
#include "slt.h"

#define SHM_FD_MIN 500	/* the program's descriptor for the recorder's memory */
#define LIB_NAME "libspanlab-record.so"

static const char usage_text[] =
	"usage: spanlab record [-o OUT.slt] [--children] [--tick NS] -- PROG [ARGS...]\n\n"
	"Run PROG (an unmodified, dynamically linked program) with the spanlab\n"
	"recorder preloaded and write its allocation trace to OUT.slt (default:\n"
	"PROG's name + .slt in the current directory).\n\n"
	"  -o, --output OUT  the trace to write (replaced if it exists; not -)\n"
	"  --children        also record child processes, each to OUT-base.PID.slt\n"
	"  --tick NS         timestamp resolution in ns (default 1000)\n"
	"  -h, --help        this text\n\n"
	"Exit status: PROG's own (128 + signal if killed); 2 bad usage, OUT cannot\n"
	"be created or PROG cannot be run; 1 no trace was written, or it could not\n"
	"be written whole (a full disk: the file is cut short).\n";

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
			snprintf(out, cap, "%s/" LIB_NAME, exe);
			if (access(out, R_OK) == 0)
				return 0;
			snprintf(out, cap, "%s/../lib/spanlab/" LIB_NAME, exe);
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
	uint32_t ring_words;	/* SPANLAB_RECORD_RING_WORDS, or 0: the default */
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
		case 'o':
			/* The trace is written while PROG runs, and PROG's own
			 * output goes to stdout: the two would interleave. */
			if (cli_out_is_stdout(optarg))
				return cli_usage("record", "-o -: the trace cannot go to stdout (PROG's output goes there); name a file");
			r->out = optarg;
			break;
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

/* ---- the library's path ------------------------------------------------ */

/* A directory for temporary files whose path LD_PRELOAD can carry. */
static const char *tmp_base(void)
{
	const char *t = getenv("TMPDIR");
	return t && *t && !strpbrk(t, " :") ? t : "/tmp";
}

/* lib as LD_PRELOAD can name it: itself, or (a space or colon in its
 * path) a link to it in a new directory *dir, removed by lib_unlink. */
static int lib_link(char *lib, size_t cap, char *dir, size_t dcap)
{
	char real[PATH_MAX];
	bool made = false;
	dir[0] = 0;
	if (!strpbrk(lib, " :"))
		return 0;
	if (realpath(lib, real)) {
		snprintf(dir, dcap, "%s/spanlab-record-XXXXXX", tmp_base());
		made = mkdtemp(dir) != NULL;
	}
	if (made) {
		char link[PATH_MAX + 64];
		snprintf(link, sizeof link, "%s/" LIB_NAME, dir);
		if (symlink(real, link) == 0) {
			snprintf(lib, cap, "%s", link);
			return 0;
		}
	}
	int e = errno;
	if (made)
		rmdir(dir);
	dir[0] = 0;
	return cli_fail("record", "%s: its path has a space or colon, which LD_PRELOAD cannot carry, "
		       "and no link to it could be made in %s: %s", lib, tmp_base(), strerror(e));
}

static void lib_unlink(const char *lib, const char *dir)
{
	if (!dir[0])
		return;
	unlink(lib);
	rmdir(dir);
}

/* ---- the trace file (see the top of this file) ------------------------- */

struct outfile {
	int fd;			/* the root's trace */
	char tmp[PATH_MAX + 8];	/* fd's temporary name ("": fd is OUT itself) */
	char dest[PATH_MAX];	/* what the temporary file replaces */
};

/* out with its symbolic links followed, a dangling one's too. */
static int follow_links(const char *out, char *dest, size_t cap)
{
	snprintf(dest, cap, "%s", out);
	for (int depth = 0; depth < 40; depth++) {
		struct stat st;
		char link[PATH_MAX], next[PATH_MAX];
		if (lstat(dest, &st) < 0 || !S_ISLNK(st.st_mode))
			return 0;
		ssize_t n = readlink(dest, link, sizeof link - 1);
		if (n < 0)
			return -1;
		link[n] = 0;
		const char *slash = strrchr(dest, '/');
		int len = link[0] == '/' || !slash
				  ? snprintf(next, sizeof next, "%s", link)
				  : snprintf(next, sizeof next, "%.*s/%s", (int)(slash - dest), dest, link);
		if (len < 0 || (size_t)len >= cap) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(dest, next, (size_t)len + 1);
	}
	errno = ELOOP;
	return -1;
}

/* Open the root's trace: a temporary file next to what OUT names, or a
 * non-regular OUT itself. -1 and errno if it cannot be created. */
static int open_out(const char *out, struct outfile *of)
{
	struct stat st;
	of->tmp[0] = 0;
	if (follow_links(out, of->dest, sizeof of->dest) < 0)
		return -1;
	if (stat(of->dest, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode)) {
			errno = EISDIR;
			return -1;
		}
		return of->fd = open(of->dest, O_WRONLY | O_NOCTTY | O_CLOEXEC);
	}
	int n = snprintf(of->tmp, sizeof of->tmp, "%s.XXXXXX", of->dest);
	if (n < 0 || (size_t)n >= sizeof of->tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((of->fd = mkostemp(of->tmp, O_CLOEXEC)) < 0)
		return -1;
	mode_t mask = umask(022);
	umask(mask);
	if (fchmod(of->fd, 0644 & ~mask) < 0) {	/* as a new file would be */
		int e = errno;
		close(of->fd);
		unlink(of->tmp);
		errno = e;
		return -1;
	}
	return of->fd;
}

static void close_out(struct outfile *of)
{
	close(of->fd);
	if (of->tmp[0])
		unlink(of->tmp);
}

/* ---- the program ------------------------------------------------------- */

/* The dispositions we ignore while PROG runs; the child gets them back. */
static const int g_sigs[] = { SIGINT, SIGQUIT, SIGXFSZ };
enum { NSIGS = sizeof g_sigs / sizeof g_sigs[0] };

static void ignore_signals(struct sigaction *saved)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigemptyset(&ign.sa_mask);
	for (int i = 0; i < NSIGS; i++)
		sigaction(g_sigs[i], &ign, &saved[i]);
}

static void restore_signals(const struct sigaction *saved)
{
	for (int i = 0; i < NSIGS; i++)
		sigaction(g_sigs[i], &saved[i], NULL);
}

/* The program's descriptor for the shared memory: inheritable, at
 * SHM_FD_MIN or above so scripts' redirections (exec 3>...) miss it, or as
 * high as RLIMIT_NOFILE lets it be. */
static int shm_fd_for_child(int shm_fd)
{
	for (int min = SHM_FD_MIN; min >= 10; min /= 2) {
		int fd = fcntl(shm_fd, F_DUPFD, min);
		if (fd >= 0)
			return fd;
	}
	int fd = fcntl(shm_fd, F_DUPFD, 3);
	if (fd >= 0)
		return fd;
	fcntl(shm_fd, F_SETFD, 0);	/* no descriptor to spare: pass ours on */
	return shm_fd;
}

/* In the child: the environment, then exec. Reports errno on errpipe. */
static void child(const struct rec *r, const char *lib, int shm_fd, int errpipe,
		  const struct sigaction *saved)
{
	char buf[PATH_MAX * 2], pid[32], fd[32];
	const char *old = getenv("LD_PRELOAD");
	snprintf(buf, sizeof buf, "%s%s%s", lib, old && *old ? " " : "", old ? old : "");
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	snprintf(fd, sizeof fd, "%d", shm_fd_for_child(shm_fd));
	setenv("LD_PRELOAD", buf, 1);
	setenv("SPANLAB_RECORD_SHM", fd, 1);
	setenv("SPANLAB_RECORD_PID", pid, 1);
	restore_signals(saved);
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
 * done. *status and *ru are PROG's; saved[]: the signal dispositions it
 * gets back (ignore_signals). */
static int run(const struct rec *r, const char *lib, struct rec_merger *m, int shm_fd,
	       int *status, struct rusage *ru, const struct sigaction *saved)
{
	int pfd[2];
	char err[1024];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cli_fail("record", "pipe: %m");
	/* Orphaned descendants become our children: when none is left,
	 * nothing can be claiming a slot (record_merge.c). */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	pid_t pid = fork();
	if (pid < 0)
		return cli_fail("record", "fork: %m");
	if (pid == 0)
		child(r, lib, shm_fd, pfd[1], saved);
	close(pfd[1]);
	int e = 0;
	ssize_t k = read(pfd[0], &e, sizeof e);
	close(pfd[0]);
	int rc = rec_merger_run(m, pid, status, ru, err, sizeof err);
	if (k == (ssize_t)sizeof e)
		return cli_bad_input("record", "%s: cannot run: %s", r->prog[0], strerror(e));
	if (rc < 0)
		return cli_fail("record", "%s", err);
	return 0;
}

static void summary(const struct rec_result *res, const char *prog, int code, bool killed,
		    double prog_cpu, double rec_cpu)
{
	if (res->err) {
		fprintf(stderr, "spanlab record: %s: cannot write the trace: %s; the file holds the "
			"first %llu events (%llu bytes), cut short\n", res->path, strerror(res->err),
			(unsigned long long)res->events, (unsigned long long)res->bytes);
		return;
	}
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

/* One line per trace; the exit status. */
static int report(struct rec_merger *m, const struct rec *r, int status, const struct rusage *ru)
{
	struct rusage self;
	getrusage(RUSAGE_SELF, &self);
	bool killed = WIFSIGNALED(status);
	int code = killed ? WTERMSIG(status) : WEXITSTATUS(status);
	const struct rec_result *res;
	size_t n = rec_merger_results(m, &res);
	bool root_seen = false, root_failed = false;
	for (size_t i = 0; i < n; i++) {
		summary(&res[i], r->prog[0], code, killed, cpu_s(ru), cpu_s(&self));
		root_seen |= res[i].root;
		root_failed |= res[i].root && res[i].err;
	}
	if (!root_seen)
		return cli_fail("record", "%s: no trace written (is %s dynamically linked?)", r->out,
				r->prog[0]);
	if (root_failed)
		return SL_EXIT_FAIL;
	return killed ? 128 + code : code;
}

/* SPANLAB_RECORD_RING_WORDS, a testing knob (tiny rings wrap and fill),
 * checked before anything is created, as SPANLAB_FAULT_OS is by replay:
 * a value that is not a power of two from 64 to 2^31 is bad usage. */
static int ring_words_from_env(struct rec *r)
{
	const char *rw = getenv("SPANLAB_RECORD_RING_WORDS");
	uint64_t w;
	if (!rw || !*rw)
		return 0;
	if (!cli_parse_u64(rw, 64, 1u << 31, &w) || (w & (w - 1)))
		return cli_usage("record", "SPANLAB_RECORD_RING_WORDS='%s': expected a power of two from 64 to 2147483648",
				 rw);
	r->ring_words = (uint32_t)w;
	return 0;
}

/* The merger, writing the root's trace to of (which it owns if made). */
static struct rec_merger *new_merger(const struct rec *r, struct outfile *of, int *shm_fd)
{
	char err[1024];
	struct rec_opts o = { .out = r->out, .children = r->children, .tick_ns = (uint32_t)r->tick,
			      .ring_words = r->ring_words,
			      .out_fd_set = true, .out_fd = of->fd,
			      .out_tmp = of->tmp[0] ? of->tmp : NULL, .out_dest = of->dest };
	struct rec_merger *m = rec_merger_new(&o, shm_fd, err, sizeof err);
	if (!m) {
		close_out(of);
		cli_fail("record", "%s", err);
	}
	return m;
}

int cmd_record(int argc, char **argv)
{
	struct rec r = { 0 };
	struct outfile of;
	char defout[PATH_MAX], lib[PATH_MAX + 64], libdir[PATH_MAX];
	int rc = parse_args(argc, argv, &r, defout, sizeof defout), status = 0, shm_fd;
	struct rusage ru = { 0 };
	struct sigaction saved[NSIGS];
	if (rc)
		return rc < 0 ? SL_EXIT_OK : rc;
	if ((rc = ring_words_from_env(&r)))
		return rc;
	if (find_lib(lib, sizeof lib) < 0)
		return cli_fail("record", LIB_NAME " not found next to spanlab, in ../lib/spanlab/, "
			       "or at $SPANLAB_RECORD_LIB");
	if (open_out(r.out, &of) < 0)
		return cli_bad_input("record", "%s: cannot create the trace: %s", r.out, strerror(errno));
	ignore_signals(saved);
	struct rec_merger *m = new_merger(&r, &of, &shm_fd);
	if (!m) {
		restore_signals(saved);
		return SL_EXIT_FAIL;
	}
	if ((rc = lib_link(lib, sizeof lib, libdir, sizeof libdir)) == 0)
		rc = run(&r, lib, m, shm_fd, &status, &ru, saved);
	lib_unlink(lib, libdir);
	if (rc == 0)
		rc = report(m, &r, status, &ru);
	rec_merger_free(m);
	restore_signals(saved);
	return rc;
}
