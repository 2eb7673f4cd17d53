/* mcp: the MCP client. Connects to every configured server (stdio, streamable HTTP, legacy
 * SSE) on the loop, negotiates the protocol, lists tools (paged, filtered, renamed
 * mcp_<server>_<tool>), calls them with a timeout, and keeps servers connected: a server that
 * is down is retried with capped exponential backoff forever (daemon mode), its tools hidden
 * until it is back.
 *
 * Async contract for mcp_call: a negative return means the callback never fires; otherwise it
 * fires exactly once, later, from the loop (also on timeout, disconnect and cancel).
 */
#ifndef HERMETIC_MCP_H
#define HERMETIC_MCP_H

#include "mcp/mcp_elicit.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct loop;
struct metrics;
struct mcp;
struct mcp_call;

struct mcp_tool_info {
	const char *name; /* as the model sees it: mcp_<server>_<tool> */
	const char *server;
	const char *tool;	 /* the server's own name */
	const char *description; /* as the model gets it: cut by mcp_render_description */
	const char *schema_json; /* inputSchema, compact JSON */
	/* tools/list annotations, as the spec defines their defaults: read_only = readOnlyHint
	 * true; destructive = not read-only and destructiveHint not false. Hints from the server,
	 * trusted only as far as the config trusts the server (approvals.mcp). */
	bool read_only, destructive;
};

struct mcp_server_info {
	const char *name;
	const char *transport;	      /* "stdio", "http", "sse" */
	const char *state;	      /* "connected", "connecting", "failed", "disabled" */
	const char *protocol_version; /* NULL before initialize */
	const char *error;	      /* last failure, or NULL */
	size_t n_tools;
};

struct mcp_result {
	bool is_error;
	const char *text; /* what the model reads (capped), borrowed during the callback */
};

typedef void (*mcp_call_cb)(const struct mcp_result *r, void *arg);
typedef void (*mcp_change_cb)(struct mcp *m, void *arg);

/* reconnect: keep retrying failed servers (daemon); false = one attempt each (CLI).
 * metrics may be NULL. Strings in infos are borrowed until the next loop iteration. */
struct mcp *mcp_create(const struct config *cfg, struct loop *loop, struct metrics *metrics,
		       bool reconnect);
/* Starts connecting every enabled server. */
void mcp_start(struct mcp *m);
/* Called after any server connects or fails (the CLI waits for mcp_settled). */
void mcp_on_change(struct mcp *m, mcp_change_cb cb, void *arg);
/* For one-shot commands: mcp_start, then runs the loop until every server has connected or
 * failed (each bounded by its connect_timeout; a guard 2 s past the longest ends the wait
 * regardless). Leaves no change callback installed. */
void mcp_start_and_wait(struct mcp *m);
/* True once every enabled server has connected or failed at least once. */
bool mcp_settled(const struct mcp *m);
size_t mcp_n_servers(const struct mcp *m);
void mcp_server_info(const struct mcp *m, size_t i, struct mcp_server_info *out);
/* Tools of connected servers only, in server then server order. */
size_t mcp_n_tools(const struct mcp *m);
void mcp_tool_info(const struct mcp *m, size_t i, struct mcp_tool_info *out);

/* Calls a tool by its model-facing name with arguments as a JSON object text (NULL = {}).
 * Returns 0, -ENOENT (no such tool), -ENOTCONN (its server is not connected) or -EINVAL
 * (arguments are not a JSON object). */
int mcp_call(struct mcp *m, const char *name, const char *args_json, mcp_call_cb cb, void *arg,
	     struct mcp_call **out);
/* The same by server and the server's own tool name. */
int mcp_call_server(struct mcp *m, const char *server, const char *tool, const char *args_json,
		    mcp_call_cb cb, void *arg, struct mcp_call **out);
/* Cancels: notifications/cancelled goes to the server; the callback fires with an error. */
void mcp_call_cancel(struct mcp_call *c);

/* ---- questions from servers (elicitation; mcp_ask.c) ----
 * One elicitation/create waiting for the human. It ends exactly once: by the owner's
 * mcp_question_answer, or by withdrawn (the timeout ran out: cancel was sent to the server;
 * the server failed; mcp_destroy), after which q is gone. */
struct mcp_question;

struct mcp_elicit_cbs {
	/* A server asks. form, server and q live until the question ends; call is the call the
	 * question belongs to (the oldest tools/call in flight on that server; see
	 * mcp_call_arg_if), NULL when none. Called from the loop; may answer at once. */
	void (*ask)(struct mcp_question *q, const struct mcp_elicit_form *form, const char *server,
		    struct mcp_call *call, void *arg);
	/* q ended without the owner's answer (why: "timed out", "the server went away", ...). */
	void (*withdrawn)(struct mcp_question *q, const char *why, void *arg);
	int64_t timeout_ms; /* 0 = 600 s; then the server is answered cancel */
	void *arg;
};

