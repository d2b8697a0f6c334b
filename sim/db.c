/*
 * A spanlab database file: identity and schema version, creation from
 * analysis/schema.sql, the run lifecycle around the event sink, and merge.
 * The file's layout and guarantees are in docs/database.md; the API and
 * its call order in db.h.
 *
 * Invariants:
 *   - every write is a BEGIN IMMEDIATE transaction (or a single statement),
 *     so a writer waits for the lock with the busy timeout instead of
 *     failing on a lock upgrade;
 *   - journal_mode is WAL and synchronous NORMAL (measurements.md 2.4): an
 *     application crash at any point loses at most the transaction in
 *     flight and never corrupts the file;
 *   - a run's row is committed as 'running' before its first event row,
 *     and only db_run_finish's single transaction writes its final status
 *     together with its last rows;
 *   - a database is never opened for writing unless its identity, version,
 *     columns and lookup tables agree with this binary (checked, or added
 *     for an older version, in one transaction at open), nor for reading
 *     (a merge input) unless it has every table and column of its version
 *     and its lookups agree;
 *   - merge copies one input in one transaction, runs keyed by run_uuid.
 * Only this file and sink_sqlite.c include sqlite3.h.
 */
#define _GNU_SOURCE
#include "db.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "sink_sqlite.h"
#include "sha256.h"
#include "slt.h"

/* The SQL files, compiled in by the Makefile (build/<variant>/gen). */
extern const char db_schema_sql[];
extern const char db_views_sql[];

/* Page size of new files. Measured with tests/bench/bench_db.c (1 M
 * events, builds with this constant changed, runs alternated): 16 KiB
 * gave a median of 1.94 M rows/s against 1.73 M for SQLite's 4 KiB default
 * (5 runs each; fewer B-tree pages per row); 64 KiB was no better (1.24 M
 * against 1.51 M for 16 KiB in a noisier period). */
#define DB_PAGE_SIZE 16384

#define AFTER_LOAD_MARKER "-- @after-load"
#define COLUMNS_MARKER "-- @columns "

struct db {
	sqlite3 *conn;
	char *path;
	enum db_open_mode mode;
	struct db_run *run;		/* the run being logged, if any */
	char warning[512];
	/* Why the last transaction was rolled back: ROLLBACK replaces the
	 * connection's message and errno, so fail() reports these instead. */
	struct {
		int rc, sys;
		char msg[256];
	} undone;
};

struct db_run {
	struct db *db;
	int64_t id;
	char uuid[37];
	struct sink_sqlite *sink;
};

const char *db_run_status_name(enum db_run_status s)
{
	static const char *const names[] = {
#define X(name, text) [DB_RUN_##name] = text,
		DB_RUN_STATUSES(X)
#undef X
	};
	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* --- lookup tables: the enums of event.h and snapshot.h by name ---------- */

/* In enum order; the static asserts fail when event.h grows an enum. The
 * tests compare these with the core's sl_*_name functions. */
static const char *const refill_source_names[] = {
	[SL_REFILL_PARTIAL_SWEPT] = "partial_swept", [SL_REFILL_PARTIAL_UNSWEPT] = "partial_unswept",
	[SL_REFILL_FULL_UNSWEPT] = "full_unswept", [SL_REFILL_GROW] = "grow",
};
static const char *const span_set_names[] = {
	[SL_SET_NONE] = "none", [SL_SET_HEAP] = "heap", [SL_SET_MCACHE] = "mcache",
	[SL_SET_PARTIAL_SWEPT] = "partial_swept", [SL_SET_PARTIAL_UNSWEPT] = "partial_unswept",
	[SL_SET_FULL_SWEPT] = "full_swept", [SL_SET_FULL_UNSWEPT] = "full_unswept",
};
static const char *const page_source_names[] = {
	[SL_PAGE_PAGECACHE] = "pagecache", [SL_PAGE_HEAP] = "heap", [SL_PAGE_GROW] = "grow",
};
static const char *const mem_state_names[] = {
	[SL_MEM_NONE] = "none", [SL_MEM_RESERVED] = "reserved", [SL_MEM_PREPARED] = "prepared",
	[SL_MEM_READY] = "ready",
};
static const char *const scav_reason_names[] = {
	[SL_SCAV_GC] = "gc", [SL_SCAV_GROWTH] = "growth", [SL_SCAV_FORCED] = "forced",
};
static const char *const gc_reason_names[] = {
	[SL_GC_PACER] = "pacer", [SL_GC_MARKER] = "marker", [SL_GC_FORCED] = "forced",
};
static const char *const snapshot_kind_names[] = {
	[SIM_SNAPSHOT_PERIODIC] = "periodic", [SIM_SNAPSHOT_PEAK_LIVE] = "peak_live",
	[SIM_SNAPSHOT_FINAL] = "final",
};

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(LEN(refill_source_names) == SL_REFILL_NSOURCES, "refill_source_names vs event.h");
_Static_assert(LEN(span_set_names) == SL_SET_NSETS, "span_set_names vs event.h");
_Static_assert(LEN(page_source_names) == SL_PAGE_NSOURCES, "page_source_names vs event.h");
_Static_assert(LEN(mem_state_names) == SL_MEM_NSTATES, "mem_state_names vs event.h");
_Static_assert(LEN(scav_reason_names) == SL_SCAV_FORCED + 1, "scav_reason_names vs event.h");
_Static_assert(LEN(gc_reason_names) == SL_GC_FORCED + 1, "gc_reason_names vs event.h");
_Static_assert(LEN(snapshot_kind_names) == SIM_SNAPSHOT_NKINDS, "snapshot_kind_names vs snapshot.h");

static const struct lookup {
	const char *table;
	const char *const *names;
	unsigned n;
} lookups[] = {
	{ "refill_sources", refill_source_names, LEN(refill_source_names) },
	{ "span_sets", span_set_names, LEN(span_set_names) },
	{ "page_sources", page_source_names, LEN(page_source_names) },
	{ "mem_states", mem_state_names, LEN(mem_state_names) },
	{ "scav_reasons", scav_reason_names, LEN(scav_reason_names) },
	{ "gc_reasons", gc_reason_names, LEN(gc_reason_names) },
	{ "snapshot_kinds", snapshot_kind_names, LEN(snapshot_kind_names) },
};

/* The summary columns of runs, from SL_SUMMARY_FIELDS. */
#define SQLTYPE_INT "INTEGER"
#define SQLTYPE_REAL "REAL"
static const struct sink_column summary_cols[] = {
#define X(name, type, json, doc) { #name, SQLTYPE_##type },
	SL_SUMMARY_FIELDS(X)
#undef X
};

/* --- errors ------------------------------------------------------------------ */

/* db_describe, given what the connection said about rc: its errno and
 * its message (NULL: none of its own). */
static int describe(int rc, int sys, const char *msg, const char *path, char *err, size_t errlen)
{
	const char *why = sys ? strerror(sys) : "unknown reason";

	switch (rc & 0xff) {
	case SQLITE_FULL:
		snprintf(err, errlen, "%s: disk full (or the file system's size limit reached)", path);
		return SL_EXIT_FAIL;
	case SQLITE_READONLY:
		if (rc == SQLITE_READONLY_ROLLBACK || rc == SQLITE_READONLY_RECOVERY) {
			snprintf(err, errlen, "%s: left in mid-transaction by a killed writer; rolling that back "
				 "needs write access to the file and its directory", path);
			return SL_EXIT_FAIL;
		}
		snprintf(err, errlen, "%s: cannot write: the file, its directory or the file system is read-only", path);
		return SL_EXIT_FAIL;
	case SQLITE_CANTOPEN:
		snprintf(err, errlen, "%s: cannot open the database or its -wal/-shm files: %s", path, why);
		return SL_EXIT_FAIL;
	case SQLITE_NOTADB:
		snprintf(err, errlen, "%s: not a SQLite database", path);
		return SL_EXIT_USAGE;
	case SQLITE_CORRUPT:
		snprintf(err, errlen, "%s: damaged database (%s)", path, sqlite3_errstr(rc));
		return SL_EXIT_USAGE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		snprintf(err, errlen, "%s: locked by another process for more than %d s", path,
			 DB_BUSY_TIMEOUT_MS / 1000);
		return SL_EXIT_FAIL;
	case SQLITE_IOERR:
		if (sys == ENOSPC || sys == EDQUOT || sys == EFBIG)
			snprintf(err, errlen, "%s: disk full (%s)", path, why);
		else
			snprintf(err, errlen, "%s: I/O error: %s", path, why);
		return SL_EXIT_FAIL;
	case SQLITE_NOMEM:
		snprintf(err, errlen, "%s: out of memory", path);
		return SL_EXIT_FAIL;
	default:
		snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errstr(rc));
		return SL_EXIT_FAIL;
	}
}

