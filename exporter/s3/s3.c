/*
 * s3: PutObject and multipart upload (see s3.h).
 *
 * One upload is: check the target and build its URL; hash the file before
 * anything is sent (the whole file's SHA-256, checked against the one the
 * cache recorded, and each part's MD5 and SHA-256, which are signed, so a
 * file that changes after this pass is refused by the store's own
 * checks); then one signed PUT, or CreateMultipartUpload, the parts in
 * parallel, and CompleteMultipartUpload, with AbortMultipartUpload on
 * failure.
 *
 * Every request is signed just before it is sent (a retry signs again with
 * a fresh date).  Every answer that is not a 2xx, and a 200 whose body is
 * an <Error> (CompleteMultipartUpload may do that), becomes a struct
 * s3_error here, with the transient flag and the hint decided once.
 *
 * Threads: a client is used by one thread at a time.  A multipart upload
 * hashes, then uploads, its parts on the calling thread plus up to
 * part_parallelism - 1 threads of its own, each uploading over one of the
 * client's extra connections; they are joined before s3_put_file()
 * returns.  struct upload's lock
 * protects next_part, failed and failed_err; stop is written under it and
 * read without it by transfers in flight (it only goes from 0 to 1).
 */
#include "s3.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "http.h"
#include "base/log.h"
#include "s3_i.h"
#include "sigv4.h"

#define MIB (1024ULL * 1024)
#define S3_MIN_PART_SIZE (8 * MIB)
#define S3_MAX_PARTS 10000ULL
#define S3_MAX_PART_SIZE (5ULL * 1024 * MIB)   /* 5 GiB: also the largest PutObject */
#define S3_MAX_OBJECT_SIZE (5ULL * 1024 * 1024 * MIB)
#define S3_MAX_PARALLELISM 32
#define S3_ATTEMPTS 3              /* per part, and for Create and Complete */
#define S3_RETRY_BASE_MS 250
#define S3_ABORT_TIMEOUT_MS 5000
#define HASH_CHUNK (1024 * 1024)
#define MD5_BYTES 16
#define SHA256_BYTES 32

struct s3_client {
	struct http_options http_opts; /* strings point to ca_bundle and resolve */
	char *ca_bundle;
	char *resolve;
	uint64_t multipart_threshold;
	uint64_t part_size;
	unsigned parallelism;
	struct http_client *http;       /* the owning thread's connection */
	struct http_client *part_http[S3_MAX_PARALLELISM]; /* made on first use */
};


/* One part (a single PUT is one part covering the file). */
struct part {
	uint64_t offset, len;
	unsigned char md5[MD5_BYTES];
	char md5_b64[32];
	char sha256[SIGV4_SHA256_HEX_SIZE];
	char etag[128];   /* the store's, quotes included */
};

/* One upload in progress. */
struct upload {
	struct s3_client *c;
	const struct s3_target *t;
	const char *key;
	struct location loc;
	int fd;
	uint64_t size;
	const char *content_type;
	const volatile int *cancel;
	const char *want_sha256;    /* as the cache recorded it */
	struct part *parts;
	unsigned nparts;
	struct buf upload_id_query; /* "uploadId=<encoded>" */

	pthread_mutex_t lock;
	unsigned next_part;         /* protected by lock */
	int failed;                 /* protected by lock: the first failure */
	struct s3_error failed_err; /* protected by lock */
	volatile int stop;          /* written under lock: the other parts give up */
};

/* One request of an upload, before signing. */
struct s3_request {
	const char *method;
	const char *what;         /* for logs: "PutObject", "part 3" */
	const char *query;        /* encoded, or NULL */
	struct sigv4_header headers[8];
	size_t n_headers;
	const char *payload_hash;
	int body_fd;
	uint64_t body_offset, body_len;
	const void *body;
	long timeout_ms;
	int error_in_body;        /* a 200 may carry <Error> (CompleteMultipartUpload) */
};

/* ------------------------------------------------------------- client */

