/* mcp_elicit: which requested schemas are taken, how typed answers become values, and the
 * defaults of SEP-1034 applied to what is sent back. */
#include "test.h"
#include "mcp/mcp_elicit.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The form the conformance suite's elicitation-sep1034-client-defaults scenario sends. */
static const char sep1034[] =
	"{\"message\":\"please accept with defaults\",\"requestedSchema\":{\"type\":\"object\","
	"\"properties\":{\"name\":{\"type\":\"string\",\"default\":\"John Doe\"},"
	"\"age\":{\"type\":\"integer\",\"default\":30},"
	"\"score\":{\"type\":\"number\",\"default\":95.5},"
	"\"status\":{\"type\":\"string\",\"enum\":[\"active\",\"inactive\",\"pending\"],"
	"\"default\":\"active\"},"
	"\"verified\":{\"type\":\"boolean\",\"default\":true}},\"required\":[]}}";

static int parse(const char *json, bool url_mode, struct mcp_elicit_form *f, char *err)
{
	return mcp_elicit_parse(json, strlen(json), url_mode, f, err, 256);
}

static void schemas_outside_the_restricted_subset_are_refused_with_where(void **state)
{
	static const struct {
		const char *params, *why;
	} table[] = {
		{"{\"message\":\"m\",\"requestedSchema\":{\"type\":\"object\",\"properties\":"
		 "{\"tags\":{\"type\":\"array\"}}}}",
		 "property tags: an array is taken only as a multi-select"},
		{"{\"message\":\"m\",\"requestedSchema\":{\"type\":\"object\",\"properties\":"
		 "{\"o\":{\"type\":\"object\"}}}}",
		 "property o: type object is not allowed"},
		{"{\"message\":\"m\",\"requestedSchema\":{\"type\":\"string\"}}",
		 "requestedSchema must be an object schema"},
		{"{\"requestedSchema\":{\"type\":\"object\"}}", "message must be a string"},
		{"{\"message\":\"m\",\"requestedSchema\":{\"type\":\"object\",\"properties\":"
		 "{\"a\":{\"type\":\"integer\",\"default\":1.5}}}}",
		 "property a: its default does not fit: a: 1.5 is not an integer"},
		{"{\"message\":\"m\",\"requestedSchema\":{\"type\":\"object\",\"properties\":"
		 "{\"s\":{\"type\":\"string\",\"enum\":[]}}}}",
		 "property s: enum must be an array of 1 to 64 choices"},
		{"{\"message\":\"m\",\"requestedSchema\":{\"type\":\"object\",\"properties\":"
		 "{\"s\":{\"type\":\"string\",\"format\":\"ipv4\"}}}}",
		 "property s: format must be email, uri, date or date-time"},
		{"{\"message\":\"m\",\"requestedSchema\":{\"type\":\"object\",\"properties\":{},"
		 "\"required\":[\"x\"]}}",
		 "requestedSchema.required names x, which is no property"},
		{"{\"message\":\"m\",\"mode\":\"url\",\"url\":\"https://x.example/\","
		 "\"elicitationId\":\"e1\"}",
		 "url mode is not part of the protocol version"},
	};
	struct mcp_elicit_form f;
	char err[256];

	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		err[0] = 0;
		assert_int_equal(parse(table[i].params, false, &f, err), -EINVAL);
		if (!strstr(err, table[i].why))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, table[i].why);
	}
}

static void too_many_fields_are_refused(void **state)
{
	struct buf b = {0};
	struct mcp_elicit_form f;
	char err[256];

	buf_puts(&b,
		 "{\"message\":\"m\",\"requestedSchema\":{\"type\":\"object\",\"properties\":{");
	for (int i = 0; i <= MCP_ELICIT_FIELDS_MAX; i++)
		buf_printf(&b, "%s\"f%d\":{\"type\":\"string\"}", i ? "," : "", i);
	buf_puts(&b, "}}}");
	assert_int_equal(parse(b.data, false, &f, err), -EINVAL);
	assert_non_null(strstr(err, "at most 32 are taken"));
	buf_finish(&b);
}

