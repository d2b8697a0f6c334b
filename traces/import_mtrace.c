/*
 * glibc mtrace text (MALLOC_TRACE; libc_malloc_debug.so since 2.34):
 *
 *   = Start
 *   @ CALLER + 0xPTR 0xSIZE     malloc, calloc, memalign & co, realloc(NULL, n)
 *   @ CALLER - 0xPTR            free, and realloc(p, 0)
 *   @ CALLER < 0xOLD            realloc, first half ...
 *   @ CALLER > 0xNEW 0xSIZE     ... second half (same or a new pointer)
 *   @ CALLER ! 0xOLD 0xSIZE     realloc that failed
 *   = End
 *
 * CALLER is "PATH:(SYM+OFF)[0xADDR]", "PATH:[0xADDR]" or "[0xADDR]"; it
 * always ends with ']', so the operation is read after the last ']'. A
 * NULL pointer is "(nil)". The format has no thread ids (every event is
 * thread 0; with threads the order of a free and a reuse of its address
 * can be swapped: late_expect below), no time, and cannot tell calloc or
 * aligned allocations from malloc (all become malloc, and realloc(p, 0)
 * is an ordinary free): docs/trace-capture.md says so.
 */
#include "source.h"

#include <string.h>

bool mtrace_line_like(const char *l)
{
	if (!strcmp(l, "= Start"))
		return true;
	if (l[0] != '@' || l[1] != ' ')
		return false;
	const char *b = strrchr(l, ']');
	return b && b[1] == ' ' && strchr("+-<>!", b[2]) && b[2] && b[3] == ' ' && b[4] == '0' &&
	       b[5] == 'x';
}

static int bad(struct slt_source *s, const char *what, const char *line)
{
	return src_fail_line(s, "%s in \"%.60s\"", what, line);
}

/* " 0xHEX" fields after the op (glibc prints a NULL pointer as "(nil)");
 * n of them, nothing after. */
static int hex_fields(const char *p, uint64_t *v, int n)
{
	for (int i = 0; i < n; i++) {
		if (*p++ != ' ')
			return -1;
		if (!strncmp(p, "(nil)", 5)) {
			v[i] = 0;
			p += 5;
		} else if (!(p = parse_hex(p, &v[i]))) {
			return -1;
		}
	}
	return *p ? -1 : 0;
}

/*
 * With threads, glibc (2.34 on) writes a free's line after the memory is
 * free: another thread can be given the address, and write its '+',
 * first. So an allocation of a live address (counted as double_allocs,
 * the old object freed there) expects the old object's late '-' (or '<'
 * of a realloc that moved it): the next one for that address within
 * LATE_WINDOW records is taken as it, not as the new object's. The window
 * is wide (a descheduled thread writes its line thousands of records
 * later); the late line comes in every real trace, so a window that
 * swallowed a genuine free would need a free missing from the file.
 */
enum { LATE_WINDOW = 1 << 20 };

static void late_expect(struct slt_source *s, uint64_t key)
{
	struct mt_late *l = &s->mt_late[s->mt_nlate++ % MT_LATE_SLOTS];
	l->key = key;
	l->lineno = s->lineno;
}

static bool late_take(struct slt_source *s, uint64_t key)
{
	for (int i = 0; i < MT_LATE_SLOTS; i++) {
		struct mt_late *l = &s->mt_late[i];
		if (l->key == key && l->lineno && s->lineno - l->lineno <= LATE_WINDOW) {
			l->key = 0;
			return true;
		}
	}
	return false;
}

/* An allocation at key: of a live address, expect the old one's late free. */
static int mt_alloc(struct slt_source *s, uint64_t key, uint64_t size)
{
	if (imp_live(s, key))
		late_expect(s, key);
	return imp_alloc(s, SLT_MALLOC, key, size, 0, 0);
}

static int mtrace_op(struct slt_source *s, const char *line)
{
	const char *p = line;
	if (p[0] == '@') {
		const char *b = strrchr(p, ']');
		if (!b || b[1] != ' ')
			return bad(s, "caller without ']'", line);
		p = b + 2;
	}
	uint64_t v[2];
	char op = p[0];
	int n = (op == '+' || op == '>' || op == '!') ? 2 : 1;
	if (!op || !strchr("+-<>!", op) || hex_fields(p + 1, v, n) < 0)
		return bad(s, "malformed mtrace record", line);
	if (op != '>' && s->pend_realloc)
		return bad(s, "'<' not followed by '>'", line);
	switch (op) {
	case '+':
		if (!v[0]) {	/* "+ (nil) SIZE": the allocation failed */
			s->report.failed_allocs++;
			return 0;
		}
		return mt_alloc(s, v[0], v[1]);
	case '-':
		if (!v[0] || late_take(s, v[0]))
			return 0;	/* free(NULL); an old object's late free */
		return imp_free(s, v[0], 0);
	case '<':
		s->pend_realloc = true;
		s->pend_old = v[0];
		return 0;
	case '>':
		if (!s->pend_realloc)
			return bad(s, "'>' without a preceding '<'", line);
		s->pend_realloc = false;
		if (!v[0]) {	/* "> (nil) SIZE": failed, the old object stays */
			s->report.failed_allocs++;
			return 0;
		}
		/* the old object's late realloc moved it (in place it would
		 * be the new owner's, the old object being free) */
		if (s->pend_old && v[0] != s->pend_old && late_take(s, s->pend_old))
			return mt_alloc(s, v[0], v[1]);
		if (v[0] != s->pend_old && imp_live(s, v[0]))
			late_expect(s, v[0]);
		return imp_realloc(s, s->pend_old, v[0], v[1], 0);
	default:
		s->report.failed_allocs++;
		return 0;
	}
}

static int mtrace_next(struct slt_source *s, struct slt_event *ev)
{
	while (!imp_pop(s, ev)) {
		char *line;
		int rc = src_line(s, &line);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (s->pend_realloc)
				return src_fail_line(s, "trace ends inside a realloc ('<' without '>')");
			s->complete = true;
			return 0;
		}
		if (!line[0] || line[0] == '=')
			continue;	/* "= Start", "= End" */
		if (mtrace_op(s, line) < 0)
			return -1;
	}
	return 1;
}

int mtrace_open(struct slt_source *s)
{
	s->next = mtrace_next;
	return 0;
}
