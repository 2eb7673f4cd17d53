/* vertex: Google Cloud Vertex AI, two dialects that reuse the translations of gemini.c and
 * anthropic.c and change only where the request goes and what its body says:
 *
 *   Gemini on Vertex (DIALECT_VERTEX): the generateContent body as gemini.c builds it, to
 *     <base>/v1/projects/<p>/locations/<l>/publishers/google/models/<id>:generateContent
 *     (:streamGenerateContent?alt=sse when streamed); answers, events and errors are
 *     Gemini's.
 *   Anthropic on Vertex (DIALECT_VERTEX_ANTHROPIC): the Messages body as anthropic.c builds
 *     it, without "model" (the URL names it) and with "anthropic_version":"vertex-2023-10-16"
 *     (a body field here, not a header), to
 *     <base>/v1/projects/<p>/locations/<l>/publishers/anthropic/models/<id>:rawPredict
 *     (:streamRawPredict); answers and events are Anthropic's, errors either Anthropic's or,
 *     from Google's front end (auth, quota), Google's.
 *
 * <base> is the location's host (https://<l>-aiplatform.googleapis.com, or
 * https://aiplatform.googleapis.com for "global"; config_vertex.c), or api_base; an api_base
 * that already ends in /v1 or /v1beta1 keeps its version. The bearer token is not the
 * dialect's business: the router adds the service account's access token (router/gtoken.c)
 * to every attempt.
 */
#include "router/providers/gemini_int.h"
#include "core/json.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANTHROPIC_VERSION "vertex-2023-10-16"

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && strncmp(s + n - k, suffix, k) == 0;
}

/* <base>[/v1]/projects/<p>/locations/<l>/publishers/<publisher>/models/<id>:<method> */
static char *model_url(const struct config_model *m, const char *publisher, const char *method)
{
	const struct config_litellm_params *p = &m->litellm_params;
	const char *base = p->api_base;
	size_t n = strlen(base);
	bool versioned;
	char *path, *url;

	while (n && base[n - 1] == '/')
		n--;
	versioned = ends_with(base, n, "/v1") || ends_with(base, n, "/v1beta1");
	path = xasprintf("%s/projects/%s/locations/%s/publishers/%s/models/%s:%s",
			 versioned ? "" : "/v1",
			 p->vertex_project ? p->vertex_project : "-", /* not known yet: Google's
								       * "any project" */
			 p->vertex_location, publisher, m->upstream_model, method);
	url = provider_join(base, path);
	free(path);
	return url;
}

/* The id goes into the URL's path as it is: a wildcard deployment's id comes from the client,
 * so only the characters of Google's and Anthropic's ids ("claude-sonnet-4@20250514") pass. */
static int check(const struct config_model *m, enum provider_route route, bool images, char *err,
		 size_t err_len)
{
	const char *s;

	if (route != PROVIDER_CHAT && !(route == PROVIDER_IMAGES && images)) {
		snprintf(err, err_len, "vertex_ai deployments serve chat completions%s only",
			 images ? " and image generations" : "");
		return -ENOTSUP;
	}
	for (s = m->upstream_model; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-._@", *s))) {
			snprintf(err, err_len, "vertex_ai: '%.80s' is not a Vertex model id",
				 m->upstream_model);
			return -EINVAL;
		}
	return 0;
}

static int gemini_build(const struct config_model *m, enum provider_route route, cJSON *req,
			bool stream, struct provider_request *out, char *err, size_t err_len)
{
	int rc = check(m, route, true, err, err_len);
	const char *method = stream ? "streamGenerateContent?alt=sse" : "generateContent";

	if (rc < 0)
		return rc;
	rc = provider_gemini.build(m, route, req, stream, out, err, err_len);
	if (rc < 0)
		return rc;
	if (route == PROVIDER_IMAGES && !gemini_image_is_gemini(m->upstream_model))
		method = "predict"; /* Imagen */
	free(out->url);
	out->url = model_url(m, "google", method);
	return 0;
}

/* anthropic.c's body opens with {"model":"<id>", then "max_tokens": the escaped id cannot hold
 * an unescaped quote, so the first ,"max_tokens": is the end of the model member. */
static int anthropic_build(const struct config_model *m, enum provider_route route, cJSON *req,
			   bool stream, struct provider_request *out, char *err, size_t err_len)
{
	static const char head[] = "{\"anthropic_version\":\"" ANTHROPIC_VERSION "\"";
	const char *rest;
	char *body;
	size_t n_rest;
	int rc = check(m, route, false, err, err_len);

	if (rc == 0)
		rc = provider_anthropic.build(m, route, req, stream, out, err, err_len);
	if (rc < 0)
		return rc;
	rest = strstr(out->body, ",\"max_tokens\":");
	if (strncmp(out->body, "{\"model\":", 9) != 0 || !rest) {
		snprintf(err, err_len, "vertex_ai: cannot frame the request");
		provider_request_finish(out);
		return -EPROTO;
	}
	n_rest = out->body_len - (size_t)(rest - out->body);
	body = xmalloc(sizeof(head) - 1 + n_rest + 1);
	memcpy(body, head, sizeof(head) - 1);
	memcpy(body + sizeof(head) - 1, rest, n_rest + 1);
	free(out->body);
	out->body = body;
	out->body_len = sizeof(head) - 1 + n_rest;
	free(out->url);
	out->url = model_url(m, "anthropic", stream ? "streamRawPredict" : "rawPredict");
	return 0;
}

/* ---- what comes back: the publisher's own shapes ---- */

static char *anthropic_answer(const struct config_model *m, enum provider_route route,
			      const char *body, size_t len)
{
	return provider_anthropic.answer(m, route, body, len);
}

static struct provider_stream *anthropic_stream_create(const struct config_model *m,
						       size_t max_event_bytes,
						       provider_emit_cb emit, void *arg)
{
	return provider_anthropic.stream_create(m, max_event_bytes, emit, arg);
}

static int anthropic_stream_feed(struct provider_stream *s, const char *data, size_t len)
{
	return provider_anthropic.stream_feed(s, data, len);
}

static void anthropic_stream_destroy(struct provider_stream *s)
{
	provider_anthropic.stream_destroy(s);
}

/* Anthropic's {"type":"error","error":{...}} from the model, else Google's {"error":{"code",
 * "message","status"}} from Vertex's front end (a bad token, a quota, an unknown model). */
static char *anthropic_error(long status, const char *body, size_t len)
{
	cJSON *root = json_parse(body, len, 0, NULL);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	bool google = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "status"));

	cJSON_Delete(root);
	return google ? provider_gemini.error(status, body, len)
		      : provider_anthropic.error(status, body, len);
}

const struct provider_ops provider_vertex = {
	.name = "vertex",
	.routes = PROVIDER_ROUTE_BIT(PROVIDER_IMAGES),
	.build = gemini_build,
	.answer = gemini_answer,
	.stream_create = gemini_stream_create,
	.stream_feed = gemini_stream_feed,
	.stream_destroy = gemini_stream_destroy,
	.error = gemini_error,
};

const struct provider_ops provider_vertex_anthropic = {
	.name = "vertex-anthropic",
	.build = anthropic_build,
	.answer = anthropic_answer,
	.stream_create = anthropic_stream_create,
	.stream_feed = anthropic_stream_feed,
	.stream_destroy = anthropic_stream_destroy,
	.error = anthropic_error,
};
