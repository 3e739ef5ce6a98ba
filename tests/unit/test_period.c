/*
 * Unit test of period: .run-now input (what is accepted, what is refused
 * and why, how it is normalized) and the days a normalized period covers.
 * "Today" is fixed at 2025-01-15 00:00 UTC, so 2025-01-15 is the latest
 * date that is not in the future.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "base/clock.h"
#include "period.h"

#define TODAY INT64_C(1736899200) /* 2025-01-15T00:00:00Z */
#define SPAN 400
/* Inputs that hold a NUL give their length; the others are strings. */
#define S(s) s, sizeof(s) - 1

struct parse_case {
	const char *input;
	size_t len;
	int final;
	unsigned max_days;
	int ret;
	const char *normalized; /* ret == 0 */
	unsigned ndays;         /* ret == 0 */
	const char *why;        /* substring of the reason (ret < 0) */
};

static const struct parse_case accepted[] = {
	{S("2025-01-14"), 1, SPAN, 0, "2025-01-14", 1, NULL},
	{S("2025-01-14\n"), 1, SPAN, 0, "2025-01-14", 1, NULL},
	{S("2025-01-15\n"), 1, SPAN, 0, "2025-01-15", 1, NULL}, /* today is not future */
	{S("  2025-01-14 \r\n"), 1, SPAN, 0, "2025-01-14", 1, NULL},
	{S("\t2025-01-14\t\n"), 1, SPAN, 0, "2025-01-14", 1, NULL},
	{S("2024-01-01..2024-01-31\n"), 1, SPAN, 0, "2024-01-01..2024-01-31", 31, NULL},
	{S("2025-01-01..2025-01-15"), 1, SPAN, 0, "2025-01-01..2025-01-15", 15, NULL},
	{S("2025-01-01..2025-01-01"), 1, SPAN, 0, "2025-01-01..2025-01-01", 1, NULL},
	{S("2024-02-28..2024-03-01"), 1, SPAN, 0, "2024-02-28..2024-03-01", 3, NULL},
	{S("2023-12-31..2024-01-01"), 1, SPAN, 0, "2023-12-31..2024-01-01", 2, NULL},
	{S("2025-01-01,2025-01-03"), 1, SPAN, 0, "2025-01-01,2025-01-03", 2, NULL},
	{S("2025-01-01\n2025-01-03\n"), 1, SPAN, 0, "2025-01-01,2025-01-03", 2, NULL},
	{S("2025-01-01 , 2025-01-03\r\n\n2025-01-05..2025-01-06\n"), 1, SPAN, 0,
	 "2025-01-01,2025-01-03,2025-01-05..2025-01-06", 4, NULL},
	{S("2024-02-29"), 1, SPAN, 0, "2024-02-29", 1, NULL},
	{S("2000-02-29"), 1, SPAN, 0, "2000-02-29", 1, NULL},
	{S("1970-01-01"), 1, SPAN, 0, "1970-01-01", 1, NULL},
	{S("1969-12-31"), 1, SPAN, 0, "1969-12-31", 1, NULL},
	/* Exactly the span, then the span over several items. */
	{S("2024-01-01..2025-01-15"), 1, SPAN, 0, "2024-01-01..2025-01-15", 381, NULL},
	{S("2024-12-16..2025-01-15"), 1, 31, 0, "2024-12-16..2025-01-15", 31, NULL},
	{S("2025-01-01..2025-01-10,2025-01-11..2025-01-15"), 1, 15, 0,
	 "2025-01-01..2025-01-10,2025-01-11..2025-01-15", 15, NULL},
	/* No dates at all: a plain "run now". */
	{S(""), 1, SPAN, 0, "", 0, NULL},
	{S("\n"), 1, SPAN, 0, "", 0, NULL},
	{S("\r\n\n  \n"), 1, SPAN, 0, "", 0, NULL},
	{S(" , ,\n"), 1, SPAN, 0, "", 0, NULL},
	/* Not final: a last line without '\n' waits for the rest. */
	{S("2025-01-14\n2025-0"), 0, SPAN, 0, "2025-01-14", 1, NULL},
	{S("garbage"), 0, SPAN, 0, "", 0, NULL},
	{S("2025-01-14,2025-01-1"), 0, SPAN, 0, "2025-01-14", 1, NULL},
};

