/*
 * Baselines: the allocator adapters, and the parent/child pair that replays
 * a trace through a real C allocator (see baseline.h for the shape).
 *
 * Which figure stands for what. The Go model's snapshot columns are filled
 * from each allocator's own statistics as follows (docs/performance.md has
 * the same table):
 *
 *   column        glibc (mallinfo2)  jemalloc (mallctl)  mimalloc             tcmalloc (MallocExtension)
 *   live_rounded  uordblks + hblkhd  stats.allocated     sum of used blocks   generic.current_allocated_bytes
 *   heap_inuse    uordblks + hblkhd  stats.active        sum of page areas    heap_size - pageheap free - unmapped
 *   ready         arena + hblkhd     stats.resident      current commit       heap_size - pageheap unmapped
 *   heap_sys      arena + hblkhd     stats.mapped        current commit       generic.heap_size
 *   released      NULL               stats.retained      NULL                 tcmalloc.pageheap_unmapped_bytes
 *
 * heap in-use is "pages holding objects" where the allocator has pages
 * (jemalloc's active pages, mimalloc's pages, tcmalloc's spans in use or
 * cached); glibc has no pages, so its in-use is the bytes of allocated
 * chunks, headers included. Ready is what the allocator keeps backed by the
 * OS as far as it knows: glibc's sbrk heap and mmapped chunks (it never
 * returns free chunks inside the heap on its own), jemalloc's resident
 * pages (its metadata included), mimalloc's committed bytes (its own RSS
 * estimate on Linux), tcmalloc's heap minus what it released. mimalloc's
 * public interface has no mapped-bytes figure, so its heap sys repeats its
 * commit.
 *
 * mimalloc's in-use walks the default heap's pages (mi_heap_visit_blocks
 * without visiting blocks: no side effect); jemalloc's figures are
 * refreshed by writing "epoch" first; glibc's mallinfo2 walks every free
 * chunk (milliseconds on a fragmented heap). All are read at snapshots
 * only, and the replay leaves that time out of wall_seconds.
 *
 * Statistics symbols are looked up with dlsym, so spanlab links against
 * none of these libraries; one that is missing from the library falls back
 * to the process's resident set for Ready.
 */
#define _GNU_SOURCE
#include "baseline.h"

#include <cJSON.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "replay.h"
#include "snapshot.h"

extern char **environ;

/* AddressSanitizer replaces malloc in its own process and must come first
 * among the preloaded libraries: a baseline cannot replay in such a build. */
#if defined(__SANITIZE_ADDRESS__)
static const bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
static const bool sanitized = true;
#else
static const bool sanitized = false;
#endif
#else
static const bool sanitized = false;
#endif

static int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- the adapters (child side) -------------------------------------------- */

static void mem_null(struct baseline_mem *m)
{
	m->allocated = m->inuse = m->ready = m->sys = m->released = SIM_NULL;
}

/* The fallback: the process's resident set (statm's second field), read
 * with read(2): stdio would take its buffer from the allocator under test. */
static void mem_statm(struct baseline_mem *m)
{
	char buf[128];
	unsigned long size, resident;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	mem_null(m);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	if (sscanf(buf, "%lu %lu", &size, &resident) == 2)
		m->ready = (int64_t)resident * sysconf(_SC_PAGESIZE);
}

/* glibc: mallinfo2 (glibc >= 2.33), the process's own malloc. */
static int glibc_init(char *version, size_t n, char *err, size_t errlen)
{
	snprintf(version, n, "glibc %s", gnu_get_libc_version());
	return 0;
}

static void glibc_mem(struct baseline_mem *m)
{
	struct mallinfo2 mi = mallinfo2();
	m->allocated = m->inuse = (int64_t)(mi.uordblks + mi.hblkhd);
	m->ready = m->sys = (int64_t)(mi.arena + mi.hblkhd);
	m->released = SIM_NULL;
}

