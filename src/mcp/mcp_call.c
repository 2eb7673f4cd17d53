/* mcp_call: tools/call, from start to the one callback: the request, its result turned into
 * text a model reads (mcp_render.c), its error, its cancel (notifications/cancelled, the
 * exchange abandoned). The state it touches is mcp.c's (mcp_int.h); ids, timers and the
 * server's life stay there.
 */
#include "mcp/mcp.h"
#include "core/json_exact.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/util.h"
#include "core/config.h"
#include "mcp/mcp_int.h"
#include "mcp/mcp_render.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

static void on_call_finish(evutil_socket_t fd, short what, void *arg)
{
	struct mcp_call *c = arg;
	struct mcp_result r = {.is_error = c->is_error, .text = c->text};
	const char *lv[] = {c->s->cfg->name, c->outcome, NULL};
	const char *sv[] = {c->s->cfg->name, NULL};

	if (c->m->m_calls) {
		metric_inc(c->m->m_calls, lv, 1);
		metric_observe(c->m->m_duration, sv, (double)(now_mono_us() - c->t0_us) / 1e6);
	}
	c->m->live_calls--;
	c->cb(&r, c->arg);
	event_free(c->finish);
	free(c->text);
	free(c);
}

static void complete_call(struct mcp_call *c, bool is_error, char *text, const char *outcome)
{
	if (c->done) {
		free(text);
		return;
	}
	c->done = true;
	c->p = NULL;
	c->is_error = is_error;
	/* A server may echo its environment or headers, which can carry our secrets. */
	c->text = log_redact(text);
	free(text);
	c->outcome = outcome;
	mcp_arm(c->finish, 0);
}

static size_t result_cap(const struct mcp_server *s)
{
	return (size_t)s->m->cfg->agent.tool_result_max_bytes;
}

static void call_result(struct pending *p, const char *result, size_t len)
{
	bool is_error;
	char *text = mcp_render_result(result, len, result_cap(p->s), &is_error);

	complete_call(p->call, is_error, text, is_error ? "error" : "ok");
}

static void call_error(struct pending *p, const char *why, const char *rpc, size_t len,
		       bool timeout)
{
	char *text;

	if (rpc)
		text = mcp_render_rpc_error(rpc, len, result_cap(p->s));
	else if (timeout)
		text = xasprintf("error: timed out after %lld s; the call was cancelled",
				 (long long)(p->timeout_ms / 1000));
	else
		text = xasprintf("error: MCP server %s: %s", p->s->cfg->name, why);
	complete_call(p->call, true, text, timeout ? "timeout" : "error");
}

static int start_call(struct mcp_server *s, struct tool *t, const char *args_json, mcp_call_cb cb,
		      void *arg, struct mcp_call **out)
{
	cJSON *args = args_json && *args_json ? json_exact_parse(args_json, strlen(args_json))
					      : cJSON_CreateObject();
	cJSON *params;
	struct mcp_call *c;

	if (!cJSON_IsObject(args)) {
		cJSON_Delete(args);
		return -EINVAL;
	}
	if (s->state != S_READY) {
		cJSON_Delete(args);
		return -ENOTCONN;
	}
	c = xcalloc(1, sizeof(*c));
	c->m = s->m;
	c->s = s;
	c->cb = cb;
	c->arg = arg;
	c->t0_us = now_mono_us();
	c->finish = evtimer_new(loop_base(s->m->loop), on_call_finish, c);
	s->m->live_calls++;
	params = cJSON_CreateObject();
	cJSON_AddStringToObject(params, "name", t->tool);
	cJSON_AddItemToObject(params, "arguments", args);
	c->p = mcp_request(s, "tools/call", params, mcp_request_timeout_ms(s), call_result,
			   call_error, c);
	if (out)
		*out = c;
	return 0;
}

int mcp_call(struct mcp *m, const char *name, const char *args_json, mcp_call_cb cb, void *arg,
	     struct mcp_call **out)
{
	size_t i;

	for (i = 0; i < m->n_servers; i++) {
		struct mcp_server *s = &m->servers[i];
		struct tool *t = mcp_find_tool(s, name, false);

		if (t)
			return start_call(s, t, args_json, cb, arg, out);
	}
	return -ENOENT;
}

int mcp_call_server(struct mcp *m, const char *server, const char *tool, const char *args_json,
		    mcp_call_cb cb, void *arg, struct mcp_call **out)
{
	size_t i;

	for (i = 0; i < m->n_servers; i++) {
		struct mcp_server *s = &m->servers[i];
		struct tool *t;

		if (strcmp(s->cfg->name, server) != 0)
			continue;
		t = mcp_find_tool(s, tool, true);
		if (!t)
			return s->state == S_READY ? -ENOENT : -ENOTCONN;
		return start_call(s, t, args_json, cb, arg, out);
	}
	return -ENOENT;
}

void mcp_call_cancel(struct mcp_call *c)
{
	struct pending *p = c->p;
	cJSON *params;

	if (c->done || !p)
		return;
	mcp_unlink_pending(&c->s->pendings, p);
	mcp_unlink_pending(&c->s->resend, p);
	params = cJSON_CreateObject();
	cJSON_AddNumberToObject(params, "requestId", (double)p->id);
	cJSON_AddStringToObject(params, "reason", "cancelled by the user");
	if (c->s->state == S_READY)
		mcp_notify(c->s, "notifications/cancelled", params);
	else
		cJSON_Delete(params);
	c->s->ops->abandon(c->s, p->id);
	complete_call(c, true, xstrdup("error: the call was cancelled"), "error");
	mcp_free_pending(p);
}
