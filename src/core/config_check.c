/* config_check: the checks. Checks of one string value (paths, URLs, names, time zones;
 * they report, then return -EINVAL), checks across the keys of one mapping or one list
 * (providers, MCP prefixes, unique names), and, once everything is loaded, inherited settings
 * and references between sections (cfg_finish()).
 */
#include "core/config_int.h"
#include "core/netaddr.h"
#include "core/pwhash.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------
 * Checks of string values (they report, then return -EINVAL)
 */

/* A value that is not what a check wants: "expected <what>, got <the value as written>". */
static int bad_value(struct ctx *c, const struct node *n, const char *what)
{
	char tmp[SHOW_LEN + 32];

	cfg_err(c, n, "expected %s, got %s", what, cfg_got(n, tmp));
	return -EINVAL;
}

int cfg_check_abs_path(struct ctx *c, const struct node *n, const char *v)
{
	if (v[0] == '/' && !strpbrk(v, "\r\n"))
		return 0;
	return bad_value(c, n, "an absolute path (starting with '/')");
}

int cfg_check_command(struct ctx *c, const struct node *n, const char *v)
{
	if (*v && !strpbrk(v, "\r\n"))
		return 0;
	cfg_err(c, n, "expected a program path or name on one line");
	return -EINVAL;
}

bool cfg_url_ok(const char *v)
{
	const char *host = NULL;
	size_t i;

	if (strncasecmp(v, "http://", 7) == 0)
		host = v + 7;
	else if (strncasecmp(v, "https://", 8) == 0)
		host = v + 8;
	for (i = 0; v[i]; i++)
		if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
			host = NULL;
	return host && *host && *host != '/';
}

int cfg_check_url(struct ctx *c, const struct node *n, const char *v)
{
	if (cfg_url_ok(v))
		return 0;
	return bad_value(c, n, "an http:// or https:// URL");
}

int cfg_check_root(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN + 32];
	bool ok = v[0] == '/' || strncasecmp(v, "file:///", 8) == 0;

	for (size_t i = 0; ok && v[i]; i++)
		ok = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
	if (ok)
		return 0;
	cfg_err(c, n, "expected an absolute path or a file:/// URI, got %s", cfg_got(n, tmp));
	return -EINVAL;
}

/* Cron job, hook, skill and key alias names: ^[a-z0-9][a-z0-9_-]{0,63}$. */
int cfg_check_name(struct ctx *c, const struct node *n, const char *v)
{
	size_t i, len = strlen(v);
	bool ok = len >= 1 && len <= 64 &&
		  (islower((unsigned char)v[0]) || isdigit((unsigned char)v[0]));

	for (i = 1; ok && i < len; i++)
		ok = islower((unsigned char)v[i]) || isdigit((unsigned char)v[i]) || v[i] == '_' ||
		     v[i] == '-';
	if (ok)
		return 0;
	return bad_value(c, n,
			 "a name of 1-64 characters a-z, 0-9, '_', '-' starting with a letter "
			 "or digit");
}

int cfg_check_header_name(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN];
	size_t i;

	for (i = 0; v[i]; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("!#$%&'*+-.^_`|~", v[i]))
			break;
	if (i > 0 && !v[i])
		return 0;
	cfg_err(c, n, "'%s' is not a valid HTTP header name", cfg_show(v, tmp));
	return -EINVAL;
}

int cfg_check_env_name(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN];

	if (cfg_env_name_ok(v, strlen(v)))
		return 0;
	cfg_err(c, n, "'%s' is not a valid environment variable name", cfg_show(v, tmp));
	return -EINVAL;
}

/* web.allow_hosts: "example.com" or "*.example.com", lowercase. */
int cfg_check_host_pattern(struct ctx *c, const struct node *n, const char *v)
{
	const char *h = strncmp(v, "*.", 2) == 0 ? v + 2 : v;
	size_t i;

	for (i = 0; h[i]; i++)
		if (!islower((unsigned char)h[i]) && !isdigit((unsigned char)h[i]) && h[i] != '.' &&
		    h[i] != '-')
			break;
	if (i > 0 && !h[i])
		return 0;
	return bad_value(c, n, "a lowercase host name like example.com or *.example.com");
}

/* A JSON field name of the hook payload, e.g. "id" or "data.id". */
int cfg_check_field_name(struct ctx *c, const struct node *n, const char *v)
{
	size_t i;

	for (i = 0; v[i]; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("_.-", v[i]))
			break;
	if (i > 0 && !v[i])
		return 0;
	return bad_value(c, n, "a JSON field name like id or data.id");
}

/* An IANA name: no leading '/', no '.', so it cannot leave the zoneinfo directory. */
static bool tz_name_ok(const char *v)
{
	size_t i;

	if (!*v || *v == '/' || strlen(v) > 64 || strstr(v, "//") || v[strlen(v) - 1] == '/')
		return false;
	for (i = 0; v[i]; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("_+-/", v[i]))
			return false;
	return true;
}

static bool is_tzif(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name), magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	bool ok = false;
	struct stat st;

	free(path);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		ok = read(fd, magic, 4) == 4 && memcmp(magic, "TZif", 4) == 0;
	close(fd);
	return ok;
}

int cfg_check_timezone(struct ctx *c, const struct node *n, const char *v)
{
	const char *dir = getenv("TZDIR");
	char tmp[SHOW_LEN + 32];
	struct stat st;

	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	if (!tz_name_ok(v)) {
		return bad_value(c, n, "an IANA time zone name like Asia/Manila or UTC");
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		cfg_warn(c, n,
			 "cannot check the time zone: %s is missing (install tzdata or set TZDIR)",
			 dir);
		return 0;
	}
	if (is_tzif(dir, v))
		return 0;
	cfg_err(c, n,
		"unknown time zone %s (no zoneinfo file under %s); use a name like Asia/Manila",
		cfg_got(n, tmp), dir);
	return -EINVAL;
}

