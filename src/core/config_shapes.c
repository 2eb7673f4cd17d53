/* config_shapes: value shapes LiteLLM's proxy starts with that hermetic's option tables
 * do not take as written. Each is rewritten in the tree before its section is walked (a table's
 * `prepare`), into the shape hermetic reads or out of the tree, with a warning that says what
 * LiteLLM does with it (docs/litellm-compat.md, "How LiteLLM reads config.yaml", has the source
 * of each rule):
 * - a top-level `prometheus:` with keys hermetic's toolset does not have is LiteLLM's, which
 *   ignores a top-level prometheus: (proxy_server.py reads no such key): ignored whole;
 * - an `environment_variables` value that is a mapping or a list: LiteLLM sets the variable to
 *   its Python text (`os.environ[key] = str(value)`); hermetic leaves it unset;
 * - a `retry_policy` entry whose value is not a count: LiteLLM's Router keeps the dict and
 *   builds its RetryPolicy only when a call fails; hermetic drops the entry;
 * - `litellm_settings.fallbacks` as a list of group names: LiteLLM's Router takes it when
 *   router_settings has no fallbacks (`fallbacks or litellm.fallbacks`), as the generic form
 *   that applies to every group: read as default_fallbacks;
 * - a `routing_strategy` LiteLLM does not know (`usage-based`): Router.routing_strategy_init
 *   sets up nothing for it and the Router picks as simple-shuffle; so does hermetic;
 * - a `model_group_alias` value that is a list, or that names no model_name: the Router keeps
 *   the dict and reads an alias only when it is called (Router._get_model_from_alias): that
 *   alias is dropped;
 * - `budget_duration` words (`monthly`...): LiteLLM's duration_in_seconds maps them first.
 * Rejected: accepting these shapes in the generic value handlers (config_types.c), which would
 * make every key of that type take them, LiteLLM's or not.
 */
#include "core/config.h"
#include "core/config_int.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A new mapping with map's pairs but those keep() refuses. */
static struct node *filter_map(struct ctx *c, const struct node *map,
			       bool (*keep)(struct ctx *, const struct node *, const struct node *))
{
	struct node *m = cfg_node_map(c, map->line, map->col);
	size_t i;

	for (i = 0; i + 1 < map->n_kids; i += 2) {
		if (!keep(c, map->kids[i], map->kids[i + 1]))
			continue;
		cfg_node_push(m, map->kids[i]);
		cfg_node_push(m, map->kids[i + 1]);
	}
	return m;
}

static bool any_pair(const struct node *map, bool (*test)(const struct node *, const struct node *))
{
	size_t i;

	for (i = 0; map->type == N_MAP && i + 1 < map->n_kids; i += 2)
		if (test(map->kids[i], map->kids[i + 1]))
			return true;
	return false;
}

/* ------------------------------------------------------------------------------------------
 * The top level: environment_variables values
 */

static bool not_scalar(const struct node *k, const struct node *v)
{
	(void)k;
	return v->type != N_SCALAR;
}

static bool keep_env_value(struct ctx *c, const struct node *k, const struct node *v)
{
	char key[SHOW_LEN];

	if (v->type == N_SCALAR)
		return true;
	cfg_warn_at(c, k,
		    "environment_variables.%s is %s: LiteLLM sets the variable to its Python "
		    "text; hermetic leaves it unset (write the value as a string)",
		    cfg_show(k->text, key), cfg_kind(v));
	return false;
}

static struct node *without_key(struct ctx *c, const struct node *map, const char *key)
{
	struct node *m = cfg_node_map(c, map->line, map->col);
	size_t i;

	for (i = 0; i + 1 < map->n_kids; i += 2) {
		if (strcmp(map->kids[i]->text, key) == 0)
			continue;
		cfg_node_push(m, map->kids[i]);
		cfg_node_push(m, map->kids[i + 1]);
	}
	return m;
}

