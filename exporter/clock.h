/*
 * clock: the daemon's idea of "now" and its time formats.  Times are Unix
 * seconds inside, ISO 8601 UTC ("2025-01-14T00:05:00Z") outside.
 */
#ifndef WAREHOUSEFS_CLOCK_H
#define WAREHOUSEFS_CLOCK_H

#include <stdint.h>

/* The current time in Unix seconds. */
int64_t clock_now(void);

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void clock_iso8601(int64_t t, char out[32]);

/* Formats the UTC date of t as "YYYY-MM-DD". */
void clock_date(int64_t t, char out[16]);

/* Parses a valid "YYYY-MM-DD" as the Unix time of its 00:00 UTC: 0 or -EINVAL. */
int clock_parse_date(const char *s, int64_t *out);

#endif
