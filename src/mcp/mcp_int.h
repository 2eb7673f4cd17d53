/* mcp_int.h: the MCP client core's state, shared by mcp.c (the state machine, its only
 * writer) and mcp_info.c (what transports, the sign-in and the CLI read of it). Private to
 * src/mcp/: nothing outside this folder includes it. */
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
	int64_t backoff_ms;
	char *dpop_key;	 /* the bearer's DPoP key (a registered secret), or NULL */
	char *bearer;	     /* auth: oauth: the access token (a registered secret), or NULL */
	char *challenge;     /* the last 401/403's WWW-Authenticate, or NULL */
	bool skills;	     /* the server declared the skills extension (mcp_skills.c) */
	bool tools_declared; /* initialize's capabilities have tools */
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
	struct mcp_asks *asks; /* requests from servers: questions, sampling (mcp_ask.c) */
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

/* A request of a helper of this folder (mcp_skills.c) to a connected server s, with the
 * server's request timeout; p->arg is arg. Exactly one of on_result and on_error fires, later
 * (also when the server fails or the client is destroyed). */
struct pending *mcp_server_request(struct mcp_server *s, const char *method, cJSON *params,
				   result_fn on_result, error_fn on_error, void *arg);
/* Whether result (initialize's) declares the skills extension (mcp_skills.c). */
bool mcp_skills_declared(const cJSON *init_result);

#endif
