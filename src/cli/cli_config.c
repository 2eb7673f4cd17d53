/* cli_config: `hermetic config check` and the summary it prints after a successful load. It reads
 * only the public struct config; it lives here, not in core/config.c, because it shows each
 * cron job's next run (gateway/cron.h), and core/ may not include a higher layer. The
 * Markdown reference stays in core/config.c: it is printed from the option table
 * (core/config_table.c), whose types are private to core (core/config_int.h).
 */
#include "cli/cli_config.h"
#include "core/config.h"
#include "core/log.h"
#include "core/store.h"
#include "core/util.h"
#include "gateway/cron.h"
#include "tools/tools.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* `hermetic config check` summary. Secrets print as "set"/"not set"; URLs lose user info
 * and query strings; the whole text then goes through log_redact() as a second guard.
 */

static const char *set_or_not(const char *s)
{
	return s && *s ? "set" : "not set";
}

static void put_url(struct buf *b, const char *url)
{
	const char *host = strstr(url, "://"), *at, *end;

	host = host ? host + 3 : url;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	buf_append(b, url, (size_t)(host - url));
	if (at)
		buf_puts(b, "***@");
	at = at ? at + 1 : host;
	end = at + strcspn(at, "?#");
	buf_append(b, at, (size_t)(end - at));
	if (*end)
		buf_puts(b, "?...");
}

static void sum_general(const struct config *cfg, struct buf *b)
{
	const struct config_auxiliary *a = &cfg->auxiliary;
	const char *name;
	unsigned flag;
	size_t i;

	buf_printf(b, "config:      %s\nhome:        %s\ntimezone:    %s\n", cfg->name, cfg->home,
		   cfg->timezone);
	buf_printf(b, "model:       %s (default virtual model)\n",
		   cfg->model ? cfg->model : "none");
	buf_printf(b,
		   "auxiliary:   compression=%s memory=%s title=%s session_search=%s vision=%s "
		   "web_extract=%s\n",
		   a->compression ? a->compression : "-", a->memory ? a->memory : "-",
		   a->title ? a->title : "-", a->session_search ? a->session_search : "-",
		   a->vision ? a->vision : "-", a->web_extract ? a->web_extract : "-");
	buf_puts(b, "toolsets:   ");
	for (i = 1; (name = config_toolset_name(i, &flag)); i++)
		if (cfg->toolsets & flag)
			buf_printf(b, " %s", name);
	buf_puts(b, cfg->toolsets ? "\n" : " none\n");
}

static void sum_models(const struct config *cfg, struct buf *b)
{
	const struct config_model *m;
	size_t g, i, n;

	buf_printf(b, "models:      %zu groups, %zu deployments\n", cfg->n_model_groups,
		   cfg->n_models);
	for (g = 0; g < cfg->n_model_groups; g++) {
		buf_printf(b, "  %-10s ", cfg->model_groups[g]);
		for (i = 0, n = 0; i < cfg->n_models; i++) {
			m = &cfg->models[i];
			if (strcmp(m->model_name, cfg->model_groups[g]) != 0)
				continue;
			buf_printf(b, "%s%s %s ", n++ ? ", " : "", m->provider, m->upstream_model);
			if (m->inactive)
				buf_puts(b, "(inactive)");
			else if (m->gcp.client_email)
				buf_printf(b, "(service account %s, %s/%s)", m->gcp.client_email,
					   m->litellm_params.vertex_project,
					   m->litellm_params.vertex_location);
			else
				buf_printf(b, "(api_key %s)",
					   set_or_not(m->litellm_params.api_key));
		}
		buf_puts(b, "\n");
	}
}

static void sum_chain(struct buf *b, const char *label, const struct config_fallback *f, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		buf_printf(b, "  %s%s ->", label, f[i].from);
		for (j = 0; j < f[i].n_to; j++)
			buf_printf(b, "%s %s", j ? "," : "", f[i].to[j]);
		buf_puts(b, "\n");
	}
}

