/* Tests of the tool argument helpers: required and optional strings, null as absent, wrong
 * types and ranges named in the error, integers sent as strings or as 10.0, and several errors
 * in one message.
 */
#include "test.h"
#include "tools/tool.h"

#include <string.h>

static cJSON *args(const char *json)
{
	cJSON *a = cJSON_Parse(json);

	assert_non_null(a);
	return a;
}

static void strings_required_optional_and_wrong_type(void **state)
{
	cJSON *a = args("{\"url\":\"http://x/\",\"n\":5,\"z\":null}");
	struct buf err;

	buf_init(&err, 1024);
	assert_string_equal(tool_arg_str(a, "url", true, &err), "http://x/");
	assert_null(tool_arg_str(a, "other", false, &err));
	assert_null(tool_arg_str(a, "z", false, &err));
	assert_int_equal(err.len, 0);
	assert_null(tool_arg_str(a, "missing", true, &err));
	assert_string_equal(buf_str(&err), "missing required argument missing");
	buf_reset(&err);
	assert_null(tool_arg_str(a, "z", true, &err));
	assert_string_equal(buf_str(&err), "missing required argument z");
	buf_reset(&err);
	assert_null(tool_arg_str(a, "n", true, &err));
	assert_string_equal(buf_str(&err), "n must be a string");
	buf_finish(&err);
	cJSON_Delete(a);
}

static void integers_defaults_ranges_and_forms(void **state)
{
	cJSON *a = args("{\"a\":7,\"b\":\"12\",\"c\":3.0,\"d\":3.5,\"e\":\"x\",\"f\":true,"
			"\"g\":1e300,\"h\":-4,\"n\":null}");
	struct buf err;
	bool bad = false;

	buf_init(&err, 1024);
	assert_int_equal(tool_arg_int(a, "a", 1, 0, 10, &bad, &err), 7);
	assert_int_equal(tool_arg_int(a, "b", 1, 0, 100, &bad, &err), 12);
	assert_int_equal(tool_arg_int(a, "c", 1, 0, 10, &bad, &err), 3);
	assert_int_equal(tool_arg_int(a, "absent", 42, 0, 10, &bad, &err), 42);
	assert_int_equal(tool_arg_int(a, "n", 42, 0, 10, &bad, &err), 42);
	assert_false(bad);
	assert_int_equal(err.len, 0);
	assert_int_equal(tool_arg_int(a, "d", 1, 0, 10, &bad, &err), 1);
	assert_true(bad);
	assert_string_equal(buf_str(&err), "d must be an integer from 0 to 10");
	bad = false;
	buf_reset(&err);
	tool_arg_int(a, "e", 1, 0, 10, &bad, &err);
	tool_arg_int(a, "f", 1, 0, 10, &bad, &err);
	tool_arg_int(a, "g", 1, 0, 10, &bad, &err);
	tool_arg_int(a, "h", 1, 0, 10, &bad, &err);
	assert_true(bad);
	assert_string_equal(buf_str(&err), "e must be an integer from 0 to 10; "
					   "f must be an integer from 0 to 10; "
					   "g must be an integer from 0 to 10; "
					   "h must be an integer from 0 to 10");
	buf_finish(&err);
	cJSON_Delete(a);
}

static void non_objects_and_null_out_params_are_safe(void **state)
{
	cJSON *arr = args("[1,2]");

	assert_null(tool_arg_str(arr, "x", true, NULL));
	assert_null(tool_arg_str(NULL, "x", false, NULL));
	assert_int_equal(tool_arg_int(NULL, "x", 5, 0, 10, NULL, NULL), 5);
	cJSON_Delete(arr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strings_required_optional_and_wrong_type),
		cmocka_unit_test(integers_defaults_ranges_and_forms),
		cmocka_unit_test(non_objects_and_null_out_params_are_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
