/* json_fast: the one-pass parse takes plain JSON into the very tree the long way (cJSON, the
 * walk for repeated names, json_exact's numbers) builds, node by node, and gives every other
 * text up to it: on a corpus, on texts it must give up, and on 40,000 seeded mutations. */
#include "test.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/json_fast.h"
#include "core/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned flag_sets[] = {0, JSON_EXACT, JSON_EXACT | JSON_FOLD};

/* Texts of plain JSON: the pass must take each, under every flag set. */
static const char *const plain[] = {
	"{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
	"\"max_tokens\":16}",
	"{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
	"\"temperature\":0.7,\"top_p\":1,\"n\":1,\"stop\":null,\"user\":\"u-1\","
	"\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\\nAnswer in one line.\"},"
	"{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Caf\\u00e9 \\ud83d\\ude00 "
	"\\\"quoted\\\" back\\\\slash \\/ \\b\\f\\r\\t\"}]}]}",
	"{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get\",\"parameters\":"
	"{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"City\":{}},"
	"\"required\":[\"city\"]}}}],\"tool_choice\":\"auto\"}",
	" \t\r\n[1, -1, 0, -0, 0.5, -0.25, 1e3, 1E-3, 2.5e+10, 123456789012345, 1234567890123456,"
	" 12345678901234567890, 0.1, 0.30000000000000004, 1e308, 1e-320, 2147483647, 2147483648,"
	" -2147483648, -2147483649, 1.5e300, 9007199254740993] \n",
	"\"just a string \\u20ac\"",
	"42",
	"-3.25e-2",
	"true",
	"false",
	"null",
	"{}",
	"[]",
	"[[],{},[{}],{\"a\":[]}]",
	"{\"x\":{\"y\":{\"caf\xc3\xa9\":\"th\xc3\xa9\",\"\xe2\x82\xac\":1}}}",
	"{\"a\":{\"b\":{\"c\":1,\"C\":2}}}", /* case folds stop two levels down */
	"{\"Model\":1,\"model_x\":2}",
	"[{\"a\":1},{\"a\":2}]", /* the same name in two objects is no repeat */
};

/* Texts the pass gives up on; json_parse answers each as the long way does. These three
 * only under JSON_FOLD (a folded repeat; a name past ASCII where names fold). */
static const char *const fold_odd[] = {
	"{\"model\":1,\"MODEL\":2}",
	"{\"a\":{\"b\":1,\"B\":2}}",
	"{\"s\xc5\xbf\":1}",
};

static const char *const odd[] = {
	"{\"a\":1,\"a\":2}",
	"{\"a\":\"\\u0000\"}",
	"{\"a\":\"\\uZZZZ\"}",
	"{\"a\":\"\\udc00\"}",
	"{\"a\":\"\\ud800x\"}",
	"{\"a\":\"\\ud800\\u0041\"}",
	"{\"a\":\"tab\there\"}",
	"{\"a\":01}",
	"{\"a\":1.}",
	"{\"a\":.5}",
	"{\"a\":+1}",
	"{\"a\":1e}",
	"{\"a\":1,}",
	"[1,]",
	"{\"a\" 1}",
	"\xef\xbb\xbf{}",
	"{\x01\"a\":1}",
	"{\"a\":1} x",
	"{\"a\":1}{}",
	"[1234567890123456789012345678901234567890123456789012345678901234567890]",
	"\"unterminated",
	"nul",
	"",
	" ",
};

/* Both trees alike in every field cJSON's parse sets, links included. */
static void assert_same_tree(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y, *last_x = NULL, *last_y = NULL;

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->valueint, b->valueint);
	assert_memory_equal(&a->valuedouble, &b->valuedouble, sizeof(double));
	assert_int_equal(!a->string, !b->string);
	if (a->string)
		assert_string_equal(a->string, b->string);
	assert_int_equal(!a->valuestring, !b->valuestring);
	if (a->valuestring)
		assert_string_equal(a->valuestring, b->valuestring);
	for (x = a->child, y = b->child; x && y; x = x->next, y = y->next) {
		if (x != a->child)
			assert_ptr_equal(x->prev, last_x);
		if (y != b->child)
			assert_ptr_equal(y->prev, last_y);
		assert_same_tree(x, y);
		last_x = x;
		last_y = y;
	}
	assert_null(x);
	assert_null(y);
	if (a->child) {
		assert_ptr_equal(a->child->prev, last_x);
		assert_ptr_equal(b->child->prev, last_y);
	}
}

