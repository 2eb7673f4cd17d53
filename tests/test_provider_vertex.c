/* provider vertex: where a Vertex AI request goes and what its body says. Gemini on Vertex:
 * the publishers/google URL (streamed with alt=sse), Gemini's body; Claude on Vertex: the
 * publishers/anthropic rawPredict URL (streamRawPredict when streamed), the Messages body with
 * anthropic_version and without model; ids that could change the URL refused; an api_base
 * with its own version kept; other routes refused; Google's and Anthropic's error shapes
 * each translated by their own dialect. The answers are gemini.c's and anthropic.c's (their
 * own tests).
 */
#include "test.h"
#include "router/providers/provider.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HI "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":7}"

static struct config_model model(enum provider_dialect d, const char *id)
{
	struct config_model m;

	memset(&m, 0, sizeof(m));
	m.model_name = "v";
	m.provider = "vertex_ai";
	m.dialect = d;
	m.upstream_model = (char *)id;
	m.litellm_params.api_base = "https://us-east5-aiplatform.googleapis.com";
	m.litellm_params.vertex_project = "proj-1";
	m.litellm_params.vertex_location = "us-east5";
	return m;
}

/* Builds HI for m; returns the body parsed (the URL in *url), or NULL with err set. */
static cJSON *build(const struct config_model *m, enum provider_route route, bool stream,
		    char **url, char *err, size_t err_len)
{
	cJSON *req = json_exact_parse(HI, strlen(HI));
	struct provider_request out = {0};
	cJSON *body = NULL;

	if (provider_ops_of(m->dialect)->build(m, route, req, stream, &out, err, err_len) == 0) {
		assert_int_equal(out.body_len, strlen(out.body));
		body = json_exact_parse(out.body, out.body_len);
		assert_non_null(body);
		*url = xstrdup(out.url);
	}
	provider_request_finish(&out);
	cJSON_Delete(req);
	return body;
}

static void gemini_goes_to_the_google_publisher(void **state)
{
	struct config_model m = model(DIALECT_VERTEX, "gemini-2.5-flash");
	char err[256] = "", *url = NULL;
	cJSON *body = build(&m, PROVIDER_CHAT, false, &url, err, sizeof(err));

	assert_non_null(body);
	assert_string_equal(url, "https://us-east5-aiplatform.googleapis.com/v1/projects/proj-1/"
				 "locations/us-east5/publishers/google/models/"
				 "gemini-2.5-flash:generateContent");
	assert_non_null(cJSON_GetObjectItem(body, "contents"));
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "generationConfig"),
					     "maxOutputTokens")
				 ->valueint,
			 7);
	cJSON_Delete(body);
	free(url);
	body = build(&m, PROVIDER_CHAT, true, &url, err, sizeof(err));
	assert_non_null(body);
	assert_non_null(strstr(url, "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"));
	cJSON_Delete(body);
	free(url);
}

static void claude_is_a_raw_predict_without_model(void **state)
{
	struct config_model m = model(DIALECT_VERTEX_ANTHROPIC, "claude-sonnet-4@20250514");
	char err[256] = "", *url = NULL;
	cJSON *body = build(&m, PROVIDER_CHAT, false, &url, err, sizeof(err));

	assert_non_null(body);
	assert_string_equal(url, "https://us-east5-aiplatform.googleapis.com/v1/projects/proj-1/"
				 "locations/us-east5/publishers/anthropic/models/"
				 "claude-sonnet-4@20250514:rawPredict");
	assert_string_equal(cJSON_GetObjectItem(body, "anthropic_version")->valuestring,
			    "vertex-2023-10-16");
	assert_null(cJSON_GetObjectItem(body, "model"));
	assert_int_equal(cJSON_GetObjectItem(body, "max_tokens")->valueint, 7);
	assert_null(cJSON_GetObjectItem(body, "stream"));
	cJSON_Delete(body);
	free(url);
	body = build(&m, PROVIDER_CHAT, true, &url, err, sizeof(err));
	assert_non_null(body);
	assert_non_null(strstr(url, ":streamRawPredict"));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(body, "stream")));
	cJSON_Delete(body);
	free(url);
}

