/*
 * buf: a growable byte buffer that is always NUL-terminated, in the manner
 * of git's strbuf.  Used wherever text is assembled (status files, SQL
 * results, signed requests).
 *
 * A zeroed struct buf (BUF_INIT) is a valid empty buffer.  Allocation
 * failure aborts the process: every caller would have to give up anyway,
 * and a half-built status file is worse than a clear crash.
 */
#ifndef WAREHOUSEFS_BUF_H
#define WAREHOUSEFS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NUL-terminated when alloc > 0; "" otherwise via buf_str() */
	size_t len;
	size_t alloc;
};

#define BUF_INIT {NULL, 0, 0}

/* Frees the buffer's memory and leaves it empty and reusable. */
void buf_release(struct buf *b);

/* Empties the buffer, keeping its memory for reuse. */
void buf_reset(struct buf *b);

/* Makes room for at least extra more bytes after len. */
void buf_grow(struct buf *b, size_t extra);

void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);

/* Sets len, which must not exceed the allocated room, and terminates. */
void buf_setlen(struct buf *b, size_t len);

/* The contents as a C string; "" for a never-used buffer. */
const char *buf_str(const struct buf *b);

/*
 * Hands the contents to the caller (who frees them with free()) and
 * leaves b empty.  Never returns NULL.
 */
char *buf_detach(struct buf *b, size_t *len);

/*
 * Writes len bytes of in as lowercase hex into out, which holds 2 * len + 1
 * bytes (NUL-terminated).  For digests: SHA-256, MD5, signatures.
 */
void buf_hex(char *out, const void *in, size_t len);

/* Wipes the contents with OPENSSL_cleanse-like care, then releases. */
void buf_release_secret(struct buf *b);

/* Wipes the contents and empties the buffer, keeping its memory. */
void buf_reset_secret(struct buf *b);

/*
 * buf_add for text that may hold a secret: when the buffer must grow, the
 * old block is wiped before it is freed, so no stale copy is left behind.
 */
void buf_add_secret(struct buf *b, const void *data, size_t len);

/* Zeroes len bytes at p in a way the compiler cannot drop. */
void wipe_bytes(void *p, size_t len);

#endif
