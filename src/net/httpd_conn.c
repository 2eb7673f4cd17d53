/* httpd_conn: the server's connections: accepting them (the 503 refusal past the cap, the
 * pause when out of descriptors), each one's event and input buffer, reading, the pipeline of
 * requests run one at a time (parsed by httpd_parse.c, handed out through h->cbs), the
 * output queue and its caps, the deferred event (the next pipelined request, close callbacks),
 * the 1 s tick that enforces the deadlines, and the close with its linger. What an answer
 * holds is httpd_reply.c's; the route table is httpd.c's. This file calls neither by name:
 * the dispatch and the refusals go through h->cbs (struct httpd_cbs), so calls run one way,
 * httpd.c -> httpd_reply.c -> here -> httpd_parse.c. */
#include "net/httpd_int.h"
#include "core/alloc_front.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define OUT_CAP	       (32u << 20) /* answer bytes a client may leave unread */
#define OUT_HIGH       (64 * 1024) /* past it no new request is read or started */
#define IN_MIN	       4096
#define IN_KEEP	       (64 * 1024) /* a larger input buffer is shrunk between requests */
#define LINGER_MS      1000
#define MAX_REFUSING   64
#define ACCEPT_BATCH   32
#define PIPELINE_SLACK 4096

static void on_conn_event(evutil_socket_t fd, short what, void *arg);

void httpd_conn_mark(struct conn *c, enum conn_state state)
{
	c->state = state;
	c->t_mark_ms = now_mono_coarse_ms();
}

/* A client that does not read its answers gets no new request read or started: its pipeline
 * would queue answers without bound. conn_flush draining the output resumes both. */
static bool backlogged(const struct conn *c)
{
	return c->out.len > OUT_HIGH;
}

static bool wants_read(const struct conn *c)
{
	switch (c->state) {
	case C_FLUSH:
		return false;
	case C_BUSY:
		return c->in_len - c->req_bytes < c->h->max_header + PIPELINE_SLACK;
	case C_LINGER:
		return true;
	default:
		return !backlogged(c);
	}
}

/* Registers the interest the connection has now; libevent's change list makes a del and add
 * in one loop pass one epoll_ctl or none. */
static void conn_watch(struct conn *c)
{
	short want = 0;

	if (c->fd < 0)
		return;
	if (wants_read(c))
		want |= EV_READ;
	if (c->out.len)
		want |= EV_WRITE;
	if (want == c->watching)
		return;
	event_del(c->ev);
	event_assign(c->ev, c->h->base, c->fd, (short)(want | EV_PERSIST), on_conn_event, c);
	if (want)
		event_add(c->ev, NULL);
	c->watching = want;
}

/* Work for the deferred event: the next pipelined request, a close callback. */
void httpd_conn_defer(struct conn *c)
{
	struct httpd *h = c->h;

	if (c->deferred)
		return;
	c->deferred = true;
	c->next_defer = h->defer_head;
	h->defer_head = c;
	event_active(h->defer, EV_TIMEOUT, 0);
}

void httpd_conn_free(struct conn *c)
{
	struct httpd *h = c->h;

	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (!h->conns && !h->accept_paused && !alloc_front_bytes())
		event_del(h->tick);
	event_free(c->ev);
	free(c->in);
	free(c->req.path);
	buf_finish(&c->out);
	buf_finish(&c->hdrs);
	free(c);
}

/* Closes the socket. A request a handler holds stays (and its close callback is queued); the
 * record goes once it is answered. */
static void conn_close(struct conn *c)
{
	struct httpd *h = c->h;

	if (c->fd < 0)
		return;
	event_del(c->ev);
	close(c->fd);
	c->fd = -1;
	c->watching = 0;
	if (c->refused)
		h->n_refusing--;
	else
		h->n_conns--;
	buf_finish(&c->out);
	if ((c->req.phase == P_HELD || c->req.phase == P_STREAM) && c->req.on_close) {
		c->close_pending = true;
		httpd_conn_defer(c);
	}
}

/* Frees a closed connection nobody uses any more; true when it did. */
bool httpd_conn_reap(struct conn *c)
{
	if (c->fd >= 0 || c->in_cb || c->in_dispatch || c->deferred || c->req.phase != P_NONE)
		return false;
	httpd_conn_free(c);
	return true;
}

static void start_linger(struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
	httpd_conn_mark(c, C_LINGER);
	conn_watch(c);
}

/* Writes iov now if nothing waits before it; what the socket does not take is queued. A client
 * that left answer bytes unread and would have more than OUT_CAP waiting is dropped (one
 * answer into an empty queue is always taken: it is the handler's, already in memory). */
