/*
 * sigv4: AWS Signature Version 4 (see sigv4.h).
 *
 * The steps are those of the AWS documentation and botocore's SigV4Auth:
 * canonical request (method, path, query, headers, signed header names,
 * payload hash), string to sign (algorithm, time, scope, hash of the
 * canonical request), signing key (an HMAC chain from "AWS4" + secret
 * over date, region, service and "aws4_request"), signature (the HMAC of
 * the string to sign under that key).
 *
 * Threads: nothing here is shared; every call works on its own memory.
 * Invariants: key material (the secret, every key of the chain) lives in
 * local buffers wiped (OPENSSL_cleanse, buf_release_secret) before they go
 * out of scope; the results that carry credentials (the session token, the
 * canonical request holding it, the Authorization value) are wiped on
 * release.
 */
#include "sigv4.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SHA256_BYTES 32
#define ALGORITHM "AWS4-HMAC-SHA256"

/*
 * One header or query parameter while the canonical form is built.  The
 * strings live in a shared arena buffer and are found by offset until the
 * arena stops growing, then by pointer for sorting.
 */
struct entry {
	size_t name_off, value_off;
	const char *name, *value;
	size_t order; /* position in the input: keeps repeated headers in order */
};

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_unreserved(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* An RFC 9110 token character (header names, methods). */
static int is_tchar(unsigned char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_token(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return 0;
	return 1;
}

/* Whitespace folded into one space in header values (botocore's split()). */
static int is_header_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Non-empty, printable ASCII, none of the characters in forbidden. */
static int is_printable_without(const char *s, const char *forbidden)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || strchr(forbidden, c))
			return 0;
	}
	return 1;
}

void sigv4_uri_encode(struct buf *out, const char *s, size_t len, int keep_slash)
{
	buf_grow(out, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_unreserved(c) || (c == '/' && keep_slash)) {
			buf_addch(out, (char)c);
		} else {
			char esc[3] = {'%', "0123456789ABCDEF"[c >> 4],
				       "0123456789ABCDEF"[c & 0xf]};
			buf_add(out, esc, sizeof(esc));
		}
	}
}

/* Appends s decoded; a '%' not followed by two hex digits stays itself. */
static void uri_decode(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 &&
		    (lo = hex_value(s[i + 2])) >= 0) {
			buf_addch(out, (char)(hi << 4 | lo));
			i += 2;
		} else {
			buf_addch(out, s[i]);
		}
	}
}

int sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_SHA256_HEX_SIZE])
{
	unsigned char md[SHA256_BYTES];
	unsigned int md_len = 0;

	if (!EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) ||
	    md_len != SHA256_BYTES) {
		out[0] = '\0';
		return -EIO;
	}
	buf_hex(out, md, SHA256_BYTES);
	return 0;
}

static int hmac_sha256(const void *key, size_t key_len, const char *msg,
		       unsigned char out[SHA256_BYTES])
{
	unsigned int out_len = 0;

	if (key_len > INT_MAX ||
	    !HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg),
		  out, &out_len) ||
	    out_len != SHA256_BYTES)
		return -EIO;
	return 0;
}

/*
 * The signing key: HMAC("AWS4" + secret, date), then HMAC over region,
 * service and "aws4_request" in turn.
 */
static int derive_key(const char *secret, const char *date, const char *region,
		      const char *service, unsigned char key[SHA256_BYTES])
{
	const char *steps[] = {region, service, "aws4_request"};
	struct buf k_secret = BUF_INIT;
	unsigned char next[SHA256_BYTES];
	int rc;

	/* Room for all of it at once: growing would leave a copy behind. */
	buf_grow(&k_secret, 4 + strlen(secret));
	buf_adds(&k_secret, "AWS4");
	buf_adds(&k_secret, secret);
	rc = hmac_sha256(k_secret.data, k_secret.len, date, key);
	for (size_t i = 0; !rc && i < sizeof(steps) / sizeof(steps[0]); i++) {
		rc = hmac_sha256(key, SHA256_BYTES, steps[i], next);
		memcpy(key, next, SHA256_BYTES);
	}
	OPENSSL_cleanse(next, sizeof(next));
	buf_release_secret(&k_secret);
	if (rc)
		OPENSSL_cleanse(key, SHA256_BYTES);
	return rc;
}

