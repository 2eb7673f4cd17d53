/* Tests of config: the seed and full configs land field by field, every error class has its
 * exact FILE:LINE:COL and message, LiteLLM configs load with warnings, env references resolve,
 * secrets are registered for redaction and never printed, and the caps hold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_config.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

/* Values of the environment the test configs reference; all distinct and >= 4 bytes. */
static const char *const test_env[][2] = {
	{"OPENROUTER_API_KEY", "sk-or-v1-test-openrouter"},
	{"OPENAI_API_KEY", "sk-test-openai"},
	{"LITELLM_MASTER_KEY", "sk-test-master"},
	{"TELEGRAM_BOT_TOKEN", "123456:test-telegram-token"},
	{"API_SERVER_KEY", "test-api-server-key"},
	{"HOLMES_KEY", "sk-test-holmes"},
	{"GRAFANA_KEY", "sk-test-grafana"},
	{"MCP_TOKEN", "test-mcp-token"},
	{"HOOK_TOKEN", "test-hook-token"},
	{"HERMETIC_TEST_TEAM", "blue"},
};

/* A private zoneinfo tree, so the tests do not depend on the host's tzdata. */
static char tzdir[] = "/tmp/hermetic-tz-XXXXXX";
static const char *const zones[] = {"UTC", "Asia", "Asia/Manila", "Europe", "Europe/Berlin"};

static void write_zone(const char *name)
{
	char *path = xasprintf("%s/%s", tzdir, name);
	FILE *f;

	if (strchr(name, '/') || strcmp(name, "UTC") == 0) {
		f = fopen(path, "w");
		assert_non_null(f);
		fputs("TZif2 test zone\n", f);
		fclose(f);
	} else {
		assert_int_equal(mkdir(path, 0700), 0);
	}
	free(path);
}

static int setup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(test_env); i++)
		setenv(test_env[i][0], test_env[i][1], 1);
	unsetenv("HERMETIC_HOME");
	unsetenv("HERMETIC_CONFIG");
	unsetenv("NOT_SET_ANYWHERE");
	/* no gcloud login of the machine's user leaks into the vertex_ai tests */
	setenv("CLOUDSDK_CONFIG", "/nonexistent/hermetic-test-gcloud", 1);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	unsetenv("VERTEXAI_PROJECT");
	unsetenv("GOOGLE_CLOUD_PROJECT");
	if (!mkdtemp(tzdir))
		return -1;
	for (i = 0; i < ARRAY_LEN(zones); i++)
		write_zone(zones[i]);
	setenv("TZDIR", tzdir, 1);
	log_set_stderr(0);
	return 0;
}

static int teardown(void **state)
{
	size_t i;
	char *path;

	(void)state;
	for (i = ARRAY_LEN(zones); i-- > 0;) {
		path = xasprintf("%s/%s", tzdir, zones[i]);
		remove(path);
		free(path);
	}
	rmdir(tzdir);
	log_forget_secrets();
	return 0;
}

static char *data_path(const char *name)
{
	const char *dir = getenv("HERMETIC_TEST_DATA");

	return xasprintf("%s/%s", dir && *dir ? dir : "tests/data", name);
}

/* One parse of a text, with the diag printed to a string. */
struct result {
	int rc;
	struct config *cfg;
	char *out;
	size_t errors, warnings;
};

static void diag_text(struct config_diag *d, struct result *r)
{
	size_t len;
	FILE *f = open_memstream(&r->out, &len);

	config_diag_print(d, f);
	fclose(f);
	r->errors = config_diag_errors(d);
	r->warnings = config_diag_warnings(d);
}

static struct result parse(const char *text)
{
	struct config_diag *d = config_diag_create();
	struct result r;

	r.rc = config_parse("t.yaml", text, strlen(text), &r.cfg, d);
	diag_text(d, &r);
	config_diag_destroy(d);
	return r;
}

static struct result load(const char *name)
{
	struct config_diag *d = config_diag_create();
	char *path = data_path(name);
	struct result r;

	r.rc = config_load(path, &r.cfg, d);
	diag_text(d, &r);
	config_diag_destroy(d);
	free(path);
	return r;
}

static void result_finish(struct result *r)
{
	config_destroy(r->cfg);
	free(r->out);
}

/* Whether out has exactly this line. */
static bool has_line(const char *out, const char *line)
{
	size_t len = strlen(line);
	const char *p = out;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, len) == 0 && (p[len] == '\n' || p[len] == '\0'))
			return true;
	return false;
}

static void check_line(const struct result *r, const char *line)
{
	if (!has_line(r->out, line)) {
		print_error("expected line:\n  %s\ngot:\n%s", line, r->out);
		fail();
	}
}

/* The text fails to load and the diag has exactly this line. */
static void expect_error(const char *text, const char *line)
{
	struct result r = parse(text);

	assert_int_equal(r.rc, -EINVAL);
	assert_null(r.cfg);
	assert_true(r.errors >= 1);
	check_line(&r, line);
	result_finish(&r);
}

/* The text loads and the diag has exactly this warning line. */
static void expect_warning(const char *text, const char *line)
{
	struct result r = parse(text);

	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_non_null(r.cfg);
	check_line(&r, line);
	result_finish(&r);
}

static const char *const models_yaml =
	"model_list:\n"
	"  - model_name: free\n"
	"    litellm_params: {model: openrouter/qwen/qwen3-coder:free}\n"
	"  - model_name: cheap\n"
	"    litellm_params: {model: openrouter/qwen/qwen-turbo}\n";

/* models_yaml (5 lines) followed by more. */
static char *with_models(const char *rest)
{
	return xasprintf("%s%s", models_yaml, rest);
}

/* ------------------------------------------------------------------------------------------
 * Whole configs
 */

static void test_seed_config_lands_every_field(void **state)
{
	struct result r = load("seed.yaml");
	const struct config *c = r.cfg;
	const struct config_model *m;
	char *path, *line;

	(void)state;
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.errors, 0);
	assert_string_equal(c->home, "/opt/data");
	assert_string_equal(c->timezone, "Asia/Manila");
	assert_string_equal(c->model, "free");
	assert_int_equal(c->n_models, 4);
	assert_int_equal(c->n_model_groups, 4);
	m = &c->models[0];
	assert_string_equal(m->model_name, "free");
	assert_string_equal(m->litellm_params.model, "openrouter/qwen/qwen3-coder:free");
	assert_string_equal(m->provider, "openrouter");
	assert_string_equal(m->upstream_model, "qwen/qwen3-coder:free");
	assert_string_equal(m->litellm_params.api_base, "https://openrouter.ai/api/v1");
	assert_string_equal(m->litellm_params.api_key, "sk-or-v1-test-openrouter");
	assert_int_equal(m->litellm_params.rpm, 20);
	assert_string_equal(m->model_info.id, "free-1");
	assert_string_equal(c->models[1].upstream_model, "google/gemini-2.0-flash-exp:free");
	assert_string_equal(c->models[2].upstream_model, "qwen/qwen-turbo");
	assert_true(c->models[2].model_info.input_cost_per_token == 0.00000005);
	assert_string_equal(c->models[3].upstream_model, "deepseek/deepseek-chat-v3-0324");
	assert_int_equal(c->models[3].litellm_params.timeout_s, 120);
	assert_int_equal(c->litellm_settings.n_fallbacks, 1);
	assert_string_equal(c->litellm_settings.fallbacks[0].from, "free");
	assert_int_equal(c->litellm_settings.fallbacks[0].n_to, 2);
	assert_string_equal(c->litellm_settings.fallbacks[0].to[0], "free2");
	assert_string_equal(c->litellm_settings.fallbacks[0].to[1], "cheap");
	assert_int_equal(c->router_settings.num_retries, 2);
	assert_int_equal(c->router_settings.timeout_s, 30);
	assert_int_equal(c->router_settings.cooldown_time_s, 30);
	assert_int_equal(c->router_settings.routing_strategy, CONFIG_ROUTING_SIMPLE_SHUFFLE);
	assert_string_equal(c->general_settings.master_key, "sk-test-master");
	assert_true(c->budget.daily_usd == 1.0);
	assert_true(c->telegram.enabled);
	assert_string_equal(c->telegram.token, "123456:test-telegram-token");
	assert_int_equal(c->telegram.n_allowed_users, 1);
	assert_int_equal(c->telegram.allowed_users[0], 123456789);
	assert_string_equal(c->api.listen.host, "127.0.0.1");
	assert_int_equal(c->api.listen.port, 8642);
	assert_string_equal(c->api.key, "test-api-server-key");
	assert_int_equal(c->n_mcp_servers, 1);
	assert_string_equal(c->mcp_servers[0].name, "kubernetes");
	assert_string_equal(c->mcp_servers[0].prefix, "kubernetes");
	assert_int_equal(c->mcp_servers[0].transport, CONFIG_MCP_HTTP);
	assert_string_equal(c->mcp_servers[0].url, "http://127.0.0.1:8080/mcp");
	assert_int_equal(c->mcp_servers[0].timeout_s, 60);
	assert_int_equal(c->mcp_servers[0].n_tools_exclude, 1);
	assert_string_equal(c->mcp_servers[0].tools_exclude[0], "configuration_view");
	assert_int_equal(c->n_cron_jobs, 1);
	assert_string_equal(c->cron_jobs[0].name, "morning-briefing");
	assert_string_equal(c->cron_jobs[0].schedule, "0 7 * * *");
	assert_int_equal(c->cron_jobs[0].expr.hours, 1u << 7);
	assert_int_equal(c->cron_jobs[0].deliver.telegram_chat_id, 123456789);
	assert_string_equal(c->cron_jobs[0].model, "cheap");
	assert_int_equal(c->cron_jobs[0].misfire_grace_s, 600);
	/* the only warning: LiteLLM's prometheus callback */
	assert_int_equal(r.warnings, 1);
	path = data_path("seed.yaml");
	line = xasprintf("%s:38:3: warning: ignored: 'success_callback' in 'litellm_settings': "
			 "hermetic serves Prometheus metrics at /metrics itself; no callbacks",
			 path);
	check_line(&r, line);
	free(line);
	free(path);
	result_finish(&r);
}

static void check_full_models(const struct config *c)
{
	const struct config_litellm_params *p = &c->models[0].litellm_params;

	assert_int_equal(c->n_models, 4);
	assert_int_equal(c->n_model_groups, 3);
	assert_int_equal(p->tpm, 100000);
	assert_int_equal(p->weight, 2000); /* thousandths of weight: 2 */
	assert_int_equal(p->timeout_s, 30);
	assert_int_equal(p->stream_timeout_s, 10);
	assert_int_equal(p->max_tokens, 2048);
	assert_int_equal(p->num_retries, 1);
	assert_int_equal(p->n_extra_headers, 1);
	assert_string_equal(p->extra_headers[0].name, "X-Team");
	assert_string_equal(p->extra_headers[0].value, "agents-blue");
	assert_int_equal(c->models[0].model_info.max_input_tokens, 262144);
	assert_int_equal(c->models[0].model_info.max_output_tokens, 65536);
	assert_string_equal(c->models[0].model_info.id, "free-qwen");
	assert_string_equal(c->models[1].model_info.id, "free-2");
	assert_int_equal(c->models[1].litellm_params.num_retries, 4); /* router_settings */
	assert_string_equal(c->models[2].provider, "openai");
	assert_string_equal(c->models[2].upstream_model, "qwen-turbo");
	assert_string_equal(c->models[2].litellm_params.api_base, "http://vllm.ai.svc:8000/v1");
	assert_string_equal(c->models[2].litellm_params.api_key, "sk-or-v1-test-openrouter");
	assert_true(c->models[2].model_info.output_cost_per_token == 0.0000002);
	assert_int_equal(c->models[2].model_info.max_output_tokens, 8192);
	assert_string_equal(c->models[3].provider, "openai");
	assert_string_equal(c->models[3].upstream_model, "gpt-4o");
	assert_string_equal(c->models[3].litellm_params.api_base, "https://api.openai.com/v1");
}

static void check_full_routing(const struct config *c)
{
	const struct config_litellm_settings *l = &c->litellm_settings;
	const struct config_router_settings *rs = &c->router_settings;

	/* The same values as router_settings': both sections set every key, no warning. */
	assert_int_equal(l->num_retries, 4);
	assert_int_equal(l->request_timeout_s, 50);
	assert_int_equal(l->allowed_fails, 5);
	assert_int_equal(l->cooldown_time_s, 60);
	assert_int_equal(l->retry_policy.content_policy, 1);
	assert_int_equal(l->n_fallbacks, 2);
	assert_string_equal(l->fallbacks[1].from, "cheap");
	assert_string_equal(l->context_window_fallbacks[0].to[0], "strong");
	assert_string_equal(l->content_policy_fallbacks[0].from, "strong");
	assert_string_equal(l->default_fallbacks[0], "cheap");
	assert_int_equal(l->max_fallbacks, 2);
	assert_true(l->max_budget_usd == 5.5);
	assert_int_equal(l->budget_duration_s, 30 * 86400);
	assert_int_equal(rs->routing_strategy, CONFIG_ROUTING_LEAST_BUSY);
	assert_int_equal(rs->allowed_fails, 5);
	assert_int_equal(rs->cooldown_time_s, 60);
	assert_int_equal(rs->num_retries, 4);
	assert_int_equal(rs->retry_policy.rate_limit, 3);
	assert_int_equal(rs->retry_policy.timeout, 2);
	assert_int_equal(rs->retry_policy.internal_server, 2);
	assert_int_equal(rs->retry_policy.bad_request, 0);
	assert_int_equal(rs->retry_policy.authentication, 0);
	assert_int_equal(rs->retry_policy.content_policy, 1);
	assert_int_equal(rs->timeout_s, 50);
	assert_int_equal(rs->max_fallbacks, 2);
	assert_true(rs->enable_pre_call_checks);
	assert_string_equal(c->general_settings.master_key, "sk-test-master");
	assert_string_equal(c->router.listen.host, "::1");
	assert_int_equal(c->router.listen.port, 4000);
	assert_int_equal(c->router.max_body_bytes, 1048576);
	assert_int_equal(c->router.max_concurrent_upstream, 16);
	assert_int_equal(c->router.max_response_bytes, 4194304);
	assert_string_equal(c->router.openrouter_referer, "https://hermetic.example");
	assert_string_equal(c->router.openrouter_title, "hermetic-test");
}

static void check_full_agent(const struct config *c)
{
	assert_string_equal(c->home, "/srv/hermetic");
	assert_string_equal(c->timezone, "Europe/Berlin");
	assert_string_equal(c->model, "cheap");
	assert_string_equal(c->auxiliary.compression, "cheap");
	assert_string_equal(c->auxiliary.title, "free");
	assert_string_equal(c->auxiliary.session_search, "cheap");
	assert_string_equal(c->auxiliary.vision, "strong");
	assert_string_equal(c->auxiliary.web_extract, "free");
	assert_int_equal(c->agent.max_iterations, 20);
	assert_true(c->agent.max_turn_cost_usd == 0.25);
	assert_int_equal(c->agent.context_tokens, 64000);
	assert_string_equal(c->agent.persona_file, "/etc/hermetic/SOUL.md");
	assert_int_equal(c->agent.session_idle_minutes, 120);
	assert_int_equal(c->agent.turn_timeout_s, 600);
	assert_int_equal(c->agent.tool_result_max_bytes, 32768);
	assert_int_equal(c->agent.tool_timeout_s, 90);
	assert_int_equal(c->agent.max_tools, 64);
	assert_int_equal(c->toolsets, CONFIG_TOOLSET_ALL);
	assert_int_equal(c->skills.n_external_dirs, 2);
	assert_string_equal(c->skills.external_dirs[1], "/opt/shared-skills");
	assert_int_equal(c->n_notes_dirs, 2);
	assert_string_equal(c->notes_dirs[0], "/opt/notes");
	assert_int_equal(c->memory.max_chars, 3000);
	assert_int_equal(c->memory.user_max_chars, 1500);
	assert_int_equal(c->web.n_allow_hosts, 2);
	assert_string_equal(c->web.allow_hosts[1], "*.wikipedia.org");
	assert_int_equal(c->web.timeout_s, 25);
	assert_int_equal(c->web.max_bytes, 2097152);
	assert_string_equal(c->prometheus.url, "http://prometheus.monitoring:9090");
	assert_int_equal(c->prometheus.timeout_s, 12);
}

