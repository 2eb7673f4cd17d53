/* tg_store: the Telegram bot's tables in state.db, tg_inbox (updates to answer, one row per
 * message, in update order per chat) and tg_outbox (reply parts to send, in id order).
 *
 * Every function runs its statements on the store's connection at once; none opens a
 * transaction (callers that need one wrap the calls in store_begin/store_end, or in a
 * store_write fn so a locked database delays the write instead of losing it). Functions
 * documented "store_fail's code" record the SQLite error with store_fail() and return -EBUSY
 * (locked) or -EIO, as a store_write fn must; the others return -EIO on any failure.
 */
#ifndef HERMETIC_TG_STORE_H
#define HERMETIC_TG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct tg_part;

#define TG_STORE_SCHEMA_SQL                                                                        \
	"CREATE TABLE tg_inbox (update_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL,"          \
	" user_id INTEGER NOT NULL, text TEXT NOT NULL, kind TEXT NOT NULL,"                       \
	" done INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL) STRICT;"                   \
	"CREATE INDEX tg_inbox_queue ON tg_inbox (done, chat_id, update_id);"                      \
	"CREATE TABLE tg_outbox (id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL,"                \
	" text TEXT NOT NULL, html INTEGER NOT NULL, created_ms INTEGER NOT NULL) STRICT;"

/* attempts: how many times the row was started (a start the process did not survive stays
 * counted; a clean stop takes it back). sending: a sendMessage for the row was in flight,
 * so Telegram may already show it. Strangers' refusals are no longer remembered in kv. */
#define TG_STORE_ATTEMPTS_SQL                                                                      \
	"ALTER TABLE tg_inbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"                     \
	"ALTER TABLE tg_outbox ADD COLUMN sending INTEGER NOT NULL DEFAULT 0;"                     \
	"DELETE FROM kv WHERE key LIKE 'telegram.refused.%';"

/* media: a media message's file as hermetic picked it at receipt (a compact JSON object:
 * kind, file_id, file_unique_id, file_size, duration, mime_type, file_name, width); '' for
 * text. The message's caption is the row's text. file and method: an outbox row that sends a
 * file under home (file, relative to home) with method (sendVoice, sendPhoto, sendDocument);
 * its text is the caption. '' for a text row. */
#define TG_STORE_MEDIA_SQL                                                                         \
	"ALTER TABLE tg_inbox ADD COLUMN media TEXT NOT NULL DEFAULT '';"                          \
	"ALTER TABLE tg_outbox ADD COLUMN file TEXT NOT NULL DEFAULT '';"                          \
	"ALTER TABLE tg_outbox ADD COLUMN method TEXT NOT NULL DEFAULT '';"

/* Live chats. tg_inbox: thread_id, the topic of a private chat or forum (0 = none: a topic is
 * its own session, replies go back into it); message_id, the user's message (reactions, and the
 * quote of a reply). tg_outbox: thread_id, where the part goes; edit_id, a message of the bot's
 * that the part replaces with editMessageText (the live message a turn streamed into: its final
 * text is an edit, so a restart edits again instead of posting a second final); markup, an
 * inline keyboard (JSON, '' = none); tag, what the part is for ("q:<id>" a question) so the
 * message id Telegram gives it can be reported. */
#define TG_STORE_LIVE_SQL                                                                          \
	"ALTER TABLE tg_inbox ADD COLUMN thread_id INTEGER NOT NULL DEFAULT 0;"                    \
	"ALTER TABLE tg_inbox ADD COLUMN message_id INTEGER NOT NULL DEFAULT 0;"                   \
	"ALTER TABLE tg_outbox ADD COLUMN thread_id INTEGER NOT NULL DEFAULT 0;"                   \
	"ALTER TABLE tg_outbox ADD COLUMN edit_id INTEGER NOT NULL DEFAULT 0;"                     \
	"ALTER TABLE tg_outbox ADD COLUMN markup TEXT NOT NULL DEFAULT '';"                        \
	"ALTER TABLE tg_outbox ADD COLUMN tag TEXT NOT NULL DEFAULT '';"

