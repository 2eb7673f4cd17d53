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
 */
#include "router/router.h"
#include "router/router_int.h"
#include "router/breaker.h"
#include "router/policy.h"
#include "router/providers/prompt_cache.h"
#include "router/router_metrics.h"
#include "core/audit.h"
#include "core/config.h"
#include "net/httpc.h"
#include "core/json.h"
#include "core/json_exact.h"
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
#include <strings.h>

#define BUDGET_WAIT_MS 50 /* polling for calls in flight to settle */

/* ---- small helpers ---- */

/* Wall-clock time: only for the ledger and the budgets (days and months are dates). Cooldowns,
 * rpm/tpm windows and the breaker run on now_mono_ms(), so a wall-clock step (NTP, a resumed
 * VM) neither wedges a deployment in cooldown nor fills or empties a window. */
static int64_t now_ms(void)
{
	return now_wall_ms();
}

static char *json_error(enum policy_eclass c, long status, const char *msg)
{
	cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
	char code[16], *s;

	snprintf(code, sizeof(code), "%ld", status);
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", policy_type_name(c));
	cJSON_AddNullToObject(e, "param");
	cJSON_AddStringToObject(e, "code", code);
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}

/* ---- routes ---- */

/* What the state machine does differently per OpenAI endpoint. */
struct route_spec {
	const char *needs[2];  /* fields it cannot go without, besides model */
	const char *limits[2]; /* its output-token bounds: checked, clamped, reserved for */
	bool multipart;	       /* the body is a multipart/form-data form, else JSON */
	bool streams;	       /* "stream": true is served (as SSE) */
	bool text_out;	       /* its answer's text is billed output (estimated without usage) */
};

static const struct route_spec route_specs[] = {
	[PROVIDER_CHAT] =
		{{"messages"}, {"max_tokens", "max_completion_tokens"}, false, true, true},
	[PROVIDER_COMPLETIONS] =
		{{"prompt"}, {"max_tokens", "max_completion_tokens"}, false, true, true},
	[PROVIDER_EMBEDDINGS] = {{"input"}, {NULL}, false, false, false},
	[PROVIDER_TRANSCRIPTIONS] = {{"file"}, {NULL}, true, false, true},
	[PROVIDER_SPEECH] = {{"input", "voice"}, {NULL}, false, false, false},
	[PROVIDER_RESPONSES] = {{"input"}, {"max_output_tokens"}, false, true, true},
};

static const struct route_spec *spec_of(const struct router_call *c)
{
	return &route_specs[c->route];
}

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

static const char *alias_or_none(const struct router_call *c)
{
	return c->key_alias ? c->key_alias : "None";
}

/* ---- windows, cooldowns, picking ---- */

static bool over_limits(const struct deployment *d, int64_t t_ms)
{
	const struct config_litellm_params *p = &d->m->litellm_params;
	int64_t reqs, tokens;

	if (!p->rpm && !p->tpm)
		return false;
	policy_window_sum(&d->win, t_ms / 1000, &reqs, &tokens);
	return policy_over_limits(p->rpm, p->tpm, reqs, tokens);
}

static bool cooling(const struct deployment *d, int64_t t_ms)
{
	return d->cooldown_until_ms > t_ms;
}

static void set_state_metric(struct router *r, struct deployment *d, int64_t t_ms)
{
	const char *v[] = {d->m->model_name, d->m->model_info.id, d->m->litellm_params.api_base,
			   d->m->provider, NULL};

	metric_set(r->m.state, v,
		   policy_deployment_state(d->cooldown_until_ms, d->last_fail_ms, t_ms,
					   r->cfg->router_settings.cooldown_time_s * 1000));
}

