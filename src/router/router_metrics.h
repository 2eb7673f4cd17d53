/* router_metrics: the series the router updates, registered in one place. */
#ifndef HERMETIC_ROUTER_METRICS_H
#define HERMETIC_ROUTER_METRICS_H

#include "core/metrics.h"

/* The router's series; each borrowed from the registry that router_metrics_register() added
 * it to, and valid as long as that registry. */
struct router_metrics {
	struct metric *total, *failed, *requests, *spend, *tokens, *in_tokens, *out_tokens,
		*cached_tokens, *cache_write_tokens, *latency, *api_latency, *ttft, *overhead,
		*fb_ok, *fb_fail, *cooled, *state, *remaining, *retries, *cost_unknown, *in_flight,
		*spend_today, *kept_bytes, *pool_tokens, *pool_queue, *pool_wait, *pool_deferred;
};

/* Adds every router series to m (LiteLLM's names and labels, plus hermetic_router_*) and
 * fills rm with them. Call once per registry. */
void router_metrics_register(struct router_metrics *rm, struct metrics *m);

#endif
