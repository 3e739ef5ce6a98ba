/*
 * test_sigv4: the SigV4 signer against three references.
 *
 *   1. AWS's generic SigV4 suite (../shared/sigv4/aws-sig-v4-test-suite):
 *      every directory holding a context.json is a case; its request.txt
 *      is signed and the canonical request, string to sign, signature and
 *      Authorization must match the case's files exactly.
 *   2. ../shared/sigv4/s3-vectors.json, botocore's S3 signer's output.
 *   3. With --botocore SCRIPT: fresh random S3 requests that
 *      sigv4_botocore.py signs with botocore's S3SigV4Auth, in the form
 *      of s3-vectors.json, checked here like the stored vectors.
 *
 * Plus a table of our own (encoding, normalization, refused input) that
 * needs nothing beside the project.  Runs with the project root as its
 * working directory.  Without ../shared, parts 1 and 2 are skipped with a
 * message; without /usr/bin/python3 or botocore, part 3 exits 77.
 */
#include "s3/sigv4.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "check.h"

#define SHARED_SIGV4 "../shared/sigv4"
#define SUITE_DIR SHARED_SIGV4 "/aws-sig-v4-test-suite/v4"
#define S3_VECTORS SHARED_SIGV4 "/s3-vectors.json"
#define PYTHON "/usr/bin/python3"
#define MAX_HEADERS 32

/* ---- small helpers ---------------------------------------------------- */

static int read_file(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "rb");
	char chunk[4096];
	size_t n;

	if (!f)
		return -errno;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(out, chunk, n);
	int rc = ferror(f) ? -EIO : 0;
	fclose(f);
	return rc;
}

/* "2015-08-30T12:36:00Z" or "20150830T123600Z" to seconds; -1 if neither. */
static time_t parse_time(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, strchr(s, '-') ? "%Y-%m-%dT%H:%M:%SZ" : "%Y%m%dT%H%M%SZ", &tm);
	return end && !*end ? timegm(&tm) : -1;
}

/* Reports which case the failures since *mark came from. */
static void note_case(int *mark, const char *what, const char *name)
{
	if (check_failed > *mark)
		fprintf(stderr, "  ^ in %s '%s'\n", what, name);
	*mark = check_failed;
}

/* ---- a minimal JSON reader, enough for the vectors -------------------- */

enum json_type {
	JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT
};

struct json {
	enum json_type type;
	char *key;          /* the member's name, inside an object */
	char *text;         /* a string's value, a number's text */
	struct json *child; /* first element or member */
	struct json *next;
};

static void json_free(struct json *j)
{
	while (j) {
		struct json *next = j->next;

		json_free(j->child);
		free(j->key);
		free(j->text);
		free(j);
		j = next;
	}
}

static void json_skip_space(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

static int json_hex4(const char *s, unsigned long *out)
{
	*out = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			return -1;
		*out = *out << 4 | (unsigned long)v;
	}
	return 0;
}

static void add_utf8(struct buf *out, unsigned long cp)
{
	if (cp < 0x80) {
		buf_addch(out, (char)cp);
	} else if (cp < 0x800) {
		buf_addch(out, (char)(0xc0 | cp >> 6));
		buf_addch(out, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_addch(out, (char)(0xe0 | cp >> 12));
		buf_addch(out, (char)(0x80 | (cp >> 6 & 0x3f)));
		buf_addch(out, (char)(0x80 | (cp & 0x3f)));
	} else {
		buf_addch(out, (char)(0xf0 | cp >> 18));
		buf_addch(out, (char)(0x80 | (cp >> 12 & 0x3f)));
		buf_addch(out, (char)(0x80 | (cp >> 6 & 0x3f)));
		buf_addch(out, (char)(0x80 | (cp & 0x3f)));
	}
}

static int json_string(const char **p, struct buf *out)
{
	const char *s = *p;
	unsigned long cp, low;

	if (*s++ != '"')
		return -1;
	while (*s != '"') {
		if ((unsigned char)*s < 0x20)
			return -1;
		if (*s != '\\') {
			buf_addch(out, *s++);
			continue;
		}
		s++;
		switch (*s++) {
		case '"': buf_addch(out, '"'); break;
		case '\\': buf_addch(out, '\\'); break;
		case '/': buf_addch(out, '/'); break;
		case 'b': buf_addch(out, '\b'); break;
		case 'f': buf_addch(out, '\f'); break;
		case 'n': buf_addch(out, '\n'); break;
		case 'r': buf_addch(out, '\r'); break;
		case 't': buf_addch(out, '\t'); break;
		case 'u':
			if (json_hex4(s, &cp))
				return -1;
			s += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && s[0] == '\\' && s[1] == 'u' &&
			    !json_hex4(s + 2, &low) && low >= 0xdc00 && low < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
				s += 6;
			}
			add_utf8(out, cp);
			break;
		default:
			return -1;
		}
	}
	*p = s + 1;
	return 0;
}

