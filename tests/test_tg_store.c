/* tg_store: the Telegram inbox and outbox over a real SQLite file. Rows come back per chat in
 * update order and a repeated update is stored once; attempts count up and a clean stop takes
 * one back; done rows are not taken again; the sender skips chats that may not send yet and
 * keeps id order; sending marks are listed for the restart warning; and the writes that go
 * through store_write report -EBUSY, naming what failed, when another connection locks the
 * database (so they wait in memory instead of being lost). Strangers get one refusal a day,
 * and their table stays within its cap and forgets them after a day. */
#include "test.h"
#include "core/store.h"
#include "core/util.h"
#include "gateway/schema.h"
#include "telegram/tg_format.h"
#include "telegram/tg_store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/hermetic-test-tg-store-XXXXXX";
static char *path;
static struct store *st;

static int setup(void **state)
{
	char err[256];

	if (!mkdtemp(dir))
		return -1;
	path = xasprintf("%s/state.db", dir);
	return store_open(path, &st, err, sizeof(err));
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);
	int rc;

	store_close(st);
	free(path);
	rc = system(cmd);
	free(cmd);
	return rc;
}

static void wipe(void)
{
	assert_int_equal(sqlite3_exec(store_db(st), "DELETE FROM tg_inbox; DELETE FROM tg_outbox",
				      NULL, NULL, NULL),
			 SQLITE_OK);
}

static void insert(int64_t update_id, int64_t chat_id, const char *text, const char *kind)
{
	struct tg_inbox_insert *ins;

	assert_int_equal(tg_inbox_insert_start(st, &ins), 0);
	tg_inbox_insert(ins, update_id, chat_id, 7, text, kind, "", 0, 0, NULL);
	tg_inbox_insert_finish(ins);
}

static void inbox_rows_come_back_per_chat_in_update_order_once(void **state)
{
	struct tg_inbox_row row = {0};
	struct tg_inbox_insert *ins;

	wipe();
	assert_int_equal(tg_inbox_insert_start(st, &ins), 0);
	tg_inbox_insert(ins, 12, 100, 7, "second", "text", NULL, 0, 0, NULL);
	tg_inbox_insert(ins, 11, 100, 7, "first", "text", NULL, 0, 0, NULL);
	tg_inbox_insert(ins, 13, 200, 7, "", "voice", "{\"kind\":\"voice\"}", 0, 0, NULL);
	tg_inbox_insert(ins, 11, 100, 7, "again", "text", NULL, 0, 0,
			NULL); /* Telegram sent it twice */
	tg_inbox_insert_finish(ins);
	assert_int_equal(tg_inbox_next(st, 100, &row), 0);
	assert_int_equal(row.update_id, 11);
	assert_string_equal(row.text, "first");
	assert_string_equal(row.kind, "text");
	assert_int_equal(row.attempts, 0);
	tg_inbox_row_finish(&row);
	assert_int_equal(tg_inbox_next(st, 200, &row), 0);
	assert_int_equal(row.update_id, 13);
	assert_string_equal(row.kind, "voice");
	assert_string_equal(row.media, "{\"kind\":\"voice\"}");
	tg_inbox_row_finish(&row);
	assert_int_equal(tg_inbox_next(st, 100, &row), 0);
	assert_string_equal(row.media, "");	/* a text row has no media */
	assert_string_equal(row.untrusted, ""); /* the user's own words */
	tg_inbox_row_finish(&row);
	assert_int_equal(tg_inbox_next(st, 300, &row), -ENOENT);
	assert_null(row.text);
}

static void attempts_count_up_and_a_clean_stop_takes_one_back(void **state)
{
	struct tg_inbox_row row = {0};

	wipe();
	insert(21, 100, "hi", "text");
	assert_int_equal(tg_inbox_uncount_attempt(st, 21), 0); /* never below 0 */
	assert_int_equal(tg_inbox_count_attempt(st, 21), 0);
	assert_int_equal(tg_inbox_count_attempt(st, 21), 0);
	assert_int_equal(tg_inbox_uncount_attempt(st, 21), 0);
	assert_int_equal(tg_inbox_next(st, 100, &row), 0);
	assert_int_equal(row.attempts, 1);
	tg_inbox_row_finish(&row);
}

