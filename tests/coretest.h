/*
 * Helpers for the allocator-core tests (tests/unit, prop, fault, misuse):
 * a fake OS layer that counts and fails calls, small heaps, an event
 * recorder, a seeded PRNG and a heap-check assertion. Every name is
 * ct_-prefixed: every file of tests/lib is linked into every test binary.
 */
#ifndef SPANLAB_CORETEST_H
#define SPANLAB_CORETEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spanlab.h"

/* The fake OS: the real primitives underneath, every call counted, and
 * the call numbered fail_at (1-based, counting only the kinds in
 * fail_mask; 0 = never) failing with ENOMEM instead. */
enum ct_os_call { CT_RESERVE, CT_MAP, CT_USED, CT_UNUSED, CT_RELEASE, CT_ALLOC, CT_NCALLS };
struct ct_os {
	struct sl_os_ops ops;		/* pass &os.ops in sl_heap_config.os */
	uint64_t calls[CT_NCALLS];
	uint64_t counted;		/* calls of the kinds in fail_mask */
	uint64_t fail_at;
	unsigned fail_mask;		/* bit (1 << enum ct_os_call) */
	uint64_t failures;
	int64_t mapped_bytes;		/* reserve/alloc minus release: leak check */
};
void ct_os_init(struct ct_os *os);

/* A config with Go's defaults and the given arena size (0: default). */
void ct_config(struct sl_heap_config *cfg, size_t arena_bytes);
/* sl_heap_new or fail the test. */
struct sl_heap *ct_heap(const struct sl_heap_config *cfg);

/* Fail the test with sl_heap_check's message if the heap is inconsistent. */
void ct_check(struct sl_heap *h, const char *when);

/* Event recorder: a growable array of events (test memory). */
struct ct_events {
	struct sl_event *ev;
	size_t n, cap;
};
struct sl_sink ct_recorder(struct ct_events *r);
void ct_events_clear(struct ct_events *r);
void ct_events_free(struct ct_events *r);
size_t ct_count(const struct ct_events *r, enum sl_event_kind k);

/* xorshift64* */
struct ct_rng { uint64_t s; };
static inline uint64_t ct_next(struct ct_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ull;
}
static inline uint64_t ct_below(struct ct_rng *r, uint64_t n) { return ct_next(r) % n; }

#endif
