/* router_upstream: one attempt framed for its deployment: the deployment's own parameters
 * merged into the request (router_params.c), max_tokens clamped to the guardrails, a form
 * re-encoded with the upstream id, a wildcard's or the metadata server's model id and project,
 * the dialect's build (router/providers/), and for a vertex_ai deployment its service account's
 * bearer token (router/gtoken.c: cached, or the call waits for the account's one exchange).
 *
 * Split from router.c (the state machine), whose attempt() calls these in turn.
 */
#include "router/router_int.h"
#include "core/json.h"
#include "router/gtoken.h"
#include "router/policy.h"
#include "router/providers/prompt_cache.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void clamp_max_tokens(struct router_call *c)
{
	int64_t ceiling = policy_max_tokens_ceiling(&c->r->cfg->guardrails, c->group->name);
	const char *const *keys = router_spec_of(c)->limits;
	cJSON *found[ARRAY_LEN(router_spec_of(c)->limits)];
	bool present = false;
	size_t i;

	if (ceiling <= 0)
		return;
	json_members(c->req, keys, ARRAY_LEN(found), found);
	for (i = 0; i < ARRAY_LEN(found) && keys[i]; i++) {
		cJSON *v = found[i];

		if (cJSON_IsNumber(v) && v->valuedouble > (double)ceiling) {
			cJSON_SetNumberValue(v, (double)ceiling);
			c->req_changed = true;
		}
		present = present || v;
	}
	if (!present) {
		cJSON_AddNumberToObject(c->req, keys[0], (double)ceiling);
		c->req_changed = true;
	}
}

/* A wildcard deployment (model_name "anthropic/" + a star) is called with the id the client's name
 * gave its '*', a vertex_ai one that named no project with the metadata server's: a shallow
 * copy of the deployment with upstream_model replaced (freed by the caller when the copy is
 * returned) and the project borrowed, else the deployment itself. */
static const struct config_model *wildcard_model(const struct router_call *c,
						 struct config_model *copy)
{
	const struct config_model *m = c->dep->m;
	const char *project = c->dep->gacct ? gtoken_project(c->dep->gacct) : NULL;
	char *id = NULL;

	if (c->asked && m->wildcard)
		id = policy_wildcard_upstream(m->model_name, m->upstream_model, c->asked);
	if (!id && !project)
		return m;
	*copy = *m;
	copy->upstream_model = id ? id : xstrdup(m->upstream_model);
	if (project) /* the metadata server's, for a deployment that named none */
		copy->litellm_params.vertex_project = (char *)project;
	return copy;
}

/* The attempt as the deployment's dialect frames it (router/providers/): URL, body, and
 * headers when they are per attempt (signed). Returns 0, or < 0 after arranging a 400. */
int router_upstream_request(struct router_call *c, struct provider_request *out)
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
	router_params_merge(c, m);
	if (router_spec_of(c)->limits[0])
		clamp_max_tokens(c);
	/* A form goes out as it came, with the upstream id (provider.h). */
	if (router_spec_of(c)->multipart) {
		out->body = multipart_encode(&c->form, "model", m->upstream_model, &out->body_len,
					     &out->content_type);
		if (!out->body) {
			snprintf(err, sizeof(err), "the form's boundary occurs in the model id %s",
				 m->upstream_model);
			goto out;
		}
	}
	if (c->route == PROVIDER_CHAT && prompt_cache_prepare(m, c->req))
		c->req_changed = true;
	/* The client's text while the tree still says what it says (router_int.h) */
	if (!c->req_changed && !router_spec_of(c)->multipart && c->model_end) {
		out->as_written = c->body;
		out->as_written_len = c->body_len;
		out->model_at = c->model_at;
		out->model_end = c->model_end;
	}
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
	router_fail_call(c, E_BAD_REQUEST, 400,
			 *err ? err : "the provider cannot take this request");
	return -1;
}

/* A vertex_ai deployment's access token: 0 with *token; -1 when the call waits for the
 * account's exchange (on_token_ready runs the attempt again) or the exchange it waited for
 * failed (then it is a failed attempt, retried or fallen back like any). */
int router_google_token(struct router_call *c, const char **token)
{
	struct gtoken_account *a = c->dep->gacct;
	int64_t timeout_s = c->dep->m->litellm_params.timeout_s
				    ? c->dep->m->litellm_params.timeout_s
				    : c->r->cfg->router_settings.timeout_s;
	const char *msg = NULL;
	long status = 0;

	if (c->token_acct != a)
		c->token_seq = 0;
	c->token_acct = a;
	c->token_wait = false;
	switch (gtoken_get(a, now_mono_ms(), timeout_s * 1000, &c->token_seq, token, &status,
			   &msg)) {
	case GTOKEN_READY:
		return 0;
	case GTOKEN_PENDING:
		c->token_wait = true;
		return -1;
	case GTOKEN_FAILED:
		break;
	}
	router_pool_drop(c); /* a grant kept from a wait is given back: nothing was sent */
	free(c->err_msg);
	c->err = status == 401 ? E_AUTH : status == 504 ? E_TIMEOUT : E_SERVER;
	c->err_status = status;
	c->err_msg = xstrdup(msg);
	c->r->owner->attempt_failed(c);
	return -1;
}

/* The attempt's headers with the bearer token added. */
void router_add_bearer(struct router_call *c, struct provider_request *preq, const char *token)
{
	char *line = xasprintf("Authorization: Bearer %s", token);
	char **h = provider_headers_plus(preq->headers ? preq->headers : c->dep->headers, line);

	free(line);
	provider_headers_free(preq->headers);
	preq->headers = h;
}
