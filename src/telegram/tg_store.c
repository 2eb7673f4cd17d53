/* tg_store: the SQL of the Telegram bot's inbox, outbox and strangers, out of telegram.c, which
 * keeps the Bot API protocol and the per-chat state machine and calls these by name (as
 * core/sessions.c and router/spend.c wrap their tables).
 *
 * Each function prepares, binds, steps and finalizes its statement at once; none caches a
 * statement or opens a transaction, so the caller decides what runs in one and what goes
 * through store_write() when the database is locked. The batch insert of updates is the one
 * statement kept across calls: a long poll's updates go in with the offset in one transaction.
 * Rejected: returning sqlite3_stmt iterators to telegram.c (the SQL would leak back out).
 */
#include "telegram/tg_store.h"
#include "core/store.h"
#include "core/util.h"
#include "telegram/tg_format.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>

struct tg_inbox_insert {
	sqlite3_stmt *st;
};

/* Runs sql with one integer parameter; 0 or -EIO (nothing recorded). */
static int row_exec(struct store *s, const char *sql, int64_t row)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, row);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return rc;
}

/* Same, for store_write fns: the error recorded as what, store_fail's code. */
static int row_write(struct store *s, const char *sql, int64_t row, const char *what)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, what);
	sqlite3_bind_int64(st, 1, row);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, what);
	sqlite3_finalize(st);
	return rc;
}

static char *column_copy(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return xstrdup(t ? (const char *)t : "");
}

/* ---- inbox ---- */

int tg_inbox_insert_start(struct store *s, struct tg_inbox_insert **out)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(store_db(s),
			       "INSERT OR IGNORE INTO tg_inbox (update_id, chat_id, user_id, text, "
			       "kind, created_ms, media, thread_id, message_id, untrusted) "
			       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, "store updates");
	*out = xcalloc(1, sizeof(**out));
	(*out)->st = st;
	return 0;
}

void tg_inbox_insert(struct tg_inbox_insert *ins, int64_t update_id, int64_t chat_id,
		     int64_t user_id, const char *text, const char *kind, const char *media,
		     int64_t thread_id, int64_t message_id, const char *untrusted)
{
	sqlite3_stmt *st = ins->st;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, update_id);
	sqlite3_bind_int64(st, 2, chat_id);
	sqlite3_bind_int64(st, 3, user_id);
	sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now_wall_ms());
	sqlite3_bind_text(st, 7, media ? media : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, thread_id);
	sqlite3_bind_int64(st, 9, message_id);
	sqlite3_bind_text(st, 10, untrusted ? untrusted : "", -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_clear_bindings(st); /* text and kind are the caller's */
}

void tg_inbox_insert_finish(struct tg_inbox_insert *ins)
{
	if (!ins)
		return;
	sqlite3_finalize(ins->st);
	free(ins);
}

