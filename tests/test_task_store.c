/* task_store: the task journal. A root is its own tree; children are found by parent, place
 * and goal (a goal delegated again after a restart is the same child), listed in order; the
 * tree's spend is the sum of its rows; start counts starts and keeps the first start time;
 * end stores the state, result and why; steering is appended and taken once; pending lists
 * unfinished roots and final ones not delivered, and not delivered ones after mark; a whole
 * tree is stopped at once; and the rows survive a reopen of the database. */
#include "test.h"
#include "agent/task_store.h"
#include "core/store.h"
#include "core/util.h"
#include "gateway/schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[] = "/tmp/hm-tasks-XXXXXX";

static struct store *open_db(void)
{
	struct store *s = NULL;
	char path[64], err[256];

	snprintf(path, sizeof(path), "%s/state.db", dir);
	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	return s;
}

static int64_t add(struct store *s, int64_t root, int64_t parent, int64_t seq, const char *p)
{
	struct task_new n = {.root = root,
			     .parent = parent,
			     .depth = parent ? 1 : 0,
			     .seq = seq,
			     .origin = "telegram:42",
			     .chat_id = 42,
			     .prompt = p,
			     .budget = {0.5, 1000, 30, 20}};
	int64_t id = 0;

	assert_int_equal(task_store_add(s, &n, 1000, &id), 0);
	assert_true(id > 0);
	return id;
}

