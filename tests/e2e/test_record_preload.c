/*
 * The recorder's preload library (traces/record/preload.c) under the
 * conditions that broke it: signal handlers that allocate while their
 * thread is inside the recorder, tiny rings that pad and fill, a forked
 * child whose first call comes from inside libc's time zone code, argv
 * too long for the metadata, quick_exit, siglongjmp out of the recorder,
 * and a handler handed the address a realloc just left. The workloads
 * are this binary, re-run under `spanlab record` with SLTEST_WORKLOAD set
 * (its constructor runs the workload before Criterion starts); they skip
 * under ASan, since a sanitized program cannot host the preloaded
 * recorder. The metadata test records /bin/true
 * and runs in every variant.
 *
 * signals  the main thread mallocs and frees sizes 25..40 in a loop while
 *          a sender (a forked process or a thread) floods it with SIGUSR1
 *          and a timer raises SIGALRM; the handlers malloc and free sizes
 *          1..24 and 41..56 and may interrupt each other. All three
 *          sequences of sizes come from the seed, and the trace must hold
 *          each of them exactly, in order, with every object freed. Sizes
 *          stay in three separate glibc tcache bins, so that a handler's
 *          malloc never disturbs the glibc call it interrupted.
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "slt.h"
#include "testlib.h"

#define RUN(r, ...) \
	cr_assert_eq(tl_run(r, NULL, (const char *const[]){ __VA_ARGS__, NULL }), 0, "cannot run spanlab")

static void *volatile sink;

static bool sanitized(void)
{
	const char *variant = getenv("SPANLAB_VARIANT");
	return variant && !strcmp(variant, "asan");
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- signals: the workload ---------------------------------------------
 * Loop bounds: at least SIG_ITERS iterations, and on until the handlers ran
 * SIG_USR1_MIN and SIG_ALRM_MIN times (the recorder of old lost or tore
 * about half of them), but never past SIG_MAX_ITERS or SIG_SECONDS, which
 * bounds the first SIG_ITERS too: with tiny rings every record waits for
 * the merger, and SIG_ITERS iterations took 60-100 s on a 2-core machine
 * with a test beside them, past record_self's limit. */
enum { SIG_ITERS = 200000, SIG_USR1_MIN = 2000, SIG_ALRM_MIN = 100, SIG_MAX_ITERS = 4000000 };
#define SIG_SECONDS 20.0
#define MARK_START 5001	/* a malloc before the signals start and one after they stop */
#define MARK_END 5002

/* The sizes' generator: one stream per source of allocations. */
struct sizes {
	uint64_t x;
	unsigned lo, n;	/* sizes lo .. lo + n - 1 */
};

static unsigned next_size(struct sizes *s)
{
	s->x = s->x * 6364136223846793005ull + 1442695040888963407ull;
	return s->lo + (unsigned)(s->x >> 33) % s->n;
}

static void sizes_init(struct sizes src[3], uint64_t seed)
{
	src[0] = (struct sizes){ seed, 25, 16 };		/* the main loop */
	src[1] = (struct sizes){ seed ^ 0x5bd1e995u, 1, 24 };	/* SIGUSR1 */
	src[2] = (struct sizes){ seed ^ 0x27d4eb2fu, 41, 16 };	/* SIGALRM */
}

static struct sizes g_src[3];
static volatile sig_atomic_t g_usr1, g_alrm, g_stop;

static void churn(struct sizes *s)
{
	void *p = malloc(next_size(s));
	sink = p;
	free(p);
}

static void on_usr1(int sig)
{
	int e = errno;
	(void)sig;
	churn(&g_src[1]);
	g_usr1++;
	errno = e;
}

static void on_alrm(int sig)
{
	int e = errno;
	(void)sig;
	churn(&g_src[2]);
	g_alrm++;
	errno = e;
}

static void block_signals(int how)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigaddset(&s, SIGALRM);
	sigprocmask(how, &s, NULL);
}

static pthread_t g_main;

static void *send_thread(void *arg)
{
	(void)arg;
	while (!g_stop)
		pthread_kill(g_main, SIGUSR1);
	return NULL;
}

/* The flood of SIGUSR1: a forked process (the program stays
 * single-threaded) or a thread (it does not). Signals are blocked here. */
