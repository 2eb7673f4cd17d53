/* Fuzz target of the Telegram formatter: any bytes rendered by tg_format_html must give only
 * Telegram's tags, balanced and nested, and tg_split at a small limit (picked by the first
 * byte, 2..129 units) must give parts that are each balanced, within the limit, count the
 * units they claim, and together keep every non-blank character. tg_split_plain runs over the
 * raw bytes with the same checks on length and content.
 * Build (see tests/fuzz/corpus/tg_format/ for seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_tg_format.c src/telegram/tg_format.c src/net/html_text.c \
 *     src/core/util.c src/core/log.c -lmd4c -lmbedcrypto
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "telegram/tg_format.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const allowed[] = {"b", "i", "s", "u", "code", "pre", "a", "blockquote"};

static bool allowed_tag(const char *name, size_t n)
{
	for (size_t i = 0; i < ARRAY_LEN(allowed); i++)
		if (strlen(allowed[i]) == n && memcmp(allowed[i], name, n) == 0)
			return true;
	return false;
}

static size_t solid_bytes(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n';
	return n;
}

/* Checks s is balanced HTML of allowed tags with only the four entities; counts the UTF-16
 * units and the non-blank bytes of its text. */
static void check_html(const char *s, size_t len, size_t *units, size_t *solid)
{
	const char *stack[64];
	size_t lens[64], depth = 0, i = 0;

	*units = 0;
	*solid = 0;
	while (i < len) {
		if (s[i] == '<') {
			bool close = s[i + 1] == '/';
			size_t n = i + 1 + close, start = n;
			const char *gt = memchr(s + i, '>', len - i);

			if (!gt)
				abort();
			while (s[n] != '>' && s[n] != ' ')
				n++;
			if (!allowed_tag(s + start, n - start))
				abort();
			if (close) {
				if (depth == 0 || lens[depth - 1] != n - start ||
				    memcmp(stack[depth - 1], s + start, n - start) != 0)
					abort();
				depth--;
			} else if (depth < ARRAY_LEN(stack)) {
				stack[depth] = s + start;
				lens[depth++] = n - start;
			} else {
				abort();
			}
			i = (size_t)(gt - s) + 1;
		} else if (s[i] == '&') {
			static const char *const ents[] = {"&lt;", "&gt;", "&amp;", "&quot;"};
			size_t k;

			for (k = 0; k < ARRAY_LEN(ents); k++)
				if (len - i >= strlen(ents[k]) &&
				    memcmp(s + i, ents[k], strlen(ents[k])) == 0)
					break;
			if (k == ARRAY_LEN(ents))
				abort();
			(*units)++;
			(*solid)++;
			i += strlen(ents[k]);
		} else {
			size_t end = i;

			while (end < len && s[end] != '<' && s[end] != '&')
				end++;
			*units += tg_utf16_len(s + i, end - i);
			*solid += solid_bytes(s + i, end - i);
			i = end;
		}
	}
	if (depth != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf html;
	struct tg_part *parts;
	size_t limit, n, units, solid, total_solid, html_units;

	if (size < 1)
		return 0;
	limit = 2 + data[0] % 128;
	data++;
	size--;
	buf_init(&html, 1 << 20);
	if (tg_format_html((const char *)data, size, &html) == 0) {
		check_html(html.data ? html.data : "", html.len, &html_units, &total_solid);
		n = tg_split(buf_str(&html), html.len, limit, &parts);
		for (size_t i = 0; i < n; i++) {
			if (parts[i].units > limit || strlen(parts[i].text) != parts[i].len)
				abort();
			check_html(parts[i].text, parts[i].len, &units, &solid);
			if (units != parts[i].units)
				abort();
			total_solid -= solid;
		}
		if (total_solid != 0)
			abort();
		tg_parts_free(parts, n);
	}
	buf_finish(&html);

	total_solid = solid_bytes((const char *)data, size);
	n = tg_split_plain((const char *)data, size, limit, &parts);
	for (size_t i = 0; i < n; i++) {
		if (parts[i].units > limit ||
		    tg_utf16_len(parts[i].text, parts[i].len) != parts[i].units)
			abort();
		total_solid -= solid_bytes(parts[i].text, parts[i].len);
	}
	if (total_solid != 0)
		abort();
	tg_parts_free(parts, n);
	return 0;
}
