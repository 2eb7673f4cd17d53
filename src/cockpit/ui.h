/* ui: the web cockpit (docs/cockpit.md) on the gateway's API server: the embedded assets under
 * /ui/, the login, and the JSON endpoints under /v1/ui/ that read the same store, ledger,
 * breaker and MCP state as the CLI and the Telegram commands.
 *
 * Off unless ui.enabled or ui.password_hash is set. Every route goes through apiguard_check
 * (Host names this server, no cross-origin Origin, POST bodies are JSON); every /v1/ui/ route
 * but login needs the session cookie, and every POST the session's X-CSRF-Token as well.
 * SQLite reads and the password hash run off the loop (core/offload.h).
 */
#ifndef HERMETIC_UI_H
#define HERMETIC_UI_H

#include <stdbool.h>
#include <stddef.h>

struct agent;
struct alerts;
struct breaker;
struct cron;
struct reminders;
struct router;
struct tasks;
struct tools;
struct daemon;
struct httpd;
struct mcp;
struct telegram;
struct ui;

/* What the cockpit shows; borrowed, all must outlive the ui (tg and breaker may be NULL). */
struct ui_env {
	struct daemon *d;
	struct breaker *breaker;
	struct telegram *tg;
	struct mcp *mcp;
	struct agent *agent; /* the chat's turns (source "ui:cockpit") */
	/* Each may be NULL. tools: the questions (approvals, ask_user) of every source, answered
	 * as Telegram's buttons answer them; the ui adds itself as an asker for its own turns.
	 * cron: "run now"; reminders: pause, resume, delete; alerts: the provider balances. */
	struct tools *tools;
	struct cron *cron;
	struct reminders *reminders;
	struct alerts *alerts;
	/* router: its rate pools (GET /v1/ui/pools); tasks: stop a background task. */
	struct router *router;
	struct tasks *tasks;
};

/* Whether the config turns the cockpit on. */
bool ui_enabled(const struct daemon *d);
/* Creates the cockpit when the config turns it on (*out NULL when off). Returns 0: the config
 * load already refused a cockpit with nothing to log in with or a bad ui.password_hash. */
int ui_create(const struct ui_env *env, struct ui **out);
/* Adds the routes to h (the API server). */
void ui_add_routes(struct ui *ui, struct httpd *h);
struct mcp_signin;
/* The cockpit lists the MCP sign-ins waiting for the owner and takes their redirect at
 * /ui/oauth/callback (ui_signin.c). s borrowed; accepts NULL ui or s. */
void ui_set_signin(struct ui *ui, struct mcp_signin *s);
/* Waits for its work in flight (its requests are left to httpd_destroy). Accepts NULL. */
void ui_destroy(struct ui *ui);

/* Decisions, exposed for the tests: whether an If-None-Match value matches etag (a list, "*",
 * weak forms compared weakly as RFC 9110 says for If-None-Match), and the value of name in a
 * query string, percent- and '+'-decoded (false when absent, badly encoded or not fitting in
 * len; with out NULL only whether name is there). */
bool ui_etag_match(const char *if_none_match, const char *etag);
bool ui_query_param(const char *query, const char *name, char *out, size_t len);

#endif
