/*
 * Shared parts of the fuzz harnesses: the input as a file, the error-line
 * check, and the trace reader loop with its id-rule oracle.
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* slot 0: the input; slot 1: what the harness wrote from it */
static const char *memfile(int slot, const uint8_t *data, size_t size)
{
	static int fds[2] = { -1, -1 };
	static char paths[2][64];
	int fd = fds[slot];
	if (fd < 0) {
		fd = fds[slot] = memfd_create("fuzz-input", MFD_CLOEXEC);
		if (fd < 0)
			fuzz_fail("memfd_create failed");
		snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fd);
	}
	const char *path = paths[slot];
	if (ftruncate(fd, 0) < 0)
		fuzz_fail("ftruncate failed");
	size_t off = 0;
	while (off < size) {
		ssize_t k = pwrite(fd, data + off, size - off, (off_t)off);
		if (k <= 0)
			fuzz_fail("pwrite failed");
		off += (size_t)k;
	}
	return path;
}

const char *fuzz_file(const uint8_t *data, size_t size)
{
	return memfile(0, data, size);
}

void fuzz_check_error(const char *err, const char *path)
{
	size_t n = strlen(path);
	if (!err[0])
		fuzz_fail("an error without a message");
	if (strchr(err, '\n'))
		fuzz_fail("an error of more than one line: '%s'", err);
	if (strncmp(err, path, n) || strncmp(err + n, ": ", 2))
		fuzz_fail("an error that does not start with the file: '%s'", err);
	if (!strstr(err, ": byte ") && !strstr(err, ": line ") && !strstr(err, ": empty file"))
		fuzz_fail("an error that names no place: '%s'", err);
}

/* The id rule, run independently of the reader: what every event must be. */
struct oracle {
	struct slt_ids ids;
	uint64_t events;
};

static void check_event(struct oracle *o, const struct slt_event *ev, const char *what)
{
	if (ev->op >= SLT_NOPS)
		fuzz_fail("%s: event %llu: op %d", what, (unsigned long long)o->events, ev->op);
	if (ev->tid >= SLT_MAX_TID)
		fuzz_fail("%s: event %llu: thread %u", what, (unsigned long long)o->events, ev->tid);
	switch (ev->op) {
	case SLT_MALLOC:
	case SLT_CALLOC:
	case SLT_ALIGNED: {
		uint64_t want = slt_ids_take(&o->ids);
		if (ev->id != want)
			fuzz_fail("%s: event %llu: a new object got id %llu, the id rule gives %llu", what,
				  (unsigned long long)o->events, (unsigned long long)ev->id,
				  (unsigned long long)want);
		if (ev->op == SLT_ALIGNED && (!ev->align || (ev->align & (ev->align - 1))))
			fuzz_fail("%s: event %llu: alignment %llu", what, (unsigned long long)o->events,
				  (unsigned long long)ev->align);
		break;
	}
	case SLT_REALLOC:
		if (ev->old_id != ev->id || !slt_ids_live(&o->ids, ev->id))
			fuzz_fail("%s: event %llu: realloc of id %llu (old %llu), not live", what,
				  (unsigned long long)o->events, (unsigned long long)ev->id,
				  (unsigned long long)ev->old_id);
		break;
	case SLT_FREE:
		if (slt_ids_put(&o->ids, ev->id) != 0)
			fuzz_fail("%s: event %llu: free of id %llu, not live", what,
				  (unsigned long long)o->events, (unsigned long long)ev->id);
		break;
	default:
		break;
	}
	o->events++;
}

/* The events a source delivered, for the round trips. */
struct evlog {
	struct slt_event *ev;
	size_t n, cap;
};

static void evlog_add(struct evlog *l, const struct slt_event *ev)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		if (!(l->ev = realloc(l->ev, l->cap * sizeof *l->ev)))
			fuzz_fail("out of memory");
	}
	l->ev[l->n++] = *ev;
}

/* What convert writes from these events, as .slt or as text, reads back
 * to the same events: ops, threads, ids, sizes, alignments, and times
 * (in .slt to the tick, which never runs backwards). */
