/* ingress_anthropic: Anthropic Messages requests become the OpenAI requests the router takes
 * (system, blocks, images, tool_use/tool_result in OpenAI's order, tools, tool_choice, sampling
 * fields, refusals), chat.completions become Anthropic messages (blocks, stop reasons, usage
 * with cache reads subtracted), errors get Anthropic's types, and the stream state machine turns
 * OpenAI chunk sequences into Anthropic's events: text only, text then two tool calls with split
 * arguments (fed byte by byte), the usage chunk, error events, interleaved calls, cut streams.
 */
#include "test.h"
#include "router/ingress_anthropic.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

/* Translates req (must succeed) and returns the OpenAI body parsed. */
static cJSON *xlate(const char *req)
{
	struct ingress_anthropic_request r;
	char err[256] = "";
	cJSON *o;

	if (ingress_anthropic_request(req, strlen(req), &r, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	o = cJSON_Parse(r.body);
	assert_non_null(o);
	ingress_anthropic_request_finish(&r);
	return o;
}

/* Translates req (must fail) and returns the message. */
static void refused(const char *req, const char *want)
{
	struct ingress_anthropic_request r;
	char err[256] = "";

	assert_int_equal(ingress_anthropic_request(req, strlen(req), &r, err, sizeof(err)),
			 -EINVAL);
	assert_null(r.body);
	if (!strstr(err, want))
		fail_msg("error %s does not say %s", err, want);
}

/* The compact JSON text of o's member at path "a.b.0.c" (malloc'd), or "(none)". */
static char *at(const cJSON *o, const char *path)
{
	char key[64];
	const char *p = path;

	while (*p && o) {
		size_t n = strcspn(p, ".");

		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		if (cJSON_IsArray(o))
			o = cJSON_GetArrayItem(o, (int)strtol(key, NULL, 10));
		else
			o = cJSON_GetObjectItemCaseSensitive(o, key);
		p += n + (p[n] == '.');
	}
	return o ? cJSON_PrintUnformatted(o) : xstrdup("(none)");
}

static void expect_at(const cJSON *o, const char *path, const char *json)
{
	char *got = at(o, path);

	if (strcmp(got, json) != 0)
		fail_msg("%s: got %s, want %s", path, got, json);
	free(got);
}

/* ---- requests ---- */

static void system_string_and_blocks_keep_cache_control(void **state)
{
	cJSON *o = xlate("{\"model\":\"m\",\"max_tokens\":10,\"system\":\"Be brief.\","
			 "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

	expect_at(o, "messages.0", "{\"role\":\"system\",\"content\":\"Be brief.\"}");
	expect_at(o, "messages.1", "{\"role\":\"user\",\"content\":\"hi\"}");
	expect_at(o, "model", "\"m\"");
	cJSON_Delete(o);
	o = xlate("{\"model\":\"m\",\"system\":[{\"type\":\"text\",\"text\":\"A\"},{\"type\":"
		  "\"text\",\"text\":\"B\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
		  "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\","
		  "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}]}]}");
	expect_at(o, "messages.0",
		  "{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"A\"},{\"type\":"
		  "\"text\",\"text\":\"B\",\"cache_control\":{\"type\":\"ephemeral\"}}]}");
	expect_at(o, "messages.1.content.0.cache_control",
		  "{\"type\":\"ephemeral\",\"ttl\":\"1h\"}");
	cJSON_Delete(o);
}

static void images_become_image_url_parts(void **state)
{
	cJSON *o = xlate(
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
		"\"image\","
		"\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"iVBO\"}},"
		"{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x/y.jpg\"}},"
		"{\"type\":\"text\",\"text\":\"what?\"}]}]}");

	expect_at(
		o, "messages.0.content",
		"[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBO\"}},"
		"{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.jpg\"}},"
		"{\"type\":\"text\",\"text\":\"what?\"}]");
	cJSON_Delete(o);
}

static void tool_use_and_results_follow_openai_order(void **state)
{
	cJSON *o = xlate(
		"{\"model\":\"m\",\"messages\":["
		"{\"role\":\"user\",\"content\":\"go\"},"
		"{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hm\","
		"\"signature\":\"s\"},{\"type\":\"text\",\"text\":\"A\"},{\"type\":\"text\","
		"\"text\":"
		"\"B\"},{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{\"n\":"
		"12345678901234567890}},{\"type\":\"tool_use\",\"id\":\"t2\",\"name\":\"g\","
		"\"input\":{}}]},"
		"{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"also\"},"
		"{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"one\"},"
		"{\"type\":\"tool_result\",\"tool_use_id\":\"t2\",\"is_error\":true,\"content\":["
		"{\"type\":\"text\",\"text\":\"x\"},{\"type\":\"text\",\"text\":\"y\"},{\"type\":"
		"\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/gif\",\"data\":"
		"\"R0\"}}]}]}]}");
	expect_at(o, "messages.1.content", "\"A\\nB\"");
	expect_at(
		o, "messages.1.tool_calls",
		"[{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
		"\"{\\\"n\\\":12345678901234567890}\"}},{\"id\":\"t2\",\"type\":\"function\","
		"\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]");
	expect_at(o, "messages.2",
		  "{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":\"one\"}");
	expect_at(o, "messages.3",
		  "{\"role\":\"tool\",\"tool_call_id\":\"t2\",\"content\":\"Error: x\\ny\"}");
	expect_at(o, "messages.4",
		  "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"also\"},{\"type\":"
		  "\"image_url\",\"image_url\":{\"url\":\"data:image/gif;base64,R0\"}}]}");
	expect_at(o, "messages.5", "(none)");
	cJSON_Delete(o);
	/* only tool results: no empty user message after them */
	o = xlate("{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
		  "\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}]},{\"role\":\"user\","
		  "\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\"}]}]}");
	expect_at(o, "messages.0.content", "null");
	expect_at(o, "messages.1", "{\"role\":\"tool\",\"tool_call_id\":\"t\",\"content\":\"\"}");
	expect_at(o, "messages.2", "(none)");
	cJSON_Delete(o);
	refused("{\"model\":\"m\",\"messages\":[]}", "at least one message");
}

static void tools_and_tool_choice_become_functions(void **state)
{
	static const char *const choices[][2] = {
		{"{\"type\":\"auto\"}", "\"auto\""},
		{"{\"type\":\"any\"}", "\"required\""},
		{"{\"type\":\"none\"}", "\"none\""},
		{"{\"type\":\"tool\",\"name\":\"f\"}",
		 "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}"},
	};
	char req[512];
	cJSON *o;
	size_t i;

	for (i = 0; i < ARRAY_LEN(choices); i++) {
		snprintf(req, sizeof(req),
			 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
			 "\"tools\":[{\"name\":\"f\",\"description\":\"d\",\"input_schema\":{"
			 "\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\","
			 "\"maximum\":1e400}}},\"cache_control\":{\"type\":\"ephemeral\"}}],"
			 "\"tool_choice\":%s}",
			 choices[i][0]);
		o = xlate(req);
		expect_at(o, "tool_choice", choices[i][1]);
		expect_at(o, "parallel_tool_calls", "(none)");
		expect_at(o, "tools.0.function.name", "\"f\"");
		expect_at(o, "tools.0.function.description", "\"d\"");
		expect_at(o, "tools.0.function.parameters.type", "\"object\"");
		expect_at(o, "tools.0.cache_control", "{\"type\":\"ephemeral\"}");
		cJSON_Delete(o);
	}
	o = xlate("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":"
		  "[{\"name\":\"f\",\"input_schema\":{}}],\"tool_choice\":{\"type\":\"auto\","
		  "\"disable_parallel_tool_use\":true}}");
	expect_at(o, "parallel_tool_calls", "false");
	cJSON_Delete(o);
	/* OpenAI refuses tool_choice without tools: dropped */
	o = xlate("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
		  "\"tool_choice\":{\"type\":\"any\",\"disable_parallel_tool_use\":true}}");
	expect_at(o, "tool_choice", "(none)");
	expect_at(o, "parallel_tool_calls", "(none)");
	cJSON_Delete(o);
}

static void sampling_fields_stream_and_user(void **state)
{
	struct ingress_anthropic_request r;
	char err[64], hex[65];
	const char *longid = "user_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
			     "_account__session_1";
	char req[512];
	cJSON *o = xlate(
		"{\"model\":\"m\",\"max_tokens\":4096,\"temperature\":0.7,\"top_p\":0.9,\"top_k\":"
		"40,\"stop_sequences\":[\"END\"],\"stream\":true,\"thinking\":{\"type\":"
		"\"enabled\","
		"\"budget_tokens\":1024},\"metadata\":{\"user_id\":\"u-1\"},\"messages\":[{"
		"\"role\":"
		"\"user\",\"content\":\"x\"}]}");

	expect_at(o, "max_tokens", "4096");
	expect_at(o, "temperature", "0.7");
	expect_at(o, "top_p", "0.9");
	expect_at(o, "top_k", "(none)");
	expect_at(o, "thinking", "(none)");
	expect_at(o, "stop", "[\"END\"]");
	expect_at(o, "stream", "true");
	expect_at(o, "stream_options", "{\"include_usage\":true}");
	expect_at(o, "user", "\"u-1\"");
	cJSON_Delete(o);
	snprintf(req, sizeof(req),
		 "{\"model\":\"m\",\"metadata\":{\"user_id\":\"%s\"},\"messages\":[{\"role\":"
		 "\"user\",\"content\":\"x\"}]}",
		 longid);
	assert_int_equal(ingress_anthropic_request(req, strlen(req), &r, err, sizeof(err)), 0);
	assert_false(r.stream);
	assert_string_equal(r.model, "m");
	sha256_hex(longid, strlen(longid), hex);
	assert_non_null(strstr(r.body, hex));
	assert_null(strstr(r.body, "\"stream\""));
	assert_int_equal(ingress_anthropic_count_tokens(&r), (int64_t)(r.body_len + 3) / 4);
	ingress_anthropic_request_finish(&r);
	ingress_anthropic_request_finish(&r);
}

static void malformed_requests_are_refused_with_where(void **state)
{
	refused("[1]", "not a JSON object");
	refused("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model: Field required");
	refused("{\"model\":\"m\"}", "messages: at least one message");
	refused("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}",
		"messages.0.role");
	refused("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":7}]}",
		"messages.0.content");
	refused("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":"
		"\"user\",\"content\":[{\"type\":\"text\",\"text\":\"b\"},{\"type\":"
		"\"server_tool_use\"}]}]}",
		"messages.1.content.1.type");
	refused("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
		"\"image\",\"source\":{\"type\":\"file\",\"file_id\":\"f\"}}]}]}",
		"messages.0.content.0.source.type");
	refused("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":"
		"[{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}]}",
		"tools.0.type");
	refused("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":"
		"[{\"name\":\"f\",\"input_schema\":{}}],\"tool_choice\":{\"type\":\"tool\"}}",
		"tool_choice.type");
	refused("{\"model\":\"m\",\"max_tokens\":\"9\",\"messages\":[{\"role\":\"user\","
		"\"content\":\"x\"}]}",
		"max_tokens: must be a number");
	refused("{\"model\":\"m\",\"stop_sequences\":[1],\"messages\":[{\"role\":\"user\","
		"\"content\":\"x\"}]}",
		"stop_sequences");
	refused("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
		"\"tool_result\"}]}]}",
		"messages.0.content.0.tool_use_id");
}

