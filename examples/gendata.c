/*
 * gendata.c - deterministic demo data for the warehousefs analytics source
 *
 * Writes a new SQLite database in the source schema warehousefs exports from
 * (websites + analytics_daily, see SCHEMA_SQL) holding TEAMS x WEBSITES x DAYS
 * rows of plausible daily website traffic: website sizes are heavy-tailed
 * (log-normal), visits follow a weekly and a yearly cycle, a per-website trend,
 * daily noise and rare spikes, and the derived metrics keep their invariants
 * (unique_visitors <= total_visitors <= pageviews, 0 <= bounce_rate <= 1).
 * --edge-cases adds the team "edge-team", whose ids, domains and values
 * exercise CSV quoting and NULL handling.
 *
 * Determinism: every value comes from xoshiro256** streams seeded through
 * splitmix64 from (--seed, what the stream is for, website index), never from
 * rand() or the clock, and exp/log/cos are computed here from + - * / (libm's
 * last bit varies between C libraries and CPUs), so the same arguments give
 * the same table contents on every machine; the build turns off FMA
 * contraction for the same reason.  More --days only appends days, and
 * --null-rate only blanks values, drawn from a stream of their own.
 *
 * Speed and memory: one thread, one transaction with journal and fsync off,
 * multi-row INSERTs prepared once and reused.  Rows go in primary-key order:
 * website k's UUID is drawn from the k-th of N equal slices of the id space,
 * so ids come out sorted without ever sorting them, and each website's days
 * follow in date order (edge-team's few rows come last).  Memory is a batch
 * of websites and rows plus SQLite's capped page cache, whatever the number
 * of teams, websites or days.  The secondary indexes are built after the
 * load.
 *
 * Errors: functions return 0 or a negative errno and print what failed; only
 * main() exits.  An output file this program created is removed on failure.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define GENDATA_PROG		"gendata"
#define GENDATA_PROGRESS_ROWS	UINT64_C(1000000)
#define GENDATA_BATCH		64	/* rows per multi-row INSERT */
#define GENDATA_ID_MAX		64	/* website_id buffer, with its NUL */

#define GENDATA_MAX_TEAMS	UINT64_C(100000000)
#define GENDATA_MAX_WEBSITES	UINT64_C(1000000000)
#define GENDATA_MAX_SITES	UINT64_C(10000000000)	/* teams x websites */
#define GENDATA_MAX_ROWS	UINT64_C(1000000000000)
#define GENDATA_ID_BITS		58	/* ordered part of a website id */

#define GENDATA_TAU		6.283185307179586
#define GENDATA_DAYS_PER_YEAR	365.2425

enum {
	GENDATA_EXIT_OK = 0,
	GENDATA_EXIT_RUNTIME = 1,
	GENDATA_EXIT_USAGE = 2,
};

/* What a random stream is for: a tag mixed into its seed. */
enum gendata_stream {
	GENDATA_STREAM_TEAM = 1,
	GENDATA_STREAM_SITE,
	GENDATA_STREAM_DAYS,
	GENDATA_STREAM_NULLS,
	GENDATA_STREAM_EDGE_SITE,
	GENDATA_STREAM_EDGE_DAYS,
};

/* Which metrics of a row are stored as NULL. */
enum {
	GENDATA_NULL_TOTAL = 1 << 0,
	GENDATA_NULL_UNIQUE = 1 << 1,
	GENDATA_NULL_PAGEVIEWS = 1 << 2,
	GENDATA_NULL_BOUNCE = 1 << 3,
	GENDATA_NULL_DURATION = 1 << 4,
	GENDATA_NULL_ALL = (1 << 5) - 1,
};

struct gendata_opts {
	uint64_t teams;
	uint64_t websites;	/* per team */
	uint64_t days;
	int64_t start;		/* first date, days since 1970-01-01 */
	uint64_t seed;
	double null_rate;
	bool edge_cases;
	bool force;
	bool quiet;
	bool help;
	const char *path;
};

struct rng {
	uint64_t s[4];
};

/* One website: its identity, its traffic profile and its value streams. */
struct site {
	char id[GENDATA_ID_MAX];
	char team_id[37];
	char domain[96];
	bool domain_null;
	double visitors;	/* typical visitors on a day */
	const double *week;	/* weekday factors, Monday first */
	double growth;		/* trend, log factor per year */
	double season;		/* amplitude of the yearly cycle */
	double season_peak;	/* where it peaks, fraction of a year */
	double unique_share;	/* unique / total visitors */
	double pages;		/* pageviews per visit */
	double bounce;		/* share of one-page visits */
	double duration;	/* typical seconds per session */
	struct rng rng;		/* daily values */
	struct rng nulls;	/* which values --null-rate blanks */
};

struct day_row {
	int64_t total;
	int64_t unique;
	int64_t pageviews;
	double bounce_rate;
	double duration;
	unsigned nulls;		/* GENDATA_NULL_* */
};

/* An analytics_daily row waiting in the batch. */
struct batch_row {
	char website_id[GENDATA_ID_MAX];
	char date[11];
	struct day_row v;
};

struct writer {
	sqlite3 *db;
	sqlite3_stmt *insert_site;	/* one row */
	sqlite3_stmt *insert_sites;	/* GENDATA_BATCH rows */
	sqlite3_stmt *insert_day;	/* one row */
	sqlite3_stmt *insert_days;	/* GENDATA_BATCH rows */
	struct batch_row batch[GENDATA_BATCH];
	unsigned batched;		/* rows in batch[] */
	const char *path;		/* as the user named it, for messages */
	uint64_t rows;			/* rows inserted */
	uint64_t rows_total;
	bool quiet;
};

