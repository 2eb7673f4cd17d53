/* mcp/transport_http: MCP Streamable HTTP. Every message is a POST to the one endpoint with
 * both Accept types; the answer is JSON or an SSE stream (parsed event by event), 202 for
 * notifications. The Mcp-Session-Id from the initialize answer is kept and sent (never
 * invented for stateless servers), MCP-Protocol-Version once negotiated. A 404 (or a 400 whose
 * JSON-RPC error says so) on a request that carried a session is reported as a lost session
 * (the core re-initializes). After the handshake an optional GET stream carries server
 * messages such as tools/list_changed; a server that does not offer it (405, or 404 to a GET
 * that carried no session) is left alone, and a 404 to one that carried the session starts a
 * new session once. An SSE answer stream that ends before its answer is resumed as the spec
 * says: after the server's `retry:` (bounded; 1 s when it named none) a GET with
 * Last-Event-ID, whose events complete the call; nothing is sent again (the request may have
 * run). A request refused with 401 or 403 reports the status, the server's text and its
 * WWW-Authenticate (bounded, redacted). A DPoP-bound token (oauth: dpop: true) goes as
 * `Authorization: DPoP` with a fresh proof on every request; a POST refused 401 with
 * error="use_dpop_nonce" goes once more with the DPoP-Nonce given (RFC 9449 9), and the
 * latest nonce of the server's origin goes with every later proof.
 * Messages sent while notifications/initialized is on the wire wait for its answer: separate
 * POSTs race, and servers (the Python SDK's among them) refuse a request that overtakes it.
 * Closing DELETEs the session. Error bodies reach messages as a short text excerpt; an HTML
 * page only as its type and size.
 *
 * Each POST is a `struct post` that outlives the transport when needed: closing detaches
 * posts (post->t = NULL) and cancels them; their httpc callbacks then only free them.
 */
#include "core/config.h"
#include "net/httpc.h"
#include "core/log.h"
#include "core/loop.h"
#include "mcp/oauth_dpop.h"
#include "mcp/mcp_big.h"
#include "mcp/transport.h"
#include "mcp/mcp_wire.h"
#include "core/json.h"
#include "net/sse.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GET_RETRY_MS   2000
#define GET_MAX_FAILS  3
#define GET_WAIT_MS    250 /* at most, for the GET stream's answer before calls go out */
#define DELETE_TIMEOUT 2000
/* A notification is answered 202 with no body: one that hangs does not hold the gate long. */
#define NOTIFY_TIMEOUT 30000
#define FRAME_CAP_WHY  "the server sent an event line over the 4 MiB cap"
/* Resuming a stream: the wait when the server named no `retry:`, the most a server may make us
 * wait, and how many resumptions in a row may bring nothing new before the call fails. */
#define RESUME_DEFAULT_MS 1000
#define RESUME_MIN_MS	  100
#define RESUME_MAX_MS	  30000
#define RESUME_MAX_TRIES  3
/* Longest event id sent back as Last-Event-ID (a header line of the server's choosing). */
#define EVENT_ID_MAX 256

struct http_t;

/* The session DELETE of a graceful close waits for the notifications still in flight (a
 * notifications/cancelled must reach the server while the session still exists). */
struct farewell {
	struct loop *loop;
	struct mcp_goodbyes *goodbyes;
	char *url;
	char **headers;
	int waiting;
};

struct post {
	struct post *next;
	struct http_t *t;
	int64_t id;
	struct httpc_req *req;
	bool sent_session, is_sse, kind_known;
	struct farewell *farewell;     /* the session DELETE waiting for this notification */
	bool goodbye_only;	       /* a notification let finish after a close, no session */
	struct mcp_goodbyes *goodbyes; /* counts this post when farewell or goodbye_only */
	bool too_big;		       /* an SSE event over MCP_EVENT_CAP */
	struct mcp_big *big;	       /* a JSON answer over MCP_FRAME_CAP, streaming */
	char *held;		       /* the message of a post held behind the gate, unsent */
	size_t held_len;
	char *sent; /* with a DPoP key: the message as sent, for the nonce retry */
	size_t sent_len;
	bool nonce_retried;
	unsigned bearer_gen; /* mcp_server_bearer_gen when sent */
	struct sse_parser sse;
	struct buf body;
};

/* An answer stream being resumed: a GET with Last-Event-ID until request id is answered. */
struct resume {
	struct resume *next;
	struct http_t *t; /* NULL once detached (closed, abandoned): the callback only frees */
	int64_t id;
	char *last_id;
	struct httpc_req *req;
	struct event *timer;
	struct sse_parser sse;
	struct mcp_big *big; /* an event over MCP_FRAME_CAP, streaming */
	bool sse_active, answered;
	int tries;
};

