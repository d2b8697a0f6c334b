/*
 * The size-class generator: Go 1.19's mksizeclasses.go with its constants
 * turned into parameters (struct sl_sizeclass_params).
 *
 * The algorithm, step for step as makeClasses():
 *   1. Walk candidate sizes from min_align up to max_small_size in steps of
 *      `align`. At each power of two the step changes: clamp(size·max_waste,
 *      16, max_align) from prop_align_from on, 16 from align16_from on, and
 *      never below 128 from 1024 on. (Go: size/8 from 128, 256 from 2048, 16
 *      from 32, 8 below.) The step is read after the body, so a new
 *      alignment applies to the next candidate.
 *   2. Pages per span: start at one page and add pages while the tail
 *      (span mod size) exceeds floor(span · tail_waste).
 *   3. If the previous class has the same pages and the same objects per
 *      span, the candidate replaces its size (the larger size costs nothing);
 *      otherwise it becomes a new class.
 *   4. "Fill the span": each class grows to the largest multiple of
 *      SL_LARGE_SIZE_DIV that keeps its objects per span; the merge is not
 *      re-run (sizeToClass128 needs the 128-byte multiples). Departure: a
 *      class never grows to the next class's final size (with 4 KiB pages
 *      it would; with Go's 8 KiB pages it never does).
 *   5. The division magic and the lookup tables come from the final sizes
 *      (sl_sizeclasses_from_rows, which also validates the result).
 *
 * Departure from Go: Go panics unless it gets exactly 68 classes; we accept
 * any valid count up to SL_MAX_CLASSES and report why a parameter set fails.
 * With sl_sizeclass_params_go() the output equals sizeclasses.go exactly
 * (checked by tests/unit/test_sizeclass.c against Go's own file).
 */
#include "sizeclass.h"

#include <math.h>
#include <string.h>

void sl_sizeclass_params_go(struct sl_sizeclass_params *p)
{
	*p = (struct sl_sizeclass_params){
		.page_size = SL_GO_PAGE_SIZE,
		.max_small_size = SL_GO_MAX_SMALL_SIZE,
		.max_waste = 0.125,
		.tail_waste = 0.125,
		.min_align = 8,
		.align16_from = 32,
		.prop_align_from = 128,
		.max_align = 256,
		.merge = true,
		.fill_span = true,
	};
}

