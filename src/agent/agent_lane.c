/* agent_lane: a turn's lane (docs/security.md, "Lanes"), decided from what the turn has read.
 *
 * The lane starts from the session's stored lane, the caller's floor (a background task's
 * lane, a subagent's parent's: agent_turn_opts.lane) and the turn's chat (and topic), and rises
 * as the turn reads: a skill it loads, an MCP server whose result it reads. Each rise is
 * stored at once in the session's kv mark ("session.<id>.lane" = "<lane> <why>"), so the next
 * turn of the session (whose history holds that text), a restart and /context see it; /new
 * starts a session without a mark, low again. Every model call of the turn (agent_send)
 * carries the lane and is served by the lane's groups (agent_lane_route, lane_route: a group
 * chosen outside the lane, by the config's `model`, `/model` or an auxiliary setting, is
 * replaced by the lane's groups in their order), and the router still refuses groups outside
 * it where the request leaves (router/lane.h). A mark naming a
 * lane the config no longer has is kept and the turn fails closed: no group is allowed.
 * The decision itself is router/lane.c's (pure, table-tested).
 */
#include "agent/agent_int.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sessions.h"
#include "core/store.h"
#include "router/lane.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LANE_KEY_LEN 48

static void lane_key(int64_t session_id, char *key, size_t len)
{
	snprintf(key, len, "session.%lld.lane", (long long)session_id);
}

/* The chat and topic of a Telegram source ("telegram:<chat>[:<topic>]") into chat/topic. */
static bool chat_of(const char *source, char *chat, size_t chat_len, char *topic, size_t topic_len)
{
	const char *p, *colon;

	if (!source || strncmp(source, "telegram:", 9) != 0)
		return false;
	p = source + 9;
	colon = strchr(p, ':');
	snprintf(chat, chat_len, "%.*s", colon ? (int)(colon - p) : (int)strlen(p), p);
	snprintf(topic, topic_len, "%s", colon ? colon + 1 : "");
	return true;
}

/* The stored mark of session id: its lane (LANE_NONE when none) and why. A mark whose lane
 * is gone from the config is -ENOENT with its text in why. */
static int stored_lane(struct agent *a, int64_t id, char *why, size_t why_len)
{
	const struct config *cfg = a->env.cfg;
	char key[LANE_KEY_LEN], *v = NULL, *sp;
	int lane, rc;

	if (why_len)
		why[0] = '\0';
	if (!id)
		return LANE_NONE;
	lane_key(id, key, sizeof(key));
	rc = store_kv_get(a->env.store, key, &v);
	if (rc == -ENOENT)
		return LANE_NONE;
	if (rc < 0)
		return rc;
	sp = strchr(v, ' ');
	if (sp)
		*sp = '\0';
	lane = lane_find(cfg->lanes, cfg->n_lanes, v);
	snprintf(why, why_len, "%s", sp ? sp + 1 : "");
	if (lane == LANE_NONE) {
		snprintf(why, why_len, "lane '%s' of this session is not in the config", v);
		lane = -ENOENT;
	}
	free(v);
	return lane;
}

static void store_lane(struct agent *a, int64_t id, int lane, const char *why)
{
	char key[LANE_KEY_LEN], *v;
	int rc;

	lane_key(id, key, sizeof(key));
	v = xasprintf("%s %s", a->env.cfg->lanes[lane].name, why);
	rc = store_kv_put(a->env.store, key, v);
	free(v);
	if (rc < 0 && rc != -EINPROGRESS)
		log_warn("agent: session %lld: its lane was not stored", (long long)id);
}

/* t's prompt with the memory its lane sees (agent_prompt.c); nothing in no lane. */
static void lane_memory(struct agent_turn *t)
{
	if (!t->lane_lost && t->lane != LANE_NONE)
		agent_prompt_lane_memory(t->a->env.cfg, agent_lane_name(t), &t->system);
}

/* Decides t's lane with s added to what it read; stores a rise and shows the lane's memory
 * from the next call on. */
