/* agent_redact: de-identification of what a turn in a lane sends (docs/security.md, "Lanes").
 *
 * When the turn's lane names `redact` detectors or `redact_patterns`, every request the turn
 * sends (its model calls, compression, side calls) has the string values of its messages (text
 * contents, text parts, tool call arguments) passed through core/redact.c before the router
 * gets it; the answer's text and tool call arguments are restored before anything reads them,
 * so the user, the tools and the stored session see the real values and the model only ever
 * sees placeholders. The session's map ("session.<id>.redact" in the kv table, JSON
 * {placeholder: value}) keeps a value's placeholder the same across the session's turns and a
 * restart. What core/redact.c cannot find (names, free text) passes: the docs say so.
 */
#include "agent/agent_int.h"
#include "core/json.h"
#include "core/log.h"
#include "core/redact.h"
#include "core/store.h"
#include "router/lane.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The turn's lane when it asks for redaction, else NULL. */
static const struct config_lane *redacting_lane(const struct agent_turn *t)
{
	const struct config *cfg = t->a->env.cfg;
	const struct config_lane *l;

	if (t->lane_lost || t->lane < 0 || (size_t)t->lane >= cfg->n_lanes)
		return NULL;
	l = &cfg->lanes[t->lane];
	return l->redact || l->n_redact_patterns ? l : NULL;
}

static void map_key(const struct agent_turn *t, char *key, size_t len)
{
	snprintf(key, len, "session.%lld.redact", (long long)t->session_id);
}

/* The session's map, read once per turn (an unreadable one starts empty: new values then get
 * numbers that may repeat old ones, which only makes restoration of old answers ambiguous). */
static struct redact_map *map_of(struct agent_turn *t)
{
	char key[48], *v = NULL;
	cJSON *j, *it;

	if (t->redact)
		return t->redact;
	t->redact = redact_map_create();
	map_key(t, key, sizeof(key));
	if (store_kv_get(t->a->env.store, key, &v) < 0)
		return t->redact;
	j = json_parse_str(v, NULL);
	cJSON_ArrayForEach(it, j)
	{
		if (cJSON_IsString(it) &&
		    redact_map_add(t->redact, it->string, it->valuestring) < 0)
			break;
	}
	cJSON_Delete(j);
	free(v);
	return t->redact;
}

static void map_store(struct agent_turn *t)
{
	cJSON *j = cJSON_CreateObject();
	char key[48], *text;
	int rc;

	for (size_t i = 0; i < redact_map_count(t->redact); i++) {
		const char *ph, *v;

		redact_map_entry(t->redact, i, &ph, &v);
		cJSON_AddStringToObject(j, ph, v);
	}
	text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	map_key(t, key, sizeof(key));
	rc = store_kv_put(t->a->env.store, key, text);
	free(text);
	if (rc < 0 && rc != -EINPROGRESS)
		log_warn("agent: session %lld: the redaction map was not stored",
			 (long long)t->session_id);
}

/* body with its messages redacted for t's lane (malloc'd), or NULL to send body as it is. */
static char *redact_body(struct agent_turn *t, const char *body, size_t len)
{
	const struct config_lane *l = redacting_lane(t);
	struct redact_rules rules;
	bool changed = false;
	cJSON *j, *msg;
	char *out = NULL;

	if (!l)
		return NULL;
	j = json_parse(body, len, 0, NULL);
	if (!j)
		return NULL;
	map_of(t);
	if (redact_rules_init(&rules, l->redact, l->redact_patterns, l->n_redact_patterns) == 0) {
		cJSON_ArrayForEach(msg, cJSON_GetObjectItemCaseSensitive(j, "messages")) changed |=
			redact_json_message(t->redact, &rules, msg);
		out = cJSON_PrintUnformatted(j);
		redact_rules_finish(&rules);
	}
	cJSON_Delete(j);
	if (changed)
		map_store(t);
	return out;
}

/* The agent's caller for one of t's calls: budgets see "internal", the audit trail the
 * turn's source and session. */
static struct router_caller caller_of(const struct agent_turn *t, const char *purpose)
{
	return (struct router_caller){.key_hash = "internal",
				      .key_alias = "agent",
				      .source = t->source,
				      .session_id = t->session_id,
				      .purpose = t->purpose ? t->purpose : purpose,
				      .lane = agent_lane_name(t)};
}

int agent_send(struct agent_turn *t, const char *purpose, const char *body, size_t len,
	       struct agent_hold *hold, const struct router_cbs *cbs, void *arg,
	       struct router_call **out)
{
	struct router_caller who = caller_of(t, purpose);
	char *routed, *redacted, why[160];
	int rc;

	*hold = (struct agent_hold){0, 0};
	if (t->watch && t->watch->before_call) {
		rc = t->watch->before_call(t->watch->arg, hold, why, sizeof(why));
		if (rc < 0) {
			log_info("agent: %s: the %s call was not sent: %s", t->source, purpose,
				 why);
			return rc;
		}
	}
	/* The lane's groups serve the call: it is never refused for the group it chose. */
	routed = agent_lane_route(t, body, len);
	if (routed) {
		body = routed;
		len = strlen(routed);
	}
	redacted = redact_body(t, body, len);
	if (redacting_lane(t) && !redacted) {
		free(routed);
		agent_watch_after(t, hold, NULL);
		return -EINVAL; /* not JSON: never sent unredacted to a redacting lane */
	}
	if (t->replay)
		rc = agent_replay_send(t, purpose, redacted ? redacted : body,
				       redacted ? strlen(redacted) : len, &who, cbs, arg, out);
	else
		rc = router_chat(t->a->env.router, redacted ? redacted : body,
				 redacted ? strlen(redacted) : len, &who, cbs, arg, out);
	free(redacted);
	free(routed);
	if (rc < 0)
		agent_watch_after(t, hold, NULL);
	return rc;
}

void agent_watch_after(struct agent_turn *t, struct agent_hold *hold, const struct router_result *r)
{
	if (t->watch && t->watch->after_call)
		t->watch->after_call(t->watch->arg, hold, r ? r->cost_usd : 0,
				     r ? r->prompt_tokens + r->completion_tokens : 0);
	*hold = (struct agent_hold){0, 0};
}

void agent_restore_message(struct agent_turn *t, cJSON *msg)
{
	if (!t->redact || !msg)
		return;
	redact_json_message(t->redact, NULL, msg);
}

/* choices[0].message.content of a completion body, or NULL. */
static char *answer_content(const char *body, size_t len)
{
	cJSON *j = json_parse(body, len, 0, NULL);
	cJSON *msg = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0), "message");
	cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
	char *s = cJSON_IsString(content) ? xstrdup(content->valuestring) : NULL;

	cJSON_Delete(j);
	return s;
}

char *agent_answer_text(struct agent_turn *t, const char *body, size_t len)
{
	char *s = answer_content(body, len), *back;

	if (!s || !t->redact)
		return s;
	back = redact_restore(t->redact, s, strlen(s), NULL);
	free(s);
	return back;
}
