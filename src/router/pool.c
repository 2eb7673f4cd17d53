/* pool: the rate-pool scheduler (see pool.h): sliding windows, reservations, the class-ordered
 * queue, aging and expiry, and what providers say of the account. Owns no clock and no timers;
 * router.c drives it. */
#include "router/pool.h"

#include "core/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A call counts from the second of its grant for 60 more whole seconds: 60 to 61 s, never less
 * than a provider's exact sliding minute. */
#define WINDOW_S	    60
#define RING		    (WINDOW_S + 1)
#define DEFAULT_MAX_WAITERS 1024
#define STALE_LEARN_MS	    1000
#define PEAK_KEEP_MS	    (3600 * 1000) /* the interactive peak is of the last hour */

struct bucket {
	int64_t sec; /* the second this bucket counts; older content is gone */
	int64_t tokens, requests;
};

/* A window of RING one-second buckets with its sums kept: tokens and requests are the sums of
 * the buckets in the window that ends at second `sec` (the newest an add has seen), so a call's
 * admission reads them and subtracts the few seconds slid out since, instead of adding up 61
 * buckets (1.4k instructions of each governed request did that). */
struct ring {
	struct bucket b[RING];
	int64_t sec, tokens, requests;
};

struct pool {
	struct pool_limits lim;
	struct ring win;
	struct ring iwin;	 /* interactive calls' tokens alone: what the chat uses */
	int64_t ipeak, ipeak_ms; /* the most iwin held (a peak older than an hour is dropped) */
	int64_t reserved;	 /* tokens of the calls in flight */
	int64_t in_flight;
	int64_t blocked_until;
	/* what the provider said, and what we granted since it said it */
	int64_t learned_tokens, learned_requests, learned_reset, learned_at;
	int64_t since_tokens, since_requests;
	/* our own window when it said it: as those calls slide out of the provider's window too,
	 * what it said is left grows back by them (learned_back). A copy, not a sum: calls in
	 * flight then settle into these seconds later, and are counted in since_tokens. */
	int64_t learned_sec;
	struct bucket learned_win[RING];
	/* the call settled last, if it was in flight when the provider said it: what it put in
	 * since_tokens then (an answer of it that is no lower shows it was counted; pool_learn) */
	uint64_t answer_id;
	int64_t answer_tokens;
};

struct call {
	uint64_t id;
	uint64_t seq;
	enum pool_class cls;
	int64_t tokens;
	int64_t t_ms; /* arrival (a waiter) or grant (in flight) */
	size_t n_pools;
	size_t pools[POOL_MAX_PER_CALL];
	/* bit i: in flight when pools[i]'s provider last said what is left, which put in_since[i]
	 * tokens in its since_tokens */
	unsigned since_mask;
	int64_t in_since[POOL_MAX_PER_CALL];
};

struct pool_sched {
	struct pool_rules rules;
	struct pool *pools;
	size_t n_pools;
	struct call *waiters; /* in arrival order */
	size_t n_waiters, cap_waiters;
	struct call *flights;
	size_t n_flights, cap_flights;
	uint64_t seq;
};

static const char *const class_names[POOL_CLASSES] = {"interactive", "api", "hook", "scheduled",
						      "background"};

const char *pool_class_name(enum pool_class c)
{
	return (unsigned)c < POOL_CLASSES ? class_names[c] : NULL;
}

int pool_class_parse(const char *s)
{
	for (int i = 0; s && i < POOL_CLASSES; i++)
		if (strcmp(s, class_names[i]) == 0)
			return i;
	return -1;
}

/* s is prefix (n bytes) or starts with it and a ':'. The first byte first: every call's class
 * is looked up, and most sources match none. */
static bool has_prefix(const char *s, const char *prefix, size_t n)
{
	return s[0] == prefix[0] && strncmp(s, prefix, n) == 0 && (s[n] == '\0' || s[n] == ':');
}

enum pool_class pool_class_of(const char *source, const char *purpose)
{
#define SOURCE(lit, cls)                                                                           \
	{                                                                                          \
		lit, sizeof(lit) - 1, cls                                                          \
	}
	static const struct {
		const char *prefix;
		size_t len;
		enum pool_class cls;
	} by_source[] = {
		SOURCE("telegram", POOL_INTERACTIVE), SOURCE("ui", POOL_INTERACTIVE),
		SOURCE("cli", POOL_INTERACTIVE),      SOURCE("hook", POOL_HOOK),
		SOURCE("cron", POOL_SCHEDULED),	      SOURCE("reminder", POOL_SCHEDULED),
		SOURCE("alert", POOL_SCHEDULED),      SOURCE("health", POOL_SCHEDULED),
		SOURCE("task", POOL_BACKGROUND),
	};
#undef SOURCE
	static const char *const background[] = {"subagent", "task", "condense"};
	size_t i;

