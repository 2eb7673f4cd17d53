/* json: the one parser refuses a member name repeated in one object at any depth (I-JSON),
 * names the member and where, and accepts everything else cJSON does. */
#include "test.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

struct row {
	const char *json;
	const char *msg; /* NULL: accepted */
};

static const struct row rows[] = {
	/* the report of issue 38 */
	{"{\"model\":\"small\",\"model\":\"gpt-4o\",\"max_tokens\":100,\"max_tokens\":200000}",
	 "duplicate member \"model\" at $"},
	{"{\"max_tokens\":100,\"model\":\"small\",\"max_tokens\":200000}",
	 "duplicate member \"max_tokens\" at $"},
	/* escaped names are compared as decoded */
	{"{\"model\":\"small\",\"mod\\u0065l\":\"gpt-4o\"}", "duplicate member \"model\" at $"},
	{"{\"\\u006dodel\":1,\"model\":2}", "duplicate member \"model\" at $"},
	{"{\"\\u00e9\":1,\"\xc3\xa9\":2}", "duplicate member \"\\xc3\\xa9\" at $"},
	/* names that differ only in case are different names */
	{"{\"model\":1,\"Model\":2}", NULL},
	/* nested objects and arrays of objects */
	{"{\"stream_options\":{\"include_usage\":true,\"include_usage\":false}}",
	 "duplicate member \"include_usage\" at $.stream_options"},
	{"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"role\":"
	 "\"system\"}]}",
	 "duplicate member \"role\" at $.messages[1]"},
	{"[[{\"a\":{\"b\":[1,{\"c\":1,\"c\":2}]}}]]", "duplicate member \"c\" at $[0][0].a.b[1]"},
	{"{\"a b\":{\"x\":1,\"x\":1}}", "duplicate member \"x\" at $[\"a b\"]"},
	{"{\"q\\\"\":{\"\\n\":1,\"\\n\":1}}", "duplicate member \"\\x0a\" at $[\"q\\\"\"]"},
	{"{\"stream_options\":{\"include_usage\":true},\"stream_options\":{}}",
	 "duplicate member \"stream_options\" at $"},
	/* the same name in different objects, or as a value, is fine */
	{"{\"a\":{\"model\":1},\"b\":{\"model\":2},\"c\":[{\"model\":3},{\"model\":4}],\"model\":"
	 "\"model\"}",
	 NULL},
	{"[{\"x\":1},{\"x\":1}]", NULL},
	{"{}", NULL},
	{"\"x\"", NULL},
	{"  {\"a\":1}\n\r\t ", NULL},
	/* not JSON, or more than one value */
	{"{\"a\":", "not valid JSON (at byte 4)"},
	{"{\"a\":1}{\"a\":2}", "not valid JSON (text after the value at byte 7)"},
	{"{\"a\":1} x", "not valid JSON (text after the value at byte 8)"},
	{"", "not valid JSON (the text is empty)"},
};

static void the_table_of_duplicates_holds(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct json_error err = {0};
		cJSON *root = json_parse(rows[i].json, strlen(rows[i].json), 0, &err);

		print_message("row %zu: %s\n", i, rows[i].json);
		if (!rows[i].msg) {
			assert_non_null(root);
			cJSON_Delete(root);
			continue;
		}
		assert_null(root);
		assert_string_equal(err.msg, rows[i].msg);
		assert_int_equal(err.duplicate, strncmp(rows[i].msg, "duplicate", 9) == 0);
		/* the exact parser applies the same rule */
		assert_null(json_exact_parse(rows[i].json, strlen(rows[i].json)));
	}
}

/* 100,000 distinct members, then the same with the last one repeating the first: both answer
 * at once (the table, not n^2/2 compares: the sanitizer build would take minutes). */
static char *big_object(size_t n, bool repeat_first)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	buf_puts(&b, "{\"list\":[{\"m\":1}],\"obj\":{");
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s\"k%zu\":%zu", i ? "," : "", repeat_first && i == n - 1 ? 0 : i,
			   i);
	buf_puts(&b, "}}");
	return buf_steal(&b);
}

static void a_big_object_is_checked_in_one_pass(void **state)
{
	char *ok = big_object(100000, false), *dup = big_object(100000, true);
	struct json_error err = {0};
	cJSON *root = json_parse(ok, strlen(ok), 0, &err);

	assert_non_null(root);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "obj")), 100000);
	cJSON_Delete(root);
	assert_null(json_parse(dup, strlen(dup), 0, &err));
	assert_string_equal(err.msg, "duplicate member \"k0\" at $.obj");
	free(ok);
	free(dup);
}

/* Every size around the switch from pairwise compares to the table finds a repeat anywhere. */
static void each_size_finds_a_repeat_at_each_place(void **state)
{
	size_t n, at;

	for (n = 2; n <= 40; n++)
		for (at = 0; at + 1 < n; at++) {
			struct buf b;
			size_t i;
			struct json_error err = {0};

			buf_init(&b, 0);
			buf_puts(&b, "{");
			for (i = 0; i < n; i++)
				buf_printf(&b, "%s\"n%zu\":0", i ? "," : "", i == n - 1 ? at : i);
			buf_puts(&b, "}");
			assert_null(json_parse(buf_str(&b), b.len, 0, &err));
			assert_int_equal(err.duplicate, 1);
			buf_finish(&b);
		}
}

