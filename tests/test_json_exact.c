/* json_exact: numbers relayed through cJSON keep the text they were written with, and the
 * printer writes what cJSON's writes. */
#include "test.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *roundtrip(const char *json)
{
	cJSON *root = json_exact_parse(json, strlen(json));
	char *out;

	assert_non_null(root);
	out = json_exact_print(root);
	cJSON_Delete(root);
	return out;
}

static void integers_above_2_pow_53_pass_unchanged(void **state)
{
	char *s = roundtrip("{\"id\": 1234567890123456789, \"max\":9007199254740991,"
			    "\"neg\":[-9223372036854775808, 18446744073709551615]}");

	assert_string_equal(s, "{\"id\":1234567890123456789,\"max\":9007199254740991,"
			       "\"neg\":[-9223372036854775808,18446744073709551615]}");
	free(s);
}

static void decimals_and_exponents_keep_their_spelling(void **state)
{
	char *s = roundtrip("[0.1, 1.0, 1e2, -0, 2.5E-3, 0.30000000000000004]");

	assert_string_equal(s, "[0.1,1.0,1e2,-0,2.5E-3,0.30000000000000004]");
	free(s);
}

static void strings_with_escapes_stay_aligned(void **state)
{
	char *s = roundtrip(
		"\xEF\xBB\xBF {\"a\\\"]}\":\"x\\\\\",\"n\":1e400,\"m\":12345678901234567890,"
		"\"t\":[true,false,null,{}]}");

	assert_string_equal(s, "{\"a\\\"]}\":\"x\\\\\",\"n\":1e400,\"m\":12345678901234567890,"
			       "\"t\":[true,false,null,{}]}");
	free(s);
}

static void a_changed_number_prints_its_new_value(void **state)
{
	const char *json = "{\"max_tokens\":100000,\"big\":1234567890123456789}";
	cJSON *root = json_exact_parse(json, strlen(json));
	char *s;

	cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(root, "max_tokens"), 10);
	cJSON_AddItemToObject(root, "copy",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(root, "big"), 1));
	s = json_exact_print(root);
	assert_string_equal(s, "{\"max_tokens\":10,\"big\":1234567890123456789,"
			       "\"copy\":1234567890123456789}");
	free(s);
	/* The tree is a tree of numbers again after printing. */
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "big")));
	cJSON_Delete(root);
}

static void raw_items_of_others_stay_raw(void **state)
{
	cJSON *root = cJSON_CreateObject();
	char *s;

	cJSON_AddRawToObject(root, "schema", "{\"maximum\":9007199254740991}");
	s = json_exact_print(root);
	assert_string_equal(s, "{\"schema\":{\"maximum\":9007199254740991}}");
	free(s);
	assert_true(cJSON_IsRaw(cJSON_GetObjectItemCaseSensitive(root, "schema")));
	cJSON_Delete(root);
}

/* json_exact_print is its own printer: on a tree whose numbers have no text (cJSON_Parse,
 * or built in code) it must write cJSON_PrintUnformatted's bytes exactly: every escape, every
 * control byte, bytes that are not UTF-8, numbers in cJSON's format, empty containers, NULL
 * strings and keys, raw items; and fail where cJSON fails. */
static void expect_same_as_cjson(const cJSON *tree)
{
	char *mine = json_exact_print(tree), *theirs = cJSON_PrintUnformatted(tree);

	if (!theirs) {
		assert_null(mine);
		return;
	}
	assert_non_null(mine);
	if (strcmp(mine, theirs) != 0)
		fail_msg("json_exact_print wrote\n%s\ncJSON writes\n%s", mine, theirs);
	free(mine);
	cJSON_free(theirs);
}

