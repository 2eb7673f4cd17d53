/* tools_offer: what the model is offered, and the lookups a call starts with. Builtin tools
 * are a static table of plug-ins (tool_*.c); those whose toolset is on (and whose
 * offered() agrees) are offered, then every tool of the connected MCP servers, or, past
 * agent.tool_schema_budget_tokens, the MCP catalog (mcp_call and mcp_tool_schema). Also here:
 * a tool's name to its definition, a turn's scope of tools, and the trust facts of a tool and
 * of a source. Running a call is tools.c's; nothing here calls it.
 *
 * Builtin schemas are rendered once at create; MCP schemas each time (servers come and go).
 * MCP descriptions arrive already cut by mcp (MCP_RENDER_DESC_MAX bytes at a sentence end,
 * with a marker): some servers ship a page of prose per tool and it would be paid on every
 * request; `mcp list` shows the same text. A request carries at most agent.max_tools tools
 * (OpenAI refuses more than 128): builtin first, then MCP tools in server order; the log names
 * the MCP tools left out whenever that set changes.
 */
#include "tools/tools.h"
#include "tools/tools_int.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "mcp/mcp.h"
#include "mcp/mcp_render.h"
#include "tools/tool.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ask_user: run by tools.c itself (it waits on the asker like an approval). */
const struct tool_def tool_def_ask_user = {
	.name = "ask_user",
	.toolset = CONFIG_TOOLSET_ALL,
	.description = "Ask the user a multiple-choice question (buttons), only when you need "
		       "their decision to go on.",
	.params_json = "{\"type\":\"object\",\"properties\":{\"question\":{\"type\":"
		       "\"string\"},\"choices\":{\"type\":\"array\",\"items\":{\"type\":"
		       "\"string\"},\"minItems\":2,\"maxItems\":8}},\"required\":[\"question\","
		       "\"choices\"]}",
};

static const struct tool_def *const builtins[] = {
	&tool_def_memory,	&tool_def_session_search, &tool_def_skills_list,
	&tool_def_skill_view,	&tool_def_skill_manage,	  &tool_def_read_file,
	&tool_def_search_files, &tool_def_web_fetch,	  &tool_def_prometheus_query,
	&tool_def_time,		&tool_def_send_file,	  &tool_def_send_voice,
	&tool_def_schedule,	&tool_def_ask_user,
};

_Static_assert(ARRAY_LEN(builtins) <= TOOLS_BUILTINS_MAX, "TOOLS_BUILTINS_MAX");

void tools_json_string(struct buf *b, const char *s, size_t max)
{
	size_t len = s ? strnlen(s, max) : 0;

	buf_json_str(b, s ? s : "", utf8_cut(s ? s : "", len));
}

static void append_schema(struct buf *b, const char *name, const char *desc, size_t desc_max,
			  const char *params)
{
	if (b->len > 0 && b->data[b->len - 1] != '[')
		buf_puts(b, ",");
	buf_puts(b, "{\"type\":\"function\",\"function\":{\"name\":");
	tools_json_string(b, name, 256);
	buf_puts(b, ",\"description\":");
	tools_json_string(b, desc, desc_max);
	buf_printf(b, ",\"parameters\":%s}}",
		   params && *params ? params : "{\"type\":\"object\",\"properties\":{}}");
}

/* The builtin tools env allows, and their schemas (again after tools_set_scheduler). */
void tools_offer_builtins(struct tools *t)
{
	const struct tools_env *env = &t->env;
	struct buf b;

	free(t->schemas);
	t->n_offered = 0;
	buf_init(&b, 0);
	for (size_t i = 0; i < ARRAY_LEN(builtins); i++) {
		const struct tool_def *d = builtins[i];

		if (!(env->cfg->toolsets & d->toolset))
			continue;
		if (d->offered && !d->offered(env))
			continue;
		if (d->needs_scheduler && !t->scheduler)
			continue;
		if (d == &tool_def_ask_user && !t->n_askers)
			continue;
		t->offered[t->n_offered++] = d;
		append_schema(&b, d->name, d->description, 4096, d->params_json);
	}
	t->schemas = buf_steal(&b);
	buf_finish(&b);
}
bool tools_mcp_on(const struct tools *t)
{
	return t->env.mcp && (t->env.cfg->toolsets & CONFIG_TOOLSET_MCP);
}

/* MCP tools that fit in a request after the builtin ones. */
static size_t mcp_room(const struct tools *t)
{
	size_t max = (size_t)t->env.cfg->agent.max_tools;

	return max > t->n_offered ? max - t->n_offered : 0;
}

