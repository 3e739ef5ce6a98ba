/*
 * s3_int: what the parts of the s3 module share (s3.c: uploads; s3_error.c:
 * error XML, classification and hints; s3_url.c: addressing).  Private to
 * them.
 */
#ifndef WAREHOUSEFS_S3_INT_H
#define WAREHOUSEFS_S3_INT_H

#include <stddef.h>

#include "base/buf.h"
#include "http.h"
#include "s3.h"

/* Where the requests of one upload go. */
struct location {
	struct buf url;   /* scheme://authority/path, without query */
	struct buf host;  /* the Host header, as curl would send it */
	struct buf path;  /* the URL's path, as signed */
};


/* Sets err->message from a format. */
void s3_set_message(struct s3_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Decides err->hint from its code, status and region. */
void s3_fill_hint(struct s3_error *e);

/* The text of the first <name> element of xml, decoded, into out: 1 if found. */
int s3_xml_text(const char *xml, const char *name, char *out, size_t size);

/* Is the document's root element <name>? */
int s3_xml_root_is(const char *xml, const char *name);

/* Appends s with XML's five special characters escaped. */
void s3_xml_escape(struct buf *out, const char *s);

/* An answer the store gave as an error: status, its error XML, headers. */
void s3_error_from_response(const struct http_response *resp, struct s3_error *err);

/* A transport failure (no answer). */
void s3_error_from_transport(const struct http_error *he, struct s3_error *err);

/* Checks that target and key can be uploaded to: 0 or -EINVAL (err says why). */
int s3_check_target(const struct s3_target *t, const char *key, struct s3_error *err);

/* Builds the URL, Host and signed path for key on t: 0 or -EINVAL. */
int s3_locate(const struct s3_target *t, const char *key, struct location *loc,
	      struct s3_error *err);

#endif
