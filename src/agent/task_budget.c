/* task_budget: a tree's budget and limits as pure functions (see task_budget.h). The estimate
 * of the next call is the dearest call the tree has made: a tree that stops when the next
 * call could pass the cap ends within one call's cost of it, even with children in parallel,
 * because every call in flight holds its own reservation.
 */
#include "agent/task_budget.h"

#include <stdio.h>

enum task_limit task_budget_check(const struct task_budget *b, const struct task_spend *spent,
				  const struct task_spend *reserved,
				  const struct task_spend *estimate, int64_t elapsed_ms)
{
	double usd = spent->usd + reserved->usd + estimate->usd;
	int64_t tokens = spent->tokens + reserved->tokens + estimate->tokens;

	if (b->usd > 0 && (spent->usd >= b->usd || usd > b->usd))
		return TASK_LIMIT_USD;
	if (b->tokens > 0 && (spent->tokens >= b->tokens || tokens > b->tokens))
		return TASK_LIMIT_TOKENS;
	if (b->minutes > 0 && elapsed_ms >= b->minutes * 60000)
		return TASK_LIMIT_MINUTES;
	if (b->tool_calls > 0 && spent->tool_calls >= b->tool_calls)
		return TASK_LIMIT_TOOL_CALLS;
	return TASK_LIMIT_NONE;
}

const char *task_limit_text(enum task_limit l, const struct task_budget *b, char *out, size_t len)
{
	switch (l) {
	case TASK_LIMIT_USD:
		snprintf(out, len, "the tree's budget of $%.4f (tasks.budget.usd)", b->usd);
		break;
	case TASK_LIMIT_TOKENS:
		snprintf(out, len, "the tree's budget of %lld tokens (tasks.budget.tokens)",
			 (long long)b->tokens);
		break;
	case TASK_LIMIT_MINUTES:
		snprintf(out, len, "the tree's time budget of %lld minutes (tasks.budget.minutes)",
			 (long long)b->minutes);
		break;
	case TASK_LIMIT_TOOL_CALLS:
		snprintf(out, len, "the tree's budget of %lld tool calls (tasks.budget.tool_calls)",
			 (long long)b->tool_calls);
		break;
	default:
		snprintf(out, len, "no limit");
	}
	return out;
}

bool task_may_delegate(int64_t depth, int64_t max_depth)
{
	return depth >= 0 && depth < max_depth;
}

size_t task_children_to_start(size_t n_waiting, size_t n_running, int64_t max_parallel)
{
	size_t cap = max_parallel > 0 ? (size_t)max_parallel : 1;

	if (n_running >= cap)
		return 0;
	return n_waiting < cap - n_running ? n_waiting : cap - n_running;
}
