/* anthropic: the native Anthropic Messages API (POST <api_base>/v1/messages), translated both
 * ways at the edge (docs/providers/anthropic.md says what is and is not).
 *
 *   build:  OpenAI chat request -> a Messages request, written straight into one buffer while
 *           the client's tree is walked (no second tree): system messages -> `system`,
 *           consecutive same-role messages merged (Anthropic wants user/assistant turns),
 *           tool calls -> tool_use, tool messages -> user tool_result blocks, images,
 *           tools, tool_choice, max_tokens (required there), cache_control kept on its block.
 *           Text from the request is re-escaped; numbers, schemas and tool arguments are
 *           copied as the client wrote them.
 *   answer: a Message -> a chat.completion (text, tool_calls, reasoning_content, usage).
 *   stream: Anthropic's named SSE events (net/sse.h's parser) -> chat.completion.chunk texts;
 *           a per-tool counter gives OpenAI's tool_calls[].index (Anthropic's block index
 *           counts text blocks too).
 *   error:  {"type":"error","error":{"type","message"}} -> OpenAI's shape, with
 *           context_length_exceeded for "prompt is too long".
 * Rejected: building an Anthropic cJSON tree and printing it (twice the allocations of the
 * writer, and the client's numbers would need json_exact's relabelling anyway).
 */
#include "router/providers/provider.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/util.h"
#include "net/sse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_TOKENS 4096
#define MAX_BLOCKS	   4096 /* content blocks in one streamed message */

/* ---- small JSON writers ---- */

