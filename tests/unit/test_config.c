/*
 * Unit test of config: the .config grammar and every validator.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "base/clock.h"
#include "config.h"

struct parse_case {
	const char *input;
	int final;
	int ret;
	const char *key;   /* expected first entry's key (ret == 0) */
	const char *value; /* expected first entry's value; NULL = cleared */
	const char *why;   /* substring of the reason (ret < 0) */
};

static const struct parse_case cases[] = {
	{"team_id = abc\n", 1, 0, "team_id", "abc", NULL},
	{"  team_id=abc  \r\n", 1, 0, "team_id", "abc", NULL},
	{"team_id = *\n", 1, 0, "team_id", "*", NULL},
	{"# comment\n\nschedule = hourly\n", 1, 0, "schedule", "hourly", NULL},
	{"prefix =\n", 1, 0, "prefix", NULL, NULL},
	{"bucket = my.bucket-1\n", 1, 0, "bucket", "my.bucket-1", NULL},
	{"region = auto\n", 1, 0, "region", "auto", NULL},
	{"endpoint = http://127.0.0.1:7480\n", 1, 0, "endpoint", "http://127.0.0.1:7480", NULL},
	{"sse = aws:kms\n", 1, 0, "sse", "aws:kms", NULL},
	{"datasets = analytics_daily , analytics_daily\n", 1, 0, "datasets",
	 "analytics_daily,analytics_daily", NULL},
	{"prefix = exports/2025 q1/\n", 1, 0, "prefix", "exports/2025 q1/", NULL},
	{"secret_access_key = a/b+c=\n", 1, 0, "secret_access_key", "a/b+c=", NULL},
	{"team_id = abc", 0, 0, NULL, NULL, NULL}, /* incomplete: not parsed yet */
	{"team_id = abc", 1, 0, "team_id", "abc", NULL},
	{"colour = red\n", 1, -EINVAL, NULL, NULL, "unknown key 'colour'"},
	{"team_id\n", 1, -EINVAL, NULL, NULL, "expected 'key = value'"},
	{"bucket = ab\n", 1, -EINVAL, NULL, NULL, "invalid bucket"},
	{"bucket = Upper\n", 1, -EINVAL, NULL, NULL, "invalid bucket"},
	{"bucket = -abc\n", 1, -EINVAL, NULL, NULL, "invalid bucket"},
	{"region = EU West\n", 1, -EINVAL, NULL, NULL, "invalid region"},
	{"endpoint = ftp://x\n", 1, -EINVAL, NULL, NULL, "invalid endpoint"},
	{"endpoint = http://\n", 1, -EINVAL, NULL, NULL, "invalid endpoint"},
	{"schedule = weekly\n", 1, -EINVAL, NULL, NULL, "daily, hourly"},
	{"sse = aes\n", 1, -EINVAL, NULL, NULL, "invalid sse"},
	{"datasets = pageviews\n", 1, -EINVAL, NULL, NULL, "unknown dataset 'pageviews'"},
	{"format = xml\n", 1, -EINVAL, NULL, NULL, "invalid format"},
	{"compression = zstd\n", 1, -EINVAL, NULL, NULL, "invalid compression"},
	{"prefix = /abs/\n", 1, -EINVAL, NULL, NULL, "must not start with '/'"},
	{"team_id = .hidden\n", 1, -EINVAL, NULL, NULL, "invalid team_id"},
	{"team_id = a/b\n", 1, -EINVAL, NULL, NULL, "invalid team_id"},
	{"access_key_id = has space\n", 1, -EINVAL, NULL, NULL, "invalid access_key_id"},
	{"secret_access_key = has space\n", 1, -EINVAL, NULL, NULL, "line 1:"},
	{"schedule = daily\nbad line\n", 1, -EINVAL, NULL, NULL, "line 2:"},
	{"team_id = \xff\xfe\n", 1, -EINVAL, NULL, NULL, "UTF-8"},
};

