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

#include "config_fixture.h"

static char tzdir[] = "/tmp/hermetic-tz-litellm3-XXXXXX";

static int setup(void **state)
{
	(void)state;
	unsetenv("MINIMAX_API_BASE");
	setenv("MINIMAX_API_KEY", "mm-test-key", 1);
	return config_fixture_tz_setup(tzdir);
}

static int teardown(void **state)
{
	(void)state;
	return config_fixture_tz_teardown(tzdir);
}

static struct result parse_file(const char *file, const char *text)
{
	return config_fixture_parse(file, text, false);
}

static struct result parse(const char *text)
{
	return parse_file("t.yaml", text);
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
		{"      api_base: https://api.minimaxi.com/\n", NULL,
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

/* LiteLLM's OpenAI-compatible providers, each with its default base URL and key variable as
 * LiteLLM's code has them (litellm/llms/<name>/chat/transformation.py,
 * get_llm_provider_logic.py, litellm/llms/openai_like/providers.json): a deployment that names
 * only the model loads active and calls that base with that key. */
static void test_litellms_openai_compatible_providers_load_with_their_base(void **state)
{
	static const struct {
		const char *prefix, *base, *key_env;
	} rows[] = {
		{"siliconflow", "https://api.siliconflow.com/v1", "SILICONFLOW_API_KEY"},
		{"hyperbolic", "https://api.hyperbolic.xyz/v1", "HYPERBOLIC_API_KEY"},
		{"featherless_ai", "https://api.featherless.ai/v1", "FEATHERLESS_API_KEY"},
		{"lambda_ai", "https://api.lambda.ai/v1", "LAMBDA_API_KEY"},
		{"nscale", "https://inference.api.nscale.com/v1", "NSCALE_API_KEY"},
		{"meta_llama", "https://api.llama.com/compat/v1", "LLAMA_API_KEY"},
		{"ai21_chat", "https://api.ai21.com/studio/v1", "AI21_API_KEY"},
		{"friendliai", "https://api.friendli.ai/serverless/v1", "FRIENDLIAI_API_KEY"},
		{"galadriel", "https://api.galadriel.com/v1", "GALADRIEL_API_KEY"},
		{"anyscale", "https://api.endpoints.anyscale.com/v1", "ANYSCALE_API_KEY"},
		{"empower", "https://app.empower.dev/api/v1", "EMPOWER_API_KEY"},
		{"publicai", "https://api.publicai.co/v1", "PUBLICAI_API_KEY"},
		{"helicone", "https://ai-gateway.helicone.ai", "HELICONE_API_KEY"},
		{"veniceai", "https://api.venice.ai/api/v1", "VENICE_AI_API_KEY"},
		{"xiaomi_mimo", "https://api.xiaomimimo.com/v1", "XIAOMI_MIMO_API_KEY"},
		{"scaleway", "https://api.scaleway.ai/v1", "SCW_SECRET_KEY"},
		{"synthetic", "https://api.synthetic.new/openai/v1", "SYNTHETIC_API_KEY"},
		{"apertis", "https://api.stima.tech/v1", "STIMA_API_KEY"},
		{"nano-gpt", "https://nano-gpt.com/api/v1", "NANOGPT_API_KEY"},
		{"poe", "https://api.poe.com/v1", "POE_API_KEY"},
		{"chutes", "https://llm.chutes.ai/v1", "CHUTES_API_KEY"},
		{"abliteration", "https://api.abliteration.ai/v1", "ABLITERATION_API_KEY"},
		{"llamagate", "https://api.llamagate.dev/v1", "LLAMAGATE_API_KEY"},
		{"gmi", "https://api.gmi-serving.com/v1", "GMI_API_KEY"},
		{"assemblyai", "https://llm-gateway.assemblyai.com/v1", "ASSEMBLYAI_API_KEY"},
		{"charity_engine", "https://api.charityengine.services/remotejobs/v2/inference",
		 "CHARITY_ENGINE_API_KEY"},
		{"aihubmix", "https://aihubmix.com/v1", "AIHUBMIX_API_KEY"},
	};
	char text[256];
	struct result r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(rows); i++) {
		setenv(rows[i].key_env, "k-test-provider", 1);
		snprintf(text, sizeof(text),
			 "model_list:\n  - model_name: p\n    litellm_params:\n"
			 "      model: %s/some-org/some-model\n",
			 rows[i].prefix);
		r = parse(text);
		loads(&r, text);
		if (r.cfg->models[0].inactive)
			print_error("%s: %s\n", rows[i].prefix, r.cfg->models[0].inactive);
		assert_null(r.cfg->models[0].inactive);
		assert_string_equal(r.cfg->models[0].provider, rows[i].prefix);
		assert_int_equal(r.cfg->models[0].dialect, DIALECT_OPENAI);
		assert_string_equal(r.cfg->models[0].upstream_model, "some-org/some-model");
		assert_string_equal(r.cfg->models[0].litellm_params.api_base, rows[i].base);
		assert_string_equal(r.cfg->models[0].litellm_params.api_key, "k-test-provider");
		result_finish(&r);
		unsetenv(rows[i].key_env);
	}
}

/* Numbers LiteLLM takes that hermetic's whole units did not: a weight is any positive number
 * (Router's simple_shuffle normalises weights by their sum: 0.7 and 0.3 split 7:3, kept as
 * thousandths); a cooldown_time in fractions of a second and a max_parallel_requests past
 * hermetic's cap load rounded up and clamped, with a warning. */
static void test_litellm_numbers_load_as_litellm_takes_them(void **state)
{
	static const struct {
		const char *weight;
		int64_t want;
	} weights[] = {{"0.7", 700}, {"0.3", 300}, {"9", 9000}, {"0.0001", 1}, {"0", 0}};
	static const char text2[] = "model_list:\n  - model_name: m\n    litellm_params:\n"
				    "      model: minimax/a\n      max_parallel_requests: 1000000\n"
				    "router_settings:\n  cooldown_time: 30.5\n  retry_after: 0.5\n"
				    "  allowed_fails: 5000\n";
	static const char text3[] = "model_list:\n  - model_name: m\n    litellm_params:\n"
				    "      model: minimax/a\n      rpm: 1.5\n";
	char text[256];
	struct result r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(weights); i++) {
		snprintf(text, sizeof(text),
			 "model_list:\n  - model_name: m\n    litellm_params:\n"
			 "      model: minimax/a\n      weight: %s\n",
			 weights[i].weight);
		r = parse(text);
		loads(&r, text);
		assert_int_equal(r.cfg->models[0].litellm_params.weight, weights[i].want);
		result_finish(&r);
	}
	r = parse(text2);
	loads(&r, text2);
	assert_int_equal(r.cfg->models[0].litellm_params.max_parallel_requests, 100000);
	assert_int_equal(r.cfg->router_settings.cooldown_time_s, 31);
	assert_int_equal(r.cfg->router_settings.retry_after_s, 1);
	assert_int_equal(r.cfg->router_settings.allowed_fails, 1000);
	check_has(r.out, "t.yaml:5:30: warning: ");
	check_has(r.out, "t.yaml:7:18: warning: ");
	check_has(r.out, "t.yaml:8:16: warning: ");
	check_has(r.out, "t.yaml:9:18: warning: ");
	result_finish(&r);
	r = parse(text3);
	loads(&r, text3);
	assert_int_equal(r.cfg->models[0].litellm_params.rpm, 2);
	result_finish(&r);
}

