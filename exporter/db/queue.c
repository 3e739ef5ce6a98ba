/*
 * queue: the upload queue and ledger tables (see queue.h).
 *
 * Threads: every function takes st->lock for one transaction, like
 * state.c, whose connection and call skeleton (state_query, state_tx) it
 * shares through state_i.h.
 */
#include "queue.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "state_i.h"

static int read_ledger(void *ctx, sqlite3_stmt *s)
{
	struct queue_file_state *out = ctx;

	if (out) {
		snprintf(out->state, sizeof(out->state), "uploaded");
		state_column_text(s, 0, out->etag, sizeof(out->etag));
		out->uploaded_at = sqlite3_column_int64(s, 1);
	}
	return 1;
}

/* 1 when the ledger has this version (its etag and time into out, if given), else 0. */
static int ledger_has(struct state *st, int64_t dest_id, const char *bucket,
		      const char *object_key, const char *sha256,
		      struct queue_file_state *out)
{
	int ret = state_run(st, STATE_FIRST, "read ledger",
			    "SELECT etag, uploaded_at FROM ledger WHERE dest_id = ?1 AND "
			    "bucket = ?2 AND object_key = ?3 AND sha256 = ?4", read_ledger, out,
			    STATE_ARGS(STATE_INT(dest_id), STATE_TEXT(bucket),
				       STATE_TEXT(object_key), STATE_TEXT(sha256)));

	return ret == -ENOENT ? 0 : ret;
}

static int any_tried(void *ctx, sqlite3_stmt *s)
{
	int *uncertain = ctx;

	*uncertain |= sqlite3_column_int(s, 0) > 0;
	return 0;
}

static int yes(void *ctx, sqlite3_stmt *s)
{
	(void)ctx;
	(void)s;
	return 1;
}

/*
 * Supersedes the key's other versions still waiting (pending or failed):
 * the version given is the newest.  Returns 1 when the bucket may hold
 * another version than the ledger says: one is uploading now (it would
 * land over this one), or one of those superseded was tried and may have
 * landed all the same (the store stored it, its answer was lost); else 0,
 * or a negative errno.
 */
static int supersede_others(struct state *st, const struct queue_new *n)
{
	int uncertain = 0;
	int ret = state_run(st, 0, "supersede uploads",
			    "DELETE FROM uploads WHERE dest_id = ?1 AND key = ?2 AND "
			    "sha256 != ?3 AND state IN ('pending', 'failed') RETURNING attempts",
			    any_tried, &uncertain,
			    STATE_ARGS(STATE_INT(n->dest_id), STATE_TEXT(n->key),
				       STATE_TEXT(n->sha256)));

	if (ret)
		return ret;
	ret = state_run(st, STATE_FIRST, "read uploads",
			"SELECT 1 FROM uploads WHERE dest_id = ?1 AND key = ?2 AND "
			"sha256 != ?3 AND state = 'uploading'", yes, NULL,
			STATE_ARGS(STATE_INT(n->dest_id), STATE_TEXT(n->key),
				   STATE_TEXT(n->sha256)));
	return ret == -ENOENT ? uncertain : ret;
}

/*
 * Deletes row id when its key has a newer row: a version that did not go
 * out before a newer one was queued is not worth another attempt, and
 * uploading it later would put older bytes over newer ones.  1 when
 * deleted, 0 when not, or a negative errno.
 */
static int drop_superseded(struct state *st, int64_t id)
{
	int ret = state_run(st, 0, "drop superseded upload",
			    "DELETE FROM uploads WHERE id = ?1 AND EXISTS (SELECT 1 FROM "
			    "uploads n WHERE n.dest_id = uploads.dest_id AND n.key = "
			    "uploads.key AND n.id > uploads.id)", NULL, NULL,
			    STATE_ARGS(STATE_INT(id)));

	return ret ? ret : sqlite3_changes(st->db) > 0;
}

struct queued_row {
	int64_t id;
	int manual;
};

static int read_queued(void *ctx, sqlite3_stmt *s)
{
	struct queued_row *q = ctx;

	q->id = sqlite3_column_int64(s, 0);
	q->manual = sqlite3_column_int(s, 1);
	return 0;
}