/* jemalloc: mallctl, refreshed by an epoch write. */
typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
static mallctl_fn je_mallctl;

static int jemalloc_init(char *version, size_t n, char *err, size_t errlen)
{
	const char *v = NULL;
	size_t sz = sizeof v;

	je_mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
	if (je_mallctl && je_mallctl("version", &v, &sz, NULL, 0) == 0 && v)
		snprintf(version, n, "jemalloc %s", v);
	else
		snprintf(version, n, "jemalloc (unknown version)");
	return 0;
}

static int64_t je_stat(const char *name)
{
	size_t v, sz = sizeof v;
	return je_mallctl(name, &v, &sz, NULL, 0) == 0 ? (int64_t)v : SIM_NULL;
}

static void jemalloc_mem(struct baseline_mem *m)
{
	uint64_t epoch = 1;
	size_t sz = sizeof epoch;

	if (!je_mallctl || je_mallctl("epoch", &epoch, &sz, &epoch, sz)) {
		mem_statm(m);
		return;
	}
	m->allocated = je_stat("stats.allocated");
	m->inuse = je_stat("stats.active");
	m->ready = je_stat("stats.resident");
	m->sys = je_stat("stats.mapped");
	m->released = je_stat("stats.retained");
}

/* mimalloc: mi_process_info and a walk over the default heap's pages. */
struct mi_area {		/* mi_heap_area_t of mimalloc.h (2.x) */
	void *blocks;
	size_t reserved, committed, used, block_size, full_block_size;
};
typedef bool (*mi_visit_fn)(const void *heap, const struct mi_area *area, void *block, size_t size, void *arg);
static void (*mi_process_info_fn)(size_t *, size_t *, size_t *, size_t *, size_t *, size_t *, size_t *, size_t *);
static bool (*mi_visit_fn_)(const void *heap, bool blocks, mi_visit_fn visitor, void *arg);
static void *(*mi_default_heap_fn)(void);

static int mimalloc_init(char *version, size_t n, char *err, size_t errlen)
{
	int (*ver)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "mi_version");
	mi_process_info_fn = (void (*)(size_t *, size_t *, size_t *, size_t *, size_t *, size_t *, size_t *,
				       size_t *))dlsym(RTLD_DEFAULT, "mi_process_info");
	mi_visit_fn_ = (bool (*)(const void *, bool, mi_visit_fn, void *))dlsym(RTLD_DEFAULT, "mi_heap_visit_blocks");
	mi_default_heap_fn = (void *(*)(void))dlsym(RTLD_DEFAULT, "mi_heap_get_default");
	if (ver) {
		int v = ver();	/* 209: 2.0.9 */
		snprintf(version, n, "mimalloc %d.%d.%d", v / 100, v / 10 % 10, v % 10);
	} else {
		snprintf(version, n, "mimalloc (unknown version)");
	}
	return 0;
}

struct mi_sums {
	size_t pages, used;
};

static bool mi_sum_area(const void *heap, const struct mi_area *a, void *block, size_t size, void *arg)
{
	struct mi_sums *s = arg;
	s->pages += a->reserved;
	s->used += a->used * a->block_size;
	return true;
}

static void mimalloc_mem(struct baseline_mem *m)
{
	size_t el, ut, st, rss, prss, commit, pcommit, faults;
	struct mi_sums s = { 0, 0 };

	if (!mi_process_info_fn) {
		mem_statm(m);
		return;
	}
	mem_null(m);
	mi_process_info_fn(&el, &ut, &st, &rss, &prss, &commit, &pcommit, &faults);
	m->ready = m->sys = (int64_t)commit;
	if (mi_visit_fn_ && mi_default_heap_fn && mi_visit_fn_(mi_default_heap_fn(), false, mi_sum_area, &s)) {
		m->inuse = (int64_t)s.pages;
		m->allocated = (int64_t)s.used;
	}
}

/* tcmalloc (gperftools): MallocExtension's numeric properties. */
static int (*tc_prop)(const char *, size_t *);