	for (i = 0; purpose && i < sizeof(background) / sizeof(background[0]); i++)
		if (strcmp(purpose, background[i]) == 0)
			return POOL_BACKGROUND;
	for (i = 0; source && i < sizeof(by_source) / sizeof(by_source[0]); i++)
		if (has_prefix(source, by_source[i].prefix, by_source[i].len))
			return by_source[i].cls;
	return POOL_API;
}

enum pool_class pool_class_of_priority(double priority)
{
	if (!(priority >= 1)) /* NaN and negatives too */
		return POOL_INTERACTIVE;
	if (priority < 128)
		return POOL_API;
	if (priority < 192)
		return POOL_HOOK;
	if (priority < 255)
		return POOL_SCHEDULED;
	return POOL_BACKGROUND;
}

void pool_rules_default(struct pool_rules *r)
{
	static const int64_t waits_s[POOL_CLASSES] = {10, 30, 120, 600, 1800};

	memset(r, 0, sizeof(*r));
	r->reserve_pct = 30;
	for (int i = 0; i < POOL_CLASSES; i++)
		r->max_wait_ms[i] = waits_s[i] * 1000;
	r->max_waiters = DEFAULT_MAX_WAITERS;
}

struct pool_sched *pool_sched_new(const struct pool_rules *r, const struct pool_limits *limits,
				  size_t n)
{
	struct pool_sched *s = xcalloc(1, sizeof(*s));

	s->rules = *r;
	if (s->rules.reserve_pct < 0)
		s->rules.reserve_pct = 0;
	if (s->rules.reserve_pct > 90)
		s->rules.reserve_pct = 90;
	if (!s->rules.max_waiters)
		s->rules.max_waiters = DEFAULT_MAX_WAITERS;
	s->pools = xcalloc(n ? n : 1, sizeof(*s->pools));
	s->n_pools = n;
	for (size_t i = 0; i < n; i++) {
		s->pools[i].lim = limits[i];
		s->pools[i].learned_tokens = s->pools[i].learned_requests = -1;
	}
	return s;
}

void pool_sched_free(struct pool_sched *s)
{
	if (!s)
		return;
	free(s->pools);
	free(s->waiters);
	free(s->flights);
	free(s);
}

/* ---- the window ---- */

static int64_t sec_of(int64_t ms)
{
	return ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
}

static bool in_window(int64_t sec, int64_t now_sec)
{
	return sec <= now_sec && now_sec - sec <= WINDOW_S;
}

/* The bucket of second sec in a ring (sec may be negative). */
static int slot(int64_t sec)
{
	return (int)(((sec % RING) + RING) % RING);
}

/* The buckets of the window ending at now_sec, added up one by one. */
static void ring_sum_all(const struct ring *r, int64_t now_sec, int64_t *tokens, int64_t *requests)
{
	*tokens = *requests = 0;
	for (int i = 0; i < RING; i++) {
		if (in_window(r->b[i].sec, now_sec)) {
			*tokens += r->b[i].tokens;
			*requests += r->b[i].requests;
		}
	}
}

/* The sums of the window ending at now_sec. From r's kept sums: no bucket is newer than r->sec
 * (every add moves r->sec first), so the window moved on only loses the seconds that slid out;
 * a clock read before r->sec (or over a window behind it) adds up the buckets. */
static void ring_sum_at(const struct ring *r, int64_t now_sec, int64_t *tokens, int64_t *requests)
{
	if (now_sec < r->sec || now_sec - r->sec >= RING) {
		ring_sum_all(r, now_sec, tokens, requests);
		return;
	}
	*tokens = r->tokens;
	*requests = r->requests;
	for (int64_t sec = r->sec - WINDOW_S; sec < now_sec - WINDOW_S; sec++) {
		const struct bucket *b = &r->b[slot(sec)];

		if (b->sec == sec) {
			*tokens -= b->tokens;
			*requests -= b->requests;
		}
	}
}

static void ring_sum(const struct ring *r, int64_t now_ms, int64_t *tokens, int64_t *requests)
{
	ring_sum_at(r, sec_of(now_ms), tokens, requests);
}

static void ring_add(struct ring *r, int64_t t_ms, int64_t now_ms, int64_t tokens, int64_t requests)
{
	int64_t sec = sec_of(t_ms), now_sec = sec_of(now_ms);
	struct bucket *b = &r->b[slot(sec)];

	if (now_sec > r->sec) {
		ring_sum_at(r, now_sec, &r->tokens, &r->requests);
		r->sec = now_sec;
	}
	if (!in_window(sec, now_sec) || b->sec > sec)
		return; /* already out of the window */
	if (b->sec < sec) {
		if (in_window(b->sec, r->sec)) {
			r->tokens -= b->tokens;
			r->requests -= b->requests;
		}
		b->sec = sec;
		b->tokens = b->requests = 0;
	}
	b->tokens += tokens;
	b->requests += requests;
	if (in_window(sec, r->sec)) {
		r->tokens += tokens;
		r->requests += requests;
	}
}

