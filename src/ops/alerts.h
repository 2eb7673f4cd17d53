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
 * A send a channel refuses (or that times out) is tried again after alerts.retry_after,
 * doubling, up to alerts.send_attempts tries, each channel on its own: a channel that took the
 * message is never sent it again. A message no channel took leaves its key un-notified, so the
 * watches report it again. What was announced survives a restart (home/alerts-state.json):
 * a condition still firing stays quiet within alerts.dedupe, one that cleared while the
 * process was down is announced resolved, never fired again.
 *
 * Single-threaded (the loop). Nothing here blocks on the network: sends and balance reads are
 * httpc requests, the store's health write goes through store_kv_put (queued when the
 * database is locked); the state file is a few hundred bytes written atomically when an
 * alert's state changes (at most alerts.max_per_hour times an hour, and per cron run).
 */
#ifndef HERMETIC_ALERTS_H
#define HERMETIC_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router/balance.h"

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
/* The state after the report: sent says whether a message went out. A resolved report clears
 * the key when sent, or when its firing was never announced; one announced and not sent
 * leaves it firing and notified, so the next report says resolved again. */
void alert_update(struct alert_state *s, bool resolved, bool sent, int64_t now_ms);

/* Whether a provider balance is an alert: an account not available for API calls, or less
 * than min_usd left; never when min_usd is 0 (alerts.balance_min_usd: 0 = no alert). */
bool alert_balance_low(bool available, bool has_remaining, double remaining_usd, double min_usd);

/* A sliding-window rate limit: at most cap events within window_ms. Fields are private. */
struct alert_rate {
	int64_t *t; /* ring of the last cap event times */
	size_t cap, n, head;
};
void alert_rate_init(struct alert_rate *r, size_t cap);
void alert_rate_finish(struct alert_rate *r); /* accepts a zeroed one */
/* True (and the event counted) when one more event at now_ms stays within the limit. */
bool alert_rate_take(struct alert_rate *r, int64_t now_ms, int64_t window_ms);

/* ---- retries ---------------------------------------------------------------------------- */

#define ALERT_RETRY_MAX_MS    (15 * 60 * 1000) /* the longest wait before a retry */
#define ALERT_RETRY_QUEUE_MAX 32	       /* sends waiting for a retry, all channels */

/* The wait before retry n (1 = the first) of a failed send: first_ms doubled per retry, at
 * most ALERT_RETRY_MAX_MS. */
int64_t alert_retry_delay_ms(int retry, int64_t first_ms);
/* Whether a send whose tries so far (attempts, >= 1) all failed is tried again: fewer than
 * max_attempts tries, and a place among the waiting (fewer than ALERT_RETRY_QUEUE_MAX). */
bool alert_retry_allowed(int attempts, int64_t max_attempts, size_t waiting);

/* ---- what survives a restart (home/alerts-state.json) ------------------------------------ */

#define ALERT_KEY_LEN	      96
#define ALERT_SAVED_KEYS      512
#define ALERT_SAVED_JOBS      128
#define ALERT_STATE_MAX_BYTES (256 * 1024)

/* The keys whose firing went out, with the wall clock time of its last send, and the cron
 * jobs failing in a row. Fields are plain values; a zeroed one is empty. */
struct alert_saved {
	struct {
		char key[ALERT_KEY_LEN];
		int64_t sent_wall_ms;
	} keys[ALERT_SAVED_KEYS];
	size_t n_keys;
	struct {
		char job[ALERT_KEY_LEN];
		int fails;
	} jobs[ALERT_SAVED_JOBS];
	size_t n_jobs;
};

/* The file's JSON (a new string). */
char *alert_state_encode(const struct alert_saved *s);
/* Fills s (zeroed first) from the file's text. Entries that are not well formed are skipped;
 * -EINVAL when the text is not the file's JSON at all, or has more than white space after it
 * (the file is written whole, so such a file is not what was written). */
int alert_state_decode(const char *json, size_t len, struct alert_saved *s);
/* The monotonic time of a send at sent_wall_ms seen now: as long ago as the wall clock says,
 * and never in the future (a wall clock stepped back counts it as sent now). */
int64_t alert_restore_mono(int64_t sent_wall_ms, int64_t now_wall_ms, int64_t now_mono_ms);

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

/* The last balance read of one provider account (the numbers of the hermetic_provider_*
 * gauges). Strings borrowed from the alerts until the next read. */
struct alerts_balance {
	const char *provider, *account; /* "openrouter", the first model group using the key */
	bool read;			/* a read has finished since start */
	bool ok;			/* ... and it succeeded: b holds its numbers */
	struct balance b;
	int64_t read_ms;   /* wall clock of that read */
	const char *error; /* of a failed read ("" otherwise) */
};

/* The accounts the balance watch reads (at most max, config order) as of their last read:
 * no request is made. Returns how many were written (0 for a NULL a). */
size_t alerts_balances(const struct alerts *a, struct alerts_balance *out, size_t max);

/* Borrows cfg, loop and metrics (may be NULL) for its life. Registers its metric families.
 * Nothing runs until alerts_start. */
struct alerts *alerts_create(const struct config *cfg, struct loop *loop, struct metrics *metrics);
/* Reads home/alerts-state.json (what was announced before a restart), arms the watch timer
 * (first check after a few seconds) and the balance timer. */
void alerts_start(struct alerts *a, const struct alerts_sources *src);
/* Tests: the monotonic and wall clocks the module reads (ms), instead of the process's. Call
 * before alerts_start. */
void alerts_set_clock(struct alerts *a, int64_t (*mono_ms)(void *arg),
		      int64_t (*wall_ms)(void *arg), void *arg);
/* Stops the timers; sends still in flight finish without it (their answers are only freed),
 * and the newest state and heartbeat files are still written on a worker (loop_destroy waits
 * for them). Accepts NULL. */
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
