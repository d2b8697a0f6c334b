/*
 * `spanlab record` as a command: its output file, the environment it hands
 * the program, and the end of a recording whatever the recorded processes
 * do. Each test is a case the recorder once got wrong:
 *   - a program killed between claiming a process slot or ring and making
 *     it LIVE left it claimed, and spanlab record waited forever (the
 *     workload here makes such a claim itself and is killed);
 *   - -o was unlinked before the program ran: a symbolic link, a FIFO or a
 *     file was lost to a program that could not even start;
 *   - an output that could not be created still ran the program and
 *     exited 0;
 *   - a full disk left half a record (unreadable), and the summary counted
 *     events the file did not hold;
 *   - with `ulimit -n` <= 500 the program got no usable descriptor for the
 *     shared memory and nothing was recorded;
 *   - a library path with a space or colon was split by ld.so;
 *   - SIGINT and SIGQUIT that were ignored reached the program as default;
 *   - `ulimit -f` below 1 GiB failed every recording (the memfd counts).
 * Workloads that must be this binary (re-run with SLTEST_WORKLOAD set; its
 * constructor runs them before Criterion starts) cannot be sanitized, so
 * those tests skip under ASan; the others record Debian programs and run
 * in every variant.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rawtest.h"
#include "slt.h"
#include "testlib.h"

#define RUN(r, ...) \
	cr_assert_eq(tl_run(r, NULL, (const char *const[]){ __VA_ARGS__, NULL }), 0, "cannot run spanlab")

/* ---- the workloads -------------------------------------------------------- */

/* The recorder's shared memory, as the preloaded library maps it. */
static struct raw_hdr *recorder_shm(void)
{
	const char *e = getenv("SPANLAB_RECORD_SHM");
	struct stat st;
	if (!e || fstat(atoi(e), &st) < 0)
		abort();
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, atoi(e), 0);
	if (p == MAP_FAILED)
		abort();
	return p;
}

/* The first step of a claim (preload.c claim_proc, thread_start): the CAS
 * from FREE, then, with `id`, the claimer's pid (tid). Where a process
 * killed at that point leaves it. Returns the index. */
