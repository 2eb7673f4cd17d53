/* provider gemini: the OpenAI request as a GenerateContentRequest (turns, system, media, tool
 * calls and answers, tools with their schemas cleaned, tool_choice, generationConfig, URLs),
 * Gemini's answers, streams (whole and split at every byte) and errors back in OpenAI's shape,
 * and the classes the router's policy gives the translated errors.
 */
#include "test.h"
#include "router/policy.h"
#include "router/providers/provider.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct config_model model(const char *api_base)
{
	struct config_model m;

	memset(&m, 0, sizeof(m));
	m.provider = (char *)"gemini";
	m.dialect = DIALECT_GEMINI;
	m.upstream_model = (char *)"gemini-2.5-flash";
	m.litellm_params.api_base = (char *)api_base;
	return m;
}

static const char *const BASE = "https://generativelanguage.googleapis.com";

/* Builds req (JSON text) for route; returns the parsed body, the URL in *url (malloc'd). */
static cJSON *build_route(enum provider_route route, const char *req_text, bool stream, char **url,
			  int *rc_out, char *err, size_t err_len)
{
	struct config_model m = model(BASE);
	struct provider_request out = {0};
	cJSON *req = cJSON_Parse(req_text), *body = NULL;
	int rc;

	assert_non_null(req);
	rc = provider_gemini.build(&m, route, req, stream, &out, err, err_len);
	if (rc_out)
		*rc_out = rc;
	if (rc == 0) {
		body = cJSON_Parse(out.body);
		assert_non_null(body);
		assert_int_equal(out.body_len, strlen(out.body));
		assert_null(out.headers);
		if (url)
			*url = xstrdup(out.url);
	}
	provider_request_finish(&out);
	cJSON_Delete(req);
	return body;
}

static cJSON *build_ok(const char *req_text, bool stream, char **url)
{
	char err[256] = "";
	int rc = -1;
	cJSON *body = build_route(PROVIDER_CHAT, req_text, stream, url, &rc, err, sizeof(err));

	if (rc != 0)
		fail_msg("build refused: %s", err);
	return body;
}

static void build_refused(const char *req_text, const char *want_in_err)
{
	char err[256] = "";
	int rc = 0;
	cJSON *body = build_route(PROVIDER_CHAT, req_text, false, NULL, &rc, err, sizeof(err));

	assert_null(body);
	assert_true(rc < 0);
	if (!strstr(err, want_in_err))
		fail_msg("error \"%s\" does not say \"%s\"", err, want_in_err);
}

/* The value at a path like "contents.1.parts.0.text" (numbers index arrays). */
static cJSON *at(cJSON *root, const char *path)
{
	cJSON *cur = root;
	const char *p = path, *dot;
	char key[64];

	while (cur && *p) {
		dot = strchr(p, '.');
		snprintf(key, sizeof(key), "%.*s", (int)(dot ? dot - p : (long)strlen(p)), p);
		if (cJSON_IsArray(cur))
			cur = cJSON_GetArrayItem(cur, (int)strtol(key, NULL, 10));
		else
			cur = cJSON_GetObjectItemCaseSensitive(cur, key);
		p = dot ? dot + 1 : p + strlen(p);
	}
	return cur;
}

static const char *str_at(cJSON *root, const char *path)
{
	cJSON *v = at(root, path);

	if (!cJSON_IsString(v))
		fail_msg("no string at %s", path);
	return v->valuestring;
}

static double num_at(cJSON *root, const char *path)
{
	cJSON *v = at(root, path);

	if (!cJSON_IsNumber(v))
		fail_msg("no number at %s", path);
	return v->valuedouble;
}

/* ---- request ---- */

static void request_maps_roles_system_and_generation_config(void **state)
{
	char *url = NULL;
	cJSON *b = build_ok(
		"{\"model\":\"g\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
		"{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":"
		"\"Hello\"},"
		"{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Again\"}]}],"
		"\"max_tokens\":100,\"temperature\":0.25,\"top_p\":0.9,\"stop\":\"END\",\"n\":2,"
		"\"response_format\":{\"type\":\"json_object\"},\"seed\":12345678901234567}",
		false, &url);

	assert_string_equal(url, "https://generativelanguage.googleapis.com/v1beta/models/"
				 "gemini-2.5-flash:generateContent");
	assert_string_equal(str_at(b, "systemInstruction.parts.0.text"), "Be brief.");
	assert_int_equal(cJSON_GetArraySize(at(b, "contents")), 3);
	assert_string_equal(str_at(b, "contents.0.role"), "user");
	assert_string_equal(str_at(b, "contents.0.parts.0.text"), "Hi");
	assert_string_equal(str_at(b, "contents.1.role"), "model");
	assert_string_equal(str_at(b, "contents.1.parts.0.text"), "Hello");
	assert_string_equal(str_at(b, "contents.2.parts.0.text"), "Again");
	assert_int_equal(num_at(b, "generationConfig.maxOutputTokens"), 100);
	assert_true(num_at(b, "generationConfig.temperature") == 0.25);
	assert_true(num_at(b, "generationConfig.topP") == 0.9);
	assert_string_equal(str_at(b, "generationConfig.stopSequences.0"), "END");
	assert_int_equal(num_at(b, "generationConfig.candidateCount"), 2);
	assert_string_equal(str_at(b, "generationConfig.responseMimeType"), "application/json");
	assert_null(at(b, "model"));
	assert_null(at(b, "messages"));
	cJSON_Delete(b);
	free(url);
}

