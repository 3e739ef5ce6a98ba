/*
 * Fuzz target: what an S3 store answers, read the way warehousefs reads it.
 * The input is a raw HTTP response: a status line and header lines (each
 * handed to http_parse_header_line() as curl would, CRLF included), an
 * empty line, then the body, kept up to HTTP_BODY_MAX bytes and read as
 * S3 error XML (s3_error_from_response(), s3_xml_text(), s3_xml_root_is()).
 *
 * Invariants checked:
 *   - every header field kept is a terminated string within its array,
 *     trimmed of blanks and of the line's end;
 *   - every field of struct s3_error is a terminated string within its
 *     array, there is a hint string, and an error without Code or Message
 *     says so;
 *   - s3_xml_text() always terminates what it writes, even when cut;
 *   - text escaped with s3_xml_escape() reads back the same through
 *     s3_xml_text().
 */
#include <string.h>

#include "fuzz.h"
#include "s3/http.h"
#include "s3/s3_i.h"

#define FIELD_OK(array) (memchr((array), '\0', sizeof(array)) != NULL)

static int blank_or_eol(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void check_header_field(const char *field, size_t size)
{
	FUZZ_CHECK(memchr(field, '\0', size) != NULL);
	size_t len = strlen(field);
	if (len) {
		FUZZ_CHECK(field[0] != ' ' && field[0] != '\t');
		FUZZ_CHECK(!blank_or_eol(field[len - 1]));
	}
}

static void check_response(const struct http_response *r)
{
	check_header_field(r->etag, sizeof(r->etag));
	check_header_field(r->request_id, sizeof(r->request_id));
	check_header_field(r->bucket_region, sizeof(r->bucket_region));
	check_header_field(r->location, sizeof(r->location));
}

/* The status code of a status line ("HTTP/1.1 403 Forbidden"), or 0. */
static long status_of(const char *line, size_t len)
{
	const char *sp = memchr(line, ' ', len);
	long status = 0;

	if (len < 5 || memcmp(line, "HTTP/", 5) != 0 || !sp)
		return 0;
	for (const char *p = sp + 1; p < line + len && p < sp + 4; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		status = status * 10 + (*p - '0');
	}
	return status;
}

static void check_error(const struct s3_error *e, long status)
{
	FUZZ_CHECK(e->http_status == (int)status);
	FUZZ_CHECK(FIELD_OK(e->code) && FIELD_OK(e->message) && FIELD_OK(e->request_id));
	FUZZ_CHECK(FIELD_OK(e->region) && FIELD_OK(e->hint));
	FUZZ_CHECK(e->transient == 0 || e->transient == 1);
	FUZZ_CHECK(e->code[0] || e->message[0]);
	FUZZ_CHECK(s3_error_hint(e) != NULL);
}

/* Checks s3_xml_text() on name, with a roomy and a tiny output. */
static void check_xml_text(const char *body, const char *name)
{
	char big[1024], tiny[4];

	memset(big, 'x', sizeof(big));
	memset(tiny, 'x', sizeof(tiny));
	int found = s3_xml_text(body, name, big, sizeof(big));
	FUZZ_CHECK(found == 0 || found == 1);
	FUZZ_CHECK(memchr(big, '\0', sizeof(big)) != NULL);
	FUZZ_CHECK(found || big[0] == '\0');
	FUZZ_CHECK(s3_xml_text(body, name, tiny, sizeof(tiny)) == found);
	FUZZ_CHECK(memchr(tiny, '\0', sizeof(tiny)) != NULL);
	FUZZ_CHECK(strncmp(big, tiny, strlen(tiny)) == 0);
}

/* Escapes text (up to 900 bytes of it) into an element and reads it back. */
static void check_escape_round_trip(const char *text)
{
	struct buf xml = BUF_INIT;
	char want[901], got[1024];

	snprintf(want, sizeof(want), "%s", text);
	buf_adds(&xml, "<Error><Message>");
	s3_xml_escape(&xml, want);
	buf_adds(&xml, "</Message></Error>");
	FUZZ_CHECK(s3_xml_root_is(buf_str(&xml), "Error"));
	FUZZ_CHECK(s3_xml_text(buf_str(&xml), "Message", got, sizeof(got)) == 1);
	FUZZ_CHECK(strcmp(got, want) == 0);
	buf_release(&xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct http_response resp;
	struct s3_error err;
	size_t pos = 0;
	long status = 0;

	memset(&resp, 0, sizeof(resp));
	/* The head: lines up to the first empty one. */
	while (pos < size) {
		const char *nl = memchr(in + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (in + pos)) + 1 : size - pos;
		const char *line = in + pos;
		pos += len;
		if (len == 1 || (len == 2 && line[0] == '\r'))
			break;
		if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
			status = status_of(line, len);
		http_parse_header_line(line, len, &resp);
		check_response(&resp);
	}
	/* The body, as write_body() keeps it. */
	buf_add(&resp.body, in + pos, size - pos < HTTP_BODY_MAX ? size - pos : HTTP_BODY_MAX);
	resp.status = status;

	const char *body = buf_str(&resp.body);
	s3_error_from_response(&resp, &err);
	check_error(&err, status);
	s3_fill_hint(&err);
	check_error(&err, status);

	check_xml_text(body, "Code");
	check_xml_text(body, "UploadId");
	check_xml_text(body, "ETag");
	FUZZ_CHECK(s3_xml_root_is(body, "Error") == 0 || s3_xml_root_is(body, "Error") == 1);
	s3_xml_root_is(body, "InitiateMultipartUploadResult");
	s3_xml_root_is(body, "CompleteMultipartUploadResult");
	check_escape_round_trip(body);
	check_escape_round_trip(err.message);

	http_response_release(&resp);
	return 0;
}
