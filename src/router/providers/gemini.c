/* gemini: the Google AI Studio dialect (generateContent with an x-goog-api-key), spoken for
 * LiteLLM's gemini/ prefix. The client's OpenAI chat request becomes a GenerateContentRequest
 * (system messages -> systemInstruction, turns -> contents with roles user/model, tool calls
 * -> functionCall parts, tool answers -> functionResponse parts, tools -> one Tool of
 * functionDeclarations with the JSON-schema keys Gemini refuses stripped as LiteLLM strips
 * them, sampling fields -> generationConfig); Gemini's answer, stream and errors come back
 * in OpenAI's shape (gemini_answer.c) so the router's retries, fallbacks and ledger work
 * unchanged. This file is the request side: the body and the URL of each route.
 *
 * Streams use ?alt=sse (streamGenerateContent). Gemini gives function calls no ids; the answer
 * side makes them, with a thoughtSignature (Gemini 3 refuses a replayed call without it)
 * riding in the id after "__thought__" as LiteLLM does; it is put back on the functionCall
 * part here when the client replays the history.
 *
 * Rejected: fetching http(s) image URLs (a router must not fetch for its clients; only data:
 * URLs are sent, inline), resolving $ref in tool schemas (sent as written), streams with
 * n > 1 (the end of the stream is the first finishReason).
 */
#include "router/providers/gemini_int.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCHEMA_MAX_DEPTH 64

/* ---- request: OpenAI chat -> GenerateContentRequest ---- */

struct conv {
	const cJSON *messages;
	cJSON *contents;
	cJSON *system_parts;
	char *err;
	size_t err_len;
};

static int fail(struct conv *cv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct conv *cv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cv->err, cv->err_len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool is_response_turn(const cJSON *content)
{
	const cJSON *first = cJSON_GetArrayItem(get(content, "parts"), 0);

	return first && get(first, "functionResponse");
}

/* The parts array of the turn a message goes to: the last turn when it has the same role and
 * kind (consecutive same-role messages merge), else a new one. A function-response turn holds
 * only function responses: Gemini refuses other parts beside them. */
static cJSON *turn(struct conv *cv, const char *role, bool responses)
{
	cJSON *last = cJSON_GetArrayItem(cv->contents, cJSON_GetArraySize(cv->contents) - 1);
	cJSON *c;

	if (last && str_is(get_str(last, "role"), role) && is_response_turn(last) == responses &&
	    cJSON_GetArraySize(get(last, "parts")) > 0)
		return get(last, "parts");
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "role", role);
	cJSON_AddItemToArray(cv->contents, c);
	return cJSON_AddArrayToObject(c, "parts");
}

static void add_text(cJSON *parts, const char *text)
{
	cJSON *p;

	if (!text || !*text)
		return;
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "text", text);
	cJSON_AddItemToArray(parts, p);
}

static void add_inline(cJSON *parts, const char *mime, size_t mime_len, const char *data)
{
	cJSON *p = cJSON_CreateObject(), *d = cJSON_AddObjectToObject(p, "inlineData");
	char *m = xstrndup(mime, mime_len);

	cJSON_AddStringToObject(d, "mimeType", m);
	cJSON_AddStringToObject(d, "data", data);
	cJSON_AddItemToArray(parts, p);
	free(m);
}

/* data:<mime>[;param...];base64,<data> -> an inlineData part. */
static int add_data_url(struct conv *cv, cJSON *parts, const char *url, const char *where)
{
	const char *mime, *b64, *end;

	if (!url || strncmp(url, "data:", 5) != 0)
		return fail(cv,
			    "gemini: %s must be a data: URL (data:<mime type>;base64,<data>); "
			    "the router sends media inline and does not fetch URLs",
			    where);
	mime = url + 5;
	b64 = strstr(mime, ";base64,");
	end = strpbrk(mime, ";,");
	if (!b64 || end == mime)
		return fail(cv, "gemini: %s is a data: URL without a mime type or ;base64,", where);
	add_inline(parts, mime, (size_t)(end - mime), b64 + 8);
	return 0;
}

