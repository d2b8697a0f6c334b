/*
 * A spanlab database: open or create one, log runs into it, merge others
 * into it. The schema is analysis/schema.sql (compiled in); its generated
 * columns come from the field lists of alloc/event.h, sim/snapshot.h and
 * sim/summary.h. docs/database.md describes the tables and the guarantees.
 *
 * The replay engine's calls, in order:
 *
 *   db_open(path, DB_OPEN_WRITE, &db, err, n)     refuses before any work
 *   db_run_begin(db, &info, &run, err, n)         commits the 'running' row
 *   sl_sink_attach(heap, db_run_sink(run))        events flow, batched
 *   db_stop_install()                             SIGINT/SIGTERM set a flag
 *   loop over trace records:
 *       if (db_stop_requested()) break;           a record boundary
 *       ... db_run_snapshot(run, &snap) every N ops (nonzero: the log
 *           failed; stop and finish as failed)
 *   db_run_size_class(run, &row) per class
 *   db_run_finish(run, status, &summary, error_or_NULL, err, n)
 *   db_close(db)
 *
 * Guarantees: a run is 'complete' only if db_run_finish committed it with
 * that status, in one transaction with its last rows; a process killed at
 * any moment leaves the file consistent (WAL, synchronous=NORMAL), the run
 * 'running' with a prefix of its rows, and other runs untouched. Several
 * processes may log into one file; each waits for the write lock (up to
 * DB_BUSY_TIMEOUT_MS) rather than failing. One db handle logs one run at a
 * time; it is not shared between threads (the sink's writer thread takes
 * turns with the caller on its own).
 *
 * Return values: 0, or an exit code of cli.h with a one-line message
 * "PATH: problem" in err: SL_EXIT_USAGE (2) when the file is not a usable
 * spanlab database (not SQLite, not spanlab, a newer schema), SL_EXIT_FAIL
 * (1) when it cannot be written (read-only, disk full, I/O, locked).
 */
#ifndef SPANLAB_DB_H
#define SPANLAB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "snapshot.h"
#include "summary.h"

/* The file's identity: PRAGMA application_id ("SPLB") and the schema
 * version in PRAGMA user_version. A file with a newer version is refused;
 * an older one gains the columns it lacks when opened for writing.
 * Versions: 1 the first; 2 adds runs.cpu_seconds, snapshots.heap_live_bytes
 * and size_class_stats.tiny_allocs; 3 adds runs.trace_complete. A new version's columns also go into
 * added_columns in db.c, so that files of older versions stay readable. */
#define DB_APPLICATION_ID 0x53504c42
#define DB_SCHEMA_VERSION 3

/* How long a writer waits for another process's transaction. A batch holds
 * the lock for ~10 ms; a merge holds it for its whole input (~1 s per
 * million rows); five minutes covers that and still reports a stuck lock. */
#define DB_BUSY_TIMEOUT_MS 300000

struct sqlite3;
struct db;
struct db_run;

enum db_open_mode {
	DB_OPEN_WRITE,		/* create if missing; refuse if it cannot be written */
	DB_OPEN_READ,		/* an existing spanlab database, read-only, with every
				 * table and column of its schema version (what merge reads) */
};

#define DB_RUN_STATUSES(X) \
	X(RUNNING, "running") \
	X(COMPLETE, "complete") \
	X(FAILED, "failed") \
	X(INTERRUPTED, "interrupted")

enum db_run_status {
#define X(name, text) DB_RUN_##name,
	DB_RUN_STATUSES(X)
#undef X
};

const char *db_run_status_name(enum db_run_status s);

/* The tiny-allocator assumption, as stored with each run. */
#define DB_TINY_ON "requests under 16 bytes are treated as pointer-free and packed by the tiny allocator (C traces carry no type information)"
#define DB_TINY_OFF "the tiny allocator is off: requests under 16 bytes take the smallest size class that fits"

/* What a run records about itself at its start. NULL / 0 fields are NULL in
 * the runs row, except where noted. */
