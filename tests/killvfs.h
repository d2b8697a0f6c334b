/*
 * A SQLite VFS that dies by SIGKILL at its k-th file write, sync or
 * truncate (tests/lib/killvfs.c), for the kill-anywhere tests. Installed
 * as SQLite's default VFS in a child process, it sees every file SQLite
 * opens from then on, so every point of every commit, the final one
 * included, and of the checkpoint at close can be hit. The I/O sequence of
 * a run is deterministic, so the k-th operation names the same point on
 * every try.
 */
#ifndef SPANLAB_KILLVFS_H
#define SPANLAB_KILLVFS_H

/* Register the shim as the default VFS; at 0 only counts. */
void kill_vfs_install(long at);
/* Writes, syncs and truncates since kill_vfs_install. */
long kill_vfs_count(void);

#endif
