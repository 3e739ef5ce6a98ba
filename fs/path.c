/*
 * path: splitting FUSE paths into the tree's components (see path.h).
 */
#include "path.h"

#include <errno.h>
#include <string.h>

#include "gateway.h"

int fs_path_parse(const char *path, struct fs_path *p)
{
	size_t len = strlen(path);

	p->depth = 0;
	p->control = -1;
	p->root = -1;
	if (len >= sizeof(p->storage) || path[0] != '/')
		return -ENOENT;
	memcpy(p->storage, path, len + 1);
	char *s = p->storage + 1;
	/*
	 * Every '/' but the root's starts a component, which must not be
	 * empty: "/a/" names nothing, like "/a//b".
	 */
	while (len > 1) {
		char *slash = strchr(s, '/');
		if (slash)
			*slash = '\0';
		if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
		    p->depth == FS_MAX_DEPTH)
			return -ENOENT;
		p->part[p->depth++] = s;
		if (!slash)
			break;
		s = slash + 1;
	}
	if (p->depth == 2)
		p->control = gw_control_find(p->part[1]);
	if (p->depth == 1)
		p->root = gw_root_find(p->part[0]);
	return 0;
}
