/*
 * The spanlab trace library: the native .slt format, its streaming writer,
 * and one streaming trace-source interface over every format we read.
 *
 * .slt in one paragraph (docs/trace-format.md is the full specification):
 * a 20-byte header (magic "\x89SLT\r\n\x1a\n", u16 version, u16 flags,
 * u32 tick_ns, u32 metadata length) and the recording's metadata as JSON,
 * then records. A record starts with one byte: the opcode in the low
 * nibble, an argument in the high nibble (a size-cache slot, a small id
 * delta or a small tick delta; 15 means "a varint follows"). Integers are
 * LEB128 varints. Object ids are implicit for new objects: every writer and
 * reader runs the same id rule (SLT_IDS below), so an allocation record
 * carries only its size. Threads and time are state changes (SWITCH, TICK)
 * written only when they change. An END record with a 12-byte footer closes
 * a complete trace and carries the counts and the recorder's consistency
 * report; a trace without it (a program killed mid-run) is still read up to
 * its last whole record and flagged incomplete.
 *
 * The id rule (SLT_IDS): a new object takes the most recently freed id that
 * is free again (a LIFO stack), else the next never-used id (0, 1, 2, ...).
 * realloc keeps its object's id. So replay indexes an array of max_ids
 * slots, and a reader needs memory for the live objects only.
 *
 * Trace sources (slt_open / slt_next): .slt, the plain text form, glibc
 * mtrace, valgrind --trace-malloc=yes and Go GODEBUG=allocfreetrace=1, any
 * of them gzip-compressed (read through a `gzip -dc` child). Foreign
 * formats name objects by address; importers map addresses to ids with the
 * same rule (slt_idmap), and count what does not add up in a consistency
 * report (struct slt_report). Errors are one line naming the file and the
 * byte offset or line.
 */
#ifndef SPANLAB_SLT_H
#define SPANLAB_SLT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SLT_MAGIC "\x89SLT\r\n\x1a\n"
#define SLT_MAGIC_LEN 8
#define SLT_FOOTER_MAGIC "SLTEND\r\n"
#define SLT_VERSION 2			/* version 1 is read too (docs/trace-format.md) */
#define SLT_HEADER_LEN 20		/* magic, version, flags, tick_ns, meta_len */
#define SLT_FOOTER_LEN 12		/* u32 END record length, footer magic */
#define SLT_MAX_META (1u << 20)		/* metadata JSON larger than 1 MiB is corrupt */
#define SLT_MAX_ALIGN_LOG2 40		/* 1 TiB: larger alignments are corrupt */
#define SLT_MAX_TID (1u << 24)		/* thread ids are dense: more is corrupt */
#define SLT_DEFAULT_TICK_NS 1000	/* 1 us: see docs/trace-format.md "Time" */

/* Trace events, as every source delivers them. */
enum slt_op {
	SLT_MALLOC = 0,
	SLT_CALLOC = 1,		/* size is the product n*m (no overflow: it failed) */
	SLT_REALLOC = 2,	/* old_id == id: realloc keeps its object's id */
	SLT_FREE = 3,
	SLT_ALIGNED = 4,	/* memalign, posix_memalign, aligned_alloc, valloc, pvalloc */
	SLT_GC = 5,		/* a GC marker (Go's tracegc) */
	SLT_THREAD_START = 6,
	SLT_THREAD_EXIT = 7,
	SLT_NOPS
};

/* Record opcodes on disk (low nibble of a record's first byte). The event
 * opcodes equal enum slt_op for 0..5; 6 carries thread start/exit in its
 * nibble; 7..9 are state and framing records. 10..15 are invalid. */
enum slt_opcode {
	SLT_OC_MALLOC = 0, SLT_OC_CALLOC = 1, SLT_OC_REALLOC = 2, SLT_OC_FREE = 3,
	SLT_OC_ALIGNED = 4, SLT_OC_GC = 5, SLT_OC_THREAD = 6,
	SLT_OC_SWITCH = 7,	/* varint tid: later events belong to it */
	SLT_OC_TICK = 8,	/* time advances by nibble+1 ticks, or a varint */
	SLT_OC_END = 9,		/* counts, report, footer */
	SLT_OC_NCODES
};

