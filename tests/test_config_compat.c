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

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

static char tzdir[] = "/tmp/hermetic-tz-compat-XXXXXX";

static int setup(void **state)
{
	char *path;
	FILE *f;

	(void)state;
	unsetenv("HERMETIC_HOME");
	unsetenv("COMPAT_UNSET_KEY");
	setenv("OPENROUTER_API_KEY", "sk-or-v1-test-compat", 1);
	setenv("LITELLM_MASTER_KEY", "sk-test-compat-master", 1);
	if (!mkdtemp(tzdir))
		return -1;
	path = xasprintf("%s/UTC", tzdir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs("TZif2 test zone\n", f);
	fclose(f);
	free(path);
	setenv("TZDIR", tzdir, 1);
	log_set_stderr(0);
	return 0;
}

static int teardown(void **state)
{
	char *path = xasprintf("%s/UTC", tzdir);

	(void)state;
	remove(path);
	free(path);
	rmdir(tzdir);
	log_forget_secrets();
	return 0;
}

struct result {
	int rc;
	struct config *cfg;
	struct config_diag *diag;
	char *out; /* the diag as config check prints it */
};

static struct result parse_mode(const char *text, bool strict)
{
	struct result r = {.diag = config_diag_create()};
	size_t len;
	FILE *f;

	config_diag_set_strict(r.diag, strict);
	r.rc = config_parse("t.yaml", text, strlen(text), &r.cfg, r.diag);
	f = open_memstream(&r.out, &len);
	config_diag_print(r.diag, f);
	fclose(f);
	return r;
}

static void result_finish(struct result *r)
{
	config_destroy(r->cfg);
	config_diag_destroy(r->diag);
	free(r->out);
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
	expect_error("modle_list: []\n", false,
		     "t.yaml:1:1: error: unknown key 'modle_list' at the top level; did you mean "
		     "'model_list'?");
	/* mcp_servers is hermetic's: LiteLLM's tool filter is refused, not ignored, as ignoring
	 * it would offer the model tools the user meant to hide */
	expect_error("mcp_servers:\n  fs: {command: /bin/true, allowed_tools: [read]}\n", false,
		     "t.yaml:2:28: error: unknown key 'allowed_tools' in 'mcp_servers.fs'; known "
		     "keys: url, command, transport, args, env, headers, timeout, connect_timeout, "
		     "tools, sampling, enabled");
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

static void test_unset_env_that_hermetic_needs_stays_an_error(void **state)
{
	(void)state;
	expect_error(ENTRY "general_settings: {master_key: os.environ/COMPAT_UNSET_KEY}\n", false,
		     "t.yaml:5:32: error: general_settings.master_key: environment variable "
		     "COMPAT_UNSET_KEY is not set (referenced here); export it or put it in the "
		     "Secret");
	/* an unset api_base would send the call to the provider's public URL */
	expect_error(ENTRY "      api_base: os.environ/COMPAT_UNSET_KEY\n", false,
		     "t.yaml:5:17: error: model_list[0].litellm_params.api_base: environment "
		     "variable COMPAT_UNSET_KEY is not set (referenced here); export it or put it "
		     "in the Secret");
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
		cmocka_unit_test(test_misrouting_keys_stay_errors),
		cmocka_unit_test(test_litellm_mcp_server_keys_warn),
		cmocka_unit_test(test_default_litellm_params_merge_under_litellm_params),
		cmocka_unit_test(test_default_litellm_params_are_checked_where_written),
		cmocka_unit_test(test_default_litellm_params_merge_is_bounded),
		cmocka_unit_test(test_unset_env_of_a_deployment_key_warns_and_sends_none),
		cmocka_unit_test(test_unset_env_that_hermetic_needs_stays_an_error),
		cmocka_unit_test(test_summary_groups_ignored_keys_and_counts_deployments),
		cmocka_unit_test(test_summary_is_silent_without_models_or_ignored_keys),
		cmocka_unit_test(test_many_warnings_load_every_entry_and_keep_the_error),
		cmocka_unit_test(test_model_list_of_4096_entries_loads),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
