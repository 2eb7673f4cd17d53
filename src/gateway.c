/* gateway: `hermetic gateway`, the always-on process. It serves the loopback API on
 * api.listen (health, readiness, metrics, and the tool routes below) and keeps the MCP
 * servers connected in the background: a server that is down at start does not stop the
 * gateway, and its tools appear once it is up. The agent, Telegram, hooks and cron attach to
 * the same loop.
 *
 * Tool routes (Bearer api.key when one is configured):
 *   GET  /v1/tools       the tools of connected MCP servers with their JSON schemas
 *   POST /v1/tools/call  {"name": ..., "arguments": {...}} -> {"content": ..., "is_error": ...}
 */
#include "gateway.h"
#include "config.h"
#include "daemon.h"
#include "httpd.h"
#include "log.h"
#include "mcp.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

struct gateway {
	struct daemon d;
	struct httpd *api;
	struct mcp *mcp;
};

/* One /v1/tools/call in flight; freed once answered. */
struct tool_req {
	struct evhttp_request *req;
	struct mcp_call *call;
};

static bool authorized(struct gateway *g, struct evhttp_request *req)
{
	const char *key = g->d.cfg->api.key, *token;

	if (!key)
		return true;
	token = httpd_bearer(req);
	if (token && secret_equal(token, key))
		return true;
	httpd_reply_error(req, 401, "auth_error",
			  "missing or wrong API key (Authorization: Bearer"
			  " <api.key>)");
	return false;
}

static void reply_json(struct evhttp_request *req, int status, cJSON *root)
{
	char *s = cJSON_PrintUnformatted(root);

	httpd_reply(req, status, "application/json", s, strlen(s));
	free(s);
	cJSON_Delete(root);
}

static void on_tools(struct evhttp_request *req, void *arg)
{
	struct gateway *g = arg;
	cJSON *root, *arr;
	size_t i;

	if (!authorized(g, req))
		return;
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "tools");
	for (i = 0; i < mcp_n_tools(g->mcp); i++) {
		struct mcp_tool_info ti;
		cJSON *t = cJSON_CreateObject();

		mcp_tool_info(g->mcp, i, &ti);
		cJSON_AddStringToObject(t, "name", ti.name);
		cJSON_AddStringToObject(t, "server", ti.server);
		cJSON_AddStringToObject(t, "tool", ti.tool);
		cJSON_AddStringToObject(t, "description", ti.description);
		cJSON_AddItemToObject(t, "parameters", cJSON_Parse(ti.schema_json));
		cJSON_AddItemToArray(arr, t);
	}
	reply_json(req, 200, root);
}

static void forget_connection(struct tool_req *tr)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(tr->req);

	if (conn)
		evhttp_connection_set_closecb(conn, NULL, NULL);
}

static void on_client_close(struct evhttp_connection *conn, void *arg)
{
	struct tool_req *tr = arg;

	if (tr->call)
		mcp_call_cancel(tr->call);
}

static void on_call_done(const struct mcp_result *r, void *arg)
{
	struct tool_req *tr = arg;
	cJSON *root = cJSON_CreateObject();

	tr->call = NULL;
	forget_connection(tr);
	cJSON_AddStringToObject(root, "content", r->text);
	cJSON_AddBoolToObject(root, "is_error", r->is_error);
	reply_json(tr->req, 200, root);
	free(tr);
}

static void on_tools_call(struct evhttp_request *req, void *arg)
{
	struct gateway *g = arg;
	char *body, *args_text = NULL;
	cJSON *root, *name, *args;
	struct tool_req *tr;
	int rc;

	if (!authorized(g, req))
		return;
	body = httpd_body(req, NULL);
	root = cJSON_Parse(body);
	free(body);
	name = cJSON_GetObjectItemCaseSensitive(root, "name");
	args = cJSON_GetObjectItemCaseSensitive(root, "arguments");
	if (!cJSON_IsString(name) || (args && !cJSON_IsObject(args))) {
		cJSON_Delete(root);
		httpd_reply_error(req, 400, "invalid_request_error",
				  "expected {\"name\": \"<tool>\", \"arguments\": {...}}");
		return;
	}
	if (args)
		args_text = cJSON_PrintUnformatted(args);
	tr = xcalloc(1, sizeof(*tr));
	tr->req = req;
	rc = mcp_call(g->mcp, name->valuestring, args_text, on_call_done, tr, &tr->call);
	free(args_text);
	if (rc == 0) {
		struct evhttp_connection *conn = evhttp_request_get_connection(req);

		if (conn)
			evhttp_connection_set_closecb(conn, on_client_close, tr);
	} else {
		free(tr);
		if (rc == -ENOTCONN)
			httpd_reply_error(req, 503, "service_unavailable",
					  "the tool's MCP server is not connected right now");
		else
			httpd_reply_error(req, 404, "not_found_error",
					  "no such tool (see GET /v1/tools)");
	}
	cJSON_Delete(root);
}

int gateway_run(const struct config *cfg)
{
	struct gateway g = {0};
	int rc = 1;

	if (daemon_init(&g.d, cfg, "gateway") < 0)
		goto out;
	if (daemon_listen(&g.d, cfg->api.listen.addr, "api.listen", (long)cfg->api.max_body_bytes,
			  (int)cfg->api.timeout_s, &g.api) < 0)
		goto out;
	daemon_add_health_routes(&g.d, g.api);
	httpd_route(g.api, HTTPD_GET, "/v1/tools", on_tools, &g);
	httpd_route(g.api, HTTPD_POST, "/v1/tools/call", on_tools_call, &g);
	g.mcp = mcp_create(cfg, g.d.loop, g.d.metrics, true);
	mcp_start(g.mcp);
	if (daemon_run(&g.d) == 0)
		rc = 0;
out:
	/* Pending tool calls are answered through the API server: close MCP first. */
	mcp_destroy(g.mcp);
	httpd_destroy(g.api);
	daemon_finish(&g.d);
	if (rc == 0)
		log_info("stopped cleanly");
	return rc;
}
