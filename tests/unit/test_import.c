/*
 * Importers on real samples (tests/data, captured as tests/data/README.md
 * says): counts and live bytes from the importer against a deliberately
 * naive reference parser in this file (sscanf and a linear address table),
 * gzip input, strict mode, and malformed lines in every text format.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "slt.h"
#include "testlib.h"

struct stats {
	uint64_t allocs, frees, live, peak, gcs;
};

/* The importer's view. */
static struct stats via_source(const char *path, enum slt_format want)
{
	char err[1024];
	struct slt_source *s = slt_open(path, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	cr_assert_eq(slt_source_format(s), want, "%s detected as %s", path,
		     slt_format_name(slt_source_format(s)));
	struct stats st = { 0 };
	static uint64_t size[1 << 16];
	struct slt_event ev;
	int rc;
	while ((rc = slt_next(s, &ev)) > 0) {
		cr_assert_lt(ev.id, 1 << 16);
		switch (ev.op) {
		case SLT_MALLOC: case SLT_CALLOC: case SLT_ALIGNED:
			st.allocs++, st.live += size[ev.id] = ev.size;
			break;
		case SLT_REALLOC:
			st.live += ev.size - size[ev.id], size[ev.id] = ev.size;
			break;
		case SLT_FREE: st.frees++, st.live -= size[ev.id]; break;
		case SLT_GC: st.gcs++; break;
		default: break;
		}
		if (st.live > st.peak)
			st.peak = st.live;
	}
	cr_assert_eq(rc, 0, "%s", slt_error(s));
	slt_close(s);
	return st;
}

/* ---- the naive reference: a linear table of (address, size) ---------- */

struct ref {
	unsigned long addr[4096], size[4096];
	int n;
	struct stats st;
};

static int ref_find(struct ref *r, unsigned long a)
{
	for (int i = 0; i < r->n; i++)
		if (r->addr[i] == a)
			return i;
	return -1;
}

static void ref_alloc(struct ref *r, unsigned long a, unsigned long size)
{
	cr_assert_eq(ref_find(r, a), -1, "sample reuses a live address");
	r->addr[r->n] = a, r->size[r->n++] = size;
	r->st.allocs++, r->st.live += size;
	if (r->st.live > r->st.peak)
		r->st.peak = r->st.live;
}

static void ref_free(struct ref *r, unsigned long a)
{
	int i = ref_find(r, a);
	if (i < 0)
		return;
	r->st.frees++, r->st.live -= r->size[i];
	r->addr[i] = r->addr[--r->n], r->size[i] = r->size[r->n];
}

static void ref_realloc(struct ref *r, unsigned long old, unsigned long nw, unsigned long size)
{
	int i = ref_find(r, old);
	cr_assert_geq(i, 0);
	r->st.live += size - r->size[i];
	r->addr[i] = nw, r->size[i] = size;
	if (r->st.live > r->st.peak)
		r->st.peak = r->st.live;
}

static FILE *open_data(const char *name)
{
	char buf[4096];
	FILE *f = fopen(tl_root_path(name, buf, sizeof buf), "r");
	cr_assert(f, "%s", name);
	return f;
}

static void check(const char *name, enum slt_format fmt, const struct ref *r)
{
	char buf[4096];
	struct stats st = via_source(tl_root_path(name, buf, sizeof buf), fmt);
	cr_assert_eq(st.allocs, r->st.allocs, "%s allocs %llu != %llu", name,
		     (unsigned long long)st.allocs, (unsigned long long)r->st.allocs);
	cr_assert_eq(st.frees, r->st.frees, "%s frees", name);
	cr_assert_eq(st.live, r->st.live, "%s final live", name);
	cr_assert_eq(st.peak, r->st.peak, "%s peak", name);
	cr_assert_eq(st.gcs, r->st.gcs, "%s gc markers", name);
	cr_assert_gt(r->st.allocs, 0);
}

static void mtrace_ref(const char *name)
{
	static struct ref r;
	memset(&r, 0, sizeof r);
	FILE *f = open_data(name);
	char line[4096];
	unsigned long a, b, old = 0;
	while (fgets(line, sizeof line, f)) {
		char *p = strrchr(line, ']');
		p = p ? p + 2 : line;
		if (sscanf(p, "+ %lx %lx", &a, &b) == 2)
			ref_alloc(&r, a, b);
		else if (sscanf(p, "- %lx", &a) == 1)
			ref_free(&r, a);
		else if (sscanf(p, "< %lx", &a) == 1)
			old = a;
		else if (sscanf(p, "> %lx %lx", &a, &b) == 2)
			ref_realloc(&r, old, a, b);
	}
	fclose(f);
	check(name, SLT_FMT_MTRACE, &r);
}

Test(import, mtrace_samples)
{
	mtrace_ref("tests/data/sample.mtrace");
	mtrace_ref("tests/data/sqlite3.mtrace");
}

static void valgrind_ref(const char *name)
{
	static struct ref r;
	memset(&r, 0, sizeof r);
	FILE *f = open_data(name);
	char line[4096];
	unsigned long a, b, c, d;
	while (fgets(line, sizeof line, f)) {
		char *p = strstr(line, "-- ");
		if (!p || line[0] != '-')
			continue;
		p += 3;
		if (sscanf(p, "malloc(%lu) = %lx", &a, &b) == 2 || sscanf(p, "_Znwm(%lu) = %lx", &a, &b) == 2 ||
		    sscanf(p, "_Znam(%lu) = %lx", &a, &b) == 2)
			ref_alloc(&r, b, a);
		else if (sscanf(p, "calloc(%lu,%lu) = %lx", &a, &b, &c) == 3)
			ref_alloc(&r, c, a * b);
		else if (sscanf(p, "memalign(al %lu, size %lu) = %lx", &a, &b, &c) == 3 ||
			 sscanf(p, "_ZnwmSt11align_val_t(size %lu, al %lu) = %lx", &b, &a, &c) == 3)
			ref_alloc(&r, c, b);
		else if (sscanf(p, "realloc(%lx,%lu) = %lx", &a, &b, &c) == 3)
			ref_realloc(&r, a, c, b);
		else if (sscanf(p, "realloc(%lx,0)free(%lx", &a, &d) == 2)
			ref_free(&r, a);
		else if (sscanf(p, "free(%lx)", &a) == 1 || sscanf(p, "_ZdlPvm(%lx)", &a) == 1 ||
			 sscanf(p, "_ZdaPv(%lx)", &a) == 1 || sscanf(p, "_ZdlPvmSt11align_val_t(%lx)", &a) == 1)
			ref_free(&r, a);
	}
	fclose(f);
	check(name, SLT_FMT_VALGRIND, &r);
}

Test(import, valgrind_samples)
{
	valgrind_ref("tests/data/sample.valgrind");
	valgrind_ref("tests/data/cxx-timestamps.valgrind");
}

Test(import, goalloc_sample)
{
	static struct ref r;
	FILE *f = open_data("tests/data/wordtree.goalloc");
	char line[4096];
	unsigned long a, b;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "tracealloc(%lx, %lx", &a, &b) == 2)
			ref_alloc(&r, a, b);
		else if (sscanf(line, "tracefree(%lx", &a) == 1)
			ref_free(&r, a);
		else if (!strcmp(line, "tracegc()\n"))
			r.st.gcs++;
	}
	fclose(f);
	check("tests/data/wordtree.goalloc", SLT_FMT_GOALLOC, &r);
}

