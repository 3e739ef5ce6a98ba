/*
 * replay: runs a fuzz target on the files given, without libFuzzer, so that
 * the seed corpus (and every crash input added to it) is a plain unit test
 * in any build, gcc included.
 *
 *   replay_config tests/fuzz/corpus/config [more files or directories...]
 *
 * Directories are read one level deep.  Fails when an argument cannot be
 * read or names no input at all (a wrong path must not pass as "no crash").
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Runs the target on one file: 0, or -1 when it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t len = 0, alloc = 0;
	int ret = -1;

	if (!f) {
		fprintf(stderr, "replay: cannot open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == alloc) {
			alloc = alloc ? 2 * alloc : 4096;
			uint8_t *p = realloc(data, alloc);
			if (!p)
				goto out;
			data = p;
		}
		size_t n = fread(data + len, 1, alloc - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: cannot read '%s'\n", path);
		goto out;
	}
	/*
	 * An exact-size copy, so that AddressSanitizer sees a read past the
	 * input's end as libFuzzer would.
	 */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact)
		goto out;
	memcpy(exact, data, len);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	ret = 0;
out:
	free(data);
	fclose(f);
	return ret;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the target on every file of dir, in name order: how many, or -1. */
static int replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0;
	int count = 0;

	if (!d) {
		fprintf(stderr, "replay: cannot open '%s': %s\n", dir, strerror(errno));
		return -1;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char **p = realloc(names, (n + 1) * sizeof(*names));
		if (!p)
			abort();
		names = p;
		size_t size = strlen(dir) + strlen(e->d_name) + 2;
		names[n] = malloc(size);
		if (!names[n])
			abort();
		snprintf(names[n], size, "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (count >= 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			count = replay_file(names[i]) < 0 ? -1 : count + 1;
		free(names[i]);
	}
	free(names);
	return count;
}

int main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int n;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: cannot open '%s': %s\n", argv[i], strerror(errno));
			return 1;
		}
		n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) < 0 ? -1 : 1;
		if (n <= 0) {
			if (n == 0)
				fprintf(stderr, "replay: no inputs in '%s'\n", argv[i]);
			return 1;
		}
		total += n;
	}
	printf("replayed %d inputs without a crash\n", total);
	return 0;
}
