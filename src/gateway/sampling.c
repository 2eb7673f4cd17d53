/* sampling: an MCP server's sampling/createMessage turned into one chat completions call
 * through the router, and its answer into a CreateMessageResult.
 *
 * The call is the router's like any other: the server's lane (the lane that lists the server
 * in its mcp_servers) limits the model groups it reaches, the budgets and the ledger count it
 * (source "mcp:<server>", purpose "sampling"), the rate pools class it as background. What
 * the server may choose is bounded by its config: a model hint counts only when it names a
 * group of sampling.allowed_models, and maxTokens is cut to sampling.max_tokens_cap.
 * mcp_sample.c checks the request's shape, counts sampling.max_rpm and owns the timeout. Tool
 * use inside sampling (tools, toolChoice, tool_use blocks) and audio are refused with an error
 * saying so: nothing here runs tools for a server.
 */
#include "gateway/sampling.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "router/router.h"
#include "tools/tools.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STOP_MAX 4 /* OpenAI's limit of stop sequences */

struct run {
	struct run *next;
	struct sampling *sm;
	struct mcp_sample *q; /* NULL once withdrawn */
	struct router_call *call;
	char *model;
};

struct sampling {
	const struct config *cfg;
	struct router **router;
	struct run *runs;
};

static int fail(char *err, size_t err_len, const char *why)
{
	snprintf(err, err_len, "%s", why);
	return -EINVAL;
}

const char *sampling_lane(const struct config *cfg, const char *server)
{
	for (size_t i = 0; i < cfg->n_lanes; i++)
		for (size_t k = 0; k < cfg->lanes[i].n_mcp_servers; k++)
			if (strcmp(cfg->lanes[i].mcp_servers[k], server) == 0)
				return cfg->lanes[i].name;
	return NULL;
}

static size_t lane_index(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; name && i < cfg->n_lanes; i++)
		if (strcmp(cfg->lanes[i].name, name) == 0)
			return i;
	return cfg->n_lanes;
}

/* The call's lane: the most sensitive (listed first) of the server's and those of the turns
 * whose tool calls to it are in flight, as their text may be in the request. */
static const char *call_lane(const struct config *cfg, const char *server,
			     struct mcp_call *const *calls, size_t n_calls)
{
	size_t best = lane_index(cfg, sampling_lane(cfg, server));

	for (size_t i = 0; i < n_calls; i++) {
		size_t at = lane_index(cfg, tools_mcp_call_lane(calls[i]));

		if (at < best)
			best = at;
	}
	return best < cfg->n_lanes ? cfg->lanes[best].name : NULL;
}

/* One content block of a message as an OpenAI content part. */
static int content_part(const cJSON *block, cJSON *parts, char *err, size_t err_len)
{
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(block, "type"));
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(block, "text"));
	const char *data = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(block, "data"));
	const char *mime =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(block, "mimeType"));
	cJSON *part = cJSON_CreateObject();
	char *url;

	if (type && strcmp(type, "text") == 0 && text) {
		cJSON_AddStringToObject(part, "type", "text");
		cJSON_AddStringToObject(part, "text", text);
	} else if (type && strcmp(type, "image") == 0 && data && mime &&
		   strncmp(mime, "image/", 6) == 0) {
		url = xasprintf("data:%s;base64,%s", mime, data);
		cJSON_AddStringToObject(part, "type", "image_url");
		cJSON_AddStringToObject(cJSON_AddObjectToObject(part, "image_url"), "url", url);
		free(url);
	} else {
		cJSON_Delete(part);
		return fail(err, err_len,
			    "a message block is not text or an image (audio and tool use are not "
			    "answered in sampling)");
	}
	cJSON_AddItemToArray(parts, part);
	return 0;
}

static int add_messages(const cJSON *params, cJSON *out, char *err, size_t err_len)
{
	const cJSON *m, *block;

	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(params, "messages"))
	{
		const char *role =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "role"));
		const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
		cJSON *msg, *parts;

		if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
			return fail(err, err_len, "a message's role must be user or assistant");
		msg = cJSON_CreateObject();
		cJSON_AddItemToArray(out, msg);
		cJSON_AddStringToObject(msg, "role", role);
		parts = cJSON_AddArrayToObject(msg, "content");
		if (cJSON_IsObject(content)) {
			if (content_part(content, parts, err, err_len) < 0)
				return -EINVAL;
			continue;
		}
		if (!cJSON_IsArray(content) || !cJSON_GetArraySize(content))
			return fail(err, err_len, "a message's content must be a block or blocks");
		cJSON_ArrayForEach(block, content)
		{
			if (content_part(block, parts, err, err_len) < 0)
				return -EINVAL;
		}
	}
	return 0;
}

