/* config_vertex: what a vertex_ai deployment needs, resolved at load as LiteLLM resolves it:
 * the model's publisher (Gemini's generateContent, or Anthropic's rawPredict for claude-*
 * ids), the project and location (vertex_project / vertex_location, else VERTEXAI_PROJECT /
 * VERTEXAI_LOCATION, else the key's project_id and us-central1), the endpoint (api_base, else
 * the location's aiplatform host; "global" has no region prefix) and the service account
 * (vertex_credentials as a key file's path or its JSON text, else
 * GOOGLE_APPLICATION_CREDENTIALS), whose private key is parsed here so that a bad key is a
 * FILE:LINE:COL error at load, not a failed call at 3 a.m.
 *
 * A deployment with no service account at all loads inactive (LiteLLM would fall back to
 * gcloud's application-default login or the metadata server, which hermetic does not read);
 * one whose credentials are given but unreadable or malformed is an error.
 */
#include "core/config.h"
#include "core/config_int.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <mbedtls/pk.h>
#include <mbedtls/version.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define KEY_FILE_CAP (64 * 1024)

static const char *env_of(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static const char *json_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

#if MBEDTLS_VERSION_MAJOR >= 3
/* mbedTLS 3 asks for a random source while it parses (blinding in its key checks). */
static int rng(void *arg, unsigned char *out, size_t len)
{
	size_t got = 0;

	(void)arg;
	while (got < len) {
		ssize_t n = getrandom(out + got, len - got, 0);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}
#endif

/* Whether pem is a private key mbedTLS can sign RS256 with. */
static bool rsa_key_ok(const char *pem, char *why, size_t why_len)
{
	mbedtls_pk_context pk;
	int rc;

	mbedtls_pk_init(&pk);
#if MBEDTLS_VERSION_MAJOR >= 3
	rc = mbedtls_pk_parse_key(&pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0, rng,
				  NULL);
#else
	rc = mbedtls_pk_parse_key(&pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0);
#endif
	if (rc != 0)
		snprintf(why, why_len,
			 "the key's private_key is not a PEM private key (mbedTLS -0x%04x)",
			 (unsigned)-rc);
	else if (!mbedtls_pk_can_do(&pk, MBEDTLS_PK_RSA))
		snprintf(why, why_len, "the key's private_key is not an RSA key (RS256 needs one)");
	mbedtls_pk_free(&pk);
	return rc == 0 && !*why;
}

/* The key's JSON text: vertex_credentials itself when it is JSON, else the file it names. */
static int key_text(const char *cred, struct buf *out, char *why, size_t why_len)
{
	const char *s = cred;
	int rc;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (*s == '{') {
		buf_puts(out, s);
		return 0;
	}
	rc = fileio_read(cred, KEY_FILE_CAP, out);
	if (rc == -EFBIG)
		snprintf(why, why_len, "cannot read the service account key: over %d KiB",
			 KEY_FILE_CAP / 1024);
	else if (rc < 0)
		snprintf(why, why_len, "cannot read the service account key: %s", strerror(-rc));
	return rc;
}

/* Fills m->gcp from the key's JSON text; the project_id it names goes to *project. */
static int read_account(struct ctx *c, const struct node *at, struct config_model *m,
			const char *text, char **project, char *why, size_t why_len)
{
	cJSON *root = json_parse_str(text, NULL);
	const char *type = json_str(root, "type"), *email = json_str(root, "client_email");
	const char *key = json_str(root, "private_key"), *uri = json_str(root, "token_uri");
	const char *pid = json_str(root, "project_id");

	if (!cJSON_IsObject(root))
		snprintf(why, why_len, "the service account key is not a JSON object");
	else if (!type || strcmp(type, "service_account") != 0)
		snprintf(
			why, why_len,
			"the credentials are of type '%s'; hermetic signs with a service account's "
			"key (type service_account)",
			type ? type : "(none)");
	else if (!email || !key)
		snprintf(why, why_len, "the service account key has no %s",
			 !email ? "client_email" : "private_key");
	else if (uri && strncmp(uri, "https://", 8) != 0 && strncmp(uri, "http://", 7) != 0)
		snprintf(why, why_len, "the service account's token_uri is not an http(s) URL");
	else
		rsa_key_ok(key, why, why_len);
	if (!*why) {
		m->gcp.client_email = xstrdup(email);
		m->gcp.private_key = xstrdup(key);
		m->gcp.token_uri = xstrdup(uri ? uri : "https://oauth2.googleapis.com/token");
		cfg_note_secret(c, at, m->gcp.private_key);
		*project = pid ? xstrdup(pid) : NULL;
	}
	cJSON_Delete(root);
	return *why ? -EINVAL : 0;
}

/* A location is a region name ("us-central1", "europe-west4") or "global": nothing that could
 * change the host it is put in. */
static bool location_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return i > 0 && i < 64;
}

/* An error or an inactive mark at key of litellm_params, with the key in the path. */
static void key_err(struct ctx *c, const struct node *params, const char *key, const char *msg)
{
	size_t at = cfg_path_push(c, ".%s", key);
	cfg_err(c, cfg_loc(params, key), "%s", msg);
	cfg_path_pop(c, at);
}

static void deactivate(struct ctx *c, const struct node *params, struct config_model *m,
		       const char *why)
{
	size_t at = cfg_path_push(c, ".model");

	cfg_model_deactivate(c, cfg_loc(params, "model"), m, why);
	cfg_path_pop(c, at);
}

void cfg_vertex_check(struct ctx *c, const struct node *params, struct config_model *m)
{
	struct config_litellm_params *p = &m->litellm_params;
	const char *cred = p->vertex_credentials, *from = "vertex_credentials";
	const char *key = "vertex_credentials";
	char why[320] = "", msg[400], *project = NULL;
	struct buf text;

	m->dialect = strncmp(m->upstream_model, "claude", 6) == 0 ? DIALECT_VERTEX_ANTHROPIC
								  : DIALECT_VERTEX;
	if (strchr(m->upstream_model, '/')) {
		deactivate(c, params, m,
			   "vertex_ai: only Google's (gemini-...) and Anthropic's "
			   "(claude-...) models are called; model garden and "
			   "OpenAI-compatible endpoints (publisher/model ids) are not");
		return;
	}
	if (!cred) {
		cred = env_of("GOOGLE_APPLICATION_CREDENTIALS");
		from = "GOOGLE_APPLICATION_CREDENTIALS";
		key = "model";
	}
	if (!cred) {
		deactivate(c, params, m,
			   "vertex_ai needs a service account key: set "
			   "vertex_credentials or GOOGLE_APPLICATION_CREDENTIALS "
			   "(gcloud's application-default login and the metadata server "
			   "are not read)");
		return;
	}
	buf_init(&text, 0);
	if (key_text(cred, &text, why, sizeof(why)) == 0)
		read_account(c, cfg_loc(params, key), m, text.data ? text.data : "", &project, why,
			     sizeof(why));
	buf_finish(&text);
	if (*why) {
		snprintf(msg, sizeof(msg), "%s (%s%s%s)", why, from, cred[0] == '{' ? "" : ": ",
			 cred[0] == '{' ? "" : cred);
		key_err(c, params, key, msg);
		return;
	}
	if (!p->vertex_project && env_of("VERTEXAI_PROJECT"))
		p->vertex_project = xstrdup(env_of("VERTEXAI_PROJECT"));
	if (!p->vertex_project)
		p->vertex_project = project;
	else
		free(project);
	if (!p->vertex_location)
		p->vertex_location = xstrdup(
			env_of("VERTEXAI_LOCATION") ? env_of("VERTEXAI_LOCATION") : "us-central1");
	if (!p->vertex_project)
		key_err(c, params, "model",
			"vertex_ai needs a project: set vertex_project (or VERTEXAI_PROJECT); the "
			"service account key names none");
	else if (strpbrk(p->vertex_project, "/?#% ")) {
		snprintf(msg, sizeof(msg), "'%.200s' is not a project id", p->vertex_project);
		key_err(c, params, "vertex_project", msg);
	}
	if (!location_ok(p->vertex_location)) {
		snprintf(msg, sizeof(msg),
			 "'%.200s' is not a location (a region like us-central1, or global)",
			 p->vertex_location);
		key_err(c, params, "vertex_location", msg);
		return;
	}
	if (!p->api_base)
		p->api_base = strcmp(p->vertex_location, "global") == 0
				      ? xstrdup("https://aiplatform.googleapis.com")
				      : xasprintf("https://%s-aiplatform.googleapis.com",
						  p->vertex_location);
}
