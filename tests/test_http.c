/* loop + httpc + httpd over real loopback HTTP: libcurl's multi interface driven by the
 * libevent loop talks to our httpd server in the same thread. Proves: bodies, headers, caps
 * on both sides (413, client body cap), 404/405 shapes, streaming callbacks, first-byte and
 * whole-request timeouts, connection refused, cancel (callback exactly once, never
 * synchronously, also from inside the data callback), many requests at once, and the peer
 * address check (sees resolved names, skips proxies and pooled connections), the proxy
 * variables read as curl reads them (http_proxy, all_proxy, no_proxy), head lines written
 * without printf byte for byte as printf writes them, and request heads as curl's printf
 * writes them; on the server
 * side, the connection cap (503) and the head and idle deadlines, which never cut a request a
 * handler holds. */
#include "test.h"
#include "net/httpc.h"
#include "net/httpd.h"
#include "core/loop.h"
#include "net/netcheck.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <curl/mprintf.h>
#include <stdarg.h>
#include <event2/event.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fx {
	struct loop *loop;
	struct httpd *srv;
	char base[64];
	struct event *guard;
	int expected, done;
	int timed_out;
	/* the last finished request */
	enum httpc_result result;
	long status;
	char *body;
	char *header;
	int chunks;
	struct buf streamed;
	struct httpd_req *held;
	int cancel_in_data;
	int chunkers; /* streaming replies still being written */
	long status_in_data;
	struct httpc_req *req;
	int hello_hits;
	char *error;
	char checked[64]; /* the last address check_addr saw */
};

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	struct fx *f = arg;

	f->timed_out = 1;
	loop_stop(f->loop);
}

static void on_hello(struct httpd_req *req, void *arg)
{
	struct fx *f = arg;

	f->hello_hits++;
	httpd_add_header(req, "Retry-After", "7");
	httpd_reply(req, 200, "text/plain", "hello", 5);
}

static void on_echo(struct httpd_req *req, void *arg)
{
	size_t len;
	char *body = httpd_body(req, &len);

	httpd_reply(req, 200, "application/octet-stream", body, len);
	free(body);
}

static void on_big(struct httpd_req *req, void *arg)
{
	char *big = xmalloc(100000);

	memset(big, 'x', 100000);
	httpd_reply(req, 200, "text/plain", big, 100000);
	free(big);
}

static void on_hold(struct httpd_req *req, void *arg)
{
	struct fx *f = arg;

	f->held = req; /* never answered: the client must give up by itself */
}

struct chunker {
	struct fx *f;
	struct httpd_req *req;
	struct event *ev;
	int left;
};

static void send_chunk(evutil_socket_t fd, short what, void *arg)
{
	struct chunker *c = arg;
	char line[32];
	struct timeval tv = {0, 10000};
	int n = snprintf(line, sizeof(line), "data: chunk %d\n\n", c->left);

	httpd_reply_chunk(c->req, line, (size_t)n);
	if (--c->left > 0) {
		evtimer_add(c->ev, &tv);
		return;
	}
	httpd_reply_end(c->req);
	event_free(c->ev);
	c->f->chunkers--;
	free(c);
}

static void on_stream(struct httpd_req *req, void *arg)
{
	struct fx *f = arg;
	struct chunker *c = xcalloc(1, sizeof(*c));
	struct timeval tv = {0, 10000};

	c->f = f;
	c->req = req;
	c->left = 5;
	f->chunkers++;
	c->ev = evtimer_new(loop_base(f->loop), send_chunk, c);
	httpd_reply_start(req, 200, NULL);
	evtimer_add(c->ev, &tv);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct httpd_opts o = {.listen = "127.0.0.1:0", .max_body_bytes = 1024, .timeout_s = 5};
	char err[256];
	struct timeval tv = {5, 0};

	f->loop = loop_create();
	if (httpd_create(f->loop, &o, &f->srv, err, sizeof(err)) < 0)
		return -1;
	httpd_route(f->srv, HTTPD_GET, "/hello", on_hello, f);
	httpd_route(f->srv, HTTPD_POST, "/echo", on_echo, f);
	httpd_route(f->srv, HTTPD_GET, "/big", on_big, f);
	httpd_route(f->srv, HTTPD_GET, "/hold", on_hold, f);
	httpd_route(f->srv, HTTPD_GET, "/stream", on_stream, f);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", httpd_port(f->srv));
	f->guard = evtimer_new(loop_base(f->loop), on_guard, f);
	evtimer_add(f->guard, &tv);
	buf_init(&f->streamed, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	httpc_cancel_all(f->loop);
	event_base_loop(loop_base(f->loop), EVLOOP_NONBLOCK);
	while (f->chunkers > 0 && !f->timed_out)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
	/* A handler answers every request exactly once, even after the client left. */
	if (f->held)
		httpd_reply(f->held, 503, "text/plain", "bye", 3);
	event_base_loop(loop_base(f->loop), EVLOOP_NONBLOCK);
	event_free(f->guard);
	httpd_destroy(f->srv);
	loop_destroy(f->loop);
	free(f->body);
	free(f->header);
	free(f->error);
	buf_finish(&f->streamed);
	free(f);
	return 0;
}

static void on_done(struct httpc_req *req, void *arg)
{
	struct fx *f = arg;
	const char *h = httpc_header(req, "Retry-After");

	f->done++;
	f->result = httpc_result(req);
	f->status = httpc_status(req);
	free(f->body);
	f->body = xstrdup(httpc_body(req, NULL));
	free(f->header);
	f->header = h ? xstrdup(h) : NULL;
	free(f->error);
	f->error = xstrdup(httpc_error(req));
	f->req = NULL;
	if (f->done >= f->expected)
		loop_stop(f->loop);
}

static void run(struct fx *f, int expected)
{
	f->expected = expected;
	loop_run(f->loop);
	assert_false(f->timed_out);
	assert_int_equal(f->done, expected);
}

static void start(struct fx *f, const char *path, const struct httpc_opts *extra)
{
	struct httpc_opts o = {0};
	char *url = xasprintf("%s%s", f->base, path);

	if (extra)
		o = *extra;
	o.url = url;
	assert_int_equal(httpc_start(f->loop, &o, on_done, f, &f->req), 0);
	free(url);
}

static void get_returns_body_status_and_headers(void **state)
{
	struct fx *f = *state;

	start(f, "/hello", NULL);
	run(f, 1);
	assert_int_equal(f->result, HTTPC_OK);
	assert_int_equal(f->status, 200);
	assert_string_equal(f->body, "hello");
	assert_string_equal(f->header, "7");
}

static void post_body_round_trips(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.body = "{\"a\":1}", .body_len = 7};

	start(f, "/echo", &o);
	run(f, 1);
	assert_int_equal(f->status, 200);
	assert_string_equal(f->body, "{\"a\":1}");
}

static void server_refuses_body_over_cap_with_413(void **state)
{
	struct fx *f = *state;
	char *big = xmalloc(4096);
	struct httpc_opts o = {.body = big, .body_len = 4096};

	memset(big, 'y', 4096);
	start(f, "/echo", &o);
	free(big);
	run(f, 1);
	assert_int_equal(f->status, 413);
}

