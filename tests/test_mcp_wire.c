/* mcp_wire: the 2026-07-28 revision's _meta, its request headers and their encoding, and
 * which x-mcp-header annotations leave a tool out (SEP-2243, SEP-2575). */
#include "test.h"
#include "mcp/mcp_wire.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void meta_carries_version_info_and_capabilities_and_keeps_the_callers(void **state)
{
	cJSON *params = cJSON_Parse("{\"name\":\"t\",\"_meta\":{\"progressToken\":7}}");
	const cJSON *meta;
	char *text;

	mcp_wire_add_meta(params, MCP_WIRE_2026, "{\"elicitation\":{}}");
	meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
	assert_string_equal(
		cJSON_GetObjectItemCaseSensitive(meta, "io.modelcontextprotocol/protocolVersion")
			->valuestring,
		"2026-07-28");
	text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(
		meta, "io.modelcontextprotocol/clientCapabilities"));
	assert_string_equal(text, "{\"elicitation\":{}}");
	free(text);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetObjectItemCaseSensitive(
					    meta, "io.modelcontextprotocol/clientInfo"),
				    "name")
				    ->valuestring,
			    "hermetic");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(meta, "progressToken")->valueint, 7);
	cJSON_Delete(params);
}

static void values_that_a_header_line_could_garble_go_as_base64(void **state)
{
	static const struct {
		const char *in, *out;
	} table[] = {
		{"us-west1", "us-west1"},
		{"us west 1", "us west 1"}, /* inner spaces are plain */
		{"", ""},
		{" padded ", "=?base64?IHBhZGRlZCA=?="},
		{"us-west1 ", "=?base64?dXMtd2VzdDEg?="},
		{"\tindented", "=?base64?CWluZGVudGVk?="},
		{"line1\nline2", "=?base64?bGluZTEKbGluZTI=?="},
		{"Hello, \xe4\xb8\x96\xe7\x95\x8c", "=?base64?SGVsbG8sIOS4lueVjA==?="},
	};

	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		char *v = mcp_wire_encode_value(table[i].in, strlen(table[i].in));

		assert_string_equal(v, table[i].out);
		free(v);
	}
}

static void invalid_header_annotations_are_refused_with_the_property(void **state)
{
	static const struct {
		const char *schema, *why;
	} table[] = {
		{"{\"properties\":{\"v\":{\"type\":\"string\",\"x-mcp-header\":\"\"}}}",
		 "property v: x-mcp-header must be"},
		{"{\"properties\":{\"v\":{\"type\":\"string\",\"x-mcp-header\":\"My Region\"}}}",
		 "property v: x-mcp-header must be"},
		{"{\"properties\":{\"v\":{\"type\":\"string\",\"x-mcp-header\":\"Region:1\"}}}",
		 "property v: x-mcp-header must be"},
		{"{\"properties\":{\"v\":{\"type\":\"string\",\"x-mcp-header\":\"R\xc3\xa9gion\"}}"
		 "}",
		 "property v: x-mcp-header must be"},
		{"{\"properties\":{\"d\":{\"type\":\"object\",\"x-mcp-header\":\"D\"}}}",
		 "property d: x-mcp-header is only for string, integer and boolean"},
		{"{\"properties\":{\"s\":{\"type\":\"number\",\"x-mcp-header\":\"S\"}}}",
		 "property s: x-mcp-header is only for string, integer and boolean"},
		{"{\"properties\":{\"a\":{\"type\":\"string\",\"x-mcp-header\":\"MyField\"},"
		 "\"b\":{\"type\":\"string\",\"x-mcp-header\":\"myfield\"}}}",
		 "properties a and b: the same x-mcp-header"},
	};
	char why[200];

	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		cJSON *s = cJSON_Parse(table[i].schema);

		assert_int_equal(mcp_wire_check_headers(s, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, table[i].why));
		cJSON_Delete(s);
	}
	{
		cJSON *s =
			cJSON_Parse("{\"properties\":{\"r\":{\"type\":\"string\",\"x-mcp-header\":"
				    "\"Region\"},\"p\":{\"type\":\"integer\",\"x-mcp-header\":"
				    "\"Priority\"},\"q\":{\"type\":\"number\"}}}");

		assert_int_equal(mcp_wire_check_headers(s, why, sizeof(why)), 0);
		cJSON_Delete(s);
	}
}

static bool has(char **h, const char *line)
{
	for (; h && *h; h++)
		if (strcmp(*h, line) == 0)
			return true;
	return false;
}

static size_t count(char **h)
{
	size_t n = 0;

	while (h && h[n])
		n++;
	return n;
}

static void a_tool_call_names_its_method_tool_and_annotated_arguments(void **state)
{
	static const char schema[] =
		"{\"type\":\"object\",\"properties\":{"
		"\"region\":{\"type\":\"string\",\"x-mcp-header\":\"Region\"},"
		"\"priority\":{\"type\":\"integer\",\"x-mcp-header\":\"Priority\"},"
		"\"verbose\":{\"type\":\"boolean\",\"x-mcp-header\":\"Verbose\"},"
		"\"empty\":{\"type\":\"string\",\"x-mcp-header\":\"EmptyVal\"},"
		"\"pad\":{\"type\":\"string\",\"x-mcp-header\":\"Pad\"},"
		"\"query\":{\"type\":\"string\"}}}";
	static const char call[] =
		"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":"
		"\"my-tool\",\"arguments\":{\"region\":\"us-west1\",\"priority\":"
		"9007199254740993,\"verbose\":null,\"empty\":\"\",\"pad\":\" "
		"x\",\"query\":\"q\"}}}";
	char **h = mcp_wire_headers(call, strlen(call), schema);

	assert_true(has(h, "Mcp-Method: tools/call"));
	assert_true(has(h, "Mcp-Name: my-tool"));
	assert_true(has(h, "Mcp-Param-Region: us-west1"));
	/* the number as written, not a rounded double */
	assert_true(has(h, "Mcp-Param-Priority: 9007199254740993"));
	assert_true(has(h, "Mcp-Param-EmptyVal;")); /* httpc's form of an empty header */
	assert_true(has(h, "Mcp-Param-Pad: =?base64?IHg=?="));
	/* null is omitted, unannotated is never mirrored */
	assert_int_equal(count(h), 6);
	mcp_wire_free_headers(h);
}

static void other_messages_get_method_and_name_only(void **state)
{
	static const char read[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\","
				   "\"params\":{\"uri\":\"file:///a%20b.txt\"}}";
	static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}";
	static const char answer[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
	char **h = mcp_wire_headers(read, strlen(read), NULL);

	assert_true(has(h, "Mcp-Method: resources/read"));
	assert_true(has(h, "Mcp-Name: file:///a%20b.txt"));
	assert_int_equal(count(h), 2);
	mcp_wire_free_headers(h);
	h = mcp_wire_headers(note, strlen(note), NULL);
	assert_true(has(h, "Mcp-Method: notifications/cancelled"));
	assert_int_equal(count(h), 1);
	mcp_wire_free_headers(h);
	assert_null(mcp_wire_headers(answer, strlen(answer), NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(meta_carries_version_info_and_capabilities_and_keeps_the_callers),
		cmocka_unit_test(values_that_a_header_line_could_garble_go_as_base64),
		cmocka_unit_test(invalid_header_annotations_are_refused_with_the_property),
		cmocka_unit_test(a_tool_call_names_its_method_tool_and_annotated_arguments),
		cmocka_unit_test(other_messages_get_method_and_name_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
