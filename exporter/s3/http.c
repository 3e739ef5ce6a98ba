/*
 * http: a libcurl easy handle per client (see http.h).
 *
 * The handle lives as long as the client, so its connection cache keeps
 * the connection to the store open between requests (keep-alive).  Every
 * request starts from curl_easy_reset(), which drops the previous
 * request's options but keeps live connections, the DNS cache and TLS
 * sessions: no option can leak from one request into the next.
 *
 * HTTP/1.1 only: a client sends one request at a time, so HTTP/2's
 * multiplexing would give nothing, and 1.1 keeps "Expect: 100-continue"
 * and early error replies behaving the same on every store.
 *
 * Threads: a client belongs to one thread at a time.  The cancel and stop
 * flags of a request are written by other threads and only read here.
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/log.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_STALL_TIMEOUT_S 30L
#define STALL_BYTES_PER_S 1024L
#define USER_AGENT "warehousefs/" WAREHOUSEFS_VERSION

struct http_client {
	CURL *curl;
	char *ca_bundle;
	struct curl_slist *resolve;
	long connect_timeout_ms;
	long stall_timeout_s;
	char errbuf[CURL_ERROR_SIZE];
};

/* One request in flight: what the callbacks share. */
struct transfer {
	const struct http_request *req;
	struct http_response *resp;
	uint64_t pos;      /* body bytes handed to curl */
	int read_errno;    /* pread failed */
	int short_file;    /* the file ended before body_len */
};

int http_global_init(void)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK) {
		log_error("cannot initialise libcurl: %s", curl_easy_strerror(rc));
		return -EIO;
	}
	return 0;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

struct http_client *http_client_new(const struct http_options *opts)
{
	struct http_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->curl = curl_easy_init();
	if (!c->curl)
		goto fail;
	c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
							      : DEFAULT_CONNECT_TIMEOUT_MS;
	c->stall_timeout_s = opts->stall_timeout_s > 0 ? opts->stall_timeout_s
						       : DEFAULT_STALL_TIMEOUT_S;
	if (opts->ca_bundle && opts->ca_bundle[0]) {
		c->ca_bundle = strdup(opts->ca_bundle);
		if (!c->ca_bundle)
			goto fail;
	}
	if (opts->resolve && opts->resolve[0]) {
		c->resolve = curl_slist_append(NULL, opts->resolve);
		if (!c->resolve)
			goto fail;
	}
	return c;
fail:
	http_client_free(c);
	return NULL;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->resolve);
	free(c->ca_bundle);
	free(c);
}

void http_response_release(struct http_response *resp)
{
	buf_release(&resp->body);
	memset(resp, 0, sizeof(*resp));
}

static size_t read_body(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct transfer *t = arg;
	const struct http_request *req = t->req;
	uint64_t left = req->body_len - t->pos;
	size_t room = size * nmemb;
	ssize_t n;

	if (room > left)
		room = (size_t)left;
	if (room == 0)
		return 0;
	if (req->body_fd < 0) {
		memcpy(dst, (const char *)req->body + t->pos, room);
		t->pos += room;
		return room;
	}
	do
		n = pread(req->body_fd, dst, room, (off_t)(req->body_offset + t->pos));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		t->read_errno = errno;
		return CURL_READFUNC_ABORT;
	}
	if (n == 0) {
		t->short_file = 1;
		return CURL_READFUNC_ABORT;
	}
	t->pos += (uint64_t)n;
	return (size_t)n;
}

/* curl rewinds the body when it must send it again (a reused connection closed). */
static int seek_body(void *arg, curl_off_t offset, int origin)
{
	struct transfer *t = arg;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > t->req->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	t->pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t write_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct transfer *t = arg;
	struct buf *body = &t->resp->body;
	size_t n = size * nmemb;

	if (body->len < HTTP_BODY_MAX)
		buf_add(body, data, n < HTTP_BODY_MAX - body->len ? n : HTTP_BODY_MAX - body->len);
	return n;
}

/* Copies a header's value, cut to fit, then trimmed, into out. */
static void header_value(const char *v, size_t len, char *out, size_t size)
{
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	/*
	 * Cut first (at a NUL, which would end the string we keep anyway, or
	 * to fit), so a blank where the cut falls is trimmed too.
	 */
	len = strnlen(v, len);
	if (len >= size)
		len = size - 1;
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r' ||
		       v[len - 1] == '\n'))
		len--;
	memcpy(out, v, len);
	out[len] = '\0';
}