/* ---- answers ---- */

static cJSON *answer(const char *completion)
{
	char *s = ingress_anthropic_answer(completion, strlen(completion), "claude-x");
	cJSON *o;

	assert_non_null(s);
	o = cJSON_Parse(s);
	free(s);
	assert_non_null(o);
	return o;
}

static void answer_text_and_usage_without_cached_tokens(void **state)
{
	cJSON *o =
		answer("{\"id\":\"chatcmpl-Ab1\",\"object\":\"chat.completion\",\"model\":"
		       "\"gpt\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
		       "\"content\":\"Hello\"},\"finish_reason\":\"stop\"}],\"usage\":{"
		       "\"prompt_tokens\":100,\"completion_tokens\":7,\"prompt_tokens_details\":{"
		       "\"cached_tokens\":60,\"cache_write_tokens\":10}}}");

	expect_at(o, "id", "\"msg_chatcmpl-Ab1\"");
	expect_at(o, "type", "\"message\"");
	expect_at(o, "role", "\"assistant\"");
	expect_at(o, "model", "\"claude-x\"");
	expect_at(o, "content", "[{\"type\":\"text\",\"text\":\"Hello\"}]");
	expect_at(o, "stop_reason", "\"end_turn\"");
	expect_at(o, "stop_sequence", "null");
	expect_at(o, "usage",
		  "{\"input_tokens\":30,\"output_tokens\":7,\"cache_creation_input_tokens\":10,"
		  "\"cache_read_input_tokens\":60}");
	cJSON_Delete(o);
}

