/*
 * runs: the runs table and destination clocks (see runs.h).
 *
 * Threads: every function takes st->lock for one transaction, sharing
 * state.c's connection and helpers through state_db.h.
 */
#include "runs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/csv.h"
#include "base/log.h"
#include "state_i.h"

int runs_start(struct state *st, const struct runs_new *v, size_t n, int64_t now)
{
	sqlite3_stmt *ins = NULL, *clk = NULL;
	int ret;

	pthread_mutex_lock(&st->lock);
	ret = state_exec(st, "BEGIN IMMEDIATE");
	if (ret)
		goto out;
	ins = state_prepare(st, "INSERT INTO runs(dest_id, trigger, period, first_day, "
				"last_day, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
	clk = state_prepare(st, "UPDATE destinations SET next_run_at = ?2 WHERE id = ?1");
	if (!ins || !clk) {
		ret = state_end(st, -EIO);
		goto out;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		if (v[i].create) {
			sqlite3_reset(ins);
			sqlite3_bind_int64(ins, 1, v[i].dest_id);
			state_bind_text(ins, 2, v[i].trigger);
			state_bind_text(ins, 3, v[i].period);
			sqlite3_bind_int64(ins, 4, v[i].first_day);
			sqlite3_bind_int64(ins, 5, v[i].last_day);
			sqlite3_bind_int64(ins, 6, now);
			ret = state_errno(st, sqlite3_step(ins), "create run");
		}
		if (!ret && v[i].next_run_at) {
			sqlite3_reset(clk);
			sqlite3_bind_int64(clk, 1, v[i].dest_id);
			sqlite3_bind_int64(clk, 2, v[i].next_run_at);
			ret = state_errno(st, sqlite3_step(clk), "move clock");
		}
	}
	ret = state_end(st, ret);
out:
	sqlite3_finalize(ins);
	sqlite3_finalize(clk);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int runs_list_due(struct state *st, int64_t now,
		  int (*fn)(void *ctx, const struct runs_due *d), void *ctx)
{
	int ret = 0, rc;

	pthread_mutex_lock(&st->lock);
	/* destinations_due(paused, next_run_at) makes this one index range. */
	sqlite3_stmt *s = state_prepare(
		st, "SELECT d.id, d.next_run_at, COALESCE(d.last_sched_day, 0), "
		    "COALESCE((SELECT value FROM settings WHERE dest_id = d.id AND "
		    "key = 'schedule'), 'daily') FROM destinations d "
		    "WHERE d.paused = 0 AND d.next_run_at <= ?1 ORDER BY d.next_run_at");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, now);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct runs_due d;
		d.dest_id = sqlite3_column_int64(s, 0);
		d.next_run_at = sqlite3_column_int64(s, 1);
		d.last_sched_day = sqlite3_column_int64(s, 2);
		state_column_text(s, 3, d.schedule, sizeof(d.schedule));
		ret = fn(ctx, &d);
		if (ret)
			break;
	}
	if (!ret)
		ret = state_errno(st, rc, "list due destinations");
	sqlite3_finalize(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int runs_claim(struct state *st, int64_t now, struct runs_item *it)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(
		st, "UPDATE runs SET status = 'running', started_at = ?1 WHERE id = "
		    "(SELECT id FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1) "
		    "RETURNING id, dest_id, trigger, period");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, now);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		it->id = sqlite3_column_int64(s, 0);
		it->dest_id = sqlite3_column_int64(s, 1);
		state_column_text(s, 2, it->trigger, sizeof(it->trigger));
		state_column_text(s, 3, it->period, sizeof(it->period));
		rc = sqlite3_step(s);
		ret = rc == SQLITE_DONE ? 0 : state_errno(st, rc, "claim run");
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT : state_errno(st, rc, "claim run");
	}
	sqlite3_finalize(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int runs_enumerated(struct state *st, int64_t id, int64_t files, uint64_t bytes,
		    int64_t skipped, const char *error, const char *note)
{
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "UPDATE runs SET status = 'uploading', "
					    "files = ?2, bytes = ?3, skipped = ?4, error = ?5, "
					    "note = ?6 WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, files);
		sqlite3_bind_int64(s, 3, (int64_t)bytes);
		sqlite3_bind_int64(s, 4, skipped);
		if (error)
			state_bind_text(s, 5, error);
		if (note)
			state_bind_text(s, 6, note);
	}
	int ret = state_step_once(st, s, "record run");
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int runs_count_enumerating(struct state *st, int64_t dest_id, int64_t *n)
{
	int ret = -EIO;

	*n = 0;
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT COUNT(*) FROM runs WHERE dest_id = ?1 "
					    "AND status IN ('queued', 'running')");
	if (s) {
		sqlite3_bind_int64(s, 1, dest_id);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*n = sqlite3_column_int64(s, 0);
		ret = rc == SQLITE_ROW ? 0 : state_errno(st, rc, "count runs");
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int runs_recover(struct state *st)
{
	pthread_mutex_lock(&st->lock);
	/* Enumeration is idempotent (queueing dedupes): redo interrupted ones. */
	int ret = state_exec(st, "UPDATE runs SET status = 'queued' WHERE status = 'running'");
	pthread_mutex_unlock(&st->lock);
	return ret;
}

/* Copies text (NULL: "") into out, ending it with "..." when it is cut. */
static void cut_copy(char *out, size_t size, const char *text)
{
	size_t n = text ? strlen(text) : 0;

	snprintf(out, size, "%s", text ? text : "");
	if (n >= size && size > 4)
		memcpy(out + size - 4, "...", 4);
}

static int finish_one(struct state *st, sqlite3_stmt *row, int64_t now,
		      unsigned max_failures, struct runs_finished *f)
{
	int64_t id = sqlite3_column_int64(row, 0);
	int64_t dest_id = sqlite3_column_int64(row, 1);
	const char *trigger = (const char *)sqlite3_column_text(row, 2);
	int64_t last_day = sqlite3_column_int64(row, 3);
	int64_t failed = sqlite3_column_int64(row, 5);
	int64_t total = sqlite3_column_int64(row, 6);
	int had_error = sqlite3_column_type(row, 7) != SQLITE_NULL;
	int64_t files = sqlite3_column_int64(row, 8);
	const char *result = "ok";
	int ret;

	/*
	 * failed: every upload the run needed failed, or it exported nothing
	 * because of an error; partial: some failed or an error cut it short.
	 */
	if ((failed && failed == total) || (had_error && !files))
		result = "failed";
	else if (failed || had_error)
		result = "partial";
	sqlite3_stmt *s = state_prepare(
		st, "UPDATE runs SET status = 'done', result = ?2, finished_at = ?3, "
		    "error = COALESCE(error, (SELECT error FROM uploads WHERE run_id = ?1 "
		    "AND state = 'failed' LIMIT 1)) WHERE id = ?1 "
		    "RETURNING COALESCE(error, note), finished_at - COALESCE(started_at, "
		    "created_at)");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	state_bind_text(s, 2, result);
	sqlite3_bind_int64(s, 3, now);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		cut_copy(f->detail, sizeof(f->detail), (const char *)sqlite3_column_text(s, 0));
		f->seconds = sqlite3_column_int64(s, 1);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	ret = state_errno(st, rc, "finish run");
	if (ret)
		return ret;
	int ok = strcmp(result, "ok") == 0;
	int sched = trigger && strcmp(trigger, "schedule") == 0;
	s = state_prepare(
		st, "UPDATE destinations SET failures = CASE WHEN ?2 THEN 0 ELSE failures + 1 "
		    "END, last_sched_day = CASE WHEN ?2 AND ?3 THEN MAX(COALESCE("
		    "last_sched_day, 0), ?4) ELSE last_sched_day END WHERE id = ?1 "
		    "RETURNING failures, paused");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, dest_id);
	sqlite3_bind_int(s, 2, ok);
	sqlite3_bind_int(s, 3, sched);
	sqlite3_bind_int64(s, 4, last_day);
	rc = sqlite3_step(s);
	int failures = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
	int paused = rc == SQLITE_ROW ? sqlite3_column_int(s, 1) : 1;
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return state_errno(st, rc, "count failures");
	f->id = id;
	f->dest_id = dest_id;
	cut_copy(f->dest, sizeof(f->dest), (const char *)sqlite3_column_text(row, 12));
	cut_copy(f->trigger, sizeof(f->trigger), trigger);
	cut_copy(f->period, sizeof(f->period), (const char *)sqlite3_column_text(row, 9));
	f->files = files;
	f->bytes = (uint64_t)sqlite3_column_int64(row, 10);
	f->skipped = sqlite3_column_int64(row, 11);
	snprintf(f->result, sizeof(f->result), "%s", result);
	f->auto_paused = 0;
	if (!ok && max_failures && (unsigned)failures >= max_failures && !paused) {
		char reason[128];
		snprintf(reason, sizeof(reason), "auto: %d runs failed in a row; fix the "
			 "error below, then touch .resume", failures);
		s = state_prepare(st, "UPDATE destinations SET paused = 1, pause_reason = ?2 "
				      "WHERE id = ?1");
		if (s) {
			sqlite3_bind_int64(s, 1, dest_id);
			state_bind_text(s, 2, reason);
		}
		ret = state_step_once(st, s, "pause destination");
		f->auto_paused = 1;
	}
	return ret;
}

#define RUNS_FINISH_BATCH 64

/* Finishes up to RUNS_FINISH_BATCH ready runs in one transaction. */
static int finish_batch(struct state *st, int64_t now, unsigned max_failures,
			struct runs_finished *done, size_t *ndone)
{
	int ret, rc;

	*ndone = 0;
	pthread_mutex_lock(&st->lock);
	ret = state_exec(st, "BEGIN IMMEDIATE");
	if (ret)
		goto out;
	/*
	 * Only runs with nothing left to upload: runs still waiting (on a
	 * dead endpoint, say) must not keep finished ones behind them.
	 */
	sqlite3_stmt *s = state_prepare(
		st, "SELECT r.id, r.dest_id, r.trigger, r.last_day, 0, "
		    "(SELECT COUNT(*) FROM uploads u WHERE u.run_id = r.id AND "
		    " u.state = 'failed'), "
		    "(SELECT COUNT(*) FROM uploads u WHERE u.run_id = r.id), "
		    "r.error, r.files, r.period, r.bytes, r.skipped, "
		    "(SELECT name FROM destinations d WHERE d.id = r.dest_id) "
		    "FROM runs r WHERE r.status = 'uploading' AND NOT EXISTS (SELECT 1 "
		    "FROM uploads u WHERE u.run_id = r.id AND u.state IN ('pending', "
		    "'uploading')) ORDER BY r.id LIMIT ?1");
	if (!s) {
		ret = state_end(st, -EIO);
		goto out;
	}
	sqlite3_bind_int(s, 1, RUNS_FINISH_BATCH);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ret = finish_one(st, s, now, max_failures, &done[*ndone]);
		if (ret)
			break;
		(*ndone)++;
	}
	if (!ret && rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = state_errno(st, rc, "finish runs");
	sqlite3_finalize(s);
	ret = state_end(st, ret);
	if (ret)
		*ndone = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int runs_finish_ready(struct state *st, int64_t now, unsigned max_failures,
		      void (*fn)(void *ctx, const struct runs_finished *f), void *ctx)
{
	struct runs_finished *done = calloc(RUNS_FINISH_BATCH, sizeof(*done));
	size_t ndone;
	int ret;

	if (!done)
		return -ENOMEM;
	/* Batches, each a short transaction, until no ready run is left. */
	do {
		ret = finish_batch(st, now, max_failures, done, &ndone);
		for (size_t i = 0; fn && i < ndone; i++)
			fn(ctx, &done[i]);
	} while (!ret && ndone == RUNS_FINISH_BATCH);
	free(done);
	return ret;
}

int runs_set_paused(struct state *st, int64_t dest_id, int paused, const char *reason,
		    int64_t next_run_at, int64_t covered_day)
{
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(
		st, "UPDATE destinations SET paused = ?2, pause_reason = ?3, "
		    "failures = CASE WHEN ?2 THEN failures ELSE 0 END, "
		    "next_run_at = CASE WHEN ?4 THEN ?4 ELSE next_run_at END, "
		    "last_sched_day = CASE WHEN ?5 > COALESCE(last_sched_day, 0) THEN ?5 "
		    "ELSE last_sched_day END WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, dest_id);
		sqlite3_bind_int(s, 2, paused);
		if (reason)
			state_bind_text(s, 3, reason);
		sqlite3_bind_int64(s, 4, next_run_at);
		sqlite3_bind_int64(s, 5, covered_day);
	}
	int ret = state_step_once(st, s, "pause or resume");
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int runs_set_clock(struct state *st, int64_t dest_id, int64_t next_run_at)
{
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "UPDATE destinations SET next_run_at = ?2 "
					    "WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, dest_id);
		sqlite3_bind_int64(s, 2, next_run_at);
	}
	int ret = state_step_once(st, s, "set clock");
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int runs_dest_get(struct state *st, int64_t dest_id, struct runs_dest *out)
{
	int ret = -EIO;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT COALESCE(next_run_at, 0), "
					    "COALESCE(last_sched_day, 0), failures, paused, "
					    "pause_reason FROM destinations WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, dest_id);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			out->next_run_at = sqlite3_column_int64(s, 0);
			out->last_sched_day = sqlite3_column_int64(s, 1);
			out->failures = sqlite3_column_int(s, 2);
			out->paused = sqlite3_column_int(s, 3);
			state_column_text(s, 4, out->pause_reason, sizeof(out->pause_reason));
			ret = 0;
		} else {
			ret = rc == SQLITE_DONE ? -ENOENT : state_errno(st, rc, "read");
		}
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->lock);
	return ret;
}

static void add_time(struct buf *out, sqlite3_stmt *s, int col)
{
	char when[32];

	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return;
	clock_iso8601(sqlite3_column_int64(s, col), when);
	buf_adds(out, when);
}

/* A CSV field, or nothing for NULL. */
static void add_field(struct buf *out, const char *v)
{
	if (v)
		csv_field(out, v, strlen(v));
}

static const char RUN_COLUMNS[] = "id, trigger, period, started_at, finished_at, files, "
				  "bytes, CASE WHEN status = 'done' THEN result "
				  "ELSE status END, error, note";

static void add_run_csv(struct buf *out, sqlite3_stmt *s)
{
	buf_addf(out, "%lld,", (long long)sqlite3_column_int64(s, 0));
	add_field(out, (const char *)sqlite3_column_text(s, 1));
	buf_addch(out, ',');
	add_field(out, (const char *)sqlite3_column_text(s, 2));
	buf_addch(out, ',');
	add_time(out, s, 3);
	buf_addch(out, ',');
	add_time(out, s, 4);
	buf_addf(out, ",%lld,%lld,", (long long)sqlite3_column_int64(s, 5),
		 (long long)sqlite3_column_int64(s, 6));
	add_field(out, (const char *)sqlite3_column_text(s, 7));
	buf_addch(out, ',');
	/* The error column holds a run's note when it has no error. */
	const char *err = (const char *)sqlite3_column_text(s, 8);
	add_field(out, err ? err : (const char *)sqlite3_column_text(s, 9));
	buf_addch(out, '\n');
}

int runs_history(struct state *st, int64_t dest_id, struct buf *out)
{
	struct buf sql = BUF_INIT;
	int ret = 0, rc;

	buf_addf(&sql, "SELECT %s FROM runs WHERE dest_id = ?1 ORDER BY id", RUN_COLUMNS);
	buf_adds(out, "run_id,trigger,period,started_at,finished_at,files,bytes,result,error\n");
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, buf_str(&sql));
	if (!s) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, dest_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		add_run_csv(out, s);
	ret = state_errno(st, rc, "read history");
	sqlite3_finalize(s);
out:
	pthread_mutex_unlock(&st->lock);
	buf_release(&sql);
	return ret;
}

