/*
 * files: a data file's version (see files.h).  Keeps the index of
 * materialized files with its single-flight generation (two readers of a
 * file that is being generated wait for one generation), applies the mtime
 * rule, and queues every version materialized through a configured
 * destination for upload (db/queue.h) before the request that made it is
 * answered, then kicks the sync workers.  Also answers a data file's
 * extended attributes.
 *
 * Threads: FUSE worker threads and runner threads call in concurrently.
 *   gw->file_lock  protects gw->files, every struct gw_file in it and
 *                  gw->cache_error; gw->file_cond signals the end of a
 *                  generation.
 * Lock order: dest_lock (taken in dests.c), then file_lock; neither is
 * held while generating, while writing the cache or during a state call.
 */
#include "files.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hmap.h"
#include "base/log.h"
#include "data/cache.h"
#include "data/dataset.h"
#include "db/queue.h"
#include "dests.h"
#include "sync.h"

struct find_ctx {
	const char *want;
	const struct dataset *found;
};

static int find_one(void *ctx, const struct dataset *ds, const char *name)
{
	struct find_ctx *f = ctx;

	if (strcmp(f->want, name) != 0)
		return 0;
	f->found = ds;
	return 1;
}

static int file_eq(const struct hmap_entry *e, const void *key)
{
	const struct gw_file *f = (const struct gw_file *)e;
	const struct buf *k = key;

	return f->keylen == k->len && memcmp(f->key, k->data, k->len) == 0;
}

/*
 * Brings the file's cached version up to date with the source and returns
 * it.  One thread generates; others asking for the same file wait for it.
 * force: regenerate even if the version looks current (it was evicted).
 */
static int materialize(struct gw *gw, const char *team, const char *date,
		       const char *name, const struct dataset *ds,
		       const struct format_ops *fmt, int force, struct state_file *out,
		       struct gw_file **entry)
{
	struct buf key = BUF_INIT;
	struct state_file prev, cur;
	struct cache_tmp tmp = {.fd = -1};
	uint64_t rows = 0;
	int have_prev = 0, ret;

	buf_adds(&key, team);
	buf_addch(&key, '\0');
	buf_adds(&key, date);
	buf_addch(&key, '\0');
	buf_adds(&key, name);
	uint64_t hash = hmap_hash(key.data, key.len);
	uint64_t gen = source_generation(gw->src);

	pthread_mutex_lock(&gw->file_lock);
	struct gw_file *f = (struct gw_file *)hmap_find(&gw->files, hash, file_eq, &key);
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f)
			abort();
		f->keylen = key.len;
		f->key = malloc(key.len);
		if (!f->key)
			abort();
		memcpy(f->key, key.data, key.len);
		hmap_insert(&gw->files, &f->node, hash);
	}
	while (f->busy)
		pthread_cond_wait(&gw->file_cond, &gw->file_lock);
	*entry = f;
	if (f->valid && f->gen == gen && !force) {
		*out = f->version;
		pthread_mutex_unlock(&gw->file_lock);
		buf_release(&key);
		return 0;
	}
	f->busy = 1;
	if (f->valid) {
		prev = f->version;
		have_prev = 1;
	}
	pthread_mutex_unlock(&gw->file_lock);

	if (!have_prev && state_file_get(gw->files_state, team, date, name, &prev) == 0)
		have_prev = 1;
	ret = source_date_exists(gw->src, team, date);
	if (ret <= 0) {
		ret = ret < 0 ? ret : -ENOENT;
		goto done;
	}
	ret = cache_begin(gw->cache, &tmp);
	if (ret)
		goto done;
	ret = dataset_generate(ds, gw->src, fmt, team, date, tmp.fd, cur.sha256, &cur.size,
			       &rows);
	if (ret) {
		log_error("cannot generate '%s/%s/%s': %s", team, date, name,
			  strerror(-ret));
		cache_abort(gw->cache, &tmp);
		goto done;
	}
	ret = cache_commit(gw->cache, &tmp, cur.sha256, cur.size);
	if (ret)
		goto done;
	if (have_prev && strcmp(prev.sha256, cur.sha256) == 0) {
		/* Same bytes: the file keeps its mtime, so copies stay in sync. */
		cur.mtime = prev.mtime;
	} else {
		/*
		 * A new version looks newer than the one it replaces even
		 * within the same second: rsync compares only size and mtime.
		 */
		cur.mtime = clock_now();
		if (have_prev && cur.mtime <= prev.mtime)
			cur.mtime = prev.mtime + 1;
		ret = state_file_put(gw->files_state, team, date, name, &cur);
		if (ret)
			goto done;
		if (have_prev)
			log_info("'%s/%s/%s' changed in the source: new version %.12s",
				 team, date, name, cur.sha256);
	}