/* Before mcp_start: the client declares the elicitation capability (form, and url mode) and
 * hands every elicitation/create to cbs (copied; arg borrowed for the client's life). Without
 * it the capability is not declared and such requests are answered "method not found". */
void mcp_set_elicit(struct mcp *m, const struct mcp_elicit_cbs *cbs);
/* The owner's answer. accept: content_json (an object of the fields given, NULL = none) is
 * checked against the form and completed with its defaults (SEP-1034); when it does not fit,
 * -EINVAL with why in err and q still waits. Otherwise 0: the server is answered and q is
 * gone (decline and cancel send no content). */
int mcp_question_answer(struct mcp_question *q, enum mcp_elicit_action action,
			const char *content_json, char *err, size_t err_len);
/* Each call's time limit does not run while a question of its server waits for the human. */
/* The arg c was made with when its callback is cb (so its type is known), else NULL. */
void *mcp_call_arg_if(const struct mcp_call *c, mcp_call_cb cb);

/* ---- sampling: a server asks the model (sampling/createMessage; mcp_sample.c) ----
 * Only servers with mcp_servers.NAME.sampling.enabled are offered it (the capability), and
 * only when the owner handed in callbacks. The client checks the request's shape, counts it
 * against sampling.max_rpm and times it with sampling.timeout; the owner runs the model. One
 * request ends exactly once: by mcp_sample_answer, or by withdrawn (timed out: the server got
 * an error; the server failed; mcp_destroy), after which q is gone. */
struct mcp_sample;

#define MCP_SAMPLE_CALLS_MAX 16

struct mcp_sampling_cbs {
	/* params_json: the request's params (messages, maxTokens and the rest, as sent); server
	 * names the mcp_servers entry; calls: the server's tool calls in flight (newest first, at
	 * most MCP_SAMPLE_CALLS_MAX; see mcp_call_arg_if), whose callers' text the request may
	 * carry. May answer at once. */
	void (*sample)(struct mcp_sample *q, const char *server, const char *params_json,
		       struct mcp_call *const *calls, size_t n_calls, void *arg);
	void (*withdrawn)(struct mcp_sample *q, void *arg);
	void *arg;
};

/* Before mcp_start (cbs copied, arg borrowed). NULL: sampling is offered to nobody. */
void mcp_set_sampling(struct mcp *m, const struct mcp_sampling_cbs *cbs);
/* The answer: result_json a CreateMessageResult, or (NULL) error says why the model did not
 * answer (sent as a JSON-RPC error). q is gone after. */
void mcp_sample_answer(struct mcp_sample *q, const char *result_json, const char *error);
/* The access token an `auth: oauth` server gets as `Authorization: Bearer`, or, with dpop_key
 * (a DPoP-bound token: oauth_tokens_dpop), as `Authorization: DPoP` with a proof signed by that
 * key on every request (copied; both must be registered secrets already: mcp/oauth_store.h).
 * Before mcp_start, or before a reconnect. 0, or -ENOENT (no such server). */
int mcp_set_bearer(struct mcp *m, const char *server, const char *token, const char *dpop_key);

/* ---- sign-ins that need a person (mcp_auth.c) ----
 * The owner that can get a person to sign in (the gateway: Telegram, the cockpit) hooks in
 * here. needed is called when an `auth: oauth` server refuses a request (status 401, or 403
 * with challenge its WWW-Authenticate) and when a call wants a tool of such a server that is
 * not connected (status 0, challenge NULL); it may start a sign-in, and returns what the
 * model and the logs are told happens now ("a sign-in was sent to the owner"), static or
 * owned by the owner for m's life; NULL = nobody can sign in here (then the text says to run
 * hermetic mcp login). Called from the loop, inside the transport's callback: start nothing
 * synchronously that could call back into m. */
struct mcp_signin_hook {
	const char *(*needed)(const char *server, long status, const char *challenge, void *arg);
	void *arg;
};
/* Before mcp_start (copied; arg borrowed for m's life). */
void mcp_set_signin_hook(struct mcp *m, const struct mcp_signin_hook *h);
/* A sign-in ended well: a failed server connects now instead of after its backoff. 0, or
 * -ENOENT (no such server). */
int mcp_reconnect_now(struct mcp *m, const char *server);
struct buf;
/* When name is a tool (mcp_<server>_<tool>) of a server that is not connected, says so in out
 * (why, and for a server that is not signed in, what happens now: the hook's text) and
 * returns true; else false and out is untouched. */
bool mcp_why_unavailable(struct mcp *m, const char *name, struct buf *out);

/* The WWW-Authenticate of the last 401 or 403 the server sent (borrowed until the next), or
 * NULL: what a step-up reads (mcp/oauth_meta.h, oauth_challenge_parse). */
const char *mcp_challenge(const struct mcp *m, const char *server);

/* Closes every server gracefully (DELETE sessions, stop children) within a few seconds and
 * frees. Pending calls are answered with an error first. Accepts NULL. */
void mcp_destroy(struct mcp *m);

#endif