static unsigned claim(uint32_t *state, int32_t *who, size_t stride, unsigned n, bool id, int32_t me)
{
	for (unsigned i = 0; i < n; i++) {
		uint32_t *s = (uint32_t *)((char *)state + i * stride), want = RAW_FREE_SLOT;
		if (!__atomic_compare_exchange_n(s, &want, RAW_CLAIMED, false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		if (id)
			*(int32_t *)((char *)who + i * stride) = me;
		return i;
	}
	abort();
}

static unsigned claim_slot(struct raw_hdr *h, bool id)
{
	return claim(&h->procs[0].state, &h->procs[0].pid, sizeof h->procs[0], RAW_NPROCS, id, getpid());
}

static unsigned claim_ring(struct raw_hdr *h, bool id)
{
	return claim(&h->rings[0].state, &h->rings[0].ostid, sizeof h->rings[0], RAW_NRINGS, id,
		     (int32_t)syscall(SYS_gettid));
}

/* claimkill: a slot and a ring claimed, no id written yet, then SIGKILL. */
static void claim_kill(void)
{
	struct raw_hdr *h = recorder_shm();
	claim_slot(h, false);
	claim_ring(h, false);
	kill(getpid(), SIGKILL);
}

/* A child that claims (kind 0: a slot with its pid; 1: a ring with its
 * tid; 2: a slot without its pid) and is killed. Returns the index. */
static unsigned child_claims_and_dies(struct raw_hdr *h, int kind)
{
	int up[2];
	unsigned v;
	if (pipe(up) < 0)
		_exit(10);
	pid_t c = fork();
	if (c == 0) {
		v = kind == 1 ? claim_ring(h, true) : claim_slot(h, kind == 0);
		if (write(up[1], &v, sizeof v) != sizeof v)
			_exit(1);
		kill(getpid(), SIGKILL);
	}
	if (c < 0 || read(up[0], &v, sizeof v) != sizeof v || waitpid(c, NULL, 0) != c)
		_exit(10);
	close(up[0]);
	close(up[1]);
	return v;
}

/* claimkids (--children): dead children's claims that name them come back
 * while the root runs (exit 2 if the slot does not within 20 s, 3 the
 * ring); a claim without an id stays until every process is gone. */
static void claim_kids(void)
{
	struct raw_hdr *h = recorder_shm();
	unsigned slot = child_claims_and_dies(h, 0), ring = child_claims_and_dies(h, 1);
	int rc = raw_wait_handed_back(h, slot, ring);
	if (rc)
		_exit(rc);
	child_claims_and_dies(h, 2);
	exit(0);
}

static void *volatile sink;

/* fullgo: wait for the file $SLTEST_LOG, then churn 2M events (~4 MB of
 * trace). */
static void full_go(void)
{
	sink = malloc(100);
	for (int w = 0; access(getenv("SLTEST_LOG"), F_OK) < 0; w++) {
		if (w > 60000)
			_exit(9);
		usleep(1000);
	}
	for (unsigned x = 1, i = 0; i < 1000000; i++, x = x * 1103515245u + 12345u) {
		sink = malloc(16 + (x >> 16) % 500);
		free(sink);
	}
	exit(0);
}

__attribute__((constructor)) static void workload(void)
{
	const char *mode = getenv("SLTEST_WORKLOAD");
	if (!mode)
		return;
	if (!strcmp(mode, "claimkill"))
		claim_kill();
	if (!strcmp(mode, "claimkids"))
		claim_kids();
	if (!strcmp(mode, "fullgo"))
		full_go();
}

/* ---- helpers ------------------------------------------------------------- */

static bool sanitized(void)
{
	const char *variant = getenv("SPANLAB_VARIANT");
	return variant && !strcmp(variant, "asan");
}

static void self_path(char *out, size_t cap)
{
	ssize_t k = readlink("/proc/self/exe", out, cap - 1);
	cr_assert_gt(k, 0);
	out[k] = 0;
}

static const char *spanlab_bin(void)
{
	return getenv("SPANLAB_BIN") ? getenv("SPANLAB_BIN") : "build/spanlab";
}

static const char *recorder_lib(void)
{
	const char *lib = getenv("SPANLAB_RECORD_LIB");
	return lib ? lib : "build/libspanlab-record.so";
}

/* Events in a trace that must read to its end without an error. */
static long trace_events(const char *path, bool *complete)
{
	char err[1024];
	struct slt_source *s = slt_open(path, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	struct slt_event ev;
	long n = 0;
	int rc;
	while ((rc = slt_next(s, &ev)) > 0)
		n++;
	cr_assert_eq(rc, 0, "%s: %s", path, slt_error(s));
	if (complete)
		*complete = slt_source_complete(s);
	slt_close(s);
	return n;
}

static void read_all(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s", path);
	ssize_t k = read(fd, buf, cap - 1);
	cr_assert_geq(k, 0);
	buf[k] = 0;
	close(fd);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	cr_assert(d, "%s", dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* ---- the tests ------------------------------------------------------------ */

/* The program is killed between a claim's CAS and its LIVE store: the
 * recorder must still finish (it waited forever for the claimed slot). */
Test(record_cmd, a_program_killed_while_claiming_does_not_hang_the_recorder, .timeout = 60)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096], self[4096];
	self_path(self, sizeof self);
	snprintf(out, sizeof out, "%s/k.slt", dir);
	setenv("SLTEST_WORKLOAD", "claimkill", 1);
	struct tl_run r;
	RUN(&r, "spanlab", "record", "-o", out, "--", self);
	unsetenv("SLTEST_WORKLOAD");
	cr_assert_eq(r.status, 128 + SIGKILL, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "killed by signal 9") && strstr(r.err, "cut short"), "%s", r.err);
	tl_run_free(&r);
	bool complete;
	trace_events(out, &complete);
	cr_assert(!complete);
	tl_tmpdir_remove(dir);
}

/* --children: children killed while claiming; their claims come back while
 * the root runs (the workload checks), and the recorder finishes. */
Test(record_cmd, children_killed_while_claiming_hand_their_claims_back, .timeout = 60)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096], self[4096];
	self_path(self, sizeof self);
	snprintf(out, sizeof out, "%s/c.slt", dir);
	setenv("SLTEST_WORKLOAD", "claimkids", 1);
	struct tl_run r;
	RUN(&r, "spanlab", "record", "--children", "-o", out, "--", self);
	unsetenv("SLTEST_WORKLOAD");
	cr_assert_eq(r.status, 0, "exit %d (2: slot, 3: ring not handed back): %s", r.status, r.err);
	tl_run_free(&r);
	bool complete;
	trace_events(out, &complete);
	cr_assert(complete);
	tl_tmpdir_remove(dir);
}

