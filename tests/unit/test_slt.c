/*
 * The .slt format: writer -> reader round trips (every op, many threads,
 * huge sizes and alignments, a seeded random trace), the text form round
 * trip, and malformed inputs (truncation at every byte offset, corrupted
 * varints, bad magic/version/flags, unknown opcodes, ids that are not live,
 * END records that disagree): each a one-line error naming the byte, never
 * a crash.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slt.h"
#include "testlib.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int mem_sink(void *ctx, const void *data, size_t len)
{
	struct buf *b = ctx;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

/* Bytes of the trace so far, buffered records included. */
static size_t written(const struct buf *b, const struct slt_writer *w)
{
	return b->len + w->len;
}

static char *tmp_file(const char *dir, const char *name, const void *data, size_t len)
{
	char *path = malloc(strlen(dir) + strlen(name) + 2);
	sprintf(path, "%s/%s", dir, name);
	cr_assert_eq(tl_write_file(path, data, len), 0);
	return path;
}

/* Write events through the writer (assigning ids), returning the bytes. */
static void write_events(struct buf *b, struct slt_event *ev, size_t n, uint32_t tick)
{
	struct slt_writer *w = malloc(sizeof *w);
	cr_assert_eq(slt_writer_init(w, mem_sink, b, tick, "{\"t\":1}"), 0);
	for (size_t i = 0; i < n; i++) {
		struct slt_event *e = &ev[i];
		if (e->op == SLT_MALLOC || e->op == SLT_CALLOC || e->op == SLT_ALIGNED) {
			e->id = e->old_id = slt_write_alloc(w, e->op, e->tid, e->ts_ns, e->size, e->align);
			cr_assert_neq(e->id, UINT64_MAX);
		} else {
			cr_assert_eq(slt_write_event(w, e), 0, "event %zu", i);
		}
	}
	cr_assert_eq(slt_writer_finish(w), 0);
	free(w);
}

static void read_and_compare(const char *path, const struct slt_event *ev, size_t n,
			     uint64_t tick, enum slt_format fmt)
{
	char err[1024];
	struct slt_source *s = slt_open(path, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	cr_assert_eq(slt_source_format(s), fmt);
	struct slt_event got;
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(slt_next(s, &got), 1, "event %zu: %s", i, slt_error(s));
		cr_assert_eq(got.op, ev[i].op, "event %zu", i);
		cr_assert_eq(got.tid, ev[i].tid, "event %zu", i);
		cr_assert_eq(got.ts_ns, ev[i].ts_ns / tick * tick, "event %zu", i);
		if (ev[i].op <= SLT_ALIGNED)
			cr_assert_eq(got.id, ev[i].id, "event %zu: id %llu != %llu", i,
				     (unsigned long long)got.id, (unsigned long long)ev[i].id);
		if (ev[i].op != SLT_FREE && ev[i].op <= SLT_ALIGNED)
			cr_assert_eq(got.size, ev[i].size, "event %zu", i);
		if (ev[i].op == SLT_ALIGNED)
			cr_assert_eq(got.align, ev[i].align, "event %zu", i);
	}
	cr_assert_eq(slt_next(s, &got), 0, "%s", slt_error(s));
	cr_assert(slt_source_complete(s));
	slt_close(s);
}

