/*
 * inode: the table of nodes the kernel holds (see inode.h).
 *
 * Lock: t->lock guards the hash table, every node's nlookup and its
 * opened_* fields.  Nothing else is called while it is held.
 */
#include "inode.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct fs_inodes {
	pthread_mutex_t lock;
	struct hmap nodes;     /* every node but the root, by path */
	struct fs_inode *root; /* nodeid FUSE_ROOT_ID; path empty */
};

struct path_key {
	const char *path;
	size_t len;
};

static int node_eq(const struct hmap_entry *e, const void *key)
{
	const struct fs_inode *n = (const struct fs_inode *)e;
	const struct path_key *k = key;

	return n->pathlen == k->len && memcmp(n->path, k->path, k->len) == 0;
}

/* A node for path (components separated by NUL, len bytes). */
static struct fs_inode *node_new(const char *path, size_t len, enum fs_kind kind,
				 int which)
{
	struct fs_inode *n = calloc(1, sizeof(*n) + len + 1);

	if (!n)
		return NULL;
	n->kind = kind;
	n->which = which;
	n->pathlen = len;
	memcpy(n->path, path, len);
	n->ino = fs_path_ino(n->path, len);
	for (size_t i = 0; len && i <= len && n->depth < FS_MAX_DEPTH; i++) {
		if (i == 0 || n->path[i - 1] == '\0')
			n->part[n->depth++] = n->path + i;
	}
	return n;
}

struct fs_inodes *fs_inodes_new(void)
{
	struct fs_inodes *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->root = node_new("", 0, FS_ROOT, -1);
	if (!t->root) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void fs_inodes_free(struct fs_inodes *t)
{
	struct hmap_entry *e, *next;
	size_t b = 0;

	if (!t)
		return;
	for (e = hmap_next(&t->nodes, &b, NULL); e; e = next) {
		next = hmap_next(&t->nodes, &b, e);
		free(e);
	}
	hmap_release(&t->nodes);
	free(t->root);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct fs_inode *fs_inodes_get(struct fs_inodes *t, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return t->root;
	return (struct fs_inode *)(uintptr_t)ino;
}

fuse_ino_t fs_inode_id(struct fs_inodes *t, const struct fs_inode *node)
{
	if (node == t->root)
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)node;
}

struct fs_inode *fs_inodes_ref(struct fs_inodes *t, const struct fs_inode *parent,
			       const char *name, enum fs_kind kind, int which)
{
	size_t nlen = strlen(name);
	size_t len = parent->pathlen + (parent->pathlen ? 1 : 0) + nlen;
	/* FS_MAX_DEPTH names of FS_NAME_MAX bytes and their separators fit. */
	char path[FS_MAX_DEPTH * (FS_NAME_MAX + 1)];
	struct fs_inode *n;

	if (len > sizeof(path) || parent->depth == FS_MAX_DEPTH)
		return NULL;
	memcpy(path, parent->path, parent->pathlen);
	if (parent->pathlen)
		path[parent->pathlen] = '\0';
	memcpy(path + len - nlen, name, nlen);
	struct path_key key = {path, len};
	uint64_t hash = hmap_hash(path, len);

	pthread_mutex_lock(&t->lock);
	n = (struct fs_inode *)hmap_find(&t->nodes, hash, node_eq, &key);
	if (!n) {
		n = node_new(path, len, kind, which);
		if (n)
			hmap_insert(&t->nodes, &n->node, hash);
	}
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&t->lock);
	return n;
}

uint64_t fs_inode_child_ino(const struct fs_inode *parent, const char *name)
{
	return fs_path_child_ino(parent->path, parent->pathlen, name);
}

void fs_inodes_forget(struct fs_inodes *t, fuse_ino_t ino, uint64_t n)
{
	struct fs_inode *node = fs_inodes_get(t, ino);

	if (node == t->root)
		return;
	pthread_mutex_lock(&t->lock);
	node->nlookup = node->nlookup > n ? node->nlookup - n : 0;
	if (node->nlookup == 0)
		hmap_remove(&t->nodes, &node->node);
	else
		node = NULL;
	pthread_mutex_unlock(&t->lock);
	free(node);
}

int fs_inodes_seen(struct fs_inodes *t, struct fs_inode *node, uint64_t a, uint64_t b)
{
	int same;

	pthread_mutex_lock(&t->lock);
	same = node->seen && node->seen_a == a && node->seen_b == b;
	node->seen = 1;
	node->seen_a = a;
	node->seen_b = b;
	pthread_mutex_unlock(&t->lock);
	return same;
}

/* Whether node is dest or below it. */
static int under(const struct fs_inode *node, const char *dest, size_t dlen)
{
	return node->pathlen >= dlen && memcmp(node->path, dest, dlen) == 0 &&
	       (node->pathlen == dlen || node->path[dlen] == '\0');
}

void fs_inodes_unsee(struct fs_inodes *t, const char *dest)
{
	struct hmap_entry *e;
	size_t b = 0, dlen = strlen(dest);

	pthread_mutex_lock(&t->lock);
	for (e = hmap_next(&t->nodes, &b, NULL); e; e = hmap_next(&t->nodes, &b, e)) {
		struct fs_inode *node = (struct fs_inode *)e;
		if (under(node, dest, dlen))
			node->seen = 0;
	}
	pthread_mutex_unlock(&t->lock);
}

int fs_inodes_snapshot(struct fs_inodes *t, const char *dest, struct fs_inode_ref **out)
{
	struct hmap_entry *e;
	struct fs_inode_ref *v = NULL;
	size_t b = 0, n = 0, cap = 0, dlen = dest ? strlen(dest) : 0;
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	for (e = hmap_next(&t->nodes, &b, NULL); e; e = hmap_next(&t->nodes, &b, e)) {
		struct fs_inode *node = (struct fs_inode *)e;
		if (node->kind == FS_ROOT_FILE || node->pathlen >= sizeof(v->path))
			continue;
		if (dest && !under(node, dest, dlen))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			struct fs_inode_ref *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				ret = -ENOMEM;
				break;
			}
			v = nv;
		}
		struct fs_inode_ref *r = &v[n++];
		r->id = fs_inode_id(t, node);
		r->kind = node->kind;
		memcpy(r->path, node->path, node->pathlen);
		r->path[node->pathlen] = '\0';
		r->pathlen = node->pathlen;
		r->name = r->path + (node->part[node->depth - 1] - node->path);
		r->parent = 0;
		if (node->depth == 1) {
			r->parent = FUSE_ROOT_ID;
		} else {
			size_t plen = (size_t)(node->part[node->depth - 1] - node->path) - 1;
			struct path_key key = {node->path, plen};
			struct hmap_entry *p = hmap_find(&t->nodes, hmap_hash(node->path, plen),
							 node_eq, &key);
			if (p)
				r->parent = fs_inode_id(t, (struct fs_inode *)p);
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (ret) {
		free(v);
		return ret;
	}
	*out = v;
	return (int)n;
}
