/* mcp: the MCP client core. One `struct mcp_server` per configured server moves through
 *
 *   idle -> connecting (transport open -> the handshake of mcp_handshake.c: server/discover
 *                       or initialize -> initialized -> tools/list pages)
 *        -> ready (calls, pings every 30 s (server/discover on the 2026-07-28 wire),
 *                  tools/list_changed refreshes)
 *        -> failed (pending calls answered with an error, tools hidden)
 *        -> retry after a capped, jittered exponential backoff (daemon mode) -> connecting
 *
 * Request ids come from one process-wide counter, so an id is never reused, not even across
 * reconnects. Every request has a timer; a tools/call that times out is cancelled with
 * notifications/cancelled and its exchange abandoned (HTTP: the stream is closed by us), and
 * the ping runs at once to find a hung server. A lost session (a 404 on a request that carried
 * a session id, or a JSON-RPC error saying the session is unknown) re-initializes once and
 * re-sends that request with a new id; for stdio and legacy SSE the session is the connection,
 * so that means a new one. A url server that refuses the Streamable HTTP initialize with
 * 400/404/405 is tried as legacy SSE (the spec's backwards compatibility) before it fails.
 * Results become model text in mcp_render.c.
 *
 * This file is the servers' one owner. Its helpers (the transports, mcp_handshake.c, the
 * answers to a server's requests in mcp_ask.c, mcp_sample.c and mcp_input.c, mcp_skills.c)
 * never call it by name: they reach it through the struct mcp_core it hands them (m->core,
 * mcp_int.h), so calls inside src/mcp/ go one way (README.md, "Who calls whom").
 *
 * Transport failures are handled from the loop (a zero-timeout event per server), never
 * inside the call that reported them: a send may fail at once (EPIPE), and the request it
 * carries is linked and owned by a call whose callback must fire exactly once, later.
 *
 * Messages are parsed and printed with json_exact, so arguments, input schemas and results keep
 * their numbers as written (cJSON alone turns integers above 2^53 into rounded doubles).
 */
#include "mcp/mcp.h"
#include "core/json.h"
#include "core/config.h"
#include "config_build.h"
#include "core/json_exact.h"
#include "core/log.h"
#include "core/loop.h"
#include "mcp/transport.h"
#include "mcp/mcp_render.h"
#include "mcp/mcp_ask.h"
#include "mcp/mcp_int.h"
#include "mcp/mcp_wire.h"
#include "core/metrics.h"
#include "sandbox/spawn.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS	500
#define BACKOFF_MAX_MS	30000
#define PING_EVERY_MS	30000
#define PING_TIMEOUT_MS 10000
#define MAX_TOOLS	512
#define MAX_TOOL_PAGES	64
#define MAX_NAME_LEN	64

static int64_t next_id = 1;

static void connect_server(struct mcp_server *s);
static void transport_failed(struct mcp_server *s, const char *why);
static void fail_server(struct mcp_server *s, const char *why);
static void list_tools(struct mcp_server *s, const char *cursor);
static const struct mcp_transport_ops *ops_for(enum config_mcp_transport t);
static bool may_renew(const struct pending *p);
static void renew_session(struct mcp_server *s, struct pending *p);

/* ---- small helpers ---- */

static void set_metric(struct mcp_server *s, struct metric *m, double v)
{
	const char *lv[] = {s->cfg->name, NULL};

	if (m)
		metric_set(m, lv, v);
}

static void changed(struct mcp_server *s)
{
	set_metric(s, s->m->m_up, s->state == S_READY ? 1 : 0);
	set_metric(s, s->m->m_tools, s->state == S_READY ? (double)s->n_tools : 0);
	if (s->m->on_change)
		s->m->on_change(s->m, s->m->change_arg);
}

void mcp_arm(struct event *ev, int64_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(ev, &tv);
}

static void free_tools(struct tool *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].tool);
		free(t[i].description);
		free(t[i].schema);
	}
	free(t);
}

static void send_json(struct mcp_server *s, cJSON *msg, int64_t id)
{
	/* Numbers as the server wrote them: an answer's id must be the request's, also one
	 * past 2^53 that a double cannot hold. */
	char *text = json_exact_print(msg);

	if (!text)
		text = cJSON_PrintUnformatted(msg);

	/* A request that cannot go out breaks the connection; the failure is handled from the
	 * loop, after the caller that is sending has returned. */
	if (s->ops->send(s, text, strlen(text), id) < 0) {
		if (id >= 0)
			transport_failed(s, "could not send a request to the server");
		else
			log_warn("mcp %s: could not send a message", s->cfg->name);
	}
	free(text);
}

void mcp_notify(struct mcp_server *s, const char *method, cJSON *params)
{
	cJSON *msg = cJSON_CreateObject();

	cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
	cJSON_AddStringToObject(msg, "method", method);
	if (params)
		cJSON_AddItemToObject(msg, "params", params);
	send_json(s, msg, -1);
	cJSON_Delete(msg);
}