/* Parses one value at *p and moves past it; NULL if malformed. */
static struct json *json_value(const char **p, int depth)
{
	struct json *j = calloc(1, sizeof(*j));
	struct buf s = BUF_INIT;
	size_t n;

	json_skip_space(p);
	if (!j || depth > 32)
		goto fail;
	if (**p == '{' || **p == '[') {
		char close = **p == '{' ? '}' : ']';
		struct json **tail = &j->child;

		j->type = close == '}' ? JSON_OBJECT : JSON_ARRAY;
		(*p)++;
		json_skip_space(p);
		if (**p == close) {
			(*p)++;
			return j;
		}
		for (;;) {
			struct json *item;

			buf_reset(&s);
			if (j->type == JSON_OBJECT) {
				json_skip_space(p);
				if (json_string(p, &s))
					goto fail;
				json_skip_space(p);
				if (*(*p)++ != ':')
					goto fail;
			}
			item = json_value(p, depth + 1);
			if (!item)
				goto fail;
			*tail = item;
			tail = &item->next;
			if (j->type == JSON_OBJECT)
				item->key = buf_detach(&s, NULL);
			json_skip_space(p);
			if (**p == close) {
				(*p)++;
				buf_release(&s);
				return j;
			}
			if (*(*p)++ != ',')
				goto fail;
		}
	}
	if (**p == '"') {
		if (json_string(p, &s))
			goto fail;
		j->type = JSON_STRING;
		j->text = buf_detach(&s, NULL);
		return j;
	}
	static const struct { const char *word; enum json_type type; } words[] = {
		{"null", JSON_NULL}, {"false", JSON_FALSE}, {"true", JSON_TRUE},
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (!strncmp(*p, words[i].word, strlen(words[i].word))) {
			*p += strlen(words[i].word);
			j->type = words[i].type;
			return j;
		}
	}
	n = strspn(*p, "+-0123456789.eE");
	if (n) {
		j->type = JSON_NUMBER;
		j->text = strndup(*p, n);
		*p += n;
		return j;
	}
fail:
	buf_release(&s);
	json_free(j);
	return NULL;
}

static struct json *json_parse(const char *text)
{
	const char *p = text;
	struct json *j = json_value(&p, 0);

	json_skip_space(&p);
	if (j && *p) {
		json_free(j);
		return NULL;
	}
	return j;
}

static const struct json *json_get(const struct json *obj, const char *key)
{
	for (const struct json *m = obj ? obj->child : NULL; m; m = m->next)
		if (m->key && !strcmp(m->key, key))
			return m;
	return NULL;
}

/* The string member key of obj, or NULL when absent or not a string. */
static const char *json_str(const struct json *obj, const char *key)
{
	const struct json *m = json_get(obj, key);

	return m && m->type == JSON_STRING ? m->text : NULL;
}

static int json_true(const struct json *obj, const char *key)
{
	const struct json *m = json_get(obj, key);

	return m && m->type == JSON_TRUE;
}

/* ---- our own table ---------------------------------------------------- */

