/* json_exact: JSON that passes through hermetic keeps its numbers exactly as written.
 *
 * cJSON stores every number as a double, so 1234567890123456789 comes back as
 * 1.2345678901234568e+18 and 9007199254740991 as 9.00719925474099e+15. Text that is only
 * relayed (tool-call arguments, MCP input schemas, structuredContent, a request body the router
 * forwards) is parsed with json_exact_parse, which keeps each number's source text in the
 * item's otherwise unused valuestring, and printed with json_exact_print, which writes that
 * text back. Everything else about the tree is ordinary cJSON; code may read valuedouble as
 * before. A number changed with cJSON_SetNumberValue no longer matches its text, and is then
 * printed from the double.
 */
#ifndef HERMETIC_JSON_EXACT_H
#define HERMETIC_JSON_EXACT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* json_parse(text, len, JSON_EXACT, NULL) (core/json.h; defined in json.c): NULL when the text is
 * not JSON or repeats a member name in an object; free with cJSON_Delete. Callers that answer a
 * peer with the reason call json_parse with JSON_EXACT themselves. */
cJSON *json_exact_parse(const char *text, size_t len);
/* For json_parse alone: copies each number's source text into its item of `root`, the tree
 * cJSON parsed from `text`. */
void json_exact_annotate(const char *text, size_t len, cJSON *root);
/* As cJSON_PrintUnformatted (the same bytes), numbers as they were written (malloc'd; NULL
 * where cJSON's prints nothing: an invalid item, a raw item without text). The tree is only
 * read. */
char *json_exact_print(const cJSON *item);

/* The first byte in [p, end) that a JSON string cannot hold as it is (a control byte, '"' or
 * '\\'), or end. Eight bytes at a time: in each word the has-less and has-zero tricks flag
 * every such byte and, wrong flags lying only above a true one, the lowest flag is the first.
 * Inline: the scanners of the router's hot path (the request's annotation and print, the
 * answer's scan) call it once per string. */
static inline const char *json_plain_end(const char *p, const char *end)
{
	static const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t w, q, bs, m;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (end - p >= 8) {
		memcpy(&w, p, 8);
		q = w ^ (ones * '"');
		bs = w ^ (ones * '\\');
		m = ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs);
		m &= highs;
		if (m)
			return p + (__builtin_ctzll(m) >> 3);
		p += 8;
	}
#endif
	(void)w, (void)q, (void)bs, (void)m;
	while (p < end && (unsigned char)*p >= 0x20 && *p != '"' && *p != '\\')
		p++;
	return p;
}

/* Four hex digits at p (either case) as a number, for a \uXXXX escape; -1 if one is not hex.
 * Shared by the one-pass readers (json_fast.c, router/answer_scan.c). */
static inline int json_hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0, c;
	int i;

	for (i = 0; i < 4; i++) {
		c = p[i];
		if (c >= '0' && c <= '9')
			c -= '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			c = (c | 0x20) - 'a' + 10;
		else
			return -1;
		v = v << 4 | c;
	}
	*out = v;
	return 0;
}

#endif