static void answer_tool_calls_parse_arguments(void **state)
{
	static const char big_args[] =
		"{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"c\",\"function\":{\"name\":"
		"\"f\",\"arguments\":\"{\\\"n\\\":12345678901234567890}\"}}]}}]}";
	cJSON *o = answer(
		"{\"id\":\"msg_01X\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":"
		"\"Looking.\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{"
		"\"name\":\"f\",\"arguments\":\"{\\\"big\\\":12345678901234567890}\"}},{\"id\":"
		"\"c2\","
		"\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"a\\\":\"}}"
		","
		"{\"type\":\"function\",\"function\":{\"name\":\"h\",\"arguments\":\"\"}}]},"
		"\"finish_reason\":\"tool_calls\"}]}");
	char *s = at(o, "content.1.input");

	expect_at(o, "id", "\"msg_01X\"");
	expect_at(o, "content.0", "{\"type\":\"text\",\"text\":\"Looking.\"}");
	expect_at(o, "content.1.type", "\"tool_use\"");
	expect_at(o, "content.1.id", "\"c1\"");
	expect_at(o, "content.1.name", "\"f\"");
	assert_non_null(strstr(s, "\"big\""));
	free(s);
	expect_at(o, "content.2.input", "{}"); /* invalid JSON: {} (documented) */
	expect_at(o, "content.3.id", "\"toolu_2\"");
	expect_at(o, "content.3.input", "{}");
	expect_at(o, "stop_reason", "\"tool_use\"");
	expect_at(o, "usage.input_tokens", "0");
	cJSON_Delete(o);
	/* the digits of tool input survive */
	s = ingress_anthropic_answer(big_args, strlen(big_args), "m");
	assert_non_null(s);
	assert_non_null(strstr(s, "12345678901234567890"));
	free(s);
}

