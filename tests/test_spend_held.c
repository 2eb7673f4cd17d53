/* The ledger's held rows (spend_held): a batch's rows are written together as it commits,
 * whole and in order, and a statement that fails loses only the rows it did not write, which
 * the totals keep; between its statements the committer thread yields its CPU, the loop
 * never does. */
#include "test.h"
#include "spend_fixture.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"
#include "router/spend.h"

#include <event2/event.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/hermetic-test-spend-held-XXXXXX";
static int n_dbs;

static const struct store_migration migrations[] = {
	{"spend", SPEND_SCHEMA_SQL},	  {"spend-estimated", SPEND_ESTIMATED_SQL},
	{"spend-cache", SPEND_CACHE_SQL}, {"spend-lane", SPEND_LANE_SQL},
	{"spend-text", SPEND_TEXT_SQL},	  {"spend-minute", SPEND_MINUTE_SQL},
};

/* sched_yield, counted: this program's definition comes before the C library's. It still
 * yields. */
static pthread_t main_thread;
static atomic_int yields_main, yields_other;

int sched_yield(void)
{
	if (pthread_equal(pthread_self(), main_thread))
		atomic_fetch_add(&yields_main, 1);
	else
		atomic_fetch_add(&yields_other, 1);
	return (int)syscall(SYS_sched_yield);
}

/* 2025-03-15 00:00 UTC */
#define DAY_START 1741996800000LL

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	setenv("TZ", "UTC0", 1);
	tzset();
	log_set_stderr(0);
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);
	int rc = system(cmd);

	free(cmd);
	return rc;
}

struct fx {
	struct config *cfg;
	struct store *store;
	struct spend *spend;
	char *path;
};

static void fx_open(struct fx *f)
{
	static const char yaml[] = "budget: {daily_usd: 1.0}\n";
	struct config_diag *d = config_diag_create();
	char err[256];

	f->cfg = NULL;
	assert_int_equal(config_parse("t.yaml", yaml, strlen(yaml), &f->cfg, d), 0);
	config_diag_destroy(d);
	f->path = xasprintf("%s/spend-%d.db", dir, n_dbs++);
	assert_int_equal(store_open_with(f->path, migrations, ARRAY_LEN(migrations), &f->store, err,
					 sizeof(err)),
			 0);
	f->spend = spend_create(f->store, f->cfg);
	assert_non_null(f->spend);
}

static void fx_close(struct fx *f)
{
	spend_destroy(f->spend);
	store_close(f->store);
	config_destroy(f->cfg);
	free(f->path);
}

/* fx_open, with the store's batches on a new loop (returned; the caller destroys it). */
static struct loop *fx_open_on_loop(struct fx *f)
{
	struct loop *loop = loop_create();

	fx_open(f);
	store_attach_loop(f->store, loop);
	return loop;
}

static int record_as(struct fx *f, int64_t ts_ms, const char *group, const char *key_hash,
		     double cost_usd, const char *deployment, bool estimated)
{
	struct spend_entry e = {
		.ts_ms = ts_ms,
		.model_group = group,
		.deployment = deployment,
		.key_hash = key_hash,
		.input_tokens = 100,
		.cached_tokens = estimated ? 0 : 40,
		.output_tokens = 10,
		.cost_usd = cost_usd,
		.cost_source = estimated ? "estimate" : "upstream",
		.estimated = estimated,
	};

	return spend_record(f->spend, &e);
}

static int record(struct fx *f, int64_t ts_ms, const char *group, const char *key_hash,
		  double cost_usd)
{
	return record_as(f, ts_ms, group, key_hash, cost_usd, "dep-1", false);
}

/* The first text column of the first row of sql, on the store's own connection. */
static void expect_text(struct fx *f, const char *sql, const char *want)
{
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(store_db(f->store), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), want);
	sqlite3_finalize(st);
}

/* What another process sees: only committed rows. */
static void expect_committed(struct fx *f, const char *want)
{
	sqlite3 *other;
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(other,
					    "SELECT count(*) || ' ' || coalesce(sum(cost_usd), 0)"
					    " FROM spend",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), want);
	sqlite3_finalize(st);
	sqlite3_close(other);
}

