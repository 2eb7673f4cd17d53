/* mcp_signin: the gateway's side of MCP servers that sign in (auth: oauth). At start it hands
 * the MCP client the tokens `hermetic mcp login` stored; it refreshes each a minute before it
 * expires (the refresh token grant, on the loop), and signs a client_credentials or jwt-bearer
 * server in by itself when it has no token. The new token is stored (state.db, through
 * store_write) and used from the next request on. A sign-in that needs a person goes to the
 * owner (below); without anyone to ask, the server's 401 says to run `hermetic mcp login NAME`.
 */
#ifndef HERMETIC_MCP_SIGNIN_H
#define HERMETIC_MCP_SIGNIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct loop;
struct mcp;
struct mcp_signin;
struct store;

/* A sign-in that needs a person (first use, a refresh token refused, a 403 insufficient_scope
 * step-up) is begun here when someone can be asked (a front, or the cockpit): an interactive
 * sign-in (mcp/oauth_signin.h) whose URL goes to the front once, not again while it waits.
 * The redirect comes back to ui.public_url + /ui/oauth/callback when that is set, else to a
 * loopback address nothing listens on, which the person pastes back (mcp_signin_complete). */
struct mcp_signin_front {
	/* A sign-in to server waits: url is the authorization URL, expires_ms (wall clock) when
	 * it is given up; paste says whether the person must paste the address back. */
	void (*ask)(const char *server, const char *url, int64_t expires_ms, bool paste, void *arg);
	/* It ended: rc 0 signed in (the server connects now), else why (no secret in it). */
	void (*closed)(const char *server, int rc, const char *why, void *arg);
};

/* Borrows everything (all outlive it). Before mcp_start. NULL when no server signs in. */
struct mcp_signin *mcp_signin_create(const struct config *cfg, struct loop *loop, struct store *st,
				     struct mcp *m);
/* The front that shows sign-ins (Telegram): f and arg borrowed for s's life. Accepts NULL s. */
void mcp_signin_set_front(struct mcp_signin *s, const struct mcp_signin_front *f, void *arg);
/* The cockpit lists pending sign-ins (mcp_signin_pending), so they may begin without a front. */
void mcp_signin_set_cockpit(struct mcp_signin *s);
/* The i-th sign-in waiting for a person (its URL ready): 0, or -ENOENT past the last. */
int mcp_signin_pending(const struct mcp_signin *s, size_t i, const char **server, const char **url,
		       int64_t *expires_ms);
/* What the browser ended on (an address, or its query), matched to a pending sign-in by its
 * state: 0 and the server in server_out (the exchange runs; the front's closed tells how it
 * ended), or < 0 with why in err: -ENOENT no sign-in waits, -EPERM it matches none (a stale
 * or foreign address), -EINVAL it is no such address. */
int mcp_signin_complete(struct mcp_signin *s, const char *address, char *server_out,
			size_t server_len, char *err, size_t err_len);
/* Whether text looks like an address a sign-in ends on (a state, and a code or an error). */
bool mcp_signin_is_redirect(const char *text);

/* What the MCP client's sign-in hook does, decided from plain facts (pure; tests/
 * test_mcp_signin.c has the table). status: 401, 403, or 0 when a call wants the server. */
struct mcp_signin_facts {
	long status;
	bool can_ask;		 /* a front or the cockpit can reach the owner */
	bool auth_code;		 /* the server's grant is the authorization code */
	bool asking;		 /* a sign-in waits for the owner */
	bool refreshing;	 /* a refresh (or a grant of its own) is in flight */
	bool refresh_token;	 /* one is held */
	bool refreshed_once;	 /* a 401 was answered with a refresh since the last sign-in */
	bool expired;		 /* the last sign-in sent was not answered in time */
	bool insufficient_scope; /* a 403's challenge says insufficient_scope and names a scope */
};
enum mcp_signin_act {
	MCP_SIGNIN_NOBODY,	/* nothing to do here: the error says to run mcp login */
	MCP_SIGNIN_WAITING,	/* one waits already: say so, send none */
	MCP_SIGNIN_REFRESHING,	/* a refresh will decide */
	MCP_SIGNIN_REFRESH,	/* refresh now */
	MCP_SIGNIN_ASK,		/* send the owner a sign-in */
	MCP_SIGNIN_ASK_STEP_UP, /* ... for what was granted plus the challenge's scope */
	MCP_SIGNIN_EXPIRED,	/* the last one expired: only a call sends a new one */
};
enum mcp_signin_act mcp_signin_decide(const struct mcp_signin_facts *f);

/* Cancels timers and flows in flight; accepts NULL. */
void mcp_signin_destroy(struct mcp_signin *s);

#endif
