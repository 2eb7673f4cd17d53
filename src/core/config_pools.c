/* config_pools: the keys of the rate pools (docs/pools.md) as table data and their checks:
 * `rate_pools:` (name -> tpm, rpm, models), `priorities:` (the interactive reserve, each
 * class's max_wait_s, the queue bound) and the class names that `keys[].priority` takes. Kept
 * apart from config_table.c, which is at its size limit; walked by the same code.
 */
#include "core/config_int.h"
#include "core/util.h"

#include <stddef.h>
#include <string.h>

#define FLD(s, f) .off = offsetof(struct s, f)
#define CNT(s, f) .n_off = offsetof(struct s, f)
#define OPTS(v)	  .opts = v, .n_opts = ARRAY_LEN(v)

_Static_assert(sizeof(enum config_pool_class) == sizeof(int), "enum size");

const struct choice cfg_class_choices[] = {
	{"interactive", CONFIG_CLASS_INTERACTIVE, NULL},
	{"api", CONFIG_CLASS_API, NULL},
	{"hook", CONFIG_CLASS_HOOK, NULL},
	{"scheduled", CONFIG_CLASS_SCHEDULED, NULL},
	{"background", CONFIG_CLASS_BACKGROUND, NULL},
	{NULL, 0, NULL},
};

/* A pool without a ceiling is a mistake, not "unlimited": say so where it is. */
static void rate_pool_check(struct ctx *c, const struct node *map, void *obj)
{
	const struct config_rate_pool *p = obj;

	if (p->tpm <= 0 && p->rpm <= 0)
		cfg_err(c, map, "set tpm, rpm or both (a pool without a ceiling limits nothing)");
}

/* A group draws from one account: in two pools its calls would need room in both. */
static void rate_pools_check_all(struct ctx *c, const struct node *map, void *items, size_t n)
{
	const struct config_rate_pool *p = items;
	char tmp[SHOW_LEN];

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < p[i].n_models; k++)
			for (size_t j = 0; j < i; j++)
				for (size_t l = 0; l < p[j].n_models; l++)
					if (strcmp(p[i].models[k], p[j].models[l]) == 0)
						cfg_err_at(c,
							   cfg_loc(map->kids[2 * i + 1], "models"),
							   "rate_pools.%s: model group '%s' is "
							   "already in rate_pools.%s; a group "
							   "draws from one pool",
							   p[i].name, cfg_show(p[i].models[k], tmp),
							   p[j].name);
}

static const struct opt rate_pool_opts[] = {
	{"tpm", T_INT, FLD(config_rate_pool, tpm), .def = "0", .min = 0, .max = 1000000000,
	 .text = "tokens per minute (prompt + completion, sliding 60 s); 0 = no token limit"},
	{"rpm", T_INT, FLD(config_rate_pool, rpm), .def = "0", .min = 0, .max = 10000000,
	 .text = "requests per minute; 0 = no request limit"},
	{"models", T_STRS, FLD(config_rate_pool, models), CNT(config_rate_pool, n_models),
	 .cap = 256, .flags = F_REQUIRED | F_MODEL,
	 .text = "model groups (model_name) whose deployments draw from this pool"},
	{"(name)", T_STR, FLD(config_rate_pool, name), .flags = F_DERIVED},
};

const struct table cfg_rate_pool_table = {
	"rate_pools",
	"rate_pools.NAME",
	OPTS(rate_pool_opts),
	.size = sizeof(struct config_rate_pool),
	.name_off = offsetof(struct config_rate_pool, name),
	.check = rate_pool_check,
	.check_all = rate_pools_check_all,
	.text = "Rate pools by name: one provider account's ceiling, shared by every deployment "
		"of its groups; every model call reserves its estimate before it leaves and waits "
		"for room in class order (docs/pools.md). A deployment's own `tpm`/`rpm` is a pool "
		"of one besides."};

#define WAIT(i) .off = (i) * sizeof(int64_t)

static const struct opt max_wait_opts[] = {
	{"interactive", T_INT, WAIT(CONFIG_CLASS_INTERACTIVE), .def = "10", .min = 0, .max = 86400,
	 .text = "Telegram, cockpit and `hermetic chat` turns"},
	{"api", T_INT, WAIT(CONFIG_CLASS_API), .def = "30", .min = 0, .max = 86400,
	 .text = "the agent API and router clients"},
	{"hook", T_INT, WAIT(CONFIG_CLASS_HOOK), .def = "120", .min = 0, .max = 86400,
	 .text = "hooks"},
	{"scheduled", T_INT, WAIT(CONFIG_CLASS_SCHEDULED), .def = "600", .min = 0, .max = 86400,
	 .text = "cron jobs, reminders, health checks, Alertmanager investigations"},
	{"background", T_INT, WAIT(CONFIG_CLASS_BACKGROUND), .def = "1800", .min = 0, .max = 86400,
	 .text = "background tasks, subagents, memory condensation"},
};

static const struct table max_wait_table = {
	"max_wait_s", "priorities.max_wait_s", OPTS(max_wait_opts),
	.text = "Seconds a call of each class may wait for room in its pools; past it the call "
		"falls back to the next group of its chain that has room, else fails (429 with "
		"retry-after). 0 = never waits."};

static const struct opt priorities_opts[] = {
	{"interactive_reserve_pct", T_INT, FLD(config_priorities, interactive_reserve_pct),
	 .def = "30", .min = 0, .max = 90,
	 .text = "share of every pool's tokens and requests only interactive work may use"},
	{"max_wait_s", T_SECTION, FLD(config_priorities, max_wait_s), .table = &max_wait_table},
	{"max_waiters", T_INT, FLD(config_priorities, max_waiters), .def = "1024", .min = 1,
	 .max = 100000, .text = "calls waiting at once in all pools; past it a call fails at once"},
};

const struct table cfg_priorities_table = {
	"priorities", "priorities", OPTS(priorities_opts),
	.text = "How the rate pools serve the classes: interactive first, then api, hook, "
		"scheduled, background, each in arrival order (docs/pools.md)."};
