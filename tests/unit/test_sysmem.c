/*
 * OS memory states and arenas (sysmem.c, arena.c): the exact sequence of
 * state events for a known sequence of operations, the per-state byte
 * counters, Go's address hints, several heaps in one process, and heap
 * destruction returning every byte.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "coretest.h"

/* The arena events, in order. */
static size_t arena_events(const struct ct_events *r, struct sl_ev_arena *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n && n < max; i++)
		if (r->ev[i].kind == SL_EV_ARENA)
			out[n++] = r->ev[i].u.arena;
	return n;
}

static bool asan_variant(void)
{
	const char *v = getenv("SPANLAB_VARIANT");
	return v != NULL && strcmp(v, "asan") == 0;
}

Test(sysmem, first_allocation_reserves_an_arena_and_maps_a_chunk)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	struct sl_heap *h = ct_heap(&cfg);
	struct ct_events rec = { 0 };
	sl_sink_attach(h, ct_recorder(&rec));
	sl_heap_clock(h)->op = 7;
	void *p = sl_malloc(sl_heap_p(h, 0), 100);
	cr_assert_not_null(p);
	struct sl_ev_arena a[8];
	size_t n = arena_events(&rec, a, 8);
	uint64_t page = cfg.classes.page_size, chunk = 512 * page;
	cr_assert_eq(n, 3, "expected reserve, map, used; got %zu arena events", n);
	cr_assert_eq(a[0].from_state, SL_MEM_NONE);
	cr_assert_eq(a[0].to_state, SL_MEM_RESERVED);
	cr_assert_eq((uint64_t)a[0].bytes, cfg.arena_bytes);
	cr_assert_eq((uint64_t)a[0].base % cfg.arena_bytes, 0, "arena not aligned to its size");
	if (!asan_variant())
		cr_assert_eq((uint64_t)a[0].base, 0xc000000000ull, "first arena at %#lx, not Go's first hint",
			     (unsigned long)a[0].base);
	cr_assert_eq(a[1].from_state, SL_MEM_RESERVED);
	cr_assert_eq(a[1].to_state, SL_MEM_PREPARED);
	cr_assert_eq(a[1].base, a[0].base, "grow maps the start of the arena");
	cr_assert_eq((uint64_t)a[1].bytes, chunk, "grow maps one 512-page chunk");
	cr_assert_eq(a[2].from_state, SL_MEM_PREPARED);
	cr_assert_eq(a[2].to_state, SL_MEM_READY);
	cr_assert_eq((uint64_t)a[2].bytes, page, "the one-page span is made Ready");
	cr_assert_eq((uint64_t)a[2].base, (uintptr_t)p & ~(page - 1));
	/* event order within the operation: arena..., span_alloc, span_move M1, refill */
	enum sl_event_kind want[] = { SL_EV_ARENA, SL_EV_ARENA, SL_EV_ARENA, SL_EV_SPAN_ALLOC,
				      SL_EV_SPAN_MOVE, SL_EV_REFILL };
	cr_assert_eq(rec.n, sizeof want / sizeof want[0], "%zu events", rec.n);
	for (size_t i = 0; i < rec.n; i++) {
		cr_assert_eq(rec.ev[i].kind, want[i], "event %zu is %s", i, sl_event_kind_name(rec.ev[i].kind));
		cr_assert_eq(rec.ev[i].op, 7, "event carries the caller's op index");
		cr_assert_eq(rec.ev[i].seq, i, "sequence numbers count from 0");
	}
	cr_assert_eq(rec.ev[4].u.span_move.move, 1);
	cr_assert_eq(rec.ev[5].u.refill.source, SL_REFILL_GROW);
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.reserved_bytes, cfg.arena_bytes - chunk);
	cr_assert_eq(st.prepared_bytes, chunk - page);
	cr_assert_eq(st.ready_bytes, page);
	cr_assert_eq(st.heap_sys, chunk);
	ct_check(h, "after the first allocation");
	sl_heap_destroy(h);
	ct_events_free(&rec);
}

