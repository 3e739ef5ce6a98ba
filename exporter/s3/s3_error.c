/*
 * s3_error: what the store said, as struct s3_error (see s3.h): S3's error
 * XML (Code, Message, RequestId, Region), the bucket's real region from
 * x-amz-bucket-region, which failures are worth retrying, and the one-line
 * hint of what to fix.  Each failure is classified here, once.
 *
 * Pure functions; safe from any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3_i.h"

void s3_set_message(struct s3_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ errors */

static int code_is(const struct s3_error *e, const char *code)
{
	return strcmp(e->code, code) == 0;
}

static int region_mismatch(const struct s3_error *e)
{
	return code_is(e, "PermanentRedirect") || code_is(e, "IllegalLocationConstraintException") ||
	       (code_is(e, "AuthorizationHeaderMalformed") && e->region[0]) ||
	       (e->http_status == 301 && e->region[0]);
}

static int is_transient(const struct s3_error *e)
{
	static const char *const transient_codes[] = {
		"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
		"OperationAborted", "TemporaryRedirect",
		/* the upload was aborted under us (a lifecycle rule): start again */
		"NoSuchUpload", NULL,
	};

	if (code_is(e, "NotImplemented") || region_mismatch(e))
		return 0;
	for (int i = 0; transient_codes[i]; i++)
		if (code_is(e, transient_codes[i]))
			return 1;
	return e->http_status >= 500 || e->http_status == 429 || e->http_status == 408;
}

static const char *static_hint(const struct s3_error *e)
{
	static const struct {
		const char *code, *hint;
	} hints[] = {
		{"SignatureDoesNotMatch",
		 "check secret_access_key (the store computed a different signature)"},
		{"InvalidAccessKeyId", "check access_key_id"},
		{"NoSuchBucket", "check bucket: the store has no bucket named so"},
		{"AccessDenied",
		 "the credentials may not write to this bucket/prefix (s3:PutObject needed)"},
		{"AllAccessDisabled", "the store has disabled all access to this bucket"},
		{"RequestTimeTooSkewed", "this machine's clock is off: fix NTP"},
		{"ExpiredToken", "session_token has expired: write new credentials"},
		{"TokenRefreshRequired", "session_token has expired: write new credentials"},
		{"InvalidToken", "check session_token"},
		{"XAmzContentSHA256Mismatch",
		 "the bytes changed on the way: a proxy rewriting bodies, or the cached "
		 "file changed during the upload"},
		{"BadDigest",
		 "the bytes changed on the way: a proxy rewriting bodies, or the cached "
		 "file changed during the upload"},
		{"InvalidArgument",
		 "the store refused an argument: check sse and sse_kms_key_id"},
		{"InvalidRequest",
		 "the store refused the request as sent: check sse (some stores accept it "
		 "over https only) and endpoint"},
		{"KMS.NotFoundException", "check sse_kms_key_id: no such KMS key"},
		{"KMS.DisabledException", "the KMS key in sse_kms_key_id is disabled"},
		{"EntityTooLarge", "the file is too large for one request: lower multipart_threshold"},
		{"SlowDown", "the store asks for fewer requests: retrying with backoff"},
		{"NoSuchUpload", "the store dropped the multipart upload: retrying"},
		{"ConnectionRefused", "nothing listens at the endpoint"},
		{"ResolveFailed", "check endpoint and DNS: the host name does not resolve"},
		{"Timeout", "the store did not answer in time: check the network and endpoint"},
		{"ConnectionReset",
		 "the connection broke: retrying (check proxies and firewalls if it goes on)"},
		{"TLSError", "check the endpoint's TLS certificate or the ca_bundle option"},
	};

	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (code_is(e, hints[i].code))
			return hints[i].hint;
	if (region_mismatch(e))
		return "the bucket is in another region: set region to the bucket's region";
	if (e->http_status >= 500)
		return "the store is failing or overloaded: retrying with backoff";
	return "";
}

const char *s3_error_hint(const struct s3_error *err)
{
	return err->hint[0] ? err->hint : static_hint(err);
}

void s3_fill_hint(struct s3_error *e)
{
	if (region_mismatch(e) && e->region[0])
		snprintf(e->hint, sizeof(e->hint), "the bucket is in %s: set region = %s",
			 e->region, e->region);
	else
		snprintf(e->hint, sizeof(e->hint), "%s", static_hint(e));
}

/* --------------------------------------------------------------- XML */

