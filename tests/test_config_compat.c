/* Tests of LiteLLM compatibility in config (issue 39): an unknown key in a section LiteLLM
 * owns is a warning with its FILE:LINE:COL and hint, an error under --strict, and still an
 * error in hermetic's own sections; default_litellm_params merges under litellm_params; an
 * unset os.environ/ credential of a deployment warns; the compatibility summary; 4,096
 * deployments load.
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

#include "config_fixture.h"

static char tzdir[] = "/tmp/hermetic-tz-compat-XXXXXX";

static int setup(void **state)
{
	(void)state;
	unsetenv("COMPAT_UNSET_KEY");
	setenv("OPENROUTER_API_KEY", "sk-or-v1-test-compat", 1);
	setenv("LITELLM_MASTER_KEY", "sk-test-compat-master", 1);
	return config_fixture_tz_setup(tzdir);
}

static int teardown(void **state)
{
	(void)state;
	return config_fixture_tz_teardown(tzdir);
}

static struct result parse_mode(const char *text, bool strict)
{
	return config_fixture_parse("t.yaml", text, strict);
}

static bool has_line(const char *out, const char *line)
{
	size_t len = strlen(line);
	const char *p = out;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, len) == 0 && (p[len] == '\n' || p[len] == '\0'))
			return true;
	return false;
}

static void check_line(const char *out, const char *line)
{
	if (!has_line(out, line)) {
		print_error("expected line:\n  %s\ngot:\n%s", line, out);
		fail();
	}
}

/* Loads (not strict) with this exact warning line. */
static void expect_warning(const char *text, const char *line)
{
	struct result r = parse_mode(text, false);

	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_int_equal(config_diag_errors(r.diag), 0);
	check_line(r.out, line);
	result_finish(&r);
}

/* Fails in the given mode with this exact error line. */
static void expect_error(const char *text, bool strict, const char *line)
{
	struct result r = parse_mode(text, strict);

	assert_int_equal(r.rc, -EINVAL);
	assert_null(r.cfg);
	check_line(r.out, line);
	result_finish(&r);
}

#define ENTRY                                                                                      \
	"model_list:\n"                                                                            \
	"  - model_name: free\n"                                                                   \
	"    litellm_params:\n"                                                                    \
	"      model: openrouter/qwen/qwen3-coder:free\n"

/* One unknown key per section LiteLLM owns: the text, and the warning's position and words. */
static const char *const litellm_sections[][3] = {
	{ENTRY "      mock_timeout: true\n", "t.yaml:5:7",
	 "unknown key 'mock_timeout' in 'model_list[0].litellm_params' (ignored, as LiteLLM "
	 "ignores it); known keys: model, "},
	{ENTRY "      tpm_limits: 1000\n", "t.yaml:5:7",
	 "unknown key 'tpm_limits' in 'model_list[0].litellm_params' (ignored, as LiteLLM "
	 "ignores it); did you mean 'tpm'?"},
	{ENTRY "    model_info: {zzz_custom: 1}\n", "t.yaml:5:18",
	 "unknown key 'zzz_custom' in 'model_list[0].model_info' (ignored, as LiteLLM ignores "
	 "it); known keys: "},
	{ENTRY "    litellm_provider: openrouter\n", "t.yaml:5:5",
	 "unknown key 'litellm_provider' in 'model_list[0]' (ignored, as LiteLLM ignores it); "
	 "known keys: "},
	{ENTRY "litellm_settings:\n  log_level: DEBUG\n", "t.yaml:6:3",
	 "unknown key 'log_level' in 'litellm_settings' (ignored, as LiteLLM ignores it); known "
	 "keys: "},
	{ENTRY "router_settings:\n  timezone: UTC\n", "t.yaml:6:3",
	 "unknown key 'timezone' in 'router_settings' (ignored, as LiteLLM ignores it); known "
	 "keys: "},
	{ENTRY "general_settings:\n  master_kye: x\n", "t.yaml:6:3",
	 "unknown key 'master_kye' in 'general_settings' (ignored, as LiteLLM ignores it); did "
	 "you mean 'master_key'?"},
	{ENTRY "router_settings:\n  retry_policy: {MyOwnThing: 1}\n", "t.yaml:6:18",
	 "unknown key 'MyOwnThing' in 'router_settings.retry_policy' (ignored, as "
	 "LiteLLM ignores it); known keys: "},
};

