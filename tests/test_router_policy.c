/* router policy: each decision table of src/router/policy.c walked case by case: error bodies
 * and statuses to classes, classes to client statuses and cooldown counting, retries per class,
 * retry_policy's newer fields and allowed_fails_policy per class, the retry delay
 * (Retry-After, backoff with jitter, giving up), rpm/tpm windows, cooldowns, deployment picking
 * (cooling, limits, max_parallel_requests, avoid, every LiteLLM strategy, simple-shuffle's
 * shares, the latency ring and its ttl), admission, max_tokens
 * checks and the fallback chain (class lists, request lists, defaults, max_fallbacks, key
 * restrictions, disable_fallbacks), and the requested name through aliases and wildcards.
 */
#include "test.h"
#include "router/policy.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- error classes ---- */

struct classify_case {
	const char *name;
	long status;
	const char *body;
	enum policy_eclass want;
	const char *want_msg;
};

static const struct classify_case classify_cases[] = {
	{"context code wins over status", 400,
	 "{\"error\":{\"message\":\"too long\",\"code\":\"context_length_exceeded\"}}", E_CONTEXT,
	 "too long"},
	{"context window text", 400, "{\"error\":{\"message\":\"exceeds the Context Window\"}}",
	 E_CONTEXT, NULL},
	{"maximum context length text", 500,
	 "{\"error\":{\"message\":\"This model's maximum context length is 8192\"}}", E_CONTEXT,
	 NULL},
	{"content policy code", 400, "{\"error\":{\"code\":\"content_policy_violation\"}}",
	 E_POLICY, "upstream error"},
	{"flagged text", 400, "{\"error\":{\"message\":\"input was flagged\"}}", E_POLICY, NULL},
	{"moderation only on 403", 403, "{\"error\":{\"message\":\"moderation blocked it\"}}",
	 E_POLICY, NULL},
	{"moderation on 400 is a bad request", 400,
	 "{\"error\":{\"message\":\"moderation blocked it\"}}", E_BAD_REQUEST, NULL},
	{"408 timeout", 408, NULL, E_TIMEOUT, "upstream error"},
	{"429 rate limit", 429, "{\"error\":{\"message\":\"slow down\"}}", E_RATE_LIMIT,
	 "slow down"},
	{"409 is a server error", 409, "", E_SERVER, "upstream error"},
	{"503 server error", 503, "<html>down</html>", E_SERVER,
	 "upstream answered a non-JSON error"},
	{"401 auth", 401, "{}", E_AUTH, "upstream error"},
	{"403 auth", 403, "{\"error\":{\"message\":\"forbidden\"}}", E_AUTH, NULL},
	{"402 payment", 402, NULL, E_PAYMENT, NULL},
	{"404 not found", 404, NULL, E_NOT_FOUND, NULL},
	{"other 4xx is a bad request", 422, NULL, E_BAD_REQUEST, NULL},
	{"numeric code in a 200 body stands for the status", 200,
	 "{\"error\":{\"message\":\"busy\",\"code\":429}}", E_RATE_LIMIT, "busy"},
	{"numeric code ignored when the status is an error", 500,
	 "{\"error\":{\"message\":\"x\",\"code\":429}}", E_SERVER, NULL},
};

static void test_classify_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(classify_cases) / sizeof(classify_cases[0]); i++) {
		const struct classify_case *k = &classify_cases[i];
		char *msg = NULL;
		enum policy_eclass got = policy_classify(k->status, k->body, &msg);

		if (got != k->want)
			fail_msg("%s: class %d, want %d", k->name, got, k->want);
		assert_non_null(msg);
		if (k->want_msg && strcmp(msg, k->want_msg) != 0)
			fail_msg("%s: message '%s', want '%s'", k->name, msg, k->want_msg);
		free(msg);
	}
}

static void test_classify_redacts_a_registered_secret_quoted_back(void **state)
{
	char *msg = NULL;

	(void)state;
	log_add_secret("sk-abcdef0123456789abcdef");
	policy_classify(
		401,
		"{\"error\":{\"message\":\"bad Authorization: Bearer sk-abcdef0123456789abcdef\"}}",
		&msg);
	assert_null(strstr(msg, "sk-abcdef0123456789abcdef"));
	assert_non_null(strstr(msg, "[REDACTED]"));
	free(msg);
	log_forget_secrets();
}

/* A Responses API error code (an "error" event's, a failed response's) stands for the status
 * that decides retries and fallbacks: rate limits 429, timeouts 408, requests the model cannot
 * take 400, the rest (server_error, unknown, none) 500. */