struct http_t {
	struct mcp_server *s;
	char *session;
	struct post *posts;
	struct resume *resumes;
	/* notifications/initialized while it is on the wire: later messages wait for it, as
	 * a server may refuse requests that overtake it (separate POSTs can arrive in any
	 * order). */
	struct post *gate;
	/* The GET stream was just opened: later messages also wait until it answers (its first
	 * bytes or its end) or GET_WAIT_MS pass, whichever is first. A server may drop a request
	 * of its own that no stream can carry (the TypeScript SDK does): a tools/call that
	 * overtook the GET would never see the question its tool asks. */
	bool get_wait;
	struct httpc_req *get;
	struct sse_parser get_sse;
	struct mcp_big *get_big; /* an event of the GET stream over MCP_FRAME_CAP, streaming */
	bool get_sse_active, get_unsupported, get_sent_session, get_renewed, get_stale;
	char *get_last_id; /* of the GET stream that ended, sent when it is opened again */
	int get_fails;
	struct event *get_retry, *ev_ready, *get_wait_ev;
	int busy;
	bool dead;
};

static void destroy(struct http_t *t)
{
	if (t->get_sse_active)
		sse_finish(&t->get_sse);
	mcp_big_destroy(t->get_big);
	if (t->get_retry)
		event_free(t->get_retry);
	if (t->ev_ready)
		event_free(t->ev_ready);
	if (t->get_wait_ev)
		event_free(t->get_wait_ev);
	free(t->get_last_id);
	free(t->session);
	free(t);
}

static bool leave(struct http_t *t)
{
	t->busy--;
	if (t->dead && !t->busy) {
		destroy(t);
		return false;
	}
	return !t->dead;
}

/* The Authorization line, and with a DPoP-bound token the proof for this request. */
static void put_auth(struct http_t *t, const char *method, char **h, size_t *n)
{
	const char *bearer = mcp_server_bearer(t->s), *key = mcp_server_dpop_key(t->s);
	char err[256], *proof;

	if (!bearer)
		return;
	if (!key) {
		h[(*n)++] = xasprintf("Authorization: Bearer %s", bearer);
		return;
	}
	h[(*n)++] = xasprintf("Authorization: DPoP %s", bearer);
	proof = oauth_dpop_header(key, method, mcp_server_config(t->s)->url, bearer, err,
				  sizeof(err));
	if (proof)
		h[(*n)++] = proof;
	else /* the server refuses the request and says so; the key is never in err */
		log_warn("mcp %s: no DPoP proof: %s", mcp_server_name(t->s), err);
}

/* Header lines for a request of method: the 2026-07-28 wire's for json (when set), ours, the
 * session, the protocol, Last-Event-ID when last_id is set, the sign-in's, the configured ones. */
static char **headers(struct http_t *t, const char *method, bool with_session, const char *last_id,
		      const char *json, size_t len)
{
	const struct config_mcp_server *c = mcp_server_config(t->s);
	const char *proto = mcp_server_protocol(t->s);
	bool post = strcmp(method, "POST") == 0;
	char **wire = json ? mcp_server_wire_headers(t->s, json, len) : NULL;
	size_t n_wire = 0, n = 0, i;
	char **h;

	while (wire && wire[n_wire])
		n_wire++;
	h = xcalloc(c->n_headers + n_wire + 9, sizeof(char *));
	/* The 2026-07-28 wire's Mcp-Method, Mcp-Name and Mcp-Param-* lines (SEP-2243). Only when
	 * there are any: GCC turns the copy into memcpy/memset, takes their pointers as non-null,
	 * and then drops the NULL check of the free below (a crash seen in the -Os LTO build). */
	if (wire) {
		for (i = 0; i < n_wire; i++) {
			h[n++] = wire[i];
			wire[i] = NULL;
		}
		mcp_wire_free_headers(wire);
	}

	if (post)
		h[n++] = xstrdup("Content-Type: application/json");
	h[n++] = xstrdup(post ? "Accept: application/json, text/event-stream"
			      : "Accept: text/event-stream");
	if (with_session && t->session && !mcp_server_sessionless(t->s))
		h[n++] = xasprintf("Mcp-Session-Id: %s", t->session);
	if (proto)
		h[n++] = xasprintf("MCP-Protocol-Version: %s", proto);
	if (last_id && *last_id)
		h[n++] = xasprintf("Last-Event-ID: %s", last_id);
	put_auth(t, method, h, &n);
	for (i = 0; i < c->n_headers; i++)
		h[n++] = xasprintf("%s: %s", c->headers[i].name, c->headers[i].value);
	return h;
}

static void free_headers(char **h)
{
	char **p;

	for (p = h; *p; p++)
		free(*p);
	free(h);
}

static int on_event(const struct sse_event *ev, void *arg)
{
	struct http_t *t = arg;

	if (t->dead)
		return -1;
	if (!*ev->event || strcmp(ev->event, "message") == 0)
		mcp_transport_message(t->s, ev->data, ev->data_len);
	return t->dead ? -1 : 0;
}

static void take_session(struct http_t *t, struct httpc_req *req)
{
	const char *sid = httpc_header(req, "Mcp-Session-Id");

	/* The 2026-07-28 wire has no session, whatever a server sends. */
	if (mcp_server_sessionless(t->s))
		return;
	if (sid && *sid && (!t->session || strcmp(t->session, sid) != 0)) {
		free(t->session);
		t->session = xstrdup(sid);
	}
}

