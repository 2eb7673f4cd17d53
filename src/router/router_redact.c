/* router_redact: de-identification of router clients' calls in a redacting lane
 * (docs/security.md, "Lanes").
 *
 * A call that a router client's pinned key or its metadata.lane put in a lane with `redact`
 * detectors or `redact_patterns` has every text of its request redacted member by member
 * (router/redact_chat.c: a member it has no row for is refused, 400 naming it) before
 * anything is sent upstream; the kept body (retries and fallbacks rebuild from it) is the
 * redacted one. The answer is restored before the client reads it: a whole answer's message
 * contents, refusals and call arguments, and a stream chunk by chunk, where a text that ends
 * in what may be the start of a placeholder ("... [EMAIL_") holds that tail back until the
 * next chunk of the same choice (and the same text: content, refusal, function_call, tool
 * call N) completes or disproves it; what is still held is sent before the choice's
 * finish_reason, or in a chunk of its own before "[DONE]". The held texts are a growable
 * table indexed by (choice, tool call), capped by the stream's event cap, not a fixed count
 * (a model may call 40 tools in parallel). The map lives as long as the call:
 * the same value gets the same placeholder within one request. The agent's own turns are
 * redacted by agent/agent_redact.c (they name their lane; this file leaves them alone).
 * Only chat completions are redacted: any other route of a call in a redacting lane is refused
 * (400), never sent as it is. Rejected: restoring placeholders in the raw JSON text (a
 * pattern's value may need escaping; the strings are restored in the parsed tree).
 */
#include "router/router_int.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/log.h"
#include "core/redact.h"
#include "router/redact_chat.h"

#include <cjson/cJSON.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Slots open at once (choices' texts and tool calls seen in the stream, held text or not):
 * as many as one event's bytes could open at about 64 bytes a tool call's delta. Past it a
 * piece is restored as it comes. */
#define HELD_SLOTS_MAX (SSE_EVENT_CAP / 64)
#define NO_SLOT	       UINT32_MAX

/* What a slot holds text of, besides a tool call's arguments (tool >= 0). */
enum { SLOT_CONTENT = -1, SLOT_REFUSAL = -2, SLOT_FUNCTION = -3 };

/* Text held back for one choice's content, refusal or function_call's arguments, or one of its
 * tool calls' arguments; chained in the index by (choice, tool). */
struct held_slot {
	int choice, tool;
	uint32_t next;
	struct buf text;
};

struct router_redact {
	struct redact_map *map;
	struct held_slot *slots; /* in the order they were opened */
	size_t n_slots, alloc;
	uint32_t *index; /* n_index (a power of two) chain heads, NO_SLOT for none */
	size_t n_index;
	char *id, *model; /* the last chunk's, for a chunk of held text of our own */
	int64_t created;
};

/* The call's lane when it asks for redaction, else NULL. */
static const struct config_lane *redacting(const struct router_call *c)
{
	const struct config *cfg = c->r->cfg;
	const struct config_lane *l;

	if (c->lane < 0 || (size_t)c->lane >= cfg->n_lanes)
		return NULL;
	l = &cfg->lanes[c->lane];
	return l->redact || l->n_redact_patterns ? l : NULL;
}

static bool refuse_member(struct router_call *c, const struct config_lane *l, const char *param)
{
	char *msg = xasprintf("lane '%s' redacts what it sends, and the request member '%s' is "
			      "not one the router can redact (an unknown member, a value of "
			      "another shape, or an identifier or schema key holding a value its "
			      "detectors match); nothing was sent",
			      l->name, param);

	router_refuse_param(c, msg, param, "unsupported_parameter");
	free(msg);
	return true;
}

