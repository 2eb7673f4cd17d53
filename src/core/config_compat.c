/* config_compat: what a LiteLLM config may hold that hermetic follows as LiteLLM does.
 *
 * Owns three things: default_litellm_params (merged under a model_list entry's
 * litellm_params before the walk, by building a new mapping in the tree, so every key of
 * both is checked by the one litellm_params table and keeps its own FILE:LINE:COL); the
 * mark that makes a deployment inactive (loaded, shown, not routed); and the compatibility
 * summary `config check` prints (the keys ignored, by section, and the deployments).
 * It does not own which sections are LiteLLM's (the `litellm` flag of each table in
 * config_table.c) nor the unknown-key message (config.c's walk).
 * Rejected: merging default_litellm_params field by field after the walk, which cannot tell
 * a value the user wrote from a default, and would check the defaults' keys twice.
 */
#include "core/config.h"
#include "core/config_int.h"
#include "core/log.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * default_litellm_params
 */

static bool has_key(const struct node *map, const char *key)
{
	return cfg_map_get(map, key) != NULL;
}

/* The merge looks up each default in litellm_params: an entry aliased many times with big
 * mappings must not buy quadratic work for free, so it is charged to the walk budget. */
static size_t merge_cost(const struct node *params, const struct node *defs)
{
	size_t p = params ? params->n_kids / 2 : 0, d = defs->n_kids / 2;

	return p + d + p * d / 16;
}

/* litellm_params' pairs, then default_litellm_params' pairs litellm_params lacks. */
static struct node *merge_params(struct ctx *c, const struct node *params, const struct node *defs)
{
	const struct node *first = params ? params : defs;
	struct node *m = cfg_node_map(c, first->line, first->col);
	size_t i;

	for (i = 0; params && i < params->n_kids; i++)
		cfg_node_push(m, params->kids[i]);
	for (i = 0; i + 1 < defs->n_kids; i += 2) {
		if (params && has_key(params, defs->kids[i]->text))
			continue;
		cfg_node_push(m, defs->kids[i]);
		cfg_node_push(m, defs->kids[i + 1]);
	}
	return m;
}

const struct node *cfg_model_prepare(struct ctx *c, const struct node *map)
{
	const struct node *defs = cfg_map_get(map, "default_litellm_params");
	const struct node *params = cfg_map_get(map, "litellm_params"), *k;
	struct node *entry, *merged = NULL;
	size_t i;

	if (!defs)
		return map;
	if (!cfg_is_null(defs) && defs->type != N_MAP)
		cfg_key_err(c, map, "default_litellm_params", true, "expected a mapping, got %s",
			    cfg_kind(defs));
	else if (defs->type == N_MAP && (!params || params->type == N_MAP) &&
		 !cfg_over_budget(c, defs, merge_cost(params, defs)))
		merged = merge_params(c, params, defs);
	entry = cfg_node_map(c, map->line, map->col);
	for (i = 0; i + 1 < map->n_kids; i += 2) {
		k = map->kids[i];
		if (strcmp(k->text, "default_litellm_params") == 0)
			continue;
		cfg_node_push(entry, map->kids[i]);
		if (merged && strcmp(k->text, "litellm_params") == 0)
			cfg_node_push(entry, merged);
		else
			cfg_node_push(entry, map->kids[i + 1]);
	}
	if (merged && !params) {
		k = cfg_map_get(map, "default_litellm_params");
		cfg_node_push(entry, cfg_node_scalar(c, k->line, k->col, "litellm_params"));
		cfg_node_push(entry, merged);
	}
	return entry;
}

/* ------------------------------------------------------------------------------------------
 * Inactive deployments
 */

void cfg_model_deactivate(struct ctx *c, const struct node *at, struct config_model *m,
			  const char *why)
{
	char name[SHOW_LEN];

	cfg_warn(c, at, "deployment of '%s' is inactive: %s; calls to it get an error",
		 cfg_show(m->model_name ? m->model_name : "?", name), why);
	free(m->inactive);
	m->inactive = xstrdup(why);
}

void cfg_model_needs_at_call(struct ctx *c, const struct node *at, struct config_model *m,
			     const char *why)
{
	char name[SHOW_LEN];

	cfg_warn(c, at,
		 "deployment of '%s' is active (LiteLLM starts with it and reads this only at "
		 "call time), but its calls fail until: %s",
		 cfg_show(m->model_name ? m->model_name : "?", name), why);
	free(m->needs_at_call);
	m->needs_at_call = xstrdup(why);
}

/* ------------------------------------------------------------------------------------------
 * The compatibility summary
 */

static bool seen_before(const struct config_diag *d, size_t i, const char *section)
{
	const char *s, *k;
	size_t j, n;
	bool u;

	for (j = 0; j < i && config_diag_ignored(d, j, &s, &k, &n, &u); j++)
		if (strcmp(s, section) == 0)
			return true;
	return false;
}

/* "  ignored in SECTION: a, b (unknown), c (x3)" for the section of the i-th key. */
static void put_section(const struct config_diag *d, size_t i, const char *section, struct buf *b)
{
	const char *s, *k;
	size_t n, j, shown = 0;
	bool unknown;

	buf_printf(b, "  ignored in %s:", section);
	for (j = i; config_diag_ignored(d, j, &s, &k, &n, &unknown); j++) {
		if (strcmp(s, section) != 0)
			continue;
		buf_printf(b, "%s %s%s", shown++ ? "," : "", k, unknown ? " (unknown)" : "");
		if (n > 1)
			buf_printf(b, " (x%zu)", n);
	}
	buf_puts(b, "\n");
}

void config_print_compat(const struct config *cfg, const struct config_diag *d, FILE *out)
{
	const char *section, *key;
	size_t i, n, inactive = 0;
	struct buf b;
	char *clean;
	bool unknown;

	if (cfg->n_models == 0 && !config_diag_ignored(d, 0, &section, &key, &n, &unknown))
		return;
	buf_init(&b, 0);
	buf_puts(&b, "LiteLLM compatibility:\n");
	for (i = 0; config_diag_ignored(d, i, &section, &key, &n, &unknown); i++)
		if (!seen_before(d, i, section))
			put_section(d, i, section, &b);
	if (config_diag_ignored_dropped(d))
		buf_printf(&b, "  ignored: %zu more keys not listed\n",
			   config_diag_ignored_dropped(d));
	for (i = 0; i < cfg->n_models; i++) {
		if (!cfg->models[i].inactive)
			continue;
		inactive++;
		buf_printf(&b, "  inactive: %s (%s): %s\n", cfg->models[i].model_name,
			   cfg->models[i].litellm_params.model, cfg->models[i].inactive);
	}
	for (i = 0; i < cfg->n_models; i++)
		if (!cfg->models[i].inactive && cfg->models[i].needs_at_call)
			buf_printf(&b, "  active, its calls fail until set: %s (%s): %s\n",
				   cfg->models[i].model_name, cfg->models[i].litellm_params.model,
				   cfg->models[i].needs_at_call);
	buf_printf(&b, "deployments: %zu active, %zu inactive\n", cfg->n_models - inactive,
		   inactive);
	/* a reason may quote a value: secrets go out redacted, as in the rest of the summary */
	clean = log_redact(buf_str(&b));
	fputs(clean, out);
	free(clean);
	buf_finish(&b);
}