int db_describe(sqlite3 *conn, int rc, const char *path, char *err, size_t errlen)
{
	return describe(rc, conn ? sqlite3_system_errno(conn) : 0,
			conn && sqlite3_errcode(conn) == rc ? sqlite3_errmsg(conn) : NULL, path, err, errlen);
}

/* rc on db's connection, said of the file at `path`; the message of a
 * transaction rolled back for rc is the one kept in db->undone. */
static int fail_as(struct db *db, int rc, const char *path, char *err, size_t errlen)
{
	if (db->undone.rc == rc && sqlite3_errcode(db->conn) != rc)
		return describe(rc, db->undone.sys, db->undone.msg, path, err, errlen);
	return db_describe(db->conn, rc, path, err, errlen);
}

static int fail(struct db *db, int rc, char *err, size_t errlen)
{
	return fail_as(db, rc, db->path, err, errlen);
}

/* --- small SQL helpers ---------------------------------------------------------- */

static int exec(struct db *db, const char *sql)
{
	return sqlite3_exec(db->conn, sql, NULL, NULL, NULL);
}

static int query_i64(struct db *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
	sqlite3_finalize(st);
	return rc;
}

/* End a failed transaction, keeping why it failed for fail(). */
static void rollback(struct db *db)
{
	db->undone.rc = sqlite3_extended_errcode(db->conn);
	db->undone.sys = sqlite3_system_errno(db->conn);
	snprintf(db->undone.msg, sizeof db->undone.msg, "%s", sqlite3_errmsg(db->conn));
	if (!sqlite3_get_autocommit(db->conn))
		exec(db, "ROLLBACK");
}

/* Run `sql` (a whole script) in one write transaction. */
static int exec_txn(struct db *db, const char *sql)
{
	int rc = exec(db, "BEGIN IMMEDIATE");
	if (rc == SQLITE_OK)
		rc = exec(db, sql);
	if (rc == SQLITE_OK)
		rc = exec(db, "COMMIT");
	if (rc != SQLITE_OK)
		rollback(db);
	return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* --- the schema: analysis/schema.sql with its markers expanded ----------------- */

struct strbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

static void sb_str(struct strbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* The generated columns a marker stands for, or false if it names none. */
static bool marker_columns(const char *marker, size_t n, const struct sink_column **cols, unsigned *ncols)
{
	unsigned nt;
	const struct sink_table *t = sink_tables(&nt);

	if (n == strlen("summary") && !memcmp(marker, "summary", n)) {
		*cols = summary_cols;
		*ncols = LEN(summary_cols);
		return true;
	}
	for (unsigned i = 0; i < nt; i++) {
		if (strlen(t[i].marker) == n && !memcmp(t[i].marker, marker, n)) {
			*cols = t[i].cols + t[i].nfixed;
			*ncols = t[i].ncols - t[i].nfixed;
			return true;
		}
	}
	return false;
}

/* Expand one "-- @columns NAME" line into ", column TYPE" lines. */
static int expand_marker(struct strbuf *b, const char *line, size_t len, char *bad, size_t badlen)
{
	const char *name = line + strspn(line, " \t") + strlen(COLUMNS_MARKER);
	size_t n = strcspn(name, " \t\r\n");
	const struct sink_column *cols;
	unsigned ncols;

	if (!marker_columns(name, n, &cols, &ncols)) {
		snprintf(bad, badlen, "%.*s", (int)n, name);
		return -1;
	}
	sb_add(b, line, len);
	sb_str(b, " (expanded)\n");
	for (unsigned i = 0; i < ncols; i++) {
		/* A field named like an SQL keyword (trigger) is quoted. */
		bool kw = sqlite3_keyword_check(cols[i].name, (int)strlen(cols[i].name));
		sb_str(b, kw ? "\t, \"" : "\t, ");
		sb_str(b, cols[i].name);
		sb_str(b, kw ? "\" " : " ");
		sb_str(b, cols[i].type);
		sb_str(b, "\n");
	}
	return 0;
}

/* The creation part of schema.sql (before @after-load), each line that is
 * a "-- @columns NAME" marker (after indentation) expanded.
 * NULL on out of memory or an unknown marker (named in bad). */
static char *schema_creation_sql(char *bad, size_t badlen)
{
	const char *p = db_schema_sql, *end = strstr(p, "\n" AFTER_LOAD_MARKER);
	struct strbuf b = { 0 };

	if (!end)
		end = p + strlen(p);
	snprintf(bad, badlen, "out of memory");
	while (p < end && !b.oom) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t indent = strspn(p, " \t");
		if (indent < len && !strncmp(p + indent, COLUMNS_MARKER, strlen(COLUMNS_MARKER))) {
			if (expand_marker(&b, p, len, bad, badlen)) {
				free(b.s);
				return NULL;
			}
		} else {
			sb_add(&b, p, len);
			sb_str(&b, "\n");
		}
		p += len + 1;
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* The statements after the @after-load line of schema.sql. */
static const char *after_load_sql(void)
{
	const char *p = strstr(db_schema_sql, "\n" AFTER_LOAD_MARKER);
	return p ? p + 1 : "";
}

/* --- identity, creation, checks ----------------------------------------------- */

struct identity {
	int64_t app, version, objects;
};

static int read_identity(struct db *db, struct identity *id)
{
	int rc = query_i64(db, "PRAGMA application_id", &id->app);
	if (rc == SQLITE_OK)
		rc = query_i64(db, "PRAGMA user_version", &id->version);
	if (rc == SQLITE_OK)
		rc = query_i64(db, "SELECT count(*) FROM sqlite_schema", &id->objects);
	return rc;
}

static bool is_fresh(const struct identity *id)
{
	return id->app == 0 && id->version == 0 && id->objects == 0;
}

static int check_identity(struct db *db, const struct identity *id, char *err, size_t errlen)
{
	if (is_fresh(id)) {
		snprintf(err, errlen, "%s: not a spanlab database (an empty file)", db->path);
		return SL_EXIT_USAGE;
	}
	if (id->app != DB_APPLICATION_ID) {
		snprintf(err, errlen, "%s: not a spanlab database (application_id %#llx, expected %#x)",
			 db->path, (unsigned long long)(uint32_t)id->app, DB_APPLICATION_ID);
		return SL_EXIT_USAGE;
	}
	if (id->version > DB_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: written by a newer spanlab (schema version %lld; this one reads up to %d)",
			 db->path, (long long)id->version, DB_SCHEMA_VERSION);
		return SL_EXIT_USAGE;
	}
	if (id->version < 1) {
		snprintf(err, errlen, "%s: damaged spanlab database (schema version %lld)", db->path,
			 (long long)id->version);
		return SL_EXIT_USAGE;
	}
	return 0;
}

static int write_meta(struct db *db)
{
	char sql[512];
	snprintf(sql, sizeof sql,
		 "PRAGMA application_id = %d; PRAGMA user_version = %d;"
		 "INSERT INTO meta VALUES ('schema_version', '%d'),"
		 " ('created_at', strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now')),"
		 " ('created_by', 'spanlab %s');",
		 DB_APPLICATION_ID, DB_SCHEMA_VERSION, DB_SCHEMA_VERSION, SL_VERSION);
	return exec(db, sql);
}

/* Create the schema in a fresh file, unless another process just did. */
static int create_schema(struct db *db, char *err, size_t errlen)
{
	char sql[64], bad[128];
	int64_t objects;
	int rc;

	snprintf(sql, sizeof sql, "PRAGMA page_size = %d", DB_PAGE_SIZE);
	if ((rc = exec(db, sql)) || (rc = exec(db, "PRAGMA journal_mode = WAL")) ||
	    (rc = exec(db, "BEGIN IMMEDIATE")))
		return fail(db, rc, err, errlen);
	if ((rc = query_i64(db, "SELECT count(*) FROM sqlite_schema", &objects)))
		goto out;
	if (objects == 0) {
		char *schema = schema_creation_sql(bad, sizeof bad);
		if (!schema) {
			rollback(db);
			snprintf(err, errlen, "%s: analysis/schema.sql: unknown marker '-- @columns %s'", db->path, bad);
			return SL_EXIT_FAIL;
		}
		rc = exec(db, schema);
		free(schema);
		if (rc == SQLITE_OK)
			rc = write_meta(db);
	}
	if (rc == SQLITE_OK)
		rc = exec(db, "COMMIT");
out:
	if (rc == SQLITE_OK)
		return 0;
	if (rc == SQLITE_ERROR)
		snprintf(err, errlen, "%s: creating the schema failed: %s", db->path, sqlite3_errmsg(db->conn));
	else
		fail(db, rc, err, errlen);
	rollback(db);
	return SL_EXIT_FAIL;
}

/* Does `table` have column `col`? -1 if the table does not exist. */
static int has_column(struct db *db, const char *table, const char *col)
{
	sqlite3_stmt *st;
	int found = -1;

	if (sqlite3_prepare_v2(db->conn, "SELECT name FROM pragma_table_info(?1)", -1, &st, NULL))
		return -1;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		found = found < 0 ? 0 : found;
		if (!strcmp((const char *)sqlite3_column_text(st, 0), col))
			found = 1;
	}
	sqlite3_finalize(st);
	return found;
}

/* Every column the C code writes must exist; a database of an older schema
 * version gains the missing ones (columns only ever grow). */
static int check_table(struct db *db, const char *table, const struct sink_column *cols, unsigned n,
		       bool migrate, char *err, size_t errlen)
{
	for (unsigned i = 0; i < n; i++) {
		int has = has_column(db, table, cols[i].name);
		if (has < 0) {
			snprintf(err, errlen, "%s: damaged spanlab database (no table %s)", db->path, table);
			return SL_EXIT_USAGE;
		}
		if (has)
			continue;
		if (!migrate) {
			snprintf(err, errlen, "%s: table %s lacks column %s: analysis/schema.sql and the C field lists disagree",
				 db->path, table, cols[i].name);
			return SL_EXIT_USAGE;
		}
		char sql[256];
		snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN \"%s\" %s", table, cols[i].name, cols[i].type);
		int rc = exec(db, sql);
		if (rc)
			return fail(db, rc, err, errlen);
	}
	return 0;
}

