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

void span_set_push(struct span_set *b, struct mspan *s)
{
	SL_ASSERT(s->in_set == NULL);
	s->next = NULL;
	s->prev = b->tail;
	if (b->tail)
		b->tail->next = s;
	else
		b->head = s;
	b->tail = s;
	b->n++;
	s->in_set = b;
}

void span_set_remove(struct span_set *b, struct mspan *s)
{
	SL_ASSERT(s->in_set == b);
	if (s->prev)
		s->prev->next = s->next;
	else
		b->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		b->tail = s->prev;
	b->n--;
	s->next = s->prev = NULL;
	s->in_set = NULL;
}

struct mspan *span_set_pop(struct span_set *b)
{
	struct mspan *s = b->head;
	if (s != NULL)
		span_set_remove(b, s);
	return s;
}
