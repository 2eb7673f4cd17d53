/* router_server: LiteLLM's proxy routes on router.listen.
 *
 * POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/audio/transcriptions,
 * /v1/audio/speech, /v1/responses, /v1/images/generations, /v1/images/edits and /v1/rerank
 * (each also without /v1) run a router call of that route;
 * streamed answers go out as chunked SSE as they arrive, speech as the upstream's audio with
 * its type. /v1/models,
 * /model/info list the virtual models only (never provider ids or keys). /health/liveliness and
 * /health/readiness need no key, like LiteLLM's. Auth: general_settings.master_key or a declarative
 * key, compared in constant time; only the key's SHA-256 reaches logs and metrics. A client that
 * disconnects cancels its upstream call. Connections are capped (router.max_connections) and given
 * deadlines for the request head and body and for idling between requests (httpd.h).
 */
#include "router/router_server.h"
#include "core/config.h"
#include "net/daemon.h"
#include "net/httpd.h"
#include "core/log.h"
#include "router/ingress_anthropic.h"
#include "router/policy.h"
#include "router/router.h"
#include "sandbox/sandbox.h"
#include "router/spend.h"
#include "core/util.h"
#include "core/version.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct server;

/* One OpenAI endpoint: the route its paths run. */
struct endpoint {
	struct server *s;
	enum provider_route route;
};

struct server {
	struct daemon d;
	struct endpoint endpoints[PROVIDER_ROUTES];
	struct router *router;
	struct spend *spend;
	struct httpd *http;
	/* SHA-256 hex of the master key and of each declarative key, computed once at start */
	char master_hash[65];
	char (*key_hashes)[65];
};

/* One proxied request, in its httpd request's room (httpd_req_room): it lives until the
 * answer, which on_done sends last. */
struct proxy {
	struct server *s;
	struct httpd_req *req;
	struct router_call *call;
	bool client_gone;
};

struct auth {
	char hash[65];
	const char *alias;
	const struct config_key *key;
};

/* Whether token is the master key or a declarative key ; on a match *a holds its hash, key and
 * alias. Every configured key is compared in constant time; the hashes were computed at start. */
static bool key_matches(struct server *s, const char *token, struct auth *a)
{
	const struct config *cfg = s->d.cfg;
	size_t i;

	if (!token)
		return false;
	if (cfg->general_settings.master_key &&
	    secret_equal(token, cfg->general_settings.master_key)) {
		memcpy(a->hash, s->master_hash, sizeof(a->hash));
		return true;
	}
	for (i = 0; i < cfg->n_keys; i++) {
		if (secret_equal(token, cfg->keys[i].key)) {
			memcpy(a->hash, s->key_hashes[i], sizeof(a->hash));
			a->key = &cfg->keys[i];
			a->alias = cfg->keys[i].alias;
			return true;
		}
	}
	return false;
}

/* No master key and no virtual keys: every request is let in (LiteLLM's open proxy). A master
 * key that names an unset variable is not open: the router is locked until it is set. */
static bool open_router(const struct config *cfg)
{
	return !cfg->general_settings.master_key && !cfg->general_settings.master_key_unset &&
	       cfg->n_keys == 0;
}

static void locked_why(const struct config *cfg, char *why, size_t len)
{
	snprintf(why, len,
		 "Authentication Error, general_settings.master_key names the environment "
		 "variable %.64s, which was not set when hermetic started: the router is locked "
		 "until it is set",
		 cfg->general_settings.master_key_unset);
}

