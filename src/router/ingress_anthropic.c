/* ingress_anthropic: Anthropic Messages in front of the router's OpenAI chat core.
 *
 * Requests are rebuilt as OpenAI chat requests: system -> a system message (cache_control kept
 * on its parts), content blocks -> OpenAI parts, tool_use -> the assistant's tool_calls,
 * tool_result -> role "tool" messages placed right after that assistant message (OpenAI's
 * order), tools and tool_choice -> functions. Answers go back block by block, and a stream
 * becomes Anthropic's events through a small state machine: one content block open at a
 * time, a text block closed when a tool call starts and vice versa, usage in message_delta.
 *
 * Decisions (docs/providers/messages-ingress.md says them to users):
 * - A tool call whose arguments are not a JSON object comes back with input {} in a
 *   non-streamed answer (the client's schema check then tells the model what is missing); a
 *   stream forwards the argument text as it comes (partial_json), as Anthropic does.
 * - message_start carries input_tokens 0: an OpenAI stream reports usage only at its end, so
 *   the real counts come in message_delta (cumulative, as Anthropic's SDKs read them).
 * - Streams whose tool-call fragments interleave (call 0, call 1, call 0 again) cannot be
 *   Anthropic blocks, which never reopen: the stream ends with an error event.
 * Rejected: passing Anthropic's body to Anthropic deployments untouched (one path for every
 * dialect keeps retries, fallbacks, budgets and the ledger identical).
 */
#include "router/ingress_anthropic.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/util.h"
#include "net/sse.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenAI caps "user" at 64 characters; Claude Code's user_id is longer. */
#define OPENAI_USER_MAX 64
/* Distinct tool calls one streamed answer may make. */
#define MAX_STREAM_TOOLS 1024

static const cJSON *field(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *str_field(const cJSON *o, const char *key)
{
	const cJSON *v = field(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* v when it is an array, else NULL: cJSON_ArrayForEach would walk an object's members. */
static const cJSON *list_of(const cJSON *v)
{
	return cJSON_IsArray(v) ? v : NULL;
}

static int fail(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- requests ---- */

struct xlate {
	cJSON *msgs; /* the OpenAI messages being built */
	char *err;
	size_t err_len;
};

static void copy_cache_control(cJSON *to, const cJSON *block)
{
	const cJSON *cc = field(block, "cache_control");

	if (cc && !cJSON_IsNull(cc))
		cJSON_AddItemToObject(to, "cache_control", cJSON_Duplicate(cc, true));
}

static cJSON *text_part(const char *text, const cJSON *block)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "type", "text");
	cJSON_AddStringToObject(p, "text", text);
	if (block)
		copy_cache_control(p, block);
	return p;
}

static bool has_cache_control(const cJSON *block)
{
	const cJSON *cc = field(block, "cache_control");

	return cc && !cJSON_IsNull(cc);
}

/* A base64 image becomes a data: URL, a URL stays one. */
static int image_part(struct xlate *x, const cJSON *block, const char *where, cJSON *parts)
{
	const cJSON *src = field(block, "source");
	const char *type = str_field(src, "type");
	cJSON *p, *iu;
	char *url;

	if (type && strcmp(type, "base64") == 0) {
		const char *media = str_field(src, "media_type"), *data = str_field(src, "data");

		if (!media || !data)
			return fail(x->err, x->err_len,
				    "%s.source: media_type and data are required", where);
		url = xasprintf("data:%s;base64,%s", media, data);
	} else if (type && strcmp(type, "url") == 0 && str_field(src, "url")) {
		url = xstrdup(str_field(src, "url"));
	} else {
		return fail(x->err, x->err_len,
			    "%s.source.type: only base64 and url images can be translated", where);
	}
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "type", "image_url");
	iu = cJSON_AddObjectToObject(p, "image_url");
	cJSON_AddStringToObject(iu, "url", url);
	copy_cache_control(p, block);
	cJSON_AddItemToArray(parts, p);
	free(url);
	return 0;
}

/* A PDF (base64) becomes OpenAI's file part; a plain-text document a text part. */
static int document_part(struct xlate *x, const cJSON *block, const char *where, cJSON *parts)
{
	const cJSON *src = field(block, "source");
	const char *type = str_field(src, "type"), *media = str_field(src, "media_type");
	const char *data = str_field(src, "data"), *title = str_field(block, "title");
	cJSON *p, *f;
	char *url;

	if (type && strcmp(type, "text") == 0 && data) {
		cJSON_AddItemToArray(parts, text_part(data, block));
		return 0;
	}
	if (!type || strcmp(type, "base64") != 0 || !media || !data)
		return fail(x->err, x->err_len,
			    "%s.source: only base64 and text documents can be translated", where);
	url = xasprintf("data:%s;base64,%s", media, data);
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "type", "file");
	f = cJSON_AddObjectToObject(p, "file");
	cJSON_AddStringToObject(f, "filename", title ? title : "document.pdf");
	cJSON_AddStringToObject(f, "file_data", url);
	copy_cache_control(p, block);
	cJSON_AddItemToArray(parts, p);
	free(url);
	return 0;
}

