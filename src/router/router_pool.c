/* router_pool: the rate pools (router/pool.c, a pure scheduler) wired into the router's
 * attempts. One scheduler per router, over the pools of cfg's rate_pools (a provider account's
 * ceiling, shared by the deployments of its groups) and one pool per deployment with its own
 * LiteLLM tpm/rpm (a pool of one). Every attempt, retries and fallbacks too, asks the pools of
 * its deployment for room for its estimate (prompt tokens from the bytes sent, plus max_tokens
 * or the deployment's output cap) before it leaves:
 *
 *   GO      -> sent; settled to the provider's usage when its HTTP request ends (a stream's
 *              reservation grows with its chunks when it outgrows the estimate)
 *   WAIT    -> the call waits; the router's one pool timer runs pool_run at pool_next_wake
 *              (and right after anything that may free room) and a grant runs attempt() again
 *   expired, queue full -> the next group of the fallback chain that has room now, else
 *              LiteLLM's 429 with retry-after (the call is "deferred": later may have room)
 *   too big -> it can never fit (over its class's share of a pool's configured ceiling): the
 *              next group of the chain, else a 400 naming the pool, the share and the
 *              estimate; never deferred, since no amount of waiting makes room for it
 *
 * Every answer's rate headers (OpenAI's x-ratelimit-*, Anthropic's anthropic-ratelimit-*)
 * bound the pools until their reset, and a 429's retry-after blocks them, so another client of
 * the same account is accounted for. Waits feed the hermetic_pool_* metrics, the audit trail
 * (a wait over a second) and router_pools_json() (`hermetic pools`).
 *
 * Rejected: asking before the deployment is picked (the pools are the deployment's), and a
 * timer per waiting call (a storm of waiters would arm thousands; the scheduler knows the one
 * next instant that matters).
 */
#include "router/router_int.h"
#include "core/json.h"
#include "router/pool.h"
#include "core/audit.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((int)CONFIG_CLASS_INTERACTIVE == (int)POOL_INTERACTIVE &&
		       (int)CONFIG_CLASS_API == (int)POOL_API &&
		       (int)CONFIG_CLASS_HOOK == (int)POOL_HOOK &&
		       (int)CONFIG_CLASS_SCHEDULED == (int)POOL_SCHEDULED &&
		       (int)CONFIG_CLASS_BACKGROUND == (int)POOL_BACKGROUND &&
		       (int)CONFIG_N_CLASSES == (int)POOL_CLASSES,
	       "config's classes are pool.h's, in the same order");

#define EVENTS_PER_RUN 32
#define AUDIT_WAIT_MS  1000

/* The rate headers pool_rate_header reads. */
static const char *const rate_headers[] = {
	"x-ratelimit-remaining-tokens",
	"x-ratelimit-remaining-requests",
	"x-ratelimit-reset-tokens",
	"x-ratelimit-reset-requests",
	"anthropic-ratelimit-tokens-remaining",
	"anthropic-ratelimit-tokens-reset",
	"anthropic-ratelimit-requests-remaining",
	"anthropic-ratelimit-requests-reset",
	"retry-after",
	"retry-after-ms",
};

static void on_pool_timer(evutil_socket_t fd, short what, void *arg);

/* The rate_pools entry that group name draws from, or -1. */
static long account_pool(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_rate_pools; i++)
		for (size_t j = 0; j < cfg->rate_pools[i].n_models; j++)
			if (strcmp(cfg->rate_pools[i].models[j], name) == 0)
				return (long)i;
	return -1;
}