static void answer_stop_reasons(void **state)
{
	static const char *const map[][2] = {
		{"\"stop\"", "\"end_turn\""},	    {"\"length\"", "\"max_tokens\""},
		{"\"tool_calls\"", "\"tool_use\""}, {"\"content_filter\"", "\"refusal\""},
		{"null", "\"end_turn\""},
	};
	char body[256];
	cJSON *o;
	size_t i;

	for (i = 0; i < ARRAY_LEN(map); i++) {
		snprintf(body, sizeof(body),
			 "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":%s}]}",
			 map[i][0]);
		o = answer(body);
		expect_at(o, "stop_reason", map[i][1]);
		cJSON_Delete(o);
	}
	o = answer("{\"choices\":[{\"message\":{\"content\":null,\"refusal\":\"I can't.\"},"
		   "\"finish_reason\":\"stop\"}]}");
	expect_at(o, "content", "[{\"type\":\"text\",\"text\":\"I can't.\"}]");
	expect_at(o, "stop_reason", "\"refusal\"");
	cJSON_Delete(o);
	assert_null(ingress_anthropic_answer("{\"choices\":[]}", strlen("{\"choices\":[]}"), "m"));
	assert_null(ingress_anthropic_answer("nope", strlen("nope"), "m"));
}

static void errors_get_anthropic_types(void **state)
{
	static const char budget[] =
		"{\"error\":{\"message\":\"Budget has been exceeded!\","
		"\"type\":\"budget_exceeded\",\"param\":null,\"code\":\"400\"}}";
	static const struct {
		long status;
		const char *type;
	} map[] = {
		{400, "invalid_request_error"},
		{401, "authentication_error"},
		{403, "permission_error"},
		{404, "not_found_error"},
		{413, "request_too_large"},
		{429, "rate_limit_error"},
		{500, "api_error"},
		{502, "api_error"},
		{529, "overloaded_error"},
		{422, "invalid_request_error"},
	};
	char *s;
	size_t i;

	for (i = 0; i < ARRAY_LEN(map); i++)
		assert_string_equal(ingress_anthropic_error_type(map[i].status), map[i].type);
	s = ingress_anthropic_error(400, budget, strlen(budget));
	assert_string_equal(s, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
			       "\"message\":\"Budget has been exceeded!\"}}");
	free(s);
	s = ingress_anthropic_error(502, "Bad gateway", strlen("Bad gateway"));
	assert_string_equal(s, "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":"
			       "\"Bad gateway\"}}");
	free(s);
	s = ingress_anthropic_error_message(429, "slow \"down\"");
	assert_string_equal(s, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
			       "\"message\":\"slow \\\"down\\\"\"}}");
	free(s);
}

