/* sessions: a real SQLite file. One open session per source, idle sessions end, messages
 * come back in conversation order, compaction puts the summary where the range was and keeps
 * the old rows searchable, and search takes free text (FTS5 syntax in it is not interpreted). */
#include "test.h"
#include "core/sessions.h"
#include "core/store.h"
#include "gateway/schema.h"
#include "core/util.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/hermetic-test-sessions-XXXXXX";
static struct store *st;

static int setup(void **state)
{
	char err[256], *path;
	int rc;

	if (!mkdtemp(dir))
		return -1;
	path = xasprintf("%s/state.db", dir);
	rc = store_open(path, &st, err, sizeof(err));
	free(path);
	return rc;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);
	int rc;

	store_close(st);
	rc = system(cmd);
	free(cmd);
	return rc;
}

struct collected {
	char text[4096];
	int64_t ids[32];
	size_t n;
};

static void collect(int64_t id, const char *role, const char *json, void *arg)
{
	struct collected *c = arg;
	size_t len = strlen(c->text);

	snprintf(c->text + len, sizeof(c->text) - len, "%s%s", len ? "|" : "", json);
	if (c->n < 32)
		c->ids[c->n++] = id;
}

static void one_open_session_per_source(void **state)
{
	int64_t a, b, c;
	struct session_info si;

	assert_int_equal(sessions_create(st, "telegram:1", "free", "SYS", &a), 0);
	assert_int_equal(sessions_create(st, "telegram:2", "free", "SYS", &b), 0);
	assert_int_equal(sessions_current(st, "telegram:1", 0, &si), 0);
	assert_int_equal(si.id, a);
	assert_string_equal(si.system_prompt, "SYS");
	session_info_finish(&si);
	/* A new session for the same source ends the old one. */
	assert_int_equal(sessions_create(st, "telegram:1", "cheap", NULL, &c), 0);
	assert_int_equal(sessions_get(st, a, &si), 0);
	assert_true(si.ended);
	session_info_finish(&si);
	assert_int_equal(sessions_current(st, "telegram:1", 0, &si), 0);
	assert_int_equal(si.id, c);
	assert_string_equal(si.model, "cheap");
	session_info_finish(&si);
	assert_int_equal(sessions_end(st, "telegram:2"), 0);
	assert_int_equal(sessions_current(st, "telegram:2", 0, &si), -ENOENT);
	assert_int_equal(sessions_get(st, 999999, &si), -ENOENT);
}

