/*
 * gateway: the exporter behind the filesystem (see gateway.h).
 *
 * What lives here: the in-memory view of destinations (loaded from the
 * state database, updated on every change), and the index of materialized
 * files with its single-flight generation (two readers of a file that is
 * being generated wait for one generation).
 *
 * Threads: FUSE worker threads call in concurrently.
 *   gw->dest_lock  protects gw->dests and every struct gw_dest in it.
 *   gw->file_lock  protects gw->files and every struct gw_file in it;
 *                  gw->file_cond signals the end of a generation.
 * Lock order: dest_lock, then file_lock; neither is held while generating,
 * while writing the cache or during a state-database call.
 */
#include "gateway.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "dataset.h"
#include "format.h"
#include "hmap.h"
#include "log.h"
#include "source.h"
#include "state.h"
#include "vault.h"

#define GW_MAX_KEYS 32

static const char KEYCHECK_META[] = "vault_check";
static const char KEYCHECK_AAD[] = "warehousefs key check";
static const char KEYCHECK_TEXT[] = "warehousefs";

static const char *const control_names[GW_NCONTROLS] = {
	[GW_CONFIG] = ".config", [GW_STATUS] = ".status",   [GW_HISTORY] = ".history",
	[GW_RUN_NOW] = ".run-now", [GW_PAUSE] = ".pause", [GW_RESUME] = ".resume",
	[GW_SYNC] = ".sync",
};

struct gw_dest {
	struct hmap_entry node;
	int64_t id;
	char name[64];
	int64_t created_at;
	int paused;
	char *values[GW_MAX_KEYS]; /* plain settings; NULL when unset */
	int secret_set[GW_MAX_KEYS];
};

/* What the tree of a destination needs, copied out under dest_lock. */
struct dest_view {
	int64_t id;
	int64_t created_at;
	char team_id[256];
	char datasets[256];
	const struct format_ops *fmt;
};

struct gw_file {
	struct hmap_entry node;
	char *key; /* team \0 date \0 name, as one allocation */
	size_t keylen;
	int busy;      /* a thread is generating it */
	int valid;     /* fields below describe the current version */
	uint64_t gen;  /* source generation it was checked against */
	struct state_file version;
};

struct gw {
	struct source *src;
	struct state *state;
	struct vault *vault;
	struct cache *cache;
	int64_t started_at;

	pthread_mutex_t dest_lock;
	struct hmap dests;

	pthread_mutex_t file_lock;
	pthread_cond_t file_cond;
	struct hmap files;
};

static int key_index(const struct config_key *k)
{
	for (int i = 0; config_key_at(i); i++)
		if (config_key_at(i) == k)
			return i;
	return -1;
}

static int dest_eq(const struct hmap_entry *e, const void *key)
{
	return strcmp(((const struct gw_dest *)e)->name, key) == 0;
}

static struct gw_dest *dest_find(struct gw *gw, const char *name)
{
	return (struct gw_dest *)hmap_find(&gw->dests, hmap_hash(name, strlen(name)),
					   dest_eq, name);
}

static void dest_free(struct gw_dest *d)
{
	if (!d)
		return;
	for (int i = 0; i < GW_MAX_KEYS; i++)
		free(d->values[i]);
	free(d);
}

/* The effective value of a plain setting: stored, or its default. */
static const char *dest_value(const struct gw_dest *d, const char *name)
{
	const struct config_key *k = config_key_find(name);
	int i = key_index(k);

	return d->values[i] ? d->values[i] : k->default_value;
}

static int load_setting(void *ctx, const char *key, const void *value, size_t len)
{
	struct gw_dest *d = ctx;
	const struct config_key *k = config_key_find(key);
	int i = key_index(k);

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

static int keep_recorded(void *ctx, const char *sha)
{
	(void)ctx;
	(void)sha;
	return 0;
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
	ret = check_key(gw, o, err);
	if (ret)
		goto out;
	ret = cache_open(o->cache_dir, o->cache_max_bytes, &gw->cache, err);
	if (ret)
		goto out;
	cache_set_keep(gw->cache, keep_recorded, gw);
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

void gw_free(struct gw *gw)
{
	struct hmap_entry *e, *next;
	size_t b = 0;

	if (!gw)
		return;
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
	cache_free(gw->cache);
	state_free(gw->state);
	vault_free(gw->vault);
	source_free(gw->src);
	pthread_cond_destroy(&gw->file_cond);
	pthread_mutex_destroy(&gw->file_lock);
	pthread_mutex_destroy(&gw->dest_lock);
	free(gw);
}

/* Copies what the tree needs of a destination: 0 or -ENOENT. */
static int dest_view(struct gw *gw, const char *name, struct dest_view *v)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&gw->dest_lock);
	struct gw_dest *d = dest_find(gw, name);
	if (d) {
		v->id = d->id;
		v->created_at = d->created_at;
		snprintf(v->team_id, sizeof(v->team_id), "%s", dest_value(d, "team_id"));
		snprintf(v->datasets, sizeof(v->datasets), "%s", dest_value(d, "datasets"));
		v->fmt = format_find(dest_value(d, "format"));
		if (!v->fmt)
			v->fmt = &format_csv;
		ret = 0;
	}
	pthread_mutex_unlock(&gw->dest_lock);
	return ret;
}