/* A tool_result -> a role "tool" message (text only in OpenAI); its images follow in parts,
 * the user message after the tool messages. */
static int tool_result(struct xlate *x, const cJSON *block, const char *where, cJSON *parts)
{
	const char *id = str_field(block, "tool_use_id");
	const cJSON *content = field(block, "content"), *b;
	struct buf text;
	cJSON *m;
	int i = 0, rc = 0;
	char sub[104];

	if (!id)
		return fail(x->err, x->err_len, "%s.tool_use_id: Field required", where);
	/* Bounded by the request body, which max_body_bytes caps. */
	buf_init(&text, 0);
	if (cJSON_IsTrue(field(block, "is_error")))
		buf_puts(&text, "Error: ");
	if (cJSON_IsString(content)) {
		buf_puts(&text, content->valuestring);
	} else if (cJSON_IsArray(content)) {
		bool first = true;

		cJSON_ArrayForEach(b, content)
		{
			const char *type = str_field(b, "type");

			snprintf(sub, sizeof(sub), "%s.content.%d", where, i++);
			if (type && strcmp(type, "text") == 0 && str_field(b, "text")) {
				if (!first)
					buf_puts(&text, "\n");
				buf_puts(&text, str_field(b, "text"));
				first = false;
			} else if (type && strcmp(type, "image") == 0) {
				rc = image_part(x, b, sub, parts);
			} else {
				rc = fail(x->err, x->err_len,
					  "%s.type: a tool_result may hold text and image blocks",
					  sub);
			}
			if (rc < 0)
				goto out;
		}
	} else if (content && !cJSON_IsNull(content)) {
		rc = fail(x->err, x->err_len, "%s.content: must be a string or a list of blocks",
			  where);
		goto out;
	}
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "tool");
	cJSON_AddStringToObject(m, "tool_call_id", id);
	if (has_cache_control(block)) {
		cJSON *arr = cJSON_AddArrayToObject(m, "content");

		cJSON_AddItemToArray(arr, text_part(buf_str(&text), block));
	} else {
		cJSON_AddStringToObject(m, "content", buf_str(&text));
	}
	cJSON_AddItemToArray(x->msgs, m);
out:
	buf_finish(&text);
	return rc;
}

static int user_block(struct xlate *x, const cJSON *b, const char *where, cJSON *parts)
{
	const char *type = str_field(b, "type");

	if (!type)
		return fail(x->err, x->err_len, "%s.type: Field required", where);
	if (strcmp(type, "text") == 0) {
		if (!str_field(b, "text"))
			return fail(x->err, x->err_len, "%s.text: Field required", where);
		cJSON_AddItemToArray(parts, text_part(str_field(b, "text"), b));
		return 0;
	}
	if (strcmp(type, "image") == 0)
		return image_part(x, b, where, parts);
	if (strcmp(type, "document") == 0)
		return document_part(x, b, where, parts);
	if (strcmp(type, "tool_result") == 0)
		return tool_result(x, b, where, parts);
	return fail(x->err, x->err_len,
		    "%s.type: a %s block cannot be sent to this router's models", where, type);
}

/* One text part without cache_control travels as a plain string: every OpenAI-compatible
 * server takes that. */
static void add_content(cJSON *m, cJSON *parts)
{
	cJSON *only = cJSON_GetArraySize(parts) == 1 ? parts->child : NULL;

	if (only && strcmp(str_field(only, "type"), "text") == 0 && !has_cache_control(only)) {
		cJSON_AddStringToObject(m, "content", str_field(only, "text"));
		cJSON_Delete(parts);
		return;
	}
	cJSON_AddItemToObject(m, "content", parts);
}

static int user_message(struct xlate *x, const cJSON *content, const char *where)
{
	cJSON *parts, *m;
	const cJSON *b;
	int i = 0, rc = 0, tools_before = cJSON_GetArraySize(x->msgs);
	char sub[72];

	if (cJSON_IsString(content)) {
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "role", "user");
		cJSON_AddStringToObject(m, "content", content->valuestring);
		cJSON_AddItemToArray(x->msgs, m);
		return 0;
	}
	parts = cJSON_CreateArray();
	cJSON_ArrayForEach(b, content)
	{
		snprintf(sub, sizeof(sub), "%s.%d", where, i++);
		rc = user_block(x, b, sub, parts);
		if (rc < 0) {
			cJSON_Delete(parts);
			return rc;
		}
	}
	if (cJSON_GetArraySize(parts) == 0) {
		cJSON_Delete(parts);
		if (cJSON_GetArraySize(x->msgs) > tools_before)
			return 0;
		return fail(x->err, x->err_len, "%s: a user message needs content", where);
	}
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	add_content(m, parts);
	cJSON_AddItemToArray(x->msgs, m);
	return 0;
}

