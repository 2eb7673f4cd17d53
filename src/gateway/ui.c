/* ui: the web cockpit's routes (see ui.h and docs/cockpit.md).
 *
 * Assets: the gzip bytes of ui_assets.c as they are, with Content-Encoding: gzip (every
 * browser takes it; a client that does not still gets them: there is no second copy), a
 * strong ETag and Cache-Control: no-cache, so a reload costs one 304 per file. A strict CSP
 * (no inline script or style) and nosniff go with every answer of /ui/.
 *
 * JSON: each read opens its own read-only connection to state.db on an offload thread
 * (store_open_reader), runs the same query the CLI runs (sessions_list, sessions_messages,
 * sessions_search, spend_report_each), prints the answer there and closes; the loop only
 * sends it. The loop's own connection is never used from the thread, and a slow disk or a
 * large ledger never holds the loop. The login's PBKDF2 runs there too.
 *
 * Rejected: a session store in SQLite (sessions end with the process, which is fine for a
 * personal cockpit, and nothing is written per request), serving the files from disk (the
 * binary would need a data dir and Landlock a read rule), and a JSON API shared with the
 * Bearer API (a browser cannot keep a bearer key safe; cookies with SameSite=Strict can).
 */
#include "gateway/ui.h"
#include "core/json.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "core/offload.h"
#include "core/sessions.h"
#include "core/store.h"
#include "core/util.h"
#include "core/version.h"
#include "agent/agent.h"
#include "gateway/alerts.h"
#include "gateway/apiguard.h"
#include "gateway/cron.h"
#include "gateway/reminders.h"
#include "gateway/telegram.h"
#include "gateway/ui_assets.h"
#include "gateway/uiauth.h"
#include "mcp/mcp.h"
#include "net/daemon.h"
#include "net/httpd.h"
#include "router/breaker.h"
#include "router/spend.h"
#include "sandbox/landlock.h"
#include "sandbox/sandbox.h"
#include "tools/skill_set.h"
#include "tools/tools.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_JOBS	 4 /* offload threads at once; more requests get 503 */
#define LIST_DEFAULT	 50
#define LIST_MAX	 200
#define SEARCH_SESSIONS	 10 /* as `hermetic sessions search` */
#define SEARCH_MAX_BYTES 256
#define VIEW_MAX_MSGS	 2000
#define VIEW_TEXT_MAX	 (16 * 1024)  /* bytes of one message's content (or arguments) shown */
#define EXPORT_TEXT_MAX	 (256 * 1024) /* ... and exported */
/* Bytes of text one session view or export holds in all: the answer lives three times on
 * the thread (the cJSON tree, the printed JSON, the Markdown), MAX_JOBS at once, in a
 * process meant to fit in a few MiB. */
#define VIEW_MAX_BYTES	(1024 * 1024)
#define MSG_OVERHEAD	64 /* bytes counted per message and tool call for keys and numbers */
#define SPEND_DAYS	30
#define SKILL_SHOWN_MAX SKILL_MAX_BYTES /* a SKILL.md shown */
#define EDIT_BODY_MAX	(512 * 1024)	/* an edit's JSON: 256 KiB of text, some escaped */
#define LOG_TAIL_BYTES	(256 * 1024)	/* of hermetic.log searched for the last warnings */
#define LOG_LINES	20
#define AUDIT_LINES	20
#define BALANCES_MAX	8
#define CHAT_SOURCE	"ui:cockpit" /* the cockpit's own session */

#define CSP                                                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

struct chat_run;

struct ui {
	struct ui_env env;
	const struct config *cfg;
	struct uiauth *auth;
	struct netaddr_net *proxies; /* ui.trusted_proxies, parsed */
	size_t n_proxies;
	struct offload *work;
	char *db_path;
	bool login_busy;       /* one password check at a time */
	struct chat_run *chat; /* the chat's stream, while a turn runs (one at a time) */
};

static void send_event(struct httpd_req *req, const char *name, cJSON *data);

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

static void page_headers(struct httpd_req *req)
{
	httpd_add_header(req, "Content-Security-Policy", CSP);
	httpd_add_header(req, "X-Content-Type-Options", "nosniff");
	httpd_add_header(req, "Referrer-Policy", "no-referrer");
	httpd_add_header(req, "X-Frame-Options", "DENY");
}

static void reply_json_text(struct httpd_req *req, int status, const char *text, size_t len)
{
	page_headers(req);
	httpd_add_header(req, "Cache-Control", "no-store");
	httpd_reply(req, status, "application/json", text, len);
}

static void reply_json(struct httpd_req *req, int status, cJSON *root)
{
	page_headers(req);
	httpd_add_header(req, "Cache-Control", "no-store");
	httpd_reply_json(req, status, root);
}

static void reply_error(struct httpd_req *req, int status, const char *message)
{
	cJSON *root = cJSON_CreateObject();

	cJSON_AddStringToObject(root, "error", message);
	reply_json(req, status, root);
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
	page_headers(req);
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
static bool gate(struct ui *u, struct httpd_req *req)
{
	const char *csrf, *sent;

	if (!apiguard_check(&u->cfg->api, req))
		return false;
	csrf = session_csrf(u, req);
	if (!csrf) {
		reply_error(req, 401, "not logged in (or the session expired): log in at /ui/");
		return false;
	}
	/* The session found once: its token compared here, not by a second scan of the table. */
	sent = httpd_header(req, "X-CSRF-Token");
	if (httpd_method(req) == HTTPD_POST && (!sent || !secret_equal(csrf, sent))) {
		reply_error(req, 403, "missing or wrong X-CSRF-Token");
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
		reply_error(req, 401, "wrong password");
		return;
	}
	if (uiauth_session_new(u->auth, now_mono_ms(), id, csrf) < 0) {
		reply_error(req, 500, "no randomness for a session id; try again");
		return;
	}
	uiauth_set_cookie(id, u->cfg->ui.session_ttl_s, secure(u, req), cookie, sizeof(cookie));
	httpd_add_header(req, "Set-Cookie", cookie);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "csrf", csrf);
	reply_json(req, 200, root);
	log_info("ui: logged in from %s (via %s)", client, httpd_peer(req));
}

static void login_work(void *arg)
{
	struct login_job *j = arg;

	j->ok = uiauth_verify(j->u->cfg->ui.password_hash, j->password);
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

/* The POST's body as JSON, or NULL with the reason in *err: the caller answers 400 with
 * err->msg when err->duplicate (the member is named), else with its own hint. */
static cJSON *body_json(struct httpd_req *req, struct json_error *err)
{
	size_t len = 0;
	const char *body = httpd_body_ref(req, &len);

	return json_parse(body, len, 0, err);
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
		reply_error(req, 429, "too many login attempts; wait and try again");
		return;
	}
	root = body_json(req, &jerr);
	pw = cJSON_GetObjectItemCaseSensitive(root, "password");
	if (!cJSON_IsString(pw) || strlen(pw->valuestring) > UIAUTH_PASSWORD_MAX) {
		cJSON_Delete(root);
		reply_error(req, 400,
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
		reply_error(req, 503, "busy; try again in a moment");
		return;
	}
	u->login_busy = true;
}

static void on_logout(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	char cookie[256];

	if (!gate(u, req))
		return;
	uiauth_session_end(u->auth, httpd_header(req, "Cookie"), secure(u, req));
	uiauth_set_cookie("", 0, secure(u, req), cookie, sizeof(cookie));
	httpd_add_header(req, "Set-Cookie", cookie);
	reply_json_text(req, 200, "{}", 2);
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
	if (csrf)
		cJSON_AddStringToObject(root, "csrf", csrf);
	cJSON_AddStringToObject(root, "version", version_string());
	reply_json(req, 200, root);
}

/* ---- reads off the loop ------------------------------------------------------------------ */

enum read_kind {
	READ_LIST,
	READ_SEARCH,
	READ_VIEW,
	READ_SPEND,
	READ_MEMORY,
	READ_SKILL,
	READ_JOBS,
	READ_LOG,
	READ_AUDIT
};
enum read_format { AS_VIEW, AS_JSON_FILE, AS_MARKDOWN_FILE }; /* READ_VIEW's answer */

struct read_job {
	struct httpd_req *req;
	enum read_kind kind;
	char *db_path;
	const struct config *cfg;      /* immutable: read by the memory and skill reads */
	char text[SEARCH_MAX_BYTES];   /* READ_SEARCH: the query */
	int64_t n;		       /* list: limit; view: session id; spend: days */
	int64_t now_ms;		       /* wall clock, for spend's local days */
	double daily_usd, monthly_usd; /* spend: budget.daily_usd and monthly_usd (0: none) */
	enum read_format format;
	bool *running; /* READ_JOBS: per config cron job, a run in flight (seen on the loop) */
	int status;
	char *answer; /* JSON, or Markdown for AS_MARKDOWN_FILE */
};

static cJSON *session_json(const struct session_info *si)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)si->id);
	cJSON_AddStringToObject(o, "source", si->source);
	if (si->title)
		cJSON_AddStringToObject(o, "title", si->title);
	else
		cJSON_AddNullToObject(o, "title");
	if (si->model)
		cJSON_AddStringToObject(o, "model", si->model);
	else
		cJSON_AddNullToObject(o, "model");
	cJSON_AddNumberToObject(o, "created_ms", (double)si->created_ms);
	cJSON_AddNumberToObject(o, "updated_ms", (double)si->updated_ms);
	cJSON_AddBoolToObject(o, "ended", si->ended);
	cJSON_AddNumberToObject(o, "turns", (double)si->turns);
	cJSON_AddNumberToObject(o, "prompt_tokens", (double)si->prompt_tokens);
	cJSON_AddNumberToObject(o, "completion_tokens", (double)si->completion_tokens);
	cJSON_AddNumberToObject(o, "cost_usd", si->cost_usd);
	cJSON_AddNumberToObject(o, "messages", (double)si->n_messages);
	return o;
}

