/* provider_bedrock: the OpenAI -> Converse translation (system, merged turns, tool calls and
 * results, images, cachePoint, inferenceConfig, toolConfig), the URL with the model id
 * encoded and the signed headers, the answer and error mappings, the event-stream decoder
 * (whole, byte by byte, every split; bad CRCs, the cap, header overruns) and the ConverseStream
 * events -> OpenAI chunks, exceptions included.
 */
#include "test.h"
#include "router/providers/eventstream.h"
#include "router/providers/provider.h"
#include "router/providers/sigv4.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_ID "anthropic.claude-3-5-sonnet-20240620-v1:0"

static struct config_model model(const char *token)
{
	struct config_model m = {0};

	m.model_name = (char *)"claude";
	m.provider = (char *)"bedrock";
	m.dialect = DIALECT_BEDROCK;
	m.upstream_model = (char *)MODEL_ID;
	m.litellm_params.api_base = (char *)"https://bedrock-runtime.us-east-1.amazonaws.com";
	m.litellm_params.aws_region_name = (char *)"us-east-1";
	m.litellm_params.aws_access_key_id = (char *)"AKIDTEST";
	m.litellm_params.aws_secret_access_key = (char *)"secret";
	m.litellm_params.aws_session_token = (char *)token;
	return m;
}

/* build() of the request text; the body parsed for the caller (NULL on refusal). */
static cJSON *build_body(const char *request, bool stream, struct provider_request *out, int *rc,
			 char *err, size_t err_len)
{
	struct config_model m = model(NULL);
	cJSON *req = cJSON_Parse(request);

	assert_non_null(req);
	*rc = provider_bedrock.build(&m, PROVIDER_CHAT, req, stream, out, err, err_len);
	cJSON_Delete(req);
	return *rc == 0 ? cJSON_Parse(out->body) : NULL;
}

static void assert_json(const cJSON *got, const char *want_text)
{
	cJSON *want = cJSON_Parse(want_text);
	char *g = cJSON_PrintUnformatted(got);

	assert_non_null(want);
	if (!cJSON_Compare(got, want, 1))
		fail_msg("got %s\nwant %s", g, want_text);
	free(g);
	cJSON_Delete(want);
}

static cJSON *translate(const char *request)
{
	struct provider_request out = {0};
	char err[256] = "";
	int rc;
	cJSON *body = build_body(request, false, &out, &rc, err, sizeof(err));

	if (rc != 0)
		fail_msg("build refused: %s", err);
	provider_request_finish(&out);
	return body;
}

static void system_and_turns_are_translated(void **state)
{
	cJSON *b = translate(
		"{\"model\":\"claude\",\"max_tokens\":64,\"temperature\":0.2,\"top_p\":0.9,"
		"\"stop\":\"END\",\"messages\":["
		"{\"role\":\"system\",\"content\":\"Be brief.\"},"
		"{\"role\":\"user\",\"content\":\"one\"},{\"role\":\"user\",\"content\":\"two\"},"
		"{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]},"
		"{\"role\":\"developer\",\"content\":\"And exact.\"},"
		"{\"role\":\"user\",\"content\":\"three\"}]}");

	(void)state;
	assert_json(b,
		    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"one\"},"
		    "{\"text\":\"two\"}]},{\"role\":\"assistant\",\"content\":[{\"text\":\"ok\"}]},"
		    "{\"role\":\"user\",\"content\":[{\"text\":\"three\"}]}],"
		    "\"system\":[{\"text\":\"Be brief.\"},{\"text\":\"And exact.\"}],"
		    "\"inferenceConfig\":{\"maxTokens\":64,\"temperature\":0.2,\"topP\":0.9,"
		    "\"stopSequences\":[\"END\"]}}");
	cJSON_Delete(b);
}