/* Appends the text s..end to out with XML's entities decoded. */
static void xml_decode(const char *s, const char *end, struct buf *out)
{
	static const struct {
		const char *name;
		char c;
	} entities[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};

	while (s < end) {
		if (*s != '&') {
			buf_addch(out, *s++);
			continue;
		}
		size_t left = (size_t)(end - s - 1);
		int done = 0;
		for (size_t i = 0; !done && i < sizeof(entities) / sizeof(entities[0]); i++) {
			size_t n = strlen(entities[i].name);
			if (left >= n && memcmp(s + 1, entities[i].name, n) == 0) {
				buf_addch(out, entities[i].c);
				s += 1 + n;
				done = 1;
			}
		}
		if (!done && left > 2 && s[1] == '#') {
			char *stop;
			int hex = s[2] == 'x' || s[2] == 'X';
			unsigned long cp = strtoul(s + (hex ? 3 : 2), &stop, hex ? 16 : 10);
			if (stop < end && *stop == ';' && cp > 0 && cp < 0x110000) {
				/* UTF-8, as the rest of the document */
				if (cp < 0x80) {
					buf_addch(out, (char)cp);
				} else if (cp < 0x800) {
					buf_addch(out, (char)(0xc0 | (cp >> 6)));
					buf_addch(out, (char)(0x80 | (cp & 0x3f)));
				} else if (cp < 0x10000) {
					buf_addch(out, (char)(0xe0 | (cp >> 12)));
					buf_addch(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
					buf_addch(out, (char)(0x80 | (cp & 0x3f)));
				} else {
					buf_addch(out, (char)(0xf0 | (cp >> 18)));
					buf_addch(out, (char)(0x80 | ((cp >> 12) & 0x3f)));
					buf_addch(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
					buf_addch(out, (char)(0x80 | (cp & 0x3f)));
				}
				s = stop + 1;
				done = 1;
			}
		}
		if (!done)
			buf_addch(out, *s++);
	}
}

/*
 * The decoded text of the first <name>...</name> in xml, cut to fit out.
 * S3's answers are flat enough that this is all the parsing they need.
 * Returns 1 when the element is there, 0 otherwise (out is then "").
 */
int s3_xml_text(const char *xml, const char *name, char *out, size_t size)
{
	struct buf open = BUF_INIT, close = BUF_INIT, text = BUF_INIT;
	const char *start, *end = NULL;

	out[0] = '\0';
	buf_addf(&open, "<%s>", name);
	buf_addf(&close, "</%s>", name);
	start = strstr(xml, buf_str(&open));
	if (start) {
		start += open.len;
		end = strstr(start, buf_str(&close));
	}
	if (end) {
		xml_decode(start, end, &text);
		snprintf(out, size, "%s", buf_str(&text));
	}
	buf_release(&open);
	buf_release(&close);
	buf_release(&text);
	return end != NULL;
}

/* Whether the document's root element is <name>. */
int s3_xml_root_is(const char *xml, const char *name)
{
	const char *p = xml;
	size_t n = strlen(name);

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (strncmp(p, "<?", 2) == 0 || strncmp(p, "<!--", 4) == 0) {
			const char *e = strstr(p, p[1] == '?' ? "?>" : "-->");
			if (!e)
				return 0;
			p = e + (p[1] == '?' ? 2 : 3);
			continue;
		}
		break;
	}
	return p[0] == '<' && strncmp(p + 1, name, n) == 0 &&
	       (p[1 + n] == '>' || p[1 + n] == ' ' || p[1 + n] == '/' || p[1 + n] == '\t' ||
		p[1 + n] == '\r' || p[1 + n] == '\n');
}

/* Appends s to out with the characters XML text may not hold escaped. */
void s3_xml_escape(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '&')
			buf_adds(out, "&amp;");
		else if (*s == '<')
			buf_adds(out, "&lt;");
		else if (*s == '>')
			buf_adds(out, "&gt;");
		else
			buf_addch(out, *s);
	}
}

/* An answer the store gave as an error: status, its error XML, headers. */
void s3_error_from_response(const struct http_response *resp, struct s3_error *err)
{
	const char *body = buf_str(&resp->body);

	memset(err, 0, sizeof(*err));
	err->http_status = (int)resp->status;
	s3_xml_text(body, "Code", err->code, sizeof(err->code));
	s3_xml_text(body, "Message", err->message, sizeof(err->message));
	if (!s3_xml_text(body, "RequestId", err->request_id, sizeof(err->request_id)) ||
	    !err->request_id[0])
		snprintf(err->request_id, sizeof(err->request_id), "%s", resp->request_id);
	if (resp->bucket_region[0])
		snprintf(err->region, sizeof(err->region), "%s", resp->bucket_region);
	else
		s3_xml_text(body, "Region", err->region, sizeof(err->region));
	if (!err->code[0] && !err->message[0])
		s3_set_message(err, "HTTP %ld without an S3 error", resp->status);
	err->transient = is_transient(err);
}

void s3_error_from_transport(const struct http_error *he, struct s3_error *err)
{
	memset(err, 0, sizeof(*err));
	snprintf(err->code, sizeof(err->code), "%s", he->code);
	snprintf(err->message, sizeof(err->message), "%s", he->message);
	err->transient = he->transient;
}
