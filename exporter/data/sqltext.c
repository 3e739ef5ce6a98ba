/*
 * sqltext: fast paths for SQLite's number-to-text conversions (see
 * sqltext.h).  tests/unit/test_sqltext.c checks them against SQLite's
 * CAST(x AS TEXT) on millions of values.
 */
#include "sqltext.h"

#include <math.h>
#include <string.h>

size_t sqltext_int64(int64_t v, char out[SQLTEXT_MAX])
{
	char tmp[SQLTEXT_MAX];
	size_t n = 0, len = 0;
	/* Work on the magnitude as unsigned: INT64_MIN has no positive twin. */
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		out[len++] = '-';
	while (n)
		out[len++] = tmp[--n];
	return len;
}

size_t sqltext_real(double v, char out[SQLTEXT_MAX])
{
	/* Decades 1e-4 .. 1e8 and the size of a unit in the 15th digit, in 1e-6. */
	static const double decade[] = {1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2,
					1e3,  1e4,  1e5,  1e6,  1e7, 1e8, 1e9};
	static const double digit15[] = {1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6,
					 1e-5,  1e-4,  1e-3,  1e-2, 1e-1, 1e0};
	double a = fabs(v);
	size_t len = 0;

	if (v == 0.0) {
		if (signbit(v))
			return 0;
		memcpy(out, "0.0", 3);
		return 3;
	}
	if (!(a >= 1e-4 && a < 1e9))
		return 0;
	int e = 0;
	while (a >= decade[e + 1])
		e++;
	double scaled = a * 1e6;
	double r = nearbyint(scaled);
	/*
	 * The 15-significant-digit rounding of v is r * 1e-6 only when v lies
	 * well within half a 15th-digit unit of it; a quarter leaves room for
	 * the rounding error of the multiplication above.
	 */
	if (fabs(scaled - r) > 0.25 * digit15[e])
		return 0;
	uint64_t n = (uint64_t)r;
	uint64_t ip = n / 1000000, fp = n % 1000000;
	if (v < 0)
		out[len++] = '-';
	len += sqltext_int64((int64_t)ip, out + len);
	out[len++] = '.';
	char frac[6];
	for (int i = 5; i >= 0; i--) {
		frac[i] = (char)('0' + fp % 10);
		fp /= 10;
	}
	int keep = 6;
	while (keep > 1 && frac[keep - 1] == '0')
		keep--;
	memcpy(out + len, frac, (size_t)keep);
	return len + (size_t)keep;
}