static struct node *replace_value(struct ctx *c, const struct node *map, const char *key,
				  struct node *value)
{
	struct node *m = cfg_node_map(c, map->line, map->col);
	size_t i;

	for (i = 0; i + 1 < map->n_kids; i += 2) {
		cfg_node_push(m, map->kids[i]);
		cfg_node_push(m, strcmp(map->kids[i]->text, key) == 0 ? value : map->kids[i + 1]);
	}
	return m;
}

const struct node *cfg_shapes_top(struct ctx *c, const struct node *root)
{
	const struct node *env = cfg_map_get(root, "environment_variables");

	if (!env || env->type != N_MAP || !any_pair(env, not_scalar))
		return root;
	return replace_value(c, root, "environment_variables", filter_map(c, env, keep_env_value));
}

/* ------------------------------------------------------------------------------------------
 * prometheus: hermetic's toolset, or LiteLLM's ignored key
 */

static bool not_toolset_key(const struct node *k, const struct node *v)
{
	(void)v;
	return strcmp(k->text, "url") != 0 && strcmp(k->text, "timeout_s") != 0;
}

const struct node *cfg_shapes_prometheus(struct ctx *c, const struct node *map)
{
	char key[SHOW_LEN];
	size_t i;

	if (map->type != N_MAP || !any_pair(map, not_toolset_key))
		return map;
	for (i = 0; !not_toolset_key(map->kids[i], NULL); i += 2)
		;
	cfg_warn_at(c, map->kids[i],
		    "'prometheus' has LiteLLM's shape ('%s' is no key of hermetic's prometheus "
		    "toolset, which takes url and timeout_s): read as LiteLLM's, which ignores a "
		    "top-level prometheus:, so it is ignored (hermetic serves its metrics at "
		    "/metrics)",
		    cfg_show(map->kids[i]->text, key));
	cfg_diag_ignored(c->diag, "top level", "prometheus", false);
	return cfg_node_map(c, map->line, map->col);
}

/* ------------------------------------------------------------------------------------------
 * retry_policy entries that are not counts
 */

static bool keep_retry_count(struct ctx *c, const struct node *k, const struct node *v)
{
	char key[SHOW_LEN];

	if (v->type == N_SCALAR)
		return true;
	cfg_warn_at(c, k,
		    "'%s' in '%s' is %s, not a count: LiteLLM starts with it (its Router reads "
		    "retry_policy only when a call fails); hermetic ignores this entry",
		    cfg_show(k->text, key), c->path, cfg_kind(v));
	return false;
}

const struct node *cfg_shapes_retry_policy(struct ctx *c, const struct node *map)
{
	if (map->type != N_MAP || !any_pair(map, not_scalar))
		return map;
	return filter_map(c, map, keep_retry_count);
}

/* ------------------------------------------------------------------------------------------
 * litellm_settings.fallbacks as a list of group names
 */

static bool all_scalars(const struct node *seq)
{
	size_t i;

	for (i = 0; i < seq->n_kids; i++)
		if (seq->kids[i]->type != N_SCALAR)
			return false;
	return seq->n_kids > 0;
}

