/* tasks: background task trees (see tasks.h). This file owns the roots: the queue
 * (tasks.max_running at once, the journal's order), a node's turn and the watch that holds
 * the tree's budget (every model call reserves the dearest call the tree made so far before
 * it leaves and settles after), the end of a task (its row, its audit line, its message) and
 * the delivery of that message, Stop and Steer, and the views (list, show). The `delegate`
 * tool and the children are tasks_delegate.c's; the SQL is task_store.c's.
 *
 * The message is built from the stored row, not from memory: a delivery repeated at start
 * after a crash sends the same text.
 *
 * Rejected: a reservation through the router's own budget machinery. The router's budgets
 * are per caller and per period; a tree is neither, and the daily and monthly caps still
 * hold every call of a tree as they hold any other.
 */
#include "agent/tasks_int.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KICK_RETRY_MS 1000 /* a locked database: the queue looks again this much later */
/* A task begun this often and never ended is not taken up again: one that brings the gateway
 * down would otherwise be paid for at every start. */
#define TASK_MAX_STARTS 5

static void kick(struct tasks *ts, int64_t after_ms)
{
	struct timeval tv = {(time_t)(after_ms / 1000), (suseconds_t)(after_ms % 1000) * 1000};

	if (ts->destroying || !ts->started)
		return;
	if (after_ms == 0 && evtimer_pending(ts->kick, NULL))
		event_del(ts->kick);
	if (!evtimer_pending(ts->kick, NULL))
		evtimer_add(ts->kick, &tv);
}

/* ---- the tree ---------------------------------------------------------------------- */

static struct tree *tree_new(struct tasks *ts, const struct task_row *root)
{
	struct tree *tr = xcalloc(1, sizeof(*tr));

	tr->ts = ts;
	tr->root = root->id;
	tr->budget = root->budget;
	tr->t0_ms = root->started_ms ? root->started_ms : now_wall_ms();
	tr->chat_id = root->chat_id;
	tr->thread_id = root->thread_id;
	tr->waiting_tail = &tr->waiting;
	if (task_store_tree_spend(ts->store, root->id, &tr->spent) < 0)
		memset(&tr->spent, 0, sizeof(tr->spent));
	tr->next = ts->trees;
	ts->trees = tr;
	return tr;
}

static void tree_unref(struct tree *tr)
{
	if (--tr->n_nodes > 0)
		return;
	for (struct tree **p = &tr->ts->trees; *p; p = &(*p)->next)
		if (*p == tr) {
			*p = tr->next;
			break;
		}
	free(tr);
}

/* The limit in words when the tree is stopped by one, else NULL (into out). */
static const char *tree_why(const struct tree *tr, char *out, size_t len)
{
	if (tr->limit == TASK_LIMIT_NONE)
		return NULL;
	return task_limit_text(tr->limit, &tr->budget, out, len);
}

static struct tree *find_tree(struct tasks *ts, int64_t root)
{
	for (struct tree *tr = ts->trees; tr; tr = tr->next)
		if (tr->root == root)
			return tr;
	return NULL;
}

/* ---- a node's turn ------------------------------------------------------------------- */

static void set_doing(struct node *n, const char *doing)
{
	(void)task_store_set_doing(n->ts->store, n->id, doing);
}

static void release(struct node *n)
{
	n->tree->reserved.usd -= n->reserved.usd;
	n->tree->reserved.tokens -= n->reserved.tokens;
	memset(&n->reserved, 0, sizeof(n->reserved));
}

/* The turn's lane rose (it read a lane's skill or MCP result): the row says so, for /tasks,
 * the API and the cockpit; the call itself is already held to the lane by the router. */
static void note_lane(struct node *n)
{
	const char *now = n->turn ? agent_turn_lane(n->turn) : NULL;

	if (!now || (n->lane && strcmp(now, n->lane) == 0))
		return;
	free(n->lane);
	n->lane = xstrdup(now);
	(void)task_store_set_lane(n->ts->store, n->id, now);
}

