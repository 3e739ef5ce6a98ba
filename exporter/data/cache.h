/*
 * cache: materialized versions on disk, stored by content.  Each version is
 * one read-only file named by its SHA-256 under DIR/objects/; new versions
 * are written under DIR/tmp/ and renamed in when complete, so a reader
 * never sees a partial file.  The cache is bounded: past max_bytes it
 * evicts the least recently used versions that nothing else needs (the
 * keep callback says which must stay, e.g. versions not yet uploaded).
 *
 * Evicting a version that a reader holds open is safe: the reader keeps its
 * fd; the next open regenerates it.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef WAREHOUSEFS_CACHE_H
#define WAREHOUSEFS_CACHE_H

#include <stdint.h>

#include "base/buf.h"

struct cache;

/* Says whether the version with this hash must stay in the cache. */
typedef int (*cache_keep_fn)(void *ctx, const char *sha256);

/*
 * Opens (creating) the cache directory, removes leftovers of interrupted
 * writes and accounts what is there.  Message in err on failure.
 */
int cache_open(const char *dir, uint64_t max_bytes, struct cache **out, struct buf *err);

void cache_free(struct cache *c);

/* Installs the callback consulted before evicting (may be NULL). */
void cache_set_keep(struct cache *c, cache_keep_fn keep, void *ctx);

struct cache_tmp {
	int fd;
	char path[4096];
};

/* Creates a temporary file for a new version.  0 or a negative errno. */
int cache_begin(struct cache *c, struct cache_tmp *t);

/*
 * Closes t and moves it into the store as the version sha256 (size bytes),
 * then evicts down to the limit.  If that version is already stored, the
 * temporary is simply removed.  0 or a negative errno (-ENOSPC).
 */
int cache_commit(struct cache *c, struct cache_tmp *t, const char *sha256,
		 uint64_t size);

/* Closes and removes t after a failed generation. */
void cache_abort(struct cache *c, struct cache_tmp *t);

/* Opens a stored version read-only and marks it used: an fd, or -ENOENT. */
int cache_open_version(struct cache *c, const char *sha256);

/* Removes a stored version (found damaged) so it can be stored again. */
void cache_drop(struct cache *c, const char *sha256);

/* The path of a stored version (it may be evicted at any time). */
void cache_version_path(struct cache *c, const char *sha256, char *path, size_t size);

/* Total bytes and number of versions stored now. */
void cache_usage(struct cache *c, uint64_t *bytes, uint64_t *versions);

#endif