struct db_run_info {
	const char *trace_path;
	const char *trace_name;		/* e.g. the file's base name */
	const char *trace_format;	/* slt, mtrace, valgrind, goalloc, text */
	const char *trace_sha256;	/* hex; NULL: hashed here from trace_path */
	const char *config_json;	/* config_to_string(); required */
	const char *allocator;		/* NULL: "go" */
	const char *free_policy;	/* "gc" or "immediate" */
	int64_t procs;
	const char *tiny_assumption;	/* DB_TINY_ON / DB_TINY_OFF */
	int argc;			/* stored as a JSON array */
	char *const *argv;
	const char *sweep_id;
	const char *build;		/* NULL: the compiler's version */
};

int db_open(const char *path, enum db_open_mode mode, struct db **out, char *err, size_t errlen);
/* A database to write is a file: "-" (standard output to the other
 * commands) is refused, naming ./- for a file of that name. */
int db_write_path_check(const char *path, char *err, size_t errlen);
/* Removes a database file with its -wal, -shm and -journal files. */
void db_remove_files(const char *path);
/* Closes the handle; a run still open is finished as failed first. */
void db_close(struct db *db);
const char *db_path(const struct db *db);
/* The SQLite connection (tests and benchmarks). */
struct sqlite3 *db_handle(struct db *db);
/* A problem after success (creating indexes or views failed), or NULL. */
const char *db_warning(const struct db *db);

int db_run_begin(struct db *db, const struct db_run_info *info, struct db_run **out, char *err,
		 size_t errlen);
int64_t db_run_id(const struct db_run *run);
const char *db_run_uuid(const struct db_run *run);	/* 36 characters */
struct sl_sink db_run_sink(struct db_run *run);
/* 0, or nonzero once the log has failed (db_run_error says why). */
int db_run_snapshot(struct db_run *run, const struct sim_snapshot *snap);
int db_run_size_class(struct db_run *run, const struct sim_size_class_row *row);
const char *db_run_error(struct db_run *run);

/* Ends the run and frees it: in one transaction the rows still batched,
 * the status, `error` (one line, or NULL), the summary (NULL: its columns
 * stay NULL) and the row counts. If the log had failed, the run is recorded
 * as failed with that error and the log's error is returned. After a
 * complete run, db_after_load. */
int db_run_finish(struct db_run *run, enum db_run_status status, const struct sim_summary *summary,
		  const char *error, char *err, size_t errlen);

/* SIGINT and SIGTERM set a flag the replay polls at record boundaries; a
 * second signal kills as usual. db_stop_requested returns the signal, or 0. */
void db_stop_install(void);
int db_stop_requested(void);

/* Do a and b name the same existing file (device and inode)? */
bool db_same_file(const char *a, const char *b);

/* Copy the complete runs of the database at in_path that `out` lacks (by
 * run_uuid) into `out`, with all their rows and new run ids, in one
 * transaction: an interrupted merge adds nothing from that input. */
struct db_merge_stats {
	int64_t merged;		/* runs copied */
	int64_t present;	/* complete runs already in out */
	int64_t incomplete;	/* runs skipped: not complete */
	int64_t replaced;	/* of merged: runs out held incomplete (a copy
				 * taken mid-run), now the input's complete run */
};
int db_merge(struct db *out, const char *in_path, struct db_merge_stats *st, char *err, size_t errlen);
/* The after-load statements of schema.sql (indexes), once the file holds
 * two or more runs, then analysis/views.sql (db_install_views): after a
 * complete run and after the last merge. Problems here are db_warning, not
 * errors. */
void db_after_load(struct db *db);

/* Install a views file (db_after_load passes the compiled-in views.sql):
 * nothing if the file already has this text (meta 'views_sha256');
 * otherwise, in one transaction, drop the views an earlier views file made
 * (meta 'views'), run `sql`, and record the views it made. Views created
 * by hand are left alone. 0 or an SQLite result code. */
int db_install_views(struct db *db, const char *sql);

#endif
