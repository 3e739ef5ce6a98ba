/*
 * cache: the content-addressed store of materialized versions (see
 * cache.h).
 *
 * Threads: c->lock protects the index (entries, bytes, clock).  File
 * system calls that may be slow (writing) happen outside it; rename
 * and unlink happen under it so that the index and the directory agree.
 *
 * Invariant: an entry is in the index iff DIR/objects/<sha256> exists.
 */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hmap.h"
#include "base/log.h"

struct cache_entry {
	struct hmap_entry node;
	char sha256[65];
	uint64_t size;
	uint64_t used; /* value of c->clock at the last use: LRU order */
};

struct cache {
	char *dir;
	uint64_t max_bytes;
	cache_keep_fn keep;
	void *keep_ctx;

	pthread_mutex_t lock;
	/* protected by lock: */
	struct hmap index;
	uint64_t bytes;
	uint64_t clock;
	unsigned tmp_seq;
};

static int entry_eq(const struct hmap_entry *e, const void *key)
{
	return strcmp(((const struct cache_entry *)e)->sha256, key) == 0;
}

static struct cache_entry *find(struct cache *c, const char *sha256)
{
	return (struct cache_entry *)hmap_find(&c->index, hmap_hash(sha256, 64),
					       entry_eq, sha256);
}

static void add_entry(struct cache *c, const char *sha256, uint64_t size)
{
	struct cache_entry *e = calloc(1, sizeof(*e));

	if (!e)
		abort();
	memcpy(e->sha256, sha256, 65);
	e->size = size;
	e->used = ++c->clock;
	hmap_insert(&c->index, &e->node, hmap_hash(sha256, 64));
	c->bytes += size;
}

static int is_sha_name(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 64;
}

static int make_dir(const char *path, struct buf *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		buf_addf(err, "cannot create cache directory '%s': %s", path, strerror(e));
		return -e;
	}
	return 0;
}

static int scan(struct cache *c, struct buf *err)
{
	char path[4096];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/tmp", c->dir);
	d = opendir(path);
	if (d) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	snprintf(path, sizeof(path), "%s/objects", c->dir);
	d = opendir(path);
	if (!d) {
		int e = errno;
		buf_addf(err, "cannot read cache directory '%s': %s", path, strerror(e));
		return -e;
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (!is_sha_name(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) == 0)
			add_entry(c, de->d_name, (uint64_t)st.st_size);
	}
	closedir(d);
	return 0;
}

int cache_open(const char *dir, uint64_t max_bytes, struct cache **out, struct buf *err)
{
	char path[4096];
	int ret;
	struct cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->dir = strdup(dir);
	c->max_bytes = max_bytes;
	ret = make_dir(dir, err);
	if (ret)
		goto out;
	snprintf(path, sizeof(path), "%s/objects", dir);
	ret = make_dir(path, err);
	if (ret)
		goto out;
	snprintf(path, sizeof(path), "%s/tmp", dir);
	ret = make_dir(path, err);
	if (ret)
		goto out;
	ret = scan(c, err);
	if (ret)
		goto out;
	*out = c;
	c = NULL;
out:
	cache_free(c);
	return ret;
}

void cache_free(struct cache *c)
{
	size_t b = 0;
	struct hmap_entry *e, *next;

	if (!c)
		return;
	for (e = hmap_next(&c->index, &b, NULL); e; e = next) {
		next = hmap_next(&c->index, &b, e);
		free(e);
	}
	hmap_release(&c->index);
	pthread_mutex_destroy(&c->lock);
	free(c->dir);
	free(c);
}

void cache_set_keep(struct cache *c, cache_keep_fn keep, void *ctx)
{
	pthread_mutex_lock(&c->lock);
	c->keep = keep;
	c->keep_ctx = ctx;
	pthread_mutex_unlock(&c->lock);
}

void cache_version_path(struct cache *c, const char *sha256, char *path, size_t size)
{
	snprintf(path, size, "%s/objects/%s", c->dir, sha256);
}

