/*
 * Trace sources: open a path, detect its format from content, decompress
 * gzip through a `gzip -dc` child (gzip is Essential on Debian; the project
 * links no zlib), and deliver events through the format's decoder.
 *
 * Detection order: gzip magic (then detect again on the decompressed
 * bytes); the .slt magic; then the first 64 lines of text: a "# spanlab
 * text trace" header, mtrace's "= Start" or caller-prefixed lines, valgrind
 * "--PID--" call lines, Go "tracealloc(" lines, finally the text grammar.
 * A file that matches nothing is bad input, named with its first line.
 *
 * Also here: the window buffer and line reader shared by the text formats,
 * and the importers' common path through the address -> id map, which
 * implements the consistency report (slt.h).
 */
#define _GNU_SOURCE
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define WINDOW (1u << 16)
#define DETECT_BYTES 8192
#define DETECT_LINES 64

static const char *const format_names[SLT_FMT_NFORMATS] = {
	"auto", "slt", "text", "mtrace", "valgrind", "goalloc",
};

const char *slt_format_name(enum slt_format f)
{
	return f < SLT_FMT_NFORMATS ? format_names[f] : "?";
}

bool slt_format_parse(const char *name, enum slt_format *out)
{
	for (int f = 0; f < SLT_FMT_NFORMATS; f++)
		if (!strcmp(name, format_names[f])) {
			*out = (enum slt_format)f;
			return true;
		}
	*out = SLT_FMT_AUTO;
	return false;
}

/* ---- errors ------------------------------------------------------------ */

static int vfail(struct slt_source *s, const char *where, const char *fmt, va_list ap)
{
	if (s->failed)
		return -1;
	char msg[384];
	vsnprintf(msg, sizeof msg, fmt, ap);
	snprintf(s->err, sizeof s->err, "%s: %s%s: %s", s->path, where,
		 s->gzip ? " (decompressed)" : "", msg);
	s->failed = true;
	return -1;
}

int src_fail_line(struct slt_source *s, const char *fmt, ...)
{
	char where[48];
	snprintf(where, sizeof where, "line %llu", (unsigned long long)s->lineno);
	va_list ap;
	va_start(ap, fmt);
	vfail(s, where, fmt, ap);
	va_end(ap);
	return -1;
}

int src_fail_byte(struct slt_source *s, uint64_t off, const char *fmt, ...)
{
	char where[48];
	snprintf(where, sizeof where, "byte %llu", (unsigned long long)off);
	va_list ap;
	va_start(ap, fmt);
	vfail(s, where, fmt, ap);
	va_end(ap);
	return -1;
}

int src_oom_byte(struct slt_source *s, uint64_t off)
{
	if (!s->failed)
		s->oom = true;
	return src_fail_byte(s, off, "out of memory");
}

int src_oom_line(struct slt_source *s)
{
	if (!s->failed)
		s->oom = true;
	return src_fail_line(s, "out of memory");
}

/* ---- input ------------------------------------------------------------- */

static int reap_gzip(struct slt_source *s, bool check);

ssize_t src_fill(struct slt_source *s, size_t n)
{
	if (s->end - s->pos >= n || s->eof)
		return (ssize_t)(s->end - s->pos);
	if (s->pos) {
		memmove(s->buf, s->buf + s->pos, s->end - s->pos);
		s->base += s->pos;
		s->end -= s->pos;
		s->pos = 0;
	}
	while (s->end < n && !s->eof) {
		if (s->end == s->cap) {
			size_t ncap = s->cap * 2;
			uint8_t *nb = realloc(s->buf, ncap + 1);
			if (!nb)
				return src_oom_byte(s, s->base + s->end);
			s->buf = nb;
			s->cap = ncap;
		}
		ssize_t k = read(s->fd, s->buf + s->end, s->cap - s->end);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return src_fail_byte(s, s->base + s->end, "read error: %s", strerror(errno));
		if (k == 0) {
			s->eof = true;
			/* gzip's verdict before the last (maybe garbled) bytes
			 * are parsed: a corrupt or truncated file is that, not
			 * a malformed record or an empty file. */
			if (s->child && reap_gzip(s, true) < 0)
				return -1;
		}
		s->end += (size_t)k;
	}
	return (ssize_t)(s->end - s->pos);
}