static void check_full_guards(const struct config *c)
{
	assert_int_equal(c->n_keys, 2);
	assert_string_equal(c->keys[0].key, "sk-test-holmes");
	assert_string_equal(c->keys[0].alias, "holmes");
	assert_int_equal(c->keys[0].n_models, 2);
	assert_string_equal(c->keys[0].models[1], "strong");
	assert_true(c->keys[0].max_budget_usd == 2.0);
	assert_int_equal(c->keys[0].budget_duration_s, 86400);
	assert_string_equal(c->keys[1].key, "sk-test-grafana");
	assert_int_equal(c->keys[1].budget_duration_s, 30 * 86400);
	assert_true(c->budget.daily_usd == 1.5);
	assert_true(c->budget.monthly_usd == 30);
	assert_int_equal(c->guardrails.bleed.max_calls, 40);
	assert_int_equal(c->guardrails.bleed.window_s, 600);
	assert_true(c->guardrails.bleed.max_cost_usd == 0.5);
	assert_int_equal(c->guardrails.bleed.cooldown_s, 1800);
	assert_int_equal(c->guardrails.max_tokens_default, 2048);
	assert_int_equal(c->guardrails.n_max_tokens, 1);
	assert_string_equal(c->guardrails.max_tokens[0].model, "strong");
	assert_int_equal(c->guardrails.max_tokens[0].max_tokens, 8192);
	assert_false(c->guardrails.seccomp.enabled);
	assert_int_equal(c->guardrails.seccomp.action, CONFIG_SECCOMP_KILL);
}

static void check_full_gateways(const struct config *c)
{
	assert_true(c->telegram.enabled);
	assert_int_equal(c->telegram.n_allowed_users, 2);
	assert_int_equal(c->telegram.allowed_users[1], 987654321);
	assert_string_equal(c->telegram.api_base, "http://127.0.0.1:8081");
	assert_int_equal(c->telegram.admin_chat, -1001234567890LL);
	assert_int_equal(c->telegram.poll_timeout_s, 50);
	assert_false(c->telegram.refuse_unknown);
	assert_string_equal(c->api.listen.addr, "127.0.0.1:9000");
	assert_int_equal(c->api.max_body_bytes, 65536);
	assert_int_equal(c->api.timeout_s, 30);
	assert_int_equal(c->log.level, LOG_DEBUG);
	assert_false(c->log.file);
	assert_int_equal(c->log.max_bytes, 1048576);
	assert_int_equal(c->log.keep, 5);
}

static void check_full_mcp(const struct config *c)
{
	const struct config_mcp_server *k = &c->mcp_servers[0], *f = &c->mcp_servers[1];

	assert_int_equal(c->n_mcp_servers, 3);
	assert_int_equal(k->connect_timeout_s, 5);
	assert_int_equal(k->timeout_s, 30);
	assert_int_equal(k->n_tools_include, 3);
	assert_string_equal(k->tools_include[2], "events_list");
	assert_string_equal(k->headers[0].name, "Authorization");
	assert_string_equal(k->headers[0].value, "Bearer test-mcp-token");
	assert_true(k->enabled);
	assert_int_equal(f->transport, CONFIG_MCP_STDIO);
	assert_string_equal(f->command, "/usr/bin/some-server");
	assert_int_equal(f->n_args, 2);
	assert_string_equal(f->args[1], "--root=/opt/notes");
	assert_int_equal(f->n_env, 2);
	assert_string_equal(f->env[0].name, "FILES_TOKEN");
	assert_string_equal(f->env[0].value, "test-mcp-token");
	assert_string_equal(f->env[1].value, "read-only");
	assert_int_equal(f->n_tools_exclude, 1);
	/* Hermes' defaults: a cold `npx -y` needs more than 10 s to connect. */
	assert_int_equal(f->timeout_s, 120);
	assert_int_equal(f->connect_timeout_s, 60);
	assert_int_equal(c->mcp_servers[2].transport, CONFIG_MCP_SSE);
	assert_false(c->mcp_servers[2].enabled);
}

static void check_full_jobs(const struct config *c)
{
	const struct config_cron_job *j = &c->cron_jobs[0];
	const struct config_hook *h = &c->hooks[0];

	assert_int_equal(c->n_cron_jobs, 2);
	assert_int_equal(j->n_skills, 2);
	assert_string_equal(j->skills[0], "briefing");
	assert_int_equal(j->misfire_grace_s, 900);
	assert_true(j->enabled);
	assert_string_equal(c->cron_jobs[1].schedule, "@weekly");
	assert_int_equal(c->cron_jobs[1].expr.weekdays, 1);
	assert_null(c->cron_jobs[1].deliver.target);
	assert_string_equal(c->cron_jobs[1].model, "cheap"); /* inherits model */
	assert_false(c->cron_jobs[1].enabled);
	assert_int_equal(c->n_hooks, 1);
	assert_string_equal(h->name, "workout");
	assert_string_equal(h->token, "test-hook-token");
	assert_string_equal(h->prompt, "A new workout was logged: {{payload}}");
	assert_int_equal(h->deliver.telegram_chat_id, 123456789);
	assert_string_equal(h->idempotency_field, "id");
	assert_true(h->async);
	assert_string_equal(h->model, "strong");
}

static void test_full_config_sets_every_key(void **state)
{
	struct result r = load("full.yaml");

	(void)state;
	if (r.rc != 0 || r.warnings)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.warnings, 0);
	check_full_models(r.cfg);
	check_full_routing(r.cfg);
	check_full_agent(r.cfg);
	check_full_guards(r.cfg);
	check_full_gateways(r.cfg);
	check_full_mcp(r.cfg);
	check_full_jobs(r.cfg);
	result_finish(&r);
}

static void test_empty_config_has_every_default(void **state)
{
	struct result r = parse("");
	const struct config *c = r.cfg;

	(void)state;
	assert_int_equal(r.rc, 0);
	check_line(&r, "t.yaml:1:1: warning: model_list is empty: no model can be called");
	assert_string_equal(c->home, "/opt/data");
	assert_string_equal(c->timezone, "UTC");
	assert_null(c->model);
	assert_int_equal(c->agent.max_iterations, 12);
	assert_true(c->agent.max_turn_cost_usd == 0.05);
	assert_int_equal(c->agent.context_tokens, 9000);
	assert_int_equal(c->agent.tool_result_max_bytes, 16384);
	assert_int_equal(c->toolsets, CONFIG_TOOLSET_ALL);
	assert_int_equal(c->memory.max_chars, 2200);
	assert_int_equal(c->memory.user_max_chars, 1375);
	assert_int_equal(c->litellm_settings.max_fallbacks, -1);
	assert_int_equal(c->router_settings.max_fallbacks, 5);
	assert_int_equal(c->router_settings.num_retries, 2);
	assert_int_equal(c->router_settings.timeout_s, 600);
	assert_int_equal(c->router_settings.allowed_fails, 3);
	assert_int_equal(c->router_settings.cooldown_time_s, 5);
	assert_int_equal(c->router_settings.retry_policy.rate_limit, -1);
	assert_int_equal(c->router_settings.retry_policy.bad_request, -1);
	assert_string_equal(c->router.listen.addr, "127.0.0.1:4000");
	assert_string_equal(c->router.openrouter_title, "hermetic");
	assert_string_equal(c->router.openrouter_referer, "");
	assert_int_equal(c->guardrails.bleed.max_calls, 60);
	assert_int_equal(c->guardrails.bleed.window_s, 900);
	assert_int_equal(c->guardrails.max_tokens_default, 4096);
	assert_true(c->guardrails.seccomp.enabled);
	assert_int_equal(c->guardrails.seccomp.action, CONFIG_SECCOMP_ERRNO);
	assert_false(c->telegram.enabled);
	assert_string_equal(c->telegram.api_base, "https://api.telegram.org");
	assert_true(c->telegram.refuse_unknown);
	assert_int_equal(c->telegram.poll_timeout_s, 30);
	assert_string_equal(c->api.listen.host, "127.0.0.1");
	assert_int_equal(c->api.listen.port, 8642);
	assert_int_equal(c->log.level, LOG_INFO);
	assert_true(c->log.file);
	assert_int_equal(c->log.keep, 3);
	result_finish(&r);
}

static void test_null_values_keep_defaults(void **state)
{
	struct result r = parse("telegram:\nagent:\n  max_iterations: ~\nlog: {level: null}\n");

	(void)state;
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->agent.max_iterations, 12);
	assert_int_equal(r.cfg->log.level, LOG_INFO);
	assert_false(r.cfg->telegram.enabled);
	result_finish(&r);
}

static void test_home_comes_from_env_when_unset(void **state)
{
	struct result r;

	(void)state;
	setenv("HERMETIC_HOME", "/var/lib/hermetic", 1);
	r = parse("");
	assert_string_equal(r.cfg->home, "/var/lib/hermetic");
	result_finish(&r);
	r = parse("home: /srv/h\n");
	assert_string_equal(r.cfg->home, "/srv/h");
	result_finish(&r);
	setenv("HERMETIC_HOME", "relative", 1);
	expect_error("", "t.yaml:1:1: error: HERMETIC_HOME must be an absolute path");
	unsetenv("HERMETIC_HOME");
}

static void test_default_model_is_first_group(void **state)
{
	char *text = with_models("auxiliary: {vision: cheap}\n");
	struct result r = parse(text);

	(void)state;
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.cfg->model, "free");
	assert_string_equal(r.cfg->auxiliary.compression, "free");
	assert_string_equal(r.cfg->auxiliary.vision, "cheap");
	assert_string_equal(r.cfg->auxiliary.memory, "free");
	assert_int_equal(r.cfg->memory.history_keep, 10);
	result_finish(&r);
	free(text);
}

/* Condensing a memory file is a side job like compression: the same model unless named. */
static void test_auxiliary_memory_defaults_to_compression(void **state)
{
	char *text = with_models("auxiliary: {compression: cheap}\n");
	struct result r = parse(text);

	(void)state;
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.cfg->model, "free");
	assert_string_equal(r.cfg->auxiliary.memory, "cheap");
	result_finish(&r);
	free(text);
}

static void test_config_default_path_uses_env(void **state)
{
	(void)state;
	assert_string_equal(config_default_path(), "/etc/hermetic/config.yaml");
	setenv("HERMETIC_CONFIG", "/tmp/x.yaml", 1);
	assert_string_equal(config_default_path(), "/tmp/x.yaml");
	unsetenv("HERMETIC_CONFIG");
}

/* ------------------------------------------------------------------------------------------
 * Error classes, each with its position and message
 */

static void test_unknown_key_suggests_the_closest(void **state)
{
	(void)state;
	/* the top level is LiteLLM's too: ignored with the hint, as LiteLLM ignores it */
	expect_warning("modle: free\n", "t.yaml:1:1: warning: unknown key 'modle' at the top level "
					"(ignored, as LiteLLM ignores it); did you mean 'model'?");
	expect_error("agent:\n  max_iteration: 3\n",
		     "t.yaml:2:3: error: unknown key 'max_iteration' in 'agent'; did you mean "
		     "'max_iterations'?");
	/* LiteLLM's own sections: a warning with the same hint (test_config_compat.c) */
	expect_warning("litellm_settings:\n  sucess_callback: [prometheus]\n",
		       "t.yaml:2:3: warning: unknown key 'sucess_callback' in 'litellm_settings' "
		       "(ignored, as LiteLLM ignores it); did you mean 'success_callback'?");
}

static void test_unknown_key_without_match_lists_known_keys(void **state)
{
	(void)state;
	expect_error("web: {zzzzzz: 1}\n", "t.yaml:1:7: error: unknown key 'zzzzzz' in 'web'; "
					   "known keys: allow_hosts, timeout_s, max_bytes");
}

/* api.max_body_bytes bounds an Alertmanager notification (httpd refuses a larger one before
 * the route runs), so there is no alerts.max_body_bytes that could only pretend to. */
static void test_alerts_have_no_body_cap_of_their_own(void **state)
{
	struct result r = parse("alerts: {max_body_bytes: 2048}\n");

	(void)state;
	assert_int_equal(r.rc, -EINVAL);
	assert_non_null(strstr(r.out, "unknown key 'max_body_bytes' in 'alerts'"));
	result_finish(&r);
}

static void test_missing_env_var_is_named_with_its_place(void **state)
{
	(void)state;
	/* a deployment's api_key is a warning, its api_base or model loads it inactive
	 * (test_config_compat.c) */
	expect_error("prometheus: {url: \"http://${NOT_SET_ANYWHERE}:9090\"}\n",
		     "t.yaml:1:19: error: prometheus.url: environment variable NOT_SET_ANYWHERE is "
		     "not set (referenced here); export it or put it in the Secret");
}

static void test_wrong_type_is_named(void **state)
{
	(void)state;
	expect_error("agent:\n  max_iterations: abc\n",
		     "t.yaml:2:19: error: agent.max_iterations: expected an integer, got 'abc'");
	expect_error("budget: {daily_usd: lots}\n",
		     "t.yaml:1:21: error: budget.daily_usd: expected a number, got 'lots'");
	expect_error("agent: [1, 2]\n", "t.yaml:1:8: error: agent: expected a mapping, got a "
					"sequence");
	expect_error("log: {file: maybe}\n",
		     "t.yaml:1:13: error: log.file: expected true or false, got 'maybe'");
	expect_error("notes_dirs: /opt/notes\n",
		     "t.yaml:1:13: error: notes_dirs: expected a list of strings, got a string");
	expect_error("- a\n", "t.yaml:1:1: error: the config must be a mapping of sections "
			      "(home:, model_list:, ...), not a sequence");
}

/* PyYAML (LiteLLM's loader) reads YAML 1.1: True, FALSE, yes, off... are booleans, so a
 * request parameter written so is sent as one (Qwen's enable_thinking: False must not be the
 * string "False", which a chat template takes as true). */
static void test_request_params_take_yaml_1_1_booleans(void **state)
{
	struct result r =
		parse("model_list:\n"
		      "  - model_name: g\n"
		      "    litellm_params:\n"
		      "      model: openai/qwen3\n"
		      "      api_key: sk-test\n"
		      "      parallel_tool_calls: yes\n"
		      "      thinking: Off\n"
		      "      extra_body: {chat_template_kwargs: {enable_thinking: False},\n"
		      "                   store: TRUE, user: 'True', a: ~, b: tRuE}\n");

	(void)state;
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.cfg->models[0].litellm_params.request_params,
			    "{\"parallel_tool_calls\":true,\"thinking\":false,\"extra_body\":"
			    "{\"chat_template_kwargs\":{\"enable_thinking\":false},\"store\":true,"
			    "\"user\":\"True\",\"a\":null,\"b\":\"tRuE\"}}");
	result_finish(&r);
}

