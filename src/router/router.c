/* router: one `struct router_call` per client request, driven as a state machine on the loop:
 *
 *   start -> checks (allowlist, key models, budget) -> pick deployment
 *     -> reserve the attempt's estimated cost in the budgets (while calls in flight hold
 *        the rest of one: wait for them, polling, within the call's timeout) -> send
 *     -> answer ok -> metrics -> done
 *     -> retryable error and retries left in this group -> backoff timer -> pick -> send
 *     -> group exhausted -> next group of the fallback chain (chosen by the first error's
 *        class, only groups the caller's key may use) -> pick -> send ... -> chain
 *        exhausted -> error to the client
 *
 * Every attempt settles when its HTTP request ends, whatever the call does next: the
 * reservation is given back and, when the provider received the request and did not refuse
 * it with an HTTP error, its cost goes to the ledger (the provider's usage, else an estimate
 * from the bytes sent and the text seen, marked as such), so cancelled, cut, timed-out and
 * oversized attempts and every retry are paid for in the budgets and the breaker.
 *
 * Streams (read in router_stream.c): upstream SSE events are parsed as they arrive; until
 * the first event has been forwarded a failure may still retry or fall back; after it, a
 * failure becomes an SSE error event so the client is never cut silently. Keep-alive comments
 * are dropped and the usage chunk is captured for the ledger even when the client did not ask
 * for it. The decisions (classes, retries, picking, the fallback chain) are router/policy.c's.
 *
 * The client's JSON is parsed with cJSON and re-serialised per attempt with the deployment's
 * model id; unknown fields pass through untouched, numbers as written (json_exact). The tree is
 * dropped once the first attempt is sent (open streams should not hold it) and parsed again from
 * the kept text on a retry. Rejected: buffering whole streams (breaks time to first token) and a
 * thread per call.
 *
 * This file is the state machine and the router itself (deployments, groups, the timer,
 * attempt, retry and fallback, a stream's end, finish, cancel). The request's reading and
 * admission are router_admit.c's, the pick of a deployment and its cooldowns router_pick.c's,
 * an attempt's framing for the dialect router_upstream.c's, its reservation, price and ledger
 * row router_cost.c's, a whole answer's reading router_answer.c's, a stream's router_stream.c's.
 * This file owns the call: those helpers never call into it but through the three transitions
 * of `owner` (struct call_owner, router_int.h), and end a call through router_end.c (README.md,
 * "Who calls whom").
 */
#include "router/router.h"
#include "router/router_int.h"
#include "router/breaker.h"
#include "router/gtoken.h"
#include "router/lane.h"
#include "router/policy.h"
#include "router/providers/prompt_cache.h"
#include "router/router_metrics.h"
#include "core/alloc_front.h"
#include "core/audit.h"
#include "core/config.h"
#include "net/httpc.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "router/spend.h"
#include "net/sse.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- routes ---- */

const struct route_spec router_route_specs[PROVIDER_ROUTES] = {
	[PROVIDER_CHAT] =
		{{"messages"}, {"max_tokens", "max_completion_tokens"}, false, true, true},
	[PROVIDER_COMPLETIONS] =
		{{"prompt"}, {"max_tokens", "max_completion_tokens"}, false, true, true},
	[PROVIDER_EMBEDDINGS] = {{"input"}, {NULL}, false, false, false},
	[PROVIDER_TRANSCRIPTIONS] = {{"file"}, {NULL}, true, false, true},
	[PROVIDER_SPEECH] = {{"input", "voice"}, {NULL}, false, false, false},
	[PROVIDER_RESPONSES] = {{"input"}, {"max_output_tokens"}, false, true, true},
	[PROVIDER_IMAGES] = {{"prompt"}, {NULL}, false, false, false},
	[PROVIDER_RERANK] = {{"query", "documents"}, {NULL}, false, false, false},
	[PROVIDER_IMAGE_EDITS] = {{"prompt"}, {NULL}, true, false, false},
};

/* The transitions the helpers reach through r->owner (router_int.h, struct call_owner). */
static void router_attempt_failed(struct router_call *c);
static void router_group_exhausted(struct router_call *c);
static void router_answer_ok(struct router_call *c, char *body, size_t len, const char *type);

static const struct call_owner owner = {
	.attempt_failed = router_attempt_failed,
	.group_exhausted = router_group_exhausted,
	.answer_ok = router_answer_ok,
};

static struct group *find_group(const struct router *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n_groups; i++)
		if (strcmp(r->groups[i].name, name) == 0)
			return &r->groups[i];
	return NULL;
}

bool router_has_model(const struct router *r, const char *name)
{
	return name && find_group(r, name) != NULL;
}

bool router_wants_cache_marks(const struct router *r, const char *name)
{
	const struct group *g = name ? find_group(r, name) : NULL;

	for (size_t i = 0; g && i < g->n_deps; i++)
		if (prompt_cache_needs_marks(g->deps[i]->m))
			return true;
	return false;
}

size_t router_in_flight(const struct router *r)
{
	return r->in_flight;
}

/* ---- metrics ---- */

