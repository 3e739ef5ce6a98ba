/*
 * fs: FUSE high-level operations over the gateway (see fs.h).
 *
 * Paths have at most four components:
 *   /                               the mount root: one directory per destination
 *   /DEST                           a destination, plus its control files by name
 *   /DEST/TEAM/DATE                 the exported tree, as in the bucket
 *   /DEST/TEAM/DATE/FILE            a data file, generated on first access
 *
 * Threads: libfuse calls handlers from several worker threads at once.  A
 * struct fs_handle belongs to one open file; the kernel serializes nothing,
 * so a handle's write buffer is guarded by its own mutex.  No handler does
 * network I/O: data files are served from local cache files.
 *
 * Extended attributes of data files tell their delivery state (see
 * gw_file_xattr); they cannot be set.
 *
 * Errors: data files are read-only (EACCES for write access, as their mode
 * 0444 says); changes to the tree's names are EROFS; unknown names ENOENT.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "path.h"

enum fs_handle_kind {
	FS_DATA,
	FS_CONTROL,
};

struct fs_handle {
	enum fs_handle_kind kind;
	int fd;             /* FS_DATA: the cached version */
	int control;        /* FS_CONTROL: enum gw_control */
	int writing;        /* opened for writing */
	char dest[64];
	struct gw_caller who; /* who opened it: the audit log names them */
	int wrote;          /* input arrived (a touch is an open-close without) */
	int acted;          /* a touch acted at utimens: the close does not */

	struct fs_handle *next_open; /* in open_triggers, when a trigger file */

	pthread_mutex_t lock;
	struct buf data;    /* content snapshot taken at open, for reads */
	struct buf input;   /* written input not yet applied */
	int failed;         /* input refused: close reports EINVAL, applies nothing */
	struct fs_handle *prev, *next; /* in open_handles, under open_lock */
};

/*
 * Every handle not yet released.  The kernel sends RELEASE after close()
 * returns; when the mount ends first (unmount, SIGTERM) it never comes, and
 * fs_destroy frees what is left.
 */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_handle *open_handles;

/*
 * Trigger files (.run-now, .pause, .resume) open for writing.  touch opens
 * the file, sets its times, and closes it; the kernel reports the times
 * without naming the open file, so utimens looks here to tell a touch
 * (it acts then, once, for the handle) from a bare utimens (which acts
 * too, with no handle).  Lock order: open_triggers_lock, then a handle's
 * lock.
 */
static pthread_mutex_t open_triggers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_handle *open_triggers; /* protected by open_triggers_lock */

static struct fs_context *ctx(void)
{
	return fuse_get_context()->private_data;
}

static struct gw *gw(void)
{
	return ctx()->gw;
}

static struct gw_caller caller(void)
{
	struct fuse_context *c = fuse_get_context();
	struct gw_caller who = {(unsigned)c->uid, (int)c->pid};

	return who;
}

static void fill_stat(struct stat *st, const struct gw_attr *a)
{
	memset(st, 0, sizeof(*st));
	st->st_uid = ctx()->uid;
	st->st_gid = ctx()->gid;
	st->st_mtim.tv_sec = a->mtime;
	st->st_ctim.tv_sec = a->mtime;
	st->st_atim.tv_sec = a->mtime;
	if (a->kind == GW_DIR) {
		st->st_mode = S_IFDIR | a->mode;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | a->mode;
		st->st_nlink = 1;
		st->st_size = (off_t)a->size;
		st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	}
	st->st_blksize = 128 * 1024;
}

/* The mount root's hidden files (.status, .metrics, .audit). */
static int root_stat(int which, struct gw_attr *a)
{
	struct buf content = BUF_INIT;
	int ret = gw_root_read(gw(), which, &content);

	a->kind = GW_CONTROL;
	a->mode = gw_root_mode(which);
	a->size = content.len;
	a->mtime = time(NULL);
	buf_release(&content);
	return ret;
}