static pid_t start_sender(bool thread, pthread_t *t)
{
	if (thread) {
		g_main = pthread_self();
		if (pthread_create(t, NULL, send_thread, NULL))
			abort();
		return 0;
	}
	pid_t parent = getpid(), pid = fork();
	if (pid == 0) {
		while (kill(parent, SIGUSR1) == 0 && getppid() == parent)
			;
		_exit(0);
	}
	return pid;
}

/* t: the sender thread, if it is one (pid 0). */
static void stop_sender(pid_t pid, const pthread_t *t)
{
	if (pid) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	} else {
		g_stop = 1;
		pthread_join(*t, NULL);
	}
}

static void set_timer(long us)
{
	struct itimerval it = { { 0, us }, { 0, us } };
	setitimer(ITIMER_REAL, &it, NULL);
}

static void install(int sig, void (*fn)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = SA_RESTART;	/* an empty mask: the handlers nest */
	sigaction(sig, &sa, NULL);
}

static void signals_workload(void)
{
	sizes_init(g_src, strtoull(getenv("SLTEST_SEED"), NULL, 0));
	for (unsigned n = 24; n <= 56; n += 16)	/* a free chunk in each tcache bin */
		free(malloc(n));
	block_signals(SIG_BLOCK);
	pthread_t t;
	pid_t pid = start_sender(!strcmp(getenv("SLTEST_SENDER"), "thread"), &t);
	install(SIGUSR1, on_usr1);
	install(SIGALRM, on_alrm);
	free(malloc(MARK_START));
	set_timer(1000);
	block_signals(SIG_UNBLOCK);
	double end = now_s() + SIG_SECONDS;
	long i;
	for (i = 0; i < SIG_MAX_ITERS && ((i & 1023) || now_s() < end) &&
		    (i < SIG_ITERS || g_usr1 < SIG_USR1_MIN || g_alrm < SIG_ALRM_MIN); i++)
		churn(&g_src[0]);
	block_signals(SIG_BLOCK);
	set_timer(0);
	stop_sender(pid, &t);
	free(malloc(MARK_END));
	FILE *f = fopen(getenv("SLTEST_LOG"), "w");
	if (f) {
		fprintf(f, "%ld %d %d\n", i, (int)g_usr1, (int)g_alrm);
		fclose(f);
	}
	exit(0);
}

/* ---- the other workloads ----------------------------------------------- */

/* A forked child's first call comes from tzset, with libc's time zone
 * lock held; claiming its slot must not take that lock again. A child
 * that deadlocks is killed by its alarm, and the parent says so. */
static void tz_workload(void)
{
	setenv("TZ", "America/New_York", 1);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(30);
		time_t now = time(NULL);
		struct tm *tm = localtime(&now);
		sink = malloc(7321);
		free(sink);
		_exit(tm ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1);
}

static void on_quick_exit(void)
{
	sink = malloc(7333);
	free(sink);
}

/* quick_exit: the program's own at_quick_exit handler runs before ours. */
static void quick_exit_workload(void)
{
	at_quick_exit(on_quick_exit);
	for (int i = 0; i < 5; i++) {
		sink = malloc(7322);
		free(sink);
	}
	quick_exit(3);
}

/* ---- longjmp: SIGUSR1 handlers that siglongjmp out of the recorder ------
 * The handler jumps only when the interrupted instruction lies in the
 * recorder's code (never in glibc's malloc, whose state a jump would
 * break), LJ_JUMPS times; then the program allocates LJ_AFTER marked
 * objects, which must all be in the trace. */
enum { LJ_JUMPS = 3, LJ_AFTER = 1000 };

static uintptr_t g_rec_lo, g_rec_hi;	/* the recorder's executable segment */
static sigjmp_buf g_jump;
static volatile sig_atomic_t g_armed, g_jumps;

static int find_recorder(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size, (void)arg;
	if (!strstr(info->dlpi_name, "libspanlab-record"))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			g_rec_lo = info->dlpi_addr + ph->p_vaddr;
			g_rec_hi = g_rec_lo + ph->p_memsz;
		}
	}
	return 1;
}

static void on_usr1_jump(int sig, siginfo_t *si, void *ctx)
{
	(void)sig, (void)si;
	uintptr_t pc = (uintptr_t)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
	if (g_armed && pc >= g_rec_lo && pc < g_rec_hi) {
		g_armed = 0;
		g_jumps++;
		siglongjmp(g_jump, 1);
	}
}

/* Find the recorder's code, block the signals, start a forked flood of
 * SIGUSR1 and install `fn` for it (SA_SIGINFO | flags): the sender. */
