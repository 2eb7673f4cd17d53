/* policy: the router's decision tables (error classes, retries and backoff, rpm/tpm windows,
 * cooldowns, deployment picking, the fallback chain) as pure functions over plain values.
 * router.c owns the clock, the random numbers and the deployments, and calls these with what
 * it read; keeping them apart lets tests/test_router_policy.c walk each table without a loop,
 * a socket or a fake upstream. Rejected: a policy object with callbacks into the router (the
 * inputs are few and plain, and a callback would hide which ones a decision reads). */
#include "router/policy.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define BACKOFF_BASE_MS 100
#define BACKOFF_MAX_MS	5000
#define PICK_MAX	64

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
	[E_POOL_TOO_BIG] = "BadRequestError",
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
	[E_POOL_TOO_BIG] = "invalid_request_error",
};

const char *policy_class_name(enum policy_eclass c)
{
	return class_names[c];
}

const char *policy_type_name(enum policy_eclass c)
{
	return type_names[c];
}

/* ---- error classes ---- */

static bool contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; hay && *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static enum policy_eclass class_of(long status, const char *codestr, const char *text)
{
	if (strcmp(codestr, "context_length_exceeded") == 0 ||
	    contains_ci(text, "maximum context length") || contains_ci(text, "context length") ||
	    contains_ci(text, "context window"))
		return E_CONTEXT;
	if (strcmp(codestr, "content_policy_violation") == 0 ||
	    contains_ci(text, "content policy") || contains_ci(text, "flagged") ||
	    (status == 403 && contains_ci(text, "moderation")))
		return E_POLICY;
	if (status == 408)
		return E_TIMEOUT;
	if (status == 429)
		return E_RATE_LIMIT;
	if (status == 409 || status >= 500)
		return E_SERVER;
	if (status == 401 || status == 403)
		return E_AUTH;
	if (status == 402)
		return E_PAYMENT;
	if (status == 404)
		return E_NOT_FOUND;
	return E_BAD_REQUEST;
}

enum policy_eclass policy_classify(long status, const char *body, char **msg)
{
	cJSON *root = body ? json_parse_str(body, NULL) : NULL;
	cJSON *e = root ? cJSON_GetObjectItemCaseSensitive(root, "error") : NULL;
	cJSON *m = e ? cJSON_GetObjectItemCaseSensitive(e, "message") : NULL;
	cJSON *code = e ? cJSON_GetObjectItemCaseSensitive(e, "code") : NULL;
	const char *text = cJSON_IsString(m) ? m->valuestring : NULL;
	const char *codestr = cJSON_IsString(code) ? code->valuestring : "";
	enum policy_eclass c;

	if (cJSON_IsNumber(code) && status == 200)
		status = (long)clamp_i64(code->valuedouble, 0, 999);
	/* Some upstreams quote the request's Authorization header back in their error. */
	*msg = log_redact(text ? text
			       : (body && *body && !root ? "upstream answered a non-JSON error"
							 : "upstream error"));
	c = class_of(status, codestr, text);
	cJSON_Delete(root);
	return c;
}

long policy_responses_status(const char *code)
{
	static const struct {
		const char *code;
		long status;
	} exact[] = {
		{"rate_limit_exceeded", 429},	   {"insufficient_quota", 429},
		{"vector_store_timeout", 408},	   {"context_length_exceeded", 400},
		{"failed_to_download_image", 400}, {"invalid_prompt", 400},
	};
	/* The documented codes of images and inputs the model cannot take. */
	static const char *const client_prefixes[] = {"invalid_", "image_", "unsupported_",
						      "empty_"};
	size_t i;

	if (!code)
		return 500;
	for (i = 0; i < ARRAY_LEN(exact); i++)
		if (strcmp(code, exact[i].code) == 0)
			return exact[i].status;
	for (i = 0; i < ARRAY_LEN(client_prefixes); i++)
		if (strncmp(code, client_prefixes[i], strlen(client_prefixes[i])) == 0)
			return 400;
	return 500;
}