static void collect(struct metrics *m, void *arg)
{
	struct router *r = arg;
	int64_t t = router_now_ms();
	size_t i;

	metric_set(r->m.in_flight, NULL, (double)r->in_flight);
	metric_set(r->m.kept_bytes, NULL, (double)alloc_front_bytes());
	router_pools_collect(r);
	for (i = 0; i < r->n_deps; i++)
		router_set_state_metric(r, &r->deps[i], now_mono_ms());
	if (!r->spend)
		return;
	metric_set(r->m.spend_today, NULL, spend_day_usd(r->spend, t));
	for (i = 0; i < r->cfg->n_keys; i++) {
		const struct config_key *k = &r->cfg->keys[i];
		char hash[65];
		const char *v[] = {hash, k->alias, NULL};

		sha256_hex(k->key, strlen(k->key), hash);
		metric_set(r->m.remaining, v, spend_key_remaining_usd(r->spend, hash, k, t));
	}
}

/* ---- setup ---- */

/* The failure ring holds the largest number of failures any class may have before a cooldown
 * (allowed_fails and allowed_fails_policy), at most FAIL_SLOTS_MAX: a class allowed more
 * never starts one. */
#define FAIL_SLOTS_MAX 1001

static size_t fail_slots(const struct config_router_settings *rs)
{
	const struct config_allowed_fails_policy *p = &rs->allowed_fails_policy;
	const int64_t v[] = {rs->allowed_fails,	 p->bad_request,	 p->authentication,
			     p->timeout,	 p->rate_limit,		 p->content_policy,
			     p->internal_server, p->service_unavailable, p->bad_gateway,
			     p->not_found};
	int64_t most = 0;

	for (size_t i = 0; i < ARRAY_LEN(v); i++)
		if (v[i] > most)
			most = v[i];
	return most + 1 < FAIL_SLOTS_MAX ? (size_t)most + 1 : FAIL_SLOTS_MAX;
}

static void setup_deployment(struct router *r, struct deployment *d, const struct config_model *m)
{
	d->m = m;
	d->ops = provider_ops_of(m->dialect);
	d->headers = provider_headers(m, &r->cfg->router);
	d->prepared = httpc_headers_prepare((const char *const *)d->headers);
	d->n_fail_slots = fail_slots(&r->cfg->router_settings);
	d->fail_ms = xcalloc(d->n_fail_slots, sizeof(*d->fail_ms));
	d->cost_per_token =
		m->model_info.input_cost_per_token + m->model_info.output_cost_per_token;
	/* No price (0 and 0) is unknown: cost-based-routing tries it last. */
	if (d->cost_per_token <= 0)
		d->cost_per_token = -1;
	if (m->gcp.client_email && !m->inactive && !m->needs_at_call) {
		d->gacct = gtoken_account(r->gtoken, &m->gcp);
		if (!d->gacct)
			log_warn("deployment %s: too many service accounts; it is called without "
				 "a token",
				 m->model_info.id);
	}
}

/* The simple-shuffle shares of a group's deployments, decided once from the config. */
static void setup_shares(struct group *g)
{
	struct policy_share_in *in = xcalloc(g->n_deps ? g->n_deps : 1, sizeof(*in));
	int64_t *out = xcalloc(g->n_deps ? g->n_deps : 1, sizeof(*out));

	for (size_t i = 0; i < g->n_deps; i++) {
		const struct config_litellm_params *p = &g->deps[i]->m->litellm_params;

		in[i] = (struct policy_share_in){p->weight, p->rpm, p->tpm};
	}
	policy_shares(in, g->n_deps, out);
	for (size_t i = 0; i < g->n_deps; i++)
		g->deps[i]->share = out[i];
	free(in);
	free(out);
}

/* A token exchange ended: the calls that waited for it try again (gtoken.h). */
static void on_token_ready(struct gtoken_account *a, void *arg)
{
	struct router *r = arg;
	struct router_call *c;

	for (c = r->calls; c; c = c->next)
		if (c->token_wait && c->token_acct == a && !c->done && !c->cancelled &&
		    c->timer_kind == T_NONE) {
			c->token_wait = false;
			router_arm(c, T_BACKOFF, 0);
		}
}

struct router *router_create(const struct config *cfg, struct loop *loop, struct spend *spend,
			     struct metrics *metrics)
{
	struct router *r = xcalloc(1, sizeof(*r));
	size_t i, j;

	r->cfg = cfg;
	r->owner = &owner;
	r->loop = loop;
	r->spend = spend;
	buf_init(&r->out, 0);
	r->n_deps = cfg->n_models;
	r->deps = xcalloc(r->n_deps ? r->n_deps : 1, sizeof(*r->deps));
	r->gtoken = gtoken_create(loop, on_token_ready, r);
	for (i = 0; i < cfg->n_models; i++)
		setup_deployment(r, &r->deps[i], &cfg->models[i]);
	r->n_groups = cfg->n_model_groups;
	r->groups = xcalloc(r->n_groups ? r->n_groups : 1, sizeof(*r->groups));
	for (i = 0; i < r->n_groups; i++) {
		struct group *g = &r->groups[i];

		g->name = cfg->model_groups[i];
		g->deps = xcalloc(r->n_deps ? r->n_deps : 1, sizeof(*g->deps));
		/* an inactive deployment (config_compat.c) is never picked */
		for (j = 0; j < r->n_deps; j++)
			if (strcmp(r->deps[j].m->model_name, g->name) == 0 &&
			    !r->deps[j].m->inactive)
				g->deps[g->n_deps++] = &r->deps[j];
		g->cand = xcalloc(g->n_deps ? g->n_deps : 1, sizeof(*g->cand));
		setup_shares(g);
	}
	/* Keep a warm connection for every call that may be in flight at once. */
	loop_set_max_connections(loop, (long)cfg->router.max_concurrent_upstream);
	router_metrics_register(&r->m, metrics);
	router_pools_create(r);
	metrics_on_collect(metrics, collect, r);
	for (i = 0; i < r->n_deps; i++)
		router_set_state_metric(r, &r->deps[i], now_mono_ms());
	return r;
}

