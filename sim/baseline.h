/*
 * Baselines: the same trace through glibc, jemalloc, mimalloc or tcmalloc
 * (`spanlab replay --allocator NAME`), replayed by the same loop as the Go
 * core (sim/replay.c), with the same memory touching and the same summary,
 * and logged into the same database as a run.
 *
 * Process shape. Loading a second malloc into a process that already uses
 * glibc's (SQLite, cJSON, stdio) is fragile: two heaps in one process, and
 * initial-exec TLS in dlopen'ed allocators. So a baseline replays in a child
 * process: the parent (`spanlab replay`) locates the Debian library, runs
 * the first pass over the trace, and starts its own executable again with
 * LD_PRELOAD naming that library (glibc: no LD_PRELOAD at all) and a hidden
 * --baseline-child option. The child checks that malloc really resolves
 * into the library, replays the trace with plain malloc/calloc/realloc/
 * posix_memalign/free, and sends its snapshots and summary over a socket;
 * the parent logs them into the database exactly like a Go run's, prints
 * the summary, and owns the exit status. SIGINT/SIGTERM reach the parent,
 * which forwards one SIGTERM; the child stops at a record boundary and
 * reports an interrupted run. The child dies with the parent
 * (PR_SET_PDEATHSIG).
 *
 * The child's own allocations, apart from the trace's, are the trace
 * reader's: one source struct and a 64 KiB window (plus the metadata JSON
 * and, for text formats, the line buffer), all made before the replay
 * starts and live to its end. The object table and the reader's id maps
 * are mmap'ed, the messages are written with write(2) from the stack, and
 * nothing else allocates. So the allocator's figures include a constant of
 * 68 KiB of the replayer's by glibc's count, 82-210 KiB by the others'
 * (docs/replay.md).
 *
 * Memory figures. Each adapter reads its allocator's statistics interface
 * at every snapshot (never per operation: those calls cost microseconds,
 * glibc's mallinfo2 much more) into struct baseline_mem; which of the
 * allocator's figures stands for the Go model's heap in-use, Ready and heap
 * sys bytes is written down in the table in baseline.c and in
 * docs/performance.md. A library whose statistics symbols are missing
 * falls back to the process's resident set (/proc/self/statm) for Ready.
 * Tier hit rates, refills, span moves, GC cycles and the size-class rows
 * are Go-only: NULL in the database, never faked.
 */
#ifndef SPANLAB_BASELINE_H
#define SPANLAB_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "summary.h"

struct replay_opts;
struct replay_out;
enum replay_status;

/* The allocators `replay --allocator` accepts; GO is the core. */
enum sim_allocator {
	SIM_ALLOC_GO = 0,
	SIM_ALLOC_GLIBC,
	SIM_ALLOC_JEMALLOC,
	SIM_ALLOC_MIMALLOC,
	SIM_ALLOC_TCMALLOC,
	SIM_ALLOC_N
};

/* An allocator's memory at one snapshot, in bytes; SIM_NULL where the
 * allocator has no such figure. */
struct baseline_mem {
	int64_t allocated;	/* bytes of live objects as the allocator rounds them */
	int64_t inuse;		/* stands for heap in-use (pages holding objects) */
	int64_t ready;		/* stands for Ready bytes (backed by the OS) */
	int64_t sys;		/* stands for heap sys (mapped for the heap) */
	int64_t released;	/* mapped or retained, but given back to the OS */
};

struct baseline {
	enum sim_allocator id;
	const char *name;	/* as on the command line and in runs.allocator */
	const char *package;	/* the Debian package of the library */
	const char *soname;	/* what LD_PRELOAD names; glibc: NULL */
	/* Child only: resolve the statistics interface (dlsym) and write the
	 * library's own version string; 0, or -1 with a reason. */
	int (*init)(char *version, size_t n, char *err, size_t errlen);
	/* Child only: the figures now. */
	void (*mem)(struct baseline_mem *m);
};

/* The allocator named `name` (go, glibc, jemalloc, mimalloc, tcmalloc), or
 * NULL. baseline_of(SIM_ALLOC_GO) is NULL: the core has no adapter. */
bool sim_allocator_parse(const char *name, enum sim_allocator *out);
const char *sim_allocator_name(enum sim_allocator a);
const struct baseline *baseline_of(enum sim_allocator a);

/* Where the library is: $SPANLAB_BASELINE_LIBDIR when set (only there), else
 * the directory the running libc was loaded from (Debian's multiarch
 * directory), else `ldconfig -p`. glibc needs no library (path ""). 0, or
 * -1 with the one-line message naming the Debian package. */
int baseline_locate(const struct baseline *b, char *path, size_t n, char *err, size_t errlen);

/* ---- the parent ---------------------------------------------------------- */

struct baseline_proc {
	const struct baseline *b;
	pid_t pid;
	int fd;				/* the parent's end of the socket */
	char library[1024];		/* the file malloc resolved into, in the child */
	char version[128];		/* the library's own version string */
	uint64_t events, peak_op;	/* from the first pass */
	uint64_t snapshot_every;	/* 0: automatic in the child (a pipe's growing interval) */
	double stop_sent;		/* when SIGTERM was passed on (monotonic s; 0: not yet) */
	bool killed;			/* it did not stop in time and was sent SIGKILL */
};

/* Locate the library, run the first pass over the trace, start the child
 * and wait for its hello (it then waits for baseline_relay). REPLAY_OK,
 * or REPLAY_BAD_INPUT (a missing library, a malformed trace) or
 * REPLAY_FAILED with a one-line reason. */
enum replay_status baseline_spawn(const struct baseline *b, const struct replay_opts *o,
				  struct baseline_proc *bp, char *err, size_t errlen);

/* Let the child replay; pass its snapshots to out->snapshot as they come;
 * wait for it. On REPLAY_OK and REPLAY_INTERRUPTED *sum holds the child's
 * summary. Always reaps the child. */
enum replay_status baseline_relay(struct baseline_proc *bp, const struct replay_out *out, bool quiet,
				  struct sim_summary *sum, char *err, size_t errlen);

/* Stop and reap a child that baseline_relay will not be called for. */
void baseline_abandon(struct baseline_proc *bp);

/* The run's config_json: allocator, library, version, snapshot interval,
 * touch. Caller frees. */
char *baseline_config_json(const struct baseline_proc *bp, const struct replay_opts *o);

/* ---- the child ----------------------------------------------------------- */

/* The hidden option's value, "FD,EVENTS,PEAK_OP" (PEAK_OP may be "-"). */
bool baseline_child_parse(const char *arg, int *fd, uint64_t *events, uint64_t *peak_op);

/* The child's main: check the library, say hello, replay on the parent's
 * word, report. Returns the process's exit code (the parent reports). */
int baseline_child_main(struct replay_opts *o, int fd);

#endif