done:
	pthread_mutex_lock(&gw->file_lock);
	f->busy = 0;
	if (!ret) {
		if (strcmp(f->version.sha256, cur.sha256) != 0)
			f->nenqueued = 0;
		f->valid = 1;
		f->gen = gen;
		f->version = cur;
		*out = cur;
	} else {
		f->valid = 0;
	}
	/* A full cache disk is for .status to say, not only for the log. */
	if (ret == -ENOSPC || ret == -EDQUOT) {
		snprintf(gw->cache_error, sizeof(gw->cache_error),
			 "cache disk full while generating %s/%s/%s (%s): free space "
			 "or lower cache_size", team, date, name, strerror(-ret));
		gw->cache_error_at = clock_now();
	} else if (!ret && gw->cache_error[0]) {
		gw->cache_error[0] = '\0';
	}
	pthread_cond_broadcast(&gw->file_cond);
	pthread_mutex_unlock(&gw->file_lock);
	buf_release(&key);
	return ret;
}

/*
 * Queues the version for upload to the destination it was read through,
 * unless that is already known to be done.  Runs before the FUSE request
 * is answered, so an acknowledged read is never lost for the bucket.
 */
static int ensure_queued(struct gw *gw, const struct dest_view *v, struct gw_file *f,
			 const char *team, const char *date, const char *name,
			 const struct state_file *ver, const struct format_ops *fmt,
			 const struct gw_run_ctx *run)
{
	struct buf key = BUF_INIT, object = BUF_INIT;
	int known = 0, queued = 0, ret;

	if (!v->configured)
		return 0;
	pthread_mutex_lock(&gw->file_lock);
	if (strcmp(f->version.sha256, ver->sha256) == 0 && f->enqueued_gen == v->settings_gen)
		for (int i = 0; i < f->nenqueued; i++)
			known |= f->enqueued[i] == v->id;
	pthread_mutex_unlock(&gw->file_lock);
	/* A run always goes through the queue, to attach itself to the row. */
	if (run)
		known = 0;
	if (known)
		return 0;
	buf_addf(&key, "%s/%s/%s", team, date, name);
	buf_addf(&object, "%s%s", v->prefix, buf_str(&key));
	struct queue_new n = {
		.dest_id = v->id,
		.key = buf_str(&key),
		.sha256 = ver->sha256,
		.size = ver->size,
		.content_type = fmt->content_type,
		.bucket = v->bucket,
		.object_key = buf_str(&object),
		.manual = run ? run->manual : 0,
		.run_id = run ? run->run_id : 0,
		.now = clock_now(),
	};
	ret = queue_enqueue(run && run->state ? run->state : gw->state, &n, &queued);
	if (ret) {
		log_error("cannot queue '%s' for upload to '%s'", buf_str(&key), v->bucket);
		ret = -EIO;
		goto out;
	}
	pthread_mutex_lock(&gw->file_lock);
	if (strcmp(f->version.sha256, ver->sha256) == 0) {
		if (f->enqueued_gen != v->settings_gen) {
			f->nenqueued = 0;
			f->enqueued_gen = v->settings_gen;
		}
		if (f->nenqueued == GW_ENQUEUED_MAX) {
			memmove(f->enqueued, f->enqueued + 1,
				(GW_ENQUEUED_MAX - 1) * sizeof(f->enqueued[0]));
			f->nenqueued--;
		}
		f->enqueued[f->nenqueued++] = v->id;
	}
	pthread_mutex_unlock(&gw->file_lock);
	if (queued)
		sync_kick(gw->sync);
out:
	buf_release(&key);
	buf_release(&object);
	return ret;
}

/* Resolves a data file path to its dataset, materializes and queues it. */
int gw_file_version(struct gw *gw, const char *dest, const char *team,
			const char *date, const char *name, int force,
			const struct gw_run_ctx *run, struct state_file *out)
{
	struct dest_view v;
	struct gw_file *f = NULL;
	int64_t day;
	int ret = gw_team_view(gw, dest, team, &v);

	if (ret)
		return ret;
	if (clock_parse_date(date, &day) < 0)
		return -ENOENT;
	struct find_ctx fc = {name, NULL};
	gw_each_file(&v, find_one, &fc);
	if (!fc.found)
		return -ENOENT;
	ret = materialize(gw, team, date, name, fc.found, v.fmt, force, out, &f);
	if (ret)
		return ret;
	return ensure_queued(gw, &v, f, team, date, name, out, v.fmt, run);
}

static void data_attr(struct gw_attr *a, const struct state_file *f)
{
	a->kind = GW_DATA;
	a->mode = 0444;
	a->size = f->size;
	a->mtime = f->mtime;
}