/* Where a session of source is continued: the cockpit continues only its own (a turn of
 * another source would answer into the cockpit, not where that source's messages go). */
static const char *source_place(const char *source)
{
	static const struct {
		const char *prefix, *place;
	} places[] = {
		{"telegram:", "a Telegram chat"},
		{"api:", "an API client"},
		{"cron:", "a cron job"},
		{"hook:", "a webhook"},
		{"alert:", "an alert's investigation"},
		{"reminder:", "a reminder"},
		{"cli", "the command line (hermetic chat)"},
	};

	for (size_t i = 0; i < ARRAY_LEN(places); i++)
		if (strncmp(source, places[i].prefix, strlen(places[i].prefix)) == 0)
			return places[i].place;
	return "its own source";
}

static void add_session(const struct session_info *si, void *arg)
{
	cJSON_AddItemToArray(arg, session_json(si));
}

struct msg_acc {
	cJSON *arr;
	size_t text_max; /* bytes of one content or arguments string */
	size_t n, bytes; /* messages and text bytes added so far */
	bool truncated;	 /* a message was left out: the count or the byte budget */
};

/* s cut at max bytes (utf8_clip: valid UTF-8, which cJSON does not check), added to o as
 * name; the bytes of s kept. */
static size_t add_cut(cJSON *o, const char *name, const char *s, size_t max, bool *cut)
{
	size_t n = strlen(s), keep;
	struct buf text;

	buf_init(&text, 0);
	keep = utf8_clip(&text, s, n, max, false);
	cJSON_AddStringToObject(o, name, buf_str(&text));
	buf_finish(&text);
	*cut = keep < n;
	return keep;
}

/* What one message will cost of the budget, as add_message cuts it. */
static size_t message_bytes(const cJSON *j, const char *role, size_t text_max)
{
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content"), *c;
	size_t n = MSG_OVERHEAD + strlen(role);

	if (cJSON_IsString(content))
		n += utf8_cut(content->valuestring, strnlen(content->valuestring, text_max));
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(j, "tool_calls"))
	{
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");

		n += MSG_OVERHEAD;
		if (cJSON_IsString(name))
			n += strnlen(name->valuestring, text_max);
		if (cJSON_IsString(args))
			n += utf8_cut(args->valuestring, strnlen(args->valuestring, text_max));
	}
	return n;
}

/* One stored message as the page shows it: role, text (cut), tool calls and results; none
 * past VIEW_MAX_MSGS or VIEW_MAX_BYTES (then acc->truncated). */
static void add_message(int64_t msg_id, const char *role, const char *json, void *arg)
{
	struct msg_acc *acc = arg;
	cJSON *m, *j, *calls, *c, *out;
	const cJSON *content;
	size_t bytes;
	bool cut;

	if (acc->truncated)
		return;
	if (acc->n >= VIEW_MAX_MSGS) {
		acc->truncated = true;
		return;
	}
	j = json_parse_str(json, NULL);
	bytes = message_bytes(j, role, acc->text_max);
	if (acc->bytes + bytes > VIEW_MAX_BYTES) {
		acc->truncated = true;
		cJSON_Delete(j);
		return;
	}
	acc->n++;
	acc->bytes += bytes;
	m = cJSON_CreateObject();
	cJSON_AddNumberToObject(m, "id", (double)msg_id);
	cJSON_AddStringToObject(m, "role", role);
	content = cJSON_GetObjectItemCaseSensitive(j, "content");
	if (cJSON_IsString(content)) {
		add_cut(m, "content", content->valuestring, acc->text_max, &cut);
		cJSON_AddBoolToObject(m, "cut", cut);
	} else {
		cJSON_AddStringToObject(m, "content", "");
	}
	calls = cJSON_GetObjectItemCaseSensitive(j, "tool_calls");
	out = cJSON_AddArrayToObject(m, "tool_calls");
	cJSON_ArrayForEach(c, calls)
	{
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
		cJSON *t = cJSON_CreateObject();

		add_cut(t, "name", cJSON_IsString(name) ? name->valuestring : "?", acc->text_max,
			&cut);
		add_cut(t, "arguments", cJSON_IsString(args) ? args->valuestring : "",
			acc->text_max, &cut);
		cJSON_AddBoolToObject(t, "cut", cut);
		cJSON_AddItemToArray(out, t);
	}
	cJSON_AddItemToArray(acc->arr, m);
	cJSON_Delete(j);
}

struct spend_acc {
	cJSON *rows;
	struct spend_row total;
};

static void add_spend_row(const struct spend_row *r, void *arg)
{
	struct spend_acc *acc = arg;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "day", r->day);
	cJSON_AddStringToObject(o, "model_group", r->model_group);
	cJSON_AddNumberToObject(o, "calls", (double)r->calls);
	cJSON_AddNumberToObject(o, "input_tokens", (double)r->input_tokens);
	cJSON_AddNumberToObject(o, "cached_tokens", (double)r->cached_tokens);
	cJSON_AddNumberToObject(o, "output_tokens", (double)r->output_tokens);
	cJSON_AddNumberToObject(o, "cost_usd", r->cost_usd);
	cJSON_AddNumberToObject(o, "estimated", (double)r->estimated);
	cJSON_AddItemToArray(acc->rows, o);
	acc->total.calls += r->calls;
	acc->total.input_tokens += r->input_tokens;
	acc->total.cached_tokens += r->cached_tokens;
	acc->total.output_tokens += r->output_tokens;
	acc->total.estimated += r->estimated;
	acc->total.cost_usd += r->cost_usd;
}

static void add_usage(cJSON *root, const char *name, const struct spend_usage *su, double cap)
{
	cJSON *o = cJSON_AddObjectToObject(root, name);

	cJSON_AddNumberToObject(o, "calls", (double)su->calls);
	cJSON_AddNumberToObject(o, "input_tokens", (double)su->input_tokens);
	cJSON_AddNumberToObject(o, "cached_tokens", (double)su->cached_tokens);
	cJSON_AddNumberToObject(o, "output_tokens", (double)su->output_tokens);
	cJSON_AddNumberToObject(o, "cost_usd", su->cost_usd);
	/* The share of prompt tokens the providers served from their prompt caches. */
	cJSON_AddNumberToObject(
		o, "cache_hit_share",
		su->input_tokens ? (double)su->cached_tokens / (double)su->input_tokens : 0);
	if (cap > 0) {
		cJSON_AddNumberToObject(o, "budget_usd", cap);
		cJSON_AddNumberToObject(o, "budget_left_usd", cap - su->cost_usd);
	} else {
		cJSON_AddNullToObject(o, "budget_usd");
		cJSON_AddNullToObject(o, "budget_left_usd");
	}
}

static int read_spend(struct store *st, struct read_job *j, cJSON *root)
{
	struct spend_acc acc = {cJSON_AddArrayToObject(root, "rows"), {0}};
	struct spend_usage today = {0}, month = {0};
	cJSON *t;
	int rc;

	cJSON_AddNumberToObject(root, "days", (double)j->n);
	rc = spend_report_each(st, (int)j->n, j->now_ms, add_spend_row, &acc);
	t = cJSON_AddObjectToObject(root, "total");
	cJSON_AddNumberToObject(t, "calls", (double)acc.total.calls);
	cJSON_AddNumberToObject(t, "input_tokens", (double)acc.total.input_tokens);
	cJSON_AddNumberToObject(t, "cached_tokens", (double)acc.total.cached_tokens);
	cJSON_AddNumberToObject(t, "output_tokens", (double)acc.total.output_tokens);
	cJSON_AddNumberToObject(t, "cost_usd", acc.total.cost_usd);
	cJSON_AddNumberToObject(t, "estimated", (double)acc.total.estimated);
	if (rc == 0)
		rc = spend_usage(st, j->now_ms, &today, &month);
	add_usage(root, "today", &today, j->daily_usd);
	add_usage(root, "month", &month, j->monthly_usd);
	return rc;
}

