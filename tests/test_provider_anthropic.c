/* provider anthropic: the Messages API dialect both ways. Requests: system messages, role
 * merging, tool calls and results, images, tools and tool_choice, max_tokens fallbacks,
 * options kept and dropped, cache_control, the URL, refusals. Answers: text, tool calls,
 * thinking, stop reasons, usage with cache counts. Streams: the same chunks at every split
 * (whole, one byte at a time, pseudo-random pieces), tool-call indexes per tool, error events
 * with their HTTP status, the caps. Errors: Anthropic's shape to OpenAI's and the router's
 * classes (context window, overload, rate limit, auth).
 */
#include "test.h"
#include "router/providers/provider.h"
#include "router/policy.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct config_model model(void)
{
	struct config_model m;

	memset(&m, 0, sizeof(m));
	m.model_name = "claude";
	m.provider = "anthropic";
	m.dialect = DIALECT_ANTHROPIC;
	m.upstream_model = "claude-sonnet-4-5";
	m.litellm_params.api_base = "https://api.anthropic.com";
	return m;
}

/* Builds req (JSON text) for m; returns the body parsed, or NULL with err set. */
static cJSON *build_with(const struct config_model *m, const char *req_text, bool stream,
			 char **url, char *err, size_t err_len)
{
	cJSON *req = json_exact_parse(req_text, strlen(req_text));
	struct provider_request out = {0};
	cJSON *body = NULL;
	int rc;

	assert_non_null(req);
	rc = provider_anthropic.build(m, PROVIDER_CHAT, req, stream, &out, err, err_len);
	if (rc == 0) {
		assert_int_equal(out.body_len, strlen(out.body));
		body = json_exact_parse(out.body, out.body_len);
		assert_non_null(body);
		assert_null(out.headers);
		if (url)
			*url = xstrdup(out.url);
	}
	provider_request_finish(&out);
	cJSON_Delete(req);
	return body;
}

static cJSON *build(const char *req_text)
{
	struct config_model m = model();
	char err[256] = "";
	cJSON *body = build_with(&m, req_text, false, NULL, err, sizeof(err));

	if (!body)
		fail_msg("build refused: %s", err);
	return body;
}

/* The error message of a refused request. */
static void assert_refused(const char *req_text, const char *want)
{
	struct config_model m = model();
	char err[256] = "";

	assert_null(build_with(&m, req_text, false, NULL, err, sizeof(err)));
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not say \"%s\"", err, want);
}

/* The JSON text of a member (or of the whole when path is ""), for compact comparisons. */
static void assert_json(const cJSON *root, const char *path, const char *want)
{
	const cJSON *v = root;
	char name[64], *s;
	const char *p = path, *dot;
	size_t n;

	while (*p) {
		dot = strchr(p, '.');
		n = dot ? (size_t)(dot - p) : strlen(p);
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, (int)strtol(name, NULL, 10))
				     : cJSON_GetObjectItemCaseSensitive(v, name);
		p += n + (dot ? 1 : 0);
	}
	if (!want) {
		assert_null(v);
		return;
	}
	assert_non_null(v);
	s = json_exact_print(v);
	if (strcmp(s, want) != 0)
		fail_msg("%s: got %s, want %s", path, s, want);
	free(s);
}

/* ---- requests ---- */

static void test_system_messages_become_one_string_and_roles_merge(void **state)
{
	char *url = NULL, err[128];
	struct config_model m = model();
	cJSON *b = build_with(
		&m,
		"{\"model\":\"claude\",\"max_tokens\":77,\"messages\":["
		"{\"role\":\"system\",\"content\":\"You are terse.\"},"
		"{\"role\":\"user\",\"content\":\"hi\"},"
		"{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"No "
		"emoji.\"}]},"
		"{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"again\"}]},"
		"{\"role\":\"assistant\",\"content\":\"\"},"
		"{\"role\":\"assistant\",\"content\":\"ok\"}]}",
		false, &url, err, sizeof(err));

	assert_non_null(b);
	assert_string_equal(url, "https://api.anthropic.com/v1/messages");
	assert_json(b, "model", "\"claude-sonnet-4-5\"");
	assert_json(b, "max_tokens", "77");
	assert_json(b, "system", "\"You are terse.\\n\\nNo emoji.\"");
	assert_json(
		b, "messages",
		"[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},{\"type\":"
		"\"text\",\"text\":\"again\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":"
		"\"text\",\"text\":\"ok\"}]}]");
	assert_json(b, "stream", NULL);
	free(url);
	cJSON_Delete(b);
}