/* gzip: same events; a corrupt archive is an error, not a crash. */
Test(import, gzip_input)
{
	char buf[4096], cmd[8192], *dir = tl_tmpdir();
	snprintf(cmd, sizeof cmd, "gzip -c %s > %s/s.gz", tl_root_path("tests/data/sqlite3.mtrace", buf, sizeof buf), dir);
	cr_assert_eq(system(cmd), 0);
	snprintf(buf, sizeof buf, "%s/s.gz", dir);
	struct stats a = via_source(buf, SLT_FMT_MTRACE);
	char b2[4096];
	struct stats b = via_source(tl_root_path("tests/data/sqlite3.mtrace", b2, sizeof b2), SLT_FMT_MTRACE);
	cr_assert_eq(a.allocs, b.allocs);
	cr_assert_eq(a.peak, b.peak);
	snprintf(cmd, sizeof cmd, "head -c 3000 %s/s.gz > %s/cut.gz", dir, dir);
	cr_assert_eq(system(cmd), 0);
	snprintf(buf, sizeof buf, "%s/cut.gz", dir);
	char err[1024];
	struct slt_source *s = slt_open(buf, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	struct slt_event ev;
	int rc;
	while ((rc = slt_next(s, &ev)) > 0)
		;
	cr_assert_eq(rc, -1);
	cr_assert(strstr(slt_error(s), "(decompressed)") && strstr(slt_error(s), "gzip"), "%s",
		  slt_error(s));
	slt_close(s);
	tl_tmpdir_remove(dir);
}

struct bad {
	enum slt_format fmt;
	const char *text;
	int line;
	const char *expect;
};

Test(import, malformed_lines_name_the_line)
{
	static const struct bad cases[] = {
		{ SLT_FMT_TEXT, "m 1 10\nm 2\n", 2, "bad or missing number" },
		{ SLT_FMT_TEXT, "m 1 10\nx 1\n", 2, "unknown operation" },
		{ SLT_FMT_TEXT, "a 1 10 3\n", 1, "power of two" },
		{ SLT_FMT_TEXT, "m 1 10 extra\n", 1, "extra fields" },
		{ SLT_FMT_TEXT, "m 99999999999999999999 1\n", 1, "bad or missing number" },
		{ SLT_FMT_TEXT, "tX m 1 1\n", 1, "unknown operation" },
		{ SLT_FMT_MTRACE, "= Start\n@ a:[0x1] + 0x10 0x8\n@ a:[0x1] + 0xzz 0x8\n", 3, "malformed" },
		{ SLT_FMT_MTRACE, "= Start\n@ a:[0x1] > 0x10 0x8\n", 2, "'>' without" },
		{ SLT_FMT_MTRACE, "= Start\n@ a:[0x1] < 0x10\n@ a:[0x1] - 0x10\n", 3, "'<' not followed" },
		{ SLT_FMT_MTRACE, "= Start\n@ a:[0x1] * 0x10\n", 2, "malformed" },
		{ SLT_FMT_VALGRIND, "--1-- malloc(8) = 0x10\n--1-- malloc(x) = 0x20\n", 2, "malformed call" },
		{ SLT_FMT_VALGRIND, "--1-- malloc(8) = 0x10\n--1-- calloc(8) = 0x20\n", 2, "wrong number" },
		{ SLT_FMT_GOALLOC, "tracealloc(0xc000, 0x10)\ntracealloc(0xc010)\n", 2, "malformed" },
		{ SLT_FMT_GOALLOC, "tracealloc(0xc000, 0x10)\ntracefree(0xc000, 0x10, x)\n", 2, "malformed" },
	};
	char *dir = tl_tmpdir(), path[4096];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct bad *c = &cases[i];
		snprintf(path, sizeof path, "%s/bad%zu", dir, i);
		tl_write_file(path, c->text, strlen(c->text));
		struct slt_open_opts oo = { .format = c->fmt };
		char err[1024], at[32];
		struct slt_source *s = slt_open(path, &oo, err, sizeof err);
		cr_assert(s, "case %zu: %s", i, err);
		struct slt_event ev;
		int rc;
		while ((rc = slt_next(s, &ev)) > 0)
			;
		cr_assert_eq(rc, -1, "case %zu accepted", i);
		snprintf(at, sizeof at, ": line %d: ", c->line);
		cr_assert(strstr(slt_error(s), at) && strstr(slt_error(s), c->expect), "case %zu: '%s'", i,
			  slt_error(s));
		slt_close(s);
	}
	tl_tmpdir_remove(dir);
}