static const cJSON *get(const cJSON *obj, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static const char *get_str(const cJSON *obj, const char *name)
{
	const cJSON *v = get(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void put_str(struct buf *b, const char *s)
{
	buf_json_str(b, s, strlen(s));
}

/* Any JSON value as the client wrote it (numbers keep their digits). */
static void put_json(struct buf *b, const cJSON *v)
{
	char *s = json_exact_print(v);

	buf_puts(b, s);
	free(s);
}

/* A comma before every item of a list but the first. */
static void sep(struct buf *b, size_t *n)
{
	if ((*n)++)
		buf_puts(b, ",");
}

static void put_cache(struct buf *b, const cJSON *cache)
{
	if (!cJSON_IsObject(cache))
		return;
	buf_puts(b, ",\"cache_control\":");
	put_json(b, cache);
}

static void text_block(struct buf *b, const char *text, const cJSON *cache)
{
	buf_puts(b, "{\"type\":\"text\",\"text\":");
	put_str(b, text);
	put_cache(b, cache);
	buf_puts(b, "}");
}

/* ---- request ---- */

/* The request being written: the body, the open message and where an error was found. */
struct req {
	struct buf b;
	const char *role;  /* role of the open message; NULL = none open */
	size_t n_messages; /* messages written */
	size_t n_blocks;   /* blocks in the open message */
	size_t msg;	   /* the message being written, for error messages */
	char *err;
	size_t err_len;
};

static int fail(struct req *q, const char *what)
{
	snprintf(q->err, q->err_len, "messages[%zu]: %s", q->msg, what);
	return -EINVAL;
}

/* Opens a block of role: in the open message when it has that role (Anthropic wants the
 * roles to alternate, so consecutive same-role messages become one), else in a new one. */
static void open_block(struct req *q, const char *role)
{
	if (!q->role || strcmp(q->role, role) != 0) {
		if (q->role)
			buf_puts(&q->b, "]}");
		if (q->n_messages++)
			buf_puts(&q->b, ",");
		buf_puts(&q->b, "{\"role\":\"");
		buf_puts(&q->b, role);
		buf_puts(&q->b, "\",\"content\":[");
		q->role = role;
		q->n_blocks = 0;
	}
	sep(&q->b, &q->n_blocks);
}

/* An image_url part: data: URLs become base64 sources, http(s) URLs url sources. */
static int image_block(struct req *q, struct buf *b, const cJSON *part, const cJSON *cache)
{
	const cJSON *iu = get(part, "image_url");
	const char *url = cJSON_IsString(iu) ? iu->valuestring : get_str(iu, "url");
	const char *comma;

	if (!url)
		return fail(q, "an image_url part has no url");
	if (strncmp(url, "data:", 5) == 0) {
		comma = strchr(url, ',');
		if (!comma || comma - url < 12 || strncmp(comma - 7, ";base64", 7) != 0)
			return fail(q,
				    "an image data: URL must be base64 (data:<type>;base64,...)");
		buf_puts(b, "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":");
		buf_json_str(b, url + 5, (size_t)(comma - 7 - url - 5));
		buf_puts(b, ",\"data\":");
		put_str(b, comma + 1);
	} else if (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) {
		buf_puts(b, "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":");
		put_str(b, url);
	} else {
		return fail(q, "an image_url must be a data: URL or an http(s) URL");
	}
	buf_puts(b, "}");
	put_cache(b, cache);
	buf_puts(b, "}");
	return 0;
}

/* A PDF given as an OpenAI file part with base64 file_data -> a document block. */
static int file_block(struct req *q, struct buf *b, const cJSON *part, const cJSON *cache)
{
	const char *data = get_str(get(part, "file"), "file_data");
	const char *prefix = "data:application/pdf;base64,";

	if (!data || strncmp(data, prefix, strlen(prefix)) != 0)
		return fail(q,
			    "only base64 PDF file parts (data:application/pdf;base64,...) can be "
			    "sent to Anthropic");
	buf_puts(b, "{\"type\":\"document\",\"source\":{\"type\":\"base64\",\"media_type\":"
		    "\"application/pdf\",\"data\":");
	put_str(b, data + strlen(prefix));
	buf_puts(b, "}");
	put_cache(b, cache);
	buf_puts(b, "}");
	return 0;
}

/* One content part -> one block in b (after the separator). Empty text parts are dropped:
 * Anthropic refuses empty text blocks. */
static int part_block(struct req *q, struct buf *b, size_t *n, const cJSON *part,
		      const cJSON *cache, bool text_only)
{
	const char *type = get_str(part, "type"), *text;

	if (cJSON_IsObject(get(part, "cache_control")))
		cache = get(part, "cache_control");
	if (type && strcmp(type, "text") == 0) {
		text = get_str(part, "text");
		if (!text)
			return fail(q, "a text part has no text");
		if (!*text)
			return 0;
		sep(b, n);
		text_block(b, text, cache);
		return 0;
	}
	if (text_only)
		return fail(q, "only text parts can go in this message to Anthropic");
	if (type && strcmp(type, "image_url") == 0) {
		sep(b, n);
		return image_block(q, b, part, cache);
	}
	if (type && strcmp(type, "file") == 0) {
		sep(b, n);
		return file_block(q, b, part, cache);
	}
	snprintf(q->err, q->err_len,
		 "messages[%zu]: content part type \"%s\" cannot be sent to "
		 "Anthropic (text, image_url and PDF file parts can)",
		 q->msg, type ? type : "");
	return -EINVAL;
}

/* The blocks of a content (string or parts) into b; cache (the message's cache_control)
 * goes on the last block, where LiteLLM puts it. */
static int content_blocks(struct req *q, struct buf *b, size_t *n, const cJSON *content,
			  const cJSON *cache, bool text_only)
{
	const cJSON *part;
	int rc = 0;

	if (cJSON_IsString(content)) {
		if (*content->valuestring) {
			sep(b, n);
			text_block(b, content->valuestring, cache);
		}
		return 0;
	}
	if (!cJSON_IsArray(content) && !cJSON_IsNull(content) && content)
		return fail(q, "content must be a string or an array of parts");
	cJSON_ArrayForEach(part, content)
	{
		rc = part_block(q, b, n, part, part->next ? NULL : cache, text_only);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* content_blocks into the open message of role, opened only when there is a block. */
static int message_blocks(struct req *q, const char *role, const cJSON *content, const cJSON *cache)
{
	struct buf tmp;
	size_t n = 0;
	int rc;

	buf_init(&tmp, 0);
	rc = content_blocks(q, &tmp, &n, content, cache, false);
	if (rc == 0 && n) {
		open_block(q, role);
		buf_append(&q->b, tmp.data, tmp.len);
		q->n_blocks += n - 1;
	}
	buf_finish(&tmp);
	return rc;
}

/* An assistant's tool_calls -> tool_use blocks; arguments must be a JSON object. */
static int tool_uses(struct req *q, const cJSON *calls, const cJSON *cache)
{
	const cJSON *tc, *fn;
	const char *id, *name, *args;
	cJSON *parsed;

	cJSON_ArrayForEach(tc, calls)
	{
		fn = get(tc, "function");
		id = get_str(tc, "id");
		name = get_str(fn, "name");
		args = get_str(fn, "arguments");
		if (!id || !name)
			return fail(q, "a tool call needs an id and a function name");
		if (!args || !*args)
			args = "{}";
		parsed = json_parse_str(args, NULL);
		if (!cJSON_IsObject(parsed)) {
			cJSON_Delete(parsed);
			snprintf(q->err, q->err_len,
				 "messages[%zu]: the arguments of tool call %s are not a JSON "
				 "object "
				 "(Anthropic needs the tool input as an object)",
				 q->msg, id);
			return -EINVAL;
		}
		cJSON_Delete(parsed);
		open_block(q, "assistant");
		buf_puts(&q->b, "{\"type\":\"tool_use\",\"id\":");
		put_str(&q->b, id);
		buf_puts(&q->b, ",\"name\":");
		put_str(&q->b, name);
		buf_puts(&q->b, ",\"input\":");
		buf_puts(&q->b, args);
		put_cache(&q->b, tc->next ? NULL : cache);
		buf_puts(&q->b, "}");
	}
	return 0;
}

static int assistant_message(struct req *q, const cJSON *msg, const cJSON *cache)
{
	const cJSON *calls = get(msg, "tool_calls"), *tb, *blk;
	bool has_calls = cJSON_IsArray(calls) && cJSON_GetArraySize(calls) > 0;
	int rc;

	/* Thinking blocks given back (LiteLLM's field) go first, as Anthropic sent them. */
	tb = get(msg, "thinking_blocks");
	cJSON_ArrayForEach(blk, (cJSON_IsArray(tb) ? tb : NULL))
	{
		open_block(q, "assistant");
		put_json(&q->b, blk);
	}
	rc = message_blocks(q, "assistant", get(msg, "content"), has_calls ? NULL : cache);
	if (rc == 0 && has_calls)
		rc = tool_uses(q, calls, cache);
	return rc;
}

/* A tool message -> a tool_result block of a user message. */
static int tool_result(struct req *q, const cJSON *msg, const cJSON *cache)
{
	const char *id = get_str(msg, "tool_call_id");
	const cJSON *content = get(msg, "content");
	struct buf tmp;
	size_t n = 0;
	int rc;

	if (!id)
		return fail(q, "a tool message needs a tool_call_id");
	open_block(q, "user");
	buf_puts(&q->b, "{\"type\":\"tool_result\",\"tool_use_id\":");
	put_str(&q->b, id);
	if (cJSON_IsString(content) && *content->valuestring) {
		buf_puts(&q->b, ",\"content\":");
		put_str(&q->b, content->valuestring);
	} else if (cJSON_IsArray(content)) {
		buf_init(&tmp, 0);
		rc = content_blocks(q, &tmp, &n, content, NULL, false);
		if (rc == 0 && n)
			buf_printf(&q->b, ",\"content\":[%s]", buf_str(&tmp));
		buf_finish(&tmp);
		if (rc < 0)
			return rc;
	}
	put_cache(&q->b, cache);
	buf_puts(&q->b, "}");
	return 0;
}

static bool is_system(const char *role)
{
	return strcmp(role, "system") == 0 || strcmp(role, "developer") == 0;
}

/* Every system (and developer) message, in order -> `system`: text blocks when any carries
 * cache_control (only blocks can), else one string, the texts joined by a blank line. */
static int system_field(struct req *q, const cJSON *messages)
{
	struct buf blocks, text;
	const cJSON *msg, *content, *part;
	const char *role;
	size_t n = 0;
	bool cached = false;
	int rc = 0;

	buf_init(&blocks, 0);
	buf_init(&text, 0);
	q->msg = 0;
	cJSON_ArrayForEach(msg, messages)
	{
		role = get_str(msg, "role");
		if (role && is_system(role)) {
			content = get(msg, "content");
			rc = content_blocks(q, &blocks, &n, content, get(msg, "cache_control"),
					    true);
			if (rc < 0)
				break;
			cached = cached || cJSON_IsObject(get(msg, "cache_control"));
			cJSON_ArrayForEach(part, (cJSON_IsArray(content) ? content : NULL))
			{
				cached = cached || cJSON_IsObject(get(part, "cache_control"));
				if (get_str(part, "text") && *get_str(part, "text"))
					buf_printf(&text, "%s%s", text.len ? "\n\n" : "",
						   get_str(part, "text"));
			}
			if (cJSON_IsString(content) && *content->valuestring)
				buf_printf(&text, "%s%s", text.len ? "\n\n" : "",
					   content->valuestring);
		}
		q->msg++;
	}
	if (rc == 0 && n && cached)
		buf_printf(&q->b, ",\"system\":[%s]", buf_str(&blocks));
	else if (rc == 0 && n) {
		buf_puts(&q->b, ",\"system\":");
		buf_json_str(&q->b, text.data, text.len);
	}
	buf_finish(&blocks);
	buf_finish(&text);
	return rc;
}

static int messages_field(struct req *q, const cJSON *messages)
{
	const cJSON *msg, *cache;
	const char *role;
	int rc = 0;

	if (!cJSON_IsArray(messages)) {
		snprintf(q->err, q->err_len, "messages must be an array");
		return -EINVAL;
	}
	rc = system_field(q, messages);
	buf_puts(&q->b, ",\"messages\":[");
	q->msg = 0;
	cJSON_ArrayForEach(msg, messages)
	{
		role = get_str(msg, "role");
		cache = get(msg, "cache_control");
		if (rc < 0)
			break;
		if (!role)
			rc = fail(q, "role is missing");
		else if (is_system(role))
			rc = 0;
		else if (strcmp(role, "user") == 0)
			rc = message_blocks(q, "user", get(msg, "content"), cache);
		else if (strcmp(role, "assistant") == 0)
			rc = assistant_message(q, msg, cache);
		else if (strcmp(role, "tool") == 0)
			rc = tool_result(q, msg, cache);
		else
			rc = fail(q, "this role cannot be sent to Anthropic (system, developer, "
				     "user, assistant and tool can)");
		q->msg++;
	}
	if (q->role)
		buf_puts(&q->b, "]}");
	buf_puts(&q->b, "]");
	return rc;
}

static int tools_field(struct req *q, const cJSON *tools)
{
	const cJSON *t, *fn, *params, *cache;
	const char *type, *desc;
	size_t n = 0;

	if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) == 0)
		return 0;
	buf_puts(&q->b, ",\"tools\":[");
	cJSON_ArrayForEach(t, tools)
	{
		type = get_str(t, "type");
		fn = get(t, "function");
		if ((type && strcmp(type, "function") != 0) || !get_str(fn, "name")) {
			snprintf(q->err, q->err_len,
				 "tools[%zu]: only function tools with a name can "
				 "be sent to Anthropic",
				 n);
			return -EINVAL;
		}
		sep(&q->b, &n);
		buf_puts(&q->b, "{\"name\":");
		put_str(&q->b, get_str(fn, "name"));
		desc = get_str(fn, "description");
		if (desc) {
			buf_puts(&q->b, ",\"description\":");
			put_str(&q->b, desc);
		}
		buf_puts(&q->b, ",\"input_schema\":");
		params = get(fn, "parameters");
		if (cJSON_IsObject(params))
			put_json(&q->b, params);
		else
			buf_puts(&q->b, "{\"type\":\"object\",\"properties\":{}}");
		cache = get(t, "cache_control");
		put_cache(&q->b, cJSON_IsObject(cache) ? cache : get(fn, "cache_control"));
		buf_puts(&q->b, "}");
	}
	buf_puts(&q->b, "]");
	return 0;
}

/* tool_choice and parallel_tool_calls:false (Anthropic's disable_parallel_tool_use, which
 * lives in tool_choice). Only with tools: Anthropic refuses a tool_choice without them. */
static int tool_choice_field(struct req *q, const cJSON *req)
{
	const cJSON *tc = get(req, "tool_choice"), *tools = get(req, "tools");
	const cJSON *par = get(req, "parallel_tool_calls");
	const char *name = get_str(get(tc, "function"), "name");
	const char *s = cJSON_IsString(tc) ? tc->valuestring : NULL;

	if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) == 0)
		return 0;
	if (!tc || cJSON_IsNull(tc) || (s && strcmp(s, "auto") == 0))
		s = "auto";
	else if (s && strcmp(s, "required") == 0)
		s = "any";
	else if (s && strcmp(s, "none") == 0)
		s = "none";
	else if (name)
		s = "tool";
	else {
		snprintf(q->err, q->err_len,
			 "tool_choice must be \"auto\", \"none\", \"required\" "
			 "or {\"type\":\"function\",\"function\":{\"name\":...}}");
		return -EINVAL;
	}
	if (!tc && !cJSON_IsFalse(par))
		return 0;
	buf_printf(&q->b, ",\"tool_choice\":{\"type\":\"%s\"", s);
	if (strcmp(s, "tool") == 0) {
		buf_puts(&q->b, ",\"name\":");
		put_str(&q->b, name);
	}
	if (cJSON_IsFalse(par) && strcmp(s, "none") != 0)
		buf_puts(&q->b, ",\"disable_parallel_tool_use\":true");
	buf_puts(&q->b, "}");
	return 0;
}

/* Anthropic requires max_tokens: the request's, else the deployment's, else its model_info
 * output limit, else 4096. */
static int64_t max_tokens_of(const struct config_model *m, const cJSON *req)
{
	const cJSON *v = get(req, "max_tokens");

	if (!cJSON_IsNumber(v))
		v = get(req, "max_completion_tokens");
	if (cJSON_IsNumber(v) && v->valuedouble >= 1)
		return clamp_i64(v->valuedouble, 1, INT64_C(1) << 40);
	if (m->litellm_params.max_tokens > 0)
		return m->litellm_params.max_tokens;
	if (m->model_info.max_output_tokens > 0)
		return m->model_info.max_output_tokens;
	return DEFAULT_MAX_TOKENS;
}

/* OpenAI's reasoning_effort as Anthropic's thinking budget, LiteLLM's defaults
 * (DEFAULT_REASONING_EFFORT_*_THINKING_BUDGET; minimal at Anthropic's least, 1024). */
static const struct {
	const char *effort;
	int budget;
} thinking_budgets[] = {
	{"none", 0},   {"disable", 0},	 {"minimal", 1024},
	{"low", 1024}, {"medium", 2048}, {"high", 4096},
};

/* "thinking" when the request gives only reasoning_effort (a request's own thinking wins). */
static int effort_thinking(struct req *q, const cJSON *req)
{
	const char *effort = get_str(req, "reasoning_effort");
	size_t i;

	if (!effort || (get(req, "thinking") && !cJSON_IsNull(get(req, "thinking"))))
		return 0;
	for (i = 0; i < ARRAY_LEN(thinking_budgets); i++)
		if (strcmp(effort, thinking_budgets[i].effort) == 0)
			break;
	if (i == ARRAY_LEN(thinking_budgets)) {
		snprintf(q->err, q->err_len,
			 "reasoning_effort must be none, minimal, low, medium or high for "
			 "Anthropic");
		return -EINVAL;
	}
	if (thinking_budgets[i].budget > 0)
		buf_printf(&q->b, ",\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":%d}",
			   thinking_budgets[i].budget);
	return 0;
}

/* Sampling and the rest of the fields Anthropic has; OpenAI-only ones are dropped. */
static int options_fields(struct req *q, const cJSON *req)
{
	static const char *const same[] = {"temperature", "top_p", "top_k", "thinking"};
	const cJSON *v, *stop = get(req, "stop"), *n = get(req, "n");
	const char *user = get_str(req, "user");
	size_t i, k = 0;

	if (cJSON_IsNumber(n) && n->valuedouble != 1) {
		snprintf(q->err, q->err_len, "n must be 1 for Anthropic (one choice per request)");
		return -EINVAL;
	}
	for (i = 0; i < ARRAY_LEN(same); i++) {
		v = get(req, same[i]);
		if (v && !cJSON_IsNull(v)) {
			buf_printf(&q->b, ",\"%s\":", same[i]);
			put_json(&q->b, v);
		}
	}
	if (effort_thinking(q, req) < 0)
		return -EINVAL;
	if (cJSON_IsString(stop) || (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) > 0)) {
		buf_puts(&q->b, ",\"stop_sequences\":[");
		cJSON_ArrayForEach(v, (cJSON_IsArray(stop) ? stop : NULL))
		{
			if (cJSON_IsString(v)) {
				sep(&q->b, &k);
				put_str(&q->b, v->valuestring);
			}
		}
		if (cJSON_IsString(stop))
			put_str(&q->b, stop->valuestring);
		buf_puts(&q->b, "]");
	}
	if (user && *user) {
		buf_puts(&q->b, ",\"metadata\":{\"user_id\":");
		put_str(&q->b, user);
		buf_puts(&q->b, "}");
	}
	return 0;
}

/* api_base as LiteLLM takes it: the host, .../v1, or the whole .../v1/messages. */
static char *messages_url(const char *api_base)
{
	size_t n = strlen(api_base);

	while (n && api_base[n - 1] == '/')
		n--;
	if (n >= 12 && strncmp(api_base + n - 12, "/v1/messages", 12) == 0)
		return xstrndup(api_base, n);
	if (n >= 3 && strncmp(api_base + n - 3, "/v1", 3) == 0)
		return provider_join(api_base, "/messages");
	return provider_join(api_base, "/v1/messages");
}

static int build(const struct config_model *m, enum provider_route route, cJSON *req, bool stream,
		 struct provider_request *out, char *err, size_t err_len)
{
	struct req q = {.err = err, .err_len = err_len};
	int rc;

	if (route != PROVIDER_CHAT) {
		snprintf(err, err_len, "anthropic deployments serve chat completions only");
		return -ENOTSUP;
	}
	buf_init(&q.b, 0);
	buf_puts(&q.b, "{\"model\":");
	put_str(&q.b, m->upstream_model);
	buf_puts(&q.b, ",\"max_tokens\":");
	buf_put_int(&q.b, max_tokens_of(m, req));
	rc = messages_field(&q, get(req, "messages"));
	if (rc == 0)
		rc = tools_field(&q, get(req, "tools"));
	if (rc == 0)
		rc = tool_choice_field(&q, req);
	if (rc == 0)
		rc = options_fields(&q, req);
	if (rc < 0) {
		buf_finish(&q.b);
		return rc;
	}
	if (stream)
		buf_puts(&q.b, ",\"stream\":true");
	buf_puts(&q.b, "}");
	out->body_len = q.b.len;
	out->body = buf_steal(&q.b);
	out->url = messages_url(m->litellm_params.api_base);
	return 0;
}

/* ---- answers ---- */

struct usage {
	int64_t input, output, cache_creation, cache_read;
};

static void read_usage(struct usage *u, const cJSON *usage)
{
	const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{"input_tokens", offsetof(struct usage, input)},
		{"output_tokens", offsetof(struct usage, output)},
		{"cache_creation_input_tokens", offsetof(struct usage, cache_creation)},
		{"cache_read_input_tokens", offsetof(struct usage, cache_read)},
	};
	const cJSON *v;
	size_t i;

	for (i = 0; i < ARRAY_LEN(fields); i++) {
		v = get(usage, fields[i].name);
		if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15)
			*(int64_t *)((char *)u + fields[i].off) = (int64_t)v->valuedouble;
	}
}

