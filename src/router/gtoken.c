/* gtoken: Google access tokens (service accounts, gcloud's authorized users, the metadata
 * server), cached per account, one exchange in flight at a time (see gtoken.h). Owns the accounts'
 * state and their httpc requests; the JWT and the token answer are providers/gauth.c's pure
 * functions. Rejected: a waiter list per account (the router already lists its calls and knows
 * which wait: ready() is enough), blocking the first call's thread on the exchange (nothing blocks
 * the loop).
 */
#include "router/gtoken.h"
#include "router/providers/gauth.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/httpc.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define EXCHANGE_TIMEOUT_MS 30000
#define ANSWER_CAP	    (64 * 1024)
#define MAX_ACCOUNTS	    64

struct gtoken_account {
	struct gtoken *g;
	const struct config_gcp_account *acct;
	char *token;
	int64_t refresh_at_ms; /* the token is used before this (monotonic) */
	int64_t expires_ms;    /* and Google honours it until this */
	char *prev_token;      /* the one before, a secret until prev_expires_ms */
	int64_t prev_expires_ms;
	struct httpc_req *http; /* the exchange in flight, or NULL */
	uint64_t next_seq;	/* exchanges started */
	uint64_t done_seq;	/* the last one that ended */
	long fail_status;	/* of done_seq; 0 = it gave a token */
	char fail_msg[400];
	char *project; /* the metadata server's project id (acct->project_uri), once known */
};

struct gtoken {
	struct loop *loop;
	gtoken_ready_cb ready;
	void *arg;
	struct gtoken_account *accounts[MAX_ACCOUNTS];
	size_t n;
	bool closing;
};

struct gtoken *gtoken_create(struct loop *loop, gtoken_ready_cb ready, void *arg)
{
	struct gtoken *g = xcalloc(1, sizeof(*g));

	g->loop = loop;
	g->ready = ready;
	g->arg = arg;
	return g;
}

/* A token is a secret for the log and every error text while Google may honour it. */
static void forget(char *token)
{
	log_drop_secret(token);
	free(token);
}

/* The previous token once it has expired. */
static void expire_prev(struct gtoken_account *a, int64_t now_ms)
{
	if (a->prev_token && now_ms >= a->prev_expires_ms) {
		forget(a->prev_token);
		a->prev_token = NULL;
	}
}

/* A new token: registered before any request carries it; the one it replaces stays a secret
 * until it expires (a request sent with it may still be answered); an older one goes. */
static void keep_token(struct gtoken_account *a, char *token, int64_t expires_in_s)
{
	int64_t now = now_mono_ms();

	log_add_secret(token);
	expire_prev(a, now);
	if (a->token) {
		forget(a->prev_token);
		a->prev_token = a->token;
		a->prev_expires_ms = a->expires_ms;
	}
	a->token = token;
	a->expires_ms = now + (expires_in_s > 0 ? expires_in_s : 0) * 1000;
	a->refresh_at_ms = gauth_refresh_at_ms(now, expires_in_s);
}

