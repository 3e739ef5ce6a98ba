/*
 * clock: time helpers and the test clock (see clock.h).
 *
 * The test clock's settings are written once by main before any thread
 * starts and only read afterwards.
 */
#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static int test_clock;
static int64_t test_start;
static double test_speed = 1.0;
static struct timespec test_origin;

void clock_set_test(int64_t start, double speed)
{
	test_clock = 1;
	test_start = start;
	test_speed = speed > 0 ? speed : 1.0;
	clock_gettime(CLOCK_MONOTONIC, &test_origin);
}

int64_t clock_now(void)
{
	if (!test_clock)
		return (int64_t)time(NULL);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double real = (double)(ts.tv_sec - test_origin.tv_sec) +
		      (double)(ts.tv_nsec - test_origin.tv_nsec) / 1e9;
	return test_start + (int64_t)(real * test_speed);
}

int64_t clock_day(int64_t t)
{
	int64_t d = t / CLOCK_DAY * CLOCK_DAY;

	return d > t ? d - CLOCK_DAY : d;
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

int clock_valid_date(const char *s)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	if (y < 1 || m < 1 || m > 12 || d < 1)
		return 0;
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= mdays[m - 1] + (m == 2 && leap);
}

int clock_parse_date(const char *s, int64_t *out)
{
	struct tm tm = {0};

	if (!clock_valid_date(s))
		return -EINVAL;
	if (sscanf(s, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

int clock_parse_iso8601(const char *s, int64_t *out)
{
	char date[11];
	int h = 0, m = 0, sec = 0, n = 0;
	int64_t day;

	if (strlen(s) < 10)
		return -EINVAL;
	memcpy(date, s, 10);
	date[10] = '\0';
	if (clock_parse_date(date, &day) < 0)
		return -EINVAL;
	if (s[10] == '\0') {
		*out = day;
		return 0;
	}
	if (sscanf(s + 10, "T%2d:%2d:%2dZ%n", &h, &m, &sec, &n) != 3 || s[10 + n] != '\0' ||
	    h > 23 || m > 59 || sec > 60)
		return -EINVAL;
	*out = day + h * 3600 + m * 60 + sec;
	return 0;
}