static const char SCHEMA_SQL[] =
	"CREATE TABLE websites(website_id TEXT PRIMARY KEY, "
	"team_id TEXT NOT NULL, domain TEXT);\n"
	"CREATE TABLE analytics_daily(website_id TEXT NOT NULL, "
	"date TEXT NOT NULL, total_visitors INTEGER, unique_visitors INTEGER, "
	"pageviews INTEGER, bounce_rate REAL, avg_session_duration REAL, "
	"PRIMARY KEY(website_id, date));\n";

static const char INDEX_SQL[] =
	"CREATE INDEX websites_team ON websites(team_id);\n"
	"CREATE INDEX analytics_daily_date ON analytics_daily(date);\n";

/* Weekday traffic shapes, Monday first: office hours, leisure, steady. */
static const double WEEK_SHAPES[][7] = {
	{ 1.12, 1.15, 1.13, 1.10, 0.98, 0.55, 0.57 },
	{ 0.92, 0.95, 0.96, 0.98, 1.02, 1.10, 1.07 },
	{ 1.00, 1.02, 1.01, 1.00, 0.97, 0.98, 1.02 },
};

static const char *const DOMAIN_SUBS[] = {
	"", "", "", "", "www.", "www.", "shop.", "blog.", "docs.", "app.",
};

static const char *const DOMAIN_WORDS[] = {
	"quiet", "bright", "northern", "copper", "golden", "silver", "little",
	"urban", "wild", "blue", "green", "red", "rapid", "sunny", "old",
	"happy", "clever", "hidden", "open", "prime", "nova", "alpine",
	"coastal", "maple", "cedar", "iron", "lunar", "solar", "velvet",
	"amber", "misty", "brave",
};

static const char *const DOMAIN_NOUNS[] = {
	"harbor", "orchard", "fox", "river", "pixel", "garden", "bakery",
	"studio", "labs", "market", "books", "travel", "coffee", "bikes",
	"cloud", "forge", "atlas", "kitchen", "outfitters", "news", "journal",
	"academy", "clinic", "games", "supply", "works", "records", "gallery",
	"fitness", "homes", "pets", "tools",
};

static const char *const DOMAIN_TLDS[] = { "com", "com", "org", "net" };

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- random numbers ---------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_init(struct rng *r, uint64_t seed, enum gendata_stream what,
		     uint64_t index)
{
	uint64_t x = seed;

	/* Chain the inputs through the mixer so that neighbouring seeds,
	 * streams and indexes give unrelated states. */
	x = splitmix64(&x) ^ (uint64_t)what;
	x = splitmix64(&x) ^ index;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna). */
static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

/* ---- arithmetic that gives the same bits everywhere ---------------------
 *
 * libm's exp(), log() and cos() may differ in the last bit between C
 * libraries, and even between CPUs (glibc picks FMA variants at run time),
 * which would make the data depend on the machine.  These use only + - * /
 * and functions C defines exactly (round, ldexp, frexp, sqrt); they are
 * accurate to a few units in the last place, far below what the rounded
 * output shows.
 */

/* ln 2 in two parts, as fdlibm has it: HI * k is exact for the k used. */
#define GENDATA_LN2_HI	6.93147180369123816490e-01
#define GENDATA_LN2_LO	1.90821492927058770002e-10

static double det_exp(double x)
{
	double k, r, p;

	if (x < -700.0)
		return 0.0;
	if (x > 700.0)
		x = 700.0;
	k = round(x * 1.4426950408889634);
	/* |r| <= ln(2) / 2 */
	r = (x - k * GENDATA_LN2_HI) - k * GENDATA_LN2_LO;
	p = 1.0 / 6227020800.0;			/* Taylor series to r^13 */
	p = p * r + 1.0 / 479001600.0;
	p = p * r + 1.0 / 39916800.0;
	p = p * r + 1.0 / 3628800.0;
	p = p * r + 1.0 / 362880.0;
	p = p * r + 1.0 / 40320.0;
	p = p * r + 1.0 / 5040.0;
	p = p * r + 1.0 / 720.0;
	p = p * r + 1.0 / 120.0;
	p = p * r + 1.0 / 24.0;
	p = p * r + 1.0 / 6.0;
	p = p * r + 0.5;
	p = p * r + 1.0;
	p = p * r + 1.0;
	return ldexp(p, (int)k);
}

/* Natural logarithm of @x > 0. */
static double det_log(double x)
{
	double m, s, z, p;
	int e;

	m = frexp(x, &e);
	if (m < 0.7071067811865476) {
		m *= 2.0;
		e--;
	}
	/* log(m) = 2 atanh(s), |s| <= 0.172: series to s^19 */
	s = (m - 1.0) / (m + 1.0);
	z = s * s;
	p = 1.0 / 19.0;
	p = p * z + 1.0 / 17.0;
	p = p * z + 1.0 / 15.0;
	p = p * z + 1.0 / 13.0;
	p = p * z + 1.0 / 11.0;
	p = p * z + 1.0 / 9.0;
	p = p * z + 1.0 / 7.0;
	p = p * z + 1.0 / 5.0;
	p = p * z + 1.0 / 3.0;
	p = p * z + 1.0;
	return (double)e * GENDATA_LN2_HI +
	       (2.0 * s * p + (double)e * GENDATA_LN2_LO);
}

/* cos(2 pi @turns). */
static double det_cos_turns(double turns)
{
	double x = GENDATA_TAU * (turns - round(turns));	/* [-pi, pi] */
	double z = x * x;
	double p;

	p = 1.0 / 2432902008176640000.0;	/* Taylor series to x^20 */
	p = -p * z + 1.0 / 6402373705728000.0;
	p = -p * z + 1.0 / 20922789888000.0;
	p = -p * z + 1.0 / 87178291200.0;
	p = -p * z + 1.0 / 479001600.0;
	p = -p * z + 1.0 / 3628800.0;
	p = -p * z + 1.0 / 40320.0;
	p = -p * z + 1.0 / 720.0;
	p = -p * z + 1.0 / 24.0;
	p = -p * z + 0.5;
	p = -p * z + 1.0;
	return p;
}