void gtoken_destroy(struct gtoken *g)
{
	size_t i, spins;
	bool busy = true;

	if (!g)
		return;
	g->closing = true;
	for (i = 0; i < g->n; i++)
		if (g->accounts[i]->http)
			httpc_cancel(g->accounts[i]->http);
	/* httpc's done fires from the loop, exactly once: let it, before the accounts go. */
	for (spins = 0; busy && spins < 1000; spins++) {
		busy = false;
		for (i = 0; i < g->n; i++)
			busy = busy || g->accounts[i]->http;
		if (busy)
			event_base_loop(loop_base(g->loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	for (i = 0; i < g->n; i++) {
		forget(g->accounts[i]->token);
		forget(g->accounts[i]->prev_token);
		free(g->accounts[i]->project);
		free(g->accounts[i]);
	}
	free(g);
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

struct gtoken_account *gtoken_account(struct gtoken *g, const struct config_gcp_account *acct)
{
	struct gtoken_account *a;
	size_t i;

	for (i = 0; i < g->n; i++) {
		const struct config_gcp_account *o = g->accounts[i]->acct;

		if (o->kind == acct->kind && same(o->client_email, acct->client_email) &&
		    same(o->token_uri, acct->token_uri) &&
		    same(o->project_uri, acct->project_uri) &&
		    same(o->private_key, acct->private_key) &&
		    same(o->refresh_token, acct->refresh_token))
			return g->accounts[i];
	}
	if (g->n == MAX_ACCOUNTS)
		return NULL;
	a = xcalloc(1, sizeof(*a));
	a->g = g;
	a->acct = acct;
	g->accounts[g->n++] = a;
	return a;
}

static void fail(struct gtoken_account *a, long status, const char *why)
{
	a->fail_status = status;
	snprintf(a->fail_msg, sizeof(a->fail_msg),
		 "vertex_ai: no access token for %.120s from %.120s: %s", a->acct->client_email,
		 a->acct->token_uri, why);
	log_warn("%s", a->fail_msg);
}

static void start_project(struct gtoken_account *a);

/* A project id as the metadata server answers it (text): letters, digits, '-', '.', ':'
 * (domain-scoped ids), at most 100; surrounding blanks dropped. NULL when it is not one. */
static char *project_of(const char *body, size_t len)
{
	size_t i;

	while (len && strchr(" \t\r\n", body[len - 1]))
		len--;
	while (len && strchr(" \t\r\n", *body)) {
		body++;
		len--;
	}
	if (len == 0 || len > 100)
		return NULL;
	for (i = 0; i < len; i++)
		if (!((body[i] >= 'a' && body[i] <= 'z') || (body[i] >= '0' && body[i] <= '9') ||
		      strchr("-.:", body[i])))
			return NULL;
	return xstrndup(body, len);
}

static void on_project_done(struct httpc_req *req, void *arg)
{
	struct gtoken_account *a = arg;
	const char *body;
	size_t len = 0;
	long status = httpc_status(req);

	a->http = NULL;
	a->done_seq = a->next_seq;
	a->fail_status = 0;
	if (a->g->closing)
		return;
	body = httpc_result(req) == HTTPC_OK ? httpc_body(req, &len) : NULL;
	if (body && status == 200)
		a->project = project_of(body, len);
	if (!a->project) {
		a->fail_status = 502;
		snprintf(a->fail_msg, sizeof(a->fail_msg),
			 "vertex_ai: no project named (vertex_project, VERTEXAI_PROJECT) and the "
			 "metadata server at %.120s did not give one (%.120s)",
			 a->acct->project_uri,
			 body ? (status == 200 ? "not a project id" : "its answer was not 200")
			      : httpc_error(req));
		log_warn("%s", a->fail_msg);
	}
	a->g->ready(a, a->g->arg);
}

static void on_exchange_done(struct httpc_req *req, void *arg)
{
	struct gtoken_account *a = arg;
	enum httpc_result res = httpc_result(req);
	char why[320] = "";
	const char *body;
	size_t len = 0;
	char *token = NULL;
	int64_t expires_in = 0;
	long status = httpc_status(req);

	a->http = NULL;
	a->done_seq = a->next_seq;
	a->fail_status = 0;
	if (a->g->closing)
		return;
	if (res != HTTPC_OK) {
		fail(a, res == HTTPC_TIMEOUT || res == HTTPC_FIRST_BYTE ? 504 : 502,
		     httpc_error(req));
	} else {
		body = httpc_body(req, &len);
		if (gauth_token_answer(status, body, len, &token, &expires_in, why, sizeof(why)) <
		    0)
			fail(a, status >= 400 && status < 500 ? 401 : 502, why);
	}
	if (token)
		keep_token(a, token, expires_in);
	if (token && a->acct->project_uri && !a->project) {
		start_project(a); /* ready fires when that ends */
		return;
	}
	a->g->ready(a, a->g->arg);
}

/* The request that gets a token, by where it comes from: a service account's signed JWT or an
 * authorized user's refresh token POSTed as a form, or the metadata server's GET (which
 * needs its Metadata-Flavor header). Returns 0, or < 0 with why. */
static int exchange_request(const struct config_gcp_account *acct, struct httpc_opts *o, char *why,
			    size_t why_len)
{
	static const char *const form_headers[] = {
		"Content-Type: application/x-www-form-urlencoded", "Accept: application/json",
		NULL};
	static const char *const metadata_headers[] = {"Metadata-Flavor: Google", NULL};
	char *jwt, *form;

	o->url = acct->token_uri;
	if (acct->kind == GCP_METADATA) {
		o->method = "GET";
		o->headers = metadata_headers;
		return 0;
	}
	if (acct->kind == GCP_AUTHORIZED_USER) {
		form = gauth_refresh_form(acct->client_id, acct->client_secret,
					  acct->refresh_token);
	} else {
		jwt = gauth_jwt(acct->client_email, GAUTH_SCOPE, acct->token_uri,
				now_wall_ms() / 1000, acct->private_key, why, why_len);
		if (!jwt)
			return -EINVAL;
		form = gauth_form(jwt);
		free(jwt);
	}
	o->method = "POST";
	o->headers = form_headers;
	o->body = form;
	o->body_len = strlen(form);
	o->body_take = true;
	return 0;
}

/* Starts an exchange; on a failure to start, records it as the exchange's result. */
static void start_exchange(struct gtoken_account *a, int64_t timeout_ms)
{
	struct httpc_opts o = {0};
	char why[256] = "";

	a->next_seq++;
	if (exchange_request(a->acct, &o, why, sizeof(why)) < 0) {
		a->done_seq = a->next_seq;
		fail(a, 401, why);
		return;
	}
	o.timeout_ms = timeout_ms > 0 && timeout_ms < EXCHANGE_TIMEOUT_MS ? (long)timeout_ms
									  : EXCHANGE_TIMEOUT_MS;
	o.connect_timeout_ms = o.timeout_ms < 10000 ? o.timeout_ms : 10000;
	o.max_response_bytes = ANSWER_CAP;
	if (httpc_start(a->g->loop, &o, on_exchange_done, a, &a->http) < 0) {
		a->http = NULL;
		a->done_seq = a->next_seq;
		fail(a, 502, "cannot start the request (bad token_uri?)");
	}
}

/* The metadata server's project id, asked once after the first token (same exchange). */
static void start_project(struct gtoken_account *a)
{
	static const char *const metadata_headers[] = {"Metadata-Flavor: Google", NULL};
	struct httpc_opts o = {0};

	o.url = a->acct->project_uri;
	o.method = "GET";
	o.headers = metadata_headers;
	o.timeout_ms = 10000;
	o.connect_timeout_ms = 10000;
	o.max_response_bytes = 1024;
	if (httpc_start(a->g->loop, &o, on_project_done, a, &a->http) < 0) {
		a->http = NULL;
		a->done_seq = a->next_seq;
		a->fail_status = 502;
		snprintf(a->fail_msg, sizeof(a->fail_msg),
			 "vertex_ai: cannot ask the metadata server for the project (%.120s)",
			 a->acct->project_uri);
		a->g->ready(a, a->g->arg);
	}
}

const char *gtoken_project(const struct gtoken_account *a)
{
	return a->project;
}

enum gtoken_state gtoken_get(struct gtoken_account *a, int64_t now_ms, int64_t timeout_ms,
			     uint64_t *seq, const char **token, long *status, const char **msg)
{
	expire_prev(a, now_ms);
	if (a->token && now_ms < a->refresh_at_ms && (!a->acct->project_uri || a->project)) {
		*seq = 0;
		*token = a->token;
		return GTOKEN_READY;
	}
	if (*seq && a->done_seq >= *seq && a->fail_status) {
		*seq = 0;
		*status = a->fail_status;
		*msg = a->fail_msg;
		return GTOKEN_FAILED;
	}
	if (!a->http) {
		start_exchange(a, timeout_ms);
		if (!a->http) {
			*seq = 0;
			*status = a->fail_status;
			*msg = a->fail_msg;
			return GTOKEN_FAILED;
		}
	}
	*seq = a->next_seq;
	return GTOKEN_PENDING;
}

uint64_t gtoken_exchanges(const struct gtoken_account *a)
{
	return a->next_seq;
}

size_t gtoken_tokens(const struct gtoken_account *a, const char *out[2])
{
	size_t n = 0;

	if (a->token)
		out[n++] = a->token;
	if (a->prev_token)
		out[n++] = a->prev_token;
	return n;
}