int runs_last(struct state *st, int64_t dest_id, struct buf *summary)
{
	struct buf sql = BUF_INIT;
	int ret;

	buf_addf(&sql, "SELECT %s FROM runs WHERE dest_id = ?1 ORDER BY id DESC LIMIT 1",
		 RUN_COLUMNS);
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, buf_str(&sql));
	if (!s) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, dest_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *err = (const char *)sqlite3_column_text(s, 8);
		buf_addf(summary, "last_run = %lld %s %s\n", (long long)sqlite3_column_int64(s, 0),
			 sqlite3_column_text(s, 1), sqlite3_column_text(s, 2));
		buf_adds(summary, "last_run_started_at = ");
		add_time(summary, s, 3);
		buf_adds(summary, "\nlast_run_finished_at = ");
		add_time(summary, s, 4);
		buf_addf(summary, "\nlast_run_files = %lld\nlast_run_bytes = %lld\n"
			 "last_run_result = %s\n", (long long)sqlite3_column_int64(s, 5),
			 (long long)sqlite3_column_int64(s, 6), sqlite3_column_text(s, 7));
		const char *note = (const char *)sqlite3_column_text(s, 9);
		if (err)
			buf_addf(summary, "last_run_error = %s\n", err);
		if (note)
			buf_addf(summary, "last_run_note = %s\n", note);
		ret = 0;
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT : state_errno(st, rc, "read runs");
	}
	sqlite3_finalize(s);
