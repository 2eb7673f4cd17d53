/* redact: each detector over texts it must and must not take (checksums included), stable
 * placeholders within a map, the lane's regexes, restoration, and the map read back.
 */
#include "test.h"
#include "core/config.h"
#include "core/redact.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ALL                                                                                        \
	(CONFIG_REDACT_EMAIL | CONFIG_REDACT_PHONE | CONFIG_REDACT_IBAN | CONFIG_REDACT_CARD |     \
	 CONFIG_REDACT_IP)

struct redact_case {
	unsigned detectors;
	const char *in, *want;
};

static const struct redact_case cases[] = {
	/* e-mail */
	{ALL, "write to ada.l+x@example.co.uk today", "write to [EMAIL_1] today"},
	{ALL, "mail: bob@mail.example.org.", "mail: [EMAIL_1]."},
	{ALL, "not an address: a@b, @handle, x@localhost",
	 "not an address: a@b, @handle, x@localhost"},
	{CONFIG_REDACT_PHONE, "ada@example.com", "ada@example.com"},
	/* payment cards: Luhn */
	{ALL, "card 4111 1111 1111 1111 exp", "card [CARD_1] exp"},
	{ALL, "card 4111-1111-1111-1111.", "card [CARD_1]."},
	{ALL, "order 4111111111111112 is not a card", "order 4111111111111112 is not a card"},
	{ALL, "id 41111111111111110", "id 41111111111111110"},
	/* IBAN: mod 97 */
	{ALL, "IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN_1] please"},
	{ALL, "GB82WEST12345698765432", "[IBAN_1]"},
	{ALL, "DE88 3704 0044 0532 0130 00 is wrong", "DE88 3704 0044 0532 0130 00 is wrong"},
	{ALL, "DE89370400440532013000 OK", "[IBAN_1] OK"},
	/* IP addresses */
	{ALL, "host 192.168.1.20 and 10.0.0.1", "host [IP_1] and [IP_2]"},
	{ALL, "version 1.2.3.4.5 and 256.1.1.1 and 01.2.3.4",
	 "version 1.2.3.4.5 and 256.1.1.1 and 01.2.3.4"},
	{ALL, "v6 2001:db8::8a2e:370:7334 here", "v6 [IP_1] here"},
	{ALL, "at 12:30:45 and std::vector and fe80::1", "at 12:30:45 and std::vector and fe80::1"},
	/* phones */
	{ALL, "call +49 30 1234 5678 now", "call [PHONE_1] now"},
	{ALL, "call (030) 1234-5678", "call [PHONE_1]"},
	{ALL, "call 030 12345678", "call [PHONE_1]"},
	{ALL, "room 1234, 3.14, +1 2, 2024-11-25", "room 1234, 3.14, +1 2, 2024-11-25"},
	/* nothing asked, nothing taken */
	{0, "ada@example.com 4111 1111 1111 1111", "ada@example.com 4111 1111 1111 1111"},
	/* the same value twice: one placeholder */
	{ALL, "a@ex.com b@ex.com a@ex.com", "[EMAIL_1] [EMAIL_2] [EMAIL_1]"},
	/* names and free text: not found (said so in the docs) */
	{ALL, "Ada Lovelace, born 10 December 1815 in London",
	 "Ada Lovelace, born 10 December 1815 in London"},
};

static void test_detectors_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct redact_map *m = redact_map_create();
		size_t n;
		char *out = redact_text(m, cases[i].detectors, NULL, 0, cases[i].in,
					strlen(cases[i].in), &n, NULL);
		char *back = redact_restore(m, out, n, NULL);

		if (strcmp(out, cases[i].want) != 0)
			fail_msg("\"%s\" -> \"%s\", want \"%s\"", cases[i].in, out, cases[i].want);
		if (strcmp(back, cases[i].in) != 0)
			fail_msg("\"%s\" restored as \"%s\"", cases[i].in, back);
		free(out);
		free(back);
		redact_map_destroy(m);
	}
}

static void test_checksums(void **state)
{
	(void)state;
	assert_true(redact_luhn_ok("79927398713", 11));
	assert_false(redact_luhn_ok("79927398710", 11));
	assert_true(redact_iban_ok("GB82WEST12345698765432", 22));
	assert_false(redact_iban_ok("GB82WEST12345698765433", 22));
	assert_false(redact_iban_ok("GB82", 4));
}

