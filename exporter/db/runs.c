/*
 * runs: the runs table and destination clocks (see runs.h).
 *
 * Threads: every function takes st->lock for one transaction, sharing
 * state.c's connection and call skeleton through state_i.h.
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

struct new_runs {
	const struct runs_new *v;
	size_t n;
	int64_t now;
};

static int start_runs(struct state *st, void *ctx)
{
	const struct new_runs *r = ctx;
	sqlite3_stmt *ins = state_prepare(st, "INSERT INTO runs(dest_id, trigger, period, "
					      "first_day, last_day, created_at) "
					      "VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
	sqlite3_stmt *clk = state_prepare(st, "UPDATE destinations SET next_run_at = ?2 "
					      "WHERE id = ?1");
	int ret = ins && clk ? 0 : -EIO;

	for (size_t i = 0; i < r->n && !ret; i++) {
		const struct runs_new *v = &r->v[i];
		if (v->create)
			ret = state_rerun(st, ins, "create run",
					  STATE_ARGS(STATE_INT(v->dest_id), STATE_TEXT(v->trigger),
						     STATE_TEXT(v->period), STATE_INT(v->first_day),
						     STATE_INT(v->last_day), STATE_INT(r->now)));
		if (!ret && v->next_run_at)
			ret = state_rerun(st, clk, "move clock",
					  STATE_ARGS(STATE_INT(v->dest_id),
						     STATE_INT(v->next_run_at)));
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(clk);
	return ret;
}

int runs_start(struct state *st, const struct runs_new *v, size_t n, int64_t now)
{
	struct new_runs r = {v, n, now};

	return state_tx(st, start_runs, &r);
}

struct each_due {
	int (*fn)(void *ctx, const struct runs_due *d);
	void *ctx;
};

static int pass_due(void *ctx, sqlite3_stmt *s)
{
	struct each_due *e = ctx;
	struct runs_due d;

	d.dest_id = sqlite3_column_int64(s, 0);
	d.next_run_at = sqlite3_column_int64(s, 1);
	d.last_sched_day = sqlite3_column_int64(s, 2);
	state_column_text(s, 3, d.schedule, sizeof(d.schedule));
	return e->fn(e->ctx, &d);
}

int runs_list_due(struct state *st, int64_t now,
		  int (*fn)(void *ctx, const struct runs_due *d), void *ctx)
{
	struct each_due e = {fn, ctx};

	/* destinations_due(paused, next_run_at) makes this one index range. */
	return state_query(st, 0, "list due destinations",
			   "SELECT d.id, d.next_run_at, COALESCE(d.last_sched_day, 0), "
			   "COALESCE((SELECT value FROM settings WHERE dest_id = d.id AND "
			   "key = 'schedule'), 'daily') FROM destinations d "
			   "WHERE d.paused = 0 AND d.next_run_at <= ?1 ORDER BY d.next_run_at",
			   pass_due, &e, STATE_ARGS(STATE_INT(now)));
}

struct claimed {
	struct runs_item *it;
	int found;
};

static int read_claimed(void *ctx, sqlite3_stmt *s)
{
	struct claimed *c = ctx;

	c->it->id = sqlite3_column_int64(s, 0);
	c->it->dest_id = sqlite3_column_int64(s, 1);
	state_column_text(s, 2, c->it->trigger, sizeof(c->it->trigger));
	state_column_text(s, 3, c->it->period, sizeof(c->it->period));
	c->found = 1;
	return 0;
}

int runs_claim(struct state *st, int64_t now, struct runs_item *it)
{
	struct claimed c = {it, 0};
	/* Run to its end: RETURNING rows are written when the statement completes. */
	int ret = state_query(st, 0, "claim run",
			      "UPDATE runs SET status = 'running', started_at = ?1 WHERE id = "
			      "(SELECT id FROM runs WHERE status = 'queued' ORDER BY id "
			      "LIMIT 1) RETURNING id, dest_id, trigger, period",
			      read_claimed, &c, STATE_ARGS(STATE_INT(now)));

	return ret ? ret : c.found ? 0 : -ENOENT;
}

int runs_enumerated(struct state *st, int64_t id, int64_t files, uint64_t bytes,
		    int64_t skipped, const char *error, const char *note)
{
	return state_query(st, 0, "record run",
			   "UPDATE runs SET status = 'uploading', files = ?2, bytes = ?3, "
			   "skipped = ?4, error = ?5, note = ?6 WHERE id = ?1", NULL, NULL,
			   STATE_ARGS(STATE_INT(id), STATE_INT(files), STATE_INT(bytes),
				      STATE_INT(skipped), STATE_TEXT(error), STATE_TEXT(note)));
}

static int read_int64(void *ctx, sqlite3_stmt *s)
{
	*(int64_t *)ctx = sqlite3_column_int64(s, 0);
	return 0;
}

