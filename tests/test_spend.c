/* spend: rows land in a real SQLite file with the local day; totals survive a restart; each cap
 * (daily, monthly, max_budget per window, per key) refuses with LiteLLM's message at the cap and
 * not before; periods turn at local midnight in Asia/Manila, on DST days in Europe, on UTC hours
 * for "1h" and on local N-day boundaries for "2d"; the report prints days and model groups; a
 * locked or broken database makes spend_record() return -EIO while the budgets keep counting;
 * reservations of calls in flight count against every cap (an unknown cost takes the rest) and
 * outlive a period change; a deployment's mean cost skips estimated rows; the migration marks
 * older estimated rows.
 *
 * Time zones come from a private TZDIR with minimal TZif files written here (Manila has had no
 * DST since 1978, so one fixed offset is the real zone), and from POSIX TZ strings for DST, so
 * the tests do not depend on the host's tzdata.
 */
#include "test.h"
#include "spend_fixture.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/loop.h"
#include "router/spend.h"
#include "core/store.h"
#include "core/store_mem.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/hermetic-test-spend-XXXXXX";
static int n_dbs;

static const struct store_migration migrations[] = {
	{"spend", SPEND_SCHEMA_SQL},	  {"spend-estimated", SPEND_ESTIMATED_SQL},
	{"spend-cache", SPEND_CACHE_SQL}, {"spend-lane", SPEND_LANE_SQL},
	{"spend-text", SPEND_TEXT_SQL},	  {"spend-minute", SPEND_MINUTE_SQL},
};

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* A TZif version 1 file with no transitions and one local time type. */
static void write_tzif(const char *name, int32_t utoff_s, const char *abbr)
{
	unsigned char b[64] = {0};
	size_t abbr_len = strlen(abbr) + 1;
	char *path = xasprintf("%s/tz/%s", dir, name);
	FILE *f;

	memcpy(b, "TZif", 4);
	put32(b + 36, 1);		   /* typecnt */
	put32(b + 40, (uint32_t)abbr_len); /* charcnt */
	put32(b + 44, (uint32_t)utoff_s);
	memcpy(b + 50, abbr, abbr_len);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, 50 + abbr_len, f), 50 + abbr_len);
	fclose(f);
	free(path);
}

static void use_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static int setup(void **state)
{
	char *tz;

	if (!mkdtemp(dir))
		return -1;
	tz = xasprintf("%s/tz", dir);
	mkdir(tz, 0700);
	setenv("TZDIR", tz, 1);
	free(tz);
	tz = xasprintf("%s/tz/Asia", dir);
	mkdir(tz, 0700);
	free(tz);
	write_tzif("UTC", 0, "UTC");
	write_tzif("Asia/Manila", 8 * 3600, "PST");
	log_set_stderr(0);
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);
	int rc = system(cmd);

	free(cmd);
	log_forget_secrets();
	return rc;
}

/* ms of a UTC date and time. */
static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = s};

	return (int64_t)timegm(&tm) * 1000;
}

struct fx {
	struct config *cfg;
	struct store *store;
	struct spend *spend;
	char *path;
};

static struct config *config_from(const char *yaml)
{
	struct config_diag *d = config_diag_create();
	struct config *cfg = NULL;
	int rc = config_parse("t.yaml", yaml, strlen(yaml), &cfg, d);

	if (rc != 0)
		config_diag_print(d, stderr);
	assert_int_equal(rc, 0);
	config_diag_destroy(d);
	return cfg;
}

static void fx_open_store(struct fx *f)
{
	char err[256];

	assert_int_equal(store_open_with(f->path, migrations, ARRAY_LEN(migrations), &f->store, err,
					 sizeof(err)),
			 0);
	f->spend = spend_create(f->store, f->cfg);
	assert_non_null(f->spend);
}

/* A new database file with the config of yaml, in time zone tz. */
static void fx_open(struct fx *f, const char *yaml, const char *tz)
{
	use_tz(tz);
	f->cfg = config_from(yaml);
	f->path = xasprintf("%s/spend-%d.db", dir, n_dbs++);
	fx_open_store(f);
}

/* Closes and reopens everything but the config: a restart. */
static void fx_restart(struct fx *f)
{
	spend_destroy(f->spend);
	store_close(f->store);
	fx_open_store(f);
}