/* Consistency report: counted by default, an error under --strict. */
Test(import, report_and_strict)
{
	static const char text[] = "m 1 10\nf 2\nm 1 20\nr 7 8 5\n";
	char *dir = tl_tmpdir(), path[4096], err[1024];
	snprintf(path, sizeof path, "%s/r.txt", dir);
	tl_write_file(path, text, strlen(text));
	struct slt_source *s = slt_open(path, NULL, err, sizeof err);
	struct slt_event ev;
	while (slt_next(s, &ev) > 0)
		;
	const struct slt_report *r = slt_source_report(s);
	cr_assert_eq(r->unknown_frees, 1);
	cr_assert_eq(r->double_allocs, 1);
	cr_assert_eq(r->realloc_unknown, 1);
	slt_close(s);
	struct slt_open_opts oo = { .strict = true };
	s = slt_open(path, &oo, err, sizeof err);
	int rc;
	while ((rc = slt_next(s, &ev)) > 0)
		;
	cr_assert_eq(rc, -1);
	cr_assert(strstr(slt_error(s), "line 2: free of a pointer never allocated (--strict)"), "%s",
		  slt_error(s));
	slt_close(s);
	/* A valgrind call whose result never came: counted, or under
	 * --strict an error naming the call's line. */
	static const char vg[] = "--1-- malloc(8) = 0x10\n--1-- malloc(24)\n";
	snprintf(path, sizeof path, "%s/r.valgrind", dir);
	tl_write_file(path, vg, strlen(vg));
	s = slt_open(path, NULL, err, sizeof err);
	while (slt_next(s, &ev) > 0)
		;
	cr_assert_eq(slt_source_report(s)->lost_results, 1);
	slt_close(s);
	s = slt_open(path, &oo, err, sizeof err);
	while ((rc = slt_next(s, &ev)) > 0)
		;
	cr_assert_eq(rc, -1);
	cr_assert(strstr(slt_error(s), "line 2: call without its result at end of trace (--strict)"), "%s",
		  slt_error(s));
	slt_close(s);
	tl_tmpdir_remove(dir);
}

