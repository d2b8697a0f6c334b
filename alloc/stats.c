/*
 * Stats: Go's MemStats definitions (mstats.go) plus the figures a trace
 * replay can have and Go cannot (requested sizes, so live bytes and
 * internal fragmentation). docs/metrics.md defines each field.
 *
 * Values are flush-equivalent without moving any span: counters flushed
 * at refill/release_all, plus what is still pending in the Ps (per-P
 * counters, allocations in cached spans). Cost O(nprocs * span classes);
 * no walk over spans. The validators (check.c) recompute the same figures
 * by walking every span and compare.
 *
 * Derived terms of the accounting identity:
 *   live_slot  = slot bytes of live objects = sum over classes of
 *                (allocated - freed-by-trace) * size, + 16 per tiny block
 *                with a live sub-object, + span bytes of live large objects
 *   internal_frag = live_slot - live_bytes
 *   dead       = heap_alloc - live_slot (gc policy: freed, not yet swept;
 *                also a current tiny block with no live sub-object)
 *   tail_waste = sum over small in-use spans of npages*page - nelems*size
 *   free_slot_bytes_central = heap_inuse - heap_alloc - cached free slots
 *                - tail_waste
 */
#include "internal.h"

const char *const sl_stat_names[] = {
#define X(name, kind, doc) #name,
	SL_STAT_FIELDS(X)
#undef X
};
const char *const sl_stat_docs[] = {
#define X(name, kind, doc) doc,
	SL_STAT_FIELDS(X)
#undef X
};
const unsigned sl_stat_count = sizeof sl_stat_names / sizeof sl_stat_names[0];

