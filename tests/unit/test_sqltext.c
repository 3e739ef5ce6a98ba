/*
 * Unit test of sqltext: every number the fast paths write must equal
 * SQLite's own CAST(x AS TEXT), on edge cases and on hundreds of
 * thousands of random values shaped like analytics data and not.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "data/sqltext.h"

static sqlite3 *db;
static sqlite3_stmt *cast_real, *cast_int;
static long fast, slow, mismatches;

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
	/* splitmix64: deterministic, so a failure reproduces */
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void check_real(double v)
{
	char got[SQLTEXT_MAX + 1];
	size_t n = sqltext_real(v, got);

	if (!n) {
		slow++;
		return;
	}
	fast++;
	got[n] = '\0';
	sqlite3_reset(cast_real);
	sqlite3_bind_double(cast_real, 1, v);
	if (sqlite3_step(cast_real) != SQLITE_ROW)
		return;
	const char *want = (const char *)sqlite3_column_text(cast_real, 0);
	if (strcmp(got, want) != 0) {
		if (mismatches++ < 10)
			fprintf(stderr, "real %.17g: got '%s', sqlite '%s'\n", v, got, want);
	}
}

static void check_int(int64_t v)
{
	char got[SQLTEXT_MAX + 1];
	size_t n = sqltext_int64(v, got);

	got[n] = '\0';
	sqlite3_reset(cast_int);
	sqlite3_bind_int64(cast_int, 1, v);
	if (sqlite3_step(cast_int) != SQLITE_ROW)
		return;
	const char *want = (const char *)sqlite3_column_text(cast_int, 0);
	if (strcmp(got, want) != 0 && mismatches++ < 10)
		fprintf(stderr, "int %lld: got '%s', sqlite '%s'\n", (long long)v, got, want);
}

int main(void)
{
	static const double edges[] = {
		0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 0.2, 0.1 + 0.2, 1e-4, 9.99999e-5, 1e-3,
		0.0001234, 123456789.123456, 999999999.999999, 1e9, 1e9 - 1, 5e8 + 0.5,
		0.45, 0.4567, 120.5, 3.3, 1.0 / 3, 2.0 / 3, 100.0, 1e8, 123456.7891234,
		0.000150, 4503599627370496.0, -273.15, 0.999999, 0.9999995, 0.9999994999,
	};
	int ok = sqlite3_open(":memory:", &db) == SQLITE_OK &&
		 sqlite3_prepare_v2(db, "SELECT CAST(?1 AS TEXT)", -1, &cast_real, NULL) ==
			 SQLITE_OK &&
		 sqlite3_prepare_v2(db, "SELECT CAST(?1 AS TEXT)", -1, &cast_int, NULL) ==
			 SQLITE_OK;
	CHECK(ok);
	if (!ok)
		return check_done();
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		check_real(edges[i]);
	static const int64_t ints[] = {0, 1, -1, 9, 10, -10, INT64_MAX, INT64_MIN,
				       INT64_MIN + 1, 4294967296LL, -9007199254740993LL};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		check_int(ints[i]);
	/* Analytics-shaped values: k decimals, a range of magnitudes. */
	for (int i = 0; i < 200000; i++) {
		int k = (int)(next() % 9);
		double mag = pow(10.0, (double)(next() % 14) - 5);
		double v = (double)(next() % 1000000000ULL) / 1e9 * mag;
		v = round(v * pow(10.0, k)) / pow(10.0, k);
		if (next() & 1)
			v = -v;
		check_real(v);
	}
	/* Arbitrary doubles, from their bits. */
	for (int i = 0; i < 100000; i++) {
		uint64_t bits = next();
		double v;
		memcpy(&v, &bits, sizeof(v));
		if (isfinite(v))
			check_real(v);
		check_real(ldexp((double)(next() >> 11), -(int)(next() % 60)));
	}
	for (int i = 0; i < 100000; i++)
		check_int((int64_t)next() >> (next() % 63));
	printf("real: %ld by the fast path, %ld left to SQLite\n", fast, slow);
	CHECK_INT(mismatches, 0);
	/* The fast path must cover the common case, or it is pointless. */
	CHECK(fast > 150000);
	sqlite3_finalize(cast_real);
	sqlite3_finalize(cast_int);
	sqlite3_close(db);
	return check_done();
}