static int tool_use(struct xlate *x, const cJSON *b, const char *where, cJSON *calls)
{
	const char *id = str_field(b, "id"), *name = str_field(b, "name");
	const cJSON *input = field(b, "input");
	cJSON *c, *f;
	char *args;

	if (!id || !name)
		return fail(x->err, x->err_len, "%s: a tool_use block needs id and name", where);
	args = input && !cJSON_IsNull(input) ? json_exact_print(input) : xstrdup("{}");
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "id", id);
	cJSON_AddStringToObject(c, "type", "function");
	f = cJSON_AddObjectToObject(c, "function");
	cJSON_AddStringToObject(f, "name", name);
	cJSON_AddStringToObject(f, "arguments", args);
	cJSON_AddItemToArray(calls, c);
	free(args);
	return 0;
}

/* Text blocks -> content (one string, joined by newlines, unless one carries cache_control),
 * tool_use -> tool_calls; thinking blocks are dropped (no OpenAI field takes them back). */
static int assistant_message(struct xlate *x, const cJSON *content, const char *where)
{
	cJSON *m = cJSON_CreateObject(), *parts = cJSON_CreateArray(), *calls = cJSON_CreateArray();
	const cJSON *b;
	struct buf text;
	bool cached = false;
	int i = 0, rc = 0;
	char sub[72];

	buf_init(&text, 0);
	cJSON_AddStringToObject(m, "role", "assistant");
	if (cJSON_IsString(content))
		cJSON_AddItemToArray(parts, text_part(content->valuestring, NULL));
	cJSON_ArrayForEach(b, list_of(content))
	{
		const char *type = str_field(b, "type");

		snprintf(sub, sizeof(sub), "%s.%d", where, i++);
		if (type && strcmp(type, "text") == 0 && str_field(b, "text")) {
			cJSON_AddItemToArray(parts, text_part(str_field(b, "text"), b));
			cached = cached || has_cache_control(b);
		} else if (type && strcmp(type, "tool_use") == 0) {
			rc = tool_use(x, b, sub, calls);
		} else if (!type || (strcmp(type, "thinking") != 0 &&
				     strcmp(type, "redacted_thinking") != 0)) {
			rc = fail(x->err, x->err_len,
				  "%s.type: a %s block cannot be sent to this router's models", sub,
				  type ? type : "(missing)");
		}
		if (rc < 0)
			goto out;
	}
	if (cached) {
		cJSON_AddItemToObject(m, "content", parts);
		parts = NULL;
	} else {
		cJSON_ArrayForEach(b, parts)
		{
			if (text.len)
				buf_puts(&text, "\n");
			buf_puts(&text, str_field(b, "text"));
		}
		if (text.len || cJSON_GetArraySize(calls) == 0)
			cJSON_AddStringToObject(m, "content", buf_str(&text));
		else
			cJSON_AddNullToObject(m, "content");
	}
	if (cJSON_GetArraySize(calls) > 0) {
		cJSON_AddItemToObject(m, "tool_calls", calls);
		calls = NULL;
	}
	cJSON_AddItemToArray(x->msgs, m);
	m = NULL;
out:
	cJSON_Delete(m);
	cJSON_Delete(parts);
	cJSON_Delete(calls);
	buf_finish(&text);
	return rc;
}

static int system_message(struct xlate *x, const cJSON *sys)
{
	cJSON *m, *parts;
	const cJSON *b;
	int i = 0;

	if (!sys || cJSON_IsNull(sys))
		return 0;
	if (!cJSON_IsString(sys) && !cJSON_IsArray(sys))
		return fail(x->err, x->err_len,
			    "system: must be a string or a list of text blocks");
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "system");
	if (cJSON_IsString(sys)) {
		cJSON_AddStringToObject(m, "content", sys->valuestring);
		cJSON_AddItemToArray(x->msgs, m);
		return 0;
	}
	parts = cJSON_CreateArray();
	cJSON_ArrayForEach(b, sys)
	{
		const char *type = str_field(b, "type"), *text = str_field(b, "text");

		if (!type || strcmp(type, "text") != 0 || !text) {
			cJSON_Delete(parts);
			cJSON_Delete(m);
			return fail(x->err, x->err_len, "system.%d: must be a text block", i);
		}
		cJSON_AddItemToArray(parts, text_part(text, b));
		i++;
	}
	if (i == 0) {
		cJSON_Delete(parts);
		cJSON_Delete(m);
		return 0;
	}
	add_content(m, parts);
	cJSON_AddItemToArray(x->msgs, m);
	return 0;
}

static int messages(struct xlate *x, const cJSON *list)
{
	const cJSON *msg;
	int i = 0, rc = 0;
	char where[48];

	if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
		return fail(x->err, x->err_len, "messages: at least one message is required");
	cJSON_ArrayForEach(msg, list)
	{
		const char *role = str_field(msg, "role");
		const cJSON *content = field(msg, "content");

		snprintf(where, sizeof(where), "messages.%d.content", i);
		if (!cJSON_IsString(content) && !cJSON_IsArray(content))
			return fail(x->err, x->err_len, "%s: must be a string or a list of blocks",
				    where);
		if (role && strcmp(role, "user") == 0)
			rc = user_message(x, content, where);
		else if (role && strcmp(role, "assistant") == 0)
			rc = assistant_message(x, content, where);
		else
			rc = fail(x->err, x->err_len, "messages.%d.role: must be user or assistant",
				  i);
		if (rc < 0)
			return rc;
		i++;
	}
	return 0;
}

