/* ui_status: what the gateway holds in memory, read on the loop with no I/O: the bleed
 * breaker (and its resume), health (readiness, Telegram, MCP servers, the sandbox) and the
 * provider balances the balance watch last read. Nothing here opens state.db or a file.
 */
#include "cockpit/ui_int.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "core/version.h"
#include "ops/alerts.h"
#include "telegram/telegram.h"
#include "cockpit/uiauth.h"
#include "mcp/mcp.h"
#include "net/daemon.h"
#include "net/httpd.h"
#include "router/breaker.h"
#include "sandbox/landlock.h"
#include "sandbox/sandbox.h"

#include <cjson/cJSON.h>
#include <string.h>

#define BALANCES_MAX 8

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

	if (!ui_gate(u, req))
		return;
	ui_reply_json(req, 200, breaker_json(u));
}

static void on_breaker_resume(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;

	if (!ui_gate(u, req))
		return;
	if (u->env.breaker && breaker_resume(u->env.breaker, now_mono_ms()))
		log_info("bleed breaker closed from the cockpit (%s)", httpd_peer(req));
	ui_reply_json(req, 200, breaker_json(u));
}

static void on_health(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct daemon *d = u->env.d;
	cJSON *root, *o, *arr;
	char why[512] = "";
	bool ready;

	if (!ui_gate(u, req))
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
	ui_reply_json(req, 200, root);
}

/* The balance watch's last reads (alerts_balances): no request of ours. */
static void on_balances(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct alerts_balance v[BALANCES_MAX];
	size_t n;
	cJSON *root, *arr;

	if (!ui_gate(u, req))
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
	ui_reply_json(req, 200, root);
}

void ui_status_routes(struct ui *u, struct httpd *h)
{
	httpd_route(h, HTTPD_GET, "/v1/ui/balances", on_balances, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/breaker", on_breaker, u);
	httpd_route(h, HTTPD_POST, "/v1/ui/breaker/resume", on_breaker_resume, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/health", on_health, u);
}