static void request_keeps_numbers_as_written(void **state)
{
	struct config_model m = model(BASE);
	struct provider_request out = {0};
	char err[128];
	/* Parsed as the router parses it (json_exact): numbers keep their text. */
	const char *t = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
			"\"seed\":12345678901234567,\"temperature\":0.10}";
	cJSON *req = json_exact_parse(t, strlen(t));

	assert_int_equal(
		provider_gemini.build(&m, PROVIDER_CHAT, req, false, &out, err, sizeof(err)), 0);
	assert_non_null(strstr(out.body, "\"seed\":12345678901234567"));
	assert_non_null(strstr(out.body, "\"temperature\":0.10"));
	provider_request_finish(&out);
	cJSON_Delete(req);
}

static void request_merges_consecutive_turns_of_one_role(void **state)
{
	cJSON *b = build_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
			    "{\"role\":\"user\",\"content\":\"b\"},"
			    "{\"role\":\"assistant\",\"content\":\"c\"},"
			    "{\"role\":\"assistant\",\"content\":\"d\"},"
			    "{\"role\":\"user\",\"content\":\"\"},"
			    "{\"role\":\"developer\",\"content\":\"dev\"},"
			    "{\"role\":\"system\",\"content\":\"sys\"}]}",
			    false, NULL);

	assert_int_equal(cJSON_GetArraySize(at(b, "contents")), 2);
	assert_int_equal(cJSON_GetArraySize(at(b, "contents.0.parts")), 2);
	assert_string_equal(str_at(b, "contents.0.parts.1.text"), "b");
	assert_int_equal(cJSON_GetArraySize(at(b, "contents.1.parts")), 2);
	assert_string_equal(str_at(b, "systemInstruction.parts.0.text"), "dev");
	assert_string_equal(str_at(b, "systemInstruction.parts.1.text"), "sys");
	cJSON_Delete(b);
}

static void request_tool_round_trip(void **state)
{
	cJSON *b = build_ok(
		"{\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},"
		"{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
		"{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
		"\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\",\\\"days\\\":2}\"}},"
		"{\"id\":\"call_2__thought__c2lnbmF0dXJl\",\"type\":\"function\",\"function\":{"
		"\"name\":\"get_time\",\"arguments\":\"\"}}]},"
		"{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"{\\\"temp\\\":3}\"},"
		"{\"role\":\"tool\",\"tool_call_id\":\"call_2__thought__c2lnbmF0dXJl\","
		"\"content\":[{\"type\":\"text\",\"text\":\"12:00\"}]},"
		"{\"role\":\"user\",\"content\":\"thanks\"}]}",
		false, NULL);

	assert_int_equal(cJSON_GetArraySize(at(b, "contents")), 4);
	assert_string_equal(str_at(b, "contents.1.role"), "model");
	assert_string_equal(str_at(b, "contents.1.parts.0.functionCall.name"), "get_weather");
	assert_string_equal(str_at(b, "contents.1.parts.0.functionCall.args.city"), "Oslo");
	assert_int_equal(num_at(b, "contents.1.parts.0.functionCall.args.days"), 2);
	assert_null(at(b, "contents.1.parts.0.thoughtSignature"));
	assert_true(cJSON_IsObject(at(b, "contents.1.parts.1.functionCall.args")));
	assert_string_equal(str_at(b, "contents.1.parts.1.thoughtSignature"), "c2lnbmF0dXJl");
	/* Both answers in one user turn holding only function responses. */
	assert_string_equal(str_at(b, "contents.2.role"), "user");
	assert_int_equal(cJSON_GetArraySize(at(b, "contents.2.parts")), 2);
	assert_string_equal(str_at(b, "contents.2.parts.0.functionResponse.name"), "get_weather");
	assert_int_equal(num_at(b, "contents.2.parts.0.functionResponse.response.temp"), 3);
	assert_string_equal(str_at(b, "contents.2.parts.1.functionResponse.name"), "get_time");
	assert_string_equal(str_at(b, "contents.2.parts.1.functionResponse.response.content"),
			    "12:00");
	/* The user's text after them starts its own turn. */
	assert_string_equal(str_at(b, "contents.3.role"), "user");
	assert_string_equal(str_at(b, "contents.3.parts.0.text"), "thanks");
	cJSON_Delete(b);
}

static void request_refuses_arguments_that_are_not_an_object(void **state)
{
	build_refused(
		"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\","
		"\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{oops\"}}]}]}",
		"messages[0].tool_calls[0].function.arguments is not a JSON object");
	build_refused(
		"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\","
		"\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
		"is not a JSON object");
}

static void request_refuses_a_tool_answer_without_its_call(void **state)
{
	build_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
		      "{\"role\":\"tool\",\"tool_call_id\":\"call_9\",\"content\":\"r\"}]}",
		      "tool_call_id \"call_9\", which no earlier assistant tool_calls entry has");
	/* A call that comes only later does not name an earlier answer either. */
	build_refused("{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"r\"},"
		      "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
		      "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]}",
		      "tool_call_id \"c\"");
}

