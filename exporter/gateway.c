/*
 * gateway: the exporter behind the filesystem (see gateway.h).
 *
 * What lives here: the in-memory view of destinations (loaded from the
 * state database, updated on every change), and the index of materialized
 * files with its single-flight generation (two readers of a file that is
 * being generated wait for one generation).
 *
 * Every version materialized through a configured destination is queued
 * for upload (queue.h) before the request that made it is answered, then
 * the sync workers are kicked.
 *
 * Threads: FUSE worker threads call in concurrently.
 *   gw->dest_lock  protects gw->dests and every struct gw_dest in it.
 *   gw->file_lock  protects gw->files and every struct gw_file in it;
 *                  gw->file_cond signals the end of a generation.
 * Lock order: dest_lock, then file_lock; neither is held while generating,
 * while writing the cache or during a state-database call.
 */
#include "gateway_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cache.h"
#include "base/clock.h"
#include "config.h"
#include "data/dataset.h"
#include "data/format.h"
#include "base/hmap.h"
#include "base/log.h"
#include "db/queue.h"
#include "schedule.h"
#include "data/source.h"
#include "db/state.h"
#include "sync.h"
#include "vault.h"

static const char KEYCHECK_META[] = "vault_check";
static const char KEYCHECK_AAD[] = "warehousefs key check";
static const char KEYCHECK_TEXT[] = "warehousefs";

static int dest_eq(const struct hmap_entry *e, const void *key)
{
	return strcmp(((const struct gw_dest *)e)->name, key) == 0;
}

struct gw_dest *gw_dest_find(struct gw *gw, const char *name)
{
	return (struct gw_dest *)hmap_find(&gw->dests, hmap_hash(name, strlen(name)),
					   dest_eq, name);
}

static void dest_free(struct gw_dest *d)
{
	if (!d)
		return;
	for (int i = 0; i < CONFIG_MAX_KEYS; i++)
		free(d->values[i]);
	free(d);
}

/* The effective value of a plain setting: stored, or its default. */
const char *gw_dest_value(const struct gw_dest *d, const char *name)
{
	return config_value(d->values, name);
}

static int load_setting(void *ctx, const char *key, const void *value, size_t len)
{
	struct gw_dest *d = ctx;
	const struct config_key *k = config_key_find(key);
	int i = config_key_index(k);

	if (i < 0) {
		log_warn("destination '%s': ignoring unknown stored setting '%s'", d->name,
			 key);
		return 0;
	}
	if (k->flags & CONFIG_SECRET) {
		d->secret_set[i] = 1;
		return 0;
	}
	free(d->values[i]);
	d->values[i] = strndup(value, len);
	return 0;
}

static int load_dest(void *ctx, const struct state_dest *sd)
{
	struct gw *gw = ctx;
	struct gw_dest *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->id = sd->id;
	memcpy(d->name, sd->name, sizeof(d->name));
	d->created_at = sd->created_at;
	d->paused = sd->paused;
	hmap_insert(&gw->dests, &d->node, hmap_hash(d->name, strlen(d->name)));
	return 0;
}

/* Loads every destination with its settings into gw->dests. */
static int load_dests(struct gw *gw)
{
	int ret = state_dest_list(gw->state, load_dest, gw);
	size_t b = 0;

	for (struct hmap_entry *e = hmap_next(&gw->dests, &b, NULL); !ret && e;
	     e = hmap_next(&gw->dests, &b, e)) {
		struct gw_dest *d = (struct gw_dest *)e;
		ret = state_settings_get(gw->state, d->id, load_setting, d);
	}
	return ret;
}

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
	ret = load_dests(gw);
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
		dest_free((struct gw_dest *)e);
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

/* Copies what the tree needs of a destination: 0 or -ENOENT. */
int gw_dest_view(struct gw *gw, const char *name, struct dest_view *v)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&gw->dest_lock);
	struct gw_dest *d = gw_dest_find(gw, name);
	if (d) {
		/* On every getattr: count, without building the list. */
		v->configured = gw_missing_keys(d, NULL) == 0;
		v->id = d->id;
		v->created_at = d->created_at;
		v->paused = d->paused;
		v->settings_gen = gw->settings_gen;
		snprintf(v->bucket, sizeof(v->bucket), "%s", gw_dest_value(d, "bucket"));
		snprintf(v->prefix, sizeof(v->prefix), "%s", gw_dest_value(d, "prefix"));
		snprintf(v->team_id, sizeof(v->team_id), "%s", gw_dest_value(d, "team_id"));
		snprintf(v->datasets, sizeof(v->datasets), "%s", gw_dest_value(d, "datasets"));
		v->fmt = format_find(gw_dest_value(d, "format"));
		if (!v->fmt)
			v->fmt = &format_csv;
		ret = 0;
	}
	pthread_mutex_unlock(&gw->dest_lock);
	return ret;
}

void gw_dir_attr(struct gw_attr *a, unsigned mode, int64_t mtime)
{
	a->kind = GW_DIR;
	a->mode = mode;
	a->size = 0;
	a->mtime = mtime;
}