/* Logs the MCP tools agent.max_tools leaves out, when that set changes. */
static void note_left_out(struct tools *t, size_t n, size_t room)
{
	uint64_t h = 1469598103934665603ULL;
	struct mcp_tool_info ti;
	struct buf names;
	size_t i;

	for (i = room; i < n; i++) {
		mcp_tool_info(t->env.mcp, i, &ti);
		for (const char *p = ti.name; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ ',') * 1099511628211ULL;
	}
	if (n <= room)
		h = 0; /* nothing left out: also the state at create */
	if (h == t->left_out_hash)
		return;
	t->left_out_hash = h;
	if (n <= room) {
		log_info("tools: all %zu MCP tools fit in agent.max_tools (%lld) again", n,
			 (long long)t->env.cfg->agent.max_tools);
		return;
	}
	buf_init(&names, 2048);
	for (i = room; i < n; i++) {
		mcp_tool_info(t->env.mcp, i, &ti);
		if (buf_printf(&names, "%s%s", i > room ? ", " : "", ti.name) < 0)
			break;
	}
	log_warn("tools: %zu builtin + %zu MCP tools exceed agent.max_tools (%lld); %zu MCP "
		 "tools are left out of every request (narrow them with tools.include): %s%s",
		 t->n_offered, n, (long long)t->env.cfg->agent.max_tools, n - room, buf_str(&names),
		 i < n ? ", ..." : "");
	buf_finish(&names);
}

/* ---- MCP schemas on demand ----
 * The schemas of a dozen real MCP servers add up to ~35k tokens a call. When the MCP tools'
 * schemas pass agent.tool_schema_budget_tokens (bytes / 4), or there are more of them than
 * agent.max_tools leaves room for, the model gets two tools instead: mcp_call, whose
 * description is the catalog (each tool's name and the start of its description's first line),
 * and mcp_tool_schema, which answers the whole schemas of the tools it names. The list stays
 * the same for as long as the servers' tools do (a loaded schema is a tool result in the
 * history, not a new tool), so the provider's prompt cache keeps it; and a call through
 * mcp_call is the named tool's call in every other respect: approvals, taint, timeout, result.
 * Rejected: dropping the tools least used (a guess that breaks the prefix whenever it
 * changes) and a second model call to pick tools (it costs what it saves). */
#define CATALOG_MAX	 850 /* bytes of the catalog: descriptions are cut to fit */
#define CATALOG_DESC_MAX 64  /* bytes of a tool's description in the catalog, at most */
#define CATALOG_DESC_MIN 32  /* narrower than this, the catalog is names only */

bool tools_catalog_mode(const struct tools *t)
{
	int64_t budget = t->env.cfg->agent.tool_schema_budget_tokens;
	size_t n, bytes = 0;
	struct mcp_tool_info ti;

	if (!tools_mcp_on(t) || budget <= 0)
		return false;
	n = mcp_n_tools(t->env.mcp);
	if (n > mcp_room(t))
		return n > 0;
	for (size_t i = 0; i < n; i++) {
		mcp_tool_info(t->env.mcp, i, &ti);
		/* as append_schema writes it: the JSON around is about 60 bytes */
		bytes += strlen(ti.name) + strlen(ti.description) + strlen(ti.schema_json) + 60;
	}
	return (int64_t)(bytes / 4) > budget;
}

/* The tool's name without its "mcp_<server>_" (the catalog's heading names the server). */
static const char *catalog_short(const struct mcp_tool_info *ti)
{
	size_t n = strlen(ti->server);

	if (strncmp(ti->name, "mcp_", 4) == 0 && strlen(ti->name) > 5 + n && ti->name[4 + n] == '_')
		return ti->name + 5 + n;
	return ti->name;
}

/* How much of a description the catalog shows at width w: its first sentence, at most w
 * bytes cut after a word, 0 when w leaves too little to say anything. *cut: "..." follows. */
static size_t catalog_desc_len(const char *d, size_t w, bool *cut)
{
	size_t len = strcspn(d, "\r\n"), i;

	*cut = false;
	for (i = 0; i + 1 < len; i++) {
		if (d[i] == '.' && d[i + 1] == ' ') {
			len = i;
			break;
		}
	}
	if (len && d[len - 1] == '.')
		len--;
	if (len <= w)
		return len;
	if (w < CATALOG_DESC_MIN)
		return 0;
	for (i = w; i > w / 2 && d[i] != ' '; i--)
		;
	*cut = true;
	return utf8_cut(d, i > w / 2 ? i : w);
}

