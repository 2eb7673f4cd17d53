/* cli_mcp_oauth: `hermetic mcp login` and friends (see cli_mcp_oauth.h). login runs the flow of
 * mcp/oauth.c on a private loop with a one-shot listener on 127.0.0.1 (an ephemeral port) as
 * the redirect URI (RFC 8252's loopback redirect): it prints the authorization URL on a line of
 * its own, runs `$BROWSER URL` when BROWSER is set, takes the first request to /callback,
 * answers the browser, and stores the tokens in state.db. Every wait is bounded: each request
 * by the flow's timeout, the browser's return by CLI_MCP_LOGIN_TIMEOUT_S, a connection to the
 * listener by 10 s and 8 KiB. */
#include "cli/cli_mcp_oauth.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"
#include "mcp/mcp.h"
#include "mcp/oauth.h"
#include "mcp/oauth_meta.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define REQUEST_CAP 8192

struct login {
	struct loop *loop;
	const struct config_mcp_server *c;
	struct oauth_flow *flow;
	int listen_fd;
	struct event *accept_ev, *timer;
	struct conn *conn;
	int rc;
	bool done;
	bool step_up; /* inside mcp list or call, whose stdout is their result */
	char err[512];
};

struct conn {
	struct login *lg;
	int fd;
	struct event *ev;
	char buf[REQUEST_CAP + 1];
	size_t len;
};

static const struct config_mcp_server *find_server(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_mcp_servers; i++)
		if (strcmp(cfg->mcp_servers[i].name, name) == 0)
			return &cfg->mcp_servers[i];
	return NULL;
}

static struct store *open_store(const struct config *cfg)
{
	char err[512], *db = xasprintf("%s/state.db", cfg->home);
	struct store *st = NULL;

	/* The data directory of a first run: the tokens are the first thing it holds. */
	if (fileio_mkdirs(cfg->home, 0700) < 0)
		fprintf(stderr, "hermetic: cannot create %s: %s\n", cfg->home, strerror(errno));
	if (store_open(db, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "hermetic: %s\n", err);
		st = NULL;
	}
	free(db);
	return st;
}

static void conn_close(struct conn *k)
{
	if (!k)
		return;
	event_free(k->ev);
	close(k->fd);
	if (k->lg->conn == k)
		k->lg->conn = NULL;
	free(k);
}

static void reply(int fd, int status, const char *text)
{
	char *r = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			    status, status == 200 ? "OK" : "Not Found", strlen(text), text);
	ssize_t n = write(fd, r, strlen(r));

	(void)n; /* the browser's loss: the sign-in goes on */
	free(r);
}

/* A request to the listener: GET /callback?QUERY goes to the flow, anything else is 404. */
static void on_conn(evutil_socket_t fd, short what, void *arg)
{
	struct conn *k = arg;
	struct login *lg = k->lg;
	char *end, *sp, *q;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		conn_close(k);
		return;
	}
	n = read(fd, k->buf + k->len, REQUEST_CAP - k->len);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(k);
		return;
	}
	k->len += (size_t)n;
	k->buf[k->len] = '\0';
	end = strstr(k->buf, "\r\n");
	if (!end) {
		if (k->len == REQUEST_CAP)
			conn_close(k);
		return;
	}
	*end = '\0';
	sp = strchr(k->buf, ' ');
	if (strncmp(k->buf, "GET /callback", 13) != 0 || !sp ||
	    (k->buf[13] != '?' && k->buf[13] != ' ')) {
		reply(fd, 404, "not here\n");
		conn_close(k);
		return;
	}
	q = k->buf[13] == '?' ? k->buf + 14 : k->buf + 13;
	sp = strchr(q, ' ');
	if (sp)
		*sp = '\0';
	reply(fd, 200, "hermetic: you may close this window; the command line says how it went.\n");
	q = xstrdup(q); /* it lives in k's buffer, which goes with k */
	conn_close(k);
	oauth_flow_redirect(lg->flow, q);
	free(q);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct login *lg = arg;
	struct timeval tv = {10, 0};
	struct conn *k;
	int c;

	(void)what;
	c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return;
	if (lg->conn) /* one at a time: a second would be a stranger's */
		conn_close(lg->conn);
	k = xcalloc(1, sizeof(*k));
	k->lg = lg;
	k->fd = c;
	k->ev = event_new(loop_base(lg->loop), c, EV_READ | EV_PERSIST, on_conn, k);
	event_add(k->ev, &tv);
	lg->conn = k;
}

