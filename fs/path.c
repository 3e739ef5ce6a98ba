/*
 * path: the names of the tree and their inode numbers (see path.h).
 */
#include "path.h"

#include <errno.h>
#include <string.h>

#include "gateway.h"

int fs_path_is_dir(enum fs_kind kind)
{
	return kind == FS_ROOT || kind == FS_DEST || kind == FS_TEAM || kind == FS_DATE;
}

int fs_path_child(enum fs_kind parent, const char *name, int *which)
{
	size_t len = strnlen(name, FS_NAME_MAX + 1);

	*which = -1;
	if (!fs_path_is_dir(parent))
		return -ENOTDIR;
	if (len > FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (len == 0 || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return -ENOENT;
	switch (parent) {
	case FS_ROOT:
		*which = gw_root_find(name);
		return *which >= 0 ? FS_ROOT_FILE : FS_DEST;
	case FS_DEST:
		*which = gw_control_find(name);
		return *which >= 0 ? FS_CONTROL : FS_TEAM;
	case FS_TEAM:
		return FS_DATE;
	default:
		return FS_DATA;
	}
}

#define FNV_BASIS 14695981039346656037ULL

/* FNV-1a over len bytes, from h on; a NUL counts as the '/' it stands for. */
static uint64_t fnv1a(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= s[i] ? (unsigned char)s[i] : '/';
		h *= 1099511628211ULL;
	}
	return h;
}

/* 0 is no inode, 1 the root: both stay free (a 2^-63 chance each). */
static uint64_t ino_of(uint64_t h)
{
	return h > 1 ? h : h + 2;
}

uint64_t fs_path_ino(const char *path, size_t len)
{
	return len ? ino_of(fnv1a(FNV_BASIS, path, len)) : 1;
}

uint64_t fs_path_child_ino(const char *path, size_t len, const char *name)
{
	uint64_t h = fnv1a(FNV_BASIS, path, len);

	if (len)
		h = fnv1a(h, "/", 1);
	return ino_of(fnv1a(h, name, strlen(name)));
}