/* Attributes of whatever path names. */
static int stat_path(const struct fs_path *p, struct gw_attr *a)
{
	switch (p->depth) {
	case 0:
		return gw_root_stat(gw(), a);
	case 1:
		if (p->root >= 0)
			return root_stat(p->root, a);
		return gw_dest_stat(gw(), p->part[0], a);
	case 2:
		if (p->control >= 0)
			return gw_control_stat(gw(), p->part[0], p->control, a);
		return gw_team_stat(gw(), p->part[0], p->part[1], a);
	case 3:
		return gw_date_stat(gw(), p->part[0], p->part[1], p->part[2], a);
	default:
		return gw_file_stat(gw(), p->part[0], p->part[1], p->part[2], p->part[3], a);
	}
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fs_path p;
	struct gw_attr a;
	int ret;

	(void)fi;
	ret = fs_path_parse(path, &p);
	if (!ret)
		ret = stat_path(&p, &a);
	if (!ret)
		fill_stat(st, &a);
	return ret;
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t filler;
	int plus;          /* the kernel asked for attributes too */
	const char *dest;
	const char *team;
};

static int fill_name(void *c, const char *name)
{
	struct fill_ctx *f = c;

	return f->filler(f->buf, name, NULL, 0, 0);
}

/*
 * A date directory with its attributes (readdirplus), so ls -l of a team
 * with thousands of dates needs no lookup per entry.
 */
static int fill_date(void *c, const char *date)
{
	struct fill_ctx *f = c;
	struct gw_attr a;
	struct stat st;

	if (!f->plus || gw_date_stat(gw(), f->dest, f->team, date, &a) < 0)
		return f->filler(f->buf, date, NULL, 0, 0);
	fill_stat(&st, &a);
	return f->filler(f->buf, date, &st, 0, FUSE_FILL_DIR_PLUS);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fill_ctx f = {buf, filler, (flags & FUSE_READDIR_PLUS) != 0, NULL, NULL};
	struct fs_path p;
	int ret;

	(void)off;
	(void)fi;
	ret = fs_path_parse(path, &p);
	if (ret)
		return ret;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	/* Control files are reachable by name but never listed. */
	switch (p.depth) {
	case 0:
		return gw_list_dests(gw(), fill_name, &f);
	case 1:
		return gw_list_teams(gw(), p.part[0], fill_name, &f);
	case 2:
		if (p.control >= 0)
			return -ENOTDIR;
		f.dest = p.part[0];
		f.team = p.part[1];
		return gw_list_dates(gw(), p.part[0], p.part[1], fill_date, &f);
	case 3:
		return gw_list_files(gw(), p.part[0], p.part[1], p.part[2], fill_name, &f);
	default:
		return -ENOTDIR;
	}
}

static int fs_mkdir(const char *path, mode_t mode)
{
	struct fs_path p;
	struct gw_caller who = caller();
	int ret;

	(void)mode;
	ret = fs_path_parse(path, &p);
	if (ret)
		return ret;
	if (p.depth != 1)
		return -EROFS;
	return gw_dest_create(gw(), p.part[0], &who);
}

static int fs_rmdir(const char *path)
{
	struct fs_path p;
	struct gw_caller who = caller();
	int ret;

	ret = fs_path_parse(path, &p);
	if (ret)
		return ret;
	if (p.depth != 1)
		return -EROFS;
	return gw_dest_delete(gw(), p.part[0], &who);
}

static struct fs_handle *handle_new(enum fs_handle_kind kind)
{
	struct fs_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = kind;
	h->fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_lock(&open_lock);
	h->next = open_handles;
	if (open_handles)
		open_handles->prev = h;
	open_handles = h;
	pthread_mutex_unlock(&open_lock);
	return h;
}

static void handle_free(struct fs_handle *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&open_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		open_handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&open_lock);
	if (h->fd >= 0)
		close(h->fd);
	buf_release(&h->data);
	buf_release_secret(&h->input);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static int is_trigger(int control)
{
	return control == GW_RUN_NOW || control == GW_PAUSE || control == GW_RESUME;
}

/*
 * A utimens of a trigger file by pid: -1 when pid does not have it open
 * for writing (a bare utimens), 1 when it does and this is the touch's
 * trigger (the handle is marked so its close does not act again), 0 when
 * the handle has acted already or holds written input (the close applies
 * that).
 */
static int trigger_claim(const char *dest, int control, int pid)
{
	int ret = -1;

	pthread_mutex_lock(&open_triggers_lock);
	for (struct fs_handle *h = open_triggers; h && ret < 0; h = h->next_open) {
		if (h->control != control || h->who.pid != pid || strcmp(h->dest, dest) != 0)
			continue;
		pthread_mutex_lock(&h->lock);
		ret = !h->acted && !h->wrote;
		h->acted = 1;
		pthread_mutex_unlock(&h->lock);
	}
	pthread_mutex_unlock(&open_triggers_lock);
	return ret;
}

