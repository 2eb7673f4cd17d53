/* config_vertex: what a vertex_ai deployment needs, resolved at load as LiteLLM resolves it:
 * the model's publisher (Gemini's generateContent, or Anthropic's rawPredict for claude-*
 * ids), the project and location (vertex_project / vertex_location, else VERTEXAI_PROJECT /
 * VERTEXAI_LOCATION, else the key's project_id and us-central1), the endpoint (api_base, else
 * the location's aiplatform host; "global" has no region prefix) and the service account
 * (vertex_credentials as a key file's path or its JSON text, else
 * GOOGLE_APPLICATION_CREDENTIALS), whose private key is parsed here so that a bad key is a
 * FILE:LINE:COL error at load, not a failed call at 3 a.m.
 *
 * The credentials are looked for as Google's application default credentials are:
 * vertex_credentials, GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default login file
 * (a service account key or an authorized_user refresh token), else the metadata server of a
 * GCE VM or GKE node (then vertex_project must be known; else the deployment loads inactive).
 * Credentials that are given but unreadable or malformed are an error.
 */
#include "core/config.h"
#include "core/config_int.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/jws.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <mbedtls/pk.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_FILE_CAP (64 * 1024)

/* environment_variables first, then the process's (cfg_getenv). */
static const char *env_of(const struct ctx *c, const char *name)
{
	const char *v = cfg_getenv(c, name);

	return v && *v ? v : NULL;
}

static const char *json_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

/* Whether pem is a private key mbedTLS can sign RS256 with. */
static bool rsa_key_ok(const char *pem, char *why, size_t why_len)
{
	mbedtls_pk_context pk;
	int rc;

	mbedtls_pk_init(&pk);
	rc = jws_parse_key(&pk, pem);
	if (rc != 0)
		snprintf(why, why_len,
			 "the key's private_key is not a PEM private key (mbedTLS -0x%04x)",
			 (unsigned)-rc);
	else if (!mbedtls_pk_can_do(&pk, MBEDTLS_PK_RSA))
		snprintf(why, why_len, "the key's private_key is not an RSA key (RS256 needs one)");
	mbedtls_pk_free(&pk);
	return rc == 0 && !*why;
}

/* vertex_credentials is the key's JSON text itself when its first non-blank byte is '{'. */
static bool inline_json(const char *cred)
{
	return cred[strspn(cred, " \t\r\n")] == '{';
}

/* Whether cred may be quoted in an error: a file's path, never a key. Inline JSON, and any
 * value that looks like part of a key (a quote, a brace, a newline, a PEM line) or is too long
 * to be a path someone typed, is not quoted. */
static bool quotable(const char *cred)
{
	return !inline_json(cred) && strlen(cred) <= 256 && !strpbrk(cred, "{}\"\n\r") &&
	       !strstr(cred, "PRIVATE KEY");
}