static void raise_with(struct agent_turn *t, struct lane_sources *s)
{
	const struct config *cfg = t->a->env.cfg;
	char why[sizeof(t->lane_why)];
	int lane;

	if (t->lane_lost || cfg->n_lanes == 0)
		return;
	s->current = t->lane;
	lane = lane_decide(cfg->lanes, cfg->n_lanes, s, why, sizeof(why));
	if (lane == t->lane || lane == LANE_NONE)
		return;
	t->lane = lane;
	snprintf(t->lane_why, sizeof(t->lane_why), "%s", why);
	log_info("agent: session %lld is in lane %s (%s)", (long long)t->session_id,
		 cfg->lanes[lane].name, why);
	store_lane(t->a, t->session_id, lane, why);
	lane_memory(t);
}

/* Raises t to its floor (a task's or a parent's lane). False when the floor is a lane the
 * config no longer has: the turn is lost then (nothing may be reached). */
static bool raise_to_floor(struct agent_turn *t, const char *floor)
{
	const struct config *cfg = t->a->env.cfg;
	int lane = lane_find(cfg->lanes, cfg->n_lanes, floor);

	if (lane == LANE_NONE) {
		t->lane_lost = true;
		snprintf(t->lane_why, sizeof(t->lane_why),
			 "inherited lane '%.40s' is not in the config", floor);
		log_warn("agent: session %lld: %s", (long long)t->session_id, t->lane_why);
		return false;
	}
	if (lane_raise(t->lane, lane) == t->lane)
		return true;
	t->lane = lane;
	snprintf(t->lane_why, sizeof(t->lane_why), "inherited (%s)",
		 t->purpose ? t->purpose : "turn");
	log_info("agent: session %lld is in lane %s (%s)", (long long)t->session_id,
		 cfg->lanes[lane].name, t->lane_why);
	store_lane(t->a, t->session_id, lane, t->lane_why);
	return true;
}

void agent_lane_start(struct agent_turn *t, const char *floor)
{
	struct lane_sources s = {.asked = LANE_NONE};
	char chat[32], topic[32];
	int lane;

	t->lane = LANE_NONE;
	if (t->a->env.cfg->n_lanes == 0)
		return;
	lane = stored_lane(t->a, t->session_id, t->lane_why, sizeof(t->lane_why));
	if (lane < LANE_NONE) {
		/* A lane we cannot read or no longer know: nothing may be reached. */
		t->lane_lost = true;
		log_warn("agent: session %lld: %s", (long long)t->session_id,
			 lane == -ENOENT ? t->lane_why : "its lane cannot be read");
		return;
	}
	t->lane = lane;
	if (floor && !raise_to_floor(t, floor))
		return;
	if (chat_of(t->source, chat, sizeof(chat), topic, sizeof(topic))) {
		s.chat = chat;
		s.topic = *topic ? topic : NULL;
	}
	lane = t->lane;
	raise_with(t, &s);
	if (t->lane == lane) /* a rise has shown its lane's memory already */
		lane_memory(t);
}

void agent_lane_skill(struct agent_turn *t, const char *skill)
{
	const char *one[] = {skill};
	struct lane_sources s = {.asked = LANE_NONE, .skills = one, .n_skills = 1};

	raise_with(t, &s);
}

void agent_lane_mcp(struct agent_turn *t, const char *server)
{
	const char *one[] = {server};
	struct lane_sources s = {.asked = LANE_NONE, .mcp_servers = one, .n_mcp_servers = 1};

	raise_with(t, &s);
}

/* The lane a call of t names: a lost lane is one no config has, which the router refuses. */
const char *agent_lane_name(const struct agent_turn *t)
{
	if (t->lane_lost)
		return "(unknown lane)";
	return lane_name(t->a->env.cfg->lanes, t->a->env.cfg->n_lanes, t->lane);
}

const char *agent_lane_group(const struct agent_turn *t, const char *chosen)
{
	const struct config *cfg = t->a->env.cfg;
	const char *first = chosen;

	if (t->lane_lost || t->lane < 0 || (size_t)t->lane >= cfg->n_lanes)
		return chosen;
	if (lane_route(cfg->lanes, cfg->n_lanes, t->lane, chosen, &first, 1) == 0)
		return chosen;
	return first;
}