struct enqueue {
	const struct queue_new *n;
	int *queued;
};

static int enqueue(struct state *st, void *ctx)
{
	const struct enqueue *e = ctx;
	const struct queue_new *n = e->n;
	struct queued_row q;
	int ret;

	/*
	 * Other bytes still waiting to go out are stale, even when this
	 * version need not go out (the source changed back to bytes the
	 * bucket has); the ledger has the last word only when no other
	 * version may have landed since.
	 */
	ret = supersede_others(st, n);
	if (ret == 0)
		ret = ledger_has(st, n->dest_id, n->bucket, n->object_key, n->sha256, NULL);
	else if (ret == 1)
		ret = 0;
	/* ret > 0: already in the ledger, nothing to write (but commit the above). */
	if (ret != 0)
		return ret < 0 ? ret : 0;
	/* Already queued (pending, uploading or failed) with the same bytes? */
	ret = state_run(st, STATE_FIRST, "read uploads",
			"SELECT id, manual FROM uploads WHERE dest_id = ?1 AND key = ?2 "
			"AND sha256 = ?3 AND state != 'uploaded'", read_queued, &q,
			STATE_ARGS(STATE_INT(n->dest_id), STATE_TEXT(n->key),
				   STATE_TEXT(n->sha256)));
	if (ret == 0) {
		if (!n->run_id && !(n->manual && !q.manual))
			return 0;
		/*
		 * A manual run claims it: it may now upload while paused.
		 * A run also adopts a row no unfinished run waits for (a
		 * failed upload retried, one a read queued), so that its
		 * result waits for that upload instead of saying ok.
		 */
		return state_run(st, 0, "update upload",
				 "UPDATE uploads SET manual = MAX(manual, ?3), run_id = "
				 "CASE WHEN ?2 = 0 THEN run_id "
				 "WHEN ?3 = 1 AND manual = 0 THEN ?2 "
				 "WHEN run_id IS NULL OR NOT EXISTS (SELECT 1 FROM runs r "
				 "WHERE r.id = uploads.run_id AND r.status != 'done') THEN ?2 "
				 "ELSE run_id END WHERE id = ?1", NULL, NULL,
				 STATE_ARGS(STATE_INT(q.id), STATE_INT(n->run_id),
					    STATE_INT(n->manual)));
	}
	if (ret != -ENOENT)
		return ret;
	/* Older versions of this key that have not gone out yet are superseded. */
	ret = state_run(st, 0, "supersede uploads",
			"DELETE FROM uploads WHERE dest_id = ?1 AND key = ?2 AND "
			"state IN ('pending', 'failed', 'uploaded')", NULL, NULL,
			STATE_ARGS(STATE_INT(n->dest_id), STATE_TEXT(n->key)));
	if (ret)
		return ret;
	ret = state_run(st, 0, "queue upload",
			"INSERT INTO uploads(dest_id, key, sha256, size, content_type, "
			"manual, run_id, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
			NULL, NULL,
			STATE_ARGS(STATE_INT(n->dest_id), STATE_TEXT(n->key),
				   STATE_TEXT(n->sha256), STATE_INT(n->size),
				   STATE_TEXT(n->content_type), STATE_INT(n->manual),
				   n->run_id ? STATE_INT(n->run_id) : STATE_NULL,
				   STATE_INT(n->now)));
	if (!ret)
		*e->queued = 1;
	return ret;
}

int queue_enqueue(struct state *st, const struct queue_new *n, int *queued)
{
	struct enqueue e = {n, queued};

	*queued = 0;
	return state_tx(st, enqueue, &e);
}

struct claimed {
	struct queue_item *it;
	int found;
};

