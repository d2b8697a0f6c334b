/*
 * The simulated garbage collector and the free policies: Go's gcStart /
 * gcMarkTermination / gcSweep (mgc.go) and the 1.19 pacer (mgcpacer.go).
 *
 * gc policy (default, Go-faithful). A trace's free(p) means "p became
 * unreachable": it clears p's bit in live_bits and changes nothing else.
 * The next cycle's mark is instantaneous: mark_bits := allocated & live
 * (a dead object stays allocated and not live until its span is swept, so
 * a second free in an unswept span is a double free; a tiny block is
 * marked while any sub-object is live, or while it is some P's current
 * block, as gcMarkTinyAllocs does), heap_marked := the
 * marked slot bytes, heap_live := heap_marked. Then, as Go does at mark
 * termination: sweepgen += 2 (every span in a set becomes unswept: M12),
 * the eager sweep (eager mode), heap goal and trigger for the next cycle,
 * the scavenger's goal and the sweep pacing, and release_all on every P
 * (spans cached before the flip are stale and are swept on the way, M7).
 * After the sweep completes, the scavenger runs (scavenge.c).
 *
 * When a cycle starts: a refill or large allocation sees heap_live >=
 * trigger (Go tests at exactly those points), a trace GC marker
 * (sl_heap_gc_marker), or sl_heap_gc / sl_heap_scavenge_all.
 *
 * Pacing (Go 1.19 gcControllerState.commit / trigger):
 *   heap_minimum = 4 MiB * GOGC / 100;
 *   goal = max(heap_marked + heap_marked * GOGC / 100, heap_minimum)
 *          (no stacks or globals in a C trace);
 *   trigger = max(heap_marked + f * (goal - heap_marked), goal - 4 MiB),
 *             capped at goal, f = trigger_fraction (0.95 by default;
 *             Go 1.19 computes its upper clamp with 61/64 = 0.953125,
 *             which a config can set).
 * Go's real trigger sits between heap_marked + 45/64 and that upper clamp,
 * moved by a runway measured in CPU time; our mark takes no time, so we
 * declare the upper clamp as the deterministic trigger. GOGC < 0: no
 * pacer-triggered cycles.
 *
 * immediate policy (ablation, not Go): free returns the slot at once
 * (free_immediate): it becomes the span's next free slot, and the span
 * moves full -> partial -> heap as its occupancy crosses those lines (a
 * span cached by a P stays cached). There is no GC: the pacer and trace
 * GC markers start no cycle, so the post-GC scavenger never runs; only
 * sl_heap_gc and sl_heap_scavenge_all force one (its mark frees nothing,
 * its sweep is eager).
 */
#include "internal.h"

/*
 * gcControllerState.commit and trigger: heap goal and trigger from
 * heap_marked. While sweeping is unfinished (the lazy sweep, at mark
 * termination), Go keeps 1 MiB of runway for the sweeper: goal and
 * trigger are at least heap_live + sweepMinHeapDistance
 * (sweepDistMinTrigger). The eager sweep is done by then: no floor.
 */
void gc_commit(struct mheap *h)
{
	int gogc = h->cfg.gogc;
	if (gogc < 0) {
		h->heap_goal = UINT64_MAX;
		h->trigger = UINT64_MAX;
		return;
	}
	uint64_t marked = h->heap_marked;
	uint64_t sweep_floor = h->sweep_done ? 0 : h->heap_live + SWEEP_MIN_HEAP_DISTANCE;
	uint64_t minimum = DEFAULT_HEAP_MINIMUM * (uint64_t)gogc / 100;
	uint64_t goal = marked + marked * (uint64_t)gogc / 100;
	if (goal < minimum)
		goal = minimum;
	if (goal < sweep_floor)
		goal = sweep_floor;
	h->heap_goal = goal;
	if (marked >= goal) {
		h->trigger = goal;
		return;
	}
	uint64_t trig = marked + (uint64_t)(h->cfg.trigger_fraction * (double)(goal - marked));
	if (goal > DEFAULT_HEAP_MINIMUM && goal - DEFAULT_HEAP_MINIMUM > trig)
		trig = goal - DEFAULT_HEAP_MINIMUM;
	if (trig < sweep_floor)
		trig = sweep_floor;
	if (trig > goal)
		trig = goal;
	h->trigger = trig;
}

/* heap_live reached the trigger (gc_maybe_start's slow half). */
void gc_start_paced(struct mheap *h)
{
	if (!h->in_gc && h->cfg.free_policy == SL_FREE_GC)
		gc_cycle(h, SL_GC_PACER);
}

/* Mark one span: mark_bits := allocated & live; returns marked slots. */
static uint32_t mark_span(struct mheap *h, struct mspan *s)
{
	uint32_t nw = mspan_words(s), n = 0;
	bool tiny = s->spanclass == make_span_class(TINY_SIZE_CLASS, true);
	for (uint32_t w = 0; w < nw; w++) {
		uint64_t m = mspan_mark_word(h, s, w);
		if (tiny) {
			for (uint64_t x = m; x != 0; x &= x - 1) {
				uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(x);
				if (s->reqsize[i] == 0)
					m &= ~((uint64_t)1 << (i % 64));
			}
		}
		s->mark_bits[w] = m;
		n += SL_POPCOUNT(h, m);
	}
	return n;
}

