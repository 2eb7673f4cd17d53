/* ui_login: who may use the cockpit. The gate every /v1/ui/ route but login passes (Host and
 * Origin, the session cookie, a POST's CSRF token), and the routes that open and close a
 * session: POST /v1/ui/login (the password checked off the loop, one at a time, under
 * uiauth's per-client rate limit), /v1/ui/logout and /v1/ui/me. The session table, hashes and
 * limits themselves are uiauth.c's (pure); the JSON endpoints are the other ui_*.c files'.
 */
#include "cockpit/ui_int.h"
#include "core/json.h"
#include "core/config.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "core/offload.h"
#include "core/util.h"
#include "core/version.h"
#include "gateway/apiguard.h"
#include "cockpit/uiauth.h"
#include "net/httpd.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the gate ---------------------------------------------------------------------------- */

/* Whether req reached the cockpit over TLS as far as the cookie goes (ui.secure_cookie). */
static bool secure(const struct ui *u, struct httpd_req *req)
{
	struct netaddr peer;

	switch (u->cfg->ui.secure_cookie) {
	case CONFIG_SECURE_COOKIE_ALWAYS:
		return true;
	case CONFIG_SECURE_COOKIE_NEVER:
		return false;
	default:
		return httpd_peer_addr(req, &peer) == 0 &&
		       uiauth_over_tls(&peer, httpd_header(req, "X-Forwarded-Proto"), u->proxies,
				       u->n_proxies);
	}
}

/* The client address a login counts against (uiauth_client), and as text for the log. */
static void client_of(const struct ui *u, struct httpd_req *req, struct netaddr *out,
		      char text[NETADDR_TEXT_MAX])
{
	struct netaddr peer;

	if (httpd_peer_addr(req, &peer) < 0)
		memset(&peer, 0, sizeof(peer));
	uiauth_client(&peer, httpd_header(req, "X-Forwarded-For"), u->proxies, u->n_proxies, out);
	netaddr_format(out, text, NETADDR_TEXT_MAX);
}

static const char *session_csrf(struct ui *u, struct httpd_req *req)
{
	return uiauth_session_csrf(u->auth, httpd_header(req, "Cookie"), secure(u, req),
				   now_mono_ms());
}

/* Host and Origin (apiguard), then the session cookie, then for a POST its CSRF token. False
 * when req has been answered. */
bool ui_gate(struct ui *u, struct httpd_req *req)
{
	const char *csrf, *sent;

	if (!apiguard_check(&u->cfg->api, req))
		return false;
	csrf = session_csrf(u, req);
	if (!csrf) {
		ui_reply_error(req, 401, "not logged in (or the session expired): log in at /ui/");
		return false;
	}
	/* The session found once: its token compared here, not by a second scan of the table. */
	sent = httpd_header(req, "X-CSRF-Token");
	if (httpd_method(req) == HTTPD_POST && (!sent || !secret_equal(csrf, sent))) {
		ui_reply_error(req, 403, "missing or wrong X-CSRF-Token");
		return false;
	}
	return true;
}

/* ---- login ------------------------------------------------------------------------------- */

struct login_job {
	struct ui *u;
	struct httpd_req *req;
	char *password;
	bool ok;
};

static void login_answer(struct ui *u, struct httpd_req *req, bool ok)
{
	char id[UIAUTH_TOKEN_LEN + 1], csrf[UIAUTH_TOKEN_LEN + 1], cookie[256];
	char client[NETADDR_TEXT_MAX];
	struct netaddr addr;
	cJSON *root;

	client_of(u, req, &addr, client);
	if (!ok) {
		uiauth_login_failed(u->auth, &addr, now_mono_ms());
		log_warn("ui: a login with a wrong password from %s (via %s)", client,
			 httpd_peer(req));
		ui_reply_error(req, 401, "wrong password");
		return;
	}
	if (uiauth_session_new(u->auth, now_mono_ms(), id, csrf) < 0) {
		ui_reply_error(req, 500, "no randomness for a session id; try again");
		return;
	}
	uiauth_set_cookie(id, u->cfg->ui.session_ttl_s, secure(u, req), cookie, sizeof(cookie));
	httpd_add_header(req, "Set-Cookie", cookie);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "csrf", csrf);
	cJSON_AddStringToObject(root, "timezone", u->cfg->timezone);
	ui_reply_json(req, 200, root);
	log_info("ui: logged in from %s (via %s)", client, httpd_peer(req));
}