/* Every op kind, 100 threads, sizes up to 2^62, alignments up to 2^40. */
static size_t every_op(struct slt_event *ev)
{
	size_t n = 0;
	uint64_t ts = 0;
	for (uint32_t t = 0; t < 100; t++) {
		ts += 1234567;
		ev[n++] = (struct slt_event){ .op = SLT_THREAD_START, .tid = t, .ts_ns = ts };
		ev[n++] = (struct slt_event){ .op = SLT_MALLOC, .tid = t, .size = (uint64_t)t << 56, .ts_ns = ts };
		ev[n++] = (struct slt_event){ .op = SLT_CALLOC, .tid = t, .size = t * 3 + 1, .ts_ns = ts + 7 };
		ev[n++] = (struct slt_event){ .op = SLT_ALIGNED, .tid = t, .size = 0,
					      .align = 1ull << (t % 41), .ts_ns = ts + 999 };
	}
	for (uint32_t t = 0; t < 100; t++) {
		/* ids follow the rule: objects were given 3t, 3t+1, 3t+2 */
		ev[n++] = (struct slt_event){ .op = SLT_REALLOC, .tid = t, .id = 3 * t, .old_id = 3 * t,
					      .size = UINT64_MAX >> 1, .ts_ns = ts += 100000000 };
		ev[n++] = (struct slt_event){ .op = SLT_FREE, .tid = t, .id = 3 * t + 1, .ts_ns = ts };
		ev[n++] = (struct slt_event){ .op = SLT_GC, .tid = t, .ts_ns = ts };
		ev[n++] = (struct slt_event){ .op = SLT_THREAD_EXIT, .tid = t, .ts_ns = ts };
	}
	return n;
}

Test(slt, round_trip_every_op)
{
	static struct slt_event ev[1000];
	size_t n = every_op(ev);
	struct buf b = { 0 };
	write_events(&b, ev, n, 1000);
	char *dir = tl_tmpdir(), *path = tmp_file(dir, "a.slt", b.p, b.len);
	read_and_compare(path, ev, n, 1000, SLT_FMT_SLT);

	char err[1024];
	uint64_t events, ids;
	struct slt_source *s = slt_open(path, NULL, err, sizeof err);
	cr_assert(slt_source_counts(s, &events, &ids), "footer not found");
	cr_assert_eq(events, n);
	cr_assert_eq(ids, 300);
	cr_assert_str_eq(slt_source_meta(s), "{\"t\":1}");
	slt_close(s);
	free(path);
	free(b.p);
	tl_tmpdir_remove(dir);
}

