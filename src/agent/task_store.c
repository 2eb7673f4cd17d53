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
#include <stdarg.h>
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
#define SELECT_TASKS "SELECT " COLUMNS " FROM tasks WHERE "

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

static void read_row(sqlite3_stmt *st, struct task_row *r)
{
	const unsigned char *state;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	r->root = sqlite3_column_int64(st, 1);
	r->parent = sqlite3_column_int64(st, 2);
	r->depth = sqlite3_column_int64(st, 3);
	r->seq = sqlite3_column_int64(st, 4);
	r->origin = store_column_dup(st, 5);
	r->chat_id = sqlite3_column_int64(st, 6);
	r->thread_id = sqlite3_column_int64(st, 7);
	r->prompt = store_column_dup(st, 8);
	r->context = store_column_dup(st, 9);
	r->tools = store_column_dup(st, 10);
	r->model = store_column_dup(st, 11);
	r->untrusted = store_column_dup(st, 12);
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
	r->doing = store_column_dup(st, 22);
	r->steer = store_column_dup(st, 23);
	r->result = store_column_dup(st, 24);
	r->why = store_column_dup(st, 25);
	r->delivered = sqlite3_column_int64(st, 26) != 0;
	r->starts = sqlite3_column_int64(st, 27);
	r->created_ms = sqlite3_column_int64(st, 28);
	r->started_ms = sqlite3_column_int64(st, 29);
	r->ended_ms = sqlite3_column_int64(st, 30);
	r->lane = store_column_dup(st, 31);
}

/* Prepares sql and binds ?1, ?2, ... from the arguments, one letter of kinds each: 'i' an
 * int64_t, 'n' an int64_t bound as NULL when 0, 'd' a double, 't' a string (NULL stays NULL;
 * SQLITE_TRANSIENT: the caller's string may go). */
static int vprepare(struct store *s, sqlite3_stmt **st, const char *sql, const char *kinds,
		    va_list ap)
{
	int64_t i64;
	const char *t;

	*st = NULL;
	if (sqlite3_prepare_v2(store_db(s), sql, -1, st, NULL) != SQLITE_OK)
		return store_fail(s, "tasks");
	/* a kinds string that does not match the statement is this file's bug, not the store's */
	if ((int)strlen(kinds) != sqlite3_bind_parameter_count(*st)) {
		sqlite3_finalize(*st);
		*st = NULL;
		return -EINVAL;
	}
	for (int i = 1; *kinds; kinds++, i++) {
		switch (*kinds) {
		case 'd':
			sqlite3_bind_double(*st, i, va_arg(ap, double));
			break;
		case 't':
			t = va_arg(ap, const char *);
			if (t)
				sqlite3_bind_text(*st, i, t, -1, SQLITE_TRANSIENT);
			break;
		default: /* 'i', 'n' */
			i64 = va_arg(ap, int64_t);
			if (i64 || *kinds == 'i')
				sqlite3_bind_int64(*st, i, i64);
		}
	}
	return 0;
}

static int prepare(struct store *s, sqlite3_stmt **st, const char *sql, const char *kinds, ...)
{
	va_list ap;
	int rc;

	va_start(ap, kinds);
	rc = vprepare(s, st, sql, kinds, ap);
	va_end(ap);
	return rc;
}

/* Steps a prepared write to its end and finalizes it. */
static int run(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_fail(s, "tasks");
	sqlite3_finalize(st);
	return rc;
}

static int vexec(struct store *s, const char *sql, const char *kinds, va_list ap)
{
	sqlite3_stmt *st;
	int rc = vprepare(s, &st, sql, kinds, ap);

	return rc < 0 ? rc : run(s, st);
}

/* A write with its values (prepare's kinds). */
static int exec(struct store *s, const char *sql, const char *kinds, ...)
{
	va_list ap;
	int rc;

	va_start(ap, kinds);
	rc = vexec(s, sql, kinds, ap);
	va_end(ap);
	return rc;
}

