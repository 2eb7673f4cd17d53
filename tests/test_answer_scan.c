/* answer_scan: one pass over an answer reads what cJSON's tree gives, or gives up. */
#include "test.h"
#include "answer_scan_check.h"
#include "core/util.h"

#include <stdio.h>
#include <string.h>

static int check(const char *text, struct answer_facts *f)
{
	return answer_scan_check(text, strlen(text), f);
}

static void a_chat_completion_is_read_without_a_tree(void **state)
{
	struct answer_facts f;

	assert_int_equal(
		check("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
		      "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
		      "\"content\":\"Hello there\",\"refusal\":null},\"finish_reason\":"
		      "\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,"
		      "\"total_tokens\":21,\"cost\":1.5e-05}}",
		      &f),
		1);
	assert_true(f.has_choices && f.usage_object && !f.has_error);
	assert_int_equal(f.output_chars, 11);
	assert_true(f.u.prompt_num && f.u.prompt == 9 && f.u.completion == 12);
	assert_true(f.u.cost_num && f.u.cost == 1.5e-05);
}

/* The prompt cache's counts in each spelling a provider or the dialects give them, nested
 * details too, read as the tree reads them (odd types included). */
static void cache_token_counts_are_read_in_every_spelling(void **state)
{
	static const char *const odd[] = {
		"{\"usage\":{\"prompt_tokens_details\":[{\"cached_tokens\":3}]}}",
		"{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":\"3\"}}}",
		"{\"usage\":{\"input_tokens_details\":{\"cache_write_tokens\":9},"
		"\"cache_creation_input_tokens\":null}}",
	};
	struct answer_facts f;
	size_t i;

	assert_int_equal(check("{\"usage\":{\"prompt_tokens\":2006,\"completion_tokens\":300,"
			       "\"prompt_tokens_details\":{\"cached_tokens\":1920,"
			       "\"cache_write_tokens\":64,\"audio_tokens\":0},"
			       "\"cache_creation_input_tokens\":12}}",
			       &f),
			 1);
	assert_true(f.u.p_cached_num && f.u.p_cached == 1920);
	assert_true(f.u.p_write_num && f.u.p_write == 64);
	assert_true(f.u.creation_num && f.u.creation == 12);
	assert_false(f.u.i_cached_num);
	assert_int_equal(check("{\"usage\":{\"input_tokens\":50,\"output_tokens\":5,"
			       "\"input_tokens_details\":{\"cached_tokens\":40}}}",
			       &f),
			 1);
	assert_true(f.u.i_cached_num && f.u.i_cached == 40 && !f.u.p_cached_num);
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		assert_int_equal(check(odd[i], &f), 1);
	assert_false(f.u.creation_num);
}

static void escapes_count_as_unescaped_bytes(void **state)
{
	struct answer_facts f;

	/* \n, \u00e9 (2 bytes), \u20ac (3), a surrogate pair (4), \/ */
	assert_int_equal(check("{\"choices\":[{\"message\":{\"content\":\"a\\nb\\u00e9\\u20ac"
			       "\\ud83d\\ude00\\/\"}}]}",
			       &f),
			 1);
	assert_int_equal(f.output_chars, 1 + 1 + 1 + 2 + 3 + 4 + 1);
}

/* Strings and names are scanned a word at a time: an escape, a raw control byte or a high
 * byte at each place of a word is read as the tree reads it (or given up on: a raw control
 * byte), and a name one byte off a known one is not taken for it. */
static void strings_are_read_alike_at_every_place_in_a_word(void **state)
{
	static const char *const specials[] = {"\\\"", "\\\\", "\\n",  "\\u00e9", "\\/",
					       "\xa2", "\xdc", "\x9f", "\x7f",	  "\x01"};
	char text[256];
	struct answer_facts f;

	(void)state;
	for (int at = 0; at < 20; at++)
		for (size_t k = 0; k < ARRAY_LEN(specials); k++) {
			snprintf(text, sizeof(text),
				 "{\"choices\":[{\"message\":{\"content\":\"%.*s%"
				 "sabcdefghijklmnopq\"}}],"
				 "\"usage\":{\"prompt_tokens\":3,\"%.*s%s\":1,\"completion_"
				 "tokens\":4}}",
				 at, "0123456789ABCDEFGHIJ", specials[k], at,
				 "0123456789ABCDEFGHIJ", specials[k]);
			assert_int_not_equal(check(text, &f), -1);
			if (specials[k][0] != '\x01' && specials[k][0] != '\\')
				assert_int_equal(check(text, &f), 1);
		}
}

/* A client would read the last of two members, the router the first: the scan gives up and
 * json_parse, the fallback, refuses the answer (I-JSON, core/json.h). */
static void a_repeated_member_name_makes_the_scan_give_up(void **state)
{
	static const char *const texts[] = {
		"{\"usage\":{\"prompt_tokens\":1,\"prompt_tokens\":2}}",
		"{\"usage\":{\"prompt_tokens\":1},\"usage\":{\"prompt_tokens\":3}}",
		"{\"choices\":[{\"message\":{\"content\":\"ab\",\"content\":\"abcdef\"}}]}",
		"{\"choices\":[{\"text\":\"cd\"}],\"choices\":[{\"text\":\"zzzz\"}]}",
		"{\"id\":\"x\",\"other\":{\"a\":1,\"a\":2}}",
	};
	struct answer_facts f;
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(check(texts[i], &f), 0);
		assert_null(json_parse(texts[i], strlen(texts[i]), 0, NULL));
	}
	/* Names of one length and last byte share the pairwise check's mark: different names
	 * that do are still read. */
	assert_int_equal(check("{\"ab\":1,\"cb\":2,\"usage\":{\"prompt_tokens\":4,"
			       "\"xrompt_tokens\":5}}",
			       &f),
			 1);
	assert_true(f.u.prompt_num && f.u.prompt == 4);
}

