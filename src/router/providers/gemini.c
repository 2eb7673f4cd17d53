/* gemini: the Google AI Studio dialect (generateContent with an x-goog-api-key), spoken for
 * LiteLLM's gemini/ prefix. The client's OpenAI chat request becomes a GenerateContentRequest
 * (system messages -> systemInstruction, turns -> contents with roles user/model, tool calls
 * -> functionCall parts, tool answers -> functionResponse parts, tools -> one Tool of
 * functionDeclarations with the JSON-schema keys Gemini refuses stripped as LiteLLM strips
 * them, sampling fields -> generationConfig); Gemini's answer, stream and errors come back
 * in OpenAI's shape so the router's retries, fallbacks and ledger work unchanged.
 *
 * Streams use ?alt=sse: each `data:` event is a whole GenerateContentResponse holding the
 * next piece, with no event names and no end marker, so "[DONE]" is emitted once the event
 * carrying a finishReason is translated (after its usage chunk). Gemini gives function calls
 * no ids; each gets "call_" + random hex, and a thoughtSignature (Gemini 3 refuses a replayed
 * call without it) rides in the id after "__thought__" as LiteLLM does, to be put back on
 * the functionCall part when the client replays the history.
 *
 * Rejected: fetching http(s) image URLs (a router must not fetch for its clients; only data:
 * URLs are sent, inline), resolving $ref in tool schemas (sent as written), streams with
 * n > 1 (the end of the stream is the first finishReason).
 */
#include "router/providers/provider.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/util.h"
#include "net/sse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define THOUGHT_SEP	 "__thought__"
#define SCHEMA_MAX_DEPTH 64

/* ---- small helpers ---- */

