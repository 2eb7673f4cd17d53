/* pool: the rate-pool scheduler, as a pure module (values in, decisions out; no clock, no I/O).
 *
 * A pool is one provider account's ceiling (tokens and requests per minute, a sliding 60 s
 * window) that several deployments draw from. Every model call asks before it leaves: it
 * reserves its estimate (prompt + max output) in each pool it draws from, and settles to what
 * the provider billed afterwards. A call that does not fit waits in one queue ordered by class
 * (interactive first), then arrival. The reserve share of each pool is for interactive work
 * only; a waiter that has waited half its class's max_wait is served ahead of new arrivals
 * (aging: no class starves while room exists); past max_wait it expires and the caller falls
 * back or fails. What the provider says (rate headers, 429 with retry-after) shrinks a pool's
 * view until the stated reset, so other clients of the same account are accounted for.
 *
 * The caller (router.c) owns the clock and the timers: it passes now_ms to every function,
 * calls pool_run after anything that may free room (a settle, a cancel, a timer at
 * pool_next_wake) and acts on the events it returns. Decisions are documented in
 * docs/pools.md; tests: tests/test_pool.c.
 */
#ifndef HERMETIC_POOL_H
#define HERMETIC_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pool_class {
	POOL_INTERACTIVE, /* Telegram, cockpit, hermetic chat */
	POOL_API,	  /* the agent API and router clients */
	POOL_HOOK,
	POOL_SCHEDULED,	 /* cron, reminders, health checks, investigations */
	POOL_BACKGROUND, /* background tasks, subagents, memory condensation */
	POOL_CLASSES
};

/* "interactive", ...; NULL outside the enum. */
const char *pool_class_name(enum pool_class c);
/* The class named s (exact, lower case), or -1. */
int pool_class_parse(const char *s);

/* The class of a call from where it comes (router_caller's source and purpose, docs/pools.md):
 * "telegram...", "ui:..." (the cockpit), "cli" -> interactive; "hook:..." -> hook; "cron:...",
 * "reminder:...", "alert:..." (an Alertmanager investigation), "health..." -> scheduled;
 * "task:..." or the purposes "subagent", "task", "condense" -> background; anything else
 * ("api", "api:<user>", NULL) -> api. An auxiliary call (compression, title) has its turn's
 * source, so its turn's class. */
enum pool_class pool_class_of(const char *source, const char *purpose);

/* LiteLLM's request `priority` (an integer, lower first: 0 high, 128 medium, 255 low) as a
 * class: 0 interactive, 1-127 api, 128-191 hook, 192-254 scheduled, 255 and more background
 * (negative counts as 0). */
enum pool_class pool_class_of_priority(double priority);

/* One pool's ceiling; 0 = no limit of that kind. */
struct pool_limits {
	int64_t tpm, rpm;
};

struct pool_rules {
	int reserve_pct;		   /* 0..90: share only interactive work may use */
	int64_t max_wait_ms[POOL_CLASSES]; /* how long each class may wait; 0 = never waits */
	size_t max_waiters;		   /* queue bound; 0 = 1024 */
};

/* The defaults of docs/pools.md: reserve 30 %, waits 10/30/120/600/1800 s, 1024 waiters. */
void pool_rules_default(struct pool_rules *r);

/* What of a ceiling (tpm or rpm, >= 0) class c may use: all of it for interactive calls, the
 * rest less reserve_pct % (0..90) for the others. No overflow up to INT64_MAX. */
int64_t pool_share(int64_t limit, int reserve_pct, enum pool_class c);

#define POOL_MAX_PER_CALL 2 /* a deployment's configured pool and its own tpm/rpm */

struct pool_ask {
	uint64_t id; /* the caller's, unique among its live asks */
	enum pool_class cls;
	int64_t tokens; /* the estimate: prompt + max output */
	size_t n_pools;
	size_t pools[POOL_MAX_PER_CALL]; /* indexes into the limits given to pool_sched_new */
};

enum pool_verdict {
	POOL_GO,      /* reserved: send now, settle later */
	POOL_WAIT,    /* queued: a later pool_run grants or expires it */
	POOL_TOO_BIG, /* can never fit (over the class's ceiling of a pool): fall back or fail */
	POOL_FULL,    /* the queue is at max_waiters: fail now */
};

enum pool_event_kind { POOL_GRANTED, POOL_EXPIRED };

struct pool_event {
	uint64_t id;
	enum pool_event_kind kind;
	int64_t waited_ms;
};

struct pool_sched;

/* A scheduler over n pools (limits copied). */
struct pool_sched *pool_sched_new(const struct pool_rules *r, const struct pool_limits *limits,
				  size_t n);
void pool_sched_free(struct pool_sched *s);

/* Asks for room. GO reserves at once; WAIT queues the ask (served in class order, then
 * arrival; a new ask never overtakes a waiter of its pools that is ahead of it). An ask with
 * no pools is GO and holds nothing. */
enum pool_verdict pool_ask(struct pool_sched *s, const struct pool_ask *a, int64_t now_ms);

/* Whether pool_ask would answer POOL_GO for a now, without asking: it is valid, not too big,
 * no waiter of its pools is ahead of it and it fits each of them (tokens, requests, what the
 * provider said, blocks). For picking: a deployment whose pools cannot take the call now is
 * skipped when another of its group can. */
bool pool_would_go(const struct pool_sched *s, const struct pool_ask *a, int64_t now_ms);

