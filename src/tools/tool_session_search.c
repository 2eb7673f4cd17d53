/* tool_session_search: full-text search over past sessions (sessions_search, FTS5).
 *
 * Returns excerpts, not a model-written summary of them: the excerpts are short already and
 * a summary would cost one more model call per search. The calling session is excluded (its
 * messages are in the context anyway). With lanes configured, a turn finds only sessions of its
 * own lane or a less sensitive one (docs/security.md, "Lanes"): a session marked with a lane
 * the config no longer has is found by none.
 */
#include "core/config.h"
#include "core/sessions.h"
#include "tools/tool.h"

#include <stdlib.h>
#include <string.h>

static bool offered(const struct tools_env *env)
{
	return env->store != NULL;
}

/* sessions_search, limited to the lanes a turn in req->lane may read: its own and the ones
 * listed after it, and sessions in no lane. */
static int search(const struct tool_req *req, const char *query, int64_t self, int limit,
		  struct buf *out)
{
	const struct config *cfg = req->env->cfg;
	const char *lanes[CONFIG_MAX_LANES + 1];
	size_t n = 0, i = cfg->n_lanes;

	if (cfg->n_lanes == 0)
		return sessions_search(req->env->store, query, self, limit, out);
	if (req->lane)
		for (i = 0; i < cfg->n_lanes && strcmp(cfg->lanes[i].name, req->lane) != 0; i++)
			;
	for (; i < cfg->n_lanes; i++)
		lanes[n++] = cfg->lanes[i].name;
	lanes[n++] = "";
	return sessions_search_lanes(req->env->store, query, self, limit, lanes, n, out);
}

static int run(const struct tool_req *req, struct buf *out)
{
	const char *query = tool_arg_str(req->args, "query", true, out);
	bool bad = false;
	long long limit = tool_arg_int(req->args, "limit", 3, 1, 10, &bad, out);
	int64_t self = strtoll(req->session_id, NULL, 10);
	int n;

	if (!query || bad)
		return -1;
	n = search(req, query, self, (int)limit, out);
	if (n < 0) {
		buf_puts(out, "session search failed (database error); try again later");
		return -1;
	}
	return 0;
}

const struct tool_def tool_def_session_search = {
	.name = "session_search",
	.toolset = CONFIG_TOOLSET_SESSION_SEARCH,
	.read_only = true,
	/* Other sessions hold hook payloads and answers that quote pages: untrusted text. */
	.taints = true,
	.description = "Search past conversations by keywords (excerpts, session ids, dates).",
	.params_json = "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},"
		       "\"limit\":{\"type\":\"integer\",\"description\":\"sessions, 1-10\"}},"
		       "\"required\":[\"query\"]}",
	.offered = offered,
	.run = run,
};
