/*
 * fuzz: what the fuzz targets share.  Each fuzz_*.c defines
 * LLVMFuzzerTestOneInput(); it is linked either with libFuzzer (the fuzz
 * build, clang only) or with replay.c (every build: the seed corpus as a
 * unit test).
 *
 * A target checks invariants of the parser it drives and aborts on the
 * first one broken, so libFuzzer records the input as a crash.
 */
#ifndef WAREHOUSEFS_FUZZ_H
#define WAREHOUSEFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                          \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, \
				__LINE__, #cond);                                 \
			abort();                                                  \
		}                                                                 \
	} while (0)

/*
 * Whether s[0..len) is UTF-8 as RFC 3629 defines it: each character
 * decoded, then refused when longer than needed, a surrogate, or past
 * U+10FFFF.  (Written apart from exporter/'s checks, to test them.)
 */
static inline int fuzz_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < len;) {
		unsigned long cp, min;
		size_t n;

		if (s[i] < 0x80) {
			i++;
			continue;
		} else if ((s[i] & 0xe0) == 0xc0) {
			n = 2, min = 0x80, cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 3, min = 0x800, cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 4, min = 0x10000, cp = s[i] & 0x07;
		} else {
			return 0;
		}
		if (len - i < n)
			return 0;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += n;
	}
	return 1;
}

#endif
