/* lane: a call's lane decided from what it has read, and what that lane may reach.
 *
 * Pure: config values and the call's sources in, an index out. The agent asks before each
 * model call with everything the turn has read (chat, topic, skills, MCP servers, its
 * session's lane, /lane); the router asks for a client's key alias and metadata.lane, and
 * checks every attempt's group with lane_allows just before sending. Lanes are ranked by their
 * place in the config (first = most sensitive), so "rises" is "moves towards index 0". A name
 * that is in no lane leaves the call where it is: an unknown source never lowers a lane.
 * lane_route turns a call's chosen group into the groups its lane serves it with, so a turn
 * in a lane is answered by the lane's models rather than refused.
 */
#include "router/lane.h"

#include <stdio.h>
#include <string.h>

int lane_find(const struct config_lane *lanes, size_t n, const char *name)
{
	size_t i;

	if (!name)
		return LANE_NONE;
	for (i = 0; i < n; i++)
		if (strcmp(lanes[i].name, name) == 0)
			return (int)i;
	return LANE_NONE;
}

int lane_raise(int a, int b)
{
	if (a == LANE_NONE)
		return b;
	if (b == LANE_NONE)
		return a;
	return a < b ? a : b;
}

static bool listed(char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* True when entry ("CHAT" or "CHAT:TOPIC") covers chat/topic: a bare chat covers its topics. */
static bool chat_matches(const char *entry, const char *chat, const char *topic)
{
	size_t n = strlen(chat);

	if (strncmp(entry, chat, n) != 0)
		return false;
	if (entry[n] == '\0')
		return true;
	return entry[n] == ':' && topic && strcmp(entry + n + 1, topic) == 0;
}

/* Which of a lane's lists a source is looked up in. */
enum what { BY_CHAT, BY_KEY, BY_SKILL, BY_MCP };

/* True when l's list for w holds name (a chat with its topic). */
static bool lane_holds(const struct config_lane *l, enum what w, const char *name,
		       const char *topic)
{
	size_t i;

	switch (w) {
	case BY_CHAT:
		for (i = 0; i < l->n_chats; i++)
			if (chat_matches(l->chats[i], name, topic))
				return true;
		return false;
	case BY_KEY:
		return listed(l->keys, l->n_keys, name);
	case BY_SKILL:
		return listed(l->skills, l->n_skills, name);
	case BY_MCP:
		return listed(l->mcp_servers, l->n_mcp_servers, name);
	}
	return false;
}

struct best {
	int lane;
	char *why;
	size_t why_len;
};

/* Raises b to lane when lane is more sensitive, saying why. */
static void consider(struct best *b, int lane, const char *kind, const char *name,
		     const char *topic)
{
	if (lane == LANE_NONE || lane_raise(b->lane, lane) == b->lane)
		return;
	b->lane = lane;
	if (!b->why || !b->why_len)
		return;
	if (!name)
		snprintf(b->why, b->why_len, "%s", kind);
	else if (topic)
		snprintf(b->why, b->why_len, "%s %s:%s", kind, name, topic);
	else
		snprintf(b->why, b->why_len, "%s %s", kind, name);
}

/* Raises b to the most sensitive lane whose list for w holds name. */
static void consider_name(struct best *b, const struct config_lane *lanes, size_t n, enum what w,
			  const char *kind, const char *name, const char *topic)
{
	size_t i;

	if (!name)
		return;
	for (i = 0; i < n; i++)
		if (lane_holds(&lanes[i], w, name, topic)) {
			consider(b, (int)i, kind, name, w == BY_CHAT ? topic : NULL);
			return;
		}
}

int lane_decide(const struct config_lane *lanes, size_t n, const struct lane_sources *s, char *why,
		size_t why_len)
{
	struct best b = {LANE_NONE, why, why_len};
	size_t i;

	if (why && why_len)
		why[0] = '\0';
	if (s->current >= 0 && (size_t)s->current < n)
		consider(&b, s->current, "session", NULL, NULL);
	if (s->asked >= 0 && (size_t)s->asked < n)
		consider(&b, s->asked, "asked", NULL, NULL);
	consider_name(&b, lanes, n, BY_CHAT, "chat", s->chat, s->topic);
	consider_name(&b, lanes, n, BY_KEY, "key", s->key_alias, NULL);
	for (i = 0; i < s->n_skills; i++)
		consider_name(&b, lanes, n, BY_SKILL, "skill", s->skills[i], NULL);
	for (i = 0; i < s->n_mcp_servers; i++)
		consider_name(&b, lanes, n, BY_MCP, "mcp", s->mcp_servers[i], NULL);
	return b.lane;
}

bool lane_allows(const struct config_lane *lanes, size_t n, int lane, const char *group)
{
	if (lane == LANE_NONE)
		return true;
	if (lane < 0 || (size_t)lane >= n || !group)
		return false;
	return listed(lanes[lane].models, lanes[lane].n_models, group);
}

size_t lane_route(const struct config_lane *lanes, size_t n, int lane, const char *chosen,
		  const char **out, size_t cap)
{
	const struct config_lane *l;
	size_t k = 0, i;

	if (cap == 0)
		return 0;
	if (lane == LANE_NONE) {
		out[0] = chosen;
		return chosen ? 1 : 0;
	}
	if (lane < 0 || (size_t)lane >= n)
		return 0;
	l = &lanes[lane];
	if (chosen && listed(l->models, l->n_models, chosen))
		out[k++] = chosen;
	for (i = 0; i < l->n_models && k < cap; i++)
		if (!chosen || strcmp(l->models[i], chosen) != 0)
			out[k++] = l->models[i];
	return k;
}

const char *lane_name(const struct config_lane *lanes, size_t n, int lane)
{
	if (lane < 0 || (size_t)lane >= n)
		return NULL;
	return lanes[lane].name;
}