static int check_columns(struct db *db, bool migrate, char *err, size_t errlen)
{
	unsigned n;
	const struct sink_table *t = sink_tables(&n);
	int code = check_table(db, "runs", summary_cols, LEN(summary_cols), migrate, err, errlen);

	for (unsigned i = 0; i < n && !code; i++)
		code = check_table(db, t[i].name, t[i].cols, t[i].ncols, migrate, err, errlen);
	return code;
}

/* Add this binary's enum names; refuse a file whose ids mean other names. */
static int fill_lookup(struct db *db, const struct lookup *l, char *err, size_t errlen)
{
	char ins[128], sel[128];
	sqlite3_stmt *a = NULL, *b = NULL;
	int rc, code = 0;

	snprintf(ins, sizeof ins, "INSERT OR IGNORE INTO %s (id, name) VALUES (?1, ?2)", l->table);
	snprintf(sel, sizeof sel, "SELECT name FROM %s WHERE id = ?1", l->table);
	if ((rc = sqlite3_prepare_v2(db->conn, ins, -1, &a, NULL)) ||
	    (rc = sqlite3_prepare_v2(db->conn, sel, -1, &b, NULL)))
		goto out;
	for (unsigned id = 0; id < l->n && !code; id++) {
		sqlite3_bind_int(a, 1, (int)id);
		sqlite3_bind_text(a, 2, l->names[id], -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(a)) != SQLITE_DONE)
			goto out;
		sqlite3_reset(a);
		sqlite3_bind_int(b, 1, (int)id);
		const char *have = sqlite3_step(b) == SQLITE_ROW ? (const char *)sqlite3_column_text(b, 0) : NULL;
		if (!have || strcmp(have, l->names[id])) {
			snprintf(err, errlen, "%s: table %s: id %u is '%s' in the file but '%s' in this spanlab",
				 db->path, l->table, id, have ? have : "(another id)", l->names[id]);
			code = SL_EXIT_USAGE;
		}
		sqlite3_reset(b);
	}
	rc = SQLITE_OK;
out:
	sqlite3_finalize(a);
	sqlite3_finalize(b);
	return code ? code : rc ? fail(db, rc, err, errlen) : 0;
}

/* One transaction: columns (migrating an older file), lookups, version.
 * Both places that hold the version say DB_SCHEMA_VERSION afterwards: the
 * meta row is set whenever it differs, which also mends files whose
 * migration raised only user_version. */
static int check_for_writing(struct db *db, int64_t version, char *err, size_t errlen)
{
	int rc = exec(db, "BEGIN IMMEDIATE");
	int code = rc ? fail(db, rc, err, errlen) : 0;

	if (!code)
		code = check_columns(db, version < DB_SCHEMA_VERSION, err, errlen);
	for (size_t i = 0; i < LEN(lookups) && !code; i++)
		code = fill_lookup(db, &lookups[i], err, errlen);
	if (!code && version < DB_SCHEMA_VERSION) {
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", DB_SCHEMA_VERSION);
		if ((rc = exec(db, sql)))
			code = fail(db, rc, err, errlen);
	}
	if (!code) {
		char sql[256];
		snprintf(sql, sizeof sql,
			 "INSERT OR REPLACE INTO meta (key, value) SELECT 'schema_version', '%d'"
			 " WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = 'schema_version' AND value = '%d')",
			 DB_SCHEMA_VERSION, DB_SCHEMA_VERSION);
		if ((rc = exec(db, sql)))
			code = fail(db, rc, err, errlen);
	}
	if (!code && (rc = exec(db, "COMMIT")))
		code = fail(db, rc, err, errlen);
	if (code)
		rollback(db);
	return code;
}