/* One content part of a user/system/assistant message. */
static int add_part(struct conv *cv, cJSON *parts, const cJSON *p, const char *where)
{
	const char *type = get_str(p, "type");
	const cJSON *v;

	if (str_is(type, "text")) {
		add_text(parts, get_str(p, "text"));
		return 0;
	}
	if (str_is(type, "image_url")) {
		v = get(p, "image_url");
		return add_data_url(cv, parts,
				    cJSON_IsString(v) ? v->valuestring : get_str(v, "url"), where);
	}
	if (str_is(type, "file")) {
		v = get(p, "file");
		return add_data_url(cv, parts, get_str(v, "file_data"), where);
	}
	if (str_is(type, "input_audio")) {
		char mime[48];

		v = get(p, "input_audio");
		if (!get_str(v, "data") || !get_str(v, "format"))
			return fail(cv, "gemini: %s needs input_audio.data and .format", where);
		snprintf(mime, sizeof(mime), "audio/%s", get_str(v, "format"));
		add_inline(parts, mime, strlen(mime), get_str(v, "data"));
		return 0;
	}
	return fail(cv, "gemini: %s has type \"%s\", which this dialect cannot send", where,
		    type ? type : "(none)");
}

/* A message's content (string, array of parts, or null) into parts. */
static int add_content(struct conv *cv, cJSON *parts, const cJSON *content, int i)
{
	const cJSON *p;
	char where[64];
	int j = 0, rc;

	if (cJSON_IsString(content)) {
		add_text(parts, content->valuestring);
		return 0;
	}
	if (!content || cJSON_IsNull(content))
		return 0;
	if (!cJSON_IsArray(content))
		return fail(cv, "gemini: messages[%d].content must be a string or an array", i);
	cJSON_ArrayForEach(p, content)
	{
		snprintf(where, sizeof(where), "messages[%d].content[%d]", i, j++);
		rc = add_part(cv, parts, p, where);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The text of a tool message (a string, or text parts joined). */
static char *tool_text(const cJSON *content)
{
	struct buf b;
	const cJSON *p;

	if (cJSON_IsString(content))
		return xstrdup(content->valuestring);
	buf_init(&b, 0);
	cJSON_ArrayForEach(p, content)
	{
		if (str_is(get_str(p, "type"), "text") && get_str(p, "text"))
			buf_puts(&b, get_str(p, "text"));
	}
	return buf_steal(&b);
}

static int add_function_call(struct conv *cv, cJSON *parts, const cJSON *tc, int i, int j)
{
	const cJSON *fn = get(tc, "function");
	const char *name = get_str(fn, "name"), *args = get_str(fn, "arguments");
	const char *id = get_str(tc, "id"), *sig = id ? strstr(id, THOUGHT_SEP) : NULL;
	cJSON *a, *p, *call;

	if (!name)
		return fail(cv, "gemini: messages[%d].tool_calls[%d].function.name is missing", i,
			    j);
	a = args && *args ? json_exact_parse(args, strlen(args)) : cJSON_CreateObject();
	if (!cJSON_IsObject(a)) {
		cJSON_Delete(a);
		return fail(cv,
			    "gemini: messages[%d].tool_calls[%d].function.arguments is not a JSON "
			    "object; Gemini takes a function call's arguments as an object",
			    i, j);
	}
	p = cJSON_CreateObject();
	call = cJSON_AddObjectToObject(p, "functionCall");
	cJSON_AddStringToObject(call, "name", name);
	cJSON_AddItemToObject(call, "args", a);
	if (sig && sig[strlen(THOUGHT_SEP)])
		cJSON_AddStringToObject(p, "thoughtSignature", sig + strlen(THOUGHT_SEP));
	cJSON_AddItemToArray(parts, p);
	return 0;
}

static int add_assistant(struct conv *cv, const cJSON *msg, int i)
{
	cJSON *parts = turn(cv, "model", false);
	const cJSON *tc;
	int j = 0, rc = add_content(cv, parts, get(msg, "content"), i);

	cJSON_ArrayForEach(tc, get(msg, "tool_calls"))
	{
		if (rc < 0)
			break;
		rc = add_function_call(cv, parts, tc, i, j++);
	}
	return rc;
}

/* The function name of tool_call_id among the assistant tool calls before message i. */
static const char *call_name(const struct conv *cv, const char *id, int i)
{
	const cJSON *m, *tc;
	int k = 0;

	cJSON_ArrayForEach(m, cv->messages)
	{
		if (k++ >= i)
			break;
		cJSON_ArrayForEach(tc, get(m, "tool_calls"))
		{
			if (str_is(get_str(tc, "id"), id))
				return get_str(get(tc, "function"), "name");
		}
	}
	return NULL;
}

/* A tool (or legacy function) message -> a functionResponse part. The response is the tool's
 * JSON object when its text is one, else {"content": text}. */
static int add_tool(struct conv *cv, const cJSON *msg, int i)
{
	const char *id = get_str(msg, "tool_call_id");
	const char *name = id ? call_name(cv, id, i) : NULL;
	char *text = tool_text(get(msg, "content"));
	cJSON *resp = json_exact_parse(text, strlen(text)), *p, *fr;

	if (!name)
		name = get_str(msg, "name");
	if (!name) {
		free(text);
		cJSON_Delete(resp);
		return fail(
			cv,
			"gemini: messages[%d] (role %s) answers tool_call_id \"%s\", which no "
			"earlier assistant tool_calls entry has; Gemini needs the function's name",
			i, get_str(msg, "role"), id ? id : "(none)");
	}
	if (!cJSON_IsObject(resp)) {
		cJSON_Delete(resp);
		resp = cJSON_CreateObject();
		cJSON_AddStringToObject(resp, "content", text);
	}
	p = cJSON_CreateObject();
	fr = cJSON_AddObjectToObject(p, "functionResponse");
	cJSON_AddStringToObject(fr, "name", name);
	cJSON_AddItemToObject(fr, "response", resp);
	cJSON_AddItemToArray(turn(cv, "user", true), p);
	free(text);
	return 0;
}

static int add_message(struct conv *cv, const cJSON *msg, int i)
{
	const char *role = get_str(msg, "role");

	if (str_is(role, "system") || str_is(role, "developer"))
		return add_content(cv, cv->system_parts, get(msg, "content"), i);
	if (str_is(role, "user"))
		return add_content(cv, turn(cv, "user", false), get(msg, "content"), i);
	if (str_is(role, "assistant"))
		return add_assistant(cv, msg, i);
	if (str_is(role, "tool") || str_is(role, "function"))
		return add_tool(cv, msg, i);
	return fail(cv,
		    "gemini: messages[%d].role \"%s\" is not one of system, user, assistant, tool",
		    i, role ? role : "(none)");
}

/* Drops turns left without parts (an empty user message): Gemini refuses empty parts. */
static void drop_empty_turns(cJSON *contents)
{
	int i;

	for (i = cJSON_GetArraySize(contents) - 1; i >= 0; i--)
		if (cJSON_GetArraySize(get(cJSON_GetArrayItem(contents, i), "parts")) == 0)
			cJSON_DeleteItemFromArray(contents, i);
}

static int add_messages(struct conv *cv, const cJSON *req, cJSON *body)
{
	const cJSON *msg;
	int i = 0, rc;

	cv->messages = get(req, "messages");
	if (!cJSON_IsArray(cv->messages))
		return fail(cv, "gemini: messages must be an array");
	cv->system_parts = cJSON_CreateArray();
	cv->contents = cJSON_CreateArray();
	cJSON_ArrayForEach(msg, cv->messages)
	{
		rc = add_message(cv, msg, i++);
		if (rc < 0) {
			cJSON_Delete(cv->system_parts);
			cJSON_Delete(cv->contents);
			return rc;
		}
	}
	drop_empty_turns(cv->contents);
	cJSON_AddItemToObject(body, "contents", cv->contents);
	if (cJSON_GetArraySize(cv->system_parts) > 0)
		cJSON_AddItemToObject(cJSON_AddObjectToObject(body, "systemInstruction"), "parts",
				      cv->system_parts);
	else
		cJSON_Delete(cv->system_parts);
	return 0;
}

/* ---- request: tools and tool_choice ---- */

/* JSON-schema keys Gemini's OpenAPI-subset Schema refuses; LiteLLM strips the same
 * (_remove_additional_properties, _remove_strict_from_schema, _build_vertex_schema). */
static const char *const schema_drop[] = {"$schema", "$id", "additionalProperties", "strict",
					  "title"};

static void clean_schema(cJSON *s, int depth);

static void clean_each(cJSON *list, int depth)
{
	cJSON *c;

	cJSON_ArrayForEach(c, list)
	{
		clean_schema(c, depth + 1);
	}
}

/* anyOf [X, {"type":"null"}] and "type": [X, "null"] -> nullable X, as LiteLLM does. */
static void nullable(cJSON *s)
{
	cJSON *any = get(s, "anyOf"), *type = get(s, "type"), *c, *next;
	bool had_null = false;

	for (c = any ? any->child : NULL; c; c = next) {
		next = c->next;
		if (str_is(get_str(c, "type"), "null") && cJSON_GetArraySize(c) == 1) {
			cJSON_Delete(cJSON_DetachItemViaPointer(any, c));
			had_null = true;
		}
	}
	cJSON_ArrayForEach(c, any)
	{
		if (had_null && !get(c, "nullable"))
			cJSON_AddBoolToObject(c, "nullable", 1);
	}
	if (!cJSON_IsArray(type))
		return;
	had_null = false;
	for (c = type->child; c; c = next) {
		next = c->next;
		if (cJSON_IsString(c) && strcmp(c->valuestring, "null") == 0) {
			cJSON_Delete(cJSON_DetachItemViaPointer(type, c));
			had_null = true;
		}
	}
	if (cJSON_GetArraySize(type) == 1)
		cJSON_ReplaceItemInObjectCaseSensitive(
			s, "type", cJSON_Duplicate(cJSON_GetArrayItem(type, 0), 1));
	if (had_null && !get(s, "nullable"))
		cJSON_AddBoolToObject(s, "nullable", 1);
}

/* Walks schema positions only, so a property *named* "title" stays. */
static void clean_schema(cJSON *s, int depth)
{
	static const char *const lists[] = {"anyOf", "oneOf", "allOf"};
	size_t i;
	cJSON *items;

	if (!cJSON_IsObject(s) || depth > SCHEMA_MAX_DEPTH)
		return;
	for (i = 0; i < ARRAY_LEN(schema_drop); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(s, schema_drop[i]);
	nullable(s);
	clean_each(get(s, "properties"), depth);
	clean_each(get(s, "$defs"), depth);
	clean_each(get(s, "definitions"), depth);
	for (i = 0; i < ARRAY_LEN(lists); i++)
		clean_each(get(s, lists[i]), depth);
	items = get(s, "items");
	if (cJSON_IsArray(items))
		clean_each(items, depth);
	else
		clean_schema(items, depth + 1);
}

/* Gemini refuses an OBJECT schema without properties ("should be non-empty for OBJECT type");
 * a function without parameters is declared without the schema. */
static bool empty_object_schema(const cJSON *s)
{
	const cJSON *props = get(s, "properties");

	return str_is(get_str(s, "type"), "object") &&
	       (!props || (cJSON_IsObject(props) && !props->child));
}

static int add_declaration(struct conv *cv, cJSON *decls, const cJSON *fn, const char *where)
{
	const char *name = get_str(fn, "name");
	const cJSON *params = get(fn, "parameters");
	cJSON *d;

	if (!name)
		return fail(cv, "gemini: %s.name is missing", where);
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "name", name);
	if (get_str(fn, "description"))
		cJSON_AddStringToObject(d, "description", get_str(fn, "description"));
	if (cJSON_IsObject(params) && !empty_object_schema(params)) {
		cJSON *p = cJSON_Duplicate(params, 1);

		clean_schema(p, 0);
		cJSON_AddItemToObject(d, "parameters", p);
	}
	cJSON_AddItemToArray(decls, d);
	return 0;
}

/* tools[] (and the legacy functions[]) -> tools: [{functionDeclarations: [...]}]. */
static int add_tools(struct conv *cv, const cJSON *req, cJSON *body)
{
	cJSON *decls = cJSON_CreateArray();
	const cJSON *t;
	char where[48];
	int i = 0, rc = 0;

	cJSON_ArrayForEach(t, get(req, "tools"))
	{
		snprintf(where, sizeof(where), "tools[%d].function", i);
		if (!str_is(get_str(t, "type"), "function") || !cJSON_IsObject(get(t, "function")))
			rc = fail(cv, "gemini: tools[%d] is not a {\"type\":\"function\"} tool", i);
		else
			rc = add_declaration(cv, decls, get(t, "function"), where);
		i++;
		if (rc < 0)
			break;
	}
	i = 0;
	cJSON_ArrayForEach(t, get(req, "functions"))
	{
		if (rc < 0)
			break;
		snprintf(where, sizeof(where), "functions[%d]", i++);
		rc = add_declaration(cv, decls, t, where);
	}
	if (rc < 0 || cJSON_GetArraySize(decls) == 0) {
		cJSON_Delete(decls);
		return rc;
	}
	cJSON_AddItemToObject(add_object_to(cJSON_AddArrayToObject(body, "tools")),
			      "functionDeclarations", decls);
	return 0;
}

static int add_tool_choice(struct conv *cv, const cJSON *req, cJSON *body)
{
	const cJSON *tc = get(req, "tool_choice");
	const char *name = get_str(get(tc, "function"), "name"), *mode = NULL;
	cJSON *fcc;

	if (!tc || cJSON_IsNull(tc))
		return 0;
	if (cJSON_IsString(tc))
		mode = str_is(tc->valuestring, "auto")	     ? "AUTO"
		       : str_is(tc->valuestring, "none")     ? "NONE"
		       : str_is(tc->valuestring, "required") ? "ANY"
							     : NULL;
	else if (name)
		mode = "ANY";
	if (!mode)
		return fail(cv, "gemini: tool_choice must be \"auto\", \"none\", \"required\" or "
				"{\"type\":\"function\",\"function\":{\"name\":...}}");
	fcc = cJSON_AddObjectToObject(cJSON_AddObjectToObject(body, "toolConfig"),
				      "functionCallingConfig");
	cJSON_AddStringToObject(fcc, "mode", mode);
	if (name)
		cJSON_AddItemToArray(cJSON_AddArrayToObject(fcc, "allowedFunctionNames"),
				     cJSON_CreateString(name));
	return 0;
}

/* ---- request: generationConfig ---- */

struct gen_field {
	const char *openai;
	const char *gemini;
};

/* Numbers copied as the client wrote them (json_exact keeps their text). */
static const struct gen_field gen_numbers[] = {
	{"temperature", "temperature"},
	{"top_p", "topP"},
	{"top_k", "topK"},
	{"n", "candidateCount"},
	{"seed", "seed"},
	{"presence_penalty", "presencePenalty"},
	{"frequency_penalty", "frequencyPenalty"},
};

/* reasoning_effort -> thinkingBudget, LiteLLM's default budgets. */
static const struct {
	const char *effort;
	int budget;
} thinking_budgets[] = {
	{"none", 0},   {"disable", 0},	 {"minimal", 128},
	{"low", 1024}, {"medium", 2048}, {"high", 4096},
};

static void copy_number(cJSON *gc, const cJSON *req, const char *from, const char *to)
{
	const cJSON *v = get(req, from);

	if (cJSON_IsNumber(v))
		cJSON_AddItemToObject(gc, to, cJSON_Duplicate(v, 1));
}

static int add_thinking(struct conv *cv, const cJSON *req, cJSON *gc)
{
	const char *effort = get_str(req, "reasoning_effort");
	cJSON *tc;
	size_t i;

	if (!effort)
		return 0;
	for (i = 0; i < ARRAY_LEN(thinking_budgets); i++)
		if (strcmp(effort, thinking_budgets[i].effort) == 0)
			break;
	if (i == ARRAY_LEN(thinking_budgets))
		return fail(cv,
			    "gemini: reasoning_effort must be none, minimal, low, medium or high");
	tc = cJSON_AddObjectToObject(gc, "thinkingConfig");
	cJSON_AddNumberToObject(tc, "thinkingBudget", thinking_budgets[i].budget);
	cJSON_AddBoolToObject(tc, "includeThoughts", thinking_budgets[i].budget > 0);
	return 0;
}

static int add_response_format(struct conv *cv, const cJSON *req, cJSON *gc)
{
	const cJSON *rf = get(req, "response_format");
	const char *type = get_str(rf, "type");
	const cJSON *schema = get(get(rf, "json_schema"), "schema");

	if (!rf || str_is(type, "text"))
		return 0;
	if (!str_is(type, "json_object") &&
	    !(str_is(type, "json_schema") && cJSON_IsObject(schema)))
		return fail(cv, "gemini: response_format must be text, json_object or json_schema "
				"with a schema");
	cJSON_AddStringToObject(gc, "responseMimeType", "application/json");
	if (schema) {
		cJSON *s = cJSON_Duplicate(schema, 1);

		clean_schema(s, 0);
		cJSON_AddItemToObject(gc, "responseSchema", s);
	}
	return 0;
}

static int add_generation_config(struct conv *cv, const cJSON *req, cJSON *body)
{
	cJSON *gc = cJSON_CreateObject();
	const cJSON *stop = get(req, "stop");
	size_t i;
	int rc;

	copy_number(gc, req,
		    cJSON_IsNumber(get(req, "max_completion_tokens")) ? "max_completion_tokens"
								      : "max_tokens",
		    "maxOutputTokens");
	for (i = 0; i < ARRAY_LEN(gen_numbers); i++)
		copy_number(gc, req, gen_numbers[i].openai, gen_numbers[i].gemini);
	if (cJSON_IsString(stop))
		cJSON_AddItemToArray(cJSON_AddArrayToObject(gc, "stopSequences"),
				     cJSON_CreateString(stop->valuestring));
	else if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) > 0)
		cJSON_AddItemToObject(gc, "stopSequences", cJSON_Duplicate(stop, 1));
	rc = add_response_format(cv, req, gc);
	if (rc == 0)
		rc = add_thinking(cv, req, gc);
	if (rc < 0 || !gc->child)
		cJSON_Delete(gc);
	else
		cJSON_AddItemToObject(body, "generationConfig", gc);
	return rc;
}

