/*
 * The SQLite event sink: the struct sl_sink (alloc/event.h) that logs one
 * run's events, snapshots and size-class rows into a spanlab database.
 * Used through sim/db.h (db_run_sink and friends); this header is the
 * interface between db.c and sink_sqlite.c, and the table list both share.
 *
 * The tables the sink writes are generated from the C field lists
 * (SL_EVENT_LIST, SL_SNAPSHOT_FIELDS, SL_SIZE_CLASS_FIELDS): sink_tables()
 * gives each table's name, its "-- @columns" marker in analysis/schema.sql
 * and every column in insert order, so the schema, the INSERTs and the
 * checks at open come from one list.
 */
#ifndef SPANLAB_SINK_SQLITE_H
#define SPANLAB_SINK_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "snapshot.h"
#include "summary.h"

struct sqlite3;
struct sink_sqlite;

/* Events per batch, so per transaction: a run killed mid-way keeps a
 * multiple of this many events. Measured (measurements.md 1.1 and
 * tests/bench/bench_db.c): the insert rate is flat from 10k rows per
 * transaction up and falls steeply below ~1k; 16384 events of 96 bytes
 * are 1.5 MiB per batch. */
#define SINK_BATCH_EVENTS 16384

/* Tests only: sinks created while this is 1..SINK_BATCH_EVENTS use batches
 * of that many events, so crash tests see many transactions in a small
 * run. 0 (the default): SINK_BATCH_EVENTS. */
extern size_t sink_sqlite_test_batch_events;

/* Where a table's rows come from. */
enum sink_row_kind {
	SINK_ROWS_EVENT,	/* one event kind */
	SINK_ROWS_GC,		/* gc_start + gc_end pairs */
	SINK_ROWS_SNAPSHOT,
	SINK_ROWS_SIZE_CLASS,
};

#define SINK_MAX_COLS 48

struct sink_column {
	const char *name;
	const char *type;	/* "INTEGER" or "REAL" */
};

struct sink_table {
	const char *name;		/* SQL table */
	const char *marker;		/* "-- @columns <marker>" in schema.sql */
	enum sink_row_kind rows;
	enum sl_event_kind kind;	/* SINK_ROWS_EVENT: which events */
	unsigned nfixed;		/* leading columns written out in schema.sql */
	unsigned ncols;			/* fixed + generated */
	struct sink_column cols[SINK_MAX_COLS];
};

/* Every table the sink writes, in a fixed order. */
const struct sink_table *sink_tables(unsigned *n);

/* A sink for run `run_id` on `conn` (opened SQLITE_OPEN_NOMUTEX: the sink
 * and its caller take turns, never use it at once). `path` names the
 * database in messages. NULL with a message in err on failure. */
struct sink_sqlite *sink_sqlite_new(struct sqlite3 *conn, const char *path, int64_t run_id,
				    char *err, size_t errlen);

/* The callback pair for sl_sink_attach. */
struct sl_sink sink_sqlite_sink(struct sink_sqlite *s);

/* Append a snapshot or a size-class row (batched like events); a field
 * holding SIM_NULL is stored as NULL. 0, or -1 once the writer has failed
 * (the message: sink_sqlite_error). */
int sink_sqlite_snapshot(struct sink_sqlite *s, const struct sim_snapshot *snap);
int sink_sqlite_size_class(struct sink_sqlite *s, const struct sim_size_class_row *row);

/* The writer's first error ("PATH: disk full ..."), or NULL. */
const char *sink_sqlite_error(struct sink_sqlite *s);

/* Wait until every handed-off batch is written. 0, or -1 if any failed. */
int sink_sqlite_drain(struct sink_sqlite *s);

/* After drain, inside the caller's open transaction: write the rows not yet
 * handed off, and a GC cycle still open; *events and *snaps get the rows
 * written, which the totals below leave out (the caller's transaction may
 * still roll back). 0, or an SQLite result code. */
int sink_sqlite_write_rest(struct sink_sqlite *s, int64_t *events, int64_t *snaps);

/* Rows of the batches the writer committed: what the tables hold for the
 * run, the rows of write_rest aside. */
int64_t sink_sqlite_event_rows(const struct sink_sqlite *s);
int64_t sink_sqlite_snapshot_rows(const struct sink_sqlite *s);

/* Stop the writer thread and free everything; unwritten rows are lost. */
void sink_sqlite_free(struct sink_sqlite *s);

/* --- db.c, shared with this file ---------------------------------------- */

/* "PATH: <what went wrong>" for an SQLite result code; returns the exit
 * code class of cli.h (1: I/O, 2: not a usable database). */
int db_describe(struct sqlite3 *conn, int rc, const char *path, char *err, size_t errlen);

#endif
