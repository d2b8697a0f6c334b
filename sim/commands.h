/*
 * The spanlab subcommands. One line per command: its name, the function in
 * sim/cmd_<name>.c that runs it (argc/argv start at the command name, the
 * return value is the exit code), and the one-line summary --help prints.
 */
#ifndef SPANLAB_COMMANDS_H
#define SPANLAB_COMMANDS_H

#define SL_COMMANDS(X) \
	X(sizeclasses, "print, generate, validate or fit a size-class table") \
	X(record, "run a program with the recorder preloaded and write its .slt trace") \
	X(convert, "convert mtrace / valgrind / Go allocfreetrace / text traces to .slt or text") \
	X(info, "summarise a trace: events, threads, live bytes, sizes, consistency") \
	X(gen, "write a seeded synthetic trace (uniform, heavytail, phases, prodcons)") \
	X(replay, "replay a trace through the allocator; summary, and the event log with --db") \
	X(merge, "copy the complete runs of spanlab databases into one") \
	X(sweep, "run a sweep file's grid of configs over its traces, in parallel, into one database")

#define X(name, summary) int cmd_##name(int argc, char **argv);
SL_COMMANDS(X)
#undef X

#endif