static void tool_calls_and_results_become_blocks(void **state)
{
	cJSON *b = translate(
		"{\"model\":\"claude\",\"tool_choice\":{\"type\":\"function\",\"function\":{"
		"\"name\":"
		"\"w\"}},\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"w\","
		"\"parameters\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}"
		"}},"
		"{\"type\":\"function\",\"function\":{\"name\":\"bare\"}}],\"messages\":["
		"{\"role\":\"user\",\"content\":\"go\"},"
		"{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
		"{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":"
		"\"{\\\"n\\\":12345678901234567890}\"}},"
		"{\"id\":\"t2\",\"type\":\"function\",\"function\":{\"name\":\"bare\","
		"\"arguments\":"
		"\"\"}}]},"
		"{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":\"r1\"},"
		"{\"role\":\"tool\",\"tool_call_id\":\"t2\",\"content\":\"\"}]}");
	struct provider_request out = {0};
	char err[64];
	int rc;

	(void)state;
	assert_json(
		b,
		"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"go\"}]},"
		"{\"role\":\"assistant\",\"content\":["
		"{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"w\",\"input\":{\"n\":"
		"12345678901234567890}}},"
		"{\"toolUse\":{\"toolUseId\":\"t2\",\"name\":\"bare\",\"input\":{}}}]},"
		"{\"role\":\"user\",\"content\":["
		"{\"toolResult\":{\"toolUseId\":\"t1\",\"content\":[{\"text\":\"r1\"}],"
		"\"status\":\"success\"}},"
		"{\"toolResult\":{\"toolUseId\":\"t2\",\"content\":[{\"text\":\"(empty)\"}],"
		"\"status\":\"success\"}}]}],"
		"\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":\"w\",\"inputSchema\":{"
		"\"json\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}}}},"
		"{\"toolSpec\":{\"name\":\"bare\",\"inputSchema\":{\"json\":{\"type\":\"object\","
		"\"properties\":{}}}}}],\"toolChoice\":{\"tool\":{\"name\":\"w\"}}}}");
	cJSON_Delete(b);
	/* The big integer goes out as written, not as a double. */
	b = build_body("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t\","
		       "\"function\":{\"name\":\"w\",\"arguments\":\"{\\\"n\\\":"
		       "12345678901234567890}\"}}]}],\"tools\":[{\"function\":{\"name\":\"w\"}}],"
		       "\"tool_choice\":\"required\"}",
		       false, &out, &rc, err, sizeof(err));
	assert_non_null(strstr(out.body, "{\"n\":12345678901234567890}"));
	assert_non_null(strstr(out.body, "\"toolChoice\":{\"any\":{}}"));
	cJSON_Delete(b);
	provider_request_finish(&out);
}

static void images_and_cache_points(void **state)
{
	cJSON *b = translate(
		"{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":"
		"\"long context\",\"cache_control\":{\"type\":\"ephemeral\"}}]},"
		"{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"see\"},"
		"{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpg;base64,/9j/"
		"4AAQ\"},"
		"\"cache_control\":{\"type\":\"ephemeral\"}}]},"
		"{\"role\":\"assistant\",\"content\":\"\"},"
		"{\"role\":\"user\",\"content\":\"more\",\"cache_control\":{\"type\":\"ephemeral\"}"
		"}]}");

	(void)state;
	assert_json(b, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"see\"},"
		       "{\"image\":{\"format\":\"jpeg\",\"source\":{\"bytes\":\"/9j/4AAQ\"}}},"
		       "{\"cachePoint\":{\"type\":\"default\"}},{\"text\":\"more\"},"
		       "{\"cachePoint\":{\"type\":\"default\"}}]}],"
		       "\"system\":[{\"text\":\"long context\"},{\"cachePoint\":{\"type\":"
		       "\"default\"}}]}");
	cJSON_Delete(b);
}

static void refusals_name_the_problem(void **state)
{
	static const struct {
		const char *request, *needle;
	} cases[] = {
		{"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
		 "\"image_url\":{\"url\":\"https://x/cat.png\"}}]}]}",
		 "data:image"},
		{"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
		 "\"image_url\":{\"url\":\"data:image/tiff;base64,AAAA\"}}]}]}",
		 "tiff"},
		{"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t\","
		 "\"function\":"
		 "{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
		 "not a JSON object"},
		{"{\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "n > 1"},
		{"{\"messages\":[{\"role\":\"function\",\"content\":\"x\"}]}", "function"},
		{"{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "tool_call_id"},
	};
	struct provider_request out = {0};
	char err[256];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		err[0] = '\0';
		assert_null(build_body(cases[i].request, false, &out, &rc, err, sizeof(err)));
		assert_true(rc < 0);
		if (!strstr(err, cases[i].needle))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].needle);
		provider_request_finish(&out);
	}
}

static void other_routes_are_refused(void **state)
{
	struct config_model m = model(NULL);
	struct provider_request out = {0};
	cJSON *req = cJSON_Parse("{\"input\":\"x\"}");
	char err[128] = "";

	(void)state;
	assert_int_equal(
		provider_bedrock.build(&m, PROVIDER_EMBEDDINGS, req, false, &out, err, sizeof(err)),
		-ENOTSUP);
	assert_non_null(strstr(err, "chat completions"));
	provider_request_finish(&out);
	cJSON_Delete(req);
}

static const char *header(char **h, const char *name)
{
	size_t n = strlen(name);

	for (; *h; h++)
		if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
			return *h + n + 2;
	return NULL;
}

