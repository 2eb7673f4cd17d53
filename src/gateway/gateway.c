/* gateway: `hermetic gateway`, the always-on process. It serves the loopback API on
 * api.listen (health, readiness, metrics, and the tool routes below) and keeps the MCP
 * servers connected in the background: a server that is down at start does not stop the
 * gateway, and its tools appear once it is up. The agent, Telegram, hooks and cron attach to
 * the same loop.
 *
 * Routes (Bearer api.key when one is configured; a request whose Host does not name this
 * server, with a cross-origin Origin, or a POST that is not application/json is refused
 * first, see apiguard.h; /healthz, /readyz and /metrics are exempt):
 *   POST /v1/chat/completions  an agent turn, OpenAI-compatible (see on_chat)
 *   GET  /v1/tools       the tools of connected MCP servers with their JSON schemas
 *   POST /v1/tools/call  {"name": ..., "arguments": {...}} -> {"content": ..., "is_error": ...}
 *   POST /v1/alerts/alertmanager  Alertmanager's webhook, with its own token (alertmanager.h)
 *   /v1/tasks...         background tasks: add, list, show, stop, steer (tasks_api.h)
 *
 * The chat route answers when the turn is done; with "stream": true the answer is sent as one
 * content chunk in OpenAI's SSE framing (the agent does not stream tokens: it acts on whole
 * messages). `user` (or the X-Hermetic-Session header) names a persistent session
 * "api:<user>"; without it each request is a fresh session and earlier messages of the
 * request are folded into the prompt as a short transcript. `hermetic chat` sends
 * X-Hermetic-Client: cli with api.key: its sessions are "cli:<user>", class interactive in
 * the rate pools, and its "model" is used (apiguard_owner_cli).
 */
#include "gateway/gateway.h"
#include "gateway/mcp_signin.h"
#include "agent/agent.h"
#include "ops/alerts.h"
#include "ops/alertmanager.h"
#include "gateway/apiguard.h"
#include "router/breaker.h"
#include "core/json.h"
#include "core/config.h"
#include "gateway/cron.h"
#include "net/daemon.h"
#include "gateway/hooks.h"
#include "net/httpd.h"
#include "gateway/jobs.h"
#include "gateway/reminders.h"
#include "gateway/sampling.h"
#include "gateway/tasks_api.h"
#include "agent/tasks.h"
#include "core/json_exact.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/sessions.h"
#include "mcp/mcp.h"
#include "router/router.h"
#include "sandbox/sandbox.h"
#include "router/spend.h"
#include "telegram/telegram.h"
#include "cockpit/ui.h"
#include "tools/review.h"
#include "tools/tools.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_NAME_MAX     64
#define TRANSCRIPT_MAX	     (32 * 1024)
#define LOCKED_RETRY_AFTER_S "2" /* a turn refused while state.db is locked */

struct gateway {
	struct daemon d;
	struct httpd *api;
	struct mcp *mcp;
	struct mcp_signin *signin; /* auth: oauth servers' tokens kept fresh */
	struct spend *spend;
	struct router *router;
	struct breaker *breaker; /* guardrails.bleed, for every model call of this process */
	struct tools *tools;
	struct agent *agent;
	struct telegram *tg;
	struct job_sink sink;
	struct cron *cron;
	struct hooks *hooks;
	struct alertmanager *am; /* NULL: alerts.alertmanager_token is not set */
	struct reminders_sink rsink;
	struct reminders *reminders; /* NULL: reminders.enabled is false */
	struct alerts *alerts;	     /* alerts: channels, watches, heartbeat */
	struct tasks_sink tsink;
	struct tasks *tasks; /* background tasks and their subagents */
	struct tasks_api *tasks_api;
	uint64_t n_chats;
	struct event *prune_ev; /* sessions.retention_days */
	int64_t pruned;		/* sessions deleted by the current pruning run */
	struct ui *ui;		/* the web cockpit; NULL when off */
};

/* ---- session retention --------------------------------------------------------------- */

#define PRUNE_FIRST_S	   10 /* after start */
#define PRUNE_EVERY_S	   3600
#define PRUNE_BATCH	   20  /* sessions per step: each step is one short transaction */
#define PRUNE_BATCH_GAP_MS 200 /* between steps of one run: the loop serves in between */

/* Deletes sessions idle longer than sessions.retention_days, PRUNE_BATCH at a time, so that
 * no step holds the loop or the database long; a locked database waits for the next hour. */