/* The instantaneous mark over every in-use span. */
void gc_mark(struct mheap *h)
{
	uint64_t marked = 0;
	for (uint32_t a = 0; a < h->narenas; a++) {
		struct heap_arena *ha = h->all_arenas[a];
		for (uint32_t w = 0; w < h->arena_pages / 64; w++) {
			for (uint64_t x = ha->page_in_use[w]; x != 0; x &= x - 1) {
				uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(x);
				struct mspan *s = ha->spans[i];
				uint32_t n = mark_span(h, s);
				if (n > 0)
					bit_set(ha->page_marks, i);
				else
					bit_clear(ha->page_marks, i);
				if (span_class_sizeclass(s->spanclass) == 0)
					marked += n ? (uint64_t)s->npages << h->page_shift : 0;
				else
					marked += (uint64_t)n * s->elemsize;
			}
		}
	}
	/* gcMarkTinyAllocs: every P's current tiny block survives. */
	for (int i = 0; i < h->cfg.nprocs; i++) {
		uintptr_t t = h->ps[i].mcache.tiny;
		if (t == 0)
			continue;
		struct mspan *s = span_of(h, t);
		uint32_t idx = mspan_obj_index(s, t);
		if (!bit_get(s->mark_bits, idx)) {
			bit_set(s->mark_bits, idx);
			marked += s->elemsize;
			struct heap_arena *ha = arena_of(h, s->base);
			bit_set(ha->page_marks, (uint32_t)((s->base - ha->base) >> h->page_shift));
		}
	}
	h->heap_marked = marked;
	h->heap_live = marked;
}

/*
 * The eager cycle's mark of the spans Ps cache (gc policy): the spans in
 * sets are marked by the sweep itself (sweep_eager_marked). Returns their
 * marked bytes.
 */
static uint64_t gc_mark_cached(struct mheap *h)
{
	uint64_t marked = 0;
	for (int i = 0; i < h->cfg.nprocs; i++) {
		const struct mcache *c = &h->ps[i].mcache;
		for (uint32_t spc = 0; spc < h->nspc; spc++)
			if (c->alloc[spc] != &empty_mspan)
				gc_mark_span(h, c->alloc[spc], &marked);
	}
	return marked;
}

/*
 * mark_span and gcMarkTinyAllocs for one span, for the eager cycle (which
 * keeps no pageMarks: only the lazy reclaimer reads them). Adds the span's
 * marked bytes to *marked; returns its marked slots.
 */
uint32_t gc_mark_span(struct mheap *h, struct mspan *s, uint64_t *marked)
{
	uint32_t n = mark_span(h, s);
	if (span_class_sizeclass(s->spanclass) == 0) {
		*marked += n ? (uint64_t)s->npages << h->page_shift : 0;
		return n;
	}
	*marked += (uint64_t)n * s->elemsize;
	if (s->spanclass != make_span_class(TINY_SIZE_CLASS, true))
		return n;
	for (int i = 0; i < h->cfg.nprocs; i++) {
		uintptr_t t = h->ps[i].mcache.tiny;
		if (t < s->base || t >= s->base + (uintptr_t)s->nelems * s->elemsize)
			continue;
		uint32_t idx = mspan_obj_index(s, t);
		if (!bit_get(s->mark_bits, idx)) {
			bit_set(s->mark_bits, idx);
			*marked += s->elemsize;
			n++;
		}
	}
	return n;
}

/*
 * gcSweep's flip: sweepgen += 2; every span in a set becomes unswept
 * (M12). relabel: also write the new place into each span and emit its
 * M12 event; the eager cycle with no sink skips that walk, as its sweep
 * files every such span again at once (only the count is kept).
 */
static void gc_flip(struct mheap *h, bool relabel)
{
	h->sweepgen += 2;
	h->pages_swept = h->pages_swept_basis = 0;
	h->sweep_central_index = 0;
	h->reclaim_index = 0;
	h->reclaim_credit = 0;
	uint64_t n = 0;
	for (uint32_t spc = 0; spc < h->nspc; spc++) {
		struct mcentral *c = &h->central[spc];
		struct span_set *sets[2] = { mcentral_partial_unswept(h, c), mcentral_full_unswept(h, c) };
		for (int k = 0; k < 2; k++) {
			if (!relabel) {
				n += sets[k]->n;
				h->span_moves += sets[k]->n;
				continue;
			}
			for (struct mspan *s = sets[k]->head; s != NULL; s = s->next) {
				enum sl_span_set from = (enum sl_span_set)s->set;
				s->set = k == 0 ? SL_SET_PARTIAL_UNSWEPT : SL_SET_FULL_UNSWEPT;
				h->span_moves++;
				SL_EMIT(h, SPAN_MOVE, span_move,
					.span_base = (int64_t)s->base, .spc = s->spanclass, .npages = s->npages,
					.from_set = from, .to_set = s->set, .move = 12,
					.alloc_count = s->alloc_count, .nelems = s->nelems);
				n++;
			}
		}
	}
	h->nunswept = n;
	h->sweep_done = n == 0;
}

