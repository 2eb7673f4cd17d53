/* prompt_cache: cache_control marks added where the config asks, removed where the wire does
 * not take them (see prompt_cache.h). */
#include "router/providers/prompt_cache.h"

#include "core/json.h"

#include <string.h>

static cJSON *get(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

static bool has_mark(const cJSON *o)
{
	return get(o, "cache_control") != NULL;
}

static bool starts(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool prompt_cache_needs_marks(const struct config_model *m)
{
	const char *id = m->upstream_model;

	switch (m->dialect) {
	case DIALECT_ANTHROPIC:
	case DIALECT_VERTEX_ANTHROPIC:
		return true;
	case DIALECT_BEDROCK: /* "anthropic.claude-...", "us.anthropic.claude-..." */
		return id && strstr(id, "anthropic.") != NULL;
	case DIALECT_OPENAI:
		return m->provider && strcmp(m->provider, "openrouter") == 0 &&
		       (starts(id, "anthropic/") || starts(id, "google/gemini"));
	default:
		return false;
	}
}

/* The Anthropic and Bedrock dialects translate marks; OpenRouter and a LiteLLM proxy pass
 * them on to providers that use them and drop them for the rest. */
static bool takes_marks(const struct config_model *m)
{
	if (m->dialect == DIALECT_ANTHROPIC || m->dialect == DIALECT_VERTEX_ANTHROPIC ||
	    m->dialect == DIALECT_BEDROCK)
		return true;
	return m->dialect == DIALECT_OPENAI && m->provider &&
	       (strcmp(m->provider, "openrouter") == 0 ||
		strcmp(m->provider, "litellm_proxy") == 0);
}

static cJSON *new_mark(void)
{
	cJSON *cc = cJSON_CreateObject();

	cJSON_AddStringToObject(cc, "type", "ephemeral");
	return cc;
}

bool prompt_cache_mark(cJSON *message)
{
	cJSON *content = get(message, "content"), *last = NULL, *part;

	if (cJSON_IsArray(content)) {
		cJSON_ArrayForEach(part, content) last = part;
		if (!cJSON_IsObject(last) || has_mark(last))
			return false;
		cJSON_AddItemToObject(last, "cache_control", new_mark());
		return true;
	}
	if (cJSON_IsString(content) && content->valuestring[0]) {
		cJSON *parts = cJSON_CreateArray(), *text = cJSON_CreateObject();

		cJSON_AddStringToObject(text, "type", "text");
		cJSON_AddStringToObject(text, "text", content->valuestring);
		cJSON_AddItemToObject(text, "cache_control", new_mark());
		cJSON_AddItemToArray(parts, text);
		cJSON_ReplaceItemInObjectCaseSensitive(message, "content", parts);
		return true;
	}
	if (has_mark(message))
		return false;
	cJSON_AddItemToObject(message, "cache_control", new_mark());
	return true;
}

/* Marks anywhere in the request: tools, messages and their parts. */
static int count_marks(const cJSON *req)
{
	const cJSON *t, *msg, *part;
	int n = 0;

	cJSON_ArrayForEach(t, get(req, "tools")) n += has_mark(t);
	cJSON_ArrayForEach(msg, get(req, "messages"))
	{
		const cJSON *content = get(msg, "content");

		n += has_mark(msg);
		if (cJSON_IsArray(content))
			cJSON_ArrayForEach(part, content) n += has_mark(part);
	}
	return n;
}

static const char *role_name(enum config_cache_role r)
{
	static const char *const names[] = {
		[CONFIG_CACHE_SYSTEM] = "system",
		[CONFIG_CACHE_USER] = "user",
		[CONFIG_CACHE_ASSISTANT] = "assistant",
		[CONFIG_CACHE_TOOL] = "tool",
	};

	return r > CONFIG_CACHE_ANY_ROLE && r <= CONFIG_CACHE_TOOL ? names[r] : NULL;
}

/* The message a point names: messages[index] (negative from the end), else the last
 * message of its role (LiteLLM marks every message of the role; one mark on the last covers
 * the same prefix and keeps within Anthropic's four). */
static cJSON *point_message(const struct config_cache_point *p, cJSON *messages)
{
	int n = cJSON_GetArraySize(messages);
	const char *role = role_name(p->role);
	cJSON *msg, *found = NULL;

	if (p->has_index) {
		int64_t i = p->index < 0 ? n + p->index : p->index;

		return i >= 0 && i < n ? cJSON_GetArrayItem(messages, (int)i) : NULL;
	}
	cJSON_ArrayForEach(msg, messages)
	{
		const cJSON *r = get(msg, "role");

		if (cJSON_IsString(r) && role && strcmp(r->valuestring, role) == 0)
			found = msg;
	}
	return found;
}

/* A content of one text part without a mark goes back to the string it stands for. */
static void unwrap_single_text(cJSON *msg)
{
	cJSON *content = get(msg, "content"), *part, *text;

	if (!cJSON_IsArray(content) || cJSON_GetArraySize(content) != 1)
		return;
	part = cJSON_GetArrayItem(content, 0);
	text = get(part, "text");
	if (!cJSON_IsObject(part) || cJSON_GetArraySize(part) != 2 || !cJSON_IsString(text) ||
	    !cJSON_IsString(get(part, "type")) || strcmp(get(part, "type")->valuestring, "text"))
		return;
	cJSON_ReplaceItemInObjectCaseSensitive(msg, "content",
					       cJSON_CreateString(text->valuestring));
}

/* The two members strip_marks asks an object for, found in one walk (json_members; get is a
 * walk each): marks are stripped from every request of a dialect that takes none, and nearly
 * all have none to strip. */
static const char *const MARK_AND_TOOLS[] = {"cache_control", "tools"};
static const char *const MARK_AND_CONTENT[] = {"cache_control", "content"};

/* Returns whether it removed any. */
static bool strip_marks(cJSON *req, cJSON *messages)
{
	cJSON *t, *msg, *part, *mark, *tools, *content, *found[2];
	bool any;

	json_members(req, MARK_AND_TOOLS, 2, found);
	mark = found[0];
	tools = found[1];
	any = mark != NULL;
	if (mark) /* OpenRouter's automatic form */
		cJSON_Delete(cJSON_DetachItemViaPointer(req, mark));
	cJSON_ArrayForEach(t, tools)
	{
		mark = cJSON_DetachItemFromObjectCaseSensitive(t, "cache_control");
		any = any || mark;
		cJSON_Delete(mark);
	}
	cJSON_ArrayForEach(msg, messages)
	{
		bool removed;

		json_members(msg, MARK_AND_CONTENT, 2, found);
		mark = found[0];
		content = found[1];
		removed = mark != NULL;
		if (mark)
			cJSON_Delete(cJSON_DetachItemViaPointer(msg, mark));
		if (!cJSON_IsArray(content))
			continue;
		cJSON_ArrayForEach(part, content)
		{
			if (cJSON_IsObject(part) && has_mark(part)) {
				cJSON_DeleteItemFromObjectCaseSensitive(part, "cache_control");
				removed = true;
			}
		}
		if (removed)
			unwrap_single_text(msg);
		any = any || removed;
	}
	return any;
}

bool prompt_cache_prepare(const struct config_model *m, cJSON *req)
{
	const struct config_litellm_params *lp = &m->litellm_params;
	cJSON *messages = get(req, "messages");
	int marks, before;
	size_t i;

	if (!cJSON_IsArray(messages))
		return false;
	if (!takes_marks(m))
		return strip_marks(req, messages);
	if (!lp->n_cache_points)
		return false;
	marks = before = count_marks(req);
	for (i = 0; i < lp->n_cache_points && marks < PROMPT_CACHE_MAX_MARKS; i++) {
		cJSON *msg = point_message(&lp->cache_points[i], messages);

		if (cJSON_IsObject(msg))
			marks += prompt_cache_mark(msg);
	}
	return marks > before;
}