struct s3_client *s3_client_new(const struct s3_options *opts)
{
	struct s3_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if ((opts->ca_bundle && !(c->ca_bundle = strdup(opts->ca_bundle))) ||
	    (opts->resolve && !(c->resolve = strdup(opts->resolve))))
		goto fail;
	c->http_opts.connect_timeout_ms = opts->connect_timeout_ms;
	c->http_opts.stall_timeout_s = opts->stall_timeout_s;
	c->http_opts.ca_bundle = c->ca_bundle;
	c->http_opts.resolve = c->resolve;
	c->multipart_threshold = opts->multipart_threshold ? opts->multipart_threshold
							   : 64 * MIB;
	c->part_size = opts->part_size > S3_MIN_PART_SIZE ? opts->part_size : S3_MIN_PART_SIZE;
	c->parallelism = opts->part_parallelism ? opts->part_parallelism : 4;
	if (c->parallelism > S3_MAX_PARALLELISM)
		c->parallelism = S3_MAX_PARALLELISM;
	c->http = http_client_new(&c->http_opts);
	if (!c->http)
		goto fail;
	return c;
fail:
	s3_client_free(c);
	return NULL;
}

void s3_client_free(struct s3_client *c)
{
	if (!c)
		return;
	http_client_free(c->http);
	for (unsigned i = 0; i < S3_MAX_PARALLELISM; i++)
		http_client_free(c->part_http[i]);
	free(c->ca_bundle);
	free(c->resolve);
	free(c);
}

/* Adds the SSE headers for t (CreateMultipartUpload and PutObject carry them). */
static void add_sse_headers(const struct s3_target *t, struct s3_request *r)
{
	if (!t->sse || !t->sse[0] || strcmp(t->sse, "none") == 0)
		return;
	r->headers[r->n_headers++] = (struct sigv4_header){"x-amz-server-side-encryption", t->sse};
	if (strcmp(t->sse, "aws:kms") == 0 && t->sse_kms_key_id && t->sse_kms_key_id[0])
		r->headers[r->n_headers++] = (struct sigv4_header){
			"x-amz-server-side-encryption-aws-kms-key-id", t->sse_kms_key_id};
}

/* ---------------------------------------------------------- requests */

/*
 * Signs r and sends it once over h.  Returns 0 for a 2xx answer (resp
 * holds it), -EIO with err filled for an error answer or a transport
 * failure, -ECANCELED, -EBADMSG (the file shrank), -EINVAL or -ENOMEM.
 */
static int send_once(struct upload *u, struct http_client *h, const struct s3_request *r,
		     struct http_response *resp, struct s3_error *err)
{
	struct sigv4_header signed_headers[1 + sizeof(r->headers) / sizeof(r->headers[0])];
	struct http_header headers[1 + sizeof(r->headers) / sizeof(r->headers[0])];
	struct http_header added[SIGV4_MAX_HEADERS];
	struct sigv4_signature sig;
	struct http_error herr;
	struct buf url = BUF_INIT;
	int ret;