static void on_prune(evutil_socket_t fd, short what, void *arg)
{
	struct gateway *g = arg;
	const struct config *cfg = g->d.cfg;
	int64_t before = now_wall_ms() - cfg->sessions.retention_days * 86400000;
	struct timeval tv = {PRUNE_EVERY_S, 0};
	int n = sessions_prune(g->d.store, before, PRUNE_BATCH);

	if (n > 0)
		g->pruned += n;
	if (n == PRUNE_BATCH) {
		tv = (struct timeval){0, PRUNE_BATCH_GAP_MS * 1000};
	} else {
		if (n < 0)
			log_warn("sessions: pruning waits for the next hour (%s)",
				 n == -EBUSY ? "the database is locked" : "database error");
		if (g->pruned > 0)
			log_info("sessions: deleted %lld session(s) idle for more than %lld days "
				 "(sessions.retention_days)",
				 (long long)g->pruned, (long long)cfg->sessions.retention_days);
		g->pruned = 0;
	}
	evtimer_add(g->prune_ev, &tv);
}

/* One cron or hook run in flight. */
struct job_run {
	job_done_cb done;
	void *arg;
	struct gateway *g;
	char *source;
};

/* One /v1/chat/completions turn in flight; freed once answered. */
struct chat_req {
	struct gateway *g;
	struct httpd_req *req;
	struct agent_turn *turn;
	char *model; /* as the client named it (cosmetic) */
	bool stream;
	uint64_t n;
};

/* One /v1/tools/call in flight; freed once answered. */
struct tool_req {
	struct httpd_req *req;
	struct mcp_call *call;
};

/* Every API route but the probes and /metrics: browser-shaped requests are refused first
 * (apiguard.h), then the key is checked. False when req has been answered. */
static bool authorized(struct gateway *g, struct httpd_req *req)
{
	const char *key = g->d.cfg->api.key, *token;

	if (!apiguard_check(&g->d.cfg->api, req))
		return false;
	if (!key)
		return true;
	token = httpd_bearer(req);
	if (token && secret_equal(token, key))
		return true;
	httpd_reply_error(req, 401, "auth_error",
			  "missing or wrong API key (Authorization: Bearer"
			  " <api.key>)");
	return false;
}

/* GET /v1/pools: the rate pools of the gateway's router (`hermetic pools`), for api.key. */
static void on_pools(struct httpd_req *req, void *arg)
{
	struct gateway *g = arg;
	char *body;

	if (!authorized(g, req))
		return;
	body = router_pools_json(g->router);
	httpd_reply(req, 200, "application/json", body, strlen(body));
	free(body);
}

static void on_tools(struct httpd_req *req, void *arg)
{
	struct gateway *g = arg;
	cJSON *root, *arr;
	size_t i;

	if (!authorized(g, req))
		return;
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "tools");
	for (i = 0; i < mcp_n_tools(g->mcp); i++) {
		struct mcp_tool_info ti;
		cJSON *t = cJSON_CreateObject();

		mcp_tool_info(g->mcp, i, &ti);
		cJSON_AddStringToObject(t, "name", ti.name);
		cJSON_AddStringToObject(t, "server", ti.server);
		cJSON_AddStringToObject(t, "tool", ti.tool);
		cJSON_AddStringToObject(t, "description", ti.description);
		cJSON_AddRawToObject(t, "parameters", ti.schema_json);
		cJSON_AddItemToArray(arr, t);
	}
	httpd_reply_json(req, 200, root);
}

static void forget_connection(struct tool_req *tr)
{
	httpd_on_close(tr->req, NULL, NULL);
}

static void on_client_close(struct httpd_req *req, void *arg)
{
	struct tool_req *tr = arg;

	if (tr->call)
		mcp_call_cancel(tr->call);
}

static void on_call_done(const struct mcp_result *r, void *arg)
{
	struct tool_req *tr = arg;
	cJSON *root = cJSON_CreateObject();

	tr->call = NULL;
	forget_connection(tr);
	cJSON_AddStringToObject(root, "content", r->text);
	cJSON_AddBoolToObject(root, "is_error", r->is_error);
	httpd_reply_json(tr->req, 200, root);
	free(tr);
}

