/*
 * s3: the S3 requests warehousefs makes: PutObject, and multipart upload
 * (create, parts in parallel, complete; abort best effort) above a size
 * threshold.  Builds URLs (virtual-hosted or path-style), signs with sigv4,
 * sends through http, and parses S3's error XML into struct s3_error.
 *
 * warehousefs only ever writes: no list, get or delete of the user's
 * objects (AbortMultipartUpload is the one exception, best effort).
 *
 * Threads: a struct s3_client (with its connections) belongs to one thread
 * at a time; a multipart upload borrows extra connections of its own for
 * its parallel parts and returns them before s3_put_file() returns.
 */
#ifndef WAREHOUSEFS_S3_H
#define WAREHOUSEFS_S3_H

#include <stddef.h>
#include <stdint.h>

/* Where and as whom to upload: one destination's settings, resolved. */
struct s3_target {
	const char *bucket;
	const char *region;        /* signed as given: "auto" works for R2 */
	const char *endpoint;      /* NULL or "" for AWS (https://s3.REGION.amazonaws.com) */
	int path_style;            /* 1: ENDPOINT/BUCKET/KEY; 0: BUCKET.HOST/KEY (but AWS
				      addresses a bucket with dots path-style, as botocore) */
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL or "" when none */
	const char *sse;           /* NULL, "none", "AES256" or "aws:kms" */
	const char *sse_kms_key_id;/* with aws:kms; NULL for the account's default key */
};

/* Gateway-wide tunables (mount options). */
struct s3_options {
	uint64_t multipart_threshold; /* files above this use multipart (default 64 MiB) */
	uint64_t part_size;           /* at least 8 MiB; raised to fit 10,000 parts */
	unsigned part_parallelism;    /* parts in flight per upload (default 4, at most 32) */
	long connect_timeout_ms;      /* default 10000 */
	long stall_timeout_s;         /* abort a transfer slower than 1 KiB/s this long (30) */
	const char *ca_bundle;        /* NULL: the system's CA store */
	const char *resolve;          /* NULL, or curl RESOLVE "HOST:PORT:ADDR" (tests) */
};

/* What went wrong, as the store (or the network) said it. */
struct s3_error {
	int http_status;       /* 0 when no HTTP response arrived */
	char code[64];         /* S3 <Code>, or for transport failures one of
				  "ConnectionRefused", "Timeout", "ConnectionReset",
				  "ResolveFailed", "TLSError", "TransportError"
				  ("ReadError": the file could not be read);
				  "" for a local failure (see message) */
	char message[512];     /* S3 <Message> (may be empty) or curl's text */
	char request_id[128];  /* <RequestId> or x-amz-request-id */
	char region[64];       /* the bucket's real region, when told */
	int transient;         /* worth retrying with backoff */
	char hint[192];        /* what to fix, one line (see s3_error_hint()) */
};

struct s3_client;

/* A client with its own connection cache (keep-alive).  NULL on ENOMEM. */
struct s3_client *s3_client_new(const struct s3_options *opts);

void s3_client_free(struct s3_client *c);

/*
 * Uploads the size bytes of fd (read with pread from offset 0) as object
 * key (the full key, prefix included, not encoded) to target.
 * sha256_hex is the content's SHA-256 (the payload hash); the file is
 * read first to compute Content-MD5 (and each part's hashes) and to
 * verify that hash, so a damaged cache file is refused (-EBADMSG) before
 * anything is sent.  content_type is sent as Content-Type (NULL or "":
 * application/octet-stream).  cancel may be NULL; *cancel, when it becomes
 * non-zero, aborts the upload within about a second (-ECANCELED; a
 * multipart upload is then aborted, best effort, within 5 s).
 *
 * A single PUT is sent once: retrying it is the caller's (with backoff).
 * Within a multipart upload, Create, each part and Complete are retried
 * twice on a transient failure, after 125-250 and 250-500 ms.
 *
 * On success fills etag without quotes, as the store returned it; when a
 * store answers CompleteMultipartUpload with an empty ETag (radosgw 16
 * does), the standard multipart ETag computed from the parts' MD5s
 * ("<md5>-<parts>") is given instead, since warehousefs never reads
 * objects back (and a PutObject answer without ETag gives the MD5).
 * On failure returns -EIO (S3 or network error, described in err),
 * -EBADMSG, -ECANCELED, -EINVAL (bad target: a required setting missing,
 * region 'auto' without an endpoint, a malformed endpoint, virtual-hosted
 * addressing on an IP address; err->message says why) or -ENOMEM; err
 * is filled (message, and hint) in every case.
 */
int s3_put_file(struct s3_client *c, const struct s3_target *target, const char *key,
		int fd, uint64_t size, const char *sha256_hex, const char *content_type,
		const volatile int *cancel, char etag[128], struct s3_error *err);

/*
 * A one-line hint of what to fix for err ("check secret_access_key"), ""
 * when there is none.  s3_put_file() writes it into err->hint (a region
 * mismatch names the bucket's region there); for an err filled elsewhere
 * the hint comes from its code and status alone.  The string lives as long
 * as err, or forever.
 */
const char *s3_error_hint(const struct s3_error *err);

#endif
