/* config_walk: a YAML mapping walked against an option table, the engine under every section.
 *
 * cfg_walk_table() finds each key's option and hands the value to its type's handler through
 * cfg_types[] (config_types.c); the handlers of sections and lists walk their sub-table by
 * calling back in here, so the walk is a recursion through a table of function pointers,
 * never a call from here into a handler's file. Unknown keys are reported here, with the
 * LiteLLM and Hermes keys hermetic ignores (cfg_ignored[]) and a "did you mean". Defaults go
 * through the same handlers (cfg_init_table), and cfg_free_table frees what they allocated.
 * The walk budget (MAX_WALK) caps what aliases can expand to.
 * Apart from config.c, which holds the entry points and calls the load's stages in order:
 * every part of the module may call the walk, and the walk calls none of them.
 */
#include "core/config_int.h"
#include "core/util.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * The LiteLLM and Hermes keys hermetic ignores (cfg_ignored[] in config_table.c)
 */

static bool key_matches(const char *pattern, const char *key)
{
	size_t len = strlen(pattern);

	if (len > 0 && pattern[len - 1] == '*')
		return strncmp(pattern, key, len - 1) == 0;
	return strcmp(pattern, key) == 0;
}

static const struct ignored *find_ignored(const char *section, const char *key)
{
	size_t i;

	for (i = 0; i < cfg_n_ignored; i++)
		if (strcmp(cfg_ignored[i].section, section) == 0 &&
		    key_matches(cfg_ignored[i].key, key))
			return &cfg_ignored[i];
	return NULL;
}

/* ------------------------------------------------------------------------------------------
 * Walking a mapping against a table
 */

static const struct opt *find_opt(const struct table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n_opts; i++)
		if (!(t->opts[i].flags & F_DERIVED) && strcmp(t->opts[i].key, key) == 0)
			return &t->opts[i];
	return NULL;
}

bool cfg_similar(const char *key, const char *cand)
{
	size_t d = edit_distance(key, cand, 2), len = strlen(key);

	if (d <= 2 && d < len)
		return true;
	return len >= 3 && (strncmp(cand, key, len) == 0 || strncmp(key, cand, strlen(cand)) == 0);
}

/* The closest known key: a table key or a LiteLLM key this table ignores. */
static const char *suggest_key(const struct table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n_opts; i++)
		if (!(t->opts[i].flags & F_DERIVED) && cfg_similar(key, t->opts[i].key))
			return t->opts[i].key;
	for (i = 0; i < cfg_n_ignored; i++)
		if (strcmp(cfg_ignored[i].section, t->name) == 0 &&
		    !strchr(cfg_ignored[i].key, '*') && cfg_similar(key, cfg_ignored[i].key))
			return cfg_ignored[i].key;
	return NULL;
}

static void known_keys(const struct table *t, struct buf *out)
{
	size_t i;

	for (i = 0; i < t->n_opts; i++)
		if (!(t->opts[i].flags & F_DERIVED))
			buf_printf(out, "%s%s", *buf_str(out) ? ", " : "", t->opts[i].key);
}

/* The section of t as the reference and the compatibility summary name it. */
static const char *section_name(const struct table *t)
{
	return t == &cfg_top_table ? "top level" : t->path;
}

/* Unknown keys in LiteLLM's sections that stay errors: ignoring one would send the call
 * somewhere the user did not mean (the provider's public URL, its default key). */
static const struct {
	const char *section, *key, *why;
} misroutes[] = {
	{"litellm_params", "base_url",
	 "hermetic reads api_base: if ignored, the call would go to the provider's default URL"},
	{"model_list", "api_base",
	 "it belongs in litellm_params: if ignored, the call would go to the provider's default "
	 "URL"},
	{"model_list", "base_url",
	 "api_base belongs in litellm_params: if ignored, the call would go to the provider's "
	 "default URL"},
	{"model_list", "api_key",
	 "it belongs in litellm_params: if ignored, the call would use the provider's default key "
	 "variable"},
};

static const char *misroute(const struct table *t, const char *key)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(misroutes); i++)
		if (strcmp(misroutes[i].section, t->name) == 0 &&
		    strcmp(misroutes[i].key, key) == 0)
			return misroutes[i].why;
	return NULL;
}

/* In a section LiteLLM owns an unknown key is a warning, as LiteLLM ignores it (an error
 * under --strict, or when ignoring it would misroute the call); in hermetic's own sections it
 * is an error. The top level is both's: LiteLLM's proxy reads the keys it knows and ignores
 * any other (ProxyConfig.load_config), so an unknown top-level key is a warning, with the hint
 * when it is near one of hermetic's (`environment` for `environment_variables`, `agents` for
 * `agent`): what LiteLLM starts with, hermetic starts with. */
