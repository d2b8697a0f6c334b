/*
 * Size-class tables: validation, lookup tables, division magic and the
 * printed forms (Go 1.19 sizeclasses.go; msize.go).
 *
 * Every table a heap uses goes through sl_sizeclasses_from_rows(): the
 * generator's output, Go's committed table (its check is a test) and any
 * explicit table a researcher writes. It checks each invariant listed in
 * sizeclass.h with its own message, then builds what mallocgc needs:
 *   class_to_divmagic[c] = ^uint32(0)/size + 1   (mksizeclasses.go)
 *   size_to_class8[i]    = smallest class with size >= 8·i
 *   size_to_class128[i]  = smallest class with size >= 1024 + 128·i
 *
 * The division magic is proved exact without Go's brute-force loop:
 * for d not a power of two, m = ceil(2^32/d) overestimates 1/d, so the
 * error of (n·m)>>32 grows with n and, within each block [kd, kd+d-1], is
 * largest at the block's end. Checking the last complete block end and the
 * largest offset therefore covers every offset (the unit test still checks
 * every offset of every class).
 */
#include "sizeclass.h"

#include <string.h>

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

static uint32_t divmagic(uint32_t size)
{
	return size ? UINT32_MAX / size + 1 : 0;
}

static bool magic_exact_at(uint32_t size, uint32_t m, uint64_t n)
{
	return (uint32_t)((n * m) >> 32) == n / size;
}

static bool magic_exact(uint32_t size, uint64_t max)
{
	uint32_t m = divmagic(size);
	if (!magic_exact_at(size, m, max))
		return false;
	if (max + 1 >= size) {
		uint64_t last_block_end = ((max + 1) / size) * size - 1;
		if (!magic_exact_at(size, m, last_block_end))
			return false;
	}
	return true;
}

static int check_row(uint32_t cls, uint32_t size, uint32_t npages, uint32_t prev,
		     uint32_t page_size, uint32_t max_small, char *err, size_t errlen)
{
	if (size <= prev)
		FAIL("class %u: size %u is not larger than class %u's size %u", cls, size, cls - 1, prev);
	if (size % 8)
		FAIL("class %u: size %u is not a multiple of 8", cls, size);
	if (size >= 32 && size % 16)
		FAIL("class %u: size %u must be a multiple of 16 (sizes from 32 B up are 16-byte aligned)",
		     cls, size);
	if (size > SL_SMALL_SIZE_MAX && size % SL_LARGE_SIZE_DIV)
		FAIL("class %u: size %u above %u must be a multiple of %u (size_to_class128)",
		     cls, size, SL_SMALL_SIZE_MAX, SL_LARGE_SIZE_DIV);
	if (size > max_small)
		FAIL("class %u: size %u exceeds max_small_size %u", cls, size, max_small);
	if (npages < 1)
		FAIL("class %u: pages per span must be at least 1", cls);
	if (npages > SL_MAX_SPAN_PAGES)
		FAIL("class %u: %u pages per span is more than %u", cls, npages, SL_MAX_SPAN_PAGES);
	uint64_t span = (uint64_t)npages * page_size;
	if (span / size < 1)
		FAIL("class %u: size %u does not fit in a span of %u page(s) (%llu bytes)", cls, size,
		     npages, (unsigned long long)span);
	if (!magic_exact(size, span))
		FAIL("class %u: size %u needs more than 32 bits of division magic over a %llu-byte span",
		     cls, size, (unsigned long long)span);
	return 0;
}

static void build_lookups(struct sl_sizeclasses *t)
{
	uint32_t c = 0;
	for (uint32_t i = 0; i <= SL_SMALL_SIZE_MAX / SL_SMALL_SIZE_DIV; i++) {
		uint32_t size = i * SL_SMALL_SIZE_DIV;
		while (c < t->nclasses - 1 && t->class_to_size[c] < size)
			c++;
		t->size_to_class8[i] = (uint8_t)c;
	}
	c = 0;
	uint32_t n128 = (t->max_small_size - SL_SMALL_SIZE_MAX) / SL_LARGE_SIZE_DIV + 1;
	for (uint32_t i = 0; i < n128; i++) {
		uint32_t size = SL_SMALL_SIZE_MAX + i * SL_LARGE_SIZE_DIV;
		while (c < t->nclasses - 1 && t->class_to_size[c] < size)
			c++;
		t->size_to_class128[i] = (uint8_t)c;
	}
}

