/*
 * The schema as created from analysis/schema.sql against the C field lists
 * it is generated from: every table of DESIGN.md exists, every table's
 * columns are exactly the fixed ones plus the field list, in order; the
 * lookup tables hold the enum names (compared with the core's name
 * functions once those are linked); the identity pragmas, the status
 * constraint, the drift check at open, the migration of a version-1 file,
 * indexes only after a run, and docs/database.md naming every table and
 * column.
 */
#include <unistd.h>

#include "cli.h"
#include "test_db_util.h"

/* The core's name functions, when alloc/ provides them: weak, so this test
 * links before they exist and compares names once they do. */
#pragma weak sl_refill_source_name
#pragma weak sl_span_set_name
#pragma weak sl_page_source_name
#pragma weak sl_mem_state_name
#pragma weak sl_scav_reason_name
#pragma weak sl_gc_reason_name

static char *dir;
static char path[4096];

static void setup(void)
{
	dir = tl_tmpdir();
	cr_assert(dir);
	tg_path(path, sizeof path, dir, "s.db");
	db_close(tg_open(path));
}

static void teardown(void)
{
	tl_tmpdir_remove(dir);
}

TestSuite(db_schema, .init = setup, .fini = teardown, .timeout = 30);

/* Column i of `table` (PRAGMA table_info order): name and declared type. */
static unsigned table_columns(sqlite3 *c, const char *table, char names[][64], char types[][16], unsigned max)
{
	sqlite3_stmt *st;
	unsigned n = 0;
	cr_assert_eq(sqlite3_prepare_v2(c, "SELECT name, type FROM pragma_table_info(?1) ORDER BY cid", -1, &st, NULL),
		     SQLITE_OK);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW && n < max) {
		snprintf(names[n], 64, "%s", sqlite3_column_text(st, 0));
		snprintf(types[n], 16, "%s", sqlite3_column_text(st, 1));
		n++;
	}
	sqlite3_finalize(st);
	return n;
}

Test(db_schema, design_tables_exist)
{
	static const char *const tables[] = {
		"runs", "cache_refills", "span_moves", "arena_transitions", "snapshots", "size_class_stats",
		"gc_cycles", "span_allocs", "span_frees", "scavenges", "meta", "refill_sources", "span_sets",
		"page_sources", "mem_states", "scav_reasons", "gc_reasons", "snapshot_kinds",
	};
	sqlite3 *c = tq_open(path);
	for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
		cr_assert_eq(tq_i64(c, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '%s'",
				    tables[i]), 1, "no table %s", tables[i]);
	sqlite3_close(c);
}

Test(db_schema, columns_are_the_field_lists, .description = "SQL and C cannot drift")
{
	sqlite3 *c = tq_open(path);
	char names[64][64], types[64][16];
	unsigned nt;
	const struct sink_table *t = sink_tables(&nt);

	for (unsigned i = 0; i < nt; i++) {
		unsigned n = table_columns(c, t[i].name, names, types, 64);
		cr_assert_eq(n, t[i].ncols, "%s: %u columns in the file, %u in C", t[i].name, n, t[i].ncols);
		for (unsigned j = 0; j < n; j++) {
			cr_assert_str_eq(names[j], t[i].cols[j].name, "%s column %u", t[i].name, j);
			cr_assert_str_eq(types[j], t[i].cols[j].type, "%s.%s", t[i].name, names[j]);
		}
	}
	/* every event kind has a table; payload columns follow the header */
	bool seen[SL_EV_NKINDS] = { 0 };
	for (unsigned i = 0; i < nt; i++)
		if (t[i].rows == SINK_ROWS_EVENT) {
			seen[t[i].kind] = true;
			cr_assert_eq(t[i].ncols, 4 + tg_nfields(t[i].kind), "%s", t[i].name);
		}
	for (int k = 0; k < SL_EV_NKINDS; k++)
		cr_assert(seen[k] || k == SL_EV_GC_START || k == SL_EV_GC_END, "event kind %d has no table", k);

	/* runs ends with the summary fields, in list order */
	static const char *const summary[] = {
#define X(name, type, json, doc) #name,
		SL_SUMMARY_FIELDS(X)
#undef X
	};
	static const char *const summary_types[] = {
#define X(name, type, json, doc) #type,
		SL_SUMMARY_FIELDS(X)
#undef X
	};
	const unsigned ns = sizeof summary / sizeof *summary;
	unsigned n = table_columns(c, "runs", names, types, 64);
	cr_assert_gt(n, ns);
	for (unsigned j = 0; j < ns; j++) {
		cr_assert_str_eq(names[n - ns + j], summary[j]);
		cr_assert_str_eq(types[n - ns + j], strcmp(summary_types[j], "INT") ? "REAL" : "INTEGER");
	}
	sqlite3_close(c);
}