static void note_chat(int64_t chat_id, void *arg)
{
	int64_t *seen = arg;

	seen[seen[0] + 1] = chat_id;
	seen[0]++;
}

static void a_done_row_is_not_taken_again_nor_its_chat_pending(void **state)
{
	struct tg_inbox_row row = {0};
	int64_t seen[8] = {0};

	wipe();
	insert(31, 100, "a", "text");
	insert(32, 100, "b", "text");
	insert(33, 200, "c", "text");
	assert_int_equal(tg_inbox_mark_done(st, 31), 0);
	assert_int_equal(tg_inbox_next(st, 100, &row), 0);
	assert_int_equal(row.update_id, 32);
	tg_inbox_row_finish(&row);
	assert_int_equal(tg_inbox_mark_done(st, 33), 0);
	assert_int_equal(tg_inbox_each_pending_chat(st, note_chat, seen), 0);
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 100);
}

static void add(int64_t chat_id, const char *text, bool html)
{
	struct tg_part part = {(char *)text, strlen(text), strlen(text)};

	assert_int_equal(tg_outbox_add(st, chat_id, &part, 1, html, NULL), 0);
}

static bool not_chat_100(int64_t chat_id, void *arg)
{
	(*(int *)arg)++;
	return chat_id != 100;
}

static bool any_chat(int64_t chat_id, void *arg)
{
	return true;
}

static void a_file_row_keeps_its_file_method_and_caption_in_order(void **state)
{
	struct tg_outbox_row row = {0};

	wipe();
	add(100, "answer", false);
	assert_int_equal(tg_outbox_add_file(st, 100, "sendVoice", "media/9-reply.ogg", NULL, NULL),
			 0);
	assert_int_equal(tg_outbox_next(st, any_chat, NULL, &row), 0);
	assert_string_equal(row.text, "answer");
	assert_string_equal(row.file, ""); /* a text row */
	assert_int_equal(tg_outbox_delete(st, row.id), 0);
	tg_outbox_row_finish(&row);
	assert_int_equal(tg_outbox_next(st, any_chat, NULL, &row), 0);
	assert_string_equal(row.file, "media/9-reply.ogg");
	assert_string_equal(row.method, "sendVoice");
	assert_string_equal(row.text, "");
	tg_outbox_row_finish(&row);
	assert_null(row.file);
}

/* A streamed turn's final text edits its live message: the first part carries the message to
 * edit, the keyboard and tag go with the last part, and a gone message makes it a send. */
static void a_reply_edits_with_its_first_part_and_buttons_its_last(void **state)
{
	struct tg_part parts[2] = {{"one", 3, 3}, {"two", 3, 3}};
	struct tg_out_opts o = {
		.thread_id = 7, .edit_id = 555, .markup = "{\"k\":1}", .tag = "q:1"};
	struct tg_outbox_row row = {0};
	struct tg_inbox_insert *ins;
	struct tg_inbox_row in = {0};

	wipe();
	assert_int_equal(tg_outbox_add(st, 100, parts, 2, false, &o), 0);
	assert_int_equal(tg_outbox_next(st, any_chat, NULL, &row), 0);
	assert_string_equal(row.text, "one");
	assert_int_equal(row.edit_id, 555);
	assert_int_equal(row.thread_id, 7);
	assert_string_equal(row.markup, "");
	assert_string_equal(row.tag, "");
	assert_int_equal(tg_outbox_mark_sending(st, row.id), 0);
	assert_int_equal(tg_outbox_make_send(st, row.id), 0);
	tg_outbox_row_finish(&row);
	assert_int_equal(tg_outbox_next(st, any_chat, NULL, &row), 0);
	assert_int_equal(row.edit_id, 0); /* the message to edit was gone: sent anew */
	assert_int_equal(tg_outbox_delete(st, row.id), 0);
	tg_outbox_row_finish(&row);
	assert_int_equal(tg_outbox_next(st, any_chat, NULL, &row), 0);
	assert_string_equal(row.text, "two");
	assert_int_equal(row.edit_id, 0);
	assert_int_equal(row.thread_id, 7);
	assert_string_equal(row.markup, "{\"k\":1}");
	assert_string_equal(row.tag, "q:1");
	tg_outbox_row_finish(&row);
	assert_int_equal(tg_inbox_insert_start(st, &ins), 0);
	tg_inbox_insert(ins, 41, 100, 7, "in a topic", "text", NULL, 9, 1234,
			"a forwarded message");
	tg_inbox_insert_finish(ins);
	assert_int_equal(tg_inbox_next(st, 100, &in), 0);
	assert_int_equal(in.thread_id, 9);
	assert_int_equal(in.message_id, 1234);
	assert_string_equal(in.untrusted, "a forwarded message");
	tg_inbox_row_finish(&in);
}