/* Numbers as PyYAML's implicit resolvers (YAML 1.1) read them for LiteLLM: `.9`, `+1`, `1_000`,
 * `1.`, `0x1F`, `017`, `0b101`, `1:30` are numbers; `1e5`, `1.0e5` (an exponent without its
 * sign), `09`, `-.5` and `.inf` are strings, sent as LiteLLM sends them. */
static void test_request_params_take_yaml_1_1_numbers(void **state)
{
	static const struct {
		const char *yaml, *json;
	} rows[] = {
		{"0.2", "0.2"},
		{".9", "0.9"},
		{"+1", "1"},
		{"-3", "-3"},
		{"1_000", "1000"},
		{"1.", "1.0"},
		{"1.5e+3", "1.5e+3"},
		{"00.5", "0.5"},
		{"0x1F", "31"},
		{"017", "15"},
		{"0b101", "5"},
		{"1:30", "90"},
		{"0", "0"},
		{"1e5", "\"1e5\""},
		{"1.0e5", "\"1.0e5\""},
		{"09", "\"09\""},
		{"-.5", "\"-.5\""},
		{".inf", "\".inf\""},
		{"1:75", "\"1:75\""},
		{"0x", "\"0x\""},
		{"'7'", "\"7\""},
		{"0x10000000000000000", "\"0x10000000000000000\""},
	};
	char text[512], want[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct result r;

		snprintf(text, sizeof(text),
			 "model_list:\n  - model_name: g\n    litellm_params:\n"
			 "      model: openai/qwen3\n      api_key: sk-test\n      seed: %s\n",
			 rows[i].yaml);
		snprintf(want, sizeof(want), "{\"seed\":%s}", rows[i].json);
		r = parse(text);
		assert_int_equal(r.rc, 0);
		if (strcmp(r.cfg->models[0].litellm_params.request_params, want) != 0) {
			print_error("%s: got %s, want %s\n", rows[i].yaml,
				    r.cfg->models[0].litellm_params.request_params, want);
			fail();
		}
		result_finish(&r);
	}
}

static void test_out_of_range_gives_the_range(void **state)
{
	(void)state;
	expect_error("agent:\n  max_iterations: 0\n",
		     "t.yaml:2:19: error: agent.max_iterations: '0' is out of range (1..1000)");
	expect_error("budget: {daily_usd: -1}\n",
		     "t.yaml:1:21: error: budget.daily_usd: '-1' is out of range (0..1000000)");
	expect_error("telegram: {allowed_users: [0]}\n",
		     "t.yaml:1:28: error: telegram.allowed_users[0]: '0' is out of range "
		     "(1..9223372036854775807)");
}

static void test_missing_required_key_is_named(void **state)
{
	(void)state;
	expect_error("model_list:\n  - litellm_params: {model: gpt-4o}\n",
		     "t.yaml:2:5: error: model_list[0]: missing required key 'model_name'");
	expect_error("model_list:\n  - model_name: x\n    litellm_params: {api_base: "
		     "\"http://h\"}\n",
		     "t.yaml:3:21: error: model_list[0].litellm_params: missing required key "
		     "'model'");
	expect_error("hooks:\n  - {name: h, prompt: \"{{payload}}\"}\n",
		     "t.yaml:2:5: error: hooks[0]: missing required key 'token'");
}

static void test_bad_model_reference_lists_known_names(void **state)
{
	char *text;

	(void)state;
	/* LiteLLM loads a fallback that names no group and skips it: a warning with the hint */
	text = with_models("litellm_settings:\n  fallbacks: [{\"free\": [\"chaep\"]}]\n");
	expect_warning(
		text,
		"t.yaml:7:25: warning: litellm_settings.fallbacks[0].free: 'chaep' is not "
		"a model_name in model_list; did you mean 'cheap'? (known: free, cheap); this "
		"fallback is skipped, as LiteLLM skips it");
	free(text);
	text = with_models("model: strong\n");
	expect_error(text, "t.yaml:6:8: error: model: 'strong' is not a model_name in model_list "
			   "(known: free, cheap)");
	free(text);
	text = with_models("auxiliary: {vision: gpt}\n");
	expect_error(text, "t.yaml:6:21: error: auxiliary.vision: 'gpt' is not a model_name in "
			   "model_list (known: free, cheap)");
	free(text);
	text = with_models("keys: [{key: abcd1234, models: [cheap, strong]}]\n");
	expect_error(text, "t.yaml:6:40: error: keys[0].models[1]: 'strong' is not a model_name in "
			   "model_list (known: free, cheap)");
	free(text);
	text = with_models("cron: [{name: a, schedule: '@daily', prompt: p, model: x}]\n");
	expect_error(text, "t.yaml:6:56: error: cron[0].model: 'x' is not a model_name in "
			   "model_list (known: free, cheap)");
	free(text);
}

/* LiteLLM reads `timeout: 300.0` as 300: a whole number written as a float is an integer;
 * a fraction is still refused where an integer is meant. */
static void test_a_whole_float_is_an_integer(void **state)
{
	const char *text =
		"model_list:\n"
		"  - model_name: a\n"
		"    litellm_params: {model: openai/x, api_key: k, timeout: 300.0, rpm: 20.00}\n";
	struct result r = parse(text);

	(void)state;
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->models[0].litellm_params.timeout_s, 300);
	assert_int_equal(r.cfg->models[0].litellm_params.rpm, 20);
	result_finish(&r);
	expect_error("model_list:\n"
		     "  - model_name: a\n"
		     "    litellm_params: {model: openai/x, api_key: k, order: 1.5}\n",
		     "t.yaml:3:58: error: model_list[0].litellm_params.order: expected an integer, "
		     "got '1.5'");
}

static void test_unknown_auxiliary_slot_suggests(void **state)
{
	char *text = with_models("auxiliary: {visoin: cheap}\n");

	(void)state;
	expect_error(text, "t.yaml:6:13: error: unknown key 'visoin' in 'auxiliary'; did you mean "
			   "'vision'?");
	free(text);
}

/* Every LiteLLM routing strategy loads (usage-based-routing-v2 decides as -v1 does here);
 * a typo names them all. */
static void test_every_litellm_routing_strategy_loads(void **state)
{
	static const struct {
		const char *name;
		enum config_routing want;
	} all[] = {
		{"simple-shuffle", CONFIG_ROUTING_SIMPLE_SHUFFLE},
		{"least-busy", CONFIG_ROUTING_LEAST_BUSY},
		{"latency-based-routing", CONFIG_ROUTING_LATENCY},
		{"usage-based-routing", CONFIG_ROUTING_USAGE},
		{"usage-based-routing-v2", CONFIG_ROUTING_USAGE_V2},
		{"cost-based-routing", CONFIG_ROUTING_COST},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(all); i++) {
		char *text = xasprintf("router_settings:\n  routing_strategy: %s\n"
				       "  routing_strategy_args: {ttl: 60, lowest_latency_buffer: "
				       "0.5}\n",
				       all[i].name);
		struct result r = parse(text);

		assert_int_equal(r.rc, 0);
		assert_int_equal(r.cfg->router_settings.routing_strategy, all[i].want);
		assert_int_equal(r.cfg->router_settings.routing_args.ttl_s, 60);
		assert_true(r.cfg->router_settings.routing_args.lowest_latency_buffer == 0.5);
		assert_int_equal(r.cfg->router_settings.routing_args.max_latency_list_size, 10);
		result_finish(&r);
		free(text);
	}
	/* LiteLLM's routing_strategy_init sets up nothing for a name it does not know, and its
	 * Router picks as simple-shuffle (issue 49) */
	expect_warning(
		"router_settings: {routing_strategy: simple-shufle}\n",
		"t.yaml:1:37: warning: router_settings.routing_strategy: 'simple-shufle' is "
		"not a LiteLLM routing strategy (simple-shuffle, least-busy, "
		"latency-based-routing, usage-based-routing, usage-based-routing-v2, "
		"cost-based-routing); LiteLLM starts with it and picks as simple-shuffle, and "
		"so does hermetic");
}

static void test_bad_cron_schedule_says_why(void **state)
{
	(void)state;
	expect_error("cron:\n  - name: a\n    schedule: \"0 7 * *\"\n    prompt: p\n",
		     "t.yaml:3:15: error: cron[0].schedule: invalid cron schedule '0 7 * *': "
		     "expected 5 fields (minute hour day-of-month month day-of-week), got 4");
	expect_error("cron:\n  - {name: a, schedule: \"61 * * * *\", prompt: p}\n",
		     "t.yaml:2:25: error: cron[0].schedule: invalid cron schedule '61 * * * *': "
		     "minute: 61 is out of range 0-59");
	expect_error("cron:\n  - {name: Bad Name, schedule: \"@daily\", prompt: p}\n",
		     "t.yaml:2:12: error: cron[0].name: expected a name of 1-64 characters a-z, "
		     "0-9, '_', '-' starting with a letter or digit, got 'Bad Name'");
}

static void test_bad_listen_address_says_the_form(void **state)
{
	(void)state;
	expect_error("api: {listen: \"localhost\"}\n",
		     "t.yaml:1:15: error: api.listen: expected HOST:PORT with a port of 1-65535 "
		     "(e.g. 127.0.0.1:8642 or [::1]:8642), got 'localhost'");
	expect_error("router: {listen: \"0.0.0.0:70000\"}\n",
		     "t.yaml:1:18: error: router.listen: expected HOST:PORT with a port of 1-65535 "
		     "(e.g. 127.0.0.1:8642 or [::1]:8642), got '0.0.0.0:70000'");
	expect_error("router: {listen: \"::1:4000\"}\n",
		     "t.yaml:1:18: error: router.listen: expected HOST:PORT with a port of 1-65535 "
		     "(e.g. 127.0.0.1:8642 or [::1]:8642), got '::1:4000'");
}

static void test_open_router_without_a_key_is_refused(void **state)
{
	struct result r;

	(void)state;
	expect_error(
		"router: {listen: \"0.0.0.0:4000\"}\n",
		"t.yaml:1:18: error: router.listen: 0.0.0.0:4000 is not a loopback address and "
		"neither general_settings.master_key nor keys is set: anyone who can reach it "
		"could spend your budget; set general_settings.master_key (e.g. "
		"os.environ/LITELLM_MASTER_KEY) or listen on 127.0.0.1");
	/* Loopback needs no key; an open address with a master key or virtual keys is fine. */
	r = parse("router: {listen: \"127.0.0.1:4000\"}\n");
	assert_int_equal(r.rc, 0);
	result_finish(&r);
	r = parse("router: {listen: \"[::1]:4000\"}\n");
	assert_int_equal(r.rc, 0);
	result_finish(&r);
	r = parse("router: {listen: \"0.0.0.0:4000\"}\ngeneral_settings: {master_key: sk-1234}\n");
	assert_int_equal(r.rc, 0);
	result_finish(&r);
	r = parse("router: {listen: \"0.0.0.0:4000\"}\nkeys: [{key: sk-abcd}]\n");
	assert_int_equal(r.rc, 0);
	result_finish(&r);
}

/* LiteLLM's loader (PyYAML) keeps the last of a key given twice and starts: so does hermetic,
 * with a warning at the one it reads naming the other (issue 49). */
static void test_duplicate_key_points_at_both(void **state)
{
	struct result r;

	(void)state;
	expect_warning("agent:\n  max_iterations: 3\n  max_iterations: 4\n",
		       "t.yaml:3:3: warning: duplicate key 'max_iterations' (also at line 2): the "
		       "last one is read, as LiteLLM's YAML loader reads it");
	r = parse("agent:\n  max_iterations: 3\n  max_iterations: 4\n");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->agent.max_iterations, 4);
	result_finish(&r);
}

static void test_duplicate_cron_and_hook_names(void **state)
{
	(void)state;
	expect_error("cron:\n  - {name: a, schedule: '@daily', prompt: p}\n"
		     "  - {name: a, schedule: '@hourly', prompt: q}\n",
		     "t.yaml:3:12: error: cron[1]: duplicate cron job name 'a' (first at line 2)");
	expect_error("hooks:\n  - {name: h, token: abcdef, prompt: '{{payload}}'}\n"
		     "  - {name: h, token: ghijkl, prompt: '{{payload}}'}\n",
		     "t.yaml:3:12: error: hooks[1]: duplicate hook name 'h' (first at line 2)");
}

static void test_deep_nesting_is_capped(void **state)
{
	struct buf b;
	int i;

	(void)state;
	buf_init(&b, 0);
	buf_puts(&b, "x: ");
	for (i = 0; i < 40; i++)
		buf_puts(&b, "[");
	for (i = 0; i < 40; i++)
		buf_puts(&b, "]");
	expect_error(buf_str(&b), "t.yaml:1:35: error: nesting deeper than 32 levels");
	buf_finish(&b);
}

static void test_oversized_config_is_refused(void **state)
{
	size_t len = CONFIG_MAX_FILE_BYTES + 1;
	char *big = xmalloc(len), *path = xstrdup("/tmp/hermetic-test-XXXXXX");
	struct config_diag *d = config_diag_create();
	struct config *cfg;
	struct result r = {0};
	int fd = mkstemp(path);

	(void)state;
	memset(big, '#', len);
	assert_int_equal(config_parse("big.yaml", big, len, &cfg, d), -EINVAL);
	assert_null(cfg);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, big, len), (ssize_t)len);
	close(fd);
	assert_int_equal(config_load(path, &cfg, d), -EINVAL);
	diag_text(d, &r);
	check_line(&r,
		   "big.yaml: error: the config is 1048577 bytes; the limit is 1048576 (1 MiB)");
	assert_non_null(strstr(r.out, ": error: the config is larger than 1 MiB; the limit is "
				      "1048576 bytes"));
	assert_non_null(strstr(r.out, path));
	unlink(path);
	free(r.out);
	free(path);
	free(big);
	config_diag_destroy(d);
}

static void test_unreadable_file_names_the_path(void **state)
{
	struct result r = load("does-not-exist.yaml");
	char *path = data_path("does-not-exist.yaml"), *line;

	(void)state;
	assert_int_equal(r.rc, -EINVAL);
	line = xasprintf("%s: error: cannot open the config: No such file or directory; pass "
			 "--config FILE or set HERMETIC_CONFIG",
			 path);
	check_line(&r, line);
	free(line);
	free(path);
	result_finish(&r);
}

static void test_yaml_syntax_error_has_a_position(void **state)
{
	(void)state;
	expect_error("agent:\n  max_iterations: [1\n", "t.yaml:3:1: error: YAML syntax error: did "
						       "not find expected ',' or ']' while parsing "
						       "a flow sequence");
	expect_error("a: 1\n---\nb: 2\n", "t.yaml:2:1: error: a config file holds one YAML "
					  "document; remove this '---' and what follows");
	expect_error("a: 1\nb: \"\xff\"\n", "t.yaml:2:5: error: YAML syntax error: invalid "
					    "leading UTF-8 octet");
	expect_error("? [a]\n: 1\n", "t.yaml:1:3: error: a mapping key must be a plain string, not "
				     "a sequence");
	expect_error("x: &x 1\ny: {<<: *x}\n", "t.yaml:2:5: error: '<<' merges a mapping or a "
					       "list of mappings, not a string");
	expect_error("a: *nothing\n", "t.yaml:1:4: error: unknown alias '*nothing' (an alias must "
				      "follow its complete '&' anchor)");
}

