/* lane: which lane a call is in and which model groups it may reach, as pure functions
 * (docs/security.md, "Lanes"). Lanes are config.lanes, most sensitive first; a lane is named
 * by its index there, LANE_NONE for a call in no lane (it may reach every group). A lane
 * only rises: the decision takes the most sensitive lane any source asks for.
 */
#ifndef HERMETIC_LANE_H
#define HERMETIC_LANE_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>

#define LANE_NONE (-1)

/* Everything a call or turn has read that may put it in a lane. All borrowed; NULL and 0
 * mean "none". */
struct lane_sources {
	int current;	   /* the session's lane so far, or LANE_NONE */
	int asked;	   /* raised by hand (/lane) or by a request's metadata.lane */
	const char *chat;  /* Telegram chat id as text */
	const char *topic; /* its forum topic as text */
	const char *key_alias;
	const char *const *skills; /* skills the turn loaded */
	size_t n_skills;
	const char *const *mcp_servers; /* servers whose results the turn read */
	size_t n_mcp_servers;
};

/* The index of the lane called name, or LANE_NONE (also for NULL). */
int lane_find(const struct config_lane *lanes, size_t n, const char *name);
/* The more sensitive of two lanes (the one listed first; LANE_NONE is the least). */
int lane_raise(int a, int b);
/* The lane of a call with sources s: the most sensitive one any source asks for, never below
 * s->current. why (may be NULL) gets the source that decided it ("chat -100123:7", "skill
 * client-notes", "mcp crm", "key clinic", "asked", "session"), "" for LANE_NONE. */
int lane_decide(const struct config_lane *lanes, size_t n, const struct lane_sources *s, char *why,
		size_t why_len);
/* True when a call in lane may reach model group: always for LANE_NONE, else only the lane's
 * models. A lane index out of range allows nothing. */
bool lane_allows(const struct config_lane *lanes, size_t n, int lane, const char *group);
/* The groups a call in lane that chose group `chosen` is served by, in the order to try them
 * (the first that answers; the rest are its only fallbacks), into out (at most cap; names
 * borrowed from chosen and lanes). No lane: chosen alone. In a lane: chosen first when the
 * lane lists it, then the lane's other groups in the order its `models:` lists them; so a
 * group outside the lane is never among them. Returns how many: 0 for a lane out of range
 * (nothing may be reached) or a NULL chosen without a lane. */
size_t lane_route(const struct config_lane *lanes, size_t n, int lane, const char *chosen,
		  const char **out, size_t cap);
/* The lane's name, or NULL for LANE_NONE and out of range. */
const char *lane_name(const struct config_lane *lanes, size_t n, int lane);

#endif
