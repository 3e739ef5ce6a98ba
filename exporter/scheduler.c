/*
 * scheduler: runs and schedules (see scheduler.h): the scheduler thread,
 * the runner threads, and the actions that start, pause and resume runs.
 * Which control file asks for an action is control.c's business.
 *
 * Threads:
 *   - the scheduler thread wakes every tick_ms: finds every due
 *     destination with one indexed query, creates their runs and moves
 *     their clocks in one transaction, then finishes runs whose uploads
 *     are all done.  It has its own state connection.
 *   - runner threads (a few) claim queued runs and enumerate them:
 *     materialize each (team, date, dataset) file and queue it for upload
 *     with the run's id.  Bounded concurrency: runs wait queued in the
 *     state database, never in memory.
 *   - FUSE threads create runs (durably, before replying) and kick.
 * gw->run_lock protects run_stopping and run_kicks; it is never held
 * while calling into the state database or the source.
 */
#include "scheduler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "data/dataset.h"
#include "db/queue.h"
#include "db/runs.h"
#include "dests.h"
#include "files.h"
#include "period.h"
#include "schedule.h"

static void kick_runners(struct gw *gw)
{
	pthread_mutex_lock(&gw->run_lock);
	gw->run_kicks++;
	pthread_cond_broadcast(&gw->run_cond);
	pthread_mutex_unlock(&gw->run_lock);
}

/* Sleeps up to ms real milliseconds, or until kicked or stopping: 1 when stopping. */
static int nap(struct gw *gw, unsigned ms, unsigned *seen)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&gw->run_lock);
	while (!gw->run_stopping && (!seen || *seen == gw->run_kicks))
		if (pthread_cond_timedwait(&gw->run_cond, &gw->run_lock, &until) == ETIMEDOUT)
			break;
	int stop = gw->run_stopping;
	if (seen)
		*seen = gw->run_kicks;
	pthread_mutex_unlock(&gw->run_lock);
	return stop;
}

struct due_list {
	struct runs_due *v;
	size_t n, alloc;
};