/* The URL encodes the id, and re-signing the sent headers gives the same Authorization. */
static void url_and_signed_headers(void **state)
{
	struct config_model m = model("tok-123");
	struct provider_request out = {0};
	cJSON *req = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
	const char *signed_h[8] = {0};
	struct sigv4_request sr = {0};
	char err[64], *auth = NULL;
	size_t n = 0, i;

	(void)state;
	assert_int_equal(
		provider_bedrock.build(&m, PROVIDER_CHAT, req, true, &out, err, sizeof(err)), 0);
	assert_string_equal(out.url, "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
				     "anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream");
	assert_string_equal(header(out.headers, "Host"), "bedrock-runtime.us-east-1.amazonaws.com");
	assert_string_equal(header(out.headers, "X-Amz-Security-Token"), "tok-123");
	assert_string_equal(header(out.headers, "Content-Type"), "application/json");
	assert_non_null(strstr(header(out.headers, "Authorization"),
			       "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;"
			       "x-amz-security-token, Signature="));
	for (i = 0; out.headers[i]; i++)
		if (strncmp(out.headers[i], "Authorization:", 14) != 0)
			signed_h[n++] = out.headers[i];
	sr.method = "POST";
	sr.path = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream";
	sr.query = "";
	sr.headers = signed_h;
	sr.body = out.body;
	sr.body_len = out.body_len;
	sr.amz_date = header(out.headers, "X-Amz-Date");
	sr.region = "us-east-1";
	sr.service = "bedrock";
	sr.access_key_id = "AKIDTEST";
	sr.secret_access_key = "secret";
	assert_int_equal(sigv4_sign(&sr, &auth, NULL, NULL), 0);
	assert_string_equal(header(out.headers, "Authorization"), auth);
	free(auth);
	provider_request_finish(&out);
	cJSON_Delete(req);
}

static void api_base_with_a_port_and_path(void **state)
{
	struct config_model m = model(NULL);
	struct provider_request out = {0};
	cJSON *req = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
	char err[64];

	(void)state;
	m.litellm_params.api_base = (char *)"http://127.0.0.1:8123/proxy/";
	assert_int_equal(
		provider_bedrock.build(&m, PROVIDER_CHAT, req, false, &out, err, sizeof(err)), 0);
	assert_string_equal(out.url, "http://127.0.0.1:8123/proxy/model/"
				     "anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
	assert_string_equal(header(out.headers, "Host"), "127.0.0.1:8123");
	assert_null(header(out.headers, "X-Amz-Security-Token"));
	provider_request_finish(&out);
	cJSON_Delete(req);
}

/* ---- answer ---- */

static cJSON *answer_of(const char *body)
{
	struct config_model m = model(NULL);
	char *s = provider_bedrock.answer(&m, PROVIDER_CHAT, body, strlen(body));
	cJSON *o = s ? cJSON_Parse(s) : NULL;

	free(s);
	return o;
}

static void answer_text_tools_usage(void **state)
{
	cJSON *o = answer_of(
		"{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"Let me "
		"check.\"},{\"toolUse\":{\"toolUseId\":\"tu1\",\"name\":\"w\",\"input\":{\"city\":"
		"\"Paris\",\"n\":1.50}}}]}},\"stopReason\":\"tool_use\",\"usage\":{\"inputTokens\":"
		"10,\"outputTokens\":7,\"totalTokens\":17,\"cacheReadInputTokens\":100,"
		"\"cacheWriteInputTokens\":5},\"metrics\":{\"latencyMs\":9}}");
	cJSON *choice, *msg;

	(void)state;
	assert_non_null(o);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "object")),
			    "chat.completion");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "model")), MODEL_ID);
	choice = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(choice, "finish_reason")),
			    "tool_calls");
	msg = cJSON_GetObjectItem(choice, "message");
	assert_json(msg, "{\"role\":\"assistant\",\"content\":\"Let me check.\",\"tool_calls\":["
			 "{\"id\":\"tu1\",\"type\":\"function\",\"function\":{\"name\":\"w\","
			 "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\",\\\"n\\\":1.50}\"}}]}");
	assert_json(cJSON_GetObjectItem(o, "usage"),
		    "{\"prompt_tokens\":115,\"completion_tokens\":7,\"total_tokens\":122,"
		    "\"prompt_tokens_details\":{\"cached_tokens\":100},"
		    "\"cache_creation_input_tokens\":5}");
	cJSON_Delete(o);
}