static int read_view(struct store *st, struct read_job *j, cJSON *root)
{
	struct session_info si;
	int rc = sessions_get(st, j->n, &si);

	if (rc < 0)
		return rc;
	struct msg_acc acc = {.text_max = j->format == AS_VIEW ? VIEW_TEXT_MAX : EXPORT_TEXT_MAX};

	cJSON_AddItemToObject(root, "session", session_json(&si));
	cJSON_AddBoolToObject(root, "continuable", strcmp(si.source, CHAT_SOURCE) == 0);
	cJSON_AddStringToObject(root, "continued_in",
				strcmp(si.source, CHAT_SOURCE) == 0 ? "the cockpit"
								    : source_place(si.source));
	session_info_finish(&si);
	acc.arr = cJSON_AddArrayToObject(root, "messages");
	/* One past the cap: the query stops there, and add_message learns it was cut. */
	rc = sessions_messages_max(st, j->n, VIEW_MAX_MSGS + 1, add_message, &acc);
	cJSON_AddBoolToObject(root, "truncated", acc.truncated);
	return rc;
}

static const char *str_item(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static double num_item(const cJSON *o, const char *name)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* The session view as a Markdown document (the export). */
static char *markdown(const cJSON *root)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "session"), *m, *t;
	char date[32];
	struct buf b;

	buf_init(&b, 0);
	sessions_format_time((int64_t)num_item(s, "created_ms"), date);
	buf_printf(&b, "# %s\n\n", *str_item(s, "title") ? str_item(s, "title") : "Session");
	buf_printf(&b,
		   "- session: %.0f\n- source: %s\n- started: %s\n- model: %s\n- turns: %.0f\n"
		   "- tokens: %.0f prompt + %.0f completion\n- cost: $%.6f\n",
		   num_item(s, "id"), str_item(s, "source"), date, str_item(s, "model"),
		   num_item(s, "turns"), num_item(s, "prompt_tokens"),
		   num_item(s, "completion_tokens"), num_item(s, "cost_usd"));
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "messages"))
	{
		buf_printf(&b, "\n## %s\n\n", str_item(m, "role"));
		if (*str_item(m, "content"))
			buf_printf(&b, "%s%s\n", str_item(m, "content"),
				   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "cut"))
					   ? " [cut]"
					   : "");
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
		{
			bool cut = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "cut"));

			buf_printf(&b, "\ntool call `%s`:\n\n```json\n%s%s\n```\n",
				   str_item(t, "name"), str_item(t, "arguments"),
				   cut ? " [cut]" : "");
		}
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "truncated")))
		buf_puts(&b,
			 "\n---\n\n[truncated: the rest of the session is not in this export]\n");
	return buf_steal(&b);
}

static int read_search(struct store *st, struct read_job *j, cJSON *root)
{
	struct buf out;
	int n;

	buf_init(&out, 0);
	n = sessions_search(st, j->text, 0, SEARCH_SESSIONS, &out);
	cJSON_AddStringToObject(root, "query", j->text);
	cJSON_AddNumberToObject(root, "count", n < 0 ? 0 : n);
	cJSON_AddStringToObject(root, "text", buf_str(&out));
	buf_finish(&out);
	return n < 0 ? n : 0;
}

/* A file under home as text, never through a symlink (the memory tool refuses them too). */
static void add_file(cJSON *root, const char *name, const char *path)
{
	struct buf b;
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK), rc = -errno;

	buf_init(&b, 0);
	if (fd >= 0) {
		rc = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? 0 : -EINVAL;
		if (rc == 0)
			rc = fileio_read_fd(fd, SKILL_SHOWN_MAX, &b);
		close(fd);
	}
	if (rc == 0)
		cJSON_AddStringToObject(root, name, buf_str(&b));
	else if (rc == -ENOENT)
		cJSON_AddStringToObject(root, name, "");
	else
		cJSON_AddNullToObject(root, name); /* too large, not a file, unreadable */
	buf_finish(&b);
}

/* The last LOG_TAIL_BYTES of the file at path (closed again; a symlink or a non-regular file
 * reads as empty), NUL-terminated, or NULL when it cannot be opened. The first line may be
 * cut by the offset: the callers' line filters skip it. */
static char *read_tail(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	char *text;
	struct stat st;
	ssize_t got = 0;

	if (fd < 0)
		return NULL;
	text = xmalloc(LOG_TAIL_BYTES + 1);
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t from = st.st_size > LOG_TAIL_BYTES ? st.st_size - LOG_TAIL_BYTES : 0;

		got = pread(fd, text, LOG_TAIL_BYTES, from);
	}
	close(fd);
	text[got > 0 ? got : 0] = '\0';
	return text;
}

/* The last LOG_LINES warnings and errors of home/logs/hermetic.log (already redacted when
 * written), found in its last LOG_TAIL_BYTES: the lines' second field is the level. */
static void read_log(struct read_job *j, cJSON *root)
{
	char *path = xasprintf("%s/logs/hermetic.log", j->cfg->home);
	char *text = read_tail(path);
	cJSON *arr = cJSON_AddArrayToObject(root, "lines");
	const char *lines[LOG_LINES];
	size_t n = 0, first = 0;

	free(path);
	cJSON_AddBoolToObject(root, "file", text != NULL);
	if (!text)
		return;
	/* A ring of the last matches; the first line may be cut by the offset: it never
	 * starts with a timestamp and a level, so it does not match. */
	for (char *line = text, *end; *line; line = end) {
		char *sp = strchr(line, ' ');

		end = strchr(line, '\n');
		end = end ? end + 1 : line + strlen(line);
		if (sp && sp < end &&
		    (strncmp(sp + 1, "warn ", 5) == 0 || strncmp(sp + 1, "error", 5) == 0)) {
			if (end[-1] == '\n')
				end[-1] = '\0';
			lines[(first + n) % LOG_LINES] = line;
			if (n < LOG_LINES)
				n++;
			else
				first = (first + 1) % LOG_LINES;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *l = lines[(first + i) % LOG_LINES];
		char *cut = utf8_clip_dup(l, 1000, true);

		cJSON_AddItemToArray(arr, cJSON_CreateString(cut));
		free(cut);
	}
	free(text);
}

/* MEMORY.md or USER.md read by the memory tool's reader: its text as name and its version
 * and numbers as name_file (both null when it cannot be read). */
static void add_memory_file(cJSON *root, const struct config *cfg, bool user, const char *name)
{
	struct tools_memory_info info;
	struct buf text, err;
	char *key = xasprintf("%s_file", name);
	cJSON *o;

	buf_init(&text, 0);
	buf_init(&err, 0);
	if (tools_memory_get(cfg, user, &text, &info, &err) == 0) {
		cJSON_AddStringToObject(root, name, buf_str(&text));
		o = cJSON_AddObjectToObject(root, key);
		cJSON_AddStringToObject(o, "version", info.version);
		cJSON_AddNumberToObject(o, "chars", (double)info.chars);
		cJSON_AddNumberToObject(o, "max_chars", (double)info.max_chars);
		cJSON_AddNumberToObject(o, "entries", (double)info.entries);
	} else {
		cJSON_AddNullToObject(root, name); /* a symlink, too large, unreadable */
		cJSON_AddNullToObject(root, key);
	}
	free(key);
	buf_finish(&err);
	buf_finish(&text);
}

/* MEMORY.md, USER.md and the skills' index, as the agent would see them now. */
static void read_memory(struct read_job *j, cJSON *root)
{
	struct skill_set set = {0};
	cJSON *arr;

	add_memory_file(root, j->cfg, false, "memory");
	add_memory_file(root, j->cfg, true, "user");
	skill_set_scan(j->cfg, &set);
	arr = cJSON_AddArrayToObject(root, "skills");
	for (size_t i = 0; i < set.n; i++) {
		const struct skill *sk = &set.v[i];
		cJSON *o;

		if (sk->shadowed)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", sk->name);
		if (sk->category)
			cJSON_AddStringToObject(o, "category", sk->category);
		cJSON_AddStringToObject(o, "description", sk->description ? sk->description : "");
		if (sk->error)
			cJSON_AddStringToObject(o, "error", sk->error);
		cJSON_AddBoolToObject(o, "external", sk->root != NULL);
		cJSON_AddItemToArray(arr, o);
	}
	skill_set_finish(&set);
}

/* One skill's SKILL.md. -ENOENT when there is no usable skill of that name. */
static int read_skill(struct read_job *j, cJSON *root)
{
	struct skill_set set = {0};
	const struct skill *sk;
	char *path;
	int rc = -ENOENT;

	skill_set_scan(j->cfg, &set);
	sk = skill_set_find(&set, j->text, NULL);
	if (sk) {
		const cJSON *text;
		char v[TOOLS_VERSION_LEN + 1];

		cJSON_AddStringToObject(root, "name", sk->name);
		path = xasprintf("%s/SKILL.md", sk->path);
		add_file(root, "text", path);
		free(path);
		text = cJSON_GetObjectItemCaseSensitive(root, "text");
		if (cJSON_IsString(text)) {
			tools_edit_version(text->valuestring, strlen(text->valuestring), v);
			cJSON_AddStringToObject(root, "version", v);
		}
		cJSON_AddBoolToObject(root, "writable", sk->root == NULL);
		rc = 0;
	}
	skill_set_finish(&set);
	return rc;
}

/* A health check's last verdicts, newest first (cron_verdicts, as /jobs shows them). */
static void add_verdicts(struct store *st, const char *job, cJSON *o)
{
	struct cron_verdict v[CRON_VERDICTS_KEPT];
	size_t n = 0;
	cJSON *arr = cJSON_AddArrayToObject(o, "verdicts");

	if (cron_verdicts_list(st, job, v, CRON_VERDICTS_KEPT, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddNumberToObject(e, "time_ms", (double)v[i].time_ms);
		cJSON_AddStringToObject(e, "status", cron_status_name(v[i].status));
		cJSON_AddStringToObject(e, "summary", v[i].summary);
		cJSON_AddItemToArray(arr, e);
	}
}

/* The agent's scheduled jobs of every chat (reminders_list_all, the rows of /jobs). */
static int add_reminders(struct store *st, cJSON *root)
{
	struct reminders_job *v;
	size_t n;
	cJSON *arr = cJSON_AddArrayToObject(root, "reminders");

	if (reminders_list_all(st, &v, &n) < 0)
		return -EIO;
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "id", (double)v[i].id);
		cJSON_AddStringToObject(o, "source", v[i].source);
		cJSON_AddStringToObject(o, "title", v[i].title);
		cJSON_AddStringToObject(o, "when", v[i].when);
		cJSON_AddBoolToObject(o, "recurring", v[i].recurring);
		cJSON_AddStringToObject(o, "status", v[i].status);
		if (v[i].next_ms >= 0 && strcmp(v[i].status, "active") == 0)
			cJSON_AddNumberToObject(o, "next_ms", (double)v[i].next_ms);
		else
			cJSON_AddNullToObject(o, "next_ms");
		if (v[i].last_run_ms >= 0)
			cJSON_AddNumberToObject(o, "last_run_ms", (double)v[i].last_run_ms);
		else
			cJSON_AddNullToObject(o, "last_run_ms");
		cJSON_AddStringToObject(o, "last_status", v[i].last_status);
		cJSON_AddBoolToObject(o, "undelivered", v[i].undelivered);
		cJSON_AddItemToArray(arr, o);
	}
	free(v);
	return 0;
}