static void test_counts_are_capped(void **state)
{
	struct buf b;
	int i;

	(void)state;
	buf_init(&b, 0);
	buf_puts(&b, "model_list:\n");
	for (i = 0; i <= CONFIG_MAX_MODELS; i++)
		buf_printf(&b, "  - {model_name: m%d, litellm_params: {model: gpt-4o}}\n", i);
	expect_error(buf_str(&b), "t.yaml:4098:5: error: more than 4096 entries in one sequence or "
				  "mapping");
	buf_reset(&b);
	buf_puts(&b, "mcp_servers:\n");
	for (i = 0; i <= CONFIG_MAX_MCP_SERVERS; i++)
		buf_printf(&b, "  s%d: {command: /bin/true}\n", i);
	expect_error(buf_str(&b), "t.yaml:2:3: error: mcp_servers: has 65 entries; at most 64 are "
				  "allowed");
	buf_finish(&b);
}

static void test_urls_must_be_http(void **state)
{
	(void)state;
	expect_error("prometheus: {url: \"ftp://p:9090\"}\n",
		     "t.yaml:1:19: error: prometheus.url: expected an http:// or https:// URL, got "
		     "'ftp://p:9090'");
	expect_error("telegram: {api_base: \"https://\"}\n",
		     "t.yaml:1:22: error: telegram.api_base: expected an http:// or https:// URL, "
		     "got 'https://'");
}

static void test_paths_must_be_absolute(void **state)
{
	(void)state;
	expect_error("agent: {persona_file: SOUL.md}\n",
		     "t.yaml:1:23: error: agent.persona_file: expected an absolute path (starting "
		     "with '/'), got 'SOUL.md'");
	expect_error("skills: {external_dirs: [/ok, rel]}\n",
		     "t.yaml:1:31: error: skills.external_dirs[1]: expected an absolute path "
		     "(starting with '/'), got 'rel'");
}

static void test_deliver_target_must_be_telegram_chat(void **state)
{
	(void)state;
	expect_error("cron:\n  - {name: a, schedule: '@daily', prompt: p, deliver: slack:1}\n",
		     "t.yaml:2:55: error: cron[0].deliver: expected telegram:<chat id> (e.g. "
		     "telegram:123456789), got 'slack:1'");
	expect_error("cron:\n  - {name: a, schedule: '@daily', prompt: p, deliver: 'telegram:x'}\n",
		     "t.yaml:2:55: error: cron[0].deliver: expected telegram:<chat id> (e.g. "
		     "telegram:123456789), got 'telegram:x'");
}

static void test_provider_prefixes(void **state)
{
	(void)state;
	/* LiteLLM starts without vertex credentials or project (google.auth.default() finds
	 * both at call time): active, both asked of the metadata server at call time */
	expect_warning(
		"model_list:\n  - model_name: c\n    litellm_params: {model: "
		"vertex_ai/gemini-pro}\n",
		"t.yaml:3:29: warning: model_list[0].litellm_params.model: vertex_ai: no "
		"credentials file (vertex_credentials, GOOGLE_APPLICATION_CREDENTIALS, "
		"gcloud's application-default login): tokens come from the metadata server "
		"of a GCE VM or GKE node, at call time, and the project too (no vertex_project "
		"or VERTEXAI_PROJECT); off GCP its calls fail saying so");
	/* with a project, the metadata server's token (GCE, GKE) */
	expect_warning("model_list:\n  - model_name: c\n    litellm_params: {model: "
		       "vertex_ai/gemini-pro, vertex_project: p1}\n",
		       "t.yaml:3:29: warning: model_list[0].litellm_params.model: vertex_ai: no "
		       "credentials file (vertex_credentials, GOOGLE_APPLICATION_CREDENTIALS, "
		       "gcloud's application-default login): tokens come from the metadata server "
		       "of a GCE VM or GKE node, at call time");
	expect_warning(
		"model_list:\n  - model_name: c\n    litellm_params: {model: "
		"nosuch/m}\n",
		"t.yaml:3:29: warning: model_list[0].litellm_params.model: deployment of 'c' "
		"is inactive: provider 'nosuch' is not one hermetic knows (docs/router.md "
		"lists them); give api_base to call it as an OpenAI-compatible server; calls "
		"to it get an error");
	expect_warning(
		"model_list:\n  - model_name: c\n    litellm_params: {model: "
		"github_copilot/gpt-4o}\n",
		"t.yaml:3:29: warning: model_list[0].litellm_params.model: deployment of 'c' "
		"is inactive: GitHub Copilot signs in with a device-login flow that a server "
		"cannot complete; calls to it get an error");
	expect_warning(
		"model_list:\n  - model_name: c\n    litellm_params: {model: "
		"sagemaker/jumpstart-llama, api_base: \"http://sm:8080\"}\n",
		"t.yaml:3:29: warning: model_list[0].litellm_params.model: deployment of 'c' "
		"is inactive: SageMaker endpoint invocation is not implemented; serve the "
		"model behind an OpenAI-compatible api_base (openai/<id>); calls to it get an "
		"error");
	expect_warning("model_list:\n  - model_name: c\n    litellm_params: {model: "
		       "nosuch/llama3, api_base: \"http://vllm:8000/v1\"}\n",
		       "t.yaml:3:29: warning: model_list[0].litellm_params.model: provider "
		       "'nosuch' is not one hermetic knows: api_base is treated as an "
		       "OpenAI-compatible API and gets model 'llama3' (write openai/... to silence "
		       "this)");
	expect_error("model_list:\n  - model_name: c\n    litellm_params: {model: "
		     "hosted_vllm/llama3}\n",
		     "t.yaml:3:29: error: model_list[0].litellm_params.model: provider "
		     "'hosted_vllm' needs api_base (the server's URL) or HOSTED_VLLM_API_BASE");
	expect_error("model_list:\n  - model_name: c\n    litellm_params: {model: openrouter/}\n",
		     "t.yaml:3:29: error: model_list[0].litellm_params.model: no model id after "
		     "'openrouter/'");
}

/* Every catalogue provider loads with its default base and its dialect; ollama gets the /v1
 * of its OpenAI-compatible API; azure gets the default api-version; custom_llm_provider names
 * the provider of an id without a prefix. */
static void test_provider_defaults(void **state)
{
	struct result r;
	struct config *cfg;

	(void)state;
	setenv("GROQ_API_KEY", "gsk-from-env-1234", 1);
	r = parse("model_list:\n"
		  "  - {model_name: g, litellm_params: {model: groq/llama-3.3-70b}}\n"
		  "  - {model_name: o, litellm_params: {model: ollama_chat/qwen3, api_base: "
		  "\"http://ollama:11434\"}}\n"
		  "  - {model_name: a, litellm_params: {model: azure/gpt4o-dep, api_base: "
		  "\"https://x.openai.azure.com\", api_key: k123}}\n"
		  "  - {model_name: c, litellm_params: {model: claude-x, custom_llm_provider: "
		  "anthropic, api_key: k123}}\n"
		  "  - {model_name: m, litellm_params: {model: gemini/gemini-2.0-flash, "
		  "api_key: k123}}\n"
		  "  - {model_name: b, litellm_params: {model: claude-sonnet-4-5, api_key: "
		  "k123}}\n"
		  "  - {model_name: d, litellm_params: {model: command-r-plus, api_key: k1}}\n"
		  "  - {model_name: e, litellm_params: {model: gemini-1.5-flash-001}}\n"
		  "  - {model_name: f, litellm_params: {model: gemini-1.5-flash, api_base: "
		  "\"http://proxy:4000/v1\"}}\n");
	unsetenv("GROQ_API_KEY");
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	cfg = r.cfg;
	assert_string_equal(cfg->models[0].litellm_params.api_base,
			    "https://api.groq.com/openai/v1");
	assert_string_equal(cfg->models[0].litellm_params.api_key, "gsk-from-env-1234");
	assert_int_equal(cfg->models[0].dialect, DIALECT_OPENAI);
	assert_string_equal(cfg->models[1].litellm_params.api_base, "http://ollama:11434/v1");
	assert_string_equal(cfg->models[1].upstream_model, "qwen3");
	assert_int_equal(cfg->models[2].dialect, DIALECT_AZURE);
	assert_string_equal(cfg->models[2].litellm_params.api_version, "2024-10-21");
	assert_int_equal(cfg->models[3].dialect, DIALECT_ANTHROPIC);
	assert_string_equal(cfg->models[3].upstream_model, "claude-x");
	assert_string_equal(cfg->models[3].litellm_params.api_base, "https://api.anthropic.com");
	assert_int_equal(cfg->models[4].dialect, DIALECT_GEMINI);
	assert_string_equal(cfg->models[4].upstream_model, "gemini-2.0-flash");
	/* A bare claude-... id is Anthropic's, as LiteLLM infers it. */
	assert_int_equal(cfg->models[5].dialect, DIALECT_ANTHROPIC);
	assert_string_equal(cfg->models[5].provider, "anthropic");
	assert_string_equal(cfg->models[5].upstream_model, "claude-sonnet-4-5");
	/* Bare Cohere and Gemini ids go where LiteLLM's model map puts them... */
	assert_string_equal(cfg->models[6].provider, "cohere");
	assert_string_equal(cfg->models[6].litellm_params.api_base,
			    "https://api.cohere.ai/compatibility/v1");
	assert_string_equal(cfg->models[7].provider, "vertex_ai");
	assert_null(cfg->models[7].inactive); /* no credentials here: LiteLLM starts, so do we */
	assert_non_null(cfg->models[7].gcp.project_uri); /* the metadata server's, at call time */
	/* ...unless an api_base names the server. */
	assert_string_equal(cfg->models[8].provider, "openai");
	assert_string_equal(cfg->models[8].litellm_params.api_base, "http://proxy:4000/v1");
	result_finish(&r);
}

/* The providers issue 39 adds: OpenAI-compatible ones with LiteLLM's base URL and key
 * variable (cloudflare's URL holds the account id), and vertex_ai: the publisher from the
 * model id, the project from the service account's key, the host from the location ("global"
 * has no region prefix), model garden ids inactive. */
static void test_more_provider_defaults(void **state)
{
	char sa[512], yaml[4096];
	struct result r;
	struct config *cfg;

	(void)state;
	snprintf(sa, sizeof(sa), "%s/vertex-sa.json", getenv("HERMETIC_TEST_DATA"));
	snprintf(yaml, sizeof(yaml),
		 "model_list:\n"
		 "  - {model_name: a, litellm_params: {model: cohere/command-r-plus}}\n"
		 "  - {model_name: b, litellm_params: {model: github/Phi-4}}\n"
		 "  - {model_name: c, litellm_params: {model: cloudflare/@cf/meta/llama-3-8b}}\n"
		 "  - {model_name: d, litellm_params: {model: zhipuai/glm-4}}\n"
		 "  - {model_name: e, litellm_params: {model: volcengine/ep-123}}\n"
		 "  - {model_name: f, litellm_params: {model: nvidia/meta/llama3-70b}}\n"
		 "  - {model_name: g, litellm_params: {model: vertex_ai/gemini-2.5-pro, "
		 "vertex_credentials: %s, vertex_location: global}}\n"
		 "  - {model_name: h, litellm_params: {model: vertex_ai/claude-opus-4@20250514, "
		 "vertex_credentials: %s, vertex_location: europe-west4, vertex_project: pp}}\n"
		 "  - {model_name: i, litellm_params: {model: vertex_ai/meta/llama3-405b, "
		 "vertex_credentials: %s}}\n",
		 sa, sa, sa);
	setenv("COHERE_API_KEY", "co-from-env", 1);
	setenv("CLOUDFLARE_ACCOUNT_ID", "acct123", 1);
	setenv("ZHIPUAI_API_KEY", "zp-from-env", 1);
	r = parse(yaml);
	unsetenv("COHERE_API_KEY");
	unsetenv("CLOUDFLARE_ACCOUNT_ID");
	unsetenv("ZHIPUAI_API_KEY");
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	cfg = r.cfg;
	assert_string_equal(cfg->models[0].litellm_params.api_base,
			    "https://api.cohere.ai/compatibility/v1");
	assert_string_equal(cfg->models[0].litellm_params.api_key, "co-from-env");
	assert_string_equal(cfg->models[1].litellm_params.api_base,
			    "https://models.inference.ai.azure.com");
	assert_string_equal(cfg->models[2].litellm_params.api_base,
			    "https://api.cloudflare.com/client/v4/accounts/acct123/ai/v1");
	assert_string_equal(cfg->models[2].upstream_model, "@cf/meta/llama-3-8b");
	assert_string_equal(cfg->models[3].litellm_params.api_base,
			    "https://open.bigmodel.cn/api/paas/v4");
	assert_string_equal(cfg->models[3].litellm_params.api_key, "zp-from-env");
	assert_string_equal(cfg->models[4].litellm_params.api_base,
			    "https://ark.cn-beijing.volces.com/api/v3");
	assert_string_equal(cfg->models[5].upstream_model, "meta/llama3-70b");
	assert_int_equal(cfg->models[6].dialect, DIALECT_VERTEX);
	assert_string_equal(cfg->models[6].litellm_params.api_base,
			    "https://aiplatform.googleapis.com");
	assert_string_equal(cfg->models[6].litellm_params.vertex_project, "proj-from-key");
	assert_string_equal(cfg->models[6].gcp.client_email,
			    "unit@proj-from-key.iam.gserviceaccount.com");
	assert_string_equal(cfg->models[6].gcp.token_uri, "https://oauth2.googleapis.com/token");
	assert_non_null(strstr(cfg->models[6].gcp.private_key, "BEGIN PRIVATE KEY"));
	assert_int_equal(cfg->models[7].dialect, DIALECT_VERTEX_ANTHROPIC);
	assert_string_equal(cfg->models[7].litellm_params.api_base,
			    "https://europe-west4-aiplatform.googleapis.com");
	assert_string_equal(cfg->models[7].litellm_params.vertex_project, "pp");
	assert_null(cfg->models[7].inactive);
	assert_non_null(cfg->models[8].inactive);
	assert_non_null(strstr(cfg->models[8].inactive, "model garden"));
	result_finish(&r);
}

static void test_mcp_server_needs_exactly_one_of_url_and_command(void **state)
{
	(void)state;
	expect_error("mcp_servers:\n  both: {url: \"http://h/mcp\", command: /bin/x}\n",
		     "t.yaml:2:9: error: mcp_servers.both: set exactly one of 'url' (http or sse) "
		     "or 'command' (stdio)");
	expect_error("mcp_servers:\n  none:\n", "t.yaml:2:8: error: mcp_servers.none: set exactly "
						"one of 'url' (http or sse) or 'command' (stdio)");
	expect_error("mcp_servers:\n  s: {command: /bin/x, transport: sse}\n",
		     "t.yaml:2:35: error: mcp_servers.s.transport: transport 'sse' needs 'url'");
	expect_error("mcp_servers:\n  s: {url: \"http://h/mcp\", env: {A: b}}\n",
		     "t.yaml:2:33: error: mcp_servers.s.env: args and env apply only to servers "
		     "with a command");
}

