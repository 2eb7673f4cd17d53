/* task_store: the SQL of the task journal (see task_store.h). Every write is one autocommit
 * statement: a node's row changes one fact at a time (started, spent, ended, delivered), so
 * no transaction is needed for a crash to leave it consistent. The tree's spend is the sum of
 * its rows rather than a counter on the root: a child's spend and its end are then written to
 * the child's own row, and a restart adds them up again.
 */
#include "agent/task_store.h"
#include "core/store.h"
#include "core/util.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLUMNS                                                                                    \
	"id, root, parent, depth, seq, origin, chat_id, thread_id, prompt, context, tools, model," \
	" untrusted, state, budget_usd, budget_tokens, budget_minutes, budget_tool_calls,"         \
	" spent_usd, spent_tokens, tool_calls, model_calls, doing, steer, result, why, delivered," \
	" starts, created_ms, coalesce(started_ms, 0), coalesce(ended_ms, 0), lane"

bool task_state_final(const char *state)
{
	return strcmp(state, "queued") != 0 && strcmp(state, "running") != 0;
}

void task_row_finish(struct task_row *r)
{
	free(r->origin);
	free(r->prompt);
	free(r->context);
	free(r->tools);
	free(r->model);
	free(r->untrusted);
	free(r->doing);
	free(r->steer);
	free(r->result);
	free(r->why);
	free(r->lane);
	memset(r, 0, sizeof(*r));
}

void task_rows_free(struct task_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		task_row_finish(&rows[i]);
	free(rows);
}

static char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return v ? xstrdup((const char *)v) : NULL;
}

static void read_row(sqlite3_stmt *st, struct task_row *r)
{
	const unsigned char *state;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	r->root = sqlite3_column_int64(st, 1);
	r->parent = sqlite3_column_int64(st, 2);
	r->depth = sqlite3_column_int64(st, 3);
	r->seq = sqlite3_column_int64(st, 4);
	r->origin = col(st, 5);
	r->chat_id = sqlite3_column_int64(st, 6);
	r->thread_id = sqlite3_column_int64(st, 7);
	r->prompt = col(st, 8);
	r->context = col(st, 9);
	r->tools = col(st, 10);
	r->model = col(st, 11);
	r->untrusted = col(st, 12);
	state = sqlite3_column_text(st, 13);
	snprintf(r->state, sizeof(r->state), "%s", state ? (const char *)state : "");
	r->budget.usd = sqlite3_column_double(st, 14);
	r->budget.tokens = sqlite3_column_int64(st, 15);
	r->budget.minutes = sqlite3_column_int64(st, 16);
	r->budget.tool_calls = sqlite3_column_int64(st, 17);
	r->spent.usd = sqlite3_column_double(st, 18);
	r->spent.tokens = sqlite3_column_int64(st, 19);
	r->spent.tool_calls = sqlite3_column_int64(st, 20);
	r->spent.model_calls = sqlite3_column_int64(st, 21);
	r->doing = col(st, 22);
	r->steer = col(st, 23);
	r->result = col(st, 24);
	r->why = col(st, 25);
	r->delivered = sqlite3_column_int64(st, 26) != 0;
	r->starts = sqlite3_column_int64(st, 27);
	r->created_ms = sqlite3_column_int64(st, 28);
	r->started_ms = sqlite3_column_int64(st, 29);
	r->ended_ms = sqlite3_column_int64(st, 30);
	r->lane = col(st, 31);
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st)
{
	*st = NULL;
	if (sqlite3_prepare_v2(store_db(s), sql, -1, st, NULL) != SQLITE_OK)
		return store_fail(s, "tasks");
	return 0;
}

/* Steps a prepared write to its end and finalizes it. */
static int run(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_fail(s, "tasks");
	sqlite3_finalize(st);
	return rc;
}

/* Binds text, NULL stays NULL (SQLITE_TRANSIENT: the caller's string may go). */
static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Rows of a SELECT " COLUMNS " query already bound: malloc'd array (at most max). */
static int read_rows(struct store *s, sqlite3_stmt *st, size_t max, struct task_row **out,
		     size_t *n)
{
	struct task_row *rows = NULL;
	size_t cap = 0, k = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < max) {
		if (k == cap) {
			cap = cap ? cap * 2 : 8;
			rows = xrealloc(rows, cap * sizeof(*rows));
		}
		read_row(st, &rows[k++]);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = store_fail(s, "tasks");
		sqlite3_finalize(st);
		task_rows_free(rows, k);
		return rc;
	}
	sqlite3_finalize(st);
	*out = rows;
	*n = k;
	return 0;
}

