/*
 * buf: growable NUL-terminated byte buffers (see buf.h).
 *
 * Threads: a buf belongs to one thread at a time; nothing here is shared.
 * Invariant: when alloc > 0, data[len] == '\0' and len < alloc.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die_oom(void)
{
	fputs("warehousefs: out of memory\n", stderr);
	abort();
}

void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

void wipe_bytes(void *p, size_t len)
{
	/* volatile keeps the compiler from dropping the stores */
	volatile unsigned char *v = p;
	while (len--)
		*v++ = 0;
}

void buf_release_secret(struct buf *b)
{
	if (b->data)
		wipe_bytes(b->data, b->alloc);
	buf_release(b);
}

void buf_reset_secret(struct buf *b)
{
	if (b->data)
		wipe_bytes(b->data, b->alloc);
	buf_setlen(b, 0);
}

void buf_add_secret(struct buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->alloc && b->alloc) {
		/* realloc could free the old block as it is: move it by hand. */
		struct buf bigger = BUF_INIT;
		buf_grow(&bigger, b->len + len);
		buf_add(&bigger, b->data, b->len);
		buf_release_secret(b);
		*b = bigger;
	}
	buf_add(b, data, len);
}

void buf_reset(struct buf *b)
{
	buf_setlen(b, 0);
}

void buf_grow(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->alloc)
		return;
	size_t n = b->alloc ? b->alloc : 64;
	while (n < need)
		n *= 2;
	char *p = realloc(b->data, n);
	if (!p)
		die_oom();
	if (!b->alloc)
		p[0] = '\0';
	b->data = p;
	b->alloc = n;
}

void buf_setlen(struct buf *b, size_t len)
{
	if (!b->alloc) {
		if (len == 0)
			return;
		buf_grow(b, len);
	}
	b->len = len;
	b->data[len] = '\0';
}

void buf_add(struct buf *b, const void *data, size_t len)
{
	buf_grow(b, len);
	memcpy(b->data + b->len, data, len);
	buf_setlen(b, b->len + len);
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addch(struct buf *b, char c)
{
	buf_grow(b, 1);
	b->data[b->len] = c;
	buf_setlen(b, b->len + 1);
}

void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;

	buf_grow(b, 64);
	va_copy(cp, ap);
	int n = vsnprintf(b->data + b->len, b->alloc - b->len, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	if ((size_t)n >= b->alloc - b->len) {
		buf_grow(b, (size_t)n);
		va_copy(cp, ap);
		n = vsnprintf(b->data + b->len, b->alloc - b->len, fmt, cp);
		va_end(cp);
	}
	buf_setlen(b, b->len + (size_t)n);
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(b, fmt, ap);
	va_end(ap);
}

const char *buf_str(const struct buf *b)
{
	return b->alloc ? b->data : "";
}

char *buf_detach(struct buf *b, size_t *len)
{
	if (!b->alloc)
		buf_grow(b, 0);
	char *p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}

void buf_hex(char *out, const void *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}
