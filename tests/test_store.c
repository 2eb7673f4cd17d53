/* store: a real SQLite file in WAL mode; migrations run once and in order; a failed migration
 * leaves the previous schema and data intact; a database from a newer binary is refused; kv
 * values survive reopening. On a loop, a lock held by another connection costs one short wait
 * (then writes fail at once for a while), writes that found it wait in memory and are stored in
 * order once it is gone (done fires once, never from inside store_write), and a failed BEGIN
 * reports SQLite's error with the database's path, not the ROLLBACK's. store_sync fsyncs the
 * WAL off the loop and answers once. */
#include "test.h"
#include "core/fileio.h"
#include "core/loop.h"
#include "core/store.h"
#include "gateway/schema.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/hermetic-test-store-XXXXXX";

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);
	int rc = system(cmd);

	free(cmd);
	return rc;
}

static char *journal_mode(struct store *s)
{
	sqlite3_stmt *st;
	char *mode = NULL;

	sqlite3_prepare_v2(store_db(s), "PRAGMA journal_mode", -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		mode = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return mode;
}

static int pragma_int(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	int v = -999999;

	sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Checkpoints run on the store's own thread, never inside a commit on the loop, and the page
 * cache stays small (a quarter of the memory budget otherwise). */
static void no_checkpoint_on_commit_and_small_cache(void **state)
{
	char *path = xasprintf("%s/p.db", dir), err[256];
	struct store *s;

	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	assert_int_equal(pragma_int(s, "PRAGMA wal_autocheckpoint"), 0);
	assert_int_equal(pragma_int(s, "PRAGMA cache_size"), -256);
	store_close(s);
	free(path);
}

/* The checkpoint thread really copies the WAL into the database while the store is open (it
 * once never did: its fresh connection did not know the file was in WAL mode, and the WAL
 * grew without bound). Waits at most 10 s for the thread, which runs once a second. */
static void checkpoints_run_while_open(void **state)
{
	char *path = xasprintf("%s/ckpt.db", dir), err[256], *sql;
	struct store *s;
	struct stat st = {0};
	int i;

	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	store_start_checkpointer(s);
	for (i = 0; i < 200; i++) {
		sql = xasprintf("INSERT INTO kv (key, value, updated_ms) VALUES ('k%d', "
				"printf('%%.2000c', 'x'), 0)",
				i);
		assert_int_equal(sqlite3_exec(store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
		free(sql);
	}
	for (i = 0; i < 200; i++) {
		assert_int_equal(stat(path, &st), 0);
		if (st.st_size > 200 * 2000)
			break;
		usleep(50 * 1000);
	}
	assert_true(st.st_size > 200 * 2000);
	store_close(s);
	free(path);
}

/* A burst of writes grows the WAL far past 4 MiB; once checkpointed, the next write restarts
 * it and journal_size_limit cuts the file back instead of keeping its largest size. */
static void wal_file_is_cut_back_after_a_burst(void **state)
{
	char *path = xasprintf("%s/burst.db", dir), *wal = xasprintf("%s-wal", path), err[256];
	char *sql;
	struct store *s;
	struct stat st = {0};
	off_t peak;
	int i;

	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	store_start_checkpointer(s);
	for (i = 0; i < 3000; i++) {
		sql = xasprintf("INSERT INTO kv (key, value, updated_ms) VALUES ('b%d', "
				"printf('%%.2000c', 'x'), 0)",
				i);
		assert_int_equal(sqlite3_exec(store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
		free(sql);
	}
	assert_int_equal(stat(wal, &st), 0);
	peak = st.st_size;
	assert_true(peak > 8 * 1024 * 1024);
	/* Each write after the checkpoint thread has caught up restarts the WAL. */
	for (i = 0; i < 200; i++) {
		usleep(50 * 1000);
		assert_int_equal(
			sqlite3_exec(store_db(s),
				     "UPDATE kv SET updated_ms = updated_ms + 1 WHERE key = 'b0'",
				     NULL, NULL, NULL),
			SQLITE_OK);
		assert_int_equal(stat(wal, &st), 0);
		if (st.st_size <= 4 * 1024 * 1024)
			break;
	}
	assert_true(st.st_size <= 4 * 1024 * 1024);
	store_close(s);
	free(wal);
	free(path);
}

static void opens_in_wal_mode_with_schema(void **state)
{
	char *path = xasprintf("%s/a.db", dir), err[256], *mode;
	struct store *s;

	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	mode = journal_mode(s);
	assert_string_equal(mode, "wal");
	assert_true(store_schema_version(s) >= 1);
	free(mode);
	store_close(s);
	free(path);
}

static void kv_survives_reopen(void **state)
{
	char *path = xasprintf("%s/b.db", dir), err[256], *v = NULL;
	struct store *s;

	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	assert_int_equal(store_kv_get(s, "telegram.offset", &v), -ENOENT);
	assert_int_equal(store_kv_set(s, "telegram.offset", "41"), 0);
	assert_int_equal(store_kv_set(s, "telegram.offset", "42"), 0);
	store_close(s);
	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	assert_int_equal(store_kv_get(s, "telegram.offset", &v), 0);
	assert_string_equal(v, "42");
	free(v);
	assert_int_equal(store_kv_del(s, "telegram.offset"), 0);
	assert_int_equal(store_kv_get(s, "telegram.offset", &v), -ENOENT);
	store_close(s);
	free(path);
}

static const struct store_migration good[] = {
	{"t1", "CREATE TABLE t1 (x INTEGER);"},
	{"t2", "CREATE TABLE t2 (y INTEGER); INSERT INTO t1 VALUES (7);"},
};

static const struct store_migration bad[] = {
	{"t1", "CREATE TABLE t1 (x INTEGER);"},
	{"t2", "CREATE TABLE t2 (y INTEGER); INSERT INTO t1 VALUES (7);"},
	{"broken", "CREATE TABLE t3 (z INTEGER); INSERT INTO nosuch VALUES (1);"},
};

static int count_rows(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	int n = -1;

	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void migrations_run_once_in_order(void **state)
{
	char *path = xasprintf("%s/c.db", dir), err[256];
	struct store *s;

	assert_int_equal(store_open_with(path, good, 1, &s, err, sizeof(err)), 0);
	assert_int_equal(store_schema_version(s), 1);
	store_close(s);
	assert_int_equal(store_open_with(path, good, 2, &s, err, sizeof(err)), 0);
	assert_int_equal(store_schema_version(s), 2);
	store_close(s);
	/* Reopening must not re-run migration 2 (the row would be inserted twice). */
	assert_int_equal(store_open_with(path, good, 2, &s, err, sizeof(err)), 0);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM t1"), 1);
	store_close(s);
	free(path);
}

static void failed_migration_keeps_previous_version_and_data(void **state)
{
	char *path = xasprintf("%s/d.db", dir), err[256];
	struct store *s;

	assert_int_equal(store_open_with(path, good, 2, &s, err, sizeof(err)), 0);
	store_close(s);
	assert_int_equal(store_open_with(path, bad, 3, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "migration 3 (broken) failed"));
	assert_int_equal(store_open_with(path, good, 2, &s, err, sizeof(err)), 0);
	assert_int_equal(store_schema_version(s), 2);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM t1"), 1);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM t3"), -1);
	store_close(s);
	free(path);
}

static void newer_schema_is_refused(void **state)
{
	char *path = xasprintf("%s/e.db", dir), err[256];
	struct store *s;

	assert_int_equal(store_open_with(path, good, 2, &s, err, sizeof(err)), 0);
	store_close(s);
	assert_int_equal(store_open_with(path, good, 1, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "schema version 2"));
	free(path);
}

static void garbage_file_is_refused_untouched(void **state)
{
	char *path = xasprintf("%s/f.db", dir), err[256], back[64] = {0};
	struct store *s;
	FILE *f = fopen(path, "w");

	fputs("this is not a database, it is a note the user cares about\n", f);
	fclose(f);
	assert_int_equal(store_open(path, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not usable"));
	f = fopen(path, "r");
	assert_non_null(fgets(back, sizeof(back), f));
	fclose(f);
	assert_non_null(strstr(back, "this is not a database"));
	free(path);
}

static void missing_directory_error_names_path(void **state)
{
	char err[256];
	struct store *s;

	assert_int_equal(store_open("/nonexistent-dir/x/state.db", &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent-dir/x/state.db"));
}

struct kv_write {
	const char *value;
	int *order, *n_done, rc;
};

static int write_kv(struct store *s, void *arg)
{
	struct kv_write *w = arg;
	sqlite3_stmt *st;
	int rc = 0;

	sqlite3_prepare_v2(store_db(s),
			   "INSERT OR REPLACE INTO kv (key, value, updated_ms) VALUES ('k', ?, 0)",
			   -1, &st, NULL);
	sqlite3_bind_text(st, 1, w->value, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, "write k");
	sqlite3_finalize(st);
	return rc;
}

static void kv_written(void *arg, int rc)
{
	struct kv_write *w = arg;

	w->rc = rc;
	w->order[(*w->n_done)++] = w->value[0];
}

static sqlite3 *hold_lock(const char *path)
{
	sqlite3 *other;

	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other,
				      "BEGIN IMMEDIATE; INSERT INTO kv VALUES ('other', 'x', 0)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	return other;
}

static void locked_database_costs_the_loop_one_short_wait_and_writes_wait_in_order(void **state)
{
	char *path = xasprintf("%s/busy.db", dir), err[256], *v = NULL;
	struct loop *loop = loop_create();
	struct store *s;
	sqlite3 *other;
	int order[2] = {0}, n_done = 0;
	struct kv_write a = {"a", order, &n_done, 1}, b = {"b", order, &n_done, 1};
	int64_t t0;

	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	store_attach_loop(s, loop);
	other = hold_lock(path);
	t0 = now_mono_ms();
	assert_int_equal(store_write(s, write_kv, &a, kv_written), -EINPROGRESS);
	assert_true(now_mono_ms() - t0 < STORE_LOOP_BUSY_MS + 400);
	assert_true(now_mono_ms() - t0 >= STORE_LOOP_BUSY_MS - 5);
	/* Queued behind the first; and a direct write now fails at once, not after a wait. */
	t0 = now_mono_ms();
	assert_int_equal(store_write(s, write_kv, &b, kv_written), -EINPROGRESS);
	assert_int_equal(store_kv_set(s, "direct", "x"), -EBUSY);
	assert_true(now_mono_ms() - t0 < 50);
	assert_int_equal(store_writes_waiting(s), 2);
	assert_int_equal(n_done, 0);
	/* Still locked at the first retry: both wait on, nothing is reported yet. */
	event_base_loop(loop_base(loop), EVLOOP_ONCE);
	assert_int_equal(n_done, 0);
	assert_int_equal(store_writes_waiting(s), 2);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	loop_run(loop);
	assert_int_equal(n_done, 2);
	assert_int_equal(order[0], 'a');
	assert_int_equal(order[1], 'b');
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(store_writes_waiting(s), 0);
	assert_int_equal(store_kv_get(s, "k", &v), 0);
	assert_string_equal(v, "b");
	free(v);
	/* With nothing waiting and no lock, a write runs at once and done never fires. */
	a.rc = 1;
	assert_int_equal(store_write(s, write_kv, &a, kv_written), 0);
	assert_int_equal(n_done, 2);
	store_close(s);
	loop_destroy(loop);
	free(path);
}

struct synced {
	int n, rc;
	struct loop *loop;
	bool inside;
};

static void on_synced(int rc, void *arg)
{
	struct synced *y = arg;

	assert_false(y->inside);
	y->n++;
	y->rc = rc;
	if (y->loop)
		loop_stop(y->loop);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(*(int *)arg)++;
}

/* store_sync fsyncs the WAL (through fileio_fsync, here made 300 ms slow) on a worker: done
 * fires once, from the loop, never inside the call, while the loop goes on running timers;
 * one still running when the loop is destroyed answers -ECANCELED from loop_destroy. */
static void a_sync_runs_off_the_loop_and_answers_once(void **state)
{
	char *path = xasprintf("%s/sync.db", dir), err[256];
	struct loop *loop = loop_create();
	struct synced y = {0, 1, loop, false};
	struct store *s;
	struct event *tick;
	struct timeval ms20 = {0, 20000};
	int ticks = 0;
	int64_t t0;

	assert_int_equal(setenv("HERMETIC_TEST_SLOW_FSYNC_MS", "300", 1), 0);
	fileio_test_env();
	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	assert_int_equal(store_sync(s, on_synced, &y), -EINVAL); /* no loop attached */
	store_attach_loop(s, loop);
	assert_int_equal(store_kv_set(s, "k", "v"), 0);
	tick = event_new(loop_base(loop), -1, EV_PERSIST, on_tick, &ticks);
	event_add(tick, &ms20);
	t0 = now_mono_ms();
	y.inside = true;
	assert_int_equal(store_sync(s, on_synced, &y), 0);
	y.inside = false;
	assert_true(now_mono_ms() - t0 < 100); /* the fsync is not waited for here */
	loop_run(loop);
	assert_int_equal(y.n, 1);
	assert_int_equal(y.rc, 0);
	assert_true(now_mono_ms() - t0 >= 300); /* the slow fsync was done */
	assert_true(ticks >= 5);		/* and the loop ran meanwhile */

	/* In flight at loop_destroy: -ECANCELED, once. */
	y = (struct synced){0, 1, NULL, false};
	assert_int_equal(store_sync(s, on_synced, &y), 0);
	event_free(tick);
	store_close(s);
	loop_destroy(loop);
	assert_int_equal(y.n, 1);
	assert_int_equal(y.rc, -ECANCELED);
	assert_int_equal(unsetenv("HERMETIC_TEST_SLOW_FSYNC_MS"), 0);
	fileio_test_env();
	free(path);
}

static void failed_begin_reports_the_lock_not_the_rollback(void **state)
{
	char *path = xasprintf("%s/begin.db", dir), err[256];
	struct loop *loop = loop_create();
	struct store *s;
	sqlite3 *other;

	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	store_attach_loop(s, loop);
	other = hold_lock(path);
	assert_int_equal(store_begin(s), -EBUSY);
	assert_int_equal(store_end(s, -EBUSY), -EBUSY);
	assert_non_null(strstr(store_error(s), path));
	assert_non_null(strstr(store_error(s), "begin: database is locked"));
	assert_null(strstr(store_error(s), "rollback"));
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	/* Once free (after the fail-fast moment), a transaction commits. */
	usleep(1100 * 1000);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_kv_set(s, "in", "tx"), 0);
	assert_int_equal(store_end(s, 0), 0);
	store_close(s);
	loop_destroy(loop);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(opens_in_wal_mode_with_schema),
		cmocka_unit_test(checkpoints_run_while_open),
		cmocka_unit_test(wal_file_is_cut_back_after_a_burst),
		cmocka_unit_test(no_checkpoint_on_commit_and_small_cache),
		cmocka_unit_test(kv_survives_reopen),
		cmocka_unit_test(migrations_run_once_in_order),
		cmocka_unit_test(failed_migration_keeps_previous_version_and_data),
		cmocka_unit_test(newer_schema_is_refused),
		cmocka_unit_test(garbage_file_is_refused_untouched),
		cmocka_unit_test(missing_directory_error_names_path),
		cmocka_unit_test(
			locked_database_costs_the_loop_one_short_wait_and_writes_wait_in_order),
		cmocka_unit_test(failed_begin_reports_the_lock_not_the_rollback),
		cmocka_unit_test(a_sync_runs_off_the_loop_and_answers_once),
	};

	schema_register();
	return cmocka_run_group_tests(tests, setup, teardown);
}
