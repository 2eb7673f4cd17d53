/* httpc's own HTTP/1.1 path (plain http:// to a numeric address) against a scripted raw
 * server on loopback in the same loop: Content-Length, chunked answers trickled byte by byte,
 * reading up to the close, 1xx interim answers skipped, keep-alive (one connection for many
 * requests), a pooled connection the server closed while it idled (not used; the request goes
 * out once), a reused connection dropped after the request (a POST is never sent again, a
 * GET once), a close in the middle of the answer (an error, no retry), the body and header
 * caps, the timeouts, cancel from inside the data callback, a bad status line, an idle
 * pooled connection closed by the pool's timer with no traffic at all, and that a host name
 * stays with curl. Every test asserts httpc_is_plain, so each fails without the
 * path (HERMETIC_HTTPC_CURL_ONLY=1). */
#include "test.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/httpc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum after { KEEP, CLOSE_AFTER, DROP_BEFORE_ANSWER, CLOSE_MID, HOLD };

struct sconn {
	struct srv *s;
	int fd;
	struct event *rev, *tick;
	struct buf in;
	const char *out;
	size_t out_len, out_pos, cut; /* cut: close after this many bytes (CLOSE_MID) */
	int served;
};

struct srv {
	struct loop *loop;
	int lfd, port;
	struct event *lev, *guard, *wait;
	int accepted, requests, timed_out;
	char last[2048]; /* the last request head and body */
	const char *resp;
	int trickle;	     /* write one byte per millisecond */
	enum after after[8]; /* per request number on a connection (0-based); KEEP past the end */
	struct sconn *conns[16];
	int n_conns;
	/* the client side */
	int done;
	enum httpc_result result;
	long status;
	bool plain, sent;
	char *body, *header, *error;
	char *found[4];	  /* httpc_headers_find of FIND_NAMES, or NULL */
	bool find_agrees; /* and each equal to httpc_header's */
	struct buf streamed;
	int cancel_in_data, data_calls;
	size_t cap;
};

static void conn_free(struct sconn *c)
{
	int i;

	for (i = 0; i < c->s->n_conns; i++)
		if (c->s->conns[i] == c)
			c->s->conns[i] = NULL;
	event_free(c->rev);
	event_free(c->tick);
	close(c->fd);
	buf_finish(&c->in);
	free(c);
}

static void write_some(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *c = arg;
	size_t left = c->out_len - c->out_pos, n;
	struct timeval ms = {0, 1000};

	if (c->cut && c->out_pos >= c->cut) {
		conn_free(c);
		return;
	}
	n = c->s->trickle ? 1 : left;
	if (c->cut && c->out_pos + n > c->cut)
		n = c->cut - c->out_pos;
	if (n && write(c->fd, c->out + c->out_pos, n) > 0)
		c->out_pos += n;
	if (c->out_pos < c->out_len || c->cut) {
		evtimer_add(c->tick, &ms);
		return;
	}
	if (c->served > 0 && c->served <= 8 && c->s->after[c->served - 1] == CLOSE_AFTER)
		conn_free(c);
}

/* A whole request: the head and Content-Length bytes of body. */
static size_t request_len(struct buf *b)
{
	const char *s = buf_str(b), *end = strstr(s, "\r\n\r\n"), *cl;
	size_t body = 0;

	if (!end)
		return 0;
	cl = strcasestr(s, "\r\nContent-Length: ");
	if (cl && cl < end)
		body = strtoul(cl + 18, NULL, 10);
	return (size_t)(end + 4 - s) + body <= b->len ? (size_t)(end + 4 - s) + body : 0;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *c = arg;
	struct srv *s = c->s;
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	size_t len;
	enum after a;

	if (n <= 0) {
		conn_free(c);
		return;
	}
	buf_append(&c->in, tmp, (size_t)n);
	len = request_len(&c->in);
	if (!len)
		return;
	s->requests++;
	snprintf(s->last, sizeof(s->last), "%.*s", (int)len, buf_str(&c->in));
	buf_consume(&c->in, len);
	a = c->served < 8 ? s->after[c->served] : KEEP;
	c->served++;
	if (a == DROP_BEFORE_ANSWER) {
		conn_free(c);
		return;
	}
	if (a == HOLD)
		return;
	c->out = s->resp;
	c->out_len = strlen(s->resp);
	c->out_pos = 0;
	c->cut = a == CLOSE_MID ? c->out_len / 2 : 0;
	write_some(fd, 0, c);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	struct sconn *c;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (cfd < 0)
		return;
	s->accepted++;
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->fd = cfd;
	buf_init(&c->in, 0);
	c->rev = event_new(loop_base(s->loop), cfd, EV_READ | EV_PERSIST, on_readable, c);
	c->tick = evtimer_new(loop_base(s->loop), write_some, c);
	event_add(c->rev, NULL);
	if (s->n_conns < 16)
		s->conns[s->n_conns++] = c;
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;

	s->timed_out = 1;
	loop_stop(s->loop);
}

