/* ui_chat: the cockpit's chat, an agent turn streamed to the browser as server-sent events
 * (text as it comes, tool calls and results, the questions the turn asks, done), one turn at
 * a time under the source ui:cockpit; stop, a new session, and continuing an earlier one.
 * The ui is the asker of its own turns' questions (tools_add_asker); their answers come
 * back through ui_actions.c's /v1/ui/approvals/answer.
 */
#include "cockpit/ui_int.h"
#include "core/json.h"
#include "core/config.h"
#include "core/sessions.h"
#include "core/util.h"
#include "agent/agent.h"
#include "net/daemon.h"
#include "net/httpd.h"
#include "tools/tools.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
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
	cJSON_AddStringToObject(d, "model", r->model ? r->model : ""); /* the group that answered */
	cJSON_AddStringToObject(d, "model_asked", r->model_asked ? r->model_asked : "");
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
	if (!c || strcmp(q->source, UI_CHAT_SOURCE) != 0)
		return -ENOENT;
	if (c->n_asked < CHAT_QUESTIONS)
		c->asked[c->n_asked++] = q->id;
	c->sent = 0;
	send_event(c->req, "question", ui_question_json(q));
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
	if (agent_find(u->env.agent, UI_CHAT_SOURCE)) {
		ui_reply_error(req, 409, "a turn is already running: stop it or wait");
		return false;
	}
	rc = sessions_get(st, id, &si);
	if (rc == 0 && strcmp(si.source, UI_CHAT_SOURCE) != 0) {
		snprintf(msg, sizeof(msg),
			 "session %lld belongs to %s (%s): it can be read or exported here, but "
			 "continued only there",
			 (long long)id, ui_source_place(si.source), si.source);
		session_info_finish(&si);
		ui_reply_error(req, 409, msg);
		return false;
	}
	session_info_finish(&si);
	if (rc == 0)
		rc = sessions_reopen(st, id, UI_CHAT_SOURCE);
	if (rc == -ENOENT) {
		ui_reply_error(req, 404, "no such session");
		return false;
	}
	if (rc < 0) {
		ui_reply_error(req, 503,
			       "the session could not be re-opened (is state.db locked?)");
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
	if (!ui_gate(u, req))
		return;
	if (!u->env.agent || !u->cfg->model) {
		ui_reply_error(req, 503, "no model: add a model_list to the config");
		return;
	}
	root = ui_body_json(req, &jerr);
	msg = cJSON_GetObjectItemCaseSensitive(root, "message");
	if (!cJSON_IsString(msg) || !msg->valuestring[0] ||
	    strlen(msg->valuestring) > CHAT_MAX_BYTES) {
		cJSON_Delete(root);
		ui_reply_error(req, 400,
			       !root && jerr.duplicate
				       ? jerr.msg
				       : "expected {\"message\": \"...\"} (at most 32 KiB)");
		return;
	}
	sid = cJSON_GetObjectItemCaseSensitive(root, "session_id");
	if (sid && !cJSON_IsNull(sid) &&
	    !ui_int_item(root, "session_id", 1, INT64_C(1) << 53, &id)) {
		cJSON_Delete(root);
		ui_reply_error(req, 400, "session_id: expected a session's id");
		return;
	}
	if (id && !continue_session(u, req, id)) {
		cJSON_Delete(root);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->u = u;
	c->req = req;
	rc = agent_turn(u->env.agent, &(struct agent_turn_opts){.source = UI_CHAT_SOURCE},
			msg->valuestring, &chat_cbs, c, &c->turn);
	cJSON_Delete(root);
	if (rc < 0) {
		free(c);
		ui_reply_error(req, rc == -EBUSY ? 409 : 503,
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
	if (!ui_gate(u, req))
		return;
	t = u->env.agent ? agent_find(u->env.agent, UI_CHAT_SOURCE) : NULL;
	if (t)
		agent_cancel(t);
	root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "stopped", t != NULL);
	ui_reply_json(req, 200, root);
}
static void on_chat_new(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	if (!ui_gate(u, req))
		return;
	if (!u->env.agent || agent_reset(u->env.agent, UI_CHAT_SOURCE) < 0) {
		ui_reply_error(req, 503, "could not end the session (is state.db locked?)");
		return;
	}
	ui_reply_json_text(req, 200, "{}", 2);
}
void ui_chat_attach(struct ui *u)
{
	if (u->env.tools)
		tools_add_asker(u->env.tools, &ui_asker, u);
}
void ui_chat_detach(struct ui *u)
{
	if (u->chat)
		u->chat->u = NULL;
	if (u->env.tools)
		tools_remove_asker(u->env.tools, &ui_asker, u);
}
void ui_chat_routes(struct ui *u, struct httpd *h)
{
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/chat", on_chat, u);
	httpd_route(h, HTTPD_POST, "/v1/ui/chat/stop", on_chat_stop, u);
	httpd_route(h, HTTPD_POST, "/v1/ui/chat/new", on_chat_new, u);
}