static int read_claimed(void *ctx, sqlite3_stmt *s)
{
	struct claimed *c = ctx;
	struct queue_item *it = c->it;

	it->id = sqlite3_column_int64(s, 0);
	it->dest_id = sqlite3_column_int64(s, 1);
	state_column_text(s, 2, it->key, sizeof(it->key));
	state_column_text(s, 3, it->sha256, sizeof(it->sha256));
	it->size = (uint64_t)sqlite3_column_int64(s, 4);
	state_column_text(s, 5, it->content_type, sizeof(it->content_type));
	it->attempts = sqlite3_column_int(s, 6);
	it->manual = sqlite3_column_int(s, 7);
	it->run_id = sqlite3_column_int64(s, 8);
	c->found = 1;
	return 0;
}

int queue_claim(struct state *st, int64_t now_ms, struct queue_item *it)
{
	struct claimed c = {it, 0};
	/* RETURNING rows are written when the statement completes: run it to its end. */
	int ret = state_query(
		st, 0, "claim upload",
		"UPDATE uploads SET state = 'uploading', attempts = attempts + 1 "
		"WHERE id = (SELECT u.id FROM uploads u JOIN destinations d "
		"ON d.id = u.dest_id WHERE u.state = 'pending' AND "
		"u.next_attempt_at <= ?1 AND (d.paused = 0 OR u.manual = 1) "
		/* One upload of a key at a time: two could land in either order. */
		"AND NOT EXISTS (SELECT 1 FROM uploads o WHERE o.dest_id = u.dest_id "
		"AND o.key = u.key AND o.state = 'uploading') "
		"ORDER BY u.id LIMIT 1) "
		"RETURNING id, dest_id, key, sha256, size, content_type, attempts, "
		"manual, run_id", read_claimed, &c, STATE_ARGS(STATE_INT(now_ms)));

	return ret ? ret : c.found ? 0 : -ENOENT;
}