/* ------------------------------------------------------------------------------------------
 * Checks across the keys of one mapping or one list
 */

/* The environment's value of name (NULL or "" = unset), registered as a secret if asked. */
static const char *env_default(struct ctx *c, const struct node *at, const char *name, bool secret)
{
	const char *v = name ? cfg_getenv(c, name) : NULL;

	if (!v || !*v)
		return NULL;
	if (secret)
		cfg_note_secret(c, at, v);
	return v;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	while (n && s[n - 1] == '/')
		n--;
	return n >= k && strncmp(s + n - k, suffix, k) == 0;
}

/* Bedrock: region from the entry or AWS's variables, static credentials likewise; the
 * endpoint is the region's bedrock-runtime host unless api_base says otherwise. */
static void bedrock_defaults(struct ctx *c, const struct node *at, struct config_model *m)
{
	struct config_litellm_params *p = &m->litellm_params;
	const char *v;

	if (!p->aws_region_name) {
		v = env_default(c, at, "AWS_REGION", false);
		v = v ? v : env_default(c, at, "AWS_DEFAULT_REGION", false);
		if (!v) {
			/* LiteLLM loads it and fails the call; so does hermetic, sending nothing */
			cfg_warn(
				c, at,
				"bedrock needs a region: set aws_region_name in litellm_params or "
				"AWS_REGION in the environment; the deployment loads and its calls "
				"are refused until then");
			return;
		}
		p->aws_region_name = xstrdup(v);
	}
	if (!p->aws_access_key_id && (v = env_default(c, at, "AWS_ACCESS_KEY_ID", true)))
		p->aws_access_key_id = xstrdup(v);
	if (!p->aws_secret_access_key && (v = env_default(c, at, "AWS_SECRET_ACCESS_KEY", true)))
		p->aws_secret_access_key = xstrdup(v);
	if (!p->aws_session_token && (v = env_default(c, at, "AWS_SESSION_TOKEN", true)))
		p->aws_session_token = xstrdup(v);
	if (!p->aws_access_key_id || !p->aws_secret_access_key)
		cfg_warn(
			c, at,
			"bedrock needs AWS credentials: set AWS_ACCESS_KEY_ID and "
			"AWS_SECRET_ACCESS_KEY in the environment (or aws_access_key_id and "
			"aws_secret_access_key here); profiles and assumed roles are not read; the "
			"deployment loads and its calls are refused, nothing sent, until then");
	if (!p->api_base && p->aws_region_name)
		p->api_base =
			xasprintf("https://bedrock-runtime.%s.amazonaws.com", p->aws_region_name);
	/* LiteLLM's route markers: hermetic always speaks Converse. */
	if (strncmp(m->upstream_model, "converse/", 9) == 0)
		memmove(m->upstream_model, m->upstream_model + 9,
			strlen(m->upstream_model + 9) + 1);
}

/* Fills api_base, api_key and the dialect's own defaults from the catalogue entry. */
static void provider_defaults(struct ctx *c, const struct node *at, struct config_model *m,
			      const struct provider_info *pv)
{
	struct config_litellm_params *p = &m->litellm_params;
	const char *v;
	char tmp[SHOW_LEN];
	bool own_base = p->api_base != NULL;

	m->dialect = pv->dialect;
	if (pv->dialect == DIALECT_BEDROCK) {
		bedrock_defaults(c, at, m);
		return;
	}
	if (pv->dialect == DIALECT_VERTEX)
		return; /* cfg_vertex_check, with the litellm_params mapping */
	if (pv->unsupported) {
		cfg_model_deactivate(c, at, m, pv->unsupported);
		return;
	}
	if (!p->api_key && (v = env_default(c, at, pv->key_env, true)))
		p->api_key = xstrdup(v);
	if (!p->api_base && (v = env_default(c, at, pv->base_env, false)))
		p->api_base = xstrdup(v);
	if (!p->api_base && pv->api_base && strcmp(pv->name, "cloudflare") == 0) {
		/* LiteLLM builds Workers AI's URL from the account id */
		v = env_default(c, at, "CLOUDFLARE_ACCOUNT_ID", false);
		if (!v) {
			/* LiteLLM reads the account id when it builds a call's URL */
			cfg_model_needs_at_call(
				c, at, m,
				"cloudflare needs CLOUDFLARE_ACCOUNT_ID (or api_base) "
				"for its URL");
			v = "CLOUDFLARE_ACCOUNT_ID";
		}
		p->api_base =
			xasprintf("https://api.cloudflare.com/client/v4/accounts/%s/ai/v1", v);
	}
	if (!p->api_base && pv->api_base)
		p->api_base = xstrdup(pv->api_base);
	if (!p->api_base) {
		cfg_err(c, at, "provider '%s' needs api_base (the server's URL)%s%s",
			cfg_show(pv->name, tmp), pv->base_env ? " or " : "",
			pv->base_env ? pv->base_env : "");
		return;
	}
	if (pv->path_prefix && !ends_with(p->api_base, pv->path_prefix)) {
		char *b = p->api_base;
		size_t n = strlen(b);

		while (n && b[n - 1] == '/')
			n--;
		p->api_base = xasprintf("%.*s%s", (int)n, b, pv->path_prefix);
		free(b);
	}
	if (pv->dialect == DIALECT_AZURE && !p->api_version) {
		v = env_default(c, at, "AZURE_API_VERSION", false);
		p->api_version = xstrdup(v ? v : "2024-10-21");
	}
	if (!p->api_key && !pv->key_optional && !own_base)
		cfg_warn(c, at,
			 "no api_key for provider '%s' and %s is not set: requests go without a "
			 "key",
			 cfg_show(pv->name, tmp), pv->key_env ? pv->key_env : "no variable");
}