/* The diag has a line that starts with prefix and holds words. */
static void check_prefix(const char *out, const char *prefix, const char *words)
{
	const char *p = out;
	size_t len = strlen(prefix);

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, len) == 0 && strstr(p, words) &&
		    strstr(p, words) < (strchr(p, '\n') ? strchr(p, '\n') : p + strlen(p)))
			return;
	print_error("expected a line starting %s with:\n  %s\ngot:\n%s", prefix, words, out);
	fail();
}

static void test_unknown_key_in_each_litellm_section_is_a_warning_with_place_and_hint(void **state)
{
	char prefix[64];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(litellm_sections); i++) {
		struct result r = parse_mode(litellm_sections[i][0], false);

		if (r.rc != 0)
			print_error("%s", r.out);
		assert_int_equal(r.rc, 0);
		assert_int_equal(config_diag_errors(r.diag), 0);
		snprintf(prefix, sizeof(prefix), "%s: warning: ", litellm_sections[i][1]);
		check_prefix(r.out, prefix, litellm_sections[i][2]);
		result_finish(&r);
	}
}

static void test_strict_makes_unknown_litellm_keys_errors(void **state)
{
	char prefix[64];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(litellm_sections); i++) {
		struct result r = parse_mode(litellm_sections[i][0], true);

		assert_int_equal(r.rc, -EINVAL);
		snprintf(prefix, sizeof(prefix), "%s: error: unknown key", litellm_sections[i][1]);
		check_prefix(r.out, prefix, "");
		assert_null(strstr(r.out, "ignored, as LiteLLM"));
		result_finish(&r);
	}
	/* the hint stays */
	expect_error(ENTRY "general_settings:\n  master_kye: x\n", true,
		     "t.yaml:6:3: error: unknown key 'master_kye' in 'general_settings'; did you "
		     "mean 'master_key'?");
}

/* Keys LiteLLM documents and hermetic ignores on purpose are no typos: strict keeps them. */
static void test_strict_keeps_known_ignored_keys_warnings(void **state)
{
	struct result r = parse_mode(ENTRY "litellm_settings: {drop_params: true}\n"
					   "general_settings: {store_model_in_db: true}\n",
				     true);

	(void)state;
	assert_int_equal(r.rc, 0);
	check_line(r.out, "t.yaml:5:20: warning: ignored: 'drop_params' in 'litellm_settings': "
			  "hermetic sends the client's request parameters as they are");
	result_finish(&r);
}

static void test_unknown_key_in_hermetic_sections_stays_an_error(void **state)
{
	(void)state;
	expect_error("agent:\n  max_iteration: 3\n", false,
		     "t.yaml:2:3: error: unknown key 'max_iteration' in 'agent'; did you mean "
		     "'max_iterations'?");
	/* the top level is LiteLLM's too: a typo there warns (test_litellm_value_shapes_...),
	 * an error under --strict */
	expect_error("modle_list: []\n", true,
		     "t.yaml:1:1: error: unknown key 'modle_list' at the top level; did you mean "
		     "'model_list'?");
	/* mcp_servers is hermetic's: LiteLLM's tool filter is refused, not ignored, as ignoring
	 * it would offer the model tools the user meant to hide */
	expect_error("mcp_servers:\n  fs: {command: /bin/true, allowed_tools: [read]}\n", false,
		     "t.yaml:2:28: error: unknown key 'allowed_tools' in 'mcp_servers.fs'; known "
		     "keys: url, command, transport, protocol, args, env, headers, auth, oauth, "
		     "timeout, connect_timeout, tools, sampling, roots, enabled");
}

/* Issue 49: the value shapes LiteLLM's proxy starts with, each taken from the code that reads
 * it (docs/litellm-compat.md, "How LiteLLM reads config.yaml"): the config loads, warns with
 * these words where the value is, and hermetic holds what LiteLLM would run with. */
enum shape_check {
	SH_NONE,
	SH_PERIOD,
	SH_SHUFFLE,
	SH_DEFAULT_FB,
	SH_NO_PROM,
	SH_NO_ENV_FOO,
	SH_RETRY_RATE,
	SH_ALIAS_HIDDEN,
	SH_MCP_URL,
	SH_INACTIVE,
	SH_ALIASES,
	SH_ORDER
};