/* ---- requests ---- */

void mcp_unlink_pending(struct pending **list, struct pending *p)
{
	struct pending **pp;

	for (pp = list; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

void mcp_free_pending(struct pending *p)
{
	mcp_input_forget(p);
	if (p->timer)
		event_free(p->timer);
	free(p->method);
	free(p->params);
	free(p);
}

static void on_request_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct mcp_server *s = p->s;

	mcp_unlink_pending(&s->pendings, p);
	if (strcmp(p->method, "initialize") != 0) {
		cJSON *params = cJSON_CreateObject();

		cJSON_AddNumberToObject(params, "requestId", (double)p->id);
		cJSON_AddStringToObject(params, "reason", "timeout");
		mcp_notify(s, "notifications/cancelled", params);
	}
	s->ops->abandon(s, p->id);
	/* A call that got no answer may mean a hung server: the ping finds out now, not at its
	 * next round. */
	if (strcmp(p->method, "tools/call") == 0 && s->state == S_READY && !s->pinging)
		mcp_arm(s->ping_timer, 0);
	p->on_error(p, "timed out", NULL, 0, true);
	mcp_free_pending(p);
}

/* Sends p as a new request (a fresh id every time). */
static void transmit(struct mcp_server *s, struct pending *p)
{
	cJSON *msg = cJSON_CreateObject();

	p->id = next_id++;
	cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
	cJSON_AddNumberToObject(msg, "id", (double)p->id);
	cJSON_AddStringToObject(msg, "method", p->method);
	if (s->new_wire) {
		/* The 2026-07-28 wire: what initialize said once, every request says itself. */
		cJSON *params = p->params ? json_exact_parse(p->params, strlen(p->params)) : NULL;
		cJSON *caps = cJSON_CreateObject();
		char *caps_json;

		if (!cJSON_IsObject(params)) {
			cJSON_Delete(params);
			params = cJSON_CreateObject();
		}
		mcp_asks_capabilities(s->m->asks, s, caps);
		caps_json = cJSON_PrintUnformatted(caps);
		mcp_wire_add_meta(params, MCP_WIRE_2026, caps_json);
		cJSON_AddItemToObject(msg, "params", params);
		free(caps_json);
		cJSON_Delete(caps);
	} else if (p->params) {
		cJSON_AddRawToObject(msg, "params", p->params);
	}
	p->next = s->pendings;
	s->pendings = p;
	if (!p->timer)
		p->timer = evtimer_new(loop_base(s->m->loop), on_request_timeout, p);
	mcp_arm(p->timer, p->timeout_ms);
	send_json(s, msg, p->id);
	cJSON_Delete(msg);
}

/* call: the tools/call this request carries, or NULL; set before anything is sent. */
struct pending *mcp_request(struct mcp_server *s, const char *method, cJSON *params,
			    int64_t timeout_ms, result_fn on_result, error_fn on_error,
			    struct mcp_call *call)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->s = s;
	p->call = call;
	p->method = xstrdup(method);
	p->params = params ? json_exact_print(params) : NULL;
	cJSON_Delete(params);
	p->timeout_ms = timeout_ms;
	p->on_result = on_result;
	p->on_error = on_error;
	transmit(s, p);
	return p;
}

/* ---- tools/list ---- */

/* mcp_<server>_<tool> with [^a-zA-Z0-9_] -> '_'; longer than 64: cut and made unique with
 * 8 hex digits of the full name's SHA-256. */