static void fx_close(struct fx *f)
{
	spend_destroy(f->spend);
	store_close(f->store);
	config_destroy(f->cfg);
	free(f->path);
	use_tz("UTC");
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
		.cached_tokens = estimated ? 0 : 40, /* an estimate knows nothing of the cache */
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

/* spend_check() without a key: rc, and the message and cap name when refused. */
static int check(struct fx *f, int64_t now_ms, char msg[200], const char **which)
{
	return spend_check(f->spend, NULL, NULL, now_ms, msg, 200, which);
}

static int check_key(struct fx *f, const struct config_key *key, int64_t now_ms, char msg[200],
		     const char **which)
{
	char hash[65];

	sha256_hex(key->key, strlen(key->key), hash);
	return spend_check(f->spend, hash, key, now_ms, msg, 200, which);
}

static char *db_text(struct fx *f, const char *sql)
{
	sqlite3_stmt *st;
	char *v = NULL;

	assert_int_equal(sqlite3_prepare_v2(store_db(f->store), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static void expect_text(struct fx *f, const char *sql, const char *want)
{
	char *v = db_text(f, sql);

	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

static const char *const daily_yaml = "timezone: Asia/Manila\n"
				      "budget: {daily_usd: 1.0}\n";

/* 2025-03-15 00:00 in Manila is 2025-03-14 16:00 UTC. */
#define MANILA_MIDNIGHT utc_ms(2025, 3, 14, 16, 0, 0)

static void record_fills_ledger_and_totals(void **state)
{
	struct fx f;
	int64_t t = MANILA_MIDNIGHT + 3600 * 1000; /* 01:00 local, still the 14th in UTC */

	fx_open(&f, daily_yaml, "Asia/Manila");
	assert_int_equal(record(&f, t, "free", "internal", 0.25), 0);
	assert_int_equal(record(&f, t + 1000, "cheap", "abc", 0.125), 0);
	assert_true(spend_day_usd(f.spend, t + 2000) == 0.375);
	assert_true(spend_month_usd(f.spend, t + 2000) == 0.375);
	expect_text(&f, "SELECT count(*) FROM spend", "2");
	expect_text(
		&f,
		"SELECT day || ' ' || model_group || ' ' || deployment || ' ' || key_hash || ' ' ||"
		" input_tokens || ' ' || output_tokens || ' ' || cost_usd || ' ' || cost_source"
		" FROM spend ORDER BY id LIMIT 1",
		"2025-03-15 free dep-1 internal 100 10 0.25 upstream");
	fx_close(&f);
}

static void daily_cap_refuses_with_litellm_message(void **state)
{
	const char *which = "unset";
	char msg[200];
	struct fx f;
	int64_t t = MANILA_MIDNIGHT + 10 * 3600 * 1000;

	fx_open(&f, daily_yaml, "Asia/Manila");
	assert_int_equal(check(&f, t, msg, &which), 0);
	assert_string_equal(msg, "");
	assert_null(which);
	assert_int_equal(record(&f, t, "free", "internal", 0.6), 0);
	assert_int_equal(check(&f, t + 1, msg, &which), 0);
	assert_int_equal(record(&f, t + 2, "free", "internal", 0.4), 0);
	assert_int_equal(check(&f, t + 3, msg, &which), -EDQUOT);
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 1.0, Max budget: 1.0");
	assert_string_equal(which, "daily");
	assert_int_equal(record(&f, t + 4, "free", "internal", 0.40741249999999996 - 0.4), 0);
	assert_int_equal(check(&f, t + 5, msg, &which), -EDQUOT);
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 1.0074125, "
				 "Max budget: 1.0");
	/* NULL msg and which are fine. */
	assert_int_equal(spend_check(f.spend, NULL, NULL, t + 6, NULL, 0, NULL), -EDQUOT);
	fx_close(&f);
}

static void message_numbers_print_like_python(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;
	int64_t t = MANILA_MIDNIGHT;

	fx_open(&f, "timezone: UTC\nbudget: {daily_usd: 0.3}\n", "UTC");
	assert_int_equal(record(&f, t, "free", "internal", 0.1), 0);
	assert_int_equal(record(&f, t, "free", "internal", 0.2), 0);
	assert_int_equal(check(&f, t, msg, &which), -EDQUOT);
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 0.30000000000000004, Max "
				 "budget: 0.3");
	fx_close(&f);
	fx_open(&f, "timezone: UTC\nbudget: {daily_usd: 0.0001}\n", "UTC");
	assert_int_equal(record(&f, t, "free", "internal", 0.00001), 0);
	assert_int_equal(record(&f, t, "free", "internal", 0.0001), 0);
	assert_int_equal(check(&f, t, msg, &which), -EDQUOT);
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 0.00011, Max budget: "
				 "0.0001");
	fx_close(&f);
	fx_open(&f, "timezone: UTC\nbudget: {daily_usd: 250}\n", "UTC");
	assert_int_equal(record(&f, t, "free", "internal", 1234.5), 0);
	assert_int_equal(check(&f, t, msg, &which), -EDQUOT);
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 1234.5, Max budget: "
				 "250.0");
	fx_close(&f);
}

static void totals_survive_restart(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;
	int64_t t = MANILA_MIDNIGHT + 5 * 3600 * 1000;

	fx_open(&f, daily_yaml, "Asia/Manila");
	assert_int_equal(record(&f, t, "free", "internal", 0.7), 0);
	assert_int_equal(record(&f, t + 1, "free", "internal", 0.3), 0);
	assert_int_equal(check(&f, t + 2, msg, &which), -EDQUOT);
	fx_restart(&f);
	assert_int_equal(check(&f, t + 3, msg, &which), -EDQUOT);
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 1.0, Max budget: 1.0");
	assert_true(spend_day_usd(f.spend, t + 3) == 1.0);
	fx_close(&f);
}

static void day_turns_at_manila_midnight(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;

	fx_open(&f, daily_yaml, "Asia/Manila");
	/* 23:59:59 local on the 14th; UTC noon of the 14th was no boundary. */
	assert_int_equal(record(&f, utc_ms(2025, 3, 14, 3, 0, 0), "free", "internal", 0.5), 0);
	assert_int_equal(record(&f, MANILA_MIDNIGHT - 1000, "free", "internal", 0.5), 0);
	assert_int_equal(check(&f, MANILA_MIDNIGHT - 1, msg, &which), -EDQUOT);
	/* Just after local midnight the new day starts at 0. */
	assert_int_equal(check(&f, MANILA_MIDNIGHT, msg, &which), 0);
	assert_true(spend_day_usd(f.spend, MANILA_MIDNIGHT) == 0);
	assert_int_equal(record(&f, MANILA_MIDNIGHT + 1000, "free", "internal", 0.25), 0);
	assert_true(spend_day_usd(f.spend, MANILA_MIDNIGHT + 2000) == 0.25);
	/* Looking back reloads the previous day from the database. */
	assert_true(spend_day_usd(f.spend, MANILA_MIDNIGHT - 1) == 1.0);
	expect_text(&f, "SELECT group_concat(day, ',') FROM (SELECT day FROM spend ORDER BY id)",
		    "2025-03-14,2025-03-14,2025-03-15");
	/* A restart right after midnight sees the new day only. */
	fx_restart(&f);
	assert_true(spend_day_usd(f.spend, MANILA_MIDNIGHT + 3000) == 0.25);
	assert_int_equal(check(&f, MANILA_MIDNIGHT + 3000, msg, &which), 0);
	fx_close(&f);
}

static void a_check_after_midnight_without_records_sees_zero(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;

	fx_open(&f, daily_yaml, "Asia/Manila");
	assert_int_equal(record(&f, MANILA_MIDNIGHT - 60000, "free", "internal", 2.0), 0);
	assert_int_equal(check(&f, MANILA_MIDNIGHT - 30000, msg, &which), -EDQUOT);
	assert_int_equal(check(&f, MANILA_MIDNIGHT + 1, msg, &which), 0);
	/* A late record for the previous day does not count in the new one. */
	assert_int_equal(record(&f, MANILA_MIDNIGHT - 1, "free", "internal", 5.0), 0);
	assert_true(spend_day_usd(f.spend, MANILA_MIDNIGHT + 2) == 0);
	assert_true(spend_month_usd(f.spend, MANILA_MIDNIGHT + 2) == 7.0);
	fx_close(&f);
}

static void dst_days_and_months_turn_at_local_midnight(void **state)
{
	struct fx f;
	/* Central Europe: 2025-03-30 has 23 hours (CET until 02:00, then CEST). */
	int64_t day_start = utc_ms(2025, 3, 29, 23, 0, 0); /* 00:00 CET */
	int64_t day_end = utc_ms(2025, 3, 30, 22, 0, 0);   /* 00:00 CEST on the 31st */
	int64_t april = utc_ms(2025, 3, 31, 22, 0, 0);	   /* 2025-04-01 00:00 CEST */

	fx_open(&f, "timezone: UTC\n", "CET-1CEST,M3.5.0,M10.5.0/3");
	assert_int_equal(record(&f, day_start - 1, "free", "internal", 1.0), 0);
	assert_int_equal(record(&f, day_start, "free", "internal", 2.0), 0);
	assert_int_equal(record(&f, day_end - 1, "free", "internal", 4.0), 0);
	assert_int_equal(record(&f, day_end, "free", "internal", 8.0), 0);
	assert_true(spend_day_usd(f.spend, day_start + 1) == 6.0);
	assert_true(spend_day_usd(f.spend, day_end) == 8.0);
	assert_true(spend_month_usd(f.spend, april - 1) == 15.0);
	assert_true(spend_month_usd(f.spend, april) == 0);
	expect_text(&f, "SELECT group_concat(day, ',') FROM (SELECT day FROM spend ORDER BY id)",
		    "2025-03-29,2025-03-30,2025-03-30,2025-03-31");
	fx_close(&f);
}

/* The ledger keeps each day's date with its bounds; every row must still carry the date
 * localtime_r gives its instant: across midnights, on DST days (23 and 25 hours), in a zone
 * whose DST ends at 00:30 (the date goes back for half an hour), and for late rows. */
static void row_dates_are_the_local_date_of_each_instant(void **state)
{
	static const char *const zones[] = {"CET-1CEST,M3.5.0,M10.5.0/3",
					    "XST-3XDT,M3.5.0/0,M9.5.0/0:30", "Asia/Manila"};
	const int64_t around[] = {utc_ms(2025, 3, 29, 12, 0, 0), utc_ms(2025, 9, 27, 12, 0, 0),
				  utc_ms(2025, 10, 25, 12, 0, 0)};
	size_t z, a;

	for (z = 0; z < ARRAY_LEN(zones); z++) {
		struct fx f;
		struct buf want;

		fx_open(&f, "timezone: UTC\n", zones[z]);
		buf_init(&want, 0);
		for (a = 0; a < ARRAY_LEN(around); a++) {
			int64_t t, step = 7 * 60 * 1000 + 13; /* every 7 minutes for 3 days */

			for (t = around[a]; t < around[a] + 3 * 86400000LL; t += step) {
				/* A late row for an earlier day now and then. */
				int64_t ts = (t / step) % 50 == 0 ? t - 86400000LL : t;
				time_t secs = (time_t)(ts / 1000);
				struct tm tm;
				char day[16];

				assert_non_null(localtime_r(&secs, &tm));
				strftime(day, sizeof(day), "%Y-%m-%d", &tm);
				buf_printf(&want, "%s%s", want.len ? "," : "", day);
				assert_int_equal(record(&f, ts, "free", "internal", 0), 0);
			}
		}
		expect_text(
			&f,
			"SELECT group_concat(day, ',') FROM (SELECT day FROM spend ORDER BY id)",
			buf_str(&want));
		buf_finish(&want);
		fx_close(&f);
	}
}

static void monthly_cap_spans_the_local_month(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;
	/* Manila: April 1st 00:00 local = March 31st 16:00 UTC. */
	int64_t april = utc_ms(2025, 3, 31, 16, 0, 0);

	fx_open(&f, "timezone: Asia/Manila\nbudget: {daily_usd: 10, monthly_usd: 5}\n",
		"Asia/Manila");
	assert_int_equal(record(&f, utc_ms(2025, 3, 1, 0, 0, 0), "free", "internal", 2.5), 0);
	assert_int_equal(record(&f, utc_ms(2025, 3, 20, 0, 0, 0), "free", "internal", 2.5), 0);
	assert_int_equal(check(&f, utc_ms(2025, 3, 25, 0, 0, 0), msg, &which), -EDQUOT);
	assert_string_equal(which, "monthly");
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 5.0, Max budget: 5.0");
	assert_int_equal(check(&f, april - 1, msg, &which), -EDQUOT);
	assert_int_equal(check(&f, april, msg, &which), 0);
	assert_true(spend_month_usd(f.spend, april) == 0);
	/* Spend of Feb 28th 23:00 UTC is March 1st in Manila: the month holds it. */
	assert_int_equal(record(&f, utc_ms(2025, 2, 28, 23, 0, 0), "free", "internal", 1), 0);
	assert_true(spend_month_usd(f.spend, april - 1) == 6.0);
	fx_restart(&f);
	assert_true(spend_month_usd(f.spend, april - 1) == 6.0);
	fx_close(&f);
}

/* What the person is told: the refused cap by name, its config key, and its period's end as
 * local time (midnight for the day, the 1st for the month, the window for max_budget). */
static void a_refusal_names_its_budget_its_reset_and_its_config_key(void **state)
{
	struct spend_refusal r;
	const char *which;
	char msg[200], text[768];
	struct fx f;
	int64_t t = MANILA_MIDNIGHT + 10 * 3600 * 1000; /* 2025-03-15 10:00 in Manila */
	int64_t april = utc_ms(2025, 3, 31, 16, 0, 0);

	fx_open(&f, "timezone: Asia/Manila\nbudget: {daily_usd: 1.0, monthly_usd: 5}\n",
		"Asia/Manila");
	assert_int_equal(check(&f, t, msg, &which), 0);
	assert_int_equal(spend_last_refusal(f.spend, &r), -ENOENT);
	assert_int_equal(record(&f, t, "free", "internal", 1.2), 0);
	assert_int_equal(check(&f, t + 1, msg, &which), -EDQUOT);
	assert_int_equal(spend_last_refusal(f.spend, &r), 0);
	assert_int_equal(r.kind, SPEND_CAP_DAY);
	assert_string_equal(r.config_key, "budget.daily_usd");
	assert_true(r.resets_ms == MANILA_MIDNIGHT + 86400000 && !r.in_flight);
	spend_refusal_text(&r, "Asia/Manila", t, text, sizeof(text));
	assert_string_equal(text, "Today's budget is used up: $1.20 spent of the $1.00 a day that "
				  "budget.daily_usd allows. It resets at midnight, 2025-03-16 "
				  "00:00 Asia/Manila (in 14 h 0 min). To allow more, raise "
				  "budget.daily_usd in the config.");
	/* the next day: the month is what refuses */
	assert_int_equal(record(&f, t + 86400000, "free", "internal", 0.9), 0);
	assert_int_equal(record(&f, t + 2 * 86400000, "free", "internal", 0.9), 0);
	assert_int_equal(record(&f, t + 3 * 86400000, "free", "internal", 0.9), 0);
	assert_int_equal(record(&f, t + 4 * 86400000, "free", "internal", 0.9), 0);
	assert_int_equal(record(&f, t + 5 * 86400000 - 1, "free", "internal", 0.9), 0);
	assert_int_equal(check(&f, t + 5 * 86400000, msg, &which), -EDQUOT);
	assert_string_equal(which, "monthly");
	assert_int_equal(spend_last_refusal(f.spend, &r), 0);
	assert_true(r.kind == SPEND_CAP_MONTH && r.resets_ms == april);
	spend_refusal_text(&r, "Asia/Manila", t + 5 * 86400000, text, sizeof(text));
	assert_string_equal(text, "This month's budget is used up: $5.70 spent of the $5.00 a "
				  "month that budget.monthly_usd allows. It resets at midnight, "
				  "2025-04-01 00:00 Asia/Manila (in 12 days). To allow more, raise "
				  "budget.monthly_usd in the config.");
	/* a check that passes forgets the refusal */
	assert_int_equal(check(&f, april, msg, &which), 0);
	assert_int_equal(spend_last_refusal(f.spend, &r), -ENOENT);
	fx_close(&f);

	fx_open(&f, "timezone: UTC\nlitellm_settings: {max_budget: 0.005, budget_duration: 1h}\n",
		"UTC");
	t = utc_ms(2025, 3, 14, 11, 40, 0);
	assert_int_equal(record(&f, t, "free", "internal", 0.0035), 0);
	assert_int_equal(record(&f, t, "free", "internal", 0.0015), 0);
	assert_int_equal(check(&f, t, msg, &which), -EDQUOT);
	assert_int_equal(spend_last_refusal(f.spend, &r), 0);
	spend_refusal_text(&r, "UTC", t, text, sizeof(text));
	assert_string_equal(text, "The router's budget is used up: $0.005 spent of the $0.005 that "
				  "litellm_settings.max_budget allows. It resets at 2025-03-14 "
				  "12:00 UTC (in 20 min). To allow more, raise "
				  "litellm_settings.max_budget in the config (its period is "
				  "litellm_settings.budget_duration).");
	fx_close(&f);
}

static void max_budget_1h_windows_align_to_utc_hours(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;
	int64_t hour = utc_ms(2025, 3, 14, 11, 0, 0);

	/* India is UTC+05:30: local hours turn at :30 UTC, the 1h windows on the UTC hour. */
	fx_open(&f, "timezone: UTC\nlitellm_settings: {max_budget: 2, budget_duration: 1h}\n",
		"IST-5:30");
	assert_true(spend_proxy_remaining_usd(f.spend, hour - 3600000) == 2.0);
	assert_int_equal(record(&f, hour - 3600000, "free", "internal", 1.5), 0);
	assert_int_equal(record(&f, hour - 1000, "free", "internal", 0.5), 0);
	assert_int_equal(check(&f, hour - 1, msg, &which), -EDQUOT);
	assert_string_equal(which, "max_budget");
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 2.0, Max budget: 2.0");
	assert_true(spend_proxy_remaining_usd(f.spend, hour - 1) == 0);
	assert_int_equal(check(&f, hour, msg, &which), 0);
	assert_true(spend_proxy_remaining_usd(f.spend, hour) == 2.0);
	assert_int_equal(record(&f, hour + 1800000, "free", "internal", 0.5), 0);
	assert_true(spend_proxy_remaining_usd(f.spend, hour + 1800001) == 1.5);
	fx_restart(&f);
	assert_true(spend_proxy_remaining_usd(f.spend, hour + 1800001) == 1.5);
	assert_int_equal(check(&f, hour - 1, msg, &which), -EDQUOT);
	fx_close(&f);
}

static void max_budget_2d_windows_align_to_local_days(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;
	/* 2025-03-15 is local day 20162 since 1970-01-01 (even): a 2-day period starts there. */
	int64_t start = MANILA_MIDNIGHT;

	fx_open(&f,
		"timezone: Asia/Manila\nlitellm_settings: {max_budget: 1, budget_duration: 2d}\n",
		"Asia/Manila");
	assert_int_equal(record(&f, start - 1, "free", "internal", 0.5), 0);
	assert_int_equal(record(&f, start, "free", "internal", 0.5), 0);
	assert_int_equal(record(&f, start + 86400000LL * 2 - 1, "free", "internal", 0.5), 0);
	assert_int_equal(check(&f, start + 86400000LL * 2 - 1, msg, &which), -EDQUOT);
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 1.0, Max budget: 1.0");
	assert_int_equal(check(&f, start + 86400000LL * 2, msg, &which), 0);
	assert_true(spend_proxy_remaining_usd(f.spend, start - 1) == 0.5);
	fx_close(&f);
}

static const char *const keys_yaml =
	"timezone: Asia/Manila\n"
	"keys:\n"
	"  - {key: sk-test-alpha-key, alias: alpha, max_budget: 0.5, budget_duration: 1d}\n"
	"  - {key: sk-test-beta-key, max_budget: 0.3}\n"
	"  - {key: sk-test-gamma-key, alias: gamma}\n";

static void key_budgets_are_isolated(void **state)
{
	const char *which;
	char msg[200], alpha[65], beta[65], want[32];
	struct fx f;
	const struct config_key *k;
	int64_t t = MANILA_MIDNIGHT + 3600000;

	fx_open(&f, keys_yaml, "Asia/Manila");
	k = f.cfg->keys;
	sha256_hex(k[0].key, strlen(k[0].key), alpha);
	sha256_hex(k[1].key, strlen(k[1].key), beta);
	assert_true(spend_key_remaining_usd(f.spend, alpha, &k[0], t) == 0.5);
	assert_int_equal(record(&f, t, "free", alpha, 0.5), 0);
	assert_int_equal(check_key(&f, &k[0], t + 1, msg, &which), -EDQUOT);
	assert_string_equal(which, "key:alpha");
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 0.5, Max budget: 0.5");
	/* Without a hash it is computed from the key. */
	assert_int_equal(spend_check(f.spend, NULL, &k[0], t + 1, msg, 200, &which), -EDQUOT);
	assert_true(spend_key_remaining_usd(f.spend, alpha, &k[0], t + 1) == 0);
	/* Other keys and in-process callers are not held by alpha's budget. */
	assert_int_equal(check_key(&f, &k[1], t + 1, msg, &which), 0);
	assert_int_equal(check_key(&f, &k[2], t + 1, msg, &which), 0);
	assert_int_equal(check(&f, t + 1, msg, &which), 0);
	assert_true(spend_key_remaining_usd(f.spend, beta, &k[1], t + 1) == 0.3);
	assert_true(spend_key_remaining_usd(f.spend, "x", &k[2], t + 1) == -1);
	assert_true(spend_key_remaining_usd(f.spend, "x", NULL, t + 1) == -1);
	assert_true(spend_proxy_remaining_usd(f.spend, t + 1) == -1);
	/* beta has no alias: named by its hash prefix; its budget never resets. */
	assert_int_equal(record(&f, t + 2, "free", beta, 0.25), 0);
	assert_int_equal(record(&f, t + 3, "cheap", beta, 0.0625), 0);
	assert_int_equal(check_key(&f, &k[1], t + 4, msg, &which), -EDQUOT);
	snprintf(want, sizeof(want), "key:%.8s", beta);
	assert_string_equal(which, want);
	/* Next local day: alpha's 1d budget is back, beta's lifetime one is not. */
	t += 86400000;
	assert_int_equal(check_key(&f, &k[0], t, msg, &which), 0);
	assert_int_equal(check_key(&f, &k[1], t, msg, &which), -EDQUOT);
	fx_restart(&f);
	assert_int_equal(check_key(&f, &k[0], t - 86400000, msg, &which), -EDQUOT);
	assert_int_equal(check_key(&f, &k[1], t, msg, &which), -EDQUOT);
	assert_true(spend_day_usd(f.spend, t - 86400000) == 0.8125);
	fx_close(&f);
}

static int count_stmt(unsigned type, void *arg, void *p, void *x)
{
	(*(int *)arg)++;
	return 0;
}

static void checks_within_a_period_do_not_query(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;
	const struct config_key *k;
	int64_t t = MANILA_MIDNIGHT + 3600000, i;
	int n_stmts = 0;

	fx_open(&f,
		"timezone: Asia/Manila\n"
		"budget: {daily_usd: 100, monthly_usd: 1000}\n"
		"litellm_settings: {max_budget: 50, budget_duration: 1h}\n"
		"keys: [{key: sk-test-alpha-key, alias: alpha, max_budget: 5, budget_duration: "
		"7d}]\n",
		"Asia/Manila");
	k = f.cfg->keys;
	assert_int_equal(check_key(&f, &k[0], t, msg, &which), 0);
	sqlite3_trace_v2(store_db(f.store), SQLITE_TRACE_STMT, count_stmt, &n_stmts);
	for (i = 0; i < 10000; i++)
		assert_int_equal(check_key(&f, &k[0], t + i, msg, &which), 0);
	assert_int_equal(n_stmts, 0);
	/* A record is one INSERT once its strings and its minute are known: the first looks
	 * them up (and adds them to spend_text and spend_minute), the next, in the same minute,
	 * finds them in memory. */
	assert_int_equal(record(&f, t + i, "free", "internal", 1), 0);
	assert_true(n_stmts > 1);
	n_stmts = 0;
	assert_int_equal(record(&f, t + i + 1, "free", "internal", 1), 0);
	assert_int_equal(n_stmts, 1);
	/* A new hour reloads only the 1h window. */
	assert_int_equal(check_key(&f, &k[0], MANILA_MIDNIGHT + 2 * 3600000, msg, &which), 0);
	assert_int_equal(n_stmts, 2);
	sqlite3_trace_v2(store_db(f.store), 0, NULL, NULL);
	fx_close(&f);
}

static void no_caps_never_refuse(void **state)
{
	const char *which = "unset";
	char msg[200] = "junk";
	struct fx f;

	fx_open(&f, "timezone: UTC\n", "UTC");
	assert_int_equal(record(&f, MANILA_MIDNIGHT, "free", "internal", 1000), 0);
	assert_int_equal(check(&f, MANILA_MIDNIGHT, msg, &which), 0);
	assert_string_equal(msg, "");
	assert_null(which);
	assert_true(spend_proxy_remaining_usd(f.spend, MANILA_MIDNIGHT) == -1);
	fx_close(&f);
}

static char *report(struct fx *f, int days, int64_t now_ms, int *rc)
{
	char *text = NULL;
	size_t len;
	FILE *out = open_memstream(&text, &len);

	*rc = spend_report(f->store, days, now_ms, out);
	fclose(out);
	return text;
}

static void report_lists_days_and_model_groups(void **state)
{
	struct fx f;
	int64_t day2 = MANILA_MIDNIGHT; /* 2025-03-15 local */
	char *text;
	int rc;

	fx_open(&f, daily_yaml, "Asia/Manila");
	assert_int_equal(record(&f, day2 - 86400000LL * 2, "free", "internal", 9), 0);
	assert_int_equal(record(&f, day2 - 3600000, "free", "internal", 0.5), 0);
	assert_int_equal(record(&f, day2 - 7200000, "free", "k1", 0.25), 0);
	assert_int_equal(record(&f, day2 - 7200000, "openai-strong", "k1", 0.125), 0);
	assert_int_equal(record_as(&f, day2 + 1800000, "free", "internal", 0, "dep-1", true), 0);
	/* The report reads the database with its own handle, as the CLI beside a daemon does. */
	spend_destroy(f.spend);
	f.spend = NULL;
	text = report(&f, 2, day2 + 3600000, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(
		text,
		"DAY         MODEL GROUP       CALLS   INPUT TOKENS  CACHED TOKENS  OUTPUT TOKENS  "
		"    COST USD  ESTIMATED\n"
		"2025-03-15  free                  1            100              0             10  "
		"    0.000000          1\n"
		"2025-03-14  free                  2            200             80             20  "
		"    0.750000          0\n"
		"2025-03-14  openai-strong         1            100             40             10  "
		"    0.125000          0\n"
		"total                             4            400            120             40  "
		"    0.875000          1\n");
	free(text);
	text = report(&f, 3, day2 + 3600000, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(text, "\n2025-03-13  free                  1            100  "));
	assert_non_null(strstr(text, "\ntotal                             5  "));
	free(text);
	text = report(&f, 1, day2 - 86400000LL * 10, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(text,
			    "DAY         MODEL GROUP     CALLS   INPUT TOKENS  CACHED TOKENS  "
			    "OUTPUT TOKENS      COST USD  ESTIMATED\n"
			    "total                           0              0              0  "
			    "            0      0.000000          0\n");
	free(text);
	text = report(&f, 0, day2, &rc);
	assert_int_equal(rc, -EINVAL);
	free(text);
	f.spend = spend_create(f.store, f.cfg);
	fx_close(&f);
}

/* A second connection that holds the write lock; the ledger's busy timeout is made tiny. */
static sqlite3 *lock_writes(struct fx *f)
{
	sqlite3 *other;

	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_busy_timeout(store_db(f->store), 1);
	return other;
}

static void unlock_writes(struct fx *f, sqlite3 *other)
{
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	sqlite3_busy_timeout(store_db(f->store), store_busy_timeout_ms());
}

static int count_in_file(const char *path, const char *needle)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void locked_database_fails_writes_but_budgets_count(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;
	int64_t t = MANILA_MIDNIGHT + 3600000;
	char *log_path = xasprintf("%s/locked.log", dir);
	sqlite3 *other;

	fx_open(&f, daily_yaml, "Asia/Manila");
	/* The ledger's periods are those of the clock; move them to the test's day. */
	assert_int_equal(check(&f, t, msg, &which), 0);
	assert_int_equal(record(&f, t, "free", "internal", 0.5), 0);
	assert_int_equal(log_open_file(log_path, 1 << 20, 1), 0);
	other = lock_writes(&f);
	assert_int_equal(record(&f, t + 1, "free", "internal", 0.5), -EIO);
	assert_int_equal(record(&f, t + 2, "free", "internal", 0.25), -EIO);
	/* Never under-count: the failed rows still count. */
	assert_true(spend_day_usd(f.spend, t + 3) == 1.25);
	assert_int_equal(check(&f, t + 3, msg, &which), -EDQUOT);
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 1.25, Max budget: 1.0");
	unlock_writes(&f, other);
	assert_int_equal(record(&f, t + 4, "free", "internal", 0.125), 0);
	assert_true(spend_day_usd(f.spend, t + 5) == 1.375);
	expect_text(&f, "SELECT count(*) || ' ' || sum(cost_usd) FROM spend", "2 0.625");
	/* Logged once per failure, and once when it clears. */
	log_close();
	assert_int_equal(count_in_file(log_path, "writing the spend ledger failed"), 1);
	assert_int_equal(count_in_file(log_path, "writing the spend ledger works again"), 1);
	free(log_path);
	fx_close(&f);
}

/* One pass of the loop, then more while a batch waits for its end: its window's timer hands
 * the COMMIT to the store's committer thread, whose wake-up ends it on the loop. */
static void end_window(struct loop *loop, struct store *st)
{
	/* a hang's bound, not a speed check: a COMMIT under TSan on a loaded CI lane */
	int64_t until = now_mono_ms() + 60000;

	event_base_loop(loop_base(loop), EVLOOP_ONCE);
	while (store_batch_pending(st) && now_mono_ms() < until)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	assert_false(store_batch_pending(st));
}

static void row_behind_a_lock_waits_and_counts_once(void **state)
{
	int rc;
	const char *which;
	char msg[200];
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000, day_ms = 86400000;
	sqlite3 *other;

	fx_open(&f, daily_yaml, "Asia/Manila");
	store_attach_loop(f.store, loop);
	assert_int_equal(record(&f, t, "free", "internal", 0.5), 0);
	/* The row's batch commits when its window ends. */
	end_window(loop, f.store);
	assert_int_equal(sqlite3_open(f.path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	/* Held in a batch (0) whose BEGIN then meets the lock on the committer thread, or, after
	 * a quiet window, alone: either way the row ends up waiting in the queue. */
	rc = record(&f, t + 1, "free", "internal", 0.25);
	assert_true(rc == 0 || rc == -EINPROGRESS);
	end_window(loop, f.store);
	assert_int_equal(store_writes_waiting(f.store), 1);
	assert_true(spend_day_usd(f.spend, t + 2) == 0.75);
	/* A reload of the day (after a look at the next one) adds the waiting row. */
	assert_true(spend_day_usd(f.spend, t + day_ms) == 0);
	assert_true(spend_day_usd(f.spend, t + 3) == 0.75);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	while (store_writes_waiting(f.store))
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	/* Written, and counted once: in memory, and after a reload from the database. */
	expect_text(&f, "SELECT count(*) || ' ' || sum(cost_usd) FROM spend", "2 0.75");
	assert_true(spend_day_usd(f.spend, t + 4) == 0.75);
	assert_true(spend_day_usd(f.spend, t + day_ms) == 0);
	assert_true(spend_day_usd(f.spend, t + 5) == 0.75);
	assert_int_equal(check(&f, t + 6, msg, &which), 0);
	fx_restart(&f);
	assert_true(spend_day_usd(f.spend, t + 7) == 0.75);
	fx_close(&f);
	loop_destroy(loop);
}

/* What another process sees: only committed rows. */
static char *committed(struct fx *f)
{
	sqlite3 *other;
	sqlite3_stmt *st;
	char *got;

	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(other,
					    "SELECT count(*) || ' ' || coalesce(sum(cost_usd), 0)"
					    " FROM spend",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	got = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(other);
	return got;
}

/* committed() becomes want within ms, the loop not running (the committer thread's work). */
static void expect_committed_within(struct fx *f, const char *want, int ms)
{
	int64_t until = now_mono_ms() + ms;
	char *got = committed(f);

	while (strcmp(got, want) != 0 && now_mono_ms() < until) {
		free(got);
		usleep(1000);
		got = committed(f);
	}
	assert_string_equal(got, want);
	free(got);
}

static void expect_committed(struct fx *f, const char *want)
{
	char *got = committed(f);

	assert_string_equal(got, want);
	free(got);
}

static void rows_within_the_window_share_one_commit(void **state)
{
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000, t0;
	uint64_t joins, commits;
	int i;

	fx_open(&f, daily_yaml, "Asia/Manila");
	store_attach_loop(f.store, loop);
	assert_true(spend_day_usd(f.spend, t) == 0);
	/* A burst: eight attempts end within the window. The first, after a quiet window, is
	 * written alone; the seven after it share a batch. */
	t0 = now_mono_ms();
	for (i = 0; i < 8; i++)
		assert_int_equal(record(&f, t + i, "free", "internal", 0.125), 0);
	store_batch_stats(f.store, &joins, &commits);
	assert_int_equal(joins, 7);
	assert_int_equal(commits, 0);
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	expect_committed(&f, "1 0.125");
	assert_true(spend_day_usd(f.spend, t + 8) == 1.0);
	/* The window's end commits all eight at once, in order, within its bound. */
	end_window(loop, f.store);
	/* (libevent times with CLOCK_MONOTONIC_COARSE, 4 ms steps on this kernel, so a timer may
	 * fire up to 4 ms before the window by the precise clock; both readings here are cut to
	 * whole ms. Before the window grew to 20 ms, this waited for 4 of 5 ms, and failed now and
	 * then under load.) */
	if (now_mono_ms() - t0 < STORE_BATCH_MS - 5)
		fail_msg("committed %lld ms after the burst began, window %d ms",
			 (long long)(now_mono_ms() - t0), STORE_BATCH_MS);
	store_batch_stats(f.store, &joins, &commits);
	assert_int_equal(commits, 1);
	expect_committed(&f, "8 1.0");
	expect_text(&f,
		    "SELECT group_concat(ts_ms - (SELECT min(ts_ms) FROM spend), ',')"
		    " FROM (SELECT ts_ms FROM spend ORDER BY id)",
		    "0,1,2,3,4,5,6,7");
	/* A row after a quiet window is written alone, at once. */
	usleep((STORE_BATCH_MS + 1) * 1000);
	assert_int_equal(record(&f, t + 9, "free", "internal", 0.5), 0);
	store_batch_stats(f.store, &joins, &commits);
	assert_int_equal(joins, 7);
	assert_int_equal(commits, 1);
	expect_committed(&f, "9 1.5");
	/* A reload of the day reads them back: nothing counted twice. */
	assert_true(spend_day_usd(f.spend, t + 86400000) == 0);
	assert_true(spend_day_usd(f.spend, t + 10) == 1.5);
	fx_close(&f);
	loop_destroy(loop);
}

static void a_full_batch_commits_without_waiting(void **state)
{
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000;
	uint64_t joins, commits;
	char want[32];
	int i;

	fx_open(&f, daily_yaml, "Asia/Manila");
	store_attach_loop(f.store, loop);
	/* One row alone, then a full batch, then one more that opens the next. The full one
	 * goes to the committer thread at once: another process sees its rows without the
	 * loop running (so before its window, and without the row after it). */
	for (i = 0; i <= STORE_BATCH_MAX_ROWS + 1; i++)
		assert_int_equal(record(&f, t + i, "free", "internal", 0.5), 0);
	store_batch_stats(f.store, &joins, &commits);
	assert_int_equal(joins, STORE_BATCH_MAX_ROWS + 1);
	snprintf(want, sizeof(want), "%d %.1f", STORE_BATCH_MAX_ROWS + 1,
		 (STORE_BATCH_MAX_ROWS + 1) * 0.5);
	expect_committed_within(&f, want, 5000);
	/* A clean shutdown commits the open batch. */
	fx_restart(&f);
	snprintf(want, sizeof(want), "%d %.1f", STORE_BATCH_MAX_ROWS + 2,
		 (STORE_BATCH_MAX_ROWS + 2) * 0.5);
	expect_committed(&f, want);
	fx_close(&f);
	loop_destroy(loop);
}

/* A commit hook that turns the COMMIT into a ROLLBACK (SQLITE_CONSTRAINT_COMMITHOOK). */
static int refuse_commit(void *arg)
{
	(void)arg;
	return 1;
}

static void a_batch_rolled_back_keeps_its_rows_in_the_totals(void **state)
{
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000;
	sqlite3 *db;

	fx_open(&f, daily_yaml, "Asia/Manila");
	store_attach_loop(f.store, loop);
	assert_true(spend_day_usd(f.spend, t) == 0);
	assert_true(spend_month_usd(f.spend, t) == 0);
	db = store_db(f.store);
	assert_int_equal(record(&f, t, "free", "internal", 0.125), 0); /* alone */
	/* The batch brings a key not seen before: its string goes into spend_text inside the
	 * batch's transaction. */
	assert_int_equal(record(&f, t + 1, "free", "k-rolled", 0.5), 0);
	assert_int_equal(record(&f, t + 1, "free", "k-rolled", 0.25), 0);
	/* A COMMIT that fails (a full disk, an I/O error) and rolls the batch back. */
	sqlite3_commit_hook(db, refuse_commit, NULL);
	end_window(loop, f.store);
	sqlite3_commit_hook(db, NULL, NULL);
	expect_committed(&f, "1 0.125");
	/* Never under-count: the lost rows stay in the totals (as unsaved: see
	 * failed_write_of_a_new_period_still_counts for what that means across reloads). */
	assert_true(spend_day_usd(f.spend, t + 2) == 0.875);
	assert_true(spend_month_usd(f.spend, t + 3) == 0.875);
	/* The string went with the rollback. */
	expect_text(&f, "SELECT count(*) FROM spend_text WHERE text = 'k-rolled'", "0");
	/* The next rows are written as usual. Each batch looks its strings up again, never
	 * taking an id from a batch before: the id the rolled-back batch got for k-rolled now
	 * names k-other, the first string added after it, and the third batch below reuses the
	 * rolled-back batch's buffer. (Of each pair, the first row goes alone, the second in a
	 * batch.) */
	assert_int_equal(record(&f, t + 4, "free", "k-other", 0.0625), 0);
	assert_int_equal(record(&f, t + 4, "free", "k-other", 0.0625), 0);
	end_window(loop, f.store);
	assert_int_equal(record(&f, t + 6, "free", "k-rolled", 0.03125), 0);
	assert_int_equal(record(&f, t + 6, "free", "k-rolled", 0.03125), 0);
	end_window(loop, f.store);
	expect_committed(&f, "5 0.3125");
	expect_text(&f, "SELECT group_concat(key_hash) FROM spend WHERE cost_usd = 0.03125",
		    "k-rolled,k-rolled");
	assert_true(spend_day_usd(f.spend, t + 7) == 1.0625);
	fx_close(&f);
	loop_destroy(loop);
}

/* The trail's text so far ("" when there is no file yet). */
static char *trail_text(const char *path)
{
	struct buf b;

	buf_init(&b, 0);
	if (fileio_read(path, 1 << 20, &b) < 0)
		buf_puts(&b, "");
	return buf_steal(&b);
}

static void audit_mark(const char *mark)
{
	struct audit_line l;

	audit_begin(&l, "attempt");
	audit_str(&l, "mark", mark);
	audit_end(&l);
}

/* n attempt lines, each with a filler of len 'x's (len + about 50 bytes a line). */
static void audit_fillers(size_t n, size_t len)
{
	char *big = xmalloc(len + 1);

	memset(big, 'x', len);
	big[len] = '\0';
	for (size_t i = 0; i < n; i++) {
		struct audit_line l;

		audit_begin(&l, "attempt");
		audit_str(&l, "filler", big);
		audit_end(&l);
	}
	free(big);
}

/* f opened with the audit trail at trail held for its batches, and a batch open (the first row
 * may go alone: two rows). */
static void open_held_batch(struct fx *f, struct loop *loop, const char *trail, int64_t t)
{
	fx_open(f, daily_yaml, "Asia/Manila");
	store_attach_loop(f->store, loop);
	assert_int_equal(audit_open(trail, 0, 0, false), 0);
	audit_hold_for(f->store, loop);
	assert_int_equal(record(f, t, "free", "internal", 0.125), 0);
	assert_int_equal(record(f, t + 1, "free", "internal", 0.125), 0);
	assert_true(store_batch_open(f->store));
}

/* The trail has the first n marks, in order, and `others` lines besides. */
static void expect_marks(const char *path, const char *const *marks, size_t n, size_t others)
{
	char *text = trail_text(path), *at = text, want[64];
	size_t lines = 0;

	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, n + others);
	for (size_t i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "\"mark\":\"%s\"", marks[i]);
		at = strstr(at, want);
		assert_non_null(at);
	}
	free(text);
}

static int note_committer(void *arg)
{
	*(pthread_t *)arg = pthread_self();
	return 0; /* 0: the commit goes on */
}

static void batch_end_listener(void *arg, int rc)
{
	*(int *)arg = rc + 1;
}

/* The window's COMMIT runs on the store's committer thread, not on the loop: the loop pass
 * that ends the window returns with the batch still pending and its listener not called;
 * SQLite's commit hook sees another thread; a later pass (the committer's wake-up) calls
 * the listener with 0, and the rows are in the database. */
static void a_window_commits_off_the_loop(void **state)
{
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000;
	pthread_t committer = pthread_self();
	int ended = 0;
	sqlite3 *db;

	(void)state;
	fx_open(&f, daily_yaml, "Asia/Manila");
	store_attach_loop(f.store, loop);
	db = store_db(f.store);
	sqlite3_commit_hook(db, note_committer, &committer);
	assert_int_equal(record(&f, t, "free", "internal", 0.125), 0); /* alone, on the loop */
	assert_true(pthread_equal(committer, pthread_self()));
	assert_int_equal(record(&f, t + 1, "free", "internal", 0.125), 0);
	assert_int_equal(record(&f, t + 2, "free", "internal", 0.125), 0);
	assert_true(store_batch_open(f.store));
	assert_int_equal(store_batch_listen(f.store, batch_end_listener, &ended), 0);
	event_base_loop(loop_base(loop), EVLOOP_ONCE); /* the window's timer */
	assert_false(store_batch_open(f.store));
	assert_true(store_batch_pending(f.store));
	assert_int_equal(ended, 0);
	end_window(loop, f.store);
	assert_int_equal(ended, 1);
	assert_false(pthread_equal(committer, pthread_self()));
	expect_committed(&f, "3 0.375");
	sqlite3_commit_hook(db, NULL, NULL);
	fx_close(&f);
	loop_destroy(loop);
}

/* The committer thread keeps the scratch of its page splits (store_mem): 3,000 rows with as
 * many keys in batches of 100 split the pages of spend_text's index many times (an index
 * page splits through balance_nonroot, a table's last leaf does not), and blocks it gave back
 * were handed out again; every row is in and the database is sound. */
static void the_committer_reuses_its_split_scratch(void **state)
{
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000;
	unsigned long r0, k0, r1, k1;

	(void)state;
	fx_open(&f, daily_yaml, "Asia/Manila");
	store_attach_loop(f.store, loop);
	assert_true(store_mem_installed());
	store_mem_stats(&r0, &k0);
	for (int w = 0; w < 30; w++) {
		for (int i = 0; i < 100; i++) {
			char key[16];

			snprintf(key, sizeof(key), "k%04d", w * 100 + i);
			assert_int_equal(record(&f, t + w * 100 + i, "free", key, 0.5), 0);
		}
		store_batch_end(f.store);
	}
	store_mem_stats(&r1, &k1);
	assert_true(k1 > k0 + 10);
	assert_true(r1 > r0 + 10);
	expect_committed(&f, "3000 1500.0");
	fx_close(&f);
	loop_destroy(loop);
}

/* A COMMIT held on the committer thread until the test opens the gate (or 5 s pass). */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered, open, timed_out;
};

static int gate_commit(void *arg)
{
	struct gate *g = arg;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&g->mu);
	g->entered = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->open && !g->timed_out)
		g->timed_out = pthread_cond_timedwait(&g->cv, &g->mu, &until) != 0;
	pthread_mutex_unlock(&g->mu);
	return 0;
}

/* Hands the open batch to the committer (its window's timer) and returns once the committer
 * is inside its COMMIT, held at g's gate. */
static void hold_the_commit(struct loop *loop, sqlite3 *db, struct gate *g)
{
	sqlite3_commit_hook(db, gate_commit, g);
	event_base_loop(loop_base(loop), EVLOOP_ONCE);
	pthread_mutex_lock(&g->mu);
	while (!g->entered && !g->timed_out)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

/* While a batch is being written, the loop goes on: rows recorded meanwhile are held for the
 * next batch at once, without waiting for the COMMIT (which here waits for them: had record()
 * waited for it, the gate would have timed out). */
static void rows_during_a_commit_do_not_wait_for_it(void **state)
{
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false};
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000;
	double usd = 3 * 0.125 + (STORE_BATCH_MAX_ROWS + 36) * 0.25;
	char want[32];
	sqlite3 *db;

	(void)state;
	fx_open(&f, daily_yaml, "Asia/Manila");
	store_attach_loop(f.store, loop);
	db = store_db(f.store);
	assert_int_equal(record(&f, t, "free", "internal", 0.125), 0); /* alone */
	assert_int_equal(record(&f, t + 1, "free", "internal", 0.125), 0);
	assert_int_equal(record(&f, t + 2, "free", "internal", 0.125), 0);
	assert_true(store_batch_open(f.store));
	hold_the_commit(loop, db, &g);
	/* The committer is inside the batch's COMMIT now. */
	assert_true(store_batch_pending(f.store));
	assert_false(store_batch_open(f.store));
	/* More than a batch's STORE_BATCH_MAX_ROWS: the next batch grows (no row is queued, and
	 * none waits) and goes as soon as this one is done. */
	for (int i = 0; i < STORE_BATCH_MAX_ROWS + 36; i++)
		assert_int_equal(record(&f, t + 3, "free", "internal", 0.25), 0);
	assert_true(store_batch_open(f.store));
	assert_int_equal(store_writes_waiting(f.store), 0);
	pthread_mutex_lock(&g.mu);
	g.open = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	end_window(loop, f.store);
	assert_false(g.timed_out);
	sqlite3_commit_hook(db, NULL, NULL);
	snprintf(want, sizeof(want), "%d %.3f", STORE_BATCH_MAX_ROWS + 39, usd);
	expect_committed(&f, want);
	assert_true(spend_day_usd(f.spend, t + 86400000) == 0);
	assert_true(spend_day_usd(f.spend, t + 6) == usd);
	fx_close(&f);
	loop_destroy(loop);
}

static void *open_gate_later(void *arg)
{
	struct gate *g = arg;

	usleep(50 * 1000);
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* A use of the connection on the loop (store_db here; a queued row's retry, a budget's reload)
 * waits for every batch in flight: also for the next one, handed over as the first is done
 * because its window ended meanwhile. Returning with that one in flight let the loop's
 * statement run while the committer thread used the connection (a crash, NOMUTEX). */
static void a_use_of_the_connection_waits_for_every_batch_in_flight(void **state)
{
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false};
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000;
	pthread_t opener;
	sqlite3 *db;

	(void)state;
	fx_open(&f, daily_yaml, "Asia/Manila");
	store_attach_loop(f.store, loop);
	db = store_db(f.store);
	assert_int_equal(record(&f, t, "free", "internal", 0.125), 0); /* alone */
	assert_int_equal(record(&f, t + 1, "free", "internal", 0.125), 0);
	hold_the_commit(loop, db, &g);
	/* The next batch fills, and its window ends while the first is still being written. */
	assert_int_equal(record(&f, t + 2, "free", "internal", 0.125), 0);
	assert_true(store_batch_open(f.store));
	usleep((STORE_BATCH_MS + 10) * 1000);
	event_base_loop(loop_base(loop), EVLOOP_ONCE);
	assert_true(store_batch_open(f.store));
	assert_int_equal(pthread_create(&opener, NULL, open_gate_later, &g), 0);
	db = store_db(f.store);
	assert_false(store_batch_pending(f.store));
	pthread_join(opener, NULL);
	assert_false(g.timed_out);
	sqlite3_commit_hook(db, NULL, NULL);
	expect_committed(&f, "3 0.375");
	fx_close(&f);
	loop_destroy(loop);
}

/* More lines of about 290 bytes than AUDIT_HELD_MAX holds. */
#define FILLER_LINES (AUDIT_HELD_MAX / 290 + 100)

static void audit_lines_wait_for_the_batch_their_rows_are_in(void **state)
{
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000;
	char *trail = xasprintf("%s/audit-hold.jsonl", dir);
	const char *const marks[] = {"alone", "b1", "b2", "rolled-back", "after"};
	sqlite3 *db;

	(void)state;
	fx_open(&f, daily_yaml, "Asia/Manila");
	store_attach_loop(f.store, loop);
	db = store_db(f.store); /* (taken now: store_db ends an open batch) */
	assert_int_equal(audit_open(trail, 0, 0, false), 0);
	audit_hold_for(f.store, loop);
	/* No batch open (a row after a quiet window is written alone): the line goes at once. */
	assert_int_equal(record(&f, t, "free", "internal", 0.125), 0);
	audit_mark(marks[0]);
	expect_marks(trail, marks, 1, 0);
	/* The next rows open a batch: their lines wait for its commit, then go together. */
	assert_int_equal(record(&f, t + 1, "free", "internal", 0.125), 0);
	assert_true(store_batch_open(f.store));
	audit_mark(marks[1]);
	assert_int_equal(record(&f, t + 2, "free", "internal", 0.125), 0);
	audit_mark(marks[2]);
	expect_marks(trail, marks, 1, 0);
	end_window(loop, f.store);
	assert_false(store_batch_open(f.store));
	expect_committed(&f, "3 0.375");
	expect_marks(trail, marks, 3, 0);
	/* A batch rolled back by a failure: its rows are lost, but the attempts happened and
	 * their lines are written all the same. */
	/* (two rows: the first may come after a quiet window and go alone) */
	assert_int_equal(record(&f, t + 3, "free", "internal", 0.125), 0);
	assert_int_equal(record(&f, t + 3, "free", "internal", 0.125), 0);
	assert_true(store_batch_open(f.store));
	audit_mark(marks[3]);
	expect_marks(trail, marks, 3, 0);
	sqlite3_commit_hook(db, refuse_commit, NULL);
	end_window(loop, f.store);
	sqlite3_commit_hook(db, NULL, NULL);
	expect_marks(trail, marks, 4, 0);
	/* The held lines have a cap (AUDIT_HELD_MAX): past it they go before the commit. */
	assert_int_equal(record(&f, t + 4, "free", "internal", 0.125), 0);
	assert_int_equal(record(&f, t + 4, "free", "internal", 0.125), 0);
	assert_true(store_batch_open(f.store));
	{
		char *before = trail_text(trail), *after;

		audit_fillers(FILLER_LINES, 200); /* lines of about 290 bytes */
		assert_true(store_batch_open(f.store));
		after = trail_text(trail);
		assert_true(strlen(after) >= strlen(before) + AUDIT_HELD_MAX);
		free(before);
		free(after);
	}
	end_window(loop, f.store);
	/* Unhooked, a line is written at once even with a batch open. */
	assert_int_equal(record(&f, t + 4, "free", "internal", 0.125), 0);
	assert_int_equal(record(&f, t + 4, "free", "internal", 0.125), 0);
	assert_true(store_batch_open(f.store));
	audit_hold_for(NULL, NULL);
	audit_mark(marks[4]);
	expect_marks(trail, marks, 5, FILLER_LINES);
	audit_close();
	fx_close(&f);
	loop_destroy(loop);
	free(trail);
}

/* A batch's held lines (here 100 of about 300 bytes) go out in pieces of whole lines of at
 * most AUDIT_PIECE bytes, the first as the batch ends and one more each turn of the loop, so
 * the loop never writes the 30 KB in one go; a line that comes while pieces wait is written
 * after them. */
static void held_lines_go_out_a_piece_a_loop_turn(void **state)
{
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000;
	char *trail = xasprintf("%s/audit-pieces.jsonl", dir), *text;
	const char *const marks[] = {"last-of-batch", "late"};
	size_t before, len, prev, turns = 0, late_len = strlen("\"mark\":\"late\"}\n");
	bool done;

	(void)state;
	open_held_batch(&f, loop, trail, t);
	text = trail_text(trail);
	before = strlen(text);
	free(text);
	audit_fillers(100, 240);
	audit_mark(marks[0]);
	end_window(loop, f.store);
	/* The batch is done: one piece is out, whole lines. */
	text = trail_text(trail);
	len = strlen(text);
	assert_true(len > before && len - before <= AUDIT_PIECE);
	assert_true(text[len - 1] == '\n');
	free(text);
	/* No batch open, pieces waiting: this line queues behind them. */
	audit_mark(marks[1]);
	text = trail_text(trail);
	assert_int_equal(strlen(text), len);
	free(text);
	/* One piece each turn (EVLOOP_ONCE: the turn's active callbacks, then return), until the
	 * late line, the last, is out: no turn is asked for once nothing is left to write. */
	do {
		prev = len;
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
		text = trail_text(trail);
		len = strlen(text);
		assert_true(len > prev && len - prev <= AUDIT_PIECE);
		assert_true(text[len - 1] == '\n');
		done = len >= late_len &&
		       strcmp(text + len - late_len, "\"mark\":\"late\"}\n") == 0;
		free(text);
	} while (!done && ++turns < 20);
	assert_true(done);
	/* 30 KB in pieces of at most 8 KiB: three more pieces at least after the batch's end
	 * (turns counts all but the last). */
	assert_true(turns >= 2);
	expect_marks(trail, marks, 2, 100);
	audit_hold_for(NULL, NULL);
	audit_close();
	fx_close(&f);
	loop_destroy(loop);
	free(trail);
}

/* A full batch's lines (STORE_BATCH_MAX_ROWS of about 400 bytes, the size of a router
 * attempt's line) all wait for its commit: none reaches the file before the batch ends, so an
 * attempt's line and its ledger row reach the disk together even at the batch's largest. */
static void a_full_batch_of_lines_waits_for_its_commit(void **state)
{
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000;
	char *trail = xasprintf("%s/audit-full.jsonl", dir), *text;
	const char *const marks[] = {"last-of-batch"};
	size_t before;

	(void)state;
	open_held_batch(&f, loop, trail, t);
	text = trail_text(trail);
	before = strlen(text);
	free(text);
	audit_fillers(STORE_BATCH_MAX_ROWS, 360);
	audit_mark(marks[0]);
	text = trail_text(trail);
	assert_int_equal(strlen(text), before);
	free(text);
	end_window(loop, f.store);
	/* The held lines go out a piece a loop turn (each line is over 400 bytes). */
	for (int turn = 0; turn < 1000 && before < 400 * STORE_BATCH_MAX_ROWS; turn++) {
		event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
		text = trail_text(trail);
		before = strlen(text);
		free(text);
	}
	expect_marks(trail, marks, 1, STORE_BATCH_MAX_ROWS);
	audit_hold_for(NULL, NULL);
	audit_close();
	fx_close(&f);
	loop_destroy(loop);
	free(trail);
}

static void row_still_locked_at_shutdown_is_given_up_cleanly(void **state)
{
	struct fx f;
	struct loop *loop = loop_create();
	int64_t t = MANILA_MIDNIGHT + 3600000;
	sqlite3 *other;

	fx_open(&f, daily_yaml, "Asia/Manila");
	store_attach_loop(f.store, loop);
	assert_int_equal(sqlite3_open(f.path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(record(&f, t, "free", "internal", 0.25), -EINPROGRESS);
	/* spend_destroy's last try gives the row up (the lock outlives it); nothing leaks. */
	spend_destroy(f.spend);
	f.spend = NULL;
	assert_int_equal(store_writes_waiting(f.store), 0);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	fx_close(&f);
	loop_destroy(loop);
}

static void failed_write_of_a_new_period_still_counts(void **state)
{
	const char *which;
	char msg[200], alpha[65];
	struct fx f;
	const struct config_key *k;
	sqlite3 *other;

	fx_open(&f,
		"timezone: Asia/Manila\n"
		"budget: {daily_usd: 1}\n"
		"keys: [{key: sk-test-alpha-key, alias: alpha, max_budget: 0.5, budget_duration: "
		"1d}]\n",
		"Asia/Manila");
	k = f.cfg->keys;
	sha256_hex(k[0].key, strlen(k[0].key), alpha);
	assert_int_equal(check_key(&f, &k[0], MANILA_MIDNIGHT - 1000, msg, &which), 0);
	/* The call started before midnight and ends after it, while the database is locked. */
	other = lock_writes(&f);
	assert_int_equal(record(&f, MANILA_MIDNIGHT + 1000, "free", alpha, 1), -EIO);
	unlock_writes(&f, other);
	assert_int_equal(check_key(&f, &k[0], MANILA_MIDNIGHT + 2000, msg, &which), -EDQUOT);
	assert_string_equal(which, "daily");
	assert_true(spend_key_remaining_usd(f.spend, alpha, &k[0], MANILA_MIDNIGHT + 2000) == -0.5);
	fx_close(&f);
}

static void unreadable_ledger_fails_closed_and_keeps_unsaved_spend(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;
	int64_t t = MANILA_MIDNIGHT + 3600000;
	sqlite3 *other;

	fx_open(&f, daily_yaml, "Asia/Manila");
	assert_int_equal(record(&f, t - 86400000, "free", "internal", 0.125), 0);
	assert_true(spend_day_usd(f.spend, t - 86400000) == 0.125);
	/* Someone breaks the database: neither reads nor writes work. */
	assert_int_equal(sqlite3_open(f.path, &other), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(other,
			     "DROP VIEW spend; DROP TABLE spend_row; DROP TABLE spend_text;"
			     " DROP TABLE spend_minute",
			     NULL, NULL, NULL),
		SQLITE_OK);
	/* A new day needs a total from the database: refused, with the cap named. */
	assert_int_equal(check(&f, t, msg, &which), -EIO);
	assert_string_equal(which, "daily");
	assert_non_null(strstr(msg, "spend ledger cannot be read"));
	assert_int_equal(record(&f, t + 1, "free", "internal", 0.25), -EIO);
	assert_int_equal(record(&f, t + 2, "free", "internal", 0.25), -EIO);
	/* Repaired, with a row of the day written meanwhile by another process. */
	assert_int_equal(sqlite3_exec(other,
				      SPEND_SCHEMA_SQL SPEND_ESTIMATED_SQL SPEND_CACHE_SQL
					      SPEND_LANE_SQL SPEND_TEXT_SQL SPEND_MINUTE_SQL,
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(other,
			     "INSERT INTO spend (ts_ms, day, model_group, deployment,"
			     " key_hash, input_tokens, output_tokens, cost_usd, cost_source)"
			     " VALUES (1741968000000, '2025-03-15', 'free', 'd', 'internal',"
			     " 1, 1, 0.0625, 'none')",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(check(&f, t + 3, msg, &which), 0);
	assert_true(spend_day_usd(f.spend, t + 3) == 0.5625);
	assert_int_equal(record(&f, t + 4, "free", "internal", 0.4375), 0);
	assert_int_equal(check(&f, t + 5, msg, &which), -EDQUOT);
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 1.0, Max budget: 1.0");
	fx_close(&f);
}

/* Ten calls checked before any of them ends: each reservation counts, so the cap holds within
 * one call's cost (the others are told to wait: -EBUSY); settling swaps the reservation for the
 * real cost. */
static void reservations_count_calls_in_flight(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;
	struct spend_hold h[10];
	int64_t t = MANILA_MIDNIGHT + 3600000;
	int admitted = 0, busy = 0, i, rc;

	fx_open(&f, daily_yaml, "Asia/Manila");
	for (i = 0; i < 10; i++) {
		rc = spend_reserve(f.spend, NULL, NULL, t, 0.5, &h[i], msg, sizeof(msg), &which);
		admitted += rc == 0;
		busy += rc == -EBUSY;
	}
	assert_int_equal(admitted, 2);
	assert_int_equal(busy, 8);
	assert_int_equal(h[2].n, 0);
	assert_string_equal(which, "daily");
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 0.0, Max budget: 1.0; "
				 "calls in flight may add 1.0");
	assert_int_equal(check(&f, t, msg, &which), -EBUSY);
	/* The first ends cheaper than reserved: 0.25 spent + 0.5 in flight leaves room. */
	spend_release(f.spend, &h[0]);
	assert_int_equal(h[0].n, 0);
	assert_int_equal(record(&f, t + 1, "free", "internal", 0.25), 0);
	assert_int_equal(check(&f, t + 2, msg, &which), 0);
	assert_int_equal(
		spend_reserve(f.spend, NULL, NULL, t + 2, 0.5, &h[0], msg, sizeof(msg), &which), 0);
	assert_int_equal(check(&f, t + 2, msg, &which), -EBUSY);
	spend_release(f.spend, &h[0]);
	spend_release(f.spend, &h[1]);
	spend_release(f.spend, &h[1]); /* an empty hold: nothing */
	assert_int_equal(check(&f, t + 3, msg, &which), 0);
	assert_true(spend_day_usd(f.spend, t + 3) == 0.25);
	fx_close(&f);
}

/* An attempt of unknown cost reserves what is left, so it runs alone until it settles. */
static void unknown_cost_reserves_the_rest_of_each_cap(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;
	struct spend_hold h, h2;
	int64_t t = MANILA_MIDNIGHT + 3600000;

	fx_open(&f, daily_yaml, "Asia/Manila");
	assert_int_equal(record(&f, t, "free", "internal", 0.25), 0);
	assert_int_equal(spend_reserve(f.spend, NULL, NULL, t, -1, &h, msg, sizeof(msg), &which),
			 0);
	assert_true(h.n == 1 && h.usd[0] == 0.75);
	assert_int_equal(spend_reserve(f.spend, NULL, NULL, t, 0, &h2, msg, sizeof(msg), &which),
			 -EBUSY);
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 0.25, Max budget: 1.0; "
				 "calls in flight may add 0.75");
	spend_release(f.spend, &h);
	assert_int_equal(spend_reserve(f.spend, NULL, NULL, t, NAN, &h, msg, sizeof(msg), &which),
			 0);
	assert_true(h.usd[0] == 0.75);
	spend_release(f.spend, &h);
	fx_close(&f);
}

/* A call that starts before midnight and ends after it is still in flight on the new day. */
static void a_reservation_outlives_the_period_change(void **state)
{
	const char *which;
	char msg[200];
	struct fx f;
	struct spend_hold h;

	fx_open(&f, daily_yaml, "Asia/Manila");
	assert_int_equal(record(&f, MANILA_MIDNIGHT - 2000, "free", "internal", 0.5), 0);
	assert_int_equal(spend_reserve(f.spend, NULL, NULL, MANILA_MIDNIGHT - 1000, 1.0, &h, msg,
				       sizeof(msg), &which),
			 0);
	assert_int_equal(check(&f, MANILA_MIDNIGHT + 1000, msg, &which), -EBUSY);
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 0.0, Max budget: 1.0; "
				 "calls in flight may add 1.0");
	spend_release(f.spend, &h);
	assert_int_equal(check(&f, MANILA_MIDNIGHT + 2000, msg, &which), 0);
	fx_close(&f);
}

/* Key, monthly and max_budget caps hold reservations too, each key its own. */
static void every_cap_holds_reservations(void **state)
{
	static const char *const yaml =
		"timezone: Asia/Manila\n"
		"budget: {monthly_usd: 2.0}\n"
		"litellm_settings: {max_budget: 1.5, budget_duration: 1d}\n"
		"keys:\n"
		"  - {key: sk-test-alpha-key, alias: alpha, max_budget: 0.5, budget_duration: 1d}\n"
		"  - {key: sk-test-beta-key, alias: beta, max_budget: 5}\n";
	const char *which;
	char msg[200], alpha[65], beta[65];
	struct fx f;
	struct spend_hold a, b[3];
	const struct config_key *k;
	int64_t t = MANILA_MIDNIGHT + 3600000;

	fx_open(&f, yaml, "Asia/Manila");
	k = f.cfg->keys;
	sha256_hex(k[0].key, strlen(k[0].key), alpha);
	sha256_hex(k[1].key, strlen(k[1].key), beta);
	assert_int_equal(spend_reserve(f.spend, alpha, &k[0], t, 0.5, &a, msg, sizeof(msg), &which),
			 0);
	assert_int_equal(a.n, 3); /* monthly, max_budget, alpha's */
	assert_int_equal(check_key(&f, &k[0], t, msg, &which), -EBUSY);
	assert_string_equal(which, "key:alpha");
	/* beta is not held by alpha's key budget, but by the proxy-wide max_budget. */
	assert_int_equal(
		spend_reserve(f.spend, beta, &k[1], t, 0.5, &b[0], msg, sizeof(msg), &which), 0);
	assert_int_equal(
		spend_reserve(f.spend, beta, &k[1], t, 0.5, &b[1], msg, sizeof(msg), &which), 0);
	assert_int_equal(
		spend_reserve(f.spend, beta, &k[1], t, 0.5, &b[2], msg, sizeof(msg), &which),
		-EBUSY);
	assert_string_equal(which, "max_budget");
	spend_release(f.spend, &a);
	assert_int_equal(record(&f, t + 1, "free", alpha, 0.5), 0);
	/* alpha's spend reached its cap: that refusal wins over max_budget's reservations. */
	assert_int_equal(check_key(&f, &k[0], t + 2, msg, &which), -EDQUOT);
	assert_string_equal(which, "key:alpha");
	assert_string_equal(msg, "Budget has been exceeded! Current cost: 0.5, Max budget: 0.5");
	spend_release(f.spend, &b[0]);
	spend_release(f.spend, &b[1]);
	assert_int_equal(check_key(&f, &k[1], t + 2, msg, &which), 0);
	assert_int_equal(record(&f, t + 3, "free", beta, 0.75), 0);
	/* The monthly cap counts a reservation made past max_budget's day (the next day). */
	assert_int_equal(spend_reserve(f.spend, beta, &k[1], t + 86400000, 0.75, &b[0], msg,
				       sizeof(msg), &which),
			 0);
	assert_int_equal(check_key(&f, &k[1], t + 86400001, msg, &which), -EBUSY);
	assert_string_equal(which, "monthly");
	spend_release(f.spend, &b[0]);
	fx_close(&f);
}

/* The mean of a deployment's recent calls comes from the ledger once, then from records;
 * estimated rows and other deployments do not count. */
static void deployment_mean_skips_estimates_and_survives_restart(void **state)
{
	struct fx f;
	double mean = -1;
	int64_t t = MANILA_MIDNIGHT + 3600000;
	int i;

	fx_open(&f, "timezone: Asia/Manila\n", "Asia/Manila");
	assert_int_equal(spend_deployment_mean(f.spend, "dep-1", t, &mean), -ENOENT);
	assert_int_equal(record_as(&f, t - 8 * 86400000LL, "free", "internal", 8, "dep-1", false),
			 0);
	assert_int_equal(record_as(&f, t + 1, "free", "internal", 0.5, "dep-1", false), 0);
	assert_int_equal(record_as(&f, t + 2, "free", "internal", 0.25, "dep-1", false), 0);
	assert_int_equal(record_as(&f, t + 3, "free", "internal", 9, "dep-1", true), 0);
	assert_int_equal(record_as(&f, t + 4, "free", "internal", 7, "dep-2", false), 0);
	fx_restart(&f);
	assert_int_equal(spend_deployment_mean(f.spend, "dep-1", t + 5, &mean), 0);
	assert_true(mean == 0.375);
	assert_int_equal(record_as(&f, t + 6, "free", "internal", 1.25, "dep-1", false), 0);
	assert_int_equal(record_as(&f, t + 7, "free", "internal", 5, "dep-1", true), 0);
	assert_int_equal(spend_deployment_mean(f.spend, "dep-1", t + 8, &mean), 0);
	assert_true(mean == 2.0 / 3);
	/* Only the last 16 calls count. */
	for (i = 0; i < 16; i++)
		assert_int_equal(
			record_as(&f, t + 10 + i, "free", "internal", 0.125, "dep-1", false), 0);
	assert_int_equal(spend_deployment_mean(f.spend, "dep-1", t + 30, &mean), 0);
	assert_true(mean == 0.125);
	fx_close(&f);
}

static void estimate_uses_prices_else_the_mean(void **state)
{
	/* 400 prompt bytes are 100 tokens. */
	assert_true(fabs(spend_estimate_usd(400, 50, 1e-6, 2e-6, 7) - 2e-4) < 1e-15);
	assert_true(fabs(spend_estimate_usd(400, 50, 0, 2e-6, 7) - 1e-4) < 1e-15);
	assert_true(fabs(spend_estimate_usd(400, 50, 1e-6, 0, -1) - 1e-4) < 1e-15);
	assert_true(spend_estimate_usd(400, 50, 0, 0, 0.5) == 0.5);
	assert_true(spend_estimate_usd(400, 50, 0, 0, 0) == 0);
	assert_true(spend_estimate_usd(400, 50, 0, 0, -1) < 0);
	assert_true(spend_estimate_usd(400, 50, 0, 0, NAN) < 0);
}

/* A state.db of the last release gains the column; its estimated rows say so. */
static void migration_marks_existing_estimates(void **state)
{
	static const struct store_migration old[] = {{"spend", SPEND_SCHEMA_SQL}};
	struct fx f;
	char err[256];

	use_tz("Asia/Manila");
	f.cfg = config_from("timezone: Asia/Manila\n");
	f.path = xasprintf("%s/spend-%d.db", dir, n_dbs++);
	assert_int_equal(store_open_with(f.path, old, 1, &f.store, err, sizeof(err)), 0);
	assert_int_equal(
		sqlite3_exec(store_db(f.store),
			     "INSERT INTO spend (ts_ms, day, model_group, deployment,"
			     " key_hash, input_tokens, output_tokens, cost_usd, cost_source)"
			     " VALUES (1, '1970-01-01', 'free', 'd', 'internal', 1, 1, 0.5,"
			     " 'estimate'), (2, '1970-01-01', 'free', 'd', 'internal', 1, 1,"
			     " 0.25, 'upstream')",
			     NULL, NULL, NULL),
		SQLITE_OK);
	store_close(f.store);
	fx_open_store(&f);
	expect_text(&f, "SELECT group_concat(cost_source || ':' || estimated, ',') FROM spend",
		    "estimate:1,upstream:0");
	fx_close(&f);
}

/* The columns of spend and every row, in id order, as one text. */
#define SPEND_DUMP_SQL                                                                             \
	"SELECT (SELECT group_concat(name) FROM pragma_table_info('spend')) || '/' ||"             \
	" group_concat(id || '|' || ts_ms || '|' || day || '|' || model_group || '|' ||"           \
	" deployment || '|' || key_hash || '|' || input_tokens || '|' || output_tokens || '|' ||"  \
	" cost_usd || '|' || cost_source || '|' || estimated || '|' || cached_tokens || '|' ||"    \
	" cache_write_tokens || '|' || lane, ';') FROM (SELECT * FROM spend ORDER BY id)"

/* f (config set) on a new database of the first n_before migrations with the rows of
 * rows_sql, then reopened with them all (fx_open_store): spend reads every row, with its id
 * and every column, as before the migrations after n_before. */
static void fx_migrate_rows(struct fx *f, size_t n_before, const char *rows_sql)
{
	char err[256], *before;

	f->path = xasprintf("%s/spend-%d.db", dir, n_dbs++);
	assert_int_equal(
		store_open_with(f->path, migrations, n_before, &f->store, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_exec(store_db(f->store), rows_sql, NULL, NULL, NULL), SQLITE_OK);
	before = db_text(f, SPEND_DUMP_SQL);
	assert_non_null(before);
	store_close(f->store);
	fx_open_store(f);
	expect_text(f, SPEND_DUMP_SQL, before);
	free(before);
}

/* A ledger of the release before spend-text keeps every row, with its id and every column,
 * read through the view as from the table before; the strings are stored once and the rows
 * hold integers; rows can still be inserted into and deleted from spend. */
static void migration_to_spend_text_keeps_every_row(void **state)
{
	struct fx f;

	use_tz("UTC");
	f.cfg = config_from("timezone: UTC\n");
	/* every migration before spend-text */
	fx_migrate_rows(&f, ARRAY_LEN(migrations) - 2,
			"INSERT INTO spend (id, ts_ms, day, model_group, deployment, key_hash,"
			" input_tokens, output_tokens, cost_usd, cost_source, estimated,"
			" cached_tokens, cache_write_tokens, lane) VALUES"
			" (3, 1741996800001, '2025-03-15', 'gpt', 'dep-a', 'k1', 10, 5, 0.5,"
			" 'upstream', 0, 4, 1, ''),"
			" (7, 1741996800002, '2025-03-15', 'gpt', 'dep-b', 'k2', 11, 6, 0.25,"
			" 'estimate', 1, 0, 0, 'private'),"
			" (8, 1742083200003, '2025-03-16', 'local', 'dep-b', 'k1', 12, 7, 0.0,"
			" 'none', 0, 0, 0, 'private')");
	/* 2 days, 2 groups, 2 deployments, 2 keys, 3 sources, 2 lanes ('' and private) */
	expect_text(&f, "SELECT count(*) FROM spend_text", "13");
	expect_text(
		&f,
		"SELECT group_concat(DISTINCT typeof(day) || typeof(model_group) ||"
		" typeof(deployment) || typeof(key_hash) || typeof(cost_source) || typeof(lane))"
		" FROM spend_row",
		"integerintegerintegerintegerintegerinteger");
	/* Written through the view: the optional columns take their defaults, known strings
	 * are not stored twice, a new one is added; a deleted row leaves. */
	assert_int_equal(
		sqlite3_exec(
			store_db(f.store),
			"INSERT INTO spend (ts_ms, day, model_group, deployment, key_hash,"
			" input_tokens, output_tokens, cost_usd, cost_source)"
			" VALUES (1742083200004, '2025-03-16', 'gpt', 'dep-c', 'k1', 1, 1, 0.125,"
			" 'upstream'); DELETE FROM spend WHERE id = 7",
			NULL, NULL, NULL),
		SQLITE_OK);
	expect_text(&f, "SELECT count(*) FROM spend_text", "14");
	expect_text(&f,
		    "SELECT group_concat(id || ':' || deployment || ':' || estimated || ':' ||"
		    " cached_tokens || ':' || quote(lane), ',') FROM spend",
		    "3:dep-a:0:4:'',8:dep-b:0:0:'private',9:dep-c:0:0:''");
	/* A row without one of its strings is refused, as the table refused it. */
	assert_int_not_equal(
		sqlite3_exec(
			store_db(f.store),
			"INSERT INTO spend (ts_ms, day, model_group, deployment, key_hash,"
			" input_tokens, output_tokens, cost_usd, cost_source)"
			" VALUES (1, '2025-03-16', 'gpt', NULL, 'k1', 1, 1, 0.125, 'upstream')",
			NULL, NULL, NULL),
		SQLITE_OK);
	expect_text(&f, "SELECT count(*) FROM spend", "3");
	fx_close(&f);
}

/* A ledger from before spend-minute loses the index on ts_ms and gains spend_minute, each
 * minute with its smallest id, whatever order ids and times were written in; rows inserted
 * through the view note their minute (a lower id than the minute's lowers it), so every time
 * range reads all its rows, the budgets' totals after a restart included. */
static void migration_to_spend_minute_keeps_every_row_in_its_range(void **state)
{
	/* ids out of time order, as a clock stepped back writes them */
	static const int64_t at[] = {3 * 60000 + 5, 0, 60000, 3 * 60000, -60000, 2};
	struct fx f;

	use_tz("UTC");
	f.cfg = config_from("timezone: UTC\nbudget: {daily_usd: 100}\n");
	/* every migration before spend-minute */
	fx_migrate_rows(&f, ARRAY_LEN(migrations) - 1,
			"INSERT INTO spend (id, ts_ms, day, model_group, deployment,"
			" key_hash, input_tokens, output_tokens, cost_usd, cost_source)"
			" VALUES (4, 1741996980005, '2025-03-15', 'g', 'd', 'k', 1, 1,"
			" 0.5, 'upstream'), (6, 1741996800000, '2025-03-15', 'g', 'd',"
			" 'k', 1, 1, 0.25, 'upstream'), (9, 1741996860000, '2025-03-15',"
			" 'g', 'd', 'k', 1, 1, 0.125, 'upstream')");
	expect_text(&f, "SELECT count(*) FROM sqlite_schema WHERE name = 'spend_row_ts'", "0");
	expect_text(&f,
		    "SELECT group_concat((minute - 29033280) || ':' || first_id, ',') FROM"
		    " (SELECT * FROM spend_minute ORDER BY minute)",
		    "0:6,1:9,3:4");
	/* Through the view: a row of minute 3 with a lower id, one of a new minute (before the
	 * day: not in its total), one after the others. */
	assert_int_equal(
		sqlite3_exec(store_db(f.store),
			     "INSERT INTO spend (id, ts_ms, day, model_group, deployment,"
			     " key_hash, input_tokens, output_tokens, cost_usd, cost_source)"
			     " VALUES (2, 1741996980000, '2025-03-15', 'g', 'd', 'k', 1, 1,"
			     " 0.0625, 'upstream'), (NULL, 1741996740000, '2025-03-14', 'g',"
			     " 'd', 'k', 1, 1, 8, 'upstream'), (NULL, 1741996800002,"
			     " '2025-03-15', 'g', 'd', 'k', 1, 1, 0.03125, 'upstream')",
			     NULL, NULL, NULL),
		SQLITE_OK);
	expect_text(&f,
		    "SELECT group_concat((minute - 29033280) || ':' || first_id, ',') FROM"
		    " (SELECT * FROM spend_minute ORDER BY minute)",
		    "-1:10,0:6,1:9,3:2");
	for (size_t i = 0; i < ARRAY_LEN(at); i++) {
		spend_fixture_expect_since(store_db(f.store), 1741996800000 + at[i]);
		spend_fixture_expect_since(store_db(f.store), 1741996800000 + at[i] + 1);
	}
	/* A restart reads the day's total back: every row of the 15th. */
	fx_restart(&f);
	assert_true(spend_day_usd(f.spend, 1741996800000 + 3600000) == 0.96875);
	fx_close(&f);
}

static void create_refuses_a_database_without_the_table(void **state)
{
	static const struct store_migration other[] = {{"t", "CREATE TABLE t (x INTEGER);"}};
	struct config *cfg;
	struct store *st;
	char err[256], *path = xasprintf("%s/no-spend.db", dir);

	cfg = config_from("timezone: UTC\n");
	assert_int_equal(store_open_with(path, other, 1, &st, err, sizeof(err)), 0);
	assert_null(spend_create(st, cfg));
	spend_destroy(NULL);
	store_close(st);
	config_destroy(cfg);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(record_fills_ledger_and_totals),
		cmocka_unit_test(daily_cap_refuses_with_litellm_message),
		cmocka_unit_test(a_refusal_names_its_budget_its_reset_and_its_config_key),
		cmocka_unit_test(message_numbers_print_like_python),
		cmocka_unit_test(totals_survive_restart),
		cmocka_unit_test(row_dates_are_the_local_date_of_each_instant),
		cmocka_unit_test(day_turns_at_manila_midnight),
		cmocka_unit_test(a_check_after_midnight_without_records_sees_zero),
		cmocka_unit_test(dst_days_and_months_turn_at_local_midnight),
		cmocka_unit_test(monthly_cap_spans_the_local_month),
		cmocka_unit_test(max_budget_1h_windows_align_to_utc_hours),
		cmocka_unit_test(max_budget_2d_windows_align_to_local_days),
		cmocka_unit_test(key_budgets_are_isolated),
		cmocka_unit_test(checks_within_a_period_do_not_query),
		cmocka_unit_test(no_caps_never_refuse),
		cmocka_unit_test(report_lists_days_and_model_groups),
		cmocka_unit_test(locked_database_fails_writes_but_budgets_count),
		cmocka_unit_test(row_behind_a_lock_waits_and_counts_once),
		cmocka_unit_test(row_still_locked_at_shutdown_is_given_up_cleanly),
		cmocka_unit_test(rows_within_the_window_share_one_commit),
		cmocka_unit_test(a_full_batch_commits_without_waiting),
		cmocka_unit_test(a_batch_rolled_back_keeps_its_rows_in_the_totals),
		cmocka_unit_test(a_window_commits_off_the_loop),
		cmocka_unit_test(the_committer_reuses_its_split_scratch),
		cmocka_unit_test(rows_during_a_commit_do_not_wait_for_it),
		cmocka_unit_test(a_use_of_the_connection_waits_for_every_batch_in_flight),
		cmocka_unit_test(audit_lines_wait_for_the_batch_their_rows_are_in),
		cmocka_unit_test(held_lines_go_out_a_piece_a_loop_turn),
		cmocka_unit_test(a_full_batch_of_lines_waits_for_its_commit),
		cmocka_unit_test(failed_write_of_a_new_period_still_counts),
		cmocka_unit_test(unreadable_ledger_fails_closed_and_keeps_unsaved_spend),
		cmocka_unit_test(reservations_count_calls_in_flight),
		cmocka_unit_test(unknown_cost_reserves_the_rest_of_each_cap),
		cmocka_unit_test(a_reservation_outlives_the_period_change),
		cmocka_unit_test(every_cap_holds_reservations),
		cmocka_unit_test(deployment_mean_skips_estimates_and_survives_restart),
		cmocka_unit_test(estimate_uses_prices_else_the_mean),
		cmocka_unit_test(migration_marks_existing_estimates),
		cmocka_unit_test(migration_to_spend_text_keeps_every_row),
		cmocka_unit_test(migration_to_spend_minute_keeps_every_row_in_its_range),
		cmocka_unit_test(create_refuses_a_database_without_the_table),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