static void test_system_with_cache_control_stays_blocks(void **state)
{
	cJSON *b = build("{\"messages\":[{\"role\":\"system\",\"content\":\"Long rules.\","
			 "\"cache_control\":{\"type\":\"ephemeral\"}},{\"role\":\"system\","
			 "\"content\":\"More.\"},{\"role\":\"user\",\"content\":\"q\"}]}");

	assert_json(b, "system",
		    "[{\"type\":\"text\",\"text\":\"Long rules.\",\"cache_control\":{\"type\":"
		    "\"ephemeral\"}},{\"type\":\"text\",\"text\":\"More.\"}]");
	cJSON_Delete(b);
}

static void test_cache_control_goes_onto_the_block(void **state)
{
	cJSON *b = build(
		"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
		"{\"type\":\"text\",\"text\":\"b\",\"cache_control\":{\"type\":\"ephemeral\","
		"\"ttl\":\"1h\"}}]},{\"role\":\"assistant\",\"content\":\"c\",\"cache_control\":"
		"{\"type\":\"ephemeral\"}},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
		"\"text\":\"d\"},{\"type\":\"text\",\"text\":\"e\"}],\"cache_control\":{\"type\":"
		"\"ephemeral\"}}]}");

	assert_json(b, "messages.0.content.0", "{\"type\":\"text\",\"text\":\"a\"}");
	assert_json(b, "messages.0.content.1.cache_control",
		    "{\"type\":\"ephemeral\",\"ttl\":\"1h\"}");
	assert_json(b, "messages.1.content.0.cache_control", "{\"type\":\"ephemeral\"}");
	assert_json(b, "messages.2.content.0.cache_control", NULL);
	assert_json(b, "messages.2.content.1.cache_control", "{\"type\":\"ephemeral\"}");
	cJSON_Delete(b);
}

static void test_tool_calls_and_results_round_trip(void **state)
{
	cJSON *b = build(
		"{\"messages\":[{\"role\":\"user\",\"content\":\"pods?\"},"
		"{\"role\":\"assistant\",\"content\":\"Looking.\",\"tool_calls\":["
		"{\"id\":\"toolu_1\",\"type\":\"function\",\"function\":{\"name\":\"pods_list\","
		"\"arguments\":\"{\\\"ns\\\": \\\"default\\\", \\\"limit\\\": "
		"12345678901234567890}\"}},"
		"{\"id\":\"toolu_2\",\"type\":\"function\",\"function\":{\"name\":\"top\","
		"\"arguments\":\"\"}}]},"
		"{\"role\":\"tool\",\"tool_call_id\":\"toolu_1\",\"content\":\"3 pods\"},"
		"{\"role\":\"tool\",\"tool_call_id\":\"toolu_2\",\"content\":[{\"type\":\"text\","
		"\"text\":\"cpu 5%\"}],\"cache_control\":{\"type\":\"ephemeral\"}},"
		"{\"role\":\"user\",\"content\":\"thanks\"}],"
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"pods_list\","
		"\"description\":\"List pods\",\"parameters\":{\"type\":\"object\",\"properties\":"
		"{\"limit\":{\"type\":\"integer\",\"maximum\":1e3}}}}},{\"type\":\"function\","
		"\"function\":{\"name\":\"top\"},\"cache_control\":{\"type\":\"ephemeral\"}}],"
		"\"tool_choice\":\"required\",\"parallel_tool_calls\":false}");

	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(b, "messages")), 3);
	assert_json(b, "messages.1.content.0", "{\"type\":\"text\",\"text\":\"Looking.\"}");
	assert_json(b, "messages.1.content.1",
		    "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"pods_list\",\"input\":"
		    "{\"ns\":\"default\",\"limit\":12345678901234567890}}");
	assert_json(b, "messages.1.content.2.input", "{}");
	assert_json(b, "messages.2.role", "\"user\"");
	assert_json(
		b, "messages.2.content.0",
		"{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"3 pods\"}");
	assert_json(b, "messages.2.content.1",
		    "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_2\",\"content\":[{\"type\":"
		    "\"text\",\"text\":\"cpu 5%\"}],\"cache_control\":{\"type\":\"ephemeral\"}}");
	assert_json(b, "messages.2.content.2", "{\"type\":\"text\",\"text\":\"thanks\"}");
	assert_json(
		b, "tools.0",
		"{\"name\":\"pods_list\",\"description\":\"List pods\",\"input_schema\":{\"type\":"
		"\"object\",\"properties\":{\"limit\":{\"type\":\"integer\",\"maximum\":1e3}}}}");
	assert_json(b, "tools.1",
		    "{\"name\":\"top\",\"input_schema\":{\"type\":\"object\",\"properties\":{}},"
		    "\"cache_control\":{\"type\":\"ephemeral\"}}");
	assert_json(b, "tool_choice", "{\"type\":\"any\",\"disable_parallel_tool_use\":true}");
	cJSON_Delete(b);
}