/* Router._get_model_from_alias reads model_group_alias only when the alias is called: an
 * alias naming no model_name loads (dropped, with a warning); the others are kept. */
static void test_alias_to_a_missing_group_is_dropped_with_a_warning(void **state)
{
	static const struct {
		const char *models, *alias;
		size_t want;
	} rows[] = {
		{"  - model_name: m\n    litellm_params: {model: minimax/a}\n", "{x: gone}", 0},
		{"  - model_name: m\n    litellm_params: {model: minimax/a}\n",
		 "{x: {model: gone, hidden: true}}", 0},
		{"  - model_name: m\n    litellm_params: {model: minimax/a}\n", "{x: m, y: gone}",
		 1},
	};
	char text[512];
	struct result r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(rows); i++) {
		snprintf(text, sizeof(text),
			 "model_list:\n%srouter_settings:\n  model_group_alias: %s\n",
			 rows[i].models, rows[i].alias);
		r = parse(text);
		loads(&r, text);
		assert_int_equal(r.cfg->router_settings.n_aliases, rows[i].want);
		if (strstr(rows[i].alias, "gone"))
			check_has(r.out, "'gone' is not a model_name in model_list: LiteLLM starts "
					 "with it and fails a call to the alias");
		result_finish(&r);
	}
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

/* litellm_settings.custom_provider_map: LiteLLM imports each custom_handler at start-up
 * (proxy_server.py, get_instance_fn); hermetic cannot run Python, so it says that at the key,
 * and the provider's deployments load inactive. */
