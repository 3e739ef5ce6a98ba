/*
 * control: the control files (see gateway.h): one table of the files in a
 * destination directory and one of those at the mount root, and what
 * reading, checking, writing and touching each one does.  .config input is
 * parsed by config.c and applied here in one state transaction, .run-now
 * input by period.c; the actions are scheduler.c's and the status text is
 * status.c's.  Refusals are recorded for .status.
 *
 * Threads: any thread.  dest_lock guards the in-memory destinations and
 * gw->sync_waiters; no lock is held during a state call or while waiting.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "db/queue.h"
#include "db/runs.h"
#include "dests.h"
#include "gw_i.h"
#include "period.h"
#include "scheduler.h"
#include "status.h"

enum control_flags {
	CONTROL_TRIGGER = 1 << 0, /* write-only, no content: touching it acts */
	CONTROL_BLOCKS = 1 << 1,  /* reading it waits, so its size is unknown */
};

static const struct control_file {
	const char *name;
	unsigned mode;
	unsigned flags;
} controls[GW_NCONTROLS] = {
	[GW_CONFIG] = {".config", 0644, 0},
	[GW_STATUS] = {".status", 0444, 0},
	[GW_HISTORY] = {".history", 0444, 0},
	[GW_RUN_NOW] = {".run-now", 0200, CONTROL_TRIGGER},
	[GW_PAUSE] = {".pause", 0200, CONTROL_TRIGGER},
	[GW_RESUME] = {".resume", 0200, CONTROL_TRIGGER},
	[GW_SYNC] = {".sync", 0444, CONTROL_BLOCKS},
};

/* The hidden files of the mount root. */
static const struct root_file {
	const char *name;
	unsigned mode; /* the audit log is the mount owner's only */
} roots[GW_NROOT] = {
	[GW_ROOT_STATUS] = {".status", 0444},
	[GW_ROOT_METRICS] = {".metrics", 0444},
	[GW_ROOT_AUDIT] = {".audit", 0400},
};

int gw_control_find(const char *name)
{
	for (int i = 0; i < GW_NCONTROLS; i++)
		if (strcmp(controls[i].name, name) == 0)
			return i;
	return -1;
}

int gw_root_find(const char *name)
{
	for (int i = 0; i < GW_NROOT; i++)
		if (strcmp(roots[i].name, name) == 0)
			return i;
	return -1;
}

unsigned gw_root_mode(enum gw_root_file f)
{
	return roots[f].mode;
}

int gw_root_read(struct gw *gw, enum gw_root_file f, struct buf *out)
{
	if (f == GW_ROOT_AUDIT)
		return state_audit_read(gw->state, out);
	return gw_status_root(gw, f, out);
}

static int control_available(enum gw_control c)
{
	return c >= 0 && c < GW_NCONTROLS;
}

int gw_control_stat(struct gw *gw, const char *dest, enum gw_control c,
		    struct gw_attr *a)
{
	struct buf content = BUF_INIT;
	int ret;

	if (!control_available(c))
		return -ENOENT;
	/*
	 * .sync blocks when read, so its size is unknown until then; the
	 * write-only trigger files have no content.
	 */
	if (controls[c].flags & (CONTROL_TRIGGER | CONTROL_BLOCKS))
		ret = gw_dest_stat(gw, dest, a);
	else
		ret = gw_control_read(gw, dest, c, &content);
	if (ret)
		goto out;
	a->kind = GW_CONTROL;
	a->mode = controls[c].mode;
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
		else if (strcmp(k->name, "addressing") == 0)
			v = config_addressing(d->values);
		else
			v = d->values[i] ? d->values[i] : k->default_value;
		buf_addf(out, "%s = %s\n", k->name, v);
	}
}

int gw_control_read(struct gw *gw, const char *dest, enum gw_control c,
		    struct buf *out)
{
	int64_t id = 0;

	if (!control_available(c))
		return -ENOENT;
	if (c == GW_STATUS)
		return gw_status_read(gw, dest, out);
	pthread_mutex_lock(&gw->dest_lock);
	struct gw_dest *d = gw_dest_find(gw, dest);
	if (!d) {
		pthread_mutex_unlock(&gw->dest_lock);
		return -ENOENT;
	}
	id = d->id;
	if (c == GW_CONFIG)
		read_config(d, out);
	pthread_mutex_unlock(&gw->dest_lock);
	if (c == GW_HISTORY)
		return runs_history(gw->state, id, out);
	return 0;
}

