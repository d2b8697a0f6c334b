/*
 * The .slt writer's per-event encoders, inline: slt_write.c wraps them as
 * the checked slt_write_* API, and hot loops that have already checked
 * their input (the recorder's merger, sim/record_merge.c) compile them in
 * directly. Preconditions the callers guarantee, which the checked API
 * verifies: allocation ops are MALLOC, CALLOC or ALIGNED with a power-of-two
 * alignment <= 2^SLT_MAX_ALIGN_LOG2; realloc and free name live ids.
 *
 * Per event, in order: a SWITCH record if the thread changed, a TICK
 * record if time advanced by at least one tick, then the event record
 * (layout in slt.h and docs/trace-format.md). Encoder state every reader
 * mirrors: current thread, current tick, the previous id, the 15-slot size
 * cache, and the id rule (struct slt_ids).
 */
#ifndef SPANLAB_SLT_ENC_H
#define SPANLAB_SLT_ENC_H

#include "slt.h"

#define SLT_ENC_INLINE static inline __attribute__((always_inline))
/* A record is at most 1 + 2 * 10 + 1 bytes; END at most 1 + 9 * 10 + 12. */
#define SLT_RECORD_ROOM 128

/* Room for one record in the buffer, flushing first if needed. */
SLT_ENC_INLINE uint8_t *slt_enc_room(struct slt_writer *w)
{
	if (__builtin_expect(w->len + SLT_RECORD_ROOM > sizeof w->buf, 0))
		slt_writer_flush(w);
	return w->buf + w->len;
}

/* SWITCH and TICK state records before an event of thread tid at ts_ns.
 * Time never runs backwards in a trace: an earlier ts_ns is clamped. */
SLT_ENC_INLINE void slt_enc_prefix(struct slt_writer *w, uint32_t tid, uint64_t ts_ns)
{
	uint8_t *p = slt_enc_room(w);
	size_t n = 0;
	if (__builtin_expect(tid != w->cur_tid, 0)) {
		p[n++] = SLT_OC_SWITCH;
		n += slt_put_varint(p + n, tid);
		w->cur_tid = tid;
		if (tid >= w->nthreads)
			w->nthreads = (uint64_t)tid + 1;
	}
	if (ts_ns >= w->next_tick_ns) {	/* one compare while time stays in the tick */
		uint64_t tick = ts_ns / w->tick_ns;
		/* The last tick before 2^64 ns has no next one: its events come
		 * back here with d == 0 and need no TICK. */
		w->next_tick_ns = tick < UINT64_MAX / w->tick_ns ? (tick + 1) * w->tick_ns : UINT64_MAX;
		uint64_t d = tick - w->cur_tick;
		if (d > SLT_NIB_ESC) {
			p[n++] = SLT_OC_TICK | SLT_NIB_ESC << 4;
			n += slt_put_varint(p + n, d);
		} else if (d) {
			p[n++] = (uint8_t)(SLT_OC_TICK | (d - 1) << 4);
		}
		w->cur_tick = tick;
	}
	w->len += n;
}

/* The op byte with the size nibble, and the size varint on a cache miss. */
SLT_ENC_INLINE size_t slt_enc_sized(struct slt_writer *w, uint8_t *p, unsigned oc, uint64_t size)
{
	unsigned slot = slt_size_slot(size);
	if (w->size_cache[slot] == size) {
		p[0] = (uint8_t)(oc | slot << 4);
		return 1;
	}
	w->size_cache[slot] = size;
	p[0] = (uint8_t)(oc | SLT_NIB_ESC << 4);
	return 1 + slt_put_varint(p + 1, size);
}

/* An allocation: its id (the id rule's), UINT64_MAX if memory ran out. */
SLT_ENC_INLINE uint64_t slt_enc_alloc(struct slt_writer *w, enum slt_op op, uint32_t tid,
				      uint64_t ts_ns, uint64_t size, uint64_t align)
{
	uint64_t id = slt_ids_take(&w->ids);
	if (__builtin_expect(id == UINT64_MAX, 0))
		return UINT64_MAX;
	slt_enc_prefix(w, tid, ts_ns);
	uint8_t *p = w->buf + w->len;
	size_t n = slt_enc_sized(w, p, (unsigned)op, size);
	if (op == SLT_ALIGNED)
		p[n++] = (uint8_t)(63 - __builtin_clzll(align));
	w->len += n;
	w->prev_id = id;
	w->events++;
	return id;
}

SLT_ENC_INLINE void slt_enc_realloc(struct slt_writer *w, uint32_t tid, uint64_t ts_ns, uint64_t id,
				    uint64_t size)
{
	slt_enc_prefix(w, tid, ts_ns);
	uint8_t *p = w->buf + w->len;
	size_t n = slt_enc_sized(w, p, SLT_OC_REALLOC, size);
	n += slt_put_varint(p + n, slt_zigzag((int64_t)(id - w->prev_id)));
	w->prev_id = id;
	w->len += n;
	w->events++;
}

/* A free: 0, or -1 if memory ran out (the id stays live). */
SLT_ENC_INLINE int slt_enc_free(struct slt_writer *w, uint32_t tid, uint64_t ts_ns, uint64_t id)
{
	struct slt_ids *ids = &w->ids;
	if (__builtin_expect(ids->nfree == ids->cap, 0) && slt_ids_grow_free(ids) < 0)
		return -1;
	ids->bits[id >> 6] &= ~(1ull << (id & 63));
	ids->free[ids->nfree++] = id;
	ids->live--;
	slt_enc_prefix(w, tid, ts_ns);
	uint8_t *p = w->buf + w->len;
	uint64_t zz = slt_zigzag((int64_t)(id - w->prev_id));
	size_t n;
	if (zz < SLT_NIB_ESC) {
		p[0] = (uint8_t)(SLT_OC_FREE | zz << 4);
		n = 1;
	} else {
		p[0] = SLT_OC_FREE | SLT_NIB_ESC << 4;
		n = 1 + slt_put_varint(p + 1, zz);
	}
	w->prev_id = id;
	w->len += n;
	w->events++;
	return 0;
}

/* GC marker, thread start (nib 0) or exit (nib 1). */
SLT_ENC_INLINE void slt_enc_mark(struct slt_writer *w, uint8_t byte, uint32_t tid, uint64_t ts_ns)
{
	slt_enc_prefix(w, tid, ts_ns);
	w->buf[w->len++] = byte;
	w->events++;
}

#endif
