/*
 * handle: what fs/ keeps for an open file or directory (fi->fh).
 *
 * A data file's handle holds the fd of its cached version; a control or
 * root file's, the content snapshot taken at open and the input written
 * so far; a directory's, the names of its listing.  Every handle not yet
 * released is on one list, freed by fs_handles_free_all() when the
 * session ends before the kernel's RELEASE (unmount, SIGTERM).
 *
 * Trigger files (.run-now, .pause, .resume) open for writing are also on
 * a second list: touch(1) opens the file, sets its times and closes it,
 * and the kernel reports the times without always naming the open file,
 * so setattr asks fs_trigger_claim() to tell a touch (it acts then, once,
 * for the handle) from a bare utimens (which acts too, with no handle).
 *
 * Threads: the kernel serializes nothing, so a handle's fields after
 * `lock` are guarded by it.  Lock order: the trigger list's lock, then a
 * handle's lock.
 */
#ifndef WAREHOUSEFS_FS_HANDLE_H
#define WAREHOUSEFS_FS_HANDLE_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>

#include "base/buf.h"
#include "gateway.h"

enum fs_handle_kind {
	FS_HANDLE_DATA,
	FS_HANDLE_CONTROL,
	FS_HANDLE_DIR,
};

struct fs_handle {
	enum fs_handle_kind kind;
	int fd;             /* data: the cached version */
	struct gw_attr attr; /* data: its attributes */
	int control;        /* control: enum gw_control, or -1 for a root file */
	int writing;        /* opened for writing */
	char dest[64];
	struct gw_caller who; /* who opened it: the audit log names them */

	pthread_mutex_t lock;
	int wrote;          /* input arrived (a touch is an open-close without) */
	int acted;          /* a touch acted at setattr: the close does not */
	struct buf data;    /* control: content snapshot, fixed at open (read
			     * without the lock); dir: names */
	struct buf input;   /* written input not yet applied (may hold a secret) */
	int failed;         /* input refused: close reports EINVAL, applies nothing */
	size_t nnames;      /* dir: names in data */
	size_t *names;      /* dir: offsets into data */
	int listed;         /* dir: names hold a listing */

	struct fs_handle *next_trigger;   /* on the trigger list */
	struct fs_handle *prev, *next;    /* on the list of open handles */
};

/* A new handle, on the list of open ones.  NULL when out of memory. */
struct fs_handle *fs_handle_new(enum fs_handle_kind kind);

/* The handle libfuse keeps for an open file. */
static inline struct fs_handle *fs_handle_of(const struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

/* Closes its fd, wipes its input and frees it.  Accepts NULL. */
void fs_handle_free(struct fs_handle *h);

/* Frees a handle whose open was never seen by the caller (no close acts). */
void fs_handle_drop(struct fs_handle *h);

/* Appends a name to a directory handle's listing: 0 or -ENOMEM. */
int fs_handle_add_name(void *h, const char *name);

/* Whether the control file (enum gw_control) is a trigger: touch acts. */
int fs_is_trigger(int control);

/* Puts a trigger file's handle, open for writing, on the trigger list. */
void fs_trigger_opened(struct fs_handle *h);

/* Takes it off (at release). */
void fs_trigger_closed(struct fs_handle *h);

/*
 * A utimens of a trigger file by pid: -1 when pid does not have it open
 * for writing (a bare utimens), 1 when it does and this is the touch's
 * trigger (the handle is marked so its close does not act again), 0 when
 * the handle has acted already or holds written input (the close applies
 * that).
 */
int fs_trigger_claim(const char *dest, int control, int pid);

/* Frees every handle not yet released (the session is over). */
void fs_handles_free_all(void);

#endif