static cJSON *get(const cJSON *obj, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static const char *get_str(const cJSON *obj, const char *name)
{
	const cJSON *v = get(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool str_is(const char *s, const char *want)
{
	return s && strcmp(s, want) == 0;
}

/* Random lowercase hex (a counter mixed in if the kernel cannot give bytes). */
static void random_hex(char *out, size_t n_bytes)
{
	static uint64_t counter;
	unsigned char r[16];
	size_t i;

	if (n_bytes > sizeof(r))
		n_bytes = sizeof(r);
	if (getrandom(r, n_bytes, 0) != (ssize_t)n_bytes) {
		uint64_t x = ++counter * 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL);

		for (i = 0; i < n_bytes; i++)
			r[i] = (unsigned char)(x >> (8 * (i % 8)));
	}
	for (i = 0; i < n_bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* A cJSON_AddObjectToArray that cJSON lacks. */
static cJSON *add_object_to(cJSON *array)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddItemToArray(array, o);
	return o;
}

static char *print_free(cJSON *root)
{
	char *s = json_exact_print(root);

	cJSON_Delete(root);
	return s;
}

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
	if (route != PROVIDER_CHAT) {
		snprintf(err, err_len,
			 "gemini: only /v1/chat/completions and /v1/embeddings go to a gemini/ "
			 "deployment");
		return -ENOTSUP;
	}
	rc = chat_body(req, stream, out, err, err_len);
	if (rc == 0)
		out->url =
			model_url(m, stream ? "streamGenerateContent?alt=sse" : "generateContent");
	return rc;
}

/* ---- answer: GenerateContentResponse -> OpenAI ---- */

static const struct {
	const char *gemini;
	const char *openai;
} finish_reasons[] = {
	{"STOP", "stop"},
	{"MAX_TOKENS", "length"},
	{"SAFETY", "content_filter"},
	{"RECITATION", "content_filter"},
	{"BLOCKLIST", "content_filter"},
	{"PROHIBITED_CONTENT", "content_filter"},
	{"SPII", "content_filter"},
	{"IMAGE_SAFETY", "content_filter"},
};

/* OpenAI's finish_reason for a Gemini one (NULL: none yet); STOP after function calls is
 * "tool_calls". */
static const char *finish_reason(const char *gemini, bool calls)
{
	size_t i;

	if (!gemini || !*gemini)
		return NULL;
	if (calls && (strcmp(gemini, "STOP") == 0))
		return "tool_calls";
	for (i = 0; i < ARRAY_LEN(finish_reasons); i++)
		if (strcmp(gemini, finish_reasons[i].gemini) == 0)
			return finish_reasons[i].openai;
	return "stop";
}

static char *call_id(const cJSON *part)
{
	const char *sig = get_str(part, "thoughtSignature");
	char hex[25];

	random_hex(hex, 12);
	return sig && *sig ? xasprintf("call_%s" THOUGHT_SEP "%s", hex, sig)
			   : xasprintf("call_%s", hex);
}

/* One functionCall part -> a tool_calls entry ({index} only in stream deltas). */
static cJSON *tool_call(const cJSON *part, int index, bool delta)
{
	const cJSON *fc = get(part, "functionCall"), *args = get(fc, "args");
	cJSON *tc = cJSON_CreateObject(), *fn;
	char *id = call_id(part), *text;

	if (delta)
		cJSON_AddNumberToObject(tc, "index", index);
	cJSON_AddStringToObject(tc, "id", id);
	cJSON_AddStringToObject(tc, "type", "function");
	fn = cJSON_AddObjectToObject(tc, "function");
	cJSON_AddStringToObject(fn, "name", get_str(fc, "name") ? get_str(fc, "name") : "");
	text = cJSON_IsObject(args) ? json_exact_print(args) : xstrdup("{}");
	cJSON_AddStringToObject(fn, "arguments", text);
	free(text);
	free(id);
	return tc;
}

struct parts_out {
	struct buf text;
	struct buf thoughts;
	cJSON *calls; /* array or NULL */
};

/* A candidate's parts: text joined, thought text joined, function calls in order; *n_calls
 * numbers the calls across a stream. */
static void read_parts(const cJSON *parts, struct parts_out *o, int *n_calls, bool delta)
{
	const cJSON *p, *t;

	buf_init(&o->text, 0);
	buf_init(&o->thoughts, 0);
	o->calls = NULL;
	cJSON_ArrayForEach(p, parts)
	{
		t = get(p, "text");
		if (get(p, "functionCall")) {
			if (!o->calls)
				o->calls = cJSON_CreateArray();
			cJSON_AddItemToArray(o->calls, tool_call(p, (*n_calls)++, delta));
		} else if (cJSON_IsString(t)) {
			buf_puts(cJSON_IsTrue(get(p, "thought")) ? &o->thoughts : &o->text,
				 t->valuestring);
		}
	}
}

/* Fills msg (a message or a delta) from o and frees o. */
static void put_parts(cJSON *msg, struct parts_out *o, bool delta)
{
	if (o->text.len)
		cJSON_AddStringToObject(msg, "content", buf_str(&o->text));
	else if (!delta)
		cJSON_AddNullToObject(msg, "content");
	if (o->thoughts.len)
		cJSON_AddStringToObject(msg, "reasoning_content", buf_str(&o->thoughts));
	if (o->calls)
		cJSON_AddItemToObject(msg, "tool_calls", o->calls);
	buf_finish(&o->text);
	buf_finish(&o->thoughts);
}

static double number(const cJSON *obj, const char *name)
{
	const cJSON *v = get(obj, name);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* usageMetadata -> OpenAI usage; thoughts are output tokens Gemini bills. */
static cJSON *usage_of(const cJSON *um)
{
	double prompt = number(um, "promptTokenCount");
	double thoughts = number(um, "thoughtsTokenCount");
	double completion = number(um, "candidatesTokenCount") + thoughts;
	cJSON *u = cJSON_CreateObject();

	cJSON_AddNumberToObject(u, "prompt_tokens", prompt);
	cJSON_AddNumberToObject(u, "completion_tokens", completion);
	cJSON_AddNumberToObject(u, "total_tokens", prompt + completion);
	if (get(um, "cachedContentTokenCount"))
		cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "prompt_tokens_details"),
					"cached_tokens", number(um, "cachedContentTokenCount"));
	if (thoughts > 0)
		cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "completion_tokens_details"),
					"reasoning_tokens", thoughts);
	return u;
}

/* The head every answer and chunk carries. */
static cJSON *head(const cJSON *resp, const struct config_model *m, const char *object,
		   const char *id)
{
	cJSON *root = cJSON_CreateObject();
	const char *model = get_str(resp, "modelVersion");

	cJSON_AddStringToObject(root, "id", id);
	cJSON_AddStringToObject(root, "object", object);
	cJSON_AddNumberToObject(root, "created", (double)time(NULL));
	cJSON_AddStringToObject(root, "model", model ? model : m->upstream_model);
	return root;
}