static char *model_name(const char *prefix, const char *tool)
{
	char *full = xasprintf("mcp_%s_%s", prefix, tool), *p, hash[65], *cut;

	for (p = full; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			*p = '_';
	if (strlen(full) <= MAX_NAME_LEN)
		return full;
	sha256_hex(full, strlen(full), hash);
	cut = xasprintf("%.*s_%.8s", MAX_NAME_LEN - 9, full, hash);
	free(full);
	return cut;
}

/* include wins over exclude when both are set, as in Hermes (config check warns). */
static bool wanted(const struct config_mcp_server *c, const char *tool)
{
	size_t i;

	for (i = 0; i < c->n_tools_include; i++)
		if (strcmp(c->tools_include[i], tool) == 0)
			return true;
	if (c->n_tools_include)
		return false;
	for (i = 0; i < c->n_tools_exclude; i++)
		if (strcmp(c->tools_exclude[i], tool) == 0)
			return false;
	return true;
}

/* True when another server already offers a tool under that model-facing name. */
static bool name_taken(struct mcp_server *self, const char *name)
{
	size_t i;

	for (i = 0; i < self->m->n_servers; i++) {
		struct mcp_server *o = &self->m->servers[i];

		if (o != self && o->state == S_READY && mcp_find_tool(o, name, false))
			return true;
	}
	for (i = 0; i < self->n_next; i++)
		if (strcmp(self->next_tools[i].name, name) == 0)
			return true;
	return false;
}

static void add_tool(struct mcp_server *s, const cJSON *t)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(t, "description");
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "inputSchema");
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(t, "annotations");
	struct tool *nt;
	char *mapped, why[200];

	if (!cJSON_IsString(name) || !wanted(s->cfg, name->valuestring))
		return;
	if (s->new_wire && mcp_wire_check_headers(schema, why, sizeof(why)) < 0) {
		/* Headers the tool cannot have mean requests a gateway routes wrongly: the tool
		 * is left out, the others stay (SEP-2243). */
		log_warn("mcp %s: tool %s left out: %s", s->cfg->name, name->valuestring, why);
		return;
	}
	if (s->n_next >= MAX_TOOLS) {
		log_warn("mcp %s: more than %d tools; the rest are ignored", s->cfg->name,
			 MAX_TOOLS);
		return;
	}
	mapped = model_name(s->cfg->prefix, name->valuestring);
	if (name_taken(s, mapped)) {
		log_warn("mcp %s: tool %s maps to %s, which another tool already uses; refused",
			 s->cfg->name, name->valuestring, mapped);
		free(mapped);
		return;
	}
	s->next_tools = xrealloc(s->next_tools, (s->n_next + 1) * sizeof(*s->next_tools));
	nt = &s->next_tools[s->n_next++];
	nt->name = mapped;
	nt->tool = xstrdup(name->valuestring);
	nt->description = mcp_render_description(cJSON_IsString(desc) ? desc->valuestring : "",
						 MCP_RENDER_DESC_MAX);
	nt->schema = schema ? json_exact_print(schema)
			    : xstrdup("{\"type\":\"object\",\"properties\":{}}");
	/* The spec's defaults: readOnlyHint false; destructiveHint true unless read-only. */
	nt->read_only = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ann, "readOnlyHint"));
	nt->destructive = !nt->read_only &&
			  !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ann, "destructiveHint"));
}

static void became_ready(struct mcp_server *s)
{
	struct pending *p, *next;

	evtimer_del(s->connect_timer);
	s->state = S_READY;
	s->settled = true;
	s->backoff_ms = 0;
	free(s->error);
	s->error = NULL;
	mcp_arm(s->ping_timer, PING_EVERY_MS);
	log_info("mcp %s: connected (%s, protocol %s, %zu tools)", s->cfg->name, s->ops->name,
		 s->protocol, s->n_tools);
	/* Requests that lost their session go out again, each with a new id. */
	for (p = s->resend, s->resend = NULL; p; p = next) {
		next = p->next;
		transmit(s, p);
	}
	changed(s);
}

static void tools_page(struct pending *p, const char *result, size_t len)
{
	struct mcp_server *s = p->s;
	cJSON *root = json_exact_parse(result, len), *tools, *t, *cursor;

	tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
	cJSON_ArrayForEach(t, tools)
	{
		add_tool(s, t);
	}
	cursor = cJSON_GetObjectItemCaseSensitive(root, "nextCursor");
	if (cJSON_IsString(cursor) && *cursor->valuestring && ++s->pages < MAX_TOOL_PAGES) {
		list_tools(s, cursor->valuestring);
		cJSON_Delete(root);
		return;
	}
	cJSON_Delete(root);
	free_tools(s->tools, s->n_tools);
	s->tools = s->next_tools;
	s->n_tools = s->n_next;
	s->next_tools = NULL;
	s->n_next = 0;
	if (s->refreshing) {
		s->refreshing = false;
		log_info("mcp %s: tool list changed, now %zu tools", s->cfg->name, s->n_tools);
		changed(s);
		return;
	}
	became_ready(s);
}

static bool method_not_found(const char *rpc, size_t len)
{
	cJSON *e = json_parse(rpc, len, 0, NULL);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
	bool nf = cJSON_IsNumber(code) && code->valuedouble == -32601;

	cJSON_Delete(e);
	return nf;
}

static void tools_error(struct pending *p, const char *why, const char *rpc, size_t len,
			bool timeout)
{
	struct mcp_server *s = p->s;

	free_tools(s->next_tools, s->n_next);
	s->next_tools = NULL;
	s->n_next = 0;
	if (s->refreshing) {
		s->refreshing = false;
		log_warn("mcp %s: refreshing the tool list failed; keeping the old one",
			 s->cfg->name);
		return;
	}
	if (!timeout && rpc && !s->tools_declared && method_not_found(rpc, len)) {
		/* A server that declared no tools (one that offers only skills or resources) has
		 * none: it is connected, not broken. */
		free_tools(s->tools, s->n_tools);
		s->tools = NULL;
		s->n_tools = 0;
		became_ready(s);
	} else if (timeout) {
		fail_server(s, "tools/list timed out");
	} else {
		/* What the server said (an HTTP 401 and its reason, a JSON-RPC error) is the
		 * part that tells the user what to do. */
		char *text = rpc ? utf8_clip_dup(rpc, 300, true) : NULL;
		char *msg = xasprintf("tools/list failed: %s%s%s", why, text ? ": " : "",
				      text ? text : "");

		fail_server(s, msg);
		free(msg);
		free(text);
	}
}