static int tcmalloc_init(char *version, size_t n, char *err, size_t errlen)
{
	const char *(*ver)(int *, int *, const char **) =
		(const char *(*)(int *, int *, const char **))dlsym(RTLD_DEFAULT, "tc_version");
	int major, minor;
	const char *patch;

	tc_prop = (int (*)(const char *, size_t *))dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty");
	snprintf(version, n, "%s", ver ? ver(&major, &minor, &patch) : "tcmalloc (unknown version)");
	return 0;
}

static int64_t tc_stat(const char *name)
{
	size_t v = 0;
	return tc_prop(name, &v) ? (int64_t)v : SIM_NULL;
}

static void tcmalloc_mem(struct baseline_mem *m)
{
	if (!tc_prop) {
		mem_statm(m);
		return;
	}
	int64_t heap = tc_stat("generic.heap_size");
	int64_t free_b = tc_stat("tcmalloc.pageheap_free_bytes");
	int64_t unmapped = tc_stat("tcmalloc.pageheap_unmapped_bytes");
	bool ok = heap != SIM_NULL && free_b != SIM_NULL && unmapped != SIM_NULL;
	m->allocated = tc_stat("generic.current_allocated_bytes");
	m->inuse = ok ? heap - free_b - unmapped : SIM_NULL;
	m->ready = ok ? heap - unmapped : SIM_NULL;
	m->sys = heap;
	m->released = unmapped;
}

static const struct baseline baselines[SIM_ALLOC_N] = {
	[SIM_ALLOC_GLIBC] = { SIM_ALLOC_GLIBC, "glibc", "libc6", NULL, glibc_init, glibc_mem },
	[SIM_ALLOC_JEMALLOC] = { SIM_ALLOC_JEMALLOC, "jemalloc", "libjemalloc2", "libjemalloc.so.2",
				 jemalloc_init, jemalloc_mem },
	[SIM_ALLOC_MIMALLOC] = { SIM_ALLOC_MIMALLOC, "mimalloc", "libmimalloc2.0", "libmimalloc.so.2",
				 mimalloc_init, mimalloc_mem },
	[SIM_ALLOC_TCMALLOC] = { SIM_ALLOC_TCMALLOC, "tcmalloc", "libtcmalloc-minimal4",
				 "libtcmalloc_minimal.so.4", tcmalloc_init, tcmalloc_mem },
};

static const char *const allocator_names[SIM_ALLOC_N] = { "go", "glibc", "jemalloc", "mimalloc", "tcmalloc" };

bool sim_allocator_parse(const char *name, enum sim_allocator *out)
{
	for (int a = 0; a < SIM_ALLOC_N; a++)
		if (!strcmp(name, allocator_names[a])) {
			*out = (enum sim_allocator)a;
			return true;
		}
	return false;
}

const char *sim_allocator_name(enum sim_allocator a)
{
	return a < SIM_ALLOC_N ? allocator_names[a] : "?";
}

const struct baseline *baseline_of(enum sim_allocator a)
{
	return a > SIM_ALLOC_GO && a < SIM_ALLOC_N ? &baselines[a] : NULL;
}

/* ---- finding the library (parent side) ------------------------------------ */

static bool readable_in(const char *dir, const char *name, char *path, size_t n)
{
	int len = snprintf(path, n, "%s/%s", dir, name);
	return len > 0 && (size_t)len < n && access(path, R_OK) == 0;
}

/* The directory the running libc was loaded from. */
static bool libc_dir(char *dir, size_t n)
{
	Dl_info di;
	void *sym = dlsym(RTLD_DEFAULT, "gnu_get_libc_version");
	if (!sym || !dladdr(sym, &di) || !di.dli_fname || !strchr(di.dli_fname, '/'))
		return false;
	snprintf(dir, n, "%s", di.dli_fname);
	char *slash = strrchr(dir, '/');
	*slash = 0;
	return true;
}

