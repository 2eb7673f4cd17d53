/* Tests of what the third LiteLLM survey (docs/litellm-compat.md, "Survey 3") found hermetic
 * reading differently from LiteLLM's own code: chatgpt/ is a device-login provider, minimax/ an
 * OpenAI-compatible one with LiteLLM's base URL, vertex_ai_project / vertex_ai_location /
 * vertex_ai_credentials the same keys as vertex_*, default_vertex_config a key LiteLLM reads
 * for its pass-through routes, and a top-level include: merged as ProxyConfig._process_includes
 * merges it.
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

static char tzdir[] = "/tmp/hermetic-tz-litellm3-XXXXXX";

static int setup(void **state)
{
	char *path;
	FILE *f;

	(void)state;
	unsetenv("HERMETIC_HOME");
	unsetenv("MINIMAX_API_BASE");
	setenv("MINIMAX_API_KEY", "mm-test-key", 1);
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

static struct result parse_file(const char *file, const char *text)
{
	struct result r = {.diag = config_diag_create()};
	size_t len;
	FILE *f;

	r.rc = config_parse(file, text, strlen(text), &r.cfg, r.diag);
	f = open_memstream(&r.out, &len);
	config_diag_print(r.diag, f);
	fclose(f);
	return r;
}

static struct result parse(const char *text)
{
	return parse_file("t.yaml", text);
}

static void result_finish(struct result *r)
{
	config_destroy(r->cfg);
	config_diag_destroy(r->diag);
	free(r->out);
}

static void loads(const struct result *r, const char *what)
{
	if (r->rc != 0)
		print_error("%s:\n%s", what, r->out);
	assert_int_equal(r->rc, 0);
}

static void check_has(const char *out, const char *words)
{
	if (!strstr(out, words)) {
		print_error("expected:\n  %s\ngot:\n%s", words, out);
		fail();
	}
}

/* LiteLLM's chatgpt/ provider signs in with its Authenticator's OAuth device code
 * (litellm/llms/chatgpt/authenticator.py): loaded inactive as a device-login provider, like
 * github_copilot, not as a provider hermetic does not know. */
static void test_chatgpt_deployments_are_inactive_as_device_login(void **state)
{
	static const char *const models[] = {"chatgpt/gpt-5.4", "chatgpt/gpt-5-codex"};
	char text[256];
	struct result r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(models); i++) {
		snprintf(text, sizeof(text),
			 "model_list:\n  - model_name: c\n    litellm_params:\n      model: %s\n"
			 "    model_info: {mode: responses}\n",
			 models[i]);
		r = parse(text);
		loads(&r, models[i]);
		assert_non_null(r.cfg->models[0].inactive);
		check_has(r.cfg->models[0].inactive, "device-login");
		assert_null(strstr(r.out, "not one hermetic knows"));
		result_finish(&r);
	}
}

/* LiteLLM's MinimaxChatConfig: OpenAI's chat API at https://api.minimax.io/v1 (or
 * MINIMAX_API_BASE), key MINIMAX_API_KEY, /v1 put under an api_base that lacks it. */
static void test_minimax_is_openai_compatible_at_litellms_base(void **state)
{
	static const struct {
		const char *params, *env_base, *want_base;
	} rows[] = {
		{"", NULL, "https://api.minimax.io/v1"},
		{"", "https://api.minimaxi.com/v1", "https://api.minimaxi.com/v1"},
		{"      api_base: https://api.minimaxi.com/v1\n", NULL,
		 "https://api.minimaxi.com/v1"},
	};
	char text[512];
	struct result r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(rows); i++) {
		if (rows[i].env_base)
			setenv("MINIMAX_API_BASE", rows[i].env_base, 1);
		else
			unsetenv("MINIMAX_API_BASE");
		snprintf(text, sizeof(text),
			 "model_list:\n  - model_name: m\n    litellm_params:\n"
			 "      model: minimax/MiniMax-M2\n%s",
			 rows[i].params);
		r = parse(text);
		loads(&r, text);
		assert_null(r.cfg->models[0].inactive);
		assert_string_equal(r.cfg->models[0].provider, "minimax");
		assert_int_equal(r.cfg->models[0].dialect, DIALECT_OPENAI);
		assert_string_equal(r.cfg->models[0].upstream_model, "MiniMax-M2");
		assert_string_equal(r.cfg->models[0].litellm_params.api_base, rows[i].want_base);
		assert_string_equal(r.cfg->models[0].litellm_params.api_key, "mm-test-key");
		assert_null(strstr(r.out, "not one hermetic knows"));
		result_finish(&r);
	}
	unsetenv("MINIMAX_API_BASE");
}

/* LiteLLM's main.py takes vertex_ai_project, vertex_ai_location and vertex_ai_credentials
 * where vertex_project, vertex_location and vertex_credentials are not given. */
static void test_vertex_ai_spellings_are_read_as_vertex_keys(void **state)
{
	static const char text[] = "model_list:\n  - model_name: g\n    litellm_params:\n"
				   "      model: vertex_ai/gemini-2.5-flash\n"
				   "      vertex_ai_project: proj-a\n"
				   "      vertex_ai_location: europe-west4\n";
	struct result r;

	(void)state;
	r = parse(text);
	loads(&r, text);
	assert_string_equal(r.cfg->models[0].litellm_params.vertex_project, "proj-a");
	assert_string_equal(r.cfg->models[0].litellm_params.vertex_location, "europe-west4");
	assert_null(strstr(r.out, "vertex_ai_project"));
	assert_null(strstr(r.out, "vertex_ai_location"));
	result_finish(&r);
}

/* proxy_server.py reads default_vertex_config (set_default_vertex_config) for its Vertex
 * pass-through routes: not a key LiteLLM ignores, one hermetic has no routes for. */
static void test_default_vertex_config_is_ignored_as_pass_through_routes(void **state)
{
	static const char text[] = "default_vertex_config:\n  vertex_project: p\n"
				   "model_list:\n  - model_name: m\n    litellm_params:\n"
				   "      model: minimax/MiniMax-M2\n";
	struct result r;

	(void)state;
	r = parse(text);
	loads(&r, text);
	check_has(r.out, "t.yaml:1:1: warning: ignored: 'default_vertex_config' at the top "
			 "level: hermetic serves a fixed set of routes");
	assert_null(strstr(r.out, "as LiteLLM ignores it"));
	result_finish(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chatgpt_deployments_are_inactive_as_device_login),
		cmocka_unit_test(test_minimax_is_openai_compatible_at_litellms_base),
		cmocka_unit_test(test_vertex_ai_spellings_are_read_as_vertex_keys),
		cmocka_unit_test(test_default_vertex_config_is_ignored_as_pass_through_routes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