/* The first hint that names an allowed group, else the configured model. */
static const char *pick_model(const struct config *cfg, const struct config_mcp_server *srv,
			      const cJSON *params)
{
	const cJSON *prefs = cJSON_GetObjectItemCaseSensitive(params, "modelPreferences");
	const cJSON *hint;

	cJSON_ArrayForEach(hint, cJSON_GetObjectItemCaseSensitive(prefs, "hints"))
	{
		const char *name =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hint, "name"));

		for (size_t i = 0; name && i < srv->n_sampling_allowed_models; i++)
			if (strcmp(srv->sampling_allowed_models[i], name) == 0)
				return srv->sampling_allowed_models[i];
	}
	return srv->sampling_model ? srv->sampling_model : cfg->model;
}

static int add_options(const struct config_mcp_server *srv, const cJSON *params, cJSON *req,
		       char *err, size_t err_len)
{
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(params, "maxTokens");
	const cJSON *temp = cJSON_GetObjectItemCaseSensitive(params, "temperature");
	const cJSON *stops = cJSON_GetObjectItemCaseSensitive(params, "stopSequences"), *s;
	double cap = (double)srv->sampling_max_tokens_cap;
	cJSON *stop;

	if (cJSON_GetObjectItemCaseSensitive(params, "tools") ||
	    cJSON_GetObjectItemCaseSensitive(params, "toolChoice"))
		return fail(err, err_len, "tools in sampling are not answered");
	if (!cJSON_IsNumber(max) || max->valuedouble < 1)
		return fail(err, err_len, "maxTokens must be a positive integer");
	cJSON_AddNumberToObject(req, "max_tokens",
				max->valuedouble < cap ? (double)(int64_t)max->valuedouble : cap);
	if (temp && (!cJSON_IsNumber(temp) || temp->valuedouble < 0 || temp->valuedouble > 2))
		return fail(err, err_len, "temperature must be a number from 0 to 2");
	if (temp)
		cJSON_AddNumberToObject(req, "temperature", temp->valuedouble);
	if (!stops)
		return 0;
	if (!cJSON_IsArray(stops) || cJSON_GetArraySize(stops) > STOP_MAX)
		return fail(err, err_len, "stopSequences must be a list of at most 4 strings");
	stop = cJSON_AddArrayToObject(req, "stop");
	cJSON_ArrayForEach(s, stops)
	{
		if (!cJSON_IsString(s))
			return fail(err, err_len, "stopSequences must be a list of strings");
		cJSON_AddItemToArray(stop, cJSON_CreateString(s->valuestring));
	}
	return 0;
}

int sampling_body(const struct config *cfg, const struct config_mcp_server *srv,
		  const char *params_json, char **body, char **model, char *err, size_t err_len)
{
	cJSON *params = json_parse(params_json, strlen(params_json), JSON_EXACT, NULL);
	cJSON *req = cJSON_CreateObject(), *messages;
	const char *system =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(params, "systemPrompt"));
	const char *name = pick_model(cfg, srv, params);
	int rc = -EINVAL;

	*body = *model = NULL;
	if (!cJSON_IsObject(params) || !name) {
		fail(err, err_len,
		     !name ? "no model to answer (set sampling.model)"
			   : "the params are not a JSON object");
		goto out;
	}
	cJSON_AddStringToObject(req, "model", name);
	messages = cJSON_AddArrayToObject(req, "messages");
	if (system) {
		cJSON *m = cJSON_CreateObject();

		cJSON_AddStringToObject(m, "role", "system");
		cJSON_AddStringToObject(m, "content", system);
		cJSON_AddItemToArray(messages, m);
	}
	if (add_messages(params, messages, err, err_len) < 0 ||
	    add_options(srv, params, req, err, err_len) < 0)
		goto out;
	*body = cJSON_PrintUnformatted(req);
	*model = xstrdup(name);
	rc = 0;
out:
	cJSON_Delete(params);
	cJSON_Delete(req);
	return rc;
}

