/* policy: the router's decisions as pure functions. Each takes plain values (config structs,
 * numbers, strings, a random draw) and returns plain values; none reads a clock, draws a random
 * number or touches a deployment. router.c's state machine gathers the inputs and acts on the
 * answers; tests/test_router_policy.c checks each decision table directly. */
#ifndef HERMETIC_ROUTER_POLICY_H
#define HERMETIC_ROUTER_POLICY_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The class of a failed attempt or refused call; names what the client is told. */
enum policy_eclass {
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
	E_POOL_TOO_BIG, /* over its class's share of a rate pool's ceiling: never fits (a 400) */
};

/* LiteLLM's exception name for the class ("RateLimitError"); a static string. */
const char *policy_class_name(enum policy_eclass c);

/* OpenAI's error "type" for the class ("rate_limit_error"); a static string. */
const char *policy_type_name(enum policy_eclass c);

/* Classifies an upstream error from its HTTP status and body (OpenAI or OpenRouter shape;
 * body may be NULL or not JSON). A numeric error.code in a 200 body stands for the status.
 * Sets *msg to the error's message with secrets redacted (caller frees). */
enum policy_eclass policy_classify(long status, const char *body, char **msg);

/* The HTTP status a Responses API error code stands for: an "error" event and a failed
 * response carry a code ("rate_limit_exceeded", "server_error", "invalid_image"...) and no
 * status. 429 for rate limits and quota, 408 for a timeout, 400 for a request the model
 * cannot take (context length, invalid input, images), else 500: a server error, retried and
 * fallen back from. code may be NULL. */
long policy_responses_status(const char *code);

/* The HTTP status the client gets for a call that failed with class c after the upstream
 * answered `upstream` (0 when it did not). */
long policy_client_status(enum policy_eclass c, long upstream);

/* Whether a failure of class c with that upstream status counts towards a deployment's
 * allowed_fails (and so towards its cooldown). */
bool policy_counts_for_cooldown(enum policy_eclass c, long status);

/* Retries allowed in one group for class c (upstream status `status`, 0 = none): retry_policy's
 * entry for the class when set (>= 0; ServiceUnavailableErrorRetries for a 503, else
 * InternalServerErrorRetries), else for the classes retried by default (rate limit, timeout,
 * server, transport, malformed) DefaultRetries when set, else num_retries (the deployment's,
 * or the router's); 0 for the other classes (bad request, auth, content policy, not found)
 * unless their own entry says otherwise. */
int64_t policy_retries(const struct config_retry_policy *p, int64_t num_retries,
		       enum policy_eclass c, long status);

/* Failures within cooldown_time a deployment may have before a failure of class c (status
 * `status`) starts its cooldown: allowed_fails_policy's entry for the class when set (>= 0;
 * 503 ServiceUnavailable, 502 BadGateway, else InternalServer for server errors), else
 * allowed_fails. */
int64_t policy_allowed_fails(const struct config_allowed_fails_policy *p, int64_t allowed_fails,
			     enum policy_eclass c, long status);

/* The delay before retry `attempt` (0-based) of a group: Retry-After when the upstream sent
 * one (> 0 s), else exponential backoff from 100 ms, capped at 5 s, with +-25% jitter taken
 * from `jitter_draw` (any non-negative random number), and never below min_ms
 * (router_settings.retry_after, LiteLLM's floor of its backoff; 0 = none). Returns -1 (give up
 * on this group) when no retry is left (attempt >= allowed), the call was cancelled, or the
 * delay would not end before the call's deadline (left_ms from now). */
int64_t policy_retry_delay_ms(int64_t attempt, int64_t allowed, bool cancelled, long retry_after_s,
			      long jitter_draw, int64_t min_ms, int64_t left_ms);

/* ---- the requested name: aliases and wildcards ---- */

/* What a requested model name resolves to. */
struct policy_route {
	const char *group; /* the model group that answers (borrowed from the groups given) */
	bool alias;	   /* through router_settings.model_group_alias */
	bool wildcard;	   /* through a group whose name has a '*' */
};

