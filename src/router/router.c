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
 * Streams: upstream SSE events are parsed as they arrive; until the first event has been
 * forwarded a failure may still retry or fall back; after it, a failure becomes an SSE error
 * event so the client is never cut silently. Keep-alive comments are dropped and the usage
 * chunk is captured for the ledger even when the client did not ask for it.
 *
 * The client's JSON is parsed with cJSON and re-serialised per attempt with the deployment's
 * model id; unknown fields pass through untouched, numbers as written (json_exact). The tree is
 * dropped once the first attempt is sent (open streams should not hold it) and parsed again from
 * the kept text on a retry. Rejected: buffering whole streams (breaks time to first token) and a
 * thread per call.
 */
#include "router/router.h"
#include "router/breaker.h"
#include "core/config.h"
#include "net/httpc.h"
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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SSE_EVENT_CAP	(1024 * 1024)
#define ERROR_BODY_CAP	(64 * 1024)
#define BACKOFF_BASE_MS 100
#define BACKOFF_MAX_MS	5000
#define WINDOW_SLOTS	60
#define BUDGET_WAIT_MS	50 /* polling for calls in flight to settle */

enum eclass {
	E_NONE,
	E_BAD_REQUEST,
	E_AUTH,
	E_PAYMENT,
	E_NOT_FOUND,
	E_CONTEXT,
	E_POLICY,
	E_TIMEOUT,
	E_RATE_LIMIT,
	E_SERVER,
	E_TRANSPORT,
	E_MALFORMED,
	E_NO_DEPLOYMENT,
	E_BUDGET,
	E_BREAKER,
	E_CANCELLED,
};

static const char *const class_names[] = {
	[E_NONE] = "None",
	[E_BAD_REQUEST] = "BadRequestError",
	[E_AUTH] = "AuthenticationError",
	[E_PAYMENT] = "BadRequestError",
	[E_NOT_FOUND] = "NotFoundError",
	[E_CONTEXT] = "ContextWindowExceededError",
	[E_POLICY] = "ContentPolicyViolationError",
	[E_TIMEOUT] = "Timeout",
	[E_RATE_LIMIT] = "RateLimitError",
	[E_SERVER] = "InternalServerError",
	[E_TRANSPORT] = "APIConnectionError",
	[E_MALFORMED] = "APIError",
	[E_NO_DEPLOYMENT] = "RateLimitError",
	[E_BUDGET] = "BudgetExceededError",
	[E_BREAKER] = "BleedBreakerOpenError",
	[E_CANCELLED] = "Cancelled",
};

static const char *const type_names[] = {
	[E_NONE] = "api_error",
	[E_BAD_REQUEST] = "invalid_request_error",
	[E_AUTH] = "authentication_error",
	[E_PAYMENT] = "insufficient_quota",
	[E_NOT_FOUND] = "not_found_error",
	[E_CONTEXT] = "context_length_exceeded",
	[E_POLICY] = "content_policy_violation",
	[E_TIMEOUT] = "timeout",
	[E_RATE_LIMIT] = "rate_limit_error",
	[E_SERVER] = "api_error",
	[E_TRANSPORT] = "api_connection_error",
	[E_MALFORMED] = "api_error",
	[E_NO_DEPLOYMENT] = "rate_limit_error",
	[E_BUDGET] = "budget_exceeded",
	[E_BREAKER] = "bleed_breaker_open",
	[E_CANCELLED] = "cancelled",
};

/* Requests and tokens per second over the last minute, for rpm/tpm. */
struct window {
	int64_t sec[WINDOW_SLOTS];
	int64_t reqs[WINDOW_SLOTS];
	int64_t tokens[WINDOW_SLOTS];
};

struct deployment {
	const struct config_model *m;
	char *url;
	char *auth_header;
	char **headers; /* NULL-terminated, for httpc */
	int in_flight;
	int64_t *fail_ms; /* ring of recent failure times, allowed_fails + 1 long */
	size_t n_fail_slots, fail_pos;
	int64_t cooldown_until_ms;
	int64_t last_fail_ms;
	struct window win;
};

struct group {
	const char *name;
	struct deployment **deps;
	size_t n_deps;
};

struct router {
	const struct config *cfg;
	struct loop *loop;
	struct spend *spend;
	struct breaker *breaker; /* borrowed; asked before every upstream send, or NULL */
	struct deployment *deps;
	size_t n_deps;
	struct group *groups;
	size_t n_groups;
	struct router_call *calls;
	size_t in_flight;
	struct buf out; /* SSE events forwarded during one upstream read */
	bool feeding;	/* inside sse_feed: forward() only collects */
	/* metrics */
	struct metric *m_total, *m_failed, *m_requests, *m_spend, *m_tokens, *m_in_tokens,
		*m_out_tokens, *m_latency, *m_api_latency, *m_ttft, *m_overhead, *m_fb_ok,
		*m_fb_fail, *m_cooled, *m_state, *m_remaining, *m_retries, *m_cost_unknown,
		*m_in_flight, *m_spend_today;
};

struct router_call {
	struct router_call *prev, *next;
	struct router *r;
	struct router_caller who;
	char *key_hash, *key_alias;
	struct router_cbs cbs;
	void *arg;
	cJSON *req; /* the client's request, until the first attempt was sent */
	char *body; /* its text, to rebuild req for a retry or fallback */
	size_t body_len;
	char *requested;
	bool client_stream, client_usage, disable_fallbacks;
	char **body_fallbacks; /* per-request "fallbacks", or NULL */
	size_t n_body_fallbacks;
	/* the chain of groups: [requested, fallbacks...], decided after the first group fails */
	const char **chain;
	size_t n_chain, chain_pos;
	bool chain_decided;
	struct group *group;
	struct deployment *dep, *last_failed;
	int attempts_in_group, retries, fallbacks;
	struct httpc_req *http;
	struct event *timer;
	enum { T_NONE, T_BACKOFF, T_FINISH, T_STREAM_TIMEOUT } timer_kind;
	bool cancelled, done;
	/* current attempt */
	struct sse_parser sse;
	bool sse_active;
	bool stream_started; /* bytes reached the client */
	bool upstream_done;  /* [DONE] seen */
	bool got_event;
	struct buf errbody;
	size_t stream_bytes; /* upstream bytes of this attempt's stream, against the cap */
	size_t sent_bytes;   /* this attempt's request body as sent upstream */
	size_t output_chars; /* generated text seen: content, reasoning, tool calls */
	bool attempt_open;   /* sent upstream and not settled yet */
	bool budget_wait;    /* waiting for calls in flight to settle */
	struct spend_hold hold;
	double est_usd; /* what the attempt may cost (reserved), < 0 = unknown */
	bool stream_failed, stream_failed_forwarded;
	/* last error */
	enum eclass err;
	enum eclass first_err;
	long err_status, first_err_status;
	char *err_msg;
	long retry_after_s;
	/* result (of the current attempt) */
	int64_t prompt_tokens, completion_tokens;
	double cost_usd;
	bool have_cost, got_usage;
	bool estimated; /* no usage arrived: tokens and cost are estimates */
	const char *cost_source;
	char *final_body;
	int final_status;
	/* timing (µs) */
	int64_t t_start, t_attempt, t_first_token, upstream_us, backoff_us;
};