/* ---- request: URL and the whole body ---- */

/* <api_base>[/v1beta]/models/<model>:<method>; an api_base already ending in a version
 * (/v1beta, /v1) is used as it is. */
static char *model_url(const struct config_model *m, const char *method)
{
	const char *base = m->litellm_params.api_base;
	size_t n = strlen(base);
	bool versioned;
	char *path, *url;

	while (n && base[n - 1] == '/')
		n--;
	versioned = (n >= 7 && strncmp(base + n - 7, "/v1beta", 7) == 0) ||
		    (n >= 3 && strncmp(base + n - 3, "/v1", 3) == 0);
	path = xasprintf("%s/models/%s:%s", versioned ? "" : "/v1beta", m->upstream_model, method);
	url = provider_join(base, path);
	free(path);
	return url;
}

static int chat_body(cJSON *req, bool stream, struct provider_request *out, char *err,
		     size_t err_len)
{
	struct conv cv = {.err = err, .err_len = err_len};
	cJSON *body = cJSON_CreateObject();
	const cJSON *n = get(req, "n");
	int rc;

	if (stream && cJSON_IsNumber(n) && n->valuedouble > 1) {
		cJSON_Delete(body);
		return fail(&cv, "gemini: n > 1 is not supported with stream: true");
	}
	rc = add_messages(&cv, req, body);
	if (rc == 0)
		rc = add_tools(&cv, req, body);
	if (rc == 0)
		rc = add_tool_choice(&cv, req, body);
	if (rc == 0)
		rc = add_generation_config(&cv, req, body);
	if (rc < 0) {
		cJSON_Delete(body);
		return rc;
	}
	out->body = print_free(body);
	out->body_len = strlen(out->body);
	return 0;
}

