/*
 * valgrind --trace-malloc=yes output (the tool's log, e.g. --log-file):
 *
 *   --PID-- malloc(24) = 0x4A43040
 *   --PID-- calloc(4,100) = 0x4A430A0
 *   --PID-- realloc(0x4A43040,1000) = 0x4A43270
 *   --PID-- memalign(al 64, size 200) = 0x4A43700   (3.19: every aligned kind)
 *   --PID-- _ZnwmSt11align_val_t(size 128, al 64) = 0x4D70D80
 *   --PID-- free(0x4A43F30)       also _ZdlPv, _ZdaPv, _ZdlPvm, ... (C++ delete)
 *   --PID-- realloc(0x4A43A60,0)free(0x4A43A60)
 *   --PID--  = 0                  a nested call pushed the result to a new line
 *   --00:00:00:00.442 PID-- ...   with --time-stamp=yes (days:h:m:s.ms)
 *
 * Lines starting "==PID==" (the tool's messages) and calls we do not know
 * (malloc_usable_size, ...) are skipped; free(0x0) is not an event. The
 * output has no thread ids (valgrind runs one thread at a time, so the file
 * order is a true serialization): every event is thread 0.
 */
#include "source.h"

#include <string.h>

/* days:hours:minutes:seconds.milliseconds in ns; -1 past 2^64 ns (584 years). */
static int stamp_ns(const uint64_t v[5], uint64_t *ns)
{
	static const uint64_t unit[4] = { 24, 60, 60, 1000 };
	uint64_t t = v[0];
	for (int i = 0; i < 4; i++)
		if (__builtin_mul_overflow(t, unit[i], &t) || __builtin_add_overflow(t, v[i + 1], &t))
			return -1;
	return __builtin_mul_overflow(t, 1000000ull, ns) ? -1 : 0;
}

/* Skip "--PID-- " or "--D:H:M:S.MS PID-- "; parse the time stamp into ns.
 * *stamp: 0 none, 1 in *ts, -1 a time stamp past 2^64 ns. */
static const char *prefix(const char *l, uint64_t *ts, int *stamp)
{
	uint64_t v[5] = { 0 }, pid;
	const char *p = l + 2;
	*stamp = 0;
	if (l[0] != '-' || l[1] != '-')
		return NULL;
	const char *q = parse_dec(p, &v[0]);
	if (q && *q == ':') {
		for (int i = 1; i < 4; i++)
			if (!q || *q != ':' || !(q = parse_dec(q + 1, &v[i])))
				return NULL;
		if (*q != '.' || !(q = parse_dec(q + 1, &v[4])) || *q != ' ')
			return NULL;
		*stamp = stamp_ns(v, ts) < 0 ? -1 : 1;
		p = q + 1;
	}
	if (!(q = parse_dec(p, &pid)) || q[0] != '-' || q[1] != '-' || q[2] != ' ')
		return NULL;
	return q + 3;
}

static const char *const alloc_names[] = {
	"malloc", "calloc", "realloc", "memalign", "posix_memalign", "aligned_alloc", "valloc",
	"pvalloc", NULL,
};

static bool known_call(const char *c)
{
	for (int i = 0; alloc_names[i]; i++) {
		size_t n = strlen(alloc_names[i]);
		if (!strncmp(c, alloc_names[i], n) && c[n] == '(')
			return true;
	}
	return !strncmp(c, "free(", 5) || !strncmp(c, "_Zn", 3) || !strncmp(c, "_Zd", 3);
}

bool valgrind_line_like(const char *l)
{
	uint64_t ts;
	int has;
	const char *c = prefix(l, &ts, &has);
	return c && known_call(c);
}

static int bad(struct slt_source *s, const char *what, const char *line)
{
	return src_fail_line(s, "%s in \"%.60s\"", what, line);
}

/* Arguments: "N", "N,M", "0xP,N", "al A, size N", "size N, al A". */
static const char *args(const char *p, uint64_t *a, uint64_t *b, uint64_t *al, bool *two)
{
	*two = false;
	*al = 0;
	if (!strncmp(p, "al ", 3)) {
		if (!(p = parse_dec(p + 3, al)) || strncmp(p, ", size ", 7) || !(p = parse_dec(p + 7, a)))
			return NULL;
		return p;
	}
	if (!strncmp(p, "size ", 5)) {
		if (!(p = parse_dec(p + 5, a)) || strncmp(p, ", al ", 5) || !(p = parse_dec(p + 5, al)))
			return NULL;
		return p;
	}
	p = (p[0] == '0' && p[1] == 'x') ? parse_hex(p, a) : parse_dec(p, a);
	if (p && *p == ',') {
		*two = true;
		p = parse_dec(p + 1, b);
	}
	return p;
}

enum vg_kind { VG_ALLOC, VG_CALLOC, VG_REALLOC };