static void test_responses_status_table(void **state)
{
	static const struct {
		const char *code;
		long want;
	} cases[] = {
		{"rate_limit_exceeded", 429},
		{"insufficient_quota", 429},
		{"vector_store_timeout", 408},
		{"context_length_exceeded", 400},
		{"invalid_prompt", 400},
		{"invalid_image_url", 400},
		{"image_content_policy_violation", 400},
		{"unsupported_image_media_type", 400},
		{"empty_image_file", 400},
		{"failed_to_download_image", 400},
		{"server_error", 500},
		{"some_new_code", 500},
		{"", 500},
		{NULL, 500},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (policy_responses_status(cases[i].code) != cases[i].want)
			fail_msg("%s: %ld, want %ld", cases[i].code ? cases[i].code : "NULL",
				 policy_responses_status(cases[i].code), cases[i].want);
}

static void test_client_status_table(void **state)
{
	static const struct {
		enum policy_eclass c;
		long upstream, want;
	} cases[] = {
		{E_TIMEOUT, 0, 408},	   {E_RATE_LIMIT, 503, 429}, {E_NO_DEPLOYMENT, 0, 429},
		{E_TRANSPORT, 0, 502},	   {E_MALFORMED, 200, 502},  {E_CONTEXT, 413, 400},
		{E_POLICY, 403, 400},	   {E_BUDGET, 0, 400},	     {E_CANCELLED, 0, 499},
		{E_AUTH, 401, 401},	   {E_SERVER, 503, 503},     {E_SERVER, 0, 500},
		{E_BAD_REQUEST, 422, 422}, {E_POOL_TOO_BIG, 0, 400},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (policy_client_status(cases[i].c, cases[i].upstream) != cases[i].want)
			fail_msg("case %zu: class %d upstream %ld -> %ld, want %ld", i, cases[i].c,
				 cases[i].upstream,
				 policy_client_status(cases[i].c, cases[i].upstream),
				 cases[i].want);
}

static void test_class_names_are_litellm_and_openai_names(void **state)
{
	(void)state;
	assert_string_equal(policy_class_name(E_CONTEXT), "ContextWindowExceededError");
	assert_string_equal(policy_class_name(E_NO_DEPLOYMENT), "RateLimitError");
	assert_string_equal(policy_type_name(E_PAYMENT), "insufficient_quota");
	assert_string_equal(policy_type_name(E_BREAKER), "bleed_breaker_open");
}

static void test_cooldown_counts_server_side_failures_and_some_statuses(void **state)
{
	(void)state;
	assert_true(policy_counts_for_cooldown(E_TIMEOUT, 0));
	assert_true(policy_counts_for_cooldown(E_TRANSPORT, 0));
	assert_true(policy_counts_for_cooldown(E_MALFORMED, 200));
	assert_true(policy_counts_for_cooldown(E_SERVER, 503));
	assert_true(policy_counts_for_cooldown(E_RATE_LIMIT, 429));
	assert_true(policy_counts_for_cooldown(E_AUTH, 401));
	assert_true(policy_counts_for_cooldown(E_NOT_FOUND, 404));
	assert_false(policy_counts_for_cooldown(E_AUTH, 403));
	assert_false(policy_counts_for_cooldown(E_BAD_REQUEST, 400));
	assert_false(policy_counts_for_cooldown(E_CONTEXT, 400));
	assert_false(policy_counts_for_cooldown(E_POLICY, 400));
}

/* ---- retries and backoff ---- */

#define RP_UNSET                                                                                   \
	{                                                                                          \
		.rate_limit = -1, .timeout = -1, .internal_server = -1, .bad_request = -1,         \
		.authentication = -1, .content_policy = -1, .service_unavailable = -1,             \
		.not_found = -1, .default_retries = -1                                             \
	}

static void test_retries_per_class(void **state)
{
	struct config_retry_policy unset = RP_UNSET;
	struct config_retry_policy set = {.rate_limit = 2,
					  .timeout = 3,
					  .internal_server = 4,
					  .bad_request = 1,
					  .authentication = 5,
					  .content_policy = 6,
					  .service_unavailable = -1,
					  .not_found = -1,
					  .default_retries = -1};

	(void)state;
	/* unset: rate limit, timeout and server errors use num_retries; the rest never retry */
	assert_int_equal(policy_retries(&unset, 7, E_RATE_LIMIT, 429), 7);
	assert_int_equal(policy_retries(&unset, 7, E_TIMEOUT, 408), 7);
	assert_int_equal(policy_retries(&unset, 7, E_SERVER, 500), 7);
	assert_int_equal(policy_retries(&unset, 7, E_TRANSPORT, 0), 7);
	assert_int_equal(policy_retries(&unset, 7, E_MALFORMED, 200), 7);
	assert_int_equal(policy_retries(&unset, 7, E_BAD_REQUEST, 400), 0);
	assert_int_equal(policy_retries(&unset, 7, E_CONTEXT, 400), 0);
	assert_int_equal(policy_retries(&unset, 7, E_AUTH, 401), 0);
	assert_int_equal(policy_retries(&unset, 7, E_POLICY, 400), 0);
	assert_int_equal(policy_retries(&unset, 7, E_PAYMENT, 402), 0);
	assert_int_equal(policy_retries(&unset, 7, E_NOT_FOUND, 404), 0);
	/* set: each class takes its own entry */
	assert_int_equal(policy_retries(&set, 7, E_RATE_LIMIT, 429), 2);
	assert_int_equal(policy_retries(&set, 7, E_TIMEOUT, 408), 3);
	assert_int_equal(policy_retries(&set, 7, E_SERVER, 500), 4);
	assert_int_equal(policy_retries(&set, 7, E_SERVER, 503), 4);
	assert_int_equal(policy_retries(&set, 7, E_BAD_REQUEST, 400), 1);
	assert_int_equal(policy_retries(&set, 7, E_CONTEXT, 400), 1);
	assert_int_equal(policy_retries(&set, 7, E_AUTH, 401), 5);
	assert_int_equal(policy_retries(&set, 7, E_POLICY, 400), 6);
	/* 0 in the policy means no retries, not "use num_retries" */
	set.rate_limit = 0;
	assert_int_equal(policy_retries(&set, 7, E_RATE_LIMIT, 429), 0);
}

/* LiteLLM's newer RetryPolicy fields: ServiceUnavailableErrorRetries takes a 503 (other 5xx
 * keep InternalServerErrorRetries), NotFoundErrorRetries a 404, and DefaultRetries every
 * retried class without an entry of its own, before num_retries. */
static void test_retries_service_unavailable_not_found_and_default(void **state)
{
	struct config_retry_policy p = RP_UNSET;

	(void)state;
	p.service_unavailable = 1;
	p.internal_server = 4;
	assert_int_equal(policy_retries(&p, 7, E_SERVER, 503), 1);
	assert_int_equal(policy_retries(&p, 7, E_SERVER, 502), 4);
	p.internal_server = -1;
	assert_int_equal(policy_retries(&p, 7, E_SERVER, 500), 7);
	p.default_retries = 0;
	assert_int_equal(policy_retries(&p, 7, E_SERVER, 500), 0);
	assert_int_equal(policy_retries(&p, 7, E_RATE_LIMIT, 429), 0);
	assert_int_equal(policy_retries(&p, 7, E_TIMEOUT, 408), 0);
	assert_int_equal(policy_retries(&p, 7, E_SERVER, 503), 1);
	/* DefaultRetries does not make a class retried that LiteLLM never retries */
	p.default_retries = 3;
	assert_int_equal(policy_retries(&p, 7, E_AUTH, 401), 0);
	assert_int_equal(policy_retries(&p, 7, E_NOT_FOUND, 404), 0);
	p.not_found = 2;
	assert_int_equal(policy_retries(&p, 7, E_NOT_FOUND, 404), 2);
}

static void test_allowed_fails_per_class(void **state)
{
	struct config_allowed_fails_policy p = {.bad_request = -1,
						.authentication = -1,
						.timeout = -1,
						.rate_limit = -1,
						.content_policy = -1,
						.internal_server = -1,
						.service_unavailable = -1,
						.bad_gateway = -1,
						.not_found = -1};
	static const struct {
		enum policy_eclass c;
		long status;
	} all[] = {{E_BAD_REQUEST, 400}, {E_AUTH, 401},	  {E_TIMEOUT, 408}, {E_RATE_LIMIT, 429},
		   {E_POLICY, 400},	 {E_SERVER, 500}, {E_SERVER, 503},  {E_SERVER, 502},
		   {E_NOT_FOUND, 404},	 {E_TRANSPORT, 0}};

	(void)state;
	/* unset: allowed_fails for every class */
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		assert_int_equal(policy_allowed_fails(&p, 3, all[i].c, all[i].status), 3);
	p.rate_limit = 10000;
	p.authentication = 0;
	p.timeout = 12;
	p.internal_server = 20;
	p.not_found = 1;
	assert_int_equal(policy_allowed_fails(&p, 3, E_RATE_LIMIT, 429), 10000);
	assert_int_equal(policy_allowed_fails(&p, 3, E_AUTH, 403), 0);
	assert_int_equal(policy_allowed_fails(&p, 3, E_TIMEOUT, 408), 12);
	assert_int_equal(policy_allowed_fails(&p, 3, E_SERVER, 500), 20);
	assert_int_equal(policy_allowed_fails(&p, 3, E_TRANSPORT, 0), 20);
	assert_int_equal(policy_allowed_fails(&p, 3, E_NOT_FOUND, 404), 1);
	/* 503 and 502 take InternalServerError's until they have their own */
	assert_int_equal(policy_allowed_fails(&p, 3, E_SERVER, 503), 20);
	assert_int_equal(policy_allowed_fails(&p, 3, E_SERVER, 502), 20);
	p.service_unavailable = 1;
	p.bad_gateway = 2;
	assert_int_equal(policy_allowed_fails(&p, 3, E_SERVER, 503), 1);
	assert_int_equal(policy_allowed_fails(&p, 3, E_SERVER, 502), 2);
	assert_int_equal(policy_allowed_fails(&p, 3, E_SERVER, 504), 20);
	assert_int_equal(policy_allowed_fails(&p, 3, E_BAD_REQUEST, 400), 3);
}

static void test_retry_delay_table(void **state)
{
	static const struct {
		const char *name;
		int64_t attempt, allowed;
		bool cancelled;
		long retry_after_s, draw;
		int64_t min_ms, left_ms, want;
	} cases[] = {
		{"first backoff low end is 75 ms", 0, 3, false, 0, 0, 0, 60000, 75},
		{"first backoff high end is 125 ms", 0, 3, false, 0, 50, 0, 60000, 125},
		{"jitter wraps modulo the range", 0, 3, false, 0, 51, 0, 60000, 75},
		{"second backoff doubles", 1, 3, false, 0, 0, 0, 60000, 150},
		{"backoff caps at 5 s", 9, 10, false, 0, 0, 0, 60000, 3750},
		{"retry-after wins over backoff", 0, 3, false, 7, 50, 0, 60000, 7000},
		{"no retries left gives up", 3, 3, false, 0, 0, 0, 60000, -1},
		{"cancelled gives up", 0, 3, true, 0, 0, 0, 60000, -1},
		{"a delay past the deadline gives up", 0, 3, false, 2, 0, 0, 2000, -1},
		{"a delay just inside the deadline waits", 0, 3, false, 2, 0, 0, 2001, 2000},
		{"retry_after is the backoff's floor", 0, 3, false, 0, 50, 1000, 60000, 1000},
		{"a backoff above the floor stays", 5, 9, false, 0, 0, 1000, 60000, 2400},
		{"an upstream Retry-After is not raised to the floor", 0, 3, false, 1, 0, 5000,
		 60000, 1000},
		{"a floor past the deadline gives up", 0, 3, false, 0, 0, 3000, 2000, -1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = policy_retry_delay_ms(
			cases[i].attempt, cases[i].allowed, cases[i].cancelled,
			cases[i].retry_after_s, cases[i].draw, cases[i].min_ms, cases[i].left_ms);

		if (got != cases[i].want)
			fail_msg("%s: %lld ms, want %lld", cases[i].name, (long long)got,
				 (long long)cases[i].want);
	}
}

/* ---- windows and cooldowns ---- */

static void test_window_counts_the_last_minute_only(void **state)
{
	struct policy_window w;
	int64_t reqs, tokens;

	(void)state;
	memset(&w, 0, sizeof(w));
	policy_window_add(&w, 1000, 1, 0);
	policy_window_add(&w, 1000, 0, 50);
	policy_window_add(&w, 1030, 2, 20);
	policy_window_sum(&w, 1059, &reqs, &tokens);
	assert_int_equal(reqs, 3);
	assert_int_equal(tokens, 70);
	/* second 1000 left the window at 1060 */
	policy_window_sum(&w, 1060, &reqs, &tokens);
	assert_int_equal(reqs, 2);
	assert_int_equal(tokens, 20);
	/* 1090 reuses the slot of 1030 (a minute earlier), which starts again from zero */
	policy_window_add(&w, 1090, 1, 5);
	policy_window_sum(&w, 1090, &reqs, &tokens);
	assert_int_equal(reqs, 1);
	assert_int_equal(tokens, 5);
}

static void test_over_limits_table(void **state)
{
	(void)state;
	assert_false(policy_over_limits(0, 0, 1000, 1000000));
	assert_false(policy_over_limits(10, 0, 9, 1000000));
	assert_true(policy_over_limits(10, 0, 10, 0));
	assert_false(policy_over_limits(0, 100, 1000, 99));
	assert_true(policy_over_limits(0, 100, 0, 100));
	assert_true(policy_over_limits(10, 100, 0, 100));
}

static void test_cooldown_after_more_than_allowed_fails_in_window(void **state)
{
	int64_t ring[4] = {0, 1000, 5000, 9000};

	(void)state;
	/* at 10 s with a 6 s window: 5000 and 9000 are recent, 1000 is not, 0 is empty */
	assert_int_equal(policy_recent_failures(ring, 4, 10000, 6000), 2);
	assert_int_equal(policy_recent_failures(ring, 4, 10000, 60000), 3);
	assert_false(policy_starts_cooldown(2, 2, false));
	assert_true(policy_starts_cooldown(3, 2, false));
	assert_false(policy_starts_cooldown(3, 2, true));
	assert_true(policy_starts_cooldown(1, 0, false));
}

static void test_deployment_state_table(void **state)
{
	(void)state;
	assert_int_equal(policy_deployment_state(0, 0, 5000, 60000), 0);
	assert_int_equal(policy_deployment_state(6000, 4000, 5000, 60000), 2);
	assert_int_equal(policy_deployment_state(5000, 4000, 5000, 60000), 1);
	assert_int_equal(policy_deployment_state(0, 4000, 70000, 60000), 0);
}

/* ---- picking ---- */

/* LiteLLM's simple-shuffle: weight when any deployment of the group has one, else rpm, else
 * tpm, else even; a deployment without the field the group is weighed by gets no share. */
static void test_shares_table(void **state)
{
	static const struct {
		const char *name;
		struct policy_share_in in[3];
		int64_t want[3];
	} cases[] = {
		{"weights win over rpm and tpm",
		 {{5, 100, 1000}, {1, 100, 1000}, {2, 0, 0}},
		 {5, 1, 2}},
		{"a deployment without a weight gets none",
		 {{3, 0, 0}, {0, 600, 0}, {0, 0, 0}},
		 {3, 0, 0}},
		{"rpm when no weight", {{0, 100, 1000}, {0, 300, 0}, {0, 0, 50}}, {100, 300, 0}},
		{"tpm when no weight or rpm",
		 {{0, 0, 1000}, {0, 0, 3000}, {0, 0, 0}},
		 {1000, 3000, 0}},
		{"even when nothing is set", {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}}, {1, 1, 1}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got[3];

		policy_shares(cases[i].in, 3, got);
		for (size_t k = 0; k < 3; k++)
			if (got[k] != cases[i].want[k])
				fail_msg("%s: share %zu = %lld, want %lld", cases[i].name, k,
					 (long long)got[k], (long long)cases[i].want[k]);
	}
}

/* A group whose only usable deployments have no share (the weighted ones are cooling) still
 * answers: the draw picks among what is left. */
static void test_shuffle_without_shares_left_draws_evenly(void **state)
{
	struct policy_candidate d[3] = {
		{.cooldown_until_ms = 9000, .weight = 5}, {.weight = 0}, {.weight = 0}};
	long wait_s;
	bool all_cooling;

	(void)state;
	assert_int_equal(policy_pick(d, 3, -1, false, 0, 1000, &wait_s, &all_cooling), 1);
	assert_int_equal(policy_pick(d, 3, -1, false, 1, 1000, &wait_s, &all_cooling), 2);
}

/* max_parallel_requests: a deployment with as many calls in flight as its cap is skipped by
 * every strategy, like one over its rpm; when all are full nothing is picked (the caller
 * falls back or answers 429), and they are not "cooling". */
static void test_pick_skips_deployments_at_max_parallel(void **state)
{
	struct policy_candidate d[2] = {{.in_flight = 2, .max_parallel = 2, .weight = 1},
					{.in_flight = 5, .max_parallel = 0, .weight = 1}};
	enum policy_strategy all[] = {STRATEGY_SIMPLE_SHUFFLE, STRATEGY_LEAST_BUSY,
				      STRATEGY_LATENCY, STRATEGY_USAGE, STRATEGY_COST};
	long wait_s;
	bool all_cooling;

	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		struct policy_pick_ask a = {.strategy = all[i], .avoid = -1, .now_ms = 1000};

		assert_int_equal(policy_pick_by(d, 2, &a, &wait_s, &all_cooling), 1);
	}
	d[1].max_parallel = 5;
	{
		struct policy_pick_ask a = {.strategy = STRATEGY_LEAST_BUSY, .avoid = -1};

		assert_int_equal(policy_pick_by(d, 2, &a, &wait_s, &all_cooling), -1);
		assert_false(all_cooling);
	}
	d[0].in_flight = 1;
	{
		struct policy_pick_ask a = {.strategy = STRATEGY_LEAST_BUSY, .avoid = -1};

		assert_int_equal(policy_pick_by(d, 2, &a, &wait_s, &all_cooling), 0);
	}
}

/* The latency ring: the mean of what was measured within the ttl, the last `keep` only. */
/* How long a full minute window holds: until its oldest counted second leaves it. */
static void test_window_free_in_s(void **state)
{
	struct policy_window w;

	(void)state;
	memset(&w, 0, sizeof(w));
	assert_int_equal(policy_window_free_in_s(&w, 1000), 1);
	policy_window_add(&w, 990, 1, 0);
	policy_window_add(&w, 995, 0, 40);
	assert_int_equal(policy_window_free_in_s(&w, 1000), 50);
	assert_int_equal(policy_window_free_in_s(&w, 1049), 1);
	/* 990 has left the window at 1050: 995 is the oldest */
	assert_int_equal(policy_window_free_in_s(&w, 1050), 5);
	assert_int_equal(policy_window_free_in_s(&w, 1055), 1);
}

static void test_latency_mean_over_ttl_and_list_size(void **state)
{
	struct policy_latency l;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(policy_latency_mean(&l, 1000, 60000), -1);
	policy_latency_add(&l, 1000, 100, 10);
	policy_latency_add(&l, 2000, 300, 10);
	assert_int_equal(policy_latency_mean(&l, 3000, 60000), 200);
	/* the first is older than the ttl at 61000 */
	assert_int_equal(policy_latency_mean(&l, 61000, 60000), 300);
	assert_int_equal(policy_latency_mean(&l, 62000, 60000), -1);
	/* keep 2: a third value replaces the oldest */
	memset(&l, 0, sizeof(l));
	policy_latency_add(&l, 1000, 100, 2);
	policy_latency_add(&l, 1000, 200, 2);
	policy_latency_add(&l, 1000, 600, 2);
	assert_int_equal(policy_latency_mean(&l, 1000, 60000), 400);
	/* what one call says: a stream's time to first event, else time per output token */
	assert_int_equal(policy_latency_sample(true, 50000, 900000, 100), 50000);
	assert_int_equal(policy_latency_sample(false, 0, 900000, 100), 9000);
	assert_int_equal(policy_latency_sample(false, 0, 900000, 0), 900000);
	assert_int_equal(policy_latency_sample(true, 0, 900000, 10), 90000);
}

static void test_pick_skips_cooling_and_full_deployments(void **state)
{
	struct policy_candidate d[3] = {
		{.cooldown_until_ms = 9000, .weight = 1},
		{.over_limits = true, .weight = 1},
		{.weight = 1},
	};
	long wait_s = 0;
	bool all_cooling = true;

	(void)state;
	assert_int_equal(policy_pick(d, 3, -1, false, 0, 5000, &wait_s, &all_cooling), 2);
	assert_false(all_cooling);
	assert_int_equal(wait_s, 4);
}

static void test_pick_none_usable_says_how_long_to_wait(void **state)
{
	struct policy_candidate cooling[2] = {{.cooldown_until_ms = 7500, .weight = 1},
					      {.cooldown_until_ms = 6001, .weight = 1}};
	struct policy_candidate full[1] = {{.over_limits = true, .weight = 1}};
	long wait_s = 0;
	bool all_cooling = false;

	(void)state;
	assert_int_equal(policy_pick(cooling, 2, -1, false, 0, 5000, &wait_s, &all_cooling), -1);
	assert_true(all_cooling);
	assert_int_equal(wait_s, 2); /* 1001 ms rounds up */
	assert_int_equal(policy_pick(full, 1, -1, false, 0, 5000, &wait_s, &all_cooling), -1);
	assert_false(all_cooling);
	assert_int_equal(wait_s, 1);
}

static void test_pick_avoids_the_failed_one_unless_alone(void **state)
{
	struct policy_candidate d[2] = {{.weight = 1}, {.weight = 1}};
	long wait_s;
	bool all_cooling;
	long draw;

	(void)state;
	for (draw = 0; draw < 4; draw++)
		assert_int_equal(policy_pick(d, 2, 0, false, draw, 0, &wait_s, &all_cooling), 1);
	assert_int_equal(policy_pick(d, 1, 0, false, 0, 0, &wait_s, &all_cooling), 0);
}

static void test_pick_least_busy(void **state)
{
	struct policy_candidate d[3] = {
		{.in_flight = 3, .weight = 100}, {.in_flight = 1, .weight = 1}, {.in_flight = 2}};
	long wait_s;
	bool all_cooling;

	(void)state;
	assert_int_equal(policy_pick(d, 3, -1, true, 0, 0, &wait_s, &all_cooling), 1);
	/* the least busy one just failed: the next least busy */
	assert_int_equal(policy_pick(d, 3, 1, true, 0, 0, &wait_s, &all_cooling), 2);
}

static void test_pick_by_weight_follows_the_draw(void **state)
{
	struct policy_candidate d[3] = {{.weight = 1}, {.weight = 3}, {.weight = 6}};
	static const struct {
		long draw, want;
	} cases[] = {{0, 0}, {1, 1}, {3, 1}, {4, 2}, {9, 2}, {10, 0}, {14, 2}};
	long wait_s;
	bool all_cooling;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (policy_pick(d, 3, -1, false, cases[i].draw, 0, &wait_s, &all_cooling) !=
		    cases[i].want)
			fail_msg("draw %ld: want %ld", cases[i].draw, cases[i].want);
}

/* LiteLLM's strategies, each over the same three deployments (index: latency ms, tokens and
 * requests used this minute of tpm/rpm, cost per token, calls in flight). */
#define L(lat_, tu_, tpm_, ru_, rpm_, cost_, busy_)                                                \
	{                                                                                          \
		.latency_ms = (lat_), .tpm_used = (tu_), .tpm = (tpm_), .rpm_used = (ru_),         \
		.rpm = (rpm_), .cost = (cost_), .in_flight = (busy_), .weight = 1                  \
	}

struct strategy_case {
	const char *name;
	struct policy_candidate d[3];
	enum policy_strategy strategy;
	double buffer;
	int64_t tokens;
	long avoid;
	long want[4]; /* for draws 0, 1, 2, 3 */
};

static const struct strategy_case strategy_cases[] = {
	{"latency: the fastest",
	 {L(300, 0, 0, 0, 0, -1, 0), L(120, 0, 0, 0, 0, -1, 0), L(500, 0, 0, 0, 0, -1, 0)},
	 STRATEGY_LATENCY,
	 0,
	 0,
	 -1,
	 {1, 1, 1, 1}},
	{"latency: an unmeasured deployment is tried first",
	 {L(300, 0, 0, 0, 0, -1, 0), L(120, 0, 0, 0, 0, -1, 0), L(-1, 0, 0, 0, 0, -1, 0)},
	 STRATEGY_LATENCY,
	 0,
	 0,
	 -1,
	 {2, 2, 2, 2}},
	{"latency: within the buffer, at random",
	 {L(110, 0, 0, 0, 0, -1, 0), L(100, 0, 0, 0, 0, -1, 0), L(200, 0, 0, 0, 0, -1, 0)},
	 STRATEGY_LATENCY,
	 0.1,
	 0,
	 -1,
	 {0, 1, 0, 1}},
	{"latency: the fastest just failed",
	 {L(300, 0, 0, 0, 0, -1, 0), L(120, 0, 0, 0, 0, -1, 0), L(500, 0, 0, 0, 0, -1, 0)},
	 STRATEGY_LATENCY,
	 0,
	 0,
	 1,
	 {0, 0, 0, 0}},
	{"usage: the least used this minute",
	 {L(0, 500, 1000, 0, 0, -1, 0), L(0, 100, 1000, 0, 0, -1, 0), L(0, 300, 1000, 0, 0, -1, 0)},
	 STRATEGY_USAGE,
	 0,
	 200,
	 -1,
	 {1, 1, 1, 1}},
	{"usage: only where the call fits its tpm",
	 {L(0, 500, 1000, 0, 0, -1, 0), L(0, 100, 300, 0, 0, -1, 0), L(0, 300, 1000, 0, 0, -1, 0)},
	 STRATEGY_USAGE,
	 0,
	 250,
	 -1,
	 {2, 2, 2, 2}},
	{"usage: rpm full counts as full",
	 {L(0, 500, 1000, 0, 0, -1, 0), L(0, 100, 1000, 5, 5, -1, 0), L(0, 300, 1000, 0, 0, -1, 0)},
	 STRATEGY_USAGE,
	 0,
	 10,
	 -1,
	 {2, 2, 2, 2}},
	{"usage: nowhere fits",
	 {L(0, 900, 1000, 0, 0, -1, 0), L(0, 100, 300, 0, 0, -1, 0), L(0, 950, 1000, 0, 0, -1, 0)},
	 STRATEGY_USAGE,
	 0,
	 250,
	 -1,
	 {-1, -1, -1, -1}},
	{"usage: ties at random",
	 {L(0, 0, 0, 0, 0, -1, 0), L(0, 0, 0, 0, 0, -1, 0), L(0, 0, 0, 0, 0, -1, 0)},
	 STRATEGY_USAGE,
	 0,
	 10,
	 -1,
	 {0, 1, 2, 0}},
	{"cost: the cheapest",
	 {L(0, 0, 0, 0, 0, 3e-6, 0), L(0, 0, 0, 0, 0, 1e-6, 0), L(0, 0, 0, 0, 0, 2e-6, 0)},
	 STRATEGY_COST,
	 0,
	 0,
	 -1,
	 {1, 1, 1, 1}},
	{"cost: an unknown price comes last",
	 {L(0, 0, 0, 0, 0, -1, 0), L(0, 0, 0, 0, 0, 5e-6, 0), L(0, 0, 0, 0, 0, -1, 0)},
	 STRATEGY_COST,
	 0,
	 0,
	 -1,
	 {1, 1, 1, 1}},
	{"cost: free beats paid",
	 {L(0, 0, 0, 0, 0, 1e-6, 0), L(0, 0, 0, 0, 0, 0, 0), L(0, 0, 0, 0, 0, -1, 0)},
	 STRATEGY_COST,
	 0,
	 0,
	 -1,
	 {1, 1, 1, 1}},
	{"least busy",
	 {L(0, 0, 0, 0, 0, -1, 4), L(0, 0, 0, 0, 0, -1, 2), L(0, 0, 0, 0, 0, -1, 3)},
	 STRATEGY_LEAST_BUSY,
	 0,
	 0,
	 -1,
	 {1, 1, 1, 1}},
	{"simple shuffle: by weight and draw",
	 {L(0, 0, 0, 0, 0, -1, 0), L(0, 0, 0, 0, 0, -1, 0), L(0, 0, 0, 0, 0, -1, 0)},
	 STRATEGY_SIMPLE_SHUFFLE,
	 0,
	 0,
	 -1,
	 {0, 1, 2, 0}},
};

static void test_each_routing_strategy_picks_as_litellm_documents(void **state)
{
	for (size_t i = 0; i < sizeof(strategy_cases) / sizeof(strategy_cases[0]); i++) {
		const struct strategy_case *c = &strategy_cases[i];

		for (long draw = 0; draw < 4; draw++) {
			struct policy_pick_ask a = {.strategy = c->strategy,
						    .latency_buffer = c->buffer,
						    .tokens = c->tokens,
						    .avoid = c->avoid,
						    .draw = draw,
						    .now_ms = 1000};
			long wait_s, got;
			bool all_cooling;

			got = policy_pick_by(c->d, 3, &a, &wait_s, &all_cooling);
			if (got != c->want[draw])
				fail_msg("%s: draw %ld picked %ld, want %ld", c->name, draw, got,
					 c->want[draw]);
		}
	}
}

static void test_a_strategy_never_picks_a_cooling_deployment(void **state)
{
	struct policy_candidate d[2] = {L(10, 0, 0, 0, 0, 0, 0), L(900, 0, 0, 0, 0, 9, 9)};
	enum policy_strategy all[] = {STRATEGY_SIMPLE_SHUFFLE, STRATEGY_LEAST_BUSY,
				      STRATEGY_LATENCY, STRATEGY_USAGE, STRATEGY_COST};
	long wait_s;
	bool all_cooling;

	d[0].cooldown_until_ms = 5000;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		struct policy_pick_ask a = {
			.strategy = all[i], .tokens = 1, .avoid = -1, .now_ms = 1000};

		assert_int_equal(policy_pick_by(d, 2, &a, &wait_s, &all_cooling), 1);
		assert_false(all_cooling);
	}
}

/* ---- admission and max_tokens ---- */

static char *groups[] = {"gpt", "claude", "local"};
static char *only_gpt_models[] = {"gpt"};
static const struct config_key only_gpt = {.key = "sk-1", .models = only_gpt_models, .n_models = 1};

static void test_admit_table(void **state)
{
	char *bad_fb[] = {"nope"};
	char *good_fb[] = {"claude"};
	char msg[512];

	(void)state;
	assert_int_equal(policy_admit("gpt", NULL, 0, NULL, groups, 3, msg, sizeof(msg)), E_NONE);
	assert_int_equal(policy_admit("x", NULL, 0, NULL, groups, 3, msg, sizeof(msg)),
			 E_BAD_REQUEST);
	assert_non_null(strstr(msg, "model=x"));
	assert_int_equal(policy_admit("gpt", bad_fb, 1, NULL, groups, 3, msg, sizeof(msg)),
			 E_BAD_REQUEST);
	assert_non_null(strstr(msg, "fallbacks=nope"));
	assert_int_equal(policy_admit("gpt", good_fb, 1, &only_gpt, groups, 3, msg, sizeof(msg)),
			 E_NONE);
	assert_int_equal(policy_admit("claude", NULL, 0, &only_gpt, groups, 3, msg, sizeof(msg)),
			 E_AUTH);
	assert_non_null(strstr(msg, "models=gpt"));
}

static void test_max_tokens_refusal_table(void **state)
{
	char msg[160];

	(void)state;
	assert_null(policy_max_tokens_refusal("max_tokens", NULL, 1, msg, sizeof(msg)));
	assert_null(policy_max_tokens_refusal("max_tokens", NULL, 1e6, msg, sizeof(msg)));
	assert_string_equal(policy_max_tokens_refusal("max_tokens", NULL, 0, msg, sizeof(msg)),
			    "integer_below_min_value");
	assert_string_equal(msg, "Invalid 'max_tokens': integer below minimum value. Expected a"
				 " value >= 1, but got 0 instead.");
	assert_string_equal(
		policy_max_tokens_refusal("max_completion_tokens", NULL, 2.5, msg, sizeof(msg)),
		"invalid_type");
	assert_string_equal(msg, "Invalid type for 'max_completion_tokens': expected an integer,"
				 " but got a decimal number instead.");
	assert_string_equal(
		policy_max_tokens_refusal("max_tokens", "a string", 0, msg, sizeof(msg)),
		"invalid_type");
	assert_non_null(strstr(msg, "but got a string instead"));
}

static void test_max_tokens_ceiling_and_output_bound(void **state)
{
	struct config_model_limit lim[] = {{"gpt", 100}, {"local", 0}};
	struct config_guardrails g = {
		.max_tokens_default = 2000, .max_tokens = lim, .n_max_tokens = 2};

	(void)state;
	assert_int_equal(policy_max_tokens_ceiling(&g, "gpt"), 100);
	assert_int_equal(policy_max_tokens_ceiling(&g, "local"), 0);
	assert_int_equal(policy_max_tokens_ceiling(&g, "claude"), 2000);
	assert_int_equal(policy_output_bound(500, 0, 4096), 500);
	assert_int_equal(policy_output_bound(500, 200, 4096), 200);
	assert_int_equal(policy_output_bound(0, 200, 4096), 200);
	assert_int_equal(policy_output_bound(0, 0, 4096), 4096);
	assert_int_equal(policy_output_bound(0.5, 0, 4096), 4096);
	assert_int_equal(policy_output_bound(5e12, 0, 4096), 1000000000);
}

static void test_estimate_tokens_rounds_output_up(void **state)
{
	int64_t p, c;

	(void)state;
	policy_estimate_tokens(403, 5, &p, &c);
	assert_int_equal(p, 100);
	assert_int_equal(c, 2);
	policy_estimate_tokens(0, 0, &p, &c);
	assert_int_equal(p, 0);
	assert_int_equal(c, 0);
}

/* ---- the fallback chain ---- */

static char *to_claude[] = {"claude"};
static char *to_local[] = {"local"};
static char *to_both[] = {"claude", "local", "gpt", "missing"};
static struct config_fallback fb[] = {{"gpt", to_both, 4}};
static struct config_fallback ctx_fb[] = {{"gpt", to_local, 1}};
static struct config_fallback pol_fb[] = {{"gpt", to_claude, 1}};

static struct config_litellm_settings settings(void)
{
	struct config_litellm_settings ls = {0};

	ls.fallbacks = fb;
	ls.n_fallbacks = 1;
	ls.context_window_fallbacks = ctx_fb;
	ls.n_context_window_fallbacks = 1;
	ls.content_policy_fallbacks = pol_fb;
	ls.n_content_policy_fallbacks = 1;
	ls.default_fallbacks = to_local;
	ls.n_default_fallbacks = 1;
	return ls;
}

/* The chain as "a,b,c" for one ask, starting from [requested]. */
static void chain_of(const struct policy_fallback_ask *a, char *out, size_t len)
{
	const char **chain = calloc(1, sizeof(char *));
	size_t n = 1, i;

	chain[0] = a->requested;
	policy_fallback_chain(a, &chain, &n);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		strncat(out, chain[i], len - strlen(out) - 1);
		if (i + 1 < n)
			strncat(out, ",", len - strlen(out) - 1);
	}
	free(chain);
}

