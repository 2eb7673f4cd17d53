/* tasks_delegate: the `delegate` tool of a task's agents and the children it starts. A call
 * names 1..DELEGATE_MAX_GOALS goals; each becomes a child row of the journal and a fresh turn
 * that reads only its goal and the context passed with it, with the tools named (a subset of
 * the parent's; default: the parent's) and optionally another model group. Children wait in
 * the tree's queue and run tasks.max_parallel_children at once; a child waiting for its own
 * children gives its place up meanwhile (else a tree one place wide would wait for itself).
 * The parent reads one JSON answer with every child's result, failed, timed-out and unrun
 * ones included: nothing is dropped.
 *
 * After a restart the parent's agent delegates again (its interrupted call has no result);
 * a goal that matches a stored child at the same place is that child: its stored result is
 * the answer without a model call, and a child that was running continues its own session.
 */
#include "agent/tasks_int.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define DELEGATE_SCHEMA                                                                            \
	"{\"type\":\"function\",\"function\":{\"name\":\"delegate\",\"description\":\"Hand 1 to "  \
	"8 independent goals to child agents that work in parallel and report back. A child sees " \
	"only its goal and the context you pass, not this conversation. Returns each child's "     \
	"summary, findings, what it could not do, and its cost.\",\"parameters\":{\"type\":"       \
	"\"object\",\"properties\":{\"tasks\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":8,"  \
	"\"items\":{\"type\":\"object\",\"properties\":{\"goal\":{\"type\":\"string\"},"           \
	"\"context\":{\"type\":\"string\",\"description\":\"what the child needs to know\"},"      \
	"\"tools\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"tool "    \
	"names the child may use, a subset of yours; default: yours\"},\"model\":{\"type\":"       \
	"\"string\",\"description\":\"model group; default: yours\"}},\"required\":[\"goal\"]}}"   \
	"},\"required\":[\"tasks\"]}}}"

struct slot {
	int64_t id; /* 0: no child (refused before it had a row) */
	char *goal;
	char state[12];
	char *result, *why;
	struct task_spend spent;
	bool reused, timed_out, done;
};

struct delegation {
	struct node *parent;
	struct agent_tool_call *call;
	struct slot slots[DELEGATE_MAX_GOALS];
	size_t n, n_done;
	struct event *ev; /* the answer, always from the loop */
	char *error;	  /* the whole call was refused: this is the answer */
	bool answered;
};

/* ---- the answer ------------------------------------------------------------------------ */

/* The child's JSON answer as structured fields, else its text as the summary. */
static void add_result(cJSON *o, const char *text)
{
	cJSON *j = text ? json_parse_str(text, NULL) : NULL;
	static const char *const keys[] = {"summary", "findings", "could_not_do"};

	if (!cJSON_IsObject(j)) {
		/* A fenced JSON answer is common: try what lies between the outer braces. */
		const char *a = text ? strchr(text, '{') : NULL,
			   *b = text ? strrchr(text, '}') : NULL;

		cJSON_Delete(j);
		j = a && b && b > a ? json_parse((const char *)a, (size_t)(b - a + 1), 0, NULL)
				    : NULL;
	}
	if (!cJSON_IsObject(j)) {
		cJSON_AddStringToObject(o, "summary", text ? text : "");
		cJSON_Delete(j);
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[i]);

		if (v)
			cJSON_AddItemToObject(o, keys[i], cJSON_Duplicate(v, true));
	}
	cJSON_Delete(j);
}

static char *answer_json(const struct delegation *dg, bool *is_error)
{
	cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "results");
	size_t ok = 0;
	char *text;

	for (size_t i = 0; i < dg->n; i++) {
		const struct slot *s = &dg->slots[i];
		cJSON *o = cJSON_CreateObject();

		if (s->id)
			cJSON_AddNumberToObject(o, "task", (double)s->id);
		cJSON_AddStringToObject(o, "goal", s->goal ? s->goal : "");
		cJSON_AddStringToObject(o, "status", s->timed_out ? "timed_out" : s->state);
		if (strcmp(s->state, "done") == 0 && !s->timed_out)
			ok++;
		if (s->result && *s->result)
			add_result(o, s->result);
		if (s->why)
			cJSON_AddStringToObject(o, "error", s->why);
		cJSON_AddNumberToObject(o, "cost_usd", s->spent.usd);
		cJSON_AddNumberToObject(o, "tokens", (double)s->spent.tokens);
		if (s->reused)
			cJSON_AddBoolToObject(o, "from_journal", true);
		cJSON_AddItemToArray(arr, o);
	}
	if (ok < dg->n)
		cJSON_AddStringToObject(root, "note",
					"Some children did not finish: their status says why. "
					"Use what they found; do not pretend they succeeded.");
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	*is_error = ok == 0;
	return text;
}