#define SLT_NIB_ESC 15		/* nibble value meaning "a varint follows" */
#define SLT_SIZE_SLOTS 15	/* size-cache slots, one per nibble value 0..14 */

struct slt_event {
	enum slt_op op;
	uint32_t tid;		/* dense thread id, 0 = the first thread */
	uint64_t id;		/* dense object id (allocs, realloc, free) */
	uint64_t old_id;	/* realloc: the id it replaces (== id) */
	uint64_t size;		/* requested bytes; calloc: n*m */
	uint64_t align;		/* SLT_ALIGNED: a power of two; else 0 */
	uint64_t ts_ns;		/* since the start of the trace; 0 if unknown */
};

/* The consistency report: counted, not fatal (unless strict). The same
 * list expands into the struct, the names and the END record. */
#define SLT_REPORT_FIELDS(X) \
	X(unknown_frees,   "frees of pointers never allocated (dropped)") \
	X(double_allocs,   "addresses allocated twice without a free (old object freed first)") \
	X(realloc_zero,    "realloc(p, 0) (recorded as free(p))") \
	X(realloc_unknown, "realloc of pointers never allocated (recorded as malloc)") \
	X(lost_alignment,  "aligned allocations whose alignment was not kept") \
	X(failed_allocs,   "allocations that returned NULL (not recorded; not an inconsistency)") \
	X(lost_results,    "calls and results the log could not pair (not recorded)")

struct slt_report {
#define X(name, doc) uint64_t name;
	SLT_REPORT_FIELDS(X)
#undef X
};
#define SLT_REPORT_NFIELDS 7
#define SLT_REPORT_NFIELDS_V1 6	/* version 1's END: without lost_results */
_Static_assert(sizeof(struct slt_report) == SLT_REPORT_NFIELDS * sizeof(uint64_t), "report fields in order");
/* The number of inconsistencies (every field but failed_allocs). */
uint64_t slt_report_inconsistencies(const struct slt_report *r);

/* ---- varints (LEB128) and zigzag ------------------------------------ */

