/*
 * The recorder: an LD_PRELOAD library that interposes the malloc family of
 * an unmodified program and writes every call as a fixed-layout raw record
 * into the calling thread's ring in memory shared with `spanlab record`,
 * which merges the rings into the .slt file (raw.h is the contract;
 * sim/record_merge.c the other side; docs/trace-format.md "Recording").
 *
 * Hot path (one event, measured in docs/trace-format.md): the real call,
 * then the thread's lane marked busy and a bound check of its ring
 * position, a sequence number (one unlocked xadd while glibc says the
 * process is single-threaded, a locked one after), the op, address and
 * size stored, a TSC stamp on every RAW_STAMP_EVERY-th event or after the
 * merger's epoch changed, one release store of the ring's head, and the
 * busy mark cleared. No lock, no hash, no varint, no system call: those
 * happen in the merger, on the other side of the shared memory. The
 * memory is spanlab record's, so if the program dies, every record
 * published here is already out of it. A full ring (the merger is behind)
 * makes the thread sleep on a futex until the merger frees room; if
 * spanlab record is gone, the thread stops recording.
 *
 * Ordering (raw.h "Order"): allocations are recorded after the real call,
 * frees before it, and a realloc as RAW_OUT before and RAW_IN after, so an
 * address is always released in the trace before another thread, or a
 * signal handler of the same thread, can be handed it. (A single record
 * after the call saved one record per realloc while single-threaded, but
 * a handler landing between the call and that record was handed the old
 * address before the trace freed it: with that window put back,
 * test_record_preload's handler_after_reallocs_call finds 4 to 20
 * addresses handed out twice in 2,500 handlers.)
 *
 * Re-entrancy. A thread writes through a lane: a ring and the thread's
 * position in it. Everything that reads or moves a lane (the fast path,
 * make_room, claiming the ring) runs with the lane's busy mark set, set
 * before the position is read and cleared after the head is published,
 * with compiler signal fences around both. A signal handler that
 * allocates while its thread is inside the recorder therefore finds the
 * lane busy and never touches it: it records into the thread's next lane,
 * another ring claimed on first use (the trace shows it as another
 * thread), publishing each record as the fast path does, so the order
 * argument above holds for it too. The interrupted code resumes with its
 * lane as it left it. Its sequence number was taken in one instruction,
 * so no handler's number repeats it. A call that finds all LANES lanes
 * busy (handlers nested that deep) passes through unrecorded and is
 * counted; the count is printed at exit.
 *
 * A handler that siglongjmps out of the recorder while a lane is busy
 * leaves that lane busy for good: nothing can tell an abandoned lane from an interrupted one
 * (a handler may also switch stacks and come back), and reusing a lane
 * whose writer might resume would corrupt the ring. The thread then goes
 * on recording in its next lane, so each such jump costs one lane (and
 * one more trace thread); after LANES of them the thread's calls go
 * unrecorded and are counted.
 *
 * Bootstrap: dlsym may allocate before the real functions are known; those
 * requests come from a static 64 KiB pool, are never recorded, and free()
 * ignores them.
 *
 * Processes: the process `spanlab record` started (SPANLAB_RECORD_PID)
 * claims the root process slot; if it execs another program, the new image
 * claims a new root slot and the merger restarts the trace. A forked child
 * stops recording, or (--children) claims a slot of its own at its first
 * call, which may come from inside libc with one of libc's locks held:
 * nothing on the claim path takes a libc lock (the start time is computed
 * here, not by gmtime). Exec'd descendants claim slots too. exit() (our
 * destructor), quick_exit (an at_quick_exit handler), _exit and _Exit
 * write RAW_END; a program killed by a signal leaves its rings as they
 * were, and the merger writes them out up to the last published record.
 */
#define _GNU_SOURCE
#include "raw.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "../slt.h"	/* slt_json_escape */

#define API __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))
#define INLINE static inline __attribute__((always_inline))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#define BOOT_POOL (64 * 1024)		/* dlsym needs a few hundred bytes */
#define WAIT_NS 10000000		/* a full ring: look again after 10 ms at most */
/* Lanes per thread: its own, and three for signal handlers nested into
 * the recorder or lanes left busy by a siglongjmp. Each is claimed (a
 * ring) only when first needed. */
#define LANES 4

