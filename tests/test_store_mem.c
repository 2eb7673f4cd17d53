/* store_mem: SQLite's 8-32 KiB blocks are kept and handed out again; everything else is
 * SQLite's own allocator's, and SQLite works on top of it. */
#include "test.h"

#include "core/store.h"
#include "core/store_mem.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned long reused(void)
{
	unsigned long r, k;

	store_mem_stats(&r, &k);
	return r;
}

/* A freed 13 KiB block is the next 12-16 KiB block, sized to its whole 4 KiB. */
static void test_mid_block_is_kept_and_reused(void **state)
{
	unsigned long before = reused();
	char *a, *b;

	(void)state;
	assert_true(store_mem_installed());
	a = sqlite3_malloc(13000);
	assert_non_null(a);
	assert_int_equal(sqlite3_msize(a), 16384);
	memset(a, 0x5a, 16384); /* the whole rounded size is the caller's */
	sqlite3_free(a);
	b = sqlite3_malloc(12500);
	assert_ptr_equal(a, b);
	assert_int_equal(reused(), before + 1);
	sqlite3_free(b);
}

/* Blocks below 8 KiB and above 32 KiB are not rounded, and not kept. */
static void test_small_and_big_blocks_pass_through(void **state)
{
	unsigned long before = reused();
	void *p;

	(void)state;
	p = sqlite3_malloc(8000);
	assert_int_equal(sqlite3_msize(p), 8000);
	sqlite3_free(p);
	p = sqlite3_malloc(40000);
	assert_int_equal(sqlite3_msize(p), 40000);
	sqlite3_free(p);
	assert_int_equal(reused(), before);
}

/* Two blocks a class are kept; a third is freed; the kept ones come back in any order. */
static void test_at_most_two_a_class(void **state)
{
	void *p[3], *q[3];
	unsigned long before;

	(void)state;
	for (int i = 0; i < 3; i++)
		p[i] = sqlite3_malloc(20000 + i);
	for (int i = 0; i < 3; i++)
		sqlite3_free(p[i]);
	before = reused();
	for (int i = 0; i < 3; i++)
		q[i] = sqlite3_malloc(20480);
	assert_int_equal(reused(), before + 2);
	assert_true((q[0] == p[0] || q[0] == p[1]) && (q[1] == p[0] || q[1] == p[1]));
	for (int i = 0; i < 3; i++)
		sqlite3_free(q[i]);
}

/* realloc into, within, and out of the kept range keeps the bytes. */
static void test_realloc_keeps_the_bytes(void **state)
{
	unsigned char *p = sqlite3_malloc(1000);

	(void)state;
	for (int i = 0; i < 1000; i++)
		p[i] = (unsigned char)i;
	p = sqlite3_realloc(p, 9000);
	assert_int_equal(sqlite3_msize(p), 12288);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(p[i], (unsigned char)i);
	for (int i = 1000; i < 9000; i++)
		p[i] = (unsigned char)(i * 7);
	p = sqlite3_realloc(p, 30000);
	assert_int_equal(sqlite3_msize(p), 32768);
	for (int i = 1000; i < 9000; i++)
		assert_int_equal(p[i], (unsigned char)(i * 7));
	p = sqlite3_realloc(p, 50000);
	assert_int_equal(sqlite3_msize(p), 50000);
	for (int i = 1000; i < 9000; i++)
		assert_int_equal(p[i], (unsigned char)(i * 7));
	p = sqlite3_realloc(p, 500);
	for (int i = 0; i < 500; i++)
		assert_int_equal(p[i], (unsigned char)i);
	sqlite3_free(p);
}

/* What it is for: page splits while rows are appended take their scratch from the kept
 * blocks, and the database reads back every row. */
static void test_page_splits_reuse_scratch(void **state)
{
	static const struct store_migration m[] = {
		{"t",
		 "CREATE TABLE t (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, k TEXT NOT NULL);"
		 " CREATE INDEX t_ts ON t (ts);"}};
	char dir[] = "/tmp/hermetic-test-store-mem-XXXXXX", path[128], err[256];
	struct store *s;
	sqlite3_stmt *st;
	unsigned long before = reused();
	int n = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	assert_int_equal(store_open_with(path, m, 1, &s, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_prepare_v2(store_db(s), "INSERT INTO t (ts, k) VALUES (?, ?)", -1,
					    &st, NULL),
			 SQLITE_OK);
	for (int batch = 0; batch < 40; batch++) {
		assert_int_equal(sqlite3_exec(store_db(s), "BEGIN", NULL, NULL, NULL), SQLITE_OK);
		for (int i = 0; i < 100; i++) {
			sqlite3_bind_int64(st, 1, 1700000000000LL + batch * 100 + i);
			sqlite3_bind_text(
				st, 2,
				"3b69a285cbd23f85131f55dfcac89d7d58835845072500d7d408898ad9c39e93",
				-1, SQLITE_STATIC);
			assert_int_equal(sqlite3_step(st), SQLITE_DONE);
			sqlite3_reset(st);
		}
		assert_int_equal(sqlite3_exec(store_db(s), "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	}
	sqlite3_finalize(st);
	assert_true(reused() > before + 10);
	assert_int_equal(sqlite3_prepare_v2(store_db(s),
					    "SELECT count(*), count(DISTINCT ts) FROM t", -1, &st,
					    NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	assert_int_equal(n, 4000);
	assert_int_equal(sqlite3_column_int(st, 1), 4000);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(store_db(s), "PRAGMA integrity_check", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	store_close(s);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state.db-shm", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mid_block_is_kept_and_reused),
		cmocka_unit_test(test_small_and_big_blocks_pass_through),
		cmocka_unit_test(test_at_most_two_a_class),
		cmocka_unit_test(test_realloc_keeps_the_bytes),
		cmocka_unit_test(test_page_splits_reuse_scratch),
	};

	/* Before SQLite's first use, as store_open does. */
	store_mem_install();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