static inline size_t slt_put_varint(uint8_t *p, uint64_t v)
{
	if (v < (1u << 14)) {	/* sizes and id deltas: 1 or 2 bytes, no branch */
		unsigned two = v >= 0x80;
		p[0] = (uint8_t)(v | two << 7);
		p[1] = (uint8_t)(v >> 7);
		return 1 + two;
	}
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static inline uint64_t slt_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t slt_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* The size-cache slot of a size: writer and reader must agree. A
 * multiplicative hash of size / 8, scaled to 0..14 by multiply and shift. */
static inline unsigned slt_size_slot(uint64_t size)
{
	uint64_t h = ((size >> 3) * 0x9E3779B97F4A7C15ull) >> 32;
	return (unsigned)((h * SLT_SIZE_SLOTS) >> 32);
}

/* ---- the id rule: a LIFO stack of free ids in mmap'd memory --------- */

/* Used by the writer, every reader and the recorder, so it never calls
 * malloc: its stack lives in an anonymous mapping that grows by mremap. */
struct slt_ids {
	uint64_t next;		/* ids below it have been used */
	uint64_t *free;		/* stack of free ids, most recent on top */
	uint64_t nfree, cap;	/* entries, capacity */
	uint64_t live;		/* ids in use */
	uint64_t *bits;		/* bit i set: id i is live */
	uint64_t nwords;	/* words mapped for bits */
};

void slt_ids_init(struct slt_ids *ids);
void slt_ids_destroy(struct slt_ids *ids);
/* Out of line: grow bits to cover ids->next, or the free stack by one.
 * Return 0 or -1 (memory ran out). */
int slt_ids_grow_bits(struct slt_ids *ids);
int slt_ids_grow_free(struct slt_ids *ids);

static inline bool slt_ids_live(const struct slt_ids *ids, uint64_t id)
{
	return id < ids->next && (ids->bits[id >> 6] >> (id & 63) & 1);
}

/* The id a new object gets. Returns UINT64_MAX if memory ran out. Inline:
 * every writer and reader event runs it. */
static inline uint64_t slt_ids_take(struct slt_ids *ids)
{
	uint64_t id;
	if (ids->nfree) {
		id = ids->free[--ids->nfree];
	} else {
		if ((ids->next >> 6) >= ids->nwords && slt_ids_grow_bits(ids) < 0)
			return UINT64_MAX;
		id = ids->next++;
	}
	ids->bits[id >> 6] |= 1ull << (id & 63);
	ids->live++;
	return id;
}

/* Release an id: 0, -1 if memory ran out, -2 if id is not live. */
static inline int slt_ids_put(struct slt_ids *ids, uint64_t id)
{
	if (!slt_ids_live(ids, id))
		return -2;
	if (ids->nfree == ids->cap && slt_ids_grow_free(ids) < 0)
		return -1;
	ids->bits[id >> 6] &= ~(1ull << (id & 63));
	ids->free[ids->nfree++] = id;
	ids->live--;
	return 0;
}
/* The id slt_ids_take would return now. */
static inline uint64_t slt_ids_peek(const struct slt_ids *ids)
{
	return ids->nfree ? ids->free[ids->nfree - 1] : ids->next;
}

/* ---- address -> id map (importers, recorder) ------------------------ */

/* An open-addressing hash table from keys (addresses) to ids, with linear
 * probing and backward-shift deletion (no tombstones), in mmap'd memory.
 * Each entry also keeps the object's size, so importers can compute
 * realloc and report figures. Memory is bounded by the live objects. */
struct slt_idmap_ent {
	uint64_t key;		/* key + 1; 0 = empty */
	uint64_t id;
};
struct slt_idmap {
	struct slt_idmap_ent *tab;
	uint64_t mask;		/* capacity - 1, capacity a power of two */
	uint64_t n;
	struct slt_ids ids;
};

int slt_idmap_init(struct slt_idmap *m);
void slt_idmap_destroy(struct slt_idmap *m);
/* Double the table (out of line). Returns 0 or -1. */
int slt_idmap_grow(struct slt_idmap *m);

/* Keys are below UINT64_MAX (the table stores key + 1, 0 is empty).
 * The map's operations are inline: the importers and the recorder's merger
 * run one or two per event. Addresses are 16-byte aligned and clustered:
 * mix before masking. */
static inline uint64_t slt_idmap_slot(const struct slt_idmap *m, uint64_t key)
{
	return ((key * 0x9E3779B97F4A7C15ull) >> 20) & m->mask;
}

/* Look key up: 1 and *id if present, 0 if not. */
static inline int slt_idmap_get(const struct slt_idmap *m, uint64_t key, uint64_t *id)
{
	uint64_t k = key + 1;
	for (uint64_t i = slt_idmap_slot(m, key);; i = (i + 1) & m->mask) {
		if (m->tab[i].key == k) {
			*id = m->tab[i].id;
			return 1;
		}
		if (!m->tab[i].key)
			return 0;
	}
}

/* Store k (key + 1) -> id in the first empty slot of its run. */
static inline void slt_idmap_insert_(struct slt_idmap *m, uint64_t k, uint64_t id)
{
	uint64_t i = slt_idmap_slot(m, k - 1);
	while (m->tab[i].key)
		i = (i + 1) & m->mask;
	m->tab[i].key = k;
	m->tab[i].id = id;
}

/* Insert key -> id (key must be absent). Returns -1 if memory ran out. */
static inline int slt_idmap_put(struct slt_idmap *m, uint64_t key, uint64_t id)
{
	if ((m->n + 1) * 4 > m->mask + 1 && slt_idmap_grow(m) < 0)
		return -1;
	slt_idmap_insert_(m, key + 1, id);
	m->n++;
	return 0;
}

/* Map key -> id whether or not key is present: 1 and the id it had in
 * *old if it was (replaced), 0 if not, -1 if memory ran out. One probe. */
static inline int slt_idmap_set(struct slt_idmap *m, uint64_t key, uint64_t id, uint64_t *old)
{
	uint64_t k = key + 1, i;
	for (i = slt_idmap_slot(m, key); m->tab[i].key; i = (i + 1) & m->mask) {
		if (m->tab[i].key == k) {
			*old = m->tab[i].id;
			m->tab[i].id = id;
			return 1;
		}
	}
	if ((m->n + 1) * 4 > m->mask + 1) {	/* grow first: the slot moves */
		if (slt_idmap_grow(m) < 0)
			return -1;
		slt_idmap_insert_(m, k, id);
	} else {
		m->tab[i].key = k;
		m->tab[i].id = id;
	}
	m->n++;
	return 0;
}

/* Remove key; 1 and *id if it was present. Backward-shift deletion: later
 * entries of the probe run move into the hole when their home slot does
 * not lie cyclically in (hole, j], so no tombstones accumulate. */
static inline int slt_idmap_del(struct slt_idmap *m, uint64_t key, uint64_t *id)
{
	uint64_t k = key + 1, hole;
	for (hole = slt_idmap_slot(m, key);; hole = (hole + 1) & m->mask) {
		if (m->tab[hole].key == k)
			break;
		if (!m->tab[hole].key)
			return 0;
	}
	*id = m->tab[hole].id;
	for (uint64_t j = (hole + 1) & m->mask; m->tab[j].key; j = (j + 1) & m->mask) {
		uint64_t home = slt_idmap_slot(m, m->tab[j].key - 1);
		bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
		if (stays)
			continue;
		m->tab[hole] = m->tab[j];
		hole = j;
	}
	m->tab[hole].key = 0;
	m->n--;
	return 1;
}

/* ---- the writer ------------------------------------------------------ */

/* Output goes through a sink so the recorder can write to a raw fd and the
 * CLI to a FILE. Returns 0 or -1 (errno set). */
typedef int (*slt_sink_fn)(void *ctx, const void *buf, size_t len);

struct slt_writer {
	slt_sink_fn sink;
	void *ctx;
	uint8_t buf[1 << 16];	/* encoded records not yet handed to the sink */
	size_t len;
	uint32_t tick_ns;
	uint32_t cur_tid;	/* thread of the last written event */
	uint64_t cur_tick;	/* time of the last written event, in ticks */
	uint64_t next_tick_ns;	/* (cur_tick + 1) * tick_ns */
	uint64_t prev_id;	/* id of the last event that had one */
	uint64_t size_cache[SLT_SIZE_SLOTS];
	struct slt_ids ids;
	uint64_t events, nthreads;
	struct slt_report report;	/* written into the END record */
	int err;		/* errno of the first failed sink call */
};

/* Start a trace: writes the header with meta_json (may be NULL: "{}").
 * tick_ns 0 means SLT_DEFAULT_TICK_NS. Returns 0 or -1. */
int slt_writer_init(struct slt_writer *w, slt_sink_fn sink, void *ctx,
		    uint32_t tick_ns, const char *meta_json);
/* Write an allocation (MALLOC, CALLOC, ALIGNED): returns its id (the id
 * rule assigns it), or UINT64_MAX if memory ran out. */
uint64_t slt_write_alloc(struct slt_writer *w, enum slt_op op, uint32_t tid,
			 uint64_t ts_ns, uint64_t size, uint64_t align);
/* realloc keeps id; free releases it. id must be live. Return 0 or -1. */
int slt_write_realloc(struct slt_writer *w, uint32_t tid, uint64_t ts_ns,
		      uint64_t id, uint64_t size);
int slt_write_free(struct slt_writer *w, uint32_t tid, uint64_t ts_ns, uint64_t id);
/* GC marker, thread start/exit. */
int slt_write_mark(struct slt_writer *w, enum slt_op op, uint32_t tid, uint64_t ts_ns);
/* Write any event as a reader delivered it (the id must be the one the id
 * rule gives; convert uses this). Returns 0 or -1 (EINVAL on a mismatch). */
int slt_write_event(struct slt_writer *w, const struct slt_event *ev);
/* Hand the buffered records to the sink (whole records only). */
int slt_writer_flush(struct slt_writer *w);
/* Write the END record and footer, flush, release memory. */
int slt_writer_finish(struct slt_writer *w);
/* Release memory without writing an END record (an abandoned trace). */
void slt_writer_discard(struct slt_writer *w);

/* A sink that writes to a stdio stream (ctx is the FILE *). */
int slt_sink_stdio(void *ctx, const void *buf, size_t len);
/* A sink that write()s to a file descriptor (ctx is (void *)(intptr_t)fd),
 * retrying short writes and EINTR. A write that fails part way is undone
 * (the file is cut back to where the call began): -1 and errno. */
int slt_sink_fd(void *ctx, const void *buf, size_t len);

/* Append s to out as a JSON string body (escaped, no quotes); returns the
 * length written or that would be written (like snprintf). */
size_t slt_json_escape(char *out, size_t cap, const char *s);

/* The plain text form (docs/trace-format.md): a header line (and the
 * metadata as a comment), then one line per event; last_ts starts at 0. */
int slt_text_header(FILE *f, const char *meta_json);
int slt_text_write(FILE *f, const struct slt_event *ev, uint64_t *last_ts);

/* ---- trace sources ---------------------------------------------------- */

enum slt_format {
	SLT_FMT_AUTO = 0,
	SLT_FMT_SLT,
	SLT_FMT_TEXT,
	SLT_FMT_MTRACE,
	SLT_FMT_VALGRIND,
	SLT_FMT_GOALLOC,
	SLT_FMT_NFORMATS
};

const char *slt_format_name(enum slt_format f);
/* Parse a --from name; SLT_FMT_AUTO (and false) if unknown. */
bool slt_format_parse(const char *name, enum slt_format *out);

struct slt_open_opts {
	enum slt_format format;	/* SLT_FMT_AUTO: detect from content */
	bool strict;		/* any inconsistency is an error */
};

struct slt_source;

/* Can path be read only once (a pipe, a FIFO, a character device): not a
 * regular file or a folder, or nothing stat() can see? Such a trace is not
 * opened twice (no first pass, no SHA-256 of its bytes). */
bool slt_path_streams(const char *path);

/* Open a trace. NULL on failure with a one-line message naming the file
 * in err; errno is then ENOMEM if memory ran out (a failed run, exit 1),
 * else EINVAL (input that cannot be read as a trace, exit 2). */
struct slt_source *slt_open(const char *path, const struct slt_open_opts *opts,
			    char *err, size_t errlen);
/* The next event: 1 delivered, 0 end of trace, -1 error (slt_error). */
int slt_next(struct slt_source *s, struct slt_event *ev);
/* The one-line error ("FILE: byte N: what" / "FILE: line N: what"). */
const char *slt_error(const struct slt_source *s);
/* After slt_next returned -1: whether memory ran out ("FILE: line N: out
 * of memory", a failed run, exit 1) rather than the input being bad. */
bool slt_source_oom(const struct slt_source *s);
enum slt_format slt_source_format(const struct slt_source *s);
bool slt_source_gzip(const struct slt_source *s);
/* Metadata JSON of a .slt ("{}" for other formats); tick_ns (0 if none). */
const char *slt_source_meta(const struct slt_source *s);
uint32_t slt_source_tick_ns(const struct slt_source *s);
/* Counts known before reading (a .slt's END record, read through its
 * footer when the file is seekable): true and the values, else false. */
bool slt_source_counts(const struct slt_source *s, uint64_t *events, uint64_t *max_ids);
/* After slt_next returned 0: whether the trace was complete (a .slt with
 * its END record; text formats always are). */
bool slt_source_complete(const struct slt_source *s);
/* After slt_next returned 0 on a .slt cut short: the bytes at its end that
 * began a record but do not hold it whole (a writer killed inside a write),
 * dropped; 0 when it ends at a record boundary. */
uint64_t slt_source_partial_bytes(const struct slt_source *s);
/* The consistency report so far (importers; a .slt's END record). */
const struct slt_report *slt_source_report(const struct slt_source *s);
/* Bytes of input consumed so far (decompressed for gzip input). */
uint64_t slt_source_bytes(const struct slt_source *s);
/* Ids used so far (max id + 1). */
uint64_t slt_source_max_ids(const struct slt_source *s);
void slt_close(struct slt_source *s);

#endif