/* watch.before_call: the tree's budget, reserved before the call leaves: every model call
 * of the node's turn (its own, the limit's summary, compression, tools' side calls). */
static int on_before_call(void *arg, struct agent_hold *hold, char *why, size_t len)
{
	struct node *n = arg;
	struct tree *tr = n->tree;

	if (tr->stop) {
		snprintf(why, len, "stopped by the owner");
		return -ECANCELED;
	}
	if (tr->limit == TASK_LIMIT_NONE)
		tr->limit = task_budget_check(&tr->budget, &tr->spent, &tr->reserved, &tr->dearest,
					      now_wall_ms() - tr->t0_ms);
	if (tr->limit != TASK_LIMIT_NONE) {
		task_limit_text(tr->limit, &tr->budget, why, len);
		log_info("tasks: task %lld (node %lld) stops: it reached %s", (long long)tr->root,
			 (long long)n->id, why);
		return -ENOSPC;
	}
	hold->usd = tr->dearest.usd;
	hold->tokens = tr->dearest.tokens;
	n->reserved.usd += hold->usd;
	n->reserved.tokens += hold->tokens;
	tr->reserved.usd += hold->usd;
	tr->reserved.tokens += hold->tokens;
	set_doing(n, n->dg ? "waiting for its subagents" : "thinking (model call)");
	note_lane(n);
	return 0;
}

/* watch.after_call: the call's cost settles; the dearest call sets the next reservation. */
static void on_after_call(void *arg, const struct agent_hold *hold, double cost_usd, int64_t tokens)
{
	struct node *n = arg;
	struct tree *tr = n->tree;
	struct task_spend d = {cost_usd, tokens, 0, 1};

	n->reserved.usd -= hold->usd;
	n->reserved.tokens -= hold->tokens;
	tr->reserved.usd -= hold->usd;
	tr->reserved.tokens -= hold->tokens;
	tr->spent.usd += cost_usd;
	tr->spent.tokens += tokens;
	tr->spent.model_calls++;
	if (cost_usd > tr->dearest.usd)
		tr->dearest.usd = cost_usd;
	if (tokens > tr->dearest.tokens)
		tr->dearest.tokens = tokens;
	if (task_store_add_spend(n->ts->store, n->id, &d) < 0)
		log_warn("tasks: the spend of task %lld was not stored: %s", (long long)n->id,
			 store_error(n->ts->store));
}

/* watch.steer: the owner's guidance for this node (the root's, the tree's, or its own). */
static char *on_steer(void *arg)
{
	struct node *n = arg;
	char *text = NULL;

	if (task_store_take_steer(n->ts->store, n->id, &text) == 0 && text)
		log_info("tasks: task %lld (depth %lld) reads the owner's guidance",
			 (long long)n->id, (long long)n->depth);
	return text;
}

static void on_tool_call(const char *name, const char *args, void *arg)
{
	struct node *n = arg;
	struct task_spend d = {0, 0, 1, 0};
	char doing[96];

	(void)args;
	n->tree->spent.tool_calls++;
	(void)task_store_add_spend(n->ts->store, n->id, &d);
	snprintf(doing, sizeof(doing), "running %s", name);
	set_doing(n, doing);
}

static void root_done(struct node *n, const struct agent_result *r);

static void on_node_done(const struct agent_result *r, void *arg)
{
	struct node *n = arg;

	n->turn = NULL;
	release(n);
	if (n->of) {
		tasks_child_done(n, r);
		return;
	}
	root_done(n, r);
}

static const struct agent_cbs node_cbs = {.on_tool_call = on_tool_call, .on_done = on_node_done};