static void idle_session_ends(void **state)
{
	int64_t id;
	struct session_info si;
	char *sql;

	assert_int_equal(sessions_create(st, "cron:x", "free", NULL, &id), 0);
	sql = xasprintf("UPDATE sessions SET updated_ms = updated_ms - 3600000 WHERE id = %lld",
			(long long)id);
	assert_int_equal(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	/* Active within two hours: still current. Within 30 minutes: it went idle and ended. */
	assert_int_equal(sessions_current(st, "cron:x", 7200000, &si), 0);
	session_info_finish(&si);
	assert_int_equal(sessions_current(st, "cron:x", 1800000, &si), -ENOENT);
	assert_int_equal(sessions_get(st, id, &si), 0);
	assert_true(si.ended);
	session_info_finish(&si);
}

static void compaction_keeps_order_and_search(void **state)
{
	int64_t id;
	struct collected c = {0}, d = {0};
	struct buf out;

	assert_int_equal(sessions_create(st, "cli", "free", NULL, &id), 0);
	sessions_append(st, id, "user", "{\"m\":1}", "first question about zebras", NULL);
	sessions_append(st, id, "assistant", "{\"m\":2}", "zebras are striped", NULL);
	sessions_append(st, id, "user", "{\"m\":3}", "and giraffes", NULL);
	sessions_append(st, id, "assistant", "{\"m\":4}", "giraffes are tall", NULL);
	assert_int_equal(sessions_messages(st, id, collect, &c), 0);
	assert_string_equal(c.text, "{\"m\":1}|{\"m\":2}|{\"m\":3}|{\"m\":4}");
	/* Replace messages 2 and 3 by a summary: it sorts where message 2 was. */
	assert_int_equal(sessions_compact(st, id, &c.ids[1], 2, "{\"s\":1}", "summary"), 0);
	assert_int_equal(sessions_messages(st, id, collect, &d), 0);
	assert_string_equal(d.text, "{\"m\":1}|{\"s\":1}|{\"m\":4}");
	/* A second compaction over the summary and the next message still sorts in place. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(sessions_compact(st, id, &d.ids[1], 2, "{\"s\":2}", "summary 2"), 0);
	assert_int_equal(sessions_messages(st, id, collect, &c), 0);
	assert_string_equal(c.text, "{\"m\":1}|{\"s\":2}");
	/* What was compacted away is still found. */
	buf_init(&out, 0);
	assert_int_equal(sessions_search(st, "giraffes", 0, 5, &out), 1);
	assert_non_null(strstr(buf_str(&out), "[giraffes]"));
	buf_finish(&out);
}

static void search_is_free_text_and_excludes(void **state)
{
	int64_t a, b;
	struct buf out;

	assert_int_equal(sessions_create(st, "api:k", "free", NULL, &a), 0);
	sessions_append(st, a, "user", "{}", "how do I restart the k3s agent on node-2?", NULL);
	sessions_append(st, a, "tool", "{}", "secret tool output restart", NULL);
	assert_int_equal(sessions_create(st, "api:j", "free", NULL, &b), 0);
	sessions_append(st, b, "user", "{}", "restart it again", NULL);
	buf_init(&out, 0);
	/* All words first: only session a has both. */
	assert_int_equal(sessions_search(st, "restart k3s", 0, 5, &out), 1);
	assert_non_null(strstr(buf_str(&out), "api:k"));
	assert_null(strstr(buf_str(&out), "api:j"));
	/* FTS5 syntax is just text: quotes, NEAR, stars, parentheses, column filters. */
	buf_reset(&out);
	assert_true(sessions_search(st, "\"k3s\" NEAR( * ) content: OR AND -", 0, 5, &out) >= 0);
	/* No word in common: falls back to any word; the excluded session is skipped. */
	buf_reset(&out);
	assert_int_equal(sessions_search(st, "restart bananas", a, 5, &out), 1);
	assert_non_null(strstr(buf_str(&out), "api:j"));
	assert_null(strstr(buf_str(&out), "api:k"));
	/* Tool output is not indexed. */
	buf_reset(&out);
	assert_int_equal(sessions_search(st, "secret", 0, 5, &out), 0);
	assert_non_null(strstr(buf_str(&out), "No past session mentions"));
	buf_reset(&out);
	assert_int_equal(sessions_search(st, "?!", 0, 5, &out), 0);
	buf_finish(&out);
}

static void usage_adds_up(void **state)
{
	int64_t id;
	struct session_info si;

	assert_int_equal(sessions_create(st, "hook:h", "free", NULL, &id), 0);
	sessions_add_usage(st, id, 100, 20, 0.5, false);
	sessions_add_usage(st, id, 50, 5, 0.25, true);
	sessions_set_title(st, id, "a title");
	assert_int_equal(sessions_get(st, id, &si), 0);
	assert_int_equal(si.prompt_tokens, 150);
	assert_int_equal(si.completion_tokens, 25);
	assert_true(si.cost_usd > 0.749 && si.cost_usd < 0.751);
	assert_int_equal(si.turns, 1);
	assert_string_equal(si.title, "a title");
	session_info_finish(&si);
}

static void a_message_is_found_by_its_origin_in_its_session_only(void **state)
{
	int64_t a, b, msg = 0, found = 0;

	assert_int_equal(sessions_create(st, "telegram:1", "free", NULL, &a), 0);
	assert_int_equal(sessions_create(st, "telegram:2", "free", NULL, &b), 0);
	assert_int_equal(sessions_find_origin(st, a, "telegram:100", &found), -ENOENT);
	assert_int_equal(sessions_append_origin(st, a, "user", "{}", "x", "telegram:100", &msg), 0);
	assert_int_equal(sessions_append(st, a, "assistant", "{}", "y", NULL), 0);
	assert_int_equal(sessions_find_origin(st, a, "telegram:100", &found), 0);
	assert_int_equal(found, msg);
	assert_int_equal(sessions_find_origin(st, b, "telegram:100", &found), -ENOENT);
	assert_int_equal(sessions_find_origin(st, a, "telegram:101", &found), -ENOENT);
}

static int64_t count(const char *sql)
{
	sqlite3_stmt *q;
	int64_t n = -1;

	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

static void retention_prunes_old_sessions_in_batches_with_their_messages(void **state)
{
	int64_t id, recent, day = 86400000;
	char source[32], *sql;
	struct buf out;

	for (int i = 0; i < 25; i++) {
		snprintf(source, sizeof(source), "api:old%d", i);
		assert_int_equal(sessions_create(st, source, "free", NULL, &id), 0);
		sessions_append(st, id, "user", "{}", "zebracorn pasture", NULL);
		sql = xasprintf("UPDATE sessions SET updated_ms = %lld WHERE id = %lld",
				(long long)(now_wall_ms() - 100 * day + i), (long long)id);
		assert_int_equal(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
		free(sql);
	}
	assert_int_equal(sessions_create(st, "api:recent", "free", NULL, &recent), 0);
	sessions_append(st, recent, "user", "{}", "zebracorn stable", NULL);
	/* A new database gives freed pages back (auto_vacuum = INCREMENTAL). */
	assert_int_equal(count("PRAGMA auto_vacuum"), 2);
	assert_int_equal(sessions_prune(st, now_wall_ms() - 90 * day, 20), 20);
	assert_int_equal(sessions_prune(st, now_wall_ms() - 90 * day, 20), 5);
	assert_int_equal(sessions_prune(st, now_wall_ms() - 90 * day, 20), 0);
	assert_int_equal(count("SELECT count(*) FROM sessions WHERE source LIKE 'api:old%'"), 0);
	assert_int_equal(count("SELECT count(*) FROM messages WHERE content = 'zebracorn pasture'"),
			 0);
	/* The full-text rows went with them: search finds only the recent session. */
	buf_init(&out, 0);
	assert_int_equal(sessions_search(st, "zebracorn", 0, 50, &out), 1);
	assert_non_null(strstr(buf_str(&out), "api:recent"));
	assert_int_equal(count("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH "
			       "'pasture'"),
			 0);
	buf_finish(&out);
}

/* An earlier session picked to continue becomes the source's current one: the open one ends,
 * the earlier one is open again, in one transaction; another source's session is refused and
 * changes nothing. */
static void an_earlier_session_reopens_for_its_source_only(void **state)
{
	int64_t a, b, other;
	struct session_info si;
	char *sql;

	assert_int_equal(sessions_create(st, "ui:cockpit", "free", "SYS", &a), 0);
	assert_int_equal(sessions_append(st, a, "user", "{\"role\":\"user\"}", "first", NULL), 0);
	assert_int_equal(sessions_create(st, "ui:cockpit", "free", "SYS", &b), 0);
	assert_int_equal(sessions_create(st, "telegram:7", "free", "SYS", &other), 0);
	/* a went quiet two hours ago: re-opened, the idle limit counts from now. */
	sql = xasprintf("UPDATE sessions SET updated_ms = updated_ms - 7200000 WHERE id = %lld",
			(long long)a);
	assert_int_equal(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);

	assert_int_equal(sessions_reopen(st, a, "ui:cockpit"), 0);
	assert_int_equal(sessions_current(st, "ui:cockpit", 1800000, &si), 0);
	assert_int_equal(si.id, a);
	assert_false(si.ended);
	assert_int_equal(si.n_messages, 1);
	session_info_finish(&si);
	assert_int_equal(sessions_get(st, b, &si), 0);
	assert_true(si.ended);
	session_info_finish(&si);
	assert_int_equal(count("SELECT count(*) FROM sessions WHERE source = 'ui:cockpit' AND"
			       " ended = 0"),
			 1);
	/* The current one again: nothing to end, still current. */
	assert_int_equal(sessions_reopen(st, a, "ui:cockpit"), 0);
	assert_int_equal(sessions_current(st, "ui:cockpit", 0, &si), 0);
	assert_int_equal(si.id, a);
	session_info_finish(&si);

	/* Another source's session: refused, and neither source's sessions changed. */
	assert_int_equal(sessions_reopen(st, other, "ui:cockpit"), -EPERM);
	assert_int_equal(sessions_current(st, "ui:cockpit", 0, &si), 0);
	assert_int_equal(si.id, a);
	session_info_finish(&si);
	assert_int_equal(sessions_current(st, "telegram:7", 0, &si), 0);
	assert_int_equal(si.id, other);
	session_info_finish(&si);
	assert_int_equal(sessions_reopen(st, 999999, "ui:cockpit"), -ENOENT);
	assert_int_equal(sessions_current(st, "ui:cockpit", 0, &si), 0);
	assert_int_equal(si.id, a);
	session_info_finish(&si);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_open_session_per_source),
		cmocka_unit_test(idle_session_ends),
		cmocka_unit_test(compaction_keeps_order_and_search),
		cmocka_unit_test(search_is_free_text_and_excludes),
		cmocka_unit_test(usage_adds_up),
		cmocka_unit_test(a_message_is_found_by_its_origin_in_its_session_only),
		cmocka_unit_test(retention_prunes_old_sessions_in_batches_with_their_messages),
		cmocka_unit_test(an_earlier_session_reopens_for_its_source_only),
	};

	schema_register();
	return cmocka_run_group_tests(tests, setup, teardown);
}