void router_pools_create(struct router *r)
{
	const struct config *cfg = r->cfg;
	size_t cap = cfg->n_rate_pools + r->n_deps, n = 0, i;
	struct pool_limits *lim = xcalloc(cap ? cap : 1, sizeof(*lim));
	struct pool_rules rules;

	r->pool_names = xcalloc(cap ? cap : 1, sizeof(*r->pool_names));
	for (i = 0; i < cfg->n_rate_pools; i++, n++) {
		lim[n] = (struct pool_limits){cfg->rate_pools[i].tpm, cfg->rate_pools[i].rpm};
		r->pool_names[n] = xstrdup(cfg->rate_pools[i].name);
	}
	for (i = 0; i < r->n_deps; i++) {
		struct deployment *d = &r->deps[i];
		const struct config_litellm_params *p = &d->m->litellm_params;
		long acct = account_pool(cfg, d->m->model_name);

		if (acct >= 0)
			d->pools[d->n_pools++] = (size_t)acct;
		if (p->tpm > 0 || p->rpm > 0) {
			lim[n] = (struct pool_limits){p->tpm, p->rpm};
			r->pool_names[n] = xasprintf("deployment:%s", d->m->model_info.id);
			d->pools[d->n_pools++] = n++;
			d->own_pool = true;
		}
	}
	r->n_pools = n;
	if (n) {
		pool_rules_default(&rules);
		rules.reserve_pct = (int)cfg->priorities.interactive_reserve_pct;
		for (i = 0; i < POOL_CLASSES; i++)
			rules.max_wait_ms[i] = cfg->priorities.max_wait_s[i] * 1000;
		rules.max_waiters = (size_t)cfg->priorities.max_waiters;
		r->sched = pool_sched_new(&rules, lim, n);
		r->pool_stats = xcalloc(n, sizeof(*r->pool_stats));
		r->pool_timer = evtimer_new(loop_base(r->loop), on_pool_timer, r);
	}
	free(lim);
}

void router_pools_destroy(struct router *r)
{
	for (size_t i = 0; i < r->n_pools; i++)
		free(r->pool_names[i]);
	free(r->pool_names);
	free(r->pool_stats);
	if (r->pool_timer)
		event_free(r->pool_timer);
	pool_sched_free(r->sched);
}

/* ---- the call's class ---- */

void router_pool_classify(struct router_call *c)
{
	const char *const *keys = router_spec_of(c)->limits;
	enum { N_LIMITS = ARRAY_LEN(router_spec_of(c)->limits) };
	/* "priority" and the output bounds (max_tokens...) in one walk of the request */
	const char *names[N_LIMITS + 1] = {"priority"};
	cJSON *found[N_LIMITS + 1], *prio;
	int cls = pool_class_parse(c->who.pool_class), asked = -1;
	size_t i;

	for (i = 0; i < N_LIMITS; i++)
		names[i + 1] = keys[i];
	json_members(c->req, names, N_LIMITS + 1, found);
	prio = found[0];
	if (cls < 0 && c->who.key)
		cls = (int)c->who.key->priority;
	if (cls < 0)
		cls = (int)pool_class_of(c->source, c->purpose);
	if (cJSON_IsNumber(prio))
		asked = (int)pool_class_of_priority(prio->valuedouble);
	else if (cJSON_IsString(prio))
		asked = pool_class_parse(prio->valuestring);
	/* A request may put itself behind its caller's class, never ahead of it. */
	if (asked > cls)
		cls = asked;
	c->pool_class = (enum pool_class)cls;
	/* The client's request bounds its output itself (max_tokens, max_output_tokens...): read
	 * before the guardrails' max_tokens_default is added to it. */
	c->pool_bounded = false;
	for (i = 0; i < N_LIMITS && keys[i]; i++)
		c->pool_bounded = c->pool_bounded || found[i + 1];
	c->who.pool_class = pool_class_name(c->pool_class); /* the caller's string is borrowed */
	if (prio) /* found above: no second walk of the members */
		router_req_drop_item(c, prio);
}

/* ---- the timer ---- */

/* Runs the scheduler from the loop, soon: after anything that may free room or queue. */
static void kick(struct router *r)
{
	if (!r->sched)
		return;
	evtimer_del(r->pool_timer);
	event_active(r->pool_timer, EV_TIMEOUT, 1);
}

static void audit_wait(const struct router_call *c, int64_t waited_ms, const char *outcome)
{
	struct audit_line l;
	char pools[256] = "";
	size_t off = 0;

	audit_begin(&l, "pool_wait");
	if (!l.on)
		return;
	for (size_t i = 0; i < c->dep->n_pools && off < sizeof(pools); i++)
		off += (size_t)snprintf(pools + off, sizeof(pools) - off, "%s%s", i ? "," : "",
					c->r->pool_names[c->dep->pools[i]]);
	audit_str(&l, "source", c->source);
	if (c->who.session_id)
		audit_int(&l, "session", c->who.session_id);
	audit_str(&l, "purpose", c->purpose);
	audit_str(&l, "key_alias", c->key_alias);
	audit_int(&l, "call", c->id);
	audit_str(&l, "model_group", c->group->name);
	audit_str(&l, "deployment", c->dep->m->model_info.id);
	audit_str(&l, "pools", pools);
	audit_word(&l, "class", pool_class_name(c->pool_class));
	audit_int(&l, "tokens", c->pool_tokens);
	audit_int(&l, "waited_ms", waited_ms);
	audit_word(&l, "outcome", outcome);
	audit_end(&l);
}

