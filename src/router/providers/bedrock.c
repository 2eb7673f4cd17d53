/* bedrock: the AWS Bedrock Converse dialect. A chat request becomes
 * POST <api_base>/model/<model id>/converse (or /converse-stream), the model id
 * percent-encoded (':' -> %3A, '/' -> %2F for ARNs), signed with SigV4 for service "bedrock"
 * on every attempt (sigv4.c: the date is part of the signature). The OpenAI request is
 * translated to Converse's shape (system blocks, alternating user/assistant turns of content
 * blocks, toolUse/toolResult, inferenceConfig, toolConfig, cachePoint); the answer and the
 * ConverseStream events (application/vnd.amazon.eventstream, eventstream.c) come back as
 * OpenAI's chat.completion and chunks; Bedrock's {"message": ...} errors become OpenAI's
 * error shape. Rejected: libcurl's CURLOPT_AWS_SIGV4 (see sigv4.h), InvokeModel (one body
 * format per model family; Converse is the one that covers them all).
 */
#include "router/providers/provider.h"
#include "router/providers/eventstream.h"
#include "router/providers/sigv4.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- request: OpenAI -> Converse ---- */

/* A request being translated; err is set on the first thing Converse cannot express. */
struct conv {
	cJSON *system;	 /* [{text} | {cachePoint}] */
	cJSON *messages; /* [{role, content:[...]}] */
	char *err;	 /* malloc'd message for the client */
};

static void fail(struct conv *cv, const char *fmt, const char *arg)
{
	if (!cv->err)
		cv->err = xasprintf(fmt, arg ? arg : "");
}

static cJSON *cache_point(void)
{
	cJSON *b = cJSON_CreateObject();

	cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "cachePoint"), "type", "default");
	return b;
}

static bool has_cache_control(const cJSON *o)
{
	return cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "cache_control"));
}

/* The content list of the last turn when it has role, else a new turn's. */
static cJSON *turn(struct conv *cv, const char *role)
{
	cJSON *last = cJSON_GetArrayItem(cv->messages, cJSON_GetArraySize(cv->messages) - 1);
	cJSON *r = cJSON_GetObjectItemCaseSensitive(last, "role"), *m;

	if (cJSON_IsString(r) && strcmp(r->valuestring, role) == 0)
		return cJSON_GetObjectItemCaseSensitive(last, "content");
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", role);
	cJSON_AddItemToArray(cv->messages, m);
	return cJSON_AddArrayToObject(m, "content");
}

static void add_text(cJSON *blocks, const char *text)
{
	cJSON *b;

	if (!*text) /* Converse refuses blank text blocks */
		return;
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "text", text);
	cJSON_AddItemToArray(blocks, b);
}

/* data:image/<fmt>;base64,<data> -> {image:{format, source:{bytes}}}. */
static void add_image(struct conv *cv, cJSON *blocks, const char *url)
{
	static const char *const formats[] = {"png", "jpeg", "gif", "webp"};
	const char *p = url + 11, *comma = strchr(url, ',');
	cJSON *b, *img;
	size_t i, n;

	if (strncmp(url, "data:image/", 11) != 0 || !comma || comma - url < 18 ||
	    strncmp(comma - 7, ";base64", 7) != 0) {
		fail(cv, "bedrock takes images as data:image/<format>;base64 URLs only%s", NULL);
		return;
	}
	n = (size_t)(comma - 7 - p);
	for (i = 0; i < ARRAY_LEN(formats); i++)
		if (strlen(formats[i]) == n && strncmp(p, formats[i], n) == 0)
			break;
	if (n == 3 && strncmp(p, "jpg", 3) == 0)
		i = 1;
	if (i == ARRAY_LEN(formats)) {
		char *fmt = xstrndup(p, n < 32 ? n : 32);

		fail(cv, "bedrock takes png, jpeg, gif and webp images, not image/%s", fmt);
		free(fmt);
		return;
	}
	b = cJSON_CreateObject();
	img = cJSON_AddObjectToObject(b, "image");
	cJSON_AddStringToObject(img, "format", formats[i]);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(img, "source"), "bytes", comma + 1);
	cJSON_AddItemToArray(blocks, b);
}

