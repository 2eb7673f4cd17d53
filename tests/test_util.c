/* util: the capped buffer refuses growth past its cap without losing what it holds; text cut
 * for people is valid UTF-8 within its cap at every length, whatever the input; strict
 * number parsing; constant-time equality; SHA-256 known answer; edit distance; RFC 3339 stamps;
 * integers as text. */
#include "test.h"
#include "core/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void buf_append_past_cap_fails_and_keeps_contents(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_puts(&b, "12345"), 0);
	assert_int_equal(buf_puts(&b, "6789"), -E2BIG);
	assert_string_equal(buf_str(&b), "12345");
	assert_int_equal(buf_puts(&b, "678"), 0);
	assert_int_equal(b.len, 8);
	assert_int_equal(buf_append(&b, "x", 1), -E2BIG);
	buf_finish(&b);
}

/* buf_reserve makes room once: appends within it keep the same block, an empty reserved
 * buffer still reads as "", and a reserve never goes past the cap. */
static void buf_reserve_makes_room_once_within_the_cap(void **state)
{
	struct buf b, c;
	const char *before;

	buf_init(&b, 0);
	buf_reserve(&b, 300);
	assert_string_equal(buf_str(&b), "");
	assert_true(b.alloc >= 301);
	before = b.data;
	for (int i = 0; i < 30; i++)
		assert_int_equal(buf_puts(&b, "0123456789"), 0);
	assert_ptr_equal(b.data, before);
	assert_int_equal(b.len, 300);
	buf_finish(&b);
	buf_init(&c, 16);
	buf_reserve(&c, 1000);
	assert_int_equal(c.alloc, 17);
	assert_int_equal(buf_puts(&c, "0123456789abcdef"), 0);
	assert_int_equal(buf_puts(&c, "x"), -E2BIG);
	buf_finish(&c);
}

static void buf_consume_and_steal(void **state)
{
	struct buf b;
	char *s;

	buf_init(&b, 0);
	buf_printf(&b, "%s-%d", "abc", 42);
	buf_consume(&b, 2);
	assert_string_equal(buf_str(&b), "c-42");
	s = buf_steal(&b);
	assert_string_equal(s, "c-42");
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_str(&b), "");
	free(s);
	buf_finish(&b);
}

