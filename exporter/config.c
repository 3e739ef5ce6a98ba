/*
 * config: the `.config` keys and their validation (see config.h).
 *
 * Each key is one row of a table: adding a setting means adding a row and,
 * if needed, a validator.  Messages name the key and say what is expected.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "data/format.h"

/*
 * Whether s is UTF-8 as RFC 3629 has it: shortest forms only, no UTF-16
 * surrogates, nothing past U+10FFFF.  Team ids and prefixes become object
 * keys, which must be UTF-8; and an overlong form can hide a '/' or a NUL.
 */
static int valid_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		unsigned char lo = 0x80, hi = 0xbf; /* where the second byte may be */
		size_t n;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0; /* below: overlong */
			else if (c == 0xed)
				hi = 0x9f; /* above: surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90; /* below: overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* above: past U+10FFFF */
		} else {
			return 0;
		}
		if (i + n >= len || s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += n + 1;
	}
	return 1;
}

/*
 * How many bytes of s (valid UTF-8) "%.*s" may show, at most max, without
 * cutting a character in two: messages stay text.
 */
static int utf8_cut(const char *s, int max)
{
	size_t n = strnlen(s, (size_t)max);

	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

int config_valid_team_id(const char *s, size_t len)
{
	if (len == 0 || len > 255 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '/' || s[i] == '\0' || (unsigned char)s[i] < 0x20 ||
		    s[i] == 0x7f)
			return 0;
	return valid_utf8((const unsigned char *)s, len);
}

int config_valid_dest_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return 0;
	}
	return 1;
}

static int printable_token(const char *v, size_t max)
{
	size_t n = strlen(v);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			return 0;
	return 1;
}

static int v_team_id(const char *v, struct buf *why)
{
	if (strcmp(v, "*") == 0 || config_valid_team_id(v, strlen(v)))
		return 0;
	buf_adds(why, "team_id must be a team id (UTF-8, no '/', not starting with "
		      "'.', at most 255 bytes) or '*' for every team");
	return -EINVAL;
}

static int v_bucket(const char *v, struct buf *why)
{
	size_t n = strlen(v);
	int ok = n >= 3 && n <= 63 && strstr(v, "..") == NULL;

	for (size_t i = 0; ok && i < n; i++) {
		char c = v[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && ((c != '.' && c != '-') || i == 0 || i == n - 1))
			ok = 0;
	}
	if (ok)
		return 0;
	buf_adds(why, "bucket must be 3-63 characters of a-z, 0-9, '.' and '-', "
		      "starting and ending with a letter or digit");
	return -EINVAL;
}

static int v_region(const char *v, struct buf *why)
{
	size_t n = strlen(v);
	int ok = n >= 1 && n <= 32;

	for (size_t i = 0; ok && i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') ||
		      v[i] == '-'))
			ok = 0;
	if (ok)
		return 0;
	buf_adds(why, "region must be an AWS region name such as 'eu-west-1', or 'auto'");
	return -EINVAL;
}

static int v_endpoint(const char *v, struct buf *why)
{
	const char *host = NULL;

	if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	if (host && *host && *host != '/' && printable_token(v, 512) &&
	    !strpbrk(v, "?#@"))
		return 0;
	buf_adds(why, "endpoint must be an http:// or https:// URL such as "
		      "'https://s3.example.com' or 'http://127.0.0.1:7480'");
	return -EINVAL;
}

static int one_of(const char *v, const char *const *allowed, const char *key,
		  struct buf *why)
{
	for (int i = 0; allowed[i]; i++)
		if (strcmp(v, allowed[i]) == 0)
			return 0;
	buf_addf(why, "%s must be one of:", key);
	for (int i = 0; allowed[i]; i++)
		buf_addf(why, "%s %s", i ? "," : "", allowed[i]);
	return -EINVAL;
}

static int v_addressing(const char *v, struct buf *why)
{
	static const char *const allowed[] = {"path", "virtual", NULL};
	return one_of(v, allowed, "addressing", why);
}

static int v_schedule(const char *v, struct buf *why)
{
	static const char *const allowed[] = {"daily", "hourly", NULL};
	return one_of(v, allowed, "schedule", why);
}

static int v_sse(const char *v, struct buf *why)
{
	static const char *const allowed[] = {"none", "AES256", "aws:kms", NULL};
	return one_of(v, allowed, "sse", why);
}

static int v_compression(const char *v, struct buf *why)
{
	static const char *const allowed[] = {"none", NULL};
	return one_of(v, allowed, "compression", why);
}

static int v_format(const char *v, struct buf *why)
{
	if (format_find(v))
		return 0;
	buf_adds(why, "format must be one of: csv");
	return -EINVAL;
}