static void add_embed_request(cJSON *reqs, const char *model, const char *text, const cJSON *dims)
{
	cJSON *r = add_object_to(reqs);

	cJSON_AddStringToObject(r, "model", model);
	add_text(cJSON_AddArrayToObject(cJSON_AddObjectToObject(r, "content"), "parts"), text);
	if (cJSON_IsNumber(dims))
		cJSON_AddItemToObject(r, "outputDimensionality", cJSON_Duplicate(dims, 1));
}

/* /v1/embeddings -> batchEmbedContents: one request per input string. */
static int embed_body(const struct config_model *m, cJSON *req, struct provider_request *out,
		      char *err, size_t err_len)
{
	const cJSON *input = get(req, "input"), *s;
	const cJSON *list = cJSON_IsArray(input) ? input : NULL;
	struct conv cv = {.err = err, .err_len = err_len};
	cJSON *body = cJSON_CreateObject(), *reqs = cJSON_AddArrayToObject(body, "requests");
	char *model = xasprintf("models/%s", m->upstream_model);
	int rc = 0;

	if (cJSON_IsString(input))
		add_embed_request(reqs, model, input->valuestring, get(req, "dimensions"));
	else if (!cJSON_IsArray(input) || cJSON_GetArraySize(input) == 0)
		rc = fail(&cv, "gemini: input must be a string or a non-empty array of strings");
	cJSON_ArrayForEach(s, list)
	{
		if (!cJSON_IsString(s)) {
			rc = fail(&cv, "gemini: input must be strings (token arrays cannot be "
				       "sent to Gemini)");
			break;
		}
		add_embed_request(reqs, model, s->valuestring, get(req, "dimensions"));
	}
	free(model);
	if (rc < 0) {
		cJSON_Delete(body);
		return rc;
	}
	out->body = print_free(body);
	out->body_len = strlen(out->body);
	return 0;
}

