/* router_redact: de-identification of router clients' calls in a redacting lane
 * (docs/security.md, "Lanes").
 *
 * A call that a router client's pinned key or its metadata.lane put in a lane with `redact`
 * detectors or `redact_patterns` has the string values of its messages (text contents, text
 * parts, tool call arguments) passed through core/redact.c before anything is sent upstream;
 * the kept body (retries and fallbacks rebuild from it) is the redacted one. The answer is
 * restored before the client reads it: a whole answer's message contents and tool call
 * arguments, and a stream chunk by chunk, where a text that ends in what may be the start of a
 * placeholder ("... [EMAIL_") holds that tail back until the next chunk of the same choice
 * (and tool call) completes or disproves it; what is still held is sent before the choice's
 * finish_reason, or in a chunk of its own before "[DONE]". The map lives as long as the call:
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

#include <cjson/cJSON.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define HELD_SLOTS 16 /* choices and tool calls with text held back at once */

/* Text held back for one choice's content (tool = -1) or one of its tool calls' arguments. */
struct held_slot {
	int choice, tool;
	struct buf text;
};

struct router_redact {
	struct redact_map *map;
	struct held_slot slots[HELD_SLOTS];
	size_t n_slots;
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

bool router_redact_request(struct router_call *c)
{
	const struct config_lane *l = redacting(c);
	struct redact_rules rules;
	cJSON *msg;
	char *body = NULL;

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
		cJSON_ArrayForEach(msg, cJSON_GetObjectItemCaseSensitive(c->req, "messages"))
			redact_json_message(c->redact->map, &rules, msg);
		body = json_exact_print(c->req);
		redact_rules_finish(&rules);
	}
	if (!body) {
		router_fail_call(c, E_SERVER, 500, "the request could not be redacted");
		return true;
	}
	/* Retries and fallbacks rebuild the request from the kept body: the redacted one. */
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

static struct held_slot *slot_of(struct router_redact *rr, int choice, int tool, bool create)
{
	size_t i;

	for (i = 0; i < rr->n_slots; i++)
		if (rr->slots[i].choice == choice && rr->slots[i].tool == tool)
			return &rr->slots[i];
	if (!create || rr->n_slots == HELD_SLOTS)
		return NULL;
	rr->slots[rr->n_slots] = (struct held_slot){choice, tool, {0}};
	buf_init(&rr->slots[rr->n_slots].text, 0);
	return &rr->slots[rr->n_slots++];
}

static void slot_drop(struct router_redact *rr, struct held_slot *s)
{
	buf_finish(&s->text);
	*s = rr->slots[--rr->n_slots];
}

/* A streamed piece s of choice's content (tool -1) or a tool call's arguments: the held text
 * before it, restored up to a possible placeholder's start, which is held for the next piece
 * (all of it when finishing). */
static void restore_piece(struct router_redact *rr, int choice, int tool, cJSON *s, bool finishing)
{
	struct held_slot *slot = slot_of(rr, choice, tool, true);
	struct buf all;
	size_t cut, n;
	char *out;

	if (!slot) { /* more pieces at once than slots: restored as they come */
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
	if (slot->text.len == 0)
		slot_drop(rr, slot);
}

/* The held text of choice goes into its finishing delta: content and tool call arguments. */
static void release_choice(struct router_redact *rr, int choice, cJSON *delta)
{
	size_t i = 0;

	while (i < rr->n_slots) {
		struct held_slot *s = &rr->slots[i];
		char *text;
		cJSON *at;

		if (s->choice != choice) {
			i++;
			continue;
		}
		text = redact_restore(rr->map, buf_str(&s->text), s->text.len, NULL);
		if (s->tool < 0) {
			at = cJSON_GetObjectItemCaseSensitive(delta, "content");
			if (cJSON_IsString(at)) {
				char *both = xasprintf("%s%s", text, at->valuestring);

				cJSON_SetValuestring(at, both);
				free(both);
			} else {
				cJSON_DeleteItemFromObjectCaseSensitive(delta, "content");
				cJSON_AddStringToObject(delta, "content", text);
			}
		} else {
			cJSON *calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
			cJSON *call = cJSON_CreateObject(), *fn = cJSON_CreateObject();

			if (!cJSON_IsArray(calls)) {
				cJSON_DeleteItemFromObjectCaseSensitive(delta, "tool_calls");
				calls = cJSON_AddArrayToObject(delta, "tool_calls");
			}
			cJSON_AddNumberToObject(call, "index", s->tool);
			cJSON_AddStringToObject(fn, "arguments", text);
			cJSON_AddItemToObject(call, "function", fn);
			cJSON_AddItemToArray(calls, call);
		}
		free(text);
		slot_drop(rr, s);
	}
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
		const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
		bool finishing = cJSON_IsString(fr);
		int idx = index_of(choice, ci++), ti = 0;

		if (cJSON_IsString(content))
			restore_piece(rr, idx, -1, content, finishing);
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
	int choice;

	if (!rr || rr->n_slots == 0)
		return NULL;
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "id", rr->id ? rr->id : "");
	cJSON_AddStringToObject(root, "object", "chat.completion.chunk");
	cJSON_AddNumberToObject(root, "created", (double)rr->created);
	cJSON_AddStringToObject(root, "model", rr->model ? rr->model : "");
	choices = cJSON_AddArrayToObject(root, "choices");
	while (rr->n_slots) {
		cJSON *ch = cJSON_CreateObject();

		choice = rr->slots[0].choice;
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
	redact_map_destroy(rr->map);
	free(rr->id);
	free(rr->model);
	free(rr);
	c->redact = NULL;
}