static void request_tools_are_declared_with_clean_schemas(void **state)
{
	cJSON *b = build_ok(
		"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":["
		"{\"type\":\"function\",\"function\":{\"name\":\"search\",\"description\":\"Find\","
		"\"strict\":true,\"parameters\":{\"$schema\":\"http://json-schema.org/draft-07/"
		"schema#\",\"type\":\"object\",\"additionalProperties\":false,\"title\":\"S\","
		"\"properties\":{\"title\":{\"type\":\"string\",\"title\":\"T\"},"
		"\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
		"\"additionalProperties\":false,\"properties\":{\"k\":{\"type\":\"string\"}}}},"
		"\"limit\":{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"null\"}]},"
		"\"mode\":{\"type\":[\"string\",\"null\"]}},\"required\":[\"title\"]}}},"
		"{\"type\":\"function\",\"function\":{\"name\":\"noargs\",\"parameters\":"
		"{\"type\":\"object\",\"properties\":{}}}}]}",
		false, NULL);
	cJSON *p = at(b, "tools.0.functionDeclarations.0.parameters");

	assert_int_equal(cJSON_GetArraySize(at(b, "tools")), 1);
	assert_string_equal(str_at(b, "tools.0.functionDeclarations.0.name"), "search");
	assert_string_equal(str_at(b, "tools.0.functionDeclarations.0.description"), "Find");
	assert_null(at(b, "tools.0.functionDeclarations.0.strict"));
	assert_null(at(p, "$schema"));
	assert_null(at(p, "additionalProperties"));
	assert_null(at(p, "title"));
	/* A property named "title" is a property, not the keyword. */
	assert_string_equal(str_at(p, "properties.title.type"), "string");
	assert_null(at(p, "properties.title.title"));
	assert_null(at(p, "properties.tags.items.additionalProperties"));
	assert_string_equal(str_at(p, "properties.tags.items.properties.k.type"), "string");
	assert_int_equal(cJSON_GetArraySize(at(p, "properties.limit.anyOf")), 1);
	assert_true(cJSON_IsTrue(at(p, "properties.limit.anyOf.0.nullable")));
	assert_string_equal(str_at(p, "properties.mode.type"), "string");
	assert_true(cJSON_IsTrue(at(p, "properties.mode.nullable")));
	assert_string_equal(str_at(p, "required.0"), "title");
	assert_string_equal(str_at(b, "tools.0.functionDeclarations.1.name"), "noargs");
	assert_null(at(b, "tools.0.functionDeclarations.1.parameters"));
	cJSON_Delete(b);
}

static void request_tool_choice_modes(void **state)
{
	static const struct {
		const char *choice;
		const char *mode;
		const char *allowed;
	} cases[] = {
		{"\"auto\"", "AUTO", NULL},
		{"\"none\"", "NONE", NULL},
		{"\"required\"", "ANY", NULL},
		{"{\"type\":\"function\",\"function\":{\"name\":\"f\"}}", "ANY", "f"},
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		char *req = xasprintf("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
				      "\"tools\":[{\"type\":\"function\",\"function\":"
				      "{\"name\":\"f\"}}],\"tool_choice\":%s}",
				      cases[i].choice);
		cJSON *b = build_ok(req, false, NULL);

		assert_string_equal(str_at(b, "toolConfig.functionCallingConfig.mode"),
				    cases[i].mode);
		if (cases[i].allowed)
			assert_string_equal(
				str_at(b,
				       "toolConfig.functionCallingConfig.allowedFunctionNames.0"),
				cases[i].allowed);
		else
			assert_null(at(b, "toolConfig.functionCallingConfig.allowedFunctionNames"));
		cJSON_Delete(b);
		free(req);
	}
	build_refused("{\"messages\":[],\"tool_choice\":\"sometimes\"}", "tool_choice must be");
}

static void request_images_go_inline(void **state)
{
	cJSON *b = build_ok("{\"messages\":[{\"role\":\"user\",\"content\":["
			    "{\"type\":\"text\",\"text\":\"what is it?\"},"
			    "{\"type\":\"image_url\",\"image_url\":{\"url\":"
			    "\"data:image/png;base64,iVBORw0KGgo=\"}}]}]}",
			    false, NULL);

	assert_string_equal(str_at(b, "contents.0.parts.1.inlineData.mimeType"), "image/png");
	assert_string_equal(str_at(b, "contents.0.parts.1.inlineData.data"), "iVBORw0KGgo=");
	cJSON_Delete(b);
	build_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
		      "\"image_url\":{\"url\":\"https://example.com/cat.png\"}}]}]}",
		      "messages[0].content[0] must be a data: URL");
	build_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
		      "\"image_url\":{\"url\":\"data:image/png,abc\"}}]}]}",
		      "without a mime type or ;base64,");
}