/* ---- small helpers ---- */

/* Wall-clock time: only for the ledger and the budgets (days and months are dates). Cooldowns,
 * rpm/tpm windows and the breaker run on now_mono_ms(), so a wall-clock step (NTP, a resumed
 * VM) neither wedges a deployment in cooldown nor fills or empties a window. */
static int64_t now_ms(void)
{
	return now_wall_ms();
}

static char *json_error(enum eclass c, long status, const char *msg)
{
	cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
	char code[16], *s;

	snprintf(code, sizeof(code), "%ld", status);
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", type_names[c]);
	cJSON_AddNullToObject(e, "param");
	cJSON_AddStringToObject(e, "code", code);
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}

/* Upstream answers and stream chunks are parsed, read and deleted with no callback in
 * between: their nodes come from a static scratch area instead of a malloc and a free per
 * node and string (about a third of the parse). cJSON's hooks are global, so they are set
 * only around the parse and the delete (the process parses JSON on one thread); anything
 * past the area comes from malloc, and scratch_free tells the two apart by address. */
#define SCRATCH_BYTES (16 * 1024)

static _Alignas(16) unsigned char scratch[SCRATCH_BYTES];
static size_t scratch_used;

static void *scratch_alloc(size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n > SCRATCH_BYTES - scratch_used)
		return malloc(n);
	p = scratch + scratch_used;
	scratch_used += n;
	return p;
}

static void scratch_free(void *p)
{
	if ((unsigned char *)p < scratch || (unsigned char *)p >= scratch + SCRATCH_BYTES)
		free(p);
}

static cJSON *parse_scratch(const char *s, size_t len)
{
	cJSON_Hooks h = {scratch_alloc, scratch_free};
	cJSON *root;

	cJSON_InitHooks(&h);
	root = cJSON_ParseWithLength(s, len);
	cJSON_InitHooks(NULL);
	return root;
}

