/* ui: the web cockpit's core (see ui.h and docs/cockpit.md): its life, the assets and the
 * route table, which each concept's file fills:
 * ui_login.c (the gate, login), ui_read.c (reads off the loop), ui_status.c (in-memory state),
 * ui_actions.c (the buttons), ui_edit.c (the owner's edits), ui_chat.c (the chat's stream).
 *
 * The answers and request helpers every route uses are ui_reply.c's, so the route files call
 * down to it and never back into this file.
 *
 * Assets: the gzip bytes of ui_assets.c as they are, with Content-Encoding: gzip (every
 * browser takes it; a client that does not still gets them: there is no second copy), a
 * strong ETag and Cache-Control: no-cache, so a reload costs one 304 per file. A strict CSP
 * (no inline script or style) and nosniff go with every answer of /ui/.
 *
 * Rejected: a session store in SQLite (sessions end with the process, which is fine for a
 * personal cockpit, and nothing is written per request), serving the files from disk (the
 * binary would need a data dir and Landlock a read rule), and a JSON API shared with the
 * Bearer API (a browser cannot keep a bearer key safe; cookies with SameSite=Strict can).
 */
#include "cockpit/ui.h"
#include "cockpit/ui_int.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/netaddr.h"
#include "core/offload.h"
#include "core/util.h"
#include "gateway/apiguard.h"
#include "cockpit/ui_assets.h"
#include "cockpit/uiauth.h"
#include "net/daemon.h"
#include "net/httpd.h"

#include <stdlib.h>
#include <string.h>

#define MAX_JOBS 4 /* offload threads at once; more requests get 503 */

/* ---- assets ------------------------------------------------------------------------------ */

static const struct ui_asset *find_asset(const char *path)
{
	if (strcmp(path, "/ui/index.html") == 0)
		path = "/ui/";
	for (size_t i = 0; i < ui_n_assets; i++)
		if (strcmp(ui_assets[i].path, path) == 0)
			return &ui_assets[i];
	return NULL;
}

static void on_asset(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	const struct ui_asset *a;

	if (!apiguard_check(&u->cfg->api, req))
		return;
	a = find_asset(httpd_path(req));
	ui_page_headers(req);
	if (!a) {
		httpd_reply(req, 404, "text/plain; charset=utf-8", "not found\n", 10);
		return;
	}
	httpd_add_header(req, "ETag", a->etag);
	httpd_add_header(req, "Cache-Control", "no-cache");
	httpd_add_header(req, "Vary", "Accept-Encoding");
	if (ui_etag_match(httpd_header(req, "If-None-Match"), a->etag)) {
		httpd_reply(req, 304, NULL, NULL, 0);
		return;
	}
	httpd_add_header(req, "Content-Encoding", "gzip");
	httpd_reply(req, 200, a->content_type, (const char *)a->gz, a->gz_len);
}

static void on_ui_root(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;

	if (!apiguard_check(&u->cfg->api, req))
		return;
	httpd_add_header(req, "Location", "/ui/");
	httpd_reply(req, 302, NULL, NULL, 0);
}

/* ---- life -------------------------------------------------------------------------------- */

bool ui_enabled(const struct daemon *d)
{
	return d->cfg->ui.enabled || d->cfg->ui.password_hash;
}

int ui_create(const struct ui_env *env, struct ui **out)
{
	const struct config *cfg = env->d->cfg;
	struct ui *u;

	*out = NULL;
	if (!ui_enabled(env->d))
		return 0;
	/* Something to log in with and a hash uiauth can check: the config load refused any
	 * other (check_ui and cfg_check_password_hash in core/config_check.c). */
	u = xcalloc(1, sizeof(*u));
	u->env = *env;
	u->cfg = cfg;
	u->auth = uiauth_create(cfg->ui.session_ttl_s * 1000, (int)cfg->ui.login_failures);
	/* Each entry passed cfg_check_trusted_proxy, which parses it as this does. */
	u->proxies = xcalloc(cfg->ui.n_trusted_proxies + 1, sizeof(*u->proxies));
	for (size_t i = 0; i < cfg->ui.n_trusted_proxies; i++)
		if (netaddr_parse_net(cfg->ui.trusted_proxies[i], &u->proxies[u->n_proxies]) == 0)
			u->n_proxies++;
	u->work = offload_create(loop_base(env->d->loop), MAX_JOBS);
	u->db_path = xasprintf("%s/state.db", cfg->home);
	ui_chat_attach(u);
	log_info("ui: the cockpit is served at /ui/ on api.listen (%zu files, %zu bytes gzipped)",
		 ui_n_assets, ui_assets_gz_bytes);
	*out = u;
	return 0;
}

void ui_add_routes(struct ui *u, struct httpd *h)
{
	if (!u)
		return;
	ui_signin_routes(u, h); /* first: the asset route takes every other /ui/ path */
	httpd_route(h, HTTPD_GET | HTTPD_HEAD, "/ui", on_ui_root, u);
	httpd_route(h, HTTPD_GET | HTTPD_HEAD, "/ui/*", on_asset, u);
	ui_login_routes(u, h);
	ui_read_routes(u, h);
	ui_edit_routes(u, h);
	ui_status_routes(u, h);
	ui_actions_routes(u, h);
	ui_chat_routes(u, h);
	ui_tasks_routes(u, h);
	ui_quarantine_routes(u, h);
}

void ui_destroy(struct ui *u)
{
	if (!u)
		return;
	ui_chat_detach(u);
	offload_destroy(u->work);
	uiauth_destroy(u->auth);
	free(u->proxies);
	free(u->db_path);
	free(u);
}
