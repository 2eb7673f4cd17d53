/* cli_doctor: `hermetic doctor`, the checks a user runs before leaving hermetic alone: the
 * config (loaded by the caller), the data directory and its schema, what the sandbox would load,
 * every MCP server (through cli_mcp's private loop), the tool count against agent.max_tools,
 * and OpenRouter's own limit of each distinct key of the openrouter/ deployments
 * (GET <api_base>/key through router/balance.c, spend layer 5): the key's credit limit, its
 * usage and what is left, all requests at once on the same loop, each bounded in size and
 * time. The key itself is never
 * printed, nor OpenRouter's masked label of it. With Telegram on, getMe checks the bot token
 * (telegram/tg_token.c, bounded in time): the bot's @username, or the words the gateway logs
 * for a wrong token. Exit 1 when a check failed. */
#include "cli/cli_doctor.h"
#include "cli/cli_mcp.h"
#include "cli/cli_mcp_run.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"
#include "telegram/tg_token.h"
#include "mcp/mcp.h"
#include "router/balance.h"
#include "sandbox/landlock.h"
#include "sandbox/rootguard.h"
#include "sandbox/sandbox.h"
#include "tools/tools.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool check_home(const struct config *cfg)
{
	char err[512], *db = xasprintf("%s/state.db", cfg->home);
	struct store *st;
	bool ok = access(cfg->home, W_OK | X_OK) == 0 && store_open(db, &st, err, sizeof(err)) == 0;

	if (ok) {
		printf("data directory %s: ok (state.db schema %d)\n", cfg->home,
		       store_schema_version(st));
		store_close(st);
	} else {
		printf("data directory %s: FAILED: %s\n", cfg->home,
		       access(cfg->home, W_OK | X_OK) == 0
			       ? err
			       : "missing or not writable by this user");
	}
	free(db);
	return ok;
}

/* One distinct (api_base, api_key) pair of the openrouter/ deployments. */
struct key_check {
	struct cli_mcp_run *r;
	const char *api_base, *api_key; /* borrowed from the config */
	struct buf groups;		/* "free, cheap" */
	size_t *pending;
	char *line; /* the result, printed in config order */
	bool ok;
};

static void print_usd(struct buf *out, const char *what, bool known, double v)
{
	if (known)
		buf_printf(out, "%s$%.4f", what, v);
	else
		buf_printf(out, "%sunknown", what);
}

/* GET /key's limit, what is left of it and the usage (router/balance.c reads the answer). */
static char *key_summary(const struct balance *b)
{
	struct buf out;

	buf_init(&out, 0);
	if (b->has_limit) {
		buf_printf(&out, "limit $%.4f", b->limit_usd);
		if (b->limit_reset[0])
			buf_printf(&out, " (resets %s)", b->limit_reset);
		print_usd(&out, ", remaining ", b->has_remaining, b->remaining_usd);
	} else {
		buf_puts(&out, "no credit limit on this key (set one: openrouter.ai -> Keys)");
	}
	print_usd(&out, "; used ", b->usage_daily_usd >= 0, b->usage_daily_usd);
	print_usd(&out, " today, ", true, b->usage_usd);
	buf_puts(&out, " in total");
	return buf_steal(&out);
}

static void on_key(bool ok, const struct balance *b, const char *error, void *arg)
{
	struct key_check *k = arg;

	k->ok = ok;
	k->line = ok ? key_summary(b) : xasprintf("FAILED: %s", error);
	if (--*k->pending == 0)
		loop_stop(k->r->loop);
}

static bool same_key(const struct config_litellm_params *a, const char *api_base,
		     const char *api_key)
{
	return strcmp(a->api_base, api_base) == 0 &&
	       strcmp(a->api_key ? a->api_key : "", api_key ? api_key : "") == 0;
}