static void every_field_kind_is_read(void **state)
{
	struct mcp_elicit_form f;
	char err[256];

	assert_int_equal(
		parse("{\"message\":\"Who?\",\"requestedSchema\":{\"type\":\"object\","
		      "\"properties\":{"
		      "\"name\":{\"type\":\"string\",\"title\":\"Name\",\"minLength\":2},"
		      "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":9},"
		      "\"ok\":{\"type\":\"boolean\"},"
		      "\"c\":{\"type\":\"string\",\"oneOf\":[{\"const\":\"r\",\"title\":\"Red\"},"
		      "{\"const\":\"g\",\"title\":\"Green\"}]},"
		      "\"l\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"],\"enumNames\":[\"A\","
		      "\"B\"]}},"
		      "\"required\":[\"name\"]}}",
		      false, &f, err),
		0);
	assert_string_equal(f.message, "Who?");
	assert_int_equal(f.n_fields, 5);
	assert_string_equal(f.fields[0].title, "Name");
	assert_true(f.fields[0].required);
	assert_int_equal(f.fields[1].type, MCP_ELICIT_INTEGER);
	assert_true(f.fields[1].has_max);
	assert_int_equal(f.fields[2].type, MCP_ELICIT_BOOLEAN);
	assert_int_equal(f.fields[3].type, MCP_ELICIT_ENUM);
	assert_string_equal(f.fields[3].option_names[1], "Green");
	assert_string_equal(f.fields[4].option_names[0], "A");
	assert_false(f.fields[2].required);
	mcp_elicit_form_finish(&f);
}

static void url_mode_is_read_where_the_protocol_has_it(void **state)
{
	struct mcp_elicit_form f;
	char err[256];

	assert_int_equal(parse("{\"message\":\"Pay\",\"mode\":\"url\",\"url\":"
			       "\"https://pay.example/x\",\"elicitationId\":\"e1\"}",
			       true, &f, err),
			 0);
	assert_string_equal(f.url, "https://pay.example/x");
	assert_string_equal(f.elicitation_id, "e1");
	mcp_elicit_form_finish(&f);
	assert_int_equal(parse("{\"message\":\"Pay\",\"mode\":\"url\",\"url\":\"javascript:x\","
			       "\"elicitationId\":\"e1\"}",
			       true, &f, err),
			 -EINVAL);
	/* the 2026-07-28 revision's input_required form names no elicitationId */
	assert_int_equal(parse("{\"message\":\"Pay\",\"mode\":\"url\",\"url\":"
			       "\"https://pay.example/x\"}",
			       true, &f, err),
			 0);
	assert_string_equal(f.url, "https://pay.example/x");
	assert_null(f.elicitation_id);
	mcp_elicit_form_finish(&f);
	assert_int_equal(parse("{\"message\":\"Pay\",\"mode\":\"url\",\"url\":"
			       "\"https://pay.example/x\",\"elicitationId\":7}",
			       true, &f, err),
			 -EINVAL);
	assert_string_equal(err, "elicitationId must be a string");
}

