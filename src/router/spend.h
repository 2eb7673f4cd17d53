/* spend: the ledger of upstream calls (one SQLite row each) and the budget checks made before
 * every upstream call; replaces LiteLLM's Postgres spend tracking.
 *
 * Budget windows are fixed periods, not rolling ones, in the process time zone (main sets TZ
 * from cfg->timezone, so localtime_r() gives the configured zone):
 *   - budget.daily_usd: the local calendar day (resets at local midnight);
 *   - budget.monthly_usd: the local calendar month;
 *   - a budget_duration_s that is a whole number of days (N * 86400): periods of N local days
 *     starting at local midnight, aligned to the local days counted since 1970-01-01 (so "1d"
 *     resets at every local midnight, "7d" every 7 local days, "1mo" = 30 days);
 *   - any other budget_duration_s: periods aligned to multiples of the duration since the Unix
 *     epoch (UTC), e.g. "1h" resets on every full UTC hour;
 *   - budget_duration_s 0: lifetime (never resets).
 * A row belongs to the period holding its ts_ms. Totals come from the database at start and
 * whenever a period begins, and are then kept in memory, so spend_check() never touches SQLite
 * within a period. Single-threaded (the event loop).
 *
 * Calls in flight count too: before each upstream attempt the router reserves an estimate of
 * its cost (spend_reserve) in every capped period, and settles it when the answer comes
 * (spend_release, then spend_record of the real or estimated cost). A call that finds the rest
 * of a cap reserved is told to wait (-EBUSY), so concurrent calls cannot all pass a check made
 * before any of them is recorded: the cap holds within one call's cost. Reservations live in
 * memory (a crash loses them with the calls; the ledger holds what was recorded).
 */
#ifndef HERMETIC_SPEND_H
#define HERMETIC_SPEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "core/store.h"

/* The schema, a migration listed in gateway/schema.c. day is YYYY-MM-DD in the process time
 * zone when the row was written (for reports); budget windows use ts_ms. */
#define SPEND_SCHEMA_SQL                                                                           \
	"CREATE TABLE spend (id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"                      \
	" day TEXT NOT NULL, model_group TEXT NOT NULL, deployment TEXT NOT NULL,"                 \
	" key_hash TEXT NOT NULL, input_tokens INTEGER NOT NULL,"                                  \
	" output_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, cost_source TEXT NOT NULL)"      \
	" STRICT;"                                                                                 \
	" CREATE INDEX spend_day ON spend (day);"                                                  \
	" CREATE INDEX spend_ts ON spend (ts_ms);"                                                 \
	" CREATE INDEX spend_key_ts ON spend (key_hash, ts_ms);"

/* Migration 3: every index is written on every call's commit, on the loop. Budget sums need
 * only ts_ms (a per-key sum filters that range, cached per period); the report's day scan is
 * a CLI command over at most months of rows. */
#define SPEND_LEAN_SQL "DROP INDEX IF EXISTS spend_day; DROP INDEX IF EXISTS spend_key_ts;"

/* Migration 4: rows whose cost is an estimate (a call cut, cancelled, timed out or over the
 * size cap before the provider's usage arrived). Older estimated rows said so in cost_source. */
#define SPEND_ESTIMATED_SQL                                                                        \
	"ALTER TABLE spend ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;"                       \
	" UPDATE spend SET estimated = 1 WHERE cost_source = 'estimate';"

/* Migration "spend-cache": the prompt tokens of each call that the provider read from its
 * prompt cache and wrote to it (both parts of input_tokens; 0 in rows from before). */
#define SPEND_CACHE_SQL                                                                            \
	"ALTER TABLE spend ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;"                   \
	" ALTER TABLE spend ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;"

/* Migration "spend-lane": the lane of each call ('' = none, and in rows from before). */
#define SPEND_LANE_SQL "ALTER TABLE spend ADD COLUMN lane TEXT NOT NULL DEFAULT '';"

/* The statements of the view spend's INSTEAD OF INSERT trigger that store NEW's strings and
 * its row (migrations spend-text and spend-minute). */
