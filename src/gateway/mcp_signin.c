/* mcp_signin: keeps the gateway's MCP sign-ins fresh (see mcp_signin.h). One slot per
 * `auth: oauth` server: its tokens, a timer, at most one flow (mcp/oauth.h) in flight, and at
 * most one sign-in waiting for a person (mcp/oauth_signin.h). A flow that ends is freed from a
 * zero timer, never inside its own callback. The MCP client asks through its sign-in hook
 * (mcp.h) whenever the server refuses us or a call wants it while it is down; a sign-in is
 * begun then, once: while one waits, and after one expired unanswered until a call wants the
 * server again, no other is sent. Tokens are refreshed on a timer before they expire; a 401
 * refreshes at once only when the gateway holds a refresh token and has not tried that since
 * the last sign-in (a gateway down past the expiry), so a server that keeps refusing a fresh
 * token asks the person instead of refreshing in a loop. */
#include "gateway/mcp_signin.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"
#include "mcp/mcp.h"
#include "mcp/oauth.h"
#include "mcp/oauth_meta.h"
#include "mcp/oauth_signin.h"
#include "mcp/oauth_store.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFRESH_MARGIN_MS 60000
#define RETRY_MS	  (5 * 60000) /* after a failed refresh or sign-in */
#define ASK_EXPIRE_MS	  (15 * 60000)
#define LOOPBACK_REDIRECT "http://127.0.0.1/callback" /* nothing listens: the person pastes */
#define SENT_NOTE	  "a sign-in was sent to the owner"

struct slot {
	struct mcp_signin *owner;
	const struct config_mcp_server *c;
	struct oauth_tokens tok; /* what is in use; access_token NULL = none */
	/* the tokens tok replaced: secrets of the log until tok is replaced in turn (a request
	 * sent with them may still be answered), then dropped so the registrations stay bounded */
	char *prev_access, *prev_refresh;
	struct oauth_flow *flow, *ended;
	struct event *timer, *reap;
	struct oauth_signin *asking, *asked; /* waiting for the person; ended, freed by reap */
	bool expired;			     /* the last one was not answered in time */
	bool refreshed_ask;		     /* a 401 was answered with a refresh once */
};

struct mcp_signin {
	struct loop *loop;
	struct store *st;
	struct mcp *m;
	struct slot *slots;
	size_t n;
	const struct config *cfg;
	const struct mcp_signin_front *front;
	void *front_arg;
	bool cockpit;
	char *redirect_uri;
};

static void begin_ask(struct slot *sl, const char *step_up_scope);

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
	oauth_signin_destroy(sl->asked);
	sl->asked = NULL;
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
	if (rc == -EACCES && sl->tok.refresh_token &&
	    sl->c->oauth.grant == CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE) {
		/* The token endpoint refused the refresh token (revoked, expired): only a person
		 * can sign in again. */
		log_warn("mcp %s: the refresh token was refused: %s", sl->c->name, err);
		oauth_tokens_finish(&sl->tok);
		begin_ask(sl, NULL);
		return;
	}
	if (rc < 0) {
		log_warn("mcp %s: signing in failed: %s; run hermetic mcp login %s", sl->c->name,
			 err, sl->c->name);
		schedule(sl, RETRY_MS);
		return;
	}
	take_tokens(sl, oauth_flow_tokens(f));
	mcp_set_bearer(sl->owner->m, sl->c->name, sl->tok.access_token,
		       oauth_tokens_dpop(&sl->tok) ? sl->tok.dpop_key : NULL);
	mcp_reconnect_now(sl->owner->m, sl->c->name); /* when a 401 had it down */
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

/* ---- sign-ins that need a person ---- */

static bool can_ask(const struct mcp_signin *s)
{
	return s->front || s->cockpit;
}

static void on_ask_ready(struct oauth_signin *a, const char *url, void *arg)
{
	struct slot *sl = arg;
	struct mcp_signin *s = sl->owner;

	(void)a;
	log_info("mcp %s: a sign-in waits for the owner (until it expires in %d minutes)",
		 sl->c->name, ASK_EXPIRE_MS / 60000);
	if (s->front)
		s->front->ask(sl->c->name, url, oauth_signin_expires_ms(sl->asking),
			      strcmp(s->redirect_uri, LOOPBACK_REDIRECT) == 0, s->front_arg);
}