static void typed_answers_become_values_or_say_why_not(void **state)
{
	static const struct {
		int field; /* index in the form below */
		const char *typed, *json, *why;
	} table[] = {
		{0, "Ada", "\"Ada\"", NULL},
		{0, "A", NULL, "name: at least 2 characters"},
		{1, "7", "7", NULL},
		{1, "7.5", NULL, "n: 7.5 is not an integer"},
		{1, "12", NULL, "n: 12 is above the maximum 9"},
		{1, "seven", NULL, "n: \"seven\" is not an integer"},
		{2, "y", "true", NULL},
		{2, "No", "false", NULL},
		{2, "maybe", NULL, "ok: answer y or n"},
		{3, "2", "\"g\"", NULL},
		{3, "red", "\"r\"", NULL},
		{3, "g", "\"g\"", NULL},
		{3, "3", NULL, "c: \"3\" is not one of its choices (1-2)"},
		{4, "a@b.example", "\"a@b.example\"", NULL},
		{4, "nobody", NULL, "mail: \"nobody\" is not a valid email"},
		{5, "2026-11-25", "\"2026-11-25\"", NULL},
		{5, "25.11.2026", NULL, "is not a valid date"},
		{6, "0.25", "0.25", NULL},
	};
	struct mcp_elicit_form f;
	char err[256], *json;

	assert_int_equal(
		parse("{\"message\":\"m\",\"requestedSchema\":{\"type\":\"object\",\"properties\":{"
		      "\"name\":{\"type\":\"string\",\"minLength\":2},"
		      "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":9},"
		      "\"ok\":{\"type\":\"boolean\"},"
		      "\"c\":{\"type\":\"string\",\"oneOf\":[{\"const\":\"r\",\"title\":\"Red\"},"
		      "{\"const\":\"g\",\"title\":\"Green\"}]},"
		      "\"mail\":{\"type\":\"string\",\"format\":\"email\"},"
		      "\"day\":{\"type\":\"string\",\"format\":\"date\"},"
		      "\"x\":{\"type\":\"number\"}}}}",
		      false, &f, err),
		0);
	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		int rc = mcp_elicit_value(&f.fields[table[i].field], table[i].typed, &json, err,
					  sizeof(err));

		if (table[i].json) {
			if (rc != 0 || strcmp(json, table[i].json) != 0)
				fail_msg("case %zu (%s): rc %d, %s", i, table[i].typed, rc,
					 rc ? err : json);
		} else if (rc != -EINVAL || !strstr(err, table[i].why)) {
			fail_msg("case %zu (%s): rc %d, \"%s\" lacks \"%s\"", i, table[i].typed, rc,
				 err, table[i].why);
		}
		free(json);
	}
	mcp_elicit_form_finish(&f);
}

static void multi_selects_take_several_choices(void **state)
{
	static const struct {
		const char *typed, *json, *why;
	} table[] = {
		{"1, 3", "[\"Guitar\",\"Violin\"]", NULL},
		{"Piano,drums", NULL, "\"drums\" is not one of its choices"},
		{"Piano,Drums", "[\"Piano\",\"Drums\"]", NULL},
		{"1,1", NULL, "\"Guitar\" is chosen twice"},
		{"1,2,3,4", NULL, "choose at most 3"},
		{"", NULL, "choose at least 1"},
	};
	struct mcp_elicit_form f;
	char err[256], *json, *out;

	/* As server-everything's trigger-elicitation-request asks. */
	assert_int_equal(
		parse("{\"message\":\"m\",\"requestedSchema\":{\"type\":\"object\",\"properties\":{"
		      "\"i\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":3,\"items\":"
		      "{\"type\":\"string\",\"enum\":[\"Guitar\",\"Piano\",\"Violin\",\"Drums\"]},"
		      "\"default\":[\"Guitar\"]},"
		      "\"t\":{\"type\":\"array\",\"items\":{\"anyOf\":[{\"const\":\"fish-1\","
		      "\"title\":\"Tuna\"}]},\"default\":[\"fish-1\"]}}}}",
		      false, &f, err),
		0);
	assert_int_equal(f.fields[0].type, MCP_ELICIT_MULTI);
	assert_string_equal(f.fields[1].option_names[0], "Tuna");
	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		int rc = mcp_elicit_value(&f.fields[0], table[i].typed, &json, err, sizeof(err));

		if (table[i].json) {
			if (rc != 0 || strcmp(json, table[i].json) != 0)
				fail_msg("case %zu (%s): rc %d, %s", i, table[i].typed, rc,
					 rc ? err : json);
		} else if (rc != -EINVAL || !strstr(err, table[i].why)) {
			fail_msg("case %zu (%s): rc %d, \"%s\" lacks \"%s\"", i, table[i].typed, rc,
				 err, table[i].why);
		}
		free(json);
	}
	assert_int_equal(mcp_elicit_content(&f, NULL, &out, err, sizeof(err)), 0);
	assert_string_equal(out, "{\"i\":[\"Guitar\"],\"t\":[\"fish-1\"]}");
	free(out);
	mcp_elicit_form_finish(&f);
}