/* The key's JSON text: vertex_credentials itself when it is JSON, else the file it names. */
static int key_text(const char *cred, struct buf *out, char *why, size_t why_len)
{
	int rc;

	if (inline_json(cred)) {
		buf_puts(out, cred + strspn(cred, " \t\r\n"));
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

/* Fills m->gcp from a credentials file's JSON text, as Google's libraries read it: a service
 * account's key, or the authorized_user file of gcloud's application-default login. The
 * project it names (project_id, quota_project_id) goes to *project. */
static int read_account(struct ctx *c, const struct node *at, struct config_model *m,
			const char *text, char **project, char *why, size_t why_len)
{
	cJSON *root = json_parse_str(text, NULL);
	const char *type = json_str(root, "type"), *email = json_str(root, "client_email");
	const char *key = json_str(root, "private_key"), *uri = json_str(root, "token_uri");
	const char *pid = json_str(root, "project_id");
	const char *cid = json_str(root, "client_id"), *secret = json_str(root, "client_secret");
	const char *refresh = json_str(root, "refresh_token");
	bool user = type && strcmp(type, "authorized_user") == 0;

	if (!cJSON_IsObject(root))
		snprintf(why, why_len, "the credentials are not a JSON object");
	else if (!type || (strcmp(type, "service_account") != 0 && !user))
		snprintf(why, why_len,
			 "the credentials are of type '%.40s'; hermetic reads a service account's "
			 "key (service_account) or gcloud's application-default login "
			 "(authorized_user)",
			 type ? type : "(none)");
	else if (user && (!cid || !secret || !refresh))
		snprintf(why, why_len, "the authorized_user credentials have no %s",
			 !cid	   ? "client_id"
			 : !secret ? "client_secret"
				   : "refresh_token");
	else if (!user && (!email || !key))
		snprintf(why, why_len, "the service account key has no %s",
			 !email ? "client_email" : "private_key");
	else if (uri && strncmp(uri, "https://", 8) != 0 && strncmp(uri, "http://", 7) != 0)
		snprintf(why, why_len, "the credentials' token_uri is not an http(s) URL");
	else if (!user)
		rsa_key_ok(key, why, why_len);
	if (!*why) {
		m->gcp.token_uri = xstrdup(uri ? uri : "https://oauth2.googleapis.com/token");
		if (user) {
			m->gcp.kind = GCP_AUTHORIZED_USER;
			m->gcp.client_email = xasprintf("authorized_user %s", cid);
			m->gcp.client_id = xstrdup(cid);
			m->gcp.client_secret = xstrdup(secret);
			m->gcp.refresh_token = xstrdup(refresh);
			cfg_note_secret(c, at, m->gcp.client_secret);
			cfg_note_secret(c, at, m->gcp.refresh_token);
			pid = json_str(root, "quota_project_id");
		} else {
			m->gcp.kind = GCP_SERVICE_ACCOUNT;
			m->gcp.client_email = xstrdup(email);
			m->gcp.private_key = xstrdup(key);
			cfg_note_secret(c, at, m->gcp.private_key);
		}
		*project = pid ? xstrdup(pid) : NULL;
	}
	cJSON_Delete(root);
	return *why ? -EINVAL : 0;
}

/* gcloud's application-default login file, when it exists: $CLOUDSDK_CONFIG/, else
 * ~/.config/gcloud/, application_default_credentials.json (malloc'd), else NULL. */
static char *adc_file(const struct ctx *c)
{
	const char *dir = env_of(c, "CLOUDSDK_CONFIG"), *home = env_of(c, "HOME");
	char *path =
		dir    ? xasprintf("%s/application_default_credentials.json", dir)
		: home ? xasprintf("%s/.config/gcloud/application_default_credentials.json", home)
		       : NULL;

	if (path && access(path, F_OK) != 0) {
		free(path);
		path = NULL;
	}
	return path;
}

/* The metadata server's URL of path: GCE_METADATA_HOST (host[:port], as Google's libraries
 * take it) or metadata.google.internal. NULL for a host that is not one. */
static char *metadata_uri(const struct ctx *c, const char *path)
{
	const char *host = env_of(c, "GCE_METADATA_HOST");
	const char *h;

	if (!host)
		host = "metadata.google.internal";
	for (h = host; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
		      (*h >= '0' && *h <= '9') || strchr(".-:[]", *h)))
			return NULL;
	return xasprintf("http://%s/computeMetadata/v1/%s", host, path);
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

/* No credentials file anywhere: the token comes from the metadata server of the GCE VM or
 * GKE node (workload identity), as Google's libraries fall back to. Without a named project
 * the call asks the server for it too, as google.auth.default() does for LiteLLM (which starts
 * without either). */
static bool metadata_account(struct ctx *c, const struct node *params, struct config_model *m)
{
	struct config_litellm_params *p = &m->litellm_params;
	const char *pid = env_of(c, "VERTEXAI_PROJECT") ? env_of(c, "VERTEXAI_PROJECT")
							: env_of(c, "GOOGLE_CLOUD_PROJECT");
	size_t at;

	m->gcp.token_uri = metadata_uri(c, "instance/service-accounts/default/token");
	if (m->gcp.token_uri && !p->vertex_project && !pid)
		m->gcp.project_uri = metadata_uri(c, "project/project-id");
	if (!m->gcp.token_uri) {
		deactivate(c, params, m, "GCE_METADATA_HOST is not a host[:port]");
		return false;
	}
	m->gcp.kind = GCP_METADATA;
	m->gcp.client_email = xstrdup("the metadata server's default service account");
	if (!p->vertex_project && pid)
		p->vertex_project = xstrdup(pid);
	at = cfg_path_push(c, ".model");
	cfg_warn(c, cfg_loc(params, "model"),
		 "vertex_ai: no credentials file (vertex_credentials, "
		 "GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default login): tokens "
		 "come from the metadata server of a GCE VM or GKE node, at call time%s",
		 m->gcp.project_uri ? ", and the project too (no vertex_project or "
				      "VERTEXAI_PROJECT); off GCP its calls fail saying so"
				    : "");
	cfg_path_pop(c, at);
	return true;
}

void cfg_vertex_check(struct ctx *c, const struct node *params, struct config_model *m)
{
	struct config_litellm_params *p = &m->litellm_params;
	const char *cred = p->vertex_credentials, *from = "vertex_credentials";
	const char *key = "vertex_credentials";
	char why[320] = "", msg[400], *project = NULL, *adc = NULL;
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
		cred = env_of(c, "GOOGLE_APPLICATION_CREDENTIALS");
		from = "GOOGLE_APPLICATION_CREDENTIALS";
		key = "model";
	}
	if (!cred && (adc = adc_file(c))) {
		cred = adc;
		from = "gcloud's application-default credentials";
		key = "model";
	}
	if (!cred && !metadata_account(c, params, m))
		return;
	buf_init(&text, 0);
	if (cred && key_text(cred, &text, why, sizeof(why)) == 0)
		read_account(c, cfg_loc(params, key), m, text.data ? text.data : "", &project, why,
			     sizeof(why));
	buf_finish(&text);
	if (*why && quotable(cred))
		snprintf(msg, sizeof(msg), "%s (%s: %s)", why, from, cred);
	else if (*why)
		snprintf(msg, sizeof(msg), "%s (%s%s)", why, from,
			 inline_json(cred) ? ", its JSON text" : ", not quoted: it is not a path");
	free(adc);
	if (*why) {
		/* LiteLLM reads the credentials when a call needs them and starts without: the
		 * deployment loads active, and its calls fail saying why (issue 49) */
		size_t at = cfg_path_push(c, ".%s", key);

		cfg_model_needs_at_call(c, cfg_loc(params, key), m, msg);
		cfg_path_pop(c, at);
		return;
	}
	if (!p->vertex_project && env_of(c, "VERTEXAI_PROJECT"))
		p->vertex_project = xstrdup(env_of(c, "VERTEXAI_PROJECT"));
	if (!p->vertex_project)
		p->vertex_project = project;
	else
		free(project);
	if (!p->vertex_location)
		p->vertex_location =
			xstrdup(env_of(c, "VERTEXAI_LOCATION") ? env_of(c, "VERTEXAI_LOCATION")
							       : "us-central1");
	if (!p->vertex_project && !m->gcp.project_uri)
		key_err(c, params, "model",
			"vertex_ai needs a project: set vertex_project (or VERTEXAI_PROJECT); the "
			"credentials name none");
	else if (p->vertex_project && strpbrk(p->vertex_project, "/?#% ")) {
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
