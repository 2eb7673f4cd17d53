/* sessions: the session and message tables (schema in sessions.h, listed in gateway/schema.c).
 *
 * Statements are prepared per call: sessions are touched a few times per turn, so a cache of
 * prepared statements would save microseconds against model calls of seconds. Compaction
 * keeps the old rows (flagged) so session_search still finds what was summarised away.
 * Search turns free text into a quoted-words FTS5 query (all words first, any word if that
 * finds nothing) so a user's "C++ (or c#)" cannot be an FTS5 syntax error.
 */
#include "core/sessions.h"
#include "core/log.h"
#include "core/store.h"
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEARCH_MAX_WORDS     12
#define EXCERPTS_PER_SESSION 3

static int fail(sqlite3 *db, const char *what)
{
	int code = sqlite3_errcode(db);

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
		log_debug("sessions: %s: %s", what, sqlite3_errmsg(db));
		return -EBUSY;
	}
	log_error("sessions: %s: %s", what, sqlite3_errmsg(db));
	return -EIO;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return fail(db, "prepare");
	return 0;
}

/* Runs a statement that returns no rows. */
static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(db, what);

	sqlite3_finalize(st);
	return rc;
}

void session_info_finish(struct session_info *si)
{
	if (!si)
		return;
	free(si->source);
	free(si->title);
	free(si->model);
	free(si->system_prompt);
	memset(si, 0, sizeof(*si));
}

#define INFO_COLS                                                                                  \
	"s.id, s.source, s.title, s.model, s.system_prompt, s.created_ms, s.updated_ms, s.ended,"  \
	" s.turns, s.prompt_tokens, s.completion_tokens, s.cost_usd,"                              \
	" (SELECT count(*) FROM messages m WHERE m.session_id = s.id)"

static void read_info(sqlite3_stmt *st, struct session_info *out)
{
	out->id = sqlite3_column_int64(st, 0);
	out->source = store_column_dup(st, 1);
	out->title = store_column_dup(st, 2);
	out->model = store_column_dup(st, 3);
	out->system_prompt = store_column_dup(st, 4);
	out->created_ms = sqlite3_column_int64(st, 5);
	out->updated_ms = sqlite3_column_int64(st, 6);
	out->ended = sqlite3_column_int(st, 7) != 0;
	out->turns = sqlite3_column_int64(st, 8);
	out->prompt_tokens = sqlite3_column_int64(st, 9);
	out->completion_tokens = sqlite3_column_int64(st, 10);
	out->cost_usd = sqlite3_column_double(st, 11);
	out->n_messages = sqlite3_column_int64(st, 12);
}

int sessions_get(struct store *s, int64_t id, struct session_info *out)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	if (prepare(db, "SELECT " INFO_COLS " FROM sessions s WHERE s.id = ?", &st) < 0)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_info(st, out);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : fail(db, "get session");
}

int sessions_end(struct store *s, const char *source)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;

	if (prepare(db, "UPDATE sessions SET ended = 1 WHERE source = ? AND ended = 0", &st) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	return step_done(db, st, "end session");
}

/* sessions_reopen's statements, inside its transaction. */
static int reopen_rows(sqlite3 *db, int64_t id, const char *source)
{
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, "SELECT source = ? FROM sessions WHERE id = ?", &st) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = sqlite3_column_int(st, 0) ? 0 : -EPERM;
	else
		rc = rc == SQLITE_DONE ? -ENOENT : fail(db, "reopen: find");
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	if (prepare(db, "UPDATE sessions SET ended = 1 WHERE source = ? AND ended = 0 AND id <> ?",
		    &st) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	rc = step_done(db, st, "reopen: end the open one");
	if (rc < 0 ||
	    prepare(db, "UPDATE sessions SET ended = 0, updated_ms = ? WHERE id = ?", &st) < 0)
		return rc < 0 ? rc : -EIO;
	sqlite3_bind_int64(st, 1, now_wall_ms());
	sqlite3_bind_int64(st, 2, id);
	return step_done(db, st, "reopen");
}

int sessions_reopen(struct store *s, int64_t id, const char *source)
{
	int rc = store_begin(s);

	if (rc < 0)
		return rc == -EBUSY ? rc : fail(store_db(s), "begin");
	return store_end(s, reopen_rows(store_db(s), id, source));
}