void httpd_conn_send(struct conn *c, struct iovec *iov, int n)
{
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
	size_t rest = 0;
	ssize_t w = 0;
	int i;

	if (c->fd < 0)
		return;
	if (!c->out.len) {
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				log_debug("http: a client went away: %s (port %d)", strerror(errno),
					  c->h->port);
				conn_close(c);
				return;
			}
			w = 0;
		}
		c->t_write_ms = now_mono_coarse_ms();
	}
	for (i = 0; i < n; i++)
		rest += iov[i].iov_len;
	rest -= (size_t)w;
	if (c->out.len && c->out.len + rest > OUT_CAP) {
		log_info("http: dropping a client that left %zu answer bytes unread (port %d)",
			 c->out.len, c->h->port);
		conn_close(c);
		return;
	}
	for (i = 0; i < n; i++) {
		size_t l = iov[i].iov_len;

		if ((size_t)w >= l) {
			w -= (ssize_t)l;
			continue;
		}
		buf_append(&c->out, (const char *)iov[i].iov_base + w, l - (size_t)w);
		w = 0;
	}
	conn_watch(c);
}

static void conn_flush(struct conn *c)
{
	bool paused = backlogged(c);
	ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);

	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c);
		return;
	}
	buf_consume(&c->out, (size_t)w);
	c->t_write_ms = now_mono_coarse_ms();
	/* Reading resumes (conn_watch, conn_process from conn_after): the wait was ours, so the
	 * head or body deadline starts again. */
	if (paused && !backlogged(c) && c->state <= C_BODY)
		httpd_conn_mark(c, c->state);
	if (!c->out.len && c->state == C_FLUSH)
		start_linger(c);
}

/* A large input buffer (a big body came) holding little now goes back to IN_MIN. */
void httpd_shrink_in(struct conn *c)
{
	if (c->in_alloc > IN_KEEP && c->in_len < IN_MIN) {
		c->in = xrealloc(c->in, IN_MIN);
		c->in_alloc = IN_MIN;
	}
}

/* The answer is out (or queued): forget the request, then idle, or close after the answer. */
void httpd_req_end(struct conn *c)
{
	struct httpd_req *r = &c->req;

	r->phase = P_NONE;
	r->on_close = NULL;
	free(r->path);
	r->path = NULL;
	buf_reset(&c->hdrs);
	if (c->req_bytes) {
		memmove(c->in, c->in + c->req_bytes, c->in_len - c->req_bytes);
		c->in_len -= c->req_bytes;
		c->req_bytes = 0;
	}
	c->scan = 0;
	httpd_shrink_in(c);
	if (c->fd < 0)
		return;
	if (r->close_after) {
		c->in_len = 0;
		httpd_conn_mark(c, C_FLUSH);
		if (!c->out.len)
			start_linger(c);
		return;
	}
	httpd_conn_mark(c, c->in_len ? C_HEAD : C_IDLE);
	conn_watch(c);
}

/* Runs the requests waiting in the input buffer, one at a time, in order. */
static void conn_process(struct conn *c)
{
	struct httpd_req *r = &c->req;
	int rc;

	while (c->fd >= 0 && r->phase == P_NONE && c->state <= C_BODY && !backlogged(c)) {
		if (c->state != C_BODY) {
			rc = httpd_parse_head(c);
			if (rc <= 0)
				return;
			httpd_conn_mark(c, C_BODY);
			r->ch_pos = r->head_len;
			if (r->expect && r->minor >= 1 &&
			    c->in_len < r->head_len + (r->chunked_in ? 1 : r->body_len))
				httpd_conn_send(
					c,
					&(struct iovec){(void *)"HTTP/1.1 100 Continue\r\n\r\n",
							25},
					1);
		}
		if (r->chunked_in) {
			if (httpd_dechunk(c) <= 0)
				return;
		} else if (c->in_len < r->raw_len) {
			return;
		}
		c->h->cbs->dispatch(c);
	}
}