static const struct sigv4_credentials example_cred = {
	"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL};
static const struct sigv4_header example_host[] = {{"Host", "examplebucket.s3.amazonaws.com"}};

/* Signs a GET of path?query with flags; line (1-based) of its canonical request must be want. */
static void check_canonical_line(const char *path, const char *query, unsigned flags,
				 int line, const char *want)
{
	struct sigv4_request req = {"GET", path, query, example_host, 1, SIGV4_EMPTY_SHA256};
	struct sigv4_signature sig;
	const char *p;

	CHECK_INT(sigv4_sign(&req, &example_cred, "us-east-1", "s3", 1369353600, flags, &sig), 0);
	p = buf_str(&sig.canonical_request);
	for (int i = 1; i < line && p; i++)
		if ((p = strchr(p, '\n')))
			p++;
	char *got = p ? strndup(p, strcspn(p, "\n")) : NULL;
	CHECK_STR(got, want);
	free(got);
	sigv4_signature_release(&sig);
}

static void test_builtin(void)
{
	static const struct { const char *in; int keep_slash; const char *want; } encode[] = {
		{"-._~AZaz09", 0, "-._~AZaz09"},
		{"a b/c", 0, "a%20b%2Fc"},
		{"exports/a b/c+d=e.csv", 1, "exports/a%20b/c%2Bd%3De.csv"},
		{"50%!*'();:@&$,?#[]", 1, "50%25%21%2A%27%28%29%3B%3A%40%26%24%2C%3F%23%5B%5D"},
		{"\xe6\x97\xa5/\xc3\xa9", 1, "%E6%97%A5/%C3%A9"},
		{"", 1, ""},
	};
	for (size_t i = 0; i < sizeof(encode) / sizeof(encode[0]); i++) {
		struct buf b = BUF_INIT;

		sigv4_uri_encode(&b, encode[i].in, strlen(encode[i].in), encode[i].keep_slash);
		CHECK_STR(buf_str(&b), encode[i].want);
		buf_release(&b);
	}

	char hex[SIGV4_SHA256_HEX_SIZE];
	CHECK_INT(sigv4_sha256_hex("", 0, hex), 0);
	CHECK_STR(hex, SIGV4_EMPTY_SHA256);
	CHECK_INT(sigv4_sha256_hex("abc", 3, hex), 0);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

	/* query: decoded, encoded again, sorted by name then value */
	static const struct { const char *query; const char *want; } queries[] = {
		{"uploads", "uploads="},
		{"uploadId=abc%2Bdef&partNumber=3", "partNumber=3&uploadId=abc%2Bdef"},
		{"uploadId=abc+def", "uploadId=abc%2Bdef"},
		{"b=2&a=1&a=0&a", "a=&a=0&a=1&b=2"},
		{"k=%zz&x=%7e&y=%2f", "k=%25zz&x=~&y=%2F"},
		{"a=1&&b=2&", "a=1&b=2"},
		{"", ""},
	};
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
		check_canonical_line("/", queries[i].query, SIGV4_S3, 3, queries[i].want);

	/* path: S3 signs it as given; other services normalize and encode it */
	check_canonical_line("/b/a//./../x%20y", NULL, SIGV4_S3, 2, "/b/a//./../x%20y");
	check_canonical_line("/a/./b/../c/", NULL, SIGV4_SERVICE, 2, "/a/c/");
	check_canonical_line("/a/b/..", NULL, SIGV4_SERVICE, 2, "/a");
	check_canonical_line("/../..//", NULL, SIGV4_SERVICE, 2, "/");
	check_canonical_line("/x%20y", NULL, SIGV4_SERVICE, 2, "/x%2520y");

	/* the AWS S3 documentation's GET example, with a session token added */
	static const struct sigv4_header get_headers[] = {
		{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}};
	struct sigv4_request get = {"GET", "/test.txt", NULL, get_headers, 2, SIGV4_EMPTY_SHA256};
	struct sigv4_signature sig;
	CHECK_INT(sigv4_sign(&get, &example_cred, "us-east-1", "s3", 1369353600, SIGV4_S3, &sig), 0);
	CHECK_STR(sig.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	CHECK_STR(buf_str(&sig.signed_headers), "host;range;x-amz-content-sha256;x-amz-date");
	CHECK_INT(sig.n_headers, 3);
	CHECK_STR(sig.headers[0].name, "X-Amz-Date");
	CHECK_STR(sig.headers[0].value, "20130524T000000Z");
	CHECK_STR(sig.headers[1].name, "X-Amz-Content-SHA256");
	CHECK_STR(sig.headers[1].value, SIGV4_EMPTY_SHA256);
	CHECK_STR(sig.headers[2].name, "Authorization");
	CHECK_STR(sig.headers[2].value, buf_str(&sig.authorization));
	sigv4_signature_release(&sig);
	CHECK(sig.canonical_request.data == NULL && sig.n_headers == 0);

	struct sigv4_credentials temp = example_cred;
	temp.session_token = "FQoGZXIvYXdzEXAMPLE+/=";
	CHECK_INT(sigv4_sign(&get, &temp, "auto", "s3", 1369353600, SIGV4_S3, &sig), 0);
	CHECK_INT(sig.n_headers, 4);
	CHECK_STR(sig.headers[2].name, "X-Amz-Security-Token");
	CHECK_STR(sig.headers[2].value, "FQoGZXIvYXdzEXAMPLE+/=");
	CHECK(strstr(buf_str(&sig.authorization), "/20130524/auto/s3/aws4_request, ") != NULL);
	CHECK(strstr(buf_str(&sig.canonical_request),
		     "\nx-amz-security-token:FQoGZXIvYXdzEXAMPLE+/=\n") != NULL);
	sigv4_signature_release(&sig);

	/* refused input: -EINVAL with a reason, and nothing to free */
	static const struct sigv4_header no_host[] = {{"Range", "bytes=0-9"}};
	static const struct sigv4_header own_date[] = {{"Host", "h"}, {"X-AMZ-DATE", "x"}};
	static const struct sigv4_header own_auth[] = {{"Host", "h"}, {"authorization", "x"}};
	static const struct sigv4_header bad_name[] = {{"Host", "h"}, {"x amz", "x"}};
	static const struct {
		const char *method, *path, *payload, *region;
		const struct sigv4_header *headers;
		size_t n_headers;
		time_t now;
	} bad[] = {
		{"GET", "/k", SIGV4_EMPTY_SHA256, "us-east-1", no_host, 1, 0},
		{"GET", "/k", SIGV4_EMPTY_SHA256, "us-east-1", own_date, 2, 0},
		{"GET", "/k", SIGV4_EMPTY_SHA256, "us-east-1", own_auth, 2, 0},
		{"GET", "/k", SIGV4_EMPTY_SHA256, "us-east-1", bad_name, 2, 0},
		{"GET", "/a key", SIGV4_EMPTY_SHA256, "us-east-1", example_host, 1, 0},
		{"GET", "/a?b", SIGV4_EMPTY_SHA256, "us-east-1", example_host, 1, 0},
		{"GET", "key", SIGV4_EMPTY_SHA256, "us-east-1", example_host, 1, 0},
		{"G T", "/k", SIGV4_EMPTY_SHA256, "us-east-1", example_host, 1, 0},
		{"GET", "/k", "", "us-east-1", example_host, 1, 0},
		{"GET", "/k", SIGV4_EMPTY_SHA256 "0", "us-east-1", example_host, 1, 0},
		{"GET", "/k", SIGV4_EMPTY_SHA256, "", example_host, 1, 0},
		{"GET", "/k", SIGV4_EMPTY_SHA256, "us/east", example_host, 1, 0},
		{"GET", "/k", SIGV4_EMPTY_SHA256, "us-east-1", example_host, 1, 253402300800},
	};
	int mark = check_failed;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sigv4_request req = {bad[i].method, bad[i].path, NULL, bad[i].headers,
					    bad[i].n_headers, bad[i].payload};
		char what[32];

		CHECK_INT(sigv4_sign(&req, &example_cred, bad[i].region, "s3", bad[i].now,
				     SIGV4_S3, &sig), -EINVAL);
		CHECK(sig.error != NULL && sig.canonical_request.data == NULL);
		snprintf(what, sizeof(what), "%zu", i);
		note_case(&mark, "refused input", what);
		sigv4_signature_release(&sig);
	}
}

/* ---- 1. AWS's generic suite ------------------------------------------- */

struct http_request {
	const char *method, *path, *query;
	struct sigv4_header headers[MAX_HEADERS];
	size_t n_headers;
	const char *body;
	size_t body_len;
};

/*
 * Parses an HTTP/1.1 request in text (len bytes, NUL-terminated), cutting
 * it in place.  The target may hold spaces ("GET /a b/ HTTP/1.1"); a header
 * line starting with a space or tab continues the one before, whose value
 * then keeps its line breaks (the signer folds them).
 */
static int parse_http_request(char *text, size_t len, struct http_request *req)
{
	char *end = text + len, *line_end, *sp, *last, *q, *p;

	memset(req, 0, sizeof(*req));
	line_end = strchr(text, '\n');
	if (!line_end)
		line_end = end;
	*line_end = '\0';
	if (line_end > text && line_end[-1] == '\r')
		line_end[-1] = '\0';
	sp = strchr(text, ' ');
	last = strrchr(text, ' ');
	if (!sp || sp == last)
		return -EINVAL;
	*sp = *last = '\0';
	req->method = text;
	req->path = sp + 1;
	if ((q = strchr(sp + 1, '?'))) {
		*q = '\0';
		req->query = q + 1;
	}

	p = line_end < end ? line_end + 1 : end;
	while (p < end) {
		char *e = p, *colon;

		if (*p == '\n' || (*p == '\r' && p[1] == '\n')) {
			p += *p == '\n' ? 1 : 2;
			break;
		}
		while ((e = strchr(e, '\n')) && (e[1] == ' ' || e[1] == '\t'))
			e++;
		if (!e)
			e = end;
		colon = memchr(p, ':', (size_t)(e - p));
		if (!colon || req->n_headers == MAX_HEADERS)
			return -EINVAL;
		*colon = '\0';
		*e = '\0';
		req->headers[req->n_headers++] = (struct sigv4_header){p, colon + 1};
		p = e < end ? e + 1 : end;
	}
	req->body = p;
	req->body_len = (size_t)(end - p);
	return 0;
}

/* Compares got with the file dir/name, less one final line break. */
static void check_file(const char *dir, const char *name, const char *got)
{
	struct buf path = BUF_INIT, want = BUF_INIT;

	buf_addf(&path, "%s/%s", dir, name);
	CHECK_INT(read_file(buf_str(&path), &want), 0);
	if (want.len && want.data[want.len - 1] == '\n')
		buf_setlen(&want, want.len - 1);
	CHECK_STR(got, buf_str(&want));
	buf_release(&want);
	buf_release(&path);
}

/* The Authorization line of dir/header-signed-request.txt, into out. */
static void signed_authorization(const char *dir, struct buf *out)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	const char *line;

	buf_addf(&path, "%s/header-signed-request.txt", dir);
	if (read_file(buf_str(&path), &text) == 0 &&
	    (line = strstr(buf_str(&text), "\nAuthorization:")))
		buf_add(out, line + 15, strcspn(line + 15, "\r\n"));
	buf_release(&text);
	buf_release(&path);
}