#define SPEND_INSERT_ROW_SQL                                                                       \
	" INSERT OR IGNORE INTO spend_text (text) VALUES (NEW.day), (NEW.model_group),"            \
	" (NEW.deployment), (NEW.key_hash), (NEW.cost_source), (COALESCE(NEW.lane, ''));"          \
	" INSERT INTO spend_row (id, ts_ms, day, model_group, deployment, key_hash, input_tokens," \
	" output_tokens, cost_usd, cost_source, estimated, cached_tokens, cache_write_tokens,"     \
	" lane) VALUES (NEW.id, NEW.ts_ms, (SELECT id FROM spend_text WHERE text = NEW.day),"      \
	" (SELECT id FROM spend_text WHERE text = NEW.model_group),"                               \
	" (SELECT id FROM spend_text WHERE text = NEW.deployment),"                                \
	" (SELECT id FROM spend_text WHERE text = NEW.key_hash), NEW.input_tokens,"                \
	" NEW.output_tokens, NEW.cost_usd,"                                                        \
	" (SELECT id FROM spend_text WHERE text = NEW.cost_source), COALESCE(NEW.estimated, 0),"   \
	" COALESCE(NEW.cached_tokens, 0), COALESCE(NEW.cache_write_tokens, 0),"                    \
	" (SELECT id FROM spend_text WHERE text = COALESCE(NEW.lane, '')));"

/* Migration "spend-text": each row's six strings (day, model_group, deployment, key_hash,
 * cost_source, lane) move to spend_text, stored once, and the row (spend_row) keeps their ids:
 * a quarter of the bytes a row cost to encode, log to the WAL and checkpoint, on every call
 * (docs/numbers.md, "The nineteenth look"). spend is now a view with the same columns in the
 * same order, so every reader (the reports, the budgets, a user's own SQL) reads what it read;
 * rows can still be inserted into it, and deleted from it, by its triggers. LEFT JOINs: a sum
 * that names no string column reads spend_row alone (SQLite drops a LEFT JOIN whose table is
 * unused and matches once), and a row is never hidden by its strings. Every stored row is
 * kept, with its id. */
#define SPEND_TEXT_SQL                                                                             \
	"CREATE TABLE spend_text (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE) STRICT;"      \
	" INSERT INTO spend_text (text) SELECT day FROM spend UNION SELECT model_group FROM spend" \
	" UNION SELECT deployment FROM spend UNION SELECT key_hash FROM spend"                     \
	" UNION SELECT cost_source FROM spend UNION SELECT lane FROM spend;"                       \
	" CREATE TABLE spend_row (id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"                 \
	" day INTEGER NOT NULL, model_group INTEGER NOT NULL, deployment INTEGER NOT NULL,"        \
	" key_hash INTEGER NOT NULL, input_tokens INTEGER NOT NULL,"                               \
	" output_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, cost_source INTEGER NOT NULL,"   \
	" estimated INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,"                             \
	" cache_write_tokens INTEGER NOT NULL, lane INTEGER NOT NULL) STRICT;"                     \
	" INSERT INTO spend_row SELECT s.id, s.ts_ms, d.id, g.id, p.id, k.id, s.input_tokens,"     \
	" s.output_tokens, s.cost_usd, c.id, s.estimated, s.cached_tokens,"                        \
	" s.cache_write_tokens, l.id FROM spend s JOIN spend_text d ON d.text = s.day"             \
	" JOIN spend_text g ON g.text = s.model_group JOIN spend_text p ON p.text = s.deployment"  \
	" JOIN spend_text k ON k.text = s.key_hash JOIN spend_text c ON c.text = s.cost_source"    \
	" JOIN spend_text l ON l.text = s.lane ORDER BY s.id;"                                     \
	" DROP TABLE spend;"                                                                       \
	" CREATE INDEX spend_row_ts ON spend_row (ts_ms);"                                         \
	" CREATE VIEW spend AS SELECT r.id AS id, r.ts_ms AS ts_ms, d.text AS day,"                \
	" g.text AS model_group, p.text AS deployment, k.text AS key_hash,"                        \
	" r.input_tokens AS input_tokens, r.output_tokens AS output_tokens,"                       \
	" r.cost_usd AS cost_usd, c.text AS cost_source, r.estimated AS estimated,"                \
	" r.cached_tokens AS cached_tokens, r.cache_write_tokens AS cache_write_tokens,"           \
	" l.text AS lane FROM spend_row r LEFT JOIN spend_text d ON d.id = r.day"                  \
	" LEFT JOIN spend_text g ON g.id = r.model_group"                                          \
	" LEFT JOIN spend_text p ON p.id = r.deployment LEFT JOIN spend_text k ON k.id = "         \
	"r.key_hash"                                                                               \
	" LEFT JOIN spend_text c ON c.id = r.cost_source LEFT JOIN spend_text l ON l.id = r.lane;" \
	" CREATE TRIGGER spend_insert INSTEAD OF INSERT ON spend BEGIN" SPEND_INSERT_ROW_SQL       \
	" END;"                                                                                    \
	" CREATE TRIGGER spend_delete INSTEAD OF DELETE ON spend BEGIN"                            \
	" DELETE FROM spend_row WHERE id = OLD.id; END;"