/* OpenAI content (a string or an array of parts) appended to blocks; images only if allowed. */
static void add_content(struct conv *cv, cJSON *blocks, const cJSON *content, bool images)
{
	const cJSON *part, *type, *v;

	if (cJSON_IsString(content)) {
		add_text(blocks, content->valuestring);
		return;
	}
	cJSON_ArrayForEach(part, content)
	{
		type = cJSON_GetObjectItemCaseSensitive(part, "type");
		if (!cJSON_IsString(type)) {
			fail(cv, "a content part has no type%s", NULL);
			return;
		}
		if (strcmp(type->valuestring, "text") == 0) {
			v = cJSON_GetObjectItemCaseSensitive(part, "text");
			add_text(blocks, cJSON_IsString(v) ? v->valuestring : "");
		} else if (images && strcmp(type->valuestring, "image_url") == 0) {
			v = cJSON_GetObjectItemCaseSensitive(part, "image_url");
			v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "url") : v;
			add_image(cv, blocks, cJSON_IsString(v) ? v->valuestring : "");
		} else {
			fail(cv, "bedrock cannot take a content part of type %s here",
			     type->valuestring);
			return;
		}
		if (has_cache_control(part) && cJSON_GetArraySize(blocks) > 0)
			cJSON_AddItemToArray(blocks, cache_point());
	}
}

/* assistant tool_calls -> toolUse blocks; arguments must be a JSON object (or empty). */
static void add_tool_uses(struct conv *cv, cJSON *blocks, const cJSON *calls)
{
	const cJSON *c, *fn, *id, *name, *args;
	cJSON *b, *tu, *input;

	cJSON_ArrayForEach(c, calls)
	{
		fn = cJSON_GetObjectItemCaseSensitive(c, "function");
		id = cJSON_GetObjectItemCaseSensitive(c, "id");
		name = cJSON_GetObjectItemCaseSensitive(fn, "name");
		args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
		if (!cJSON_IsString(id) || !cJSON_IsString(name)) {
			fail(cv, "a tool call needs an id and a function name%s", NULL);
			return;
		}
		input = cJSON_IsString(args) && *args->valuestring
				? json_exact_parse(args->valuestring, strlen(args->valuestring))
				: cJSON_CreateObject();
		if (!cJSON_IsObject(input)) {
			cJSON_Delete(input);
			fail(cv, "the arguments of tool call %s are not a JSON object",
			     id->valuestring);
			return;
		}
		b = cJSON_CreateObject();
		tu = cJSON_AddObjectToObject(b, "toolUse");
		cJSON_AddStringToObject(tu, "toolUseId", id->valuestring);
		cJSON_AddStringToObject(tu, "name", name->valuestring);
		cJSON_AddItemToObject(tu, "input", input);
		cJSON_AddItemToArray(blocks, b);
	}
}

/* A tool message -> a toolResult block in a user turn. */
static void add_tool_result(struct conv *cv, const cJSON *msg)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "tool_call_id");
	cJSON *b = cJSON_CreateObject(), *tr, *content;

	if (!cJSON_IsString(id)) {
		cJSON_Delete(b);
		fail(cv, "a tool message needs its tool_call_id%s", NULL);
		return;
	}
	tr = cJSON_AddObjectToObject(b, "toolResult");
	cJSON_AddStringToObject(tr, "toolUseId", id->valuestring);
	content = cJSON_AddArrayToObject(tr, "content");
	add_content(cv, content, cJSON_GetObjectItemCaseSensitive(msg, "content"), false);
	if (cJSON_GetArraySize(content) == 0) /* Converse needs a non-blank result */
		add_text(content, "(empty)");
	cJSON_AddStringToObject(tr, "status", "success");
	cJSON_AddItemToArray(turn(cv, "user"), b);
	if (has_cache_control(msg))
		cJSON_AddItemToArray(turn(cv, "user"), cache_point());
}