static int setup(void **state)
{
	struct srv *s = xcalloc(1, sizeof(*s));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	struct timeval tv = {5, 0};

	s->loop = loop_create();
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->lfd, 16) < 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	s->port = ntohs(a.sin_port);
	s->lev = event_new(loop_base(s->loop), s->lfd, EV_READ | EV_PERSIST, on_accept, s);
	event_add(s->lev, NULL);
	s->guard = evtimer_new(loop_base(s->loop), on_guard, s);
	evtimer_add(s->guard, &tv);
	s->wait = evtimer_new(loop_base(s->loop), on_guard, s);
	buf_init(&s->streamed, 0);
	s->resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct srv *s = *state;
	int i;

	httpc_cancel_all(s->loop);
	event_base_loop(loop_base(s->loop), EVLOOP_NONBLOCK);
	for (i = 0; i < s->n_conns; i++)
		if (s->conns[i])
			conn_free(s->conns[i]);
	event_free(s->lev);
	event_free(s->guard);
	event_free(s->wait);
	close(s->lfd);
	loop_destroy(s->loop);
	free(s->body);
	free(s->header);
	free(s->error);
	for (i = 0; i < 4; i++)
		free(s->found[i]);
	buf_finish(&s->streamed);
	free(s);
	return 0;
}

static const char *const FIND_NAMES[] = {"X-A", "x-b", "retry-after", "missing"};

static void on_done(struct httpc_req *req, void *arg)
{
	struct srv *s = arg;
	const char *found[4], *h;
	size_t lens[4];

	httpc_headers_find(req, FIND_NAMES, 4, found, lens);
	s->find_agrees = true;
	for (int i = 0; i < 4; i++) {
		const char *one = httpc_header(req, FIND_NAMES[i]);

		free(s->found[i]);
		s->found[i] = found[i] ? xstrndup(found[i], lens[i]) : NULL;
		if (!one != !found[i] || (one && strcmp(one, s->found[i]) != 0))
			s->find_agrees = false;
	}
	h = httpc_header(req, "X-A");

	s->done++;
	s->result = httpc_result(req);
	s->status = httpc_status(req);
	s->plain = httpc_is_plain(req);
	s->sent = httpc_request_sent(req);
	free(s->body);
	s->body = xstrdup(httpc_body(req, NULL));
	free(s->header);
	s->header = h ? xstrdup(h) : NULL;
	free(s->error);
	s->error = xstrdup(httpc_error(req));
	loop_stop(s->loop);
}

static int on_data(struct httpc_req *req, const char *d, size_t len, void *arg)
{
	struct srv *s = arg;

	s->data_calls++;
	buf_append(&s->streamed, d, len);
	if (s->cancel_in_data)
		httpc_cancel(req);
	return 0;
}

/* One request to path on the server, run to its end. */
static void call(struct srv *s, const char *method, const char *path, const char *body,
		 struct httpc_opts *extra)
{
	struct httpc_opts o = {0};
	char url[128];
	int before = s->done;