/*
 * Appends path without dot segments and empty segments, as botocore's
 * remove_dot_segments() does: "//a/./b/../c/" becomes "/a/c/", a path
 * that comes out empty becomes "/".
 */
static void add_normalized_path(struct buf *out, const char *path)
{
	size_t start = out->len;
	size_t path_len = strlen(path);
	const char *s = path;

	while (*s) {
		while (*s == '/')
			s++;
		const char *end = strchrnul(s, '/');
		size_t n = (size_t)(end - s);

		if (n == 0 || (n == 1 && s[0] == '.')) {
			/* empty or "." segment: dropped */
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			/* drop the last segment written, "/name" */
			size_t len = out->len;
			while (len > start && out->data[len - 1] != '/')
				len--;
			buf_setlen(out, len > start ? len - 1 : start);
		} else {
			buf_addch(out, '/');
			buf_add(out, s, n);
		}
		s = end;
	}
	if (out->len == start || path[path_len - 1] == '/')
		buf_addch(out, '/');
}

static int add_canonical_path(struct buf *cr, const char *path, unsigned flags,
			      const char **error)
{
	struct buf normalized = BUF_INIT;

	if (!path || path[0] != '/') {
		*error = "the path does not start with '/'";
		return -EINVAL;
	}
	if (!(flags & SIGV4_ENCODE_PATH) && !is_printable_without(path, "?#")) {
		*error = "the path is not URI-encoded";
		return -EINVAL;
	}
	if (flags & SIGV4_NORMALIZE_PATH) {
		add_normalized_path(&normalized, path);
		path = buf_str(&normalized);
	}
	if (flags & SIGV4_ENCODE_PATH)
		sigv4_uri_encode(cr, path, strlen(path), 1);
	else
		buf_adds(cr, path);
	buf_release(&normalized);
	return 0;
}