static void unlink_post(struct http_t *t, struct post *p)
{
	struct post **pp;

	for (pp = &t->posts; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

static void free_post(struct post *p)
{
	if (p->kind_known && p->is_sse)
		sse_finish(&p->sse);
	buf_finish(&p->body);
	mcp_big_destroy(p->big);
	free(p->held);
	free(p->sent);
	free(p);
}

/* A JSON answer: held whole up to MCP_FRAME_CAP, past it streamed through mcp_big (the body
 * buffer given back). A streamed answer that cannot be read breaks the connection, as one
 * over the cap did before: its request cannot be answered. */
static int take_json(struct http_t *t, struct post *p, const char *data, size_t len)
{
	char why[256];

	if (!p->big && p->body.len + len <= MCP_FRAME_CAP)
		return buf_append(&p->body, data, len);
	if (!p->big) {
		p->big = mcp_big_create_for(t->s);
		mcp_big_feed(p->big, p->body.data, p->body.len);
		buf_finish(&p->body);
		buf_init(&p->body, MCP_FRAME_CAP);
	}
	if (mcp_big_feed(p->big, data, len) == 0)
		return 0;
	mcp_big_failure(p->big, why, sizeof(why));
	mcp_transport_failed(t->s, why);
	return -1;
}

/* A piece of an SSE event too large to hold (sse_set_stream), for the stream whose scanner is
 * *big: fed to mcp_big, handed over at the event's end. -1 stops the stream (the transport died,
 * or the event cannot be read: then the transport fails saying why). */
static int big_piece(struct http_t *t, struct mcp_big **big, const char *data, size_t len, bool end)
{
	char why[256];

	if (!t || t->dead)
		return -1;
	if (!*big)
		*big = mcp_big_create_for(t->s);
	if (end) {
		mcp_big_hand_over(big, t->s);
		return t->dead ? -1 : 0;
	}
	if (mcp_big_feed(*big, data, len) == 0)
		return 0;
	mcp_big_failure(*big, why, sizeof(why));
	mcp_transport_failed(t->s, why);
	return -1;
}

static int on_post_stream(const char *data, size_t len, bool end, void *arg)
{
	struct post *p = arg;

	return big_piece(p->t, &p->big, data, len, end);
}

static int on_get_stream(const char *data, size_t len, bool end, void *arg)
{
	struct http_t *t = arg;

	return big_piece(t, &t->get_big, data, len, end);
}

static int on_post_data(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	struct post *p = arg;
	struct http_t *t = p->t;
	int rc = 0;

	if (!t || t->dead)
		return -1;
	if (httpc_status(req) / 100 != 2)
		return buf_append(&p->body, data, len) < 0 ? -1 : 0;
	mcp_transport_heard(t->s);
	t->busy++;
	if (!p->kind_known) {
		const char *ct = httpc_header(req, "Content-Type");

		p->kind_known = true;
		p->is_sse = ct && strncasecmp(ct, "text/event-stream", 17) == 0;
		if (p->is_sse) {
			sse_init(&p->sse, MCP_EVENT_CAP, on_event, t);
			sse_set_stream(&p->sse, MCP_FRAME_CAP, on_post_stream, p);
		}
		/* The session must be known before the first answer is handled: the core sends
		 * notifications/initialized right after the initialize result. */
		take_session(t, req);
	}
	if (p->is_sse)
		rc = sse_feed(&p->sse, data, len);
	else
		rc = take_json(t, p, data, len);
	if (rc == -E2BIG && !t->dead && !p->big) {
		p->too_big = true;
		mcp_transport_failed(t->s, FRAME_CAP_WHY);
	}
	leave(t);
	return rc < 0 ? -1 : 0;
}

char *mcp_http_describe(const char *content_type, const char *body, size_t len)
{
	char ctype[64], *text, *clean, *out;
	size_t n, i;

	snprintf(ctype, sizeof(ctype), "%.*s", (int)strcspn(content_type ? content_type : "", ";"),
		 content_type ? content_type : "");
	if (!len)
		return xstrdup(*ctype ? ctype : "no answer");
	/* An error page is markup for a browser: its type and size say enough. */
	if (strcasestr(ctype, "html") || strcasestr(ctype, "xml") || body[0] == '<')
		return xasprintf("%s, %zu bytes", *ctype ? ctype : "markup", len);
	n = len < 400 ? len : 400;
	text = xstrndup(body, n);
	for (i = 0; i < n; i++)
		if ((unsigned char)text[i] < ' ')
			text[i] = ' ';
	/* Redact before cutting: the body may quote our headers, and a secret cut in half is
	 * not recognised any more. */
	clean = log_redact(text);
	out = utf8_clip_dup(clean, 200, true);
	free(clean);
	free(text);
	return out;
}

/* A refused request: the server's challenge says why (invalid_token, insufficient_scope) and
 * what it wants; bounded and redacted, as it may quote what we sent. Takes why. */
static char *with_challenge(char *why, struct httpc_req *req)
{
	const char *challenge = httpc_header(req, "WWW-Authenticate");
	char *clean, *clip, *out;

	if (!challenge || !*challenge)
		return why;
	clean = log_redact(challenge);
	clip = utf8_clip_dup(clean, 300, true);
	out = xasprintf("%s (WWW-Authenticate: %s)", why, clip);
	free(clip);
	free(clean);
	free(why);
	return out;
}

/* A server that signs in (auth: oauth) and refuses us: say what to do about it (the owner's
 * sign-in hook may have sent the person a sign-in: mcp_auth.c). */
static char *with_sign_in_hint(struct http_t *t, long status, const char *challenge,
			       unsigned bearer_gen, char *why)
{
	const struct config_mcp_server *c = mcp_server_config(t->s);
	char *what, *out;

	if (c->auth != CONFIG_MCP_AUTH_OAUTH)
		return why;
	what = mcp_transport_refused(t->s, status, challenge, bearer_gen);
	out = xasprintf("%s; %s", what, why);
	free(what);
	free(why);
	return out;
}

/* The body is a JSON-RPC error response to p's request. */
static bool error_answers(const struct post *p)
{
	cJSON *root = p->body.len ? json_parse(p->body.data, p->body.len, 0, NULL) : NULL;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
	bool yes = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "error")) &&
		   cJSON_IsNumber(id) && id->valuedouble == (double)p->id;

	cJSON_Delete(root);
	return yes;
}