	if (extra)
		o = *extra;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
	o.url = url;
	o.method = method;
	o.body = body;
	o.body_len = body ? strlen(body) : 0;
	assert_int_equal(httpc_start(s->loop, &o, on_done, s, NULL), 0);
	assert_int_equal(s->done, before); /* never from inside httpc_start */
	loop_run(s->loop);
	assert_false(s->timed_out);
	assert_int_equal(s->done, before + 1);
	assert_true(s->plain);
}

/* Lets the loop run for ms (the server's close reaches the client's socket). */
static void idle(struct srv *s, long ms)
{
	struct timeval tv = {0, ms * 1000};

	evtimer_add(s->wait, &tv);
	loop_run(s->loop);
	s->timed_out = 0;
}

static void content_length_answer_and_the_request_head_curl_would_send(void **state)
{
	struct srv *s = *state;
	char want[256];

	call(s, NULL, "/p?q=1", NULL, NULL);
	assert_int_equal(s->result, HTTPC_OK);
	assert_int_equal(s->status, 200);
	assert_string_equal(s->body, "hello");
	assert_string_equal(s->header, "b");
	snprintf(want, sizeof(want),
		 "GET /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: hermetic/", s->port);
	assert_memory_equal(s->last, want, strlen(want));
	assert_non_null(strstr(s->last, "\r\nAccept: */*\r\n\r\n"));
	call(s, "POST", "/echo", "{\"a\":1}", NULL);
	assert_non_null(strstr(s->last, "\r\nContent-Length: 7\r\nContent-Type: "
					"application/x-www-form-urlencoded\r\n\r\n{\"a\":1}"));
}

/* A head is written into the request's own room up to PLAIN_HEAD (512) bytes and into a buffer
 * past it: heads of every length around that edge, and a long one, go out whole, prepared or
 * not. */
static void heads_longer_than_the_room_go_out_whole(void **state)
{
	struct srv *s = *state;
	char token[1200], line[1300];
	size_t n;

	for (n = 250; n < 1100; n += n < 300 || n > 420 ? 97 : 1) {
		const char *hs[] = {"Content-Type: application/json", line, NULL};
		struct httpc_headers *pre;
		struct httpc_opts o = {.headers = hs};

		memset(token, 'k', n);
		token[n] = '\0';
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		pre = httpc_headers_prepare(hs);
		call(s, "POST", "/long", "{}", &o);
		assert_int_equal(s->result, HTTPC_OK);
		assert_non_null(strstr(s->last, "\r\nContent-Type: application/json\r\n"));
		assert_non_null(strstr(s->last, line));
		assert_non_null(strstr(s->last, "\r\nContent-Length: 2\r\n\r\n{}"));
		o.prepared = pre;
		call(s, "POST", "/long", "{}", &o);
		assert_non_null(strstr(s->last, line));
		assert_non_null(strstr(s->last, "\r\nContent-Length: 2\r\n\r\n{}"));
		httpc_headers_free(pre);
	}
}

static void custom_headers_replace_drop_and_empty_as_curl_does(void **state)
{
	struct srv *s = *state;
	const char *hs[] = {"Content-Type: application/json", "Accept:", "X-Empty;",
			    "Authorization: Bearer k", NULL};
	struct httpc_opts o = {.headers = hs};

	call(s, NULL, "/h", "{}", &o);
	assert_int_equal(s->result, HTTPC_OK);
	assert_null(strstr(s->last, "Accept:"));
	assert_null(strstr(s->last, "urlencoded"));
	assert_non_null(strstr(s->last, "\r\nContent-Type: application/json\r\nX-Empty:\r\n"
					"Authorization: Bearer k\r\n"));
}

/* A prepared set of lines (httpc_headers_prepare, as the router keeps one per deployment)
 * writes the very head the lines write unprepared; one made from other lines is not used. */