long policy_client_status(enum policy_eclass c, long upstream)
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
	case E_POOL_TOO_BIG:
		return 400;
	case E_CANCELLED:
		return 499;
	default:
		return upstream >= 400 ? upstream : 500;
	}
}

bool policy_counts_for_cooldown(enum policy_eclass c, long status)
{
	if (c == E_TIMEOUT || c == E_TRANSPORT || c == E_MALFORMED || c == E_SERVER)
		return true;
	return status == 429 || status == 401 || status == 404 || status == 408;
}

/* ---- retries and backoff ---- */

int64_t policy_retries(const struct config_retry_policy *p, int64_t num_retries,
		       enum policy_eclass c, long status)
{
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
		pol = status == 503 && p->service_unavailable >= 0 ? p->service_unavailable
								   : p->internal_server;
		break;
	case E_BAD_REQUEST:
	case E_CONTEXT:
		return p->bad_request > 0 ? p->bad_request : 0;
	case E_AUTH:
		return p->authentication > 0 ? p->authentication : 0;
	case E_POLICY:
		return p->content_policy > 0 ? p->content_policy : 0;
	case E_NOT_FOUND:
		return p->not_found > 0 ? p->not_found : 0;
	default:
		return 0;
	}
	if (pol >= 0)
		return pol;
	return p->default_retries >= 0 ? p->default_retries : num_retries;
}

int64_t policy_allowed_fails(const struct config_allowed_fails_policy *p, int64_t allowed_fails,
			     enum policy_eclass c, long status)
{
	int64_t pol = -1;

	switch (c) {
	case E_BAD_REQUEST:
	case E_CONTEXT:
		pol = p->bad_request;
		break;
	case E_AUTH:
		pol = p->authentication;
		break;
	case E_TIMEOUT:
		pol = p->timeout;
		break;
	case E_RATE_LIMIT:
		pol = p->rate_limit;
		break;
	case E_POLICY:
		pol = p->content_policy;
		break;
	case E_NOT_FOUND:
		pol = p->not_found;
		break;
	case E_SERVER:
	case E_TRANSPORT:
	case E_MALFORMED:
		pol = p->internal_server;
		if (status == 503 && p->service_unavailable >= 0)
			pol = p->service_unavailable;
		if (status == 502 && p->bad_gateway >= 0)
			pol = p->bad_gateway;
		break;
	default:
		break;
	}
	return pol >= 0 ? pol : allowed_fails;
}

int64_t policy_retry_delay_ms(int64_t attempt, int64_t allowed, bool cancelled, long retry_after_s,
			      long jitter_draw, int64_t min_ms, int64_t left_ms)
{
	int64_t delay, base;

	if (attempt >= allowed || cancelled)
		return -1;
	if (retry_after_s > 0) {
		delay = (int64_t)retry_after_s * 1000;
	} else {
		base = (int64_t)BACKOFF_BASE_MS << (attempt < 6 ? attempt : 6);
		if (base > BACKOFF_MAX_MS)
			base = BACKOFF_MAX_MS;
		/* +-25% jitter so clients that failed together do not retry together. */
		delay = base * 3 / 4 + (int64_t)(jitter_draw % (base / 2 + 1));
		if (delay < min_ms)
			delay = min_ms;
	}
	return delay < left_ms ? delay : -1;
}

/* ---- admission and the request's limits ---- */

static bool listed(char *const *names, size_t n, const char *name);

/* ---- the requested name: aliases and wildcards ---- */

bool policy_wildcard_match(const char *pattern, const char *name, size_t *off, size_t *len)
{
	const char *star = strchr(pattern, '*');
	size_t pre, suf, n = strlen(name);

	if (!star || strchr(star + 1, '*'))
		return false;
	pre = (size_t)(star - pattern);
	suf = strlen(star + 1);
	if (n <= pre + suf || strncmp(name, pattern, pre) != 0 ||
	    strcmp(name + n - suf, star + 1) != 0)
		return false;
	*off = pre;
	*len = n - pre - suf;
	return true;
}