int gw_file_stat(struct gw *gw, const char *dest, const char *team, const char *date,
		 const char *name, struct gw_attr *a)
{
	struct state_file f;
	int ret = gw_file_version(gw, dest, team, date, name, 0, NULL, &f);

	if (!ret)
		data_attr(a, &f);
	return ret;
}

int gw_file_open(struct gw *gw, const char *dest, const char *team, const char *date,
		 const char *name, int *fd, struct gw_attr *a)
{
	struct state_file f;
	int ret = 0;

	/* A version can be evicted between materializing and opening: retry once. */
	for (int attempt = 0; attempt < 3; attempt++) {
		ret = gw_file_version(gw, dest, team, date, name, attempt > 0, NULL, &f);
		if (ret)
			return ret;
		ret = cache_open_version(gw->cache, f.sha256);
		if (ret >= 0) {
			*fd = ret;
			data_attr(a, &f);
			return 0;
		}
		if (ret != -ENOENT)
			return ret;
	}
	return -EIO;
}

void gw_cache_status(struct gw *gw, struct buf *out)
{
	char when[32];

	pthread_mutex_lock(&gw->file_lock);
	if (gw->cache_error[0]) {
		clock_iso8601(gw->cache_error_at, when);
		buf_addf(out, "cache_error = %s\ncache_error_at = %s\n", gw->cache_error, when);
	}
	pthread_mutex_unlock(&gw->file_lock);
}

static const char *const xattr_names[] = {
	"user.warehousefs.sync",
	"user.warehousefs.sha256",
	"user.warehousefs.etag",
	"user.warehousefs.uploaded_at",
};

#define GW_NXATTRS (sizeof(xattr_names) / sizeof(xattr_names[0]))

/* Every attribute of a data file at once; an empty value has none. */
static int file_xattrs(struct gw *gw, const char *dest, const char *team,
		       const char *date, const char *name, struct buf val[GW_NXATTRS])
{
	struct state_file f;
	struct queue_file_state q;
	struct dest_view v;
	struct buf key = BUF_INIT, object = BUF_INIT;
	int ret = gw_file_version(gw, dest, team, date, name, 0, NULL, &f);

	if (ret)
		return ret;
	ret = gw_dest_view(gw, dest, &v);
	if (ret)
		return ret;
	buf_addf(&key, "%s/%s/%s", team, date, name);
	ret = queue_lookup(gw->state, v.id, buf_str(&key), f.sha256, &q);
	if (ret == -ENOENT) {
		/* Not queued: either never configured, or already in the ledger. */
		buf_addf(&object, "%s%s", v.prefix, buf_str(&key));
		memset(&q, 0, sizeof(q));
		int in = v.configured ? queue_in_ledger(gw->state, v.id, v.bucket,
							 buf_str(&object), f.sha256, &q) : 0;
		if (in <= 0)
			snprintf(q.state, sizeof(q.state), "none");
		ret = 0;
	}
	if (!ret) {
		buf_adds(&val[0], q.state);
		buf_adds(&val[1], f.sha256);
		buf_adds(&val[2], q.etag);
		if (strcmp(q.state, "uploaded") == 0 && q.uploaded_at) {
			char when[32];
			clock_iso8601(q.uploaded_at, when);
			buf_adds(&val[3], when);
		}
	}
	buf_release(&key);
	buf_release(&object);
	return ret;
}

int gw_file_xattr_list(struct gw *gw, const char *dest, const char *team,
		       const char *date, const char *name, gw_name_fn fn, void *ctx)
{
	struct buf val[GW_NXATTRS] = {BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT};
	int ret = file_xattrs(gw, dest, team, date, name, val);

	for (size_t i = 0; i < GW_NXATTRS; i++) {
		if (!ret && val[i].len && fn(ctx, xattr_names[i]))
			ret = 1;
		buf_release(&val[i]);
	}
	return ret < 0 ? ret : 0;
}

int gw_file_xattr(struct gw *gw, const char *dest, const char *team, const char *date,
		  const char *name, const char *attr, struct buf *out)
{
	struct buf val[GW_NXATTRS] = {BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT};
	size_t which = GW_NXATTRS;
	int ret;

	for (size_t i = 0; i < GW_NXATTRS; i++)
		if (strcmp(attr, xattr_names[i]) == 0)
			which = i;
	/* ls -l asks every file for security.* and ACL names: answer those at once. */
	if (which == GW_NXATTRS)
		return -ENODATA;
	ret = file_xattrs(gw, dest, team, date, name, val);
	if (!ret && !val[which].len)
		ret = -ENODATA;
	if (!ret)
		buf_add(out, val[which].data, val[which].len);
	for (size_t i = 0; i < GW_NXATTRS; i++)
		buf_release(&val[i]);
	return ret;
}
