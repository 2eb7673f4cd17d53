/* breaker: the bleed detector (see breaker.h for the contract).
 *
 * Calls: a ring of the last max_calls admission times. When the ring is full and its oldest
 * entry is still inside the window, max_calls calls already fell within window_s, so one
 * more would exceed the limit: the breaker opens and that call is refused. That makes the
 * check exact with max_calls slots and O(1) per call.
 * Cost: COST_BUCKETS buckets of window_s / COST_BUCKETS each (at least 1 s); the cost in the
 * window is the sum of the n_buckets buckets that cover it (fewer than COST_BUCKETS when the
 * window is under COST_BUCKETS seconds), so it is exact to one bucket.
 * Closing (cooldown or resume) forgets both windows: the calls that tripped the breaker must
 * not trip it again at once.
 *
 * Rejected: a list of every call in the window (unbounded under exactly the load it guards
 * against) and a per-minute counter (a burst across two minutes would pass).
 */
#include "router/breaker.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COST_BUCKETS 64

struct breaker {
	int64_t max_calls;
	int64_t window_ms;
	double max_cost_usd;
	int64_t cooldown_ms;
	breaker_trip_cb cb;
	void *cb_arg;
	/* calls */
	int64_t *ts; /* ring of max_calls admission times */
	size_t n_ts, pos;
	/* cost */
	int64_t bucket_ms, n_buckets; /* n_buckets * bucket_ms: the window, rounded up */
	int64_t bucket_idx[COST_BUCKETS];
	double bucket_usd[COST_BUCKETS];
	/* state */
	bool open;
	int64_t until_ms;
	uint64_t trips, refused;
	char why[160];
	struct metric *m_open, *m_trips, *m_refused;
};

struct breaker *breaker_create(const struct config_bleed *cfg)
{
	struct breaker *b = xcalloc(1, sizeof(*b));

	b->max_calls = cfg->max_calls > 0 ? cfg->max_calls : 0;
	b->window_ms = cfg->window_s * 1000;
	b->max_cost_usd = cfg->max_cost_usd > 0 ? cfg->max_cost_usd : 0;
	b->cooldown_ms = cfg->cooldown_s * 1000;
	if (b->max_calls)
		b->ts = xcalloc((size_t)b->max_calls, sizeof(*b->ts));
	b->bucket_ms = (b->window_ms + COST_BUCKETS - 1) / COST_BUCKETS;
	if (b->bucket_ms < 1000)
		b->bucket_ms = 1000;
	b->n_buckets = (b->window_ms + b->bucket_ms - 1) / b->bucket_ms;
	if (b->n_buckets > COST_BUCKETS)
		b->n_buckets = COST_BUCKETS;
	for (size_t i = 0; i < COST_BUCKETS; i++)
		b->bucket_idx[i] = -1;
	return b;
}

void breaker_destroy(struct breaker *b)
{
	if (!b)
		return;
	free(b->ts);
	free(b);
}

void breaker_on_trip(struct breaker *b, breaker_trip_cb cb, void *arg)
{
	b->cb = cb;
	b->cb_arg = arg;
}

static bool enabled(const struct breaker *b)
{
	return b->max_calls > 0 || b->max_cost_usd > 0;
}

static void forget_window(struct breaker *b)
{
	b->n_ts = b->pos = 0;
	for (size_t i = 0; i < COST_BUCKETS; i++) {
		b->bucket_idx[i] = -1;
		b->bucket_usd[i] = 0;
	}
}

static void close_if_cooled(struct breaker *b, int64_t now_ms)
{
	if (!b->open || !b->until_ms || now_ms < b->until_ms)
		return;
	b->open = false;
	b->why[0] = '\0';
	forget_window(b);
	log_info("bleed breaker closed: cooldown over, model calls flow again");
}

void breaker_format_time(int64_t mono_ms, char *out, size_t len)
{
	int64_t ms = now_wall_ms() + (mono_ms - now_mono_ms());
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) || strftime(out, len, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		snprintf(out, len, "%lld ms since the epoch", (long long)ms);
}

static void trip(struct breaker *b, int64_t now_ms)
{
	char until[64] = "an allowed user sends /resume";

	b->open = true;
	b->trips++;
	b->until_ms = b->cooldown_ms ? now_ms + b->cooldown_ms : 0;
	if (b->until_ms)
		breaker_format_time(b->until_ms, until, sizeof(until));
	log_warn("bleed breaker open: %s; model calls are refused until %s (or /resume in "
		 "Telegram)",
		 b->why, until);
	if (b->cb)
		b->cb(b->why, b->until_ms, b->cb_arg);
}