static void add_message(struct conv *cv, const cJSON *msg)
{
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
	const char *r = cJSON_IsString(role) ? role->valuestring : "";
	int n_turns = cJSON_GetArraySize(cv->messages);
	cJSON *blocks;

	if (strcmp(r, "system") == 0 || strcmp(r, "developer") == 0) {
		add_content(cv, cv->system, content, false);
		blocks = cv->system;
	} else if (strcmp(r, "user") == 0 || strcmp(r, "assistant") == 0) {
		blocks = turn(cv, r);
		add_content(cv, blocks, content, *r == 'u');
		if (*r == 'a')
			add_tool_uses(cv, blocks,
				      cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"));
		/* Converse refuses empty turns: a message with nothing to say is left out. */
		if (cJSON_GetArraySize(blocks) == 0 && cJSON_GetArraySize(cv->messages) > n_turns) {
			cJSON_DeleteItemFromArray(cv->messages, n_turns);
			return;
		}
	} else if (strcmp(r, "tool") == 0) {
		add_tool_result(cv, msg);
		return;
	} else {
		fail(cv, "bedrock cannot take a message with role '%s'", r);
		return;
	}
	if (has_cache_control(msg) && cJSON_GetArraySize(blocks) > 0)
		cJSON_AddItemToArray(blocks, cache_point());
}

/* tool_choice -> toolChoice: "auto" {auto:{}}, "required" {any:{}}, a function {tool:{name}}. */
static void add_tool_choice(struct conv *cv, cJSON *tc, const cJSON *choice)
{
	const cJSON *name;

	if (cJSON_IsString(choice) && strcmp(choice->valuestring, "auto") == 0) {
		cJSON_AddObjectToObject(cJSON_AddObjectToObject(tc, "toolChoice"), "auto");
	} else if (cJSON_IsString(choice) && strcmp(choice->valuestring, "required") == 0) {
		cJSON_AddObjectToObject(cJSON_AddObjectToObject(tc, "toolChoice"), "any");
	} else if (cJSON_IsObject(choice)) {
		name = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(choice, "function"), "name");
		if (!cJSON_IsString(name)) {
			fail(cv, "tool_choice needs function.name%s", NULL);
			return;
		}
		cJSON_AddStringToObject(
			cJSON_AddObjectToObject(cJSON_AddObjectToObject(tc, "toolChoice"), "tool"),
			"name", name->valuestring);
	}
}

/* tools -> toolConfig.tools; tool_choice -> toolChoice ("none" has no Converse form: the
 * tools stay, a history with toolUse blocks needs them). */
static cJSON *tool_config(struct conv *cv, const cJSON *tools, const cJSON *choice)
{
	cJSON *tc = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(tc, "tools"), *spec, *t;
	const cJSON *item, *fn, *name, *desc, *params;

	cJSON_ArrayForEach(item, tools)
	{
		fn = cJSON_GetObjectItemCaseSensitive(item, "function");
		name = cJSON_GetObjectItemCaseSensitive(fn, "name");
		desc = cJSON_GetObjectItemCaseSensitive(fn, "description");
		params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
		if (!cJSON_IsString(name)) {
			fail(cv, "every tool needs function.name%s", NULL);
			break;
		}
		t = cJSON_CreateObject();
		spec = cJSON_AddObjectToObject(t, "toolSpec");
		cJSON_AddStringToObject(spec, "name", name->valuestring);
		if (cJSON_IsString(desc) && *desc->valuestring)
			cJSON_AddStringToObject(spec, "description", desc->valuestring);
		cJSON_AddItemToObject(
			cJSON_AddObjectToObject(spec, "inputSchema"), "json",
			cJSON_IsObject(params)
				? cJSON_Duplicate(params, 1)
				: json_parse_str("{\"type\":\"object\",\"properties\":{}}", NULL));
		cJSON_AddItemToArray(list, t);
		if (has_cache_control(item))
			cJSON_AddItemToArray(list, cache_point());
	}
	add_tool_choice(cv, tc, choice);
	return tc;
}

static void copy_number(cJSON *to, const char *name, const cJSON *v)
{
	if (cJSON_IsNumber(v))
		cJSON_AddItemToObject(to, name, cJSON_Duplicate(v, 0));
}

/* max_tokens, temperature, top_p, stop -> inferenceConfig (NULL when none is set). */
static cJSON *inference_config(const cJSON *req)
{
	cJSON *ic = cJSON_CreateObject(), *seqs;
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(req, "max_tokens"), *stop, *s;

	if (!cJSON_IsNumber(mt))
		mt = cJSON_GetObjectItemCaseSensitive(req, "max_completion_tokens");
	copy_number(ic, "maxTokens", mt);
	copy_number(ic, "temperature", cJSON_GetObjectItemCaseSensitive(req, "temperature"));
	copy_number(ic, "topP", cJSON_GetObjectItemCaseSensitive(req, "top_p"));
	stop = cJSON_GetObjectItemCaseSensitive(req, "stop");
	if (cJSON_IsString(stop) || cJSON_IsArray(stop)) {
		seqs = cJSON_AddArrayToObject(ic, "stopSequences");
		if (cJSON_IsString(stop) && *stop->valuestring)
			cJSON_AddItemToArray(seqs, cJSON_CreateString(stop->valuestring));
		cJSON_ArrayForEach(s, stop)
		{
			if (cJSON_IsString(s) && *s->valuestring)
				cJSON_AddItemToArray(seqs, cJSON_CreateString(s->valuestring));
		}
		if (!cJSON_GetArraySize(seqs))
			cJSON_DeleteItemFromObjectCaseSensitive(ic, "stopSequences");
	}
	if (!ic->child) {
		cJSON_Delete(ic);
		return NULL;
	}
	return ic;
}