static void run_suite_case(const char *dir)
{
	struct buf path = BUF_INIT, context = BUF_INIT, text = BUF_INIT, auth = BUF_INIT;
	struct json *ctx = NULL;
	struct http_request http;
	struct sigv4_signature sig = {0};
	char payload[SIGV4_SHA256_HEX_SIZE];
	const struct json *c;
	unsigned flags = SIGV4_ENCODE_PATH;

	buf_addf(&path, "%s/context.json", dir);
	CHECK_INT(read_file(buf_str(&path), &context), 0);
	ctx = json_parse(buf_str(&context));
	CHECK(ctx != NULL);
	buf_reset(&path);
	buf_addf(&path, "%s/request.txt", dir);
	CHECK_INT(read_file(buf_str(&path), &text), 0);
	buf_grow(&text, 0); /* parsed in place, so never the shared "" */
	if (!ctx || parse_http_request(text.data, text.len, &http)) {
		CHECK(!"the case's context.json or request.txt is malformed");
		goto out;
	}

	c = json_get(ctx, "credentials");
	struct sigv4_credentials cred = {json_str(c, "access_key_id"),
					 json_str(c, "secret_access_key"), json_str(c, "token")};
	/* the token is added after signing: not signed, so not ours to add */
	if (json_true(ctx, "omit_session_token"))
		cred.session_token = NULL;
	if (json_true(ctx, "normalize"))
		flags |= SIGV4_NORMALIZE_PATH;
	if (json_true(ctx, "sign_body"))
		flags |= SIGV4_CONTENT_SHA256;
	CHECK_INT(sigv4_sha256_hex(http.body, http.body_len, payload), 0);

	struct sigv4_request req = {http.method, http.path, http.query, http.headers,
				    http.n_headers, payload};
	time_t now = parse_time(json_str(ctx, "timestamp") ? json_str(ctx, "timestamp") : "");
	int rc = sigv4_sign(&req, &cred, json_str(ctx, "region"), json_str(ctx, "service"),
			    now, flags, &sig);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  sigv4_sign: %s\n", sig.error ? sig.error : "(no reason)");
		goto out;
	}
	check_file(dir, "header-canonical-request.txt", buf_str(&sig.canonical_request));
	check_file(dir, "header-string-to-sign.txt", buf_str(&sig.string_to_sign));
	check_file(dir, "header-signature.txt", sig.signature);
	signed_authorization(dir, &auth);
	CHECK_STR(buf_str(&sig.authorization), buf_str(&auth));
