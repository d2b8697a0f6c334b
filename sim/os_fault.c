/*
 * The fault-injecting OS layer (see os_fault.h): counts the calls of the
 * chosen kinds and fails the chosen one(s) with ENOMEM; every other call
 * goes to sl_os_posix unchanged.
 */
#include "os_fault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { K_RESERVE, K_MAP, K_USED, K_UNUSED, K_RELEASE, K_ALLOC };

static bool fails(struct os_fault *f, int kind)
{
	if (!(f->mask >> kind & 1))
		return false;
	f->calls++;
	if (f->calls == f->fail_at || (f->and_later && f->calls > f->fail_at)) {
		f->failures++;
		return true;
	}
	return false;
}

static int f_reserve(void *ctx, void *hint, size_t n, void **out)
{
	return fails(ctx, K_RESERVE) ? ENOMEM : sl_os_posix.reserve(sl_os_posix.ctx, hint, n, out);
}

static int f_map(void *ctx, void *v, size_t n)
{
	return fails(ctx, K_MAP) ? ENOMEM : sl_os_posix.map(sl_os_posix.ctx, v, n);
}

static int f_used(void *ctx, void *v, size_t n)
{
	if (fails(ctx, K_USED))
		return ENOMEM;
	return sl_os_posix.used ? sl_os_posix.used(sl_os_posix.ctx, v, n) : 0;
}

static int f_unused(void *ctx, void *v, size_t n)
{
	return fails(ctx, K_UNUSED) ? ENOMEM : sl_os_posix.unused(sl_os_posix.ctx, v, n);
}

static int f_release(void *ctx, void *v, size_t n)
{
	return fails(ctx, K_RELEASE) ? ENOMEM : sl_os_posix.release(sl_os_posix.ctx, v, n);
}

static int f_alloc(void *ctx, size_t n, void **out)
{
	return fails(ctx, K_ALLOC) ? ENOMEM : sl_os_posix.alloc(sl_os_posix.ctx, n, out);
}

static const struct { const char *name; unsigned mask; } kinds[] = {
	{ "reserve", 1u << K_RESERVE }, { "map", 1u << K_MAP }, { "used", 1u << K_USED },
	{ "unused", 1u << K_UNUSED },	{ "release", 1u << K_RELEASE }, { "alloc", 1u << K_ALLOC },
	{ "mmap", 1u << K_RESERVE | 1u << K_MAP | 1u << K_ALLOC }, { "madvise", 1u << K_UNUSED },
};

int os_fault_init(struct os_fault *f, const char *spec, char *err, size_t errlen)
{
	memset(f, 0, sizeof *f);
	const char *colon = strrchr(spec, ':');
	if (!colon) {
		snprintf(err, errlen, "SPANLAB_FAULT_OS='%s': expected KINDS:N or KINDS:N+", spec);
		return -1;
	}
	for (const char *p = spec; p < colon;) {
		size_t n = strcspn(p, ",:");
		size_t i;
		for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
			if (strlen(kinds[i].name) == n && !strncmp(p, kinds[i].name, n))
				break;
		if (i == sizeof kinds / sizeof kinds[0]) {
			snprintf(err, errlen, "SPANLAB_FAULT_OS='%s': unknown call kind '%.*s'", spec, (int)n, p);
			return -1;
		}
		f->mask |= kinds[i].mask;
		p += n + (p[n] == ',');
	}
	char num[32];
	snprintf(num, sizeof num, "%s", colon + 1);
	size_t len = strlen(num);
	if (len && num[len - 1] == '+') {
		f->and_later = true;
		num[len - 1] = 0;
	}
	if (!f->mask || !cli_parse_u64(num, 1, UINT64_MAX, &f->fail_at)) {
		snprintf(err, errlen, "SPANLAB_FAULT_OS='%s': expected KINDS:N or KINDS:N+ with N >= 1", spec);
		return -1;
	}
	f->ops = (struct sl_os_ops){ f_reserve, f_map, f_used, f_unused, f_release, f_alloc, f };
	return 0;
}