static void trigger_closed(struct fs_handle *h)
{
	pthread_mutex_lock(&open_triggers_lock);
	for (struct fs_handle **pp = &open_triggers; *pp; pp = &(*pp)->next_open) {
		if (*pp == h) {
			*pp = h->next_open;
			break;
		}
	}
	pthread_mutex_unlock(&open_triggers_lock);
}

/* Did the caller give up (a signal interrupted its request)? */
static int interrupted(void *unused)
{
	(void)unused;
	return fuse_interrupted();
}

static int open_control(const struct fs_path *p, struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE;
	struct gw_attr a;
	int ret = gw_control_stat(gw(), p->part[0], p->control, &a);

	if (ret)
		return ret;
	if (acc != O_RDONLY && !(a.mode & 0200))
		return -EACCES;
	if (acc != O_WRONLY && !(a.mode & 0444))
		return -EACCES;
	struct fs_handle *h = handle_new(FS_CONTROL);
	if (!h)
		return -ENOMEM;
	h->control = p->control;
	h->writing = acc != O_RDONLY;
	h->who = caller();
	snprintf(h->dest, sizeof(h->dest), "%s", p->part[0]);
	if (h->control == GW_SYNC) {
		/* Blocks until the destination is in sync; Ctrl-C interrupts. */
		ret = gw_sync_report(gw(), h->dest, interrupted, NULL, &h->data);
		if (ret) {
			handle_free(h);
			return ret;
		}
	} else if (acc != O_WRONLY) {
		ret = gw_control_read(gw(), h->dest, h->control, &h->data);
		if (ret) {
			handle_free(h);
			return ret;
		}
	}
	if (h->writing && is_trigger(h->control)) {
		pthread_mutex_lock(&open_triggers_lock);
		h->next_open = open_triggers;
		open_triggers = h;
		pthread_mutex_unlock(&open_triggers_lock);
	}
	/* Content is made per open: no page cache, sizes may differ from stat. */
	fi->direct_io = 1;
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int open_root_file(int which, struct fuse_file_info *fi)
{
	struct fuse_context *c = fuse_get_context();

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	/* The audit log is the mount owner's (mode 0400). */
	if (gw_root_mode(which) == 0400 && c->uid != ctx()->uid && c->uid != 0)
		return -EACCES;
	struct fs_handle *h = handle_new(FS_CONTROL);
	if (!h)
		return -ENOMEM;
	h->control = -1;
	int ret = gw_root_read(gw(), which, &h->data);
	if (ret) {
		handle_free(h);
		return ret;
	}
	fi->direct_io = 1;
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct fs_path p;
	struct gw_attr a;
	int fd = -1, ret;

	ret = fs_path_parse(path, &p);
	if (ret)
		return ret;
	if (p.depth == 1 && p.root >= 0)
		return open_root_file(p.root, fi);
	if (p.depth == 2 && p.control >= 0)
		return open_control(&p, fi);
	if (p.depth != 4)
		return p.depth < 4 ? -EISDIR : -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return -EACCES;
	ret = gw_file_open(gw(), p.part[0], p.part[1], p.part[2], p.part[3], &fd, &a);
	if (ret)
		return ret;
	struct fs_handle *h = handle_new(FS_DATA);
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->fd = fd;
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static struct fs_handle *handle_of(struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

static int fs_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	struct fuse_bufvec *bv;

	(void)path;
	if (h->kind == FS_DATA) {
		bv = malloc(sizeof(*bv));
		if (!bv)
			return -ENOMEM;
		/* Hand libfuse the cache file's fd: it splices when it can. */
		*bv = FUSE_BUFVEC_INIT(size);
		bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv->buf[0].fd = h->fd;
		bv->buf[0].pos = off;
		*bufp = bv;
		return 0;
	}
	/* libfuse frees both the bufvec and the memory it points to. */
	bv = malloc(sizeof(*bv));
	if (!bv)
		return -ENOMEM;
	pthread_mutex_lock(&h->lock);
	size_t len = h->data.len;
	size_t n = (size_t)off < len ? len - (size_t)off : 0;
	if (n > size)
		n = size;
	void *copy = malloc(n ? n : 1);
	if (copy && n)
		memcpy(copy, h->data.data + off, n);
	pthread_mutex_unlock(&h->lock);
	if (!copy) {
		free(bv);
		return -ENOMEM;
	}
	*bv = FUSE_BUFVEC_INIT(n);
	bv->buf[0].mem = copy;
	*bufp = bv;
	return 0;
}

static int fs_write(const char *path, const char *data, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	int ret;

	(void)path;
	(void)off;
	if (h->kind != FS_CONTROL || !h->writing)
		return -EACCES;
	pthread_mutex_lock(&h->lock);
	if (h->failed) {
		ret = -EINVAL;
		goto out;
	}
	if (h->input.len + size > 1024 * 1024) {
		ret = -EFBIG;
		h->failed = 1;
		goto out;
	}
	/*
	 * Input is appended in arrival order whatever the offset (O_APPEND-like).
	 * It may carry a secret (.config): it is kept only in h->input, wiped
	 * when used, and wiped in libfuse's request buffer too, which nothing
	 * reads after this handler returns (a WRITE's reply is its size).
	 */
	buf_add_secret(&h->input, data, size);
	wipe_bytes((void *)data, size);
	h->wrote = 1;
	ret = gw_control_check(gw(), h->dest, h->control, h->input.data, h->input.len);
	if (ret) {
		h->failed = 1;
		goto out;
	}
	ret = (int)size;
out:
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	struct gw_caller who = caller();
	int ret = 0;

	(void)path;
	if (h->kind != FS_CONTROL || !h->writing)
		return 0;
	pthread_mutex_lock(&h->lock);
	if ((h->control == GW_PAUSE || h->control == GW_RESUME) && !h->acted) {
		/*
		 * .pause and .resume ignore their input and are idempotent, so
		 * they act at the first close, before close() returns; the
		 * release comes later, when the caller may already be reading
		 * .status.  (.run-now must wait for its input: see fs_release.)
		 */
		h->acted = 1;
		buf_reset_secret(&h->input);
		ret = gw_control_touch(gw(), h->dest, h->control, &who);
	} else if (h->control == GW_PAUSE || h->control == GW_RESUME) {
		buf_reset_secret(&h->input);
	} else if (h->failed) {
		ret = -EINVAL;
	} else if (h->input.len) {
		/*
		 * Apply what arrived since the last flush.  A shell's
		 * "echo x > f" closes a dup of the fd before writing, so an
		 * empty flush must not end the input.
		 */
		ret = gw_control_write(gw(), h->dest, h->control, buf_str(&h->input),
				       h->input.len, &who);
		if (ret)
			h->failed = 1;
		buf_reset_secret(&h->input);
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);

	(void)path;
	/*
	 * touch: an open-to-close with nothing written (times set through the
	 * fd included) is one trigger, acted on here, at the last close,
	 * unless utimens acted for it already (fs_utimens).
	 */
	if (h->kind == FS_CONTROL && h->writing && is_trigger(h->control))
		trigger_closed(h);
	if (h->kind == FS_CONTROL && h->writing && !h->wrote && !h->acted &&
	    is_trigger(h->control)) {
		int ret = gw_control_touch(gw(), h->dest, h->control, &h->who);
		if (ret)
			log_warn("destination '%s': touch of a control file failed: %s",
				 h->dest, strerror(-ret));
	}
	handle_free(h);
	return 0;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fs_path p;
	int ret;

	(void)fi;
	ret = fs_path_parse(path, &p);
	if (ret)
		return ret;
	/* O_TRUNC on a control file: the input replaces nothing, so accept it. */
	if (p.depth == 2 && p.control >= 0) {
		struct gw_attr a;
		ret = gw_control_stat(gw(), p.part[0], p.control, &a);
		if (ret)
			return ret;
		if (!(a.mode & 0200))
			return -EACCES;
		return size == 0 ? 0 : -EINVAL;
	}
	if (p.depth == 4)
		return -EACCES;
	return p.depth < 4 ? -EISDIR : -ENOENT;
}

static int fs_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	struct fs_path p;
	struct gw_attr a;
	int ret;

	(void)tv;
	ret = fs_path_parse(path, &p);
	if (!ret)
		ret = stat_path(&p, &a);
	if (ret)
		return ret;
	if (a.kind != GW_CONTROL || !(a.mode & 0200))
		return a.kind == GW_DATA ? -EACCES : -EROFS;
	/*
	 * A bare utimens, or part of a touch (the file is open for writing):
	 * act now, so that touch(1) has acted when it returns; the kernel
	 * sends the close's RELEASE without waiting for it.
	 */
	struct gw_caller who = caller();
	if (fi || !is_trigger(p.control) || trigger_claim(p.part[0], p.control, who.pid) == 0)
		return 0;
	return gw_control_touch(gw(), p.part[0], p.control, &who);
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return -EROFS;
}

static int fs_unlink(const char *path)
{
	struct fs_path p;
	struct gw_attr a;
	int ret = fs_path_parse(path, &p);

	if (!ret)
		ret = stat_path(&p, &a);
	return ret ? ret : -EROFS;
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	(void)from;
	(void)to;
	(void)flags;
	return -EROFS;
}

static int fs_link(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -EROFS;
}

static int fs_symlink(const char *target, const char *path)
{
	(void)target;
	(void)path;
	return -EROFS;
}

static int fs_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)path;
	(void)mode;
	(void)dev;
	return -EROFS;
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return -EROFS;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)path;
	(void)uid;
	(void)gid;
	(void)fi;
	return -EROFS;
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_namemax = 255;
	return 0;
}

