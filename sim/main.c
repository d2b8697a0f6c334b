/*
 * spanlab: dispatch to the subcommands listed in sim/commands.h.
 * Exit codes: 0 success, 1 a failed run, 2 bad usage or bad input.
 */
#include "cli.h"
#include "commands.h"

#include <cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static const struct command {
	const char *name, *summary;
	int (*run)(int argc, char **argv);
} commands[] = {
#define X(name, summary) { #name, summary, cmd_##name },
	SL_COMMANDS(X)
#undef X
};

static void usage(FILE *out)
{
	fprintf(out, "usage: spanlab COMMAND [OPTIONS] [ARGS]\n"
		     "       spanlab COMMAND --help\n"
		     "       spanlab --version\n\n"
		     "A trace-driven laboratory for the Go memory allocator.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nExit status: 0 success, 1 a failed run, 2 bad usage or bad input.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(NULL, "missing command");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return SL_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("spanlab %s\nsqlite %s\ncjson %s\n", SL_VERSION, sqlite3_libversion(),
		       cJSON_Version());
		return SL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return cli_usage(NULL, "unknown option '%s' (options follow the command)", argv[1]);
	return cli_usage(NULL, "unknown command '%s'", argv[1]);
}
