/*
 * period: .run-now input and run periods (see period.h).
 */
#include "period.h"

#include <errno.h>
#include <string.h>

#include "base/clock.h"

static int parse_item(const char *s, size_t len, int64_t today, int64_t *first,
		      int64_t *last, struct buf *why)
{
	char a[11], b[11];

	if (len == 10) {
		memcpy(a, s, 10);
		a[10] = '\0';
		if (clock_parse_date(a, first) < 0)
			goto bad;
		*last = *first;
	} else if (len == 22 && s[10] == '.' && s[11] == '.') {
		memcpy(a, s, 10);
		a[10] = '\0';
		memcpy(b, s + 12, 10);
		b[10] = '\0';
		if (clock_parse_date(a, first) < 0 || clock_parse_date(b, last) < 0)
			goto bad;
		if (*last < *first) {
			buf_addf(why, "range '%.22s' ends before it starts", s);
			return -EINVAL;
		}
	} else {
		goto bad;
	}
	if (*last > today) {
		char t[16];
		clock_date(today, t);
		buf_addf(why, "'%.*s' is in the future (today is %s UTC)", (int)len, s, t);
		return -EINVAL;
	}
	return 0;
bad:
	buf_addf(why, "'%.*s' is not a date (YYYY-MM-DD) or a range "
		 "(YYYY-MM-DD..YYYY-MM-DD)", len > 40 ? 40 : (int)len, s);
	return -EINVAL;
}

int period_parse(const char *text, size_t len, int final, int64_t today,
		 unsigned max_days, struct buf *normalized, unsigned *ndays,
		 struct buf *why)
{
	uint64_t days = 0;
	size_t i = 0;

	*ndays = 0;
	for (size_t k = 0; k < len; k++) {
		unsigned char c = (unsigned char)text[k];
		if (c == '\0' || (c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c >= 0x7f) {
			buf_adds(why, "input holds bytes that are not dates: write "
				      "'YYYY-MM-DD' or 'YYYY-MM-DD..YYYY-MM-DD' lines");
			return -EINVAL;
		}
	}
	while (i < len) {
		size_t j = i;
		while (j < len && text[j] != ',' && text[j] != '\n')
			j++;
		if (j == len && !final)
			break;
		size_t a = i, b = j;
		while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
			a++;
		while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' ||
				 text[b - 1] == '\r'))
			b--;
		if (b > a) {
			int64_t first, last;
			int ret = parse_item(text + a, b - a, today, &first, &last, why);
			if (ret)
				return ret;
			days += (uint64_t)((last - first) / CLOCK_DAY + 1);
			if (days > max_days) {
				buf_addf(why, "%llu days asked for, at most %u at once "
					 "(mount option backfill_span)",
					 (unsigned long long)days, max_days);
				return -EINVAL;
			}
			if (normalized->len)
				buf_addch(normalized, ',');
			buf_add(normalized, text + a, b - a);
		}
		i = j + 1;
	}
	*ndays = (unsigned)days;
	return 0;
}

int period_each_day(const char *normalized, int (*fn)(void *ctx, int64_t day), void *ctx)
{
	struct buf why = BUF_INIT;
	const char *p = normalized;
	int ret = 0;

	while (*p && !ret) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		int64_t first, last;
		if (parse_item(p, len, INT64_MAX, &first, &last, &why) < 0) {
			ret = -EINVAL;
			break;
		}
		for (int64_t d = first; d <= last && !ret; d += CLOCK_DAY)
			ret = fn(ctx, d);
		p = end ? end + 1 : p + len;
	}
	buf_release(&why);
	return ret;
}

void period_format(int64_t first, int64_t last, struct buf *out)
{
	char a[16], b[16];

	clock_date(first, a);
	clock_date(last, b);
	if (first == last)
		buf_adds(out, a);
	else
		buf_addf(out, "%s..%s", a, b);
}