/* The Converse body of req (malloc'd), or NULL with *err (malloc'd) set. */
static char *converse_body(const cJSON *req, char **err)
{
	struct conv cv = {cJSON_CreateArray(), cJSON_CreateArray(), NULL};
	const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages"), *m;
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(req, "n");
	cJSON *root = cJSON_CreateObject(), *ic;
	char *body = NULL;

	if (cJSON_IsNumber(n) && n->valuedouble > 1)
		fail(&cv, "bedrock answers one choice per request (n > 1)%s", NULL);
	cJSON_ArrayForEach(m, msgs)
	{
		add_message(&cv, m);
	}
	cJSON_AddItemToObject(root, "messages", cv.messages);
	if (cJSON_GetArraySize(cv.system) > 0)
		cJSON_AddItemToObject(root, "system", cv.system);
	else
		cJSON_Delete(cv.system);
	ic = inference_config(req);
	if (ic)
		cJSON_AddItemToObject(root, "inferenceConfig", ic);
	if (cJSON_GetArraySize(tools) > 0)
		cJSON_AddItemToObject(
			root, "toolConfig",
			tool_config(&cv, tools,
				    cJSON_GetObjectItemCaseSensitive(req, "tool_choice")));
	if (!cv.err)
		body = json_exact_print(root);
	cJSON_Delete(root);
	*err = cv.err;
	return body;
}

/* ---- build: URL, headers, signature ---- */

/* Splits an http(s) URL into its authority (host[:port]) and path ("" for none). */
static int split_url(const char *url, char **authority, const char **path)
{
	const char *p = strstr(url, "://"), *slash;

	if (!p)
		return -EINVAL;
	p += 3;
	slash = strchr(p, '/');
	*path = slash ? slash : "";
	*authority = slash ? xstrndup(p, (size_t)(slash - p)) : xstrdup(p);
	return **authority ? 0 : -EINVAL;
}

static char **header_list(const struct config_model *m, const char *authority, const char *amz_date,
			  const char *payload_hash)
{
	const struct config_litellm_params *p = &m->litellm_params;
	char **h = xcalloc(p->n_extra_headers + 8, sizeof(char *)); /* + Authorization, NULL */
	size_t n = 0, i;

	h[n++] = xstrdup("Content-Type: application/json");
	h[n++] = xasprintf("Host: %s", authority);
	h[n++] = xasprintf("X-Amz-Date: %s", amz_date);
	h[n++] = xasprintf("X-Amz-Content-Sha256: %s", payload_hash);
	if (p->aws_session_token && *p->aws_session_token)
		h[n++] = xasprintf("X-Amz-Security-Token: %s", p->aws_session_token);
	for (i = 0; i < p->n_extra_headers; i++)
		h[n++] = xasprintf("%s: %s", p->extra_headers[i].name, p->extra_headers[i].value);
	return h;
}

/* Every header of the attempt, signed; the Authorization header goes last. */
static int sign(const struct config_model *m, struct provider_request *out, char *err,
		size_t err_len)
{
	const struct config_litellm_params *p = &m->litellm_params;
	struct sigv4_request sr = {.method = "POST", .query = "", .service = "bedrock"};
	char amz_date[17], payload[65], *authority = NULL, *auth = NULL;
	size_t n;
	int rc;

	rc = split_url(out->url, &authority, &sr.path);
	if (rc < 0) {
		snprintf(err, err_len, "bedrock: api_base %s is not an http(s) URL", p->api_base);
		goto out;
	}
	sigv4_amz_date(time(NULL), amz_date);
	sha256_hex(out->body, out->body_len, payload);
	out->headers = header_list(m, authority, amz_date, payload);
	sr.headers = (const char *const *)out->headers;
	sr.body = out->body;
	sr.body_len = out->body_len;
	sr.amz_date = amz_date;
	sr.region = p->aws_region_name;
	sr.access_key_id = p->aws_access_key_id;
	sr.secret_access_key = p->aws_secret_access_key;
	rc = sigv4_sign(&sr, &auth, NULL, NULL);
	if (rc < 0) {
		snprintf(err, err_len, "bedrock: cannot sign the request (check extra_headers)");
		goto out;
	}
	for (n = 0; out->headers[n]; n++)
		;
	out->headers[n] = xasprintf("Authorization: %s", auth);
out:
	free(auth);
	free(authority);
	return rc;
}

