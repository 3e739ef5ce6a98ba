/*
 * fs: the FUSE layer, on libfuse's low-level API.  Each handler finds the
 * node the kernel names (inode.h), calls one gateway function and maps its
 * result to one reply; nothing else lives here.
 *
 * Caching: the kernel keeps entries and attributes for entry_timeout and
 * attr_timeout seconds (control and root files: never, their content is
 * made per open), ENOENT answers for negative_timeout, unchanged
 * directory listings and file pages as long as their content stays the
 * same.  notify.c tells the kernel what changed, so long timeouts stay
 * correct.
 */
#ifndef WAREHOUSEFS_FS_H
#define WAREHOUSEFS_FS_H

#include <fuse_lowlevel.h>
#include <sys/types.h>

#include "gateway.h"
#include "inode.h"

struct fs_notify;

/* What the handlers share; the session's user data. */
struct fs_context {
	struct gw *gw;
	struct fs_inodes *inodes;
	struct fs_notify *notify; /* NULL until started */
	struct fuse_session *se;
	uid_t uid; /* owner shown for every file: the mounting user */
	gid_t gid;
	double entry_timeout;
	double attr_timeout;
	double negative_timeout;
};

/* The operation table to give fuse_session_new(). */
const struct fuse_lowlevel_ops *fs_operations(void);

/*
 * Starts the thread that invalidates the kernel's caches when the source
 * changes (looked at every period_ms) or a destination's tree does.
 * 0 or a negative errno.
 */
int fs_notify_start(struct fs_context *c, struct fuse_session *se, unsigned period_ms);

/* Stops it (before the session ends).  Accepts NULL. */
void fs_notify_stop(struct fs_notify *n);

/*
 * The tree of dest changed (its settings, or it was deleted): drops the
 * kernel's entries below it.  With wait, returns once that is done (or
 * after a short bound, so a single-threaded loop cannot deadlock on it).
 */
void fs_notify_dest(struct fs_notify *n, const char *dest, int wait);

/* An ENOENT answer for name in parent, for invalidation when things appear. */
void fs_notify_negative(struct fs_notify *n, fuse_ino_t parent, const char *dest,
			const char *name);

#endif