static int tools(struct xlate *x, const cJSON *list, cJSON *out)
{
	cJSON *arr;
	const cJSON *t;
	int i = 0;

	if (!list || cJSON_IsNull(list))
		return 0;
	if (!cJSON_IsArray(list))
		return fail(x->err, x->err_len, "tools: must be a list");
	if (cJSON_GetArraySize(list) == 0)
		return 0;
	arr = cJSON_AddArrayToObject(out, "tools");
	cJSON_ArrayForEach(t, list)
	{
		const char *name = str_field(t, "name"), *type = str_field(t, "type");
		const cJSON *schema = field(t, "input_schema");
		cJSON *o, *f;

		if (type && strcmp(type, "custom") != 0)
			return fail(x->err, x->err_len,
				    "tools.%d.type: Anthropic's server tool %s cannot run on this "
				    "router's models",
				    i, type);
		if (!name || !cJSON_IsObject(schema))
			return fail(x->err, x->err_len,
				    "tools.%d: name and input_schema are required", i);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "type", "function");
		f = cJSON_AddObjectToObject(o, "function");
		cJSON_AddStringToObject(f, "name", name);
		if (str_field(t, "description"))
			cJSON_AddStringToObject(f, "description", str_field(t, "description"));
		cJSON_AddItemToObject(f, "parameters", cJSON_Duplicate(schema, true));
		copy_cache_control(o, t);
		cJSON_AddItemToArray(arr, o);
		i++;
	}
	return 0;
}

/* auto -> "auto", any -> "required", tool -> that function, none -> "none"; only with tools
 * (OpenAI refuses tool_choice and parallel_tool_calls without them). */
static int tool_choice(struct xlate *x, const cJSON *tc, cJSON *out)
{
	const char *type = str_field(tc, "type");

	if (!tc || cJSON_IsNull(tc))
		return 0;
	if (!type)
		return fail(x->err, x->err_len, "tool_choice.type: Field required");
	if (!field(out, "tools"))
		return 0;
	if (strcmp(type, "auto") == 0) {
		cJSON_AddStringToObject(out, "tool_choice", "auto");
	} else if (strcmp(type, "any") == 0) {
		cJSON_AddStringToObject(out, "tool_choice", "required");
	} else if (strcmp(type, "none") == 0) {
		cJSON_AddStringToObject(out, "tool_choice", "none");
	} else if (strcmp(type, "tool") == 0 && str_field(tc, "name")) {
		cJSON *c = cJSON_AddObjectToObject(out, "tool_choice");

		cJSON_AddStringToObject(c, "type", "function");
		cJSON_AddStringToObject(cJSON_AddObjectToObject(c, "function"), "name",
					str_field(tc, "name"));
	} else {
		return fail(x->err, x->err_len,
			    "tool_choice.type: must be auto, any, tool (with name) or none");
	}
	if (cJSON_IsTrue(field(tc, "disable_parallel_tool_use")))
		cJSON_AddFalseToObject(out, "parallel_tool_calls");
	return 0;
}

/* max_tokens, temperature, top_p (numbers, their text kept), stop_sequences -> stop; top_k has
 * no OpenAI field and is dropped. */
static int sampling(struct xlate *x, const cJSON *in, cJSON *out)
{
	static const char *const numbers[] = {"max_tokens", "temperature", "top_p"};
	const cJSON *v, *s;
	size_t i;

	for (i = 0; i < ARRAY_LEN(numbers); i++) {
		v = field(in, numbers[i]);
		if (!v || cJSON_IsNull(v))
			continue;
		if (!cJSON_IsNumber(v))
			return fail(x->err, x->err_len, "%s: must be a number", numbers[i]);
		cJSON_AddItemToObject(out, numbers[i], cJSON_Duplicate(v, true));
	}
	v = field(in, "stop_sequences");
	if (v && !cJSON_IsNull(v)) {
		cJSON_ArrayForEach(s, list_of(v))
		{
			if (!cJSON_IsString(s))
				break;
		}
		if (!cJSON_IsArray(v) || s)
			return fail(x->err, x->err_len,
				    "stop_sequences: must be a list of strings");
		if (cJSON_GetArraySize(v) > 0)
			cJSON_AddItemToObject(out, "stop", cJSON_Duplicate(v, true));
	}
	return 0;
}

/* metadata.user_id -> user; past OpenAI's 64 characters, its SHA-256 (stable per user). */
static void user_id(const cJSON *in, cJSON *out)
{
	const char *id = str_field(field(in, "metadata"), "user_id");
	char hex[65];

	if (!id || !*id)
		return;
	if (strlen(id) <= OPENAI_USER_MAX) {
		cJSON_AddStringToObject(out, "user", id);
		return;
	}
	sha256_hex(id, strlen(id), hex);
	cJSON_AddStringToObject(out, "user", hex);
}