/* OpenAI's usage, as LiteLLM gives it for Anthropic: cached and cache-written tokens are
 * prompt tokens too, and the raw cache counts stay beside. */
static void put_usage(struct buf *b, const struct usage *u)
{
	int64_t prompt = u->input + u->cache_creation + u->cache_read;

	/* On every answer and final chunk: appends, not printf. */
	buf_puts(b, "{\"prompt_tokens\":");
	buf_put_int(b, prompt);
	buf_puts(b, ",\"completion_tokens\":");
	buf_put_int(b, u->output);
	buf_puts(b, ",\"total_tokens\":");
	buf_put_int(b, prompt + u->output);
	buf_puts(b, ",\"prompt_tokens_details\":{\"cached_tokens\":");
	buf_put_int(b, u->cache_read);
	buf_puts(b, "},\"cache_creation_input_tokens\":");
	buf_put_int(b, u->cache_creation);
	buf_puts(b, ",\"cache_read_input_tokens\":");
	buf_put_int(b, u->cache_read);
	buf_puts(b, "}");
}

static const char *finish_reason(const char *stop_reason)
{
	static const char *const map[][2] = {
		{"end_turn", "stop"},	       {"stop_sequence", "stop"},
		{"max_tokens", "length"},      {"tool_use", "tool_calls"},
		{"refusal", "content_filter"}, {"model_context_window_exceeded", "length"},
	};
	size_t i;

	for (i = 0; stop_reason && i < ARRAY_LEN(map); i++)
		if (strcmp(stop_reason, map[i][0]) == 0)
			return map[i][1];
	return "stop";
}