/* A wildcard deployment's id comes from the client: nothing that could change the URL's path
 * or the body's framing gets through. */
static void a_strange_model_id_is_refused(void **state)
{
	static const char *const bad[] = {"claude-x\",\"max_tokens\":1", "gemini/../../x",
					  "gemini:streamRawPredict?x", "gemini pro"};
	char err[256], *url = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config_model m =
			model(i % 2 ? DIALECT_VERTEX : DIALECT_VERTEX_ANTHROPIC, bad[i]);

		err[0] = '\0';
		assert_null(build(&m, PROVIDER_CHAT, false, &url, err, sizeof(err)));
		assert_non_null(strstr(err, "is not a Vertex model id"));
	}
}

static void an_api_base_with_a_version_keeps_it(void **state)
{
	struct config_model m = model(DIALECT_VERTEX, "gemini-2.5-pro");
	char err[256] = "", *url = NULL;
	cJSON *body;

	m.litellm_params.api_base = "https://gateway.example/vertex/v1beta1/";
	body = build(&m, PROVIDER_CHAT, false, &url, err, sizeof(err));
	assert_non_null(body);
	assert_string_equal(url, "https://gateway.example/vertex/v1beta1/projects/proj-1/"
				 "locations/us-east5/publishers/google/models/"
				 "gemini-2.5-pro:generateContent");
	cJSON_Delete(body);
	free(url);
}

static void other_routes_are_refused(void **state)
{
	struct config_model m = model(DIALECT_VERTEX, "text-embedding-005");
	char err[256] = "", *url = NULL;

	assert_null(build(&m, PROVIDER_EMBEDDINGS, false, &url, err, sizeof(err)));
	assert_non_null(strstr(err, "chat completions and image generations only"));
	m = model(DIALECT_VERTEX_ANTHROPIC, "claude-haiku-4-5@20251001");
	err[0] = '\0';
	assert_null(build(&m, PROVIDER_EMBEDDINGS, false, &url, err, sizeof(err)));
	assert_string_not_equal(err, "");
}

static void errors_keep_their_publisher_shape(void **state)
{
	static const char google[] =
		"{\"error\":{\"code\":401,\"message\":\"Request had invalid "
		"authentication credentials.\",\"status\":\"UNAUTHENTICATED\"}}";
	static const char claude[] = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
				     "\"message\":\"Overloaded\"}}";
	char *e = provider_vertex_anthropic.error(401, google, strlen(google));
	cJSON *j = json_exact_parse(e, strlen(e));

	assert_non_null(
		strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")->valuestring,
		       "invalid authentication credentials"));
	cJSON_Delete(j);
	free(e);
	e = provider_vertex_anthropic.error(529, claude, strlen(claude));
	j = json_exact_parse(e, strlen(e));
	assert_string_equal(
		cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")->valuestring,
		"Overloaded");
	cJSON_Delete(j);
	free(e);
}

/* Loads one vertex_ai deployment whose vertex_credentials is cred (as a YAML double-quoted
 * scalar's text); the diagnostics in *out (malloc'd). */
static int load_with_credentials(const char *cred, char **out, struct config **cfg)
{
	struct config_diag *d = config_diag_create();
	struct buf yaml;
	size_t len;
	FILE *f;
	int rc;

	buf_init(&yaml, 0);
	buf_puts(&yaml, "model_list:\n  - model_name: g\n    litellm_params:\n"
			"      model: vertex_ai/gemini-2.5-pro\n      vertex_credentials: \"");
	for (const char *p = cred; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_puts(&yaml, "\\");
		if (*p == '\n')
			buf_puts(&yaml, "\\n");
		else
			buf_append(&yaml, p, 1);
	}
	buf_puts(&yaml, "\"\n");
	rc = config_parse("t.yaml", yaml.data, yaml.len, cfg, d);
	f = open_memstream(out, &len);
	config_diag_print(d, f);
	fclose(f);
	config_diag_destroy(d);
	buf_finish(&yaml);
	return rc;
}