static void request_urls(void **state)
{
	struct {
		const char *base;
		bool stream;
		const char *want;
	} cases[] = {
		{"https://generativelanguage.googleapis.com/", true,
		 "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:"
		 "streamGenerateContent?alt=sse"},
		{"http://127.0.0.1:9/v1beta", false,
		 "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:generateContent"},
		{"http://proxy/gemini/v1/", false,
		 "http://proxy/gemini/v1/models/gemini-2.5-flash:generateContent"},
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct config_model m = model(cases[i].base);
		struct provider_request out = {0};
		cJSON *req = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
		char err[64];

		assert_int_equal(provider_gemini.build(&m, PROVIDER_CHAT, req, cases[i].stream,
						       &out, err, sizeof(err)),
				 0);
		assert_string_equal(out.url, cases[i].want);
		provider_request_finish(&out);
		cJSON_Delete(req);
	}
}

static void request_refuses_what_gemini_cannot_take(void **state)
{
	char err[256] = "";
	int rc = 0;

	assert_null(build_route(PROVIDER_COMPLETIONS, "{\"prompt\":\"x\"}", false, NULL, &rc, err,
				sizeof(err)));
	assert_int_equal(rc, -ENOTSUP);
	build_refused("{\"messages\":{}}", "messages must be an array");
	build_refused("{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
		      "messages[0].role \"robot\"");
	build_refused("{\"messages\":[],\"tools\":[{\"type\":\"web_search\"}]}",
		      "tools[0] is not a {\"type\":\"function\"} tool");
	rc = 0;
	assert_null(build_route(PROVIDER_CHAT,
				"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}",
				true, NULL, &rc, err, sizeof(err)));
	assert_non_null(strstr(err, "n > 1 is not supported with stream"));
}

static void request_reasoning_effort_asks_for_thoughts(void **state)
{
	cJSON *b = build_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
			    "\"reasoning_effort\":\"low\",\"max_completion_tokens\":50,"
			    "\"max_tokens\":70}",
			    false, NULL);

	assert_int_equal(num_at(b, "generationConfig.thinkingConfig.thinkingBudget"), 1024);
	assert_true(cJSON_IsTrue(at(b, "generationConfig.thinkingConfig.includeThoughts")));
	assert_int_equal(num_at(b, "generationConfig.maxOutputTokens"), 50);
	cJSON_Delete(b);
}

static void request_embeddings_use_batch_embed_contents(void **state)
{
	char err[256] = "", *url = NULL;
	int rc = -1;
	cJSON *b = build_route(PROVIDER_EMBEDDINGS,
			       "{\"model\":\"e\",\"input\":[\"one\",\"two\"],\"dimensions\":8}",
			       false, &url, &rc, err, sizeof(err));

	assert_int_equal(rc, 0);
	assert_string_equal(url, "https://generativelanguage.googleapis.com/v1beta/models/"
				 "gemini-2.5-flash:batchEmbedContents");
	assert_int_equal(cJSON_GetArraySize(at(b, "requests")), 2);
	assert_string_equal(str_at(b, "requests.0.model"), "models/gemini-2.5-flash");
	assert_string_equal(str_at(b, "requests.1.content.parts.0.text"), "two");
	assert_int_equal(num_at(b, "requests.0.outputDimensionality"), 8);
	cJSON_Delete(b);
	free(url);
	b = build_route(PROVIDER_EMBEDDINGS, "{\"input\":[[1,2]]}", false, NULL, &rc, err,
			sizeof(err));
	assert_null(b);
	assert_non_null(strstr(err, "token arrays"));
}

/* ---- answer ---- */

static cJSON *answer_of(const char *body)
{
	struct config_model m = model(BASE);
	char *text = provider_gemini.answer(&m, PROVIDER_CHAT, body, strlen(body));
	cJSON *root;

	if (!text)
		return NULL;
	root = cJSON_Parse(text);
	assert_non_null(root);
	free(text);
	return root;
}

static void answer_text_and_usage(void **state)
{
	cJSON *a = answer_of(
		"{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"},"
		"{\"text\":\"lo\"}]},\"finishReason\":\"STOP\",\"index\":0}],"
		"\"usageMetadata\":{\"promptTokenCount\":7,\"candidatesTokenCount\":2,"
		"\"totalTokenCount\":9},\"modelVersion\":\"gemini-2.5-flash-001\","
		"\"responseId\":\"abc\"}");

	assert_string_equal(str_at(a, "object"), "chat.completion");
	assert_string_equal(str_at(a, "id"), "chatcmpl-abc");
	assert_string_equal(str_at(a, "model"), "gemini-2.5-flash-001");
	assert_string_equal(str_at(a, "choices.0.message.role"), "assistant");
	assert_string_equal(str_at(a, "choices.0.message.content"), "Hello");
	assert_string_equal(str_at(a, "choices.0.finish_reason"), "stop");
	assert_int_equal(num_at(a, "usage.prompt_tokens"), 7);
	assert_int_equal(num_at(a, "usage.completion_tokens"), 2);
	assert_int_equal(num_at(a, "usage.total_tokens"), 9);
	cJSON_Delete(a);
}