/* The pieces of an answer's content, gathered block by block. */
struct gathered {
	struct buf text, reasoning, calls, thinking_blocks;
	size_t n_calls, n_thinking;
};

static void gather_block(struct gathered *g, const cJSON *blk)
{
	const char *type = get_str(blk, "type"), *s;
	char *args;

	if (!type)
		return;
	s = get_str(blk, "text");
	if (strcmp(type, "text") == 0 && s) {
		buf_puts(&g->text, s);
	} else if (strcmp(type, "tool_use") == 0) {
		sep(&g->calls, &g->n_calls);
		buf_printf(&g->calls, "{\"index\":%zu,\"id\":", g->n_calls - 1);
		put_str(&g->calls, get_str(blk, "id") ? get_str(blk, "id") : "");
		buf_puts(&g->calls, ",\"type\":\"function\",\"function\":{\"name\":");
		put_str(&g->calls, get_str(blk, "name") ? get_str(blk, "name") : "");
		buf_puts(&g->calls, ",\"arguments\":");
		args = get(blk, "input") ? json_exact_print(get(blk, "input")) : xstrdup("{}");
		put_str(&g->calls, args);
		free(args);
		buf_puts(&g->calls, "}}");
	} else if (strcmp(type, "thinking") == 0 || strcmp(type, "redacted_thinking") == 0) {
		s = get_str(blk, "thinking");
		if (s)
			buf_puts(&g->reasoning, s);
		sep(&g->thinking_blocks, &g->n_thinking);
		put_json(&g->thinking_blocks, blk);
	}
}

