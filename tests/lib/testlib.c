/* Shared test helpers: see tests/testlib.h. */
#define _GNU_SOURCE
#include "testlib.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t nc = *cap ? *cap * 2 : 4096;
		while (nc < *len + n + 1)
			nc *= 2;
		char *nb = realloc(*buf, nc);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = 0;
	return 0;
}

int tl_run(struct tl_run *r, const char *input, const char *const *argv)
{
	int in[2], out[2], err[2];
	const char *bin = getenv("SPANLAB_BIN");
	size_t ocap = 0, ecap = 0, ilen = input ? strlen(input) : 0, ioff = 0;

	memset(r, 0, sizeof *r);
	if (!bin)
		bin = "build/spanlab";
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		size_t n = 0;
		while (argv[n])
			n++;
		char **av = calloc(n + 1, sizeof *av);
		for (size_t i = 0; i < n; i++)
			av[i] = (char *)argv[i];
		if (n && !strcmp(argv[0], "spanlab"))
			av[0] = (char *)bin;
		execvp(av[0], av);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (!input) {
		close(in[1]);
		in[1] = -1;
	}
	signal(SIGPIPE, SIG_IGN);
	struct pollfd p[3] = { { out[0], POLLIN, 0 }, { err[0], POLLIN, 0 }, { in[1], POLLOUT, 0 } };
	int open_fds = 2;
	while (open_fds > 0 || p[2].fd >= 0) {
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		char buf[65536];
		for (int i = 0; i < 2; i++) {
			if (p[i].fd >= 0 && (p[i].revents & (POLLIN | POLLHUP))) {
				ssize_t k = read(p[i].fd, buf, sizeof buf);
				if (k > 0) {
					if (i == 0)
						append(&r->out, &r->out_len, &ocap, buf, (size_t)k);
					else
						append(&r->err, &r->err_len, &ecap, buf, (size_t)k);
				} else {
					close(p[i].fd);
					p[i].fd = -1;
					open_fds--;
				}
			}
		}
		if (p[2].fd >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t k = ioff < ilen ? write(p[2].fd, input + ioff, ilen - ioff) : 0;
			if (k > 0)
				ioff += (size_t)k;
			if (k <= 0 || ioff == ilen) {
				close(p[2].fd);
				p[2].fd = -1;
			}
		}
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (!r->out)
		append(&r->out, &r->out_len, &ocap, "", 0);
	if (!r->err)
		append(&r->err, &r->err_len, &ecap, "", 0);
	return 0;
}

void tl_run_free(struct tl_run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof *r);
}

size_t tl_count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

const char *tl_root_path(const char *rel, char *buf, size_t len)
{
	const char *root = getenv("SPANLAB_ROOT");
	snprintf(buf, len, "%s/%s", root ? root : ".", rel);
	return buf;
}

char *tl_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *d;
	if (asprintf(&d, "%s/spanlab-test-XXXXXX", base ? base : "/tmp") < 0)
		return NULL;
	if (!mkdtemp(d)) {
		free(d);
		return NULL;
	}
	return d;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

void tl_tmpdir_remove(char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

int tl_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = fwrite(data, 1, len, f);
	return (fclose(f) == 0 && n == len) ? 0 : -1;
}

char *tl_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (cap - n < 4096) {
			char *b = realloc(buf, cap = cap ? 2 * cap : 8192);
			if (!b) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = b;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

uint64_t tl_seed(const char *test_name)
{
	const char *s = getenv("SPANLAB_SEED");
	uint64_t seed;
	if (s && *s) {
		seed = strtoull(s, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	}
	fprintf(stderr, "%s: seed %llu (rerun with SPANLAB_SEED=%llu)\n", test_name,
		(unsigned long long)seed, (unsigned long long)seed);
	return seed;
}

void tl_copy_file(const char *from, const char *to)
{
	static char buf[1 << 16];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(in >= 0 && out >= 0, "copy %s -> %s", from, to);
	ssize_t k;
	while ((k = read(in, buf, sizeof buf)) > 0)
		cr_assert_eq(write(out, buf, (size_t)k), k, "copy %s -> %s", from, to);
	cr_assert_eq(k, 0, "copy %s -> %s", from, to);
	close(in);
	close(out);
}

static sqlite3_stmt *first_row(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		return st;
	sqlite3_finalize(st);
	return NULL;
}

int64_t tl_q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = first_row(db, sql);
	int64_t v = st ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return v;
}

char *tl_qtext(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = first_row(db, sql);
	char *v = st ? strdup((const char *)sqlite3_column_text(st, 0)) : NULL;
	sqlite3_finalize(st);
	return v;
}

int tl_children(pid_t parent, pid_t *pids, char (*cmd)[512], int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	cr_assert(d, "cannot read /proc");
	while (n < max && (e = readdir(d))) {
		char p[300];
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid <= 0)
			continue;
		snprintf(p, sizeof p, "/proc/%d/stat", pid);
		FILE *f = fopen(p, "r");
		int ppid = 0;
		if (!f)
			continue;
		if (fscanf(f, "%*d (%*[^)]) %*c %d", &ppid) != 1)
			ppid = 0;
		fclose(f);
		if (ppid != parent)
			continue;
		if (cmd) {
			snprintf(p, sizeof p, "/proc/%d/cmdline", pid);
			int fd = open(p, O_RDONLY);
			ssize_t k = fd >= 0 ? read(fd, cmd[n], sizeof cmd[n] - 1) : -1;
			if (fd >= 0)
				close(fd);
			k = k < 0 ? 0 : k;
			for (ssize_t i = 0; i < k; i++)
				if (!cmd[n][i])
					cmd[n][i] = ' ';
			cmd[n][k] = 0;
		}
		pids[n++] = pid;
	}
	closedir(d);
	return n;
}

char tl_proc_state(pid_t pid)
{
	char p[64], st = 0;
	snprintf(p, sizeof p, "/proc/%d/stat", pid);
	FILE *f = fopen(p, "r");
	if (f) {
		if (fscanf(f, "%*d (%*[^)]) %c", &st) != 1)
			st = 0;
		fclose(f);
	}
	return st;
}

/* Whether sig is in any of the signal masks named (e.g. "SigPnd") in
 * /proc/PID/status. */
static bool status_mask_has(pid_t pid, int sig, const char *const *fields)
{
	char p[64], line[256];
	bool has = false;
	snprintf(p, sizeof p, "/proc/%d/status", pid);
	FILE *f = fopen(p, "r");
	while (f && fgets(line, sizeof line, f)) {
		unsigned long long mask;
		size_t n = strcspn(line, ":");
		for (const char *const *name = fields; *name; name++)
			if (strlen(*name) == n && !strncmp(line, *name, n) && sscanf(line + n + 1, "%llx", &mask) == 1 &&
			    (mask >> (sig - 1) & 1))
				has = true;
	}
	if (f)
		fclose(f);
	return has;
}

bool tl_signal_pending(pid_t pid, int sig)
{
	return status_mask_has(pid, sig, (const char *const[]){ "SigPnd", "ShdPnd", NULL });
}

bool tl_signal_caught(pid_t pid, int sig)
{
	return status_mask_has(pid, sig, (const char *const[]){ "SigCgt", NULL });
}

void tl_stop(pid_t pid)
{
	cr_assert_eq(kill(pid, SIGSTOP), 0, "cannot stop %d", (int)pid);
	for (char st; (st = tl_proc_state(pid)) != 'T' && st != 'Z' && st != 'X' && st != 0;)
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
}
