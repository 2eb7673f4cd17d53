/* mcp_handshake: how a connection becomes a session. The 2025-11-25 wire: initialize with
 * the client's capabilities, the server's protocol version checked against the versions
 * hermetic speaks, notifications/initialized, then tools/list (mcp.c). The session it makes
 * is renewed by mcp.c when the server forgets it.
 */
#include "mcp/mcp.h"
#include "config_build.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "mcp/mcp_ask.h"
#include "mcp/mcp_int.h"
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
		mcp_fail_server(s, why);
		free(why);
		return;
	}
	free(s->protocol);
	s->protocol = xstrdup(v->valuestring);
	cJSON_Delete(root);
	mcp_notify(s, "notifications/initialized", NULL);
	s->ops->initialized(s);
	s->pages = 0;
	mcp_list_tools(s, NULL);
}

static void init_error(struct pending *p, const char *why, const char *rpc, size_t len,
		       bool timeout)
{
	mcp_fail_server(p->s, timeout ? "initialize timed out" : why);
}

void mcp_transport_ready(struct mcp_server *s)
{
	cJSON *params = cJSON_CreateObject(), *info, *caps;

	cJSON_AddStringToObject(params, "protocolVersion", PROTOCOL_OFFERED);
	caps = cJSON_AddObjectToObject(params, "capabilities");
	mcp_asks_capabilities(s->m->asks, s, caps); /* what the owner can answer */
	info = cJSON_AddObjectToObject(params, "clientInfo");
	cJSON_AddStringToObject(info, "name", "hermetic");
	cJSON_AddStringToObject(info, "version", HERMETIC_VERSION);
	free(s->protocol);
	s->protocol = NULL;
	/* Initializing is part of connecting (connect_timeout: "seconds to connect and
	 * initialize"): a server that starts slower than its tools' call timeout still connects.
	 * The connect timer, armed before the transport opened, is what ends a slow initialize;
	 * the request's own timer is a second late so it never races it (one failure, one reason).
	 */
	mcp_request(s, "initialize", params, mcp_connect_timeout_ms(s) + 1000, init_result,
		    init_error, NULL);
}
