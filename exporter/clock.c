/*
 * clock: time helpers (see clock.h).  Stateless and thread-safe.
 */
#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "config.h"

int64_t clock_now(void)
{
	return (int64_t)time(NULL);
}

void clock_iso8601(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void clock_date(int64_t t, char out[16])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

int clock_parse_date(const char *s, int64_t *out)
{
	struct tm tm = {0};

	if (!config_valid_date(s))
		return -EINVAL;
	if (sscanf(s, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (int64_t)timegm(&tm);
	return 0;
}