Test(sysmem, scavenge_moves_ready_to_prepared_and_reuse_moves_it_back)
{
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.scavenger = false;		/* only the forced release below */
	struct sl_heap *h = ct_heap(&cfg);
	struct sl_p *p = sl_heap_p(h, 0);
	uint64_t page = cfg.classes.page_size;
	size_t big = 40 * page;		/* large: not from the page cache */
	void *a = sl_malloc(p, big);
	cr_assert_not_null(a);
	cr_assert_eq(sl_free(p, a), SL_FREE_OK);
	sl_heap_gc(h);			/* the sweep returns the span to the heap */
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.heap_free, 40 * page, "freed span pages stay Ready (heap_free)");
	struct ct_events rec = { 0 };
	sl_sink_attach(h, ct_recorder(&rec));
	sl_heap_scavenge_all(h);
	struct sl_ev_arena ev[8];
	size_t n = arena_events(&rec, ev, 8);
	cr_assert_eq(n, 1, "one contiguous release, got %zu arena events", n);
	cr_assert_eq(ev[0].from_state, SL_MEM_READY);
	cr_assert_eq(ev[0].to_state, SL_MEM_PREPARED);
	cr_assert_eq((uint64_t)ev[0].base, (uintptr_t)a);
	cr_assert_eq((uint64_t)ev[0].bytes, 40 * page);
	cr_assert_eq(ct_count(&rec, SL_EV_SCAVENGE), 1);
	const struct sl_event *sc = &rec.ev[rec.n - 1];
	cr_assert_eq(sc->kind, SL_EV_SCAVENGE, "the scavenge event follows its arena events");
	cr_assert_eq((uint64_t)sc->u.scavenge.bytes, 40 * page);
	cr_assert_eq(sc->u.scavenge.reason, SL_SCAV_FORCED);
	sl_heap_stats(h, &st);
	cr_assert_eq(st.heap_free, 0);
	cr_assert_eq(st.heap_released, 512 * page);
	ct_check(h, "after scavenge_all");
	ct_events_clear(&rec);
	void *b = sl_malloc(p, big);
	cr_assert_eq(b, a, "first fit gives the same pages back");
	n = arena_events(&rec, ev, 8);
	cr_assert_eq(n, 1);
	cr_assert_eq(ev[0].from_state, SL_MEM_PREPARED);
	cr_assert_eq(ev[0].to_state, SL_MEM_READY);
	cr_assert_eq((uint64_t)ev[0].bytes, 40 * page);
	ct_check(h, "after reuse");
	sl_heap_destroy(h);
	ct_events_free(&rec);
}

Test(sysmem, growth_is_chunk_by_chunk_then_arena_by_arena)
{
	struct sl_heap_config cfg;
	uint64_t page = 8192, chunk = 512 * page;
	ct_config(&cfg, 2 * chunk);		/* 8 MiB arenas: two chunks each */
	struct sl_heap *h = ct_heap(&cfg);
	struct sl_p *p = sl_heap_p(h, 0);
	struct ct_events rec = { 0 };
	sl_sink_attach(h, ct_recorder(&rec));
	void *o[3];
	for (int i = 0; i < 3; i++) {		/* 3 MiB each: one chunk each */
		o[i] = sl_malloc(p, 3 << 20);
		cr_assert_not_null(o[i]);
	}
	struct sl_ev_arena ev[16];
	size_t n = arena_events(&rec, ev, 16), reserves = 0, maps = 0;
	for (size_t i = 0; i < n; i++) {
		reserves += ev[i].to_state == SL_MEM_RESERVED;
		if (ev[i].to_state == SL_MEM_PREPARED) {
			maps++;
			cr_assert_eq((uint64_t)ev[i].bytes, chunk, "each grow maps one chunk");
		}
	}
	cr_assert_eq(reserves, 2, "3 chunks need 2 arenas of 2 chunks");
	cr_assert_eq(maps, 3);
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.reserved_bytes + st.prepared_bytes + st.ready_bytes, 4 * chunk);
	cr_assert_eq(st.heap_sys, 3 * chunk);
	ct_check(h, "after growing into a second arena");
	sl_heap_destroy(h);
	ct_events_free(&rec);
}

Test(sysmem, several_heaps_coexist_and_destroy_returns_everything)
{
	struct ct_os os;
	ct_os_init(&os);
	struct sl_heap_config cfg;
	ct_config(&cfg, 4 << 20);
	cfg.os = &os.ops;
	struct sl_heap *h[3];
	void *obj[3];
	for (int i = 0; i < 3; i++) {
		h[i] = ct_heap(&cfg);
		obj[i] = sl_malloc(sl_heap_p(h[i], 0), 1000);
		cr_assert_not_null(obj[i]);
		memset(obj[i], i + 1, 1000);
	}
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (i != j)
				cr_assert_eq(sl_free(sl_heap_p(h[i], 0), obj[j]), SL_FREE_FOREIGN,
					     "heap %d must not own heap %d's object", i, j);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(((unsigned char *)obj[i])[999], i + 1, "heaps overlap");
		ct_check(h[i], "with three heaps");
	}
	for (int i = 0; i < 3; i++)
		sl_heap_destroy(h[i]);
	cr_assert_eq(os.mapped_bytes, 0, "%ld bytes still mapped after destroying every heap",
		     (long)os.mapped_bytes);
	/* The address space is really gone: a hint there is honoured again. */
	void *v = mmap((void *)0xc000000000ull, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(v, MAP_FAILED);
	if (!asan_variant())
		cr_assert_eq(v, (void *)0xc000000000ull);
	munmap(v, 4096);
}