/* ---- streams ---- */

/* A router SSE event for a chunk with one choice whose delta is `delta`. */
#define CHUNK(delta, finish)                                                                       \
	"data: {\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"choices\":[{"         \
	"\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}\n\n"
#define USAGE                                                                                      \
	"data: {\"id\":\"chatcmpl-7\",\"choices\":[],\"usage\":{\"prompt_tokens\":50,"             \
	"\"completion_tokens\":9,\"prompt_tokens_details\":{\"cached_tokens\":20}}}\n\n"
#define DONE "data: [DONE]\n\n"

struct run {
	char names[1024];  /* "message_start,content_block_start:0:text,..." */
	char text[256];	   /* text deltas joined */
	char json[4][256]; /* partial_json joined, per block index */
	char last[512];	   /* the last event's data */
	bool over;
	int rc;
};

static void append(char *dst, size_t size, const char *s)
{
	size_t n = strlen(dst);

	snprintf(dst + n, size - n, "%s", s);
}

/* Checks the framing of every event and folds them into r. */
static void fold(const char *sse, struct run *r)
{
	const char *p = sse;

	while (*p) {
		const char *nl = strchr(p, '\n'), *end = strstr(p, "\n\n");
		char name[64], item[128];
		cJSON *d;
		const cJSON *type, *idx, *block, *delta;

		assert_non_null(end);
		assert_true(strncmp(p, "event: ", 7) == 0);
		snprintf(name, sizeof(name), "%.*s", (int)(nl - p - 7), p + 7);
		assert_true(strncmp(nl + 1, "data: ", 6) == 0);
		d = cJSON_ParseWithLength(nl + 7, (size_t)(end - nl - 7));
		assert_non_null(d);
		type = cJSON_GetObjectItem(d, "type");
		assert_string_equal(type->valuestring, name);
		idx = cJSON_GetObjectItem(d, "index");
		block = cJSON_GetObjectItem(d, "content_block");
		delta = cJSON_GetObjectItem(d, "delta");
		if (strcmp(name, "content_block_delta") == 0 &&
		    strcmp(cJSON_GetObjectItem(delta, "type")->valuestring, "text_delta") == 0) {
			append(r->text, sizeof(r->text),
			       cJSON_GetObjectItem(delta, "text")->valuestring);
			snprintf(item, sizeof(item), "%s", "");
		} else if (strcmp(name, "content_block_delta") == 0) {
			append(r->json[idx->valueint], sizeof(r->json[0]),
			       cJSON_GetObjectItem(delta, "partial_json")->valuestring);
			snprintf(item, sizeof(item), "%s", "");
		} else if (block) {
			snprintf(item, sizeof(item), "%s:%d:%s,", name, idx->valueint,
				 cJSON_GetObjectItem(block, "type")->valuestring);
		} else if (idx) {
			snprintf(item, sizeof(item), "%s:%d,", name, idx->valueint);
		} else {
			snprintf(item, sizeof(item), "%s,", name);
		}
		append(r->names, sizeof(r->names), item);
		snprintf(r->last, sizeof(r->last), "%.*s", (int)(end - nl - 7), nl + 7);
		cJSON_Delete(d);
		p = end + 2;
	}
}