const struct node *cfg_shapes_litellm_settings(struct ctx *c, const struct node *map)
{
	const struct node *fb = map->type == N_MAP ? cfg_map_get(map, "fallbacks") : NULL;
	const struct node *root = c->tree.root, *rs;
	struct node *m, *k;
	size_t i;

	if (!fb || fb->type != N_SEQ || !all_scalars(fb))
		return map;
	rs = root && root->type == N_MAP ? cfg_map_get(root, "router_settings") : NULL;
	if ((rs && rs->type == N_MAP && cfg_map_get(rs, "fallbacks")) ||
	    cfg_map_get(map, "default_fallbacks")) {
		cfg_warn_at(c, fb,
			    "litellm_settings.fallbacks is a list of group names, LiteLLM's form "
			    "for every group; %s is set, which LiteLLM's Router takes instead, so "
			    "this list is ignored",
			    cfg_map_get(map, "default_fallbacks") ? "default_fallbacks"
								  : "router_settings.fallbacks");
		return without_key(c, map, "fallbacks");
	}
	cfg_warn_at(c, fb,
		    "litellm_settings.fallbacks is a list of group names: LiteLLM tries them after "
		    "any group fails; read as default_fallbacks");
	m = cfg_node_map(c, map->line, map->col);
	for (i = 0; i + 1 < map->n_kids; i += 2) {
		k = map->kids[i];
		if (map->kids[i + 1] == fb)
			k = cfg_node_scalar(c, k->line, k->col, "default_fallbacks");
		cfg_node_push(m, k);
		cfg_node_push(m, map->kids[i + 1]);
	}
	return m;
}

/* ------------------------------------------------------------------------------------------
 * router_settings.routing_strategy LiteLLM does not know
 */

static bool known_strategy(const char *s)
{
	int r;

	for (r = CONFIG_ROUTING_SIMPLE_SHUFFLE; r <= CONFIG_ROUTING_COST; r++)
		if (strcmp(cfg_routing_choices[r].name, s) == 0)
			return true;
	return false;
}

static bool unresolved(const char *s)
{
	return strchr(s, '*') || strstr(s, "os.environ/") || strstr(s, "${");
}

/* A model_name of model_list in the tree (include: already merged) is name, or one may be:
 * a wildcard or a variable could be it. */
static bool may_be_group(const struct node *root, const char *name)
{
	const struct node *list =
		root && root->type == N_MAP ? cfg_map_get(root, "model_list") : NULL;
	const struct node *n;
	size_t i;

	if (unresolved(name) || !list || list->type != N_SEQ)
		return true;
	for (i = 0; i < list->n_kids; i++) {
		n = list->kids[i]->type == N_MAP ? cfg_map_get(list->kids[i], "model_name") : NULL;
		if (!n || n->type != N_SCALAR || unresolved(n->text) || strcmp(n->text, name) == 0)
			return true;
	}
	return false;
}

static bool keep_alias(struct ctx *c, const struct node *k, const struct node *v)
{
	const struct node *to = v->type == N_MAP ? cfg_map_get(v, "model") : v;
	char key[SHOW_LEN], val[SHOW_LEN];

	if (to && to->type == N_SCALAR && !cfg_is_null(to) &&
	    !may_be_group(c->tree.root, to->text)) {
		/* Router._get_model_from_alias reads it only when the alias is called */
		cfg_warn_at(
			c, to,
			"router_settings.model_group_alias.%s: '%s' is not a model_name in "
			"model_list: LiteLLM starts with it and fails a call to the alias; this "
			"alias is not served",
			cfg_show(k->text, key), cfg_show(to->text, val));
		return false;
	}
	if (v->type != N_SEQ)
		return true;
	cfg_warn_at(c, k,
		    "router_settings.model_group_alias.%s is a list: LiteLLM starts with it and "
		    "fails a call to the alias (it takes a group name or {model, hidden}); this "
		    "alias is not served",
		    cfg_show(k->text, key));
	return false;
}

/* model_group_alias entries whose value is a list or names no group, dropped with a
 * warning. */
static const struct node *alias_lists(struct ctx *c, const struct node *map)
{
	const struct node *a = map->type == N_MAP ? cfg_map_get(map, "model_group_alias") : NULL;

	if (!a || a->type != N_MAP)
		return map;
	return replace_value(c, map, "model_group_alias", filter_map(c, a, keep_alias));
}

