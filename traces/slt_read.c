/*
 * The .slt reader: validates the header, then decodes one record at a time
 * from the source's window, mirroring the writer's state (thread, tick,
 * previous id, size cache, id rule). Memory: the window plus the id rule's
 * stack and live bitmap, i.e. bounded by the objects, not the trace.
 *
 * Every malformed input ends in a one-line error naming the byte offset of
 * the record (or field) at fault: bad magic or version, unknown flags,
 * oversized metadata, an unknown opcode or nibble, a varint longer than
 * 10 bytes or overflowing 64 bits, an id that is not live, an alignment or
 * thread id out of range, an END record whose counts disagree with what
 * was read, bytes after the footer. A trace that ends without its END
 * record and footer whole was cut short: every whole record is delivered
 * and slt_source_complete() says false. It may end inside a record (or
 * inside END and its footer): a writer killed inside write(2) leaves part
 * of a buffer, whole pages of it, and the kernel cuts at a page, not at a
 * record. That part is dropped and counted (slt_source_partial_bytes);
 * the input ends there, so nothing after it could be lost.
 */
#include "source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A record's decoder's result when the input ended inside it (below 0 as
 * an error is, for the callers' checks; slt_next_record tells them apart). */
enum { SLT_CUT_INSIDE = -2 };

/* A cursor over the current record; `bad` set once it runs past the data. */
struct cur {
	struct slt_source *s;
	const uint8_t *p, *end;
	uint64_t start;		/* input offset of the record */
	const char *bad;	/* first decoding error */
	uint64_t bad_off;
	bool ran_out;		/* that error: the data ended inside the record */
};

static uint64_t cur_off(const struct cur *c)
{
	return c->s->base + (uint64_t)(c->p - c->s->buf);
}

static void cur_bad_at(struct cur *c, const char *why, uint64_t off)
{
	if (!c->bad) {
		c->bad = why;
		c->bad_off = off;
	}
}

static void cur_bad(struct cur *c, const char *why)
{
	cur_bad_at(c, why, cur_off(c));
}

static void cur_ran_out(struct cur *c)
{
	c->ran_out |= !c->bad;
	cur_bad(c, "truncated record");
}

static uint8_t get_byte(struct cur *c)
{
	if (c->p >= c->end) {
		cur_ran_out(c);
		return 0;
	}
	return *c->p++;
}