static const struct {
	const char *text, *where, *words;
	enum shape_check check;
	int64_t want;
} litellm_shapes[] = {
	/* proxy_server.py ProxyConfig.load_config reads named top-level keys, ignores others */
	{ENTRY "environment:\n  OPENAI_API_KEY: x\n", "t.yaml:5:1",
	 "ignored: 'environment' at the top level: LiteLLM does not read it", SH_NONE, 0},
	{ENTRY "logging:\n  level: INFO\n", "t.yaml:5:1",
	 "ignored: 'logging' at the top level: LiteLLM does not read it", SH_NONE, 0},
	{ENTRY "model_group_settings:\n  forward_client_headers_to_llm_api: [free]\n", "t.yaml:5:1",
	 "ignored: 'model_group_settings' at the top level: LiteLLM reads model_group_settings "
	 "under litellm_settings only",
	 SH_NONE, 0},
	{ENTRY "agents:\n  max_iterations: 3\n", "t.yaml:5:1",
	 "unknown key 'agents' at the top level (ignored, as LiteLLM ignores it); did you mean "
	 "'agent'?",
	 SH_NONE, 0},
	{ENTRY "litellm_settings:\n  model_group_settings:\n    forward_client_headers_to_llm_api: "
	       "[free]\n",
	 "t.yaml:6:3", "ignored: 'model_group_settings' in 'litellm_settings'", SH_NONE, 0},
	/* a top-level prometheus: is no key of load_config: LiteLLM's shape is ignored whole */
	{ENTRY "prometheus:\n  enabled: true\n  port: 9090\n", "t.yaml:6:3",
	 "'prometheus' has LiteLLM's shape ('enabled' is no key of hermetic's prometheus toolset",
	 SH_NO_PROM, 0},
	/* _init_non_llm_configs -> MCPServerManager.load_servers_from_config */
	{ENTRY
	 "mcp_servers:\n  zapier:\n    url: https://mcp.example.com/mcp\n    transport: http\n"
	 "    spec_version: \"2025-03-26\"\n    auth_type: bearer_token\n"
	 "    description: z\n    mcp_info: {server_name: z}\n",
	 "t.yaml:9:5", "ignored: 'spec_version' in 'mcp_servers.zapier'", SH_MCP_URL, 0},
	/* _load_environment_variables: os.environ[key] = str(value) */
	{ENTRY "environment_variables:\n  FOO: {a: 1}\n  BAR: \"3\"\n", "t.yaml:6:3",
	 "environment_variables.FOO is a mapping: LiteLLM sets the variable to its Python text",
	 SH_NO_ENV_FOO, 0},
	/* Router keeps retry_policy as given; RetryPolicy(**retry_policy) only on a failure */
	{ENTRY "router_settings:\n  retry_policy:\n    RateLimitErrorRetries: 4\n"
	       "    TimeoutErrorRetries: {retries: 2}\n",
	 "t.yaml:8:5",
	 "'TimeoutErrorRetries' in 'router_settings.retry_policy' is a mapping, not a count",
	 SH_RETRY_RATE, 4},
	/* Router: self.fallbacks = fallbacks or litellm.fallbacks; a list of names is the
	 * generic form (_check_non_standard_fallback_format) */
	{ENTRY "  - model_name: spare\n    litellm_params: {model: openrouter/x/y}\n"
	       "litellm_settings:\n  fallbacks: [spare]\n",
	 "t.yaml:8:14", "litellm_settings.fallbacks is a list of group names", SH_DEFAULT_FB, 1},
	/* routing_strategy_init: an unknown strategy sets up nothing: simple-shuffle */
	{ENTRY "router_settings:\n  routing_strategy: usage-based\n", "t.yaml:6:21",
	 "'usage-based' is not a LiteLLM routing strategy", SH_SHUFFLE, 0},
	/* duration_parser._BUDGET_DURATION_WORD_ALIASES, then duration_in_seconds */
	{ENTRY "litellm_settings:\n  max_budget: 10\n  budget_duration: monthly\n", NULL, NULL,
	 SH_PERIOD, 30 * 86400},
	{ENTRY "litellm_settings:\n  max_budget: 10\n  budget_duration: Daily\n", NULL, NULL,
	 SH_PERIOD, 86400},
	{ENTRY "litellm_settings:\n  max_budget: 10\n  budget_duration: weekly\n", NULL, NULL,
	 SH_PERIOD, 7 * 86400},
	{ENTRY "litellm_settings:\n  max_budget: 10\n  budget_duration: hourly\n", NULL, NULL,
	 SH_PERIOD, 3600},
	/* load_config copies litellm_params as written; the call fails, the proxy starts */
	{ENTRY "      api_base: __HYDRA_API_BASE__\n", "t.yaml:4:14",
	 "deployment of 'free' is inactive: api_base '__HYDRA_API_BASE__' is not an http:// or "
	 "https:// URL",
	 SH_INACTIVE, 0},
	/* a deployment is active only when every call its mode implies is routed */
	{ENTRY "    model_info: {mode: moderation}\n", "t.yaml:5:24",
	 "deployment of 'free' is inactive: mode moderation: hermetic serves no /v1/moderations",
	 SH_INACTIVE, 0},
	{"model_list:\n  - model_name: free\n    litellm_params: {model: bedrock/stability.sd3, "
	 "aws_region_name: us-east-1}\n    model_info: {mode: image_generation}\n",
	 "t.yaml:4:24",
	 "deployment of 'free' is inactive: mode image_generation: /v1/images/generations goes "
	 "to OpenAI-compatible providers, gemini and vertex_ai (Imagen, Gemini image models) only",
	 SH_INACTIVE, 0},
	{"model_list:\n  - model_name: free\n    litellm_params: {model: bedrock/cohere.rerank, "
	 "aws_region_name: us-east-1}\n    model_info: {mode: rerank}\n",
	 "t.yaml:4:24",
	 "deployment of 'free' is inactive: its mode's route (audio, rerank) goes to "
	 "OpenAI-compatible providers only",
	 SH_INACTIVE, 0},
	/* Router keeps model_group_alias as given; a list fails only a call to it */
	{ENTRY "router_settings:\n  model_group_alias:\n    gpt-4: [free]\n    gpt-5: free\n",
	 "t.yaml:7:5", "router_settings.model_group_alias.gpt-4 is a list: LiteLLM starts with it",
	 SH_ALIASES, 1},
	/* utils._get_deployment_order: litellm_params.order, else model_info.order */
	{ENTRY "    model_info: {order: 3}\n", NULL, NULL, SH_ORDER, 3},
	{ENTRY "      order: 0\n    model_info: {order: 3}\n", NULL, NULL, SH_ORDER, 0},
	/* model_group_alias values: a group name or {model, hidden} (Router._get_model_from_alias)
	 */
	{ENTRY "router_settings:\n  model_group_alias:\n    gpt-4: {model: free, hidden: true}\n",
	 NULL, NULL, SH_ALIAS_HIDDEN, 1},
};