int tg_inbox_next(struct store *s, int64_t chat_id, struct tg_inbox_row *row)
{
	sqlite3_stmt *st;
	int rc = -ENOENT;

	if (sqlite3_prepare_v2(
		    store_db(s),
		    "SELECT update_id, text, kind, attempts, media, thread_id, message_id, "
		    "untrusted "
		    "FROM tg_inbox "
		    "WHERE done = 0 AND chat_id = ? ORDER BY update_id LIMIT 1",
		    -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, chat_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		row->update_id = sqlite3_column_int64(st, 0);
		row->text = column_copy(st, 1);
		row->kind = column_copy(st, 2);
		row->attempts = sqlite3_column_int64(st, 3);
		row->media = column_copy(st, 4);
		row->thread_id = sqlite3_column_int64(st, 5);
		row->message_id = sqlite3_column_int64(st, 6);
		row->untrusted = column_copy(st, 7);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

void tg_inbox_row_finish(struct tg_inbox_row *row)
{
	free(row->text);
	free(row->kind);
	free(row->media);
	free(row->untrusted);
	row->text = row->kind = row->media = row->untrusted = NULL;
}

int tg_inbox_count_attempt(struct store *s, int64_t update_id)
{
	return row_exec(s, "UPDATE tg_inbox SET attempts = attempts + 1 WHERE update_id = ?",
			update_id);
}

int tg_inbox_uncount_attempt(struct store *s, int64_t update_id)
{
	return row_exec(s,
			"UPDATE tg_inbox SET attempts = max(attempts - 1, 0) WHERE update_id = ?",
			update_id);
}

int tg_inbox_mark_done(struct store *s, int64_t update_id)
{
	return row_write(s, "UPDATE tg_inbox SET done = 1 WHERE update_id = ?", update_id,
			 "mark message done");
}

int tg_inbox_each_pending_chat(struct store *s, void (*fn)(int64_t chat_id, void *arg), void *arg)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(store_db(s), "SELECT DISTINCT chat_id FROM tg_inbox WHERE done = 0",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW)
		fn(sqlite3_column_int64(st, 0), arg);
	sqlite3_finalize(st);
	return 0;
}

/* ---- outbox ---- */

int tg_outbox_add(struct store *s, int64_t chat_id, const struct tg_part *parts, size_t n,
		  bool html, const struct tg_out_opts *o)
{
	static const struct tg_out_opts none = {0};
	sqlite3_stmt *st;
	int rc = 0;

	if (!o)
		o = &none;
	if (sqlite3_prepare_v2(
		    store_db(s),
		    "INSERT INTO tg_outbox (chat_id, text, html, created_ms, thread_id, "
		    "edit_id, markup, tag, method, reply_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
		    "?, ?)",
		    -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, "store reply");
	for (size_t i = 0; i < n && rc == 0; i++) {
		bool last = i + 1 == n;

		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, chat_id);
		sqlite3_bind_text(st, 2, parts[i].text, (int)parts[i].len, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, html);
		sqlite3_bind_int64(st, 4, now_wall_ms());
		sqlite3_bind_int64(st, 5, o->thread_id);
		sqlite3_bind_int64(st, 6, i == 0 ? o->edit_id : 0);
		sqlite3_bind_text(st, 7, last && o->markup ? o->markup : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, last && o->tag ? o->tag : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9,
				  i == 0 && o->edit_id && o->caption ? "editMessageCaption" : "",
				  -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 10, i == 0 ? o->reply_to : 0);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = store_fail(s, "store reply");
	}
	sqlite3_finalize(st);
	return rc;
}

int tg_outbox_add_file(struct store *s, int64_t chat_id, const char *method, const char *file,
		       const char *caption, const struct tg_out_opts *o)
{
	static const struct tg_out_opts none = {0};
	sqlite3_stmt *st;
	int rc = 0;

	if (!o)
		o = &none;
	if (sqlite3_prepare_v2(
		    store_db(s),
		    "INSERT INTO tg_outbox (chat_id, text, html, created_ms, file, method, "
		    "thread_id, markup, tag) VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?)",
		    -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, "store a file to send");
	sqlite3_bind_int64(st, 1, chat_id);
	sqlite3_bind_text(st, 2, caption ? caption : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_wall_ms());
	sqlite3_bind_text(st, 4, file, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, method, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, o->thread_id);
	sqlite3_bind_text(st, 7, o->markup ? o->markup : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, o->tag ? o->tag : "", -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, "store a file to send");
	sqlite3_finalize(st);
	return rc;
}

int tg_outbox_next(struct store *s, bool (*may_send)(int64_t chat_id, void *arg), void *arg,
		   struct tg_outbox_row *row)
{
	sqlite3_stmt *st;
	int rc = -ENOENT;

	if (sqlite3_prepare_v2(store_db(s),
			       "SELECT id, chat_id, text, html, file, method, thread_id, edit_id, "
			       "markup, tag, "
			       "reply_to FROM tg_outbox ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (rc == -ENOENT && sqlite3_step(st) == SQLITE_ROW) {
		if (!may_send(sqlite3_column_int64(st, 1), arg))
			continue;
		row->id = sqlite3_column_int64(st, 0);
		row->chat_id = sqlite3_column_int64(st, 1);
		row->text = column_copy(st, 2);
		row->html = sqlite3_column_int(st, 3) != 0;
		row->file = column_copy(st, 4);
		row->method = column_copy(st, 5);
		row->thread_id = sqlite3_column_int64(st, 6);
		row->edit_id = sqlite3_column_int64(st, 7);
		row->markup = column_copy(st, 8);
		row->tag = column_copy(st, 9);
		row->reply_to = sqlite3_column_int64(st, 10);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

void tg_outbox_row_finish(struct tg_outbox_row *row)
{
	free(row->text);
	free(row->file);
	free(row->method);
	free(row->markup);
	free(row->tag);
	row->text = row->file = row->method = row->markup = row->tag = NULL;
}

int tg_outbox_mark_sending(struct store *s, int64_t id)
{
	return row_exec(s, "UPDATE tg_outbox SET sending = 1 WHERE id = ?", id);
}

int tg_outbox_unmark_sending(struct store *s, int64_t id)
{
	return row_write(s, "UPDATE tg_outbox SET sending = 0 WHERE id = ?", id,
			 "update the outbox");
}

int tg_outbox_make_plain(struct store *s, int64_t id, const char *text)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(store_db(s),
			       "UPDATE tg_outbox SET text = ?, html = 0, sending = 0 WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return rc;
}

int tg_outbox_make_send(struct store *s, int64_t id)
{
	return row_exec(s, "UPDATE tg_outbox SET edit_id = 0, sending = 0 WHERE id = ?", id);
}

int tg_outbox_delete(struct store *s, int64_t id)
{
	return row_write(s, "DELETE FROM tg_outbox WHERE id = ?", id, "update the outbox");
}

int tg_outbox_each_sending(struct store *s, void (*fn)(int64_t id, int64_t chat_id, void *arg),
			   void *arg)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(store_db(s), "SELECT id, chat_id FROM tg_outbox WHERE sending = 1",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW)
		fn(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), arg);
	sqlite3_finalize(st);
	return 0;
}

/* ---- strangers ---- */

int tg_strangers_prune(struct store *s, int64_t now_ms)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (sqlite3_prepare_v2(store_db(s),
			       "DELETE FROM tg_strangers WHERE seen_ms <= ?1 AND refused_ms <= ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, "prune strangers");
	sqlite3_bind_int64(st, 1, now_ms - TG_STRANGER_DAY_MS);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, "prune strangers");
	sqlite3_finalize(st);
	return rc;
}

int tg_stranger_seen(struct store *s, int64_t user_id, int64_t chat_id, int64_t now_ms, bool *known,
		     bool *refused_lately)
{
	sqlite3_stmt *st = NULL;
	int rc = tg_strangers_prune(s, now_ms);
	int64_t refused_ms = 0;
	bool found = false;

	if (rc < 0)
		return rc;
	if (sqlite3_prepare_v2(store_db(s), "SELECT refused_ms FROM tg_strangers WHERE user_id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, "look up a stranger");
	sqlite3_bind_int64(st, 1, user_id);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		found = true;
		refused_ms = sqlite3_column_int64(st, 0);
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = store_fail(s, "look up a stranger");
	}
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	if (sqlite3_prepare_v2(
		    store_db(s),
		    "INSERT INTO tg_strangers (user_id, chat_id, seen_ms) VALUES (?, ?, ?) "
		    "ON CONFLICT (user_id) DO UPDATE SET chat_id = excluded.chat_id, "
		    "seen_ms = excluded.seen_ms",
		    -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, "record a stranger");
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, chat_id);
	sqlite3_bind_int64(st, 3, now_ms);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, "record a stranger");
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	/* A new row may take the table over its cap: the least recently seen make room. */
	if (!found) {
		if (sqlite3_prepare_v2(store_db(s),
				       "DELETE FROM tg_strangers WHERE user_id IN (SELECT user_id "
				       "FROM tg_strangers ORDER BY seen_ms, user_id LIMIT max(0, "
				       "(SELECT count(*) FROM tg_strangers) - ?))",
				       -1, &st, NULL) != SQLITE_OK)
			return store_fail(s, "forget old strangers");
		sqlite3_bind_int64(st, 1, TG_STRANGERS_MAX);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = store_fail(s, "forget old strangers");
		sqlite3_finalize(st);
		if (rc < 0)
			return rc;
	}
	*known = found;
	*refused_lately = refused_ms > now_ms - TG_STRANGER_DAY_MS;
	return 0;
}

int tg_stranger_refused(struct store *s, int64_t user_id, int64_t now_ms)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (sqlite3_prepare_v2(store_db(s),
			       "UPDATE tg_strangers SET refused_ms = ? WHERE user_id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return store_fail(s, "record a refusal");
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, user_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, "record a refusal");
	sqlite3_finalize(st);
	return rc;
}
