/*
 * Fuzz target: the names the kernel hands fs/ in LOOKUP, MKDIR and the
 * like (fs_path_child()), and the inode numbers of paths (fs_path_ino()).
 *
 * The input's first byte picks the parent's kind (enum fs_kind, modulo
 * its count); the rest, cut at its first NUL, is the name.  A small model
 * written here says what the name must be.  Invariants checked:
 *   - a name is refused exactly when it is empty, ".", "..", or holds a
 *     '/' (-ENOENT), or is longer than FS_NAME_MAX (-ENAMETOOLONG); a
 *     parent that is not a directory is -ENOTDIR;
 *   - an accepted name is of the kind one level down, and names a control
 *     or root file exactly when the gateway finds it as one;
 *   - inode numbers are never 0 or 1 below the root and depend only on
 *     the path: equal for equal paths, as joined with '/', and a child's
 *     number from its parent's path is the whole path's.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "gateway.h"
#include "path.h"

#define NKINDS 7

static int model_valid(const char *name)
{
	size_t len = strlen(name);

	if (len > FS_NAME_MAX)
		return -ENAMETOOLONG;
	return len > 0 && !strchr(name, '/') &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	enum fs_kind parent = (enum fs_kind)(data[0] % NKINDS);
	char *name = malloc(size);
	int which;

	FUZZ_CHECK(name);
	memcpy(name, data + 1, size - 1);
	name[size - 1] = '\0';

	int kind = fs_path_child(parent, name, &which);
	if (!fs_path_is_dir(parent)) {
		FUZZ_CHECK(kind == -ENOTDIR && which == -1);
	} else if (model_valid(name) <= 0) {
		FUZZ_CHECK(kind == (model_valid(name) ? -ENAMETOOLONG : -ENOENT) && which == -1);
	} else {
		switch (parent) {
		case FS_ROOT:
			FUZZ_CHECK(which == gw_root_find(name));
			FUZZ_CHECK(kind == (which >= 0 ? FS_ROOT_FILE : FS_DEST));
			break;
		case FS_DEST:
			FUZZ_CHECK(which == gw_control_find(name));
			FUZZ_CHECK(kind == (which >= 0 ? FS_CONTROL : FS_TEAM));
			break;
		case FS_TEAM:
			FUZZ_CHECK(kind == FS_DATE && which == -1);
			break;
		default:
			FUZZ_CHECK(kind == FS_DATA && which == -1);
		}
	}

	/* The name as a path of NUL-separated components, and joined by '/'. */
	size_t len = strlen(name);
	char *joined = malloc(len + 1);
	FUZZ_CHECK(joined);
	memcpy(joined, name, len + 1);
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/')
			name[i] = '\0';
	uint64_t ino = fs_path_ino(name, len);
	FUZZ_CHECK(ino == fs_path_ino(joined, len));
	FUZZ_CHECK(len == 0 ? ino == 1 : ino > 1);
	/* A child's number from its parent's path is the whole path's. */
	const char *slash = strrchr(joined, '/');
	if (slash && slash > joined)
		FUZZ_CHECK(fs_path_child_ino(name, (size_t)(slash - joined), slash + 1) == ino);
	else if (!slash && len)
		FUZZ_CHECK(fs_path_child_ino("", 0, joined) == ino);

	free(joined);
	free(name);
	return 0;
}
