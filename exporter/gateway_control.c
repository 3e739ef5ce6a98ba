/*
 * gateway_control: the control and status files of a destination
 * (.config, .status, .sync; see gateway.h).  Input is parsed by config.c
 * and applied here in one state transaction; refusals are recorded for
 * .status.
 *
 * Threads and locks: as in gateway.c (dest_lock guards the in-memory
 * destinations; no lock is held during a state call or while waiting).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "gateway_int.h"
#include "base/log.h"
#include "db/queue.h"
#include "db/runs.h"

static const char *const control_names[GW_NCONTROLS] = {
	[GW_CONFIG] = ".config", [GW_STATUS] = ".status",   [GW_HISTORY] = ".history",
	[GW_RUN_NOW] = ".run-now", [GW_PAUSE] = ".pause", [GW_RESUME] = ".resume",
	[GW_SYNC] = ".sync",
};

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
	if (c == GW_SYNC || c == GW_RUN_NOW || c == GW_PAUSE || c == GW_RESUME)
		ret = gw_dest_stat(gw, dest, a);
	else
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
		else if (strcmp(k->name, "addressing") == 0)
			v = config_addressing(d->values);
		else
			v = d->values[i] ? d->values[i] : k->default_value;
		buf_addf(out, "%s = %s\n", k->name, v);
	}
}


static void read_status(struct gw *gw, struct gw_dest *d, struct buf *out)
{
	struct buf missing = BUF_INIT;
	char when[32];

	gw_missing_keys(d, &missing);
	buf_addf(out, "destination = %s\n", d->name);
	buf_addf(out, "state = %s\n", d->paused ? "paused" : "active");
	buf_addf(out, "configured = %s\n", missing.len ? "no" : "yes");
	if (missing.len)
		buf_addf(out, "missing = %s\n", buf_str(&missing));
	buf_addf(out, "team_id = %s\n", gw_dest_value(d, "team_id"));
	buf_addf(out, "bucket = %s\n", gw_dest_value(d, "bucket"));
	buf_addf(out, "schedule = %s\n", gw_dest_value(d, "schedule"));
	clock_iso8601(d->created_at, when);
	buf_addf(out, "created_at = %s\n", when);
	buf_release(&missing);
	(void)gw;
}

static void read_sync_status(struct gw *gw, int64_t id, struct buf *out)
{
	struct queue_counts c;
	struct buf err = BUF_INIT;
	int64_t at = 0;
	char when[32];

	if (queue_counts(gw->state, id, clock_now() * 1000, &c) < 0) {
		buf_adds(out, "uploads = unknown (cannot read the state database)\n");
		return;
	}
	buf_addf(out, "pending = %lld\n", (long long)c.pending);
	buf_addf(out, "uploading = %lld\n", (long long)c.uploading);
	buf_addf(out, "failed = %lld\n", (long long)c.failed);
	buf_addf(out, "uploads_ok = %lld\n", (long long)c.uploads_ok);
	buf_addf(out, "uploads_failed = %lld\n", (long long)c.uploads_failed);
	buf_addf(out, "bytes_uploaded = %llu\n", (unsigned long long)c.bytes_uploaded);
	if (c.last_upload_at) {
		clock_iso8601(c.last_upload_at, when);
		buf_addf(out, "last_upload_at = %s\n", when);
	} else {
		buf_adds(out, "last_upload_at = never\n");
	}
	if (queue_last_error(gw->state, id, &err, &at) == 0 && err.len) {
		buf_add(out, err.data, err.len);
		clock_iso8601(at, when);
		buf_addf(out, "last_error_at = %s\n", when);
	} else {
		buf_adds(out, "last_error = none\n");
	}
	buf_release(&err);
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
	struct gw_dest *d = gw_dest_find(gw, dest);
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
	if (c == GW_STATUS) {
		gw_schedule_status(gw, id, out);
		gw_cache_status(gw, out);
		read_config_error(gw, id, out);
		read_sync_status(gw, id, out);
	}
	if (c == GW_HISTORY)
		return gw_history_read(gw, id, out);
	return 0;
}

void gw_refuse(struct gw *gw, const char *dest, enum gw_control c,
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

void gw_input_accepted(struct gw *gw, int64_t dest_id)
{
	/* A refusal is shown only while it is the latest outcome. */
	state_dest_set_error(gw->state, dest_id, 0, NULL);
}

int gw_control_check(struct gw *gw, const char *dest, enum gw_control c,
		     const char *data, size_t len)
{
	struct config_input in = {NULL, 0};
	struct buf why = BUF_INIT;
	int ret = 0;

	if (c == GW_RUN_NOW)
		return gw_run_now_check(gw, dest, data, len);
	if (c == GW_PAUSE || c == GW_RESUME)
		return 0;
	if (c != GW_CONFIG)
		return -EACCES;
	ret = config_parse(data, len, 0, &in, &why);
	if (ret)
		gw_refuse(gw, dest, c, &why);
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
		gw_refuse(gw, dest, GW_CONFIG, &why);
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
		gw_input_accepted(gw, sd.id);
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
		return gw_run_now_write(gw, dest, data, len, who);
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
