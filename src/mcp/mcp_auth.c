/* mcp_auth: the MCP client's side of sign-ins that need a person (see mcp.h, "sign-ins that
 * need a person"). The client does not sign in itself: a refused request and a tool whose
 * server is down ask the owner's hook, which may send the person a sign-in and says what
 * happens now; after the sign-in the owner hands the token over (mcp_set_bearer) and asks for
 * a connection now. Rejected: keeping a server that is not signed in "connected" with no tools
 * (every status view would lie about it).
 */
#include "mcp/mcp_int.h"
#include "core/config.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void mcp_set_signin_hook(struct mcp *m, const struct mcp_signin_hook *h)
{
	m->signin_hook = *h;
}

static const char *hook(struct mcp_server *s, long status, const char *challenge)
{
	struct mcp *m = s->m;

	if (!m->signin_hook.needed)
		return NULL;
	return m->signin_hook.needed(s->cfg->name, status, challenge, m->signin_hook.arg);
}

char *mcp_transport_refused(struct mcp_server *s, long status, const char *challenge,
			    unsigned bearer_gen)
{
	const char *what = status == 401 ? "not signed in" : "the sign-in lacks a scope";
	const char *now;

	/* Sent before a sign-in handed its token over (an attempt in flight meanwhile): that
	 * refusal says nothing of the new token. Asking again would send the person a second
	 * sign-in for one that just ended. */
	if (bearer_gen != s->bearer_gen) {
		s->retry_now = s->state == S_CONNECTING;
		return xasprintf("%s when sent, before the last sign-in; the next request carries "
				 "its token",
				 what);
	}
	now = hook(s, status, challenge);
	if (now)
		return xasprintf("%s: %s", what, now);
	return xasprintf("%s: run hermetic mcp login %s", what, s->cfg->name);
}

int mcp_reconnect_now(struct mcp *m, const char *server)
{
	for (size_t i = 0; i < m->n_servers; i++) {
		struct mcp_server *s = &m->servers[i];

		if (strcmp(s->cfg->name, server) != 0)
			continue;
		/* A failed server waits on its retry timer: fire it now (the backoff starts over
		 * once it connects). */
		if (s->state == S_FAILED && m->reconnect) {
			evtimer_del(s->retry_timer);
			event_active(s->retry_timer, EV_TIMEOUT, 0);
		}
		return 0;
	}
	return -ENOENT;
}

/* The server name is mcp_<server>_<tool>'s: the longest server whose prefix matches. */
static struct mcp_server *server_of(struct mcp *m, const char *name)
{
	struct mcp_server *best = NULL;
	size_t best_len = 0;

	if (strncmp(name, "mcp_", 4) != 0)
		return NULL;
	for (size_t i = 0; i < m->n_servers; i++) {
		struct mcp_server *s = &m->servers[i];
		size_t n = strlen(s->cfg->name);

		if (strncmp(name + 4, s->cfg->name, n) == 0 && name[4 + n] == '_' && n > best_len) {
			best = s;
			best_len = n;
		}
	}
	return best;
}

bool mcp_why_unavailable(struct mcp *m, const char *name, struct buf *out)
{
	struct mcp_server *s = server_of(m, name);
	const char *now;

	if (!s || s->state == S_READY || s->state == S_DISABLED)
		return false;
	if (s->cfg->auth == CONFIG_MCP_AUTH_OAUTH && s->error &&
	    strstr(s->error, "not signed in")) {
		now = hook(s, 0, NULL);
		buf_printf(out, "%s is not available now: the MCP server %s is not signed in; %s",
			   name, s->cfg->name,
			   now ? now : "the owner must run hermetic mcp login with its name");
		return true;
	}
	buf_printf(out, "%s is not available now: its MCP server %s is not connected%s%s", name,
		   s->cfg->name, s->error ? " (" : "", s->error ? s->error : "");
	if (s->error)
		buf_puts(out, ")");
	return true;
}
