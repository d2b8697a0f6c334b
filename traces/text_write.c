/*
 * Writing events in the plain text form (import_text.c has the grammar),
 * for `spanlab convert --to text`: dense ids as keys, "tN" only for
 * threads other than 0, "@NS" only when the time changed, so the output
 * reads back to the same events.
 */
#include "slt.h"

#include <inttypes.h>

int slt_text_header(FILE *f, const char *meta_json)
{
	fprintf(f, "# spanlab text trace v1\n");
	if (meta_json && *meta_json) {
		/* One comment line: a newline in the metadata (a .slt header may
		 * hold any bytes but NUL) would start an event line. Valid JSON
		 * has control characters only as whitespace, which a space keeps. */
		fputs("# meta: ", f);
		for (const unsigned char *p = (const unsigned char *)meta_json; *p; p++)
			fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
		fputc('\n', f);
	}
	return ferror(f) ? -1 : 0;
}

int slt_text_write(FILE *f, const struct slt_event *ev, uint64_t *last_ts)
{
	if (ev->tid)
		fprintf(f, "t%" PRIu32 " ", ev->tid);
	if (ev->ts_ns != *last_ts) {
		fprintf(f, "@%" PRIu64 " ", ev->ts_ns);
		*last_ts = ev->ts_ns;
	}
	switch (ev->op) {
	case SLT_MALLOC: fprintf(f, "m %" PRIu64 " %" PRIu64 "\n", ev->id, ev->size); break;
	case SLT_CALLOC: fprintf(f, "c %" PRIu64 " %" PRIu64 "\n", ev->id, ev->size); break;
	case SLT_ALIGNED:
		fprintf(f, "a %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", ev->id, ev->size, ev->align);
		break;
	case SLT_REALLOC:
		fprintf(f, "r %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", ev->old_id, ev->id, ev->size);
		break;
	case SLT_FREE: fprintf(f, "f %" PRIu64 "\n", ev->id); break;
	case SLT_GC: fputs("gc\n", f); break;
	case SLT_THREAD_START: fputs("thread-start\n", f); break;
	case SLT_THREAD_EXIT: fputs("thread-exit\n", f); break;
	default: return -1;
	}
	return ferror(f) ? -1 : 0;
}
