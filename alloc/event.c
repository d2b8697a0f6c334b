/*
 * Event emission and the names of event.h's enums. Emission happens only
 * on slow paths, behind SL_EMIT's one predictable branch on sink.emit
 * (internal.h); this function stamps the header and calls the sink.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

void sl_emit_slow(struct mheap *h, struct sl_event *ev)
{
	ev->op = h->clock.op;
	ev->clock_bytes = h->clock.bytes;
	ev->seq = h->seq++;
	h->sink.emit(h->sink.ctx, ev);
}

#define NAME_FN(fn, type, n, ...) \
	const char *fn(type v) \
	{ \
		static const char *const names[] = { __VA_ARGS__ }; \
		return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "unknown"; \
	}

#define X(kind, name, fields) #name,
NAME_FN(sl_event_kind_name, enum sl_event_kind, SL_EV_NKINDS, SL_EVENT_LIST(X))
#undef X
NAME_FN(sl_refill_source_name, enum sl_refill_source, 4,
	"partial_swept", "partial_unswept", "full_unswept", "grow")
NAME_FN(sl_span_set_name, enum sl_span_set, 7,
	"none", "heap", "mcache", "partial_swept", "partial_unswept", "full_swept", "full_unswept")
NAME_FN(sl_page_source_name, enum sl_page_source, 3, "pagecache", "heap", "grow")
NAME_FN(sl_mem_state_name, enum sl_mem_state, 4, "none", "reserved", "prepared", "ready")
NAME_FN(sl_scav_reason_name, enum sl_scav_reason, 3, "gc", "growth", "forced")
NAME_FN(sl_gc_reason_name, enum sl_gc_reason, 3, "pacer", "marker", "forced")

void sl_throw_at(const char *file, int line, const char *fmt, ...)
{
	/* No allocation on this path: vfprintf to an unbuffered stderr. */
	va_list ap;
	fprintf(stderr, "spanlab: fatal: %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