/* Why an ask can never fit: the first of its pools whose ceiling, as its class may use it,
 * is below the ask. */
struct pool_ceiling {
	size_t pool;   /* index into the limits given to pool_sched_new */
	bool requests; /* the class's share of the rpm is below one request (else of the tpm) */
	int64_t limit; /* the configured ceiling: tpm, or rpm when requests */
	int64_t share; /* what of it the class may use: all for interactive, the rest less the
			* interactive reserve (reserve_pct) */
};

/* Whether a can never fit its pools whatever they hold: its tokens are above its class's share
 * of a pool's configured tpm, or that share of its rpm is below one request. What providers
 * said (pool_learn) does not count: it passes. When true and out is not NULL, *out says which
 * pool and share. An ask pool_ask answers POOL_TOO_BIG for (when valid) is one of these. */
bool pool_too_big(const struct pool_sched *s, const struct pool_ask *a, struct pool_ceiling *out);

/* Grants what fits now and expires what waited past its class's max_wait, in order; writes
 * up to max events to out and returns how many (call again while it returns max). */
size_t pool_run(struct pool_sched *s, int64_t now_ms, struct pool_event *out, size_t max);

/* When pool_run may next have something to do (room freeing as the window slides, a block
 * ending, a deadline), or -1 when nobody waits. */
int64_t pool_next_wake(const struct pool_sched *s, int64_t now_ms);

/* A stream's tokens so far: the reservation grows when the answer outgrows the estimate. */
void pool_progress(struct pool_sched *s, uint64_t id, int64_t tokens_so_far);

/* The call is over: the provider billed `billed` tokens (< 0: unknown, the estimate or the
 * tokens seen so far stay counted). The tokens count in the window from the grant on. */
void pool_settle(struct pool_sched *s, uint64_t id, int64_t billed, int64_t now_ms);

/* A waiter gives up (its client went away); no-op for a granted or unknown id. */
void pool_cancel(struct pool_sched *s, uint64_t id);

/* What the provider said of the account: tokens and requests left (< 0: not said) until
 * reset_ms, in the answer of call `answered` (0: none). Until then a pool's room is also
 * bounded by that, less what we granted since and what was in flight when it said it (it may
 * not have counted those yet). Settle the call whose answer said it first. Within a second of
 * a lower figure a figure no lower is not taken (an answer that overtook another said it
 * later), but it shows the provider had counted its own call when it said the lower one: if
 * that call was in flight then, it no longer counts as sent since. */
void pool_learn(struct pool_sched *s, size_t pool, uint64_t answered, int64_t tokens_left,
		int64_t requests_left, int64_t reset_ms, int64_t now_ms);

/* What one answer's headers say of the account (each -1 when not said). */
struct pool_rate_info {
	int64_t tokens_left, requests_left;
	int64_t reset_ms; /* absolute: when the window is back to full (the later of the two) */
	int64_t retry_after_ms; /* absolute: retry-after / retry-after-ms of a 429 */
};

void pool_rate_info_init(struct pool_rate_info *ri);
/* Reads one header into ri if it is a rate header: OpenAI's x-ratelimit-remaining-{tokens,
 * requests} and x-ratelimit-reset-{tokens,requests} (durations such as 9ms, 1.4s, 6m0s, or
 * plain seconds), Anthropic's anthropic-ratelimit-{tokens,requests}-{remaining,reset} (reset
 * as RFC 3339), retry-after (seconds) and retry-after-ms. now_ms is the wall clock (epoch ms,
 * for Anthropic's timestamps). Returns true if the header was one of these and well formed;
 * anything else leaves ri as it was. */
bool pool_rate_header(const char *name, const char *value, int64_t now_ms,
		      struct pool_rate_info *ri);

/* A 429 with retry-after: nothing is granted from the pool before until_ms. */
void pool_block(struct pool_sched *s, size_t pool, int64_t until_ms);

struct pool_view {
	int64_t tpm, rpm;
	int64_t used_tokens, used_requests; /* settled and granted, in the last 60 s */
	int64_t reserved_tokens;	    /* in flight, not yet settled */
	int64_t in_flight;
	int64_t blocked_until_ms;    /* 0: not blocked */
	int64_t learned_tokens_left; /* -1: nothing learned, or it reset */
	size_t queued[POOL_CLASSES];
	/* what interactive calls alone settled in the last 60 s, and the most they held in any
	 * 60 s of the last hour: a reserve (reserve_tokens) below that peak means interactive
	 * turns wait after a burst of other work (docs/pools.md, "Sizing the reserve") */
	int64_t interactive_tokens, interactive_requests, interactive_peak_tokens;
	int64_t reserve_tokens;
};

void pool_view(const struct pool_sched *s, size_t pool, int64_t now_ms, struct pool_view *v);

/* How long until the ask would fit its pools (tokens, requests and blocks), ignoring the calls
 * to come and the queue: for the retry-after of a call that does not wait (ms; 0 = fits now;
 * -1 = not by the window sliding alone). */
int64_t pool_room_in(const struct pool_sched *s, const struct pool_ask *a, int64_t now_ms);

/* About how long the waiter id may still wait (ms, for progress lines): until enough of the
 * window frees for it, ignoring arrivals to come; -1 if it is not waiting. */
int64_t pool_wait_estimate(const struct pool_sched *s, uint64_t id, int64_t now_ms);

#endif