struct choice_case {
	const char *extra; /* fields after tools */
	const char *want;  /* tool_choice, NULL = absent */
};

static void test_tool_choice_table(void **state)
{
	static const struct choice_case cases[] = {
		{"", NULL},
		{",\"tool_choice\":\"auto\"", "{\"type\":\"auto\"}"},
		{",\"tool_choice\":\"none\"", "{\"type\":\"none\"}"},
		{",\"tool_choice\":\"required\"", "{\"type\":\"any\"}"},
		{",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}",
		 "{\"type\":\"tool\",\"name\":\"f\"}"},
		{",\"parallel_tool_calls\":false", "{\"type\":\"auto\","
						   "\"disable_parallel_tool_use\":true}"},
		{",\"parallel_tool_calls\":true", NULL},
		{",\"tool_choice\":\"none\",\"parallel_tool_calls\":false", "{\"type\":\"none\"}"},
	};
	char req[512];
	size_t i;
	cJSON *b;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		snprintf(req, sizeof(req),
			 "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{"
			 "\"type\":"
			 "\"function\",\"function\":{\"name\":\"f\"}}]%s}",
			 cases[i].extra);
		b = build(req);
		assert_json(b, "tool_choice", cases[i].want);
		cJSON_Delete(b);
	}
	/* Without tools, tool_choice is not sent (Anthropic refuses it). */
	b = build(
		"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"auto\"}");
	assert_json(b, "tool_choice", NULL);
	assert_json(b, "tools", NULL);
	cJSON_Delete(b);
}

static void test_images_become_base64_or_url_sources(void **state)
{
	cJSON *b = build("{\"messages\":[{\"role\":\"user\",\"content\":["
			 "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,"
			 "iVBORw0K\",\"detail\":\"high\"}},"
			 "{\"type\":\"image_url\",\"image_url\":\"https://example.com/a.jpg\"},"
			 "{\"type\":\"file\",\"file\":{\"file_data\":\"data:application/pdf;base64,"
			 "JVBERi0=\"}},{\"type\":\"text\",\"text\":\"what is it?\"}]}]}");

	assert_json(b, "messages.0.content.0",
		    "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":"
		    "\"image/png\",\"data\":\"iVBORw0K\"}}");
	assert_json(b, "messages.0.content.1",
		    "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":"
		    "\"https://example.com/a.jpg\"}}");
	assert_json(b, "messages.0.content.2.source.media_type", "\"application/pdf\"");
	cJSON_Delete(b);
}

static void test_requests_it_cannot_express_are_refused(void **state)
{
	assert_refused("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t1\","
		       "\"function\":{\"name\":\"f\",\"arguments\":\"{not json\"}}]}]}",
		       "arguments of tool call t1 are not a JSON object");
	assert_refused("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t1\","
		       "\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
		       "not a JSON object");
	assert_refused("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t1\","
		       "\"function\":{\"name\":\"f\",\"arguments\":\"{} trailing\"}}]}]}",
		       "not a JSON object");
	assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
		       "\"image_url\":{\"url\":\"ftp://x/y.png\"}}]}]}",
		       "messages[0]: an image_url must be");
	assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
		       "\"image_url\":{\"url\":\"data:image/png,abc\"}}]}]}",
		       "must be base64");
	assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\","
		       "\"content\":[{\"type\":\"input_audio\"}]}]}",
		       "messages[1]: content part type \"input_audio\"");
	assert_refused("{\"messages\":[{\"role\":\"function\",\"content\":\"a\"}]}",
		       "this role cannot be sent");
	assert_refused("{\"messages\":[{\"role\":\"tool\",\"content\":\"a\"}]}", "tool_call_id");
	assert_refused("{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"image_url\","
		       "\"image_url\":\"https://x/y.png\"}]}]}",
		       "only text parts");
	assert_refused("{\"messages\":{}}", "messages must be an array");
	assert_refused("{\"messages\":[],\"tools\":[{\"type\":\"web_search\"}]}", "tools[0]");
	assert_refused("{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
		       "\"f\"}}],\"tool_choice\":{\"type\":\"function\"}}",
		       "tool_choice must be");
	assert_refused("{\"messages\":[],\"n\":2}", "n must be 1");
}

static void test_non_chat_routes_are_refused(void **state)
{
	struct config_model m = model();
	struct provider_request out = {0};
	cJSON *req = cJSON_Parse("{\"input\":\"x\"}");
	char err[128] = "";

	assert_int_equal(provider_anthropic.build(&m, PROVIDER_EMBEDDINGS, req, false, &out, err,
						  sizeof(err)),
			 -ENOTSUP);
	assert_non_null(strstr(err, "chat completions only"));
	provider_request_finish(&out);
	cJSON_Delete(req);
}

