/*
 * csv: one RFC 4180 field (see csv.h).  A field needs quotes when it holds
 * a comma, a double quote, CR or LF; inner quotes are doubled.
 */
#include "csv.h"

int csv_needs_quotes(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == ',' || c == '"' || c == '\n' || c == '\r')
			return 1;
	}
	return 0;
}

void csv_quoted(struct buf *out, const char *s, size_t len)
{
	buf_addch(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			buf_addch(out, '"');
		buf_addch(out, s[i]);
	}
	buf_addch(out, '"');
}

void csv_field(struct buf *out, const char *s, size_t len)
{
	if (csv_needs_quotes(s, len))
		csv_quoted(out, s, len);
	else
		buf_add(out, s, len);
}