static int build(const struct config_model *m, enum provider_route route, cJSON *req, bool stream,
		 struct provider_request *out, char *err, size_t err_len)
{
	const struct config_litellm_params *p = &m->litellm_params;
	char *id, *path, *msg = NULL;

	if (route != PROVIDER_CHAT) {
		snprintf(err, err_len, "bedrock deployments answer chat completions only");
		return -ENOTSUP;
	}
	if (!p->api_base || !p->aws_region_name || !p->aws_access_key_id ||
	    !p->aws_secret_access_key) {
		snprintf(
			err, err_len,
			"bedrock: the deployment has no region or AWS credentials (set AWS_REGION, "
			"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; config check says which); "
			"nothing was sent");
		return -EINVAL;
	}
	out->body = converse_body(req, &msg);
	if (!out->body) {
		snprintf(err, err_len, "%s", msg);
		free(msg);
		return -EINVAL;
	}
	out->body_len = strlen(out->body);
	id = sigv4_uri_encode(m->upstream_model, false);
	path = xasprintf("/model/%s/%s", id, stream ? "converse-stream" : "converse");
	out->url = provider_join(p->api_base, path);
	free(path);
	free(id);
	return sign(m, out, err, err_len);
}

/* ---- answer: Converse -> chat.completion ---- */

static const struct {
	const char *bedrock, *openai;
} stop_reasons[] = {
	{"end_turn", "stop"},
	{"stop_sequence", "stop"},
	{"tool_use", "tool_calls"},
	{"max_tokens", "length"},
	{"model_context_window_exceeded", "length"},
	{"guardrail_intervened", "content_filter"},
	{"content_filtered", "content_filter"},
};

static const char *finish_reason(const cJSON *stop)
{
	size_t i;

	for (i = 0; cJSON_IsString(stop) && i < ARRAY_LEN(stop_reasons); i++)
		if (strcmp(stop->valuestring, stop_reasons[i].bedrock) == 0)
			return stop_reasons[i].openai;
	return "stop";
}

static double count(const cJSON *u, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, name);

	return cJSON_IsNumber(v) && v->valuedouble > 0 ? v->valuedouble : 0;
}

/* Converse usage -> OpenAI's: inputTokens excludes the cache reads and writes, which the
 * prompt still holds. */
static cJSON *openai_usage(const cJSON *u)
{
	double read = count(u, "cacheReadInputTokens"), write = count(u, "cacheWriteInputTokens");
	double in = count(u, "inputTokens") + read + write, out = count(u, "outputTokens");
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "prompt_tokens", in);
	cJSON_AddNumberToObject(o, "completion_tokens", out);
	cJSON_AddNumberToObject(o, "total_tokens", in + out);
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(o, "prompt_tokens_details"),
				"cached_tokens", read);
	cJSON_AddNumberToObject(o, "cache_creation_input_tokens", write);
	return o;
}

/* "chatcmpl-" and 24 random hex digits: Bedrock's answers carry no id. */
static void completion_id(char out[34])
{
	unsigned char r[12] = {0};
	size_t i;

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		uint64_t t = (uint64_t)now_mono_us();

		memcpy(r, &t, sizeof(t));
	}
	memcpy(out, "chatcmpl-", 9);
	for (i = 0; i < sizeof(r); i++)
		snprintf(out + 9 + 2 * i, 3, "%02x", r[i]);
}

static cJSON *completion_base(const struct config_model *m, const char *object, const char *id)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "object", object);
	cJSON_AddNumberToObject(o, "created", (double)time(NULL));
	cJSON_AddStringToObject(o, "model", m->upstream_model);
	return o;
}

static cJSON *tool_call(const char *id, const char *name, const char *args)
{
	cJSON *c = cJSON_CreateObject(), *fn;

	if (id)
		cJSON_AddStringToObject(c, "id", id);
	if (id)
		cJSON_AddStringToObject(c, "type", "function");
	fn = cJSON_AddObjectToObject(c, "function");
	if (name)
		cJSON_AddStringToObject(fn, "name", name);
	cJSON_AddStringToObject(fn, "arguments", args);
	return c;
}

