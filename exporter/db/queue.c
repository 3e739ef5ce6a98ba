/*
 * queue: the upload queue and ledger tables (see queue.h).
 *
 * Threads: every function takes st->lock for one transaction, like
 * state.c, whose connection and helpers it shares through state_db.h.
 */
#include "queue.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "state_i.h"

/* 1 when the ledger has this version (its etag and time into out, if given), else 0. */
static int ledger_has(struct state *st, int64_t dest_id, const char *bucket,
		      const char *object_key, const char *sha256,
		      struct queue_file_state *out)
{
	sqlite3_stmt *s = state_prepare(st, "SELECT etag, uploaded_at FROM ledger WHERE "
					    "dest_id = ?1 AND bucket = ?2 AND object_key = ?3 "
					    "AND sha256 = ?4");
	int ret;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, dest_id);
	state_bind_text(s, 2, bucket);
	state_bind_text(s, 3, object_key);
	state_bind_text(s, 4, sha256);
	int rc = sqlite3_step(s);
	ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : state_errno(st, rc, "read ledger");
	if (ret == 1 && out) {
		snprintf(out->state, sizeof(out->state), "uploaded");
		state_column_text(s, 0, out->etag, sizeof(out->etag));
		out->uploaded_at = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return ret;
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
	sqlite3_stmt *s = state_prepare(st, "DELETE FROM uploads WHERE dest_id = ?1 AND "
					    "key = ?2 AND sha256 != ?3 AND state IN ('pending', "
					    "'failed') RETURNING attempts");
	int uncertain = 0, rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, n->dest_id);
	state_bind_text(s, 2, n->key);
	state_bind_text(s, 3, n->sha256);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		uncertain |= sqlite3_column_int(s, 0) > 0;
	int ret = rc == SQLITE_DONE ? 0 : state_errno(st, rc, "supersede uploads");
	sqlite3_finalize(s);
	if (ret)
		return ret;
	s = state_prepare(st, "SELECT 1 FROM uploads WHERE dest_id = ?1 AND key = ?2 AND "
			      "sha256 != ?3 AND state = 'uploading'");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, n->dest_id);
	state_bind_text(s, 2, n->key);
	state_bind_text(s, 3, n->sha256);
	rc = sqlite3_step(s);
	ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? uncertain : state_errno(st, rc,
										"read uploads");
	sqlite3_finalize(s);
	return ret;
}

/*
 * Deletes row id when its key has a newer row: a version that did not go
 * out before a newer one was queued is not worth another attempt, and
 * uploading it later would put older bytes over newer ones.  1 when
 * deleted, 0 when not, or a negative errno.
 */
static int drop_superseded(struct state *st, int64_t id)
{
	sqlite3_stmt *s = state_prepare(st, "DELETE FROM uploads WHERE id = ?1 AND EXISTS "
					    "(SELECT 1 FROM uploads n WHERE n.dest_id = "
					    "uploads.dest_id AND n.key = uploads.key AND "
					    "n.id > uploads.id)");
	if (s)
		sqlite3_bind_int64(s, 1, id);
	int ret = state_step_once(st, s, "drop superseded upload");
	return ret ? ret : sqlite3_changes(st->db) > 0;
}