int src_line(struct slt_source *s, char **line)
{
	size_t scanned = 0;
	for (;;) {
		uint8_t *start = s->buf + s->pos;
		size_t avail = s->end - s->pos;
		uint8_t *nl = memchr(start + scanned, '\n', avail - scanned);
		if (nl || (s->eof && avail)) {
			size_t len = nl ? (size_t)(nl - start) : avail;
			if (len > SRC_MAX_LINE) {	/* the window may hold more than one line's limit */
				s->lineno++;
				return src_fail_line(s, "line longer than %u bytes", SRC_MAX_LINE);
			}
			s->pos += nl ? len + 1 : len;
			if (len && start[len - 1] == '\r')
				len--;
			start[len] = 0;	/* the newline's byte, or the spare byte after end */
			s->lineno++;
			*line = (char *)start;
			return 1;
		}
		if (s->eof)
			return 0;
		if (avail > SRC_MAX_LINE) {
			s->lineno++;
			return src_fail_line(s, "line longer than %u bytes", SRC_MAX_LINE);
		}
		scanned = avail;
		if (src_fill(s, avail + WINDOW / 2) < 0)
			return -1;
	}
}

/* Start `gzip -dc -- path` with its stdout on a pipe; stderr to /dev/null
 * (its failure becomes our own one-line error, from the exit status). */
static int spawn_gzip(struct slt_source *s)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	char *argv[] = { "gzip", "-dc", "--", s->path, NULL };
	int rc = posix_spawnp(&s->child, "gzip", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc) {
		close(pfd[0]);
		errno = rc;
		return -1;
	}
	close(s->fd);
	s->fd = pfd[0];
	return 0;
}

