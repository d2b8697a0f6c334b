/*
 * The recorder: an LD_PRELOAD library that interposes the malloc family of
 * an unmodified program and writes a .slt trace (`spanlab record` sets it
 * up; docs/trace-format.md "Recording" describes the environment).
 *
 * Hot path (one event): the real call, then under one global spinlock the
 * thread's dense id, a timestamp (rdtsc scaled to ns), the address -> id map
 * (slt_idmap, mmap'd, never malloc) and the .slt encoding into the writer's
 * 64 KiB buffer, which is written out when full, every 100 ms of trace time,
 * and at exit. The lock gives the one global order a replay follows; the
 * map needs one critical section anyway, so the records are encoded inside
 * it into one buffer rather than per-thread buffers that would need merging
 * (see docs/trace-format.md "Recording" for the measured cost).
 *
 * Ordering: allocations are recorded after the real call returns, frees
 * before the real free, so an address is always freed in the trace before
 * another thread can be handed it. realloc unmaps the old address before
 * the real call (keeping its id reserved) and maps the new one after; a
 * failed realloc restores the mapping.
 *
 * Bootstrap: dlsym may allocate before the real functions are known; those
 * requests come from a static 64 KiB pool, are never recorded, and free()
 * ignores them. Re-entrant calls (a thread already inside the recorder)
 * are passed through via a thread-local flag.
 *
 * Processes: the process `spanlab record` started (SPANLAB_RECORD_PID)
 * writes the output; if it execs another program (a shell wrapper, a pyenv
 * shim), the new image starts the trace again. Forked children and exec'd programs
 * either write their own OUT-base.PID.slt (SPANLAB_RECORD_CHILDREN=1) or
 * stop recording; a forked child never writes the parent's buffer. exit()
 * (our destructor), _exit and _Exit write the END record; a program killed
 * by a signal leaves a trace readable up to the last flush.
 */
#define _GNU_SOURCE
#include "slt.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#define API __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#define FLUSH_NS 100000000ull		/* write the buffer at least every 100 ms */
#define BOOT_POOL (64 * 1024)		/* dlsym needs a few hundred bytes */

enum { ST_UNINIT, ST_ON, ST_OFF };

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
static int g_lock;			/* the recorder's one spinlock */
static int g_fd = -1;
static struct slt_writer g_w;
static struct slt_idmap g_map;
static uint32_t g_nthreads;
static uint64_t g_tsc0, g_mult;		/* ns = (tsc - tsc0) * mult >> 32 */
static uint64_t g_next_flush;
static pthread_key_t g_key;
static int g_resolving;
static size_t g_page;
static pid_t g_pid;			/* the process writing g_fd */

struct tstate {
	uint32_t tid;
	uint8_t busy;		/* inside the recorder: pass calls through */
	uint8_t known;		/* tid assigned and THREAD_START written */
};
static TLS struct tstate T;

/* ---- small helpers --------------------------------------------------- */

/* glibc clears __libc_single_threaded before a second thread can run (any
 * creation path, pthread_create or thrd_create), so while it is set no
 * other thread can race us and the locked exchange (~9 ns here) is skipped. */
static void lock(void)
{
	if (__libc_single_threaded) {
		g_lock = 1;
		return;
	}
	while (__atomic_exchange_n(&g_lock, 1, __ATOMIC_ACQUIRE)) {
		for (int i = 0; __atomic_load_n(&g_lock, __ATOMIC_RELAXED); i++) {
			if (i < 64)
				_mm_pause();
			else
				sched_yield();
		}
	}
}

static void unlock(void)
{
	__atomic_store_n(&g_lock, 0, __ATOMIC_RELEASE);
}

static void say(const char *msg)
{
	ssize_t rc = write(2, msg, strlen(msg));
	(void)rc;
}

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static inline uint64_t now_ns(void)
{
	return (uint64_t)(((unsigned __int128)(__rdtsc() - g_tsc0) * g_mult) >> 32);
}

