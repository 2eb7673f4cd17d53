/* sessions: conversations in the store. One open session per source ("cli", "telegram:<chat>",
 * "api:<caller>", "cron:<job>", "hook:<name>"); a source that was idle longer than the
 * configured limit, or that was reset, gets a new one. Messages are kept as the OpenAI message
 * JSON the model saw, plus their plain text for the FTS5 index that session_search reads.
 *
 * All calls are short SQLite transactions on the loop's connection. Functions return 0 or
 * -EIO (the SQLite error is logged once here) unless said otherwise; -EBUSY when another
 * process holds the database's lock (not logged: the store logs it, and the caller keeps the
 * write and retries it, see store_write()).
 */
#ifndef HERMETIC_SESSIONS_H
#define HERMETIC_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct store;

#define SESSIONS_SCHEMA_SQL                                                                        \
	"CREATE TABLE sessions (id INTEGER PRIMARY KEY, source TEXT NOT NULL, title TEXT,"         \
	" model TEXT, system_prompt TEXT, created_ms INTEGER NOT NULL,"                            \
	" updated_ms INTEGER NOT NULL, ended INTEGER NOT NULL DEFAULT 0,"                          \
	" turns INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,"             \
	" completion_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0) STRICT;" \
	"CREATE INDEX sessions_by_source ON sessions (source, ended, id);"                         \
	"CREATE TABLE messages (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL"               \
	" REFERENCES sessions (id) ON DELETE CASCADE, role TEXT NOT NULL,"                         \
	" content TEXT NOT NULL DEFAULT '', json TEXT NOT NULL, created_ms INTEGER NOT NULL,"      \
	" compacted INTEGER NOT NULL DEFAULT 0, sort_key REAL) STRICT;"                            \
	"CREATE INDEX messages_by_session ON messages (session_id, id);"                           \
	"CREATE VIRTUAL TABLE messages_fts USING fts5 (content, content='messages',"               \
	" content_rowid='id', tokenize='unicode61 remove_diacritics 2');"                          \
	"CREATE TRIGGER messages_fts_ins AFTER INSERT ON messages"                                 \
	" WHEN new.role IN ('user', 'assistant') AND new.content <> '' BEGIN"                      \
	" INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content); END;"            \
	"CREATE TRIGGER messages_fts_del AFTER DELETE ON messages"                                 \
	" WHEN old.role IN ('user', 'assistant') AND old.content <> '' BEGIN"                      \
	" INSERT INTO messages_fts (messages_fts, rowid, content)"                                 \
	" VALUES ('delete', old.id, old.content); END;"

/* origin: what a user message answers to outside the session (e.g. a Telegram update), so a
 * turn interrupted by a crash is continued, not asked again. */
#define SESSIONS_ORIGIN_SQL "ALTER TABLE messages ADD COLUMN origin TEXT;"

struct session_info {
	int64_t id;
	char *source;
	char *title; /* NULL until named */
	char *model;
	char *system_prompt; /* frozen at session start */
	int64_t created_ms, updated_ms;
	bool ended;
	int64_t turns, prompt_tokens, completion_tokens;
	double cost_usd;
	int64_t n_messages;
};

void session_info_finish(struct session_info *si); /* accepts a zeroed struct */

/* The open session of source, if it was active within idle_ms (0 = no idle limit): 0 with
 * *out filled, -ENOENT when there is none (or it went idle: it is then ended), -EBUSY when
 * ending an idle one found the database locked by another process, or -EIO. */
int sessions_current(struct store *s, const char *source, int64_t idle_ms,
		     struct session_info *out);
/* Ends the open session of source (if any) and starts a new one. 0, -EBUSY when the
 * database is locked by another process (nothing changed, or only the old one ended: call
 * again), or -EIO. */
int sessions_create(struct store *s, const char *source, const char *model,
		    const char *system_prompt, int64_t *id);