static void note_failure(struct router *r, struct deployment *d, long status)
{
	int64_t t = now_mono_ms(), window = r->cfg->router_settings.cooldown_time_s * 1000;
	size_t recent;
	char st[16];

	d->last_fail_ms = t;
	d->fail_ms[d->fail_pos] = t;
	d->fail_pos = (d->fail_pos + 1) % d->n_fail_slots;
	recent = policy_recent_failures(d->fail_ms, d->n_fail_slots, t, window);
	if (policy_starts_cooldown(recent, r->cfg->router_settings.allowed_fails, cooling(d, t))) {
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
	set_state_metric(r, d, t);
}

/* Picks a usable deployment of the group (policy_pick), avoiding the one that just failed when
 * another is usable. Returns NULL and sets *wait_s when all are cooling or over their limits. */
static struct deployment *pick(struct router *r, struct group *g, struct deployment *avoid,
			       long *wait_s, bool *all_cooling)
{
	struct policy_candidate *cand = xcalloc(g->n_deps ? g->n_deps : 1, sizeof(*cand));
	bool least_busy = r->cfg->router_settings.routing_strategy == CONFIG_ROUTING_LEAST_BUSY;
	int64_t t = now_mono_ms();
	long i, avoid_i = -1;

	for (i = 0; i < (long)g->n_deps; i++) {
		const struct deployment *d = g->deps[i];
		const struct config_litellm_params *p = &d->m->litellm_params;

		cand[i].cooldown_until_ms = d->cooldown_until_ms;
		cand[i].over_limits = !cooling(d, t) && over_limits(d, t);
		cand[i].in_flight = d->in_flight;
		cand[i].weight = policy_weight(p->weight, p->rpm, p->tpm);
		if (d == avoid)
			avoid_i = i;
	}
	i = policy_pick(cand, g->n_deps, avoid_i, least_busy, least_busy ? 0 : random(), t, wait_s,
			all_cooling);
	free(cand);
	return i < 0 ? NULL : g->deps[i];
}

/* ---- metrics ---- */

static void collect(struct metrics *m, void *arg)
{
	struct router *r = arg;
	int64_t t = now_ms();
	size_t i;

	metric_set(r->m.in_flight, NULL, (double)r->in_flight);
	for (i = 0; i < r->n_deps; i++)
		set_state_metric(r, &r->deps[i], now_mono_ms());
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

static void setup_deployment(struct router *r, struct deployment *d, const struct config_model *m)
{
	d->m = m;
	d->ops = provider_ops_of(m->dialect);
	d->headers = provider_headers(m, &r->cfg->router);
	d->prepared = httpc_headers_prepare((const char *const *)d->headers);
	d->n_fail_slots = (size_t)r->cfg->router_settings.allowed_fails + 1;
	d->fail_ms = xcalloc(d->n_fail_slots, sizeof(*d->fail_ms));
}

struct router *router_create(const struct config *cfg, struct loop *loop, struct spend *spend,
			     struct metrics *metrics)
{
	struct router *r = xcalloc(1, sizeof(*r));
	size_t i, j;

	r->cfg = cfg;
	r->loop = loop;
	r->spend = spend;
	buf_init(&r->out, 0);
	r->n_deps = cfg->n_models;
	r->deps = xcalloc(r->n_deps ? r->n_deps : 1, sizeof(*r->deps));
	for (i = 0; i < cfg->n_models; i++)
		setup_deployment(r, &r->deps[i], &cfg->models[i]);
	r->n_groups = cfg->n_model_groups;
	r->groups = xcalloc(r->n_groups ? r->n_groups : 1, sizeof(*r->groups));
	for (i = 0; i < r->n_groups; i++) {
		struct group *g = &r->groups[i];

		g->name = cfg->model_groups[i];
		g->deps = xcalloc(r->n_deps ? r->n_deps : 1, sizeof(*g->deps));
		for (j = 0; j < r->n_deps; j++)
			if (strcmp(r->deps[j].m->model_name, g->name) == 0)
				g->deps[g->n_deps++] = &r->deps[j];
	}
	/* Keep a warm connection for every call that may be in flight at once. */
	loop_set_max_connections(loop, (long)cfg->router.max_concurrent_upstream);
	router_metrics_register(&r->m, metrics);
	metrics_on_collect(metrics, collect, r);
	for (i = 0; i < r->n_deps; i++)
		set_state_metric(r, &r->deps[i], now_mono_ms());
	return r;
}

/* ---- call lifecycle ---- */

static void attempt(struct router_call *c);
static void finish(struct router_call *c);

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

static void arm(struct router_call *c, int kind, int64_t delay_ms)
{
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};

	c->timer_kind = kind;
	if (delay_ms > 0) {
		evtimer_add(c->timer, &tv);
		return;
	}
	/* "Now, from the loop": activating the event runs it after the current callback in the
	 * same loop iteration; a zero timeout would cost one more epoll_wait round. */
	evtimer_del(c->timer);
	event_active(c->timer, EV_TIMEOUT, 1);
}

/* The answer's body (taken), len bytes, and its type (copied; NULL = application/json). */
static void set_final(struct router_call *c, char *body, size_t len, const char *type)
{
	free(c->final_body);
	free(c->final_type);
	c->final_body = body;
	c->final_len = len;
	c->final_type = type ? xstrdup(type) : NULL;
}

/* Ends the call with an error answer (before any stream reached the client). */
static void fail_call(struct router_call *c, enum policy_eclass cls, long status, const char *msg)
{
	char *body;

	c->err = cls;
	c->err_status = status;
	c->final_status = (int)policy_client_status(cls, status);
	body = json_error(cls, c->final_status, msg);
	set_final(c, body, strlen(body), NULL);
	arm(c, T_FINISH, 0);
}

/* Ends the call with OpenAI's 400 for a request field ({"error":{message, type
 * "invalid_request_error", param, code}}). Returns true. */
static bool refuse_param(struct router_call *c, const char *msg, const char *param,
			 const char *code)
{
	cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
	char *body;

	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", policy_type_name(E_BAD_REQUEST));
	cJSON_AddStringToObject(e, "param", param);
	cJSON_AddStringToObject(e, "code", code);
	c->err = E_BAD_REQUEST;
	c->err_status = 400;
	c->final_status = 400;
	body = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	set_final(c, body, strlen(body), NULL);
	arm(c, T_FINISH, 0);
	return true;
}

static void clamp_max_tokens(struct router_call *c)
{
	int64_t ceiling = policy_max_tokens_ceiling(&c->r->cfg->guardrails, c->group->name);
	const char *const *keys = spec_of(c)->limits;
	bool present = false;
	size_t i;

	if (ceiling <= 0)
		return;
	for (i = 0; i < ARRAY_LEN(spec_of(c)->limits) && keys[i]; i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(c->req, keys[i]);

		if (cJSON_IsNumber(v) && v->valuedouble > (double)ceiling)
			cJSON_SetNumberValue(v, (double)ceiling);
		present = present || v;
	}
	if (!present)
		cJSON_AddNumberToObject(c->req, keys[0], (double)ceiling);
}

/* What a non-number is, in OpenAI's words; NULL for a number. */
static const char *json_kind(const cJSON *v)
{
	if (cJSON_IsNumber(v))
		return NULL;
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "a decimal number";
}

/* OpenAI's checks of the route's output bounds (max_tokens and max_completion_tokens,
 * max_output_tokens): a whole number >= 1, and null is the same as absent (dropped here, so
 * the clamp applies). Returns true after arranging a 400 in OpenAI's shape ({"error":{...,
 * "param": <field>, "code": "invalid_type"}}). */
static bool refuse_max_tokens(struct router_call *c)
{
	const char *const *keys = spec_of(c)->limits;
	char msg[160];
	const char *code = NULL, *param = NULL;
	size_t i;

	for (i = 0; i < ARRAY_LEN(spec_of(c)->limits) && keys[i] && !code; i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(c->req, keys[i]);

		if (!v)
			continue;
		if (cJSON_IsNull(v)) {
			cJSON_DeleteItemFromObjectCaseSensitive(c->req, keys[i]);
			continue;
		}
		code = policy_max_tokens_refusal(keys[i], json_kind(v), v->valuedouble, msg,
						 sizeof(msg));
		param = keys[i];
	}
	return code && refuse_param(c, msg, param, code);
}

/* A wildcard deployment (model_name "anthropic/" + a star) is called with the id the client's name
 * gave its
 * '*': a shallow copy of the deployment with upstream_model replaced (freed by the caller when
 * the copy is returned), else the deployment itself. */
static const struct config_model *wildcard_model(const struct router_call *c,
						 struct config_model *copy)
{
	const struct config_model *m = c->dep->m;
	char *id;

	if (!c->asked || !m->wildcard)
		return m;
	id = policy_wildcard_upstream(m->model_name, m->upstream_model, c->asked);
	if (!id)
		return m;
	*copy = *m;
	copy->upstream_model = id;
	return copy;
}

/* The attempt as the deployment's dialect frames it (router/providers/): URL, body, and
 * headers when they are per attempt (signed). Returns 0, or < 0 after arranging a 400. */
static int upstream_request(struct router_call *c, struct provider_request *out)
{
	char err[256] = "";
	struct config_model wild;
	const struct config_model *m = wildcard_model(c, &wild);
	int rc = -1;

	if (c->route != PROVIDER_CHAT && !(c->dep->ops->routes & PROVIDER_ROUTE_BIT(c->route))) {
		snprintf(err, sizeof(err), "provider %s does not serve %s", m->provider,
			 provider_route_path(c->route));
		goto out;
	}
	if (spec_of(c)->limits[0])
		clamp_max_tokens(c);
	/* A form goes out as it came, with the upstream id (provider.h). */
	if (spec_of(c)->multipart) {
		out->body = multipart_encode(&c->form, "model", m->upstream_model, &out->body_len,
					     &out->content_type);
		if (!out->body) {
			snprintf(err, sizeof(err), "the form's boundary occurs in the model id %s",
				 m->upstream_model);
			goto out;
		}
	}
	if (c->route == PROVIDER_CHAT)
		prompt_cache_prepare(m, c->req);
	rc = c->dep->ops->build(m, c->route, c->req, c->client_stream, out, err, sizeof(err));
	if (rc == 0 && !out->headers && out->content_type)
		out->headers = provider_headers_typed(c->dep->headers, out->content_type);
out:
	if (m == &wild)
		free(wild.upstream_model);
	if (rc == 0)
		return 0;
	provider_request_finish(out);
	c->dep = NULL;
	fail_call(c, E_BAD_REQUEST, 400, *err ? err : "the provider cannot take this request");
	return -1;
}

static void on_http_done(struct httpc_req *req, void *arg);
static void group_exhausted(struct router_call *c);

/* A form's plain fields as strings (what build() may read); files and long values left out. */
static cJSON *form_fields(const struct multipart_form *f)
{
	cJSON *obj = cJSON_CreateObject();
	size_t i;

	for (i = 0; i < f->n_parts; i++) {
		const struct multipart_part *p = &f->parts[i];
		char *v;

		if (p->filename || p->data_len > 4096 ||
		    cJSON_GetObjectItemCaseSensitive(obj, p->name))
			continue;
		v = xstrndup(p->data, p->data_len);
		cJSON_AddStringToObject(obj, p->name, v);
		free(v);
	}
	return obj;
}

/* The client's JSON without LiteLLM's own request fields, which are not for the provider. */
static int parse_request(struct router_call *c)
{
	if (spec_of(c)->multipart) {
		c->req = form_fields(&c->form);
		return 0;
	}
	c->req = json_exact_parse(c->body, c->body_len);
	if (!cJSON_IsObject(c->req))
		return -1;
	cJSON_DeleteItemFromObjectCaseSensitive(c->req, "fallbacks");
	cJSON_DeleteItemFromObjectCaseSensitive(c->req, "disable_fallbacks");
	return 0;
}

/* Output tokens the attempt may be billed for: the request's limit (after the clamp), else the
 * model's max_output_tokens, else a default; never more than the model can produce. */
static int64_t output_bound(const struct router_call *c)
{
	const char *const *keys = spec_of(c)->limits;
	double n = 0;
	size_t i;

	for (i = 0; i < ARRAY_LEN(spec_of(c)->limits) && keys[i]; i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(c->req, keys[i]);

		if (cJSON_IsNumber(v) && v->valuedouble > n)
			n = v->valuedouble;
	}
	return policy_output_bound(n, c->dep->m->model_info.max_output_tokens,
				   SPEND_DEFAULT_OUTPUT_TOKENS);
}

/* The deployment's recent mean cost when it has no prices, else -1. */
static double mean_if_unpriced(const struct router_call *c)
{
	const struct config_model_info *mi = &c->dep->m->model_info;
	double mean = -1;

	if (mi->input_cost_per_token > 0 || mi->output_cost_per_token > 0 || !c->r->spend ||
	    spend_deployment_mean(c->r->spend, mi->id, now_ms(), &mean) < 0)
		return -1;
	return mean;
}

/* Reserves what the attempt (c->req as it goes upstream, body_len bytes) may cost in every
 * capped budget, so calls in flight count. When they hold the rest of a budget, the attempt
 * waits for them to settle (polling; a settle is at most one call's time away) as long as the
 * call's timeout allows, then decides on what they really cost. Returns 0, or < 0 after
 * arranging the wait or ending the call. */
static int64_t left_ms(const struct router_call *c)
{
	return c->r->cfg->router_settings.timeout_s * 1000 - (now_mono_us() - c->t_start) / 1000;
}

static void wait_for_budget(struct router_call *c)
{
	c->budget_wait = true;
	c->backoff_us += BUDGET_WAIT_MS * 1000;
	arm(c, T_BACKOFF, BUDGET_WAIT_MS);
}

/* A waiting call polls with the cheap check and builds its request only once it may go. */
static bool still_waiting(struct router_call *c)
{
	if (!c->budget_wait)
		return false;
	c->budget_wait = false;
	if (left_ms(c) <= BUDGET_WAIT_MS ||
	    spend_check(c->r->spend, c->key_hash, c->who.key, now_ms(), NULL, 0, NULL) != -EBUSY)
		return false;
	wait_for_budget(c);
	return true;
}

/* A transcription priced per second: the answer's duration, else the caller's, else the
 * upload at 16 kbit/s (2,000 bytes a second: low for speech codecs, so the bound is high). */
static bool per_second(const struct router_call *c)
{
	return c->route == PROVIDER_TRANSCRIPTIONS &&
	       c->dep->m->model_info.input_cost_per_second > 0;
}

static double audio_seconds(const struct router_call *c, bool *estimated)
{
	*estimated = false;
	if (c->audio_s > 0)
		return c->audio_s;
	if (c->audio_hint_s > 0)
		return c->audio_hint_s;
	*estimated = true;
	return (double)c->body_len / 2000.0;
}

static int reserve(struct router_call *c, size_t body_len)
{
	const struct config_model_info *mi = &c->dep->m->model_info;
	const char *which = NULL;
	char msg[512];
	int rc;

	bool unused;

	if (c->route == PROVIDER_SPEECH && mi->input_cost_per_character > 0)
		c->est_usd = (double)c->input_chars * mi->input_cost_per_character;
	else if (per_second(c))
		c->est_usd = audio_seconds(c, &unused) * mi->input_cost_per_second;
	else
		c->est_usd = spend_estimate_usd(
			body_len, spec_of(c)->text_out ? output_bound(c) : 0,
			mi->input_cost_per_token, mi->output_cost_per_token, mean_if_unpriced(c));
	if (!c->r->spend)
		return 0;
	rc = spend_reserve(c->r->spend, c->key_hash, c->who.key, now_ms(), c->est_usd, &c->hold,
			   msg, sizeof(msg), &which);
	if (rc == 0)
		return 0;
	c->dep = NULL;
	if (rc == -EBUSY && left_ms(c) > BUDGET_WAIT_MS) {
		wait_for_budget(c);
		return rc;
	}
	log_warn("budget %s reached: refusing a call to %s", which, c->group->name);
	fail_call(c, E_BUDGET, 400, msg);
	return rc;
}

static void release(struct router_call *c)
{
	if (c->r->spend)
		spend_release(c->r->spend, &c->hold);
}

static void attempt(struct router_call *c)
{
	struct router *r = c->r;
	struct httpc_opts o = {0};
	struct provider_request preq = {0};
	const struct config_litellm_params *p;
	char msg[512];
	long wait_s = 1;
	bool all_cooling;
	int64_t timeout_s;

	if (c->cancelled) {
		fail_call(c, E_CANCELLED, 499, "cancelled");
		return;
	}
	if (still_waiting(c))
		return;
	c->group = find_group(r, c->chain[c->chain_pos]);
	if ((int64_t)r->in_flight >= r->cfg->router.max_concurrent_upstream) {
		fail_call(c, E_RATE_LIMIT, 429,
			  "too many concurrent upstream requests; retry later");
		c->retry_after_s = 1;
		return;
	}
	c->dep = pick(r, c->group, c->last_failed, &wait_s, &all_cooling);
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
			c->err_msg = xasprintf("rpm/tpm limit reached for every deployment of %s",
					       c->group->name);
		}
		group_exhausted(c);
		return;
	}
	p = &c->dep->m->litellm_params;
	timeout_s = p->timeout_s ? p->timeout_s : r->cfg->router_settings.timeout_s;
	if (!c->req && parse_request(c) < 0) {
		fail_call(c, E_BAD_REQUEST, 400, "request body is not a JSON object");
		return;
	}
	if (upstream_request(c, &preq) < 0)
		return;
	o.body_len = preq.body_len;
	if (reserve(c, o.body_len) < 0) {
		provider_request_finish(&preq);
		return;
	}
	/* An open stream should not hold the parsed request (about 1 KiB for a short one): a
	 * retry or fallback parses the kept text again. */
	cJSON_Delete(c->req);
	c->req = NULL;
	if (r->breaker && breaker_admit(r->breaker, now_mono_ms(), msg, sizeof(msg)) < 0) {
		struct breaker_state bs;

		release(c);
		provider_request_finish(&preq);
		breaker_state(r->breaker, now_mono_ms(), &bs);
		c->dep = NULL;
		fail_call(c, E_BREAKER, 429, msg);
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
		release(c);
		provider_request_finish(&preq);
		fail_call(c, E_TRANSPORT, 502, "cannot start the upstream request (bad api_base?)");
		return;
	}
	provider_request_finish(&preq);
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
	c->cost_source = NULL;
	c->dep->in_flight++;
	r->in_flight++;
	policy_window_add(&c->dep->win, now_mono_ms() / 1000, 1, 0);
	if (c->client_stream) {
		int64_t st = p->stream_timeout_s ? p->stream_timeout_s : timeout_s;

		arm(c, T_STREAM_TIMEOUT, st * 1000);
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

static void group_exhausted(struct router_call *c)
{
	if (c->chain_pos == 0) {
		c->first_err = c->err;
		c->first_err_status = c->err_status;
	}
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
		arm(c, T_BACKOFF, 0);
		return;
	}
	fail_call(c, c->err, c->err_status, c->err_msg ? c->err_msg : "upstream failed");
}

