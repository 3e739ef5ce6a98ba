/*
 * schedule: schedule arithmetic (see schedule.h).
 */
#include "schedule.h"

#include <string.h>

#include "base/clock.h"

enum schedule_kind schedule_kind(const char *schedule)
{
	return schedule && strcmp(schedule, "hourly") == 0 ? SCHEDULE_HOURLY : SCHEDULE_DAILY;
}

int64_t schedule_interval(enum schedule_kind k)
{
	return k == SCHEDULE_HOURLY ? CLOCK_HOUR : CLOCK_DAY;
}

int64_t schedule_first(enum schedule_kind k, int64_t t)
{
	int64_t step = schedule_interval(k);

	return (t / step + 1) * step;
}

int64_t schedule_next_after(enum schedule_kind k, int64_t next_run_at, int64_t now)
{
	int64_t step = schedule_interval(k);

	if (next_run_at > now)
		return next_run_at;
	return next_run_at + ((now - next_run_at) / step + 1) * step;
}

int64_t schedule_latest_slot(enum schedule_kind k, int64_t next_run_at, int64_t now)
{
	int64_t step = schedule_interval(k);

	if (next_run_at > now)
		return next_run_at - step;
	return next_run_at + (now - next_run_at) / step * step;
}

void schedule_period(enum schedule_kind k, int64_t slot, int64_t last_ok_day,
		  unsigned span_days, int64_t *first_day, int64_t *last_day)
{
	int64_t first, last;

	if (k == SCHEDULE_DAILY) {
		last = clock_day(slot) - CLOCK_DAY;
		first = last;
		if (last_ok_day && last_ok_day + CLOCK_DAY < first)
			first = last_ok_day + CLOCK_DAY;
	} else {
		last = clock_day(slot);
		first = last;
		/* The first run of a day also exports yesterday in its final form. */
		if (slot - last < CLOCK_HOUR)
			first = last - CLOCK_DAY;
		/* The last day a run covered was only "so far": redo it. */
		if (last_ok_day && last_ok_day < first)
			first = last_ok_day;
	}
	if (span_days && (last - first) / CLOCK_DAY + 1 > span_days)
		first = last - (int64_t)(span_days - 1) * CLOCK_DAY;
	*first_day = first;
	*last_day = last;
}

int64_t schedule_covered_at_resume(enum schedule_kind k, int64_t next_run_at, int64_t now)
{
	if (next_run_at > now)
		return 0;
	int64_t slot = schedule_latest_slot(k, next_run_at, now);
	return k == SCHEDULE_DAILY ? clock_day(slot) - CLOCK_DAY : clock_day(slot);
}