/* The config's cron jobs with their next time and the last run cron.c keeps in the store (kv
 * "cron.<name>.last_run", cron.h); health checks with their verdicts; the reminders. */
static int read_jobs(struct store *st, struct read_job *j, cJSON *root)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "cron");

	for (size_t i = 0; i < j->cfg->n_cron_jobs; i++) {
		const struct config_cron_job *cj = &j->cfg->cron_jobs[i];
		cJSON *o = cJSON_CreateObject(), *last;
		char *key = xasprintf("cron.%s.last_run", cj->name), *value = NULL;
		int64_t next_ms;

		cJSON_AddStringToObject(o, "name", cj->name);
		cJSON_AddStringToObject(o, "schedule", cj->schedule);
		cJSON_AddBoolToObject(o, "enabled", cj->enabled);
		cJSON_AddBoolToObject(o, "health_check",
				      cj->report == CONFIG_CRON_REPORT_ON_FAILURE);
		cJSON_AddBoolToObject(o, "running", j->running && j->running[i]);
		cJSON_AddStringToObject(o, "model", cj->model ? cj->model : "");
		cJSON_AddStringToObject(o, "deliver", cj->deliver.target ? cj->deliver.target : "");
		if (cj->enabled && cron_next_run(cj, j->now_ms, &next_ms) == 0)
			cJSON_AddNumberToObject(o, "next_ms", (double)next_ms);
		else
			cJSON_AddNullToObject(o, "next_ms");
		last = store_kv_get(st, key, &value) == 0 ? json_parse_str(value, NULL) : NULL;
		if (cJSON_IsObject(last))
			cJSON_AddItemToObject(o, "last", last);
		else
			cJSON_AddNullToObject(o, "last");
		if (last && !cJSON_IsObject(last))
			cJSON_Delete(last);
		free(value);
		free(key);
		if (cj->report == CONFIG_CRON_REPORT_ON_FAILURE)
			add_verdicts(st, cj->name, o);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(root, "reminders_enabled", j->cfg->reminders.enabled);
	if (!j->cfg->reminders.enabled) {
		cJSON_AddArrayToObject(root, "reminders");
		return 0;
	}
	return add_reminders(st, root);
}

/* The last AUDIT_LINES lines of home/logs/audit.jsonl (the file `hermetic audit tail` reads
 * last; rotated files are not searched), found in its last LOG_TAIL_BYTES, as objects. */
static void read_audit(struct read_job *j, cJSON *root)
{
	char *path = xasprintf("%s/logs/audit.jsonl", j->cfg->home);
	char *text = read_tail(path);
	cJSON *arr;
	const char *lines[AUDIT_LINES];
	size_t n = 0, first = 0;

	free(path);
	cJSON_AddBoolToObject(root, "enabled", j->cfg->audit.enabled);
	cJSON_AddBoolToObject(root, "file", text != NULL);
	arr = cJSON_AddArrayToObject(root, "lines");
	if (!text)
		return;
	/* Only whole lines: a line cut by the offset is not JSON and is skipped below. */
	for (char *line = text, *end; *line; line = end) {
		end = strchr(line, '\n');
		if (!end)
			break; /* a line being written */
		*end++ = '\0';
		lines[(first + n) % AUDIT_LINES] = line;
		if (n < AUDIT_LINES)
			n++;
		else
			first = (first + 1) % AUDIT_LINES;
	}
	for (size_t i = 0; i < n; i++) {
		cJSON *o = json_parse_str(lines[(first + i) % AUDIT_LINES], NULL);

		if (cJSON_IsObject(o))
			cJSON_AddItemToArray(arr, o);
		else
			cJSON_Delete(o);
	}
	free(text);
}

static void read_work(void *arg)
{
	struct read_job *j = arg;
	cJSON *root = cJSON_CreateObject();
	struct store *st;
	char err[512];
	int rc;

	if (j->kind == READ_MEMORY || j->kind == READ_SKILL || j->kind == READ_LOG ||
	    j->kind == READ_AUDIT) {
		rc = 0;
		if (j->kind == READ_MEMORY)
			read_memory(j, root);
		else if (j->kind == READ_LOG)
			read_log(j, root);
		else if (j->kind == READ_AUDIT)
			read_audit(j, root);
		else
			rc = read_skill(j, root);
		j->status = rc == 0 ? 200 : 404;
		if (rc < 0)
			cJSON_AddStringToObject(root, "error", "no such skill");
		goto out;
	}
	if (store_open_reader(j->db_path, &st, err, sizeof(err)) < 0) {
		j->status = 503;
		cJSON_AddStringToObject(root, "error", err);
		goto out;
	}
	switch (j->kind) {
	case READ_LIST:
		rc = sessions_list(st, (int)j->n, add_session,
				   cJSON_AddArrayToObject(root, "sessions"));
		break;
	case READ_SEARCH:
		rc = read_search(st, j, root);
		break;
	case READ_VIEW:
		rc = read_view(st, j, root);
		break;
	case READ_JOBS:
		rc = read_jobs(st, j, root);
		break;
	default:
		rc = read_spend(st, j, root);
		break;
	}
	store_close(st);
	j->status = rc == 0 ? 200 : rc == -ENOENT ? 404 : 500;
	if (rc < 0) {
		cJSON_Delete(root);
		root = cJSON_CreateObject();
		cJSON_AddStringToObject(root, "error",
					rc == -ENOENT ? "no such session"
						      : "reading state.db failed (see the log)");
	}
out:
	if (j->status == 200 && j->format == AS_MARKDOWN_FILE)
		j->answer = markdown(root);
	else
		j->answer = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
}

static void read_free(void *arg)
{
	struct read_job *j = arg;

	free(j->answer);
	free(j->db_path);
	free(j->running);
	free(j);
}

