/* router_params: a deployment's request parameters merged into each call to it, as LiteLLM's
 * Router._acompletion merges them: `{**litellm_params, ..., **kwargs}`, the request's own value
 * winning key by key (no deep merge: a request's extra_body replaces the deployment's whole).
 * The parameters are the deployment's litellm_params that are OpenAI request members
 * (temperature, top_p, stop, seed, reasoning_effort, thinking, ..., config_litellm.c keeps them
 * as one JSON object) and max_tokens; then extra_body's members go to the top level of the body,
 * as OpenAI's SDK sends them (LiteLLM hands extra_body to it), replacing a member of the same
 * name. The dialects translate what they take (anthropic: temperature, top_p, top_k,
 * thinking; gemini: reasoning_effort) from the merged request as from a client's. Runs on the
 * request parsed for one attempt, so a retry on another deployment starts from the client's.
 * router_settings.default_litellm_params go in before the deployment's: LiteLLM's Router puts
 * them into the request (_update_kwargs_with_default_litellm_params), so they win over it.
 * Rejected: merging into the kept body text once per call, which would leak one deployment's
 * parameters into a retry on another.
 */
#include "router/router_int.h"

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* Returns whether it added any. */
static bool add_missing(cJSON *req, cJSON *params)
{
	cJSON *p, *copy;
	bool added = false;

	cJSON_ArrayForEach(p, params)
	{
		if (!p->string || cJSON_GetObjectItemCaseSensitive(req, p->string))
			continue;
		copy = cJSON_Duplicate(p, true);
		if (copy) {
			cJSON_AddItemToObject(req, p->string, copy);
			added = true;
		}
	}
	return added;
}

/* extra_body's members to the top level, replacing what is there; extra_body itself goes.
 * Returns whether there was one. */
static bool flatten_extra_body(cJSON *req)
{
	cJSON *eb = cJSON_DetachItemFromObjectCaseSensitive(req, "extra_body"), *p, *next;

	if (!eb)
		return false;
	for (p = cJSON_IsObject(eb) ? eb->child : NULL; p; p = next) {
		next = p->next;
		if (!p->string || strcmp(p->string, "model") == 0 ||
		    strcmp(p->string, "messages") == 0 || strcmp(p->string, "stream") == 0)
			continue; /* what the router decided stays its own */
		cJSON_DeleteItemFromObjectCaseSensitive(req, p->string);
		cJSON_AddItemToObject(req, p->string, cJSON_Duplicate(p, true));
	}
	cJSON_Delete(eb);
	return true;
}

void router_params_merge(struct router_call *c, const struct config_model *m)
{
	const struct config_litellm_params *lp = &m->litellm_params;
	struct json_error err;
	cJSON *params;

	const char *defaults = c->r->cfg->router_settings.default_params.request_params;
	const char *const layers[] = {defaults, lp->request_params};
	size_t i;

	if (!c->req || c->route != PROVIDER_CHAT)
		return;
	/* the Router's defaults go into the request first, so they win over the deployment's */
	for (i = 0; i < ARRAY_LEN(layers); i++) {
		if (!layers[i])
			continue;
		params = json_parse_str(layers[i], &err);
		if (params && add_missing(c->req, params))
			c->req_changed = true;
		else
			log_warn("deployment %s: request parameters that are not JSON",
				 m->model_info.id);
		cJSON_Delete(params);
	}
	if (lp->max_tokens > 0 && !cJSON_GetObjectItemCaseSensitive(c->req, "max_tokens") &&
	    !cJSON_GetObjectItemCaseSensitive(c->req, "max_completion_tokens")) {
		cJSON_AddNumberToObject(c->req, "max_tokens", (double)lp->max_tokens);
		c->req_changed = true;
	}
	if (flatten_extra_body(c->req))
		c->req_changed = true;
}

bool router_needs_at_call(struct router_call *c)
{
	const struct config_model *m = c->dep->m;

	if (!m->needs_at_call)
		return false;
	router_pool_drop(c); /* a grant kept from a wait is given back: nothing was sent */
	free(c->err_msg);
	c->err = E_AUTH;
	c->err_status = 401;
	c->err_msg = xasprintf("deployment %s of %s cannot be called: %s; nothing was sent",
			       m->model_info.id, m->model_name, m->needs_at_call);
	log_info("call %lld: %s", (long long)c->id, c->err_msg);
	c->r->owner->attempt_failed(c);
	return true;
}