/* ---- call lifecycle ---- */

static void attempt(struct router_call *c);
static void finish(struct router_call *c);
static void call_release(struct router *r, struct router_call *c);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct router_call *c = arg;
	int kind = c->timer_kind;

	c->timer_kind = T_NONE;
	switch (kind) {
	case T_BACKOFF:
		attempt(c);
		break;
	case T_FINISH:
		finish(c);
		break;
	case T_STREAM_TIMEOUT:
		/* No data event before stream_timeout: give up on this attempt. */
		if (c->http && !c->got_event) {
			free(c->err_msg);
			c->err = E_TIMEOUT;
			c->err_status = 408;
			c->err_msg = xasprintf("no streamed chunk from %s within stream_timeout",
					       c->dep->m->model_info.id);
			httpc_cancel(c->http);
		}
		break;
	}
}

static void on_http_done(struct httpc_req *req, void *arg);

/* Every deployment of the group is inactive (a provider hermetic cannot call): a 503 that
 * says why, and the group's fallbacks. */
static void no_active_deployment(struct router_call *c)
{
	const char *why = "";
	size_t i;

	for (i = 0; i < c->r->n_deps && !*why; i++)
		if (strcmp(c->r->deps[i].m->model_name, c->group->name) == 0 &&
		    c->r->deps[i].m->inactive)
			why = c->r->deps[i].m->inactive;
	free(c->err_msg);
	c->err = E_SERVER;
	c->err_status = 503;
	c->err_msg = xasprintf("model '%s' has no active deployment (config check lists them): %s",
			       c->group->name, why);
	c->dep = NULL;
	router_group_exhausted(c);
}

/* The audit line of a group the lane refused: nothing was sent, so there is no attempt. */
static void audit_refused(const struct router_call *c, const char *lane)
{
	struct audit_line l;

	audit_begin(&l, "lane_refused");
	if (!l.on)
		return;
	audit_str(&l, "source", c->source);
	if (c->who.session_id)
		audit_int(&l, "session", c->who.session_id);
	audit_str(&l, "purpose", c->purpose);
	audit_str(&l, "key_alias", c->key_alias);
	audit_str(&l, "lane", lane);
	audit_int(&l, "call", c->id);
	audit_str(&l, "model_group", c->chain[c->chain_pos]);
	audit_int(&l, "fallback", c->fallbacks);
	audit_end(&l);
}

/* True when the call's lane may reach c->group; else the group counts as failed (its
 * fallbacks are tried, each checked here again) and nothing is sent to it. */
static bool lane_admits(struct router_call *c)
{
	const struct config *cfg = c->r->cfg;
	const struct config_lane *l;
	struct buf allowed;
	size_t i;

	if (lane_allows(cfg->lanes, cfg->n_lanes, c->lane, c->group ? c->group->name : NULL))
		return true;
	l = &cfg->lanes[c->lane];
	buf_init(&allowed, 0);
	for (i = 0; i < l->n_models; i++)
		buf_printf(&allowed, "%s%s", i ? ", " : "", l->models[i]);
	free(c->err_msg);
	c->err = E_AUTH;
	c->err_status = 403;
	c->err_msg = xasprintf("lane '%s' may not reach model group '%s' (its groups: %s); "
			       "nothing was sent to it",
			       l->name, c->chain[c->chain_pos], allowed.data ? allowed.data : "");
	buf_finish(&allowed);
	log_info("call %lld: %s", (long long)c->id, c->err_msg);
	audit_refused(c, l->name);
	router_group_exhausted(c);
	return false;
}