/* The provider of a model id written without a prefix, as LiteLLM infers it for the ids it
 * knows: Anthropic's "claude-..." ids, Cohere's "command-..." ids, Google's "gemini-..." ids
 * (LiteLLM's model map puts them on vertex_ai), else OpenAI's. With an api_base the id goes to
 * that server, so only Anthropic's keeps its own dialect there. */
static const struct provider_info *bare_provider(const char *id, bool own_base)
{
	if (strncmp(id, "claude-", 7) == 0)
		return providers_find("anthropic", 9);
	if (!own_base && (strncmp(id, "command-", 8) == 0 || strcmp(id, "command") == 0))
		return providers_find("cohere", 6);
	if (!own_base && strncmp(id, "gemini-", 7) == 0)
		return providers_find("vertex_ai", 9);
	return providers_at(0);
}

/* "openrouter/qwen/qwen3-coder:free" -> provider openrouter, upstream qwen/qwen3-coder:free;
 * custom_llm_provider names the provider of a model id written without a prefix. */
static void model_provider(struct ctx *c, const struct node *at, struct config_model *m)
{
	struct config_litellm_params *p = &m->litellm_params;
	const char *slash = strchr(p->model, '/'), *id;
	const struct provider_info *pv;
	char *prefix, tmp[SHOW_LEN], tmp2[SHOW_LEN];
	size_t len;

	if (p->custom_llm_provider) {
		pv = providers_find(p->custom_llm_provider, strlen(p->custom_llm_provider));
		len = strlen(p->custom_llm_provider);
		prefix = xstrdup(p->custom_llm_provider);
		id = slash && strncmp(p->model, prefix, (size_t)(slash - p->model)) == 0 &&
				     (size_t)(slash - p->model) == len
			     ? slash + 1
			     : p->model;
	} else {
		len = slash ? (size_t)(slash - p->model) : 0;
		pv = slash ? providers_find(p->model, len)
			   : bare_provider(p->model, p->api_base != NULL);
		prefix = xstrndup(p->model, len);
		id = slash ? slash + 1 : p->model;
	}
	if (!*id) {
		cfg_err(c, at, "no model id after '%s/'", cfg_show(prefix, tmp));
		free(prefix);
		return;
	}
	m->upstream_model = xstrdup(id);
	if (!pv && !p->api_base) {
		/* LiteLLM's custom handlers (custom_provider_map) and providers hermetic does not
		 * know: nothing to call, so not routed; the rest of the config loads. */
		char *why = xasprintf("provider '%s' is not one hermetic knows (docs/router.md "
				      "lists them); give api_base to call it as an "
				      "OpenAI-compatible server",
				      cfg_show(prefix, tmp));

		m->provider = prefix;
		m->dialect = DIALECT_OPENAI;
		cfg_model_deactivate(c, at, m, why);
		free(why);
		return;
	}
	if (pv) {
		m->provider = xstrdup(pv->name);
		provider_defaults(c, at, m, pv);
	} else {
		cfg_warn(c, at,
			 "provider '%s' is not one hermetic knows: api_base is treated as an "
			 "OpenAI-compatible API and gets model '%s' (write openai/... to silence "
			 "this)",
			 cfg_show(prefix, tmp), cfg_show(id, tmp2));
		m->provider = xstrdup(prefix);
		m->dialect = DIALECT_OPENAI;
	}
	free(prefix);
	if (!m->inactive && p->api_base && !cfg_url_ok(p->api_base)) {
		/* LiteLLM starts with any api_base (a placeholder a script replaces, ...) and
		 * its calls fail: loaded, not routed */
		char *why = xasprintf("api_base '%s' is not an http:// or https:// URL",
				      cfg_show(p->api_base, tmp));

		cfg_model_deactivate(c, at, m, why);
		free(why);
	}
}

static double pick_cost(double info, double params)
{
	return info >= 0 ? info : params >= 0 ? params : 0;
}

/* A '*' in model_name makes the entry a wildcard (LiteLLM's pattern routing): a request for
 * any name it matches goes to this deployment, with what the '*' matched put in place of the
 * '*' of the upstream id. One '*' only: LiteLLM's multi-segment patterns are rare. */
static void wildcard_check(struct ctx *c, const struct node *map, struct config_model *m)
{
	const char *star = strchr(m->model_name, '*');
	char tmp[SHOW_LEN], tmp2[SHOW_LEN];

	m->wildcard = star != NULL;
	if (star && strchr(star + 1, '*')) {
		cfg_key_err(c, map, "model_name", true,
			    "'%s' has more than one '*'; hermetic matches one (e.g. \"*\" or "
			    "\"anthropic/*\")",
			    cfg_show(m->model_name, tmp));
		return;
	}
	if (!star) {
		if (m->upstream_model && strchr(m->upstream_model, '*'))
			cfg_key_err(c, map, "model_name", false,
				    "litellm_params.model has a '*' but model_name '%s' has none: "
				    "the '*' is sent upstream as written",
				    cfg_show(m->model_name, tmp));
		return;
	}
	if (m->upstream_model && strchr(m->upstream_model, '*'))
		cfg_key_err(c, map, "model_name", false,
			    "'%s' is a wildcard: it opens the allowlist for provider '%s': any of "
			    "its model ids that matches can be called, and is billed to this "
			    "deployment's key",
			    cfg_show(m->model_name, tmp),
			    cfg_show(m->provider ? m->provider : "?", tmp2));
	else
		cfg_key_err(c, map, "model_name", false,
			    "'%s' is a wildcard: any model name that matches is answered by '%s' "
			    "and billed to this deployment's key",
			    cfg_show(m->model_name, tmp), cfg_show(m->litellm_params.model, tmp2));
}

