/* provider: the interface every wire dialect implements (one module each in this folder,
 * curl's lib/vtls/ pattern). The router speaks OpenAI's chat completions to its clients and
 * keeps all its decisions (retries, fallbacks, budgets, metrics) in that one shape; a dialect
 * only translates at the edge:
 *
 *   request:  the client's OpenAI request (cJSON, model already the upstream id, max_tokens
 *             clamped) -> URL, headers and body for the provider          (build)
 *   answer:   the provider's 200 body -> an OpenAI chat.completion          (answer)
 *   stream:   the provider's streamed bytes -> OpenAI chat.completion.chunk JSON texts, then
 *             "[DONE]" at the provider's end marker                          (stream_*)
 *   error:    the provider's error body -> OpenAI's {"error":{message,type,code}} with the
 *             code LiteLLM's classes key on ("context_length_exceeded",
 *             "content_policy_violation") where the dialect can tell          (error)
 *
 * So fallbacks and cooldowns work across dialects (an anthropic 529 falls back to an openai
 * deployment like any 5xx). A NULL member means OpenAI's own format passes through untouched
 * (the OpenAI dialect leaves answer, stream and error NULL: no copy on the hot path).
 */
#ifndef HERMETIC_PROVIDER_H
#define HERMETIC_PROVIDER_H

#include "core/config.h"
#include "core/providers.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Which OpenAI endpoint the client called. */
enum provider_route {
	PROVIDER_CHAT,		 /* /v1/chat/completions */
	PROVIDER_COMPLETIONS,	 /* /v1/completions */
	PROVIDER_EMBEDDINGS,	 /* /v1/embeddings */
	PROVIDER_TRANSCRIPTIONS, /* /v1/audio/transcriptions (multipart) */
	PROVIDER_SPEECH,	 /* /v1/audio/speech (binary answer) */
	PROVIDER_RESPONSES,	 /* /v1/responses (OpenAI's Responses API, passed through) */
	PROVIDER_IMAGES,	 /* /v1/images/generations */
	PROVIDER_RERANK,	 /* /v1/rerank (Cohere's shape, as LiteLLM serves it) */
	PROVIDER_IMAGE_EDITS,	 /* /v1/images/edits (multipart) */
	PROVIDER_ROUTES		 /* how many */
};

/* The bit of a route in provider_ops.routes. */
#define PROVIDER_ROUTE_BIT(route) (1u << (unsigned)(route))

/* The client's path of a route ("/v1/embeddings"), for messages. */
const char *provider_route_path(enum provider_route route);

/* What one attempt sends. Every member is malloc'd and freed by provider_request_finish.
 *
 * A multipart route (PROVIDER_TRANSCRIPTIONS) is framed by the router, not the dialect: before
 * build() it fills body, body_len and content_type with the client's form re-encoded with the
 * upstream model id (every other part byte for byte), and req holds the form's plain fields as
 * strings, to read only. build() then sets the URL (and may replace the body). */
struct provider_request {
	/* In: the client's JSON text, when the request tree build() gets still says exactly what
	 * it says (router_int.h, req_changed) and the text reads as written (json_parse_span);
	 * else NULL. [model_at, model_end) is its root model's value, quotes included. A dialect
	 * that sends the request as the client wrote it may send this text with only that span
	 * replaced. Not freed. */
	const char *as_written;
	size_t as_written_len, model_at, model_end;
	char *url;
	char *body;
	size_t body_len;
	char **headers; /* NULL-terminated; NULL = the deployment's headers (provider_headers) */
	char *content_type; /* the body's type when not application/json (with the deployment's
			     * headers, it replaces their Content-Type), else NULL */
};

/* Frees the members; accepts a zeroed request. */
void provider_request_finish(struct provider_request *r);

/* One translated stream event: an OpenAI chunk's JSON text, or "[DONE]". Return < 0 to stop
 * (the decoder then returns that value from stream_feed). */
typedef int (*provider_emit_cb)(const char *data, size_t len, void *arg);

struct provider_stream;

struct provider_ops {
	const char *name;
	/* PROVIDER_ROUTE_BIT()s of the routes it serves besides PROVIDER_CHAT; 0 = chat only.
	 * The router answers 400 "provider X does not serve /v1/..." for the others, before
	 * build() and before anything is sent. */
	unsigned routes;
	/* Builds the attempt for route. Returns 0, or < 0 with a message for the client in err
	 * (answered 400 invalid_request_error, nothing sent): a request this dialect cannot
	 * express. */
	int (*build)(const struct config_model *m, enum provider_route route, cJSON *req,
		     bool stream, struct provider_request *out, char *err, size_t err_len);
	/* A 200 answer in the provider's shape to a call of route -> OpenAI's answer of the
	 * route (malloc'd): a chat.completion, or for another route the dialect declares in
	 * routes that route's object (an embeddings list, an images list...), or OpenAI's error
	 * JSON for an answer that is a refusal. NULL when the body is not one: the router treats
	 * it as malformed. NULL member = pass through. stream_*
	 * translate chat streams only; other routes' streams go to the client as the provider
	 * sent them (a PROVIDER_RESPONSES stream too: its named events, without "[DONE]"). */
	char *(*answer)(const struct config_model *m, enum provider_route route, const char *body,
			size_t len);
	/* Stream decoder of one attempt; max_event_bytes caps any buffered event or frame.
	 * NULL members = OpenAI SSE passes through. emit fires from inside stream_feed only. */
	struct provider_stream *(*stream_create)(const struct config_model *m,
						 size_t max_event_bytes, provider_emit_cb emit,
						 void *arg);
	/* Returns 0, the emit callback's negative value, or -E2BIG/-EPROTO for bytes it cannot
	 * frame (then it has emitted nothing more). Sticky once negative. */
	int (*stream_feed)(struct provider_stream *s, const char *data, size_t len);
	void (*stream_destroy)(struct provider_stream *s); /* accepts NULL */
	/* An HTTP error answer (status != 200) -> OpenAI-shaped error JSON (malloc'd). NULL
	 * member = the body is OpenAI-shaped already. */
	char *(*error)(long status, const char *body, size_t len);
};

/* The dialect of a deployment. Never NULL. */
const struct provider_ops *provider_ops_of(enum provider_dialect d);

/* The fixed headers of a deployment (content type, auth, extra_headers, OpenRouter's
 * attribution), NULL-terminated and malloc'd: free with provider_headers_free. */
char **provider_headers(const struct config_model *m, const struct config_router *rc);
void provider_headers_free(char **h);

/* A copy of the header list h (NULL-terminated) with its Content-Type set to content_type,
 * malloc'd: free with provider_headers_free. */
char **provider_headers_typed(char *const *h, const char *content_type);

/* api_base without trailing slashes, followed by path (malloc'd). */
char *provider_join(const char *api_base, const char *path);

/* An OpenAI-shaped error body (malloc'd): {"error":{"message","type","code"}}; code may be
 * NULL (then the HTTP status is used as a string, as OpenAI's proxies do). */
char *provider_openai_error(const char *message, const char *type, const char *code, long status);

extern const struct provider_ops provider_openai;
extern const struct provider_ops provider_azure;
extern const struct provider_ops provider_anthropic;
extern const struct provider_ops provider_gemini;
extern const struct provider_ops provider_bedrock;
extern const struct provider_ops provider_vertex;
extern const struct provider_ops provider_vertex_anthropic;

/* A copy of the header list h (NULL-terminated) with the line extra added, malloc'd: free
 * with provider_headers_free. */
char **provider_headers_plus(char *const *h, const char *extra);

#endif
