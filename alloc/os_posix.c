/*
 * The real OS primitives behind struct sl_os_ops, as Go's mem_linux.go
 * makes them: mmap for reserve/map/alloc, madvise(MADV_DONTNEED) for
 * unused, munmap for release, and nothing for used (Go's sysUsedOS only
 * gives transparent-huge-page hints). Never mprotect: changing protections
 * range by range splits the kernel's mappings and a checkerboard of them
 * hits vm.max_map_count after about 8 arenas.
 *
 * Preconditions (all calls): v and n page aligned, n > 0. Each returns 0
 * or an errno value.
 */
#include <errno.h>
#include <sys/mman.h>

#include "internal.h"

static int posix_reserve(void *ctx, void *hint, size_t n, void **out)
{
	void *p = mmap(hint, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	*out = p;
	return 0;
}

static int posix_map(void *ctx, void *v, size_t n)
{
	void *p = mmap(v, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	return p == v ? 0 : EFAULT;
}

static int posix_unused(void *ctx, void *v, size_t n)
{
	return madvise(v, n, MADV_DONTNEED) == 0 ? 0 : errno;
}

static int posix_release(void *ctx, void *v, size_t n)
{
	return munmap(v, n) == 0 ? 0 : errno;
}

static int posix_alloc(void *ctx, size_t n, void **out)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	*out = p;
	return 0;
}

const struct sl_os_ops sl_os_posix = {
	.reserve = posix_reserve,
	.map = posix_map,
	.used = NULL,
	.unused = posix_unused,
	.release = posix_release,
	.alloc = posix_alloc,
	.ctx = NULL,
};