static void put_message(struct buf *b, struct gathered *g)
{
	buf_puts(b, "{\"role\":\"assistant\",\"content\":");
	if (g->text.len)
		buf_json_str(b, g->text.data, g->text.len);
	else
		buf_puts(b, g->n_calls ? "null" : "\"\"");
	if (g->n_calls)
		buf_printf(b, ",\"tool_calls\":[%s]", buf_str(&g->calls));
	if (g->reasoning.len) {
		buf_puts(b, ",\"reasoning_content\":");
		buf_json_str(b, g->reasoning.data, g->reasoning.len);
	}
	if (g->n_thinking)
		buf_printf(b, ",\"thinking_blocks\":[%s]", buf_str(&g->thinking_blocks));
	buf_puts(b, "}");
}

static char *answer(const struct config_model *m, enum provider_route route, const char *body,
		    size_t len)
{
	cJSON *root = json_exact_parse(body, len);
	const cJSON *content = get(root, "content"), *blk;
	const char *type = get_str(root, "type"), *id, *model;
	struct gathered g = {0};
	struct usage u = {0};
	struct buf b;

	(void)route; /* one answer shape: chat */
	if (!type || strcmp(type, "message") != 0 || !cJSON_IsArray(content)) {
		cJSON_Delete(root);
		return NULL;
	}
	buf_init(&g.text, 0);
	buf_init(&g.reasoning, 0);
	buf_init(&g.calls, 0);
	buf_init(&g.thinking_blocks, 0);
	cJSON_ArrayForEach(blk, content)
	{
		gather_block(&g, blk);
	}
	id = get_str(root, "id");
	model = get_str(root, "model");
	read_usage(&u, get(root, "usage"));
	buf_init(&b, 0);
	buf_puts(&b, "{\"id\":");
	put_str(&b, id ? id : "msg");
	buf_puts(&b, ",\"object\":\"chat.completion\",\"created\":");
	buf_put_int(&b, (long long)time(NULL));
	buf_puts(&b, ",\"model\":");
	put_str(&b, model ? model : m->upstream_model);
	buf_puts(&b, ",\"choices\":[{\"index\":0,\"message\":");
	put_message(&b, &g);
	buf_puts(&b, ",\"finish_reason\":\"");
	buf_puts(&b, finish_reason(get_str(root, "stop_reason")));
	buf_puts(&b, "\"}],\"usage\":");
	put_usage(&b, &u);
	buf_puts(&b, "}");
	buf_finish(&g.text);
	buf_finish(&g.reasoning);
	buf_finish(&g.calls);
	buf_finish(&g.thinking_blocks);
	cJSON_Delete(root);
	return buf_steal(&b);
}

