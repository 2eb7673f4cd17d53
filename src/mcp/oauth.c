/* oauth: one MCP server's OAuth 2.1 sign-in on the loop (see oauth.h). One request at a time,
 * each step a function that starts a request and the done callback that reads its answer and
 * starts the next: probe -> resource metadata (each candidate URL in turn) -> authorization
 * server metadata (each in turn) -> client -> authorize (wait for the redirect) -> token. The
 * decisions (which URL, which scope, what the redirect may be) are oauth_meta's pure functions;
 * this file only sequences them and does the I/O. Rejected: following the discovery with a
 * blocking client (the gateway's loop must never wait), and a second JSON-RPC client for the
 * probe (a plain initialize POST is what the spec asks the client to send unauthenticated).
 */
#include "mcp/oauth.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "core/json.h"
#include "core/jws.h"
#include "mcp/oauth_dpop.h"
#include "mcp/oauth_meta.h"
#include "net/httpc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum step { PROBE, PRM, AS, REGISTER, WAIT_REDIRECT, EXCHANGE, TOKEN, FINISHED };

struct discovery;

struct oauth_flow {
	struct loop *loop;
	const struct config_mcp_server *c;
	struct oauth_flow_cbs cbs;
	void *arg;
	long timeout_ms;
	char *redirect_uri, *step_up_scope;
	bool refreshing;
	bool dead;   /* destroyed while a request was in flight: freed by its done callback */
	bool probed; /* the second probe (tools/list) went out */

	enum step step;
	const struct discovery *disc; /* PRM, AS: the step's rules */
	struct httpc_req *req;
	char *urls[OAUTH_MAX_URLS];
	size_t n_urls, at;
	bool legacy; /* no resource metadata: the 2025-03-26 rules */

	struct oauth_challenge ch;
	struct oauth_prm prm;
	struct oauth_as as;
	char *client_id, *client_secret, *reg_method;
	char *verifier, *state, *scope;
	char *jag; /* the ID-JAG the IdP exchanged the id_token for (cross-app access) */
	struct oauth_tokens tok;

	/* the token request in flight (ours or the IdP's), kept for the DPoP nonce retry */
	struct form {
		char *url, *body, *basic; /* basic: the Authorization header line, or NULL */
		bool dpop, retried;
		httpc_done_cb done;
	} form;
};

static void finish(struct oauth_flow *f, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void finish(struct oauth_flow *f, int rc, const char *fmt, ...)
{
	char err[512] = "";
	va_list ap;

	f->step = FINISHED;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(err, sizeof(err), fmt, ap);
		va_end(ap);
	}
	f->cbs.done(f, rc, err, f->arg);
}

static void drop_urls(struct oauth_flow *f)
{
	size_t i;

	for (i = 0; i < f->n_urls; i++)
		free(f->urls[i]);
	f->n_urls = f->at = 0;
}

/* Starts a request; on an error that prevents it, ends the flow. */
static int request(struct oauth_flow *f, const char *method, const char *url,
		   const char *const *headers, const char *body, httpc_done_cb done)
{
	struct httpc_opts o = {
		.method = method,
		.url = url,
		.headers = headers,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.timeout_ms = f->timeout_ms,
		.connect_timeout_ms = f->timeout_ms,
		.max_response_bytes = OAUTH_DOC_CAP,
	};

	if (httpc_start(f->loop, &o, done, f, &f->req) < 0) {
		finish(f, -EIO, "could not start a request to %s", url);
		return -1;
	}
	return 0;
}

/* The body of an answer when it is a 200 (or 201), else NULL. */
static const char *ok_body(struct httpc_req *req, size_t *len)
{
	long st = httpc_status(req);

	if (httpc_result(req) != HTTPC_OK || (st != 200 && st != 201))
		return NULL;
	return httpc_body(req, len);
}

static void free_flow(struct oauth_flow *f);

/* Every done callback first: the request is over; true when the flow was destroyed meanwhile
 * (it is freed now). */
static bool reaped(struct oauth_flow *f)
{
	f->req = NULL;
	if (!f->dead)
		return false;
	free_flow(f);
	return true;
}