/* `ldconfig -p`: "\tNAME (libc6,x86-64) => PATH" lines. */
static bool from_ldconfig(const char *soname, char *path, size_t n)
{
	FILE *p = popen("{ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null", "r");
	char line[1024];
	bool found = false;

	if (!p)
		return false;
	while (!found && fgets(line, sizeof line, p)) {
		char name[256], file[768];
		if (sscanf(line, " %255s (%*[^)]) => %767s", name, file) == 2 && !strcmp(name, soname) &&
		    access(file, R_OK) == 0 && strlen(file) < n) {
			snprintf(path, n, "%s", file);
			found = true;
		}
	}
	pclose(p);
	return found;
}

int baseline_locate(const struct baseline *b, char *path, size_t n, char *err, size_t errlen)
{
	const char *over = getenv("SPANLAB_BASELINE_LIBDIR");
	char dir[PATH_MAX];

	path[0] = 0;
	if (!b->soname)
		return 0;
	if (over && *over) {
		if (readable_in(over, b->soname, path, n))
			return 0;
		return errf(err, errlen, "%s: %s not found in %s (SPANLAB_BASELINE_LIBDIR); install the Debian package %s",
			    b->name, b->soname, over, b->package);
	}
	if (libc_dir(dir, sizeof dir) && readable_in(dir, b->soname, path, n))
		return 0;
	if (from_ldconfig(b->soname, path, n))
		return 0;
	return errf(err, errlen, "%s: %s not found; install the Debian package %s (scripts/deps.sh --extra)",
		    b->name, b->soname, b->package);
}

/* ---- the messages ------------------------------------------------------- */

enum { MSG_HELLO = 1, MSG_SNAPSHOT = 2, MSG_DONE = 3 };
enum { STOP_GRACE_SECONDS = 5 };

struct msg_head {
	uint32_t kind, len;
};

struct msg_hello {
	char library[1024];
	char version[128];
};

struct msg_done {
	int32_t status;		/* enum replay_status */
	int32_t have_sum;
	struct sim_summary sum;
	char err[1024];
};

static int write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_msg(int fd, uint32_t kind, const void *payload, uint32_t len)
{
	struct msg_head h = { kind, len };
	return write_full(fd, &h, sizeof h) || write_full(fd, payload, len) ? -1 : 0;
}

static double mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The parent's reads: a signal (SIGINT/SIGTERM: replay_stop) is forwarded
 * to the child once, as SIGTERM, and the read goes on; a child that has not
 * answered STOP_GRACE_SECONDS later is killed (it stops at its next record
 * in well under a millisecond, unless it is stuck or stopped). The wait is a poll
 * of at most 100 ms, so that a signal that lands outside the read is seen
 * too. 1 read, 0 end of stream before the first byte, -1 error or a
 * truncated message. */
static int read_full(struct baseline_proc *bp, void *buf, size_t n, bool *forwarded)
{
	char *p = buf;
	size_t got = 0;
	while (got < n) {
		if (replay_stop && !*forwarded) {
			kill(bp->pid, SIGTERM);
			*forwarded = true;
			bp->stop_sent = mono_seconds();
		}
		if (bp->stop_sent && !bp->killed && mono_seconds() - bp->stop_sent > STOP_GRACE_SECONDS) {
			kill(bp->pid, SIGKILL);	/* stuck (in the allocator, or stopped) */
			bp->killed = true;
		}
		struct pollfd pfd = { .fd = bp->fd, .events = POLLIN };
		int ready = poll(&pfd, 1, 100);
		if (ready == 0 || (ready < 0 && errno == EINTR))
			continue;
		ssize_t r = read(bp->fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return got ? -1 : 0;
		got += (size_t)r;
	}
	return 1;
}

/* ---- the parent -------------------------------------------------------- */

/* environ with LD_PRELOAD set to lib ("" : removed). Built before fork,
 * so that the child calls nothing but execve. */
static char **child_env(const char *lib)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 2, sizeof *env);
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11))
			env[k++] = environ[i];
	if (*lib) {
		size_t len = strlen(lib) + 12;
		if (!(env[k] = malloc(len))) {
			free(env);
			return NULL;
		}
		snprintf(env[k++], len, "LD_PRELOAD=%s", lib);
	}
	env[k] = NULL;
	return env;
}