static void test_custom_provider_map_is_named_as_python_handlers(void **state)
{
	static const char text[] = "model_list:\n  - model_name: a\n    litellm_params:\n"
				   "      model: my-agent/release\n"
				   "litellm_settings:\n  custom_provider_map:\n"
				   "    - {provider: my-agent, custom_handler: handler.instance}\n";
	struct result r;

	(void)state;
	r = parse(text);
	loads(&r, text);
	check_has(r.out, "t.yaml:6:3: warning: ignored: 'custom_provider_map' in "
			 "'litellm_settings': its handlers are Python that LiteLLM imports");
	assert_null(strstr(r.out, "'custom_provider_map' in 'litellm_settings' (ignored, as"));
	assert_non_null(r.cfg->models[0].inactive);
	result_finish(&r);
}

/* ---------------------------------------------------------------------------------------
 * include: (LiteLLM's ProxyConfig._process_includes)
 */

static char incdir[] = "/tmp/hermetic-include-XXXXXX";

static char *write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", incdir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static struct result load(const char *path)
{
	struct result r = {.diag = config_diag_create()};
	size_t len;
	FILE *f;

	r.rc = config_load(path, &r.cfg, r.diag);
	f = open_memstream(&r.out, &len);
	config_diag_print(r.diag, f);
	fclose(f);
	return r;
}

#define DEPLOYMENT(name) "  - model_name: " name "\n    litellm_params: {model: minimax/" name "}\n"

/* Each row: the config, the files beside it, and the model_name of each deployment in the
 * order LiteLLM's merge leaves them (a list extends the config's, a file's include: list
 * extends the list being read, a mapping replaces). */
static void test_include_merges_files_as_litellm_does(void **state)
{
	static const struct {
		const char *config, *a, *b, *want;
	} rows[] = {
		/* model_list extended, the config's own entries first */
		{"include: [a.yaml]\nmodel_list:\n" DEPLOYMENT("m0"),
		 "model_list:\n" DEPLOYMENT("m1") DEPLOYMENT("m2"), NULL, "m0 m1 m2"},
		/* a key the config lacks is added; two files in their order */
		{"include:\n  - a.yaml\n  - b.yaml\n", "model_list:\n" DEPLOYMENT("m1"),
		 "model_list:\n" DEPLOYMENT("m2"), "m1 m2"},
		/* an included file's include: is read too, from the config's directory */
		{"include: [a.yaml]\n", "include: [b.yaml]\nmodel_list:\n" DEPLOYMENT("m1"),
		 "model_list:\n" DEPLOYMENT("m2"), "m1 m2"},
		/* a value that is no list replaces the config's (model_list: {} is not extended) */
		{"include: [a.yaml]\nmodel_list:\n" DEPLOYMENT("m0"), "model_list: null\n", NULL,
		 ""},
	};
	char *paths[3], got[256];
	struct result r;
	size_t i, j;

	(void)state;
	assert_non_null(mkdtemp(incdir));
	for (i = 0; i < ARRAY_LEN(rows); i++) {
		paths[0] = write_file("config.yaml", rows[i].config);
		paths[1] = write_file("a.yaml", rows[i].a);
		paths[2] = rows[i].b ? write_file("b.yaml", rows[i].b) : NULL;
		r = load(paths[0]);
		loads(&r, rows[i].config);
		got[0] = '\0';
		for (j = 0; j < r.cfg->n_models; j++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", j ? " " : "",
				 r.cfg->models[j].model_name);
		if (strcmp(got, rows[i].want) != 0)
			print_error("row %zu: got '%s'\n%s", i, got, r.out);
		assert_string_equal(got, rows[i].want);
		if (strstr(r.out, "include:"))
			print_error("%s", r.out);
		assert_null(strstr(r.out, "include:"));
		result_finish(&r);
		for (j = 0; j < 3; j++)
			if (paths[j]) {
				remove(paths[j]);
				free(paths[j]);
			}
	}
	rmdir(incdir);
	memcpy(incdir + strlen(incdir) - 6, "XXXXXX", 6);
}