static void window_add(struct pool *p, int64_t t_ms, int64_t now_ms, int64_t tokens,
		       int64_t requests)
{
	ring_add(&p->win, t_ms, now_ms, tokens, requests);
}

static void window_sum(const struct pool *p, int64_t now_ms, int64_t *tokens, int64_t *requests)
{
	ring_sum(&p->win, now_ms, tokens, requests);
}

/* An interactive call settled: its tokens count in iwin, and the peak follows. */
static void interactive_add(struct pool *p, int64_t t_ms, int64_t now_ms, int64_t tokens)
{
	int64_t held, requests;

	ring_add(&p->iwin, t_ms, now_ms, tokens, 1);
	ring_sum(&p->iwin, now_ms, &held, &requests);
	if (held >= p->ipeak || now_ms - p->ipeak_ms > PEAK_KEEP_MS) {
		p->ipeak = held;
		p->ipeak_ms = now_ms;
	}
}

/* ---- fitting ---- */

int64_t pool_share(int64_t limit, int reserve_pct, enum pool_class c)
{
	/* limit * pct / 100 without the product: a deployment's tpm may be up to INT64_MAX */
	int64_t reserve = limit / 100 * reserve_pct + limit % 100 * reserve_pct / 100;

	return c == POOL_INTERACTIVE ? limit : limit - reserve;
}

static int64_t share(int64_t limit, const struct pool_sched *s, enum pool_class c)
{
	return pool_share(limit, s->rules.reserve_pct, c);
}

static bool learned_active(const struct pool *p, int64_t now_ms)
{
	return p->learned_reset > now_ms;
}

/* What of our own window at the provider's figure has slid out since. */
static void learned_back(const struct pool *p, int64_t now_ms, int64_t *tokens, int64_t *requests)
{
	int64_t now_sec = sec_of(now_ms);

	*tokens = *requests = 0;
	for (int i = 0; i < RING; i++) {
		const struct bucket *b = &p->learned_win[i];

		if (in_window(b->sec, p->learned_sec) && !in_window(b->sec, now_sec)) {
			*tokens += b->tokens;
			*requests += b->requests;
		}
	}
}

/* What the provider's figure allows now: what it said was left, less what we sent since,
 * plus what of our own window at that moment has slid out since (the provider's sliding
 * window drops those calls too; ours drops a second later, so never early). Other clients'
 * use is taken as staying what it was until the reset, and calls in flight when it spoke
 * count as sent since (it may have counted them already): both err on the side of less. */
static void learned_room(const struct pool *p, int64_t now_ms, int64_t *tokens, int64_t *requests)
{
	int64_t back_t, back_r;

	learned_back(p, now_ms, &back_t, &back_r);
	*tokens = p->learned_tokens < 0 ? -1 : p->learned_tokens - p->since_tokens + back_t;
	*requests = p->learned_requests < 0 ? -1 : p->learned_requests - p->since_requests + back_r;
}

static bool fits_pool(const struct pool_sched *s, const struct pool *p, enum pool_class c,
		      int64_t tokens, int64_t now_ms)
{
	int64_t used_t, used_r;

	if (p->blocked_until > now_ms)
		return false;
	window_sum(p, now_ms, &used_t, &used_r);
	if (p->lim.tpm > 0 && used_t + p->reserved + tokens > share(p->lim.tpm, s, c))
		return false;
	if (p->lim.rpm > 0 && used_r + 1 > share(p->lim.rpm, s, c))
		return false;
	if (learned_active(p, now_ms)) {
		/* what the provider's figure allows now, less the reserve for others */
		int64_t room_t, room_r;

		learned_room(p, now_ms, &room_t, &room_r);
		/* below 0 when more is in flight than it said was left: no room either */
		if (p->learned_tokens >= 0 &&
		    tokens > room_t - (p->lim.tpm - share(p->lim.tpm, s, c)))
			return false;
		if (p->learned_requests >= 0 && 1 > room_r - (p->lim.rpm - share(p->lim.rpm, s, c)))
			return false;
	}
	return true;
}

static bool fits(const struct pool_sched *s, const struct call *c, int64_t now_ms)
{
	for (size_t i = 0; i < c->n_pools; i++)
		if (!fits_pool(s, &s->pools[c->pools[i]], c->cls, c->tokens, now_ms))
			return false;
	return true;
}