static void report_post_failure(struct http_t *t, struct post *p, struct httpc_req *req)
{
	long status = httpc_status(req);
	bool lost;
	char *why;

	if (p->too_big)
		why = xstrdup(FRAME_CAP_WHY); /* not the abort it caused */
	else if (httpc_result(req) != HTTPC_OK)
		why = xstrdup(httpc_error(req));
	else
		why = mcp_http_describe(httpc_header(req, "Content-Type"), p->body.data,
					p->body.len);
	if ((status == 401 || status == 403) && httpc_header(req, "WWW-Authenticate"))
		mcp_transport_challenge(t->s, httpc_header(req, "WWW-Authenticate"));
	if (status == 401 || status == 403)
		why = with_sign_in_hint(t, status, httpc_header(req, "WWW-Authenticate"),
					p->bearer_gen, with_challenge(why, req));
	if (p->id < 0) {
		log_debug("mcp %s: a notification got HTTP %ld: %s", mcp_server_name(t->s), status,
			  why);
		free(why);
		return;
	}
	/* On the 2026-07-28 wire a 400 may carry the JSON-RPC error that answers the request
	 * (-32022, the versions the server speaks): it is that answer. */
	if (status == 400 && mcp_server_sessionless(t->s) && error_answers(p)) {
		mcp_transport_message(t->s, p->body.data, p->body.len);
		free(why);
		return;
	}
	/* The spec's 404 for an unknown session, or a 400 that says so in JSON-RPC. */
	lost = p->sent_session &&
	       (status == 404 ||
		(status == 400 && p->body.len && mcp_session_lost_body(p->body.data, p->body.len)));
	mcp_transport_request_failed(t->s, p->id, httpc_result(req) == HTTPC_OK ? status : 0, lost,
				     why);
	free(why);
}

static void on_goodbye_done(struct httpc_req *req, void *arg)
{
	mcp_goodbyes_done(arg);
}

/* Sends the session DELETE and frees the farewell. */
static void say_goodbye(struct farewell *f)
{
	struct httpc_opts o = {0};
	char **p;

	o.method = "DELETE";
	o.url = f->url;
	o.headers = (const char *const *)f->headers;
	o.timeout_ms = DELETE_TIMEOUT;
	if (httpc_start(f->loop, &o, on_goodbye_done, f->goodbyes, NULL) == 0)
		mcp_goodbyes_add(f->goodbyes);
	for (p = f->headers; p && *p; p++)
		free(*p);
	free(f->headers);
	free(f->url);
	free(f);
}

static void open_gate(struct http_t *t);
static bool resume_answer(struct http_t *t, struct post *p);
static int start_post(struct http_t *t, struct post *p, const char *json, size_t len);

/* A DPoP nonce the server handed out (on any answer) is remembered for its origin, the one
 * the next proofs carry; true when there was one. */
static bool note_nonce(struct http_t *t, struct httpc_req *req)
{
	const char *nonce = httpc_header(req, "DPoP-Nonce");

	return mcp_server_dpop_key(t->s) && nonce &&
	       oauth_dpop_nonce_set(mcp_server_config(t->s)->url, nonce);
}

/* True when the answer was 401 use_dpop_nonce with a nonce and the post went out again with
 * it, once (RFC 9449 9). */
static bool nonce_retry(struct http_t *t, struct post *p, struct httpc_req *req)
{
	if (!note_nonce(t, req))
		return false;
	if (p->nonce_retried || !p->sent || httpc_result(req) != HTTPC_OK ||
	    httpc_status(req) != 401 ||
	    !oauth_dpop_nonce_asked(httpc_header(req, "WWW-Authenticate")))
		return false;
	p->nonce_retried = true;
	buf_reset(&p->body);
	return start_post(t, p, p->sent, p->sent_len) == 0;
}

