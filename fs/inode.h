/*
 * inode: the nodes the kernel knows, for fs/'s low-level operations.
 *
 * Every entry fs/ gives the kernel (a LOOKUP reply, a readdirplus entry)
 * names one struct fs_inode and counts as one lookup; the kernel gives
 * them back with FORGET, and a node is freed when its count reaches zero.
 * The nodeid the kernel sees is the node's address; the root is nodeid 1
 * and never freed.
 *
 * A node is named by its path below the mount root, kept as up to
 * FS_MAX_DEPTH components ("DEST", "TEAM", "DATE", "FILE").  Its inode
 * number (st_ino) is derived from that path alone (fs_path_ino()), so
 * it is the same at every mount, whatever order things are looked up in.
 *
 * Threads: every function may be called from any thread; one mutex guards
 * the table and every node's counts and fields marked so.
 */
#ifndef WAREHOUSEFS_FS_INODE_H
#define WAREHOUSEFS_FS_INODE_H

#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdint.h>

#include "base/hmap.h"
#include "path.h"

struct fs_inode {
	struct hmap_entry node;  /* in the table, by path */
	enum fs_kind kind;
	int which;               /* FS_CONTROL, FS_ROOT_FILE: the file */
	uint64_t ino;            /* st_ino */
	uint64_t nlookup;        /* table lock */
	int depth;
	const char *part[FS_MAX_DEPTH]; /* into path */
	/*
	 * What the kernel was last given to cache (table lock): for FS_DATA
	 * the size and mtime of the version last opened, so a reopen of the
	 * same version keeps the page cache; for a directory the generations
	 * (gw_generation()) of its last listing, so an unchanged listing
	 * stays in the kernel's readdir cache.
	 */
	int seen;
	uint64_t seen_a;
	uint64_t seen_b;
	size_t pathlen;          /* path: components separated by NUL */
	char path[];
};

struct fs_inodes;

/* A new, empty table (with its root).  NULL when out of memory. */
struct fs_inodes *fs_inodes_new(void);

/* Frees the table and every node in it. */
void fs_inodes_free(struct fs_inodes *t);

/* The node the kernel calls ino (FUSE_ROOT_ID for the root). */
struct fs_inode *fs_inodes_get(struct fs_inodes *t, fuse_ino_t ino);

/* The kernel's name for node. */
fuse_ino_t fs_inode_id(struct fs_inodes *t, const struct fs_inode *node);

/*
 * The child of parent called name, of the given kind, with one more
 * lookup counted (created if needed).  NULL when out of memory.
 */
struct fs_inode *fs_inodes_ref(struct fs_inodes *t, const struct fs_inode *parent,
			       const char *name, enum fs_kind kind, int which);

/* The inode number the child called name of parent has (fs_path_ino()). */
uint64_t fs_inode_child_ino(const struct fs_inode *parent, const char *name);

/* The kernel forgot n lookups of ino. */
void fs_inodes_forget(struct fs_inodes *t, fuse_ino_t ino, uint64_t n);

/*
 * Records what node's content was when the kernel was given it to cache
 * (a, b: see seen_a, seen_b); returns non-zero when it is what was
 * recorded last, so the kernel's cache of it is still right.
 */
int fs_inodes_seen(struct fs_inodes *t, struct fs_inode *node, uint64_t a, uint64_t b);

/* Forgets what was recorded for dest and every node below it. */
void fs_inodes_unsee(struct fs_inodes *t, const char *dest);

/*
 * What the invalidation thread needs of a node: copied out under the
 * table lock, so it stays valid after a FORGET.
 */
struct fs_inode_ref {
	fuse_ino_t id;
	fuse_ino_t parent;  /* 0 when the parent is not known to the kernel */
	enum fs_kind kind;
	char path[1024];    /* components separated by NUL */
	size_t pathlen;
	const char *name;   /* the last component, into path */
};

/*
 * Copies out every node whose first component is dest (every node when
 * dest is NULL), except the root and its files.  Returns how many, with
 * *out allocated (free()), or a negative errno.
 */
int fs_inodes_snapshot(struct fs_inodes *t, const char *dest, struct fs_inode_ref **out);

#endif