/* Standard normal (Box-Muller, one of the pair), for website profiles. */
static double rng_normal(struct rng *r)
{
	double u = 1.0 - rng_unit(r);	/* (0, 1]: the log stays finite */
	double v = rng_unit(r);

	return sqrt(-2.0 * det_log(u)) * det_cos_turns(v);
}

/*
 * Daily noise: mean 0, deviation 1, close to normal but within +-3.46 (the
 * sum of four uniforms), so a day is never absurd.  One draw, no libm.
 */
static double rng_noise(struct rng *r)
{
	uint64_t x = rng_next(r);
	uint64_t sum = (x & 0xffff) + (x >> 16 & 0xffff) +
		       (x >> 32 & 0xffff) + (x >> 48);

	return ((double)sum + 2.0) / 65536.0 * 1.7320508075688772 -
	       2.0 * 1.7320508075688772;
}

/* Poisson for small means (Knuth), so small websites get whole-visit noise. */
static int64_t rng_poisson(struct rng *r, double mean)
{
	double limit = det_exp(-mean);
	double p = 1.0;
	int64_t k = -1;

	do {
		k++;
		p *= rng_unit(r);
	} while (p > limit);
	return k;
}

/* ---- dates ------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Writes the date as "YYYY-MM-DD" plus a NUL into @out (11 bytes). */
static void format_date(char *out, int64_t z)
{
	int64_t era, y;
	unsigned doe, yoe, doy, mp, m, d;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = (int64_t)yoe + era * 400 + (m <= 2);

	/* snprintf() would cost more than the rest of a row. */
	out[0] = (char)('0' + y / 1000 % 10);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + d / 10);
	out[9] = (char)('0' + d % 10);
	out[10] = '\0';
}

/* Parses "YYYY-MM-DD" (years 0001-9999) into days since 1970-01-01. */
static int parse_date(const char *s, int64_t *days)
{
	static const unsigned mdays[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	unsigned y, m, d, max;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -EINVAL;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return -EINVAL;
	y = (unsigned)atoi(s);
	m = (unsigned)atoi(s + 5);
	d = (unsigned)atoi(s + 8);
	if (y < 1 || m < 1 || m > 12 || d < 1)
		return -EINVAL;
	max = mdays[m - 1];
	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		max = 29;
	if (d > max)
		return -EINVAL;
	*days = days_from_civil(y, m, d);
	return 0;
}

static unsigned weekday(int64_t z)
{
	/* 1970-01-01 was a Thursday; Monday is 0. */
	return (unsigned)(((z % 7) + 7 + 3) % 7);
}

/* ---- websites and their days ------------------------------------------- */

/*
 * Formats a version 4 UUID whose 122 free bits are @hi (the top
 * GENDATA_ID_BITS) followed by @lo, so that ordering (hi, lo) orders the text.
 */
static void format_uuid(char *out, uint64_t hi, uint64_t lo)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t w[2];
	int n = 0;

	w[0] = (hi >> 10) << 16 | 0x4000 | (hi & 0x3ff) << 2 | lo >> 62;
	w[1] = 0x8000000000000000ULL | (lo & 0x3fffffffffffffffULL);
	for (int i = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[n++] = '-';
		out[n++] = hex[(w[i / 16] >> (60 - 4 * (i % 16))) & 0xf];
	}
	out[n] = '\0';
}

static void team_uuid(char *out, uint64_t seed, uint64_t team)
{
	struct rng r;
	uint64_t hi;

	rng_init(&r, seed, GENDATA_STREAM_TEAM, team);
	hi = rng_next(&r) >> (64 - GENDATA_ID_BITS);
	format_uuid(out, hi, rng_next(&r));
}

/* Draws a website's traffic profile from @r. */
static void site_profile(struct site *s, struct rng *r)
{
	double x;

	/* Median ~100 visitors a day; one site in a thousand past 20,000. */
	s->visitors = fmin(det_exp(4.6 + 1.7 * rng_normal(r)), 5e6);
	s->week = WEEK_SHAPES[rng_below(r, ARRAY_SIZE(WEEK_SHAPES))];
	s->growth = 0.35 * rng_normal(r);
	s->season = 0.25 * rng_unit(r);
	s->season_peak = rng_unit(r);
	s->unique_share = 0.55 + 0.40 * rng_unit(r);
	s->pages = 1.2 + det_exp(0.3 + 0.6 * rng_normal(r));
	/* Sites read page after page keep visitors longer and bounce less. */
	x = 0.78 - 0.08 * s->pages + 0.08 * rng_normal(r);
	s->bounce = fmin(fmax(x, 0.08), 0.92);
	s->duration = fmin(fmax(22.0 * s->pages * det_exp(0.35 * rng_normal(r)),
				12.0), 700.0);
}

/* Identity and profile of website @k, the k-th in id order. */
static void site_init(struct site *s, const struct gendata_opts *o,
		      uint64_t k, uint64_t slice)
{
	const char *sub, *word, *noun, *tld;
	struct rng r;
	uint64_t hi;

	rng_init(&r, o->seed, GENDATA_STREAM_SITE, k);
	hi = k * slice + rng_below(&r, slice);
	format_uuid(s->id, hi, rng_next(&r));
	/* Interleave teams so that each team's ids spread over the space. */
	team_uuid(s->team_id, o->seed, k % o->teams);

	/* One draw per statement: C leaves the order in which a call's
	 * arguments are evaluated to the compiler. */
	sub = DOMAIN_SUBS[rng_below(&r, ARRAY_SIZE(DOMAIN_SUBS))];
	word = DOMAIN_WORDS[rng_below(&r, ARRAY_SIZE(DOMAIN_WORDS))];
	noun = DOMAIN_NOUNS[rng_below(&r, ARRAY_SIZE(DOMAIN_NOUNS))];
	tld = DOMAIN_TLDS[rng_below(&r, ARRAY_SIZE(DOMAIN_TLDS))];
	snprintf(s->domain, sizeof(s->domain), "%s%s-%s-%" PRIu64 ".example.%s",
		 sub, word, noun, k + 1, tld);
	s->domain_null = false;
	site_profile(s, &r);
	rng_init(&s->rng, o->seed, GENDATA_STREAM_DAYS, k);
	rng_init(&s->nulls, o->seed, GENDATA_STREAM_NULLS, k);
}