static int compare_params(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* Appends s percent-decoded, then encoded the SigV4 way; tmp is scratch. */
static void add_reencoded(struct buf *out, struct buf *tmp, const char *s, size_t len)
{
	buf_reset(tmp);
	uri_decode(tmp, s, len);
	sigv4_uri_encode(out, buf_str(tmp), tmp->len, 0);
}

static int add_canonical_query(struct buf *cr, const char *query)
{
	struct buf arena = BUF_INIT, tmp = BUF_INIT;
	struct entry *params = NULL;
	size_t n = 0, max = 1;
	const char *p;

	if (!query || !*query)
		return 0;
	for (p = query; *p; p++)
		max += *p == '&';
	params = calloc(max, sizeof(*params));
	if (!params)
		return -ENOMEM;

	for (p = query;; p++) {
		const char *end = strchrnul(p, '&');

		/* "a=1&&b=2": an empty parameter is not a parameter */
		if (end > p) {
			const char *eq = memchr(p, '=', (size_t)(end - p));
			const char *name_end = eq ? eq : end;

			params[n].name_off = arena.len;
			add_reencoded(&arena, &tmp, p, (size_t)(name_end - p));
			buf_addch(&arena, '\0');
			params[n].value_off = arena.len;
			if (eq)
				add_reencoded(&arena, &tmp, eq + 1, (size_t)(end - eq - 1));
			buf_addch(&arena, '\0');
			n++;
		}
		if (!*end)
			break;
		p = end;
	}
	for (size_t i = 0; i < n; i++) {
		params[i].name = arena.data + params[i].name_off;
		params[i].value = arena.data + params[i].value_off;
	}
	qsort(params, n, sizeof(*params), compare_params);
	for (size_t i = 0; i < n; i++)
		buf_addf(cr, "%s%s=%s", i ? "&" : "", params[i].name, params[i].value);

	free(params);
	buf_release(&tmp);
	buf_release(&arena);
	return 0;
}

static int compare_headers(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Appends value trimmed, each inner run of whitespace made one space. */
static void add_trimmed(struct buf *out, const char *value)
{
	int space = 0;

	while (is_header_space(*value))
		value++;
	for (; *value; value++) {
		if (is_header_space(*value)) {
			space = 1;
			continue;
		}
		if (space)
			buf_addch(out, ' ');
		space = 0;
		buf_addch(out, *value);
	}
}

/*
 * Checks the caller's headers: HTTP tokens, Host present, none of the
 * names the signer adds (own) or Authorization.
 */
static int check_headers(const struct sigv4_request *req, const struct sigv4_header *own,
			 size_t n_own, const char **error)
{
	int have_host = 0;

	if (req->n_headers && !req->headers) {
		*error = "headers are missing";
		return -EINVAL;
	}
	for (size_t i = 0; i < req->n_headers; i++) {
		const char *name = req->headers[i].name;

		if (!is_token(name) || !req->headers[i].value) {
			*error = "a header name is not an HTTP token or a value is missing";
			return -EINVAL;
		}
		if (!strcasecmp(name, "authorization")) {
			*error = "Authorization is added by the signer";
			return -EINVAL;
		}
		for (size_t j = 0; j < n_own; j++) {
			if (!strcasecmp(name, own[j].name)) {
				*error = "X-Amz-Date, X-Amz-Content-SHA256 and "
					 "X-Amz-Security-Token are added by the signer";
				return -EINVAL;
			}
		}
		have_host |= !strcasecmp(name, "host");
	}
	if (!have_host) {
		*error = "the Host header is missing";
		return -EINVAL;
	}
	return 0;
}

/*
 * Appends the canonical headers, the caller's and the signer's own, to cr
 * (each line ending in '\n') and their names to signed_headers.
 */
static int add_canonical_headers(struct buf *cr, struct buf *signed_headers,
				 const struct sigv4_request *req,
				 const struct sigv4_header *own, size_t n_own)
{
	size_t n = req->n_headers + n_own;
	struct buf arena = BUF_INIT;
	struct entry *headers = calloc(n, sizeof(*headers));

	if (!headers)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct sigv4_header *h =
			i < req->n_headers ? &req->headers[i] : &own[i - req->n_headers];

		headers[i].order = i;
		headers[i].name_off = arena.len;
		for (const char *c = h->name; *c; c++)
			buf_addch(&arena, (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c));
		buf_addch(&arena, '\0');
		headers[i].value_off = arena.len;
		add_trimmed(&arena, h->value);
		buf_addch(&arena, '\0');
	}
	for (size_t i = 0; i < n; i++) {
		headers[i].name = arena.data + headers[i].name_off;
		headers[i].value = arena.data + headers[i].value_off;
	}
	qsort(headers, n, sizeof(*headers), compare_headers);

	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(headers[i].name, headers[i - 1].name)) {
			buf_addf(cr, ",%s", headers[i].value);
			continue;
		}
		if (i) {
			buf_addch(cr, '\n');
			buf_addch(signed_headers, ';');
		}
		buf_addf(cr, "%s:%s", headers[i].name, headers[i].value);
		buf_adds(signed_headers, headers[i].name);
	}
	buf_addch(cr, '\n');

	free(headers);
	buf_release_secret(&arena); /* may hold the session token */
	return 0;
}

static void put_decimal(char *p, int value, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + value % 10);
		value /= 10;
	}
}

