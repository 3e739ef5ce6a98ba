/*
 * format_csv: RFC 4180 CSV with a header row and "\n" line endings.
 *
 * Every text value is quoted, whatever it holds; numbers (the source's
 * INTEGER and REAL values) are bare, NULL is an empty field, and column
 * names are quoted only when they hold a comma, a double quote, CR or LF.
 * Inner quotes are doubled.  The same values always give the same bytes.
 *
 * Why every text value: readers that guess the dialect from a sample
 * (DuckDB's read_csv sniffs the first 20,480 rows of a file) decide that a
 * file has no quote character when no quote shows in that sample, and then
 * fail on, or silently misread, a quoted field further on: a CR inside one
 * stops DuckDB ("state machine reached an invalid state"), an LF or a comma
 * gives a wrong column count, and "" is kept as two quotes.  Quoted only
 * when needed, whether a quote shows depends on the data and on where it
 * sorts; quoted always, a quote is on every data line of every file, from
 * the first one on.
 */
#include "format.h"

#include <string.h>

#include "base/csv.h"

static void csv_begin(struct sink *s, const char *const *columns, int n)
{
	for (int i = 0; i < n; i++) {
		if (i)
			buf_addch(&s->out, ',');
		csv_field(&s->out, columns[i], strlen(columns[i]));
	}
	buf_addch(&s->out, '\n');
}

static void csv_row(struct sink *s, const char *const *columns,
		    const struct format_value *v, int n)
{
	struct buf *out = &s->out;
	size_t room = (size_t)n + 1;

	(void)columns;
	/* Reserve the worst case (every byte a doubled quote) once per row. */
	for (int i = 0; i < n; i++)
		room += 2 * v[i].len + 2;
	buf_grow(out, room);
	char *p = out->data + out->len;
	for (int i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		if (v[i].is_null)
			continue;
		const char *t = v[i].text;
		size_t len = v[i].len;
		/* A number's text never needs quotes; checked all the same. */
		if (v[i].is_number && !csv_needs_quotes(t, len)) {
			memcpy(p, t, len);
			p += len;
			continue;
		}
		*p++ = '"';
		for (size_t k = 0; k < len; k++) {
			if (t[k] == '"')
				*p++ = '"';
			*p++ = t[k];
		}
		*p++ = '"';
	}
	*p++ = '\n';
	buf_setlen(out, (size_t)(p - out->data));
	sink_maybe_flush(s);
}

static void csv_end(struct sink *s)
{
	(void)s;
}

const struct format_ops format_csv = {
	.name = "csv",
	.extension = ".csv",
	.content_type = "text/csv; charset=utf-8",
	.begin = csv_begin,
	.row = csv_row,
	.end = csv_end,
};

const struct format_ops *format_find(const char *name)
{
	if (strcmp(name, format_csv.name) == 0)
		return &format_csv;
	return NULL;
}