static void attempt(struct router_call *c)
{
	struct router *r = c->r;
	struct httpc_opts o = {0};
	struct provider_request preq = {0};
	const struct config_litellm_params *p;
	const char *token = NULL;
	char msg[512];
	long wait_s = 1;
	bool all_cooling;
	int64_t timeout_s;

	if (c->cancelled) {
		router_pool_drop(c);
		router_fail_call(c, E_CANCELLED, 499, "cancelled");
		return;
	}
	if (router_still_waiting(c))
		return;
	if (c->pool_state == CP_READY) /* granted after a wait: send to the deployment asked for */
		goto picked;
	c->group = find_group(r, c->chain[c->chain_pos]);
	/* Every attempt passes here before anything is sent: the requested group, its retries
	 * and each fallback. */
	if (!lane_admits(c))
		return;
	if (c->group->n_deps == 0) {
		no_active_deployment(c);
		return;
	}
	if ((int64_t)r->in_flight >= r->cfg->router.max_concurrent_upstream) {
		router_fail_call(c, E_RATE_LIMIT, 429,
				 "too many concurrent upstream requests; retry later");
		c->retry_after_s = 1;
		return;
	}
	c->dep = router_pick(c, &wait_s, &all_cooling);
	if (!c->dep) {
		free(c->err_msg);
		c->retry_after_s = wait_s;
		c->err_status = 429;
		if (all_cooling) {
			c->err = E_NO_DEPLOYMENT;
			c->err_msg = xasprintf("No deployments available for selected model, Try"
					       " again in %ld seconds",
					       wait_s);
		} else {
			c->err = E_RATE_LIMIT;
			c->err_msg =
				xasprintf("every deployment of %s is at its rpm/tpm or "
					  "max_parallel_requests limit; try again in %ld seconds",
					  c->group->name, wait_s);
		}
		router_group_exhausted(c);
		return;
	}
picked:
	if (router_needs_at_call(c))
		return;
	p = &c->dep->m->litellm_params;
	timeout_s = p->timeout_s ? p->timeout_s : r->cfg->router_settings.timeout_s;
	if (!c->req && router_parse_request(c) < 0) {
		router_fail_call(c, E_BAD_REQUEST, 400, "request body is not a JSON object");
		return;
	}
	if (c->dep->gacct && router_google_token(c, &token) < 0)
		return;
	if (router_upstream_request(c, &preq) < 0) {
		router_pool_drop(c);
		return;
	}
	if (token)
		router_add_bearer(c, &preq, token);
	o.body_len = preq.body_len;
	if (router_pool_ask(c, o.body_len) < 0) {
		/* waiting (a grant runs this again) or moved on: the request is rebuilt then */
		provider_request_finish(&preq);
		router_drop_call(c);
		return;
	}
	if (router_reserve(c, o.body_len) < 0) {
		router_pool_drop(c);
		provider_request_finish(&preq);
		return;
	}
	/* An open stream should not hold the parsed request (about 1 KiB for a short one): a
	 * retry or fallback parses the kept text again. */
	router_drop_call(c);
	if (r->breaker && breaker_admit(r->breaker, now_mono_ms(), msg, sizeof(msg)) < 0) {
		struct breaker_state bs;

		router_release(c);
		router_pool_drop(c);
		provider_request_finish(&preq);
		breaker_state(r->breaker, now_mono_ms(), &bs);
		c->dep = NULL;
		router_fail_call(c, E_BREAKER, 429, msg);
		c->retry_after_s = bs.until_ms ? (bs.until_ms - now_mono_ms()) / 1000 + 1 : 0;
		return;
	}
	c->err = E_NONE;
	c->retry_after_s = 0;
	o.url = preq.url;
	o.headers = (const char *const *)(preq.headers ? preq.headers : c->dep->headers);
	o.prepared = c->dep->prepared; /* used only when o.headers are the deployment's */
	o.body = preq.body;
	o.timeout_ms = timeout_s * 1000;
	o.connect_timeout_ms = timeout_s < 10 ? timeout_s * 1000 : 10000;
	o.max_response_bytes = (size_t)r->cfg->router.max_response_bytes;
	c->got_event = c->upstream_done = false;
	c->stream_bytes = 0;
	buf_reset(&c->errbody);
	if (c->client_stream) {
		o.on_data = router_on_http_data;
		if (c->sse_active)
			sse_finish(&c->sse);
		sse_init(&c->sse, SSE_EVENT_CAP,
			 c->route == PROVIDER_RESPONSES ? router_stream_on_responses_event
							: router_stream_on_event,
			 c);
		buf_finish(&c->held);
		c->next_seq = 0;
		c->sse_active = true;
		if (c->pstream)
			c->pstream_ops->stream_destroy(c->pstream);
		c->pstream_ops = c->dep->ops;
		c->pstream = c->route == PROVIDER_CHAT && c->dep->ops->stream_create
				     ? c->dep->ops->stream_create(c->dep->m, SSE_EVENT_CAP,
								  router_stream_on_chunk, c)
				     : NULL;
	}
	c->t_attempt = now_mono_us();
	/* httpc takes the body: a long prompt or an audio form is not copied once more. */
	o.body_take = preq.body != NULL;
	preq.body = NULL;
	if (httpc_start(r->loop, &o, on_http_done, c, &c->http) < 0) {
		router_release(c);
		router_pool_drop(c);
		provider_request_finish(&preq);
		router_fail_call(c, E_TRANSPORT, 502,
				 "cannot start the upstream request (bad api_base?)");
		return;
	}
	provider_request_finish(&preq);
	router_pool_sent(c);
	/* The usage and cost read from here on are this attempt's. */
	c->attempt_open = true;
	c->attempt_no++;
	c->attempt_fallback = c->fallbacks;
	c->sent_bytes = o.body_len;
	c->output_chars = 0;
	c->prompt_tokens = c->completion_tokens = 0;
	c->cached_tokens = c->cache_write_tokens = 0;
	c->cost_usd = 0;
	c->have_cost = c->got_usage = c->estimated = false;
	c->images = 0;
	c->images_counted = false;
	c->cost_source = NULL;
	c->dep->in_flight++;
	r->in_flight++;
	policy_window_add(&c->dep->win, now_mono_ms() / 1000, 1, 0);
	if (c->client_stream) {
		int64_t st = p->stream_timeout_s ? p->stream_timeout_s : timeout_s;

		router_arm(c, T_STREAM_TIMEOUT, st * 1000);
	}
}

/* Decides the fallback chain from the class of the requested group's failure
 * (policy_fallback_chain). */