	signed_headers[0] = (struct sigv4_header){"Host", buf_str(&u->loc.host)};
	for (size_t i = 0; i < r->n_headers; i++)
		signed_headers[i + 1] = r->headers[i];
	struct sigv4_request req = {
		.method = r->method,
		.path = buf_str(&u->loc.path),
		.query = r->query,
		.headers = signed_headers,
		.n_headers = r->n_headers + 1,
		.payload_hash = r->payload_hash,
	};
	struct sigv4_credentials cred = {
		.access_key_id = u->t->access_key_id,
		.secret_access_key = u->t->secret_access_key,
		.session_token = u->t->session_token,
	};
	memset(resp, 0, sizeof(*resp));
	/* The real clock, never the daemon's test clock: the store checks it. */
	ret = sigv4_sign(&req, &cred, u->t->region, "s3", time(NULL), SIGV4_S3, &sig);
	if (ret) {
		s3_set_message(err, "cannot sign %s: %s", r->what,
			    sig.error ? sig.error : strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < req.n_headers; i++)
		headers[i] = (struct http_header){signed_headers[i].name, signed_headers[i].value};
	for (size_t i = 0; i < sig.n_headers; i++)
		added[i] = (struct http_header){sig.headers[i].name, sig.headers[i].value};
	buf_adds(&url, buf_str(&u->loc.url));
	if (r->query && r->query[0])
		buf_addf(&url, "?%s", r->query);
	struct http_request hreq = {
		.method = r->method,
		.url = buf_str(&url),
		.headers = headers,
		.n_headers = req.n_headers,
		.more_headers = added,
		.n_more_headers = sig.n_headers,
		.body_fd = r->body_fd,
		.body_offset = r->body_offset,
		.body_len = r->body_len,
		.body = r->body,
		.cancel = u->cancel,
		.stop = &u->stop,
		.timeout_ms = r->timeout_ms,
	};
	ret = http_perform(h, &hreq, resp, &herr);
	if (ret) {
		s3_error_from_transport(&herr, err);
		goto out;
	}
	if (resp->status < 200 || resp->status > 299 ||
	    (r->error_in_body && s3_xml_root_is(buf_str(&resp->body), "Error"))) {
		s3_error_from_response(resp, err);
		ret = -EIO;
	}
out:
	sigv4_signature_release(&sig);
	buf_release(&url);
	return ret;
}

/* Sleeps ms unless the upload is canceled or stopped first: 0 or -ECANCELED. */
static int pause_ms(struct upload *u, long ms)
{
	while (ms > 0) {
		if ((u->cancel && __atomic_load_n(u->cancel, __ATOMIC_RELAXED)) ||
		    __atomic_load_n(&u->stop, __ATOMIC_RELAXED))
			return -ECANCELED;
		long step = ms < 50 ? ms : 50;
		struct timespec ts = {0, step * 1000000L};
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return 0;
}

/* send_once(), again after a short jittered pause when the failure is transient. */
static int send_retrying(struct upload *u, struct http_client *h, const struct s3_request *r,
			 struct http_response *resp, struct s3_error *err, unsigned *seed)
{
	int ret = 0;

	for (int attempt = 1; attempt <= S3_ATTEMPTS; attempt++) {
		if (attempt > 1)
			http_response_release(resp);
		ret = send_once(u, h, r, resp, err);
		if (ret != -EIO || !err->transient || attempt == S3_ATTEMPTS)
			break;
		long cap = S3_RETRY_BASE_MS << (attempt - 1);
		long delay = cap / 2 + (long)(rand_r(seed) % (unsigned)(cap / 2 + 1));
		log_warn("%s of '%s' failed (attempt %d of %d): %d %s%s%s; retrying in %ld ms",
			 r->what, u->key, attempt, S3_ATTEMPTS, err->http_status, err->code,
			 err->message[0] ? ": " : "", err->message, delay);
		if (pause_ms(u, delay))
			return -ECANCELED;
	}
	return ret;
}

/* ----------------------------------------------------------- hashing */

/*
 * Reads len bytes of the file from offset into the digests (NULL ones
 * skipped).  Returns 0, -EBADMSG if the file ends early, -ECANCELED when
 * the upload is canceled or stopped, -EIO or -ENOMEM.
 */
static int hash_range(struct upload *u, uint64_t offset, uint64_t len, EVP_MD_CTX *a,
		      EVP_MD_CTX *b, struct s3_error *err)
{
	unsigned char *chunk = malloc(HASH_CHUNK);
	int ret = -ENOMEM;

	if (!chunk)
		return ret;
	for (uint64_t done = 0; done < len;) {
		size_t want = len - done < HASH_CHUNK ? (size_t)(len - done) : HASH_CHUNK;
		ssize_t n = pread(u->fd, chunk, want, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		ret = -EIO;
		if (n < 0) {
			s3_set_message(err, "cannot read the file: %s", strerror(errno));
			goto out;
		}
		if (n == 0) {
			s3_set_message(err, "the file has %llu bytes, not %llu",
				    (unsigned long long)(offset + done), (unsigned long long)u->size);
			ret = -EBADMSG;
			goto out;
		}
		if ((a && !EVP_DigestUpdate(a, chunk, (size_t)n)) ||
		    (b && !EVP_DigestUpdate(b, chunk, (size_t)n)))
			goto out;
		if ((u->cancel && __atomic_load_n(u->cancel, __ATOMIC_RELAXED)) ||
		    __atomic_load_n(&u->stop, __ATOMIC_RELAXED)) {
			ret = -ECANCELED;
			goto out;
		}
		done += (uint64_t)n;
	}
	ret = 0;
out:
	free(chunk);
	return ret;
}

/* A part's MD5 and SHA-256 (its Content-MD5 and payload hash). */
static int hash_part(struct upload *u, struct http_client *h, unsigned index,
		     struct s3_error *err, unsigned *seed)
{
	struct part *p = &u->parts[index];
	EVP_MD_CTX *md5 = EVP_MD_CTX_new(), *sha = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE];
	int ret = -ENOMEM;

	(void)h;
	(void)seed;
	if (!md5 || !sha)
		goto out;
	ret = -EIO;
	if (!EVP_DigestInit_ex(md5, EVP_md5(), NULL) || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL))
		goto out;
	ret = hash_range(u, p->offset, p->len, md5, sha, err);
	if (ret)
		goto out;
	ret = -EIO;
	if (!EVP_DigestFinal_ex(md5, p->md5, NULL) || !EVP_DigestFinal_ex(sha, digest, NULL))
		goto out;
	EVP_EncodeBlock((unsigned char *)p->md5_b64, p->md5, MD5_BYTES);
	buf_hex(p->sha256, digest, SHA256_BYTES);
	ret = 0;
out:
	if (ret == -EIO && !err->message[0])
		s3_set_message(err, "cannot hash the file: OpenSSL failed");
	EVP_MD_CTX_free(md5);
	EVP_MD_CTX_free(sha);
	return ret;
}

/* The SHA-256 of the file (in hex), against the one the cache recorded. */
static int check_sha256(struct upload *u, const char *got, struct s3_error *err)
{
	if (strcasecmp(got, u->want_sha256) == 0)
		return 0;
	s3_set_message(err, "the file's SHA-256 is %s, not the recorded %s", got, u->want_sha256);
	return -EBADMSG;
}

/* The whole file's SHA-256, for a multipart upload (each part has its own). */
static int hash_whole(struct upload *u, struct s3_error *err)
{
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE];
	char hex[SIGV4_SHA256_HEX_SIZE];
	int ret = -ENOMEM;

