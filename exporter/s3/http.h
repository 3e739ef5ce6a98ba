/*
 * http: one HTTP/1.1 connection to a store, with keep-alive reuse between
 * requests.  The only module that includes curl: every CURLcode becomes a
 * transport error name here, once.
 *
 * A request is sent as given: method, full URL, the caller's headers (Host
 * among them, since the caller signs what is sent), and a body from a file
 * range (read with pread, so several requests may read one fd at once) or
 * from memory.  The response keeps the status, the few headers S3 callers
 * need and the first HTTP_BODY_MAX bytes of the body (error XML, multipart
 * XML); the rest of a body is read and dropped.
 *
 * Redirects are never followed (a signature is bound to its host, and a
 * region redirect must reach the caller); TLS is always verified; proxies
 * come from the standard environment variables (libcurl's own handling of
 * https_proxy, http_proxy, no_proxy).
 *
 * Threads: http_global_init() once before any thread makes a client; a
 * client belongs to one thread at a time.
 */
#ifndef WAREHOUSEFS_HTTP_H
#define WAREHOUSEFS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Response bodies are kept up to this size; S3's error and multipart XML fit. */
#define HTTP_BODY_MAX (64 * 1024)

/*
 * Bodies at least this large are sent after the server's "100 Continue"
 * (Expect: 100-continue, as botocore does for PutObject and UploadPart), so
 * a refused request (bad signature, no bucket, SlowDown) does not push
 * megabytes first and the connection survives the refusal; smaller ones
 * are sent at once, which saves a round trip per small file.  A server
 * that ignores Expect costs one second (libcurl's wait) per large body.
 */
#define HTTP_EXPECT_MIN (1024 * 1024)

struct http_options {
	long connect_timeout_ms; /* 0: 10000 */
	long stall_timeout_s;    /* abort below 1 KiB/s for this long; 0: 30 */
	const char *ca_bundle;   /* NULL: the system's CA store */
	const char *resolve;     /* NULL, or curl's "HOST:PORT:ADDR" (tests) */
};

struct http_header {
	const char *name;
	const char *value;
};

/*
 * One request; every pointer is borrowed for the call.
 *
 * Body: body_fd >= 0 sends body_len bytes of that file from body_offset;
 * otherwise body (may be NULL when body_len is 0) from memory.  Methods
 * PUT and POST always send a Content-Length, 0 for an empty body.
 *
 * cancel and stop (either may be NULL) abort the transfer within about a
 * second of becoming non-zero (libcurl's progress callback runs at least
 * once a second, more often while data moves).  timeout_ms (0: none) bounds
 * the whole request, for calls that must not hold up a shutdown.
 */
struct http_request {
	const char *method;
	const char *url;
	const struct http_header *headers;
	size_t n_headers;
	const struct http_header *more_headers; /* a second list, sent after */
	size_t n_more_headers;
	int body_fd;
	uint64_t body_offset;
	uint64_t body_len;
	const void *body;
	const volatile int *cancel;
	const volatile int *stop;
	long timeout_ms;
};

/* What came back.  Zero it (or http_response_release() it) before reuse. */
struct http_response {
	long status;
	char etag[128];          /* as sent, quotes included */
	char request_id[128];    /* x-amz-request-id */
	char bucket_region[64];  /* x-amz-bucket-region */
	char location[512];
	struct buf body;         /* at most HTTP_BODY_MAX bytes */
};

/* A failure before a complete HTTP response arrived. */
struct http_error {
	/*
	 * "ConnectionRefused", "Timeout", "ConnectionReset", "ResolveFailed",
	 * "TLSError" or "TransportError"; "ReadError" when the body's file
	 * could not be read.
	 */
	char code[32];
	char message[256];  /* what failed, with curl's or the system's words */
	int transient;      /* a later attempt may well succeed */
};

/*
 * Initialises libcurl; call once from main before any thread starts.
 * Returns 0 or -EIO.
 */
int http_global_init(void);

/* Releases libcurl's global state; call once at exit, after every client is freed. */
void http_global_cleanup(void);

/* A client (one connection cache).  Copies opts.  NULL on ENOMEM. */
struct http_client *http_client_new(const struct http_options *opts);

/* Closes the connection and frees c; accepts NULL. */
void http_client_free(struct http_client *c);

/*
 * Sends req and waits for its response.  Initialises *resp first.
 * Returns 0 when a response arrived, whatever its status; -EIO on a
 * transport failure (err says which and whether it is transient); -EBADMSG
 * when the body's file ended before body_len bytes (it changed under us);
 * -ECANCELED when cancel or stop became non-zero; -EINVAL for a bad
 * request (err says why); -ENOMEM.  The caller releases resp in every
 * case.  Logs nothing that a header carries (Authorization stays private).
 */
int http_perform(struct http_client *c, const struct http_request *req,
		 struct http_response *resp, struct http_error *err);

void http_response_release(struct http_response *resp);

/*
 * Reads one response header line (len bytes, not NUL-terminated, with or
 * without its CRLF, as curl hands it over) into resp: ETag,
 * x-amz-request-id, x-amz-bucket-region and Location are kept, cut at a
 * NUL byte or to fit, and trimmed; a status line clears them (a "100
 * Continue" came first); anything else is ignored.  What http_perform()
 * does with every header; public so that tests can feed it lines.
 */
void http_parse_header_line(const char *line, size_t len, struct http_response *resp);

#endif