bool policy_resolve_model(const char *requested, char *const *groups, size_t n_groups,
			  const struct config_alias *aliases, size_t n_aliases,
			  struct policy_route *out)
{
	size_t i, off, len, best_literal = 0;
	bool found = false;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n_aliases; i++)
		if (strcmp(aliases[i].alias, requested) == 0) {
			out->group = aliases[i].model;
			out->alias = true;
			return true;
		}
	for (i = 0; i < n_groups; i++)
		if (strcmp(groups[i], requested) == 0) {
			out->group = groups[i];
			return true;
		}
	for (i = 0; i < n_groups; i++) {
		if (!policy_wildcard_match(groups[i], requested, &off, &len))
			continue;
		if (!found || strlen(groups[i]) - 1 > best_literal) {
			out->group = groups[i];
			best_literal = strlen(groups[i]) - 1;
			found = true;
		}
	}
	out->wildcard = found;
	return found;
}

char *policy_wildcard_upstream(const char *pattern, const char *upstream, const char *requested)
{
	const char *star = strchr(upstream, '*');
	size_t off, len;

	if (!star || !policy_wildcard_match(pattern, requested, &off, &len))
		return NULL;
	return xasprintf("%.*s%.*s%s", (int)(star - upstream), upstream, (int)len, requested + off,
			 star + 1);
}

enum policy_eclass policy_admit(const char *requested, char *const *body_fallbacks,
				size_t n_body_fallbacks, const struct config_key *key,
				char *const *groups, size_t n_groups, char *msg, size_t msg_len)
{
	size_t i;

	if (!listed(groups, n_groups, requested)) {
		snprintf(msg, msg_len,
			 "Invalid model name passed in model=%s. Call /v1/models"
			 " to view available models for your key.",
			 requested);
		return E_BAD_REQUEST;
	}
	for (i = 0; i < n_body_fallbacks; i++) {
		if (!listed(groups, n_groups, body_fallbacks[i])) {
			snprintf(msg, msg_len,
				 "Invalid model name passed in fallbacks=%s. Call"
				 " /v1/models to view available models for your key.",
				 body_fallbacks[i]);
			return E_BAD_REQUEST;
		}
	}
	if (!policy_key_allows(key, requested)) {
		snprintf(msg, msg_len,
			 "key not allowed to access model. This key can only"
			 " access models=%s... Tried to access %s",
			 key->models[0], requested);
		return E_AUTH;
	}
	return E_NONE;
}

const char *policy_max_tokens_refusal(const char *field, const char *kind, double value, char *msg,
				      size_t msg_len)
{
	if (kind || !isfinite(value) || value != floor(value)) {
		snprintf(msg, msg_len,
			 "Invalid type for '%s': expected an integer, but got %s instead.", field,
			 kind ? kind : "a decimal number");
		return "invalid_type";
	}
	if (value < 1) {
		snprintf(msg, msg_len,
			 "Invalid '%s': integer below minimum value. Expected a value >= 1,"
			 " but got %.0f instead.",
			 field, value);
		return "integer_below_min_value";
	}
	return NULL;
}

int64_t policy_max_tokens_ceiling(const struct config_guardrails *g, const char *group)
{
	int64_t ceiling = g->max_tokens_default;
	size_t i;

	for (i = 0; i < g->n_max_tokens; i++)
		if (strcmp(g->max_tokens[i].model, group) == 0)
			ceiling = g->max_tokens[i].max_tokens;
	return ceiling;
}

int64_t policy_output_bound(double requested_max, int64_t model_max, int64_t default_tokens)
{
	int64_t n = 0;

	if (requested_max > 0)
		n = requested_max < 1e9 ? (int64_t)requested_max : 1000000000;
	if (n <= 0)
		n = model_max > 0 ? model_max : default_tokens;
	return model_max > 0 && n > model_max ? model_max : n;
}

void policy_estimate_tokens(size_t sent_bytes, size_t output_chars, int64_t *prompt_tokens,
			    int64_t *completion_tokens)
{
	*prompt_tokens = (int64_t)(sent_bytes / 4);
	*completion_tokens = (int64_t)((output_chars + 3) / 4);
}

/* ---- rpm/tpm windows ---- */

