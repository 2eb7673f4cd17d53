/* agent_tools: the tool calls of a model answer, and what a turn lends its tools.
 *
 * An answer's tool calls are copied out and stored with the assistant message; consecutive
 * read-only calls run together, any other call runs alone, in order; results are stored in
 * call order, then the turn's owner hears TE_STEP (agent.c decides what comes next). A
 * turn's own tool (agent_turn_opts.tool) is answered from the loop. A tool that waits for the
 * human stops the turn's clock (on_asking).
 *
 * Side calls (tools_ctx.llm): a tool that needs a model (the memory tool condensing a full
 * file) gets one router call per key per turn, counted in the turn's cost like compression;
 * its lines for the human (tools_ctx.notice) are appended to the answer on_done gets, once
 * each, and not stored, so the model never reads them back.
 */
#include "agent/agent_int.h"
#include "core/audit.h"
#include "core/json.h"
#include "core/loop.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- side calls and notices of tools ------------------------------------------------- */

/* A tool's model call (tools_llm: the memory tool condensing a full file) goes through the
 * router as compression does, so the ledger, the budgets and this turn's cost count it; one
 * per key per turn, none once the turn is stopping or at its cost cap. */
struct side_call {
	struct agent_turn *t;
	struct router_call *rc;
	struct agent_hold hold; /* of a task tree's budget, while in flight */
	tools_llm_cb cb;
	void *arg;
};

static void on_side_done(struct router_call *rc, const struct router_result *r, void *arg)
{
	struct side_call *s = arg;
	struct agent_turn *t = s->t;
	tools_llm_cb cb = s->cb;
	void *cb_arg = s->arg;
	char *text = r->status == 200 ? agent_answer_text(t, r->body, r->body_len) : NULL;

	(void)rc;
	agent_watch_after(t, &s->hold, r);
	t->cost_usd += r->cost_usd;
	t->prompt_tokens += r->prompt_tokens;
	t->completion_tokens += r->completion_tokens;
	free(s);
	cb(r->status, text, cb_arg); /* may end the turn: nothing of it is touched after */
	free(text);
}

static const struct router_cbs side_cbs = {.on_done = on_side_done};

static int side_chat(void *arg, const char *key, const char *model, const char *system,
		     const char *user, int max_tokens, tools_llm_cb cb, void *cb_arg, void **call)
{
	struct agent_turn *t = arg;
	struct side_call *s;
	struct buf body;
	char *needle;
	bool used;
	int rc;

	if (t->cancelled || t->time_up || (t->max_cost_usd > 0 && t->cost_usd >= t->max_cost_usd))
		return -ECANCELED;
	needle = xasprintf("\n%s\n", key);
	used = strstr(buf_str(&t->side_keys), needle) != NULL;
	free(needle);
	if (used)
		return -EALREADY;
	buf_printf(&t->side_keys, "%s%s\n", t->side_keys.len ? "" : "\n", key);
	if (!*model) /* the turn's own group: a side call of a lane stays in it */
		model = t->model;
	buf_init(&body, 0);
	buf_puts(&body, "{\"model\":");
	buf_json_str(&body, model, strlen(model));
	buf_printf(&body, ",\"max_tokens\":%d,\"messages\":[{\"role\":\"system\",\"content\":",
		   max_tokens);
	buf_json_str(&body, system, strlen(system));
	buf_puts(&body, "},{\"role\":\"user\",\"content\":");
	buf_json_str(&body, user, strlen(user));
	buf_puts(&body, "}]}");
	s = xcalloc(1, sizeof(*s));
	*s = (struct side_call){t, NULL, {0, 0}, cb, cb_arg};
	rc = agent_send(t, key, body.data, body.len, &s->hold, &side_cbs, s, &s->rc);
	buf_finish(&body);
	if (rc < 0) {
		free(s);
		return rc;
	}
	*call = s;
	return 0;
}

static void side_cancel(void *arg, void *call)
{
	struct side_call *s = call;

	(void)arg;
	if (s->rc) /* NULL: a replayed answer, which arrives anyway */
		router_cancel(s->rc);
}

static const struct tools_llm side_llm = {side_chat, side_cancel};

/* A tool's line for the human: shown once, after the turn's answer. */
static void on_notice(const char *text, void *arg)
{
	struct agent_turn *t = arg;

	if (strstr(buf_str(&t->notices), text))
		return;
	buf_printf(&t->notices, "%s%s", t->notices.len ? "\n" : "", text);
}

/* ---- tool calls -------------------------------------------------------------------- */

/* What the turn read, for a draft card (tools_ctx.sources): its lane and why, then each tool
 * it called before (t->read), at most SOURCES_MAX bytes. */