static char *system_of(const struct tasks *ts, const struct node *n)
{
	bool may = task_may_delegate(n->depth, ts->cfg->tasks.max_depth);
	const char *deleg = may ? " With `delegate` you may hand independent parts of the work to "
				  "child agents; each sees only the goal and the context you give "
				  "it, and reports back."
				: "";

	if (n->depth == 0)
		return xasprintf("You are running as background task %lld for the owner: nobody "
				 "reads along while you work, and your final answer is delivered "
				 "to the owner's chat as the task's result.%s",
				 (long long)n->id, deleg);
	return xasprintf("You are a subagent (task %lld, depth %lld) working for another agent "
			 "on one goal: you see only the goal and the context it gave you.%s End "
			 "with your answer as one JSON object: {\"summary\": \"...\", "
			 "\"findings\": [\"...\"], \"could_not_do\": [\"...\"]}.",
			 (long long)n->id, (long long)n->depth, deleg);
}

static struct node *node_new(struct tasks *ts, struct tree *tr, const struct task_row *row)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->ts = ts;
	n->tree = tr;
	tr->n_nodes++;
	n->id = row->id;
	n->depth = row->depth;
	snprintf(n->source, sizeof(n->source), "task:%lld", (long long)row->id);
	n->prompt = row->context && *row->context
			    ? xasprintf("%s\n\nContext from the agent that asked:\n%s", row->prompt,
					row->context)
			    : xstrdup(row->prompt);
	n->model = xstrdup(row->model);
	n->untrusted = xstrdup(row->untrusted);
	n->lane = xstrdup(row->lane);
	n->resumed = row->starts > 0;
	if (row->tools) {
		const char *p = row->tools;

		n->scoped = true;
		while (*p && n->n_tool_names < DELEGATE_MAX_TOOLS) {
			size_t len = strcspn(p, ",");

			if (len)
				n->tool_names[n->n_tool_names++] = xstrndup(p, len);
			p += len + (p[len] == ',');
		}
		n->scope.builtins = (const char *const *)n->tool_names;
		n->scope.n_builtins = n->n_tool_names;
	}
	n->extra_system = system_of(ts, n);
	n->watch = (struct agent_watch){on_before_call, on_after_call, on_steer, n};
	tasks_delegate_init(n);
	n->next = ts->nodes;
	ts->nodes = n;
	return n;
}

static void node_free(struct node *n)
{
	struct tree *tr = n->tree;

	for (struct node **p = &n->ts->nodes; *p; p = &(*p)->next)
		if (*p == n) {
			*p = n->next;
			break;
		}
	for (size_t i = 0; i < n->n_tool_names; i++)
		free(n->tool_names[i]);
	free(n->prompt);
	free(n->extra_system);
	free(n->model);
	free(n->untrusted);
	free(n->lane);
	free(n);
	tree_unref(tr);
}

static void cancel_turns(struct tasks *ts, const struct tree *tr, const struct delegation *of)
{
	struct agent_turn **turns;
	size_t n = 0, k = 0;

	/* Turns first, cancels after: a cancel may free nodes of the list (a delegation's
	 * children that had not started), never a turn (a turn ends from the loop). */
	for (struct node *x = ts->nodes; x; x = x->next)
		n++;
	turns = xcalloc(n ? n : 1, sizeof(*turns));
	for (struct node *x = ts->nodes; x; x = x->next)
		if (x->turn && (!tr || x->tree == tr) && (!of || x->of == of))
			turns[k++] = x->turn;
	for (size_t i = 0; i < k; i++)
		agent_cancel(turns[i]);
	free(turns);
}

static struct node *find_node(struct tasks *ts, int64_t id)
{
	for (struct node *n = ts->nodes; n; n = n->next)
		if (n->id == id)
			return n;
	return NULL;
}