/* ---- forms of real output the samples above lack ------------------------ */

/* The events of a trace as "m10 c8 a64 r50 f g" (op and size), and its report. */
static char *events_of(const char *text, enum slt_format fmt, struct slt_report *rep)
{
	char *dir = tl_tmpdir(), path[4096], err[1024];
	snprintf(path, sizeof path, "%s/t", dir);
	tl_write_file(path, text, strlen(text));
	struct slt_open_opts oo = { .format = fmt };
	struct slt_source *s = slt_open(path, &oo, err, sizeof err);
	cr_assert(s, "%s", err);
	static char out[4096];
	size_t n = 0;
	struct slt_event ev;
	int rc;
	while ((rc = slt_next(s, &ev)) > 0) {
		static const char op[] = "mcrfag";
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%c", n ? " " : "", op[ev.op <= SLT_GC ? ev.op : 0]);
		if (ev.op != SLT_FREE && ev.op != SLT_GC)
			n += (size_t)snprintf(out + n, sizeof out - n, "%llu", (unsigned long long)ev.size);
	}
	cr_assert_eq(rc, 0, "%s", slt_error(s));
	*rep = *slt_source_report(s);
	slt_close(s);
	tl_tmpdir_remove(dir);
	return out;
}

/* valgrind 3.19 prints realloc(NULL, n) as its nested malloc's call line;
 * a calloc whose n*m overflows returns without a result; another thread's
 * calls can come between a call and its " = X" (on its line or later
 * lines); a fork's child logs to the same file; a result can be lost. */
Test(import, valgrind_nested_calls_threads_and_forks)
{
	static const char text[] =
		"--1-- malloc(10) = 0x100\n"
		"--1-- malloc(20) = 0x300\n"
		"--1-- realloc(0x0,77)malloc(77) = 0x200\n"
		"--1-- realloc(0x100,324)free(0x300)\n"
		"--1-- realloc(0x200,50)realloc(0x0,30)malloc(30) = 0x400\n"
		"--1-- calloc(4611686018427387904,4)calloc(1,8) = 0x500\n"
		"--1--  = 0x600\n"
		"--1--  = 0x700\n"
		"--2-- malloc(5) = 0x800\n"
		"--2-- free(0x700)\n"
		"--1-- realloc(0x600,0)free(0x600)\n"
		"--1--  = 0\n"
		"--1-- malloc(9)\n"
		"--1-- free(0x0)\n";
	struct slt_report r;
	const char *ev = events_of(text, SLT_FMT_VALGRIND, &r);
	cr_assert_str_eq(ev, "m10 m20 m77 f m30 c8 r50 r324 f");
	cr_assert_eq(r.failed_allocs, 1, "the overflowing calloc");
	cr_assert_eq(r.realloc_zero, 1);
	cr_assert_eq(r.lost_results, 1, "malloc(9) never got its result");
	cr_assert_eq(slt_report_inconsistencies(&r), 2, "realloc_zero and lost_results only");
}