static char *sources_of(struct agent_turn *t)
{
	struct buf b;

	buf_init(&b, 0);
	if (t->lane_why[0])
		buf_printf(&b, "lane %s: %s\n", agent_lane_name(t), t->lane_why);
	buf_printf(&b, "the conversation of %s\n", *t->source ? t->source : "this turn");
	buf_puts(&b, buf_str(&t->read));
	return buf_steal(&b);
}

/* A call the turn made, as a source line: the tool, and what it named (a skill, a URL). */
static void note_read(struct agent_turn *t, const struct call *c)
{
	cJSON *j = json_parse_str(c->args ? c->args : "", NULL);
	const char *what = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "name"));

	if (!what)
		what = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "url"));
	buf_printf(&t->read, "%s%s%.200s%s\n", c->name, what ? " (" : "", what ? what : "",
		   what ? ")" : "");
	cJSON_Delete(j);
}

/* What a result brings into the turn may raise its lane: a skill's text, an MCP server's. */
static void lane_of_result(struct agent_turn *t, struct call *c)
{
	char *server;

	if (strcmp(c->name, "skill_view") == 0) {
		cJSON *j = json_parse_str(c->args ? c->args : "", NULL);
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");

		if (cJSON_IsString(n))
			agent_lane_skill(t, n->valuestring);
		cJSON_Delete(j);
		return;
	}
	server = tools_mcp_server(t->a->env.tools, c->name, c->args);
	if (server)
		agent_lane_mcp(t, server);
	free(server);
}

static void on_tool(bool is_error, const char *text, size_t len, void *arg)
{
	struct call *c = arg;
	struct agent_turn *t = c->t;

	c->tc = NULL;
	if (tools_taints(t->a->env.tools, c->name))
		agent_taint(t, c->name);
	lane_of_result(t, c);
	note_read(t, c);
	c->done = true;
	c->is_error = is_error;
	c->result = xstrndup(text, len);
	t->running--;
	if (t->cbs.on_tool_result)
		t->cbs.on_tool_result(c->name, is_error, text, len, t->arg);
	agent_run_calls(t);
}