static void list_tools(struct mcp_server *s, const char *cursor)
{
	cJSON *params = NULL;

	if (cursor) {
		params = cJSON_CreateObject();
		cJSON_AddStringToObject(params, "cursor", cursor);
	}
	mcp_request(s, "tools/list", params, mcp_request_timeout_ms(s), tools_page, tools_error,
		    NULL);
}

/* ---- failure, reconnect, ping ---- */

static void fail_pendings(struct pending **list, const char *why)
{
	struct pending *p;

	while ((p = *list)) {
		*list = p->next;
		evtimer_del(p->timer);
		p->on_error(p, why, NULL, 0, false);
		mcp_free_pending(p);
	}
}

static void forget_deferred_failure(struct mcp_server *s)
{
	event_del(s->fail_ev);
	free(s->fail_why);
	s->fail_why = NULL;
}

/* why, what the legacy SSE fallback found, and the server's last stderr lines. */
static char *failure_text(struct mcp_server *s, const char *why)
{
	char *tail = s->ops->last_words ? s->ops->last_words(s) : NULL;
	char *text;

	if (s->probe_why)
		text = xasprintf("no MCP server answers at this URL: the Streamable HTTP "
				 "initialize got %s, and the legacy SSE fallback: %s",
				 s->probe_why, why);
	else
		text = xstrdup(why);
	if (tail) {
		char *both = xasprintf("%s\n%s", text, tail);

		free(text);
		text = both;
	}
	free(tail);
	return text;
}

static void fail_server(struct mcp_server *s, const char *why)
{
	char *clean, *text;

	if (s->state != S_CONNECTING && s->state != S_READY)
		return;
	forget_deferred_failure(s);
	mcp_asks_server_gone(s->m->asks, s);
	/* Kept for `mcp list`, doctor and /status, which do not pass through the logger. */
	text = failure_text(s, why);
	clean = log_redact(text);
	free(text);
	free(s->probe_why);
	s->probe_why = NULL;
	/* Once per change of state or reason: a server down for a day does not fill the log. */
	if (s->state == S_READY || !s->error || strcmp(s->error, clean) != 0)
		log_warn("mcp %s: %s%s", s->cfg->name, clean,
			 s->m->reconnect ? " (retrying with backoff)" : "");
	else
		log_debug("mcp %s: still failing: %s", s->cfg->name, clean);
	free(s->error);
	s->error = clean;
	s->state = S_FAILED;
	s->settled = true;
	s->refreshing = false;
	evtimer_del(s->connect_timer);
	evtimer_del(s->ping_timer);
	if (s->transport_open) {
		s->transport_open = false;
		s->ops->close(s, false);
	}
	/* A url server found speaking legacy SSE is probed with Streamable HTTP again next time. */
	s->ops = ops_for(s->cfg->transport);
	s->pinging = false;
	/* The error callbacks may look at the server: they see it failed. */
	fail_pendings(&s->pendings, why);
	fail_pendings(&s->resend, why);
	mcp_input_server_gone(s, why);
	free_tools(s->next_tools, s->n_next);
	s->next_tools = NULL;
	s->n_next = 0;
	if (s->m->reconnect && s->retry_now) {
		/* The attempt was refused for a bearer older than the one now held (mcp_auth.c). */
		mcp_arm(s->retry_timer, 0);
	} else if (s->m->reconnect) {
		int64_t base = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;

		s->backoff_ms = base > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : base;
		mcp_arm(s->retry_timer, s->backoff_ms * 3 / 4 + random() % (s->backoff_ms / 2 + 1));
	}
	s->retry_now = false;
	changed(s);
}

/* Transports may report from inside a send (a write that fails at once): the failure is
 * handled from the loop, once the core's own call has returned. The first reason wins. */
static void transport_failed(struct mcp_server *s, const char *why)
{
	if (s->state != S_CONNECTING && s->state != S_READY)
		return;
	if (!s->fail_why)
		s->fail_why = xstrdup(why);
	event_active(s->fail_ev, EV_TIMEOUT, 0);
}

