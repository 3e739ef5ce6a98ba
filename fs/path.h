/*
 * path: what a name means in the tree, and the inode number of a path.
 *
 * The tree, by depth below the mount root:
 *   (root)                    FS_ROOT: destinations, and hidden root files
 *   DEST                      FS_DEST, or FS_ROOT_FILE (.status, .metrics, .audit)
 *   DEST/TEAM                 FS_TEAM, or FS_CONTROL (.config, .status, ...)
 *   DEST/TEAM/DATE            FS_DATE
 *   DEST/TEAM/DATE/FILE       FS_DATA
 * Whether a name exists is the gateway's to say; these functions only say
 * what it would be.
 *
 * Pure functions: safe from any thread.
 */
#ifndef WAREHOUSEFS_FS_PATH_H
#define WAREHOUSEFS_FS_PATH_H

#include <stddef.h>
#include <stdint.h>

#define FS_MAX_DEPTH 4
#define FS_NAME_MAX 255

enum fs_kind {
	FS_ROOT,
	FS_ROOT_FILE,
	FS_DEST,
	FS_CONTROL,
	FS_TEAM,
	FS_DATE,
	FS_DATA,
};

/*
 * The kind of the entry called name in a directory of kind parent, with
 * *which set to the control or root file it is (enum gw_control,
 * enum gw_root_file), else -1.  -ENOENT for a name that can name nothing
 * (empty, ".", "..", with a '/'), -ENAMETOOLONG past FS_NAME_MAX bytes,
 * -ENOTDIR when parent is not a directory.
 */
int fs_path_child(enum fs_kind parent, const char *name, int *which);

/* Whether entries of this kind are directories. */
int fs_path_is_dir(enum fs_kind kind);

/*
 * The inode number of the entry at path below the root: components
 * separated by NUL, len bytes in all (0 for the root).  FNV-1a (64 bit)
 * of the components joined by '/', never 0 or 1 (1 is the root's).
 */
uint64_t fs_path_ino(const char *path, size_t len);

/* The inode number of the entry called name in the directory at path. */
uint64_t fs_path_child_ino(const char *path, size_t len, const char *name);

#endif