/* Runs the loop until the open batch has committed. */
static void end_window(struct loop *loop, struct store *st)
{
	int64_t until = now_mono_ms() + 5000;

	event_base_loop(loop_base(loop), EVLOOP_ONCE);
	while (store_batch_pending(st) && now_mono_ms() < until)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	assert_false(store_batch_pending(st));
}

/* A batch's rows are held and written together (16 and 4 to a statement) when it commits:
 * each row whole, in order, with its own values. */
static void a_batch_is_written_whole_when_it_commits(void **state)
{
	struct fx f;
	struct loop *loop = fx_open_on_loop(&f);
	int64_t t = DAY_START + 3600000;
	char key[16];
	int i;

	assert_true(spend_day_usd(f.spend, t) == 0);
	/* One row alone, then 22 in one batch: 16 + 4 + 1 + 1. */
	for (i = 0; i <= 22; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		assert_int_equal(record_as(&f, t + i, i % 2 ? "odd" : "even", key, 0.125 * (i + 1),
					   i % 3 ? "dep-1" : "dep-2", i == 7),
				 0);
	}
	/* (How many went alone depends on the machine's speed: a row after a quiet 20 ms does.) */
	assert_true(spend_day_usd(f.spend, t + 30) == 0.125 * 23 * 24 / 2);
	end_window(loop, f.store);
	expect_committed(&f, "23 34.5");
	/* Each string once in spend_text (23 keys, 2 groups, 2 deployments, 2 sources, the lane
	 * "" and the day), the rows integers. */
	expect_text(&f, "SELECT count(*) FROM spend_text", "31");
	expect_text(&f, "SELECT group_concat(DISTINCT typeof(key_hash)) FROM spend_row", "integer");
	expect_text(
		&f,
		"SELECT group_concat((ts_ms - (SELECT min(ts_ms) FROM spend)) || ':' || key_hash"
		" || ':' || model_group || ':' || deployment || ':' || estimated || ':' || day"
		" || ':' || cost_usd, ',') FROM (SELECT * FROM spend ORDER BY id"
		" LIMIT 3 OFFSET 16)",
		"16:k16:even:dep-1:0:2025-03-15:2.125,17:k17:odd:dep-1:0:2025-03-15:2.25,"
		"18:k18:even:dep-2:0:2025-03-15:2.375");
	expect_text(&f,
		    "SELECT group_concat(cost_source || ':' || cached_tokens, ',')"
		    " FROM spend WHERE ts_ms - (SELECT min(ts_ms) FROM spend) IN (6, 7)",
		    "upstream:40,estimate:0");
	/* Read back after a reload: counted once. */
	assert_true(spend_day_usd(f.spend, t + 86400000) == 0);
	assert_true(spend_day_usd(f.spend, t + 31) == 34.5);
	fx_close(&f);
	loop_destroy(loop);
}

/* A statement of held rows that fails (here a NULL key_hash: NOT NULL) keeps the rows before
 * the failing one (INSERT OR FAIL) and loses the failing row and those after it in the same
 * statement, which stay in the totals as unsaved; the batch's other rows are committed. */
static void a_failed_statement_of_a_batch_keeps_its_rows_in_the_totals(void **state)
{
	struct fx f;
	struct loop *loop = fx_open_on_loop(&f);
	int64_t t = DAY_START + 3600000;
	int i;

	assert_true(spend_day_usd(f.spend, t) == 0);
	assert_true(spend_month_usd(f.spend, t) == 0);
	assert_int_equal(record(&f, t, "free", "internal", 0.5), 0); /* alone */
	/* Then five in a batch: the first four share a statement, and the third fails it. */
	for (i = 1; i <= 5; i++)
		assert_int_equal(record(&f, t + i, "free", i == 3 ? NULL : "internal", 0.5), 0);
	end_window(loop, f.store);
	/* The first row alone, the statement's first two, and the fifth (a statement of its own).
	 */
	expect_committed(&f, "4 2.0");
	expect_text(&f,
		    "SELECT group_concat(d) FROM (SELECT ts_ms - 1741996800000 - 3600000 AS d"
		    " FROM spend ORDER BY id)",
		    "0,1,2,5");
	/* Never under-counted, never twice: the lost two stay in the totals as unsaved. */
	assert_true(spend_day_usd(f.spend, t + 6) == 3.0);
	assert_true(spend_month_usd(f.spend, t + 7) == 3.0);
	/* The next batch is written as usual. */
	assert_int_equal(record(&f, t + 8, "free", "internal", 0.25), 0);
	assert_int_equal(record(&f, t + 9, "free", "internal", 0.25), 0);
	end_window(loop, f.store);
	expect_committed(&f, "6 2.5");
	assert_true(spend_day_usd(f.spend, t + 10) == 3.5);
	fx_close(&f);
	loop_destroy(loop);
}

