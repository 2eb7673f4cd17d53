/* ingress_anthropic: Anthropic's Messages API (POST /v1/messages, as Claude Code speaks it) in
 * front of the router's OpenAI chat core. Pure translation, no I/O:
 *
 *   request:  an Anthropic Messages request -> an OpenAI chat request the router takes as is
 *   answer:   the router's chat.completion -> an Anthropic message
 *   stream:   the router's SSE (OpenAI chunks, [DONE], error events) -> Anthropic's SSE events
 *   errors:   an OpenAI-shaped error and its HTTP status -> Anthropic's error body
 *
 * Every function takes and returns text; no cJSON crosses this header.
 */
#ifndef HERMETIC_INGRESS_ANTHROPIC_H
#define HERMETIC_INGRESS_ANTHROPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* The translated request. Members are malloc'd; free with ingress_anthropic_request_finish. */
struct ingress_anthropic_request {
	char *body; /* OpenAI chat request, JSON text */
	size_t body_len;
	char *model; /* the request's "model" */
	bool stream;
};

/* Translates an Anthropic Messages request. Returns 0, or -EINVAL with a message for the
 * client in err ("messages.1.content.0: ...", answered 400 invalid_request_error); out is then
 * zeroed. Numbers (input_schema, tool input) keep their text. */
int ingress_anthropic_request(const char *json, size_t len, struct ingress_anthropic_request *out,
			      char *err, size_t err_len);
/* Frees the members; accepts a zeroed request. */
void ingress_anthropic_request_finish(struct ingress_anthropic_request *r);

/* Estimated input tokens of a translated request (count_tokens): the bytes of its OpenAI body
 * / 4, rounded up, as the router estimates a call whose usage never came. */
int64_t ingress_anthropic_count_tokens(const struct ingress_anthropic_request *r);

/* An OpenAI chat.completion -> an Anthropic message (malloc'd JSON text) reporting `model`;
 * NULL when the body is not a chat.completion. */
char *ingress_anthropic_answer(const char *json, size_t len, const char *model);

/* Anthropic's error type for an HTTP status ("rate_limit_error"); a static string. */
const char *ingress_anthropic_error_type(long status);
/* An error answer with HTTP status `status`: the message of an OpenAI-shaped error body (or
 * the body itself when it is not one) in Anthropic's {"type":"error","error":{type,message}}
 * (malloc'd). */
char *ingress_anthropic_error(long status, const char *body, size_t len);
/* Anthropic's error body for status with that message (malloc'd). */
char *ingress_anthropic_error_message(long status, const char *message);

/* ---- streams ---- */

struct ingress_anthropic_stream;

/* A translator for one streamed answer reporting `model` (copied); max_event_bytes caps one
 * event of the router's stream. */
struct ingress_anthropic_stream *ingress_anthropic_stream_create(const char *model,
								 size_t max_event_bytes);
/* Feeds bytes of the router's SSE (any split) and appends the Anthropic events they complete to
 * out (`event: <name>\ndata: <json>\n\n` each). After [DONE] or an error (the upstream's, or
 * bytes this cannot translate, answered with an `error` event) the stream is over and later
 * bytes are ignored. Returns 0, or -EPROTO when it ended the stream with an error of its own. */
int ingress_anthropic_stream_feed(struct ingress_anthropic_stream *s, const char *data, size_t len,
				  struct buf *out);
/* The router's stream ended: if neither [DONE] nor an error came, appends an error event. */
void ingress_anthropic_stream_end(struct ingress_anthropic_stream *s, struct buf *out);
/* True once message_stop or an error event was appended. */
bool ingress_anthropic_stream_over(const struct ingress_anthropic_stream *s);
void ingress_anthropic_stream_destroy(struct ingress_anthropic_stream *s); /* accepts NULL */

#endif