enum { ST_UNINIT, ST_ON, ST_OFF };	/* the process */
enum { T_NEW, T_ON, T_OFF };		/* a thread */

static struct {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*memalign)(size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*malloc_usable_size)(void *);
	void (*_exit)(int) __attribute__((noreturn));
	void (*_Exit)(int) __attribute__((noreturn));
} real;

static volatile int g_state = ST_UNINIT;
static int g_init_lock;			/* guards process start-up (slow path) */
static struct raw_hdr *g_hdr;		/* the shared memory, mapped once per image */
static uint32_t *g_epoch;		/* &g_hdr->epoch */
static uint32_t g_proc;			/* our proc slot */
static uint64_t g_seq;			/* the process's next sequence number */
static uint64_t g_lost;			/* calls that found every lane of their thread busy */
static pid_t g_pid;			/* the process that owns g_proc */
static pthread_key_t g_key;
static bool g_registered;		/* key and fork handlers exist in this image */
static int g_resolving;
static size_t g_page;

/* A thread's way into one ring. Hot fields first. Owned by its thread;
 * only code that set `busy` reads or writes the rest. */
struct lane {
	uint64_t *pos;		/* where the next record goes */
	uint64_t *limit;	/* records fit while pos < limit; NULL: slow path */
	uint8_t busy;		/* 1 while recorder code uses this lane */
	uint32_t countdown;	/* events until the next TSC stamp */
	uint32_t epoch;		/* the merger's epoch at the last stamp (even) */
	uint64_t *base;		/* the ring's first word */
	uint64_t lap;		/* ring position of base: head = lap + (pos - base) */
	struct raw_ring *ring;	/* NULL: not claimed yet */
};

/* The calling thread: lane 0 takes its calls, lanes 1.. the calls of
 * signal handlers that interrupted the recorder. */
struct tstate {
	struct lane lane[LANES];
	uint8_t state;		/* T_NEW, T_ON, T_OFF (lane 0's ring) */
	uint8_t saved_state;	/* state and lane 0's busy mark across fork */
	uint8_t saved_busy;
};
static TLS struct tstate T;

static void say(const char *msg)
{
	ssize_t rc = write(2, msg, strlen(msg));
	(void)rc;
}

/* ---- the hot path ------------------------------------------------------ */

/* Mark l busy unless it is: then a caller of ours, interrupted by the
 * signal handler we run in, owns it. A handler that lands between the
 * load and the store runs to its end before the store, leaving l as it
 * found it. */
INLINE bool lane_enter(struct lane *l)
{
	if (__atomic_load_n(&l->busy, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&l->busy, 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return true;
}

INLINE void lane_leave(struct lane *l)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&l->busy, 0, __ATOMIC_RELAXED);
}

/* The next sequence number. __libc_single_threaded is cleared by the
 * thread that creates a second thread before that thread runs, so while it
 * is set only this thread's signal handlers can race us: xadd without a
 * lock prefix is one instruction, which no handler can split. */
INLINE uint64_t next_seq(void)
{
	uint64_t s = 1;
	if (__libc_single_threaded)
		__asm__ volatile("xaddq %0, %1" : "+r"(s), "+m"(g_seq));
	else
		s = __atomic_fetch_add(&g_seq, 1, __ATOMIC_RELAXED);
	return s;
}

/* Write one record at w (room for RAW_MAXREC words is guaranteed) and
 * publish it. l is busy. */
INLINE void lane_write(struct lane *l, uint64_t *w, unsigned op, uint64_t a, uint64_t b,
		       uint64_t c, unsigned nargs)
{
	uint64_t seq = next_seq();
	unsigned n = 1 + nargs;
	if (nargs > 0)
		w[1] = a;
	if (nargs > 1)
		w[2] = b;
	if (nargs > 2)
		w[3] = c;
	uint32_t e = *g_epoch;
	if (UNLIKELY(e != l->epoch) || UNLIKELY(--l->countdown == 0)) {
		w[n++] = __rdtsc();
		op |= RAW_TIME;
		l->countdown = RAW_STAMP_EVERY;
		l->epoch = e & ~1u;	/* odd (the merger sleeps): stamp every event */
	}
	w[0] = seq << 8 | op;
	w += n;
	l->pos = w;
	__atomic_store_n(&l->ring->head, l->lap + (uint64_t)(w - l->base), __ATOMIC_RELEASE);
}