static void test_fallback_chain_table(void **state)
{
	struct config_litellm_settings ls = settings();
	struct config_litellm_settings no_class_lists = settings();
	char *body_fb[] = {"local", "claude"};
	static const struct {
		const char *name;
		enum policy_eclass err;
		bool disable, body, key_only_gpt, plain;
		int64_t max;
		const char *want;
	} cases[] = {
		{"server error takes fallbacks, no duplicates, missing groups dropped", E_SERVER,
		 false, false, false, false, 5, "gpt,claude,local"},
		{"max_fallbacks cuts the chain", E_SERVER, false, false, false, false, 1,
		 "gpt,claude"},
		{"max_fallbacks 0 means none", E_RATE_LIMIT, false, false, false, false, 0, "gpt"},
		{"context window error takes its own list", E_CONTEXT, false, false, false, false,
		 5, "gpt,local"},
		{"content policy error takes its own list, then the defaults", E_POLICY, false,
		 false, false, false, 5, "gpt,claude,local"},
		{"context error without its list takes fallbacks", E_CONTEXT, false, false, false,
		 true, 5, "gpt,claude,local"},
		{"request fallbacks replace the config's", E_SERVER, false, true, false, false, 5,
		 "gpt,local,claude"},
		{"disable_fallbacks: none", E_SERVER, true, false, false, false, 5, "gpt"},
		{"bad request: none", E_BAD_REQUEST, false, false, false, false, 5, "gpt"},
		{"budget: none", E_BUDGET, false, false, false, false, 5, "gpt"},
		{"a key limited to gpt never falls back elsewhere", E_SERVER, false, false, true,
		 false, 5, "gpt"},
	};
	char got[256];
	size_t i;

	(void)state;
	no_class_lists.n_context_window_fallbacks = 0;
	no_class_lists.n_content_policy_fallbacks = 0;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct policy_fallback_ask a = {
			.requested = "gpt",
			.err = cases[i].err,
			.disable_fallbacks = cases[i].disable,
			.body_fallbacks = cases[i].body ? body_fb : NULL,
			.n_body_fallbacks = cases[i].body ? 2 : 0,
			.ls = cases[i].plain ? &no_class_lists : &ls,
			.max_fallbacks = cases[i].max,
			.key = cases[i].key_only_gpt ? &only_gpt : NULL,
			.groups = groups,
			.n_groups = 3,
		};

		chain_of(&a, got, sizeof(got));
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s: chain %s, want %s", cases[i].name, got, cases[i].want);
	}
}