/* mcp_servers.NAME.oauth: every key, and what goes together, checked at load with where. */
static void test_mcp_oauth_keys_load_and_are_checked(void **state)
{
	struct result r;

	(void)state;
	setenv("T_MCP_SECRET", "s3cret-value", 1);
	r = parse("mcp_servers:\n  lin:\n    url: \"https://mcp.example.com/mcp\"\n"
		  "    auth: oauth\n"
		  "    oauth:\n      client_id: my-client\n"
		  "      client_secret: os.environ/T_MCP_SECRET\n"
		  "      token_endpoint_auth_method: client_secret_post\n"
		  "      grant: client_credentials\n"
		  "      scopes: [read, write]\n");
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->mcp_servers[0].auth, CONFIG_MCP_AUTH_OAUTH);
	assert_string_equal(r.cfg->mcp_servers[0].oauth.client_id, "my-client");
	assert_string_equal(r.cfg->mcp_servers[0].oauth.client_secret, "s3cret-value");
	assert_int_equal(r.cfg->mcp_servers[0].oauth.client_auth, CONFIG_OAUTH_CLIENT_AUTH_POST);
	assert_int_equal(r.cfg->mcp_servers[0].oauth.grant, CONFIG_OAUTH_GRANT_CLIENT_CREDENTIALS);
	assert_int_equal(r.cfg->mcp_servers[0].oauth.n_scopes, 2);
	result_finish(&r);
	/* Nothing set: everything is discovered. */
	r = parse("mcp_servers:\n  lin: {url: \"https://h/mcp\", auth: oauth}\n");
	assert_int_equal(r.rc, 0);
	assert_null(r.cfg->mcp_servers[0].oauth.client_id);
	assert_int_equal(r.cfg->mcp_servers[0].oauth.client_auth, CONFIG_OAUTH_CLIENT_AUTH_AUTO);
	assert_int_equal(r.cfg->mcp_servers[0].oauth.grant, CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE);
	result_finish(&r);
	expect_error("mcp_servers:\n  s: {url: \"https://h/mcp\", oauth: {client_id: a}}\n",
		     "t.yaml:2:36: error: mcp_servers.s.oauth: oauth: applies only with 'auth: "
		     "oauth'; add it or remove this block");
	/* Hermes' entry loads: on a command server the key does nothing, and says so */
	expect_warning(
		"mcp_servers:\n  s: {command: /bin/x, auth: oauth}\n",
		"t.yaml:2:30: warning: mcp_servers.s.auth: ignored: auth: oauth applies only "
		"to servers with a url; a command server takes its credentials from env");
	expect_error("mcp_servers:\n  s: {url: \"https://h/mcp\", auth: oidc}\n",
		     "t.yaml:2:35: error: mcp_servers.s.auth: unknown value 'oidc'; use one of: "
		     "none, oauth");
	expect_error("mcp_servers:\n  s:\n    url: \"https://h/mcp\"\n    auth: oauth\n"
		     "    oauth: {client_metadata_url: \"http://h/c.json\"}\n",
		     "t.yaml:5:34: error: mcp_servers.s.oauth.client_metadata_url: expected an "
		     "https:// URL with a path (a Client ID Metadata Document), got "
		     "'http://h/c.json'");
	expect_error("mcp_servers:\n  s:\n    url: \"https://h/mcp\"\n    auth: oauth\n"
		     "    oauth: {client_id: a, token_endpoint_auth_method: private_key_jwt}\n",
		     "t.yaml:5:55: error: mcp_servers.s.oauth.token_endpoint_auth_method: "
		     "private_key_jwt needs client_id and private_key");
	expect_error("mcp_servers:\n  s:\n    url: \"https://h/mcp\"\n    auth: oauth\n"
		     "    oauth: {grant: client_credentials}\n",
		     "t.yaml:5:20: error: mcp_servers.s.oauth.grant: client_credentials needs "
		     "client_id with client_secret or private_key");
	expect_error("mcp_servers:\n  s:\n    url: \"https://h/mcp\"\n    auth: oauth\n"
		     "    oauth: {grant: \"urn:ietf:params:oauth:grant-type:jwt-bearer\"}\n",
		     "t.yaml:5:20: error: mcp_servers.s.oauth.grant: the jwt-bearer grant needs "
		     "assertion (normally `os.environ/NAME`), or idp_token_endpoint, id_token and "
		     "client_id (cross-app access)");
	expect_error("mcp_servers:\n  s:\n    url: \"https://h/mcp\"\n    auth: oauth\n"
		     "    oauth: {id_token: x}\n",
		     "t.yaml:5:23: error: mcp_servers.s.oauth.id_token: applies only to grant: "
		     "urn:ietf:params:oauth:grant-type:jwt-bearer");
	expect_error("mcp_servers:\n  s:\n    url: \"https://h/mcp\"\n    auth: oauth\n"
		     "    oauth: {client_secret: x}\n",
		     "t.yaml:5:28: error: mcp_servers.s.oauth.client_secret: needs client_id: a "
		     "secret belongs to a pre-registered client");
	expect_error("mcp_servers:\n  s:\n    url: \"https://h/mcp\"\n    auth: oauth\n"
		     "    oauth: {scopes: [\"a b\"]}\n",
		     "t.yaml:5:22: error: mcp_servers.s.oauth.scopes[0]: expected a scope "
		     "(printable ASCII, no spaces or quotes), got 'a b'");
}

static void test_mcp_tool_prefix_collision_is_an_error(void **state)
{
	(void)state;
	expect_error("mcp_servers:\n  my-k8s: {url: \"http://a/mcp\"}\n"
		     "  my.k8s: {url: \"http://b/mcp\"}\n",
		     "t.yaml:3:3: error: mcp_servers: 'my-k8s' and 'my.k8s' both become the tool "
		     "prefix 'my_k8s' (characters other than a-z, A-Z, 0-9, _ turn into _); rename "
		     "one");
}

/* A Hermes mcp_servers entry loads unchanged: what hermetic does not do is ignored, with a
 * warning; include and exclude together do what Hermes does (include wins). */
static void test_hermes_mcp_keys_load_with_warnings(void **state)
{
	const char *yaml = "mcp_servers:\n"
			   "  gh:\n"
			   "    url: \"https://mcp.example.com/mcp\"\n"
			   "    auth: oauth\n"
			   "    sampling: {enabled: true, model: gemini, max_tokens_cap: 4096}\n"
			   "    tools:\n"
			   "      include: [list_issues]\n"
			   "      exclude: [list_issues, delete_repo]\n"
			   "      resources: false\n"
			   "      prompts: true\n";
	struct result r = parse(yaml);

	(void)state;
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.warnings, 4); /* and "model_list is empty" */
	assert_int_equal(r.cfg->mcp_servers[0].auth, CONFIG_MCP_AUTH_OAUTH);
	/* sampling: Hermes' keys, taken (docs/mcp.md, "Sampling") */
	assert_true(r.cfg->mcp_servers[0].sampling_enabled);
	assert_string_equal(r.cfg->mcp_servers[0].sampling_model, "gemini");
	assert_int_equal(r.cfg->mcp_servers[0].sampling_max_tokens_cap, 4096);
	check_line(&r, "t.yaml:9:7: warning: ignored: 'resources' in 'mcp_servers.gh.tools': "
		       "hermetic offers MCP tools only, not resources (Hermes)");
	check_line(&r, "t.yaml:10:7: warning: ignored: 'prompts' in 'mcp_servers.gh.tools': "
		       "hermetic offers MCP tools only, not prompts (Hermes)");
	check_line(&r, "t.yaml:7:7: warning: mcp_servers.gh.tools: include and exclude are both "
		       "set: include wins, as in Hermes (only the included tools are offered; "
		       "exclude is ignored)");
	result_finish(&r);
	/* Hermes also takes a single name for include and exclude. */
	r = parse("mcp_servers:\n  gh:\n    url: \"https://mcp.example.com/mcp\"\n"
		  "    tools: {exclude: delete_repo}\n");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->mcp_servers[0].n_tools_exclude, 1);
	assert_string_equal(r.cfg->mcp_servers[0].tools_exclude[0], "delete_repo");
	result_finish(&r);
}

static void test_timezone_is_checked(void **state)
{
	struct result r;
	char *line;

	(void)state;
	expect_error("timezone: ../../etc/passwd\n",
		     "t.yaml:1:11: error: timezone: expected an IANA time zone name like "
		     "Asia/Manila or UTC, got '../../etc/passwd'");
	expect_error("timezone: /etc/localtime\n",
		     "t.yaml:1:11: error: timezone: expected an IANA time zone name like "
		     "Asia/Manila or UTC, got '/etc/localtime'");
	line = xasprintf("t.yaml:1:11: error: timezone: unknown time zone 'Mars/Olympus' (no "
			 "zoneinfo file under %s); use a name like Asia/Manila",
			 tzdir);
	expect_error("timezone: Mars/Olympus\n", line);
	free(line);
	/* a directory is not a zone */
	line = xasprintf("t.yaml:1:11: error: timezone: unknown time zone 'Asia' (no zoneinfo "
			 "file under %s); use a name like Asia/Manila",
			 tzdir);
	expect_error("timezone: Asia\n", line);
	free(line);
	setenv("TZDIR", "/nonexistent-zoneinfo", 1);
	r = parse("timezone: Asia/Manila\n");
	assert_int_equal(r.rc, 0);
	check_line(&r, "t.yaml:1:11: warning: timezone: cannot check the time zone: "
		       "/nonexistent-zoneinfo is missing (install tzdata or set TZDIR)");
	result_finish(&r);
	setenv("TZDIR", tzdir, 1);
}

static void test_toolsets_are_checked(void **state)
{
	struct result r = parse("toolsets: [memory, time]\n");

	(void)state;
	assert_int_equal(r.cfg->toolsets, CONFIG_TOOLSET_MEMORY | CONFIG_TOOLSET_TIME);
	result_finish(&r);
	expect_error(
		"toolsets: [memory, shell]\n",
		"t.yaml:1:20: error: toolsets: unknown value 'shell'; use one of: all, memory, "
		"session_search, skills, files, web, prometheus, time, mcp");
}

static void test_duration_forms(void **state)
{
	static const struct {
		const char *text;
		int64_t seconds;
	} cases[] = {{"30s", 30},      {"30m", 1800},	      {"30h", 108000},
		     {"30d", 2592000}, {"1d", 86400},	      {"7d", 604800},
		     {"2w", 1209600},  {"1mo", 30 * 86400LL}, {"\"12h\"", 43200}};
	struct result r;
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		text = xasprintf("litellm_settings: {budget_duration: %s}\n", cases[i].text);
		r = parse(text);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.cfg->litellm_settings.budget_duration_s, cases[i].seconds);
		result_finish(&r);
		free(text);
	}
	expect_error("litellm_settings: {budget_duration: 30}\n",
		     "t.yaml:1:37: error: litellm_settings.budget_duration: expected a duration "
		     "like 30s, 30m, 30h, 30d, 2w or 1mo (at most 10 years), got '30'");
}

/* ------------------------------------------------------------------------------------------
 * LiteLLM compatibility
 */

static const char *const litellm_yaml = "model_list:\n"
					"  - model_name: free\n"
					"    litellm_params:\n"
					"      model: openrouter/qwen/qwen3-coder:free\n"
					"      api_key: os.environ/OPENROUTER_API_KEY\n"
					"      drop_params: true\n"
					"    model_info: {mode: chat, input_cost_per_token: 0.0}\n"
					"litellm_settings:\n"
					"  drop_params: true\n"
					"  set_verbose: false\n"
					"  json_logs: true\n"
					"  callbacks: [\"prometheus\"]\n"
					"  telemetry: false\n"
					"  cache: true\n"
					"  cache_params: {type: redis}\n"
					"router_settings:\n"
					"  routing_strategy: simple-shuffle\n"
					"  redis_host: redis\n"
					"  redis_port: 6379\n"
					"  fallbacks: [{\"free\": []}]\n"
					"general_settings:\n"
					"  master_key: os.environ/LITELLM_MASTER_KEY\n"
					"  database_url: postgresql://u:p@db/litellm\n"
					"  store_model_in_db: true\n"
					"  alerting: [slack]\n"
					"  proxy_batch_write_at: 60\n";

static void test_litellm_keys_warn_instead_of_failing(void **state)
{
	struct result r = parse(litellm_yaml);

	(void)state;
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.warnings, 14);
	check_line(&r, "t.yaml:6:7: warning: ignored: 'drop_params' in "
		       "'model_list[0].litellm_params': hermetic sends the client's request "
		       "parameters as they are");
	assert_int_equal(r.cfg->models[0].model_info.mode, CONFIG_MODE_CHAT);
	check_line(&r, "t.yaml:12:3: warning: ignored: 'callbacks' in 'litellm_settings': hermetic "
		       "serves Prometheus metrics at /metrics itself; no callbacks");
	check_line(&r, "t.yaml:18:3: warning: ignored: 'redis_host' in 'router_settings': hermetic "
		       "keeps router state in process");
	check_line(&r,
		   "t.yaml:23:3: warning: ignored: 'database_url' in 'general_settings': "
		   "hermetic keeps spend in its own SQLite (home/state.db) and keys in this file");
	check_line(&r, "t.yaml:24:3: warning: ignored: 'store_model_in_db' in 'general_settings': "
		       "models come only from this file");
	assert_null(strstr(r.out, "u:p@db"));
	assert_int_equal(r.cfg->litellm_settings.n_fallbacks, 1); /* from router_settings */
	result_finish(&r);
}

/* LiteLLM's Router(fallbacks=...) wins over litellm.fallbacks: router_settings' list is used
 * whichever section comes first, with a warning at the list that is not. */
static void test_fallbacks_in_both_sections_router_settings_wins(void **state)
{
	char *text = with_models("litellm_settings: {fallbacks: [{free: [cheap]}]}\n"
				 "router_settings: {fallbacks: [{cheap: [free]}]}\n");
	struct result r = parse(text);

	(void)state;
	assert_int_equal(r.rc, 0);
	check_line(&r,
		   "t.yaml:7:30: warning: router_settings.fallbacks: is set in litellm_settings "
		   "too; this one wins, as in LiteLLM (the litellm_settings list is not used)");
	assert_int_equal(r.cfg->litellm_settings.n_fallbacks, 1);
	assert_string_equal(r.cfg->litellm_settings.fallbacks[0].from, "cheap");
	result_finish(&r);
	free(text);
	text = with_models("router_settings: {fallbacks: [{cheap: [free]}]}\n"
			   "litellm_settings: {fallbacks: [{free: [cheap]}]}\n");
	r = parse(text);
	assert_int_equal(r.rc, 0);
	check_line(&r,
		   "t.yaml:7:31: warning: litellm_settings.fallbacks: is set in router_settings "
		   "too, which wins, as in LiteLLM: this list is not used");
	assert_int_equal(r.cfg->litellm_settings.n_fallbacks, 1);
	assert_string_equal(r.cfg->litellm_settings.fallbacks[0].from, "cheap");
	result_finish(&r);
	free(text);
}

static void test_default_fallbacks_in_both_sections_router_settings_wins(void **state)
{
	char *text = with_models("router_settings: {default_fallbacks: [free]}\n"
				 "litellm_settings: {default_fallbacks: [cheap]}\n");
	struct result r = parse(text);

	(void)state;
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.warnings, 1);
	assert_int_equal(r.cfg->litellm_settings.n_default_fallbacks, 1);
	assert_string_equal(r.cfg->litellm_settings.default_fallbacks[0], "free");
	result_finish(&r);
	free(text);
}

/* In-flight caps: a deployment's max_parallel_requests, else router_settings'
 * default_max_parallel_requests, else general_settings.max_parallel_requests (LiteLLM's per
 * deployment default); global_max_parallel_requests lowers router.max_concurrent_upstream. */
