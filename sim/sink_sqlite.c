/*
 * The SQLite event sink. The allocator core calls emit on its slow paths;
 * emit copies the event into the batch being filled (one struct copy, one
 * compare) and, when the batch is full, hands it to a writer thread and
 * takes an empty one. The writer inserts each batch in one transaction, so
 * SQLite's work (about 0.5 us a row) overlaps the replay on another core.
 *
 * Inserting: every table has one prepared statement
 *     INSERT INTO t (columns) SELECT c0, c1, ... FROM sl_rows
 * where sl_rows is an eponymous virtual table (registered here) whose
 * cursor walks the batch's rows of that table: one statement step per
 * table per batch, no bind calls and no leftover rows to insert apart.
 * tests/bench/bench_db.c measures it (1 M events of a replay's mix, WAL +
 * NORMAL) at 1.7-2.0 M rows/s, 1.7-1.9 times single-row prepared INSERTs
 * and on par with 64-row INSERT ... VALUES statements.
 *
 * Invariants:
 *   - batches are written in the order they were filled, and within a
 *     table rows keep their emission order: the database contents (and the
 *     rowid order) depend only on the calls made, never on timing;
 *   - a transaction holds whole batches: a run killed at any moment keeps
 *     a prefix of its rows, and every transaction boundary falls after a
 *     fixed number of events (SINK_BATCH_EVENTS) or snapshots;
 *   - the connection is used by one thread at a time: the writer between
 *     handoffs, the caller only after sink_sqlite_drain;
 *   - after the writer's first error every later batch is dropped, and the
 *     error is kept for the caller (emit itself cannot fail);
 *   - the row counts (runs.event_rows, snapshot_rows) grow only when a
 *     batch commits: a batch that failed was rolled back, and the counts
 *     equal what the tables hold for the run;
 *   - gc_start events wait in the writer until their gc_end arrives, and
 *     become one gc_cycles row.
 */
#define _GNU_SOURCE
#include "sink_sqlite.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Snapshots per batch: the replay takes about 2,000 per run, so a batch
 * rarely fills before its events do; 168 bytes each. */
#define SINK_BATCH_SNAPSHOTS 1024
/* Size-class rows per batch: at most 256 classes per table. */
#define SINK_BATCH_CLASSES 256
/* Batches in flight: one filling, one being written, one queued. A third
 * lets the writer start the next transaction at once; more would only
 * hold memory while the writer is the bottleneck (emit then waits). */
#define SINK_NBATCH 3

/* --- the tables, generated from the field lists --------------------------- */

#define COUNT_FIELD(f) +1
#define COUNT_FIELD3(f, t, d) +1
#define COUNT_FIELD2(f, d) +1

/* Every payload is made of int64 fields only and has no padding, so field i
 * sits at byte 8 * i: the sink reads payloads, snapshots and size-class rows
 * as arrays. */