bool pool_too_big(const struct pool_sched *s, const struct pool_ask *a, struct pool_ceiling *out)
{
	struct pool_ceiling c = {0};
	bool found = false;

	for (size_t i = 0; i < a->n_pools && i < POOL_MAX_PER_CALL && !found; i++) {
		const struct pool *p;

		if (a->pools[i] >= s->n_pools || (unsigned)a->cls >= POOL_CLASSES)
			continue;
		p = &s->pools[a->pools[i]];
		c.pool = a->pools[i];
		if (p->lim.tpm > 0 && a->tokens > share(p->lim.tpm, s, a->cls)) {
			c.limit = p->lim.tpm;
			c.share = share(p->lim.tpm, s, a->cls);
			found = true;
		} else if (p->lim.rpm > 0 && share(p->lim.rpm, s, a->cls) < 1) {
			c.requests = true;
			c.limit = p->lim.rpm;
			c.share = share(p->lim.rpm, s, a->cls);
			found = true;
		}
	}
	if (found && out)
		*out = c;
	return found;
}

static void grant(struct pool_sched *s, const struct call *c, int64_t now_ms)
{
	struct call *f;

	if (s->n_flights == s->cap_flights) {
		s->cap_flights = s->cap_flights ? s->cap_flights * 2 : 16;
		s->flights = xrealloc(s->flights, s->cap_flights * sizeof(*s->flights));
	}
	f = &s->flights[s->n_flights++];
	*f = *c;
	f->t_ms = now_ms;
	for (size_t i = 0; i < c->n_pools; i++) {
		struct pool *p = &s->pools[c->pools[i]];

		p->reserved += c->tokens;
		p->in_flight++;
		window_add(p, now_ms, now_ms, 0, 1);
		if (learned_active(p, now_ms)) {
			p->since_tokens += c->tokens;
			p->since_requests++;
		}
	}
}

/* ---- the queue ---- */

/* Order: aged waiters first (they waited half their class's max_wait), then class, then
 * arrival. */
static int rank(const struct pool_sched *s, const struct call *w, int64_t now_ms)
{
	int64_t mw = s->rules.max_wait_ms[w->cls];

	return mw > 0 && now_ms - w->t_ms >= mw / 2 ? -1 : (int)w->cls;
}

static bool shares_pool(const struct call *a, const struct call *b)
{
	for (size_t i = 0; i < a->n_pools; i++)
		for (size_t j = 0; j < b->n_pools; j++)
			if (a->pools[i] == b->pools[j])
				return true;
	return false;
}

static bool valid_ask(const struct pool_sched *s, const struct pool_ask *a)
{
	if (a->n_pools > POOL_MAX_PER_CALL || (unsigned)a->cls >= POOL_CLASSES || a->tokens < 0)
		return false;
	for (size_t i = 0; i < a->n_pools; i++)
		if (a->pools[i] >= s->n_pools)
			return false;
	return true;
}

/* The ask as a call of the queue; false when it is not valid. */
static bool call_of(const struct pool_sched *s, const struct pool_ask *a, int64_t now_ms,
		    struct call *c)
{
	if (!valid_ask(s, a))
		return false;
	memset(c, 0, sizeof(*c));
	c->id = a->id;
	c->cls = a->cls;
	c->tokens = a->tokens;
	c->t_ms = now_ms;
	c->n_pools = a->n_pools;
	memcpy(c->pools, a->pools, a->n_pools * sizeof(a->pools[0]));
	return true;
}

/* Whether c goes now: no waiter of its pools ranked at or above its class is ahead of it (that
 * one is served first) and it fits every pool. */
static bool goes_now(const struct pool_sched *s, const struct call *c, int64_t now_ms)
{
	for (size_t i = 0; i < s->n_waiters; i++)
		if (rank(s, &s->waiters[i], now_ms) <= (int)c->cls &&
		    shares_pool(&s->waiters[i], c))
			return false;
	return fits(s, c, now_ms);
}

bool pool_would_go(const struct pool_sched *s, const struct pool_ask *a, int64_t now_ms)
{
	struct call c;

	return call_of(s, a, now_ms, &c) && !pool_too_big(s, a, NULL) && goes_now(s, &c, now_ms);
}

enum pool_verdict pool_ask(struct pool_sched *s, const struct pool_ask *a, int64_t now_ms)
{
	struct call c;

	if (!call_of(s, a, now_ms, &c) || pool_too_big(s, a, NULL))
		return POOL_TOO_BIG;
	c.seq = ++s->seq;
	if (goes_now(s, &c, now_ms)) {
		grant(s, &c, now_ms);
		return POOL_GO;
	}
	if (s->rules.max_wait_ms[c.cls] <= 0 || s->n_waiters >= s->rules.max_waiters)
		return POOL_FULL;
	if (s->n_waiters == s->cap_waiters) {
		s->cap_waiters = s->cap_waiters ? s->cap_waiters * 2 : 16;
		s->waiters = xrealloc(s->waiters, s->cap_waiters * sizeof(*s->waiters));
	}
	s->waiters[s->n_waiters++] = c;
	return POOL_WAIT;
}

static void drop_waiter(struct pool_sched *s, size_t i)
{
	memmove(&s->waiters[i], &s->waiters[i + 1], (s->n_waiters - i - 1) * sizeof(*s->waiters));
	s->n_waiters--;
}