/* ---- errors ---- */

/* The HTTP status Anthropic gives each error type (in-stream errors carry only the type). */
static long status_of_type(const char *type)
{
	static const struct {
		const char *type;
		long status;
	} map[] = {
		{"invalid_request_error", 400}, {"authentication_error", 401},
		{"billing_error", 402},		{"permission_error", 403},
		{"not_found_error", 404},	{"request_too_large", 413},
		{"rate_limit_error", 429},	{"api_error", 500},
		{"timeout_error", 504},		{"overloaded_error", 529},
	};
	size_t i;

	for (i = 0; type && i < ARRAY_LEN(map); i++)
		if (strcmp(type, map[i].type) == 0)
			return map[i].status;
	return 500;
}

static bool contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/* The code LiteLLM's classes key on, when the message tells. */
static const char *code_of(const char *message)
{
	if (contains(message, "prompt is too long") || contains(message, "exceed context limit"))
		return "context_length_exceeded";
	if (contains(message, "content filtering policy"))
		return "content_policy_violation";
	return NULL;
}

/* {"error":{"message","type","param":null,"code":<number>}}: the shape of an error inside a
 * stream or a 200 answer, whose code the router reads as the HTTP status. */
static void put_status_error(struct buf *b, const char *message, const char *type, long status)
{
	buf_puts(b, "{\"error\":{\"message\":");
	put_str(b, message);
	buf_puts(b, ",\"type\":");
	put_str(b, type);
	buf_printf(b, ",\"param\":null,\"code\":%ld}}", status);
}