/* Rows of a lookup table: ids 0..n-1, names unique and lower-case; and the
 * core's name for each id, when the core is linked. */
static void check_lookup(sqlite3 *c, const char *table, unsigned n, const char *(*name_of)(int))
{
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM %s", table), n, "%s", table);
	cr_assert_eq(tq_i64(c, "SELECT max(id) FROM %s", table), n - 1, "%s", table);
	for (unsigned id = 0; id < n; id++) {
		char *name = tq_text(c, "SELECT name FROM %s WHERE id = %u", table, id);
		cr_assert(name && *name, "%s id %u", table, id);
		for (const char *p = name; *p; p++)
			cr_assert((*p >= 'a' && *p <= 'z') || *p == '_', "%s: '%s'", table, name);
		if (name_of)
			cr_assert_str_eq(name, name_of((int)id), "%s id %u: the core calls it '%s'", table, id,
					 name_of((int)id));
		free(name);
	}
}

#define CORE_NAME(fn, enum_t) \
	static const char *core_##fn(int v) { return fn((enum_t)v); }
CORE_NAME(sl_refill_source_name, enum sl_refill_source)
CORE_NAME(sl_span_set_name, enum sl_span_set)
CORE_NAME(sl_page_source_name, enum sl_page_source)
CORE_NAME(sl_mem_state_name, enum sl_mem_state)
CORE_NAME(sl_scav_reason_name, enum sl_scav_reason)
CORE_NAME(sl_gc_reason_name, enum sl_gc_reason)

Test(db_schema, lookup_tables_hold_the_enum_names)
{
	sqlite3 *c = tq_open(path);
	bool linked = sl_span_set_name != NULL;
	if (!linked)
		fprintf(stderr, "db_schema: the core's sl_*_name functions are not linked yet: names checked for shape only\n");
	check_lookup(c, "refill_sources", SL_REFILL_NSOURCES, linked ? core_sl_refill_source_name : NULL);
	check_lookup(c, "span_sets", SL_SET_NSETS, linked ? core_sl_span_set_name : NULL);
	check_lookup(c, "page_sources", SL_PAGE_NSOURCES, linked ? core_sl_page_source_name : NULL);
	check_lookup(c, "mem_states", SL_MEM_NSTATES, linked ? core_sl_mem_state_name : NULL);
	check_lookup(c, "scav_reasons", SL_SCAV_FORCED + 1, linked ? core_sl_scav_reason_name : NULL);
	check_lookup(c, "gc_reasons", SL_GC_FORCED + 1, linked ? core_sl_gc_reason_name : NULL);
	check_lookup(c, "snapshot_kinds", SIM_SNAPSHOT_NKINDS, NULL);
	/* a spot check that the order follows event.h */
	char *s = tq_text(c, "SELECT name FROM mem_states WHERE id = %d", SL_MEM_READY);
	cr_assert_str_eq(s, "ready");
	free(s);
	s = tq_text(c, "SELECT name FROM span_sets WHERE id = %d", SL_SET_PARTIAL_UNSWEPT);
	cr_assert_str_eq(s, "partial_unswept");
	free(s);
	sqlite3_close(c);
}