bool router_redact_request(struct router_call *c)
{
	const struct config_lane *l = redacting(c);
	struct redact_rules rules;
	char *body = NULL, param[256];
	int rc = -1;

	if (!l)
		return false;
	if (c->route != PROVIDER_CHAT || !cJSON_IsObject(c->req)) {
		char *msg_text = xasprintf("lane '%s' redacts what it sends, which the router does "
					   "for chat completions only; nothing was sent",
					   l->name);

		router_fail_call(c, E_BAD_REQUEST, 400, msg_text);
		free(msg_text);
		return true;
	}
	c->redact = xcalloc(1, sizeof(*c->redact));
	c->redact->map = redact_map_create();
	if (redact_rules_init(&rules, l->redact, l->redact_patterns, l->n_redact_patterns) == 0) {
		rc = redact_chat_request(c->redact->map, &rules, c->req, param, sizeof(param));
		if (rc > 0)
			body = json_exact_print(c->req);
		redact_rules_finish(&rules);
		if (rc < 0)
			return refuse_member(c, l, param);
		/* Nothing redacted: the client's body stays the kept one, as outside a lane (a
		 * retry's parse of it drops what admission dropped from the tree). */
		if (rc == 0)
			return false;
	}
	if (!body) {
		router_fail_call(c, E_SERVER, 500, "the request could not be redacted");
		return true;
	}
	/* Retries and fallbacks rebuild the request from the kept body: the redacted one. The
	 * tree is printed for this attempt too (req_changed), never the client's text. */
	c->req_changed = true;
	free(c->body);
	c->body = body;
	c->body_len = strlen(body);
	return false;
}

/* Restores every choice's message of a whole answer. NULL: send body as it is. */
char *router_redact_answer(struct router_call *c, const char *body, size_t len)
{
	struct redact_map *map = c->redact ? c->redact->map : NULL;
	bool changed = false;
	cJSON *root, *it;
	char *out = NULL;

	if (!map || redact_map_count(map) == 0)
		return NULL;
	root = json_parse(body, len, JSON_EXACT, NULL);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "choices"))
	{
		changed |= redact_json_message(map, NULL,
					       cJSON_GetObjectItemCaseSensitive(it, "message"));
	}
	if (changed)
		out = json_exact_print(root);
	cJSON_Delete(root);
	return out;
}

static uint32_t slot_hash(const struct router_redact *rr, int choice, int tool)
{
	uint32_t h = (uint32_t)choice * 2654435761u ^ ((uint32_t)tool + 7u) * 40503u;

	return (h ^ h >> 15) & (uint32_t)(rr->n_index - 1);
}

static void reindex(struct router_redact *rr)
{
	size_t want = 16;

	while (want < 2 * rr->n_slots)
		want *= 2;
	if (want != rr->n_index) {
		free(rr->index);
		rr->index = xmalloc(want * sizeof(*rr->index));
		rr->n_index = want;
	}
	for (size_t i = 0; i < rr->n_index; i++)
		rr->index[i] = NO_SLOT;
	for (size_t i = 0; i < rr->n_slots; i++) {
		uint32_t h = slot_hash(rr, rr->slots[i].choice, rr->slots[i].tool);

		rr->slots[i].next = rr->index[h];
		rr->index[h] = (uint32_t)i;
	}
}

static struct held_slot *slot_of(struct router_redact *rr, int choice, int tool)
{
	struct held_slot *s;

	for (uint32_t i = rr->n_index ? rr->index[slot_hash(rr, choice, tool)] : NO_SLOT;
	     i != NO_SLOT; i = rr->slots[i].next)
		if (rr->slots[i].choice == choice && rr->slots[i].tool == tool)
			return &rr->slots[i];
	if (rr->n_slots == HELD_SLOTS_MAX)
		return NULL;
	if (rr->n_slots == rr->alloc) {
		rr->alloc = rr->alloc ? 2 * rr->alloc : 8;
		rr->slots = xrealloc(rr->slots, rr->alloc * sizeof(*rr->slots));
	}
	s = &rr->slots[rr->n_slots++];
	*s = (struct held_slot){.choice = choice, .tool = tool, .next = NO_SLOT};
	buf_init(&s->text, 0);
	if (2 * rr->n_slots > rr->n_index) {
		reindex(rr);
	} else {
		uint32_t h = slot_hash(rr, choice, tool);

		s->next = rr->index[h];
		rr->index[h] = (uint32_t)(rr->n_slots - 1);
	}
	return s;
}