/* Migration "spend-minute": spend_row's index on ts_ms goes, and spend_minute says where each
 * minute's rows start: for every minute (ts_ms / 60000) that has a row, an id no greater than
 * the id of any row of that minute. Appended in time order, the index's last leaf was
 * rebalanced with its two siblings about seven times for every page it gained (SQLite moves
 * cells left until the siblings are even; only a table's rightmost leaf splits cheaply): 1.4k
 * of the committer's instructions a row. In all the index cost 2.3k of a proxied request's
 * 38.4k instructions and 3% of its CPU (docs/numbers.md, "The twenty-ninth look"). A time
 * range is now read as a range of ids (SPEND_SINCE) filtered by ts_ms, and the committer notes
 * each batch's minutes once (spend_held.c): a trigger per row cost more than the index did.
 * Rows written through the view spend note their minute themselves (its trigger); a row
 * inserted into spend_row by other SQL is summed only if a row of its minute or a later one
 * was written before it. Every row is kept; a query with its own ts_ms range still reads the
 * right rows, by a scan of the table. */
#define SPEND_MINUTE_SQL                                                                           \
	"CREATE TABLE spend_minute (minute INTEGER PRIMARY KEY, first_id INTEGER NOT NULL)"        \
	" STRICT;"                                                                                 \
	" INSERT INTO spend_minute SELECT ts_ms / 60000, MIN(id) FROM spend_row"                   \
	" GROUP BY ts_ms / 60000;"                                                                 \
	" DROP INDEX spend_row_ts;"                                                                \
	" DROP TRIGGER spend_insert;"                                                              \
	" CREATE TRIGGER spend_insert INSTEAD OF INSERT ON spend BEGIN" SPEND_INSERT_ROW_SQL       \
	" INSERT INTO spend_minute (minute, first_id)"                                             \
	" SELECT ts_ms / 60000, id FROM spend_row WHERE id = last_insert_rowid()"                  \
	" ON CONFLICT (minute) DO UPDATE SET first_id = excluded.first_id"                         \
	" WHERE excluded.first_id < spend_minute.first_id;"                                        \
	" END;"

/* The rows of spend_row from ts_ms `param` (an integer) on, and maybe some before (see
 * SPEND_MINUTE_SQL): the condition on ids that a query over a time range adds to its own on
 * ts_ms, so that SQLite reads a range of the table's ids instead of all of it. */
#define SPEND_SINCE(param)                                                                         \
	"id >= (SELECT MIN(first_id) FROM spend_minute WHERE minute >= " param " / 60000)"

#define SPEND_REPORT_MAX_DAYS 3660

/* Output tokens assumed for an attempt whose request, config and model name no limit. */
#define SPEND_DEFAULT_OUTPUT_TOKENS 4096

struct spend;

/* Creates the ledger on store (borrowed; must outlive it; spend_destroy flushes the store
 * when rows of it still wait for a lock) for cfg (borrowed, immutable) and
 * loads the totals of the current periods. Returns NULL, after logging why, only when the
 * spend table is unusable (schema missing); a failed read is logged and retried later. */
struct spend *spend_create(struct store *store, const struct config *cfg);
void spend_destroy(struct spend *s); /* accepts NULL */

/* One upstream call. Strings are borrowed for the call. */
struct spend_entry {
	int64_t ts_ms; /* when the call ended (wall clock) */
	const char *model_group, *deployment;
	const char *key_hash; /* SHA-256 hex of the caller's key, or "internal" in-process */
	int64_t input_tokens, output_tokens;
	int64_t cached_tokens, cache_write_tokens; /* parts of input_tokens */
	double cost_usd;
	const char *cost_source; /* "upstream" | "model_info" | "none" | "estimate" */
	bool estimated;		 /* no usage arrived: tokens and cost are estimates */
	const char *lane;	 /* the call's lane (docs/security.md), NULL = none */
};