static void dir_attr(struct gw_attr *a, unsigned mode, int64_t mtime)
{
	a->kind = GW_DIR;
	a->mode = mode;
	a->size = 0;
	a->mtime = mtime;
}

int gw_root_stat(struct gw *gw, struct gw_attr *a)
{
	dir_attr(a, 0755, gw->started_at);
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
	int ret = dest_view(gw, dest, &v);

	if (!ret)
		dir_attr(a, 0755, v.created_at);
	return ret;
}

static void audit(struct gw *gw, const struct gw_caller *who, const char *dest,
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
	int ret = state_dest_create(gw->state, name, now, &id);
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
	audit(gw, who, name, "create", NULL);
	log_info("created destination '%s'", name);
	return 0;
}

int gw_dest_delete(struct gw *gw, const char *name, const struct gw_caller *who)
{
	int ret = state_dest_delete(gw->state, name);

	if (ret)
		return ret;
	pthread_mutex_lock(&gw->dest_lock);
	struct gw_dest *d = dest_find(gw, name);
	if (d)
		hmap_remove(&gw->dests, &d->node);
	pthread_mutex_unlock(&gw->dest_lock);
	dest_free(d);
	audit(gw, who, name, "delete", NULL);
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

int gw_list_teams(struct gw *gw, const char *dest, gw_name_fn fn, void *ctx)
{
	struct dest_view v;
	int ret = dest_view(gw, dest, &v);

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
	int ret = dest_view(gw, dest, &v);

	if (ret)
		return ret;
	if (!team_visible(&v, team))
		return -ENOENT;
	ret = source_team_exists(gw->src, team);
	if (ret < 0)
		return ret;
	if (!ret)
		return -ENOENT;
	dir_attr(a, 0555, v.created_at);
	return 0;
}

int gw_list_dates(struct gw *gw, const char *dest, const char *team, gw_name_fn fn,
		  void *ctx)
{
	struct dest_view v;
	int ret = dest_view(gw, dest, &v);

	if (ret)
		return ret;
	if (!team_visible(&v, team))
		return -ENOENT;
	return source_list_dates(gw->src, team, fn, ctx);
}

int gw_date_stat(struct gw *gw, const char *dest, const char *team, const char *date,
		 struct gw_attr *a)
{
	struct dest_view v;
	int64_t day;
	int ret = dest_view(gw, dest, &v);

	if (ret)
		return ret;
	if (!team_visible(&v, team) || clock_parse_date(date, &day) < 0)
		return -ENOENT;
	ret = source_date_exists(gw->src, team, date);
	if (ret < 0)
		return ret;
	if (!ret)
		return -ENOENT;
	/* A date directory's mtime is its day: stable, so rsync -a stays quiet. */
	dir_attr(a, 0555, day);
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
	ret = dest_view(gw, dest, &v);
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
		       const struct format_ops *fmt, int force, struct state_file *out)
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

	if (!have_prev && state_file_get(gw->state, team, date, name, &prev) == 0)
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
		cur.mtime = clock_now();
		ret = state_file_put(gw->state, team, date, name, &cur);
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
		f->valid = 1;
		f->gen = gen;
		f->version = cur;
		*out = cur;
	} else {
		f->valid = 0;
	}
	pthread_cond_broadcast(&gw->file_cond);
	pthread_mutex_unlock(&gw->file_lock);
	buf_release(&key);
	return ret;
}

/* Resolves a data file path to its dataset and materializes it. */
static int file_version(struct gw *gw, const char *dest, const char *team,
			const char *date, const char *name, int force,
			struct state_file *out)
{
	struct dest_view v;
	int64_t day;
	int ret = dest_view(gw, dest, &v);

