/* mcp_int.h: the MCP client core's state, shared by mcp.c (the state machine, its only
 * writer) and mcp_info.c (what transports, the sign-in and the CLI read of it), and struct
 * mcp_core, how helpers reach mcp.c. Private to src/mcp/: nothing outside this folder
 * includes it. */
#ifndef HERMETIC_MCP_INT_H
#define HERMETIC_MCP_INT_H

#include "mcp/mcp.h"
#include "mcp/transport.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metric;
struct mcp_asks;
struct mcp_core;
struct mcp_round;

enum state { S_DISABLED, S_IDLE, S_CONNECTING, S_READY, S_FAILED };

struct tool {
	char *name, *tool, *description, *schema;
	bool read_only, destructive; /* from annotations (see struct mcp_tool_info) */
};

struct pending;
typedef void (*result_fn)(struct pending *p, const char *result, size_t len);
typedef void (*error_fn)(struct pending *p, const char *why, const char *rpc_error, size_t len,
			 bool timeout);

struct pending {
	struct pending *next;
	struct mcp_server *s;
	int64_t id;
	char *method;
	char *params; /* JSON text, kept to re-send after a lost session */
	int64_t timeout_ms;
	struct event *timer;
	result_fn on_result;
	error_fn on_error;
	struct mcp_call *call;
	void *arg; /* mcp_server_request's caller's */
	bool resent;
	long status;		 /* the HTTP status that failed it, for its on_error; else 0 */
	int rounds;		 /* input_required rounds answered so far (mcp_input.c) */
	struct mcp_round *round; /* the round asking for its inputs, or NULL */
};

struct mcp_server {
	struct mcp *m;
	const struct config_mcp_server *cfg;
	const struct mcp_transport_ops *ops;
	void *tstate;
	enum state state;
	bool settled, transport_open;
	char *protocol;
	char *error;
	struct tool *tools, *next_tools;
	size_t n_tools, n_next, pages;
	bool refreshing;
	struct pending *pendings;
	struct pending *resend; /* waiting for a re-initialized session */
	struct event *retry_timer, *connect_timer, *ping_timer;
	struct event *fail_ev; /* a transport failure, handled from the loop */
	char *fail_why;
	char *probe_why; /* why the Streamable HTTP initialize failed (legacy SSE fallback) */
	bool pinging;
	/* When the ping went out and when the server's bytes last arrived (monotonic µs): a
	 * ping unanswered while bytes keep arriving is queued behind a long message (one stdio
	 * pipe carries everything), not a sign of a dead server. */
	int64_t ping_sent_us, heard_us;
	int64_t backoff_ms;
	char *dpop_key; /* the bearer's DPoP key (a registered secret), or NULL */
	char *bearer;	/* auth: oauth: the access token (a registered secret), or NULL */
	/* Counts the bearers handed over: a refusal of a request sent with an older one is
	 * stale (mcp_auth.c). retry_now: a stale refusal failed the attempt; retry at once. */
	unsigned bearer_gen;
	bool retry_now;
	char *challenge;     /* the last 401/403's WWW-Authenticate, or NULL */
	bool skills;	     /* the server declared the skills extension (mcp_skills.c) */
	bool tools_declared; /* initialize's capabilities have tools */
	/* The 2026-07-28 wire (mcp_handshake.c): set while server/discover is tried and once
	 * it was chosen; no session, no initialize, _meta on every request. */
	bool new_wire, version_retried;
	struct mcp_round *rounds; /* input_required rounds waiting for answers */
};

struct mcp_call {
	struct mcp *m;
	struct mcp_server *s;
	struct pending *p;
	mcp_call_cb cb;
	void *arg;
	int64_t t0_us;
	struct event *finish;
	bool is_error, done;
	const char *outcome;
	char *text;
};

struct mcp {
	const struct config *cfg;
	struct loop *loop;
	struct mcp_server *servers;
	size_t n_servers;
	bool reconnect;
	size_t live_calls; /* calls whose callback has not fired yet */
	struct mcp_goodbyes *goodbyes;
	const struct mcp_core *core; /* the core's entry points for its helpers (mcp.c's) */
	struct mcp_asks *asks;	     /* requests from servers: questions, sampling (mcp_ask.c) */
	mcp_change_cb on_change;
	void *change_arg;
	struct mcp_signin_hook signin_hook; /* mcp_auth.c */
	struct metric *m_up, *m_tools, *m_calls, *m_duration, *m_reconnects;
};

/* Heap-held, not in struct mcp: a goodbye still in flight when drain gives up reports after
 * mcp_destroy, so whichever of the two lets go last frees it. */