/* The catalog at description width w: one heading per server, one line per tool. */
static void catalog_text(struct tools *t, size_t w, struct buf *out)
{
	size_t n = mcp_n_tools(t->env.mcp);
	const char *server = NULL;
	struct mcp_tool_info ti;

	for (size_t i = 0; i < n; i++) {
		const char *d;
		size_t len;
		bool cut;

		mcp_tool_info(t->env.mcp, i, &ti);
		if (!server || strcmp(server, ti.server) != 0)
			buf_printf(out, "\n[%s]", ti.server);
		server = ti.server;
		buf_printf(out, "\n%s", catalog_short(&ti));
		d = ti.description ? ti.description : "";
		len = catalog_desc_len(d, w, &cut);
		if (len) {
			buf_puts(out, ": ");
			buf_append(out, d, len);
			if (cut)
				buf_puts(out, "...");
		}
	}
}

static void catalog_schemas(struct tools *t, struct buf *out)
{
	size_t w = CATALOG_DESC_MAX;
	struct buf cat;

	buf_init(&cat, 0);
	/* The widest descriptions that keep the catalog within its cap (names always stay). */
	for (;;) {
		buf_reset(&cat);
		buf_puts(&cat,
			 "Call an MCP tool of this catalog by name, with arguments as its schema "
			 "says (" MCP_SCHEMA " loads it).");
		catalog_text(t, w, &cat);
		if (cat.len <= CATALOG_MAX || w < CATALOG_DESC_MIN)
			break;
		w -= 4;
	}
	append_schema(out, MCP_SCHEMA, "Load MCP tools' descriptions and parameters.", 4096,
		      "{\"type\":\"object\",\"properties\":{\"names\":{\"type\":\"array\","
		      "\"items\":{\"type\":\"string\"}}},\"required\":[\"names\"]}");
	append_schema(out, MCP_CALL, buf_str(&cat), cat.len,
		      "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
		      "\"arguments\":{\"type\":\"object\"}},\"required\":[\"name\"]}");
	buf_finish(&cat);
}

void tools_schemas_json(struct tools *t, struct buf *out)
{
	buf_puts(out, "[");
	buf_puts(out, t->schemas);
	if (tools_catalog_mode(t)) {
		catalog_schemas(t, out);
	} else if (tools_mcp_on(t)) {
		size_t n = mcp_n_tools(t->env.mcp), room = mcp_room(t);

		note_left_out(t, n, room);
		for (size_t i = 0; i < n && i < room; i++) {
			struct mcp_tool_info ti;

			mcp_tool_info(t->env.mcp, i, &ti);
			append_schema(out, ti.name, ti.description, MCP_RENDER_DESC_MAX,
				      ti.schema_json);
		}
	}
	buf_puts(out, "]");
}

size_t tools_n_offered(struct tools *t)
{
	size_t n = tools_mcp_on(t) ? mcp_n_tools(t->env.mcp) : 0, room = mcp_room(t);

	if (tools_catalog_mode(t))
		return t->n_offered + 2;
	return t->n_offered + (n < room ? n : room);
}

size_t tools_n_builtin_max(const struct config *cfg)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_LEN(builtins); i++)
		n += (cfg->toolsets & builtins[i]->toolset) != 0;
	return n;
}

const struct tool_def *tools_find_builtin(const struct tools *t, const char *name)
{
	for (size_t i = 0; i < t->n_offered; i++)
		if (strcmp(t->offered[i]->name, name) == 0)
			return t->offered[i];
	return NULL;
}

/* The connected MCP tool called name into *out (may be NULL); false when there is none. */
bool tools_find_mcp(const struct tools *t, const char *name, struct mcp_tool_info *out)
{
	size_t n = tools_mcp_on(t) ? mcp_n_tools(t->env.mcp) : 0;
	struct mcp_tool_info ti;

	for (size_t i = 0; i < n; i++) {
		mcp_tool_info(t->env.mcp, i, &ti);
		if (strcmp(ti.name, name) == 0) {
			if (out)
				*out = ti;
			return true;
		}
	}
	return false;
}

/* A tool named in mcp_call or mcp_tool_schema: its full name, or without "mcp_" or
 * "mcp_<server>_" as the catalog shows it, when that names only one tool. */