static void rec_slow(unsigned op, uint64_t a, uint64_t b, uint64_t c, unsigned nargs);
static void rec_nested(unsigned op, uint64_t a, uint64_t b, uint64_t c, unsigned nargs);

/* Record an event: the fast path, or the slow one (no room, a new thread,
 * not recording), or a nested lane (lane 0 is busy: a signal handler
 * interrupted the recorder). */
INLINE void rec(unsigned op, uint64_t a, uint64_t b, uint64_t c, unsigned nargs)
{
	struct lane *l = &T.lane[0];
	if (UNLIKELY(!lane_enter(l))) {
		rec_nested(op, a, b, c, nargs);
		return;
	}
	uint64_t *w = l->pos;
	if (UNLIKELY((uintptr_t)w >= (uintptr_t)l->limit)) {
		rec_slow(op, a, b, c, nargs);	/* leaves the lane */
		return;
	}
	lane_write(l, w, op, a, b, c, nargs);
	lane_leave(l);
}

/* ---- bootstrap pool ---------------------------------------------------- */

static _Alignas(64) unsigned char boot_pool[BOOT_POOL];
static size_t boot_used;

INLINE bool in_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)boot_pool < BOOT_POOL;
}

/* Blocks carry their size in the 16 bytes before them. */
static void *boot_alloc(size_t n, size_t align)
{
	if (align < 16)
		align = 16;
	size_t at = (boot_used + 16 + align - 1) & ~(align - 1);
	if (n > BOOT_POOL || at + n > BOOT_POOL)
		return NULL;
	boot_used = at + n;
	memcpy(boot_pool + at - 16, &n, sizeof n);
	return boot_pool + at;
}

static size_t boot_size(const void *p)
{
	size_t n;
	memcpy(&n, (const unsigned char *)p - 16, sizeof n);
	return n;
}

static void resolve(void)
{
	g_resolving = 1;
#define R(name) real.name = dlsym(RTLD_NEXT, #name)
	R(free); R(calloc); R(realloc); R(memalign); R(posix_memalign);
	R(aligned_alloc); R(valloc); R(pvalloc); R(malloc_usable_size); R(_exit); R(_Exit);
	R(malloc);
#undef R
	g_page = (size_t)sysconf(_SC_PAGESIZE);
	g_resolving = 0;
	if (!real.malloc || !real.free || !real.calloc || !real.realloc) {
		say("spanlab-record: cannot find the real malloc functions\n");
		abort();
	}
}

/* ---- process start-up ------------------------------------------------- */

/* The metadata JSON being built: out[0..n), NUL-terminated, cap bytes. */
struct meta {
	char *out;
	size_t n, cap;
};

/* Append len bytes of text if all of them fit. */
static bool meta_put(struct meta *m, const char *s, size_t len)
{
	if (len >= m->cap - m->n)
		return false;
	memcpy(m->out + m->n, s, len);
	m->n += len;
	m->out[m->n] = 0;
	return true;
}

/* Append s as a JSON string that ends at or before byte `end` (< cap):
 * whole if it fits, else its longest prefix of whole escapes and whole
 * UTF-8 characters, and false. */
static bool meta_str(struct meta *m, const char *s, size_t end)
{
	if (m->n + 2 > end)
		return false;
	m->out[m->n++] = '"';
	size_t at = m->n;	/* where the current character starts */
	bool whole = true;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char one[2] = { (char)*c, 0 }, e[8];
		size_t k = slt_json_escape(e, sizeof e, one);
		if ((*c & 0xc0) != 0x80)
			at = m->n;
		if (m->n + k + 1 > end) {
			m->n = at;
			whole = false;
			break;
		}
		memcpy(m->out + m->n, e, k);
		m->n += k;
	}
	m->out[m->n++] = '"';
	m->out[m->n] = 0;
	return whole;
}

/* A UTC time as a civil date, with integer arithmetic only: gmtime_r
 * takes libc's time zone lock, which a forked child claiming its slot
 * may already hold (tzset -> free -> here). Days are counted in eras of
 * 400 years (146097 days) that start on 0000-03-01, so that the leap day
 * ends a year and a month's first day is (153 * month + 2) / 5. */
struct civil {
	long long year;
	unsigned mon, day, hour, min, sec;
};

