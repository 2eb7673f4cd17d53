/* task_store: the task journal in state.db. One row per node of a task tree: the background
 * task itself (the root, depth 0) and every child the `delegate` tool starts under it, with
 * where the tree came from (the origin source and its Telegram chat), the goal and context a
 * node was given, its state, the tree's budget (on the root) and what each node spent, its
 * result and whether the root's result was handed to its chat. The runner (agent/tasks.c)
 * writes a row as each thing happens, so a restart finds every node where it was.
 *
 * Plain SQL over the store: no loop, no callbacks; every function returns 0 or a negative
 * errno (-ENOENT: no such row, -EBUSY: another process holds the lock, -EIO).
 */
#ifndef HERMETIC_TASK_STORE_H
#define HERMETIC_TASK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define TASK_PROMPT_MAX	 8000	     /* bytes of a goal */
#define TASK_CONTEXT_MAX 16000	     /* bytes of the context a parent passes a child */
#define TASK_RESULT_MAX	 (32 * 1024) /* bytes of a stored result */
#define TASK_LIST_MAX	 50	     /* rows a list returns */

/* The table (migration "tasks"). state: queued -> running -> done | failed | stopped | budget
 * ("budget": the tree's budget ended it, why names the limit). seq: a child's place among
 * its parent's delegated goals. delivered: the root's result is in its chat's outbox. lane:
 * the lane the node was started in (its chat session's, its parent's), NULL for none: its
 * turns start in it at least (docs/security.md, "Lanes"). */
#define TASK_STORE_SCHEMA_SQL                                                                      \
	"CREATE TABLE tasks (id INTEGER PRIMARY KEY, root INTEGER NOT NULL, parent INTEGER,"       \
	" depth INTEGER NOT NULL, seq INTEGER NOT NULL DEFAULT 0, origin TEXT NOT NULL,"           \
	" chat_id INTEGER NOT NULL DEFAULT 0, thread_id INTEGER NOT NULL DEFAULT 0,"               \
	" prompt TEXT NOT NULL, context TEXT, tools TEXT, model TEXT, untrusted TEXT,"             \
	" state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed',"             \
	" 'stopped', 'budget')),"                                                                  \
	" budget_usd REAL NOT NULL DEFAULT 0, budget_tokens INTEGER NOT NULL DEFAULT 0,"           \
	" budget_minutes INTEGER NOT NULL DEFAULT 0, budget_tool_calls INTEGER NOT NULL DEFAULT "  \
	"0,"                                                                                       \
	" spent_usd REAL NOT NULL DEFAULT 0, spent_tokens INTEGER NOT NULL DEFAULT 0,"             \
	" tool_calls INTEGER NOT NULL DEFAULT 0, model_calls INTEGER NOT NULL DEFAULT 0,"          \
	" doing TEXT, steer TEXT, result TEXT, why TEXT, delivered INTEGER NOT NULL DEFAULT 0,"    \
	" starts INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, started_ms INTEGER,"     \
	" ended_ms INTEGER, lane TEXT) STRICT;"                                                    \
	"CREATE INDEX tasks_root ON tasks (root, parent, seq);"                                    \
	"CREATE INDEX tasks_state ON tasks (state, id);"

/* A tree's budget; 0 in a field = no cap. */
struct task_budget {
	double usd;
	int64_t tokens, minutes, tool_calls;
};

/* What a tree's nodes spent (the sum over its rows). */
struct task_spend {
	double usd;
	int64_t tokens, tool_calls, model_calls;
};

/* A new node. root 0: the new row is a root (its own id). Strings are copied. */
struct task_new {
	int64_t root, parent, depth, seq;
	const char *origin; /* the source the tree came from: "telegram:42", "api", "cli" */
	int64_t chat_id, thread_id;
	const char *prompt, *context, *tools, *model, *untrusted; /* may be NULL but prompt */
	struct task_budget budget;				  /* roots only */
	const char *lane;					  /* NULL: none */
};

/* A row, read. Strings are malloc'd (NULL when the column is); task_row_finish frees. */
struct task_row {
	int64_t id, root, parent, depth, seq;
	char *origin;
	int64_t chat_id, thread_id;
	char *prompt, *context, *tools, *model, *untrusted;
	char state[12];
	struct task_budget budget;
	struct task_spend spent; /* this node's own */
	char *doing, *steer, *result, *why;
	bool delivered;
	int64_t starts; /* how often a run of it began (a restart counts one more) */
	int64_t created_ms, started_ms, ended_ms; /* 0 = not yet */
	char *lane;				  /* NULL: none */
};

void task_row_finish(struct task_row *r); /* accepts a zeroed row */
void task_rows_free(struct task_row *rows, size_t n);

/* True for the states that end a node. */
bool task_state_final(const char *state);

int task_store_add(struct store *s, const struct task_new *n, int64_t now_ms, int64_t *id);
int task_store_get(struct store *s, int64_t id, struct task_row *out);
/* Roots, newest first (at most TASK_LIST_MAX); origin NULL = every origin. */
int task_store_list(struct store *s, const char *origin, struct task_row **out, size_t *n);
/* The children of parent in the order they were made. */
int task_store_children(struct store *s, int64_t parent, struct task_row **out, size_t *n);
/* The child of parent at seq with this prompt (a goal delegated again after a restart) that
 * is done or not finished: 0 and *out, or -ENOENT. A child that failed or was stopped is not
 * found: a goal delegated again after that runs anew. */
int task_store_find_child(struct store *s, int64_t parent, int64_t seq, const char *prompt,
			  struct task_row *out);
/* Roots to take up at start, oldest first: those not final (queued or running), and final
 * ones whose result was not delivered. */
int task_store_pending(struct store *s, struct task_row **out, size_t *n);

/* state 'running', started_ms (first time only), starts + 1. */
int task_store_start(struct store *s, int64_t id, int64_t now_ms);
/* A final state with its result (cut to TASK_RESULT_MAX) and why (may be NULL). */
int task_store_end(struct store *s, int64_t id, const char *state, const char *result,
		   const char *why, int64_t now_ms);
/* Adds one model call's or tool call's spend to the node. */
int task_store_add_spend(struct store *s, int64_t id, const struct task_spend *d);
/* The tree's spend: the sum over root's rows. */
int task_store_tree_spend(struct store *s, int64_t root, struct task_spend *out);
int task_store_set_doing(struct store *s, int64_t id, const char *doing);
/* The lane the node's turn runs in now (lanes only rise): what the views show. */
int task_store_set_lane(struct store *s, int64_t id, const char *lane);
/* Appends text to the node's steering; when both would pass TASK_PROMPT_MAX, the older
 * unread steering gives way to text. */
int task_store_add_steer(struct store *s, int64_t id, const char *text);
/* Appends text to the steering of every node of tree root not ended yet (queued or
 * running): *n_nodes of them. 0 or the store's error. */
int task_store_steer_tree(struct store *s, int64_t root, const char *text, size_t *n_nodes);
/* Takes the steering (malloc'd in *text, NULL when none) and clears it. */
int task_store_take_steer(struct store *s, int64_t id, char **text);
int task_store_mark_delivered(struct store *s, int64_t id);
/* Every node of root not final gets state (a whole tree stopped): 0 or the error. */
int task_store_end_tree(struct store *s, int64_t root, const char *state, const char *why,
			int64_t now_ms);

#endif
