/* spend_report: the ledger read back for people (`hermetic spend`, the cockpit's usage): rows
 * per day, model group and deployment over the last days, and the tokens and dollars of today
 * and of this month. Reads only; the ledger's writes and budgets are spend.c's. It sums
 * spend_row and looks the strings of the sums up afterwards: summed through the view spend,
 * every string of every row would be joined (SPEND_TEXT_SQL). */
#include "router/spend.h"
#include "router/spend_days.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The lines of the report; their strings are the caller's to free (free_rows). */
static int report_rows(struct store *store, int days, int64_t now_ms, struct spend_row **out,
		       size_t *n_out)
{
	sqlite3 *db = store_db(store);
	struct spend_row *rows = NULL, *r;
	size_t n = 0;
	char first[16], last[16];
	int64_t today = spend_local_day(now_ms);
	sqlite3_stmt *st;
	int rc;

	spend_day_string(today - (days - 1), first);
	spend_day_string(today, last);
	rc = sqlite3_prepare_v2(db,
				"SELECT d.text, g.text, n, i, o, c, e, k, l.text FROM"
				" (SELECT day, model_group, lane, COUNT(*) AS n,"
				" SUM(input_tokens) AS i, SUM(output_tokens) AS o,"
				" SUM(cost_usd) AS c, SUM(estimated) AS e, SUM(cached_tokens) AS k"
				" FROM spend_row WHERE day IN (SELECT id FROM spend_text"
				" WHERE text >= ?1 AND text <= ?2) GROUP BY day, model_group, lane)"
				" JOIN spend_text d ON d.id = day"
				" JOIN spend_text g ON g.id = model_group"
				" JOIN spend_text l ON l.id = lane"
				" ORDER BY d.text DESC, g.text, l.text",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, first, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, last, -1, SQLITE_STATIC);
	for (;;) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		r = &rows[n++];
		r->day = xstrdup((const char *)sqlite3_column_text(st, 0));
		r->model_group = xstrdup((const char *)sqlite3_column_text(st, 1));
		r->calls = sqlite3_column_int64(st, 2);
		r->input_tokens = sqlite3_column_int64(st, 3);
		r->output_tokens = sqlite3_column_int64(st, 4);
		r->cost_usd = sqlite3_column_double(st, 5);
		r->estimated = sqlite3_column_int64(st, 6);
		r->cached_tokens = sqlite3_column_int64(st, 7);
		r->lane = xstrdup(
			sqlite3_column_text(st, 8) ? (const char *)sqlite3_column_text(st, 8) : "");
	}
	sqlite3_finalize(st);
out:
	*out = rows;
	*n_out = n;
	if (rc == SQLITE_DONE)
		return 0;
	log_error("spend: reading the spend ledger failed: %s", sqlite3_errmsg(db));
	return -EIO;
}

static void free_rows(struct spend_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)rows[i].day);
		free((char *)rows[i].model_group);
		free((char *)rows[i].lane);
	}
	free(rows);
}

int spend_report(struct store *store, int days, int64_t now_ms, FILE *out)
{
	struct spend_row *rows, total = {.day = "total", .lane = ""};
	int width = (int)strlen("MODEL GROUP"), lane_width = 0;
	size_t n, i;
	int rc;

	if (days < 1 || days > SPEND_REPORT_MAX_DAYS)
		return -EINVAL;
	rc = report_rows(store, days, now_ms, &rows, &n);
	if (rc < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if ((int)strlen(rows[i].model_group) > width)
			width = (int)strlen(rows[i].model_group);
		/* A LANE column once any call was in one (docs/security.md, "Lanes"). */
		if (*rows[i].lane && (int)strlen(rows[i].lane) + 2 > lane_width)
			lane_width = (int)strlen(rows[i].lane) + 2;
		total.calls += rows[i].calls;
		total.input_tokens += rows[i].input_tokens;
		total.cached_tokens += rows[i].cached_tokens;
		total.output_tokens += rows[i].output_tokens;
		total.cost_usd += rows[i].cost_usd;
		total.estimated += rows[i].estimated;
	}
	if (lane_width && lane_width < (int)strlen("LANE") + 2)
		lane_width = (int)strlen("LANE") + 2;
	fprintf(out, "%-10s  %-*s  %-*s%8s  %13s  %13s  %13s  %12s  %9s\n", "DAY", width,
		"MODEL GROUP", lane_width, lane_width ? "LANE" : "", "CALLS", "INPUT TOKENS",
		"CACHED TOKENS", "OUTPUT TOKENS", "COST USD", "ESTIMATED");
	for (i = 0; i <= n; i++) {
		const struct spend_row *r = i < n ? &rows[i] : &total;

		fprintf(out, "%-10s  %-*s  %-*s%8lld  %13lld  %13lld  %13lld  %12.6f  %9lld\n",
			r->day, width, i < n ? r->model_group : "", lane_width,
			lane_width ? r->lane : "", (long long)r->calls, (long long)r->input_tokens,
			(long long)r->cached_tokens, (long long)r->output_tokens, r->cost_usd,
			(long long)r->estimated);
	}
out:
	free_rows(rows, n);
	return rc;
}

int spend_report_each(struct store *store, int days, int64_t now_ms, spend_row_cb cb, void *arg)
{
	struct spend_row *rows;
	size_t n, i;
	int rc;

	if (days < 1 || days > SPEND_REPORT_MAX_DAYS)
		return -EINVAL;
	rc = report_rows(store, days, now_ms, &rows, &n);
	for (i = 0; rc == 0 && i < n; i++)
		cb(&rows[i], arg);
	free_rows(rows, n);
	return rc;
}

static int usage_since(sqlite3 *db, int64_t since_ms, struct spend_usage *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT count(*), coalesce(sum(input_tokens), 0), "
			       "coalesce(sum(output_tokens), 0), coalesce(sum(cost_usd), 0), "
			       "coalesce(sum(cached_tokens), 0) FROM spend_row WHERE " SPEND_SINCE(
				       "?1") " AND ts_ms >= ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, since_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->calls = sqlite3_column_int64(st, 0);
		out->input_tokens = sqlite3_column_int64(st, 1);
		out->output_tokens = sqlite3_column_int64(st, 2);
		out->cost_usd = sqlite3_column_double(st, 3);
		out->cached_tokens = sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -EIO;
}

int spend_usage(struct store *store, int64_t now_ms, struct spend_usage *today,
		struct spend_usage *month)
{
	time_t now = (time_t)(now_ms / 1000);
	struct tm tm;
	int64_t day_ms, month_ms;

	localtime_r(&now, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	day_ms = (int64_t)mktime(&tm) * 1000;
	tm.tm_mday = 1;
	tm.tm_isdst = -1;
	month_ms = (int64_t)mktime(&tm) * 1000;
	if (usage_since(store_db(store), day_ms, today) < 0)
		return -EIO;
	return usage_since(store_db(store), month_ms, month);
}