static int v_prefix(const char *v, struct buf *why)
{
	size_t n = strlen(v);

	if (n > 512) {
		buf_adds(why, "prefix must be at most 512 bytes");
		return -EINVAL;
	}
	if (v[0] == '/') {
		buf_adds(why, "prefix must not start with '/' (write 'exports/', not "
			      "'/exports/')");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
			buf_adds(why, "prefix must not contain control characters");
			return -EINVAL;
		}
	if (!valid_utf8((const unsigned char *)v, n)) {
		buf_adds(why, "prefix must be valid UTF-8");
		return -EINVAL;
	}
	return 0;
}

static int v_access_key_id(const char *v, struct buf *why)
{
	if (printable_token(v, 128))
		return 0;
	buf_adds(why, "access_key_id must be 1-128 printable characters without spaces");
	return -EINVAL;
}

static int v_secret(const char *v, struct buf *why)
{
	if (printable_token(v, 4096))
		return 0;
	buf_adds(why, "secret_access_key and session_token must be printable "
		      "characters without spaces");
	return -EINVAL;
}

static int v_kms_key(const char *v, struct buf *why)
{
	if (printable_token(v, 2048))
		return 0;
	buf_adds(why, "sse_kms_key_id must be a KMS key id or ARN without spaces");
	return -EINVAL;
}

/* Splits a comma-separated list into trimmed items; calls fn on each. */
static int each_item(const char *v, int (*fn)(const char *item, size_t len, void *ctx),
		     void *ctx)
{
	const char *p = v;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *s = p;
		while (len && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		int ret = fn(s, len, ctx);
		if (ret)
			return ret;
		if (!end)
			return 0;
		p = end + 1;
	}
}

static int check_dataset(const char *item, size_t len, void *ctx)
{
	char name[64];
	struct buf *why = ctx;

	if (len == 0 || len >= sizeof(name)) {
		buf_adds(why, "datasets must be a comma-separated list such as "
			      "'analytics_daily'");
		return -EINVAL;
	}
	memcpy(name, item, len);
	name[len] = '\0';
	if (dataset_find(name))
		return 0;
	buf_addf(why, "unknown dataset '%s' (known: ", name);
	for (int i = 0; dataset_at(i); i++)
		buf_addf(why, "%s%s", i ? ", " : "", dataset_at(i)->name);
	buf_adds(why, ")");
	return -EINVAL;
}

static int v_datasets(const char *v, struct buf *why)
{
	return each_item(v, check_dataset, why);
}

static int add_item(const char *item, size_t len, void *ctx)
{
	struct buf *out = ctx;

	if (out->len)
		buf_addch(out, ',');
	buf_add(out, item, len);
	return 0;
}

static void n_datasets(const char *v, struct buf *out)
{
	each_item(v, add_item, out);
}

static const struct config_key keys[] = {
	{"team_id", CONFIG_REQUIRED, "", v_team_id, NULL},
	{"bucket", CONFIG_REQUIRED, "", v_bucket, NULL},
	{"region", 0, "us-east-1", v_region, NULL},
	{"endpoint", 0, "", v_endpoint, NULL},
	{"addressing", 0, "", v_addressing, NULL},
	{"prefix", 0, "", v_prefix, NULL},
	{"access_key_id", CONFIG_REQUIRED, "", v_access_key_id, NULL},
	{"secret_access_key", CONFIG_REQUIRED | CONFIG_SECRET, "", v_secret, NULL},
	{"session_token", CONFIG_SECRET, "", v_secret, NULL},
	{"schedule", 0, "daily", v_schedule, NULL},
	{"sse", 0, "none", v_sse, NULL},
	{"sse_kms_key_id", 0, "", v_kms_key, NULL},
	{"datasets", 0, "analytics_daily", v_datasets, n_datasets},
	{"format", 0, "csv", v_format, NULL},
	{"compression", 0, "none", v_compression, NULL},
};

#define NKEYS ((int)(sizeof(keys) / sizeof(keys[0])))