static void decide_chain(struct router_call *c)
{
	const struct config *cfg = c->r->cfg;
	struct policy_fallback_ask ask = {
		.requested = c->requested,
		.err = c->err,
		.disable_fallbacks = c->disable_fallbacks,
		.body_fallbacks = c->body_fallbacks,
		.n_body_fallbacks = c->n_body_fallbacks,
		.ls = &cfg->litellm_settings,
		.max_fallbacks = cfg->router_settings.max_fallbacks,
		.key = c->who.key,
		.groups = cfg->model_groups,
		.n_groups = cfg->n_model_groups,
	};

	c->chain_decided = true;
	policy_fallback_chain(&ask, &c->chain, &c->n_chain);
}

static void fallback_metric(struct router_call *c, struct metric *m)
{
	char st[16];
	const char *v[] = {c->requested, c->chain[c->chain_pos], st,
			   policy_class_name(c->first_err), NULL};

	snprintf(st, sizeof(st), "%ld", c->first_err_status);
	metric_inc(m, v, 1);
}

static void router_group_exhausted(struct router_call *c)
{
	if (c->chain_pos == 0) {
		c->first_err = c->err;
		c->first_err_status = c->err_status;
	}
	if (router_order_next(c)) {
		router_arm(c, T_BACKOFF, 0);
		return;
	}
	router_order_reset(c);
	if (!c->chain_decided)
		decide_chain(c);
	if (c->chain_pos > 0)
		fallback_metric(c, c->r->m.fb_fail);
	if (c->chain_pos + 1 < c->n_chain) {
		c->chain_pos++;
		c->fallbacks++;
		c->attempts_in_group = 0;
		c->last_failed = NULL;
		log_info("falling back from %s to %s after %s", c->chain[c->chain_pos - 1],
			 c->chain[c->chain_pos], policy_class_name(c->err));
		router_arm(c, T_BACKOFF, 0);
		return;
	}
	router_fail_call(c, c->err, c->err_status, c->err_msg ? c->err_msg : "upstream failed");
}

/* One attempt failed before anything reached the client: retry, fall back, or give up. */
static void router_attempt_failed(struct router_call *c)
{
	struct router *r = c->r;
	int64_t allowed =
		policy_retries(&r->cfg->router_settings.retry_policy,
			       c->dep->m->litellm_params.num_retries, c->err, c->err_status);
	int64_t left_ms =
		r->cfg->router_settings.timeout_s * 1000 - (now_mono_us() - c->t_start) / 1000;
	int64_t delay;
	const char *v[] = {c->group->name, NULL};

	if (policy_counts_for_cooldown(c->err, c->err_status))
		router_note_failure(r, c->dep, c->err, c->err_status);
	if (c->err == E_TIMEOUT)
		router_note_latency(c, true);
	c->last_failed = c->dep;
	router_scrub_error(c); /* the client and the log see it without our credentials */
	log_info("%s via %s failed: %s %ld: %s", c->group->name, c->dep->m->model_info.id,
		 policy_class_name(c->err), c->err_status, c->err_msg ? c->err_msg : "");
	delay = policy_retry_delay_ms(c->attempts_in_group, allowed, c->cancelled, c->retry_after_s,
				      c->retry_after_s > 0 ? 0 : random(),
				      r->cfg->router_settings.retry_after_s * 1000, left_ms);
	if (delay >= 0) {
		c->attempts_in_group++;
		c->retries++;
		c->backoff_us += delay * 1000;
		metric_inc(r->m.retries, v, 1);
		router_arm(c, T_BACKOFF, delay);
		return;
	}
	router_group_exhausted(c);
}

static long parse_retry_after(const char *v)
{
	int64_t n;

	return v && parse_i64(v, 0, 86400, &n) == 0 ? (long)n : 0;
}

/* Metrics of an answer that reached the client (its cost is settled with the attempt). */
static void count_success(struct router_call *c)
{
	struct router *r = c->r;
	const struct config_model *m = c->dep->m;
	int64_t t = c->count_pending ? c->t_answer : now_mono_us();
	double secs = (double)(t - c->t_attempt) / 1e6;
	const char *mv[] = {m->litellm_params.model, NULL};
	const char *kv[] = {
		m->litellm_params.model, c->key_hash, router_alias_or_none(c), NULL, NULL, NULL};
	const char *tv[] = {m->litellm_params.model,
			    c->group->name,
			    c->key_hash,
			    router_alias_or_none(c),
			    NULL,
			    NULL,
			    NULL};

	router_estimate_tokens(c);
	router_note_latency(c, false);
	metric_inc(r->m.requests, kv, 1);
	{
		struct metric *const fs[] = {r->m.in_tokens, r->m.out_tokens, r->m.cached_tokens,
					     r->m.cache_write_tokens, r->m.tokens};
		const double by[] = {(double)c->prompt_tokens, (double)c->completion_tokens,
				     (double)c->cached_tokens, (double)c->cache_write_tokens,
				     (double)(c->prompt_tokens + c->completion_tokens)};

		metric_inc_each(fs, by, ARRAY_LEN(fs), tv);
	}
	metric_observe(r->m.api_latency, mv, secs);
	if (c->t_first_token)
		metric_observe(r->m.ttft, mv, (double)(c->t_first_token - c->t_attempt) / 1e6);
	if (c->fallbacks)
		fallback_metric(c, r->m.fb_ok);
	c->count_pending = false;
}

/* An answer reached (or is about to reach) the client: its metrics now, or after on_done for a
 * reply_first caller; the tokens the result reports are settled either way. */