static void sum_fallbacks(const struct config *cfg, struct buf *b)
{
	const struct config_litellm_settings *l = &cfg->litellm_settings;
	size_t i;

	buf_printf(b, "fallbacks:   %zu (at most %lld per request)\n",
		   l->n_fallbacks + l->n_context_window_fallbacks + l->n_content_policy_fallbacks,
		   (long long)cfg->router_settings.max_fallbacks);
	sum_chain(b, "", l->fallbacks, l->n_fallbacks);
	sum_chain(b, "context window: ", l->context_window_fallbacks,
		  l->n_context_window_fallbacks);
	sum_chain(b, "content policy: ", l->content_policy_fallbacks,
		  l->n_content_policy_fallbacks);
	if (l->n_default_fallbacks)
		buf_puts(b, "  default ->");
	for (i = 0; i < l->n_default_fallbacks; i++)
		buf_printf(b, "%s %s", i ? "," : "", l->default_fallbacks[i]);
	if (l->n_default_fallbacks)
		buf_puts(b, "\n");
}

static void sum_routing(const struct config *cfg, struct buf *b)
{
	const struct config_router_settings *r = &cfg->router_settings;

	buf_printf(
		b,
		"routing:     %s, %lld retries, cooldown %lld s after %lld fails, timeout %lld s\n",
		config_routing_name(r->routing_strategy), (long long)r->num_retries,
		(long long)r->cooldown_time_s, (long long)r->allowed_fails,
		(long long)r->timeout_s);
}

static void put_usd(struct buf *b, const char *label, double usd)
{
	if (usd > 0)
		buf_printf(b, "%s $%.2f", label, usd);
	else
		buf_printf(b, "%s none", label);
}

static void sum_budget(const struct config *cfg, struct buf *b)
{
	const struct config_key *k;
	size_t i;

	buf_puts(b, "budget:     ");
	put_usd(b, " daily", cfg->budget.daily_usd);
	put_usd(b, ", monthly", cfg->budget.monthly_usd);
	put_usd(b, ", router max_budget", cfg->litellm_settings.max_budget_usd);
	buf_printf(b, "\nkeys:        %zu\n", cfg->n_keys);
	for (i = 0; i < cfg->n_keys; i++) {
		k = &cfg->keys[i];
		buf_printf(b, "  %s: key %s, ", k->alias ? k->alias : "(no alias)",
			   set_or_not(k->key));
		if (k->n_models)
			buf_printf(b, "%zu models", k->n_models);
		else
			buf_puts(b, "all models");
		put_usd(b, ", max_budget", k->max_budget_usd);
		buf_puts(b, "\n");
	}
}

static void sum_mcp(const struct config *cfg, struct buf *b)
{
	const struct config_mcp_server *s;
	size_t i;

	buf_printf(b, "mcp servers: %zu\n", cfg->n_mcp_servers);
	for (i = 0; i < cfg->n_mcp_servers; i++) {
		s = &cfg->mcp_servers[i];
		buf_printf(b, "  %-10s %s ", s->name, config_mcp_transport_name(s->transport));
		if (s->url)
			put_url(b, s->url);
		else
			buf_puts(b, s->command);
		buf_puts(b, s->enabled ? "\n" : " (disabled)\n");
	}
}

/* "cron NAME: next run YYYY-MM-DD HH:MM ZONE", in the process zone (main sets TZ). */
static void put_next_run(const struct config *cfg, const struct config_cron_job *j, struct buf *b)
{
	int64_t next_ms;
	time_t t;
	struct tm tm;
	char when[32];

	if (cron_next_run(j, now_wall_ms(), &next_ms) < 0) {
		buf_printf(b, "cron %s: never runs\n", j->name);
		return;
	}
	t = (time_t)(next_ms / 1000);
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	buf_printf(b, "cron %s: next run %s %s\n", j->name, when, cfg->timezone);
}

/* "cron NAME: health: ..." of each health check, from state.db when there is one (a check
 * run before the first start creates none). */
static void put_health(const struct config *cfg, struct buf *b)
{
	struct store *st = NULL;
	char *db, err[256];
	size_t i;

	for (i = 0; i < cfg->n_cron_jobs; i++)
		if (cfg->cron_jobs[i].report == CONFIG_CRON_REPORT_ON_FAILURE)
			break;
	if (i == cfg->n_cron_jobs)
		return;
	db = xasprintf("%s/state.db", cfg->home);
	if (access(db, F_OK) == 0 && store_open(db, &st, err, sizeof(err)) < 0)
		buf_printf(b, "cron health: %s\n", err);
	for (i = 0; st && i < cfg->n_cron_jobs; i++) {
		if (cfg->cron_jobs[i].report != CONFIG_CRON_REPORT_ON_FAILURE)
			continue;
		buf_printf(b, "cron %s: ", cfg->cron_jobs[i].name);
		cron_verdicts_text(st, &cfg->cron_jobs[i], b);
	}
	store_close(st);
	free(db);
}