/* A wait is over (granted, or deferred: expired or refused): stats, metrics, audit. */
static void note_wait(struct router_call *c, int64_t waited_ms, bool deferred, const char *outcome)
{
	struct router *r = c->r;

	for (size_t i = 0; i < c->dep->n_pools; i++) {
		size_t p = c->dep->pools[i];
		struct pool_stats *st = &r->pool_stats[p];
		const char *v[] = {r->pool_names[p], pool_class_name(c->pool_class), NULL};

		st->waits[c->pool_class]++;
		st->wait_ms[c->pool_class] += waited_ms;
		if (waited_ms > st->max_ms[c->pool_class])
			st->max_ms[c->pool_class] = waited_ms;
		metric_observe(r->m.pool_wait, v, (double)waited_ms / 1000.0);
		if (deferred) {
			st->deferred[c->pool_class]++;
			metric_inc(r->m.pool_deferred, v, 1);
		}
	}
	if (waited_ms > AUDIT_WAIT_MS)
		audit_wait(c, waited_ms, outcome);
}

/* No room for the attempt in this group (c->dep's pools): the next group that has room, else
 * the 429. retry_ms: about when it would fit, for retry-after. */
static void no_room(struct router_call *c, const char *why, int64_t retry_ms)
{
	struct router *r = c->r;
	const char *pool = r->pool_names[c->dep->pools[0]];

	c->pool_state = CP_NONE;
	c->pool_no_wait = true;
	c->pool_deferred = true;
	free(c->err_msg);
	c->err = E_RATE_LIMIT;
	c->err_status = 429;
	c->err_msg = xasprintf("rate pool %s: %s for a %s call of about %lld tokens to %s", pool,
			       why, pool_class_name(c->pool_class), (long long)c->pool_tokens,
			       c->group->name);
	c->retry_after_s = retry_ms > 0 ? (long)((retry_ms + 999) / 1000) : 1;
	if (c->retry_after_s > 60)
		c->retry_after_s = 60;
	log_info("%s", c->err_msg);
	c->r->owner->group_exhausted(c);
}

/* The call can never fit a pool (pool_too_big): waiting or trying again later cannot help,
 * so it is not deferred; the next group of the fallback chain may draw from another account,
 * else the client gets a 400 that names the pool, the class's share and the estimate. */
static void never_fits(struct router_call *c, const struct pool_ask *a)
{
	struct router *r = c->r;
	const struct config *cfg = r->cfg;
	struct pool_ceiling ce = {0};
	const char *cls = pool_class_name(c->pool_class), *pool;
	char *key;

	pool_too_big(r->sched, a, &ce);
	pool = r->pool_names[ce.pool];
	key = ce.pool < cfg->n_rate_pools
		      ? xasprintf("rate_pools.%s.%s", pool, ce.requests ? "rpm" : "tpm")
		      : xasprintf("litellm_params.%s of model %s", ce.requests ? "rpm" : "tpm",
				  c->dep->m->model_info.id);
	c->pool_state = CP_NONE;
	c->pool_no_wait = true;
	c->pool_deferred = false;
	free(c->err_msg);
	c->err = E_POOL_TOO_BIG;
	c->err_status = 400;
	if (ce.requests)
		c->err_msg = xasprintf(
			"rate pool %s can never take a %s call to %s: its rpm is %lld and the %s "
			"class's share of it, less the interactive reserve of %lld %%, is no whole "
			"request; raise %s or lower priorities.interactive_reserve_pct",
			pool, cls, c->group->name, (long long)ce.limit, cls,
			(long long)cfg->priorities.interactive_reserve_pct, key);
	else
		c->err_msg = xasprintf(
			"rate pool %s can never take this %s call to %s: it is about %lld tokens "
			"and the %s class's share of the pool is %lld tokens a minute (tpm "
			"%lld%s); "
			"send less (a shorter input or max_tokens), raise %s%s",
			pool, cls, c->group->name, (long long)c->pool_tokens, cls,
			(long long)ce.share, (long long)ce.limit,
			c->pool_class == POOL_INTERACTIVE ? "" : " less the interactive reserve",
			key,
			c->pool_class == POOL_INTERACTIVE
				? ""
				: " or lower priorities.interactive_reserve_pct");
	free(key);
	log_warn("%s", c->err_msg);
	c->r->owner->group_exhausted(c);
}

