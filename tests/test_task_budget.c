/* task_budget: the tree's budget decision table (each cap, reservations of calls in flight,
 * the estimate of the next call, 0 = no cap, wall time, tool calls), the depth rule
 * (max_depth 2: depths 0 and 1 delegate, 2 does not) and how many children may start. */
#include "test.h"
#include "agent/task_budget.h"

#include <string.h>

#define Z                                                                                          \
	{                                                                                          \
		0, 0, 0, 0                                                                         \
	}

static void test_budget_check_table(void **state)
{
	static const struct {
		struct task_budget b;
		struct task_spend spent, reserved, est;
		int64_t elapsed_ms;
		enum task_limit want;
	} rows[] = {
		/* nothing spent: the first call goes */
		{{0.5, 1000, 30, 10}, Z, Z, Z, 0, TASK_LIMIT_NONE},
		/* spent reaches the cap */
		{{0.5, 0, 0, 0}, {0.5, 0, 0, 0}, Z, Z, 0, TASK_LIMIT_USD},
		/* spent + this call's estimate would pass it */
		{{0.5, 0, 0, 0}, {0.3, 0, 0, 0}, Z, {0.25, 0, 0, 0}, 0, TASK_LIMIT_USD},
		/* exactly at the cap with the estimate: still goes */
		{{0.5, 0, 0, 0}, {0.25, 0, 0, 0}, Z, {0.25, 0, 0, 0}, 0, TASK_LIMIT_NONE},
		/* calls in flight hold their reservation */
		{{0.5, 0, 0, 0}, {0.1, 0, 0, 0}, {0.3, 0, 0, 0}, {0.2, 0, 0, 0}, 0, TASK_LIMIT_USD},
		/* tokens */
		{{0, 1000, 0, 0}, {0, 900, 0, 0}, Z, {0, 200, 0, 0}, 0, TASK_LIMIT_TOKENS},
		{{0, 1000, 0, 0},
		 {0, 700, 0, 0},
		 {0, 100, 0, 0},
		 {0, 200, 0, 0},
		 0,
		 TASK_LIMIT_NONE},
		/* wall time */
		{{0, 0, 2, 0}, Z, Z, Z, 119999, TASK_LIMIT_NONE},
		{{0, 0, 2, 0}, Z, Z, Z, 120000, TASK_LIMIT_MINUTES},
		/* tool calls */
		{{0, 0, 0, 3}, {0, 0, 3, 0}, Z, Z, 0, TASK_LIMIT_TOOL_CALLS},
		{{0, 0, 0, 3}, {0, 0, 2, 0}, Z, Z, 0, TASK_LIMIT_NONE},
		/* 0 = no cap, whatever was spent */
		{{0, 0, 0, 0},
		 {99, 1 << 30, 1000, 1000},
		 {5, 5, 0, 0},
		 {5, 5, 0, 0},
		 1 << 30,
		 TASK_LIMIT_NONE},
		/* the first cap passed is named: usd before tokens */
		{{0.1, 10, 0, 0}, {0.2, 20, 0, 0}, Z, Z, 0, TASK_LIMIT_USD},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(task_budget_check(&rows[i].b, &rows[i].spent, &rows[i].reserved,
						   &rows[i].est, rows[i].elapsed_ms),
				 rows[i].want);
}

static void test_limit_text_names_the_key(void **state)
{
	struct task_budget b = {0.25, 5000, 30, 7};
	char out[160];

	(void)state;
	assert_non_null(strstr(task_limit_text(TASK_LIMIT_USD, &b, out, sizeof(out)),
			       "$0.2500 (tasks.budget.usd)"));
	assert_non_null(strstr(task_limit_text(TASK_LIMIT_TOKENS, &b, out, sizeof(out)),
			       "5000 tokens (tasks.budget.tokens)"));
	assert_non_null(strstr(task_limit_text(TASK_LIMIT_MINUTES, &b, out, sizeof(out)),
			       "30 minutes (tasks.budget.minutes)"));
	assert_non_null(strstr(task_limit_text(TASK_LIMIT_TOOL_CALLS, &b, out, sizeof(out)),
			       "7 tool calls (tasks.budget.tool_calls)"));
}

static void test_depth_rule(void **state)
{
	(void)state;
	assert_true(task_may_delegate(0, 2));
	assert_true(task_may_delegate(1, 2));
	assert_false(task_may_delegate(2, 2)); /* a grandchild with max_depth 2 */
	assert_false(task_may_delegate(0, 0)); /* max_depth 0: no subagents at all */
	assert_false(task_may_delegate(-1, 2));
}

static void test_children_to_start(void **state)
{
	(void)state;
	assert_int_equal(task_children_to_start(5, 0, 3), 3);
	assert_int_equal(task_children_to_start(5, 2, 3), 1);
	assert_int_equal(task_children_to_start(5, 3, 3), 0);
	assert_int_equal(task_children_to_start(5, 4, 3), 0); /* over after a delegation ends */
	assert_int_equal(task_children_to_start(1, 0, 3), 1);
	assert_int_equal(task_children_to_start(0, 0, 3), 0);
	assert_int_equal(task_children_to_start(4, 0, 0), 1); /* a bad cap still makes progress */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_check_table),
		cmocka_unit_test(test_limit_text_names_the_key),
		cmocka_unit_test(test_depth_rule),
		cmocka_unit_test(test_children_to_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
