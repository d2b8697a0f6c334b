/*
 * A sweep's side of the results database: the plan (table sweep_points),
 * the count of complete runs per identity (what resuming skips), and the
 * row of a run that did not complete. Runs themselves arrive through
 * db_merge of their per-run files; nothing here copies events.
 *
 * sweep_points is not in analysis/schema.sql: it describes a sweep, not a
 * run, and has no run_id, so `spanlab merge` leaves it alone (a sweep's
 * figures are drawn from the file `spanlab sweep` wrote). Its rows join
 * the runs of a cell by identity:
 *   runs.sweep_id = sweep_id AND runs.trace_sha256 = trace_sha256
 *   AND runs.config_json = config_json
 * docs/sweeps.md describes every column.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sink_sqlite.h"
#include "sweep.h"

static const char create_sql[] =
	"CREATE TABLE IF NOT EXISTS sweep_points ("
	" sweep_id     TEXT NOT NULL,"
	" point        INTEGER NOT NULL,"	/* index in the grid's cross product */
	" trace        INTEGER NOT NULL,"	/* index in the file's traces */
	" label        TEXT NOT NULL,"
	" params       TEXT NOT NULL,"		/* JSON: grid key -> value */
	" x_key        TEXT NOT NULL,"
	" x            REAL,"
	" nclasses     INTEGER NOT NULL,"
	" fit_classes  INTEGER,"
	" trace_path   TEXT NOT NULL,"
	" trace_name   TEXT NOT NULL,"
	" trace_sha256 TEXT NOT NULL,"
	" config_json  TEXT NOT NULL,"
	" run_key      TEXT NOT NULL,"
	" repeats      INTEGER NOT NULL,"
	" sweep_file   TEXT NOT NULL,"
	" PRIMARY KEY (sweep_id, point, trace))";

static int fail(struct db *db, int rc, char *err, size_t errlen)
{
	return db_describe(db_handle(db), rc, db_path(db), err, errlen);
}

static int exec(sqlite3 *c, const char *sql)
{
	return sqlite3_exec(c, sql, NULL, NULL, NULL);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static int insert_cells(sqlite3 *c, const struct sweep_plan *p)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(c,
				    "INSERT INTO sweep_points VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
				    " ?11, ?12, ?13, ?14, ?15, ?16)",
				    -1, &st, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < p->ncells; i++) {
		const struct sweep_cell *cell = &p->cells[i];
		const struct sweep_point *pt = &p->points[cell->point];
		const struct sweep_trace *tr = &p->traces[cell->trace];
		bind_text(st, 1, p->sweep_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)cell->point);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)cell->trace);
		bind_text(st, 4, pt->label);
		bind_text(st, 5, pt->params);
		bind_text(st, 6, p->x_key);
		sqlite3_bind_double(st, 7, sweep_cell_x(p, cell));
		sqlite3_bind_int64(st, 8, cell->nclasses);
		if (cell->fit)
			sqlite3_bind_int64(st, 9, cell->fit);
		else
			sqlite3_bind_null(st, 9);
		bind_text(st, 10, tr->path);
		bind_text(st, 11, tr->name);
		bind_text(st, 12, tr->sha256);
		bind_text(st, 13, cell->config_json);
		bind_text(st, 14, p->cells[cell->same_as].key);
		sqlite3_bind_int64(st, 15, p->repeats);
		bind_text(st, 16, p->path);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

int sweep_db_record_plan(struct db *db, const struct sweep_plan *p, char *err, size_t errlen)
{
	sqlite3 *c = db_handle(db);
	sqlite3_stmt *del = NULL;
	int rc = exec(c, "BEGIN IMMEDIATE");

	if (rc == SQLITE_OK)
		rc = exec(c, create_sql);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(c, "DELETE FROM sweep_points WHERE sweep_id = ?1", -1, &del, NULL);
	if (rc == SQLITE_OK) {
		bind_text(del, 1, p->sweep_id);
		rc = sqlite3_step(del);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	sqlite3_finalize(del);
	if (rc == SQLITE_OK)
		rc = insert_cells(c, p);
	if (rc == SQLITE_OK)
		rc = exec(c, "COMMIT");
	if (rc != SQLITE_OK) {
		int code = fail(db, rc, err, errlen);
		exec(c, "ROLLBACK");
		return code;
	}
	return 0;
}

int sweep_db_done(struct db *db, const struct sweep_plan *p, uint32_t *done, char *err, size_t errlen)
{
	sqlite3 *c = db_handle(db);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(c,
				    "SELECT count(*) FROM runs WHERE status = 'complete' AND sweep_id = ?1"
				    " AND trace_sha256 = ?2 AND config_json = ?3",
				    -1, &st, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < p->ncells; i++) {
		const struct sweep_cell *cell = &p->cells[i];
		if (cell->same_as != i) {
			done[i] = done[cell->same_as];	/* same_as < i: counted already */
			continue;
		}
		bind_text(st, 1, p->sweep_id);
		bind_text(st, 2, p->traces[cell->trace].sha256);
		bind_text(st, 3, cell->config_json);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			done[i] = (uint32_t)sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : fail(db, rc, err, errlen);
}

int sweep_db_record_failure(struct db *db, const struct sweep_plan *p, const struct sweep_cell *c, int argc,
			    char **argv, enum db_run_status st, const char *error, char *err, size_t errlen)
{
	const struct sweep_trace *tr = &p->traces[c->trace];
	struct db_run_info info = {
		.trace_path = tr->path,
		.trace_name = tr->name,
		.trace_sha256 = tr->sha256,
		.config_json = c->config_json,
		.allocator = "go",
		.free_policy = c->free_policy,
		.procs = c->procs,
		.tiny_assumption = c->tiny ? DB_TINY_ON : DB_TINY_OFF,
		.argc = argc,
		.argv = argv,
		.sweep_id = p->sweep_id,
	};
	struct db_run *run;
	int code = db_run_begin(db, &info, &run, err, errlen);
	if (code)
		return code;
	return db_run_finish(run, st, NULL, error, err, errlen);
}