#define X(kind, name, fields) \
	_Static_assert(sizeof(struct sl_ev_##name) == (0 fields(COUNT_FIELD)) * sizeof(int64_t), \
		       "event payload " #name " is not a packed int64 array");
SL_EVENT_LIST(X)
#undef X
_Static_assert(sizeof(struct sim_snapshot) == (0 SL_SNAPSHOT_FIELDS(COUNT_FIELD3)) * sizeof(int64_t),
	       "struct sim_snapshot is not a packed int64 array");
_Static_assert(sizeof(struct sim_size_class_row) ==
		       (0 SL_SIZE_CLASS_FIELDS(COUNT_FIELD2)) * sizeof(int64_t),
	       "struct sim_size_class_row is not a packed int64 array");

/* The table of each event kind. gc_start and gc_end share gc_cycles. */
static const char *const event_table[SL_EV_NKINDS] = {
	[SL_EV_REFILL] = "cache_refills",
	[SL_EV_SPAN_MOVE] = "span_moves",
	[SL_EV_SPAN_ALLOC] = "span_allocs",
	[SL_EV_SPAN_FREE] = "span_frees",
	[SL_EV_ARENA] = "arena_transitions",
	[SL_EV_SCAVENGE] = "scavenges",
	[SL_EV_GC_START] = "gc_cycles",
	[SL_EV_GC_END] = "gc_cycles",
};

static const struct ev_fields {
	const char *name;		/* payload name, the schema marker */
	unsigned n;
	const char *const *fields;
} ev_fields[SL_EV_NKINDS] = {
#define NAME(f) #f,
#define X(kind, name, fields) \
	[SL_EV_##kind] = { #name, 0 fields(COUNT_FIELD), (const char *const[]){ fields(NAME) } },
	SL_EVENT_LIST(X)
#undef X
#undef NAME
};

static struct sink_table tables[SL_EV_NKINDS + 3];
static unsigned ntables;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void add_col(struct sink_table *t, const char *name, const char *type)
{
	if (t->ncols == SINK_MAX_COLS)
		abort();	/* a field list outgrew SINK_MAX_COLS: raise it */
	t->cols[t->ncols++] = (struct sink_column){ name, type };
}

static struct sink_table *new_table(const char *name, const char *marker, enum sink_row_kind rows)
{
	struct sink_table *t = &tables[ntables++];
	*t = (struct sink_table){ .name = name, .marker = marker, .rows = rows };
	add_col(t, "run_id", "INTEGER");
	return t;
}

static void add_header(struct sink_table *t, const char *seq, const char *op, const char *clock)
{
	add_col(t, seq, "INTEGER");
	add_col(t, op, "INTEGER");
	add_col(t, clock, "INTEGER");
}

static void add_event_fields(struct sink_table *t, enum sl_event_kind k, const char *const *names)
{
	for (unsigned i = 0; i < ev_fields[k].n; i++)
		add_col(t, names ? names[i] : ev_fields[k].fields[i], "INTEGER");
}

static void init_tables(void)
{
	static const char *const end_names[] = {
#define END_NAME(f) "end_" #f,
		SL_EV_GC_END_FIELDS(END_NAME)
#undef END_NAME
	};
	struct sink_table *t;

	for (int k = 0; k < SL_EV_NKINDS; k++) {
		if (!event_table[k]) {	/* event.h grew a kind: give it a table here and in schema.sql */
			fprintf(stderr, "sink_sqlite.c: event kind '%s' has no table\n", ev_fields[k].name);
			abort();
		}
		if (k == SL_EV_GC_START || k == SL_EV_GC_END)
			continue;
		t = new_table(event_table[k], ev_fields[k].name, SINK_ROWS_EVENT);
		t->kind = (enum sl_event_kind)k;
		add_header(t, "seq", "op", "clock_bytes");
		t->nfixed = t->ncols;
		add_event_fields(t, t->kind, NULL);
	}
	t = new_table("gc_cycles", "gc", SINK_ROWS_GC);
	add_header(t, "seq", "op", "clock_bytes");
	t->nfixed = t->ncols;
	add_event_fields(t, SL_EV_GC_START, NULL);
	add_header(t, "end_seq", "end_op", "end_clock_bytes");
	add_event_fields(t, SL_EV_GC_END, end_names);

	t = new_table("snapshots", "snapshot", SINK_ROWS_SNAPSHOT);
	t->nfixed = t->ncols;
#define X(name, type, doc) add_col(t, #name, "INTEGER");
	SL_SNAPSHOT_FIELDS(X)
#undef X
	t = new_table("size_class_stats", "size_class", SINK_ROWS_SIZE_CLASS);
	t->nfixed = t->ncols;
#define X(name, doc) add_col(t, #name, "INTEGER");
	SL_SIZE_CLASS_FIELDS(X)
#undef X
}

const struct sink_table *sink_tables(unsigned *n)
{
	pthread_once(&tables_once, init_tables);
	*n = ntables;
	return tables;
}

/* --- the sink --------------------------------------------------------------- */

struct sink_batch {
	size_t nev, nsnap, ncls;
	struct sl_event ev[SINK_BATCH_EVENTS];
	struct sim_snapshot snap[SINK_BATCH_SNAPSHOTS];
	struct sim_size_class_row cls[SINK_BATCH_CLASSES];
};

/* A gc_cycles row: either half may be missing. */
struct gc_pair {
	bool has_start, has_end;
	struct sl_event start, end;
};

/* What the next INSERT ... FROM sl_rows reads. */
struct row_source {
	const struct sink_table *t;
	const struct sink_batch *b;
	const struct gc_pair *pairs;
	size_t npairs;
	int64_t run_id;
};

size_t sink_sqlite_test_batch_events;

struct sink_sqlite {
	/* Producer side: touched on every emit. */
	struct sink_batch *fill;
	size_t batch_events;		/* SINK_BATCH_EVENTS but in crash tests */

	/* The handoff, under mu. full[] is a FIFO of batches to write. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sink_batch *full[SINK_NBATCH], *idle[SINK_NBATCH];
	unsigned full_head, nfull, nidle;
	bool writing, stop, failed;
	char error[512];
	pthread_t thread;
	bool thread_started;

	/* Writer side (or the caller after drain). */
	sqlite3 *conn;
	const char *path;
	sqlite3_stmt *ins[SL_EV_NKINDS + 3];
	sqlite3_stmt *begin, *commit, *rollback;
	struct row_source src;
	struct gc_pair *pairs;
	size_t pairs_cap;
	struct sl_event gc_open;	/* a gc_start waiting for its gc_end */
	bool has_gc_open;
	int64_t event_rows, snapshot_rows;	/* rows of committed batches only */
};


/* --- reading rows: the batch as the columns of a table ---------------------- */

static int64_t field_at(const void *base, unsigned i)
{
	int64_t v;
	memcpy(&v, (const char *)base + i * sizeof v, sizeof v);
	return v;
}

/* Column col of an event row after run_id: seq, op, clock_bytes, payload. */
static int64_t event_value(const struct sl_event *e, unsigned col)
{
	switch (col) {
	case 0: return (int64_t)e->seq;
	case 1: return (int64_t)e->op;
	case 2: return (int64_t)e->clock_bytes;
	default: return field_at(&e->u, col - 3);
	}
}

/* A gc_cycles column after run_id: the start's header and payload, then the
 * end's. false: that half is missing (NULL). */
static bool gc_value(const struct gc_pair *p, unsigned col, int64_t *v)
{
	const unsigned nstart = 3 + ev_fields[SL_EV_GC_START].n;
	const struct sl_event *e = &p->start;
	bool have = p->has_start;

	if (col >= nstart) {
		col -= nstart;
		e = &p->end;
		have = p->has_end;
	}
	if (have)
		*v = event_value(e, col);
	return have;
}

/* Column col (0: run_id) of the source's row i; false for NULL. */
static bool source_value(const struct row_source *s, size_t i, unsigned col, int64_t *v)
{
	if (col == 0) {
		*v = s->run_id;
		return true;
	}
	switch (s->t->rows) {
	case SINK_ROWS_EVENT:
		*v = event_value(&s->b->ev[i], col - 1);
		return true;
	case SINK_ROWS_GC:
		return gc_value(&s->pairs[i], col - 1, v);
	case SINK_ROWS_SNAPSHOT:
		*v = field_at(&s->b->snap[i], col - 1);
		return *v != SIM_NULL;
	case SINK_ROWS_SIZE_CLASS:
		*v = field_at(&s->b->cls[i], col - 1);
		return *v != SIM_NULL;
	}
	return false;
}

static size_t source_len(const struct row_source *s)
{
	switch (s->t->rows) {
	case SINK_ROWS_EVENT: return s->b->nev;
	case SINK_ROWS_GC: return s->npairs;
	case SINK_ROWS_SNAPSHOT: return s->b->nsnap;
	case SINK_ROWS_SIZE_CLASS: return s->b->ncls;
	}
	return 0;
}

/* --- the sl_rows virtual table ------------------------------------------------ */

/* An eponymous-only virtual table (no CREATE VIRTUAL TABLE needed) with
 * columns c0..c47 whose rows are those of the current row_source. */

struct rows_vtab {
	sqlite3_vtab base;
	const struct row_source *src;
};

struct rows_cursor {
	sqlite3_vtab_cursor base;
	const struct row_source *src;
	size_t i, n;		/* position in and length of the walked array */
};

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
		      sqlite3_vtab **out, char **err)
{
	char decl[32 + SINK_MAX_COLS * 5] = "CREATE TABLE x(c0";
	for (int i = 1; i < SINK_MAX_COLS; i++)
		sprintf(decl + strlen(decl), ",c%d", i);
	strcat(decl, ")");
	int rc = sqlite3_declare_vtab(db, decl);
	if (rc != SQLITE_OK)
		return rc;
	struct rows_vtab *vt = sqlite3_malloc(sizeof *vt);
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof *vt);
	vt->src = aux;
	*out = &vt->base;
	return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

static int vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	info->estimatedCost = SINK_BATCH_EVENTS;
	return SQLITE_OK;
}

static int vt_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct rows_cursor *c = sqlite3_malloc(sizeof *c);
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof *c);
	c->src = ((struct rows_vtab *)vt)->src;
	*out = &c->base;
	return SQLITE_OK;
}

