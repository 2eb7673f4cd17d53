/* mcp_handshake: how hermetic and a server agree on a wire, per server.
 *
 * A Streamable HTTP server is offered both revisions: first server/discover on the
 * 2026-07-28 wire (_meta on the request, MCP-Protocol-Version: 2026-07-28). A server that
 * lists 2026-07-28 among its supportedVersions is spoken to on that wire from then on: no
 * initialize, no session, no GET stream, no pings (every request stands alone). A -32022
 * (unsupported version) whose `supported` names 2026-07-28 is retried once; a 401 or 403
 * fails the connection as it is (the sign-in reads its challenge); any other answer (an
 * error, another 4xx, a discover result without 2026-07-28) falls back to the
 * 2025-11-25 wire: initialize with the client's capabilities, the server's version checked
 * against the versions hermetic speaks, notifications/initialized. A refused initialize may
 * still be a legacy HTTP+SSE server (mcp.c). Both then list tools (mcp.c).
 *
 * stdio and legacy SSE servers get initialize only: a server that predates the revision may
 * never answer a request sent before initialize (Python SDK servers have logged "Received
 * request before initialization was complete" and left it unanswered), and nothing on those
 * transports says it refused. `protocol: 2026-07-28` asks stdio servers server/discover
 * first too; `protocol: 2025-11-25` keeps any server to initialize.
 *
 * The session initialize began is also judged lost here (mcp_session_lost_error, _body): the
 * core renews it, the Streamable HTTP transport asks about a 400's body.
 */
#include "mcp/mcp.h"
#include "config_build.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "mcp/mcp_ask.h"
#include "mcp/mcp_int.h"
#include "mcp/mcp_wire.h"
#include "mcp/transport.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define PROTOCOL_OFFERED "2025-11-25"

static const char *const accepted_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

static void init_result(struct pending *p, const char *result, size_t len)
{
	struct mcp_server *s = p->s;
	cJSON *root = json_parse(result, len, 0, NULL);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "protocolVersion");
	size_t i;
	bool ok = false;

	for (i = 0; cJSON_IsString(v) && i < ARRAY_LEN(accepted_versions); i++)
		ok = ok || strcmp(v->valuestring, accepted_versions[i]) == 0;
	if (!ok) {
		char *why = xasprintf("the server speaks protocol %s, which hermetic does not"
				      " (it accepts 2025-11-25, 2025-06-18 and 2025-03-26)",
				      cJSON_IsString(v) ? v->valuestring : "(none)");

		cJSON_Delete(root);
		s->m->core->fail_server(s, why);
		free(why);
		return;
	}
	free(s->protocol);
	s->protocol = xstrdup(v->valuestring);
	s->skills = mcp_skills_declared(root);
	s->tools_declared = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(root, "capabilities"), "tools"));
	cJSON_Delete(root);
	s->m->core->notify(s, "notifications/initialized", NULL);
	s->ops->initialized(s);
	s->pages = 0;
	s->m->core->list_tools(s, NULL);
}

static void init_error(struct pending *p, const char *why, const char *rpc, size_t len,
		       bool timeout)
{
	p->s->m->core->fail_server(p->s, timeout ? "initialize timed out" : why);
}

static void initialize(struct mcp_server *s)
{
	cJSON *params = cJSON_CreateObject(), *info, *caps;

	cJSON_AddStringToObject(params, "protocolVersion", PROTOCOL_OFFERED);
	caps = cJSON_AddObjectToObject(params, "capabilities");
	mcp_asks_capabilities(s->m->asks, s, caps); /* what the owner can answer */
	info = cJSON_AddObjectToObject(params, "clientInfo");
	cJSON_AddStringToObject(info, "name", "hermetic");
	cJSON_AddStringToObject(info, "version", HERMETIC_VERSION);
	/* Initializing is part of connecting (connect_timeout: "seconds to connect and
	 * initialize"): a server that starts slower than its tools' call timeout still connects.
	 * The connect timer, armed before the transport opened, is what ends a slow initialize;
	 * the request's own timer is a second late so it never races it (one failure, one reason).
	 */
	s->m->core->request(s, "initialize", params, mcp_connect_timeout_ms(s) + 1000, init_result,
			    init_error, NULL);
}

static void discover(struct mcp_server *s);

/* The 2025-11-25 wire, after a discover that did not choose the new one. */
static void fall_back(struct mcp_server *s, const char *why)
{
	log_debug("mcp %s: server/discover: %s; initializing (2025-11-25)", s->cfg->name, why);
	s->new_wire = false;
	/* initialize goes without MCP-Protocol-Version: a 2025 server refuses one it does not
	 * know (the Go SDK answers 400). */
	free(s->protocol);
	s->protocol = NULL;
	if (s->ops->reset_session)
		s->ops->reset_session(s);
	initialize(s);
}