/* tsc -> ns scale, measured against CLOCK_MONOTONIC over 2 ms. */
static void calibrate(void)
{
	uint64_t n0 = mono_ns(), t0 = __rdtsc(), n1, t1;
	do {
		n1 = mono_ns();
		t1 = __rdtsc();
	} while (n1 - n0 < 2000000);
	g_mult = (uint64_t)(((unsigned __int128)(n1 - n0) << 32) / (t1 - t0 ? t1 - t0 : 1));
	g_tsc0 = t1;	/* the trace starts after calibration */
}

/* ---- bootstrap pool -------------------------------------------------- */

static _Alignas(64) unsigned char boot_pool[BOOT_POOL];
static size_t boot_used;

static bool in_boot(const void *p)
{
	return (const unsigned char *)p >= boot_pool && (const unsigned char *)p < boot_pool + BOOT_POOL;
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

/* ---- output setup ---------------------------------------------------- */

static int sink(void *ctx, const void *buf, size_t len)
{
	return slt_sink_fd(ctx, buf, len);
}

/* Append to out[*n] a JSON string of s (escaped) */
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
static void build_meta(char *out, size_t cap)
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
		 "\"recorder\":\"spanlab-record 1\",\"host\":\"%s %s\"}",
		 (int)getpid(), (int)getppid(), tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, u.sysname, u.machine);
}

