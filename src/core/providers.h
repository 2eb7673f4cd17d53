/* providers: the catalogue of LLM providers hermetic can call, keyed by LiteLLM's model prefix
 * ("groq/llama-3.3-70b" -> groq). Plain data: which wire dialect each speaks, its default base
 * URL, and the environment variables LiteLLM reads when a config leaves api_key or api_base
 * out. The config check uses it to accept a model and fill in defaults; the router's dialect
 * modules (src/router/providers/) implement each dialect. It lives in core/ because the config,
 * the lowest layer that needs it, may not include router/.
 */
#ifndef HERMETIC_PROVIDERS_H
#define HERMETIC_PROVIDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* How a request is framed on the wire. */
enum provider_dialect {
	DIALECT_OPENAI,	   /* OpenAI's /chat/completions under api_base, Bearer key */
	DIALECT_AZURE,	   /* Azure OpenAI: /openai/deployments/<id>/...?api-version=, api-key */
	DIALECT_ANTHROPIC, /* Anthropic Messages API: /v1/messages, x-api-key */
	DIALECT_GEMINI,	   /* Google AI Studio generateContent, x-goog-api-key */
	DIALECT_BEDROCK,   /* AWS Bedrock Converse, SigV4 */
	/* Vertex AI, a service account's OAuth token: Gemini's generateContent under
	 * projects/<p>/locations/<l>/publishers/google/models/<id> */
	DIALECT_VERTEX,
	/* Vertex AI's Anthropic partner models: a Messages body (anthropic_version, no model)
	 * to publishers/anthropic/models/<id>:rawPredict */
	DIALECT_VERTEX_ANTHROPIC,
};

struct provider_info {
	const char *name; /* LiteLLM's prefix */
	enum provider_dialect dialect;
	const char *api_base;	 /* default; NULL = the config must give one */
	const char *path_prefix; /* put between api_base and the route ("/v1" for ollama)
				  * unless api_base already ends with it; NULL = none */
	const char *key_env;	 /* LiteLLM's variable for the key when api_key is unset */
	const char *base_env;	 /* LiteLLM's variable for api_base when it is unset */
	bool key_optional;	 /* local servers: no key is fine */
	/* NULL = callable; else why hermetic cannot call it (a device-login flow...): its
	 * deployments load inactive with this reason */
	const char *unsupported;
};

/* The entry for prefix[0..len), or NULL. */
const struct provider_info *providers_find(const char *prefix, size_t len);
/* Entry i (0 <= i < providers_count()), for listings. */
const struct provider_info *providers_at(size_t i);
size_t providers_count(void);
/* "anthropic" for DIALECT_ANTHROPIC, ... */
const char *providers_dialect_name(enum provider_dialect d);

/* The catalogue as a Markdown table (part of `hermetic config reference`). */
void providers_print_reference(FILE *out);

#endif