static void prepared_headers_write_the_same_head_and_only_for_their_lines(void **state)
{
	struct srv *s = *state;
	const char *hs[] = {"Content-Type: application/json", "Accept:",	   "X-Empty;",
			    "Authorization: Bearer k",	      "Host: api.example", NULL};
	const char *other[] = {"X-Other: 1", NULL};
	struct httpc_headers *pre = httpc_headers_prepare(hs),
			     *wrong = httpc_headers_prepare(other);
	struct httpc_opts o = {.headers = hs};
	char *plain_head;

	call(s, "POST", "/h", "{}", &o);
	plain_head = xstrdup(s->last);
	assert_non_null(strstr(plain_head, "\r\nHost: api.example\r\n"));
	o.prepared = pre;
	call(s, "POST", "/h", "{}", &o);
	assert_int_equal(s->result, HTTPC_OK);
	assert_string_equal(s->last, plain_head);
	o.prepared = wrong;
	call(s, "POST", "/h", "{}", &o);
	assert_string_equal(s->last, plain_head);
	assert_null(strstr(s->last, "X-Other"));
	httpc_headers_free(pre);
	httpc_headers_free(wrong);
	httpc_headers_free(NULL);
	free(plain_head);
}

static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: c\r\n\r\n"
			      "1\r\na\r\n"
			      "0000A;ext=\"x\"\r\nbcdefghijk\r\n"
			      "3\r\nlmn\r\n"
			      "0\r\nTrailer: t\r\n\r\n";

static void chunked_answer_trickled_byte_by_byte_streams_de_chunked(void **state)
{
	struct srv *s = *state;
	struct httpc_opts o = {.on_data = on_data};

	s->resp = chunked;
	s->trickle = 1;
	call(s, NULL, "/c", NULL, &o);
	assert_int_equal(s->result, HTTPC_OK);
	assert_int_equal(s->streamed.len, 14);
	assert_memory_equal(buf_str(&s->streamed), "abcdefghijklmn", 14);
	assert_true(s->data_calls >= 3);
	assert_string_equal(s->header, "c");
	/* The connection is kept: the chunked answer ended where it should. */
	s->trickle = 0;
	call(s, NULL, "/c", NULL, NULL);
	assert_string_equal(s->body, "abcdefghijklmn");
	assert_int_equal(s->accepted, 1);
}

/* One pass for several headers finds what httpc_header finds for each: the first line of a
 * repeated name, any case, the value after its leading blanks, NULL for one not there. */
static void headers_found_in_one_pass_equal_the_lookups_one_by_one(void **state)
{
	struct srv *s = *state;

	s->resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-a: first\r\nX-A: second\r\n"
		  "X-B:\t tabbed \r\nRetry-After: 3\r\n\r\nok";
	call(s, NULL, "/h", NULL, NULL);
	assert_int_equal(s->result, HTTPC_OK);
	assert_true(s->find_agrees);
	assert_string_equal(s->found[0], "first");
	assert_string_equal(s->found[1], "tabbed ");
	assert_string_equal(s->found[2], "3");
	assert_null(s->found[3]);
}

static void bad_chunk_size_is_a_transport_error(void **state)
{
	struct srv *s = *state;

	s->resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n";
	call(s, NULL, "/c", NULL, NULL);
	assert_int_equal(s->result, HTTPC_TRANSPORT);
}

static void answer_without_length_reads_to_the_close(void **state)
{
	struct srv *s = *state;

	s->resp = "HTTP/1.1 200 OK\r\n\r\nuntil the end";
	s->after[0] = CLOSE_AFTER;
	call(s, NULL, "/x", NULL, NULL);
	assert_int_equal(s->result, HTTPC_OK);
	assert_string_equal(s->body, "until the end");
}

static void interim_1xx_answers_are_skipped(void **state)
{
	struct srv *s = *state;

	s->resp = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nX-A: early\r\n\r\n"
		  "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
	call(s, NULL, "/x", NULL, NULL);
	assert_int_equal(s->result, HTTPC_OK);
	assert_int_equal(s->status, 201);
	assert_string_equal(s->body, "ok");
	assert_null(s->header);
}

static void keep_alive_serves_many_requests_on_one_connection(void **state)
{
	struct srv *s = *state;
	int i;

	for (i = 0; i < 5; i++) {
		call(s, "POST", "/k", "x", NULL);
		assert_string_equal(s->body, "hello");
	}
	assert_int_equal(s->requests, 5);
	assert_int_equal(s->accepted, 1);
}

