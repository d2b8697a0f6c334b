/*
 * Helpers shared by the Criterion tests: running the spanlab binary,
 * temporary files, seeds. Environment (set by `make test-run`):
 *   SPANLAB_BIN          the spanlab binary under test
 *   SPANLAB_RECORD_LIB   the recorder preload library
 *   SPANLAB_ROOT         the source tree (for tests/data, alloc/...)
 *   SPANLAB_SEED         fixes the seed of randomized tests
 */
#ifndef SPANLAB_TESTLIB_H
#define SPANLAB_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tl_run {
	int status;		/* exit code, or 128 + signal */
	char *out, *err;	/* NUL-terminated captured stdout / stderr */
	size_t out_len, err_len;
};

/* Run argv (argv[0] = "spanlab" is replaced by $SPANLAB_BIN) with `input`
 * on stdin (NULL: /dev/null). Returns 0, or -1 if it could not be run. */
int tl_run(struct tl_run *r, const char *input, const char *const *argv);
void tl_run_free(struct tl_run *r);

/* Count lines in s. */
size_t tl_count_lines(const char *s);

/* $SPANLAB_ROOT/<rel> (static buffer per call site: copy if kept). */
const char *tl_root_path(const char *rel, char *buf, size_t len);

/* A fresh temporary directory (removed by tl_tmpdir_remove). */
char *tl_tmpdir(void);
void tl_tmpdir_remove(char *dir);

/* Write a file; returns 0 or -1. */
int tl_write_file(const char *path, const void *data, size_t len);

/* A whole file, malloc'ed and NUL-terminated (*len: its bytes, if len is
 * not NULL); NULL if it cannot be read. */
char *tl_read_file(const char *path, size_t *len);

/* Copy a file (a failed read or write fails the test). */
void tl_copy_file(const char *from, const char *to);

/* The first column of the first row of sql as an integer (-1: no row or
 * NULL) or as a malloc'ed string (NULL: no row or NULL); a statement
 * that does not prepare fails the test. */
struct sqlite3;
int64_t tl_q1(struct sqlite3 *db, const char *sql);
char *tl_qtext(struct sqlite3 *db, const char *sql);

/* The seed for a randomized test: $SPANLAB_SEED or a fresh one; printed
 * to stderr with the test's name so a failure can be replayed. */
uint64_t tl_seed(const char *test_name);

/* Processes, from /proc: the children of `parent` (up to max; their
 * number), each with its command line (NULs as spaces) in cmd[i] when cmd
 * is given; a process's state letter (0 once it is gone); whether signal
 * sig is pending for it; whether it has a handler for sig; SIGSTOP and wait until it is stopped (or has
 * ended), so that it cannot finish or start anything while a test does
 * something slow. */
int tl_children(pid_t parent, pid_t *pids, char (*cmd)[512], int max);
char tl_proc_state(pid_t pid);
bool tl_signal_pending(pid_t pid, int sig);
bool tl_signal_caught(pid_t pid, int sig);
void tl_stop(pid_t pid);

#endif