Test(db_schema, identity_and_settings)
{
	sqlite3 *c = tq_open(path);
	cr_assert_eq(tq_i64(c, "PRAGMA application_id"), DB_APPLICATION_ID);
	cr_assert_eq(tq_i64(c, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	cr_assert_eq(tq_i64(c, "SELECT value FROM meta WHERE key = 'schema_version'"), DB_SCHEMA_VERSION);
	char *mode = tq_text(c, "PRAGMA journal_mode");
	cr_assert_str_eq(mode, "wal");
	free(mode);
	sqlite3_close(c);
}

Test(db_schema, status_is_constrained)
{
	struct db *db = tg_open(path);
	int64_t id = tg_run(db, 3, 10, DB_RUN_COMPLETE);
	db_close(db);
	sqlite3 *c = tq_open(path);
	char sql[256];
	for (int s = DB_RUN_RUNNING; s <= DB_RUN_INTERRUPTED; s++) {
		snprintf(sql, sizeof sql, "UPDATE runs SET status = '%s' WHERE run_id = %lld",
			 db_run_status_name((enum db_run_status)s), (long long)id);
		cr_assert_eq(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
	}
	snprintf(sql, sizeof sql, "UPDATE runs SET status = 'done' WHERE run_id = %lld", (long long)id);
	cr_assert_eq(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT, "'done' is not a status");
	snprintf(sql, sizeof sql, "UPDATE runs SET status = 'complete', finished_at = NULL WHERE run_id = %lld",
		 (long long)id);
	cr_assert_eq(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT, "a finished status needs finished_at");
	sqlite3_close(c);
}

static void expect_refusal(const char *want)
{
	struct db *db;
	char err[1024];
	int code = db_open(path, DB_OPEN_WRITE, &db, err, sizeof err);
	cr_assert_eq(code, SL_EXIT_USAGE, "opened anyway (%s)", err);
	cr_assert(strstr(err, want) && strstr(err, path) && !strchr(err, '\n'), "message: '%s'", err);
}

Test(db_schema, a_missing_column_is_refused_at_open)
{
	sqlite3 *c = tq_open(path);
	cr_assert_eq(sqlite3_exec(c, "ALTER TABLE span_moves DROP COLUMN nelems", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(c);
	expect_refusal("table span_moves lacks column nelems");
}

Test(db_schema, a_lookup_that_means_something_else_is_refused)
{
	sqlite3 *c = tq_open(path);
	cr_assert_eq(sqlite3_exec(c, "UPDATE mem_states SET name = 'mapped' WHERE id = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(c);
	expect_refusal("table mem_states: id 2 is 'mapped' in the file but 'prepared'");
}

/* Make the file at `path` a version-1 file holding one complete run: the
 * views go (they may read the columns), then the columns version 2 added,
 * and both places that hold the version say 1. */
static void make_version_1(void)
{
	struct db *db = tg_open(path);
	tg_run(db, 5, 3000, DB_RUN_COMPLETE);
	db_close(db);
	sqlite3 *c = tq_open(path);
	char *views = tq_text(c, "SELECT coalesce(group_concat('DROP VIEW \"' || name || '\";', ''), '')"
				 " FROM sqlite_schema WHERE type = 'view'");
	cr_assert_eq(sqlite3_exec(c, views, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
	free(views);
	cr_assert_eq(sqlite3_exec(c, "ALTER TABLE runs DROP COLUMN cpu_seconds;"
				     "ALTER TABLE runs DROP COLUMN trace_complete;"
				     "ALTER TABLE snapshots DROP COLUMN heap_live_bytes;"
				     "ALTER TABLE size_class_stats DROP COLUMN tiny_allocs;"
				     "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
				     "PRAGMA user_version = 1;",
				     NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(c));
	sqlite3_close(c);
}

/* docs/database.md: PRAGMA user_version and meta.schema_version both hold
 * the version; migrating raises both, and adds the columns (NULL in the
 * old rows). */
Test(db_schema, a_version_1_file_is_migrated_to_the_current_version)
{
	make_version_1();
	db_close(tg_open(path));
	sqlite3 *c = tq_open(path);
	cr_assert_eq(tq_i64(c, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	char *meta = tq_text(c, "SELECT value FROM meta WHERE key = 'schema_version'");
	char want[16];
	snprintf(want, sizeof want, "%d", DB_SCHEMA_VERSION);
	cr_assert_str_eq(meta, want, "meta.schema_version says %s after the migration", meta);
	free(meta);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM meta WHERE key = 'schema_version'"), 1);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'complete' AND cpu_seconds IS NULL"), 1);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM runs WHERE status = 'complete' AND trace_complete IS NULL"), 1,
		     "version 3's column, unknown for a run logged before it");
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM snapshots WHERE heap_live_bytes IS NOT NULL"), 0);
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM pragma_table_info('size_class_stats') WHERE name = 'tiny_allocs'"), 1);
	sqlite3_close(c);
}

/* A file an earlier spanlab migrated raised only user_version; opening it
 * for writing mends the meta row, and a read-only open changes nothing. */
Test(db_schema, a_stale_meta_version_is_mended_at_open)
{
	sqlite3 *c = tq_open(path);
	cr_assert_eq(sqlite3_exec(c, "UPDATE meta SET value = '1' WHERE key = 'schema_version'", NULL, NULL, NULL),
		     SQLITE_OK);
	sqlite3_close(c);
	struct db *db;
	char err[512];
	cr_assert_eq(db_open(path, DB_OPEN_READ, &db, err, sizeof err), 0, "%s", err);
	db_close(db);
	c = tq_open(path);
	cr_assert_eq(tq_i64(c, "SELECT value FROM meta WHERE key = 'schema_version'"), 1);
	sqlite3_close(c);
	db_close(tg_open(path));
	c = tq_open(path);
	cr_assert_eq(tq_i64(c, "SELECT value FROM meta WHERE key = 'schema_version'"), DB_SCHEMA_VERSION);
	sqlite3_close(c);
}

static int64_t run_indexes(sqlite3 *c)
{
	return tq_i64(c, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name LIKE '%%_run'");
}

Test(db_schema, indexes_only_after_the_load, .description = "none while loading, none for one run")
{
	struct db *db = tg_open(path);
	struct db_run_info info = tg_info();
	struct db_run *run;
	struct tg g = { .x = 5 };
	char err[1024];
	sqlite3 *c = tq_open(path);
	unsigned nt;
	sink_tables(&nt);

	cr_assert_eq(db_run_begin(db, &info, &run, err, sizeof err), 0, "%s", err);
	tg_stream(&g, db_run_sink(run), 40000, NULL);	/* two batches committed by the writer */
	for (int i = 0; i < 2500 && tq_i64(c, "SELECT count(*) FROM span_moves") == 0; i++)
		usleep(10000);	/* up to 25 s on a loaded machine */
	cr_assert_gt(tq_i64(c, "SELECT count(*) FROM span_moves"), 0, "batches are committed during the run");
	cr_assert_eq(run_indexes(c), 0, "no index while the run loads");
	cr_assert_eq(db_run_finish(run, DB_RUN_COMPLETE, NULL, NULL, err, sizeof err), 0, "%s", err);
	cr_assert_eq(run_indexes(c), 0, "a file with one run needs no index");

	tg_run(db, 6, 1000, DB_RUN_COMPLETE);
	cr_assert_eq(run_indexes(c), nt, "one (run_id, ...) index per run table once there are two runs");
	cr_assert_null(db_warning(db));
	db_close(db);
	sqlite3_close(c);
}

/* docs/database.md names every table and every column. */
Test(db_schema, docs_name_every_column)
{
	char doc_path[4096];
	size_t len;
	char *doc = cli_read_file(tl_root_path("docs/database.md", doc_path, sizeof doc_path), &len);
	cr_assert(doc, "cannot read %s", doc_path);
	sqlite3 *c = tq_open(path);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(c,
					"SELECT t.name, c.name FROM sqlite_schema AS t, pragma_table_info(t.name) AS c"
					" WHERE t.type = 'table'",
					-1, &st, NULL),
		     SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char t[128], col[128];
		snprintf(t, sizeof t, "`%s`", sqlite3_column_text(st, 0));
		snprintf(col, sizeof col, "`%s`", sqlite3_column_text(st, 1));
		cr_assert(strstr(doc, t), "docs/database.md does not name table %s", t);
		cr_assert(strstr(doc, col), "docs/database.md does not name column %s of %s", col, t);
	}
	sqlite3_finalize(st);
	sqlite3_close(c);
	free(doc);
}

static char *views_in(sqlite3 *c)
{
	return tq_text(c, "SELECT coalesce(group_concat(name, ' '), '') FROM"
			  " (SELECT name FROM sqlite_schema WHERE type = 'view' ORDER BY name)");
}

Test(db_schema, views_file_is_installed_once_and_replaced_when_it_changes)
{
	struct db *db = tg_open(path);
	sqlite3 *c = tq_open(path);
	cr_assert_eq(sqlite3_exec(c, "CREATE VIEW mine AS SELECT 1", NULL, NULL, NULL), SQLITE_OK);

	const char *v1 = "CREATE VIEW a AS SELECT run_id FROM runs; CREATE VIEW b AS SELECT 2;";
	cr_assert_eq(db_install_views(db, v1), 0, "%s", sqlite3_errmsg(db_handle(db)));
	char *names = views_in(c);
	cr_assert_str_eq(names, "a b mine");
	free(names);
	/* the same file again: nothing to do (a plain CREATE VIEW would fail) */
	cr_assert_eq(db_install_views(db, v1), 0, "%s", sqlite3_errmsg(db_handle(db)));

	const char *v2 = "CREATE VIEW a AS SELECT run_uuid FROM runs; CREATE VIEW c AS SELECT 3;";
	cr_assert_eq(db_install_views(db, v2), 0, "%s", sqlite3_errmsg(db_handle(db)));
	names = views_in(c);
	cr_assert_str_eq(names, "a c mine", "b was the old file's, mine is the user's");
	free(names);
	char *sql = tq_text(c, "SELECT sql FROM sqlite_schema WHERE name = 'a'");
	cr_assert(strstr(sql, "run_uuid"), "a was replaced: %s", sql);
	free(sql);

	/* many long names (meta 'views' far over 4 KiB, one name over 300
	 * bytes, one with a quote): the next file drops every one */
	size_t cap = 400 * 120, len = 0;
	char *many = malloc(cap), *name = malloc(400);
	for (int i = 0; i < 120; i++) {
		int w = i == 7 ? 350 : 40;
		snprintf(name, 400, "%s%0*d", i == 9 ? "q\"\"" : "", w, i);	/* "q""0..9": q"0..9 */
		len += (size_t)snprintf(many + len, cap - len, "CREATE VIEW \"%s\" AS SELECT %d;", name, i);
	}
	cr_assert_eq(db_install_views(db, many), 0, "%s", sqlite3_errmsg(db_handle(db)));
	cr_assert_eq(tq_i64(c, "SELECT count(*) FROM sqlite_schema WHERE type = 'view'"), 121, "a and c dropped, 120 made, mine kept");
	cr_assert_eq(db_install_views(db, v2), 0, "%s", sqlite3_errmsg(db_handle(db)));
	names = views_in(c);
	cr_assert_str_eq(names, "a c mine", "the long file's views are all gone");
	free(names);
	free(many);
	free(name);

	/* a broken views file changes nothing */
	cr_assert_neq(db_install_views(db, "CREATE VIEW d AS SELECT 4; CREATE VIEW oops AS SELEC;"), 0);
	names = views_in(c);
	cr_assert_str_eq(names, "a c mine");
	free(names);
	db_close(db);
	sqlite3_close(c);
}
