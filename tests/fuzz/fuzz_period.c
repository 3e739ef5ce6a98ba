/*
 * Fuzz target: `.run-now` input, dates and ranges (period_parse()), and the
 * walk over the days of what it accepted (period_each_day()).
 *
 * Today is fixed (2025-06-15) and at most FUZZ_MAX_DAYS days are allowed,
 * so the same input always gives the same answer.  Invariants checked:
 *   - the result is 0 or -EINVAL, with a reason exactly when it fails;
 *   - period_each_day() visits exactly ndays days of the normalized text,
 *     each a midnight no later than today;
 *   - the normalized text parses again to itself, with the same ndays;
 *   - input that parses whole also parses as a partial write (final = 0),
 *     to a prefix of the same items.
 */
#include <errno.h>
#include <string.h>

#include "base/clock.h"
#include "fuzz.h"
#include "period.h"

#define FUZZ_TODAY INT64_C(1749945600) /* 2025-06-15T00:00:00Z */
#define FUZZ_MAX_DAYS 400

struct day_count {
	unsigned days;
	int bad_day;
};

static int count_day(void *arg, int64_t day)
{
	struct day_count *c = arg;

	c->days++;
	if (day % CLOCK_DAY != 0 || day > FUZZ_TODAY)
		c->bad_day = 1;
	/* A runaway walk is a bug too: stop it rather than time out. */
	return c->days > FUZZ_MAX_DAYS ? -E2BIG : 0;
}

static void check_accepted(const struct buf *normalized, unsigned ndays)
{
	struct day_count c = {0, 0};
	struct buf again = BUF_INIT, why = BUF_INIT;
	unsigned again_days = 0;

	FUZZ_CHECK(ndays <= FUZZ_MAX_DAYS);
	FUZZ_CHECK((ndays == 0) == (normalized->len == 0));
	FUZZ_CHECK(period_each_day(buf_str(normalized), count_day, &c) == 0);
	FUZZ_CHECK(c.days == ndays && !c.bad_day);

	FUZZ_CHECK(period_parse(buf_str(normalized), normalized->len, 1, FUZZ_TODAY,
				FUZZ_MAX_DAYS, &again, &again_days, &why) == 0);
	FUZZ_CHECK(again_days == ndays);
	FUZZ_CHECK(strcmp(buf_str(&again), buf_str(normalized)) == 0);
	buf_release(&again);
	buf_release(&why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct buf normalized = BUF_INIT, why = BUF_INIT;
	struct buf partial = BUF_INIT, partial_why = BUF_INIT;
	unsigned ndays = 0, partial_days = 0;

	int ret = period_parse(text, size, 1, FUZZ_TODAY, FUZZ_MAX_DAYS, &normalized, &ndays,
			       &why);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	FUZZ_CHECK((ret == 0) == (why.len == 0));
	if (ret == 0)
		check_accepted(&normalized, ndays);

	int partial_ret = period_parse(text, size, 0, FUZZ_TODAY, FUZZ_MAX_DAYS, &partial,
				       &partial_days, &partial_why);
	FUZZ_CHECK(partial_ret == 0 || partial_ret == -EINVAL);
	FUZZ_CHECK((partial_ret == 0) == (partial_why.len == 0));
	if (partial_ret == 0)
		check_accepted(&partial, partial_days);
	if (ret == 0) {
		FUZZ_CHECK(partial_ret == 0 && partial_days <= ndays);
		FUZZ_CHECK(strncmp(buf_str(&normalized), buf_str(&partial), partial.len) == 0);
	}

	buf_release(&normalized);
	buf_release(&why);
	buf_release(&partial);
	buf_release(&partial_why);
	return 0;
}