/* A batch of about 100 rows is written in statements of 16 on the committer thread, which
 * gives its CPU away after each (store_batch_yield): in one piece, the batch held up the
 * load generator and the upstream on the other CPU and was the router's p99 at 1,000 req/s
 * (docs/numbers.md, "The eighteenth look"). The loop, which waits for the batch, never
 * yields. */
static void the_committer_yields_between_statements_and_the_loop_never(void **state)
{
	struct fx f;
	struct loop *loop = fx_open_on_loop(&f);
	int64_t t = DAY_START + 3600000;
	int i;

	atomic_store(&yields_main, 0);
	atomic_store(&yields_other, 0);
	/* The first goes alone (autocommit, on the loop); the others join batches. */
	for (i = 0; i < 100; i++)
		assert_int_equal(record(&f, t + i, "free", "internal", 0.01), 0);
	end_window(loop, f.store);
	expect_committed(&f, "100 1.0");
	/* 99 rows in one batch are 6 statements of 16 and 3 of one; split over two batches
	 * (a slow machine), at least as many statements of 16 and 4 as 99 rows need. */
	assert_true(atomic_load(&yields_other) >= 99 / 16);
	assert_int_equal(atomic_load(&yields_main), 0);
	fx_close(&f);
	loop_destroy(loop);
}

/* A statement's parameters keep what they were bound to between batches, and one that holds
 * the row's value already is not bound again (struct spend_bound): three batches of 21 rows
 * (statements of 16, 4 and 1), where a key, a cost and an estimate change for one batch in
 * one row and return in the next, and a key fails its statement (NULL) in one batch and holds
 * an id in the next. Every row must be stored as recorded: a parameter left holding the
 * batch before's value would show in the digest. */
