/*
 * ops: the low-level FUSE operations over the gateway (see fs.h).
 *
 * The kernel names a node by nodeid (inode.h); a handler finds its path's
 * components there, asks the gateway, and replies once.  Every entry
 * replied (LOOKUP, MKDIR, a readdirplus entry) takes one lookup count;
 * FORGET gives them back.  ENOENT is a negative entry the kernel may keep
 * for negative_timeout.
 *
 * Threads: libfuse calls handlers from several worker threads at once
 * (handles: handle.h).  No handler does network I/O: data files are
 * served from local cache files by splice.
 *
 * Errors: data files are read-only (EACCES for write access, as their mode
 * 0444 says); changes to the tree's names are EROFS; unknown names ENOENT.
 */
#include "fs.h"
#include "handle.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"

static struct fs_context *ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct gw_caller caller(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct gw_caller who = {(unsigned)c->uid, (int)c->pid};

	return who;
}

static struct fs_inode *node_of(fuse_req_t req, fuse_ino_t ino)
{
	return fs_inodes_get(ctx_of(req)->inodes, ino);
}

/* A node's path, or a would-be child's: components by depth. */
struct fs_where {
	enum fs_kind kind;
	int which;
	const char *part[FS_MAX_DEPTH];
};

static void where_node(struct fs_where *w, const struct fs_inode *n)
{
	w->kind = n->kind;
	w->which = n->which;
	for (int i = 0; i < FS_MAX_DEPTH; i++)
		w->part[i] = i < n->depth ? n->part[i] : NULL;
}

/* The child called name of parent: 0, or -ENOENT / -ENOTDIR. */
static int where_child(struct fs_where *w, const struct fs_inode *parent, const char *name)
{
	int kind = fs_path_child(parent->kind, name, &w->which);

	if (kind < 0)
		return kind;
	w->kind = kind;
	for (int i = 0; i < FS_MAX_DEPTH; i++)
		w->part[i] = i < parent->depth ? parent->part[i] : NULL;
	w->part[parent->depth] = name;
	return 0;
}

/* A root file's attributes: its size is that of its content now. */
static int root_file_stat(struct gw *gw, int which, struct gw_attr *a)
{
	struct buf content = BUF_INIT;
	int ret = gw_root_read(gw, which, &content);

	a->kind = GW_CONTROL;
	a->mode = gw_root_mode(which);
	a->size = content.len;
	a->mtime = time(NULL);
	buf_release(&content);
	return ret;
}

static int stat_where(struct gw *gw, const struct fs_where *w, struct gw_attr *a)
{
	const char *const *p = w->part;

	switch (w->kind) {
	case FS_ROOT:
		return gw_root_stat(gw, a);
	case FS_ROOT_FILE:
		return root_file_stat(gw, w->which, a);
	case FS_DEST:
		return gw_dest_stat(gw, p[0], a);
	case FS_CONTROL:
		return gw_control_stat(gw, p[0], w->which, a);
	case FS_TEAM:
		return gw_team_stat(gw, p[0], p[1], a);
	case FS_DATE:
		return gw_date_stat(gw, p[0], p[1], p[2], a);
	default:
		return gw_file_stat(gw, p[0], p[1], p[2], p[3], a);
	}
}

static void fill_stat(const struct fs_context *c, struct stat *st, const struct gw_attr *a,
		      uint64_t ino)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = c->uid;
	st->st_gid = c->gid;
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

/* Control and root files change with every read: never cached. */
static double attr_timeout(const struct fs_context *c, enum fs_kind kind)
{
	return kind == FS_CONTROL || kind == FS_ROOT_FILE ? 0.0 : c->attr_timeout;
}

/*
 * Fills e for the child w of parent (stat in a) with one lookup counted.
 * -ENOMEM when the node cannot be made.
 */
static int make_entry(fuse_req_t req, const struct fs_inode *parent, const char *name,
		      const struct fs_where *w, const struct gw_attr *a,
		      struct fuse_entry_param *e)
{
	struct fs_context *c = ctx_of(req);
	struct fs_inode *n = fs_inodes_ref(c->inodes, parent, name, w->kind, w->which);

