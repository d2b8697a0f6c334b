/*
 * The .slt writer: encodes events into a 64 KiB buffer and hands whole
 * records to a sink (stdio, a file descriptor, or the recorder's merger's).
 * It never calls malloc: its id stack and bits live in mappings.
 *
 * The per-event encoding is in slt_enc.h (inline, so the recorder's merger
 * compiles it into its loop); the functions here check their arguments
 * (op, alignment, live ids) and call it, and write the header and the END
 * record. State the encoder keeps and every reader mirrors: current
 * thread, current tick, the previous id (free and realloc ids are zigzag
 * deltas from it), the 15-slot size cache, and the id rule (struct slt_ids).
 */
#include "slt_enc.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

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
	h[10] = h[11] = 0;	/* flags: none defined */
	put_u32le(h + 12, w->tick_ns);
	put_u32le(h + 16, (uint32_t)mlen);
	if (sink_out(w, h, sizeof h) < 0 || sink_out(w, meta_json, mlen) < 0)
		return -1;
	return 0;
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
	uint64_t id = slt_enc_alloc(w, op, tid, ts_ns, size, align);
	if (id == UINT64_MAX)
		errno = ENOMEM;
	return id;
}

int slt_write_realloc(struct slt_writer *w, uint32_t tid, uint64_t ts_ns,
		      uint64_t id, uint64_t size)
{
	if (!slt_ids_live(&w->ids, id)) {
		errno = EINVAL;
		return -1;
	}
	slt_enc_realloc(w, tid, ts_ns, id, size);
	return 0;
}

int slt_write_free(struct slt_writer *w, uint32_t tid, uint64_t ts_ns, uint64_t id)
{
	if (!slt_ids_live(&w->ids, id)) {
		errno = EINVAL;
		return -1;
	}
	if (slt_enc_free(w, tid, ts_ns, id) < 0) {
		errno = ENOMEM;
		return -1;
	}
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
	slt_enc_mark(w, b, tid, ts_ns);
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
	uint8_t *p = slt_enc_room(w);
	size_t n = 0;
	p[n++] = SLT_OC_END;
	n += slt_put_varint(p + n, w->events);
	n += slt_put_varint(p + n, w->ids.next);
	/* Thread 0's events never SWITCH: count it once there were events. */
	n += slt_put_varint(p + n, w->nthreads ? w->nthreads : w->events > 0);
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

/* A write that fails part way (a full disk, the file size limit) is
 * undone: the file is cut back to where this call began, so it ends at a
 * whole buffer, a record boundary, and stays readable. */
int slt_sink_fd(void *ctx, const void *buf, size_t len)
{
	int fd = (int)(intptr_t)ctx;
	const uint8_t *p = buf;
	size_t done = 0;
	while (done < len) {
		ssize_t k = write(fd, p + done, len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int e = k < 0 ? errno : ENOSPC;
			off_t at = lseek(fd, 0, SEEK_CUR);
			if (done && at >= (off_t)done && ftruncate(fd, at - (off_t)done) == 0)
				lseek(fd, at - (off_t)done, SEEK_SET);
			errno = e;
			return -1;
		}
		done += (size_t)k;
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