out:
	sigv4_signature_release(&sig);
	json_free(ctx);
	buf_release(&auth);
	buf_release(&text);
	buf_release(&context);
	buf_release(&path);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every case under dir, in name order; returns how many. */
static int run_suite_dir(const char *dir)
{
	struct buf path = BUF_INIT;
	struct stat st;
	char **names = NULL;
	size_t n = 0;
	int cases = 0, mark = check_failed;
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		CHECK(!"cannot open a directory of the AWS suite");
		return 0;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), compare_names);

	buf_addf(&path, "%s/context.json", dir);
	if (stat(buf_str(&path), &st) == 0) {
		run_suite_case(dir);
		note_case(&mark, "AWS suite case", dir);
		cases++;
	}
	for (size_t i = 0; i < n; i++) {
		buf_reset(&path);
		buf_addf(&path, "%s/%s", dir, names[i]);
		if (stat(buf_str(&path), &st) == 0 && S_ISDIR(st.st_mode))
			cases += run_suite_dir(buf_str(&path));
		free(names[i]);
	}
	free(names);
	buf_release(&path);
	return cases;
}

/* ---- 2. botocore's S3 vectors, stored or fresh ----------------------- */

/*
 * Signs one vector (the fields of s3-vectors.json) as the s3 module will:
 * the path built from bucket and object key with sigv4_uri_encode(), which
 * must be the path botocore sent; the query as sent; Host and the
 * caller's headers.  Returns 1 when the Authorization matches.
 */
