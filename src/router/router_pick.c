/* router_pick: which deployment of a group an attempt goes to, and what the router keeps of
 * each deployment to decide it: the cooldowns (allowed_fails, allowed_fails_policy), the
 * rpm/tpm windows, the latency rings of latency-based-routing, LiteLLM's deployment-state
 * gauge. The decisions are router/policy.c's pure functions; this file fills their inputs
 * from the router's state (the candidates, `order`, the rate pools) and acts on the answer.
 *
 * Split from router.c (the state machine), which calls router_pick before each attempt and
 * router_note_* after it.
 */
#include "router/router_int.h"
#include "router/policy.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool cooling(const struct deployment *d, int64_t t_ms)
{
	return d->cooldown_until_ms > t_ms;
}

void router_set_state_metric(struct router *r, struct deployment *d, int64_t t_ms)
{
	const char *base = d->m->litellm_params.api_base;
	const char *v[] = {d->m->model_name, d->m->model_info.id, base ? base : "", d->m->provider,
			   NULL};

	/* an inactive deployment (nothing to call) is LiteLLM's 2, a complete outage */
	metric_set(r->m.state, v,
		   d->m->inactive ? 2
				  : policy_deployment_state(
					    d->cooldown_until_ms, d->last_fail_ms, t_ms,
					    r->cfg->router_settings.cooldown_time_s * 1000));
}

void router_note_failure(struct router *r, struct deployment *d, enum policy_eclass err,
			 long status)
{
	const struct config_router_settings *rs = &r->cfg->router_settings;
	int64_t t = now_mono_ms(), window = rs->cooldown_time_s * 1000;
	int64_t allowed =
		policy_allowed_fails(&rs->allowed_fails_policy, rs->allowed_fails, err, status);
	size_t recent;
	char st[16];

	d->last_fail_ms = t;
	d->fail_ms[d->fail_pos] = t;
	d->fail_pos = (d->fail_pos + 1) % d->n_fail_slots;
	recent = policy_recent_failures(d->fail_ms, d->n_fail_slots, t, window);
	/* The ring holds as many failures as the largest threshold (at most router.c's
	 * FAIL_SLOTS_MAX): a class allowed more never fills it. */
	if ((size_t)allowed < d->n_fail_slots &&
	    policy_starts_cooldown(recent, allowed, cooling(d, t))) {
		const char *v[] = {d->m->model_name,
				   d->m->model_info.id,
				   d->m->litellm_params.api_base,
				   d->m->provider,
				   st,
				   NULL};

		snprintf(st, sizeof(st), "%ld", status);
		d->cooldown_until_ms = t + window;
		memset(d->fail_ms, 0, d->n_fail_slots * sizeof(*d->fail_ms));
		metric_inc(r->m.cooled, v, 1);
		log_warn("deployment %s (%s) cooling down for %lld s after %zu failures",
			 d->m->model_info.id, d->m->model_name,
			 (long long)r->cfg->router_settings.cooldown_time_s, recent);
	}
	router_set_state_metric(r, d, t);
}

static const enum policy_strategy strategies[] = {
	[CONFIG_ROUTING_SIMPLE_SHUFFLE] = STRATEGY_SIMPLE_SHUFFLE,
	[CONFIG_ROUTING_LEAST_BUSY] = STRATEGY_LEAST_BUSY,
	[CONFIG_ROUTING_LATENCY] = STRATEGY_LATENCY,
	[CONFIG_ROUTING_USAGE] = STRATEGY_USAGE,
	[CONFIG_ROUTING_USAGE_V2] = STRATEGY_USAGE,
	[CONFIG_ROUTING_COST] = STRATEGY_COST,
};

/* Fills the group's candidates with what the strategy reads: the rpm/tpm window is summed only
 * for a deployment with limits or under usage-based routing, the latency ring only under
 * latency-based-routing. */
static void fill_candidates(struct router_call *c, enum policy_strategy st, int64_t t, bool wait)
{
	struct router *r = c->r;
	struct group *g = c->group;
	bool stream = c->client_stream;
	int64_t ttl_ms = r->cfg->router_settings.routing_args.ttl_s * 1000;

	for (size_t i = 0; i < g->n_deps; i++) {
		const struct deployment *d = g->deps[i];
		const struct config_litellm_params *p = &d->m->litellm_params;
		struct policy_candidate *k = &g->cand[i];

		k->cooldown_until_ms = d->cooldown_until_ms;
		k->in_flight = d->in_flight;
		k->max_parallel = p->max_parallel_requests;
		k->weight = d->share;
		k->tpm = p->tpm;
		k->rpm = p->rpm;
		k->tpm_used = k->rpm_used = 0;
		if ((p->rpm || p->tpm || st == STRATEGY_USAGE) && !cooling(d, t))
			policy_window_sum(&d->win, t / 1000, &k->rpm_used, &k->tpm_used);
		/* a deployment in rate pools (its tpm/rpm is a pool of one, router_pool.c) is over
		 * while they cannot take this call now; on the second pass (wait) it may be picked
		 * to wait */
		if (d->n_pools)
			k->over_limits = !wait && !cooling(d, t) && !router_pool_would_go(c, d);
		else
			k->over_limits =
				policy_over_limits(p->rpm, p->tpm, k->rpm_used, k->tpm_used);
		k->cost = d->cost_per_token;
		k->order = p->order;
		k->latency_ms = -1;
		if (st == STRATEGY_LATENCY && stream)
			k->latency_ms = policy_latency_mean(&d->ttft, t, ttl_ms);
		if (st == STRATEGY_LATENCY && k->latency_ms < 0)
			k->latency_ms = policy_latency_mean(&d->lat, t, ttl_ms);
	}
}