/* Writes one row and adds the cost to the in-memory totals of the periods holding e->ts_ms.
 * On a loop the row joins the store's group commit (store_batch_hold: committed within
 * STORE_BATCH_MS with the other rows of that window; a batch rolled back is kept in the
 * totals as unsaved, as below, and logged), without one it is its own transaction.
 * Returns 0; -EINPROGRESS when another process holds the lock of
 * state.db: the row (copied) waits in store_write's queue and is written once the lock goes,
 * counted in the totals meanwhile and not again when it lands; or -EIO when the row could not
 * be written: the totals still include the cost (budgets fail closed, they never under-count)
 * and keep including it when a period's total is reloaded; the failure is logged once until
 * writes work again. A row given up while waiting (the lock outlived spend_destroy's last
 * try) is kept the same way and logged. */
int spend_record(struct spend *s, const struct spend_entry *e);

/* Called before each upstream call. Caps checked, in this order: budget.daily_usd,
 * budget.monthly_usd, litellm_settings.max_budget_usd per its budget_duration_s, then
 * key->max_budget_usd per key->budget_duration_s when key is not NULL (key_hash is its SHA-256
 * hex, computed when NULL; key is normally an element of cfg->keys). A cap of 0 means none; a
 * cap is reached when the period's total >= the cap.
 * Returns 0 when the call may go. Returns -EDQUOT when a cap is reached, with msg set to
 * LiteLLM's text "Budget has been exceeded! Current cost: <total>, Max budget: <cap>" (numbers
 * as Python prints floats: 0.5, 2.0, 0.40741249999999996) and *which set to the cap's short
 * name: "daily", "monthly", "max_budget" or "key:<alias, or the first 8 hex digits of the
 * hash>". Returns -EIO (fail closed: refuse the call as for -EDQUOT) when a capped period's
 * total cannot be read from the database, with msg saying so and *which set. msg (msg_len
 * bytes) and which may be NULL; on 0 msg is "" and *which NULL. *which points into s and is
 * valid until the next spend_check(). Returns -EBUSY when no cap is reached but the calls in
 * flight have reserved the rest of one (total + reserved >= cap): the call may wait for them to
 * settle; msg and *which are set as for -EDQUOT, msg ending "; calls in flight may add
 * <reserved>". Within a period no SQLite query is made. */
int spend_check(struct spend *s, const char *key_hash, const struct config_key *key, int64_t now_ms,
		char *msg, size_t msg_len, const char **which);

/* Which budget a refusal is of. */
enum spend_cap_kind {
	SPEND_CAP_DAY,	  /* budget.daily_usd: resets at local midnight (cfg's timezone) */
	SPEND_CAP_MONTH,  /* budget.monthly_usd: resets on the 1st, local midnight */
	SPEND_CAP_ROUTER, /* litellm_settings.max_budget per its budget_duration */
	SPEND_CAP_KEY,	  /* a declarative key's max_budget per its budget_duration */
};

/* The cap the last spend_check()/spend_reserve() refused (-EDQUOT or -EBUSY), for the person
 * told: which, what raises it, and when it resets. */
struct spend_refusal {
	enum spend_cap_kind kind;
	const char *config_key; /* static: "budget.daily_usd", "budget.monthly_usd",
				 * "litellm_settings.max_budget", or for a key "max_budget" */
	char key_name[72]; /* SPEND_CAP_KEY: its alias, or the first 8 hex digits of its hash */
	double spent_usd, max_usd, reserved_usd;
	int64_t resets_ms; /* when its period ends (wall ms); -1 = never (no budget_duration) */
	bool in_flight;	   /* not spent yet: calls in flight hold the rest (-EBUSY) */
};

/* Copies the last refusal into *out: 0, or -ENOENT when the last check or reservation was
 * not refused by a cap (it passed, or the ledger could not be read). s may be NULL. */
int spend_last_refusal(const struct spend *s, struct spend_refusal *out);

/* What a refusal tells a person, one paragraph into out (len bytes, cut if short): which
 * budget, spent of allowed, when it resets as local time in the process's zone (named
 * timezone, the config's) and how far away from now_ms, and which config key raises it. E.g.
 * "Today's budget is used up: $1.20 spent of the $1.00 a day that budget.daily_usd allows. It
 * resets at midnight, 2026-11-26 00:00 Europe/Berlin (in 3 h 20 min). To allow more, raise
 * budget.daily_usd in the config." (spend_note.c) */
