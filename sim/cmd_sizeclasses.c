/*
 * spanlab sizeclasses: print the size-class table a config describes (Go
 * 1.19's by default) in the columns of Go's sizeclasses.go header comment,
 * as JSON (itself a loadable config), or as the C source of
 * alloc/sizeclass_go.c (--emit-c).
 */
#include <cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "config.h"

static const char usage_text[] =
	"usage: spanlab sizeclasses [--config FILE] [--json | --emit-c]\n\n"
	"Print a size-class table: Go 1.19's by default, or the one FILE describes\n"
	"(generator parameters or an explicit table, see docs/config.md).\n\n"
	"  --config FILE   a JSON config; its \"sizeclasses\" object is used\n"
	"  --json          print the table as JSON (a config that loads back)\n"
	"  --emit-c        print the C source of alloc/sizeclass_go.c\n"
	"  -h, --help      this text\n";

int cmd_sizeclasses(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, 0, 'c' },
		{ "json", no_argument, 0, 'j' },
		{ "emit-c", no_argument, 0, 'e' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *config = NULL;
	int json = 0, emit_c = 0, o;
	struct sim_config cfg;
	char err[512];

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":c:jeh", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 'j': json = 1; break;
		case 'e': emit_c = 1; break;
		case 'h': fputs(usage_text, stdout); return SL_EXIT_OK;
		case ':': return cli_usage("sizeclasses", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage("sizeclasses", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("sizeclasses", "unexpected argument '%s'", argv[optind]);
	if (json && emit_c)
		return cli_usage("sizeclasses", "--json and --emit-c cannot be combined");

	config_defaults(&cfg);
	if (config && config_load_file(config, &cfg, err, sizeof err))
		return cli_bad_input("sizeclasses", "%s", err);
	if (config_resolve(&cfg, err, sizeof err))
		return cli_bad_input("sizeclasses", "%s: 'sizeclasses': %s", config ? config : "defaults", err);

	if (emit_c) {
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
	if (fflush(stdout) || ferror(stdout))
		return cli_fail("sizeclasses", "writing the table failed");
	return SL_EXIT_OK;
}