/* One attempt failed before anything reached the client: retry, fall back, or give up. */
static void attempt_failed(struct router_call *c)
{
	struct router *r = c->r;
	int64_t allowed = policy_retries(&r->cfg->router_settings.retry_policy,
					 c->dep->m->litellm_params.num_retries, c->err);
	int64_t left_ms =
		r->cfg->router_settings.timeout_s * 1000 - (now_mono_us() - c->t_start) / 1000;
	int64_t delay;
	const char *v[] = {c->group->name, NULL};

	if (policy_counts_for_cooldown(c->err, c->err_status))
		note_failure(r, c->dep, c->err_status);
	c->last_failed = c->dep;
	log_info("%s via %s failed: %s %ld: %s", c->group->name, c->dep->m->model_info.id,
		 policy_class_name(c->err), c->err_status, c->err_msg ? c->err_msg : "");
	delay = policy_retry_delay_ms(c->attempts_in_group, allowed, c->cancelled, c->retry_after_s,
				      c->retry_after_s > 0 ? 0 : random(), left_ms);
	if (delay >= 0) {
		c->attempts_in_group++;
		c->retries++;
		c->backoff_us += delay * 1000;
		metric_inc(r->m.retries, v, 1);
		arm(c, T_BACKOFF, delay);
		return;
	}
	group_exhausted(c);
}