static void civil_from_unix(int64_t t, struct civil *c)
{
	int64_t days = t / 86400, s = t % 86400;
	if (s < 0)
		s += 86400, days--;
	c->hour = (unsigned)(s / 3600), c->min = (unsigned)(s / 60 % 60), c->sec = (unsigned)(s % 60);
	days += 719468;	/* 0000-03-01 .. 1970-01-01 */
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned doe = (unsigned)(days - era * 146097);				/* 0..146096 */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;	/* 0..399 */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);			/* 0..365 */
	unsigned mp = (5 * doy + 2) / 153;					/* March = 0 */
	c->day = doy - (153 * mp + 2) / 5 + 1;
	c->mon = mp < 10 ? mp + 3 : mp - 9;
	c->year = (long long)(yoe + era * 400) + (c->mon <= 2);
}

/* argv as /proc/self/cmdline has it (NUL-terminated elements) in cmd;
 * its length. *more: cmd could not hold all of it (a partial last element
 * is dropped). */
static size_t read_cmdline(char *cmd, size_t cap, bool *more)
{
	size_t len = 0;
	ssize_t k;
	char extra;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		while (len < cap - 1 && (k = read(fd, cmd + len, cap - 1 - len)) > 0)
			len += (size_t)k;
		*more = len == cap - 1 && read(fd, &extra, 1) > 0;
		close(fd);
	}
	while (*more && len && cmd[len - 1])
		len--;
	cmd[len] = 0;
	return len;
}

/* The fields after argv, and the closing brace. */
static void meta_tail(struct meta *m)
{
	struct timespec rt;
	struct civil t;
	struct utsname u;
	clock_gettime(CLOCK_REALTIME, &rt);
	civil_from_unix(rt.tv_sec, &t);
	uname(&u);
	char num[160];
	int k = snprintf(num, sizeof num,
			 ",\"pid\":%d,\"ppid\":%d,\"start_time\":\"%04lld-%02u-%02uT%02u:%02u:%02uZ\","
			 "\"recorder\":\"spanlab-record 2\",\"host\":",
			 (int)getpid(), (int)getppid(), t.year, t.mon, t.day, t.hour, t.min, t.sec);
	char host[2 * sizeof u.sysname];
	snprintf(host, sizeof host, "%s %s", u.sysname, u.machine);
	meta_put(m, num, (size_t)k);
	meta_str(m, host, m->cap - 2);
	meta_put(m, "}", 1);
}

/* The metadata: program, argv (from /proc/self/cmdline), pid, ppid, start
 * time (UTC), recorder version, host (system and machine, not its name).
 * Always one valid JSON object: the fields after argv are built first and
 * their room kept; argv elements that do not fit are left out whole, and
 * "argv_cut" says so; the program name is shortened if it must be. */
static size_t build_meta(char *out, size_t cap)
{
	static char cmd[RAW_META_MAX];	/* more could never fit in the metadata */
	static const char mark[] = "],\"argv_cut\":true";
	char tail[1024];
	struct meta t = { tail, 0, sizeof tail }, m = { out, 0, cap };
	bool cut = false, more = false;
	size_t len = read_cmdline(cmd, sizeof cmd, &more);
	meta_tail(&t);
	size_t end = cap - 1 - t.n - (sizeof mark - 1);	/* where argv must end */
	meta_put(&m, "{\"program\":", 11);
	meta_str(&m, cmd, m.n + (end - m.n) / 4);
	meta_put(&m, ",\"argv\":[", 9);
	for (size_t i = 0; i < len && !cut; i += strlen(cmd + i) + 1) {
		size_t at = m.n;
		if ((i && !meta_put(&m, ",", 1)) || !meta_str(&m, cmd + i, end)) {
			m.n = at;
			cut = true;
		}
	}
	cut |= more;
	meta_put(&m, mark, cut ? sizeof mark - 1 : 1);
	meta_put(&m, tail, t.n);
	return m.n;
}

/* The shared memory `spanlab record` passed (SPANLAB_RECORD_SHM, an
 * inherited descriptor), mapped once per image, and only by a process that
 * records: the root, or any process with --children. */