static pid_t flood_with(void (*fn)(int, siginfo_t *, void *), int flags)
{
	dl_iterate_phdr(find_recorder, NULL);
	if (!g_rec_lo)
		exit(2);
	block_signals(SIG_BLOCK);
	pid_t pid = start_sender(false, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	sigaction(SIGUSR1, &sa, NULL);
	return pid;
}

static void longjmp_workload(void)
{
	pid_t pid = flood_with(on_usr1_jump, 0);
	double end = now_s() + SIG_SECONDS;
	sigsetjmp(g_jump, 1);	/* every jump lands here, with signals blocked again */
	if (g_jumps < LJ_JUMPS && now_s() < end) {
		g_armed = 1;
		block_signals(SIG_UNBLOCK);
		for (;;) {
			sink = malloc(40);
			free(sink);
		}
	}
	block_signals(SIG_BLOCK);
	stop_sender(pid, NULL);
	for (int i = 0; i < LJ_AFTER; i++) {
		sink = malloc(6000 + (size_t)(i % 7));
		free(sink);
	}
	exit(g_jumps == LJ_JUMPS ? 0 : 1);
}

/* ---- realloc_gap: a handler between realloc's call and its record ------
 * The main loop moves 40-byte objects to 200 bytes with realloc, which
 * frees the old chunk into glibc's tcache, and frees them; a flood of
 * SIGUSR1 runs a handler that, when it interrupted the recorder's own code
 * (never glibc's, whose state it would break), mallocs and frees 40 bytes.
 * Landing after realloc's real call, it is handed the old address, and
 * the trace must already have freed the old object. The window is a few
 * instructions: with it open, 4 to 20 of 2,500 handlers landed there in
 * three runs (about 1 in 200), so the loop runs until RG_HITS handlers
 * allocated. On a machine too busy to deliver them it stops at
 * RG_MAX_ITERS (a trace of about 40 MB) or after RG_SECONDS, and with
 * fewer than RG_MIN_HITS (which miss an open window about 1 time in 100)
 * the test only warns. */
enum { RG_HITS = 1500, RG_MIN_HITS = 1000, RG_MAX_ITERS = 10000000 };
#define RG_SECONDS 30.0
static volatile sig_atomic_t g_rg_hits;

static void on_usr1_rg(int sig, siginfo_t *si, void *ctx)
{
	(void)sig, (void)si;
	uintptr_t pc = (uintptr_t)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
	if (pc >= g_rec_lo && pc < g_rec_hi) {
		int e = errno;
		sink = malloc(40);
		free(sink);
		g_rg_hits++;
		errno = e;
	}
}

static void realloc_gap_workload(void)
{
	pid_t pid = flood_with(on_usr1_rg, SA_RESTART);
	block_signals(SIG_UNBLOCK);
	double end = now_s() + RG_SECONDS;
	long i, moved = 0;
	for (i = 0; g_rg_hits < RG_HITS && i < RG_MAX_ITERS && ((i & 1023) || now_s() < end); i++) {
		void *p = malloc(40);
		uintptr_t old = (uintptr_t)p;
		void *q = realloc(p, 200);
		moved += (uintptr_t)q != old;
		free(q);
	}
	block_signals(SIG_BLOCK);
	stop_sender(pid, NULL);
	FILE *f = fopen(getenv("SLTEST_LOG"), "w");
	if (f) {
		fprintf(f, "%ld %ld %d\n", i, moved, (int)g_rg_hits);
		fclose(f);
	}
	exit(0);
}

__attribute__((constructor)) static void workload(void)
{
	const char *mode = getenv("SLTEST_WORKLOAD");
	if (!mode)
		return;
	if (!strcmp(mode, "signals"))
		signals_workload();
	if (!strcmp(mode, "tz"))
		tz_workload();
	if (!strcmp(mode, "quick_exit"))
		quick_exit_workload();
	if (!strcmp(mode, "longjmp"))
		longjmp_workload();
	if (!strcmp(mode, "realloc_gap"))
		realloc_gap_workload();
	exit(99);
}

/* ---- running and reading ----------------------------------------------- */

static void self_path(char *out, size_t cap)
{
	ssize_t k = readlink("/proc/self/exe", out, cap - 1);
	cr_assert_gt(k, 0);
	out[k] = 0;
}

/* Record this binary in `mode` into OUT, under timeout(1): a recorder
 * that hangs ends with status 124 (a process that dies before its slot is
 * live keeps spanlab record --children waiting). The caller checks the
 * status and the recorder's stderr. */
static void record_self(struct tl_run *r, const char *mode, const char *out, bool children)
{
	char self[4096];
	const char *bin = getenv("SPANLAB_BIN") ? getenv("SPANLAB_BIN") : "build/spanlab";
	self_path(self, sizeof self);
	setenv("SLTEST_WORKLOAD", mode, 1);
	const char *argv[12] = { "timeout", "-k", "10", "100", bin, "record" };
	int n = 6;
	if (children)
		argv[n++] = "--children";
	argv[n++] = "-o", argv[n++] = out, argv[n++] = "--", argv[n++] = self;
	cr_assert_eq(tl_run(r, NULL, argv), 0, "cannot run spanlab");
	unsetenv("SLTEST_WORKLOAD");
}

static struct slt_source *open_trace(const char *path)
{
	char err[1024];
	struct slt_source *s = slt_open(path, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	return s;
}

/* Read to the end: no error, END present, nothing inconsistent. */
static void close_trace(struct slt_source *s, int rc)
{
	cr_assert_eq(rc, 0, "the trace does not read to its end: %s", slt_error(s));
	cr_assert(slt_source_complete(s), "the trace is cut short");
	const struct slt_report *rep = slt_source_report(s);
	cr_assert_eq(rep->unknown_frees, 0, "%llu frees of unknown objects",
		     (unsigned long long)rep->unknown_frees);
	cr_assert_eq(rep->double_allocs, 0, "%llu addresses handed out twice",
		     (unsigned long long)rep->double_allocs);
	slt_close(s);
}

/* ---- signals: the check ------------------------------------------------- */

/* Which stream a size belongs to (-1: none). */
static int stream_of(uint64_t size)
{
	return size >= 1 && size <= 24 ? 1 : size >= 25 && size <= 40 ? 0 : size >= 41 && size <= 56 ? 2 : -1;
}

struct sig_check {
	struct sizes want[3];
	long done[3];		/* what the workload says it did */
	long seen[3];
	long live;		/* marked objects not freed yet */
	bool window;		/* between the markers */
};

static void check_event(struct sig_check *c, const struct slt_event *ev, int8_t *marked)
{
	if (ev->op == SLT_FREE && marked[ev->id]) {
		marked[ev->id] = 0;
		c->live--;
		return;
	}
	if (ev->op != SLT_MALLOC)
		return;
	marked[ev->id] = 0;
	if (ev->size == MARK_START || ev->size == MARK_END) {
		c->window = ev->size == MARK_START;
		return;
	}
	int k = c->window ? stream_of(ev->size) : -1;
	if (k < 0)
		return;
	cr_assert_lt(c->seen[k], c->done[k], "stream %d: more allocations than the program made", k);
	unsigned want = next_size(&c->want[k]);
	cr_assert_eq(ev->size, want, "stream %d, allocation %ld: %llu B, the program asked for %u B", k,
		     c->seen[k], (unsigned long long)ev->size, want);
	c->seen[k]++;
	marked[ev->id] = 1;
	c->live++;
}

static void check_signals_trace(const char *path, const char *log, uint64_t seed)
{
	struct sig_check c = { .window = false };
	sizes_init(c.want, seed);
	FILE *f = fopen(log, "r");
	cr_assert(f, "the workload wrote no log");
	cr_assert_eq(fscanf(f, "%ld %ld %ld", &c.done[0], &c.done[1], &c.done[2]), 3);
	fclose(f);
	cr_log_info("main loop %ld, SIGUSR1 handlers %ld, SIGALRM handlers %ld", c.done[0], c.done[1],
		    c.done[2]);
	static int8_t marked[1 << 20];
	memset(marked, 0, sizeof marked);
	struct slt_source *s = open_trace(path);
	struct slt_event ev;
	int rc;
	while ((rc = slt_next(s, &ev)) > 0) {
		cr_assert_lt(ev.id, sizeof marked);
		check_event(&c, &ev, marked);
	}
	close_trace(s, rc);
	static const char *const names[] = { "main loop", "SIGUSR1 handler", "SIGALRM handler" };
	for (int k = 0; k < 3; k++)
		cr_assert_eq(c.seen[k], c.done[k], "%s: %ld allocations in the trace, %ld made", names[k],
			     c.seen[k], c.done[k]);
	cr_assert_eq(c.live, 0, "%ld marked objects never freed in the trace", c.live);
	cr_assert_gt(c.done[1], 0, "no SIGUSR1 handler ran: the test proved nothing");
}

/* Record the signals workload (ring_words NULL: the default rings). */
static void run_signals(const char *test, const char *sender, const char *ring_words)
{
	uint64_t seed = tl_seed(test);
	char *dir = tl_tmpdir(), out[4096], log[4096], sd[32];
	snprintf(out, sizeof out, "%s/s.slt", dir);
	snprintf(log, sizeof log, "%s/s.log", dir);
	snprintf(sd, sizeof sd, "%llu", (unsigned long long)seed);
	setenv("SLTEST_SEED", sd, 1);
	setenv("SLTEST_SENDER", sender, 1);
	setenv("SLTEST_LOG", log, 1);
	if (ring_words)
		setenv("SPANLAB_RECORD_RING_WORDS", ring_words, 1);
	struct tl_run r;
	record_self(&r, "signals", out, false);
	unsetenv("SPANLAB_RECORD_RING_WORDS");
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert(!strstr(r.err, "the trace stops here"), "%s", r.err);
	cr_assert(!strstr(r.err, "not recorded"), "%s", r.err);
	tl_run_free(&r);
	check_signals_trace(out, log, seed);
	tl_tmpdir_remove(dir);
}

/* The main thread's records and those of the handlers that interrupted
 * it share its ring; a handler landing in the fast path used to record
 * at the interrupted position (a torn ring, a head moving backwards) or
 * not at all. Single-threaded, so sequence numbers are taken without a
 * lock, and a handler can land between their read and write. */
Test(record_preload, signal_handlers_that_allocate, .timeout = 240)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	run_signals("signal_handlers_that_allocate", "fork", NULL);
}

/* The same with the sender a thread: the program is multi-threaded. */
Test(record_preload, signal_handlers_that_allocate_threaded, .timeout = 240)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	run_signals("signal_handlers_that_allocate_threaded", "thread", NULL);
}

