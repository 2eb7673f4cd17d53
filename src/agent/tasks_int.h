/* tasks_int: what tasks.c (roots, the queue, delivery, the tree's budget) and
 * tasks_delegate.c (the `delegate` tool and the children) share. Private to src/agent/tasks*.c.
 * tasks.c owns the trees and their nodes and calls the delegate's functions; the delegate
 * reaches back only through ts->cbs (struct tasks_cbs), never by calling tasks.c.
 */
#ifndef HERMETIC_TASKS_INT_H
#define HERMETIC_TASKS_INT_H

#include "agent/agent.h"
#include "agent/task_budget.h"
#include "agent/task_store.h"
#include "agent/tasks.h"
#include "tools/tools.h"

#define DELEGATE_MAX_GOALS 8  /* goals of one delegate call */
#define DELEGATE_MAX_TOOLS 16 /* tool names a goal may name */

struct event;
struct delegation;

/* One running task tree: its budget and what its nodes spent and hold. */
struct tree {
	struct tasks *ts;
	struct tree *next;
	int64_t root;
	struct task_budget budget;
	struct task_spend spent, reserved, dearest; /* dearest: the costliest call so far */
	int64_t t0_ms;				    /* wall clock of the root's first start */
	enum task_limit limit;			    /* the limit that ended the tree */
	bool stop;				    /* stopped by the owner */
	int64_t chat_id, thread_id;
	size_t running_children;
	struct node *waiting, **waiting_tail; /* children not started yet, in order */
	size_t n_nodes;			      /* nodes alive (the root too) */
};

/* One node running (or waiting to run) a turn: the root or a child. */
struct node {
	struct tasks *ts;
	struct tree *tree;
	struct node *next;  /* in ts->nodes */
	struct node *wnext; /* in tree->waiting */
	int64_t id, depth;
	char source[32]; /* "task:<id>" */
	char *prompt, *extra_system, *model, *untrusted;
	char *lane;   /* the lane its turn starts in at least, or NULL */
	bool resumed; /* it ran before a restart: its session continues */
	/* Its tools: NULL scope = every tool; else the names of its builtins. */
	struct tools_scope scope;
	bool scoped;
	char *tool_names[DELEGATE_MAX_TOOLS];
	size_t n_tool_names;
	struct agent_turn *turn;
	struct agent_tool delegate; /* offered when it may delegate */
	struct agent_watch watch;
	struct task_spend reserved; /* what its calls in flight hold of the tree's budget */
	struct delegation *dg;	    /* the delegate call it waits for, or NULL */
	struct delegation *of;	    /* a child: the delegation it answers, and where */
	size_t slot;
};

struct tasks {
	const struct config *cfg;
	struct loop *loop;
	struct store *store;
	struct agent *agent;
	struct tasks_sink sink;
	struct node *nodes;
	struct tree *trees;
	size_t running_roots;
	struct event *kick;
	bool started, destroying;
	const struct tasks_cbs *cbs; /* tasks.c's, for tasks_delegate.c */
};

/* What tasks_delegate.c needs of the owner of the trees (tasks.c): its only way back into it,
 * filled by tasks_create. */
struct tasks_cbs {
	/* Starts node's turn (root or child). 0, or a negative value (the node is not running). */
	int (*run_node)(struct node *n);
	/* A node with its row's facts, not yet running; linked into ts->nodes. */
	struct node *(*node_new)(struct tasks *ts, struct tree *tr, const struct task_row *row);
	void (*node_free)(struct node *n);
	/* Cancels the running turns of tree tr (NULL: any) that answer delegation of (NULL: any).
	 */
	void (*cancel_turns)(struct tasks *ts, const struct tree *tr, const struct delegation *of);
	/* The state a node's turn ended in ("done", "failed", "stopped", "budget") and why. */
	const char *(*end_state)(const struct node *n, const struct agent_result *r, char *why,
				 size_t len);
	/* The audit line of a node's start ("start", "resume"), end or reuse. */
	void (*audit_node)(const struct node *n, const char *event, const char *outcome,
			   const struct agent_result *r);
};

/* ---- tasks_delegate.c ---- */

/* Fills n->delegate (the tool's schema and its start/cancel). */
void tasks_delegate_init(struct node *n);
/* A child's turn ended (stop, text): its row is written, its slot filled, the parent
 * answered when it was the last. Frees the child node. */
void tasks_child_done(struct node *c, const struct agent_result *r);
/* The delegation of n ends now (the tree is going down): its waiting children are not
 * started and are reported as such. */
void tasks_delegate_cancel_waiting(struct tree *tr);

#endif