int cache_begin(struct cache *c, struct cache_tmp *t)
{
	pthread_mutex_lock(&c->lock);
	unsigned seq = ++c->tmp_seq;
	pthread_mutex_unlock(&c->lock);
	snprintf(t->path, sizeof(t->path), "%s/tmp/%d-%u", c->dir, (int)getpid(), seq);
	t->fd = open(t->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (t->fd < 0) {
		int e = errno;
		log_error("cannot create cache file '%s': %s", t->path, strerror(e));
		return -e;
	}
	return 0;
}

void cache_abort(struct cache *c, struct cache_tmp *t)
{
	(void)c;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	unlink(t->path);
}

static int cmp_used(const void *a, const void *b)
{
	const struct cache_entry *x = *(struct cache_entry *const *)a;
	const struct cache_entry *y = *(struct cache_entry *const *)b;

	return x->used < y->used ? -1 : x->used > y->used;
}

/*
 * Evicts LRU versions down to 90% of the limit, except keep_sha (the version
 * just committed, about to be opened: a file bigger than the cache must
 * still be served).  Called with c->lock held.
 */
static void evict_locked(struct cache *c, const char *keep_sha)
{
	if (c->bytes <= c->max_bytes || !c->index.count)
		return;
	struct cache_entry **all = malloc(c->index.count * sizeof(*all));
	size_t n = 0, b = 0;
	if (!all)
		return;
	for (struct hmap_entry *e = hmap_next(&c->index, &b, NULL); e;
	     e = hmap_next(&c->index, &b, e))
		all[n++] = (struct cache_entry *)e;
	qsort(all, n, sizeof(*all), cmp_used);
	uint64_t target = c->max_bytes / 10 * 9;
	for (size_t i = 0; i < n && c->bytes > target; i++) {
		char path[4096];
		if (strcmp(all[i]->sha256, keep_sha) == 0)
			continue;
		if (c->keep && c->keep(c->keep_ctx, all[i]->sha256))
			continue;
		cache_version_path(c, all[i]->sha256, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			continue;
		hmap_remove(&c->index, &all[i]->node);
		c->bytes -= all[i]->size;
		log_debug("evicted version %.12s (%llu bytes)", all[i]->sha256,
			  (unsigned long long)all[i]->size);
		free(all[i]);
	}
	free(all);
}

int cache_commit(struct cache *c, struct cache_tmp *t, const char *sha256,
		 uint64_t size)
{
	char path[4096];
	int ret = 0;

	/*
	 * No fsync: a version lost to a power cut is caught before upload
	 * (its SHA-256 is checked) and regenerated from the source, so the
	 * read path does not pay for durability it does not need.
	 */
	if (close(t->fd) < 0) {
		ret = -errno;
		t->fd = -1;
		log_error("cannot write cache file '%s': %s", t->path, strerror(-ret));
		unlink(t->path);
		return ret;
	}
	t->fd = -1;
	cache_version_path(c, sha256, path, sizeof(path));
	pthread_mutex_lock(&c->lock);
	struct cache_entry *e = find(c, sha256);
	if (e) {
		e->used = ++c->clock;
		unlink(t->path);
	} else if (rename(t->path, path) < 0) {
		ret = -errno;
		log_error("cannot store cache file '%s': %s", path, strerror(errno));
		unlink(t->path);
	} else {
		add_entry(c, sha256, size);
		evict_locked(c, sha256);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int cache_open_version(struct cache *c, const char *sha256)
{
	char path[4096];
	int fd;

	cache_version_path(c, sha256, path, sizeof(path));
	pthread_mutex_lock(&c->lock);
	struct cache_entry *e = find(c, sha256);
	if (!e) {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	e->used = ++c->clock;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		if (errno == ENOENT) {
			/* Removed behind our back: forget it so it is regenerated. */
			hmap_remove(&c->index, &e->node);
			c->bytes -= e->size;
			free(e);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return fd;
}

void cache_drop(struct cache *c, const char *sha256)
{
	char path[4096];

	cache_version_path(c, sha256, path, sizeof(path));
	pthread_mutex_lock(&c->lock);
	struct cache_entry *e = find(c, sha256);
	if (e) {
		unlink(path);
		hmap_remove(&c->index, &e->node);
		c->bytes -= e->size;
		free(e);
	}
	pthread_mutex_unlock(&c->lock);
}

void cache_usage(struct cache *c, uint64_t *bytes, uint64_t *versions)
{
	pthread_mutex_lock(&c->lock);
	*bytes = c->bytes;
	*versions = c->index.count;
	pthread_mutex_unlock(&c->lock);
}