/* Returns true when the request may proceed; otherwise it has been answered with 401. */
static bool authenticate(struct server *s, struct httpd_req *req, struct auth *a)
{
	const struct config *cfg = s->d.cfg;
	const char *token = httpd_bearer(req);

	a->alias = NULL;
	a->key = NULL;
	if (open_router(cfg)) {
		snprintf(a->hash, sizeof(a->hash), "None");
		return true;
	}
	if (key_matches(s, token, a))
		return true;
	log_info("router: refused a request with %s key", token ? "an unknown" : "no");
	if (cfg->general_settings.master_key_unset) {
		char why[256];

		locked_why(cfg, why, sizeof(why));
		httpd_reply_error(req, 401, "auth_error", why);
	} else {
		httpd_reply_error(req, 401, "auth_error",
				  token ? "Authentication Error, Invalid proxy server token passed."
					: "Authentication Error, No api key passed in.");
	}
	return false;
}

/* Same text as "%.3f" for a value that is a whole number of microseconds in ms, into out (64
 * bytes); returns its length. snprintf's general machinery costs more than the rest of a
 * header. */
static size_t fmt_ms3(char *out, double ms)
{
	long long us = llround(ms * 1000.0);
	size_t n;
	int k;

	if (us < 0 || us > 1000LL * 1000 * 1000 * 1000) {
		k = snprintf(out, 64, "%.3f", ms);
		return k < 0 ? 0 : k > 63 ? 63 : (size_t)k;
	}
	n = fmt_int(out, (long)(us / 1000));
	out[n++] = '.';
	out[n++] = (char)('0' + us / 100 % 10);
	out[n++] = (char)('0' + us / 10 % 10);
	out[n++] = (char)('0' + us % 10);
	return n;
}

/* The headers with the lengths known: a strlen less per header, 8 of them per answer. */
static void add_result_headers(struct httpd_req *req, const struct router_result *r, bool with_cost)
{
	char v[64];
	size_t n;

	if (r->deployment_id && *r->deployment_id)
		HTTPD_ADD_HEADER_LIT(req, "x-litellm-model-id", r->deployment_id,
				     strlen(r->deployment_id));
	if (r->model_group)
		HTTPD_ADD_HEADER_LIT(req, "x-litellm-model-group", r->model_group,
				     strlen(r->model_group));
	HTTPD_ADD_HEADER_LIT(req, "x-litellm-attempted-retries", v, fmt_int(v, r->retries));
	HTTPD_ADD_HEADER_LIT(req, "x-litellm-attempted-fallbacks", v, fmt_int(v, r->fallbacks));
	if (with_cost) {
		/* pico-dollars, without printf (%.10g cost 2k instructions a request) */
		n = fmt_fixed(v, r->cost_usd, 12);
		if (!n) {
			int k = snprintf(v, sizeof(v), "%.10g", r->cost_usd);

			n = k < 0 ? 0 : k >= (int)sizeof(v) ? sizeof(v) - 1 : (size_t)k;
		}
		HTTPD_ADD_HEADER_LIT(req, "x-litellm-response-cost", v, n);
		HTTPD_ADD_HEADER_LIT(req, "x-litellm-overhead-duration-ms", v,
				     fmt_ms3(v, r->overhead_ms));
	}
	if (r->retry_after_s > 0)
		HTTPD_ADD_HEADER_LIT(req, "Retry-After", v, fmt_int(v, r->retry_after_s));
}

static void on_client_close(struct httpd_req *req, void *arg)
{
	struct proxy *p = arg;

	p->client_gone = true;
	if (p->call)
		router_cancel(p->call);
}

static void forget_connection(struct proxy *p)
{
	httpd_on_close(p->req, NULL, NULL);
}

static void on_stream_start(struct router_call *c, const struct router_result *r, void *arg)
{
	struct proxy *p = arg;

	httpd_add_header(p->req, "Cache-Control", "no-cache");
	add_result_headers(p->req, r, false);
	httpd_reply_start(p->req, 200, "text/event-stream");
}

static void on_stream_data(struct router_call *c, const char *data, size_t len, void *arg)
{
	struct proxy *p = arg;

	httpd_reply_chunk(p->req, data, len);
}