int task_store_add(struct store *s, const struct task_new *n, int64_t now_ms, int64_t *id)
{
	sqlite3_stmt *st;
	int rc =
		prepare(s,
			"INSERT INTO tasks (root, parent, depth, seq, origin, chat_id, thread_id,"
			" prompt, context, tools, model, untrusted, state, budget_usd,"
			" budget_tokens, budget_minutes, budget_tool_calls, created_ms, lane)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'queued', ?13,"
			" ?14, ?15, ?16, ?17, ?18)",
			&st);

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, n->root);
	if (n->parent)
		sqlite3_bind_int64(st, 2, n->parent);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, n->depth);
	sqlite3_bind_int64(st, 4, n->seq);
	bind_text(st, 5, n->origin ? n->origin : "");
	sqlite3_bind_int64(st, 6, n->chat_id);
	sqlite3_bind_int64(st, 7, n->thread_id);
	bind_text(st, 8, n->prompt ? n->prompt : "");
	bind_text(st, 9, n->context);
	bind_text(st, 10, n->tools);
	bind_text(st, 11, n->model);
	bind_text(st, 12, n->untrusted);
	sqlite3_bind_double(st, 13, n->budget.usd);
	sqlite3_bind_int64(st, 14, n->budget.tokens);
	sqlite3_bind_int64(st, 15, n->budget.minutes);
	sqlite3_bind_int64(st, 16, n->budget.tool_calls);
	sqlite3_bind_int64(st, 17, now_ms);
	bind_text(st, 18, n->lane);
	rc = run(s, st);
	if (rc < 0)
		return rc;
	*id = sqlite3_last_insert_rowid(store_db(s));
	if (n->root)
		return 0;
	/* A root is its own tree. */
	rc = prepare(s, "UPDATE tasks SET root = id WHERE id = ?1", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, *id);
	return run(s, st);
}

/* Steps st once into out and finalizes it: 0, -ENOENT (no row), or the store's error. */
static int read_one(struct store *s, sqlite3_stmt *st, struct task_row *out)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		read_row(st, out);
	rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : store_fail(s, "tasks");
	sqlite3_finalize(st);
	return rc;
}

int task_store_get(struct store *s, int64_t id, struct task_row *out)
{
	sqlite3_stmt *st;
	int rc = prepare(s, "SELECT " COLUMNS " FROM tasks WHERE id = ?1", &st);

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	return read_one(s, st, out);
}

int task_store_list(struct store *s, const char *origin, struct task_row **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc = prepare(s,
			 "SELECT " COLUMNS " FROM tasks WHERE parent IS NULL AND"
			 " (?1 IS NULL OR origin = ?1) ORDER BY id DESC LIMIT ?2",
			 &st);

	if (rc < 0)
		return rc;
	bind_text(st, 1, origin);
	sqlite3_bind_int(st, 2, TASK_LIST_MAX);
	return read_rows(s, st, TASK_LIST_MAX, out, n);
}

int task_store_children(struct store *s, int64_t parent, struct task_row **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc = prepare(s, "SELECT " COLUMNS " FROM tasks WHERE parent = ?1 ORDER BY id", &st);

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, parent);
	return read_rows(s, st, 1024, out, n);
}

int task_store_find_child(struct store *s, int64_t parent, int64_t seq, const char *prompt,
			  struct task_row *out)
{
	sqlite3_stmt *st;
	int rc = prepare(s,
			 "SELECT " COLUMNS " FROM tasks WHERE parent = ?1 AND seq = ?2 AND"
			 " prompt = ?3 AND state IN ('queued', 'running', 'done')"
			 " ORDER BY id DESC LIMIT 1",
			 &st);

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, parent);
	sqlite3_bind_int64(st, 2, seq);
	bind_text(st, 3, prompt);
	return read_one(s, st, out);
}

int task_store_pending(struct store *s, struct task_row **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc = prepare(s,
			 "SELECT " COLUMNS " FROM tasks WHERE parent IS NULL AND"
			 " (state IN ('queued', 'running') OR delivered = 0) ORDER BY id",
			 &st);

	if (rc < 0)
		return rc;
	return read_rows(s, st, 10000, out, n);
}

/* An UPDATE with id as ?1 and up to two more values bound by the caller's kind. */
static int update_id(struct store *s, const char *sql, int64_t id, const char *t2, int64_t i3)
{
	sqlite3_stmt *st;
	int rc = prepare(s, sql, &st);

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_bind_parameter_count(st) >= 2)
		bind_text(st, 2, t2);
	if (sqlite3_bind_parameter_count(st) >= 3)
		sqlite3_bind_int64(st, 3, i3);
	rc = run(s, st);
	if (rc == 0 && sqlite3_changes(store_db(s)) == 0)
		rc = -ENOENT;
	return rc;
}

int task_store_start(struct store *s, int64_t id, int64_t now_ms)
{
	return update_id(s,
			 "UPDATE tasks SET state = 'running', starts = starts + 1,"
			 " started_ms = coalesce(started_ms, ?3) WHERE id = ?1",
			 id, NULL, now_ms);
}

int task_store_end(struct store *s, int64_t id, const char *state, const char *result,
		   const char *why, int64_t now_ms)
{
	sqlite3_stmt *st;
	char *cut = result ? utf8_clip_dup(result, TASK_RESULT_MAX, true) : NULL;
	int rc = prepare(s,
			 "UPDATE tasks SET state = ?2, result = ?3, why = ?4, ended_ms = ?5,"
			 " doing = NULL WHERE id = ?1",
			 &st);

	if (rc == 0) {
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, state);
		bind_text(st, 3, cut);
		bind_text(st, 4, why);
		sqlite3_bind_int64(st, 5, now_ms);
		rc = run(s, st);
		if (rc == 0 && sqlite3_changes(store_db(s)) == 0)
			rc = -ENOENT;
	}
	free(cut);
	return rc;
}