void cfg_model_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_model *m = obj;
	struct config_model_info *mi = &m->model_info;
	const struct node *order;
	size_t at = cfg_path_push(c, ".litellm_params.model");

	if (!cfg_shapes_unset_deactivate(c, cfg_loc(cfg_map_get(map, "litellm_params"), "model"),
					 m))
		model_provider(c, cfg_loc(cfg_map_get(map, "litellm_params"), "model"), m);
	cfg_path_pop(c, at);
	if (m->dialect == DIALECT_VERTEX && m->upstream_model && !m->inactive) {
		at = cfg_path_push(c, ".litellm_params");
		cfg_vertex_check(c, cfg_map_get(map, "litellm_params"), m);
		cfg_path_pop(c, at);
	}
	/* LiteLLM's _get_deployment_order: litellm_params.order, else model_info.order */
	order = cfg_map_get(cfg_map_get(map, "model_info"), "order");
	if (m->litellm_params.order == CONFIG_ORDER_UNSET && order && !cfg_is_null(order))
		m->litellm_params.order = mi->order;
	if (!m->inactive && cfg_mode_unrouted(m->dialect, mi->mode)) {
		/* active means every call its mode implies can be routed (issue 49) */
		at = cfg_path_push(c, ".model_info.mode");
		cfg_model_deactivate(c, cfg_loc(cfg_map_get(map, "model_info"), "mode"), m,
				     cfg_mode_unrouted(m->dialect, mi->mode));
		cfg_path_pop(c, at);
	}
	wildcard_check(c, map, m);
	mi->input_cost_per_token =
		pick_cost(mi->input_cost_per_token, m->litellm_params.input_cost_per_token);
	mi->output_cost_per_token =
		pick_cost(mi->output_cost_per_token, m->litellm_params.output_cost_per_token);
	/* Cache tokens without a price of their own cost what a prompt token costs, as in LiteLLM.
	 */
	mi->cache_read_input_token_cost = mi->cache_read_input_token_cost >= 0
						  ? mi->cache_read_input_token_cost
					  : m->litellm_params.cache_read_input_token_cost >= 0
						  ? m->litellm_params.cache_read_input_token_cost
						  : mi->input_cost_per_token;
	mi->cache_creation_input_token_cost =
		mi->cache_creation_input_token_cost >= 0 ? mi->cache_creation_input_token_cost
		: m->litellm_params.cache_creation_input_token_cost >= 0
			? m->litellm_params.cache_creation_input_token_cost
			: mi->input_cost_per_token;
}

/* A cache_control_injection_points entry names its message by index or by role. */
void cfg_cache_point_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_cache_point *p = obj;

	p->has_index = cfg_map_get(map, "index") != NULL;
	if (!p->has_index && p->role == CONFIG_CACHE_ANY_ROLE)
		cfg_err(c, map, "a cache_control_injection_points entry needs a role or an index");
}

/* The node of key inside the mapping under sub (e.g. model_info.id) of one list entry. */
static const struct node *item_loc(const struct node *item, const char *sub, const char *key)
{
	const struct node *m = sub ? cfg_map_get(item, sub) : item;

	return m ? cfg_loc(m, key) : item;
}

/* Default deployment ids are "<model_name>-<n>", n counting within the group from 1. */
void cfg_models_check_all(struct ctx *c, const struct node *seq, void *items, size_t n)
{
	struct config_model *m = items;
	char tmp[SHOW_LEN];
	size_t i, j, k;

	for (i = 0; i < n; i++) {
		if (m[i].model_info.id || !m[i].model_name)
			continue;
		for (j = 0, k = 1; j < i; j++)
			k += m[j].model_name && strcmp(m[j].model_name, m[i].model_name) == 0;
		m[i].model_info.id = xasprintf("%s-%zu", m[i].model_name, k);
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < i && m[i].model_info.id; j++)
			if (m[j].model_info.id &&
			    strcmp(m[i].model_info.id, m[j].model_info.id) == 0)
				cfg_err_at(c, item_loc(seq->kids[i], "model_info", "id"),
					   "model_list[%zu]: deployment id '%s' is already used by "
					   "model_list[%zu]; set a unique model_info.id",
					   i, cfg_show(m[i].model_info.id, tmp), j);
}

static const char *const transport_names[] = {"http", "sse", "stdio"};

const char *config_mcp_transport_name(enum config_mcp_transport t)
{
	return transport_names[t];
}

void cfg_mcp_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_mcp_server *s = obj;
	size_t i;

	if (!*s->name || strlen(s->name) > 64)
		cfg_err(c, map, "a server name must be 1-64 characters");
	if (!s->url == !s->command) {
		cfg_err(c, map, "set exactly one of 'url' (http or sse) or 'command' (stdio)");
		return;
	}
	if (!cfg_map_get(map, "transport"))
		s->transport = s->url ? CONFIG_MCP_HTTP : CONFIG_MCP_STDIO;
	else if ((s->transport == CONFIG_MCP_STDIO) != (s->command != NULL))
		cfg_key_err(c, map, "transport", true, "transport '%s' needs '%s'",
			    transport_names[s->transport], s->command ? "url" : "command");
	if (s->command && s->n_headers)
		cfg_key_err(c, map, "headers", true, "headers apply only to servers with a url");
	if (s->url && (s->n_args || s->n_env))
		cfg_key_err(c, map, s->n_args ? "args" : "env", true,
			    "args and env apply only to servers with a command");
	cfg_mcp_auth_check(c, map, s);
	if (s->n_tools_include && s->n_tools_exclude)
		cfg_key_err(
			c, map, "tools", false,
			"include and exclude are both set: include wins, as in Hermes (only the "
			"included tools are offered; exclude is ignored)");
	s->prefix = xstrdup(s->name);
	for (i = 0; s->prefix[i]; i++)
		if (!isalnum((unsigned char)s->prefix[i]) && s->prefix[i] != '_')
			s->prefix[i] = '_';
}