/* A streamed piece s of one of choice's texts (tool: SLOT_* or a tool call's index): the held
 * text before it, restored up to a possible placeholder's start, which is held for the next
 * piece (all of it when finishing). */
static void restore_piece(struct router_redact *rr, int choice, int tool, cJSON *s, bool finishing)
{
	struct held_slot *slot = slot_of(rr, choice, tool);
	struct buf all;
	size_t cut, n;
	char *out;

	if (!slot) { /* past the cap: restored as they come */
		redact_json_string(rr->map, NULL, s);
		return;
	}
	buf_init(&all, 0);
	buf_append(&all, slot->text.data, slot->text.len);
	buf_puts(&all, s->valuestring);
	cut = finishing ? all.len : redact_hold_from(all.data ? all.data : "", all.len);
	buf_reset(&slot->text);
	buf_append(&slot->text, all.data + cut, all.len - cut);
	out = redact_restore(rr->map, all.data ? all.data : "", cut, &n);
	if (strlen(out) == n)
		cJSON_SetValuestring(s, out);
	free(out);
	buf_finish(&all);
}

/* text in front of the string member name of obj (added when there is none). */
static void prepend(cJSON *obj, const char *name, const char *text)
{
	cJSON *at = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (cJSON_IsString(at)) {
		char *both = xasprintf("%s%s", text, at->valuestring);

		cJSON_SetValuestring(at, both);
		free(both);
		return;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
	cJSON_AddStringToObject(obj, name, text);
}

static cJSON *object_in(cJSON *obj, const char *name)
{
	cJSON *at = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (cJSON_IsObject(at))
		return at;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
	return cJSON_AddObjectToObject(obj, name);
}

/* One slot's held text into delta. */
static void release_slot(const struct router_redact *rr, const struct held_slot *s, cJSON *delta)
{
	char *text = redact_restore(rr->map, buf_str(&s->text), s->text.len, NULL);
	cJSON *calls, *call, *fn;

	switch (s->tool) {
	case SLOT_CONTENT:
		prepend(delta, "content", text);
		break;
	case SLOT_REFUSAL:
		prepend(delta, "refusal", text);
		break;
	case SLOT_FUNCTION:
		prepend(object_in(delta, "function_call"), "arguments", text);
		break;
	default:
		calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
		if (!cJSON_IsArray(calls)) {
			cJSON_DeleteItemFromObjectCaseSensitive(delta, "tool_calls");
			calls = cJSON_AddArrayToObject(delta, "tool_calls");
		}
		call = cJSON_CreateObject();
		fn = cJSON_CreateObject();
		cJSON_AddNumberToObject(call, "index", s->tool);
		cJSON_AddStringToObject(fn, "arguments", text);
		cJSON_AddItemToObject(call, "function", fn);
		cJSON_AddItemToArray(calls, call);
	}
	free(text);
}

/* The held text of choice goes into its finishing delta, and its slots close. */
static void release_choice(struct router_redact *rr, int choice, cJSON *delta)
{
	size_t kept = 0;

	for (size_t i = 0; i < rr->n_slots; i++) {
		struct held_slot *s = &rr->slots[i];

		if (s->choice != choice) {
			rr->slots[kept++] = *s;
			continue;
		}
		if (s->text.len)
			release_slot(rr, s, delta);
		buf_finish(&s->text);
	}
	if (kept != rr->n_slots) {
		rr->n_slots = kept;
		reindex(rr);
	}
}

/* The first slot with text held, or NULL. */
static const struct held_slot *first_held(const struct router_redact *rr)
{
	for (size_t i = 0; i < rr->n_slots; i++)
		if (rr->slots[i].text.len)
			return &rr->slots[i];
	return NULL;
}

static int index_of(const cJSON *item, int fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, "index");

	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e6 ? v->valueint
										: fallback;
}

