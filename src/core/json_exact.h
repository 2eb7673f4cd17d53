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

struct buf;

/* Appends s as a JSON string (quotes included), written as cJSON_PrintUnformatted writes it;
 * NULL as "". */
void json_exact_put_string(struct buf *b, const char *s);

/* The first byte in [p, end) that a JSON string cannot hold as it is (a control byte, '"' or
 * '\\'), or end. Sixteen bytes at a time with the compiler's generic vectors (SSE2 on x86_64,
 * NEON on aarch64: both baseline): each compare gives 0xff in the bytes it flags, and the
 * lowest flagged byte of the two halves is the first. Then eight at a time by the has-less and
 * has-zero tricks (wrong flags lie only above a true one, so the lowest is the first), then a
 * byte at a time. Inline: the scanners of the router's hot path (the request's annotation and
 * print, the answer's scan) call it once per string and name; most end inside the first
 * sixteen bytes, where the word loop took two or three rounds. */
static inline const char *json_plain_end(const char *p, const char *end)
{
	static const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t w, q, bs, m;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#if defined(__GNUC__) && (defined(__SSE2__) || defined(__ARM_NEON))
	typedef unsigned char v16 __attribute__((vector_size(16)));
	v16 v, f;
	uint64_t half[2];

	while (end - p >= 16) {
		memcpy(&v, p, 16);
		f = (v16)(v == '"') | (v16)(v == '\\') | (v16)(v < 0x20);
		memcpy(half, &f, 16);
		if (half[0])
			return p + (__builtin_ctzll(half[0]) >> 3);
		if (half[1])
			return p + 8 + (__builtin_ctzll(half[1]) >> 3);
		p += 16;
	}
#endif
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
