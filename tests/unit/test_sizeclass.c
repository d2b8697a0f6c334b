/*
 * Size classes: the default table is Go 1.19's, every column and every
 * lookup table; lookups and division magic agree with plain arithmetic for
 * every size and offset; other generator parameters keep the bounds they
 * promise; explicit tables are validated with one message per violation.
 *
 * The reference is Go's own sizeclasses.go when Debian's golang-1.19-src is
 * installed (GO119_SRC overrides its location), and always the transcription
 * in tests/data/go1.19-sizeclasses.txt, which is itself checked against
 * Go's file when both are present.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sizeclass.h"
#include "testlib.h"

#define GO_SRC_DEFAULT "/usr/share/go-1.19/src/runtime/sizeclasses.go"

struct ref {
	char comment[16384];		/* both header tables, Go's columns */
	uint32_t class_to_size[SL_MAX_CLASSES], npages[SL_MAX_CLASSES], magic[SL_MAX_CLASSES];
	uint32_t c8[200], c128[400];
	size_t n_size, n_pages, n_magic, n_c8, n_c128;
};

/* Parse a list of numbers; "^uint32(0)/N + 1" (Go's divmagic) evaluates. */
static size_t parse_numbers(const char *s, const char *end, uint32_t *out, size_t max)
{
	size_t n = 0;
	while (s < end && n < max) {
		while (s < end && (isspace((unsigned char)*s) || *s == ','))
			s++;
		if (s >= end)
			break;
		if (!strncmp(s, "^uint32(0)/", 11)) {
			unsigned long d = strtoul(s + 11, (char **)&s, 10);
			while (s < end && (isspace((unsigned char)*s) || *s == '+'))
				s++;
			cr_assert_eq(*s, '1', "unexpected divmagic expression");
			s++;
			out[n++] = (uint32_t)(0xffffffffUL / d + 1);
		} else {
			char *e;
			out[n++] = (uint32_t)strtoul(s, &e, 10);
			cr_assert(e != s, "not a number at '%.20s'", s);
			s = e;
		}
	}
	return n;
}

static void set_array(struct ref *r, const char *name, const char *s, const char *end)
{
	if (!strcmp(name, "class_to_size"))
		r->n_size = parse_numbers(s, end, r->class_to_size, SL_MAX_CLASSES);
	else if (!strcmp(name, "class_to_allocnpages"))
		r->n_pages = parse_numbers(s, end, r->npages, SL_MAX_CLASSES);
	else if (!strcmp(name, "class_to_divmagic"))
		r->n_magic = parse_numbers(s, end, r->magic, SL_MAX_CLASSES);
	else if (!strcmp(name, "size_to_class8"))
		r->n_c8 = parse_numbers(s, end, r->c8, 200);
	else if (!strcmp(name, "size_to_class128"))
		r->n_c128 = parse_numbers(s, end, r->c128, 400);
}

/* The comment tables run from the "class" header to the last alignment row. */
static void add_comment_line(struct ref *r, const char *line, size_t len)
{
	size_t used = strlen(r->comment);
	cr_assert_lt(used + len + 2, sizeof r->comment);
	memcpy(r->comment + used, line, len);
	r->comment[used + len] = '\n';
	r->comment[used + len + 1] = 0;
}

static void trim_trailing_blank(struct ref *r)
{
	size_t n = strlen(r->comment);
	while (n >= 2 && r->comment[n - 1] == '\n' && r->comment[n - 2] == '\n')
		r->comment[--n] = 0;
}

/* Go's own file. */
static bool load_go_source(struct ref *r, const char *path)
{
	char *src = tl_read_file(path, NULL);
	if (!src)
		return false;
	memset(r, 0, sizeof *r);
	bool in = false;
	for (char *l = src, *nl; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		if (!nl)
			break;
		if (!strncmp(l, "// class", 8))
			in = true;
		if (in) {
			if (!strncmp(l, "// ", 3))
				add_comment_line(r, l + 3, (size_t)(nl - l - 3));
			else if (nl == l)
				add_comment_line(r, "", 0);
			else
				in = false;
		}
		if (!strncmp(l, "var ", 4)) {
			char name[64];
			sscanf(l + 4, "%63s", name);
			char *open = strchr(l, '{'), *close = strchr(l, '}');
			cr_assert(open && close, "array %s not on one line", name);
			set_array(r, name, open + 1, close);
		}
	}
	trim_trailing_blank(r);
	free(src);
	return true;
}

