/* task_budget: the decisions of a task tree as pure functions (plain values in, decisions out;
 * tests: tests/test_task_budget.c). One budget covers every node of a tree: a model call may
 * leave only when what the tree spent, plus what its calls in flight reserved, plus this
 * call's estimate (the dearest call the tree has made so far) stays within every cap; the
 * wall time and the tool calls are checked the same way. Which node may delegate, and how
 * many children run at once, are decided here too.
 */
#ifndef HERMETIC_TASK_BUDGET_H
#define HERMETIC_TASK_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/task_store.h"

enum task_limit {
	TASK_LIMIT_NONE,
	TASK_LIMIT_USD,
	TASK_LIMIT_TOKENS,
	TASK_LIMIT_MINUTES,
	TASK_LIMIT_TOOL_CALLS,
};

/* Whether one more model call may leave: spent (settled), reserved (calls in flight),
 * estimate (what this call may cost: the dearest of the tree's calls so far; zero before the
 * first), elapsed_ms since the tree started. Returns the first cap it would pass, or
 * TASK_LIMIT_NONE. A cap of 0 is no cap. */
enum task_limit task_budget_check(const struct task_budget *b, const struct task_spend *spent,
				  const struct task_spend *reserved,
				  const struct task_spend *estimate, int64_t elapsed_ms);

/* The limit in words for the user: "the budget of $0.5000 (tasks.budget.usd)". */
const char *task_limit_text(enum task_limit l, const struct task_budget *b, char *out, size_t len);

/* A node at depth may delegate when depth < max_depth (the task's own agent is 0). */
bool task_may_delegate(int64_t depth, int64_t max_depth);

/* How many of n_waiting children may start now, with n_running already running. */
size_t task_children_to_start(size_t n_waiting, size_t n_running, int64_t max_parallel);

#endif