/* Feeds sse in pieces of `piece` bytes (0 = at once), then ends the stream. */
static void run_stream(const char *sse, size_t piece, struct run *r)
{
	struct ingress_anthropic_stream *s = ingress_anthropic_stream_create("claude-x", 4096);
	struct buf out;
	size_t off = 0, len = strlen(sse), n;

	memset(r, 0, sizeof(*r));
	buf_init(&out, 0);
	while (off < len) {
		n = piece && piece < len - off ? piece : len - off;
		r->rc |= ingress_anthropic_stream_feed(s, sse + off, n, &out);
		off += n;
	}
	r->over = ingress_anthropic_stream_over(s);
	ingress_anthropic_stream_end(s, &out);
	fold(buf_str(&out), r);
	buf_finish(&out);
	ingress_anthropic_stream_destroy(s);
}

static void stream_text_only(void **state)
{
	struct run r;

	run_stream(CHUNK("{\"role\":\"assistant\",\"content\":\"\"}",
			 "null") CHUNK("{\"content\":\"Hel\"}", "null")
			   CHUNK("{\"content\":\"lo\"}", "null") CHUNK("{}", "\"stop\"") DONE,
		   0, &r);
	assert_int_equal(r.rc, 0);
	assert_true(r.over);
	assert_string_equal(r.names,
			    "message_start,content_block_start:0:text,content_block_stop:0,"
			    "message_delta,message_stop,");
	assert_string_equal(r.text, "Hello");
	/* no usage chunk: output_tokens 0, no input count */
	assert_non_null(strstr(r.names, "message_delta"));
}

static void stream_text_then_two_tool_calls_split_byte_by_byte(void **state)
{
	static const char sse[] = CHUNK("{\"content\":\"Let me\"}",
					"null") CHUNK("{\"content\":\" look.\"}", "null")
		CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\","
		      "\"function\":{\"name\":\"read\",\"arguments\":\"\"}}]}",
		      "null") CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
				    "\"{\\\"pa\"}}]}",
				    "null") CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{"
						  "\"arguments\":\"th\\\":\\\"/x\\\"}\"}}]}",
						  "null")
			CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\","
			      "\"function\":{\"name\":\"ls\",\"arguments\":"
			      "\"{\\\"d\\\":\"}}]}",
			      "null") CHUNK("{\"tool_calls\":[{\"index\":1,"
					    "\"function\":{\"arguments\":\"2}\"}}]}",
					    "null") CHUNK("{}", "\"tool_calls\"") USAGE DONE;
	struct run whole, split;

	run_stream(sse, 0, &whole);
	run_stream(sse, 1, &split);
	assert_string_equal(whole.names, split.names);
	assert_string_equal(whole.text, split.text);
	assert_string_equal(whole.names,
			    "message_start,content_block_start:0:text,content_block_stop:0,"
			    "content_block_start:1:tool_use,content_block_stop:1,"
			    "content_block_start:2:tool_use,content_block_stop:2,message_delta,"
			    "message_stop,");
	assert_string_equal(whole.text, "Let me look.");
	assert_string_equal(whole.json[1], "{\"path\":\"/x\"}");
	assert_string_equal(split.json[2], "{\"d\":2}");
}

static void stream_usage_chunk_fills_message_delta(void **state)
{
	struct ingress_anthropic_stream *s = ingress_anthropic_stream_create("claude-x", 4096);
	struct buf out;
	const char *delta;

	buf_init(&out, 0);
	assert_int_equal(ingress_anthropic_stream_feed(
				 s, CHUNK("{\"content\":\"x\"}", "\"length\"") USAGE DONE,
				 strlen(CHUNK("{\"content\":\"x\"}", "\"length\"") USAGE DONE),
				 &out),
			 0);
	delta = strstr(buf_str(&out), "event: message_delta\n");
	assert_non_null(delta);
	assert_non_null(strstr(delta, "\"delta\":{\"stop_reason\":\"max_tokens\","
				      "\"stop_sequence\":null},\"usage\":{\"output_tokens\":9,"
				      "\"input_tokens\":30,\"cache_creation_input_tokens\":0,"
				      "\"cache_read_input_tokens\":20}"));
	assert_non_null(strstr(buf_str(&out), "\"id\":\"msg_chatcmpl-7\""));
	assert_non_null(strstr(buf_str(&out), "\"model\":\"claude-x\""));
	buf_finish(&out);
	ingress_anthropic_stream_destroy(s);
}