/* Resolves `requested` as LiteLLM's router does: a model_group_alias name first, then a group
 * of that name, then the wildcard group that matches it with the longest literal part ("*"
 * matches any name; ties go to the first group). Returns false when nothing matches. */
bool policy_resolve_model(const char *requested, char *const *groups, size_t n_groups,
			  const struct config_alias *aliases, size_t n_aliases,
			  struct policy_route *out);

/* Whether `name` matches the one-'*' `pattern` ("anthropic/" + '*', "*"), the '*' standing
 * for at least one character; sets *off and *len to what the '*' matched. */
bool policy_wildcard_match(const char *pattern, const char *name, size_t *off, size_t *len);

/* The upstream id of one call to a wildcard deployment: `upstream` (the deployment's id as
 * configured, e.g. "*") with its '*' replaced by what the '*' of `pattern` (the group name)
 * matched in `requested`. Returns a malloc'd string, or NULL when `requested` does not match
 * `pattern` or `upstream` has no '*' (then the configured id is sent). */
char *policy_wildcard_upstream(const char *pattern, const char *upstream, const char *requested);

/* ---- admission and the request's limits ---- */

/* Whether a call for `requested` (with the request's own fallbacks) may start: E_NONE, or
 * E_BAD_REQUEST (a model group that does not exist; the client gets 400) or E_AUTH (the key may
 * not use the requested group; 401), with msg set to what the client is told. groups are the
 * model groups that exist. The budget is checked apart (spend). */
enum policy_eclass policy_admit(const char *requested, char *const *body_fallbacks,
				size_t n_body_fallbacks, const struct config_key *key,
				char *const *groups, size_t n_groups, char *msg, size_t msg_len);

/* OpenAI's check of one of max_tokens / max_completion_tokens (`field`): a whole number >= 1.
 * kind is NULL for a JSON number (then value is it), else what the value is ("a string").
 * Returns NULL when it passes, else OpenAI's error code ("invalid_type",
 * "integer_below_min_value") with msg set to OpenAI's message. */
const char *policy_max_tokens_refusal(const char *field, const char *kind, double value, char *msg,
				      size_t msg_len);

/* The max_tokens ceiling of a model group: its guardrails.max_tokens entry, else
 * max_tokens_default; <= 0 = none. */
int64_t policy_max_tokens_ceiling(const struct config_guardrails *g, const char *group);

/* The output tokens an attempt may generate, for its reservation: the request's largest
 * max_tokens (0 = none), else the model's max_output_tokens (0 = unknown), else
 * default_tokens; never above max_output_tokens when that is known. */
int64_t policy_output_bound(double requested_max, int64_t model_max, int64_t default_tokens);

/* Tokens of an attempt whose usage did not arrive: about 4 bytes a token of what was sent, and
 * 4 characters a token (rounded up) of the text seen. */
void policy_estimate_tokens(size_t sent_bytes, size_t output_chars, int64_t *prompt_tokens,
			    int64_t *completion_tokens);

/* ---- rpm/tpm windows ---- */

#define POLICY_WINDOW_SLOTS 60

/* Requests and tokens per second over the last minute, for rpm/tpm. Fields are private;
 * zeroed memory is an empty window. */
struct policy_window {
	int64_t sec[POLICY_WINDOW_SLOTS];
	int64_t reqs[POLICY_WINDOW_SLOTS];
	int64_t tokens[POLICY_WINDOW_SLOTS];
};

/* Adds requests and tokens to the slot of second `sec`. */
void policy_window_add(struct policy_window *w, int64_t sec, int64_t reqs, int64_t tokens);

/* Sums the requests and tokens of the 60 seconds up to and including `sec`. */
void policy_window_sum(const struct policy_window *w, int64_t sec, int64_t *reqs, int64_t *tokens);