static void stop_reasons_map_to_finish_reasons(void **state)
{
	static const char *const map[][2] = {
		{"end_turn", "stop"},
		{"stop_sequence", "stop"},
		{"max_tokens", "length"},
		{"tool_use", "tool_calls"},
		{"guardrail_intervened", "content_filter"},
		{"content_filtered", "content_filter"},
	};
	char body[256];
	size_t i;
	cJSON *o;

	(void)state;
	for (i = 0; i < ARRAY_LEN(map); i++) {
		snprintf(body, sizeof(body),
			 "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[]}},"
			 "\"stopReason\":\"%s\",\"usage\":{}}",
			 map[i][0]);
		o = answer_of(body);
		assert_string_equal(
			cJSON_GetStringValue(cJSON_GetObjectItem(
				cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0),
				"finish_reason")),
			map[i][1]);
		cJSON_Delete(o);
	}
}

static void a_body_that_is_not_converse_is_null(void **state)
{
	(void)state;
	assert_null(answer_of("{\"choices\":[]}"));
	assert_null(answer_of("not json"));
	assert_null(answer_of("{\"output\":{\"message\":{}}}"));
}

/* ---- errors ---- */

static void assert_error(long status, const char *body, const char *type, const char *code,
			 const char *msg_part)
{
	char *s = provider_bedrock.error(status, body, strlen(body));
	cJSON *root = cJSON_Parse(s), *e = cJSON_GetObjectItem(root, "error");

	assert_non_null(e);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "type")), type);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "code")), code);
	assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(e, "message")), msg_part));
	cJSON_Delete(root);
	free(s);
}

static void errors_map_to_openai_shape(void **state)
{
	(void)state;
	assert_error(400, "{\"message\":\"Input is too long for requested model.\"}",
		     "invalid_request_error", "context_length_exceeded", "Input is too long");
	assert_error(400,
		     "{\"message\":\"prompt is too long: 210000 tokens > 200000 maximum\","
		     "\"__type\":\"com.amazon.coral.validate#ValidationException\"}",
		     "invalid_request_error", "context_length_exceeded",
		     "bedrock ValidationException: prompt is too long");
	assert_error(400, "{\"message\":\"Malformed input request\"}", "invalid_request_error",
		     "400", "Malformed");
	assert_error(429, "{\"message\":\"Too many requests, please wait before trying again.\"}",
		     "rate_limit_error", "429", "Too many requests");
	assert_error(403,
		     "{\"message\":\"The request signature we calculated does not match the "
		     "signature you provided.\"}",
		     "authentication_error", "403", "signature");
	assert_error(403,
		     "{\"Message\":\"User: arn:x is not authorized to perform: "
		     "bedrock:InvokeModel\",\"__type\":\"AccessDeniedException\"}",
		     "permission_error", "403", "AccessDeniedException");
	assert_error(403,
		     "{\"message\":\"The security token included in the request is invalid.\"}",
		     "authentication_error", "403", "security token");
	assert_error(503, "{\"message\":\"Bedrock is unable to process your request.\"}",
		     "api_error", "503", "unable");
	assert_error(408, "{\"message\":\"Model has timed out in processing the request.\"}",
		     "timeout_error", "408", "timed out");
	assert_null(provider_bedrock.error(502, "<html>bad gateway</html>", 24));
}

/* ---- event stream ---- */

/* One event-stream message with string headers (name, value pairs) and a payload. */
static void frame(struct buf *out, const char *const *hdrs, const char *payload)
{
	struct buf h = {0}, m = {0};
	unsigned char pre[12];
	uint32_t total, crc;
	size_t i, nl, vl, pl = strlen(payload);

	for (i = 0; hdrs[i]; i += 2) {
		nl = strlen(hdrs[i]);
		vl = strlen(hdrs[i + 1]);
		buf_append(&h, (unsigned char[]){(unsigned char)nl}, 1);
		buf_append(&h, hdrs[i], nl);
		buf_append(&h, (unsigned char[]){7, (unsigned char)(vl >> 8), (unsigned char)vl},
			   3);
		buf_append(&h, hdrs[i + 1], vl);
	}
	total = (uint32_t)(16 + h.len + pl);
	for (i = 0; i < 4; i++) {
		pre[i] = (unsigned char)(total >> (24 - 8 * i));
		pre[4 + i] = (unsigned char)(h.len >> (24 - 8 * i));
	}
	crc = eventstream_crc32(0, pre, 8);
	for (i = 0; i < 4; i++)
		pre[8 + i] = (unsigned char)(crc >> (24 - 8 * i));
	buf_append(&m, pre, 12);
	buf_append(&m, h.data ? h.data : "", h.len);
	buf_append(&m, payload, pl);
	crc = eventstream_crc32(0, m.data, m.len);
	for (i = 0; i < 4; i++)
		pre[i] = (unsigned char)(crc >> (24 - 8 * i));
	buf_append(&m, pre, 4);
	buf_append(out, m.data, m.len);
	buf_finish(&h);
	buf_finish(&m);
}