static void stream_error_event_ends_the_stream(void **state)
{
	struct run r;

	run_stream(
		CHUNK("{\"content\":\"par\"}", "null") "data: {\"error\":{\"message\":\"Provider "
						       "returned error\",\"code\":502}}\n\n" DONE,
		0, &r);
	assert_string_equal(r.names, "message_start,content_block_start:0:text,error,");
	assert_string_equal(r.last, "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
				    "\"message\":\"Provider returned error\"}}");
	/* the router's own error events carry the status as a string */
	run_stream("data: {\"error\":{\"message\":\"slow\",\"type\":\"rate_limit_error\","
		   "\"code\":\"429\"}}\n\n",
		   0, &r);
	assert_string_equal(r.names, "error,");
	assert_non_null(strstr(r.last, "rate_limit_error"));
}

static void stream_interleaved_tool_calls_end_with_an_error(void **state)
{
	struct run r;

	run_stream(CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"f\","
			 "\"arguments\":\"{\"}},{\"index\":1,\"id\":\"b\",\"function\":{\"name\":"
			 "\"g\",\"arguments\":\"{\"}}]}",
			 "null") CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
				       "\"}\"}}]}",
				       "null") DONE,
		   0, &r);
	assert_int_not_equal(r.rc, 0);
	assert_string_equal(r.names, "message_start,content_block_start:0:tool_use,"
				     "content_block_stop:0,content_block_start:1:tool_use,error,");
	assert_non_null(strstr(r.last, "interleaved"));
}

static void stream_cut_empty_or_broken(void **state)
{
	struct run r;

	/* no [DONE]: ingress_anthropic_stream_end adds an error */
	run_stream(CHUNK("{\"content\":\"a\"}", "null"), 0, &r);
	assert_false(r.over);
	assert_string_equal(r.names, "message_start,content_block_start:0:text,error,");
	/* an empty stream is still a whole message */
	run_stream(DONE, 0, &r);
	assert_string_equal(r.names, "message_start,message_delta,message_stop,");
	/* a chunk that is not JSON */
	run_stream("data: {nope\n\n" DONE, 0, &r);
	assert_int_equal(r.rc, -EPROTO);
	assert_string_equal(r.names, "error,");
	/* an event over the cap (4096 here) */
	{
		char big[6000];

		memset(big, 'a', sizeof(big));
		memcpy(big, "data: ", 6);
		big[sizeof(big) - 1] = '\0';
		run_stream(big, 0, &r);
		assert_int_equal(r.rc, -EPROTO);
		assert_string_equal(r.names, "error,");
	}
	ingress_anthropic_stream_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(system_string_and_blocks_keep_cache_control),
		cmocka_unit_test(images_become_image_url_parts),
		cmocka_unit_test(tool_use_and_results_follow_openai_order),
		cmocka_unit_test(tools_and_tool_choice_become_functions),
		cmocka_unit_test(sampling_fields_stream_and_user),
		cmocka_unit_test(malformed_requests_are_refused_with_where),
		cmocka_unit_test(answer_text_and_usage_without_cached_tokens),
		cmocka_unit_test(answer_tool_calls_parse_arguments),
		cmocka_unit_test(answer_stop_reasons),
		cmocka_unit_test(errors_get_anthropic_types),
		cmocka_unit_test(stream_text_only),
		cmocka_unit_test(stream_text_then_two_tool_calls_split_byte_by_byte),
		cmocka_unit_test(stream_usage_chunk_fills_message_delta),
		cmocka_unit_test(stream_error_event_ends_the_stream),
		cmocka_unit_test(stream_interleaved_tool_calls_end_with_an_error),
		cmocka_unit_test(stream_cut_empty_or_broken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
