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

const char *fuzz_file(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("fuzz-input", MFD_CLOEXEC);
		if (fd < 0)
			fuzz_fail("memfd_create failed");
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
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
	slt_ids_init(&o.ids);
	struct slt_event ev;
	int rc;
	while ((rc = slt_next(s, &ev)) > 0)
		check_event(&o, &ev, what);
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
