/*
 * The kill VFS of tests/killvfs.h: every call goes to the default VFS's
 * file; writes, syncs and truncates are counted, and the k-th raises
 * SIGKILL.
 */
#include <signal.h>
#include <stddef.h>
#include <sqlite3.h>

#include "killvfs.h"

struct kfile {
	sqlite3_file base;
	sqlite3_file *real;	/* the default VFS's file, right after this struct */
};

static sqlite3_vfs *orig_vfs;
static sqlite3_vfs kill_vfs;
static long io_count, kill_at;	/* kill_at 0: count only */

static void tick(void)
{
	long n = __atomic_add_fetch(&io_count, 1, __ATOMIC_SEQ_CST);
	if (kill_at && n == kill_at)
		raise(SIGKILL);
}

#define REAL(f) (((struct kfile *)(f))->real)
static int k_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int k_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), b, n, o); }
static int k_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
	tick();
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int k_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	tick();
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int k_sync(sqlite3_file *f, int flags)
{
	tick();
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int k_size(sqlite3_file *f, sqlite3_int64 *s) { return REAL(f)->pMethods->xFileSize(REAL(f), s); }
static int k_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int k_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int k_reserved(sqlite3_file *f, int *r) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r); }
static int k_control(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int k_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int k_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int k_shm_map(sqlite3_file *f, int i, int sz, int ext, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, ext, p);
}
static int k_shm_lock(sqlite3_file *f, int o, int n, int fl) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl); }
static void k_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int k_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int k_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p) { return REAL(f)->pMethods->xFetch(REAL(f), o, n, p); }
static int k_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, p); }

static const sqlite3_io_methods kill_methods = {
	3, k_close, k_read, k_write, k_truncate, k_sync, k_size, k_lock, k_unlock, k_reserved, k_control,
	k_sector, k_device, k_shm_map, k_shm_lock, k_shm_barrier, k_shm_unmap, k_fetch, k_unfetch,
};

static int k_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out)
{
	struct kfile *k = (struct kfile *)f;
	k->real = (sqlite3_file *)(k + 1);
	int rc = orig_vfs->xOpen(orig_vfs, name, k->real, flags, out);
	k->base.pMethods = rc == SQLITE_OK && k->real->pMethods ? &kill_methods : NULL;
	return rc;
}

void kill_vfs_install(long at)
{
	orig_vfs = sqlite3_vfs_find(NULL);
	kill_vfs = *orig_vfs;
	kill_vfs.zName = "spanlab-kill";
	kill_vfs.szOsFile = (int)sizeof(struct kfile) + orig_vfs->szOsFile;
	kill_vfs.xOpen = k_open;
	io_count = 0;
	kill_at = at;
	sqlite3_vfs_register(&kill_vfs, 1);
}

long kill_vfs_count(void)
{
	return __atomic_load_n(&io_count, __ATOMIC_SEQ_CST);
}