static void keep_ids(struct router_redact *rr, const cJSON *root)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
	const cJSON *created = cJSON_GetObjectItemCaseSensitive(root, "created");

	if (cJSON_IsString(id) && (!rr->id || strcmp(rr->id, id->valuestring) != 0)) {
		free(rr->id);
		rr->id = xstrdup(id->valuestring);
	}
	if (cJSON_IsString(model) && (!rr->model || strcmp(rr->model, model->valuestring) != 0)) {
		free(rr->model);
		rr->model = xstrdup(model->valuestring);
	}
	if (cJSON_IsNumber(created))
		rr->created = (int64_t)created->valuedouble;
}

char *router_redact_chunk(struct router_call *c, const char *data, size_t len)
{
	struct router_redact *rr = c->redact;
	cJSON *root, *choice;
	char *out;
	int ci = 0;

	if (!rr || (redact_map_count(rr->map) == 0 && rr->n_slots == 0))
		return NULL;
	root = json_parse(data, len, JSON_EXACT, NULL);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return NULL;
	}
	keep_ids(rr, root);
	cJSON_ArrayForEach(choice, cJSON_GetObjectItemCaseSensitive(root, "choices"))
	{
		cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
		cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content"), *call;
		cJSON *refusal = cJSON_GetObjectItemCaseSensitive(delta, "refusal");
		cJSON *fn_args = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(delta, "function_call"), "arguments");
		const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
		bool finishing = cJSON_IsString(fr);
		int idx = index_of(choice, ci++), ti = 0;

		if (cJSON_IsString(content))
			restore_piece(rr, idx, SLOT_CONTENT, content, finishing);
		if (cJSON_IsString(refusal))
			restore_piece(rr, idx, SLOT_REFUSAL, refusal, finishing);
		if (cJSON_IsString(fn_args))
			restore_piece(rr, idx, SLOT_FUNCTION, fn_args, finishing);
		cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(delta, "tool_calls"))
		{
			cJSON *args = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(call, "function"), "arguments");

			if (cJSON_IsString(args))
				restore_piece(rr, idx, index_of(call, ti), args, finishing);
			ti++;
		}
		if (finishing && cJSON_IsObject(delta))
			release_choice(rr, idx, delta);
	}
	out = json_exact_print(root);
	cJSON_Delete(root);
	return out;
}

char *router_redact_flush(struct router_call *c)
{
	struct router_redact *rr = c->redact;
	cJSON *root, *choices, *delta;
	char *out;
	const struct held_slot *held;

	if (!rr || !first_held(rr))
		return NULL;
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "id", rr->id ? rr->id : "");
	cJSON_AddStringToObject(root, "object", "chat.completion.chunk");
	cJSON_AddNumberToObject(root, "created", (double)rr->created);
	cJSON_AddStringToObject(root, "model", rr->model ? rr->model : "");
	choices = cJSON_AddArrayToObject(root, "choices");
	while ((held = first_held(rr))) {
		cJSON *ch = cJSON_CreateObject();
		int choice = held->choice;

		cJSON_AddNumberToObject(ch, "index", choice);
		delta = cJSON_AddObjectToObject(ch, "delta");
		release_choice(rr, choice, delta);
		cJSON_AddNullToObject(ch, "finish_reason");
		cJSON_AddItemToArray(choices, ch);
	}
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}

void router_redact_free(struct router_call *c)
{
	struct router_redact *rr = c->redact;

	if (!rr)
		return;
	for (size_t i = 0; i < rr->n_slots; i++)
		buf_finish(&rr->slots[i].text);
	free(rr->slots);
	free(rr->index);
	redact_map_destroy(rr->map);
	free(rr->id);
	free(rr->model);
	free(rr);
	c->redact = NULL;
}
