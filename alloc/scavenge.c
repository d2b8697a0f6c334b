/*
 * The scavenger: Go 1.19's mgcscavenge.go, made deterministic.
 *
 * Free pages stay Ready after a span is freed (heap_free); the scavenger
 * returns them to the OS with madvise(MADV_DONTNEED) (Ready -> Prepared,
 * heap_released), highest addresses first (page_alloc_scavenge), so that
 * the heap's low addresses, where first fit allocates, stay backed.
 *
 * Goal (gcPaceScavenger, computed at every cycle's commit):
 *   goal = last_heap_inuse * heap_goal / last_heap_goal
 *   goal += goal * retain_extra_percent / 100      (10%: retainExtraPercent)
 *   goal rounded up to the physical page (4 KiB)
 * where last_heap_inuse is heap_inuse at the cycle's mark termination and
 * last_heap_goal the goal of the cycle that just ended. The goal is off
 * (UINT64_MAX) before the first cycle, with GOGC off, or when retained
 * (heap_inuse + heap_free) is already within one physical page of it.
 *
 * When it runs (Go's background scavenger is paced by CPU time; we
 * declare a deterministic schedule instead):
 *   - after each cycle's sweep completes (end of the cycle when eager, the
 *     last lazy sweep otherwise): release retained - goal bytes, exactly;
 *   - on heap growth (mheap.allocSpan): when the goal is set and retained
 *     + growth > goal, release min(growth, retained + growth - goal) at
 *     once (Go's growth scavenging, synchronous as in Go);
 *   - sl_heap_scavenge_all (debug.FreeOSMemory): a forced cycle, the full
 *     sweep, then every free page.
 * Every release emits its Ready -> Prepared arena events, then one
 * scavenge event with the total.
 */
#include "internal.h"

/* x as bytes, saturating: a goal past 2^64 (a heap of terabytes whose goal
 * grew a millionfold with GOGC) is no goal, not undefined behaviour. */
static uint64_t bytes_of(double x)
{
	return x < 0x1p64 ? (uint64_t)x : UINT64_MAX;
}

void scavenge_pace(struct mheap *h)
{
	h->scav_goal = UINT64_MAX;
	if (!h->cfg.scavenger || h->last_heap_goal == 0 || h->heap_goal == UINT64_MAX)
		return;
	double ratio = (double)h->heap_goal / (double)h->last_heap_goal;
	uint64_t goal = bytes_of((double)h->last_heap_inuse * ratio);
	uint64_t extra = bytes_of((double)goal * h->cfg.retain_extra_percent / 100.0);
	if (goal >= UINT64_MAX - PHYS_PAGE_SIZE || extra >= UINT64_MAX - PHYS_PAGE_SIZE - goal)
		return;
	goal = (goal + extra + PHYS_PAGE_SIZE - 1) & ~(uint64_t)(PHYS_PAGE_SIZE - 1);
	uint64_t retained = heap_retained(h);
	if (retained <= goal || retained - goal < PHYS_PAGE_SIZE)
		return;
	h->scav_goal = goal;
}

void scavenge_after_sweep(struct mheap *h)
{
	uint64_t retained = heap_retained(h);
	if (h->scav_goal == UINT64_MAX || retained <= h->scav_goal)
		return;
	uint64_t r = page_alloc_scavenge(h, retained - h->scav_goal);
	SL_EMIT(h, SCAVENGE, scavenge, .bytes = (int64_t)r, .reason = SL_SCAV_GC,
		.released_total = (int64_t)h->scavenged_bytes);
}

uint64_t scavenge_growth_amount(struct mheap *h, uint64_t growth)
{
	if (h->scav_goal == UINT64_MAX)
		return 0;
	uint64_t retained = heap_retained(h);
	if (retained + growth <= h->scav_goal)
		return 0;
	uint64_t over = retained + growth - h->scav_goal;
	return over < growth ? over : growth;
}

void sl_heap_scavenge_all(struct sl_heap *hp)
{
	struct mheap *h = &hp->h;
	sl_heap_gc(hp);
	uint64_t r = page_alloc_scavenge(h, UINT64_MAX);
	SL_EMIT(h, SCAVENGE, scavenge, .bytes = (int64_t)r, .reason = SL_SCAV_FORCED,
		.released_total = (int64_t)h->scavenged_bytes);
}
