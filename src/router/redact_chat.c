/* redact_chat: a chat completions request de-identified member by member (see redact_chat.h).
 *
 * One walk over the request's tree, each object's members looked up in the table of what that
 * object is (the request, a message, a content part, a tool call, a function's definition). The
 * tables list every member of OpenAI's chat completions request the router forwards, from its
 * API reference (with the few that LiteLLM's clients send for Anthropic and OpenRouter:
 * thinking, top_k, usage, reasoning, cache_control), and what each carries. Attachments (an image's
 * URL or data, audio, a file's data) are sent as they are, as the agent's turns send them
 * (docs/security.md says so); a file's name is text. Identifiers (ids, function names, roles,
 * modes) are never rewritten, because the upstream checks their syntax and pairs them up
 * ("call_[PHONE_1]" would break a tool call's id), but one a detector matches is refused, as is a
 * JSON schema's property name. Rejected: a walk that redacts every string it meets (it rewrites ids
 * and names, and passes members nobody has read), and a list of members to refuse (a new member
 * would pass). `metadata` is not in the tables: the router takes it off every request before this
 * runs (LiteLLM's own, never for the provider).
 */
#include "router/redact_chat.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum carries {
	C_OPAQUE,  /* an attachment, sent as it is */
	C_IDENT,   /* ids, names, modes, numbers: passes when no detector matches a string in it */
	C_TEXT,	   /* a string, an array of strings or null: redacted */
	C_DEEP,	   /* every string inside redacted (a JSON schema, a location); keys as C_IDENT */
	C_OBJECT,  /* an object of the table sub */
	C_ARRAY,   /* an array of objects of the table sub */
	C_CONTENT, /* a string (redacted), null, or an array of parts (objects of the table sub) */
};

struct table;

struct member {
	const char *name;
	enum carries how;
	const struct table *sub;
};

struct table {
	const struct member *m;
	size_t n;
};

