/*
 * Unit test of vault: round trips, nonce uniqueness, tamper detection,
 * associated data binding, key file checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vault.h"

static char dir[] = "/tmp/vault-test-XXXXXX";

static void path_in(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static struct vault *open_new(const char *name)
{
	char path[256];
	struct vault *v = NULL;
	struct buf err = BUF_INIT;

	path_in(path, sizeof(path), name);
	CHECK_INT(vault_open(path, 1, &v, &err), 0);
	buf_release(&err);
	return v;
}

static void test_round_trip(struct vault *v)
{
	static const char *const secrets[] = {"", "x", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
					      "with space and \xc3\xa9"};

	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		struct buf blob = BUF_INIT, plain = BUF_INIT;
		size_t n = strlen(secrets[i]);
		CHECK_INT(vault_encrypt(v, "7", secrets[i], n, &blob), 0);
		CHECK_INT(blob.len, n + VAULT_OVERHEAD);
		CHECK(n < 4 || memmem(blob.data, blob.len, secrets[i], n) == NULL);
		CHECK_INT(vault_decrypt(v, "7", blob.data, blob.len, &plain), 0);
		CHECK_INT(plain.len, n);
		CHECK(memcmp(buf_str(&plain), secrets[i], n) == 0);
		buf_release(&blob);
		buf_release_secret(&plain);
	}
}

static int cmp_nonce(const void *a, const void *b)
{
	return memcmp(a, b, 12);
}

static void test_nonces(struct vault *v)
{
	enum { COUNT = 2000 };
	unsigned char *nonces = malloc(COUNT * 12);
	struct buf first = BUF_INIT;

	for (int i = 0; i < COUNT; i++) {
		struct buf blob = BUF_INIT;
		CHECK_INT(vault_encrypt(v, "1", "same secret", 11, &blob), 0);
		memcpy(nonces + i * 12, blob.data + 1, 12);
		if (i == 0)
			buf_add(&first, blob.data, blob.len);
		else if (i == 1)
			CHECK(memcmp(first.data, blob.data, blob.len) != 0);
		buf_release(&blob);
	}
	qsort(nonces, COUNT, 12, cmp_nonce);
	int dup = 0;
	for (int i = 1; i < COUNT; i++)
		dup += memcmp(nonces + (i - 1) * 12, nonces + i * 12, 12) == 0;
	CHECK_INT(dup, 0);
	free(nonces);
	buf_release(&first);
}

static void test_tamper(struct vault *v)
{
	struct buf blob = BUF_INIT;
	int refused = 0;

	CHECK_INT(vault_encrypt(v, "3", "secret-value", 12, &blob), 0);
	/* Every single flipped bit of every byte must be caught. */
	for (size_t i = 0; i < blob.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			struct buf plain = BUF_INIT;
			blob.data[i] ^= (char)(1 << bit);
			int r = vault_decrypt(v, "3", blob.data, blob.len, &plain);
			refused += r == -EBADMSG || r == -EINVAL;
			CHECK_INT(plain.len, 0);
			blob.data[i] ^= (char)(1 << bit);
			buf_release(&plain);
		}
	}
	CHECK_INT(refused, (int)blob.len * 8);

	struct buf plain = BUF_INIT;
	CHECK_INT(vault_decrypt(v, "4", blob.data, blob.len, &plain), -EBADMSG);
	CHECK_INT(vault_decrypt(v, "3", blob.data, blob.len - 1, &plain), -EBADMSG);
	CHECK_INT(vault_decrypt(v, "3", blob.data, 5, &plain), -EINVAL);
	CHECK_INT(plain.len, 0);
	buf_release(&plain);
	buf_release(&blob);
}

static void test_wrong_key(struct vault *v)
{
	struct vault *other = open_new("other.key");
	struct buf blob = BUF_INIT, plain = BUF_INIT;

	CHECK_INT(vault_encrypt(v, "9", "secret", 6, &blob), 0);
	CHECK_INT(vault_decrypt(other, "9", blob.data, blob.len, &plain), -EBADMSG);
	CHECK_INT(plain.len, 0);
	vault_free(other);
	buf_release(&plain);
	buf_release(&blob);
}

static void test_key_files(void)
{
	char path[256];
	struct vault *v = NULL;
	struct buf err = BUF_INIT;
	struct stat st;

	path_in(path, sizeof(path), "new.key");
	CHECK_INT(vault_open(path, 1, &v, &err), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 32);
	vault_free(v);
	v = NULL;

	/* Reopening reads the same key: a blob survives. */
	struct vault *a = NULL, *b = NULL;
	struct buf blob = BUF_INIT, plain = BUF_INIT;
	CHECK_INT(vault_open(path, 0, &a, &err), 0);
	CHECK_INT(vault_encrypt(a, "1", "abc", 3, &blob), 0);
	CHECK_INT(vault_open(path, 0, &b, &err), 0);
	CHECK_INT(vault_decrypt(b, "1", blob.data, blob.len, &plain), 0);
	vault_free(a);
	vault_free(b);
	buf_release(&blob);
	buf_release(&plain);

	CHECK(chmod(path, 0644) == 0);
	buf_reset(&err);
	CHECK_INT(vault_open(path, 0, &v, &err), -EPERM);
	CHECK(strstr(buf_str(&err), "chmod 600") != NULL);

	path_in(path, sizeof(path), "short.key");
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(write(fd, "short", 5) == 5);
	close(fd);
	buf_reset(&err);
	CHECK_INT(vault_open(path, 0, &v, &err), -EINVAL);
	CHECK(strstr(buf_str(&err), "expected 32") != NULL);

	path_in(path, sizeof(path), "absent.key");
	buf_reset(&err);
	CHECK_INT(vault_open(path, 0, &v, &err), -ENOENT);
	buf_release(&err);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	struct vault *v = open_new("master.key");
	if (v) {
		test_round_trip(v);
		test_nonces(v);
		test_tamper(v);
		test_wrong_key(v);
	}
	vault_free(v);
	test_key_files();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return check_done();
}
