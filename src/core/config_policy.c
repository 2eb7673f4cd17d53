/* config_policy: the option tables of LiteLLM's per-error-class router policies and
 * strategy arguments (router_settings.retry_policy and litellm_settings.retry_policy,
 * router_settings.allowed_fails_policy, router_settings.routing_strategy_args), data only, as
 * config_table.c is; apart from it because they are many aliases of a few fields. Each
 * policy takes LiteLLM's field names (`RateLimitErrorRetries`) and the bare exception names
 * configs write instead (`RateLimitError`, `Timeout`) into the same field. router/policy.c
 * decides what the values mean.
 */
#include "core/config_int.h"
#include "core/util.h"

#include <stddef.h>
#include <stdint.h>

#define FLD(s, f) .off = offsetof(struct s, f)
#define OPTS(v)	  .opts = v, .n_opts = ARRAY_LEN(v)

/* LiteLLM's RetryPolicy fields, then the bare exception names some configs write instead
 * (`RateLimitError: 3`, `Timeout: 2`), read as the same field. */
#define RETRY(name, field, text_)                                                                  \
	{                                                                                          \
		name, T_INT, FLD(config_retry_policy, field), .def = "-1", .min = 0, .max = 10,    \
							      .text = text_                        \
	}
#define RETRY_ALIAS(name, field, key)                                                              \
	{name,	   T_INT,     FLD(config_retry_policy, field),                                     \
	 .min = 0, .max = 10, .text = "same as " key "Retries"},

/* LiteLLM's bare exception names, read as the policy field of the class they name:
 * X(name, field, class) for the alias `name` of the field `class` + "Retries" (or
 * "AllowedFails"). Both policies list them in this order. */
#define BARE_NAMES(X)                                                                              \
	X("RateLimitError", rate_limit, "RateLimitError")                                          \
	X("Timeout", timeout, "TimeoutError")                                                      \
	X("TimeoutError", timeout, "TimeoutError")                                                 \
	X("InternalServerError", internal_server, "InternalServerError")                           \
	X("ServiceUnavailableError", service_unavailable, "ServiceUnavailableError")               \
	X("BadRequestError", bad_request, "BadRequestError")                                       \
	X("AuthenticationError", authentication, "AuthenticationError")                            \
	X("ContentPolicyViolationError", content_policy, "ContentPolicyViolationError")            \
	X("NotFoundError", not_found, "NotFoundError")

static const struct opt retry_policy_opts[] = {
	RETRY("RateLimitErrorRetries", rate_limit,
	      "retries after 429; default DefaultRetries, else num_retries"),
	RETRY("TimeoutErrorRetries", timeout,
	      "retries after a timeout or 408; default DefaultRetries, else num_retries"),
	RETRY("InternalServerErrorRetries", internal_server,
	      "retries after 5xx and broken answers; default DefaultRetries, else num_retries"),
	RETRY("ServiceUnavailableErrorRetries", service_unavailable,
	      "retries after 503; default InternalServerErrorRetries"),
	RETRY("BadRequestErrorRetries", bad_request, "retries after 400; default 0"),
	RETRY("AuthenticationErrorRetries", authentication, "retries after 401/403; default 0"),
	RETRY("ContentPolicyViolationErrorRetries", content_policy,
	      "retries after a content-policy refusal; default 0"),
	RETRY("NotFoundErrorRetries", not_found, "retries after 404; default 0"),
	RETRY("DefaultRetries", default_retries,
	      "retries of the retried classes without a field of their own; default num_retries"),
	BARE_NAMES(RETRY_ALIAS)};

#define FAILS(name, field, text_)                                                                  \
	{                                                                                          \
		name, T_INT, FLD(config_allowed_fails_policy, field),                              \
			.def = "-1", .min = 0, .max = 1000000000, .text = text_                    \
	}
#define FAILS_ALIAS(name, field, key)                                                              \
	{name,                                                                                     \
	 T_INT,                                                                                    \
	 FLD(config_allowed_fails_policy, field),                                                  \
	 .min = 0,                                                                                 \
	 .max = 1000000000,                                                                        \
	 .text = "same as " key "AllowedFails"},
static const struct opt allowed_fails_policy_opts[] = {
	FAILS("BadRequestErrorAllowedFails", bad_request, "400s (they never cool a deployment)"),
	FAILS("AuthenticationErrorAllowedFails", authentication, "401/403"),
	FAILS("TimeoutErrorAllowedFails", timeout, "timeouts and 408"),
	FAILS("RateLimitErrorAllowedFails", rate_limit, "429"),
	FAILS("ContentPolicyViolationErrorAllowedFails", content_policy,
	      "content-policy refusals (they never cool a deployment)"),
	FAILS("InternalServerErrorAllowedFails", internal_server,
	      "5xx, broken answers and connection errors"),
	FAILS("ServiceUnavailableErrorAllowedFails", service_unavailable,
	      "503; default InternalServerErrorAllowedFails"),
	FAILS("BadGatewayErrorAllowedFails", bad_gateway,
	      "502; default InternalServerErrorAllowedFails"),
	FAILS("NotFoundErrorAllowedFails", not_found, "404"),
	BARE_NAMES(FAILS_ALIAS) FAILS_ALIAS("BadGatewayError", bad_gateway, "BadGatewayError")};

const struct table cfg_allowed_fails_policy_table = {
	"allowed_fails_policy", "router_settings.allowed_fails_policy",
	OPTS(allowed_fails_policy_opts), .litellm = true,
	.text = "Failures within cooldown_time before a deployment cools down, by the class of "
		"the failure that would start it; unset classes use allowed_fails. Past 1000 a "
		"class never starts a cooldown. The bare exception names (`RateLimitError`) are "
		"read as the `...AllowedFails` field."};

static const struct opt routing_args_opts[] = {
	{"ttl", T_INT, FLD(config_routing_args, ttl_s), .def = "3600", .min = 1, .max = 86400 * 7,
	 .text = "latency-based-routing: seconds a measured latency counts"},
	{"lowest_latency_buffer", T_NUM, FLD(config_routing_args, lowest_latency_buffer),
	 .def = "0", .min = 0, .max = 100,
	 .text = "latency-based-routing: pick at random among deployments within (1 + buffer) "
		 "x the lowest latency"},
	{"max_latency_list_size", T_INT, FLD(config_routing_args, max_latency_list_size),
	 .def = "10", .min = 1, .max = 10,
	 .text = "latency-based-routing: latencies kept per deployment (at most 10)"},
};

const struct table cfg_routing_args_table = {
	"routing_strategy_args", "router_settings.routing_strategy_args", OPTS(routing_args_opts),
	.litellm = true, .text = "The arguments of latency-based-routing, as in LiteLLM."};

const struct table cfg_retry_policy_table = {
	"retry_policy",
	"router_settings.retry_policy",
	OPTS(retry_policy_opts),
	.litellm = true,
	.prepare = cfg_shapes_retry_policy,
	.text = "Retries per error class; unset classes use num_retries (the retryable ones) or 0. "
		"`litellm_settings.retry_policy` takes the same keys; router_settings' wins."};

const struct table cfg_litellm_retry_policy_table = {
	"retry_policy",
	"litellm_settings.retry_policy",
	OPTS(retry_policy_opts),
	.litellm = true,
	.prepare = cfg_shapes_retry_policy,
	.text = "The same keys as `router_settings.retry_policy`, which wins when both are set."};