static void test_max_tokens_falls_back_to_the_deployment_then_4096(void **state)
{
	struct config_model m = model();
	const char *bare = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
	char err[128];
	cJSON *b;

	b = build("{\"max_completion_tokens\":321,\"messages\":[]}");
	assert_json(b, "max_tokens", "321");
	cJSON_Delete(b);
	b = build_with(&m, bare, false, NULL, err, sizeof(err));
	assert_json(b, "max_tokens", "4096");
	cJSON_Delete(b);
	m.model_info.max_output_tokens = 64000;
	b = build_with(&m, bare, false, NULL, err, sizeof(err));
	assert_json(b, "max_tokens", "64000");
	cJSON_Delete(b);
	m.litellm_params.max_tokens = 1000;
	b = build_with(&m, bare, false, NULL, err, sizeof(err));
	assert_json(b, "max_tokens", "1000");
	cJSON_Delete(b);
}

static void test_options_kept_and_openai_only_fields_dropped(void **state)
{
	struct config_model m = model();
	char err[128];
	cJSON *b = build_with(
		&m,
		"{\"messages\":[],\"temperature\":0.7,\"top_p\":0.9,\"stop\":\"END\",\"user\":\"u-"
		"1\","
		"\"frequency_penalty\":1,\"presence_penalty\":1,\"seed\":3,\"logprobs\":true,"
		"\"response_format\":{\"type\":\"json_object\"},\"stream_options\":{\"include_"
		"usage\":"
		"true},\"metadata\":{\"k\":\"v\"},\"logit_bias\":{},\"n\":1,\"store\":true,"
		"\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048}}",
		true, NULL, err, sizeof(err));
	static const char *const dropped[] = {"frequency_penalty",
					      "presence_penalty",
					      "seed",
					      "logprobs",
					      "response_format",
					      "stream_options",
					      "logit_bias",
					      "n",
					      "store",
					      "user",
					      "stop"};
	size_t i;

	assert_json(b, "temperature", "0.7");
	assert_json(b, "top_p", "0.9");
	assert_json(b, "stop_sequences", "[\"END\"]");
	assert_json(b, "metadata", "{\"user_id\":\"u-1\"}");
	assert_json(b, "stream", "true");
	assert_json(b, "thinking", "{\"type\":\"enabled\",\"budget_tokens\":2048}");
	for (i = 0; i < ARRAY_LEN(dropped); i++)
		assert_null(cJSON_GetObjectItem(b, dropped[i]));
	cJSON_Delete(b);
	b = build("{\"messages\":[],\"stop\":[\"a\",\"b\"]}");
	assert_json(b, "stop_sequences", "[\"a\",\"b\"]");
	assert_json(b, "metadata", NULL);
	cJSON_Delete(b);
}

static void test_api_base_forms(void **state)
{
	static const char *const cases[][2] = {
		{"https://api.anthropic.com", "https://api.anthropic.com/v1/messages"},
		{"https://proxy.example/anthropic/", "https://proxy.example/anthropic/v1/messages"},
		{"https://proxy.example/v1", "https://proxy.example/v1/messages"},
		{"https://proxy.example/v1/messages/", "https://proxy.example/v1/messages"},
	};
	struct config_model m = model();
	char *url, err[64];
	size_t i;
	cJSON *b;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		m.litellm_params.api_base = (char *)cases[i][0];
		b = build_with(&m, "{\"messages\":[]}", false, &url, err, sizeof(err));
		assert_string_equal(url, cases[i][1]);
		free(url);
		cJSON_Delete(b);
	}
}

/* ---- answers ---- */

static cJSON *translate(const char *body)
{
	struct config_model m = model();
	char *s = provider_anthropic.answer(&m, PROVIDER_CHAT, body, strlen(body));
	cJSON *root;

	assert_non_null(s);
	root = cJSON_Parse(s);
	assert_non_null(root);
	free(s);
	return root;
}