	if (!n)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	e->ino = fs_inode_id(c->inodes, n);
	fill_stat(c, &e->attr, a, n->ino);
	e->attr_timeout = attr_timeout(c, w->kind);
	e->entry_timeout = c->entry_timeout;
	return 0;
}

static void reply_negative(fuse_req_t req, fuse_ino_t parent, const struct fs_inode *pn,
			   const char *name)
{
	struct fs_context *c = ctx_of(req);
	struct fuse_entry_param e;

	if (c->negative_timeout <= 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.entry_timeout = c->negative_timeout;
	fs_notify_negative(c->notify, parent, pn->depth ? pn->part[0] : NULL, name);
	fuse_reply_entry(req, &e);
}

/* Replies to a LOOKUP or MKDIR of name in pn: ret, else the entry w. */
static void reply_new_entry(fuse_req_t req, const struct fs_inode *pn, const char *name,
			    const struct fs_where *w, const struct gw_attr *a, int ret)
{
	struct fuse_entry_param e;

	if (!ret)
		ret = make_entry(req, pn, name, w, a, &e);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, &e);
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_context *c = ctx_of(req);
	struct fs_inode *pn = node_of(req, parent);
	struct fs_where w;
	struct gw_attr a;
	int ret = where_child(&w, pn, name);

	if (!ret)
		ret = stat_where(c->gw, &w, &a);
	if (ret == -ENOENT) {
		reply_negative(req, parent, pn, name);
		return;
	}
	reply_new_entry(req, pn, name, &w, &a, ret);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_inodes_forget(ctx_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *v)
{
	struct fs_inodes *t = ctx_of(req)->inodes;

	for (size_t i = 0; i < count; i++)
		fs_inodes_forget(t, v[i].ino, v[i].nlookup);
	fuse_reply_none(req);
}

static void reply_attr(fuse_req_t req, const struct fs_inode *n, const struct gw_attr *a)
{
	struct fs_context *c = ctx_of(req);
	struct stat st;

	fill_stat(c, &st, a, n->ino);
	fuse_reply_attr(req, &st, attr_timeout(c, n->kind));
}

/*
 * A node's attributes now.  An open data file outlives its name (rmdir of
 * its destination, its rows deleted): through its handle, fstat and the
 * kernel's reads still see the version that was opened.
 */
static int stat_node(fuse_req_t req, const struct fs_inode *n, struct fuse_file_info *fi,
		     struct gw_attr *a)
{
	struct fs_where w;
	int ret;

	where_node(&w, n);
	ret = stat_where(ctx_of(req)->gw, &w, a);
	if (ret == -ENOENT && fi && n->kind == FS_DATA) {
		*a = fs_handle_of(fi)->attr;
		ret = 0;
	}
	return ret;
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_inode *n = node_of(req, ino);
	struct gw_attr a;
	int ret = stat_node(req, n, fi, &a);

	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_attr(req, n, &a);
}

/* Directories. */

/* Takes the listing of dir n into h (control files are never listed). */
static int list_dir(struct gw *gw, const struct fs_inode *n, struct fs_handle *h)
{
	const char *const *p = n->part;

	h->nnames = 0;
	buf_reset(&h->data);
	fs_handle_add_name(h, ".");
	fs_handle_add_name(h, "..");
	switch (n->kind) {
	case FS_ROOT:
		return gw_list_dests(gw, fs_handle_add_name, h);
	case FS_DEST:
		return gw_list_teams(gw, p[0], fs_handle_add_name, h);
	case FS_TEAM:
		return gw_list_dates(gw, p[0], p[1], fs_handle_add_name, h);
	default:
		return gw_list_files(gw, p[0], p[1], p[2], fs_handle_add_name, h);
	}
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_context *c = ctx_of(req);
	struct fs_inode *n = node_of(req, ino);
	uint64_t src, set;

	if (!fs_path_is_dir(n->kind)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	struct fs_handle *h = fs_handle_new(FS_HANDLE_DIR);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/*
	 * Below the root (whose listing only mkdir and rmdir change, which
	 * the kernel sees), a listing depends on the source and the
	 * destination's settings: while neither changed, the kernel's
	 * cached listing is still right.
	 */
	if (n->kind != FS_ROOT) {
		gw_generation(c->gw, &src, &set);
		fi->cache_readdir = 1;
		fi->keep_cache = fs_inodes_seen(c->inodes, n, src, set);
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT)
		fs_handle_free(h);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct fs_context *c = ctx_of(req);
	struct fs_inode *n = node_of(req, ino);
	struct fs_handle *h = fs_handle_of(fi);
	char *out = malloc(size ? size : 1);
	size_t used = 0;
	int ret = 0;

	if (!out) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&h->lock);
	/* Offset 0 is a new listing (rewinddir, or the kernel's cache refill). */
	if (off == 0 || !h->listed) {
		ret = list_dir(c->gw, n, h);
		h->listed = !ret;
	}
	for (size_t i = (size_t)off; !ret && i < h->nnames; i++) {
		const char *name = h->data.data + h->names[i];
		struct fuse_entry_param e;
		struct fs_where w;
		struct gw_attr a;
		size_t len;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			e.attr.st_ino = i == 0 ? n->ino : 1;
			e.attr.st_mode = S_IFDIR;
		} else if (where_child(&w, n, name) < 0) {
			continue;
		} else {
			e.attr.st_ino = fs_inode_child_ino(n, name);
			e.attr.st_mode = fs_path_is_dir(w.kind) ? S_IFDIR : S_IFREG;
		}
		/*
		 * readdirplus gives directories with their attributes, so ls -l
		 * of thousands of dates needs no lookup each.  Data files are
		 * listed by name only: their attributes mean generating them.
		 */
		int with_attr = plus && i >= 2 && fs_path_is_dir(w.kind) &&
				stat_where(c->gw, &w, &a) == 0;
		if (with_attr && make_entry(req, n, name, &w, &a, &e) < 0)
			with_attr = 0;
		if (plus)
			len = fuse_add_direntry_plus(req, out + used, size - used, name, &e,
						     (off_t)i + 1);
		else
			len = fuse_add_direntry(req, out + used, size - used, name, &e.attr,
						(off_t)i + 1);
		if (len > size - used) {
			if (with_attr)
				fs_inodes_forget(c->inodes, e.ino, 1);
			break;
		}
		used += len;
	}
	pthread_mutex_unlock(&h->lock);
	if (ret && used == 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, out, used);
	free(out);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fs_handle_free(fs_handle_of(fi));
	fuse_reply_err(req, 0);
}