char *agent_lane_route(const struct agent_turn *t, const char *body, size_t len)
{
	const struct config *cfg = t->a->env.cfg;
	const char **groups;
	char *chosen, *out = NULL;
	cJSON *j, *model, *fallbacks;
	size_t n, i;

	if (t->lane_lost || t->lane < 0 || (size_t)t->lane >= cfg->n_lanes)
		return NULL;
	j = json_parse(body, len, 0, NULL);
	model = cJSON_GetObjectItemCaseSensitive(j, "model");
	if (!cJSON_IsString(model)) {
		cJSON_Delete(j);
		return NULL;
	}
	chosen = xstrdup(model->valuestring);
	groups = xcalloc(cfg->lanes[t->lane].n_models + 1, sizeof(*groups));
	n = lane_route(cfg->lanes, cfg->n_lanes, t->lane, chosen, groups,
		       cfg->lanes[t->lane].n_models + 1);
	if (n > 0) {
		if (strcmp(groups[0], chosen) != 0)
			log_debug("agent: session %lld: %s is outside lane %s: %s serves it",
				  (long long)t->session_id, chosen, cfg->lanes[t->lane].name,
				  groups[0]);
		cJSON_ReplaceItemInObjectCaseSensitive(j, "model", cJSON_CreateString(groups[0]));
		/* Only the lane's other groups: the config's fallbacks of a group outside it
		 * would all be refused. */
		fallbacks = cJSON_CreateArray();
		for (i = 1; i < n; i++)
			cJSON_AddItemToArray(fallbacks, cJSON_CreateString(groups[i]));
		cJSON_DeleteItemFromObjectCaseSensitive(j, "fallbacks");
		cJSON_AddItemToObject(j, "fallbacks", fallbacks);
		out = cJSON_PrintUnformatted(j);
	}
	free(groups);
	free(chosen);
	cJSON_Delete(j);
	return out;
}

const char *agent_turn_lane(const struct agent_turn *t)
{
	return agent_lane_name(t);
}

/* source's open session (created when there is none, so a raise sticks to its next turn). */
static int current_session(struct agent *a, const char *source, bool create, int64_t *id)
{
	struct session_info si;
	int rc = sessions_current(a->env.store, source,
				  a->env.cfg->agent.session_idle_minutes * 60000, &si);

	*id = 0;
	if (rc == -ENOENT && create) {
		char *sys = agent_system_prompt(a);

		rc = sessions_create(a->env.store, source, a->env.cfg->model, sys, id);
		free(sys);
		return rc;
	}
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	*id = si.id;
	session_info_finish(&si);
	return 0;
}

int agent_lane_of(struct agent *a, const char *source, const char **name, char *why, size_t why_len)
{
	const struct config *cfg = a->env.cfg;
	struct lane_sources s = {.asked = LANE_NONE};
	char chat[32], topic[32];
	int64_t id;
	int rc, lane;

	*name = NULL;
	if (why_len)
		why[0] = '\0';
	if (cfg->n_lanes == 0)
		return 0;
	rc = current_session(a, source, false, &id);
	if (rc < 0)
		return rc;
	lane = stored_lane(a, id, why, why_len);
	if (lane < LANE_NONE)
		return lane;
	s.current = lane;
	if (chat_of(source, chat, sizeof(chat), topic, sizeof(topic))) {
		s.chat = chat;
		s.topic = *topic ? topic : NULL;
	}
	if (lane == LANE_NONE)
		lane = lane_decide(cfg->lanes, cfg->n_lanes, &s, why, why_len);
	else
		lane = lane_raise(lane, lane_decide(cfg->lanes, cfg->n_lanes, &s, NULL, 0));
	*name = lane_name(cfg->lanes, cfg->n_lanes, lane);
	return 0;
}

int agent_raise_lane(struct agent *a, const char *source, const char *name)
{
	const struct config *cfg = a->env.cfg;
	const char *now = NULL;
	char why[8];
	int64_t id;
	int lane = lane_find(cfg->lanes, cfg->n_lanes, name), rc;

	if (lane == LANE_NONE)
		return -ENOENT;
	rc = agent_lane_of(a, source, &now, why, sizeof(why));
	if (rc < 0)
		return rc;
	if (now && lane_raise(lane, lane_find(cfg->lanes, cfg->n_lanes, now)) != lane)
		return -EPERM; /* lanes only rise: /new starts low */
	rc = current_session(a, source, true, &id);
	if (rc < 0)
		return rc;
	store_lane(a, id, lane, "asked (/lane)");
	return 0;
}