/* Columns added after version 1, with the version that added them: a file
 * of an older version lacks them until it is opened for writing. */
static const struct added_column {
	const char *table, *column;
	int version;
} added_columns[] = {
	{ "runs", "cpu_seconds", 2 },
	{ "snapshots", "heap_live_bytes", 2 },
	{ "size_class_stats", "tiny_allocs", 2 },
	{ "runs", "trace_complete", 3 },
};

static bool added_after(const char *table, const char *column, int64_t version)
{
	for (size_t i = 0; i < LEN(added_columns); i++)
		if (!strcmp(added_columns[i].table, table) && !strcmp(added_columns[i].column, column))
			return added_columns[i].version > version;
	return false;
}

/* Refuse a file whose ids mean other names than this binary's. It may
 * lack ids (an older file: enums only grow); nothing is written. */
static int check_lookup(struct db *db, const struct lookup *l, char *err, size_t errlen)
{
	char sql[128];
	sqlite3_stmt *st;
	int code = 0;

	snprintf(sql, sizeof sql, "SELECT id, name FROM %s", l->table);
	int rc = sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL);
	while (rc == SQLITE_OK && !code && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const char *have = (const char *)sqlite3_column_text(st, 1);
		if (id >= 0 && (uint64_t)id < l->n && have && strcmp(have, l->names[id])) {
			snprintf(err, errlen, "%s: table %s: id %lld is '%s' in the file but '%s' in this spanlab",
				 db->path, l->table, (long long)id, have, l->names[id]);
			code = SL_EXIT_USAGE;
		}
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return code ? code : rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : fail(db, rc, err, errlen);
}

/* Every table and column of this binary's schema (built from schema.sql
 * in a scratch in-memory database, and checked in schema.sql's order, so
 * a missing runs table is named as that) must be in the file, but for the
 * columns a later version added; the lookups must agree. This is what
 * merge reads: without it, a damaged or foreign file fails in the middle
 * of a merge with an SQL error about the output. */
static int check_for_reading(struct db *db, int64_t version, char *err, size_t errlen)
{
	char bad[128];
	char *schema = schema_creation_sql(bad, sizeof bad);
	sqlite3 *ref = NULL;
	sqlite3_stmt *st = NULL;
	int code = 0;

	if (!schema || sqlite3_open(":memory:", &ref) != SQLITE_OK || sqlite3_exec(ref, schema, NULL, NULL, NULL) ||
	    sqlite3_prepare_v2(ref,
			       "SELECT t.name, c.name FROM sqlite_schema AS t, pragma_table_info(t.name) AS c"
			       " WHERE t.type = 'table' ORDER BY t.rowid, c.cid",
			       -1, &st, NULL)) {
		snprintf(err, errlen, "%s: cannot build this spanlab's schema to compare: %s", db->path,
			 schema ? sqlite3_errmsg(ref) : bad);
		code = SL_EXIT_FAIL;
	}
	while (!code && sqlite3_step(st) == SQLITE_ROW) {
		const char *table = (const char *)sqlite3_column_text(st, 0);
		const char *column = (const char *)sqlite3_column_text(st, 1);
		int has = has_column(db, table, column);
		if (has < 0) {
			snprintf(err, errlen, "%s: damaged spanlab database (no table %s)", db->path, table);
			code = SL_EXIT_USAGE;
		} else if (!has && !added_after(table, column, version)) {
			snprintf(err, errlen, "%s: damaged spanlab database (table %s has no column %s)", db->path,
				 table, column);
			code = SL_EXIT_USAGE;
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(ref);
	free(schema);
	for (size_t i = 0; i < LEN(lookups) && !code; i++)
		code = check_lookup(db, &lookups[i], err, errlen);
	return code;
}

/* --- open and close ---------------------------------------------------------------- */

void db_remove_files(const char *path)
{
	static const char *const sides[] = { "-wal", "-shm", "-journal" };
	char side[4096];

	unlink(path);
	for (size_t i = 0; i < LEN(sides); i++) {
		snprintf(side, sizeof side, "%s%s", path, sides[i]);
		unlink(side);
	}
}

/* sqlite3_open_v2 with SQLITE_OPEN_URI (merge attaches inputs read-only by
 * URI): keep a plain path that starts with "file:" a plain path. */
static int open_conn(sqlite3 **conn, const char *path, int flags)
{
	char name[4096];

	snprintf(name, sizeof name, "%s%s", strncmp(path, "file:", 5) ? "" : "./", path);
	int rc = sqlite3_open_v2(name, conn, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, NULL);
	if (*conn) {
		sqlite3_extended_result_codes(*conn, 1);
		sqlite3_busy_timeout(*conn, DB_BUSY_TIMEOUT_MS);
	}
	return rc;
}

/* A writer killed in mid-transaction leaves a hot journal (a replay killed
 * while it created its file leaves one), or a WAL whose index must be
 * rebuilt, that only a connection allowed to write may roll back or
 * recover, as SQLite does at any such open: a read-only one gets
 * SQLITE_READONLY_ROLLBACK or _RECOVERY. Reading such a file (a merge
 * input), one read-write connection does that first; the file then holds
 * what was committed, all that any reader of it could see. */
static bool recovered_for_reading(struct db *db, int rc)
{
	sqlite3 *rw = NULL;

	if (db->mode != DB_OPEN_READ || (rc != SQLITE_READONLY_ROLLBACK && rc != SQLITE_READONLY_RECOVERY))
		return false;
	bool ok = open_conn(&rw, db->path, SQLITE_OPEN_READWRITE) == SQLITE_OK &&
		  sqlite3_exec(rw, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(rw);
	return ok;
}

/* Why a new file cannot be created: SQLite retries a failed open read-only,
 * so its errno for a read-only directory is ENOENT; ask the directory. */
static int cannot_create(struct db *db, int rc, char *err, size_t errlen)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", db->path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof dir, ".");
	if (access(dir, W_OK | X_OK) == 0)
		return fail(db, rc, err, errlen);
	snprintf(err, errlen, "%s: cannot create the database: %s: %s", db->path, dir, strerror(errno));
	return SL_EXIT_FAIL;
}

static int open_checked(struct db *db, bool existed, char *err, size_t errlen)
{
	struct identity id;
	int rc = open_conn(&db->conn, db->path,
			   db->mode == DB_OPEN_READ ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);

	if (rc != SQLITE_OK && !existed && db->mode == DB_OPEN_WRITE)
		return cannot_create(db, rc, err, errlen);
	if (rc != SQLITE_OK)
		return fail(db, rc, err, errlen);
	if (db->mode == DB_OPEN_WRITE && sqlite3_db_readonly(db->conn, "main") == 1) {
		snprintf(err, errlen, "%s: cannot write: the file is read-only", db->path);
		return SL_EXIT_FAIL;
	}
	if ((rc = read_identity(db, &id)) && recovered_for_reading(db, rc))
		rc = read_identity(db, &id);
	if (rc)
		return fail(db, rc, err, errlen);
	if (is_fresh(&id) && db->mode == DB_OPEN_WRITE) {
		int code = create_schema(db, err, errlen);
		if (code) {
			if (!existed)
				db_remove_files(db->path);
			return code;
		}
		if ((rc = read_identity(db, &id)))
			return fail(db, rc, err, errlen);
	}
	int code = check_identity(db, &id, err, errlen);
	if (code)
		return code;
	if (db->mode == DB_OPEN_READ)
		return check_for_reading(db, id.version, err, errlen);
	if ((rc = exec(db, "PRAGMA journal_mode = WAL")) || (rc = exec(db, "PRAGMA synchronous = NORMAL")))
		return fail(db, rc, err, errlen);
	return check_for_writing(db, id.version, err, errlen);
}

static bool orphan_wal(const char *path)
{
	char wal[4096];
	struct stat st;
	snprintf(wal, sizeof wal, "%s-wal", path);
	return stat(wal, &st) == 0;
}

int db_write_path_check(const char *path, char *err, size_t errlen)
{
	if (strcmp(path, "-") != 0)
		return 0;
	snprintf(err, errlen, "-: a database is a file and cannot be written to standard output "
		 "(./- names a file called -)");
	return SL_EXIT_USAGE;
}

int db_open(const char *path, enum db_open_mode mode, struct db **out, char *err, size_t errlen)
{
	struct stat st;
	bool existed = stat(path, &st) == 0;
	struct db *db;

	*out = NULL;
	if (mode == DB_OPEN_WRITE && db_write_path_check(path, err, errlen))
		return SL_EXIT_USAGE;
	if (existed && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory, not a database", path);
		return SL_EXIT_USAGE;
	}
	if (!existed && mode == DB_OPEN_READ) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return SL_EXIT_USAGE;
	}
	if (!existed && orphan_wal(path)) {
		snprintf(err, errlen, "%s: does not exist but %s-wal does (a database deleted without its -wal "
			 "file, whose pages SQLite would replay into the new one); remove %s-wal first", path, path, path);
		return SL_EXIT_USAGE;
	}
	if (!(db = calloc(1, sizeof *db)) || !(db->path = strdup(path))) {
		free(db);
		snprintf(err, errlen, "%s: out of memory", path);
		return SL_EXIT_FAIL;
	}
	db->mode = mode;
	int code = open_checked(db, existed, err, errlen);
	if (code) {
		sqlite3_close(db->conn);
		free(db->path);
		free(db);
		return code;
	}
	*out = db;
	return 0;
}

void db_close(struct db *db)
{
	char err[512];

	if (!db)
		return;
	if (db->run)
		db_run_finish(db->run, DB_RUN_FAILED, NULL, "the database was closed before the run finished",
			      err, sizeof err);
	sqlite3_close(db->conn);
	free(db->path);
	free(db);
}

const char *db_path(const struct db *db)
{
	return db->path;
}

sqlite3 *db_handle(struct db *db)
{
	return db->conn;
}

const char *db_warning(const struct db *db)
{
	return db->warning[0] ? db->warning : NULL;
}

/* --- runs ---------------------------------------------------------------------------- */

/* A random (version 4) UUID: runs keep it through merges. */
static void new_uuid(char out[37])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof b) {
		ssize_t n = getrandom(b + got, sizeof b - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof b) {	/* no entropy source: time and pid, still unique enough per host */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 40;
		for (int i = 0; i < 16; i++, x = x * 6364136223846793005u + 1442695040888963407u)
			b[i] = (uint8_t)(x >> 56);
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

static char *argv_json(int argc, char *const *argv)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < argc; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(argv[i]));
	char *s = a ? cJSON_PrintUnformatted(a) : NULL;
	cJSON_Delete(a);
	return s;
}