static void on_tools_call(struct httpd_req *req, void *arg)
{
	struct gateway *g = arg;
	char *args_text = NULL;
	const char *body;
	size_t len = 0;
	struct json_error jerr;
	cJSON *root, *name, *args;
	struct tool_req *tr;
	int rc;

	if (!authorized(g, req))
		return;
	body = httpd_body_ref(req, &len);
	root = json_parse(body, len, JSON_EXACT, &jerr);
	name = cJSON_GetObjectItemCaseSensitive(root, "name");
	args = cJSON_GetObjectItemCaseSensitive(root, "arguments");
	if (!cJSON_IsString(name) || (args && !cJSON_IsObject(args))) {
		cJSON_Delete(root);
		httpd_reply_error(
			req, 400, "invalid_request_error",
			!root && jerr.duplicate
				? jerr.msg
				: "expected {\"name\": \"<tool>\", \"arguments\": {...}}");
		return;
	}
	if (args)
		args_text = json_exact_print(args);
	tr = xcalloc(1, sizeof(*tr));
	tr->req = req;
	rc = mcp_call(g->mcp, name->valuestring, args_text, on_call_done, tr, &tr->call);
	free(args_text);
	if (rc == 0) {
		httpd_on_close(req, on_client_close, tr);
	} else {
		free(tr);
		if (rc == -ENOTCONN)
			httpd_reply_error(req, 503, "service_unavailable",
					  "the tool's MCP server is not connected right now");
		else
			httpd_reply_error(req, 404, "not_found_error",
					  "no such tool (see GET /v1/tools)");
	}
	cJSON_Delete(root);
}

/* Text of a message's content: a string, or the text parts of an array. */
static void content_text(const cJSON *content, struct buf *out)
{
	const cJSON *part;

	if (cJSON_IsString(content)) {
		buf_puts(out, content->valuestring);
		return;
	}
	cJSON_ArrayForEach(part, content)
	{
		const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");

		if (cJSON_IsString(text))
			buf_printf(out, "%s%s", out->len ? "\n" : "", text->valuestring);
	}
}

/* The prompt: the last user message, after a transcript of the earlier ones when stateless. */
static int chat_prompt(const cJSON *messages, bool stateless, struct buf *out)
{
	int n = cJSON_GetArraySize(messages), last = -1;
	struct buf earlier;

	for (int i = 0; i < n; i++) {
		const cJSON *role =
			cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(messages, i), "role");

		if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0)
			last = i;
	}
	if (last < 0)
		return -EINVAL;
	buf_init(&earlier, TRANSCRIPT_MAX);
	for (int i = 0; stateless && i < last; i++) {
		const cJSON *m = cJSON_GetArrayItem(messages, i);
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");

		if (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") != 0 &&
					      strcmp(role->valuestring, "assistant") != 0))
			continue;
		buf_printf(&earlier, "%s: ", role->valuestring);
		content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), &earlier);
		buf_puts(&earlier, "\n");
	}
	if (earlier.len)
		buf_printf(out, "Earlier in this conversation:\n%s\n", buf_str(&earlier));
	buf_finish(&earlier);
	content_text(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(messages, last), "content"),
		out);
	return out->len ? 0 : -EINVAL;
}

static void chat_forget_connection(struct chat_req *cr)
{
	httpd_on_close(cr->req, NULL, NULL);
}

static void on_chat_client_close(struct httpd_req *req, void *arg)
{
	struct chat_req *cr = arg;

	if (cr->turn)
		agent_cancel(cr->turn);
}