static int vt_close(sqlite3_vtab_cursor *cur)
{
	sqlite3_free(cur);
	return SQLITE_OK;
}

/* Event tables walk the whole batch and stop at their own kind. */
static void cursor_settle(struct rows_cursor *c)
{
	const struct row_source *s = c->src;
	if (s->t->rows != SINK_ROWS_EVENT)
		return;
	while (c->i < c->n && s->b->ev[c->i].kind != s->t->kind)
		c->i++;
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
		     sqlite3_value **argv)
{
	struct rows_cursor *c = (struct rows_cursor *)cur;
	c->i = 0;
	c->n = source_len(c->src);
	cursor_settle(c);
	return SQLITE_OK;
}

static int vt_next(sqlite3_vtab_cursor *cur)
{
	struct rows_cursor *c = (struct rows_cursor *)cur;
	c->i++;
	cursor_settle(c);
	return SQLITE_OK;
}

static int vt_eof(sqlite3_vtab_cursor *cur)
{
	struct rows_cursor *c = (struct rows_cursor *)cur;
	return c->i >= c->n;
}

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	struct rows_cursor *c = (struct rows_cursor *)cur;
	int64_t v;
	if (source_value(c->src, c->i, (unsigned)col, &v))
		sqlite3_result_int64(ctx, v);
	else
		sqlite3_result_null(ctx);
	return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((struct rows_cursor *)cur)->i;
	return SQLITE_OK;
}