/* pool_run considers the queue lowest (rank, seq) first. rank depends only on the waiter and
 * the time, and the queue is in seq order (appended with a rising seq; removals keep the order),
 * so a stable bucketing by rank gives the order that a scan for the next lowest gave, in O(n)
 * instead of O(n^2) (1,024 waiters, max_waiters' default, were a million rank() calls a run
 * on the loop). Ranks are -1 (aged) .. POOL_CLASSES - 1. */
enum { RANKS = POOL_CLASSES + 1 };

static void queue_order(const struct pool_sched *s, int64_t now_ms, size_t *order)
{
	size_t start[RANKS + 1] = {0};
	unsigned char *r = xcalloc(s->n_waiters ? s->n_waiters : 1, 1);

	for (size_t i = 0; i < s->n_waiters; i++) {
		r[i] = (unsigned char)(rank(s, &s->waiters[i], now_ms) + 1);
		start[r[i] + 1]++;
	}
	for (int k = 0; k < RANKS; k++)
		start[k + 1] += start[k];
	for (size_t i = 0; i < s->n_waiters; i++)
		order[start[r[i]]++] = i;
	free(r);
}

size_t pool_run(struct pool_sched *s, int64_t now_ms, struct pool_event *out, size_t max)
{
	size_t n = 0, w_n, kept = 0, *order;
	bool *granted, *held;

	/* expiry first: a waiter past its deadline is not granted late */
	for (size_t i = 0; i < s->n_waiters && n < max;) {
		struct call *w = &s->waiters[i];

		if (now_ms - w->t_ms >= s->rules.max_wait_ms[w->cls]) {
			out[n++] = (struct pool_event){w->id, POOL_EXPIRED, now_ms - w->t_ms};
			drop_waiter(s, i);
		} else {
			i++;
		}
	}
	if (n >= max || !s->n_waiters)
		return n;
	w_n = s->n_waiters;
	order = xcalloc(w_n, sizeof(*order));
	granted = xcalloc(w_n, sizeof(*granted));
	held = xcalloc(s->n_pools ? s->n_pools : 1, sizeof(*held));
	queue_order(s, now_ms, order);
	for (size_t k = 0; k < w_n && n < max; k++) {
		struct call *w = &s->waiters[order[k]];
		bool blocked = false;

		for (size_t j = 0; j < w->n_pools; j++)
			blocked = blocked || held[w->pools[j]];
		if (!blocked && fits(s, w, now_ms)) {
			out[n++] = (struct pool_event){w->id, POOL_GRANTED, now_ms - w->t_ms};
			grant(s, w, now_ms);
			granted[order[k]] = true;
			continue;
		}
		/* whoever is behind it on these pools waits too: room freeing is its first */
		for (size_t j = 0; j < w->n_pools; j++)
			held[w->pools[j]] = true;
	}
	/* the granted leave the queue; the rest keep their order */
	for (size_t i = 0; i < w_n; i++)
		if (!granted[i])
			s->waiters[kept++] = s->waiters[i];
	s->n_waiters = kept;
	free(order);
	free(granted);
	free(held);
	return n;
}

int64_t pool_next_wake(const struct pool_sched *s, int64_t now_ms)
{
	int64_t wake = -1;

#define EARLIER(t)                                                                                 \
	do {                                                                                       \
		int64_t t_ = (t);                                                                  \
		if (t_ > now_ms && (wake < 0 || t_ < wake))                                        \
			wake = t_;                                                                 \
	} while (0)

	if (!s->n_waiters)
		return -1;
	for (size_t i = 0; i < s->n_waiters; i++) {
		const struct call *w = &s->waiters[i];
		int64_t mw = s->rules.max_wait_ms[w->cls];

		EARLIER(w->t_ms + mw);
		EARLIER(w->t_ms + mw / 2); /* aging reorders the queue */
		for (size_t k = 0; k < w->n_pools; k++) {
			const struct pool *p = &s->pools[w->pools[k]];

			EARLIER(p->blocked_until);
			if (learned_active(p, now_ms))
				EARLIER(p->learned_reset);
			for (int b = 0; b < RING; b++)
				if (in_window(p->win.b[b].sec, sec_of(now_ms)) &&
				    (p->win.b[b].tokens || p->win.b[b].requests))
					EARLIER((p->win.b[b].sec + RING) * 1000);
		}
	}
#undef EARLIER
	return wake < 0 ? now_ms : wake;
}

/* ---- calls in flight ---- */

static struct call *flight(struct pool_sched *s, uint64_t id)
{
	for (size_t i = 0; i < s->n_flights; i++)
		if (s->flights[i].id == id)
			return &s->flights[i];
	return NULL;
}

