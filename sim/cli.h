/*
 * Conventions shared by every spanlab command (measurements.md 3.4):
 *   - `--help` prints usage to stdout, exit 0; `spanlab --version` likewise;
 *   - bad usage: one line on stderr plus "Try 'spanlab CMD --help'.", exit 2;
 *   - bad input (a file that cannot be read or parsed): one line naming the
 *     file and the place (byte offset or line), exit 2;
 *   - a run that fails (I/O, out of memory, a replay error): one line, exit 1;
 *   - results go to stdout, diagnostics and progress to stderr.
 */
#ifndef SPANLAB_CLI_H
#define SPANLAB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "slt.h"

enum { SL_EXIT_OK = 0, SL_EXIT_FAIL = 1, SL_EXIT_USAGE = 2 };

#define SL_VERSION "0.1.0"

/* "spanlab CMD: <msg>" + "Try 'spanlab CMD --help'." on stderr; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* --from FORMAT, for every command that reads a trace: a format name of
 * slt_format_parse (or "auto": detect). 0, or the usage error's 2 after
 * "spanlab CMD: unknown trace format 'X'" (docs/errors.md use-from). */
int cli_parse_from(const char *cmd, const char *name, enum slt_format *out);
/* "spanlab CMD: <msg>" on stderr; return 2 (bad input) or 1 (failure). */
int cli_bad_input(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, as a function's exit code says: bad input (2) when code is
 * SL_EXIT_USAGE, a failure (1) for any other nonzero code; returns that. */
int cli_error(const char *cmd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The exit code of a trace that could not be opened (s NULL: slt_open's
 * errno) or read (slt_next returned -1): SL_EXIT_FAIL if memory ran out,
 * SL_EXIT_USAGE (bad input) otherwise. */
int cli_trace_code(const struct slt_source *s);
/*
 * An output file that is written whole or not at all: a regular file (or a
 * new name) is written as NAME.tmp-PID beside it and renamed over it by
 * cli_out_commit (through a symbolic link, over the file it names, or
 * creating it if it does not exist yet, as the shell's > does); a
 * device or FIFO (-o /dev/null) is written in place, and is never
 * replaced or removed. "-" is stdout (dest "stdout"): flushed by
 * cli_out_commit, never closed. cli_out_abort removes only the temporary
 * file. A command whose output is binary refuses "-" on a terminal
 * first (cli_out_is_stdout).
 */
struct cli_out {
	FILE *f;
	char dest[4096], tmp[4200];
	bool direct;
	bool std;			/* "-": f is stdout */
};
static inline bool cli_out_is_stdout(const char *path) { return path[0] == '-' && !path[1]; }
int cli_out_open(struct cli_out *o, const char *path);	/* 0, or -1 with errno */
int cli_out_commit(struct cli_out *o);			/* 0, or -1 with errno */
void cli_out_abort(struct cli_out *o);

/* 0 once stdout is flushed; a write that failed (a full disk, a closed
 * pipe, /dev/full) is the command's failure: 1 with a message, never an
 * exit 0 whose output was lost. */
int cli_flush_stdout(const char *cmd);

/* Control characters (from a file's keys, values or lines) become '?', so a
 * message stays one line. The printers above apply it to every message. */
void cli_one_line(char *s);

/* Line and column (1-based) of byte offset off in text, for JSON syntax
 * errors in config and sweep files. */
void cli_line_col(const char *text, size_t off, unsigned *line, unsigned *col);

/* "  ETA M:SS" for a progress line; a remaining time beyond 99,999
 * minutes (or not a number) prints as "  ETA >99999:59". */
void cli_eta(char *buf, size_t len, double seconds);

/* Strict number parsing for option values: the whole string, in range. */
bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
bool cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
bool cli_parse_double(const char *s, double *out);
/* A byte count with an optional KiB/MiB/GiB (or K/M/G) suffix. */
bool cli_parse_bytes(const char *s, uint64_t *out);

/* Read a whole file (for JSON configs and sweep files; a pipe works too).
 * NULL with errno set on failure; EFBIG past CLI_MAX_FILE bytes, so that
 * /dev/zero or an endless pipe is an error rather than all of memory. */
#define CLI_MAX_FILE (64u << 20)
char *cli_read_file(const char *path, size_t *len);

#endif
