/*
 * Unit test of format_csv and sink: rows in, exact bytes and SHA-256 out.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "base/csv.h"
#include "data/format.h"
#include "data/sink.h"

#define N 3

struct row_case {
	const char *name;
	const char *values[N]; /* NULL means SQL NULL */
	const char *kinds;     /* per value: 't' text, 'n' number (INTEGER, REAL) */
	const char *expect;    /* the line, with its '\n' */
};

static const struct row_case cases[] = {
	{"text quoted, numbers bare", {"a", "1", "0.5"}, "tnn", "\"a\",1,0.5\n"},
	{"null fields empty, whatever their kind", {NULL, "x", NULL}, "ttn", ",\"x\",\n"},
	{"empty string quoted, NULL not", {"", NULL, ""}, "ttt", "\"\",,\"\"\n"},
	{"every text field quoted", {"a", "b", "c"}, "ttt", "\"a\",\"b\",\"c\"\n"},
	{"comma quoted", {"a,b", "c", "d"}, "ttt", "\"a,b\",\"c\",\"d\"\n"},
	{"quote doubled", {"say \"hi\"", "x", "y"}, "ttt",
	 "\"say \"\"hi\"\"\",\"x\",\"y\"\n"},
	{"lf quoted", {"line1\nline2", "x", "1"}, "ttn", "\"line1\nline2\",\"x\",1\n"},
	{"cr quoted", {"a\rb", "x", "1"}, "ttn", "\"a\rb\",\"x\",1\n"},
	{"crlf quoted", {"a\r\nb", "2024-01-01", "1"}, "ttn",
	 "\"a\r\nb\",\"2024-01-01\",1\n"},
	{"utf-8 untouched", {"caf\xc3\xa9", "\xe2\x82\xac", "x"}, "ttt",
	 "\"caf\xc3\xa9\",\"\xe2\x82\xac\",\"x\"\n"},
	{"spaces kept", {" a ", "b c", "d"}, "ttt", "\" a \",\"b c\",\"d\"\n"},
	{"lone quote", {"\"", "x", "y"}, "ttt", "\"\"\"\",\"x\",\"y\"\n"},
	{"text that looks like a number is text", {"12abc", "007", "7"}, "ttn",
	 "\"12abc\",\"007\",7\n"},
	{"numbers in SQLite's forms", {"-9223372036854775808", "1.0e+20", "-Inf"}, "nnn",
	 "-9223372036854775808,1.0e+20,-Inf\n"},
	{"a number that would need quotes gets them", {"1,5", "\"", "2"}, "nnn",
	 "\"1,5\",\"\"\"\",2\n"},
};

static void set_values(struct format_value *v, const char *const *values,
		       const char *kinds, int n)
{
	for (int i = 0; i < n; i++) {
		v[i].is_null = values[i] == NULL;
		v[i].text = values[i];
		v[i].len = v[i].is_null ? 0 : strlen(values[i]);
		v[i].is_number = kinds[i] == 'n';
	}
}

static char *read_all(FILE *f, size_t *len)
{
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *p = malloc((size_t)n + 1);
	*len = fread(p, 1, (size_t)n, f);
	p[*len] = '\0';
	return p;
}

static void sha_hex(const char *data, size_t len, char out[65])
{
	unsigned char md[32];
	SHA256((const unsigned char *)data, len, md);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void test_rows(void)
{
	static const char *const cols[N] = {"id", "n", "rate"};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		FILE *f = tmpfile();
		struct sink s;
		struct format_value v[N];
		char sha[65], want_sha[65];
		uint64_t size = 0;

		CHECK(sink_init(&s, fileno(f)) == 0);
		format_csv.begin(&s, cols, N);
		set_values(v, cases[c].values, cases[c].kinds, N);
		format_csv.row(&s, cols, v, N);
		format_csv.end(&s);
		CHECK_INT(sink_finish(&s, sha, &size), 0);
		sink_release(&s);

		size_t len;
		char *got = read_all(f, &len);
		char want[256];
		snprintf(want, sizeof(want), "id,n,rate\n%s", cases[c].expect);
		if (strcmp(got, want) != 0)
			fprintf(stderr, "case '%s'\n", cases[c].name);
		CHECK_STR(got, want);
		CHECK_INT(size, strlen(want));
		sha_hex(want, strlen(want), want_sha);
		CHECK_STR(sha, want_sha);
		free(got);
		fclose(f);
	}
}

/* Many rows cross the sink's flush threshold: bytes and hash stay exact. */
static void test_large(void)
{
	static const char *const cols[N] = {"a", "b", "c"};
	FILE *f = tmpfile();
	struct sink s;
	struct format_value v[N];
	char sha[65], want_sha[65], num[32];
	uint64_t size = 0;
	struct buf want = BUF_INIT;

	CHECK(sink_init(&s, fileno(f)) == 0);
	format_csv.begin(&s, cols, N);
	buf_adds(&want, "a,b,c\n");
	for (int r = 0; r < 100000; r++) {
		snprintf(num, sizeof(num), "%d", r);
		v[0] = (struct format_value){num, strlen(num), 0, 1};
		v[1] = (struct format_value){"x,y", 3, 0, 0};
		v[2] = (struct format_value){NULL, 0, 1, 0};
		format_csv.row(&s, cols, v, N);
		buf_addf(&want, "%d,\"x,y\",\n", r);
	}
	CHECK_INT(sink_finish(&s, sha, &size), 0);
	sink_release(&s);
	size_t len;
	char *got = read_all(f, &len);
	CHECK_INT(len, want.len);
	CHECK(memcmp(got, want.data, want.len) == 0);
	sha_hex(want.data, want.len, want_sha);
	CHECK_STR(sha, want_sha);
	free(got);
	buf_release(&want);
	fclose(f);
}

/* Column names are quoted only when they need it; values by their kind. */
static void test_header_and_fields(void)
{
	static const char *const cols[N] = {"a,b", "c\"d", "e"};
	FILE *f = tmpfile();
	struct sink s;
	char sha[65];
	uint64_t size;
	struct buf b = BUF_INIT;

	CHECK(sink_init(&s, fileno(f)) == 0);
	format_csv.begin(&s, cols, N);
	CHECK_INT(sink_finish(&s, sha, &size), 0);
	sink_release(&s);
	size_t len;
	char *got = read_all(f, &len);
	CHECK_STR(got, "\"a,b\",\"c\"\"d\",e\n");
	free(got);
	fclose(f);

	csv_field(&b, "plain", 5);
	csv_field(&b, "x\ry", 3);
	csv_quoted(&b, "plain", 5);
	csv_quoted(&b, "", 0);
	csv_quoted(&b, "a\"\"b", 4);
	buf_addch(&b, '\0');
	CHECK_STR(b.data, "plain\"x\ry\"\"plain\"\"\"\"a\"\"\"\"b\"");
	buf_release(&b);
}

/* A write error (closed fd) is reported by sink_finish, not lost. */
static void test_write_error(void)
{
	static const char *const cols[1] = {"a"};
	int fds[2];
	struct sink s;
	char sha[65];
	uint64_t size;

	CHECK(pipe(fds) == 0);
	close(fds[0]);
	close(fds[1]);
	CHECK(sink_init(&s, fds[1]) == 0);
	format_csv.begin(&s, cols, 1);
	CHECK(sink_finish(&s, sha, &size) < 0);
	sink_release(&s);
}

int main(void)
{
	CHECK(format_find("csv") == &format_csv);
	CHECK(format_find("xml") == NULL);
	test_rows();
	test_large();
	test_header_and_fields();
	test_write_error();
	return check_done();
}