static void unknown_route_404_and_wrong_method_405_in_openai_shape(void **state)
{
	struct fx *f = *state;
	struct httpc_opts post = {.body = "x", .body_len = 1};

	start(f, "/nope", NULL);
	run(f, 1);
	assert_int_equal(f->status, 404);
	assert_non_null(strstr(f->body, "{\"error\":{\"message\":\"no such route\""));
	start(f, "/hello", &post);
	run(f, 2);
	assert_int_equal(f->status, 405);
	assert_non_null(strstr(f->body, "\"code\":\"405\""));
}

static void client_body_cap_reports_too_big(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.max_response_bytes = 1000};

	start(f, "/big", &o);
	run(f, 1);
	assert_int_equal(f->result, HTTPC_TOO_BIG);
}

static int collect_chunk(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	struct fx *f = arg;

	f->chunks++;
	f->status_in_data = httpc_status(req);
	buf_append(&f->streamed, data, len);
	if (f->cancel_in_data)
		httpc_cancel(req);
	return 0;
}

static int start_nested(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	struct fx *f = arg;
	struct httpc_opts o = {0};
	char *url;

	if (f->chunks++ > 0)
		return 0;
	url = xasprintf("%s/hello", f->base);
	o.url = url;
	/* curl forbids adding a transfer here; httpc must defer it to the loop. */
	assert_int_equal(httpc_start(f->loop, &o, on_done, f, NULL), 0);
	free(url);
	return 0;
}

static void request_started_inside_a_data_callback_completes(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.on_data = start_nested};

	start(f, "/stream", &o);
	run(f, 2);
	assert_int_equal(f->result, HTTPC_OK);
}

static void streamed_body_arrives_through_callback(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.on_data = collect_chunk};

	start(f, "/stream", &o);
	run(f, 1);
	assert_int_equal(f->result, HTTPC_OK);
	assert_int_equal(f->status_in_data, 200);
	assert_true(f->chunks >= 2);
	assert_non_null(strstr(buf_str(&f->streamed), "data: chunk 5\n\n"));
	assert_non_null(strstr(buf_str(&f->streamed), "data: chunk 1\n\n"));
	assert_string_equal(f->body, "");
}

static void cancel_inside_data_callback_ends_once(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.on_data = collect_chunk};

	f->cancel_in_data = 1;
	start(f, "/stream", &o);
	run(f, 1);
	assert_int_equal(f->result, HTTPC_CANCELLED);
	assert_int_equal(f->chunks, 1);
}

static void first_byte_timeout_fires(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.first_byte_timeout_ms = 150};

	start(f, "/hold", &o);
	run(f, 1);
	assert_int_equal(f->result, HTTPC_FIRST_BYTE);
	assert_non_null(f->held);
}

static void whole_request_timeout_fires(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.timeout_ms = 150};

	start(f, "/hold", &o);
	run(f, 1);
	assert_int_equal(f->result, HTTPC_TIMEOUT);
}

static void refused_connection_reports_connect(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.url = "http://127.0.0.1:1/"};

	assert_int_equal(httpc_start(f->loop, &o, on_done, f, NULL), 0);
	run(f, 1);
	assert_int_equal(f->result, HTTPC_CONNECT);
}

static void cancel_fires_callback_later_exactly_once(void **state)
{
	struct fx *f = *state;

	start(f, "/hold", NULL);
	httpc_cancel(f->req);
	assert_int_equal(f->done, 0);
	run(f, 1);
	assert_int_equal(f->result, HTTPC_CANCELLED);
	/* Let the loop spin a little more: no second callback may arrive. */
	event_base_loop(loop_base(f->loop), EVLOOP_NONBLOCK);
	assert_int_equal(f->done, 1);
}

static void non_http_scheme_is_refused_without_callback(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.url = "file:///etc/passwd"};

	assert_int_equal(httpc_start(f->loop, &o, on_done, f, NULL), -1);
	assert_int_equal(f->done, 0);
}

/* After httpd_stop_serving a request on an open keep-alive connection gets a 503 and never
 * reaches its handler (a shutdown destroys the modules behind the routes while it runs the
 * loop), while a request dispatched before it is still answered. */
static void a_stopped_server_refuses_new_requests_and_answers_started_ones(void **state)
{
	struct fx *f = *state;

	start(f, "/hello", NULL);
	run(f, 1);
	assert_int_equal(f->status, 200);
	assert_int_equal(f->hello_hits, 1);
	start(f, "/hold", NULL);
	while (!f->held && !f->timed_out)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
	assert_non_null(f->held);
	httpd_stop_serving(f->srv);
	httpd_reply(f->held, 200, "text/plain", "held", 4); /* started before: answered */
	f->held = NULL;
	run(f, 2);
	assert_int_equal(f->status, 200);
	assert_string_equal(f->body, "held");
	start(f, "/hello", NULL); /* the pooled connection of the first request */
	run(f, 3);
	assert_int_equal(f->status, 503);
	assert_non_null(strstr(f->body, "shutting down"));
	assert_int_equal(f->hello_hits, 1); /* the handler never ran */
}

static void fifty_concurrent_requests_complete(void **state)
{
	struct fx *f = *state;
	int i;

	for (i = 0; i < 50; i++)
		start(f, "/hello", NULL);
	run(f, 50);
	assert_int_equal(f->status, 200);
	assert_int_equal(loop_curl_running(f->loop), 0);
}

/* The web_fetch policy in small: only public addresses. */
static int public_only(const struct sockaddr *sa, size_t len, char *why, size_t why_len, void *arg)
{
	struct fx *f = arg;
	enum netcheck_class c = netcheck_sockaddr(sa, len);

	netcheck_sockaddr_str(sa, len, f->checked, sizeof(f->checked));
	if (c == NETCHECK_PUBLIC)
		return 0;
	snprintf(why, why_len, "%s is %s", f->checked, netcheck_class_text(c));
	return -1;
}

static int allow_all(const struct sockaddr *sa, size_t len, char *why, size_t why_len, void *arg)
{
	struct fx *f = arg;

	netcheck_sockaddr_str(sa, len, f->checked, sizeof(f->checked));
	return 0;
}

static void address_check_refuses_a_resolved_name_before_connecting(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.check_addr = public_only, .check_arg = f};
	char *url = xasprintf("http://localhost:%d/hello", httpd_port(f->srv));

	o.url = url;
	assert_int_equal(httpc_start(f->loop, &o, on_done, f, NULL), 0);
	free(url);
	run(f, 1);
	assert_int_equal(f->result, HTTPC_REFUSED);
	assert_string_equal(httpc_result_name(HTTPC_REFUSED), "refused");
	assert_non_null(strstr(f->error, " is a loopback address"));
	assert_int_equal(f->hello_hits, 0);
}

static void address_check_sees_the_peer_and_allows(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.check_addr = allow_all, .check_arg = f};

	start(f, "/hello", &o);
	run(f, 1);
	assert_int_equal(f->result, HTTPC_OK);
	assert_string_equal(f->body, "hello");
	assert_string_equal(f->checked, "127.0.0.1");
}

static void address_check_ignores_proxy_settings(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.check_addr = allow_all, .check_arg = f};

	/* A proxy that does not exist: used, it would fail the request. */
	setenv("http_proxy", "http://127.0.0.1:1", 1);
	httpc_env_changed();
	start(f, "/hello", &o);
	run(f, 1);
	unsetenv("http_proxy");
	httpc_env_changed();
	assert_int_equal(f->result, HTTPC_OK);
	assert_string_equal(f->checked, "127.0.0.1");
}

