/* tools: what the agent may call. The builtin tools (src/tools/tool_*.c) and every MCP tool
 * behind one interface: the OpenAI `tools` array for a request, and a call by name with the
 * model's argument text.
 *
 * Async contract for tools_call: it returns 0 and cb fires exactly once, later, from the
 * loop (also for unknown tools, invalid arguments, timeouts and cancel: those are tool
 * errors the model reads, not failures of the turn). A negative return is a programming
 * error; cb then never fires.
 */
#ifndef HERMETIC_TOOLS_H
#define HERMETIC_TOOLS_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct config;
struct loop;
struct mcp;
struct store;
struct tools;
struct tools_call;

/* What the tools reach. Borrowed; must outlive the tools. */
struct tools_env {
	const struct config *cfg;
	struct loop *loop;
	struct store *store; /* NULL: session_search is not offered */
	struct mcp *mcp;     /* NULL: no MCP tools */
};

typedef void (*tools_call_cb)(bool is_error, const char *text, size_t len, void *arg);

struct tools *tools_create(const struct tools_env *env);
/* Cancels nothing: callers cancel their calls first. Accepts NULL. */
void tools_destroy(struct tools *t);

/* Appends the OpenAI `tools` array ("[{"type":"function",...},...]", "[]" when none) of the
 * tools offered now (builtin per cfg->toolsets, then connected MCP servers' tools). */
/* At most agent.max_tools entries: the builtin tools, then MCP tools in server order until the
 * cap; the log names those left out (once per change). */
void tools_schemas_json(struct tools *t, struct buf *out);
/* What tools_schemas_json sends now (capped). */
size_t tools_n_offered(struct tools *t);
/* Builtin tools the config can offer (toolsets; before per-tool checks): for doctor's count. */
size_t tools_n_builtin_max(const struct config *cfg);
/* True for a builtin marked read-only; MCP tools with annotations.readOnlyHint. */
bool tools_read_only(struct tools *t, const char *name);

/* Calls name with args_json (the model's text, may be invalid). Results are cut to
 * agent.tool_result_max_bytes; a call running longer than agent.tool_timeout_s is
 * cancelled and answered with a timeout error. */
int tools_call(struct tools *t, const char *name, const char *args_json, const char *session_id,
	       tools_call_cb cb, void *arg, struct tools_call **out);
/* cb fires later with an error ("cancelled"). Not after cb fired. */
void tools_cancel(struct tools_call *c);

/* For the system prompt. */
/* "name: description" lines of every skill (home/skills, then skills.external_dirs); a skill
 * that fails to parse is skipped with a warning in the log. At most max_bytes appended. */
void tools_skills_index(const struct config *cfg, struct buf *out, size_t max_bytes);
/* The bounded memory files as the model sees them at session start ("" when empty). */
void tools_memory_snapshot(const struct config *cfg, struct buf *out);

#endif