static void test_key_allows_table(void **state)
{
	struct config_key all = {.key = "sk-2"};

	(void)state;
	assert_true(policy_key_allows(NULL, "claude"));
	assert_true(policy_key_allows(&all, "claude"));
	assert_true(policy_key_allows(&only_gpt, "gpt"));
	assert_false(policy_key_allows(&only_gpt, "claude"));
}

/* ---- the requested name: aliases and wildcards ---- */

static char *route_groups[] = {"gpt-4o",  "strong", "*", "anthropic/*", "anthropic/claude-*",
			       "claude-*"};

static const struct config_alias route_aliases[] = {
	{"gpt-4", "strong", false},
	{"old-name", "gpt-4o", true},
	{"gpt-4o", "strong", false}, /* an alias shadows a group of its name, as in LiteLLM */
};

struct route_case {
	const char *name;
	const char *requested;
	const char *group; /* NULL = no route */
	bool alias, wildcard;
};

static const struct route_case route_cases[] = {
	{"an alias answers as its group", "gpt-4", "strong", true, false},
	{"a hidden alias is callable too", "old-name", "gpt-4o", true, false},
	{"an alias is looked up before a group of the same name", "gpt-4o", "strong", true, false},
	{"an exact group", "strong", "strong", false, false},
	{"an exact wildcard name is its own group", "anthropic/*", "anthropic/*", false, false},
	{"the longest literal part wins", "anthropic/claude-x", "anthropic/claude-*", false, true},
	{"a provider wildcard", "anthropic/opus", "anthropic/*", false, true},
	{"a name wildcard", "claude-haiku", "claude-*", false, true},
	{"the catch-all takes the rest", "mistral-large", "*", false, true},
	{"an empty match is no match", "anthropic/", "*", false, true},
};