static const char run_insert_sql[] =
	"INSERT INTO runs (run_uuid, sweep_id, status, started_at, trace_path, trace_name,"
	" trace_format, trace_sha256, config_json, allocator, free_policy, procs, tiny_assumption,"
	" argv, host, kernel, pid, tool_version, build, sqlite_version, cjson_version, schema_version)"
	" VALUES (?1, ?2, 'running', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?3, ?4, ?5, ?6, ?7, ?8,"
	" ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)";

static void bind_run_info(sqlite3_stmt *st, const struct db_run *run, const struct db_run_info *in,
			  const char *sha, const char *argv)
{
	struct utsname u;
	char kernel[2 * sizeof u.release];
	bool have_uname = uname(&u) == 0;

	if (have_uname)
		snprintf(kernel, sizeof kernel, "%s %s", u.sysname, u.release);
	bind_text(st, 1, run->uuid);
	bind_text(st, 2, in->sweep_id);
	bind_text(st, 3, in->trace_path);
	bind_text(st, 4, in->trace_name);
	bind_text(st, 5, in->trace_format);
	bind_text(st, 6, sha);
	bind_text(st, 7, in->config_json);
	bind_text(st, 8, in->allocator ? in->allocator : "go");
	bind_text(st, 9, in->free_policy);
	if (in->procs)
		sqlite3_bind_int64(st, 10, in->procs);
	bind_text(st, 11, in->tiny_assumption);
	bind_text(st, 12, argv);
	bind_text(st, 13, have_uname ? u.nodename : NULL);
	bind_text(st, 14, have_uname ? kernel : NULL);
	sqlite3_bind_int64(st, 15, getpid());
	bind_text(st, 16, SL_VERSION);
	bind_text(st, 17, in->build ? in->build : "cc " __VERSION__);
	bind_text(st, 18, sqlite3_libversion());
	bind_text(st, 19, cJSON_Version());
	sqlite3_bind_int(st, 20, DB_SCHEMA_VERSION);
}

/* Insert the 'running' row: one statement, its own transaction. */
static int insert_run(struct db_run *run, const struct db_run_info *in, const char *sha, char *err,
		      size_t errlen)
{
	struct db *db = run->db;
	sqlite3_stmt *st;
	char *argv = argv_json(in->argc, in->argv);
	int rc = sqlite3_prepare_v2(db->conn, run_insert_sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		bind_run_info(st, run, in, sha, argv);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_finalize(st);
	}
	free(argv);
	if (rc != SQLITE_OK)
		return fail(db, rc, err, errlen);
	run->id = sqlite3_last_insert_rowid(db->conn);
	return 0;
}

/* One statement, so it needs no transaction of its own. The row counts
 * are those of the batches the sink committed (0 without a sink). */