static int check_limits(uint32_t page_size, uint32_t max_small_size, char *err, size_t errlen)
{
	if (page_size < SL_MIN_PAGE_SIZE || page_size > SL_MAX_PAGE_SIZE || (page_size & (page_size - 1)))
		FAIL("page_size %u must be a power of two from %u to %u", page_size,
		     SL_MIN_PAGE_SIZE, SL_MAX_PAGE_SIZE);
	if (max_small_size < SL_SMALL_SIZE_MAX || max_small_size > SL_MAX_SMALL_LIMIT)
		FAIL("max_small_size %u must be from %u to %u", max_small_size,
		     SL_SMALL_SIZE_MAX, SL_MAX_SMALL_LIMIT);
	return 0;
}

int sl_sizeclass_row_check(uint32_t page_size, uint32_t max_small_size, uint32_t size, uint32_t npages,
			   char *err, size_t errlen)
{
	if (check_limits(page_size, max_small_size, err, errlen))
		return -1;
	return check_row(1, size, npages, 0, page_size, max_small_size, err, errlen);
}

int sl_sizeclasses_from_rows(uint32_t page_size, uint32_t max_small_size,
			     const uint32_t (*rows)[2], size_t n,
			     struct sl_sizeclasses *t, char *err, size_t errlen)
{
	if (check_limits(page_size, max_small_size, err, errlen))
		return -1;
	if (n == 0)
		FAIL("the table has no size classes");
	if (n > SL_MAX_CLASSES - 1)
		FAIL("the table has %zu size classes (at most %d)", n, SL_MAX_CLASSES - 1);

	memset(t, 0, sizeof *t);
	t->page_size = page_size;
	t->page_shift = (uint32_t)__builtin_ctz(page_size);
	t->max_small_size = max_small_size;
	t->nclasses = (uint32_t)n + 1;
	for (size_t i = 0; i < n; i++) {
		uint32_t cls = (uint32_t)i + 1;
		if (check_row(cls, rows[i][0], rows[i][1], t->class_to_size[i], page_size,
			      max_small_size, err, errlen))
			return -1;
		t->class_to_size[cls] = rows[i][0];
		t->class_to_allocnpages[cls] = (uint16_t)rows[i][1];
		t->class_to_divmagic[cls] = divmagic(rows[i][0]);
	}
	if (rows[n - 1][0] != max_small_size)
		FAIL("the last class size %u does not reach max_small_size %u", rows[n - 1][0],
		     max_small_size);
	build_lookups(t);
	return 0;
}

bool sl_sizeclasses_check(const struct sl_sizeclasses *t, char *err, size_t errlen)
{
	uint32_t rows[SL_MAX_CLASSES][2];
	struct sl_sizeclasses fresh;

	if (t->nclasses < 2 || t->nclasses > SL_MAX_CLASSES) {
		snprintf(err, errlen, "table has %u classes including class 0 (2..%d)", t->nclasses,
			 SL_MAX_CLASSES);
		return false;
	}
	if (t->class_to_size[0] || t->class_to_allocnpages[0] || t->class_to_divmagic[0]) {
		snprintf(err, errlen, "class 0 must have size 0, 0 pages and no magic");
		return false;
	}
	for (uint32_t c = 1; c < t->nclasses; c++) {
		rows[c - 1][0] = t->class_to_size[c];
		rows[c - 1][1] = t->class_to_allocnpages[c];
	}
	if (sl_sizeclasses_from_rows(t->page_size, t->max_small_size, (const uint32_t (*)[2])rows,
				     t->nclasses - 1, &fresh, err, errlen))
		return false;
	if (!sl_sizeclasses_equal(t, &fresh)) {
		snprintf(err, errlen, "derived tables (magic or size lookups) disagree with the classes");
		return false;
	}
	return true;
}

bool sl_sizeclasses_equal(const struct sl_sizeclasses *a, const struct sl_sizeclasses *b)
{
	if (a->page_size != b->page_size || a->page_shift != b->page_shift ||
	    a->max_small_size != b->max_small_size || a->nclasses != b->nclasses)
		return false;
	size_t n = a->nclasses;
	size_t n128 = (a->max_small_size - SL_SMALL_SIZE_MAX) / SL_LARGE_SIZE_DIV + 1;
	return !memcmp(a->class_to_size, b->class_to_size, n * sizeof a->class_to_size[0]) &&
	       !memcmp(a->class_to_allocnpages, b->class_to_allocnpages,
		       n * sizeof a->class_to_allocnpages[0]) &&
	       !memcmp(a->class_to_divmagic, b->class_to_divmagic, n * sizeof a->class_to_divmagic[0]) &&
	       !memcmp(a->size_to_class8, b->size_to_class8, sizeof a->size_to_class8) &&
	       !memcmp(a->size_to_class128, b->size_to_class128, n128);
}

