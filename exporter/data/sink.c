/*
 * sink: buffered, hashing output to a file descriptor (see sink.h).
 *
 * Invariant: every byte that reaches the fd has been fed to the hash, in
 * order, and nothing else has.
 */
#include "sink.h"

#include <errno.h>
#include <openssl/evp.h>
#include <unistd.h>

int sink_init(struct sink *s, int fd)
{
	struct buf empty = BUF_INIT;

	s->out = empty;
	s->fd = fd;
	s->error = 0;
	s->written = 0;
	s->hash = EVP_MD_CTX_new();
	if (!s->hash)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(s->hash, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(s->hash);
		s->hash = NULL;
		return -ENOMEM;
	}
	buf_grow(&s->out, SINK_FLUSH_AT + 4096);
	return 0;
}

void sink_flush(struct sink *s)
{
	const char *p = s->out.data;
	size_t left = s->out.len;

	if (!left || s->error) {
		buf_reset(&s->out);
		return;
	}
	EVP_DigestUpdate(s->hash, p, left);
	while (left) {
		ssize_t n = write(s->fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			s->error = -errno;
			break;
		}
		p += n;
		left -= (size_t)n;
		s->written += (uint64_t)n;
	}
	buf_reset(&s->out);
}

int sink_finish(struct sink *s, char sha256_hex[65], uint64_t *size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	sink_flush(s);
	if (s->error)
		return s->error;
	EVP_DigestFinal_ex(s->hash, md, &mdlen);
	buf_hex(sha256_hex, md, mdlen < 32 ? mdlen : 32);
	*size = s->written;
	return 0;
}

void sink_release(struct sink *s)
{
	if (s->hash)
		EVP_MD_CTX_free(s->hash);
	s->hash = NULL;
	buf_release(&s->out);
}