static void answer_function_calls_become_tool_calls(void **state)
{
	cJSON *a =
		answer_of("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
			  "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Oslo\","
			  "\"n\":12345678901234567}},\"thoughtSignature\":\"U0lH\"},"
			  "{\"functionCall\":{\"name\":\"ping\"}}]},\"finishReason\":\"STOP\"}]}");
	const char *id0 = str_at(a, "choices.0.message.tool_calls.0.id");
	const char *id1 = str_at(a, "choices.0.message.tool_calls.1.id");

	assert_true(cJSON_IsNull(at(a, "choices.0.message.content")));
	assert_string_equal(str_at(a, "choices.0.finish_reason"), "tool_calls");
	assert_int_equal(strncmp(id0, "call_", 5), 0);
	assert_non_null(strstr(id0, "__thought__U0lH"));
	assert_int_equal(strncmp(id1, "call_", 5), 0);
	assert_null(strstr(id1, "__thought__"));
	assert_string_not_equal(id0, id1);
	assert_string_equal(str_at(a, "choices.0.message.tool_calls.0.type"), "function");
	assert_string_equal(str_at(a, "choices.0.message.tool_calls.0.function.name"),
			    "get_weather");
	assert_string_equal(str_at(a, "choices.0.message.tool_calls.0.function.arguments"),
			    "{\"city\":\"Oslo\",\"n\":12345678901234567}");
	assert_string_equal(str_at(a, "choices.0.message.tool_calls.1.function.arguments"), "{}");
	assert_null(at(a, "choices.0.message.tool_calls.0.index"));
	cJSON_Delete(a);
}

static void answer_thoughts_and_cached_tokens(void **state)
{
	cJSON *a = answer_of(
		"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hmm\",\"thought\":true},"
		"{\"text\":\"42\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{"
		"\"promptTokenCount\":100,\"candidatesTokenCount\":1,\"thoughtsTokenCount\":30,"
		"\"cachedContentTokenCount\":64}}");

	assert_string_equal(str_at(a, "choices.0.message.content"), "42");
	assert_string_equal(str_at(a, "choices.0.message.reasoning_content"), "hmm");
	assert_int_equal(num_at(a, "usage.completion_tokens"), 31);
	assert_int_equal(num_at(a, "usage.total_tokens"), 131);
	assert_int_equal(num_at(a, "usage.prompt_tokens_details.cached_tokens"), 64);
	assert_int_equal(num_at(a, "usage.completion_tokens_details.reasoning_tokens"), 30);
	cJSON_Delete(a);
}

static void answer_finish_reasons(void **state)
{
	static const char *const cases[][2] = {
		{"STOP", "stop"},
		{"MAX_TOKENS", "length"},
		{"SAFETY", "content_filter"},
		{"RECITATION", "content_filter"},
		{"BLOCKLIST", "content_filter"},
		{"PROHIBITED_CONTENT", "content_filter"},
		{"SPII", "content_filter"},
		{"OTHER", "stop"},
		{"MALFORMED_FUNCTION_CALL", "stop"},
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		char *body =
			xasprintf("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},"
				  "\"finishReason\":\"%s\"}]}",
				  cases[i][0]);
		cJSON *a = answer_of(body);

		assert_string_equal(str_at(a, "choices.0.finish_reason"), cases[i][1]);
		cJSON_Delete(a);
		free(body);
	}
}

static void answer_blocked_prompt_is_a_content_policy_error(void **state)
{
	struct config_model m = model(BASE);
	const char *body = "{\"promptFeedback\":{\"blockReason\":\"SAFETY\",\"safetyRatings\":[]},"
			   "\"usageMetadata\":{\"promptTokenCount\":5}}";
	char *text = provider_gemini.answer(&m, PROVIDER_CHAT, body, strlen(body)), *msg = NULL,
	     *norm;
	cJSON *a = cJSON_Parse(text);

	assert_string_equal(str_at(a, "error.code"), "content_policy_violation");
	assert_non_null(strstr(str_at(a, "error.message"), "SAFETY"));
	assert_null(at(a, "choices"));
	/* The router hands an error in a 200 answer to error() first: it passes as it is. */
	norm = provider_gemini.error(200, text, strlen(text));
	assert_null(norm);
	assert_int_equal(policy_classify(200, text, &msg), E_POLICY);
	free(msg);
	free(text);
	cJSON_Delete(a);
}

static void answer_refuses_what_is_not_an_answer(void **state)
{
	assert_null(
		answer_of("{\"error\":{\"code\":500,\"message\":\"x\",\"status\":\"INTERNAL\"}}"));
	assert_null(answer_of("[1,2]"));
	assert_null(answer_of("not json"));
	assert_null(answer_of("{\"something\":1}"));
}

