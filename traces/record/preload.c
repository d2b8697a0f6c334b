/*
 * The recorder: an LD_PRELOAD library that interposes the malloc family of
 * an unmodified program and writes every call as a fixed-layout raw record
 * into the calling thread's ring in memory shared with `spanlab record`,
 * which merges the rings into the .slt file (raw.h is the contract;
 * sim/record_merge.c the other side; docs/trace-format.md "Recording").
 *
 * Hot path (one event, measured in docs/trace-format.md): the real call,
 * then a bound check of the thread's ring position, a sequence number (a
 * plain increment while glibc says the process is single-threaded, an
 * atomic fetch-add after), the op, address and size stored, a TSC stamp
 * on every RAW_STAMP_EVERY-th event or after the merger's epoch changed,
 * and one release store of the ring's head. No lock, no hash, no varint,
 * no system call: those happen in the merger, on the other side of the
 * shared memory. The memory is spanlab record's, so if the program dies,
 * every record published here is already out of it. A full ring (the
 * merger is behind) makes the thread sleep on a futex until the merger
 * frees room; if spanlab record is gone, the thread stops recording.
 *
 * Ordering (raw.h "Order"): allocations are recorded after the real call,
 * frees before it; a realloc is one record after the call while the
 * process is single-threaded, else RAW_OUT before and RAW_IN after, so an
 * address is always released in the trace before another thread can be
 * handed it.
 *
 * Re-entrancy: the fast path clears the thread's limit while it writes,
 * so a call from a signal handler landing there takes the slow path and
 * passes through unrecorded instead of tearing the record; the slow path
 * marks the thread busy while it claims a ring or a process slot.
 *
 * Bootstrap: dlsym may allocate before the real functions are known; those
 * requests come from a static 64 KiB pool, are never recorded, and free()
 * ignores them.
 *
 * Processes: the process `spanlab record` started (SPANLAB_RECORD_PID)
 * claims the root process slot; if it execs another program, the new image
 * claims a new root slot and the merger restarts the trace. A forked child
 * stops recording, or (--children) claims a slot of its own; so do exec'd
 * descendants. exit() (our destructor), _exit and _Exit write RAW_END; a
 * program killed by a signal leaves its rings as they were, and the merger
 * writes them out up to the last published record.
 */
#define _GNU_SOURCE
#include "raw.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
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

enum { ST_UNINIT, ST_ON, ST_OFF };	/* the process */
enum { T_NEW, T_ON, T_BUSY, T_OFF };	/* a thread */

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
static pid_t g_pid;			/* the process that owns g_proc */
static pthread_key_t g_key;
static bool g_registered;		/* key and fork handlers exist in this image */
static int g_resolving;
static size_t g_page;

/* The calling thread's ring. Hot fields first. */
struct tstate {
	uint64_t *pos;		/* where the next record goes */
	uint64_t *limit;	/* the fast path runs while pos < limit; NULL: slow path */
	uint64_t *base;		/* the ring's first word */
	uint64_t lap;		/* ring position of base: head = lap + (pos - base) */
	struct raw_ring *ring;
	uint32_t countdown;	/* events until the next TSC stamp */
	uint32_t epoch;		/* the merger's epoch at the last stamp (even) */
	uint8_t state;		/* T_NEW, T_ON, T_BUSY, T_OFF */
	uint8_t saved_state;	/* across fork */
	uint64_t *saved_limit;
};
static TLS struct tstate T;

static void say(const char *msg)
{
	ssize_t rc = write(2, msg, strlen(msg));
	(void)rc;
}

/* ---- the hot path ------------------------------------------------------ */

/* The next sequence number. __libc_single_threaded is cleared by the
 * thread that creates a second thread before that thread runs, so while it
 * is set nothing can race the plain increment. */
INLINE uint64_t next_seq(void)
{
	if (__libc_single_threaded) {
		uint64_t s = __atomic_load_n(&g_seq, __ATOMIC_RELAXED);
		__atomic_store_n(&g_seq, s + 1, __ATOMIC_RELAXED);
		return s;
	}
	return __atomic_fetch_add(&g_seq, 1, __ATOMIC_RELAXED);
}

/* Write one record at w (room for RAW_MAXREC words is guaranteed below
 * lim) and publish it. */
INLINE void rec_body(uint64_t *w, uint64_t *lim, unsigned op, uint64_t a, uint64_t b, uint64_t c,
		     unsigned nargs)
{
	T.limit = NULL;	/* a signal handler's call now passes through */
	uint64_t seq = next_seq();
	unsigned n = 1 + nargs;
	if (nargs > 0)
		w[1] = a;
	if (nargs > 1)
		w[2] = b;
	if (nargs > 2)
		w[3] = c;
	uint32_t e = *g_epoch;
	if (UNLIKELY(e != T.epoch) || UNLIKELY(--T.countdown == 0)) {
		w[n++] = __rdtsc();
		op |= RAW_TIME;
		T.countdown = RAW_STAMP_EVERY;
		T.epoch = e & ~1u;	/* odd (the merger sleeps): stamp every event */
	}
	w[0] = seq << 8 | op;
	w += n;
	T.pos = w;
	T.limit = lim;
	__atomic_store_n(&T.ring->head, T.lap + (uint64_t)(w - T.base), __ATOMIC_RELEASE);
}