/* -o through a symbolic link (also a dangling one) writes its target and
 * keeps the link; a program that cannot start leaves OUT as it was; a FIFO
 * stays a FIFO and its reader gets the trace. No temporary file is left. */
Test(record_cmd, an_output_is_replaced_only_by_a_trace_and_never_unlinked, .timeout = 60)
{
	char *dir = tl_tmpdir(), link[4096], target[4096], dangling[4096], fresh[4096];
	char fifo[4096], copy[4096], missing[4096], buf[64];
	snprintf(link, sizeof link, "%s/link.slt", dir);
	snprintf(target, sizeof target, "%s/target.slt", dir);
	snprintf(dangling, sizeof dangling, "%s/dangling.slt", dir);
	snprintf(fresh, sizeof fresh, "%s/fresh.slt", dir);
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	snprintf(copy, sizeof copy, "%s/copy.slt", dir);
	snprintf(missing, sizeof missing, "%s/no-such-program", dir);
	cr_assert_eq(tl_write_file(target, "old\n", 4), 0);
	cr_assert_eq(symlink("target.slt", link), 0);
	cr_assert_eq(symlink("fresh.slt", dangling), 0);
	struct tl_run r;
	struct stat st;

	RUN(&r, "spanlab", "record", "-o", link, "--", missing);
	cr_assert_eq(r.status, 2, "%s", r.err);
	tl_run_free(&r);
	cr_assert(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link was removed");
	read_all(target, buf, sizeof buf);
	cr_assert_str_eq(buf, "old\n", "a program that cannot start replaced OUT");

	RUN(&r, "spanlab", "record", "-o", link, "--", "ls", "/");
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	cr_assert(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced");
	cr_assert_gt(trace_events(target, NULL), 10, "the link's target holds the trace");

	RUN(&r, "spanlab", "record", "-o", dangling, "--", "ls", "/");
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	cr_assert(lstat(dangling, &st) == 0 && S_ISLNK(st.st_mode), "the dangling link was replaced");
	cr_assert_gt(trace_events(fresh, NULL), 10);

	cr_assert_eq(mkfifo(fifo, 0644), 0);
	pid_t reader = fork();
	cr_assert_geq(reader, 0);
	if (reader == 0) {
		alarm(30);
		int in = open(fifo, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ssize_t k;
		while (in >= 0 && out >= 0 && (k = read(in, buf, sizeof buf)) > 0)
			if (write(out, buf, (size_t)k) != k)
				_exit(1);
		_exit(in >= 0 && out >= 0 ? 0 : 1);
	}
	RUN(&r, "spanlab", "record", "-o", fifo, "--", "ls", "/");
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	int st_reader;
	cr_assert_eq(waitpid(reader, &st_reader, 0), reader);
	cr_assert(WIFEXITED(st_reader) && WEXITSTATUS(st_reader) == 0, "the FIFO's reader: %d", st_reader);
	cr_assert(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was replaced");
	cr_assert_gt(trace_events(copy, NULL), 10, "the FIFO carried the trace");
	cr_assert_eq(count_entries(dir), 6, "a temporary file was left behind");
	tl_tmpdir_remove(dir);
}

/* An OUT that cannot be created is bad usage: exit 2, one line naming it,
 * and the program never runs. */
Test(record_cmd, an_output_that_cannot_be_created_stops_before_the_program)
{
	char *dir = tl_tmpdir(), out[4096], mark[4096], script[8300];
	snprintf(out, sizeof out, "%s/missing/x.slt", dir);
	snprintf(mark, sizeof mark, "%s/ran", dir);
	snprintf(script, sizeof script, "touch '%s'", mark);
	struct tl_run r;
	RUN(&r, "spanlab", "record", "-o", out, "--", "sh", "-c", script);
	cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "%s", r.err);
	cr_assert(strstr(r.err, out) && strstr(r.err, "cannot create the trace: No such file or directory"),
		  "%s", r.err);
	tl_run_free(&r);
	cr_assert_neq(access(mark, F_OK), 0, "the program ran");
	RUN(&r, "spanlab", "record", "-o", dir, "--", "sh", "-c", script);
	cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "cannot create the trace: Is a directory"), "%s", r.err);
	tl_run_free(&r);
	cr_assert_neq(access(mark, F_OK), 0, "the program ran");
	tl_tmpdir_remove(dir);
}

/* The disk fills up (here: the file size limit, lowered on the running
 * recorder once the trace has begun): the file is cut back to a record
 * boundary and reads cleanly, the one line says how many events it holds,
 * and the exit status is 1. */
Test(record_cmd, a_full_disk_cuts_the_trace_at_a_record_and_exits_1, .timeout = 120)
{
	if (sanitized())
		cr_skip_test("recorder e2e needs an unsanitized workload");
	char *dir = tl_tmpdir(), out[4096], self[4096], go[4096], errf[4096], msg[4096];
	self_path(self, sizeof self);
	snprintf(out, sizeof out, "%s/f.slt", dir);
	snprintf(go, sizeof go, "%s/go", dir);
	snprintf(errf, sizeof errf, "%s/err", dir);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setenv("SLTEST_WORKLOAD", "fullgo", 1);
		setenv("SLTEST_LOG", go, 1);
		int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644), null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(e, 2);
		execl(spanlab_bin(), spanlab_bin(), "record", "-o", out, "--", self, (char *)NULL);
		_exit(127);
	}
	struct stat st;
	for (int w = 0; w < 3000 && (stat(out, &st) < 0 || st.st_size < 20); w++)
		usleep(10000);
	cr_assert_eq(stat(out, &st), 0, "the trace did not begin");
	struct rlimit lim;
	cr_assert_eq(prlimit(pid, RLIMIT_FSIZE, NULL, &lim), 0);
	lim.rlim_cur = 100003;
	cr_assert_eq(prlimit(pid, RLIMIT_FSIZE, &lim, NULL), 0);
	cr_assert_eq(tl_write_file(go, "", 0), 0);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	read_all(errf, msg, sizeof msg);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, msg);
	cr_assert_eq(tl_count_lines(msg), 1, "%s", msg);
	const char *at = strstr(msg, "the file holds the first ");
	cr_assert(strstr(msg, out) && strstr(msg, "cannot write the trace: File too large") && at, "%s", msg);
	long said = atol(at + strlen("the file holds the first "));
	bool complete;
	long n = trace_events(out, &complete);
	cr_assert(!complete);
	cr_assert_eq(n, said, "the file holds %ld events, the message says %ld", n, said);
	cr_assert_gt(n, 1000);
	cr_assert_eq(stat(out, &st), 0);
	cr_assert_leq(st.st_size, 100003);
	tl_tmpdir_remove(dir);
}