static void the_printer_writes_what_cjson_writes(void **state)
{
	static const char *const texts[] = {
		"{}",
		"[]",
		"[[],{},[{}],null,true,false]",
		"\"\"",
		"{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
		"\"max_tokens\":16}",
		"\"quote \\\" backslash \\\\ slash \\/ \\b \\f \\n \\r \\t\"",
		"\"x\\u0001\\u000b\\u001b\\u001f\\u0020\\u007f\\u0080\\u00e9\\u2028\\ud83d\\ude00"
		"\"",
		"\"cut at NUL\\u0000after\"",
		"\"raw bytes: \xc3\xa9 \xe2\x82\xac \xff \xfe \x80 end\"",
		"{\"k\\n\\\"ey\":1,\"\":2,\"dup\":3,\"dup\":4}",
		"[0,-0,1,-1,2147483647,2147483648,-2147483649,9007199254740993,1e300,-1e-300,"
		"0.1,0.30000000000000004,1.5e10,123456789012345678901234567890,3.14159265358979]",
		"[1.0,2.50,1E2,1e+2,-0.0]",
		"{\"a\":{\"b\":{\"c\":[1,[2,[3,{\"d\":\"e\"}]]]}}}",
	};
	cJSON *built, *arr, *bad;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
		cJSON *t = cJSON_Parse(texts[i]);

		assert_non_null(t);
		expect_same_as_cjson(t);
		cJSON_Delete(t);
	}
	/* Built in code: a NULL string value and key, a raw value, a changed number. */
	built = cJSON_CreateObject();
	cJSON_AddItemToObject(built, "s", cJSON_CreateString("tab\there"));
	cJSON_AddRawToObject(built, "raw", "{\"x\": [1, 2]}");
	cJSON_AddNumberToObject(built, "n", 0.1 + 0.2);
	arr = cJSON_AddArrayToObject(built, "arr");
	cJSON_AddItemToArray(arr, cJSON_CreateNumber(-7));
	cJSON_AddItemToArray(arr, cJSON_CreateNumber(1e21));
	cJSON_GetObjectItemCaseSensitive(built, "s")->valuestring[3] = '\x01';
	expect_same_as_cjson(built);
	free(cJSON_GetObjectItemCaseSensitive(built, "s")->valuestring);
	cJSON_GetObjectItemCaseSensitive(built, "s")->valuestring = NULL;
	free(arr->string);
	arr->string = NULL;
	expect_same_as_cjson(built);
	/* A raw item without text and an invalid item: cJSON prints nothing, nor do we. */
	bad = cJSON_CreateRaw("1");
	free(bad->valuestring);
	bad->valuestring = NULL;
	cJSON_AddItemToObject(built, "bad", bad);
	expect_same_as_cjson(built);
	cJSON_Delete(built);
	bad = cJSON_CreateArray();
	cJSON_AddItemToArray(bad, cJSON_CreateNull());
	cJSON_GetArrayItem(bad, 0)->type = cJSON_Invalid;
	expect_same_as_cjson(bad);
	cJSON_Delete(bad);
}

/* The printer reads strings eight bytes at a time: an escape at every place in a word, and
 * the bytes that are '"', '\\' or a control byte with the high bit set (0xa2, 0xdc, 0x9f),
 * which must pass as they are, print as cJSON prints them. */
static void long_strings_print_as_cjson_prints_them(void **state)
{
	static const char *const specials[] = {"\\\"",	  "\\\\", "\\n",     "\\u0001",
					       "\\u001f", "\\/",  "\\u00e9", "\xa2",
					       "\xdc",	  "\x9f", "\x7f"};
	char text[128];

	(void)state;
	for (size_t at = 0; at < 20; at++)
		for (size_t k = 0; k < ARRAY_LEN(specials); k++) {
			cJSON *t;

			snprintf(text, sizeof(text), "[\"%.*s%sabcdefghijklmnopq\"]", (int)at,
				 "0123456789ABCDEFGHIJ", specials[k]);
			t = cJSON_Parse(text);
			assert_non_null(t);
			expect_same_as_cjson(t);
			cJSON_Delete(t);
		}
}

/* A number's text is checked against its double without strtod when it is a short decimal;
 * a text with more digits, an exponent or a huge value goes to strtod: either way an
 * unchanged number prints as written and a changed one from its double. */