static int run_node(struct node *n)
{
	struct tasks *ts = n->ts;
	const struct task_budget *b = &n->tree->budget;
	struct agent_turn_opts o = {
		.source = n->source,
		.model = n->model,
		.fresh = !n->resumed,
		.rerun_calls = true,
		.no_idle = true,
		.origin = n->source,
		.extra_system = n->extra_system,
		.max_cost_usd = b->usd,
		.own_cap = b->usd > 0,
		.scope = n->scoped ? &n->scope : NULL,
		.tool = task_may_delegate(n->depth, ts->cfg->tasks.max_depth) ? &n->delegate : NULL,
		.untrusted = n->untrusted,
		.purpose = n->depth ? "subagent" : "task",
		.watch = &n->watch,
		.lane = n->lane,
	};
	int rc = task_store_start(ts->store, n->id, now_wall_ms());

	if (rc < 0)
		return rc;
	rc = agent_turn(ts->agent, &o, n->prompt, &node_cbs, n, &n->turn);
	if (rc == 0)
		n->resumed = true;
	return rc;
}

/* ---- the end of a task and its message --------------------------------------------- */

static void spend_line(const struct task_spend *s, struct buf *out)
{
	buf_printf(out, "$%.4f, %lld model calls, %lld tool calls, %lld tokens", s->usd,
		   (long long)s->model_calls, (long long)s->tool_calls, (long long)s->tokens);
}

/* What the children of root found, for a tree that did not finish. */
static void partial_results(struct store *s, int64_t root, struct buf *out)
{
	struct task_row *kids = NULL;
	size_t n = 0;

	if (task_store_children(s, root, &kids, &n) < 0 || n == 0) {
		buf_puts(out, "\n\nNo partial results: no subagent had finished.");
		task_rows_free(kids, n);
		return;
	}
	buf_puts(out, "\n\nPartial results:");
	for (size_t i = 0; i < n; i++) {
		char *goal = utf8_clip_dup(kids[i].prompt, 120, true);
		char *res = utf8_clip_dup(kids[i].result ? kids[i].result : "", 1500, true);

		buf_printf(out, "\n- %s (%s): %s", goal, kids[i].state,
			   *res		 ? res
			   : kids[i].why ? kids[i].why
					 : "no result");
		free(res);
		free(goal);
	}
	task_rows_free(kids, n);
}

/* The message for the task's chat, from its stored row. */
static char *message_of(struct store *s, const struct task_row *r)
{
	struct task_spend sp;
	struct buf b;

	if (task_store_tree_spend(s, r->id, &sp) < 0)
		sp = r->spent;
	buf_init(&b, 0);
	if (strcmp(r->state, "stopped") == 0) {
		buf_printf(&b, "Task %lld stopped.", (long long)r->id);
		return buf_steal(&b);
	}
	if (strcmp(r->state, "done") == 0)
		buf_printf(&b, "**Task %lld done** (", (long long)r->id);
	else if (strcmp(r->state, "budget") == 0)
		buf_printf(&b, "**Task %lld stopped: it reached %s** (", (long long)r->id,
			   r->why ? r->why : "its budget");
	else
		buf_printf(&b, "**Task %lld failed**: %s (", (long long)r->id,
			   r->why ? r->why : "no reason given");
	spend_line(&sp, &b);
	buf_puts(&b, ")");
	if (r->result && *r->result)
		buf_printf(&b, "\n\n%s", r->result);
	if (strcmp(r->state, "done") != 0)
		partial_results(s, r->id, &b);
	return buf_steal(&b);
}

/* Hands the stored result of root id to its chat and marks it delivered. */
static void deliver(struct tasks *ts, const struct task_row *r)
{
	char *msg;
	int rc = 0;

	if (r->chat_id && ts->sink.deliver) {
		msg = message_of(ts->store, r);
		rc = ts->sink.deliver(ts->sink.ctx, r->chat_id, r->thread_id, msg);
		free(msg);
	}
	if (rc < 0) {
		log_warn("tasks: the result of task %lld could not be handed to chat %lld; it is "
			 "tried again at the next start",
			 (long long)r->id, (long long)r->chat_id);
		return;
	}
	if (task_store_mark_delivered(ts->store, r->id) < 0)
		log_warn("tasks: task %lld was delivered but not marked so (%s): it may be "
			 "delivered again at the next start",
			 (long long)r->id, store_error(ts->store));
}