static void connection_close_answer_is_not_reused(void **state)
{
	struct srv *s = *state;

	s->resp = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
	call(s, NULL, "/x", NULL, NULL);
	call(s, NULL, "/x", NULL, NULL);
	assert_int_equal(s->result, HTTPC_OK);
	assert_int_equal(s->accepted, 2);
}

static void idle_connection_the_server_closed_is_not_used(void **state)
{
	struct srv *s = *state;

	s->after[0] = CLOSE_AFTER; /* closed after the answer, without saying so */
	call(s, "POST", "/a", "one", NULL);
	idle(s, 50);
	call(s, "POST", "/a", "two", NULL);
	assert_int_equal(s->result, HTTPC_OK);
	assert_string_equal(s->body, "hello");
	assert_int_equal(s->requests, 2); /* sent exactly once */
	assert_int_equal(s->accepted, 2);
}

static int open_server_conns(const struct srv *s)
{
	int n = 0;

	for (int i = 0; i < s->n_conns; i++)
		n += s->conns[i] != NULL;
	return n;
}

static void an_idle_connection_is_closed_after_the_timeout_without_traffic(void **state)
{
	struct srv *s = *state;

	httpc_set_idle_ms(s->loop, 200);
	call(s, NULL, "/a", NULL, NULL);
	assert_int_equal(s->result, HTTPC_OK);
	idle(s, 50);
	assert_int_equal(open_server_conns(s), 1); /* kept for the next request */
	/* No request comes: the pool's timer closes it, and the server reads the close. */
	idle(s, 400);
	assert_int_equal(open_server_conns(s), 0);
	/* A later request opens a new connection and is pooled (and timed) again. */
	call(s, NULL, "/a", NULL, NULL);
	assert_int_equal(s->accepted, 2);
	idle(s, 400);
	assert_int_equal(open_server_conns(s), 0);
}

static void post_dropped_on_a_reused_connection_is_never_sent_again(void **state)
{
	struct srv *s = *state;

	s->after[1] = DROP_BEFORE_ANSWER; /* reads the request, then closes */
	call(s, "POST", "/a", "one", NULL);
	call(s, "POST", "/a", "two", NULL);
	assert_int_equal(s->result, HTTPC_TRANSPORT);
	assert_true(s->sent); /* the caller knows the server may have it */
	assert_int_equal(s->requests, 2);
	assert_int_equal(s->accepted, 1);
}

static void get_dropped_on_a_reused_connection_is_sent_once_more(void **state)
{
	struct srv *s = *state;

	s->after[1] = DROP_BEFORE_ANSWER;
	call(s, NULL, "/g", NULL, NULL);
	call(s, NULL, "/g", NULL, NULL);
	assert_int_equal(s->result, HTTPC_OK);
	assert_int_equal(s->requests, 3);
	assert_int_equal(s->accepted, 2);
}

static void close_in_the_middle_of_the_answer_is_an_error_without_retry(void **state)
{
	struct srv *s = *state;

	s->resp = "HTTP/1.1 200 OK\r\nContent-Length: "
		  "40\r\n\r\n0123456789012345678901234567890123456789";
	s->after[0] = CLOSE_MID;
	call(s, NULL, "/m", NULL, NULL);
	assert_int_equal(s->result, HTTPC_TRANSPORT);
	assert_int_equal(s->requests, 1);
}

static void body_over_the_cap_is_too_big(void **state)
{
	struct srv *s = *state;
	struct httpc_opts o = {.max_response_bytes = 3};

	call(s, NULL, "/b", NULL, &o);
	assert_int_equal(s->result, HTTPC_TOO_BIG);
	assert_string_equal(s->error, "response body over the cap");
}