static void make_id(const cJSON *resp, char *id, size_t len)
{
	const char *rid = get_str(resp, "responseId");
	char hex[25];

	if (rid && *rid && strlen(rid) < len - 10) {
		snprintf(id, len, "chatcmpl-%s", rid);
		return;
	}
	random_hex(hex, 12);
	snprintf(id, len, "chatcmpl-%s", hex);
}

/* A prompt Gemini blocked before generating: an OpenAI content-policy error. */
static char *blocked_prompt(const cJSON *resp, long code_num, bool numeric)
{
	const char *reason = get_str(get(resp, "promptFeedback"), "blockReason");
	char *msg = xasprintf("gemini blocked the prompt (blockReason %s): content policy "
			      "violation",
			      reason ? reason : "unknown");
	cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");

	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", "invalid_request_error");
	cJSON_AddNullToObject(e, "param");
	if (numeric)
		cJSON_AddNumberToObject(e, "code", (double)code_num);
	else
		cJSON_AddStringToObject(e, "code", "content_policy_violation");
	free(msg);
	return print_free(root);
}

static char *embeddings_answer(const struct config_model *m, const cJSON *resp)
{
	cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data");
	const cJSON *e;
	int i = 0;

	cJSON_AddStringToObject(root, "object", "list");
	cJSON_ArrayForEach(e, get(resp, "embeddings"))
	{
		cJSON *d = add_object_to(data);

		cJSON_AddStringToObject(d, "object", "embedding");
		cJSON_AddNumberToObject(d, "index", i++);
		cJSON_AddItemToObject(d, "embedding",
				      cJSON_IsArray(get(e, "values"))
					      ? cJSON_Duplicate(get(e, "values"), 1)
					      : cJSON_CreateArray());
	}
	cJSON_AddStringToObject(root, "model", m->upstream_model);
	/* batchEmbedContents reports no token counts: no usage, so the router bills the estimate
	 * from the bytes sent (marked estimated), never a zero it did not see. */
	return print_free(root);
}

static char *chat_answer(const struct config_model *m, const cJSON *resp)
{
	const cJSON *cands = get(resp, "candidates"), *c;
	cJSON *root, *choices;
	char id[160];
	int n_calls = 0;

	if (cJSON_GetArraySize(cands) == 0 && get_str(get(resp, "promptFeedback"), "blockReason"))
		return blocked_prompt(resp, 400, false);
	if (!cJSON_IsArray(cands) && !get(resp, "usageMetadata"))
		return NULL;
	make_id(resp, id, sizeof(id));
	root = head(resp, m, "chat.completion", id);
	choices = cJSON_AddArrayToObject(root, "choices");
	cJSON_ArrayForEach(c, cands)
	{
		cJSON *ch = add_object_to(choices), *msg;
		struct parts_out o;
		const char *fr;

		n_calls = 0;
		cJSON_AddNumberToObject(ch, "index",
					cJSON_IsNumber(get(c, "index"))
						? number(c, "index")
						: cJSON_GetArraySize(choices) - 1);
		msg = cJSON_AddObjectToObject(ch, "message");
		cJSON_AddStringToObject(msg, "role", "assistant");
		read_parts(get(get(c, "content"), "parts"), &o, &n_calls, false);
		put_parts(msg, &o, false);
		fr = finish_reason(get_str(c, "finishReason"), n_calls > 0);
		cJSON_AddStringToObject(ch, "finish_reason", fr ? fr : "stop");
	}
	cJSON_AddItemToObject(root, "usage", usage_of(get(resp, "usageMetadata")));
	return print_free(root);
}

static char *answer(const struct config_model *m, const char *body, size_t len)
{
	cJSON *resp = json_exact_parse(body, len);
	char *out = NULL;

	if (cJSON_IsObject(resp) && !get(resp, "error"))
		out = get(resp, "embeddings") ? embeddings_answer(m, resp) : chat_answer(m, resp);
	cJSON_Delete(resp);
	return out;
}

/* ---- errors ---- */

static const char *const context_phrases[] = {
	"exceeds the maximum number of tokens",
	"input token count",
	"too many tokens",
	"exceeds the context",
};

static bool contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; hay && *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static const char *error_type(long status)
{
	if (status == 401 || status == 403)
		return "authentication_error";
	if (status == 404)
		return "not_found_error";
	if (status == 429)
		return "rate_limit_error";
	if (status >= 500)
		return "api_error";
	return "invalid_request_error";
}