static void numbers_print_as_written_until_changed(void **state)
{
	static const char *const nums[] = {"16",
					   "-0",
					   "0.5",
					   "007",
					   "123456789012345",
					   "1234567890123456",
					   "0.000024",
					   "-12.50",
					   "1e400",
					   "-1e400",
					   "1E2",
					   "0.30000000000000004",
					   "999999999999999.9",
					   "1.0"};
	char text[64], *s;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(nums); i++) {
		cJSON *t, *v;

		snprintf(text, sizeof(text), "{\"n\":%s}", nums[i]);
		t = json_exact_parse(text, strlen(text));
		if (!t) /* cJSON does not read every spelling (007) */
			continue;
		s = json_exact_print(t);
		assert_string_equal(s, text);
		free(s);
		v = cJSON_GetObjectItemCaseSensitive(t, "n");
		cJSON_SetNumberValue(v, v->valuedouble == 3 ? 4 : 3);
		s = json_exact_print(t);
		assert_string_equal(s, v->valuedouble == 3 ? "{\"n\":3}" : "{\"n\":4}");
		free(s);
		cJSON_Delete(t);
	}
}

/* json_exact_parse is json_parse with numbers kept: the same I-JSON rule (tests/test_json.c
 * holds the table). */
static void a_repeated_member_name_is_refused(void **state)
{
	const char *json = "{\"model\":\"small\",\"mod\\u0065l\":\"gpt-4o\"}";

	assert_null(json_exact_parse(json, strlen(json)));
}

static void invalid_json_is_null(void **state)
{
	assert_null(json_exact_parse("{\"a\":", 5));
	assert_null(json_exact_parse("", 0));
}

/* json_plain_end steps sixteen bytes, then eight, then one: at every place in texts of every
 * length up to 48, each byte a JSON string cannot hold as it is (and bytes beside those that it
 * can: 0x20, 0x7f, high bytes) is found exactly where a byte-by-byte search finds it, and the
 * search never reads past end (a copy of exactly that length, under AddressSanitizer). */
static void plain_end_finds_the_first_special_byte_at_every_place(void **state)
{
	static const unsigned char specials[] = {'"', '\\', 0x00, 0x01, 0x0a, 0x1f};
	static const unsigned char plains[] = {0x20, 0x21, 0x5b, 0x5d, 0x7f,
					       0x80, 0xa2, 0xdc, 0xff};
	char text[48], *copy;
	size_t len, at, k, j;

	(void)state;
	for (len = 0; len <= sizeof(text); len++) {
		for (k = 0; k < sizeof(plains); k++) {
			memset(text, 'a', sizeof(text));
			for (j = k % 3; j < len; j += 3)
				text[j] = (char)plains[(j + k) % sizeof(plains)];
			copy = xmalloc(len ? len : 1);
			memcpy(copy, text, len);
			assert_ptr_equal(json_plain_end(copy, copy + len), copy + len);
			free(copy);
		}
		for (at = 0; at < len; at++)
			for (k = 0; k < sizeof(specials); k++) {
				memset(text, 'b', sizeof(text));
				text[at] = (char)specials[k];
				if (at + 1 < len)
					text[at + 1] =
						'"'; /* a second one after it: the first is found */
				copy = xmalloc(len);
				memcpy(copy, text, len);
				assert_ptr_equal(json_plain_end(copy, copy + len), copy + at);
				free(copy);
			}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(integers_above_2_pow_53_pass_unchanged),
		cmocka_unit_test(decimals_and_exponents_keep_their_spelling),
		cmocka_unit_test(strings_with_escapes_stay_aligned),
		cmocka_unit_test(a_repeated_member_name_is_refused),
		cmocka_unit_test(a_changed_number_prints_its_new_value),
		cmocka_unit_test(raw_items_of_others_stay_raw),
		cmocka_unit_test(invalid_json_is_null),
		cmocka_unit_test(long_strings_print_as_cjson_prints_them),
		cmocka_unit_test(numbers_print_as_written_until_changed),
		cmocka_unit_test(the_printer_writes_what_cjson_writes),
		cmocka_unit_test(plain_end_finds_the_first_special_byte_at_every_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
