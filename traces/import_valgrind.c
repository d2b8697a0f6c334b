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
 *   --PID-- realloc(0x0,77)malloc(77) = 0x4A43040   (3.19: realloc(NULL, n)
 *                                 calls malloc, whose result is the only one)
 *   --00:00:00:00.442 PID-- ...   with --time-stamp=yes (days:h:m:s.ms)
 *
 * Lines starting "==PID==" (the tool's messages: the first names the
 * traced process, "Using Valgrind-X.Y" its version) and calls we do not
 * know (malloc_usable_size, ...) are skipped; free(0x0) is not an event.
 * Only the traced process's lines count: a child that forks without exec
 * logs to the same file. The output has no thread ids: every event is
 * thread 0. valgrind runs one thread at a time but can switch threads
 * between a call's text and its " = result", so other threads' calls may
 * come in between (calls(): pending calls, each result to the latest that
 * can return it); the event takes its place at the result (finish(): but
 * a realloc's where its old address is reused first).
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

/* Skip "--PID-- " or "--D:H:M:S.MS PID-- " (the malloc trace; with mark
 * '=' the tool's "==PID== " messages); parse the time stamp into ns.
 * *stamp: 0 none, 1 in *ts, -1 a time stamp past 2^64 ns. */
static const char *prefix(const char *l, char mark, uint64_t *ts, int *stamp, uint64_t *pid)
{
	uint64_t v[5] = { 0 };
	const char *p = l + 2;
	*stamp = 0;
	if (l[0] != mark || l[1] != mark)
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
	if (!(q = parse_dec(p, pid)) || q[0] != mark || q[1] != mark || (q[2] != ' ' && q[2] != 0))
		return NULL;
	return q[2] ? q + 3 : q + 2;
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

/* A call line, or valgrind's own header line "==PID== Using Valgrind-...",
 * which comes first in every log (with -v, over a hundred lines come
 * before the first call). */
bool valgrind_line_like(const char *l)
{
	uint64_t ts, pid;
	int has;
	const char *c = prefix(l, '-', &ts, &has, &pid);
	if (c)
		return known_call(c);
	c = prefix(l, '=', &ts, &has, &pid);
	return c && !strncmp(c, "Using Valgrind-", 15);
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

/* A result " = 0x..." (or " = 0"), which ends its line. */
static int result(const char *p, uint64_t *res)
{
	while (*p == ' ')
		p++;
	if (p[0] != '=' || p[1] != ' ')
		return -1;
	p = (p[2] == '0' && p[3] == 'x') ? parse_hex(p + 2, res) : parse_dec(p + 2, res);
	return p && !*p ? 0 : -1;
}

static bool is_result(const char *c)
{
	while (*c == ' ')
		c++;
	return c[0] == '=' && c[1] == ' ';
}

/* One call "name(args)" at c, into *k (kind VG_FREE for free and C++
 * delete); *end is after its ')'. */
enum { VG_FREE = 3 };
static int parse_call(struct slt_source *s, const char *c, const char *line, struct vg_call *k, const char **end)
{
	const char *open = strchr(c, '(');
	bool two;
	if (!open)	/* "_Zn..." / "_Zd..." match known_call without a '(' */
		return bad(s, "malformed call", line);
	const char *p = args(open + 1, &k->a, &k->b, &k->al, &two);
	if (!p || *p != ')')
		return bad(s, "malformed call", line);
	*end = p + 1;
	k->lineno = s->lineno;
	k->freed = k->early = false;
	if (!strncmp(c, "free(", 5) || !strncmp(c, "_Zd", 3)) {
		k->kind = VG_FREE;
		return 0;
	}
	k->kind = !strncmp(c, "calloc(", 7) ? VG_CALLOC : !strncmp(c, "realloc(", 8) ? VG_REALLOC : VG_ALLOC;
	if ((k->kind != VG_ALLOC) != two)
		return bad(s, "wrong number of arguments", line);
	return 0;
}

static int push_pending(struct slt_source *s, const struct vg_call *k, const char *line)
{
	if (s->vg_npend == VG_MAX_PENDING)
		return src_fail_line(s, "more than %d calls waiting for their results in \"%.60s\"", VG_MAX_PENDING, line);
	s->vg_pend[s->vg_npend++] = *k;
	return 0;
}

static void drop_pending(struct slt_source *s, int i)
{
	memmove(&s->vg_pend[i], &s->vg_pend[i + 1], (s->vg_npend - (unsigned)i - 1) * sizeof s->vg_pend[0]);
	s->vg_npend--;
}

/* valgrind before 3.21 serves realloc(NULL, n) by calling its malloc(n),
 * whose line and result are the only ones: "realloc(0x0,n)malloc(n) = P"
 * (on one line unless threads switch in between). Known from the header's
 * version, or from the first such pair seen. */
static bool null_realloc_nested(const struct slt_source *s)
{
	return s->vg_null_nested > 0;
}

static bool is_null_realloc(const struct vg_call *k)
{
	return k->kind == VG_REALLOC && k->a == 0;
}

static bool is_zero_realloc(const struct vg_call *k)
{
	return k->kind == VG_REALLOC && k->a != 0 && k->b == 0;
}

/* A calloc whose n*m overflows returns NULL before printing a result. */
static bool calloc_overflows(const struct vg_call *k)
{
	uint64_t n;
	return k->kind == VG_CALLOC && __builtin_mul_overflow(k->a, k->b, &n);
}

/* Can call k return res? realloc(p, 0) returns NULL (it frees p); a
 * nested realloc(NULL, n) and an overflowing calloc print no result. */
static bool takes(const struct slt_source *s, const struct vg_call *k, uint64_t res)
{
	if (is_zero_realloc(k))
		return res == 0;
	return !calloc_overflows(k) && !(is_null_realloc(k) && null_realloc_nested(s));
}

/* The innermost pending call matching (kind, a, b), not yet freed, or -1. */
static int find_pending(const struct slt_source *s, uint8_t kind, uint64_t a, uint64_t b)
{
	for (int i = (int)s->vg_npend - 1; i >= 0; i--) {
		const struct vg_call *k = &s->vg_pend[i];
		if (k->kind == kind && k->a == a && k->b == b && !k->freed)
			return i;
	}
	return -1;
}

/* A call with no result of its own on its line: another call follows
 * (nested in it, or another thread's), or its result comes later. */
static int call_open(struct slt_source *s, const struct vg_call *k, const char *line)
{
	if (calloc_overflows(k)) {
		s->report.failed_allocs++;
		return 0;
	}
	return push_pending(s, k, line);
}

/*
 * Call k's event, with its result res. valgrind's realloc moves and frees
 * the old block inside the call, before its result is printed: another
 * allocation can get that address first. That realloc has happened by
 * then: its event is taken there (imp_realloc_early), its new address
 * mapped when its result comes.
 */
static int finish(struct slt_source *s, const struct vg_call *k, uint64_t res)
{
	if (res) {
		for (unsigned i = 0; i < s->vg_npend; i++) {
			struct vg_call *p = &s->vg_pend[i];
			if (p->kind == VG_REALLOC && p->a == res && p->b && !p->early) {
				p->id = imp_realloc_early(s, p->a, p->b, 0);
				p->early = p->id != UINT64_MAX;
			}
		}
	}
	if (k->early) {
		if (!res)
			return imp_count(s, &s->report.lost_results, "realloc taken early returned NULL");
		return imp_realloc_late(s, res, k->id, 0);
	}
	return apply_alloc(s, (enum vg_kind)k->kind, k->a, k->b, k->al, res);
}

/* Pending call i takes res: its event. */
static int complete(struct slt_source *s, int i, uint64_t res)
{
	struct vg_call k = s->vg_pend[i];
	drop_pending(s, i);
	return finish(s, &k, res);
}

/* The innermost realloc(p, 0) whose free(p) came: it prints " = 0" next,
 * unless threads switch first; then its NULL can end another thread's
 * call line ("malloc(185) = 0"). -1 if none. */
static int freed_pending(const struct slt_source *s)
{
	for (int i = (int)s->vg_npend - 1; i >= 0; i--)
		if (s->vg_pend[i].freed)
			return i;
	return -1;
}

/* The innermost pending call that can take res, or -1; a NULL first to a
 * freed realloc(p, 0), which owes one. */
static int taker(const struct slt_source *s, uint64_t res)
{
	int i = res == 0 ? freed_pending(s) : -1;
	for (i = i >= 0 ? i : (int)s->vg_npend - 1; i >= 0; i--)
		if (takes(s, &s->vg_pend[i], res))
			return i;
	return -1;
}

/* A call printed whole: a free, or an allocation with its result. Its
 * own nested calls are not events: realloc(p, 0)'s free(p) (the realloc
 * frees), a nested realloc(NULL, n)'s malloc(n) (the malloc stands for
 * it). prev: the call before k on its line, if it was left open. */
static int call_done(struct slt_source *s, const struct vg_call *k, const struct vg_call *prev, bool has_res,
		     uint64_t res, const char *line)
{
	int i;
	if (k->kind == VG_FREE) {
		if (k->a && (i = find_pending(s, VG_REALLOC, k->a, 0)) >= 0) {
			s->vg_pend[i].freed = true;
			return 0;
		}
		return k->a ? imp_free(s, k->a, 0) : 0;
	}
	if (k->kind == VG_ALLOC && !k->al) {
		if (prev && is_null_realloc(prev) && prev->b == k->a && s->vg_null_nested < 0)
			s->vg_null_nested = 1;	/* "realloc(0x0,n)malloc(n)": this valgrind nests */
		if (null_realloc_nested(s) && (i = find_pending(s, VG_REALLOC, 0, k->a)) >= 0)
			drop_pending(s, i);
	}
	if (!has_res)
		return call_open(s, k, line);
	/* The result on k's line is another pending call's (another thread's,
	 * printed after a switch) if k cannot return it, or if it is the NULL
	 * a freed realloc(p, 0) still owes (a malloc's NULL is a rare failure) */
	i = res == 0 && !is_zero_realloc(k) ? freed_pending(s) : -1;
	if (i < 0 && !takes(s, k, res))
		i = taker(s, res);
	if (i >= 0) {
		if (call_open(s, k, line) < 0)
			return -1;
		return complete(s, i, res);
	}
	return finish(s, k, res);
}

/*
 * A line of the traced process: calls in order, then at most one result
 * " = X", which is the last call's or, with no call, the innermost pending
 * one's that can take it. valgrind runs one thread at a time but may
 * switch threads between a call's text and its result, so calls of other
 * threads can come between them, on the same line or on lines between.
 */
enum { VG_MAX_CALLS_PER_LINE = 16 };	/* events per line stay within the queue */

static int calls(struct slt_source *s, const char *c, const char *line)
{
	struct vg_call k, prev;
	uint64_t res = 0;
	int n = 0;
	while (known_call(c)) {
		if (n) {	/* the call before this one had no result on the line */
			if (call_done(s, &k, n > 1 ? &prev : NULL, false, 0, line) < 0)
				return -1;
			prev = k;
		}
		if (++n > VG_MAX_CALLS_PER_LINE)
			return src_fail_line(s, "more than %d calls on one line in \"%.60s\"", VG_MAX_CALLS_PER_LINE,
					     line);
		if (parse_call(s, c, line, &k, &c) < 0)
			return -1;
	}
	bool has_res = *c != 0;
	if (has_res && result(c, &res) < 0)
		return bad(s, "malformed result", line);
	if (n)
		return call_done(s, &k, n > 1 ? &prev : NULL, has_res, res, line);
	int i = taker(s, res);
	if (i < 0)	/* its call's line was lost, or it was paired wrongly before */
		return imp_count(s, &s->report.lost_results, "result without a call");
	return complete(s, i, res);
}

/* "==PID== ..." lines: the first names the traced process (valgrind's
 * header comes before any call, also before a fork's child's); "Using
 * Valgrind-X.Y.Z" says how realloc(NULL, n) is printed. */
static void tool_line(struct slt_source *s, const char *m, uint64_t pid)
{
	unsigned major, minor;
	if (!s->vg_pid)
		s->vg_pid = pid;
	const char *v = strstr(m, "Using Valgrind-");
	if (v && sscanf(v + 15, "%u.%u", &major, &minor) == 2 && s->vg_null_nested < 0)
		s->vg_null_nested = major < 3 || (major == 3 && minor < 21);
}

static int valgrind_line(struct slt_source *s, const char *line)
{
	uint64_t ts, pid;
	int stamp;
	const char *c = prefix(line, '-', &ts, &stamp, &pid);
	if (!c) {
		const char *m = prefix(line, '=', &ts, &stamp, &pid);
		if (m)
			tool_line(s, m, pid);
		return 0;	/* the tool's messages, program output, other lines */
	}
	if (!known_call(c) && !is_result(c))
		return 0;
	if (!s->vg_pid)
		s->vg_pid = pid;
	if (pid != s->vg_pid)
		return 0;	/* a fork's child logging to the same file */
	s->vg_calls = true;
	if (stamp < 0)
		return bad(s, "time stamp out of range", line);
	if (stamp > 0 && ts > s->ts_ns)
		s->ts_ns = ts;
	return calls(s, c, line);
}

static int valgrind_next(struct slt_source *s, struct slt_event *ev)
{
	while (!imp_pop(s, ev)) {
		char *line;
		int rc = src_line(s, &line);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			/* A call whose " = X" never came (the program ended
			 * inside it) is not an event, but a realloc(p, 0) whose
			 * free(p) came did free p: one at a time, its events
			 * popped before the next. */
			if (s->vg_npend) {
				struct vg_call k = s->vg_pend[--s->vg_npend];
				s->lineno = k.lineno;
				if (k.freed ? apply_alloc(s, VG_REALLOC, k.a, 0, 0, 0) < 0
					    : imp_count(s, &s->report.lost_results, "call without its result at end of trace") < 0)
					return -1;
				continue;
			}
			if (!s->vg_calls)
				return src_fail_line(s, "no allocation calls in the log (run valgrind with --trace-malloc=yes)");
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
	s->vg_null_nested = -1;	/* unknown until the header or a nested pair says */
	return 0;
}