static void on_done(struct router_call *c, const struct router_result *r, void *arg)
{
	struct proxy *p = arg;

	forget_connection(p);
	/* Every request is answered exactly once, also after the client left: httpd frees a
	 * request whose connection is gone when it is answered. */
	if (r->streamed) {
		httpd_reply_end(p->req);
	} else {
		add_result_headers(p->req, r, r->status == 200);
		httpd_reply(p->req, r->status,
			    r->content_type ? r->content_type : "application/json", r->body,
			    r->body_len);
	}
}

static void on_endpoint(struct httpd_req *req, void *arg)
{
	static const struct router_cbs cbs = {on_stream_start, on_stream_data, on_done, NULL};
	const struct endpoint *e = arg;
	struct server *s = e->s;
	struct router_request q = {.route = e->route};
	struct auth a;
	struct router_caller who = {0};
	struct proxy *p;
	size_t len;
	const char *body;

	if (!authenticate(s, req, &a))
		return;
	who.key_hash = a.hash;
	who.reply_first = true;
	who.key_alias = a.alias;
	who.key = a.key;
	/* In the request, not malloc'd: it lives until the answer, as p must. */
	p = httpd_req_room(req, sizeof(*p));
	p->s = s;
	p->req = req;
	httpd_on_close(req, on_client_close, p);
	/* The router keeps its own copy; httpd drops the body when this handler returns. */
	body = httpd_body_ref(req, &len);
	q.body = body;
	q.len = len;
	q.content_type = httpd_header(req, "Content-Type");
	if (router_call(s->router, &q, &who, &cbs, p, &p->call) < 0) {
		forget_connection(p);
		httpd_reply_error(req, 500, "api_error", "router refused the call");
	}
}

/* ---- /v1/messages: Anthropic's Messages API in front of router_chat (ingress_anthropic.h) */

/* One /v1/messages call. p comes first: on_client_close and on_stream_start take it as the
 * callback argument. */
struct messages_call {
	struct proxy p;
	char *model;				 /* the client's model, reported back */
	struct ingress_anthropic_stream *stream; /* NULL unless streaming */
	struct buf out; /* Anthropic events of one router chunk; bounded by the chunk */
};

/* The router's stream events can be SSE_EVENT_CAP (1 MiB) long, plus "data: ". */
#define MESSAGES_EVENT_CAP (2 * 1024 * 1024)

static void reply_anthropic_error(struct httpd_req *req, long status, const char *message)
{
	char *body = ingress_anthropic_error_message(status, message);

	httpd_reply(req, (int)status, "application/json", body, strlen(body));
	free(body);
}

/* Claude Code sends its key as x-api-key (ANTHROPIC_API_KEY) or as a bearer token
 * (ANTHROPIC_AUTH_TOKEN); either may be the router's. Refusals are in Anthropic's shape. */
static bool messages_auth(struct server *s, struct httpd_req *req, struct auth *a)
{
	const struct config *cfg = s->d.cfg;
	const char *key = httpd_header(req, "x-api-key"), *bearer = httpd_bearer(req);

	a->alias = NULL;
	a->key = NULL;
	if (open_router(cfg)) {
		snprintf(a->hash, sizeof(a->hash), "None");
		return true;
	}
	if (key_matches(s, key, a) || key_matches(s, bearer, a))
		return true;
	log_info("router: refused a /v1/messages request with %s key",
		 key || bearer ? "an unknown" : "no");
	if (cfg->general_settings.master_key_unset) {
		char why[256];

		locked_why(cfg, why, sizeof(why));
		reply_anthropic_error(req, 401, why);
	} else {
		reply_anthropic_error(req, 401,
				      key || bearer ? "invalid x-api-key"
						    : "x-api-key header is required");
	}
	return false;
}

static void messages_send(struct messages_call *m)
{
	if (!m->out.len)
		return;
	httpd_reply_chunk(m->p.req, m->out.data, m->out.len);
	buf_reset(&m->out);
}