/* Our transcription in tests/data. */
static void load_transcription(struct ref *r)
{
	char path[4096];
	char *src = tl_read_file(tl_root_path("tests/data/go1.19-sizeclasses.txt", path, sizeof path), NULL);
	cr_assert(src, "cannot read %s", path);
	memset(r, 0, sizeof *r);
	for (char *l = src, *nl; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		if (!nl)
			break;
		if (*l == '#')
			continue;
		char name[64] = "";
		sscanf(l, "%63s", name);
		if (strstr(name, "class_to_") == name || strstr(name, "size_to_") == name)
			set_array(r, name, l + strlen(name), nl);
		else
			add_comment_line(r, l, (size_t)(nl - l));
	}
	trim_trailing_blank(r);
	free(src);
}

static char *printed(const struct sl_sizeclasses *t)
{
	char *buf;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	sl_sizeclasses_print(t, f);
	fclose(f);
	return buf;
}

static void generate(struct sl_sizeclasses *t, double max_waste, double tail_waste)
{
	struct sl_sizeclass_params p;
	char err[256];
	sl_sizeclass_params_go(&p);
	p.max_waste = max_waste;
	p.tail_waste = tail_waste;
	cr_assert_eq(sl_sizeclasses_generate(&p, t, err, sizeof err), 0, "%s", err);
}

static void assert_matches_ref(const struct sl_sizeclasses *t, const struct ref *r, const char *what)
{
	char *text = printed(t);
	cr_assert_str_eq(text, r->comment, "%s: header tables differ", what);
	free(text);
	cr_assert_eq(r->n_size, t->nclasses, "%s: %zu classes, we have %u", what, r->n_size, t->nclasses);
	cr_assert_eq(r->n_pages, t->nclasses);
	cr_assert_eq(r->n_magic, t->nclasses);
	for (uint32_t c = 0; c < t->nclasses; c++) {
		cr_assert_eq(t->class_to_size[c], r->class_to_size[c], "%s: class %u size", what, c);
		cr_assert_eq(t->class_to_allocnpages[c], r->npages[c], "%s: class %u pages", what, c);
		cr_assert_eq(t->class_to_divmagic[c], r->magic[c], "%s: class %u divmagic", what, c);
	}
	cr_assert_eq(r->n_c8, sizeof t->size_to_class8, "%s: size_to_class8 length", what);
	for (size_t i = 0; i < r->n_c8; i++)
		cr_assert_eq(t->size_to_class8[i], r->c8[i], "%s: size_to_class8[%zu]", what, i);
	cr_assert_eq(r->n_c128, (t->max_small_size - SL_SMALL_SIZE_MAX) / SL_LARGE_SIZE_DIV + 1);
	for (size_t i = 0; i < r->n_c128; i++)
		cr_assert_eq(t->size_to_class128[i], r->c128[i], "%s: size_to_class128[%zu]", what, i);
}

Test(sizeclass, default_table_is_go_1_19)
{
	static struct ref data, go;
	struct sl_sizeclasses gen;
	const char *gopath = getenv("GO119_SRC") ? getenv("GO119_SRC") : GO_SRC_DEFAULT;

	generate(&gen, 0.125, 0.125);
	cr_assert_eq(gen.nclasses, SL_GO_NUM_CLASSES);
	load_transcription(&data);
	assert_matches_ref(&gen, &data, "tests/data transcription");
	assert_matches_ref(sl_sizeclasses_go(), &data, "sl_sizeclasses_go()");
	if (load_go_source(&go, gopath)) {
		assert_matches_ref(&gen, &go, gopath);
		cr_assert_str_eq(data.comment, go.comment, "the transcription drifted from Go's file");
	} else {
		fprintf(stderr, "note: %s not found; checked against the transcription only\n", gopath);
	}
}

