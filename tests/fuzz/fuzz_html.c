/* Fuzz target of the HTML reducer: any bytes must give valid UTF-8 without control characters
 * (but newlines), without leading or trailing line breaks or more than one blank line in a row,
 * and never crash, leak or read out of bounds. The first byte picks a small output cap, so the
 * -E2BIG cut (at a character boundary) is reached often. Also runs html_text_plain and
 * html_text_sniff over the same bytes.
 * Build (see tests/fuzz/corpus/html/ for seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_html.c src/net/html_text.c src/core/util.c src/core/log.c -lmbedcrypto
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/html_text.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Valid UTF-8, and no control characters but those in allowed. */
static void check_utf8(const unsigned char *p, size_t len, const char *allowed)
{
	size_t i = 0, n, k;

	while (i < len) {
		if (p[i] < 0x80) {
			if ((p[i] < 0x20 || p[i] == 0x7f) && !strchr(allowed, p[i]))
				abort();
			i++;
			continue;
		}
		n = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : p[i] >= 0xc2 ? 2 : 0;
		if (n == 0 || p[i] > 0xf4 || i + n > len)
			abort();
		for (k = 1; k < n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				abort();
		i += n;
	}
}

/* Spaces may lead or trail (a <pre> keeps them), line breaks may not. */
static void check_text(const struct buf *b)
{
	const char *s = buf_str(b);

	check_utf8((const unsigned char *)s, b->len, "\n");
	if (b->len > 0 && (s[0] == '\n' || s[b->len - 1] == '\n'))
		abort();
	if (strstr(s, "\n\n\n"))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out;
	size_t cap;
	int rc;

	if (size < 1)
		return 0;
	cap = data[0] < 128 ? (size_t)data[0] + 1 : 1 << 20;
	buf_init(&out, cap);
	rc = html_text_reduce((const char *)data + 1, size - 1, &out);
	if ((rc != 0 && rc != -E2BIG) || out.len > cap)
		abort();
	/* A cut text may end inside a run of spaces or breaks; a whole one may not. */
	if (rc == 0)
		check_text(&out);
	else
		check_utf8((const unsigned char *)buf_str(&out), out.len, "\n");
	buf_finish(&out);

	buf_init(&out, cap);
	rc = html_text_plain((const char *)data + 1, size - 1, &out);
	if ((rc != 0 && rc != -E2BIG) || out.len > cap)
		abort();
	check_utf8((const unsigned char *)buf_str(&out), out.len, "\n\t");
	buf_finish(&out);
	(void)html_text_sniff((const char *)data + 1, size - 1);
	return 0;
}