static void on_deferred_failure(evutil_socket_t fd, short what, void *arg)
{
	struct mcp_server *s = arg;
	char *why = s->fail_why;

	s->fail_why = NULL;
	if (why)
		fail_server(s, why);
	free(why);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct mcp_server *s = arg;
	const char *lv[] = {s->cfg->name, NULL};

	if (s->m->m_reconnects)
		metric_inc(s->m->m_reconnects, lv, 1);
	connect_server(s);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mcp_server *s = arg;
	char *why = xasprintf("not connected within connect_timeout (%lld s)",
			      (long long)s->cfg->connect_timeout_s);

	fail_server(s, why);
	free(why);
}

static void ping_ok(struct pending *p, const char *result, size_t len)
{
	p->s->pinging = false;
	mcp_arm(p->s->ping_timer, PING_EVERY_MS);
}

static void ping_error(struct pending *p, const char *why, const char *rpc, size_t len,
		       bool timeout)
{
	struct mcp_server *s = p->s;

	s->pinging = false;
	/* A server that answers ping with an error is alive; one that does not answer is not. */
	if (rpc) {
		mcp_arm(s->ping_timer, PING_EVERY_MS);
		return;
	}
	/* Unless its bytes kept coming: the answer waits behind a long message still arriving
	 * (a 50 MB tool result on a slow pipe). Ping again; a stall fails the next one. */
	if (timeout && s->heard_us > s->ping_sent_us) {
		log_debug("mcp %s: ping unanswered while a message arrives; pinging again",
			  s->cfg->name);
		mcp_arm(s->ping_timer, 0);
		return;
	}
	fail_server(s, timeout ? "ping timed out: the connection is dead" : why);
}

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
	struct mcp_server *s = arg;
	int64_t timeout_ms = mcp_request_timeout_ms(s);

	if (s->state != S_READY || s->pinging)
		return;
	s->pinging = true;
	s->ping_sent_us = now_mono_us();
	/* The 2026-07-28 revision has no ping; server/discover, which every server of it must
	 * answer, tells the same: a server that went away is failed and reconnected. */
	mcp_request(s, s->new_wire ? "server/discover" : "ping", NULL,
		    timeout_ms < PING_TIMEOUT_MS ? timeout_ms : PING_TIMEOUT_MS, ping_ok,
		    ping_error, NULL);
}

static void connect_server(struct mcp_server *s)
{
	forget_deferred_failure(s);
	s->retry_now = false;
	s->state = S_CONNECTING;
	mcp_arm(s->connect_timer, mcp_connect_timeout_ms(s));
	s->transport_open = true;
	if (s->ops->open(s) < 0) {
		s->transport_open = false;
		fail_server(s, "the transport could not start");
	}
}

/* ---- messages from the server ---- */

/* A request of the server's: answered by mcp_ask.c, now or once the human has. */
static void server_request(struct mcp_server *s, const cJSON *id, const char *method,
			   const cJSON *params)
{
	char *id_json = json_exact_print(id), *params_json = json_exact_print(params);

	mcp_asks_request(s->m->asks, s, id_json, method, params_json);
	free(id_json);
	free(params_json);
}

static void send_text(struct mcp_server *s, const char *json)
{
	if (s->ops->send(s, json, strlen(json), -1) < 0)
		log_warn("mcp %s: could not send a message", s->cfg->name);
}

static struct mcp_call *hold_calls(struct mcp_server *s, bool hold)
{
	struct mcp_call *oldest = NULL;

	for (struct pending *p = s->pendings; p; p = p->next) {
		if (!p->call)
			continue;
		if (hold)
			evtimer_del(p->timer);
		else
			mcp_arm(p->timer, p->timeout_ms);
		oldest = p->call; /* the list is newest first */
	}
	return oldest;
}

void *mcp_call_arg_if(const struct mcp_call *c, mcp_call_cb cb)
{
	return c && c->cb == cb ? c->arg : NULL;
}

void mcp_set_elicit(struct mcp *m, const struct mcp_elicit_cbs *cbs)
{
	mcp_asks_set_elicit(m->asks, cbs);
}

void mcp_set_sampling(struct mcp *m, const struct mcp_sampling_cbs *cbs)
{
	mcp_asks_set_sampling(m->asks, cbs);
}

static void on_notification(struct mcp_server *s, const char *method, const cJSON *params)
{
	if (strcmp(method, "notifications/tools/list_changed") == 0) {
		if (s->state == S_READY && !s->refreshing) {
			s->refreshing = true;
			s->pages = 0;
			list_tools(s, NULL);
		}
	} else if (strcmp(method, "notifications/message") == 0) {
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(params, "data");
		char *text = data ? cJSON_PrintUnformatted(data) : xstrdup("");

		log_info("mcp %s says: %s", s->cfg->name, text);
		free(text);
	}
}