static struct raw_hdr *map_shared(bool *root)
{
	const char *env = getenv("SPANLAB_RECORD_SHM");
	if (!env || !*env)
		return NULL;
	int fd = atoi(env);
	struct stat st;
	struct raw_hdr h;
	if (fstat(fd, &st) < 0 || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
	    h.magic != RAW_MAGIC || h.version != RAW_VERSION || (uint64_t)st.st_size < h.total) {
		say("spanlab-record: SPANLAB_RECORD_SHM is not the recorder's memory; not recording\n");
		return NULL;
	}
	const char *pid = getenv("SPANLAB_RECORD_PID");
	*root = pid && atol(pid) == (long)getpid();
	if (!*root && !h.children)
		return NULL;
	void *p = mmap(NULL, h.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		say("spanlab-record: cannot map the recorder's memory; not recording\n");
		return NULL;
	}
	return p;
}

static void wake_merger(void)
{
	__atomic_fetch_add(&g_hdr->bell, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &g_hdr->bell, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* A proc slot for this process: pid, whether it is the root, metadata,
 * time 0. Returns false if every slot is taken. */
static bool claim_proc(bool root)
{
	for (uint32_t i = 0; i < RAW_NPROCS; i++) {
		struct raw_proc *s = &g_hdr->procs[i];
		uint32_t want = RAW_FREE_SLOT;
		if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != RAW_FREE_SLOT ||
		    !__atomic_compare_exchange_n(&s->state, &want, RAW_CLAIMED, false,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		s->pid = getpid();
		s->root = root;
		s->meta_len = (uint32_t)build_meta(raw_meta(g_hdr, i), RAW_META_MAX);
		s->start_tsc = __rdtsc();
		s->gen++;
		__atomic_store_n(&s->state, RAW_LIVE, __ATOMIC_RELEASE);
		__atomic_fetch_add(&g_hdr->claims, 1, __ATOMIC_RELEASE);
		g_proc = i;
		return true;
	}
	return false;
}

static void thread_exit_cb(void *arg);
static void at_prepare(void);
static void at_parent(void);
static void at_child(void);

static void init_lock(void)
{
	while (__atomic_exchange_n(&g_init_lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void init_unlock(void)
{
	__atomic_store_n(&g_init_lock, 0, __ATOMIC_RELEASE);
}

/* Decide whether this process records, and claim its slot. */
static void proc_init(void)
{
	init_lock();
	if (g_state != ST_UNINIT)
		goto out;
	g_state = ST_OFF;
	bool root = false;
	if (!g_hdr && !(g_hdr = map_shared(&root)))
		goto out;	/* (a forked child keeps the mapping: it is never root) */
	g_epoch = &g_hdr->epoch;
	g_seq = 1;
	g_pid = getpid();
	if (!claim_proc(root)) {
		say("spanlab-record: too many processes recording at once; this one is not\n");
		goto out;
	}
	if (!g_registered) {
		g_registered = true;
		pthread_key_create(&g_key, thread_exit_cb);
		pthread_atfork(at_prepare, at_parent, at_child);
	}
	g_state = ST_ON;
	wake_merger();
out:
	init_unlock();
}

/* ---- the thread's rings ------------------------------------------------ */

/* The ring is full: the merger is behind. Sleep on its tail until it
 * moves (the merger wakes us); false if the merger is gone. */
static bool wait_for_merger(struct raw_ring *r, uint64_t tail, unsigned waits)
{
	if (waits % 16 == 15 && kill(g_hdr->merger_pid, 0) < 0 && errno == ESRCH) {
		say("spanlab-record: the recorder is gone; recording stopped\n");
		g_state = ST_OFF;
		return false;
	}
	__atomic_store_n(&r->waiting, 1, __ATOMIC_SEQ_CST);
	uint64_t again = __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST);
	if (again == tail) {
		wake_merger();
		struct timespec ts = { 0, WAIT_NS };
		syscall(SYS_futex, &r->tail, FUTEX_WAIT, (uint32_t)tail, &ts, NULL, 0);
	}
	__atomic_store_n(&r->waiting, 0, __ATOMIC_RELAXED);
	return true;
}

/* Set l->limit from the ring's state: room for records up to the ring's
 * end, the merger's tail and a quarter ring (so this runs, and looks
 * whether the merger sleeps, at least every quarter ring). Pads and waits
 * as needed; limit stays NULL meanwhile (a PAD moves pos back to base).
 * Returns false if recording stopped. l is busy. */
static bool make_room(struct lane *l)
{
	uint64_t n = g_hdr->ring_words;
	l->limit = NULL;
	for (unsigned waits = 0;; waits++) {
		uint64_t head = l->lap + (uint64_t)(l->pos - l->base);
		uint64_t idx = head & (n - 1), to_end = n - idx;
		uint64_t tail = __atomic_load_n(&l->ring->tail, __ATOMIC_ACQUIRE);
		uint64_t free_words = n - (head - tail);
		if (g_state != ST_ON)
			return false;
		if (free_words <= n - n / 4) {	/* a quarter full: is the merger awake? */
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (__atomic_load_n(&g_hdr->sleeping, __ATOMIC_RELAXED))
				wake_merger();
		}
		if (to_end <= RAW_MAXREC && free_words >= to_end) {
			l->base[idx] = RAW_PAD;	/* the rest of this lap is unused */
			l->pos = l->base;
			l->lap = head + to_end;
			__atomic_store_n(&l->ring->head, l->lap, __ATOMIC_RELEASE);
			continue;
		}
		uint64_t room = free_words < to_end ? free_words : to_end;
		if (room > n / 4)
			room = n / 4;
		if (room > RAW_MAXREC) {
			l->limit = l->pos + (room - RAW_MAXREC);
			return true;
		}
		if (!wait_for_merger(l->ring, tail, waits))
			return false;
	}
}

/* Claim a free ring for l (one scan) and point l at its head. l is busy. */
static bool lane_claim(struct lane *l)
{
	for (uint32_t i = 0; i < RAW_NRINGS; i++) {
		struct raw_ring *r = &g_hdr->rings[i];
		uint32_t want = RAW_FREE_SLOT;
		if (__atomic_load_n(&r->state, __ATOMIC_RELAXED) != RAW_FREE_SLOT ||
		    !__atomic_compare_exchange_n(&r->state, &want, RAW_CLAIMED, false,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		r->proc = g_proc;
		r->proc_gen = g_hdr->procs[g_proc].gen;
		r->ostid = (int32_t)syscall(SYS_gettid);
		uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
		uint64_t idx = head & (g_hdr->ring_words - 1);
		l->ring = r;
		l->base = raw_ring_data(g_hdr, i);
		l->pos = l->base + idx;
		l->lap = head - idx;
		l->countdown = 1;	/* stamp the first event */
		__atomic_store_n(&r->state, RAW_LIVE, __ATOMIC_RELEASE);
		__atomic_fetch_add(&g_hdr->claims, 1, __ATOMIC_RELEASE);
		return true;
	}
	return false;
}

/* The first record of a claimed lane. */
static bool lane_open(struct lane *l)
{
	if (!make_room(l))
		return false;
	lane_write(l, l->pos, RAW_THREAD_START, 0, 0, 0, 0);
	return true;
}

/* Write THREAD_EXIT and tell the merger the ring will be free once the
 * thread is gone (it checks its tid). The thread keeps the ring for
 * whatever it frees after this. A lane left busy by a siglongjmp gets no
 * record, but its ring is handed back all the same. */
static void lane_close(struct lane *l)
{
	if (!l->ring)
		return;
	if (lane_enter(l)) {
		if (l->pos < l->limit || make_room(l))
			lane_write(l, l->pos, RAW_THREAD_EXIT, 0, 0, 0, 0);
		lane_leave(l);
	}
	__atomic_store_n(&l->ring->state, RAW_EXITED, __ATOMIC_RELEASE);
	__atomic_fetch_add(&g_hdr->claims, 1, __ATOMIC_RELEASE);
}

/* Start recording the calling thread: claim its lane 0 ring and write
 * THREAD_START. Sets T.state. Lane 0 is busy. */
static bool thread_start(void)
{
	if (g_state == ST_UNINIT)
		proc_init();
	bool ok = g_state == ST_ON && lane_claim(&T.lane[0]);
	/* All rings taken: the merger hands back those of exited threads at
	 * its next check (10 ms), so wait for one, up to a second. */
	for (int tries = 1; g_state == ST_ON && !ok && tries < 1000; tries++) {
		wake_merger();
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
		ok = lane_claim(&T.lane[0]);
	}
	if (!ok && g_state == ST_ON)
		say("spanlab-record: more threads than rings; this thread is not recorded\n");
	if (ok) {
		pthread_setspecific(g_key, (void *)1);
		ok = lane_open(&T.lane[0]);
	}
	T.state = ok ? T_ON : T_OFF;
	return ok;
}

/* Lane 0 is busy (rec) and has no room, or the thread is new or not
 * recording. Leaves lane 0. */
static __attribute__((noinline)) void rec_slow(unsigned op, uint64_t a, uint64_t b, uint64_t c,
					       unsigned nargs)
{
	struct lane *l = &T.lane[0];
	bool ok = false;
	if (T.state == T_ON) {
		ok = make_room(l);
		if (!ok)
			T.state = T_OFF;
	} else if (T.state == T_NEW && real.malloc) {
		ok = thread_start();
	}
	if (ok)
		lane_write(l, l->pos, op, a, b, c, nargs);
	lane_leave(l);
}

/* Lane 0 was busy: we run in a signal handler that interrupted the
 * recorder on this thread (or in a call the recorder's own slow path
 * made, or lane 0 was left busy by a siglongjmp). Record in the first
 * lane that is not busy, claiming its ring on first use; a handler
 * never waits for a ring. */
static __attribute__((noinline)) void rec_nested(unsigned op, uint64_t a, uint64_t b, uint64_t c,
						 unsigned nargs)
{
	if (T.state == T_OFF || g_state != ST_ON)
		return;	/* not recording: start-up, fork, exit */
	for (unsigned i = 1; i < LANES; i++) {
		struct lane *l = &T.lane[i];
		if (!lane_enter(l))
			continue;
		bool ok = l->pos < l->limit || (l->ring ? make_room(l) : lane_claim(l) && lane_open(l));
		if (ok)
			lane_write(l, l->pos, op, a, b, c, nargs);
		lane_leave(l);
		if (!ok)
			break;
		return;
	}
	__atomic_fetch_add(&g_lost, 1, __ATOMIC_RELAXED);
}

/* ---- the interposed functions ----------------------------------------- */

#define ENSURE_REAL(fallback)                                  \
	do {                                                   \
		if (UNLIKELY(!real.malloc)) {                  \
			if (g_resolving)                       \
				return fallback;               \
			resolve();                             \
		}                                              \
	} while (0)

API void *malloc(size_t n)
{
	ENSURE_REAL(boot_alloc(n, 16));
	void *p = real.malloc(n);
	rec(RAW_MALLOC, (uintptr_t)p, n, 0, 2);
	return p;
}

API void *calloc(size_t n, size_t m)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, m, &bytes))
		bytes = SIZE_MAX;
	if (UNLIKELY(!real.malloc)) {
		if (g_resolving) {
			void *b = boot_alloc(bytes, 16);
			if (b)
				memset(b, 0, bytes);
			return b;
		}
		resolve();
	}
	void *p = real.calloc(n, m);
	rec(RAW_CALLOC, (uintptr_t)p, bytes, 0, 2);
	return p;
}

API void free(void *p)
{
	if (UNLIKELY(!p || in_boot(p)))
		return;
	ENSURE_REAL();
	rec(RAW_FREE, (uintptr_t)p, 0, 0, 1);
	real.free(p);
}

/* realloc of a bootstrap block: move it to real memory. */
static void *boot_realloc(void *p, size_t n)
{
	void *q = malloc(n);
	if (q) {
		size_t old = boot_size(p);
		memcpy(q, p, old < n ? old : n);
	}
	return q;
}

API void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	if (in_boot(p))
		return g_resolving ? boot_alloc(n, 16) : boot_realloc(p, n);
	ENSURE_REAL(NULL);
	rec(RAW_OUT, (uintptr_t)p, n, 0, 2);
	void *q = real.realloc(p, n);
	if (n)	/* realloc(p, 0) frees p: RAW_OUT said so */
		rec(RAW_IN, (uintptr_t)q, 0, 0, 1);
	return q;
}

API void *reallocarray(void *p, size_t n, size_t m)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, m, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, bytes);
}

API void *memalign(size_t al, size_t n)
{
	ENSURE_REAL(boot_alloc(n, al));
	void *p = real.memalign(al, n);
	rec(RAW_ALIGNED, (uintptr_t)p, n, al, 3);
	return p;
}

API void *aligned_alloc(size_t al, size_t n)
{
	ENSURE_REAL(boot_alloc(n, al));
	void *p = real.aligned_alloc(al, n);
	rec(RAW_ALIGNED, (uintptr_t)p, n, al, 3);
	return p;
}

API int posix_memalign(void **out, size_t al, size_t n)
{
	ENSURE_REAL((*out = boot_alloc(n, al)) ? 0 : ENOMEM);
	int rc = real.posix_memalign(out, al, n);
	if (rc == EINVAL)
		return rc;	/* a bad alignment: no allocation was attempted */
	rec(RAW_ALIGNED, rc ? 0 : (uintptr_t)*out, n, al, 3);
	return rc;
}

API void *valloc(size_t n)
{
	ENSURE_REAL(boot_alloc(n, 4096));
	void *p = real.valloc(n);
	rec(RAW_ALIGNED, (uintptr_t)p, n, g_page, 3);
	return p;
}

/* pvalloc rounds the size up to whole pages: that is the object recorded. */
API void *pvalloc(size_t n)
{
	ENSURE_REAL(boot_alloc(n, 4096));
	void *p = real.pvalloc(n);
	size_t sz = n ? (n + g_page - 1) & ~(g_page - 1) : g_page;
	rec(RAW_ALIGNED, (uintptr_t)p, sz, g_page, 3);
	return p;
}

API size_t malloc_usable_size(void *p)
{
	if (p && in_boot(p))
		return boot_size(p);
	ENSURE_REAL(0);
	return real.malloc_usable_size ? real.malloc_usable_size(p) : 0;
}

/* ---- threads, fork, exit --------------------------------------------- */

/* A thread's TLS destructors run: close every lane it claimed. */
static void thread_exit_cb(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < LANES; i++)
		lane_close(&T.lane[i]);
}