static void test_resolve_model_table(void **state)
{
	struct policy_route rt;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(route_cases); i++) {
		const struct route_case *t = &route_cases[i];
		bool ok = policy_resolve_model(t->requested, route_groups, ARRAY_LEN(route_groups),
					       route_aliases, ARRAY_LEN(route_aliases), &rt);

		if (!ok || strcmp(rt.group, t->group) != 0 || rt.alias != t->alias ||
		    rt.wildcard != t->wildcard)
			fail_msg("%s: got %s", t->name, ok ? rt.group : "(none)");
	}
	/* without a catch-all, an unknown name has no route */
	assert_false(policy_resolve_model("mistral-large", route_groups, 2, NULL, 0, &rt));
	assert_false(policy_resolve_model("gpt-4", route_groups, 2, NULL, 0, &rt));
}

struct wild_case {
	const char *pattern, *upstream, *requested;
	const char *want; /* NULL = the configured id is sent */
};

static const struct wild_case wild_cases[] = {
	{"anthropic/*", "*", "anthropic/claude-x", "claude-x"},
	{"*", "*", "gpt-4o", "gpt-4o"},
	{"*", "*", "anthropic/claude-x", "anthropic/claude-x"},
	{"openai/*", "*", "openai/gpt-4.1-mini", "gpt-4.1-mini"},
	{"claude-*", "claude-*", "claude-haiku", "claude-haiku"},
	{"*-fast", "llama-*", "qwen-fast", "llama-qwen"},
	{"claude-*", "qwen3:27b", "claude-haiku", NULL},
	{"anthropic/*", "*", "openai/gpt-4o", NULL},
	{"anthropic/*", "*", "anthropic/", NULL},
};

