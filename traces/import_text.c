/*
 * The plain text trace form: one operation per line, for hand-written tests
 * and for reading traces by eye (`spanlab convert --to text`).
 *
 *   # spanlab text trace v1        optional header; '#' starts a comment
 *   [tTID] [@NS] OP ARGS
 *   m KEY SIZE                     malloc
 *   c KEY SIZE                     calloc (SIZE is the product n*m)
 *   a KEY SIZE ALIGN               aligned allocation (ALIGN a power of two)
 *   r OLDKEY NEWKEY SIZE           realloc (NEWKEY may equal OLDKEY)
 *   f KEY                          free
 *   gc | thread-start | thread-exit
 *
 * KEY names an object like an address does (decimal or 0x-hex, below
 * 2^63); keys map to dense ids by the same rule as addresses, so a trace
 * written with dense ids reads back with the same ids. tTID defaults to 0;
 * @NS is a time in nanoseconds that stays until the next @.
 */
#include "source.h"

#include <inttypes.h>
#include <string.h>

#define MAX_KEY (UINT64_C(1) << 63)

bool text_line_like(const char *l)
{
	if (l[0] == 't' && l[1] >= '0' && l[1] <= '9')
		return true;
	if (l[0] == '@')
		return true;
	if (!strcmp(l, "gc") || !strncmp(l, "thread-", 7))
		return true;
	return strchr("mcarf", l[0]) && l[0] && l[1] == ' ' && l[2] >= '0' && l[2] <= '9';
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A number field (decimal or 0x-hex) followed by space or end of line. */
static const char *field(const char *p, uint64_t *v)
{
	p = skip_ws(p);
	const char *e = (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) ? parse_hex(p, v)
								      : parse_dec(p, v);
	if (!e || (*e && *e != ' ' && *e != '\t'))
		return NULL;
	return e;
}

static int bad(struct slt_source *s, const char *what, const char *line)
{
	return src_fail_line(s, "%s in \"%.60s\"", what, line);
}

/* Parse the optional tTID and @NS prefixes; returns the rest. */
static const char *prefixes(struct slt_source *s, const char *p, uint32_t *tid, const char *line)
{
	uint64_t v;
	*tid = 0;
	p = skip_ws(p);
	if (p[0] == 't' && p[1] >= '0' && p[1] <= '9') {
		if (!(p = field(p + 1, &v)) || v >= SLT_MAX_TID)
			return bad(s, "bad thread id", line), NULL;
		*tid = (uint32_t)v;
		p = skip_ws(p);
	}
	if (p[0] == '@') {
		if (!(p = field(p + 1, &v)))
			return bad(s, "bad time", line), NULL;
		if (v > s->ts_ns)
			s->ts_ns = v;
		p = skip_ws(p);
	}
	return p;
}

static int key_ok(struct slt_source *s, uint64_t k, const char *line)
{
	return k < MAX_KEY ? 0 : bad(s, "key out of range", line);
}

/* Apply one operation line; returns 0 or -1. */
static int text_op(struct slt_source *s, const char *p, uint32_t tid, const char *line)
{
	uint64_t a = 0, b = 0, c = 0;
	char op = p[0];
	if (!strcmp(p, "gc"))
		return imp_mark(s, SLT_GC, tid);
	if (!strcmp(p, "thread-start"))
		return imp_mark(s, SLT_THREAD_START, tid);
	if (!strcmp(p, "thread-exit"))
		return imp_mark(s, SLT_THREAD_EXIT, tid);
	if (!op || (p[1] != ' ' && p[1] != '\t') || !strchr("mcarf", op))
		return bad(s, "unknown operation", line);
	int nargs = op == 'f' ? 1 : (op == 'm' || op == 'c') ? 2 : 3;
	const char *q = p + 1;
	uint64_t *args[3] = { &a, &b, &c };
	for (int i = 0; i < nargs; i++)
		if (!(q = field(q, args[i])))
			return bad(s, "bad or missing number", line);
	if (*skip_ws(q))
		return bad(s, "extra fields", line);
	if (key_ok(s, a, line) < 0 || (op == 'r' && key_ok(s, b, line) < 0))
		return -1;
	switch (op) {
	case 'm':
		return imp_alloc(s, SLT_MALLOC, a + 1, b, 0, tid);
	case 'c':
		return imp_alloc(s, SLT_CALLOC, a + 1, b, 0, tid);
	case 'a':
		if (!c || (c & (c - 1)) || c > (UINT64_C(1) << SLT_MAX_ALIGN_LOG2))
			return bad(s, "alignment is not a power of two up to 2^40", line);
		return imp_alloc(s, SLT_ALIGNED, a + 1, b, c, tid);
	case 'r':
		return imp_realloc(s, a + 1, b + 1, c, tid);
	default:
		return imp_free(s, a + 1, tid);
	}
}

static int text_next(struct slt_source *s, struct slt_event *ev)
{
	while (!imp_pop(s, ev)) {
		char *line;
		int rc = src_line(s, &line);
		if (rc <= 0) {
			s->complete = rc == 0;
			return rc;
		}
		const char *p = skip_ws(line);
		if (!*p || *p == '#')
			continue;
		uint32_t tid;
		if (!(p = prefixes(s, p, &tid, line)))
			return -1;
		if (text_op(s, p, tid, line) < 0)
			return -1;
	}
	return 1;
}

int text_open(struct slt_source *s)
{
	s->next = text_next;
	return 0;
}