static void check_shape(const struct config *cfg, enum shape_check check, int64_t want)
{
	size_t i;

	switch (check) {
	case SH_NONE:
		break;
	case SH_PERIOD:
		assert_int_equal(cfg->litellm_settings.budget_duration_s, want);
		break;
	case SH_SHUFFLE:
		assert_int_equal(cfg->router_settings.routing_strategy,
				 CONFIG_ROUTING_SIMPLE_SHUFFLE);
		break;
	case SH_DEFAULT_FB:
		assert_int_equal(cfg->litellm_settings.n_default_fallbacks, want);
		assert_string_equal(cfg->litellm_settings.default_fallbacks[0], "spare");
		assert_int_equal(cfg->litellm_settings.n_fallbacks, 0);
		break;
	case SH_NO_PROM:
		assert_null(cfg->prometheus.url);
		break;
	case SH_NO_ENV_FOO:
		assert_int_equal(cfg->n_env_vars, 1);
		assert_string_equal(cfg->env_vars[0].name, "BAR");
		break;
	case SH_RETRY_RATE:
		assert_int_equal(cfg->router_settings.retry_policy.rate_limit, want);
		break;
	case SH_ALIAS_HIDDEN:
		assert_int_equal(cfg->router_settings.n_aliases, want);
		assert_true(cfg->router_settings.aliases[0].hidden);
		break;
	case SH_ORDER:
		assert_int_equal(cfg->models[0].litellm_params.order, want);
		break;
	case SH_ALIASES:
		assert_int_equal(cfg->router_settings.n_aliases, want);
		assert_string_equal(cfg->router_settings.aliases[0].alias, "gpt-5");
		break;
	case SH_INACTIVE:
		assert_non_null(cfg->models[0].inactive);
		break;
	case SH_MCP_URL:
		for (i = 0; i < cfg->n_mcp_servers; i++)
			if (strcmp(cfg->mcp_servers[i].name, "zapier") == 0)
				return;
		fail_msg("mcp server zapier not loaded");
	}
}

