/* ui_int: what the cockpit's files share: the ui's state, the answers every route gives, the
 * gate, the helpers that read a POST's JSON, and each file's routes. Private to
 * src/cockpit/ui*.c; everyone else sees ui.h. */
#ifndef HERMETIC_UI_INT_H
#define HERMETIC_UI_INT_H

#include "cockpit/ui.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UI_CHAT_SOURCE "ui:cockpit" /* the cockpit's own session */

struct chat_run;
struct config;
struct httpd_req;
struct json_error;
struct netaddr_net;
struct offload;
struct tools_question;
struct uiauth;

struct ui {
	struct ui_env env;
	const struct config *cfg;
	struct uiauth *auth;
	struct netaddr_net *proxies; /* ui.trusted_proxies, parsed */
	size_t n_proxies;
	struct offload *work;
	char *db_path;
	bool login_busy;	   /* one password check at a time */
	struct chat_run *chat;	   /* the chat's stream, while a turn runs (one at a time) */
	struct mcp_signin *signin; /* MCP sign-ins waiting for the owner (ui_signin.c) */
};

/* ---- ui_reply.c: answers and request bodies ---- */

/* The headers of every answer under /ui/ and /v1/ui/: the CSP, nosniff, no referrer, no
 * framing. */
void ui_page_headers(struct httpd_req *req);
/* A JSON answer (text of len bytes, or root, which it takes), not to be stored. */
void ui_reply_json_text(struct httpd_req *req, int status, const char *text, size_t len);
void ui_reply_json(struct httpd_req *req, int status, cJSON *root);
/* {"error": message} with status. */
void ui_reply_error(struct httpd_req *req, int status, const char *message);

/* The POST's body as JSON, or NULL with the reason in *err: the caller answers 400 with
 * err->msg when err->duplicate (the member is named), else with its own hint. */
cJSON *ui_body_json(struct httpd_req *req, struct json_error *err);
/* The POST's JSON object, or NULL with req answered 400 (say: what was expected). */
cJSON *ui_body_object(struct httpd_req *req, const char *say);
/* o's string member name, or "" (borrowed from o). */
const char *ui_str_item(const cJSON *o, const char *name);
/* Whether o's member name is a whole number in [min, max], then in *out. */
bool ui_int_item(const cJSON *o, const char *name, int64_t min, int64_t max, int64_t *out);

/* ---- ui_login.c ---- */

/* Host and Origin (apiguard), then the session cookie, then for a POST its CSRF token. False
 * when req has been answered. */
bool ui_gate(struct ui *u, struct httpd_req *req);

/* ---- ui_read.c ---- */

/* Where a session of source is continued, in words: the cockpit continues only its own. */
const char *ui_source_place(const char *source);

/* ---- ui_actions.c ---- */

/* A question (approval or ask_user) as the cockpit shows it. */
cJSON *ui_question_json(const struct tools_question *q);

/* ---- ui_chat.c ---- */

/* Makes the ui the asker of its own turns' questions (when there are tools), and undoes it:
 * a turn still running is left to end without the ui. */
void ui_chat_attach(struct ui *u);
void ui_chat_detach(struct ui *u);

/* Each file's routes, added by ui_add_routes. */
void ui_login_routes(struct ui *u, struct httpd *h);
void ui_read_routes(struct ui *u, struct httpd *h);
void ui_edit_routes(struct ui *u, struct httpd *h);
void ui_status_routes(struct ui *u, struct httpd *h);
void ui_actions_routes(struct ui *u, struct httpd *h);
void ui_chat_routes(struct ui *u, struct httpd *h);
void ui_tasks_routes(struct ui *u, struct httpd *h);
void ui_quarantine_routes(struct ui *u, struct httpd *h);
void ui_signin_routes(struct ui *u, struct httpd *h);

#endif