int sessions_current(struct store *s, const char *source, int64_t idle_ms, struct session_info *out)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	if (prepare(db,
		    "SELECT " INFO_COLS " FROM sessions s WHERE s.source = ? AND s.ended = 0"
		    " ORDER BY s.id DESC LIMIT 1",
		    &st) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_info(st, out);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return fail(db, "current session");
	if (idle_ms > 0 && now_wall_ms() - out->updated_ms > idle_ms) {
		session_info_finish(out);
		rc = sessions_end(s, source);
		return rc < 0 ? rc : -ENOENT;
	}
	return 0;
}

int sessions_create(struct store *s, const char *source, const char *model,
		    const char *system_prompt, int64_t *id)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;
	int64_t now = now_wall_ms();
	int rc = sessions_end(s, source);

	if (rc < 0)
		return rc;
	rc = prepare(db,
		     "INSERT INTO sessions (source, model, system_prompt, created_ms, updated_ms)"
		     " VALUES (?, ?, ?, ?, ?)",
		     &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, system_prompt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, now);
	rc = step_done(db, st, "create session");
	if (rc < 0)
		return rc;
	*id = sqlite3_last_insert_rowid(db);
	return 0;
}

int sessions_append(struct store *s, int64_t id, const char *role, const char *json,
		    const char *text, int64_t *msg_id)
{
	return sessions_append_origin(s, id, role, json, text, NULL, msg_id);
}

int sessions_find_origin(struct store *s, int64_t id, const char *origin, int64_t *msg_id)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, "SELECT id FROM messages WHERE session_id = ? AND origin = ? LIMIT 1",
		    &st) < 0)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, origin, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*msg_id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : fail(db, "find origin");
}

int sessions_append_origin(struct store *s, int64_t id, const char *role, const char *json,
			   const char *text, const char *origin, int64_t *msg_id)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;
	int64_t now = now_wall_ms();
	int rc;

	rc = store_begin(s);
	if (rc < 0)
		return rc == -EBUSY ? rc : fail(db, "begin");
	rc = prepare(db,
		     "INSERT INTO messages (session_id, role, content, json, created_ms, origin)"
		     " VALUES (?, ?, ?, ?, ?, ?)",
		     &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, text ? text : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, json, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
		if (origin)
			sqlite3_bind_text(st, 6, origin, -1, SQLITE_STATIC);
		rc = step_done(db, st, "append message");
		if (rc == 0 && msg_id)
			*msg_id = sqlite3_last_insert_rowid(db);
	}
	if (rc == 0 && prepare(db, "UPDATE sessions SET updated_ms = ? WHERE id = ?", &st) == 0) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, id);
		rc = step_done(db, st, "touch session");
	}
	return store_end(s, rc);
}

int sessions_messages(struct store *s, int64_t id, sessions_message_cb cb, void *arg)
{
	return sessions_messages_max(s, id, SIZE_MAX, cb, arg);
}

int sessions_messages_max(struct store *s, int64_t id, size_t max, sessions_message_cb cb,
			  void *arg)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;
	int rc;

	if (prepare(db,
		    "SELECT id, role, json FROM messages WHERE session_id = ? AND compacted = 0"
		    " ORDER BY coalesce(sort_key, id) LIMIT ?",
		    &st) < 0)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, max > INT64_MAX ? -1 : (sqlite3_int64)max); /* -1: no limit */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
		   (const char *)sqlite3_column_text(st, 2), arg);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(db, "read messages");
}

static int compact_rows(sqlite3 *db, int64_t id, const int64_t *ids, size_t n, double *key)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (prepare(db, "SELECT coalesce(sort_key, id) FROM messages WHERE id = ?", &st) < 0)
		return -EIO;
	sqlite3_bind_int64(st, 1, ids[0]);
	if (sqlite3_step(st) != SQLITE_ROW)
		rc = fail(db, "compact: first message");
	else
		*key = sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	if (rc < 0 ||
	    prepare(db, "UPDATE messages SET compacted = 1 WHERE session_id = ? AND id = ?", &st) <
		    0)
		return -EIO;
	for (size_t i = 0; i < n && rc == 0; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, ids[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = fail(db, "compact");
	}
	sqlite3_finalize(st);
	return rc;
}

