/* config_int: what the parts of the config module share, and nothing else.
 *
 * Private to src/core/config*.c: no other file includes it (make lint fails if one does).
 * config.c holds the entry points and owns the load; config_yaml.c builds the tree and the
 * diagnostics; config_walk.c walks it against the tables; config_types.c has one handler per
 * value type; config_check.c the checks; config_table.c the option table as data. Calls go
 * one way (src/core/README.md, "Who calls whom"): a part reaches back only through the
 * function pointers of the tables (cfg_types[], a table's prepare and check). Names shared between
 * the parts carry the cfg_ prefix; what one part uses alone stays static there.
 */
#ifndef HERMETIC_CONFIG_INT_H
#define HERMETIC_CONFIG_INT_H

#include "core/config.h"
#include "core/util.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_ITEMS      4096   /* entries in one YAML sequence or mapping */
#define MAX_NODES      100000 /* YAML nodes in one file */
#define MAX_MERGE_WORK (1 << 22)
#define MAX_DIAG       200    /* stored messages; a failing walk stops when they are full */
#define MAX_WALK       100000 /* keys visited, aliases counted each time they are used */
#define SHOW_LEN       72
#define PATH_LEN       256
#define ENV_NAME_LEN   128

enum ntype { N_SCALAR, N_SEQ, N_MAP };

struct node {
	enum ntype type;
	bool plain; /* plain scalar: null and booleans are recognised */
	unsigned line, col;
	const char *file;   /* the file it was read from (the config's, or an include's) */
	char *text;	    /* scalars: the raw value, env references unresolved */
	char *anchor;	    /* registered once the node is complete (no cycles) */
	struct node **kids; /* sequence items; mapping key, value, key, value, ... */
	size_t n_kids, alloc_kids;
};

struct tree {
	struct node **all; /* every node once, for freeing */
	size_t n_all, alloc_all;
	struct node **anchors;
	size_t n_anchors, alloc_anchors;
	struct node *stack[CONFIG_MAX_DEPTH];
	size_t depth;
	struct node *root;
	char **files; /* the included files' paths, which nodes' file points into */
	size_t n_files, alloc_files;
	size_t docs;
	long merge_work;
};

struct ref;

/* One parse. Errors are counted here to decide success without re-reading the diag. */
struct ctx {
	const char *file;
	const char *text;
	size_t len;
	struct config_diag *diag;
	size_t errors;
	bool defaults; /* applying defaults: skip checks and ranges */
	struct config *cfg;
	char path[PATH_LEN];
	size_t path_len;
	struct ref *refs;
	size_t n_refs, alloc_refs;
	char **secrets;
	size_t n_secrets, alloc_secrets;
	const struct node *secret_at;
	size_t walked;	  /* keys visited so far (MAX_WALK) */
	bool stop;	  /* the diag is full or the walk too long: report nothing more */
	bool strict;	  /* config check --strict: unknown keys in LiteLLM's sections are errors */
	char *unset_env;  /* the variable an F_INACTIVE_ENV value of this model entry lacked */
	char *locked_env; /* the variable an F_LOCK_ENV value lacked */
	struct tree tree;
};

/* REF_FALLBACK: a name in LiteLLM's fallbacks, which LiteLLM loads when it is no group (a
 * warning: the chain skips it). */
enum ref_kind { REF_MODEL, REF_MODEL_OR_ALIAS, REF_TELEGRAM, REF_FALLBACK };

/* A name to check once everything is loaded (model_list may come after its users). */
struct ref {
	enum ref_kind kind;
	char *name;
	char *path;
	const struct node *at;
};

enum otype {
	T_STR,	     /* string (env references resolved) */
	T_INT,	     /* int64_t in [min, max] */
	T_NUM,	     /* double in [min, max] */
	T_BOOL,	     /* bool: true/false/yes/no/on/off, any case */
	T_ENUM,	     /* int from choices */
	T_FLAGS,     /* unsigned bitmask from a list of choices, or "all" */
	T_PERIOD,    /* int64_t seconds from "30s", "30m", "30h", "30d", "2w", "1mo" */
	T_STRS,	     /* char ** + size_t count at n_off */
	T_INTS,	     /* int64_t * + size_t count at n_off */
	T_PAIRS,     /* struct config_pair * + count: a string -> string mapping */
	T_SECTION,   /* an embedded struct filled by table */
	T_LIST,	     /* an array of table->size structs + count, from a sequence of mappings */
	T_MAP,	     /* the same from a mapping of name -> mapping (name at table->name_off) */
	T_LISTEN,    /* struct config_listen */
	T_DELIVER,   /* struct config_deliver */
	T_FALLBACKS, /* struct config_fallback * + count, LiteLLM's [{from: [to, ...]}, ...] */
	T_LIMITS,    /* struct config_model_limit * + count; `default` goes to aux_off */
	T_ALIASES,   /* struct config_alias * + count: LiteLLM's model_group_alias */
	T_JSON, /* char *: a JSON object; each key of this type adds its member (config_litellm.c)
		 */
	N_TYPES,
};

