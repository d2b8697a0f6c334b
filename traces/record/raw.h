/*
 * The recorder's raw streams: the shared-memory contract between the
 * producer (preload.c, inside the traced program) and the merger
 * (sim/record_merge.c, inside `spanlab record`). docs/trace-format.md
 * "Recording" tells the same story for users.
 *
 * `spanlab record` creates one memfd, lays out a struct raw_hdr at its
 * start, and passes the descriptor to the program (SPANLAB_RECORD_SHM).
 * Each recorded process claims a proc slot (its metadata JSON goes into
 * that slot's meta area); each of its threads claims a ring on its first
 * event. A ring is a single-producer single-consumer byte stream of
 * fixed-layout records: the thread writes whole records and then publishes
 * them with one release store of `head`; the merger reads up to `head` and
 * hands space back with a release store of `tail`. Nothing on the
 * producer's path takes a lock, hashes an address or encodes a varint:
 * the merger maps addresses to ids and writes the .slt file. Because the
 * memfd belongs to `spanlab record`, every published record outlives the
 * traced program, however it dies.
 *
 * Order. Every record carries a per-process sequence number. While glibc
 * says the process is single-threaded (__libc_single_threaded) it is a
 * plain increment of a private counter; once a second thread exists it is
 * an atomic fetch-add. Allocations are recorded after the real call,
 * frees before it, and realloc in two records around the call (RAW_OUT
 * before, RAW_IN after), so a record that another thread's (or a signal
 * handler's) record depends on (the malloc before a cross-thread free, the
 * free before a reuse of the address) is published before the dependent
 * record is even written, and so has the smaller sequence number. The
 * merger reads all heads twice per pass and emits records in sequence
 * order, stopping at the first record only the second read showed (the
 * argument is in record_merge.c): the .slt order is then one global order
 * consistent with each thread's order and every address's history, and
 * the merger never waits for a thread.
 *
 * Time. A record carries a raw TSC value only when the thread's countdown
 * of RAW_STAMP_EVERY events runs out or the merger's `epoch` changed since
 * the thread's last stamp (the merger bumps it every pass while busy; an
 * odd epoch, set while the merger sleeps and before its first pass, asks
 * for a stamp on every event). Unstamped records take the thread's last stamped time. So times
 * are exact while events are sparse, and within RAW_STAMP_EVERY events or
 * one merger pass (a few tens of us) while they are dense.
 *
 * Record layout (64-bit words): word 0 is seq << 8 | op, where op's low
 * 7 bits are a raw_op and RAW_TIME marks a TSC word at the end; then the
 * op's arguments (raw_words). A record never wraps: a producer with fewer
 * than RAW_MAXREC words before the ring's end writes RAW_PAD and starts
 * again at the ring's start. Positions (head, tail) count words and never
 * wrap; the slot is position mod ring_words.
 */
#ifndef SPANLAB_RAW_H
#define SPANLAB_RAW_H

#include <stdint.h>

#define RAW_MAGIC 0x3157415254534cull	/* "LSTRAW1" little-endian */
#define RAW_VERSION 2		/* 2: realloc is always RAW_OUT and RAW_IN */
#define RAW_NPROCS 256			/* processes recorded at once (slots are reused) */
#define RAW_NRINGS 1024			/* threads recording at once (rings are reused) */
#define RAW_META_MAX 16384		/* metadata JSON of one process, NUL included */
/* 1 MiB per ring: 40k events, ~1 ms of the densest malloc loop, enough to
 * ride out the merger losing its core for a scheduler tick or two. The
 * memfd is sparse: only rings that threads use take memory. */
#define RAW_RING_WORDS (1u << 17)
#define RAW_MAXREC 6			/* longest record, in words */
#define RAW_STAMP_EVERY 16		/* events between TSC stamps while dense */

enum raw_op {
	RAW_MALLOC = 1,		/* addr (0: failed), size */
	RAW_CALLOC = 2,		/* addr (0: failed), size (n * m) */
	RAW_FREE = 3,		/* addr */
	RAW_ALIGNED = 4,	/* addr (0: failed), size, alignment as asked */
	RAW_OP5_GONE = 5,	/* was a realloc in one record: now malformed */
	RAW_OUT = 6,		/* old, size: before a realloc's call */
	RAW_IN = 7,		/* new (0: failed): after it (size != 0 only) */
	RAW_THREAD_START = 8,	/* (no arguments) the ring's first record */
	RAW_THREAD_EXIT = 9,
	RAW_END = 10,		/* the process called exit, _exit or _Exit */
	RAW_PAD = 11,		/* no seq: the rest of the ring is unused */
	RAW_NOPS
};
#define RAW_OPMASK 0x7f
#define RAW_TIME 0x80

