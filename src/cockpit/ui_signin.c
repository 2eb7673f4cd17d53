/* ui_signin: MCP sign-ins in the cockpit. GET /v1/ui/signins lists the sign-ins waiting for the
 * owner (behind the cockpit's login), each with its authorization URL, the same as Telegram's
 * button; GET /ui/oauth/callback is where the authorization server sends the browser back when
 * ui.public_url is set. The callback needs no cockpit login: it is a redirect from another
 * site, and what it carries is checked against a pending sign-in (state, then iss and the code,
 * PKCE at the token endpoint: mcp/oauth_signin.c); anything else is refused with 400.
 */
#include "cockpit/ui_int.h"
#include "core/util.h"
#include "gateway/mcp_signin.h"
#include "net/httpd.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ui_set_signin(struct ui *u, struct mcp_signin *s)
{
	if (!u || !s)
		return;
	u->signin = s;
	mcp_signin_set_cockpit(s);
}

static void on_signins(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	cJSON *root, *arr;
	const char *server, *url;
	int64_t expires_ms;

	if (!ui_gate(u, req))
		return;
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "signins");
	for (size_t i = 0; mcp_signin_pending(u->signin, i, &server, &url, &expires_ms) == 0; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "server", server);
		cJSON_AddStringToObject(o, "url", url);
		cJSON_AddNumberToObject(o, "expires_ms", (double)expires_ms);
		cJSON_AddItemToArray(arr, o);
	}
	ui_reply_json(req, 200, root);
}

static void page(struct httpd_req *req, int status, const char *text)
{
	ui_page_headers(req);
	httpd_reply(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void on_callback(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	const char *q = httpd_query(req);
	char server[128] = "", err[400], *text;
	int rc;

	if (!u->signin) {
		page(req, 404, "No MCP server signs in here.\n");
		return;
	}
	rc = mcp_signin_complete(u->signin, q ? q : "", server, sizeof(server), err, sizeof(err));
	if (rc < 0) {
		text = xasprintf("Not taken: %s.\n", err);
		page(req, 400, text);
	} else {
		text = xasprintf("Completing the sign-in to %s. You can close this page: Telegram "
				 "says when it is done, and its tools are there from the next "
				 "message.\n",
				 server);
		page(req, 200, text);
	}
	free(text);
}

void ui_signin_routes(struct ui *u, struct httpd *h)
{
	httpd_route(h, HTTPD_GET, "/ui/oauth/callback", on_callback, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/signins", on_signins, u);
}