int sampling_result(const char *body, size_t len, const char *model, char **out, char *err,
		    size_t err_len)
{
	cJSON *root = json_parse(body, len, 0, NULL), *r, *content;
	const cJSON *choice =
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "content"));
	const char *finish =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(choice, "finish_reason"));

	*out = NULL;
	if (!text) {
		cJSON_Delete(root);
		return fail(err, err_len, "the model answered no text");
	}
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "role", "assistant");
	content = cJSON_AddObjectToObject(r, "content");
	cJSON_AddStringToObject(content, "type", "text");
	cJSON_AddStringToObject(content, "text", text);
	cJSON_AddStringToObject(r, "model", model);
	cJSON_AddStringToObject(r, "stopReason",
				!finish || strcmp(finish, "stop") == 0 ? "endTurn"
				: strcmp(finish, "length") == 0	       ? "maxTokens"
								       : finish);
	*out = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
	cJSON_Delete(root);
	return 0;
}

/* ---- the calls ---- */

static void run_free(struct run *run)
{
	for (struct run **p = &run->sm->runs; *p; p = &(*p)->next)
		if (*p == run) {
			*p = run->next;
			break;
		}
	free(run->model);
	free(run);
}

/* An error body's message, for the server: "HTTP 429: rate limited". */
static char *error_text(const struct router_result *r)
{
	cJSON *root = json_parse(r->body ? r->body : "", r->body ? r->body_len : 0, 0, NULL);
	const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(root, "error"), "message"));
	char *text = xasprintf("the model call failed: HTTP %d%s%.300s", r->status, msg ? ": " : "",
			       msg ? msg : "");

	cJSON_Delete(root);
	return text;
}

static void on_done(struct router_call *c, const struct router_result *r, void *arg)
{
	struct run *run = arg;
	char err[200], *result = NULL, *why = NULL;

	if (run->q && r->status == 200 &&
	    sampling_result(r->body, r->body_len, r->model_group ? r->model_group : run->model,
			    &result, err, sizeof(err)) == 0)
		mcp_sample_answer(run->q, result, NULL);
	else if (run->q)
		mcp_sample_answer(run->q, NULL, r->status == 200 ? err : (why = error_text(r)));
	free(result);
	free(why);
	run_free(run);
}

static const struct router_cbs call_cbs = {.on_done = on_done};

static void on_sample(struct mcp_sample *q, const char *server, const char *params_json,
		      struct mcp_call *const *calls, size_t n_calls, void *arg)
{
	struct sampling *sm = arg;
	const struct config_mcp_server *srv = NULL;
	/* The server's text is not the agent's: its lane's redaction is the router's to do. */
	struct router_caller who = {.key_hash = "internal", .purpose = "sampling", .redact = true};
	char err[200], *body, *model, source[96];
	struct run *run;

	for (size_t i = 0; i < sm->cfg->n_mcp_servers; i++)
		if (strcmp(sm->cfg->mcp_servers[i].name, server) == 0)
			srv = &sm->cfg->mcp_servers[i];
	if (!srv || !*sm->router) {
		mcp_sample_answer(q, NULL, "no model can answer now");
		return;
	}
	if (sampling_body(sm->cfg, srv, params_json, &body, &model, err, sizeof(err)) < 0) {
		mcp_sample_answer(q, NULL, err);
		return;
	}
	snprintf(source, sizeof(source), "mcp:%s", server);
	who.source = source;
	who.lane = call_lane(sm->cfg, server, calls, n_calls);
	run = xcalloc(1, sizeof(*run));
	*run = (struct run){sm->runs, sm, q, NULL, model};
	sm->runs = run;
	log_info("mcp %s: sampling with %s%s%s", server, model, who.lane ? " in lane " : "",
		 who.lane ? who.lane : "");
	if (router_chat(*sm->router, body, strlen(body), &who, &call_cbs, run, &run->call) < 0) {
		mcp_sample_answer(q, NULL, "the model call could not start");
		run_free(run);
	}
	free(body);
}

static void on_withdrawn(struct mcp_sample *q, void *arg)
{
	struct sampling *sm = arg;

	for (struct run *run = sm->runs; run; run = run->next)
		if (run->q == q) {
			run->q = NULL;
			router_cancel(run->call); /* on_done frees it, later */
			return;
		}
}

struct sampling *sampling_create(const struct config *cfg, struct router **router,
				 struct mcp_sampling_cbs *out)
{
	struct sampling *sm = xcalloc(1, sizeof(*sm));

	sm->cfg = cfg;
	sm->router = router;
	*out = (struct mcp_sampling_cbs){.sample = on_sample, .withdrawn = on_withdrawn, .arg = sm};
	return sm;
}

void sampling_destroy(struct sampling *sm)
{
	if (!sm)
		return;
	/* A call the router still holds answers nobody: its run goes with the router. */
	while (sm->runs) {
		struct run *run = sm->runs;

		sm->runs = run->next;
		free(run->model);
		free(run);
	}
	free(sm);
}