out:
	pthread_mutex_unlock(&st->lock);
	buf_release(&sql);
	return ret;
}

int runs_totals(struct state *st, struct runs_totals *t)
{
	int ret = -EIO;

	memset(t, 0, sizeof(*t));
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(
		st, "SELECT (SELECT COUNT(*) FROM uploads WHERE state = 'pending'),"
		    "(SELECT COUNT(*) FROM uploads WHERE state = 'uploading'),"
		    "(SELECT COUNT(*) FROM uploads WHERE state = 'failed'),"
		    "(SELECT COALESCE(SUM(uploads_ok), 0) FROM destinations),"
		    "(SELECT COALESCE(SUM(uploads_failed), 0) FROM destinations),"
		    "(SELECT COALESCE(SUM(bytes_uploaded), 0) FROM destinations),"
		    "(SELECT COUNT(*) FROM runs WHERE status != 'done'),"
		    "(SELECT COUNT(*) FROM runs WHERE status = 'done')");
	if (s) {
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			t->pending = sqlite3_column_int64(s, 0);
			t->uploading = sqlite3_column_int64(s, 1);
			t->failed = sqlite3_column_int64(s, 2);
			t->uploads_ok = sqlite3_column_int64(s, 3);
			t->uploads_failed = sqlite3_column_int64(s, 4);
			t->bytes_uploaded = (uint64_t)sqlite3_column_int64(s, 5);
			t->runs_active = sqlite3_column_int64(s, 6);
			t->runs_done = sqlite3_column_int64(s, 7);
			ret = 0;
		} else {
			ret = state_errno(st, rc, "count");
		}
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->lock);
	return ret;
}
