/*
 * Go GODEBUG=allocfreetrace=1 output (Go 1.19-1.22, on stderr):
 *
 *   tracealloc(0xPTR, 0xSIZE, TYPE)    or  tracealloc(0xPTR, 0xSIZE)
 *   tracefree(0xPTR, 0xSIZE)
 *   tracegc()
 *
 * Every record is followed by a goroutine traceback (and tracegc by the
 * other goroutines' tracebacks up to "end tracegc"); those lines, and
 * anything else the program printed, are skipped, also where the program's
 * own stderr output shares a record's line (before the record, which is
 * read if it parses whole: prose that names a record is not one). Sizes are already rounded
 * (size class, 16 for a new tiny block, whole pages for large objects) and
 * tiny allocations that fit an existing block are not printed at all;
 * frees are reported when the sweeper reclaims an object. tracegc becomes
 * a GC marker. All events are thread 0 (goroutines are not threads).
 */
#include "source.h"

#include <string.h>

bool goalloc_line_like(const char *l)
{
	return !strncmp(l, "tracealloc(0x", 13) || !strncmp(l, "tracefree(0x", 12) ||
	       !strcmp(l, "tracegc()");
}

static int bad(struct slt_source *s, const char *line)
{
	return src_fail_line(s, "malformed allocfreetrace record \"%.60s\"", line);
}

/* "0xPTR, 0xSIZE" then ')' or ", TYPE)". */
static const char *two_hex(const char *p, uint64_t *ptr, uint64_t *size)
{
	if (!(p = parse_hex(p, ptr)) || p[0] != ',' || p[1] != ' ' || !(p = parse_hex(p + 2, size)))
		return NULL;
	return p;
}

/* One record, the whole of line: its op (SLT_MALLOC, SLT_FREE, SLT_GC),
 * pointer and size. false if line is not exactly one record. */
static bool parse_record(const char *line, enum slt_op *op, uint64_t *ptr, uint64_t *size)
{
	const char *p;
	if (!strncmp(line, "tracealloc(", 11)) {
		*op = SLT_MALLOC;
		return (p = two_hex(line + 11, ptr, size)) && (*p == ')' || !strncmp(p, ", ", 2)) &&
		       line[strlen(line) - 1] == ')';
	}
	if (!strncmp(line, "tracefree(", 10)) {
		*op = SLT_FREE;
		return (p = two_hex(line + 10, ptr, size)) && !strcmp(p, ")");
	}
	*op = SLT_GC;
	return !strcmp(line, "tracegc()");
}

static int goalloc_op(struct slt_source *s, enum slt_op op, uint64_t ptr, uint64_t size)
{
	return op == SLT_MALLOC ? imp_alloc(s, SLT_MALLOC, ptr, size, 0, 0)
	     : op == SLT_FREE ? imp_free(s, ptr, 0) : imp_mark(s, SLT_GC, 0);
}

/* Where a record starts in line, or NULL. The program's own stderr output
 * can come first on its line ("progress: tracealloc(...)"); a traceback's
 * "runtime.tracealloc(...)" frame is not a record (the name is part of a
 * longer one). */
static const char *record_start(const char *line)
{
	static const char *const names[] = { "tracealloc(", "tracefree(", "tracegc(" };
	const char *first = NULL;
	for (int i = 0; i < 3; i++) {
		for (const char *p = strstr(line, names[i]); p; p = strstr(p + 1, names[i])) {
			char b = p > line ? p[-1] : ' ';
			if (b == '.' || b == '_' || (b >= '0' && b <= '9') || ((b | 0x20) >= 'a' && (b | 0x20) <= 'z'))
				continue;
			if (!first || p < first)
				first = p;
			break;
		}
	}
	return first;
}

static int goalloc_next(struct slt_source *s, struct slt_event *ev)
{
	while (!imp_pop(s, ev)) {
		char *line;
		int rc = src_line(s, &line);
		if (rc <= 0) {
			s->complete = rc == 0;
			return rc;
		}
		const char *r = record_start(line);
		if (!r)
			continue;
		/* At the start of its line a record must parse; after other
		 * text it may be the program's prose ("calls tracegc() twice"),
		 * skipped unless it parses whole. */
		enum slt_op op;
		uint64_t ptr = 0, size = 0;
		bool ok = parse_record(r, &op, &ptr, &size);
		if (!ok && r == line)
			return bad(s, line);
		if (ok && goalloc_op(s, op, ptr, size) < 0)
			return -1;
	}
	return 1;
}

int goalloc_open(struct slt_source *s)
{
	s->next = goalloc_next;
	return 0;
}