static void messages_stream_data(struct router_call *c, const char *data, size_t len, void *arg)
{
	struct messages_call *m = arg;

	ingress_anthropic_stream_feed(m->stream, data, len, &m->out);
	messages_send(m);
}

static void messages_done(struct router_call *c, const struct router_result *r, void *arg)
{
	struct messages_call *m = arg;
	struct httpd_req *req = m->p.req;
	char *body = NULL;

	forget_connection(&m->p);
	if (r->streamed) {
		ingress_anthropic_stream_end(m->stream, &m->out);
		messages_send(m);
		httpd_reply_end(req);
	} else if (r->status == 200) {
		body = ingress_anthropic_answer(r->body, r->body_len, m->model);
		add_result_headers(req, r, body != NULL);
		if (body)
			httpd_reply(req, 200, "application/json", body, strlen(body));
		else
			reply_anthropic_error(req, 502,
					      "the upstream answer is not a chat completion");
	} else {
		body = ingress_anthropic_error(r->status, r->body, r->body_len);
		add_result_headers(req, r, false);
		httpd_reply(req, r->status, "application/json", body, strlen(body));
	}
	free(body);
	ingress_anthropic_stream_destroy(m->stream);
	buf_finish(&m->out);
	free(m->model);
	free(m);
}

static void on_messages(struct httpd_req *req, void *arg)
{
	static const struct router_cbs cbs = {on_stream_start, messages_stream_data, messages_done,
					      NULL};
	struct server *s = arg;
	struct ingress_anthropic_request in;
	struct router_caller who = {0};
	struct messages_call *m;
	struct auth a;
	char err[256];
	const char *body;
	size_t len;
	int rc;

	if (!messages_auth(s, req, &a))
		return;
	body = httpd_body_ref(req, &len);
	rc = ingress_anthropic_request(body, len, &in, err, sizeof(err));
	if (rc < 0) {
		reply_anthropic_error(req, 400, err);
		return;
	}
	who.key_hash = a.hash;
	who.reply_first = true;
	who.key_alias = a.alias;
	who.key = a.key;
	m = xcalloc(1, sizeof(*m));
	m->p.s = s;
	m->p.req = req;
	m->model = xstrdup(in.model);
	buf_init(&m->out, 0);
	if (in.stream)
		m->stream = ingress_anthropic_stream_create(in.model, MESSAGES_EVENT_CAP);
	httpd_on_close(req, on_client_close, &m->p);
	if (router_chat(s->router, in.body, in.body_len, &who, &cbs, m, &m->p.call) < 0) {
		forget_connection(&m->p);
		reply_anthropic_error(req, 500, "router refused the call");
		ingress_anthropic_stream_destroy(m->stream);
		free(m->model);
		free(m);
	}
	ingress_anthropic_request_finish(&in);
}

/* Claude Code asks before a turn; no provider is called: an estimate, the model checked as a
 * call to it would be. */
static void on_count_tokens(struct httpd_req *req, void *arg)
{
	struct server *s = arg;
	const struct config *cfg = s->d.cfg;
	struct ingress_anthropic_request in;
	enum policy_eclass refused;
	struct auth a;
	char err[512], *body;
	size_t len;
	cJSON *root;
	int rc;

	if (!messages_auth(s, req, &a))
		return;
	body = httpd_body(req, &len);
	rc = ingress_anthropic_request(body, len, &in, err, sizeof(err));
	free(body);
	if (rc < 0) {
		reply_anthropic_error(req, 400, err);
		return;
	}
	refused = policy_admit(in.model, NULL, 0, a.key, cfg->model_groups, cfg->n_model_groups,
			       err, sizeof(err));
	if (refused != E_NONE) {
		reply_anthropic_error(req, refused == E_AUTH ? 401 : 400, err);
	} else {
		root = cJSON_CreateObject();
		cJSON_AddNumberToObject(root, "input_tokens",
					(double)ingress_anthropic_count_tokens(&in));
		httpd_reply_json(req, 200, root);
	}
	ingress_anthropic_request_finish(&in);
}