static void event(struct buf *out, const char *type, const char *payload)
{
	const char *h[] = {
		":event-type", type, ":content-type", "application/json", ":message-type",
		"event",       NULL};

	frame(out, h, payload);
}

static void crc32_is_ieee(void **state)
{
	(void)state;
	assert_int_equal(eventstream_crc32(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(eventstream_crc32(eventstream_crc32(0, "1234", 4), "56789", 5),
			 0xCBF43926u);
	assert_int_equal(eventstream_crc32(0, "", 0), 0);
}

struct got {
	struct buf log; /* "type|exception|payload\n" per message */
	int stop_after; /* stop with -ECANCELED after this many (0 = never) */
	int n;
};

static int on_msg(const struct eventstream_msg *m, void *arg)
{
	struct got *g = arg;

	buf_printf(&g->log, "%s|%s|%s|%.*s\n", m->message_type, m->event_type, m->exception_type,
		   (int)m->payload_len, m->payload);
	g->n++;
	return g->stop_after && g->n >= g->stop_after ? -ECANCELED : 0;
}

/* Feeds data in pieces of piece bytes (0 = whole); returns the rc, fills g. */
static int decode(const struct buf *data, size_t piece, size_t cap, struct got *g)
{
	struct eventstream d;
	size_t off = 0, n;
	int rc = 0;

	eventstream_init(&d, cap, on_msg, g);
	while (off < data->len && rc == 0) {
		n = piece && piece < data->len - off ? piece : data->len - off;
		rc = eventstream_feed(&d, data->data + off, n);
		off += n;
	}
	if (rc == 0 && eventstream_pending(&d))
		rc = 1;
	eventstream_finish(&d);
	return rc;
}

static void sample_stream(struct buf *s)
{
	const char *ex[] = {":exception-type",
			    "throttlingException",
			    ":content-type",
			    "application/json",
			    ":message-type",
			    "exception",
			    NULL};

	event(s, "messageStart", "{\"role\":\"assistant\",\"p\":\"abc\"}");
	event(s, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}");
	event(s, "contentBlockStop", "{\"contentBlockIndex\":0}");
	frame(s, ex, "{\"message\":\"slow down\"}");
}

static void decoder_gives_the_same_messages_at_every_split(void **state)
{
	struct buf s = {0};
	struct got whole = {0}, split;
	size_t piece;

	(void)state;
	sample_stream(&s);
	assert_int_equal(decode(&s, 0, 4096, &whole), 0);
	assert_string_equal(buf_str(&whole.log),
			    "event|messageStart||{\"role\":\"assistant\",\"p\":\"abc\"}\n"
			    "event|contentBlockDelta||{\"contentBlockIndex\":0,\"delta\":{\"text\":"
			    "\"Hi\"}}\n"
			    "event|contentBlockStop||{\"contentBlockIndex\":0}\n"
			    "exception||throttlingException|{\"message\":\"slow down\"}\n");
	for (piece = 1; piece <= 64; piece++) {
		memset(&split, 0, sizeof(split));
		assert_int_equal(decode(&s, piece, 4096, &split), 0);
		assert_string_equal(buf_str(&split.log), buf_str(&whole.log));
		buf_finish(&split.log);
	}
	buf_finish(&whole.log);
	buf_finish(&s);
}

static void corrupted_crcs_are_eproto(void **state)
{
	struct buf s = {0}, bad = {0};
	struct got g = {0};
	size_t at[] = {9, 40, 0}, i, piece;

	(void)state;
	event(&s, "messageStart", "{\"role\":\"assistant\"}");
	at[2] = s.len - 1; /* the message CRC itself */
	for (i = 0; i < ARRAY_LEN(at); i++) {
		for (piece = 0; piece <= 1; piece++) {
			buf_reset(&bad);
			buf_append(&bad, s.data, s.len);
			bad.data[at[i]] ^= 0x01;
			memset(&g, 0, sizeof(g));
			assert_int_equal(decode(&bad, piece, 4096, &g), -EPROTO);
			assert_int_equal(g.n, 0);
			buf_finish(&g.log);
		}
	}
	/* A flipped length byte fails the prelude CRC before anything is buffered. */
	buf_reset(&bad);
	buf_append(&bad, s.data, s.len);
	bad.data[2] ^= 0x40;
	assert_int_equal(decode(&bad, 0, 4096, &g), -EPROTO);
	buf_finish(&s);
	buf_finish(&bad);
}

static void message_over_the_cap_is_e2big_and_sticky(void **state)
{
	struct buf s = {0};
	struct eventstream d;
	struct got g = {0};

	(void)state;
	event(&s, "contentBlockDelta", "{\"delta\":{\"text\":\"a long enough payload\"}}");
	eventstream_init(&d, s.len - 1, on_msg, &g);
	assert_int_equal(eventstream_feed(&d, s.data, 12), -E2BIG);
	assert_int_equal(eventstream_feed(&d, s.data, s.len), -E2BIG);
	assert_int_equal(g.n, 0);
	eventstream_finish(&d);
	memset(&g, 0, sizeof(g));
	assert_int_equal(decode(&s, 0, s.len, &g), 0);
	assert_int_equal(g.n, 1);
	buf_finish(&g.log);
	buf_finish(&s);
}

/* Hand-made frames: lengths that cannot frame, headers overrunning their block, and every
 * header value type skipped on the way to the string one. */
static void build_raw(struct buf *out, const unsigned char *hdr, size_t hlen, size_t total_fix)
{
	unsigned char pre[12], c[4];
	uint32_t total = (uint32_t)(16 + hlen + total_fix), crc;
	size_t i;
	struct buf m = {0};

	for (i = 0; i < 4; i++) {
		pre[i] = (unsigned char)(total >> (24 - 8 * i));
		pre[4 + i] = (unsigned char)(hlen >> (24 - 8 * i));
	}
	crc = eventstream_crc32(0, pre, 8);
	for (i = 0; i < 4; i++)
		pre[8 + i] = (unsigned char)(crc >> (24 - 8 * i));
	buf_append(&m, pre, 12);
	buf_append(&m, hdr, hlen);
	for (i = 0; i < total_fix; i++)
		buf_append(&m, "x", 1);
	crc = eventstream_crc32(0, m.data, m.len);
	for (i = 0; i < 4; i++)
		c[i] = (unsigned char)(crc >> (24 - 8 * i));
	buf_append(&m, c, 4);
	buf_append(out, m.data, m.len);
	buf_finish(&m);
}

static void header_types_and_overruns(void **state)
{
	static const unsigned char all_types[] = {
		1,  'a', 0,					     /* true */
		1,  'b', 1,					     /* false */
		1,  'c', 2,   9,				     /* byte */
		1,  'd', 3,   0,   9,				     /* short */
		1,  'e', 4,   0,   0,	0,    9,		     /* int */
		1,  'f', 5,   0,   0,	0,    0,   0,	0,   0,	  9, /* long */
		1,  'g', 6,   0,   2,	0xff, 0,		     /* bytes */
		1,  'h', 8,   0,   0,	0,    0,   0,	0,   0,	  1, /* timestamp */
		1,  'i', 9,   1,   2,	3,    4,   5,	6,   7,	  8,   9,   10, 11, 12, 13,  14,
		15, 16, /* uuid */
		11, ':', 'e', 'v', 'e', 'n',  't', '-', 't', 'y', 'p', 'e', 7,	0,  2,	'o', 'k',
	};
	static const unsigned char overrun[] = {1, 'a', 7, 0, 9, 'x'};
	static const unsigned char bad_type[] = {1, 'a', 10};
	struct buf s = {0};
	struct got g = {0};

	(void)state;
	build_raw(&s, all_types, sizeof(all_types), 2);
	assert_int_equal(decode(&s, 1, 4096, &g), 0);
	assert_string_equal(buf_str(&g.log), "|ok||xx\n");
	buf_finish(&g.log);
	buf_reset(&s);
	build_raw(&s, overrun, sizeof(overrun), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(decode(&s, 0, 4096, &g), -EPROTO);
	buf_reset(&s);
	build_raw(&s, bad_type, sizeof(bad_type), 0);
	assert_int_equal(decode(&s, 0, 4096, &g), -EPROTO);
	/* A total_len below the prelude + CRC cannot frame anything. */
	buf_reset(&s);
	build_raw(&s, NULL, 0, 0);
	s.data[3] = 8;
	{
		uint32_t crc = eventstream_crc32(0, s.data, 8);
		size_t i;

		for (i = 0; i < 4; i++)
			s.data[8 + i] = (char)(crc >> (24 - 8 * i));
	}
	assert_int_equal(decode(&s, 0, 4096, &g), -EPROTO);
	buf_finish(&s);
}

static void callback_stop_value_is_returned_and_sticky(void **state)
{
	struct buf s = {0};
	struct got g = {.stop_after = 2};

	(void)state;
	sample_stream(&s);
	assert_int_equal(decode(&s, 3, 4096, &g), -ECANCELED);
	assert_int_equal(g.n, 2);
	buf_finish(&g.log);
	buf_finish(&s);
}

static void cut_stream_is_pending(void **state)
{
	struct buf s = {0};
	struct got g = {0};

	(void)state;
	event(&s, "messageStart", "{\"role\":\"assistant\"}");
	s.len -= 3;
	assert_int_equal(decode(&s, 0, 4096, &g), 1);
	buf_finish(&s);
}

/* ---- ConverseStream -> OpenAI chunks ---- */

struct chunks {
	struct buf log; /* one line per emitted text, with volatile fields removed */
	int stop_at;
	int n;
};

static int on_chunk(const char *data, size_t len, void *arg)
{
	struct chunks *c = arg;
	cJSON *o = cJSON_ParseWithLength(data, len);
	char *s;

	c->n++;
	if (!o) {
		buf_printf(&c->log, "%.*s\n", (int)len, data);
	} else {
		if (cJSON_GetObjectItem(o, "model"))
			assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "model")),
					    MODEL_ID);
		cJSON_DeleteItemFromObject(o, "id");
		cJSON_DeleteItemFromObject(o, "created");
		cJSON_DeleteItemFromObject(o, "model");
		cJSON_DeleteItemFromObject(o, "object");
		s = cJSON_PrintUnformatted(o);
		buf_printf(&c->log, "%s\n", s);
		free(s);
		cJSON_Delete(o);
	}
	return c->stop_at && c->n >= c->stop_at ? -ECANCELED : 0;
}