static void read_done(void *arg)
{
	struct read_job *j = arg;
	char disp[96];

	if (j->status != 200 || j->format == AS_VIEW) {
		reply_json_text(j->req, j->status, j->answer, strlen(j->answer));
	} else {
		snprintf(disp, sizeof(disp), "attachment; filename=\"session-%lld.%s\"",
			 (long long)j->n, j->format == AS_MARKDOWN_FILE ? "md" : "json");
		page_headers(j->req);
		httpd_add_header(j->req, "Content-Disposition", disp);
		httpd_add_header(j->req, "Cache-Control", "no-store");
		httpd_reply(j->req, 200,
			    j->format == AS_MARKDOWN_FILE ? "text/markdown; charset=utf-8"
							  : "application/json",
			    j->answer, strlen(j->answer));
	}
	read_free(j);
}

static void start_read(struct ui *u, struct httpd_req *req, struct read_job *tmpl)
{
	struct read_job *j = xmalloc(sizeof(*j));

	*j = *tmpl;
	j->req = req;
	j->db_path = xstrdup(u->db_path);
	j->cfg = u->cfg;
	j->now_ms = now_wall_ms();
	j->daily_usd = u->cfg->budget.daily_usd;
	j->monthly_usd = u->cfg->budget.monthly_usd;
	if (offload_run(u->work, read_work, read_done, read_free, j) < 0) {
		read_free(j);
		httpd_add_header(req, "Retry-After", "1");
		reply_error(req, 503, "the cockpit is busy with other reads; retry in a moment");
	}
}

static int64_t query_int(struct httpd_req *req, const char *name, int64_t def, int64_t min,
			 int64_t max, bool *bad)
{
	char v[24];
	int64_t n;

	if (!ui_query_param(httpd_query(req), name, v, sizeof(v)))
		return def;
	if (parse_i64(v, min, max, &n) < 0) {
		*bad = true;
		return def;
	}
	return n;
}

static void on_sessions(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_LIST};
	bool bad = false;

	if (!gate(u, req))
		return;
	j.n = query_int(req, "limit", LIST_DEFAULT, 1, LIST_MAX, &bad);
	if (bad) {
		reply_error(req, 400, "limit must be a whole number from 1 to 200");
		return;
	}
	if (ui_query_param(httpd_query(req), "q", j.text, sizeof(j.text))) {
		if (j.text[0])
			j.kind = READ_SEARCH;
	} else if (ui_query_param(httpd_query(req), "q", NULL, 0)) {
		reply_error(req, 400, "q: at most 255 bytes of search words");
		return;
	}
	start_read(u, req, &j);
}

static void on_session(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_VIEW};
	bool bad = false;
	char format[16] = "";

	if (!gate(u, req))
		return;
	j.n = query_int(req, "id", 0, 1, INT64_MAX, &bad);
	ui_query_param(httpd_query(req), "export", format, sizeof(format));
	if (strcmp(format, "md") == 0)
		j.format = AS_MARKDOWN_FILE;
	else if (strcmp(format, "json") == 0)
		j.format = AS_JSON_FILE;
	else if (format[0])
		bad = true;
	if (bad || j.n == 0) {
		reply_error(req, 400, "expected ?id=<session id>[&export=md|json]");
		return;
	}
	start_read(u, req, &j);
}

static void on_spend(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_SPEND};
	bool bad = false;

	if (!gate(u, req))
		return;
	j.n = query_int(req, "days", SPEND_DAYS, 1, SPEND_REPORT_MAX_DAYS, &bad);
	if (bad) {
		reply_error(req, 400, "days must be a whole number from 1 to 3660");
		return;
	}
	start_read(u, req, &j);
}

static void on_memory(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_MEMORY};

	if (!gate(u, req))
		return;
	start_read(u, req, &j);
}

static void on_log(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_LOG};

	if (!gate(u, req))
		return;
	start_read(u, req, &j);
}

static void on_audit(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_AUDIT};

	if (!gate(u, req))
		return;
	start_read(u, req, &j);
}

static void on_jobs(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_JOBS};
	size_t n = u->cfg->n_cron_jobs;

	if (!gate(u, req))
		return;
	/* cron's state lives on the loop: seen here, copied to the thread */
	j.running = xcalloc(n ? n : 1, sizeof(*j.running));
	for (size_t i = 0; i < n; i++)
		j.running[i] = cron_job_running(u->env.cron, u->cfg->cron_jobs[i].name);
	start_read(u, req, &j);
}

static void on_skill(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_SKILL};

	if (!gate(u, req))
		return;
	if (!ui_query_param(httpd_query(req), "name", j.text, sizeof(j.text)) || !j.text[0]) {
		reply_error(req, 400, "expected ?name=<skill>");
		return;
	}
	start_read(u, req, &j);
}

/* ---- in-memory state: breaker and health (on the loop, no I/O) -------------------------- */

static cJSON *breaker_json(struct ui *u)
{
	cJSON *o = cJSON_CreateObject();
	struct breaker_state bs = {0};
	char until[64] = "";

	if (u->env.breaker)
		breaker_state(u->env.breaker, now_mono_ms(), &bs);
	if (bs.open && bs.until_ms)
		breaker_format_time(bs.until_ms, until, sizeof(until));
	cJSON_AddBoolToObject(o, "enabled", bs.enabled);
	cJSON_AddBoolToObject(o, "open", bs.open);
	cJSON_AddStringToObject(o, "why", bs.why);
	cJSON_AddStringToObject(o, "until", until);
	cJSON_AddNumberToObject(o, "trips", (double)bs.trips);
	cJSON_AddNumberToObject(o, "refused", (double)bs.refused);
	cJSON_AddNumberToObject(o, "calls_in_window", (double)bs.calls_in_window);
	cJSON_AddNumberToObject(o, "cost_in_window_usd", bs.cost_in_window_usd);
	return o;
}

static void on_breaker(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;

	if (!gate(u, req))
		return;
	reply_json(req, 200, breaker_json(u));
}

static void on_breaker_resume(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;

	if (!gate(u, req))
		return;
	if (u->env.breaker && breaker_resume(u->env.breaker, now_mono_ms()))
		log_info("bleed breaker closed from the cockpit (%s)", httpd_peer(req));
	reply_json(req, 200, breaker_json(u));
}

static void on_health(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct daemon *d = u->env.d;
	cJSON *root, *o, *arr;
	char why[256] = "";
	bool ready;

	if (!gate(u, req))
		return;
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "version", version_string());
	cJSON_AddStringToObject(root, "revision", version_revision());
	cJSON_AddNumberToObject(root, "uptime_s",
				(double)((now_wall_ms() - d->start_wall_ms) / 1000));
	ready = !d->stopping && (!d->ready || d->ready(d->ready_arg, why, sizeof(why)));
	cJSON_AddBoolToObject(root, "ready", ready);
	cJSON_AddStringToObject(root, "ready_why", d->stopping ? "stopping" : why);
	if (u->env.tg) {
		o = cJSON_AddObjectToObject(root, "telegram");
		why[0] = '\0';
		cJSON_AddBoolToObject(o, "ready", telegram_ready(u->env.tg, why, sizeof(why)));
		cJSON_AddStringToObject(o, "why", why);
		cJSON_AddNumberToObject(o, "poll_age_ms", (double)telegram_poll_age_ms(u->env.tg));
	} else {
		cJSON_AddNullToObject(root, "telegram");
	}
	arr = cJSON_AddArrayToObject(root, "mcp");
	for (size_t i = 0; u->env.mcp && i < mcp_n_servers(u->env.mcp); i++) {
		struct mcp_server_info si;

		mcp_server_info(u->env.mcp, i, &si);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", si.name);
		cJSON_AddStringToObject(o, "transport", si.transport);
		cJSON_AddStringToObject(o, "state", si.state);
		cJSON_AddNumberToObject(o, "tools", (double)si.n_tools);
		if (si.error)
			cJSON_AddStringToObject(o, "error", si.error);
		cJSON_AddItemToArray(arr, o);
	}
	o = cJSON_AddObjectToObject(root, "sandbox");
	cJSON_AddStringToObject(o, "seccomp", sandbox_status());
	cJSON_AddStringToObject(o, "landlock", landlock_state());
	cJSON_AddItemToObject(root, "breaker", breaker_json(u));
	cJSON_AddNumberToObject(root, "ui_sessions",
				(double)uiauth_sessions(u->auth, now_mono_ms()));
	reply_json(req, 200, root);
}

/* ---- actions: the same calls as Telegram's buttons (on the loop) ------------------------- */

/* The POST's JSON object, or NULL with req answered 400 (say: what was expected). */
static cJSON *body_object(struct httpd_req *req, const char *say)
{
	struct json_error err;
	cJSON *root = body_json(req, &err);

	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		reply_error(req, 400, !root && err.duplicate ? err.msg : say);
		return NULL;
	}
	return root;
}

static bool int_item(const cJSON *o, const char *name, int64_t min, int64_t max, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return false;
	*out = (int64_t)v->valuedouble;
	return true;
}