static int run_s3_vector(const struct json *v)
{
	struct sigv4_header headers[MAX_HEADERS];
	struct sigv4_signature sig = {0};
	struct buf path = BUF_INIT, url_path = BUF_INIT;
	const char *url = json_str(v, "url"), *query = NULL, *key = json_str(v, "object_key");
	const char *want_date = NULL, *want_sha = NULL, *want_token = NULL;
	const char *addressing = json_str(v, "addressing"), *p;
	const struct json *token = json_get(v, "session_token"), *vh = json_get(v, "headers");
	size_t n = 0;
	int same = 0;

	if (!url || !key || !json_str(v, "bucket") || !strstr(url, "://") || !addressing) {
		CHECK(!"a vector lacks url, object_key, bucket or addressing");
		return 0;
	}
	headers[n++] = (struct sigv4_header){"Host", json_str(v, "host_header")};
	for (const struct json *h = vh ? vh->child : NULL; h && n < MAX_HEADERS; h = h->next) {
		/* the signer adds these three: check its values instead */
		if (!strcasecmp(h->key, "X-Amz-Date"))
			want_date = h->text;
		else if (!strcasecmp(h->key, "X-Amz-Content-SHA256"))
			want_sha = h->text;
		else if (!strcasecmp(h->key, "X-Amz-Security-Token"))
			want_token = h->text;
		else
			headers[n++] = (struct sigv4_header){h->key, h->text};
	}

	buf_addch(&path, '/');
	if (!strcmp(addressing, "path")) {
		buf_adds(&path, json_str(v, "bucket"));
		buf_addch(&path, '/');
	}
	sigv4_uri_encode(&path, key, strlen(key), 1);
	if ((p = strchr(strstr(url, "://") + 3, '/'))) {
		buf_add(&url_path, p, strcspn(p, "?"));
		query = strchr(p, '?') ? strchr(p, '?') + 1 : NULL;
	}
	CHECK_STR(buf_str(&path), buf_str(&url_path));

	/*
	 * The payload hash signed is the X-Amz-Content-SHA256 botocore sent.
	 * A stored vector's "payload_hash" is what its generator asked for,
	 * and for three of them ("UNSIGNED-PAYLOAD" over http, or over https
	 * without Content-MD5) botocore's S3SigV4Auth hashed the body anyway.
	 */
	struct sigv4_request req = {json_str(v, "method"), buf_str(&path), query, headers, n,
				    want_sha ? want_sha : json_str(v, "payload_hash")};
	struct sigv4_credentials cred = {json_str(v, "access_key_id"),
					 json_str(v, "secret_access_key"),
					 token && token->type == JSON_STRING ? token->text : NULL};
	time_t now = parse_time(json_str(v, "timestamp") ? json_str(v, "timestamp") : "");
	int rc = sigv4_sign(&req, &cred, json_str(v, "region"), json_str(v, "service"), now,
			    SIGV4_S3, &sig);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  sigv4_sign: %s\n", sig.error ? sig.error : "(no reason)");
		goto out;
	}
	CHECK_STR(buf_str(&sig.canonical_request), json_str(v, "canonical_request"));
	CHECK_STR(buf_str(&sig.string_to_sign), json_str(v, "string_to_sign"));
	CHECK_STR(sig.signature, json_str(v, "signature"));
	CHECK_STR(buf_str(&sig.authorization), json_str(v, "authorization"));
	same = json_str(v, "authorization") &&
	       !strcmp(buf_str(&sig.authorization), json_str(v, "authorization"));

	/* and the headers it asks for are the ones botocore added */
	CHECK_INT(sig.n_headers, want_token ? 4 : 3);
	CHECK_STR(sig.headers[0].value, want_date);
	CHECK_STR(sig.headers[1].value, want_sha);
	if (want_token && sig.n_headers == 4)
		CHECK_STR(sig.headers[2].value, want_token);
