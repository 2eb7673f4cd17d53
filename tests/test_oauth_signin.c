/* oauth_signin: an interactive sign-in completed elsewhere. What the e2e tests cannot reach in
 * seconds: the bounded wait (an authorization server that never answers, then nobody), done
 * firing once and never inside begin, complete refusing what is no redirect or comes too early,
 * and which pasted text counts as an address a sign-in ends on. The whole flow against real
 * peers is tests/e2e/test_mcp_signin_sdk.py. */
#include "test.h"
#include "core/config.h"
#include "core/loop.h"
#include "mcp/oauth_signin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct seen {
	struct loop *loop;
	int n_ready, n_done, rc;
	char err[512];
};

static void on_ready(struct oauth_signin *s, const char *url, void *arg)
{
	struct seen *v = arg;

	(void)s;
	(void)url;
	v->n_ready++;
}

static void on_done(struct oauth_signin *s, int rc, const char *err, const struct oauth_tokens *tok,
		    void *arg)
{
	struct seen *v = arg;

	(void)s;
	assert_null(tok);
	v->n_done++;
	v->rc = rc;
	snprintf(v->err, sizeof(v->err), "%s", err);
	loop_stop(v->loop);
}

static const struct oauth_signin_cbs cbs = {on_ready, on_done};

static void stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loop_stop(arg);
}

/* Runs the loop for ms (the callbacks under test fire meanwhile). */
static void run_for(struct loop *l, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct event *t = evtimer_new(loop_base(l), stop, l);

	evtimer_add(t, &tv);
	loop_run(l);
	event_free(t);
}

/* A listener that takes connections (the kernel's backlog) and never answers. */
static int silent_listener(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void server(struct config_mcp_server *c, const char *url)
{
	memset(c, 0, sizeof(*c));
	c->name = "linear";
	c->url = (char *)url;
	c->auth = CONFIG_MCP_AUTH_OAUTH;
	c->oauth.grant = CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE;
}

static void a_sign_in_nobody_completes_ends_once_when_it_expires(void **state)
{
	struct seen v = {0};
	struct config_mcp_server c;
	struct oauth_signin_opts o = {
		.redirect_uri = "http://127.0.0.1/callback", .expire_ms = 150, .timeout_ms = 20000};
	struct oauth_signin *s;
	char url[64], err[256];
	int port, fd = silent_listener(&port);

	(void)state;
	v.loop = loop_create();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/mcp", port);
	server(&c, url);
	s = oauth_signin_begin(v.loop, NULL, &c, &o, &cbs, &v);
	assert_non_null(s);
	assert_int_equal(v.n_done, 0); /* never inside begin */
	/* before the URL is ready nothing can complete it */
	assert_int_equal(oauth_signin_complete(s, "http://127.0.0.1/callback?code=c&state=s", err,
					       sizeof(err)),
			 -EAGAIN);
	assert_null(oauth_signin_url(s));
	run_for(v.loop, 1000);
	assert_int_equal(v.n_done, 1);
	assert_int_equal(v.n_ready, 0);
	assert_int_equal(v.rc, -ETIMEDOUT);
	assert_non_null(strstr(v.err, "nobody completed the sign-in to linear"));
	run_for(v.loop, 200);
	assert_int_equal(v.n_done, 1); /* once */
	assert_int_equal(oauth_signin_complete(s, "code=c&state=s", err, sizeof(err)), -EALREADY);
	oauth_signin_destroy(s);
	loop_destroy(v.loop);
	close(fd);
}

static void a_discovery_that_fails_ends_the_sign_in_from_the_loop(void **state)
{
	struct seen v = {0};
	struct config_mcp_server c;
	struct oauth_signin_opts o = {.redirect_uri = "http://127.0.0.1/callback",
				      .timeout_ms = 5000};
	struct oauth_signin *s;
	int port, fd = silent_listener(&port);
	char url[64];

	(void)state;
	close(fd); /* the port is free now: connections are refused */
	v.loop = loop_create();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/mcp", port);
	server(&c, url);
	s = oauth_signin_begin(v.loop, NULL, &c, &o, &cbs, &v);
	assert_non_null(s);
	assert_int_equal(v.n_done, 0);
	run_for(v.loop, 3000);
	assert_int_equal(v.n_done, 1);
	assert_true(v.rc < 0 && v.rc != -ETIMEDOUT);
	assert_int_equal(v.n_ready, 0);
	oauth_signin_destroy(s);
	loop_destroy(v.loop);
}

static void destroy_before_the_end_fires_nothing(void **state)
{
	struct seen v = {0};
	struct config_mcp_server c;
	struct oauth_signin_opts o = {.redirect_uri = "http://127.0.0.1/callback", .expire_ms = 50};
	int port, fd = silent_listener(&port);
	char url[64];

	(void)state;
	v.loop = loop_create();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/mcp", port);
	server(&c, url);
	oauth_signin_destroy(oauth_signin_begin(v.loop, NULL, &c, &o, &cbs, &v));
	run_for(v.loop, 300);
	assert_int_equal(v.n_done, 0);
	loop_destroy(v.loop);
	close(fd);
}

static void a_begin_that_cannot_start_returns_null(void **state)
{
	struct seen v = {0};
	struct config_mcp_server c;
	struct oauth_signin_opts o = {.redirect_uri = NULL};

	(void)state;
	v.loop = loop_create();
	server(&c, "http://127.0.0.1:1/mcp");
	assert_null(oauth_signin_begin(v.loop, NULL, &c, &o, &cbs, &v)); /* no redirect URI */
	o.redirect_uri = "http://127.0.0.1/callback";
	c.auth = CONFIG_MCP_AUTH_NONE;
	assert_null(oauth_signin_begin(v.loop, NULL, &c, &o, &cbs, &v)); /* not auth: oauth */
	run_for(v.loop, 50);
	assert_int_equal(v.n_done, 0);
	loop_destroy(v.loop);
}

static void pasted_text_is_an_address_only_with_a_state_and_a_code_or_error(void **state)
{
	static const struct {
		const char *text;
		int yes;
	} rows[] = {
		{"http://127.0.0.1/callback?code=abc&state=xyz", 1},
		{"  http://127.0.0.1/callback?state=xyz&code=abc&iss=https%3A%2F%2Fas  ", 1},
		{"code=abc&state=xyz", 1},
		{"http://127.0.0.1/callback?error=access_denied&state=xyz", 1},
		{"https://h.example.org/ui/oauth/callback?code=a&state=b#frag", 1},
		{"http://127.0.0.1/callback?code=abc", 0},  /* no state */
		{"http://127.0.0.1/callback?state=xyz", 0}, /* neither code nor error */
		{"what is the state of my code?", 0},	    /* words, not parameters */
		{"http://x/?code=a&code=b&state=s", 0},	    /* a repeated parameter */
		{"please sign me in to linear", 0},
		{"", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(oauth_signin_is_redirect(rows[i].text), rows[i].yes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_sign_in_nobody_completes_ends_once_when_it_expires),
		cmocka_unit_test(a_discovery_that_fails_ends_the_sign_in_from_the_loop),
		cmocka_unit_test(destroy_before_the_end_fires_nothing),
		cmocka_unit_test(a_begin_that_cannot_start_returns_null),
		cmocka_unit_test(pasted_text_is_an_address_only_with_a_state_and_a_code_or_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