static void conn_read(struct conn *c)
{
	char sink[4096];
	ssize_t n;
	size_t want;

	if (c->state == C_LINGER) {
		n = recv(c->fd, sink, sizeof(sink), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	want = 0;
	if (c->state == C_BODY && !c->req.chunked_in && c->req.raw_len > c->in_len)
		want = c->req.raw_len - c->in_len;
	if (want < IN_MIN / 2)
		want = IN_MIN / 2;
	if (c->in_alloc - c->in_len < want + 1) {
		size_t a = c->in_alloc ? c->in_alloc : IN_MIN;

		while (a - c->in_len < want + 1)
			a *= 2;
		c->in = xrealloc(c->in, a);
		c->in_alloc = a;
	}
	n = recv(c->fd, c->in + c->in_len, c->in_alloc - c->in_len - 1, 0);
	if (n > 0) {
		if (c->state == C_IDLE)
			httpd_conn_mark(c, C_HEAD);
		c->in_len += (size_t)n;
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (c->state == C_BUSY)
		log_debug("http: a client left while its request was being answered (port %d)",
			  c->h->port);
	conn_close(c);
}

/* The end of every entry from the loop: run what waits, update interest, free if done. */
static void conn_after(struct conn *c)
{
	if (c->fd >= 0 && c->req.phase == P_NONE && c->state <= C_BODY && c->in_len)
		conn_process(c);
	conn_watch(c);
	httpd_conn_reap(c);
}

static void on_conn_event(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	c->in_cb++;
	if ((what & EV_WRITE) && c->fd >= 0 && c->out.len)
		conn_flush(c);
	if ((what & EV_READ) && c->fd >= 0)
		conn_read(c);
	c->in_cb--;
	conn_after(c);
}

void httpd_on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;
	struct conn *list = h->defer_head, *c;

	h->defer_head = NULL;
	while (list) {
		c = list;
		list = c->next_defer;
		c->deferred = false;
		if (c->close_pending) {
			httpd_close_cb cb = c->req.on_close;

			c->close_pending = false;
			c->req.on_close = NULL;
			c->in_cb++;
			if (cb && (c->req.phase == P_HELD || c->req.phase == P_STREAM))
				cb(&c->req, c->req.close_arg);
			c->in_cb--;
		}
		conn_after(c);
	}
}

static int64_t deadline_ms(const struct conn *c)
{
	const struct httpd *h = c->h;

	if (backlogged(c) && c->state <= C_BODY) /* paused for the client: a write deadline */
		return c->t_write_ms + h->write_ms;
	switch (c->state) {
	case C_NEW:
	case C_HEAD:
		return c->t_mark_ms + h->header_ms;
	case C_IDLE:
		return c->t_mark_ms + h->idle_ms;
	case C_BODY:
		return c->t_mark_ms + h->body_ms;
	case C_LINGER:
		return c->t_mark_ms + LINGER_MS;
	default:
		return c->out.len ? c->t_write_ms + h->write_ms : INT64_MAX;
	}
}

void httpd_on_tick(evutil_socket_t fd, short what, void *arg)
{
	static const char *const names[] = {"no request head",	       "no new request",
					    "no request head",	       "no complete body",
					    "an answer not read",      "an answer not read",
					    "no close from the client"};
	struct httpd *h = arg;
	struct conn *c, *next;
	int64_t t = now_mono_coarse_ms();

	/* Kept freed blocks go back half at a time each second, also once the connections are gone:
	 * the tick runs on until none is left. */
	alloc_front_decay();
	if (!h->conns && !h->accept_paused && !alloc_front_bytes())
		event_del(h->tick);
	if (h->accept_paused) {
		h->accept_paused = false;
		if (!h->stopped)
			event_add(h->accept_ev, NULL);
	}
	for (c = h->conns; c; c = next) {
		next = c->next;
		if (c->fd < 0 || t < deadline_ms(c))
			continue;
		if (c->state != C_LINGER)
			log_debug("http: dropping a connection: %s in %lld s (port %d)",
				  names[c->state], (long long)(t - c->t_mark_ms) / 1000, h->port);
		c->in_cb++;
		conn_close(c);
		c->in_cb--;
		httpd_conn_reap(c);
	}
}

static void conn_new(struct httpd *h, int fd, const struct sockaddr_storage *ss)
{
	static const struct timeval second = {1, 0};
	struct conn *c;
	int one = 1;
	bool over = h->n_conns >= h->max_conns;

	if (over && h->n_refusing >= MAX_REFUSING) {
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->fd = fd;
	c->peer = *ss;
	c->req.c = c;
	c->keep_alive = true;
	c->ev = event_new(h->base, -1, 0, on_conn_event, c);
	if (!c->ev) {
		close(fd);
		free(c);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	buf_init(&c->out, 0);
	buf_init(&c->hdrs, 64 * 1024);
	httpd_conn_mark(c, C_NEW);
	c->next = h->conns;
	if (c->next)
		c->next->prev = c;
	else
		event_add(h->tick, &second);
	h->conns = c;
	if (over) {
		h->n_refusing++;
		if (!h->warned_ms || c->t_mark_ms - h->warned_ms >= 60000) {
			log_warn("http: %zu connections open, the cap: refusing new ones with 503 "
				 "(port %d)",
				 h->max_conns, h->port);
			h->warned_ms = c->t_mark_ms;
		}
		h->cbs->refuse_connection(c);
	} else {
		h->n_conns++;
	}
	conn_after(c);
}

/* Out of descriptors: the listener would stay readable and spin the loop; the tick resumes
 * it a second later. */
static void pause_accepting(struct httpd *h, int err)
{
	static const struct timeval second = {1, 0};
	int64_t t = now_mono_coarse_ms();

	if (!h->warned_ms || t - h->warned_ms >= 60000) {
		log_warn("http: cannot accept connections: %s (port %d)", strerror(err), h->port);
		h->warned_ms = t;
	}
	event_del(h->accept_ev);
	h->accept_paused = true;
	if (!event_pending(h->tick, EV_TIMEOUT, NULL))
		event_add(h->tick, &second);
}

void httpd_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct httpd *h = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	int i, fd;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				pause_accepting(h, errno);
			return;
		}
		conn_new(h, fd, &ss);
	}
}