static void test_placeholders_are_stable_across_calls_and_restore(void **state)
{
	struct redact_map *m = redact_map_create();
	const char *first = "ada@example.com", *second = "cc ada@example.com and +44 20 7946 0958";
	char *a = redact_text(m, ALL, NULL, 0, first, strlen(first), NULL, NULL);
	bool changed = false;
	char *b = redact_text(m, ALL, NULL, 0, second, strlen(second), NULL, &changed);
	const char *answer = "I wrote to [EMAIL_1]; call [PHONE_1]. [EMAIL_9] and [NOTE] stay.";
	char *restored = redact_restore(m, answer, strlen(answer), NULL);

	(void)state;
	assert_string_equal(a, "[EMAIL_1]");
	assert_string_equal(b, "cc [EMAIL_1] and [PHONE_1]");
	assert_true(changed);
	assert_string_equal(restored,
			    "I wrote to ada@example.com; call +44 20 7946 0958. [EMAIL_9] and "
			    "[NOTE] stay.");
	assert_int_equal(redact_map_count(m), 2);
	free(a);
	free(b);
	free(restored);
	redact_map_destroy(m);
}

static void test_lane_patterns(void **state)
{
	regex_t re[2];
	struct redact_map *m = redact_map_create();
	const char *in = "patient MRN-004211 and MRN-004211, case K-77; a@b.co";
	char *out;

	(void)state;
	assert_int_equal(regcomp(&re[0], "MRN-[0-9]{6}", REG_EXTENDED), 0);
	assert_int_equal(regcomp(&re[1], "K-[0-9]+", REG_EXTENDED), 0);
	out = redact_text(m, CONFIG_REDACT_EMAIL, re, 2, in, strlen(in), NULL, NULL);
	assert_string_equal(out,
			    "patient [PATTERN_1] and [PATTERN_1], case [PATTERN_2]; [EMAIL_1]");
	free(out);
	regfree(&re[0]);
	regfree(&re[1]);
	redact_map_destroy(m);
}

static void test_map_read_back_continues_numbering(void **state)
{
	struct redact_map *m = redact_map_create();
	const char *ph, *v;
	char *out;

	(void)state;
	assert_int_equal(redact_map_add(m, "[EMAIL_3]", "old@example.com"), 0);
	assert_int_equal(redact_map_add(m, "[EMAIL_03]", "x@example.com"), -EINVAL);
	assert_int_equal(redact_map_add(m, "[NAME_1]", "Ada"), -EINVAL);
	assert_int_equal(redact_map_add(m, "EMAIL_1", "x@example.com"), -EINVAL);
	out = redact_text(m, ALL, NULL, 0, "old@example.com new@example.com", 31, NULL, NULL);
	assert_string_equal(out, "[EMAIL_3] [EMAIL_4]");
	redact_map_entry(m, 1, &ph, &v);
	assert_string_equal(ph, "[EMAIL_4]");
	assert_string_equal(v, "new@example.com");
	free(out);
	redact_map_destroy(m);
}

static void test_a_nul_inside_is_kept(void **state)
{
	struct redact_map *m = redact_map_create();
	const char in[] = "a@ex.com\0b@ex.com";
	size_t n;
	char *out = redact_text(m, ALL, NULL, 0, in, sizeof(in) - 1, &n, NULL);

	(void)state;
	assert_int_equal(n, strlen("[EMAIL_1]") + 1 + strlen("b@ex.com"));
	assert_memory_equal(out, "[EMAIL_1]\0b@ex.com", n);
	free(out);
	redact_map_destroy(m);
}

/* A streamed answer's piece holds back what may be the start of a placeholder. */
static void test_hold_from_keeps_a_possible_placeholder_prefix(void **state)
{
	static const struct {
		const char *text;
		size_t want;
	} t[] = {
		{"", 0},
		{"plain text", 10},
		{"write to [", 9},
		{"write to [EM", 9},
		{"write to [EMAIL_", 9},
		{"write to [EMAIL_1", 9},
		{"write to [EMAIL_1]", 18}, /* complete: nothing held */
		{"a [b", 4},		    /* lower case: never a placeholder */
		{"x [EMAIL 1", 10},	    /* a space: no placeholder */
		{"[", 0},
		{"[[", 1},
		{"x [ABCDEFGHIJKLMNOPQRSTUVWXYZ", 29}, /* longer than any placeholder */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t got = redact_hold_from(t[i].text, strlen(t[i].text));

		if (got != t[i].want)
			fail_msg("'%s': held from %zu, want %zu", t[i].text, got, t[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detectors_table),
		cmocka_unit_test(test_checksums),
		cmocka_unit_test(test_placeholders_are_stable_across_calls_and_restore),
		cmocka_unit_test(test_lane_patterns),
		cmocka_unit_test(test_map_read_back_continues_numbering),
		cmocka_unit_test(test_a_nul_inside_is_kept),
		cmocka_unit_test(test_hold_from_keeps_a_possible_placeholder_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
