/*
 * Unit test of schedule: the slot grid (first slot, next slot, latest
 * slot), what a scheduled run exports (daily, hourly with its first slot
 * of the day, catch-up after downtime, the span bound), what a resume
 * treats as covered, and a small simulated scheduler that strings them
 * together the way exporter/scheduler.c does.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "base/clock.h"
#include "schedule.h"

#define DAILY SCHEDULE_DAILY
#define HOURLY SCHEDULE_HOURLY

/* "2025-01-14T10:00:00Z" or "2025-01-14" as Unix seconds; NULL is 0. */
static int64_t T(const char *s)
{
	int64_t t = 0;

	if (!s)
		return 0;
	if (clock_parse_iso8601(s, &t) < 0) {
		fprintf(stderr, "bad time in test: %s\n", s);
		CHECK(0);
	}
	return t;
}

static const char *iso(int64_t t, char out[32])
{
	clock_iso8601(t, out);
	return out;
}

static void check_time(int64_t got, const char *want, const char *what)
{
	char g[32];

	if (got != T(want))
		fprintf(stderr, "%s: got %s, want %s\n", what, iso(got, g), want);
	CHECK_INT(got, T(want));
}

static void test_kind(void)
{
	CHECK_INT(schedule_kind("daily"), DAILY);
	CHECK_INT(schedule_kind("hourly"), HOURLY);
	CHECK_INT(schedule_kind(NULL), DAILY);
	CHECK_INT(schedule_kind(""), DAILY);
	CHECK_INT(schedule_kind("weekly"), DAILY);
	CHECK_INT(schedule_kind("Hourly"), DAILY);
	CHECK_INT(schedule_interval(DAILY), 86400);
	CHECK_INT(schedule_interval(HOURLY), 3600);
}

