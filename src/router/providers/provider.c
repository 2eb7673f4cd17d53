/* provider: the dialect table and what the dialects share (headers, URLs, OpenAI-shaped
 * errors). See provider.h for the contract each dialect keeps. */
#include "router/providers/provider.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct provider_ops *provider_ops_of(enum provider_dialect d)
{
	switch (d) {
	case DIALECT_AZURE:
		return &provider_azure;
	case DIALECT_ANTHROPIC:
		return &provider_anthropic;
	case DIALECT_GEMINI:
		return &provider_gemini;
	case DIALECT_BEDROCK:
		return &provider_bedrock;
	case DIALECT_VERTEX:
		return &provider_vertex;
	case DIALECT_VERTEX_ANTHROPIC:
		return &provider_vertex_anthropic;
	case DIALECT_OPENAI:
		break;
	}
	return &provider_openai;
}

const char *provider_route_path(enum provider_route route)
{
	static const char *const paths[] = {
		[PROVIDER_CHAT] = "/v1/chat/completions",
		[PROVIDER_COMPLETIONS] = "/v1/completions",
		[PROVIDER_EMBEDDINGS] = "/v1/embeddings",
		[PROVIDER_TRANSCRIPTIONS] = "/v1/audio/transcriptions",
		[PROVIDER_SPEECH] = "/v1/audio/speech",
		[PROVIDER_RESPONSES] = "/v1/responses",
		[PROVIDER_IMAGES] = "/v1/images/generations",
		[PROVIDER_RERANK] = "/v1/rerank",
		[PROVIDER_IMAGE_EDITS] = "/v1/images/edits",
	};

	return (size_t)route < ARRAY_LEN(paths) && paths[route] ? paths[route] : "this endpoint";
}

void provider_request_finish(struct provider_request *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->body);
	free(r->content_type);
	provider_headers_free(r->headers);
	memset(r, 0, sizeof(*r));
}

/* The key's header in each dialect; Bedrock signs every request instead (bedrock.c). */
static char *auth_header(const struct config_model *m)
{
	const char *key = m->litellm_params.api_key;

	if (!key)
		return NULL;
	switch (m->dialect) {
	case DIALECT_AZURE:
		return xasprintf("api-key: %s", key);
	case DIALECT_ANTHROPIC:
		return xasprintf("x-api-key: %s", key);
	case DIALECT_GEMINI:
		return xasprintf("x-goog-api-key: %s", key);
	case DIALECT_BEDROCK:
	case DIALECT_VERTEX: /* a service account's token, per attempt (router/gtoken.c) */
	case DIALECT_VERTEX_ANTHROPIC:
		return NULL;
	case DIALECT_OPENAI:
		break;
	}
	return xasprintf("Authorization: Bearer %s", key);
}

char **provider_headers(const struct config_model *m, const struct config_router *rc)
{
	const struct config_litellm_params *p = &m->litellm_params;
	char **h = xcalloc(p->n_extra_headers + 8, sizeof(char *));
	size_t n = 0, i;

	h[n++] = xstrdup("Content-Type: application/json");
	h[n] = auth_header(m);
	n += h[n] != NULL;
	if (m->dialect == DIALECT_ANTHROPIC)
		h[n++] = xstrdup("anthropic-version: 2023-06-01");
	if (strcmp(m->provider, "openrouter") == 0) {
		if (rc->openrouter_referer && *rc->openrouter_referer)
			h[n++] = xasprintf("HTTP-Referer: %s", rc->openrouter_referer);
		if (rc->openrouter_title && *rc->openrouter_title)
			h[n++] = xasprintf("X-Title: %s", rc->openrouter_title);
	}
	for (i = 0; i < p->n_extra_headers; i++)
		h[n++] = xasprintf("%s: %s", p->extra_headers[i].name, p->extra_headers[i].value);
	return h;
}

void provider_headers_free(char **h)
{
	char **p;

	if (!h)
		return;
	for (p = h; *p; p++)
		free(*p);
	free(h);
}

char **provider_headers_typed(char *const *h, const char *content_type)
{
	size_t n = 0, i;
	char **out;

	while (h[n])
		n++;
	out = xcalloc(n + 2, sizeof(char *));
	out[0] = xasprintf("Content-Type: %s", content_type);
	n = 1;
	for (i = 0; h[i]; i++)
		if (strncasecmp(h[i], "Content-Type:", 13) != 0)
			out[n++] = xstrdup(h[i]);
	return out;
}

char **provider_headers_plus(char *const *h, const char *extra)
{
	size_t n = 0, i;
	char **out;

	while (h[n])
		n++;
	out = xcalloc(n + 2, sizeof(char *));
	for (i = 0; i < n; i++)
		out[i] = xstrdup(h[i]);
	out[n] = xstrdup(extra);
	return out;
}

char *provider_join(const char *api_base, const char *path)
{
	size_t n = strlen(api_base), len = strlen(path);
	char *url;

	while (n && api_base[n - 1] == '/')
		n--;
	/* Once per attempt: two copies, not printf's format walk (about 2.5k instructions). */
	url = xmalloc(n + len + 1);
	memcpy(url, api_base, n);
	memcpy(url + n, path, len + 1);
	return url;
}

char *provider_openai_error(const char *message, const char *type, const char *code, long status)
{
	cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
	char num[24], *s;

	snprintf(num, sizeof(num), "%ld", status);
	cJSON_AddStringToObject(e, "message", message ? message : "upstream error");
	cJSON_AddStringToObject(e, "type", type ? type : "api_error");
	cJSON_AddNullToObject(e, "param");
	cJSON_AddStringToObject(e, "code", code ? code : num);
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}