static void test_wildcard_upstream_table(void **state)
{
	size_t i, off, len;
	char *got;

	(void)state;
	for (i = 0; i < ARRAY_LEN(wild_cases); i++) {
		const struct wild_case *t = &wild_cases[i];

		got = policy_wildcard_upstream(t->pattern, t->upstream, t->requested);
		if (t->want ? !got || strcmp(got, t->want) != 0 : got != NULL)
			fail_msg("%s + %s for %s: got %s", t->pattern, t->upstream, t->requested,
				 got ? got : "(null)");
		free(got);
	}
	assert_true(policy_wildcard_match("a*c", "abbc", &off, &len));
	assert_int_equal(off, 1);
	assert_int_equal(len, 2);
	assert_false(policy_wildcard_match("a*c", "ac", &off, &len));
	assert_false(policy_wildcard_match("a*b*", "axbx", &off, &len)); /* one '*' only */
	assert_false(policy_wildcard_match("plain", "plain", &off, &len));
}

/* litellm_params.order, from LiteLLM's tests of _get_order_filtered_deployments
 * (TestGetOrderFilteredDeployments) and its order fallbacks: the lowest order among the
 * deployments not cooling down; a target order when one has it, else all; the next order. */
#define NO CONFIG_ORDER_UNSET
static void test_order_filter_table(void **state)
{
	static const struct {
		int64_t order[4];
		int64_t cool_until[4];
		bool has_target;
		int64_t target;
		bool kept;
		int64_t want_kept;
		bool excluded[4];
	} t[] = {
		/* test_returns_min_order_group: 1, 2, 1 -> the two of order 1 */
		{{1, 2, 1, NO}, {0}, false, 0, true, 1, {false, true, false, true}},
		/* test_target_order_filters_to_exact_level */
		{{1, 2, 3, NO}, {0}, true, 2, true, 2, {true, false, true, true}},
		/* test_target_order_no_match_returns_all */
		{{1, 2, NO, NO}, {0}, true, 5, false, 0, {false}},
		/* no order anywhere: all stay */
		{{NO, NO, NO, NO}, {0}, false, 0, false, 0, {false}},
		/* one without an order is not among the lowest order's */
		{{NO, 2, NO, NO}, {0}, false, 0, true, 2, {true, false, true, true}},
		/* order 1 cooling down: order 2 is the lowest among the healthy */
		{{1, 2, 2, NO}, {5000, 0, 0, 0}, false, 0, true, 2, {false, false, false, true}},
		/* orders may be 0 or negative, as LiteLLM's ints */
		{{0, -3, 7, NO}, {0}, false, 0, true, -3, {true, false, true, true}},
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < ARRAY_LEN(t); i++) {
		struct policy_candidate d[4] = {{0}};
		int64_t kept = 99;
		bool got;

		for (j = 0; j < 4; j++) {
			d[j].order = t[i].order[j];
			d[j].cooldown_until_ms = t[i].cool_until[j];
			d[j].excluded = true; /* the filter sets every one */
		}
		got = policy_order_filter(d, 4, 1000, t[i].has_target, t[i].target, &kept);
		assert_int_equal(got, t[i].kept);
		if (got)
			assert_int_equal(kept, t[i].want_kept);
		for (j = 0; j < 4; j++)
			if (d[j].excluded != t[i].excluded[j])
				fail_msg("row %zu: deployment %zu excluded %d, want %d", i, j,
					 d[j].excluded, t[i].excluded[j]);
	}
}