static void free_env(char **env, const char *lib)
{
	if (!env)
		return;
	if (*lib) {
		size_t i = 0;
		while (env[i])
			i++;
		free(env[i - 1]);
	}
	free(env);
}

/* How a child that sent no result ended. */
static void describe_exit(const struct baseline_proc *bp, int status, char *err, size_t errlen)
{
	if (WIFSIGNALED(status))
		errf(err, errlen, "the %s replay process died of signal %d (%s)", bp->b->name, WTERMSIG(status),
		     strsignal(WTERMSIG(status)));
	else
		errf(err, errlen, "the %s replay process exited with status %d before reporting", bp->b->name,
		     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static int reap(struct baseline_proc *bp)
{
	int status = 0;
	if (bp->pid <= 0)
		return 0;
	while (waitpid(bp->pid, &status, 0) < 0 && errno == EINTR)
		;
	bp->pid = 0;
	return status;
}

void baseline_abandon(struct baseline_proc *bp)
{
	if (bp->fd >= 0) {
		close(bp->fd);	/* the child reads EOF where it waits for the go */
		bp->fd = -1;
	}
	reap(bp);
}

/* The child's command line: the same replay, the hidden option, and the
 * flags that change what the child does (the Go config does not). */
static int child_argv(const struct baseline_proc *bp, const struct replay_opts *o, int fd, char *bufs[8],
		      const char *argv[24])
{
	int k = 0;
	for (int i = 0; i < 8; i++)
		if (!(bufs[i] = malloc(64)))
			return -1;
	snprintf(bufs[0], 64, "%d,%llu,%s", fd, (unsigned long long)bp->events, "-");
	if (bp->peak_op != UINT64_MAX)
		snprintf(bufs[0], 64, "%d,%llu,%llu", fd, (unsigned long long)bp->events,
			 (unsigned long long)bp->peak_op);
	snprintf(bufs[1], 64, "%llu", (unsigned long long)bp->snapshot_every);
	argv[k++] = "spanlab";
	argv[k++] = "replay";
	argv[k++] = "--allocator";
	argv[k++] = bp->b->name;
	argv[k++] = "--baseline-child";
	argv[k++] = bufs[0];
	if (bp->snapshot_every) {
		argv[k++] = "--snapshot-every";
		argv[k++] = bufs[1];
	}
	argv[k++] = "--quiet";
	if (o->open.format != SLT_FMT_AUTO) {
		argv[k++] = "--from";
		argv[k++] = slt_format_name(o->open.format);
	}
	if (o->open.strict)
		argv[k++] = "--strict";
	if (o->touch)
		argv[k++] = "--touch";
	if (o->check)
		argv[k++] = "--check";
	argv[k++] = "--";	/* a trace named like an option is a trace */
	argv[k++] = o->trace;
	argv[k] = NULL;
	return 0;
}

static enum replay_status start_child(struct baseline_proc *bp, const struct replay_opts *o, const char *lib,
				      char *err, size_t errlen)
{
	int sv[2];
	char *bufs[8] = { 0 };
	const char *argv[24];
	char **env = NULL;
	enum replay_status st = REPLAY_FAILED;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		errf(err, errlen, "cannot start the %s replay: socketpair: %s", bp->b->name, strerror(errno));
		return REPLAY_FAILED;
	}
	fcntl(sv[0], F_SETFD, FD_CLOEXEC);
	/* This executable, by name: execve("/proc/self/exe") would run
	 * valgrind itself under valgrind, which answers readlink with the
	 * client's path. */
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len <= 0) {
		errf(err, errlen, "cannot start the %s replay: /proc/self/exe: %s", bp->b->name, strerror(errno));
		goto out;
	}
	exe[len] = 0;
	pid_t parent = getpid();
	if (child_argv(bp, o, sv[1], bufs, argv) || !(env = child_env(lib))) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	fflush(NULL);
	bp->pid = fork();
	if (bp->pid < 0) {
		errf(err, errlen, "cannot start the %s replay: fork: %s", bp->b->name, strerror(errno));
		goto out;
	}
	if (bp->pid == 0) {
		/* The child dies with the parent; it runs this executable again,
		 * its malloc now the baseline's. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		close(sv[0]);
		execve(exe, (char *const *)argv, env);
		dprintf(2, "spanlab replay: cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	bp->fd = sv[0];
	sv[0] = -1;
	st = REPLAY_OK;
out:
	if (sv[0] >= 0)
		close(sv[0]);
	close(sv[1]);
	for (int i = 0; i < 8; i++)
		free(bufs[i]);
	free_env(env, lib);
	return st;
}

/* A DONE message's verdict. */
static enum replay_status take_done(struct baseline_proc *bp, const struct msg_done *d, struct sim_summary *sum,
				    char *err, size_t errlen)
{
	if (d->have_sum && sum)
		*sum = d->sum;
	snprintf(err, errlen, "%s", d->err);
	return (enum replay_status)d->status;
}

enum replay_status baseline_spawn(const struct baseline *b, const struct replay_opts *o, struct baseline_proc *bp,
				  char *err, size_t errlen)
{
	char lib[PATH_MAX];
	struct msg_head h;
	bool fwd = false;
	enum replay_status st;

	memset(bp, 0, sizeof *bp);
	bp->b = b;
	bp->fd = -1;
	if (baseline_locate(b, lib, sizeof lib, err, errlen))
		return REPLAY_BAD_INPUT;
	if (strpbrk(lib, " :\t")) {	/* LD_PRELOAD splits its value there */
		errf(err, errlen, "%s: %s: LD_PRELOAD cannot name a path with a space or a colon "
			    "(SPANLAB_BASELINE_LIBDIR)", b->name, lib);
		return REPLAY_BAD_INPUT;
	}
	if (sanitized) {
		errf(err, errlen, "%s: baselines need a build without AddressSanitizer, which replaces malloc "
			    "(make, not make VARIANT=asan)", b->name);
		return REPLAY_BAD_INPUT;
	}
	if ((st = replay_first_pass(o->trace, &o->open, &bp->events, &bp->peak_op, err, errlen)))
		return st;
	/* a pipe's length is unknown: the child grows its interval itself */
	bp->snapshot_every = bp->events || o->snapshot_every || o->cfg.snapshot_every
			     ? replay_snapshot_every(o, bp->events) : 0;
	if ((st = start_child(bp, o, lib, err, errlen)))
		return st;
	int rc = read_full(bp, &h, sizeof h, &fwd);
	if (rc == 1 && h.kind == MSG_HELLO && h.len == sizeof(struct msg_hello)) {
		struct msg_hello hello;
		if (read_full(bp, &hello, sizeof hello, &fwd) == 1) {
			hello.library[sizeof hello.library - 1] = hello.version[sizeof hello.version - 1] = 0;
			snprintf(bp->library, sizeof bp->library, "%s", hello.library);
			snprintf(bp->version, sizeof bp->version, "%s", hello.version);
			return REPLAY_OK;
		}
	} else if (rc == 1 && h.kind == MSG_DONE && h.len == sizeof(struct msg_done)) {
		struct msg_done d;
		if (read_full(bp, &d, sizeof d, &fwd) == 1) {
			d.err[sizeof d.err - 1] = 0;
			st = take_done(bp, &d, NULL, err, errlen);
			baseline_abandon(bp);
			return st ? st : REPLAY_FAILED;
		}
	}
	close(bp->fd);
	bp->fd = -1;
	describe_exit(bp, reap(bp), err, errlen);
	return REPLAY_FAILED;
}

enum replay_status baseline_relay(struct baseline_proc *bp, const struct replay_out *out, bool quiet,
				  struct sim_summary *sum, char *err, size_t errlen)
{
	struct progress prog;
	struct msg_head h;
	bool fwd = false, done = false, out_failed = false;
	enum replay_status st = REPLAY_FAILED;
	int rc;

	err[0] = 0;
	if (send(bp->fd, "g", 1, MSG_NOSIGNAL) != 1) {	/* a dead child: EPIPE, not SIGPIPE */
		close(bp->fd);
		bp->fd = -1;
		describe_exit(bp, reap(bp), err, errlen);
		return REPLAY_FAILED;
	}
	progress_init(&prog, "replay", "ops", bp->events, quiet);
	while (!done && (rc = read_full(bp, &h, sizeof h, &fwd)) == 1) {
		if (h.kind == MSG_SNAPSHOT && h.len == sizeof(struct sim_snapshot)) {
			struct sim_snapshot snap;
			if (read_full(bp, &snap, sizeof snap, &fwd) != 1)
				break;
			progress_slow(&prog, (uint64_t)snap.op);
			if (!out_failed && out && out->snapshot && out->snapshot(out->ctx, &snap)) {
				/* The log failed: the run fails; stop the child. */
				out_failed = true;
				errf(err, errlen, "%s", out->error ? out->error(out->ctx) : "snapshot output failed");
				kill(bp->pid, SIGKILL);
			}
		} else if (h.kind == MSG_DONE && h.len == sizeof(struct msg_done)) {
			struct msg_done d;
			if (read_full(bp, &d, sizeof d, &fwd) != 1)
				break;
			d.err[sizeof d.err - 1] = 0;
			st = take_done(bp, &d, sum, err, errlen);
			done = true;
		} else {
			errf(err, errlen, "the %s replay process sent a malformed message", bp->b->name);
			out_failed = true;
			kill(bp->pid, SIGKILL);
			break;
		}
	}
	progress_finish(&prog, 0);
	close(bp->fd);
	bp->fd = -1;
	int status = reap(bp);
	if (out_failed)
		return REPLAY_FAILED;
	if (!done && bp->killed) {
		errf(err, errlen, "the %s replay process did not stop within %d s of SIGTERM and was killed",
		     bp->b->name, STOP_GRACE_SECONDS);
		return REPLAY_FAILED;
	}
	if (!done) {
		describe_exit(bp, status, err, errlen);
		return REPLAY_FAILED;
	}
	return st;
}

/* The child inherits the environment, and with it the allocators' own
 * settings: they change the figures, so a run records those set. */
static cJSON *allocator_environment(void)
{
	static const char *const tuning[] = { "MALLOC_", "GLIBC_TUNABLES=", "JE_MALLOC_", "MIMALLOC_", "TCMALLOC_" };
	cJSON *env = cJSON_CreateObject();
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		for (size_t i = 0; eq && i < sizeof tuning / sizeof *tuning; i++)
			if (!strncmp(*e, tuning[i], strlen(tuning[i]))) {
				char name[256];
				snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
				cJSON_AddStringToObject(env, name, eq + 1);
				break;
			}
	}
	return env;
}

char *baseline_config_json(const struct baseline_proc *bp, const struct replay_opts *o)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "allocator", bp->b->name);
	cJSON_AddStringToObject(c, "library", bp->library);
	cJSON_AddStringToObject(c, "version", bp->version);
	cJSON_AddStringToObject(c, "package", bp->b->package);
	cJSON_AddNumberToObject(c, "snapshot_every", (double)bp->snapshot_every);
	cJSON_AddBoolToObject(c, "touch", o->touch);
	cJSON *env = allocator_environment();
	if (env->child)
		cJSON_AddItemToObject(c, "environment", env);
	else
		cJSON_Delete(env);
	char *s = cJSON_PrintUnformatted(c);
	cJSON_Delete(c);
	return s;
}