static void succeeded(struct router_call *c)
{
	if (!c->who.reply_first) {
		count_success(c);
		return;
	}
	router_estimate_tokens(c);
	c->t_answer = now_mono_us();
	c->count_pending = true;
}

/* The stream reached the client and then broke: tell it in the stream, never cut silently. */
static void end_stream_with_error(struct router_call *c, const char *already_forwarded)
{
	if (!already_forwarded && c->route == PROVIDER_RESPONSES) {
		router_responses_forward_error(c);
	} else if (!already_forwarded) {
		cJSON *e = router_error_json(c->err ? c->err : E_SERVER, 502,
					     c->err_msg ? c->err_msg : "upstream stream broke");
		char *ev = cJSON_PrintUnformatted(e);

		cJSON_Delete(e);

		router_stream_forward(c, ev, strlen(ev));
		free(ev);
	}
	succeeded(c);
	c->final_status = 200;
	c->stream_failed = true;
	router_arm(c, T_FINISH, 0);
}

/* The client's end of a whole stream: "[DONE]" as OpenAI's chat and completions end theirs;
 * a Responses stream ended with its final event, already forwarded. */
static void end_stream(struct router_call *c)
{
	char *held = router_redact_flush(c); /* restored text held back for a placeholder */

	if (held)
		router_stream_forward(c, held, strlen(held));
	free(held);
	if (c->route != PROVIDER_RESPONSES)
		c->cbs.on_stream_data(c, "data: [DONE]\n\n", 14, c->arg);
}

static void on_stream_done(struct router_call *c, enum httpc_result res)
{
	if (c->stream_started) {
		if (res == HTTPC_OK && c->upstream_done) {
			end_stream(c);
			succeeded(c);
			c->final_status = 200;
			router_arm(c, T_FINISH, 0);
			return;
		}
		if (res == HTTPC_OK || !c->err) {
			c->err = E_TRANSPORT;
			c->err_status = 502;
			free(c->err_msg);
			c->err_msg =
				xstrdup(c->route == PROVIDER_RESPONSES
						? "upstream stream ended before response.completed"
						: "upstream stream ended before [DONE]");
		}
		end_stream_with_error(c, c->stream_failed_forwarded ? "yes" : NULL);
		return;
	}
	if (res == HTTPC_OK && c->upstream_done) {
		/* A valid stream without a single chunk: answer with an empty stream. */
		router_stream_start(c);
		end_stream(c);
		succeeded(c);
		c->final_status = 200;
		router_arm(c, T_FINISH, 0);
		return;
	}
	if (!c->err) {
		c->err = E_TRANSPORT;
		c->err_status = 502;
		free(c->err_msg);
		c->err_msg = xstrdup("upstream stream ended before its first chunk");
	}
	router_attempt_failed(c);
}

static void router_answer_ok(struct router_call *c, char *body, size_t len, const char *type)
{
	router_set_final(c, body, len, type);
	c->final_status = 200;
	succeeded(c);
	router_arm(c, T_FINISH, 0);
}

static void answer(struct router_call *c, struct httpc_req *req)
{
	enum httpc_result res = httpc_result(req);
	long status = httpc_status(req);
	size_t len;
	const char *body = httpc_body(req, &len);

	c->http = NULL;
	c->dep->in_flight--;
	c->r->in_flight--;
	c->upstream_us += now_mono_us() - c->t_attempt;
	if (c->timer_kind == T_STREAM_TIMEOUT) {
		evtimer_del(c->timer);
		c->timer_kind = T_NONE;
	}
	/* A refusal's advice (429, 503); a 200's head is not searched for it. */
	c->retry_after_s = status == 200 ? 0 : parse_retry_after(httpc_header(req, "Retry-After"));
	if (c->cancelled) {
		if (c->stream_started)
			c->final_status = 200;
		else
			router_fail_call(c, E_CANCELLED, 499, "cancelled");
		router_arm(c, T_FINISH, 0);
		return;
	}
	if (c->client_stream && status == 200 &&
	    (res == HTTPC_OK || c->err || c->got_event || c->stream_started)) {
		if (res != HTTPC_OK && !c->err) {
			c->err = res == HTTPC_TIMEOUT ? E_TIMEOUT : E_TRANSPORT;
			c->err_status = res == HTTPC_TIMEOUT ? 408 : 502;
			free(c->err_msg);
			c->err_msg = xstrdup(httpc_error(req));
		}
		on_stream_done(c, c->err ? HTTPC_TRANSPORT : res);
		return;
	}
	if (res != HTTPC_OK) {
		if (!c->err) {
			c->err = res == HTTPC_TIMEOUT || res == HTTPC_FIRST_BYTE ? E_TIMEOUT
				 : res == HTTPC_TOO_BIG				 ? E_MALFORMED
										 : E_TRANSPORT;
			c->err_status = c->err == E_TIMEOUT ? 408 : 502;
			free(c->err_msg);
			c->err_msg = xstrdup(httpc_error(req));
		}
		router_attempt_failed(c);
		return;
	}
	if (status != 200) {
		char *msg = NULL, *norm = NULL;

		if (c->client_stream) {
			body = buf_str(&c->errbody);
			len = c->errbody.len;
		}
		if (c->dep->ops->error)
			norm = c->dep->ops->error(status, body, len);
		c->err = policy_classify(status, norm ? norm : body, &msg);
		free(norm);
		c->err_status = status;
		free(c->err_msg);
		c->err_msg = msg;
		router_attempt_failed(c);
		return;
	}
	router_on_non_stream_ok(c, body, len, httpc_header(req, "Content-Type"));
}

