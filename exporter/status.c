/*
 * status: every `key = value` line of a destination's .status, and the
 * mount root's .status and .metrics (see status.h).  Read-only: it asks
 * dests.c, files.c and the state database, and writes text.
 *
 * Threads: any thread; dest_lock is held only while copying from the
 * in-memory destination, never during a state call.
 */
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "data/cache.h"
#include "db/queue.h"
#include "db/runs.h"
#include "dests.h"
#include "files.h"

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

static void schedule_status(struct gw *gw, int64_t dest_id, struct buf *out)
{
	struct runs_dest rd;
	char when[32];

	if (runs_dest_get(gw->state, dest_id, &rd) < 0)
		return;
	if (rd.paused && rd.pause_reason[0])
		buf_addf(out, "paused_reason = %s\n", rd.pause_reason);
	if (rd.next_run_at && !rd.paused) {
		clock_iso8601(rd.next_run_at, when);
		buf_addf(out, "next_run_at = %s\n", when);
	} else if (rd.next_run_at) {
		clock_iso8601(rd.next_run_at, when);
		buf_addf(out, "next_run_at = %s (paused)\n", when);
	}
	buf_addf(out, "failed_runs_in_a_row = %d\n", rd.failures);
	if (runs_last(gw->state, dest_id, out) == -ENOENT)
		buf_adds(out, "last_run = none\n");
}

int gw_status_read(struct gw *gw, const char *dest, struct buf *out)
{
	int64_t id;

	pthread_mutex_lock(&gw->dest_lock);
	struct gw_dest *d = gw_dest_find(gw, dest);
	if (!d) {
		pthread_mutex_unlock(&gw->dest_lock);
		return -ENOENT;
	}
	id = d->id;
	read_status(gw, d, out);
	pthread_mutex_unlock(&gw->dest_lock);
	schedule_status(gw, id, out);
	gw_cache_status(gw, out);
	read_config_error(gw, id, out);
	read_sync_status(gw, id, out);
	return 0;
}

/* How many destinations there are, by what they can do now. */
struct dest_counts {
	int64_t all;
	int64_t configured;   /* no required setting missing */
	int64_t active;       /* configured and not paused: scheduled runs fire */
	int64_t paused;       /* paused, configured or not */
	int64_t unconfigured; /* all - configured */
};

/* Counts from the in-memory destinations, as each .status shows them. */
static void count_dests(struct gw *gw, struct dest_counts *c)
{
	size_t b = 0;

	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&gw->dest_lock);
	for (struct hmap_entry *e = hmap_next(&gw->dests, &b, NULL); e;
	     e = hmap_next(&gw->dests, &b, e)) {
		const struct gw_dest *d = (const struct gw_dest *)e;
		int configured = gw_missing_keys(d, NULL) == 0;
		c->all++;
		c->configured += configured;
		c->active += configured && !d->paused;
		c->paused += d->paused != 0;
	}
	pthread_mutex_unlock(&gw->dest_lock);
	c->unconfigured = c->all - c->configured;
}

int gw_status_root(struct gw *gw, enum gw_root_file f, struct buf *out)
{
	struct runs_totals t;
	struct dest_counts dc;
	uint64_t cache_bytes, cache_versions;
	char when[32];

	int ret = runs_totals(gw->state, &t);
	if (ret)
		return ret;
	count_dests(gw, &dc);
	cache_usage(gw->cache, &cache_bytes, &cache_versions);
	int64_t uptime = clock_now() - gw->started_at;
	if (f == GW_ROOT_STATUS) {
		clock_iso8601(gw->started_at, when);
		buf_addf(out, "version = %s\n", WAREHOUSEFS_VERSION);
		buf_addf(out, "started_at = %s\n", when);
		buf_addf(out, "uptime_seconds = %lld\n", (long long)uptime);
		buf_addf(out, "destinations = %lld\n", (long long)dc.all);
		buf_addf(out, "destinations_configured = %lld\n", (long long)dc.configured);
		buf_addf(out, "destinations_active = %lld\n", (long long)dc.active);
		buf_addf(out, "destinations_paused = %lld\n", (long long)dc.paused);
		buf_addf(out, "destinations_unconfigured = %lld\n",
			 (long long)dc.unconfigured);
		buf_addf(out, "queue_depth = %lld\n", (long long)(t.pending + t.uploading));
		buf_addf(out, "uploads_pending = %lld\n", (long long)t.pending);
		buf_addf(out, "uploads_in_flight = %lld\n", (long long)t.uploading);
		buf_addf(out, "uploads_failed_now = %lld\n", (long long)t.failed);
		buf_addf(out, "uploads_ok = %lld\n", (long long)t.uploads_ok);
		buf_addf(out, "uploads_failed = %lld\n", (long long)t.uploads_failed);
		buf_addf(out, "bytes_uploaded = %llu\n", (unsigned long long)t.bytes_uploaded);
		buf_addf(out, "runs_active = %lld\n", (long long)t.runs_active);
		buf_addf(out, "runs_done = %lld\n", (long long)t.runs_done);
		buf_addf(out, "cache_bytes = %llu\n", (unsigned long long)cache_bytes);
		buf_addf(out, "cache_versions = %llu\n", (unsigned long long)cache_versions);
		gw_cache_status(gw, out);
		return 0;
	}
#define METRIC(name, type, help, fmt, value)                                          \
	buf_addf(out, "# HELP warehousefs_" name " " help "\n# TYPE warehousefs_" name  \
		      " " type "\nwarehousefs_" name " " fmt "\n",                        \
		 value)
	METRIC("uptime_seconds", "gauge", "Seconds since the mount.", "%lld",
	       (long long)uptime);
	METRIC("destinations", "gauge", "Destinations, configured or not.", "%lld",
	       (long long)dc.all);
	METRIC("destinations_configured", "gauge",
	       "Destinations with every required setting.", "%lld",
	       (long long)dc.configured);
	METRIC("destinations_active", "gauge",
	       "Configured destinations that are not paused.", "%lld",
	       (long long)dc.active);
	METRIC("destinations_paused", "gauge", "Paused destinations, configured or not.",
	       "%lld", (long long)dc.paused);
	METRIC("destinations_unconfigured", "gauge",
	       "Destinations missing a required setting.", "%lld",
	       (long long)dc.unconfigured);
	METRIC("queue_depth", "gauge", "Versions waiting for or in upload.", "%lld",
	       (long long)(t.pending + t.uploading));
	METRIC("uploads_failed_pending_retry", "gauge", "Versions marked failed.", "%lld",
	       (long long)t.failed);
	METRIC("uploads_total", "counter", "Versions uploaded.", "%lld",
	       (long long)t.uploads_ok);
	METRIC("upload_failures_total", "counter", "Versions that failed to upload.",
	       "%lld", (long long)t.uploads_failed);
	METRIC("uploaded_bytes_total", "counter", "Bytes uploaded.", "%llu",
	       (unsigned long long)t.bytes_uploaded);
	METRIC("runs_active", "gauge", "Runs not finished.", "%lld",
	       (long long)t.runs_active);
	METRIC("runs_total", "counter", "Runs finished.", "%lld", (long long)t.runs_done);
	METRIC("cache_bytes", "gauge", "Bytes in the cache.", "%llu",
	       (unsigned long long)cache_bytes);
#undef METRIC
	return 0;
}