static void test_first(void)
{
	static const struct {
		enum schedule_kind k;
		const char *t, *want;
	} cases[] = {
		/* A new destination's first run: the next 00:00 UTC after creation. */
		{DAILY, "2025-01-14T10:00:00Z", "2025-01-15T00:00:00Z"},
		{DAILY, "2025-01-14T00:00:00Z", "2025-01-15T00:00:00Z"}, /* strictly after */
		{DAILY, "2025-01-14T23:59:59Z", "2025-01-15T00:00:00Z"},
		{DAILY, "2024-12-31T12:00:00Z", "2025-01-01T00:00:00Z"},
		{DAILY, "2024-02-28T12:00:00Z", "2024-02-29T00:00:00Z"},
		{HOURLY, "2025-01-14T10:00:00Z", "2025-01-14T11:00:00Z"},
		{HOURLY, "2025-01-14T10:59:59Z", "2025-01-14T11:00:00Z"},
		{HOURLY, "2025-01-14T10:00:01Z", "2025-01-14T11:00:00Z"},
		{HOURLY, "2025-01-14T23:30:00Z", "2025-01-15T00:00:00Z"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_time(schedule_first(cases[i].k, T(cases[i].t)), cases[i].want,
			   cases[i].t);
}

static void test_next_and_latest(void)
{
	static const struct {
		enum schedule_kind k;
		const char *next_run_at, *now;
		const char *next, *latest; /* latest: NULL when no slot is due */
	} cases[] = {
		/* Not due yet: the clock stays. */
		{DAILY, "2025-01-15T00:00:00Z", "2025-01-14T12:00:00Z", "2025-01-15T00:00:00Z",
		 NULL},
		/* Due exactly at the slot, and a little after. */
		{DAILY, "2025-01-15T00:00:00Z", "2025-01-15T00:00:00Z", "2025-01-16T00:00:00Z",
		 "2025-01-15T00:00:00Z"},
		{DAILY, "2025-01-15T00:00:00Z", "2025-01-15T00:00:05Z", "2025-01-16T00:00:00Z",
		 "2025-01-15T00:00:00Z"},
		/* After three days down: one step to the next slot after now. */
		{DAILY, "2025-01-15T00:00:00Z", "2025-01-18T00:00:10Z", "2025-01-19T00:00:00Z",
		 "2025-01-18T00:00:00Z"},
		{DAILY, "2025-01-15T00:00:00Z", "2025-01-17T23:59:59Z", "2025-01-18T00:00:00Z",
		 "2025-01-17T00:00:00Z"},
		/* A clock off midnight keeps its phase (time of day). */
		{DAILY, "2025-01-15T06:30:00Z", "2025-01-17T12:00:00Z", "2025-01-18T06:30:00Z",
		 "2025-01-17T06:30:00Z"},
		{DAILY, "2025-01-15T06:30:00Z", "2025-01-17T06:29:59Z", "2025-01-17T06:30:00Z",
		 "2025-01-16T06:30:00Z"},
		/* Across a year and a leap day. */
		{DAILY, "2024-02-28T00:00:00Z", "2024-03-01T01:00:00Z", "2024-03-02T00:00:00Z",
		 "2024-03-01T00:00:00Z"},
		{HOURLY, "2025-01-14T10:00:00Z", "2025-01-14T09:59:59Z", "2025-01-14T10:00:00Z",
		 NULL},
		{HOURLY, "2025-01-14T10:00:00Z", "2025-01-14T10:00:00Z", "2025-01-14T11:00:00Z",
		 "2025-01-14T10:00:00Z"},
		{HOURLY, "2025-01-14T10:00:00Z", "2025-01-14T13:20:00Z", "2025-01-14T14:00:00Z",
		 "2025-01-14T13:00:00Z"},
		{HOURLY, "2025-01-14T23:00:00Z", "2025-01-15T00:30:00Z", "2025-01-15T01:00:00Z",
		 "2025-01-15T00:00:00Z"},
		{HOURLY, "2025-01-14T23:00:00Z", "2025-01-17T05:59:59Z", "2025-01-17T06:00:00Z",
		 "2025-01-17T05:00:00Z"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t nra = T(cases[i].next_run_at), now = T(cases[i].now);
		int64_t next = schedule_next_after(cases[i].k, nra, now);
		check_time(next, cases[i].next, cases[i].now);
		CHECK(next > now);
		/* The phase never moves. */
		CHECK_INT((next - nra) % schedule_interval(cases[i].k), 0);
		if (cases[i].latest) {
			int64_t latest = schedule_latest_slot(cases[i].k, nra, now);
			check_time(latest, cases[i].latest, cases[i].now);
			CHECK(latest <= now && latest >= nra);
			CHECK_INT(next - latest, schedule_interval(cases[i].k));
		}
	}
}

static void test_period(void)
{
	static const struct {
		enum schedule_kind k;
		const char *slot, *last_ok_day; /* NULL: no successful scheduled run yet */
		unsigned span;
		const char *first, *last;
	} cases[] = {
		/* daily: the latest complete UTC day. */
		{DAILY, "2025-01-15T00:00:00Z", NULL, 400, "2025-01-14", "2025-01-14"},
		{DAILY, "2025-01-15T00:00:00Z", "2025-01-13", 400, "2025-01-14", "2025-01-14"},
		{DAILY, "2025-01-15T00:00:00Z", "2025-01-14", 400, "2025-01-14", "2025-01-14"},
		{DAILY, "2025-01-15T06:30:00Z", "2025-01-13", 400, "2025-01-14", "2025-01-14"},
		{DAILY, "2025-01-01T00:00:00Z", "2024-12-30", 400, "2024-12-31", "2024-12-31"},
		/* daily after 3 days down: every missed day, as one run. */
		{DAILY, "2025-01-18T00:00:00Z", "2025-01-14", 400, "2025-01-15", "2025-01-17"},
		{DAILY, "2025-01-18T00:00:00Z", "2025-01-14", 3, "2025-01-15", "2025-01-17"},
		{DAILY, "2025-01-18T00:00:00Z", "2025-01-14", 2, "2025-01-16", "2025-01-17"},
		{DAILY, "2025-01-18T00:00:00Z", "2025-01-14", 1, "2025-01-17", "2025-01-17"},
		{DAILY, "2024-03-02T00:00:00Z", "2024-02-27", 400, "2024-02-28", "2024-03-01"},
		/* ... bounded by the span: a year and more down. */
		{DAILY, "2026-03-01T00:00:00Z", "2024-01-01", 400, "2025-01-25", "2026-02-28"},
		{DAILY, "2026-03-01T00:00:00Z", "2024-01-01", 0, "2024-01-02", "2026-02-28"},
		/* hourly: today so far; the first slot of a day adds yesterday. */
		{HOURLY, "2025-01-15T00:00:00Z", NULL, 400, "2025-01-14", "2025-01-15"},
		{HOURLY, "2025-01-15T00:00:00Z", "2025-01-14", 400, "2025-01-14", "2025-01-15"},
		{HOURLY, "2025-01-15T01:00:00Z", NULL, 400, "2025-01-15", "2025-01-15"},
		{HOURLY, "2025-01-15T01:00:00Z", "2025-01-15", 400, "2025-01-15", "2025-01-15"},
		{HOURLY, "2025-01-15T13:00:00Z", "2025-01-15", 400, "2025-01-15", "2025-01-15"},
		{HOURLY, "2025-01-15T23:00:00Z", "2025-01-15", 400, "2025-01-15", "2025-01-15"},
		/* The 00:00 run failed: yesterday was only "so far", redo it. */
		{HOURLY, "2025-01-15T01:00:00Z", "2025-01-14", 400, "2025-01-14", "2025-01-15"},
		/* hourly after 3 days down: the last day covered, redone, to today. */
		{HOURLY, "2025-01-18T05:00:00Z", "2025-01-15", 400, "2025-01-15", "2025-01-18"},
		{HOURLY, "2025-01-18T00:00:00Z", "2025-01-15", 400, "2025-01-15", "2025-01-18"},
		{HOURLY, "2025-01-18T05:00:00Z", "2025-01-15", 2, "2025-01-17", "2025-01-18"},
		{HOURLY, "2025-01-15T00:00:00Z", NULL, 1, "2025-01-15", "2025-01-15"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t first = -1, last = -1;
		schedule_period(cases[i].k, T(cases[i].slot), T(cases[i].last_ok_day),
				cases[i].span, &first, &last);
		check_time(first, cases[i].first, cases[i].slot);
		check_time(last, cases[i].last, cases[i].slot);
		CHECK(first <= last);
		if (cases[i].span)
			CHECK((last - first) / 86400 + 1 <= cases[i].span);
	}
}

static void test_covered_at_resume(void)
{
	static const struct {
		enum schedule_kind k;
		const char *next_run_at, *now;
		const char *covered; /* NULL: no slot fell while paused */
	} cases[] = {
		{DAILY, "2025-01-15T00:00:00Z", "2025-01-14T12:00:00Z", NULL},
		{DAILY, "2025-01-15T00:00:00Z", "2025-01-15T00:00:00Z", "2025-01-14"},
		{DAILY, "2025-01-15T00:00:00Z", "2025-01-17T12:00:00Z", "2025-01-16"},
		{DAILY, "2025-01-15T06:30:00Z", "2025-01-17T06:00:00Z", "2025-01-15"},
		{HOURLY, "2025-01-15T10:00:00Z", "2025-01-15T09:30:00Z", NULL},
		{HOURLY, "2025-01-15T10:00:00Z", "2025-01-15T13:20:00Z", "2025-01-15"},
		{HOURLY, "2025-01-14T23:00:00Z", "2025-01-15T00:30:00Z", "2025-01-15"},
		{HOURLY, "2025-01-14T23:00:00Z", "2025-01-14T23:30:00Z", "2025-01-14"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = schedule_covered_at_resume(cases[i].k, T(cases[i].next_run_at),
							 T(cases[i].now));
		if (cases[i].covered)
			check_time(got, cases[i].covered, cases[i].now);
		else
			CHECK_INT(got, 0);
	}
}

/*
 * A simulated scheduler, as exporter/scheduler.c drives these functions: every
 * tick, a due clock makes one run (slot = the latest slot, period from the
 * last day a successful scheduled run covered) and moves to the next slot
 * after now.  Pause stops ticks from running it; resume keeps the phase and
 * marks the fallen slots covered.
 */
struct sim {
	enum schedule_kind k;
	int64_t next_run_at, last_ok_day;
	int paused;
	unsigned span;
	char runs[16][96]; /* "slot first..last" */
	size_t nruns;
};

static void sim_tick(struct sim *s, int64_t now)
{
	if (s->paused || s->next_run_at > now)
		return;
	int64_t slot = schedule_latest_slot(s->k, s->next_run_at, now), first, last;
	char a[32], b[16], c[16];
	schedule_period(s->k, slot, s->last_ok_day, s->span, &first, &last);
	s->next_run_at = schedule_next_after(s->k, s->next_run_at, now);
	clock_date(first, b);
	clock_date(last, c);
	if (s->nruns < 16)
		snprintf(s->runs[s->nruns], sizeof(s->runs[0]), "%s %s..%s", iso(slot, a), b,
			 c);
	s->nruns++;
	s->last_ok_day = last > s->last_ok_day ? last : s->last_ok_day; /* it succeeded */
}

/* Ticks every minute from..to (exclusive), as a running daemon does. */
static void sim_run(struct sim *s, const char *from, const char *to)
{
	for (int64_t t = T(from); t < T(to); t += 60)
		sim_tick(s, t);
}

static void sim_resume(struct sim *s, int64_t now)
{
	int64_t covered = schedule_covered_at_resume(s->k, s->next_run_at, now);

	s->next_run_at = schedule_next_after(s->k, s->next_run_at, now);
	if (covered > s->last_ok_day)
		s->last_ok_day = covered;
	s->paused = 0;
}

static void check_runs(const struct sim *s, const char *const *want, size_t n)
{
	CHECK_INT(s->nruns, n);
	for (size_t i = 0; i < n && i < s->nruns; i++)
		CHECK_STR(s->runs[i], want[i]);
}

static void test_simulated(void)
{
	/* Daily, created at 10:00: runs each midnight; 3 days down; one catch-up. */
	struct sim d = {DAILY, 0, 0, 0, 400, {{0}}, 0};
	d.next_run_at = schedule_first(DAILY, T("2025-01-14T10:00:00Z"));
	sim_run(&d, "2025-01-14T10:00:00Z", "2025-01-16T12:00:00Z");
	/* down from 2025-01-16T12:00 to 2025-01-19T12:00 */
	sim_run(&d, "2025-01-19T12:00:00Z", "2025-01-20T01:00:00Z");
	/* The catch-up run's slot is the latest one that fell (01-19 00:00). */
	static const char *const daily[] = {
		"2025-01-15T00:00:00Z 2025-01-14..2025-01-14",
		"2025-01-16T00:00:00Z 2025-01-15..2025-01-15",
		"2025-01-19T00:00:00Z 2025-01-16..2025-01-18",
		"2025-01-20T00:00:00Z 2025-01-19..2025-01-19",
	};
	check_runs(&d, daily, 4);

	/* Hourly across midnight: the 00:00 run also exports yesterday. */
	struct sim h = {HOURLY, 0, 0, 0, 400, {{0}}, 0};
	h.next_run_at = schedule_first(HOURLY, T("2025-01-14T21:30:00Z"));
	sim_run(&h, "2025-01-14T21:30:00Z", "2025-01-15T01:30:00Z");
	static const char *const hourly[] = {
		"2025-01-14T22:00:00Z 2025-01-14..2025-01-14",
		"2025-01-14T23:00:00Z 2025-01-14..2025-01-14",
		"2025-01-15T00:00:00Z 2025-01-14..2025-01-15",
		"2025-01-15T01:00:00Z 2025-01-15..2025-01-15",
	};
	check_runs(&h, hourly, 4);

	/* Hourly, 3 days down: one run from the last day covered to today. */
	h.nruns = 0;
	sim_run(&h, "2025-01-18T04:10:00Z", "2025-01-18T05:10:00Z");
	static const char *const hourly_down[] = {
		"2025-01-18T04:00:00Z 2025-01-15..2025-01-18",
		"2025-01-18T05:00:00Z 2025-01-18..2025-01-18",
	};
	check_runs(&h, hourly_down, 2);

	/* Daily paused 2.5 days: no runs; resume keeps 00:00; fallen slots skipped. */
	struct sim p = {DAILY, 0, 0, 0, 400, {{0}}, 0};
	p.next_run_at = schedule_first(DAILY, T("2025-01-14T10:00:00Z"));
	sim_run(&p, "2025-01-14T10:00:00Z", "2025-01-15T12:00:00Z");
	p.paused = 1;
	sim_run(&p, "2025-01-15T12:00:00Z", "2025-01-18T02:00:00Z");
	CHECK_INT(p.nruns, 1);
	sim_resume(&p, T("2025-01-18T02:00:00Z"));
	check_time(p.next_run_at, "2025-01-19T00:00:00Z", "next_run_at after resume");
	sim_run(&p, "2025-01-18T02:00:00Z", "2025-01-19T01:00:00Z");
	static const char *const paused[] = {
		"2025-01-15T00:00:00Z 2025-01-14..2025-01-14",
		"2025-01-19T00:00:00Z 2025-01-18..2025-01-18",
	};
	check_runs(&p, paused, 2);

	/* A clock off midnight (06:30) keeps its time of day through a pause. */
	struct sim q = {DAILY, T("2025-01-15T06:30:00Z"), T("2025-01-13"), 0, 400, {{0}}, 0};
	q.paused = 1;
	sim_resume(&q, T("2025-01-17T12:00:00Z"));
	check_time(q.next_run_at, "2025-01-18T06:30:00Z", "phase kept");
	sim_run(&q, "2025-01-17T12:00:00Z", "2025-01-18T07:00:00Z");
	static const char *const phase[] = {"2025-01-18T06:30:00Z 2025-01-17..2025-01-17"};
	check_runs(&q, phase, 1);

}

int main(void)
{
	test_kind();
	test_first();
	test_next_and_latest();
	test_period();
	test_covered_at_resume();
	test_simulated();
	return check_done();
}