static int translate(const cJSON *in, cJSON *out, struct xlate *x, bool *stream)
{
	const cJSON *model = field(in, "model"), *st = field(in, "stream");
	int rc;

	if (!cJSON_IsString(model) || !*model->valuestring)
		return fail(x->err, x->err_len, "model: Field required");
	cJSON_AddStringToObject(out, "model", model->valuestring);
	x->msgs = cJSON_AddArrayToObject(out, "messages");
	rc = system_message(x, field(in, "system"));
	if (rc == 0)
		rc = messages(x, field(in, "messages"));
	if (rc == 0)
		rc = sampling(x, in, out);
	if (rc == 0)
		rc = tools(x, field(in, "tools"), out);
	if (rc == 0)
		rc = tool_choice(x, field(in, "tool_choice"), out);
	if (rc < 0)
		return rc;
	if (st && !cJSON_IsBool(st) && !cJSON_IsNull(st))
		return fail(x->err, x->err_len, "stream: must be a boolean");
	*stream = cJSON_IsTrue(st);
	if (*stream) {
		cJSON_AddTrueToObject(out, "stream");
		/* The usage chunk at the end feeds message_delta's counts. */
		cJSON_AddTrueToObject(cJSON_AddObjectToObject(out, "stream_options"),
				      "include_usage");
	}
	user_id(in, out);
	return 0;
}

int ingress_anthropic_request(const char *json, size_t len, struct ingress_anthropic_request *out,
			      char *err, size_t err_len)
{
	struct json_error jerr;
	cJSON *in = json_parse(json, len, JSON_EXACT | JSON_FOLD, &jerr), *o = cJSON_CreateObject();
	struct xlate x = {.err = err, .err_len = err_len};
	bool stream = false;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!in && jerr.duplicate)
		rc = fail(err, err_len, "%s", jerr.msg);
	else if (!cJSON_IsObject(in))
		rc = fail(err, err_len, "request body is not a JSON object");
	else
		rc = translate(in, o, &x, &stream);
	if (rc == 0) {
		out->body = json_exact_print(o);
		out->body_len = strlen(out->body);
		out->model = xstrdup(str_field(in, "model"));
		out->stream = stream;
	}
	cJSON_Delete(in);
	cJSON_Delete(o);
	return rc;
}

void ingress_anthropic_request_finish(struct ingress_anthropic_request *r)
{
	free(r->body);
	free(r->model);
	memset(r, 0, sizeof(*r));
}

int64_t ingress_anthropic_count_tokens(const struct ingress_anthropic_request *r)
{
	return (int64_t)((r->body_len + 3) / 4);
}

/* ---- answers ---- */

struct usage {
	int64_t prompt, completion, cached, created;
	bool known;
};

static int64_t int_field(const cJSON *o, const char *key)
{
	const cJSON *v = field(o, key);

	return cJSON_IsNumber(v) ? clamp_i64(v->valuedouble, 0, INT64_C(1) << 50) : 0;
}

/* OpenAI's usage; cache reads from prompt_tokens_details.cached_tokens, cache writes from
 * OpenRouter's cache_write_tokens or LiteLLM's cache_creation_input_tokens. */
static void read_usage(const cJSON *u, struct usage *out)
{
	const cJSON *d = field(u, "prompt_tokens_details");

	if (!cJSON_IsObject(u))
		return;
	out->known = true;
	out->prompt = int_field(u, "prompt_tokens");
	out->completion = int_field(u, "completion_tokens");
	out->cached = int_field(d, "cached_tokens");
	if (!out->cached)
		out->cached = int_field(u, "cache_read_input_tokens");
	out->created = int_field(d, "cache_write_tokens");
	if (!out->created)
		out->created = int_field(u, "cache_creation_input_tokens");
}

/* Anthropic counts input_tokens without the cached and the cache-writing tokens. */
static int64_t input_tokens(const struct usage *u)
{
	int64_t n = u->prompt - u->cached - u->created;

	return n > 0 ? n : 0;
}

static void add_usage(cJSON *o, const struct usage *u)
{
	cJSON *us = cJSON_AddObjectToObject(o, "usage");

	cJSON_AddNumberToObject(us, "input_tokens", (double)input_tokens(u));
	cJSON_AddNumberToObject(us, "output_tokens", (double)u->completion);
	cJSON_AddNumberToObject(us, "cache_creation_input_tokens", (double)u->created);
	cJSON_AddNumberToObject(us, "cache_read_input_tokens", (double)u->cached);
}

static const char *stop_reason(const char *finish, bool tool_use, bool refused)
{
	if (finish && strcmp(finish, "length") == 0)
		return "max_tokens";
	if (finish && strcmp(finish, "content_filter") == 0)
		return "refusal";
	if ((finish &&
	     (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0)) ||
	    tool_use)
		return "tool_use";
	return refused ? "refusal" : "end_turn";
}

/* "msg_" + the upstream id's safe characters (an Anthropic deployment's "msg_" not doubled). */
static void message_id(const char *upstream, char *out, size_t out_len)
{
	size_t n = 0;

	if (!upstream || !*upstream)
		upstream = "hermetic";
	if (strncmp(upstream, "msg_", 4) == 0)
		upstream += 4;
	n = (size_t)snprintf(out, out_len, "msg_");
	for (; *upstream && n + 1 < out_len && n < 68; upstream++) {
		char c = *upstream;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-')
			out[n++] = c;
	}
	out[n] = '\0';
}