enum {
	F_REQUIRED = 1 << 0,
	F_SECRET = 1 << 1,	/* registered for log redaction, never printed */
	F_MODEL = 1 << 2,	/* names a model group; checked against model_list at the end */
	F_DERIVED = 1 << 3,	/* not a key: a field computed at load, listed so it is freed */
	F_ROOT = 1 << 4,	/* offsets are into struct config: LiteLLM's second spelling */
	F_ONELINE = 1 << 5,	/* no line breaks: the value goes into an HTTP header */
	F_SEQ_IGNORED = 1 << 6, /* a sequence here is LiteLLM's unrelated feature: warn, skip */
	/* With F_SECRET on pairs: only what comes from the environment is redacted. A literal
	 * (PATH, TZ, MODE: read-only) is plain config, and redacting it would blank ordinary
	 * words out of every log line and tool result. */
	F_LITERAL_PUBLIC = 1 << 7,
	F_ONE_OR_LIST = 1 << 8,	 /* T_STRS: a single string is a list of one (Hermes' spelling) */
	F_WARN_UNKNOWN = 1 << 9, /* T_ENUM: an unknown value is a warning and keeps the default */
	F_ALIAS_OK = 1 << 10,	 /* F_MODEL: a model_group_alias name is accepted too */
	/* T_INT of LiteLLM's: a fraction (`timeout: 0.5`) rounds up and a value out of range is
	 * clamped into it, with a warning saying what is used (an error under --strict), as
	 * LiteLLM takes them */
	F_CLAMP = 1 << 13,
	/* A deployment's credential: an unset variable in its `os.environ/NAME` is a warning and
	 * the value is empty (LiteLLM loads such a config and sends no key). */
	F_SOFT_ENV = 1 << 11,
	/* A deployment's setting LiteLLM reads with get_secret (None when unset): an unset
	 * variable is a warning and the deployment loads inactive (config_shapes.c). */
	F_INACTIVE_ENV = 1 << 12,
	/* general_settings.master_key: an unset variable is a warning and the key stays unset
	 * with its variable's name kept (master_key_unset): the router starts locked, never
	 * open. */
	F_LOCK_ENV = 1 << 14,
};

struct choice {
	const char *name;
	int value;
	const char *unsupported; /* set: a LiteLLM value hermetic rejects, and why */
};

typedef int (*check_fn)(struct ctx *c, const struct node *n, const char *value);
typedef void (*table_check_fn)(struct ctx *c, const struct node *map, void *obj);
typedef void (*list_check_fn)(struct ctx *c, const struct node *coll, void *items, size_t n);

struct table;

struct opt {
	const char *key;
	enum otype type;
	size_t off;
	size_t n_off;	 /* lists: offset of the size_t count */
	size_t aux_off;	 /* T_LIMITS: offset of the default */
	const char *def; /* default, parsed like a quoted YAML value */
	int64_t min, max;
	size_t cap;	/* most entries of a list or mapping */
	check_fn check; /* strings: the value; T_PAIRS: each name */
	const struct table *table;
	const struct choice *choices;
	unsigned flags;
	const char *text; /* one line for docs/configuration.md */
};

struct table {
	const char *name; /* in messages about ignored keys and in the ignored-key table */
	const char *path; /* heading in the reference */
	const struct opt *opts;
	size_t n_opts;
	size_t size;	 /* T_LIST/T_MAP element size */
	size_t name_off; /* T_MAP: where the entry's name goes */
	/* LiteLLM owns this section and ignores keys it does not know: an unknown key here is a
	 * warning (an error under --strict) and is listed in the compatibility summary. */
	bool litellm;
	/* Before the walk: the mapping to walk instead of map (default_litellm_params). */
	const struct node *(*prepare)(struct ctx *c, const struct node *map);
	table_check_fn check;	 /* after a mapping was walked without errors */
	list_check_fn check_all; /* after a whole T_LIST/T_MAP was walked */
	bool scalar_first;	 /* T_LIST: an item written as a scalar sets the first option */
	const char *text;
};