static double round_to(double x, double scale)
{
	return round(x * scale) / scale;
}

/* The metrics of website @s on day @z, day @i of its series. */
static void site_day(struct site *s, int64_t z, uint64_t i, double null_rate,
		     struct day_row *row)
{
	struct rng *r = &s->rng;
	double mean, share, bounces, x;
	int64_t n;

	mean = s->visitors * s->week[weekday(z)];
	/* The trend levels off at x100 or /100, however long the series. */
	x = s->growth * (double)i / GENDATA_DAYS_PER_YEAR;
	mean *= det_exp(fmin(fmax(x, -4.6), 4.6));
	mean *= 1.0 + s->season * det_cos_turns((double)z /
			GENDATA_DAYS_PER_YEAR - s->season_peak);
	if (rng_unit(r) < 0.004)	/* a mention somewhere */
		mean *= 2.0 + 6.0 * rng_unit(r);
	mean *= det_exp(0.12 * rng_noise(r));
	n = mean < 30.0 ? rng_poisson(r, mean) : llround(mean);

	row->total = n;
	share = fmin(fmax(s->unique_share + 0.03 * rng_noise(r), 0.3), 1.0);
	row->unique = llround((double)n * share);
	if (row->unique < 1 && n > 0)
		row->unique = 1;
	x = fmax(s->pages * det_exp(0.08 * rng_noise(r)), 1.0);
	row->pageviews = llround((double)n * x);
	if (row->pageviews < n)
		row->pageviews = n;

	if (n == 0) {
		row->bounce_rate = 0.0;
		row->duration = 0.0;
	} else {
		/* Count bounced visits, so small sites get fractions of n. */
		x = fmin(fmax(s->bounce + 0.04 * rng_noise(r), 0.02), 0.98);
		bounces = (double)n * x +
			  sqrt((double)n * x * (1.0 - x)) * rng_noise(r);
		bounces = fmin(fmax(round(bounces), 0.0), (double)n);
		row->bounce_rate = round_to(bounces / (double)n, 1e4);
		x = s->duration * det_exp(0.15 * rng_noise(r));
		row->duration = round_to(fmin(fmax(x, 5.0), 900.0), 1e1);
	}

	row->nulls = 0;
	if (null_rate > 0.0)
		for (unsigned bit = 1; bit < GENDATA_NULL_ALL; bit <<= 1)
			if (rng_unit(&s->nulls) < null_rate)
				row->nulls |= bit;
}

/* ---- the database ------------------------------------------------------ */

static int db_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_PERM:
	case SQLITE_READONLY:
	case SQLITE_AUTH:
		return -EACCES;
	default:
		return -EIO;
	}
}

/* Reports that @what failed with SQLite code @rc; returns it as -errno. */
static int db_fail(struct writer *w, const char *what, int rc)
{
	fprintf(stderr, GENDATA_PROG ": cannot %s in '%s': %s\n", what,
		w->path, w->db ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc));
	return db_errno(rc);
}