static void on_response(struct mcp_server *s, const cJSON *msg, const cJSON *id)
{
	struct pending *p;
	const cJSON *result = cJSON_GetObjectItemCaseSensitive(msg, "result");
	const cJSON *error = cJSON_GetObjectItemCaseSensitive(msg, "error");
	char *text;

	for (p = s->pendings; p; p = p->next)
		if (cJSON_IsNumber(id) && clamp_i64(id->valuedouble, INT64_MIN, INT64_MAX) == p->id)
			break;
	if (!p) {
		log_debug("mcp %s: answer to an unknown or expired request", s->cfg->name);
		return;
	}
	mcp_unlink_pending(&s->pendings, p);
	evtimer_del(p->timer);
	if (error && mcp_session_lost_error(error) && may_renew(p)) {
		renew_session(s, p);
		return;
	}
	if (error) {
		text = json_exact_print(error);
		p->on_error(p, "the server answered with an error", text, strlen(text), false);
	} else if (!result) {
		text = NULL;
		p->on_error(p, "the server sent an invalid JSON-RPC answer (no result, no error)",
			    NULL, 0, false);
	} else {
		text = json_exact_print(result);
		if (s->new_wire && mcp_input_required(p, text, strlen(text))) {
			free(text);
			return; /* p is the round's now */
		}
		p->on_result(p, text, strlen(text));
	}
	free(text);
	mcp_free_pending(p);
}

static void dispatch(struct mcp_server *s, const cJSON *msg)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");

	if (!cJSON_IsObject(msg))
		return;
	if (cJSON_IsString(method)) {
		if (id && !cJSON_IsNull(id))
			server_request(s, id, method->valuestring,
				       cJSON_GetObjectItemCaseSensitive(msg, "params"));
		else
			on_notification(s, method->valuestring,
					cJSON_GetObjectItemCaseSensitive(msg, "params"));
		return;
	}
	if (id)
		on_response(s, msg, id);
}

static void on_message(struct mcp_server *s, const char *json, size_t len)
{
	struct json_error jerr;
	cJSON *root = json_parse(json, len, JSON_EXACT, &jerr), *item;
	char *why;

	if (!root && jerr.duplicate) {
		/* Which of the two ids, results or errors counts is what any two readers disagree
		 * on: the server is not speaking JSON-RPC, as for any other protocol error. */
		why = xasprintf("the server sent a message that is not I-JSON (%s): a protocol "
				"error",
				jerr.msg);
		transport_failed(s, why);
		free(why);
		return;
	}
	if (!root) {
		log_warn("mcp %s: ignoring a message that is not JSON (%zu bytes)", s->cfg->name,
			 len);
		return;
	}
	if (cJSON_IsArray(root)) {
		cJSON_ArrayForEach(item, root)
		{
			dispatch(s, item);
		}
	} else {
		dispatch(s, root);
	}
	cJSON_Delete(root);
}

/* Once per request, and only on a session that was established (or is being renewed): during
 * the first handshake a lost session is a failed connection attempt. */
static bool may_renew(const struct pending *p)
{
	return !p->resent && strcmp(p->method, "initialize") != 0 &&
	       (p->s->state == S_READY || (p->s->state == S_CONNECTING && p->s->resend));
}

/* The server forgot our session: start a new one and send p again (once, with a new id).
 * Streamable HTTP keeps its connection and only drops the session id; for stdio and legacy
 * SSE the session is the connection, so it is made anew and what was in flight on the old
 * one fails. */
static void renew_session(struct mcp_server *s, struct pending *p)
{
	log_info("mcp %s: the server lost our session; re-initializing", s->cfg->name);
	if (p) {
		p->resent = true;
		p->next = s->resend;
		s->resend = p;
	}
	evtimer_del(s->ping_timer);
	s->pinging = false;
	if (s->ops->reset_session(s) == 0) {
		s->state = S_CONNECTING;
		mcp_arm(s->connect_timer, mcp_connect_timeout_ms(s));
		changed(s);
		mcp_transport_ready(s);
		return;
	}
	/* Idle: the error callbacks of the lost requests must not fail the server. */
	s->state = S_IDLE;
	s->refreshing = false;
	fail_pendings(&s->pendings, "the server lost the session");
	free_tools(s->next_tools, s->n_next);
	s->next_tools = NULL;
	s->n_next = 0;
	if (s->transport_open) {
		s->transport_open = false;
		s->ops->close(s, false);
	}
	connect_server(s);
	changed(s);
}

static void session_lost(struct mcp_server *s)
{
	/* Requests whose exchange the server accepted stay pending: their answers may still
	 * come, and they are never sent again (they may have run). */
	if (s->state == S_READY)
		renew_session(s, NULL);
}

static bool awaits(const struct mcp_server *s, int64_t id)
{
	const struct pending *p;

	for (p = s->pendings; p; p = p->next)
		if (p->id == id)
			return true;
	return false;
}

/* A Streamable HTTP initialize refused the way legacy servers refuse POSTs to their SSE url. */
static bool legacy_answer(const struct mcp_server *s, long status)
{
	return s->ops == &mcp_transport_http && s->cfg->transport == CONFIG_MCP_HTTP &&
	       (status == 400 || status == 404 || status == 405);
}

