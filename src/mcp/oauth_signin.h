/* oauth_signin: one interactive sign-in to an `auth: oauth` server that a person completes
 * somewhere else (a Telegram button, the cockpit), on the loop. begin runs the discovery and
 * registration of mcp/oauth.c and hands back the authorization URL and its state; complete
 * takes what the browser brought back (the whole address it ended on, or just its query),
 * checks it (state first: a wrong one is refused and the sign-in goes on waiting; then iss and
 * the code, PKCE at the token endpoint), exchanges the code and stores the tokens in state.db.
 * A sign-in not completed within its time limit ends with -ETIMEDOUT.
 *
 * Async contract: if oauth_signin_begin returns NULL nothing fires; otherwise done fires
 * exactly once, from the loop (never from inside begin or complete), unless
 * oauth_signin_destroy comes first.
 */
#ifndef HERMETIC_OAUTH_SIGNIN_H
#define HERMETIC_OAUTH_SIGNIN_H

#include <stddef.h>
#include <stdint.h>

struct config_mcp_server;
struct loop;
struct oauth_signin;
struct oauth_tokens;
struct store;

struct oauth_signin_cbs {
	/* The authorization URL is ready (once): show it to the person. */
	void (*ready)(struct oauth_signin *s, const char *url, void *arg);
	/* Ended: rc 0 with the tokens (borrowed for the call; stored already, or queued for
	 * state.db when it is busy), or < 0 with why in err (no secret in it): -ETIMEDOUT when
	 * nobody completed it in time. */
	void (*done)(struct oauth_signin *s, int rc, const char *err,
		     const struct oauth_tokens *tok, void *arg);
};

struct oauth_signin_opts {
	const char *redirect_uri;  /* where the browser is sent back (copied) */
	const char *step_up_scope; /* a 403 insufficient_scope's scope, else NULL */
	int64_t expire_ms;	   /* how long the person has; 0 = 15 minutes */
	long timeout_ms;	   /* per request; 0 = 30 s */
};

/* Borrows loop, c and st (st may be NULL: nothing is stored). */
struct oauth_signin *oauth_signin_begin(struct loop *loop, struct store *st,
					const struct config_mcp_server *c,
					const struct oauth_signin_opts *o,
					const struct oauth_signin_cbs *cbs, void *arg);
/* What the browser ended on: an address with a query (anything before '?' is ignored), or a
 * bare query "code=...&state=...". 0: the code is being exchanged (done tells how it went).
 * -EPERM: its state is not this sign-in's (nothing changes; err says so). -EINVAL: it is no
 * redirect (no state in it), -EAGAIN: the URL is not ready yet, -EALREADY: already taken. */
int oauth_signin_complete(struct oauth_signin *s, const char *address, char *err, size_t err_len);
/* Whether address carries the state of s (a paste is matched to its sign-in by this). */
int oauth_signin_matches(const struct oauth_signin *s, const char *address);
/* The server's name, the authorization URL (NULL until ready), its expiry (wall clock ms). */
const char *oauth_signin_server(const struct oauth_signin *s);
const char *oauth_signin_url(const struct oauth_signin *s);
int64_t oauth_signin_expires_ms(const struct oauth_signin *s);
/* Whether text looks like what a browser brings back: a state parameter, and a code or error. */
int oauth_signin_is_redirect(const char *text);
/* Cancels and frees; done does not fire after. Accepts NULL. */
void oauth_signin_destroy(struct oauth_signin *s);

#endif