static void answer_embeddings(void **state)
{
	cJSON *a = answer_of("{\"embeddings\":[{\"values\":[0.5,-1]},{\"values\":[2]}]}");

	assert_string_equal(str_at(a, "object"), "list");
	assert_string_equal(str_at(a, "data.0.object"), "embedding");
	assert_int_equal(num_at(a, "data.1.index"), 1);
	assert_true(num_at(a, "data.0.embedding.1") == -1);
	/* Google reports no token counts: no usage, so the router bills an estimate instead of
	 * a zero it never saw. */
	assert_null(cJSON_GetObjectItemCaseSensitive(a, "usage"));
	cJSON_Delete(a);
}

/* ---- stream ---- */

struct sink {
	char *events[64];
	size_t n;
	int stop_at; /* > 0: return -ECANCELED at this event number */
};

static int collect(const char *data, size_t len, void *arg)
{
	struct sink *k = arg;

	assert_true(k->n < ARRAY_LEN(k->events));
	assert_int_equal(strlen(data), len);
	k->events[k->n++] = xstrndup(data, len);
	if (k->stop_at > 0 && (int)k->n == k->stop_at)
		return -ECANCELED;
	return 0;
}

static void sink_free(struct sink *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->events[i]);
	k->n = 0;
}

/* Feeds text in pieces of `piece` bytes (0 = whole); returns the last feed's value. */
static int feed(struct sink *k, const char *text, size_t piece, size_t cap)
{
	struct config_model m = model(BASE);
	struct provider_stream *s = provider_gemini.stream_create(&m, cap, collect, k);
	size_t off = 0, len = strlen(text), n;
	int rc = 0;

	while (off < len && rc == 0) {
		n = piece && piece < len - off ? piece : len - off;
		rc = provider_gemini.stream_feed(s, text + off, n);
		off += n;
	}
	provider_gemini.stream_destroy(s);
	return rc;
}

static const char TEXT_STREAM[] =
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}],\"role\":\"model\"},"
	"\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":4,\"totalTokenCount\":4},"
	"\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\r\n\r\n"
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hmm\",\"thought\":true}],"
	"\"role\":\"model\"},\"index\":0}]}\r\n\r\n"
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"lo ☃\"}],\"role\":\"model\"},"
	"\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":4,"
	"\"candidatesTokenCount\":2,\"thoughtsTokenCount\":3,\"totalTokenCount\":9},"
	"\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\r\n\r\n";

static void check_text_stream(struct sink *k)
{
	cJSON *c;

	assert_int_equal(k->n, 5);
	c = cJSON_Parse(k->events[0]);
	assert_string_equal(str_at(c, "object"), "chat.completion.chunk");
	assert_string_equal(str_at(c, "id"), "chatcmpl-r1");
	assert_string_equal(str_at(c, "choices.0.delta.role"), "assistant");
	assert_string_equal(str_at(c, "choices.0.delta.content"), "Hel");
	assert_true(cJSON_IsNull(at(c, "choices.0.finish_reason")));
	cJSON_Delete(c);
	c = cJSON_Parse(k->events[1]);
	assert_null(at(c, "choices.0.delta.role"));
	assert_null(at(c, "choices.0.delta.content"));
	/* An event without modelVersion keeps the stream's model and id. */
	assert_string_equal(str_at(c, "model"), "gemini-2.5-flash");
	assert_string_equal(str_at(c, "id"), "chatcmpl-r1");
	assert_string_equal(str_at(c, "choices.0.delta.reasoning_content"), "hmm");
	cJSON_Delete(c);
	c = cJSON_Parse(k->events[2]);
	assert_string_equal(str_at(c, "choices.0.delta.content"), "lo ☃");
	assert_string_equal(str_at(c, "choices.0.finish_reason"), "stop");
	assert_string_equal(str_at(c, "id"), "chatcmpl-r1");
	cJSON_Delete(c);
	c = cJSON_Parse(k->events[3]);
	assert_int_equal(cJSON_GetArraySize(at(c, "choices")), 0);
	assert_true(cJSON_IsArray(at(c, "choices")));
	assert_int_equal(num_at(c, "usage.prompt_tokens"), 4);
	assert_int_equal(num_at(c, "usage.completion_tokens"), 5);
	assert_int_equal(num_at(c, "usage.total_tokens"), 9);
	cJSON_Delete(c);
	assert_string_equal(k->events[4], "[DONE]");
}

static void stream_text_whole_and_byte_by_byte(void **state)
{
	struct sink k = {0};
	size_t piece;

	for (piece = 0; piece <= 7; piece++) {
		assert_int_equal(feed(&k, TEXT_STREAM, piece, 1 << 16), 0);
		check_text_stream(&k);
		sink_free(&k);
	}
}

