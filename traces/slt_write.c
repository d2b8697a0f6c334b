/*
 * The .slt writer: encodes events into a 64 KiB buffer and hands whole
 * records to a sink (stdio, a file descriptor, or the recorder's own).
 * It never calls malloc, so the recorder (record/preload.c) links it as is.
 *
 * Per event the writer emits, in order: a SWITCH record if the thread
 * changed, a TICK record if time advanced by at least one tick, then the
 * event record (layout in slt.h and docs/trace-format.md). State it keeps
 * and every reader mirrors: current thread, current tick, the previous id
 * (free and realloc ids are zigzag deltas from it), the 15-slot size cache,
 * and the id rule (struct slt_ids).
 */
#include "slt.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* A record is at most 1 + 2 * 10 + 1 bytes; END at most 1 + 9 * 10 + 12. */
#define RECORD_ROOM 128

static void put_u32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int sink_out(struct slt_writer *w, const void *buf, size_t len)
{
	if (w->err)
		return -1;
	if (len && w->sink(w->ctx, buf, len) < 0) {
		w->err = errno ? errno : EIO;
		return -1;
	}
	return 0;
}

int slt_writer_flush(struct slt_writer *w)
{
	int rc = sink_out(w, w->buf, w->len);
	w->len = 0;
	return rc;
}

static uint8_t *room(struct slt_writer *w)
{
	if (w->len + RECORD_ROOM > sizeof w->buf)
		slt_writer_flush(w);
	return w->buf + w->len;
}

int slt_writer_init(struct slt_writer *w, slt_sink_fn sink, void *ctx,
		    uint32_t tick_ns, const char *meta_json)
{
	memset(w, 0, sizeof *w);
	w->sink = sink;
	w->ctx = ctx;
	w->tick_ns = tick_ns ? tick_ns : SLT_DEFAULT_TICK_NS;
	w->next_tick_ns = w->tick_ns;
	slt_ids_init(&w->ids);
	if (!meta_json)
		meta_json = "{}";
	size_t mlen = strlen(meta_json);
	if (mlen > SLT_MAX_META) {
		errno = EINVAL;
		return -1;
	}
	uint8_t h[SLT_HEADER_LEN];
	memcpy(h, SLT_MAGIC, SLT_MAGIC_LEN);
	h[8] = SLT_VERSION & 0xff;
	h[9] = SLT_VERSION >> 8;
	h[10] = h[11] = 0;	/* flags: none defined in version 1 */
	put_u32le(h + 12, w->tick_ns);
	put_u32le(h + 16, (uint32_t)mlen);
	if (sink_out(w, h, sizeof h) < 0 || sink_out(w, meta_json, mlen) < 0)
		return -1;
	return 0;
}

/* SWITCH and TICK state records before an event of thread tid at ts_ns.
 * Time never runs backwards in a trace: an earlier ts_ns is clamped. */
static void prefix(struct slt_writer *w, uint32_t tid, uint64_t ts_ns)
{
	uint8_t *p = room(w);
	size_t n = 0;
	if (tid != w->cur_tid) {
		p[n++] = SLT_OC_SWITCH;
		n += slt_put_varint(p + n, tid);
		w->cur_tid = tid;
	}
	if (tid >= w->nthreads)
		w->nthreads = (uint64_t)tid + 1;
	if (ts_ns >= w->next_tick_ns) {	/* one compare while time stays in the tick */
		uint64_t tick = ts_ns / w->tick_ns;
		w->next_tick_ns = (tick + 1) * w->tick_ns;
		uint64_t d = tick - w->cur_tick;
		if (d <= SLT_NIB_ESC) {
			p[n++] = (uint8_t)(SLT_OC_TICK | (d - 1) << 4);
		} else {
			p[n++] = SLT_OC_TICK | SLT_NIB_ESC << 4;
			n += slt_put_varint(p + n, d);
		}
		w->cur_tick = tick;
	}
	w->len += n;
}

/* The op byte with the size nibble, and the size varint on a cache miss. */
static size_t put_sized(struct slt_writer *w, uint8_t *p, unsigned oc, uint64_t size)
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

static unsigned log2_u64(uint64_t v)
{
	return 63 - (unsigned)__builtin_clzll(v);
}

uint64_t slt_write_alloc(struct slt_writer *w, enum slt_op op, uint32_t tid,
			 uint64_t ts_ns, uint64_t size, uint64_t align)
{
	if (op != SLT_MALLOC && op != SLT_CALLOC && op != SLT_ALIGNED) {
		errno = EINVAL;
		return UINT64_MAX;
	}
	if (op == SLT_ALIGNED && (!align || (align & (align - 1)) ||
				  log2_u64(align) > SLT_MAX_ALIGN_LOG2)) {
		errno = EINVAL;
		return UINT64_MAX;
	}
	uint64_t id = slt_ids_take(&w->ids);
	if (id == UINT64_MAX) {
		errno = ENOMEM;
		return UINT64_MAX;
	}
	prefix(w, tid, ts_ns);
	uint8_t *p = w->buf + w->len;
	size_t n = put_sized(w, p, (unsigned)op, size);
	if (op == SLT_ALIGNED)
		p[n++] = (uint8_t)log2_u64(align);
	w->len += n;
	w->prev_id = id;
	w->events++;
	return id;
}