Test(sizeclass, committed_c_table_is_regenerated_byte_for_byte)
{
	struct sl_sizeclasses gen;
	char path[4096], *buf;
	size_t len;

	generate(&gen, 0.125, 0.125);
	FILE *f = open_memstream(&buf, &len);
	sl_sizeclasses_emit_c(&gen, f);
	fclose(f);
	char *committed = tl_read_file(tl_root_path("alloc/sizeclass_go.c", path, sizeof path), NULL);
	cr_assert(committed, "cannot read %s", path);
	cr_assert_str_eq(buf, committed, "alloc/sizeclass_go.c differs from `spanlab sizeclasses --emit-c`");
	cr_assert(sl_sizeclasses_equal(&gen, sl_sizeclasses_go()));
	free(buf);
	free(committed);
}

/* The tables the lookup and magic tests run over. */
static void variant_tables(struct sl_sizeclasses *out, size_t *n)
{
	static const struct { double w; uint32_t page, max_small; } v[] = {
		{ 0.125, 8192, 32768 }, { 0.0625, 8192, 32768 }, { 0.25, 8192, 32768 },
		{ 0.5, 8192, 32768 }, { 0.125, 4096, 32768 }, { 0.125, 16384, 32768 }, { 0.25, 8192, 65536 },
	};
	*n = sizeof v / sizeof v[0];
	for (size_t i = 0; i < *n; i++) {
		struct sl_sizeclass_params p;
		char err[256];
		sl_sizeclass_params_go(&p);
		p.max_waste = p.tail_waste = v[i].w;
		p.page_size = v[i].page;
		p.max_small_size = v[i].max_small;
		cr_assert_eq(sl_sizeclasses_generate(&p, &out[i], err, sizeof err), 0,
			     "variant %zu: %s", i, err);
	}
}

Test(sizeclass, lookup_is_smallest_fitting_class_for_every_size)
{
	static struct sl_sizeclasses t[8];
	size_t n;
	variant_tables(t, &n);
	for (size_t v = 0; v < n; v++) {
		cr_assert_eq(sl_size_to_class(&t[v], 0), 0);
		for (uint32_t size = 1; size <= t[v].max_small_size; size++) {
			uint32_t c = sl_size_to_class(&t[v], size);
			cr_assert(c >= 1 && c < t[v].nclasses, "table %zu size %u: class %u", v, size, c);
			cr_assert_geq(t[v].class_to_size[c], size, "table %zu size %u: class %u too small", v, size, c);
			cr_assert_lt(t[v].class_to_size[c - 1], size,
				     "table %zu size %u: class %u is not the smallest", v, size, c);
		}
	}
}

Test(sizeclass, division_magic_exact_for_every_offset_of_every_class)
{
	static struct sl_sizeclasses t[8];
	size_t n;
	variant_tables(t, &n);
	for (size_t v = 0; v < n; v++)
		for (uint32_t c = 1; c < t[v].nclasses; c++) {
			uint32_t size = t[v].class_to_size[c];
			uint32_t span = t[v].class_to_allocnpages[c] * t[v].page_size;
			for (uint32_t off = 0; off <= span; off++)
				if (sl_divide_by_elemsize(t[v].class_to_divmagic[c], off) != off / size)
					cr_assert_fail("table %zu class %u (size %u): offset %u gives %u, not %u", v, c,
						size, off, sl_divide_by_elemsize(t[v].class_to_divmagic[c], off),
						off / size);
		}
}

/*
 * The bound the parameters promise. For a class whose candidates were
 * stepped by at most max_waste of their size, the worst request (previous
 * class + 1 byte) wastes less than max_waste of the used span plus the tail,
 * itself at most tail_waste of the span: max waste < max_waste + tail_waste.
 * Steps are proportional from prop_align_from on, once size·max_waste
 * reaches the 16-byte minimum step, and above 1 KiB once it reaches the
 * 128-byte minimum step there.
 */