/* Reap the gzip child; an error if it failed (corrupt or truncated). */
static int reap_gzip(struct slt_source *s, bool check)
{
	if (!s->child)
		return 0;
	int st;
	if (!check)
		kill(s->child, SIGTERM);
	while (waitpid(s->child, &st, 0) < 0 && errno == EINTR)
		;
	s->child = 0;
	if (check && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		return src_fail_byte(s, s->base + s->end,
				     "gzip -dc failed: corrupt or truncated compressed data");
	return 0;
}

/* ---- detection ---------------------------------------------------------- */

static enum slt_format detect_lines(struct slt_source *s)
{
	char tmp[DETECT_BYTES + 1];
	size_t n = s->end - s->pos < DETECT_BYTES ? s->end - s->pos : DETECT_BYTES;
	memcpy(tmp, s->buf + s->pos, n);
	tmp[n] = 0;
	if (!strncmp(tmp, "# spanlab text trace", 20))
		return SLT_FMT_TEXT;
	enum slt_format first_text = SLT_FMT_AUTO;
	char *save, *line = strtok_r(tmp, "\n", &save);
	for (int i = 0; line && i < DETECT_LINES; i++, line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = 0;
		if (mtrace_line_like(line))
			return SLT_FMT_MTRACE;
		if (valgrind_line_like(line))
			return SLT_FMT_VALGRIND;
		if (goalloc_line_like(line))
			return SLT_FMT_GOALLOC;
		if (first_text == SLT_FMT_AUTO && line[0] && line[0] != '#')
			first_text = text_line_like(line) ? SLT_FMT_TEXT : SLT_FMT_NFORMATS;
	}
	return first_text == SLT_FMT_TEXT ? SLT_FMT_TEXT : SLT_FMT_AUTO;
}

static enum slt_format detect(struct slt_source *s)
{
	if (s->end - s->pos >= SLT_MAGIC_LEN && !memcmp(s->buf + s->pos, SLT_MAGIC, SLT_MAGIC_LEN))
		return SLT_FMT_SLT;
	size_t avail = s->end - s->pos;
	if (avail >= 4 && !memcmp(s->buf + s->pos, "\x89SLT", 4))
		return SLT_FMT_SLT;	/* a damaged magic: let the reader say so */
	if (avail && avail < 4 && !memcmp(s->buf + s->pos, SLT_MAGIC, avail))
		return SLT_FMT_SLT;	/* a truncated one */
	return detect_lines(s);
}

/* ---- open / close ------------------------------------------------------ */

static int open_input(struct slt_source *s, char *err, size_t errlen)
{
	s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		snprintf(err, errlen, "%s: %s", s->path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(s->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory", s->path);
		return -1;
	}
	if (src_fill(s, 2) < 0)
		goto fail;
	if (s->end >= 2 && s->buf[0] == 0x1f && s->buf[1] == 0x8b) {
		if (spawn_gzip(s) < 0) {
			snprintf(err, errlen, "%s: cannot run gzip -dc: %s", s->path, strerror(errno));
			return -1;
		}
		s->gzip = true;
		s->pos = s->end = 0;
		s->base = 0;
		s->eof = false;
	}
	if (src_fill(s, DETECT_BYTES) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "%s", s->err);
	return -1;
}

static int (*const openers[SLT_FMT_NFORMATS])(struct slt_source *) = {
	[SLT_FMT_SLT] = slt_read_open,	   [SLT_FMT_TEXT] = text_open,
	[SLT_FMT_MTRACE] = mtrace_open,	   [SLT_FMT_VALGRIND] = valgrind_open,
	[SLT_FMT_GOALLOC] = goalloc_open,
};

static void first_line(const struct slt_source *s, char *out, size_t cap)
{
	size_t n = 0, avail = s->end - s->pos;
	while (n < avail && n + 1 < cap && s->buf[s->pos + n] != '\n') {
		unsigned char c = s->buf[s->pos + n];
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[n] = 0;
}

bool slt_path_streams(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

struct slt_source *slt_open(const char *path, const struct slt_open_opts *opts,
			    char *err, size_t errlen)
{
	struct slt_source *s = calloc(1, sizeof *s);
	bool oom = false;
	if (!s || !(s->buf = malloc(WINDOW + 1)) || !(s->path = strdup(path))) {
		if (s)
			free(s->buf);
		free(s);
		snprintf(err, errlen, "%s: out of memory", path);
		errno = ENOMEM;
		return NULL;
	}
	s->cap = WINDOW;
	s->fd = -1;
	s->strict = opts && opts->strict;
	if (open_input(s, err, errlen) < 0)
		goto fail;
	s->fmt = opts && opts->format ? opts->format : detect(s);
	if (s->fmt == SLT_FMT_AUTO) {
		char l[61];	/* a line is quoted up to 60 characters */
		first_line(s, l, sizeof l);
		if (s->end == s->pos)
			snprintf(err, errlen, "%s: empty file: not a trace", path);
		else
			snprintf(err, errlen, "%s: line 1: unknown trace format (starts \"%s\"); "
				 "use --from", path, l);
		goto fail;
	}
	if (slt_idmap_init(&s->map) < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		oom = true;
		goto fail;
	}
	if (openers[s->fmt](s) < 0) {
		snprintf(err, errlen, "%s", s->err);
		goto fail;
	}
	return s;
fail:
	oom = oom || s->oom;
	slt_close(s);
	errno = oom ? ENOMEM : EINVAL;
	return NULL;
}

int slt_next(struct slt_source *s, struct slt_event *ev)
{
	if (s->failed)
		return -1;
	int rc = s->next(s, ev);
	if (rc == 0 && s->child && reap_gzip(s, true) < 0)
		return -1;
	return rc;
}

void slt_close(struct slt_source *s)
{
	if (!s)
		return;
	reap_gzip(s, false);
	if (s->fd >= 0)
		close(s->fd);
	slt_idmap_destroy(&s->map);
	slt_ids_destroy(&s->ids);
	free(s->meta);
	free(s->buf);
	free(s->path);
	free(s);
}

const char *slt_error(const struct slt_source *s) { return s->err; }
bool slt_source_oom(const struct slt_source *s) { return s->oom; }
enum slt_format slt_source_format(const struct slt_source *s) { return s->fmt; }
bool slt_source_gzip(const struct slt_source *s) { return s->gzip; }
const char *slt_source_meta(const struct slt_source *s) { return s->meta ? s->meta : "{}"; }
uint32_t slt_source_tick_ns(const struct slt_source *s) { return s->tick_ns; }
bool slt_source_complete(const struct slt_source *s) { return s->complete; }
uint64_t slt_source_partial_bytes(const struct slt_source *s) { return s->partial_bytes; }
const struct slt_report *slt_source_report(const struct slt_source *s) { return &s->report; }
uint64_t slt_source_bytes(const struct slt_source *s) { return s->base + s->pos; }

uint64_t slt_source_max_ids(const struct slt_source *s)
{
	return s->fmt == SLT_FMT_SLT ? s->ids.next : s->map.ids.next;
}

bool slt_source_counts(const struct slt_source *s, uint64_t *events, uint64_t *max_ids)
{
	if (!s->counts_known)
		return false;
	*events = s->known_events;
	*max_ids = s->known_ids;
	return true;
}

/* ---- numbers ----------------------------------------------------------- */

const char *parse_hex(const char *p, uint64_t *v)
{
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	uint64_t x = 0;
	const char *start = p;
	for (;; p++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if ((*p | 32) >= 'a' && (*p | 32) <= 'f')
			d = (unsigned)((*p | 32) - 'a' + 10);
		else
			break;
		if (x >> 60)
			return NULL;
		x = x << 4 | d;
	}
	*v = x;
	return p == start ? NULL : p;
}

const char *parse_dec(const char *p, uint64_t *v)
{
	uint64_t x = 0;
	const char *start = p;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, (uint64_t)(*p - '0'), &x))
			return NULL;
	}
	*v = x;
	return p == start ? NULL : p;
}

/* ---- importers' common path ---------------------------------------------- */

static void push(struct slt_source *s, enum slt_op op, uint32_t tid, uint64_t id,
		 uint64_t size, uint64_t align)
{
	struct slt_event *e = &s->queue[(s->qhead + s->qlen++) % SRC_QUEUE];
	*e = (struct slt_event){ .op = op, .tid = tid, .id = id, .old_id = id, .size = size,
				 .align = align, .ts_ns = s->ts_ns };
}

int imp_pop(struct slt_source *s, struct slt_event *ev)
{
	if (!s->qlen)
		return 0;
	*ev = s->queue[s->qhead];
	s->qhead = (s->qhead + 1) % SRC_QUEUE;
	s->qlen--;
	return 1;
}

int imp_count(struct slt_source *s, uint64_t *field, const char *what)
{
	(*field)++;
	if (s->strict)
		return src_fail_line(s, "%s (--strict)", what);
	return 0;
}

static int oom(struct slt_source *s)
{
	return src_oom_line(s);
}

/* The address map holds keys below UINT64_MAX (it stores key + 1); no
 * object starts at the last byte of the address space, so that address is
 * never live and an allocation there is corrupt input. */

/* Free the object at key, queueing its FREE event; 0 if key is unknown. */
static int free_key(struct slt_source *s, uint64_t key, uint32_t tid)
{
	uint64_t id;
	if (key == UINT64_MAX || !slt_idmap_del(&s->map, key, &id))
		return 0;
	if (slt_ids_put(&s->map.ids, id) < 0)
		return oom(s);
	push(s, SLT_FREE, tid, id, 0, 0);
	return 1;
}

/* Key is being given to a new object: if it is still live, the trace lost a
 * free (or reuses the address without one): count it, free the old one. */
static int claim_key(struct slt_source *s, uint64_t key, uint32_t tid)
{
	uint64_t id;
	if (key == UINT64_MAX)
		return src_fail_line(s, "allocation at address 0x%llx out of range", (unsigned long long)key);
	if (!slt_idmap_get(&s->map, key, &id))
		return 0;
	if (imp_count(s, &s->report.double_allocs, "address allocated twice without a free") < 0)
		return -1;
	return free_key(s, key, tid) < 0 ? -1 : 0;
}

int imp_alloc(struct slt_source *s, enum slt_op op, uint64_t key, uint64_t size, uint64_t align,
	      uint32_t tid)
{
	if (claim_key(s, key, tid) < 0)
		return -1;
	uint64_t id = slt_ids_take(&s->map.ids);
	if (id == UINT64_MAX || slt_idmap_put(&s->map, key, id) < 0)
		return oom(s);
	push(s, op, tid, id, size, align);
	return 0;
}

int imp_free(struct slt_source *s, uint64_t key, uint32_t tid)
{
	int rc = free_key(s, key, tid);
	if (rc == 0)
		return imp_count(s, &s->report.unknown_frees, "free of a pointer never allocated");
	return rc < 0 ? -1 : 0;
}

uint64_t imp_realloc_early(struct slt_source *s, uint64_t oldkey, uint64_t size, uint32_t tid)
{
	uint64_t id;
	if (oldkey == UINT64_MAX || !slt_idmap_del(&s->map, oldkey, &id))
		return UINT64_MAX;
	push(s, SLT_REALLOC, tid, id, size, 0);
	return id;
}

int imp_realloc_late(struct slt_source *s, uint64_t newkey, uint64_t id, uint32_t tid)
{
	if (claim_key(s, newkey, tid) < 0 || slt_idmap_put(&s->map, newkey, id) < 0)
		return s->failed ? -1 : oom(s);
	return 0;
}

bool imp_live(struct slt_source *s, uint64_t key)
{
	uint64_t id;
	return key != UINT64_MAX && slt_idmap_get(&s->map, key, &id);
}

int imp_realloc(struct slt_source *s, uint64_t oldkey, uint64_t newkey, uint64_t size, uint32_t tid)
{
	if (!oldkey)
		return imp_alloc(s, SLT_MALLOC, newkey, size, 0, tid);
	if (size == 0 && !newkey) {
		if (imp_count(s, &s->report.realloc_zero, "realloc(p, 0)") < 0)
			return -1;
		return imp_free(s, oldkey, tid);
	}
	uint64_t id;
	if (oldkey == UINT64_MAX || !slt_idmap_del(&s->map, oldkey, &id)) {
		if (imp_count(s, &s->report.realloc_unknown, "realloc of a pointer never allocated") < 0)
			return -1;
		return imp_alloc(s, SLT_MALLOC, newkey, size, 0, tid);
	}
	if (imp_realloc_late(s, newkey, id, tid) < 0)
		return -1;
	push(s, SLT_REALLOC, tid, id, size, 0);
	return 0;
}

int imp_mark(struct slt_source *s, enum slt_op op, uint32_t tid)
{
	push(s, op, tid, 0, 0, 0);
	return 0;
}
