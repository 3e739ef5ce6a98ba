/*
 * clock: the daemon's idea of "now" and its time formats.  Times are Unix
 * seconds inside, ISO 8601 UTC ("2025-01-14T00:05:00Z") outside.
 *
 * For tests only, the clock can be set to start at a given time and run
 * faster than real time (mount options test_now= and test_speed=), so
 * schedules can be tested without waiting hours.
 */
#ifndef WAREHOUSEFS_CLOCK_H
#define WAREHOUSEFS_CLOCK_H

#include <stdint.h>

#define CLOCK_DAY 86400
#define CLOCK_HOUR 3600

/*
 * Makes clock_now() start at start (Unix seconds) now and advance speed
 * times faster than real time.  Call before any thread starts.
 */
void clock_set_test(int64_t start, double speed);

/* The current time in Unix seconds (the test clock when set). */
int64_t clock_now(void);

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void clock_iso8601(int64_t t, char out[32]);

/* Parses "YYYY-MM-DDTHH:MM:SSZ" (or a bare date): 0 or -EINVAL. */
int clock_parse_iso8601(const char *s, int64_t *out);

/* Formats the UTC date of t as "YYYY-MM-DD". */
void clock_date(int64_t t, char out[16]);

/* 1 when s is a "YYYY-MM-DD" date that exists in the calendar, else 0. */
int clock_valid_date(const char *s);

/* Parses a valid "YYYY-MM-DD" as the Unix time of its 00:00 UTC: 0 or -EINVAL. */
int clock_parse_date(const char *s, int64_t *out);

/* The start (00:00 UTC) of t's day. */
int64_t clock_day(int64_t t);

#endif