static void plain_texts_are_taken_into_the_long_ways_tree(void **state)
{
	size_t i, k;

	for (i = 0; i < ARRAY_LEN(plain); i++)
		for (k = 0; k < ARRAY_LEN(flag_sets); k++) {
			cJSON *fast = json_fast_parse(plain[i], strlen(plain[i]), flag_sets[k]);
			cJSON *slow =
				json_parse_cjson(plain[i], strlen(plain[i]), flag_sets[k], NULL);

			if (!fast)
				fail_msg("the pass gave up on plain text %zu: %s", i, plain[i]);
			assert_same_tree(fast, slow);
			cJSON_Delete(fast);
			cJSON_Delete(slow);
		}
}

/* The router forwards what it parsed: under JSON_EXACT the pass's tree prints byte for byte
 * as the long way's, numbers as written. */
static void exact_numbers_print_as_written(void **state)
{
	const char *t = "{\"a\":[1.50,1e3,12345678901234567890,-0,0.30000000000000004]}";
	cJSON *fast = json_fast_parse(t, strlen(t), JSON_EXACT);
	char *out;

	assert_non_null(fast);
	out = json_exact_print(fast);
	assert_string_equal(out, t);
	free(out);
	cJSON_Delete(fast);
}

static void check_odd(const char *text, unsigned flags)
{
	struct json_error e1, e2;
	size_t len = strlen(text);
	cJSON *fast = json_fast_parse(text, len, flags);
	cJSON *a = json_parse(text, len, flags, &e1);
	cJSON *b = json_parse_cjson(text, len, flags, &e2);

	if (fast)
		fail_msg("the pass took odd text %s (flags %u)", text, flags);
	assert_int_equal(!a, !b);
	if (a)
		assert_same_tree(a, b);
	else
		assert_string_equal(e1.msg, e2.msg);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

static void odd_texts_are_left_to_the_long_way(void **state)
{
	size_t i, k;

	for (i = 0; i < ARRAY_LEN(odd); i++)
		for (k = 0; k < ARRAY_LEN(flag_sets); k++)
			check_odd(odd[i], flag_sets[k]);
	for (i = 0; i < ARRAY_LEN(fold_odd); i++)
		check_odd(fold_odd[i], JSON_EXACT | JSON_FOLD);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Bytes that matter to a JSON reader, and a few that should not be there. */
static const char alphabet[] = "{}[]\",:\\/ 019.-+eEtfnulrsaA\t\n\r\x01\x7f\xc3\xa9\xc5\xbf"
			       "u0dD8cCzZ";

static void mutations_never_split_the_two_ways(void **state)
{
	char text[1024];
	size_t len, k, n, taken = 0, refused = 0, at;
	int round, m;

	for (round = 0; round < 40000; round++) {
		const char *seed = plain[next_rand() % ARRAY_LEN(plain)];

		len = strlen(seed);
		memcpy(text, seed, len);
		n = 1 + next_rand() % 3;
		for (m = 0; m < (int)n; m++) {
			char c = alphabet[next_rand() % (sizeof(alphabet) - 1)];

			at = len ? next_rand() % len : 0;
			switch (next_rand() % 3) {
			case 0: /* replace */
				if (len)
					text[at] = c;
				break;
			case 1: /* insert */
				if (len + 1 < sizeof(text)) {
					memmove(text + at + 1, text + at, len - at);
					text[at] = c;
					len++;
				}
				break;
			default: /* delete */
				if (len) {
					memmove(text + at, text + at + 1, len - at - 1);
					len--;
				}
			}
		}
		for (k = 0; k < ARRAY_LEN(flag_sets); k++) {
			cJSON *fast = json_fast_parse(text, len, flag_sets[k]);
			cJSON *slow = json_parse_cjson(text, len, flag_sets[k], NULL);

			if (fast && !slow)
				fail_msg("the pass took a text the long way refuses: %.*s",
					 (int)len, text);
			if (fast) {
				assert_same_tree(fast, slow);
				taken++;
			} else if (!slow) {
				refused++;
			}
			cJSON_Delete(fast);
			cJSON_Delete(slow);
		}
	}
	/* Both kinds are exercised, many times over. */
	assert_true(taken > 10000);
	assert_true(refused > 10000);
}

/* Numbers of every shape: the same double as strtod, bit for bit (the short-decimal way and
 * strtod's alike), and the same saturated valueint. */
static void random_numbers_read_as_strtod_reads_them(void **state)
{
	char text[80];
	int round, len;

	for (round = 0; round < 20000; round++) {
		uint64_t r = next_rand();
		int int_digits = 1 + (int)(r % 20), frac_digits = (int)((r >> 8) % 18), j;
		bool exp = (r >> 16) % 4 == 0;

		len = 0;
		if ((r >> 20) & 1)
			text[len++] = '-';
		for (j = 0; j < int_digits; j++)
			text[len++] = (char)('0' + (j == 0 && int_digits > 1 ? 1 + next_rand() % 9
									     : next_rand() % 10));
		if (frac_digits) {
			text[len++] = '.';
			for (j = 0; j < frac_digits; j++)
				text[len++] = (char)('0' + next_rand() % 10);
		}
		if (exp)
			len += snprintf(text + len, sizeof(text) - (size_t)len, "e%d",
					(int)(next_rand() % 700) - 350);
		{
			cJSON *fast = json_fast_parse(text, (size_t)len, JSON_EXACT);
			cJSON *slow = json_parse_cjson(text, (size_t)len, JSON_EXACT, NULL);

			if (!fast)
				fail_msg("the pass gave up on the number %.*s", len, text);
			assert_same_tree(fast, slow);
			cJSON_Delete(fast);
			cJSON_Delete(slow);
		}
	}
}

/* json_parse_span finds the root's string member in plain text alone, as written, and never
 * where the long way reads the text (a "\u0000" cJSON ends a string at, a byte-order mark,
 * whitespace only cJSON takes): the router forwards the text with that span replaced only then,
 * so what it read is what the upstream reads. */
static void the_root_members_span_is_found_in_plain_text_only(void **state)
{
	static const char *const none[] = {
		"{\"model\":\"a\",\"m\":\"x\\u0000y\"}", /* cJSON ends the string at U+0000 */
		"{\"model\":\"a\",\"m\":\"x\x01y\"}",	 /* a raw control byte */
		"{\"model\":\"a\",\x01\"m\":1}",	 /* a control byte as whitespace */
		"\xEF\xBB\xBF{\"model\":\"a\"}",	 /* a byte-order mark */
		"{\"model\":1}",			 /* not a string */
		"{\"model\":[\"a\"]}",			 /* not a string */
		"{\"model\":null}",			 /* not a string */
		"{\"m\":{\"model\":\"a\"}}",		 /* not at the root */
		"{\"m\":[\"model\",\"a\"]}",		 /* not a member */
		"[{\"model\":\"a\"}]",			 /* the root is not an object */
		"{\"x\":\"model\"}",			 /* a value, not a name */
		"{\"model\":\"a\",\"m\":\"\\ud800\"}",	 /* a lone surrogate */
		"{\"model\":\"a\",\"m\":01}",		 /* a leading zero */
	};
	const char *t;
	size_t at, end, i;
	cJSON *root;

	(void)state;
	t = " {\"messages\" : [{\"role\":\"user\",\"content\":\"model \\\"x\\\" \\ud83d\\ude00\"}],"
	    "\n\t\"m\":{\"model\":\"inner\"},\"n\":[1,-2.5e3,true,null] ,\"mod\\u0065l\" "
	    ":\r\"gpt\\/4\" } ";
	root = json_parse_span(t, strlen(t), JSON_EXACT | JSON_FOLD, NULL, "model", &at, &end);
	assert_non_null(root);
	assert_int_equal(end - at, strlen("\"gpt\\/4\""));
	assert_memory_equal(t + at, "\"gpt\\/4\"", end - at);
	cJSON_Delete(root);
	for (i = 0; i < ARRAY_LEN(none); i++) {
		root = json_parse_span(none[i], strlen(none[i]), JSON_EXACT, NULL, "model", &at,
				       &end);
		assert_int_equal(at, 0);
		assert_int_equal(end, 0);
		cJSON_Delete(root);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_texts_are_taken_into_the_long_ways_tree),
		cmocka_unit_test(exact_numbers_print_as_written),
		cmocka_unit_test(odd_texts_are_left_to_the_long_way),
		cmocka_unit_test(mutations_never_split_the_two_ways),
		cmocka_unit_test(random_numbers_read_as_strtod_reads_them),
		cmocka_unit_test(the_root_members_span_is_found_in_plain_text_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
