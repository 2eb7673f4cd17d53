/* agent: the turn state machine (see agent.h for the shape), and its only owner.
 *
 * This file owns the turn's life and its decisions: agent_turn opens the session and stores
 * the user message, step decides what comes next (the limits, the context budget, a model
 * call or the limit's summary call), on_event takes what a helper's work ended with and
 * moves the turn on, the timer and agent_cancel stop it, finish stores the answer and calls
 * the caller back once; agent_create, agent_destroy and agent_context_split. It does not
 * build requests or read answers (agent_model.c, agent_stream.c), run tools (agent_tools.c),
 * compress (agent_compress.c), talk to the store (agent_session.c) or write the system
 * prompt (agent_prompt.c); those helpers are called from here and answer only through
 * t->owner (struct turn_cbs, agent_int.h), never by calling this file.
 *
 * Rejected: a title model call per session (the first line of the first message names it
 * for free, agent_session.c).
 */
#include "agent/agent_int.h"
#include "router/lane.h"
#include "core/redact.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/store.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *agent_stop_name(enum agent_stop s)
{
	static const char *const names[] = {"done",	    "max_iterations", "max_turn_cost",
					    "turn_timeout", "cancelled",      "failed",
					    "budget"};

	return (size_t)s < ARRAY_LEN(names) ? names[s] : "?";
}

/* The limit t reached, in words, written into out. */
static const char *limit_text(const struct agent_turn *t, char *out, size_t len)
{
	const struct config *cfg = t->a->env.cfg;

	switch (t->limit) {
	case AGENT_STOP_ITERATIONS:
		snprintf(out, len, "the limit of %lld model calls per turn (agent.max_iterations)",
			 (long long)cfg->agent.max_iterations);
		break;
	case AGENT_STOP_COST:
		if (t->max_cost_usd != cfg->agent.max_turn_cost_usd ||
		    cfg->agent.max_turn_cost_usd <= 0)
			snprintf(out, len, "the cost limit of $%.4f for this run", t->max_cost_usd);
		else
			snprintf(out, len,
				 "the cost limit of $%.4f per turn (agent.max_turn_cost_usd)",
				 cfg->agent.max_turn_cost_usd);
		break;
	case AGENT_STOP_TIME:
		snprintf(out, len, "the time limit of %lld s per turn (agent.turn_timeout_s)",
			 (long long)cfg->agent.turn_timeout_s);
		break;
	default:
		snprintf(out, len, "a limit");
	}
	return out;
}

static enum agent_stop limit_hit(const struct agent_turn *t)
{
	const struct config *cfg = t->a->env.cfg;

	if (t->time_up)
		return AGENT_STOP_TIME;
	if (t->model_calls >= cfg->agent.max_iterations)
		return AGENT_STOP_ITERATIONS;
	if (t->max_cost_usd > 0 && t->cost_usd >= t->max_cost_usd)
		return AGENT_STOP_COST;
	return AGENT_DONE;
}

/* The turn's own tool joins the array the tools layer rendered ("[...]"). */
static void add_turn_tool(struct agent_turn *t, struct buf *tools_json)
{
	char *rendered = buf_steal(tools_json);
	size_t len = strlen(rendered);

	while (len && rendered[len - 1] != ']')
		len--;
	buf_init(tools_json, 0);
	buf_append(tools_json, rendered, len ? len - 1 : 0);
	if (!len)
		buf_puts(tools_json, "[");
	buf_printf(tools_json, "%s%s]", len > 2 ? "," : "", t->tool->schema_json);
	free(rendered);
}

/* ---- the turn's states and transitions ----------------------------------------------
 *
 * Read top to bottom, a turn goes (each helper's work ends with one event, on_event):
 *
 *   state      what happens                                    next
 *   T_START    cancelled, failed to start, or a stored answer  T_END
 *              a continued turn's unanswered tool calls        T_TOOLS    agent_run_calls
 *              the limits, the tool list, the owner's guidance
 *              over the context budget, one compression call   T_COMPRESS agent_compress_call
 *              (none allowed: the oldest messages left out)
 *              the next model call                             T_MODEL    agent_model_call
 *              a limit was hit: one last call, no tools        T_SUMMARY  agent_model_call
 *   T_COMPRESS TE_STEP (summarised, or backed off)             T_START
 *   T_MODEL    TE_CALLS                                        T_TOOLS    agent_run_calls
 *              TE_ANSWER                                       T_END      done
 *              TE_TIMED_OUT (the timer cut the call)           T_START    the summary next
 *              TE_FAILED                                       T_END      failed
 *   T_SUMMARY  TE_ANSWER, TE_FAILED                            T_END      the limit it reached
 *   T_TOOLS    TE_STEP (every result stored)                   T_START
 *   any        TE_UNREAD                                       T_END      failed
 *              TE_CANCELLED                                    T_END      cancelled
 *              a call refused by a budget before it left       T_END      budget
 */