/* output.message.content -> an OpenAI message: text joined, toolUse -> tool_calls,
 * reasoning -> reasoning_content. */
static cJSON *openai_message(const cJSON *content)
{
	struct buf text = {0}, reasoning = {0};
	cJSON *msg = cJSON_CreateObject(), *calls = cJSON_CreateArray();
	const cJSON *b, *v, *tu;
	char *args;

	cJSON_ArrayForEach(b, content)
	{
		v = cJSON_GetObjectItemCaseSensitive(b, "text");
		if (cJSON_IsString(v))
			buf_puts(&text, v->valuestring);
		v = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(b, "reasoningContent"),
				"reasoningText"),
			"text");
		if (cJSON_IsString(v))
			buf_puts(&reasoning, v->valuestring);
		tu = cJSON_GetObjectItemCaseSensitive(b, "toolUse");
		if (cJSON_IsObject(tu)) {
			v = cJSON_GetObjectItemCaseSensitive(tu, "input");
			args = v ? json_exact_print(v) : xstrdup("{}");
			cJSON_AddItemToArray(
				calls,
				tool_call(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
						  tu, "toolUseId")),
					  cJSON_GetStringValue(
						  cJSON_GetObjectItemCaseSensitive(tu, "name")),
					  args));
			free(args);
		}
	}
	cJSON_AddStringToObject(msg, "role", "assistant");
	if (text.len || !cJSON_GetArraySize(calls))
		cJSON_AddStringToObject(msg, "content", buf_str(&text));
	else
		cJSON_AddNullToObject(msg, "content");
	if (reasoning.len)
		cJSON_AddStringToObject(msg, "reasoning_content", buf_str(&reasoning));
	if (cJSON_GetArraySize(calls))
		cJSON_AddItemToObject(msg, "tool_calls", calls);
	else
		cJSON_Delete(calls);
	buf_finish(&text);
	buf_finish(&reasoning);
	return msg;
}

static char *answer(const struct config_model *m, enum provider_route route, const char *body,
		    size_t len)
{
	cJSON *root = json_exact_parse(body, len), *out, *choice, *choices;
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "output"),
						 "message"),
		"content");
	char id[34], *s = NULL;

	(void)route; /* one answer shape: chat */
	if (cJSON_IsArray(content)) {
		completion_id(id);
		out = completion_base(m, "chat.completion", id);
		choices = cJSON_AddArrayToObject(out, "choices");
		choice = cJSON_CreateObject();
		cJSON_AddNumberToObject(choice, "index", 0);
		cJSON_AddItemToObject(choice, "message", openai_message(content));
		cJSON_AddStringToObject(
			choice, "finish_reason",
			finish_reason(cJSON_GetObjectItemCaseSensitive(root, "stopReason")));
		cJSON_AddItemToArray(choices, choice);
		cJSON_AddItemToObject(
			out, "usage",
			openai_usage(cJSON_GetObjectItemCaseSensitive(root, "usage")));
		s = json_exact_print(out);
		cJSON_Delete(out);
	}
	cJSON_Delete(root);
	return s;
}

/* ---- errors ---- */

static bool contains_ci(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s; s++)
		if (strncasecmp(s, needle, n) == 0)
			return true;
	return false;
}

static const char *openai_type(long status, const char *text)
{
	if (status == 401 || (status == 403 && (contains_ci(text, "signature") ||
						contains_ci(text, "security token"))))
		return "authentication_error";
	if (status == 403)
		return "permission_error";
	if (status == 404)
		return "not_found_error";
	if (status == 408)
		return "timeout_error";
	if (status == 429)
		return "rate_limit_error";
	if (status >= 500 || status == 424)
		return "api_error";
	return "invalid_request_error";
}

/* Bedrock's context overflow: a ValidationException saying the input is too long. */
static bool too_long(long status, const char *text)
{
	return status == 400 && (contains_ci(text, "too long") || contains_ci(text, "context"));
}

static char *error_json(long status, const char *type_name, const char *text)
{
	char *msg = *type_name ? xasprintf("bedrock %s: %s", type_name, text)
			       : xasprintf("bedrock: %s", text);
	char *s = provider_openai_error(msg, openai_type(status, text),
					too_long(status, text) ? "context_length_exceeded" : NULL,
					status);

	free(msg);
	return s;
}