	if (!sha)
		return ret;
	ret = -EIO;
	if (EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) {
		ret = hash_range(u, 0, u->size, sha, NULL, err);
		if (!ret)
			ret = EVP_DigestFinal_ex(sha, digest, NULL) ? 0 : -EIO;
	}
	if (!ret) {
		buf_hex(hex, digest, SHA256_BYTES);
		ret = check_sha256(u, hex, err);
	}
	if (ret == -EIO && !err->message[0])
		s3_set_message(err, "cannot hash the file: OpenSSL failed");
	EVP_MD_CTX_free(sha);
	return ret;
}

/* ------------------------------------------------------------- parts */

/* What a part worker does to part index, over connection h. */
typedef int part_fn(struct upload *u, struct http_client *h, unsigned index,
		    struct s3_error *err, unsigned *seed);

struct part_worker {
	struct upload *u;
	part_fn *fn;
	struct http_client *http;
	pthread_t thread;
	unsigned seed;
};

/* Keeps the first failure and stops the other workers. */
static void record_failure(struct upload *u, int ret, const struct s3_error *err)
{
	pthread_mutex_lock(&u->lock);
	if (!u->failed) {
		u->failed = ret;
		u->failed_err = *err;
	}
	__atomic_store_n(&u->stop, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&u->lock);
}

/* Takes parts until none is left or one failed. */
static void *part_worker_main(void *arg)
{
	struct part_worker *w = arg;
	struct upload *u = w->u;
	struct s3_error err;

	for (;;) {
		pthread_mutex_lock(&u->lock);
		unsigned i = u->next_part;
		int give_up = u->failed || i >= u->nparts;
		if (!give_up)
			u->next_part++;
		pthread_mutex_unlock(&u->lock);
		if (give_up)
			break;
		memset(&err, 0, sizeof(err));
		int ret = w->fn(u, w->http, i, &err, &w->seed);
		if (ret) {
			record_failure(u, ret, &err);
			break;
		}
	}
	return NULL;
}

/*
 * Runs fn on every part, on this thread and up to parallelism - 1 more,
 * each with a connection of its own; this thread first runs first(), if
 * given.  Returns 0 or the first failure (err describes it).
 */