static void start_prm(struct oauth_flow *f);
static void start_as(struct oauth_flow *f, const char *issuer);
static void start_client(struct oauth_flow *f);
static void start_authorize(struct oauth_flow *f);
static void start_token(struct oauth_flow *f, const char *code);
static void start_exchange(struct oauth_flow *f);

/* probe: an unauthenticated initialize, for the server's WWW-Authenticate */

static void start_probe_list(struct oauth_flow *f, const char *session);
static void start_probe_discover(struct oauth_flow *f);

static void on_probe(struct httpc_req *req, void *arg)
{
	struct oauth_flow *f = arg;
	const char *h = httpc_header(req, "WWW-Authenticate");
	long st = httpc_status(req);

	if (reaped(f))
		return;
	if (h)
		oauth_challenge_parse(h, &f->ch);
	/* A server that lets initialize through unauthenticated asks for its scope on the first
	 * real request: ask one (tools/list in the session just made) to read that challenge.
	 * One that refused it may speak only the 2026-07-28 wire: ask server/discover there. */
	if (!h && !f->probed && st >= 200 && st < 300) {
		char *session = xstrdup(httpc_header(req, "Mcp-Session-Id"));

		f->probed = true;
		start_probe_list(f, session);
		free(session);
		return;
	}
	if (!h && !f->probed && st >= 400 && st < 500) {
		f->probed = true;
		start_probe_discover(f);
		return;
	}
	start_prm(f);
}

static void start_probe_list(struct oauth_flow *f, const char *session)
{
	static const char body[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}";
	char *hs[5] = {xstrdup("Content-Type: application/json"),
		       xstrdup("Accept: application/json, text/event-stream"),
		       xstrdup("MCP-Protocol-Version: 2025-11-25"), NULL, NULL};

	if (session && *session && !strpbrk(session, "\r\n"))
		hs[3] = xasprintf("Mcp-Session-Id: %s", session);
	request(f, "POST", f->c->url, (const char *const *)hs, body, on_probe);
	free(hs[0]);
	free(hs[1]);
	free(hs[2]);
	free(hs[3]);
}