static int collect_due(void *ctx, const struct runs_due *d)
{
	struct due_list *l = ctx;

	if (l->n == l->alloc) {
		size_t n = l->alloc ? l->alloc * 2 : 256;
		struct runs_due *v = realloc(l->v, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->alloc = n;
	}
	l->v[l->n++] = *d;
	return 0;
}

struct configured {
	int64_t id;
	int ok;
};

static int cmp_configured(const void *a, const void *b)
{
	const struct configured *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* A sorted table of which destinations are fully configured, made in one pass. */
static struct configured *configured_table(struct gw *gw, size_t *n)
{
	size_t b = 0, i = 0;

	pthread_mutex_lock(&gw->dest_lock);
	struct configured *t = malloc((gw->dests.count + 1) * sizeof(*t));
	for (struct hmap_entry *e = hmap_next(&gw->dests, &b, NULL); t && e;
	     e = hmap_next(&gw->dests, &b, e)) {
		struct gw_dest *d = (struct gw_dest *)e;
		t[i].id = d->id;
		t[i++].ok = gw_missing_keys(d, NULL) == 0;
	}
	pthread_mutex_unlock(&gw->dest_lock);
	if (t)
		qsort(t, i, sizeof(*t), cmp_configured);
	*n = i;
	return t;
}

static int is_configured(const struct configured *t, size_t n, int64_t id)
{
	struct configured key = {id, 0};
	const struct configured *c = t ? bsearch(&key, t, n, sizeof(*t), cmp_configured)
				       : NULL;

	return c && c->ok;
}

/*
 * One scheduler tick: every due destination gets one run covering what it
 * missed, and its clock moves to its next slot after now.
 */
static void tick(struct gw *gw, struct state *st)
{
	struct due_list due = {NULL, 0, 0};
	struct timespec t0, t1;
	int64_t now = clock_now();

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (runs_list_due(st, now, collect_due, &due) < 0 || !due.n)
		goto out;
	struct runs_new *v = calloc(due.n, sizeof(*v));
	struct buf *periods = calloc(due.n, sizeof(*periods));
	size_t started = 0, nconf = 0;
	struct configured *conf = configured_table(gw, &nconf);
	if (!v || !periods) {
		free(v);
		free(periods);
		free(conf);
		goto out;
	}
	for (size_t i = 0; i < due.n; i++) {
		const struct runs_due *d = &due.v[i];
		enum schedule_kind k = schedule_kind(d->schedule);
		int64_t slot = schedule_latest_slot(k, d->next_run_at, now);
		v[i].dest_id = d->dest_id;
		v[i].trigger = "schedule";
		v[i].next_run_at = schedule_next_after(k, d->next_run_at, now);
		/* An unconfigured destination's clock moves on without a run. */
		v[i].create = is_configured(conf, nconf, d->dest_id);
		schedule_period(k, slot, d->last_sched_day, gw->run_opts.backfill_span,
			     &v[i].first_day, &v[i].last_day);
		period_format(v[i].first_day, v[i].last_day, &periods[i]);
		v[i].period = buf_str(&periods[i]);
		started += v[i].create;
	}
	int ret = runs_start(st, v, due.n, now);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (ret)
		log_error("cannot start scheduled runs: %s", strerror(-ret));
	else
		log_info("scheduler: %zu destination(s) due, %zu run(s) started in %.1f ms",
			 due.n, started, ms);
	for (size_t i = 0; i < due.n; i++)
		buf_release(&periods[i]);
	free(periods);
	free(v);
	free(conf);
	if (!ret && started)
		kick_runners(gw);
out:
	free(due.v);
}

static void on_finished(void *ctx, const struct runs_finished *f)
{
	struct gw *gw = ctx;

	if (f->auto_paused) {
		gw_dest_set_paused(gw, f->dest_id, 1);
		log_warn("destination %lld paused itself after repeated failed runs",
			 (long long)f->dest_id);
	}
	/* The one line a run logs at info: per-file lines are debug. */
	log_info("run %lld of '%s' (%s %s) finished: %s, %lld file(s), %llu bytes, "
		 "%lld skipped, %lld s%s%s", (long long)f->id, f->dest, f->trigger,
		 f->period, f->result, (long long)f->files, (unsigned long long)f->bytes,
		 (long long)f->skipped, (long long)f->seconds, f->detail[0] ? "; " : "",
		 f->detail);
}

void gw_runs_finish(struct gw *gw)
{
	runs_finish_ready(gw->state, clock_now(), gw->run_opts.max_failures, on_finished, gw);
}

static void *scheduler_main(void *arg)
{
	struct gw *gw = arg;

	do {
		tick(gw, gw->sched_state);
		runs_finish_ready(gw->sched_state, clock_now(), gw->run_opts.max_failures,
				  on_finished, gw);
	} while (!nap(gw, gw->run_opts.tick_ms, NULL));
	return NULL;
}

struct run_exec {
	struct gw *gw;
	const struct runs_item *run;
	struct gw_run_ctx ctx;
	char dest[64];
	struct dest_view view;
	int64_t files, skipped;
	uint64_t bytes;
	struct buf error;
	struct buf note;
	char **teams;
	size_t nteams;
};

static int add_team(void *ctx, const char *team)
{
	struct run_exec *x = ctx;
	char **v = realloc(x->teams, (x->nteams + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	x->teams = v;
	if (config_valid_team_id(team, strlen(team)))
		x->teams[x->nteams++] = strdup(team);
	return 0;
}

struct export_ctx {
	struct run_exec *x;
	const char *team;
	const char *date;
};

static int export_file(void *ctx, const struct dataset *ds, const char *name)
{
	struct export_ctx *e = ctx;
	struct run_exec *x = e->x;
	struct state_file f;
	int ret = gw_file_version(x->gw, x->dest, e->team, e->date, name, 0, &x->ctx, &f);

	(void)ds;
	if (ret) {
		if (!x->error.len)
			buf_addf(&x->error, "cannot export %s/%s/%s: %s", e->team, e->date,
				 name, strerror(-ret));
		return 0;
	}
	x->files++;
	x->bytes += f.size;
	return 0;
}

static int export_day(void *ctx, int64_t day)
{
	struct run_exec *x = ctx;
	char date[16];

	clock_date(day, date);
	for (size_t t = 0; t < x->nteams; t++) {
		int has = source_date_exists(x->gw->src, x->teams[t], date);
		if (has <= 0) {
			if (has < 0 && !x->error.len)
				buf_addf(&x->error, "cannot read the source for %s", date);
			x->skipped++;
			continue;
		}
		struct export_ctx e = {x, x->teams[t], date};
		gw_each_file(&x->view, export_file, &e);
	}
	return 0;
}

static void execute(struct gw *gw, struct state *st, const struct runs_item *run)
{
	struct run_exec x = {.gw = gw, .run = run};
	struct state_dest sd;

	x.ctx.run_id = run->id;
	x.ctx.manual = strcmp(run->trigger, "schedule") != 0;
	x.ctx.state = st;
	if (state_dest_get_id(st, run->dest_id, &sd) < 0 ||
	    gw_dest_view(gw, sd.name, &x.view) < 0) {
		runs_enumerated(st, run->id, 0, 0, 0, "destination deleted", NULL);
		return;
	}
	snprintf(x.dest, sizeof(x.dest), "%s", sd.name);
	/* A new run retries what failed before. */
	queue_retry_failed(st, run->dest_id);
	if (!x.view.configured) {
		buf_adds(&x.error, "destination is not fully configured");
	} else if (strcmp(x.view.team_id, "*") == 0) {
		if (source_list_teams(gw->src, add_team, &x) < 0)
			buf_adds(&x.error, "cannot list teams in the source");
	} else {
		add_team(&x, x.view.team_id);
	}
	if (!x.error.len)
		period_each_day(run->period, export_day, &x);
	/*
	 * Nothing exported and nothing failed: no team of the destination has
	 * a row on any day of the period.  The run is ok, and says why it is
	 * empty rather than looking like one that lost its files.
	 */
	if (!x.error.len && !x.files)
		buf_addf(&x.note, "no rows for %s", run->period);
	runs_enumerated(st, run->id, x.files, x.bytes, x.skipped,
			x.error.len ? buf_str(&x.error) : NULL,
			x.note.len ? buf_str(&x.note) : NULL);
	log_debug("run %lld of '%s' (%s %s) queued its files: %lld file(s), %llu bytes, "
		  "%lld skipped", (long long)run->id, x.dest, run->trigger, run->period,
		  (long long)x.files, (unsigned long long)x.bytes, (long long)x.skipped);
	sync_kick(gw->sync);
	for (size_t i = 0; i < x.nteams; i++)
		free(x.teams[i]);
	free(x.teams);
	buf_release(&x.error);
	buf_release(&x.note);
}

static void *runner_main(void *arg)
{
	struct gw *gw = arg;
	struct state *st = NULL;
	struct buf err = BUF_INIT;
	unsigned seen = 0;

	/*
	 * Its own connection, relaxed: a run whose enumeration is lost to a
	 * power cut is still queued or running, and is enumerated again.
	 */
	if (state_open(gw->state_path, &st, &err) < 0) {
		log_error("runner cannot start: %s", buf_str(&err));
		buf_release(&err);
		return NULL;
	}
	state_relax(st);

	for (;;) {
		struct runs_item run;
		/* Stop between runs even when more are queued: they wait in the state. */
		pthread_mutex_lock(&gw->run_lock);
		int stopping = gw->run_stopping;
		pthread_mutex_unlock(&gw->run_lock);
		if (stopping)
			break;
		int ret = runs_claim(st, clock_now(), &run);
		if (ret == 0) {
			execute(gw, st, &run);
			continue;
		}
		if (nap(gw, 1000, &seen))
			break;
	}
	state_free(st);
	return NULL;
}

int gw_runs_start(struct gw *gw, struct buf *err)
{
	int ret = state_open(gw->state_path, &gw->sched_state, err);

	if (ret)
		return ret;
	runs_recover(gw->sched_state);
	gw->runners = calloc(gw->run_opts.runners, sizeof(*gw->runners));
	if (!gw->runners)
		return -ENOMEM;
	ret = -pthread_create(&gw->sched_thread, NULL, scheduler_main, gw);
	if (ret) {
		buf_addf(err, "cannot start the scheduler: %s", strerror(-ret));
		return ret;
	}
	gw->runs_started = 1;
	for (unsigned i = 0; i < gw->run_opts.runners; i++) {
		ret = -pthread_create(&gw->runners[i], NULL, runner_main, gw);
		if (ret) {
			buf_addf(err, "cannot start a runner: %s", strerror(-ret));
			return ret;
		}
		gw->nrunners++;
	}
	return 0;
}

void gw_runs_stop(struct gw *gw)
{
	pthread_mutex_lock(&gw->run_lock);
	gw->run_stopping = 1;
	pthread_cond_broadcast(&gw->run_cond);
	pthread_mutex_unlock(&gw->run_lock);
	if (gw->runs_started)
		pthread_join(gw->sched_thread, NULL);
	for (unsigned i = 0; i < gw->nrunners; i++)
		pthread_join(gw->runners[i], NULL);
	free(gw->runners);
	gw->runners = NULL;
	gw->nrunners = 0;
	gw->runs_started = 0;
	state_free(gw->sched_state);
	gw->sched_state = NULL;
}

/* ---- actions ---- */

/* The latest complete period of a destination's schedule, for a touch. */
void gw_sched_latest_period(const char *schedule, struct buf *out)
{
	int64_t today = clock_day(clock_now());

	if (schedule_kind(schedule) == SCHEDULE_HOURLY)
		period_format(today - CLOCK_DAY, today, out);
	else
		period_format(today - CLOCK_DAY, today - CLOCK_DAY, out);
}

int gw_sched_run(struct gw *gw, int64_t dest_id, const char *trigger,
		     const char *period)
{
	struct runs_new r = {
		.dest_id = dest_id,
		.trigger = trigger,
		.period = period,
		.create = 1,
	};

	int ret = runs_start(gw->state, &r, 1, clock_now());
	if (!ret)
		kick_runners(gw);
	return ret;
}

int gw_sched_pause(struct gw *gw, int64_t dest_id)
{
	int ret = runs_set_paused(gw->state, dest_id, 1, "paused by .pause", 0, 0);

	if (!ret)
		gw_dest_set_paused(gw, dest_id, 1);
	return ret;
}

int gw_sched_resume(struct gw *gw, int64_t dest_id, const char *schedule)
{
	struct runs_dest rd;
	int ret = runs_dest_get(gw->state, dest_id, &rd);

	if (ret)
		return ret;
	/* Keep the clock's phase; slots that fell while paused are skipped. */
	enum schedule_kind k = schedule_kind(schedule);
	int64_t now = clock_now();
	int64_t covered = schedule_covered_at_resume(k, rd.next_run_at, now);
	int64_t next = rd.next_run_at ? schedule_next_after(k, rd.next_run_at, now)
				      : schedule_first(k, now);
	ret = runs_set_paused(gw->state, dest_id, 0, NULL, next, covered);
	if (!ret) {
		gw_dest_set_paused(gw, dest_id, 0);
		queue_retry_failed(gw->state, dest_id);
		sync_kick(gw->sync);
	}
	return ret;
}

void gw_schedule_changed(struct gw *gw, int64_t dest_id, const char *schedule)
{
	runs_set_clock(gw->state, dest_id, schedule_first(schedule_kind(schedule), clock_now()));
}
