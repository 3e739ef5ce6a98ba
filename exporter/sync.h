/*
 * sync: the background upload workers.  A few threads (sync_workers) claim
 * pending versions from the queue, oldest first, and PUT them from the
 * cache to the destination's bucket with the settings in force at that
 * moment; transient failures retry with exponential backoff and full
 * jitter, permanent ones fail at once.  FUSE threads never touch the
 * network: they only enqueue and kick.
 *
 * Threads: sync_start() starts the workers; each has its own state
 * connection and S3 client.  sync_kick() and sync_wait() may be called from
 * any thread; sync_stop() from the thread that started them.
 */
#ifndef WAREHOUSEFS_SYNC_H
#define WAREHOUSEFS_SYNC_H

#include "base/buf.h"
#include "data/cache.h"
#include "s3/s3.h"
#include "vault.h"

struct sync_options {
	unsigned workers;        /* default 8 */
	unsigned retries;        /* transient failures retried this often (default 5) */
	unsigned retry_base_ms;  /* first backoff ceiling (default 1000) */
	unsigned retry_max_ms;   /* backoff ceiling (default 60000) */
	struct s3_options s3;
	/*
	 * Rebuilds a version whose cache file is missing or damaged (after a
	 * power loss, or someone editing the cache): materializes key (team/
	 * date/file) of the destination again.  0 or a negative errno.
	 */
	int (*regenerate)(void *ctx, int64_t dest_id, const char *key);
	void *regenerate_ctx;
};

struct sync;

/*
 * Recovers uploads interrupted by a crash and starts the workers.  The
 * vault and cache must outlive the sync.  Message in err on failure.
 */
int sync_start(const struct sync_options *opts, const char *state_path,
	       struct vault *vault, struct cache *cache, struct sync **out,
	       struct buf *err);

/* Wakes the workers: new versions were queued or settings changed. */
void sync_kick(struct sync *s);

/* Blocks until an upload finishes or timeout_ms pass. */
void sync_wait(struct sync *s, unsigned timeout_ms);

/*
 * Stops the workers: transfers in flight are cancelled and their versions
 * stay pending for the next start.  Frees s; accepts NULL.
 */
void sync_stop(struct sync *s);


#endif