static void finish(struct agent_turn *t, enum agent_stop stop, const char *text);

/* A model call that did not leave ends the turn: a budget's refusal is the budget's stop. */
static void not_sent(struct agent_turn *t, int rc)
{
	if (rc == -ENOSPC || rc == -ECANCELED)
		finish(t, AGENT_STOP_BUDGET, "");
	else
		finish(t, AGENT_FAILED, "internal error: the router refused the request");
}

/* T_START: decides what happens next: compression, a model call, or the limit's summary. */
static void step(struct agent_turn *t)
{
	char why[160], note[400];
	size_t tools_len;
	int rc;

	if (t->cancelled) {
		finish(t, AGENT_CANCELLED, "");
		return;
	}
	if (t->fail_text) {
		finish(t, AGENT_FAILED, t->fail_text);
		return;
	}
	if (t->stored_answer) {
		finish(t, AGENT_DONE, t->stored_answer);
		return;
	}
	if (t->state == T_TOOLS && t->n_calls > 0 && t->next_call == 0 && t->running == 0) {
		agent_run_calls(t); /* a continued turn's stored answer (agent_continues) */
		return;
	}
	if ((t->model_calls > 0 || t->time_up) && t->limit == AGENT_DONE)
		t->limit = limit_hit(t);
	if (!t->tools_json) {
		struct buf tools_json;

		buf_init(&tools_json, 0);
		if (t->scope)
			tools_schemas_json_scoped(t->a->env.tools, t->scope, &tools_json);
		else
			tools_schemas_json(t->a->env.tools, &tools_json);
		if (t->tool)
			add_turn_tool(t, &tools_json);
		t->tools_json = buf_steal(&tools_json);
	}
	if (t->watch && t->watch->steer && t->limit == AGENT_DONE) {
		char *guide = t->watch->steer(t->watch->arg);

		if (guide) {
			char *text = xasprintf("[Guidance from the owner, sent while you work]\n%s",
					       guide);

			agent_add_msg(t, "user", agent_json_message("user", text, NULL), text);
			free(text);
			free(guide);
		}
	}
	tools_len = strlen(t->tools_json);
	if (agent_compress_wanted(t, tools_len)) {
		t->state = T_COMPRESS;
		rc = agent_compress_call(t);
		if (rc == 0)
			return; /* TE_STEP when it ends */
		t->state = T_START;
		if (rc == -ENOSPC || rc == -ECANCELED) {
			/* A task tree's budget has no room for it: the turn ends here, as it
			 * would at its next model call. */
			finish(t, AGENT_STOP_BUDGET, "");
			return;
		}
	}
	agent_trim_context(t, tools_len);
	if (t->limit == AGENT_DONE) {
		t->state = T_MODEL;
		rc = agent_model_call(t, t->tools_json, NULL);
	} else {
		snprintf(note, sizeof(note),
			 "[hermetic] This turn has reached %s. Do not call tools. Tell the user "
			 "briefly what you did, what you found, and what is still open.",
			 limit_text(t, why, sizeof(why)));
		t->state = T_SUMMARY;
		rc = agent_model_call(t, t->tools_json, note);
	}
	if (rc < 0)
		not_sent(t, rc);
}

/* What a helper's work for the turn ended with (struct turn_cbs): the table above. */
static void on_event(struct agent_turn *t, enum turn_event ev, const char *text)
{
	switch (ev) {
	case TE_STEP:
	case TE_TIMED_OUT:
		t->state = T_START;
		step(t);
		break;
	case TE_CALLS:
		t->state = T_TOOLS;
		agent_run_calls(t);
		break;
	case TE_ANSWER:
		finish(t, t->state == T_SUMMARY ? t->limit : AGENT_DONE, text);
		break;
	case TE_FAILED:
		finish(t, t->state == T_SUMMARY ? t->limit : AGENT_FAILED, text);
		break;
	case TE_UNREAD:
		finish(t, AGENT_FAILED, text);
		break;
	case TE_CANCELLED:
		finish(t, AGENT_CANCELLED, "");
		break;
	}
}

