/* openai: the OpenAI-compatible dialect (OpenAI, OpenRouter, Groq, Cerebras, DeepSeek,
 * Mistral, Together, Fireworks, NVIDIA NIM, xAI, Perplexity, vLLM, Ollama, LM Studio...) and
 * Azure OpenAI, which differs only in its URL and key header. The request goes out as the
 * client wrote it (numbers as written, unknown fields kept) with the upstream model id: its
 * very text with only the model's value replaced while the router changed nothing else
 * (provider_request.as_written), else the tree printed; the answer, the stream and errors are
 * OpenAI's already, so they pass through with no copy.
 * Chat and completions streams always ask for the usage chunk (stream_options.include_usage)
 * so the ledger has real token counts; OpenRouter also gets usage.include for its cost. The
 * Responses API has neither: its usage is in the answer and in the stream's final event. */
#include "router/providers/provider.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const route_paths[] = {
	[PROVIDER_CHAT] = "/chat/completions",
	[PROVIDER_COMPLETIONS] = "/completions",
	[PROVIDER_EMBEDDINGS] = "/embeddings",
	[PROVIDER_TRANSCRIPTIONS] = "/audio/transcriptions",
	[PROVIDER_SPEECH] = "/audio/speech",
	[PROVIDER_RESPONSES] = "/responses",
	[PROVIDER_IMAGES] = "/images/generations",
	[PROVIDER_RERANK] = "/rerank",
	[PROVIDER_IMAGE_EDITS] = "/images/edits",
};

/* Cohere's OpenAI-compatible base has no rerank: its own API has (LiteLLM's default). */
#define COHERE_COMPAT_BASE "https://api.cohere.ai/compatibility/v1"
#define COHERE_RERANK_URL  "https://api.cohere.com/v1/rerank"

/* Azure's classic Responses API has no deployment in its path (the deployment name goes in
 * the body's model) and came with api-version 2025-03-01-preview: an older api_version (the
 * chat default 2024-10-21 among them) is replaced by this one for that route. */
#define AZURE_RESPONSES_API_VERSION "2025-04-01-preview"
#define AZURE_RESPONSES_SINCE	    "2025-03-01"

static void set_field(cJSON *obj, const char *name, cJSON *value)
{
	if (cJSON_GetObjectItemCaseSensitive(obj, name))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, name, value);
	else
		cJSON_AddItemToObject(obj, name, value);
}

/* The client's text with the value of its model replaced by the upstream id, when the router
 * left the request as the text says (provider_request.as_written): no print of the tree, 2.2k
 * of the router's 42k instructions for the bench's request. */
static bool splice_model(const struct config_model *m, struct provider_request *out)
{
	const char *text = out->as_written;
	size_t len = out->as_written_len, at = out->model_at, end = out->model_end;
	struct buf b;

	if (!text || end <= at || end > len)
		return false;
	buf_init(&b, 0);
	buf_reserve(&b, len + strlen(m->upstream_model) + 8);
	buf_append(&b, text, at);
	json_exact_put_string(&b, m->upstream_model);
	buf_append(&b, text + end, len - end);
	out->body_len = b.len;
	out->body = buf_steal(&b);
	return true;
}

#if defined(__SANITIZE_ADDRESS__)
/* In the sanitizer builds the test suites run: the spliced text must say what the tree says,
 * or a change to the tree that did not set req_changed (router_int.h) went unsent. */
static void check_splice(const cJSON *req, const struct provider_request *out)
{
	cJSON *sent = json_parse(out->body, out->body_len, 0, NULL);

	if (!cJSON_Compare(sent, req, true)) {
		log_error("openai: the request sent as written differs from the router's: %.*s",
			  (int)(out->body_len < 2000 ? out->body_len : 2000), out->body);
		abort();
	}
	cJSON_Delete(sent);
}
#endif

/* The body every OpenAI-compatible dialect sends: the client's request with the upstream id.
 * A multipart body was framed by the router already (provider.h). */
static void openai_body(const struct config_model *m, enum provider_route route, cJSON *req,
			bool stream, struct provider_request *out)
{
	cJSON *model;
	bool as_written = true;

	if (route == PROVIDER_TRANSCRIPTIONS || route == PROVIDER_IMAGE_EDITS)
		return;
	model = cJSON_GetObjectItemCaseSensitive(req, "model");
	/* In place when the client's model is a string (no new item; no allocation when the id
	 * is no longer): a request pays for every instruction here. */
	if (!cJSON_IsString(model) || !cJSON_SetValuestring(model, m->upstream_model)) {
		set_field(req, "model", cJSON_CreateString(m->upstream_model));
		as_written = false;
	}
	if (stream && (route == PROVIDER_CHAT || route == PROVIDER_COMPLETIONS)) {
		cJSON *so = cJSON_CreateObject();

		cJSON_AddBoolToObject(so, "include_usage", 1);
		set_field(req, "stream_options", so);
		as_written = false;
	}
	if (strcmp(m->provider, "openrouter") == 0 &&
	    (route == PROVIDER_CHAT || route == PROVIDER_COMPLETIONS)) {
		cJSON *u = cJSON_CreateObject();

		cJSON_AddBoolToObject(u, "include", 1);
		set_field(req, "usage", u);
		as_written = false;
	}
	if (as_written && splice_model(m, out)) {
#if defined(__SANITIZE_ADDRESS__)
		check_splice(req, out);
#endif
		return;
	}
	out->body = json_exact_print(req);
	out->body_len = strlen(out->body);
}

