/* mcp_signin: keeps the gateway's MCP sign-ins fresh (see mcp_signin.h). One slot per
 * `auth: oauth` server: its tokens, a timer, at most one flow (mcp/oauth.h) in flight. A flow
 * that ends is freed from a zero timer, never inside its own callback. Rejected: refreshing on
 * a 401 (the request that met it has already failed; a timer before expiry loses none). */
#include "gateway/mcp_signin.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"
#include "mcp/mcp.h"
#include "mcp/oauth.h"
#include "mcp/oauth_store.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define REFRESH_MARGIN_MS 60000
#define RETRY_MS	  (5 * 60000) /* after a failed refresh or sign-in */

struct slot {
	struct mcp_signin *owner;
	const struct config_mcp_server *c;
	struct oauth_tokens tok; /* what is in use; access_token NULL = none */
	/* the tokens tok replaced: secrets of the log until tok is replaced in turn (a request
	 * sent with them may still be answered), then dropped so the registrations stay bounded */
	char *prev_access, *prev_refresh;
	struct oauth_flow *flow, *ended;
	struct event *timer, *reap;
};

struct mcp_signin {
	struct loop *loop;
	struct store *st;
	struct mcp *m;
	struct slot *slots;
	size_t n;
};

struct put {
	char *server;
	struct oauth_tokens tok;
};

static void put_free(void *arg, int rc)
{
	struct put *p = arg;

	if (rc < 0)
		log_warn("mcp %s: the refreshed sign-in could not be stored (%d)", p->server, rc);
	free(p->server);
	oauth_tokens_finish(&p->tok);
	free(p);
}

static int put_write(struct store *st, void *arg)
{
	struct put *p = arg;

	return oauth_store_put(st, p->server, &p->tok, now_wall_ms());
}

static void store_tokens(struct slot *sl)
{
	struct put *p = xcalloc(1, sizeof(*p));
	int rc;

	p->server = xstrdup(sl->c->name);
	oauth_tokens_copy(&p->tok, &sl->tok);
	rc = store_write(sl->owner->st, put_write, p, put_free);
	if (rc != -EINPROGRESS)
		put_free(p, rc);
}

/* Arms the slot's timer in in_ms (< 0: not at all). */
static void schedule(struct slot *sl, int64_t in_ms)
{
	struct timeval tv;

	if (in_ms < 0)
		return;
	tv.tv_sec = in_ms / 1000;
	tv.tv_usec = (in_ms % 1000) * 1000;
	evtimer_add(sl->timer, &tv);
}

/* A minute before the token expires: a refresh with its refresh token, else a new sign-in of
 * a machine grant (client_credentials, jwt_bearer), whose tokens come without one (RFC 6749
 * 4.4.3). A person's sign-in without a refresh token waits for `hermetic mcp login`. */
static void schedule_refresh(struct slot *sl)
{
	int64_t at;

	if (!sl->tok.expires_at_ms ||
	    (!sl->tok.refresh_token && sl->c->oauth.grant == CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE))
		return;
	at = sl->tok.expires_at_ms - REFRESH_MARGIN_MS - now_wall_ms();
	schedule(sl, at > 1000 ? at : 1000);
}

/* A replaced token stops being a secret of the log, unless it is one of those in use. */
static void forget(const struct slot *sl, char **token)
{
	if (*token && !(sl->tok.access_token && strcmp(*token, sl->tok.access_token) == 0) &&
	    !(sl->tok.refresh_token && strcmp(*token, sl->tok.refresh_token) == 0))
		log_drop_secret(*token);
	free(*token);
	*token = NULL;
}

/* The flow's tokens go in use; the ones they replace are kept as the previous ones. */
static void take_tokens(struct slot *sl, const struct oauth_tokens *fresh)
{
	struct oauth_tokens old = sl->tok;

	oauth_tokens_copy(&sl->tok, fresh);
	forget(sl, &sl->prev_access);
	forget(sl, &sl->prev_refresh);
	sl->prev_access = old.access_token;
	sl->prev_refresh = old.refresh_token;
	old.access_token = old.refresh_token = NULL;
	oauth_tokens_finish(&old);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct slot *sl = arg;

	(void)fd;
	(void)what;
	oauth_flow_destroy(sl->ended);
	sl->ended = NULL;
}