static void audit_node(const struct node *n, const char *event, const char *outcome,
		       const struct agent_result *r)
{
	struct audit_line l;

	audit_begin(&l, "task");
	if (!l.on)
		return;
	audit_int(&l, "task", n->tree->root);
	audit_int(&l, "node", n->id);
	audit_int(&l, "depth", n->depth);
	audit_str(&l, "event", event);
	if (outcome)
		audit_str(&l, "outcome", outcome);
	if (r) {
		audit_int(&l, "model_calls", r->model_calls);
		audit_int(&l, "tool_calls", r->tool_calls);
		audit_int(&l, "tokens", r->prompt_tokens + r->completion_tokens);
		audit_num(&l, "cost_usd", r->cost_usd);
	}
	audit_end(&l);
}

/* The state a node's turn ends in, and why (into why). */
static const char *end_state(const struct node *n, const struct agent_result *r, char *why,
			     size_t len)
{
	*why = '\0';
	if (n->tree->stop)
		return "stopped";
	if (tree_why(n->tree, why, len))
		return "budget";
	switch (r->stop) {
	case AGENT_FAILED:
		snprintf(why, len, "%s", r->text);
		return "failed";
	case AGENT_CANCELLED:
		snprintf(why, len, "cancelled");
		return "stopped";
	case AGENT_STOP_BUDGET:
		snprintf(why, len, "the budget");
		return "budget";
	case AGENT_STOP_TIME:
		snprintf(why, len, "timed out (agent.turn_timeout_s)");
		return "done";
	default:
		return "done";
	}
}

static void root_done(struct node *n, const struct agent_result *r)
{
	struct tasks *ts = n->ts;
	struct task_row row;
	char why[200];
	const char *state;
	bool ok;

	ts->running_roots--;
	if (ts->destroying) { /* the row stays running: the next start takes it up */
		node_free(n);
		return;
	}
	state = end_state(n, r, why, sizeof(why));
	ok = strcmp(state, "done") == 0;
	audit_node(n, "end", state, r);
	if (task_store_end(ts->store, n->id, state, ok || *r->text ? r->text : NULL,
			   *why ? why : NULL, now_wall_ms()) < 0)
		log_warn("tasks: the end of task %lld was not stored: %s", (long long)n->id,
			 store_error(ts->store));
	(void)task_store_end_tree(ts->store, n->id, "stopped", "its task ended", now_wall_ms());
	log_info("tasks: task %lld %s ($%.4f)", (long long)n->id, state, r->cost_usd);
	if (task_store_get(ts->store, n->id, &row) == 0) {
		deliver(ts, &row);
		task_row_finish(&row);
	}
	node_free(n);
	kick(ts, 0);
}

/* ---- the queue -------------------------------------------------------------------------- */

static int start_root(struct tasks *ts, const struct task_row *row)
{
	struct tree *tr = tree_new(ts, row);
	struct node *n = node_new(ts, tr, row);
	int rc;

	audit_node(n, n->resumed ? "resume" : "start", NULL, NULL);
	rc = run_node(n);
	if (rc < 0) {
		node_free(n);
		return rc;
	}
	ts->running_roots++;
	log_info("tasks: task %lld %s", (long long)row->id, row->starts ? "resumed" : "started");
	return 0;
}