/* One whole cycle; see the opening comment for the order. */
void gc_cycle(struct mheap *h, enum sl_gc_reason reason)
{
	if (h->in_gc)
		return;
	h->in_gc = true;
	SL_EMIT(h, GC_START, gc_start, .cycle = (int64_t)h->gc_cycles + 1, .reason = reason,
		.heap_live = (int64_t)h->heap_live, .trigger = (int64_t)h->trigger,
		.heap_goal = (int64_t)h->heap_goal);
	uint64_t swept0 = h->spans_swept, obj0 = h->objects_swept_free, bytes0 = h->bytes_swept_free;
	if (!h->sweep_done)
		sweep_finish(h);		/* finishsweep_m */
	h->last_heap_goal = h->heap_goal == UINT64_MAX ? 0 : h->heap_goal;	/* endCycle */
	if (h->cfg.sweep_mode == SL_SWEEP_EAGER && h->cfg.free_policy == SL_FREE_GC) {
		/* mark, flip and eager sweep with one pass over each set span:
		 * the same marks, moves, events and figures as the three steps */
		uint64_t marked = gc_mark_cached(h);
		gc_flip(h, SL_CONFIG_EVENTS && h->sink.emit != NULL);
		marked += sweep_eager_marked(h);
		h->heap_marked = h->heap_live = marked;
	} else {
		gc_mark(h);
		gc_flip(h, true);
		if (h->cfg.sweep_mode == SL_SWEEP_EAGER || h->cfg.free_policy == SL_FREE_IMMEDIATE)
			sweep_finish(h);
	}
	h->last_heap_inuse = h->heap_inuse;
	gc_commit(h);
	scavenge_pace(h);
	sweep_pace(h);
	for (int i = 0; i < h->cfg.nprocs; i++)
		mcache_release_all(h, &h->ps[i]);
	h->gc_cycles++;
	SL_EMIT(h, GC_END, gc_end, .cycle = (int64_t)h->gc_cycles, .heap_marked = (int64_t)h->heap_marked,
		.heap_goal = (int64_t)h->heap_goal, .trigger = (int64_t)h->trigger,
		.spans_swept = (int64_t)(h->spans_swept - swept0),
		.objects_freed = (int64_t)(h->objects_swept_free - obj0),
		.bytes_freed = (int64_t)(h->bytes_swept_free - bytes0));
	h->in_gc = false;
	if (h->sweep_done)
		scavenge_after_sweep(h);
}

/*
 * Immediate policy: slot idx of s (allocated, validated by sl_free) is
 * free now. Move 0 in span_move events marks these non-Go moves.
 */
enum sl_free_result free_immediate(struct mheap *h, struct sl_p *p, struct mspan *s, uint32_t idx)
{
	h->immediate_frees++;
	if (span_class_sizeclass(s->spanclass) == 0) {
		s->alloc_count = 0;
		h->large_free += (uint64_t)s->npages << h->page_shift;
		h->large_free_count++;
		h->large_live_count--;
		span_move_to(h, s, SL_SET_HEAP, 0);
		mheap_free_span(h, s);
		return SL_FREE_OK;
	}
	mspan_free_slot(s, idx);
	bit_clear(s->mark_bits, idx);	/* dead, should a sweep of s be pending */
	s->needzero = true;
	h->small_free_count[s->spanclass]++;
	if (s->set == SL_SET_MCACHE) {
		s->alloc_count_before_cache--;	/* keeps alloc_count - before = allocations */
	} else if (--s->alloc_count == 0 || s->set == SL_SET_FULL_SWEPT) {
		free_immediate_move(h, s);
	}
	return SL_FREE_OK;
}

/* An uncached span crossed a line: full -> partial, or empty -> heap. */
void free_immediate_move(struct mheap *h, struct mspan *s)
{
	if (s->alloc_count == 0) {
		span_move_to(h, s, SL_SET_HEAP, 0);
		mheap_free_span(h, s);
	} else {
		span_move_to(h, s, SL_SET_PARTIAL_SWEPT, 0);
	}
}

void sl_heap_gc(struct sl_heap *hp)
{
	struct mheap *h = &hp->h;
	gc_cycle(h, SL_GC_FORCED);
	sweep_finish(h);		/* runtime.GC waits for the sweep */
}

void sl_heap_gc_marker(struct sl_heap *hp)
{
	if (hp->h.cfg.free_policy == SL_FREE_GC)
		gc_cycle(&hp->h, SL_GC_MARKER);
}
