/*
 * The merger of `spanlab record`: owns the shared memory the recorder
 * writes its raw rings into (traces/record/raw.h), and turns each recorded
 * process's rings into one .slt file while the program runs.
 */
#ifndef SPANLAB_RECORD_MERGE_H
#define SPANLAB_RECORD_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct rec_merger;

struct rec_opts {
	const char *out;	/* the root process's trace */
	/* With out_fd_set, the root's trace goes to out_fd, which the caller
	 * opened (the merger owns it from rec_merger_new on); if out_tmp is
	 * set, out_fd is that temporary file, renamed over out_dest once the
	 * root's header is in it. Without out_fd_set, out is opened when the
	 * root starts. Child traces are named after out either way. */
	bool out_fd_set;
	int out_fd;
	const char *out_tmp, *out_dest;
	bool children;		/* record forked children, each to OUT-base.PID.slt */
	uint32_t tick_ns;	/* 0: SLT_DEFAULT_TICK_NS */
	uint32_t ring_words;	/* 0: RAW_RING_WORDS (tests shrink it) */
	/* Tests only: called in every pass between the two reads of the
	 * heads, to publish a record "while" the merger looks. */
	void (*between_reads)(void *ctx);
	void *between_ctx;
};

/* What became of one recorded process. */
struct rec_result {
	char path[4096];
	pid_t pid;
	bool root;
	bool complete;		/* the program exited through exit/_exit/_Exit */
	int err;		/* the file could not be written (errno): cut short */
	uint64_t events, threads, bytes;	/* as in the file */
};

/* Create the shared memory. *shm_fd is its descriptor (close-on-exec:
 * the program gets a dup of it). Its rings are shrunk (if ring_words is 0)
 * to fit the file size limit (RLIMIT_FSIZE), which a memfd counts against.
 * NULL and a message on failure. */
struct rec_merger *rec_merger_new(const struct rec_opts *o, int *shm_fd, char *err, size_t errlen);

/* Merge until the root process (pid, our child) has exited and every
 * recorded process is finished. *status and *ru: the root's wait4 result.
 * Other children (orphans, if the caller is a child subreaper) are reaped
 * too. Returns 0, or -1 with a message in err (the traces may be cut short). */
int rec_merger_run(struct rec_merger *m, pid_t root, int *status, struct rusage *ru,
		   char *err, size_t errlen);

/* The finished processes, in the order they finished. */
size_t rec_merger_results(const struct rec_merger *m, const struct rec_result **out);

/* Records a program wrote after its END (other threads during exit),
 * dropped by the merger. */
uint64_t rec_merger_after_end(const struct rec_merger *m);

void rec_merger_free(struct rec_merger *m);

/* ---- the merge itself, without processes (tests drive it directly) ---- */

/* Attach to an existing raw_hdr (memory laid out by raw_layout) instead of
 * creating one; output files as in rec_opts. */
struct rec_merger *rec_merger_attach(void *hdr, const struct rec_opts *o);
/* One pass: attach new processes and rings, merge what is published.
 * Returns the number of records consumed. */
uint64_t rec_merger_pass(struct rec_merger *m);
/* Process slot `slot` is dead: drain it and finish its trace. */
void rec_merger_proc_dead(struct rec_merger *m, unsigned slot);
/* Hand back proc slots and rings left RAW_CLAIMED by a claimer that died
 * before making them LIVE: those whose claimer (pid, tid) is gone, and,
 * with tree_gone (no process that could claim is left), every one that
 * was CLAIMED without a claimer on two calls at least 10 ms apart.
 * rec_merger_run calls it on every check. */
void rec_merger_reclaim(struct rec_merger *m, bool tree_gone);
/* ns per TSC tick as 32.32 fixed point, instead of measuring it (tests
 * set 1 << 32: a tick is a ns). */
void rec_merger_set_tsc_scale(struct rec_merger *m, uint64_t mult);

#endif