static void test_litellm_value_shapes_load_as_litellm_reads_them(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(litellm_shapes); i++) {
		struct result r = parse_mode(litellm_shapes[i].text, false);

		if (r.rc != 0)
			print_error("shape %zu:\n%s", i, r.out);
		assert_int_equal(r.rc, 0);
		if (litellm_shapes[i].where)
			check_prefix(r.out, litellm_shapes[i].where, litellm_shapes[i].words);
		check_shape(r.cfg, litellm_shapes[i].check, litellm_shapes[i].want);
		result_finish(&r);
	}
}

/* What would send the call elsewhere stays an error: a base URL under another name, or
 * litellm_params' keys written beside it in the entry. */
static void test_misrouting_keys_stay_errors(void **state)
{
	(void)state;
	expect_error(
		ENTRY "      base_url: http://vllm:8000/v1\n", false,
		"t.yaml:5:7: error: unknown key 'base_url' in 'model_list[0].litellm_params': "
		"hermetic reads api_base: if ignored, the call would go to the provider's default "
		"URL");
	expect_error(ENTRY "    api_base: http://vllm:8000/v1\n", false,
		     "t.yaml:5:5: error: unknown key 'api_base' in 'model_list[0]': it belongs in "
		     "litellm_params: if ignored, the call would go to the provider's default URL");
	expect_error(ENTRY "    api_key: sk-entry-level-key\n", false,
		     "t.yaml:5:5: error: unknown key 'api_key' in 'model_list[0]': it belongs in "
		     "litellm_params: if ignored, the call would use the provider's default key "
		     "variable");
}

/* LiteLLM's MCP gateway shape: its extra keys load with a warning each. */
static void test_litellm_mcp_server_keys_warn(void **state)
{
	struct result r = parse_mode("mcp_servers:\n"
				     "  docs:\n"
				     "    url: https://mcp.example/mcp\n"
				     "    transport: http\n"
				     "    auth_type: bearer_token\n"
				     "    auth_value: os.environ/COMPAT_UNSET_KEY\n"
				     "    description: team docs\n"
				     "    allow_all_keys: true\n"
				     "    access_groups: [dev]\n",
				     true);

	(void)state;
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	/* and "model_list is empty" */
	assert_int_equal(config_diag_warnings(r.diag), 6);
	check_prefix(r.out, "t.yaml:5:5: warning: ignored: 'auth_type' in 'mcp_servers.docs'",
		     "Authorization");
	check_prefix(r.out, "t.yaml:9:5: warning: ignored: 'access_groups'", "");
	result_finish(&r);
}

static void test_default_litellm_params_merge_under_litellm_params(void **state)
{
	struct result r = parse_mode("model_list:\n"
				     "  - model_name: a\n"
				     "    litellm_params:\n"
				     "      model: openrouter/x/a\n"
				     "      rpm: 7\n"
				     "    default_litellm_params:\n"
				     "      rpm: 99\n"
				     "      tpm: 5000\n"
				     "      timeout: 30\n"
				     "  - model_name: b\n"
				     "    default_litellm_params:\n"
				     "      model: openrouter/x/b\n"
				     "      api_key: sk-from-defaults-b\n",
				     true);
	const struct config_model *m;

	(void)state;
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	assert_int_equal(config_diag_warnings(r.diag), 0);
	m = &r.cfg->models[0];
	assert_int_equal(m->litellm_params.rpm, 7); /* litellm_params wins */
	assert_int_equal(m->litellm_params.tpm, 5000);
	assert_int_equal(m->litellm_params.timeout_s, 30);
	m = &r.cfg->models[1];
	assert_string_equal(m->upstream_model, "x/b"); /* model from the defaults alone */
	assert_string_equal(m->litellm_params.api_key, "sk-from-defaults-b");
	result_finish(&r);
}