int task_store_add_spend(struct store *s, int64_t id, const struct task_spend *d)
{
	sqlite3_stmt *st;
	int rc = prepare(s,
			 "UPDATE tasks SET spent_usd = spent_usd + ?2, spent_tokens = spent_tokens"
			 " + ?3, tool_calls = tool_calls + ?4, model_calls = model_calls + ?5"
			 " WHERE id = ?1",
			 &st);

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_double(st, 2, d->usd);
	sqlite3_bind_int64(st, 3, d->tokens);
	sqlite3_bind_int64(st, 4, d->tool_calls);
	sqlite3_bind_int64(st, 5, d->model_calls);
	return run(s, st);
}

int task_store_tree_spend(struct store *s, int64_t root, struct task_spend *out)
{
	sqlite3_stmt *st;
	int rc = prepare(s,
			 "SELECT coalesce(sum(spent_usd), 0), coalesce(sum(spent_tokens), 0),"
			 " coalesce(sum(tool_calls), 0), coalesce(sum(model_calls), 0) FROM tasks"
			 " WHERE root = ?1",
			 &st);

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, root);
	memset(out, 0, sizeof(*out));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->usd = sqlite3_column_double(st, 0);
		out->tokens = sqlite3_column_int64(st, 1);
		out->tool_calls = sqlite3_column_int64(st, 2);
		out->model_calls = sqlite3_column_int64(st, 3);
	}
	rc = rc == SQLITE_ROW ? 0 : store_fail(s, "tasks");
	sqlite3_finalize(st);
	return rc;
}

int task_store_set_doing(struct store *s, int64_t id, const char *doing)
{
	char *cut = doing ? utf8_clip_dup(doing, 200, true) : NULL;
	int rc = update_id(s, "UPDATE tasks SET doing = ?2 WHERE id = ?1", id, cut, 0);

	free(cut);
	return rc;
}

int task_store_set_lane(struct store *s, int64_t id, const char *lane)
{
	return update_id(s, "UPDATE tasks SET lane = ?2 WHERE id = ?1", id, lane, 0);
}

int task_store_add_steer(struct store *s, int64_t id, const char *text)
{
	struct task_row r;
	char *joined, *cut;
	int rc = task_store_get(s, id, &r);

	if (rc < 0)
		return rc;
	/* the newest guidance wins: past the bound, the older unread guidance gives way */
	joined = r.steer && strlen(r.steer) + 1 + strlen(text) <= TASK_PROMPT_MAX
			 ? xasprintf("%s\n%s", r.steer, text)
			 : xstrdup(text);
	cut = utf8_clip_dup(joined, TASK_PROMPT_MAX, true);
	rc = update_id(s, "UPDATE tasks SET steer = ?2 WHERE id = ?1", id, cut, 0);
	free(cut);
	free(joined);
	task_row_finish(&r);
	return rc;
}

int task_store_steer_tree(struct store *s, int64_t root, const char *text, size_t *n_nodes)
{
	struct task_row *rows = NULL;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc = prepare(s,
			 "SELECT " COLUMNS " FROM tasks WHERE root = ?1 AND state IN ('queued',"
			 " 'running') ORDER BY id",
			 &st);

	*n_nodes = 0;
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, root);
	rc = read_rows(s, st, SIZE_MAX, &rows, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = task_store_add_steer(s, rows[i].id, text);
		if (rc == 0)
			(*n_nodes)++;
	}
	task_rows_free(rows, n);
	return rc;
}

int task_store_take_steer(struct store *s, int64_t id, char **text)
{
	struct task_row r;
	int rc = task_store_get(s, id, &r);

	*text = NULL;
	if (rc < 0)
		return rc;
	if (r.steer) {
		rc = update_id(s, "UPDATE tasks SET steer = NULL WHERE id = ?1", id, NULL, 0);
		if (rc == 0) {
			*text = r.steer;
			r.steer = NULL;
		}
	}
	task_row_finish(&r);
	return rc;
}

int task_store_mark_delivered(struct store *s, int64_t id)
{
	return update_id(s, "UPDATE tasks SET delivered = 1 WHERE id = ?1", id, NULL, 0);
}

int task_store_end_tree(struct store *s, int64_t root, const char *state, const char *why,
			int64_t now_ms)
{
	sqlite3_stmt *st;
	int rc = prepare(s,
			 "UPDATE tasks SET state = ?2, why = coalesce(why, ?3), ended_ms = ?4,"
			 " doing = NULL WHERE root = ?1 AND state IN ('queued', 'running')",
			 &st);

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, root);
	bind_text(st, 2, state);
	bind_text(st, 3, why);
	sqlite3_bind_int64(st, 4, now_ms);
	return run(s, st);
}