static void fail_root(struct tasks *ts, const struct task_row *row, int rc)
{
	struct task_row again;
	char why[96];

	if (rc == -ELOOP)
		snprintf(why, sizeof(why),
			 "it was begun %lld times without ending (a crash each time?)",
			 (long long)row->starts);
	else
		snprintf(why, sizeof(why), "it could not start (%s)", strerror(-rc));
	log_warn("tasks: task %lld failed: %s", (long long)row->id, why);
	(void)task_store_end(ts->store, row->id, "failed", NULL, why, now_wall_ms());
	(void)task_store_end_tree(ts->store, row->id, "failed", why, now_wall_ms());
	if (task_store_get(ts->store, row->id, &again) == 0) {
		deliver(ts, &again);
		task_row_finish(&again);
	}
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct tasks *ts = arg;
	struct task_row *rows = NULL;
	size_t n = 0;
	int rc;

	(void)fd;
	(void)what;
	if (task_store_pending(ts->store, &rows, &n) < 0) {
		kick(ts, KICK_RETRY_MS);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct task_row *r = &rows[i];

		if (task_state_final(r->state)) {
			deliver(ts, r);
			continue;
		}
		if (find_node(ts, r->id) || ts->running_roots >= (size_t)ts->cfg->tasks.max_running)
			continue;
		if (r->starts >= TASK_MAX_STARTS) {
			fail_root(ts, r, -ELOOP);
			continue;
		}
		rc = start_root(ts, r);
		if (rc == -EAGAIN || rc == -EBUSY) {
			kick(ts, KICK_RETRY_MS);
			break;
		}
		if (rc < 0)
			fail_root(ts, r, rc);
	}
	task_rows_free(rows, n);
}

/* ---- the API ------------------------------------------------------------------------------ */

static const struct tasks_cbs owner_cbs = {
	.run_node = run_node,
	.node_new = node_new,
	.node_free = node_free,
	.cancel_turns = cancel_turns,
	.end_state = end_state,
	.audit_node = audit_node,
};

struct tasks *tasks_create(const struct config *cfg, struct loop *loop, struct store *store,
			   struct agent *agent, const struct tasks_sink *sink)
{
	struct tasks *ts = xcalloc(1, sizeof(*ts));

	ts->cfg = cfg;
	ts->cbs = &owner_cbs;
	ts->loop = loop;
	ts->store = store;
	ts->agent = agent;
	if (sink)
		ts->sink = *sink;
	ts->kick = evtimer_new(loop_base(loop), on_kick, ts);
	return ts;
}

