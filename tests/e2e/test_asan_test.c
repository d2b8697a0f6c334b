/*
 * scripts/asan-test.sh, which runs each test binary of `make test-asan`,
 * on stand-ins for a test binary: this binary itself, run as
 * `test_asan_test --stand-in MODE STATE` (main, below, acts as the stand-in
 * before Criterion starts). The stand-in counts its runs in the file STATE
 * and acts out one of the cases the script must tell apart:
 *
 *   hang:N     a forked worker waits on a futex for ever, alone in its
 *              process (the hang at fork in libasan's allocator lock), in
 *              the first N runs; then the worker exits 0
 *   threaded   a worker waits on a futex for 4 s with a second thread that
 *              will wake it: not the sign, left alone
 *   pause      the binary waits in pause(): not the sign, so only the wall
 *              limit (ASAN_TEST_LIMIT) ends it
 *   leak:ours, leak:criterion
 *              prints a LeakSanitizer report whose frames are ours, or
 *              libcriterion's alone, after a summary of passing tests,
 *              and exits 23
 *
 * The script runs with ASAN_TEST_STALL=2: the sign must last 2 s, not 10.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/options.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

static char self[4096];

/* ---- the stand-in ------------------------------------------------------------- */

static int futex_word;

static void futex_wait(const struct timespec *timeout)
{
	syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, timeout, NULL, 0);
}

static void *wake_later(void *arg)
{
	(void)arg;
	sleep(4);
	futex_word = 1;
	syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return NULL;
}

/* This run's number, from 1, counted in the file `state`. */
static int count_run(const char *state)
{
	int n = 0;
	FILE *f = fopen(state, "r");
	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = 0;
		fclose(f);
	}
	f = fopen(state, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", n + 1);
	fclose(f);
	return n + 1;
}

static const char leak_ours[] = "==1==ERROR: LeakSanitizer: detected memory leaks\n"
				"Direct leak of 48 byte(s) in 1 object(s) allocated from:\n"
				"    #0 0x7f in __interceptor_malloc (/lib/libasan.so.8+0xb)\n"
				"    #1 0x55 in replay_run sim/replay.c:1\n"
				"SUMMARY: AddressSanitizer: 48 byte(s) leaked in 1 allocation(s).\n";
static const char leak_criterion[] = "==1==ERROR: LeakSanitizer: detected memory leaks\n"
				     "Direct leak of 48 byte(s) in 1 object(s) allocated from:\n"
				     "    #0 0x7f in __interceptor_malloc (/lib/libasan.so.8+0xb)\n"
				     "    #1 0x7e in bxfi_push_timeout (/lib/libcriterion.so.3+0xc)\n"
				     "SUMMARY: AddressSanitizer: 48 byte(s) leaked in 1 allocation(s).\n";