/* Collects the distinct keys of the openrouter/ deployments with the groups that use them. */
static size_t collect_keys(const struct config *cfg, struct key_check *keys)
{
	size_t n = 0, i, j, e;

	for (i = 0; i < cfg->n_models; i++) {
		const struct config_model *m = &cfg->models[i];
		const struct config_litellm_params *p = &m->litellm_params;
		bool listed = false;

		if (strcmp(m->provider, "openrouter") != 0)
			continue;
		for (j = 0; j < n; j++)
			if (same_key(p, keys[j].api_base, keys[j].api_key))
				break;
		if (j == n) {
			keys[n].api_base = p->api_base;
			keys[n].api_key = p->api_key;
			buf_init(&keys[n].groups, 0);
			n++;
		}
		for (e = 0; e < i && !listed; e++)
			listed = strcmp(cfg->models[e].provider, "openrouter") == 0 &&
				 strcmp(cfg->models[e].model_name, m->model_name) == 0 &&
				 same_key(&cfg->models[e].litellm_params, p->api_base, p->api_key);
		if (!listed)
			buf_printf(&keys[j].groups, "%s%s", keys[j].groups.len ? ", " : "",
				   m->model_name);
	}
	return n;
}

/* Layer 5 of the spend control: what OpenRouter itself allows each key. */
static bool check_provider_keys(struct cli_mcp_run *r, const struct config *cfg)
{
	struct key_check *keys = xcalloc(cfg->n_models ? cfg->n_models : 1, sizeof(*keys));
	size_t n = collect_keys(cfg, keys), pending = 0, i;
	bool ok = true;

	for (i = 0; i < n; i++) {
		struct key_check *k = &keys[i];
		struct balance_account a = {BALANCE_OPENROUTER, k->api_base, k->api_key, NULL};

		k->r = r;
		k->pending = &pending;
		if (!k->api_key) {
			k->line = xstrdup("FAILED: no api_key is configured for these deployments");
			continue;
		}
		if (balance_fetch(r->loop, &a, on_key, k) == 0)
			pending++;
		else
			k->line = xstrdup("FAILED: cannot start the request (bad api_base?)");
	}
	if (pending)
		loop_run(r->loop);
	for (i = 0; i < n; i++) {
		printf("openrouter key (%s): %s\n", buf_str(&keys[i].groups), keys[i].line);
		ok = ok && keys[i].ok;
		free(keys[i].line);
		buf_finish(&keys[i].groups);
	}
	free(keys);
	return ok;
}

#define ME_TIMEOUT_MS 10000

struct me_check {
	struct loop *loop;
	char *line;
	bool ok;
};

static void on_me(enum tg_me_result res, const char *text, void *arg)
{
	struct me_check *m = arg;

	m->ok = res == TG_ME_OK;
	if (res == TG_ME_OK)
		m->line = xasprintf("telegram: ok, the bot is @%s", text);
	else if (res == TG_ME_REFUSED)
		m->line = xasprintf("telegram: FAILED: %s", text + strlen("telegram: "));
	else
		m->line = xasprintf("telegram: FAILED: %s", text);
	loop_stop(m->loop);
}

/* The bot token, as Telegram judges it (getMe). */
static bool check_telegram(struct cli_mcp_run *r, const struct config *cfg)
{
	struct me_check m = {r->loop, NULL, false};

	if (!cfg->telegram.enabled)
		return true;
	if (tg_get_me(r->loop, cfg, ME_TIMEOUT_MS, on_me, &m) < 0) {
		printf("telegram: FAILED: cannot start getMe (bad telegram.api_base?)\n");
		return false;
	}
	loop_run(r->loop);
	printf("%s\n", m.line ? m.line : "telegram: FAILED: getMe got no answer");
	free(m.line);
	return m.ok;
}