static void request_failed(struct mcp_server *s, int64_t id, long status, bool session_lost,
			   const char *why)
{
	struct pending *p;
	char *msg;

	for (p = s->pendings; p; p = p->next)
		if (p->id == id)
			break;
	if (!p)
		return;
	mcp_unlink_pending(&s->pendings, p);
	evtimer_del(p->timer);
	if (session_lost && may_renew(p)) {
		renew_session(s, p);
		return;
	}
	/* A failure of the server already on its way (a protocol error in the exchange that
	 * also ends this request) is the reason that says what happened. */
	if (s->fail_why)
		msg = xstrdup(s->fail_why);
	else
		msg = status ? xasprintf("HTTP %ld: %s", status, why) : xstrdup(why);
	if (strcmp(p->method, "initialize") == 0 && legacy_answer(s, status)) {
		/* The MCP spec's backwards compatibility: a url that refuses the initialize POST
		 * with 400, 404 or 405 may be a legacy HTTP+SSE server; its GET stream says. */
		log_info("mcp %s: initialize got %s; trying the legacy HTTP+SSE transport",
			 s->cfg->name, msg);
		s->probe_why = msg;
		mcp_free_pending(p);
		forget_deferred_failure(s);
		s->ops->close(s, false);
		s->ops = &mcp_transport_sse;
		if (s->ops->open(s) < 0) {
			s->transport_open = false;
			fail_server(s, "the transport could not start");
		}
		return;
	}
	p->status = status;
	p->on_error(p, msg, NULL, 0, false);
	mcp_free_pending(p);
	free(msg);
}

/* ---- create, start, destroy, introspection ---- */

/* What the helpers of this folder may ask of the core (mcp_int.h): they reach it only
 * through this, never by name, so calls inside src/mcp/ go one way. */
static const struct mcp_core core = {
	.request = mcp_request,
	.notify = mcp_notify,
	.transmit = transmit,
	.free_pending = mcp_free_pending,
	.fail_server = fail_server,
	.list_tools = list_tools,
	.send = send_text,
	.hold_calls = hold_calls,
	.message = on_message,
	.failed = transport_failed,
	.request_failed = request_failed,
	.session_lost = session_lost,
	.awaits = awaits,
};

static const struct mcp_transport_ops *ops_for(enum config_mcp_transport t)
{
	switch (t) {
	case CONFIG_MCP_STDIO:
		return &mcp_transport_stdio;
	case CONFIG_MCP_SSE:
		return &mcp_transport_sse;
	default:
		return &mcp_transport_http;
	}
}

static void register_metrics(struct mcp *m, struct metrics *reg)
{
	static const char *const server_l[] = {"server", NULL};
	static const char *const call_l[] = {"server", "outcome", NULL};

	m->m_up = metrics_add(reg, METRIC_GAUGE, "hermetic_mcp_server_up",
			      "1 while the MCP server is connected", server_l);
	m->m_tools = metrics_add(reg, METRIC_GAUGE, "hermetic_mcp_tools",
				 "Tools offered to the model by the MCP server", server_l);
	m->m_calls = metrics_add(reg, METRIC_COUNTER, "hermetic_mcp_calls_total",
				 "MCP tool calls by outcome (ok, error, timeout)", call_l);
	m->m_duration = metrics_add_histogram(reg, "hermetic_mcp_call_duration_seconds",
					      "MCP tool call duration in seconds", server_l,
					      metrics_latency_buckets, metrics_n_latency_buckets);
	m->m_reconnects = metrics_add(reg, METRIC_COUNTER, "hermetic_mcp_reconnects_total",
				      "Reconnection attempts after a failure", server_l);
}

struct mcp *mcp_create(const struct config *cfg, struct loop *loop, struct metrics *metrics,
		       bool reconnect)
{
	struct mcp *m = xcalloc(1, sizeof(*m));
	struct event_base *base = loop_base(loop);
	char err[256];
	size_t i;

	/* Before any server starts and before the seal: the launcher's table is the config's. */
	if (mcp_stdio_launcher_start(cfg, err, sizeof(err)) < 0)
		log_error("%s; stdio MCP servers cannot start", err);
	m->cfg = cfg;
	m->loop = loop;
	m->reconnect = reconnect;
	m->core = &core;
	m->goodbyes = xcalloc(1, sizeof(*m->goodbyes));
	m->asks = mcp_asks_create(loop);
	m->n_servers = cfg->n_mcp_servers;
	m->servers = xcalloc(m->n_servers ? m->n_servers : 1, sizeof(*m->servers));
	if (metrics)
		register_metrics(m, metrics);
	for (i = 0; i < m->n_servers; i++) {
		struct mcp_server *s = &m->servers[i];

		s->m = m;
		s->cfg = &cfg->mcp_servers[i];
		s->ops = ops_for(s->cfg->transport);
		s->state = s->cfg->enabled ? S_IDLE : S_DISABLED;
		s->retry_timer = evtimer_new(base, on_retry, s);
		s->connect_timer = evtimer_new(base, on_connect_timeout, s);
		s->ping_timer = evtimer_new(base, on_ping_timer, s);
		s->fail_ev = evtimer_new(base, on_deferred_failure, s);
		if (metrics) {
			const char *lv[] = {s->cfg->name, NULL};

			metric_inc(m->m_reconnects, lv, 0); /* exported as 0 from the start */
			changed(s);
		}
	}
	return m;
}

