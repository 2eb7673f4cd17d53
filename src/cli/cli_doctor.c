/* cli_doctor: `hermetic doctor`, the checks a user runs before leaving hermetic alone: the
 * config (loaded by the caller), the data directory and its schema, what the sandbox would load,
 * every MCP server (through cli_mcp's private loop), the tool count against agent.max_tools,
 * and OpenRouter's own limit of each distinct key of the openrouter/ deployments
 * (GET <api_base>/key, spend layer 5): the key's credit limit, its usage and what is left, all
 * requests at once on the same loop, each bounded in size and time. The key itself is never
 * printed, nor OpenRouter's masked label of it. Exit 1 when a check failed. */
#include "cli/cli_doctor.h"
#include "cli/cli_mcp.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"
#include "mcp/mcp.h"
#include "net/httpc.h"
#include "sandbox/landlock.h"
#include "sandbox/rootguard.h"
#include "tools/tools.h"

#include <cjson/cJSON.h>
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

#define KEY_TIMEOUT_MS	 10000
#define KEY_RESPONSE_MAX (64 * 1024)

/* One distinct (api_base, api_key) pair of the openrouter/ deployments. */
struct key_check {
	struct cli_mcp_run *r;
	const char *api_base, *api_key; /* borrowed from the config */
	struct buf groups;		/* "free, cheap" */
	size_t *pending;
	char *line; /* the result, printed in config order */
	bool ok;
};

static void print_usd(struct buf *out, const char *what, const cJSON *v)
{
	if (cJSON_IsNumber(v))
		buf_printf(out, "%s$%.4f", what, v->valuedouble);
	else
		buf_printf(out, "%sunknown", what);
}

/* GET /key's {"data": {limit, limit_remaining, limit_reset, usage, usage_daily, ...}}. */
static char *key_summary(const char *body, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "data");
	const cJSON *limit = cJSON_GetObjectItemCaseSensitive(d, "limit");
	const cJSON *reset = cJSON_GetObjectItemCaseSensitive(d, "limit_reset");
	struct buf out;

	if (!cJSON_IsObject(d)) {
		cJSON_Delete(root);
		return NULL;
	}
	buf_init(&out, 0);
	if (cJSON_IsNumber(limit)) {
		buf_printf(&out, "limit $%.4f", limit->valuedouble);
		if (cJSON_IsString(reset))
			buf_printf(&out, " (resets %s)", reset->valuestring);
		print_usd(&out, ", remaining ",
			  cJSON_GetObjectItemCaseSensitive(d, "limit_remaining"));
	} else {
		buf_puts(&out, "no credit limit on this key (set one: openrouter.ai -> Keys)");
	}
	print_usd(&out, "; used ", cJSON_GetObjectItemCaseSensitive(d, "usage_daily"));
	print_usd(&out, " today, ", cJSON_GetObjectItemCaseSensitive(d, "usage"));
	buf_puts(&out, " in total");
	cJSON_Delete(root);
	return buf_steal(&out);
}

/* OpenRouter's error body {"error": {"code": 401, "message": "..."}}: the message without our
 * secrets (a provider may quote the key it was sent), then cut short; cutting first could
 * leave the start of a key that redaction no longer recognises. */
static char *error_message(const char *body, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(root, "error"), "message");
	char *clean = log_redact(cJSON_IsString(m) ? m->valuestring : "no error message");
	char *s = xasprintf("%.200s", clean);

	free(clean);
	cJSON_Delete(root);
	return s;
}

static void on_key(struct httpc_req *req, void *arg)
{
	struct key_check *k = arg;
	size_t len;
	const char *body = httpc_body(req, &len);
	long status = httpc_status(req);
	char *msg = NULL;

	if (httpc_result(req) != HTTPC_OK) {
		k->line = xasprintf("FAILED: %s", httpc_error(req));
	} else if (status != 200) {
		msg = error_message(body, len);
		k->line = xasprintf("FAILED: HTTP %ld: %s", status, msg);
	} else {
		k->line = key_summary(body, len);
		k->ok = k->line != NULL;
		if (!k->ok)
			k->line =
				xstrdup("FAILED: the answer is not OpenRouter's {\"data\": {...}}");
	}
	free(msg);
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
		size_t base_len = strlen(k->api_base);
		char *url, *auth = NULL;
		const char *headers[2] = {NULL, NULL};
		struct httpc_opts o = {0};

		k->r = r;
		k->pending = &pending;
		if (!k->api_key) {
			k->line = xstrdup("FAILED: no api_key is configured for these deployments");
			continue;
		}
		while (base_len && k->api_base[base_len - 1] == '/')
			base_len--;
		url = xasprintf("%.*s/key", (int)base_len, k->api_base);
		auth = xasprintf("Authorization: Bearer %s", k->api_key);
		headers[0] = auth;
		o.url = url;
		o.headers = headers;
		o.timeout_ms = KEY_TIMEOUT_MS;
		o.connect_timeout_ms = KEY_TIMEOUT_MS / 2;
		o.max_response_bytes = KEY_RESPONSE_MAX;
		if (httpc_start(r->loop, &o, on_key, k, NULL) == 0)
			pending++;
		else
			k->line = xstrdup("FAILED: cannot start the request (bad api_base?)");
		free(auth);
		free(url);
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

/* What the long-running commands would get; informational (an old kernel is not a failure). */
static void check_sandbox(const struct config *cfg)
{
	char why[256];
	int abi = landlock_abi();

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
	cli_mcp_run_finish(&r);
	return ok ? 0 : 1;
}