static struct router_call *waiter(struct router *r, uint64_t id)
{
	for (struct router_call *c = r->calls; c; c = c->next)
		if (c->pool_state == CP_WAITING && c->pool_id == id)
			return c;
	return NULL;
}

static void on_event(struct router *r, const struct pool_event *ev, int64_t t)
{
	struct router_call *c = waiter(r, ev->id);
	int64_t est;

	if (!c) { /* cannot happen: a waiter leaves the queue before its call ends */
		if (ev->kind == POOL_GRANTED)
			pool_settle(r->sched, ev->id, 0, t);
		return;
	}
	if (ev->kind == POOL_GRANTED) {
		c->pool_state = CP_READY;
		note_wait(c, ev->waited_ms, false, "granted");
		router_arm(c, T_BACKOFF, 0);
		return;
	}
	note_wait(c, ev->waited_ms, true, "expired");
	est = c->pool_asked_ms + c->pool_est_ms - t;
	no_room(c, "no room within max_wait_s", est > 0 ? est : 1000);
}

static void on_pool_timer(evutil_socket_t fd, short what, void *arg)
{
	struct router *r = arg;
	struct pool_event ev[EVENTS_PER_RUN];
	int64_t t = now_mono_ms(), next;
	size_t n;

	(void)fd;
	(void)what;
	do {
		n = pool_run(r->sched, t, ev, EVENTS_PER_RUN);
		for (size_t i = 0; i < n; i++)
			on_event(r, &ev[i], t);
	} while (n == EVENTS_PER_RUN);
	next = pool_next_wake(r->sched, t);
	if (next >= 0) {
		int64_t d = next > t ? next - t : 1;
		struct timeval tv = {d / 1000, (d % 1000) * 1000};

		evtimer_add(r->pool_timer, &tv);
	}
}

/* ---- an attempt ---- */

/* A call that set no output bound is reserved at a default it may never reach: at most the
 * class's share of its smallest pool, so it can go when that pool is empty (the stream's
 * progress and the settle count what it really took) rather than being refused as too big. */
static int64_t at_most_share(const struct router_call *c, const struct deployment *d,
			     int64_t prompt_est, int64_t tokens)
{
	const struct config *cfg = c->r->cfg;

	for (size_t i = 0; i < d->n_pools; i++) {
		size_t p = d->pools[i];
		int64_t tpm =
			p < cfg->n_rate_pools ? cfg->rate_pools[p].tpm : d->m->litellm_params.tpm;
		int64_t share =
			pool_share(tpm, cfg->priorities.interactive_reserve_pct, c->pool_class);

		if (tpm > 0 && tokens > share)
			tokens = share > prompt_est ? share : prompt_est;
	}
	return tokens;
}

/* The pool ask of the call sent to d with a prompt of prompt_est tokens: the prompt and the
 * output bound, a call without a bound at most its class's share. */
static void ask_of(const struct router_call *c, const struct deployment *d, int64_t prompt_est,
		   struct pool_ask *a)
{
	int64_t tokens =
		prompt_est + (router_spec_of(c)->text_out ? router_output_bound_of(c, d) : 0);

	a->cls = c->pool_class;
	a->tokens = c->pool_bounded ? tokens : at_most_share(c, d, prompt_est, tokens);
	a->n_pools = d->n_pools;
	memcpy(a->pools, d->pools, sizeof(a->pools));
}

/* An audio form's bytes are not tokens (providers count audio by the minute): it takes a
 * request, and the text it answers with. */
static int64_t prompt_of(const struct router_call *c, size_t body_len)
{
	return router_spec_of(c)->multipart ? 0 : (int64_t)(body_len + 3) / 4;
}