static bool is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* Round x down to a power of two (x >= 1). */
static uint32_t floor_pow2(uint32_t x)
{
	return 1u << (31 - __builtin_clz(x));
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

static int check_params(const struct sl_sizeclass_params *p, char *err, size_t errlen)
{
	if (!is_pow2(p->page_size) || p->page_size < SL_MIN_PAGE_SIZE || p->page_size > SL_MAX_PAGE_SIZE)
		FAIL("page_size %u must be a power of two from %u to %u", p->page_size,
		     SL_MIN_PAGE_SIZE, SL_MAX_PAGE_SIZE);
	if (p->max_small_size < SL_SMALL_SIZE_MAX || p->max_small_size > SL_MAX_SMALL_LIMIT)
		FAIL("max_small_size %u must be from %u to %u", p->max_small_size,
		     SL_SMALL_SIZE_MAX, SL_MAX_SMALL_LIMIT);
	if (!(p->max_waste > 0 && p->max_waste <= 1))
		FAIL("max_waste %g must be in (0, 1]", p->max_waste);
	if (!(p->tail_waste >= 0 && p->tail_waste < 1))
		FAIL("tail_waste %g must be in [0, 1)", p->tail_waste);
	if (p->min_align != 8 && p->min_align != 16)
		FAIL("min_align %u must be 8 or 16", p->min_align);
	if (p->align16_from != 16 && p->align16_from != 32)	/* sizeclass.c's rule */
		FAIL("align16_from %u must be 16 or 32 (sizes from 32 B up are 16-byte aligned)", p->align16_from);
	if (!is_pow2(p->prop_align_from) || p->prop_align_from < p->align16_from)
		FAIL("prop_align_from %u must be a power of two >= align16_from", p->prop_align_from);
	if (!is_pow2(p->max_align) || p->max_align < 16 || p->max_align > p->page_size)
		FAIL("max_align %u must be a power of two from 16 to page_size", p->max_align);
	return 0;
}

/* The candidate step after a power-of-two size (mksizeclasses.go's switch).
 * Above SL_SMALL_SIZE_MAX the step is at least SL_LARGE_SIZE_DIV, which
 * size_to_class128 needs (Go's own steps there are 128 and 256 anyway). */
static uint32_t bump_align(const struct sl_sizeclass_params *p, uint32_t size, uint32_t align)
{
	uint32_t na = align;
	if (size >= p->prop_align_from) {
		double a = floor((double)size * p->max_waste);
		na = a < 16 ? 16 : floor_pow2((uint32_t)a);
		if (na > p->max_align)
			na = p->max_align;
	} else if (size >= p->align16_from) {
		na = 16;
	}
	if (size >= SL_SMALL_SIZE_MAX && na < SL_LARGE_SIZE_DIV)
		na = SL_LARGE_SIZE_DIV;
	return na;
}

/* Fewest pages whose tail is at most tail_waste of the span. */
static uint32_t span_pages(const struct sl_sizeclass_params *p, uint32_t size)
{
	uint64_t allocsize = p->page_size;
	while (allocsize % size > (uint64_t)floor((double)allocsize * p->tail_waste))
		allocsize += p->page_size;
	return (uint32_t)(allocsize / p->page_size);
}

int sl_sizeclasses_generate(const struct sl_sizeclass_params *p,
			    struct sl_sizeclasses *out, char *err, size_t errlen)
{
	uint32_t rows[SL_MAX_CLASSES][2];	/* {size, npages}, classes 1.. */
	size_t n = 0;
	uint32_t align = p->min_align;

	if (check_params(p, err, errlen))
		return -1;
	for (uint32_t size = align; size <= p->max_small_size; size += align) {
		if (is_pow2(size))
			align = bump_align(p, size, align);
		uint32_t npages = span_pages(p, size);
		if (npages > SL_MAX_SPAN_PAGES)
			FAIL("size %u needs %u pages per span (more than %u)", size, npages, SL_MAX_SPAN_PAGES);
		uint64_t span = (uint64_t)npages * p->page_size;
		if (p->merge && n > 0 && rows[n - 1][1] == npages &&
		    span / size == span / rows[n - 1][0]) {
			rows[n - 1][0] = size;
			continue;
		}
		if (n == SL_MAX_CLASSES - 1)
			FAIL("these parameters give more than %d size classes", SL_MAX_CLASSES - 1);
		rows[n][0] = size;
		rows[n][1] = npages;
		n++;
	}
	if (p->fill_span) {
		for (size_t i = n; i-- > 0;) {	/* top down: the next class is final */
			uint64_t psize = (uint64_t)rows[i][1] * p->page_size;
			uint64_t nsz = (psize / (psize / rows[i][0])) & ~(uint64_t)(SL_LARGE_SIZE_DIV - 1);
			/* Stay below the next class (Go's table never gets there;
			 * 4 KiB pages do, and would give two equal classes), and
			 * the last at max_small_size (3072 with 8 KiB pages would
			 * fill its 2-page span to 3200). */
			if (i + 1 < n && nsz >= rows[i + 1][0])
				nsz = (rows[i + 1][0] - 1) & ~(uint64_t)(SL_LARGE_SIZE_DIV - 1);
			if (i + 1 == n && nsz > p->max_small_size)
				nsz = p->max_small_size;
			if (nsz > rows[i][0])
				rows[i][0] = (uint32_t)nsz;
		}
	}
	if (n == 0 || rows[n - 1][0] != p->max_small_size)
		FAIL("the alignment steps do not reach max_small_size %u (last class %u)",
		     p->max_small_size, n ? rows[n - 1][0] : 0);
	return sl_sizeclasses_from_rows(p->page_size, p->max_small_size,
					(const uint32_t (*)[2])rows, n, out, err, errlen);
}