static void start_probe_discover(struct oauth_flow *f)
{
	static const char *const hs[] = {
		"Content-Type: application/json", "Accept: application/json, text/event-stream",
		"MCP-Protocol-Version: 2026-07-28", "Mcp-Method: server/discover", NULL};
	static const char body[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server/"
				   "discover\",\"params\":{\"_meta\":{"
				   "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
				   "\"io.modelcontextprotocol/clientCapabilities\":{},"
				   "\"io.modelcontextprotocol/"
				   "clientInfo\":{\"name\":\"hermetic\",\"version\":\"1\"}}}}";

	request(f, "POST", f->c->url, hs, body, on_probe);
}

static void start_probe(struct oauth_flow *f)
{
	static const char *const hs[] = {"Content-Type: application/json",
					 "Accept: application/json, text/event-stream", NULL};
	static const char body[] =
		"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
		"\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{"
		"\"name\":\"hermetic\",\"version\":\"1\"}}}";

	f->step = PROBE;
	request(f, "POST", f->c->url, hs, body, on_probe);
}

/* discovery: each candidate URL of a step in turn, until one answers a document that parses */

struct discovery {
	enum step step;
	/* Reads a document into the flow: 0, or -1 (the next URL is tried). */
	int (*parse)(struct oauth_flow *f, const char *body, size_t len);
	void (*took)(struct oauth_flow *f); /* one parsed; f->urls[f->at] is its URL */
	void (*none)(struct oauth_flow *f); /* none did (f->urls is empty again) */
};

static void next_doc(struct oauth_flow *f);

static void on_doc(struct httpc_req *req, void *arg)
{
	struct oauth_flow *f = arg;
	size_t len = 0;
	const char *body = ok_body(req, &len);

	if (reaped(f))
		return;
	if (!body || f->disc->parse(f, body, len) < 0) {
		f->at++;
		next_doc(f);
		return;
	}
	f->disc->took(f);
}

static void next_doc(struct oauth_flow *f)
{
	if (f->at < f->n_urls) {
		request(f, "GET", f->urls[f->at], NULL, NULL, on_doc);
		return;
	}
	drop_urls(f);
	f->disc->none(f);
}

/* Runs step d over the candidates the caller put in f->urls. */
static void discover(struct oauth_flow *f, const struct discovery *d)
{
	f->step = d->step;
	f->disc = d;
	f->at = 0;
	next_doc(f);
}

/* protected resource metadata */

static int parse_prm(struct oauth_flow *f, const char *body, size_t len)
{
	char err[200];

	return oauth_prm_parse(body, len, &f->prm, err, sizeof(err));
}

static void took_prm(struct oauth_flow *f)
{
	if (f->prm.resource && !oauth_resource_allowed(f->c->url, f->prm.resource)) {
		finish(f, -EPERM,
		       "the protected resource metadata at %s is for %s, not for %s: refusing to "
		       "sign in",
		       f->urls[f->at], f->prm.resource, f->c->url);
		return;
	}
	drop_urls(f);
	start_as(f, f->prm.auth_server);
}

/* No resource metadata: the 2025-03-26 revision's discovery at the server's origin. */
static void no_prm(struct oauth_flow *f)
{
	char *origin = oauth_origin(f->c->url);

	f->legacy = true;
	start_as(f, origin);
	free(origin);
}

static const struct discovery prm_step = {PRM, parse_prm, took_prm, no_prm};

static void start_prm(struct oauth_flow *f)
{
	f->n_urls = oauth_prm_urls(f->c->url, f->ch.resource_metadata, f->urls);
	discover(f, &prm_step);
}

/* authorization server metadata */

static bool same_issuer(const char *a, const char *b)
{
	size_t la = a ? strlen(a) : 0, lb = strlen(b);

	while (la && a[la - 1] == '/')
		la--;
	while (lb && b[lb - 1] == '/')
		lb--;
	return a && la == lb && strncmp(a, b, la) == 0;
}

static int parse_as(struct oauth_flow *f, const char *body, size_t len)
{
	char err[200];

	return oauth_as_parse(body, len, &f->as, err, sizeof(err));
}

static void took_as(struct oauth_flow *f)
{
	/* RFC 8414 3.3: metadata naming another issuer than the one its URL was made from is
	 * not used (a trailing '/' aside), whatever endpoints it offers. */
	if (f->prm.auth_server && !same_issuer(f->as.issuer, f->prm.auth_server)) {
		finish(f, -EPROTO,
		       "the authorization server metadata at %s names the issuer %s, not %s "
		       "(RFC 8414 3.3); it is not used",
		       f->urls[f->at], f->as.issuer ? f->as.issuer : "(none)", f->prm.auth_server);
		return;
	}
	drop_urls(f);
	start_client(f);
}

static void no_as(struct oauth_flow *f)
{
	if (f->legacy && oauth_as_default(f->c->url, &f->as) == 0) {
		start_client(f);
		return;
	}
	finish(f, -ENOENT, "no authorization server metadata for %s (RFC 8414 or OpenID discovery)",
	       f->prm.auth_server ? f->prm.auth_server : f->c->url);
}

static const struct discovery as_step = {AS, parse_as, took_as, no_as};

static void start_as(struct oauth_flow *f, const char *issuer)
{
	f->n_urls = oauth_as_urls(issuer, f->urls);
	/* 2025-03-26: only RFC 8414's URL at the server's origin */
	if (f->legacy)
		while (f->n_urls > 1)
			free(f->urls[--f->n_urls]);
	discover(f, &as_step);
}

/* the client: configured, a metadata document, or registered now */

/* The JSON of an answer when it is a 200 (or 201), else NULL. */
static cJSON *ok_json(struct httpc_req *req)
{
	size_t len = 0;
	const char *body = ok_body(req, &len);

	return body ? json_parse(body, len, 0, NULL) : NULL;
}

static void on_register(struct httpc_req *req, void *arg)
{
	struct oauth_flow *f = arg;
	const cJSON *id, *sec, *m;
	cJSON *o;

	if (reaped(f))
		return;
	o = ok_json(req);
	id = cJSON_GetObjectItemCaseSensitive(o, "client_id");
	sec = cJSON_GetObjectItemCaseSensitive(o, "client_secret");
	m = cJSON_GetObjectItemCaseSensitive(o, "token_endpoint_auth_method");
	if (!cJSON_IsString(id) || !id->valuestring[0]) {
		cJSON_Delete(o);
		finish(f, -EIO, "dynamic client registration at %s failed (HTTP %ld)",
		       f->as.registration_endpoint, httpc_status(req));
		return;
	}
	f->client_id = xstrdup(id->valuestring);
	if (cJSON_IsString(sec) && sec->valuestring[0]) {
		f->client_secret = xstrdup(sec->valuestring);
		log_add_secret(f->client_secret);
	}
	if (cJSON_IsString(m))
		f->reg_method = xstrdup(m->valuestring);
	cJSON_Delete(o);
	start_authorize(f);
}

static void start_register(struct oauth_flow *f)
{
	static const char *const hs[] = {"Content-Type: application/json",
					 "Accept: application/json", NULL};
	struct buf b;

	f->step = REGISTER;
	buf_init(&b, 0);
	buf_puts(&b, "{\"client_name\":\"hermetic\",\"redirect_uris\":[");
	buf_json_str(&b, f->redirect_uri, strlen(f->redirect_uri));
	buf_puts(&b, "],\"grant_types\":[\"authorization_code\",\"refresh_token\"],"
		     "\"response_types\":[\"code\"],\"token_endpoint_auth_method\":\"none\","
		     "\"application_type\":\"native\"}");
	request(f, "POST", f->as.registration_endpoint, hs, buf_str(&b), on_register);
	buf_finish(&b);
}

static void start_client(struct oauth_flow *f)
{
	const struct config_mcp_oauth *o = &f->c->oauth;

	if (o->dpop && !oauth_dpop_alg_ok(f->as.dpop_algs)) {
		finish(f, -ENOTSUP,
		       "oauth.dpop: the authorization server's dpop_signing_alg_values_supported "
		       "(%s) does not list ES256, the only algorithm hermetic signs DPoP proofs "
		       "with",
		       f->as.dpop_algs);
		return;
	}

	if (o->client_id) {
		f->client_id = xstrdup(o->client_id);
		f->client_secret = xstrdup(o->client_secret);
	} else if (o->client_metadata_url && f->as.cimd) {
		f->client_id = xstrdup(o->client_metadata_url);
	}
	if (o->grant != CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE) {
		if (!f->client_id) {
			finish(f, -EINVAL, "the %s grant needs oauth.client_id",
			       o->grant == CONFIG_OAUTH_GRANT_CLIENT_CREDENTIALS
				       ? "client_credentials"
				       : "jwt-bearer");
			return;
		}
		if (o->grant == CONFIG_OAUTH_GRANT_JWT_BEARER && !o->assertion)
			start_exchange(f);
		else
			start_token(f, NULL);
		return;
	}
	if (!f->redirect_uri) {
		finish(f, -EINVAL, "signing in needs a person: run hermetic mcp login %s",
		       f->c->name);
		return;
	}
	if (f->client_id) {
		start_authorize(f);
		return;
	}
	if (!f->as.registration_endpoint) {
		finish(f, -ENOENT,
		       "the authorization server offers no dynamic client registration: register "
		       "a client there and set oauth.client_id (or oauth.client_metadata_url)");
		return;
	}
	start_register(f);
}

/* authorization code with PKCE */

static const char *resource_of(const struct oauth_flow *f)
{
	if (f->legacy)
		return NULL;
	return f->prm.resource ? f->prm.resource : f->c->url;
}

static void param(struct buf *b, const char *name, const char *value)
{
	if (!value)
		return;
	if (b->len && b->data[b->len - 1] != '?')
		buf_puts(b, "&");
	buf_puts(b, name);
	buf_puts(b, "=");
	oauth_form_escape(b, value);
}

static char *configured_scopes(const struct config_mcp_oauth *o)
{
	struct buf b;
	size_t i;

	if (!o->n_scopes)
		return NULL;
	buf_init(&b, 0);
	for (i = 0; i < o->n_scopes; i++) {
		if (i)
			buf_puts(&b, " ");
		buf_puts(&b, o->scopes[i]);
	}
	return buf_steal(&b);
}

static void pick_scope(struct oauth_flow *f)
{
	char *conf = configured_scopes(&f->c->oauth), *s;

	s = oauth_pick_scope(conf, f->ch.scope, f->prm.scopes, f->as.scopes,
			     f->as.refresh &&
				     f->c->oauth.grant == CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE);
	free(f->scope);
	if (f->step_up_scope) {
		f->scope = oauth_scope_union(s, f->step_up_scope);
		free(s);
	} else {
		f->scope = s;
	}
	free(conf);
}

static void start_authorize(struct oauth_flow *f)
{
	char *challenge;
	struct buf b;

	if (!f->as.s256) {
		finish(f, -ENOTSUP,
		       "the authorization server does not list PKCE S256 "
		       "(code_challenge_methods_supported): refusing to sign in");
		return;
	}
	if (!f->as.authorization_endpoint) {
		finish(f, -ENOENT,
		       "the authorization server metadata has no "
		       "authorization_endpoint");
		return;
	}
	f->verifier = oauth_random_b64url(32);
	f->state = oauth_random_b64url(16);
	log_add_secret(f->verifier);
	pick_scope(f);
	challenge = oauth_pkce_challenge(f->verifier);
	buf_init(&b, 0);
	buf_puts(&b, f->as.authorization_endpoint);
	buf_puts(&b, strchr(f->as.authorization_endpoint, '?') ? "&" : "?");
	param(&b, "response_type", "code");
	param(&b, "client_id", f->client_id);
	param(&b, "redirect_uri", f->redirect_uri);
	param(&b, "code_challenge", challenge);
	param(&b, "code_challenge_method", "S256");
	param(&b, "state", f->state);
	param(&b, "scope", f->scope);
	param(&b, "resource", resource_of(f));
	free(challenge);
	f->step = WAIT_REDIRECT;
	f->cbs.authorize(f, buf_str(&b), f->arg);
	buf_finish(&b);
}

void oauth_flow_redirect(struct oauth_flow *f, const char *query)
{
	struct oauth_redirect r;
	char err[400];

	if (!f || f->step != WAIT_REDIRECT)
		return;
	if (oauth_redirect_parse(query, &r) < 0) {
		finish(f, -EINVAL, "the redirect's query is malformed");
		return;
	}
	if (oauth_redirect_check(&r, f->state, f->as.issuer, f->as.iss_response, err, sizeof(err)) <
	    0) {
		oauth_redirect_finish(&r);
		finish(f, -EPERM, "%s", err);
		return;
	}
	start_token(f, r.code);
	oauth_redirect_finish(&r);
}

/* token requests: one form POST to a token endpoint, client authentication, the DPoP proof */

static void free_form(struct form *fm)
{
	free(fm->url);
	free(fm->body);
	free(fm->basic);
	memset(fm, 0, sizeof(*fm));
}

/* RFC 6749 2.3.1: the Authorization line of client_secret_basic, each part form-encoded. */
static char *basic_auth(const char *id, const char *secret)
{
	struct buf pair, line;

	buf_init(&pair, 0);
	oauth_form_escape(&pair, id);
	buf_puts(&pair, ":");
	oauth_form_escape(&pair, secret);
	buf_init(&line, 0);
	buf_puts(&line, "Authorization: Basic ");
	buf_base64(&line, pair.data, pair.len);
	buf_finish(&pair);
	return buf_steal(&line);
}

/* Sends f->form (again, after a nonce); on an error that prevents it, ends the flow. */
static void send_form(struct oauth_flow *f)
{
	struct form *fm = &f->form;
	const char *hs[5] = {"Content-Type: application/x-www-form-urlencoded",
			     "Accept: application/json", NULL, NULL, NULL};
	char *proof = NULL;
	size_t n = 2;

	if (fm->basic)
		hs[n++] = fm->basic;
	if (fm->dpop) {
		char err[256];

		if (!f->tok.dpop_key) {
			f->tok.dpop_key = jws_ec_key_create(err, sizeof(err));
			if (f->tok.dpop_key)
				oauth_tokens_hide(&f->tok);
		}
		proof = f->tok.dpop_key ? oauth_dpop_header(f->tok.dpop_key, "POST", fm->url, NULL,
							    err, sizeof(err))
					: NULL;
		if (!proof) {
			finish(f, -EINVAL, "DPoP: %s", err);
			return;
		}
		hs[n++] = proof;
	}
	request(f, "POST", fm->url, hs, fm->body, fm->done);
	free(proof);
}

/* POSTs the form body (taken) to url; basic (taken) is the Authorization line or NULL; with
 * dpop, a proof goes along (url is the token endpoint of a server that signs in with DPoP). */
static void post_form(struct oauth_flow *f, const char *url, char *body, char *basic, bool dpop,
		      httpc_done_cb done)
{
	free_form(&f->form);
	f->form.url = xstrdup(url);
	f->form.body = body;
	f->form.basic = basic;
	f->form.dpop = dpop;
	f->form.done = done;
	send_form(f);
}

/* A token answer that carries a DPoP nonce: remembered for the endpoint's origin; true when
 * it was a use_dpop_nonce error (RFC 9449 8) and the request went out again with it, once. */
static bool nonce_retry(struct oauth_flow *f, struct httpc_req *req)
{
	const char *nonce = httpc_header(req, "DPoP-Nonce");
	size_t len = 0;
	const char *body = httpc_result(req) == HTTPC_OK ? httpc_body(req, &len) : NULL;

	if (!f->form.dpop || !nonce || !oauth_dpop_nonce_set(f->form.url, nonce))
		return false;
	if (f->form.retried || httpc_status(req) != 400 || !body ||
	    !oauth_dpop_nonce_error(body, len))
		return false;
	f->form.retried = true;
	send_form(f);
	return true;
}

/* token */

enum client_auth { AUTH_NONE, AUTH_BASIC, AUTH_POST, AUTH_JWT };

static enum client_auth client_auth(const struct oauth_flow *f, const char *secret)
{
	switch (f->c->oauth.client_auth) {
	case CONFIG_OAUTH_CLIENT_AUTH_BASIC:
		return AUTH_BASIC;
	case CONFIG_OAUTH_CLIENT_AUTH_POST:
		return AUTH_POST;
	case CONFIG_OAUTH_CLIENT_AUTH_NONE:
		return AUTH_NONE;
	case CONFIG_OAUTH_CLIENT_AUTH_PRIVATE_KEY_JWT:
		return AUTH_JWT;
	case CONFIG_OAUTH_CLIENT_AUTH_AUTO:
		break;
	}
	if (f->c->oauth.private_key)
		return AUTH_JWT;
	if (!secret)
		return AUTH_NONE;
	if (f->reg_method)
		return strcmp(f->reg_method, "client_secret_post") == 0 ? AUTH_POST
		       : strcmp(f->reg_method, "none") == 0		? AUTH_NONE
									: AUTH_BASIC;
	if (f->as.auth_methods && !oauth_scope_has(f->as.auth_methods, "client_secret_basic") &&
	    oauth_scope_has(f->as.auth_methods, "client_secret_post"))
		return AUTH_POST;
	return AUTH_BASIC;
}

/* private_key_jwt (RFC 7523 2.2): the client's own assertion, iss = sub = client_id, aud =
 * the authorization server's issuer (its token endpoint when it names none), five minutes. */
static char *client_assertion(struct oauth_flow *f, char *err, size_t err_len)
{
	const char *aud = f->as.issuer ? f->as.issuer : f->tok.token_endpoint;
	char *jti = oauth_random_b64url(16), *claims, *jwt;
	struct buf b;
	long long now = now_wall_ms() / 1000;

	buf_init(&b, 0);
	buf_puts(&b, "{\"iss\":");
	buf_json_str(&b, f->tok.client_id, strlen(f->tok.client_id));
	buf_puts(&b, ",\"sub\":");
	buf_json_str(&b, f->tok.client_id, strlen(f->tok.client_id));
	buf_puts(&b, ",\"aud\":");
	buf_json_str(&b, aud, strlen(aud));
	buf_printf(&b, ",\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\"}", now, now + 300, jti);
	claims = buf_steal(&b);
	jwt = jws_sign("JWT", claims, f->c->oauth.private_key, JWS_RS256 | JWS_ES256,
		       "oauth.private_key", err, err_len);
	free(claims);
	free(jti);
	return jwt;
}

static void on_token(struct httpc_req *req, void *arg)
{
	struct oauth_flow *f = arg;
	size_t len = 0;
	const char *body = httpc_result(req) == HTTPC_OK ? httpc_body(req, &len) : NULL;
	struct oauth_token t;
	char err[400];

	if (reaped(f) || nonce_retry(f, req))
		return;
	if (!body) {
		finish(f, -EIO, "the token endpoint %s did not answer: %s", f->tok.token_endpoint,
		       httpc_error(req));
		return;
	}
	if (oauth_token_parse(httpc_status(req), body, len, &t, err, sizeof(err)) < 0) {
		finish(f, -EACCES, "%s", err);
		return;
	}
	free(f->tok.access_token);
	f->tok.access_token = t.access_token;
	if (t.refresh_token) { /* a refresh may keep the old refresh token */
		free(f->tok.refresh_token);
		f->tok.refresh_token = t.refresh_token;
	}
	free(f->tok.scope);
	f->tok.scope = t.scope ? t.scope : xstrdup(f->scope);
	f->tok.expires_at_ms = t.expires_in_s ? now_wall_ms() + t.expires_in_s * 1000 : 0;
	free(f->tok.token_type);
	f->tok.token_type = t.token_type;
	if (f->c->oauth.dpop && !oauth_tokens_dpop(&f->tok))
		log_warn("mcp %s: the authorization server gave a %s token, not a DPoP-bound one",
			 f->c->name, f->tok.token_type);
	oauth_tokens_hide(&f->tok);
	finish(f, 0, NULL);
}

static void start_token(struct oauth_flow *f, const char *code)
{
	const struct config_mcp_oauth *o = &f->c->oauth;
	const char *secret;
	enum client_auth how;
	struct buf b;

	f->step = TOKEN;
	if (!f->refreshing) {
		f->tok.url = xstrdup(f->c->url);
		f->tok.client_id = xstrdup(f->client_id);
		f->tok.client_secret = xstrdup(f->client_secret);
		f->tok.token_endpoint = xstrdup(f->as.token_endpoint);
		f->tok.resource = xstrdup(resource_of(f));
	}
	secret = f->tok.client_secret;
	how = client_auth(f, secret);
	buf_init(&b, 0);
	if (f->refreshing) {
		param(&b, "grant_type", "refresh_token");
		param(&b, "refresh_token", f->tok.refresh_token);
	} else if (code) {
		param(&b, "grant_type", "authorization_code");
		param(&b, "code", code);
		param(&b, "redirect_uri", f->redirect_uri);
		param(&b, "code_verifier", f->verifier);
	} else if (o->grant == CONFIG_OAUTH_GRANT_CLIENT_CREDENTIALS) {
		pick_scope(f);
		param(&b, "grant_type", "client_credentials");
		param(&b, "scope", f->scope);
	} else {
		pick_scope(f);
		param(&b, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
		param(&b, "assertion", f->jag ? f->jag : o->assertion);
		param(&b, "scope", f->scope);
	}
	param(&b, "resource", f->tok.resource);
	if (how != AUTH_BASIC)
		param(&b, "client_id", f->tok.client_id);
	if (how == AUTH_POST)
		param(&b, "client_secret", secret);
	if (how == AUTH_JWT) {
		char err[256];
		char *jwt = f->tok.client_id ? client_assertion(f, err, sizeof(err)) : NULL;

		if (!jwt) {
			buf_finish(&b);
			finish(f, -EINVAL, "%s",
			       f->tok.client_id ? err : "private_key_jwt needs a client_id");
			return;
		}
		param(&b, "client_assertion_type",
		      "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
		param(&b, "client_assertion", jwt);
		free(jwt);
	}
	post_form(f, f->tok.token_endpoint, buf_steal(&b),
		  how == AUTH_BASIC ? basic_auth(f->tok.client_id, secret) : NULL, o->dpop,
		  on_token);
}

/* cross-app access (SEP-990): the id_token exchanged at the IdP for an ID-JAG (RFC 8693) */

static void on_exchange(struct httpc_req *req, void *arg)
{
	struct oauth_flow *f = arg;
	const cJSON *at, *type;
	cJSON *o;

	if (reaped(f))
		return;
	o = ok_json(req);
	at = cJSON_GetObjectItemCaseSensitive(o, "access_token");
	type = cJSON_GetObjectItemCaseSensitive(o, "issued_token_type");
	if (!cJSON_IsString(at) || !at->valuestring[0] || !cJSON_IsString(type) ||
	    strcmp(type->valuestring, "urn:ietf:params:oauth:token-type:id-jag") != 0) {
		cJSON_Delete(o);
		finish(f, -EACCES, "the IdP's token exchange at %s gave no ID-JAG (HTTP %ld)",
		       f->c->oauth.idp_token_endpoint, httpc_status(req));
		return;
	}
	f->jag = xstrdup(at->valuestring);
	log_add_secret(f->jag);
	cJSON_Delete(o);
	start_token(f, NULL);
}

static void start_exchange(struct oauth_flow *f)
{
	const struct config_mcp_oauth *o = &f->c->oauth;
	const char *aud = f->as.issuer ? f->as.issuer : f->as.token_endpoint;
	struct buf b;

	f->step = EXCHANGE;
	buf_init(&b, 0);
	param(&b, "grant_type", "urn:ietf:params:oauth:grant-type:token-exchange");
	param(&b, "requested_token_type", "urn:ietf:params:oauth:token-type:id-jag");
	param(&b, "subject_token", o->id_token);
	param(&b, "subject_token_type", "urn:ietf:params:oauth:token-type:id_token");
	param(&b, "audience", aud);
	param(&b, "resource", resource_of(f));
	pick_scope(f);
	param(&b, "scope", f->scope);
	if (!o->idp_client_secret)
		param(&b, "client_id", o->idp_client_id);
	/* The IdP is not the server's authorization server: no DPoP proof goes there. */
	post_form(f, o->idp_token_endpoint, buf_steal(&b),
		  o->idp_client_secret ? basic_auth(o->idp_client_id, o->idp_client_secret) : NULL,
		  false, on_exchange);
}

/* the flow */

struct oauth_flow *oauth_flow_start(struct loop *l, const struct config_mcp_server *c,
				    const struct oauth_flow_opts *o,
				    const struct oauth_flow_cbs *cbs, void *arg)
{
	struct oauth_flow *f;

	if (!c->url || c->auth != CONFIG_MCP_AUTH_OAUTH)
		return NULL;
	f = xcalloc(1, sizeof(*f));
	f->loop = l;
	f->c = c;
	f->cbs = *cbs;
	f->arg = arg;
	f->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	f->redirect_uri = xstrdup(o->redirect_uri);
	f->step_up_scope = xstrdup(o->step_up_scope);
	if (c->oauth.dpop) /* the key made once; send_form makes it when there is none yet */
		f->tok.dpop_key = xstrdup(o->refresh ? o->refresh->dpop_key : o->dpop_key);
	if (o->refresh) {
		const struct oauth_tokens *r = o->refresh;

		if (!r->refresh_token || !r->token_endpoint) {
			oauth_flow_destroy(f);
			return NULL;
		}
		f->refreshing = true;
		f->tok.url = xstrdup(r->url);
		f->tok.client_id = xstrdup(r->client_id);
		f->tok.client_secret = xstrdup(r->client_secret);
		f->tok.token_endpoint = xstrdup(r->token_endpoint);
		f->tok.resource = xstrdup(r->resource);
		f->tok.refresh_token = xstrdup(r->refresh_token);
		f->scope = xstrdup(r->scope);
		start_token(f, NULL);
	} else {
		start_probe(f);
	}
	return f;
}

const struct oauth_tokens *oauth_flow_tokens(const struct oauth_flow *f)
{
	return &f->tok;
}

const char *oauth_flow_state(const struct oauth_flow *f)
{
	return f->step == WAIT_REDIRECT ? f->state : NULL;
}

static void free_flow(struct oauth_flow *f)
{
	drop_urls(f);
	oauth_challenge_finish(&f->ch);
	oauth_prm_finish(&f->prm);
	oauth_as_finish(&f->as);
	free(f->client_id);
	free(f->client_secret);
	free(f->reg_method);
	free(f->verifier);
	free(f->state);
	free(f->scope);
	log_drop_secret(f->jag); /* used once, by this flow: the registrations stay bounded */
	free(f->jag);
	free(f->redirect_uri);
	free(f->step_up_scope);
	free_form(&f->form);
	oauth_tokens_finish(&f->tok);
	free(f);
}

void oauth_flow_destroy(struct oauth_flow *f)
{
	if (!f)
		return;
	if (f->req) { /* its done callback still fires (httpc's contract): it frees */
		f->dead = true;
		httpc_cancel(f->req);
		return;
	}
	free_flow(f);
}