static void on_ask_done(struct oauth_signin *a, int rc, const char *err,
			const struct oauth_tokens *tok, void *arg)
{
	struct slot *sl = arg;
	struct mcp_signin *s = sl->owner;
	struct timeval zero = {0, 0};

	sl->asking = NULL;
	sl->asked = a;
	evtimer_add(sl->reap, &zero);
	if (rc < 0) {
		sl->expired = rc == -ETIMEDOUT;
		log_warn("mcp %s: the sign-in ended without tokens: %s", sl->c->name, err);
	} else {
		sl->expired = false;
		sl->refreshed_ask = false;
		oauth_tokens_finish(&sl->tok);
		oauth_tokens_copy(&sl->tok, tok); /* stored already (oauth_signin) */
		mcp_set_bearer(s->m, sl->c->name, sl->tok.access_token,
			       oauth_tokens_dpop(&sl->tok) ? sl->tok.dpop_key : NULL);
		log_info("mcp %s: signed in by the owner", sl->c->name);
		schedule_refresh(sl);
		mcp_reconnect_now(s->m, sl->c->name);
	}
	if (s->front)
		s->front->closed(sl->c->name, rc, rc < 0 ? err : NULL, s->front_arg);
}

static void begin_ask(struct slot *sl, const char *step_up_scope)
{
	static const struct oauth_signin_cbs cbs = {on_ask_ready, on_ask_done};
	struct mcp_signin *s = sl->owner;
	struct oauth_signin_opts o = {.redirect_uri = s->redirect_uri,
				      .step_up_scope = step_up_scope,
				      .expire_ms = ASK_EXPIRE_MS,
				      .timeout_ms = 30000};

	if (sl->asking || sl->asked || !can_ask(s) ||
	    sl->c->oauth.grant != CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE)
		return;
	sl->asking = oauth_signin_begin(s->loop, s->st, sl->c, &o, &cbs, sl);
	if (!sl->asking)
		log_warn("mcp %s: a sign-in could not be begun", sl->c->name);
}

static struct slot *slot_of(struct mcp_signin *s, const char *server)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->slots[i].c->name, server) == 0)
			return &s->slots[i];
	return NULL;
}

enum mcp_signin_act mcp_signin_decide(const struct mcp_signin_facts *f)
{
	if (!f->can_ask || !f->auth_code)
		return MCP_SIGNIN_NOBODY;
	if (f->asking)
		return MCP_SIGNIN_WAITING;
	if (f->refreshing)
		return MCP_SIGNIN_REFRESHING;
	if (f->status == 403)
		return f->insufficient_scope ? MCP_SIGNIN_ASK_STEP_UP : MCP_SIGNIN_NOBODY;
	/* A 401 with a refresh token in hand (the gateway was down past the expiry, or the server
	 * dropped the token): refresh first, once; a second 401 after that asks the person. */
	if (f->status == 401 && f->refresh_token && !f->refreshed_once)
		return MCP_SIGNIN_REFRESH;
	/* A reconnect's 401 after a sign-in expired unanswered sends none: a call must want it. */
	if (f->status != 0 && f->expired)
		return MCP_SIGNIN_EXPIRED;
	return MCP_SIGNIN_ASK;
}