static void on_post_done(struct httpc_req *req, void *arg)
{
	struct post *p = arg;
	struct http_t *t = p->t;
	long status = httpc_status(req);

	if (t && !t->dead && !p->farewell && !p->goodbye_only && nonce_retry(t, p, req))
		return;
	/* The DELETE is counted before this post stops counting: the count may be the last
	 * thing alive of a destroyed mcp, freed when it reaches zero. */
	if (p->farewell && --p->farewell->waiting == 0)
		say_goodbye(p->farewell);
	if (p->farewell || p->goodbye_only)
		mcp_goodbyes_done(p->goodbyes);
	if (!t || t->dead) {
		free_post(p);
		return;
	}
	unlink_post(t, p);
	t->busy++;
	if (t->gate == p) {
		t->gate = NULL;
		if (!t->get_wait)
			open_gate(t);
	}
	if (!t->dead && httpc_result(req) == HTTPC_OK && status / 100 == 2) {
		take_session(t, req);
		if (!p->is_sse && p->big)
			mcp_big_hand_over(&p->big, t->s);
		else if (!p->is_sse && p->body.len)
			mcp_transport_message(t->s, p->body.data, p->body.len);
		/* A request whose stream ended without its answer is resumed when the stream
		 * named an event id; else the core learns it here (a no-op if the answer came). */
		if (!t->dead && p->id >= 0 && !resume_answer(t, p))
			mcp_transport_request_failed(
				t->s, p->id, 0, false,
				"the server ended the exchange without an answer");
	} else if (!t->dead) {
		report_post_failure(t, p, req);
	}
	free_post(p);
	leave(t);
}

static int start_post(struct http_t *t, struct post *p, const char *json, size_t len)
{
	const struct config_mcp_server *c = mcp_server_config(t->s);
	struct httpc_opts o = {0};
	char **h;
	int rc;

	p->sent_session = t->session != NULL;
	if (mcp_server_dpop_key(t->s) && !p->sent) {
		p->sent = xmalloc(len);
		memcpy(p->sent, json, len);
		p->sent_len = len;
	}
	p->bearer_gen = mcp_server_bearer_gen(t->s);
	h = headers(t, "POST", true, NULL, json, len);
	o.method = "POST";
	o.url = c->url;
	o.headers = (const char *const *)h;
	o.body = json;
	o.body_len = len;
	o.connect_timeout_ms = (c->connect_timeout_s > 0 ? c->connect_timeout_s : 10) * 1000;
	o.on_data = on_post_data;
	if (p->id < 0)
		o.timeout_ms = NOTIFY_TIMEOUT;
	rc = httpc_start(mcp_server_loop(t->s), &o, on_post_done, p, &p->req);
	free_headers(h);
	return rc;
}

static int send_http(struct mcp_server *s, const char *json, size_t len, int64_t id)
{
	struct http_t *t = mcp_server_transport_state(s);
	struct post *p, **tail;

	if (!t || t->dead)
		return -EPIPE;
	p = xcalloc(1, sizeof(*p));
	p->t = t;
	p->id = id;
	buf_init(&p->body, MCP_FRAME_CAP);
	if (t->gate || t->get_wait) {
		p->held = xmalloc(len);
		memcpy(p->held, json, len);
		p->held_len = len;
		/* Held posts go out in the order they were sent: kept at the list's end. */
		for (tail = &t->posts; *tail; tail = &(*tail)->next)
			;
		*tail = p;
		return 0;
	}
	if (start_post(t, p, json, len) < 0) {
		free_post(p);
		return -EIO;
	}
	p->next = t->posts;
	t->posts = p;
	return 0;
}

/* The gate's notification is answered: what waited behind it goes out, oldest first (held
 * posts sit at the list's end in the order they were sent; posts started since go in front). */
static void open_gate(struct http_t *t)
{
	struct post *p;

	while (!t->dead) {
		char *json;

		for (p = t->posts; p && !p->held; p = p->next)
			;
		if (!p)
			return;
		json = p->held;
		p->held = NULL;
		if (start_post(t, p, json, p->held_len) < 0) {
			int64_t id = p->id;

			unlink_post(t, p);
			free_post(p);
			if (id >= 0)
				mcp_transport_request_failed(t->s, id, 0, false,
							     "the request could not be sent");
		}
		free(json);
	}
}

/* ---- resuming an answer stream (GET with Last-Event-ID) ---- */

static void free_resume(struct resume *r)
{
	if (r->timer)
		event_free(r->timer);
	if (r->sse_active)
		sse_finish(&r->sse);
	mcp_big_destroy(r->big);
	free(r->last_id);
	free(r);
}

static void unlink_resume(struct http_t *t, struct resume *r)
{
	struct resume **pp;

	for (pp = &t->resumes; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			return;
		}
	}
}

/* Takes r off t: a request still running is cancelled and its callback frees r. */
static void detach_resume(struct http_t *t, struct resume *r)
{
	unlink_resume(t, r);
	r->t = NULL;
	if (r->req)
		httpc_cancel(r->req);
	else
		free_resume(r);
}