static int run_parts(struct upload *u, part_fn *fn,
		     int (*first)(struct upload *, struct s3_error *), struct s3_error *err)
{
	struct s3_client *c = u->c;
	struct part_worker workers[S3_MAX_PARALLELISM];
	unsigned n = c->parallelism < u->nparts ? c->parallelism : u->nparts, started = 0;

	u->next_part = 0;
	u->failed = 0;
	u->stop = 0;
	workers[0] = (struct part_worker){
		.u = u, .fn = fn, .http = c->http, .seed = (unsigned)time(NULL)};
	for (unsigned i = 1; i < n; i++) {
		if (!c->part_http[i] && !(c->part_http[i] = http_client_new(&c->http_opts)))
			break;
		workers[i] = (struct part_worker){
			.u = u, .fn = fn, .http = c->part_http[i], .seed = (unsigned)time(NULL) + i};
		if (pthread_create(&workers[i].thread, NULL, part_worker_main, &workers[i]))
			break;
		started = i;
	}
	if (started + 1 < n)
		log_warn("upload of '%s' runs %u parts at a time, not %u: cannot start more "
			 "threads", u->key, started + 1, n);
	if (first) {
		struct s3_error first_err;
		memset(&first_err, 0, sizeof(first_err));
		int ret = first(u, &first_err);
		if (ret)
			record_failure(u, ret, &first_err);
	}
	part_worker_main(&workers[0]);
	for (unsigned i = 1; i <= started; i++)
		pthread_join(workers[i].thread, NULL);
	if (u->failed)
		*err = u->failed_err;
	return u->failed;
}

/*
 * Reads the file before anything is sent: each part's MD5 and SHA-256, and
 * the whole file's SHA-256 checked against the recorded one.  A single PUT
 * is one part, the whole file; a multipart upload hashes its parts in
 * parallel while this thread hashes the whole file.
 */
static int hash_file(struct upload *u, struct s3_error *err)
{
	if (u->nparts > 1)
		return run_parts(u, hash_part, hash_whole, err);
	int ret = hash_part(u, NULL, 0, err, NULL);
	return ret ? ret : check_sha256(u, u->parts[0].sha256, err);
}

/* The ETag as the store gave it, without quotes; fallback when it gave none. */
static void set_etag(char etag[128], const char *given, const char *fallback)
{
	size_t n = strlen(given);

	if (n >= 2 && given[0] == '"' && given[n - 1] == '"') {
		given++;
		n -= 2;
	}
	if (!n)
		snprintf(etag, 128, "%s", fallback);
	else
		snprintf(etag, 128, "%.*s", (int)n, given);
}

/* ------------------------------------------------------------ uploads */

static int put_single(struct upload *u, char etag[128], struct s3_error *err)
{
	struct part *p = &u->parts[0];
	struct http_response resp;
	struct s3_request r = {
		.method = "PUT",
		.what = "PutObject",
		.payload_hash = p->sha256,
		.body_fd = u->fd,
		.body_len = u->size,
	};
	char md5_hex[2 * MD5_BYTES + 1];

	r.headers[r.n_headers++] = (struct sigv4_header){"Content-Type", u->content_type};
	r.headers[r.n_headers++] = (struct sigv4_header){"Content-MD5", p->md5_b64};
	add_sse_headers(u->t, &r);
	/* One attempt: the caller's queue retries with its own backoff. */
	int ret = send_once(u, u->c->http, &r, &resp, err);
	if (ret == 0) {
		buf_hex(md5_hex, p->md5, MD5_BYTES);
		set_etag(etag, resp.etag, md5_hex);
	}
	http_response_release(&resp);
	return ret;
}

static int upload_part(struct upload *u, struct http_client *h, unsigned index,
		       struct s3_error *err, unsigned *seed)
{
	struct part *p = &u->parts[index];
	struct http_response resp;
	struct buf query = BUF_INIT;
	char what[32];
	struct s3_request r = {
		.method = "PUT",
		.what = what,
		.payload_hash = p->sha256,
		.body_fd = u->fd,
		.body_offset = p->offset,
		.body_len = p->len,
	};

	snprintf(what, sizeof(what), "part %u", index + 1);
	buf_addf(&query, "partNumber=%u&%s", index + 1, buf_str(&u->upload_id_query));
	r.query = buf_str(&query);
	r.headers[r.n_headers++] = (struct sigv4_header){"Content-MD5", p->md5_b64};
	int ret = send_retrying(u, h, &r, &resp, err, seed);
	if (ret == 0) {
		if (resp.etag[0])
			snprintf(p->etag, sizeof(p->etag), "%s", resp.etag);
		else
			buf_hex(p->etag, p->md5, MD5_BYTES); /* the standard part ETag */
	}
	http_response_release(&resp);
	buf_release(&query);
	return ret;
}