static size_t put_id(struct slt_writer *w, uint8_t *p, uint64_t id)
{
	size_t n = slt_put_varint(p, slt_zigzag((int64_t)(id - w->prev_id)));
	w->prev_id = id;
	return n;
}

int slt_write_realloc(struct slt_writer *w, uint32_t tid, uint64_t ts_ns,
		      uint64_t id, uint64_t size)
{
	if (!slt_ids_live(&w->ids, id)) {
		errno = EINVAL;
		return -1;
	}
	prefix(w, tid, ts_ns);
	uint8_t *p = w->buf + w->len;
	size_t n = put_sized(w, p, SLT_OC_REALLOC, size);
	n += put_id(w, p + n, id);
	w->len += n;
	w->events++;
	return 0;
}

int slt_write_free(struct slt_writer *w, uint32_t tid, uint64_t ts_ns, uint64_t id)
{
	int rc = slt_ids_put(&w->ids, id);
	if (rc < 0) {
		errno = rc == -2 ? EINVAL : ENOMEM;
		return -1;
	}
	prefix(w, tid, ts_ns);
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

int slt_write_mark(struct slt_writer *w, enum slt_op op, uint32_t tid, uint64_t ts_ns)
{
	uint8_t b;
	if (op == SLT_GC)
		b = SLT_OC_GC;
	else if (op == SLT_THREAD_START)
		b = SLT_OC_THREAD;
	else if (op == SLT_THREAD_EXIT)
		b = SLT_OC_THREAD | 1 << 4;
	else {
		errno = EINVAL;
		return -1;
	}
	prefix(w, tid, ts_ns);
	w->buf[w->len++] = b;
	w->events++;
	return 0;
}

int slt_write_event(struct slt_writer *w, const struct slt_event *ev)
{
	switch (ev->op) {
	case SLT_MALLOC:
	case SLT_CALLOC:
	case SLT_ALIGNED:
		if (ev->id != slt_ids_peek(&w->ids)) {
			errno = EINVAL;
			return -1;
		}
		return slt_write_alloc(w, ev->op, ev->tid, ev->ts_ns, ev->size, ev->align) ==
		       UINT64_MAX ? -1 : 0;
	case SLT_REALLOC:
		return slt_write_realloc(w, ev->tid, ev->ts_ns, ev->id, ev->size);
	case SLT_FREE:
		return slt_write_free(w, ev->tid, ev->ts_ns, ev->id);
	default:
		return slt_write_mark(w, ev->op, ev->tid, ev->ts_ns);
	}
}

int slt_writer_finish(struct slt_writer *w)
{
	uint8_t *p = room(w);
	size_t n = 0;
	p[n++] = SLT_OC_END;
	n += slt_put_varint(p + n, w->events);
	n += slt_put_varint(p + n, w->ids.next);
	n += slt_put_varint(p + n, w->nthreads);
#define X(name, doc) n += slt_put_varint(p + n, w->report.name);
	SLT_REPORT_FIELDS(X)
#undef X
	put_u32le(p + n, (uint32_t)n);
	memcpy(p + n + 4, SLT_FOOTER_MAGIC, 8);
	w->len += n + SLT_FOOTER_LEN;
	int rc = slt_writer_flush(w);
	slt_ids_destroy(&w->ids);
	return rc;
}

void slt_writer_discard(struct slt_writer *w)
{
	slt_ids_destroy(&w->ids);
}

int slt_sink_stdio(void *ctx, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, (FILE *)ctx) == len ? 0 : -1;
}

int slt_sink_fd(void *ctx, const void *buf, size_t len)
{
	int fd = (int)(intptr_t)ctx;
	const uint8_t *p = buf;
	while (len) {
		ssize_t k = write(fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

size_t slt_json_escape(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char tmp[8];
		size_t k;
		if (*c == '"' || *c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)*c;
			k = 2;
		} else if (*c < 0x20 || *c == 0x7f) {
			static const char hex[] = "0123456789abcdef";
			memcpy(tmp, "\\u00", 4);
			tmp[4] = hex[*c >> 4];
			tmp[5] = hex[*c & 15];
			k = 6;
		} else {
			tmp[0] = (char)*c;
			k = 1;
		}
		if (n + k < cap)
			memcpy(out + n, tmp, k);
		n += k;
	}
	if (cap)
		out[n < cap ? n : cap - 1] = 0;
	return n;
}