/* Ends the open session of source; returns 0 also when there was none. */
int sessions_end(struct store *s, const char *source);
/* Makes session id the current session of source again (an earlier one picked to continue),
 * in one transaction: source's other open session is ended as sessions_end ends it, id is
 * re-opened and marked active now (so the idle limit counts from here). 0 (also when id was
 * the current one already), -ENOENT no such session, -EPERM it belongs to another source
 * (nothing changed), -EBUSY or -EIO. */
int sessions_reopen(struct store *s, int64_t id, const char *source);
int sessions_get(struct store *s, int64_t id, struct session_info *out); /* -ENOENT */

/* Appends a message: json is the OpenAI message object, text its searchable words. The new
 * message's id goes to *msg_id when msg_id is not NULL. */
int sessions_append(struct store *s, int64_t id, const char *role, const char *json,
		    const char *text, int64_t *msg_id);
/* The same with an origin key (NULL = none): what the message answers to outside the
 * session, e.g. "telegram:<update_id>". */
int sessions_append_origin(struct store *s, int64_t id, const char *role, const char *json,
			   const char *text, const char *origin, int64_t *msg_id);
/* The id of session id's message with this origin: 0 with *msg_id set, -ENOENT, or -EIO. */
int sessions_find_origin(struct store *s, int64_t id, const char *origin, int64_t *msg_id);
/* Calls cb for each message not compacted away, in conversation order (the db id is
 * passed: sessions_compact takes those ids). */
typedef void (*sessions_message_cb)(int64_t msg_id, const char *role, const char *json, void *arg);
int sessions_messages(struct store *s, int64_t id, sessions_message_cb cb, void *arg);
/* As sessions_messages, but stops after the first max messages (LIMIT in the query): a
 * reader with a cap does not walk the rest of a long session. */
int sessions_messages_max(struct store *s, int64_t id, size_t max, sessions_message_cb cb,
			  void *arg);
/* Replaces the messages ids[0..n) (consecutive in conversation order) by one summary
 * message (json) at the place of the first, in one transaction: the old ones are kept but
 * marked compacted, so session_search still finds them. */
int sessions_compact(struct store *s, int64_t id, const int64_t *ids, size_t n,
		     const char *summary_json, const char *summary_text);
int sessions_add_usage(struct store *s, int64_t id, int64_t prompt_tokens,
		       int64_t completion_tokens, double cost_usd, bool turn_done);
int sessions_set_title(struct store *s, int64_t id, const char *title);
int sessions_set_model(struct store *s, int64_t id, const char *model);

/* Full-text search over user and assistant messages: at most max_sessions sessions (best
 * first), each with a few short excerpts, id, source and date (in the process's TZ),
 * appended to out. exclude_id (0 = none) is skipped. Returns the number of sessions found
 * (0 = nothing; out then says so) or -EIO. The query is free text: words are matched, FTS5
 * syntax in it is not interpreted. */
int sessions_search(struct store *s, const char *query, int64_t exclude_id, int max_sessions,
		    struct buf *out);
/* sessions_search over only the sessions whose lane (the kv mark "session.<id>.lane" that
 * agent/agent_lane.c writes) is one of lanes[0..n_lanes), "" standing for sessions in no lane
 * (docs/security.md, "Lanes": a turn never sees text from a higher lane). */
int sessions_search_lanes(struct store *s, const char *query, int64_t exclude_id, int max_sessions,
			  const char *const *lanes, size_t n_lanes, struct buf *out);

/* "YYYY-MM-DD HH:MM" of a wall-clock time in the process's time zone. */
void sessions_format_time(int64_t ms, char out[32]);

/* Retention: deletes at most max sessions last active before before_ms (wall clock), oldest
 * first, with their messages and full-text rows, in one statement; then gives up to 256 free
 * pages back to the file system (a database made with auto_vacuum=INCREMENTAL; others reuse
 * them). Returns how many sessions went, -EBUSY (locked: try later) or -EIO. */
int sessions_prune(struct store *s, int64_t before_ms, int max);

/* For `hermetic sessions list`: the newest first. */
typedef void (*sessions_list_cb)(const struct session_info *si, void *arg);
int sessions_list(struct store *s, int limit, sessions_list_cb cb, void *arg);

#endif