static void test_order_next_table(void **state)
{
	static const struct {
		int64_t order[4];
		int64_t current;
		bool found;
		int64_t want;
	} t[] = {
		{{1, 2, 3, NO}, 1, true, 2},  {{1, 3, 2, NO}, 2, true, 3},
		{{1, 2, 3, NO}, 3, false, 0}, {{NO, NO, NO, NO}, 1, false, 0},
		{{5, 1, 5, 9}, 1, true, 5},   {{-2, 0, NO, NO}, -2, true, 0},
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < ARRAY_LEN(t); i++) {
		struct policy_candidate d[4] = {{0}};
		int64_t next = 0;

		for (j = 0; j < 4; j++)
			d[j].order = t[i].order[j];
		assert_int_equal(policy_next_order(d, 4, t[i].current, &next), t[i].found);
		if (t[i].found)
			assert_int_equal(next, t[i].want);
	}
}

/* An excluded deployment is never picked, and does not count as cooling. */
static void test_pick_skips_excluded(void **state)
{
	struct policy_candidate d[2] = {{.excluded = true, .weight = 100}, {.weight = 1}};
	struct policy_pick_ask a = {.strategy = STRATEGY_SIMPLE_SHUFFLE, .avoid = -1, .now_ms = 1};
	long wait_s;
	bool all_cooling;

	(void)state;
	for (a.draw = 0; a.draw < 50; a.draw++)
		assert_int_equal(policy_pick_by(d, 2, &a, &wait_s, &all_cooling), 1);
	d[1].excluded = true;
	assert_int_equal(policy_pick_by(d, 2, &a, &wait_s, &all_cooling), -1);
	assert_false(all_cooling);
}
#undef NO

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_table),
		cmocka_unit_test(test_classify_redacts_a_registered_secret_quoted_back),
		cmocka_unit_test(test_client_status_table),
		cmocka_unit_test(test_class_names_are_litellm_and_openai_names),
		cmocka_unit_test(test_cooldown_counts_server_side_failures_and_some_statuses),
		cmocka_unit_test(test_retries_per_class),
		cmocka_unit_test(test_retries_service_unavailable_not_found_and_default),
		cmocka_unit_test(test_allowed_fails_per_class),
		cmocka_unit_test(test_retry_delay_table),
		cmocka_unit_test(test_window_counts_the_last_minute_only),
		cmocka_unit_test(test_over_limits_table),
		cmocka_unit_test(test_cooldown_after_more_than_allowed_fails_in_window),
		cmocka_unit_test(test_deployment_state_table),
		cmocka_unit_test(test_shares_table),
		cmocka_unit_test(test_shuffle_without_shares_left_draws_evenly),
		cmocka_unit_test(test_pick_skips_deployments_at_max_parallel),
		cmocka_unit_test(test_latency_mean_over_ttl_and_list_size),
		cmocka_unit_test(test_window_free_in_s),
		cmocka_unit_test(test_pick_skips_cooling_and_full_deployments),
		cmocka_unit_test(test_pick_none_usable_says_how_long_to_wait),
		cmocka_unit_test(test_pick_avoids_the_failed_one_unless_alone),
		cmocka_unit_test(test_pick_least_busy),
		cmocka_unit_test(test_pick_by_weight_follows_the_draw),
		cmocka_unit_test(test_each_routing_strategy_picks_as_litellm_documents),
		cmocka_unit_test(test_a_strategy_never_picks_a_cooling_deployment),
		cmocka_unit_test(test_admit_table),
		cmocka_unit_test(test_max_tokens_refusal_table),
		cmocka_unit_test(test_responses_status_table),
		cmocka_unit_test(test_max_tokens_ceiling_and_output_bound),
		cmocka_unit_test(test_estimate_tokens_rounds_output_up),
		cmocka_unit_test(test_fallback_chain_table),
		cmocka_unit_test(test_key_allows_table),
		cmocka_unit_test(test_resolve_model_table),
		cmocka_unit_test(test_wildcard_upstream_table),
		cmocka_unit_test(test_order_filter_table),
		cmocka_unit_test(test_order_next_table),
		cmocka_unit_test(test_pick_skips_excluded),
	};

	log_set_stderr(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