static void drop_scratch(cJSON *root)
{
	cJSON_Hooks h = {scratch_alloc, scratch_free};

	cJSON_InitHooks(&h);
	cJSON_Delete(root);
	cJSON_InitHooks(NULL);
	scratch_used = 0;
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

size_t router_in_flight(const struct router *r)
{
	return r->in_flight;
}

static const char *alias_or_none(const struct router_call *c)
{
	return c->key_alias ? c->key_alias : "None";
}

/* ---- windows, cooldowns, picking ---- */

static size_t slot(struct window *w, int64_t sec)
{
	size_t i = (size_t)(sec % WINDOW_SLOTS);

	if (w->sec[i] != sec) {
		w->sec[i] = sec;
		w->reqs[i] = 0;
		w->tokens[i] = 0;
	}
	return i;
}

static void window_sum(const struct window *w, int64_t sec, int64_t *reqs, int64_t *tokens)
{
	size_t i;

	*reqs = *tokens = 0;
	for (i = 0; i < WINDOW_SLOTS; i++) {
		if (w->sec[i] > sec - WINDOW_SLOTS && w->sec[i] <= sec) {
			*reqs += w->reqs[i];
			*tokens += w->tokens[i];
		}
	}
}

static bool over_limits(struct deployment *d, int64_t t_ms)
{
	const struct config_litellm_params *p = &d->m->litellm_params;
	int64_t reqs, tokens;

	if (!p->rpm && !p->tpm)
		return false;
	window_sum(&d->win, t_ms / 1000, &reqs, &tokens);
	return (p->rpm && reqs >= p->rpm) || (p->tpm && tokens >= p->tpm);
}

static bool cooling(const struct deployment *d, int64_t t_ms)
{
	return d->cooldown_until_ms > t_ms;
}

static void set_state_metric(struct router *r, struct deployment *d, int64_t t_ms)
{
	const char *v[] = {d->m->model_name, d->m->model_info.id, d->m->litellm_params.api_base,
			   d->m->provider, NULL};
	double state = 0;

	if (cooling(d, t_ms))
		state = 2;
	else if (d->last_fail_ms &&
		 t_ms - d->last_fail_ms < r->cfg->router_settings.cooldown_time_s * 1000)
		state = 1;
	metric_set(r->m_state, v, state);
}

static void note_failure(struct router *r, struct deployment *d, long status)
{
	int64_t t = now_mono_ms(), window = r->cfg->router_settings.cooldown_time_s * 1000;
	size_t i, recent = 0;
	char st[16];

	d->last_fail_ms = t;
	d->fail_ms[d->fail_pos] = t;
	d->fail_pos = (d->fail_pos + 1) % d->n_fail_slots;
	for (i = 0; i < d->n_fail_slots; i++)
		if (d->fail_ms[i] && t - d->fail_ms[i] < window)
			recent++;
	if ((int64_t)recent > r->cfg->router_settings.allowed_fails && !cooling(d, t)) {
		const char *v[] = {d->m->model_name,
				   d->m->model_info.id,
				   d->m->litellm_params.api_base,
				   d->m->provider,
				   st,
				   NULL};

		snprintf(st, sizeof(st), "%ld", status);
		d->cooldown_until_ms = t + window;
		memset(d->fail_ms, 0, d->n_fail_slots * sizeof(*d->fail_ms));
		metric_inc(r->m_cooled, v, 1);
		log_warn("deployment %s (%s) cooling down for %lld s after %zu failures",
			 d->m->model_info.id, d->m->model_name,
			 (long long)r->cfg->router_settings.cooldown_time_s, recent);
	}
	set_state_metric(r, d, t);
}

static bool counts_for_cooldown(enum eclass c, long status)
{
	if (c == E_TIMEOUT || c == E_TRANSPORT || c == E_MALFORMED || c == E_SERVER)
		return true;
	return status == 429 || status == 401 || status == 404 || status == 408;
}

static int64_t weight_of(const struct deployment *d)
{
	const struct config_litellm_params *p = &d->m->litellm_params;

	if (p->weight > 1)
		return p->weight;
	if (p->rpm)
		return p->rpm;
	if (p->tpm)
		return p->tpm;
	return p->weight > 0 ? p->weight : 1;
}

/* Picks a usable deployment of the group, avoiding the one that just failed when another
 * is usable. Returns NULL and sets *wait_s when all are cooling or over their limits. */
static struct deployment *pick(struct router *r, struct group *g, struct deployment *avoid,
			       long *wait_s, bool *all_cooling)
{
	struct deployment *cand[64];
	size_t n = 0, i;
	int64_t t = now_mono_ms(), soonest = 0, total = 0, roll;

	*all_cooling = true;
	for (i = 0; i < g->n_deps && n < ARRAY_LEN(cand); i++) {
		struct deployment *d = g->deps[i];

		if (cooling(d, t)) {
			if (!soonest || d->cooldown_until_ms < soonest)
				soonest = d->cooldown_until_ms;
			continue;
		}
		*all_cooling = false;
		if (over_limits(d, t))
			continue;
		cand[n++] = d;
	}
	*wait_s = soonest ? (long)((soonest - t + 999) / 1000) : 1;
	if (n == 0)
		return NULL;
	if (n > 1 && avoid) {
		for (i = 0; i < n; i++) {
			if (cand[i] == avoid) {
				cand[i] = cand[--n];
				break;
			}
		}
	}
	if (r->cfg->router_settings.routing_strategy == CONFIG_ROUTING_LEAST_BUSY) {
		struct deployment *best = cand[0];

		for (i = 1; i < n; i++)
			if (cand[i]->in_flight < best->in_flight)
				best = cand[i];
		return best;
	}
	for (i = 0; i < n; i++)
		total += weight_of(cand[i]);
	roll = (int64_t)(random() % total);
	for (i = 0; i < n; i++) {
		roll -= weight_of(cand[i]);
		if (roll < 0)
			return cand[i];
	}
	return cand[n - 1];
}

/* ---- error classification ---- */

static bool contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; hay && *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

/* Reads an upstream error body (OpenAI or OpenRouter shape) into a message and class. */
static enum eclass classify(long status, const char *body, char **msg)
{
	cJSON *root = body ? cJSON_Parse(body) : NULL;
	cJSON *e = root ? cJSON_GetObjectItemCaseSensitive(root, "error") : NULL;
	cJSON *m = e ? cJSON_GetObjectItemCaseSensitive(e, "message") : NULL;
	cJSON *code = e ? cJSON_GetObjectItemCaseSensitive(e, "code") : NULL;
	const char *text = cJSON_IsString(m) ? m->valuestring : NULL;
	const char *codestr = cJSON_IsString(code) ? code->valuestring : "";
	enum eclass c;

	if (cJSON_IsNumber(code) && status == 200)
		status = (long)code->valuedouble;
	/* Some upstreams quote the request's Authorization header back in their error. */
	*msg = log_redact(text ? text
			       : (body && *body && !root ? "upstream answered a non-JSON error"
							 : "upstream error"));
	if (strcmp(codestr, "context_length_exceeded") == 0 ||
	    contains_ci(text, "maximum context length") || contains_ci(text, "context length") ||
	    contains_ci(text, "context window"))
		c = E_CONTEXT;
	else if (strcmp(codestr, "content_policy_violation") == 0 ||
		 contains_ci(text, "content policy") || contains_ci(text, "flagged") ||
		 (status == 403 && contains_ci(text, "moderation")))
		c = E_POLICY;
	else if (status == 408)
		c = E_TIMEOUT;
	else if (status == 429)
		c = E_RATE_LIMIT;
	else if (status == 409 || status >= 500)
		c = E_SERVER;
	else if (status == 401 || status == 403)
		c = E_AUTH;
	else if (status == 402)
		c = E_PAYMENT;
	else if (status == 404)
		c = E_NOT_FOUND;
	else
		c = E_BAD_REQUEST;
	cJSON_Delete(root);
	return c;
}

static int64_t retries_for(const struct router *r, const struct deployment *d, enum eclass c)
{
	const struct config_retry_policy *p = &r->cfg->router_settings.retry_policy;
	int64_t n = d ? d->m->litellm_params.num_retries : r->cfg->router_settings.num_retries;
	int64_t pol;

	switch (c) {
	case E_RATE_LIMIT:
		pol = p->rate_limit;
		break;
	case E_TIMEOUT:
		pol = p->timeout;
		break;
	case E_SERVER:
	case E_TRANSPORT:
	case E_MALFORMED:
		pol = p->internal_server;
		break;
	case E_BAD_REQUEST:
	case E_CONTEXT:
		return p->bad_request > 0 ? p->bad_request : 0;
	case E_AUTH:
		return p->authentication > 0 ? p->authentication : 0;
	case E_POLICY:
		return p->content_policy > 0 ? p->content_policy : 0;
	default:
		return 0;
	}
	return pol >= 0 ? pol : n;
}

static long client_status(enum eclass c, long upstream)
{
	switch (c) {
	case E_TIMEOUT:
		return 408;
	case E_RATE_LIMIT:
	case E_NO_DEPLOYMENT:
		return 429;
	case E_TRANSPORT:
	case E_MALFORMED:
		return 502;
	case E_CONTEXT:
	case E_POLICY:
	case E_BUDGET:
		return 400;
	case E_CANCELLED:
		return 499;
	default:
		return upstream >= 400 ? upstream : 500;
	}
}

/* ---- metrics ---- */

static void register_metrics(struct router *r, struct metrics *m)
{
	static const char *const total_l[] = {"requested_model",
					      "status_code",
					      "hashed_api_key",
					      "api_key_alias",
					      "team",
					      "user",
					      NULL};
	static const char *const failed_l[] = {"requested_model",
					       "exception_status",
					       "exception_class",
					       "hashed_api_key",
					       "api_key_alias",
					       "team",
					       "user",
					       NULL};
	static const char *const model_l[] = {"model", "hashed_api_key", "api_key_alias",
					      "team",  "user",		 NULL};
	static const char *const tok_l[] = {
		"model", "requested_model", "hashed_api_key", "api_key_alias", "team", "user",
		NULL};
	static const char *const lat_l[] = {"requested_model", "model", NULL};
	static const char *const m_l[] = {"model", NULL};
	static const char *const fb_l[] = {"requested_model", "fallback_model", "exception_status",
					   "exception_class", NULL};
	static const char *const dep_st[] = {"litellm_model_name", "model_id",	       "api_base",
					     "api_provider",	   "exception_status", NULL};
	static const char *const dep_l[] = {"litellm_model_name", "model_id", "api_base",
					    "api_provider", NULL};
	static const char *const key_l[] = {"hashed_api_key", "api_key_alias", NULL};
	static const char *const grp_l[] = {"model_group", NULL};
	const double *b = metrics_latency_buckets;
	size_t nb = metrics_n_latency_buckets;

	r->m_total = metrics_add(m, METRIC_COUNTER, "litellm_proxy_total_requests_metric_total",
				 "Requests to the router, by requested model and status", total_l);
	r->m_failed = metrics_add(m, METRIC_COUNTER, "litellm_proxy_failed_requests_metric_total",
				  "Failed requests, by exception", failed_l);
	r->m_requests = metrics_add(m, METRIC_COUNTER, "litellm_requests_metric_total",
				    "Successful upstream calls, by provider model", model_l);
	r->m_spend = metrics_add(m, METRIC_COUNTER, "litellm_spend_metric_total",
				 "Spend in USD, by provider model", model_l);
	r->m_tokens = metrics_add(m, METRIC_COUNTER, "litellm_total_tokens_metric_total",
				  "Input plus output tokens", tok_l);
	r->m_in_tokens = metrics_add(m, METRIC_COUNTER, "litellm_input_tokens_metric_total",
				     "Input (prompt) tokens", tok_l);
	r->m_out_tokens = metrics_add(m, METRIC_COUNTER, "litellm_output_tokens_metric_total",
				      "Output (completion) tokens", tok_l);
	r->m_latency = metrics_add_histogram(m, "litellm_request_total_latency_metric",
					     "Whole request latency in seconds", lat_l, b, nb);
	r->m_api_latency = metrics_add_histogram(m, "litellm_llm_api_latency_metric",
						 "Upstream call latency in seconds", m_l, b, nb);
	r->m_ttft =
		metrics_add_histogram(m, "litellm_llm_api_time_to_first_token_metric",
				      "Time to the first streamed token in seconds", m_l, b, nb);
	r->m_overhead =
		metrics_add_histogram(m, "litellm_overhead_latency_metric",
				      "Time spent in the router itself in seconds", m_l, b, nb);
	r->m_fb_ok = metrics_add(m, METRIC_COUNTER, "litellm_deployment_successful_fallbacks_total",
				 "Requests answered by a fallback model group", fb_l);
	r->m_fb_fail = metrics_add(m, METRIC_COUNTER, "litellm_deployment_failed_fallbacks_total",
				   "Fallback model groups that failed too", fb_l);
	r->m_cooled = metrics_add(m, METRIC_COUNTER, "litellm_deployment_cooled_down_total",
				  "Deployments put in cooldown", dep_st);
	r->m_state =
		metrics_add(m, METRIC_GAUGE, "litellm_deployment_state",
			    "Deployment state: 0 ok, 1 recent failures, 2 cooling down", dep_l);
	r->m_remaining = metrics_add(m, METRIC_GAUGE, "litellm_remaining_api_key_budget_metric",
				     "Budget left in USD for the key's current window", key_l);
	r->m_retries = metrics_add(m, METRIC_COUNTER, "hermetic_router_retries_total",
				   "Retries inside a model group", grp_l);
	r->m_cost_unknown = metrics_add(m, METRIC_COUNTER, "hermetic_router_cost_unknown_total",
					"Calls whose cost was neither reported nor priced", m_l);
	r->m_in_flight = metrics_add(m, METRIC_GAUGE, "hermetic_router_in_flight",
				     "Upstream calls in flight", NULL);
	r->m_spend_today = metrics_add(m, METRIC_GAUGE, "hermetic_spend_today_usd",
				       "Spend today (configured timezone) in USD", NULL);
}

static void collect(struct metrics *m, void *arg)
{
	struct router *r = arg;
	int64_t t = now_ms();
	size_t i;

	metric_set(r->m_in_flight, NULL, (double)r->in_flight);
	for (i = 0; i < r->n_deps; i++)
		set_state_metric(r, &r->deps[i], now_mono_ms());
	if (!r->spend)
		return;
	metric_set(r->m_spend_today, NULL, spend_day_usd(r->spend, t));
	for (i = 0; i < r->cfg->n_keys; i++) {
		const struct config_key *k = &r->cfg->keys[i];
		char hash[65];
		const char *v[] = {hash, k->alias, NULL};

		sha256_hex(k->key, strlen(k->key), hash);
		metric_set(r->m_remaining, v, spend_key_remaining_usd(r->spend, hash, k, t));
	}
}

/* ---- setup ---- */

static void setup_deployment(struct router *r, struct deployment *d, const struct config_model *m)
{
	const struct config_litellm_params *p = &m->litellm_params;
	size_t n = 0, i, base_len = strlen(p->api_base);

	d->m = m;
	while (base_len && p->api_base[base_len - 1] == '/')
		base_len--;
	d->url = xasprintf("%.*s/chat/completions", (int)base_len, p->api_base);
	d->headers = xcalloc(p->n_extra_headers + 6, sizeof(char *));
	d->headers[n++] = xstrdup("Content-Type: application/json");
	if (p->api_key)
		d->headers[n++] = xasprintf("Authorization: Bearer %s", p->api_key);
	if (strcmp(m->provider, "openrouter") == 0) {
		if (r->cfg->router.openrouter_referer && *r->cfg->router.openrouter_referer)
			d->headers[n++] =
				xasprintf("HTTP-Referer: %s", r->cfg->router.openrouter_referer);
		if (r->cfg->router.openrouter_title && *r->cfg->router.openrouter_title)
			d->headers[n++] = xasprintf("X-Title: %s", r->cfg->router.openrouter_title);
	}
	for (i = 0; i < p->n_extra_headers; i++)
		d->headers[n++] =
			xasprintf("%s: %s", p->extra_headers[i].name, p->extra_headers[i].value);
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
	register_metrics(r, metrics);
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

/* Ends the call with an error answer (before any stream reached the client). */
static void fail_call(struct router_call *c, enum eclass cls, long status, const char *msg)
{
	c->err = cls;
	c->err_status = status;
	c->final_status = (int)client_status(cls, status);
	free(c->final_body);
	c->final_body = json_error(cls, c->final_status, msg);
	arm(c, T_FINISH, 0);
}

static void flush_stream(struct router_call *c)
{
	struct buf *out = &c->r->out;

	if (out->len)
		c->cbs.on_stream_data(c, out->data, out->len, c->arg);
	buf_reset(out);
}

/* The events of one upstream read go to the client together (one HTTP chunk, one buffer),
 * when the read has been parsed; outside a read, at once. */
static void forward(struct router_call *c, const char *data, size_t len)
{
	struct buf *out = &c->r->out;

	buf_puts(out, "data: ");
	buf_append(out, data, len);
	buf_puts(out, "\n\n");
	if (!c->r->feeding)
		flush_stream(c);
}

static void start_stream(struct router_call *c)
{
	struct router_result res = {.status = 200,
				    .streamed = true,
				    .model_group = c->group->name,
				    .deployment_id = c->dep->m->model_info.id,
				    .retries = c->retries,
				    .fallbacks = c->fallbacks};

	c->stream_started = true;
	/* Once bytes reached the client there is no retry or fallback (an error becomes an SSE
	 * error event), so the request text kept to rebuild one goes now, not at the end of
	 * the stream. */
	free(c->body);
	c->body = NULL;
	c->body_len = 0;
	c->t_first_token = now_mono_us();
	if (c->timer_kind == T_STREAM_TIMEOUT) {
		evtimer_del(c->timer);
		c->timer_kind = T_NONE;
	}
	c->cbs.on_stream_start(c, &res, c->arg);
}

static void read_usage(struct router_call *c, cJSON *usage)
{
	cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
	cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
	cJSON *cost = cJSON_GetObjectItemCaseSensitive(usage, "cost");

	if (cJSON_IsNumber(pt))
		c->prompt_tokens = (int64_t)pt->valuedouble;
	if (cJSON_IsNumber(ct))
		c->completion_tokens = (int64_t)ct->valuedouble;
	if (cJSON_IsNumber(cost) && cost->valuedouble >= 0) {
		c->cost_usd = cost->valuedouble;
		c->have_cost = true;
	}
	c->got_usage = c->got_usage || cJSON_IsNumber(pt) || cJSON_IsNumber(ct) || c->have_cost;
}

static size_t string_len(const cJSON *v)
{
	return cJSON_IsString(v) ? strlen(v->valuestring) : 0;
}

/* Characters of generated text in a message or delta (what the provider bills as output). */
static size_t text_chars(const cJSON *m)
{
	static const char *const fields[] = {"content", "reasoning", "reasoning_content",
					     "refusal"};
	const cJSON *v, *f, *tc = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
	size_t n = 0, i;

	for (i = 0; i < ARRAY_LEN(fields); i++)
		n += string_len(cJSON_GetObjectItemCaseSensitive(m, fields[i]));
	cJSON_ArrayForEach(v, tc)
	{
		f = cJSON_GetObjectItemCaseSensitive(v, "function");
		n += string_len(cJSON_GetObjectItemCaseSensitive(f, "name"));
		n += string_len(cJSON_GetObjectItemCaseSensitive(f, "arguments"));
	}
	return n;
}

/* Generated characters in every choice's field ("delta" of a chunk, "message" of an answer). */
static size_t choices_chars(const cJSON *choices, const char *field)
{
	const cJSON *ch;
	size_t n = 0;

	cJSON_ArrayForEach(ch, choices)
	{
		n += text_chars(cJSON_GetObjectItemCaseSensitive(ch, field));
	}
	return n;
}

/* An upstream error seen inside a stream, before anything reached the client. */
static int stream_error_before_start(struct router_call *c, cJSON *root)
{
	char *body = cJSON_PrintUnformatted(root), *msg = NULL;
	cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	cJSON *code = e ? cJSON_GetObjectItemCaseSensitive(e, "code") : NULL;
	long status = cJSON_IsNumber(code) ? (long)code->valuedouble : 502;

	c->err = classify(status, body, &msg);
	c->err_status = status;
	free(c->err_msg);
	c->err_msg = msg;
	free(body);
	return -1;
}

static int on_sse_event(const struct sse_event *ev, void *arg)
{
	struct router_call *c = arg;
	cJSON *root, *choices, *usage;
	bool error_event, usage_only;
	int rc = 0;

	if (strcmp(ev->data, "[DONE]") == 0) {
		c->upstream_done = true;
		return 0;
	}
	c->got_event = true;
	root = parse_scratch(ev->data, ev->data_len);
	if (!cJSON_IsObject(root)) {
		drop_scratch(root);
		c->err = E_MALFORMED;
		c->err_status = 502;
		free(c->err_msg);
		c->err_msg = xstrdup("upstream sent a stream chunk that is not JSON");
		return -1;
	}
	choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
	usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
	if (cJSON_IsObject(usage))
		read_usage(c, usage);
	c->output_chars += choices_chars(choices, "delta");
	error_event = cJSON_GetObjectItemCaseSensitive(root, "error") && !cJSON_IsArray(choices);
	usage_only =
		cJSON_IsArray(choices) && cJSON_GetArraySize(choices) == 0 && cJSON_IsObject(usage);
	if (error_event && !c->stream_started)
		rc = stream_error_before_start(c, root);
	drop_scratch(root);
	if (error_event) {
		if (c->stream_started) {
			/* Pass the provider's error event on, then stop; without our
			 * secrets: some providers quote the request's headers. */
			char *clean = log_redact(ev->data);

			forward(c, clean, strlen(clean));
			free(clean);
			c->stream_failed_forwarded = true;
			c->err = E_SERVER;
			c->err_status = 502;
			free(c->err_msg);
			c->err_msg = xstrdup("upstream error event in the stream");
			rc = -2;
		}
	} else if (usage_only) {
		if (c->client_usage)
			forward(c, ev->data, ev->data_len);
	} else {
		if (!c->stream_started)
			start_stream(c);
		forward(c, ev->data, ev->data_len);
	}
	return rc;
}

static int on_http_data(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	struct router_call *c = arg;
	int rc;

	if (httpc_status(req) != 200) {
		buf_append(&c->errbody, data, len); /* past the cap the tail is dropped */
		return 0;
	}
	c->stream_bytes += len;
	if (c->stream_bytes > (size_t)c->r->cfg->router.max_response_bytes) {
		c->err = E_MALFORMED;
		c->err_status = 502;
		free(c->err_msg);
		c->err_msg = xasprintf("upstream stream over router.max_response_bytes (%lld)",
				       (long long)c->r->cfg->router.max_response_bytes);
		return -1;
	}
	c->r->feeding = true;
	rc = sse_feed(&c->sse, data, len);
	c->r->feeding = false;
	flush_stream(c);
	if (rc == -E2BIG) {
		c->err = E_MALFORMED;
		c->err_status = 502;
		free(c->err_msg);
		c->err_msg = xstrdup("upstream stream event over the size cap");
	}
	return rc < 0 ? -1 : 0;
}

/* Both token fields are clamped (a client sending a small max_tokens and a huge
 * max_completion_tokens gets both cut); with neither present, max_tokens is added.
 * refuse_max_tokens has already dropped nulls and refused anything but whole numbers. */
static void clamp_max_tokens(struct router_call *c)
{
	const struct config_guardrails *g = &c->r->cfg->guardrails;
	int64_t ceiling = g->max_tokens_default;
	const char *keys[] = {"max_tokens", "max_completion_tokens"};
	bool present = false;
	size_t i;

	for (i = 0; i < g->n_max_tokens; i++)
		if (strcmp(g->max_tokens[i].model, c->group->name) == 0)
			ceiling = g->max_tokens[i].max_tokens;
	if (ceiling <= 0)
		return;
	for (i = 0; i < ARRAY_LEN(keys); i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(c->req, keys[i]);

		if (cJSON_IsNumber(v) && v->valuedouble > (double)ceiling)
			cJSON_SetNumberValue(v, (double)ceiling);
		present = present || v;
	}
	if (!present)
		cJSON_AddNumberToObject(c->req, "max_tokens", (double)ceiling);
}

static const char *json_kind(const cJSON *v)
{
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

/* OpenAI's checks of max_tokens and max_completion_tokens: a whole number >= 1, and null is
 * the same as absent (dropped here, so the clamp applies). Returns true after arranging a 400
 * in OpenAI's shape ({"error":{..., "param": <field>, "code": "invalid_type"}}). */
static bool refuse_max_tokens(struct router_call *c)
{
	static const char *const keys[] = {"max_tokens", "max_completion_tokens"};
	cJSON *root, *e;
	char msg[160];
	const char *code = NULL, *param = NULL;
	size_t i;

	for (i = 0; i < ARRAY_LEN(keys) && !code; i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(c->req, keys[i]);

		if (!v)
			continue;
		if (cJSON_IsNull(v)) {
			cJSON_DeleteItemFromObjectCaseSensitive(c->req, keys[i]);
			continue;
		}
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
		    v->valuedouble != floor(v->valuedouble)) {
			snprintf(msg, sizeof(msg),
				 "Invalid type for '%s': expected an integer, but got %s instead.",
				 keys[i], json_kind(v));
			code = "invalid_type";
			param = keys[i];
		} else if (v->valuedouble < 1) {
			snprintf(msg, sizeof(msg),
				 "Invalid '%s': integer below minimum value. Expected a value >= 1,"
				 " but got %.0f instead.",
				 keys[i], v->valuedouble);
			code = "integer_below_min_value";
			param = keys[i];
		}
	}
	if (!code)
		return false;
	root = cJSON_CreateObject();
	e = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", type_names[E_BAD_REQUEST]);
	cJSON_AddStringToObject(e, "param", param);
	cJSON_AddStringToObject(e, "code", code);
	c->err = E_BAD_REQUEST;
	c->err_status = 400;
	c->final_status = 400;
	free(c->final_body);
	c->final_body = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	arm(c, T_FINISH, 0);
	return true;
}

static void set_field(cJSON *obj, const char *name, cJSON *value)
{
	if (cJSON_GetObjectItemCaseSensitive(obj, name))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, name, value);
	else
		cJSON_AddItemToObject(obj, name, value);
}

static char *upstream_body(struct router_call *c)
{
	const struct config_model *m = c->dep->m;

	set_field(c->req, "model", cJSON_CreateString(m->upstream_model));
	if (c->client_stream) {
		cJSON *so = cJSON_CreateObject();

		cJSON_AddBoolToObject(so, "include_usage", 1);
		set_field(c->req, "stream_options", so);
	}
	if (strcmp(m->provider, "openrouter") == 0) {
		cJSON *u = cJSON_CreateObject();

		cJSON_AddBoolToObject(u, "include", 1);
		set_field(c->req, "usage", u);
	}
	clamp_max_tokens(c);
	return json_exact_print(c->req);
}

static void on_http_done(struct httpc_req *req, void *arg);
static void group_exhausted(struct router_call *c);

/* The client's JSON without LiteLLM's own request fields, which are not for the provider. */
static int parse_request(struct router_call *c)
{
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
	const char *keys[] = {"max_tokens", "max_completion_tokens"};
	int64_t model_max = c->dep->m->model_info.max_output_tokens, n = 0;
	size_t i;

	for (i = 0; i < ARRAY_LEN(keys); i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(c->req, keys[i]);

		if (cJSON_IsNumber(v) && v->valuedouble > (double)n)
			n = v->valuedouble < 1e9 ? (int64_t)v->valuedouble : 1000000000;
	}
	if (n <= 0)
		n = model_max > 0 ? model_max : SPEND_DEFAULT_OUTPUT_TOKENS;
	return model_max > 0 && n > model_max ? model_max : n;
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

static int reserve(struct router_call *c, size_t body_len)
{
	const struct config_model_info *mi = &c->dep->m->model_info;
	const char *which = NULL;
	char msg[512];
	int rc;

	c->est_usd = spend_estimate_usd(body_len, output_bound(c), mi->input_cost_per_token,
					mi->output_cost_per_token, mean_if_unpriced(c));
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
	const struct config_litellm_params *p;
	char msg[512], *body;
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
	body = upstream_body(c);
	o.body_len = strlen(body);
	if (reserve(c, o.body_len) < 0) {
		free(body);
		return;
	}
	/* An open stream should not hold the parsed request (about 1 KiB for a short one): a
	 * retry or fallback parses the kept text again. */
	cJSON_Delete(c->req);
	c->req = NULL;
	if (r->breaker && breaker_admit(r->breaker, now_mono_ms(), msg, sizeof(msg)) < 0) {
		struct breaker_state bs;

		release(c);
		free(body);
		breaker_state(r->breaker, now_mono_ms(), &bs);
		c->dep = NULL;
		fail_call(c, E_BREAKER, 429, msg);
		c->retry_after_s = bs.until_ms ? (bs.until_ms - now_mono_ms()) / 1000 + 1 : 0;
		return;
	}
	c->err = E_NONE;
	c->retry_after_s = 0;
	o.url = c->dep->url;
	o.headers = (const char *const *)c->dep->headers;
	o.body = body;
	o.timeout_ms = timeout_s * 1000;
	o.connect_timeout_ms = timeout_s < 10 ? timeout_s * 1000 : 10000;
	o.max_response_bytes = (size_t)r->cfg->router.max_response_bytes;
	c->got_event = c->upstream_done = false;
	c->stream_bytes = 0;
	buf_reset(&c->errbody);
	if (c->client_stream) {
		o.on_data = on_http_data;
		if (c->sse_active)
			sse_finish(&c->sse);
		sse_init(&c->sse, SSE_EVENT_CAP, on_sse_event, c);
		c->sse_active = true;
	}
	c->t_attempt = now_mono_us();
	if (httpc_start(r->loop, &o, on_http_done, c, &c->http) < 0) {
		release(c);
		free(body);
		fail_call(c, E_TRANSPORT, 502, "cannot start the upstream request (bad api_base?)");
		return;
	}
	free(body);
	/* The usage and cost read from here on are this attempt's. */
	c->attempt_open = true;
	c->sent_bytes = o.body_len;
	c->output_chars = 0;
	c->prompt_tokens = c->completion_tokens = 0;
	c->cost_usd = 0;
	c->have_cost = c->got_usage = c->estimated = false;
	c->cost_source = NULL;
	c->dep->in_flight++;
	r->in_flight++;
	c->dep->win.reqs[slot(&c->dep->win, now_mono_ms() / 1000)]++;
	if (c->client_stream) {
		int64_t st = p->stream_timeout_s ? p->stream_timeout_s : timeout_s;

		arm(c, T_STREAM_TIMEOUT, st * 1000);
	}
}

static int64_t backoff_ms(int n)
{
	int64_t base = (int64_t)BACKOFF_BASE_MS << (n < 6 ? n : 6);

	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	/* +-25% jitter so clients that failed together do not retry together. */
	return base * 3 / 4 + (int64_t)(random() % (base / 2 + 1));
}

static bool key_allows(const struct config_key *k, const char *model);

/* Appends the groups of names that exist, are not in the chain yet and that the caller's key
 * may use: a key limited to some models never reaches another through a fallback. */
static void chain_append(struct router_call *c, char *const *names, size_t n, size_t max)
{
	size_t i, j;

	for (i = 0; i < n && c->n_chain - 1 < max; i++) {
		bool dup = false;

		for (j = 0; j < c->n_chain; j++)
			dup = dup || strcmp(c->chain[j], names[i]) == 0;
		if (dup || !find_group(c->r, names[i]))
			continue;
		if (!key_allows(c->who.key, names[i])) {
			log_debug("fallback %s skipped: the caller's key may not use it", names[i]);
			continue;
		}
		c->chain = xrealloc(c->chain, (c->n_chain + 1) * sizeof(char *));
		c->chain[c->n_chain++] = names[i];
	}
}

/* Decides the fallback chain from the class of the requested group's failure: the class's
 * own list (context window, content policy) or the request's / config's `fallbacks` for the
 * group, then `default_fallbacks`, at most max_fallbacks groups in all. */
static void decide_chain(struct router_call *c)
{
	const struct config_litellm_settings *ls = &c->r->cfg->litellm_settings;
	const struct config_fallback *list = ls->fallbacks;
	size_t n_list = ls->n_fallbacks, i, max = (size_t)c->r->cfg->router_settings.max_fallbacks;

	c->chain_decided = true;
	if (c->disable_fallbacks || c->err == E_BAD_REQUEST || c->err == E_BUDGET)
		return;
	if (c->err == E_CONTEXT && ls->n_context_window_fallbacks) {
		list = ls->context_window_fallbacks;
		n_list = ls->n_context_window_fallbacks;
	} else if (c->err == E_POLICY && ls->n_content_policy_fallbacks) {
		list = ls->content_policy_fallbacks;
		n_list = ls->n_content_policy_fallbacks;
	}
	if (c->body_fallbacks) {
		chain_append(c, c->body_fallbacks, c->n_body_fallbacks, max);
	} else {
		for (i = 0; i < n_list; i++)
			if (strcmp(list[i].from, c->requested) == 0)
				chain_append(c, list[i].to, list[i].n_to, max);
	}
	chain_append(c, ls->default_fallbacks, ls->n_default_fallbacks, max);
}

static void fallback_metric(struct router_call *c, struct metric *m)
{
	char st[16];
	const char *v[] = {c->requested, c->chain[c->chain_pos], st, class_names[c->first_err],
			   NULL};

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
		fallback_metric(c, c->r->m_fb_fail);
	if (c->chain_pos + 1 < c->n_chain) {
		c->chain_pos++;
		c->fallbacks++;
		c->attempts_in_group = 0;
		c->last_failed = NULL;
		log_info("falling back from %s to %s after %s", c->chain[c->chain_pos - 1],
			 c->chain[c->chain_pos], class_names[c->err]);
		arm(c, T_BACKOFF, 0);
		return;
	}
	fail_call(c, c->err, c->err_status, c->err_msg ? c->err_msg : "upstream failed");
}

/* One attempt failed before anything reached the client: retry, fall back, or give up. */
static void attempt_failed(struct router_call *c)
{
	struct router *r = c->r;
	int64_t allowed = retries_for(r, c->dep, c->err);
	int64_t left_ms =
		r->cfg->router_settings.timeout_s * 1000 - (now_mono_us() - c->t_start) / 1000;
	const char *v[] = {c->group->name, NULL};

	if (counts_for_cooldown(c->err, c->err_status))
		note_failure(r, c->dep, c->err_status);
	c->last_failed = c->dep;
	log_info("%s via %s failed: %s %ld: %s", c->group->name, c->dep->m->model_info.id,
		 class_names[c->err], c->err_status, c->err_msg ? c->err_msg : "");
	if (c->attempts_in_group < allowed && !c->cancelled) {
		int64_t delay = c->retry_after_s > 0 ? c->retry_after_s * 1000
						     : backoff_ms(c->attempts_in_group);

		if (delay < left_ms) {
			c->attempts_in_group++;
			c->retries++;
			c->backoff_us += delay * 1000;
			metric_inc(r->m_retries, v, 1);
			arm(c, T_BACKOFF, delay);
			return;
		}
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
	c->prompt_tokens = (int64_t)(c->sent_bytes / 4);
	c->completion_tokens = (int64_t)((c->output_chars + 3) / 4);
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
	if (c->got_usage) {
		c->cost_usd = (double)c->prompt_tokens * mi->input_cost_per_token +
			      (double)c->completion_tokens * mi->output_cost_per_token;
		c->cost_source = c->cost_usd > 0 ? "model_info" : "none";
		if (c->cost_usd <= 0)
			metric_inc(c->r->m_cost_unknown, mv, 1);
		return;
	}
	c->cost_source = "estimate";
	if (!c->client_stream && !c->output_chars) {
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
		metric_inc(c->r->m_cost_unknown, mv, 1);
}

/* Every attempt the provider received is billed by it, whatever became of the call: one
 * ledger row each (retries, fallbacks, cut, cancelled, timed-out and oversized answers too),
 * fed to the budgets, the breaker, the spend metric and the deployment's tpm window. An HTTP
 * error status is the provider's refusal, which it does not bill, and a request that never
 * went out whole costs nothing: those only give their reservation back. */
static void settle(struct router_call *c, struct httpc_req *req)
{
	struct router *r = c->r;
	const struct config_model *m = c->dep->m;
	long status = httpc_status(req);
	const char *kv[] = {
		m->litellm_params.model, c->key_hash, alias_or_none(c), NULL, NULL, NULL};

	if (!c->attempt_open)
		return;
	c->attempt_open = false;
	release(c);
	if (status != 200 && (status != 0 || !httpc_request_sent(req)))
		return;
	price_attempt(c, req);
	if (r->breaker)
		breaker_add_cost(r->breaker, now_mono_ms(), c->cost_usd);
	c->dep->win.tokens[slot(&c->dep->win, now_mono_ms() / 1000)] +=
		c->prompt_tokens + c->completion_tokens;
	if (r->spend) {
		struct spend_entry e = {.ts_ms = now_ms(),
					.model_group = c->group->name,
					.deployment = m->model_info.id,
					.key_hash = c->key_hash,
					.input_tokens = c->prompt_tokens,
					.output_tokens = c->completion_tokens,
					.cost_usd = c->cost_usd,
					.cost_source = c->cost_source,
					.estimated = c->estimated};

		spend_record(r->spend, &e);
	}
	metric_inc(r->m_spend, kv, c->cost_usd);
}

/* Metrics of an answer that reached the client (its cost is settled with the attempt). */
static void count_success(struct router_call *c)
{
	struct router *r = c->r;
	const struct config_model *m = c->dep->m;
	double secs = (double)(now_mono_us() - c->t_attempt) / 1e6;
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
	metric_inc(r->m_requests, kv, 1);
	metric_inc(r->m_in_tokens, tv, (double)c->prompt_tokens);
	metric_inc(r->m_out_tokens, tv, (double)c->completion_tokens);
	metric_inc(r->m_tokens, tv, (double)(c->prompt_tokens + c->completion_tokens));
	metric_observe(r->m_api_latency, mv, secs);
	if (c->t_first_token)
		metric_observe(r->m_ttft, mv, (double)(c->t_first_token - c->t_attempt) / 1e6);
	if (c->fallbacks)
		fallback_metric(c, r->m_fb_ok);
	set_state_metric(r, c->dep, now_mono_ms());
}

/* The stream reached the client and then broke: tell it in the stream, never cut silently. */
static void end_stream_with_error(struct router_call *c, const char *already_forwarded)
{
	if (!already_forwarded) {
		char *ev = json_error(c->err ? c->err : E_SERVER, 502,
				      c->err_msg ? c->err_msg : "upstream stream broke");

		forward(c, ev, strlen(ev));
		free(ev);
	}
	count_success(c);
	c->final_status = 200;
	c->stream_failed = true;
	arm(c, T_FINISH, 0);
}

static void on_stream_done(struct router_call *c, enum httpc_result res)
{
	if (c->stream_started) {
		if (res == HTTPC_OK && c->upstream_done) {
			c->cbs.on_stream_data(c, "data: [DONE]\n\n", 14, c->arg);
			count_success(c);
			c->final_status = 200;
			arm(c, T_FINISH, 0);
			return;
		}
		if (res == HTTPC_OK || !c->err) {
			c->err = E_TRANSPORT;
			c->err_status = 502;
			free(c->err_msg);
			c->err_msg = xstrdup("upstream stream ended before [DONE]");
		}
		end_stream_with_error(c, c->stream_failed_forwarded ? "yes" : NULL);
		return;
	}
	if (res == HTTPC_OK && c->upstream_done) {
		/* A valid stream without a single chunk: answer with an empty stream. */
		start_stream(c);
		c->cbs.on_stream_data(c, "data: [DONE]\n\n", 14, c->arg);
		count_success(c);
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

static void on_non_stream_ok(struct router_call *c, const char *body, size_t len)
{
	cJSON *root = parse_scratch(body, len), *usage;
	bool is_object = cJSON_IsObject(root), is_error = false;
	char *msg = NULL;

	if (is_object) {
		is_error = cJSON_GetObjectItemCaseSensitive(root, "error") &&
			   !cJSON_GetObjectItemCaseSensitive(root, "choices");
		usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
		if (!is_error && cJSON_IsObject(usage))
			read_usage(c, usage);
		if (!is_error)
			c->output_chars = choices_chars(
				cJSON_GetObjectItemCaseSensitive(root, "choices"), "message");
	}
	drop_scratch(root);
	if (!is_object) {
		c->err = E_MALFORMED;
		c->err_status = 502;
		free(c->err_msg);
		c->err_msg = xstrdup("upstream answered 200 with a body that is not JSON");
		attempt_failed(c);
		return;
	}
	if (is_error) {
		c->err = classify(200, body, &msg);
		c->err_status = client_status(c->err, 502);
		free(c->err_msg);
		c->err_msg = msg;
		attempt_failed(c);
		return;
	}
	free(c->final_body);
	c->final_body = xstrndup(body, len);
	c->final_status = 200;
	count_success(c);
	arm(c, T_FINISH, 0);
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
	c->retry_after_s = parse_retry_after(httpc_header(req, "Retry-After"));
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
		char *msg = NULL;

		if (c->client_stream)
			body = buf_str(&c->errbody);
		c->err = classify(status, body, &msg);
		c->err_status = status;
		free(c->err_msg);
		c->err_msg = msg;
		attempt_failed(c);
		return;
	}
	on_non_stream_ok(c, body, len);
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
		.body_len = c->final_body ? strlen(c->final_body) : 0,
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
		req_model, exc, class_names[c->err], c->key_hash, alias_or_none(c), NULL,
		NULL,	   NULL};
	const char *lv[] = {req_model, c->dep ? c->dep->m->litellm_params.model : "None", NULL};
	const char *mv[] = {c->dep ? c->dep->m->litellm_params.model : "None", NULL};

	if (c->done)
		return;
	c->done = true;
	snprintf(code, sizeof(code), "%d", c->final_status);
	metric_inc(r->m_total, tv, 1);
	if (c->final_status >= 400 || c->stream_failed) {
		snprintf(exc, sizeof(exc), "%ld", c->err_status);
		metric_inc(r->m_failed, fv, 1);
	}
	metric_observe(r->m_latency, lv, total_s);
	metric_observe(r->m_overhead, mv, res.overhead_ms / 1e3);
	c->cbs.on_done(c, &res, c->arg);
	if (c->prev)
		c->prev->next = c->next;
	else
		r->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->sse_active)
		sse_finish(&c->sse);
	buf_finish(&c->errbody);
	event_free(c->timer);
	cJSON_Delete(c->req);
	free(c->body);
	for (i = 0; i < c->n_body_fallbacks; i++)
		free(c->body_fallbacks[i]);
	free(c->body_fallbacks);
	free(c->chain);
	free(c->requested);
	free(c->key_hash);
	free(c->key_alias);
	free(c->err_msg);
	free(c->final_body);
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
	if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
		return "messages is required (a non-empty array)";
	c->requested = xstrdup(model->valuestring);
	c->client_stream = cJSON_IsTrue(stream);
	c->client_usage = so && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
	c->disable_fallbacks = cJSON_IsTrue(dis);
	if (cJSON_IsArray(fb)) {
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

static bool key_allows(const struct config_key *k, const char *model)
{
	size_t i;

	if (!k || k->n_models == 0)
		return true;
	for (i = 0; i < k->n_models; i++)
		if (strcmp(k->models[i], model) == 0)
			return true;
	return false;
}

/* Allowlist, key restrictions and budget; returns false after arranging the error answer. */
static bool admit(struct router_call *c)
{
	char msg[512];
	const char *which = NULL;
	size_t i;
	int rc = 0;

	if (!router_has_model(c->r, c->requested)) {
		snprintf(msg, sizeof(msg),
			 "Invalid model name passed in model=%s. Call /v1/models"
			 " to view available models for your key.",
			 c->requested);
		fail_call(c, E_BAD_REQUEST, 400, msg);
		return false;
	}
	for (i = 0; i < c->n_body_fallbacks; i++) {
		if (!router_has_model(c->r, c->body_fallbacks[i])) {
			snprintf(msg, sizeof(msg),
				 "Invalid model name passed in fallbacks=%s. Call"
				 " /v1/models to view available models for your key.",
				 c->body_fallbacks[i]);
			fail_call(c, E_BAD_REQUEST, 400, msg);
			return false;
		}
	}
	if (!key_allows(c->who.key, c->requested)) {
		snprintf(msg, sizeof(msg),
			 "key not allowed to access model. This key can only"
			 " access models=%s... Tried to access %s",
			 c->who.key->models[0], c->requested);
		fail_call(c, E_AUTH, 401, msg);
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

int router_chat(struct router *r, const char *body, size_t len, const struct router_caller *who,
		const struct router_cbs *cbs, void *arg, struct router_call **out)
{
	struct router_call *c;
	const char *bad;

	if (!cbs || !cbs->on_done)
		return -EINVAL;
	c = xcalloc(1, sizeof(*c));
	c->r = r;
	c->who = *who;
	c->key_hash = xstrdup(who->key_hash ? who->key_hash : "internal");
	c->key_alias = xstrdup(who->key_alias);
	c->who.key_hash = c->key_hash;
	c->who.key_alias = c->key_alias;
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
	c->body = xmalloc(len + 1);
	memcpy(c->body, body, len);
	c->body[len] = '\0';
	c->body_len = len;
	c->req = json_exact_parse(body, len);
	if (!cJSON_IsObject(c->req)) {
		fail_call(c, E_BAD_REQUEST, 400, "request body is not a JSON object");
		return 0;
	}
	bad = read_request(c);
	if (!bad && c->client_stream && (!cbs->on_stream_start || !cbs->on_stream_data))
		bad = "this caller does not take streamed answers: leave stream unset";
	if (bad) {
		fail_call(c, E_BAD_REQUEST, 400, bad);
		return 0;
	}
	if (refuse_max_tokens(c))
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
		char **h;

		for (h = r->deps[i].headers; *h; h++)
			free(*h);
		free(r->deps[i].headers);
		free(r->deps[i].url);
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