static void test_max_parallel_requests_resolve_per_deployment(void **state)
{
	static const char *const entries =
		"model_list:\n"
		"  - model_name: a\n"
		"    litellm_params: {model: openai/x, max_parallel_requests: 2}\n"
		"  - model_name: b\n"
		"    litellm_params: {model: openai/y}\n";
	static const struct {
		const char *yaml;
		int64_t a, b, upstream;
	} cases[] = {
		{"", 2, 0, 64},
		{"general_settings: {max_parallel_requests: 5, global_max_parallel_requests: 9}\n",
		 2, 5, 9},
		{"general_settings: {max_parallel_requests: 5}\n"
		 "router_settings: {default_max_parallel_requests: 7}\n",
		 2, 7, 64},
		{"general_settings: {global_max_parallel_requests: 100}\n"
		 "router: {max_concurrent_upstream: 32}\n",
		 2, 0, 32},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *text = xasprintf("%s%s", entries, cases[i].yaml);
		struct result r = parse(text);

		if (r.rc != 0)
			print_error("%s", r.out);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.cfg->models[0].litellm_params.max_parallel_requests, cases[i].a);
		assert_int_equal(r.cfg->models[1].litellm_params.max_parallel_requests, cases[i].b);
		assert_int_equal(r.cfg->router.max_concurrent_upstream, cases[i].upstream);
		result_finish(&r);
		free(text);
	}
}

/* retry_policy and allowed_fails_policy take LiteLLM's field names and the bare exception
 * names into the same fields; rpm_limit and tpm_limit are rpm and tpm. */
static void test_policy_exception_names_and_limit_spellings(void **state)
{
	struct result r =
		parse("model_list:\n"
		      "  - model_name: a\n"
		      "    litellm_params: {model: openai/x, rpm_limit: 6, tpm_limit: 900}\n"
		      "router_settings:\n"
		      "  retry_policy: {RateLimitError: 1, Timeout: 2, InternalServerError: 3,\n"
		      "                 ServiceUnavailableErrorRetries: 4, NotFoundError: 5,\n"
		      "                 DefaultRetries: 0, BadRequestError: 1}\n"
		      "  allowed_fails_policy: {RateLimitErrorAllowedFails: 10000, Timeout: 2,\n"
		      "                         BadGatewayError: 1, AuthenticationError: 0}\n");
	const struct config_retry_policy *p;
	const struct config_allowed_fails_policy *f;

	(void)state;
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.warnings, 0);
	assert_int_equal(r.cfg->models[0].litellm_params.rpm, 6);
	assert_int_equal(r.cfg->models[0].litellm_params.tpm, 900);
	p = &r.cfg->router_settings.retry_policy;
	assert_int_equal(p->rate_limit, 1);
	assert_int_equal(p->timeout, 2);
	assert_int_equal(p->internal_server, 3);
	assert_int_equal(p->service_unavailable, 4);
	assert_int_equal(p->not_found, 5);
	assert_int_equal(p->default_retries, 0);
	assert_int_equal(p->bad_request, 1);
	assert_int_equal(p->authentication, -1);
	f = &r.cfg->router_settings.allowed_fails_policy;
	assert_int_equal(f->rate_limit, 10000);
	assert_int_equal(f->timeout, 2);
	assert_int_equal(f->bad_gateway, 1);
	assert_int_equal(f->authentication, 0);
	assert_int_equal(f->internal_server, -1);
	result_finish(&r);
	/* retry_after is the backoff's floor; disable_cooldowns is cooldown_time 0 */
	r = parse(
		"router_settings: {retry_after: 5, disable_cooldowns: true, cooldown_time: 30}\n");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->router_settings.retry_after_s, 5);
	assert_int_equal(r.cfg->router_settings.cooldown_time_s, 0);
	result_finish(&r);
}

/* The router keys LiteLLM reads from both sections: each alone works, router_settings wins
 * (with a warning when they differ), and LiteLLM's Router defaults fill the rest. */
static void test_router_keys_from_both_sections(void **state)
{
	static const struct {
		const char *yaml;
		int64_t retries, timeout, fails, cooldown, max_fb, rate_limit;
		size_t warnings;
	} cases[] = {
		{"", 2, 600, 3, 5, 5, -1, 0},
		{"litellm_settings: {num_retries: 4, request_timeout: 40, allowed_fails: 1, "
		 "cooldown_time: 9, max_fallbacks: 2, retry_policy: {RateLimitErrorRetries: 1}}\n",
		 4, 40, 1, 9, 2, 1, 0},
		{"router_settings: {num_retries: 4, timeout: 40, allowed_fails: 1, cooldown_time: "
		 "9, "
		 "max_fallbacks: 2, retry_policy: {RateLimitErrorRetries: 1}}\n",
		 4, 40, 1, 9, 2, 1, 0},
		{"litellm_settings: {num_retries: 1, request_timeout: 20, allowed_fails: 7, "
		 "cooldown_time: 8, max_fallbacks: 3, retry_policy: {RateLimitErrorRetries: 3}}\n"
		 "router_settings: {num_retries: 4, timeout: 40, allowed_fails: 1, cooldown_time: "
		 "9, "
		 "max_fallbacks: 2, retry_policy: {RateLimitErrorRetries: 1}}\n",
		 4, 40, 1, 9, 2, 1, 6},
		{"litellm_settings: {num_retries: 4, cooldown_time: 0}\n"
		 "router_settings: {num_retries: 4}\n",
		 4, 600, 3, 0, 5, -1, 0},
	};
	struct result r;
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		text = with_models(cases[i].yaml);
		r = parse(text);
		if (r.rc != 0 || r.warnings != cases[i].warnings)
			print_error("case %zu:\n%s", i, r.out);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.warnings, cases[i].warnings);
		assert_int_equal(r.cfg->router_settings.num_retries, cases[i].retries);
		assert_int_equal(r.cfg->router_settings.timeout_s, cases[i].timeout);
		assert_int_equal(r.cfg->router_settings.allowed_fails, cases[i].fails);
		assert_int_equal(r.cfg->router_settings.cooldown_time_s, cases[i].cooldown);
		assert_int_equal(r.cfg->router_settings.max_fallbacks, cases[i].max_fb);
		assert_int_equal(r.cfg->router_settings.retry_policy.rate_limit,
				 cases[i].rate_limit);
		assert_int_equal(r.cfg->models[0].litellm_params.num_retries, cases[i].retries);
		result_finish(&r);
		free(text);
	}
	text = with_models(
		"litellm_settings: {num_retries: 1}\nrouter_settings: {num_retries: 4}\n");
	expect_warning(text, "t.yaml:7:32: warning: router_settings.num_retries (4) wins over "
			     "litellm_settings.num_retries (1), as in LiteLLM");
	free(text);
}

static void test_litellm_guardrails_list_is_ignored(void **state)
{
	(void)state;
	expect_warning(
		"guardrails:\n  - guardrail_name: x\n",
		"t.yaml:2:3: warning: guardrails: ignored: this is LiteLLM's list of "
		"guardrails, which hermetic does not run; hermetic's guardrails is a mapping "
		"(see docs/configuration.md)");
}

static void test_quoted_numbers_are_accepted(void **state)
{
	struct result r = parse("agent: {max_iterations: \"30\", max_turn_cost_usd: '0.5'}\n"
				"log: {file: \"YES\"}\n");

	(void)state;
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->agent.max_iterations, 30);
	assert_true(r.cfg->agent.max_turn_cost_usd == 0.5);
	assert_true(r.cfg->log.file);
	result_finish(&r);
	expect_error("agent: {max_iterations: \"abc\"}\n",
		     "t.yaml:1:25: error: agent.max_iterations: expected an integer, got 'abc'");
}

static void test_anchors_aliases_and_merge_keys(void **state)
{
	struct result r = parse("x-defaults: &d\n"
				"  api_key: os.environ/OPENROUTER_API_KEY\n"
				"  rpm: 10\n");

	(void)state;
	/* x-defaults only holds anchors (docker compose's and Helm's habit): a warning */
	assert_int_equal(r.rc, 0);
	check_line(&r, "t.yaml:1:1: warning: ignored: 'x-defaults' at the top level: a holder of "
		       "YAML anchors: hermetic reads what the aliases bring in");
	result_finish(&r);
	r = parse("model_list:\n"
		  "  - model_name: free\n"
		  "    litellm_params: &p\n"
		  "      model: openrouter/a/b\n"
		  "      api_key: os.environ/OPENROUTER_API_KEY\n"
		  "      rpm: 10\n"
		  "  - model_name: free\n"
		  "    litellm_params:\n"
		  "      <<: *p\n"
		  "      rpm: 20\n"
		  "  - {model_name: other, litellm_params: *p}\n");
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->models[1].litellm_params.rpm, 20);
	assert_string_equal(r.cfg->models[1].litellm_params.api_key, "sk-or-v1-test-openrouter");
	assert_string_equal(r.cfg->models[1].upstream_model, "a/b");
	assert_int_equal(r.cfg->models[2].litellm_params.rpm, 10);
	result_finish(&r);
}

static void test_alias_bombs_stay_cheap(void **state)
{
	struct buf b;
	struct result r;
	int i;

	(void)state;
	buf_init(&b, 0);
	/* in hermetic's own section, where unknown keys are errors */
	buf_puts(&b, "web:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (i = 1; i < 30; i++)
		buf_printf(&b, "  a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i,
			   i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	buf_puts(&b, "  m0: &m0 {k0: 1}\n");
	for (i = 1; i < 30; i++)
		buf_printf(&b, "  m%d: &m%d {<<: [*m%d, *m%d], k%d: 1}\n", i, i, i - 1, i - 1, i);
	r = parse(buf_str(&b));
	assert_int_equal(r.rc, -EINVAL); /* unknown keys, reported quickly */
	assert_true(r.errors >= 1);
	result_finish(&r);
	buf_finish(&b);
}

static void test_alias_expansion_of_the_schema_walk_is_capped(void **state)
{
	struct result r;
	struct buf b;
	int i;

	(void)state;
	buf_init(&b, 0);
	buf_puts(&b, "x-anchors: {names: &n [");
	for (i = 0; i < 256; i++)
		buf_printf(&b, "%sa%d", i ? ", " : "", i);
	buf_puts(&b, "], skills: &s [");
	for (i = 0; i < 32; i++)
		buf_printf(&b, "%ss%d", i ? ", " : "", i);
	buf_puts(&b, "]}\ncron:\n");
	for (i = 0; i < 128; i++)
		buf_printf(&b, "  - {name: j%d, schedule: '@daily', prompt: p, skills: *s}\n", i);
	buf_puts(&b, "mcp_servers:\n");
	for (i = 0; i < 64; i++)
		buf_printf(&b, "  s%d: {command: /bin/x, tools: {include: *n, exclude: *n}}\n", i);
	buf_puts(&b, "keys:\n");
	for (i = 0; i < 256; i++)
		buf_printf(&b, "  - {key: k%02x, models: *n}\n", i);
	r = parse(buf_str(&b));
	assert_int_equal(r.rc, -EINVAL);
	assert_int_equal(r.errors, 1);
	assert_non_null(strstr(r.out,
			       "t.yaml:1:20: error: keys[239].models: the config expands (through "
			       "aliases) to more than 100000 values\n"));
	result_finish(&r);
	buf_finish(&b);
}

/* ------------------------------------------------------------------------------------------
 * Environment and secrets
 */

static void test_env_references_in_both_forms(void **state)
{
	struct result r = parse("router: {openrouter_title: \"t-${HERMETIC_TEST_TEAM}-$${X}-$5\", "
				"openrouter_referer: os.environ/HERMETIC_TEST_TEAM}\n"
				"agent: {max_iterations: \"${ITER}\"}\n");

	(void)state;
	assert_int_equal(r.rc, -EINVAL);
	check_line(&r, "t.yaml:2:25: error: agent.max_iterations: environment variable ITER is not "
		       "set (referenced here); export it or put it in the Secret");
	result_finish(&r);
	setenv("ITER", "7", 1);
	r = parse("router: {openrouter_title: \"t-${HERMETIC_TEST_TEAM}-$${X}-$5\", "
		  "openrouter_referer: os.environ/HERMETIC_TEST_TEAM}\n"
		  "agent: {max_iterations: \"${ITER}\"}\n");
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.cfg->router.openrouter_title, "t-blue-${X}-$5");
	assert_string_equal(r.cfg->router.openrouter_referer, "blue");
	assert_int_equal(r.cfg->agent.max_iterations, 7);
	result_finish(&r);
	unsetenv("ITER");
	expect_error("router: {openrouter_title: \"${OPEN\"}\n",
		     "t.yaml:1:28: error: router.openrouter_title: '${' without a closing '}' "
		     "(write '$${' for a literal '${')");
	expect_error("router: {openrouter_title: os.environ/BAD-NAME}\n",
		     "t.yaml:1:28: error: router.openrouter_title: 'BAD-NAME' is not a valid "
		     "environment variable name (letters, digits and '_', not starting with a "
		     "digit)");
}

/* docker compose's default forms: `:-` when unset or empty, `-` only when unset. */
static void test_env_defaults_in_braces(void **state)
{
	struct result r;

	(void)state;
	unsetenv("HERMETIC_TEST_UNSET");
	setenv("HERMETIC_TEST_EMPTY", "", 1);
	r = parse(
		"router: {openrouter_title: \"${HERMETIC_TEST_UNSET:-a}/${HERMETIC_TEST_EMPTY:-b}/"
		"${HERMETIC_TEST_EMPTY-c}/${HERMETIC_TEST_UNSET-d}/${HERMETIC_TEST_TEAM:-e}\"}\n"
		"agent: {max_iterations: \"${HERMETIC_TEST_UNSET:-9}\"}\n");
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.cfg->router.openrouter_title, "a/b//d/blue");
	assert_int_equal(r.cfg->agent.max_iterations, 9);
	result_finish(&r);
	unsetenv("HERMETIC_TEST_EMPTY");
	expect_error("router: {openrouter_title: \"${HERMETIC_TEST_TEAM:?no}\"}\n",
		     "t.yaml:1:28: error: router.openrouter_title: '${HERMETIC_TEST_TEAM:?no}' is "
		     "not a form hermetic reads: write ${NAME}, ${NAME:-default} or "
		     "${NAME-default}");
	expect_error("router: {openrouter_title: \"x${}\"}\n",
		     "t.yaml:1:28: error: router.openrouter_title: '${}' is not a form hermetic "
		     "reads: write ${NAME}, ${NAME:-default} or ${NAME-default}");
	expect_error("router: {openrouter_title: \"${1X:-a}\"}\n",
		     "t.yaml:1:28: error: router.openrouter_title: '1X' is not a valid "
		     "environment variable name (letters, digits and '_', not starting with a "
		     "digit)");
}

/* os.environ/NAME and ${NAME} work in every string field, not only keys. */
static void test_env_references_in_model_base_and_version(void **state)
{
	struct result r;

	(void)state;
	setenv("HERMETIC_TEST_BASE", "http://127.0.0.1:9/v1", 1);
	setenv("HERMETIC_TEST_MODEL", "azure/my-deploy", 1);
	setenv("HERMETIC_TEST_VERSION", "2025-01-01-preview", 1);
	r = parse("model_list:\n"
		  "  - model_name: az\n"
		  "    litellm_params:\n"
		  "      model: os.environ/HERMETIC_TEST_MODEL\n"
		  "      api_base: os.environ/HERMETIC_TEST_BASE\n"
		  "      api_version: os.environ/HERMETIC_TEST_VERSION\n"
		  "      api_key: sk-az-literal-key\n"
		  "  - model_name: oa\n"
		  "    litellm_params:\n"
		  "      model: openai/${HERMETIC_TEST_UNSET:-gpt-4o-mini}\n"
		  "      api_base: \"${HERMETIC_TEST_BASE}\"\n"
		  "      api_key: sk-oa-literal-key\n");
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.cfg->models[0].provider, "azure");
	assert_string_equal(r.cfg->models[0].upstream_model, "my-deploy");
	assert_string_equal(r.cfg->models[0].litellm_params.api_base, "http://127.0.0.1:9/v1");
	assert_string_equal(r.cfg->models[0].litellm_params.api_version, "2025-01-01-preview");
	assert_string_equal(r.cfg->models[1].upstream_model, "gpt-4o-mini");
	assert_string_equal(r.cfg->models[1].litellm_params.api_base, "http://127.0.0.1:9/v1");
	result_finish(&r);
	unsetenv("HERMETIC_TEST_BASE");
	unsetenv("HERMETIC_TEST_MODEL");
	unsetenv("HERMETIC_TEST_VERSION");
}