static cJSON *question_json(const struct tools_question *q)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	char id[17];

	snprintf(id, sizeof(id), "%016llx", (unsigned long long)q->id);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "kind", q->kind == TOOLS_Q_APPROVAL ? "approval" : "ask");
	cJSON_AddStringToObject(o, "source", q->source);
	cJSON_AddStringToObject(o, "session_id", q->session_id ? q->session_id : "");
	cJSON_AddStringToObject(o, "text", q->text);
	arr = cJSON_AddArrayToObject(o, "choices");
	for (size_t i = 0; i < q->n_choices; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(q->choices[i]));
	cJSON_AddNumberToObject(o, "asked_ms", (double)q->asked_ms);
	cJSON_AddNumberToObject(o, "expires_ms", (double)(q->asked_ms + q->timeout_s * 1000));
	return o;
}

static void add_question(const struct tools_question *q, void *arg)
{
	cJSON_AddItemToArray(arg, question_json(q));
}

static void on_approvals(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	cJSON *root, *arr;

	if (!gate(u, req))
		return;
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "questions");

	if (u->env.tools)
		tools_questions_each(u->env.tools, add_question, arr);
	reply_json(req, 200, root);
}

/* The question's id as the page has it: 16 hex digits. */
static bool parse_question_id(const char *s, uint64_t *id)
{
	uint64_t v = 0;

	if (!s || strlen(s) != 16)
		return false;
	for (const char *p = s; *p; p++) {
		int d = hex_digit(*p);

		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return v != 0;
}

/* As a press of the question's button in Telegram: tools_answer, which takes the first answer
 * only (Telegram's later press, or ours after its, finds nothing). */
static void on_approval_answer(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	cJSON *root;
	uint64_t id;
	int64_t choice;
	int rc;

	if (!gate(u, req))
		return;
	root = body_object(req, "expected {\"id\": \"<16 hex digits>\", \"choice\": <index>}");
	if (!root)
		return;
	if (!parse_question_id(str_item(root, "id"), &id) ||
	    !int_item(root, "choice", 0, 15, &choice)) {
		cJSON_Delete(root);
		reply_error(req, 400,
			    "expected {\"id\": \"<16 hex digits>\", \"choice\": <index>}");
		return;
	}
	cJSON_Delete(root);
	rc = u->env.tools ? tools_answer(u->env.tools, id, (size_t)choice) : -ENOENT;
	if (rc == -EINVAL) {
		reply_error(req, 400, "no such choice for this question");
		return;
	}
	if (rc < 0) {
		reply_error(req, 409,
			    "this question was already answered, timed out, or is unknown");
		return;
	}
	log_info("ui: question %016llx answered from the cockpit (choice %lld, %s)",
		 (unsigned long long)id, (long long)choice, httpd_peer(req));
	reply_json_text(req, 200, "{\"answered\":true}", 17);
}

/* As cron's timer would run the job (cron_run_now); refused while a run of it is going. */
static void on_job_run(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	cJSON *root;
	char *name;
	int rc;

	if (!gate(u, req))
		return;
	root = body_object(req, "expected {\"name\": \"<cron job>\"}");
	if (!root)
		return;
	name = xstrdup(str_item(root, "name"));
	cJSON_Delete(root);
	rc = cron_run_now(u->env.cron, name);
	if (rc == 0) {
		log_info("ui: cron %s started from the cockpit (%s)", name, httpd_peer(req));
		reply_json_text(req, 200, "{\"started\":true}", 16);
	} else if (rc == -ENOENT) {
		reply_error(req, 404, "no enabled cron job of that name");
	} else if (rc == -EBUSY) {
		reply_error(req, 409, "a run of this job is still going");
	} else if (rc == -EAGAIN) {
		httpd_add_header(req, "Retry-After", "2");
		reply_error(req, 503, "state.db is locked by another process; try again");
	} else {
		reply_error(req, 500, "the run could not start (see the log)");
	}
	free(name);
}

/* Pause, resume or delete a reminder: the functions Telegram's /jobs buttons call, with the
 * job's chat (source) as they pass it. */
static void reminder_action(struct httpd_req *req, struct ui *u, bool del)
{
	cJSON *root;
	const cJSON *paused;
	int64_t id;
	char *source;
	struct buf out;
	int rc;

	if (!gate(u, req))
		return;
	root = body_object(req, "expected {\"id\": N, \"source\": \"...\"}");
	if (!root)
		return;
	paused = cJSON_GetObjectItemCaseSensitive(root, "paused");
	if (!int_item(root, "id", 1, INT64_MAX / 2, &id) || !*str_item(root, "source") ||
	    (!del && !cJSON_IsBool(paused))) {
		cJSON_Delete(root);
		reply_error(
			req, 400,
			del ? "expected {\"id\": N, \"source\": \"...\"}"
			    : "expected {\"id\": N, \"source\": \"...\", \"paused\": true|false}");
		return;
	}
	if (!u->env.reminders) {
		cJSON_Delete(root);
		reply_error(req, 404, "reminders are off (reminders.enabled)");
		return;
	}
	source = xstrdup(str_item(root, "source"));
	buf_init(&out, 0);
	rc = del ? reminders_delete(u->env.reminders, source, id, &out)
		 : reminders_pause(u->env.reminders, source, id, cJSON_IsTrue(paused), &out);
	cJSON_Delete(root);
	if (rc == 0) {
		cJSON *o = cJSON_CreateObject();

		log_info("ui: reminder %lld of %s %s from the cockpit", (long long)id, source,
			 del ? "deleted" : "changed");
		cJSON_AddStringToObject(o, "text", buf_str(&out));
		reply_json(req, 200, o);
	} else {
		reply_error(req, rc == -ENOENT ? 404 : 500, buf_str(&out));
	}
	buf_finish(&out);
	free(source);
}

static void on_reminder_pause(struct httpd_req *req, void *arg)
{
	reminder_action(req, arg, false);
}

static void on_reminder_delete(struct httpd_req *req, void *arg)
{
	reminder_action(req, arg, true);
}

/* The balance watch's last reads (alerts_balances): no request of ours. */
/* ---- the owner's edits of memory and skills (off the loop: the writes fsync) ------------ */

enum edit_kind { EDIT_MEMORY, EDIT_USER, EDIT_SKILL_CREATE, EDIT_SKILL_SAVE, EDIT_SKILL_DELETE };

static const struct {
	const char *target; /* the audit line's */
	const char *action;
} edit_names[] = {
	[EDIT_MEMORY] = {"MEMORY.md", "replace"},  [EDIT_USER] = {"USER.md", "replace"},
	[EDIT_SKILL_CREATE] = {"skill", "create"}, [EDIT_SKILL_SAVE] = {"skill", "replace"},
	[EDIT_SKILL_DELETE] = {"skill", "delete"},
};

struct edit_job {
	struct httpd_req *req;
	const struct config *cfg;
	enum edit_kind kind;
	char *name, *text, *version; /* copied from the body; NULL when absent */
	int rc;
	char new_version[TOOLS_VERSION_LEN + 1];
	struct buf out; /* the tools' answer, or why not */
};

/* The tools' own writers, with their checks and messages (tools.h, "The owner's edits"). */
static void edit_work(void *arg)
{
	struct edit_job *j = arg;
	struct tools_memory_info info;
	static const enum tools_skill_edit what[] = {
		[EDIT_SKILL_CREATE] = TOOLS_SKILL_CREATE,
		[EDIT_SKILL_SAVE] = TOOLS_SKILL_REPLACE,
		[EDIT_SKILL_DELETE] = TOOLS_SKILL_DELETE,
	};

	if (j->kind == EDIT_MEMORY || j->kind == EDIT_USER) {
		j->rc = tools_memory_put(j->cfg, j->kind == EDIT_USER, j->text, j->version, &info,
					 &j->out);
		if (j->rc == 0)
			memcpy(j->new_version, info.version, sizeof(j->new_version));
	} else {
		j->rc = tools_skill_edit(j->cfg, what[j->kind], j->name, j->text, j->version,
					 j->new_version, &j->out);
	}
}

/* The edit's line of the audit trail: who (the cockpit), what, how it ended; the text only as
 * its hash, as a tool call's arguments. */
static void edit_audit(const struct edit_job *j)
{
	struct audit_line l;

	audit_begin(&l, "edit");
	if (!l.on)
		return;
	audit_str(&l, "source", "ui:cockpit");
	audit_str(&l, "target", edit_names[j->kind].target);
	audit_str(&l, "action", edit_names[j->kind].action);
	audit_str(&l, "name", j->name);
	if (j->text)
		audit_hash(&l, "text_sha256", j->text, strlen(j->text));
	audit_str(&l, "outcome",
		  j->rc == 0	     ? "ok"
		  : j->rc == -ESTALE ? "conflict"
		  : j->rc == -EINVAL || j->rc == -E2BIG || j->rc == -EEXIST || j->rc == -EPERM ||
				  j->rc == -ENOENT
			  ? "refused"
			  : "error");
	if (j->rc < 0)
		audit_str(&l, "error", buf_str(&j->out));
	audit_end(&l);
}

static void edit_free(void *arg)
{
	struct edit_job *j = arg;

	free(j->name);
	free(j->text);
	free(j->version);
	buf_finish(&j->out);
	free(j);
}

static int edit_status(int rc)
{
	switch (rc) {
	case 0:
		return 200;
	case -ESTALE:
	case -EEXIST:
		return 409;
	case -EINVAL:
	case -E2BIG:
		return 422;
	case -ENOENT:
		return 404;
	case -EPERM:
		return 403;
	default:
		return 500;
	}
}

static void edit_done(void *arg)
{
	struct edit_job *j = arg;
	cJSON *o;

	edit_audit(j);
	if (j->rc == 0) {
		log_info("ui: %s %s%s%s from the cockpit (%s)", edit_names[j->kind].action,
			 edit_names[j->kind].target, j->name ? " " : "", j->name ? j->name : "",
			 httpd_peer(j->req));
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "text", buf_str(&j->out));
		cJSON_AddStringToObject(o, "version", j->new_version);
		reply_json(j->req, 200, o);
	} else {
		reply_error(j->req, edit_status(j->rc), buf_str(&j->out));
	}
	edit_free(j);
}