/* Tool names are "mcp_<prefix>_<tool>": two servers must not share a prefix. */
void cfg_mcp_check_all(struct ctx *c, const struct node *map, void *items, size_t n)
{
	struct config_mcp_server *s = items;
	char a[SHOW_LEN], b[SHOW_LEN], p[SHOW_LEN];
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < i && s[i].prefix; j++)
			if (s[j].prefix && strcmp(s[i].prefix, s[j].prefix) == 0)
				cfg_err_at(c, map->kids[2 * i],
					   "mcp_servers: '%s' and '%s' both become the tool prefix "
					   "'%s' "
					   "(characters other than a-z, A-Z, 0-9, _ turn into _); "
					   "rename "
					   "one",
					   cfg_show(s[j].name, a), cfg_show(s[i].name, b),
					   cfg_show(s[i].prefix, p));
}

void cfg_cron_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_cron_job *j = obj;
	char why[160], tmp[SHOW_LEN + 32];

	if (cronexpr_parse(j->schedule, &j->expr, why, sizeof(why)) < 0)
		cfg_key_err(c, map, "schedule", true, "invalid cron schedule %s: %s",
			    cfg_got(cfg_loc(map, "schedule"), tmp), why);
}

static void check_unique(struct ctx *c, const struct node *seq, void *items, size_t n, size_t size,
			 size_t off, const char *what)
{
	char tmp[SHOW_LEN];
	const char *a, *b;
	size_t i, j;

	for (i = 0; i < n; i++) {
		a = *AT((char *)items + i * size, off, char *);
		for (j = 0; j < i && a; j++) {
			b = *AT((char *)items + j * size, off, char *);
			if (b && strcmp(a, b) == 0)
				cfg_err_at(c, item_loc(seq->kids[i], NULL, "name"),
					   "%s[%zu]: duplicate %s name '%s' (first at line %u)",
					   c->path, i, what, cfg_show(a, tmp),
					   item_loc(seq->kids[j], NULL, "name")->line);
		}
	}
}

void cfg_cron_check_all(struct ctx *c, const struct node *seq, void *items, size_t n)
{
	check_unique(c, seq, items, n, sizeof(struct config_cron_job),
		     offsetof(struct config_cron_job, name), "cron job");
}

void cfg_hook_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_hook *h = obj;

	if (!strstr(h->prompt, "{{payload}}"))
		cfg_key_err(c, map, "prompt", false,
			    "has no {{payload}}: the request body will not reach the model");
}

void cfg_reminders_check(struct ctx *c, const struct node *map, void *obj)
{
	const struct config_reminders *r = obj;

	/* Every run of an agent-made job has a cap: 0 would read as "no cap" in the agent. */
	if (r->max_cost_usd <= 0)
		cfg_key_err(c, map, "max_cost_usd", true,
			    "must be above 0: every reminder run has a cost cap (e.g. 0.05)");
}

void cfg_hooks_check_all(struct ctx *c, const struct node *seq, void *items, size_t n)
{
	check_unique(c, seq, items, n, sizeof(struct config_hook),
		     offsetof(struct config_hook, name), "hook");
}

void cfg_keys_check_all(struct ctx *c, const struct node *seq, void *items, size_t n)
{
	struct config_key *k = items;
	char tmp[SHOW_LEN];
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++) {
			if (k[i].alias && k[j].alias && strcmp(k[i].alias, k[j].alias) == 0)
				cfg_err_at(c, item_loc(seq->kids[i], NULL, "alias"),
					   "keys[%zu]: duplicate alias '%s'", i,
					   cfg_show(k[i].alias, tmp));
			if (k[i].key && k[j].key && strcmp(k[i].key, k[j].key) == 0)
				cfg_err_at(c, item_loc(seq->kids[i], NULL, "key"),
					   "keys[%zu]: the same key value as keys[%zu]; every key "
					   "must "
					   "differ",
					   i, j);
		}
	}
}

static bool is_loopback(const char *host)
{
	struct in_addr a4;

	/* 127.0.0.0/8 as an address: a name like 127.example.com is not loopback. */
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0;
}

/* An api.allowed_hosts entry: a host name or address as a Host header carries it, without
 * port (lowercase letters, digits, '.', '-', ':' inside an IPv6 address), or "*". */
int cfg_check_allowed_host(struct ctx *c, const struct node *n, const char *v)
{
	size_t i;

	if (strcmp(v, "*") == 0)
		return 0;
	for (i = 0; v[i]; i++)
		if (!islower((unsigned char)v[i]) && !isdigit((unsigned char)v[i]) &&
		    !strchr(".-:", v[i]))
			break;
	if (i > 0 && i <= 255 && !v[i] && (!strchr(v, ':') || strchr(v, '.') == NULL))
		return 0;
	return bad_value(c, n,
			 "a lowercase host name or address without port (hermetic.default.svc, "
			 "10.0.0.7, ::1) or \"*\"");
}

/* A ui.trusted_proxies entry: an address or a network in CIDR form, as core/netaddr.c reads
 * it for every request. */