void pool_progress(struct pool_sched *s, uint64_t id, int64_t tokens_so_far)
{
	struct call *f = flight(s, id);

	if (!f || tokens_so_far <= f->tokens)
		return;
	for (size_t i = 0; i < f->n_pools; i++) {
		struct pool *p = &s->pools[f->pools[i]];

		p->reserved += tokens_so_far - f->tokens;
		if (learned_active(p, f->t_ms) && f->t_ms >= p->learned_at)
			p->since_tokens += tokens_so_far - f->tokens;
	}
	f->tokens = tokens_so_far;
}

void pool_settle(struct pool_sched *s, uint64_t id, int64_t billed, int64_t now_ms)
{
	struct call *f = flight(s, id);
	int64_t final;

	if (!f)
		return;
	final = billed >= 0 ? billed : f->tokens;
	for (size_t i = 0; i < f->n_pools; i++) {
		struct pool *p = &s->pools[f->pools[i]];

		p->reserved -= f->tokens;
		p->in_flight--;
		p->answer_id = (f->since_mask & 1u << i) && learned_active(p, now_ms) ? id : 0;
		p->answer_tokens = f->in_since[i];
		window_add(p, f->t_ms, now_ms, final, 0);
		if (f->cls == POOL_INTERACTIVE)
			interactive_add(p, f->t_ms, now_ms, final);
		if (learned_active(p, now_ms) && f->t_ms >= p->learned_at)
			p->since_tokens += final - f->tokens;
	}
	*f = s->flights[--s->n_flights];
}

void pool_cancel(struct pool_sched *s, uint64_t id)
{
	for (size_t i = 0; i < s->n_waiters; i++) {
		if (s->waiters[i].id == id) {
			drop_waiter(s, i);
			return;
		}
	}
}

/* ---- what providers say ---- */

/* A figure no lower than the one kept came in the answer of `answered`, a call in flight when
 * the kept one was said and counted since as maybe not yet seen by the provider. The provider
 * counts a call before it answers it, so had it not counted this one by then, what it says now
 * would be lower by this call, less what of our window slid out since (other clients' use is
 * taken as constant, as learned_room takes it): a figure at least the kept one plus that
 * slide shows the kept one counted this call, and it stops counting as sent since. Without
 * this, a burst whose first answer came while the rest were in flight kept the pool short
 * by all of them until the provider's reset. */
static void uncount_answered(struct pool *p, uint64_t answered, int64_t tokens_left,
			     int64_t requests_left, int64_t now_ms)
{
	int64_t back_t, back_r;

	if (!answered || answered != p->answer_id)
		return;
	p->answer_id = 0;
	learned_back(p, now_ms, &back_t, &back_r);
	if (tokens_left >= 0 && p->learned_tokens >= 0 && tokens_left >= p->learned_tokens + back_t)
		p->since_tokens -=
			p->answer_tokens < p->since_tokens ? p->answer_tokens : p->since_tokens;
	if (requests_left >= 0 && p->learned_requests >= 0 &&
	    requests_left >= p->learned_requests + back_r && p->since_requests > 0)
		p->since_requests--;
}

void pool_learn(struct pool_sched *s, size_t pool, uint64_t answered, int64_t tokens_left,
		int64_t requests_left, int64_t reset_ms, int64_t now_ms)
{
	struct pool *p;

	if (pool >= s->n_pools || reset_ms <= now_ms || (tokens_left < 0 && requests_left < 0))
		return;
	p = &s->pools[pool];
	/* Answers overtake each other: within a second of a lower figure, a figure no lower is
	 * taken as older than it (the provider counted fewer of our calls), not as room freed. */
	if (learned_active(p, now_ms) && now_ms - p->learned_at < STALE_LEARN_MS &&
	    (tokens_left < 0 || (p->learned_tokens >= 0 && tokens_left >= p->learned_tokens)) &&
	    (requests_left < 0 ||
	     (p->learned_requests >= 0 && requests_left >= p->learned_requests))) {
		uncount_answered(p, answered, tokens_left, requests_left, now_ms);
		return;
	}
	p->learned_tokens = tokens_left;
	p->learned_requests = requests_left;
	p->learned_reset = reset_ms;
	p->learned_at = now_ms;
	p->learned_sec = sec_of(now_ms);
	memcpy(p->learned_win, p->win.b, sizeof(p->win.b));
	/* Calls still in flight may not have reached the provider when it answered: count them
	 * as sent since, until the next answer says more. */
	p->since_tokens = p->reserved;
	p->since_requests = p->in_flight;
	p->answer_id = 0;
	for (size_t i = 0; i < s->n_flights; i++)
		for (size_t k = 0; k < s->flights[i].n_pools; k++)
			if (s->flights[i].pools[k] == pool) {
				s->flights[i].since_mask |= 1u << k;
				s->flights[i].in_since[k] = s->flights[i].tokens;
			}
}

void pool_rate_info_init(struct pool_rate_info *ri)
{
	ri->tokens_left = ri->requests_left = ri->reset_ms = ri->retry_after_ms = -1;
}