/* Tiny rings: the thread pads and waits for the merger all the time, and
 * handlers land in make_room, where the ring's position had just moved
 * back to its start while the limit still pointed near its end. */
Test(record_preload, signal_handlers_with_tiny_rings, .timeout = 360)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	run_signals("signal_handlers_with_tiny_rings/4096", "fork", "4096");
	run_signals("signal_handlers_with_tiny_rings/64", "fork", "64");
}

/* ---- the others ----------------------------------------------------------- */

/* The only OUT-base.PID.slt in dir (prefix "t."): its path. */
static void child_trace(const char *dir, const char *prefix, char *path, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)) && strcmp(e->d_name + strlen(prefix), "slt")) {
			snprintf(path, cap, "%s/%s", dir, e->d_name);
			n++;
		}
	if (d)
		closedir(d);
	cr_assert_eq(n, 1, "%d child traces", n);
}

/* The number of mallocs of `size` in a complete, consistent trace. */
static int count_mallocs(const char *path, uint64_t size)
{
	struct slt_source *s = open_trace(path);
	struct slt_event ev;
	int rc, n = 0;
	while ((rc = slt_next(s, &ev)) > 0)
		n += ev.op == SLT_MALLOC && ev.size == size;
	close_trace(s, rc);
	return n;
}