/* Names of the tree: only destinations, in the root, can change. */

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs_context *c = ctx_of(req);
	struct fs_inode *pn = node_of(req, parent);
	struct gw_caller who = caller(req);
	struct fs_where w;
	struct gw_attr a;
	int ret;

	(void)mode;
	if (pn->kind != FS_ROOT) {
		fuse_reply_err(req, EROFS);
		return;
	}
	ret = where_child(&w, pn, name);
	if (ret == -ENOENT)
		ret = -EINVAL;
	if (!ret)
		ret = gw_dest_create(c->gw, name, &who);
	if (!ret) {
		/* A destination made again starts with nothing the kernel cached. */
		fs_inodes_unsee(c->inodes, name);
		ret = stat_where(c->gw, &w, &a);
	}
	reply_new_entry(req, pn, name, &w, &a, ret);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_context *c = ctx_of(req);
	struct fs_inode *pn = node_of(req, parent);
	struct gw_caller who = caller(req);
	int ret;

	if (pn->kind != FS_ROOT) {
		fuse_reply_err(req, EROFS);
		return;
	}
	ret = gw_dest_delete(c->gw, name, &who);
	if (!ret) {
		fs_inodes_unsee(c->inodes, name);
		/* The kernel holds the root locked until this reply: do not wait. */
		fs_notify_dest(c->notify, name, 0);
	}
	fuse_reply_err(req, -ret);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_where w;
	struct gw_attr a;
	int ret = where_child(&w, node_of(req, parent), name);

	if (!ret)
		ret = stat_where(ctx_of(req)->gw, &w, &a);
	fuse_reply_err(req, ret ? -ret : EROFS);
}