/* Records why input to a destination's control file was refused. */
static void refuse(struct gw *gw, const char *dest, enum gw_control c,
		   const struct buf *why)
{
	struct state_dest sd;
	struct buf msg = BUF_INIT;

	buf_addf(&msg, "%s: %s", controls[c].name, buf_str(why));
	log_warn("destination '%s': refused %s", dest, buf_str(&msg));
	if (state_dest_get(gw->state, dest, &sd) == 0)
		state_dest_set_error(gw->state, sd.id, clock_now(), buf_str(&msg));
	buf_release(&msg);
}

/*
 * Input to .config or .run-now (a touch included) was accepted: forgets the
 * refusal refuse() recorded, so that .status shows last_config_error only
 * while a refusal is the latest outcome of a write to those files.
 */
static void input_accepted(struct gw *gw, int64_t dest_id)
{
	/* A refusal is shown only while it is the latest outcome. */
	state_dest_set_error(gw->state, dest_id, 0, NULL);
}

int gw_control_touch(struct gw *gw, const char *dest, enum gw_control c,
		     const struct gw_caller *who)
{
	struct state_dest sd;
	struct buf period = BUF_INIT;
	char schedule[16] = "daily";
	int ret = state_dest_get(gw->state, dest, &sd);

	if (ret)
		return ret;
	pthread_mutex_lock(&gw->dest_lock);
	struct gw_dest *d = gw_dest_find(gw, dest);
	if (d)
		snprintf(schedule, sizeof(schedule), "%s", gw_dest_value(d, "schedule"));
	pthread_mutex_unlock(&gw->dest_lock);
	switch (c) {
	case GW_RUN_NOW:
		gw_sched_latest_period(schedule, &period);
		ret = gw_sched_run(gw, sd.id, "run-now", buf_str(&period));
		if (!ret) {
			input_accepted(gw, sd.id);
			gw_audit(gw, who, dest, "run-now", buf_str(&period));
		}
		break;
	case GW_PAUSE:
		ret = gw_sched_pause(gw, sd.id);
		if (!ret)
			gw_audit(gw, who, dest, "pause", NULL);
		break;
	case GW_RESUME:
		ret = gw_sched_resume(gw, sd.id, schedule);
		if (!ret)
			gw_audit(gw, who, dest, "resume", NULL);
		break;
	default:
		break;
	}
	buf_release(&period);
	return ret;
}

/* Input to .run-now: checked as it arrives, applied at close. */
static int run_now_check(struct gw *gw, const char *dest, const char *data, size_t len)
{
	struct buf norm = BUF_INIT, why = BUF_INIT;
	unsigned n;
	int ret = period_parse(data, len, 0, clock_day(clock_now()),
			       gw->run_opts.backfill_span, &norm, &n, &why);

	if (ret)
		refuse(gw, dest, GW_RUN_NOW, &why);
	buf_release(&norm);
	buf_release(&why);
	return ret;
}

static int run_now_write(struct gw *gw, const char *dest, const char *data, size_t len,
		     const struct gw_caller *who)
{
	struct buf norm = BUF_INIT, why = BUF_INIT;
	struct state_dest sd;
	unsigned n;
	int ret = state_dest_get(gw->state, dest, &sd);

	if (ret)
		return ret;
	ret = period_parse(data, len, 1, clock_day(clock_now()), gw->run_opts.backfill_span,
			   &norm, &n, &why);
	if (ret) {
		refuse(gw, dest, GW_RUN_NOW, &why);
		goto out;
	}
	if (n == 0) {
		ret = gw_control_touch(gw, dest, GW_RUN_NOW, who);
		goto out;
	}
	/* One date is a run now; a range or several dates, a backfill. */
	const char *trigger = n == 1 ? "run-now" : "backfill";
	ret = gw_sched_run(gw, sd.id, trigger, buf_str(&norm));
	if (!ret) {
		input_accepted(gw, sd.id);
		gw_audit(gw, who, dest, trigger, buf_str(&norm));
	}
out:
	buf_release(&norm);
	buf_release(&why);
	return ret;
}