static uint64_t get_varint(struct cur *c)
{
	uint64_t v = 0;
	for (int i = 0; i < 10; i++) {
		if (c->p >= c->end) {
			cur_ran_out(c);
			return 0;
		}
		uint8_t b = *c->p++;
		if (i == 9 && (b & 0x80)) {
			cur_bad_at(c, "varint longer than 10 bytes", cur_off(c) - 1);
			return 0;
		}
		if (i == 9 && b > 1) {
			cur_bad_at(c, "varint overflows 64 bits", cur_off(c) - 1);
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			return v;
	}
	return 0;	/* not reached: the tenth byte ends or fails above */
}

static uint32_t get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Read the END record through the footer, when the file can be seeked, so
 * that event and id counts are known before reading (replay sizes arrays). */
static void peek_footer(struct slt_source *s)
{
	struct stat st;
	if (s->gzip || fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < SLT_HEADER_LEN + SLT_FOOTER_LEN + 4)
		return;
	uint8_t f[SLT_FOOTER_LEN], rec[128];
	if (pread(s->fd, f, sizeof f, st.st_size - SLT_FOOTER_LEN) != (ssize_t)sizeof f ||
	    memcmp(f + 4, SLT_FOOTER_MAGIC, 8))
		return;
	uint32_t len = get_u32le(f);
	if (len < 4 || len > sizeof rec || (off_t)len > st.st_size - SLT_FOOTER_LEN - SLT_HEADER_LEN)
		return;
	if (pread(s->fd, rec, len, st.st_size - SLT_FOOTER_LEN - len) != (ssize_t)len ||
	    (rec[0] & 15) != SLT_OC_END)
		return;
	struct cur c = { .s = s, .p = rec + 1, .end = rec + len };
	uint64_t ev = get_varint(&c), ids = get_varint(&c);
	if (!c.bad) {
		s->counts_known = true;
		s->known_events = ev;
		s->known_ids = ids;
	}
}

static int slt_next_record(struct slt_source *s, struct slt_event *ev);

int slt_read_open(struct slt_source *s)
{
	s->next = slt_next_record;
	if (src_fill(s, SLT_HEADER_LEN) < 0)
		return -1;
	const uint8_t *h = s->buf + s->pos;
	if (s->end - s->pos < SLT_HEADER_LEN)
		return src_fail_byte(s, s->base + s->end, "truncated header (%zu of %d bytes)",
				     s->end - s->pos, SLT_HEADER_LEN);
	if (memcmp(h, SLT_MAGIC, SLT_MAGIC_LEN))
		return src_fail_byte(s, 0, "bad magic: not a .slt file");
	unsigned version = h[8] | h[9] << 8, flags = h[10] | h[11] << 8;
	if (version < 1 || version > SLT_VERSION)
		return src_fail_byte(s, 8, "unsupported version %u (this reader knows 1 to %d)", version,
				     SLT_VERSION);
	s->version = (uint16_t)version;
	if (flags)
		return src_fail_byte(s, 10, "unknown flags 0x%x", flags);
	s->tick_ns = get_u32le(h + 12);
	uint32_t mlen = get_u32le(h + 16);
	if (!s->tick_ns)
		return src_fail_byte(s, 12, "tick_ns is 0");
	if (mlen > SLT_MAX_META)
		return src_fail_byte(s, 16, "metadata length %u exceeds %u", mlen, SLT_MAX_META);
	s->pos += SLT_HEADER_LEN;
	if (src_fill(s, mlen) < 0)
		return -1;
	if (s->end - s->pos < mlen)
		return src_fail_byte(s, s->base + s->end, "truncated metadata (%zu of %u bytes)",
				     s->end - s->pos, mlen);
	if (!(s->meta = malloc(mlen + 1)))
		return src_oom_byte(s, SLT_HEADER_LEN);
	memcpy(s->meta, s->buf + s->pos, mlen);
	s->meta[mlen] = 0;
	if (strlen(s->meta) != mlen)
		return src_fail_byte(s, SLT_HEADER_LEN, "metadata contains a NUL byte");
	s->pos += mlen;
	slt_ids_init(&s->ids);
	peek_footer(s);
	return 0;
}

/* Size from the nibble: a cache slot, or a varint that refills the cache. */
static uint64_t get_size(struct slt_source *s, struct cur *c, unsigned nib)
{
	if (nib != SLT_NIB_ESC)
		return s->size_cache[nib];
	uint64_t size = get_varint(c);
	if (!c->bad)
		s->size_cache[slt_size_slot(size)] = size;
	return size;
}

/* The input ended inside the record at c: the trace was cut short there.
 * slt_next_record returns 0 (the end) for it, now and at every later call. */
static int cut_inside(struct slt_source *s, struct cur *c)
{
	s->partial_bytes = s->base + s->end - c->start;
	return SLT_CUT_INSIDE;
}

static int fail(struct slt_source *s, struct cur *c)
{
	if (c->ran_out && s->eof)
		return cut_inside(s, c);
	return src_fail_byte(s, c->bad_off, "%s", c->bad);
}

/* The END record: counts, report, footer, then nothing. */
static int read_end(struct slt_source *s, struct cur *c)
{
	uint64_t events = get_varint(c), ids = get_varint(c), threads = get_varint(c);
	(void)threads;
	uint64_t *field = (uint64_t *)&s->report;	/* the fields in order, all uint64_t */
	int nfields = s->version == 1 ? SLT_REPORT_NFIELDS_V1 : SLT_REPORT_NFIELDS;
	for (int i = 0; i < nfields; i++)
		field[i] = get_varint(c);
	if (c->bad)
		return fail(s, c);
	uint64_t len = cur_off(c) - c->start;
	if (c->end - c->p < SLT_FOOTER_LEN)
		return s->eof ? cut_inside(s, c) : src_fail_byte(s, cur_off(c), "truncated footer");
	if (get_u32le(c->p) != len || memcmp(c->p + 4, SLT_FOOTER_MAGIC, 8))
		return src_fail_byte(s, cur_off(c), "bad footer after END record");
	c->p += SLT_FOOTER_LEN;
	if (events != s->events)
		return src_fail_byte(s, c->start, "END record says %llu events, the trace has %llu",
				     (unsigned long long)events, (unsigned long long)s->events);
	if (ids != s->ids.next)
		return src_fail_byte(s, c->start, "END record says %llu ids, the trace used %llu",
				     (unsigned long long)ids, (unsigned long long)s->ids.next);
	s->pos = (size_t)(c->p - s->buf);
	if (src_fill(s, 1) != 0)
		return src_fail_byte(s, s->base + s->pos, "data after the END record");
	s->complete = true;
	return 0;
}

static int take_alloc(struct slt_source *s, struct cur *c, struct slt_event *ev)
{
	uint64_t id = slt_ids_take(&s->ids);
	if (id == UINT64_MAX)
		return src_oom_byte(s, c->start);
	ev->id = ev->old_id = id;
	s->prev_id = id;
	return 0;
}

static int id_record(struct slt_source *s, struct cur *c, struct slt_event *ev, uint64_t zz)
{
	if (c->bad)
		return fail(s, c);
	uint64_t id = s->prev_id + (uint64_t)slt_unzigzag(zz);
	if (!slt_ids_live(&s->ids, id))
		return src_fail_byte(s, c->start, "%s of object id %llu, which is not live",
				     ev->op == SLT_FREE ? "free" : "realloc", (unsigned long long)id);
	if (ev->op == SLT_FREE && slt_ids_put(&s->ids, id) < 0)
		return src_oom_byte(s, c->start);
	ev->id = ev->old_id = s->prev_id = id;
	return 0;
}

/* Decode one event record (opcode < SWITCH) into ev. */
static int event_record(struct slt_source *s, struct cur *c, unsigned oc, unsigned nib,
			struct slt_event *ev)
{
	memset(ev, 0, sizeof *ev);
	ev->tid = s->cur_tid;
	ev->ts_ns = s->cur_tick * s->tick_ns;
	switch (oc) {
	case SLT_OC_MALLOC:
	case SLT_OC_CALLOC:
	case SLT_OC_ALIGNED:
		ev->op = (enum slt_op)oc;
		ev->size = get_size(s, c, nib);
		if (oc == SLT_OC_ALIGNED) {
			unsigned lg = get_byte(c);
			if (!c->bad && lg > SLT_MAX_ALIGN_LOG2)
				return src_fail_byte(s, c->start, "alignment 2^%u out of range", lg);
			ev->align = lg <= SLT_MAX_ALIGN_LOG2 ? 1ull << lg : 0;	/* lg is junk when c->bad */
		}
		return c->bad ? fail(s, c) : take_alloc(s, c, ev);
	case SLT_OC_REALLOC:
		ev->op = SLT_REALLOC;
		ev->size = get_size(s, c, nib);
		return id_record(s, c, ev, get_varint(c));
	case SLT_OC_FREE:
		ev->op = SLT_FREE;
		return id_record(s, c, ev, nib == SLT_NIB_ESC ? get_varint(c) : nib);
	case SLT_OC_GC:
		if (nib)
			return src_fail_byte(s, c->start, "GC record with argument %u", nib);
		ev->op = SLT_GC;
		return 0;
	default: /* SLT_OC_THREAD */
		if (nib > 1)
			return src_fail_byte(s, c->start, "thread record with argument %u", nib);
		ev->op = nib ? SLT_THREAD_EXIT : SLT_THREAD_START;
		return 0;
	}
}

/* SWITCH and TICK: state changes, no event. */
static int state_record(struct slt_source *s, struct cur *c, unsigned oc, unsigned nib)
{
	if (oc == SLT_OC_SWITCH) {
		if (nib)
			return src_fail_byte(s, c->start, "thread switch with argument %u", nib);
		uint64_t tid = get_varint(c);
		if (c->bad)
			return fail(s, c);
		if (tid >= SLT_MAX_TID)
			return src_fail_byte(s, c->start, "thread id %llu out of range",
					     (unsigned long long)tid);
		s->cur_tid = (uint32_t)tid;
		return 0;
	}
	uint64_t d = nib == SLT_NIB_ESC ? get_varint(c) : nib + 1u;
	if (c->bad)
		return fail(s, c);
	if (!d || d > UINT64_MAX / s->tick_ns - s->cur_tick)
		return src_fail_byte(s, c->start, "time delta %llu out of range",
				     (unsigned long long)d);
	s->cur_tick += d;
	return 0;
}

/*
 * The fast path: with at least FAST_MIN bytes in the window (more than the
 * longest record but END), decode one record with no bounds checks and
 * nothing to report. It changes no state before the record is known to be
 * good (the size cache excepted: the checked path would store the same
 * value in the same slot), so on anything unusual it returns -1 and the
 * checked path decodes the same record again and names the error.
 * Returns 1 for an event, 0 for a state record, -1 for "not here".
 */
enum { FAST_MIN = 32, REFILL_AT = 128 };

static inline bool fast_varint(const uint8_t **pp, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = *p++;
	if (v >= 0x80) {
		v &= 0x7f;
		for (unsigned shift = 7;; shift += 7) {
			uint64_t b = *p++;
			if (shift == 63 && b > 1)
				return false;	/* overflow or an 11th byte: the checked path says which */
			v |= (b & 0x7f) << shift;
			if (b < 0x80)
				break;
		}
	}
	*pp = p;
	*out = v;
	return true;
}

static inline bool fast_size(struct slt_source *s, const uint8_t **p, unsigned nib, uint64_t *size)
{
	if (nib != SLT_NIB_ESC) {
		*size = s->size_cache[nib];
		return true;
	}
	if (!fast_varint(p, size))
		return false;
	s->size_cache[slt_size_slot(*size)] = *size;
	return true;
}

static inline void fast_event(struct slt_source *s, struct slt_event *ev, enum slt_op op, uint64_t id,
			      uint64_t size, uint64_t align)
{
	ev->op = op;
	ev->tid = s->cur_tid;
	ev->id = ev->old_id = s->prev_id = id;
	ev->size = size;
	ev->align = align;
	ev->ts_ns = s->cur_tick * s->tick_ns;
}

static int fast_record(struct slt_source *s, struct slt_event *ev)
{
	const uint8_t *p = s->buf + s->pos;
	unsigned b = *p++, oc = b & 15, nib = b >> 4;
	uint64_t size = 0, v, id;

	switch (oc) {
	case SLT_OC_MALLOC:
	case SLT_OC_CALLOC:
	case SLT_OC_ALIGNED: {
		uint64_t align = 0;
		if (!fast_size(s, &p, nib, &size))
			return -1;
		if (oc == SLT_OC_ALIGNED) {
			if (*p > SLT_MAX_ALIGN_LOG2)
				return -1;
			align = 1ull << *p++;
		}
		if ((id = slt_ids_take(&s->ids)) == UINT64_MAX)
			return -1;
		fast_event(s, ev, (enum slt_op)oc, id, size, align);
		break;
	}
	case SLT_OC_REALLOC:
	case SLT_OC_FREE:
		if (oc == SLT_OC_REALLOC && !fast_size(s, &p, nib, &size))
			return -1;
		if (oc == SLT_OC_FREE && nib != SLT_NIB_ESC)
			v = nib;
		else if (!fast_varint(&p, &v))
			return -1;
		id = s->prev_id + (uint64_t)slt_unzigzag(v);
		if (!slt_ids_live(&s->ids, id) || (oc == SLT_OC_FREE && slt_ids_put(&s->ids, id) < 0))
			return -1;
		fast_event(s, ev, oc == SLT_OC_FREE ? SLT_FREE : SLT_REALLOC, id, size, 0);
		break;
	case SLT_OC_GC:
	case SLT_OC_THREAD:
		if (nib > (oc == SLT_OC_THREAD))
			return -1;
		fast_event(s, ev, oc == SLT_OC_GC ? SLT_GC : nib ? SLT_THREAD_EXIT : SLT_THREAD_START,
			   s->prev_id, 0, 0);
		ev->id = ev->old_id = 0;
		break;
	case SLT_OC_SWITCH:
		if (nib || !fast_varint(&p, &v) || v >= SLT_MAX_TID)
			return -1;
		s->cur_tid = (uint32_t)v;
		s->pos = (size_t)(p - s->buf);
		return 0;
	case SLT_OC_TICK:
		if (nib == SLT_NIB_ESC) {
			if (!fast_varint(&p, &v))
				return -1;
		} else {
			v = nib + 1u;
		}
		if (!v || v > UINT64_MAX / s->tick_ns - s->cur_tick)
			return -1;
		s->cur_tick += v;
		s->pos = (size_t)(p - s->buf);
		return 0;
	default:		/* END (rare) and invalid opcodes: the checked path */
		return -1;
	}
	s->pos = (size_t)(p - s->buf);
	s->events++;
	return 1;
}

static int slt_next_record(struct slt_source *s, struct slt_event *ev)
{
	for (;;) {
		if (s->end - s->pos < REFILL_AT && !s->eof && src_fill(s, REFILL_AT) < 0)
			return -1;
		size_t avail = s->end - s->pos;
		if (avail == 0)
			return 0;	/* cut short at a record boundary: complete stays false */
		if (s->complete)
			return 0;
		if (avail >= FAST_MIN) {
			int rc = fast_record(s, ev);
			if (rc > 0)
				return 1;
			if (rc == 0)
				continue;
		}
		struct cur c = { .s = s, .p = s->buf + s->pos, .end = s->buf + s->end };
		c.start = cur_off(&c);
		uint8_t b = get_byte(&c);
		unsigned oc = b & 15, nib = b >> 4;
		int rc;
		if (oc >= SLT_OC_NCODES)
			return src_fail_byte(s, c.start, "unknown record opcode %u", oc);
		if (oc == SLT_OC_END) {
			if (nib)
				return src_fail_byte(s, c.start, "END record with argument %u", nib);
			rc = read_end(s, &c);
			return rc == SLT_CUT_INSIDE ? 0 : rc < 0 ? -1 : 0;
		}
		if (oc >= SLT_OC_SWITCH) {
			rc = state_record(s, &c, oc, nib);
		} else {
			rc = event_record(s, &c, oc, nib, ev);
			if (rc == 0)
				s->events++;
		}
		if (rc < 0)
			return rc == SLT_CUT_INSIDE ? 0 : -1;
		s->pos = (size_t)(c.p - s->buf);
		if (oc < SLT_OC_SWITCH)
			return 1;
	}
}