/* Pairing a lone result: valgrind 3.19 (from the header) never prints a
 * result for realloc(NULL, n), so one after it is an earlier call's; a
 * NULL goes to a realloc(p, 0) whose free(p) came; an overflowing calloc
 * takes none; a line of many calls (crafted) keeps every event. */
Test(import, valgrind_results_find_their_calls)
{
	static const struct { const char *text, *events; uint64_t lost, failed; } cases[] = {
		{ "==1== Using Valgrind-3.19.0 and LibVEX; rerun with -h for copyright info\n"
		  "--1-- malloc(103) = 0x1000\n--1-- realloc(0x1000,298)free(0x0)\n--1-- realloc(0x0,317) = 0x2000\n"
		  "--1-- free(0x2000)\n--1-- malloc(317) = 0x3000\n--1-- free(0x3000)\n",
		  "m103 r298 f m317 f", 0, 0 },
		{ "--1-- malloc(8) = 0x1000\n--1-- realloc(0x1000,0)malloc(16)free(0x1000)\n--1--  = 0\n"
		  "--1--  = 0x2000\n--1-- free(0x2000)\n",
		  "m8 f m16 f", 0, 0 },
		{ "--1-- malloc(10)calloc(4294967296,4294967296) = 0x1000\n--1-- free(0x1000)\n", "m10 f", 0, 1 },
		{ "--1-- malloc(1) = 0x1000\n--1-- malloc(1) = 0x2000\n--1-- malloc(1) = 0x3000\n--1-- malloc(1) = 0x4000\n"
		  "--1-- malloc(1) = 0x5000\n--1-- free(0x1000)free(0x2000)free(0x3000)free(0x4000)free(0x5000)\n",
		  "m1 m1 m1 m1 m1 f f f f f", 0, 0 },
		{ "--1-- malloc(8) = 0x1000\n--1-- realloc(0x1000,0)free(0x1000)\n", "m8 f", 0, 0 },
		/* a realloc's old address given out again before its result: the
		 * realloc happened there (memcheck's realloc always moves) */
		{ "--1-- malloc(10) = 0x100\n--1-- malloc(20) = 0x200\n--1-- realloc(0x100,50)free(0x0)\n"
		  "--1-- malloc(8) = 0x100\n--1--  = 0x400\n--1-- free(0x400)\n--1-- free(0x100)\n--1-- free(0x200)\n",
		  "m10 m20 r50 m8 f f f", 0, 0 },
		/* realloc(p, 0) returns only NULL: a lone non-NULL result waiting
		 * behind it is another call's, and so is one on its own line */
		{ "--1-- malloc(10) = 0x100\n--1-- malloc(20) = 0x200\n--1-- calloc(4,4)free(0x0)\n"
		  "--1-- realloc(0x100,0)free(0x200)\n--1--  = 0x300\n--1-- free(0x100)\n--1--  = 0\n--1-- free(0x300)\n",
		  "m10 m20 f c16 f f", 0, 0 },
		{ "--1-- malloc(10) = 0x100\n--1-- malloc(7)free(0x0)\n--1-- realloc(0x100,0) = 0x300\n"
		  "--1-- free(0x100)\n--1--  = 0\n--1-- free(0x300)\n",
		  "m10 m7 f f", 0, 0 },
		/* the NULL a freed realloc(p, 0) owes, on another call's line */
		{ "--1-- malloc(10) = 0x100\n--1-- realloc(0x100,0)free(0x100)\n--1-- malloc(185) = 0\n"
		  "--1--  = 0x500\n--1-- free(0x500)\n",
		  "m10 f m185 f", 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct slt_report r;
		cr_assert_str_eq(events_of(cases[i].text, SLT_FMT_VALGRIND, &r), cases[i].events, "case %zu", i);
		cr_assert_eq(r.lost_results, cases[i].lost, "case %zu", i);
		cr_assert_eq(r.failed_allocs, cases[i].failed, "case %zu", i);
		cr_assert_eq(r.unknown_frees + r.double_allocs, 0, "case %zu", i);
	}
	/* the 5 frees of one line are 5 different objects, each freed once */
	char *dir = tl_tmpdir(), path[4096], err[1024];
	snprintf(path, sizeof path, "%s/q", dir);
	tl_write_file(path, cases[3].text, strlen(cases[3].text));
	struct slt_open_opts oo = { .format = SLT_FMT_VALGRIND };
	struct slt_source *s = slt_open(path, &oo, err, sizeof err);
	struct slt_event ev;
	uint64_t freed = 0;
	while (slt_next(s, &ev) > 0)
		if (ev.op == SLT_FREE) {
			cr_assert_eq(freed >> ev.id & 1, 0, "object %llu freed twice", (unsigned long long)ev.id);
			freed |= 1ull << ev.id;
		}
	cr_assert_eq(freed, 0x1f);
	slt_close(s);
	tl_tmpdir_remove(dir);
	/* a real capture: the fork's child logged first; the trace is the parent's */
	char p[4096];
	struct stats st = via_source(tl_root_path("tests/data/fork-child-first.valgrind", p, sizeof p), SLT_FMT_VALGRIND);
	cr_assert_eq(st.allocs, 5);
	cr_assert_eq(st.frees, 5);
	cr_assert_eq(st.peak, 204);
	/* a real capture with -v: over a hundred lines of valgrind's own come
	 * before the first call; its header says it is a valgrind log */
	char v[4096];
	st = via_source(tl_root_path("tests/data/verbose.valgrind", v, sizeof v), SLT_FMT_VALGRIND);
	cr_assert_eq(st.allocs, 7 + 3 + 5, "its mallocs, callocs and aligned allocations");
	cr_assert_eq(st.frees, 13);
}

/* Go: prose that names a record is not one (and is no error). */
Test(import, goalloc_prose_is_not_a_record)
{
	struct slt_report r;
	cr_assert_str_eq(events_of("tracealloc(0xc000, 0x10, int)\nmy program: will now call tracegc() twice\n"
				   "tracefree(0xc000, 0x10)\n", SLT_FMT_GOALLOC, &r), "m16 f");
}

/* mtrace: a realloc in place at an address whose old object's late '-'
 * is still to come is the new owner's. */
Test(import, mtrace_in_place_realloc_is_the_new_owners)
{
	struct slt_report r;
	cr_assert_str_eq(events_of("= Start\n@ a:[0x1] + 0xA0 0x10\n@ a:[0x1] + 0xA0 0x20\n@ a:[0x1] < 0xA0\n"
				   "@ a:[0x1] > 0xA0 0x40\n@ a:[0x1] - 0xA0\n@ a:[0x1] - 0xA0\n= End\n", SLT_FMT_MTRACE, &r),
			 "m16 f m32 r64 f");
	cr_assert_eq(r.double_allocs, 1);
	cr_assert_eq(r.unknown_frees, 0);
}

/* Real captures (tests/data/README.md): failed calls as each tool prints
 * them, realloc(NULL, n) and realloc(p, 0) under valgrind 3.19. */
Test(import, real_failures_and_nested_calls)
{
	char p[4096];
	struct stats st = via_source(tl_root_path("tests/data/failures.mtrace", p, sizeof p), SLT_FMT_MTRACE);
	cr_assert_eq(st.allocs, 6);
	cr_assert_eq(st.frees, 6);
	cr_assert_eq(st.live, 0);
	st = via_source(tl_root_path("tests/data/failures.valgrind", p, sizeof p), SLT_FMT_VALGRIND);
	cr_assert_eq(st.allocs, 5, "malloc(40), two memaligns, malloc(0), calloc(0,5)");
	cr_assert_eq(st.frees, 1, "realloc(p, 0)");
	st = via_source(tl_root_path("tests/data/realloc-null.valgrind", p, sizeof p), SLT_FMT_VALGRIND);
	cr_assert_eq(st.allocs, 2);
	cr_assert_eq(st.frees, 2);
	cr_assert_eq(st.peak, 77 + 50);

	char err[1024];
	static const struct { const char *file; uint64_t failed, zero; } rep[] = {
		{ "tests/data/failures.mtrace", 5, 0 },
		{ "tests/data/failures.valgrind", 6, 1 },
		{ "tests/data/realloc-null.valgrind", 0, 1 },
	};
	for (size_t i = 0; i < 3; i++) {
		struct slt_source *s = slt_open(tl_root_path(rep[i].file, p, sizeof p), NULL, err, sizeof err);
		cr_assert(s, "%s", err);
		struct slt_event ev;
		while (slt_next(s, &ev) > 0)
			;
		const struct slt_report *r = slt_source_report(s);
		cr_assert_eq(r->failed_allocs, rep[i].failed, "%s", rep[i].file);
		cr_assert_eq(r->realloc_zero, rep[i].zero, "%s", rep[i].file);
		cr_assert_eq(r->unknown_frees + r->double_allocs + r->realloc_unknown + r->lost_results, 0, "%s",
			     rep[i].file);
		slt_close(s);
	}
}

/* glibc's mtrace writes a free's line after the free: with threads
 * another thread's '+' (or '>') of that address can come first. The next
 * '-' (or '<') of it is the old object's, not the new one's. */
Test(import, mtrace_late_frees_of_threads)
{
	static const char text[] =
		"= Start\n"
		"@ a:[0x1] + 0x100 0x10\n"
		"@ a:[0x1] + 0x200 0x20\n"
		"@ a:[0x1] + 0x100 0x30\n"	/* 0x100 freed by another thread, its '-' late */
		"@ a:[0x1] - 0x100\n"		/* ... here: not the new object's */
		"@ a:[0x1] + 0x300 0x8\n"
		"@ a:[0x1] < 0x200\n"
		"@ a:[0x1] > 0x300 0x40\n"	/* 0x300 was freed, its '-' late */
		"@ a:[0x1] - 0x300\n"
		"@ a:[0x1] - (nil)\n"
		"@ a:[0x1] < 0x300\n"
		"@ a:[0x1] > (nil) 0x1000000\n"
		"@ a:[0x1] - 0x100\n"		/* the new object's own free */
		"= End\n";
	struct slt_report r;
	const char *ev = events_of(text, SLT_FMT_MTRACE, &r);
	cr_assert_str_eq(ev, "m16 m32 f m48 m8 f r64 f");
	cr_assert_eq(r.double_allocs, 2);
	cr_assert_eq(r.unknown_frees, 0, "no free was taken for the wrong object");
	cr_assert_eq(r.failed_allocs, 1);
}

/* A program's own stderr output can start a record's line; a traceback's
 * runtime.tracealloc frame is not a record. */
Test(import, goalloc_records_after_program_output)
{
	static const char text[] =
		"tracealloc(0xc000, 0x10, int)\n"
		"goroutine 1 [running]:\n"
		"runtime.tracealloc(0xc000, 0x10, 0x0)\n"
		"\t/usr/lib/go-1.19/src/runtime/mprof.go:1000 +0x1\n"
		"progress: tracealloc(0xc010, 0x20)\n"
		"tracefree(0xc000, 0x10)\n";
	struct slt_report r;
	cr_assert_str_eq(events_of(text, SLT_FMT_GOALLOC, &r), "m16 m32 f");
	cr_assert_eq(slt_report_inconsistencies(&r), 0);
}

/* A trace path is opened as given, whatever its length (it was cut at
 * 255 bytes, and a cut prefix could name another file). */
Test(import, long_paths_are_opened_whole)
{
	char *dir = tl_tmpdir(), path[4096], err[1024];
	cr_assert(dir);
	int n = snprintf(path, sizeof path, "%s/", dir);
	for (int i = 0; i < 3; i++) {
		n += snprintf(path + n, sizeof path - (size_t)n, "%0120d/", i);
		cr_assert_eq(mkdir(path, 0755), 0, "%s", path);
	}
	snprintf(path + n, sizeof path - (size_t)n, "t.txt");
	cr_assert_gt(strlen(path), 360);
	const char *t = "# spanlab text trace v1\nm 1 16\nf 1\n";
	cr_assert_eq(tl_write_file(path, t, strlen(t)), 0);
	struct slt_source *s = slt_open(path, NULL, err, sizeof err);
	cr_assert(s, "%s", err);
	struct slt_event ev;
	int k = 0;
	while (slt_next(s, &ev) > 0)
		k++;
	cr_assert_eq(k, 2, "%s", slt_error(s));
	slt_close(s);
	tl_tmpdir_remove(dir);
}
