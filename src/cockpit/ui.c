/* ui: the web cockpit's core (see ui.h and docs/cockpit.md): its life, the assets, the answers
 * and request helpers every route uses, and the route table, which each concept's file fills:
 * ui_login.c (the gate, login), ui_read.c (reads off the loop), ui_status.c (in-memory state),
 * ui_actions.c (the buttons), ui_edit.c (the owner's edits), ui_chat.c (the chat's stream).
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
#include "core/json.h"
#include "core/config.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "core/offload.h"
#include "core/util.h"
#include "gateway/apiguard.h"
#include "cockpit/ui_assets.h"
#include "cockpit/uiauth.h"
#include "net/daemon.h"
#include "net/httpd.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JOBS 4 /* offload threads at once; more requests get 503 */

#define CSP                                                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/* ---- pure helpers ------------------------------------------------------------------------ */

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	return p;
}

bool ui_etag_match(const char *inm, const char *etag)
{
	const char *p = inm;
	size_t n = strlen(etag);

	if (!p)
		return false;
	for (p = skip_ws(p); *p; p = skip_ws(p)) {
		const char *end = p;

		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p != '"')
			return false;
		end = strchr(p + 1, '"');
		if (!end)
			return false;
		end++;
		if ((size_t)(end - p) == n && memcmp(p, etag, n) == 0)
			return true;
		p = end;
	}
	return false;
}

bool ui_query_param(const char *query, const char *name, char *out, size_t len)
{
	size_t nlen = strlen(name);
	const char *p = query;

	while (p && *p) {
		const char *end = strchr(p, '&');

		if (!end)
			end = p + strlen(p);
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t n = 0;

			if (!out)
				return true; /* only whether it is there */

			for (p += nlen + 1; p < end; p++) {
				char c = *p;

				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					int hi = p + 2 < end ? hex_digit(p[1]) : -1;
					int lo = hi >= 0 ? hex_digit(p[2]) : -1;

					if (lo < 0 || (hi == 0 && lo == 0))
						return false;
					c = (char)(hi << 4 | lo);
					p += 2;
				}
				if (n + 1 >= len)
					return false;
				out[n++] = c;
			}
			out[n] = '\0';
			return true;
		}
		p = *end ? end + 1 : end;
	}
	return false;
}

/* ---- answers ----------------------------------------------------------------------------- */

void ui_page_headers(struct httpd_req *req)
{
	httpd_add_header(req, "Content-Security-Policy", CSP);
	httpd_add_header(req, "X-Content-Type-Options", "nosniff");
	httpd_add_header(req, "Referrer-Policy", "no-referrer");
	httpd_add_header(req, "X-Frame-Options", "DENY");
}

void ui_reply_json_text(struct httpd_req *req, int status, const char *text, size_t len)
{
	ui_page_headers(req);
	httpd_add_header(req, "Cache-Control", "no-store");
	httpd_reply(req, status, "application/json", text, len);
}

void ui_reply_json(struct httpd_req *req, int status, cJSON *root)
{
	ui_page_headers(req);
	httpd_add_header(req, "Cache-Control", "no-store");
	httpd_reply_json(req, status, root);
}

void ui_reply_error(struct httpd_req *req, int status, const char *message)
{
	cJSON *root = cJSON_CreateObject();

	cJSON_AddStringToObject(root, "error", message);
	ui_reply_json(req, status, root);
}

/* The POST's body as JSON, or NULL with the reason in *err: the caller answers 400 with
 * err->msg when err->duplicate (the member is named), else with its own hint. */
cJSON *ui_body_json(struct httpd_req *req, struct json_error *err)
{
	size_t len = 0;
	const char *body = httpd_body_ref(req, &len);

	return json_parse(body, len, 0, err);
}

/* The POST's JSON object, or NULL with req answered 400 (say: what was expected). */
cJSON *ui_body_object(struct httpd_req *req, const char *say)
{
	struct json_error err;
	cJSON *root = ui_body_json(req, &err);

	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		ui_reply_error(req, 400, !root && err.duplicate ? err.msg : say);
		return NULL;
	}
	return root;
}

bool ui_int_item(const cJSON *o, const char *name, int64_t min, int64_t max, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return false;
	*out = (int64_t)v->valuedouble;
	return true;
}

const char *ui_str_item(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

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
	u->work = offload_create(env->d->loop, MAX_JOBS);
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