/* What the long-running commands would get; informational (an old kernel is not a failure). */
static void check_sandbox(const struct config *cfg)
{
	char why[256];
	int abi = landlock_abi(), n;

	if (abi > 0)
		printf("landlock: available (ABI %d)\n", abi);
	if (landlock_would_apply(cfg, why, sizeof(why)))
		printf("landlock: would be active: gateway, router and chat write only under %s\n",
		       cfg->home);
	else
		printf("%s\n", why);
	if (!cfg->guardrails.seccomp.enabled)
		printf("seccomp: off (guardrails.seccomp.enabled: false)\n");
	else
		printf("seccomp: gateway, router and chat load the allowlist (action %s)\n",
		       cfg->guardrails.seccomp.action == CONFIG_SECCOMP_KILL ? "kill" : "errno");
	n = sandbox_inherited_filters();
	if (n > 0)
		printf("seccomp: this process runs under %d filter%s it did not load (a container "
		       "runtime's profile): a call refused there fails even where hermetic's "
		       "allowlist allows it\n",
		       n, n == 1 ? "" : "s");
	if (rootguard_is_root())
		printf("user: root; gateway, router and chat refuse that unless "
		       "HERMETIC_ALLOW_ROOT=1\n");
}

/* Warns when the tools would exceed agent.max_tools: without the catalog
 * (agent.tool_schema_budget_tokens 0) the last MCP tools would never reach the model
 * (informational: the requests still go out, capped). */
static void check_tool_count(const struct config *cfg, const struct mcp *m)
{
	size_t builtin = tools_n_builtin_max(cfg);
	size_t n_mcp = (cfg->toolsets & CONFIG_TOOLSET_MCP) ? mcp_n_tools(m) : 0;
	size_t max = (size_t)cfg->agent.max_tools;

	if (builtin + n_mcp <= max)
		return;
	if (cfg->agent.tool_schema_budget_tokens > 0) {
		printf("tools: %zu builtin + %zu MCP tools are more than agent.max_tools (%zu): "
		       "the MCP tools go to the model as mcp_call's catalog\n",
		       builtin, n_mcp, max);
		return;
	}
	printf("tools: WARNING: up to %zu builtin + %zu MCP tools exceed agent.max_tools (%zu; "
	       "OpenAI refuses more than 128): %zu MCP tools are left out of every request; "
	       "narrow them with mcp_servers.NAME.tools.include\n",
	       builtin, n_mcp, max, builtin + n_mcp - max < n_mcp ? builtin + n_mcp - max : n_mcp);
}

/* The skills that are broken or shadowed (informational: the others still work). */
static void check_skills(const struct config *cfg)
{
	struct buf problems;
	size_t n_skills, n, at = 0, len;

	if (!(cfg->toolsets & CONFIG_TOOLSET_SKILLS))
		return;
	buf_init(&problems, 0);
	n = tools_skills_check(cfg, &problems, &n_skills);
	printf("skills: %zu usable%s\n", n_skills, n ? "" : ", no problems");
	while (at < problems.len) {
		len = strcspn(problems.data + at, "\n");
		printf("skills: WARNING: %.*s\n", (int)len, problems.data + at);
		at += len + 1;
	}
	buf_finish(&problems);
}

int cli_doctor(const struct config *cfg)
{
	struct cli_mcp_run r = {0};
	bool ok;
	size_t i;

	printf("config %s: ok\n", cfg->name);
	ok = check_home(cfg);
	check_sandbox(cfg);
	check_skills(cfg);
	if (cli_mcp_run_start(&r, cfg) < 0)
		return 1;
	for (i = 0; i < mcp_n_servers(r.mcp); i++) {
		struct mcp_server_info si;

		mcp_server_info(r.mcp, i, &si);
		if (strcmp(si.state, "connected") == 0) {
			printf("mcp %s: connected, %s, %zu tools\n", si.name, si.protocol_version,
			       si.n_tools);
		} else if (strcmp(si.state, "disabled") == 0) {
			printf("mcp %s: disabled\n", si.name);
		} else {
			printf("mcp %s: FAILED: ", si.name);
			cli_mcp_print_error(si.error ? si.error : si.state);
			ok = false;
		}
	}
	check_tool_count(cfg, r.mcp);
	fflush(stdout);
	if (!check_provider_keys(&r, cfg))
		ok = false;
	fflush(stdout);
	if (!check_telegram(&r, cfg))
		ok = false;
	fflush(stdout);
	cli_mcp_run_finish(&r);
	return ok ? 0 : 1;
}
