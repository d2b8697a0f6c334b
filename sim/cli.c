/* Shared CLI helpers: the exit-code and message conventions of cli.h. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_parse_from(const char *cmd, const char *name, enum slt_format *out)
{
	if (slt_format_parse(name, out))
		return 0;
	return cli_usage(cmd, "unknown trace format '%s'", name);
}

void cli_one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void vmsg(const char *cmd, const char *fmt, va_list ap)
{
	char msg[4096];
	vsnprintf(msg, sizeof msg, fmt, ap);
	cli_one_line(msg);
	if (cmd)
		fprintf(stderr, "spanlab %s: %s\n", cmd, msg);
	else
		fprintf(stderr, "spanlab: %s\n", msg);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, cmd ? "Try 'spanlab %s --help'.\n" : "Try 'spanlab --help'.\n", cmd);
	return SL_EXIT_USAGE;
}

int cli_bad_input(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(cmd, fmt, ap);
	va_end(ap);
	return SL_EXIT_USAGE;
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(cmd, fmt, ap);
	va_end(ap);
	return SL_EXIT_FAIL;
}

int cli_error(const char *cmd, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(cmd, fmt, ap);
	va_end(ap);
	return code == SL_EXIT_USAGE ? SL_EXIT_USAGE : SL_EXIT_FAIL;
}

int cli_trace_code(const struct slt_source *s)
{
	bool oom = s ? slt_source_oom(s) : errno == ENOMEM;
	return oom ? SL_EXIT_FAIL : SL_EXIT_USAGE;
}

/* Where writing `path` lands, as open(O_CREAT) has it: through symbolic
 * links (a relative target from its link's folder), also to a file that
 * does not exist yet. 0, or -1 with errno (ELOOP, ENAMETOOLONG). */
static int follow_links(const char *path, char *out, size_t len)
{
	char target[4096];
	struct stat st;
	if (snprintf(out, len, "%s", path) >= (int)len)
		return errno = ENAMETOOLONG, -1;
	for (int hops = 0; lstat(out, &st) == 0 && S_ISLNK(st.st_mode); hops++) {
		ssize_t n = hops < 40 ? readlink(out, target, sizeof target - 1) : -1;
		if (n < 0)
			return errno = hops < 40 ? errno : ELOOP, -1;
		target[n] = 0;
		char *slash = strrchr(out, '/');
		if (target[0] == '/' || !slash) {
			memmove(out, target, (size_t)n + 1);
		} else if ((size_t)(slash + 1 - out) + (size_t)n < len) {
			memcpy(slash + 1, target, (size_t)n + 1);
		} else {
			return errno = ENAMETOOLONG, -1;
		}
	}
	return 0;
}

int cli_out_open(struct cli_out *o, const char *path)
{
	struct stat st;
	memset(o, 0, sizeof *o);
	if (cli_out_is_stdout(path)) {
		o->f = stdout;
		o->direct = o->std = true;
		snprintf(o->dest, sizeof o->dest, "stdout");
		return 0;
	}
	o->direct = stat(path, &st) == 0 && !S_ISREG(st.st_mode);
	if (o->direct) {
		snprintf(o->dest, sizeof o->dest, "%s", path);
		o->f = fopen(path, "wb");
		return o->f ? 0 : -1;
	}
	if (follow_links(path, o->dest, sizeof o->dest))
		return -1;
	snprintf(o->tmp, sizeof o->tmp, "%s.tmp-%d", o->dest, (int)getpid());
	o->f = fopen(o->tmp, "wb");
	return o->f ? 0 : -1;
}

int cli_out_commit(struct cli_out *o)
{
	if (o->std) {
		o->f = NULL;
		if (fflush(stdout) == 0 && !ferror(stdout))
			return 0;
		if (!errno)
			errno = EIO;
		return -1;
	}
	int rc = fclose(o->f);
	o->f = NULL;
	if (rc == 0 && (o->direct || rename(o->tmp, o->dest) == 0))
		return 0;
	int e = errno;
	cli_out_abort(o);
	errno = e;
	return -1;
}

void cli_out_abort(struct cli_out *o)
{
	if (o->std) {
		o->f = NULL;
		return;
	}
	if (o->f)
		fclose(o->f);
	o->f = NULL;
	if (!o->direct)
		unlink(o->tmp);
}

int cli_flush_stdout(const char *cmd)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	return cli_fail(cmd, "writing to stdout failed: %s", strerror(errno ? errno : EIO));
}

bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	if (!s || !*s)
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool cli_parse_double(const char *s, double *out)
{
	char *end;
	if (!s || !*s)
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

bool cli_parse_bytes(const char *s, uint64_t *out)
{
	static const struct { const char *sfx; unsigned shift; } units[] = {
		{ "", 0 }, { "B", 0 }, { "K", 10 }, { "KiB", 10 }, { "M", 20 }, { "MiB", 20 },
		{ "G", 30 }, { "GiB", 30 },
	};
	char *end;
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return false;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcasecmp(end, units[i].sfx) == 0) {
			if (v > (UINT64_MAX >> units[i].shift))
				return false;
			*out = (uint64_t)v << units[i].shift;
			return true;
		}
	}
	return false;
}

char *cli_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n > CLI_MAX_FILE) {
			errno = EFBIG;
			goto fail;
		}
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap);
			if (!nb)
				goto fail;
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0) {
			if (ferror(f))
				goto fail;
			break;
		}
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
fail:
	{
		int e = errno ? errno : EIO;
		free(buf);
		fclose(f);
		errno = e;
		return NULL;
	}
}

void cli_eta(char *buf, size_t len, double seconds)
{
	const double max = 99999.0 * 60 + 59;
	if (!(seconds <= max)) {	/* also NaN */
		snprintf(buf, len, "  ETA >99999:59");
		return;
	}
	unsigned s = seconds > 0 ? (unsigned)seconds : 0;
	snprintf(buf, len, "  ETA %u:%02u", s / 60, s % 60);
}

void cli_line_col(const char *text, size_t off, unsigned *line, unsigned *col)
{
	*line = *col = 1;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
	}
}