bool tools_find_catalog(const struct tools *t, const char *name, struct mcp_tool_info *out)
{
	size_t n = tools_mcp_on(t) ? mcp_n_tools(t->env.mcp) : 0, found = 0;
	struct mcp_tool_info ti;

	if (tools_find_mcp(t, name, out))
		return true;
	for (size_t i = 0; i < n; i++) {
		mcp_tool_info(t->env.mcp, i, &ti);
		if (strcmp(catalog_short(&ti), name) == 0 ||
		    (strncmp(ti.name, "mcp_", 4) == 0 && strcmp(ti.name + 4, name) == 0)) {
			if (found++)
				return false; /* ambiguous: the full name is needed */
			*out = ti;
		}
	}
	return found == 1;
}

static bool scope_has(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

static bool mcp_in_scope(const struct tools_scope *s, const struct mcp_tool_info *ti)
{
	return ti->read_only && scope_has(s->mcp_servers, s->n_mcp_servers, ti->server);
}

bool tools_in_scope(struct tools *t, const struct tools_scope *scope, const char *name)
{
	const struct tool_def *d = tools_find_builtin(t, name);
	struct mcp_tool_info ti;

	if (d)
		return scope_has(scope->builtins, scope->n_builtins, d->name);
	return tools_find_mcp(t, name, &ti) && mcp_in_scope(scope, &ti);
}

void tools_schemas_json_scoped(struct tools *t, const struct tools_scope *scope, struct buf *out)
{
	size_t n = tools_mcp_on(t) ? mcp_n_tools(t->env.mcp) : 0,
	       room = (size_t)t->env.cfg->agent.max_tools;

	buf_puts(out, "[");
	for (size_t i = 0; i < t->n_offered && room > 0; i++) {
		const struct tool_def *d = t->offered[i];

		if (!scope_has(scope->builtins, scope->n_builtins, d->name))
			continue;
		append_schema(out, d->name, d->description, 4096, d->params_json);
		room--;
	}
	for (size_t i = 0; i < n && room > 0; i++) {
		struct mcp_tool_info ti;

		mcp_tool_info(t->env.mcp, i, &ti);
		if (!mcp_in_scope(scope, &ti))
			continue;
		append_schema(out, ti.name, ti.description, MCP_RENDER_DESC_MAX, ti.schema_json);
		room--;
	}
	buf_puts(out, "]");
}

bool tools_read_only(struct tools *t, const char *name)
{
	const struct tool_def *d = tools_find_builtin(t, name);

	if (!d && strcmp(name, MCP_SCHEMA) == 0 && tools_catalog_mode(t))
		return true;
	return d && d->read_only;
}

bool tools_taints(struct tools *t, const char *name)
{
	const struct tool_def *d = tools_find_builtin(t, name);

	if (!d && strcmp(name, MCP_CALL) == 0)
		return true; /* it answers what an MCP tool answers, whatever the mode is by now */
	return d ? d->taints : tools_find_mcp(t, name, NULL);
}

char *tools_mcp_server(struct tools *t, const char *name, const char *args)
{
	struct mcp_tool_info ti;
	char *server = NULL;

	if (tools_find_mcp(t, name, &ti))
		return xstrdup(ti.server);
	if (strcmp(name, MCP_CALL) == 0) {
		cJSON *j = json_parse_str(args ? args : "", NULL);
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");

		if (cJSON_IsString(n) && tools_find_catalog(t, n->valuestring, &ti))
			server = xstrdup(ti.server);
		cJSON_Delete(j);
	}
	return server;
}

void tools_source_trust(const struct config *cfg, const char *source, bool *tainted, bool *web_any)
{
	size_t i;

	*tainted = false;
	*web_any = false;
	if (strncmp(source, "cron:", 5) == 0) {
		*tainted = true;
		for (i = 0; i < cfg->n_cron_jobs; i++)
			if (strcmp(cfg->cron_jobs[i].name, source + 5) == 0)
				*web_any = cfg->cron_jobs[i].web_fetch == CONFIG_JOB_WEB_ANY;
	} else if (strncmp(source, "hook:", 5) == 0) {
		*tainted = true;
		for (i = 0; i < cfg->n_hooks; i++)
			if (strcmp(cfg->hooks[i].name, source + 5) == 0)
				*web_any = cfg->hooks[i].web_fetch == CONFIG_JOB_WEB_ANY;
	} else if (strncmp(source, "reminder:", 9) == 0 || strncmp(source, "alert:", 6) == 0) {
		/* A model wrote the reminder's prompt, perhaps after reading a page, and an
		 * alert's labels and annotations are whatever the cluster says: their runs are
		 * trusted no more than a cron job's. */
		*tainted = true;
	}
}