static void delegation_free(struct delegation *dg)
{
	for (size_t i = 0; i < DELEGATE_MAX_GOALS; i++) {
		free(dg->slots[i].goal);
		free(dg->slots[i].result);
		free(dg->slots[i].why);
	}
	if (dg->ev)
		event_free(dg->ev);
	free(dg->error);
	free(dg);
}

static void on_answer(evutil_socket_t fd, short what, void *arg)
{
	struct delegation *dg = arg;
	struct node *p = dg->parent;
	struct agent_tool_call *call = dg->call;
	bool is_error = true;
	char *text;

	(void)fd;
	(void)what;
	text = dg->error ? xstrdup(dg->error) : answer_json(dg, &is_error);
	p->dg = NULL;
	if (p->of && !dg->error) /* a child waiting for its children takes its place back */
		p->tree->running_children++;
	delegation_free(dg);
	agent_tool_done(call, is_error, text);
	free(text);
}

static void answer_later(struct delegation *dg)
{
	struct timeval now = {0, 0};

	if (dg->answered)
		return;
	dg->answered = true;
	evtimer_add(dg->ev, &now);
}

static void maybe_answer(struct delegation *dg)
{
	if (dg->n_done >= dg->n)
		answer_later(dg);
}

/* ---- children ---------------------------------------------------------------------------- */

static void slot_end(struct delegation *dg, size_t i, const char *state, const char *why)
{
	struct slot *s = &dg->slots[i];

	if (s->done)
		return;
	s->done = true;
	snprintf(s->state, sizeof(s->state), "%s", state);
	if (why && !s->why)
		s->why = xstrdup(why);
	dg->n_done++;
}

static void pump(struct tree *tr);

void tasks_child_done(struct node *c, const struct agent_result *r)
{
	struct tasks *ts = c->ts;
	struct tree *tr = c->tree;
	struct delegation *dg = c->of;
	struct slot *s = &dg->slots[c->slot];
	char why[200];
	const char *state;

	tr->running_children--;
	if (ts->destroying) { /* its row stays running: the next start resumes it */
		slot_end(dg, c->slot, "stopped", "interrupted: the gateway stopped");
	} else {
		state = c->ts->cbs->end_state(c, r, why, sizeof(why));
		s->timed_out = r->stop == AGENT_STOP_TIME;
		s->result = *r->text ? xstrdup(r->text) : NULL;
		s->spent = (struct task_spend){r->cost_usd, r->prompt_tokens + r->completion_tokens,
					       r->tool_calls, r->model_calls};
		if (task_store_end(ts->store, c->id, state, s->result, *why ? why : NULL,
				   now_wall_ms()) < 0)
			log_warn("tasks: the result of child %lld was not stored: %s",
				 (long long)c->id, store_error(ts->store));
		c->ts->cbs->audit_node(c, "end", state, r);
		slot_end(dg, c->slot, state, *why ? why : NULL);
	}
	c->ts->cbs->node_free(c);
	maybe_answer(dg);
	pump(tr);
}

/* Starts what the tree may start now of its waiting children. */
static void pump(struct tree *tr)
{
	size_t waiting = 0, k;

	for (struct node *w = tr->waiting; w; w = w->wnext)
		waiting++;
	k = task_children_to_start(waiting, tr->running_children,
				   tr->ts->cfg->tasks.max_parallel_children);
	while (k-- > 0 && tr->waiting) {
		struct node *c = tr->waiting;
		struct delegation *dg = c->of;
		int rc;

		tr->waiting = c->wnext;
		if (!tr->waiting)
			tr->waiting_tail = &tr->waiting;
		c->wnext = NULL;
		c->ts->cbs->audit_node(c, c->resumed ? "resume" : "start", NULL, NULL);
		rc = c->ts->cbs->run_node(c);
		if (rc == 0) {
			tr->running_children++;
			continue;
		}
		log_warn("tasks: child %lld could not start (%s)", (long long)c->id, strerror(-rc));
		(void)task_store_end(tr->ts->store, c->id, "failed", NULL, "it could not start",
				     now_wall_ms());
		slot_end(dg, c->slot, "failed", "it could not start");
		c->ts->cbs->node_free(c);
		maybe_answer(dg);
		k++;
	}
}