static const struct config_key *key_of(struct server *s, struct httpd_req *req, bool *ok)
{
	struct auth a;

	*ok = authenticate(s, req, &a);
	return a.key;
}

static bool listed(const struct config_key *k, const char *group)
{
	size_t i;

	if (!k || !k->n_models)
		return true;
	for (i = 0; i < k->n_models; i++)
		if (strcmp(k->models[i], group) == 0)
			return true;
	return false;
}

static bool is_group(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_model_groups; i++)
		if (strcmp(cfg->model_groups[i], name) == 0)
			return true;
	return false;
}

static void add_model(cJSON *data, const char *id, int64_t start_wall_ms)
{
	cJSON *m = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "id", id);
	cJSON_AddStringToObject(m, "object", "model");
	cJSON_AddNumberToObject(m, "created", (double)(start_wall_ms / 1000));
	cJSON_AddStringToObject(m, "owned_by", "hermetic");
	cJSON_AddItemToArray(data, m);
}

/* Groups, then the model_group_alias names that are not hidden (as LiteLLM lists them), each
 * when the key may call it. */
static void on_models(struct httpd_req *req, void *arg)
{
	struct server *s = arg;
	const struct config *cfg = s->d.cfg;
	const struct config_router_settings *rs = &cfg->router_settings;
	bool ok;
	const struct config_key *k = key_of(s, req, &ok);
	cJSON *root, *data;
	size_t i;

	if (!ok)
		return;
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "object", "list");
	data = cJSON_AddArrayToObject(root, "data");
	for (i = 0; i < cfg->n_model_groups; i++)
		if (listed(k, cfg->model_groups[i]))
			add_model(data, cfg->model_groups[i], s->d.start_wall_ms);
	for (i = 0; i < rs->n_aliases; i++)
		if (!rs->aliases[i].hidden && !is_group(cfg, rs->aliases[i].alias) &&
		    (listed(k, rs->aliases[i].alias) || listed(k, rs->aliases[i].model)))
			add_model(data, rs->aliases[i].alias, s->d.start_wall_ms);
	httpd_reply_json(req, 200, root);
}

static cJSON *deployment_info(const struct config_model *m)
{
	const struct config_litellm_params *p = &m->litellm_params;
	cJSON *d = cJSON_CreateObject(), *lp, *mi;

	cJSON_AddStringToObject(d, "model_name", m->model_name);
	lp = cJSON_AddObjectToObject(d, "litellm_params");
	cJSON_AddStringToObject(lp, "model", p->model);
	cJSON_AddStringToObject(lp, "api_base", p->api_base);
	if (p->rpm)
		cJSON_AddNumberToObject(lp, "rpm", (double)p->rpm);
	if (p->tpm)
		cJSON_AddNumberToObject(lp, "tpm", (double)p->tpm);
	if (p->timeout_s)
		cJSON_AddNumberToObject(lp, "timeout", (double)p->timeout_s);
	if (p->stream_timeout_s)
		cJSON_AddNumberToObject(lp, "stream_timeout", (double)p->stream_timeout_s);
	mi = cJSON_AddObjectToObject(d, "model_info");
	cJSON_AddStringToObject(mi, "id", m->model_info.id);
	cJSON_AddStringToObject(mi, "litellm_provider", m->provider);
	cJSON_AddNumberToObject(mi, "input_cost_per_token", m->model_info.input_cost_per_token);
	cJSON_AddNumberToObject(mi, "output_cost_per_token", m->model_info.output_cost_per_token);
	if (m->model_info.max_input_tokens)
		cJSON_AddNumberToObject(mi, "max_input_tokens",
					(double)m->model_info.max_input_tokens);
	if (m->model_info.max_output_tokens)
		cJSON_AddNumberToObject(mi, "max_output_tokens",
					(double)m->model_info.max_output_tokens);
	return d;
}

