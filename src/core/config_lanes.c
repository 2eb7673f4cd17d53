/* config_lanes: the `lanes:` section (docs/security.md, "Lanes"): its option table and checks.
 *
 * Its own file because config_table.c is at the size limit. Lanes are a mapping in file order,
 * most sensitive first (router/lane.c ranks them by that order). What a lane names is checked
 * at load: model groups (through the F_MODEL references), detectors (the choices), regexes
 * (compiled once here), chat ids, and, once the whole file is read, MCP servers and key
 * aliases, which may come after `lanes:`.
 */
#include "core/config_int.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#define FLD(s, f) .off = offsetof(struct s, f)
#define CNT(s, f) .n_off = offsetof(struct s, f)
#define OPTS(v)	  .opts = v, .n_opts = ARRAY_LEN(v)
#define LIST_CAP  256
#define REGEX_MAX 512

static const struct choice redact_choices[] = {
	{"email", CONFIG_REDACT_EMAIL, NULL}, {"phone", CONFIG_REDACT_PHONE, NULL},
	{"iban", CONFIG_REDACT_IBAN, NULL},   {"card", CONFIG_REDACT_CARD, NULL},
	{"ip", CONFIG_REDACT_IP, NULL},	      {NULL, 0, NULL},
};

/* "CHAT" or "CHAT:TOPIC": a Telegram chat id (may be negative) and a topic id. */
static int check_chat(struct ctx *c, const struct node *n, const char *v)
{
	const char *p = v + (*v == '-');
	size_t digits = strspn(p, "0123456789"), topic;

	if (digits && digits <= 20 && p[digits] == '\0')
		return 0;
	if (digits && digits <= 20 && p[digits] == ':') {
		topic = strspn(p + digits + 1, "0123456789");
		if (topic && topic <= 20 && p[digits + 1 + topic] == '\0')
			return 0;
	}
	cfg_err(c, n, "expected a chat id or chat:topic (\"-1001234567890\", \"-100123:7\")");
	return -EINVAL;
}

static int check_regex(struct ctx *c, const struct node *n, const char *v)
{
	regex_t re;
	char why[160];
	int rc;

	if (strlen(v) > REGEX_MAX) {
		cfg_err(c, n, "a redact pattern is at most %d characters", REGEX_MAX);
		return -EINVAL;
	}
	rc = regcomp(&re, v, REG_EXTENDED);
	if (rc != 0) {
		regerror(rc, &re, why, sizeof(why));
		cfg_err(c, n, "not a POSIX extended regex: %s", why);
		return -EINVAL;
	}
	regfree(&re);
	return 0;
}

static const struct opt lane_opts[] = {
	{"(name)", T_STR, FLD(config_lane, name), .flags = F_DERIVED},
	{"models", T_STRS, FLD(config_lane, models), CNT(config_lane, n_models), .cap = LIST_CAP,
	 .flags = F_REQUIRED | F_MODEL,
	 .text = "the only model groups a call in this lane may reach (fallbacks and auxiliary "
		 "calls too)"},
	{"chats", T_STRS, FLD(config_lane, chats), CNT(config_lane, n_chats), .cap = LIST_CAP,
	 .check = check_chat,
	 .text = "Telegram chats (`\"-100123\"`, every topic) or `chat:topic` whose turns are in "
		 "this lane"},
	{"skills", T_STRS, FLD(config_lane, skills), CNT(config_lane, n_skills), .cap = LIST_CAP,
	 .check = cfg_check_name,
	 .text = "loading one of these skills raises the turn to this lane"},
	{"mcp_servers", T_STRS, FLD(config_lane, mcp_servers), CNT(config_lane, n_mcp_servers),
	 .cap = LIST_CAP,
	 .text = "a result from one of these `mcp_servers` raises the turn to this lane"},
	{"keys", T_STRS, FLD(config_lane, keys), CNT(config_lane, n_keys), .cap = LIST_CAP,
	 .text = "router keys (by `alias`) pinned to this lane"},
	{"redact", T_FLAGS, FLD(config_lane, redact), .choices = redact_choices,
	 .text = "detectors applied before text reaches this lane's models: email, phone, iban, "
		 "card, ip"},
	{"redact_patterns", T_STRS, FLD(config_lane, redact_patterns),
	 CNT(config_lane, n_redact_patterns), .cap = 32, .check = check_regex,
	 .text = "more text to redact: POSIX extended regexes"},
	{"review_outbound", T_BOOL, FLD(config_lane, review_outbound), .def = "false",
	 .text = "every outbound action from this lane (a non-read-only MCP tool, web_fetch, "
		 "send_file, send_voice) becomes a draft card: Approve, Edit, Reject"},
	{"review_expire_min", T_INT, FLD(config_lane, review_expire_min), .def = "1440", .min = 1,
	 .max = 525600,
	 .text = "an unanswered draft card expires after this many minutes; nothing is sent"},
};

const struct table cfg_lane_table = {
	"lanes",
	"lanes.NAME",
	OPTS(lane_opts),
	.size = sizeof(struct config_lane),
	.name_off = offsetof(struct config_lane, name),
	.text = "Lanes (docs/security.md), most sensitive first: a turn in a lane reaches only its "
		"models; a turn that touches two lanes takes the one listed first."};

static bool has_mcp(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_mcp_servers; i++)
		if (strcmp(cfg->mcp_servers[i].name, name) == 0)
			return true;
	return false;
}

static bool has_key_alias(const struct config *cfg, const char *alias)
{
	size_t i;

	for (i = 0; i < cfg->n_keys; i++)
		if (cfg->keys[i].alias && strcmp(cfg->keys[i].alias, alias) == 0)
			return true;
	return false;
}

/* Each name of list (under key of the lane's mapping) that known() does not know. */
static void check_names(struct ctx *c, const struct config_lane *l, const struct node *lane_map,
			const char *key, char *const *names, size_t n,
			bool (*known)(const struct config *, const char *), const char *what)
{
	const struct node *seq = cfg_map_get(lane_map, key);
	char s[SHOW_LEN], ln[SHOW_LEN];
	size_t i;

	for (i = 0; i < n; i++)
		if (!known(c->cfg, names[i]))
			cfg_err_at(c,
				   seq && seq->type == N_SEQ && i < seq->n_kids ? seq->kids[i]
										: lane_map,
				   "lanes.%s.%s[%zu]: '%s' is %s", cfg_show(l->name, ln), key, i,
				   cfg_show(names[i], s), what);
}

void cfg_lanes_finish(struct ctx *c, const struct node *root)
{
	const struct node *map = cfg_map_get(root, "lanes");
	struct config *cfg = c->cfg;
	size_t i;

	if (!map || map->type != N_MAP)
		return;
	for (i = 0; i < cfg->n_lanes && 2 * i + 1 < map->n_kids; i++) {
		const struct config_lane *l = &cfg->lanes[i];
		const struct node *lm = map->kids[2 * i + 1];

		check_names(c, l, lm, "mcp_servers", l->mcp_servers, l->n_mcp_servers, has_mcp,
			    "not a server under mcp_servers");
		check_names(c, l, lm, "keys", l->keys, l->n_keys, has_key_alias,
			    "not the alias of a key under keys");
	}
}