static void round_trip(const struct evlog *l, uint32_t tick_ns, const char *meta, bool text,
		       const char *what)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct slt_writer *w = malloc(sizeof *w);
	uint64_t last_ts = 0;
	if (!f || !w)
		fuzz_fail("out of memory");
	if (text ? slt_text_header(f, meta) : slt_writer_init(w, slt_sink_stdio, f, tick_ns, meta))
		fuzz_fail("%s: cannot start the %s copy", what, text ? "text" : ".slt");
	for (size_t i = 0; i < l->n; i++)
		if (text ? slt_text_write(f, &l->ev[i], &last_ts) : slt_write_event(w, &l->ev[i]))
			fuzz_fail("%s: event %zu does not write as %s", what, i, text ? "text" : ".slt");
	if (!text && slt_writer_finish(w))
		fuzz_fail("%s: the .slt copy does not finish", what);
	free(w);
	fclose(f);

	const char *path = memfile(1, (const uint8_t *)buf, len);
	struct slt_open_opts opts = { .format = text ? SLT_FMT_TEXT : SLT_FMT_SLT, .strict = true };
	char err[1024];
	struct slt_source *s = slt_open(path, &opts, err, sizeof err);
	if (!s)
		fuzz_fail("%s: the %s copy does not open: %s", what, text ? "text" : ".slt", err);
	struct slt_event ev;
	uint64_t ts = 0, tick = slt_source_tick_ns(s);
	size_t i = 0;
	int rc;
	for (; (rc = slt_next(s, &ev)) > 0; i++) {
		if (i == l->n)
			fuzz_fail("%s: the %s copy has more than the %zu events", what, text ? "text" : ".slt", l->n);
		const struct slt_event *e = &l->ev[i];
		ts = e->ts_ns > ts ? e->ts_ns : ts;
		uint64_t want_ts = text ? ts : ts / tick * tick;
		if (ev.op != e->op || ev.tid != e->tid || ev.id != e->id || ev.size != e->size ||
		    (e->op == SLT_ALIGNED && ev.align != e->align) || (e->op == SLT_REALLOC && ev.old_id != e->old_id) ||
		    ev.ts_ns != want_ts)
			fuzz_fail("%s: event %zu reads back from %s as op %d t%u id %llu size %llu @%llu, "
				  "was op %d t%u id %llu size %llu @%llu", what, i, text ? "text" : ".slt", ev.op,
				  ev.tid, (unsigned long long)ev.id, (unsigned long long)ev.size,
				  (unsigned long long)ev.ts_ns, e->op, e->tid, (unsigned long long)e->id,
				  (unsigned long long)e->size, (unsigned long long)want_ts);
	}
	if (rc < 0)
		fuzz_fail("%s: the %s copy fails: %s", what, text ? "text" : ".slt", slt_error(s));
	if (i != l->n)
		fuzz_fail("%s: the %s copy has %zu of the %zu events", what, text ? "text" : ".slt", i, l->n);
	slt_close(s);
	free(buf);
}

/* Returns the inconsistencies the consistency report counted. */
static uint64_t read_all(const char *path, enum slt_format fmt, bool strict, const char *what)
{
	struct slt_open_opts opts = { .format = fmt, .strict = strict };
	char err[1024];
	struct slt_source *s = slt_open(path, &opts, err, sizeof err);
	if (!s) {
		fuzz_check_error(err, path);
		return 0;
	}
	struct oracle o = { .events = 0 };
	struct evlog log = { 0 };
	slt_ids_init(&o.ids);
	struct slt_event ev;
	int rc;
	while ((rc = slt_next(s, &ev)) > 0) {
		check_event(&o, &ev, what);
		if (!strict)
			evlog_add(&log, &ev);
	}
	if (!strict) {
		round_trip(&log, slt_source_tick_ns(s), slt_source_meta(s), false, what);
		round_trip(&log, slt_source_tick_ns(s), slt_source_meta(s), true, what);
		free(log.ev);
	}
	if (rc < 0) {
		fuzz_check_error(slt_error(s), path);
		if (slt_next(s, &ev) != -1)
			fuzz_fail("%s: a source delivered an event after its error", what);
	} else {
		uint64_t events, max_ids;
		(void)slt_source_complete(s);
		if (slt_source_counts(s, &events, &max_ids) && slt_source_complete(s) &&
		    events != o.events)
			fuzz_fail("%s: the END record counts %llu events, the reader delivered %llu", what,
				  (unsigned long long)events, (unsigned long long)o.events);
		if (slt_source_max_ids(s) < o.ids.next)
			fuzz_fail("%s: max ids %llu below the ids used (%llu)", what,
				  (unsigned long long)slt_source_max_ids(s), (unsigned long long)o.ids.next);
	}
	uint64_t bad = slt_report_inconsistencies(slt_source_report(s));
	(void)slt_source_bytes(s);
	slt_ids_destroy(&o.ids);
	slt_close(s);
	return bad;
}

int fuzz_trace(const uint8_t *data, size_t size, enum slt_format fmt)
{
	/* gzip input goes to a `gzip -dc` child: gzip's robustness is not
	 * ours, and a process per input would slow the fuzzer a hundredfold.
	 * Corrupt gzip input has its own test (tests/e2e/test_errors.c). */
	if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b)
		return 0;
	const char *path = fuzz_file(data, size);
	/* Strict mode differs only where the report counts something. */
	if (read_all(path, fmt, false, slt_format_name(fmt)))
		read_all(path, fmt, true, slt_format_name(fmt));
	return 0;
}