/* {"message": ...} (+ "__type" from some AWS front ends) -> OpenAI's error shape. */
static char *error(long status, const char *body, size_t len)
{
	cJSON *root = json_parse(body, len, 0, NULL);
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "message"));
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "__type"));
	const char *hash;
	char *s = NULL;

	if (!text)
		text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "Message"));
	if (text && status != 200) {
		hash = type ? strrchr(type, '#') : NULL;
		s = error_json(status, hash ? hash + 1 : type ? type : "", text);
	}
	cJSON_Delete(root);
	return s;
}

/* ---- stream: ConverseStream events -> chat.completion.chunk ---- */

#define MAX_BLOCKS 256 /* content blocks of one answer whose tool index is remembered */

struct provider_stream {
	struct eventstream es;
	const struct config_model *m;
	provider_emit_cb emit;
	void *arg;
	char id[34];
	int tool_of_block[MAX_BLOCKS]; /* contentBlockIndex -> tool_calls index, -1 = text */
	int n_tools;
	bool done;
};

/* In-stream exceptions and their HTTP statuses (ConverseStreamOutput's error members). */
static const struct {
	const char *name;
	long status;
} stream_exceptions[] = {
	{"throttlingException", 429},	      {"validationException", 400},
	{"serviceUnavailableException", 503}, {"internalServerException", 500},
	{"modelStreamErrorException", 424},
};

static int emit_json(struct provider_stream *s, cJSON *o)
{
	char *text = json_exact_print(o);
	int rc = s->emit(text, strlen(text), s->arg);

	free(text);
	cJSON_Delete(o);
	return rc;
}

/* One chunk with delta (taken) and finish_reason (NULL = null). */
static int emit_delta(struct provider_stream *s, cJSON *delta, const char *finish)
{
	cJSON *o = completion_base(s->m, "chat.completion.chunk", s->id);
	cJSON *choice = cJSON_CreateObject();

	cJSON_AddNumberToObject(choice, "index", 0);
	cJSON_AddItemToObject(choice, "delta", delta);
	if (finish)
		cJSON_AddStringToObject(choice, "finish_reason", finish);
	else
		cJSON_AddNullToObject(choice, "finish_reason");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice);
	return emit_json(s, o);
}

static int emit_tool_delta(struct provider_stream *s, int index, const char *id, const char *name,
			   const char *args)
{
	cJSON *delta = cJSON_CreateObject(), *call = tool_call(id, name, args);

	cJSON_AddNumberToObject(call, "index", index);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(delta, "tool_calls"), call);
	return emit_delta(s, delta, NULL);
}

static int emit_error(struct provider_stream *s, long status, const char *type_name,
		      const char *text)
{
	cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
	char *msg = xasprintf("bedrock %s: %s", type_name, text);

	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", openai_type(status, text));
	cJSON_AddNumberToObject(e, "code", (double)status);
	free(msg);
	return emit_json(s, o);
}

static int on_exception(struct provider_stream *s, const struct eventstream_msg *m)
{
	cJSON *root = json_parse(m->payload, m->payload_len, 0, NULL);
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "message"));
	long status = 500;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_LEN(stream_exceptions); i++)
		if (strcmp(m->exception_type, stream_exceptions[i].name) == 0)
			status = stream_exceptions[i].status;
	if (strcmp(m->message_type, "error") == 0)
		rc = emit_error(s, 500, m->error_code, m->error_message);
	else
		rc = emit_error(s, status, m->exception_type, text ? text : "stream exception");
	cJSON_Delete(root);
	return rc;
}

/* The tool index of contentBlockIndex, or -1; -EPROTO for an index past the table. */
static int block_slot(const cJSON *ev, int *slot)
{
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(ev, "contentBlockIndex");

	if (!cJSON_IsNumber(i) || i->valuedouble < 0 || i->valuedouble >= MAX_BLOCKS)
		return -EPROTO;
	*slot = (int)i->valuedouble;
	return 0;
}

static int on_block_start(struct provider_stream *s, const cJSON *ev)
{
	const cJSON *tu = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(ev, "start"), "toolUse");
	int slot, rc = block_slot(ev, &slot);

	if (rc < 0 || !cJSON_IsObject(tu))
		return rc;
	s->tool_of_block[slot] = s->n_tools++;
	return emit_tool_delta(
		s, s->tool_of_block[slot],
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tu, "toolUseId")),
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tu, "name")), "");
}