/* The proxy variables as curl reads them: httpc reads them once and hands them to curl. */
static void set_proxy_env(const char *name, const char *value)
{
	static const char *const all[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
					  "all_proxy",	"ALL_PROXY",  "no_proxy",    "NO_PROXY"};
	size_t i;

	if (!name)
		for (i = 0; i < ARRAY_LEN(all); i++)
			unsetenv(all[i]);
	else
		setenv(name, value, 1);
	httpc_env_changed();
}

static void get_via(struct fx *f, const char *url)
{
	struct httpc_opts o = {.url = url};

	assert_int_equal(httpc_start(f->loop, &o, on_done, f, NULL), 0);
	run(f, ++f->expected);
}

static void http_proxy_variable_routes_requests_through_the_proxy(void **state)
{
	struct fx *f = *state;

	/* Our server is the proxy: it gets "GET http://upstream.invalid/hello" and answers it; a
	 * direct request could not even resolve the name. */
	set_proxy_env(NULL, NULL);
	set_proxy_env("http_proxy", f->base);
	get_via(f, "http://upstream.invalid/hello");
	set_proxy_env(NULL, NULL);
	assert_int_equal(f->result, HTTPC_OK);
	assert_string_equal(f->body, "hello");
}

static void all_proxy_is_the_fallback_and_upper_case_http_proxy_is_ignored(void **state)
{
	struct fx *f = *state;
	char url[96];

	snprintf(url, sizeof(url), "%s/hello", f->base);
	set_proxy_env(NULL, NULL);
	set_proxy_env("HTTP_PROXY", "http://127.0.0.1:1"); /* curl never reads it */
	get_via(f, url);
	assert_int_equal(f->result, HTTPC_OK);
	set_proxy_env("ALL_PROXY", "http://127.0.0.1:1");
	get_via(f, url);
	set_proxy_env(NULL, NULL);
	assert_int_equal(f->result, HTTPC_CONNECT);
}

static void no_proxy_host_goes_direct(void **state)
{
	struct fx *f = *state;
	char url[96];

	snprintf(url, sizeof(url), "%s/hello", f->base);
	set_proxy_env(NULL, NULL);
	set_proxy_env("http_proxy", "http://127.0.0.1:1");
	get_via(f, url);
	assert_int_equal(f->result, HTTPC_CONNECT);
	set_proxy_env("NO_PROXY", "example.com,127.0.0.1");
	get_via(f, url);
	set_proxy_env(NULL, NULL);
	assert_int_equal(f->result, HTTPC_OK);
	assert_string_equal(f->body, "hello");
}

static void address_check_never_reuses_a_pooled_connection(void **state)
{
	struct fx *f = *state;
	struct httpc_opts o = {.check_addr = public_only, .check_arg = f};

	start(f, "/hello", NULL); /* leaves a kept-alive connection in curl's pool */
	run(f, 1);
	assert_int_equal(f->result, HTTPC_OK);
	start(f, "/hello", &o);
	run(f, 2);
	assert_int_equal(f->result, HTTPC_REFUSED);
	assert_string_equal(f->error, "127.0.0.1 is a loopback address");
	assert_int_equal(f->hello_hits, 1);
}

/* httpc_vformat against curl's own printf, on the same arguments. */
static void same_as_curl(const char *fmt, ...)
{
	char mine[256], curls[256];
	va_list ap, cp;
	size_t n;
	int want;

	assert_true(httpc_format_fast(fmt));
	va_start(ap, fmt);
	va_copy(cp, ap);
	n = httpc_vformat(mine, sizeof(mine) - 1, fmt, ap);
	want = curl_mvsnprintf(curls, sizeof(curls), fmt, cp);
	va_end(cp);
	va_end(ap);
	assert_int_equal(n, want);
	mine[n] = '\0';
	assert_memory_equal(mine, curls, n);
}

static void request_heads_are_the_bytes_curls_printf_writes(void **state)
{
	const char name[] = "Content-Type: application/json"; /* not cut at the colon */

	same_as_curl("POST /v1/chat/completions HTTP/%s\r\n%s%s", "1.1", "Host: a\r\n", "");
	same_as_curl("%.*s:\r\n", 12, name);
	same_as_curl("%.*s|%.*s|%.*s", -1, "neg", 0, "zero", 2, (const char *)NULL);
	same_as_curl("%s|%.*s|%.*s", (const char *)NULL, 5, (const char *)NULL, 9, "ab");
	same_as_curl("Host: %s%s%s:%d\r\n", "[", "::1", "]", 8080);
	same_as_curl("%d %d %u %ld %lu %lld %llu %zu", -2147483647 - 1, 0, 4294967295u,
		     -9223372036854775807L - 1, 18446744073709551615UL, -42LL, 42ULL,
		     (size_t)123456);
	same_as_curl("Content-Length: %lld\r\n", 1234567890123LL);
	same_as_curl(";type=%c 100%% %s", 'A', "done");
	same_as_curl("");
	same_as_curl("no directives");
	assert_false(httpc_format_fast("%5s"));
	assert_false(httpc_format_fast("%-s"));
	assert_false(httpc_format_fast("%02d"));
	assert_false(httpc_format_fast("%x"));
	assert_false(httpc_format_fast("%1$s"));
	assert_false(httpc_format_fast("%"));
}

/* ---- server-side connection cap and deadlines, with raw client sockets ---- */

struct srv {
	struct loop *loop;
	struct httpd *h;
	struct httpd_req *held;
	int handled;	   /* handler calls */
	int closes;	   /* close callbacks */
	int closes_inside; /* close callbacks that ran inside an httpd_* call */
	bool in_call;
	int observed;
};

static void hold_request(struct httpd_req *req, void *arg)
{
	((struct srv *)arg)->held = req;
}

/* Answers with the query (or "hello"). */
static void query_request(struct httpd_req *req, void *arg)
{
	const char *q = httpd_query(req);

	((struct srv *)arg)->handled++;
	httpd_reply(req, 200, "text/plain", q ? q : "hello", q ? strlen(q) : 5);
}

static void echo_request(struct httpd_req *req, void *arg)
{
	size_t len;
	const char *body = httpd_body_ref(req, &len);

	((struct srv *)arg)->handled++;
	httpd_reply(req, 200, "application/octet-stream", body, len);
}

static void on_gone(struct httpd_req *req, void *arg)
{
	struct srv *s = arg;

	s->closes++;
	if (s->in_call)
		s->closes_inside++;
}

/* Starts a stream and holds it, watching for the client to leave. */
static void stream_request(struct httpd_req *req, void *arg)
{
	struct srv *s = arg;

	s->handled++;
	s->held = req;
	httpd_on_close(req, on_gone, s);
	httpd_reply_start(req, 200, "text/event-stream");
	httpd_reply_chunk(req, "data: 1\n\n", 9);
}

static void count_observed(const char *route, int status, void *arg)
{
	((struct srv *)arg)->observed++;
}

static void srv_start_with(struct srv *s, const struct httpd_opts *o)
{
	char err[256];

	memset(s, 0, sizeof(*s));
	s->loop = loop_create();
	assert_int_equal(httpd_create(s->loop, o, &s->h, err, sizeof(err)), 0);
	httpd_route(s->h, HTTPD_GET, "/hold", hold_request, s);
	httpd_route(s->h, HTTPD_GET | HTTPD_HEAD, "/q", query_request, s);
	httpd_route(s->h, HTTPD_POST, "/echo", echo_request, s);
	httpd_route(s->h, HTTPD_GET | HTTPD_HEAD, "/stream", stream_request, s);
	httpd_set_observer(s->h, count_observed, s);
}