/* ---- the child ------------------------------------------------------------ */

bool baseline_child_parse(const char *arg, int *fd, uint64_t *events, uint64_t *peak_op)
{
	long long f;
	unsigned long long e, p;
	char dash;
	int n;

	if (sscanf(arg, "%lld,%llu,%llu%n", &f, &e, &p, &n) == 3 && !arg[n]) {
		*peak_op = p;
	} else if (sscanf(arg, "%lld,%llu,%c%n", &f, &e, &dash, &n) == 3 && dash == '-' && !arg[n]) {
		*peak_op = UINT64_MAX;
	} else {
		return false;
	}
	if (f < 0 || f > INT_MAX)
		return false;
	*fd = (int)f;
	*events = e;
	return true;
}

static void on_child_signal(int sig)
{
	replay_stop = sig;
}

/* malloc must resolve into the baseline's library (the loader ignores a
 * preload it cannot load, with a message, and glibc's malloc stays). */
static int check_library(const struct baseline *b, char *library, size_t n, char *err, size_t errlen)
{
	Dl_info di;
	void *m = dlsym(RTLD_DEFAULT, "malloc");

	if (!m || !dladdr(m, &di) || !di.dli_fname)
		return errf(err, errlen, "%s: cannot tell which library malloc comes from", b->name);
	snprintf(library, n, "%s", di.dli_fname);
	const char *base = strrchr(di.dli_fname, '/');
	base = base ? base + 1 : di.dli_fname;
	if (b->soname ? strcmp(base, b->soname) : strncmp(base, "libc.so", 7))
		return errf(err, errlen, "%s: malloc comes from %s, not from %s; is the Debian package %s intact?",
			    b->name, di.dli_fname, b->soname ? b->soname : "libc.so", b->package);
	return 0;
}

