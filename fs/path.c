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

uint64_t fs_path_ino(const char *path, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	if (len == 0)
		return 1;
	for (size_t i = 0; i < len; i++) {
		h ^= path[i] ? (unsigned char)path[i] : '/';
		h *= 1099511628211ULL;
	}
	/* 0 is no inode, 1 the root: both stay free (a 2^-63 chance each). */
	return h > 1 ? h : h + 2;
}
