/* oauth_signin: an interactive sign-in completed from somewhere else (see oauth_signin.h). A
 * thin layer over one oauth_flow: it keeps the authorization URL for whoever shows it, matches
 * what the person pastes or the browser brings back to this sign-in by its state before the
 * flow sees it (a stale or foreign address is refused without ending the sign-in: the flow
 * itself ends on a wrong state, which is right for a listener but not for a chat), stores the
 * tokens, and bounds the wait. done is always delivered from a zero timer, so the caller of
 * begin or complete never sees its own callback inside the call. Rejected: a listener of its
 * own (the gateway already has the cockpit's HTTP server, and a chat needs none).
 */
#include "mcp/oauth_signin.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"
#include "mcp/oauth.h"
#include "mcp/oauth_meta.h"
#include "mcp/oauth_store.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPIRE_MS_DEFAULT (15 * 60000)
#define ADDRESS_CAP	  8192

struct oauth_signin {
	struct loop *loop;
	struct store *st;
	const struct config_mcp_server *c;
	struct oauth_signin_cbs cbs;
	void *arg;
	struct oauth_flow *flow, *ended;
	struct event *expire, *later;
	char *url;
	int64_t expires_ms, expire_after_ms;
	bool taken; /* a matching address went to the flow */
	bool fired;
	int rc;
	char err[512];
};

struct put {
	char *server;
	struct oauth_tokens tok;
};

static void put_free(void *arg, int rc)
{
	struct put *p = arg;

	(void)rc; /* store_write logs what failed, with the database's path */
	free(p->server);
	oauth_tokens_finish(&p->tok);
	free(p);
}

static int put_write(struct store *st, void *arg)
{
	struct put *p = arg;

	return oauth_store_put(st, p->server, &p->tok, now_wall_ms());
}

/* 0 or -EIO; the write is the store's once queued (-EINPROGRESS). */
static int store_tokens(struct oauth_signin *s, const struct oauth_tokens *t)
{
	struct put *p;
	int rc;

	if (!s->st)
		return 0;
	p = xcalloc(1, sizeof(*p));
	p->server = xstrdup(s->c->name);
	oauth_tokens_copy(&p->tok, t);
	rc = store_write(s->st, put_write, p, put_free);
	if (rc == -EINPROGRESS)
		return 0;
	put_free(p, rc);
	return rc < 0 ? -EIO : 0;
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
	struct oauth_signin *s = arg;
	const struct oauth_tokens *t = s->ended ? oauth_flow_tokens(s->ended) : NULL;

	(void)fd;
	(void)what;
	s->cbs.done(s, s->rc, s->err, s->rc == 0 ? t : NULL, s->arg);
}

/* Ends once: done fires from the loop. */
static void end(struct oauth_signin *s, int rc, const char *err)
{
	struct timeval zero = {0, 0};

	if (s->fired)
		return;
	s->fired = true;
	s->rc = rc;
	snprintf(s->err, sizeof(s->err), "%s", err ? err : "");
	evtimer_del(s->expire);
	evtimer_add(s->later, &zero);
}

static void on_authorize(struct oauth_flow *f, const char *url, void *arg)
{
	struct oauth_signin *s = arg;

	(void)f;
	free(s->url);
	s->url = xstrdup(url);
	s->cbs.ready(s, url, s->arg);
}

static void on_done(struct oauth_flow *f, int rc, const char *err, void *arg)
{
	struct oauth_signin *s = arg;

	s->flow = NULL;
	s->ended = f; /* freed with s: its tokens are what done hands over */
	if (rc == 0 && store_tokens(s, oauth_flow_tokens(f)) < 0) {
		end(s, -EIO, "signed in, but the tokens could not be stored in state.db");
		return;
	}
	end(s, rc, err);
}

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
	struct oauth_signin *s = arg;
	char err[200];

	(void)fd;
	(void)what;
	oauth_flow_destroy(s->flow);
	s->flow = NULL;
	snprintf(err, sizeof(err), "nobody completed the sign-in to %s within %lld minutes",
		 s->c->name, (long long)((s->expire_after_ms + 59999) / 60000));
	end(s, -ETIMEDOUT, err);
}