static void test_answer_text_tools_thinking_and_usage(void **state)
{
	cJSON *a = translate(
		"{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
		"\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"thinking\",\"thinking\":"
		"\"Let me see.\",\"signature\":\"sig\"},{\"type\":\"text\",\"text\":\"Two \"},"
		"{\"type\":\"text\",\"text\":\"calls.\"},{\"type\":\"tool_use\",\"id\":\"toolu_a\","
		"\"name\":\"pods_list\",\"input\":{\"ns\":\"default\",\"n\":12345678901234567890}},"
		"{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"top\",\"input\":{}}],"
		"\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":"
		"21,"
		"\"output_tokens\":50,\"cache_creation_input_tokens\":100,"
		"\"cache_read_input_tokens\":188086}}");

	assert_json(a, "id", "\"msg_01\"");
	assert_json(a, "object", "\"chat.completion\"");
	assert_json(a, "model", "\"claude-sonnet-4-5-20250929\"");
	assert_json(a, "choices.0.message.content", "\"Two calls.\"");
	assert_json(a, "choices.0.message.reasoning_content", "\"Let me see.\"");
	assert_json(a, "choices.0.message.thinking_blocks.0.signature", "\"sig\"");
	assert_json(a, "choices.0.message.tool_calls.0",
		    "{\"index\":0,\"id\":\"toolu_a\",\"type\":\"function\",\"function\":{\"name\":"
		    "\"pods_list\",\"arguments\":\"{\\\"ns\\\":\\\"default\\\",\\\"n\\\":"
		    "12345678901234567890}\"}}");
	assert_json(a, "choices.0.message.tool_calls.1.function.arguments", "\"{}\"");
	assert_json(a, "choices.0.finish_reason", "\"tool_calls\"");
	assert_json(a, "usage",
		    "{\"prompt_tokens\":188207,\"completion_tokens\":50,\"total_tokens\":188257,"
		    "\"prompt_tokens_details\":{\"cached_tokens\":188086},"
		    "\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":188086}");
	cJSON_Delete(a);
}

static void test_answer_stop_reasons(void **state)
{
	static const char *const cases[][2] = {
		{"end_turn", "stop"},	       {"stop_sequence", "stop"},
		{"max_tokens", "length"},      {"tool_use", "tool_calls"},
		{"refusal", "content_filter"}, {"pause_turn", "stop"},
		{"something_new", "stop"},     {"model_context_window_exceeded", "length"},
	};
	char body[256], want[64];
	size_t i;
	cJSON *a;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		snprintf(body, sizeof(body),
			 "{\"type\":\"message\",\"content\":[],\"stop_reason\":\"%s\",\"usage\":"
			 "{\"input_tokens\":1,\"output_tokens\":2}}",
			 cases[i][0]);
		snprintf(want, sizeof(want), "\"%s\"", cases[i][1]);
		a = translate(body);
		assert_json(a, "choices.0.finish_reason", want);
		assert_json(a, "choices.0.message.content", "\"\"");
		assert_json(a, "usage.prompt_tokens", "1");
		assert_json(a, "model", "\"claude-sonnet-4-5\"");
		cJSON_Delete(a);
	}
}

static void test_answer_that_is_not_a_message_is_refused(void **state)
{
	struct config_model m = model();
	static const char *const bodies[] = {
		"",
		"not json",
		"[]",
		"{\"type\":\"error\",\"error\":{\"type\":\"api_error\"}}",
		"{\"type\":\"message\"}",
		"{\"choices\":[]}",
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(bodies); i++)
		assert_null(
			provider_anthropic.answer(&m, PROVIDER_CHAT, bodies[i], strlen(bodies[i])));
}

/* ---- streams ---- */

static const char stream_text[] =
	"event: message_start\n"
	"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_s1\",\"type\":\"message\","
	"\"role\":\"assistant\",\"content\":[],\"model\":\"claude-x\",\"stop_reason\":null,"
	"\"usage\":{\"input_tokens\":25,\"output_tokens\":1,\"cache_read_input_tokens\":5,"
	"\"cache_creation_input_tokens\":0}}}\n"
	"\n"
	"event: ping\n"
	"data: {\"type\": \"ping\"}\n"
	"\n"
	"event: content_block_start\r\n"
	"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
	"\"thinking\",\"thinking\":\"\"}}\r\n"
	"\r\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
	"\"thinking_delta\",\"thinking\":\"hmm\"}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
	"\"signature_delta\",\"signature\":\"sig\"}}\n"
	"\n"
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":0}\n"
	"\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\","
	"\"text\":\"\"}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\","
	"\"text\":\"Hello \\\"w\\u00f6rld\\\"\"}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\","
	"\"text\":\"!\\n\"}}\n"
	"\n"
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":1}\n"
	"\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":"
	"\"tool_use\",\"id\":\"toolu_1\",\"name\":\"pods_list\",\"input\":{}}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":"
	"\"input_json_delta\",\"partial_json\":\"\"}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":"
	"\"input_json_delta\",\"partial_json\":\"{\\\"ns\\\": \\\"def\"}}\n"
	"\n"
	": a comment\n"
	"event: ping\n"
	"data: {\"type\": \"ping\"}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":"
	"\"input_json_delta\",\"partial_json\":\"ault\\\"}\"}}\n"
	"\n"
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":2}\n"
	"\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":"
	"\"tool_use\",\"id\":\"toolu_2\",\"name\":\"top\",\"input\":{}}}\n"
	"\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":"
	"\"input_json_delta\",\"partial_json\":\"{}\"}}\n"
	"\n"
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":3}\n"
	"\n"
	"event: message_delta\n"
	"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
	"\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n"
	"\n"
	"event: message_stop\n"
	"data: {\"type\":\"message_stop\"}\n"
	"\n"
	"event: ping\n"
	"data: {\"type\": \"ping\"}\n"
	"\n";

