/* gtoken: the access tokens of Google service accounts (vertex_ai deployments), cached per
 * account and fetched on the loop. A call that finds no valid token asks for one: the first
 * starts the exchange (the signed JWT of providers/gauth.c POSTed to the account's token_uri
 * with httpc, under a timeout), every later one waits for that same exchange (one in flight
 * per account); when it ends, ready() fires once and each waiting call asks again, getting the
 * token or that exchange's error. The token is kept until a minute before it expires, and is
 * a registered secret (core/log.h) for as long as Google honours it.
 */
#ifndef HERMETIC_GTOKEN_H
#define HERMETIC_GTOKEN_H

#include "core/config.h"

#include <stddef.h>
#include <stdint.h>

struct loop;
struct gtoken;
struct gtoken_account;

/* Fired from the loop when an exchange of a ends (with a token or an error). */
typedef void (*gtoken_ready_cb)(struct gtoken_account *a, void *arg);

struct gtoken *gtoken_create(struct loop *loop, gtoken_ready_cb ready, void *arg);
/* Cancels the exchanges in flight (ready does not fire for them) and frees everything. */
void gtoken_destroy(struct gtoken *g);

/* The account of acct (borrowed: the config outlives g), added on first use: deployments with
 * the same client_email, token_uri and key share it. */
struct gtoken_account *gtoken_account(struct gtoken *g, const struct config_gcp_account *acct);

enum gtoken_state {
	GTOKEN_READY,	/* *token is valid (borrowed until the next exchange of the account) */
	GTOKEN_PENDING, /* an exchange is in flight; ready() fires when it ends */
	GTOKEN_FAILED,	/* the exchange the caller waited for failed: *status, *msg */
};

/* What a call gets now. *seq is the caller's: 0 before it waits, then the exchange it waits
 * for (set on GTOKEN_PENDING, reset on the others). An exchange this starts may take
 * timeout_ms (the call's own timeout; at most 30 s, also for 0). On GTOKEN_FAILED, *status is
 * the HTTP status for the call (401: the account was refused; 502/504: the endpoint failed or
 * did not answer in time) and *msg says why (borrowed, like the token). */
enum gtoken_state gtoken_get(struct gtoken_account *a, int64_t now_ms, int64_t timeout_ms,
			     uint64_t *seq, const char **token, long *status, const char **msg);

/* The account's tokens Google may still honour (the current one, and the one before until it
 * expires), borrowed like gtoken_get's: how many were put in out. Each is registered with the
 * log's secrets (log_add_secret) from the moment it is minted until it expires or g goes, so
 * no log line or upstream error text that reaches a client shows it. */
size_t gtoken_tokens(const struct gtoken_account *a, const char *out[2]);

/* The project id the metadata server gave an account whose config named none
 * (config_gcp_account.project_uri): asked after its first token, before gtoken_get answers
 * READY; NULL before, or for other accounts. Borrowed for the account's life. */
const char *gtoken_project(const struct gtoken_account *a);

/* Exchanges made so far, for tests and logs. */
uint64_t gtoken_exchanges(const struct gtoken_account *a);

#endif