static void test_secrets_are_registered_for_redaction(void **state)
{
	struct result r = load("full.yaml");
	char *line;

	(void)state;
	assert_int_equal(r.rc, 0);
	line = log_redact("key=sk-or-v1-test-openrouter master=sk-test-master tg=123456:test-"
			  "telegram-token api=test-api-server-key holmes=sk-test-holmes "
			  "mcp=test-mcp-token hook=test-hook-token");
	assert_null(strstr(line, "sk-or-v1-test-openrouter"));
	assert_null(strstr(line, "sk-test-master"));
	assert_null(strstr(line, "test-telegram-token"));
	assert_null(strstr(line, "test-api-server-key"));
	assert_null(strstr(line, "sk-test-holmes"));
	assert_null(strstr(line, "test-mcp-token"));
	assert_null(strstr(line, "test-hook-token"));
	assert_non_null(strstr(line, "[REDACTED]"));
	free(line);
	/* an env value substituted into a secret (the X-Team header) is a secret too */
	line = log_redact("team blue");
	assert_string_equal(line, "team [REDACTED]");
	free(line);
	/* non-secret values are not */
	line = log_redact("http://prometheus.monitoring:9090");
	assert_string_equal(line, "http://prometheus.monitoring:9090");
	free(line);
	result_finish(&r);
}

/* LiteLLM's environment_variables: os.environ/ and ${} references and the providers' default
 * variables read them before the process environment; their values are secrets (but a
 * number or a boolean word is a setting, not redacted). */
static void test_environment_variables_serve_references_and_are_secrets(void **state)
{
	struct result r =
		parse("environment_variables:\n"
		      "  HERMETIC_TEST_TEAM: red-team\n"
		      "  MY_UPSTREAM_KEY: sk-from-env-section\n"
		      "  GROQ_API_KEY: gsk-env-section-default\n"
		      "  LITELLM_LOG_JSON: true\n"
		      "model_list:\n"
		      "  - model_name: a\n"
		      "    litellm_params: {model: openai/x, api_key: os.environ/MY_UPSTREAM_KEY,"
		      " api_base: \"http://h/${HERMETIC_TEST_TEAM}\"}\n"
		      "  - model_name: b\n"
		      "    litellm_params: {model: groq/llama}\n");
	char *line;

	(void)state;
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.cfg->models[0].litellm_params.api_key, "sk-from-env-section");
	/* the section wins over the process environment (HERMETIC_TEST_TEAM=blue there) */
	assert_string_equal(r.cfg->models[0].litellm_params.api_base, "http://h/red-team");
	assert_string_equal(r.cfg->models[1].litellm_params.api_key, "gsk-env-section-default");
	assert_int_equal(r.cfg->n_env_vars, 4);
	line = log_redact("k=sk-from-env-section g=gsk-env-section-default t=red-team json=true");
	assert_string_equal(line, "k=[REDACTED] g=[REDACTED] t=[REDACTED] json=true");
	free(line);
	/* not exported: tools and MCP servers do not inherit them */
	assert_null(getenv("MY_UPSTREAM_KEY"));
	result_finish(&r);
	expect_error("environment_variables: [A, B]\n",
		     "t.yaml:1:24: error: environment_variables: expected a mapping of names to "
		     "strings, got a sequence");
}

static void test_literal_mcp_env_values_are_not_secrets(void **state)
{
	struct result r;
	char *line;

	(void)state;
	log_forget_secrets();
	setenv("E2E_MCP_TOKEN", "from-the-environment", 1);
	r = parse("mcp_servers:\n  files:\n    command: /bin/true\n    env:\n"
		  "      TOKEN: os.environ/E2E_MCP_TOKEN\n      MODE: read-only\n"
		  "      MIXED: \"x-${E2E_MCP_TOKEN}\"\n");
	assert_int_equal(r.rc, 0);
	/* Redacting a literal would blank ordinary words out of every log line and tool
	 * result; what came from the environment is still a secret. */
	line = log_redact("a read-only mount, token from-the-environment, x-from-the-environment");
	assert_string_equal(line, "a read-only mount, token [REDACTED], x-[REDACTED]");
	free(line);
	result_finish(&r);
	unsetenv("E2E_MCP_TOKEN");
	log_forget_secrets();
}

/* A server that rejects "Authorization: Bearer <token>" may quote the token alone ("token
 * <token> is not valid"): the credentials after the scheme are a secret on their own. */
static void test_header_credentials_without_the_scheme_are_secrets(void **state)
{
	struct result r;
	char *line;

	(void)state;
	log_forget_secrets();
	setenv("E2E_MCP_HEADER", "Basic dXNlcjpwYXNzd29yZA==", 1);
	r = parse("mcp_servers:\n  web:\n    url: http://127.0.0.1:1/mcp\n    headers:\n"
		  "      Authorization: \"Bearer literal-token-123\"\n"
		  "      X-Auth: os.environ/E2E_MCP_HEADER\n");
	assert_int_equal(r.rc, 0);
	line = log_redact(
		"token literal-token-123 is not valid; bad dXNlcjpwYXNzd29yZA==; Bearer x");
	assert_string_equal(line, "token [REDACTED] is not valid; bad [REDACTED]; Bearer x");
	free(line);
	result_finish(&r);
	unsetenv("E2E_MCP_HEADER");
	log_forget_secrets();
}

static void test_secrets_are_not_registered_on_failure(void **state)
{
	struct result r;
	char *line;

	(void)state;
	log_forget_secrets();
	setenv("FAILED_SECRET", "never-registered-secret", 1);
	r = parse("general_settings: {master_key: os.environ/FAILED_SECRET}\nagent: {x: 1}\n");
	assert_int_equal(r.rc, -EINVAL);
	line = log_redact("never-registered-secret");
	assert_string_equal(line, "never-registered-secret");
	free(line);
	result_finish(&r);
	unsetenv("FAILED_SECRET");
}

static void test_secrets_never_appear_in_diag_or_summary(void **state)
{
	struct result r = load("full.yaml");
	char *summary = NULL;
	size_t len, i;
	FILE *f;

	(void)state;
	assert_int_equal(r.rc, 0);
	f = open_memstream(&summary, &len);
	cli_config_print_summary(r.cfg, f);
	fclose(f);
	for (i = 0; i < ARRAY_LEN(test_env); i++)
		if (strcmp(test_env[i][0], "HERMETIC_TEST_TEAM") != 0)
			assert_null(strstr(summary, test_env[i][1]));
	assert_non_null(strstr(summary, "master_key set"));
	assert_non_null(strstr(summary, "telegram:    on, allowed users: 2, token set"));
	assert_non_null(
		strstr(summary, "free       openrouter qwen/qwen3-coder:free (api_key set)"));
	assert_non_null(strstr(summary, "kubernetes http http://127.0.0.1:8080/mcp"));
	assert_non_null(strstr(summary, "morning-briefing \"0 7 * * *\" -> telegram:123456789"));
	assert_non_null(strstr(summary, "hooks:       1 workout"));
	free(summary);
	result_finish(&r);
	/* wrong values that came from secrets are shown by reference only */
	r = parse("model_list:\n  - model_name: a\n    litellm_params:\n      model: gpt-4o\n"
		  "      rpm: os.environ/OPENROUTER_API_KEY\n"
		  "mcp_servers: {k: {url: \"ftp://${MCP_TOKEN}@h\"}}\n");
	assert_int_equal(r.rc, -EINVAL);
	check_line(&r, "t.yaml:5:12: error: model_list[0].litellm_params.rpm: expected an integer, "
		       "got the value of 'os.environ/OPENROUTER_API_KEY'");
	check_line(&r, "t.yaml:6:24: error: mcp_servers.k.url: expected an http:// or https:// "
		       "URL, got the value of 'ftp://${MCP_TOKEN}@h'");
	for (i = 0; i < ARRAY_LEN(test_env); i++)
		assert_null(strstr(r.out, test_env[i][1]));
	result_finish(&r);
}

static void test_secret_with_line_break_is_refused(void **state)
{
	(void)state;
	setenv("NL_SECRET", "abc\r\ndef", 1);
	expect_error("api: {key: os.environ/NL_SECRET}\n",
		     "t.yaml:1:12: error: api.key: must be a single line (it is sent in an HTTP "
		     "header)");
	unsetenv("NL_SECRET");
}

static void test_summary_hides_url_credentials(void **state)
{
	struct result r = parse("mcp_servers: {k: {url: \"https://user:pw@h/mcp?token=abc\"}}\n");
	char *summary = NULL;
	size_t len;
	FILE *f;

	(void)state;
	assert_int_equal(r.rc, 0);
	f = open_memstream(&summary, &len);
	cli_config_print_summary(r.cfg, f);
	fclose(f);
	assert_non_null(strstr(summary, "https://***@h/mcp?..."));
	assert_null(strstr(summary, "pw"));
	assert_null(strstr(summary, "abc"));
	free(summary);
	result_finish(&r);
}

/* ------------------------------------------------------------------------------------------
 * Cross checks, warnings, output
 */

static void test_telegram_off_and_empty_allow_list(void **state)
{
	struct result r;

	(void)state;
	setenv("EMPTY_TOKEN", "", 1);
	r = parse("telegram: {token: os.environ/EMPTY_TOKEN}\n"
		  "cron: [{name: a, schedule: '@daily', prompt: p, deliver: 'telegram:42'}]\n");
	assert_int_equal(r.rc, 0);
	assert_false(r.cfg->telegram.enabled);
	check_line(&r,
		   "t.yaml:2:58: warning: cron[0].deliver: Telegram is off (no telegram.token), "
		   "so this is never delivered");
	result_finish(&r);
	unsetenv("EMPTY_TOKEN");
	expect_warning("telegram:\n  token: os.environ/TELEGRAM_BOT_TOKEN\n",
		       "t.yaml:2:3: warning: telegram.allowed_users is empty: nobody will be "
		       "served (add Telegram user ids)");
}

static void test_api_without_key_off_loopback_is_refused(void **state)
{
	(void)state;
	expect_error("api: {listen: \"0.0.0.0:8642\"}\n",
		     "t.yaml:1:15: error: api.listen: api.key is not set and 0.0.0.0 is not a "
		     "loopback address: anyone who can reach it could run the agent; set api.key "
		     "(e.g. os.environ/API_SERVER_KEY) or listen on 127.0.0.1");
	expect_error("api: {listen: \"127.example.com:8642\"}\n",
		     "t.yaml:1:15: error: api.listen: api.key is not set and 127.example.com is "
		     "not a loopback address: anyone who can reach it could run the agent; set "
		     "api.key (e.g. os.environ/API_SERVER_KEY) or listen on 127.0.0.1");
}

static void test_hook_prompt_without_payload_warns(void **state)
{
	(void)state;
	expect_warning("hooks: [{name: h, token: abcdef, prompt: hello}]\n",
		       "t.yaml:1:42: warning: hooks[0].prompt: has no {{payload}}: the request "
		       "body will not reach the model");
}

static void test_duplicate_keys_and_deployment_ids(void **state)
{
	(void)state;
	expect_error("keys:\n  - {key: abcdef, alias: a}\n  - {key: abcdef, alias: a}\n",
		     "t.yaml:3:11: error: keys[1]: the same key value as keys[0]; every key must "
		     "differ");
	expect_error("keys:\n  - {key: abcdef, alias: a}\n  - {key: ghijkl, alias: a}\n",
		     "t.yaml:3:26: error: keys[1]: duplicate alias 'a'");
	expect_error("model_list:\n  - {model_name: a, litellm_params: {model: x}, model_info: "
		     "{id: a-2}}\n  - {model_name: a, litellm_params: {model: y}}\n",
		     "t.yaml:3:5: error: model_list[1]: deployment id 'a-2' is already used by "
		     "model_list[0]; set a unique model_info.id");
}

static void test_diag_prints_in_file_order(void **state)
{
	struct result r = parse("log: {level: loud}\nagent: {max_iterations: 0}\nmodle: 1\n");
	const char *a, *b, *c;

	(void)state;
	assert_int_equal(r.errors, 2); /* and the top level's unknown key, a warning */
	a = strstr(r.out, "t.yaml:1:");
	b = strstr(r.out, "t.yaml:2:");
	c = strstr(r.out, "t.yaml:3:");
	assert_true(a && b && c && a < b && b < c);
	result_finish(&r);
}

/* ------------------------------------------------------------------------------------------
 * lanes
 */

static void test_lanes_load_in_order_with_every_field(void **state)
{
	char *text = with_models("mcp_servers:\n  crm: {url: \"http://127.0.0.1:9/mcp\"}\n"
				 "keys: [{key: sk-clinic-1234, alias: clinic-scripts}]\n"
				 "lanes:\n"
				 "  private:\n"
				 "    models: [cheap]\n"
				 "    chats: [\"-1001234567890\", \"-1001234567891:7\"]\n"
				 "    skills: [client-notes]\n"
				 "    mcp_servers: [crm]\n"
				 "    keys: [clinic-scripts]\n"
				 "    redact_patterns: [\"MRN-[0-9]{6}\"]\n"
				 "  deidentified:\n"
				 "    models: [free, cheap]\n"
				 "    redact: [email, phone, iban, card, ip]\n"
				 "    review_outbound: true\n"
				 "    review_expire_min: 60\n");
	struct result r = parse(text);
	const struct config_lane *l;

	(void)state;
	free(text);
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->n_lanes, 2);
	l = &r.cfg->lanes[0];
	assert_string_equal(l->name, "private");
	assert_int_equal(l->n_models, 1);
	assert_string_equal(l->models[0], "cheap");
	assert_int_equal(l->n_chats, 2);
	assert_string_equal(l->chats[1], "-1001234567891:7");
	assert_string_equal(l->skills[0], "client-notes");
	assert_string_equal(l->mcp_servers[0], "crm");
	assert_string_equal(l->keys[0], "clinic-scripts");
	assert_string_equal(l->redact_patterns[0], "MRN-[0-9]{6}");
	assert_int_equal(l->redact, 0);
	assert_false(l->review_outbound);
	assert_int_equal(l->review_expire_min, 1440);
	l = &r.cfg->lanes[1];
	assert_string_equal(l->name, "deidentified");
	assert_int_equal(l->redact, CONFIG_REDACT_EMAIL | CONFIG_REDACT_PHONE | CONFIG_REDACT_IBAN |
					    CONFIG_REDACT_CARD | CONFIG_REDACT_IP);
	assert_true(l->review_outbound); /* draft cards exist: no longer refused */
	assert_int_equal(l->review_expire_min, 60);
	result_finish(&r);
}

