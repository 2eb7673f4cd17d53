/* mcp/transport.h: the interface between the MCP core (src/mcp/mcp.c) and its transports
 * (stdio, streamable HTTP, legacy HTTP+SSE). Internal to the MCP client.
 *
 * A transport moves JSON-RPC messages; the core owns ids, timeouts and the lifecycle.
 * Transports report back through the mcp_transport_* functions, always from the loop and
 * never from inside the core's own call into them; mcp_info.c passes each report to the core
 * through its struct mcp_core (mcp_int.h), so no transport calls mcp.c by name.
 */
#ifndef HERMETIC_MCP_TRANSPORT_H
#define HERMETIC_MCP_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config_mcp_server;
struct loop;
struct mcp;
struct mcp_server;

/* Largest message (a line or a JSON body) held whole and parsed; a larger one streams
 * through mcp_big (its text to a core/toolout), up to agent.tool_output.max_bytes. */
#define MCP_FRAME_CAP (1024 * 1024)
/* Largest SSE line other than data a server may send (past it, an error); an event's data
 * past MCP_FRAME_CAP streams like a long line (net/sse.h, sse_set_stream). */
#define MCP_EVENT_CAP (4 * 1024 * 1024)

struct mcp_transport_ops {
	const char *name;
	/* Starts connecting. Reports mcp_transport_ready() or mcp_transport_failed() later.
	 * Returns 0, or < 0 when it could not even start (then nothing is reported). */
	int (*open)(struct mcp_server *s);
	/* Sends one message; id is the request id, or -1 for notifications and responses.
	 * Returns 0 or < 0 (the core then treats the connection as broken). */
	int (*send)(struct mcp_server *s, const char *json, size_t len, int64_t id);
	/* Gives up on the exchange carrying request id (HTTP: closes that POST's stream). */
	void (*abandon)(struct mcp_server *s, int64_t id);
	/* Tears down. graceful: say goodbye (DELETE the session, close stdin before signals).
	 * No report arrives after close returns. */
	void (*close)(struct mcp_server *s, bool graceful);
	/* The session was forgotten by the server: drop session state and return 0 (the core
	 * then initializes again on the same transport), or -ENOTSUP when the session is the
	 * connection itself (stdio, legacy SSE: the core reconnects). */
	int (*reset_session)(struct mcp_server *s);
	/* notifications/initialized has been sent (HTTP opens its optional GET stream). */
	void (*initialized)(struct mcp_server *s);
	/* What the server said last on its own (stdio: the last stderr lines), as text to show
	 * under an error, or NULL. Called just before close after a failure. May be NULL. */
	char *(*last_words)(struct mcp_server *s);
};

/* Goodbyes still on the wire (session DELETEs and the notifications a graceful close lets
 * finish), one count per struct mcp: mcp_destroy waits for them, bounded. The count outlives
 * its mcp while goodbyes are in flight; the last mcp_goodbyes_done then frees it. */
struct mcp_goodbyes;
/* The count of s's mcp. Borrowed: valid until the transport's last mcp_goodbyes_done. */
struct mcp_goodbyes *mcp_server_goodbyes(const struct mcp_server *s);
void mcp_goodbyes_add(struct mcp_goodbyes *g);
/* One goodbye finished; frees g when its mcp is gone and this was the last. */
void mcp_goodbyes_done(struct mcp_goodbyes *g);

extern const struct mcp_transport_ops mcp_transport_stdio;
extern const struct mcp_transport_ops mcp_transport_http;
extern const struct mcp_transport_ops mcp_transport_sse;

/* What transports may read of their server. */
const struct config_mcp_server *mcp_server_config(const struct mcp_server *s);
/* The whole config (mcp_big's caps and home). */
const struct config *mcp_server_cfg(const struct mcp_server *s);
struct loop *mcp_server_loop(const struct mcp_server *s);
const char *mcp_server_name(const struct mcp_server *s);
/* Negotiated protocol version, or NULL before initialize completes. */
const char *mcp_server_protocol(const struct mcp_server *s);
/* True on the 2026-07-28 wire: no session id is taken or sent, no GET stream. */
bool mcp_server_sessionless(const struct mcp_server *s);
/* The 2026-07-28 wire's header lines for a POST of json (mcp_wire_headers with the called
 * tool's schema), or NULL (the older wire, or not a request). Free with
 * mcp_wire_free_headers. */