static char *error(long status, const char *body, size_t len)
{
	cJSON *root = json_parse(body, len, 0, NULL);
	const cJSON *e = get(root, "error");
	const char *message = get_str(e, "message"), *type = get_str(e, "type"), *code;
	char *out;
	struct buf b;

	if (!cJSON_IsObject(e) || !message) {
		cJSON_Delete(root);
		return NULL;
	}
	code = code_of(message);
	if (status == 200 && !code) {
		buf_init(&b, 0);
		put_status_error(&b, message, type ? type : "api_error", status_of_type(type));
		out = buf_steal(&b);
	} else {
		out = provider_openai_error(message, type, code, status);
	}
	cJSON_Delete(root);
	return out;
}

/* ---- streams ---- */

enum block_kind { B_OTHER, B_TEXT, B_TOOL, B_THINKING };

struct block {
	int64_t index; /* Anthropic's content block index */
	enum block_kind kind;
	size_t tool; /* OpenAI's tool_calls index */
};

struct provider_stream {
	struct sse_parser sse;
	provider_emit_cb emit;
	void *arg;
	char *upstream_model;
	long long created;
	/* Every chunk starts with `{"id":...,"object":...,"created":...,"model":...,`. Its id and
	 * model come from message_start, whose size the SSE cap bounds; so does every chunk. */
	struct buf head;
	struct buf out;
	struct block *blocks;
	size_t n_blocks, n_tools;
	struct usage usage;
	bool finished; /* message_stop or error seen: the rest is ignored */
};

static void set_head(struct provider_stream *s, const char *id, const char *model)
{
	buf_reset(&s->head);
	buf_puts(&s->head, "{\"id\":");
	put_str(&s->head, id ? id : "msg");
	buf_puts(&s->head, ",\"object\":\"chat.completion.chunk\",\"created\":");
	buf_put_int(&s->head, s->created);
	buf_puts(&s->head, ",\"model\":");
	put_str(&s->head, model ? model : s->upstream_model);
	buf_puts(&s->head, ",");
}

static void chunk_begin(struct provider_stream *s)
{
	if (!s->head.len)
		set_head(s, NULL, NULL);
	buf_reset(&s->out);
	buf_append(&s->out, s->head.data, s->head.len);
}

static int chunk_emit(struct provider_stream *s)
{
	return s->emit(s->out.data, s->out.len, s->arg);
}

/* A chunk whose delta is `field: text` (content, reasoning_content). */
static int emit_delta(struct provider_stream *s, const char *field, const char *text)
{
	if (!text || !*text)
		return 0;
	chunk_begin(s);
	buf_puts(&s->out, "\"choices\":[{\"index\":0,\"delta\":{\""); /* every chunk */
	buf_puts(&s->out, field);
	buf_puts(&s->out, "\":");
	put_str(&s->out, text);
	buf_puts(&s->out, "},\"finish_reason\":null}]}");
	return chunk_emit(s);
}