static int build(const struct config_model *m, enum provider_route route, cJSON *req, bool stream,
		 struct provider_request *out, char *err, size_t err_len)
{
	int rc;

	if (route == PROVIDER_EMBEDDINGS) {
		rc = embed_body(m, req, out, err, err_len);
		if (rc == 0)
			out->url = model_url(m, "batchEmbedContents");
		return rc;
	}
	if (route == PROVIDER_IMAGES) {
		rc = gemini_image_body(m->upstream_model, req, out, err, err_len);
		if (rc == 0)
			out->url = model_url(m, gemini_image_is_gemini(m->upstream_model)
							? "generateContent"
							: "predict");
		return rc;
	}
	if (route != PROVIDER_CHAT) {
		snprintf(err, err_len,
			 "gemini: only /v1/chat/completions, /v1/embeddings and "
			 "/v1/images/generations go to a gemini/ deployment");
		return -ENOTSUP;
	}
	rc = chat_body(req, stream, out, err, err_len);
	if (rc == 0)
		out->url =
			model_url(m, stream ? "streamGenerateContent?alt=sse" : "generateContent");
	return rc;
}

const struct provider_ops provider_gemini = {
	.name = "gemini",
	.routes = PROVIDER_ROUTE_BIT(PROVIDER_EMBEDDINGS) | PROVIDER_ROUTE_BIT(PROVIDER_IMAGES),
	.build = build,
	.answer = gemini_answer,
	.stream_create = gemini_stream_create,
	.stream_feed = gemini_stream_feed,
	.stream_destroy = gemini_stream_destroy,
	.error = gemini_error,
};
