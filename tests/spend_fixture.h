/* spend_fixture.h: what the ledger's tests share (test_spend.c, test_spend_held.c). Header-only:
 * each test is its own executable. */
#ifndef HERMETIC_TESTS_SPEND_FIXTURE_H
#define HERMETIC_TESTS_SPEND_FIXTURE_H

#include "test.h"
#include "router/spend.h"

#include <sqlite3.h>
#include <stdint.h>

/* The cost of the rows from from_ms on, read as the budgets read a time range (SPEND_SINCE: a
 * range of ids from spend_minute) and read from every row: the two are equal. */
static inline void spend_fixture_expect_since(sqlite3 *db, int64_t from_ms)
{
	static const char *const sql[] = {
		"SELECT total(cost_usd) FROM spend_row WHERE " SPEND_SINCE("?1") " AND ts_ms >= ?1",
		"SELECT total(cost_usd) FROM spend_row WHERE ts_ms >= ?1",
	};
	sqlite3_stmt *st;
	double v[2];

	for (int k = 0; k < 2; k++) {
		assert_int_equal(sqlite3_prepare_v2(db, sql[k], -1, &st, NULL), SQLITE_OK);
		sqlite3_bind_int64(st, 1, from_ms);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		v[k] = sqlite3_column_double(st, 0);
		sqlite3_finalize(st);
	}
	assert_true(v[0] == v[1]);
}

#endif
