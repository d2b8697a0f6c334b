/*
 * The OS memory state machine (Go's mem.go) with its accounting at the
 * boundary.
 *
 * Every byte of heap address space is in one of four states:
 *   None      not mapped;
 *   Reserved  mapped PROT_NONE: address space only, no memory;
 *   Prepared  mapped read-write but not meant to be backed: fresh from
 *             sys_map, or handed back with madvise(MADV_DONTNEED);
 *   Ready     in use, backed on first touch.
 * One function per edge; each makes the system call through the heap's
 * struct sl_os_ops, updates the byte counters of both states and emits one
 * arena event, all in that wrapper and nowhere else:
 *   sys_reserve  None -> Reserved      mmap(hint, PROT_NONE)
 *   sys_map      Reserved -> Prepared  mmap(MAP_FIXED, RW)
 *   sys_used     Prepared -> Ready     no call (Go: THP hints only)
 *   sys_unused   Ready -> Prepared     madvise(MADV_DONTNEED)
 *   sys_free     any -> None           munmap
 * Off-heap metadata takes another path, sys_alloc (None -> Ready), counted
 * in sysmem.metadata only, as Go counts it outside the heap (GCSys etc.).
 *
 * Invariant (heap_check): bytes[RESERVED] + bytes[PREPARED] + bytes[READY]
 * == narenas * arena_bytes, and each counter equals the per-page states
 * derived from the page allocator (see check.c).
 */
#include <errno.h>

#include "internal.h"

static void emit_transition(struct mheap *h, uintptr_t v, size_t n, uint64_t bytes,
			    enum sl_mem_state from, enum sl_mem_state to)
{
	h->sys.transitions++;
	SL_EMIT(h, ARENA, arena,
		.arena = (int64_t)arena_index(h, v), .base = (int64_t)v,
		.bytes = (int64_t)bytes, .npages = (int64_t)(n >> h->page_shift),
		.from_state = from, .to_state = to);
}

/* None -> Reserved. The hint is only a hint: with `exact`, a reservation
 * the kernel put elsewhere is given back at once, unaccounted (as Go's
 * sysFreeOS of a failed hint), and EEXIST returned. Without it, *out is
 * wherever the kernel put it and the caller trims it (sys_trim). */
int sys_reserve(struct mheap *h, void *hint, size_t n, void **out, bool exact)
{
	int e = h->sys.os->reserve(h->sys.os->ctx, hint, n, out);
	if (e != 0)
		return e;
	if (exact && *out != hint) {
		(void)h->sys.os->release(h->sys.os->ctx, *out, n);
		return EEXIST;
	}
	h->sys.bytes[SL_MEM_RESERVED] += n;
	emit_transition(h, (uintptr_t)*out, n, n, SL_MEM_NONE, SL_MEM_RESERVED);
	return 0;
}

/* Reserved -> Prepared. On failure the range stays Reserved. */
int sys_map(struct mheap *h, void *v, size_t n)
{
	int e = h->sys.os->map(h->sys.os->ctx, v, n);
	if (e != 0)
		return e;
	h->sys.bytes[SL_MEM_RESERVED] -= n;
	h->sys.bytes[SL_MEM_PREPARED] += n;
	emit_transition(h, (uintptr_t)v, n, n, SL_MEM_RESERVED, SL_MEM_PREPARED);
	return 0;
}

/* Prepared -> Ready for the `prepared` bytes of [v, v+n) that were
 * Prepared (the rest is already Ready). Cannot fail: Go's sysUsed makes no
 * call on Linux; a replacement os->used that fails is ignored here, as
 * Go ignores madvise(MADV_HUGEPAGE) errors. */
void sys_used(struct mheap *h, void *v, size_t n, size_t prepared)
{
	if (prepared == 0)
		return;
	if (h->sys.os->used != NULL)
		(void)h->sys.os->used(h->sys.os->ctx, v, n);
	h->sys.bytes[SL_MEM_PREPARED] -= prepared;
	h->sys.bytes[SL_MEM_READY] += prepared;
	emit_transition(h, (uintptr_t)v, n, prepared, SL_MEM_PREPARED, SL_MEM_READY);
}

/* Ready -> Prepared. On failure the range stays Ready (Go would throw;
 * we report it and let the scavenger give up). */
int sys_unused(struct mheap *h, void *v, size_t n)
{
	int e = h->sys.os->unused(h->sys.os->ctx, v, n);
	if (e != 0)
		return e;
	h->sys.bytes[SL_MEM_READY] -= n;
	h->sys.bytes[SL_MEM_PREPARED] += n;
	emit_transition(h, (uintptr_t)v, n, n, SL_MEM_READY, SL_MEM_PREPARED);
	return 0;
}

/* any -> None for a range whose bytes are all in state `from`. Go never
 * frees heap arenas; we do only when a reservation is unusable or the heap
 * is destroyed. munmap failing would leak address space, nothing worse. */
void sys_free(struct mheap *h, void *v, size_t n, enum sl_mem_state from)
{
	(void)h->sys.os->release(h->sys.os->ctx, v, n);
	h->sys.bytes[from] -= n;
	emit_transition(h, (uintptr_t)v, n, n, from, SL_MEM_NONE);
}

/* Off-heap metadata (Go's sysAlloc): None -> Ready, counted apart. */
void *sys_alloc(struct mheap *h, size_t n)
{
	void *p;
	if (h->sys.os->alloc(h->sys.os->ctx, n, &p) != 0)
		return NULL;
	h->sys.metadata += n;
	return p;
}

void sys_free_metadata(struct mheap *h, void *v, size_t n)
{
	(void)h->sys.os->release(h->sys.os->ctx, v, n);
	h->sys.metadata -= n;
}

/* Destroying a heap: [v, v+n) holds by_state[s] bytes in each state; one
 * munmap, one event per state present. */
void sys_free_arena(struct mheap *h, void *v, size_t n, const uint64_t by_state[SL_MEM_NSTATES])
{
	(void)h->sys.os->release(h->sys.os->ctx, v, n);
	for (int s = SL_MEM_RESERVED; s < SL_MEM_NSTATES; s++) {
		if (by_state[s] == 0)
			continue;
		h->sys.bytes[s] -= by_state[s];
		emit_transition(h, (uintptr_t)v, n, by_state[s], (enum sl_mem_state)s, SL_MEM_NONE);
	}
}

/* sysReserveAligned: reserve n bytes aligned to `align` anywhere, by
 * reserving n + align and giving back the misaligned head and tail (those
 * never count: they were never usable). */
int sys_reserve_aligned(struct mheap *h, size_t n, size_t align, void **out)
{
	void *raw;
	int e = h->sys.os->reserve(h->sys.os->ctx, NULL, n + align, &raw);
	if (e != 0)
		return e;
	uintptr_t p = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
	size_t head = p - (uintptr_t)raw, tail = align - head;
	if (head > 0)
		(void)h->sys.os->release(h->sys.os->ctx, raw, head);
	if (tail > 0)
		(void)h->sys.os->release(h->sys.os->ctx, (void *)(p + n), tail);
	*out = (void *)p;
	h->sys.bytes[SL_MEM_RESERVED] += n;
	emit_transition(h, p, n, n, SL_MEM_NONE, SL_MEM_RESERVED);
	return 0;
}