Test(sizeclass, generator_keeps_its_waste_bounds)
{
	static const double fractions[] = { 0.0625, 0.125, 0.25, 0.5 };
	uint32_t prev_count = 1000;

	for (size_t i = 0; i < sizeof fractions / sizeof fractions[0]; i++) {
		double f = fractions[i];
		struct sl_sizeclasses t;
		char err[256];
		generate(&t, f, f);
		cr_assert(sl_sizeclasses_check(&t, err, sizeof err), "f=%g: %s", f, err);
		cr_assert_lt(t.nclasses, prev_count, "f=%g: a looser bound must give fewer classes", f);
		prev_count = t.nclasses;
		double proportional_from = 128;
		if (16 / f > proportional_from)
			proportional_from = 16 / f;
		if (128 / f > 1024 && 128 / f > proportional_from)
			proportional_from = 128 / f;
		size_t checked = 0;
		for (uint32_t c = 1; c < t.nclasses; c++) {
			struct sl_sizeclass_row r;
			sl_sizeclass_row(&t, c, &r);
			cr_assert_leq(r.tail_waste, (uint32_t)(r.span_bytes * f),
				      "f=%g class %u: tail %u over %g of %u", f, c, r.tail_waste, f, r.span_bytes);
			if (c > 1 && t.class_to_size[c - 1] >= proportional_from) {
				cr_assert_lt(r.max_waste, 2 * f, "f=%g class %u (size %u): max waste %.4f",
					     f, c, r.size, r.max_waste);
				checked++;
			}
		}
		cr_assert_gt(checked, 10, "f=%g: too few classes in the proportional region", f);
	}
}

struct bad_table {
	const char *name;
	uint32_t page_size, max_small;
	uint32_t rows[8][2];
	size_t n;
	const char *expect;		/* a phrase only this message has */
};

static const struct bad_table bad_tables[] = {
	{ "empty", 8192, 32768, { { 0 } }, 0, "no size classes" },
	{ "not_increasing", 8192, 32768, { { 8, 1 }, { 16, 1 }, { 16, 1 }, { 32768, 4 } }, 4, "is not larger than" },
	{ "not_multiple_of_8", 8192, 32768, { { 8, 1 }, { 12, 1 }, { 32768, 4 } }, 3, "not a multiple of 8" },
	{ "not_multiple_of_16", 8192, 32768, { { 8, 1 }, { 40, 1 }, { 32768, 4 } }, 3, "must be a multiple of 16" },
	{ "not_multiple_of_128", 8192, 32768, { { 8, 1 }, { 1040, 1 }, { 32768, 4 } }, 3, "must be a multiple of 128" },
	{ "above_max_small", 8192, 32768, { { 8, 1 }, { 65536, 8 } }, 2, "exceeds max_small_size" },
	{ "zero_pages", 8192, 32768, { { 8, 1 }, { 16, 0 }, { 32768, 4 } }, 3, "at least 1" },
	{ "too_many_pages", 8192, 32768, { { 8, 1 }, { 16, 70000 }, { 32768, 4 } }, 3, "pages per span is more than" },
	{ "no_object_fits", 8192, 32768, { { 8, 1 }, { 16384, 1 }, { 32768, 4 } }, 3, "does not fit in a span" },
	{ "does_not_cover", 8192, 32768, { { 8, 1 }, { 16384, 2 } }, 2, "does not reach max_small_size" },
	{ "bad_page_size", 6000, 32768, { { 8, 1 }, { 32768, 4 } }, 2, "page_size 6000" },
	{ "bad_max_small", 8192, 512, { { 8, 1 }, { 512, 1 } }, 2, "max_small_size 512 must be" },
	{ "magic_too_coarse", 8192, 32768, { { 8, 1 }, { 1008, 60000 }, { 32768, 4 } }, 3, "division magic" },
};

Test(sizeclass, each_invalid_table_has_its_own_message)
{
	size_t n = sizeof bad_tables / sizeof bad_tables[0];
	char msgs[sizeof bad_tables / sizeof bad_tables[0]][256];
	struct sl_sizeclasses t;

	for (size_t i = 0; i < n; i++) {
		const struct bad_table *b = &bad_tables[i];
		int rc = sl_sizeclasses_from_rows(b->page_size, b->max_small, (const uint32_t (*)[2])b->rows,
						  b->n, &t, msgs[i], sizeof msgs[i]);
		cr_assert_eq(rc, -1, "%s: accepted", b->name);
		cr_assert(strstr(msgs[i], b->expect), "%s: message '%s' lacks '%s'", b->name, msgs[i], b->expect);
		cr_assert_null(strchr(msgs[i], '\n'), "%s: message is not one line", b->name);
		for (size_t j = 0; j < i; j++)
			cr_assert(!strstr(msgs[j], b->expect), "%s's phrase also in %s's message",
				  b->name, bad_tables[j].name);
	}
	uint32_t rows[256][2];
	for (uint32_t i = 0; i < 256; i++) {
		rows[i][0] = 16 * (i + 1);
		rows[i][1] = 1;
	}
	cr_assert_eq(sl_sizeclasses_from_rows(8192, 32768, (const uint32_t (*)[2])rows, 256, &t, msgs[0],
					      sizeof msgs[0]), -1);
	cr_assert(strstr(msgs[0], "at most 255"), "too many classes: '%s'", msgs[0]);
}