int cfg_check_trusted_proxy(struct ctx *c, const struct node *n, const char *v)
{
	struct netaddr_net net;

	if (netaddr_parse_net(v, &net) == 0)
		return 0;
	return bad_value(c, n,
			 "an address or a network with its prefix length (10.42.0.0/16, "
			 "fd00::/8, 10.0.0.7) with no bits set past the prefix");
}

/* ui.password_hash: the form `hermetic ui hash-password` prints, checked by the parser the
 * gateway uses (core/pwhash.c), so a value passed here is one the gateway takes. The value is
 * not echoed. */
int cfg_check_password_hash(struct ctx *c, const struct node *n, const char *v)
{
	struct pwhash p;
	const char *why = "";

	if (pwhash_parse(v, &p, &why) == 0)
		return 0;
	cfg_err(c, n,
		"expected pbkdf2-sha256$<iterations>$<salt>$<hash> as `hermetic ui "
		"hash-password` prints it, but %s (make a new one with `hermetic ui "
		"hash-password`; the password itself does not go in the config)",
		why);
	return -EINVAL;
}

void cfg_api_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_api *a = obj;
	size_t i;

	/* Without a key the API is safe only where no one else can reach it: a browser page can
	 * still reach loopback, and the Host check (apiguard.c) is what stops it there. */
	if (!a->key && !is_loopback(a->listen.host))
		cfg_key_err(c, map, "listen", true,
			    "api.key is not set and %s is not a loopback address: anyone who can "
			    "reach it could run the agent; set api.key (e.g. "
			    "os.environ/API_SERVER_KEY) or listen on 127.0.0.1",
			    a->listen.host);
	for (i = 0; !a->key && i < a->n_allowed_hosts; i++)
		if (strcmp(a->allowed_hosts[i], "*") == 0)
			cfg_key_err(c, map, "allowed_hosts", true,
				    "\"*\" accepts any Host, which lets a web page reach the API "
				    "through DNS rebinding: it needs api.key");
}

/* ------------------------------------------------------------------------------------------
 * After the walk: inherited settings and references
 */

static void resolve_home(struct ctx *c, const struct node *root)
{
	const char *env = getenv("HERMETIC_HOME");

	if (c->cfg->home)
		return;
	if (env && *env && env[0] != '/')
		cfg_err_at(c, root, "HERMETIC_HOME must be an absolute path");
	c->cfg->home = xstrdup(env && *env ? env : CONFIG_DEFAULT_HOME);
}

static bool has_group(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_model_groups; i++)
		if (strcmp(cfg->model_groups[i], name) == 0)
			return true;
	return false;
}

static void collect_groups(struct config *cfg)
{
	size_t i;

	cfg->model_groups = xcalloc(cfg->n_models + 1, sizeof(*cfg->model_groups));
	for (i = 0; i < cfg->n_models; i++)
		if (cfg->models[i].model_name && !has_group(cfg, cfg->models[i].model_name))
			cfg->model_groups[cfg->n_model_groups++] = cfg->models[i].model_name;
}

static void default_model(char **slot, const char *model)
{
	if (!*slot && model)
		*slot = xstrdup(model);
}

static void resolve_models(struct config *cfg)
{
	struct config_auxiliary *a = &cfg->auxiliary;
	size_t i;

	if (!cfg->model && cfg->n_model_groups)
		cfg->model = xstrdup(cfg->model_groups[0]);
	default_model(&a->compression, cfg->model);
	default_model(&a->memory, a->compression);
	default_model(&a->title, cfg->model);
	default_model(&a->session_search, cfg->model);
	default_model(&a->vision, cfg->model);
	default_model(&a->web_extract, cfg->model);
	for (i = 0; i < cfg->n_cron_jobs; i++)
		default_model(&cfg->cron_jobs[i].model, cfg->model);
	for (i = 0; i < cfg->n_hooks; i++)
		default_model(&cfg->hooks[i].model, cfg->model);
}

/* LiteLLM reads these router keys from router_settings (Router's arguments) and
 * litellm_settings (module globals); router_settings wins, and unset in both is LiteLLM's
 * Router default (num_retries: openai.DEFAULT_MAX_RETRIES, 2; allowed_fails 3; cooldown 5 s;
 * max_fallbacks 5). The timeout default stays OpenAI's SDK 600 s rather than LiteLLM's
 * 6000 s: an hour and a half per call holds a Pi's connection slots for nothing. */
static void pick_setting(struct ctx *c, const struct node *root, const char *rkey, const char *lkey,
			 int64_t *r, int64_t l, int64_t def)
{
	const struct node *rs = cfg_map_get(root, "router_settings");

	if (*r >= 0 && l >= 0 && *r != l)
		cfg_warn_at(c, cfg_loc(rs, rkey),
			    "router_settings.%s (%lld) wins over litellm_settings.%s (%lld), as "
			    "in LiteLLM",
			    rkey, (long long)*r, lkey, (long long)l);
	if (*r < 0)
		*r = l >= 0 ? l : def;
}

static bool policy_set(const struct config_retry_policy *p)
{
	return p->rate_limit >= 0 || p->timeout >= 0 || p->internal_server >= 0 ||
	       p->bad_request >= 0 || p->authentication >= 0 || p->content_policy >= 0 ||
	       p->service_unavailable >= 0 || p->not_found >= 0 || p->default_retries >= 0;
}

static void inherit(int64_t *v, int64_t from)
{
	if (*v < 0)
		*v = from;
}

