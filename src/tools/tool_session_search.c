/* tool_session_search: full-text search over past sessions (sessions_search, FTS5).
 *
 * Returns excerpts, not a model-written summary of them: the excerpts are short already and
 * a summary would cost one more model call per search. The calling session is excluded (its
 * messages are in the context anyway).
 */
#include "core/config.h"
#include "core/sessions.h"
#include "tools/tool.h"

#include <stdlib.h>

static bool offered(const struct tools_env *env)
{
	return env->store != NULL;
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
	n = sessions_search(req->env->store, query, self, (int)limit, out);
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
