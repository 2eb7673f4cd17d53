/* router_metrics: the router's Prometheus series, named and labelled as LiteLLM's proxy
 * names them so existing dashboards work unchanged. Only the registration lives here: the
 * router updates the series where things happen. Rejected: registering lazily on first use
 * (a scrape before the first call would miss the HELP lines). */
#include "router/router_metrics.h"
#include "core/util.h"

void router_metrics_register(struct router_metrics *rm, struct metrics *m)
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
	static const char *const pool_st[] = {"pool", "state", NULL};
	static const char *const pool_cl[] = {"pool", "class", NULL};
	static const double wait_b[] = {0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800};
	const double *b = metrics_latency_buckets;
	size_t nb = metrics_n_latency_buckets;

	rm->total = metrics_add(m, METRIC_COUNTER, "litellm_proxy_total_requests_metric_total",
				"Requests to the router, by requested model and status", total_l);
	rm->failed = metrics_add(m, METRIC_COUNTER, "litellm_proxy_failed_requests_metric_total",
				 "Failed requests, by exception", failed_l);
	rm->requests = metrics_add(m, METRIC_COUNTER, "litellm_requests_metric_total",
				   "Successful upstream calls, by provider model", model_l);
	rm->spend = metrics_add(m, METRIC_COUNTER, "litellm_spend_metric_total",
				"Spend in USD, by provider model", model_l);
	rm->tokens = metrics_add(m, METRIC_COUNTER, "litellm_total_tokens_metric_total",
				 "Input plus output tokens", tok_l);
	rm->in_tokens = metrics_add(m, METRIC_COUNTER, "litellm_input_tokens_metric_total",
				    "Input (prompt) tokens", tok_l);
	rm->out_tokens = metrics_add(m, METRIC_COUNTER, "litellm_output_tokens_metric_total",
				     "Output (completion) tokens", tok_l);
	rm->cached_tokens =
		metrics_add(m, METRIC_COUNTER, "hermetic_cached_input_tokens_total",
			    "Input tokens the provider read from its prompt cache", tok_l);
	rm->cache_write_tokens =
		metrics_add(m, METRIC_COUNTER, "hermetic_cache_write_input_tokens_total",
			    "Input tokens the provider wrote to its prompt cache", tok_l);
	rm->latency = metrics_add_histogram(m, "litellm_request_total_latency_metric",
					    "Whole request latency in seconds", lat_l, b, nb);
	rm->api_latency = metrics_add_histogram(m, "litellm_llm_api_latency_metric",
						"Upstream call latency in seconds", m_l, b, nb);
	rm->ttft = metrics_add_histogram(m, "litellm_llm_api_time_to_first_token_metric",
					 "Time to the first streamed token in seconds", m_l, b, nb);
	rm->overhead =
		metrics_add_histogram(m, "litellm_overhead_latency_metric",
				      "Time spent in the router itself in seconds", m_l, b, nb);
	rm->fb_ok = metrics_add(m, METRIC_COUNTER, "litellm_deployment_successful_fallbacks_total",
				"Requests answered by a fallback model group", fb_l);
	rm->fb_fail = metrics_add(m, METRIC_COUNTER, "litellm_deployment_failed_fallbacks_total",
				  "Fallback model groups that failed too", fb_l);
	rm->cooled = metrics_add(m, METRIC_COUNTER, "litellm_deployment_cooled_down_total",
				 "Deployments put in cooldown", dep_st);
	rm->state = metrics_add(m, METRIC_GAUGE, "litellm_deployment_state",
				"Deployment state: 0 ok, 1 recent failures, 2 cooling down", dep_l);
	rm->remaining = metrics_add(m, METRIC_GAUGE, "litellm_remaining_api_key_budget_metric",
				    "Budget left in USD for the key's current window", key_l);
	rm->retries = metrics_add(m, METRIC_COUNTER, "hermetic_router_retries_total",
				  "Retries inside a model group", grp_l);
	rm->cost_unknown = metrics_add(m, METRIC_COUNTER, "hermetic_router_cost_unknown_total",
				       "Calls whose cost was neither reported nor priced", m_l);
	rm->in_flight = metrics_add(m, METRIC_GAUGE, "hermetic_router_in_flight",
				    "Upstream calls in flight", NULL);
	rm->spend_today = metrics_add(m, METRIC_GAUGE, "hermetic_spend_today_usd",
				      "Spend today (configured timezone) in USD", NULL);
	rm->kept_bytes = metrics_add(m, METRIC_GAUGE, "hermetic_alloc_kept_bytes",
				     "Freed memory blocks kept for reuse (the release binary's "
				     "allocator front; 0 in other builds)",
				     NULL);
	rm->pool_tokens =
		metrics_add(m, METRIC_GAUGE, "hermetic_pool_tokens",
			    "Rate pool tokens in the last 60 s: used (settled and granted), "
			    "reserved (in flight), limit (tpm)",
			    pool_st);
	rm->pool_queue = metrics_add(m, METRIC_GAUGE, "hermetic_pool_queue",
				     "Calls waiting for room in a rate pool", pool_cl);
	rm->pool_wait = metrics_add_histogram(m, "hermetic_pool_wait_seconds",
					      "Time a call waited for room in a rate pool (0 when "
					      "it fitted at once)",
					      pool_cl, wait_b, ARRAY_LEN(wait_b));
	rm->pool_deferred = metrics_add(m, METRIC_COUNTER, "hermetic_pool_deferred_total",
					"Calls that found no room in a rate pool (expired, too "
					"big, queue full): fell back or failed with 429",
					pool_cl);
}