/* An UPDATE of the row ?1 (prepare's kinds, the first 'i'): -ENOENT when there is none. */
static int update_id(struct store *s, const char *sql, const char *kinds, ...)
{
	va_list ap;
	int rc;

	va_start(ap, kinds);
	rc = vexec(s, sql, kinds, ap);
	va_end(ap);
	if (rc == 0 && sqlite3_changes(store_db(s)) == 0)
		rc = -ENOENT;
	return rc;
}

/* The rows of a SELECT_TASKS query with its values (prepare's kinds): a malloc'd array of at
 * most max. The one reader of rows. */
static int vselect(struct store *s, size_t max, struct task_row **out, size_t *n, const char *sql,
		   const char *kinds, va_list ap)
{
	struct task_row *rows = NULL;
	size_t cap = 0, k = 0;
	sqlite3_stmt *st;
	int rc = vprepare(s, &st, sql, kinds, ap);

	if (rc < 0)
		return rc;
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

static int select_rows(struct store *s, size_t max, struct task_row **out, size_t *n,
		       const char *sql, const char *kinds, ...)
{
	va_list ap;
	int rc;

	va_start(ap, kinds);
	rc = vselect(s, max, out, n, sql, kinds, ap);
	va_end(ap);
	return rc;
}

/* The first row of a SELECT_TASKS query into out: 0, -ENOENT (no row), or the store's error. */
static int select_one(struct store *s, struct task_row *out, const char *sql, const char *kinds,
		      ...)
{
	struct task_row *rows;
	size_t n;
	va_list ap;
	int rc;

	va_start(ap, kinds);
	rc = vselect(s, 1, &rows, &n, sql, kinds, ap);
	va_end(ap);
	if (rc == 0 && n == 0)
		rc = -ENOENT;
	if (rc == 0)
		*out = rows[0];
	if (rc == 0 || rc == -ENOENT)
		free(rows);
	return rc;
}

int task_store_add(struct store *s, const struct task_new *n, int64_t now_ms, int64_t *id)
{
	int rc = exec(s,
		      "INSERT INTO tasks (root, parent, depth, seq, origin, chat_id, thread_id,"
		      " prompt, context, tools, model, untrusted, state, budget_usd, budget_tokens,"
		      " budget_minutes, budget_tool_calls, created_ms, lane)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'queued', ?13,"
		      " ?14, ?15, ?16, ?17, ?18)",
		      "iniitiitttttdiiiit", n->root, n->parent, n->depth, n->seq,
		      n->origin ? n->origin : "", n->chat_id, n->thread_id,
		      n->prompt ? n->prompt : "", n->context, n->tools, n->model, n->untrusted,
		      n->budget.usd, n->budget.tokens, n->budget.minutes, n->budget.tool_calls,
		      now_ms, n->lane);

	if (rc < 0)
		return rc;
	*id = sqlite3_last_insert_rowid(store_db(s));
	if (n->root)
		return 0;
	/* A root is its own tree. */
	return exec(s, "UPDATE tasks SET root = id WHERE id = ?1", "i", *id);
}

int task_store_get(struct store *s, int64_t id, struct task_row *out)
{
	return select_one(s, out, SELECT_TASKS "id = ?1", "i", id);
}

int task_store_list(struct store *s, const char *origin, struct task_row **out, size_t *n)
{
	return select_rows(s, TASK_LIST_MAX, out, n,
			   SELECT_TASKS "parent IS NULL AND (?1 IS NULL OR origin = ?1)"
					" ORDER BY id DESC LIMIT ?2",
			   "ti", origin, (int64_t)TASK_LIST_MAX);
}

int task_store_children(struct store *s, int64_t parent, struct task_row **out, size_t *n)
{
	return select_rows(s, 1024, out, n, SELECT_TASKS "parent = ?1 ORDER BY id", "i", parent);
}

int task_store_find_child(struct store *s, int64_t parent, int64_t seq, const char *prompt,
			  struct task_row *out)
{
	return select_one(s, out,
			  SELECT_TASKS "parent = ?1 AND seq = ?2 AND prompt = ?3 AND state IN"
				       " ('queued', 'running', 'done') ORDER BY id DESC LIMIT 1",
			  "iit", parent, seq, prompt);
}

int task_store_pending(struct store *s, struct task_row **out, size_t *n)
{
	return select_rows(s, 10000, out, n,
			   SELECT_TASKS "parent IS NULL AND (state IN ('queued', 'running') OR"
					" delivered = 0) ORDER BY id",
			   "");
}

int task_store_start(struct store *s, int64_t id, int64_t now_ms)
{
	return update_id(s,
			 "UPDATE tasks SET state = 'running', starts = starts + 1,"
			 " started_ms = coalesce(started_ms, ?2) WHERE id = ?1",
			 "ii", id, now_ms);
}

int task_store_end(struct store *s, int64_t id, const char *state, const char *result,
		   const char *why, int64_t now_ms)
{
	char *cut = result ? utf8_clip_dup(result, TASK_RESULT_MAX, true) : NULL;
	int rc = update_id(s,
			   "UPDATE tasks SET state = ?2, result = ?3, why = ?4, ended_ms = ?5,"
			   " doing = NULL WHERE id = ?1",
			   "ittti", id, state, cut, why, now_ms);

	free(cut);
	return rc;
}

int task_store_add_spend(struct store *s, int64_t id, const struct task_spend *d)
{
	return exec(s,
		    "UPDATE tasks SET spent_usd = spent_usd + ?2, spent_tokens = spent_tokens + ?3,"
		    " tool_calls = tool_calls + ?4, model_calls = model_calls + ?5 WHERE id = ?1",
		    "idiii", id, d->usd, d->tokens, d->tool_calls, d->model_calls);
}

int task_store_tree_spend(struct store *s, int64_t root, struct task_spend *out)
{
	sqlite3_stmt *st;
	int rc = prepare(s, &st,
			 "SELECT coalesce(sum(spent_usd), 0), coalesce(sum(spent_tokens), 0),"
			 " coalesce(sum(tool_calls), 0), coalesce(sum(model_calls), 0) FROM tasks"
			 " WHERE root = ?1",
			 "i", root);

	if (rc < 0)
		return rc;
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
	int rc = update_id(s, "UPDATE tasks SET doing = ?2 WHERE id = ?1", "it", id, cut);

	free(cut);
	return rc;
}

int task_store_set_lane(struct store *s, int64_t id, const char *lane)
{
	return update_id(s, "UPDATE tasks SET lane = ?2 WHERE id = ?1", "it", id, lane);
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
	rc = update_id(s, "UPDATE tasks SET steer = ?2 WHERE id = ?1", "it", id, cut);
	free(cut);
	free(joined);
	task_row_finish(&r);
	return rc;
}

int task_store_steer_tree(struct store *s, int64_t root, const char *text, size_t *n_nodes)
{
	struct task_row *rows = NULL;
	size_t n = 0;
	int rc = select_rows(
		s, SIZE_MAX, &rows, &n,
		SELECT_TASKS "root = ?1 AND state IN ('queued', 'running') ORDER BY id", "i", root);

	*n_nodes = 0;
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
		rc = update_id(s, "UPDATE tasks SET steer = NULL WHERE id = ?1", "i", id);
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
	return update_id(s, "UPDATE tasks SET delivered = 1 WHERE id = ?1", "i", id);
}

int task_store_end_tree(struct store *s, int64_t root, const char *state, const char *why,
			int64_t now_ms)
{
	return exec(s,
		    "UPDATE tasks SET state = ?2, why = coalesce(why, ?3), ended_ms = ?4,"
		    " doing = NULL WHERE root = ?1 AND state IN ('queued', 'running')",
		    "itti", root, state, why, now_ms);
}