static void headers_over_the_cap_are_too_big(void **state)
{
	struct srv *s = *state;
	size_t n = 70 * 1024;
	char *big = xmalloc(n + 64);

	memcpy(big, "HTTP/1.1 200 OK\r\nX-Big: ", 24);
	memset(big + 24, 'h', n);
	memcpy(big + 24 + n, "\r\nContent-Length: 0\r\n\r\n", 24);
	s->resp = big;
	call(s, NULL, "/h", NULL, NULL);
	assert_int_equal(s->result, HTTPC_TOO_BIG);
	assert_string_equal(s->error, "response headers over the cap");
	free(big);
}

static void whole_request_and_first_byte_timeouts_fire(void **state)
{
	struct srv *s = *state;
	struct httpc_opts t = {.timeout_ms = 100}, fb = {.first_byte_timeout_ms = 100};

	s->after[0] = HOLD;
	call(s, NULL, "/hold", NULL, &t);
	assert_int_equal(s->result, HTTPC_TIMEOUT);
	s->after[1] = HOLD;
	call(s, NULL, "/hold", NULL, &fb);
	assert_int_equal(s->result, HTTPC_FIRST_BYTE);
}

static void refused_connection_reports_connect(void **state)
{
	struct srv *s = *state;
	struct httpc_opts o = {.url = "http://127.0.0.1:1/"};

	assert_int_equal(httpc_start(s->loop, &o, on_done, s, NULL), 0);
	assert_int_equal(s->done, 0);
	loop_run(s->loop);
	assert_int_equal(s->result, HTTPC_CONNECT);
	assert_true(s->plain);
	assert_false(s->sent);
}

static void cancel_inside_the_data_callback_ends_once_and_drops_the_connection(void **state)
{
	struct srv *s = *state;
	struct httpc_opts o = {.on_data = on_data};

	s->resp = chunked;
	s->cancel_in_data = 1;
	call(s, NULL, "/c", NULL, &o);
	assert_int_equal(s->result, HTTPC_CANCELLED);
	assert_int_equal(s->data_calls, 1);
	idle(s, 20);
	assert_int_equal(s->done, 1);
	s->cancel_in_data = 0;
	s->resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	call(s, NULL, "/x", NULL, NULL);
	assert_int_equal(s->accepted, 2);
}

static void bad_status_line_is_a_transport_error(void **state)
{
	struct srv *s = *state;

	s->resp = "HTTP/2 200\r\n\r\n";
	call(s, NULL, "/x", NULL, NULL);
	assert_int_equal(s->result, HTTPC_TRANSPORT);
}

static void host_names_stay_with_curl(void **state)
{
	struct srv *s = *state;
	struct httpc_opts o = {0};
	char url[64];

	snprintf(url, sizeof(url), "http://localhost:%d/x", s->port);
	o.url = url;
	assert_int_equal(httpc_start(s->loop, &o, on_done, s, NULL), 0);
	loop_run(s->loop);
	assert_int_equal(s->done, 1);
	assert_false(s->plain);
}

/* The address read from a URL is remembered for the next URL with the same authority only:
 * after a plain request, an authority that differs (an address not as inet_ntop writes it, a
 * user part, a host name) still goes to curl, and the plain one still takes the own path. */
static void a_remembered_address_is_used_only_for_the_same_authority(void **state)
{
	struct srv *s = *state;
	static const char *const to_curl[] = {"http://127.0.0.01:%d/x", "http://u@127.0.0.1:%d/x",
					      "http://localhost:%d/x"};
	char url[64];

	call(s, NULL, "/x", NULL, NULL);
	for (size_t i = 0; i < sizeof(to_curl) / sizeof(*to_curl); i++) {
		struct httpc_opts o = {.url = url};
		int before = s->done;

		snprintf(url, sizeof(url), to_curl[i], s->port);
		assert_int_equal(httpc_start(s->loop, &o, on_done, s, NULL), 0);
		loop_run(s->loop);
		assert_int_equal(s->done, before + 1);
		assert_false(s->plain);
		call(s, NULL, "/x", NULL, NULL);
		assert_int_equal(s->result, HTTPC_OK);
	}
}

/* A URL the own path cannot send byte for byte as curl would goes to curl: a fragment
 * (curl drops it), a dot segment anywhere after the authority (curl resolves it), a space. Its
 * look-alikes without them stay plain. */
