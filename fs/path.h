/*
 * path: how fs/ reads the paths FUSE hands it.  A path has at most
 * FS_MAX_DEPTH components (see fs.c for what each depth is); anything
 * deeper, or with an empty, "." or ".." component, names nothing.
 *
 * Pure functions: safe from any thread.
 */
#ifndef WAREHOUSEFS_FS_PATH_H
#define WAREHOUSEFS_FS_PATH_H

#define FS_MAX_DEPTH 4

struct fs_path {
	int depth; /* number of components; 0 for the root */
	char *part[FS_MAX_DEPTH]; /* into storage */
	char storage[4096];
	int control; /* depth 2: which control file (enum gw_control), or -1 */
	int root;    /* depth 1: which hidden root file (enum gw_root_file), or -1 */
};

/*
 * Splits path (NUL-terminated, starting with '/') into p, which keeps its
 * own copy.  Returns 0, or -ENOENT when path is deeper than the tree, too
 * long, or has odd parts.
 */
int fs_path_parse(const char *path, struct fs_path *p);

#endif