/* Argument words per op (RAW_TIME adds one). */
static inline unsigned raw_args(unsigned op)
{
	static const uint8_t n[RAW_NOPS] = {
		[RAW_MALLOC] = 2, [RAW_CALLOC] = 2, [RAW_FREE] = 1, [RAW_ALIGNED] = 3,
		[RAW_OUT] = 2, [RAW_IN] = 1,
	};
	return op < RAW_NOPS ? n[op] : 0;
}

/* Slot and ring states. A slot or ring is claimed by the producer with a
 * CAS from FREE, made visible with a release store of LIVE, and handed
 * back to FREE by the merger only once its owner is gone and it is drained.
 * The merger clears pid (ostid) before it frees a slot (ring), so a CLAIMED
 * one with an id names its claimer; one whose claimer died before LIVE is
 * handed back by the merger too (sim/record_merge.c). */
enum { RAW_FREE_SLOT = 0, RAW_CLAIMED = 1, RAW_LIVE = 2, RAW_EXITED = 3 };

#define RAW_CACHELINE 64
_Static_assert(RAW_CACHELINE == 64, "the layout below assumes 64-byte lines");

struct raw_proc {
	uint32_t state;		/* RAW_FREE_SLOT, RAW_CLAIMED, RAW_LIVE */
	int32_t pid;
	uint32_t meta_len;	/* bytes of JSON in the slot's meta area */
	uint32_t root;		/* 1: the process `spanlab record` started (or its exec) */
	uint64_t start_tsc;	/* time 0 of this process's trace; orders exec'd images */
	uint32_t gen;		/* bumped on every claim: rings name (slot, gen) */
	uint8_t pad_[RAW_CACHELINE - 28];
};

struct raw_ring {
	/* Set by the claiming thread before state becomes RAW_LIVE. */
	uint32_t state;		/* RAW_FREE_SLOT, RAW_CLAIMED, RAW_LIVE, RAW_EXITED */
	uint32_t proc;		/* the owning proc slot */
	uint32_t proc_gen;	/* its gen when this ring was claimed */
	int32_t ostid;		/* the thread's kernel tid (gettid) */
	uint32_t waiting;	/* the producer sleeps on tail's low word (ring full) */
	uint32_t pad0_[RAW_CACHELINE / 4 - 5];
	/* Written by the producer on every record. */
	uint64_t head;		/* words published; never decreases */
	uint8_t pad1_[RAW_CACHELINE - 8];
	/* Written by the merger. */
	uint64_t tail;		/* words consumed; tail <= head; futex on its low word */
	uint8_t pad2_[RAW_CACHELINE - 8];
};

struct raw_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t ring_words;	/* a power of two >= 64 */
	int32_t merger_pid;	/* producers give up if it is gone */
	uint32_t children;	/* 1: forked children record too */
	uint64_t meta_off, data_off, total;	/* byte offsets into the memfd */
	uint8_t pad0_[RAW_CACHELINE - 48];
	/* The merger's wake-up word (futex) and whether it sleeps on it. */
	uint32_t bell;
	uint32_t sleeping;
	uint8_t pad1_[RAW_CACHELINE - 8];
	/* Bumped by 2 per merger pass; odd while the merger sleeps (and
	 * before its first pass). */
	uint32_t epoch;
	uint8_t pad2_[RAW_CACHELINE - 4];
	/* Bumped on every proc or ring claim and ring exit: the merger rescans. */
	uint32_t claims;
	uint8_t pad3_[RAW_CACHELINE - 4];
	struct raw_proc procs[RAW_NPROCS];
	struct raw_ring rings[RAW_NRINGS];
};

/* The memfd's layout for a ring size: offsets of the meta area and the
 * ring data, and the total size. */
static inline void raw_layout(uint32_t ring_words, uint64_t *meta_off, uint64_t *data_off,
			      uint64_t *total)
{
	uint64_t page = 4096;
	*meta_off = (sizeof(struct raw_hdr) + page - 1) / page * page;
	*data_off = *meta_off + (uint64_t)RAW_NPROCS * RAW_META_MAX;
	*total = *data_off + (uint64_t)RAW_NRINGS * ring_words * 8;
}

static inline uint64_t *raw_ring_data(struct raw_hdr *h, unsigned ring)
{
	return (uint64_t *)((char *)h + h->data_off) + (uint64_t)ring * h->ring_words;
}

static inline char *raw_meta(struct raw_hdr *h, unsigned proc)
{
	return (char *)h + h->meta_off + (uint64_t)proc * RAW_META_MAX;
}

#endif