static int run_stream(const struct buf *in, size_t piece, struct chunks *c)
{
	struct config_model m = model(NULL);
	struct provider_stream *s = provider_bedrock.stream_create(&m, 65536, on_chunk, c);
	size_t off = 0, n;
	int rc = 0;

	while (off < in->len && rc == 0) {
		n = piece && piece < in->len - off ? piece : in->len - off;
		rc = provider_bedrock.stream_feed(s, in->data + off, n);
		off += n;
	}
	provider_bedrock.stream_destroy(s);
	return rc;
}

static void converse_stream_becomes_openai_chunks(void **state)
{
	struct buf in = {0};
	struct chunks whole = {0}, split;
	size_t piece;

	(void)state;
	event(&in, "messageStart", "{\"role\":\"assistant\",\"p\":\"ab\"}");
	event(&in, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}");
	event(&in, "contentBlockStop", "{\"contentBlockIndex\":0}");
	event(&in, "contentBlockStart",
	      "{\"contentBlockIndex\":1,\"start\":{\"toolUse\":{"
	      "\"toolUseId\":\"tu1\",\"name\":\"w\"}}}");
	event(&in, "contentBlockDelta",
	      "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{"
	      "\"input\":\"{\\\"a\\\":\"}}}");
	event(&in, "contentBlockDelta",
	      "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{"
	      "\"input\":\"1}\"}}}");
	event(&in, "contentBlockStop", "{\"contentBlockIndex\":1}");
	event(&in, "contentBlockStart",
	      "{\"contentBlockIndex\":2,\"start\":{\"toolUse\":{"
	      "\"toolUseId\":\"tu2\",\"name\":\"v\"}}}");
	event(&in, "contentBlockDelta",
	      "{\"contentBlockIndex\":2,\"delta\":{\"toolUse\":{"
	      "\"input\":\"{}\"}}}");
	event(&in, "messageStop", "{\"stopReason\":\"tool_use\"}");
	event(&in, "metadata",
	      "{\"usage\":{\"inputTokens\":20,\"outputTokens\":9,"
	      "\"totalTokens\":29,\"cacheWriteInputTokens\":3},\"metrics\":{}}");
	assert_int_equal(run_stream(&in, 0, &whole), 0);
	assert_string_equal(
		buf_str(&whole.log),
		"{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
		"\"finish_reason\":null}]}\n"
		"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]"
		"}\n"
		"{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"tu1\",\"type\":"
		"\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"\"},\"index\":0}]},"
		"\"finish_reason\":null}]}\n"
		"{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"function\":{"
		"\"arguments\":"
		"\"{\\\"a\\\":\"},\"index\":0}]},\"finish_reason\":null}]}\n"
		"{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"function\":{"
		"\"arguments\":"
		"\"1}\"},\"index\":0}]},\"finish_reason\":null}]}\n"
		"{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"tu2\",\"type\":"
		"\"function\",\"function\":{\"name\":\"v\",\"arguments\":\"\"},\"index\":1}]},"
		"\"finish_reason\":null}]}\n"
		"{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"function\":{"
		"\"arguments\":"
		"\"{}\"},\"index\":1}]},\"finish_reason\":null}]}\n"
		"{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n"
		"[DONE]\n"
		"{\"choices\":[],\"usage\":{\"prompt_tokens\":23,\"completion_tokens\":9,"
		"\"total_tokens\":32,\"prompt_tokens_details\":{\"cached_tokens\":0},"
		"\"cache_creation_input_tokens\":3}}\n");
	for (piece = 1; piece <= 40; piece++) {
		memset(&split, 0, sizeof(split));
		assert_int_equal(run_stream(&in, piece, &split), 0);
		assert_string_equal(buf_str(&split.log), buf_str(&whole.log));
		buf_finish(&split.log);
	}
	buf_finish(&whole.log);
	buf_finish(&in);
}

