/*
 * tree: the exported tree as directories (the tree part of gateway.h):
 * the mount root, destinations (mkdir and rmdir included), the teams a
 * destination exports, their dates, and the names of a date's data files.
 * What a data file holds is files.c's; control files are control.c's.
 *
 * Threads: any thread may call in.  The one-team date listing
 * (gw->dates*) is protected by gw->file_lock; destinations are read
 * through dests.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hmap.h"
#include "base/log.h"
#include "config.h"
#include "data/source.h"
#include "db/state.h"
#include "dests.h"
#include "gw_i.h"
#include "schedule.h"

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
	int ret = gw_dest_view(gw, dest, &v);

	if (!ret)
		dir_attr(a, 0755, v.created_at);
	return ret;
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
	gw_dest_free(d);
	gw_audit(gw, who, name, "delete", NULL);
	log_info("deleted destination '%s' (objects in the bucket are kept)", name);
	return 0;
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
	int ret = gw_team_view(gw, dest, team, &v);

	if (ret)
		return ret;
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
	int ret = gw_team_view(gw, dest, team, &v);

	if (ret)
		return ret;
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
	int ret = gw_team_view(gw, dest, team, &v);

	if (ret)
		return ret;
	if (clock_parse_date(date, &day) < 0)
		return -ENOENT;
	ret = cached_date(gw, team, date, source_generation(gw->src));
	if (ret < 0)
		ret = source_date_exists(gw->src, team, date);
	if (ret < 0)
		return ret;
	if (!ret)
		return -ENOENT;
	/* A date directory's mtime is its day: stable, so rsync -a stays quiet. */
	dir_attr(a, 0555, day);
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
	gw_each_file(&v, list_one, &l);
	return 0;
}

void gw_generation(struct gw *gw, uint64_t *source, uint64_t *settings)
{
	*source = source_generation(gw->src);
	pthread_mutex_lock(&gw->dest_lock);
	*settings = gw->settings_gen;
	pthread_mutex_unlock(&gw->dest_lock);
}