static const sqlite3_module rows_module = {
	.xConnect = vt_connect,
	.xBestIndex = vt_best_index,
	.xDisconnect = vt_disconnect,
	.xOpen = vt_open,
	.xClose = vt_close,
	.xFilter = vt_filter,
	.xNext = vt_next,
	.xEof = vt_eof,
	.xColumn = vt_column,
	.xRowid = vt_rowid,
};

/* --- writing a batch ------------------------------------------------------------ */

static int push_pair(struct sink_sqlite *s, const struct sl_event *start, const struct sl_event *end)
{
	if (s->src.npairs == s->pairs_cap) {
		size_t cap = s->pairs_cap ? 2 * s->pairs_cap : 64;
		struct gc_pair *p = realloc(s->pairs, cap * sizeof *p);
		if (!p)
			return SQLITE_NOMEM;
		s->pairs = p;
		s->pairs_cap = cap;
		s->src.pairs = p;
	}
	struct gc_pair *p = &s->pairs[s->src.npairs++];
	*p = (struct gc_pair){ .has_start = start != NULL, .has_end = end != NULL };
	if (start)
		p->start = *start;
	if (end)
		p->end = *end;
	return SQLITE_OK;
}

/* Close the open cycle, if any, with `end` (NULL: the end was not logged). */
static int close_gc(struct sink_sqlite *s, const struct sl_event *end)
{
	if (!s->has_gc_open)
		return end ? push_pair(s, NULL, end) : SQLITE_OK;
	s->has_gc_open = false;
	if (end && end->u.gc_end.cycle != s->gc_open.u.gc_start.cycle) {
		int rc = push_pair(s, &s->gc_open, NULL);
		return rc ? rc : push_pair(s, NULL, end);
	}
	return push_pair(s, &s->gc_open, end);
}