static long parse_retry_after(const char *v)
{
	int64_t n;

	return v && parse_i64(v, 0, 86400, &n) == 0 ? (long)n : 0;
}

/* Tokens of an attempt whose usage did not arrive, from what was sent and seen. */
static void estimate_tokens(struct router_call *c)
{
	if (c->got_usage)
		return;
	policy_estimate_tokens(c->sent_bytes, c->output_chars, &c->prompt_tokens,
			       &c->completion_tokens);
}

/* The cost of the attempt that just ended: the provider's usage.cost, else its token counts at
 * model_info prices, else (no usage arrived) an estimate marked as such. */
static void price_attempt(struct router_call *c, struct httpc_req *req)
{
	const struct config_model_info *mi = &c->dep->m->model_info;
	const char *mv[] = {c->dep->m->litellm_params.model, NULL};
	size_t seen;
	double est;

	c->estimated = !c->got_usage;
	if (c->have_cost) {
		c->cost_source = "upstream";
		return;
	}
	if (c->route == PROVIDER_SPEECH && mi->input_cost_per_character > 0) {
		estimate_tokens(c);
		c->cost_usd = (double)c->input_chars * mi->input_cost_per_character;
		c->cost_source = "model_info";
		c->estimated = false;
		return;
	}
	if (per_second(c)) {
		bool guessed;

		if (!c->got_usage)
			estimate_tokens(c);
		c->cost_usd = audio_seconds(c, &guessed) * mi->input_cost_per_second;
		c->cost_source = guessed ? "estimate" : "model_info";
		c->estimated = guessed;
		return;
	}
	if (c->got_usage) {
		int64_t plain = c->prompt_tokens - c->cached_tokens - c->cache_write_tokens;

		c->cost_usd = (double)plain * mi->input_cost_per_token +
			      (double)c->cached_tokens * mi->cache_read_input_token_cost +
			      (double)c->cache_write_tokens * mi->cache_creation_input_token_cost +
			      (double)c->completion_tokens * mi->output_cost_per_token;
		c->cost_source = c->cost_usd > 0 ? "model_info" : "none";
		if (c->cost_usd <= 0)
			metric_inc(c->r->m.cost_unknown, mv, 1);
		return;
	}
	c->cost_source = "estimate";
	if (!c->client_stream && !c->output_chars && spec_of(c)->text_out) {
		httpc_body(req, &seen);
		/* Over the cap, the piece that did not fit was not kept, but it came. */
		if (httpc_result(req) == HTTPC_TOO_BIG)
			seen = (size_t)c->r->cfg->router.max_response_bytes;
		c->output_chars = seen;
	}
	estimate_tokens(c);
	est = spend_estimate_usd(c->sent_bytes, c->completion_tokens, mi->input_cost_per_token,
				 mi->output_cost_per_token, mean_if_unpriced(c));
	/* A non-streamed answer shows nothing before it is whole: cut short (timeout, cancel,
	 * size cap), the provider may have generated all of it, so the reserved bound stands. */
	if (!c->client_stream && httpc_result(req) != HTTPC_OK && c->est_usd > est)
		est = c->est_usd;
	c->cost_usd = est > 0 ? est : 0;
	if (est < 0)
		metric_inc(c->r->m.cost_unknown, mv, 1);
}

