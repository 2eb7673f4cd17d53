/* alerts: the gateway's alerts that do not depend on Telegram (alerts: in the config). Sources
 * report a condition by a stable key ("breaker", "telegram_poller", "cron:backup",
 * "mcp:kubernetes", "budget:daily", "balance:openrouter:free"); the module decides whether it
 * is worth a message (deduplication, rate limits) and sends it through every alerts.channels[]
 * entry asynchronously (net/notify.h). A condition that clears is announced as resolved once,
 * when its firing was announced.
 *
 * It also watches, on a timer: the Telegram poller (no successful poll for
 * alerts.poller_down_after: sent through the channels only, never Telegram), MCP servers down
 * for alerts.mcp_down_after, the daily and monthly budgets, the bleed breaker, the provider
 * balances (router/balance.h) every alerts.balance_interval, and writes the heartbeat
 * (home/heartbeat.json, alerts.heartbeat_url) while the process is healthy.
 *
 * Single-threaded (the loop). Nothing here blocks: sends and balance reads are httpc requests,
 * the store's health write goes through store_kv_put (queued when the database is locked).
 */
#ifndef HERMETIC_ALERTS_H
#define HERMETIC_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct breaker;
struct config;
struct loop;
struct mcp;
struct metrics;
struct spend;
struct store;
struct telegram;

/* ---- the decisions, as pure functions (tests/test_alerts.c) ------------------------------ */

/* What the module remembers of one key. Zeroed = never seen. */
struct alert_state {
	bool firing;	      /* the condition holds */
	bool notified;	      /* its firing went out through at least one channel */
	int64_t last_sent_ms; /* when its firing was last sent (monotonic) */
};

enum alert_verdict {
	ALERT_SEND,	 /* send a message */
	ALERT_DUPLICATE, /* firing, and said so within the dedupe window */
	ALERT_QUIET,	 /* resolved, but nobody was told it fired: nothing to say */
};

/* Whether a report (fire, or resolved) for a key in state s at now_ms is sent. */
enum alert_verdict alert_decide(const struct alert_state *s, bool resolved, int64_t now_ms,
				int64_t dedupe_ms);
/* The state after the report: sent says whether a message went out. */
void alert_update(struct alert_state *s, bool resolved, bool sent, int64_t now_ms);

/* A sliding-window rate limit: at most cap events within window_ms. Fields are private. */
struct alert_rate {
	int64_t *t; /* ring of the last cap event times */
	size_t cap, n, head;
};
void alert_rate_init(struct alert_rate *r, size_t cap);
void alert_rate_finish(struct alert_rate *r); /* accepts a zeroed one */
/* True (and the event counted) when one more event at now_ms stays within the limit. */
bool alert_rate_take(struct alert_rate *r, int64_t now_ms, int64_t window_ms);

/* ---- the module -------------------------------------------------------------------------- */

struct alerts;

/* What the watches read; each may be NULL (that watch is off). Borrowed for the module's
 * life. */
struct alerts_sources {
	struct breaker *breaker;
	struct telegram *tg;
	struct mcp *mcp;
	struct spend *spend;
	struct store *store;
};

/* Borrows cfg, loop and metrics (may be NULL) for its life. Registers its metric families.
 * Nothing runs until alerts_start. */
struct alerts *alerts_create(const struct config *cfg, struct loop *loop, struct metrics *metrics);
/* Arms the watch timer (first check after a few seconds) and the balance timer. */
void alerts_start(struct alerts *a, const struct alerts_sources *src);
/* Stops the timers; sends still in flight finish without it (their answers are only freed).
 * Accepts NULL. */
void alerts_destroy(struct alerts *a);

/* A condition holds (fire) or cleared (resolve). key is a stable id (copied); title one line,
 * text the details (both copied, redacted before they leave). */
void alerts_fire(struct alerts *a, const char *key, const char *title, const char *text);
void alerts_resolve(struct alerts *a, const char *key, const char *text);

/* The bleed breaker opened: why and until when (a readable time). */
void alerts_breaker_trip(struct alerts *a, const char *why, const char *until);
/* A job run ended (source "cron:<name>", "hook:<name>"...): a cron job failing twice in a row
 * fires "cron:<name>"; its next success resolves it. */
void alerts_job_done(struct alerts *a, const char *source, bool ok, const char *text);

#endif
