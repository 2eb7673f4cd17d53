/* oauth: the sign-in of an MCP server with `auth: oauth`, as the MCP authorization spec
 * (2025-11-25) has it, one flow at a time on the loop: an unauthenticated request to read the
 * server's WWW-Authenticate, protected resource metadata (the challenge's resource_metadata,
 * else the path-based then the root well-known URL; its resource must stand for the server),
 * authorization server metadata (RFC 8414 and OpenID discovery, or the 2025-03-26 fallbacks
 * when the server has no resource metadata), the client (pre-registered, a Client ID Metadata
 * Document, or RFC 7591 registration), then either the authorization code grant with PKCE S256,
 * state, the resource parameter and RFC 9207's iss (the front end gets the user to the URL and
 * hands back the redirect), or the client credentials grant; or a refresh of stored tokens.
 * With oauth.dpop every token request carries a DPoP proof (mcp/oauth_dpop.h), retried once
 * with the nonce an authorization server asks for.
 * Every answer is capped (OAUTH_DOC_CAP), every request has a timeout.
 *
 * Async contract: if oauth_flow_start returns NULL nothing fires; otherwise done fires exactly
 * once, from the loop, unless oauth_flow_destroy comes first.
 */
#ifndef HERMETIC_OAUTH_H
#define HERMETIC_OAUTH_H

#include "mcp/oauth_store.h"

#include <stdbool.h>

struct config_mcp_server;
struct loop;
struct oauth_flow;

struct oauth_flow_cbs {
	/* The authorization URL is ready: get the user to it; what the browser brings back to
	 * redirect_uri goes to oauth_flow_redirect. Not called for client credentials. */
	void (*authorize)(struct oauth_flow *f, const char *url, void *arg);
	/* The flow ended: rc 0 with the tokens in oauth_flow_tokens, or < 0 with why in err (no
	 * secret in it). */
	void (*done)(struct oauth_flow *f, int rc, const char *err, void *arg);
};

struct oauth_flow_opts {
	const char *redirect_uri; /* the loopback listener's; NULL with client credentials */
	/* Scope a 403 insufficient_scope asked for (step-up), added to what was had; NULL. */
	const char *step_up_scope;
	/* A refresh: the stored tokens (borrowed for the call); NULL = sign in anew. */
	const struct oauth_tokens *refresh;
	/* oauth.dpop: the server's key of an earlier sign-in (borrowed for the call), kept for
	 * the new tokens; NULL = make one. A refresh keeps refresh's. */
	const char *dpop_key;
	long timeout_ms; /* per request; 0 = 30 s */
};

struct oauth_flow *oauth_flow_start(struct loop *l, const struct config_mcp_server *c,
				    const struct oauth_flow_opts *o,
				    const struct oauth_flow_cbs *cbs, void *arg);
/* The query of the request that reached redirect_uri (after '?'). Ignored unless the flow
 * waits for it. */
void oauth_flow_redirect(struct oauth_flow *f, const char *query);
/* The tokens got (borrowed until destroy), after done with rc 0. */
const struct oauth_tokens *oauth_flow_tokens(const struct oauth_flow *f);
/* The state the authorization URL carries while the flow waits for the redirect, else NULL
 * (borrowed). */
const char *oauth_flow_state(const struct oauth_flow *f);
/* Cancels and frees; done does not fire after. Accepts NULL. */
void oauth_flow_destroy(struct oauth_flow *f);

#endif