const struct config_key *config_key_find(const char *name)
{
	for (int i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

const struct config_key *config_key_at(int i)
{
	return i >= 0 && i < NKEYS ? &keys[i] : NULL;
}

_Static_assert(NKEYS <= CONFIG_MAX_KEYS, "CONFIG_MAX_KEYS is too small");

int config_key_index(const struct config_key *k)
{
	return k ? (int)(k - keys) : -1;
}

const char *config_value(char *const values[CONFIG_MAX_KEYS], const char *name)
{
	const struct config_key *k = config_key_find(name);
	int i = config_key_index(k);

	if (i < 0)
		return "";
	return values[i] ? values[i] : k->default_value;
}

const char *config_addressing(char *const values[CONFIG_MAX_KEYS])
{
	const char *set = values[config_key_index(config_key_find("addressing"))];

	if (set)
		return set;
	return config_value(values, "endpoint")[0] ? "path" : "virtual";
}

int config_missing(char *const values[CONFIG_MAX_KEYS], const int *secret_set,
		   struct buf *out)
{
	int n = 0;

	for (int i = 0; i < NKEYS; i++) {
		const struct config_key *k = &keys[i];
		int set = (k->flags & CONFIG_SECRET) && secret_set ? secret_set[i]
								   : values[i] != NULL;
		if (!(k->flags & CONFIG_REQUIRED) || set)
			continue;
		if (out)
			buf_addf(out, "%s%s", n ? ", " : "", k->name);
		n++;
	}
	return n;
}

static void wipe(char *s)
{
	if (s)
		wipe_bytes(s, strlen(s));
}

void config_input_release(struct config_input *in)
{
	for (size_t i = 0; i < in->n; i++) {
		wipe(in->entries[i].value);
		free(in->entries[i].value);
	}
	free(in->entries);
	in->entries = NULL;
	in->n = 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static void put_entry(struct config_input *in, const struct config_key *key, char *value,
		      int keep)
{
	for (size_t i = 0; i < in->n; i++) {
		if (in->entries[i].key == key) {
			wipe(in->entries[i].value);
			free(in->entries[i].value);
			in->entries[i].value = value;
			in->entries[i].keep = keep;
			return;
		}
	}
	struct config_entry *e = realloc(in->entries, (in->n + 1) * sizeof(*e));
	if (!e)
		abort();
	in->entries = e;
	e[in->n].key = key;
	e[in->n].value = value;
	e[in->n].keep = keep;
	in->n++;
}

/* Parses one line (NUL-terminated, modifiable).  0 or -EINVAL with why. */
static int parse_line(char *line, int lineno, struct config_input *in, struct buf *why)
{
	char *s = trim(line);

	if (!*s || *s == '#')
		return 0;
	char *eq = strchr(s, '=');
	if (!eq) {
		/* Never echo the line: it may be a secret written without its key. */
		char word[64];
		snprintf(word, sizeof(word), "%.*s", (int)strcspn(s, " \t"), s);
		if (config_key_find(word))
			buf_addf(why, "line %d: expected 'key = value', got '%s' without '='",
				 lineno, word);
		else
			buf_addf(why, "line %d: expected 'key = value'", lineno);
		return -EINVAL;
	}
	*eq = '\0';
	char *name = trim(s);
	char *value = trim(eq + 1);
	const struct config_key *key = config_key_find(name);
	if (!key) {
		buf_addf(why, "line %d: unknown key '%.*s' (known keys:", lineno,
			 utf8_cut(name, 64), name);
		for (int i = 0; i < NKEYS; i++)
			buf_addf(why, " %s", keys[i].name);
		buf_adds(why, ")");
		return -EINVAL;
	}
	if (!*value) {
		put_entry(in, key, NULL, 0);
		return 0;
	}
	if ((key->flags & CONFIG_SECRET) && strcmp(value, CONFIG_SECRET_SHOWN) == 0) {
		put_entry(in, key, NULL, 1);
		return 0;
	}
	struct buf reason = BUF_INIT;
	if (key->validate(value, &reason) < 0) {
		if (key->flags & CONFIG_SECRET)
			buf_addf(why, "line %d: %s", lineno, buf_str(&reason));
		else
			buf_addf(why, "line %d: invalid %s '%.*s': %s", lineno, key->name,
				 utf8_cut(value, 80), value, buf_str(&reason));
		buf_release(&reason);
		return -EINVAL;
	}
	buf_release(&reason);
	struct buf norm = BUF_INIT;
	if (key->normalize)
		key->normalize(value, &norm);
	else
		buf_adds(&norm, value);
	put_entry(in, key, buf_detach(&norm, NULL), 0);
	return 0;
}

int config_parse(const char *text, size_t len, int final, struct config_input *out,
		 struct buf *why)
{
	struct buf line = BUF_INIT;
	size_t start = 0;
	int lineno = 0, ret = 0;

	if (memchr(text, '\0', len)) {
		buf_adds(why, "input contains a NUL byte: write text lines 'key = value'");
		return -EINVAL;
	}
	if (!valid_utf8((const unsigned char *)text, len) && final) {
		buf_adds(why, "input is not valid UTF-8 text");
		return -EINVAL;
	}
	while (start < len) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - text) : len;
		if (!nl && !final)
			break;
		lineno++;
		buf_reset(&line);
		buf_add(&line, text + start, end - start);
		if (line.len && line.data[line.len - 1] == '\r')
			buf_setlen(&line, line.len - 1);
		/* Checked first, so that no message echoes bytes that are not text. */
		if (!valid_utf8((const unsigned char *)line.data, line.len)) {
			buf_addf(why, "line %d: not valid UTF-8 text", lineno);
			ret = -EINVAL;
			break;
		}
		ret = parse_line(line.data, lineno, out, why);
		if (ret)
			break;
		start = end + 1;
	}
	buf_release_secret(&line);
	return ret;
}