/* Every emitted text, "\x1e"-separated, plus a stop value to test. */
struct sink {
	struct buf all;
	size_t n;
	int stop_at; /* return -ECANCELED at this emit (1-based); 0 = never */
};

static int on_emit(const char *data, size_t len, void *arg)
{
	struct sink *k = arg;

	assert_int_equal(data[len], data[len]); /* readable */
	buf_append(&k->all, data, len);
	buf_puts(&k->all, "\x1e");
	k->n++;
	return k->stop_at && (int)k->n == k->stop_at ? -ECANCELED : 0;
}

/* "created" is the clock's second: zeroed where two runs are compared. */
static void zero_created(struct buf *b)
{
	char *p = b->data;

	while (p && (p = strstr(p, "\"created\":")) != NULL)
		for (p += 10; *p >= '0' && *p <= '9'; p++)
			*p = '0';
}

/* Feeds text in pieces (max_piece 0 = whole, 1 = byte by byte, else pseudo-random sizes). */
static int feed(const char *text, size_t len, size_t max_piece, struct sink *k, size_t cap)
{
	struct config_model m = model();
	struct provider_stream *s = provider_anthropic.stream_create(&m, cap, on_emit, k);
	unsigned seed = 7;
	size_t off = 0, n;
	int rc = 0;

	while (off < len && rc == 0) {
		n = len - off;
		if (max_piece) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % max_piece;
			n = n < len - off ? n : len - off;
		}
		rc = provider_anthropic.stream_feed(s, text + off, n);
		off += n;
	}
	provider_anthropic.stream_destroy(s);
	return rc;
}

static int feed_str(const char *text, size_t max_piece, struct sink *k)
{
	return feed(text, strlen(text), max_piece, k, 4096);
}

/* The emitted texts of a sink, one string each. */
static size_t split_emits(struct sink *k, char **out, size_t max)
{
	char *p = k->all.data, *e;
	size_t n = 0;

	while (p && *p && n < max) {
		e = strchr(p, '\x1e');
		*e = '\0';
		out[n++] = p;
		p = e + 1;
	}
	return n;
}