/* A non-negative integer of at most 15 digits, the whole of s. */
static bool count_of(const char *s, int64_t *out)
{
	int64_t n = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (!isdigit((unsigned char)s[i]) || i >= 15)
			return false;
		n = n * 10 + (s[i] - '0');
	}
	*out = n;
	return i > 0;
}

/* "6m0s", "1.4s", "9ms", "1h2m3.5s", or plain seconds "20" / "7.66": milliseconds. Go's
 * duration format as OpenAI and Groq send it; at most a day. */
static bool duration_ms(const char *s, int64_t *out)
{
	double total = 0;
	bool any = false;

	while (*s) {
		char *end;
		double v;

		if (!isdigit((unsigned char)*s))
			return false;
		v = strtod(s, &end);
		if (end == s || v < 0)
			return false;
		s = end;
		if (strncmp(s, "ms", 2) == 0) {
			total += v;
			s += 2;
		} else if (*s == 'h') {
			total += v * 3600000;
			s++;
		} else if (*s == 'm') {
			total += v * 60000;
			s++;
		} else if (*s == 's' || *s == '\0') {
			total += v * 1000;
			s += *s == 's';
		} else {
			return false;
		}
		any = true;
	}
	if (!any || total > 86400000.0)
		return false;
	*out = (int64_t)(total + 0.5);
	return true;
}

/* RFC 3339 in UTC or with an offset ("2026-11-25T10:00:30Z", "...+01:00", fractions allowed):
 * epoch ms. */
static bool rfc3339_ms(const char *s, int64_t *out)
{
	struct tm tm = {0};
	int n = 0, oh = 0, om = 0;
	char sign;
	double frac = 0;
	int64_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19)
		return false;
	s += n;
	if (*s == '.') {
		char *end;

		frac = strtod(s, &end);
		s = end;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if ((*s == '+' || *s == '-') && sscanf(s, "%c%2d:%2d%n", &sign, &oh, &om, &n) == 3 &&
		   n == 6) {
		s += n;
		if (sign == '-')
			oh = -oh, om = -om;
	} else {
		return false;
	}
	if (*s)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = (int64_t)timegm(&tm);
	if (t < 0)
		return false;
	*out = (t - oh * 3600 - om * 60) * 1000 + (int64_t)(frac * 1000);
	return true;
}

static void later(int64_t *slot, int64_t t)
{
	if (t > *slot)
		*slot = t;
}

/* The rate headers: what each one's value is and where it goes. */
enum rate_form { R_COUNT, R_DURATION, R_TIMESTAMP, R_MS, R_SECONDS };
enum rate_slot { S_TOKENS, S_REQUESTS, S_RESET, S_RETRY };

static const struct {
	const char *name;
	enum rate_form form;
	enum rate_slot slot;
} rate_headers[] = {
	{"x-ratelimit-remaining-tokens", R_COUNT, S_TOKENS},
	{"anthropic-ratelimit-tokens-remaining", R_COUNT, S_TOKENS},
	{"x-ratelimit-remaining-requests", R_COUNT, S_REQUESTS},
	{"anthropic-ratelimit-requests-remaining", R_COUNT, S_REQUESTS},
	{"x-ratelimit-reset-tokens", R_DURATION, S_RESET},
	{"x-ratelimit-reset-requests", R_DURATION, S_RESET},
	{"anthropic-ratelimit-tokens-reset", R_TIMESTAMP, S_RESET},
	{"anthropic-ratelimit-requests-reset", R_TIMESTAMP, S_RESET},
	{"retry-after-ms", R_MS, S_RETRY},
	{"retry-after", R_SECONDS, S_RETRY},
};

bool pool_rate_header(const char *name, const char *value, int64_t now_ms,
		      struct pool_rate_info *ri)
{
	int64_t v = 0;
	size_t i;
	bool ok = false;

	if (!name || !value)
		return false;
	for (i = 0; i < sizeof(rate_headers) / sizeof(rate_headers[0]); i++)
		if (!strcasecmp(name, rate_headers[i].name))
			break;
	if (i == sizeof(rate_headers) / sizeof(rate_headers[0]))
		return false;
	while (*value == ' ' || *value == '\t')
		value++;
	switch (rate_headers[i].form) {
	case R_COUNT:
		ok = count_of(value, &v);
		break;
	case R_DURATION:
		ok = duration_ms(value, &v);
		v += now_ms;
		break;
	case R_TIMESTAMP:
		ok = rfc3339_ms(value, &v);
		v = v > now_ms ? v : now_ms;
		break;
	case R_MS:
		ok = count_of(value, &v) && v <= 86400000;
		v += now_ms;
		break;
	case R_SECONDS:
		ok = count_of(value, &v) && v <= 86400;
		v = now_ms + v * 1000;
		break;
	}
	if (!ok)
		return false;
	switch (rate_headers[i].slot) {
	case S_TOKENS:
		ri->tokens_left = v;
		break;
	case S_REQUESTS:
		ri->requests_left = v;
		break;
	case S_RESET:
		later(&ri->reset_ms, v);
		break;
	case S_RETRY:
		later(&ri->retry_after_ms, v);
		break;
	}
	return true;
}