static void urls_curl_rewrites_go_to_curl(void **state)
{
	struct srv *s = *state;
	static const struct {
		const char *fmt;
		bool plain;
	} cases[] = {
		{"http://127.0.0.1:%d/x#frag", false}, {"http://127.0.0.1:%d/a/../x", false},
		{"http://127.0.0.1:%d/./x", false},    {"http://127.0.0.1:%d/x?q=/.y", false},
		{"http://127.0.0.1:%d/x y", false},    {"http://127.0.0.1:%d/x.y/z", true},
		{"http://127.0.0.1:%d/x?q=.y", true},
	};
	char url[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct httpc_opts o = {.url = url};
		int before = s->done;

		snprintf(url, sizeof(url), cases[i].fmt, s->port);
		assert_int_equal(httpc_start(s->loop, &o, on_done, s, NULL), 0);
		loop_run(s->loop);
		assert_int_equal(s->done, before + 1);
		if (s->plain != cases[i].plain)
			fail_msg("%s: plain %d, want %d", url, s->plain, cases[i].plain);
	}
}

/* Custom headers that curl handles itself or that change the connection send the request
 * through curl, whatever their case; names that only begin like one stay on the own path. */
static void connection_headers_go_to_curl_longer_names_stay_plain(void **state)
{
	struct srv *s = *state;
	static const char *const to_curl[] = {"connection: close", "Proxy-Connection: keep-alive",
					      "EXPECT:", "Upgrade: websocket"};
	static const char *const plain[] = {"X-Connection-Id: 1", "Expectation: x",
					    "Upgrade-Insecure-Requests: 1", "Connections: 2"};
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s->port);
	for (size_t i = 0; i < sizeof(to_curl) / sizeof(*to_curl); i++) {
		const char *hs[] = {to_curl[i], NULL};
		struct httpc_opts o = {.url = url, .headers = hs};
		int before = s->done;

		assert_int_equal(httpc_start(s->loop, &o, on_done, s, NULL), 0);
		loop_run(s->loop);
		assert_int_equal(s->done, before + 1);
		assert_false(s->plain);
	}
	for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++) {
		const char *hs[] = {plain[i], NULL};
		struct httpc_opts o = {.headers = hs};

		call(s, NULL, "/h", NULL, &o);
		assert_int_equal(s->result, HTTPC_OK);
		assert_non_null(strstr(s->last, plain[i]));
	}
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(content_length_answer_and_the_request_head_curl_would_send),
		T(custom_headers_replace_drop_and_empty_as_curl_does),
		T(heads_longer_than_the_room_go_out_whole),
		T(prepared_headers_write_the_same_head_and_only_for_their_lines),
		T(chunked_answer_trickled_byte_by_byte_streams_de_chunked),
		T(headers_found_in_one_pass_equal_the_lookups_one_by_one),
		T(bad_chunk_size_is_a_transport_error),
		T(answer_without_length_reads_to_the_close),
		T(interim_1xx_answers_are_skipped),
		T(keep_alive_serves_many_requests_on_one_connection),
		T(connection_close_answer_is_not_reused),
		T(idle_connection_the_server_closed_is_not_used),
		T(an_idle_connection_is_closed_after_the_timeout_without_traffic),
		T(post_dropped_on_a_reused_connection_is_never_sent_again),
		T(get_dropped_on_a_reused_connection_is_sent_once_more),
		T(close_in_the_middle_of_the_answer_is_an_error_without_retry),
		T(body_over_the_cap_is_too_big),
		T(headers_over_the_cap_are_too_big),
		T(whole_request_and_first_byte_timeouts_fire),
		T(refused_connection_reports_connect),
		T(cancel_inside_the_data_callback_ends_once_and_drops_the_connection),
		T(bad_status_line_is_a_transport_error),
		T(host_names_stay_with_curl),
		T(a_remembered_address_is_used_only_for_the_same_authority),
		T(connection_headers_go_to_curl_longer_names_stay_plain),
		T(urls_curl_rewrites_go_to_curl),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
