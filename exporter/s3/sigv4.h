/*
 * sigv4: AWS Signature Version 4 for requests signed in the Authorization
 * header (S3 PUTs, multipart calls, any other AWS-style service).
 *
 * Pure functions: a request, a time and credentials in; the canonical
 * request, the string to sign, the signature and the headers to send out.
 * No I/O, no globals, no clock: the caller passes the time, so a signature
 * can be reproduced from its inputs (and is, by the AWS and botocore
 * vectors in tests/unit/test_sigv4.c).
 *
 * Who adds which header: the caller lists every header it will send and
 * wants signed (Host is required; Content-Type, Content-MD5, x-amz-* as
 * used; not User-Agent or Expect, which proxies and curl may change).  The
 * signer adds the headers that only signing knows: X-Amz-Date,
 * X-Amz-Content-SHA256 (with SIGV4_CONTENT_SHA256), X-Amz-Security-Token
 * (when the credentials have a session token) and Authorization.  It signs
 * the first three and returns all four in sigv4_signature.headers; the
 * caller sends exactly those, as given, beside its own.  Passing one of
 * them in the request is an error, so no header can be sent twice with
 * two values.
 *
 * Threads: no shared state; call from any thread.
 */
#ifndef WAREHOUSEFS_SIGV4_H
#define WAREHOUSEFS_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "base/buf.h"

/* Room for a SHA-256 in lowercase hex, with its NUL. */
#define SIGV4_SHA256_HEX_SIZE 65

/* Longest payload hash accepted (a SHA-256 in hex, UNSIGNED-PAYLOAD, ...). */
#define SIGV4_PAYLOAD_HASH_MAX 64

/* The most headers the signer asks the caller to add. */
#define SIGV4_MAX_HEADERS 4

/* The payload hash of an empty body, and of a body S3 is told not to check. */
#define SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

enum sigv4_flags {
	/*
	 * Removes "." and ".." segments and empty segments ("//") from the
	 * path before signing.  Generic AWS services want it; S3 does not
	 * (an object key may contain "//" or "..").
	 */
	SIGV4_NORMALIZE_PATH = 1 << 0,
	/*
	 * URI-encodes the path (keeping '/') before signing.  Generic AWS
	 * services sign the path encoded once more than it is sent; S3 signs
	 * the path exactly as sent, encoded once by sigv4_uri_encode().
	 */
	SIGV4_ENCODE_PATH = 1 << 1,
	/* Signs and returns X-Amz-Content-SHA256 (S3 requires it). */
	SIGV4_CONTENT_SHA256 = 1 << 2,

	/* What S3 (and MinIO, R2, Wasabi, RGW) expects. */
	SIGV4_S3 = SIGV4_CONTENT_SHA256,
	/* What other AWS services expect. */
	SIGV4_SERVICE = SIGV4_NORMALIZE_PATH | SIGV4_ENCODE_PATH,
};

struct sigv4_header {
	const char *name;
	const char *value;
};

/*
 * The request as it will be sent.  All strings are borrowed for the call.
 *
 * path: starts with '/'.  Without SIGV4_ENCODE_PATH it is signed as given
 * and must already be URI-encoded (no space, control, non-ASCII, '?' or
 * '#'); for S3 build it as "/" bucket "/" sigv4_uri_encode(key, keep '/')
 * (path style) or "/" sigv4_uri_encode(key, keep '/') (virtual host).
 *
 * query: the part after '?', without it; NULL or "" for none.  Parameters
 * are split on '&' and the first '=', percent-decoded (a literal '+' is a
 * plus, not a space), encoded again and sorted by name then value, so an
 * encoded and an unencoded query sign alike.  A parameter without '='
 * ("uploads") is signed as "uploads=", as S3 expects.
 *
 * headers: names are HTTP tokens, in any case; a name may repeat (the
 * values are signed joined by ',', in the given order).  Values are
 * signed trimmed, with each run of spaces, tabs and line breaks inside
 * (a folded multi-line value) made one space.
 *
 * payload_hash: the SHA-256 of the body in lowercase hex (see
 * sigv4_sha256_hex(); SIGV4_EMPTY_SHA256 for no body) or a literal such as
 * SIGV4_UNSIGNED_PAYLOAD; at most SIGV4_PAYLOAD_HASH_MAX characters.
 */
struct sigv4_request {
	const char *method;
	const char *path;
	const char *query;
	const struct sigv4_header *headers;
	size_t n_headers;
	const char *payload_hash;
};

/* session_token is NULL or "" for long-term keys. */
struct sigv4_credentials {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
};

/*
 * The result of sigv4_sign().  Everything is owned by the struct and lives
 * until sigv4_signature_release().  The canonical request carries the
 * session token and the authorization is a credential for fifteen
 * minutes: log neither.
 */
struct sigv4_signature {
	char amz_date[17];                        /* "20150830T123600Z" */
	char signature[SIGV4_SHA256_HEX_SIZE];    /* lowercase hex */
	struct buf canonical_request;
	struct buf string_to_sign;
	struct buf signed_headers;                /* "host;x-amz-date" */
	struct buf authorization;                 /* the Authorization value */

	/*
	 * The headers to add to the request, in this order: X-Amz-Date,
	 * X-Amz-Content-SHA256 (with SIGV4_CONTENT_SHA256),
	 * X-Amz-Security-Token (with a session token), Authorization.  The
	 * strings point into this struct.
	 */
	struct sigv4_header headers[SIGV4_MAX_HEADERS];
	size_t n_headers;

	/* Set with -EINVAL: what was wrong, as a static string. */
	const char *error;

	/* private: storage behind headers[] */
	char content_sha256[SIGV4_PAYLOAD_HASH_MAX + 1];
	struct buf security_token;
};

/*
 * Signs req at time now (seconds since the epoch, UTC) for region and
 * service ("s3"; region is signed as given, so "auto" for R2 works) with
 * flags from enum sigv4_flags (SIGV4_S3 for S3).
 *
 * Initialises *out (which must not be NULL) first, whatever happens.
 * Returns 0 and fills out, or -EINVAL (out->error says why) for an empty
 * or malformed method, path, header, payload hash, region, service or
 * credential, a missing Host header, a header the signer adds itself, or
 * a time outside the years 0000-9999; -ENOMEM, or -EIO if OpenSSL fails.
 * Either way the caller releases out with sigv4_signature_release().
 */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *cred,
	       const char *region, const char *service, time_t now, unsigned flags,
	       struct sigv4_signature *out);

/* Wipes and frees what sigv4_sign() put in sig; accepts a zeroed struct. */
void sigv4_signature_release(struct sigv4_signature *sig);

/*
 * Appends the first len bytes of s to out, URI-encoded as SigV4 wants:
 * A-Z a-z 0-9 - . _ ~ kept, every other byte as %XX (uppercase hex), and
 * '/' kept when keep_slash is set (for object keys: encode once, keep
 * the key's slashes).
 */
void sigv4_uri_encode(struct buf *out, const char *s, size_t len, int keep_slash);

/*
 * Writes the SHA-256 of len bytes at data to out as lowercase hex with a
 * NUL.  Returns 0, or -EIO if OpenSSL fails.
 */
int sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_SHA256_HEX_SIZE]);

#endif