int gw_root_stat(struct gw *gw, struct gw_attr *a)
{
	gw_dir_attr(a, 0755, gw->started_at);
	return 0;
}

struct name_list {
	char **v;
	size_t n;
};

static int collect_dest(void *ctx, const struct state_dest *d)
{
	struct name_list *l = ctx;
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	l->v[l->n++] = strdup(d->name);
	return 0;
}

int gw_list_dests(struct gw *gw, gw_name_fn fn, void *ctx)
{
	struct name_list l = {NULL, 0};
	int ret = state_dest_list(gw->state, collect_dest, &l);

	int stop = 0;

	for (size_t i = 0; i < l.n; i++) {
		if (!ret && !stop)
			stop = fn(ctx, l.v[i]);
		free(l.v[i]);
	}
	free(l.v);
	return ret;
}

int gw_dest_stat(struct gw *gw, const char *dest, struct gw_attr *a)
{
	struct dest_view v;
	int ret = gw_dest_view(gw, dest, &v);

	if (!ret)
		gw_dir_attr(a, 0755, v.created_at);
	return ret;
}

void gw_audit(struct gw *gw, const struct gw_caller *who, const char *dest,
		  const char *action, const char *detail)
{
	if (state_audit_add(gw->state, clock_now(), who ? who->uid : 0, who ? who->pid : 0,
			    dest, action, detail) < 0)
		log_error("cannot write the audit log for '%s' %s", dest ? dest : "-",
			  action);
}

int gw_dest_create(struct gw *gw, const char *name, const struct gw_caller *who)
{
	int64_t id, now = clock_now();

	if (!config_valid_dest_name(name))
		return -EINVAL;
	int ret = state_dest_create(gw->state, name, now, schedule_first(SCHEDULE_DAILY, now), &id);
	if (ret)
		return ret;
	struct gw_dest *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->id = id;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->created_at = now;
	pthread_mutex_lock(&gw->dest_lock);
	hmap_insert(&gw->dests, &d->node, hmap_hash(name, strlen(name)));
	pthread_mutex_unlock(&gw->dest_lock);
	gw_audit(gw, who, name, "create", NULL);
	log_info("created destination '%s'", name);
	return 0;
}

int gw_dest_delete(struct gw *gw, const char *name, const struct gw_caller *who)
{
	int ret = state_dest_delete(gw->state, name);

	if (ret)
		return ret;
	pthread_mutex_lock(&gw->dest_lock);
	struct gw_dest *d = gw_dest_find(gw, name);
	if (d)
		hmap_remove(&gw->dests, &d->node);
	pthread_mutex_unlock(&gw->dest_lock);
	dest_free(d);
	gw_audit(gw, who, name, "delete", NULL);
	log_info("deleted destination '%s' (objects in the bucket are kept)", name);
	return 0;
}

/* Does the destination export this team? */
static int team_visible(const struct dest_view *v, const char *team)
{
	if (!v->team_id[0] || !config_valid_team_id(team, strlen(team)))
		return 0;
	return strcmp(v->team_id, "*") == 0 || strcmp(v->team_id, team) == 0;
}

struct team_filter {
	gw_name_fn fn;
	void *ctx;
};

static int pass_valid_team(void *ctx, const char *team)
{
	struct team_filter *f = ctx;

	if (!config_valid_team_id(team, strlen(team))) {
		log_debug("skipping team id that cannot be a file name: '%.64s'", team);
		return 0;
	}
	return f->fn(f->ctx, team);
}

/* Lists only dates that a lookup accepts (a '/' would even break readdir). */
struct date_filter {
	gw_name_fn fn;
	void *ctx;
	struct buf seen; /* the dates passed on, 11 bytes each */
	int stopped;
};