/* What the answer means for the call first (retry, fall back, finish: all later, from the
 * loop), then what the attempt cost. */
static void on_http_done(struct httpc_req *req, void *arg)
{
	struct router_call *c = arg;

	answer(c, req);
	router_settle(c, req);
	router_pool_done(c, req);
}

/* ---- start, cancel, finish ---- */

/* The requested model where it is shown back (metric labels, x-litellm-model-group): a
 * configured group name, or NULL ("None") for a rejected one, never the client's string. */
static const char *known_requested(const struct router_call *c)
{
	return c->requested && router_has_model(c->r, c->requested) ? c->requested : NULL;
}

static void finish(struct router_call *c)
{
	struct router *r = c->r;
	int64_t t_end = now_mono_us();
	double total_s = (double)(t_end - c->t_start) / 1e6;
	double overhead_ms = (double)(t_end - c->t_start - c->upstream_us - c->backoff_us) / 1e3;
	struct router_result res = {
		.status = c->final_status,
		.body = c->final_body ? c->final_body : "",
		.body_len = c->final_body ? c->final_len : 0,
		.content_type = c->final_status == 200 ? c->final_type : NULL,
		.streamed = c->stream_started,
		.model_group = c->group ? c->group->name : known_requested(c),
		.deployment_id = c->dep && c->final_status == 200 ? c->dep->m->model_info.id : "",
		.cost_usd = c->cost_usd,
		.prompt_tokens = c->prompt_tokens,
		.completion_tokens = c->completion_tokens,
		.retries = c->retries,
		.fallbacks = c->fallbacks,
		.retry_after_s =
			c->final_status == 429 ? (c->retry_after_s ? c->retry_after_s : 1) : 0,
		.deferred = c->final_status == 429 && c->pool_deferred,
		.overhead_ms = overhead_ms > 0 ? overhead_ms : 0,
	};
	char code[16], exc[16];
	size_t i;
	const char *req_model = known_requested(c);
	const char *tv[] = {req_model, code, c->key_hash, router_alias_or_none(c),
			    NULL,      NULL, NULL};
	const char *fv[] = {req_model,
			    exc,
			    policy_class_name(c->err),
			    c->key_hash,
			    router_alias_or_none(c),
			    NULL,
			    NULL,
			    NULL};
	const char *lv[] = {req_model, c->dep ? c->dep->m->litellm_params.model : "None", NULL};
	const char *mv[] = {c->dep ? c->dep->m->litellm_params.model : "None", NULL};

	if (c->done)
		return;
	c->done = true;
	router_pool_drop(c);
	code[fmt_int(code, c->final_status)] = '\0';
	c->cbs.on_done(c, &res, c->arg);
	/* The client has its answer: what it cost and counts comes after (reply_first), once the
	 * client, woken on this CPU, has had it to run (docs/numbers.md, the thirtieth look). */
	if (c->who.reply_first)
		loop_yield_if_idle(r->loop);
	if (c->record_pending)
		router_record(c);
	if (c->count_pending)
		count_success(c);
	metric_inc(r->m.total, tv, 1);
	if (c->final_status >= 400 || c->stream_failed) {
		snprintf(exc, sizeof(exc), "%ld", c->err_status);
		metric_inc(r->m.failed, fv, 1);
	}
	metric_observe(r->m.latency, lv, total_s);
	metric_observe(r->m.overhead, mv, res.overhead_ms / 1e3);
	if (c->prev)
		c->prev->next = c->next;
	else
		r->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->sse_active)
		sse_finish(&c->sse);
	if (c->pstream)
		c->pstream_ops->stream_destroy(c->pstream);
	buf_finish(&c->errbody);
	buf_finish(&c->held);
	evtimer_del(c->timer); /* the call's memory is reused or freed next */
	router_drop_call(c);
	free(c->body);
	router_redact_free(c);
	for (i = 0; i < c->n_body_fallbacks; i++)
		free(c->body_fallbacks[i]);
	free(c->body_fallbacks);
	free(c->chain);
	free(c->requested);
	free(c->asked);
	/* key_hash, key_alias, source, purpose and content_type are in c's allocation */
	free(c->err_msg);
	free(c->final_body);
	free(c->final_type);
	multipart_form_finish(&c->form);
	call_release(r, c);
}

/* A zeroed call of at least size bytes: a spare one large enough (r->spare_calls), or a new
 * one. */
static struct router_call *call_alloc(struct router *r, size_t size)
{
	struct router_call *c;
	size_t i;

	size = (size + 63) & ~(size_t)63;
	for (i = r->n_spare_calls; i-- > 0;) {
		c = r->spare_calls[i];
		if (c->alloc_size >= size) {
			size = c->alloc_size;
			r->spare_calls[i] = r->spare_calls[--r->n_spare_calls];
			memset(c, 0, size);
			c->alloc_size = size;
			return c;
		}
	}
	c = xcalloc(1, size);
	c->alloc_size = size;
	return c;
}

/* Under AddressSanitizer every call is freed, so that a use after the end is still caught. */
static void call_release(struct router *r, struct router_call *c)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)r;
	free(c);