	if (ret)
		return ret;
	if (!team_visible(&v, team) || clock_parse_date(date, &day) < 0)
		return -ENOENT;
	struct find_ctx fc = {name, NULL};
	each_file_name(&v, find_one, &fc);
	if (!fc.found)
		return -ENOENT;
	return materialize(gw, team, date, name, fc.found, v.fmt, force, out);
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
	int ret = file_version(gw, dest, team, date, name, 0, &f);

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
		ret = file_version(gw, dest, team, date, name, attempt > 0, &f);
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

int gw_control_find(const char *name)
{
	for (int i = 0; i < GW_NCONTROLS; i++)
		if (strcmp(control_names[i], name) == 0)
			return i;
	return -1;
}

static int control_mode(enum gw_control c)
{
	switch (c) {
	case GW_CONFIG:
		return 0644;
	case GW_STATUS:
	case GW_HISTORY:
	case GW_SYNC:
		return 0444;
	default:
		return 0200;
	}
}

/* Is the control file implemented yet?  The others are ENOENT for now. */
static int control_available(enum gw_control c)
{
	return c == GW_CONFIG || c == GW_STATUS;
}

int gw_control_stat(struct gw *gw, const char *dest, enum gw_control c,
		    struct gw_attr *a)
{
	struct buf content = BUF_INIT;
	int ret;

	if (!control_available(c))
		return -ENOENT;
	ret = gw_control_read(gw, dest, c, &content);
	if (ret)
		goto out;
	a->kind = GW_CONTROL;
	a->mode = (unsigned)control_mode(c);
	a->size = content.len;
	a->mtime = clock_now();
out:
	buf_release(&content);
	return ret;
}

static void read_config(struct gw_dest *d, struct buf *out)
{
	for (int i = 0; config_key_at(i); i++) {
		const struct config_key *k = config_key_at(i);
		const char *v;
		if (k->flags & CONFIG_SECRET)
			v = d->secret_set[i] ? CONFIG_SECRET_SHOWN : "";
		else if (strcmp(k->name, "addressing") == 0 && !d->values[i])
			v = d->values[key_index(config_key_find("endpoint"))] ? "path"
									     : "virtual";
		else
			v = d->values[i] ? d->values[i] : k->default_value;
		buf_addf(out, "%s = %s\n", k->name, v);
	}
}

/* The required settings still missing, comma-separated; "" when complete. */
static void missing_keys(struct gw_dest *d, struct buf *out)
{
	for (int i = 0; config_key_at(i); i++) {
		const struct config_key *k = config_key_at(i);
		int set = (k->flags & CONFIG_SECRET) ? d->secret_set[i] : d->values[i] != NULL;
		if ((k->flags & CONFIG_REQUIRED) && !set)
			buf_addf(out, "%s%s", out->len ? ", " : "", k->name);
	}
}

static void read_status(struct gw *gw, struct gw_dest *d, struct buf *out)
{
	struct buf missing = BUF_INIT;
	char when[32];

	missing_keys(d, &missing);
	buf_addf(out, "destination = %s\n", d->name);
	buf_addf(out, "state = %s\n", d->paused ? "paused" : "active");
	buf_addf(out, "configured = %s\n", missing.len ? "no" : "yes");
	if (missing.len)
		buf_addf(out, "missing = %s\n", buf_str(&missing));
	buf_addf(out, "team_id = %s\n", dest_value(d, "team_id"));
	buf_addf(out, "bucket = %s\n", dest_value(d, "bucket"));
	buf_addf(out, "schedule = %s\n", dest_value(d, "schedule"));
	clock_iso8601(d->created_at, when);
	buf_addf(out, "created_at = %s\n", when);
	buf_release(&missing);
	(void)gw;
}

static void read_config_error(struct gw *gw, int64_t id, struct buf *out)
{
	struct buf msg = BUF_INIT;
	int64_t at = 0;
	char when[32];

	if (state_dest_get_error(gw->state, id, &msg, &at) == 0 && msg.len) {
		clock_iso8601(at, when);
		buf_addf(out, "last_config_error = %s\n", buf_str(&msg));
		buf_addf(out, "last_config_error_at = %s\n", when);
	} else {
		buf_adds(out, "last_config_error = none\n");
	}
	buf_release(&msg);
}

int gw_control_read(struct gw *gw, const char *dest, enum gw_control c,
		    struct buf *out)
{
	int64_t id = 0;

