/*
 * schedule: schedule arithmetic, as pure functions.  A destination's clock is
 * next_run_at, a slot on its schedule's grid (daily: 00:00 UTC; hourly:
 * minute 0); pausing and resuming keep that phase.
 *
 * Safe from any thread.
 */
#ifndef WAREHOUSEFS_SCHEDULE_H
#define WAREHOUSEFS_SCHEDULE_H

#include <stdint.h>

enum schedule_kind {
	SCHEDULE_DAILY,
	SCHEDULE_HOURLY,
};

/* "daily" or "hourly" (anything else is daily, the default). */
enum schedule_kind schedule_kind(const char *schedule);

/* The slot length in seconds. */
int64_t schedule_interval(enum schedule_kind k);

/* The first slot strictly after t (first run of a new destination). */
int64_t schedule_first(enum schedule_kind k, int64_t t);

/* The first slot of next_run_at's phase strictly after now. */
int64_t schedule_next_after(enum schedule_kind k, int64_t next_run_at, int64_t now);

/* The latest slot of next_run_at's phase at or before now (next_run_at <= now). */
int64_t schedule_latest_slot(enum schedule_kind k, int64_t next_run_at, int64_t now);

/*
 * The days (00:00 UTC) a scheduled run at slot exports: daily, the latest
 * complete day; hourly, the current day so far, plus the previous day at
 * the first slot of a day.  After downtime, every day since the last day a
 * successful scheduled run covered (last_ok_day, 0 when none) is added,
 * at most span_days days in all.
 */
void schedule_period(enum schedule_kind k, int64_t slot, int64_t last_ok_day,
		  unsigned span_days, int64_t *first_day, int64_t *last_day);

/*
 * What a resume at now treats as covered: the days the slots that fell
 * while paused would have exported, so they are not run (0 when none).
 */
int64_t schedule_covered_at_resume(enum schedule_kind k, int64_t next_run_at, int64_t now);

#endif
