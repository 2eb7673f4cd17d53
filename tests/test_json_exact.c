/* json_exact: numbers relayed through cJSON keep the text they were written with. */
#include "test.h"
#include "core/json_exact.h"

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

static void strings_with_escapes_and_duplicate_keys_stay_aligned(void **state)
{
	char *s = roundtrip(
		"\xEF\xBB\xBF {\"a\\\"]}\":\"x\\\\\",\"n\":1e400,\"n\":12345678901234567890,"
		"\"t\":[true,false,null,{}]}");

	assert_string_equal(s, "{\"a\\\"]}\":\"x\\\\\",\"n\":1e400,\"n\":12345678901234567890,"
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

static void invalid_json_is_null(void **state)
{
	assert_null(json_exact_parse("{\"a\":", 5));
	assert_null(json_exact_parse("", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(integers_above_2_pow_53_pass_unchanged),
		cmocka_unit_test(decimals_and_exponents_keep_their_spelling),
		cmocka_unit_test(strings_with_escapes_and_duplicate_keys_stay_aligned),
		cmocka_unit_test(a_changed_number_prints_its_new_value),
		cmocka_unit_test(raw_items_of_others_stay_raw),
		cmocka_unit_test(invalid_json_is_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
