/* mcp_ask: requests from servers (ping, elicitation/create) and the questions they ask while
 * they wait for the human. Private to mcp/: mcp.c hands requests in and tells when a server
 * goes away; the owner of the client sees struct mcp_elicit_cbs and mcp_question_answer
 * (mcp.h).
 */
#ifndef HERMETIC_MCP_ASK_H
#define HERMETIC_MCP_ASK_H

#include "mcp/mcp.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct loop;
struct mcp_server;
struct mcp_asks;

/* Where an answer goes: fn NULL -> the server, as the JSON-RPC answer to its request; else
 * fn (a 2026-07-28 input_required round, mcp_input.c) gets it, id_json being the input
 * request's key as JSON text, with result_json or (result_json NULL) code and message. */
typedef void (*mcp_reply_fn)(void *arg, const char *id_json, const char *result_json, int code,
			     const char *message);
struct mcp_reply_to {
	mcp_reply_fn fn;
	void *arg;
};

struct mcp_asks *mcp_asks_create(struct loop *loop);
/* The owner's callbacks (copied; NULL: none). Questions out when they change are cancelled. */
void mcp_asks_set_elicit(struct mcp_asks *a, const struct mcp_elicit_cbs *cbs);
void mcp_asks_set_sampling(struct mcp_asks *a, const struct mcp_sampling_cbs *cbs);
/* Adds to initialize's capabilities what the owner answers for s: elicitation, sampling (when
 * s's config enables it). */
void mcp_asks_capabilities(const struct mcp_asks *a, const struct mcp_server *s, cJSON *caps);
/* Every question still waiting is answered cancel (its server is still open) and withdrawn.
 * Accepts NULL. */
void mcp_asks_destroy(struct mcp_asks *a);
/* A request from s (a may be NULL: nobody to ask): id_json is its id as JSON text,
 * params_json its params (NULL: none). ping is answered at once, elicitation/create now (an
 * error for a schema outside the restricted subset) or once the question ends, anything else
 * "method not found". */
void mcp_asks_request(struct mcp_asks *a, struct mcp_server *s, const char *id_json,
		      const char *method, const char *params_json);
/* An input request of a 2026-07-28 input_required result (key_json: its key as JSON text),
 * answered like the request of the same method (elicitation/create, sampling/createMessage)
 * but to `to` (copied; to->fn must be set), once, possibly before this returns. call: the
 * tools/call the round belongs to, or NULL. */
void mcp_asks_input(struct mcp_asks *a, struct mcp_server *s, struct mcp_call *call,
		    const struct mcp_reply_to *to, const char *key_json, const char *method,
		    const char *params_json);
/* The questions and sampling requests answering to arg are withdrawn; nothing is answered. */
void mcp_asks_withdraw_input(struct mcp_asks *a, void *arg);
/* s failed or lost its session: its questions are withdrawn, nothing is sent. */
void mcp_asks_server_gone(struct mcp_asks *a, struct mcp_server *s);

/* mcp_sample.c: sampling requests in flight, owned by mcp_ask.c. */
struct mcp_samples;
struct mcp_samples *mcp_samples_create(struct loop *loop, const struct mcp_sampling_cbs *cbs);
/* Every request still out gets an error and is withdrawn. Accepts NULL. */
void mcp_samples_destroy(struct mcp_samples *ss);
void mcp_samples_request(struct mcp_samples *ss, struct mcp_server *s,
			 const struct mcp_reply_to *to, const char *id_json,
			 const char *params_json);
void mcp_samples_withdraw_input(struct mcp_samples *ss, void *arg);
void mcp_samples_server_gone(struct mcp_samples *ss, struct mcp_server *s);

/* From mcp_info.c for mcp_ask.c and mcp_sample.c (the core's, through its struct mcp_core). */
/* Answers request id_json of s with result_json, or (result_json NULL) a JSON-RPC error, to
 * `to` (NULL: the server). */
void mcp_server_answer(struct mcp_server *s, const struct mcp_reply_to *to, const char *id_json,
		       const char *result_json, int code, const char *message);
/* Sends a message (an answer) to s; a failure is logged, the connection's own error follows. */
void mcp_server_send(struct mcp_server *s, const char *json);
/* s's tool calls in flight, newest first: up to max of them into out; returns how many. */
size_t mcp_server_calls(const struct mcp_server *s, struct mcp_call **out, size_t max);
/* Stops (hold) or restarts the time limits of s's tool calls in flight. Returns the oldest of
 * them, NULL when none. */
struct mcp_call *mcp_server_hold_calls(struct mcp_server *s, bool hold);

#endif