static int fs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct fs_path p;
	struct buf v = BUF_INIT;
	int ret = fs_path_parse(path, &p);

	if (ret)
		return ret;
	/* The kernel asks only about names it has looked up: no need to look again. */
	if (p.depth != 4)
		return -ENODATA;
	ret = gw_file_xattr(gw(), p.part[0], p.part[1], p.part[2], p.part[3], name, &v);
	if (!ret) {
		if (size == 0)
			ret = (int)v.len;
		else if (v.len > size)
			ret = -ERANGE;
		else {
			memcpy(value, v.data, v.len);
			ret = (int)v.len;
		}
	}
	buf_release(&v);
	return ret;
}

struct xattr_list {
	char *out;
	size_t size;
	size_t len;
};

static int add_xattr_name(void *c, const char *name)
{
	struct xattr_list *l = c;
	size_t n = strlen(name) + 1;

	if (l->size && l->len + n <= l->size)
		memcpy(l->out + l->len, name, n);
	l->len += n;
	return 0;
}

static int fs_listxattr(const char *path, char *list, size_t size)
{
	struct fs_path p;
	struct gw_attr a;
	struct xattr_list l = {list, size, 0};
	int ret = fs_path_parse(path, &p);

	if (ret)
		return ret;
	if (p.depth == 4) {
		ret = stat_path(&p, &a);
		if (ret)
			return ret;
		gw_file_xattr_list(add_xattr_name, &l);
	}
	if (size && l.len > size)
		return -ERANGE;
	return (int)l.len;
}