static int pass_valid_date(void *ctx, const char *date)
{
	struct date_filter *f = ctx;

	if (!clock_valid_date(date)) {
		log_debug("skipping date that is not a calendar date: '%.64s'", date);
		return 0;
	}
	buf_add(&f->seen, date, 11);
	int ret = f->fn(f->ctx, date);
	f->stopped |= ret != 0;
	return ret;
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

/* Looks date up in the cached listing: 1 found, 0 not, -1 no listing. */
static int cached_date(struct gw *gw, const char *team, const char *date, uint64_t gen)
{
	int ret = -1;

	pthread_mutex_lock(&gw->file_lock);
	if (gw->dates && gw->dates_gen == gen && strcmp(gw->dates_team, team) == 0) {
		size_t lo = 0, hi = gw->ndates;
		ret = 0;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int c = strcmp(gw->dates + mid * 11, date);
			if (c == 0) {
				ret = 1;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	pthread_mutex_unlock(&gw->file_lock);
	return ret;
}

int gw_list_teams(struct gw *gw, const char *dest, gw_name_fn fn, void *ctx)
{
	struct dest_view v;
	int ret = gw_dest_view(gw, dest, &v);

	if (ret || !v.team_id[0])
		return ret;
	if (strcmp(v.team_id, "*") == 0) {
		struct team_filter f = {fn, ctx};
		return source_list_teams(gw->src, pass_valid_team, &f);
	}
	ret = source_team_exists(gw->src, v.team_id);
	if (ret <= 0)
		return ret;
	fn(ctx, v.team_id);
	return 0;
}

int gw_team_stat(struct gw *gw, const char *dest, const char *team, struct gw_attr *a)
{
	struct dest_view v;
	int ret = gw_dest_view(gw, dest, &v);

	if (ret)
		return ret;
	if (!team_visible(&v, team))
		return -ENOENT;
	ret = source_team_exists(gw->src, team);
	if (ret < 0)
		return ret;
	if (!ret)
		return -ENOENT;
	gw_dir_attr(a, 0555, v.created_at);
	return 0;
}

int gw_list_dates(struct gw *gw, const char *dest, const char *team, gw_name_fn fn,
		  void *ctx)
{
	struct dest_view v;
	int ret = gw_dest_view(gw, dest, &v);

	if (ret)
		return ret;
	if (!team_visible(&v, team))
		return -ENOENT;
	uint64_t gen = source_generation(gw->src);
	struct date_filter f = {fn, ctx, BUF_INIT, 0};
	ret = source_list_dates(gw->src, team, pass_valid_date, &f);
	if (!ret && !f.stopped && strlen(team) < sizeof(gw->dates_team)) {
		size_t n = f.seen.len / 11;
		char *dates = buf_detach(&f.seen, NULL);
		pthread_mutex_lock(&gw->file_lock);
		free(gw->dates);
		gw->dates = dates;
		gw->ndates = n;
		gw->dates_gen = gen;
		snprintf(gw->dates_team, sizeof(gw->dates_team), "%s", team);
		pthread_mutex_unlock(&gw->file_lock);
	}
	buf_release(&f.seen);
	return ret;
}

int gw_date_stat(struct gw *gw, const char *dest, const char *team, const char *date,
		 struct gw_attr *a)
{
	struct dest_view v;
	int64_t day;
	int ret = gw_dest_view(gw, dest, &v);

	if (ret)
		return ret;
	if (!team_visible(&v, team) || clock_parse_date(date, &day) < 0)
		return -ENOENT;
	ret = cached_date(gw, team, date, source_generation(gw->src));
	if (ret < 0)
		ret = source_date_exists(gw->src, team, date);
	if (ret < 0)
		return ret;
	if (!ret)
		return -ENOENT;
	/* A date directory's mtime is its day: stable, so rsync -a stays quiet. */
	gw_dir_attr(a, 0555, day);
	return 0;
}

/* Calls fn(ctx, file name) for each dataset of the destination. */
static int each_file_name(const struct dest_view *v,
			  int (*fn)(void *ctx, const struct dataset *ds, const char *name),
			  void *ctx)
{
	char list[256];
	char *save = NULL;

	snprintf(list, sizeof(list), "%s", v->datasets);
	for (char *item = strtok_r(list, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		const struct dataset *ds = dataset_find(item);
		char name[128];
		if (!ds)
			continue;
		snprintf(name, sizeof(name), "%s%s", ds->name, v->fmt->extension);
		int ret = fn(ctx, ds, name);
		if (ret)
			return ret;
	}
	return 0;
}

struct list_ctx {
	gw_name_fn fn;
	void *ctx;
};

static int list_one(void *ctx, const struct dataset *ds, const char *name)
{
	struct list_ctx *l = ctx;

	(void)ds;
	return l->fn(l->ctx, name);
}

int gw_list_files(struct gw *gw, const char *dest, const char *team, const char *date,
		  gw_name_fn fn, void *ctx)
{
	struct dest_view v;
	struct gw_attr a;
	int ret = gw_date_stat(gw, dest, team, date, &a);

	if (ret)
		return ret;
	ret = gw_dest_view(gw, dest, &v);
	if (ret)
		return ret;
	struct list_ctx l = {fn, ctx};
	each_file_name(&v, list_one, &l);
	return 0;
}

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
	int ret = gw_dest_view(gw, dest, &v);

	if (ret)
		return ret;
	if (!team_visible(&v, team) || clock_parse_date(date, &day) < 0)
		return -ENOENT;
	struct find_ctx fc = {name, NULL};
	each_file_name(&v, find_one, &fc);
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

/* The required settings still missing, comma-separated; "" when complete. */
int gw_missing_keys(const struct gw_dest *d, struct buf *out)
{
	return config_missing(d->values, d->secret_set, out);
}

static const char *const xattr_names[] = {
	"user.warehousefs.sync",
	"user.warehousefs.sha256",
	"user.warehousefs.etag",
	"user.warehousefs.uploaded_at",
};

void gw_generation(struct gw *gw, uint64_t *source, uint64_t *settings)
{
	*source = source_generation(gw->src);
	pthread_mutex_lock(&gw->dest_lock);
	*settings = gw->settings_gen;
	pthread_mutex_unlock(&gw->dest_lock);
}

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