	if (!control_available(c))
		return -ENOENT;
	pthread_mutex_lock(&gw->dest_lock);
	struct gw_dest *d = dest_find(gw, dest);
	if (!d) {
		pthread_mutex_unlock(&gw->dest_lock);
		return -ENOENT;
	}
	id = d->id;
	if (c == GW_CONFIG)
		read_config(d, out);
	else if (c == GW_STATUS)
		read_status(gw, d, out);
	pthread_mutex_unlock(&gw->dest_lock);
	if (c == GW_STATUS)
		read_config_error(gw, id, out);
	return 0;
}

/* Records why input to a destination's control file was refused. */
static void refuse(struct gw *gw, const char *dest, enum gw_control c,
		   const struct buf *why)
{
	struct state_dest sd;
	struct buf msg = BUF_INIT;

	buf_addf(&msg, "%s: %s", control_names[c], buf_str(why));
	log_warn("destination '%s': refused %s", dest, buf_str(&msg));
	if (state_dest_get(gw->state, dest, &sd) == 0)
		state_dest_set_error(gw->state, sd.id, clock_now(), buf_str(&msg));
	buf_release(&msg);
}

int gw_control_check(struct gw *gw, const char *dest, enum gw_control c,
		     const char *data, size_t len)
{
	struct config_input in = {NULL, 0};
	struct buf why = BUF_INIT;
	int ret = 0;

	if (c != GW_CONFIG)
		return -EACCES;
	ret = config_parse(data, len, 0, &in, &why);
	if (ret)
		refuse(gw, dest, c, &why);
	config_input_release(&in);
	buf_release(&why);
	return ret;
}

/* Builds the state changes for parsed input, encrypting secrets. */
static int build_changes(struct gw *gw, int64_t dest_id, const struct config_input *in,
			 struct state_change *ch, struct buf *blobs, size_t *n,
			 struct buf *detail)
{
	char aad[32];

	snprintf(aad, sizeof(aad), "%lld", (long long)dest_id);
	*n = 0;
	for (size_t i = 0; i < in->n; i++) {
		const struct config_entry *e = &in->entries[i];
		if (e->keep)
			continue;
		struct state_change *c = &ch[(*n)++];
		c->key = e->key->name;
		c->clear = e->value == NULL;
		if (detail->len)
			buf_adds(detail, ", ");
		if (c->clear) {
			buf_addf(detail, "%s cleared", e->key->name);
		} else if (e->key->flags & CONFIG_SECRET) {
			struct buf *b = &blobs[i];
			int ret = vault_encrypt(gw->vault, aad, e->value, strlen(e->value), b);
			if (ret)
				return ret;
			c->value = b->data;
			c->len = b->len;
			buf_addf(detail, "%s = " CONFIG_SECRET_SHOWN, e->key->name);
		} else {
			c->value = e->value;
			c->len = strlen(e->value);
			buf_addf(detail, "%s = %s", e->key->name, e->value);
		}
	}
	return 0;
}

static int apply_config(struct gw *gw, const char *dest, const char *data, size_t len,
			const struct gw_caller *who)
{
	struct config_input in = {NULL, 0};
	struct state_change ch[GW_MAX_KEYS];
	struct buf blobs[GW_MAX_KEYS];
	struct buf why = BUF_INIT, detail = BUF_INIT;
	struct state_dest sd;
	size_t n = 0;
	int ret;

	for (int i = 0; i < GW_MAX_KEYS; i++)
		blobs[i] = (struct buf)BUF_INIT;
	ret = state_dest_get(gw->state, dest, &sd);
	if (ret)
		goto out;
	ret = config_parse(data, len, 1, &in, &why);
	if (ret) {
		refuse(gw, dest, GW_CONFIG, &why);
		goto out;
	}
	if (in.n == 0)
		goto out;
	ret = build_changes(gw, sd.id, &in, ch, blobs, &n, &detail);
	if (ret)
		goto out;
	ret = state_settings_apply(gw->state, sd.id, ch, n);
	if (ret)
		goto out;
	state_dest_set_error(gw->state, sd.id, 0, NULL);
	pthread_mutex_lock(&gw->dest_lock);
	struct gw_dest *d = dest_find(gw, dest);
	for (size_t i = 0; d && i < in.n; i++) {
		const struct config_entry *e = &in.entries[i];
		int k = key_index(e->key);
		if (e->keep)
			continue;
		if (e->key->flags & CONFIG_SECRET) {
			d->secret_set[k] = e->value != NULL;
			continue;
		}
		free(d->values[k]);
		d->values[k] = e->value ? strdup(e->value) : NULL;
	}
	pthread_mutex_unlock(&gw->dest_lock);
	if (detail.len)
		audit(gw, who, dest, "config", buf_str(&detail));
out:
	for (int i = 0; i < GW_MAX_KEYS; i++)
		buf_release(&blobs[i]);
	config_input_release(&in);
	buf_release(&why);
	buf_release(&detail);
	return ret;
}

int gw_control_write(struct gw *gw, const char *dest, enum gw_control c,
		     const char *data, size_t len, const struct gw_caller *who)
{
	if (c == GW_CONFIG)
		return apply_config(gw, dest, data, len, who);
	return -EACCES;
}