static void a_parameter_keeps_its_value_only_while_the_row_has_it(void **state)
{
	struct fx f;
	struct loop *loop = fx_open_on_loop(&f);
	int64_t t = DAY_START + 3600000;
	int b, i, first = 0, later = 0;
	char *sql;

	for (b = 0; b < 3; b++) {
		for (i = 0; i < 21; i++) {
			const char *key = b == 1 && i == 5 ? "kx" : b == 0 && i == 18 ? NULL : "k";
			double cost = i % 4 == 0 ? 0.5 : 0.25 * (b + 1);
			bool est = b == 2 && i == 17;

			assert_int_equal(record_as(&f, t + b * 100 + i, i % 2 ? "odd" : "even", key,
						   cost, b == 1 && i == 9 ? "dep-2" : "dep-1", est),
					 0);
		}
		end_window(loop, f.store);
	}
	/* What is stored: every row but those a NULL key failed (OR FAIL: the failing row and
	 * the rest of its statement). */
	sql = xasprintf("SELECT group_concat(d, ',') FROM (SELECT (ts_ms - %lld) || ':' ||"
			" model_group || ':' || key_hash || ':' || deployment || ':' || cost_usd"
			" || ':' || estimated || ':' || cached_tokens AS d FROM spend ORDER BY id)",
			(long long)t);
	expect_text(&f, "SELECT count(*) FROM spend_row WHERE typeof(key_hash) <> 'integer'", "0");
	{
		sqlite3_stmt *st;
		const char *got;

		assert_int_equal(sqlite3_prepare_v2(store_db(f.store), sql, -1, &st, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		got = (const char *)sqlite3_column_text(st, 0);
		/* Each stored row against what was recorded at its time. Which statement a row
		 * of batch 0 shared with the NULL one depends on whether its first row went
		 * alone (after a quiet window): rows 18 and 19 are lost either way, 20 may be. */
		for (const char *p = got; p && *p;) {
			long long d;
			char grp[8], key[8], dep[8];
			double cost;
			int est, cached, n = 0;

			assert_int_equal(sscanf(p, "%lld:%7[^:]:%7[^:]:%7[^:]:%lf:%d:%d%n", &d, grp,
						key, dep, &cost, &est, &cached, &n),
					 7);
			b = (int)(d / 100);
			i = (int)(d % 100);
			assert_string_equal(grp, i % 2 ? "odd" : "even");
			assert_string_equal(key, b == 1 && i == 5 ? "kx" : "k");
			assert_string_equal(dep, b == 1 && i == 9 ? "dep-2" : "dep-1");
			assert_true(cost == (i % 4 == 0 ? 0.5 : 0.25 * (b + 1)));
			assert_int_equal(est, b == 2 && i == 17);
			assert_int_equal(cached, b == 2 && i == 17 ? 0 : 40);
			assert_true(b > 0 ||
				    (i != 18 && i != 19)); /* the NULL one, its statement's next */
			if (b == 0 && i <= 17)
				first++;
			if (b > 0)
				later++;
			p += n;
			if (*p == ',')
				p++;
		}
		sqlite3_finalize(st);
	}
	/* Batches 1 and 2 whole; of batch 0, every row before the NULL one. */
	assert_int_equal(first, 18);
	assert_int_equal(later, 42);
	free(sql);
	fx_close(&f);
	loop_destroy(loop);
}

/* A batch notes each minute its rows fall in (spend_minute) before it writes them, even when
 * the clock steps back within the batch: every row has its minute with an id no greater than
 * its own, so a time range read as a range of ids (the budgets' sums) reads every row of it,
 * and a reload of the day's total counts them all. */
static void a_batch_notes_its_minutes_whatever_the_clock_did(void **state)
{
	static const int64_t at[] = {5 * 60000, 2 * 60000, 5 * 60000 + 1, 0, 2 * 60000 + 7};
	struct fx f;
	struct loop *loop = fx_open_on_loop(&f);
	int64_t t = DAY_START + 3 * 3600000;
	double cost = 1.0, sum = 0;

	for (size_t i = 0; i < ARRAY_LEN(at); i++, cost /= 2) {
		assert_int_equal(record(&f, t + at[i], "g", "k", cost), 0);
		sum += cost;
	}
	end_window(loop, f.store);
	expect_committed(&f, "5 1.9375");
	expect_text(
		&f,
		"SELECT count(*) FROM spend_row r WHERE NOT EXISTS (SELECT 1 FROM spend_minute m"
		" WHERE m.minute = r.ts_ms / 60000 AND m.first_id <= r.id)",
		"0");
	expect_text(&f, "SELECT count(*) FROM spend_minute", "3");
	for (size_t i = 0; i < ARRAY_LEN(at); i++) {
		spend_fixture_expect_since(store_db(f.store), t + at[i]);
		spend_fixture_expect_since(store_db(f.store), t + at[i] + 1);
	}
	/* A new ledger on the same store reads the day's total back from the rows. */
	spend_destroy(f.spend);
	f.spend = spend_create(f.store, f.cfg);
	assert_non_null(f.spend);
	assert_true(spend_day_usd(f.spend, t + 6 * 60000) == sum);
	fx_close(&f);
	loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_batch_is_written_whole_when_it_commits),
		cmocka_unit_test(a_failed_statement_of_a_batch_keeps_its_rows_in_the_totals),
		cmocka_unit_test(the_committer_yields_between_statements_and_the_loop_never),
		cmocka_unit_test(a_parameter_keeps_its_value_only_while_the_row_has_it),
		cmocka_unit_test(a_batch_notes_its_minutes_whatever_the_clock_did),
	};

	main_thread = pthread_self();
	return cmocka_run_group_tests(tests, setup, teardown);
}