static void on_model_info(struct httpd_req *req, void *arg)
{
	struct server *s = arg;
	const struct config *cfg = s->d.cfg;
	bool ok;
	const struct config_key *k = key_of(s, req, &ok);
	cJSON *root, *data;
	size_t i;

	if (!ok)
		return;
	root = cJSON_CreateObject();
	data = cJSON_AddArrayToObject(root, "data");
	for (i = 0; i < cfg->n_models; i++)
		if (listed(k, cfg->models[i].model_name))
			cJSON_AddItemToArray(data, deployment_info(&cfg->models[i]));
	httpd_reply_json(req, 200, root);
}

static void on_liveliness(struct httpd_req *req, void *arg)
{
	static const char body[] = "\"I'm alive!\"";

	httpd_reply(req, 200, "application/json", body, sizeof(body) - 1);
}

static void on_readiness(struct httpd_req *req, void *arg)
{
	struct server *s = arg;
	cJSON *root = cJSON_CreateObject();

	cJSON_AddStringToObject(root, "status", s->d.stopping ? "stopping" : "healthy");
	cJSON_AddStringToObject(root, "db", s->d.store ? "connected" : "Not connected");
	cJSON_AddStringToObject(root, "litellm_version", version_string());
	cJSON_AddStringToObject(root, "hermetic_revision", version_revision());
	cJSON_AddNumberToObject(root, "in_flight", (double)router_in_flight(s->router));
	httpd_reply_json(req, s->d.stopping ? 503 : 200, root);
}

/* GET /pools: the rate pools' windows, queues and waits (`hermetic pools`). An admin route: with
 * a master key only the master key may read it (a declarative key gets 403). */
static void on_pools(struct httpd_req *req, void *arg)
{
	struct server *s = arg;
	struct auth a;
	char *body;

	if (!authenticate(s, req, &a))
		return;
	if (a.key && s->d.cfg->general_settings.master_key) {
		httpd_reply_error(req, 403, "auth_error", "/pools needs the master key");
		return;
	}
	body = router_pools_json(s->router);
	httpd_reply(req, 200, "application/json", body, strlen(body));
	free(body);
}

static void add_routes(struct server *s)
{
	static const struct {
		enum provider_route route;
		const char *path;
	} posts[] = {
		{PROVIDER_CHAT, "/chat/completions"},
		{PROVIDER_COMPLETIONS, "/completions"},
		{PROVIDER_EMBEDDINGS, "/embeddings"},
		{PROVIDER_TRANSCRIPTIONS, "/audio/transcriptions"},
		{PROVIDER_SPEECH, "/audio/speech"},
		{PROVIDER_RESPONSES, "/responses"},
		{PROVIDER_IMAGES, "/images/generations"},
		{PROVIDER_RERANK, "/rerank"},
		{PROVIDER_IMAGE_EDITS, "/images/edits"},
	};
	static const char *const models[] = {"/v1/models", "/models"};
	static const char *const info[] = {"/model/info", "/v1/model/info"};
	char v1[64];
	unsigned body;
	size_t i;

	for (i = 0; i < ARRAY_LEN(posts); i++) {
		struct endpoint *e = &s->endpoints[posts[i].route];

		e->s = s;
		e->route = posts[i].route;
		snprintf(v1, sizeof(v1), "/v1%s", posts[i].path);
		/* a transcription and an image edit are multipart forms; the rest takes JSON */
		body = posts[i].route == PROVIDER_TRANSCRIPTIONS ||
				       posts[i].route == PROVIDER_IMAGE_EDITS
			       ? 0
			       : HTTPD_JSON;
		httpd_route(s->http, HTTPD_POST | body, v1, on_endpoint, e);
		httpd_route(s->http, HTTPD_POST | body, posts[i].path, on_endpoint, e);
	}
	for (i = 0; i < 2; i++) {
		httpd_route(s->http, HTTPD_GET, models[i], on_models, s);
		httpd_route(s->http, HTTPD_GET, info[i], on_model_info, s);
	}
	httpd_route(s->http, HTTPD_POST | HTTPD_JSON, "/v1/messages", on_messages, s);
	httpd_route(s->http, HTTPD_POST | HTTPD_JSON, "/v1/messages/count_tokens", on_count_tokens,
		    s);
	httpd_route(s->http, HTTPD_GET | HTTPD_HEAD, "/health/liveliness", on_liveliness, s);
	httpd_route(s->http, HTTPD_GET | HTTPD_HEAD, "/health/liveness", on_liveliness, s);
	httpd_route(s->http, HTTPD_GET, "/health/readiness", on_readiness, s);
	httpd_route(s->http, HTTPD_GET, "/pools", on_pools, s);
	httpd_route(s->http, HTTPD_GET, "/v1/pools", on_pools, s);
	daemon_add_health_routes(&s->d, s->http);
}