static void resolve_router_settings(struct ctx *c, const struct node *root)
{
	struct config *cfg = c->cfg;
	struct config_router_settings *r = &cfg->router_settings;
	const struct config_litellm_settings *l = &cfg->litellm_settings;
	size_t i;

	pick_setting(c, root, "num_retries", "num_retries", &r->num_retries, l->num_retries, 2);
	pick_setting(c, root, "timeout", "request_timeout", &r->timeout_s, l->request_timeout_s,
		     600);
	pick_setting(c, root, "allowed_fails", "allowed_fails", &r->allowed_fails, l->allowed_fails,
		     3);
	pick_setting(c, root, "cooldown_time", "cooldown_time", &r->cooldown_time_s,
		     l->cooldown_time_s, 5);
	if (r->disable_cooldowns)
		r->cooldown_time_s = 0;
	pick_setting(c, root, "max_fallbacks", "max_fallbacks", &r->max_fallbacks, l->max_fallbacks,
		     5);
	/* retry_policy is one object in LiteLLM: the whole of router_settings' wins. */
	if (policy_set(&r->retry_policy) && policy_set(&l->retry_policy) &&
	    memcmp(&r->retry_policy, &l->retry_policy, sizeof(r->retry_policy)) != 0)
		cfg_warn_at(c, cfg_loc(cfg_map_get(root, "router_settings"), "retry_policy"),
			    "router_settings.retry_policy wins over litellm_settings.retry_policy, "
			    "as in LiteLLM (the latter is not used)");
	else if (!policy_set(&r->retry_policy))
		r->retry_policy = l->retry_policy;
	/* retry_policy entries stay -1 when unset: the router applies LiteLLM's per-class
	 * default (retryable classes use the deployment's num_retries, the others 0). */
	for (i = 0; i < cfg->n_models; i++)
		inherit(&cfg->models[i].litellm_params.num_retries, r->num_retries);
	/* In-flight caps: a deployment's own, else router_settings', else general_settings'. */
	inherit(&r->default_max_parallel_requests, cfg->general_settings.max_parallel_requests);
	for (i = 0; i < cfg->n_models; i++)
		if (cfg->models[i].litellm_params.max_parallel_requests == 0)
			cfg->models[i].litellm_params.max_parallel_requests =
				r->default_max_parallel_requests;
	if (cfg->general_settings.global_max_parallel_requests > 0 &&
	    cfg->general_settings.global_max_parallel_requests <
		    cfg->router.max_concurrent_upstream)
		cfg->router.max_concurrent_upstream =
			cfg->general_settings.global_max_parallel_requests;
}

static const struct config_alias *find_alias(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->router_settings.n_aliases; i++)
		if (strcmp(cfg->router_settings.aliases[i].alias, name) == 0)
			return &cfg->router_settings.aliases[i];
	return NULL;
}

/* An alias that is also a group name takes the group's requests, as in LiteLLM (aliases are
 * looked up first). */
static void check_aliases(struct ctx *c, const struct node *root)
{
	const struct config_router_settings *r = &c->cfg->router_settings;
	const struct node *map =
		cfg_map_get(cfg_map_get(root, "router_settings"), "model_group_alias");
	char a[SHOW_LEN], b[SHOW_LEN];
	size_t i;

	for (i = 0; i < r->n_aliases; i++)
		if (has_group(c->cfg, r->aliases[i].alias))
			cfg_warn_at(c, map ? cfg_loc(map, r->aliases[i].alias) : root,
				    "model_group_alias: '%s' is also a model_name; requests for it "
				    "go to '%s', as in LiteLLM",
				    cfg_show(r->aliases[i].alias, a),
				    cfg_show(r->aliases[i].model, b));
}

static void check_model_ref(struct ctx *c, const struct ref *r)
{
	const struct config *cfg = c->cfg;
	char tmp[SHOW_LEN];
	const char *hint = NULL;
	struct buf known;
	size_t i;

	if (cfg->n_models == 0 || has_group(cfg, r->name))
		return;
	if (r->kind == REF_MODEL_OR_ALIAS && find_alias(cfg, r->name))
		return;
	buf_init(&known, 0);
	for (i = 0; i < cfg->n_model_groups; i++) {
		buf_printf(&known, "%s%s", i ? ", " : "", cfg->model_groups[i]);
		if (!hint && cfg_similar(r->name, cfg->model_groups[i]))
			hint = cfg->model_groups[i];
	}
	if (r->kind == REF_FALLBACK) /* LiteLLM loads it; the chain skips a name that is no group */
		cfg_warn_at(c, r->at,
			    "%s%s'%s' is not a model_name in model_list%s%s%s (known: %s); this "
			    "fallback is skipped, as LiteLLM skips it",
			    r->path, *r->path ? ": " : "", cfg_show(r->name, tmp),
			    hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "",
			    buf_str(&known));
	else
		cfg_err_at(c, r->at, "%s%s'%s' is not a model_name in model_list%s%s%s (known: %s)",
			   r->path, *r->path ? ": " : "", cfg_show(r->name, tmp),
			   hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "",
			   buf_str(&known));
	buf_finish(&known);
}

static void check_refs(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->n_refs && !c->stop; i++) {
		if (c->refs[i].kind != REF_TELEGRAM)
			check_model_ref(c, &c->refs[i]);
		else if (!c->cfg->telegram.enabled)
			cfg_warn_at(c, c->refs[i].at,
				    "%s: Telegram is off (no telegram.token), so this is never "
				    "delivered",
				    c->refs[i].path);
	}
}

static void check_telegram(struct ctx *c, const struct node *root)
{
	struct config_telegram *t = &c->cfg->telegram;

	t->enabled = t->token && *t->token;
	if (t->enabled && t->n_allowed_users == 0)
		cfg_warn_at(
			c, cfg_loc(cfg_map_get(root, "telegram"), "allowed_users"),
			"telegram.allowed_users is empty: nobody will be served (add Telegram user "
			"ids)");
}