static void parse_i64_rejects_trailing_garbage_and_range(void **state)
{
	int64_t v;

	assert_int_equal(parse_i64("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_i64("42x", 0, 100, &v), -EINVAL);
	assert_int_equal(parse_i64("", 0, 100, &v), -EINVAL);
	assert_int_equal(parse_i64(" 42", 0, 100, &v), -EINVAL);
	assert_int_equal(parse_i64("+42", 0, 100, &v), -EINVAL);
	assert_int_equal(parse_i64("-5", -10, 100, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(parse_i64("101", 0, 100, &v), -ERANGE);
	assert_int_equal(parse_i64("99999999999999999999", 0, 100, &v), -ERANGE);
}

static void parse_double_rejects_non_finite(void **state)
{
	double d;

	assert_int_equal(parse_double("0.05", &d), 0);
	assert_true(d > 0.0499 && d < 0.0501);
	assert_int_equal(parse_double("inf", &d), -EINVAL);
	assert_int_equal(parse_double("0x10", &d), -EINVAL);
	assert_int_equal(parse_double(" 1", &d), -EINVAL);
	assert_int_equal(parse_double("1e999", &d), -ERANGE);
	assert_int_equal(parse_double("1.0abc", &d), -EINVAL);
}

static void secret_equal_compares_whole_strings(void **state)
{
	assert_true(secret_equal("sk-abc", "sk-abc"));
	assert_false(secret_equal("sk-abc", "sk-abd"));
	assert_false(secret_equal("sk-abc", "sk-ab"));
	assert_false(secret_equal("", "x"));
	assert_true(secret_equal("", ""));
}

static void sha256_hex_matches_known_answer(void **state)
{
	char hex[65];

	sha256_hex("abc", 3, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void edit_distance_caps(void **state)
{
	assert_int_equal(edit_distance("model", "modle", 2), 2);
	assert_int_equal(edit_distance("model_list", "model_lst", 2), 1);
	assert_int_equal(edit_distance("telegram", "cron", 2), 3);
}

/* JSON strings for request bodies: escapes, and invalid UTF-8 (binary tool output) becomes
 * U+FFFD so the body is always valid JSON. */
static void json_str_escapes_and_repairs_utf8(void **state)
{
	struct buf b;

	buf_init(&b, 0);
	buf_json_str(&b, "a\"b\\c\n\x01\xc3\xa9\xff\xe2\x82", 12);
	assert_string_equal(buf_str(&b), "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\\ufffd\\ufffd\\ufffd\"");
	buf_reset(&b);
	buf_json_str(&b, "\xed\xa0\x80", 3); /* a UTF-16 surrogate is not UTF-8 */
	assert_string_equal(buf_str(&b), "\"\\ufffd\\ufffd\\ufffd\"");
	buf_finish(&b);
}

static void hex_digit_takes_both_cases_and_nothing_else(void **state)
{
	assert_int_equal(hex_digit('0'), 0);
	assert_int_equal(hex_digit('9'), 9);
	assert_int_equal(hex_digit('a'), 10);
	assert_int_equal(hex_digit('F'), 15);
	assert_int_equal(hex_digit('g'), -1);
	assert_int_equal(hex_digit('G'), -1);
	assert_int_equal(hex_digit('\0'), -1);
	assert_int_equal(hex_digit((char)0xc1), -1); /* tolower of a high byte is not a digit */
}

static void utf8_cut_never_splits_a_character(void **state)
{
	const char *s = "ab\xc3\xa9\xe2\x82\xac"; /* "abé€" */

	assert_int_equal(utf8_cut(s, 2), 2);
	assert_int_equal(utf8_cut(s, 3), 2);
	assert_int_equal(utf8_cut(s, 4), 4);
	assert_int_equal(utf8_cut(s, 5), 4);
	assert_int_equal(utf8_cut(s, 6), 4);
	assert_int_equal(utf8_cut(s, 7), 7);
	assert_int_equal(utf8_cut(s, 0), 0);
}

/* Every byte of s[0..len) belongs to a valid sequence, and none is NUL. */
static bool valid_utf8(const char *s, size_t len)
{
	for (size_t i = 0, n; i < len; i += n) {
		n = s[i] ? utf8_seq(s + i, len - i) : 0;
		if (n == 0)
			return false;
	}
	return true;
}

/* The input bytes of the unit at s[i] (a character, or one byte that starts none) and the
 * bytes it becomes (*out). */
static size_t unit_at(const char *s, size_t i, size_t len, size_t *out)
{
	size_t n = s[i] ? utf8_seq(s + i, len - i) : 0;

	*out = n ? n : 3;
	return n ? n : 1;
}

static bool at_unit_start(const char *s, size_t len, size_t at)
{
	size_t i = 0, out;

	while (i < at)
		i += unit_at(s, i, len, &out);
	return i == at;
}

/* One input at every max and both ways: the output is valid UTF-8 within max; when all fit it
 * is the whole repaired text, else the longest repaired prefix that fits beside the ellipsis,
 * cut where a character starts. */
static void clip_at_every_length(const char *s, size_t len)
{
	struct buf whole, b;
	size_t full, taken;

	buf_init(&whole, 0);
	buf_init(&b, 0);
	assert_int_equal(utf8_clip(&whole, s, len, SIZE_MAX, false), len);
	assert_true(valid_utf8(whole.data, whole.len));
	full = whole.len;
	for (size_t max = 0; max <= full + 4; max++) {
		for (int dots = 0; dots < 2; dots++) {
			bool with = dots && max >= 3;
			size_t body, next;

			buf_reset(&b);
			taken = utf8_clip(&b, s, len, max, dots);
			assert_true(b.len <= max);
			assert_true(valid_utf8(b.data, b.len));
			assert_true(taken <= len);
			assert_true(at_unit_start(s, len, taken));
			if (taken == len) {
				assert_int_equal(b.len, full);
				assert_memory_equal(b.data, whole.data, full);
				continue;
			}
			assert_true(full > max);
			body = with ? b.len - 3 : b.len;
			if (with)
				assert_memory_equal(b.data + body, "\xE2\x80\xA6", 3);
			assert_memory_equal(b.data, whole.data, body);
			/* The longest: the next character would not have fit. */
			unit_at(s, taken, len, &next);
			assert_true(body + next > (with ? max - 3 : max));
		}
	}
	buf_finish(&whole);
	buf_finish(&b);
}

static void utf8_clip_is_valid_and_within_max_at_every_length(void **state)
{
#define IN(lit)                                                                                    \
	{                                                                                          \
		lit, sizeof(lit) - 1                                                               \
	}
	static const struct {
		const char *s;
		size_t len;
	} in[] = {
		IN("plain ascii text"),
		IN("caf\xC3\xA9 \xE2\x82\xAC 5 \xF0\x9F\x94\xA5\xF0\x9F\x94\xA5"), /* é € 🔥🔥 */
		IN("\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"),
		IN("bad \x80 cont \xC0\xAF overlong \xED\xA0\x80 surrogate \xF5\xFF"),
		IN("cut at the end \xF0\x9F\x94"),
		IN("nul \0 inside"),
		IN("\xE2\x82"),
		IN(""),
	};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		clip_at_every_length(in[i].s, in[i].len);
#undef IN
}

static void utf8_clip_survives_random_bytes(void **state)
{
	static const unsigned char pick[] = {'a',  ' ',	 0x00, 0x80, 0xBF, 0xC2, 0xC3,
					     0xA9, 0xE2, 0x82, 0xAC, 0xED, 0xA0, 0xF0,
					     0x9F, 0x98, 0xF4, 0x8F, 0xF5, 0xFF, 0xC0};
	char s[24];

	srand(38);
	for (int round = 0; round < 400; round++) {
		size_t len = (size_t)rand() % sizeof(s);

		for (size_t i = 0; i < len; i++)
			s[i] = (char)pick[rand() % (int)sizeof(pick)];
		clip_at_every_length(s, len);
	}
}

static void utf8_clip_dup_cuts_with_an_ellipsis(void **state)
{
	char *s = utf8_clip_dup("d\xC3\xA9j\xC3\xA0 vu", 6, true);

	assert_string_equal(s, "d\xC3\xA9\xE2\x80\xA6"); /* "dé…": à would not fit beside it */
	free(s);
	s = utf8_clip_dup(NULL, 10, true);
	assert_string_equal(s, "");
	free(s);
	s = utf8_clip_dup("short", 10, true);
	assert_string_equal(s, "short");
	free(s);
}

/* Numbers from the network become integers without undefined behaviour: out of range
 * saturates, NaN takes the low bound. */
static void base64_matches_rfc4648_vectors_and_joins_pieces(void **state)
{
	static const char *const vec[][2] = {{"", ""},
					     {"f", "Zg=="},
					     {"fo", "Zm8="},
					     {"foo", "Zm9v"},
					     {"foob", "Zm9vYg=="},
					     {"fooba", "Zm9vYmE="},
					     {"foobar", "Zm9vYmFy"}};
	struct buf b;
	unsigned char big[3000];

	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		buf_reset(&b);
		assert_int_equal(buf_base64(&b, vec[i][0], strlen(vec[i][0])), 0);
		assert_string_equal(buf_str(&b), vec[i][1]);
	}
	/* Pieces of 3n bytes join into the encoding of the whole (over the 1 KiB block). */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	buf_reset(&b);
	buf_base64(&b, big, 1500);
	buf_base64(&b, big + 1500, 1499);
	{
		struct buf whole;

		buf_init(&whole, 0);
		buf_base64(&whole, big, 2999);
		assert_int_equal(b.len, 4000);
		assert_memory_equal(b.data, whole.data, whole.len);
		buf_finish(&whole);
	}
	buf_finish(&b);
}

static void clamp_i64_saturates_and_keeps_whole_numbers(void **state)
{
	(void)state;
	assert_int_equal(clamp_i64(429.0, 0, 999), 429);
	assert_int_equal(clamp_i64(429.9, 0, 999), 429);
	assert_int_equal(clamp_i64(8.88889e+37, 0, 999), 999);
	assert_int_equal(clamp_i64(-1e300, -5, 5), -5);
	assert_int_equal(clamp_i64(0.0 / 0.0, 7, 9), 7);
	assert_true(clamp_i64(1e300, INT64_MIN, INT64_MAX) == INT64_MAX);
	assert_true(clamp_i64(-1e300, INT64_MIN, INT64_MAX) == INT64_MIN);
	assert_true(clamp_i64(-9007199254740993.0, INT64_MIN, INT64_MAX) == -9007199254740992);
}

/* "%.<d>f" with its trailing zeros and point cut, as fmt_fixed promises. */
static void printf_trimmed(char *out, size_t cap, double v, int d)
{
	size_t n;

	snprintf(out, cap, "%.*f", d, v);
	n = strlen(out);
	if (strchr(out, '.')) {
		while (out[n - 1] == '0')
			out[--n] = '\0';
		if (out[n - 1] == '.')
			out[--n] = '\0';
	}
	if (strcmp(out, "-0") == 0)
		snprintf(out, cap, "0");
}

/* Fixed-point text without printf: the same digits as printf's %.Nf, trimmed, across
 * magnitudes, carries into the whole part, tiny negatives (no "-0"), every precision; 0 for
 * what it does not take (1e9 and over, NaN, infinities), so the caller falls back. */
static void fmt_fixed_matches_printf_trimmed(void **state)
{
	static const double vs[] = {0,
				    1,
				    0.5,
				    0.0123,
				    2.1e-05,
				    3e-07,
				    0.00084,
				    0.9999999999999,
				    123.456789012345,
				    999999999.5,
				    1e-13,
				    7.25,
				    0.1 + 0.2,
				    1.000000000001,
				    42};
	char got[FMT_FIXED_TEXT_MAX + 1], want[64];
	size_t n;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(vs); i++)
		for (int d = 0; d <= 12; d++)
			for (int sign = 1; sign >= -1; sign -= 2) {
				double v = vs[i] * sign;

				n = fmt_fixed(got, v, d);
				assert_true(n > 0 && n <= FMT_FIXED_TEXT_MAX);
				got[n] = '\0';
				printf_trimmed(want, sizeof(want), v, d);
				if (strcmp(got, want) != 0)
					fail_msg("fmt_fixed(%.17g, %d) = %s, printf says %s", v, d,
						 got, want);
			}
	assert_int_equal(fmt_fixed(got, 1e9, 9), 0);
	assert_int_equal(fmt_fixed(got, -1e9, 9), 0);
	assert_int_equal(fmt_fixed(got, NAN, 9), 0);
	assert_int_equal(fmt_fixed(got, INFINITY, 9), 0);
	assert_int_equal(fmt_fixed(got, 1, 13), 0);
}

/* Integers as text: zero, the extremes of 64 bits (the most negative has no positive twin),
 * hex in lowercase, and never more than INT_TEXT_MAX bytes or a NUL. */
static void fmt_int_and_uint_cover_zero_extremes_and_hex(void **state)
{
	char out[INT_TEXT_MAX + 1];
	size_t n;

	memset(out, '#', sizeof(out));
	n = fmt_uint(out, 0, 10);
	assert_int_equal(n, 1);
	assert_memory_equal(out, "0#", 2);
	n = fmt_uint(out, 18446744073709551615ULL, 10);
	assert_int_equal(n, 20);
	assert_memory_equal(out, "18446744073709551615", 20);
	n = fmt_uint(out, 18446744073709551615ULL, 16);
	assert_int_equal(n, 16);
	assert_memory_equal(out, "ffffffffffffffff", 16);
	n = fmt_uint(out, 0xabc10, 16);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "abc10", 5);
	memset(out, '#', sizeof(out));
	n = fmt_int(out, -9223372036854775807LL - 1);
	assert_int_equal(n, INT_TEXT_MAX - 1);
	assert_memory_equal(out, "-9223372036854775808##", 22);
	n = fmt_int(out, 9223372036854775807LL);
	assert_int_equal(n, 19);
	assert_memory_equal(out, "9223372036854775807", 19);
	n = fmt_int(out, -7);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "-7", 2);
	n = fmt_int(out, 120);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "120", 3);
}

/* RFC 3339 in UTC: the epoch, seconds cut (not rounded) without milliseconds, three digits
 * of milliseconds with them, leading zeros kept. */
static void rfc3339_utc_formats_seconds_and_milliseconds(void **state)
{
	char out[RFC3339_LEN];

	rfc3339_utc(0, false, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	rfc3339_utc(0, true, out);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
	rfc3339_utc(1700000000999, false, out);
	assert_string_equal(out, "2023-11-14T22:13:20Z");
	rfc3339_utc(1700000000999, true, out);
	assert_string_equal(out, "2023-11-14T22:13:20.999Z");
	rfc3339_utc(1709164805007, true, out);
	assert_string_equal(out, "2024-02-29T00:00:05.007Z");
}

/* The inline comparisons the HTTP heads and the answer scan use agree with libc's on every
 * pair: mem_eq with memcmp at every length up to 40 (a difference at each position, the words'
 * overlapping tails included); ascii_case_eq and ascii_case_eq_n with strcasecmp and
 * strncasecmp in the C locale, on random strings over letters of both cases, the bytes next to
 * them ('@', '[', '`', '{'), digits, '-', high bytes and early ends. */
static void inline_comparisons_agree_with_libc(void **state)
{
	static const char alphabet[] = "aAzZmM@[`{09-\x80\xff";
	char a[48], b[48];
	unsigned seed = 12345;

	for (size_t n = 0; n <= 40; n++) {
		for (size_t i = 0; i < n; i++)
			a[i] = b[i] = (char)('a' + i % 26);
		assert_true(mem_eq(a, b, n));
		for (size_t at = 0; at < n; at++) {
			b[at] ^= 1;
			assert_false(mem_eq(a, b, n));
			assert_int_equal(mem_eq(a, b, n), memcmp(a, b, n) == 0);
			b[at] ^= 1;
		}
	}
	for (int round = 0; round < 200000; round++) {
		size_t la, lb, n;

		seed = seed * 1103515245u + 12345u;
		la = (seed >> 16) % 6;
		seed = seed * 1103515245u + 12345u;
		lb = (seed >> 16) % 6;
		for (size_t i = 0; i < la; i++) {
			seed = seed * 1103515245u + 12345u;
			a[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		for (size_t i = 0; i < lb; i++) {
			seed = seed * 1103515245u + 12345u;
			/* mostly the same letter as a's, in either case, so matches are common */
			b[i] = i < la && (seed >> 20) % 4
				       ? (char)(a[i] ^ ((seed >> 24) & 0x20))
				       : alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		a[la] = b[lb] = '\0';
		n = (seed >> 8) % 7;
		assert_int_equal(ascii_case_eq(a, b), strcasecmp(a, b) == 0);
		assert_int_equal(ascii_case_eq_n(a, b, n), strncasecmp(a, b, n) == 0);
	}
}

/* The coarse monotonic clock is never ahead of the fine one, lags it by at most a tick (10 ms
 * covers HZ 100), and never goes back, over 200,000 reads side by side. */
static void coarse_clock_trails_the_fine_one_within_a_tick(void **state)
{
	int64_t last = 0;

	for (int i = 0; i < 200000; i++) {
		int64_t before = now_mono_ms(), c = now_mono_coarse_ms(), after = now_mono_ms();

		assert_true(c <= after);
		assert_true(c >= before - 10);
		assert_true(c >= last);
		last = c;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_str_escapes_and_repairs_utf8),
		cmocka_unit_test(hex_digit_takes_both_cases_and_nothing_else),
		cmocka_unit_test(utf8_cut_never_splits_a_character),
		cmocka_unit_test(utf8_clip_is_valid_and_within_max_at_every_length),
		cmocka_unit_test(utf8_clip_survives_random_bytes),
		cmocka_unit_test(utf8_clip_dup_cuts_with_an_ellipsis),
		cmocka_unit_test(buf_append_past_cap_fails_and_keeps_contents),
		cmocka_unit_test(buf_reserve_makes_room_once_within_the_cap),
		cmocka_unit_test(buf_consume_and_steal),
		cmocka_unit_test(parse_i64_rejects_trailing_garbage_and_range),
		cmocka_unit_test(parse_double_rejects_non_finite),
		cmocka_unit_test(secret_equal_compares_whole_strings),
		cmocka_unit_test(sha256_hex_matches_known_answer),
		cmocka_unit_test(edit_distance_caps),
		cmocka_unit_test(clamp_i64_saturates_and_keeps_whole_numbers),
		cmocka_unit_test(base64_matches_rfc4648_vectors_and_joins_pieces),
		cmocka_unit_test(rfc3339_utc_formats_seconds_and_milliseconds),
		cmocka_unit_test(fmt_int_and_uint_cover_zero_extremes_and_hex),
		cmocka_unit_test(fmt_fixed_matches_printf_trimmed),
		cmocka_unit_test(inline_comparisons_agree_with_libc),
		cmocka_unit_test(coarse_clock_trails_the_fine_one_within_a_tick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