/* reply_to: a message of the chat the part answers (reply_parameters; 0 = none), e.g. an
 * alert's resolved note under its investigation. */
#define TG_STORE_REPLY_SQL "ALTER TABLE tg_outbox ADD COLUMN reply_to INTEGER NOT NULL DEFAULT 0;"

/* untrusted: why the row's text holds someone else's words ('' = it is the user's own): a
 * forwarded message, or a reply quoting a message a stranger wrote. Its turn is tainted
 * (docs/security.md, "Trust"). */
#define TG_STORE_UNTRUSTED_SQL "ALTER TABLE tg_inbox ADD COLUMN untrusted TEXT NOT NULL DEFAULT '';"

/* Strangers (users not in telegram.allowed_users who wrote in a private chat): one row per user,
 * so that one refusal a day holds across restarts. seen_ms: their last message; refused_ms:
 * their last refusal (0 = none). Bounded: a row neither seen nor refused for TG_STRANGER_DAY_MS
 * is pruned, and beyond TG_STRANGERS_MAX rows the least recently seen go first. */
#define TG_STORE_STRANGERS_SQL                                                                     \
	"CREATE TABLE tg_strangers (user_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL,"        \
	" seen_ms INTEGER NOT NULL, refused_ms INTEGER NOT NULL DEFAULT 0) STRICT;"

#define TG_STRANGERS_MAX   256
#define TG_STRANGER_DAY_MS 86400000LL

/* ---- inbox ---- */

/* A batch of updates to insert (one prepared statement, for the caller's transaction). */
struct tg_inbox_insert;

/* Prepares the batch. Returns 0, or store_fail's code (nothing to finish then). */
int tg_inbox_insert_start(struct store *s, struct tg_inbox_insert **out);
/* Inserts one message unless its update_id is already stored (INSERT OR IGNORE); text,
 * kind, media and untrusted (NULL = '', see TG_STORE_UNTRUSTED_SQL) are copied. A failed
 * insert is not reported: the offset written in the same transaction decides what Telegram
 * sends again. */
void tg_inbox_insert(struct tg_inbox_insert *ins, int64_t update_id, int64_t chat_id,
		     int64_t user_id, const char *text, const char *kind, const char *media,
		     int64_t thread_id, int64_t message_id, const char *untrusted);
/* Frees the batch. Accepts NULL. */
void tg_inbox_insert_finish(struct tg_inbox_insert *ins);

/* An inbox row; text and kind are malloc'd copies, freed by tg_inbox_row_finish. */
struct tg_inbox_row {
	int64_t update_id;
	char *text;
	char *kind;  /* "text", "voice", ... */
	char *media; /* "" for text (see TG_STORE_MEDIA_SQL) */
	int64_t attempts;
	int64_t thread_id, message_id; /* see TG_STORE_LIVE_SQL */
	char *untrusted;	       /* "" = trusted (see TG_STORE_UNTRUSTED_SQL) */
};

/* The chat's oldest row not done into *row. Returns 0, -ENOENT when there is none, or -EIO
 * (*row untouched on error). */
int tg_inbox_next(struct store *s, int64_t chat_id, struct tg_inbox_row *row);
/* Frees the copies of a row filled by tg_inbox_next. Accepts a zeroed row. */
void tg_inbox_row_finish(struct tg_inbox_row *row);
/* attempts + 1: counted before the row runs. 0 or -EIO. */
int tg_inbox_count_attempt(struct store *s, int64_t update_id);
/* attempts - 1 (not below 0): a clean stop is no failed attempt. 0 or -EIO. */
int tg_inbox_uncount_attempt(struct store *s, int64_t update_id);
/* Marks the row answered. 0 or store_fail's code. */
int tg_inbox_mark_done(struct store *s, int64_t update_id);
/* Calls fn once for each chat with rows not done. 0 once the query ran (a failing step ends
 * the walk early), -EIO when it could not start (fn never called). */
int tg_inbox_each_pending_chat(struct store *s, void (*fn)(int64_t chat_id, void *arg), void *arg);

/* ---- outbox ---- */

