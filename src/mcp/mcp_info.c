/* mcp_info: what the MCP client core's state shows to others: the accessors the transports
 * use (the server's loop, name, protocol, their own state, the bearer token the sign-in hands
 * over, the last challenge) and the introspection of servers and tools for `hermetic mcp
 * list`, the tools' catalog and the gateway. Reads only; mcp.c owns every transition. The
 * helpers that see a server only by pointer reach mcp.c through here: the transports' reports
 * and mcp_ask.c's answers go on through the struct mcp_core mcp.c handed over (m->core), so
 * no helper calls mcp.c by name and calls inside src/mcp/ go one way (README.md). */
#include "mcp/mcp_int.h"
#include "mcp/mcp_ask.h"
#include "mcp/mcp_wire.h"
#include "core/json.h"
#include "core/config.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const mcp_state_names[] = {"disabled", "idle", "connecting", "connected", "failed"};

struct mcp_goodbyes *mcp_server_goodbyes(const struct mcp_server *s)
{
	return s->m->goodbyes;
}

void mcp_goodbyes_add(struct mcp_goodbyes *g)
{
	g->in_flight++;
}

void mcp_goodbyes_done(struct mcp_goodbyes *g)
{
	g->in_flight--;
	if (g->orphaned && g->in_flight == 0)
		free(g);
}

bool mcp_transport_streams(const struct mcp_server *s, int64_t id)
{
	for (const struct pending *p = s->pendings; p; p = p->next)
		if (p->id == id)
			return p->method && strcmp(p->method, "tools/call") == 0;
	return false;
}

const struct config *mcp_server_cfg(const struct mcp_server *s)
{
	return s->m->cfg;
}

struct mcp_server *mcp_server_at(struct mcp *m, size_t i)
{
	return i < m->n_servers ? &m->servers[i] : NULL;
}

size_t mcp_server_index(const struct mcp_server *s)
{
	return (size_t)(s - s->m->servers);
}

const struct config_mcp_server *mcp_server_config(const struct mcp_server *s)
{
	return s->cfg;
}

/* The sign-in (mcp/oauth.h) hands its token over here; the HTTP transports send it. */
int mcp_set_bearer(struct mcp *m, const char *server, const char *token, const char *dpop_key)
{
	size_t i;

	for (i = 0; i < m->n_servers; i++) {
		struct mcp_server *s = &m->servers[i];

		if (strcmp(s->cfg->name, server) != 0)
			continue;
		free(s->bearer);
		s->bearer = xstrdup(token);
		s->bearer_gen++;
		free(s->dpop_key);
		s->dpop_key = xstrdup(dpop_key);
		return 0;
	}
	return -ENOENT;
}

const char *mcp_server_bearer(const struct mcp_server *s)
{
	return s->bearer;
}

unsigned mcp_server_bearer_gen(const struct mcp_server *s)
{
	return s->bearer_gen;
}

const char *mcp_server_dpop_key(const struct mcp_server *s)
{
	return s->dpop_key;
}

void mcp_transport_challenge(struct mcp_server *s, const char *www_authenticate)
{
	free(s->challenge);
	s->challenge = utf8_clip_dup(www_authenticate, 4096, false);
}

const char *mcp_challenge(const struct mcp *m, const char *server)
{
	size_t i;

	for (i = 0; i < m->n_servers; i++)
		if (strcmp(m->servers[i].cfg->name, server) == 0)
			return m->servers[i].challenge;
	return NULL;
}

struct loop *mcp_server_loop(const struct mcp_server *s)
{
	return s->m->loop;
}

const char *mcp_server_name(const struct mcp_server *s)
{
	return s->cfg->name;
}

const char *mcp_server_protocol(const struct mcp_server *s)
{
	return s->protocol;
}

bool mcp_server_sessionless(const struct mcp_server *s)
{
	return s->new_wire;
}

char **mcp_server_wire_headers(struct mcp_server *s, const char *json, size_t len)
{
	cJSON *msg;
	const cJSON *method, *name;
	const struct tool *t = NULL;
	char **h;

	if (!s->new_wire)
		return NULL;
	msg = json_parse(json, len, 0, NULL);
	method = cJSON_GetObjectItemCaseSensitive(msg, "method");
	name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(msg, "params"),
						"name");
	if (cJSON_IsString(method) && strcmp(method->valuestring, "tools/call") == 0 &&
	    cJSON_IsString(name))
		t = mcp_find_tool(s, name->valuestring, true);
	h = mcp_wire_headers(json, len, t ? t->schema : NULL);
	cJSON_Delete(msg);
	return h;
}

void *mcp_server_transport_state(const struct mcp_server *s)
{
	return s->tstate;
}

void mcp_server_set_transport_state(struct mcp_server *s, void *state)
{
	s->tstate = state;
}