/* The batch's gc_cycles rows into s->pairs; `last`: close an open cycle. */
static int pair_gc(struct sink_sqlite *s, const struct sink_batch *b, bool last)
{
	int rc = SQLITE_OK;

	s->src.npairs = 0;
	for (size_t i = 0; i < b->nev && rc == SQLITE_OK; i++) {
		const struct sl_event *e = &b->ev[i];
		if (e->kind == SL_EV_GC_START) {
			if (s->has_gc_open)
				rc = close_gc(s, NULL);
			s->gc_open = *e;
			s->has_gc_open = true;
		} else if (e->kind == SL_EV_GC_END) {
			rc = close_gc(s, e);
		}
	}
	if (rc == SQLITE_OK && last)
		rc = close_gc(s, NULL);
	return rc;
}

/* Insert every table's rows of batch b (inside an open transaction). The
 * rows inserted are added to *events and *snaps; they count only once that
 * transaction commits. */
static int write_rows(struct sink_sqlite *s, const struct sink_batch *b, bool last,
		      int64_t *events, int64_t *snaps)
{
	unsigned n;
	const struct sink_table *t = sink_tables(&n);
	int rc = pair_gc(s, b, last);

	s->src.b = b;
	for (unsigned i = 0; i < n && rc == SQLITE_OK; i++) {
		s->src.t = &t[i];
		rc = sqlite3_step(s->ins[i]);
		sqlite3_reset(s->ins[i]);
		if (rc != SQLITE_DONE)
			break;
		rc = SQLITE_OK;
		int64_t rows = sqlite3_changes64(s->conn);
		if (t[i].rows == SINK_ROWS_SNAPSHOT)
			*snaps += rows;
		else if (t[i].rows != SINK_ROWS_SIZE_CLASS)
			*events += rows;
	}
	return rc;
}

