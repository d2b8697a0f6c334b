/*
 * The replay engine: a trace goes in, the allocator core replays it
 * deterministically, and the figures (summary, snapshots, per-class rows)
 * come out through callbacks; events go straight from the core to a sink.
 *
 * Determinism. One OS thread drives every P. Trace thread t (dense ids in
 * order of first appearance, as every trace source numbers them) runs on
 * P (t mod procs). Object ids index an array of pointers, so no hash of
 * addresses is involved. The same trace and config give the same events,
 * snapshots and figures, byte for byte, whatever the machine's load; only
 * wall_seconds and ops_per_second vary.
 *
 * C semantics of each operation:
 *   malloc/calloc/aligned  a new object (calloc's memory is zero);
 *   realloc                the object keeps its id and its first
 *                          min(old, new) bytes;
 *   free                   of a live id; of anything else: counted as an
 *                          unknown free (fatal with --strict);
 *   GC marker              a cycle in the gc policy (sl_heap_gc_marker);
 *   thread start/exit      no allocator effect.
 * Every object is written at its first and last byte (every page with
 * --touch), so Ready memory is really backed; --check also writes a pattern
 * there and verifies it at free, and runs the heap validators.
 *
 * Live bytes are requested bytes of live objects, measured between
 * operations (a property of the trace alone). The peak's operation index is
 * found by a first pass over the trace when it is a regular file, so the
 * peak snapshot is exact; the same pass gives the event count that decides
 * the snapshot interval (about 2,000 snapshots per trace; from a pipe, an
 * interval that doubles after each 2,000).
 */
#ifndef SPANLAB_REPLAY_H
#define SPANLAB_REPLAY_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "slt.h"
#include "snapshot.h"
#include "summary.h"

struct baseline;

struct replay_opts {
	const char *trace;
	struct slt_open_opts open;	/* format, strict */
	struct sim_config cfg;		/* resolved */
	bool touch;			/* write every page of each object */
	bool check;			/* validators + content patterns */
	uint64_t check_every;		/* validators every N ops (0: at snapshots) */
	bool quiet;			/* no progress line */
	uint64_t snapshot_every;	/* 0: from the config, else automatic */

	/* NULL: the Go core. Else this process is a baseline's child
	 * (sim/baseline.h): replay with the process's own malloc and read
	 * the memory figures through this adapter. */
	const struct baseline *baseline;
	/* The first pass's results, when the caller already has them (a
	 * baseline's parent ran it): then replay_run does not read the trace
	 * twice. */
	bool first_pass_known;
	uint64_t events, peak_op;	/* peak_op UINT64_MAX: unknown */

	const struct sl_os_ops *os;	/* NULL: the real OS (fault injection: os_fault.h) */
};

/* Where the figures go. Any callback may be NULL. A callback returning
 * nonzero stops the replay as failed (e.g. the database failed). */
struct replay_out {
	void *ctx;
	struct sl_sink sink;		/* allocator events */
	int (*snapshot)(void *ctx, const struct sim_snapshot *snap);
	int (*size_class)(void *ctx, const struct sim_size_class_row *row);
	const char *(*error)(void *ctx);	/* message after a failed callback */
};

enum replay_status {
	REPLAY_OK = 0,
	REPLAY_FAILED,		/* the run failed (out of memory, validator, output) */
	REPLAY_BAD_INPUT,	/* the trace is malformed or inconsistent (--strict) */
	REPLAY_INTERRUPTED,	/* SIGINT/SIGTERM: stopped at a record boundary */
};

/* Set by the caller's SIGINT/SIGTERM handler; looked at every 1,024
 * operations at most (the replay then stops at a record boundary). */
extern volatile sig_atomic_t replay_stop;

/* Replay opts->trace. On REPLAY_OK and REPLAY_INTERRUPTED *sum holds the
 * figures (of the operations replayed); otherwise err says why, in one line
 * naming the file and the place. */
enum replay_status replay_run(const struct replay_opts *opts, const struct replay_out *out,
			      struct sim_summary *sum, char *err, size_t errlen);

/* The automatic snapshot interval for a trace of n events. */
uint64_t replay_auto_snapshot_every(uint64_t n);

/* The first pass: the trace's event count and the index of the operation
 * after which live bytes first reach their peak. A trace that is not a
 * regular file (a pipe) is not read: *events = 0, *peak_op = UINT64_MAX. */
enum replay_status replay_first_pass(const char *trace, const struct slt_open_opts *open,
				     uint64_t *events, uint64_t *peak_op, char *err, size_t errlen);

/* The snapshot interval replay_run uses for opts and a trace of `events`. */
uint64_t replay_snapshot_every(const struct replay_opts *opts, uint64_t events);

#endif