/* {"error":{message,type,param,code}}: code is the string given, else the HTTP status as a
 * number (which the router reads as the status of an error inside a 200 answer). */
static char *openai_error(const char *message, const char *type, const char *code, long status)
{
	cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");

	cJSON_AddStringToObject(e, "message", message);
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddNullToObject(e, "param");
	if (code)
		cJSON_AddStringToObject(e, "code", code);
	else
		cJSON_AddNumberToObject(e, "code", (double)status);
	return print_free(root);
}

/* Google's {"error":{code,message,status,details}} (also inside a one-element array, as the
 * non-SSE stream sends it) -> OpenAI's shape. NULL: not Google's shape (an OpenAI-shaped
 * body passes as it is). */
static char *error_from(long status, const cJSON *root)
{
	const cJSON *e = get(cJSON_IsArray(root) ? cJSON_GetArrayItem(root, 0) : root, "error");
	const char *msg = get_str(e, "message"), *gstatus = get_str(e, "status");
	const cJSON *code = get(e, "code");
	const char *oa_code = NULL;
	char *text;
	size_t i;

	if (!cJSON_IsObject(e) || cJSON_IsString(code))
		return NULL;
	if (cJSON_IsNumber(code) && (status == 200 || status <= 0))
		status = (long)clamp_i64(code->valuedouble, 0, 999);
	if (status <= 0)
		status = 500;
	for (i = 0; i < ARRAY_LEN(context_phrases); i++)
		if ((status == 400 || str_is(gstatus, "INVALID_ARGUMENT")) &&
		    contains_ci(msg, context_phrases[i]))
			oa_code = "context_length_exceeded";
	text = gstatus ? xasprintf("%s (%s)", msg ? msg : "gemini error", gstatus)
		       : xstrdup(msg ? msg : "gemini error");
	msg = text;
	text = openai_error(msg, oa_code ? "invalid_request_error" : error_type(status), oa_code,
			    status);
	free((char *)msg);
	return text;
}

static char *error(long status, const char *body, size_t len)
{
	cJSON *root = body ? json_parse(body, len, 0, NULL) : NULL;
	char *out = root ? error_from(status, root) : NULL;

	cJSON_Delete(root);
	return out;
}

/* ---- stream: SSE GenerateContentResponse events -> OpenAI chunks ---- */

struct provider_stream {
	struct sse_parser sse;
	const struct config_model *m;
	provider_emit_cb emit;
	void *arg;
	char id[160];
	char model[128]; /* modelVersion of the first event, else the upstream id */
	bool started;	 /* id and model chosen, role sent */
	bool done;	 /* [DONE] emitted: later events are ignored */
	int n_calls;	 /* tool_calls index across the stream */
	bool have_usage;
	double prompt, candidates, thoughts, cached;
	bool have_cached;
};

/* Every chunk of one stream carries the first event's id and model. */
static cJSON *chunk_head(struct provider_stream *s, const cJSON *resp)
{
	const char *model = get_str(resp, "modelVersion");
	cJSON *root;

	if (!s->started) {
		make_id(resp, s->id, sizeof(s->id));
		snprintf(s->model, sizeof(s->model), "%s", model ? model : s->m->upstream_model);
	}
	root = head(resp, s->m, "chat.completion.chunk", s->id);
	cJSON_ReplaceItemInObjectCaseSensitive(root, "model", cJSON_CreateString(s->model));
	return root;
}

static int emit_json(struct provider_stream *s, cJSON *root)
{
	char *text = print_free(root);
	int rc = s->emit(text, strlen(text), s->arg);

	free(text);
	return rc;
}

static void keep_usage(struct provider_stream *s, const cJSON *um)
{
	if (!cJSON_IsObject(um))
		return;
	s->have_usage = true;
	s->prompt = number(um, "promptTokenCount");
	s->candidates = number(um, "candidatesTokenCount");
	s->thoughts = number(um, "thoughtsTokenCount");
	s->have_cached = get(um, "cachedContentTokenCount") != NULL;
	s->cached = number(um, "cachedContentTokenCount");
}