/* One line of the audit trail per attempt that was started, billed or not: the retries and
 * fallbacks of a call are its lines with the same call number. */
static void audit_attempt(struct router_call *c)
{
	struct audit_line l;
	long status = c->settled_status;
	bool billed = c->settled_billed;

	audit_begin(&l, "attempt");
	if (!l.on)
		return;
	audit_str(&l, "source", c->source);
	if (c->who.session_id)
		audit_int(&l, "session", c->who.session_id);
	audit_str(&l, "purpose", c->purpose);
	audit_str(&l, "key_alias", c->key_alias);
	audit_int(&l, "call", c->id);
	audit_word(&l, "route", provider_route_path(c->route));
	audit_str(&l, "model_group", c->group->name);
	audit_str(&l, "deployment", c->dep->m->model_info.id);
	audit_int(&l, "attempt", c->attempt_no);
	audit_int(&l, "fallback", c->attempt_fallback);
	audit_int(&l, "status", status);
	audit_word(&l, "outcome", c->settled_outcome);
	if (status != 200 && c->err_msg)
		audit_str(&l, "error", c->err_msg);
	audit_bool(&l, "billed", billed);
	if (billed) {
		audit_int(&l, "input_tokens", c->prompt_tokens);
		audit_int(&l, "cached_tokens", c->cached_tokens);
		audit_int(&l, "cache_write_tokens", c->cache_write_tokens);
		audit_int(&l, "output_tokens", c->completion_tokens);
		audit_num(&l, "cost_usd", c->cost_usd);
		audit_word(&l, "cost_source", c->cost_source);
	}
	audit_int(&l, "ms", c->settled_ms);
	audit_end(&l);
}

/* The billed attempt's row and the budgets, breaker and windows it feeds. */
static void bill(struct router_call *c)
{
	struct router *r = c->r;
	const struct config_model *m = c->dep->m;
	const char *kv[] = {
		m->litellm_params.model, c->key_hash, alias_or_none(c), NULL, NULL, NULL};

	if (r->breaker)
		breaker_add_cost(r->breaker, now_mono_ms(), c->cost_usd);
	policy_window_add(&c->dep->win, now_mono_ms() / 1000, 0,
			  c->prompt_tokens + c->completion_tokens);
	if (r->spend) {
		struct spend_entry e = {.ts_ms = now_ms(),
					.model_group = c->group->name,
					.deployment = m->model_info.id,
					.key_hash = c->key_hash,
					.input_tokens = c->prompt_tokens,
					.cached_tokens = c->cached_tokens,
					.cache_write_tokens = c->cache_write_tokens,
					.output_tokens = c->completion_tokens,
					.cost_usd = c->cost_usd,
					.cost_source = c->cost_source,
					.estimated = c->estimated};

		spend_record(r->spend, &e);
	}
	metric_inc(r->m.spend, kv, c->cost_usd);
}

/* Every attempt the provider received is billed by it, whatever became of the call: one
 * ledger row each (retries, fallbacks, cut, cancelled, timed-out and oversized answers too),
 * fed to the budgets, the breaker, the spend metric and the deployment's tpm window. An HTTP
 * error status is the provider's refusal, which it does not bill, and a request that never
 * went out whole costs nothing: those only give their reservation back. */
static void record(struct router_call *c)
{
	c->record_pending = false;
	release(c);
	if (c->settled_billed)
		bill(c);
	/* After the row: while the ledger's batch is open, the line waits to be written with it. */
	audit_attempt(c);
}

/* What the attempt cost and how it ended, read while its request is alive; recorded at once,
 * or after on_done when the call is finishing for a reply_first caller (record_pending). */
static void settle(struct router_call *c, struct httpc_req *req)
{
	long status = httpc_status(req);

	if (!c->attempt_open)
		return;
	c->attempt_open = false;
	c->settled_status = status;
	c->settled_billed = status == 200 || (status == 0 && httpc_request_sent(req));
	c->settled_outcome = c->cancelled			  ? "cancelled"
			     : status == 200 && !c->stream_failed ? "ok"
			     : status != 0			  ? "http_error"
					   : httpc_result_name(httpc_result(req));
	c->settled_ms = (now_mono_us() - c->t_attempt) / 1000;
	if (c->settled_billed)
		price_attempt(c, req); /* before on_done: the reply carries the cost */
	if (c->who.reply_first && c->timer_kind == T_FINISH) {
		c->record_pending = true;
		return;
	}
	record(c);
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
		m->litellm_params.model, c->key_hash, alias_or_none(c), NULL, NULL, NULL};
	const char *tv[] = {m->litellm_params.model,
			    c->group->name,
			    c->key_hash,
			    alias_or_none(c),
			    NULL,
			    NULL,
			    NULL};

	estimate_tokens(c);
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
	set_state_metric(r, c->dep, now_mono_ms());
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
	estimate_tokens(c);
	c->t_answer = now_mono_us();
	c->count_pending = true;
}

/* The stream reached the client and then broke: tell it in the stream, never cut silently. */
static void end_stream_with_error(struct router_call *c, const char *already_forwarded)
{
	if (!already_forwarded && c->route == PROVIDER_RESPONSES) {
		router_responses_forward_error(c);
	} else if (!already_forwarded) {
		char *ev = json_error(c->err ? c->err : E_SERVER, 502,
				      c->err_msg ? c->err_msg : "upstream stream broke");

		router_stream_forward(c, ev, strlen(ev));
		free(ev);
	}
	succeeded(c);
	c->final_status = 200;
	c->stream_failed = true;
	arm(c, T_FINISH, 0);
}

