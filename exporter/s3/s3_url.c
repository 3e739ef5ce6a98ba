/*
 * s3_url: where an object goes: virtual-hosted or path-style URLs for AWS
 * and for S3-compatible endpoints, the Host header and the path exactly as
 * signed (the key URI-encoded once, '/' kept).
 *
 * Pure functions; safe from any thread.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "s3_i.h"
#include "sigv4.h"

/* ----------------------------------------------------------- target */

static int is_ip_literal(const char *host, size_t len)
{
	if (len && host[0] == '[')
		return 1;
	for (size_t i = 0; i < len; i++)
		if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.'))
			return 0;
	return 1;
}

/* A bucket that can be a host name label set (virtual-hosted addressing). */
static int dns_compatible(const char *bucket, int allow_dots)
{
	size_t n = strlen(bucket);

	if (n < 3 || n > 63 || bucket[0] == '-' || bucket[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = bucket[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      (ch == '.' && allow_dots)))
			return 0;
	}
	return 1;
}

/*
 * Builds loc for t and key.  AWS without an endpoint: virtual-hosted
 * https://BUCKET.s3.REGION.amazonaws.com/KEY, or path-style
 * https://s3.REGION.amazonaws.com/BUCKET/KEY, the latter also for a bucket
 * whose name has dots (the certificate *.s3.REGION.amazonaws.com cannot
 * cover it, so botocore does the same).  An endpoint: ENDPOINT/BUCKET/KEY,
 * or scheme://BUCKET.HOST[:PORT]/KEY.
 */
int s3_locate(const struct s3_target *t, const char *key, struct location *loc,
		  struct s3_error *err)
{
	const char *endpoint = t->endpoint ? t->endpoint : "";
	const char *scheme, *authority, *slash, *host_end, *port = NULL;
	int https, virtual;
	struct buf aws_host = BUF_INIT;

	if (!endpoint[0]) {
		if (strcmp(t->region, "auto") == 0) {
			s3_set_message(err, "region 'auto' needs an endpoint: it is for R2 and similar "
					 "stores; for AWS set the bucket's region");
			return -EINVAL;
		}
		/* It becomes part of a host name. */
		if (strspn(t->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(t->region)) {
			s3_set_message(err, "region '%s' is not an AWS region name", t->region);
			return -EINVAL;
		}
		buf_addf(&aws_host, "s3.%s.amazonaws.com%s", t->region,
			 strncmp(t->region, "cn-", 3) == 0 ? ".cn" : "");
		endpoint = buf_str(&aws_host);
		scheme = "https";
		authority = endpoint;
		https = 1;
		virtual = !t->path_style && dns_compatible(t->bucket, 0);
	} else if (strncmp(endpoint, "https://", 8) == 0 || strncmp(endpoint, "http://", 7) == 0) {
		https = endpoint[4] == 's';
		scheme = https ? "https" : "http";
		authority = endpoint + (https ? 8 : 7);
		virtual = !t->path_style;
	} else {
		s3_set_message(err, "endpoint '%s' must start with http:// or https://", endpoint);
		return -EINVAL;
	}
	slash = strchr(authority, '/');
	host_end = slash ? slash : authority + strlen(authority);
	if (authority == host_end || strpbrk(endpoint, "?#@ ")) {
		s3_set_message(err, "endpoint '%s' is not a URL of the form "
				 "http[s]://HOST[:PORT][/PATH]", endpoint);
		buf_release(&aws_host);
		return -EINVAL;
	}
	/* The port, if any, is after the last ':' outside an IPv6 literal's brackets. */
	for (const char *p = host_end; p > authority; p--)
		if (p[-1] == ']')
			break;
		else if (p[-1] == ':') {
			port = p;
			break;
		}
	size_t host_len = (size_t)((port ? port - 1 : host_end) - authority);
	size_t port_len = port ? (size_t)(host_end - port) : 0;
	if (port && (port_len < 1 || port_len > 5 || strspn(port, "0123456789") < port_len)) {
		s3_set_message(err, "endpoint '%s' has a bad port", endpoint);
		buf_release(&aws_host);
		return -EINVAL;
	}
	/* curl leaves the scheme's own port out of Host, and so must the signature. */
	int default_port = !port || (https && port_len == 3 && strncmp(port, "443", 3) == 0) ||
			   (!https && port_len == 2 && strncmp(port, "80", 2) == 0);
	if (virtual && is_ip_literal(authority, host_len)) {
		s3_set_message(err, "virtual-hosted addressing needs a host name in endpoint '%s', "
				 "not an IP address: set addressing = path", endpoint);
		buf_release(&aws_host);
		return -EINVAL;
	}
	if (virtual && !dns_compatible(t->bucket, 1)) {
		s3_set_message(err, "bucket '%s' cannot be a host name: set addressing = path",
			    t->bucket);
		buf_release(&aws_host);
		return -EINVAL;
	}

	if (virtual)
		buf_addf(&loc->host, "%s.", t->bucket);
	buf_add(&loc->host, authority, host_len);
	if (!default_port)
		buf_addf(&loc->host, ":%.*s", (int)port_len, port);
	if (slash) {
		/* an endpoint's own path ("https://gw.example/s3"), without a final '/' */
		size_t n = strlen(slash);
		while (n && slash[n - 1] == '/')
			n--;
		buf_add(&loc->path, slash, n);
	}
	if (!virtual) {
		buf_addch(&loc->path, '/');
		sigv4_uri_encode(&loc->path, t->bucket, strlen(t->bucket), 0);
	}
	buf_addch(&loc->path, '/');
	sigv4_uri_encode(&loc->path, key, strlen(key), 1);
	buf_addf(&loc->url, "%s://", scheme);
	if (virtual)
		buf_addf(&loc->url, "%s.", t->bucket);
	buf_add(&loc->url, authority, (size_t)(host_end - authority));
	buf_adds(&loc->url, buf_str(&loc->path));
	buf_release(&aws_host);
	return 0;
}

int s3_check_target(const struct s3_target *t, const char *key, struct s3_error *err)
{
	static const struct {
		size_t offset;
		const char *name;
	} required[] = {
		{offsetof(struct s3_target, bucket), "bucket"},
		{offsetof(struct s3_target, region), "region"},
		{offsetof(struct s3_target, access_key_id), "access_key_id"},
		{offsetof(struct s3_target, secret_access_key), "secret_access_key"},
	};

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		const char *v = *(const char *const *)((const char *)t + required[i].offset);
		if (!v || !v[0]) {
			s3_set_message(err, "no %s is set", required[i].name);
			return -EINVAL;
		}
	}
	if (!key || !key[0]) {
		s3_set_message(err, "the object key is empty");
		return -EINVAL;
	}
	if (t->sse && t->sse[0] && strcmp(t->sse, "none") != 0 && strcmp(t->sse, "AES256") != 0 &&
	    strcmp(t->sse, "aws:kms") != 0) {
		s3_set_message(err, "sse '%s' is not one of none, AES256, aws:kms", t->sse);
		return -EINVAL;
	}
	return 0;
}