static cJSON *completion_json(const struct chat_req *cr, const struct agent_result *r, bool chunk)
{
	cJSON *root = cJSON_CreateObject(), *choices, *choice, *msg, *usage;
	char id[64];

	snprintf(id, sizeof(id), "chatcmpl-hermetic-%lld-%llu", (long long)r->session_id,
		 (unsigned long long)cr->n);
	cJSON_AddStringToObject(root, "id", id);
	cJSON_AddStringToObject(root, "object",
				chunk ? "chat.completion.chunk" : "chat.completion");
	cJSON_AddNumberToObject(root, "created", (double)(now_wall_ms() / 1000));
	cJSON_AddStringToObject(root, "model", cr->model ? cr->model : r->model);
	choices = cJSON_AddArrayToObject(root, "choices");
	choice = cJSON_CreateObject();
	cJSON_AddItemToArray(choices, choice);
	cJSON_AddNumberToObject(choice, "index", 0);
	msg = cJSON_AddObjectToObject(choice, chunk ? "delta" : "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	cJSON_AddStringToObject(msg, "content", r->text);
	cJSON_AddStringToObject(choice, "finish_reason", r->stop == AGENT_DONE ? "stop" : "length");
	usage = cJSON_AddObjectToObject(root, "usage");
	cJSON_AddNumberToObject(usage, "prompt_tokens", (double)r->prompt_tokens);
	cJSON_AddNumberToObject(usage, "completion_tokens", (double)r->completion_tokens);
	cJSON_AddNumberToObject(usage, "total_tokens",
				(double)(r->prompt_tokens + r->completion_tokens));
	cJSON_AddNumberToObject(usage, "cost", r->cost_usd);
	return root;
}

static void reply_stream(struct httpd_req *req, cJSON *chunk)
{
	char *s = cJSON_PrintUnformatted(chunk);
	struct buf b;

	buf_init(&b, 0);
	buf_printf(&b, "data: %s\n\ndata: [DONE]\n\n", s);
	httpd_add_header(req, "Cache-Control", "no-cache");
	httpd_reply(req, 200, "text/event-stream", b.data, b.len);
	buf_finish(&b);
	free(s);
	cJSON_Delete(chunk);
}

static void on_chat_done(const struct agent_result *r, void *arg)
{
	struct chat_req *cr = arg;

	cr->turn = NULL;
	chat_forget_connection(cr);
	if (r->stop == AGENT_CANCELLED) {
		httpd_reply_error(cr->req, 499, "api_error", "the client closed the request");
	} else if (r->deferred) {
		/* the rate pools had no room within max_wait_s: LiteLLM's 429 with when to retry */
		char ra[24];

		snprintf(ra, sizeof(ra), "%ld", r->retry_after_s > 0 ? r->retry_after_s : 1);
		httpd_add_header(cr->req, "Retry-After", ra);
		httpd_reply_error(cr->req, 429, "rate_limit_error", r->text);
	} else if (r->stop == AGENT_FAILED) {
		httpd_reply_error(cr->req, 502, "api_error", r->text);
	} else if (cr->stream) {
		reply_stream(cr->req, completion_json(cr, r, true));
	} else {
		httpd_reply_json(cr->req, 200, completion_json(cr, r, false));
	}
	free(cr->model);
	free(cr);
}

static const struct agent_cbs chat_cbs = {.on_done = on_chat_done};

/* A turn that needs a new session while another process holds the lock of state.db: nothing
 * was stored or paid for, so the client may simply send it again. */
static void reply_locked(struct httpd_req *req)
{
	httpd_add_header(req, "Retry-After", LOCKED_RETRY_AFTER_S);
	httpd_reply_error(req, 503, "service_unavailable",
			  "the database (state.db) is locked by another process; nothing was run."
			  " Retry shortly");
}

/* The session source (apiguard_session_source): "api:<user>" when named, else a fresh one;
 * "cli:..." for the owner's CLI, whose turns get the interactive rate pool class. */
static bool chat_source(struct httpd_req *req, const cJSON *root, bool owner_cli, char *out,
			size_t len, uint64_t n)
{
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
	const char *name = httpd_header(req, "X-Hermetic-Session");

	if (!name && cJSON_IsString(user))
		name = user->valuestring;
	return apiguard_session_source(name, SESSION_NAME_MAX, owner_cli, (unsigned long long)n,
				       out, len);
}

static void on_chat(struct httpd_req *req, void *arg)
{
	struct gateway *g = arg;
	char source[SESSION_NAME_MAX + 16];
	const char *body;
	size_t len = 0;
	struct json_error jerr;
	cJSON *root;
	const cJSON *model, *stream;
	struct buf prompt;
	struct chat_req *cr;
	bool persistent, owner_cli;
	int rc;

	if (!authorized(g, req))
		return;
	owner_cli = apiguard_owner_cli(httpd_header(req, "X-Hermetic-Client"), g->d.cfg->api.key);
	if (!g->d.cfg->model) {
		httpd_reply_error(req, 503, "service_unavailable",
				  "no model: add a model_list to the config");
		return;
	}
	body = httpd_body_ref(req, &len);
	root = json_parse(body, len, 0, &jerr);
	buf_init(&prompt, 0);
	if (!root && jerr.duplicate) {
		httpd_reply_error(req, 400, "invalid_request_error", jerr.msg);
		goto out;
	}
	g->n_chats++;
	persistent = chat_source(req, root, owner_cli, source, sizeof(source), g->n_chats);
	if (!cJSON_IsObject(root) || chat_prompt(cJSON_GetObjectItemCaseSensitive(root, "messages"),
						 !persistent, &prompt) < 0) {
		httpd_reply_error(req, 400, "invalid_request_error",
				  "expected {\"messages\": [..., {\"role\": \"user\", \"content\": "
				  "\"...\"}]}");
		goto out;
	}
	model = cJSON_GetObjectItemCaseSensitive(root, "model");
	stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
	cr = xcalloc(1, sizeof(*cr));
	cr->g = g;
	cr->req = req;
	cr->n = g->n_chats;
	cr->stream = cJSON_IsTrue(stream);
	cr->model = cJSON_IsString(model) ? xstrdup(model->valuestring) : NULL;
	/* The owner's CLI picks its model (-m); other clients get the session's. */
	rc = agent_turn(g->agent,
			&(struct agent_turn_opts){.source = source,
						  .fresh = !persistent,
						  .model = owner_cli ? cr->model : NULL},
			buf_str(&prompt), &chat_cbs, cr, &cr->turn);
	if (rc < 0) {
		free(cr->model);
		free(cr);
		if (rc == -EBUSY)
			httpd_reply_error(
				req, 409, "conflict_error",
				"a turn is already running for this session; retry when it "
				"has answered");
		else if (rc == -EAGAIN)
			reply_locked(req);
		else
			httpd_reply_error(req, 500, "api_error", "the turn could not start");
		goto out;
	}
	httpd_on_close(req, on_chat_client_close, cr);
out:
	buf_finish(&prompt);
	cJSON_Delete(root);
}

/* ---- review before anything leaves: a job's answer delivered outside its lane ---------- */

/* The deliver target of a job's source ("cron:<name>", "hook:<name>"), or NULL. */
static const struct config_deliver *deliver_of(const struct config *cfg, const char *source)
{
	for (size_t i = 0; i < cfg->n_cron_jobs && strncmp(source, "cron:", 5) == 0; i++)
		if (strcmp(cfg->cron_jobs[i].name, source + 5) == 0)
			return &cfg->cron_jobs[i].deliver;
	for (size_t i = 0; i < cfg->n_hooks && strncmp(source, "hook:", 5) == 0; i++)
		if (strcmp(cfg->hooks[i].name, source + 5) == 0)
			return &cfg->hooks[i].deliver;
	return NULL;
}

/* Approved on its card: the held answer goes to its chat, once. */
static void on_hold_approved(const char *to, const char *text, void *arg)
{
	struct gateway *g = arg;
	long long chat;

	if (g->tg && sscanf(to, "telegram:%lld", &chat) == 1)
		telegram_deliver(g->tg, chat, text);
}

/* A job's answer in a review_outbound lane whose deliver chat is outside the lane is held on a
 * draft card (shown in the lane) instead: the note to deliver in its place, or NULL (deliver
 * the answer). Nobody to ask is no exception: nothing of the answer leaves then either. */
static char *hold_answer(struct gateway *g, const char *source, int64_t session_id,
			 const char *text)
{
	const struct config_deliver *to = deliver_of(g->d.cfg, source);
	const struct config_lane *l;
	const char *lane = NULL;
	char why[96] = "the store failed", sid[24];

	bool reviewing = false;

	for (size_t i = 0; i < g->d.cfg->n_lanes; i++)
		reviewing = reviewing || g->d.cfg->lanes[i].review_outbound;
	if (!reviewing || !to || !to->telegram_chat_id || !text || !*text)
		return NULL;
	/* a lane that cannot be read is not taken as none: nothing leaves (fail closed) */
	if (agent_lane_of(g->agent, source, &lane, why, sizeof(why)) < 0)
		return xasprintf("The answer of %s was not sent: its lane could not be read (%s), "
				 "and a lane of this config reviews what leaves.",
				 source, why);
	l = review_lane(g->d.cfg, lane);
	if (!l || !l->review_outbound || review_chat_in_lane(l, to->telegram_chat_id, 0))
		return NULL;
	snprintf(sid, sizeof(sid), "%lld", (long long)session_id);
	if (tools_draft_hold(g->tools, &(struct tools_hold){source, sid, l->name, to->target, text},
			     on_hold_approved, g) < 0)
		return xasprintf(
			"The answer of %s was not sent: it is in lane %s (review_outbound), "
			"this chat is outside it, and no chat of the lane can review it.",
			source, l->name);
	log_info("%s: the answer is held for review (lane %s, %s is outside it)", source, l->name,
		 to->target);
	return xasprintf("The answer of %s is held for review: it is in lane %s "
			 "(review_outbound) and this chat is outside it.",
			 source, l->name);
}

static void on_job_turn(const struct agent_result *r, void *arg)
{
	struct job_run *j = arg;
	struct job_result jr = {r->stop != AGENT_FAILED && r->stop != AGENT_CANCELLED,
				r->text,
				r->session_id,
				r->cost_usd,
				r->deferred,
				r->retry_after_s};
	char *held = jr.ok ? hold_answer(j->g, j->source, r->session_id, r->text) : NULL;

	if (held)
		jr.text = held;
	j->done(&jr, j->arg);
	free(held);
	free(j->source);
	free(j);
}

static const struct agent_cbs job_cbs = {.on_done = on_job_turn};

/* job_sink.run: a job's turn (cron, hooks, alert investigations, reminders): a fresh session
 * per run, so they never grow a history (an alert investigation's Dig deeper resumes its own).
 * max_cost_usd > 0 lowers the turn's cost cap (a reminder's), or sets it (own_cap: an
 * investigation's). */
static int sink_run(void *ctx, const struct job_opts *jo, job_done_cb done, void *arg)
{
	struct gateway *g = ctx;
	struct job_run *j = xcalloc(1, sizeof(*j));
	struct agent_turn_opts o = {.source = jo->source,
				    .model = jo->model,
				    .fresh = !jo->resume,
				    .no_idle = jo->resume,
				    .extra_system = jo->extra_system,
				    .max_cost_usd = jo->max_cost_usd,
				    .own_cap = jo->own_cap,
				    .scope = jo->scope,
				    .tool = jo->tool};
	int rc;

	j->done = done;
	j->arg = arg;
	j->g = g;
	j->source = xstrdup(jo->source);
	rc = agent_turn(g->agent, &o, jo->prompt, &job_cbs, j, NULL);
	if (rc < 0) {
		free(j->source);
		free(j);
	}
	return rc;
}

/* job_sink.outcome: a cron job failing twice in a row is an alert. */
static void sink_outcome(void *ctx, const char *source, bool ok, const char *text)
{
	struct gateway *g = ctx;

	alerts_job_done(g->alerts, source, ok, text);
}

/* reminders_sink.run: the config's model, the job's own cap. */
static int reminder_run(void *ctx, const char *source, const char *prompt, const char *extra_system,
			double max_cost_usd, job_done_cb done, void *arg)
{
	return sink_run(ctx,
			&(struct job_opts){.source = source,
					   .prompt = prompt,
					   .extra_system = extra_system,
					   .max_cost_usd = max_cost_usd},
			done, arg);
}

/* reminders_sink.deliver: Telegram's outbox, which stores the text before it returns and
 * retries it itself, so a configured bot counts as delivered. Without one nothing can take
 * it: the reminder keeps it and asks again later. A reminder set in a topic fires there. */
static int reminder_deliver(void *ctx, int64_t chat_id, int64_t thread_id, const char *markdown)
{
	struct gateway *g = ctx;

	if (!g->tg)
		return -ENOTCONN;
	telegram_deliver_thread(g->tg, chat_id, thread_id, markdown);
	return 0;
}

/* tasks_sink.deliver: a task's result into its chat's outbox, like a reply; a task without a
 * chat (the API's, the CLI's) is read with GET /v1/tasks/ID. */
static int task_deliver(void *ctx, int64_t chat_id, int64_t thread_id, const char *markdown)
{
	struct gateway *g = ctx;

	if (!chat_id)
		return 0;
	if (!g->tg)
		return -ENOTCONN;
	telegram_deliver_thread(g->tg, chat_id, thread_id, markdown);
	return 0;
}

static bool tasks_auth(void *ctx, struct httpd_req *req)
{
	return authorized(ctx, req);
}

/* job_sink.deliver: Telegram's outbox (durable, retried), else the log. */
static void sink_deliver(void *ctx, const struct config_deliver *to, const char *text)
{
	struct gateway *g = ctx;
	char *clean, *cut;

	if (!to->target)
		return;
	if (to->telegram_chat_id && g->tg) {
		telegram_deliver(g->tg, to->telegram_chat_id, text);
		return;
	}
	/* Redact before cutting: a secret cut in half is not recognised by the logger. */
	clean = log_redact(text);
	cut = utf8_clip_dup(clean, 300, false);
	log_warn("delivery to %s is not possible (Telegram is not configured); the result was: "
		 "%s",
		 to->target, cut);
	free(cut);
	free(clean);
}

/* The bleed breaker opened (it has logged a warning): one alert to telegram.admin_chat and
 * one through the alerts channels. */
static void on_breaker_trip(const char *why, int64_t until_ms, void *arg)
{
	struct gateway *g = arg;
	int64_t chat = g->d.cfg->telegram.admin_chat;
	char until[64] = "someone sends /resume";
	char *text;

	if (until_ms)
		breaker_format_time(until_ms, until, sizeof(until));
	alerts_breaker_trip(g->alerts, why, until);
	if (!chat || !g->tg)
		return;
	text = xasprintf("**Bleed breaker open**: %s. Model calls are refused until %s. "
			 "Send /resume to close it now (guardrails.bleed).",
			 why, until);
	telegram_deliver(g->tg, chat, text);
	free(text);
}

/* A tainted turn's memory or skill write awaits the human: telegram.admin_chat, else the
 * Telegram chat that asked, else the log (hermetic proposals lists it). */
static void on_proposal(const char *source, const char *id, const char *text, void *arg)
{
	struct gateway *g = arg;
	long long chat = g->d.cfg->telegram.admin_chat;

	if (!chat && sscanf(source, "telegram:%lld", &chat) != 1)
		chat = 0;
	if (chat && g->tg) {
		telegram_propose(g->tg, chat, id, text);
		return;
	}
	log_warn("%s", text);
}

static int start_agent(struct gateway *g, const struct config *cfg)
{
	g->alerts = alerts_create(cfg, g->d.loop, g->d.metrics);
	g->spend = spend_create(g->d.store, cfg);
	g->router = router_create(cfg, g->d.loop, g->spend, g->d.metrics);
	if (!g->router)
		return -1;
	g->breaker = breaker_create(&cfg->guardrails.bleed);
	breaker_register_metrics(g->breaker, g->d.metrics);
	breaker_on_trip(g->breaker, on_breaker_trip, g);
	router_set_breaker(g->router, g->breaker);
	g->tools = tools_create(&(struct tools_env){cfg, g->d.loop, g->d.store, g->mcp});
	g->agent =
		agent_create(&(struct agent_env){cfg, g->d.loop, g->router, g->tools, g->d.store});
	g->tg = telegram_create(&g->d, g->agent, g->mcp, g->spend, g->router);
	tools_set_notify(g->tools, on_proposal, g);
	if (g->tg) {
		tools_set_outlet(g->tools, telegram_outlet, g->tg);
		telegram_set_tools(g->tg, g->tools);
	}
	telegram_set_breaker(g->tg, g->breaker);
	g->sink = (struct job_sink){sink_run, sink_deliver, g, sink_outcome};
	g->cron = cron_create(cfg, g->d.loop, g->d.store, g->d.metrics, &g->sink);
	g->hooks = hooks_create(cfg, g->d.loop, g->d.store, g->d.metrics, &g->sink);
	g->am = alertmanager_create(cfg, g->d.loop, g->d.store, g->tg, &g->sink);
	if (cfg->reminders.enabled) {
		g->rsink = (struct reminders_sink){reminder_run, reminder_deliver, g};
		g->reminders = reminders_create(cfg, g->d.loop, g->d.store, &g->rsink);
		tools_set_scheduler(g->tools, reminders_scheduler(), g->reminders);
		if (g->tg)
			telegram_set_reminders(g->tg, g->reminders);
	}
	g->tsink = (struct tasks_sink){task_deliver, g};
	g->tasks = tasks_create(cfg, g->d.loop, g->d.store, g->agent, &g->tsink);
	g->tasks_api = tasks_api_create(g->tasks, g->d.store, tasks_auth, g);
	telegram_set_tasks(g->tg, g->tasks);
	return 0;
}

/* /metrics takes the Service names the API takes (api.allowed_hosts, api.listen's host). */
static bool metrics_host(const char *host, void *arg)
{
	return apiguard_host_ok(arg, host);
}

static bool ready(void *arg, char *why, size_t len)
{
	struct gateway *g = arg;

	return !g->tg || telegram_ready(g->tg, why, len);
}

int gateway_run(const struct config *cfg)
{
	struct gateway g = {0};
	struct mcp_elicit_cbs elicit;
	struct mcp_sampling_cbs sampler;
	struct sampling *sampling = NULL;
	int rc = 1;

	if (daemon_init(&g.d, cfg, "gateway") < 0)
		goto out;
	if (daemon_listen(&g.d, cfg->api.listen.addr, "api.listen", (long)cfg->api.max_body_bytes,
			  (int)cfg->api.timeout_s, &g.api) < 0)
		goto out;
	g.d.metrics_host = metrics_host;
	g.d.metrics_host_arg = (void *)&cfg->api;
	daemon_add_health_routes(&g.d, g.api);
	httpd_route(g.api, HTTPD_GET, "/v1/tools", on_tools, &g);
	httpd_route(g.api, HTTPD_GET, "/v1/pools", on_pools, &g);
	httpd_route(g.api, HTTPD_POST | HTTPD_JSON, "/v1/tools/call", on_tools_call, &g);
	g.mcp = mcp_create(cfg, g.d.loop, g.d.metrics, true);
	/* Before the servers start: the capability is declared in initialize. */
	tools_elicit_cbs(&g.tools, &elicit);
	mcp_set_elicit(g.mcp, &elicit);
	sampling = sampling_create(cfg, &g.router, &sampler);
	mcp_set_sampling(g.mcp, &sampler);
	/* what `hermetic mcp login` stored, kept fresh; client_credentials sign in by itself */
	g.signin = mcp_signin_create(cfg, g.d.loop, g.d.store, g.mcp);
	mcp_start(g.mcp);
	if (start_agent(&g, cfg) < 0)
		goto out;
	httpd_route(g.api, HTTPD_POST | HTTPD_JSON, "/v1/chat/completions", on_chat, &g);
	tasks_api_add_routes(g.tasks_api, g.api);
	g.d.ready = ready;
	g.d.ready_arg = &g;
	hooks_add_routes(g.hooks, g.api);
	alertmanager_add_routes(g.am, g.api);
	if (ui_create(&(struct ui_env){&g.d, g.breaker, g.tg, g.mcp, g.agent, g.tools, g.cron,
				       g.reminders, g.alerts, g.router, g.tasks},
		      &g.ui) < 0)
		goto out;
	ui_add_routes(g.ui, g.api);
	telegram_set_signin(g.tg, g.signin); /* sign-ins that need the owner: a button, a page */
	ui_set_signin(g.ui, g.signin);
	telegram_start(g.tg);
	cron_start(g.cron);
	if (g.reminders)
		reminders_start(g.reminders);
	tasks_start(g.tasks);
	alerts_start(g.alerts,
		     &(struct alerts_sources){g.breaker, g.tg, g.mcp, g.spend, g.d.store});
	if (cfg->sessions.retention_days > 0) {
		struct timeval first = {PRUNE_FIRST_S, 0};

		g.prune_ev = evtimer_new(loop_base(g.d.loop), on_prune, &g);
		evtimer_add(g.prune_ev, &first);
	}
	/* Everything is open and bound: from here on the process is sealed (Landlock, then
	 * seccomp). */
	if (sandbox_seal(cfg) < 0)
		goto out;
	if (daemon_run(&g.d) == 0)
		rc = 0;
out:
	/* Turns and pending tool calls are answered through the API server: end them first. Ending
	 * them runs the loop (agent_destroy), so the server first stops taking requests: one that
	 * came now would reach a route of a module already destroyed (the cockpit's). */
	httpd_stop_serving(g.api);
	if (g.prune_ev)
		event_free(g.prune_ev);
	ui_destroy(g.ui);
	alerts_destroy(g.alerts);
	cron_destroy(g.cron);
	reminders_destroy(g.reminders);
	tasks_destroy(g.tasks);
	tasks_api_destroy(g.tasks_api);
	hooks_destroy(g.hooks);
	alertmanager_destroy(g.am);
	telegram_destroy(g.tg);
	agent_destroy(g.agent);
	tools_destroy(g.tools);
	g.tools = NULL; /* a question the MCP client still withdraws finds no tools */
	if (g.mcp)
		mcp_set_sampling(g.mcp, NULL); /* its model calls end while the router is here */
	router_destroy(g.router);
	sampling_destroy(sampling);
	breaker_destroy(g.breaker);
	spend_destroy(g.spend);
	mcp_signin_destroy(g.signin);
	mcp_destroy(g.mcp);
	httpd_destroy(g.api);
	daemon_finish(&g.d);
	if (rc == 0)
		log_info("stopped cleanly");
	return rc;
}