/* The wait before a reconnection: the server's `retry:` (bounded), else fallback_ms. */
static struct timeval retry_delay(long retry_ms, long fallback_ms)
{
	long ms = retry_ms < 0		     ? fallback_ms
		  : retry_ms < RESUME_MIN_MS ? RESUME_MIN_MS
		  : retry_ms > RESUME_MAX_MS ? RESUME_MAX_MS
					     : retry_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	return tv;
}

/* The call cannot be resumed: the core fails it with why (it is never sent again). */
static void resume_failed(struct http_t *t, struct resume *r, long status, const char *why)
{
	int64_t id = r->id;

	unlink_resume(t, r);
	free_resume(r);
	t->busy++;
	mcp_transport_request_failed(t->s, id, status, false, why);
	leave(t);
}

static int on_resume_event(const struct sse_event *ev, void *arg)
{
	struct resume *r = arg;

	if (!r->t || r->t->dead)
		return -1;
	if (!*ev->event || strcmp(ev->event, "message") == 0)
		mcp_transport_message(r->t->s, ev->data, ev->data_len);
	if (!r->t || r->t->dead)
		return -1;
	/* The answer came: this stream has done its work (servers may keep it open). */
	if (!mcp_transport_awaits(r->t->s, r->id)) {
		r->answered = true;
		return -1;
	}
	return 0;
}

static int on_resume_stream(const char *data, size_t len, bool end, void *arg)
{
	struct resume *r = arg;

	if (big_piece(r->t, &r->big, data, len, end) < 0 || !r->t || r->t->dead)
		return -1;
	if (end && !mcp_transport_awaits(r->t->s, r->id)) {
		r->answered = true; /* as on_resume_event */
		return -1;
	}
	return 0;
}

static int on_resume_data(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	struct resume *r = arg;
	struct http_t *t = r->t;
	int rc;

	if (!t || t->dead)
		return -1;
	if (httpc_status(req) / 100 != 2)
		return 0;
	mcp_transport_heard(t->s);
	t->busy++;
	rc = sse_feed(&r->sse, data, len);
	leave(t);
	return rc < 0 ? -1 : 0;
}

static void on_resume_done(struct httpc_req *req, void *arg)
{
	struct resume *r = arg;
	struct http_t *t = r->t;
	long status = httpc_status(req);
	enum httpc_result res = httpc_result(req);
	const char *id = r->sse_active ? sse_last_id(&r->sse) : "";
	struct timeval tv;
	char why[256];

	r->req = NULL;
	if (!t) {
		free_resume(r);
		return;
	}
	note_nonce(t, req);
	if (r->answered || !mcp_transport_awaits(t->s, r->id)) {
		unlink_resume(t, r);
		free_resume(r);
		return;
	}
	/* Ended again before the answer, or cut: resume from where this one got to. */
	if ((res == HTTPC_OK && status / 100 == 2) || res == HTTPC_TRANSPORT) {
		if (*id && strlen(id) <= EVENT_ID_MAX && strcmp(id, r->last_id) != 0) {
			free(r->last_id);
			r->last_id = xstrdup(id);
			r->tries = 0;
		}
		if (++r->tries <= RESUME_MAX_TRIES) {
			tv = retry_delay(sse_retry_ms(&r->sse), RESUME_DEFAULT_MS);
			evtimer_add(r->timer, &tv);
			return;
		}
		resume_failed(t, r, 0,
			      "the server ended the answer's stream again and again"
			      " without the answer");
		return;
	}
	if (res == HTTPC_OK)
		snprintf(why, sizeof(why), "resuming the answer's stream was refused");
	else
		snprintf(why, sizeof(why), "resuming the answer's stream failed: %s",
			 httpc_error(req));
	resume_failed(t, r, res == HTTPC_OK ? status : 0, why);
}

static void on_resume_timer(evutil_socket_t fd, short what, void *arg)
{
	struct resume *r = arg;
	struct http_t *t = r->t;
	const struct config_mcp_server *c = mcp_server_config(t->s);
	struct httpc_opts o = {0};
	char **h;
	int rc;

	if (r->sse_active)
		sse_finish(&r->sse);
	sse_init(&r->sse, MCP_EVENT_CAP, on_resume_event, r);
	sse_set_stream(&r->sse, MCP_FRAME_CAP, on_resume_stream, r);
	r->sse_active = true;
	h = headers(t, "GET", true, r->last_id, NULL, 0);
	o.method = "GET";
	o.url = c->url;
	o.headers = (const char *const *)h;
	o.connect_timeout_ms = (c->connect_timeout_s > 0 ? c->connect_timeout_s : 10) * 1000;
	o.on_data = on_resume_data;
	rc = httpc_start(mcp_server_loop(t->s), &o, on_resume_done, r, &r->req);
	free_headers(h);
	if (rc < 0)
		resume_failed(t, r, 0, "the answer's stream could not be resumed");
}

/* p's SSE stream ended without the answer to p->id: resume it when the stream named an event
 * id (the spec's only way to resume one). True when a resumption is under way. */