static void test_default_litellm_params_are_checked_where_written(void **state)
{
	(void)state;
	expect_error(ENTRY "    default_litellm_params:\n      rpm: lots\n", false,
		     "t.yaml:6:12: error: model_list[0].litellm_params.rpm: expected an integer, "
		     "got 'lots'");
	expect_error(ENTRY "    default_litellm_params: [rpm]\n", false,
		     "t.yaml:5:29: error: model_list[0].default_litellm_params: expected a "
		     "mapping, got a sequence");
	expect_warning(ENTRY "    default_litellm_params: {rpm_limits: 3}\n",
		       "t.yaml:5:30: warning: unknown key 'rpm_limits' in "
		       "'model_list[0].litellm_params' (ignored, as LiteLLM ignores it); did you "
		       "mean 'rpm'?");
}

/* Merging looks each default up in litellm_params: big mappings aliased into many entries are
 * charged to the walk budget like any other expansion. */
static void test_default_litellm_params_merge_is_bounded(void **state)
{
	struct buf b;
	int i;

	(void)state;
	buf_init(&b, 0);
	buf_puts(&b, "x-p: &p {model: openrouter/x/a");
	for (i = 0; i < 1000; i++)
		buf_printf(&b, ", p%d: 1", i);
	buf_puts(&b, "}\nx-d: &d {rpm: 1");
	for (i = 0; i < 1000; i++)
		buf_printf(&b, ", d%d: 1", i);
	buf_puts(&b, "}\nmodel_list:\n");
	for (i = 0; i < 3; i++)
		buf_puts(&b,
			 "  - {model_name: a, litellm_params: *p, default_litellm_params: *d}\n");
	expect_error(buf_str(&b), false,
		     "t.yaml:2:6: error: model_list[1]: the config expands (through aliases) to "
		     "more than 100000 values");
	buf_finish(&b);
}

static void test_unset_env_of_a_deployment_key_warns_and_sends_none(void **state)
{
	struct result r = parse_mode(ENTRY "      api_key: os.environ/COMPAT_UNSET_KEY\n", true);

	(void)state;
	if (r.rc != 0)
		print_error("%s", r.out);
	assert_int_equal(r.rc, 0);
	check_line(r.out, "t.yaml:5:16: warning: model_list[0].litellm_params.api_key: environment "
			  "variable COMPAT_UNSET_KEY is not set (referenced here): the deployment "
			  "loads, and its calls go without this value (the provider will refuse "
			  "them); export it or put it in the Secret");
	/* empty, not OPENROUTER_API_KEY: no key is sent, as LiteLLM does */
	assert_string_equal(r.cfg->models[0].litellm_params.api_key, "");
	result_finish(&r);
}

/* LiteLLM reads master_key with get_secret (None when unset) and serves without
 * authentication. hermetic starts too, but locked: the key stays unset (never the empty
 * string, which an empty bearer would match) and its variable is named for the router. */
static void test_an_unset_master_key_variable_starts_the_router_locked(void **state)
{
	const char *text = ENTRY "general_settings: {master_key: os.environ/COMPAT_UNSET_KEY}\n";
	struct result r;

	(void)state;
	expect_warning(text,
		       "t.yaml:5:32: warning: general_settings.master_key: environment "
		       "variable COMPAT_UNSET_KEY is not set (referenced here): LiteLLM would "
		       "serve without authentication; hermetic starts with its router locked "
		       "(only `keys` authenticate, every other request is answered 401 naming "
		       "COMPAT_UNSET_KEY) until it is set");
	r = parse_mode(text, false);
	assert_int_equal(r.rc, 0);
	assert_null(r.cfg->general_settings.master_key);
	assert_string_equal(r.cfg->general_settings.master_key_unset, "COMPAT_UNSET_KEY");
	result_finish(&r);
}

/* A variable hermetic itself needs (the cockpit's password hash) stays an error. */
static void test_unset_env_that_hermetic_needs_stays_an_error(void **state)
{
	(void)state;
	expect_error(ENTRY "ui: {enabled: true, password_hash: os.environ/COMPAT_UNSET_KEY}\n",
		     false,
		     "t.yaml:5:36: error: ui.password_hash: environment variable "
		     "COMPAT_UNSET_KEY is not set (referenced here); export it or put it in the "
		     "Secret");
}