/* An open router is a spend faucet: anyone who reaches it calls paid models. */
static void check_router_listen(struct ctx *c, const struct node *root)
{
	const struct config *cfg = c->cfg;

	if (!cfg->router.listen.host || cfg->general_settings.master_key ||
	    cfg->general_settings.master_key_unset || cfg->n_keys ||
	    is_loopback(cfg->router.listen.host))
		return;
	cfg_err_at(
		c, cfg_loc(cfg_map_get(root, "router"), "listen"),
		"router.listen: %s is not a loopback address and neither "
		"general_settings.master_key nor keys is set: anyone who can reach it could spend "
		"your budget; set general_settings.master_key (e.g. "
		"os.environ/LITELLM_MASTER_KEY) or listen on 127.0.0.1",
		cfg->router.listen.addr);
}

/* The cockpit on (ui.enabled) with nothing to log in with. */
static void check_ui(struct ctx *c, const struct node *root)
{
	const struct config *cfg = c->cfg;

	if (cfg->ui.enabled && !cfg->ui.password_hash && !cfg->api.key)
		cfg_err_at(c, cfg_loc(cfg_map_get(root, "ui"), "enabled"),
			   "ui.enabled: the cockpit needs something to log in with: set "
			   "ui.password_hash (hermetic ui hash-password) or api.key");
}

void cfg_finish(struct ctx *c, const struct node *root)
{
	struct config *cfg = c->cfg;

	resolve_home(c, root);
	collect_groups(cfg);
	resolve_models(cfg);
	resolve_router_settings(c, root);
	check_aliases(c, root);
	check_telegram(c, root);
	check_router_listen(c, root);
	check_ui(c, root);
	check_refs(c);
	if (cfg->n_models == 0)
		cfg_warn_at(c, root, "model_list is empty: no model can be called");
}

/* ------------------------------------------------------------------------------------------
 * alerts
 */

/* The host of "scheme://[user@]host[:port][/...]" into out ("::1" without brackets). */
static void url_host(const char *url, char *out, size_t len)
{
	const char *p = strstr(url, "://"), *end, *at;

	out[0] = '\0';
	if (!p)
		return;
	p += 3;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (close)
			snprintf(out, len, "%.*s", (int)(close - p - 1), p + 1);
		return;
	}
	snprintf(out, len, "%.*s", (int)strcspn(p, ":/?#"), p);
}

static bool has_scheme(const char *url, const char *scheme)
{
	size_t n = strlen(scheme);

	return strncasecmp(url, scheme, n) == 0 && url[n] && url[n] != '/';
}

static void email_channel_check(struct ctx *c, const struct node *map,
				const struct config_alert_channel *ch)
{
	char host[256];

	if (!has_scheme(ch->url, "smtps://") && !has_scheme(ch->url, "smtp://"))
		cfg_key_err(c, map, "url", true,
			    "an email channel needs an smtps://host:465 or smtp://host:587 URL");
	url_host(ch->url, host, sizeof(host));
	if (ch->plain_loopback && !is_loopback(host))
		cfg_key_err(c, map, "plain_loopback", true,
			    "mail without STARTTLS is allowed only to a loopback host "
			    "(127.0.0.1, ::1, localhost); use smtps:// or STARTTLS");
	if (ch->plain_loopback && !has_scheme(ch->url, "smtp://"))
		cfg_key_err(c, map, "plain_loopback", true, "applies to smtp:// URLs only");
	if (!ch->from)
		cfg_key_err(c, map, "type", true,
			    "an email channel needs `from` (the sender address)");
	if (!ch->n_to)
		cfg_key_err(c, map, "type", true,
			    "an email channel needs `to` (one or more recipient addresses)");
	if (ch->password && !ch->username)
		cfg_key_err(c, map, "password", true, "a password needs a username");
	if (ch->token)
		cfg_key_err(c, map, "token", true,
			    "email channels authenticate with username and password");
}

void cfg_alert_channel_check(struct ctx *c, const struct node *map, void *obj)
{
	const struct config_alert_channel *ch = obj;

	if (ch->type == CONFIG_ALERT_EMAIL) {
		email_channel_check(c, map, ch);
		return;
	}
	if (!has_scheme(ch->url, "http://") && !has_scheme(ch->url, "https://"))
		cfg_key_err(c, map, "url", true, "expected an http:// or https:// URL");
	if (ch->from || ch->n_to || ch->username || ch->password || ch->plain_loopback)
		cfg_key_err(c, map, "type", true,
			    "from, to, username, password and plain_loopback are for email "
			    "channels only");
}

void cfg_alerts_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_alerts *a = obj;
	static const char *const types[] = {"email", "ntfy", "webhook"};
	size_t i, j;

	/* The floors are low so that tests run in seconds; the defaults are what to use. */
	if (a->poller_down_after_s < 5)
		cfg_key_err(c, map, "poller_down_after", true, "must be at least 5s");
	if (a->mcp_down_after_s < 5)
		cfg_key_err(c, map, "mcp_down_after", true, "must be at least 5s");
	if (a->balance_interval_s < 5)
		cfg_key_err(c, map, "balance_interval", true, "must be at least 5s");
	if (a->heartbeat_interval_s < 1 || a->heartbeat_interval_s > 3600)
		cfg_key_err(c, map, "heartbeat_interval", true, "must be within 1s and 1h");
	for (i = 0; i < a->n_channels; i++) {
		struct config_alert_channel *ch = &a->channels[i];

		if (!ch->name)
			ch->name = xasprintf("%s-%zu", types[ch->type], i + 1);
		for (j = 0; j < i; j++)
			if (strcmp(a->channels[j].name, ch->name) == 0)
				cfg_key_err(c, map, "channels", true,
					    "two channels are named %s; names must differ",
					    ch->name);
	}
}