int gw_control_check(struct gw *gw, const char *dest, enum gw_control c,
		     const char *data, size_t len)
{
	struct config_input in = {NULL, 0};
	struct buf why = BUF_INIT;
	int ret = 0;

	if (c == GW_RUN_NOW)
		return run_now_check(gw, dest, data, len);
	if (c == GW_PAUSE || c == GW_RESUME)
		return 0;
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
	struct state_change ch[CONFIG_MAX_KEYS];
	struct buf blobs[CONFIG_MAX_KEYS];
	struct buf why = BUF_INIT, detail = BUF_INIT;
	struct state_dest sd;
	size_t n = 0;
	int ret;

	for (int i = 0; i < CONFIG_MAX_KEYS; i++)
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
	pthread_mutex_lock(&gw->dest_lock);
	struct gw_dest *d = gw_dest_find(gw, dest);
	for (size_t i = 0; d && i < in.n; i++) {
		const struct config_entry *e = &in.entries[i];
		int k = config_key_index(e->key);
		if (e->keep)
			continue;
		if (e->key->flags & CONFIG_SECRET) {
			d->secret_set[k] = e->value != NULL;
			continue;
		}
		free(d->values[k]);
		d->values[k] = e->value ? strdup(e->value) : NULL;
	}
	/* Versions known to be in the old bucket or prefix are not in the new. */
	gw->settings_gen++;
	char schedule[16];
	snprintf(schedule, sizeof(schedule), "%s", d ? gw_dest_value(d, "schedule") : "");
	pthread_mutex_unlock(&gw->dest_lock);
	for (size_t i = 0; i < in.n; i++)
		if (strcmp(in.entries[i].key->name, "schedule") == 0)
			gw_schedule_changed(gw, sd.id, schedule);
	if (detail.len)
		gw_audit(gw, who, dest, "config", buf_str(&detail));
	/* New settings may fix what failed (a wrong secret): try those again. */
	queue_retry_failed(gw->state, sd.id);
	sync_kick(gw->sync);
out:
	/* Accepted, even with nothing to change (comments, kept secrets). */
	if (!ret)
		input_accepted(gw, sd.id);
	for (int i = 0; i < CONFIG_MAX_KEYS; i++)
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
	if (c == GW_RUN_NOW)
		return run_now_write(gw, dest, data, len, who);
	if (c == GW_PAUSE || c == GW_RESUME)
		return gw_control_touch(gw, dest, c, who);
	return -EACCES;
}

static int interrupted_never(void *ctx)
{
	(void)ctx;
	return 0;
}

int gw_sync_report(struct gw *gw, const char *dest, gw_interrupted_fn interrupted,
		   void *ctx, struct buf *out)
{
	struct dest_view v;
	struct buf missing = BUF_INIT;
	struct queue_counts c;
	int ret;

	if (!interrupted)
		interrupted = interrupted_never;
	pthread_mutex_lock(&gw->dest_lock);
	struct gw_dest *d = gw_dest_find(gw, dest);
	if (d)
		gw_missing_keys(d, &missing);
	if (d && gw->sync_waiters >= gw->max_sync_waiters) {
		pthread_mutex_unlock(&gw->dest_lock);
		buf_release(&missing);
		return -EAGAIN;
	}
	if (d)
		gw->sync_waiters++;
	pthread_mutex_unlock(&gw->dest_lock);
	if (!d) {
		buf_release(&missing);
		return -ENOENT;
	}
	ret = gw_dest_view(gw, dest, &v);
	if (ret)
		goto out;
	if (missing.len) {
		buf_addf(out, "synced = no\nreason = not fully configured: write %s to .config\n",
			 buf_str(&missing));
		goto out;
	}
	if (v.paused) {
		buf_adds(out, "synced = no\nreason = paused: scheduled uploads wait for "
			      ".resume (manual runs still upload)\n");
		goto out;
	}
	for (;;) {
		int64_t enumerating = 0;
		ret = queue_counts(gw->state, v.id, clock_now() * 1000, &c);
		/* A run that has not queued its files yet is pending work too. */
		if (!ret)
			ret = runs_count_enumerating(gw->state, v.id, &enumerating);
		if (ret)
			goto out;
		if (c.pending + c.uploading + enumerating == 0) {
			/* Its runs are over too: record them before reporting. */
			gw_runs_finish(gw);
			break;
		}
		if (interrupted(ctx)) {
			ret = -EINTR;
			goto out;
		}
		sync_wait(gw->sync, 200);
	}
	buf_addf(out, "synced = %s\n", c.failed ? "no" : "yes");
	buf_addf(out, "failed = %lld\n", (long long)c.failed);
	buf_addf(out, "uploads_ok = %lld\n", (long long)c.uploads_ok);
	buf_addf(out, "bytes_uploaded = %llu\n", (unsigned long long)c.bytes_uploaded);
	if (c.failed)
		ret = -EIO;
out:
	pthread_mutex_lock(&gw->dest_lock);
	gw->sync_waiters--;
	pthread_mutex_unlock(&gw->dest_lock);
	buf_release(&missing);
	return ret;
}