int router_pool_ask(struct router_call *c, size_t body_len)
{
	struct router *r = c->r;
	const struct deployment *d = c->dep;
	struct pool_ask a = {0};
	int64_t t = now_mono_ms(), est;

	if (c->pool_state == CP_READY)
		return 0; /* granted while it waited */
	if (!r->sched || !d->n_pools)
		return 0;
	c->pool_prompt_est = prompt_of(c, body_len);
	ask_of(c, d, c->pool_prompt_est, &a);
	c->pool_tokens = a.tokens;
	a.id = ++r->pool_ids;
	c->pool_id = a.id;
	c->pool_asked_ms = t;
	switch (pool_ask(r->sched, &a, t)) {
	case POOL_GO:
		c->pool_state = CP_READY;
		note_wait(c, 0, false, "granted");
		return 0;
	case POOL_WAIT:
		est = pool_wait_estimate(r->sched, a.id, t);
		if (c->pool_no_wait) {
			pool_cancel(r->sched, a.id);
			note_wait(c, 0, true, "no_room");
			no_room(c, "no room now", est);
			return -1;
		}
		c->pool_state = CP_WAITING;
		c->pool_est_ms = est;
		if (c->cbs.on_wait)
			c->cbs.on_wait(c, est, c->arg);
		log_info("call %lld (%s) waits for room in rate pool %s (about %lld ms)",
			 (long long)c->id, pool_class_name(c->pool_class),
			 r->pool_names[d->pools[0]], (long long)est);
		kick(r);
		return -1;
	case POOL_TOO_BIG: /* not a wait: it never queued */
		never_fits(c, &a);
		return -1;
	case POOL_FULL:
	default:
		note_wait(c, 0, true, "no_room");
		if (r->cfg->priorities.max_wait_s[c->pool_class] > 0) {
			no_room(c, "the queue is full", 1000);
			return -1;
		}
		/* it never waits: retry-after says when the window has room for it */
		est = pool_room_in(r->sched, &a, t);
		no_room(c, "no room now (its class never waits: max_wait_s 0)",
			est > 0 ? est : 1000);
		return -1;
	}
}

void router_pool_sent(struct router_call *c)
{
	c->pool_deferred = false;
	if (c->pool_state == CP_READY)
		c->pool_state = CP_SENT;
}

void router_pool_progress(struct router_call *c)
{
	int64_t so_far;

	if (c->pool_state != CP_SENT)
		return;
	so_far = c->pool_prompt_est + (int64_t)(c->output_chars + 3) / 4;
	if (so_far > c->pool_tokens)
		pool_progress(c->r->sched, c->pool_id, so_far);
}

/* What the answer's headers say of the account, into every pool of the deployment. */
static void learn(struct router_call *c, struct httpc_req *req, long status)
{
	struct router *r = c->r;
	int64_t wall = now_wall_ms(), mono = now_mono_ms(), reset = -1, until = -1;
	const char *found[ARRAY_LEN(rate_headers)];
	size_t lens[ARRAY_LEN(rate_headers)];
	struct pool_rate_info ri;
	bool any = false;

	pool_rate_info_init(&ri);
	/* One pass over the answer's lines for all ten, then each in the table's order (a later
	 * one may override an earlier one's figure), cut as httpc_header cuts. */
	httpc_headers_find(req, rate_headers, ARRAY_LEN(rate_headers), found, lens);
	for (size_t i = 0; i < ARRAY_LEN(rate_headers); i++) {
		char v[1024];
		size_t n = lens[i] < sizeof(v) ? lens[i] : sizeof(v) - 1;

		if (!found[i])
			continue;
		memcpy(v, found[i], n);
		v[n] = '\0';
		if (pool_rate_header(rate_headers[i], v, wall, &ri))
			any = true;
	}
	if (ri.reset_ms >= 0)
		reset = ri.reset_ms - wall + mono;
	if (status == 429)
		until = ri.retry_after_ms >= 0 ? ri.retry_after_ms - wall + mono
			: c->retry_after_s > 0 ? mono + c->retry_after_s * 1000
					       : -1;
	if (!any && until < 0)
		return;
	for (size_t i = 0; i < c->dep->n_pools; i++) {
		size_t p = c->dep->pools[i];

		if (reset > mono)
			pool_learn(r->sched, p, c->pool_id, ri.tokens_left, ri.requests_left, reset,
				   mono);
		if (until > mono) {
			pool_block(r->sched, p, until);
			log_info("rate pool %s: the provider answered 429; blocked for %lld ms",
				 r->pool_names[p], (long long)(until - mono));
		}
	}
}

void router_pool_done(struct router_call *c, struct httpc_req *req)
{
	long status = httpc_status(req);
	int64_t billed;

	if (c->pool_state != CP_SENT)
		return;
	/* A 429 was refused before it was counted; an error without usage keeps the estimate
	 * (the provider may have counted it on arrival). Settled before its headers are
	 * learned: they count this call, the calls still in flight maybe not. */
	billed = status == 429 ? 0 : c->got_usage ? c->prompt_tokens + c->completion_tokens : -1;
	pool_settle(c->r->sched, c->pool_id, billed, now_mono_ms());
	c->pool_state = CP_NONE;
	learn(c, req, status);
	kick(c->r);
}

