/*
 * spanlab info TRACE [--json] [--from FORMAT] [--strict]: what a trace
 * holds, in one streaming pass (memory: the live objects' sizes).
 *
 * Definitions (DESIGN.md "Command-line tool"): events counts every trace
 * event (a realloc is one; GC markers and thread start/exit count too);
 * live bytes are the requested sizes of allocated, not yet freed objects,
 * measured after each event; peak_event_index is the 0-based index of the
 * first event after which live bytes reach their peak (null if they never
 * rise above 0); size_classes counts allocation and realloc requests by
 * the Go 1.19 size class that would serve them (0: large, > 32 KiB; a
 * 0-byte request is served as 1 byte);
 * bytes_per_event is the file size over events (.slt only).
 */
#include <cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "sizeclass.h"
#include "slt.h"

static const char usage_text[] =
	"usage: spanlab info TRACE [--json] [--from FORMAT] [--strict]\n\n"
	"Summarise a trace: format, metadata, events by kind, threads, peak and\n"
	"final live bytes, request sizes by Go size class, the consistency report.\n"
	"TRACE may be .slt, text, glibc mtrace, valgrind --trace-malloc or Go\n"
	"allocfreetrace output, optionally gzip-compressed (detected from content).\n\n"
	"  --json          one JSON object on stdout (keys in docs/trace-format.md)\n"
	"  --from FORMAT   slt, text, mtrace, valgrind or goalloc: skip detection\n"
	"  --strict        any inconsistency in the trace is an error\n"
	"  -h, --help      this text\n";

struct info {
	uint64_t events, by_op[SLT_NOPS];
	uint64_t live_bytes, live_objects, peak_bytes, peak_index, last_ts;
	bool peaked;
	uint64_t *sizes;	/* by object id */
	uint64_t nsizes;
	uint8_t *tids;		/* threads seen */
	uint64_t ntids, threads;
	uint64_t classes[SL_MAX_CLASSES];
};

static int grow(void *pp, uint64_t *n, uint64_t need, size_t elem)
{
	if (need <= *n)
		return 0;
	uint64_t cap = *n ? *n : 1024;
	while (cap < need)
		cap *= 2;
	void *p = realloc(*(void **)pp, cap * elem);
	if (!p)
		return -1;
	memset((char *)p + *n * elem, 0, (cap - *n) * elem);
	*(void **)pp = p;
	*n = cap;
	return 0;
}

static void count_size(struct info *in, uint64_t size)
{
	const struct sl_sizeclasses *t = sl_sizeclasses_go();
	/* a 0-byte request is served as 1 byte (class 1), not as large */
	in->classes[size <= t->max_small_size ? sl_size_to_class(t, size ? size : 1) : 0]++;
}

static int account(struct info *in, const struct slt_event *ev)
{
	if (grow(&in->tids, &in->ntids, (uint64_t)ev->tid + 1, 1) < 0)
		return -1;
	in->threads += !in->tids[ev->tid];
	in->tids[ev->tid] = 1;
	in->by_op[ev->op]++;
	in->last_ts = ev->ts_ns;
	switch (ev->op) {
	case SLT_MALLOC: case SLT_CALLOC: case SLT_ALIGNED:
		if (grow(&in->sizes, &in->nsizes, ev->id + 1, sizeof(uint64_t)) < 0)
			return -1;
		in->sizes[ev->id] = ev->size;
		in->live_bytes += ev->size;
		in->live_objects++;
		count_size(in, ev->size);
		break;
	case SLT_REALLOC:
		in->live_bytes += ev->size - in->sizes[ev->id];
		in->sizes[ev->id] = ev->size;
		count_size(in, ev->size);
		break;
	case SLT_FREE:
		in->live_bytes -= in->sizes[ev->id];
		in->live_objects--;
		break;
	default:
		break;
	}
	if (in->live_bytes > in->peak_bytes) {
		in->peak_bytes = in->live_bytes;
		in->peak_index = in->events;
		in->peaked = true;
	}
	in->events++;
	return 0;
}

static cJSON *report_json(const struct slt_report *r)
{
	cJSON *o = cJSON_CreateObject();
#define X(name, doc) cJSON_AddNumberToObject(o, #name, (double)r->name);
	SLT_REPORT_FIELDS(X)
#undef X
	return o;
}

static const char *const op_keys[SLT_NOPS] = {
	"mallocs", "callocs", "reallocs", "frees", "aligned_allocs", "gc_markers",
	"thread_starts", "thread_exits",
};

