/*
 * vault: AES-256-GCM secrets under a key file (see vault.h).
 *
 * The key never leaves this file's struct and is wiped on free.
 */
#include "vault.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

#define VAULT_VERSION 1
#define NONCE_BYTES 12
#define TAG_BYTES 16

struct vault {
	unsigned char key[VAULT_KEY_BYTES];
};

static int create_key(const char *path, struct buf *err)
{
	unsigned char key[VAULT_KEY_BYTES];
	int ret = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		ret = -errno;
		buf_addf(err, "cannot create key file '%s': %s", path, strerror(errno));
		return ret;
	}
	if (RAND_bytes(key, sizeof(key)) != 1) {
		ret = -EIO;
		buf_addf(err, "cannot create key file '%s': no random bytes", path);
		goto out;
	}
	if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || fsync(fd) < 0) {
		ret = -errno ? -errno : -EIO;
		buf_addf(err, "cannot write key file '%s': %s", path, strerror(errno));
		goto out;
	}
	log_info("created key file '%s'", path);
out:
	OPENSSL_cleanse(key, sizeof(key));
	close(fd);
	if (ret < 0)
		unlink(path);
	return ret;
}

int vault_open(const char *path, int create, struct vault **out, struct buf *err)
{
	struct vault *v = NULL;
	struct stat st;
	int ret = 0, fd = -1;

	if (create && access(path, F_OK) < 0 && errno == ENOENT) {
		ret = create_key(path, err);
		if (ret < 0)
			return ret;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		buf_addf(err, "cannot open key file '%s': %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		buf_addf(err, "cannot stat key file '%s': %s", path, strerror(errno));
		goto out;
	}
	if (st.st_mode & 077) {
		ret = -EPERM;
		buf_addf(err, "key file '%s' is readable by others (mode %03o): "
			 "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if (st.st_size != VAULT_KEY_BYTES) {
		ret = -EINVAL;
		buf_addf(err, "key file '%s' holds %lld bytes, expected %d", path,
			 (long long)st.st_size, VAULT_KEY_BYTES);
		goto out;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		ret = -ENOMEM;
		goto out;
	}
	if (read(fd, v->key, sizeof(v->key)) != (ssize_t)sizeof(v->key)) {
		ret = -EIO;
		buf_addf(err, "cannot read key file '%s'", path);
		goto out;
	}
	*out = v;
	v = NULL;
out:
	if (fd >= 0)
		close(fd);
	vault_free(v);
	return ret;
}

void vault_free(struct vault *v)
{
	if (!v)
		return;
	OPENSSL_cleanse(v->key, sizeof(v->key));
	free(v);
}

int vault_encrypt(const struct vault *v, const char *aad, const void *plaintext,
		  size_t len, struct buf *out)
{
	unsigned char nonce[NONCE_BYTES];
	EVP_CIPHER_CTX *ctx = NULL;
	int ret = -EIO, n = 0;

	if (len > INT32_MAX || RAND_bytes(nonce, sizeof(nonce)) != 1)
		return -EIO;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, v->key, nonce) != 1)
		goto out;
	if (EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
			      (int)strlen(aad)) != 1)
		goto out;
	size_t start = out->len;
	buf_grow(out, VAULT_OVERHEAD + len + 16);
	unsigned char *p = (unsigned char *)out->data + start;
	p[0] = VAULT_VERSION;
	memcpy(p + 1, nonce, NONCE_BYTES);
	unsigned char *ct = p + 1 + NONCE_BYTES;
	int clen = 0;
	if (EVP_EncryptUpdate(ctx, ct, &clen, plaintext, (int)len) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, ct + clen, &n) != 1)
		goto out;
	clen += n;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, ct + clen) != 1)
		goto out;
	buf_setlen(out, start + 1 + NONCE_BYTES + (size_t)clen + TAG_BYTES);
	ret = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

int vault_decrypt(const struct vault *v, const char *aad, const void *blob, size_t len,
		  struct buf *out)
{
	const unsigned char *p = blob;
	EVP_CIPHER_CTX *ctx = NULL;
	int ret = -EBADMSG, n = 0;

	if (len < VAULT_OVERHEAD || p[0] != VAULT_VERSION || len > INT32_MAX)
		return -EINVAL;
	size_t clen = len - VAULT_OVERHEAD;
	const unsigned char *nonce = p + 1;
	const unsigned char *ct = nonce + NONCE_BYTES;
	unsigned char tag[TAG_BYTES];
	memcpy(tag, ct + clen, TAG_BYTES);
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, v->key, nonce) != 1)
		goto out;
	if (EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
			      (int)strlen(aad)) != 1)
		goto out;
	size_t start = out->len;
	buf_grow(out, clen + 16);
	unsigned char *pt = (unsigned char *)out->data + start;
	int plen = 0;
	if (EVP_DecryptUpdate(ctx, pt, &plen, ct, (int)clen) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(ctx, pt + plen, &n) != 1) {
		/* Authentication failed: never hand back unverified bytes. */
		OPENSSL_cleanse(pt, clen);
		goto out;
	}
	buf_setlen(out, start + (size_t)plen + (size_t)n);
	ret = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}