void policy_window_add(struct policy_window *w, int64_t sec, int64_t reqs, int64_t tokens)
{
	size_t i = (size_t)(sec % POLICY_WINDOW_SLOTS);

	if (w->sec[i] != sec) {
		w->sec[i] = sec;
		w->reqs[i] = 0;
		w->tokens[i] = 0;
	}
	w->reqs[i] += reqs;
	w->tokens[i] += tokens;
}

void policy_window_sum(const struct policy_window *w, int64_t sec, int64_t *reqs, int64_t *tokens)
{
	size_t i;

	*reqs = *tokens = 0;
	for (i = 0; i < POLICY_WINDOW_SLOTS; i++) {
		if (w->sec[i] > sec - POLICY_WINDOW_SLOTS && w->sec[i] <= sec) {
			*reqs += w->reqs[i];
			*tokens += w->tokens[i];
		}
	}
}

long policy_window_free_in_s(const struct policy_window *w, int64_t sec)
{
	int64_t oldest = 0;
	size_t i;

	for (i = 0; i < POLICY_WINDOW_SLOTS; i++) {
		if (w->sec[i] <= sec - POLICY_WINDOW_SLOTS || w->sec[i] > sec ||
		    (!w->reqs[i] && !w->tokens[i]))
			continue;
		if (!oldest || w->sec[i] < oldest)
			oldest = w->sec[i];
	}
	return oldest ? (long)(oldest + POLICY_WINDOW_SLOTS - sec) : 1;
}

bool policy_over_limits(int64_t rpm, int64_t tpm, int64_t reqs, int64_t tokens)
{
	return (rpm && reqs >= rpm) || (tpm && tokens >= tpm);
}

/* ---- cooldowns ---- */

size_t policy_recent_failures(const int64_t *fail_ms, size_t n, int64_t t_ms, int64_t window_ms)
{
	size_t i, recent = 0;

	for (i = 0; i < n; i++)
		if (fail_ms[i] && t_ms - fail_ms[i] < window_ms)
			recent++;
	return recent;
}

bool policy_starts_cooldown(size_t recent, int64_t allowed_fails, bool cooling)
{
	return (int64_t)recent > allowed_fails && !cooling;
}

int policy_deployment_state(int64_t cooldown_until_ms, int64_t last_fail_ms, int64_t t_ms,
			    int64_t window_ms)
{
	if (cooldown_until_ms > t_ms)
		return 2;
	if (last_fail_ms && t_ms - last_fail_ms < window_ms)
		return 1;
	return 0;
}

/* ---- deployment picking ---- */

void policy_shares(const struct policy_share_in *in, size_t n, int64_t *out)
{
	bool any_weight = false, any_rpm = false, any_tpm = false;
	size_t i;

	for (i = 0; i < n; i++) {
		any_weight = any_weight || in[i].weight > 0;
		any_rpm = any_rpm || in[i].rpm > 0;
		any_tpm = any_tpm || in[i].tpm > 0;
	}
	for (i = 0; i < n; i++)
		out[i] = any_weight ? in[i].weight : any_rpm ? in[i].rpm : any_tpm ? in[i].tpm : 1;
}

/* ---- latency ---- */

void policy_latency_add(struct policy_latency *l, int64_t t_ms, int64_t value, size_t keep)
{
	if (keep < 1 || keep > POLICY_LATENCY_SLOTS)
		keep = POLICY_LATENCY_SLOTS;
	l->pos %= keep;
	l->at_ms[l->pos] = t_ms;
	l->value[l->pos] = value;
	l->pos = (l->pos + 1) % keep;
}

int64_t policy_latency_mean(const struct policy_latency *l, int64_t now_ms, int64_t ttl_ms)
{
	int64_t sum = 0, n = 0;
	size_t i;

	for (i = 0; i < POLICY_LATENCY_SLOTS; i++) {
		if (l->at_ms[i] <= 0 || now_ms - l->at_ms[i] >= ttl_ms)
			continue;
		sum += l->value[i];
		n++;
	}
	return n ? sum / n : -1;
}