static const struct turn_cbs owner_cbs = {.on_event = on_event};

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	step(arg);
}

/* The turn's line of the audit trail. */
static void audit_turn(const struct agent_turn *t, enum agent_stop stop, const char *answer)
{
	struct audit_line l;

	audit_begin(&l, "turn");
	if (!l.on)
		return;
	audit_str(&l, "source", t->source);
	audit_int(&l, "session", t->session_id);
	audit_str(&l, "model_group", t->model);
	if (t->answered && strcmp(t->answered, t->model) != 0)
		audit_str(&l, "answered_by", t->answered);
	audit_str(&l, "lane", agent_lane_name(t));
	if (t->audit_skills.len)
		audit_str(&l, "skills", buf_str(&t->audit_skills));
	audit_str(&l, "outcome", agent_stop_name(stop));
	audit_int(&l, "model_calls", t->model_calls);
	audit_int(&l, "tool_calls", (int64_t)t->n_tool_calls);
	audit_int(&l, "compressions", t->compressions);
	audit_int(&l, "input_tokens", t->prompt_tokens);
	audit_int(&l, "cached_tokens", t->cached_tokens);
	audit_int(&l, "output_tokens", t->completion_tokens);
	audit_num(&l, "cost_usd", t->cost_usd);
	audit_int(&l, "ms", now_mono_ms() - t->audit_t0_ms);
	audit_text(&l, "text", t->audit_in);
	audit_text(&l, "answer", answer);
	audit_end(&l);
}

/* ---- turn life --------------------------------------------------------------------- */

/* Stops what the turn waits on: its model call when in_call (the call's callback ends the
 * step), else its tool calls and local work. */
static void stop_work(struct agent_turn *t, bool in_call)
{
	if (in_call) {
		router_cancel(t->rc);
		return;
	}
	for (size_t i = 0; i < t->n_calls; i++)
		if (t->calls[i].tc)
			tools_cancel(t->calls[i].tc);
	agent_cancel_local(t);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct agent_turn *t = arg;

	if (t->asking > 0) {
		t->timeout_held = true;
		return;
	}
	t->time_up = true;
	stop_work(t, t->rc && (t->state == T_MODEL || t->state == T_COMPRESS));
}

static void unlink_turn(struct agent_turn *t)
{
	for (struct agent_turn **p = &t->a->turns; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			return;
		}
	}
}

/* Frees t and all it holds (also a turn that never started). */
static void turn_free(struct agent_turn *t)
{
	redact_map_destroy(t->redact);
	for (size_t i = 0; i < t->n_msgs; i++)
		free(t->msgs[i].json);
	free(t->msgs);
	agent_free_calls(t);
	if (t->timer)
		event_free(t->timer);
	if (t->defer)
		event_free(t->defer);
	if (t->local_ev)
		event_free(t->local_ev);
	buf_finish(&t->local_out);
	free(t->source);
	free(t->model);
	free(t->answered);
	free(t->system);
	free(t->extra_system);
	free(t->fail_text);
	free(t->stored_answer);
	free(t->tools_json);
	buf_finish(&t->audit_skills);
	buf_finish(&t->read);
	free(t->audit_in);
	agent_stream_finish(&t->stream);
	for (size_t i = 0; i < t->n_parts; i++) {
		free((char *)t->parts[i].path);
		free((char *)t->parts[i].type);
		free((char *)t->parts[i].filename);
	}
	free(t->parts);
	buf_finish(&t->side_keys);
	buf_finish(&t->notices);
	free(t);
}

/* Keeps the usage of the source's last model call for agent_context_split. */
static void remember_last(struct agent *a, const struct agent_turn *t)
{
	struct last_call *l = NULL;

	if (t->last_prompt_tokens <= 0)
		return;
	for (size_t i = 0; i < LAST_SLOTS && !l; i++)
		if (a->last[i].source && strcmp(a->last[i].source, t->source) == 0)
			l = &a->last[i];
	if (!l) {
		l = &a->last[a->next_last];
		a->next_last = (a->next_last + 1) % LAST_SLOTS;
		free(l->source);
		l->source = xstrdup(t->source);
	}
	l->session_id = t->session_id;
	l->prompt_tokens = t->last_prompt_tokens;
	l->cached_tokens = t->cached_tokens;
}

