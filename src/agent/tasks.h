/* tasks: background tasks and their subagents. A task is an agent turn of its own (source
 * "task:<id>", purpose "task") that runs beside the chat it came from; at most
 * tasks.max_running at once, the others wait in order. Its agent may hand goals to child
 * agents with the `delegate` tool (tasks_delegate.c): each child is a fresh turn ("task:<id>",
 * purpose "subagent") that sees only its goal and the context it was given, with a subset of
 * its parent's tools, down to tasks.max_depth. One budget (tasks.budget) covers the whole
 * tree: every model call of every node reserves against it before it leaves, and when it
 * runs out the tree stops and what it found so far is delivered with the limit named.
 *
 * Every node is a row of the journal (task_store.h) written as things happen: after a crash
 * or kill -9 the start takes up each unfinished task where it was (its session continues from
 * its stored messages, a child whose result is stored is not run again), and a result stored
 * but not handed to its chat is handed over once more (at least once: a crash between the
 * outbox's insert and the delivered mark repeats it, as a reply can repeat).
 *
 * Results go through a tasks_sink (the gateway's Telegram outbox). All on the loop.
 */
#ifndef HERMETIC_TASKS_H
#define HERMETIC_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;
struct buf;
struct config;
struct loop;
struct store;
struct tasks;

/* Where a task's result goes. */
struct tasks_sink {
	/* Hands markdown to the chat of a task (chat_id 0: the task has no chat: API, CLI).
	 * 0 once it is durably queued (or there is nowhere to send it): never asked again;
	 * negative: asked again at the next start. */
	int (*deliver)(void *ctx, int64_t chat_id, int64_t thread_id, const char *markdown);
	void *ctx;
};

/* A new task. origin: the source that asked ("telegram:42", "api", "cli"); chat_id and
 * thread_id: where its result goes (0: nowhere, it is read with tasks_show_json);
 * untrusted: NULL, or why its text is someone else's (the task runs tainted). */
struct tasks_new {
	const char *origin;
	int64_t chat_id, thread_id;
	const char *prompt;
	const char *untrusted;
};

/* Borrows everything for its whole life. Nothing runs before tasks_start. */
struct tasks *tasks_create(const struct config *cfg, struct loop *loop, struct store *store,
			   struct agent *agent, const struct tasks_sink *sink);
/* Cancels the running turns (their rows stay as they are: the next start resumes them) and
 * frees. Accepts NULL. Call before agent_destroy. */
void tasks_destroy(struct tasks *ts);
/* Hands over stored results not yet delivered and takes up unfinished tasks. */
void tasks_start(struct tasks *ts);

/* Queues a task: 0 and *id, -EINVAL (empty or longer than TASK_PROMPT_MAX), -EPERM (the
 * origin's session is in a lane the config no longer has), or the store's error (-EBUSY:
 * locked, try again). It starts when a slot is free, in the lane of origin's session now
 * (agent_lane_of) at least; its children inherit their parent's lane. */
int tasks_add(struct tasks *ts, const struct tasks_new *n, int64_t *id);
/* Stops task id (and its whole tree) before its next call; origin non-NULL: only a task of
 * that origin. 0, -ENOENT (none, or of another origin), -EALREADY (it had ended). */
int tasks_stop(struct tasks *ts, int64_t id, const char *origin);
/* Whether origin (NULL: anyone) may stop or steer task id: 0, -ENOENT, -EALREADY. */
int tasks_owned(struct tasks *ts, int64_t id, const char *origin);
/* Adds text to what task id reads at its next step: a root's guidance goes to every node of
 * its tree not ended yet (each reads it before its next model call), a child's (id of a
 * subagent) to that child only. origin non-NULL: only a tree of that origin. 0, -ENOENT,
 * -EALREADY (ended), -EINVAL (empty or longer than TASK_PROMPT_MAX). */
int tasks_steer(struct tasks *ts, int64_t id, const char *origin, const char *text);
/* The tasks of origin (NULL: all), newest first, as Markdown lines for a chat: id, state,
 * elapsed, spend, what it is doing. *ids gets the ids of those still running or queued (up
 * to max_ids, for buttons), *n_ids their count. 0 or the store's error. */
int tasks_list_text(struct store *s, const char *origin, int64_t now_ms, struct buf *out,
		    int64_t *ids, size_t max_ids, size_t *n_ids);
/* Task id with its children as JSON ({"id","state","result","spent":{...},"children":[...]}).
 * 0, -ENOENT, or the store's error. Reads s only (the CLI uses it beside a gateway). */
int tasks_show_json(struct store *s, int64_t id, int64_t now_ms, struct buf *out);
/* Running and queued tasks now (metrics, tests). */
size_t tasks_running(const struct tasks *ts);

#endif