static const struct parse_case refused[] = {
	{S("yesterday"), 1, SPAN, -EINVAL, NULL, 0, "'yesterday' is not a date"},
	{S("2025-1-14"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-32"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-02-29"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("1900-02-29"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-04-31"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-13-01"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-00-10"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-00"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("0000-01-01"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025/01/14"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("20250114"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-1a"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("-2025-01-14"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-14T00:00:00Z"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-14;2025-01-13"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-13 2025-01-14"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-01...2025-01-02"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-01 .. 2025-01-02"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-01.."), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("..2025-01-01"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-01--2025-01-02"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-01..2025-02-30"), 1, SPAN, -EINVAL, NULL, 0, "not a date"},
	{S("2025-01-14,oops\n"), 1, SPAN, -EINVAL, NULL, 0, "'oops' is not a date"},
	{S("bad\n2025-01-14"), 0, SPAN, -EINVAL, NULL, 0, "'bad' is not a date"},
	/* The future: after today UTC. */
	{S("2025-01-16"), 1, SPAN, -EINVAL, NULL, 0, "in the future (today is 2025-01-15 UTC)"},
	{S("9999-12-31"), 1, SPAN, -EINVAL, NULL, 0, "in the future"},
	{S("2025-01-01..2025-01-16"), 1, SPAN, -EINVAL, NULL, 0, "in the future"},
	{S("2025-01-14,2026-01-14"), 1, SPAN, -EINVAL, NULL, 0, "in the future"},
	/* Backwards ranges. */
	{S("2025-01-10..2025-01-01"), 1, SPAN, -EINVAL, NULL, 0,
	 "range '2025-01-10..2025-01-01' ends before it starts"},
	{S("2025-01-02..2025-01-01"), 1, SPAN, -EINVAL, NULL, 0, "ends before it starts"},
	/* Too many days, in one range or over several items. */
	{S("2024-01-01..2025-01-15"), 1, 380, -EINVAL, NULL, 0, "381 days asked for, at most 380"},
	{S("2023-01-01..2025-01-14"), 1, SPAN, -EINVAL, NULL, 0, "at most 400 at once"},
	{S("2024-12-15..2025-01-15"), 1, 31, -EINVAL, NULL, 0, "32 days asked for"},
	{S("2025-01-01..2025-01-10\n2025-01-05..2025-01-14\n"), 1, 15, -EINVAL, NULL, 0,
	 "20 days asked for, at most 15"},
	{S("0001-01-01..2025-01-15"), 1, SPAN, -EINVAL, NULL, 0, "days asked for"},
	/* Bytes that are no part of a date. */
	{S("2025-01-14\0"), 1, SPAN, -EINVAL, NULL, 0, "bytes that are not dates"},
	{S("\0002025-01-14\n"), 1, SPAN, -EINVAL, NULL, 0, "bytes that are not dates"},
	{S("2025-01-14\x01\n"), 1, SPAN, -EINVAL, NULL, 0, "bytes that are not dates"},
	{S("\x1b[0m2025-01-14"), 1, SPAN, -EINVAL, NULL, 0, "bytes that are not dates"},
	{S("\x7f"), 1, SPAN, -EINVAL, NULL, 0, "bytes that are not dates"},
	{S("\xff\xfe"), 1, SPAN, -EINVAL, NULL, 0, "bytes that are not dates"},
	{S("\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x95-01-14"), 1, SPAN, -EINVAL, NULL, 0,
	 "bytes that are not dates"}, /* full-width digits */
	{S("2025-01-14\n\xc3\xa9"), 0, SPAN, -EINVAL, NULL, 0, "bytes that are not dates"},
};

static void run_cases(const struct parse_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct parse_case *c = &cases[i];
		struct buf norm = BUF_INIT, why = BUF_INIT;
		unsigned ndays = 12345;
		int ret = period_parse(c->input, c->len, c->final, TODAY, c->max_days, &norm,
				       &ndays, &why);

		if (ret != c->ret || (c->why && !strstr(buf_str(&why), c->why)))
			fprintf(stderr, "case '%.*s': ret %d, why '%s'\n", (int)c->len, c->input,
				ret, buf_str(&why));
		CHECK_INT(ret, c->ret);
		if (c->ret == 0) {
			CHECK_STR(buf_str(&norm), c->normalized);
			CHECK_INT(ndays, c->ndays);
			CHECK_INT(why.len, 0);
		} else {
			CHECK(why.len > 0);
			CHECK(c->why && strstr(buf_str(&why), c->why) != NULL);
			/* A reason is one printable line: it goes into .status. */
			CHECK(strpbrk(buf_str(&why), "\n\r") == NULL);
			for (size_t k = 0; k < why.len; k++)
				CHECK((unsigned char)why.data[k] >= 0x20 &&
				      (unsigned char)why.data[k] < 0x7f);
		}
		buf_release(&norm);
		buf_release(&why);
	}
}

/* A long garbage item is quoted shortened in the reason. */
static void test_long_reason(void)
{
	char in[300];
	struct buf norm = BUF_INIT, why = BUF_INIT;
	unsigned n;

	memset(in, 'x', sizeof(in));
	CHECK_INT(period_parse(in, sizeof(in), 1, TODAY, SPAN, &norm, &n, &why), -EINVAL);
	CHECK(why.len < 120);
	CHECK(strstr(buf_str(&why), "not a date") != NULL);
	buf_release(&norm);
	buf_release(&why);
}

/* ---- period_each_day ---- */

struct days {
	int64_t v[64];
	size_t n;
	size_t stop_after; /* return 7 after this many calls (0: never) */
};

static int add_day(void *ctx, int64_t day)
{
	struct days *d = ctx;

	if (d->n < 64)
		d->v[d->n] = day;
	d->n++;
	return d->stop_after && d->n == d->stop_after ? 7 : 0;
}

static int64_t D(const char *s)
{
	int64_t t = -1;

	CHECK_INT(clock_parse_date(s, &t), 0);
	return t;
}

static void test_each_day(void)
{
	static const struct {
		const char *period;
		int ret;
		const char *days[12];
	} cases[] = {
		{"2025-01-14", 0, {"2025-01-14"}},
		{"2025-01-30..2025-02-02", 0,
		 {"2025-01-30", "2025-01-31", "2025-02-01", "2025-02-02"}},
		{"2024-02-28..2024-03-01,2025-01-14", 0,
		 {"2024-02-28", "2024-02-29", "2024-03-01", "2025-01-14"}},
		{"2023-12-31..2024-01-01,2022-06-01,2022-06-01", 0,
		 {"2023-12-31", "2024-01-01", "2022-06-01", "2022-06-01"}},
		{"1969-12-31..1970-01-01", 0, {"1969-12-31", "1970-01-01"}},
		{"", 0, {NULL}},
		/* Far in the future is fine here: parsing checked "now" already. */
		{"2099-12-31", 0, {"2099-12-31"}},
		{"bad", -EINVAL, {NULL}},
		{"2025-01-14,bad", -EINVAL, {"2025-01-14"}},
		{"2025-01-02..2025-01-01", -EINVAL, {NULL}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct days got = {{0}, 0, 0};
		size_t want = 0;
		int ret = period_each_day(cases[i].period, add_day, &got);

		CHECK_INT(ret, cases[i].ret);
		while (want < 12 && cases[i].days[want])
			want++;
		if (got.n != want)
			fprintf(stderr, "period '%s'\n", cases[i].period);
		CHECK_INT(got.n, want);
		for (size_t k = 0; k < want && k < got.n; k++) {
			char s[16];
			clock_date(got.v[k], s);
			CHECK_STR(s, cases[i].days[k]);
			/* Every day is 00:00 UTC. */
			CHECK_INT(got.v[k], clock_day(got.v[k]));
		}
	}

	/* The callback's error stops the walk and is returned. */
	struct days stop = {{0}, 0, 2};
	CHECK_INT(period_each_day("2025-01-01..2025-01-10", add_day, &stop), 7);
	CHECK_INT(stop.n, 2);
}

/* What parse normalizes, each_day walks: exactly ndays days. */
static void test_round_trip(void)
{
	const char *inputs[] = {
		"2024-01-01..2024-01-31\n",
		"2025-01-01\n2025-01-03, 2025-01-05..2025-01-07\n",
		"2024-02-01..2024-03-31",
		"2024-01-01..2025-01-15",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct buf norm = BUF_INIT, why = BUF_INIT;
		struct days got = {{0}, 0, 0};
		unsigned n = 0;
		CHECK_INT(period_parse(inputs[i], strlen(inputs[i]), 1, TODAY, SPAN, &norm, &n,
				       &why), 0);
		CHECK_INT(period_each_day(buf_str(&norm), add_day, &got), 0);
		CHECK_INT(got.n, n);
		buf_release(&norm);
		buf_release(&why);
	}
}

static void test_format(void)
{
	struct buf b = BUF_INIT;

	period_format(D("2025-01-14"), D("2025-01-14"), &b);
	CHECK_STR(buf_str(&b), "2025-01-14");
	buf_reset(&b);
	period_format(D("2025-01-15"), D("2025-01-17"), &b);
	CHECK_STR(buf_str(&b), "2025-01-15..2025-01-17");
	buf_reset(&b);
	/* Any time of the day formats as its date. */
	period_format(D("2025-01-14") + 3600, D("2025-01-15") + 86399, &b);
	CHECK_STR(buf_str(&b), "2025-01-14..2025-01-15");
	buf_release(&b);
}

int main(void)
{
	CHECK_INT(D("2025-01-15"), TODAY);
	run_cases(accepted, sizeof(accepted) / sizeof(accepted[0]));
	run_cases(refused, sizeof(refused) / sizeof(refused[0]));
	CHECK(sizeof(refused) / sizeof(refused[0]) >= 15);
	test_long_reason();
	test_each_day();
	test_round_trip();
	test_format();
	return check_done();
}