#define TABLE(name, ...)                                                                           \
	static const struct member name##_members[] = {__VA_ARGS__};                               \
	static const struct table name = {name##_members, ARRAY_LEN(name##_members)}

/* assistant's tool_calls[].function and the legacy function_call */
TABLE(call_fn, {"name", C_IDENT, NULL}, {"arguments", C_TEXT, NULL});
TABLE(tool_call, {"id", C_IDENT, NULL}, {"type", C_IDENT, NULL}, {"function", C_OBJECT, &call_fn});
TABLE(file, {"file_data", C_OPAQUE, NULL}, {"file_id", C_IDENT, NULL}, {"filename", C_TEXT, NULL});
TABLE(part, {"type", C_IDENT, NULL}, {"text", C_TEXT, NULL}, {"refusal", C_TEXT, NULL},
      {"image_url", C_OPAQUE, NULL}, {"input_audio", C_OPAQUE, NULL}, {"file", C_OBJECT, &file},
      {"cache_control", C_IDENT, NULL});
TABLE(message, {"role", C_IDENT, NULL}, {"content", C_CONTENT, &part}, {"name", C_TEXT, NULL},
      {"refusal", C_TEXT, NULL}, {"tool_calls", C_ARRAY, &tool_call},
      {"function_call", C_OBJECT, &call_fn}, {"tool_call_id", C_IDENT, NULL},
      {"audio", C_IDENT, NULL}, {"reasoning_content", C_TEXT, NULL},
      {"cache_control", C_IDENT, NULL});
/* tools[].function and the legacy functions[] */
TABLE(fn_def, {"name", C_IDENT, NULL}, {"description", C_TEXT, NULL}, {"parameters", C_DEEP, NULL},
      {"strict", C_IDENT, NULL});
TABLE(tool, {"type", C_IDENT, NULL}, {"function", C_OBJECT, &fn_def},
      {"cache_control", C_IDENT, NULL});
TABLE(prediction, {"type", C_IDENT, NULL}, {"content", C_CONTENT, &part});
TABLE(request, {"audio", C_IDENT, NULL}, {"frequency_penalty", C_IDENT, NULL},
      {"function_call", C_IDENT, NULL}, {"functions", C_ARRAY, &fn_def},
      {"logit_bias", C_IDENT, NULL}, {"logprobs", C_IDENT, NULL},
      {"max_completion_tokens", C_IDENT, NULL}, {"max_tokens", C_IDENT, NULL},
      {"messages", C_ARRAY, &message}, {"modalities", C_IDENT, NULL}, {"model", C_IDENT, NULL},
      {"n", C_IDENT, NULL}, {"parallel_tool_calls", C_IDENT, NULL},
      {"prediction", C_OBJECT, &prediction}, {"presence_penalty", C_IDENT, NULL},
      {"prompt_cache_key", C_TEXT, NULL}, {"reasoning_effort", C_IDENT, NULL},
      {"response_format", C_DEEP, NULL}, {"safety_identifier", C_TEXT, NULL},
      {"seed", C_IDENT, NULL}, {"service_tier", C_IDENT, NULL}, {"stop", C_TEXT, NULL},
      {"store", C_IDENT, NULL}, {"stream", C_IDENT, NULL}, {"stream_options", C_IDENT, NULL},
      {"temperature", C_IDENT, NULL}, {"thinking", C_IDENT, NULL}, {"tool_choice", C_IDENT, NULL},
      {"tools", C_ARRAY, &tool}, {"top_k", C_IDENT, NULL}, {"top_logprobs", C_IDENT, NULL},
      {"top_p", C_IDENT, NULL}, {"user", C_TEXT, NULL}, {"verbosity", C_IDENT, NULL},
      /* OpenRouter's usage accounting and reasoning settings */
      {"usage", C_IDENT, NULL}, {"reasoning", C_IDENT, NULL}, {"web_search_options", C_DEEP, NULL});

struct walk {
	struct redact_map *map;
	const struct redact_rules *rules;
	char path[256]; /* the member being read, as OpenAI's param names it */
	size_t at;
	bool changed; /* a text was redacted */
};

/* Whether a detector or pattern of the rules matches inside s. */
static bool matched(const struct walk *w, const char *s)
{
	struct redact_map *scratch;
	bool changed = false;

	if (!redact_may_match(w->rules, s, strlen(s)))
		return false;
	scratch = redact_map_create();
	free(redact_text(scratch, w->rules->detectors, w->rules->re, w->rules->n_re, s, strlen(s),
			 NULL, &changed));
	redact_map_destroy(scratch);
	return changed;
}

/* Appends s (n bytes) to the path, cut where it is full, as snprintf would. */
static void put(struct walk *w, const char *s, size_t n)
{
	size_t room = sizeof(w->path) - 1 - w->at;

	if (n > room)
		n = room;
	memcpy(w->path + w->at, s, n);
	w->at += n;
	w->path[w->at] = '\0';
}

/* Appends ".name" (or "name" at the top) or "[i]" to the path; returns the old end. Runs for
 * every member of every request in a lane: appends, not snprintf. */
static size_t enter(struct walk *w, const char *name, int i)
{
	size_t at = w->at;
	char num[16], *p = num + sizeof(num);
	unsigned v = (unsigned)i;

	if (name) {
		if (at)
			put(w, ".", 1);
		put(w, name, strlen(name));
		return at;
	}
	*--p = ']';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	*--p = '[';
	put(w, p, (size_t)(num + sizeof(num) - p));
	return at;
}

static void leave(struct walk *w, size_t at)
{
	w->at = at;
	w->path[at] = '\0';
}

/* Every string and key inside v passes the detectors unchanged (deep: strings are redacted). */
static int walk_any(struct walk *w, cJSON *v, bool deep)
{
	cJSON *it;
	int i = 0;

	if (cJSON_IsString(v)) {
		if (deep)
			w->changed |= redact_json_string(w->map, w->rules, v);
		return deep || !matched(w, v->valuestring) ? 0 : -1;
	}
	cJSON_ArrayForEach(it, v)
	{
		size_t at = enter(w, cJSON_IsObject(v) ? it->string : NULL, i++);

		if ((it->string && cJSON_IsObject(v) && matched(w, it->string)) ||
		    walk_any(w, it, deep) < 0)
			return -1;
		leave(w, at);
	}
	return 0;
}

static int walk_object(struct walk *w, const struct table *t, cJSON *obj);

static int walk_text(struct walk *w, cJSON *v)
{
	cJSON *it;
	int i = 0;

	if (cJSON_IsNull(v) || cJSON_IsString(v)) {
		w->changed |= redact_json_string(w->map, w->rules, v);
		return 0;
	}
	if (!cJSON_IsArray(v))
		return -1;
	cJSON_ArrayForEach(it, v)
	{
		size_t at = enter(w, NULL, i++);

		if (!cJSON_IsString(it))
			return -1;
		w->changed |= redact_json_string(w->map, w->rules, it);
		leave(w, at);
	}
	return 0;
}

static int walk_array(struct walk *w, const struct table *sub, cJSON *v)
{
	cJSON *it;
	int i = 0;

	if (!cJSON_IsArray(v))
		return -1;
	cJSON_ArrayForEach(it, v)
	{
		size_t at = enter(w, NULL, i++);

		if (walk_object(w, sub, it) < 0)
			return -1;
		leave(w, at);
	}
	return 0;
}

static int walk_member(struct walk *w, const struct member *mb, cJSON *v)
{
	switch (mb->how) {
	case C_OPAQUE:
		return 0;
	case C_IDENT:
		return walk_any(w, v, false);
	case C_TEXT:
		return walk_text(w, v);
	case C_DEEP:
		return walk_any(w, v, true);
	case C_OBJECT:
		return walk_object(w, mb->sub, v);
	case C_ARRAY:
		return walk_array(w, mb->sub, v);
	case C_CONTENT:
		if (cJSON_IsNull(v) || cJSON_IsString(v))
			return walk_text(w, v);
		return walk_array(w, mb->sub, v);
	}
	return -1;
}

static int walk_object(struct walk *w, const struct table *t, cJSON *obj)
{
	cJSON *it;

	if (!cJSON_IsObject(obj))
		return -1;
	cJSON_ArrayForEach(it, obj)
	{
		size_t at = enter(w, it->string, 0), k;

		/* The first letter before strcmp: a request's members are looked up in a table of
		 * 40 (28 calls of strcmp a one-message request before). */
		for (k = 0; k < t->n && (t->m[k].name[0] != it->string[0] ||
					 strcmp(t->m[k].name, it->string) != 0);
		     k++)
			;
		if (k == t->n || walk_member(w, &t->m[k], it) < 0)
			return -1;
		leave(w, at);
	}
	return 0;
}

int redact_chat_request(struct redact_map *m, const struct redact_rules *rules, cJSON *req,
			char *param, size_t param_len)
{
	struct walk w = {.map = m, .rules = rules};

	if (walk_object(&w, &request, req) == 0)
		return w.changed ? 1 : 0;
	snprintf(param, param_len, "%s", w.at ? w.path : "(the request)");
	return -1;
}