int queue_in_ledger(struct state *st, int64_t dest_id, const char *bucket,
		    const char *object_key, const char *sha256, struct queue_file_state *out)
{
	pthread_mutex_lock(&st->lock);
	int ret = ledger_has(st, dest_id, bucket, object_key, sha256, out);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

struct outcome {
	const struct queue_item *it;
	const char *bucket, *object_key, *etag;
	int64_t now, next_at_ms;
	const char *error, *status_text;
};

static int record_done(struct state *st, void *ctx)
{
	const struct outcome *o = ctx;
	int ret = state_run(st, 0, "record upload",
			    "UPDATE uploads SET state = 'uploaded', finished_at = ?2, "
			    "bucket = ?3, object_key = ?4, etag = ?5, error = NULL "
			    "WHERE id = ?1", NULL, NULL,
			    STATE_ARGS(STATE_INT(o->it->id), STATE_INT(o->now),
				       STATE_TEXT(o->bucket), STATE_TEXT(o->object_key),
				       STATE_TEXT(o->etag)));

	if (!ret)
		ret = state_run(st, 0, "record ledger",
				"INSERT OR REPLACE INTO ledger(dest_id, bucket, object_key, "
				"sha256, etag, uploaded_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
				NULL, NULL,
				STATE_ARGS(STATE_INT(o->it->dest_id), STATE_TEXT(o->bucket),
					   STATE_TEXT(o->object_key), STATE_TEXT(o->it->sha256),
					   STATE_TEXT(o->etag), STATE_INT(o->now)));
	if (!ret)
		ret = state_run(st, 0, "count upload",
				"UPDATE destinations SET uploads_ok = uploads_ok + 1, "
				"bytes_uploaded = bytes_uploaded + ?2, last_upload_at = ?3, "
				"sync_error = NULL, sync_error_at = NULL WHERE id = ?1",
				NULL, NULL,
				STATE_ARGS(STATE_INT(o->it->dest_id), STATE_INT(o->it->size),
					   STATE_INT(o->now)));
	return ret;
}

int queue_done(struct state *st, const struct queue_item *it, const char *bucket,
	       const char *object_key, const char *etag, int64_t now)
{
	struct outcome o = {.it = it, .bucket = bucket, .object_key = object_key,
			    .etag = etag, .now = now};

	return state_tx(st, record_done, &o);
}

/* The destination's last sync error for .status; failed counts a lost version. */
static int record_error(struct state *st, int64_t dest_id, const char *status_text,
			int64_t now, int failed)
{
	return state_run(st, 0, "record error",
			 "UPDATE destinations SET uploads_failed = uploads_failed + ?4, "
			 "sync_error = ?2, sync_error_at = ?3 WHERE id = ?1", NULL, NULL,
			 STATE_ARGS(STATE_INT(dest_id), STATE_TEXT(status_text),
				    STATE_INT(now), STATE_INT(failed)));
}

static int record_retry(struct state *st, void *ctx)
{
	const struct outcome *o = ctx;
	int ret = drop_superseded(st, o->it->id);

	if (ret == 0)
		ret = state_run(st, 0, "reschedule upload",
				"UPDATE uploads SET state = 'pending', next_attempt_at = ?2, "
				"error = ?3 WHERE id = ?1", NULL, NULL,
				STATE_ARGS(STATE_INT(o->it->id), STATE_INT(o->next_at_ms),
					   STATE_TEXT(o->error)));
	if (ret < 0)
		return ret;
	/*
	 * The destination's other pending rows wait as long: a store that is
	 * down or throttling is probed by one version at a time, oldest first,
	 * instead of by every queued version in turn as fast as the workers go.
	 */
	ret = state_run(st, 0, "hold back uploads",
			"UPDATE uploads SET next_attempt_at = ?2 WHERE dest_id = ?1 "
			"AND state = 'pending' AND next_attempt_at < ?2", NULL, NULL,
			STATE_ARGS(STATE_INT(o->it->dest_id), STATE_INT(o->next_at_ms)));
	if (!ret)
		ret = record_error(st, o->it->dest_id, o->status_text, o->now, 0);
	return ret;
}

int queue_retry(struct state *st, const struct queue_item *it, int64_t next_at_ms,
		const char *error, const char *status_text, int64_t now)
{
	struct outcome o = {.it = it, .next_at_ms = next_at_ms, .error = error,
			    .status_text = status_text, .now = now};

	return state_tx(st, record_retry, &o);
}

static int record_failure(struct state *st, void *ctx)
{
	const struct outcome *o = ctx;
	/* A superseded version is not a lost one: the newer one still goes out. */
	int dropped = drop_superseded(st, o->it->id);
	int ret = dropped;

	if (ret == 0)
		ret = state_run(st, 0, "record failure",
				"UPDATE uploads SET state = 'failed', finished_at = ?2, "
				"error = ?3 WHERE id = ?1", NULL, NULL,
				STATE_ARGS(STATE_INT(o->it->id), STATE_INT(o->now),
					   STATE_TEXT(o->error)));
	if (ret >= 0)
		ret = record_error(st, o->it->dest_id, o->status_text, o->now,
				   dropped ? 0 : 1);
	return ret;
}

int queue_fail(struct state *st, const struct queue_item *it, int64_t now,
	       const char *error, const char *status_text)
{
	struct outcome o = {.it = it, .now = now, .error = error,
			    .status_text = status_text};

	return state_tx(st, record_failure, &o);
}

int queue_release(struct state *st, int64_t id)
{
	pthread_mutex_lock(&st->lock);
	int ret = drop_superseded(st, id);
	if (ret == 0)
		ret = state_run(st, 0, "release upload",
				"UPDATE uploads SET state = 'pending', attempts = "
				"MAX(attempts - 1, 0) WHERE id = ?1 AND state = 'uploading'",
				NULL, NULL, STATE_ARGS(STATE_INT(id)));
	pthread_mutex_unlock(&st->lock);
	return ret < 0 ? ret : 0;
}

int queue_recover(struct state *st)
{
	pthread_mutex_lock(&st->lock);
	int ret = state_exec(st, "UPDATE uploads SET state = 'pending' "
				 "WHERE state = 'uploading'");
	int n = sqlite3_changes(st->db);
	pthread_mutex_unlock(&st->lock);
	if (!ret && n)
		log_info("resuming %d upload(s) interrupted by the last shutdown", n);
	return ret;
}

int queue_retry_failed(struct state *st, int64_t dest_id)
{
	return state_query(st, 0, "retry failed uploads",
			   "UPDATE uploads SET state = 'pending', attempts = 0, "
			   "next_attempt_at = 0 WHERE state = 'failed' AND "
			   "(?1 = 0 OR dest_id = ?1)", NULL, NULL,
			   STATE_ARGS(STATE_INT(dest_id)));
}

int queue_needs(struct state *st, const char *sha256)
{
	int ret = state_query(st, STATE_FIRST, "read",
			      "SELECT 1 FROM uploads WHERE sha256 = ?1 AND "
			      "state != 'uploaded' LIMIT 1", yes, NULL,
			      STATE_ARGS(STATE_TEXT(sha256)));

	return ret == -ENOENT ? 0 : ret;
}

static int read_due(void *ctx, sqlite3_stmt *s)
{
	if (sqlite3_column_type(s, 0) == SQLITE_NULL)
		return -ENOENT;
	*(int64_t *)ctx = sqlite3_column_int64(s, 0);
	return 0;
}

int queue_next_due(struct state *st, int64_t *at_ms)
{
	return state_query(st, STATE_FIRST, "read",
			   "SELECT MIN(next_attempt_at) FROM uploads WHERE state = 'pending'",
			   read_due, at_ms, STATE_NO_ARGS);
}

static int read_counts(void *ctx, sqlite3_stmt *s)
{
	struct queue_counts *c = ctx;

	c->pending = sqlite3_column_int64(s, 0);
	c->pending_now = sqlite3_column_int64(s, 1);
	c->uploading = sqlite3_column_int64(s, 2);
	c->failed = sqlite3_column_int64(s, 3);
	c->uploads_ok = sqlite3_column_int64(s, 4);
	c->uploads_failed = sqlite3_column_int64(s, 5);
	c->bytes_uploaded = (uint64_t)sqlite3_column_int64(s, 6);
	c->last_upload_at = sqlite3_column_int64(s, 7);
	return 0;
}

int queue_counts(struct state *st, int64_t dest_id, int64_t now_ms,
		 struct queue_counts *c)
{
	memset(c, 0, sizeof(*c));
	return state_query(
		st, STATE_FIRST, "count uploads",
		"SELECT "
		"(SELECT COUNT(*) FROM uploads WHERE dest_id = ?1 AND state = 'pending'),"
		"(SELECT COUNT(*) FROM uploads WHERE dest_id = ?1 AND state = 'pending' "
		" AND next_attempt_at <= ?2),"
		"(SELECT COUNT(*) FROM uploads WHERE dest_id = ?1 AND state = 'uploading'),"
		"(SELECT COUNT(*) FROM uploads WHERE dest_id = ?1 AND state = 'failed'),"
		"uploads_ok, uploads_failed, bytes_uploaded, last_upload_at "
		"FROM destinations WHERE id = ?1", read_counts, c,
		STATE_ARGS(STATE_INT(dest_id), STATE_INT(now_ms)));
}

int queue_last_error(struct state *st, int64_t dest_id, struct buf *text, int64_t *at)
{
	struct state_text_at t = {text, at};

	return state_query(st, STATE_FIRST, "read",
			   "SELECT sync_error, sync_error_at FROM destinations WHERE id = ?1",
			   state_row_text_at, &t, STATE_ARGS(STATE_INT(dest_id)));
}

static int read_upload(void *ctx, sqlite3_stmt *s)
{
	struct queue_file_state *out = ctx;

	state_column_text(s, 0, out->state, sizeof(out->state));
	state_column_text(s, 1, out->etag, sizeof(out->etag));
	out->uploaded_at = sqlite3_column_int64(s, 2);
	return 0;
}

int queue_lookup(struct state *st, int64_t dest_id, const char *key, const char *sha256,
		 struct queue_file_state *out)
{
	memset(out, 0, sizeof(*out));
	return state_query(st, STATE_FIRST, "read upload",
			   "SELECT state, etag, finished_at FROM uploads WHERE dest_id = ?1 "
			   "AND key = ?2 AND sha256 = ?3 ORDER BY id DESC LIMIT 1",
			   read_upload, out,
			   STATE_ARGS(STATE_INT(dest_id), STATE_TEXT(key), STATE_TEXT(sha256)));
}