const struct node *cfg_shapes_router_settings(struct ctx *c, const struct node *map)
{
	const struct node *rs;
	char val[SHOW_LEN];
	struct buf names;
	int r;

	map = alias_lists(c, map);
	rs = map->type == N_MAP ? cfg_map_get(map, "routing_strategy") : NULL;
	if (!rs || rs->type != N_SCALAR || cfg_is_null(rs) || known_strategy(rs->text))
		return map;
	buf_init(&names, 0);
	for (r = CONFIG_ROUTING_SIMPLE_SHUFFLE; r <= CONFIG_ROUTING_COST; r++)
		buf_printf(&names, "%s%s", r ? ", " : "", cfg_routing_choices[r].name);
	cfg_warn_at(
		c, rs,
		"router_settings.routing_strategy: '%s' is not a LiteLLM routing strategy (%s); "
		"LiteLLM starts with it and picks as simple-shuffle, and so does hermetic",
		cfg_show(rs->text, val), buf_str(&names));
	buf_finish(&names);
	return replace_value(c, map, "routing_strategy",
			     cfg_node_scalar(c, rs->line, rs->col, "simple-shuffle"));
}

/* ------------------------------------------------------------------------------------------
 * budget_duration words
 */

/* LiteLLM's _BUDGET_DURATION_WORD_ALIASES (litellm/litellm_core_utils/duration_parser.py). */
static const char *const period_words[][2] = {
	{"hourly", "1h"},
	{"daily", "24h"},
	{"weekly", "7d"},
	{"monthly", "30d"},
};

const char *cfg_period_alias(const char *s)
{
	const char *p = s;
	size_t i, len;

	while (*p == ' ' || *p == '\t')
		p++;
	len = strlen(p);
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	for (i = 0; i < ARRAY_LEN(period_words); i++)
		if (strlen(period_words[i][0]) == len &&
		    strncasecmp(p, period_words[i][0], len) == 0)
			return period_words[i][1];
	return s;
}

/* ------------------------------------------------------------------------------------------
 * A deployment's setting whose variable is unset
 */

bool cfg_shapes_unset_deactivate(struct ctx *c, const struct node *at, struct config_model *m)
{
	char *why;

	if (!c->unset_env)
		return false;
	why = xasprintf("environment variable %s is not set", c->unset_env);
	free(c->unset_env);
	c->unset_env = NULL;
	if (!m->provider)
		m->provider = xstrdup("");
	if (!m->upstream_model)
		m->upstream_model = xstrdup("");
	m->dialect = DIALECT_OPENAI;
	cfg_model_deactivate(c, at, m, why);
	free(why);
	return true;
}

/* ------------------------------------------------------------------------------------------
 * What a mode implies
 */

const char *cfg_mode_unrouted(enum provider_dialect d, enum config_model_mode mode)
{
	bool openai = d == DIALECT_OPENAI || d == DIALECT_AZURE;

	switch (mode) {
	case CONFIG_MODE_MODERATION:
		return "mode moderation: hermetic serves no /v1/moderations";
	case CONFIG_MODE_EMBEDDING:
		return openai || d == DIALECT_GEMINI
			       ? NULL
			       : "mode embedding: /v1/embeddings goes to "
				 "OpenAI-compatible providers and gemini only";
	case CONFIG_MODE_IMAGE_GENERATION:
		return openai || d == DIALECT_GEMINI || d == DIALECT_VERTEX
			       ? NULL
			       : "mode image_generation: /v1/images/generations goes to "
				 "OpenAI-compatible providers, gemini and vertex_ai (Imagen, "
				 "Gemini "
				 "image models) only";
	case CONFIG_MODE_AUDIO_TRANSCRIPTION:
	case CONFIG_MODE_AUDIO_SPEECH:
	case CONFIG_MODE_RERANK:
		return openai ? NULL
			      : "its mode's route (audio, rerank) goes to "
				"OpenAI-compatible "
				"providers only";
	case CONFIG_MODE_CHAT:
	case CONFIG_MODE_COMPLETION:
	case CONFIG_MODE_RESPONSES:
		break;
	}
	return NULL;
}