static void test_stream_translates_at_every_split(void **state)
{
	static const size_t pieces[] = {0, 1, 2, 3, 7, 64};
	struct sink whole = {0}, k;
	char *ev[32], *content = NULL;
	size_t i, n;
	struct buf text = {0}, args0 = {0}, args1 = {0}, reasoning = {0};
	cJSON *c, *d, *tc;

	assert_int_equal(feed(stream_text, strlen(stream_text), 0, &whole, 4096), 0);
	for (i = 1; i < ARRAY_LEN(pieces); i++) {
		memset(&k, 0, sizeof(k));
		assert_int_equal(feed(stream_text, strlen(stream_text), pieces[i], &k, 4096), 0);
		zero_created(&whole.all);
		zero_created(&k.all);
		assert_int_equal(k.n, whole.n);
		assert_string_equal(k.all.data, whole.all.data);
		buf_finish(&k.all);
	}
	/* The first tool's head: index 0 (Anthropic's block index 2), id, type, name. */
	content = strstr(whole.all.data, "\"tool_calls\":[{\"index\":0,\"id\":\"toolu_1\"");
	assert_non_null(content);
	assert_non_null(strstr(content, "\"type\":\"function\",\"function\":{\"name\":"
					"\"pods_list\",\"arguments\":\"\"}"));
	assert_non_null(strstr(whole.all.data, "\"tool_calls\":[{\"index\":1,\"id\":\"toolu_2\""));
	n = split_emits(&whole, ev, ARRAY_LEN(ev));
	assert_string_equal(ev[n - 1], "[DONE]");
	for (i = 0; i + 1 < n; i++) {
		c = cJSON_Parse(ev[i]);
		assert_non_null(c);
		assert_string_equal(cJSON_GetObjectItem(c, "id")->valuestring, "msg_s1");
		assert_string_equal(cJSON_GetObjectItem(c, "object")->valuestring,
				    "chat.completion.chunk");
		assert_string_equal(cJSON_GetObjectItem(c, "model")->valuestring, "claude-x");
		assert_true(cJSON_IsNumber(cJSON_GetObjectItem(c, "created")));
		d = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0),
					"delta");
		if (i == 0)
			assert_string_equal(cJSON_GetObjectItem(d, "role")->valuestring,
					    "assistant");
		if (cJSON_GetObjectItem(d, "content"))
			buf_puts(&text, cJSON_GetObjectItem(d, "content")->valuestring);
		if (cJSON_GetObjectItem(d, "reasoning_content"))
			buf_puts(&reasoning,
				 cJSON_GetObjectItem(d, "reasoning_content")->valuestring);
		tc = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "tool_calls"), 0);
		if (tc)
			buf_puts(cJSON_GetObjectItem(tc, "index")->valueint ? &args1 : &args0,
				 cJSON_GetObjectItem(cJSON_GetObjectItem(tc, "function"),
						     "arguments")
					 ->valuestring);
		cJSON_Delete(c);
	}
	assert_string_equal(buf_str(&text), "Hello \"w\xc3\xb6rld\"!\n");
	assert_string_equal(buf_str(&reasoning), "hmm");
	assert_string_equal(buf_str(&args0), "{\"ns\": \"default\"}");
	assert_string_equal(buf_str(&args1), "{}");
	c = cJSON_Parse(ev[n - 3]);
	assert_json(c, "choices.0.finish_reason", "\"tool_calls\"");
	assert_json(c, "usage.completion_tokens", "42");
	cJSON_Delete(c);
	c = cJSON_Parse(ev[n - 2]);
	assert_json(c, "choices", "[]");
	assert_json(c, "usage",
		    "{\"prompt_tokens\":30,\"completion_tokens\":42,\"total_tokens\":72,"
		    "\"prompt_tokens_details\":{\"cached_tokens\":5},"
		    "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":5}");
	cJSON_Delete(c);
	buf_finish(&text);
	buf_finish(&reasoning);
	buf_finish(&args0);
	buf_finish(&args1);
	buf_finish(&whole.all);
}

static void test_stream_error_event_carries_its_http_status(void **state)
{
	static const char *const cases[][2] = {
		{"overloaded_error", "529"},
		{"rate_limit_error", "429"},
		{"api_error", "500"},
		{"invalid_request_error", "400"},
		{"authentication_error", "401"},
		{"permission_error", "403"},
		{"not_found_error", "404"},
		{"request_too_large", "413"},
		{"timeout_error", "504"},
		{"brand_new_error", "500"},
	};
	char text[512], *ev[8];
	struct sink k;
	size_t i, n;
	cJSON *c;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		memset(&k, 0, sizeof(k));
		snprintf(text, sizeof(text),
			 "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
			 "{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":3}}}\n\n"
			 "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"%s\","
			 "\"message\":\"Overloaded\"}}\n\n"
			 "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
			 cases[i][0]);
		assert_int_equal(feed(text, strlen(text), 1, &k, 4096), 0);
		n = split_emits(&k, ev, ARRAY_LEN(ev));
		assert_int_equal(n, 2); /* the role chunk, the error; nothing after it */
		c = cJSON_Parse(ev[1]);
		assert_json(c, "error.code", cases[i][1]);
		assert_json(c, "error.message", "\"Overloaded\"");
		assert_json(c, "choices", NULL);
		cJSON_Delete(c);
		buf_finish(&k.all);
	}
}

static void test_stream_framing_errors_and_caps(void **state)
{
	struct sink k = {0};
	char big[300];
	const char *start = "event: message_start\ndata: {\"type\":\"message_start\","
			    "\"message\":{}}\n\n";

	assert_int_equal(feed_str("event: ping\ndata: not json\n\n", 0, &k), -EPROTO);
	assert_int_equal(feed_str("event: content_block_start\ndata: {\"index\":\"0\"}\n\n", 1, &k),
			 -EPROTO);
	memset(big, 'x', sizeof(big));
	memcpy(big, "data: ", 6);
	assert_int_equal(feed(big, sizeof(big), 5, &k, 256), -E2BIG);
	/* The emit callback's stop value comes back and sticks. */
	buf_finish(&k.all);
	memset(&k, 0, sizeof(k));
	k.stop_at = 1;
	assert_int_equal(feed(stream_text, strlen(stream_text), 3, &k, 4096), -ECANCELED);
	assert_int_equal(k.n, 1);
	buf_finish(&k.all);
	/* Events with no name are read by their data's type; unknown events are skipped. */
	memset(&k, 0, sizeof(k));
	assert_int_equal(feed(start, strlen(start), 0, &k, 4096), 0);
	assert_int_equal(k.n, 1);
	assert_non_null(strstr(k.all.data, "\"model\":\"claude-sonnet-4-5\""));
	buf_finish(&k.all);
	memset(&k, 0, sizeof(k));
	assert_int_equal(
		feed_str("data: {\"type\":\"message_stop\"}\n\nevent: brand_new\ndata: {}\n\n", 2,
			 &k),
		0);
	assert_int_equal(k.n, 2);
	assert_non_null(strstr(k.all.data, "[DONE]"));
	buf_finish(&k.all);
}