static void stream_function_call_is_one_complete_delta(void **state)
{
	struct sink k = {0};
	const char *text =
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Let me "
		"check.\"}]}}]}\n\n"
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"a\","
		"\"args\":{\"x\":1}}},{\"functionCall\":{\"name\":\"b\",\"args\":{}}}]},"
		"\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":3,"
		"\"candidatesTokenCount\":4}}\n\n";
	cJSON *c;

	assert_int_equal(feed(&k, text, 1, 4096), 0);
	assert_int_equal(k.n, 4);
	c = cJSON_Parse(k.events[1]);
	assert_int_equal(num_at(c, "choices.0.delta.tool_calls.0.index"), 0);
	assert_int_equal(num_at(c, "choices.0.delta.tool_calls.1.index"), 1);
	assert_int_equal(strncmp(str_at(c, "choices.0.delta.tool_calls.0.id"), "call_", 5), 0);
	assert_string_equal(str_at(c, "choices.0.delta.tool_calls.0.function.name"), "a");
	assert_string_equal(str_at(c, "choices.0.delta.tool_calls.0.function.arguments"),
			    "{\"x\":1}");
	assert_string_equal(str_at(c, "choices.0.finish_reason"), "tool_calls");
	cJSON_Delete(c);
	assert_string_equal(k.events[3], "[DONE]");
	sink_free(&k);
}

static void stream_error_event_carries_the_http_code(void **state)
{
	struct sink k = {0};
	const char *text =
		"data: {\"error\":{\"code\":429,\"message\":\"Resource has been exhausted (e.g. "
		"check quota).\",\"status\":\"RESOURCE_EXHAUSTED\"}}\n\n"
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"late\"}]}}]}\n\n";
	char *msg = NULL;
	cJSON *c;

	assert_int_equal(feed(&k, text, 3, 4096), 0);
	assert_int_equal(k.n, 1);
	c = cJSON_Parse(k.events[0]);
	assert_int_equal(num_at(c, "error.code"), 429);
	assert_string_equal(str_at(c, "error.type"), "rate_limit_error");
	assert_null(at(c, "choices"));
	cJSON_Delete(c);
	assert_int_equal(policy_classify(429, k.events[0], &msg), E_RATE_LIMIT);
	free(msg);
	sink_free(&k);
}

static void stream_blocked_prompt_is_a_policy_error_chunk(void **state)
{
	struct sink k = {0};
	const char *text = "data: {\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},"
			   "\"usageMetadata\":{\"promptTokenCount\":9}}\n\n";
	char *msg = NULL;
	cJSON *c;

	assert_int_equal(feed(&k, text, 0, 4096), 0);
	assert_int_equal(k.n, 1);
	c = cJSON_Parse(k.events[0]);
	assert_int_equal(num_at(c, "error.code"), 400);
	cJSON_Delete(c);
	/* As the router reads an error chunk before anything reached the client. */
	assert_int_equal(policy_classify(400, k.events[0], &msg), E_POLICY);
	free(msg);
	sink_free(&k);
}

static void stream_framing_errors_and_caps(void **state)
{
	struct sink k = {0};
	char big[600];

	assert_int_equal(feed(&k, "data: {not json\n\n", 2, 4096), -EPROTO);
	assert_int_equal(k.n, 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char *text = xasprintf("data: {\"x\":\"%s\"}\n\n", big);

		assert_int_equal(feed(&k, text, 0, 256), -E2BIG);
		free(text);
	}
	assert_int_equal(k.n, 0);
	/* The emit callback's stop value comes back from stream_feed. */
	k.stop_at = 1;
	assert_int_equal(feed(&k, TEXT_STREAM, 5, 4096), -ECANCELED);
	assert_int_equal(k.n, 1);
	sink_free(&k);
}

static void stream_ignores_events_after_the_end(void **state)
{
	struct sink k = {0};
	char *text = xasprintf("%sdata: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
			       "\"more\"}]}}]}\n\n",
			       TEXT_STREAM);

	assert_int_equal(feed(&k, text, 0, 4096), 0);
	check_text_stream(&k);
	sink_free(&k);
	free(text);
}

/* ---- errors ---- */

struct error_case {
	const char *name;
	long status;
	const char *body;
	const char *type;
	const char *code; /* NULL: the status as a number */
	enum policy_eclass cls;
};

static const struct error_case error_cases[] = {
	{"token limit is context_length_exceeded", 400,
	 "{\"error\":{\"code\":400,\"message\":\"The input token count (1054016) exceeds the "
	 "maximum number of tokens allowed (1048576).\",\"status\":\"INVALID_ARGUMENT\"}}",
	 "invalid_request_error", "context_length_exceeded", E_CONTEXT},
	{"bad key is a bad request", 400,
	 "{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API key.\","
	 "\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":\"type.googleapis.com/"
	 "google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\"}]}}",
	 "invalid_request_error", NULL, E_BAD_REQUEST},
	{"permission denied is auth", 403,
	 "{\"error\":{\"code\":403,\"message\":\"Method doesn't allow unregistered callers\","
	 "\"status\":\"PERMISSION_DENIED\"}}",
	 "authentication_error", NULL, E_AUTH},
	{"not found", 404,
	 "{\"error\":{\"code\":404,\"message\":\"models/x is not found for API version v1beta\","
	 "\"status\":\"NOT_FOUND\"}}",
	 "not_found_error", NULL, E_NOT_FOUND},
	{"quota is a rate limit", 429,
	 "{\"error\":{\"code\":429,\"message\":\"You exceeded your current quota\","
	 "\"status\":\"RESOURCE_EXHAUSTED\"}}",
	 "rate_limit_error", NULL, E_RATE_LIMIT},
	{"internal is server", 500,
	 "{\"error\":{\"code\":500,\"message\":\"An internal error has occurred.\","
	 "\"status\":\"INTERNAL\"}}",
	 "api_error", NULL, E_SERVER},
	{"overloaded is server", 503,
	 "{\"error\":{\"code\":503,\"message\":\"The model is overloaded. Please try again "
	 "later.\",\"status\":\"UNAVAILABLE\"}}",
	 "api_error", NULL, E_SERVER},
	{"deadline is server", 504,
	 "[{\"error\":{\"code\":504,\"message\":\"Deadline exceeded\","
	 "\"status\":\"DEADLINE_EXCEEDED\"}}]",
	 "api_error", NULL, E_SERVER},
	{"error inside a 200 takes its code", 200,
	 "{\"error\":{\"code\":503,\"message\":\"overloaded\",\"status\":\"UNAVAILABLE\"}}",
	 "api_error", NULL, E_SERVER},
};

