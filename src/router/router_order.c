/* router_order: litellm_params.order in the router, as LiteLLM's Router uses it. Each pick
 * keeps, of the group's deployments not cooling down, only those of one order
 * (policy_order_filter: the lowest, or the one an order fallback asks for); when the group is
 * exhausted at that order (the attempt and its retries failed, or none of that order could
 * take the call), the next higher order of the same group is tried before the fallback
 * groups, as LiteLLM's async_function_with_fallbacks_common_utils retries the group with
 * `_target_order` set to each higher order in turn. Each order gets its own retries.
 * Rejected: sorting by order inside policy_pick_by, which could not tell "try the next order"
 * (a decision after a failure) from "pick among this order" (a decision before a send).
 */
#include "router/router_int.h"

#include "core/log.h"

void router_order_filter(struct router_call *c, int64_t now_ms)
{
	struct group *g = c->group;

	c->order_kept_set = policy_order_filter(g->cand, g->n_deps, now_ms, c->order_target_set,
						c->order_target, &c->order_kept);
	/* no deployment of the asked order is up: LiteLLM picks among all, and the next order
	 * fallback still goes on from the asked one */
	if (!c->order_kept_set && c->order_target_set) {
		c->order_kept = c->order_target;
		c->order_kept_set = true;
	}
}

bool router_order_next(struct router_call *c)
{
	struct group *g = c->group;
	int64_t next;

	if (!g || !c->order_kept_set || c->disable_fallbacks || c->cancelled ||
	    c->err == E_BAD_REQUEST || c->err == E_BUDGET)
		return false;
	if (!policy_next_order(g->cand, g->n_deps, c->order_kept, &next))
		return false;
	log_info("%s: order %lld failed (%s); trying order %lld", g->name, (long long)c->order_kept,
		 policy_class_name(c->err), (long long)next);
	c->order_target = next;
	c->order_target_set = true;
	c->attempts_in_group = 0;
	c->last_failed = NULL;
	return true;
}

void router_order_reset(struct router_call *c)
{
	c->order_kept_set = c->order_target_set = false;
}