static void a_long_name_and_a_deep_path_are_cut_for_the_message(void **state)
{
	struct buf b;
	size_t i;
	struct json_error err = {0};

	buf_init(&b, 0);
	for (i = 0; i < 200; i++)
		buf_puts(&b, "{\"level\":");
	buf_puts(&b, "{\"");
	for (i = 0; i < 100; i++)
		buf_puts(&b, "n");
	buf_puts(&b, "\":1,\"");
	for (i = 0; i < 100; i++)
		buf_puts(&b, "n");
	buf_puts(&b, "\":2}");
	for (i = 0; i < 200; i++)
		buf_puts(&b, "}");
	assert_null(json_parse(buf_str(&b), b.len, 0, &err));
	print_message("%s\n", err.msg);
	assert_true(strlen(err.msg) < sizeof(err.msg) - 1);
	assert_non_null(strstr(err.msg, "nnnn...\" at $..."));
	assert_non_null(strstr(err.msg, ".level.level"));
	buf_finish(&b);
}

/* JSON_FOLD: names one under Go's case-insensitive key match are refused too. */
static void folded_names_are_refused_when_asked(void **state)
{
	static const struct row folded[] = {
		{"{\"model\":\"small\",\"MODEL\":\"gpt-4o\"}",
		 "duplicate member \"MODEL\" at $ (case ignored)"},
		{"{\"max_tokens\":1,\"Max_Tokens\":2}",
		 "duplicate member \"Max_Tokens\" at $ (case ignored)"},
		{"{\"stream\":false,\"\u017ftream\":true}",
		 "duplicate member \"\\xc5\\xbftream\" at $ (case ignored)"},
		{"{\"a\":{\"kind\":1,\"\u212aind\":2}}",
		 "duplicate member \"\\xe2\\x84\\xaaind\" at $.a (case ignored)"},
		{"{\"model\":1,\"Model\":2,\"x\":{\"model\":3}}",
		 "duplicate member \"Model\" at $ (case ignored)"},
		{"{\"x\":1,\"x\":2}", "duplicate member \"x\" at $"},
		/* deeper, names may differ in case (a tool's JSON schema, a free-form map) */
		{"{\"tools\":[{\"function\":{\"parameters\":{\"properties\":{\"Path\":{},"
		 "\"path\":{}}}}}],\"a\":{\"b\":{\"ID\":1,\"id\":2}}}",
		 NULL},
		{"{\"\u00c9\":1,\"\u00e9\":2,\"ss\":3,\"\u00df\":4}", NULL},
	};
	cJSON *root;
	char *big;
	size_t i;

	for (i = 0; i < sizeof(folded) / sizeof(folded[0]); i++) {
		struct json_error err = {0};

		root = json_parse(folded[i].json, strlen(folded[i].json), JSON_FOLD, &err);

		print_message("row %zu: %s\n", i, folded[i].json);
		if (!folded[i].msg) {
			assert_non_null(root);
			cJSON_Delete(root);
			continue;
		}
		assert_null(root);
		assert_string_equal(err.msg, folded[i].msg);
		/* without the flag only exact repeats count */
		root = json_parse(folded[i].json, strlen(folded[i].json), 0, NULL);
		assert_true((root != NULL) == (strstr(folded[i].msg, "case ignored") != NULL));
		cJSON_Delete(root);
	}
	/* the table of a large object folds too */
	big = big_object(100, false);
	big[strlen(big) - 2] = '\0';
	{
		struct buf b;
		struct json_error err = {0};

		buf_init(&b, 0);
		buf_printf(&b, "%s,\"K5\":1}}", big);
		assert_null(json_parse(buf_str(&b), b.len, JSON_FOLD, &err));
		assert_string_equal(err.msg, "duplicate member \"K5\" at $.obj (case ignored)");
		root = json_parse_str(buf_str(&b), NULL);
		assert_non_null(root);
		cJSON_Delete(root);
		buf_finish(&b);
	}
	free(big);
}

static void exact_numbers_survive_the_check(void **state)
{
	const char *json = "{\"a\":{\"n\":12345678901234567890},\"b\":{\"n\":1.50}}";
	cJSON *root = json_parse(json, strlen(json), JSON_EXACT, NULL);
	char *out = json_exact_print(root);

	assert_string_equal(out, json);
	free(out);
	cJSON_Delete(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_table_of_duplicates_holds),
		cmocka_unit_test(a_big_object_is_checked_in_one_pass),
		cmocka_unit_test(each_size_finds_a_repeat_at_each_place),
		cmocka_unit_test(a_long_name_and_a_deep_path_are_cut_for_the_message),
		cmocka_unit_test(folded_names_are_refused_when_asked),
		cmocka_unit_test(exact_numbers_survive_the_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
