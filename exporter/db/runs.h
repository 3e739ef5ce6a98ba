/*
 * runs: runs and schedule clocks in the state database.
 *
 * A run exports a set of (team, date, dataset) files for one destination.
 * Its row goes: queued (asked for, durable) -> running (a runner is
 * materializing and queueing its files) -> uploading (waiting for its
 * uploads) -> done, with result ok, partial or failed.  A destination's
 * clock (next_run_at), its last day covered by a successful scheduled run,
 * its count of failed runs in a row and its paused flag live here too.
 *
 * Threads: as state.h: one transaction per call on the given struct state.
 */
#ifndef WAREHOUSEFS_RUNS_H
#define WAREHOUSEFS_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "state.h"

struct runs_new {
	int64_t dest_id;
	const char *trigger;  /* "schedule", "run-now" or "backfill" */
	const char *period;   /* normalized period text (period.h) */
	int64_t first_day, last_day;
	int create;           /* 0: only move the clock (nothing to run) */
	int64_t next_run_at;  /* the clock's new value; 0 leaves it */
};

/* Creates runs (queued) and moves clocks, all in one transaction. */
int runs_start(struct state *st, const struct runs_new *v, size_t n, int64_t now);

struct runs_due {
	int64_t dest_id;
	int64_t next_run_at;
	int64_t last_sched_day; /* 0 when none */
	char schedule[16];
};

/* Calls fn for every active destination whose next_run_at <= now. */
int runs_list_due(struct state *st, int64_t now,
		  int (*fn)(void *ctx, const struct runs_due *d), void *ctx);

struct runs_item {
	int64_t id;
	int64_t dest_id;
	char trigger[16];
	char period[4096];
};

/* Claims the oldest queued run (-> running): 0, -ENOENT or a negative errno. */
int runs_claim(struct state *st, int64_t now, struct runs_item *out);

/*
 * A runner has queued a run's files: -> uploading, with its counts.
 * error (or NULL) makes the run failed or partial; note (or NULL) says
 * something worth knowing about a run that may well be ok ("no rows for
 * 2025-01-14").  .history shows the note in its error column when there is
 * no error; .status shows both.
 */
int runs_enumerated(struct state *st, int64_t id, int64_t files, uint64_t bytes,
		    int64_t skipped, const char *error, const char *note);

/*
 * How many runs of a destination are queued or running (their files not
 * all queued for upload yet) into *n: 0 or a negative errno.
 */
int runs_count_enumerating(struct state *st, int64_t dest_id, int64_t *n);

/* Runs left running or uploading by a crash go back to queued / stay uploading. */
int runs_recover(struct state *st);

/* One finished run, as runs_finish_ready() reports it (texts cut with "..."). */
struct runs_finished {
	int64_t id;
	int64_t dest_id;
	char dest[64];
	char trigger[16];
	char period[128];
	int64_t files, skipped;
	uint64_t bytes;
	int64_t seconds;   /* from its start to its end, on the daemon's clock */
	char result[16];
	char detail[256];  /* its error, else its note, else "" */
	int auto_paused;   /* this failure paused the destination */
};

/*
 * Finishes every uploading run whose uploads are all done or failed:
 * records the result, updates the destination's failures in a row (and
 * pauses it after max_failures), and for a successful scheduled run its
 * last covered day.  Calls fn for each (may be NULL).
 */
int runs_finish_ready(struct state *st, int64_t now, unsigned max_failures,
		      void (*fn)(void *ctx, const struct runs_finished *f), void *ctx);

/* Pauses (with a reason) or resumes a destination; resume sets the clock. */
int runs_set_paused(struct state *st, int64_t dest_id, int paused, const char *reason,
		    int64_t next_run_at, int64_t covered_day);

/* Sets a destination's clock (a new schedule). */
int runs_set_clock(struct state *st, int64_t dest_id, int64_t next_run_at);

struct runs_dest {
	int64_t next_run_at;
	int64_t last_sched_day;
	int failures;
	int paused;
	char pause_reason[256];
};

int runs_dest_get(struct state *st, int64_t dest_id, struct runs_dest *out);

/* The last run of a destination (for .status): 0 or -ENOENT. */
int runs_last(struct state *st, int64_t dest_id, struct buf *summary);

/* Appends the .history CSV (header and one line per run, oldest first). */
int runs_history(struct state *st, int64_t dest_id, struct buf *out);

struct runs_totals {
	int64_t pending, uploading, failed;
	int64_t uploads_ok, uploads_failed;
	uint64_t bytes_uploaded;
	int64_t runs_active, runs_done;
};

/*
 * Gateway-wide upload and run counters for the root .status and .metrics
 * (destinations are counted by the gateway, which knows which are configured).
 */
int runs_totals(struct state *st, struct runs_totals *t);

#endif