static void errors_map_to_openai_shape_and_classes(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(error_cases); i++) {
		const struct error_case *c = &error_cases[i];
		char *norm = provider_gemini.error(c->status, c->body, strlen(c->body)),
		     *msg = NULL;
		cJSON *e;

		if (!norm)
			fail_msg("%s: not translated", c->name);
		e = cJSON_Parse(norm);
		assert_string_equal(str_at(e, "error.type"), c->type);
		assert_true(cJSON_IsNull(at(e, "error.param")));
		if (c->code)
			assert_string_equal(str_at(e, "error.code"), c->code);
		else
			assert_int_equal(num_at(e, "error.code"),
					 c->status == 200 ? 503 : c->status);
		assert_true(strlen(str_at(e, "error.message")) > 0);
		if (policy_classify(c->status, norm, &msg) != c->cls)
			fail_msg("%s: class %d, want %d", c->name,
				 (int)policy_classify(c->status, norm, &msg), (int)c->cls);
		free(msg);
		cJSON_Delete(e);
		free(norm);
	}
}

static void errors_keep_google_status_in_the_message(void **state)
{
	const char *body = "{\"error\":{\"code\":429,\"message\":\"slow down\","
			   "\"status\":\"RESOURCE_EXHAUSTED\"}}";
	char *norm = provider_gemini.error(429, body, strlen(body));
	cJSON *e = cJSON_Parse(norm);

	assert_string_equal(str_at(e, "error.message"), "slow down (RESOURCE_EXHAUSTED)");
	cJSON_Delete(e);
	free(norm);
}

static void errors_not_in_google_shape_pass_through(void **state)
{
	const char *openai = "{\"error\":{\"message\":\"m\",\"type\":\"t\",\"code\":\"c\"}}";

	assert_null(provider_gemini.error(502, "<html>Bad Gateway</html>", 24));
	assert_null(provider_gemini.error(500, "{}", 2));
	assert_null(provider_gemini.error(400, openai, strlen(openai)));
	assert_null(provider_gemini.error(500, NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_maps_roles_system_and_generation_config),
		cmocka_unit_test(request_keeps_numbers_as_written),
		cmocka_unit_test(request_merges_consecutive_turns_of_one_role),
		cmocka_unit_test(request_tool_round_trip),
		cmocka_unit_test(request_refuses_arguments_that_are_not_an_object),
		cmocka_unit_test(request_refuses_a_tool_answer_without_its_call),
		cmocka_unit_test(request_tools_are_declared_with_clean_schemas),
		cmocka_unit_test(request_tool_choice_modes),
		cmocka_unit_test(request_images_go_inline),
		cmocka_unit_test(request_urls),
		cmocka_unit_test(request_refuses_what_gemini_cannot_take),
		cmocka_unit_test(request_reasoning_effort_asks_for_thoughts),
		cmocka_unit_test(request_embeddings_use_batch_embed_contents),
		cmocka_unit_test(answer_text_and_usage),
		cmocka_unit_test(answer_function_calls_become_tool_calls),
		cmocka_unit_test(answer_thoughts_and_cached_tokens),
		cmocka_unit_test(answer_finish_reasons),
		cmocka_unit_test(answer_blocked_prompt_is_a_content_policy_error),
		cmocka_unit_test(answer_refuses_what_is_not_an_answer),
		cmocka_unit_test(answer_embeddings),
		cmocka_unit_test(stream_text_whole_and_byte_by_byte),
		cmocka_unit_test(stream_function_call_is_one_complete_delta),
		cmocka_unit_test(stream_error_event_carries_the_http_code),
		cmocka_unit_test(stream_blocked_prompt_is_a_policy_error_chunk),
		cmocka_unit_test(stream_framing_errors_and_caps),
		cmocka_unit_test(stream_ignores_events_after_the_end),
		cmocka_unit_test(errors_map_to_openai_shape_and_classes),
		cmocka_unit_test(errors_keep_google_status_in_the_message),
		cmocka_unit_test(errors_not_in_google_shape_pass_through),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