/* When none of the group is usable and not all cool down: the seconds until the first has
 * room again (a call in flight ends within a second or so; a full minute window frees when its
 * oldest second leaves it), or the first cooldown ends (cool_s), whichever is sooner. The
 * candidates are those the pick just filled. */
static long limits_wait_s(const struct group *g, int64_t t, long cool_s)
{
	long wait = -1, w;
	bool any_cooling = false;

	for (size_t i = 0; i < g->n_deps; i++) {
		const struct policy_candidate *k = &g->cand[i];

		if (k->cooldown_until_ms > t) {
			any_cooling = true;
			continue;
		}
		w = k->max_parallel > 0 && k->in_flight >= k->max_parallel
			    ? 1
			    : policy_window_free_in_s(&g->deps[i]->win, t / 1000);
		if (wait < 0 || w < wait)
			wait = w;
	}
	if (any_cooling && (wait < 0 || cool_s < wait))
		wait = cool_s;
	return wait > 0 ? wait : 1;
}

/* One pass of router_pick(); wait: a deployment whose own rate pool is full may be picked. */
static struct deployment *pick_of(struct router_call *c, long *wait_s, bool *all_cooling, bool wait)
{
	struct router *r = c->r;
	struct group *g = c->group;
	const struct config_router_settings *rs = &r->cfg->router_settings;
	struct policy_pick_ask a = {.strategy = strategies[rs->routing_strategy],
				    .latency_buffer = rs->routing_args.lowest_latency_buffer,
				    .tokens = (int64_t)(c->body_len / 4),
				    .avoid = -1,
				    .now_ms = now_mono_ms()};
	long i;

	a.draw = a.strategy == STRATEGY_LEAST_BUSY ? 0 : random();
	fill_candidates(c, a.strategy, a.now_ms, wait);
	router_order_filter(c, a.now_ms);
	for (i = 0; i < (long)g->n_deps; i++)
		if (g->deps[i] == c->last_failed)
			a.avoid = i;
	i = policy_pick_by(g->cand, g->n_deps, &a, wait_s, all_cooling);
	if (i < 0 && !*all_cooling)
		*wait_s = limits_wait_s(g, a.now_ms, *wait_s);
	return i < 0 ? NULL : g->deps[i];
}

/* Picks a usable deployment of the group with the configured strategy (policy_pick_by),
 * avoiding the one that just failed when another is usable. Returns NULL and sets *wait_s when
 * all are cooling, over their rpm/tpm or at their max_parallel_requests. A deployment in rate
 * pools (its tpm/rpm is a pool of one) is picked only when they would take this call now,
 * unless none of the group would: then the call waits in the pools of the one the strategy
 * picks (a second pass). */
struct deployment *router_pick(struct router_call *c, long *wait_s, bool *all_cooling)
{
	struct deployment *d = pick_of(c, wait_s, all_cooling, false);

	return d || *all_cooling ? d : pick_of(c, wait_s, all_cooling, true);
}

/* What a finished attempt says of its deployment's latency (latency-based-routing); a timeout
 * counts as 1000 s, as LiteLLM's lowest-latency router counts it. */
void router_note_latency(struct router_call *c, bool timed_out)
{
	const struct config_router_settings *rs = &c->r->cfg->router_settings;
	struct deployment *d = c->dep;
	int64_t now_us = c->count_pending ? c->t_answer : now_mono_us(), t = now_us / 1000, v;
	size_t keep = (size_t)rs->routing_args.max_latency_list_size;

	if (rs->routing_strategy != CONFIG_ROUTING_LATENCY)
		return;
	if (timed_out) {
		policy_latency_add(c->client_stream ? &d->ttft : &d->lat, t, 1000000000, keep);
		return;
	}
	v = policy_latency_sample(c->client_stream,
				  c->t_first_token ? c->t_first_token - c->t_attempt : 0,
				  now_us - c->t_attempt, c->completion_tokens);
	policy_latency_add(c->client_stream && c->t_first_token ? &d->ttft : &d->lat, t, v, keep);
}
