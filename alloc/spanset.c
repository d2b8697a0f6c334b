/*
 * Span sets: Go's spanSet (mspanset.go), the partial and full sets of an
 * mcentral.
 *
 * Go's spanSet is a lock-free FIFO (push at the tail, pop at the head)
 * with no removal from the middle: an entry whose span was swept by
 * another path goes stale and is dropped when popped. We keep explicit
 * membership instead (an intrusive doubly linked list and the span's
 * in_set), so a span leaves its set at once (immediate policy, reclaim).
 * With no stale entries the order of the others is Go's.
 * Invariant (mcentral_check): n == length of the list; every span on it
 * has in_set == this set.
 */
#include "internal.h"

/* The operations are static inline in internal.h (they sit on the refill
 * path); this file keeps the description. */