void sl_sizeclass_row(const struct sl_sizeclasses *t, uint32_t cls, struct sl_sizeclass_row *r)
{
	uint32_t size = t->class_to_size[cls];
	uint32_t prev = cls > 1 ? t->class_to_size[cls - 1] : 0;
	uint32_t span = t->class_to_allocnpages[cls] * t->page_size;
	uint32_t align_bits = size ? (uint32_t)__builtin_ctz(size) : 0;

	if (align_bits > t->page_shift)
		align_bits = t->page_shift;	/* object alignment is capped at page alignment */
	r->cls = cls;
	r->size = size;
	r->span_bytes = span;
	r->npages = t->class_to_allocnpages[cls];
	r->objects = size ? span / size : 0;
	r->tail_waste = span - size * r->objects;
	r->max_waste = span ? (double)((uint64_t)(size - prev - 1) * r->objects + r->tail_waste) / span : 0;
	r->min_align = 1u << align_bits;
}

/* Go's printComment, with a line prefix ("" for the CLI, "// " for C). */
static void print_comment(const struct sl_sizeclasses *t, FILE *out, const char *pfx)
{
	uint32_t min_aligns[32] = { 0 };

	fprintf(out, "%s%-5s  %-9s  %-10s  %-7s  %-10s  %-9s  %-9s\n", pfx, "class", "bytes/obj",
		"bytes/span", "objects", "tail waste", "max waste", "min align");
	for (uint32_t c = 1; c < t->nclasses; c++) {
		struct sl_sizeclass_row r;
		sl_sizeclass_row(t, c, &r);
		uint32_t bits = (uint32_t)__builtin_ctz(r.min_align);
		for (uint32_t i = 0; i <= t->page_shift; i++) {
			if (i > bits)
				min_aligns[i] = 0;
			else if (min_aligns[i] == 0)
				min_aligns[i] = r.size;
		}
		fprintf(out, "%s%5u  %9u  %10u  %7u  %10u  %8.2f%%  %9u\n", pfx, c, r.size, r.span_bytes,
			r.objects, r.tail_waste, 100 * r.max_waste, r.min_align);
	}
	fprintf(out, "\n%s%-9s  %-4s  %-12s\n", pfx, "alignment", "bits", "min obj size");
	for (uint32_t bits = 0; bits <= t->page_shift; bits++) {
		uint32_t size = min_aligns[bits];
		if (size == 0)
			break;
		if (bits + 1 <= t->page_shift && size == min_aligns[bits + 1])
			continue;
		fprintf(out, "%s%9u  %4u  %12u\n", pfx, 1u << bits, bits, size);
	}
}

void sl_sizeclasses_print(const struct sl_sizeclasses *t, FILE *out)
{
	print_comment(t, out, "");
}

static void emit_u32s(FILE *out, const char *name, const uint32_t *v, size_t n)
{
	fprintf(out, "\t.%s = {", name);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%u,", i % 12 ? " " : "\n\t\t", v[i]);
	fprintf(out, "\n\t},\n");
}

void sl_sizeclasses_emit_c(const struct sl_sizeclasses *t, FILE *out)
{
	uint32_t tmp[sizeof ((struct sl_sizeclasses *)0)->size_to_class128];
	size_t n = t->nclasses;
	size_t n128 = (t->max_small_size - SL_SMALL_SIZE_MAX) / SL_LARGE_SIZE_DIV + 1;

	fprintf(out, "/* Code generated by spanlab sizeclasses --emit-c; DO NOT EDIT. */\n\n");
	fprintf(out, "// Go 1.19's size classes (runtime/sizeclasses.go), regenerated by\n"
		     "// alloc/sizeclass_gen.c with sl_sizeclass_params_go().\n//\n");
	print_comment(t, out, "// ");
	fprintf(out, "\n#include \"sizeclass.h\"\n\nstatic const struct sl_sizeclasses go_table = {\n");
	fprintf(out, "\t.page_size = %u,\n\t.page_shift = %u,\n\t.max_small_size = %u,\n"
		     "\t.nclasses = %u,\n", t->page_size, t->page_shift, t->max_small_size, t->nclasses);
	emit_u32s(out, "class_to_size", t->class_to_size, n);
	for (size_t i = 0; i < n; i++)
		tmp[i] = t->class_to_allocnpages[i];
	emit_u32s(out, "class_to_allocnpages", tmp, n);
	emit_u32s(out, "class_to_divmagic", t->class_to_divmagic, n);
	for (size_t i = 0; i < sizeof t->size_to_class8; i++)
		tmp[i] = t->size_to_class8[i];
	emit_u32s(out, "size_to_class8", tmp, sizeof t->size_to_class8);
	for (size_t i = 0; i < n128; i++)
		tmp[i] = t->size_to_class128[i];
	emit_u32s(out, "size_to_class128", tmp, n128);
	fprintf(out, "};\n\nconst struct sl_sizeclasses *sl_sizeclasses_go(void)\n{\n"
		     "\treturn &go_table;\n}\n");
}
