/* sqlmem: SQLite's allocations through the free lists: a freed small block is reused by the
 * next allocation of its size, contents survive a realloc, large blocks and anything past the
 * keep cap go back to malloc, and SQLite works on top of it. */
#include "test.h"
#include "core/sqlmem.h"

#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

static int setup(void **state)
{
	(void)state;
	sqlmem_install(); /* before SQLite's first use in this process */
	return sqlite3_initialize() == SQLITE_OK ? 0 : -1;
}

static void a_freed_block_is_reused_by_its_size(void **state)
{
	size_t kept = sqlmem_kept();
	void *p = sqlite3_malloc(100), *q;

	(void)state;
	assert_non_null(p);
	assert_int_equal(sqlite3_msize(p), 128);
	memset(p, 0xab, 100);
	sqlite3_free(p);
	assert_int_equal(sqlmem_kept(), kept + 128);
	q = sqlite3_malloc(120);
	assert_ptr_equal(q, p);
	assert_int_equal(sqlmem_kept(), kept);
	sqlite3_free(q);
}

static void realloc_keeps_the_contents(void **state)
{
	unsigned char *p = sqlite3_malloc(100), *q;

	(void)state;
	for (int i = 0; i < 100; i++)
		p[i] = (unsigned char)i;
	q = sqlite3_realloc(p, 1000);
	assert_non_null(q);
	assert_true(sqlite3_msize(q) >= 1000);
	for (int i = 0; i < 100; i++)
		assert_int_equal(q[i], i);
	/* Shrinking a little keeps the block; by more than half, a smaller one. */
	assert_ptr_equal(sqlite3_realloc(q, 900), q);
	p = sqlite3_realloc(q, 10);
	assert_non_null(p);
	assert_int_equal(sqlite3_msize(p), 64);
	for (int i = 0; i < 10; i++)
		assert_int_equal(p[i], i);
	sqlite3_free(p);
}

static void large_blocks_and_the_cap_go_back_to_malloc(void **state)
{
	void *big = sqlite3_malloc(100000), *blocks[300];
	size_t kept = sqlmem_kept();

	(void)state;
	assert_non_null(big);
	assert_true(sqlite3_msize(big) >= 100000);
	sqlite3_free(big);
	assert_int_equal(sqlmem_kept(), kept);
	for (int i = 0; i < 300; i++)
		assert_non_null(blocks[i] = sqlite3_malloc(1024));
	for (int i = 0; i < 300; i++)
		sqlite3_free(blocks[i]);
	assert_true(sqlmem_kept() <= 256 * 1024);
	assert_true(sqlmem_kept() >= 200 * 1024);
}

static void sqlite_runs_on_it(void **state)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db,
			     "CREATE TABLE t (a INTEGER, b TEXT);"
			     " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
			     " WHERE i < 5000) INSERT INTO t SELECT i, printf('%0200d', i)"
			     " FROM n;",
			     NULL, NULL, NULL),
		SQLITE_OK);
	assert_int_equal(
		sqlite3_prepare_v2(db, "SELECT sum(a), sum(length(b)) FROM t", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), 5000LL * 5001 / 2);
	assert_int_equal(sqlite3_column_int64(st, 1), 5000LL * 200);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_freed_block_is_reused_by_its_size),
		cmocka_unit_test(realloc_keeps_the_contents),
		cmocka_unit_test(large_blocks_and_the_cap_go_back_to_malloc),
		cmocka_unit_test(sqlite_runs_on_it),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