Test(record_preload, forked_child_first_call_inside_tzset, .timeout = 180)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096], child[4200];
	snprintf(out, sizeof out, "%s/t.slt", dir);
	struct tl_run r;
	record_self(&r, "tz", out, true);
	cr_assert_eq(r.status, 0, "exit %d (1: the child deadlocked, and its alarm killed it; 124: "
		     "spanlab record hung): %s", r.status, r.err);
	tl_run_free(&r);
	child_trace(dir, "t.", child, sizeof child);
	cr_assert_eq(count_mallocs(child, 7321), 1, "the child's allocation after localtime");
	count_mallocs(out, 0);	/* the parent's trace is complete too */
	tl_tmpdir_remove(dir);
}

Test(record_preload, quick_exit_completes_the_trace, .timeout = 180)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096];
	snprintf(out, sizeof out, "%s/q.slt", dir);
	struct tl_run r;
	record_self(&r, "quick_exit", out, false);
	cr_assert_eq(r.status, 3, "exit %d: %s", r.status, r.err);
	cr_assert(!strstr(r.err, "cut short"), "%s", r.err);
	tl_run_free(&r);
	cr_assert_eq(count_mallocs(out, 7322), 5);
	cr_assert_eq(count_mallocs(out, 7333), 1, "the program's at_quick_exit handler ran first");
	tl_tmpdir_remove(dir);
}

