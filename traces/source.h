/*
 * Internals of the trace sources (source.c, slt_read.c, import_*.c); not
 * part of the library's interface (slt.h is).
 *
 * A source owns an input (a file, or the pipe from a `gzip -dc` child), a
 * window buffer over it, the state of one decoder, and, for the address
 * based formats, the address -> id map and the consistency report. Events
 * an importer produces for one input line (a synthesized free before a
 * double allocation, then the allocation) wait in a small queue.
 */
#ifndef SPANLAB_SOURCE_H
#define SPANLAB_SOURCE_H

#include "slt.h"

#include <sys/types.h>

#define SRC_MAX_LINE (1u << 20)	/* a longer text line is malformed */
#define VG_MAX_PENDING 64		/* valgrind calls awaiting their results */
#define MT_LATE_SLOTS 64		/* mtrace frees that may come late */
#define SRC_QUEUE 64			/* events queued from one input line */

struct slt_source {
	char *path;		/* a copy: any length the OS takes */
	char err[768];
	enum slt_format fmt;
	bool gzip, strict, failed;
	bool oom;		/* the error is memory running out, not the input */
	int fd;
	pid_t child;		/* the gzip -dc process, or 0 */
	uint8_t *buf;		/* window: bytes [base, base + end) of the input */
	size_t cap, pos, end;
	uint64_t base;
	bool eof;
	int (*next)(struct slt_source *s, struct slt_event *ev);

	/* text formats */
	uint64_t lineno;

	/* .slt */
	char *meta;
	uint16_t version;	/* 1: END without lost_results */
	uint32_t tick_ns;
	uint32_t cur_tid;
	uint64_t cur_tick, prev_id, events;
	uint64_t size_cache[SLT_SIZE_SLOTS];
	struct slt_ids ids;
	bool complete, counts_known;
	uint64_t known_events, known_ids;
	uint64_t partial_bytes;	/* cut short inside a record: its bytes, dropped */

	/* importers */
	struct slt_idmap map;
	struct slt_report report;
	struct slt_event queue[SRC_QUEUE];	/* an input line's events (valgrind: up to 16 calls) */
	int qhead, qlen;
	uint64_t ts_ns;		/* importers with timestamps (valgrind) */
	uint64_t pend_old;	/* mtrace: the '<' half of a realloc */
	bool pend_realloc;
	struct mt_late {	/* mtrace: addresses whose old object's '-' may come late */
		uint64_t key, lineno;
	} mt_late[MT_LATE_SLOTS];
	unsigned mt_nlate;
	/* valgrind: calls whose " = result" has not come yet (after a nested
	 * call, or another thread's calls), innermost last; the traced PID */
	struct vg_call {
		uint8_t kind;
		bool freed;	/* realloc(p, 0): its own free(p) came */
		bool early;	/* realloc applied before its result: id is the object's */
		uint64_t a, b, al, lineno, id;
	} vg_pend[VG_MAX_PENDING];
	unsigned vg_npend;
	uint64_t vg_pid;
	int8_t vg_null_nested;	/* realloc(NULL, n) printed with its malloc(n): 1, 0, -1 unknown */
	bool vg_calls;		/* a call or result line of the traced process came */
};

/* One-line error "PATH: line N: ..." (or byte N); returns -1. */
int src_fail_line(struct slt_source *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int src_fail_byte(struct slt_source *s, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "PATH: byte N: out of memory" (or line N), marked as a failed run, not
 * bad input (slt_source_oom); returns -1. */
int src_oom_byte(struct slt_source *s, uint64_t off);
int src_oom_line(struct slt_source *s);

/* Make at least n bytes available at buf + pos (fewer only at end of
 * input). Returns the number available, or -1 on a read error. */
ssize_t src_fill(struct slt_source *s, size_t n);

/* The next line (NUL-terminated, newline and CR removed) in *line; 1, 0 at
 * end, -1 on error (too long, read error). Advances lineno. */
int src_line(struct slt_source *s, char **line);

/* Importer helpers: apply one input operation through the map, queueing the
 * resulting events. key 0 is NULL for the address formats. Return 0, or -1
 * when strict mode turns an inconsistency into an error. */
int imp_alloc(struct slt_source *s, enum slt_op op, uint64_t key, uint64_t size, uint64_t align,
	      uint32_t tid);
int imp_free(struct slt_source *s, uint64_t key, uint32_t tid);
/* A realloc applied before its new address is known (valgrind: its old
 * address was given out again before the log printed its result): the
 * event now; the object's id (UINT64_MAX: oldkey not live, nothing done).
 * imp_realloc_late maps the new address to id (the second half of every
 * realloc: a live object at newkey is freed first). */
uint64_t imp_realloc_early(struct slt_source *s, uint64_t oldkey, uint64_t size, uint32_t tid);
int imp_realloc_late(struct slt_source *s, uint64_t newkey, uint64_t id, uint32_t tid);
/* Is key the address of a live object? */
bool imp_live(struct slt_source *s, uint64_t key);
int imp_realloc(struct slt_source *s, uint64_t oldkey, uint64_t newkey, uint64_t size, uint32_t tid);
int imp_mark(struct slt_source *s, enum slt_op op, uint32_t tid);
/* Count an inconsistency (field index into struct slt_report order);
 * -1 in strict mode. */
int imp_count(struct slt_source *s, uint64_t *field, const char *what);
/* Pop a queued event: 1 or 0. */
int imp_pop(struct slt_source *s, struct slt_event *ev);

/* Parsers of unsigned numbers: hex with or without 0x, or decimal. Return
 * the end of the number or NULL if there is none (or it overflows). */
const char *parse_hex(const char *p, uint64_t *v);
const char *parse_dec(const char *p, uint64_t *v);

/* Per-format setup (after detection) and line predicates for detection. */
int slt_read_open(struct slt_source *s);
int text_open(struct slt_source *s);
int mtrace_open(struct slt_source *s);
int valgrind_open(struct slt_source *s);
int goalloc_open(struct slt_source *s);
bool text_line_like(const char *line);
bool mtrace_line_like(const char *line);
bool valgrind_line_like(const char *line);
bool goalloc_line_like(const char *line);

#endif
