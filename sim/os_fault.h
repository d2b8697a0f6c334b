/*
 * Fault injection for the CLI: an OS layer (struct sl_os_ops) that passes
 * every call to sl_os_posix except the ones it is told to fail, so a test
 * can make `spanlab replay` meet a failing mmap or madvise at any point
 * of a real run (tests/e2e/test_resource_faults.c).
 *
 * It is switched on by the environment, never by a flag a user would
 * meet in --help:
 *   SPANLAB_FAULT_OS=KINDS:N    the Nth call (1-based) of the named kinds fails
 *   SPANLAB_FAULT_OS=KINDS:N+   the Nth and every later one fails
 * KINDS is a comma-separated list of reserve, map, unused, release, alloc
 * (the struct sl_os_ops members), or mmap (= reserve, map, alloc) or
 * madvise (= unused). Calls of other kinds are not counted. A failing
 * call returns ENOMEM and does nothing. A replay that fails then names the
 * injection at the end of its error; one that goes on (a refused madvise
 * leaves memory Ready) prints a warning saying how many calls failed; one
 * in which no call failed, how many calls of the kinds it counted.
 */
#ifndef SPANLAB_OS_FAULT_H
#define SPANLAB_OS_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "spanlab.h"

struct os_fault {
	struct sl_os_ops ops;	/* hand &ops to sl_heap_config.os */
	unsigned mask;		/* 1 << index of the member in struct sl_os_ops */
	uint64_t fail_at;	/* 1-based call number */
	bool and_later;
	uint64_t calls, failures;
};

/* Parse spec (the variable's value) into f: 0, or -1 with a one-line
 * reason in err. */
int os_fault_init(struct os_fault *f, const char *spec, char *err, size_t errlen);

#endif