static void hash_keys(struct server *s, const struct config *cfg)
{
	size_t i;

	if (cfg->general_settings.master_key)
		sha256_hex(cfg->general_settings.master_key,
			   strlen(cfg->general_settings.master_key), s->master_hash);
	s->key_hashes = xcalloc(cfg->n_keys ? cfg->n_keys : 1, sizeof(*s->key_hashes));
	for (i = 0; i < cfg->n_keys; i++)
		sha256_hex(cfg->keys[i].key, strlen(cfg->keys[i].key), s->key_hashes[i]);
}

static void on_stop(struct daemon *d, void *arg)
{
	struct server *s = arg;

	log_info("router: %zu call(s) in flight at shutdown are cancelled",
		 router_in_flight(s->router));
}

int router_server_run(const struct config *cfg)
{
	struct server s = {0};
	/* A no-progress write may last as long as the slowest upstream call may. */
	const struct httpd_opts o = {
		.listen = cfg->router.listen.addr,
		.max_body_bytes = (size_t)cfg->router.max_body_bytes,
		.max_body_key = "router.max_body_bytes",
		.timeout_s = (int)cfg->router_settings.timeout_s + 60,
		.max_connections = (int)cfg->router.max_connections,
		.idle_timeout_s = (int)cfg->router.idle_timeout_s,
		.header_timeout_s = (int)cfg->router.header_timeout_s,
		.body_timeout_s = (int)cfg->router.body_timeout_s,
	};
	int rc = 1;

	if (cfg->n_models == 0)
		log_warn("model_list is empty: every call will be refused");
	if (daemon_init(&s.d, cfg, "router") < 0)
		goto out;
	s.d.on_stop = on_stop;
	s.d.stop_arg = &s;
	hash_keys(&s, cfg);
	s.spend = spend_create(s.d.store, cfg);
	if (!s.spend) {
		log_error("the spend ledger in %s/state.db is unusable; refusing to run without"
			  " budgets (restore the database or move it aside)",
			  cfg->home);
		goto out;
	}
	s.router = router_create(cfg, s.d.loop, s.spend, s.d.metrics);
	if (daemon_listen_opts(&s.d, &o, "router.listen", &s.http) < 0)
		goto out;
	add_routes(&s);
	/* Everything is open and bound: from here on the process is sealed (Landlock, then
	 * seccomp). */
	if (sandbox_seal(cfg) < 0)
		goto out;
	if (daemon_run(&s.d) == 0)
		rc = 0;
out:
	/* The router answers its cancelled calls through the server: destroy it first, with the
	 * server taking no new request meanwhile (httpd_stop_serving). */
	httpd_stop_serving(s.http);
	router_destroy(s.router);
	httpd_destroy(s.http);
	spend_destroy(s.spend);
	daemon_finish(&s.d);
	free(s.key_hashes);
	if (rc == 0)
		log_info("stopped cleanly");
	return rc;
}