static void fs_erofs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	(void)parent;
	(void)name;
	(void)newparent;
	(void)newname;
	(void)flags;
	fuse_reply_err(req, EROFS);
}

static void fs_erofs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
			  const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EROFS);
}

static void fs_erofs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			     const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fuse_reply_err(req, EROFS);
}

static void fs_erofs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			   mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, EROFS);
}

static void fs_erofs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			    mode_t mode, struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	fuse_reply_err(req, EROFS);
}

/* Opening files. */

/* Did the caller give up (a signal interrupted its request)? */
static int interrupted(void *req)
{
	return fuse_req_interrupted(req);
}

static int open_control(fuse_req_t req, const struct fs_inode *n, struct fuse_file_info *fi)
{
	struct gw *gw = ctx_of(req)->gw;
	int acc = fi->flags & O_ACCMODE;
	struct gw_attr a;
	int ret = gw_control_stat(gw, n->part[0], n->which, &a);

	if (ret)
		return ret;
	if (acc != O_RDONLY && !(a.mode & 0200))
		return -EACCES;
	if (acc != O_WRONLY && !(a.mode & 0444))
		return -EACCES;
	struct fs_handle *h = fs_handle_new(FS_HANDLE_CONTROL);
	if (!h)
		return -ENOMEM;
	h->control = n->which;
	h->writing = acc != O_RDONLY;
	h->who = caller(req);
	snprintf(h->dest, sizeof(h->dest), "%s", n->part[0]);
	if (h->control == GW_SYNC) {
		/* Blocks until the destination is in sync; Ctrl-C interrupts. */
		ret = gw_sync_report(gw, h->dest, interrupted, req, &h->data);
	} else if (acc != O_WRONLY) {
		ret = gw_control_read(gw, h->dest, h->control, &h->data);
	}
	if (ret) {
		fs_handle_free(h);
		return ret;
	}
	if (h->writing && fs_is_trigger(h->control)) {
		fs_trigger_opened(h);
	}
	/* Content is made per open: no page cache, sizes may differ from stat. */
	fi->direct_io = 1;
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int open_root_file(fuse_req_t req, const struct fs_inode *n,
			  struct fuse_file_info *fi)
{
	struct fs_context *c = ctx_of(req);
	const struct fuse_ctx *who = fuse_req_ctx(req);

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	/* The audit log is the mount owner's (mode 0400). */
	if (gw_root_mode(n->which) == 0400 && who->uid != c->uid && who->uid != 0)
		return -EACCES;
	struct fs_handle *h = fs_handle_new(FS_HANDLE_CONTROL);
	if (!h)
		return -ENOMEM;
	int ret = gw_root_read(c->gw, n->which, &h->data);
	if (ret) {
		fs_handle_free(h);
		return ret;
	}
	fi->direct_io = 1;
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int open_data(fuse_req_t req, fuse_ino_t ino, struct fs_inode *n,
		     struct fuse_file_info *fi)
{
	struct fs_context *c = ctx_of(req);
	const char *const *p = n->part;
	struct gw_attr a;
	int fd = -1;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return -EACCES;
	int ret = gw_file_open(c->gw, p[0], p[1], p[2], p[3], &fd, &a);
	if (ret)
		return ret;
	struct fs_handle *h = fs_handle_new(FS_HANDLE_DATA);
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->fd = fd;
	h->attr = a;
	/*
	 * The same version as at the last open: the kernel's pages are still
	 * right.  A new one: drop them (no keep_cache), and the size the
	 * kernel holds too, so reads go to the new end of file.
	 */
	fi->keep_cache = fs_inodes_seen(c->inodes, n, a.size, (uint64_t)a.mtime);
	if (!fi->keep_cache)
		fuse_lowlevel_notify_inval_inode(c->se, ino, -1, 0);
	fi->noflush = 1;
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_inode *n = node_of(req, ino);
	int ret;

	switch (n->kind) {
	case FS_ROOT_FILE:
		ret = open_root_file(req, n, fi);
		break;
	case FS_CONTROL:
		ret = open_control(req, n, fi);
		break;
	case FS_DATA:
		ret = open_data(req, ino, n, fi);
		break;
	default:
		ret = -EISDIR;
	}
	if (ret)
		fuse_reply_err(req, -ret);
	else if (fuse_reply_open(req, fi) == -ENOENT)
		/* The caller went away (interrupted): no RELEASE will come. */
		fs_handle_drop(fs_handle_of(fi));
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_handle *h = fs_handle_of(fi);

	(void)ino;
	if (h->kind == FS_HANDLE_DATA) {
		/* The cache file's fd: libfuse splices it to the kernel. */
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = h->fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	/*
	 * The snapshot is fixed at open.  Once the reply is written, RELEASE
	 * may free the handle on another thread while writev() is still
	 * returning here (sanitizers check its buffers after the call), so
	 * the reply goes from a copy of this request's own.
	 */
	size_t len = h->data.len;
	size_t n = off >= 0 && (size_t)off < len ? len - (size_t)off : 0;
	if (n > size)
		n = size;
	char *copy = malloc(n ? n : 1);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (n)
		memcpy(copy, h->data.data + off, n);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct fs_handle *h = fs_handle_of(fi);
	int ret;

	(void)ino;
	(void)off;
	if (h->kind != FS_HANDLE_CONTROL || !h->writing) {
		fuse_reply_err(req, EACCES);
		return;
	}
	pthread_mutex_lock(&h->lock);
	if (h->failed) {
		ret = -EINVAL;
	} else if (h->input.len + size > 1024 * 1024) {
		ret = -EFBIG;
		h->failed = 1;
	} else {
		/*
		 * Input is appended in arrival order whatever the offset
		 * (O_APPEND-like).  It may carry a secret (.config): it is kept
		 * only in h->input, wiped when used, and wiped in libfuse's
		 * request buffer too, which nothing reads after this handler
		 * returns (a WRITE's reply is its size).
		 */
		buf_add_secret(&h->input, data, size);
		wipe_bytes((void *)data, size);
		h->wrote = 1;
		ret = gw_control_check(ctx_of(req)->gw, h->dest, h->control, h->input.data,
				       h->input.len);
		if (ret)
			h->failed = 1;
	}
	pthread_mutex_unlock(&h->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_context *c = ctx_of(req);
	struct fs_handle *h = fs_handle_of(fi);
	struct gw_caller who = caller(req);
	int ret = 0, config_changed = 0;

	(void)ino;
	if (h->kind != FS_HANDLE_CONTROL || !h->writing) {
		fuse_reply_err(req, 0);
		return;
	}
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
		ret = gw_control_touch(c->gw, h->dest, h->control, &who);
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
		ret = gw_control_write(c->gw, h->dest, h->control, buf_str(&h->input),
				       h->input.len, &who);
		if (ret)
			h->failed = 1;
		config_changed = !ret && h->control == GW_CONFIG;
		buf_reset_secret(&h->input);
	}
	pthread_mutex_unlock(&h->lock);
	/* New settings may show other teams or files: before close() returns. */
	if (config_changed)
		fs_notify_dest(c->notify, h->dest, 1);
	fuse_reply_err(req, -ret);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h = fs_handle_of(fi);

	(void)ino;
	/*
	 * touch: an open-to-close with nothing written (times set through the
	 * fd included) is one trigger, acted on here, at the last close,
	 * unless setattr acted for it already.
	 */
	if (h->kind == FS_HANDLE_CONTROL && h->writing && fs_is_trigger(h->control)) {
		fs_trigger_closed(h);
		if (!h->wrote && !h->acted) {
			int ret = gw_control_touch(ctx_of(req)->gw, h->dest, h->control, &h->who);
			if (ret)
				log_warn("destination '%s': touch of a control file failed: %s",
					 h->dest, strerror(-ret));
		}
	}
	fs_handle_free(h);
	fuse_reply_err(req, 0);
}

/* setattr: truncation of control input and touch; nothing else changes. */
static int set_size(const struct fs_inode *n, const struct gw_attr *a, off_t size)
{
	switch (n->kind) {
	case FS_CONTROL:
		/* O_TRUNC on a control file: the input replaces nothing, so accept it. */
		if (!(a->mode & 0200))
			return -EACCES;
		return size == 0 ? 0 : -EINVAL;
	case FS_DATA:
	case FS_ROOT_FILE:
		return -EACCES;
	default:
		return -EISDIR;
	}
}

static int set_times(fuse_req_t req, const struct fs_inode *n, const struct gw_attr *a,
		     struct fuse_file_info *fi)
{
	if (n->kind != FS_CONTROL || !(a->mode & 0200))
		return n->kind == FS_DATA ? -EACCES : -EROFS;
	/*
	 * A bare utimens, or part of a touch (the file is open for writing):
	 * act now, so that touch(1) has acted when it returns; the kernel
	 * sends the close's RELEASE without waiting for it.
	 */
	struct gw_caller who = caller(req);
	if (fi || !fs_is_trigger(n->which) || fs_trigger_claim(n->part[0], n->which, who.pid) == 0)
		return 0;
	return gw_control_touch(ctx_of(req)->gw, n->part[0], n->which, &who);
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fs_inode *n = node_of(req, ino);
	struct gw_attr a;
	int ret = stat_node(req, n, fi, &a);

	if (!ret && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		ret = -EROFS;
	if (!ret && (to_set & FUSE_SET_ATTR_SIZE))
		ret = set_size(n, &a, attr->st_size);
	if (!ret && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)))
		ret = set_times(req, n, &a, fi);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_attr(req, n, &a);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	(void)ino;
	memset(&st, 0, sizeof(st));
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_namemax = FS_NAME_MAX;
	fuse_reply_statfs(req, &st);
}

/* Extended attributes: the delivery state of data files (gw_file_xattr). */

static void reply_value(fuse_req_t req, const char *value, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs_inode *n = node_of(req, ino);
	const char *const *p = n->part;
	struct buf v = BUF_INIT;
	int ret = -ENODATA;

	/*
	 * Only user.* names exist here: no ACLs, no security labels.  Saying
	 * so (rather than "no such attribute") lets ls -l, cp -a and rsync -A
	 * stop asking every file for them.
	 */
	if (strncmp(name, "user.", 5) != 0)
		ret = -EOPNOTSUPP;
	else if (n->kind == FS_DATA)
		ret = gw_file_xattr(ctx_of(req)->gw, p[0], p[1], p[2], p[3], name, &v);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_value(req, v.data, v.len, size);
	buf_release(&v);
}

static int add_xattr_name(void *c, const char *name)
{
	buf_add(c, name, strlen(name) + 1);
	return 0;
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs_inode *n = node_of(req, ino);
	const char *const *p = n->part;
	struct buf names = BUF_INIT;
	int ret = 0;

	if (n->kind == FS_DATA)
		ret = gw_file_xattr_list(ctx_of(req)->gw, p[0], p[1], p[2], p[3],
					 add_xattr_name, &names);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_value(req, names.data, names.len, size);
	buf_release(&names);
}

static void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	fuse_reply_err(req, EROFS);
}

static void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	(void)name;
	fuse_reply_err(req, EROFS);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Reads are served from cache fds: let the kernel splice them. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	/*
	 * Every listing comes with attributes: a directory's cost no more
	 * than its name, and data files are given by name only (do_readdir).
	 */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* A file's pages go when its size or mtime changes. */
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

/* The session is over: no RELEASE will come for handles still open. */
static void fs_destroy(void *userdata)
{
	(void)userdata;
	fs_handles_free_all();
}

static const struct fuse_lowlevel_ops ops = {
	.init = fs_init,
	.destroy = fs_destroy,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.mkdir = fs_mkdir,
	.rmdir = fs_rmdir,
	.unlink = fs_unlink,
	.rename = fs_erofs_rename,
	.link = fs_erofs_link,
	.symlink = fs_erofs_symlink,
	.mknod = fs_erofs_mknod,
	.create = fs_erofs_create,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.statfs = fs_statfs,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.setxattr = fs_setxattr,
	.removexattr = fs_removexattr,
};

const struct fuse_lowlevel_ops *fs_operations(void)
{
	return &ops;
}