static void mark_failed(struct db_run *run, const char *error)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(run->db->conn,
			       "UPDATE runs SET status = 'failed', error = ?1,"
			       " finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),"
			       " event_rows = ?3, snapshot_rows = ?4"
			       " WHERE run_id = ?2 AND status = 'running'",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	bind_text(st, 1, error);
	sqlite3_bind_int64(st, 2, run->id);
	sqlite3_bind_int64(st, 3, run->sink ? sink_sqlite_event_rows(run->sink) : 0);
	sqlite3_bind_int64(st, 4, run->sink ? sink_sqlite_snapshot_rows(run->sink) : 0);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

int db_run_begin(struct db *db, const struct db_run_info *info, struct db_run **out, char *err,
		 size_t errlen)
{
	char sha[65];
	struct db_run *run;
	int code;

	*out = NULL;
	if (db->mode != DB_OPEN_WRITE || db->run) {
		snprintf(err, errlen, "%s: %s", db->path,
			 db->run ? "a run is already being logged on this handle" : "opened read-only");
		return SL_EXIT_FAIL;
	}
	if (!info->config_json) {
		snprintf(err, errlen, "%s: a run needs its config", db->path);
		return SL_EXIT_FAIL;
	}
	/* The trace's identity, of a regular file only: hashing a pipe would
	 * drain it before the replay reads it (its runs have no SHA-256). */
	bool hashed = !info->trace_sha256 && info->trace_path && !slt_path_streams(info->trace_path);
	if (hashed && sha256_file(info->trace_path, sha)) {
		snprintf(err, errlen, "%s: cannot read: %s", info->trace_path, strerror(errno));
		return SL_EXIT_USAGE;
	}
	if (!(run = calloc(1, sizeof *run))) {
		snprintf(err, errlen, "%s: out of memory", db->path);
		return SL_EXIT_FAIL;
	}
	run->db = db;
	new_uuid(run->uuid);
	code = insert_run(run, info, info->trace_sha256 ? info->trace_sha256 : hashed ? sha : NULL, err, errlen);
	if (!code && !(run->sink = sink_sqlite_new(db->conn, db->path, run->id, err, errlen))) {
		mark_failed(run, err);
		code = SL_EXIT_FAIL;
	}
	if (code) {
		free(run);
		return code;
	}
	db->run = run;
	*out = run;
	return 0;
}

int64_t db_run_id(const struct db_run *run)
{
	return run->id;
}

const char *db_run_uuid(const struct db_run *run)
{
	return run->uuid;
}

struct sl_sink db_run_sink(struct db_run *run)
{
	return sink_sqlite_sink(run->sink);
}

int db_run_snapshot(struct db_run *run, const struct sim_snapshot *snap)
{
	return sink_sqlite_snapshot(run->sink, snap);
}

int db_run_size_class(struct db_run *run, const struct sim_size_class_row *row)
{
	return sink_sqlite_size_class(run->sink, row);
}

const char *db_run_error(struct db_run *run)
{
	return sink_sqlite_error(run->sink);
}

/* UPDATE runs SET status, error, finished_at, row counts, every summary
 * column WHERE run_id: generated from SL_SUMMARY_FIELDS. */
static char *finish_sql(void)
{
	struct strbuf b = { 0 };
	char num[32];
	int i = 5;

	sb_str(&b, "UPDATE runs SET status = ?1, error = ?2,"
		   " finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),"
		   " event_rows = ?3, snapshot_rows = ?4");
#define X(name, type, json, doc) \
	snprintf(num, sizeof num, "\" = ?%d", i++); \
	sb_str(&b, ", \"" #name); \
	sb_str(&b, num);
	SL_SUMMARY_FIELDS(X)
#undef X
	snprintf(num, sizeof num, " WHERE run_id = ?%d", i);
	sb_str(&b, num);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* SIM_NULL: a figure the run does not have (a baseline's Go-only ones). */
static void bind_INT(sqlite3_stmt *st, int i, const int64_t *v)
{
	if (v && *v != SIM_NULL)
		sqlite3_bind_int64(st, i, *v);
	else
		sqlite3_bind_null(st, i);
}

static void bind_REAL(sqlite3_stmt *st, int i, const double *v)
{
	if (v && isfinite(*v))
		sqlite3_bind_double(st, i, *v);
	else
		sqlite3_bind_null(st, i);
}

/* `events`, `snaps`: the rows written in this transaction, beyond the
 * sink's committed ones. */
static int update_run(struct db_run *run, enum db_run_status status, const struct sim_summary *sum,
		      const char *error, int64_t events, int64_t snaps)
{
	sqlite3_stmt *st;
	char *sql = finish_sql();
	int i = 5, rc = sql ? sqlite3_prepare_v2(run->db->conn, sql, -1, &st, NULL) : SQLITE_NOMEM;

	free(sql);
	if (rc != SQLITE_OK)
		return rc;
	bind_text(st, 1, db_run_status_name(status));
	bind_text(st, 2, error);
	sqlite3_bind_int64(st, 3, sink_sqlite_event_rows(run->sink) + events);
	sqlite3_bind_int64(st, 4, sink_sqlite_snapshot_rows(run->sink) + snaps);
#define X(name, type, json, doc) bind_##type(st, i++, sum ? &sum->name : NULL);
	SL_SUMMARY_FIELDS(X)
#undef X
	sqlite3_bind_int64(st, i, run->id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The run's last transaction: its remaining rows (unless the log failed),
 * then the status and figures. */
static int finish_txn(struct db_run *run, enum db_run_status status, const struct sim_summary *sum,
		      const char *error, bool write_rest)
{
	struct db *db = run->db;
	int64_t events = 0, snaps = 0;
	int rc = exec(db, "BEGIN IMMEDIATE");

	if (rc == SQLITE_OK && write_rest)
		rc = sink_sqlite_write_rest(run->sink, &events, &snaps);
	if (rc == SQLITE_OK)
		rc = update_run(run, status, sum, error, events, snaps);
	if (rc == SQLITE_OK)
		rc = exec(db, "COMMIT");
	if (rc != SQLITE_OK)
		rollback(db);
	return rc;
}

int db_run_finish(struct db_run *run, enum db_run_status status, const struct sim_summary *summary,
		  const char *error, char *err, size_t errlen)
{
	struct db *db = run->db;
	char logerr[512] = "";
	int code = 0;

	if (status == DB_RUN_RUNNING) {
		status = DB_RUN_FAILED;
		error = "finished with status 'running' (a bug in the caller)";
	}
	bool log_failed = sink_sqlite_drain(run->sink) != 0;
	if (log_failed) {
		snprintf(logerr, sizeof logerr, "%s", sink_sqlite_error(run->sink));
		status = DB_RUN_FAILED;
		error = logerr;
	}
	int rc = finish_txn(run, status, summary, error, !log_failed);
	if (rc != SQLITE_OK) {
		code = fail(db, rc, err, errlen);
		mark_failed(run, err);
	} else if (log_failed) {
		snprintf(err, errlen, "%s", logerr);
		code = SL_EXIT_FAIL;
	}
	sink_sqlite_free(run->sink);
	db->run = NULL;
	free(run);
	if (!code && status == DB_RUN_COMPLETE)
		db_after_load(db);
	return code;
}

/* The names of the views in the file as " a b c " (a name n is in it iff
 * " n " is); caller frees. */
static char *view_names(struct db *db)
{
	sqlite3_stmt *st;
	struct strbuf b = { 0 };
	sb_str(&b, " ");
	if (sqlite3_prepare_v2(db->conn, "SELECT name FROM sqlite_schema WHERE type = 'view' ORDER BY name", -1, &st,
			       NULL) == SQLITE_OK)
		while (sqlite3_step(st) == SQLITE_ROW) {
			sb_str(&b, (const char *)sqlite3_column_text(st, 0));
			sb_str(&b, " ");
		}
	sqlite3_finalize(st);
	return b.oom ? (free(b.s), NULL) : b.s;
}

/* A meta value ("" if absent) in *out, which the caller frees. */
static int meta_get(struct db *db, const char *key, char **out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->conn, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL);
	*out = NULL;
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if ((rc == SQLITE_ROW || rc == SQLITE_DONE) && !(*out = strdup(v ? v : "")))
		rc = SQLITE_NOMEM;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int meta_set(struct db *db, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->conn, "INSERT OR REPLACE INTO meta VALUES (?1, ?2)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Drop the views an earlier views file made (meta 'views'), run this one,
 * record the views it made and its hash: in the caller's transaction. */
static int replace_views(struct db *db, const char *sql, const char *hash)
{
	char *old;
	int rc = meta_get(db, "views", &old);
	for (char *save, *v = old ? strtok_r(old, " ", &save) : NULL; v && rc == SQLITE_OK; v = strtok_r(NULL, " ", &save)) {
		char *drop = sqlite3_mprintf("DROP VIEW IF EXISTS \"%w\"", v);
		rc = drop ? exec(db, drop) : SQLITE_NOMEM;
		sqlite3_free(drop);
	}
	free(old);
	char *before = rc == SQLITE_OK ? view_names(db) : NULL;
	if (rc == SQLITE_OK && !before)
		rc = SQLITE_NOMEM;
	if (rc == SQLITE_OK)
		rc = exec(db, sql);
	char *after = rc == SQLITE_OK ? view_names(db) : NULL;
	struct strbuf made = { 0 };
	sb_str(&made, "");
	for (char *save, *v = after ? strtok_r(after, " ", &save) : NULL; v; v = strtok_r(NULL, " ", &save)) {
		size_t n = strlen(v);
		bool had = false;	/* " v " in before */
		for (const char *b = strstr(before, v); b && !had; b = strstr(b + 1, v))
			had = b[-1] == ' ' && b[n] == ' ';
		if (!had) {
			sb_str(&made, v);
			sb_str(&made, " ");
		}
	}
	if (rc == SQLITE_OK)
		rc = made.oom ? SQLITE_NOMEM : meta_set(db, "views", made.s);
	if (rc == SQLITE_OK)
		rc = meta_set(db, "views_sha256", hash);
	free(before);
	free(after);
	free(made.s);
	return rc;
}

int db_install_views(struct db *db, const char *sql)
{
	struct sha256 c;
	uint8_t digest[32];
	char hash[65], *have;

	sha256_init(&c);
	sha256_update(&c, sql, strlen(sql));
	sha256_final(&c, digest);
	sha256_hex(digest, hash);
	int rc = meta_get(db, "views_sha256", &have);
	bool same = rc == SQLITE_OK && !strcmp(have, hash);
	free(have);
	if (rc != SQLITE_OK || same)
		return rc;
	if ((rc = exec(db, "BEGIN IMMEDIATE")) == SQLITE_OK && (rc = replace_views(db, sql, hash)) == SQLITE_OK)
		rc = exec(db, "COMMIT");
	if (rc != SQLITE_OK)
		rollback(db);
	return rc;
}

/* Indexes, then the views file: each in its own transaction, and a problem
 * there leaves the runs as they are (db_warning says what happened).
 *
 * The indexes (on run_id, seq) only serve to find one run among several:
 * in a file with one run a scan is as fast. Building them costs ~0.4 us a
 * row at the end of the run (bench_db: index_s), on the replay's critical
 * path, so they are built once a file holds a second run; from then on
 * later runs maintain them as they load (bench_db: sink_indexed). */
void db_after_load(struct db *db)
{
	int64_t runs = 0;
	int rc = query_i64(db, "SELECT count(*) FROM runs", &runs);

	if (rc == SQLITE_OK && runs >= 2)
		rc = exec_txn(db, after_load_sql());
	if (rc == SQLITE_OK && db_views_sql[0])
		rc = db_install_views(db, db_views_sql);
	if (rc != SQLITE_OK) {
		char msg[400];
		fail(db, rc, msg, sizeof msg);
		snprintf(db->warning, sizeof db->warning, "creating indexes or views failed: %s", msg);
	}
}

/* --- stopping at a record boundary ------------------------------------------------ */

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

void db_stop_install(void)
{
	struct sigaction sa = { .sa_handler = on_stop, .sa_flags = SA_RESTART | SA_RESETHAND };

	sigemptyset(&sa.sa_mask);
	stop_signal = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int db_stop_requested(void)
{
	return stop_signal;
}

/* --- merge ------------------------------------------------------------------------- */

/* "file:PATH?mode=ro" with PATH percent-encoded where a URI needs it. */
static char *readonly_uri(const char *path)
{
	struct strbuf b = { 0 };
	char esc[4];

	/* An absolute path gets an empty authority ("file:///a", "file:////a"):
	 * after a bare "file:", a path starting "//" would read as a host. */
	sb_str(&b, path[0] == '/' ? "file://" : "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (strchr("?#%", *p) || *p < 0x21 || *p > 0x7e) {
			snprintf(esc, sizeof esc, "%%%02X", *p);
			sb_str(&b, esc);
		} else {
			sb_add(&b, (const char *)p, 1);
		}
	}
	sb_str(&b, "?mode=ro");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

bool db_same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The columns of `table` that both main and merge_src have, except run_id,
 * as "a, b, c" (prefix each with `pfx`). NULL if none. */
static char *common_columns(struct db *db, const char *table, const char *pfx)
{
	sqlite3_stmt *st;
	struct strbuf b = { 0 };

	if (sqlite3_prepare_v2(db->conn,
			       "SELECT m.name FROM pragma_table_info(?1, 'main') AS m"
			       " WHERE m.name != 'run_id'"
			       " AND m.name IN (SELECT name FROM pragma_table_info(?1, 'merge_src'))"
			       " ORDER BY m.cid",
			       -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char *q = sqlite3_mprintf("%s%s\"%w\"", b.len ? ", " : "", pfx, (const char *)sqlite3_column_text(st, 0));
		if (!q)
			b.oom = true;
		else
			sb_str(&b, q);
		sqlite3_free(q);
	}
	sqlite3_finalize(st);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s ? b.s : strdup("");	/* no common column: "" (NULL is out of memory) */
}

/* The ids of the input's complete runs that main lacks, read in full
 * before anything is inserted (the SELECT reads main.runs). */
static int runs_to_merge(struct db *db, int64_t **ids, size_t *n)
{
	sqlite3_stmt *sel;
	int rc = sqlite3_prepare_v2(db->conn,
				    "SELECT run_id FROM merge_src.runs WHERE status = 'complete'"
				    " AND run_uuid NOT IN (SELECT run_uuid FROM main.runs) ORDER BY run_id",
				    -1, &sel, NULL);

	*ids = NULL;
	*n = 0;
	while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		int64_t *p = realloc(*ids, (*n + 1) * sizeof **ids);
		if (!p) {
			rc = SQLITE_NOMEM;
			break;
		}
		*ids = p;
		(*ids)[(*n)++] = sqlite3_column_int64(sel, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(sel);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Copy one run's row into main.runs and map its old id to the new one in
 * temp.merge_map. */
static int merge_run(struct db *db, sqlite3_stmt *ins, sqlite3_stmt *map, int64_t old)
{
	int rc;
	sqlite3_bind_int64(ins, 1, old);
	if ((rc = sqlite3_step(ins)) != SQLITE_DONE)
		return rc;
	sqlite3_reset(ins);
	sqlite3_bind_int64(map, 1, old);
	sqlite3_bind_int64(map, 2, sqlite3_last_insert_rowid(db->conn));
	if ((rc = sqlite3_step(map)) != SQLITE_DONE)
		return rc;
	sqlite3_reset(map);
	return SQLITE_OK;
}

/* Copy the runs to merge into main.runs, mapping old to new ids in
 * temp.merge_map. */
static int merge_runs(struct db *db, struct db_merge_stats *ms)
{
	char *cols = common_columns(db, "runs", ""), *sql = NULL;
	sqlite3_stmt *ins = NULL, *map = NULL;
	int64_t *ids = NULL;
	size_t n = 0;
	int rc = SQLITE_NOMEM;

	if (cols && asprintf(&sql, "INSERT INTO main.runs (%s) SELECT %s FROM merge_src.runs WHERE run_id = ?1",
			     cols, cols) < 0)
		sql = NULL;
	if (sql && (rc = sqlite3_prepare_v2(db->conn, sql, -1, &ins, NULL)) == SQLITE_OK &&
	    (rc = sqlite3_prepare_v2(db->conn, "INSERT INTO temp.merge_map VALUES (?1, ?2)", -1, &map, NULL)) ==
		    SQLITE_OK)
		rc = runs_to_merge(db, &ids, &n);
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		rc = merge_run(db, ins, map, ids[i]);
		ms->merged += rc == SQLITE_OK;
	}
	free(ids);
	sqlite3_finalize(ins);
	sqlite3_finalize(map);
	free(sql);
	free(cols);
	return rc;
}

/* Copy the mapped runs' rows of one table. The CROSS JOIN keeps the input
 * table as the outer loop, so rows arrive in their original order. */
static int merge_table(struct db *db, const char *table)
{
	char *cols = common_columns(db, table, ""), *scols = common_columns(db, table, "s."), *sql = NULL;
	int rc = SQLITE_NOMEM;

	if (cols && scols && !*cols)
		rc = SQLITE_OK;	/* not in the input (an older schema): nothing to copy */
	else if (cols && scols &&
		 (sql = sqlite3_mprintf("INSERT INTO main.\"%w\" (run_id, %s) SELECT m.new_id, %s FROM merge_src.\"%w\" AS s"
					" CROSS JOIN temp.merge_map AS m ON m.old_id = s.run_id",
					table, cols, scols, table)))
		rc = exec(db, sql);
	free(cols);
	free(scols);
	sqlite3_free(sql);
	return rc;
}

/* Every table of main with a run_id column, runs aside: the schema is the
 * list, so a table added to schema.sql is merged (and a stale copy's rows
 * dropped) without a change here. */
static int run_tables(struct db *db, char ***names, size_t *n)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->conn,
				    "SELECT t.name FROM main.sqlite_schema AS t WHERE t.type = 'table'"
				    " AND t.name != 'runs' AND EXISTS (SELECT 1 FROM"
				    " pragma_table_info(t.name, 'main') AS c WHERE c.name = 'run_id')"
				    " ORDER BY t.name",
				    -1, &st, NULL);

	*names = NULL;
	*n = 0;
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		char **p = realloc(*names, (*n + 1) * sizeof **names);
		if (!p || !(p[*n] = strdup((const char *)sqlite3_column_text(st, 0)))) {
			*names = p ? p : *names;
			rc = SQLITE_NOMEM;
			break;
		}
		*names = p;
		(*n)++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;	/* a read error is not the end of the list */
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int merge_tables(struct db *db)
{
	char **names;
	size_t n;
	int rc = run_tables(db, &names, &n);
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
		rc = merge_table(db, names[i]);
	free_names(names, n);
	return rc;
}

/*
 * A run OUT holds as not complete, which the input holds complete under
 * the same run_uuid, is a copy of that run taken while it ran (a file
 * copied mid-run): the complete run supersedes it. Its rows and its runs
 * row are dropped here, in the merge's transaction, so that the input's
 * run is merged in its place.
 */
static int drop_stale_copies(struct db *db, int64_t *dropped)
{
	static const char stale[] =
		"SELECT run_id FROM main.runs WHERE status != 'complete'"
		" AND run_uuid IN (SELECT run_uuid FROM merge_src.runs WHERE status = 'complete')";
	char **names, *sql;
	size_t n;
	int rc = SQLITE_NOMEM;
	if (asprintf(&sql, "SELECT count(*) FROM (%s)", stale) >= 0) {
		rc = query_i64(db, sql, dropped);
		free(sql);
	}
	if (rc != SQLITE_OK || *dropped == 0)
		return rc;
	rc = run_tables(db, &names, &n);
	/* the run tables' rows, then the runs rows (i == n) */
	for (size_t i = 0; i <= n && rc == SQLITE_OK; i++) {
		char *del = sqlite3_mprintf("DELETE FROM main.\"%w\" WHERE run_id IN (%s)", i < n ? names[i] : "runs", stale);
		rc = del ? exec(db, del) : SQLITE_NOMEM;
		sqlite3_free(del);
	}
	free_names(names, n);
	return rc;
}

static int merge_count(struct db *db, const char *sql, int64_t *out)
{
	return query_i64(db, sql, out);
}

static int merge_txn(struct db *db, struct db_merge_stats *ms)
{
	int rc = exec(db, "BEGIN IMMEDIATE");

	if (rc == SQLITE_OK)
		rc = exec(db, "CREATE TEMP TABLE IF NOT EXISTS merge_map"
			      " (old_id INTEGER PRIMARY KEY, new_id INTEGER NOT NULL);"
			      " DELETE FROM temp.merge_map");
	if (rc == SQLITE_OK)
		rc = merge_count(db, "SELECT count(*) FROM merge_src.runs WHERE status != 'complete'", &ms->incomplete);
	if (rc == SQLITE_OK)
		rc = drop_stale_copies(db, &ms->replaced);
	if (rc == SQLITE_OK)
		rc = merge_count(db, "SELECT count(*) FROM merge_src.runs WHERE status = 'complete'"
				     " AND run_uuid IN (SELECT run_uuid FROM main.runs)", &ms->present);
	if (rc == SQLITE_OK)
		rc = merge_runs(db, ms);
	if (rc == SQLITE_OK && ms->merged)
		rc = merge_tables(db);
	if (rc == SQLITE_OK)
		rc = exec(db, "COMMIT");
	if (rc != SQLITE_OK) {
		rollback(db);
		ms->merged = ms->replaced = 0;
	}
	return rc;
}

/* Whose fault a failed merge is. The input was checked at open (its
 * tables and columns), so what it can still cause is damage found while
 * reading it, or rows that break a constraint of the output's schema
 * (NOT NULL, UNIQUE, CHECK: a foreign file with the right columns). A
 * trigger on the output, and everything else, is the output's (it is the
 * only file written). */
static int merge_failed(struct db *out, int rc, const char *in_path, char *err, size_t errlen)
{
	int base = rc & 0xff;

	if (base == SQLITE_CORRUPT || base == SQLITE_NOTADB)
		return fail_as(out, rc, in_path, err, errlen);
	if (base == SQLITE_CONSTRAINT && rc != SQLITE_CONSTRAINT_TRIGGER) {
		/* merge_txn rolled back: the message is the one kept */
		snprintf(err, errlen, "%s: damaged spanlab database (its rows break the schema: %s)", in_path,
			 out->undone.rc == rc ? out->undone.msg : sqlite3_errstr(rc));
		return SL_EXIT_USAGE;
	}
	return fail_as(out, rc, out->path, err, errlen);
}

int db_merge(struct db *out, const char *in_path, struct db_merge_stats *ms, char *err, size_t errlen)
{
	struct db *in;
	sqlite3_stmt *st;
	int code;

	*ms = (struct db_merge_stats){ 0 };
	if (out->mode != DB_OPEN_WRITE || out->run) {
		snprintf(err, errlen, "%s: %s", out->path, out->run ? "a run is being logged" : "opened read-only");
		return SL_EXIT_FAIL;
	}
	if (db_same_file(out->path, in_path)) {
		snprintf(err, errlen, "%s: is the output database", in_path);
		return SL_EXIT_USAGE;
	}
	if ((code = db_open(in_path, DB_OPEN_READ, &in, err, errlen)))
		return code;
	db_close(in);

	char *uri = readonly_uri(in_path);
	int rc = uri ? sqlite3_prepare_v2(out->conn, "ATTACH ?1 AS merge_src", -1, &st, NULL) : SQLITE_NOMEM;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_finalize(st);
	}
	free(uri);
	if (rc != SQLITE_OK)
		return db_describe(out->conn, rc, in_path, err, errlen);
	rc = merge_txn(out, ms);
	if (rc != SQLITE_OK)
		code = merge_failed(out, rc, in_path, err, errlen);
	exec(out, "DETACH merge_src");
	return code;
}