static void rec_slow(unsigned op, uint64_t a, uint64_t b, uint64_t c, unsigned nargs);

/* Record an event: the fast path, or the slow one (no room, a new thread,
 * not recording, re-entered). */
INLINE void rec(unsigned op, uint64_t a, uint64_t b, uint64_t c, unsigned nargs)
{
	uint64_t *w = T.pos, *lim = T.limit;
	if (UNLIKELY((uintptr_t)w >= (uintptr_t)lim)) {
		rec_slow(op, a, b, c, nargs);
		return;
	}
	rec_body(w, lim, op, a, b, c, nargs);
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

static void json_str(char *out, size_t cap, size_t *n, const char *s)
{
	if (*n + 2 >= cap)
		return;
	out[(*n)++] = '"';
	*n += slt_json_escape(out + *n, cap - *n - 1, s);
	if (*n + 2 < cap) {
		out[(*n)++] = '"';
		out[*n] = 0;
	} else {
		*n = cap - 1;
	}
}

static void json_raw(char *out, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(out + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n = *n + (size_t)k < cap ? *n + (size_t)k : cap - 1;
}

/* The metadata: program, argv (from /proc/self/cmdline), pid, ppid, start
 * time (UTC), recorder version, host (system and machine, not its name). */
static size_t build_meta(char *out, size_t cap)
{
	static char cmd[8192];
	size_t n = 0, len = 0;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t k = read(fd, cmd, sizeof cmd - 1);
		len = k > 0 ? (size_t)k : 0;
		close(fd);
	}
	cmd[len] = 0;
	json_raw(out, cap, &n, "{\"program\":");
	json_str(out, cap, &n, cmd);
	json_raw(out, cap, &n, ",\"argv\":[");
	for (size_t i = 0; i < len; i += strlen(cmd + i) + 1) {
		if (i)
			json_raw(out, cap, &n, ",");
		json_str(out, cap, &n, cmd + i);
	}
	struct timespec rt;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &rt);
	gmtime_r(&rt.tv_sec, &tm);
	struct utsname u;
	uname(&u);
	json_raw(out, cap, &n,
		 "],\"pid\":%d,\"ppid\":%d,\"start_time\":\"%04d-%02d-%02dT%02d:%02d:%02dZ\","
		 "\"recorder\":\"spanlab-record 2\",\"host\":\"%s %s\"}",
		 (int)getpid(), (int)getppid(), tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, u.sysname, u.machine);
	return n;
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

/* ---- the thread's ring ------------------------------------------------- */

/* Set T.limit from the ring's state: room for records up to the ring's
 * end, the merger's tail and a quarter ring (so this runs, and looks
 * whether the merger sleeps, at least every quarter ring). Pads and waits
 * as needed. Returns false if recording stopped. */
static bool make_room(void)
{
	uint64_t n = g_hdr->ring_words;
	for (unsigned waits = 0;; waits++) {
		uint64_t head = T.lap + (uint64_t)(T.pos - T.base);
		uint64_t idx = head & (n - 1), to_end = n - idx;
		uint64_t tail = __atomic_load_n(&T.ring->tail, __ATOMIC_ACQUIRE);
		uint64_t free_words = n - (head - tail);
		if (g_state != ST_ON)
			return false;
		if (free_words <= n - n / 4) {	/* a quarter full: is the merger awake? */
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (__atomic_load_n(&g_hdr->sleeping, __ATOMIC_RELAXED))
				wake_merger();
		}
		if (to_end <= RAW_MAXREC && free_words >= to_end) {
			T.base[idx] = RAW_PAD;	/* the rest of this lap is unused */
			T.pos = T.base;
			T.lap = head + to_end;
			__atomic_store_n(&T.ring->head, T.lap, __ATOMIC_RELEASE);
			continue;
		}
		uint64_t room = free_words < to_end ? free_words : to_end;
		if (room > n / 4)
			room = n / 4;
		if (room > RAW_MAXREC) {
			T.limit = T.pos + (room - RAW_MAXREC);
			return true;
		}
		/* Full: the merger is behind. Sleep on the ring's tail until it
		 * moves (the merger wakes us); give up if the merger is gone. */
		if (waits % 16 == 15 && kill(g_hdr->merger_pid, 0) < 0 && errno == ESRCH) {
			say("spanlab-record: the recorder is gone; recording stopped\n");
			g_state = ST_OFF;
			return false;
		}
		__atomic_store_n(&T.ring->waiting, 1, __ATOMIC_SEQ_CST);
		uint64_t again = __atomic_load_n(&T.ring->tail, __ATOMIC_SEQ_CST);
		if (again == tail) {
			wake_merger();
			struct timespec ts = { 0, WAIT_NS };
			syscall(SYS_futex, &T.ring->tail, FUTEX_WAIT, (uint32_t)tail, &ts, NULL, 0);
		}
		__atomic_store_n(&T.ring->waiting, 0, __ATOMIC_RELAXED);
	}
}

/* Claim a ring for the calling thread and write its THREAD_START. */
static bool thread_start(void)
{
	if (g_state == ST_UNINIT)
		proc_init();
	if (g_state != ST_ON)
		return false;
	struct raw_ring *r = NULL;
	uint32_t i = RAW_NRINGS;
	/* All rings taken: the merger hands back those of exited threads at
	 * its next check (10 ms), so wait for one, up to a second. */
	for (int tries = 0; i == RAW_NRINGS && tries < 1000; tries++) {
		if (tries) {
			wake_merger();
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
		for (i = 0; i < RAW_NRINGS; i++) {
			r = &g_hdr->rings[i];
			uint32_t want = RAW_FREE_SLOT;
			if (__atomic_load_n(&r->state, __ATOMIC_RELAXED) == RAW_FREE_SLOT &&
			    __atomic_compare_exchange_n(&r->state, &want, RAW_CLAIMED, false,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				break;
		}
	}
	if (i == RAW_NRINGS) {
		say("spanlab-record: more threads than rings; this thread is not recorded\n");
		return false;
	}
	r->proc = g_proc;
	r->proc_gen = g_hdr->procs[g_proc].gen;
	r->ostid = (int32_t)syscall(SYS_gettid);
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	uint64_t idx = head & (g_hdr->ring_words - 1);
	T.ring = r;
	T.base = raw_ring_data(g_hdr, i);
	T.pos = T.base + idx;
	T.lap = head - idx;
	T.countdown = 1;	/* stamp the first event */
	__atomic_store_n(&r->state, RAW_LIVE, __ATOMIC_RELEASE);
	__atomic_fetch_add(&g_hdr->claims, 1, __ATOMIC_RELEASE);
	pthread_setspecific(g_key, (void *)1);
	if (!make_room())
		return false;
	rec_body(T.pos, T.limit, RAW_THREAD_START, 0, 0, 0, 0);
	return true;
}

static __attribute__((noinline)) void rec_slow(unsigned op, uint64_t a, uint64_t b, uint64_t c,
					       unsigned nargs)
{
	if (T.state == T_ON && T.limit) {
		T.state = T_BUSY;
		bool ok = make_room();
		T.state = ok ? T_ON : T_OFF;
		if (!ok) {
			T.limit = NULL;
			return;
		}
	} else if (T.state == T_NEW && real.malloc) {
		T.state = T_BUSY;
		bool ok = thread_start();
		T.state = ok ? T_ON : T_OFF;
		if (!ok) {
			T.limit = NULL;
			return;
		}
	} else {
		return;	/* not recording, or re-entered */
	}
	rec_body(T.pos, T.limit, op, a, b, c, nargs);
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
	if (__libc_single_threaded) {
		void *q = real.realloc(p, n);
		rec(RAW_REALLOC, (uintptr_t)p, (uintptr_t)q, n, 3);
		return q;
	}
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

/* A thread's TLS destructors run: write THREAD_EXIT and tell the merger
 * the ring will be free once the thread is gone (it checks its tid). The
 * thread keeps the ring for whatever it frees after this. */
static void thread_exit_cb(void *arg)
{
	(void)arg;
	if (T.state != T_ON || !T.ring)
		return;
	rec(RAW_THREAD_EXIT, 0, 0, 0, 0);
	__atomic_store_n(&T.ring->state, RAW_EXITED, __ATOMIC_RELEASE);
	__atomic_fetch_add(&g_hdr->claims, 1, __ATOMIC_RELEASE);
}

/* The forking thread records nothing while fork runs (other libraries'
 * handlers may allocate in the child before ours runs). */
static void at_prepare(void)
{
	T.saved_state = T.state;
	T.saved_limit = T.limit;
	T.state = T_BUSY;
	T.limit = NULL;
}

static void at_parent(void)
{
	T.state = T.saved_state;
	T.limit = T.saved_limit;
}

/* The child shares the parent's rings: it must never write them. It
 * claims a slot of its own (--children) or stops recording. */
static void at_child(void)
{
	memset(&T, 0, sizeof T);
	g_state = g_state == ST_ON && g_hdr->children ? ST_UNINIT : ST_OFF;
	g_init_lock = 0;
}

/* Write RAW_END and stop: at exit, _exit, _Exit. Records other threads
 * write after it are dropped by the merger (their numbers are larger). */
static void finish(void)
{
	if (g_state != ST_ON || getpid() != g_pid)
		return;	/* not recording, or a vfork child sharing our memory */
	rec(RAW_END, 0, 0, 0, 0);
	g_state = ST_OFF;
	T.state = T_OFF;
	T.limit = NULL;
	wake_merger();
}

__attribute__((constructor)) static void rec_ctor(void)
{
	if (!real.malloc)
		resolve();
	if (g_state == ST_UNINIT && T.state == T_NEW) {
		T.state = T_BUSY;
		bool ok = thread_start();
		T.state = ok ? T_ON : T_OFF;
		if (!ok)
			T.limit = NULL;
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