/* Ends the turn: stores the answer and the usage, calls on_done, frees t. */
static void finish(struct agent_turn *t, enum agent_stop stop, const char *text)
{
	struct agent_result r = {0};
	char why[160];
	char *answer;

	if (stop >= AGENT_STOP_ITERATIONS && stop <= AGENT_STOP_TIME)
		answer = xasprintf("%s\n\n(Stopped: this turn reached %s.)",
				   text && *text ? text : "I could not finish.",
				   limit_text(t, why, sizeof(why)));
	else
		answer = xstrdup(text ? text : "");
	if (stop != AGENT_FAILED && stop != AGENT_CANCELLED && *answer && !t->stored_answer)
		agent_add_msg(t, "assistant", agent_json_message("assistant", answer, NULL),
			      answer);
	if (t->notices.len) { /* for the human, not the session's history */
		char *shown =
			xasprintf("%s%s%s", answer, *answer ? "\n\n" : "", buf_str(&t->notices));

		free(answer);
		answer = shown;
	}
	agent_store_usage(t);
	agent_store_answered(t);
	t->state = T_END;
	unlink_turn(t);
	remember_last(t->a, t);
	r.stop = stop;
	r.text = answer;
	r.session_id = t->session_id;
	r.model = t->answered ? t->answered : t->model;
	r.model_asked = t->model;
	r.model_calls = t->model_calls;
	r.tool_calls = t->n_tool_calls;
	r.compressions = t->compressions;
	r.prompt_tokens = t->prompt_tokens;
	r.completion_tokens = t->completion_tokens;
	r.last_prompt_bytes = t->last_bytes;
	r.last_prompt_tokens = t->last_prompt_tokens;
	r.cached_tokens = t->cached_tokens;
	r.cost_usd = t->cost_usd;
	r.deferred = stop == AGENT_FAILED && t->deferred;
	r.retry_after_s = t->retry_after_s;
	audit_turn(t, stop, answer);
	t->cbs.on_done(&r, t->arg);
	free(answer);
	turn_free(t);
}

bool agent_turn_tainted(const struct agent_turn *t)
{
	return t->tainted;
}

struct agent_turn *agent_find(struct agent *a, const char *source)
{
	for (struct agent_turn *t = a->turns; t; t = t->next)
		if (strcmp(t->source, source) == 0)
			return t;
	return NULL;
}

int agent_turn(struct agent *a, const struct agent_turn_opts *o, const char *user_text,
	       const struct agent_cbs *cbs, void *arg, struct agent_turn **out)
{
	struct agent_turn *t;
	struct timeval tv = {(time_t)a->env.cfg->agent.turn_timeout_s, 0};
	int rc;

	if (agent_find(a, o->source))
		return -EBUSY;
	t = xcalloc(1, sizeof(*t));
	t->a = a;
	t->owner = &owner_cbs;
	t->lane = LANE_NONE; /* until agent_lane_start: index 0 is the most sensitive lane */
	t->cbs = *cbs;
	t->arg = arg;
	t->source = xstrdup(o->source);
	t->audit_t0_ms = now_mono_ms();
	buf_init(&t->audit_skills, 1024);
	buf_init(&t->read, SOURCES_MAX);
	if (audit_is_open() && a->env.cfg->audit.include_text)
		t->audit_in = xstrdup(user_text);
	t->extra_system = xstrdup(o->extra_system);
	t->tool = o->tool;
	buf_init(&t->local_out, 0);
	/* A caller's cap (a reminder's) only lowers the global one, unless it is its own (an
	 * alert investigation's). */
	t->max_cost_usd = a->env.cfg->agent.max_turn_cost_usd;
	if (o->max_cost_usd > 0 &&
	    (o->own_cap || t->max_cost_usd <= 0 || o->max_cost_usd < t->max_cost_usd))
		t->max_cost_usd = o->max_cost_usd;
	t->scope = o->scope;
	t->purpose = o->purpose;
	t->watch = o->watch;
	t->rerun_calls = o->rerun_calls;
	t->replay = o->replay;
	rc = agent_open_session(t, o, user_text);
	if (rc < 0) {
		turn_free(t);
		/* Another process holds the database's lock: the caller may try again shortly. */
		return rc == -EBUSY ? -EAGAIN : -EIO;
	}
	tools_source_trust(a->env.cfg, t->source, &t->tainted, &t->web_any);
	agent_pinned_review(a->env.cfg, t->source, &t->review);
	if (!t->tainted) {
		char key[48], *by = NULL;

		agent_taint_key(t, key, sizeof(key));
		t->tainted = store_kv_get(a->env.store, key, &by) != -ENOENT;
		free(by);
	}
	if (o->untrusted)
		agent_taint(t, o->untrusted);
	agent_lane_start(t, o->lane);
	if (!router_has_model(a->env.router, t->model))
		t->fail_text = xasprintf("There is no model \"%s\" in model_list.", t->model);
	else if (o->origin && agent_continues(t, o->origin)) {
		if (t->n_calls > 0)
			t->state = T_TOOLS; /* its stored answer's calls run first */
	} else {
		int64_t now = now_wall_ms();
		char when[80], *noted = NULL;

		if (t->last_ms && now - t->last_ms >= TIME_NOTE_AFTER_MS) {
			agent_format_local(now, when, sizeof(when));
			noted = xasprintf("[%s]\n%s", when, user_text);
		}
		agent_add_msg_from(t, "user",
				   agent_json_message("user", noted ? noted : user_text, NULL),
				   user_text, o->origin);
		free(noted);
		t->msgs[t->n_msgs - 1].parts = true;
	}
	if (o->n_parts) {
		t->parts = xcalloc(o->n_parts, sizeof(*t->parts));
		t->n_parts = o->n_parts;
		for (size_t i = 0; i < o->n_parts; i++)
			t->parts[i] = (struct agent_part){
				o->parts[i].kind,
				xstrdup(o->parts[i].path),
				xstrdup(o->parts[i].type ? o->parts[i].type : ""),
				xstrdup(o->parts[i].filename ? o->parts[i].filename : "file.pdf"),
			};
	}
	t->timer = evtimer_new(loop_base(a->env.loop), on_timeout, t);
	t->defer = evtimer_new(loop_base(a->env.loop), on_defer, t);
	evtimer_add(t->timer, &tv);
	t->deadline_ms = now_mono_ms() + (int64_t)tv.tv_sec * 1000;
	t->next = a->turns;
	a->turns = t;
	if (out)
		*out = t;
	tv.tv_sec = 0;
	evtimer_add(t->defer, &tv);
	return 0;
}