int sessions_compact(struct store *s, int64_t id, const int64_t *ids, size_t n,
		     const char *summary_json, const char *summary_text)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;
	double key = 0;
	int rc;

	if (n == 0)
		return 0;
	rc = store_begin(s);
	if (rc < 0)
		return rc == -EBUSY ? rc : fail(db, "begin");
	/* The summary sorts where the first replaced message was, which is hidden now. */
	rc = compact_rows(db, id, ids, n, &key);
	if (rc == 0 &&
	    prepare(db,
		    "INSERT INTO messages (session_id, role, content, json, created_ms, sort_key)"
		    " VALUES (?, 'system', ?, ?, ?, ?)",
		    &st) == 0) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, summary_text, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, summary_json, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now_wall_ms());
		sqlite3_bind_double(st, 5, key);
		rc = step_done(db, st, "insert summary");
	}
	return store_end(s, rc);
}

int sessions_add_usage(struct store *s, int64_t id, int64_t prompt_tokens,
		       int64_t completion_tokens, double cost_usd, bool turn_done)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;

	if (prepare(db,
		    "UPDATE sessions SET prompt_tokens = prompt_tokens + ?,"
		    " completion_tokens = completion_tokens + ?, cost_usd = cost_usd + ?,"
		    " turns = turns + ?, updated_ms = ? WHERE id = ?",
		    &st) < 0)
		return -EIO;
	sqlite3_bind_int64(st, 1, prompt_tokens);
	sqlite3_bind_int64(st, 2, completion_tokens);
	sqlite3_bind_double(st, 3, cost_usd);
	sqlite3_bind_int(st, 4, turn_done ? 1 : 0);
	sqlite3_bind_int64(st, 5, now_wall_ms());
	sqlite3_bind_int64(st, 6, id);
	return step_done(db, st, "add usage");
}

static int set_text(struct store *s, int64_t id, const char *sql, const char *v)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;

	if (prepare(db, sql, &st) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, v, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	return step_done(db, st, "update session");
}

int sessions_set_title(struct store *s, int64_t id, const char *title)
{
	return set_text(s, id, "UPDATE sessions SET title = ? WHERE id = ?", title);
}

int sessions_set_model(struct store *s, int64_t id, const char *model)
{
	return set_text(s, id, "UPDATE sessions SET model = ? WHERE id = ?", model);
}

/* Free text -> "w1" "w2" ... (AND) or "w1" OR "w2" ...; letters, digits and any non-ASCII
 * byte make words. Returns the number of words. */
static int fts_query(const char *q, bool any, struct buf *out)
{
	int n = 0;

	while (*q && n < SEARCH_MAX_WORDS) {
		const char *w;

		while (*q && !(isalnum((unsigned char)*q) || (unsigned char)*q >= 0x80))
			q++;
		w = q;
		while (*q && (isalnum((unsigned char)*q) || (unsigned char)*q >= 0x80))
			q++;
		if (q == w)
			break;
		if (n++)
			buf_puts(out, any ? " OR " : " ");
		buf_printf(out, "\"%.*s\"", (int)(q - w), w);
	}
	return n;
}

void sessions_format_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M", &tm);
}