void pool_block(struct pool_sched *s, size_t pool, int64_t until_ms)
{
	if (pool < s->n_pools && until_ms > s->pools[pool].blocked_until)
		s->pools[pool].blocked_until = until_ms;
}

/* ---- views ---- */

void pool_view(const struct pool_sched *s, size_t pool, int64_t now_ms, struct pool_view *v)
{
	const struct pool *p;

	memset(v, 0, sizeof(*v));
	v->learned_tokens_left = -1;
	if (pool >= s->n_pools)
		return;
	p = &s->pools[pool];
	v->tpm = p->lim.tpm;
	v->rpm = p->lim.rpm;
	window_sum(p, now_ms, &v->used_tokens, &v->used_requests);
	v->reserved_tokens = p->reserved;
	v->in_flight = p->in_flight;
	v->blocked_until_ms = p->blocked_until > now_ms ? p->blocked_until : 0;
	if (learned_active(p, now_ms) && p->learned_tokens >= 0) {
		int64_t room_r;

		learned_room(p, now_ms, &v->learned_tokens_left, &room_r);
	}
	ring_sum(&p->iwin, now_ms, &v->interactive_tokens, &v->interactive_requests);
	v->interactive_peak_tokens =
		now_ms - p->ipeak_ms > PEAK_KEEP_MS ? v->interactive_tokens : p->ipeak;
	if (v->interactive_peak_tokens < v->interactive_tokens)
		v->interactive_peak_tokens = v->interactive_tokens;
	v->reserve_tokens = p->lim.tpm - share(p->lim.tpm, s, POOL_API);
	for (size_t i = 0; i < s->n_waiters; i++)
		for (size_t k = 0; k < s->waiters[i].n_pools; k++)
			if (s->waiters[i].pools[k] == pool)
				v->queued[s->waiters[i].cls]++;
}

/* When the window of p frees `need` tokens as its seconds slide out (in-flight calls are not
 * counted on: when they settle is unknown), or -1 if it never does by itself. */
/* When the window has freed need tokens (requests: need requests), or -1 if it never will. */
static int64_t frees_at(const struct pool *p, int64_t need, bool requests, int64_t now_ms)
{
	int64_t now_sec = sec_of(now_ms), freed = 0;

	if (need <= 0)
		return now_ms;
	for (int64_t sec = now_sec - WINDOW_S; sec <= now_sec; sec++) {
		const struct bucket *b = &p->win.b[slot(sec)];

		if (b->sec == sec)
			freed += requests ? b->requests : b->tokens;
		if (freed >= need)
			return (sec + RING) * 1000;
	}
	return -1;
}

/* When a call of cls and tokens fits pools (tokens and requests, blocks included), ignoring
 * the calls to come; never_ms when it cannot by the window sliding alone. */
static int64_t room_at(const struct pool_sched *s, enum pool_class cls, int64_t tokens,
		       const size_t *pools, size_t n_pools, int64_t now_ms, int64_t never_ms)
{
	int64_t at = now_ms;

	for (size_t k = 0; k < n_pools; k++) {
		const struct pool *p = &s->pools[pools[k]];
		int64_t used_t, used_r, t;

		if (p->blocked_until > at)
			at = p->blocked_until;
		window_sum(p, now_ms, &used_t, &used_r);
		if (p->lim.tpm > 0) {
			t = frees_at(p, used_t + p->reserved + tokens - share(p->lim.tpm, s, cls),
				     false, now_ms);
			at = t < 0 ? never_ms : t > at ? t : at;
		}
		if (p->lim.rpm > 0) {
			t = frees_at(p, used_r + 1 - share(p->lim.rpm, s, cls), true, now_ms);
			at = t < 0 ? never_ms : t > at ? t : at;
		}
	}
	return at;
}

int64_t pool_room_in(const struct pool_sched *s, const struct pool_ask *a, int64_t now_ms)
{
	int64_t at = room_at(s, a->cls, a->tokens, a->pools, a->n_pools, now_ms, -1);

	return at < 0 ? -1 : at > now_ms ? at - now_ms : 0;
}

int64_t pool_wait_estimate(const struct pool_sched *s, uint64_t id, int64_t now_ms)
{
	const struct call *w = NULL;
	int64_t at, deadline;

	for (size_t i = 0; i < s->n_waiters && !w; i++)
		if (s->waiters[i].id == id)
			w = &s->waiters[i];
	if (!w)
		return -1;
	deadline = w->t_ms + s->rules.max_wait_ms[w->cls];
	at = room_at(s, w->cls, w->tokens, w->pools, w->n_pools, now_ms, deadline);
	if (at > deadline)
		at = deadline;
	return at > now_ms ? at - now_ms : 0;
}