/* A message about an included value points into its file; a file that cannot be read is a
 * warning (LiteLLM raises FileNotFoundError), an include: that is no list an error (LiteLLM's
 * ValueError). */
static void test_include_messages_name_the_included_file(void **state)
{
	char *config, *a, *want;
	struct result r;

	(void)state;
	assert_non_null(mkdtemp(incdir));
	config = write_file("config.yaml", "include: [a.yaml, gone.yaml]\n");
	a = write_file("a.yaml", "model_list:\n  - model_name: m\n    litellm_params:\n"
				 "      model: minimax/m\n      zzz_unknown: 1\n");
	r = load(config);
	loads(&r, "include of a.yaml");
	assert_int_equal(r.cfg->n_models, 1);
	want = xasprintf("%s:5:7: warning: unknown key 'zzz_unknown'", a);
	check_has(r.out, want);
	free(want);
	want = xasprintf("%s:1:19: warning: include: cannot read %s/gone.yaml", config, incdir);
	check_has(r.out, want);
	free(want);
	result_finish(&r);
	/* --strict refuses what LiteLLM refuses */
	remove(config);
	free(config);
	config = write_file("config.yaml", "include: [gone.yaml]\n");
	r = (struct result){.diag = config_diag_create()};
	config_diag_set_strict(r.diag, true);
	assert_int_equal(config_load(config, &r.cfg, r.diag), -EINVAL);
	assert_int_equal(config_diag_errors(r.diag), 1);
	result_finish(&r);

	remove(config);
	free(config);
	config = write_file("config.yaml", "include: a.yaml\n");
	r = load(config);
	assert_int_equal(r.rc, -EINVAL);
	want = xasprintf("%s:1:10: error: include must be a list of file paths", config);
	check_has(r.out, want);
	free(want);
	result_finish(&r);

	remove(config);
	remove(a);
	free(config);
	free(a);
	rmdir(incdir);
	memcpy(incdir + strlen(incdir) - 6, "XXXXXX", 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chatgpt_deployments_are_inactive_as_device_login),
		cmocka_unit_test(test_minimax_is_openai_compatible_at_litellms_base),
		cmocka_unit_test(test_litellms_openai_compatible_providers_load_with_their_base),
		cmocka_unit_test(test_litellm_numbers_load_as_litellm_takes_them),
		cmocka_unit_test(test_alias_to_a_missing_group_is_dropped_with_a_warning),
		cmocka_unit_test(test_vertex_ai_spellings_are_read_as_vertex_keys),
		cmocka_unit_test(test_default_vertex_config_is_ignored_as_pass_through_routes),
		cmocka_unit_test(test_custom_provider_map_is_named_as_python_handlers),
		cmocka_unit_test(test_include_merges_files_as_litellm_does),
		cmocka_unit_test(test_include_messages_name_the_included_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