#else
	if (r->n_spare_calls < ROUTER_SPARE_CALLS)
		r->spare_calls[r->n_spare_calls++] = c;
	else
		free(c);
#endif
}

/* The bytes s takes packed after a call (none for NULL), and the copy there. */
static size_t packed_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static char *pack(char **at, const char *s, size_t n)
{
	char *p = *at;

	if (!s)
		return NULL;
	memcpy(p, s, n);
	*at += n;
	return p;
}

int router_call(struct router *r, const struct router_request *q, const struct router_caller *who,
		const struct router_cbs *cbs, void *arg, struct router_call **out)
{
	struct router_call *c;
	const char *hash = who->key_hash ? who->key_hash : "internal";
	const char *source = who->source ? who->source : "api";
	size_t n_hash, n_alias, n_source, n_purpose, n_ctype;
	char *at;

	if (!cbs || !cbs->on_done || (size_t)q->route >= PROVIDER_ROUTES)
		return -EINVAL;
	/* The caller's strings live in the call's own allocation, after it: one malloc and
	 * one free instead of five. */
	n_hash = packed_size(hash);
	n_alias = packed_size(who->key_alias);
	n_source = packed_size(source);
	n_purpose = packed_size(who->purpose);
	n_ctype = packed_size(q->content_type);
	c = call_alloc(r, sizeof(*c) + n_hash + n_alias + n_source + n_purpose + n_ctype);
	at = (char *)(c + 1);
	c->key_hash = pack(&at, hash, n_hash);
	c->key_alias = pack(&at, who->key_alias, n_alias);
	c->source = pack(&at, source, n_source);
	c->purpose = pack(&at, who->purpose, n_purpose);
	c->content_type = pack(&at, q->content_type, n_ctype);
	c->r = r;
	c->route = q->route;
	c->who = *who;
	c->id = ++r->calls_started;
	c->who.key_hash = c->key_hash;
	c->who.key_alias = c->key_alias;
	c->who.source = c->source;
	c->who.purpose = c->purpose;
	c->lane = lane_find(r->cfg->lanes, r->cfg->n_lanes, who->lane);
	c->lane_unknown = who->lane && c->lane == LANE_NONE;
	c->who.lane = NULL;
	c->cbs = *cbs;
	c->arg = arg;
	c->t_start = now_mono_us();
	c->timer = &c->timer_ev;
	evtimer_assign(c->timer, loop_base(r->loop), on_timer, c);
	buf_init(&c->errbody, ERROR_BODY_CAP);
	c->next = r->calls;
	if (c->next)
		c->next->prev = c;
	r->calls = c;
	if (out)
		*out = c;
	c->body = xstrndup(q->body, q->len);
	c->body_len = q->len;
	c->audio_hint_s = q->audio_seconds > 0 && q->audio_seconds < 1e7 ? q->audio_seconds : 0;
	if (router_refuse(c))
		return 0;
	router_pool_classify(c);
	/* LiteLLM's own request fields are not for the provider (looked up only when the
	 * request's first walk saw one: nothing since adds them). */
	if (c->litellm_fields) {
		router_req_drop(c, "fallbacks");
		router_req_drop(c, "disable_fallbacks");
	}
	c->chain = xcalloc(1, sizeof(char *));
	c->chain[0] = c->requested;
	c->n_chain = 1;
	router_arm(c, T_BACKOFF, 0);
	return 0;
}

int router_chat(struct router *r, const char *body, size_t len, const struct router_caller *who,
		const struct router_cbs *cbs, void *arg, struct router_call **out)
{
	const struct router_request q = {.route = PROVIDER_CHAT, .body = body, .len = len};

	return router_call(r, &q, who, cbs, arg, out);
}

void router_cancel(struct router_call *c)
{
	if (c->done || c->cancelled)
		return;
	c->cancelled = true;
	c->token_wait = false;
	if (c->pool_state != CP_SENT) /* a waiter leaves the queue; a sent one settles later */
		router_pool_drop(c);
	if (c->http) {
		httpc_cancel(c->http); /* on_http_done finishes the call */
		return;
	}
	if (c->timer_kind == T_FINISH)
		return;
	evtimer_del(c->timer);
	if (c->stream_started) {
		c->final_status = 200;
		router_arm(c, T_FINISH, 0);
	} else {
		router_fail_call(c, E_CANCELLED, 499, "cancelled");
	}
}

void router_destroy(struct router *r)
{
	struct router_call *c;
	size_t i;

	if (!r)
		return;
	for (c = r->calls; c; c = c->next)
		router_cancel(c);
	/* Cancellations complete through zero-delay timers: let the loop deliver them. */
	for (i = 0; r->calls && i < 1000; i++)
		event_base_loop(loop_base(r->loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	gtoken_destroy(r->gtoken);
	for (i = 0; i < r->n_deps; i++) {
		httpc_headers_free(r->deps[i].prepared);
		provider_headers_free(r->deps[i].headers);
		free(r->deps[i].fail_ms);
	}
	for (i = 0; i < r->n_groups; i++) {
		free(r->groups[i].deps);
		free(r->groups[i].cand);
	}
	router_pools_destroy(r);
	while (r->n_spare_calls)
		free(r->spare_calls[--r->n_spare_calls]);
	free(r->groups);
	free(r->deps);
	buf_finish(&r->out);
	free(r);
}

void router_set_breaker(struct router *r, struct breaker *b)
{
	r->breaker = b;
}