void http_parse_header_line(const char *line, size_t len, struct http_response *r)
{
	static const struct {
		const char *name;
		size_t offset, size;
	} wanted[] = {
		{"etag", offsetof(struct http_response, etag), sizeof(r->etag)},
		{"x-amz-request-id", offsetof(struct http_response, request_id),
		 sizeof(r->request_id)},
		{"x-amz-bucket-region", offsetof(struct http_response, bucket_region),
		 sizeof(r->bucket_region)},
		{"location", offsetof(struct http_response, location), sizeof(r->location)},
	};

	/* A new status line ("100 Continue", then the real one): start afresh. */
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		r->etag[0] = r->request_id[0] = r->bucket_region[0] = r->location[0] = '\0';
		return;
	}
	const char *colon = memchr(line, ':', len);
	if (!colon)
		return;
	size_t name_len = (size_t)(colon - line);
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (strlen(wanted[i].name) == name_len &&
		    strncasecmp(line, wanted[i].name, name_len) == 0)
			header_value(colon + 1, len - name_len - 1, (char *)r + wanted[i].offset,
				     wanted[i].size);
}

static size_t read_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct transfer *t = arg;
	size_t n = size * nmemb;

	http_parse_header_line(line, n, t->resp);
	return n;
}

static int check_cancel(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			curl_off_t ulnow)
{
	const struct transfer *t = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (t->req->cancel && __atomic_load_n(t->req->cancel, __ATOMIC_RELAXED))
		return 1;
	if (t->req->stop && __atomic_load_n(t->req->stop, __ATOMIC_RELAXED))
		return 1;
	return 0;
}

static void set_error(struct http_error *err, const char *code, int transient,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_error(struct http_error *err, const char *code, int transient,
		      const char *fmt, ...)
{
	va_list ap;

	snprintf(err->code, sizeof(err->code), "%s", code);
	err->transient = transient;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/*
 * The one place a CURLcode becomes an error of ours.  Returns the errno
 * for http_perform().
 */
static int translate(struct http_client *c, CURLcode rc, const struct transfer *t,
		     struct http_error *err)
{
	long os_errno = 0;
	const char *what = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);

	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
	switch (rc) {
	case CURLE_ABORTED_BY_CALLBACK:
		set_error(err, "Canceled", 0, "transfer canceled");
		return -ECANCELED;
	case CURLE_OUT_OF_MEMORY:
		set_error(err, "TransportError", 1, "out of memory");
		return -ENOMEM;
	case CURLE_READ_ERROR:
		if (t->short_file) {
			set_error(err, "ReadError", 0,
				  "the file ended before its %llu bytes were sent",
				  (unsigned long long)t->req->body_len);
			return -EBADMSG;
		}
		set_error(err, "ReadError", 0, "cannot read the file to send: %s",
			  strerror(t->read_errno ? t->read_errno : EIO));
		return -EIO;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		/* Often a network that is not up yet; a typo stays bounded by retries. */
		set_error(err, "ResolveFailed", 1, "%s", what);
		return -EIO;
	case CURLE_COULDNT_CONNECT:
		if (os_errno == ECONNREFUSED)
			set_error(err, "ConnectionRefused", 1, "%s", what);
		else if (os_errno == ETIMEDOUT)
			set_error(err, "Timeout", 1, "%s", what);
		else
			set_error(err, "TransportError", 1, "%s", what);
		return -EIO;
	case CURLE_OPERATION_TIMEDOUT:
		set_error(err, "Timeout", 1, "%s", what);
		return -EIO;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		set_error(err, "ConnectionReset", 1, "%s", what);
		return -EIO;
	case CURLE_SSL_CONNECT_ERROR:
		/* A handshake cut by the network is not a certificate problem. */
		if (os_errno == ECONNRESET || os_errno == EPIPE) {
			set_error(err, "ConnectionReset", 1, "%s", what);
			return -EIO;
		}
		set_error(err, "TLSError", 0, "%s", what);
		return -EIO;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
		set_error(err, "TLSError", 0, "%s", what);
		return -EIO;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
		set_error(err, "TransportError", 0, "%s", what);
		return -EIO;
	default:
		set_error(err, "TransportError", 1, "%s", what);
		return -EIO;
	}
}

/* Checks a header for what would split it or forge another one. */
static int header_ok(const struct http_header *h)
{
	if (!h->name || !h->name[0] || strpbrk(h->name, ":\r\n \t") || !h->value ||
	    strpbrk(h->value, "\r\n"))
		return 0;
	return 1;
}

/* The header lines carry the Authorization and maybe a session token. */
static void free_headers(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		wipe_bytes(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

static int add_headers(struct curl_slist **list, const struct http_header *h, size_t n,
		       struct buf *line)
{
	for (size_t i = 0; i < n; i++) {
		if (!header_ok(&h[i]))
			return -EINVAL;
		buf_reset(line);
		/* "Name;" is curl's way to send a header with an empty value. */
		if (h[i].value[0])
			buf_addf(line, "%s: %s", h[i].name, h[i].value);
		else
			buf_addf(line, "%s;", h[i].name);
		struct curl_slist *l = curl_slist_append(*list, buf_str(line));
		if (!l)
			return -ENOMEM;
		*list = l;
	}
	return 0;
}

static int set_options(struct http_client *c, const struct http_request *req,
		       struct transfer *t, struct curl_slist *headers)
{
	CURL *h = c->curl;
	int has_body = strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0;
	CURLcode rc = CURLE_OK;

#define SET(opt, val) \
	do { \
		if (rc == CURLE_OK) \
			rc = curl_easy_setopt(h, opt, val); \
	} while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	/* An object key may hold "/../" or "/./": send it, do not squash it. */
	SET(CURLOPT_PATH_AS_IS, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_bundle)
		SET(CURLOPT_CAINFO, c->ca_bundle);
	if (c->resolve)
		SET(CURLOPT_RESOLVE, c->resolve);
	SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, STALL_BYTES_PER_S);
	SET(CURLOPT_LOW_SPEED_TIME, c->stall_timeout_s);
	if (req->timeout_ms > 0)
		SET(CURLOPT_TIMEOUT_MS, req->timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_HTTPHEADER, headers);
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_HEADERFUNCTION, read_header);
	SET(CURLOPT_HEADERDATA, t);
	SET(CURLOPT_WRITEFUNCTION, write_body);
	SET(CURLOPT_WRITEDATA, t);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, check_cancel);
	SET(CURLOPT_XFERINFODATA, t);
	if (has_body) {
		/* UPLOAD sends the read callback's bytes with a Content-Length for any method. */
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
		SET(CURLOPT_READFUNCTION, read_body);
		SET(CURLOPT_READDATA, t);
		SET(CURLOPT_SEEKFUNCTION, seek_body);
		SET(CURLOPT_SEEKDATA, t);
		if (strcmp(req->method, "PUT") != 0)
			SET(CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "GET") != 0) {
		SET(CURLOPT_CUSTOMREQUEST, req->method);
	}
#undef SET
	return rc == CURLE_OK ? 0 : -EINVAL;
}