static int create_multipart(struct upload *u, struct s3_error *err)
{
	struct http_response resp;
	struct s3_request r = {
		.method = "POST",
		.what = "CreateMultipartUpload",
		.query = "uploads",
		.payload_hash = SIGV4_EMPTY_SHA256,
		.body_fd = -1,
	};
	char upload_id[1024];
	unsigned seed = (unsigned)time(NULL);

	r.headers[r.n_headers++] = (struct sigv4_header){"Content-Type", u->content_type};
	add_sse_headers(u->t, &r);
	int ret = send_retrying(u, u->c->http, &r, &resp, err, &seed);
	if (ret == 0) {
		s3_xml_text(buf_str(&resp.body), "UploadId", upload_id, sizeof(upload_id));
		if (!upload_id[0]) {
			memset(err, 0, sizeof(*err));
			err->http_status = (int)resp.status;
			snprintf(err->request_id, sizeof(err->request_id), "%s", resp.request_id);
			s3_set_message(err, "the store answered CreateMultipartUpload without an UploadId");
			ret = -EIO;
		} else {
			buf_adds(&u->upload_id_query, "uploadId=");
			sigv4_uri_encode(&u->upload_id_query, upload_id, strlen(upload_id), 0);
		}
	}
	http_response_release(&resp);
	return ret;
}

/* The standard multipart ETag: the MD5 of the parts' MD5s, "-", the count. */
static void multipart_etag(const struct upload *u, char out[128])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL);

	for (unsigned i = 0; ok && i < u->nparts; i++)
		ok = EVP_DigestUpdate(ctx, u->parts[i].md5, MD5_BYTES);
	ok = ok && EVP_DigestFinal_ex(ctx, digest, NULL);
	EVP_MD_CTX_free(ctx);
	out[0] = '\0';
	if (ok) {
		buf_hex(out, digest, MD5_BYTES);
		snprintf(out + 2 * MD5_BYTES, 128 - 2 * MD5_BYTES, "-%u", u->nparts);
	}
}

