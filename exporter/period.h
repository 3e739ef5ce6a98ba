/*
 * period: the dates a run exports, as written to .run-now and as kept in
 * the run history.  Text form: items separated by commas, each a date
 * ("2025-01-14") or an inclusive range ("2025-01-01..2025-01-31").
 *
 * Pure functions: safe from any thread.
 */
#ifndef WAREHOUSEFS_PERIOD_H
#define WAREHOUSEFS_PERIOD_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/*
 * Parses .run-now input: dates and ranges separated by newlines or commas
 * (blank lines ignored).  When final is 0, a last line without '\n' is not
 * checked yet.  Refuses (-EINVAL, reason in why) anything that is not a
 * valid date, a date after today (00:00 UTC of the current day, Unix
 * seconds), a range whose end is before its start, and more than max_days
 * days in all.  On success sets *ndays (0 for input with no dates: a plain
 * "run now") and appends the normalized text (items joined by ",") to
 * normalized.
 */
int period_parse(const char *text, size_t len, int final, int64_t today,
		 unsigned max_days, struct buf *normalized, unsigned *ndays,
		 struct buf *why);

/* Calls fn for each day (Unix seconds at 00:00 UTC) of a normalized period, in order. */
int period_each_day(const char *normalized, int (*fn)(void *ctx, int64_t day), void *ctx);

/* Formats first..last (or one date when equal) into out. */
void period_format(int64_t first, int64_t last, struct buf *out);

#endif