static void stream_exceptions_become_error_chunks(void **state)
{
	static const struct {
		const char *type;
		int status;
	} cases[] = {
		{"throttlingException", 429},	      {"validationException", 400},
		{"serviceUnavailableException", 503}, {"internalServerException", 500},
		{"modelStreamErrorException", 424},   {"somethingNewException", 500},
	};
	const char *err[] = {":message-type",  "error",	   ":error-code", "InternalFailure",
			     ":error-message", "it broke", NULL};
	char want[256];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		const char *h[] = {":exception-type", cases[i].type, ":message-type", "exception",
				   NULL};
		struct buf in = {0};
		struct chunks c = {0};

		frame(&in, h, "{\"message\":\"boom\"}");
		assert_int_equal(run_stream(&in, 1, &c), 0);
		snprintf(want, sizeof(want), "\"message\":\"bedrock %s: boom\"", cases[i].type);
		assert_non_null(strstr(buf_str(&c.log), want));
		snprintf(want, sizeof(want), "\"code\":%d}}", cases[i].status);
		assert_non_null(strstr(buf_str(&c.log), want));
		buf_finish(&c.log);
		buf_finish(&in);
	}
	{
		struct buf in = {0};
		struct chunks c = {0};

		frame(&in, err, "");
		assert_int_equal(run_stream(&in, 0, &c), 0);
		assert_non_null(strstr(buf_str(&c.log), "bedrock InternalFailure: it broke"));
		buf_finish(&c.log);
		buf_finish(&in);
	}
}

