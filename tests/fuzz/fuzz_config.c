/*
 * Fuzz target: `.config` input, as written by users (config_parse()).
 *
 * Invariants checked:
 *   - the result is 0 or -EINVAL, with a reason exactly when it fails;
 *   - reasons are UTF-8 text, whatever the input (they reach .status);
 *   - input that parses whole also parses as a partial write (final = 0);
 *   - every value kept is valid for its key, in its stored form, and UTF-8;
 *   - the entries written back as `key = value` lines parse to the same
 *     entries (what a user who copies .config and writes it back gets).
 */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

static void check_entries(const struct config_input *in)
{
	for (size_t i = 0; i < in->n; i++) {
		const struct config_entry *e = &in->entries[i];
		FUZZ_CHECK(e->key != NULL);
		FUZZ_CHECK(config_key_find(e->key->name) == e->key);
		for (size_t k = 0; k < i; k++)
			FUZZ_CHECK(in->entries[k].key != e->key);
		if (e->keep)
			FUZZ_CHECK(e->value == NULL && (e->key->flags & CONFIG_SECRET));
		if (!e->value)
			continue;

		struct buf why = BUF_INIT, norm = BUF_INIT;
		FUZZ_CHECK(e->value[0] != '\0');
		FUZZ_CHECK(fuzz_utf8_valid(e->value, strlen(e->value)));
		FUZZ_CHECK(strchr(e->value, '\n') == NULL);
		FUZZ_CHECK(e->key->validate(e->value, &why) == 0);
		if (e->key->normalize) {
			e->key->normalize(e->value, &norm);
			FUZZ_CHECK(strcmp(buf_str(&norm), e->value) == 0);
		}
		buf_release(&why);
		buf_release(&norm);
	}
}

/* Writes the entries back as `.config` lines and checks they read the same. */
static void check_round_trip(const struct config_input *in)
{
	struct buf text = BUF_INIT, why = BUF_INIT;
	struct config_input again = {NULL, 0};

	for (size_t i = 0; i < in->n; i++) {
		const struct config_entry *e = &in->entries[i];
		if (e->keep)
			buf_addf(&text, "%s = %s\n", e->key->name, CONFIG_SECRET_SHOWN);
		else if (e->value)
			buf_addf(&text, "%s = %s\n", e->key->name, e->value);
		else
			buf_addf(&text, "%s =\n", e->key->name);
	}
	FUZZ_CHECK(config_parse(buf_str(&text), text.len, 1, &again, &why) == 0);
	FUZZ_CHECK(again.n == in->n);
	for (size_t i = 0; i < in->n; i++) {
		const struct config_entry *a = &in->entries[i], *b = &again.entries[i];
		FUZZ_CHECK(a->key == b->key && a->keep == b->keep);
		FUZZ_CHECK((a->value == NULL) == (b->value == NULL));
		FUZZ_CHECK(!a->value || strcmp(a->value, b->value) == 0);
	}
	config_input_release(&again);
	buf_release(&why);
	buf_release(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct config_input whole = {NULL, 0}, partial = {NULL, 0};
	struct buf why = BUF_INIT, partial_why = BUF_INIT;

	int ret = config_parse(text, size, 1, &whole, &why);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	FUZZ_CHECK((ret == 0) == (why.len == 0));
	FUZZ_CHECK(fuzz_utf8_valid(why.data, why.len));

	int partial_ret = config_parse(text, size, 0, &partial, &partial_why);
	FUZZ_CHECK(partial_ret == 0 || partial_ret == -EINVAL);
	FUZZ_CHECK((partial_ret == 0) == (partial_why.len == 0));
	FUZZ_CHECK(fuzz_utf8_valid(partial_why.data, partial_why.len));
	if (partial_ret == 0)
		check_entries(&partial);
	if (ret == 0) {
		FUZZ_CHECK(partial_ret == 0);
		check_entries(&whole);
		check_round_trip(&whole);
	}

	config_input_release(&whole);
	config_input_release(&partial);
	buf_release(&why);
	buf_release(&partial_why);
	return 0;
}