static void login_work(void *arg)
{
	struct login_job *j = arg;

	/* a shutdown does not wait for millions of iterations (abandon frees the job) */
	j->ok = uiauth_verify(j->u->cfg->ui.password_hash, j->password, offload_cancelled);
}

static void login_free(void *arg)
{
	struct login_job *j = arg;

	explicit_bzero(j->password, strlen(j->password));
	free(j->password);
	free(j);
}

static void login_done(void *arg)
{
	struct login_job *j = arg;

	j->u->login_busy = false;
	login_answer(j->u, j->req, j->ok);
	login_free(j);
}

static void login_abandon(void *arg)
{
	struct login_job *j = arg;

	j->u->login_busy = false;
	login_free(j);
}
static void on_login(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	const char *key = u->cfg->api.key;
	struct json_error jerr;
	cJSON *root;
	const cJSON *pw;
	struct login_job *j;
	int64_t retry_s = 60;
	char retry[24], client[NETADDR_TEXT_MAX];
	struct netaddr addr;

	if (!apiguard_check(&u->cfg->api, req))
		return;
	client_of(u, req, &addr, client);
	if (u->login_busy || !uiauth_login_allowed(u->auth, &addr, now_mono_ms(), &retry_s)) {
		snprintf(retry, sizeof(retry), "%lld", (long long)(u->login_busy ? 1 : retry_s));
		httpd_add_header(req, "Retry-After", retry);
		ui_reply_error(req, 429, "too many login attempts; wait and try again");
		return;
	}
	root = ui_body_json(req, &jerr);
	pw = cJSON_GetObjectItemCaseSensitive(root, "password");
	if (!cJSON_IsString(pw) || strlen(pw->valuestring) > UIAUTH_PASSWORD_MAX) {
		cJSON_Delete(root);
		ui_reply_error(req, 400,
			       !root && jerr.duplicate ? jerr.msg
						       : "expected {\"password\": \"...\"}");
		return;
	}
	if (key && secret_equal(pw->valuestring, key)) {
		cJSON_Delete(root);
		login_answer(u, req, true);
		return;
	}
	if (!u->cfg->ui.password_hash) {
		cJSON_Delete(root);
		login_answer(u, req, false);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->u = u;
	j->req = req;
	j->password = xstrdup(pw->valuestring);
	cJSON_Delete(root);
	if (offload_run(u->work, login_work, login_done, login_abandon, j) < 0) {
		login_free(j);
		ui_reply_error(req, 503, "busy; try again in a moment");
		return;
	}
	u->login_busy = true;
}

static void on_logout(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	char cookie[256];

	if (!ui_gate(u, req))
		return;
	uiauth_session_end(u->auth, httpd_header(req, "Cookie"), secure(u, req));
	uiauth_set_cookie("", 0, secure(u, req), cookie, sizeof(cookie));
	httpd_add_header(req, "Set-Cookie", cookie);
	ui_reply_json_text(req, 200, "{}", 2);
}

/* Answers 200 either way, so that the page's first look costs no error in the console. */
static void on_me(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	const char *csrf;
	cJSON *root;

	if (!apiguard_check(&u->cfg->api, req))
		return;
	csrf = session_csrf(u, req);
	root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "logged_in", csrf != NULL);
	if (csrf) {
		cJSON_AddStringToObject(root, "csrf", csrf);
		/* the page shows every time in this zone, labelled (cron runs in it) */
		cJSON_AddStringToObject(root, "timezone", u->cfg->timezone);
	}
	cJSON_AddStringToObject(root, "version", version_string());
	ui_reply_json(req, 200, root);
}

void ui_login_routes(struct ui *u, struct httpd *h)
{
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/login", on_login, u);
	httpd_route(h, HTTPD_POST, "/v1/ui/logout", on_logout, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/me", on_me, u);
}