static int emit_usage(struct provider_stream *s, const cJSON *resp)
{
	cJSON *root, *um;

	if (!s->have_usage)
		return 0;
	um = cJSON_CreateObject();
	cJSON_AddNumberToObject(um, "promptTokenCount", s->prompt);
	cJSON_AddNumberToObject(um, "candidatesTokenCount", s->candidates);
	cJSON_AddNumberToObject(um, "thoughtsTokenCount", s->thoughts);
	if (s->have_cached)
		cJSON_AddNumberToObject(um, "cachedContentTokenCount", s->cached);
	root = chunk_head(s, resp);
	cJSON_AddArrayToObject(root, "choices");
	cJSON_AddItemToObject(root, "usage", usage_of(um));
	cJSON_Delete(um);
	return emit_json(s, root);
}

/* An error object inside the stream: an OpenAI error chunk with the HTTP code. */
static int stream_error(struct provider_stream *s, const cJSON *resp)
{
	char *text = error_from(0, resp);
	int rc;

	if (!text) {
		const cJSON *e = get(resp, "error");

		text = openai_error(get_str(e, "message") ? get_str(e, "message") : "gemini error",
				    "api_error", NULL, 500);
	}
	s->done = true;
	rc = s->emit(text, strlen(text), s->arg);
	free(text);
	return rc;
}

static int stream_blocked(struct provider_stream *s, const cJSON *resp)
{
	char *text = blocked_prompt(resp, 400, true);
	int rc;

	s->done = true;
	rc = s->emit(text, strlen(text), s->arg);
	free(text);
	return rc;
}

/* One candidate -> one choice of a chunk; *finished when it carries a finishReason. */
static void add_choice(struct provider_stream *s, cJSON *choices, const cJSON *c, bool *finished)
{
	cJSON *ch = add_object_to(choices), *delta;
	struct parts_out o;
	const char *fr;

	cJSON_AddNumberToObject(ch, "index", number(c, "index"));
	delta = cJSON_AddObjectToObject(ch, "delta");
	if (!s->started)
		cJSON_AddStringToObject(delta, "role", "assistant");
	read_parts(get(get(c, "content"), "parts"), &o, &s->n_calls, true);
	put_parts(delta, &o, true);
	fr = finish_reason(get_str(c, "finishReason"), s->n_calls > 0);
	if (fr) {
		cJSON_AddStringToObject(ch, "finish_reason", fr);
		*finished = true;
	} else {
		cJSON_AddNullToObject(ch, "finish_reason");
	}
}

static int stream_response(struct provider_stream *s, const cJSON *resp)
{
	const cJSON *cands = get(resp, "candidates"), *c;
	bool finished = false;
	cJSON *root, *choices;
	int rc;

	keep_usage(s, get(resp, "usageMetadata"));
	if (cJSON_GetArraySize(cands) == 0)
		return get_str(get(resp, "promptFeedback"), "blockReason") ? stream_blocked(s, resp)
									   : 0;
	root = chunk_head(s, resp);
	choices = cJSON_AddArrayToObject(root, "choices");
	cJSON_ArrayForEach(c, cands)
	{
		add_choice(s, choices, c, &finished);
	}
	s->started = true;
	rc = emit_json(s, root);
	if (rc < 0 || !finished)
		return rc;
	s->done = true;
	rc = emit_usage(s, resp);
	return rc < 0 ? rc : s->emit("[DONE]", 6, s->arg);
}

static int on_event(const struct sse_event *ev, void *arg)
{
	struct provider_stream *s = arg;
	cJSON *resp;
	int rc;

	if (s->done)
		return 0;
	resp = json_exact_parse(ev->data, ev->data_len);
	if (!cJSON_IsObject(resp) && !cJSON_IsArray(resp)) {
		cJSON_Delete(resp);
		return -EPROTO;
	}
	if (cJSON_IsArray(resp) || get(resp, "error"))
		rc = stream_error(s, resp);
	else
		rc = stream_response(s, resp);
	cJSON_Delete(resp);
	return rc;
}

static struct provider_stream *stream_create(const struct config_model *m, size_t max_event_bytes,
					     provider_emit_cb emit, void *arg)
{
	struct provider_stream *s = xcalloc(1, sizeof(*s));

	s->m = m;
	s->emit = emit;
	s->arg = arg;
	sse_init(&s->sse, max_event_bytes, on_event, s);
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
	free(s);
}

const struct provider_ops provider_gemini = {
	.name = "gemini",
	.routes = PROVIDER_ROUTE_BIT(PROVIDER_EMBEDDINGS),
	.build = build,
	.answer = answer,
	.stream_create = stream_create,
	.stream_feed = stream_feed,
	.stream_destroy = stream_destroy,
	.error = error,
};
