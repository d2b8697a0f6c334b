/*
 * spanlab convert IN [-o OUT] [--from FORMAT] [--to slt|text] [--strict]:
 * any trace we read into .slt (or the text form). The output is written to
 * OUT.tmp-PID and renamed when complete, so a failed conversion never
 * leaves a half file under OUT. The importer's consistency report goes into
 * the END record and, when something did not add up, one line on stderr.
 * Metadata: a .slt input's is kept; other inputs get {"source_format",
 * "source" (the input's file name, without directories)}.
 */
#include <cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "slt.h"

static const char usage_text[] =
	"usage: spanlab convert IN [-o OUT] [--from FORMAT] [--to slt|text] [--strict]\n\n"
	"Convert a trace (.slt, text, glibc mtrace, valgrind --trace-malloc, Go\n"
	"allocfreetrace; gzip accepted; format detected from content) to .slt or to\n"
	"the plain text form. Without -o (or with -o -) the output goes to stdout\n"
	"(text only when stdout is a terminal).\n\n"
	"  -o, --output OUT  output file (-: stdout)\n"
	"  --from FORMAT     slt, text, mtrace, valgrind or goalloc: skip detection\n"
	"  --to slt|text     output format (default slt)\n"
	"  --strict          any inconsistency in the input is an error\n"
	"  -h, --help        this text\n";

struct conv {
	const char *in, *out;
	bool text;
	struct slt_open_opts oo;
};

static int parse_args(int argc, char **argv, struct conv *c)
{
	static const struct option opts[] = {
		{ "output", required_argument, 0, 'o' }, { "from", required_argument, 0, 'f' },
		{ "to", required_argument, 0, 't' },	  { "strict", no_argument, 0, 's' },
		{ "help", no_argument, 0, 'h' },	  { 0, 0, 0, 0 },
	};
	int o, rc;
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":o:f:t:sh", opts, NULL)) != -1) {
		switch (o) {
		case 'o': c->out = optarg; break;
		case 's': c->oo.strict = true; break;
		case 'f':
			if ((rc = cli_parse_from("convert", optarg, &c->oo.format)))
				return rc;
			break;
		case 't':
			if (strcmp(optarg, "slt") && strcmp(optarg, "text"))
				return cli_usage("convert", "--to takes slt or text, not '%s'", optarg);
			c->text = !strcmp(optarg, "text");
			break;
		case 'h': fputs(usage_text, stdout); return -1;
		case ':': return cli_usage("convert", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage("convert", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage("convert", optind >= argc ? "missing IN" : "unexpected argument '%s'",
				 argv[optind + 1 < argc ? optind + 1 : optind]);
	c->in = argv[optind];
	if (c->out && cli_out_is_stdout(c->out))
		c->out = NULL;		/* -o -: stdout, as without -o */
	if (!c->out && !c->text && isatty(1))
		return cli_usage("convert", "refusing to write .slt to a terminal: use -o OUT");
	return 0;
}

/* Metadata for the output: a .slt's own, else where it came from. */
static char *out_meta(struct slt_source *s, const char *in)
{
	if (slt_source_format(s) == SLT_FMT_SLT)
		return strdup(slt_source_meta(s));
	const char *base = strrchr(in, '/');
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "source_format", slt_format_name(slt_source_format(s)));
	cJSON_AddStringToObject(o, "source", base ? base + 1 : in);
	char *txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return txt;
}

/* Stream every event to the writer (or the text form). 0, -1 bad input,
 * -2 write failure. */
static int pump(struct slt_source *s, struct conv *c, FILE *f, const char *meta)
{
	struct slt_event ev;
	struct slt_writer *w = NULL;
	uint64_t last_ts = 0;
	int rc;
	if (c->text) {
		if (slt_text_header(f, meta) < 0)
			return -2;
	} else {
		if (!(w = malloc(sizeof *w)))
			return -2;
		if (slt_writer_init(w, slt_sink_stdio, f, slt_source_tick_ns(s), meta) < 0) {
			free(w);
			return -2;
		}
	}
	while ((rc = slt_next(s, &ev)) > 0) {
		int wr = w ? slt_write_event(w, &ev) : slt_text_write(f, &ev, &last_ts);
		if (wr < 0) {
			rc = -2;
			break;
		}
	}
	if (w) {
		w->report = *slt_source_report(s);
		if (rc == 0 && slt_source_complete(s))
			rc = slt_writer_finish(w) < 0 ? -2 : 0;	/* END record */
		else {
			if (rc == 0 && slt_writer_flush(w) < 0)	/* cut short: so is the output */
				rc = -2;
			slt_writer_discard(w);
		}
		free(w);
	}
	return rc;
}

static void say_report(const struct slt_report *r, const char *in)
{
	if (!slt_report_inconsistencies(r))
		return;
	fprintf(stderr, "spanlab convert: %s: consistency report:", in);
#define X(name, doc) if (r->name) fprintf(stderr, " %s=%llu", #name, (unsigned long long)r->name);
	SLT_REPORT_FIELDS(X)
#undef X
	fprintf(stderr, " (see spanlab info)\n");
}

int cmd_convert(int argc, char **argv)
{
	struct conv c = { 0 };
	int rc = parse_args(argc, argv, &c);
	if (rc)
		return rc < 0 ? SL_EXIT_OK : rc;
	char err[1024];
	struct slt_source *s = slt_open(c.in, &c.oo, err, sizeof err);
	if (!s)
		return cli_error("convert", cli_trace_code(NULL), "%s", err);
	struct cli_out out = { .f = stdout };
	if (c.out && cli_out_open(&out, c.out)) {
		slt_close(s);
		return cli_fail("convert", "%s: cannot create: %m", c.out);
	}
	char *meta = out_meta(s, c.in);
	rc = pump(s, &c, out.f, meta);
	free(meta);
	if (c.out) {
		if (rc == 0 && cli_out_commit(&out))
			rc = -2;
		else if (rc != 0)
			cli_out_abort(&out);
	} else if (rc == 0 && (fflush(stdout) || ferror(stdout))) {
		rc = -2;
	}
	if (rc == 0) {
		say_report(slt_source_report(s), c.in);
		if (!slt_source_complete(s))
			fprintf(stderr, "spanlab convert: %s: the trace was cut short (no END record); %s\n", c.in,
				c.text ? "the text form cannot say so: the output reads as a complete trace"
					  : "the output is too");
	}
	if (rc == -1)
		rc = cli_error("convert", cli_trace_code(s), "%s", slt_error(s));
	else if (rc == -2)
		rc = cli_fail("convert", "%s: write failed: %m", c.out ? c.out : "stdout");
	slt_close(s);
	return rc;
}