/* The same events through the text form and back (times exact in text). */
Test(slt, text_round_trip)
{
	static struct slt_event ev[1000];
	size_t n = every_op(ev);
	struct buf b = { 0 };
	write_events(&b, ev, n, 1);	/* assigns ids */
	char *dir = tl_tmpdir(), path[4096];
	snprintf(path, sizeof path, "%s/a.txt", dir);
	FILE *f = fopen(path, "w");
	uint64_t last = 0;
	cr_assert_eq(slt_text_header(f, "{}"), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(slt_text_write(f, &ev[i], &last), 0);
	fclose(f);
	read_and_compare(path, ev, n, 1, SLT_FMT_TEXT);
	free(b.p);
	tl_tmpdir_remove(dir);
}

/* A seeded random trace: random ops, threads, sizes and times. */
Test(slt, random_round_trip)
{
	uint64_t seed = tl_seed("slt::random_round_trip"), x = seed | 1;
	size_t n = 20000, nlive = 0;
	struct slt_event *ev = calloc(n, sizeof *ev);
	uint64_t *live = calloc(n, sizeof *live), ts = 0;
	struct buf b = { 0 };
	struct slt_writer *w = malloc(sizeof *w);
	cr_assert_eq(slt_writer_init(w, mem_sink, &b, 10, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		struct slt_event *e = &ev[i];
		e->tid = (uint32_t)(x % 5);
		e->ts_ns = ts += x % 3000;
		if (nlive && x % 3 == 0) {
			size_t k = (x >> 8) % nlive;
			e->op = (x >> 20) % 4 ? SLT_FREE : SLT_REALLOC;
			e->id = e->old_id = live[k];
			e->size = x >> (x % 64);
			cr_assert_eq(slt_write_event(w, e), 0);
			if (e->op == SLT_FREE)
				live[k] = live[--nlive];
		} else {
			e->op = (enum slt_op[]){ SLT_MALLOC, SLT_CALLOC, SLT_ALIGNED }[x % 3];
			e->size = (x >> 11) % 4 ? (x >> 20) % 600 : x >> (x % 64);
			e->align = e->op == SLT_ALIGNED ? 1ull << ((x >> 30) % 20) : 0;
			e->id = slt_write_alloc(w, e->op, e->tid, e->ts_ns, e->size, e->align);
			live[nlive++] = e->id;
		}
	}
	cr_assert_eq(slt_writer_finish(w), 0);
	char *dir = tl_tmpdir(), *path = tmp_file(dir, "r.slt", b.p, b.len);
	read_and_compare(path, ev, n, 10, SLT_FMT_SLT);
	free(path);
	free(ev);
	free(live);
	free(w);
	free(b.p);
	tl_tmpdir_remove(dir);
}

/* Open path and read to the end; returns events read, sets ok and complete. */
static size_t read_all(const char *path, bool *ok, bool *complete, char *err, size_t errlen)
{
	struct slt_source *s = slt_open(path, NULL, err, errlen);
	size_t n = 0;
	*ok = false;
	*complete = false;
	if (!s)
		return 0;
	struct slt_event ev;
	int rc;
	while ((rc = slt_next(s, &ev)) > 0)
		n++;
	if (rc < 0)
		snprintf(err, errlen, "%s", slt_error(s));
	*ok = rc == 0;
	*complete = slt_source_complete(s);
	slt_close(s);
	return n;
}

/* Every prefix of a small trace (a writer killed anywhere, a write(2) cut
 * at any byte): short of its header and metadata, a one-line "byte N"
 * error; from there on, every event whose record is whole, the trace cut
 * short, and the bytes read and dropped adding up to the prefix, the
 * dropped ones less than one record (the longest, END and its footer, is
 * under 128 bytes). Record boundaries come from the writer, independently
 * of the reader. */
Test(slt, truncation_at_every_offset)
{
	size_t bound[41], n = 0;
	struct buf b = { 0 };
	struct slt_writer *w = malloc(sizeof *w);
	cr_assert_eq(slt_writer_init(w, mem_sink, &b, 1, "{\"x\":\"y\"}"), 0);
	bound[0] = written(&b, w);
	uint64_t last = 0;
	for (n = 0; n < 40; n++) {
		if (n % 3 == 2)
			cr_assert_eq(slt_write_free(w, (uint32_t)(n % 4), n * 1000, last), 0);
		else
			last = slt_write_alloc(w, n % 5 ? SLT_MALLOC : SLT_ALIGNED, (uint32_t)(n % 4),
					       n * 1000, n * 300, 64);
		bound[n + 1] = written(&b, w);
	}
	cr_assert_eq(slt_writer_finish(w), 0);
	free(w);
	char *dir = tl_tmpdir();
	for (size_t k = 0; k <= b.len; k++) {
		char *path = tmp_file(dir, "t.slt", b.p, k), err[1024] = "";
		size_t whole = 0;
		while (whole < n && bound[whole + 1] <= k)
			whole++;
		struct slt_source *s = slt_open(path, NULL, err, sizeof err);
		if (k < bound[0]) {
			cr_assert(!s, "prefix %zu opened without a whole header", k);
			cr_assert(strstr(err, "byte ") || strstr(err, "empty file"), "prefix %zu: '%s'", k, err);
			cr_assert(!strchr(err, '\n'), "prefix %zu: more than one line", k);
			free(path);
			continue;
		}
		cr_assert(s, "prefix %zu: %s", k, err);
		struct slt_event ev;
		size_t got = 0;
		int rc;
		while ((rc = slt_next(s, &ev)) > 0)
			got++;
		cr_assert_eq(rc, 0, "prefix %zu: %s", k, slt_error(s));
		cr_assert_eq(slt_next(s, &ev), 0, "prefix %zu: a second call past the end", k);
		cr_assert_eq(got, whole, "prefix %zu: %zu events, %zu whole", k, got, whole);
		cr_assert_eq(slt_source_complete(s), k == b.len, "prefix %zu of %zu", k, b.len);
		uint64_t read = slt_source_bytes(s), dropped = slt_source_partial_bytes(s);
		cr_assert(read >= bound[whole] && read + dropped == k && dropped < 128,
			  "prefix %zu: %llu bytes read, %llu dropped, the last whole event ends at %zu", k,
			  (unsigned long long)read, (unsigned long long)dropped, bound[whole]);
		slt_close(s);
		free(path);
	}
	tl_tmpdir_remove(dir);
	free(b.p);
}

/* A valid two-event trace to corrupt: header, then m(24), f(0), END. */
static struct buf small_trace(void)
{
	struct buf b = { 0 };
	struct slt_writer *w = malloc(sizeof *w);
	slt_writer_init(w, mem_sink, &b, 1, "{}");
	slt_write_alloc(w, SLT_MALLOC, 0, 0, 24, 0);
	slt_write_free(w, 0, 0, 0);
	slt_writer_finish(w);
	free(w);
	return b;
}

struct corrupt {
	const char *name;
	size_t off;		/* where to write */
	const char *bytes;	/* what (NUL-free, or len below) */
	size_t len;
	const char *expect;	/* substring of the error */
	long at;		/* expected "byte N", -1: any */
};

#define HDR (SLT_HEADER_LEN + 2)	/* records start after "{}" */

Test(slt, corrupted_inputs_name_the_byte)
{
	static const struct corrupt cases[] = {
		{ "bad magic", 5, "X", 1, "bad magic", 0 },
		{ "bad version", 8, "\x03", 1, "unsupported version 3", 8 },
		{ "version 0", 8, "\x00", 1, "unsupported version 0", 8 },
		{ "unknown flags", 10, "\x01", 1, "unknown flags", 10 },
		{ "zero tick", 12, "\0\0\0\0", 4, "tick_ns is 0", 12 },
		{ "huge metadata", 16, "\xff\xff\xff\x7f", 4, "metadata length", 16 },
		{ "unknown opcode", HDR, "\x0a", 1, "unknown record opcode 10", HDR },
		{ "opcode 15", HDR, "\xff", 1, "unknown record opcode 15", HDR },
		{ "varint too long", HDR, "\xf0\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 12,
		  "varint longer than 10 bytes", HDR + 10 },
		{ "varint overflow", HDR, "\xf0\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f", 11,
		  "varint overflows", HDR + 10 },
		{ "free of an id never used", HDR + 2, "\xf3\x08", 2, "free of object id 4, which is not live", HDR + 2 },
		{ "gc with an argument", HDR, "\x15", 1, "GC record with argument 1", HDR },
		{ "alignment out of range", HDR, "\xf4\x18\x30", 3, "alignment 2^48", HDR },
		{ "huge thread id", HDR, "\x07\xff\xff\xff\x0f", 5, "thread id", HDR },
	};
	char *dir = tl_tmpdir();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct corrupt *c = &cases[i];
		struct buf b = small_trace();
		if (c->off + c->len > b.len)
			b.p = realloc(b.p, b.len = c->off + c->len);
		memcpy(b.p + c->off, c->bytes, c->len);
		char *path = tmp_file(dir, "c.slt", b.p, b.len), err[1024] = "";
		bool ok, complete;
		read_all(path, &ok, &complete, err, sizeof err);
		cr_assert(!ok, "%s: accepted", c->name);
		cr_assert(strstr(err, c->expect), "%s: '%s'", c->name, err);
		if (c->at >= 0) {
			char at[48];
			snprintf(at, sizeof at, ": byte %ld: ", c->at);
			cr_assert(strstr(err, at), "%s: '%s' should name byte %ld", c->name, err, c->at);
		}
		free(path);
		free(b.p);
	}
	tl_tmpdir_remove(dir);
}

Test(slt, end_record_must_agree_and_close)
{
	char *dir = tl_tmpdir(), err[1024];
	bool ok, complete;
	struct buf b = small_trace();
	/* END: opcode, events (2), ids (1) ... change events to 3. */
	b.p[HDR + 3 + 1] = 3;
	char *path = tmp_file(dir, "e.slt", b.p, b.len);
	read_all(path, &ok, &complete, err, sizeof err);
	cr_assert(!ok && strstr(err, "END record says 3 events"), "%s", err);
	free(path);
	b.p[HDR + 3 + 1] = 2;
	b.p = realloc(b.p, b.len + 1);
	b.p[b.len++] = 0;
	path = tmp_file(dir, "e.slt", b.p, b.len);
	read_all(path, &ok, &complete, err, sizeof err);
	cr_assert(!ok && strstr(err, "data after the END record"), "%s", err);
	free(path);
	free(b.p);
	tl_tmpdir_remove(dir);
}

/* Version 2's END carries lost_results; version 1's (the bundled traces)
 * stops at failed_allocs, and is read with lost_results 0. */
Test(slt, version_1_and_2_reports)
{
	char *dir = tl_tmpdir(), err[1024];
	struct buf b = { 0 };
	struct slt_writer *w = malloc(sizeof *w);
	slt_writer_init(w, mem_sink, &b, 1, "{}");
	slt_write_alloc(w, SLT_MALLOC, 0, 0, 24, 0);
	w->report.failed_allocs = 5;
	w->report.lost_results = 3;
	cr_assert_eq(slt_writer_finish(w), 0);
	free(w);
	cr_assert_eq(b.p[8], 2, "written as version 2");
	for (int v = 2; v >= 1; v--) {
		if (v == 1) {	/* drop the last varint (3), shorten the footer's END length */
			cr_assert_eq(b.p[b.len - SLT_FOOTER_LEN - 1], 3);
			memmove(b.p + b.len - SLT_FOOTER_LEN - 1, b.p + b.len - SLT_FOOTER_LEN, SLT_FOOTER_LEN);
			b.len--;
			b.p[b.len - SLT_FOOTER_LEN]--;
			b.p[8] = 1;
		}
		char *path = tmp_file(dir, "v.slt", b.p, b.len);
		struct slt_source *s = slt_open(path, NULL, err, sizeof err);
		cr_assert(s, "%s", err);
		struct slt_event ev;
		int rc;
		while ((rc = slt_next(s, &ev)) > 0)
			;
		cr_assert_eq(rc, 0, "version %d: %s", v, slt_error(s));
		cr_assert(slt_source_complete(s));
		cr_assert_eq(slt_source_report(s)->failed_allocs, 5);
		cr_assert_eq(slt_source_report(s)->lost_results, v == 2 ? 3 : 0);
		slt_close(s);
		free(path);
	}
	free(b.p);
	tl_tmpdir_remove(dir);
}

Test(slt, id_rule_and_map)
{
	struct slt_ids ids;
	slt_ids_init(&ids);
	cr_assert_eq(slt_ids_take(&ids), 0);
	cr_assert_eq(slt_ids_take(&ids), 1);
	cr_assert_eq(slt_ids_take(&ids), 2);
	cr_assert_eq(slt_ids_put(&ids, 0), 0);
	cr_assert_eq(slt_ids_put(&ids, 2), 0);
	cr_assert_eq(slt_ids_put(&ids, 2), -2, "double free not caught");
	cr_assert_eq(slt_ids_take(&ids), 2, "LIFO: most recently freed first");
	cr_assert_eq(slt_ids_take(&ids), 0);
	cr_assert_eq(slt_ids_take(&ids), 3);
	slt_ids_destroy(&ids);

	/* The map against a plain array, with colliding keys and deletions. */
	struct slt_idmap m;
	cr_assert_eq(slt_idmap_init(&m), 0);
	enum { N = 20000 };
	static uint8_t in[N];
	uint64_t x = 88172645463325252ull, id;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t k = x % N;
		if (in[k]) {
			cr_assert_eq(slt_idmap_del(&m, k << 20, &id), 1);
			cr_assert_eq(id, k);
			in[k] = 0;
		} else {
			cr_assert_eq(slt_idmap_get(&m, k << 20, &id), 0);
			cr_assert_eq(slt_idmap_put(&m, k << 20, k), 0);
			in[k] = 1;
		}
	}
	for (uint64_t k = 0; k < N; k++)
		cr_assert_eq(slt_idmap_get(&m, k << 20, &id), in[k], "key %llu", (unsigned long long)k);
	slt_idmap_destroy(&m);
}