/* A tool_calls delta: the first (id and name given) or an arguments piece. */
static int emit_tool(struct provider_stream *s, size_t tool, const char *id, const char *name,
		     const char *args)
{
	if (!id && (!args || !*args))
		return 0;
	chunk_begin(s);
	buf_puts(&s->out, "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":");
	buf_put_int(&s->out, (long long)tool);
	if (id) {
		buf_puts(&s->out, ",\"id\":");
		put_str(&s->out, id);
		buf_puts(&s->out, ",\"type\":\"function\"");
	}
	buf_puts(&s->out, ",\"function\":{");
	if (id) {
		buf_puts(&s->out, "\"name\":");
		put_str(&s->out, name ? name : "");
		buf_puts(&s->out, ",");
	}
	buf_puts(&s->out, "\"arguments\":");
	put_str(&s->out, args ? args : "");
	buf_puts(&s->out, "}}]},\"finish_reason\":null}]}");
	return chunk_emit(s);
}

static struct block *find_block(struct provider_stream *s, const cJSON *index)
{
	size_t i;

	if (!cJSON_IsNumber(index))
		return NULL;
	for (i = s->n_blocks; i-- > 0;)
		if ((double)s->blocks[i].index == index->valuedouble)
			return &s->blocks[i];
	return NULL;
}

static int on_message_start(struct provider_stream *s, const cJSON *ev)
{
	const cJSON *msg = get(ev, "message");

	set_head(s, get_str(msg, "id"), get_str(msg, "model"));
	read_usage(&s->usage, get(msg, "usage"));
	chunk_begin(s);
	buf_puts(&s->out, "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
			  "\"\"},\"finish_reason\":null}]}");
	return chunk_emit(s);
}

static int on_block_start(struct provider_stream *s, const cJSON *ev)
{
	const cJSON *index = get(ev, "index"), *cb = get(ev, "content_block");
	const char *type = get_str(cb, "type");
	struct block *b;

	if (!cJSON_IsNumber(index))
		return -EPROTO;
	if (s->n_blocks == MAX_BLOCKS)
		return -E2BIG;
	s->blocks = xrealloc(s->blocks, (s->n_blocks + 1) * sizeof(*s->blocks));
	b = &s->blocks[s->n_blocks++];
	b->index = clamp_i64(index->valuedouble, -1, INT64_C(1) << 40);
	b->kind = B_OTHER;
	b->tool = 0;
	if (type && strcmp(type, "text") == 0) {
		b->kind = B_TEXT;
		return emit_delta(s, "content", get_str(cb, "text"));
	}
	if (type && strcmp(type, "thinking") == 0) {
		b->kind = B_THINKING;
		return emit_delta(s, "reasoning_content", get_str(cb, "thinking"));
	}
	if (type && strcmp(type, "tool_use") == 0) {
		b->kind = B_TOOL;
		b->tool = s->n_tools++;
		return emit_tool(s, b->tool, get_str(cb, "id") ? get_str(cb, "id") : "",
				 get_str(cb, "name"), "");
	}
	return 0;
}

static int on_block_delta(struct provider_stream *s, const cJSON *ev)
{
	const struct block *b = find_block(s, get(ev, "index"));
	const cJSON *d = get(ev, "delta");
	const char *type = get_str(d, "type");

	if (!b || !type)
		return 0;
	if (b->kind == B_TEXT && strcmp(type, "text_delta") == 0)
		return emit_delta(s, "content", get_str(d, "text"));
	if (b->kind == B_THINKING && strcmp(type, "thinking_delta") == 0)
		return emit_delta(s, "reasoning_content", get_str(d, "thinking"));
	if (b->kind == B_TOOL && strcmp(type, "input_json_delta") == 0)
		return emit_tool(s, b->tool, NULL, NULL, get_str(d, "partial_json"));
	return 0;
}

static int on_message_delta(struct provider_stream *s, const cJSON *ev)
{
	const char *stop = get_str(get(ev, "delta"), "stop_reason");

	read_usage(&s->usage, get(ev, "usage"));
	chunk_begin(s);
	buf_puts(&s->out, "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"");
	buf_puts(&s->out, finish_reason(stop));
	buf_puts(&s->out, "\"}],\"usage\":");
	put_usage(&s->out, &s->usage);
	buf_puts(&s->out, "}");
	return chunk_emit(s);
}

static int on_message_stop(struct provider_stream *s, const cJSON *ev)
{
	int rc;

	s->finished = true;
	chunk_begin(s);
	buf_puts(&s->out, "\"choices\":[],\"usage\":");
	put_usage(&s->out, &s->usage);
	buf_puts(&s->out, "}");
	rc = chunk_emit(s);
	return rc < 0 ? rc : s->emit("[DONE]", 6, s->arg);
}

static int on_error(struct provider_stream *s, const cJSON *ev)
{
	const cJSON *e = get(ev, "error");
	const char *type = get_str(e, "type"), *message = get_str(e, "message");

	s->finished = true;
	buf_reset(&s->out);
	put_status_error(&s->out, message ? message : "upstream error in the stream",
			 type ? type : "api_error", status_of_type(type));
	return chunk_emit(s);
}

static const struct {
	const char *name;
	int (*fn)(struct provider_stream *s, const cJSON *ev);
} handlers[] = {
	{"message_start", on_message_start},	 {"content_block_start", on_block_start},
	{"content_block_delta", on_block_delta}, {"message_delta", on_message_delta},
	{"message_stop", on_message_stop},	 {"error", on_error},
};

/* One SSE event. Its name says what it is (the data's type says the same; taken when the
 * name is missing); ping, content_block_stop and unknown events are skipped. */
static int on_event(const struct sse_event *ev, void *arg)
{
	struct provider_stream *s = arg;
	cJSON *root;
	const char *name;
	size_t i;
	int rc = 0;

	if (s->finished)
		return 0;
	root = json_parse(ev->data, ev->data_len, 0, NULL);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -EPROTO;
	}
	name = *ev->event ? ev->event : get_str(root, "type");
	for (i = 0; name && i < ARRAY_LEN(handlers); i++) {
		if (strcmp(name, handlers[i].name) == 0) {
			rc = handlers[i].fn(s, root);
			break;
		}
	}
	cJSON_Delete(root);
	return rc;
}

static struct provider_stream *stream_create(const struct config_model *m, size_t max_event_bytes,
					     provider_emit_cb emit, void *arg)
{
	struct provider_stream *s = xcalloc(1, sizeof(*s));

	sse_init(&s->sse, max_event_bytes, on_event, s);
	s->emit = emit;
	s->arg = arg;
	s->upstream_model = xstrdup(m->upstream_model);
	s->created = (long long)time(NULL);
	buf_init(&s->head, 0);
	buf_init(&s->out, 0);
	return s;
}

static int stream_feed(struct provider_stream *s, const char *data, size_t len)
{
	return sse_feed(&s->sse, data, len);
}

static void stream_destroy(struct provider_stream *s)
{
	if (!s)
		return;
	sse_finish(&s->sse);
	buf_finish(&s->head);
	buf_finish(&s->out);
	free(s->blocks);
	free(s->upstream_model);
	free(s);
}

const struct provider_ops provider_anthropic = {
	.name = "anthropic",
	.build = build,
	.answer = answer,
	.stream_create = stream_create,
	.stream_feed = stream_feed,
	.stream_destroy = stream_destroy,
	.error = error,
};