static int openai_build(const struct config_model *m, enum provider_route route, cJSON *req,
			bool stream, struct provider_request *out, char *err, size_t err_len)
{
	if (route == PROVIDER_RERANK && strcmp(m->litellm_params.api_base, COHERE_COMPAT_BASE) == 0)
		out->url = xstrdup(COHERE_RERANK_URL);
	else
		out->url = provider_join(m->litellm_params.api_base, route_paths[route]);
	openai_body(m, route, req, stream, out);
	return 0;
}

/* Azure: the deployment is in the URL with the api-version query, unless api_base is the
 * v1 API (".../openai/v1"), which takes stock OpenAI requests; the classic Responses API is
 * /openai/responses?api-version=... with the deployment in the body. */
static int azure_build(const struct config_model *m, enum provider_route route, cJSON *req,
		       bool stream, struct provider_request *out, char *err, size_t err_len)
{
	const struct config_litellm_params *p = &m->litellm_params;
	size_t n = strlen(p->api_base);
	char *path;

	while (n && p->api_base[n - 1] == '/')
		n--;
	if (n >= 10 && strncmp(p->api_base + n - 10, "/openai/v1", 10) == 0) {
		out->url = provider_join(p->api_base, route_paths[route]);
	} else if (route == PROVIDER_RESPONSES) {
		/* Dates compare as strings; "preview" and "latest" sort after them. */
		path = xasprintf("/openai/responses?api-version=%s",
				 p->api_version &&
						 strcmp(p->api_version, AZURE_RESPONSES_SINCE) >= 0
					 ? p->api_version
					 : AZURE_RESPONSES_API_VERSION);
		out->url = provider_join(p->api_base, path);
		free(path);
	} else {
		path = xasprintf("/openai/deployments/%s%s?api-version=%s", m->upstream_model,
				 route_paths[route],
				 p->api_version ? p->api_version : "2024-10-21");
		out->url = provider_join(p->api_base, path);
		free(path);
	}
	openai_body(m, route, req, stream, out);
	return 0;
}

/* Azure's content filter answers 400 with code "content_filter" (and
 * innererror.code ResponsibleAIPolicyViolation): LiteLLM's content-policy class, so
 * content_policy_fallbacks apply. Other errors are OpenAI-shaped already (NULL). */
static char *azure_error(long status, const char *body, size_t len)
{
	cJSON *root = json_parse(body, len, 0, NULL), *e, *code, *msg, *inner;
	char *out = NULL;

	e = cJSON_GetObjectItemCaseSensitive(root, "error");
	code = cJSON_GetObjectItemCaseSensitive(e, "code");
	inner = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "innererror"),
						 "code");
	msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	if ((cJSON_IsString(code) && strcmp(code->valuestring, "content_filter") == 0) ||
	    (cJSON_IsString(inner) &&
	     strcmp(inner->valuestring, "ResponsibleAIPolicyViolation") == 0))
		out = provider_openai_error(cJSON_IsString(msg) ? msg->valuestring : NULL,
					    "invalid_request_error", "content_policy_violation",
					    status);
	cJSON_Delete(root);
	return out;
}

#define OPENAI_ROUTES                                                                              \
	(PROVIDER_ROUTE_BIT(PROVIDER_COMPLETIONS) | PROVIDER_ROUTE_BIT(PROVIDER_EMBEDDINGS) |      \
	 PROVIDER_ROUTE_BIT(PROVIDER_TRANSCRIPTIONS) | PROVIDER_ROUTE_BIT(PROVIDER_SPEECH) |       \
	 PROVIDER_ROUTE_BIT(PROVIDER_RESPONSES) | PROVIDER_ROUTE_BIT(PROVIDER_IMAGES) |            \
	 PROVIDER_ROUTE_BIT(PROVIDER_RERANK) | PROVIDER_ROUTE_BIT(PROVIDER_IMAGE_EDITS))

const struct provider_ops provider_openai = {
	.name = "openai", .routes = OPENAI_ROUTES, .build = openai_build};
const struct provider_ops provider_azure = {
	.name = "azure", .routes = OPENAI_ROUTES, .build = azure_build, .error = azure_error};