void spend_refusal_text(const struct spend_refusal *r, const char *timezone, int64_t now_ms,
			char *out, size_t len);

/* The reservation of one attempt in flight: what it added to each capped period. Fields are
 * private; a zeroed hold is empty. */
struct spend_hold {
	double usd[4];
	int window[4];
	size_t n;
};

/* spend_check(), then, when the call may go, reserves est_usd (what the attempt may cost) in each
 * capped period until spend_release(hold). est_usd < 0 (or not finite) means unknown: the
 * attempt then reserves all that is left of each cap, so it runs alone until it settles. So the
 * calls that pass while others are in flight overshoot a cap by at most one call's estimate.
 * On error (-EDQUOT, -EBUSY, -EIO) hold is left empty. hold may be NULL (check only). */
int spend_reserve(struct spend *s, const char *key_hash, const struct config_key *key,
		  int64_t now_ms, double est_usd, struct spend_hold *hold, char *msg,
		  size_t msg_len, const char **which);
/* Takes the reservation back (the attempt ended; record its cost with spend_record). Accepts an
 * empty hold; leaves it empty. */
void spend_release(struct spend *s, struct spend_hold *hold);

/* The mean cost of the last 16 calls of deployment (model_info.id) within 7 days whose cost was
 * not estimated. The ledger is read once per deployment (at most 256), then kept up to date by
 * spend_record. Returns 0 with *mean_usd, or -ENOENT when there is no such call. */
int spend_deployment_mean(struct spend *s, const char *deployment, int64_t now_ms,
			  double *mean_usd);

/* What an attempt costs, estimated: prompt_bytes / 4 tokens at input_price plus output_tokens
 * at output_price (USD per token) when either price is known (> 0); else mean_usd, the
 * deployment's recent mean cost (< 0: none). Returns < 0 when neither is known. */
double spend_estimate_usd(size_t prompt_bytes, int64_t output_tokens, double input_price,
			  double output_price, double mean_usd);

/* Total of the local day / calendar month holding now_ms, all keys, in USD. */
double spend_day_usd(struct spend *s, int64_t now_ms);
double spend_month_usd(struct spend *s, int64_t now_ms);

/* Remaining budget for the litellm_remaining_api_key_budget_metric gauge: the cap minus the
 * spend of the current period (negative once overspent), or -1 when there is no cap. */
double spend_key_remaining_usd(struct spend *s, const char *key_hash, const struct config_key *key,
			       int64_t now_ms);
double spend_proxy_remaining_usd(struct spend *s, int64_t now_ms);

/* `hermetic spend [--days N]`: prints one line per local day and model group (calls, input
 * tokens, output tokens, cost, and how many of the calls have an estimated cost) for the last days
 * (1..SPEND_REPORT_MAX_DAYS) local days up to and including the day of now_ms, newest day first,
 * then a total line. Reads the database only, so it works beside a running daemon (WAL readers do
 * not block). Returns 0, -EINVAL for days out of range, or -EIO (logged). */
int spend_report(struct store *store, int days, int64_t now_ms, FILE *out);

/* The rows of spend_report, one call of cb per local day and model group, newest day first
 * (the cockpit's spend page: the same query as the command). Strings are borrowed for the
 * call. Returns 0, -EINVAL for days out of range, or -EIO (logged). */
struct spend_row {
	const char *day; /* YYYY-MM-DD */
	const char *model_group;
	const char *lane; /* "" = none */
	int64_t calls, input_tokens, cached_tokens, output_tokens, estimated;
	double cost_usd;
};
typedef void (*spend_row_cb)(const struct spend_row *r, void *arg);
int spend_report_each(struct store *store, int days, int64_t now_ms, spend_row_cb cb, void *arg);
/* Calls, tokens and cost of the local day and month holding now_ms (for /usage). */
struct spend_usage {
	int64_t calls, input_tokens, output_tokens;
	int64_t cached_tokens; /* of input_tokens, read from the provider's prompt cache */
	double cost_usd;
};
int spend_usage(struct store *store, int64_t now_ms, struct spend_usage *today,
		struct spend_usage *month);

#endif