/* The client's end of a whole stream: "[DONE]" as OpenAI's chat and completions end theirs;
 * a Responses stream ended with its final event, already forwarded. */
static void end_stream(struct router_call *c)
{
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
			arm(c, T_FINISH, 0);
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
		arm(c, T_FINISH, 0);
		return;
	}
	if (!c->err) {
		c->err = E_TRANSPORT;
		c->err_status = 502;
		free(c->err_msg);
		c->err_msg = xstrdup("upstream stream ended before its first chunk");
	}
	attempt_failed(c);
}

static void malformed(struct router_call *c, const char *msg)
{
	c->err = E_MALFORMED;
	c->err_status = 502;
	free(c->err_msg);
	c->err_msg = xstrdup(msg);
	attempt_failed(c);
}

/* An error object in a 200 answer, in the dialect's shape or OpenAI's. */
static void error_in_answer(struct router_call *c, const char *body, size_t len)
{
	char *norm = c->dep->ops->error ? c->dep->ops->error(200, body, len) : NULL, *msg = NULL;

	c->err = policy_classify(200, norm ? norm : body, &msg);
	c->err_status = policy_client_status(c->err, 502);
	free(c->err_msg);
	c->err_msg = msg;
	free(norm);
	attempt_failed(c);
}

static void answer_ok(struct router_call *c, char *body, size_t len, const char *type)
{
	set_final(c, body, len, type);
	c->final_status = 200;
	succeeded(c);
	arm(c, T_FINISH, 0);
}

static bool is_json_type(const char *type)
{
	while (type && (*type == ' ' || *type == '\t'))
		type++;
	return type && strncasecmp(type, "application/json", 16) == 0;
}

/* A 200 answer that is not JSON: speech's audio, a transcription as text, srt or vtt. It goes
 * to the client with the upstream's type; a transcription's text is its billed output. */
static bool raw_answer(struct router_call *c, const char *body, size_t len, const char *type)
{
	if (c->route != PROVIDER_SPEECH &&
	    (c->route != PROVIDER_TRANSCRIPTIONS || is_json_type(type)))
		return false;
	c->output_chars = c->route == PROVIDER_SPEECH ? 0 : len;
	answer_ok(c, xstrndup(body, len), len, type ? type : "application/octet-stream");
	return true;
}

/* A Responses API answer: its usage and output read into the attempt; a failed response
 * (an "error" object, not null) classified into it. Returns whether it failed. */
static bool read_response_object(struct router_call *c, const cJSON *root)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");

	if (cJSON_IsObject(usage))
		router_read_usage(c, usage);
	c->output_chars = router_responses_chars(cJSON_GetObjectItemCaseSensitive(root, "output"));
	if (!cJSON_IsObject(e))
		return false;
	router_responses_error(c, e);
	return true;
}

/* A transcription's length: verbose_json's "duration", or whisper-1's usage
 * {"type": "duration", "seconds": N}. */
static void read_duration(struct router_call *c, const cJSON *root)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "duration");
	const cJSON *sec = cJSON_GetObjectItemCaseSensitive(u, "seconds");

	if (cJSON_IsNumber(sec) && sec->valuedouble > 0 && sec->valuedouble < 1e7)
		c->audio_s = sec->valuedouble;
	else if (cJSON_IsNumber(d) && d->valuedouble > 0 && d->valuedouble < 1e7)
		c->audio_s = d->valuedouble;
}

/* The facts of a chat, completions, embeddings or transcription answer: one pass over the
 * text, or (text the pass does not model) cJSON's tree. Returns false when it is not a JSON
 * object. */
static bool answer_facts(const char *text, size_t len, struct answer_facts *f)
{
	cJSON *root;
	bool is_object;

	if (answer_scan(text, len, f) == 0)
		return true;
	root = router_parse_scratch(text, len);
	is_object = cJSON_IsObject(root);
	if (is_object)
		answer_scan_tree(root, f);
	router_drop_scratch(root);
	return is_object;
}

static void on_non_stream_ok(struct router_call *c, const char *body, size_t len, const char *type)
{
	/* Another dialect's answer becomes OpenAI's first (router/providers/): chat, and every
	 * other route the dialect declares it serves. */
	bool translate =
		c->dep->ops->answer &&
		(c->route == PROVIDER_CHAT || (c->dep->ops->routes & PROVIDER_ROUTE_BIT(c->route)));
	char *translated = translate ? c->dep->ops->answer(c->dep->m, body, len) : NULL;
	const char *text = translated ? translated : body;
	size_t text_len = translated ? strlen(translated) : len;
	struct answer_facts f;
	cJSON *root;
	bool is_object, is_error = false;

	if (raw_answer(c, body, len, type))
		return;
	if (c->route == PROVIDER_RESPONSES) {
		root = router_parse_scratch(text, text_len);
		is_object = cJSON_IsObject(root);
		if (is_object)
			is_error = read_response_object(c, root);
		router_drop_scratch(root);
	} else {
		is_object = answer_facts(text, text_len, &f);
		/* choices (chat, completions), data (embeddings), text (transcriptions) */
		is_error = is_object && f.has_error && !f.has_choices && !f.has_text && !f.has_data;
		if (is_object && !is_error && f.usage_object)
			router_take_usage(c, &f.u);
		if (is_object && !is_error)
			c->output_chars = f.output_chars;
		if (is_object && !is_error && c->route == PROVIDER_TRANSCRIPTIONS) {
			root = router_parse_scratch(text, text_len);
			read_duration(c, root); /* rare: the tree is fine here */
			router_drop_scratch(root);
		}
	}
	if (!is_object) {
		malformed(c, "upstream answered 200 with a body that is not I-JSON (not JSON, "
			     "or a member name repeated in an object)");
	} else if (is_error && c->route == PROVIDER_RESPONSES) {
		attempt_failed(c); /* classified by read_response_object */
	} else if (is_error) {
		error_in_answer(c, text, text_len);
	} else if (translate && !translated) {
		malformed(c, "upstream answered 200 with a body that is not an answer of its API");
	} else {
		answer_ok(c, translated ? translated : xstrndup(body, len), text_len, NULL);
		translated = NULL;
	}
	free(translated);
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
			fail_call(c, E_CANCELLED, 499, "cancelled");
		arm(c, T_FINISH, 0);
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
		attempt_failed(c);
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
		attempt_failed(c);
		return;
	}
	on_non_stream_ok(c, body, len, httpc_header(req, "Content-Type"));
}