/* Apply a completed allocation call with its result pointer. */
static int apply_alloc(struct slt_source *s, enum vg_kind kind, uint64_t a, uint64_t b,
		       uint64_t al, uint64_t res)
{
	if (kind == VG_REALLOC) {
		if (!res && b) {
			s->report.failed_allocs++;
			return 0;
		}
		return imp_realloc(s, a, res, b, 0);
	}
	if (!res) {
		s->report.failed_allocs++;
		return 0;
	}
	if (kind == VG_CALLOC) {
		uint64_t n;
		if (__builtin_mul_overflow(a, b, &n)) {
			s->report.failed_allocs++;
			return 0;
		}
		return imp_alloc(s, SLT_CALLOC, res, n, 0, 0);
	}
	if (al) {
		if (al > (1ull << SLT_MAX_ALIGN_LOG2))
			return src_fail_line(s, "alignment %llu out of range", (unsigned long long)al);
		uint64_t p2 = al < 2 ? 1 : 1ull << (64 - __builtin_clzll(al - 1));
		if (p2 != al && imp_count(s, &s->report.lost_alignment,
					  "alignment that is not a power of two") < 0)
			return -1;
		return imp_alloc(s, SLT_ALIGNED, res, a, p2, 0);
	}
	return imp_alloc(s, SLT_MALLOC, res, a, 0, 0);
}

/* A result " = 0x..." (or " = 0") after the call text. */
static int result(const char *p, uint64_t *res)
{
	while (*p == ' ')
		p++;
	if (p[0] != '=' || p[1] != ' ')
		return -1;
	p = (p[2] == '0' && p[3] == 'x') ? parse_hex(p + 2, res) : parse_dec(p + 2, res);
	return p && !*p ? 0 : -1;
}

static int call(struct slt_source *s, const char *c, const char *line)
{
	const char *open = strchr(c, '(');
	uint64_t a = 0, b = 0, al = 0, res;
	bool two;
	if (!open)	/* "_Zn..." / "_Zd..." match known_call without a '(' */
		return bad(s, "malformed call", line);
	const char *p = args(open + 1, &a, &b, &al, &two);
	if (!p || *p != ')')
		return bad(s, "malformed call", line);
	p++;
	bool is_free = !strncmp(c, "free(", 5) || !strncmp(c, "_Zd", 3);
	if (is_free)
		return a ? imp_free(s, a, 0) : 0;
	enum vg_kind kind = !strncmp(c, "calloc(", 7) ? VG_CALLOC : !strncmp(c, "realloc(", 8) ? VG_REALLOC : VG_ALLOC;
	if ((kind != VG_ALLOC) != two)
		return bad(s, "wrong number of arguments", line);
	if (result(p, &res) < 0) {
		if (*p && strncmp(p, "free(", 5) && strncmp(p, "malloc(", 7))
			return bad(s, "malformed result", line);
		/* The result follows on a later " = X" line, after a nested call. */
		s->pend_call = true;
		s->pend_kind = (uint8_t)kind;
		s->pend_a = a;
		s->pend_b = b;
		s->pend_al = al;
		s->pend_lineno = s->lineno;
		return 0;
	}
	return apply_alloc(s, kind, a, b, al, res);
}

/* A " = X" line completing the pending call. */
static int finish_pending(struct slt_source *s, const char *c, const char *line)
{
	uint64_t res;
	s->pend_call = false;
	if (result(c, &res) < 0)
		return bad(s, "malformed result", line);
	return apply_alloc(s, (enum vg_kind)s->pend_kind, s->pend_a, s->pend_b, s->pend_al, res);
}

static int valgrind_line(struct slt_source *s, const char *line)
{
	uint64_t ts;
	int stamp;
	const char *c = prefix(line, &ts, &stamp);
	if (!c)
		return 0;	/* "==PID==" messages, program output */
	if (stamp < 0)
		return bad(s, "time stamp out of range", line);
	if (stamp > 0 && ts > s->ts_ns)
		s->ts_ns = ts;
	if (s->pend_call) {
		if (c[0] == ' ' || c[0] == '=')
			return finish_pending(s, c, line);
		if (known_call(c))
			return bad(s, "call while a result is pending", line);
		return 0;
	}
	if (c[0] == ' ' && c[1] == '=')
		return bad(s, "result without a call", line);
	return known_call(c) ? call(s, c, line) : 0;
}

static int valgrind_next(struct slt_source *s, struct slt_event *ev)
{
	while (!imp_pop(s, ev)) {
		char *line;
		int rc = src_line(s, &line);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (s->pend_call) {
				s->lineno = s->pend_lineno;
				return src_fail_line(s, "call without its result at end of trace");
			}
			s->complete = true;
			return 0;
		}
		if (valgrind_line(s, line) < 0)
			return -1;
	}
	return 1;
}

int valgrind_open(struct slt_source *s)
{
	s->next = valgrind_next;
	return 0;
}