static void bad_stream_input_is_eproto(void **state)
{
	struct buf in = {0};
	struct chunks c = {0};

	(void)state;
	event(&in, "contentBlockDelta", "not json");
	assert_int_equal(run_stream(&in, 0, &c), -EPROTO);
	buf_reset(&in);
	/* arguments for a block that never started as a tool */
	event(&in, "contentBlockDelta",
	      "{\"contentBlockIndex\":0,\"delta\":{\"toolUse\":{"
	      "\"input\":\"{}\"}}}");
	assert_int_equal(run_stream(&in, 0, &c), -EPROTO);
	buf_reset(&in);
	event(&in, "contentBlockDelta",
	      "{\"contentBlockIndex\":100000,\"delta\":{\"text\":\"x\"}}");
	assert_int_equal(run_stream(&in, 0, &c), -EPROTO);
	buf_reset(&in);
	event(&in, "messageStart", "{\"role\":\"assistant\"}");
	in.data[in.len - 1] ^= 1;
	assert_int_equal(run_stream(&in, 1, &c), -EPROTO);
	buf_finish(&c.log);
	buf_finish(&in);
}

static void emit_stop_value_is_returned(void **state)
{
	struct buf in = {0};
	struct chunks c = {.stop_at = 1};

	(void)state;
	event(&in, "messageStart", "{\"role\":\"assistant\"}");
	event(&in, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}");
	assert_int_equal(run_stream(&in, 0, &c), -ECANCELED);
	assert_int_equal(c.n, 1);
	buf_finish(&c.log);
	buf_finish(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(system_and_turns_are_translated),
		cmocka_unit_test(tool_calls_and_results_become_blocks),
		cmocka_unit_test(images_and_cache_points),
		cmocka_unit_test(refusals_name_the_problem),
		cmocka_unit_test(other_routes_are_refused),
		cmocka_unit_test(url_and_signed_headers),
		cmocka_unit_test(api_base_with_a_port_and_path),
		cmocka_unit_test(answer_text_tools_usage),
		cmocka_unit_test(stop_reasons_map_to_finish_reasons),
		cmocka_unit_test(a_body_that_is_not_converse_is_null),
		cmocka_unit_test(errors_map_to_openai_shape),
		cmocka_unit_test(crc32_is_ieee),
		cmocka_unit_test(decoder_gives_the_same_messages_at_every_split),
		cmocka_unit_test(corrupted_crcs_are_eproto),
		cmocka_unit_test(message_over_the_cap_is_e2big_and_sticky),
		cmocka_unit_test(header_types_and_overruns),
		cmocka_unit_test(callback_stop_value_is_returned_and_sticky),
		cmocka_unit_test(cut_stream_is_pending),
		cmocka_unit_test(converse_stream_becomes_openai_chunks),
		cmocka_unit_test(stream_exceptions_become_error_chunks),
		cmocka_unit_test(bad_stream_input_is_eproto),
		cmocka_unit_test(emit_stop_value_is_returned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