/* What the answer means for the call first (retry, fall back, finish: all later, from the
 * loop), then what the attempt cost. */
static void on_http_done(struct httpc_req *req, void *arg)
{
	struct router_call *c = arg;

	answer(c, req);
	settle(c, req);
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
		.overhead_ms = overhead_ms > 0 ? overhead_ms : 0,
	};
	char code[16], exc[16];
	size_t i;
	const char *req_model = known_requested(c);
	const char *tv[] = {req_model, code, c->key_hash, alias_or_none(c), NULL, NULL, NULL};
	const char *fv[] = {
		req_model, exc, policy_class_name(c->err), c->key_hash, alias_or_none(c), NULL,
		NULL,	   NULL};
	const char *lv[] = {req_model, c->dep ? c->dep->m->litellm_params.model : "None", NULL};
	const char *mv[] = {c->dep ? c->dep->m->litellm_params.model : "None", NULL};

	if (c->done)
		return;
	c->done = true;
	code[fmt_int(code, c->final_status)] = '\0';
	c->cbs.on_done(c, &res, c->arg);
	/* The client has its answer: what it cost and counts comes after (reply_first). */
	if (c->record_pending)
		record(c);
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
	event_free(c->timer);
	cJSON_Delete(c->req);
	free(c->body);
	for (i = 0; i < c->n_body_fallbacks; i++)
		free(c->body_fallbacks[i]);
	free(c->body_fallbacks);
	free(c->chain);
	free(c->requested);
	free(c->asked);
	/* key_hash, key_alias, source and purpose are in c's allocation */
	free(c->err_msg);
	free(c->final_body);
	free(c->final_type);
	free(c->content_type);
	multipart_form_finish(&c->form);
	free(c);
}

/* Reads the request fields the router acts on. Returns NULL or an error message. */
static const char *read_request(struct router_call *c)
{
	cJSON *model = cJSON_GetObjectItemCaseSensitive(c->req, "model");
	cJSON *msgs = cJSON_GetObjectItemCaseSensitive(c->req, "messages");
	cJSON *stream = cJSON_GetObjectItemCaseSensitive(c->req, "stream");
	cJSON *so = cJSON_GetObjectItemCaseSensitive(c->req, "stream_options");
	cJSON *fb = cJSON_GetObjectItemCaseSensitive(c->req, "fallbacks");
	cJSON *dis = cJSON_GetObjectItemCaseSensitive(c->req, "disable_fallbacks");
	cJSON *item;

	if (!cJSON_IsString(model) || !*model->valuestring)
		return "model is required (a string naming one of /v1/models)";
	if (c->route == PROVIDER_CHAT && (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0))
		return "messages is required (a non-empty array)";
	c->requested = xstrdup(model->valuestring);
	c->client_stream = cJSON_IsTrue(stream) && spec_of(c)->streams;
	c->client_usage = so && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
	c->disable_fallbacks = cJSON_IsTrue(dis);
	if (cJSON_IsArray(fb) && !spec_of(c)->multipart) {
		c->body_fallbacks = xcalloc((size_t)cJSON_GetArraySize(fb) + 1, sizeof(char *));
		cJSON_ArrayForEach(item, fb)
		{
			if (!cJSON_IsString(item))
				return "fallbacks must be a list of model names";
			c->body_fallbacks[c->n_body_fallbacks++] = xstrdup(item->valuestring);
		}
	}
	return NULL;
}

/* model_group_alias names and wildcard groups (policy_resolve_model): the call goes on under
 * the group that answers, so labels, ledger and fallbacks see a configured name; the client's
 * own name is kept in asked for the key check and the wildcard's upstream id. */
static void resolve_requested(struct router_call *c)
{
	const struct config *cfg = c->r->cfg;
	struct policy_route rt;

	if (!policy_resolve_model(c->requested, cfg->model_groups, cfg->n_model_groups,
				  cfg->router_settings.aliases, cfg->router_settings.n_aliases,
				  &rt) ||
	    strcmp(rt.group, c->requested) == 0)
		return;
	c->asked = c->requested;
	c->requested = xstrdup(rt.group);
}

/* A key that lists the name the client used (an alias) may call it, as it may its group. */
static const struct config_key *admit_key(const struct router_call *c)
{
	return c->asked && policy_key_allows(c->who.key, c->asked) ? NULL : c->who.key;
}

/* Allowlist, key restrictions and budget; returns false after arranging the error answer. */
static bool admit(struct router_call *c)
{
	const struct config *cfg = c->r->cfg;
	char msg[512];
	const char *which = NULL;
	enum policy_eclass refused;
	int rc = 0;

	refused = policy_admit(c->requested, c->body_fallbacks, c->n_body_fallbacks, admit_key(c),
			       cfg->model_groups, cfg->n_model_groups, msg, sizeof(msg));
	if (refused != E_NONE) {
		fail_call(c, refused, refused == E_AUTH ? 401 : 400, msg);
		return false;
	}
	if (c->r->spend)
		rc = spend_check(c->r->spend, c->key_hash, c->who.key, now_ms(), msg, sizeof(msg),
				 &which);
	/* -EBUSY: calls in flight hold the rest of a budget; the attempt waits for them. */
	if (rc < 0 && rc != -EBUSY) {
		log_warn("budget %s reached: refusing a call to %s", which, c->requested);
		fail_call(c, E_BUDGET, 400, msg);
		return false;
	}
	return true;
}

/* Characters (not bytes) of a UTF-8 string. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* A Responses request may leave input out when a reusable prompt or a conversation gives
 * the model its input items. */
static bool input_given_otherwise(const struct router_call *c)
{
	return c->route == PROVIDER_RESPONSES &&
	       (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(c->req, "prompt")) ||
		cJSON_GetObjectItemCaseSensitive(c->req, "conversation"));
}

/* OpenAI's checks of a required field of the route (routes with messages have theirs in
 * read_request): present, of a type the endpoint takes, not empty. Returns true after
 * arranging the 400. */