int queue_enqueue(struct state *st, const struct queue_new *n, int *queued)
{
	sqlite3_stmt *s = NULL;
	int ret;

	*queued = 0;
	pthread_mutex_lock(&st->lock);
	ret = state_exec(st, "BEGIN IMMEDIATE");
	if (ret)
		goto out;
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
	if (ret != 0)
		goto end;
	/* Already queued (pending, uploading or failed) with the same bytes? */
	s = state_prepare(st, "SELECT id, manual FROM uploads WHERE dest_id = ?1 AND "
			      "key = ?2 AND sha256 = ?3 AND state != 'uploaded'");
	if (!s) {
		ret = -EIO;
		goto end;
	}
	sqlite3_bind_int64(s, 1, n->dest_id);
	state_bind_text(s, 2, n->key);
	state_bind_text(s, 3, n->sha256);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		int manual = sqlite3_column_int(s, 1);
		sqlite3_finalize(s);
		s = NULL;
		ret = 0;
		if (n->run_id || (n->manual && !manual)) {
			/*
			 * A manual run claims it: it may now upload while paused.
			 * A run also adopts a row no unfinished run waits for (a
			 * failed upload retried, one a read queued), so that its
			 * result waits for that upload instead of saying ok.
			 */
			s = state_prepare(
				st, "UPDATE uploads SET manual = MAX(manual, ?3), run_id = "
				    "CASE WHEN ?2 = 0 THEN run_id "
				    "WHEN ?3 = 1 AND manual = 0 THEN ?2 "
				    "WHEN run_id IS NULL OR NOT EXISTS (SELECT 1 FROM runs r "
				    "WHERE r.id = uploads.run_id AND r.status != 'done') THEN ?2 "
				    "ELSE run_id END WHERE id = ?1");
			if (s) {
				sqlite3_bind_int64(s, 1, id);
				sqlite3_bind_int64(s, 2, n->run_id);
				sqlite3_bind_int(s, 3, n->manual);
			}
			ret = state_step_once(st, s, "update upload");
			s = NULL;
		}
		goto end;
	}
	sqlite3_finalize(s);
	s = NULL;
	if (rc != SQLITE_DONE) {
		ret = state_errno(st, rc, "read uploads");
		goto end;
	}
	/* Older versions of this key that have not gone out yet are superseded. */
	s = state_prepare(st, "DELETE FROM uploads WHERE dest_id = ?1 AND key = ?2 AND "
			      "state IN ('pending', 'failed', 'uploaded')");
	if (s) {
		sqlite3_bind_int64(s, 1, n->dest_id);
		state_bind_text(s, 2, n->key);
	}
	ret = state_step_once(st, s, "supersede uploads");
	s = NULL;
	if (ret)
		goto end;
	s = state_prepare(st, "INSERT INTO uploads(dest_id, key, sha256, size, content_type, "
			      "manual, run_id, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
			      "?7, ?8)");
	if (s) {
		sqlite3_bind_int64(s, 1, n->dest_id);
		state_bind_text(s, 2, n->key);
		state_bind_text(s, 3, n->sha256);
		sqlite3_bind_int64(s, 4, (int64_t)n->size);
		state_bind_text(s, 5, n->content_type);
		sqlite3_bind_int(s, 6, n->manual);
		if (n->run_id)
			sqlite3_bind_int64(s, 7, n->run_id);
		sqlite3_bind_int64(s, 8, n->now);
	}
	ret = state_step_once(st, s, "queue upload");
	s = NULL;
	if (!ret)
		*queued = 1;