/* Where and how a reply goes (all optional: a zeroed struct or NULL is a plain send). */
struct tg_out_opts {
	int64_t thread_id;
	int64_t edit_id;    /* the first part edits this message instead of sending */
	const char *markup; /* inline keyboard JSON, on the last part */
	const char *tag;    /* on the last part */
	bool caption;	    /* with edit_id: the edit is of a file's caption (editMessageCaption) */
	int64_t reply_to;   /* the first part replies to this message (0 = none) */
};

/* Appends n parts for chat_id (text copied, html: parse_mode HTML). 0 or store_fail's code
 * (parts before the failure are inserted: callers roll the transaction back). */
int tg_outbox_add(struct store *s, int64_t chat_id, const struct tg_part *parts, size_t n,
		  bool html, const struct tg_out_opts *o);

/* Appends a file row: method (sendVoice, sendPhoto, sendDocument) sends file (relative to
 * home) with caption (may be NULL). 0 or store_fail's code. */
int tg_outbox_add_file(struct store *s, int64_t chat_id, const char *method, const char *file,
		       const char *caption, const struct tg_out_opts *o);

/* An outbox row; the strings are malloc'd copies, freed by tg_outbox_row_finish. */
struct tg_outbox_row {
	int64_t id, chat_id;
	char *text;
	bool html;
	char *file;   /* "" = a text row */
	char *method; /* the file's send method */
	int64_t thread_id, edit_id;
	char *markup, *tag; /* "" = none */
	int64_t reply_to;   /* 0 = none */
};

/* The first row in id order whose chat may_send says yes to (may_send is asked about each
 * row before it, in order, and may note when those chats may send). Returns 0 with *row
 * filled, -ENOENT when may_send said no to every row (or there is none), or -EIO. */
int tg_outbox_next(struct store *s, bool (*may_send)(int64_t chat_id, void *arg), void *arg,
		   struct tg_outbox_row *row);
/* Frees the copy of a row filled by tg_outbox_next. Accepts a zeroed row. */
void tg_outbox_row_finish(struct tg_outbox_row *row);
/* sending = 1, before its sendMessage: after a crash only such rows may show twice. 0 or -EIO. */
int tg_outbox_mark_sending(struct store *s, int64_t id);
/* sending = 0: the row is sent again later. 0 or store_fail's code. */
int tg_outbox_unmark_sending(struct store *s, int64_t id);
/* Replaces the row's text by plain text (copied), html = 0, sending = 0. 0 or -EIO. */
int tg_outbox_make_plain(struct store *s, int64_t id, const char *text);
/* edit_id = 0, sending = 0: the message to edit is gone, so the part is sent as a new one.
 * 0 or -EIO. */
int tg_outbox_make_send(struct store *s, int64_t id);
/* Deletes the row (sent, or refused for good). 0 or store_fail's code. */
int tg_outbox_delete(struct store *s, int64_t id);
/* Calls fn for each row marked sending (in flight when the process stopped). 0 once the
 * query ran (a failing step ends the walk early), -EIO when it could not start. */
int tg_outbox_each_sending(struct store *s, void (*fn)(int64_t id, int64_t chat_id, void *arg),
			   void *arg);

/* ---- strangers ---- */

/* user_id wrote in chat_id at now_ms (wall clock): prunes rows older than a day, records the
 * message (seen_ms = now_ms), and evicts the least recently seen rows beyond TG_STRANGERS_MAX.
 * *known: the user had a row; *refused_lately: they were refused less than a day ago. For the
 * caller's transaction. 0 or store_fail's code (nothing known then). */
int tg_stranger_seen(struct store *s, int64_t user_id, int64_t chat_id, int64_t now_ms, bool *known,
		     bool *refused_lately);
/* The user (seen first) is refused at now_ms. 0 or store_fail's code. */
int tg_stranger_refused(struct store *s, int64_t user_id, int64_t now_ms);
/* Deletes the rows neither seen nor refused within a day of now_ms. 0 or store_fail's code. */
int tg_strangers_prune(struct store *s, int64_t now_ms);

#endif
