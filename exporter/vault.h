/*
 * vault: secrets at rest.  Encrypts destination secrets with AES-256-GCM
 * under a 32-byte master key read from a key file (created 0600 with
 * random bytes on first use).  Each encryption uses a fresh random 96-bit
 * nonce; the caller's associated data (the destination's id) binds a
 * ciphertext to its owner, so a blob copied to another destination does
 * not decrypt.
 *
 * Blob layout: version byte (1) | nonce (12) | ciphertext | tag (16).
 *
 * Threads: a vault is read-only after vault_open and may be shared.
 */
#ifndef WAREHOUSEFS_VAULT_H
#define WAREHOUSEFS_VAULT_H

#include <stddef.h>

#include "base/buf.h"

#define VAULT_KEY_BYTES 32
#define VAULT_OVERHEAD (1 + 12 + 16)

struct vault;

/*
 * Reads the key file at path; when it does not exist and create is set,
 * creates it (mode 0600, 32 random bytes).  A key file of the wrong size
 * or with group/other access is refused.  On failure returns a negative
 * errno with a message in err.
 */
int vault_open(const char *path, int create, struct vault **out, struct buf *err);

/* Wipes the key and frees; accepts NULL. */
void vault_free(struct vault *v);

/* Appends the blob for plaintext to out.  0 or -EIO. */
int vault_encrypt(const struct vault *v, const char *aad, const void *plaintext,
		  size_t len, struct buf *out);

/*
 * Appends the plaintext of blob to out.  -EBADMSG when the blob was not
 * made by this key with this aad (wrong key file, tampering), -EINVAL when
 * it is malformed.  Callers wipe out with buf_release_secret().
 */
int vault_decrypt(const struct vault *v, const char *aad, const void *blob, size_t len,
		  struct buf *out);

#endif