static void refusal(const struct breaker *b, char *msg, size_t len)
{
	char until[64];

	if (!len)
		return;
	if (b->until_ms) {
		breaker_format_time(b->until_ms, until, sizeof(until));
		snprintf(
			msg, len,
			"The bleed breaker is open (guardrails.bleed): %s. Model calls are refused "
			"until %s; an allowed Telegram user can send /resume to close it now.",
			b->why, until);
	} else {
		snprintf(
			msg, len,
			"The bleed breaker is open (guardrails.bleed): %s. Model calls are refused "
			"until an allowed Telegram user sends /resume (cooldown_s is 0).",
			b->why);
	}
}

static double window_cost(const struct breaker *b, int64_t now_ms)
{
	int64_t cur = now_ms / b->bucket_ms;
	double sum = 0;

	for (size_t i = 0; i < COST_BUCKETS; i++)
		if (b->bucket_idx[i] > cur - b->n_buckets && b->bucket_idx[i] <= cur)
			sum += b->bucket_usd[i];
	return sum;
}

int breaker_admit(struct breaker *b, int64_t now_ms, char *msg, size_t len)
{
	if (!enabled(b))
		return 0;
	close_if_cooled(b, now_ms);
	if (!b->open && b->max_calls && b->n_ts == (size_t)b->max_calls &&
	    b->ts[b->pos] > now_ms - b->window_ms) {
		snprintf(b->why, sizeof(b->why), "more than %lld model calls within %lld s",
			 (long long)b->max_calls, (long long)(b->window_ms / 1000));
		trip(b, now_ms);
	}
	if (b->open) {
		b->refused++;
		refusal(b, msg, len);
		return -EBUSY;
	}
	if (b->max_calls) {
		b->ts[b->pos] = now_ms;
		b->pos = (b->pos + 1) % (size_t)b->max_calls;
		if (b->n_ts < (size_t)b->max_calls)
			b->n_ts++;
	}
	return 0;
}

void breaker_add_cost(struct breaker *b, int64_t now_ms, double cost_usd)
{
	int64_t cur;
	size_t s;
	double sum;

	if (b->max_cost_usd <= 0 || !(cost_usd > 0))
		return;
	/* First: closing forgets the window, and this cost belongs to the new one. */
	close_if_cooled(b, now_ms);
	cur = now_ms / b->bucket_ms;
	s = (size_t)(cur % COST_BUCKETS);
	if (b->bucket_idx[s] != cur) {
		b->bucket_idx[s] = cur;
		b->bucket_usd[s] = 0;
	}
	b->bucket_usd[s] += cost_usd;
	if (b->open)
		return;
	sum = window_cost(b, now_ms);
	if (sum > b->max_cost_usd) {
		snprintf(b->why, sizeof(b->why), "$%.4f spent within %lld s (limit $%.4f)", sum,
			 (long long)(b->window_ms / 1000), b->max_cost_usd);
		trip(b, now_ms);
	}
}

bool breaker_resume(struct breaker *b, int64_t now_ms)
{
	bool was_open;

	close_if_cooled(b, now_ms);
	was_open = b->open;
	b->open = false;
	b->why[0] = '\0';
	forget_window(b);
	return was_open;
}

void breaker_state(struct breaker *b, int64_t now_ms, struct breaker_state *out)
{
	memset(out, 0, sizeof(*out));
	close_if_cooled(b, now_ms);
	out->enabled = enabled(b);
	out->open = b->open;
	out->until_ms = b->open ? b->until_ms : 0;
	out->trips = b->trips;
	out->refused = b->refused;
	for (size_t i = 0; i < b->n_ts; i++)
		if (b->ts[i] > now_ms - b->window_ms)
			out->calls_in_window++;
	out->cost_in_window_usd = window_cost(b, now_ms);
	snprintf(out->why, sizeof(out->why), "%s", b->open ? b->why : "");
}

static void collect(struct metrics *m, void *arg)
{
	static const char *const name[] = {"bleed", NULL};
	struct breaker *b = arg;
	struct breaker_state st;

	breaker_state(b, now_mono_ms(), &st);
	metric_set(b->m_open, name, st.open ? 1 : 0);
	metric_set(b->m_trips, name, (double)st.trips);
	metric_set(b->m_refused, name, (double)st.refused);
}

/* Labelled name="bleed": the dashboard's breaker panel groups by name. */
void breaker_register_metrics(struct breaker *b, struct metrics *m)
{
	static const char *const l[] = {"name", NULL};

	b->m_open = metrics_add(m, METRIC_GAUGE, "hermetic_breaker_open",
				"1 while the breaker refuses calls", l);
	b->m_trips = metrics_add(m, METRIC_COUNTER, "hermetic_breaker_trips_total",
				 "Times the breaker opened", l);
	b->m_refused = metrics_add(m, METRIC_COUNTER, "hermetic_breaker_refused_total",
				   "Calls refused by the open breaker", l);
	metrics_on_collect(m, collect, b);
}