void tasks_delegate_cancel_waiting(struct tree *tr)
{
	while (tr->waiting) {
		struct node *c = tr->waiting;
		struct delegation *dg = c->of;

		tr->waiting = c->wnext;
		(void)task_store_end(tr->ts->store, c->id, "stopped", NULL, "not run: stopped",
				     now_wall_ms());
		slot_end(dg, c->slot, "stopped", "not run: the task was stopped");
		c->ts->cbs->node_free(c);
		maybe_answer(dg);
	}
	tr->waiting_tail = &tr->waiting;
}

/* ---- the call ------------------------------------------------------------------------------ */

static bool has_name(const struct node *n, const char *name)
{
	for (size_t i = 0; i < n->n_tool_names; i++)
		if (strcmp(n->tool_names[i], name) == 0)
			return true;
	return false;
}

/* The child's tools as "a,b" (NULL: the parent's), or an error in err. */
static int child_tools(const struct node *p, const cJSON *tools, char **out, char *err, size_t len)
{
	struct buf b;
	const cJSON *t;

	*out = NULL;
	if (!tools) {
		if (p->scoped) {
			buf_init(&b, 0);
			for (size_t i = 0; i < p->n_tool_names; i++)
				buf_printf(&b, "%s%s", i ? "," : "", p->tool_names[i]);
			*out = buf_steal(&b);
		}
		return 0;
	}
	if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) > DELEGATE_MAX_TOOLS) {
		snprintf(err, len, "tools must be a list of at most %d tool names",
			 DELEGATE_MAX_TOOLS);
		return -EINVAL;
	}
	buf_init(&b, 0);
	cJSON_ArrayForEach(t, tools)
	{
		if (!cJSON_IsString(t) || !*t->valuestring || strchr(t->valuestring, ',') ||
		    strlen(t->valuestring) > 64 || strcmp(t->valuestring, "delegate") == 0) {
			snprintf(err, len, "tools must name tools (delegate is given by depth)");
			buf_finish(&b);
			return -EINVAL;
		}
		if (p->scoped && !has_name(p, t->valuestring)) {
			snprintf(err, len,
				 "tool %.64s is not one of yours: a child gets a subset of your "
				 "tools",
				 t->valuestring);
			buf_finish(&b);
			return -EPERM;
		}
		buf_printf(&b, "%s%s", b.len ? "," : "", t->valuestring);
	}
	*out = buf_steal(&b);
	return 0;
}

/* The child of goal i: its stored row when one matches, else a new one. 0 or the error. */
static int child_row(struct node *p, size_t i, const cJSON *goal, struct task_row *row, char *err,
		     size_t len)
{
	struct tasks *ts = p->ts;
	const char *g = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(goal, "goal"));
	const char *ctx = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(goal, "context"));
	const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(goal, "model"));
	char origin[32], *tools = NULL;
	struct task_new nw;
	int64_t id;
	int rc;

	if (!g || !*g || strlen(g) > TASK_PROMPT_MAX || (ctx && strlen(ctx) > TASK_CONTEXT_MAX)) {
		snprintf(err, len, "each goal needs a goal of at most %d bytes (context: %d)",
			 TASK_PROMPT_MAX, TASK_CONTEXT_MAX);
		return -EINVAL;
	}
	if (task_store_find_child(ts->store, p->id, (int64_t)i, g, row) == 0)
		return 0;
	rc = child_tools(p, cJSON_GetObjectItemCaseSensitive(goal, "tools"), &tools, err, len);
	if (rc < 0)
		return rc;
	snprintf(origin, sizeof(origin), "task:%lld", (long long)p->id);
	nw = (struct task_new){
		.root = p->tree->root,
		.parent = p->id,
		.depth = p->depth + 1,
		.seq = (int64_t)i,
		.origin = origin,
		.chat_id = p->tree->chat_id,
		.thread_id = p->tree->thread_id,
		.prompt = g,
		.context = ctx,
		.tools = tools,
		.model = model && *model ? model : p->model,
		.untrusted = p->untrusted ? p->untrusted
			     : p->turn && agent_turn_tainted(p->turn)
				     ? "its parent read untrusted text"
				     : NULL,
		/* Its parent's lane now, which may have risen since the parent started. */
		.lane = p->turn ? agent_turn_lane(p->turn) : p->lane,
	};
	rc = task_store_add(ts->store, &nw, now_wall_ms(), &id);
	free(tools);
	if (rc == 0)
		rc = task_store_get(ts->store, id, row);
	if (rc < 0)
		snprintf(err, len, "the journal could not store the child (%s)",
			 store_error(ts->store));
	return rc;
}

