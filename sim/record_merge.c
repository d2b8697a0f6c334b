/*
 * The merger: reads the raw rings the recorder's threads write
 * (traces/record/raw.h) and writes one .slt trace per recorded process,
 * while the program runs, on the other core. Everything the recorder's hot
 * path leaves out happens here: the address -> id map (slt_idmap), the id
 * rule and the varint encoding (slt_writer), TSC -> ns, the consistency
 * report, thread ids.
 *
 * A pass: (1) read every ring's head (h1); (2) attach new processes and
 * rings if a claim happened; (3) read every head again (h2); (4) per
 * process, emit records in sequence order among all records below h2,
 * stopping at the first one that lies at or past its ring's h1. Why that
 * is enough: a record r that another record d depends on (same address,
 * other thread) was published before d was written, and has the smaller
 * number (raw.h "Order"). If d was below h1, r was published before step
 * 1 read d's ring, hence before step 3 read r's ring: r is below h2, and
 * the sequence order puts it first. A record at or past h1 may depend on
 * one not yet seen, so the pass stops there and the next one goes on. No
 * pass waits for a thread, and a thread that took a number and was
 * descheduled before publishing only has its record emitted later than its
 * number says (which the dependency argument allows).
 *
 * A process is finished when it is gone (the root: wait4; others: a
 * pidfd): its rings are drained, and the trace gets its END record if the
 * process wrote RAW_END (exit, _exit, _Exit), else it stays cut short. A
 * new image of the same pid (exec) replaces the old trace. Records a
 * process wrote after RAW_END (other threads still running during exit)
 * are dropped. A trace that cannot go on (malformed ring data, its file
 * cannot be written) is marked broken and left cut short, but its rings
 * are still drained and discarded: a broken trace never blocks the program.
 *
 * Every 100 ms the buffered records go to the files, so a trace on disk
 * lags its program by at most that (and stays readable to its last whole
 * record) even if spanlab record itself is killed. A write that fails (the
 * disk is full, the file size limit is reached) is undone back to the last
 * whole buffer (slt_sink_fd), so the file is cut short, not malformed; the
 * trace stops there and its result says why and how many events the file
 * holds.
 *
 * Claims whose claimer died: a producer claims a slot or ring with a CAS
 * and writes its pid (tid) after it, so a process killed in between leaves
 * it RAW_CLAIMED for good, and a CLAIMED slot would keep the merger
 * waiting forever. rec_merger_reclaim hands such claims back: the merger
 * clears the id whenever it frees a slot or ring, so a CLAIMED one with an
 * id names its claimer, and is freed once that is gone; one without an id
 * only once no process that could claim is left (rec_merger_run: the root
 * has exited, and with --children no child is left either; spanlab record
 * is a child subreaper, so every orphaned descendant is its child) and it
 * was seen so on two checks 10 ms apart.
 *
 * Sleeping: while records flow the merger passes without pause (epoch + 2
 * per pass, so producers re-stamp time); with few records it naps 200 us;
 * after 5 ms without records it sets the epoch odd (every event stamped)
 * and sleeps on the bell futex until a producer rings (a ring a quarter
 * full), a child exits (SIGCHLD) or 50 ms pass. The epoch starts odd too:
 * before the first pass the merger sleeps over its first millisecond to
 * calibrate the TSC, and the program's first events are stamped each.
 */
#define _GNU_SOURCE
#include "record_merge.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "record/raw.h"
#include "slt_enc.h"

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#define NAP_NS 200000ull		/* between passes while records trickle */
#define BUSY_RECORDS 256		/* a pass with this many records: no nap */
#define IDLE_NS 5000000ull		/* without records this long: deep sleep */
#define SLEEP_NS 50000000ull		/* the deep sleep's timeout */
#define CHECK_NS 10000000ull		/* look for dead processes and threads */
#define RELEASE_EVERY 2048		/* records between tail stores within a pass */
#define FLUSH_NS 100000000ull		/* write buffered records to the files this often */
#define PEND_MAX 8			/* reallocs nested in one ring's realloc gaps */

struct mring {
	struct raw_ring *ctl;
	const uint64_t *data;
	unsigned idx;
	uint64_t tail;		/* consumed, published to ctl->tail after each pass */
	uint64_t h1, h2;	/* heads of this pass's two reads */
	uint32_t tid;		/* dense thread id in the trace */
	bool started;		/* THREAD_START seen */
	bool exited;		/* the producer marked the ring RAW_EXITED */
	pid_t ostid;
	uint64_t t_ns;		/* the thread's last stamped time */
	/* Reallocs between RAW_OUT and RAW_IN, innermost last: a
	 * signal handler that reallocs between a realloc's two records
	 * writes its pair into the same ring, nested inside. */
	struct pend {
		bool known;
		uint64_t id, addr, size;
	} pend[PEND_MAX];
	unsigned npend;
	unsigned pend_over;	/* nested deeper than PEND_MAX: pairs not recorded */
};

/* A trace's file: what of it is written (whole writer buffers only). */
struct sink {
	int fd;
	const struct slt_writer *w;
	uint64_t bytes, events;
	int err;		/* errno of the write that failed */
};

struct mproc {
	unsigned slot;
	uint32_t gen;
	pid_t pid;
	bool root;
	int pidfd;		/* -1 for the root (wait4) */
	bool dead;
	bool broken;		/* corrupt ring data: the trace stops there */
	struct sink sink;
	char path[4096];
	struct slt_writer *w;
	struct slt_idmap map;
	struct mring *rings;
	size_t nrings, cap;
	uint64_t start_tsc;
	uint32_t nthreads;
	uint64_t end_seq;	/* RAW_END's number; UINT64_MAX: none yet */
};