static void test_stream_block_cap(void **state)
{
	struct buf text = {0};
	struct sink k = {0};
	int i;

	for (i = 0; i <= 4096; i++)
		buf_printf(&text,
			   "event: content_block_start\ndata: {\"index\":%d,\"content_block\":"
			   "{\"type\":\"server_tool_use\"}}\n\n",
			   i);
	assert_int_equal(feed(text.data, text.len, 0, &k, 4096), -E2BIG);
	buf_finish(&text);
	buf_finish(&k.all);
}

/* ---- errors ---- */

struct error_case {
	long status;
	const char *body;
	const char *want_code; /* error.code's JSON */
	enum policy_eclass want_class;
};

static void test_errors_map_to_openai_shape_and_classes(void **state)
{
	static const struct error_case cases[] = {
		{400,
		 "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
		 "\"prompt is too long: 210000 tokens > 200000 "
		 "maximum\"},\"request_id\":\"req_1\"}",
		 "\"context_length_exceeded\"", E_CONTEXT},
		{400,
		 "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
		 "\"input length and `max_tokens` exceed context limit: 198000 + 4096 > 200000\"}}",
		 "\"context_length_exceeded\"", E_CONTEXT},
		{400,
		 "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
		 "\"Output blocked by content filtering policy\"}}",
		 "\"content_policy_violation\"", E_POLICY},
		{529,
		 "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
		 "\"Overloaded\"}}",
		 "\"529\"", E_SERVER},
		{429,
		 "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":"
		 "\"slow\"}}",
		 "\"429\"", E_RATE_LIMIT},
		{401,
		 "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":"
		 "\"invalid x-api-key\"}}",
		 "\"401\"", E_AUTH},
		{200,
		 "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
		 "\"Overloaded\"}}",
		 "529", E_SERVER},
	};
	char *out, *msg;
	size_t i;
	cJSON *c;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		out = provider_anthropic.error(cases[i].status, cases[i].body,
					       strlen(cases[i].body));
		assert_non_null(out);
		c = cJSON_Parse(out);
		assert_json(c, "error.code", cases[i].want_code);
		assert_true(cJSON_IsString(
			cJSON_GetObjectItem(cJSON_GetObjectItem(c, "error"), "message")));
		assert_int_equal(policy_classify(cases[i].status, out, &msg), cases[i].want_class);
		free(msg);
		cJSON_Delete(c);
		free(out);
	}
	/* Bodies not in Anthropic's shape are left to the router as they are. */
	assert_null(provider_anthropic.error(502, "<html>bad gateway</html>", 24));
	assert_null(provider_anthropic.error(500, "{\"error\":\"x\"}", 13));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_system_messages_become_one_string_and_roles_merge),
		cmocka_unit_test(test_system_with_cache_control_stays_blocks),
		cmocka_unit_test(test_cache_control_goes_onto_the_block),
		cmocka_unit_test(test_tool_calls_and_results_round_trip),
		cmocka_unit_test(test_tool_choice_table),
		cmocka_unit_test(test_images_become_base64_or_url_sources),
		cmocka_unit_test(test_requests_it_cannot_express_are_refused),
		cmocka_unit_test(test_non_chat_routes_are_refused),
		cmocka_unit_test(test_max_tokens_falls_back_to_the_deployment_then_4096),
		cmocka_unit_test(test_options_kept_and_openai_only_fields_dropped),
		cmocka_unit_test(test_api_base_forms),
		cmocka_unit_test(test_answer_text_tools_thinking_and_usage),
		cmocka_unit_test(test_answer_stop_reasons),
		cmocka_unit_test(test_answer_that_is_not_a_message_is_refused),
		cmocka_unit_test(test_stream_translates_at_every_split),
		cmocka_unit_test(test_stream_error_event_carries_its_http_status),
		cmocka_unit_test(test_stream_framing_errors_and_caps),
		cmocka_unit_test(test_stream_block_cap),
		cmocka_unit_test(test_errors_map_to_openai_shape_and_classes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
