/*
 * format_csv: RFC 4180 CSV with a header row and "\n" line endings.
 *
 * A field is quoted only when it holds a comma, a double quote, CR or LF;
 * inner quotes are doubled.  NULL is an empty field.  The same values
 * always give the same bytes.
 */
#include "format.h"

#include <string.h>

static int csv_needs_quotes(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == ',' || c == '"' || c == '\n' || c == '\r')
			return 1;
	}
	return 0;
}

void format_csv_field(struct buf *out, const char *s, size_t len)
{
	if (!csv_needs_quotes(s, len)) {
		buf_add(out, s, len);
		return;
	}
	buf_addch(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			buf_addch(out, '"');
		buf_addch(out, s[i]);
	}
	buf_addch(out, '"');
}

static void csv_begin(struct sink *s, const char *const *columns, int n)
{
	for (int i = 0; i < n; i++) {
		if (i)
			buf_addch(&s->out, ',');
		format_csv_field(&s->out, columns[i], strlen(columns[i]));
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
		if (!csv_needs_quotes(t, len)) {
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