/* Timeouts of a second, so the tests of them are quick. */
static void srv_start_body(struct srv *s, int max_connections, size_t max_body)
{
	struct httpd_opts o = {.listen = "127.0.0.1:0",
			       .max_connections = max_connections,
			       .idle_timeout_s = 1,
			       .header_timeout_s = 1,
			       .body_timeout_s = 1,
			       .max_body_bytes = max_body,
			       .max_header_bytes = 1024};

	srv_start_with(s, &o);
}

static void srv_start(struct srv *s, int max_connections)
{
	srv_start_body(s, max_connections, 64);
}

static void srv_finish(struct srv *s)
{
	httpd_destroy(s->h);
	loop_destroy(s->loop);
}

static void srv_run_ms(struct srv *s, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(loop_base(s->loop), &tv);
	event_base_dispatch(loop_base(s->loop));
}

static int client(const struct srv *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_port = htons((uint16_t)httpd_port(s->h));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* What the server sent so far (NUL-terminated in out), -1 once it closed with nothing. */
static ssize_t client_read(int fd, char *out, size_t len)
{
	ssize_t n = recv(fd, out, len - 1, MSG_DONTWAIT);

	out[n > 0 ? n : 0] = '\0';
	if (n == 0)
		return -1;
	return n < 0 ? 0 : n;
}

static void say(int fd, const char *text)
{
	size_t n = strlen(text);

	assert_int_equal(send(fd, text, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Runs the server and collects what it sends on fd for up to ms (or until it closes: then
 * *closed is set). Returns the bytes, NUL-terminated in out. */
static size_t collect(struct srv *s, int fd, char *out, size_t len, long ms, bool *closed)
{
	size_t got = 0;
	long waited;

	*closed = false;
	for (waited = 0; waited < ms && !*closed; waited += 20) {
		ssize_t n;

		srv_run_ms(s, 20);
		while ((n = recv(fd, out + got, len - 1 - got, MSG_DONTWAIT)) > 0)
			got += (size_t)n;
		if (n == 0 || (n < 0 && errno != EAGAIN))
			*closed = true;
	}
	out[got] = '\0';
	return got;
}

/* memmem, not strstr: ASan's strstr measures the whole haystack on every call, which made
 * counting 40,000 answers in 4 MB quadratic (a minute under the sanitizer). */
static int count_of(const char *hay, const char *needle)
{
	const char *end = hay + strlen(hay);
	size_t k = strlen(needle);
	int n = 0;

	while ((hay = memmem(hay, (size_t)(end - hay), needle, k))) {
		n++;
		hay += k;
	}
	return n;
}

/* Answer headers with their lengths given: a NUL, CR or LF anywhere in the value (also past
 * the first eight bytes, which are checked eight at a time) or a colon in the name drops the
 * header, the rest go out as given (a tab too). The request's room is zeroed, as long as promised,
 * and refused past HTTPD_REQ_ROOM. */
static void header_request(struct httpd_req *req, void *arg)
{
	static const char long_ok[] = "abcdefghijklmnopqrstuvwxyz-0123456789";
	unsigned char *room = httpd_req_room(req, HTTPD_REQ_ROOM);
	size_t i;

	((struct srv *)arg)->handled++;
	assert_non_null(room);
	for (i = 0; i < HTTPD_REQ_ROOM; i++)
		assert_int_equal(room[i], 0);
	memset(room, 0xa5, HTTPD_REQ_ROOM);
	assert_null(httpd_req_room(req, HTTPD_REQ_ROOM + 1));
	HTTPD_ADD_HEADER_LIT(req, "X-Nul", "a\0b", 3);
	HTTPD_ADD_HEADER_LIT(req, "X-Late-Lf", "0123456789abcdef\nX-Evil: 1", 27);
	HTTPD_ADD_HEADER_LIT(req, "X-Late-Cr", "0123456789abcdefghij\r", 21);
	httpd_add_header_n(req, "X-Co:lon", 8, "v", 1);
	httpd_add_header_n(req, "X-Colon-Late-In-The:Name", 24, "v", 1);
	httpd_add_header_n(req, "X-Tab-Is-Not-A-Break", 20, "tab\there, past eight", 20);
	httpd_add_header_n(req, "", 0, "v", 1);
	HTTPD_ADD_HEADER_LIT(req, "X-Long-Enough-To-Take-The-Wide-Check", long_ok,
			     sizeof(long_ok) - 1);
	HTTPD_ADD_HEADER_LIT(req, "X-Cut", "keepdrop", 4);
	HTTPD_ADD_HEADER_LIT(req, "X-Empty", "", 0);
	httpd_add_header(req, "X-Plain", "p");
	httpd_reply(req, 200, "text/plain", "ok", 2);
}

static void answer_headers_with_lengths_drop_line_breaks_anywhere(void **state)
{
	struct srv s;
	char got[4096];
	bool closed;
	int fd, round;

	srv_start(&s, 0);
	httpd_route(s.h, HTTPD_GET, "/hdr", header_request, &s);
	fd = client(&s);
	for (round = 0; round < 2; round++) { /* the second finds the room written to */
		say(fd, "GET /hdr HTTP/1.1\r\nHost: x\r\n\r\n");
		collect(&s, fd, got, sizeof(got), 200, &closed);
		assert_false(closed);
		assert_null(strstr(got, "X-Nul"));
		assert_null(strstr(got, "X-Late"));
		assert_null(strstr(got, "X-Evil"));
		assert_null(strstr(got, "X-Co"));
		assert_null(strstr(got, "\r\n: v"));
		assert_non_null(strstr(got, "\r\nX-Long-Enough-To-Take-The-Wide-Check: "
					    "abcdefghijklmnopqrstuvwxyz-0123456789\r\n"));
		assert_non_null(strstr(got, "\r\nX-Tab-Is-Not-A-Break: tab\there, past eight\r\n"));
		assert_non_null(strstr(got, "\r\nX-Cut: keep\r\nX-Empty: \r\nX-Plain: p\r\n"));
		assert_non_null(strstr(got, "\r\n\r\nok"));
	}
	assert_int_equal(s.handled, 2);
	close(fd);
	srv_finish(&s);
}

static void pipelined_requests_are_answered_in_order(void **state)
{
	struct srv s;
	char got[4096];
	bool closed;
	const char *a, *b, *c;
	int fd;

	srv_start(&s, 0);
	fd = client(&s);
	say(fd, "GET /q?first HTTP/1.1\r\nHost: x\r\n\r\n"
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecond"
		"GET /q?third HTTP/1.1\r\nHost: x\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 300, &closed);
	assert_false(closed);
	assert_int_equal(count_of(got, "HTTP/1.1 200 OK\r\n"), 3);
	a = strstr(got, "\r\n\r\nfirst");
	b = strstr(got, "\r\n\r\nsecond");
	c = strstr(got, "\r\n\r\nthird");
	assert_true(a && b && c && a < b && b < c);
	assert_int_equal(s.handled, 3);
	assert_int_equal(s.observed, 3);
	close(fd);
	srv_finish(&s);
}

/* A client pipelining thousands of requests and reading nothing: the server stops reading
 * and answering while its answers wait, so what it buffers stays bounded (without the pause it
 * read all and queued every answer); read afterwards, every answer arrives in order. */
static void a_pipelining_client_that_does_not_read_is_not_buffered_without_bound(void **state)
{
	/* 8,000 requests under a sanitizer still ask for well over the bound in answers (asserted
	 * below), so the property holds with a fifth of the work. */
	enum { N = 40000 / TEST_SCALE_DOWN, EVERY = 1000, BOUND = 256 * 1024 };
	struct srv s;
	struct buf req, got;
	size_t sent = 0, most = 0, answers = 0, seen = 0;
	char tmp[65536], want[32];
	const char *p;
	long deadline;
	int fd, i, small = 4096;

	srv_start(&s, 0);
	buf_init(&req, 0);
	buf_init(&got, 0);
	for (i = 0; i < N; i++)
		if (i % EVERY == 0)
			buf_printf(&req, "GET /q?n%d HTTP/1.1\r\n\r\n", i);
		else
			buf_puts(&req, "GET /nope HTTP/1.1\r\n\r\n");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	{
		struct sockaddr_in a = {.sin_family = AF_INET};

		a.sin_port = htons((uint16_t)httpd_port(s.h));
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	/* Send what the sockets take, never read. */
	for (deadline = test_now_ms() + 1500; test_now_ms() < deadline && sent < req.len;) {
		ssize_t w;

		while ((w = send(fd, req.data + sent, req.len - sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
			sent += (size_t)w;
		srv_run_ms(&s, 5);
		if (httpd_buffered_max(s.h) > most)
			most = httpd_buffered_max(s.h);
	}
	srv_run_ms(&s, 100);
	if (httpd_buffered_max(s.h) > most)
		most = httpd_buffered_max(s.h);
	print_message("sent %zu of %zu request bytes unread; the server buffered at most %zu\n",
		      sent, req.len, most);
	assert_true(most < BOUND);
	/* Now read: every answer, in order, on the same connection. */
	/* The deadline ends only a server that stopped answering: under TSan the 8,000 answers
	 * take 22 s on an idle 2-core VM, so a loaded CI lane needs several times that. */
	for (deadline = test_now_ms() + 240000; test_now_ms() < deadline && answers < N;) {
		ssize_t n, w;

		while (sent < req.len && (w = send(fd, req.data + sent, req.len - sent,
						   MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
			sent += (size_t)w;
		srv_run_ms(&s, 5);
		while ((n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT)) > 0)
			buf_append(&got, tmp, (size_t)n);
		for (p = got.data + seen;
		     (p = memmem(p, got.len - (size_t)(p - got.data), "HTTP/1.1 ", 9)); p += 9)
			answers++;
		seen = got.len > 9 ? got.len - 8 : 0;
		if (httpd_buffered_max(s.h) > most)
			most = httpd_buffered_max(s.h);
	}
	assert_int_equal(answers, N);
	assert_true(most < BOUND);
	print_message("%zu answer bytes\n", got.len);
	/* The test could fail: a server that buffered every answer would have held far more. */
	assert_true(got.len > 3 * BOUND);
	assert_int_equal(count_of(buf_str(&got), "HTTP/1.1 404 "), N - N / EVERY);
	p = buf_str(&got);
	for (i = 0; i < N; i += EVERY) {
		snprintf(want, sizeof(want), "\r\n\r\nn%d", i);
		p = strstr(p, want);
		assert_non_null(p);
	}
	assert_int_equal(httpd_connections(s.h), 1);
	close(fd);
	buf_finish(&req);
	buf_finish(&got);
	srv_finish(&s);
}

static void keep_alive_reuses_the_connection_and_close_ends_it(void **state)
{
	struct srv s;
	char got[2048];
	bool closed;
	int fd;

	srv_start(&s, 0);
	fd = client(&s);
	say(fd, "GET /q?one HTTP/1.1\r\nHost: x\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 100, &closed);
	assert_non_null(strstr(got, "Content-Length: 3\r\n"));
	assert_null(strstr(got, "Connection: close"));
	assert_false(closed);
	say(fd, "GET /q?two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 300, &closed);
	assert_non_null(strstr(got, "\r\n\r\ntwo"));
	assert_non_null(strstr(got, "Connection: close\r\n"));
	assert_true(closed);
	close(fd); /* the server read on until this close: its answer cannot be lost to a reset */
	srv_run_ms(&s, 50);
	assert_int_equal(httpd_connections(s.h), 0);
	/* HTTP/1.0: closed after the answer unless it asks for keep-alive. */
	fd = client(&s);
	say(fd, "GET /q?old HTTP/1.0\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 300, &closed);
	assert_non_null(strstr(got, "\r\n\r\nold"));
	assert_true(closed);
	close(fd);
	fd = client(&s);
	say(fd, "GET /q?kept HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 200, &closed);
	assert_non_null(strstr(got, "Connection: keep-alive\r\n"));
	assert_false(closed);
	close(fd);
	srv_finish(&s);
}

#define CHUNKED "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"

/* Each malformed or oversized request gets its status and a closed connection; the handler
 * never runs. */
static void refused_requests_get_their_status_and_a_close(void **state)
{
	static const struct {
		const char *request, *status;
	} cases[] = {
		{"GARBAGE\r\n\r\n", "HTTP/1.1 400 "},
		{"GET /q HTTP/2.0\r\n\r\n", "HTTP/1.1 505 "},
		{"GET q HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
		{"GET /q HTTP/1.1\r\nBad Header: 1\r\n\r\n", "HTTP/1.1 400 "},
		/* The name's scan stops at its first byte that is not a tchar: a colon after
		 * another such byte, no colon at all, or an empty name. */
		{"GET /q HTTP/1.1\r\nBad\"Name:x: 1\r\n\r\n", "HTTP/1.1 400 "},
		{"GET /q HTTP/1.1\r\nNoColon\r\n\r\n", "HTTP/1.1 400 "},
		{"GET /q HTTP/1.1\r\n: 1\r\n\r\n", "HTTP/1.1 400 "},
		{"GET /q HTTP/1.1\r\n folded: 1\r\n\r\n", "HTTP/1.1 400 "},
		{"POST /echo HTTP/1.1\r\nContent-Length: 65\r\n\r\n", "HTTP/1.1 413 "},
		{"POST /echo HTTP/1.1\r\nContent-Length: x1\r\n\r\nx", "HTTP/1.1 400 "},
		{"POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
		 "HTTP/1.1 400 "},
		{"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 "},
		{"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
		 "HTTP/1.1 400 "},
		{"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		 "HTTP/1.1 400 "},
		{"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
		 "HTTP/1.1 400 "},
		{"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n"
		 "0123456789abcdef0123456789abcdef\r\n21\r\n",
		 "HTTP/1.1 413 "},
		{"GET /q HTTP/1.1\r\nExpect: magic\r\n\r\n", "HTTP/1.1 417 "},
		/* chunk-size lines: 1-16 hex digits, ";ext" or nothing, CR LF; nothing else */
		{CHUNKED "+1\r\nA\r\n0\r\n\r\n", "HTTP/1.1 400 "},
		{CHUNKED " 1\r\nA\r\n0\r\n\r\n", "HTTP/1.1 400 "},
		{CHUNKED "1 \r\nA\r\n0\r\n\r\n", "HTTP/1.1 400 "},
		{CHUNKED "0x1\r\nA\r\n0\r\n\r\n", "HTTP/1.1 400 "},
		{CHUNKED "\r\n0\r\n\r\n", "HTTP/1.1 400 "},
		{CHUNKED "1\nA\r\n0\r\n\r\n", "HTTP/1.1 400 "},
		{CHUNKED "1\r\r\nA\r\n0\r\n\r\n", "HTTP/1.1 400 "},
		{CHUNKED "-0\r\n\r\n", "HTTP/1.1 400 "},
		{CHUNKED "00000000000000001\r\nA\r\n0\r\n\r\n", "HTTP/1.1 400 "},
		{CHUNKED "ffffffffffffffff\r\n", "HTTP/1.1 413 "},
	};
	struct srv s;
	char got[2048];
	bool closed;
	size_t i;

	srv_start(&s, 0);
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		int fd = client(&s);

		say(fd, cases[i].request);
		collect(&s, fd, got, sizeof(got), 500, &closed);
		if (strncmp(got, cases[i].status, strlen(cases[i].status)) != 0 || !closed)
			fail_msg("case %zu: got '%.80s' closed %d", i, got, closed);
		assert_non_null(strstr(got, "\"error\":{\"message\":"));
		close(fd);
	}
	assert_int_equal(s.handled, 0);
	assert_int_equal(s.observed, 0);
	srv_finish(&s);
}

/* A NUL anywhere in the head, early or late in a long line, is refused before any line is
 * cut (the lines are C strings from then on). */
static void a_nul_byte_in_the_head_gets_400(void **state)
{
	static const size_t at[] = {18, 29, 40};
	char req[] = "GET /q HTTP/1.1\r\nX-Long-Name-Here: abcdefghijklmnopqrstuvw\r\n\r\n";
	struct srv s;
	char got[2048];
	bool closed;

	(void)state;
	srv_start(&s, 0);
	for (size_t i = 0; i < ARRAY_LEN(at); i++) {
		char copy[sizeof(req)];
		int fd = client(&s);

		memcpy(copy, req, sizeof(req));
		copy[at[i]] = '\0';
		assert_int_equal(send(fd, copy, sizeof(req) - 1, MSG_NOSIGNAL),
				 (ssize_t)sizeof(req) - 1);
		collect(&s, fd, got, sizeof(got), 500, &closed);
		if (strncmp(got, "HTTP/1.1 400 ", 13) != 0 || !closed || !strstr(got, "NUL byte"))
			fail_msg("NUL at %zu: got '%.80s' closed %d", at[i], got, closed);
		close(fd);
	}
	assert_int_equal(s.handled, 0);
	srv_finish(&s);
}

/* A header name is RFC 9110's tchars and nothing else: a name of every one of them is taken,
 * and a name with any other byte (a separator, a control byte, DEL, a byte above 0x7f) gets
 * 400. (':' ends the name, CR and LF the line, and NUL has a test of its own.) */
static void header_names_are_every_tchar_and_nothing_else(void **state)
{
	static const char tchars[] = "!#$%&'*+-.^_`|~0123456789"
				     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	struct srv s;
	char got[2048], req[256];
	bool closed;
	int fd;

	(void)state;
	srv_start(&s, 0);
	fd = client(&s);
	snprintf(req, sizeof(req), "POST /echo HTTP/1.1\r\n%s: 1\r\nContent-Length: 2\r\n\r\nok",
		 tchars);
	say(fd, req);
	collect(&s, fd, got, sizeof(got), 500, &closed);
	assert_true(strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0);
	close(fd);
	for (int c = 1; c < 256; c++) {
		if (strchr(tchars, c) || c == ':' || c == '\r' || c == '\n')
			continue;
		fd = client(&s);
		snprintf(req, sizeof(req), "GET /q HTTP/1.1\r\nX%cY: 1\r\n\r\n", c);
		say(fd, req);
		collect(&s, fd, got, sizeof(got), 500, &closed);
		if (strncmp(got, "HTTP/1.1 400 ", 13) != 0 || !closed)
			fail_msg("byte 0x%02x in a name: got '%.40s' closed %d", c, got, closed);
		close(fd);
	}
	assert_int_equal(s.handled, 1);
	srv_finish(&s);
}

static void an_oversized_head_gets_431_and_a_close(void **state)
{
	struct srv s;
	char got[2048], big[1500];
	bool closed;
	int fd;

	srv_start(&s, 0);
	fd = client(&s);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	say(fd, "GET /q HTTP/1.1\r\nX-Big: ");
	say(fd, big); /* no end of the head yet: refused as soon as the cap is passed */
	collect(&s, fd, got, sizeof(got), 500, &closed);
	assert_true(strncmp(got, "HTTP/1.1 431 ", 13) == 0);
	assert_true(closed);
	close(fd);
	/* Sixty-five short header lines are past the count. */
	fd = client(&s);
	say(fd, "GET /q HTTP/1.1\r\n");
	for (int i = 0; i < 65; i++)
		say(fd, "a: b\r\n");
	say(fd, "\r\n");
	collect(&s, fd, got, sizeof(got), 500, &closed);
	assert_true(strncmp(got, "HTTP/1.1 431 ", 13) == 0);
	close(fd);
	assert_int_equal(s.handled, 0);
	srv_finish(&s);
}

static void content_length_decides_where_the_body_ends(void **state)
{
	struct srv s;
	char got[2048];
	bool closed;
	int fd;

	srv_start(&s, 0);
	/* Shorter than what follows: the rest is the next request (here not one: 400). */
	fd = client(&s);
	say(fd, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcXYZ\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 500, &closed);
	assert_non_null(strstr(got, "Content-Length: 3\r\n"));
	assert_non_null(strstr(got, "\r\n\r\nabcHTTP/1.1 400 "));
	assert_true(closed);
	close(fd);
	/* Longer than what comes: the handler never sees it; dropped at the body deadline. */
	fd = client(&s);
	say(fd, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
	collect(&s, fd, got, sizeof(got), 600, &closed);
	assert_false(closed);
	collect(&s, fd, got, sizeof(got), 1500, &closed);
	assert_true(closed);
	assert_int_equal(got[0], '\0');
	assert_int_equal(s.handled, 1);
	close(fd);
	srv_finish(&s);
}

static void a_chunked_body_is_decoded_in_order_and_pipelined_after(void **state)
{
	struct srv s;
	char got[2048];
	bool closed;
	int fd;

	srv_start(&s, 0);
	fd = client(&s);
	say(fd, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello");
	collect(&s, fd, got, sizeof(got), 100, &closed);
	assert_int_equal(got[0], '\0'); /* not complete yet */
	say(fd, "\r\n0000000000000001\r\n \r\nA\r\nchunked!!!\r\n0\r\nX-Trailer: t\r\n\r\n"
		"GET /q?after HTTP/1.1\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 200, &closed);
	assert_non_null(strstr(got, "Content-Length: 16\r\n"));
	assert_non_null(strstr(got, "\r\n\r\nhello chunked!!!HTTP/1.1 200"));
	assert_non_null(strstr(got, "\r\n\r\nafter"));
	assert_false(closed);
	close(fd);
	srv_finish(&s);
}

/* Sends all of data while running the server (the client never reads), tracking the most the
 * server buffered for one connection; stops early when the server closes. */
static size_t send_all_tracking(struct srv *s, int fd, const char *data, size_t len)
{
	size_t sent = 0, most = 0;
	long waited;

	for (waited = 0; waited < 500000 && sent < len; waited++) {
		size_t piece = len - sent < 16384 ? len - sent : 16384;
		ssize_t w = send(fd, data + sent, piece, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w > 0)
			sent += (size_t)w;
		else if (errno != EAGAIN)
			break;
		else
			usleep(10);
		/* one pass: each readable connection reads once */
		event_base_loop(loop_base(s->loop), EVLOOP_NONBLOCK);
		if (httpd_buffered_max(s->h) > most)
			most = httpd_buffered_max(s->h);
	}
	return most;
}

/* One data byte per chunk with a 1000-byte extension each: the decoded body is tiny, but the
 * input keeps only one chunk line beyond it and the bytes on the wire are capped (413). */
static void tiny_chunks_with_long_extensions_are_bounded_and_refused(void **state)
{
	struct srv s;
	struct buf req;
	char got[2048], ext[1001];
	bool closed;
	size_t most;
	int fd, i;

	srv_start_body(&s, 0, 128 * 1024);
	buf_init(&req, 0);
	memset(ext, 'e', sizeof(ext) - 1);
	ext[sizeof(ext) - 1] = '\0';
	buf_puts(&req, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < 3000; i++)
		buf_printf(&req, "1;%s\r\nX\r\n", ext);
	fd = client(&s);
	most = send_all_tracking(&s, fd, req.data, req.len);
	print_message("%zu bytes sent; the server buffered at most %zu\n", req.len, most);
	assert_true(most < 64 * 1024);
	collect(&s, fd, got, sizeof(got), 500, &closed);
	assert_true(strncmp(got, "HTTP/1.1 413 ", 13) == 0);
	assert_int_equal(s.handled, 0);
	close(fd);
	buf_finish(&req);
	srv_finish(&s);
}

/* 100,000 chunks of one byte (600 KB on the wire for a 100 KB body) within the body cap: the
 * body arrives whole and in order (the framing read does not count against the trailer's
 * cap while the end of the trailer is awaited). */
static void a_body_of_many_one_byte_chunks_is_accepted_intact(void **state)
{
	enum { N = 100000 };
	struct srv s;
	struct buf req, got;
	char tmp[65536];
	const char *body;
	bool closed = false;
	long waited;
	int fd, i;

	/* Timeouts only a hang reaches: 600 KB of chunk lines took past the 1 s body timeout of
	 * srv_start_body under TSan on a loaded machine, which answered 408. */
	struct httpd_opts o = {.listen = "127.0.0.1:0",
			       .idle_timeout_s = 120,
			       .header_timeout_s = 120,
			       .body_timeout_s = 120,
			       .max_body_bytes = 128 * 1024,
			       .max_header_bytes = 1024};

	srv_start_with(&s, &o);
	buf_init(&req, 0);
	buf_init(&got, 0);
	buf_puts(&req, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < N; i++)
		buf_printf(&req, "1\r\n%c\r\n", 'a' + i % 26);
	buf_puts(&req, "0\r\n");
	fd = client(&s);
	send_all_tracking(&s, fd, req.data, req.len);
	srv_run_ms(&s, 50);
	/* the trailer's end alone: the server waited for it with all in. Sent as the body was
	 * (a slow server may not have drained the socket yet: a plain send got EAGAIN) */
	send_all_tracking(&s, fd, "\r\n", 2);
	/* up to 120 s of the loop: parsing 600 KB of chunk lines took past 3 s under TSan on a
	 * slow, loaded VM; the loop ends as soon as the whole answer is in */
	for (waited = 0; waited < 120000 && !closed; waited += 10) {
		ssize_t n;

		srv_run_ms(&s, 10);
		while ((n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT)) > 0)
			buf_append(&got, tmp, (size_t)n);
		closed = n == 0;
		body = strstr(buf_str(&got), "\r\n\r\n");
		if (body && got.len - (size_t)(body + 4 - got.data) >= N)
			break;
	}
	assert_true(strncmp(buf_str(&got), "HTTP/1.1 200 ", 13) == 0);
	assert_non_null(strstr(buf_str(&got), "Content-Length: 100000\r\n"));
	body = strstr(buf_str(&got), "\r\n\r\n") + 4;
	assert_int_equal(got.len - (size_t)(body - got.data), N);
	for (i = 0; i < N; i++)
		if (body[i] != 'a' + i % 26)
			fail_msg("byte %d is '%c'", i, body[i]);
	assert_int_equal(s.handled, 1);
	close(fd);
	buf_finish(&req);
	buf_finish(&got);
	srv_finish(&s);
}

static void expect_100_continue_is_answered_before_the_body(void **state)
{
	struct srv s;
	char got[2048];
	bool closed;
	int fd;

	srv_start(&s, 0);
	fd = client(&s);
	say(fd, "POST /echo HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 100, &closed);
	assert_string_equal(got, "HTTP/1.1 100 Continue\r\n\r\n");
	say(fd, "body");
	collect(&s, fd, got, sizeof(got), 100, &closed);
	assert_true(strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(got, "\r\n\r\nbody"));
	close(fd);
	srv_finish(&s);
}

static void head_gets_the_length_and_no_body(void **state)
{
	struct srv s;
	char got[2048];
	bool closed;
	int fd;

	srv_start(&s, 0);
	fd = client(&s);
	say(fd, "HEAD /q?abcdef HTTP/1.1\r\nHost: x\r\n\r\nGET /q?next HTTP/1.1\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 200, &closed);
	assert_non_null(strstr(got, "Content-Length: 6\r\n"));
	assert_null(strstr(got, "abcdef"));
	/* The next answer starts right after the head: no body bytes in between. */
	assert_non_null(strstr(got, "\r\n\r\nHTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(got, "\r\n\r\nnext"));
	/* HEAD on a GET-only route: 405. */
	say(fd, "HEAD /hold HTTP/1.1\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 100, &closed);
	assert_true(strncmp(got, "HTTP/1.1 405 ", 13) == 0);
	close(fd);
	srv_finish(&s);
}

static void a_client_leaving_mid_stream_fires_the_close_callback_once(void **state)
{
	struct srv s;
	char got[2048];
	bool closed;
	int fd;

	srv_start(&s, 0);
	fd = client(&s);
	say(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 100, &closed);
	assert_non_null(strstr(got, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(got, "\r\n\r\n9\r\ndata: 1\n\n\r\n"));
	s.in_call = true;
	httpd_reply_chunk(s.held, "data: 2\n\n", 9);
	s.in_call = false;
	collect(&s, fd, got, sizeof(got), 50, &closed);
	assert_string_equal(got, "9\r\ndata: 2\n\n\r\n");
	assert_int_equal(s.closes, 0);
	close(fd);
	srv_run_ms(&s, 100);
	assert_int_equal(s.closes, 1);
	assert_int_equal(httpd_connections(s.h), 0);
	/* The handler still ends its answer: dropped, no second callback, the record freed. */
	s.in_call = true;
	httpd_reply_chunk(s.held, "data: 3\n\n", 9);
	httpd_reply_end(s.held);
	s.in_call = false;
	srv_run_ms(&s, 100);
	assert_int_equal(s.closes, 1);
	assert_int_equal(s.closes_inside, 0);
	srv_finish(&s);
}

static void a_stream_ends_with_the_last_chunk_and_stays_alive(void **state)
{
	struct srv s;
	char got[2048];
	bool closed;
	int fd;

	srv_start(&s, 0);
	fd = client(&s);
	say(fd, "GET /stream HTTP/1.1\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 100, &closed);
	httpd_reply_end(s.held);
	collect(&s, fd, got, sizeof(got), 100, &closed);
	assert_string_equal(got, "0\r\n\r\n");
	say(fd, "GET /q?again HTTP/1.1\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 100, &closed);
	assert_non_null(strstr(got, "\r\n\r\nagain"));
	assert_int_equal(s.closes, 0);
	close(fd);
	/* HTTP/1.0 gets the stream unframed, ended by the close. */
	fd = client(&s);
	say(fd, "GET /stream HTTP/1.0\r\n\r\n");
	collect(&s, fd, got, sizeof(got), 100, &closed);
	assert_null(strstr(got, "chunked"));
	assert_non_null(strstr(got, "\r\n\r\ndata: 1\n\n"));
	httpd_reply_end(s.held);
	collect(&s, fd, got, sizeof(got), 300, &closed);
	assert_true(closed);
	close(fd);
	srv_finish(&s);
}

static void connections_past_the_cap_get_503_and_are_closed(void **state)
{
	struct srv s;
	char got[1024];
	int a, b, c, d;

	srv_start(&s, 2);
	a = client(&s);
	b = client(&s);
	srv_run_ms(&s, 100);
	assert_int_equal(httpd_connections(s.h), 2);
	c = client(&s);
	srv_run_ms(&s, 100);
	assert_true(client_read(c, got, sizeof(got)) > 0);
	assert_non_null(strstr(got, "HTTP/1.1 503 Service Unavailable\r\n"));
	assert_non_null(strstr(got, "\"code\":\"503\""));
	assert_int_equal(client_read(c, got, sizeof(got)), -1);
	assert_int_equal(httpd_connections(s.h), 2);
	/* A slot that frees up is given to the next client. */
	close(a);
	srv_run_ms(&s, 100);
	assert_int_equal(httpd_connections(s.h), 1);
	d = client(&s);
	assert_int_equal(send(d, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 31, 0), 31);
	srv_run_ms(&s, 100);
	assert_true(client_read(d, got, sizeof(got)) > 0);
	assert_non_null(strstr(got, "HTTP/1.1 404 "));
	close(b);
	close(c);
	close(d);
	srv_finish(&s);
}

static void a_head_trickled_past_the_deadline_is_dropped(void **state)
{
	struct srv s;
	char got[256];
	int fd, i;

	srv_start(&s, 0);
	fd = client(&s);
	assert_int_equal(send(fd, "GET /hold HTTP/1.1\r\n", 20, 0), 20);
	for (i = 0; i < 12 && client_read(fd, got, sizeof(got)) == 0; i++) {
		(void)!send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL);
		srv_run_ms(&s, 250);
	}
	assert_int_equal(client_read(fd, got, sizeof(got)), -1);
	assert_true(i >= 3); /* not before the 1 s deadline */
	assert_null(s.held);
	assert_int_equal(httpd_connections(s.h), 0);
	close(fd);
	srv_finish(&s);
}

static void a_held_request_outlives_every_deadline(void **state)
{
	struct srv s;
	char got[256];
	int fd;

	srv_start(&s, 0);
	fd = client(&s);
	assert_int_equal(send(fd, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n", 31, 0), 31);
	srv_run_ms(&s, 2500);
	assert_non_null(s.held);
	assert_int_equal(client_read(fd, got, sizeof(got)), 0);
	httpd_reply(s.held, 200, "text/plain", "late", 4);
	srv_run_ms(&s, 100);
	assert_true(client_read(fd, got, sizeof(got)) > 0);
	assert_non_null(strstr(got, "\r\n\r\nlate"));
	/* Kept alive, then idle past idle_timeout_s: closed. */
	assert_int_equal(httpd_connections(s.h), 1);
	srv_run_ms(&s, 2300);
	assert_int_equal(client_read(fd, got, sizeof(got)), -1);
	assert_int_equal(httpd_connections(s.h), 0);
	close(fd);
	srv_finish(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(get_returns_body_status_and_headers, setup,
						teardown),
		cmocka_unit_test(answer_headers_with_lengths_drop_line_breaks_anywhere),
		cmocka_unit_test_setup_teardown(post_body_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(server_refuses_body_over_cap_with_413, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			unknown_route_404_and_wrong_method_405_in_openai_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(client_body_cap_reports_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(streamed_body_arrives_through_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(cancel_inside_data_callback_ends_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(request_started_inside_a_data_callback_completes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(first_byte_timeout_fires, setup, teardown),
		cmocka_unit_test_setup_teardown(whole_request_timeout_fires, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_connection_reports_connect, setup,
						teardown),
		cmocka_unit_test_setup_teardown(cancel_fires_callback_later_exactly_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(non_http_scheme_is_refused_without_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_stopped_server_refuses_new_requests_and_answers_started_ones, setup,
			teardown),
		cmocka_unit_test_setup_teardown(fifty_concurrent_requests_complete, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			address_check_refuses_a_resolved_name_before_connecting, setup, teardown),
		cmocka_unit_test_setup_teardown(address_check_sees_the_peer_and_allows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(address_check_ignores_proxy_settings, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			http_proxy_variable_routes_requests_through_the_proxy, setup, teardown),
		cmocka_unit_test_setup_teardown(
			all_proxy_is_the_fallback_and_upper_case_http_proxy_is_ignored, setup,
			teardown),
		cmocka_unit_test_setup_teardown(no_proxy_host_goes_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(address_check_never_reuses_a_pooled_connection,
						setup, teardown),
		cmocka_unit_test(request_heads_are_the_bytes_curls_printf_writes),
		cmocka_unit_test(connections_past_the_cap_get_503_and_are_closed),
		cmocka_unit_test(a_head_trickled_past_the_deadline_is_dropped),
		cmocka_unit_test(a_held_request_outlives_every_deadline),
		cmocka_unit_test(pipelined_requests_are_answered_in_order),
		cmocka_unit_test(keep_alive_reuses_the_connection_and_close_ends_it),
		cmocka_unit_test(
			a_pipelining_client_that_does_not_read_is_not_buffered_without_bound),
		cmocka_unit_test(refused_requests_get_their_status_and_a_close),
		cmocka_unit_test(header_names_are_every_tchar_and_nothing_else),
		cmocka_unit_test(a_nul_byte_in_the_head_gets_400),
		cmocka_unit_test(an_oversized_head_gets_431_and_a_close),
		cmocka_unit_test(content_length_decides_where_the_body_ends),
		cmocka_unit_test(expect_100_continue_is_answered_before_the_body),
		cmocka_unit_test(a_chunked_body_is_decoded_in_order_and_pipelined_after),
		cmocka_unit_test(tiny_chunks_with_long_extensions_are_bounded_and_refused),
		cmocka_unit_test(a_body_of_many_one_byte_chunks_is_accepted_intact),
		cmocka_unit_test(head_gets_the_length_and_no_body),
		cmocka_unit_test(a_client_leaving_mid_stream_fires_the_close_callback_once),
		cmocka_unit_test(a_stream_ends_with_the_last_chunk_and_stays_alive),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