static void outbox_next_skips_chats_that_may_not_send_in_id_order(void **state)
{
	struct tg_outbox_row row = {0};
	int asked = 0;

	wipe();
	add(100, "<b>one</b>", true);
	add(200, "two", false);
	add(200, "three", false);
	assert_int_equal(tg_outbox_next(st, not_chat_100, &asked, &row), 0);
	assert_int_equal(asked, 2);
	assert_int_equal(row.chat_id, 200);
	assert_string_equal(row.text, "two");
	assert_false(row.html);
	assert_int_equal(tg_outbox_delete(st, row.id), 0);
	tg_outbox_row_finish(&row);
	assert_int_equal(tg_outbox_next(st, any_chat, NULL, &row), 0);
	assert_string_equal(row.text, "<b>one</b>");
	assert_true(row.html);
	tg_outbox_row_finish(&row);
	wipe();
	asked = 0;
	add(100, "only", false);
	assert_int_equal(tg_outbox_next(st, not_chat_100, &asked, &row), -ENOENT);
	assert_int_equal(asked, 1);
}

static void note_sending(int64_t id, int64_t chat_id, void *arg)
{
	int64_t *seen = arg;

	seen[0]++;
	seen[1] = id;
	seen[2] = chat_id;
}

static void sending_marks_are_listed_and_plain_text_clears_them(void **state)
{
	struct tg_outbox_row row = {0};
	int64_t seen[3] = {0};
	int64_t id;

	wipe();
	add(100, "<i>x</i>", true);
	assert_int_equal(tg_outbox_next(st, any_chat, NULL, &row), 0);
	id = row.id;
	tg_outbox_row_finish(&row);
	assert_int_equal(tg_outbox_mark_sending(st, id), 0);
	assert_int_equal(tg_outbox_each_sending(st, note_sending, seen), 0);
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], id);
	assert_int_equal(seen[2], 100);
	assert_int_equal(tg_outbox_make_plain(st, id, "x"), 0);
	memset(seen, 0, sizeof(seen));
	assert_int_equal(tg_outbox_each_sending(st, note_sending, seen), 0);
	assert_int_equal(seen[0], 0);
	assert_int_equal(tg_outbox_next(st, any_chat, NULL, &row), 0);
	assert_string_equal(row.text, "x");
	assert_false(row.html);
	tg_outbox_row_finish(&row);
	assert_int_equal(tg_outbox_mark_sending(st, id), 0);
	assert_int_equal(tg_outbox_unmark_sending(st, id), 0);
	seen[0] = 0;
	assert_int_equal(tg_outbox_each_sending(st, note_sending, seen), 0);
	assert_int_equal(seen[0], 0);
}

/* What store_write retries on: -EBUSY, with the failure named by store_error. */
static void store_write_fns_report_ebusy_when_another_connection_locks(void **state)
{
	struct tg_part part = {"reply", 5, 5};
	struct tg_outbox_row row = {0};
	struct tg_inbox_row in = {0};
	sqlite3 *other;

	wipe();
	insert(41, 100, "a", "text");
	add(100, "queued", false);
	assert_int_equal(tg_outbox_next(st, any_chat, NULL, &row), 0);
	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_busy_timeout(store_db(st), 0);
	assert_int_equal(tg_inbox_mark_done(st, 41), -EBUSY);
	assert_non_null(strstr(store_error(st), "mark message done"));
	assert_int_equal(tg_outbox_add(st, 100, &part, 1, false, NULL), -EBUSY);
	assert_non_null(strstr(store_error(st), "store reply"));
	assert_int_equal(tg_outbox_delete(st, row.id), -EBUSY);
	assert_int_equal(tg_outbox_unmark_sending(st, row.id), -EBUSY);
	assert_non_null(strstr(store_error(st), "update the outbox"));
	assert_int_equal(tg_inbox_count_attempt(st, 41), -EIO);
	assert_int_equal(tg_outbox_mark_sending(st, row.id), -EIO);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(tg_inbox_mark_done(st, 41), 0);
	assert_int_equal(tg_outbox_delete(st, row.id), 0);
	tg_outbox_row_finish(&row);
	assert_int_equal(tg_inbox_next(st, 100, &in), -ENOENT);
}