static void test_root_and_children(void **state)
{
	struct store *s = open_db();
	struct task_row r, *kids = NULL;
	size_t n = 0;
	int64_t root = add(s, 0, 0, 0, "research X");
	int64_t c0 = add(s, root, root, 0, "find A");
	int64_t c1 = add(s, root, root, 1, "find B");

	(void)state;
	assert_int_equal(task_store_get(s, root, &r), 0);
	assert_int_equal(r.root, root); /* a root is its own tree */
	assert_int_equal(r.parent, 0);
	assert_string_equal(r.state, "queued");
	assert_string_equal(r.origin, "telegram:42");
	assert_int_equal(r.chat_id, 42);
	assert_true(r.budget.usd == 0.5);
	assert_int_equal(r.budget.tool_calls, 20);
	task_row_finish(&r);
	assert_int_equal(task_store_children(s, root, &kids, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(kids[0].id, c0);
	assert_int_equal(kids[1].id, c1);
	assert_int_equal(kids[1].root, root);
	assert_int_equal(kids[1].depth, 1);
	task_rows_free(kids, n);
	/* the same goal at the same place is the same child; another place is not */
	assert_int_equal(task_store_find_child(s, root, 1, "find B", &r), 0);
	assert_int_equal(r.id, c1);
	task_row_finish(&r);
	assert_int_equal(task_store_find_child(s, root, 0, "find B", &r), -ENOENT);
	/* a failed child is not found: delegated again, it runs anew */
	assert_int_equal(task_store_end(s, c1, "failed", NULL, "HTTP 500", 2000), 0);
	assert_int_equal(task_store_find_child(s, root, 1, "find B", &r), -ENOENT);
	assert_int_equal(task_store_get(s, 99999, &r), -ENOENT);
	store_close(s);
}

/* The lane a node was started in is stored with it (a resumed task starts in it again);
 * a node in no lane reads back NULL. */
static void test_lane_is_kept(void **state)
{
	struct store *s = open_db();
	struct task_new n = {.origin = "telegram:42", .prompt = "private goal", .lane = "private"};
	struct task_row r;
	int64_t in_lane = 0, plain = add(s, 0, 0, 0, "public goal");

	(void)state;
	assert_int_equal(task_store_add(s, &n, 1000, &in_lane), 0);
	assert_int_equal(task_store_get(s, in_lane, &r), 0);
	assert_non_null(r.lane);
	assert_string_equal(r.lane, "private");
	task_row_finish(&r);
	assert_int_equal(task_store_get(s, plain, &r), 0);
	assert_null(r.lane);
	task_row_finish(&r);
	store_close(s);
}

static void test_spend_start_end(void **state)
{
	struct store *s = open_db();
	struct task_spend d = {0.01, 100, 0, 1}, t;
	struct task_row r;
	int64_t root = add(s, 0, 0, 0, "sum");
	int64_t c = add(s, root, root, 0, "part");

	(void)state;
	assert_int_equal(task_store_start(s, root, 5000), 0);
	assert_int_equal(task_store_start(s, root, 9000), 0); /* a resume */
	assert_int_equal(task_store_add_spend(s, root, &d), 0);
	d = (struct task_spend){0.02, 300, 2, 1};
	assert_int_equal(task_store_add_spend(s, c, &d), 0);
	assert_int_equal(task_store_tree_spend(s, root, &t), 0);
	assert_true(t.usd > 0.0299 && t.usd < 0.0301);
	assert_int_equal(t.tokens, 400);
	assert_int_equal(t.tool_calls, 2);
	assert_int_equal(t.model_calls, 2);
	assert_int_equal(task_store_set_doing(s, root, "running web_fetch"), 0);
	assert_int_equal(task_store_get(s, root, &r), 0);
	assert_string_equal(r.state, "running");
	assert_int_equal(r.starts, 2);
	assert_int_equal(r.started_ms, 5000); /* the first start */
	assert_string_equal(r.doing, "running web_fetch");
	assert_int_equal(r.spent.tokens, 100); /* its own row only */
	task_row_finish(&r);
	assert_int_equal(
		task_store_end(s, c, "failed", NULL, "the model could not be reached", 7000), 0);
	assert_int_equal(task_store_get(s, c, &r), 0);
	assert_string_equal(r.state, "failed");
	assert_null(r.result);
	assert_string_equal(r.why, "the model could not be reached");
	assert_int_equal(r.ended_ms, 7000);
	task_row_finish(&r);
	assert_int_equal(task_store_end(s, 4242, "done", "x", NULL, 1), -ENOENT);
	store_close(s);
}

static void test_steer_is_taken_once(void **state)
{
	struct store *s = open_db();
	int64_t root = add(s, 0, 0, 0, "watch");
	char *text = NULL;

	(void)state;
	assert_int_equal(task_store_take_steer(s, root, &text), 0);
	assert_null(text);
	assert_int_equal(task_store_add_steer(s, root, "focus on B"), 0);
	assert_int_equal(task_store_add_steer(s, root, "and be brief"), 0);
	assert_int_equal(task_store_take_steer(s, root, &text), 0);
	assert_string_equal(text, "focus on B\nand be brief");
	free(text);
	assert_int_equal(task_store_take_steer(s, root, &text), 0);
	assert_null(text);
	store_close(s);
}

static void test_steer_tree_reaches_the_open_nodes_of_that_tree_only(void **state)
{
	struct store *s = open_db();
	int64_t root = add(s, 0, 0, 0, "research");
	int64_t running = add(s, root, root, 0, "part a");
	int64_t queued = add(s, root, root, 1, "part b");
	int64_t ended = add(s, root, root, 2, "part c");
	int64_t other = add(s, 0, 0, 0, "another task");
	char *text = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(task_store_start(s, running, 2000), 0);
	assert_int_equal(task_store_end(s, ended, "done", "c found", NULL, 3000), 0);
	assert_int_equal(task_store_steer_tree(s, root, "only sources from 2026", &n), 0);
	assert_int_equal(n, 3); /* root, running, queued */
	for (int64_t id = root; id <= queued; id++) {
		assert_int_equal(task_store_take_steer(s, id, &text), 0);
		assert_string_equal(text, "only sources from 2026");
		free(text);
	}
	assert_int_equal(task_store_take_steer(s, ended, &text), 0);
	assert_null(text);
	assert_int_equal(task_store_take_steer(s, other, &text), 0);
	assert_null(text);
	store_close(s);
}

static bool pending_has(struct store *s, int64_t id)
{
	struct task_row *rows = NULL;
	size_t n = 0;
	bool found = false;

	assert_int_equal(task_store_pending(s, &rows, &n), 0);
	for (size_t i = 0; i < n; i++)
		found |= rows[i].id == id;
	task_rows_free(rows, n);
	return found;
}

static void test_pending_until_delivered_and_reopen(void **state)
{
	struct store *s = open_db();
	int64_t a = add(s, 0, 0, 0, "a"), b = add(s, 0, 0, 0, "b");
	int64_t kid = add(s, b, b, 0, "b1");
	struct task_row r;

	(void)state;
	assert_true(pending_has(s, a));
	assert_false(pending_has(s, kid)); /* only roots */
	assert_int_equal(task_store_start(s, b, 10), 0);
	assert_int_equal(task_store_start(s, kid, 10), 0);
	assert_int_equal(task_store_end(s, a, "done", "the answer", NULL, 20), 0);
	assert_true(pending_has(s, a)); /* done but not delivered */
	assert_int_equal(task_store_mark_delivered(s, a), 0);
	assert_false(pending_has(s, a));
	/* stopping the tree ends every node that had not ended */
	assert_int_equal(task_store_end_tree(s, b, "stopped", "stopped by the owner", 30), 0);
	assert_int_equal(task_store_get(s, kid, &r), 0);
	assert_string_equal(r.state, "stopped");
	task_row_finish(&r);
	store_close(s);
	s = open_db(); /* as after a restart */
	assert_int_equal(task_store_get(s, a, &r), 0);
	assert_string_equal(r.result, "the answer");
	assert_true(r.delivered);
	task_row_finish(&r);
	assert_true(pending_has(s, b)); /* stopped, not delivered yet */
	store_close(s);
}

static void test_list_by_origin_newest_first(void **state)
{
	struct store *s = open_db();
	struct task_new other = {.origin = "api", .prompt = "from the api"};
	struct task_row *rows = NULL;
	size_t n = 0;
	int64_t id, last = add(s, 0, 0, 0, "newest");

	(void)state;
	assert_int_equal(task_store_add(s, &other, 1, &id), 0);
	assert_int_equal(task_store_list(s, "telegram:42", &rows, &n), 0);
	assert_true(n >= 1);
	assert_int_equal(rows[0].id, last);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(rows[i].origin, "telegram:42");
		assert_int_equal(rows[i].parent, 0);
	}
	task_rows_free(rows, n);
	assert_int_equal(task_store_list(s, NULL, &rows, &n), 0);
	assert_int_equal(rows[0].id, id);
	task_rows_free(rows, n);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_and_children),
		cmocka_unit_test(test_lane_is_kept),
		cmocka_unit_test(test_spend_start_end),
		cmocka_unit_test(test_steer_is_taken_once),
		cmocka_unit_test(test_steer_tree_reaches_the_open_nodes_of_that_tree_only),
		cmocka_unit_test(test_pending_until_delivered_and_reopen),
		cmocka_unit_test(test_list_by_origin_newest_first),
	};
	int rc;

	assert_non_null(mkdtemp(dir));
	schema_register();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	return rc;
}
