/*
 * spanlab sizeclasses: print the size-class table a config describes (Go
 * 1.19's by default) in the columns of Go's sizeclasses.go header comment,
 * as JSON (itself a loadable config), or as the C source of
 * alloc/sizeclass_go.c (--emit-c). With --fit TRACE --classes K: the K-class
 * table fitted to the trace (sim/fit.h), its waste next to the config's
 * table (Go's by default).
 */
#include <cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "config.h"
#include "fit.h"

static const char usage_text[] =
	"usage: spanlab sizeclasses [--config FILE] [--json | --emit-c]\n"
	"       spanlab sizeclasses --fit TRACE --classes K [--config FILE] [--json]\n\n"
	"Print a size-class table: Go 1.19's by default, or the one FILE describes\n"
	"(generator parameters or an explicit table, see docs/config.md).\n\n"
	"  --config FILE   a JSON config; its \"sizeclasses\" object is used\n"
	"  --json          print the table as JSON (a config that loads back)\n"
	"  --emit-c        print the C source of alloc/sizeclass_go.c\n"
	"  --fit TRACE     the table of K classes with the least internal fragmentation\n"
	"                  for TRACE's requests (exact; docs/sweeps.md), and its waste next\n"
	"                  to the config's table; page size, max small size and tiny come\n"
	"                  from the config. --json: a report whose \"config\" loads back\n"
	"  --classes K     the number of classes to fit (with tiny on, 8 and 16 B count)\n"
	"  -h, --help      this text\n";

/* --fit: the report, as text or JSON. The config's own table is the
 * baseline; no_base says why there is none (the generator cannot make one
 * for these bounds, which a fitted table can still have). */
static int fit_report(const char *trace, uint64_t k, const struct sim_config *cfg, const char *no_base, bool json)
{
	uint32_t page = no_base ? cfg->sc_params.page_size : cfg->classes.page_size;
	uint32_t max_small = no_base ? cfg->sc_params.max_small_size : cfg->classes.max_small_size;
	struct fit_hist h;
	struct fit_result *r = malloc(sizeof *r);
	char err[1024];
	int code = SL_EXIT_OK;

	if (!r || fit_hist_init(&h, max_small, cfg->tiny, err, sizeof err)) {
		free(r);
		return cli_fail("sizeclasses", "out of memory");
	}
	if ((code = fit_hist_from_trace(&h, trace, err, sizeof err))) {
		code = cli_error("sizeclasses", code, "%s", err);
		goto out;
	}
	if (fit_table(&h, (uint32_t)k, page, r, err, sizeof err)) {
		code = cli_bad_input("sizeclasses", "--classes %llu: %s", (unsigned long long)k, err);
		goto out;
	}
	struct sl_sizeclasses *t = malloc(sizeof *t);
	if (!t || sl_sizeclasses_from_rows(page, max_small, (const uint32_t (*)[2])r->rows, r->nrows, t, err,
					   sizeof err)) {
		free(t);
		code = cli_fail("sizeclasses", "%s", t ? err : "out of memory");
		goto out;
	}
	uint64_t base = no_base ? 0 : fit_waste(&h, &cfg->classes);
	double req = (double)h.requested_bytes;
	const char *base_name = no_base ? "config" : sl_sizeclasses_equal(&cfg->classes, sl_sizeclasses_go()) ? "Go 1.19"
			      : "config";
	if (json) {
		cJSON *o = cJSON_CreateObject(), *b, *c;
		cJSON_AddStringToObject(o, "trace", trace);
		cJSON_AddNumberToObject(o, "classes", (double)r->nrows);
		cJSON_AddStringToObject(o, "objective", "sum over small, non-tiny requests of class size - request size");
		cJSON_AddNumberToObject(o, "requests", (double)h.requests);
		cJSON_AddNumberToObject(o, "requested_bytes", (double)h.requested_bytes);
		cJSON_AddNumberToObject(o, "tiny_requests", (double)h.tiny_requests);
		cJSON_AddNumberToObject(o, "large_requests", (double)h.large_requests);
		cJSON_AddNumberToObject(o, "aligned_requests", (double)h.aligned_requests);
		cJSON_AddNumberToObject(o, "candidate_sizes", r->groups);
		cJSON_AddNumberToObject(o, "serving_classes", r->serving);
		cJSON_AddNumberToObject(o, "waste_bytes", (double)r->waste);
		cJSON_AddNumberToObject(o, "waste_fraction", req > 0 ? (double)r->waste / req : 0);
		cJSON_AddItemToObject(o, "baseline", b = cJSON_CreateObject());
		cJSON_AddStringToObject(b, "table", base_name);
		if (no_base) {
			cJSON_AddStringToObject(b, "error", no_base);
			cJSON_AddNullToObject(b, "classes");
			cJSON_AddNullToObject(b, "waste_bytes");
			cJSON_AddNullToObject(b, "waste_fraction");
		} else {
			cJSON_AddNumberToObject(b, "classes", cfg->classes.nclasses - 1);
			cJSON_AddNumberToObject(b, "waste_bytes", (double)base);
			cJSON_AddNumberToObject(b, "waste_fraction", req > 0 ? (double)base / req : 0);
		}
		cJSON_AddItemToObject(o, "config", c = cJSON_CreateObject());
		cJSON_AddItemToObject(c, "sizeclasses", config_sizeclasses_json(t, false));
		cJSON_AddBoolToObject(c, "tiny", cfg->tiny);
		char *s = cJSON_Print(o);
		puts(s);
		free(s);
		cJSON_Delete(o);
	} else {
		printf("fitted to         %s\n", trace);
		printf("objective         sum over counted requests of (class size - request size), exact minimum\n");
		printf("counted requests  %llu small requests, %llu bytes\n", (unsigned long long)h.requests,
		       (unsigned long long)h.requested_bytes);
		printf("not counted       %llu tiny (under 16 B, tiny allocator%s), %llu large (over %u B)\n",
		       (unsigned long long)h.tiny_requests, cfg->tiny ? "" : " off: none", (unsigned long long)h.large_requests,
		       max_small);
		printf("\n");
		sl_sizeclasses_print(t, stdout);
		printf("\n%-28s %14s %9s\n", "waste", "bytes", "of req.");
		printf("fitted, %3zu classes          %14llu %8.3f%%\n", r->nrows, (unsigned long long)r->waste,
		       req > 0 ? 100 * (double)r->waste / req : 0);
		if (no_base)
			printf("%-8s no table: %s\n", "config", no_base);
		else
			printf("%-8s %3u classes         %14llu %8.3f%%\n", base_name, cfg->classes.nclasses - 1,
			       (unsigned long long)base, req > 0 ? 100 * (double)base / req : 0);
	}
	free(t);
out:
	fit_hist_free(&h);
	free(r);
	return code;
}