Test(sizeclass, explicit_table_round_trips_through_rows)
{
	const struct sl_sizeclasses *go = sl_sizeclasses_go();
	uint32_t rows[SL_MAX_CLASSES][2];
	struct sl_sizeclasses t;
	char err[256];

	for (uint32_t c = 1; c < go->nclasses; c++) {
		rows[c - 1][0] = go->class_to_size[c];
		rows[c - 1][1] = go->class_to_allocnpages[c];
	}
	cr_assert_eq(sl_sizeclasses_from_rows(8192, 32768, (const uint32_t (*)[2])rows, go->nclasses - 1,
					      &t, err, sizeof err), 0, "%s", err);
	cr_assert(sl_sizeclasses_equal(&t, go));
	/* A changed lookup entry is caught by the checker. */
	t.size_to_class8[10]++;
	cr_assert_not(sl_sizeclasses_check(&t, err, sizeof err));
}

Test(sizeclass, bad_generator_parameters_are_rejected)
{
	static const struct { const char *field; double value; const char *expect; } cases[] = {
		{ "page_size", 3000, "page_size" }, { "max_small_size", 100, "max_small_size" },
		{ "max_waste", 0, "max_waste" }, { "tail_waste", 1, "tail_waste" },
		{ "min_align", 4, "min_align" }, { "max_align", 8, "max_align" },
		{ "align16_from", 64, "align16_from 64 must be 16 or 32" },	/* class 5 (40 B) could not be 8-aligned */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sl_sizeclass_params p;
		struct sl_sizeclasses t;
		char err[256] = "";
		sl_sizeclass_params_go(&p);
		if (!strcmp(cases[i].field, "page_size")) p.page_size = (uint32_t)cases[i].value;
		if (!strcmp(cases[i].field, "max_small_size")) p.max_small_size = (uint32_t)cases[i].value;
		if (!strcmp(cases[i].field, "max_waste")) p.max_waste = cases[i].value;
		if (!strcmp(cases[i].field, "tail_waste")) p.tail_waste = cases[i].value;
		if (!strcmp(cases[i].field, "min_align")) p.min_align = (uint32_t)cases[i].value;
		if (!strcmp(cases[i].field, "max_align")) p.max_align = (uint32_t)cases[i].value;
		if (!strcmp(cases[i].field, "align16_from")) p.align16_from = (uint32_t)cases[i].value;
		cr_assert_eq(sl_sizeclasses_generate(&p, &t, err, sizeof err), -1, "%s accepted", cases[i].field);
		cr_assert(strstr(err, cases[i].expect), "%s: '%s'", cases[i].field, err);
	}
}

/* fill_span grows a class to fill its span, but the last stays at
 * max_small_size: 3072 with 8 KiB pages (5 objects in 2 pages) was filled
 * to 3200, and the table refused as "the alignment steps do not reach
 * max_small_size"; likewise 24576 with 64 KiB pages. */
Test(sizeclass, fill_span_keeps_the_last_class_at_max_small_size)
{
	static const uint32_t cases[][2] = { { 8192, 3072 }, { 16384, 3072 }, { 65536, 24576 }, { 8192, 32768 } };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sl_sizeclass_params p;
		struct sl_sizeclasses t;
		char err[256] = "";
		sl_sizeclass_params_go(&p);
		p.page_size = cases[i][0];
		p.max_small_size = cases[i][1];
		cr_assert_eq(sl_sizeclasses_generate(&p, &t, err, sizeof err), 0, "%u-byte pages, max %u: %s",
			     cases[i][0], cases[i][1], err);
		cr_assert_eq(t.class_to_size[t.nclasses - 1], cases[i][1]);
		cr_assert(sl_sizeclasses_check(&t, err, sizeof err), "%s", err);
	}
}