static int fs_setxattr(const char *path, const char *name, const char *value,
		       size_t size, int flags)
{
	(void)path;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	return -EROFS;
}

static int fs_removexattr(const char *path, const char *name)
{
	(void)path;
	(void)name;
	return -EROFS;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fs_context *c = ctx();

	/* Reads are served from cache fds: let the kernel splice them. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	cfg->use_ino = 0;
	cfg->nullpath_ok = 0;
	cfg->entry_timeout = c->attr_timeout;
	cfg->attr_timeout = c->attr_timeout;
	cfg->negative_timeout = 0;
	/* Keep the page cache while a file's size and mtime stay the same. */
	cfg->auto_cache = 1;
	return c;
}

/* The session is over: no RELEASE will come for handles still open. */
static void fs_destroy(void *private_data)
{
	(void)private_data;
	while (open_handles)
		handle_free(open_handles);
}

static const struct fuse_operations ops = {
	.init = fs_init,
	.destroy = fs_destroy,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.mkdir = fs_mkdir,
	.rmdir = fs_rmdir,
	.open = fs_open,
	.read_buf = fs_read_buf,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.truncate = fs_truncate,
	.utimens = fs_utimens,
	.create = fs_create,
	.unlink = fs_unlink,
	.rename = fs_rename,
	.link = fs_link,
	.symlink = fs_symlink,
	.mknod = fs_mknod,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.statfs = fs_statfs,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.setxattr = fs_setxattr,
	.removexattr = fs_removexattr,
};

const struct fuse_operations *fs_operations(void)
{
	return &ops;
}