static void test_lanes_bad_values_are_errors_with_their_place(void **state)
{
	char *t;

	(void)state;
	t = with_models("lanes:\n  private:\n    models: [cheap, strong]\n");
	expect_error(t, "t.yaml:8:21: error: lanes.private.models[1]: 'strong' is not a model_name "
			"in model_list (known: free, cheap)");
	free(t);
	t = with_models("lanes:\n  private:\n    models: [cheap]\n    redact: [email, names]\n");
	expect_error(t, "t.yaml:9:21: error: lanes.private.redact: unknown value 'names'; use one "
			"of: email, phone, iban, card, ip");
	free(t);
	t = with_models(
		"lanes:\n  private:\n    models: [cheap]\n    redact_patterns: [\"a(b\"]\n");
	expect_error(t, "t.yaml:9:23: error: lanes.private.redact_patterns[0]: not a POSIX "
			"extended regex: Unmatched ( or \\(");
	free(t);
	t = with_models("lanes:\n  private:\n    models: [cheap]\n    chats: [\"@mychannel\"]\n");
	expect_error(t, "t.yaml:9:13: error: lanes.private.chats[0]: expected a chat id or "
			"chat:topic (\"-1001234567890\", \"-100123:7\")");
	free(t);
	t = with_models("lanes:\n  private:\n    models: [cheap]\n    mcp_servers: [crm]\n");
	expect_error(t, "t.yaml:9:19: error: lanes.private.mcp_servers[0]: 'crm' is not a server "
			"under mcp_servers");
	free(t);
	t = with_models("lanes:\n  private:\n    models: [cheap]\n    keys: [nobody]\n");
	expect_error(t, "t.yaml:9:12: error: lanes.private.keys[0]: 'nobody' is not the alias of a "
			"key under keys");
	free(t);
	t = with_models("lanes:\n  private:\n    chats: [\"1\"]\n");
	expect_error(t, "t.yaml:8:5: error: lanes.private: missing required key 'models'");
	free(t);
	t = with_models("lanes:\n  private:\n    models: [cheap]\n    review_expire_min: 0\n");
	expect_error(t, "t.yaml:9:24: error: lanes.private.review_expire_min: '0' is out of "
			"range (1..525600)");
	free(t);
}

/* docs/configuration.md holds the generated reference between two markers. */
static void test_reference_doc_matches_the_table(void **state)
{
	const char *begin_mark = "<!-- BEGIN GENERATED REFERENCE -->\n";
	char *path = data_path("../../docs/configuration.md"), *doc = NULL, *gen = NULL;
	const char *begin = NULL, *end = NULL;
	size_t doc_len = 0, gen_len;
	bool same;
	FILE *f = fopen(path, "r");

	(void)state;
	free(path);
	assert_non_null(f);
	doc = xcalloc(CONFIG_MAX_FILE_BYTES + 1, 1);
	doc_len = fread(doc, 1, CONFIG_MAX_FILE_BYTES, f);
	fclose(f);
	f = open_memstream(&gen, &gen_len);
	config_print_reference(f);
	fclose(f);
	begin = strstr(doc, begin_mark);
	end = strstr(doc, "<!-- END GENERATED REFERENCE -->");
	if (begin)
		begin += strlen(begin_mark);
	same = begin && end && begin <= end && (size_t)(end - begin) == gen_len &&
	       memcmp(begin, gen, gen_len) == 0;
	free(doc);
	free(gen);
	if (!same)
		print_error("docs/configuration.md (%zu bytes) is out of date: regenerate the "
			    "block between the markers with `hermetic config reference`\n",
			    doc_len);
	assert_true(same);
}

/* router_settings.model_group_alias: both forms, targets checked, a shadowed group named. */
static void test_model_group_alias_forms_and_checks(void **state)
{
	char *text = with_models("router_settings:\n"
				 "  model_group_alias:\n"
				 "    gpt-4: free\n"
				 "    old: {model: cheap, hidden: true}\n"
				 "    free: cheap\n"
				 "keys: [{key: sk-alias-test-key, models: [gpt-4]}]\n");
	struct result r = parse(text);
	const struct config_router_settings *rs;

	(void)state;
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	rs = &r.cfg->router_settings;
	assert_int_equal(rs->n_aliases, 3);
	assert_string_equal(rs->aliases[0].alias, "gpt-4");
	assert_string_equal(rs->aliases[0].model, "free");
	assert_false(rs->aliases[0].hidden);
	assert_string_equal(rs->aliases[1].model, "cheap");
	assert_true(rs->aliases[1].hidden);
	check_line(&r, "t.yaml:10:11: warning: model_group_alias: 'free' is also a model_name; "
		       "requests for it go to 'cheap', as in LiteLLM");
	result_finish(&r);
	free(text);
	/* a group that is not there: LiteLLM starts and fails calls to the alias; dropped */
	text = with_models("router_settings: {model_group_alias: {gpt-4: strong}}\n");
	expect_warning(text,
		       "t.yaml:6:46: warning: router_settings.model_group_alias.gpt-4: "
		       "'strong' is not a model_name in model_list: LiteLLM starts with it and "
		       "fails a call to the alias; this alias is not served");
	free(text);
	text = with_models("router_settings: {model_group_alias: {a: {model: free, hidden: 2}}}\n");
	expect_error(text, "t.yaml:6:64: error: router_settings.model_group_alias.a: expected true "
			   "or false, got '2'");
	free(text);
	/* a list: LiteLLM starts and fails calls to it; the alias is dropped with a warning */
	text = with_models("router_settings: {model_group_alias: {a: [free]}}\n");
	expect_warning(text,
		       "t.yaml:6:39: warning: router_settings.model_group_alias.a is a list: "
		       "LiteLLM starts with it and fails a call to the alias (it takes a group "
		       "name or {model, hidden}); this alias is not served");
	free(text);
	/* Both names in the unknown-key message are cut to 68 bytes and "...", each in its own
	 * buffer (two long names once overran a shared one). */
	text = with_models("router_settings: {model_group_alias: "
			   "{aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			   "aaaaaaaaaaaaaaaaaaaa: "
			   "{model: free, "
			   "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
			   "kkkkkkkkkkkkkkkkkkk: 1}}}\n");
	expect_error(text,
		     "t.yaml:6:145: error: unknown key "
		     "'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...' in "
		     "model_group_alias."
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...; "
		     "known keys: model, hidden");
	free(text);
	text = with_models("keys: [{key: sk-alias-test-key, models: [gpt-4]}]\n");
	expect_error(text, "t.yaml:6:42: error: keys[0].models[0]: 'gpt-4' is not a model_name in "
			   "model_list (known: free, cheap)");
	free(text);
}

/* model_info.mode: LiteLLM's values; another one loads as chat with a warning. */
static void test_model_info_mode(void **state)
{
	struct result r = parse("model_list:\n"
				"  - model_name: e\n"
				"    litellm_params: {model: openrouter/a/b}\n"
				"    model_info: {mode: embedding}\n"
				"  - model_name: t\n"
				"    litellm_params: {model: openrouter/a/c}\n"
				"    model_info: {mode: audio_transcription}\n"
				"  - model_name: x\n"
				"    litellm_params: {model: openrouter/a/d}\n"
				"    model_info: {mode: video_generation}\n"
				"  - model_name: d\n"
				"    litellm_params: {model: openrouter/a/e}\n");

	(void)state;
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->models[0].model_info.mode, CONFIG_MODE_EMBEDDING);
	assert_int_equal(r.cfg->models[1].model_info.mode, CONFIG_MODE_AUDIO_TRANSCRIPTION);
	assert_int_equal(r.cfg->models[2].model_info.mode, CONFIG_MODE_CHAT);
	assert_int_equal(r.cfg->models[3].model_info.mode, CONFIG_MODE_CHAT);
	check_line(&r, "t.yaml:10:24: warning: model_list[2].model_info.mode: unknown value "
		       "'video_generation' is taken as chat; known: chat, completion, embedding, "
		       "audio_transcription, audio_speech, image_generation, rerank, moderation, "
		       "responses");
	result_finish(&r);
}

/* A '*' in model_name: a warning says what it opens; two '*' are refused. */
static void test_wildcard_entries(void **state)
{
	struct result r =
		parse("model_list:\n"
		      "  - model_name: anthropic/*\n"
		      "    litellm_params: {model: anthropic/*, api_key: sk-ant-test-key}\n"
		      "  - model_name: claude-*\n"
		      "    litellm_params: {model: openrouter/qwen/qwen3-coder:free}\n");

	(void)state;
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_true(r.cfg->models[0].wildcard);
	assert_string_equal(r.cfg->models[0].upstream_model, "*");
	check_line(&r,
		   "t.yaml:2:17: warning: model_list[0].model_name: 'anthropic/*' is a "
		   "wildcard: it opens the allowlist for provider 'anthropic': any of its model "
		   "ids that matches can be called, and is billed to this deployment's key");
	check_line(&r, "t.yaml:4:17: warning: model_list[1].model_name: 'claude-*' is a wildcard: "
		       "any model name that matches is answered by "
		       "'openrouter/qwen/qwen3-coder:free' and billed to this deployment's key");
	result_finish(&r);
	expect_error("model_list:\n"
		     "  - model_name: a*b*\n"
		     "    litellm_params: {model: openrouter/x/*}\n",
		     "t.yaml:2:17: error: model_list[0].model_name: 'a*b*' has more than one '*'; "
		     "hermetic matches one (e.g. \"*\" or \"anthropic/*\")");
}

/* LiteLLM's documented keys warn; a typo of one warns naming it (an error under --strict:
 * test_config_compat.c). */
static void test_documented_litellm_keys_and_their_typos(void **state)
{
	char *text = with_models("general_settings: {store_prompts_in_spend_logs: true, "
				 "allow_user_auth: true, use_queue: true}\n"
				 "litellm_settings: {allowed_fails: 2, ssl_verify: false}\n");
	struct result r = parse(text);

	(void)state;
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.warnings, 4);
	assert_int_equal(r.cfg->router_settings.allowed_fails, 2);
	result_finish(&r);
	free(text);
	text = with_models("general_settings: {store_prompt_in_spend_logs: true}\n");
	expect_warning(text, "t.yaml:6:20: warning: unknown key 'store_prompt_in_spend_logs' in "
			     "'general_settings' (ignored, as LiteLLM ignores it); did you mean "
			     "'store_prompts_in_spend_logs'?");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_config_lands_every_field),
		cmocka_unit_test(test_full_config_sets_every_key),
		cmocka_unit_test(test_empty_config_has_every_default),
		cmocka_unit_test(test_null_values_keep_defaults),
		cmocka_unit_test(test_home_comes_from_env_when_unset),
		cmocka_unit_test(test_default_model_is_first_group),
		cmocka_unit_test(test_auxiliary_memory_defaults_to_compression),
		cmocka_unit_test(test_config_default_path_uses_env),
		cmocka_unit_test(test_unknown_key_suggests_the_closest),
		cmocka_unit_test(test_unknown_key_without_match_lists_known_keys),
		cmocka_unit_test(test_alerts_have_no_body_cap_of_their_own),
		cmocka_unit_test(test_missing_env_var_is_named_with_its_place),
		cmocka_unit_test(test_wrong_type_is_named),
		cmocka_unit_test(test_request_params_take_yaml_1_1_booleans),
		cmocka_unit_test(test_request_params_take_yaml_1_1_numbers),
		cmocka_unit_test(test_out_of_range_gives_the_range),
		cmocka_unit_test(test_missing_required_key_is_named),
		cmocka_unit_test(test_bad_model_reference_lists_known_names),
		cmocka_unit_test(test_a_whole_float_is_an_integer),
		cmocka_unit_test(test_unknown_auxiliary_slot_suggests),
		cmocka_unit_test(test_every_litellm_routing_strategy_loads),
		cmocka_unit_test(test_bad_cron_schedule_says_why),
		cmocka_unit_test(test_bad_listen_address_says_the_form),
		cmocka_unit_test(test_open_router_without_a_key_is_refused),
		cmocka_unit_test(test_duplicate_key_points_at_both),
		cmocka_unit_test(test_duplicate_cron_and_hook_names),
		cmocka_unit_test(test_deep_nesting_is_capped),
		cmocka_unit_test(test_oversized_config_is_refused),
		cmocka_unit_test(test_unreadable_file_names_the_path),
		cmocka_unit_test(test_yaml_syntax_error_has_a_position),
		cmocka_unit_test(test_counts_are_capped),
		cmocka_unit_test(test_urls_must_be_http),
		cmocka_unit_test(test_paths_must_be_absolute),
		cmocka_unit_test(test_deliver_target_must_be_telegram_chat),
		cmocka_unit_test(test_provider_prefixes),
		cmocka_unit_test(test_provider_defaults),
		cmocka_unit_test(test_more_provider_defaults),
		cmocka_unit_test(test_mcp_server_needs_exactly_one_of_url_and_command),
		cmocka_unit_test(test_mcp_oauth_keys_load_and_are_checked),
		cmocka_unit_test(test_mcp_tool_prefix_collision_is_an_error),
		cmocka_unit_test(test_hermes_mcp_keys_load_with_warnings),
		cmocka_unit_test(test_timezone_is_checked),
		cmocka_unit_test(test_toolsets_are_checked),
		cmocka_unit_test(test_duration_forms),
		cmocka_unit_test(test_litellm_keys_warn_instead_of_failing),
		cmocka_unit_test(test_fallbacks_in_both_sections_router_settings_wins),
		cmocka_unit_test(test_default_fallbacks_in_both_sections_router_settings_wins),
		cmocka_unit_test(test_max_parallel_requests_resolve_per_deployment),
		cmocka_unit_test(test_policy_exception_names_and_limit_spellings),
		cmocka_unit_test(test_router_keys_from_both_sections),
		cmocka_unit_test(test_model_group_alias_forms_and_checks),
		cmocka_unit_test(test_model_info_mode),
		cmocka_unit_test(test_wildcard_entries),
		cmocka_unit_test(test_documented_litellm_keys_and_their_typos),
		cmocka_unit_test(test_litellm_guardrails_list_is_ignored),
		cmocka_unit_test(test_quoted_numbers_are_accepted),
		cmocka_unit_test(test_anchors_aliases_and_merge_keys),
		cmocka_unit_test(test_alias_bombs_stay_cheap),
		cmocka_unit_test(test_alias_expansion_of_the_schema_walk_is_capped),
		cmocka_unit_test(test_env_references_in_both_forms),
		cmocka_unit_test(test_env_defaults_in_braces),
		cmocka_unit_test(test_env_references_in_model_base_and_version),
		cmocka_unit_test(test_secrets_are_registered_for_redaction),
		cmocka_unit_test(test_environment_variables_serve_references_and_are_secrets),
		cmocka_unit_test(test_literal_mcp_env_values_are_not_secrets),
		cmocka_unit_test(test_header_credentials_without_the_scheme_are_secrets),
		cmocka_unit_test(test_secrets_are_not_registered_on_failure),
		cmocka_unit_test(test_secrets_never_appear_in_diag_or_summary),
		cmocka_unit_test(test_secret_with_line_break_is_refused),
		cmocka_unit_test(test_summary_hides_url_credentials),
		cmocka_unit_test(test_telegram_off_and_empty_allow_list),
		cmocka_unit_test(test_api_without_key_off_loopback_is_refused),
		cmocka_unit_test(test_hook_prompt_without_payload_warns),
		cmocka_unit_test(test_duplicate_keys_and_deployment_ids),
		cmocka_unit_test(test_diag_prints_in_file_order),
		cmocka_unit_test(test_reference_doc_matches_the_table),
		cmocka_unit_test(test_lanes_load_in_order_with_every_field),
		cmocka_unit_test(test_lanes_bad_values_are_errors_with_their_place),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
