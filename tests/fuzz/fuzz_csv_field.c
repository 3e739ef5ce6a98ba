/*
 * Fuzz target: CSV output (csv_field() and format_csv's row writer),
 * checked by reading it back with an RFC 4180 reader written here.
 *
 * The whole input is one field.  It is also cut at every 0xff byte into
 * the values of one row (a value "\xfe" alone stands for SQL NULL, and one
 * that starts with "\xfd" for a number whose text is the rest), which
 * format_csv.row writes into a sink.
 *
 * Invariants checked (the promises of format.h and format_csv.c):
 *   - csv_field() quotes a field exactly when it holds a comma, a
 *     double quote, CR or LF, and otherwise gives the value's bytes
 *     unchanged; csv_quoted() always quotes;
 *   - a quoted field reads back, with its doubled quotes, to the value;
 *   - a row is its fields joined by commas plus "\n", each field what
 *     csv_quoted() gives for text, csv_field() for a number,
 *     and empty for NULL, and reads back to its values.
 */
#include <fcntl.h>
#include <string.h>

#include "base/csv.h"
#include "data/format.h"
#include "data/sink.h"
#include "fuzz.h"

#define MAX_VALUES 16

/*
 * Reads one RFC 4180 field at s[*pos], leaving *pos on the byte after it
 * (a separator or the end).  The field's value goes to out.  Returns 0, or
 * -1 when the text is not valid CSV there.
 */
static int read_field(const char *s, size_t len, size_t *pos, struct buf *out)
{
	size_t i = *pos;

	if (i < len && s[i] == '"') {
		for (i++;; i++) {
			if (i == len)
				return -1; /* unterminated */
			if (s[i] != '"') {
				buf_addch(out, s[i]);
				continue;
			}
			if (i + 1 < len && s[i + 1] == '"') {
				buf_addch(out, '"');
				i++;
				continue;
			}
			i++;
			break;
		}
	} else {
		for (; i < len && s[i] != ',' && s[i] != '\n' && s[i] != '\r'; i++) {
			if (s[i] == '"')
				return -1; /* a quote in an unquoted field */
			buf_addch(out, s[i]);
		}
	}
	*pos = i;
	return 0;
}

static int needs_quotes(const char *s, size_t len)
{
	return memchr(s, ',', len) || memchr(s, '"', len) || memchr(s, '\n', len) ||
	       memchr(s, '\r', len);
}

static void check_quoted(const char *value, size_t len)
{
	struct buf csv = BUF_INIT, back = BUF_INIT;
	size_t pos = 0;

	csv_quoted(&csv, value, len);
	FUZZ_CHECK(csv.len >= len + 2);
	FUZZ_CHECK(csv.data[0] == '"' && csv.data[csv.len - 1] == '"');
	FUZZ_CHECK(read_field(csv.data, csv.len, &pos, &back) == 0);
	FUZZ_CHECK(pos == csv.len);
	FUZZ_CHECK(back.len == len && (len == 0 || memcmp(back.data, value, len) == 0));
	buf_release(&csv);
	buf_release(&back);
}

static void check_field(const char *value, size_t len)
{
	struct buf csv = BUF_INIT, back = BUF_INIT;
	size_t pos = 0;

	csv_field(&csv, value, len);
	if (needs_quotes(value, len)) {
		FUZZ_CHECK(csv.len >= len + 2);
		FUZZ_CHECK(csv.data[0] == '"' && csv.data[csv.len - 1] == '"');
	} else {
		FUZZ_CHECK(csv.len == len && (len == 0 || memcmp(csv.data, value, len) == 0));
	}
	FUZZ_CHECK(read_field(csv.data, csv.len, &pos, &back) == 0);
	FUZZ_CHECK(pos == csv.len);
	FUZZ_CHECK(back.len == len && (len == 0 || memcmp(back.data, value, len) == 0));
	buf_release(&csv);
	buf_release(&back);
}

/*
 * One sink for every input (making one per input, with its SHA-256
 * context, took most of the time), writing to /dev/null: rows are read
 * from its buffer, and nothing is flushed for inputs this small.
 */
static struct sink *row_sink(void)
{
	static struct sink s;
	static int ready;

	if (!ready) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		FUZZ_CHECK(fd >= 0 && sink_init(&s, fd) == 0);
		ready = 1;
	}
	buf_reset(&s.out);
	return &s;
}

static void check_row(const char *data, size_t size)
{
	static const char *const columns[MAX_VALUES] = {
		"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p",
	};
	struct format_value v[MAX_VALUES];
	struct buf want = BUF_INIT, back = BUF_INIT;
	struct sink *s;
	size_t start = 0, pos = 0;
	int n = 0;

	if (size >= SINK_FLUSH_AT / 4)
		return;
	while (n < MAX_VALUES) {
		const char *cut = memchr(data + start, 0xff, size - start);
		size_t end = cut ? (size_t)(cut - data) : size;
		v[n].text = data + start;
		v[n].len = end - start;
		v[n].is_null = v[n].len == 1 && data[start] == '\xfe';
		v[n].is_number = !v[n].is_null && v[n].len > 0 && data[start] == '\xfd';
		if (v[n].is_null) {
			v[n].text = NULL;
			v[n].len = 0;
		} else if (v[n].is_number) {
			v[n].text++;
			v[n].len--;
		}
		n++;
		if (!cut)
			break;
		start = end + 1;
	}
	for (int i = 0; i < n; i++) {
		if (i)
			buf_addch(&want, ',');
		if (v[i].is_number)
			csv_field(&want, v[i].text, v[i].len);
		else if (!v[i].is_null)
			csv_quoted(&want, v[i].text, v[i].len);
	}
	buf_addch(&want, '\n');

	s = row_sink();
	format_csv.row(s, columns, v, n);
	FUZZ_CHECK(s->error == 0 && s->written == 0);
	FUZZ_CHECK(s->out.len == want.len && memcmp(s->out.data, want.data, want.len) == 0);

	/* Read the row back: n fields, separated by commas, then "\n". */
	for (int i = 0; i < n; i++) {
		buf_reset(&back);
		FUZZ_CHECK(read_field(s->out.data, s->out.len, &pos, &back) == 0);
		FUZZ_CHECK(back.len == v[i].len &&
			   (v[i].len == 0 || memcmp(back.data, v[i].text, v[i].len) == 0));
		FUZZ_CHECK(pos < s->out.len && s->out.data[pos] == (i + 1 < n ? ',' : '\n'));
		pos++;
	}
	FUZZ_CHECK(pos == s->out.len);
	buf_release(&want);
	buf_release(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_field((const char *)data, size);
	check_quoted((const char *)data, size);
	check_row((const char *)data, size);
	return 0;
}