static bool refuse_field(struct router_call *c, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(c->req, name);
	char msg[160];
	bool ok;

	if (spec_of(c)->multipart) {
		if (multipart_find(&c->form, name))
			return false;
		v = NULL;
	}
	if (!v && input_given_otherwise(c))
		return false;
	if (!v || cJSON_IsNull(v)) {
		snprintf(msg, sizeof(msg), "Missing required parameter: '%s'.", name);
		return refuse_param(c, msg, name, "missing_required_parameter");
	}
	if (strcmp(name, "voice") == 0)
		ok = cJSON_IsString(v) || cJSON_IsObject(v);
	else if (c->route == PROVIDER_SPEECH)
		ok = cJSON_IsString(v);
	else
		ok = cJSON_IsString(v) || cJSON_IsArray(v);
	if (!ok) {
		snprintf(msg, sizeof(msg), "Invalid type for '%s': expected %s.", name,
			 c->route == PROVIDER_SPEECH ? "a string" : "a string or an array");
		return refuse_param(c, msg, name, "invalid_type");
	}
	if (c->route != PROVIDER_COMPLETIONS && c->route != PROVIDER_RESPONSES &&
	    ((cJSON_IsString(v) && !*v->valuestring) ||
	     (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0))) {
		snprintf(msg, sizeof(msg), "'%s' must not be empty.", name);
		return refuse_param(c, msg, name, "invalid_value");
	}
	if (c->route == PROVIDER_SPEECH && strcmp(name, "input") == 0)
		c->input_chars = utf8_chars(v->valuestring);
	return false;
}

static bool refuse_fields(struct router_call *c)
{
	size_t i;

	for (i = 0; c->route != PROVIDER_CHAT && i < ARRAY_LEN(route_specs[0].needs); i++)
		if (spec_of(c)->needs[i] && refuse_field(c, spec_of(c)->needs[i]))
			return true;
	return false;
}

/* The body as the route reads it, whole (LiteLLM's own fields too): JSON, or a form whose
 * plain fields become c->req. Returns true after arranging the 400. */
static bool refuse_body(struct router_call *c)
{
	char err[160] = "";
	struct json_error jerr;

	if (!spec_of(c)->multipart) {
		/* A repeated member is refused here, before the key's allowlist, the max_tokens
		 * clamp and the ledger read the first one while the provider would run the last;
		 * in any case, as a provider in Go would match "MODEL" to its "model". */
		c->req = json_parse(c->body, c->body_len, JSON_EXACT | JSON_FOLD, &jerr);
		if (cJSON_IsObject(c->req))
			return false;
		fail_call(c, E_BAD_REQUEST, 400,
			  !c->req && jerr.duplicate ? jerr.msg
						    : "request body is not a JSON object");
		return true;
	}
	if (multipart_parse(c->content_type, c->body, c->body_len, &c->form, err, sizeof(err)) <
	    0) {
		fail_call(c, E_BAD_REQUEST, 400, err);
		return true;
	}
	/* The router checks and bills the first "model" and rewrites only plain fields; an
	 * upstream may read another one (a file part, or the last of several). */
	if (multipart_count(&c->form, "model") > 1)
		return refuse_param(c,
				    "The form has more than one part named 'model' (a field or a "
				    "file); send model once, as a plain field.",
				    "model", "invalid_value");
	c->req = form_fields(&c->form);
	return false;
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
	const char *bad, *hash = who->key_hash ? who->key_hash : "internal";
	const char *source = who->source ? who->source : "api";
	size_t n_hash, n_alias, n_source, n_purpose;
	char *at;

	if (!cbs || !cbs->on_done || (size_t)q->route >= ARRAY_LEN(route_specs))
		return -EINVAL;
	/* The caller's strings live in the call's own allocation, after it: one malloc and
	 * one free instead of five. */
	n_hash = packed_size(hash);
	n_alias = packed_size(who->key_alias);
	n_source = packed_size(source);
	n_purpose = packed_size(who->purpose);
	c = xcalloc(1, sizeof(*c) + n_hash + n_alias + n_source + n_purpose);
	at = (char *)(c + 1);
	c->key_hash = pack(&at, hash, n_hash);
	c->key_alias = pack(&at, who->key_alias, n_alias);
	c->source = pack(&at, source, n_source);
	c->purpose = pack(&at, who->purpose, n_purpose);
	c->r = r;
	c->route = q->route;
	c->who = *who;
	c->id = ++r->calls_started;
	c->who.key_hash = c->key_hash;
	c->who.key_alias = c->key_alias;
	c->who.source = c->source;
	c->who.purpose = c->purpose;
	c->cbs = *cbs;
	c->arg = arg;
	c->t_start = now_mono_us();
	c->timer = evtimer_new(loop_base(r->loop), on_timer, c);
	buf_init(&c->errbody, ERROR_BODY_CAP);
	c->next = r->calls;
	if (c->next)
		c->next->prev = c;
	r->calls = c;
	if (out)
		*out = c;
	c->body = xstrndup(q->body, q->len);
	c->body_len = q->len;
	c->content_type = q->content_type ? xstrdup(q->content_type) : NULL;
	c->audio_hint_s = q->audio_seconds > 0 && q->audio_seconds < 1e7 ? q->audio_seconds : 0;
	if (refuse_body(c))
		return 0;
	bad = read_request(c);
	if (!bad && c->client_stream && (!cbs->on_stream_start || !cbs->on_stream_data))
		bad = "this caller does not take streamed answers: leave stream unset";
	if (bad) {
		fail_call(c, E_BAD_REQUEST, 400, bad);
		return 0;
	}
	resolve_requested(c);
	if (refuse_fields(c) || (spec_of(c)->limits[0] && refuse_max_tokens(c)))
		return 0;
	if (!admit(c))
		return 0;
	/* LiteLLM's own request fields are not for the provider. */
	cJSON_DeleteItemFromObjectCaseSensitive(c->req, "fallbacks");
	cJSON_DeleteItemFromObjectCaseSensitive(c->req, "disable_fallbacks");
	c->chain = xcalloc(1, sizeof(char *));
	c->chain[0] = c->requested;
	c->n_chain = 1;
	arm(c, T_BACKOFF, 0);
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
	if (c->http) {
		httpc_cancel(c->http); /* on_http_done finishes the call */
		return;
	}
	if (c->timer_kind == T_FINISH)
		return;
	evtimer_del(c->timer);
	if (c->stream_started) {
		c->final_status = 200;
		arm(c, T_FINISH, 0);
	} else {
		fail_call(c, E_CANCELLED, 499, "cancelled");
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
	for (i = 0; i < r->n_deps; i++) {
		httpc_headers_free(r->deps[i].prepared);
		provider_headers_free(r->deps[i].headers);
		free(r->deps[i].fail_ms);
	}
	for (i = 0; i < r->n_groups; i++)
		free(r->groups[i].deps);
	free(r->groups);
	free(r->deps);
	buf_finish(&r->out);
	free(r);
}

void router_set_breaker(struct router *r, struct breaker *b)
{
	r->breaker = b;
}