void heap_stats_compute(struct mheap *h, struct sl_stats *st)
{
	const struct sl_sizeclasses *sc = h->sc;
	uint64_t small_alloc[2 * SL_MAX_CLASSES];
	int64_t req[SL_MAX_CLASSES];
	uint64_t tfree[SL_MAX_CLASSES];
	int64_t tiny_req = h->tiny_req_bytes, tiny_objs = h->tiny_live_objects, tiny_blocks = h->tiny_live_blocks;
	uint64_t tiny_allocs = h->tiny_allocs, cached_free = 0;
	/* Every byte is written (callers compare whole structs), but each
	 * used class row once, by the loop below: zeroing all 256 rows first
	 * was most of a snapshot's cost. */
	memset(st, 0, offsetof(struct sl_stats, by_class));
	memset(&st->by_class[sc->nclasses], 0, sizeof st->by_class - sc->nclasses * sizeof st->by_class[0]);
	st->version = SL_STAT_VERSION;
	st->nclasses = sc->nclasses;
	memcpy(small_alloc, h->small_alloc_count, sizeof small_alloc);
	memcpy(req, h->req_bytes, sizeof req);
	memcpy(tfree, h->trace_frees, sizeof tfree);
	for (int i = 0; i < h->cfg.nprocs; i++) {
		const struct mcache *c = &h->ps[i].mcache;
		for (uint32_t spc = 0; spc < h->nspc; spc++) {
			const struct mspan *s = c->alloc[spc];
			if (s == &empty_mspan)
				continue;
			uint32_t ac = mspan_alloc_count(h, s);
			small_alloc[spc] += (uint32_t)(ac - s->alloc_count_before_cache);
			cached_free += (uint64_t)(s->nelems - ac) * s->elemsize;
		}
		for (uint32_t cls = 0; cls < sc->nclasses; cls++) {
			req[cls] += c->req_bytes[cls];
			tfree[cls] += c->trace_frees[cls];
		}
		tiny_req += c->tiny_req_bytes;
		tiny_objs += c->tiny_live_objects;
		tiny_blocks += c->tiny_live_blocks;
		tiny_allocs += c->tiny_allocs;
	}
	uint64_t live_slot = h->large_live_bytes + (uint64_t)tiny_blocks * TINY_SIZE;
	int64_t live_bytes = req[0] + tiny_req;
	uint64_t live_objects = h->large_live_objs + (uint64_t)tiny_objs;
	uint64_t heap_alloc = h->large_alloc - h->large_free, total_alloc = h->large_alloc;
	uint64_t mallocs = h->large_alloc_count + tiny_allocs, frees = h->large_free_count + tiny_allocs;
	uint64_t tail = 0, small_allocs = 0;
	for (uint32_t cls = 0; cls < sc->nclasses; cls++) {
		struct sl_class_stats *cs = &st->by_class[cls];
		uint64_t size = sc->class_to_size[cls];
		uint64_t a = small_alloc[cls << 1], an = small_alloc[cls << 1 | 1];
		uint64_t f = h->small_free_count[cls << 1] + h->small_free_count[cls << 1 | 1];
		if (cls == 0) {
			*cs = (struct sl_class_stats){
				.size = size, .mallocs = h->large_alloc_count, .frees = h->large_free_count,
				.refills = h->refills_by_class[0], .spans_inuse = h->spans_by_class[0],
				.peak_spans = h->peak_spans_by_class[0], .live_objects = h->large_live_objs,
				.live_bytes = (uint64_t)req[0], .internal_frag = h->large_live_bytes - (uint64_t)req[0],
			};
			continue;
		}
		uint64_t live = a - tfree[cls], live_req = (uint64_t)req[cls], frag = live * size - live_req;
		if (cls == TINY_SIZE_CLASS) {
			live += (uint64_t)tiny_objs;
			live_req += (uint64_t)tiny_req;
			frag += (uint64_t)tiny_blocks * TINY_SIZE - (uint64_t)tiny_req;
		}
		*cs = (struct sl_class_stats){
			.size = size, .mallocs = a + an, .frees = f, .refills = h->refills_by_class[cls],
			.spans_inuse = h->spans_by_class[cls], .peak_spans = h->peak_spans_by_class[cls],
			.live_objects = live, .live_bytes = live_req, .internal_frag = frag,
		};
		live_slot += (a - tfree[cls]) * size;
		live_bytes += req[cls];
		live_objects += a - tfree[cls];
		heap_alloc += (a + an - f) * size;
		total_alloc += (a + an) * size;
		mallocs += a + an;
		frees += f;
		small_allocs += a + an;
		uint64_t span_bytes = (uint64_t)sc->class_to_allocnpages[cls] << h->page_shift;
		uint64_t nelems = span_bytes / size;
		tail += h->spans_by_class[cls] * (span_bytes - nelems * size);
	}
	st->live_bytes = (uint64_t)live_bytes;
	st->live_objects = live_objects;
	st->internal_frag_bytes = live_slot - (uint64_t)live_bytes;
	st->dead_bytes = heap_alloc - live_slot;
	st->free_slot_bytes_cached = cached_free;
	st->tail_waste_bytes = tail;
	st->free_slot_bytes_central = h->heap_inuse - heap_alloc - cached_free - tail;
	st->heap_alloc = heap_alloc;
	st->total_alloc = total_alloc;
	st->mallocs = mallocs;
	st->frees = frees;
	st->heap_objects = mallocs - frees;
	st->heap_inuse = h->heap_inuse;
	st->heap_free = h->heap_free;
	st->heap_released = h->heap_released;
	st->heap_idle = h->heap_free + h->heap_released;
	st->heap_sys = st->heap_inuse + st->heap_idle;
	st->reserved_bytes = h->sys.bytes[SL_MEM_RESERVED];
	st->prepared_bytes = h->sys.bytes[SL_MEM_PREPARED];
	st->ready_bytes = h->sys.bytes[SL_MEM_READY];
	st->metadata_bytes = h->sys.metadata;
	st->spans_inuse = h->spans_inuse;
	st->large_alloc = h->large_alloc;
	st->large_alloc_count = h->large_alloc_count;
	st->large_free = h->large_free;
	st->large_free_count = h->large_free_count;
	st->tiny_allocs = tiny_allocs;
	st->small_allocs = small_allocs;
	st->refills = h->refills;
	st->refills_by_grow = h->refills_by_grow;
	st->page_allocs = h->page_allocs;
	st->page_allocs_cache = h->page_allocs_cache;
	st->page_allocs_grow = h->page_allocs_grow;
	st->span_moves = h->span_moves;
	st->arena_transitions = h->sys.transitions;
	st->scavenged_bytes = h->scavenged_bytes;
	st->heap_live = h->heap_live;
	st->heap_marked = h->heap_marked;
	/* The immediate policy runs no GC: no goal, no trigger (the pacer's
	 * values from the heap's creation mean nothing there). */
	bool gc = h->cfg.free_policy != SL_FREE_IMMEDIATE;
	st->heap_goal = !gc || h->heap_goal == UINT64_MAX ? 0 : h->heap_goal;
	st->gc_trigger = !gc || h->trigger == UINT64_MAX ? 0 : h->trigger;
	st->gc_cycles = h->gc_cycles;
	st->objects_swept_free = h->objects_swept_free;
	st->immediate_frees = h->immediate_frees;
	st->bad_frees = h->bad_frees;
}

void sl_heap_stats(struct sl_heap *hp, struct sl_stats *st)
{
	heap_stats_compute(&hp->h, st);
}

void sl_heap_counters(const struct sl_heap *hp, struct sl_counters *out)
{
	const struct mheap *h = &hp->h;
	out->heap_inuse = &h->heap_inuse;
	out->state_bytes = h->sys.bytes;
}