/* The scan checks names pairwise up to 32 members; a larger object is left to json_parse. */
static void an_object_of_many_members_is_left_to_the_tree(void **state)
{
	struct answer_facts f;
	char text[1024];
	size_t i, n = 0;

	n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"usage\":{\"prompt_tokens\":1}");
	for (i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, ",\"m%zu\":%zu", i, i);
	snprintf(text + n, sizeof(text) - n, "}");
	assert_int_equal(check(text, &f), 0);
	assert_non_null(strstr(text, "\"m39\":39}"));
}

static void tool_calls_text_and_odd_types_match_the_tree(void **state)
{
	static const char *const texts[] = {
		"{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"f\","
		"\"arguments\":\"{\\\"a\\\":1}\"}},7,{\"function\":[1]}]}}]}",
		"{\"choices\":[1,\"x\",null,[{\"message\":{\"content\":\"no\"}}],{\"message\":[]}]"
		"}",
		"{\"choices\":\"none\",\"text\":\"transcribed\",\"usage\":{\"input_tokens\":4,"
		"\"output_tokens\":5,\"type\":\"tokens\"}}",
		"{\"error\":{\"message\":\"bad\"}}",
		"{\"error\":null,\"data\":[{\"embedding\":[0.1,-2e3,0,1E+2]}]}",
		"{\"usage\":{\"prompt_tokens\":\"9\",\"completion_tokens\":-0.5,\"cost\":-1}}",
		"{\"usage\":[1,2],\"text\":5}",
		" \r\n\t{ \"a\" : [ true , false , null , { } , [ ] ] } \n",
		"{\"usage\":{\"cost\":0.000024,\"prompt_tokens\":123456789012345,"
		"\"completion_tokens\":0.30000000000000004,\"input_tokens\":-0.1}}",
		"{\"usage\":{\"cost\":9.999999999999999,\"prompt_tokens\":-0,"
		"\"completion_tokens\":1234567890.12345,\"output_tokens\":0.1e1}}",
		"{\"usage\":{\"prompt_tokens\":1e400,\"completion_tokens\":"
		"123456789012345678901234}}",
	};
	struct answer_facts f;
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		assert_int_equal(check(texts[i], &f), 1);
}

/* cJSON's leniencies, truncations and object iterations: the scan leaves them to the tree. */
static void what_the_scan_does_not_model_is_left_to_cjson(void **state)
{
	static const char *const texts[] = {
		"{\"choices\":{\"a\":{\"message\":{\"content\":\"x\"}}}}",
		"{\"choices\":[{\"message\":{\"tool_calls\":{\"a\":{\"function\":{}}}}}]}",
		"{\"a\":01}",
		"{\"a\":1} trailing",
		"\xEF\xBB\xBF{}",
		"{\"a\":\"\\u0000\"}",
		"{\"a\":\"\\uzzzz\"}",
		"{\"a\":\"\\udc00\"}",
		"{\"a\":\"\\ud800x\"}",
		"{\"us\\u0061ge\":{}}",
		"{\"a\":\"raw\x01\"}",
		"{\"a\":1.}",
		"{\"a\":-}",
		"{\"a\":[1,]}",
		"{\"a\":1,}",
		"[]",
		"",
		"{\"a\":tru}",
		"{\"a\":\"unterminated",
		"{\"n\":1234567890123456789012345678901234567890123456789012345678901234}",
	};
	struct answer_facts f;
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		assert_int_equal(check(texts[i], &f), 0);
}

static void nesting_past_the_limit_is_left_to_cjson(void **state)
{
	char text[2 * ANSWER_SCAN_MAX_DEPTH + 16];
	struct answer_facts f;
	size_t n = 0, i;

	text[n++] = '{';
	text[n++] = '"';
	text[n++] = 'a';
	text[n++] = '"';
	text[n++] = ':';
	for (i = 0; i < ANSWER_SCAN_MAX_DEPTH; i++)
		text[n++] = '[';
	for (i = 0; i < ANSWER_SCAN_MAX_DEPTH; i++)
		text[n++] = ']';
	text[n++] = '}';
	assert_int_equal(answer_scan_check(text, n, &f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_chat_completion_is_read_without_a_tree),
		cmocka_unit_test(cache_token_counts_are_read_in_every_spelling),
		cmocka_unit_test(escapes_count_as_unescaped_bytes),
		cmocka_unit_test(strings_are_read_alike_at_every_place_in_a_word),
		cmocka_unit_test(a_repeated_member_name_makes_the_scan_give_up),
		cmocka_unit_test(an_object_of_many_members_is_left_to_the_tree),
		cmocka_unit_test(tool_calls_text_and_odd_types_match_the_tree),
		cmocka_unit_test(what_the_scan_does_not_model_is_left_to_cjson),
		cmocka_unit_test(nesting_past_the_limit_is_left_to_cjson),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