static int step_once(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* One batch, one transaction. On failure, msg says why: described before
 * the rollback, which replaces the connection's message and errno. */
static int write_batch(struct sink_sqlite *s, const struct sink_batch *b, int64_t *events, int64_t *snaps,
		       char *msg, size_t msglen)
{
	int rc = step_once(s->begin);
	if (rc == SQLITE_OK)
		rc = write_rows(s, b, false, events, snaps);
	if (rc == SQLITE_OK)
		rc = step_once(s->commit);
	if (rc != SQLITE_OK) {
		db_describe(s->conn, rc, s->path, msg, msglen);
		if (!sqlite3_get_autocommit(s->conn))
			step_once(s->rollback);
	}
	return rc;
}

static void batch_reset(struct sink_batch *b)
{
	b->nev = b->nsnap = b->ncls = 0;
}

/* --- the writer thread and the handoff ------------------------------------------ */

/* Take the next full batch, write it unless an earlier batch failed, give
 * it back. Signals stay with the replay's thread. */
static void *writer_main(void *arg)
{
	struct sink_sqlite *s = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->nfull && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->nfull)
			break;
		struct sink_batch *b = s->full[s->full_head];
		s->full_head = (s->full_head + 1) % SINK_NBATCH;
		s->nfull--;
		s->writing = true;
		bool skip = s->failed;
		pthread_mutex_unlock(&s->mu);

		int64_t events = 0, snaps = 0;
		char msg[sizeof s->error];
		int rc = skip ? SQLITE_OK : write_batch(s, b, &events, &snaps, msg, sizeof msg);
		batch_reset(b);

		pthread_mutex_lock(&s->mu);
		if (rc != SQLITE_OK && !s->failed) {
			memcpy(s->error, msg, sizeof msg);
			__atomic_store_n(&s->failed, true, __ATOMIC_RELEASE);
		}
		if (rc == SQLITE_OK) {	/* a failed batch was rolled back: its rows are not there */
			s->event_rows += events;
			s->snapshot_rows += snaps;
		}
		s->idle[s->nidle++] = b;
		s->writing = false;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Queue the filled batch for the writer and take an idle one, waiting for
 * the writer when all are in use (so memory stays bounded). */
static void handoff(struct sink_sqlite *s)
{
	pthread_mutex_lock(&s->mu);
	s->full[(s->full_head + s->nfull) % SINK_NBATCH] = s->fill;
	s->nfull++;
	pthread_cond_broadcast(&s->cv);
	while (!s->nidle)
		pthread_cond_wait(&s->cv, &s->mu);
	s->fill = s->idle[--s->nidle];
	pthread_mutex_unlock(&s->mu);
}

/* Called from the allocator's slow paths: a copy and a compare. */
static void sink_emit(void *ctx, const struct sl_event *ev)
{
	struct sink_sqlite *s = ctx;
	struct sink_batch *b = s->fill;

	b->ev[b->nev++] = *ev;
	if (__builtin_expect(b->nev == s->batch_events, 0))
		handoff(s);
}

struct sl_sink sink_sqlite_sink(struct sink_sqlite *s)
{
	return (struct sl_sink){ .emit = sink_emit, .ctx = s };
}

static bool sink_failed(struct sink_sqlite *s)
{
	return __atomic_load_n(&s->failed, __ATOMIC_ACQUIRE);
}

int sink_sqlite_snapshot(struct sink_sqlite *s, const struct sim_snapshot *snap)
{
	struct sink_batch *b = s->fill;

	b->snap[b->nsnap++] = *snap;
	if (b->nsnap == SINK_BATCH_SNAPSHOTS)
		handoff(s);
	return sink_failed(s) ? -1 : 0;
}

int sink_sqlite_size_class(struct sink_sqlite *s, const struct sim_size_class_row *row)
{
	struct sink_batch *b = s->fill;

	b->cls[b->ncls++] = *row;
	if (b->ncls == SINK_BATCH_CLASSES)
		handoff(s);
	return sink_failed(s) ? -1 : 0;
}

const char *sink_sqlite_error(struct sink_sqlite *s)
{
	return sink_failed(s) ? s->error : NULL;
}

int sink_sqlite_drain(struct sink_sqlite *s)
{
	pthread_mutex_lock(&s->mu);
	while (s->nfull || s->writing)
		pthread_cond_wait(&s->cv, &s->mu);
	bool failed = s->failed;
	pthread_mutex_unlock(&s->mu);
	return failed ? -1 : 0;
}

int sink_sqlite_write_rest(struct sink_sqlite *s, int64_t *events, int64_t *snaps)
{
	*events = *snaps = 0;
	int rc = write_rows(s, s->fill, true, events, snaps);

	if (rc == SQLITE_OK)
		batch_reset(s->fill);
	return rc;
}

int64_t sink_sqlite_event_rows(const struct sink_sqlite *s)
{
	return s->event_rows;
}

int64_t sink_sqlite_snapshot_rows(const struct sink_sqlite *s)
{
	return s->snapshot_rows;
}

/* --- set-up and tear-down ------------------------------------------------------- */

/* INSERT INTO t (cols) SELECT c0, ... FROM sl_rows; caller frees. */
static char *insert_sql(const struct sink_table *t)
{
	size_t cap = 128 + t->ncols * 48, len = 0;
	char *sql = malloc(cap);

	if (!sql)
		return NULL;
	len += (size_t)snprintf(sql + len, cap - len, "INSERT INTO %s (", t->name);
	for (unsigned i = 0; i < t->ncols; i++)
		len += (size_t)snprintf(sql + len, cap - len, "%s\"%s\"", i ? ", " : "", t->cols[i].name);
	len += (size_t)snprintf(sql + len, cap - len, ") SELECT ");
	for (unsigned i = 0; i < t->ncols; i++)
		len += (size_t)snprintf(sql + len, cap - len, "%sc%u", i ? ", " : "", i);
	snprintf(sql + len, cap - len, " FROM sl_rows");
	return sql;
}

static int prepare(struct sink_sqlite *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
	int rc = sqlite3_prepare_v3(s->conn, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "%s: cannot prepare '%.60s...': %s", s->path, sql, sqlite3_errmsg(s->conn));
	return rc;
}

static int prepare_all(struct sink_sqlite *s, char *err, size_t errlen)
{
	unsigned n;
	const struct sink_table *t = sink_tables(&n);
	int rc = sqlite3_create_module_v2(s->conn, "sl_rows", &rows_module, &s->src, NULL);

	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot register sl_rows: %s", s->path, sqlite3_errstr(rc));
		return rc;
	}
	for (unsigned i = 0; i < n && rc == SQLITE_OK; i++) {
		char *sql = insert_sql(&t[i]);
		rc = sql ? prepare(s, sql, &s->ins[i], err, errlen) : SQLITE_NOMEM;
		free(sql);
	}
	if (rc == SQLITE_OK)
		rc = prepare(s, "BEGIN IMMEDIATE", &s->begin, err, errlen);
	if (rc == SQLITE_OK)
		rc = prepare(s, "COMMIT", &s->commit, err, errlen);
	if (rc == SQLITE_OK)
		rc = prepare(s, "ROLLBACK", &s->rollback, err, errlen);
	return rc;
}