int64_t policy_latency_sample(bool stream, int64_t first_event_us, int64_t total_us,
			      int64_t completion_tokens)
{
	if (stream && first_event_us > 0)
		return first_event_us;
	return completion_tokens > 0 ? total_us / completion_tokens : total_us;
}

/* Whether deployment c has room this minute for a call of `tokens` (usage-based routing). */
static bool usage_fits(const struct policy_candidate *c, int64_t tokens)
{
	return (c->tpm <= 0 || c->tpm_used + tokens <= c->tpm) &&
	       (c->rpm <= 0 || c->rpm_used + 1 <= c->rpm);
}

/* A strategy's score of a candidate: lower is better. */
static double score(const struct policy_candidate *c, enum policy_strategy st)
{
	switch (st) {
	case STRATEGY_LEAST_BUSY:
		return c->in_flight;
	case STRATEGY_LATENCY:
		return c->latency_ms < 0 ? 0 : (double)c->latency_ms;
	case STRATEGY_USAGE:
		return (double)c->tpm_used;
	case STRATEGY_COST:
		return c->cost < 0 ? 1e30 : c->cost;
	case STRATEGY_SIMPLE_SHUFFLE:
		break;
	}
	return 0;
}

long policy_pick_by(const struct policy_candidate *d, size_t n_deps,
		    const struct policy_pick_ask *a, long *wait_s, bool *all_cooling)
{
	long cand[PICK_MAX];
	size_t n = 0, i, m;
	int64_t soonest = 0, total = 0, roll;
	double best, bound;

	*all_cooling = true;
	for (i = 0; i < n_deps && n < PICK_MAX; i++) {
		if (d[i].cooldown_until_ms > a->now_ms) {
			if (!soonest || d[i].cooldown_until_ms < soonest)
				soonest = d[i].cooldown_until_ms;
			continue;
		}
		*all_cooling = false;
		if (d[i].excluded || d[i].over_limits ||
		    (d[i].max_parallel > 0 && d[i].in_flight >= d[i].max_parallel))
			continue;
		if (a->strategy == STRATEGY_USAGE && !usage_fits(&d[i], a->tokens))
			continue;
		cand[n++] = (long)i;
	}
	*wait_s = soonest ? (long)((soonest - a->now_ms + 999) / 1000) : 1;
	if (n == 0)
		return -1;
	if (n > 1 && a->avoid >= 0) {
		for (i = 0; i < n; i++) {
			if (cand[i] == a->avoid) {
				memmove(&cand[i], &cand[i + 1], (n - i - 1) * sizeof(cand[0]));
				n--;
				break;
			}
		}
	}
	if (a->strategy == STRATEGY_SIMPLE_SHUFFLE) {
		for (i = 0; i < n; i++)
			total += d[cand[i]].weight;
		/* Only deployments without a share are left: LiteLLM then draws among them. */
		if (total <= 0)
			return cand[(size_t)a->draw % n];
		roll = (int64_t)(a->draw % total);
		for (i = 0; i < n; i++) {
			roll -= d[cand[i]].weight;
			if (roll < 0)
				return cand[i];
		}
		return cand[n - 1];
	}
	if (a->strategy == STRATEGY_LEAST_BUSY) {
		long pick = cand[0];

		for (i = 1; i < n; i++)
			if (d[cand[i]].in_flight < d[pick].in_flight)
				pick = cand[i];
		return pick;
	}
	/* the best score, then every candidate within the bound, one of them by draw */
	best = score(&d[cand[0]], a->strategy);
	for (i = 1; i < n; i++)
		if (score(&d[cand[i]], a->strategy) < best)
			best = score(&d[cand[i]], a->strategy);
	bound = best;
	if (a->strategy == STRATEGY_LATENCY && a->latency_buffer > 0)
		bound = best * (1 + a->latency_buffer);
	for (i = 0, m = 0; i < n; i++)
		if (score(&d[cand[i]], a->strategy) <= bound)
			cand[m++] = cand[i];
	return cand[(size_t)a->draw % m];
}