/* vertex_credentials holding the key's JSON after blanks is the JSON (not a path to open), and
 * a bad key in it is reported without quoting it: the private key never reaches the error. */
static void inline_credentials_after_blanks_are_read_and_never_quoted(void **state)
{
	char path[512], *err = NULL, *text;
	struct buf key;
	cJSON *compact;
	struct config *cfg = NULL;
	static const char bad[] = " \t {\"type\": \"service_account\", \"client_email\": "
				  "\"u@p.iam.gserviceaccount.com\", \"token_uri\": "
				  "\"https://oauth2.googleapis.com/token\", \"private_key\": "
				  "\"-----BEGIN PRIVATE KEY-----\\nTOPSECRETKEYBYTES\\n-----END "
				  "PRIVATE KEY-----\\n\"}";

	(void)state;
	snprintf(path, sizeof(path), "%s/vertex-sa.json", getenv("HERMETIC_TEST_DATA"));
	buf_init(&key, 0);
	assert_int_equal(fileio_read(path, 1 << 16, &key), 0);
	compact = json_exact_parse(key.data, key.len);
	assert_non_null(compact);
	text = cJSON_PrintUnformatted(compact); /* a single line, as a YAML value must be */
	buf_reset(&key);
	buf_puts(&key, " \t ");
	buf_puts(&key, text);
	cJSON_free(text);
	cJSON_Delete(compact);
	if (load_with_credentials(buf_str(&key), &err, &cfg) != 0)
		fail_msg("the key after two blanks did not load: %s", err);
	assert_string_equal(cfg->models[0].gcp.client_email,
			    "unit@proj-from-key.iam.gserviceaccount.com");
	config_destroy(cfg);
	free(err);
	buf_finish(&key);

	/* a bad key loads its deployment active, its calls saying why, as LiteLLM starts
	 * without reading it */
	cfg = NULL;
	assert_int_equal(load_with_credentials(bad, &err, &cfg), 0);
	assert_null(cfg->models[0].inactive);
	assert_non_null(cfg->models[0].needs_at_call);
	assert_non_null(strstr(err, "private_key is not a PEM private key"));
	assert_non_null(strstr(err, "vertex_credentials, its JSON text"));
	if (strstr(err, "TOPSECRETKEYBYTES") || strstr(err, "BEGIN PRIVATE") ||
	    strstr(err, "client_email\""))
		fail_msg("the credentials are quoted: %s", err);
	config_destroy(cfg);
	free(err);

	/* Not JSON, not a path anyone typed (a PEM pasted alone): not quoted either. */
	assert_int_equal(load_with_credentials("-----BEGIN PRIVATE KEY----- TOPSECRETKEYBYTES "
					       "-----END PRIVATE KEY-----",
					       &err, &cfg),
			 0);
	assert_non_null(cfg->models[0].needs_at_call);
	assert_non_null(strstr(err, "not quoted"));
	if (strstr(err, "TOPSECRETKEYBYTES"))
		fail_msg("the credentials are quoted: %s", err);
	config_destroy(cfg);
	free(err);

	/* A path is quoted: it says which file. */
	assert_int_equal(load_with_credentials("/nonexistent/sa.json", &err, &cfg), 0);
	assert_non_null(cfg->models[0].needs_at_call);
	assert_non_null(strstr(err, "vertex_credentials: /nonexistent/sa.json"));
	config_destroy(cfg);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gemini_goes_to_the_google_publisher),
		cmocka_unit_test(claude_is_a_raw_predict_without_model),
		cmocka_unit_test(a_strange_model_id_is_refused),
		cmocka_unit_test(an_api_base_with_a_version_keeps_it),
		cmocka_unit_test(other_routes_are_refused),
		cmocka_unit_test(errors_keep_their_publisher_shape),
		cmocka_unit_test(inline_credentials_after_blanks_are_read_and_never_quoted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