static int64_t strangers_count(void)
{
	sqlite3_stmt *q;
	int64_t n = -1;

	assert_int_equal(
		sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM tg_strangers", -1, &q, NULL),
		SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

static void see(int64_t user_id, int64_t now_ms, bool known, bool refused_lately)
{
	bool k = !known, r = !refused_lately;

	assert_int_equal(tg_stranger_seen(st, user_id, user_id, now_ms, &k, &r), 0);
	assert_int_equal(k, known);
	assert_int_equal(r, refused_lately);
}

/* One refusal a day per stranger: a refusal holds for a day from the time it was made, a
 * message in between changes nothing, and a day later they may be refused once more. */
static void a_stranger_is_refused_once_a_day(void **state)
{
	int64_t t0 = 1700000000000LL;

	assert_int_equal(sqlite3_exec(store_db(st), "DELETE FROM tg_strangers", NULL, NULL, NULL),
			 SQLITE_OK);
	see(9, t0, false, false);
	assert_int_equal(tg_stranger_refused(st, 9, t0), 0);
	see(9, t0 + 1000, true, true);
	see(9, t0 + TG_STRANGER_DAY_MS - 1, true, true);
	see(9, t0 + TG_STRANGER_DAY_MS, true, false);
}

/* A flood of strangers cannot grow the table: beyond TG_STRANGERS_MAX the least recently seen
 * go first (a message refreshes a row), and a row neither seen nor refused for a day is
 * pruned, by the next stranger or by the hourly prune. */
static void strangers_are_capped_oldest_first_and_pruned_after_a_day(void **state)
{
	int64_t t0 = 1700000000000LL;

	assert_int_equal(sqlite3_exec(store_db(st), "DELETE FROM tg_strangers", NULL, NULL, NULL),
			 SQLITE_OK);
	for (int64_t u = 1; u <= TG_STRANGERS_MAX; u++)
		see(u, t0 + u, false, false);
	assert_int_equal(strangers_count(), TG_STRANGERS_MAX);
	assert_int_equal(tg_stranger_refused(st, 1, t0 + 1), 0);
	see(1, t0 + 1000, true, true); /* now the most recently seen: 2 is the oldest */
	see(100000, t0 + 1001, false, false);
	assert_int_equal(strangers_count(), TG_STRANGERS_MAX);
	see(1, t0 + 1002, true, true);
	see(2, t0 + 1003, false, false); /* evicted by 100000, so new again; 3 makes room */
	see(3, t0 + 1004, false, false);
	assert_int_equal(strangers_count(), TG_STRANGERS_MAX);

	/* A day after 1's last message only the rows touched after it are left: 2, 3, and 4. */
	see(4, t0 + 1002 + TG_STRANGER_DAY_MS, false, false);
	assert_int_equal(strangers_count(), 3);
	assert_int_equal(tg_strangers_prune(st, t0 + 1004 + TG_STRANGER_DAY_MS), 0);
	assert_int_equal(strangers_count(), 1);
	see(1, t0 + 2000 + TG_STRANGER_DAY_MS, false, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(inbox_rows_come_back_per_chat_in_update_order_once),
		cmocka_unit_test(attempts_count_up_and_a_clean_stop_takes_one_back),
		cmocka_unit_test(a_done_row_is_not_taken_again_nor_its_chat_pending),
		cmocka_unit_test(outbox_next_skips_chats_that_may_not_send_in_id_order),
		cmocka_unit_test(sending_marks_are_listed_and_plain_text_clears_them),
		cmocka_unit_test(a_file_row_keeps_its_file_method_and_caption_in_order),
		cmocka_unit_test(a_reply_edits_with_its_first_part_and_buttons_its_last),
		cmocka_unit_test(store_write_fns_report_ebusy_when_another_connection_locks),
		cmocka_unit_test(a_stranger_is_refused_once_a_day),
		cmocka_unit_test(strangers_are_capped_oldest_first_and_pruned_after_a_day),
	};

	schema_register();
	return cmocka_run_group_tests(tests, setup, teardown);
}