void tasks_destroy(struct tasks *ts)
{
	if (!ts)
		return;
	ts->destroying = true;
	cancel_turns(ts, NULL, NULL);
	/* The cancelled turns answer from the loop; their nodes free themselves. */
	for (int i = 0; ts->nodes && i < 10000; i++)
		event_base_loop(loop_base(ts->loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	if (ts->nodes)
		log_error("tasks: nodes still running at shutdown; leaking them");
	event_free(ts->kick);
	if (!ts->nodes)
		free(ts);
}

void tasks_start(struct tasks *ts)
{
	ts->started = true;
	kick(ts, 0);
}

int tasks_add(struct tasks *ts, const struct tasks_new *nw, int64_t *id)
{
	const struct config_task_budget *b = &ts->cfg->tasks.budget;
	struct task_new row = {.origin = nw->origin,
			       .chat_id = nw->chat_id,
			       .thread_id = nw->thread_id,
			       .prompt = nw->prompt,
			       .untrusted = nw->untrusted,
			       .budget = {b->usd, b->tokens, b->minutes, b->tool_calls}};
	char why[96];
	int rc;

	if (!nw->prompt || !*nw->prompt || strlen(nw->prompt) > TASK_PROMPT_MAX)
		return -EINVAL;
	/* The task runs in its chat's lane at least: what the chat's session read (or /lane
	 * raised) and the chat's own lane, as a turn of that chat would be now. */
	rc = agent_lane_of(ts->agent, nw->origin, &row.lane, why, sizeof(why));
	if (rc == -ENOENT) {
		log_warn("tasks: not started from %s: %s", nw->origin, why);
		return -EPERM;
	}
	if (rc < 0)
		return rc;
	rc = task_store_add(ts->store, &row, now_wall_ms(), id);
	if (rc < 0)
		return rc;
	log_info("tasks: task %lld queued from %s%s%s", (long long)*id, nw->origin,
		 row.lane ? " in lane " : "", row.lane ? row.lane : "");
	kick(ts, 0);
	return 0;
}

/* The root row of id when it may be touched by origin. */
static int own_root(struct tasks *ts, int64_t id, const char *origin, struct task_row *row)
{
	int rc = task_store_get(ts->store, id, row);

	if (rc < 0)
		return rc;
	if (row->parent || (origin && strcmp(origin, row->origin) != 0)) {
		task_row_finish(row);
		return -ENOENT;
	}
	if (task_state_final(row->state)) {
		task_row_finish(row);
		return -EALREADY;
	}
	return 0;
}

int tasks_stop(struct tasks *ts, int64_t id, const char *origin)
{
	struct task_row row;
	struct tree *tr;
	int rc = own_root(ts, id, origin, &row);

	if (rc < 0)
		return rc;
	tr = find_tree(ts, id);
	if (!tr) { /* still queued */
		rc = task_store_end(ts->store, id, "stopped", NULL, "stopped by the owner",
				    now_wall_ms());
		task_row_finish(&row);
		if (rc == 0 && task_store_get(ts->store, id, &row) == 0) {
			deliver(ts, &row);
			task_row_finish(&row);
		}
		return rc;
	}
	task_row_finish(&row);
	tr->stop = true;
	log_info("tasks: task %lld is stopped by the owner", (long long)id);
	tasks_delegate_cancel_waiting(tr);
	cancel_turns(ts, tr, NULL);
	return 0;
}

int tasks_owned(struct tasks *ts, int64_t id, const char *origin)
{
	struct task_row row;
	int rc = own_root(ts, id, origin, &row);

	if (rc == 0)
		task_row_finish(&row);
	return rc;
}

int tasks_steer(struct tasks *ts, int64_t id, const char *origin, const char *text)
{
	struct task_row row, root;
	size_t n = 0;
	int rc = task_store_get(ts->store, id, &row);

	if (rc < 0)
		return rc;
	/* A child is steered alone; its tree's root says whose it is. */
	rc = own_root(ts, row.root, origin, &root);
	if (rc == 0) {
		task_row_finish(&root);
		if (!text || !*text || strlen(text) > TASK_PROMPT_MAX)
			rc = -EINVAL;
		else if (task_state_final(row.state))
			rc = -EALREADY;
		else if (row.parent)
			rc = task_store_add_steer(ts->store, id, text);
		else
			rc = task_store_steer_tree(ts->store, id, text, &n);
	}
	if (rc == 0)
		log_info("tasks: guidance for task %lld goes to %zu of its nodes", (long long)id,
			 row.parent ? (size_t)1 : n);
	task_row_finish(&row);
	return rc;
}

size_t tasks_running(const struct tasks *ts)
{
	return ts->running_roots;
}

/* ---- views ------------------------------------------------------------------------------- */

static void elapsed_text(const struct task_row *r, int64_t now_ms, char *out, size_t len)
{
	int64_t end = r->ended_ms ? r->ended_ms : now_ms;
	int64_t s = r->started_ms ? (end - r->started_ms) / 1000 : 0;

	if (s >= 3600)
		snprintf(out, len, "%lldh%02lldm", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else
		snprintf(out, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
}

int tasks_list_text(struct store *s, const char *origin, int64_t now_ms, struct buf *out,
		    int64_t *ids, size_t max_ids, size_t *n_ids)
{
	struct task_row *rows = NULL;
	size_t n = 0;
	int rc = task_store_list(s, origin, &rows, &n);

	*n_ids = 0;
	if (rc < 0)
		return rc;
	if (n == 0)
		buf_puts(out, "No tasks. Start one with /bg TEXT.");
	for (size_t i = 0; i < n && i < 20; i++) {
		const struct task_row *r = &rows[i];
		struct task_spend sp;
		char el[32];
		char *goal = utf8_clip_dup(r->prompt, 60, true);

		if (task_store_tree_spend(s, r->id, &sp) < 0)
			sp = r->spent;
		elapsed_text(r, now_ms, el, sizeof(el));
		buf_printf(out, "%s#%lld %s, %s, $%.4f", i ? "\n" : "", (long long)r->id, r->state,
			   el, sp.usd);
		if (r->lane)
			buf_printf(out, ", lane %s", r->lane);
		buf_printf(out, ": %s", goal);
		if (!task_state_final(r->state)) {
			buf_printf(out, " (now: %s)", r->doing ? r->doing : "waiting for a slot");
			if (*n_ids < max_ids)
				ids[(*n_ids)++] = r->id;
		}
		free(goal);
	}
	task_rows_free(rows, n);
	return 0;
}

static cJSON *row_json(struct store *s, const struct task_row *r, int64_t now_ms, int depth)
{
	cJSON *o = cJSON_CreateObject(), *sp = cJSON_AddObjectToObject(o, "spent");
	char el[32];

	cJSON_AddNumberToObject(o, "id", (double)r->id);
	if (r->parent)
		cJSON_AddNumberToObject(o, "parent", (double)r->parent);
	cJSON_AddNumberToObject(o, "depth", (double)r->depth);
	cJSON_AddStringToObject(o, "state", r->state);
	cJSON_AddStringToObject(o, "prompt", r->prompt ? r->prompt : "");
	cJSON_AddStringToObject(o, "origin", r->origin ? r->origin : "");
	if (r->lane) /* its chat's or parent's lane, or the one it rose to */
		cJSON_AddStringToObject(o, "lane", r->lane);
	else
		cJSON_AddNullToObject(o, "lane");
	if (r->doing)
		cJSON_AddStringToObject(o, "doing", r->doing);
	if (r->result)
		cJSON_AddStringToObject(o, "result", r->result);
	if (r->why)
		cJSON_AddStringToObject(o, "why", r->why);
	cJSON_AddBoolToObject(o, "delivered", r->delivered);
	elapsed_text(r, now_ms, el, sizeof(el));
	cJSON_AddStringToObject(o, "elapsed", el);
	cJSON_AddNumberToObject(sp, "usd", r->spent.usd);
	cJSON_AddNumberToObject(sp, "tokens", (double)r->spent.tokens);
	cJSON_AddNumberToObject(sp, "model_calls", (double)r->spent.model_calls);
	cJSON_AddNumberToObject(sp, "tool_calls", (double)r->spent.tool_calls);
	if (depth == 0) {
		struct task_spend t;

		if (task_store_tree_spend(s, r->id, &t) == 0) {
			cJSON *tj = cJSON_AddObjectToObject(o, "tree_spent");

			cJSON_AddNumberToObject(tj, "usd", t.usd);
			cJSON_AddNumberToObject(tj, "tokens", (double)t.tokens);
			cJSON_AddNumberToObject(tj, "model_calls", (double)t.model_calls);
			cJSON_AddNumberToObject(tj, "tool_calls", (double)t.tool_calls);
		}
	}
	if (depth < 8) {
		struct task_row *kids = NULL;
		size_t n = 0;
		cJSON *arr = cJSON_AddArrayToObject(o, "children");

		if (task_store_children(s, r->id, &kids, &n) == 0)
			for (size_t i = 0; i < n; i++)
				cJSON_AddItemToArray(arr, row_json(s, &kids[i], now_ms, depth + 1));
		task_rows_free(kids, n);
	}
	return o;
}

int tasks_show_json(struct store *s, int64_t id, int64_t now_ms, struct buf *out)
{
	struct task_row r;
	cJSON *o;
	char *text;
	int rc = task_store_get(s, id, &r);

	if (rc < 0)
		return rc;
	o = row_json(s, &r, now_ms, 0);
	text = cJSON_PrintUnformatted(o);
	buf_puts(out, text);
	free(text);
	cJSON_Delete(o);
	task_row_finish(&r);
	return 0;
}