/* LiteLLM reads a deployment's settings with get_secret, None when unset, and starts (a
 * deployment without a model is skipped, ignore_invalid_deployments): the deployment loads
 * inactive, so an unset api_base never sends the call to the provider's public URL. */
static void test_unset_env_in_a_deployments_setting_loads_it_inactive(void **state)
{
	static const char *const texts[] = {
		"model: os.environ/COMPAT_UNSET_KEY\n",
		"model: openrouter/qwen/qwen3-coder:free\n      api_base: "
		"os.environ/COMPAT_UNSET_KEY\n",
		"model: bedrock/anthropic.claude-3-haiku\n      aws_region_name: "
		"os.environ/COMPAT_UNSET_KEY\n",
		"model: vertex_ai/gemini-2.5-flash\n      vertex_project: "
		"os.environ/COMPAT_UNSET_KEY\n",
	};
	char text[512];
	struct result r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(texts); i++) {
		snprintf(text, sizeof(text),
			 "model_list:\n  - model_name: free\n    litellm_params:\n      %s",
			 texts[i]);
		r = parse_mode(text, false);
		if (r.rc != 0)
			print_error("%s:\n%s", texts[i], r.out);
		assert_int_equal(r.rc, 0);
		check_prefix(r.out, "t.yaml:", "environment variable COMPAT_UNSET_KEY is not set");
		assert_non_null(r.cfg->models[0].inactive);
		assert_non_null(strstr(r.cfg->models[0].inactive, "COMPAT_UNSET_KEY"));
		result_finish(&r);
	}
}

/* LiteLLM serves /v1/images/generations for gemini/ and vertex_ai/ (Imagen and Gemini image
 * models, litellm/llms/{gemini,vertex_ai}/image_generation/): such a deployment is active. */
static void test_google_image_generation_deployments_are_active(void **state)
{
	static const char *const texts[] = {
		"model: gemini/imagen-4.0-generate-001\n      api_key: k\n",
		"model: gemini/gemini-2.5-flash-image\n      api_key: k\n",
		"model: vertex_ai/imagen-3.0-generate-002\n      vertex_project: p\n      "
		"vertex_location: us-central1\n",
	};
	char text[512];
	struct result r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(texts); i++) {
		snprintf(text, sizeof(text),
			 "model_list:\n  - model_name: img\n    litellm_params:\n      %s"
			 "    model_info: {mode: image_generation}\n",
			 texts[i]);
		r = parse_mode(text, false);
		if (r.rc != 0 || r.cfg->models[0].inactive)
			print_error("%s:\n%s\n%s", texts[i], r.out,
				    r.rc ? "" : r.cfg->models[0].inactive);
		assert_int_equal(r.rc, 0);
		assert_null(r.cfg->models[0].inactive);
		result_finish(&r);
	}
}

static char *compat_text(const struct result *r)
{
	char *out = NULL;
	size_t len;
	FILE *f = open_memstream(&out, &len);

	config_print_compat(r->cfg, r->diag, f);
	fclose(f);
	return out;
}

static void test_summary_groups_ignored_keys_and_counts_deployments(void **state)
{
	struct result r =
		parse_mode("model_list:\n"
			   "  - model_name: a\n"
			   "    litellm_params: {model: openrouter/x/a, mock_timeout: 1}\n"
			   "  - model_name: b\n"
			   "    litellm_params: {model: openrouter/x/b, mock_timeout: 1}\n"
			   "litellm_settings: {drop_params: true, log_level: x}\n"
			   "general_settings: {store_model_in_db: true}\n",
			   false);
	char *out;

	(void)state;
	assert_int_equal(r.rc, 0);
	out = compat_text(&r);
	assert_string_equal(out, "LiteLLM compatibility:\n"
				 "  ignored in model_list[].litellm_params: mock_timeout (unknown) "
				 "(x2)\n"
				 "  ignored in litellm_settings: drop_params, log_level (unknown)\n"
				 "  ignored in general_settings: store_model_in_db\n"
				 "deployments: 2 active, 0 inactive\n");
	free(out);
	/* an inactive deployment is listed with why, and counted */
	r.cfg->models[1].inactive = xstrdup("provider 'x' needs a device login");
	out = compat_text(&r);
	assert_non_null(strstr(out, "  inactive: b (openrouter/x/b): provider 'x' needs a device "
				    "login\ndeployments: 1 active, 1 inactive\n"));
	free(out);
	result_finish(&r);
}