static bool resume_answer(struct http_t *t, struct post *p)
{
	const char *id;
	struct resume *r;
	struct timeval tv;

	if (!p->is_sse || p->too_big || !mcp_transport_awaits(t->s, p->id))
		return false;
	id = sse_last_id(&p->sse);
	if (!*id || strlen(id) > EVENT_ID_MAX)
		return false;
	r = xcalloc(1, sizeof(*r));
	r->t = t;
	r->id = p->id;
	r->last_id = xstrdup(id);
	r->timer = evtimer_new(loop_base(mcp_server_loop(t->s)), on_resume_timer, r);
	r->next = t->resumes;
	t->resumes = r;
	log_debug("mcp %s: the answer's stream ended early; resuming after event %s",
		  mcp_server_name(t->s), id);
	tv = retry_delay(sse_retry_ms(&p->sse), RESUME_DEFAULT_MS);
	evtimer_add(r->timer, &tv);
	return true;
}

static void abandon_http(struct mcp_server *s, int64_t id)
{
	struct http_t *t = mcp_server_transport_state(s);
	struct resume *r;
	struct post *p;

	for (r = t ? t->resumes : NULL; r; r = r->next) {
		if (r->id == id) {
			detach_resume(t, r);
			return;
		}
	}
	for (p = t ? t->posts : NULL; p; p = p->next) {
		if (p->id == id) {
			unlink_post(t, p);
			if (p->held) { /* never sent: nothing to cancel */
				free_post(p);
				return;
			}
			p->t = NULL; /* its callback now only frees it */
			httpc_cancel(p->req);
			return;
		}
	}
}

/* ---- the optional GET stream for server-initiated messages ---- */

static void open_get(struct http_t *t);

/* The GET stream answered, or GET_WAIT_MS passed: messages held for it go out (unless the
 * initialized notification still holds them). The caller holds a reference to t. */
static void get_answered(struct http_t *t)
{
	if (!t->get_wait)
		return;
	t->get_wait = false;
	evtimer_del(t->get_wait_ev);
	if (!t->gate && !t->dead)
		open_gate(t);
}

static void on_get_wait(evutil_socket_t fd, short what, void *arg)
{
	struct http_t *t = arg;

	t->busy++;
	get_answered(t);
	leave(t);
}

static int on_get_data(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	struct http_t *t = arg;
	int rc;

	t->busy++;
	get_answered(t);
	if (!leave(t))
		return -1;
	if (httpc_status(req) != 200)
		return 0;
	mcp_transport_heard(t->s);
	t->busy++;
	t->get_fails = 0;
	/* The session works: a later 404 is a new loss, worth a new session again. */
	t->get_renewed = false;
	rc = sse_feed(&t->get_sse, data, len);
	leave(t);
	return rc < 0 ? -1 : 0;
}

static void on_get_done(struct httpc_req *req, void *arg)
{
	struct http_t *t = arg;
	long status = httpc_status(req);
	enum httpc_result res = httpc_result(req);
	struct timeval tv = retry_delay(-1, GET_RETRY_MS);
	char why[256];

	t->get = NULL;
	get_answered(t);
	t->busy--;
	if (t->dead) {
		if (!t->busy)
			destroy(t);
		return;
	}
	/* A refused GET that handed out a DPoP nonce is tried again with it (get_fails). */
	note_nonce(t, req);
	/* The session the GET carried is unknown: the server forgot it (restarted). A new
	 * session, once; the calls in flight are left to finish or fail on their own. */
	if (res == HTTPC_OK && status == 404 && t->get_sent_session && !t->get_renewed) {
		t->get_renewed = true;
		t->busy++;
		mcp_transport_session_lost(t->s);
		leave(t);
		return;
	}
	/* A server that keeps no session answers a GET without one 404 (no such route) or 405:
	 * it offers no stream, which is no fault. */
	if (res == HTTPC_OK && (status == 405 || status == 400 || status == 501 || status == 404)) {
		t->get_unsupported = true;
		log_debug("mcp %s: no GET stream offered (HTTP %ld)", mcp_server_name(t->s),
			  status);
		return;
	}
	/* The stream is our connection's pulse: refused or reset means the server went away,
	 * found now rather than at the next ping. A clean end is resumed after the server's
	 * retry: with Last-Event-ID. */
	if (res == HTTPC_CONNECT || res == HTTPC_TRANSPORT) {
		snprintf(why, sizeof(why), "the server went away (event stream: %s)",
			 httpc_error(req));
		t->busy++;
		mcp_transport_failed(t->s, why);
		leave(t);
		return;
	}
	if (res == HTTPC_OK && status / 100 == 2 && t->get_sse_active)
		tv = retry_delay(sse_retry_ms(&t->get_sse), GET_RETRY_MS);
	if (res != HTTPC_CANCELLED && ++t->get_fails <= GET_MAX_FAILS)
		evtimer_add(t->get_retry, &tv);
}

static void on_get_retry(evutil_socket_t fd, short what, void *arg)
{
	open_get(arg);
}