/* Writes now as "YYYYMMDDTHHMMSSZ". */
static int format_amz_date(time_t now, char out[17])
{
	struct tm tm;

	if (!gmtime_r(&now, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		return -EINVAL;
	put_decimal(out, tm.tm_year + 1900, 4);
	put_decimal(out + 4, tm.tm_mon + 1, 2);
	put_decimal(out + 6, tm.tm_mday, 2);
	out[8] = 'T';
	put_decimal(out + 9, tm.tm_hour, 2);
	put_decimal(out + 11, tm.tm_min, 2);
	put_decimal(out + 13, tm.tm_sec, 2);
	out[15] = 'Z';
	out[16] = '\0';
	return 0;
}

static int check_inputs(const struct sigv4_request *req, const struct sigv4_credentials *cred,
			const char *region, const char *service, const char **error)
{
	if (!req || !cred) {
		*error = "no request or no credentials";
		return -EINVAL;
	}
	if (!is_token(req->method)) {
		*error = "the method is not an HTTP token";
		return -EINVAL;
	}
	if (!is_printable_without(req->payload_hash, "") ||
	    strlen(req->payload_hash) > SIGV4_PAYLOAD_HASH_MAX) {
		*error = "the payload hash is missing or malformed";
		return -EINVAL;
	}
	/* these go into the credential scope "date/region/service/aws4_request" */
	if (!is_printable_without(region, "/,") || !is_printable_without(service, "/,")) {
		*error = "the region or service is empty or has a space, '/' or ','";
		return -EINVAL;
	}
	if (!is_printable_without(cred->access_key_id, "/,")) {
		*error = "the access key id is empty or has a space, '/' or ','";
		return -EINVAL;
	}
	if (!cred->secret_access_key || !*cred->secret_access_key) {
		*error = "the secret access key is empty";
		return -EINVAL;
	}
	if (cred->session_token && *cred->session_token &&
	    !is_printable_without(cred->session_token, "")) {
		*error = "the session token has a space or a control character";
		return -EINVAL;
	}
	return 0;
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *cred,
	       const char *region, const char *service, time_t now, unsigned flags,
	       struct sigv4_signature *out)
{
	struct buf *cr = &out->canonical_request;
	struct sigv4_header *own;
	size_t n_own;
	unsigned char key[SHA256_BYTES], mac[SHA256_BYTES];
	char date[9], cr_hash[SIGV4_SHA256_HEX_SIZE];
	const char *error = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(key, 0, sizeof(key));
	memset(mac, 0, sizeof(mac));

	rc = check_inputs(req, cred, region, service, &error);
	if (rc)
		goto out;
	if (format_amz_date(now, out->amz_date)) {
		error = "the time is outside the years 0000-9999";
		rc = -EINVAL;
		goto out;
	}
	memcpy(date, out->amz_date, 8);
	date[8] = '\0';

	/* the headers only signing knows, signed like the caller's */
	own = out->headers;
	own[out->n_headers++] = (struct sigv4_header){"X-Amz-Date", out->amz_date};
	if (flags & SIGV4_CONTENT_SHA256) {
		strcpy(out->content_sha256, req->payload_hash);
		own[out->n_headers++] =
			(struct sigv4_header){"X-Amz-Content-SHA256", out->content_sha256};
	}
	if (cred->session_token && *cred->session_token) {
		buf_adds(&out->security_token, cred->session_token);
		own[out->n_headers++] = (struct sigv4_header){"X-Amz-Security-Token",
							      buf_str(&out->security_token)};
	}
	n_own = out->n_headers;
	rc = check_headers(req, own, n_own, &error);
	if (rc)
		goto out;

	buf_adds(cr, req->method);
	buf_addch(cr, '\n');
	rc = add_canonical_path(cr, req->path, flags, &error);
	if (rc)
		goto out;
	buf_addch(cr, '\n');
	rc = add_canonical_query(cr, req->query);
	if (rc)
		goto out;
	buf_addch(cr, '\n');
	rc = add_canonical_headers(cr, &out->signed_headers, req, own, n_own);
	if (rc)
		goto out;
	buf_addf(cr, "\n%s\n%s", buf_str(&out->signed_headers), req->payload_hash);

	rc = sigv4_sha256_hex(cr->data, cr->len, cr_hash);
	if (rc)
		goto out;
	buf_addf(&out->string_to_sign, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s",
		 out->amz_date, date, region, service, cr_hash);

	rc = derive_key(cred->secret_access_key, date, region, service, key);
	if (rc)
		goto out;
	rc = hmac_sha256(key, sizeof(key), buf_str(&out->string_to_sign), mac);
	if (rc)
		goto out;
	buf_hex(out->signature, mac, sizeof(mac));

	buf_addf(&out->authorization,
		 ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		 cred->access_key_id, date, region, service, buf_str(&out->signed_headers),
		 out->signature);

	out->headers[out->n_headers++] =
		(struct sigv4_header){"Authorization", buf_str(&out->authorization)};

out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(mac, sizeof(mac));
	if (rc) {
		sigv4_signature_release(out);
		out->error = error;
	}
	return rc;
}

void sigv4_signature_release(struct sigv4_signature *sig)
{
	buf_release_secret(&sig->canonical_request);
	buf_release_secret(&sig->string_to_sign);
	buf_release(&sig->signed_headers);
	buf_release_secret(&sig->authorization);
	buf_release_secret(&sig->security_token);
	/* zeroes it too: a released signature is an empty one */
	OPENSSL_cleanse(sig, sizeof(*sig));
}