static bool names_revision(const cJSON *versions)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, versions)
	{
		if (cJSON_IsString(v) && strcmp(v->valuestring, MCP_WIRE_2026) == 0)
			return true;
	}
	return false;
}

static void discover_result(struct pending *p, const char *result, size_t len)
{
	struct mcp_server *s = p->s;
	cJSON *root = json_parse(result, len, 0, NULL);
	bool ok = names_revision(cJSON_GetObjectItemCaseSensitive(root, "supportedVersions"));

	s->skills = mcp_skills_declared(root);
	s->tools_declared = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(root, "capabilities"), "tools"));
	cJSON_Delete(root);
	if (!ok) {
		fall_back(s, "the server does not list 2026-07-28");
		return;
	}
	s->pages = 0;
	s->m->core->list_tools(s, NULL);
}

static void discover_error(struct pending *p, const char *why, const char *rpc, size_t len,
			   bool timeout)
{
	struct mcp_server *s = p->s;
	cJSON *err = rpc ? json_parse(rpc, len, 0, NULL) : NULL;
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(err, "data");
	bool retry = cJSON_IsNumber(code) && code->valueint == -32022 &&
		     names_revision(cJSON_GetObjectItemCaseSensitive(data, "supported"));

	cJSON_Delete(err);
	if (timeout) {
		s->m->core->fail_server(s, "server/discover timed out");
	} else if (p->status == 401 || p->status == 403) {
		/* Not signed in (or not enough): initialize would be refused the same way, and
		 * the sign-in reads this challenge. */
		s->m->core->fail_server(s, why);
	} else if (retry && !s->version_retried) {
		/* The server says it speaks the revision after all (one that refused the first
		 * request on purpose, or a draft's version string): ask once more. */
		s->version_retried = true;
		discover(s);
	} else {
		fall_back(s, why);
	}
}

static void discover(struct mcp_server *s)
{
	s->m->core->request(s, "server/discover", cJSON_CreateObject(),
			    mcp_connect_timeout_ms(s) + 1000, discover_result, discover_error,
			    NULL);
}

/* protocol: auto offers the revision over Streamable HTTP only (a refusal is seen there);
 * 2026-07-28 over stdio too; never to legacy SSE, which predates both. */
static bool offers_revision(const struct mcp_server *s)
{
	switch (s->cfg->protocol) {
	case CONFIG_MCP_PROTOCOL_2025:
		return false;
	case CONFIG_MCP_PROTOCOL_2026:
		return s->ops == &mcp_transport_http || s->ops == &mcp_transport_stdio;
	case CONFIG_MCP_PROTOCOL_AUTO:
	default:
		return s->ops == &mcp_transport_http;
	}
}

void mcp_transport_ready(struct mcp_server *s)
{
	free(s->protocol);
	s->protocol = NULL;
	s->new_wire = false;
	s->version_retried = false;
	if (!offers_revision(s)) {
		initialize(s);
		return;
	}
	s->new_wire = true;
	s->protocol = xstrdup(MCP_WIRE_2026);
	discover(s);
}

/* ---- a session the server lost (the 2025-11-25 wire) ---- */

/* An answer that tells us the server lost our session (the TypeScript SDK answers
 * -32001 "Session not found", its examples -32000 "Bad Request: No valid session ID
 * provided"; bridges such as mcp-remote pass these on). Only server-error codes whose message
 * speaks of the session count: a tool's own failure comes as a result with isError. */
bool mcp_session_lost_error(const cJSON *error)
{
	static const char *const lost[] = {"not found", "no valid", "invalid",	 "expired",
					   "unknown",	"missing",  "terminated"};
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
	size_t i;

	if (!cJSON_IsNumber(code) || code->valuedouble > -32000 || code->valuedouble < -32099 ||
	    !cJSON_IsString(msg) || !strcasestr(msg->valuestring, "session"))
		return false;
	for (i = 0; i < ARRAY_LEN(lost); i++)
		if (strcasestr(msg->valuestring, lost[i]))
			return true;
	return false;
}

bool mcp_session_lost_body(const char *body, size_t len)
{
	cJSON *root = json_parse(body, len, 0, NULL);
	bool lost = mcp_session_lost_error(cJSON_GetObjectItemCaseSensitive(root, "error"));

	cJSON_Delete(root);
	return lost;
}