static void defaults_fill_every_field_left_out(void **state)
{
	struct mcp_elicit_form f;
	char err[256], *out;

	assert_int_equal(parse(sep1034, false, &f, err), 0);
	assert_int_equal(mcp_elicit_content(&f, NULL, &out, err, sizeof(err)), 0);
	assert_string_equal(out, "{\"name\":\"John Doe\",\"age\":30,\"score\":95.5,"
				 "\"status\":\"active\",\"verified\":true}");
	free(out);
	/* What the user gave wins; the rest come from the defaults. */
	assert_int_equal(
		mcp_elicit_content(&f, "{\"age\":41,\"verified\":false}", &out, err, sizeof(err)),
		0);
	assert_string_equal(out, "{\"age\":41,\"verified\":false,\"name\":\"John Doe\","
				 "\"score\":95.5,\"status\":\"active\"}");
	free(out);
	mcp_elicit_form_finish(&f);
}

static void content_is_checked_against_the_form(void **state)
{
	static const struct {
		const char *content, *why;
	} table[] = {
		{"{\"age\":\"x\"}", "age: expected an integer"},
		{"{\"status\":\"gone\"}", "status: \"gone\" is not one of its choices"},
		{"{\"color\":\"red\"}", "color: no such field in the form"},
		{"[1]", "the content must be a JSON object"},
	};
	struct mcp_elicit_form f;
	char err[256], *out;

	assert_int_equal(parse(sep1034, false, &f, err), 0);
	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		assert_int_equal(mcp_elicit_content(&f, table[i].content, &out, err, sizeof(err)),
				 -EINVAL);
		assert_null(out);
		if (!strstr(err, table[i].why))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, table[i].why);
	}
	mcp_elicit_form_finish(&f);
}

static void a_required_field_without_value_or_default_is_refused(void **state)
{
	struct mcp_elicit_form f;
	char err[256], *out;

	assert_int_equal(parse("{\"message\":\"m\",\"requestedSchema\":{\"type\":\"object\","
			       "\"properties\":{\"who\":{\"type\":\"string\"}},"
			       "\"required\":[\"who\"]}}",
			       false, &f, err),
			 0);
	assert_int_equal(mcp_elicit_content(&f, "{}", &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "who: required, and it has no default");
	mcp_elicit_form_finish(&f);
}

static void results_carry_content_only_with_accept(void **state)
{
	char *r = mcp_elicit_result(MCP_ELICIT_ACCEPT, "{\"a\":1}");

	assert_string_equal(r, "{\"action\":\"accept\",\"content\":{\"a\":1}}");
	free(r);
	r = mcp_elicit_result(MCP_ELICIT_DECLINE, "{\"a\":1}");
	assert_string_equal(r, "{\"action\":\"decline\"}");
	free(r);
	r = mcp_elicit_result(MCP_ELICIT_CANCEL, NULL);
	assert_string_equal(r, "{\"action\":\"cancel\"}");
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(schemas_outside_the_restricted_subset_are_refused_with_where),
		cmocka_unit_test(too_many_fields_are_refused),
		cmocka_unit_test(every_field_kind_is_read),
		cmocka_unit_test(url_mode_is_read_where_the_protocol_has_it),
		cmocka_unit_test(typed_answers_become_values_or_say_why_not),
		cmocka_unit_test(multi_selects_take_several_choices),
		cmocka_unit_test(defaults_fill_every_field_left_out),
		cmocka_unit_test(content_is_checked_against_the_form),
		cmocka_unit_test(a_required_field_without_value_or_default_is_refused),
		cmocka_unit_test(results_carry_content_only_with_accept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