/* Tool arguments -> input: a JSON object as is, anything else {} (see the top comment). */
static cJSON *tool_input(const cJSON *args)
{
	cJSON *in;

	if (cJSON_IsObject(args))
		return cJSON_Duplicate(args, true);
	if (!cJSON_IsString(args))
		return cJSON_CreateObject();
	in = json_exact_parse(args->valuestring, strlen(args->valuestring));
	if (cJSON_IsObject(in))
		return in;
	cJSON_Delete(in);
	return cJSON_CreateObject();
}

static void add_text_block(cJSON *content, const char *text)
{
	cJSON *b;

	if (!text || !*text)
		return;
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "text");
	cJSON_AddStringToObject(b, "text", text);
	cJSON_AddItemToArray(content, b);
}

static bool add_tool_blocks(cJSON *content, const cJSON *calls)
{
	const cJSON *c;
	size_t i = 0;
	char id[32];

	cJSON_ArrayForEach(c, list_of(calls))
	{
		const cJSON *f = field(c, "function");
		cJSON *b = cJSON_CreateObject();

		snprintf(id, sizeof(id), "toolu_%zu", i++);
		cJSON_AddStringToObject(b, "type", "tool_use");
		cJSON_AddStringToObject(b, "id", str_field(c, "id") ? str_field(c, "id") : id);
		cJSON_AddStringToObject(b, "name",
					str_field(f, "name") ? str_field(f, "name") : "");
		cJSON_AddItemToObject(b, "input", tool_input(field(f, "arguments")));
		cJSON_AddItemToArray(content, b);
	}
	return i > 0;
}

char *ingress_anthropic_answer(const char *json, size_t len, const char *model)
{
	cJSON *in = json_exact_parse(json, len), *o, *content;
	const cJSON *choice = cJSON_GetArrayItem(field(in, "choices"), 0);
	const cJSON *msg = field(choice, "message"), *c = field(msg, "content"), *part;
	struct usage u = {0};
	bool tools, refused = false;
	char id[80], *s;

	if (!cJSON_IsObject(msg)) {
		cJSON_Delete(in);
		return NULL;
	}
	message_id(str_field(in, "id"), id, sizeof(id));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "type", "message");
	cJSON_AddStringToObject(o, "role", "assistant");
	cJSON_AddStringToObject(o, "model", model ? model : "");
	content = cJSON_AddArrayToObject(o, "content");
	if (cJSON_IsString(c))
		add_text_block(content, c->valuestring);
	cJSON_ArrayForEach(part, list_of(c))
	{
		add_text_block(content, str_field(part, "text"));
	}
	if (str_field(msg, "refusal") && *str_field(msg, "refusal")) {
		add_text_block(content, str_field(msg, "refusal"));
		refused = true;
	}
	tools = add_tool_blocks(content, field(msg, "tool_calls"));
	cJSON_AddStringToObject(o, "stop_reason",
				stop_reason(str_field(choice, "finish_reason"), tools, refused));
	cJSON_AddNullToObject(o, "stop_sequence");
	read_usage(field(in, "usage"), &u);
	add_usage(o, &u);
	s = json_exact_print(o);
	cJSON_Delete(o);
	cJSON_Delete(in);
	return s;
}

/* ---- errors ---- */

const char *ingress_anthropic_error_type(long status)
{
	static const struct {
		long status;
		const char *type;
	} map[] = {
		{400, "invalid_request_error"}, {401, "authentication_error"},
		{402, "billing_error"},		{403, "permission_error"},
		{404, "not_found_error"},	{408, "timeout_error"},
		{413, "request_too_large"},	{429, "rate_limit_error"},
		{503, "overloaded_error"},	{504, "timeout_error"},
		{529, "overloaded_error"},
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(map); i++)
		if (map[i].status == status)
			return map[i].type;
	return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
}

static char *error_body(const char *type, const char *message)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "{\"type\":\"error\",\"error\":{\"type\":");
	buf_json_str(&b, type, strlen(type));
	buf_puts(&b, ",\"message\":");
	buf_json_str(&b, message, strlen(message));
	buf_puts(&b, "}}");
	return buf_steal(&b);
}

char *ingress_anthropic_error_message(long status, const char *message)
{
	return error_body(ingress_anthropic_error_type(status), message ? message : "");
}

/* The message of {"error":{"message":...}} or {"error":"..."}; NULL when there is none. */
static const char *error_message(const cJSON *root)
{
	const cJSON *e = field(root, "error");

	if (cJSON_IsString(e))
		return e->valuestring;
	return str_field(e, "message");
}

char *ingress_anthropic_error(long status, const char *body, size_t len)
{
	cJSON *root = body ? json_parse(body, len, 0, NULL) : NULL;
	const char *msg = error_message(root);
	char *text = NULL, *s;

	if (!msg && body && len)
		msg = text = xstrndup(body, len);
	s = error_body(ingress_anthropic_error_type(status), msg ? msg : "upstream error");
	free(text);
	cJSON_Delete(root);
	return s;
}

/* ---- streams ---- */

enum block_kind { BLOCK_NONE, BLOCK_TEXT, BLOCK_TOOL };