static void test_summary_is_silent_without_models_or_ignored_keys(void **state)
{
	struct result r = parse_mode("agent: {max_iterations: 3}\n", false);
	char *out;

	(void)state;
	assert_int_equal(r.rc, 0);
	out = compat_text(&r);
	assert_string_equal(out, "");
	free(out);
	result_finish(&r);
}

/* 4,096 deployments, LiteLLM's largest lists and then some; one more is refused. */
/* Warnings past the 200 the diag holds do not cut the walk short: every entry loads, and an
 * error after them still shows. */
static void test_many_warnings_load_every_entry_and_keep_the_error(void **state)
{
	struct result r;
	struct buf b;
	int i;

	(void)state;
	buf_init(&b, 0);
	buf_puts(&b, "model_list:\n");
	for (i = 0; i < 300; i++)
		buf_printf(&b,
			   "  - {model_name: m%d, litellm_params: {model: openrouter/x/m%d, "
			   "mock_timeout: 1}}\n",
			   i, i);
	r = parse_mode(buf_str(&b), false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->n_models, 300);
	assert_int_equal(config_diag_warnings(r.diag), 300);
	check_line(r.out, "hermetic: 100 more messages not shown");
	result_finish(&r);
	buf_puts(&b, "agent: {max_iteration: 3}\n");
	expect_error(buf_str(&b), false,
		     "t.yaml:302:9: error: unknown key 'max_iteration' in 'agent'; did you mean "
		     "'max_iterations'?");
	buf_finish(&b);
}

static void test_model_list_of_4096_entries_loads(void **state)
{
	struct buf b;
	struct result r;
	int i;

	(void)state;
	buf_init(&b, 0);
	buf_puts(&b, "model_list:\n");
	for (i = 0; i < CONFIG_MAX_MODELS; i++)
		buf_printf(&b, "  - {model_name: m%d, litellm_params: {model: openrouter/x/m%d}}\n",
			   i, i);
	r = parse_mode(buf_str(&b), false);
	if (r.rc != 0)
		print_error("%.2000s", r.out);
	assert_int_equal(r.rc, 0);
	assert_int_equal(CONFIG_MAX_MODELS, 4096);
	assert_int_equal(r.cfg->n_models, 4096);
	assert_string_equal(r.cfg->models[4095].upstream_model, "x/m4095");
	result_finish(&r);
	buf_puts(&b, "  - {model_name: one-more, litellm_params: {model: openrouter/x/y}}\n");
	expect_error(buf_str(&b), false,
		     "t.yaml:4098:5: error: more than 4096 entries in one sequence or mapping");
	buf_finish(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_unknown_key_in_each_litellm_section_is_a_warning_with_place_and_hint),
		cmocka_unit_test(test_strict_makes_unknown_litellm_keys_errors),
		cmocka_unit_test(test_strict_keeps_known_ignored_keys_warnings),
		cmocka_unit_test(test_unknown_key_in_hermetic_sections_stays_an_error),
		cmocka_unit_test(test_litellm_value_shapes_load_as_litellm_reads_them),
		cmocka_unit_test(test_misrouting_keys_stay_errors),
		cmocka_unit_test(test_litellm_mcp_server_keys_warn),
		cmocka_unit_test(test_default_litellm_params_merge_under_litellm_params),
		cmocka_unit_test(test_default_litellm_params_are_checked_where_written),
		cmocka_unit_test(test_default_litellm_params_merge_is_bounded),
		cmocka_unit_test(test_unset_env_of_a_deployment_key_warns_and_sends_none),
		cmocka_unit_test(test_an_unset_master_key_variable_starts_the_router_locked),
		cmocka_unit_test(test_unset_env_that_hermetic_needs_stays_an_error),
		cmocka_unit_test(test_unset_env_in_a_deployments_setting_loads_it_inactive),
		cmocka_unit_test(test_google_image_generation_deployments_are_active),
		cmocka_unit_test(test_summary_groups_ignored_keys_and_counts_deployments),
		cmocka_unit_test(test_summary_is_silent_without_models_or_ignored_keys),
		cmocka_unit_test(test_many_warnings_load_every_entry_and_keep_the_error),
		cmocka_unit_test(test_model_list_of_4096_entries_loads),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