static void test_parse(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		struct config_input in = {NULL, 0};
		struct buf why = BUF_INIT;
		int ret = config_parse(c->input, strlen(c->input), c->final, &in, &why);

		if (ret != c->ret)
			fprintf(stderr, "case %zu '%s': %s\n", i, c->input, buf_str(&why));
		CHECK_INT(ret, c->ret);
		if (ret == 0 && c->key) {
			CHECK(in.n >= 1);
			if (in.n >= 1) {
				CHECK_STR(in.entries[0].key->name, c->key);
				if (c->value)
					CHECK_STR(in.entries[0].value, c->value);
				else
					CHECK(in.entries[0].value == NULL);
			}
		} else if (ret == 0) {
			CHECK_INT(in.n, 0);
		}
		if (c->why)
			CHECK(strstr(buf_str(&why), c->why) != NULL);
		/* A secret never appears in a message. */
		CHECK(strstr(buf_str(&why), "has space") == NULL ||
		      strstr(c->input, "secret") == NULL);
		config_input_release(&in);
		buf_release(&why);
	}
}

static void test_nul_and_last_wins(void)
{
	struct config_input in = {NULL, 0};
	struct buf why = BUF_INIT;

	CHECK_INT(config_parse("team_id = a\0b\n", 14, 1, &in, &why), -EINVAL);
	CHECK(strstr(buf_str(&why), "NUL") != NULL);
	config_input_release(&in);

	const char *two = "schedule = daily\nschedule = hourly\n";
	CHECK_INT(config_parse(two, strlen(two), 1, &in, &why), 0);
	CHECK_INT(in.n, 1);
	CHECK_STR(in.entries[0].value, "hourly");
	config_input_release(&in);

	const char *keep = "secret_access_key = (set)\n";
	CHECK_INT(config_parse(keep, strlen(keep), 1, &in, &why), 0);
	CHECK_INT(in.n, 1);
	CHECK(in.entries[0].keep == 1 && in.entries[0].value == NULL);
	config_input_release(&in);
	buf_release(&why);
}

static void test_names(void)
{
	static const struct {
		const char *s;
		int ok;
	} names[] = {
		{"acme", 1}, {"a", 1}, {"acme-s3.prod_1", 1}, {"9lives", 1},
		{"", 0}, {"Acme", 0}, {".acme", 0}, {"-acme", 0}, {"a b", 0},
		{"a/b", 0}, {"0123456789012345678901234567890123456789012345678901234567890123", 0},
		{"012345678901234567890123456789012345678901234567890123456789012", 1},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CHECK_INT(config_valid_dest_name(names[i].s), names[i].ok);

	static const struct {
		const char *s;
		int ok;
	} dates[] = {
		{"2025-01-14", 1}, {"2024-02-29", 1}, {"2025-02-29", 0}, {"2025-13-01", 0},
		{"2025-1-14", 0}, {"2025-01-14x", 0}, {"0000-01-01", 0}, {"2025-04-31", 0},
		{"2000-02-29", 1}, {"1900-02-29", 0},
	};
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++)
		CHECK_INT(clock_valid_date(dates[i].s), dates[i].ok);

	CHECK(config_valid_team_id("7f1c9d2e-0b7a", 13));
	CHECK(config_valid_team_id("\xc3\xa9quipe", 7));
	CHECK(!config_valid_team_id(".x", 2));
	CHECK(!config_valid_team_id("a\nb", 3));
	/* UTF-8 as RFC 3629 has it (fuzz_config found the laxer check) */
	CHECK(config_valid_team_id("\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 8));
	CHECK(!config_valid_team_id("a\xe0\x80\xaf" "b", 5)); /* overlong '/' */
	CHECK(!config_valid_team_id("\xed\xa0\x80", 3));    /* a surrogate */
	CHECK(!config_valid_team_id("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
	CHECK(!config_valid_team_id("\xe2\x82", 2));         /* cut short */
}

int main(void)
{
	test_parse();
	test_nul_and_last_wins();
	test_names();
	return check_done();
}