out:
	sigv4_signature_release(&sig);
	buf_release(&url_path);
	buf_release(&path);
	return same;
}

/* Runs every vector of a {"vectors": [...]} document; 0 if none. */
static int run_s3_vectors(const char *text, int *same)
{
	struct json *doc = json_parse(text);
	const struct json *vectors = json_get(doc, "vectors");
	int n = 0, mark = check_failed;

	*same = 0;
	CHECK(vectors && vectors->type == JSON_ARRAY);
	for (const struct json *v = vectors ? vectors->child : NULL; v; v = v->next, n++) {
		*same += run_s3_vector(v);
		note_case(&mark, "S3 vector", json_str(v, "name") ? json_str(v, "name") : "?");
	}
	json_free(doc);
	return n;
}

/* ---- 3. botocore on fresh random requests ----------------------------- */

/*
 * Runs sigv4_botocore.py, which prints random S3 requests signed by
 * botocore's S3SigV4Auth in the form of s3-vectors.json, and checks them
 * like the stored vectors.  77 when python3 or botocore is missing.
 */
static int run_botocore(const char *script)
{
	struct buf text = BUF_INIT;
	char chunk[4096];
	int fds[2], status = 0, n, same;
	ssize_t got;
	pid_t pid;

	if (access(PYTHON, X_OK)) {
		printf("skipped: %s not found (the comparison needs Debian's python3 and "
		       "python3-botocore)\n", PYTHON);
		return 77;
	}
	if (pipe(fds)) {
		perror("pipe");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(PYTHON, PYTHON, script, (char *)NULL);
		perror("exec " PYTHON);
		_exit(127);
	}
	close(fds[1]);
	while ((got = read(fds[0], chunk, sizeof(chunk))) > 0 || (got < 0 && errno == EINTR))
		if (got > 0)
			buf_add(&text, chunk, (size_t)got);
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		printf("skipped: botocore is not available (see above)\n");
		buf_release(&text);
		return 77;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	n = run_s3_vectors(buf_str(&text), &same);
	CHECK(n > 0);
	printf("botocore: %d of %d Authorization headers match\n", same, n);
	buf_release(&text);
	return check_done();
}

int main(int argc, char **argv)
{
	struct buf vectors = BUF_INIT;
	struct stat st;
	int cases, n, same;

	if (argc == 3 && !strcmp(argv[1], "--botocore"))
		return run_botocore(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: test_sigv4 [--botocore sigv4_botocore.py]\n");
		return 2;
	}

	test_builtin();
	if (stat(SHARED_SIGV4, &st)) {
		printf("skipped: " SHARED_SIGV4 " not found (the AWS suite and botocore's S3 "
		       "vectors live beside the project; run from its root)\n");
	} else {
		cases = run_suite_dir(SUITE_DIR);
		CHECK(cases > 0);
		printf("aws suite: %d cases\n", cases);
		CHECK_INT(read_file(S3_VECTORS, &vectors), 0);
		n = run_s3_vectors(buf_str(&vectors), &same);
		CHECK(n > 0);
		printf("s3 vectors: %d of %d Authorization headers match\n", same, n);
	}
	buf_release(&vectors);
	if (!check_passed && !check_failed)
		return 77;
	return check_done();
}