static void sum_jobs(const struct config *cfg, struct buf *b)
{
	const struct config_cron_job *j;
	size_t i;

	buf_printf(b, "cron jobs:   %zu\n", cfg->n_cron_jobs);
	for (i = 0; i < cfg->n_cron_jobs; i++) {
		j = &cfg->cron_jobs[i];
		buf_printf(b, "  %-10s \"%s\" -> %s%s\n", j->name, j->schedule,
			   j->deliver.target ? j->deliver.target : "(session only)",
			   j->enabled ? "" : " (disabled)");
	}
	for (i = 0; i < cfg->n_cron_jobs; i++)
		if (cfg->cron_jobs[i].enabled)
			put_next_run(cfg, &cfg->cron_jobs[i], b);
	put_health(cfg, b);
	buf_printf(b, "hooks:       %zu", cfg->n_hooks);
	for (i = 0; i < cfg->n_hooks; i++)
		buf_printf(b, "%s %s", i ? "," : "", cfg->hooks[i].name);
	buf_puts(b, "\n");
}

static void sum_listeners(const struct config *cfg, struct buf *b)
{
	const struct config_telegram *t = &cfg->telegram;

	if (t->enabled)
		buf_printf(b, "telegram:    on, allowed users: %zu, token set, api ",
			   t->n_allowed_users);
	else
		buf_puts(b, "telegram:    off (token not set)");
	if (t->enabled)
		put_url(b, t->api_base);
	buf_printf(b, "\napi:         %s, key %s\n", cfg->api.listen.addr,
		   set_or_not(cfg->api.key));
	if (cfg->general_settings.master_key_unset)
		buf_printf(b, "router:      %s, master_key unset (%s): locked until it is set\n",
			   cfg->router.listen.addr, cfg->general_settings.master_key_unset);
	else
		buf_printf(b, "router:      %s, master_key %s\n", cfg->router.listen.addr,
			   set_or_not(cfg->general_settings.master_key));
}

/* "skills: N (index T tokens)" and a WARNING line per skill that is broken or shadowed. */
static void sum_skills(const struct config *cfg, struct buf *b)
{
	struct buf problems;
	size_t n_skills, n, at = 0, len;

	if (!(cfg->toolsets & CONFIG_TOOLSET_SKILLS)) {
		buf_puts(b, "skills:      off (toolsets)\n");
		return;
	}
	buf_init(&problems, 0);
	n = tools_skills_check(cfg, &problems, &n_skills);
	buf_printf(b, "skills:      %zu usable, index %lld tokens", n_skills,
		   (long long)cfg->skills.index_tokens);
	buf_printf(b, n ? ", %zu with problems:\n" : "\n", n);
	while (at < problems.len) {
		len = strcspn(problems.data + at, "\n");
		buf_printf(b, "  WARNING: %.*s\n", (int)len, problems.data + at);
		at += len + 1;
	}
	buf_finish(&problems);
}

static void (*const summary_parts[])(const struct config *cfg, struct buf *b) = {
	sum_general, sum_models, sum_fallbacks, sum_routing,   sum_budget,
	sum_mcp,     sum_jobs,	 sum_skills,	sum_listeners,
};

void cli_config_print_summary(const struct config *cfg, FILE *out)
{
	struct buf b;
	char *clean;
	size_t i;

	buf_init(&b, 0);
	for (i = 0; i < ARRAY_LEN(summary_parts); i++)
		summary_parts[i](cfg, &b);
	clean = log_redact(buf_str(&b));
	fputs(clean, out);
	free(clean);
	buf_finish(&b);
}

int cli_config_check(const char *path, bool strict, FILE *out, FILE *err)
{
	struct config_diag *diag = config_diag_create();
	struct config *cfg = NULL;

	config_diag_set_strict(diag, strict);
	if (config_load(path, &cfg, diag) < 0)
		cfg = NULL;
	config_diag_print(diag, err);
	if (!cfg) {
		fprintf(err, "%s: config check failed\n", path);
		config_diag_destroy(diag);
		return 1;
	}
	/* Cron's next runs are shown in the configured zone (zoneinfo via TZ), as main's load. */
	setenv("TZ", cfg->timezone, 1);
	tzset();
	fprintf(out, "%s: ok\n", path);
	config_print_compat(cfg, diag, out);
	cli_config_print_summary(cfg, out);
	config_diag_destroy(diag);
	config_destroy(cfg);
	return 0;
}