struct sink_sqlite *sink_sqlite_new(sqlite3 *conn, const char *path, int64_t run_id, char *err, size_t errlen)
{
	struct sink_sqlite *s = calloc(1, sizeof *s);

	if (!s) {
		snprintf(err, errlen, "%s: out of memory for the event sink", path);
		return NULL;
	}
	s->conn = conn;
	s->path = path;
	s->batch_events = sink_sqlite_test_batch_events - 1 < SINK_BATCH_EVENTS ? sink_sqlite_test_batch_events
										: SINK_BATCH_EVENTS;
	s->src.run_id = run_id;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->fill = calloc(1, sizeof *s->fill);
	for (int i = 0; i < SINK_NBATCH - 1; i++)
		if ((s->idle[s->nidle] = calloc(1, sizeof *s->fill)))
			s->nidle++;
	if (!s->fill || s->nidle != SINK_NBATCH - 1) {
		snprintf(err, errlen, "%s: out of memory for the event batches", path);
		goto fail;
	}
	if (prepare_all(s, err, errlen) != SQLITE_OK)
		goto fail;
	if (pthread_create(&s->thread, NULL, writer_main, s)) {
		snprintf(err, errlen, "%s: cannot start the writer thread", path);
		goto fail;
	}
	s->thread_started = true;
	return s;
fail:
	sink_sqlite_free(s);
	return NULL;
}

void sink_sqlite_free(struct sink_sqlite *s)
{
	if (!s)
		return;
	if (s->thread_started) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
	}
	for (size_t i = 0; i < sizeof s->ins / sizeof s->ins[0]; i++)
		sqlite3_finalize(s->ins[i]);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_create_module_v2(s->conn, "sl_rows", NULL, NULL, NULL);
	for (unsigned i = 0; i < s->nidle; i++)
		free(s->idle[i]);
	free(s->fill);
	free(s->pairs);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
