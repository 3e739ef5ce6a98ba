/*
 * config: a destination's settings as text.  Knows every `.config` key,
 * its default, whether it is secret, and how to validate a value; parses
 * `key = value` input as it arrives through write() calls.
 *
 * Pure functions, no state: safe from any thread.
 */
#ifndef WAREHOUSEFS_CONFIG_H
#define WAREHOUSEFS_CONFIG_H

#include <stddef.h>

#include "base/buf.h"

enum config_flags {
	CONFIG_SECRET = 1 << 0,   /* stored encrypted, shown as "(set)" */
	CONFIG_REQUIRED = 1 << 1, /* needed before the destination can upload */
};

struct config_key {
	const char *name;
	unsigned flags;
	const char *default_value; /* shown when unset; "" for none */
	/* Appends the reason to why and returns -EINVAL when value is bad. */
	int (*validate)(const char *value, struct buf *why);
	/* Rewrites a valid value into its stored form (may be NULL). */
	void (*normalize)(const char *value, struct buf *out);
};

/* Arrays of settings have one slot per key, by index: at most this many. */
#define CONFIG_MAX_KEYS 32

/* What secret values read back as. */
#define CONFIG_SECRET_SHOWN "(set)"

/* The key called name, or NULL. */
const struct config_key *config_key_find(const char *name);

/* The i-th key in display order, or NULL past the end. */
const struct config_key *config_key_at(int i);

/* The index of key k (from config_key_find or config_key_at), or -1 for NULL. */
int config_key_index(const struct config_key *k);

/*
 * The settings rulebook, written once for the tree, the control files and
 * the upload workers.  values[] holds a destination's stored settings by
 * key index, NULL when unset.
 */

/* The effective value of the setting called name: stored, else its default. */
const char *config_value(char *const values[CONFIG_MAX_KEYS], const char *name);

/* The addressing in effect: as stored, else "path" with an endpoint, else "virtual". */
const char *config_addressing(char *const values[CONFIG_MAX_KEYS]);

/*
 * How many required settings are unset; their names, comma-separated, are
 * appended to out unless it is NULL.  secret_set[i] says whether secret i
 * is stored when values[] does not hold secrets (NULL when it does).
 */
int config_missing(char *const values[CONFIG_MAX_KEYS], const int *secret_set,
		   struct buf *out);

struct config_entry {
	const struct config_key *key;
	char *value; /* normalized; NULL when the line clears the key */
	int keep;    /* a secret written back as "(set)": leave it unchanged */
};

struct config_input {
	struct config_entry *entries; /* at most one per key: the last line wins */
	size_t n;
};

/*
 * Parses text (len bytes).  Blank lines and lines starting with '#' are
 * ignored; other lines must be `key = value` (`key =` clears a key).  When
 * final is 0, a last line without '\n' is not parsed yet.  On bad input
 * returns -EINVAL with the reason in why ("line 2: unknown key 'colour'").
 * The caller releases out (secret values are wiped).
 */
int config_parse(const char *text, size_t len, int final, struct config_input *out,
		 struct buf *why);

void config_input_release(struct config_input *in);

/* Checks that a team id can be a file name and an object key component. */
int config_valid_team_id(const char *s, size_t len);

/* Checks a destination name: [a-z0-9][a-z0-9._-]{0,62}. */
int config_valid_dest_name(const char *s);

#endif
