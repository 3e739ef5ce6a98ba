/*
 * Fuzz target: the paths FUSE hands fs/ (fs_path_parse()).
 *
 * The input, cut at its first NUL, is the path.  A small model written
 * here says which paths name something: "/" and "/A/B..." with one to
 * FS_MAX_DEPTH components, none empty, "." or "..", shorter than the
 * parser's storage.  Invariants checked:
 *   - the parser accepts exactly what the model accepts;
 *   - when it does, its components are the model's, joined they give the
 *     path back, and control/root name the file the gateway would find.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "gateway.h"
#include "path.h"

/* Whether the model says path names something; counts its components. */
static int model_accepts(const char *path, int *depth)
{
	size_t len = strlen(path);

	*depth = 0;
	if (path[0] != '/' || len >= sizeof(((struct fs_path *)0)->storage))
		return 0;
	if (len == 1)
		return 1;
	for (const char *s = path + 1;;) {
		const char *end = strchr(s, '/');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		if (++*depth > FS_MAX_DEPTH)
			return 0;
		if (!end)
			return 1;
		s = end + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1);
	struct fs_path *p = malloc(sizeof(*p));
	struct buf joined = BUF_INIT;
	int depth;

	FUZZ_CHECK(path && p);
	memcpy(path, data, size);
	path[size] = '\0';

	int ret = fs_path_parse(path, p);
	int ok = model_accepts(path, &depth);
	FUZZ_CHECK(ret == 0 || ret == -ENOENT);
	FUZZ_CHECK((ret == 0) == ok);
	if (ret == 0) {
		FUZZ_CHECK(p->depth == depth && p->depth >= 0 && p->depth <= FS_MAX_DEPTH);
		for (int i = 0; i < p->depth; i++) {
			const char *part = p->part[i];
			FUZZ_CHECK(part >= p->storage && part < p->storage + sizeof(p->storage));
			FUZZ_CHECK(part[0] != '\0' && strchr(part, '/') == NULL);
			FUZZ_CHECK(strcmp(part, ".") != 0 && strcmp(part, "..") != 0);
			buf_addf(&joined, "/%s", part);
		}
		FUZZ_CHECK(strcmp(p->depth ? buf_str(&joined) : "/", path) == 0);
		FUZZ_CHECK(p->control == (p->depth == 2 ? gw_control_find(p->part[1]) : -1));
		FUZZ_CHECK(p->root == (p->depth == 1 ? gw_root_find(p->part[0]) : -1));
	}

	buf_release(&joined);
	free(p);
	free(path);
	return 0;
}