void agent_cancel(struct agent_turn *t)
{
	if (t->cancelled || t->state == T_END)
		return;
	t->cancelled = true;
	/* Not waiting on anything (about to start): step() sees the flag. */
	stop_work(t, t->rc != NULL);
}

int agent_context_split(struct agent *a, const char *source, struct agent_context_split *out)
{
	struct agent_turn *t = xcalloc(1, sizeof(*t));
	const char *model = a->env.cfg->model ? a->env.cfg->model : "";
	int rc;

	memset(out, 0, sizeof(*out));
	t->a = a;
	t->source = xstrdup(source);
	rc = agent_load_current(t, NULL, false);
	if (rc == -ENOENT) {
		t->system = agent_system_prompt(a);
		t->model = xstrdup(model);
		rc = 0;
	}
	if (rc == 0) {
		const char *lane = NULL;

		if (!t->model)
			t->model = xstrdup(model);
		/* The memory the next turn sees: its lane's files too. */
		if (agent_lane_of(a, source, &lane, NULL, 0) == 0)
			agent_prompt_lane_memory(a->env.cfg, lane, &t->system);
		agent_model_split(t, out);
		out->session_id = t->session_id;
		out->budget_tokens = agent_budget_tokens(t);
		for (size_t i = 0; i < LAST_SLOTS; i++) {
			const struct last_call *l = &a->last[i];

			if (l->source && t->session_id && l->session_id == t->session_id &&
			    strcmp(l->source, source) == 0) {
				out->have_last = true;
				out->last_prompt_tokens = l->prompt_tokens;
				out->last_cached_tokens = l->cached_tokens;
			}
		}
	}
	turn_free(t);
	return rc;
}

struct agent *agent_create(const struct agent_env *env)
{
	struct agent *a = xcalloc(1, sizeof(*a));

	a->env = *env;
	return a;
}

void agent_destroy(struct agent *a)
{
	if (!a)
		return;
	for (struct agent_turn *t = a->turns; t; t = t->next)
		agent_cancel(t);
	/* Cancellations complete from the loop (router and tool callbacks): deliver them, so
	 * every on_done fires and no callback is left pointing at a freed turn. */
	for (int i = 0; a->turns && i < 10000; i++)
		event_base_loop(loop_base(a->env.loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	if (a->turns) {
		log_error("agent: turns still running at shutdown; leaking them");
		return;
	}
	for (size_t i = 0; i < LAST_SLOTS; i++)
		free(a->last[i].source);
	free(a);
}