/* The MCP client's hook (mcp.h): the server refused us (401, 403) or a call wants it. */
static const char *needed(const char *server, long status, const char *challenge, void *arg)
{
	static const char refreshing[] = "the sign-in is being refreshed; try again in a moment";
	struct mcp_signin *s = arg;
	struct slot *sl = slot_of(s, server);
	struct oauth_challenge ch = {0};
	struct mcp_signin_facts f;
	const char *note = NULL;

	if (!sl)
		return NULL;
	if (status == 403 && challenge)
		oauth_challenge_parse(challenge, &ch);
	f = (struct mcp_signin_facts){
		.status = status,
		.can_ask = can_ask(s),
		.auth_code = sl->c->oauth.grant == CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE,
		.asking = sl->asking != NULL,
		.refreshing = sl->flow != NULL,
		.refresh_token = sl->tok.refresh_token != NULL,
		.refreshed_once = sl->refreshed_ask,
		.expired = sl->expired,
		.insufficient_scope =
			ch.error && strcmp(ch.error, "insufficient_scope") == 0 && ch.scope,
	};
	switch (mcp_signin_decide(&f)) {
	case MCP_SIGNIN_NOBODY:
		break;
	case MCP_SIGNIN_WAITING:
		note = SENT_NOTE;
		break;
	case MCP_SIGNIN_REFRESHING:
		note = refreshing;
		break;
	case MCP_SIGNIN_ASK_STEP_UP:
		begin_ask(sl, ch.scope);
		note = sl->asking ? SENT_NOTE " (for the larger scope)" : NULL;
		break;
	case MCP_SIGNIN_REFRESH:
		sl->refreshed_ask = true;
		start_flow(sl);
		if (sl->flow) {
			note = refreshing;
			break;
		}
		/* the refresh could not start: ask */
		/* fall through */
	case MCP_SIGNIN_ASK:
		begin_ask(sl, NULL);
		note = sl->asking ? SENT_NOTE : NULL;
		break;
	case MCP_SIGNIN_EXPIRED:
		note = "the sign-in sent to the owner expired; the next call that needs the server "
		       "sends a new one";
		break;
	}
	oauth_challenge_finish(&ch);
	return note;
}

void mcp_signin_set_front(struct mcp_signin *s, const struct mcp_signin_front *f, void *arg)
{
	if (!s)
		return;
	s->front = f;
	s->front_arg = arg;
}

void mcp_signin_set_cockpit(struct mcp_signin *s)
{
	if (s)
		s->cockpit = true;
}

int mcp_signin_pending(const struct mcp_signin *s, size_t i, const char **server, const char **url,
		       int64_t *expires_ms)
{
	for (size_t k = 0; s && k < s->n; k++) {
		const struct oauth_signin *a = s->slots[k].asking;

		if (!a || !oauth_signin_url(a))
			continue;
		if (i-- > 0)
			continue;
		*server = oauth_signin_server(a);
		*url = oauth_signin_url(a);
		*expires_ms = oauth_signin_expires_ms(a);
		return 0;
	}
	return -ENOENT;
}

bool mcp_signin_is_redirect(const char *text)
{
	return oauth_signin_is_redirect(text);
}

int mcp_signin_complete(struct mcp_signin *s, const char *address, char *server_out,
			size_t server_len, char *err, size_t err_len)
{
	size_t k, waiting = 0;

	if (!oauth_signin_is_redirect(address)) {
		snprintf(err, err_len, "that is not the address a sign-in ends on");
		return -EINVAL;
	}
	for (k = 0; s && k < s->n; k++) {
		struct oauth_signin *a = s->slots[k].asking;

		if (!a)
			continue;
		waiting++;
		if (!oauth_signin_matches(a, address))
			continue;
		snprintf(server_out, server_len, "%s", s->slots[k].c->name);
		return oauth_signin_complete(a, address, err, err_len);
	}
	if (!waiting) {
		snprintf(err, err_len, "no sign-in is waiting (it may have expired or be done)");
		return -ENOENT;
	}
	snprintf(err, err_len,
		 "that address is not from a pending sign-in (its state does not match): open the "
		 "newest Sign in button and paste the address it ends on");
	return -EPERM;
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
	s->cfg = cfg;
	if (cfg->ui.public_url) {
		size_t len = strlen(cfg->ui.public_url);

		while (len && cfg->ui.public_url[len - 1] == '/')
			len--;
		s->redirect_uri = xasprintf("%.*s/ui/oauth/callback", (int)len, cfg->ui.public_url);
	} else {
		s->redirect_uri = xstrdup(LOOPBACK_REDIRECT);
	}
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
	mcp_set_signin_hook(m, &(struct mcp_signin_hook){needed, s});
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
		oauth_signin_destroy(sl->asking);
		oauth_signin_destroy(sl->asked);
		event_free(sl->timer);
		event_free(sl->reap);
		oauth_tokens_finish(&sl->tok);
		free(sl->prev_access);
		free(sl->prev_refresh);
	}
	free(s->slots);
	free(s->redirect_uri);
	free(s);
}