static void on_asking(bool on, void *arg)
{
	struct agent_turn *t = arg;
	int64_t now = now_mono_ms(), left;
	struct timeval tv;

	if (on) {
		if (t->asking++ == 0)
			t->asking_since_ms = now;
		return;
	}
	if (t->asking <= 0 || --t->asking > 0)
		return;
	t->deadline_ms += now - t->asking_since_ms;
	left = t->deadline_ms > now ? t->deadline_ms - now : 0;
	tv = (struct timeval){(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
	if (t->timeout_held || evtimer_pending(t->timer, NULL)) {
		t->timeout_held = false;
		evtimer_del(t->timer);
		evtimer_add(t->timer, &tv);
	}
}

/* A skill the turn reads, for its audit line (capped: the buf drops what does not fit). */
static void note_skill(struct agent_turn *t, const char *args)
{
	cJSON *j = json_parse_str(args ? args : "", NULL);
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");

	if (cJSON_IsString(n) && strlen(n->valuestring) < 128)
		buf_printf(&t->audit_skills, "%s%s", t->audit_skills.len ? "," : "",
			   n->valuestring);
	cJSON_Delete(j);
}

static void on_local(evutil_socket_t fd, short what, void *arg)
{
	struct agent_turn *t = arg;
	struct call *c = t->local_call;

	t->local_call = NULL;
	on_tool(t->local_error, buf_str(&t->local_out), t->local_out.len, c);
}

/* The turn's own tool: answered now, handed on from the loop. */
static void call_local(struct agent_turn *t, struct call *c)
{
	struct timeval now = {0, 0};

	buf_finish(&t->local_out);
	buf_init(&t->local_out, 0);
	t->local_error = t->tool->call(c->args, &t->local_out, t->tool->arg);
	t->local_call = c;
	if (!t->local_ev)
		t->local_ev = evtimer_new(loop_base(t->a->env.loop), on_local, t);
	evtimer_add(t->local_ev, &now);
}

/* The own tool's answer that took time (delegate): the turn's clock ran not while it
 * waited (its children have clocks of their own, the tree's budget caps the whole). */
void agent_tool_done(struct agent_tool_call *ac, bool is_error, const char *text)
{
	struct call *c = (struct call *)ac;

	c->t->async_call = NULL;
	on_asking(false, c->t);
	on_tool(is_error, text, strlen(text), c);
}

void agent_cancel_local(struct agent_turn *t)
{
	if (t->async_call && t->tool->cancel)
		t->tool->cancel((struct agent_tool_call *)t->async_call, t->tool->arg);
}

static void start_call(struct agent_turn *t, struct call *c)
{
	char sid[24], *sources;
	struct tools_ctx ctx = {sid,	  t->source,	      t->tainted, t->web_any, on_asking,
				t,	  &side_llm,	      t,	  on_notice,  t,
				t->scope, agent_lane_name(t), &t->review, NULL};

	snprintf(sid, sizeof(sid), "%lld", (long long)t->session_id);
	c->started = true;
	t->running++;
	t->n_tool_calls++;
	if (audit_is_open() && strcmp(c->name, "skill_view") == 0)
		note_skill(t, c->args);
	if (t->cbs.on_tool_call)
		t->cbs.on_tool_call(c->name, c->args, t->arg);
	if (t->tool && strcmp(c->name, t->tool->name) == 0 && t->tool->start) {
		t->async_call = c;
		on_asking(true, t);
		t->tool->start(c->args, (struct agent_tool_call *)c, t->tool->arg);
		return;
	}
	if (t->tool && strcmp(c->name, t->tool->name) == 0) {
		call_local(t, c);
		return;
	}
	sources = sources_of(t);
	ctx.sources = sources;
	tools_call(t->a->env.tools, c->name, c->args, &ctx, on_tool, c, &c->tc);
	free(sources);
}

void agent_free_calls(struct agent_turn *t)
{
	for (size_t i = 0; i < t->n_calls; i++) {
		free(t->calls[i].id);
		free(t->calls[i].name);
		free(t->calls[i].args);
		free(t->calls[i].result);
	}
	free(t->calls);
	t->calls = NULL;
	t->n_calls = t->next_call = 0;
}

/* All results in: stored in call order, then the owner's next step. */
static void calls_done(struct agent_turn *t)
{
	for (size_t i = 0; i < t->n_calls; i++) {
		struct call *c = &t->calls[i];
		const char *text = c->result ? c->result : "not run: the turn was stopped";
		char *body = c->is_error ? xasprintf("Error: %s", text) : xstrdup(text);

		agent_add_msg(t, "tool", agent_json_message("tool", body, c->id), NULL);
		free(body);
	}
	agent_free_calls(t);
	t->owner->on_event(t, TE_STEP, NULL);
}

/* Consecutive read-only calls run together; any other call runs alone, in order. */
void agent_run_calls(struct agent_turn *t)
{
	while (t->next_call < t->n_calls && !t->cancelled && !t->time_up) {
		struct call *c = &t->calls[t->next_call];
		bool ro = tools_read_only(t->a->env.tools, c->name);

		if (c->done) { /* answered already (over MAX_TOOL_CALLS) */
			t->next_call++;
			continue;
		}
		if (!ro && t->running > 0)
			return;
		t->next_call++;
		start_call(t, c);
		if (!ro)
			return;
	}
	if (t->running == 0)
		calls_done(t);
}

/* Copies the assistant message (content, tool_calls) out of the parsed answer. */
void agent_take_calls(struct agent_turn *t, const cJSON *calls, const char *content)
{
	cJSON *stored = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(stored, "tool_calls");
	cJSON *c;
	char *json;
	size_t n = 0;

	cJSON_AddStringToObject(stored, "role", "assistant");
	if (content)
		cJSON_AddStringToObject(stored, "content", content);
	else
		cJSON_AddNullToObject(stored, "content");
	t->n_calls = (size_t)cJSON_GetArraySize(calls);
	t->calls = xcalloc(t->n_calls ? t->n_calls : 1, sizeof(*t->calls));
	cJSON_ArrayForEach(c, calls)
	{
		cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
		cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
		cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
		cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
		struct call *k = &t->calls[n];
		cJSON *out = cJSON_CreateObject(), *fo;

		k->t = t;
		k->id = cJSON_IsString(id) && *id->valuestring
				? xstrdup(id->valuestring)
				: xasprintf("call_%d_%zu", t->model_calls, n);
		k->name = xstrdup(cJSON_IsString(name) ? name->valuestring : "");
		k->args = cJSON_IsString(args) ? xstrdup(args->valuestring)
			  : args	       ? cJSON_PrintUnformatted(args)
					       : xstrdup("{}");
		cJSON_AddStringToObject(out, "id", k->id);
		cJSON_AddStringToObject(out, "type", "function");
		fo = cJSON_AddObjectToObject(out, "function");
		cJSON_AddStringToObject(fo, "name", k->name);
		cJSON_AddStringToObject(fo, "arguments", k->args);
		cJSON_AddItemToArray(arr, out);
		if (n >= MAX_TOOL_CALLS) {
			k->done = k->started = true;
			k->is_error = true;
			k->result = xasprintf("not run: at most %d tool calls per answer",
					      MAX_TOOL_CALLS);
		}
		n++;
	}
	json = cJSON_PrintUnformatted(stored);
	cJSON_Delete(stored);
	agent_add_msg(t, "assistant", json, content);
}