size_t mcp_n_servers(const struct mcp *m)
{
	return m->n_servers;
}

void mcp_server_info(const struct mcp *m, size_t i, struct mcp_server_info *out)
{
	const struct mcp_server *s = &m->servers[i];

	out->name = s->cfg->name;
	out->transport = s->ops->name;
	out->state = mcp_state_names[s->state];
	out->protocol_version = s->protocol;
	out->error = s->error;
	out->n_tools = s->state == S_READY ? s->n_tools : 0;
}

size_t mcp_n_tools(const struct mcp *m)
{
	size_t i, n = 0;

	for (i = 0; i < m->n_servers; i++)
		if (m->servers[i].state == S_READY)
			n += m->servers[i].n_tools;
	return n;
}

void mcp_tool_info(const struct mcp *m, size_t i, struct mcp_tool_info *out)
{
	size_t k;

	for (k = 0; k < m->n_servers; k++) {
		const struct mcp_server *s = &m->servers[k];

		if (s->state != S_READY)
			continue;
		if (i < s->n_tools) {
			out->name = s->tools[i].name;
			out->server = s->cfg->name;
			out->tool = s->tools[i].tool;
			out->description = s->tools[i].description;
			out->schema_json = s->tools[i].schema;
			out->read_only = s->tools[i].read_only;
			out->destructive = s->tools[i].destructive;
			return;
		}
		i -= s->n_tools;
	}
	memset(out, 0, sizeof(*out));
}

/* ---- reads of the state for the helpers ---- */

size_t mcp_server_calls(const struct mcp_server *s, struct mcp_call **out, size_t max)
{
	size_t n = 0;

	for (const struct pending *p = s->pendings; p && n < max; p = p->next)
		if (p->call)
			out[n++] = p->call;
	return n;
}

int64_t mcp_request_timeout_ms(const struct mcp_server *s)
{
	return (s->cfg->timeout_s > 0 ? s->cfg->timeout_s : 60) * 1000;
}

struct pending *mcp_server_request(struct mcp_server *s, const char *method, cJSON *params,
				   result_fn on_result, error_fn on_error, void *arg)
{
	struct pending *p = s->m->core->request(s, method, params, mcp_request_timeout_ms(s),
						on_result, on_error, NULL);

	p->arg = arg;
	return p;
}

int64_t mcp_connect_timeout_ms(const struct mcp_server *s)
{
	return (s->cfg->connect_timeout_s > 0 ? s->cfg->connect_timeout_s : 10) * 1000;
}

struct tool *mcp_find_tool(struct mcp_server *s, const char *name, bool own_name)
{
	size_t i;

	for (i = 0; i < s->n_tools; i++)
		if (strcmp(own_name ? s->tools[i].tool : s->tools[i].name, name) == 0)
			return &s->tools[i];
	return NULL;
}

/* ---- the core reached through m->core, under the names transport.h and mcp_ask.h give the
 * helpers that see struct mcp_server only by pointer (the transports, mcp_ask.c) ---- */

void mcp_transport_message(struct mcp_server *s, const char *json, size_t len)
{
	s->m->core->message(s, json, len);
}

void mcp_transport_heard(struct mcp_server *s)
{
	s->heard_us = now_mono_us();
}

void mcp_transport_failed(struct mcp_server *s, const char *why)
{
	s->m->core->failed(s, why);
}

void mcp_transport_request_failed(struct mcp_server *s, int64_t id, long status, bool session_lost,
				  const char *why)
{
	s->m->core->request_failed(s, id, status, session_lost, why);
}

void mcp_transport_session_lost(struct mcp_server *s)
{
	s->m->core->session_lost(s);
}

bool mcp_transport_awaits(const struct mcp_server *s, int64_t id)
{
	return s->m->core->awaits(s, id);
}

void mcp_server_send(struct mcp_server *s, const char *json)
{
	s->m->core->send(s, json);
}

struct mcp_call *mcp_server_hold_calls(struct mcp_server *s, bool hold)
{
	return s->m->core->hold_calls(s, hold);
}

void mcp_server_answer(struct mcp_server *s, const struct mcp_reply_to *to, const char *id_json,
		       const char *result_json, int code, const char *message)
{
	cJSON *msg, *e;
	char *text;

	if (to && to->fn) {
		to->fn(to->arg, id_json, result_json, code, message);
		return;
	}
	msg = cJSON_CreateObject();
	cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
	cJSON_AddRawToObject(msg, "id", id_json);
	if (result_json) {
		cJSON_AddRawToObject(msg, "result", result_json);
	} else {
		e = cJSON_AddObjectToObject(msg, "error");
		cJSON_AddNumberToObject(e, "code", code);
		cJSON_AddStringToObject(e, "message", message);
	}
	text = cJSON_PrintUnformatted(msg);
	mcp_server_send(s, text);
	free(text);
	cJSON_Delete(msg);
}