static void print_json(const struct info *in, struct slt_source *s, const char *path, double bpe)
{
	const struct slt_report *r = slt_source_report(s);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "format", slt_format_name(slt_source_format(s)));
	cJSON_AddBoolToObject(o, "gzip", slt_source_gzip(s));
	cJSON_AddBoolToObject(o, "complete", slt_source_complete(s));
	cJSON_AddNumberToObject(o, "partial_bytes", (double)slt_source_partial_bytes(s));
	cJSON *meta = cJSON_Parse(slt_source_meta(s));
	cJSON_AddItemToObject(o, "metadata", meta ? meta : cJSON_CreateObject());
	cJSON_AddNumberToObject(o, "events", (double)in->events);
	for (int i = 0; i < SLT_NOPS; i++)
		cJSON_AddNumberToObject(o, op_keys[i], (double)in->by_op[i]);
	cJSON_AddNumberToObject(o, "threads", (double)in->threads);
	cJSON_AddNumberToObject(o, "max_ids", (double)slt_source_max_ids(s));
	cJSON_AddNumberToObject(o, "unknown_frees", (double)r->unknown_frees);
	cJSON_AddNumberToObject(o, "peak_live_bytes", (double)in->peak_bytes);
	if (in->peaked)
		cJSON_AddNumberToObject(o, "peak_event_index", (double)in->peak_index);
	else
		cJSON_AddNullToObject(o, "peak_event_index");
	cJSON_AddNumberToObject(o, "final_live_bytes", (double)in->live_bytes);
	cJSON_AddNumberToObject(o, "final_live_objects", (double)in->live_objects);
	cJSON_AddNumberToObject(o, "duration_ns", (double)in->last_ts);
	if (bpe >= 0)
		cJSON_AddNumberToObject(o, "bytes_per_event", bpe);
	else
		cJSON_AddNullToObject(o, "bytes_per_event");
	cJSON *h = cJSON_AddObjectToObject(o, "size_classes");
	for (int c = 0; c < SL_MAX_CLASSES; c++)
		if (in->classes[c]) {
			char k[12];
			snprintf(k, sizeof k, "%u", (unsigned)c & 0xffff);
			cJSON_AddNumberToObject(h, k, (double)in->classes[c]);
		}
	cJSON_AddItemToObject(o, "report", report_json(r));
	char *txt = cJSON_Print(o);
	printf("%s\n", txt);
	free(txt);
	cJSON_Delete(o);
	(void)path;
}

static void print_text(const struct info *in, struct slt_source *s, const char *path, double bpe)
{
	const struct slt_report *r = slt_source_report(s);
	const struct sl_sizeclasses *t = sl_sizeclasses_go();
	char cut[96] = "";
	if (!slt_source_complete(s))
		snprintf(cut, sizeof cut, " (incomplete: cut short%s)",
			 slt_source_partial_bytes(s) ? " inside a record, dropped" : "");
	printf("trace          %s\nformat         %s%s%s\nmetadata       %s\n", path,
	       slt_format_name(slt_source_format(s)), slt_source_gzip(s) ? " (gzip)" : "", cut,
	       slt_source_meta(s));
	printf("events         %llu\n", (unsigned long long)in->events);
	for (int i = 0; i < SLT_NOPS; i++)
		printf("  %-14s %llu\n", op_keys[i], (unsigned long long)in->by_op[i]);
	printf("threads        %llu\nmax ids        %llu\n", (unsigned long long)in->threads,
	       (unsigned long long)slt_source_max_ids(s));
	if (in->peaked)
		printf("peak live      %llu bytes after event %llu\n", (unsigned long long)in->peak_bytes,
		       (unsigned long long)in->peak_index);
	else
		printf("peak live      0 bytes (no live byte after any event)\n");
	printf("final live     %llu bytes in %llu objects\n", (unsigned long long)in->live_bytes,
	       (unsigned long long)in->live_objects);
	printf("duration       %.6f s\n", (double)in->last_ts / 1e9);
	if (bpe >= 0)
		printf("bytes/event    %.3f\n", bpe);
	printf("requests by Go size class (class: bytes count)\n");
	for (int c = 0; c < SL_MAX_CLASSES; c++)
		if (in->classes[c])
			printf("  %2d: %5u %llu\n", c, c ? t->class_to_size[c] : 0,
			       (unsigned long long)in->classes[c]);
	printf("consistency report\n");
#define X(name, doc) printf("  %-16s %llu  %s\n", #name, (unsigned long long)r->name, doc);
	SLT_REPORT_FIELDS(X)
#undef X
}

static int parse_args(int argc, char **argv, bool *json, struct slt_open_opts *oo)
{
	static const struct option opts[] = {
		{ "json", no_argument, 0, 'j' }, { "from", required_argument, 0, 'f' },
		{ "strict", no_argument, 0, 's' }, { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int o, rc;
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":jf:sh", opts, NULL)) != -1) {
		switch (o) {
		case 'j': *json = true; break;
		case 's': oo->strict = true; break;
		case 'f':
			if ((rc = cli_parse_from("info", optarg, &oo->format)))
				return rc;
			break;
		case 'h': fputs(usage_text, stdout); return -1;
		case ':': return cli_usage("info", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage("info", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage("info", optind >= argc ? "missing TRACE" : "unexpected argument '%s'",
				 argv[optind + 1 < argc ? optind + 1 : optind]);
	return 0;
}

int cmd_info(int argc, char **argv)
{
	bool json = false;
	struct slt_open_opts oo = { 0 };
	int rc = parse_args(argc, argv, &json, &oo);
	if (rc)
		return rc < 0 ? SL_EXIT_OK : rc;
	const char *path = argv[optind];
	char err[1024];
	struct slt_source *s = slt_open(path, &oo, err, sizeof err);
	if (!s)
		return cli_error("info", cli_trace_code(NULL), "%s", err);
	struct info in = { 0 };
	struct slt_event ev;
	while ((rc = slt_next(s, &ev)) > 0)
		if (account(&in, &ev) < 0) {
			rc = -2;
			break;
		}
	if (rc == -1)
		rc = cli_error("info", cli_trace_code(s), "%s", slt_error(s));
	else if (rc == -2)
		rc = cli_fail("info", "%s: out of memory", path);
	else {
		struct stat st;
		double bpe = -1;
		if (slt_source_format(s) == SLT_FMT_SLT && !slt_source_gzip(s) && in.events &&
		    stat(path, &st) == 0)
			bpe = (double)st.st_size / (double)in.events;
		(json ? print_json : print_text)(&in, s, path, bpe);
		rc = cli_flush_stdout("info");
	}
	free(in.sizes);
	free(in.tids);
	slt_close(s);
	return rc;
}