long policy_pick(const struct policy_candidate *d, size_t n_deps, long avoid, bool least_busy,
		 long draw, int64_t now_ms, long *wait_s, bool *all_cooling)
{
	struct policy_pick_ask a = {.strategy = least_busy ? STRATEGY_LEAST_BUSY
							   : STRATEGY_SIMPLE_SHUFFLE,
				    .avoid = avoid,
				    .draw = draw,
				    .now_ms = now_ms};

	return policy_pick_by(d, n_deps, &a, wait_s, all_cooling);
}

/* ---- the fallback chain ---- */

bool policy_key_allows(const struct config_key *k, const char *model)
{
	size_t i;

	if (!k || k->n_models == 0)
		return true;
	for (i = 0; i < k->n_models; i++)
		if (strcmp(k->models[i], model) == 0)
			return true;
	return false;
}

static bool listed(char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* Appends the groups of names that exist, are not in the chain yet and that the caller's key
 * may use: a key limited to some models never reaches another through a fallback. */
static void chain_append(const struct policy_fallback_ask *a, char *const *names, size_t n,
			 const char ***chain, size_t *n_chain)
{
	size_t i, j;

	for (i = 0; i < n && (int64_t)(*n_chain - 1) < a->max_fallbacks; i++) {
		bool dup = false;

		for (j = 0; j < *n_chain; j++)
			dup = dup || strcmp((*chain)[j], names[i]) == 0;
		if (dup || !listed(a->groups, a->n_groups, names[i]))
			continue;
		if (!policy_key_allows(a->key, names[i])) {
			log_debug("fallback %s skipped: the caller's key may not use it", names[i]);
			continue;
		}
		*chain = xrealloc(*chain, (*n_chain + 1) * sizeof(char *));
		(*chain)[(*n_chain)++] = names[i];
	}
}

void policy_fallback_chain(const struct policy_fallback_ask *a, const char ***chain,
			   size_t *n_chain)
{
	const struct config_litellm_settings *ls = a->ls;
	const struct config_fallback *list = ls->fallbacks;
	size_t n_list = ls->n_fallbacks, i;

	if (a->disable_fallbacks || a->err == E_BAD_REQUEST || a->err == E_BUDGET)
		return;
	if (a->err == E_CONTEXT && ls->n_context_window_fallbacks) {
		list = ls->context_window_fallbacks;
		n_list = ls->n_context_window_fallbacks;
	} else if (a->err == E_POLICY && ls->n_content_policy_fallbacks) {
		list = ls->content_policy_fallbacks;
		n_list = ls->n_content_policy_fallbacks;
	}
	if (a->body_fallbacks) {
		chain_append(a, a->body_fallbacks, a->n_body_fallbacks, chain, n_chain);
	} else {
		for (i = 0; i < n_list; i++)
			if (strcmp(list[i].from, a->requested) == 0)
				chain_append(a, list[i].to, list[i].n_to, chain, n_chain);
	}
	chain_append(a, ls->default_fallbacks, ls->n_default_fallbacks, chain, n_chain);
}

/* ---- order ---- */

static bool has_order(const struct policy_candidate *d)
{
	return d->order != CONFIG_ORDER_UNSET;
}

bool policy_order_filter(struct policy_candidate *d, size_t n, int64_t now_ms, bool has_target,
			 int64_t target, int64_t *kept)
{
	bool found = false, hit = false;
	int64_t best = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		d[i].excluded = false;
		if (d[i].cooldown_until_ms > now_ms || !has_order(&d[i]))
			continue;
		if (has_target && d[i].order == target)
			hit = true;
		if (!found || d[i].order < best)
			best = d[i].order;
		found = true;
	}
	if (has_target) {
		if (!hit)
			return false;
		best = target;
	} else if (!found) {
		return false;
	}
	for (i = 0; i < n; i++)
		if (d[i].cooldown_until_ms <= now_ms && (!has_order(&d[i]) || d[i].order != best))
			d[i].excluded = true;
	*kept = best;
	return true;
}

bool policy_next_order(const struct policy_candidate *d, size_t n, int64_t current, int64_t *next)
{
	bool found = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!has_order(&d[i]) || d[i].order <= current)
			continue;
		if (!found || d[i].order < *next)
			*next = d[i].order;
		found = true;
	}
	return found;
}