static int on_block_delta(struct provider_stream *s, const cJSON *ev)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "delta"), *v;
	cJSON *delta;
	int slot, rc = block_slot(ev, &slot);

	if (rc < 0)
		return rc;
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "toolUse"),
					     "input");
	if (cJSON_IsString(v)) {
		if (s->tool_of_block[slot] < 0)
			return -EPROTO; /* arguments of a tool that never started */
		return emit_tool_delta(s, s->tool_of_block[slot], NULL, NULL, v->valuestring);
	}
	delta = cJSON_CreateObject();
	v = cJSON_GetObjectItemCaseSensitive(d, "text");
	if (cJSON_IsString(v))
		cJSON_AddStringToObject(delta, "content", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(d, "reasoningContent"), "text");
	if (cJSON_IsString(v))
		cJSON_AddStringToObject(delta, "reasoning_content", v->valuestring);
	if (!delta->child) { /* a signature or redacted reasoning: nothing OpenAI shows */
		cJSON_Delete(delta);
		return 0;
	}
	return emit_delta(s, delta, NULL);
}

/* messageStop is the answer's end: the finish chunk, then "[DONE]" (the router only notes it
 * and ends the client's stream when the HTTP answer ends, so the metadata event that
 * follows still brings its usage chunk, and a stream whose metadata never comes still ends
 * cleanly). */
static int on_message_stop(struct provider_stream *s, const cJSON *ev)
{
	int rc = emit_delta(s, cJSON_CreateObject(),
			    finish_reason(cJSON_GetObjectItemCaseSensitive(ev, "stopReason")));

	if (rc < 0 || s->done)
		return rc;
	s->done = true;
	return s->emit("[DONE]", 6, s->arg);
}

static int on_metadata(struct provider_stream *s, const cJSON *ev)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(ev, "usage");
	cJSON *o;

	if (!cJSON_IsObject(u))
		return 0;
	o = completion_base(s->m, "chat.completion.chunk", s->id);
	cJSON_AddArrayToObject(o, "choices");
	cJSON_AddItemToObject(o, "usage", openai_usage(u));
	return emit_json(s, o);
}

static int on_event(struct provider_stream *s, const char *type, const cJSON *ev)
{
	cJSON *delta;

	if (strcmp(type, "messageStart") == 0) {
		delta = cJSON_CreateObject();
		cJSON_AddStringToObject(delta, "role", "assistant");
		cJSON_AddStringToObject(delta, "content", "");
		return emit_delta(s, delta, NULL);
	}
	if (strcmp(type, "contentBlockStart") == 0)
		return on_block_start(s, ev);
	if (strcmp(type, "contentBlockDelta") == 0)
		return on_block_delta(s, ev);
	if (strcmp(type, "messageStop") == 0)
		return on_message_stop(s, ev);
	if (strcmp(type, "metadata") == 0)
		return on_metadata(s, ev);
	return 0; /* contentBlockStop and events added later carry nothing to translate */
}

static int on_frame(const struct eventstream_msg *m, void *arg)
{
	struct provider_stream *s = arg;
	cJSON *ev;
	int rc;

	if (strcmp(m->message_type, "exception") == 0 || strcmp(m->message_type, "error") == 0)
		return on_exception(s, m);
	ev = json_exact_parse(m->payload, m->payload_len);
	rc = cJSON_IsObject(ev) ? on_event(s, m->event_type, ev) : -EPROTO;
	cJSON_Delete(ev);
	return rc;
}

static struct provider_stream *stream_create(const struct config_model *m, size_t max_event_bytes,
					     provider_emit_cb emit, void *arg)
{
	struct provider_stream *s = xcalloc(1, sizeof(*s));
	size_t i;

	s->m = m;
	s->emit = emit;
	s->arg = arg;
	completion_id(s->id);
	for (i = 0; i < MAX_BLOCKS; i++)
		s->tool_of_block[i] = -1;
	eventstream_init(&s->es, max_event_bytes, on_frame, s);
	return s;
}

static int stream_feed(struct provider_stream *s, const char *data, size_t len)
{
	return eventstream_feed(&s->es, data, len);
}

static void stream_destroy(struct provider_stream *s)
{
	if (!s)
		return;
	eventstream_finish(&s->es);
	free(s);
}

const struct provider_ops provider_bedrock = {
	.name = "bedrock",
	.build = build,
	.answer = answer,
	.stream_create = stream_create,
	.stream_feed = stream_feed,
	.stream_destroy = stream_destroy,
	.error = error,
};