/* The forking thread records nothing while fork runs (other libraries'
 * handlers may allocate in the child before ours runs): lane 0 busy sends
 * its calls to rec_nested, which T_OFF stops. Lane 0 may be busy already
 * (a fork from a handler that interrupted the recorder): it stays so. */
static void at_prepare(void)
{
	T.saved_state = T.state;
	T.state = T_OFF;
	T.saved_busy = T.lane[0].busy;
	T.lane[0].busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static void at_parent(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	T.lane[0].busy = T.saved_busy;
	T.state = T.saved_state;
}

/* The child shares the parent's rings: it must never write them. It
 * claims a slot of its own (--children) or stops recording. */
static void at_child(void)
{
	memset(&T, 0, sizeof T);
	g_state = g_state == ST_ON && g_hdr->children ? ST_UNINIT : ST_OFF;
	g_init_lock = 0;
	g_lost = 0;
}

/* Say how many calls went unrecorded (every lane of their thread busy). */
static void report_lost(void)
{
	uint64_t n = __atomic_load_n(&g_lost, __ATOMIC_RELAXED);
	char msg[160];
	if (!n)
		return;
	snprintf(msg, sizeof msg,
		 "spanlab-record: %llu calls made while the recorder was interrupted were not "
		 "recorded\n", (unsigned long long)n);
	say(msg);
}

/* Write RAW_END and stop: at exit, quick_exit, _exit, _Exit; a second call
 * does nothing. Records other threads write after it are dropped by the
 * merger (their numbers are larger). */
static void finish(void)
{
	if (g_state != ST_ON || getpid() != g_pid)
		return;	/* not recording, or a vfork child sharing our memory */
	rec(RAW_END, 0, 0, 0, 0);
	g_state = ST_OFF;
	T.state = T_OFF;
	T.lane[0].limit = NULL;
	wake_merger();
	report_lost();
}

/* at_quick_exit here, not at the lazy claim: registering takes libc's
 * exit-handler lock, which the first call of a process may hold. A forked
 * child inherits the registration. */
__attribute__((constructor)) static void rec_ctor(void)
{
	if (!real.malloc)
		resolve();
	at_quick_exit(finish);
	if (g_state == ST_UNINIT && T.state == T_NEW && lane_enter(&T.lane[0])) {
		thread_start();
		lane_leave(&T.lane[0]);
	}
}

/* Preloaded first, so finalized last: after the program's destructors. */
__attribute__((destructor)) static void rec_dtor(void)
{
	finish();
}

API void _exit(int code)
{
	finish();
	if (!real._exit)
		resolve();
	real._exit(code);
}

API void _Exit(int code)
{
	finish();
	if (!real._Exit)
		resolve();
	real._Exit(code);
}