static void open_get(struct http_t *t)
{
	const struct config_mcp_server *c = mcp_server_config(t->s);
	struct httpc_opts o = {0};
	char **h;

	if (t->dead || t->get || t->get_unsupported)
		return;
	if (t->get_sse_active) {
		const char *id = sse_last_id(&t->get_sse);

		if (*id && strlen(id) <= EVENT_ID_MAX && !t->get_stale) {
			free(t->get_last_id);
			t->get_last_id = xstrdup(id);
		}
		sse_finish(&t->get_sse);
	}
	mcp_big_destroy(t->get_big); /* an event the last stream cut off */
	t->get_big = NULL;
	sse_init(&t->get_sse, MCP_EVENT_CAP, on_event, t);
	sse_set_stream(&t->get_sse, MCP_FRAME_CAP, on_get_stream, t);
	t->get_sse_active = true;
	t->get_stale = false;
	t->get_sent_session = t->session != NULL;
	h = headers(t, "GET", true, t->get_last_id, NULL, 0);
	o.method = "GET";
	o.url = c->url;
	o.headers = (const char *const *)h;
	o.connect_timeout_ms = (c->connect_timeout_s > 0 ? c->connect_timeout_s : 10) * 1000;
	o.on_data = on_get_data;
	/* The GET request holds a reference to t until its callback ran. */
	if (httpc_start(mcp_server_loop(t->s), &o, on_get_done, t, &t->get) == 0)
		t->busy++;
	free_headers(h);
}

static void initialized_http(struct mcp_server *s)
{
	struct http_t *t = mcp_server_transport_state(s);

	if (!t)
		return;
	/* The notification was the last post sent (the newest is the list's head). */
	if (t->posts && t->posts->id < 0 && !t->posts->held)
		t->gate = t->posts;
	open_get(t);
	if (t->get) {
		struct timeval tv = {0, GET_WAIT_MS * 1000};

		t->get_wait = true;
		evtimer_add(t->get_wait_ev, &tv);
	}
}

/* ---- open, close ---- */

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
	struct http_t *t = arg;

	t->busy++;
	mcp_transport_ready(t->s);
	leave(t);
}

static int open_http(struct mcp_server *s)
{
	struct http_t *t = xcalloc(1, sizeof(*t));
	struct event_base *base = loop_base(mcp_server_loop(s));

	t->s = s;
	t->get_retry = evtimer_new(base, on_get_retry, t);
	t->ev_ready = evtimer_new(base, on_ready, t);
	t->get_wait_ev = evtimer_new(base, on_get_wait, t);
	mcp_server_set_transport_state(s, t);
	/* HTTP needs no connection set-up: the initialize POST is the first contact. */
	event_active(t->ev_ready, EV_TIMEOUT, 0);
	return 0;
}

static void close_http(struct mcp_server *s, bool graceful)
{
	struct http_t *t = mcp_server_transport_state(s);
	struct farewell *f = NULL;
	struct post *p;

	if (!t)
		return;
	mcp_server_set_transport_state(s, NULL);
	if (graceful && t->session) {
		f = xcalloc(1, sizeof(*f));
		f->loop = mcp_server_loop(s);
		f->goodbyes = mcp_server_goodbyes(s);
		f->url = xstrdup(mcp_server_config(s)->url);
		f->headers = headers(t, "DELETE", true, NULL, NULL, 0);
		f->waiting = 1; /* released below, after the posts are sorted */
	}
	t->dead = true;
	while ((p = t->posts)) {
		t->posts = p->next;
		if (p->held) { /* never sent */
			free_post(p);
			continue;
		}
		p->t = NULL;
		/* Notifications (notifications/cancelled above all) still go out on a graceful
		 * close, before the session is deleted; requests nobody waits for are cut. */
		if (graceful && p->id < 0) {
			p->goodbyes = mcp_server_goodbyes(s);
			mcp_goodbyes_add(p->goodbyes);
			if (f) {
				p->farewell = f;
				f->waiting++;
			} else {
				p->farewell = NULL;
				p->goodbye_only = true;
			}
		} else {
			httpc_cancel(p->req);
		}
	}
	while (t->resumes)
		detach_resume(t, t->resumes);
	if (f && --f->waiting == 0)
		say_goodbye(f);
	evtimer_del(t->get_retry);
	evtimer_del(t->ev_ready);
	evtimer_del(t->get_wait_ev);
	if (t->get)
		httpc_cancel(t->get); /* on_get_done frees t */
	else if (!t->busy)
		destroy(t);
}

static int reset_http(struct mcp_server *s)
{
	struct http_t *t = mcp_server_transport_state(s);

	if (!t)
		return 0;
	free(t->session);
	t->session = NULL;
	/* The old session's event ids mean nothing to the new one. (The GET's parser may be
	 * the caller: it is left alone.) */
	t->get_stale = true;
	free(t->get_last_id);
	t->get_last_id = NULL;
	if (t->get)
		httpc_cancel(t->get);
	return 0;
}

const struct mcp_transport_ops mcp_transport_http = {
	.name = "http",
	.open = open_http,
	.send = send_http,
	.abandon = abandon_http,
	.close = close_http,
	.reset_session = reset_http,
	.initialized = initialized_http,
};