struct mcp_goodbyes {
	size_t in_flight;
	bool orphaned; /* its mcp is destroyed */
};

extern const char *const mcp_state_names[];

/* The core's entry points for the helpers of this folder. mcp.c owns the servers' state and
 * hands its helpers this struct (m->core, filled once in mcp_create): mcp_handshake.c and
 * mcp_input.c call through it; the transports, mcp_ask.c, mcp_sample.c and mcp_skills.c
 * through mcp_info.c's mcp_transport_* and mcp_server_* wrappers of it (transport.h, mcp_ask.h). No
 * helper names a function of mcp.c, so the folder's calls go one way (README.md, "Who calls
 * whom"). Contracts as the wrappers' and mcp_request's. */
struct mcp_core {
	/* A new request (see mcp_request). */
	struct pending *(*request)(struct mcp_server *s, const char *method, cJSON *params,
				   int64_t timeout_ms, result_fn on_result, error_fn on_error,
				   struct mcp_call *call);
	void (*notify)(struct mcp_server *s, const char *method, cJSON *params);
	/* Sends p again with a new id (it must be unlinked). */
	void (*transmit)(struct mcp_server *s, struct pending *p);
	void (*free_pending)(struct pending *p);
	/* s failed (its calls answered with why; retried later in daemon mode). */
	void (*fail_server)(struct mcp_server *s, const char *why);
	/* tools/list from cursor (NULL: the first page); s becomes ready after the last. */
	void (*list_tools)(struct mcp_server *s, const char *cursor);
	/* Server requests (mcp_ask.c): an answer out; the calls' time limits held or not. */
	void (*send)(struct mcp_server *s, const char *json);
	struct mcp_call *(*hold_calls)(struct mcp_server *s, bool hold);
	/* The transports' reports (transport.h). */
	void (*message)(struct mcp_server *s, const char *json, size_t len);
	void (*failed)(struct mcp_server *s, const char *why);
	void (*request_failed)(struct mcp_server *s, int64_t id, long status, bool session_lost,
			       const char *why);
	void (*session_lost)(struct mcp_server *s);
	bool (*awaits)(const struct mcp_server *s, int64_t id);
};

/* A request of a helper of this folder (mcp_skills.c) to a connected server s, with the
 * server's request timeout; p->arg is arg. Exactly one of on_result and on_error fires, later
 * (also when the server fails or the client is destroyed). (mcp_info.c, through m->core.) */
struct pending *mcp_server_request(struct mcp_server *s, const char *method, cJSON *params,
				   result_fn on_result, error_fn on_error, void *arg);
/* Whether error (a JSON-RPC answer's "error") says the server lost our session: a
 * server-error code whose message speaks of the session (mcp_handshake.c). */
bool mcp_session_lost_error(const cJSON *error);
/* Whether result (initialize's) declares the skills extension (mcp_skills.c). */
bool mcp_skills_declared(const cJSON *init_result);
/* mcp.c's functions for mcp_call.c, which calls the core and is not called by it. */
void mcp_arm(struct event *ev, int64_t ms);
/* A new request: params (taken, may be NULL) go out as JSON text; call is the tools/call the
 * request carries, or NULL. The request is linked to s and owned by it. */
struct pending *mcp_request(struct mcp_server *s, const char *method, cJSON *params,
			    int64_t timeout_ms, result_fn on_result, error_fn on_error,
			    struct mcp_call *call);
void mcp_notify(struct mcp_server *s, const char *method, cJSON *params);
void mcp_unlink_pending(struct pending **list, struct pending *p);
void mcp_free_pending(struct pending *p);
/* Reads of the state (mcp_info.c). */
/* s's tool by its model name, or (own_name) by the server's name for it; NULL if none. */
struct tool *mcp_find_tool(struct mcp_server *s, const char *name, bool own_name);
int64_t mcp_request_timeout_ms(const struct mcp_server *s);
int64_t mcp_connect_timeout_ms(const struct mcp_server *s);

/* mcp_input.c: the 2026-07-28 revision's input_required results. */
/* True when result_json is an input_required result: p is then taken (its questions asked,
 * then sent again with inputResponses; or its error callback fires). */
bool mcp_input_required(struct pending *p, const char *result_json, size_t len);
/* p (a request of a round or waiting for one) is being freed: its round ends quietly. */
void mcp_input_forget(struct pending *p);
/* s failed: every round of s fails its request with why. */
void mcp_input_server_gone(struct mcp_server *s, const char *why);

#endif