struct rec_merger {
	struct raw_hdr *hdr;
	bool own_hdr;		/* created (and unmapped) by us */
	int shm_fd;
	struct rec_opts opts;
	char out[4096];
	uint32_t claims;	/* hdr->claims at the last scan */
	bool rescan;		/* the last scan left something to attach */
	struct mproc *procs[RAW_NPROCS];	/* by slot */
	int ring_proc[RAW_NRINGS];		/* slot owning an attached ring, -1 none */
	uint64_t mult;		/* ns per TSC tick, 32.32 fixed point */
	uint64_t cal_tsc, cal_ns, cal_span;	/* calibration anchor and last span */
	struct rec_result *results;
	size_t nresults, rcap;
	uint64_t after_end;	/* records numbered after their process's END */
	bool fixed_scale;
	int out_fd;		/* the root's file, opened by the caller; -1: used or none */
	/* When a slot or ring was first seen CLAIMED without a claimer id
	 * (0: it was not, at the last check). */
	uint64_t proc_seen[RAW_NPROCS], ring_seen[RAW_NRINGS];
};

static volatile sig_atomic_t g_child_exited;

static void on_sigchld(int sig)
{
	(void)sig;
	g_child_exited = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* ---- TSC -> ns ------------------------------------------------------- */

/* The scale is measured against CLOCK_MONOTONIC from the merger's start
 * and refined whenever the span doubles, so its error shrinks as the run
 * goes on (the first estimate spans at least 1 ms). */
static void calibrate(struct rec_merger *m)
{
	if (m->fixed_scale)
		return;
	uint64_t ns = mono_ns(), tsc = __rdtsc(), span = ns - m->cal_ns;
	if (span < 1000000 || span < 2 * m->cal_span || tsc <= m->cal_tsc)
		return;
	m->mult = (uint64_t)(((unsigned __int128)span << 32) / (tsc - m->cal_tsc));
	m->cal_span = span;
}

static uint64_t tsc_ns(const struct rec_merger *m, const struct mproc *p, uint64_t tsc)
{
	if (tsc <= p->start_tsc)
		return 0;
	return (uint64_t)(((unsigned __int128)(tsc - p->start_tsc) * m->mult) >> 32);
}

/* ---- output ----------------------------------------------------------- */

/* The writer hands whole records: after each write the file holds
 * w->events events. A failed write leaves the file as it was before it. */
static int sink_write(void *ctx, const void *buf, size_t len)
{
	struct sink *s = ctx;
	if (slt_sink_fd((void *)(intptr_t)s->fd, buf, len) < 0) {
		s->err = errno ? errno : EIO;
		return -1;
	}
	s->bytes += len;
	s->events = s->w ? s->w->events : 0;
	return 0;
}

/* The file of a non-root process: OUT "x.slt" -> "x.PID.slt" (then
 * "x.PID-K.slt" if taken). */
static int open_child_file(const struct rec_merger *m, pid_t pid, char *path, size_t cap)
{
	char base[4096];
	size_t n = strlen(m->out);
	if (n >= sizeof base - 1)
		return -1;
	memcpy(base, m->out, n + 1);
	if (n > 4 && !strcmp(base + n - 4, ".slt"))
		base[n - 4] = 0;
	for (int k = 0; k < 10; k++) {
		int len = k ? snprintf(path, cap, "%s.%d-%d.slt", base, (int)pid, k)
			    : snprintf(path, cap, "%s.%d.slt", base, (int)pid);
		if (len < 0 || (size_t)len >= cap) {
			errno = ENAMETOOLONG;
			return -1;
		}
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

static void add_result(struct rec_merger *m, const struct mproc *p, bool complete)
{
	if (m->nresults == m->rcap) {
		size_t ncap = m->rcap ? 2 * m->rcap : 8;
		struct rec_result *r = realloc(m->results, ncap * sizeof *r);
		if (!r)
			return;
		m->results = r;
		m->rcap = ncap;
	}
	struct rec_result *r = &m->results[m->nresults++];
	snprintf(r->path, sizeof r->path, "%s", p->path);
	r->pid = p->pid;
	r->root = p->root;
	r->complete = complete;
	r->err = p->sink.err;
	r->events = p->sink.events;
	r->threads = p->nthreads;
	r->bytes = p->sink.bytes;
}

/* ---- processes and rings ---------------------------------------------- */

/* Hand a ring back to the producers, its claimer's tid cleared first (a
 * CLAIMED ring with a tid names its claimer: rec_merger_reclaim). */
static void free_ring(struct rec_merger *m, unsigned idx)
{
	struct raw_ring *c = &m->hdr->rings[idx];
	m->ring_proc[idx] = -1;
	m->ring_seen[idx] = 0;
	__atomic_store_n(&c->ostid, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->state, RAW_FREE_SLOT, __ATOMIC_RELEASE);
}

static void release_rings(struct rec_merger *m, struct mproc *p)
{
	for (size_t i = 0; i < p->nrings; i++) {
		struct mring *r = &p->rings[i];
		uint64_t head = __atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE);
		__atomic_store_n(&r->ctl->tail, head, __ATOMIC_RELEASE);
		free_ring(m, r->idx);
	}
	p->nrings = 0;
}

/* Forget a process: its rings and slot go back to the producers. */
static void drop_proc(struct rec_merger *m, struct mproc *p)
{
	release_rings(m, p);
	if (p->pidfd >= 0)
		close(p->pidfd);
	slt_idmap_destroy(&p->map);
	free(p->w);
	free(p->rings);
	m->procs[p->slot] = NULL;
	m->proc_seen[p->slot] = 0;
	__atomic_store_n(&m->hdr->procs[p->slot].pid, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&m->hdr->procs[p->slot].state, RAW_FREE_SLOT, __ATOMIC_RELEASE);
	free(p);
}

/* An older image of p's pid was replaced by exec: its trace is abandoned
 * and p takes over its file, rewritten from the start if it is a regular
 * file (a device or a pipe just receives p's trace after it). */
static void take_over(struct rec_merger *m, struct mproc *p)
{
	for (unsigned i = 0; i < RAW_NPROCS; i++) {
		struct mproc *o = m->procs[i];
		if (!o || o->pid != p->pid || o->dead)
			continue;
		p->sink.fd = o->sink.fd;
		p->sink.err = o->sink.fd < 0 ? (o->sink.err ? o->sink.err : EBADF) : 0;
		snprintf(p->path, sizeof p->path, "%s", o->path);
		o->sink.fd = -1;
		slt_writer_discard(o->w);
		drop_proc(m, o);
		struct stat st;
		if (p->sink.fd >= 0 && fstat(p->sink.fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    (ftruncate(p->sink.fd, 0) < 0 || lseek(p->sink.fd, 0, SEEK_SET) < 0)) {
			p->sink.err = errno;
			close(p->sink.fd);
			p->sink.fd = -1;
		}
		return;
	}
}

/* The file of a new process: the root's (the caller's descriptor, else
 * OUT), or a child's own. */
static int open_file(struct rec_merger *m, struct mproc *p)
{
	if (!p->root)
		return open_child_file(m, p->pid, p->path, sizeof p->path);
	snprintf(p->path, sizeof p->path, "%s", m->out);
	if (m->out_fd >= 0) {
		int fd = m->out_fd;
		m->out_fd = -1;
		return fd;
	}
	return open(p->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/* The header, then, for the root's temporary file, its rename over OUT:
 * OUT is replaced only by a trace that has begun. 0, or -1 and errno. */
static int start_trace(struct rec_merger *m, struct mproc *p, const char *meta)
{
	p->w = malloc(sizeof *p->w);
	p->sink.w = p->w;
	if (!p->w || slt_idmap_init(&p->map) < 0 ||
	    slt_writer_init(p->w, sink_write, &p->sink, m->opts.tick_ns, meta) < 0)
		return -1;
	const char *tmp = m->opts.out_tmp;
	if (p->root && tmp) {
		m->opts.out_tmp = NULL;
		if (rename(tmp, m->opts.out_dest) < 0) {
			int e = errno;
			unlink(tmp);
			errno = e;
			return -1;
		}
	}
	return 0;
}

/* A new proc slot: open its output (reusing the file of an image it
 * replaces) and write the header. A trace that cannot be written is
 * broken from the start; its result says why. */
static void attach_proc(struct rec_merger *m, unsigned slot)
{
	struct raw_proc *s = &m->hdr->procs[slot];
	struct mproc *p = calloc(1, sizeof *p);
	if (!p)
		return;
	p->slot = slot;
	p->gen = s->gen;
	p->pid = s->pid;
	p->root = s->root;
	p->start_tsc = s->start_tsc;
	p->pidfd = -1;
	p->sink.fd = -1;
	p->end_seq = UINT64_MAX;
	take_over(m, p);
	if (p->sink.fd < 0 && !p->path[0] && (p->sink.fd = open_file(m, p)) < 0)
		p->sink.err = errno;
	if (!p->root && m->own_hdr)
		p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	char meta[RAW_META_MAX];
	uint32_t len = s->meta_len < RAW_META_MAX ? s->meta_len : RAW_META_MAX - 1;
	memcpy(meta, raw_meta(m->hdr, slot), len);
	meta[len] = 0;
	if (p->sink.fd < 0 || start_trace(m, p, meta) < 0) {
		if (!p->sink.err)
			p->sink.err = errno ? errno : EIO;
		if (p->sink.fd >= 0)
			close(p->sink.fd);
		p->sink.fd = -1;
		p->sink.w = NULL;
		free(p->w);
		p->w = NULL;
		p->broken = true;
	}
	if (!p->w) {
		p->w = calloc(1, sizeof *p->w);	/* counts stay readable */
		if (!p->w) {
			free(p);
			return;
		}
	}
	m->procs[slot] = p;
}

static void attach_new_procs(struct rec_merger *m);
static void broken_ring(struct rec_merger *m, unsigned idx);

static void attach_ring(struct rec_merger *m, unsigned idx)
{
	struct raw_ring *c = &m->hdr->rings[idx];
	if (c->proc >= RAW_NPROCS) {
		broken_ring(m, idx);
		return;
	}
	struct raw_proc *slot = &m->hdr->procs[c->proc];
	struct mproc *p = m->procs[c->proc];
	if (!p || p->gen != c->proc_gen) {
		/* The ring is LIVE, so its process's slot was LIVE before it
		 * (release/acquire): if the slot is still LIVE with the ring's
		 * gen, the process is live and claimed its slot after this scan
		 * attached slots; attach it now. Otherwise the image is gone
		 * (replaced by exec, or finished before its ring was seen, or
		 * its slot was reused): nobody writes the ring any more. */
		if (__atomic_load_n(&slot->state, __ATOMIC_ACQUIRE) == RAW_LIVE &&
		    slot->gen == c->proc_gen) {
			attach_new_procs(m);
			p = m->procs[c->proc];
		}
		if (!p || p->gen != c->proc_gen) {
			if (!p && __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE) == RAW_LIVE &&
			    slot->gen == c->proc_gen) {
				m->rescan = true;	/* out of memory: try again */
				return;
			}
			broken_ring(m, idx);
			return;
		}
	}
	if (p->nrings == p->cap) {
		size_t ncap = p->cap ? 2 * p->cap : 4;
		struct mring *r = realloc(p->rings, ncap * sizeof *r);
		if (!r)
			return;
		p->rings = r;
		p->cap = ncap;
	}
	struct mring *r = &p->rings[p->nrings++];
	memset(r, 0, sizeof *r);
	r->ctl = c;
	r->data = raw_ring_data(m->hdr, idx);
	r->idx = idx;
	r->tail = __atomic_load_n(&c->tail, __ATOMIC_ACQUIRE);
	r->h1 = r->h2 = r->tail;	/* nothing of it was seen in pass 1 */
	r->ostid = c->ostid;
	m->ring_proc[idx] = (int)p->slot;
}

/* A ring nobody writes any more goes back to the producers unread. */
static void broken_ring(struct rec_merger *m, unsigned idx)
{
	struct raw_ring *c = &m->hdr->rings[idx];
	__atomic_store_n(&c->tail, __atomic_load_n(&c->head, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
	free_ring(m, idx);
}

/* Attach every LIVE slot not attached yet, oldest first, so that a newer
 * image of a pid replaces an older one. */
static void attach_new_procs(struct rec_merger *m)
{
	for (;;) {
		int pick = -1;
		for (unsigned i = 0; i < RAW_NPROCS; i++)
			if (!m->procs[i] &&
			    __atomic_load_n(&m->hdr->procs[i].state, __ATOMIC_ACQUIRE) == RAW_LIVE &&
			    (pick < 0 || m->hdr->procs[i].start_tsc < m->hdr->procs[pick].start_tsc))
				pick = (int)i;
		if (pick < 0)
			break;
		attach_proc(m, (unsigned)pick);
		if (!m->procs[pick]) {
			m->rescan = true;	/* out of memory: try again */
			break;
		}
	}
}

/* New claims: attach live proc slots and rings; note exited rings. */
static void scan_claims(struct rec_merger *m)
{
	uint32_t c = __atomic_load_n(&m->hdr->claims, __ATOMIC_ACQUIRE);
	if (c == m->claims && !m->rescan)
		return;
	m->claims = c;
	m->rescan = false;
	attach_new_procs(m);
	for (unsigned i = 0; i < RAW_NRINGS; i++) {
		uint32_t st = __atomic_load_n(&m->hdr->rings[i].state, __ATOMIC_ACQUIRE);
		if (m->ring_proc[i] < 0 && (st == RAW_LIVE || st == RAW_EXITED))
			attach_ring(m, i);
		if (st == RAW_EXITED && m->ring_proc[i] >= 0) {
			struct mproc *p = m->procs[m->ring_proc[i]];
			for (size_t k = 0; p && k < p->nrings; k++)
				if (p->rings[k].idx == i)
					p->rings[k].exited = true;
		}
	}
}

/* ---- the records --------------------------------------------------------- */

static void broken(struct mproc *p, const char *what)
{
	if (!p->broken)
		fprintf(stderr, "spanlab record: %s: %s; the trace stops here\n", p->path, what);
	p->broken = true;
}

static uint64_t pow2_align(struct mproc *p, uint64_t al)
{
	if (al <= 1)
		return 1;
	uint64_t p2 = al > (1ull << 63) ? 1ull << 63 : 1ull << (64 - __builtin_clzll(al - 1));
	if (p2 > (1ull << SLT_MAX_ALIGN_LOG2))
		p2 = 1ull << SLT_MAX_ALIGN_LOG2;
	if (p2 != al)
		p->w->report.lost_alignment++;
	return p2;
}

/* A new object at addr (0: the call failed). */
static inline __attribute__((always_inline)) void emit_alloc(struct mproc *p, struct mring *r, enum slt_op op, uint64_t addr,
		       uint64_t size, uint64_t align, uint64_t ts)
{
	struct slt_writer *w = p->w;
	uint64_t id;
	if (!addr) {
		w->report.failed_allocs++;
		return;
	}
	/* The id the writer will give it: map first, one probe. */
	uint64_t next = slt_ids_peek(&w->ids);
	int had = slt_idmap_set(&p->map, addr, next, &id);
	if (UNLIKELY(had)) {
		if (had < 0) {
			broken(p, "out of memory");
			return;
		}
		w->report.double_allocs++;	/* the old object goes first */
		if (slt_enc_free(w, r->tid, ts, id) < 0) {
			broken(p, "out of memory");
			return;
		}
		next = slt_ids_peek(&w->ids);	/* the id just freed */
		slt_idmap_set(&p->map, addr, next, &id);
	}
	if (UNLIKELY(slt_enc_alloc(w, op, r->tid, ts, size, align) != next))
		broken(p, "out of memory");
}

static inline __attribute__((always_inline)) void emit_free(struct mproc *p, struct mring *r, uint64_t addr, uint64_t ts)
{
	uint64_t id;
	if (slt_idmap_del(&p->map, addr, &id)) {
		if (UNLIKELY(slt_enc_free(p->w, r->tid, ts, id) < 0))
			broken(p, "out of memory");
	} else
		p->w->report.unknown_frees++;
}

/* The object id (known) moves to addr q with size n. */
static void emit_moved(struct mproc *p, struct mring *r, bool known, uint64_t id, uint64_t q,
		       uint64_t n, uint64_t ts)
{
	if (!known) {
		p->w->report.realloc_unknown++;
		emit_alloc(p, r, SLT_MALLOC, q, n, 0, ts);
		return;
	}
	uint64_t other;
	if (slt_idmap_del(&p->map, q, &other)) {
		p->w->report.double_allocs++;
		if (slt_enc_free(p->w, r->tid, ts, other) < 0)
			broken(p, "out of memory");
	}
	slt_enc_realloc(p->w, r->tid, ts, id, n);
	if (slt_idmap_put(&p->map, q, id) < 0)
		broken(p, "out of memory");
}

static inline __attribute__((always_inline)) void emit(struct rec_merger *m, struct mproc *p, struct mring *r, const uint64_t *rec)
{
	unsigned op = rec[0] & RAW_OPMASK;
	if (rec[0] & RAW_TIME)
		r->t_ns = tsc_ns(m, p, rec[1 + raw_args(op)]);
	uint64_t ts = r->t_ns;
	struct slt_writer *w = p->w;
	switch (op) {
	case RAW_MALLOC: emit_alloc(p, r, SLT_MALLOC, rec[1], rec[2], 0, ts); break;
	case RAW_CALLOC: emit_alloc(p, r, SLT_CALLOC, rec[1], rec[2], 0, ts); break;
	case RAW_ALIGNED:
		emit_alloc(p, r, SLT_ALIGNED, rec[1], rec[2], pow2_align(p, rec[3]), ts);
		break;
	case RAW_FREE: emit_free(p, r, rec[1], ts); break;
	case RAW_OUT: {
		if (!rec[2]) {
			w->report.realloc_zero++;
			emit_free(p, r, rec[1], ts);
			break;
		}
		if (r->npend == PEND_MAX) {	/* the stack stays full while pend_over */
			r->pend_over++;
			break;
		}
		struct pend *e = &r->pend[r->npend++];
		e->known = slt_idmap_del(&p->map, rec[1], &e->id);
		e->addr = rec[1];
		e->size = rec[2];
		break;
	}
	case RAW_IN: {
		if (r->pend_over) {
			r->pend_over--;
			w->report.lost_results++;
			break;
		}
		if (!r->npend) {	/* its RAW_OUT went to the parent: a fork in a handler */
			w->report.lost_results++;
			break;
		}
		const struct pend *e = &r->pend[--r->npend];
		if (!rec[1]) {
			w->report.failed_allocs++;
			if (e->known && slt_idmap_put(&p->map, e->addr, e->id) < 0)
				broken(p, "out of memory");
		} else {
			emit_moved(p, r, e->known, e->id, rec[1], e->size, ts);
		}
		break;
	}
	case RAW_THREAD_START:	/* drain saw it first in the ring */
		slt_enc_mark(w, SLT_OC_THREAD, r->tid, ts);
		break;
	case RAW_THREAD_EXIT: slt_enc_mark(w, SLT_OC_THREAD | 1 << 4, r->tid, ts); break;
	case RAW_END:
		if (p->end_seq == UINT64_MAX)
			p->end_seq = rec[0] >> 8;
		break;
	}
}

/* The sequence number of the ring's next record below h2, after skipping
 * RAW_PAD; UINT64_MAX if there is none. */
static uint64_t ring_peek(struct mring *r, uint64_t mask)
{
	while (r->tail < r->h2) {
		uint64_t w0 = r->data[r->tail & mask];
		if ((w0 & RAW_OPMASK) != RAW_PAD)
			return w0 >> 8;
		r->tail = (r->tail | mask) + 1;
	}
	return UINT64_MAX;
}

/* Record lengths in words by first byte (op | RAW_TIME); 0: invalid. */
static uint8_t g_len[256];

static void init_lengths(void)
{
	for (unsigned op = 1; op < RAW_NOPS; op++) {
		if (op == RAW_PAD || op == RAW_OP5_GONE)
			continue;
		g_len[op] = (uint8_t)(1 + raw_args(op));
		g_len[op | RAW_TIME] = (uint8_t)(2 + raw_args(op));
	}
}

/* Hand the space below t back to r's producer, waking it if it sleeps
 * on a full ring. */
static void give_back(struct mring *r, uint64_t t)
{
	__atomic_store_n(&r->ctl->tail, t, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->ctl->waiting, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &r->ctl->tail, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Emit r's records from its tail while they lie below `end` and their
 * numbers below `bound`. Returns the number consumed; a malformed record
 * (no valid op, or running past end or the ring's end) breaks the trace. */
static uint64_t drain(struct rec_merger *m, struct mproc *p, struct mring *r, uint64_t end,
		      uint64_t bound)
{
	uint64_t mask = m->hdr->ring_words - 1, t = r->tail, n = 0;
	if (UNLIKELY(!r->started)) {
		/* A reused ring's head may lie within RAW_MAXREC of the lap's
		 * end: the thread padded before its THREAD_START. */
		while (t < end && (r->data[t & mask] & RAW_OPMASK) == RAW_PAD)
			t = (t | mask) + 1;
		r->tail = t;
	}
	if (UNLIKELY(!r->started) && t < end) {
		uint64_t w0 = r->data[t & mask];
		if ((w0 & 0xff) != RAW_THREAD_START && (w0 & 0xff) != (RAW_THREAD_START | RAW_TIME)) {
			broken(p, "a ring without THREAD_START");
			r->tail = r->h2;
			return 0;
		}
		r->started = true;
		r->tid = p->nthreads++;
	}
	while (t < end && !p->broken) {
		/* One lap at a time: a record never crosses the ring's end. */
		uint64_t lap_end = (t | mask) + 1, e = end < lap_end ? end : lap_end;
		const uint64_t *base = r->data - (t & ~mask);
		while (t < e) {
			const uint64_t *rec = base + t;
			uint64_t w0 = rec[0];
			unsigned len = g_len[w0 & 0xff];
			if (UNLIKELY(!len || t + len > e)) {
				if ((w0 & RAW_OPMASK) == RAW_PAD) {
					t = lap_end;
					break;
				}
				broken(p, "a malformed raw record");
				t = r->h2;
				break;
			}
			uint64_t seq = w0 >> 8;
			if (seq >= bound)
				goto out;
			t += len;
			n++;
			if (UNLIKELY(seq > p->end_seq)) {
				m->after_end++;	/* written while the process exited */
				continue;
			}
			emit(m, p, r, rec);
			if (UNLIKELY(p->broken))
				break;
			if (UNLIKELY(!(n & (RELEASE_EVERY - 1))))
				give_back(r, t);
		}
	}
out:
	r->tail = t;
	if (UNLIKELY(p->w->err))
		p->broken = true;	/* the file is full: its result says so */
	return n;
}

/* Emit p's records below h2 in sequence order, stopping before the first
 * one at or past its ring's h1 (see the top of this file). */
static uint64_t merge_proc(struct rec_merger *m, struct mproc *p)
{
	uint64_t n = 0, mask = m->hdr->ring_words - 1;
	if (p->nrings == 1)
		return drain(m, p, &p->rings[0], p->rings[0].h1, UINT64_MAX);
	for (;;) {
		struct mring *best = NULL;
		uint64_t bseq = UINT64_MAX, second = UINT64_MAX;
		for (size_t i = 0; i < p->nrings; i++) {
			uint64_t s = ring_peek(&p->rings[i], mask);
			if (s < bseq) {
				second = bseq;
				bseq = s;
				best = &p->rings[i];
			} else if (s < second) {
				second = s;
			}
		}
		if (!best || best->tail >= best->h1)
			return n;
		/* best's records run first up to the next ring's number. */
		uint64_t k = drain(m, p, best, best->h1, second);
		if (!k) {
			if (!p->broken)	/* its number equals another ring's */
				broken(p, "two records with one sequence number");
			return n;
		}
		n += k;
	}
}

/* Read every attached ring's head (pass 1 or 2). */
static void read_heads(struct rec_merger *m, bool first)
{
	for (unsigned s = 0; s < RAW_NPROCS; s++) {
		struct mproc *p = m->procs[s];
		for (size_t i = 0; p && i < p->nrings; i++) {
			struct mring *r = &p->rings[i];
			uint64_t h = __atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE);
			/* No producer gets more than a ring ahead: the data is not
			 * to be read, but the ring is still handed back up to its
			 * head (broken: discarded), so nobody waits on it. */
			if (h - r->tail > m->hdr->ring_words)
				broken(p, "a ring's head is out of range");
			if (first)
				r->h1 = h;
			r->h2 = h;
		}
	}
}

uint64_t rec_merger_pass(struct rec_merger *m)
{
	read_heads(m, true);
	if (m->opts.between_reads)
		m->opts.between_reads(m->opts.between_ctx);
	scan_claims(m);
	read_heads(m, false);
	uint64_t n = 0;
	for (unsigned s = 0; s < RAW_NPROCS; s++) {
		struct mproc *p = m->procs[s];
		if (!p)
			continue;
		n += merge_proc(m, p);
		for (size_t i = 0; i < p->nrings; i++) {
			struct mring *r = &p->rings[i];
			if (p->broken)	/* discard, never leave a producer blocked */
				n += r->h2 - r->tail, r->tail = r->h2;
			give_back(r, r->tail);
		}
	}
	return n;
}

/* A finished process: drain, write END if it exited, close, free. */
void rec_merger_proc_dead(struct rec_merger *m, unsigned slot)
{
	scan_claims(m);
	struct mproc *p = m->procs[slot];
	if (!p)
		return;
	p->dead = true;
	read_heads(m, true);
	while (!p->broken && merge_proc(m, p))
		;
	bool complete = p->end_seq != UINT64_MAX && !p->broken;
	if (p->sink.fd >= 0) {
		/* A failed write is in p->sink.err, for the result. */
		if (complete ? slt_writer_finish(p->w) < 0 : slt_writer_flush(p->w) < 0)
			complete = false;
		if (!complete)
			slt_writer_discard(p->w);
		close(p->sink.fd);
		p->sink.fd = -1;
	}
	add_result(m, p, complete);
	drop_proc(m, p);
}

/* Rings whose thread exited and is gone (its tid no longer in the
 * process), once drained, go back to the producers. */
static void reap_rings(struct rec_merger *m)
{
	for (unsigned s = 0; s < RAW_NPROCS; s++) {
		struct mproc *p = m->procs[s];
		for (size_t i = 0; p && i < p->nrings; i++) {
			struct mring *r = &p->rings[i];
			if (!r->exited || r->npend || r->pend_over)
				continue;
			uint64_t head = __atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE);
			if (head != r->tail || syscall(SYS_tgkill, p->pid, r->ostid, 0) == 0 ||
			    errno != ESRCH)
				continue;
			/* Drained and gone. A second look at head closes the race
			 * with a last record published before the thread died. */
			if (__atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE) != r->tail)
				continue;
			free_ring(m, r->idx);
			p->rings[i] = p->rings[--p->nrings];
			i--;
		}
	}
}

/* ---- claims whose claimer died (see the top of this file) --------------- */

/* No such process or thread any more, or it has exited (a zombie). */
static bool task_gone(pid_t id)
{
	int fd = (int)syscall(SYS_pidfd_open, id, 0);
	if (fd >= 0) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		bool gone = poll(&pf, 1, 0) > 0;
		close(fd);
		return gone;
	}
	if (errno == ESRCH)
		return true;
	return kill(id, 0) < 0 && errno == ESRCH;	/* a thread's tid (no pidfd) */
}

/* One slot or ring: if it is CLAIMED and its claimer is gone, clear the
 * claimer's id and CAS it back to FREE (a claim that went LIVE meanwhile
 * keeps its id). *seen: when it was first seen CLAIMED without an id. */
static bool reclaim_one(uint32_t *state, int32_t *who, uint64_t *seen, bool tree_gone,
			uint64_t now)
{
	if (__atomic_load_n(state, __ATOMIC_ACQUIRE) != RAW_CLAIMED) {
		*seen = 0;
		return false;
	}
	int32_t id = __atomic_load_n(who, __ATOMIC_RELAXED);
	bool gone;
	if (id > 0) {
		*seen = 0;
		gone = tree_gone || task_gone(id);
	} else {
		if (!*seen)
			*seen = now;
		gone = tree_gone && now - *seen >= CHECK_NS;
	}
	if (!gone)
		return false;
	if (id > 0)
		__atomic_store_n(who, 0, __ATOMIC_RELAXED);
	uint32_t want = RAW_CLAIMED;
	if (__atomic_compare_exchange_n(state, &want, RAW_FREE_SLOT, false, __ATOMIC_RELEASE,
					__ATOMIC_RELAXED)) {
		*seen = 0;
		return true;
	}
	if (id > 0)
		__atomic_store_n(who, id, __ATOMIC_RELAXED);
	return false;
}

void rec_merger_reclaim(struct rec_merger *m, bool tree_gone)
{
	uint64_t now = mono_ns();
	for (unsigned i = 0; i < RAW_NPROCS; i++) {
		struct raw_proc *s = &m->hdr->procs[i];
		if (!m->procs[i])
			reclaim_one(&s->state, &s->pid, &m->proc_seen[i], tree_gone, now);
	}
	for (unsigned i = 0; i < RAW_NRINGS; i++) {
		struct raw_ring *c = &m->hdr->rings[i];
		if (m->ring_proc[i] < 0)
			reclaim_one(&c->state, &c->ostid, &m->ring_seen[i], tree_gone, now);
	}
}

/* ---- set-up and the loop ----------------------------------------------- */

static struct rec_merger *merger_new(const struct rec_opts *o)
{
	struct rec_merger *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->opts = *o;
	snprintf(m->out, sizeof m->out, "%s", o->out ? o->out : "trace.slt");
	for (unsigned i = 0; i < RAW_NRINGS; i++)
		m->ring_proc[i] = -1;
	m->shm_fd = -1;
	m->out_fd = o->out_fd_set ? o->out_fd : -1;
	m->cal_ns = mono_ns();
	m->cal_tsc = __rdtsc();
	m->mult = 1ull << 32;
	if (!g_len[RAW_MALLOC])
		init_lengths();
	return m;
}

struct rec_merger *rec_merger_attach(void *hdr, const struct rec_opts *o)
{
	struct rec_merger *m = merger_new(o);
	if (m) {
		m->hdr = hdr;
		m->claims = UINT32_MAX;
	}
	return m;
}

void rec_merger_set_tsc_scale(struct rec_merger *m, uint64_t mult)
{
	m->mult = mult;
	m->fixed_scale = true;
}

/* The ring size: as asked, or the default halved until the memfd fits the
 * file size limit (a memfd's size counts against RLIMIT_FSIZE). 0 if it
 * does not fit; *total is then the smallest size tried. */
static uint32_t fit_rings(uint32_t asked, uint64_t *meta_off, uint64_t *data_off, uint64_t *total)
{
	struct rlimit rl;
	uint64_t limit = UINT64_MAX;
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		limit = rl.rlim_cur;
	for (uint32_t words = asked ? asked : RAW_RING_WORDS;; words /= 2) {
		raw_layout(words, meta_off, data_off, total);
		if (*total <= limit)
			return words;
		if (asked || words == 64)
			return 0;
	}
}

struct rec_merger *rec_merger_new(const struct rec_opts *o, int *shm_fd, char *err, size_t errlen)
{
	uint32_t words = o->ring_words;
	if (words && (words < 64 || (words & (words - 1)))) {
		snprintf(err, errlen, "ring size %u words is not a power of two >= 64", words);
		return NULL;
	}
	uint64_t meta_off, data_off, total;
	if (!(words = fit_rings(words, &meta_off, &data_off, &total))) {
		snprintf(err, errlen, "the recorder's shared memory needs %llu bytes, more than the "
			 "file size limit (ulimit -f) allows", (unsigned long long)total);
		return NULL;
	}
	struct rec_merger *m = merger_new(o);
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int fd = memfd_create("spanlab-record", MFD_CLOEXEC);	/* the child gets a dup */
	void *p = MAP_FAILED;
	if (fd < 0 || ftruncate(fd, (off_t)total) < 0 ||
	    (p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		snprintf(err, errlen, "shared memory for the recorder: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		free(m);
		return NULL;
	}
	struct raw_hdr *h = p;
	h->version = RAW_VERSION;
	h->ring_words = words;
	h->merger_pid = getpid();
	h->children = o->children;
	h->meta_off = meta_off;
	h->data_off = data_off;
	h->total = total;
	h->epoch = 1;	/* odd: every event stamped until the first pass */
	__atomic_store_n(&h->magic, RAW_MAGIC, __ATOMIC_RELEASE);
	m->hdr = h;
	m->own_hdr = true;
	m->shm_fd = fd;
	m->claims = UINT32_MAX;
	*shm_fd = fd;
	return m;
}

/* Sleep on the bell until a producer rings, a signal arrives or ns pass,
 * unless a ring holds unread records. */
static void snooze(struct rec_merger *m, uint64_t ns)
{
	struct raw_hdr *h = m->hdr;
	uint32_t bell = __atomic_load_n(&h->bell, __ATOMIC_SEQ_CST);
	__atomic_store_n(&h->sleeping, 1, __ATOMIC_SEQ_CST);
	bool pending = __atomic_load_n(&h->claims, __ATOMIC_SEQ_CST) != m->claims;
	for (unsigned s = 0; s < RAW_NPROCS && !pending; s++) {
		struct mproc *p = m->procs[s];
		for (size_t i = 0; p && i < p->nrings && !pending; i++)
			pending = __atomic_load_n(&p->rings[i].ctl->head, __ATOMIC_SEQ_CST) !=
				  p->rings[i].tail;
	}
	if (!pending && !g_child_exited) {
		struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
		syscall(SYS_futex, &h->bell, FUTEX_WAIT, bell, &ts, NULL, 0);
	}
	__atomic_store_n(&h->sleeping, 0, __ATOMIC_SEQ_CST);
}

/* Non-root processes that are gone (pidfd readable, or no such pid). */
static void check_children(struct rec_merger *m)
{
	for (unsigned s = 0; s < RAW_NPROCS; s++) {
		struct mproc *p = m->procs[s];
		if (!p || p->root)
			continue;
		bool gone;
		if (p->pidfd >= 0) {
			struct pollfd pf = { .fd = p->pidfd, .events = POLLIN };
			gone = poll(&pf, 1, 0) > 0;
		} else {
			gone = kill(p->pid, 0) < 0 && errno == ESRCH;
		}
		if (gone)
			rec_merger_proc_dead(m, s);
	}
}

static bool any_live(const struct rec_merger *m)
{
	for (unsigned s = 0; s < RAW_NPROCS; s++)
		if (m->procs[s])
			return true;
	for (unsigned s = 0; s < RAW_NPROCS; s++)
		if (__atomic_load_n(&m->hdr->procs[s].state, __ATOMIC_ACQUIRE) != RAW_FREE_SLOT)
			return true;
	return false;
}

/* The merger's children: the root, and with a subreaper (spanlab record)
 * every orphaned descendant. */
struct kids {
	pid_t root;
	int *status;
	struct rusage *ru;
	bool root_done;
	bool none_left;		/* the last wait found no child at all */
	bool subreaper;		/* orphans are reparented to us */
};

/* The root is gone: its trace is finished now. */
static void root_exited(struct rec_merger *m, struct kids *k)
{
	k->root_done = true;
	scan_claims(m);
	for (unsigned s = 0; s < RAW_NPROCS; s++)
		if (m->procs[s] && m->procs[s]->pid == k->root)
			rec_merger_proc_dead(m, s);
}

/* Reap the root if it exited, and every other child that did (recorded
 * ones are noticed through their pidfds). -1 and errno if wait fails. */
static int reap(struct rec_merger *m, struct kids *k)
{
	pid_t w;
	if (!k->root_done) {
		while ((w = wait4(k->root, k->status, WNOHANG, k->ru)) < 0 && errno == EINTR)
			;
		if (w < 0)
			return -1;
		if (w == k->root)
			root_exited(m, k);
	}
	k->none_left = false;
	for (;;) {
		siginfo_t si = { 0 };
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			k->none_left = errno == ECHILD;
			return 0;
		}
		if (si.si_pid == 0)
			return 0;	/* children, none exited */
		if (si.si_pid != k->root) {
			while (waitpid(si.si_pid, NULL, 0) < 0 && errno == EINTR)
				;
			continue;
		}
		while ((w = wait4(k->root, k->status, 0, k->ru)) < 0 && errno == EINTR)
			;
		if (w != k->root)
			return -1;
		root_exited(m, k);	/* it exited after the first look */
	}
}

/* No process that could still claim a slot or ring is left: the root is
 * gone and, with --children, every descendant (as a subreaper: no child
 * at all; else, as far as we know: no recorded process). */
static bool tree_gone(const struct rec_merger *m, const struct kids *k)
{
	if (!k->root_done || !m->opts.children)
		return k->root_done;
	if (k->subreaper)
		return k->none_left;
	for (unsigned s = 0; s < RAW_NPROCS; s++)
		if (m->procs[s])
			return false;
	return true;
}

/* Write every trace's buffered records to its file. */
static void flush_all(struct rec_merger *m)
{
	for (unsigned i = 0; i < RAW_NPROCS; i++)
		if (m->procs[i] && !m->procs[i]->broken && m->procs[i]->w->len)
			slt_writer_flush(m->procs[i]->w);
}

int rec_merger_run(struct rec_merger *m, pid_t root, int *status, struct rusage *ru, char *err,
		   size_t errlen)
{
	struct sigaction sa = { .sa_handler = on_sigchld }, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, &old);	/* no SA_RESTART: the futex wait returns */
	int reaper = 0;
	struct kids k = { .root = root, .status = status, .ru = ru };
	k.subreaper = prctl(PR_GET_CHILD_SUBREAPER, &reaper, 0, 0, 0) == 0 && reaper;
	/* The first TSC scale needs 1 ms of baseline; the program is still
	 * being loaded meanwhile, and its records wait in the rings. */
	struct timespec cal = { 0, 1100000 };
	nanosleep(&cal, NULL);
	calibrate(m);
	uint64_t last_records = mono_ns(), last_check = 0, last_flush = last_records;
	int rc = 0;
	for (;;) {
		calibrate(m);
		uint64_t n = rec_merger_pass(m);
		uint64_t now = mono_ns();
		if (n)
			last_records = now;
		__atomic_store_n(&m->hdr->epoch, (m->hdr->epoch | 1) + 1, __ATOMIC_RELAXED);
		bool check = now - last_check >= CHECK_NS;
		if (g_child_exited || check) {
			g_child_exited = 0;
			if (reap(m, &k) < 0) {
				snprintf(err, errlen, "wait: %s", strerror(errno));
				rc = -1;
				break;
			}
		}
		if (check) {
			last_check = now;
			check_children(m);
			reap_rings(m);
			rec_merger_reclaim(m, tree_gone(m, &k));
		}
		if (now - last_flush >= FLUSH_NS) {
			/* The files stay current: a reader, or a spanlab record
			 * that is killed, sees all but the last 100 ms. */
			last_flush = now;
			flush_all(m);
		}
		if (k.root_done && !any_live(m))
			break;
		if (n >= BUSY_RECORDS)
			continue;
		if (now - last_records < IDLE_NS) {
			snooze(m, NAP_NS);
		} else {
			__atomic_store_n(&m->hdr->epoch, m->hdr->epoch | 1, __ATOMIC_RELAXED);
			snooze(m, SLEEP_NS);
		}
	}
	sigaction(SIGCHLD, &old, NULL);
	return rc;
}

size_t rec_merger_results(const struct rec_merger *m, const struct rec_result **out)
{
	*out = m->results;
	return m->nresults;
}

uint64_t rec_merger_after_end(const struct rec_merger *m)
{
	return m->after_end;
}

void rec_merger_free(struct rec_merger *m)
{
	if (!m)
		return;
	for (unsigned s = 0; s < RAW_NPROCS; s++)
		if (m->procs[s]) {
			if (m->procs[s]->sink.fd >= 0) {
				slt_writer_flush(m->procs[s]->w);
				close(m->procs[s]->sink.fd);
			}
			slt_writer_discard(m->procs[s]->w);
			drop_proc(m, m->procs[s]);
		}
	if (m->own_hdr) {
		munmap(m->hdr, m->hdr->total);
		close(m->shm_fd);
	}
	if (m->out_fd >= 0)
		close(m->out_fd);
	if (m->opts.out_tmp)	/* the root never started: OUT stays as it was */
		unlink(m->opts.out_tmp);
	free(m->results);
	free(m);
}