/* Seconds from second `sec` until the oldest second of the window that counted a request or
 * tokens leaves the minute: the earliest a deployment full for this minute has room again;
 * 1 when nothing is counted. */
long policy_window_free_in_s(const struct policy_window *w, int64_t sec);

/* Whether a deployment with these limits (0 = none) is full for this minute. */
bool policy_over_limits(int64_t rpm, int64_t tpm, int64_t reqs, int64_t tokens);

/* ---- cooldowns ---- */

/* Failures in the ring (times in ms, 0 = empty slot) that are younger than window_ms at t_ms. */
size_t policy_recent_failures(const int64_t *fail_ms, size_t n, int64_t t_ms, int64_t window_ms);

/* Whether a deployment starts cooling down: more than allowed_fails recent failures and not
 * cooling already. */
bool policy_starts_cooldown(size_t recent, int64_t allowed_fails, bool cooling);

/* The deployment state gauge: 2 cooling, 1 failed within the cooldown window, 0 healthy. */
int policy_deployment_state(int64_t cooldown_until_ms, int64_t last_fail_ms, int64_t t_ms,
			    int64_t window_ms);

/* ---- deployment picking ---- */

/* What picking needs to know of one deployment of a group. */
struct policy_candidate {
	int64_t cooldown_until_ms; /* cooling while > now */
	bool over_limits;	   /* rpm or tpm full this minute */
	int in_flight;
	int64_t max_parallel; /* in-flight cap (max_parallel_requests); 0: none */
	int64_t weight;	      /* simple-shuffle share, from policy_shares(); 0: none */
	/* for the strategies that read them (policy_pick_by) */
	int64_t latency_ms; /* mean over the strategy's ttl (any unit, e.g. us per token); < 0:
			     * no call measured yet */
	int64_t tpm, rpm;   /* the deployment's own limits; 0: none */
	int64_t tpm_used, rpm_used; /* this minute */
	double cost;		    /* USD per input + output token; < 0: unknown */
	int64_t order;		    /* litellm_params.order; CONFIG_ORDER_UNSET: none */
	bool excluded;		    /* not of the order this pick keeps (policy_order_filter) */
};

/* LiteLLM's routing strategies (router_settings.routing_strategy). */
enum policy_strategy {
	STRATEGY_SIMPLE_SHUFFLE, /* weighted random: weight, else rpm, else tpm */
	STRATEGY_LEAST_BUSY,	 /* fewest calls in flight */
	STRATEGY_LATENCY, /* lowest mean latency; unmeasured ones first (they get measured) */
	STRATEGY_USAGE,	  /* lowest tokens this minute among those the call fits in */
	STRATEGY_COST,	  /* cheapest per token; unknown prices last */
};

struct policy_pick_ask {
	enum policy_strategy strategy;
	double latency_buffer; /* latency: pick at random among those within (1 + buffer) x
				* the lowest (routing_strategy_args.lowest_latency_buffer) */
	int64_t tokens;	       /* usage: the call's estimate, which must fit a deployment's tpm */
	long avoid;	       /* an index to avoid unless it is the only one left, or -1 */
	long draw;	       /* any non-negative random number: shuffles and ties */
	int64_t now_ms;
};

/* What simple-shuffle weighs one deployment of a group by. */
struct policy_share_in {
	int64_t weight, rpm, tpm; /* 0 = not set */
};

/* The shares of a group's n deployments, as LiteLLM's simple-shuffle weighs them: by weight
 * when any deployment has one, else by rpm when any has one, else by tpm when any has one (a
 * deployment without the chosen field gets 0: never picked while another is usable), else 1
 * each. Decided once per group: the inputs are config. */
void policy_shares(const struct policy_share_in *in, size_t n, int64_t *out);

/* ---- latency (latency-based-routing) ---- */

#define POLICY_LATENCY_SLOTS 10

/* The last latencies of one deployment with when they were measured. Fields are private;
 * zeroed memory is empty. */