int http_perform(struct http_client *c, const struct http_request *req,
		 struct http_response *resp, struct http_error *err)
{
	struct transfer t = {.req = req, .resp = resp};
	struct curl_slist *headers = NULL;
	struct buf line = BUF_INIT;
	int has_body = strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0;
	int ret;

	memset(resp, 0, sizeof(*resp));
	memset(err, 0, sizeof(*err));
	if (!has_body && req->body_len) {
		set_error(err, "TransportError", 0, "a %s request cannot carry a body",
			  req->method);
		return -EINVAL;
	}
	ret = add_headers(&headers, req->headers, req->n_headers, &line);
	if (!ret)
		ret = add_headers(&headers, req->more_headers, req->n_more_headers, &line);
	if (!ret && has_body) {
		/*
		 * A large body waits for "100 Continue", so a refused request
		 * costs a round trip instead of megabytes; a small one goes at
		 * once (curl would otherwise wait for the 100 on every file).
		 */
		struct curl_slist *l = curl_slist_append(
			headers, req->body_len >= HTTP_EXPECT_MIN ? "Expect: 100-continue" : "Expect:");
		ret = l ? 0 : -ENOMEM;
		if (l)
			headers = l;
	}
	if (ret == -EINVAL)
		set_error(err, "TransportError", 0, "invalid header in %s request", req->method);
	if (ret)
		goto out;

	curl_easy_reset(c->curl);
	c->errbuf[0] = '\0';
	ret = set_options(c, req, &t, headers);
	if (ret) {
		set_error(err, "TransportError", 0, "libcurl refused an option");
		goto out;
	}
	CURLcode rc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	/*
	 * A store may answer an error and close while the body is still being
	 * sent; the answer is what matters then, not the broken pipe.
	 */
	if ((rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR) && resp->status >= 400)
		rc = CURLE_OK;
	if (rc != CURLE_OK) {
		ret = translate(c, rc, &t, err);
		log_debug("http: %s %s: %s (%s)", req->method, req->url, err->code, err->message);
		resp->status = 0;
		goto out;
	}
	log_debug("http: %s %s -> %ld (request id %s)", req->method, req->url, resp->status,
		  resp->request_id[0] ? resp->request_id : "none");
	ret = 0;
out:
	/* The handle keeps pointers to headers and t until the next reset. */
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	free_headers(headers);
	buf_release_secret(&line);
	return ret;
}