/* OUT "x.slt" -> "x.PID.slt" (then "x.PID-K.slt" if taken). */
static int open_child_file(const char *out)
{
	char path[4096], base[4000];
	size_t n = strlen(out);
	if (n >= sizeof base)
		return -1;
	memcpy(base, out, n + 1);
	if (n > 4 && !strcmp(base + n - 4, ".slt"))
		base[n - 4] = 0;
	for (int k = 0; k < 10; k++) {
		if (k)
			snprintf(path, sizeof path, "%s.%d-%d.slt", base, (int)getpid(), k);
		else
			snprintf(path, sizeof path, "%s.%d.slt", base, (int)getpid());
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

/* Which file this process writes, or -1: not recording. */
static int open_output(bool after_fork)
{
	const char *out = getenv("SPANLAB_RECORD_OUT");
	const char *pid = getenv("SPANLAB_RECORD_PID");
	const char *kids = getenv("SPANLAB_RECORD_CHILDREN");
	bool follow = kids && kids[0] == '1';
	if (!out || !*out)
		return -1;
	/* The recorded process, or a program it exec'd (same pid): the last
	 * image wins, since an image replaced by exec never finished its trace. */
	if (!after_fork && pid && atol(pid) == (long)getpid())
		return open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	return follow ? open_child_file(out) : -1;
}

static void thread_exit_cb(void *arg);
static void at_prepare(void);
static void at_parent(void);
static void at_child(void);

/* Start writing a trace to fd. Called with the lock held (or before any
 * other thread can exist). */
static void start_trace(int fd)
{
	static char meta[12288];
	build_meta(meta, sizeof meta);
	const char *tick = getenv("SPANLAB_RECORD_TICK_NS");
	uint32_t tick_ns = tick ? (uint32_t)atol(tick) : 0;
	g_fd = fd;
	g_pid = getpid();
	g_nthreads = 0;
	T.known = 0;
	if (slt_idmap_init(&g_map) < 0 ||
	    slt_writer_init(&g_w, sink, (void *)(intptr_t)fd, tick_ns, meta) < 0) {
		say("spanlab-record: cannot start the trace; not recording\n");
		close(fd);
		g_state = ST_OFF;
		return;
	}
	g_next_flush = FLUSH_NS;
	g_state = ST_ON;
}

static void rec_init(void)
{
	T.busy = 1;
	lock();
	if (g_state == ST_UNINIT) {
		int fd = open_output(false);
		g_state = ST_OFF;
		if (fd >= 0) {
			calibrate();
			pthread_key_create(&g_key, thread_exit_cb);
			pthread_atfork(at_prepare, at_parent, at_child);
			start_trace(fd);
		}
	}
	unlock();
	T.busy = 0;
}

/* ---- recording (lock held, g_state == ST_ON) -------------------------- */

static void stop_on_error(void)
{
	say("spanlab-record: cannot write the trace; recording stopped\n");
	g_state = ST_OFF;
}

/* The calling thread's dense id; its first event writes THREAD_START. */
static uint32_t this_thread(uint64_t ts)
{
	if (LIKELY(T.known))
		return T.tid;
	T.tid = g_nthreads++;
	T.known = 1;
	if (T.tid)
		pthread_setspecific(g_key, (void *)1);
	slt_write_mark(&g_w, SLT_THREAD_START, T.tid, ts);
	return T.tid;
}

static void after_event(uint64_t ts)
{
	if (UNLIKELY(ts >= g_next_flush)) {
		g_next_flush = ts + FLUSH_NS;
		slt_writer_flush(&g_w);
	}
	if (UNLIKELY(g_w.err))
		stop_on_error();
}

static bool enter(void)
{
	if (UNLIKELY(g_state == ST_UNINIT) && !T.busy)
		rec_init();
	if (g_state != ST_ON || T.busy)
		return false;
	T.busy = 1;
	lock();
	if (g_state == ST_ON)
		return true;
	unlock();
	T.busy = 0;
	return false;
}

static void leave(void)
{
	unlock();
	T.busy = 0;
}

/* A new object at p (NULL: the call failed). */
static void rec_alloc(enum slt_op op, void *p, uint64_t size, uint64_t align)
{
	if (!enter())
		return;
	uint64_t ts = now_ns(), id;
	uint32_t tid = this_thread(ts);
	if (UNLIKELY(!p)) {
		g_w.report.failed_allocs++;
	} else {
		if (UNLIKELY(slt_idmap_del(&g_map, (uintptr_t)p, &id))) {
			g_w.report.double_allocs++;
			slt_write_free(&g_w, tid, ts, id);
		}
		id = slt_write_alloc(&g_w, op, tid, ts, size, align);
		if (UNLIKELY(id == UINT64_MAX || slt_idmap_put(&g_map, (uintptr_t)p, id) < 0))
			g_w.err = ENOMEM;
	}
	after_event(ts);
	leave();
}

static void rec_free(void *p)
{
	if (!enter())
		return;
	uint64_t ts = now_ns(), id;
	uint32_t tid = this_thread(ts);
	if (LIKELY(slt_idmap_del(&g_map, (uintptr_t)p, &id)))
		slt_write_free(&g_w, tid, ts, id);
	else
		g_w.report.unknown_frees++;
	after_event(ts);
	leave();
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
	rec_alloc(SLT_MALLOC, p, n, 0);
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
	rec_alloc(SLT_CALLOC, p, bytes, 0);
	return p;
}

API void free(void *p)
{
	if (UNLIKELY(!p || in_boot(p)))
		return;
	ENSURE_REAL();
	rec_free(p);
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
	if (!enter())
		return real.realloc(p, n);
	uint64_t ts = now_ns(), id;
	uint32_t tid = this_thread(ts);
	bool known = slt_idmap_del(&g_map, (uintptr_t)p, &id);
	if (!n) {	/* glibc frees p and returns NULL */
		g_w.report.realloc_zero++;
		if (known)
			slt_write_free(&g_w, tid, ts, id);
		after_event(ts);
	}
	leave();
	void *q = real.realloc(p, n);
	if (!n)
		return q;
	if (!enter())
		return q;
	ts = now_ns();
	if (!q) {
		g_w.report.failed_allocs++;
		if (known)
			slt_idmap_put(&g_map, (uintptr_t)p, id);
	} else if (known) {
		uint64_t other;
		if (UNLIKELY(slt_idmap_del(&g_map, (uintptr_t)q, &other))) {
			g_w.report.double_allocs++;
			slt_write_free(&g_w, tid, ts, other);
		}
		slt_write_realloc(&g_w, tid, ts, id, n);
		slt_idmap_put(&g_map, (uintptr_t)q, id);
	} else {
		g_w.report.realloc_unknown++;
		leave();
		rec_alloc(SLT_MALLOC, q, n, 0);
		return q;
	}
	after_event(ts);
	leave();
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

/* The recorded alignment: a power of two; glibc rounds others up. */
static uint64_t pow2_align(size_t al)
{
	if (al <= 1)
		return 1;
	uint64_t p2 = 1ull << (64 - __builtin_clzll(al - 1));
	if (p2 != al && g_state == ST_ON) {
		lock();
		g_w.report.lost_alignment++;
		unlock();
	}
	return p2;
}

API void *memalign(size_t al, size_t n)
{
	ENSURE_REAL(boot_alloc(n, al));
	void *p = real.memalign(al, n);
	rec_alloc(SLT_ALIGNED, p, n, pow2_align(al));
	return p;
}

API void *aligned_alloc(size_t al, size_t n)
{
	ENSURE_REAL(boot_alloc(n, al));
	void *p = real.aligned_alloc(al, n);
	rec_alloc(SLT_ALIGNED, p, n, pow2_align(al));
	return p;
}

API int posix_memalign(void **out, size_t al, size_t n)
{
	ENSURE_REAL((*out = boot_alloc(n, al)) ? 0 : ENOMEM);
	int rc = real.posix_memalign(out, al, n);
	if (rc == EINVAL)
		return rc;	/* a bad alignment: no allocation was attempted */
	rec_alloc(SLT_ALIGNED, rc ? NULL : *out, n, al);
	return rc;
}

API void *valloc(size_t n)
{
	ENSURE_REAL(boot_alloc(n, 4096));
	void *p = real.valloc(n);
	rec_alloc(SLT_ALIGNED, p, n, g_page);
	return p;
}

/* pvalloc rounds the size up to whole pages: that is the object recorded. */
API void *pvalloc(size_t n)
{
	ENSURE_REAL(boot_alloc(n, 4096));
	void *p = real.pvalloc(n);
	size_t sz = n ? (n + g_page - 1) & ~(g_page - 1) : g_page;
	rec_alloc(SLT_ALIGNED, p, sz, g_page);
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

static void thread_exit_cb(void *arg)
{
	(void)arg;
	if (!enter())
		return;
	slt_write_mark(&g_w, SLT_THREAD_EXIT, T.tid, now_ns());
	leave();
}

static void at_prepare(void)
{
	lock();
}

static void at_parent(void)
{
	unlock();
}

/* The child owns a copy of the parent's buffer and map: it must never
 * write them. It starts its own trace (fresh map: objects inherited from
 * the parent are unknown to it) or stops recording. */
static void at_child(void)
{
	if (g_state == ST_ON) {
		close(g_fd);
		g_fd = -1;
		slt_writer_discard(&g_w);
		slt_idmap_destroy(&g_map);
		g_state = ST_OFF;
		int fd = open_output(true);
		if (fd >= 0)
			start_trace(fd);
	}
	unlock();
}

/* Write the END record and close: at exit, _exit, _Exit. */
static void finish(void)
{
	if (g_state != ST_ON || getpid() != g_pid)
		return;	/* not recording, or a vfork child sharing our memory */
	T.busy = 1;
	lock();
	if (g_state == ST_ON) {
		g_state = ST_OFF;
		if (slt_writer_finish(&g_w) < 0)
			say("spanlab-record: cannot write the end of the trace\n");
		close(g_fd);
		g_fd = -1;
	}
	unlock();
	T.busy = 0;
}

__attribute__((constructor)) static void rec_ctor(void)
{
	if (!real.malloc)
		resolve();
	if (g_state == ST_UNINIT)
		rec_init();
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