struct type_ops {
	const char *doc;
	int (*set)(struct ctx *c, const struct opt *o, const struct node *n, void *obj);
	void (*clear)(const struct opt *o, void *obj);
};

#define AT(base, off, type) ((type *)(void *)((char *)(base) + (off)))
#define MAX_I64		    INT64_MAX /* a range with no upper bound */

/* A LiteLLM or Hermes key hermetic accepts and ignores, and why. */
struct ignored {
	const char *section;
	const char *key;
	const char *why;
};

/* config_yaml.c: diagnostics and the tree. */

/* Adds a message (takes text); an identical one (an alias walked twice) is counted once. */
void cfg_diag_add(struct config_diag *d, const char *file, unsigned line, unsigned col, bool error,
		  char *text);
/* Returns p with room for at least n + 1 elements of size bytes (xrealloc: never NULL). */
void *cfg_grow(void *p, size_t *alloc, size_t n, size_t size);
/* Messages at a node, as written ("unknown key ..."); n NULL means line 1. */
void cfg_err_at(struct ctx *c, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cfg_warn_at(struct ctx *c, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A message at n prefixed with the current key path; cfg_err and cfg_warn wrap it. */
void cfg_prefixed(struct ctx *c, const struct node *n, bool error, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
/* Messages at a node about the current key, prefixed with its path ("agent.max_iterations: "). */
void cfg_err(struct ctx *c, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cfg_warn(struct ctx *c, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* s made safe for a message in out (SHOW_LEN bytes): control and non-ASCII bytes become '?',
 * long text is cut. Returns out. */
const char *cfg_show(const char *s, char *out);
/* A scalar for "got ..." in out (SHOW_LEN bytes); values from the environment are never shown. */
const char *cfg_got(const struct node *n, char *out);
/* "a string", "a sequence", "a mapping": what n is, for messages. */
const char *cfg_kind(const struct node *n);
/* A null scalar (~, null, empty), only when written plain. */
bool cfg_is_null(const struct node *n);
/* Frees every node of t; t itself is the caller's. */
void cfg_tree_free(struct tree *t);
/* Parses c->text into c->tree; 0, or a negative code after reporting why. */
int cfg_tree_build(struct ctx *c);
/* config_include.c: a top-level include: (LiteLLM's ProxyConfig._process_includes) read and
 * merged into the tree, before the walk. */
void cfg_process_includes(struct ctx *c);
/* The value of key in map (borrowed), NULL if absent or map is not a mapping. */
const struct node *cfg_map_get(const struct node *map, const char *key);
/* The value of environment variable name: the config's environment_variables entry, else the
 * process environment's; NULL = unset. Borrowed. */
const char *cfg_getenv(const struct ctx *c, const char *name);
/* The value node of key for a message, else the mapping itself. */
const struct node *cfg_loc(const struct node *map, const char *key);
/* A new empty mapping, or a scalar holding a copy of text, placed at line:col and freed with
 * the tree. For mappings built by the walk (default_litellm_params), never by the parser. */
struct node *cfg_node_map(struct ctx *c, unsigned line, unsigned col);
struct node *cfg_node_scalar(struct ctx *c, unsigned line, unsigned col, const char *text);
/* Appends kid to the mapping or sequence parent (a key and its value are two calls). */
void cfg_node_push(struct node *parent, struct node *kid);
/* Records that key was accepted and ignored in section (a table's path); unknown marks a key
 * hermetic does not know at all. Listed by config_print_compat(). */
void cfg_diag_ignored(struct config_diag *d, const char *section, const char *key, bool unknown);
/* The diag holds its 200 messages: a further warning is only counted (cfg_diag_drop). */
bool cfg_diag_full(const struct config_diag *d);
void cfg_diag_drop(struct config_diag *d, bool error);
/* The diag's --strict setting. */
bool cfg_diag_strict(const struct config_diag *d);

/* config_refs.c: key paths, references, secrets, environment references. */

/* Appends to c->path; returns the old length for cfg_path_pop(). */
size_t cfg_path_push(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t cfg_path_key(struct ctx *c, const char *key);
/* Appends "[i]" to c->path; returns the old length. */
size_t cfg_path_index(struct ctx *c, size_t i);
void cfg_path_pop(struct ctx *c, size_t len);
/* A message about map's key, prefixed with the key's path, at the key's value. */
void cfg_key_err(struct ctx *c, const struct node *map, const char *key, bool error,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* An environment variable name: [A-Za-z_][A-Za-z0-9_]*, shorter than ENV_NAME_LEN. */
bool cfg_env_name_ok(const char *s, size_t len);
/* Registers s as a secret value (log redaction), e.g. a key taken from the environment. */
void cfg_note_secret(struct ctx *c, const struct node *at, const char *s);
/* Records name (of kind, at the current path) to check once the whole file is read; nothing
 * while the defaults are applied. */
void cfg_add_ref(struct ctx *c, enum ref_kind kind, const struct node *at, const char *name);
/* The scalar's value with references resolved (malloc'd), or NULL after an error. flags:
 * F_SECRET registers what the environment gave for redaction; F_SOFT_ENV makes an unset
 * variable a warning and an empty value. */
char *cfg_resolve(struct ctx *c, const struct node *n, unsigned flags);

/* config_types.c: one handler per value type. */

/* One handler per enum otype: parse and check a value into its field, free the field. */
extern const struct type_ops cfg_types[N_TYPES];

/* config_check.c: checks of one value (0, or -EINVAL after reporting), of a mapping or a list
 * (report only), and of the whole config once it is loaded (cfg_finish). */

int cfg_check_abs_path(struct ctx *c, const struct node *n, const char *v);
int cfg_check_command(struct ctx *c, const struct node *n, const char *v);
/* An http:// or https:// URL with a host (cfg_check_url says so as an error). */
bool cfg_url_ok(const char *v);
int cfg_check_url(struct ctx *c, const struct node *n, const char *v);
/* An MCP root: an absolute path or a file:/// URI, on one line. */
int cfg_check_root(struct ctx *c, const struct node *n, const char *v);
int cfg_check_name(struct ctx *c, const struct node *n, const char *v);
int cfg_check_header_name(struct ctx *c, const struct node *n, const char *v);
int cfg_check_env_name(struct ctx *c, const struct node *n, const char *v);
int cfg_check_host_pattern(struct ctx *c, const struct node *n, const char *v);
int cfg_check_field_name(struct ctx *c, const struct node *n, const char *v);
int cfg_check_timezone(struct ctx *c, const struct node *n, const char *v);
int cfg_check_allowed_host(struct ctx *c, const struct node *n, const char *v);
int cfg_check_password_hash(struct ctx *c, const struct node *n, const char *v);
int cfg_check_trusted_proxy(struct ctx *c, const struct node *n, const char *v);
void cfg_model_check(struct ctx *c, const struct node *map, void *obj);
void cfg_cache_point_check(struct ctx *c, const struct node *map, void *obj);
void cfg_models_check_all(struct ctx *c, const struct node *seq, void *items, size_t n);
void cfg_mcp_check(struct ctx *c, const struct node *map, void *obj);
void cfg_mcp_check_all(struct ctx *c, const struct node *map, void *items, size_t n);
/* config_oauth.c: mcp_servers.NAME.auth and .oauth. */
int cfg_check_cimd_url(struct ctx *c, const struct node *n, const char *v);
int cfg_check_oauth_scope(struct ctx *c, const struct node *n, const char *v);
/* The keys that go together (a method's secret, a grant's credential), from cfg_mcp_check. */
void cfg_mcp_auth_check(struct ctx *c, const struct node *map, struct config_mcp_server *s);
void cfg_cron_check(struct ctx *c, const struct node *map, void *obj);
void cfg_cron_check_all(struct ctx *c, const struct node *seq, void *items, size_t n);
void cfg_hook_check(struct ctx *c, const struct node *map, void *obj);
void cfg_reminders_check(struct ctx *c, const struct node *map, void *obj);
void cfg_hooks_check_all(struct ctx *c, const struct node *seq, void *items, size_t n);
void cfg_keys_check_all(struct ctx *c, const struct node *seq, void *items, size_t n);
void cfg_api_check(struct ctx *c, const struct node *map, void *obj);
void cfg_alert_channel_check(struct ctx *c, const struct node *map, void *obj);
void cfg_alerts_check(struct ctx *c, const struct node *map, void *obj);
/* After the walk: inherited settings, model and Telegram references, listen checks. */
void cfg_finish(struct ctx *c, const struct node *root);
/* config_toolout.c: the agent.tool_output table. */
extern const struct table cfg_tool_output_table;
/* config_lanes.c: the lanes.NAME table, and its names checked once the whole file is read
 * (config.c calls cfg_lanes_finish after cfg_finish). */
extern const struct table cfg_lane_table;
void cfg_lanes_finish(struct ctx *c, const struct node *root);

/* config_compat.c: what LiteLLM tolerates and hermetic follows. */

/* A model_list entry with default_litellm_params: the entry to walk, whose litellm_params
 * holds both (litellm_params' own keys win), as LiteLLM merges them. */
const struct node *cfg_model_prepare(struct ctx *c, const struct node *map);

/* config_litellm.c: litellm_params' table and its T_JSON handlers. */
extern const struct table cfg_litellm_params_table;
extern const struct table cfg_default_params_table;
int cfg_set_json(struct ctx *c, const struct opt *o, const struct node *n, void *obj);
void cfg_clear_json(const struct opt *o, void *obj);

/* config_shapes.c: value shapes LiteLLM starts with, rewritten before a section is
 * walked (each is a table's prepare; they warn and return the map hermetic reads). */
const struct node *cfg_shapes_top(struct ctx *c, const struct node *root);
const struct node *cfg_shapes_prometheus(struct ctx *c, const struct node *map);
const struct node *cfg_shapes_retry_policy(struct ctx *c, const struct node *map);
const struct node *cfg_shapes_litellm_settings(struct ctx *c, const struct node *map);
const struct node *cfg_shapes_router_settings(struct ctx *c, const struct node *map);
/* After a model entry's walk: true when an F_INACTIVE_ENV variable was unset; m is then
 * marked inactive (at the entry's litellm_params.model) with its provider fields filled. */
bool cfg_shapes_unset_deactivate(struct ctx *c, const struct node *at, struct config_model *m);
/* Why a deployment of this dialect and model_info.mode cannot be routed the calls its mode
 * implies (a static string), or NULL when it can. Mirrors the routes of router/providers/'
 * dialects (provider_ops.routes). */
const char *cfg_mode_unrouted(enum provider_dialect d, enum config_model_mode mode);
/* LiteLLM's budget words (`monthly` = 30d, ...) as a duration; s itself when it is none. */
const char *cfg_period_alias(const char *s);
/* Marks m inactive with why (copied): it loads, shows in config check, and is not routed. */
void cfg_model_deactivate(struct ctx *c, const struct node *at, struct config_model *m,
			  const char *why);
/* m stays active, as LiteLLM starts with it, but lacks what only its calls need (why says
 * what and where to set it): a warning at `at`, and each call fails with why. */
void cfg_model_needs_at_call(struct ctx *c, const struct node *at, struct config_model *m,
			     const char *why);

/* config_vertex.c: a vertex_ai deployment's publisher dialect, project, location, endpoint
 * and service account (params: its litellm_params mapping, for error locations). */
void cfg_vertex_check(struct ctx *c, const struct node *params, struct config_model *m);

/* config_table.c: the data. */

extern const struct table cfg_tasks_table; /* struct config_tasks (config_tasks.c) */
extern const struct table cfg_top_table;   /* struct config; reaches every other table */
/* config_router.c: the router's sections, which cfg_top_table points at. */
extern const struct table cfg_model_table, cfg_litellm_settings_table, cfg_router_settings_table;
extern const struct table cfg_general_settings_table, cfg_router_table, cfg_key_table;
extern const struct table cfg_budget_table;
/* router_settings.routing_strategy's names, indexed by enum config_routing (read as data by
 * config_shapes.c, which the tables call) */
extern const struct choice cfg_routing_choices[];
/* config_policy.c: the policy tables router_settings and litellm_settings point at */
extern const struct table cfg_retry_policy_table;
extern const struct table cfg_litellm_retry_policy_table;
extern const struct table cfg_allowed_fails_policy_table;
extern const struct table cfg_routing_args_table;

/* config_pools.c: the rate pools' tables and the class names of keys[].priority. */

extern const struct table cfg_rate_pool_table, cfg_priorities_table;
extern const struct choice cfg_class_choices[];
extern const struct ignored cfg_ignored[];
extern const size_t cfg_n_ignored;

/* config_walk.c: the walk, which calls no other part of the module but through cfg_types[]
 * and a table's prepare and check pointers. */

/* Counts cost against MAX_WALK; true (after reporting once) when the walk must stop. */
bool cfg_over_budget(struct ctx *c, const struct node *at, size_t cost);
/* key and cand are close enough for "did you mean" (edit distance <= 2, or a prefix). */
bool cfg_similar(const char *key, const char *cand);
/* Fills obj from map against t, reporting unknown, missing and bad keys. */
void cfg_walk_table(struct ctx *c, const struct table *t, const struct node *map, void *obj);
/* Fills obj with t's defaults, through the same handlers as values from the file. */
void cfg_init_table(struct ctx *c, const struct table *t, void *obj);
/* Frees what t's handlers allocated in obj; obj itself is the caller's. */
void cfg_free_table(const struct table *t, void *obj);

#endif