/* Run spanlab with a soft limit of the test process lowered (the child
 * inherits it), then put it back. */
static void run_limited(struct tl_run *r, int resource, rlim_t cur, const char *const *argv)
{
	struct rlimit old, lim;
	cr_assert_eq(getrlimit(resource, &old), 0);
	lim = old;
	lim.rlim_cur = cur;
	cr_assert_eq(setrlimit(resource, &lim), 0);
	int rc = tl_run(r, NULL, argv);
	setrlimit(resource, &old);
	cr_assert_eq(rc, 0, "cannot run spanlab");
}

/* ulimit -n 64: no descriptor at 500 or above; the program still gets an
 * inheritable one for the shared memory. */
Test(record_cmd, a_low_descriptor_limit_still_records, .timeout = 60)
{
	char *dir = tl_tmpdir(), out[4096];
	snprintf(out, sizeof out, "%s/n.slt", dir);
	struct tl_run r;
	const char *const argv[] = { "spanlab", "record", "-o", out, "--", "ls", "/", NULL };
	run_limited(&r, RLIMIT_NOFILE, 64, argv);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert(!strstr(r.err, "not recording"), "%s", r.err);
	tl_run_free(&r);
	cr_assert_gt(trace_events(out, NULL), 10);
	tl_tmpdir_remove(dir);
}

/* ulimit -f: the shared memory (a memfd, which counts) shrinks its rings
 * to fit; a limit too low for even the smallest fails with one line. */