end:
	/* ret > 0: already in the ledger, nothing to write. */
	ret = state_end(st, ret < 0 ? ret : 0);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int queue_claim(struct state *st, int64_t now_ms, struct queue_item *it)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(
		st, "UPDATE uploads SET state = 'uploading', attempts = attempts + 1 "
		    "WHERE id = (SELECT u.id FROM uploads u JOIN destinations d "
		    "ON d.id = u.dest_id WHERE u.state = 'pending' AND "
		    "u.next_attempt_at <= ?1 AND (d.paused = 0 OR u.manual = 1) "
		    /* One upload of a key at a time: two could land in either order. */
		    "AND NOT EXISTS (SELECT 1 FROM uploads o WHERE o.dest_id = u.dest_id "
		    "AND o.key = u.key AND o.state = 'uploading') "
		    "ORDER BY u.id LIMIT 1) "
		    "RETURNING id, dest_id, key, sha256, size, content_type, attempts, "
		    "manual, run_id");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, now_ms);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		it->id = sqlite3_column_int64(s, 0);
		it->dest_id = sqlite3_column_int64(s, 1);
		state_column_text(s, 2, it->key, sizeof(it->key));
		state_column_text(s, 3, it->sha256, sizeof(it->sha256));
		it->size = (uint64_t)sqlite3_column_int64(s, 4);
		state_column_text(s, 5, it->content_type, sizeof(it->content_type));
		it->attempts = sqlite3_column_int(s, 6);
		it->manual = sqlite3_column_int(s, 7);
		it->run_id = sqlite3_column_int64(s, 8);
		/* RETURNING rows are written when the statement completes. */
		rc = sqlite3_step(s);
		ret = rc == SQLITE_DONE ? 0 : state_errno(st, rc, "claim upload");
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT : state_errno(st, rc, "claim upload");
	}
	sqlite3_finalize(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int queue_in_ledger(struct state *st, int64_t dest_id, const char *bucket,
		    const char *object_key, const char *sha256, struct queue_file_state *out)
{
	pthread_mutex_lock(&st->lock);
	int ret = ledger_has(st, dest_id, bucket, object_key, sha256, out);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int queue_done(struct state *st, const struct queue_item *it, const char *bucket,
	       const char *object_key, const char *etag, int64_t now)
{
	sqlite3_stmt *s;
	int ret;

	pthread_mutex_lock(&st->lock);
	ret = state_exec(st, "BEGIN IMMEDIATE");
	if (ret)
		goto out;
	s = state_prepare(st, "UPDATE uploads SET state = 'uploaded', finished_at = ?2, "
			      "bucket = ?3, object_key = ?4, etag = ?5, error = NULL "
			      "WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, it->id);
		sqlite3_bind_int64(s, 2, now);
		state_bind_text(s, 3, bucket);
		state_bind_text(s, 4, object_key);
		state_bind_text(s, 5, etag);
	}
	ret = state_step_once(st, s, "record upload");
	if (ret)
		goto end;
	s = state_prepare(st, "INSERT OR REPLACE INTO ledger(dest_id, bucket, object_key, "
			      "sha256, etag, uploaded_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
	if (s) {
		sqlite3_bind_int64(s, 1, it->dest_id);
		state_bind_text(s, 2, bucket);
		state_bind_text(s, 3, object_key);
		state_bind_text(s, 4, it->sha256);
		state_bind_text(s, 5, etag);
		sqlite3_bind_int64(s, 6, now);
	}
	ret = state_step_once(st, s, "record ledger");
	if (ret)
		goto end;
	s = state_prepare(st, "UPDATE destinations SET uploads_ok = uploads_ok + 1, "
			      "bytes_uploaded = bytes_uploaded + ?2, last_upload_at = ?3, "
			      "sync_error = NULL, sync_error_at = NULL WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, it->dest_id);
		sqlite3_bind_int64(s, 2, (int64_t)it->size);
		sqlite3_bind_int64(s, 3, now);
	}
	ret = state_step_once(st, s, "count upload");
end:
	ret = state_end(st, ret);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

/* The destination's last sync error for .status; failed counts a lost version. */
static int record_error(struct state *st, int64_t dest_id, const char *status_text,
			int64_t now, int failed)
{
	sqlite3_stmt *s = state_prepare(st, "UPDATE destinations SET uploads_failed = "
					    "uploads_failed + ?4, sync_error = ?2, "
					    "sync_error_at = ?3 WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, dest_id);
		state_bind_text(s, 2, status_text);
		sqlite3_bind_int64(s, 3, now);
		sqlite3_bind_int(s, 4, failed);
	}
	return state_step_once(st, s, "record error");
}

int queue_retry(struct state *st, const struct queue_item *it, int64_t next_at_ms,
		const char *error, const char *status_text, int64_t now)
{
	sqlite3_stmt *s;
	int ret;

	pthread_mutex_lock(&st->lock);
	ret = state_exec(st, "BEGIN IMMEDIATE");
	if (ret)
		goto out;
	ret = drop_superseded(st, it->id);
	if (ret == 0) {
		s = state_prepare(st, "UPDATE uploads SET state = 'pending', "
				      "next_attempt_at = ?2, error = ?3 WHERE id = ?1");
		if (s) {
			sqlite3_bind_int64(s, 1, it->id);
			sqlite3_bind_int64(s, 2, next_at_ms);
			state_bind_text(s, 3, error);
		}
		ret = state_step_once(st, s, "reschedule upload");
	}
	if (ret < 0)
		goto end;
	/*
	 * The destination's other pending rows wait as long: a store that is
	 * down or throttling is probed by one version at a time, oldest first,
	 * instead of by every queued version in turn as fast as the workers go.
	 */
	s = state_prepare(st, "UPDATE uploads SET next_attempt_at = ?2 WHERE dest_id = ?1 "
			      "AND state = 'pending' AND next_attempt_at < ?2");
	if (s) {
		sqlite3_bind_int64(s, 1, it->dest_id);
		sqlite3_bind_int64(s, 2, next_at_ms);
	}
	ret = state_step_once(st, s, "hold back uploads");
	if (!ret)
		ret = record_error(st, it->dest_id, status_text, now, 0);
end:
	ret = state_end(st, ret);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int queue_fail(struct state *st, const struct queue_item *it, int64_t now,
	       const char *error, const char *status_text)
{
	sqlite3_stmt *s;
	int ret, dropped;

	pthread_mutex_lock(&st->lock);
	ret = state_exec(st, "BEGIN IMMEDIATE");
	if (ret)
		goto out;
	/* A superseded version is not a lost one: the newer one still goes out. */
	dropped = ret = drop_superseded(st, it->id);
	if (ret == 0) {
		s = state_prepare(st, "UPDATE uploads SET state = 'failed', finished_at = ?2, "
				      "error = ?3 WHERE id = ?1");
		if (s) {
			sqlite3_bind_int64(s, 1, it->id);
			sqlite3_bind_int64(s, 2, now);
			state_bind_text(s, 3, error);
		}
		ret = state_step_once(st, s, "record failure");
	}
	if (ret >= 0)
		ret = record_error(st, it->dest_id, status_text, now, dropped ? 0 : 1);
	ret = state_end(st, ret);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int queue_release(struct state *st, int64_t id)
{
	pthread_mutex_lock(&st->lock);
	int ret = drop_superseded(st, id);
	if (ret == 0) {
		sqlite3_stmt *s = state_prepare(st, "UPDATE uploads SET state = 'pending', "
						    "attempts = MAX(attempts - 1, 0) WHERE id = ?1 "
						    "AND state = 'uploading'");
		if (s)
			sqlite3_bind_int64(s, 1, id);
		ret = state_step_once(st, s, "release upload");
	}
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
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "UPDATE uploads SET state = 'pending', "
					    "attempts = 0, next_attempt_at = 0 WHERE "
					    "state = 'failed' AND (?1 = 0 OR dest_id = ?1)");
	if (s)
		sqlite3_bind_int64(s, 1, dest_id);
	int ret = state_step_once(st, s, "retry failed uploads");
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int queue_needs(struct state *st, const char *sha256)
{
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT 1 FROM uploads WHERE sha256 = ?1 AND "
					    "state != 'uploaded' LIMIT 1");
	int ret = -EIO;
	if (s) {
		state_bind_text(s, 1, sha256);
		int rc = sqlite3_step(s);
		ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : state_errno(st, rc, "read");
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int queue_next_due(struct state *st, int64_t *at_ms)
{
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT MIN(next_attempt_at) FROM uploads "
					    "WHERE state = 'pending'");
	int ret = -EIO;
	if (s) {
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
			*at_ms = sqlite3_column_int64(s, 0);
			ret = 0;
		} else {
			ret = rc == SQLITE_ROW ? -ENOENT : state_errno(st, rc, "read");
		}
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int queue_counts(struct state *st, int64_t dest_id, int64_t now_ms,
		 struct queue_counts *c)
{
	int ret = -EIO;

	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(
		st, "SELECT "
		    "(SELECT COUNT(*) FROM uploads WHERE dest_id = ?1 AND state = 'pending'),"
		    "(SELECT COUNT(*) FROM uploads WHERE dest_id = ?1 AND state = 'pending' "
		    " AND next_attempt_at <= ?2),"
		    "(SELECT COUNT(*) FROM uploads WHERE dest_id = ?1 AND state = 'uploading'),"
		    "(SELECT COUNT(*) FROM uploads WHERE dest_id = ?1 AND state = 'failed'),"
		    "uploads_ok, uploads_failed, bytes_uploaded, last_upload_at "
		    "FROM destinations WHERE id = ?1");
	if (!s)
		goto out;
	sqlite3_bind_int64(s, 1, dest_id);
	sqlite3_bind_int64(s, 2, now_ms);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		c->pending = sqlite3_column_int64(s, 0);
		c->pending_now = sqlite3_column_int64(s, 1);
		c->uploading = sqlite3_column_int64(s, 2);
		c->failed = sqlite3_column_int64(s, 3);
		c->uploads_ok = sqlite3_column_int64(s, 4);
		c->uploads_failed = sqlite3_column_int64(s, 5);
		c->bytes_uploaded = (uint64_t)sqlite3_column_int64(s, 6);
		c->last_upload_at = sqlite3_column_int64(s, 7);
		ret = 0;
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT : state_errno(st, rc, "count uploads");
	}
	sqlite3_finalize(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int queue_last_error(struct state *st, int64_t dest_id, struct buf *text, int64_t *at)
{
	int ret = -EIO;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT sync_error, sync_error_at FROM "
					    "destinations WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, dest_id);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			const char *v = (const char *)sqlite3_column_text(s, 0);
			if (v)
				buf_adds(text, v);
			*at = sqlite3_column_int64(s, 1);
			ret = 0;
		} else {
			ret = rc == SQLITE_DONE ? -ENOENT : state_errno(st, rc, "read");
		}
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int queue_lookup(struct state *st, int64_t dest_id, const char *key, const char *sha256,
		 struct queue_file_state *out)
{
	int ret = -EIO;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT state, etag, finished_at FROM uploads "
					    "WHERE dest_id = ?1 AND key = ?2 AND sha256 = ?3 "
					    "ORDER BY id DESC LIMIT 1");
	if (s) {
		sqlite3_bind_int64(s, 1, dest_id);
		state_bind_text(s, 2, key);
		state_bind_text(s, 3, sha256);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			state_column_text(s, 0, out->state, sizeof(out->state));
			state_column_text(s, 1, out->etag, sizeof(out->etag));
			out->uploaded_at = sqlite3_column_int64(s, 2);
			ret = 0;
		} else {
			ret = rc == SQLITE_DONE ? -ENOENT : state_errno(st, rc, "read upload");
		}
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->lock);
	return ret;
}