/* The gateway stops with the edit written or refused: the trail still records it. */
static void edit_abandon(void *arg)
{
	edit_audit(arg);
	edit_free(arg);
}

/* A string item copied, NULL when absent; false (req answered 400) when it is not a string. */
static bool copy_item(struct httpd_req *req, const cJSON *o, const char *name, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return true;
	if (cJSON_IsString(v)) {
		*out = xstrdup(v->valuestring);
		return true;
	}
	reply_error(req, 400, "expected a string");
	return false;
}

static void edit(struct httpd_req *req, struct ui *u, enum edit_kind kind)
{
	static const char *const expect[] = {
		[EDIT_MEMORY] = "expected {\"target\": \"memory\"|\"user\", \"text\", \"version\"}",
		[EDIT_SKILL_CREATE] = "expected {\"name\", \"text\"}",
		[EDIT_SKILL_SAVE] = "expected {\"name\", \"text\", \"version\"}",
		[EDIT_SKILL_DELETE] = "expected {\"name\", \"version\"}",
	};
	const char *say = expect[kind];
	struct edit_job *j;
	const char *target;
	size_t len = 0;
	cJSON *root;

	if (!gate(u, req))
		return;
	httpd_body_ref(req, &len);
	if (len > EDIT_BODY_MAX) {
		reply_error(req, 413, "the edit is larger than 512 KiB");
		return;
	}
	root = body_object(req, say);
	if (!root)
		return;
	j = xcalloc(1, sizeof(*j));
	j->cfg = u->cfg;
	j->kind = kind;
	buf_init(&j->out, 0);
	if (kind == EDIT_MEMORY) {
		target = str_item(root, "target");
		j->kind = strcmp(target, "user") == 0 ? EDIT_USER : EDIT_MEMORY;
		if (strcmp(target, "user") != 0 && strcmp(target, "memory") != 0) {
			reply_error(req, 400, say);
			goto fail;
		}
	}
	if (!copy_item(req, root, "name", &j->name) || !copy_item(req, root, "text", &j->text) ||
	    !copy_item(req, root, "version", &j->version))
		goto fail;
	if ((kind == EDIT_MEMORY && (!j->text || !j->version)) ||
	    (kind != EDIT_MEMORY && !j->name) ||
	    (kind != EDIT_SKILL_DELETE && kind != EDIT_MEMORY && !j->text) ||
	    (kind != EDIT_SKILL_CREATE && !j->version)) {
		reply_error(req, 400, say);
		goto fail;
	}
	cJSON_Delete(root);
	j->req = req;
	if (offload_run(u->work, edit_work, edit_done, edit_abandon, j) < 0) {
		edit_free(j);
		httpd_add_header(req, "Retry-After", "1");
		reply_error(req, 503, "the cockpit is busy with other work; retry in a moment");
	}
	return;
fail:
	cJSON_Delete(root);
	edit_free(j);
}

static void on_memory_save(struct httpd_req *req, void *arg)
{
	edit(req, arg, EDIT_MEMORY);
}

static void on_skill_create(struct httpd_req *req, void *arg)
{
	edit(req, arg, EDIT_SKILL_CREATE);
}

static void on_skill_save(struct httpd_req *req, void *arg)
{
	edit(req, arg, EDIT_SKILL_SAVE);
}

static void on_skill_delete(struct httpd_req *req, void *arg)
{
	edit(req, arg, EDIT_SKILL_DELETE);
}

static void on_balances(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct alerts_balance v[BALANCES_MAX];
	size_t n;
	cJSON *root, *arr;

	if (!gate(u, req))
		return;
	n = alerts_balances(u->env.alerts, v, BALANCES_MAX);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "balances");
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "provider", v[i].provider);
		cJSON_AddStringToObject(o, "account", v[i].account);
		cJSON_AddBoolToObject(o, "read", v[i].read);
		cJSON_AddBoolToObject(o, "ok", v[i].ok);
		if (v[i].read)
			cJSON_AddNumberToObject(o, "read_ms", (double)v[i].read_ms);
		if (v[i].read && !v[i].ok)
			cJSON_AddStringToObject(o, "error", v[i].error);
		if (v[i].ok) {
			const struct balance *b = &v[i].b;

			if (b->has_remaining)
				cJSON_AddNumberToObject(o, "remaining_usd", b->remaining_usd);
			if (b->has_limit)
				cJSON_AddNumberToObject(o, "limit_usd", b->limit_usd);
			if (strcmp(v[i].provider, "openrouter") == 0)
				cJSON_AddNumberToObject(o, "usage_usd", b->usage_usd);
			if (b->cny >= 0)
				cJSON_AddNumberToObject(o, "cny", b->cny);
			cJSON_AddBoolToObject(o, "available", b->available);
		}
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddNumberToObject(root, "interval_s", (double)u->cfg->alerts.balance_interval_s);
	reply_json(req, 200, root);
}

/* ---- chat: an agent turn streamed as server-sent events ---------------------------------- */

#define CHAT_MAX_BYTES	(32 * 1024) /* a message */
#define TOOL_RESULT_MAX 2000	    /* characters of a tool result shown */
#define CHAT_QUESTIONS	8	    /* questions of one turn followed to their close */

/* One turn in flight; freed in its on_done. Touches neither the ui nor the agent from its
 * callbacks (they may fire while the gateway shuts down, after ui_destroy). */
struct chat_run {
	struct ui *u; /* NULL once the ui is gone */
	struct httpd_req *req;
	struct agent_turn *turn;
	size_t sent;			/* bytes of the current model call's text already sent */
	uint64_t asked[CHAT_QUESTIONS]; /* its questions still out */
	size_t n_asked;
};

static void send_event(struct httpd_req *req, const char *name, cJSON *data)
{
	char *s = cJSON_PrintUnformatted(data);
	struct buf b;

	buf_init(&b, 0);
	buf_printf(&b, "event: %s\ndata: %s\n\n", name, s);
	httpd_reply_chunk(req, b.data, b.len);
	buf_finish(&b);
	free(s);
	cJSON_Delete(data);
}

static void chat_text(const char *so_far, size_t len, void *arg)
{
	struct chat_run *c = arg;
	cJSON *d;
	char *delta;

	if (len < c->sent)
		c->sent = 0; /* a new model call (after tool results) starts from "" */
	if (len == c->sent)
		return;
	delta = xmalloc(len - c->sent + 1);
	memcpy(delta, so_far + c->sent, len - c->sent);
	delta[len - c->sent] = '\0';
	c->sent = len;
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "delta", delta);
	free(delta);
	send_event(c->req, "text", d);
}

static void chat_tool_call(const char *name, const char *args, void *arg)
{
	struct chat_run *c = arg;
	cJSON *d = cJSON_CreateObject();

	c->sent = 0;
	cJSON_AddStringToObject(d, "name", name);
	cJSON_AddStringToObject(d, "arguments", args ? args : "");
	send_event(c->req, "tool_call", d);
}

static void chat_tool_result(const char *name, bool is_error, const char *text, size_t len,
			     void *arg)
{
	struct chat_run *c = arg;
	cJSON *d = cJSON_CreateObject();
	struct buf shown_buf;
	size_t cut;
	char *shown;

	buf_init(&shown_buf, 0);
	cut = utf8_clip(&shown_buf, text, len, TOOL_RESULT_MAX, false);
	shown = buf_steal(&shown_buf);
	c->sent = 0;
	cJSON_AddStringToObject(d, "name", name);
	cJSON_AddBoolToObject(d, "is_error", is_error);
	cJSON_AddStringToObject(d, "text", shown);
	cJSON_AddBoolToObject(d, "cut", cut < len);
	free(shown);
	send_event(c->req, "tool_result", d);
}