static void on_authorize(struct oauth_flow *f, const char *url, void *arg)
{
	(void)f;
	(void)url;
	(void)arg; /* never: flows here have no redirect URI */
}

static void on_done(struct oauth_flow *f, int rc, const char *err, void *arg)
{
	struct slot *sl = arg;
	struct timeval zero = {0, 0};

	sl->flow = NULL;
	sl->ended = f;
	evtimer_add(sl->reap, &zero);
	if (rc < 0) {
		log_warn("mcp %s: signing in failed: %s; run hermetic mcp login %s", sl->c->name,
			 err, sl->c->name);
		schedule(sl, RETRY_MS);
		return;
	}
	take_tokens(sl, oauth_flow_tokens(f));
	mcp_set_bearer(sl->owner->m, sl->c->name, sl->tok.access_token,
		       oauth_tokens_dpop(&sl->tok) ? sl->tok.dpop_key : NULL);
	store_tokens(sl);
	log_info("mcp %s: signed in%s", sl->c->name, sl->tok.scope ? " (scope stored)" : "");
	schedule_refresh(sl);
}

static void start_flow(struct slot *sl)
{
	static const struct oauth_flow_cbs cbs = {on_authorize, on_done};
	struct oauth_flow_opts o = {.timeout_ms = 30000, .dpop_key = sl->tok.dpop_key};

	if (sl->flow || sl->ended)
		return;
	if (sl->tok.access_token && sl->tok.refresh_token)
		o.refresh = &sl->tok;
	else if (sl->c->oauth.grant == CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE)
		return; /* a person must sign in: the server's 401 says how */
	sl->flow = oauth_flow_start(sl->owner->loop, sl->c, &o, &cbs, sl);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_flow(arg);
}

struct mcp_signin *mcp_signin_create(const struct config *cfg, struct loop *loop, struct store *st,
				     struct mcp *m)
{
	struct mcp_signin *s;
	size_t i, n = 0;

	for (i = 0; i < cfg->n_mcp_servers; i++)
		n += cfg->mcp_servers[i].auth == CONFIG_MCP_AUTH_OAUTH &&
		     cfg->mcp_servers[i].enabled;
	if (!n || !st)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->st = st;
	s->m = m;
	s->slots = xcalloc(n, sizeof(*s->slots));
	for (i = 0; i < cfg->n_mcp_servers; i++) {
		const struct config_mcp_server *c = &cfg->mcp_servers[i];
		struct slot *sl;

		if (c->auth != CONFIG_MCP_AUTH_OAUTH || !c->enabled)
			continue;
		sl = &s->slots[s->n++];
		sl->owner = s;
		sl->c = c;
		sl->timer = evtimer_new(loop_base(loop), on_timer, sl);
		sl->reap = evtimer_new(loop_base(loop), on_reap, sl);
		if (oauth_store_get(st, c->name, &sl->tok) == 0 &&
		    (!sl->tok.url || strcmp(sl->tok.url, c->url) != 0))
			oauth_tokens_finish(&sl->tok); /* made for another URL */
		if (sl->tok.access_token) {
			mcp_set_bearer(m, c->name, sl->tok.access_token,
				       oauth_tokens_dpop(&sl->tok) ? sl->tok.dpop_key : NULL);
			schedule_refresh(sl);
		} else {
			start_flow(sl);
		}
	}
	return s;
}

void mcp_signin_destroy(struct mcp_signin *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++) {
		struct slot *sl = &s->slots[i];

		oauth_flow_destroy(sl->flow);
		oauth_flow_destroy(sl->ended);
		event_free(sl->timer);
		event_free(sl->reap);
		oauth_tokens_finish(&sl->tok);
		free(sl->prev_access);
		free(sl->prev_refresh);
	}
	free(s->slots);
	free(s);
}