void mcp_start(struct mcp *m)
{
	size_t i;

	for (i = 0; i < m->n_servers; i++)
		if (m->servers[i].state == S_IDLE)
			connect_server(&m->servers[i]);
}

void mcp_on_change(struct mcp *m, mcp_change_cb cb, void *arg)
{
	m->on_change = cb;
	m->change_arg = arg;
}

static void stop_when_settled(struct mcp *m, void *arg)
{
	if (mcp_settled(m))
		loop_stop(m->loop);
}

static void on_wait_guard(evutil_socket_t fd, short what, void *arg)
{
	loop_stop(arg);
}

void mcp_start_and_wait(struct mcp *m)
{
	struct timeval tv = {2, 0};
	struct event *guard;

	for (size_t i = 0; i < m->cfg->n_mcp_servers; i++)
		if (m->cfg->mcp_servers[i].connect_timeout_s + 2 > tv.tv_sec)
			tv.tv_sec = (time_t)m->cfg->mcp_servers[i].connect_timeout_s + 2;
	guard = evtimer_new(loop_base(m->loop), on_wait_guard, m->loop);
	evtimer_add(guard, &tv);
	mcp_on_change(m, stop_when_settled, NULL);
	mcp_start(m);
	if (!mcp_settled(m))
		loop_run(m->loop);
	mcp_on_change(m, NULL, NULL);
	event_free(guard);
}

bool mcp_settled(const struct mcp *m)
{
	size_t i;

	for (i = 0; i < m->n_servers; i++)
		if (m->servers[i].state != S_DISABLED && !m->servers[i].settled)
			return false;
	return true;
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Runs the loop until every call callback has fired and every session DELETE is done,
 * bounded by max_ms: used only at shutdown, when nothing else needs the loop. */
static void drain(struct mcp *m, int64_t max_ms)
{
	bool expired = false;
	struct event *guard = evtimer_new(loop_base(m->loop), on_guard, &expired);

	mcp_arm(guard, max_ms);
	while (!expired && (m->live_calls || m->goodbyes->in_flight))
		event_base_loop(loop_base(m->loop), EVLOOP_ONCE);
	event_free(guard);
}

void mcp_destroy(struct mcp *m)
{
	size_t i;

	if (!m)
		return;
	mcp_asks_destroy(m->asks); /* first: the servers are still open to hear "cancel" */
	m->asks = NULL;
	for (i = 0; i < m->n_servers; i++) {
		struct mcp_server *s = &m->servers[i];

		evtimer_del(s->retry_timer);
		evtimer_del(s->connect_timer);
		evtimer_del(s->ping_timer);
		forget_deferred_failure(s);
		/* Failed first, so the error callbacks of a server still connecting do not close it
		 * the abrupt way: it is closed gracefully below. */
		if (s->state == S_CONNECTING || s->state == S_READY)
			s->state = S_FAILED;
		fail_pendings(&s->pendings, "hermetic is shutting down");
		fail_pendings(&s->resend, "hermetic is shutting down");
		if (s->transport_open) {
			s->transport_open = false;
			s->ops->close(s, true);
		}
	}
	/* Let the error callbacks of cancelled calls run and the goodbyes go out. */
	drain(m, 2000);
	/* Children given up on earlier (a failed connection) wait for timers that will not run
	 * any more: stop and reap them now (SIGTERM, SIGKILL after a short grace). */
	spawn_stop_all(1000);
	for (i = 0; i < m->n_servers; i++) {
		struct mcp_server *s = &m->servers[i];

		event_free(s->retry_timer);
		event_free(s->connect_timer);
		event_free(s->ping_timer);
		event_free(s->fail_ev);
		free(s->probe_why);
		free(s->bearer);
		free(s->dpop_key);
		free(s->challenge);
		free_tools(s->tools, s->n_tools);
		free_tools(s->next_tools, s->n_next);
		free(s->protocol);
		free(s->error);
	}
	free(m->servers);
	if (m->goodbyes->in_flight)
		m->goodbyes->orphaned = true;
	else
		free(m->goodbyes);
	free(m);
}