static const char *stop_name(enum agent_stop stop)
{
	switch (stop) {
	case AGENT_DONE:
		return "done";
	case AGENT_CANCELLED:
		return "cancelled";
	case AGENT_FAILED:
		return "failed";
	default:
		return "limit";
	}
}

static void chat_done(const struct agent_result *r, void *arg)
{
	struct chat_run *c = arg;
	cJSON *d = cJSON_CreateObject();

	httpd_on_close(c->req, NULL, NULL);
	if (c->u)
		c->u->chat = NULL;
	cJSON_AddStringToObject(d, "stop", stop_name(r->stop));
	cJSON_AddStringToObject(d, "text", r->text ? r->text : "");
	cJSON_AddNumberToObject(d, "session_id", (double)r->session_id);
	cJSON_AddStringToObject(d, "model", r->model ? r->model : "");
	cJSON_AddNumberToObject(d, "model_calls", r->model_calls);
	cJSON_AddNumberToObject(d, "tool_calls", r->tool_calls);
	cJSON_AddNumberToObject(d, "prompt_tokens", (double)r->prompt_tokens);
	cJSON_AddNumberToObject(d, "completion_tokens", (double)r->completion_tokens);
	cJSON_AddNumberToObject(d, "cost_usd", r->cost_usd);
	send_event(c->req, "done", d);
	httpd_reply_end(c->req);
	free(c);
}

static const struct agent_cbs chat_cbs = {.on_tool_call = chat_tool_call,
					  .on_tool_result = chat_tool_result,
					  .on_done = chat_done,
					  .on_text = chat_text};

/* The asker of the cockpit's own turns: their questions go into the chat's stream as
 * `question` events and end with `question_closed`; the page answers through
 * /v1/ui/approvals/answer. Other sources' questions are not taken (Telegram asks those), but
 * /v1/ui/approvals lists them all. */
static int ui_ask(const struct tools_question *q, void *arg)
{
	struct ui *u = arg;
	struct chat_run *c = u->chat;

	if (!c || strcmp(q->source, CHAT_SOURCE) != 0)
		return -ENOENT;
	if (c->n_asked < CHAT_QUESTIONS)
		c->asked[c->n_asked++] = q->id;
	c->sent = 0;
	send_event(c->req, "question", question_json(q));
	return 0;
}

static void ui_question_closed(uint64_t id, const char *outcome, void *arg)
{
	struct ui *u = arg;
	struct chat_run *c = u->chat;
	cJSON *d;
	char hex[17];

	for (size_t i = 0; c && i < c->n_asked; i++) {
		if (c->asked[i] != id)
			continue;
		c->asked[i] = c->asked[--c->n_asked];
		snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)id);
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "id", hex);
		cJSON_AddStringToObject(d, "outcome", outcome);
		send_event(c->req, "question_closed", d);
		return;
	}
}

static const struct tools_asker ui_asker = {ui_ask, ui_question_closed};

static void chat_client_gone(struct httpd_req *req, void *arg)
{
	struct chat_run *c = arg;

	if (c->turn)
		agent_cancel(c->turn);
}

/* POST /v1/ui/chat's session_id: an earlier session of the cockpit becomes its current one
 * (sessions_reopen) before the turn loads it. False with req answered when it cannot. */
static bool continue_session(struct ui *u, struct httpd_req *req, int64_t id)
{
	struct store *st = u->env.d->store;
	struct session_info si;
	char msg[256];
	int rc;

	if (agent_find(u->env.agent, CHAT_SOURCE)) {
		reply_error(req, 409, "a turn is already running: stop it or wait");
		return false;
	}
	rc = sessions_get(st, id, &si);
	if (rc == 0 && strcmp(si.source, CHAT_SOURCE) != 0) {
		snprintf(msg, sizeof(msg),
			 "session %lld belongs to %s (%s): it can be read or exported here, but "
			 "continued only there",
			 (long long)id, source_place(si.source), si.source);
		session_info_finish(&si);
		reply_error(req, 409, msg);
		return false;
	}
	session_info_finish(&si);
	if (rc == 0)
		rc = sessions_reopen(st, id, CHAT_SOURCE);
	if (rc == -ENOENT) {
		reply_error(req, 404, "no such session");
		return false;
	}
	if (rc < 0) {
		reply_error(req, 503, "the session could not be re-opened (is state.db locked?)");
		return false;
	}
	log_info("ui: the cockpit continues session %lld (%s)", (long long)id, httpd_peer(req));
	return true;
}

static void on_chat(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct json_error jerr;
	cJSON *root;
	const cJSON *msg, *sid;
	struct chat_run *c;
	int64_t id = 0;
	int rc;

	if (!gate(u, req))
		return;
	if (!u->env.agent || !u->cfg->model) {
		reply_error(req, 503, "no model: add a model_list to the config");
		return;
	}
	root = body_json(req, &jerr);
	msg = cJSON_GetObjectItemCaseSensitive(root, "message");
	if (!cJSON_IsString(msg) || !msg->valuestring[0] ||
	    strlen(msg->valuestring) > CHAT_MAX_BYTES) {
		cJSON_Delete(root);
		reply_error(req, 400,
			    !root && jerr.duplicate
				    ? jerr.msg
				    : "expected {\"message\": \"...\"} (at most 32 KiB)");
		return;
	}
	sid = cJSON_GetObjectItemCaseSensitive(root, "session_id");
	if (sid && !cJSON_IsNull(sid) && !int_item(root, "session_id", 1, INT64_C(1) << 53, &id)) {
		cJSON_Delete(root);
		reply_error(req, 400, "session_id: expected a session's id");
		return;
	}
	if (id && !continue_session(u, req, id)) {
		cJSON_Delete(root);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->u = u;
	c->req = req;
	rc = agent_turn(u->env.agent, &(struct agent_turn_opts){.source = CHAT_SOURCE},
			msg->valuestring, &chat_cbs, c, &c->turn);
	cJSON_Delete(root);
	if (rc < 0) {
		free(c);
		reply_error(req, rc == -EBUSY ? 409 : 503,
			    rc == -EBUSY ? "a turn is already running: stop it or wait"
					 : "the turn could not start (is state.db locked?)");
		return;
	}
	/* no-cache, not no-store: Chromium reports a no-store fetch stream read to its end with a
	 * reader as aborted (microsoft/playwright#42742); a POST's answer is not cached anyway. */
	httpd_add_header(req, "Cache-Control", "no-cache");
	httpd_add_header(req, "X-Content-Type-Options", "nosniff");
	httpd_reply_start(req, 200, "text/event-stream");
	httpd_on_close(req, chat_client_gone, c);
	u->chat = c;
}

static void on_chat_stop(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct agent_turn *t;
	cJSON *root;

	if (!gate(u, req))
		return;
	t = u->env.agent ? agent_find(u->env.agent, CHAT_SOURCE) : NULL;
	if (t)
		agent_cancel(t);
	root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "stopped", t != NULL);
	reply_json(req, 200, root);
}

static void on_chat_new(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;

	if (!gate(u, req))
		return;
	if (!u->env.agent || agent_reset(u->env.agent, CHAT_SOURCE) < 0) {
		reply_error(req, 503, "could not end the session (is state.db locked?)");
		return;
	}
	reply_json_text(req, 200, "{}", 2);
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
	if (env->tools)
		tools_add_asker(env->tools, &ui_asker, u);
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
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/login", on_login, u);
	httpd_route(h, HTTPD_POST, "/v1/ui/logout", on_logout, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/me", on_me, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/sessions", on_sessions, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/session", on_session, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/spend", on_spend, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/memory", on_memory, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/skill", on_skill, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/memory/save", on_memory_save, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/skill/create", on_skill_create, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/skill/save", on_skill_save, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/skill/delete", on_skill_delete, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/jobs", on_jobs, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/log", on_log, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/audit", on_audit, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/balances", on_balances, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/approvals", on_approvals, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/approvals/answer", on_approval_answer, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/jobs/run", on_job_run, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/reminders/pause", on_reminder_pause, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/reminders/delete", on_reminder_delete, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/breaker", on_breaker, u);
	httpd_route(h, HTTPD_POST, "/v1/ui/breaker/resume", on_breaker_resume, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/health", on_health, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/chat", on_chat, u);
	httpd_route(h, HTTPD_POST, "/v1/ui/chat/stop", on_chat_stop, u);
	httpd_route(h, HTTPD_POST, "/v1/ui/chat/new", on_chat_new, u);
}

void ui_destroy(struct ui *u)
{
	if (!u)
		return;
	if (u->chat)
		u->chat->u = NULL;
	if (u->env.tools)
		tools_remove_asker(u->env.tools, &ui_asker, u);
	offload_destroy(u->work);
	uiauth_destroy(u->auth);
	free(u->proxies);
	free(u->db_path);
	free(u);
}