static int complete_multipart(struct upload *u, char etag[128], struct s3_error *err)
{
	struct http_response resp;
	struct buf xml = BUF_INIT;
	char sha[SIGV4_SHA256_HEX_SIZE], given[128], fallback[128];
	unsigned seed = (unsigned)time(NULL);
	struct s3_request r = {
		.method = "POST",
		.what = "CompleteMultipartUpload",
		.query = buf_str(&u->upload_id_query),
		.payload_hash = sha,
		.body_fd = -1,
		.error_in_body = 1,
	};
	int ret;

	buf_adds(&xml, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (unsigned i = 0; i < u->nparts; i++) {
		buf_addf(&xml, "<Part><PartNumber>%u</PartNumber><ETag>", i + 1);
		s3_xml_escape(&xml, u->parts[i].etag);
		buf_adds(&xml, "</ETag></Part>");
	}
	buf_adds(&xml, "</CompleteMultipartUpload>");
	ret = sigv4_sha256_hex(xml.data, xml.len, sha);
	if (ret) {
		s3_set_message(err, "cannot hash the CompleteMultipartUpload body");
		goto out;
	}
	r.body = xml.data;
	r.body_len = xml.len;
	ret = send_retrying(u, u->c->http, &r, &resp, err, &seed);
	if (ret == 0) {
		multipart_etag(u, fallback);
		s3_xml_text(buf_str(&resp.body), "ETag", given, sizeof(given));
		set_etag(etag, given, fallback);
	}
	http_response_release(&resp);
out:
	buf_release(&xml);
	return ret;
}

/* Best effort: a PutObject-only policy refuses it, and a lifecycle rule cleans up. */
static void abort_multipart(struct upload *u)
{
	struct http_response resp;
	struct s3_error err;
	struct s3_request r = {
		.method = "DELETE",
		.what = "AbortMultipartUpload",
		.query = buf_str(&u->upload_id_query),
		.payload_hash = SIGV4_EMPTY_SHA256,
		.body_fd = -1,
		.timeout_ms = S3_ABORT_TIMEOUT_MS,
	};
	const volatile int *cancel = u->cancel;

	/* Even when canceled: the request is short and bounded by its timeout. */
	u->cancel = NULL;
	__atomic_store_n(&u->stop, 0, __ATOMIC_RELAXED);
	memset(&err, 0, sizeof(err));
	if (send_once(u, u->c->http, &r, &resp, &err) == 0)
		log_info("aborted the multipart upload of '%s'", u->key);
	else
		log_warn("cannot abort the multipart upload of '%s' (its parts stay until a "
			 "lifecycle rule removes them): %d %s%s%s", u->key, err.http_status,
			 err.code[0] ? err.code : "error", err.message[0] ? ": " : "",
			 err.message);
	http_response_release(&resp);
	u->cancel = cancel;
}

static int put_multipart(struct upload *u, char etag[128], struct s3_error *err)
{
	int ret = create_multipart(u, err);

	if (ret)
		return ret;
	log_debug("multipart upload of '%s': %u parts of %llu bytes", u->key, u->nparts,
		  (unsigned long long)u->parts[0].len);
	ret = run_parts(u, upload_part, NULL, err);
	if (!ret)
		ret = complete_multipart(u, etag, err);
	if (ret)
		abort_multipart(u);
	return ret;
}

/* Splits size into parts: single PUT up to the threshold, else >= 8 MiB parts. */
static int plan_parts(struct upload *u, int *multipart, struct s3_error *err)
{
	uint64_t size = u->size, part_size = u->c->part_size;

	if (size > S3_MAX_OBJECT_SIZE) {
		s3_set_message(err, "the file has %llu bytes: S3 takes at most 5 TiB in one object",
			    (unsigned long long)size);
		return -EINVAL;
	}
	*multipart = size > u->c->multipart_threshold || size > S3_MAX_PART_SIZE;
	if (!*multipart) {
		u->nparts = 1;
		part_size = size;
	} else {
		if (part_size < (size + S3_MAX_PARTS - 1) / S3_MAX_PARTS)
			part_size = (size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
		if (part_size > S3_MAX_PART_SIZE)
			part_size = S3_MAX_PART_SIZE;
		u->nparts = (unsigned)((size + part_size - 1) / part_size);
	}
	u->parts = calloc(u->nparts, sizeof(*u->parts));
	if (!u->parts)
		return -ENOMEM;
	for (unsigned i = 0; i < u->nparts; i++) {
		u->parts[i].offset = (uint64_t)i * part_size;
		u->parts[i].len = i + 1 < u->nparts ? part_size : size - u->parts[i].offset;
	}
	return 0;
}

int s3_put_file(struct s3_client *c, const struct s3_target *target, const char *key,
		int fd, uint64_t size, const char *sha256_hex, const char *content_type,
		const volatile int *cancel, char etag[128], struct s3_error *err)
{
	struct upload u = {
		.c = c,
		.t = target,
		.key = key,
		.fd = fd,
		.size = size,
		.content_type = content_type && content_type[0] ? content_type
								: "application/octet-stream",
		.cancel = cancel,
		.want_sha256 = sha256_hex,
	};
	int multipart = 0, ret;

	memset(err, 0, sizeof(*err));
	etag[0] = '\0';
	pthread_mutex_init(&u.lock, NULL);
	ret = s3_check_target(target, key, err);
	if (!ret)
		ret = s3_locate(target, key, &u.loc, err);
	if (!ret && (!sha256_hex || strlen(sha256_hex) != 2 * SHA256_BYTES ||
		     strspn(sha256_hex, "0123456789abcdefABCDEF") != 2 * SHA256_BYTES)) {
		s3_set_message(err, "'%s' is not a SHA-256 in hex", sha256_hex ? sha256_hex : "");
		ret = -EINVAL;
	}
	if (!ret)
		ret = plan_parts(&u, &multipart, err);
	if (!ret)
		ret = hash_file(&u, err);
	if (!ret && cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED))
		ret = -ECANCELED;
	if (!ret)
		ret = multipart ? put_multipart(&u, etag, err) : put_single(&u, etag, err);
	if (ret == -ECANCELED && !err->message[0])
		s3_set_message(err, "upload canceled");
	/* The store's own (possibly empty) Message is kept as it sent it. */
	if (ret && !err->message[0] && !err->code[0])
		s3_set_message(err, "%s", strerror(-ret));
	if (ret)
		s3_fill_hint(err);
	if (ret == -EIO)
		log_debug("upload of '%s' failed: %d %s: %s (request id %s)", key, err->http_status,
			  err->code, err->message, err->request_id);
	pthread_mutex_destroy(&u.lock);
	buf_release(&u.loc.url);
	buf_release(&u.loc.host);
	buf_release(&u.loc.path);
	buf_release(&u.upload_id_query);
	free(u.parts);
	return ret;
}
