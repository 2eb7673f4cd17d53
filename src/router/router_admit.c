/* router_admit: a new call's request read and checked before anything goes upstream. The
 * body parsed as the route reads it (JSON with repeated members refused, or a multipart form
 * whose plain fields stand in for it), the fields the router acts on (model, stream,
 * fallbacks), model aliases and wildcards resolved, OpenAI's 400s for a route's required
 * fields and output bounds, and admission: the allowlist, the key's models, the budgets. It
 * also parses the kept body again for a retry or fallback (router_parse_request). The state
 * machine that runs the admitted call is router.c's; the decisions are router/policy.c's.
 */
#include "router/router_int.h"
#include "router/router.h"
#include "router/policy.h"
#include "router/lane.h"
#include "core/config.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/log.h"
#include "router/spend.h"
#include "core/util.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a non-number is, in OpenAI's words; NULL for a number. */
static const char *json_kind(const cJSON *v)
{
	if (cJSON_IsNumber(v))
		return NULL;
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

/* OpenAI's checks of the route's output bounds (max_tokens and max_completion_tokens,
 * max_output_tokens): a whole number >= 1, and null is the same as absent (dropped here, so
 * the clamp applies). Returns true after arranging a 400 in OpenAI's shape ({"error":{...,
 * "param": <field>, "code": "invalid_type"}}). */
static bool refuse_max_tokens(struct router_call *c)
{
	const char *const *keys = router_spec_of(c)->limits;
	cJSON *found[ARRAY_LEN(router_spec_of(c)->limits)];
	char msg[160];
	const char *code = NULL, *param = NULL;
	size_t i;

	json_members(c->req, keys, ARRAY_LEN(found), found);
	for (i = 0; i < ARRAY_LEN(found) && keys[i] && !code; i++) {
		cJSON *v = found[i];

		if (!v)
			continue;
		if (cJSON_IsNull(v)) {
			router_req_drop_item(c, v);
			continue;
		}
		code = policy_max_tokens_refusal(keys[i], json_kind(v), v->valuedouble, msg,
						 sizeof(msg));
		param = keys[i];
	}
	return code && router_refuse_param(c, msg, param, code);
}

/* A form's plain fields as strings (what build() may read); files and long values left out. */
static cJSON *form_fields(const struct multipart_form *f)
{
	cJSON *obj = cJSON_CreateObject();
	size_t i;

	for (i = 0; i < f->n_parts; i++) {
		const struct multipart_part *p = &f->parts[i];
		char *v;

		if (p->filename || p->data_len > 4096 ||
		    cJSON_GetObjectItemCaseSensitive(obj, p->name))
			continue;
		v = xstrndup(p->data, p->data_len);
		cJSON_AddStringToObject(obj, p->name, v);
		free(v);
	}
	return obj;
}

/* LiteLLM's metadata (the lane, tags, anything a client puts there) is never sent upstream,
 * in a lane or not; on the Responses API `metadata` is OpenAI's own, and LiteLLM passes it on
 * there (its LITELLM_METADATA_ROUTES), so the router does too. */
static void drop_metadata(struct router_call *c)
{
	if (c->route != PROVIDER_RESPONSES)
		router_req_drop(c, "metadata");
}

/* The client's JSON without LiteLLM's own request fields, which are not for the provider. */
int router_parse_request(struct router_call *c)
{
	if (router_spec_of(c)->multipart) {
		c->req = form_fields(&c->form);
		c->req_changed = true; /* the fields of a form, not its text */
		return 0;
	}
	if (!cJSON_IsObject(router_parse_call(c, JSON_EXACT, NULL)))
		return -1;
	router_req_drop(c, "fallbacks");
	router_req_drop(c, "disable_fallbacks");
	router_req_drop(c, "priority"); /* the rate pools' */
	drop_metadata(c);
	return 0;
}

/* The root members read_request, refuse_lane and drop_metadata act on. */
enum { M_MODEL, M_MESSAGES, M_STREAM, M_STREAM_OPTIONS, M_FALLBACKS, M_DISABLE, M_METADATA, M_N };

static void request_members(const struct router_call *c, cJSON **m)
{
	static const char *const names[M_N] = {
		[M_MODEL] = "model",	     [M_MESSAGES] = "messages",
		[M_STREAM] = "stream",	     [M_STREAM_OPTIONS] = "stream_options",
		[M_FALLBACKS] = "fallbacks", [M_DISABLE] = "disable_fallbacks",
		[M_METADATA] = "metadata",
	};

	json_members(c->req, names, M_N, m);
}

/* Reads the request fields the router acts on (m: request_members). Returns NULL or an
 * error message. */
static const char *read_request(struct router_call *c, cJSON *const *m)
{
	cJSON *model = m[M_MODEL], *msgs = m[M_MESSAGES], *so = m[M_STREAM_OPTIONS];
	cJSON *fb = m[M_FALLBACKS];
	cJSON *item;

	if (!cJSON_IsString(model) || !*model->valuestring)
		return "model is required (a string naming one of /v1/models)";
	if (c->route == PROVIDER_CHAT && (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0))
		return "messages is required (a non-empty array)";
	c->requested = xstrdup(model->valuestring);
	c->client_stream = cJSON_IsTrue(m[M_STREAM]) && router_spec_of(c)->streams;
	c->client_usage = so && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
	c->disable_fallbacks = cJSON_IsTrue(m[M_DISABLE]);
	if (cJSON_IsArray(fb) && !router_spec_of(c)->multipart) {
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

/* model_group_alias names and wildcard groups (policy_resolve_model): the call goes on under
 * the group that answers, so labels, ledger and fallbacks see a configured name; the client's
 * own name is kept in asked for the key check and the wildcard's upstream id. */
static void resolve_requested(struct router_call *c)
{
	const struct config *cfg = c->r->cfg;
	struct policy_route rt;

	if (!policy_resolve_model(c->requested, cfg->model_groups, cfg->n_model_groups,
				  cfg->router_settings.aliases, cfg->router_settings.n_aliases,
				  &rt) ||
	    strcmp(rt.group, c->requested) == 0)
		return;
	c->asked = c->requested;
	c->requested = xstrdup(rt.group);
}

/* A key that lists the name the client used (an alias) may call it, as it may its group. */
static const struct config_key *admit_key(const struct router_call *c)
{
	return c->asked && policy_key_allows(c->who.key, c->asked) ? NULL : c->who.key;
}

/* Allowlist, key restrictions and budget; returns false after arranging the error answer. */
static bool admit(struct router_call *c)
{
	const struct config *cfg = c->r->cfg;
	char msg[512];
	const char *which = NULL;
	enum policy_eclass refused;
	int rc = 0;

	refused = policy_admit(c->requested, c->body_fallbacks, c->n_body_fallbacks, admit_key(c),
			       cfg->model_groups, cfg->n_model_groups, msg, sizeof(msg));
	if (refused != E_NONE) {
		router_fail_call(c, refused, refused == E_AUTH ? 401 : 400, msg);
		return false;
	}
	if (c->r->spend)
		rc = spend_check(c->r->spend, c->key_hash, c->who.key, router_now_ms(), msg,
				 sizeof(msg), &which);
	/* -EBUSY: calls in flight hold the rest of a budget; the attempt waits for them. */
	if (rc < 0 && rc != -EBUSY) {
		log_warn("budget %s reached: refusing a call to %s", which, c->requested);
		router_fail_budget(c, msg);
		return false;
	}
	return true;
}

/* Characters (not bytes) of a UTF-8 string. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* A Responses request may leave input out when a reusable prompt or a conversation gives
 * the model its input items. */
static bool input_given_otherwise(const struct router_call *c)
{
	return c->route == PROVIDER_RESPONSES &&
	       (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(c->req, "prompt")) ||
		cJSON_GetObjectItemCaseSensitive(c->req, "conversation"));
}

/* OpenAI's checks of a required field of the route (routes with messages have theirs in
 * read_request): present, of a type the endpoint takes, not empty. Returns true after
 * arranging the 400. */
static bool refuse_field(struct router_call *c, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(c->req, name);
	char msg[160];
	bool ok;

	if (router_spec_of(c)->multipart) {
		if (multipart_find(&c->form, name))
			return false;
		v = NULL;
	}
	if (!v && input_given_otherwise(c))
		return false;
	if (!v || cJSON_IsNull(v)) {
		snprintf(msg, sizeof(msg), "Missing required parameter: '%s'.", name);
		return router_refuse_param(c, msg, name, "missing_required_parameter");
	}
	if (strcmp(name, "voice") == 0)
		ok = cJSON_IsString(v) || cJSON_IsObject(v);
	else if (c->route == PROVIDER_SPEECH)
		ok = cJSON_IsString(v);
	else
		ok = cJSON_IsString(v) || cJSON_IsArray(v);
	if (!ok) {
		snprintf(msg, sizeof(msg), "Invalid type for '%s': expected %s.", name,
			 c->route == PROVIDER_SPEECH ? "a string" : "a string or an array");
		return router_refuse_param(c, msg, name, "invalid_type");
	}
	if (c->route != PROVIDER_COMPLETIONS && c->route != PROVIDER_RESPONSES &&
	    ((cJSON_IsString(v) && !*v->valuestring) ||
	     (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0))) {
		snprintf(msg, sizeof(msg), "'%s' must not be empty.", name);
		return router_refuse_param(c, msg, name, "invalid_value");
	}
	if (c->route == PROVIDER_SPEECH && strcmp(name, "input") == 0)
		c->input_chars = utf8_chars(v->valuestring);
	return false;
}

static bool refuse_fields(struct router_call *c)
{
	size_t i;

	for (i = 0; c->route != PROVIDER_CHAT && i < ARRAY_LEN(router_spec_of(c)->needs); i++)
		if (router_spec_of(c)->needs[i] && refuse_field(c, router_spec_of(c)->needs[i]))
			return true;
	return false;
}

/* The body as the route reads it, whole (LiteLLM's own fields too): JSON, or a form whose
 * plain fields become c->req. Returns true after arranging the 400. */
static bool refuse_body(struct router_call *c)
{
	char err[160] = "";
	struct json_error jerr;

	if (!router_spec_of(c)->multipart) {
		/* A repeated member is refused here, before the key's allowlist, the max_tokens
		 * clamp and the ledger read the first one while the provider would run the last;
		 * in any case, as a provider in Go would match "MODEL" to its "model". */
		if (cJSON_IsObject(router_parse_call(c, JSON_EXACT | JSON_FOLD, &jerr)))
			return false;
		router_fail_call(c, E_BAD_REQUEST, 400,
				 !c->req && jerr.duplicate ? jerr.msg
							   : "request body is not a JSON object");
		return true;
	}
	if (multipart_parse(c->content_type, c->body, c->body_len, &c->form, err, sizeof(err)) <
	    0) {
		router_fail_call(c, E_BAD_REQUEST, 400, err);
		return true;
	}
	/* The router checks and bills the first "model" and rewrites only plain fields; an
	 * upstream may read another one (a file part, or the last of several). */
	if (multipart_count(&c->form, "model") > 1)
		return router_refuse_param(
			c,
			"The form has more than one part named 'model' (a field or a "
			"file); send model once, as a plain field.",
			"model", "invalid_value");
	c->req = form_fields(&c->form);
	c->req_changed = true; /* the fields of a form, not its text */
	return false;
}

/* The call's lane: the caller's, raised by the key's pinned lane and by the request's
 * metadata.lane (never lowered: lane_decide). An unknown name is a 400, not "no lane". */
static bool refuse_lane(struct router_call *c, cJSON *meta)
{
	const struct config *cfg = c->r->cfg;
	cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, "lane");
	struct lane_sources s = {.current = c->lane, .asked = LANE_NONE, .key_alias = c->key_alias};
	char msg[200];

	if (c->lane_unknown) {
		router_fail_call(c, E_BAD_REQUEST, 400, "the caller's lane is not in the config");
		return true;
	}
	if (v && !cJSON_IsNull(v)) {
		s.asked = cJSON_IsString(v) ? lane_find(cfg->lanes, cfg->n_lanes, v->valuestring)
					    : LANE_NONE;
		if (s.asked == LANE_NONE) {
			snprintf(msg, sizeof(msg),
				 "metadata.lane must name a lane of the config (%zu configured)",
				 cfg->n_lanes);
			return router_refuse_param(c, msg, "metadata.lane", "invalid_value");
		}
	}
	c->lane = lane_decide(cfg->lanes, cfg->n_lanes, &s, NULL, 0);
	return false;
}

bool router_refuse(struct router_call *c)
{
	cJSON *m[M_N];
	const char *bad;
	int caller_lane;

	if (refuse_body(c))
		return true;
	request_members(c, m);
	c->litellm_fields = m[M_FALLBACKS] || m[M_DISABLE];
	bad = read_request(c, m);
	if (!bad && c->client_stream && (!c->cbs.on_stream_start || !c->cbs.on_stream_data))
		bad = "this caller does not take streamed answers: leave stream unset";
	if (bad) {
		router_fail_call(c, E_BAD_REQUEST, 400, bad);
		return true;
	}
	resolve_requested(c);
	caller_lane = c->lane;
	if (refuse_lane(c, m[M_METADATA]))
		return true;
	/* read; a retry's parse of the kept body drops it again (drop_metadata) */
	if (c->route != PROVIDER_RESPONSES && m[M_METADATA])
		router_req_drop_item(c, m[M_METADATA]);
	/* A caller that names its lane (the agent) redacts its own text (agent_redact.c); a
	 * router client's key or metadata.lane, or a caller that asks (who.redact), has it
	 * redacted here. */
	if ((caller_lane == LANE_NONE || c->who.redact) && router_redact_request(c))
		return true;
	if (refuse_fields(c) || (router_spec_of(c)->limits[0] && refuse_max_tokens(c)))
		return true;
	return !admit(c);
}