/* LJ_JUMPS jumps out of the recorder, wherever they land, leave the
 * thread recording (a lane left busy sends its calls to the next one). */
Test(record_preload, siglongjmp_out_of_the_recorder, .timeout = 180)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096];
	snprintf(out, sizeof out, "%s/j.slt", dir);
	struct tl_run r;
	record_self(&r, "longjmp", out, false);
	cr_assert_eq(r.status, 0, "exit %d (1: fewer than %d jumps): %s", r.status, LJ_JUMPS, r.err);
	cr_assert(!strstr(r.err, "not recorded"), "%s", r.err);
	tl_run_free(&r);
	struct slt_source *s = open_trace(out);
	struct slt_event ev;
	int rc, after = 0, freed = 0;
	uint32_t threads = 0;
	static bool marked[1 << 22];
	memset(marked, 0, sizeof marked);
	while ((rc = slt_next(s, &ev)) > 0) {
		cr_assert_lt(ev.id, sizeof marked);
		threads = ev.tid + 1 > threads ? ev.tid + 1 : threads;
		if (ev.op == SLT_MALLOC)
			after += marked[ev.id] = ev.size >= 6000 && ev.size < 6007;
		if (ev.op == SLT_FREE && marked[ev.id])
			freed++, marked[ev.id] = false;
	}
	close_trace(s, rc);
	cr_log_info("%u trace threads (lanes left busy by a jump: %u)", threads, threads - 1);
	cr_assert_eq(after, LJ_AFTER, "%d of the %d allocations after the jumps", after, LJ_AFTER);
	cr_assert_eq(freed, LJ_AFTER);
	tl_tmpdir_remove(dir);
}

/* A single-threaded program's realloc: a signal handler that allocates
 * right after the real call is handed the old address, and the trace must
 * have freed the old object first (no address handed out twice, no free
 * of an unknown object). */
Test(record_preload, handler_after_reallocs_call, .timeout = 180)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096], log[4096];
	snprintf(out, sizeof out, "%s/g.slt", dir);
	snprintf(log, sizeof log, "%s/g.log", dir);
	setenv("SLTEST_LOG", log, 1);
	struct tl_run r;
	record_self(&r, "realloc_gap", out, false);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert(!strstr(r.err, "not recorded"), "%s", r.err);
	tl_run_free(&r);
	long loops, moved, hits;
	FILE *f = fopen(log, "r");
	cr_assert(f, "the workload wrote no log");
	cr_assert_eq(fscanf(f, "%ld %ld %ld", &loops, &moved, &hits), 3);
	fclose(f);
	cr_log_info("%ld reallocs, %ld moved; %ld handlers allocated inside the recorder", loops, moved, hits);
	struct slt_source *s = open_trace(out);
	struct slt_event ev;
	int rc;
	long reallocs = 0;
	while ((rc = slt_next(s, &ev)) > 0)
		reallocs += ev.op == SLT_REALLOC && ev.size == 200;
	close_trace(s, rc);
	cr_assert_eq(reallocs, loops, "%ld reallocs in the trace, %ld made", reallocs, loops);
	tl_tmpdir_remove(dir);
	/* With too few handlers the window was hardly tried: say so and stop.
	 * On plain stderr: Criterion 2.4.1 makes the binary exit 1, with every
	 * test passed, after a cr_skip_test this late or any cr_log_warn. */
	if (hits < RG_MIN_HITS) {
		fprintf(stderr, "note: handler_after_reallocs_call: %ld handlers in %ld reallocs (the machine "
			"is busy): too few to find the window, not tried\n", hits, loops);
		return;
	}
	/* the handlers' allocations keep realloc from growing in place */
	cr_assert_gt(moved, loops / 2, "realloc seldom moved: the handlers were rarely offered the old address");
}

/* ---- metadata: argv too long for it -------------------------------------- */

static cJSON *trace_meta(const char *path)
{
	struct slt_source *s = open_trace(path);
	const char *meta = slt_source_meta(s);
	cr_assert_lt(strlen(meta), 16384, "metadata of %zu bytes", strlen(meta));
	cJSON *j = cJSON_Parse(meta);
	cr_assert(j && cJSON_IsObject(j), "metadata is not a JSON object: %.300s", meta);
	slt_close(s);
	return j;
}