/* One pass: sessions ranked by their best hit, each with up to EXCERPTS_PER_SESSION snippets. */
static int search_pass(sqlite3 *db, const char *match, int64_t exclude_id, int max_sessions,
		       const char *lanes_list, struct buf *out)
{
	sqlite3_stmt *st;
	int64_t shown[64];
	int n_shown = 0, per = 0, rc;
	int64_t cur = 0;

	if (max_sessions > (int)ARRAY_LEN(shown))
		max_sessions = ARRAY_LEN(shown);
	/* bm25() cannot sit inside a window function: rank in a CTE, group outside it. */
	if (prepare(db,
		    "WITH hits AS (SELECT m.session_id AS sid, s.source AS source,"
		    " s.title AS title, s.created_ms AS created, m.role AS role,"
		    " snippet(messages_fts, 0, '[', ']', '...', 16) AS snip,"
		    " bm25(messages_fts) AS rank"
		    " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
		    " JOIN sessions s ON s.id = m.session_id"
		    " LEFT JOIN kv l ON l.key = 'session.' || s.id || '.lane'"
		    " WHERE messages_fts MATCH ? AND m.session_id <> ?"
		    " AND (?3 IS NULL OR instr(?3, ',' || coalesce(substr(l.value, 1,"
		    " instr(l.value || ' ', ' ') - 1), '') || ',') > 0)"
		    " ORDER BY rank LIMIT 400)"
		    " SELECT sid, source, title, created, role, snip,"
		    " min(rank) OVER (PARTITION BY sid) AS best FROM hits"
		    " ORDER BY best, sid, rank",
		    &st) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, exclude_id);
	if (lanes_list)
		sqlite3_bind_text(st, 3, lanes_list, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t sid = sqlite3_column_int64(st, 0);
		const char *title = (const char *)sqlite3_column_text(st, 2);
		char date[32];

		if (sid != cur) {
			if (n_shown == max_sessions)
				break;
			cur = sid;
			shown[n_shown++] = sid;
			per = 0;
			sessions_format_time(sqlite3_column_int64(st, 3), date);
			buf_printf(out, "%ssession %lld (%s, %s%s%s%s):\n", n_shown > 1 ? "\n" : "",
				   (long long)sid, date, sqlite3_column_text(st, 1),
				   title ? ", \"" : "", title ? title : "", title ? "\"" : "");
		}
		if (per++ < EXCERPTS_PER_SESSION)
			buf_printf(out, "  %s: %s\n", sqlite3_column_text(st, 4),
				   sqlite3_column_text(st, 5));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(db, "search");
	return n_shown;
}

int sessions_search(struct store *s, const char *query, int64_t exclude_id, int max_sessions,
		    struct buf *out)
{
	return sessions_search_lanes(s, query, exclude_id, max_sessions, NULL, 0, out);
}

int sessions_search_lanes(struct store *s, const char *query, int64_t exclude_id, int max_sessions,
			  const char *const *lanes, size_t n_lanes, struct buf *out)
{
	sqlite3 *db = store_db(s);
	struct buf q, lj;
	int n = 0;

	/* ",a,b,": the lanes a session may be in, matched with instr() (the static builds' SQLite
	 * has no JSON functions); lane names are config names, without commas, and "" (no lane)
	 * makes ",," */
	buf_init(&lj, 0);
	if (lanes) {
		buf_puts(&lj, ",");
		for (size_t i = 0; i < n_lanes; i++) {
			buf_puts(&lj, lanes[i]);
			buf_puts(&lj, ",");
		}
	}
	for (int any = 0; any < 2 && n == 0; any++) {
		buf_init(&q, 0);
		if (fts_query(query, any, &q) == 0) {
			buf_finish(&q);
			buf_finish(&lj);
			buf_puts(out, "No words to search for: give a few keywords.");
			return 0;
		}
		n = search_pass(db, buf_str(&q), exclude_id, max_sessions,
				lanes ? buf_str(&lj) : NULL, out);
		buf_finish(&q);
		if (n < 0)
			break;
	}
	buf_finish(&lj);
	if (n < 0)
		return n;
	if (n == 0)
		buf_printf(out, "No past session mentions \"%s\".", query);
	return n;
}

int sessions_prune(struct store *s, int64_t before_ms, int max)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;
	int rc;

	if (prepare(db,
		    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE updated_ms < ?"
		    " ORDER BY updated_ms, id LIMIT ?)",
		    &st) < 0)
		return -EIO;
	sqlite3_bind_int64(st, 1, before_ms);
	sqlite3_bind_int(st, 2, max);
	rc = step_done(db, st, "prune sessions");
	if (rc < 0)
		return rc;
	rc = sqlite3_changes(db);
	if (rc > 0)
		sqlite3_exec(db, "PRAGMA incremental_vacuum(256)", NULL, NULL, NULL);
	return rc;
}

int sessions_list(struct store *s, int limit, sessions_list_cb cb, void *arg)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, "SELECT " INFO_COLS " FROM sessions s ORDER BY s.id DESC LIMIT ?", &st) < 0)
		return -EIO;
	sqlite3_bind_int(st, 1, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct session_info si = {0};

		read_info(st, &si);
		cb(&si, arg);
		session_info_finish(&si);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(db, "list sessions");
}