Test(sysmem, a_taken_hint_is_skipped)
{
	if (asan_variant())
		return;		/* ASan owns that part of the address space */
	void *v = mmap((void *)0xc000000000ull, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_eq(v, (void *)0xc000000000ull);
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	struct sl_heap *h = ct_heap(&cfg);
	struct ct_events rec = { 0 };
	sl_sink_attach(h, ct_recorder(&rec));
	cr_assert_not_null(sl_malloc(sl_heap_p(h, 0), 64));
	struct sl_ev_arena ev[4];
	cr_assert_geq(arena_events(&rec, ev, 4), 1);
	cr_assert_eq((uint64_t)ev[0].base, 0x1c000000000ull, "the next hint is 0x1c000000000");
	sl_heap_destroy(h);
	munmap(v, 4096);
	ct_events_free(&rec);
}

Test(sysmem, no_mprotect_ever_and_no_syscall_for_used)
{
	struct ct_os os;
	ct_os_init(&os);
	struct sl_heap_config cfg;
	ct_config(&cfg, 0);
	cfg.os = &os.ops;
	struct sl_heap *h = ct_heap(&cfg);
	struct sl_p *p = sl_heap_p(h, 0);
	void *v[64];
	for (int i = 0; i < 64; i++)
		v[i] = sl_malloc(p, 20000 + 1000 * i);
	for (int i = 0; i < 64; i += 2)
		sl_free(p, v[i]);
	sl_heap_scavenge_all(h);
	for (int i = 0; i < 64; i += 2)
		v[i] = sl_malloc(p, 20000 + 1000 * i);
	ct_check(h, "after a checkerboard of releases and reuse");
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq(st.reserved_bytes + st.prepared_bytes + st.ready_bytes, cfg.arena_bytes, "one arena");
	cr_assert_eq(os.calls[CT_MAP], 1, "one 4 MiB chunk covers it");
	cr_assert_gt(os.calls[CT_UNUSED], 0);
	cr_assert_gt(os.calls[CT_USED], 0, "Prepared -> Ready goes through the (no-op) used hook");
	sl_heap_destroy(h);
	cr_assert_eq(os.mapped_bytes, 0);
}

/* An OS that never honours a hint: every hint is discarded, then the
 * aligned fallback reserves anywhere (and later arenas follow it). */
static int misplacing_reserve(void *ctx, void *hint, size_t n, void **out)
{
	(void)hint;
	int *calls = ctx;
	(*calls)++;
	return sl_os_posix.reserve(NULL, NULL, n, out);
}

Test(sysmem, hints_all_refused_fall_back_to_an_aligned_reservation)
{
	int calls = 0;
	struct sl_os_ops os = sl_os_posix;
	os.reserve = misplacing_reserve;
	os.ctx = &calls;
	struct sl_heap_config cfg;
	ct_config(&cfg, 8 << 20);
	cfg.os = &os;
	struct sl_heap *h = ct_heap(&cfg);
	struct sl_p *p = sl_heap_p(h, 0);
	void *v[6];
	size_t n[6];
	for (int i = 0; i < 6; i++) {
		/* 3 MiB grows one chunk and leaves one in the arena; 6 MiB then
		 * needs a new (non-contiguous) arena, so grow hands the leftover
		 * chunk to the page allocator first */
		n[i] = (i % 2 ? 6u : 3u) << 20;
		v[i] = sl_malloc(p, n[i]);
		cr_assert_not_null(v[i]);
		cr_assert_eq((uintptr_t)v[i] % 8192, 0);
		memset(v[i], i, n[i]);
		ct_check(h, "after a growth");
	}
	cr_assert_geq(calls, 128, "every Go hint was tried first");
	struct sl_stats st;
	sl_heap_stats(h, &st);
	cr_assert_eq((st.reserved_bytes + st.prepared_bytes + st.ready_bytes) % (8 << 20), 0);
	cr_assert_geq(st.heap_sys, 3 * (3 << 20) + 3 * (6 << 20));
	ct_check(h, "after fallback reservations");
	for (int i = 0; i < 6; i++)
		cr_assert_eq(sl_free(p, v[i]), SL_FREE_OK);
	sl_heap_destroy(h);
}