static void take_goal(struct delegation *dg, size_t i, const cJSON *goal)
{
	struct node *p = dg->parent;
	struct tree *tr = p->tree;
	struct slot *s = &dg->slots[i];
	struct task_row row;
	char err[200];
	struct node *c;

	s->goal = xstrdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(goal, "goal")));
	if (child_row(p, i, goal, &row, err, sizeof(err)) < 0) {
		slot_end(dg, i, "refused", err);
		return;
	}
	s->id = row.id;
	if (task_state_final(row.state)) { /* its result is stored: not run again */
		s->reused = true;
		s->result = xstrdup(row.result);
		s->spent = row.spent;
		log_info("tasks: child %lld of task %lld is answered from the journal",
			 (long long)row.id, (long long)tr->root);
		slot_end(dg, i, row.state, row.why);
		task_row_finish(&row);
		return;
	}
	c = p->ts->cbs->node_new(p->ts, tr, &row);
	c->of = dg;
	c->slot = i;
	*tr->waiting_tail = c;
	tr->waiting_tail = &c->wnext;
	task_row_finish(&row);
}

static void on_start(const char *args, struct agent_tool_call *call, void *arg)
{
	struct node *p = arg;
	struct delegation *dg = xcalloc(1, sizeof(*dg));
	cJSON *j = json_parse_str(args ? args : "", NULL);
	const cJSON *goals = cJSON_GetObjectItemCaseSensitive(j, "tasks"), *g;
	size_t i = 0;

	dg->parent = p;
	dg->call = call;
	dg->ev = evtimer_new(loop_base(p->ts->loop), on_answer, dg);
	p->dg = dg;
	if (!task_may_delegate(p->depth, p->ts->cfg->tasks.max_depth))
		dg->error = xasprintf("delegate refused: this agent is at depth %lld and "
				      "tasks.max_depth is %lld",
				      (long long)p->depth, (long long)p->ts->cfg->tasks.max_depth);
	else if (!cJSON_IsArray(goals) || cJSON_GetArraySize(goals) < 1 ||
		 cJSON_GetArraySize(goals) > DELEGATE_MAX_GOALS)
		dg->error = xasprintf("delegate needs {\"tasks\": [{\"goal\": ...}, ...]} with 1 "
				      "to %d goals",
				      DELEGATE_MAX_GOALS);
	if (dg->error) {
		cJSON_Delete(j);
		answer_later(dg);
		return;
	}
	if (p->of) /* waiting for its children, it holds no place of the tree */
		p->tree->running_children--;
	dg->n = (size_t)cJSON_GetArraySize(goals);
	cJSON_ArrayForEach(g, goals) take_goal(dg, i++, g);
	cJSON_Delete(j);
	log_info("tasks: node %lld of task %lld delegates %zu goal(s)", (long long)p->id,
		 (long long)p->tree->root, dg->n);
	pump(p->tree);
	maybe_answer(dg);
}

static void on_cancel(struct agent_tool_call *call, void *arg)
{
	struct node *p = arg;
	struct delegation *dg = p->dg;
	struct tree *tr = p->tree;

	(void)call;
	if (!dg || dg->answered)
		return;
	/* Its waiting children do not start; its running ones are cancelled and answer. */
	for (struct node **w = &tr->waiting; *w;) {
		struct node *c = *w;

		if (c->of != dg) {
			w = &c->wnext;
			continue;
		}
		*w = c->wnext;
		if (!p->ts->destroying)
			(void)task_store_end(p->ts->store, c->id, "stopped", NULL,
					     "not run: its parent was stopped", now_wall_ms());
		slot_end(dg, c->slot, "stopped", "not run: its parent was stopped");
		c->ts->cbs->node_free(c);
	}
	tr->waiting_tail = &tr->waiting;
	for (struct node *w = tr->waiting; w; w = w->wnext)
		tr->waiting_tail = &w->wnext;
	p->ts->cbs->cancel_turns(p->ts, NULL, dg);
	maybe_answer(dg);
}

void tasks_delegate_init(struct node *n)
{
	n->delegate = (struct agent_tool){.name = "delegate",
					  .schema_json = DELEGATE_SCHEMA,
					  .start = on_start,
					  .cancel = on_cancel,
					  .arg = n};
}