static int db_exec(struct writer *w, const char *what, const char *sql)
{
	int rc = sqlite3_exec(w->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_fail(w, what, rc);
}

/* Runs @st, which has its parameters bound, and makes it ready for reuse. */
static int db_step(struct writer *w, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int ret = 0;

	if (rc != SQLITE_DONE)
		ret = db_fail(w, what, rc);
	sqlite3_reset(st);
	return ret;
}

/* Prepares an INSERT of @rows rows of @columns parameters into @table. */
static int db_prepare_insert(struct writer *w, const char *table, int columns,
			     int rows, sqlite3_stmt **st)
{
	sqlite3_str *sql = sqlite3_str_new(w->db);
	char *text;
	int rc;

	sqlite3_str_appendf(sql, "INSERT INTO %s VALUES", table);
	for (int r = 0; r < rows; r++) {
		sqlite3_str_appendall(sql, r ? ",(" : "(");
		for (int c = 0; c < columns; c++)
			sqlite3_str_appendall(sql, c ? ",?" : "?");
		sqlite3_str_appendall(sql, ")");
	}
	text = sqlite3_str_finish(sql);
	if (!text)
		return db_fail(w, "prepare insert", SQLITE_NOMEM);
	rc = sqlite3_prepare_v2(w->db, text, -1, st, NULL);
	sqlite3_free(text);
	return rc == SQLITE_OK ? 0 : db_fail(w, "prepare insert", rc);
}

/*
 * A multi-row INSERT costs a fraction of as many one-row INSERTs, so rows go
 * in batches of GENDATA_BATCH, and only a last, partial batch row by row.
 */
static int prepare_inserts(struct writer *w)
{
	int ret;

	ret = db_prepare_insert(w, "websites", 3, 1, &w->insert_site);
	if (ret == 0)
		ret = db_prepare_insert(w, "websites", 3, GENDATA_BATCH,
					&w->insert_sites);
	if (ret == 0)
		ret = db_prepare_insert(w, "analytics_daily", 7, 1,
					&w->insert_day);
	if (ret == 0)
		ret = db_prepare_insert(w, "analytics_daily", 7, GENDATA_BATCH,
					&w->insert_days);
	return ret;
}

/* Binds website @s to parameters @first .. @first + 2 of @st. */
static void bind_site(sqlite3_stmt *st, int first, const struct site *s)
{
	sqlite3_bind_text(st, first, s->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, first + 1, s->team_id, -1, SQLITE_STATIC);
	if (s->domain_null)
		sqlite3_bind_null(st, first + 2);
	else
		sqlite3_bind_text(st, first + 2, s->domain, -1, SQLITE_STATIC);
}

/* Inserts the @n websites @s into the websites table. */
static int write_websites(struct writer *w, const struct site *s, unsigned n)
{
	const char *what = "insert into websites";
	int ret = 0;

	if (n == GENDATA_BATCH) {
		for (unsigned i = 0; i < n; i++)
			bind_site(w->insert_sites, (int)i * 3 + 1, &s[i]);
		return db_step(w, w->insert_sites, what);
	}
	for (unsigned i = 0; i < n && ret == 0; i++) {
		bind_site(w->insert_site, 1, &s[i]);
		ret = db_step(w, w->insert_site, what);
	}
	return ret;
}

static void bind_int(sqlite3_stmt *st, int col, int64_t v, bool null)
{
	if (null)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_int64(st, col, v);
}

static void bind_real(sqlite3_stmt *st, int col, double v, bool null)
{
	if (null)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_double(st, col, v);
}

/* Binds @row to parameters @first .. @first + 6 of @st. */
static void bind_row(sqlite3_stmt *st, int first, const struct batch_row *row)
{
	const struct day_row *v = &row->v;
	unsigned nulls = v->nulls;

	sqlite3_bind_text(st, first, row->website_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, first + 1, row->date, 10, SQLITE_STATIC);
	bind_int(st, first + 2, v->total, nulls & GENDATA_NULL_TOTAL);
	bind_int(st, first + 3, v->unique, nulls & GENDATA_NULL_UNIQUE);
	bind_int(st, first + 4, v->pageviews, nulls & GENDATA_NULL_PAGEVIEWS);
	bind_real(st, first + 5, v->bounce_rate, nulls & GENDATA_NULL_BOUNCE);
	bind_real(st, first + 6, v->duration, nulls & GENDATA_NULL_DURATION);
}

/* Inserts the queued analytics_daily rows. */
static int flush_days(struct writer *w)
{
	const char *what = "insert into analytics_daily";
	uint64_t before = w->rows / GENDATA_PROGRESS_ROWS;
	int ret = 0;

	if (w->batched == GENDATA_BATCH) {
		for (unsigned i = 0; i < GENDATA_BATCH; i++)
			bind_row(w->insert_days, (int)i * 7 + 1, &w->batch[i]);
		ret = db_step(w, w->insert_days, what);
	} else {
		for (unsigned i = 0; i < w->batched && ret == 0; i++) {
			bind_row(w->insert_day, 1, &w->batch[i]);
			ret = db_step(w, w->insert_day, what);
		}
	}
	if (ret < 0)
		return ret;

	w->rows += w->batched;
	w->batched = 0;
	if (!w->quiet && w->rows / GENDATA_PROGRESS_ROWS != before)
		fprintf(stderr, GENDATA_PROG ": %" PRIu64 "/%" PRIu64 " rows\n",
			w->rows / GENDATA_PROGRESS_ROWS * GENDATA_PROGRESS_ROWS,
			w->rows_total);
	return 0;
}

/* Queues a row of website @s for insertion. */
static int write_day(struct writer *w, const struct site *s, int64_t z,
		     const struct day_row *v)
{
	struct batch_row *row = &w->batch[w->batched++];

	memcpy(row->website_id, s->id, sizeof(row->website_id));
	format_date(row->date, z);
	row->v = *v;
	return w->batched == GENDATA_BATCH ? flush_days(w) : 0;
}

/* Writes every website of every team, a batch of websites at a time. */
static int write_teams(struct writer *w, const struct gendata_opts *o)
{
	uint64_t n = o->teams * o->websites;
	uint64_t slice = (UINT64_C(1) << GENDATA_ID_BITS) / n;
	struct site sites[GENDATA_BATCH];
	struct day_row row;
	int ret;

	for (uint64_t k = 0; k < n; k += GENDATA_BATCH) {
		unsigned count = n - k < GENDATA_BATCH ? (unsigned)(n - k) :
			       GENDATA_BATCH;

		for (unsigned j = 0; j < count; j++)
			site_init(&sites[j], o, k + j, slice);
		ret = write_websites(w, sites, count);
		if (ret < 0)
			return ret;
		for (unsigned j = 0; j < count; j++) {
			for (uint64_t i = 0; i < o->days; i++) {
				int64_t z = o->start + (int64_t)i;

				site_day(&sites[j], z, i, o->null_rate, &row);
				ret = write_day(w, &sites[j], z, &row);
				if (ret < 0)
					return ret;
			}
		}
	}
	return 0;
}

/* ---- edge-team --------------------------------------------------------- */

enum edge_kind {
	GENDATA_EDGE_NORMAL,	/* ordinary values, odd text */
	GENDATA_EDGE_NULLS,	/* NULL metrics */
	GENDATA_EDGE_WHOLE,	/* REALs that are whole numbers */
	GENDATA_EDGE_BIG,	/* integers past 2^53 */
};

static const struct edge_site {
	const char *id;
	const char *domain;	/* NULL: stored as NULL */
	enum edge_kind kind;
} EDGE_SITES[] = {
	{ "edge,comma", "comma,shop.example.com", GENDATA_EDGE_NORMAL },
	{ "edge\"quote", "\"quoted\".example.com", GENDATA_EDGE_NORMAL },
	{ "edge\r\ncrlf", "line\nfeed.example.com", GENDATA_EDGE_NORMAL },
	{ "edge-utf8-ünïcødé-日本-🚀", "bücher-café.example.com",
	  GENDATA_EDGE_NORMAL },
	{ " edge spaces ", " spaces.example.com ", GENDATA_EDGE_NORMAL },
	{ "edge-nulls", NULL, GENDATA_EDGE_NULLS },
	{ "edge-whole", "", GENDATA_EDGE_WHOLE },
	{ "edge-big", "big.example.com", GENDATA_EDGE_BIG },
};

#define GENDATA_EDGE_TEAM "edge-team"

static void edge_day(struct site *s, enum edge_kind kind, int64_t z,
		     uint64_t i, struct day_row *row)
{
	static const struct day_row whole[] = {
		{ 0, 0, 0, 0.0, 0.0, 0 },
		{ 1, 1, 1, 1.0, 5.0, 0 },
		{ 40, 20, 80, 0.5, 120.0, 0 },
	};

	switch (kind) {
	case GENDATA_EDGE_NORMAL:
		site_day(s, z, i, 0.0, row);
		break;
	case GENDATA_EDGE_NULLS:
		site_day(s, z, i, 0.0, row);
		/* All NULL, only visitors counted, one value missing. */
		if (i % 3 == 0)
			row->nulls = GENDATA_NULL_ALL;
		else if (i % 3 == 1)
			row->nulls = GENDATA_NULL_ALL & ~GENDATA_NULL_TOTAL;
		else
			row->nulls = GENDATA_NULL_DURATION;
		break;
	case GENDATA_EDGE_WHOLE:
		*row = whole[i % ARRAY_SIZE(whole)];
		break;
	case GENDATA_EDGE_BIG:
		row->total = 9007199254740993LL;	/* 2^53 + 1 */
		row->unique = row->total - (int64_t)i;
		row->pageviews = INT64_MAX;
		row->bounce_rate = 0.0001;
		row->duration = 900.0;
		row->nulls = 0;
		break;
	}
}

static int write_edge_team(struct writer *w, const struct gendata_opts *o)
{
	struct day_row row;
	struct site s;
	int ret;

	for (size_t k = 0; k < ARRAY_SIZE(EDGE_SITES); k++) {
		const struct edge_site *e = &EDGE_SITES[k];
		struct rng r;

		memset(&s, 0, sizeof(s));
		snprintf(s.id, sizeof(s.id), "%s", e->id);
		snprintf(s.team_id, sizeof(s.team_id), "%s", GENDATA_EDGE_TEAM);
		snprintf(s.domain, sizeof(s.domain), "%s",
			 e->domain ? e->domain : "");
		s.domain_null = !e->domain;
		rng_init(&r, o->seed, GENDATA_STREAM_EDGE_SITE, k);
		site_profile(&s, &r);
		rng_init(&s.rng, o->seed, GENDATA_STREAM_EDGE_DAYS, k);

		ret = write_websites(w, &s, 1);
		if (ret < 0)
			return ret;
		for (uint64_t i = 0; i < o->days; i++) {
			int64_t z = o->start + (int64_t)i;

			edge_day(&s, e->kind, z, i, &row);
			ret = write_day(w, &s, z, &row);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/* ---- the output file --------------------------------------------------- */

static void report_errno(const char *what, const char *path, int err,
			 const char *hint)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "%s", strerror(err));
	msg[0] = (char)tolower((unsigned char)msg[0]);
	fprintf(stderr, GENDATA_PROG ": %s '%s': %s%s\n", what, path, msg,
		hint);
}

static const char *const SIDECARS[] = { "-journal", "-wal", "-shm" };

/*
 * Creates @path as a new empty file.  An existing file, or a journal left
 * beside it (SQLite would replay it into the new database), is an error
 * unless @force, which removes them first.
 */
static int output_create(const char *path, bool force)
{
	size_t len = strlen(path);
	char *name = malloc(len + 16);
	struct stat st;
	int ret = 0;
	int fd;

	if (!name) {
		ret = -ENOMEM;
		report_errno("cannot create", path, ENOMEM, "");
		goto out;
	}
	for (size_t i = 0; i <= ARRAY_SIZE(SIDECARS); i++) {
		snprintf(name, len + 16, "%s%s", path,
			 i ? SIDECARS[i - 1] : "");
		if (force) {
			if (unlink(name) < 0 && errno != ENOENT) {
				ret = -errno;
				report_errno("cannot remove", name, errno, "");
				goto out;
			}
		} else if (lstat(name, &st) == 0) {
			ret = -EEXIST;
			if (i == 0 && S_ISDIR(st.st_mode))
				report_errno("cannot create", path, EISDIR, "");
			else if (i == 0)
				report_errno("cannot create", path, EEXIST,
					     " (use --force)");
			else
				fprintf(stderr, GENDATA_PROG ": cannot create "
					"'%s': '%s' exists (use --force)\n",
					path, name);
			goto out;
		}
	}

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		report_errno("cannot create", path, errno,
			     errno == EEXIST ? " (use --force)" : "");
		goto out;
	}
	close(fd);
out:
	free(name);
	return ret;
}

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int generate(const struct gendata_opts *o)
{
	uint64_t teams = o->teams + (o->edge_cases ? 1 : 0);
	uint64_t sites = o->teams * o->websites +
			 (o->edge_cases ? ARRAY_SIZE(EDGE_SITES) : 0);
	struct writer w = {
		.path = o->path,
		.rows_total = sites * o->days,
		.quiet = o->quiet,
	};
	double started = now_seconds();
	char *db_path = NULL;
	bool created = false;
	int rc, ret;

	ret = output_create(o->path, o->force);
	if (ret < 0)
		goto out;
	created = true;

	/* "./" keeps a name like ":memory:" or "file:x" a plain file. */
	db_path = sqlite3_mprintf("%s%s", o->path[0] == '/' ? "" : "./",
				  o->path);
	if (!db_path) {
		ret = -ENOMEM;
		report_errno("cannot open", o->path, ENOMEM, "");
		goto out;
	}
	rc = sqlite3_open_v2(db_path, &w.db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		ret = db_errno(rc);
		fprintf(stderr, GENDATA_PROG ": cannot open '%s': %s\n",
			o->path,
			w.db ? sqlite3_errmsg(w.db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(w.db, 1);

	/*
	 * Nothing needs to survive a crash: a failed run leaves no file.
	 * The larger cache speeds up the index sorts.  (A sorter helper
	 * thread, PRAGMA threads, made them slower on two cores.)
	 */
	ret = db_exec(&w, "set up the database",
		      "PRAGMA journal_mode=OFF;"
		      "PRAGMA synchronous=OFF;"
		      "PRAGMA locking_mode=EXCLUSIVE;"
		      "PRAGMA cache_size=-65536;"
		      "BEGIN;");
	if (ret < 0)
		goto out;
	ret = db_exec(&w, "create tables", SCHEMA_SQL);
	if (ret < 0)
		goto out;
	ret = prepare_inserts(&w);
	if (ret < 0)
		goto out;

	ret = write_teams(&w, o);
	if (ret < 0)
		goto out;
	if (o->edge_cases) {
		ret = write_edge_team(&w, o);
		if (ret < 0)
			goto out;
	}
	ret = flush_days(&w);
	if (ret < 0)
		goto out;

	if (!o->quiet)
		fprintf(stderr, GENDATA_PROG ": creating indexes\n");
	ret = db_exec(&w, "create indexes", INDEX_SQL);
	if (ret < 0)
		goto out;
	ret = db_exec(&w, "commit the transaction", "COMMIT;");
	if (ret < 0)
		goto out;

	if (!o->quiet)
		fprintf(stderr, GENDATA_PROG ": wrote %" PRIu64 " row%s (%"
			PRIu64 " team%s, %" PRIu64 " website%s, %" PRIu64
			" day%s) to '%s' in %.1f seconds\n",
			w.rows, plural(w.rows), teams, plural(teams),
			sites, plural(sites), o->days, plural(o->days),
			o->path, now_seconds() - started);
out:
	sqlite3_finalize(w.insert_site);
	sqlite3_finalize(w.insert_sites);
	sqlite3_finalize(w.insert_day);
	sqlite3_finalize(w.insert_days);
	if (w.db && sqlite3_close(w.db) != SQLITE_OK && ret == 0)
		ret = db_fail(&w, "close the database", sqlite3_errcode(w.db));
	sqlite3_free(db_path);
	if (ret < 0 && created)
		unlink(o->path);
	return ret;
}

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *f)
{
	fputs(
"Usage: warehousefs-gendata [OPTION]... OUT.db\n"
"\n"
"Write a new SQLite database of demo analytics data in the source schema\n"
"warehousefs exports from: TEAMS x WEBSITES x DAYS rows of daily website\n"
"traffic. The data is deterministic: the same options give the same table\n"
"contents, so a test database can be regenerated rather than shipped.\n"
"\n"
"Options:\n"
"  --teams N        number of teams (default 2)\n"
"  --websites N     websites per team (default 5)\n"
"  --days N         days of data per website (default 30)\n"
"  --start DATE     first day, YYYY-MM-DD (default 2024-01-01)\n"
"  --seed N         seed of the random streams, 0 to 2^64-1 (default 1)\n"
"  --null-rate R    fraction, 0 to 1, of metric values stored as NULL\n"
"                   (default 0)\n"
"  --edge-cases     also write the team 'edge-team', whose websites have\n"
"                   ids and domains with a comma, a double quote, CR LF,\n"
"                   UTF-8 and spaces, and rows with NULL metrics, whole-\n"
"                   number REALs and integers past 2^53: values that\n"
"                   exercise CSV quoting (--null-rate does not apply)\n"
"  -f, --force      replace OUT.db, and remove its -journal, -wal and -shm\n"
"                   files, if they exist\n"
"  -q, --quiet      print nothing unless something fails\n"
"  -h, --help       print this help and exit\n"
"\n"
"Progress goes to standard error every 1,000,000 rows, then a summary.\n"
"\n", f);
	fputs(
"Schema:\n"
"  CREATE TABLE websites(website_id TEXT PRIMARY KEY, team_id TEXT NOT NULL,\n"
"      domain TEXT);\n"
"  CREATE TABLE analytics_daily(website_id TEXT NOT NULL, date TEXT NOT NULL,\n"
"      total_visitors INTEGER, unique_visitors INTEGER, pageviews INTEGER,\n"
"      bounce_rate REAL, avg_session_duration REAL,\n"
"      PRIMARY KEY(website_id, date));\n"
"  CREATE INDEX websites_team ON websites(team_id);\n"
"  CREATE INDEX analytics_daily_date ON analytics_daily(date);\n"
"The two indexes are recommended for any source database: an export looks\n"
"up one team's websites on one date.\n"
"\n"
"Values:\n"
"  team_id and website_id are lowercase version 4 UUIDs and domain a name\n"
"  under example.com, .org or .net. Website sizes are heavy-tailed; visits\n"
"  follow a weekly and a yearly cycle, a per-website trend, daily noise and\n"
"  rare spikes. unique_visitors <= total_visitors <= pageviews; bounce_rate\n"
"  is 0 to 1 with 4 decimals, avg_session_duration seconds (5 to 900) with\n"
"  1 decimal, and both are 0.0 on a day without visitors.\n"
"\n"
"Exit status:\n"
"  0  the database was written\n"
"  1  it could not be written (a partly written OUT.db is removed)\n"
"  2  the command line is invalid\n"
"\n"
"Examples:\n"
"  warehousefs-gendata demo.db\n"
"  warehousefs-gendata --teams 100 --websites 100 --days 1000 big.db\n"
"  warehousefs-gendata --edge-cases --null-rate 0.05 --force test.db\n", f);
}

static int usage_error(void)
{
	fputs("Try 'warehousefs-gendata --help' for more information.\n",
	      stderr);
	return GENDATA_EXIT_USAGE;
}

/* Parses a whole decimal number in [min, max]; reports and fails otherwise. */
static int parse_count(const char *opt, const char *s, uint64_t min,
		       uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!isdigit((unsigned char)s[0]) || *end || errno ||
	    v < min || v > max) {
		fprintf(stderr, GENDATA_PROG ": invalid %s '%s': expected a "
			"whole number from %" PRIu64 " to %" PRIu64 "\n",
			opt, s, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_rate(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !(v >= 0.0 && v <= 1.0)) {
		fprintf(stderr, GENDATA_PROG ": invalid --null-rate '%s': "
			"expected a number from 0 to 1\n", s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

enum {
	GENDATA_OPT_TEAMS = 256,
	GENDATA_OPT_WEBSITES,
	GENDATA_OPT_DAYS,
	GENDATA_OPT_START,
	GENDATA_OPT_SEED,
	GENDATA_OPT_NULL_RATE,
	GENDATA_OPT_EDGE_CASES,
};

/* Fills @o from argv; returns 0, or the exit code main() should return. */
static int parse_args(int argc, char **argv, struct gendata_opts *o)
{
	static const struct option longopts[] = {
		{ "teams", required_argument, NULL, GENDATA_OPT_TEAMS },
		{ "websites", required_argument, NULL, GENDATA_OPT_WEBSITES },
		{ "days", required_argument, NULL, GENDATA_OPT_DAYS },
		{ "start", required_argument, NULL, GENDATA_OPT_START },
		{ "seed", required_argument, NULL, GENDATA_OPT_SEED },
		{ "null-rate", required_argument, NULL, GENDATA_OPT_NULL_RATE },
		{ "edge-cases", no_argument, NULL, GENDATA_OPT_EDGE_CASES },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t end_limit = days_from_civil(9999, 12, 31);
	uint64_t max_days = (uint64_t)(end_limit + 1 -
				       days_from_civil(1, 1, 1));
	int c, ret = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":fqh", longopts, NULL)) != -1) {
		switch (c) {
		case GENDATA_OPT_TEAMS:
			ret = parse_count("--teams", optarg, 1,
					  GENDATA_MAX_TEAMS, &o->teams);
			break;
		case GENDATA_OPT_WEBSITES:
			ret = parse_count("--websites", optarg, 1,
					  GENDATA_MAX_WEBSITES, &o->websites);
			break;
		case GENDATA_OPT_DAYS:
			ret = parse_count("--days", optarg, 1, max_days,
					  &o->days);
			break;
		case GENDATA_OPT_START:
			ret = parse_date(optarg, &o->start);
			if (ret < 0)
				fprintf(stderr, GENDATA_PROG ": invalid "
					"--start '%s': expected a date "
					"YYYY-MM-DD\n", optarg);
			break;
		case GENDATA_OPT_SEED:
			ret = parse_count("--seed", optarg, 0, UINT64_MAX,
					  &o->seed);
			break;
		case GENDATA_OPT_NULL_RATE:
			ret = parse_rate(optarg, &o->null_rate);
			break;
		case GENDATA_OPT_EDGE_CASES:
			o->edge_cases = true;
			break;
		case 'f':
			o->force = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			o->help = true;
			return 0;
		case ':':
			fprintf(stderr, GENDATA_PROG ": option '%s' needs a "
				"value\n", argv[optind - 1]);
			return usage_error();
		default:
			/* optopt names a bad short option, which may be
			 * one of several in a word such as -qx. */
			if (optopt)
				fprintf(stderr, GENDATA_PROG ": unknown option "
					"'-%c'\n", optopt);
			else
				fprintf(stderr, GENDATA_PROG ": unknown option "
					"'%s'\n", argv[optind - 1]);
			return usage_error();
		}
		if (ret < 0)
			return usage_error();
	}

	if (optind == argc) {
		fprintf(stderr, GENDATA_PROG ": missing output file OUT.db\n");
		return usage_error();
	}
	if (optind + 1 < argc) {
		fprintf(stderr, GENDATA_PROG ": unexpected argument '%s'\n",
			argv[optind + 1]);
		return usage_error();
	}
	o->path = argv[optind];
	if (!o->path[0]) {
		fprintf(stderr, GENDATA_PROG ": invalid output file '': "
			"empty name\n");
		return usage_error();
	}
	if (o->teams > GENDATA_MAX_SITES / o->websites) {
		fprintf(stderr, GENDATA_PROG ": too many websites: --teams x "
			"--websites must be at most %" PRIu64 "\n",
			GENDATA_MAX_SITES);
		return usage_error();
	}
	if (o->teams * o->websites > GENDATA_MAX_ROWS / o->days) {
		fprintf(stderr, GENDATA_PROG ": too many rows: --teams x "
			"--websites x --days must be at most %" PRIu64 "\n",
			GENDATA_MAX_ROWS);
		return usage_error();
	}
	if (o->days - 1 > (uint64_t)(end_limit - o->start)) {
		fprintf(stderr, GENDATA_PROG ": too many days: --days %" PRIu64
			" from --start runs past 9999-12-31\n", o->days);
		return usage_error();
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct gendata_opts o = {
		.teams = 2,
		.websites = 5,
		.days = 30,
		.seed = 1,
	};
	int ret;

	parse_date("2024-01-01", &o.start);
	ret = parse_args(argc, argv, &o);
	if (ret)
		return ret;
	if (o.help) {
		usage(stdout);
		return GENDATA_EXIT_OK;
	}
	return generate(&o) < 0 ? GENDATA_EXIT_RUNTIME : GENDATA_EXIT_OK;
}
