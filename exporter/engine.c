/*
 * engine: opens, starts and frees everything the exporter is made of (the
 * gw_open/gw_start/gw_free part of gateway.h): the source, the vault, the
 * state database (three connections: FUSE requests, file records, and the
 * scheduler's own), the cache, the destinations, the sync workers and the
 * scheduler.  It also wires the two calls that go back up: the cache asks
 * the queue which versions it must keep, and a sync worker asks for a
 * queued file to be materialized again when its cache file is gone.
 *
 * Threads: gw_open, gw_start and gw_free from one thread, before and after
 * every other call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hmap.h"
#include "base/log.h"
#include "data/cache.h"
#include "data/source.h"
#include "db/queue.h"
#include "db/state.h"
#include "dests.h"
#include "files.h"
#include "gw_i.h"
#include "s3/http.h"
#include "scheduler.h"
#include "sync.h"
#include "vault.h"

static const char KEYCHECK_META[] = "vault_check";
static const char KEYCHECK_AAD[] = "warehousefs key check";
static const char KEYCHECK_TEXT[] = "warehousefs";

/* Proves the key file is the one the state's secrets were made with. */
static int check_key(struct gw *gw, const struct gw_options *o, struct buf *err)
{
	struct buf blob = BUF_INIT, plain = BUF_INIT;
	int ret = state_meta_get(gw->state, KEYCHECK_META, &blob);

	if (ret == -ENOENT) {
		ret = vault_encrypt(gw->vault, KEYCHECK_AAD, KEYCHECK_TEXT,
				    sizeof(KEYCHECK_TEXT) - 1, &blob);
		if (!ret)
			ret = state_meta_set(gw->state, KEYCHECK_META, blob.data, blob.len);
		if (ret)
			buf_addf(err, "cannot record key check in '%s'", o->state_path);
		goto out;
	}
	if (ret) {
		buf_addf(err, "cannot read state database '%s'", o->state_path);
		goto out;
	}
	ret = vault_decrypt(gw->vault, KEYCHECK_AAD, blob.data, blob.len, &plain);
	if (ret)
		buf_addf(err, "key file '%s' does not match state database '%s': its "
			 "secrets were encrypted with another key (use the key file "
			 "they were made with)", o->keyfile, o->state_path);
out:
	buf_release(&blob);
	buf_release(&plain);
	return ret;
}

/* The cache keeps every version that still has to be uploaded. */
static int keep_unsent(void *ctx, const char *sha)
{
	struct gw *gw = ctx;

	return queue_needs(gw->state, sha) != 0;
}

int gw_global_init(void)
{
	return http_global_init() < 0 ? -EIO : 0;
}

void gw_global_cleanup(void)
{
	http_global_cleanup();
}

int gw_lock_state(const char *path, struct buf *err)
{
	int fd = state_lock(path, err);

	return fd < 0 ? fd : 0;
}

int gw_open(const struct gw_options *o, struct gw **out, struct buf *err)
{
	struct gw *gw = calloc(1, sizeof(*gw));
	int ret;

	if (!gw)
		return -ENOMEM;
	pthread_mutex_init(&gw->dest_lock, NULL);
	pthread_mutex_init(&gw->file_lock, NULL);
	pthread_cond_init(&gw->file_cond, NULL);
	pthread_mutex_init(&gw->run_lock, NULL);
	pthread_cond_init(&gw->run_cond, NULL);
	gw->started_at = clock_now();
	ret = source_open(o->source_path, o->source_check_ms, &gw->src, err);
	if (ret)
		goto out;
	ret = vault_open(o->keyfile, 1, &gw->vault, err);
	if (ret)
		goto out;
	ret = state_open(o->state_path, &gw->state, err);
	if (ret)
		goto out;
	ret = state_open(o->state_path, &gw->files_state, err);
	if (ret)
		goto out;
	state_relax(gw->files_state);
	ret = check_key(gw, o, err);
	if (ret)
		goto out;
	ret = cache_open(o->cache_dir, o->cache_max_bytes, &gw->cache, err);
	if (ret)
		goto out;
	cache_set_keep(gw->cache, keep_unsent, gw);
	gw->state_path = strdup(o->state_path);
	gw->sync_opts = o->sync;
	gw->run_opts = o->runs;
	if (!gw->run_opts.backfill_span)
		gw->run_opts.backfill_span = 400;
	if (!gw->run_opts.runners)
		gw->run_opts.runners = 2;
	if (!gw->run_opts.tick_ms)
		gw->run_opts.tick_ms = 1000;
	gw->max_sync_waiters = o->max_sync_waiters ? o->max_sync_waiters : 8;
	ret = gw_dests_load(gw);
	if (ret) {
		buf_addf(err, "cannot load destinations from '%s'", o->state_path);
		goto out;
	}
	*out = gw;
	gw = NULL;
out:
	gw_free(gw);
	return ret;
}

/* sync's callback: materialize a queued key again (its cache file is gone). */
static int regenerate(void *ctx, int64_t dest_id, const char *key)
{
	struct gw *gw = ctx;
	struct state_dest sd;
	struct state_file f;
	char team[256], date[16], name[128];
	const char *a = strchr(key, '/');
	const char *b = a ? strchr(a + 1, '/') : NULL;

	if (!a || !b || (size_t)(a - key) >= sizeof(team) || b - a - 1 != 10 ||
	    strlen(b + 1) >= sizeof(name))
		return -EINVAL;
	memcpy(team, key, (size_t)(a - key));
	team[a - key] = '\0';
	memcpy(date, a + 1, 10);
	date[10] = '\0';
	snprintf(name, sizeof(name), "%s", b + 1);
	int ret = state_dest_get_id(gw->state, dest_id, &sd);
	if (!ret)
		ret = gw_file_version(gw, sd.name, team, date, name, 1, NULL, &f);
	return ret;
}

int gw_start(struct gw *gw, struct buf *err)
{
	gw->sync_opts.regenerate = regenerate;
	gw->sync_opts.regenerate_ctx = gw;
	int ret = sync_start(&gw->sync_opts, gw->state_path, gw->vault, gw->cache,
			     &gw->sync, err);

	if (!ret)
		ret = gw_runs_start(gw, err);
	return ret;
}

void gw_free(struct gw *gw)
{
	struct hmap_entry *e, *next;
	size_t b = 0;

	if (!gw)
		return;
	gw_runs_stop(gw);
	sync_stop(gw->sync);
	free(gw->state_path);
	for (e = hmap_next(&gw->dests, &b, NULL); e; e = next) {
		next = hmap_next(&gw->dests, &b, e);
		gw_dest_free((struct gw_dest *)e);
	}
	hmap_release(&gw->dests);
	b = 0;
	for (e = hmap_next(&gw->files, &b, NULL); e; e = next) {
		next = hmap_next(&gw->files, &b, e);
		free(((struct gw_file *)e)->key);
		free(e);
	}
	hmap_release(&gw->files);
	free(gw->dates);
	cache_free(gw->cache);
	state_free(gw->files_state);
	state_free(gw->state);
	vault_free(gw->vault);
	source_free(gw->src);
	pthread_cond_destroy(&gw->file_cond);
	pthread_cond_destroy(&gw->run_cond);
	pthread_mutex_destroy(&gw->run_lock);
	pthread_mutex_destroy(&gw->file_lock);
	pthread_mutex_destroy(&gw->dest_lock);
	free(gw);
}