int cmd_sizeclasses(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, 0, 'c' },
		{ "json", no_argument, 0, 'j' },
		{ "emit-c", no_argument, 0, 'e' },
		{ "fit", required_argument, 0, 'f' },
		{ "classes", required_argument, 0, 'k' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *config = NULL, *fit = NULL, *classes = NULL;
	int json = 0, emit_c = 0, o;
	uint64_t k = 0;
	struct sim_config cfg;
	char err[512];

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":c:jef:k:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 'j': json = 1; break;
		case 'e': emit_c = 1; break;
		case 'f': fit = optarg; break;
		case 'k': classes = optarg; break;
		case 'h': fputs(usage_text, stdout); return SL_EXIT_OK;
		case ':': return cli_usage("sizeclasses", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage("sizeclasses", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("sizeclasses", "unexpected argument '%s'", argv[optind]);
	if (json && emit_c)
		return cli_usage("sizeclasses", "--json and --emit-c cannot be combined");
	if (!fit != !classes)
		return cli_usage("sizeclasses", fit ? "--fit needs --classes K" : "--classes needs --fit TRACE");
	if (classes && !cli_parse_u64(classes, 1, SL_MAX_CLASSES - 1, &k))
		return cli_usage("sizeclasses", "--classes needs an integer from 1 to %d, not '%s'", SL_MAX_CLASSES - 1,
				 classes);
	if (fit && emit_c)
		return cli_usage("sizeclasses", "--fit and --emit-c cannot be combined");

	config_defaults(&cfg);
	if (config && config_load_file(config, &cfg, err, sizeof err))
		return cli_bad_input("sizeclasses", "%s", err);
	/* The table needs no heap, but the file is a replay config: it is
	 * refused here as replay would refuse it. */
	if (config && config_check_arena(&cfg, err, sizeof err))
		return cli_bad_input("sizeclasses", "%s: %s", config, err);
	/* A fit goes on without a baseline where the generator makes no
	 * table of bounds a fitted table can have (fit_resolve_config). */
	int resolved = fit ? fit_resolve_config(&cfg, err, sizeof err) : config_resolve(&cfg, err, sizeof err);
	if (resolved < 0)
		return cli_bad_input("sizeclasses", "%s: 'sizeclasses': %s", config ? config : "defaults", err);
	bool no_base = resolved == 1;

	if (fit) {
		int code = fit_report(fit, k, &cfg, no_base ? err : NULL, json);
		if (code)
			return code;
	} else if (emit_c) {
		sl_sizeclasses_emit_c(&cfg.classes, stdout);
	} else if (json) {
		cJSON *root = cJSON_CreateObject();
		cJSON_AddItemToObject(root, "sizeclasses", config_sizeclasses_json(&cfg.classes, true));
		char *s = cJSON_Print(root);
		puts(s);
		free(s);
		cJSON_Delete(root);
	} else {
		sl_sizeclasses_print(&cfg.classes, stdout);
	}
	return cli_flush_stdout("sizeclasses");
}