struct ingress_anthropic_stream {
	struct sse_parser sse;
	struct buf *out; /* set during a feed */
	char *model;
	bool started, over, refused;
	enum block_kind open;
	int index;	/* of the open block */
	int n_blocks;	/* blocks opened so far */
	long open_tool; /* the OpenAI index of the open tool_use block */
	long *tools;	/* OpenAI indexes of the tool calls seen (their blocks closed or open) */
	size_t n_tools;
	char *finish; /* the last finish_reason */
	struct usage usage;
};

static void event_head(struct buf *out, const char *name)
{
	buf_puts(out, "event: ");
	buf_puts(out, name);
	buf_puts(out, "\ndata: {\"type\":\"");
	buf_puts(out, name);
	buf_puts(out, "\"");
}

static void put_str(struct buf *out, const char *s)
{
	buf_json_str(out, s, strlen(s));
}

static void put_int(struct buf *out, const char *key, int64_t v)
{
	buf_printf(out, ",\"%s\":%lld", key, (long long)v);
}

static void stream_error(struct ingress_anthropic_stream *s, const char *type, const char *msg)
{
	event_head(s->out, "error");
	buf_puts(s->out, ",\"error\":{\"type\":");
	put_str(s->out, type);
	buf_puts(s->out, ",\"message\":");
	put_str(s->out, msg);
	buf_puts(s->out, "}}\n\n");
	s->over = true;
}