static int stand_in(const char *mode, const char *state)
{
	int run = count_run(state), hangs = 0;
	if (run < 0)
		return 99;
	if (!strncmp(mode, "leak:", 5)) {
		printf("[====] Synthesis: Tested: 1 | Passing: 1 | Failing: 0 | Crashing: 0\n");
		fputs(strcmp(mode, "leak:ours") ? leak_criterion : leak_ours, stdout);
		return 23;
	}
	if (!strcmp(mode, "pause")) {
		pause();
		return 0;
	}
	bool threaded = !strcmp(mode, "threaded");
	if (!threaded && sscanf(mode, "hang:%d", &hangs) != 1)
		return 98;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return 97;
	if (pid == 0) {
		if (threaded) {
			pthread_t t;
			if (pthread_create(&t, NULL, wake_later, NULL))
				_exit(96);
			while (!futex_word)
				futex_wait(NULL);
			pthread_join(t, NULL);
			_exit(0);
		}
		while (run <= hangs)
			futex_wait(NULL);
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return 95;
	printf("[====] Synthesis: Tested: 1 | Passing: 1 | Failing: 0 | Crashing: 0\n");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char *argv[])
{
	if (argc == 4 && !strcmp(argv[1], "--stand-in"))
		return stand_in(argv[2], argv[3]);
	struct criterion_test_set *tests = criterion_initialize();
	criterion_options.jobs = 6;	/* the tests wait, for the most part: all at once */
	int result = 0;
	if (criterion_handle_args(argc, argv, true))
		result = !criterion_run_all_tests(tests);
	criterion_finalize(tests);
	return result;
}

/* ---- the tests ----------------------------------------------------------------- */

static char *tmp;

static void setup(void)
{
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	cr_assert_gt(n, 0);
	self[n] = 0;
	tmp = tl_tmpdir();
	cr_assert(tmp);
	setenv("ASAN_TEST_STALL", "2", 1);
	/* A test runs in a worker that BoxFort (Criterion's sandbox) started
	 * with BXFI_MAP set: the stand-in, linked with libcriterion too, would
	 * take itself for such a worker and abort. */
	unsetenv("BXFI_MAP");
}

static void teardown(void)
{
	tl_tmpdir_remove(tmp);
}

TestSuite(asan_test, .init = setup, .fini = teardown, .timeout = 120);

/* Run asan-test.sh on the stand-in in `mode`; *runs: how many times the
 * stand-in ran. */
static void run_script(struct tl_run *r, const char *mode, int *runs)
{
	char script[4096], state[4096];
	tl_root_path("scripts/asan-test.sh", script, sizeof script);
	snprintf(state, sizeof state, "%s/state", tmp);
	cr_assert_eq(tl_run(r, NULL, (const char *const[]){ script, self, "--stand-in", mode, state, NULL }), 0);
	char *s = tl_read_file(state, NULL);
	cr_assert(s, "the stand-in never ran (exit %d): %s%s", r->status, r->out, r->err);
	*runs = atoi(s);
	free(s);
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* Run the script on the stand-in in `mode`: it exits `status` after `runs`
 * runs of the stand-in, `hangs` of them killed as hung at fork, and says
 * `said` on stderr; `output`: the stand-in's own output (of a run that
 * ended by itself) is passed on. */
static void expect(const char *mode, int status, int runs, size_t hangs, const char *said, bool output)
{
	struct tl_run r;
	int ran;
	run_script(&r, mode, &ran);
	cr_assert_eq(r.status, status, "exit %d: %s", r.status, r.err);
	cr_assert_eq(ran, runs, "ran %d times: %s", ran, r.err);
	cr_assert_eq(count(r.err, "hung at fork"), hangs, "%s", r.err);
	cr_assert(strstr(r.err, said), "'%s' is not said: '%s'", said, r.err);
	cr_assert_eq(strstr(r.out, "Synthesis") != NULL, output, "output: '%s'", r.out);
	tl_run_free(&r);
}

Test(asan_test, a_worker_hung_at_fork_is_killed_and_the_binary_run_again)
{
	expect("hang:1", 0, 2, 1, "killed (run 1 of 3)", true);
}

Test(asan_test, three_hung_runs_fail_the_binary)
{
	expect("hang:3", 1, 3, 3, "killed (run 3 of 3)", false);
}

/* A futex wait of a process that has a thread to wake it is no hang: the
 * stand-in's worker waits 4 s, twice ASAN_TEST_STALL, and is left to end. */
Test(asan_test, a_wait_with_a_second_thread_is_left_alone)
{
	expect("threaded", 0, 1, 0, "", true);
}

Test(asan_test, any_other_hang_fails_at_the_wall_limit)
{
	setenv("ASAN_TEST_LIMIT", "2", 1);
	expect("pause", 1, 1, 0, "still running after 2 s (ASAN_TEST_LIMIT): failed", false);
}

Test(asan_test, a_leak_in_our_code_fails_even_when_every_test_passed)
{
	expect("leak:ours", 1, 1, 0, "LeakSanitizer found a leak in our code", true);
}

Test(asan_test, libcriterions_own_leak_is_forgiven_when_every_test_passed)
{
	expect("leak:criterion", 0, 1, 0, "the only leak is libcriterion's own (forgiven)", true);
}