static int listen_loopback(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* $BROWSER URL, through sh so BROWSER may carry arguments; the URL is "$1", never parsed. */
static void open_browser(const char *url)
{
	const char *browser = getenv("BROWSER");
	char *argv[] = {"sh", "-c", "exec $BROWSER \"$1\"", "sh", (char *)url, NULL};
	pid_t pid;

	if (!browser || !*browser)
		return;
	if (posix_spawnp(&pid, "sh", NULL, NULL, argv, environ) != 0)
		fprintf(stderr, "hermetic: could not run $BROWSER; open the address yourself\n");
}

static void on_authorize(struct oauth_flow *f, const char *url, void *arg)
{
	struct login *lg = arg;

	(void)f;
	/* mcp login's output is this address; a step-up's goes to stderr, so that the
	 * `mcp list --json` or `mcp call` it interrupts still prints only its result. */
	fprintf(lg->step_up ? stderr : stdout,
		"Open this address in a browser to sign in to %s:\n%s\n", lg->c->name, url);
	fflush(lg->step_up ? stderr : stdout);
	open_browser(url);
}

static void on_done(struct oauth_flow *f, int rc, const char *err, void *arg)
{
	struct login *lg = arg;

	(void)f;
	lg->rc = rc;
	lg->done = true;
	snprintf(lg->err, sizeof(lg->err), "%s", err ? err : "");
	loop_stop(lg->loop);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct login *lg = arg;

	(void)fd;
	(void)what;
	lg->rc = -ETIMEDOUT;
	lg->done = true;
	snprintf(lg->err, sizeof(lg->err), "the browser did not come back to 127.0.0.1 within %d s",
		 CLI_MCP_LOGIN_TIMEOUT_S);
	loop_stop(lg->loop);
}

/* Runs one flow to its end on loop; 0 with the tokens stored in *out, or < 0 with why in err.
 * dpop_key: the server's DPoP key of an earlier sign-in, or NULL (oauth_flow_opts). */
static int run_flow(struct loop *loop, const struct config_mcp_server *c,
		    const struct oauth_tokens *refresh, const char *step_up, bool person,
		    const char *dpop_key, struct oauth_tokens *out, char *err, size_t err_len)
{
	static const struct oauth_flow_cbs cbs = {on_authorize, on_done};
	struct login lg = {.loop = loop, .c = c, .listen_fd = -1, .step_up = step_up != NULL};
	struct timeval tv = {CLI_MCP_LOGIN_TIMEOUT_S, 0};
	struct oauth_flow_opts o = {.refresh = refresh,
				    .step_up_scope = step_up,
				    .dpop_key = dpop_key,
				    .timeout_ms = 30000};
	char *redirect = NULL;
	int port = 0;

	memset(out, 0, sizeof(*out));
	if (person) {
		lg.listen_fd = listen_loopback(&port);
		if (lg.listen_fd < 0) {
			snprintf(err, err_len, "could not listen on 127.0.0.1: %s",
				 strerror(errno));
			return -EIO;
		}
		redirect = xasprintf("http://127.0.0.1:%d/callback", port);
		o.redirect_uri = redirect;
		lg.accept_ev = event_new(loop_base(loop), lg.listen_fd, EV_READ | EV_PERSIST,
					 on_accept, &lg);
		event_add(lg.accept_ev, NULL);
	}
	lg.timer = evtimer_new(loop_base(loop), on_timeout, &lg);
	evtimer_add(lg.timer, &tv);
	lg.flow = oauth_flow_start(loop, c, &o, &cbs, &lg);
	if (lg.flow && !lg.done)
		loop_run(loop);
	if (!lg.flow) {
		lg.rc = -EINVAL;
		snprintf(lg.err, sizeof(lg.err), "nothing to refresh");
	} else if (lg.rc == 0) {
		const struct oauth_tokens *t = oauth_flow_tokens(lg.flow);

		oauth_tokens_copy(out, t);
	}
	oauth_flow_destroy(lg.flow);
	conn_close(lg.conn);
	if (lg.accept_ev) /* libevent's event_free does not take NULL */
		event_free(lg.accept_ev);
	event_free(lg.timer);
	if (lg.listen_fd >= 0)
		close(lg.listen_fd);
	free(redirect);
	snprintf(err, err_len, "%s", lg.err);
	return lg.rc;
}

static const struct config_mcp_server *oauth_server(const struct config *cfg, const char *name)
{
	const struct config_mcp_server *c = find_server(cfg, name);

	if (!c) {
		fprintf(stderr,
			"hermetic: no MCP server %s in the config (see hermetic mcp list)\n", name);
		return NULL;
	}
	if (c->auth != CONFIG_MCP_AUTH_OAUTH) {
		fprintf(stderr,
			"hermetic: MCP server %s does not sign in: set 'auth: oauth' in its "
			"entry\n",
			name);
		return NULL;
	}
	return c;
}

static int stored(struct store *st, const struct config_mcp_server *c, struct oauth_tokens *t);

int cli_mcp_login(const struct config *cfg, const char *server)
{
	const struct config_mcp_server *c = oauth_server(cfg, server);
	struct oauth_tokens t, old = {0};
	struct store *st;
	struct loop *loop;
	char err[512];
	int rc;

	if (!c)
		return 1;
	st = open_store(cfg);
	if (!st)
		return 1;
	loop = loop_create();
	signal(SIGPIPE, SIG_IGN);
	rc = run_flow(loop, c, NULL, NULL, c->oauth.grant == CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE,
		      stored(st, c, &old) == 0 ? old.dpop_key : NULL, &t, err, sizeof(err));
	oauth_tokens_finish(&old);
	if (rc == 0)
		rc = oauth_store_put(st, c->name, &t, now_wall_ms());
	if (rc == 0)
		printf("Signed in to %s%s%s.\n", c->name, t.scope ? " with scope " : "",
		       t.scope ? t.scope : "");
	else
		fprintf(stderr, "hermetic: signing in to %s failed: %s\n", c->name,
			*err ? err : "could not store the tokens");
	oauth_tokens_finish(&t);
	loop_destroy(loop);
	store_close(st);
	return rc == 0 ? 0 : 1;
}

int cli_mcp_logout(const struct config *cfg, const char *server)
{
	const struct config_mcp_server *c = oauth_server(cfg, server);
	struct store *st;
	int rc;

	if (!c)
		return 1;
	st = open_store(cfg);
	if (!st)
		return 1;
	rc = oauth_store_del(st, c->name);
	store_close(st);
	if (rc == 0)
		printf("Signed out of %s (its tokens are forgotten).\n", c->name);
	return rc == 0 ? 0 : 1;
}

/* The stored tokens of c when they are for its URL now; 0 or -ENOENT. */
static int stored(struct store *st, const struct config_mcp_server *c, struct oauth_tokens *t)
{
	if (oauth_store_get(st, c->name, t) < 0)
		return -ENOENT;
	if (!t->url || strcmp(t->url, c->url) != 0 || !t->access_token) {
		oauth_tokens_finish(t);
		return -ENOENT;
	}
	return 0;
}

static void prepare_one(struct store *st, const struct config_mcp_server *c, struct loop *loop,
			struct mcp *m)
{
	struct oauth_tokens t, fresh;
	char err[512];
	int have = stored(st, c, &t);

	/* a machine grant's token has no refresh token (RFC 6749 4.4.3): it signs in anew */
	if (have == 0 && t.expires_at_ms && t.expires_at_ms - 60000 < now_wall_ms() &&
	    !t.refresh_token && c->oauth.grant != CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE) {
		oauth_tokens_finish(&t);
		have = -ENOENT;
	}
	if (have == 0 && t.expires_at_ms && t.expires_at_ms - 60000 < now_wall_ms() &&
	    t.refresh_token) {
		if (run_flow(loop, c, &t, NULL, false, NULL, &fresh, err, sizeof(err)) == 0) {
			oauth_store_put(st, c->name, &fresh, now_wall_ms());
			oauth_tokens_finish(&t);
			t = fresh;
		} else {
			fprintf(stderr, "hermetic: refreshing the sign-in of %s failed: %s\n",
				c->name, err);
		}
	}
	if (have < 0 && c->oauth.grant != CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE) {
		have = run_flow(loop, c, NULL, NULL, false, NULL, &t, err, sizeof(err));
		if (have == 0)
			oauth_store_put(st, c->name, &t, now_wall_ms());
		else
			fprintf(stderr, "hermetic: signing in to %s failed: %s\n", c->name, err);
	}
	if (have == 0)
		mcp_set_bearer(m, c->name, t.access_token,
			       oauth_tokens_dpop(&t) ? t.dpop_key : NULL);
	oauth_tokens_finish(&t);
}

void cli_mcp_oauth_prepare(const struct config *cfg, struct loop *loop, struct mcp *m)
{
	struct store *st = NULL;
	size_t i;

	for (i = 0; i < cfg->n_mcp_servers; i++) {
		const struct config_mcp_server *c = &cfg->mcp_servers[i];

		if (c->auth != CONFIG_MCP_AUTH_OAUTH || !c->enabled)
			continue;
		if (!st)
			st = open_store(cfg);
		if (!st)
			return;
		prepare_one(st, c, loop, m);
	}
	store_close(st);
}

const char *cli_mcp_sign_in_state(const struct config *cfg, const char *server)
{
	const struct config_mcp_server *c = find_server(cfg, server);
	struct oauth_tokens t;
	const char *state;
	struct store *st;

	if (!c || c->auth != CONFIG_MCP_AUTH_OAUTH)
		return NULL;
	st = open_store(cfg);
	if (!st || stored(st, c, &t) < 0) {
		store_close(st);
		return "not signed in";
	}
	state = t.expires_at_ms && t.expires_at_ms < now_wall_ms() && !t.refresh_token
			? "signed in, expired"
			: "signed in";
	oauth_tokens_finish(&t);
	store_close(st);
	return state;
}

/* Whether every scope of want is in have (space-separated lists). */
static bool scopes_held(const char *want, const char *have)
{
	const char *p = want;

	while (*p) {
		size_t l = strcspn(p, " ");
		char *w = xstrndup(p, l);
		bool held = !l || oauth_scope_has(have, w);

		free(w);
		if (!held)
			return false;
		p += l;
		while (*p == ' ')
			p++;
	}
	return true;
}

int cli_mcp_step_up(const struct config *cfg, const char *server, const char *challenge)
{
	const struct config_mcp_server *c = find_server(cfg, server);
	struct oauth_challenge ch;
	struct oauth_tokens t = {0}, fresh;
	struct store *st;
	struct loop *loop;
	char err[512];
	int rc = -1;

	if (!c || c->auth != CONFIG_MCP_AUTH_OAUTH ||
	    c->oauth.grant != CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE || !challenge ||
	    oauth_challenge_parse(challenge, &ch) < 0)
		return -1;
	st = open_store(cfg);
	/* 403 insufficient_scope, or a 401 whose challenge names a scope we do not hold (a
	 * server that asks for its scope only on the request that needs it); or a 401 that
	 * refuses the token we hold although its scope is enough: the server may have moved to
	 * another authorization server (SEP-2352), which a sign-in from discovery finds. */
	if (st && ch.scope &&
	    (!ch.error || strcmp(ch.error, "insufficient_scope") == 0 ||
	     strcmp(ch.error, "invalid_token") == 0) &&
	    stored(st, c, &t) == 0 &&
	    (!scopes_held(ch.scope, t.scope) || !ch.error ||
	     strcmp(ch.error, "invalid_token") == 0)) {
		fprintf(stderr, "hermetic: %s asks for scope %s: signing in again\n", c->name,
			ch.scope);
		loop = loop_create();
		rc = run_flow(loop, c, NULL, ch.scope, true, t.dpop_key, &fresh, err, sizeof(err));
		if (rc == 0) {
			rc = oauth_store_put(st, c->name, &fresh, now_wall_ms());
			oauth_tokens_finish(&fresh);
		} else {
			fprintf(stderr, "hermetic: signing in to %s again failed: %s\n", c->name,
				err);
		}
		loop_destroy(loop);
	}
	oauth_tokens_finish(&t);
	oauth_challenge_finish(&ch);
	store_close(st);
	return rc == 0 ? 0 : -1;
}