static void message_start(struct ingress_anthropic_stream *s, const char *upstream_id)
{
	char id[80];

	if (s->started)
		return;
	s->started = true;
	message_id(upstream_id, id, sizeof(id));
	event_head(s->out, "message_start");
	buf_puts(s->out, ",\"message\":{\"id\":");
	put_str(s->out, id);
	buf_puts(s->out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
	put_str(s->out, s->model);
	buf_puts(s->out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
			 "\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}\n\n");
}

static void close_block(struct ingress_anthropic_stream *s)
{
	if (s->open == BLOCK_NONE)
		return;
	event_head(s->out, "content_block_stop");
	put_int(s->out, "index", s->index);
	buf_puts(s->out, "}\n\n");
	s->open = BLOCK_NONE;
}

static void open_block(struct ingress_anthropic_stream *s, enum block_kind kind)
{
	close_block(s);
	s->index = s->n_blocks++;
	s->open = kind;
	s->open_tool = -1;
	event_head(s->out, "content_block_start");
	put_int(s->out, "index", s->index);
}

static void text_delta(struct ingress_anthropic_stream *s, const char *text)
{
	if (!*text)
		return;
	if (s->open != BLOCK_TEXT) {
		open_block(s, BLOCK_TEXT);
		buf_puts(s->out, ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
	}
	event_head(s->out, "content_block_delta");
	put_int(s->out, "index", s->index);
	buf_puts(s->out, ",\"delta\":{\"type\":\"text_delta\",\"text\":");
	put_str(s->out, text);
	buf_puts(s->out, "}}\n\n");
}

static bool tool_seen(const struct ingress_anthropic_stream *s, long idx)
{
	size_t i;

	for (i = 0; i < s->n_tools; i++)
		if (s->tools[i] == idx)
			return true;
	return false;
}

/* One tool-call fragment. Returns 0, or -EPROTO after an error event. */
static int tool_delta(struct ingress_anthropic_stream *s, const cJSON *tc)
{
	const cJSON *ix = field(tc, "index"), *f = field(tc, "function");
	const char *id = str_field(tc, "id"), *name = str_field(f, "name");
	const char *args = str_field(f, "arguments");
	long idx;
	char fallback[32];

	if (cJSON_IsNumber(ix))
		idx = (long)clamp_i64(ix->valuedouble, -1, 1 << 20);
	else if (id || s->open != BLOCK_TOOL)
		idx = (long)s->n_tools; /* no index: a call with an id is a new one */
	else
		idx = s->open_tool;
	if (s->open != BLOCK_TOOL || idx != s->open_tool) {
		if (tool_seen(s, idx)) {
			stream_error(
				s, "api_error",
				"the upstream interleaved the arguments of parallel tool calls, "
				"which Anthropic's content blocks cannot express");
			return -EPROTO;
		}
		if (s->n_tools >= MAX_STREAM_TOOLS) {
			stream_error(s, "api_error", "too many tool calls in one answer");
			return -EPROTO;
		}
		s->tools = xrealloc(s->tools, (s->n_tools + 1) * sizeof(*s->tools));
		s->tools[s->n_tools++] = idx;
		snprintf(fallback, sizeof(fallback), "toolu_%ld", idx);
		open_block(s, BLOCK_TOOL);
		s->open_tool = idx;
		buf_puts(s->out, ",\"content_block\":{\"type\":\"tool_use\",\"id\":");
		put_str(s->out, id ? id : fallback);
		buf_puts(s->out, ",\"name\":");
		put_str(s->out, name ? name : "");
		buf_puts(s->out, ",\"input\":{}}}\n\n");
	}
	if (args && *args) {
		event_head(s->out, "content_block_delta");
		put_int(s->out, "index", s->index);
		buf_puts(s->out, ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":");
		put_str(s->out, args);
		buf_puts(s->out, "}}\n\n");
	}
	return 0;
}

static void message_end(struct ingress_anthropic_stream *s)
{
	const struct usage *u = &s->usage;

	message_start(s, NULL);
	close_block(s);
	event_head(s->out, "message_delta");
	buf_puts(s->out, ",\"delta\":{\"stop_reason\":");
	put_str(s->out, stop_reason(s->finish, s->n_tools > 0, s->refused));
	buf_puts(s->out, ",\"stop_sequence\":null},\"usage\":{\"output_tokens\":");
	buf_printf(s->out, "%lld", (long long)u->completion);
	if (u->known) {
		put_int(s->out, "input_tokens", input_tokens(u));
		put_int(s->out, "cache_creation_input_tokens", u->created);
		put_int(s->out, "cache_read_input_tokens", u->cached);
	}
	buf_puts(s->out, "}}\n\n");
	event_head(s->out, "message_stop");
	buf_puts(s->out, "}\n\n");
	s->over = true;
}

/* An error event of the router or the upstream: {"error":{"message","type","code"}}, code
 * the HTTP status as a number or a string of digits. */
static void upstream_error(struct ingress_anthropic_stream *s, const cJSON *root)
{
	const cJSON *e = field(root, "error"), *code = field(e, "code");
	const char *msg = error_message(root);
	long status = 500;

	if (cJSON_IsNumber(code))
		status = (long)clamp_i64(code->valuedouble, 0, 999);
	else if (cJSON_IsString(code) && code->valuestring[0] >= '1' && code->valuestring[0] <= '9')
		status = strtol(code->valuestring, NULL, 10);
	stream_error(s,
		     status >= 500 || status < 400 ? "api_error"
						   : ingress_anthropic_error_type(status),
		     msg ? msg : "upstream error");
}

static int on_chunk(struct ingress_anthropic_stream *s, const cJSON *root)
{
	const cJSON *choices = field(root, "choices");
	const cJSON *choice = cJSON_GetArrayItem(choices, 0), *delta = field(choice, "delta");
	const cJSON *tc;
	const char *finish = str_field(choice, "finish_reason");

	if (field(root, "error") && !cJSON_IsArray(choices)) {
		upstream_error(s, root);
		return 0;
	}
	message_start(s, str_field(root, "id"));
	if (cJSON_IsObject(field(root, "usage")))
		read_usage(field(root, "usage"), &s->usage);
	if (str_field(delta, "content"))
		text_delta(s, str_field(delta, "content"));
	if (str_field(delta, "refusal") && *str_field(delta, "refusal")) {
		s->refused = true;
		text_delta(s, str_field(delta, "refusal"));
	}
	cJSON_ArrayForEach(tc, list_of(field(delta, "tool_calls")))
	{
		if (tool_delta(s, tc) < 0)
			return -EPROTO;
	}
	if (finish) {
		free(s->finish);
		s->finish = xstrdup(finish);
	}
	return 0;
}

static int on_event(const struct sse_event *ev, void *arg)
{
	struct ingress_anthropic_stream *s = arg;
	cJSON *root;
	int rc = 0;

	if (s->over)
		return 0;
	if (strcmp(ev->data, "[DONE]") == 0) {
		message_end(s);
		return 0;
	}
	root = json_parse(ev->data, ev->data_len, 0, NULL);
	if (!cJSON_IsObject(root)) {
		stream_error(s, "api_error", "the upstream sent a stream chunk that is not JSON");
		rc = -EPROTO;
	} else {
		rc = on_chunk(s, root);
	}
	cJSON_Delete(root);
	return rc;
}

struct ingress_anthropic_stream *ingress_anthropic_stream_create(const char *model,
								 size_t max_event_bytes)
{
	struct ingress_anthropic_stream *s = xcalloc(1, sizeof(*s));

	s->model = xstrdup(model ? model : "");
	sse_init(&s->sse, max_event_bytes ? max_event_bytes : 1024 * 1024, on_event, s);
	return s;
}

int ingress_anthropic_stream_feed(struct ingress_anthropic_stream *s, const char *data, size_t len,
				  struct buf *out)
{
	int rc;

	if (s->over)
		return 0;
	s->out = out;
	rc = sse_feed(&s->sse, data, len);
	if (rc == -E2BIG && !s->over)
		stream_error(s, "api_error", "a stream event is over the size cap");
	s->out = NULL;
	return rc < 0 ? -EPROTO : 0;
}

void ingress_anthropic_stream_end(struct ingress_anthropic_stream *s, struct buf *out)
{
	if (s->over)
		return;
	s->out = out;
	stream_error(s, "api_error", "the upstream stream ended early");
	s->out = NULL;
}

bool ingress_anthropic_stream_over(const struct ingress_anthropic_stream *s)
{
	return s->over;
}

void ingress_anthropic_stream_destroy(struct ingress_anthropic_stream *s)
{
	if (!s)
		return;
	sse_finish(&s->sse);
	free(s->model);
	free(s->tools);
	free(s->finish);
	free(s);
}