char **mcp_server_wire_headers(struct mcp_server *s, const char *json, size_t len);
/* auth: oauth: the access token to send as a Bearer (a registered secret), or NULL. */
const char *mcp_server_bearer(const struct mcp_server *s);
/* Which bearer mcp_server_bearer is (a count of those handed over): a transport keeps it with
 * each request and passes it to mcp_transport_refused. */
unsigned mcp_server_bearer_gen(const struct mcp_server *s);
/* The DPoP key the bearer is bound to (send it as DPoP, with a proof), or NULL. */
const char *mcp_server_dpop_key(const struct mcp_server *s);
void *mcp_server_transport_state(const struct mcp_server *s);
void mcp_server_set_transport_state(struct mcp_server *s, void *state);

/* The server's index in the config's mcp_servers (= its program in the launcher's table). */
size_t mcp_server_index(const struct mcp_server *s);
/* Starts the process launcher with every enabled stdio server of cfg as its table (index =
 * the server's index in mcp_servers), or nothing when there is none. Before the sandbox
 * seals. Returns 0 or a negative errno with a message in err. */
int mcp_stdio_launcher_start(const struct config *cfg, char *err, size_t err_len);

/* The i-th configured server (for the fuzz target that feeds messages to the core). */
struct mcp_server *mcp_server_at(struct mcp *m, size_t i);

/* Reports from transports (mcp_transport_ready is mcp_handshake.c's; the rest go to mcp.c
 * through m->core). */
void mcp_transport_ready(struct mcp_server *s);
/* The connection is broken. Handled from the loop after the current call returns (never
 * re-entrantly, so a transport may report from inside send). */
void mcp_transport_failed(struct mcp_server *s, const char *why);
void mcp_transport_message(struct mcp_server *s, const char *json, size_t len);
/* Bytes of the server's arrived (any part of a message, before it is whole): it is alive. */
void mcp_transport_heard(struct mcp_server *s);
/* An HTTP exchange for request id ended without a JSON-RPC answer: status is the HTTP status
 * (0 for transport errors); session_lost is true for a 404 on a request with a session. */
void mcp_transport_request_failed(struct mcp_server *s, int64_t id, long status, bool session_lost,
				  const char *why);
/* The server forgot our session outside any request (Streamable HTTP: the GET stream got 404
 * with the session id): a ready server initializes a new session; nothing is sent again, and
 * requests in flight stay pending. */
void mcp_transport_session_lost(struct mcp_server *s);
/* A 401 or 403 carried this WWW-Authenticate (kept for mcp_challenge). */
void mcp_transport_challenge(struct mcp_server *s, const char *www_authenticate);
/* An `auth: oauth` server refused a request with status (401, 403): what to tell the user, as
 * "not signed in: ..." (malloc'd); the owner's sign-in hook may start a sign-in (mcp_auth.c).
 * bearer_gen is the request's (mcp_server_bearer_gen when it was sent): a refusal of an older
 * bearer than the server's now asks nobody, and the attempt it fails is retried at once. */
char *mcp_transport_refused(struct mcp_server *s, long status, const char *challenge,
			    unsigned bearer_gen);
/* True when request id is a tools/call waiting for its answer: an answer to it over
 * MCP_FRAME_CAP may stream (mcp_big); any other message is held whole. */
bool mcp_transport_streams(const struct mcp_server *s, int64_t id);
/* True while request id waits for its answer (a transport resuming a stream asks). */
bool mcp_transport_awaits(const struct mcp_server *s, int64_t id);
/* An HTTP error body as a short line for an error message: a text excerpt (redacted, at most
 * 200 characters), or for HTML and other markup only its type and size. Returns malloc'd. */
char *mcp_http_describe(const char *content_type, const char *body, size_t len);
/* True when a JSON body is a JSON-RPC error saying our session is unknown to the server
 * (mcp_handshake.c). */
bool mcp_session_lost_body(const char *body, size_t len);

#endif