struct oauth_signin *oauth_signin_begin(struct loop *loop, struct store *st,
					const struct config_mcp_server *c,
					const struct oauth_signin_opts *o,
					const struct oauth_signin_cbs *cbs, void *arg)
{
	static const struct oauth_flow_cbs fcbs = {on_authorize, on_done};
	struct oauth_flow_opts fo = {.redirect_uri = o->redirect_uri,
				     .step_up_scope = o->step_up_scope,
				     .timeout_ms = o->timeout_ms};
	int64_t expire_ms = o->expire_ms > 0 ? o->expire_ms : EXPIRE_MS_DEFAULT;
	struct oauth_signin *s;
	struct oauth_flow *f;
	struct timeval tv;

	if (!o->redirect_uri || !c->url || c->auth != CONFIG_MCP_AUTH_OAUTH)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->st = st;
	s->c = c;
	s->cbs = *cbs;
	s->arg = arg;
	s->expires_ms = now_wall_ms() + expire_ms;
	s->expire_after_ms = expire_ms;
	s->expire = evtimer_new(loop_base(loop), on_expire, s);
	s->later = evtimer_new(loop_base(loop), on_later, s);
	tv.tv_sec = expire_ms / 1000;
	tv.tv_usec = (expire_ms % 1000) * 1000;
	evtimer_add(s->expire, &tv);
	f = oauth_flow_start(loop, c, &fo, &fcbs, s);
	if (!s->fired) /* else it ended inside the call: on_done has it */
		s->flow = f;
	if (!f && !s->fired) {
		oauth_signin_destroy(s);
		return NULL;
	}
	return s;
}

/* The query of address (after its '?', or all of it when it has none), copied. */
static char *query_of(const char *address)
{
	const char *q = strchr(address, '?');
	size_t len;

	q = q ? q + 1 : address;
	while (*q == ' ' || *q == '\n' || *q == '\t')
		q++;
	len = strcspn(q, " \r\n\t");
	return xstrndup(q, len);
}

int oauth_signin_is_redirect(const char *text)
{
	struct oauth_redirect r;
	char *q;
	int yes;

	if (!text || strlen(text) > ADDRESS_CAP)
		return 0;
	q = query_of(text);
	yes = oauth_redirect_parse(q, &r) == 0 && r.state && (r.code || r.error);
	oauth_redirect_finish(&r);
	free(q);
	return yes;
}

int oauth_signin_matches(const struct oauth_signin *s, const char *address)
{
	const char *state = s->flow ? oauth_flow_state(s->flow) : NULL;
	struct oauth_redirect r;
	char *q;
	int yes;

	if (!state || !address || strlen(address) > ADDRESS_CAP)
		return 0;
	q = query_of(address);
	yes = oauth_redirect_parse(q, &r) == 0 && r.state && secret_equal(r.state, state);
	oauth_redirect_finish(&r);
	free(q);
	return yes;
}

int oauth_signin_complete(struct oauth_signin *s, const char *address, char *err, size_t err_len)
{
	char *q;

	if (s->taken || s->fired) {
		snprintf(err, err_len, "the sign-in to %s is already completed", s->c->name);
		return -EALREADY;
	}
	if (!s->flow || !oauth_flow_state(s->flow)) {
		snprintf(err, err_len, "the sign-in to %s is not ready yet", s->c->name);
		return -EAGAIN;
	}
	if (!oauth_signin_is_redirect(address)) {
		snprintf(err, err_len,
			 "that is not the address a sign-in ends on (it has no state and code)");
		return -EINVAL;
	}
	if (!oauth_signin_matches(s, address)) {
		snprintf(err, err_len,
			 "that address is not from the pending sign-in to %s (its state does not "
			 "match): use the newest Sign in button",
			 s->c->name);
		return -EPERM;
	}
	s->taken = true;
	q = query_of(address);
	oauth_flow_redirect(s->flow, q); /* iss, the code, then the exchange; done tells */
	free(q);
	return 0;
}

const char *oauth_signin_server(const struct oauth_signin *s)
{
	return s->c->name;
}

const char *oauth_signin_url(const struct oauth_signin *s)
{
	return s->url;
}

int64_t oauth_signin_expires_ms(const struct oauth_signin *s)
{
	return s->expires_ms;
}

void oauth_signin_destroy(struct oauth_signin *s)
{
	if (!s)
		return;
	oauth_flow_destroy(s->flow);
	oauth_flow_destroy(s->ended);
	event_free(s->expire);
	event_free(s->later);
	free(s->url);
	free(s);
}