int runs_count_enumerating(struct state *st, int64_t dest_id, int64_t *n)
{
	*n = 0;
	return state_query(st, STATE_FIRST, "count runs",
			   "SELECT COUNT(*) FROM runs WHERE dest_id = ?1 "
			   "AND status IN ('queued', 'running')", read_int64, n,
			   STATE_ARGS(STATE_INT(dest_id)));
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

static int read_finished(void *ctx, sqlite3_stmt *s)
{
	struct runs_finished *f = ctx;

	cut_copy(f->detail, sizeof(f->detail), (const char *)sqlite3_column_text(s, 0));
	f->seconds = sqlite3_column_int64(s, 1);
	return 0;
}

struct failures {
	int failures, paused, seen;
};

static int read_failures(void *ctx, sqlite3_stmt *s)
{
	struct failures *f = ctx;

	if (!f->seen) {
		f->failures = sqlite3_column_int(s, 0);
		f->paused = sqlite3_column_int(s, 1);
		f->seen = 1;
	}
	return 0;
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
	struct failures fl = {0, 1, 0};
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
	/*
	 * now was read before this pass; a run may have started since (the
	 * test clock runs fast): it never finishes before it started.
	 */
	ret = state_run(st, 0, "finish run",
			"UPDATE runs SET status = 'done', result = ?2, finished_at = "
			"MAX(?3, COALESCE(started_at, created_at)), "
			"error = COALESCE(error, (SELECT error FROM uploads WHERE run_id = ?1 "
			"AND state = 'failed' LIMIT 1)) WHERE id = ?1 "
			"RETURNING COALESCE(error, note), finished_at - COALESCE(started_at, "
			"created_at)", read_finished, f,
			STATE_ARGS(STATE_INT(id), STATE_TEXT(result), STATE_INT(now)));
	if (ret)
		return ret;
	int ok = strcmp(result, "ok") == 0;
	int sched = trigger && strcmp(trigger, "schedule") == 0;
	ret = state_run(st, 0, "count failures",
			"UPDATE destinations SET failures = CASE WHEN ?2 THEN 0 ELSE "
			"failures + 1 END, last_sched_day = CASE WHEN ?2 AND ?3 THEN "
			"MAX(COALESCE(last_sched_day, 0), ?4) ELSE last_sched_day END "
			"WHERE id = ?1 RETURNING failures, paused", read_failures, &fl,
			STATE_ARGS(STATE_INT(dest_id), STATE_INT(ok), STATE_INT(sched),
				   STATE_INT(last_day)));
	if (ret)
		return ret;
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
	if (!ok && max_failures && (unsigned)fl.failures >= max_failures && !fl.paused) {
		char reason[128];
		snprintf(reason, sizeof(reason), "auto: %d runs failed in a row; fix the "
			 "error below, then touch .resume", fl.failures);
		ret = state_run(st, 0, "pause destination",
				"UPDATE destinations SET paused = 1, pause_reason = ?2 "
				"WHERE id = ?1", NULL, NULL,
				STATE_ARGS(STATE_INT(dest_id), STATE_TEXT(reason)));
		f->auto_paused = 1;
	}
	return ret;
}

#define RUNS_FINISH_BATCH 64

/* One transaction's worth of finished runs. */
struct batch {
	struct state *st;
	int64_t now;
	unsigned max_failures;
	struct runs_finished *done;
	size_t ndone;
};

static int finish_row(void *ctx, sqlite3_stmt *s)
{
	struct batch *b = ctx;
	int ret = finish_one(b->st, s, b->now, b->max_failures, &b->done[b->ndone]);

	if (!ret)
		b->ndone++;
	return ret;
}

static int finish_runs(struct state *st, void *ctx)
{
	/*
	 * Only runs with nothing left to upload: runs still waiting (on a
	 * dead endpoint, say) must not keep finished ones behind them.
	 */
	return state_run(st, 0, "finish runs",
			 "SELECT r.id, r.dest_id, r.trigger, r.last_day, 0, "
			 "(SELECT COUNT(*) FROM uploads u WHERE u.run_id = r.id AND "
			 " u.state = 'failed'), "
			 "(SELECT COUNT(*) FROM uploads u WHERE u.run_id = r.id), "
			 "r.error, r.files, r.period, r.bytes, r.skipped, "
			 "(SELECT name FROM destinations d WHERE d.id = r.dest_id) "
			 "FROM runs r WHERE r.status = 'uploading' AND NOT EXISTS (SELECT 1 "
			 "FROM uploads u WHERE u.run_id = r.id AND u.state IN ('pending', "
			 "'uploading')) ORDER BY r.id LIMIT ?1", finish_row, ctx,
			 STATE_ARGS(STATE_INT(RUNS_FINISH_BATCH)));
}

/* Finishes up to RUNS_FINISH_BATCH ready runs in one transaction. */
static int finish_batch(struct state *st, int64_t now, unsigned max_failures,
			struct runs_finished *done, size_t *ndone)
{
	struct batch b = {st, now, max_failures, done, 0};
	int ret = state_tx(st, finish_runs, &b);

	*ndone = ret ? 0 : b.ndone;
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
	return state_query(
		st, 0, "pause or resume",
		"UPDATE destinations SET paused = ?2, pause_reason = ?3, "
		"failures = CASE WHEN ?2 THEN failures ELSE 0 END, "
		"next_run_at = CASE WHEN ?4 THEN ?4 ELSE next_run_at END, "
		"last_sched_day = CASE WHEN ?5 > COALESCE(last_sched_day, 0) THEN ?5 "
		"ELSE last_sched_day END WHERE id = ?1", NULL, NULL,
		STATE_ARGS(STATE_INT(dest_id), STATE_INT(paused), STATE_TEXT(reason),
			   STATE_INT(next_run_at), STATE_INT(covered_day)));
}

int runs_set_clock(struct state *st, int64_t dest_id, int64_t next_run_at)
{
	return state_query(st, 0, "set clock",
			   "UPDATE destinations SET next_run_at = ?2 WHERE id = ?1", NULL,
			   NULL, STATE_ARGS(STATE_INT(dest_id), STATE_INT(next_run_at)));
}

static int read_dest(void *ctx, sqlite3_stmt *s)
{
	struct runs_dest *out = ctx;

	out->next_run_at = sqlite3_column_int64(s, 0);
	out->last_sched_day = sqlite3_column_int64(s, 1);
	out->failures = sqlite3_column_int(s, 2);
	out->paused = sqlite3_column_int(s, 3);
	state_column_text(s, 4, out->pause_reason, sizeof(out->pause_reason));
	return 0;
}

int runs_dest_get(struct state *st, int64_t dest_id, struct runs_dest *out)
{
	memset(out, 0, sizeof(*out));
	return state_query(st, STATE_FIRST, "read",
			   "SELECT COALESCE(next_run_at, 0), COALESCE(last_sched_day, 0), "
			   "failures, paused, pause_reason FROM destinations WHERE id = ?1",
			   read_dest, out, STATE_ARGS(STATE_INT(dest_id)));
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

static int add_run_csv(void *ctx, sqlite3_stmt *s)
{
	struct buf *out = ctx;

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
	return 0;
}

int runs_history(struct state *st, int64_t dest_id, struct buf *out)
{
	struct buf sql = BUF_INIT;

	buf_addf(&sql, "SELECT %s FROM runs WHERE dest_id = ?1 ORDER BY id", RUN_COLUMNS);
	buf_adds(out, "run_id,trigger,period,started_at,finished_at,files,bytes,result,error\n");
	int ret = state_query(st, 0, "read history", buf_str(&sql), add_run_csv, out,
			      STATE_ARGS(STATE_INT(dest_id)));
	buf_release(&sql);
	return ret;
}

static int add_last_run(void *ctx, sqlite3_stmt *s)
{
	struct buf *summary = ctx;
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
	return 0;
}

int runs_last(struct state *st, int64_t dest_id, struct buf *summary)
{
	struct buf sql = BUF_INIT;

	buf_addf(&sql, "SELECT %s FROM runs WHERE dest_id = ?1 ORDER BY id DESC LIMIT 1",
		 RUN_COLUMNS);
	int ret = state_query(st, STATE_FIRST, "read runs", buf_str(&sql), add_last_run,
			      summary, STATE_ARGS(STATE_INT(dest_id)));
	buf_release(&sql);
	return ret;
}

static int read_totals(void *ctx, sqlite3_stmt *s)
{
	struct runs_totals *t = ctx;

	t->pending = sqlite3_column_int64(s, 0);
	t->uploading = sqlite3_column_int64(s, 1);
	t->failed = sqlite3_column_int64(s, 2);
	t->uploads_ok = sqlite3_column_int64(s, 3);
	t->uploads_failed = sqlite3_column_int64(s, 4);
	t->bytes_uploaded = (uint64_t)sqlite3_column_int64(s, 5);
	t->runs_active = sqlite3_column_int64(s, 6);
	t->runs_done = sqlite3_column_int64(s, 7);
	return 0;
}

int runs_totals(struct state *st, struct runs_totals *t)
{
	memset(t, 0, sizeof(*t));
	return state_query(st, STATE_FIRST, "count",
			   "SELECT (SELECT COUNT(*) FROM uploads WHERE state = 'pending'),"
			   "(SELECT COUNT(*) FROM uploads WHERE state = 'uploading'),"
			   "(SELECT COUNT(*) FROM uploads WHERE state = 'failed'),"
			   "(SELECT COALESCE(SUM(uploads_ok), 0) FROM destinations),"
			   "(SELECT COALESCE(SUM(uploads_failed), 0) FROM destinations),"
			   "(SELECT COALESCE(SUM(bytes_uploaded), 0) FROM destinations),"
			   "(SELECT COUNT(*) FROM runs WHERE status != 'done'),"
			   "(SELECT COUNT(*) FROM runs WHERE status = 'done')",
			   read_totals, t, STATE_NO_ARGS);
}