/* start_time "YYYY-MM-DDTHH:MM:SSZ" as seconds since the epoch. */
static time_t parse_utc(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	cr_assert_eq(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			    &tm.tm_hour, &tm.tm_min, &tm.tm_sec), 6, "start_time '%s'", s);
	tm.tm_year -= 1900, tm.tm_mon -= 1;
	return timegm(&tm);
}

/* The metadata of a recording of argv: valid, names the program, holds a
 * prefix of argv (all of it unless argv_cut), and a start time between
 * t0 and t1. Returns the number of argv elements kept. */
static int check_meta(cJSON *j, char *const *argv, int argc, time_t t0, time_t t1)
{
	cJSON *prog = cJSON_GetObjectItem(j, "program"), *av = cJSON_GetObjectItem(j, "argv");
	cr_assert(cJSON_IsString(prog) && !strcmp(prog->valuestring, argv[0]), "program");
	cr_assert(cJSON_IsArray(av), "argv is not an array");
	int kept = cJSON_GetArraySize(av);
	cr_assert_leq(kept, argc);
	for (int i = 0; i < kept; i++) {
		cJSON *e = cJSON_GetArrayItem(av, i);
		cr_assert(cJSON_IsString(e) && !strcmp(e->valuestring, argv[i]), "argv[%d] differs", i);
	}
	cr_assert_eq(cJSON_IsTrue(cJSON_GetObjectItem(j, "argv_cut")), kept < argc, "argv_cut");
	cJSON *st = cJSON_GetObjectItem(j, "start_time");
	cr_assert(cJSON_IsString(st), "start_time");
	time_t t = parse_utc(st->valuestring);
	cr_assert(t >= t0 && t <= t1, "start_time %s is not the time of the run", st->valuestring);
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "pid")), "pid");
	return kept;
}

static char *repeat(int c, size_t n)
{
	char *s = malloc(n + 1);
	cr_assert(s);
	memset(s, c, n);
	s[n] = 0;
	return s;
}

/* Cases: argv after the program, and how many elements must be kept (-1:
 * a proper prefix, more than the program alone). */
struct meta_case {
	const char *name;
	int argc;
	char *argv[40];
	int kept;
};

static void meta_cases(struct meta_case *c, size_t *n)
{
	char *ctl = repeat('\001', 8000);	/* 48 000 bytes escaped */
	c[0] = (struct meta_case){ "8000 control characters", 3, { "/bin/true", ctl, "after" }, 1 };
	c[1] = (struct meta_case){ "escapes that fit", 5,
				   { "/bin/true", "quote\" back\\slash", "\001\037\177", "caf\xc3\xa9", "" }, 5 };
	c[2] = (struct meta_case){ "thirty of 1000 bytes", 31, { "/bin/true" }, -1 };
	for (int i = 1; i <= 30; i++)
		c[2].argv[i] = repeat('a' + i % 26, 1000);
	*n = 3;
}

Test(record_preload, metadata_stays_valid_json, .timeout = 60)
{
	static struct meta_case cases[4];
	size_t n;
	meta_cases(cases, &n);
	char *dir = tl_tmpdir(), out[4096];
	snprintf(out, sizeof out, "%s/m.slt", dir);
	for (size_t k = 0; k < n; k++) {
		const struct meta_case *c = &cases[k];
		const char *argv[48] = { "spanlab", "record", "-o", out, "--" };
		for (int i = 0; i < c->argc; i++)
			argv[5 + i] = c->argv[i];
		time_t t0 = time(NULL);
		struct tl_run r;
		cr_assert_eq(tl_run(&r, NULL, argv), 0);
		time_t t1 = time(NULL);
		cr_assert_eq(r.status, 0, "%s: exit %d: %s", c->name, r.status, r.err);
		tl_run_free(&r);
		cJSON *j = trace_meta(out);
		int kept = check_meta(j, c->argv, c->argc, t0, t1);
		if (c->kept >= 0)
			cr_assert_eq(kept, c->kept, "%s: %d argv elements kept", c->name, kept);
		else
			cr_assert(kept > 1 && kept < c->argc, "%s: %d argv elements kept", c->name, kept);
		cJSON_Delete(j);
	}
	tl_tmpdir_remove(dir);
}