struct child_out {
	int fd;
	char err[128];
};

static int child_snapshot(void *ctx, const struct sim_snapshot *snap)
{
	struct child_out *c = ctx;
	if (send_msg(c->fd, MSG_SNAPSHOT, snap, sizeof *snap)) {
		snprintf(c->err, sizeof c->err, "the parent process is gone: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static const char *child_error(void *ctx)
{
	return ((struct child_out *)ctx)->err;
}

int baseline_child_main(struct replay_opts *o, int fd)
{
	/* Static: nothing of the child's own goes to the allocator under test. */
	static struct msg_hello hello;
	static struct msg_done done;
	struct child_out co = { .fd = fd };
	struct replay_out out = { .ctx = &co, .snapshot = child_snapshot, .error = child_error };
	struct sigaction sa = { .sa_handler = on_child_signal };
	char go;

	unsetenv("LD_PRELOAD");	/* not for the trace reader's gzip */
	fcntl(fd, F_SETFD, FD_CLOEXEC);	/* nor the socket */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (check_library(o->baseline, hello.library, sizeof hello.library, done.err, sizeof done.err) ||
	    o->baseline->init(hello.version, sizeof hello.version, done.err, sizeof done.err)) {
		done.status = REPLAY_BAD_INPUT;
		send_msg(fd, MSG_DONE, &done, sizeof done);
		return 2;
	}
	if (send_msg(fd, MSG_HELLO, &hello, sizeof hello))
		return 1;
	for (;;) {	/* the parent's go, or EOF: it gave up */
		ssize_t r = read(fd, &go, 1);
		if (r == 1)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		return 0;
	}
	done.status = replay_run(o, &out, &done.sum, done.err, sizeof done.err);
	done.have_sum = done.status == REPLAY_OK || done.status == REPLAY_INTERRUPTED;
	return send_msg(fd, MSG_DONE, &done, sizeof done) ? 1 : 0;
}