static void unknown_key(struct ctx *c, const struct table *t, const struct node *k)
{
	const struct ignored *ig = find_ignored(t->name, k->text);
	const char *hint, *why = misroute(t, k->text);
	bool shared = t == &cfg_top_table;
	bool lenient = (t->litellm || shared) && !c->strict && !why;
	const char *tail = lenient ? " (ignored, as LiteLLM ignores it)" : "";
	void (*say)(struct ctx *, const struct node *, const char *, ...) =
		lenient ? cfg_warn_at : cfg_err_at;
	char key[SHOW_LEN], where[PATH_LEN + 16];
	struct buf known;

	cfg_show(k->text, key);
	snprintf(where, sizeof(where), c->path_len ? "in '%s'" : "at the top level", c->path);
	if ((ig || lenient) && cfg_diag_full(c->diag)) {
		/* past 200 messages a warning is only counted: no hint to compute */
		cfg_diag_ignored(c->diag, section_name(t), key, !ig);
		cfg_diag_drop(c->diag, false);
		return;
	}
	if (why) {
		cfg_err_at(c, k, "unknown key '%s' %s: %s", key, where, why);
		return;
	}
	hint = suggest_key(t, k->text);
	if (ig) {
		cfg_warn_at(c, k, "ignored: '%s' %s: %s", key, where, ig->why);
		cfg_diag_ignored(c->diag, section_name(t), key, false);
		return;
	}
	if (t->litellm || shared)
		cfg_diag_ignored(c->diag, section_name(t), key, true);
	if (hint) {
		say(c, k, "unknown key '%s' %s%s; did you mean '%s'?", key, where, tail, hint);
		return;
	}
	buf_init(&known, 0);
	known_keys(t, &known);
	say(c, k, "unknown key '%s' %s%s; known keys: %s", key, where, tail, buf_str(&known));
	buf_finish(&known);
}

/* Returns the bit of the option the pair set (or tried to), 0 for none. */
static uint64_t walk_pair(struct ctx *c, const struct table *t, const struct node *k,
			  const struct node *v, void *obj)
{
	const struct opt *o;
	size_t at, index;

	if (c->stop || cfg_over_budget(c, k, 1))
		return 0;
	o = find_opt(t, k->text);
	if (!o) {
		unknown_key(c, t, k);
		return 0;
	}
	if (cfg_is_null(v))
		return 0;
	at = cfg_path_key(c, k->text);
	cfg_types[o->type].set(c, o, v, obj);
	cfg_path_pop(c, at);
	index = (size_t)(o - t->opts);
	return index < 64 ? (uint64_t)1 << index : 0;
}

void cfg_walk_table(struct ctx *c, const struct table *t, const struct node *map, void *obj)
{
	size_t i, errors = c->errors;
	uint64_t seen = 0;

	if (t->prepare)
		map = t->prepare(c, map);
	for (i = 0; map->type == N_MAP && i < map->n_kids; i += 2)
		seen |= walk_pair(c, t, map->kids[i], map->kids[i + 1], obj);
	/* a stopped walk saw no keys: they are not missing */
	for (i = 0; !c->stop && i < t->n_opts && i < 64; i++)
		if ((t->opts[i].flags & F_REQUIRED) && !(seen >> i & 1))
			cfg_err(c, map, "missing required key '%s'", t->opts[i].key);
	if (t->check && c->errors == errors)
		t->check(c, map, obj);
}

/* Defaults go through the same handlers as values from the file. */
void cfg_init_table(struct ctx *c, const struct table *t, void *obj)
{
	struct node fake = {.type = N_SCALAR};
	const struct opt *o;
	size_t i;

	for (i = 0; i < t->n_opts; i++) {
		o = &t->opts[i];
		if (o->flags & F_ROOT)
			continue;
		if (o->type == T_SECTION) {
			cfg_init_table(c, o->table, AT(obj, o->off, char));
		} else if (o->def) {
			fake.text = (char *)o->def;
			c->defaults = true;
			cfg_types[o->type].set(c, o, &fake, obj);
			c->defaults = false;
		}
	}
}

void cfg_free_table(const struct table *t, void *obj)
{
	size_t i;

	for (i = 0; i < t->n_opts; i++)
		if (!(t->opts[i].flags & F_ROOT))
			cfg_types[t->opts[i].type].clear(&t->opts[i], obj);
}

/* ------------------------------------------------------------------------------------------
 * The walk budget
 */

/* Aliases let a small file name one big mapping many times: cap the values visited. */
bool cfg_over_budget(struct ctx *c, const struct node *at, size_t cost)
{
	c->walked += cost;
	if (c->walked <= MAX_WALK)
		return false;
	if (!c->stop)
		cfg_err(c, at, "the config expands (through aliases) to more than %d values",
			MAX_WALK);
	c->stop = true;
	return true;
}
