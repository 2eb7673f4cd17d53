/* config_tasks: the `tasks:` section's keys (background tasks and subagents,
 * agent/tasks.c), apart from config_table.c so that the table file stays one screenful of
 * concepts per section; data only, as config_table.c.
 */
#include "core/config_int.h"
#include "core/util.h"

#include <stddef.h>

#define FLD(s, f) .off = offsetof(struct s, f)
#define OPTS(v)	  .opts = v, .n_opts = ARRAY_LEN(v)

static const struct opt task_budget_opts[] = {
	{"usd", T_NUM, FLD(config_task_budget, usd), .def = "0.5", .min = 0, .max = 1000,
	 .text = "USD all calls of a tree may cost; 0 = no cap"},
	{"tokens", T_INT, FLD(config_task_budget, tokens), .def = "400000", .min = 0,
	 .max = 1000000000, .text = "prompt and completion tokens of a tree; 0 = no cap"},
	{"minutes", T_INT, FLD(config_task_budget, minutes), .def = "30", .min = 0, .max = 10080,
	 .text = "wall time from the task's start; 0 = no cap"},
	{"tool_calls", T_INT, FLD(config_task_budget, tool_calls), .def = "200", .min = 0,
	 .max = 100000, .text = "tool calls of a tree; 0 = no cap"},
};

static const struct table task_budget_table = {
	"budget", "tasks.budget", OPTS(task_budget_opts),
	.text = "The default budget of one task tree: every model call of every node reserves "
		"against it before it is sent; when one runs out the whole tree stops."};

static const struct opt tasks_opts[] = {
	{"max_running", T_INT, FLD(config_tasks, max_running), .def = "2", .min = 1, .max = 64,
	 .text = "background tasks running at once; more wait in order"},
	{"max_parallel_children", T_INT, FLD(config_tasks, max_parallel_children), .def = "3",
	 .min = 1, .max = 32, .text = "children of one tree running at once"},
	{"max_depth", T_INT, FLD(config_tasks, max_depth), .def = "2", .min = 0, .max = 8,
	 .text = "delegation depth: the task's own agent is 0; a node at this depth may not "
		 "delegate"},
	{"budget", T_SECTION, FLD(config_tasks, budget), .table = &task_budget_table},
};

const struct table cfg_tasks_table = {
	"tasks", "tasks", OPTS(tasks_opts),
	.text = "Background tasks (`/bg`, `POST /v1/tasks`, `hermetic tasks`) and the `delegate` "
		"tool's subagents, journaled in state.db. See docs/agent.md, \"Tasks\"."};