struct policy_latency {
	int64_t at_ms[POLICY_LATENCY_SLOTS]; /* 0 = empty slot */
	int64_t value[POLICY_LATENCY_SLOTS];
	size_t pos;
};

/* Records value measured at t_ms (> 0), keeping the last `keep` (1..10) as LiteLLM keeps
 * max_latency_list_size. */
void policy_latency_add(struct policy_latency *l, int64_t t_ms, int64_t value, size_t keep);

/* The mean of the values measured within ttl_ms before now_ms; -1 when there is none. */
int64_t policy_latency_mean(const struct policy_latency *l, int64_t now_ms, int64_t ttl_ms);

/* What one finished call says of a deployment's latency, as LiteLLM's lowest-latency router
 * reads it: for a stream, the time to its first event (us); else the whole call's time per
 * completion token (us per token; per call when no tokens are known). */
int64_t policy_latency_sample(bool stream, int64_t first_event_us, int64_t total_us,
			      int64_t completion_tokens);

/* Picks one of the first deployments (at most 64 usable are considered) of a group: not
 * cooling at now_ms, not over its limits (rpm/tpm, max_parallel), not `avoid` (an index, or
 * -1) unless it is the only one left; the least busy one, or else by weight with `draw` (any
 * non-negative random number). Returns its index, or -1 when none is usable; always sets
 * *all_cooling (no deployment is out of cooldown) and *wait_s (seconds until the first cooldown
 * ends, 1 when none is cooling). */
long policy_pick(const struct policy_candidate *d, size_t n, long avoid, bool least_busy, long draw,
		 int64_t now_ms, long *wait_s, bool *all_cooling);
/* The same filter, then the ask's strategy decides among what is left. Ties go by draw. */
long policy_pick_by(const struct policy_candidate *d, size_t n, const struct policy_pick_ask *a,
		    long *wait_s, bool *all_cooling);

/* ---- order (litellm_params.order) ---- */

/* LiteLLM's _get_order_filtered_deployments (litellm/utils.py) over a group's candidates: of
 * those not cooling at now_ms, the ones whose order is `target` (when has_target and any has
 * it; else all of them, as LiteLLM returns all when no deployment has the target order), or
 * else those with the lowest order any has (a deployment without one is then left out) stay;
 * the others get `excluded`. Returns true and sets *kept when an order was kept. */
bool policy_order_filter(struct policy_candidate *d, size_t n, int64_t now_ms, bool has_target,
			 int64_t target, int64_t *kept);
/* The lowest order above `current` that a deployment of the group has, cooling or not: the
 * next one LiteLLM's order fallback tries (its `_target_order`) after the calls at `current`
 * failed. Returns false when there is none. */
bool policy_next_order(const struct policy_candidate *d, size_t n, int64_t current, int64_t *next);

/* ---- the fallback chain ---- */

/* Whether key k (NULL = the master key or no auth) may use model group `model`. */
bool policy_key_allows(const struct config_key *k, const char *model);

/* What decides the fallback chain of a call. */
struct policy_fallback_ask {
	const char *requested;
	enum policy_eclass err; /* the class of the requested group's failure */
	bool disable_fallbacks;
	char *const *body_fallbacks; /* the request's "fallbacks", or NULL for the config's */
	size_t n_body_fallbacks;
	const struct config_litellm_settings *ls;
	int64_t max_fallbacks;
	const struct config_key *key;
	char *const *groups; /* the model groups that exist */
	size_t n_groups;
};

/* Appends the fallback groups to *chain (xrealloc'd; holds [requested] on entry, *n_chain
 * entries): none for disable_fallbacks, a bad request or a budget refusal; else the class's
 * own list (context window, content policy) or the request's / config's `fallbacks` for the
 * requested group, then `default_fallbacks`; only groups that exist, are not in the chain
 * yet and the key may use; at most max_fallbacks in all. The names are borrowed from ask. */
void policy_fallback_chain(const struct policy_fallback_ask *ask, const char ***chain,
			   size_t *n_chain);

#endif