void router_pool_drop(struct router_call *c)
{
	struct router *r = c->r;

	switch (c->pool_state) {
	case CP_WAITING:
		pool_cancel(r->sched, c->pool_id);
		break;
	case CP_READY:
		pool_settle(r->sched, c->pool_id, 0, now_mono_ms());
		break;
	case CP_SENT:
		pool_settle(r->sched, c->pool_id, -1, now_mono_ms());
		break;
	case CP_NONE:
		return;
	}
	c->pool_state = CP_NONE;
	kick(r);
}

bool router_pool_would_go(const struct router_call *c, const struct deployment *d)
{
	struct pool_ask a = {0};

	if (!c->r->sched || !d->n_pools)
		return true;
	ask_of(c, d, prompt_of(c, c->body_len), &a);
	return pool_would_go(c->r->sched, &a, now_mono_ms());
}

/* ---- visible ---- */

void router_pools_collect(struct router *r)
{
	int64_t t = now_mono_ms();

	for (size_t i = 0; i < r->n_pools; i++) {
		struct pool_view v;
		const char *used[] = {r->pool_names[i], "used", NULL};
		const char *resv[] = {r->pool_names[i], "reserved", NULL};
		const char *lim[] = {r->pool_names[i], "limit", NULL};

		pool_view(r->sched, i, t, &v);
		metric_set(r->m.pool_tokens, used, (double)v.used_tokens);
		metric_set(r->m.pool_tokens, resv, (double)v.reserved_tokens);
		metric_set(r->m.pool_tokens, lim, (double)v.tpm);
		for (int k = 0; k < POOL_CLASSES; k++) {
			const char *q[] = {r->pool_names[i], pool_class_name(k), NULL};

			metric_set(r->m.pool_queue, q, (double)v.queued[k]);
		}
	}
}

char *router_pools_json(struct router *r)
{
	cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "pools");
	int64_t t = now_mono_ms();
	char *s;

	for (size_t i = 0; i < r->n_pools; i++) {
		cJSON *o = cJSON_CreateObject(), *q, *w;
		const struct pool_stats *st = &r->pool_stats[i];
		struct pool_view v;

		pool_view(r->sched, i, t, &v);
		cJSON_AddStringToObject(o, "name", r->pool_names[i]);
		cJSON_AddNumberToObject(o, "tpm", (double)v.tpm);
		cJSON_AddNumberToObject(o, "rpm", (double)v.rpm);
		cJSON_AddNumberToObject(o, "used_tokens", (double)v.used_tokens);
		cJSON_AddNumberToObject(o, "used_requests", (double)v.used_requests);
		cJSON_AddNumberToObject(o, "reserved_tokens", (double)v.reserved_tokens);
		cJSON_AddNumberToObject(o, "in_flight", (double)v.in_flight);
		cJSON_AddNumberToObject(o, "blocked_s",
					v.blocked_until_ms ? (double)(v.blocked_until_ms - t) / 1e3
							   : 0);
		cJSON_AddNumberToObject(o, "learned_tokens_left", (double)v.learned_tokens_left);
		cJSON_AddNumberToObject(o, "reserve_tokens", (double)v.reserve_tokens);
		cJSON_AddNumberToObject(o, "interactive_tokens", (double)v.interactive_tokens);
		cJSON_AddNumberToObject(o, "interactive_peak_tokens",
					(double)v.interactive_peak_tokens);
		q = cJSON_AddObjectToObject(o, "queue");
		w = cJSON_AddObjectToObject(o, "waits");
		for (int k = 0; k < POOL_CLASSES; k++) {
			cJSON *one = cJSON_AddObjectToObject(w, pool_class_name(k));

			cJSON_AddNumberToObject(q, pool_class_name(k), (double)v.queued[k]);
			cJSON_AddNumberToObject(one, "count", (double)st->waits[k]);
			cJSON_AddNumberToObject(one, "total_s", (double)st->wait_ms[k] / 1e3);
			cJSON_AddNumberToObject(one, "max_s", (double)st->max_ms[k] / 1e3);
			cJSON_AddNumberToObject(one, "deferred", (double)st->deferred[k]);
		}
		cJSON_AddItemToArray(arr, o);
	}
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}
