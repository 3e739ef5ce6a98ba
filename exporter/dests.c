/*
 * dests: the in-memory table of destinations and what the tree needs of
 * one (see dests.h).  Loaded from the state database at open, changed with
 * every mkdir, rmdir, .config write, pause and resume.
 *
 * Threads: gw->dest_lock protects gw->dests, every struct gw_dest in it
 * and gw->settings_gen.  It is never held during a state-database call;
 * gw_dest_find() expects the caller to hold it.
 */
#include "dests.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hmap.h"
#include "base/log.h"
#include "config.h"
#include "data/dataset.h"
#include "data/format.h"
#include "db/state.h"

static int dest_eq(const struct hmap_entry *e, const void *key)
{
	return strcmp(((const struct gw_dest *)e)->name, key) == 0;
}

struct gw_dest *gw_dest_find(struct gw *gw, const char *name)
{
	return (struct gw_dest *)hmap_find(&gw->dests, hmap_hash(name, strlen(name)),
					   dest_eq, name);
}

void gw_dest_free(struct gw_dest *d)
{
	if (!d)
		return;
	for (int i = 0; i < CONFIG_MAX_KEYS; i++)
		free(d->values[i]);
	free(d);
}

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
int gw_dests_load(struct gw *gw)
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

/* The required settings still missing, comma-separated; "" when complete. */
int gw_missing_keys(const struct gw_dest *d, struct buf *out)
{
	return config_missing(d->values, d->secret_set, out);
}

void gw_audit(struct gw *gw, const struct gw_caller *who, const char *dest,
		  const char *action, const char *detail)
{
	if (state_audit_add(gw->state, clock_now(), who ? who->uid : 0, who ? who->pid : 0,
			    dest, action, detail) < 0)
		log_error("cannot write the audit log for '%s' %s", dest ? dest : "-",
			  action);
}

/* Sets the in-memory paused flag of a destination known by id. */
void gw_dest_set_paused(struct gw *gw, int64_t dest_id, int paused)
{
	size_t b = 0;

	pthread_mutex_lock(&gw->dest_lock);
	for (struct hmap_entry *e = hmap_next(&gw->dests, &b, NULL); e;
	     e = hmap_next(&gw->dests, &b, e)) {
		struct gw_dest *d = (struct gw_dest *)e;
		if (d->id == dest_id)
			d->paused = paused;
	}
	pthread_mutex_unlock(&gw->dest_lock);
}

/* Does the destination export this team? */
int gw_team_visible(const struct dest_view *v, const char *team)
{
	if (!v->team_id[0] || !config_valid_team_id(team, strlen(team)))
		return 0;
	return strcmp(v->team_id, "*") == 0 || strcmp(v->team_id, team) == 0;
}

int gw_team_view(struct gw *gw, const char *dest, const char *team, struct dest_view *v)
{
	int ret = gw_dest_view(gw, dest, v);

	if (!ret && !gw_team_visible(v, team))
		ret = -ENOENT;
	return ret;
}

/* Calls fn(ctx, file name) for each dataset of the destination. */
int gw_each_file(const struct dest_view *v,
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