Test(record_cmd, a_file_size_limit_shrinks_the_shared_memory, .timeout = 60)
{
	char *dir = tl_tmpdir(), out[4096];
	snprintf(out, sizeof out, "%s/f.slt", dir);
	struct tl_run r;
	const char *const argv[] = { "spanlab", "record", "-o", out, "--", "ls", "/", NULL };
	run_limited(&r, RLIMIT_FSIZE, 64 << 20, argv);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	tl_run_free(&r);
	cr_assert_gt(trace_events(out, NULL), 10);
	run_limited(&r, RLIMIT_FSIZE, 1 << 20, argv);
	cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "%s", r.err);
	cr_assert(strstr(r.err, "more than the file size limit (ulimit -f) allows"), "%s", r.err);
	tl_run_free(&r);
	tl_tmpdir_remove(dir);
}

/* spanlab and its library in a directory whose name has a space and a
 * colon: LD_PRELOAD cannot name it, so a link in a private directory under
 * $TMPDIR does, removed afterwards; if no link can be made, one line. */
Test(record_cmd, a_library_path_with_a_space_or_colon_is_preloaded_through_a_link, .timeout = 60)
{
	char *dir = tl_tmpdir(), odd[4096], bin[4200], lib[4200], tmp[4096], out[4096], none[4096];
	snprintf(odd, sizeof odd, "%s/a b:c", dir);
	snprintf(bin, sizeof bin, "%s/spanlab", odd);
	snprintf(lib, sizeof lib, "%s/libspanlab-record.so", odd);
	snprintf(tmp, sizeof tmp, "%s/tmp", dir);
	snprintf(none, sizeof none, "%s/none", dir);
	snprintf(out, sizeof out, "%s/t.slt", dir);
	cr_assert_eq(mkdir(odd, 0755), 0);
	cr_assert_eq(mkdir(tmp, 0755), 0);
	tl_copy_file(spanlab_bin(), bin);
	cr_assert_eq(chmod(bin, 0755), 0);
	tl_copy_file(recorder_lib(), lib);
	char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	setenv("TMPDIR", tmp, 1);
	struct tl_run r;
	RUN(&r, bin, "record", "-o", out, "--", "ls", "/");
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert(!strstr(r.err, "cannot be preloaded"), "%s", r.err);
	tl_run_free(&r);
	cr_assert_gt(trace_events(out, NULL), 10);
	cr_assert_eq(count_entries(tmp), 0, "the link's directory was left behind");
	setenv("TMPDIR", none, 1);
	RUN(&r, bin, "record", "-o", out, "--", "ls", "/");
	if (old)
		setenv("TMPDIR", old, 1);
	else
		unsetenv("TMPDIR");
	free(old);
	cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
	cr_assert_eq(tl_count_lines(r.err), 1, "%s", r.err);
	cr_assert(strstr(r.err, "its path has a space or colon") && strstr(r.err, none), "%s", r.err);
	tl_run_free(&r);
	tl_tmpdir_remove(dir);
}

/* The program's ignored signals (grep reads them from /proc/self/status). */
static unsigned long long ignored_by_program(const char *out)
{
	struct tl_run r;
	RUN(&r, "spanlab", "record", "-o", out, "--", "grep", "^SigIgn:", "/proc/self/status");
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	const char *at = strstr(r.out, "SigIgn:");
	cr_assert(at, "%s", r.out);
	unsigned long long mask = strtoull(at + 7, NULL, 16);
	tl_run_free(&r);
	return mask;
}

#define SIGBIT(s) (1ull << ((s) - 1))

/* spanlab record ignores SIGINT and SIGQUIT (and SIGXFSZ) itself while the
 * program runs; the program gets them as they were: ignored if they were
 * (a command started with `&` in a script), default if not. */
Test(record_cmd, ignored_sigint_and_sigquit_stay_ignored_for_the_program, .timeout = 60)
{
	char *dir = tl_tmpdir(), out[4096];
	snprintf(out, sizeof out, "%s/s.slt", dir);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	unsigned long long ign = ignored_by_program(out);
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	cr_assert(ign & SIGBIT(SIGINT), "SIGINT was ignored, the program sees it default (%llx)", ign);
	cr_assert(ign & SIGBIT(SIGQUIT), "SIGQUIT was ignored, the program sees it default (%llx)", ign);
	cr_assert(!(ign & SIGBIT(SIGXFSZ)), "the program inherited our SIGXFSZ (%llx)", ign);
	ign = ignored_by_program(out);
	cr_assert(!(ign & (SIGBIT(SIGINT) | SIGBIT(SIGQUIT) | SIGBIT(SIGXFSZ))), "%llx", ign);
	tl_tmpdir_remove(dir);
}
