/* httpc_plain: plain http:// without curl: one request on the plain path, from its connection
 * (a pooled one or a new one) through sending the head and body to reading the answer, with
 * its timeouts and the one re-send. The answer's bytes are parsed in httpc_parse.c, the
 * connections kept between requests in httpc_pool.c, the choice of this path and the head it
 * sends in httpc_head.c; the request's start and end are httpc.c's (reached through r->owner).
 *
 * curl's transfer machinery costs ~80k instructions per proxied request, most of a request's
 * CPU next to the nginx floor. For http:// URLs it would model exactly (numeric host, no
 * proxy variable, no upload from a file, headers it would send unchanged) httpc speaks
 * HTTP/1.1 itself: a non-blocking socket on the loop, the request head and body in one
 * sendmsg, the answer parsed as it arrives (status line, headers under HEADERS_CAP,
 * Content-Length, chunked, or up to the close), the body handed on de-chunked, and the
 * connection kept in a pool per loop for the next request to the same address.
 *
 * Host names stay with curl: libevent's evdns is not linked into the static binary (about as
 * large as the room left under the 2 MiB budget), and a blocking getaddrinfo() on the loop is
 * out of the question.
 *
 * Re-sending (money: a request that reached the server may have been charged). A pooled
 * connection is probed before use (recv MSG_PEEK: a close the server sent while it idled is
 * seen then, and the connection dropped), as curl probes its own. If a reused connection
 * still fails before any byte of the answer, the request goes out again once on a new
 * connection only when the server cannot have seen it (not one byte of it was accepted by the
 * kernel), or when it is a GET without a body (idempotent, RFC 9110 9.2.2). A POST that went
 * out and got nothing back ends with HTTPC_TRANSPORT and httpc_request_sent() true: the
 * caller decides, knowing the server may have processed it. (curl re-sends in that case too;
 * this path does not.) */
#include "net/httpc_int.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_BUF 16384

void httpc_plain_detach(struct httpc_req *r, bool keep)
{
	struct plain *p = r->pl;
	struct conn *c = p->conn;

	if (p->timer_added) {
		event_del(&p->timer);
		p->timer_added = false;
	}
	if (!c)
		return;
	p->conn = NULL;
	c->req = NULL;
	if (keep && !p->no_pool) {
		httpc_conn_want(c, r->loop, EV_READ);
		httpc_pool_put(r->loop, c);
	} else {
		httpc_conn_close(c);
	}
}

static void plain_arm(struct httpc_req *r)
{
	struct plain *p = r->pl;
	int64_t at = p->deadline_us, left;
	struct timeval tv;

	if (p->connecting && (!at || p->connect_deadline_us < at))
		at = p->connect_deadline_us;
	if (p->timer_added) {
		event_del(&p->timer);
		p->timer_added = false;
	}
	if (!at)
		return;
	left = at - now_mono_us();
	if (left < 0)
		left = 0;
	tv.tv_sec = left / 1000000;
	tv.tv_usec = left % 1000000;
	evtimer_add(&p->timer, &tv);
	p->timer_added = true;
}

static void plain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct httpc_req *r = arg;
	struct plain *p = r->pl;

	p->timer_added = false;
	if (p->connecting && (!p->deadline_us || p->connect_deadline_us <= p->deadline_us))
		httpc_fail(r, HTTPC_TIMEOUT, "Connection timed out after %ld milliseconds",
			   httpc_total_ms(r));
	else
		httpc_fail(r, HTTPC_TIMEOUT,
			   "Operation timed out after %ld milliseconds with %zu bytes received",
			   httpc_total_ms(r), r->resp.len);
	r->owner->abort_now(r);
}

static void plain_connect(struct httpc_req *r);

/* The rule in the section comment: a new connection once, when the server cannot have
 * taken the request, or it is a GET without a body. */
static bool plain_resend(struct httpc_req *r)
{
	struct plain *p = r->pl;

	if (!p->reused || p->retried || r->hdrs.len > 0 || (p->sent > 0 && !p->idempotent))
		return false;
	httpc_plain_detach(r, false);
	p->retried = true;
	p->reused = false;
	p->sent = 0;
	plain_connect(r);
	return true;
}

static int plain_send(struct httpc_req *r)
{
	struct plain *p = r->pl;
	struct msghdr m = {0};
	struct iovec iov[2];
	size_t total = p->head_len + r->body_len;
	ssize_t n;

	while (p->sent < total) {
		m.msg_iov = iov;
		m.msg_iovlen = 0;
		if (p->sent < p->head_len) {
			iov[m.msg_iovlen].iov_base = p->head + p->sent;
			iov[m.msg_iovlen++].iov_len = p->head_len - p->sent;
		}
		if (r->body_len) {
			size_t at = p->sent > p->head_len ? p->sent - p->head_len : 0;

			iov[m.msg_iovlen].iov_base = r->body + at;
			iov[m.msg_iovlen++].iov_len = r->body_len - at;
		}
		n = sendmsg(p->conn->fd, &m, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			httpc_conn_want(p->conn, r->loop, EV_READ | EV_WRITE);
			return 0;
		}
		if (n < 0) {
			int e = errno;

			if ((e == EPIPE || e == ECONNRESET) && plain_resend(r))
				return 0;
			httpc_fail(r, HTTPC_TRANSPORT, "Send failure: %s", strerror(e));
			return -1;
		}
		p->sent += (size_t)n;
	}
	p->sending = false;
	/* Sent and never re-sent (plain_resend): a long prompt need not stay for a stream. */
	if (!p->idempotent) {
		free(r->body);
		r->body = NULL;
	}
	httpc_conn_want(p->conn, r->loop, EV_READ);
	return 0;
}

static void plain_eof(struct httpc_req *r, int err)
{
	struct plain *p = r->pl;

	if (p->st == P_BODY && p->until_close && !err) {
		p->st = P_DONE;
		return;
	}
	if (p->st == P_HEAD && r->hdrs.len == 0) {
		if (plain_resend(r))
			return;
		if (err)
			httpc_fail(r, HTTPC_TRANSPORT, "Recv failure: %s", strerror(err));
		else
			httpc_fail(r, HTTPC_TRANSPORT, "Empty reply from server");
		return;
	}
	httpc_fail(r, HTTPC_TRANSPORT, "connection to %s closed before the end of the answer%s%s",
		   p->key, err ? ": " : "", err ? strerror(err) : "");
}

static void plain_read(struct httpc_req *r)
{
	struct plain *p = r->pl;
	char in[IN_BUF];
	ssize_t n;
	bool first = !r->first_byte_us;

	do
		n = recv(p->conn->fd, in, sizeof(in), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		plain_eof(r, n < 0 ? errno : 0);
		if (p->conn && p->st != P_DONE && r->pending == HTTPC_OK)
			return; /* sent again on a new connection */
	} else if (httpc_parse(r, in, (size_t)n) < 0) {
		r->owner->abort_now(r);
		return;
	}
	if (r->pending != HTTPC_OK) {
		r->owner->abort_now(r);
	} else if (p->st == P_DONE) {
		/* The whole answer came in this read: it ended when it began (one clock read). */
		if (first && !r->end_us)
			r->end_us = r->first_byte_us;
		httpc_plain_detach(r, p->keep && !p->sending);
		r->result = HTTPC_OK;
		r->owner->finish(r);
	}
}

static void plain_connected(struct httpc_req *r)
{
	struct plain *p = r->pl;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(p->conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		httpc_fail(r, HTTPC_CONNECT, "Failed to connect to %s: %s", p->key, strerror(err));
		r->owner->abort_now(r);
		return;
	}
	p->connecting = false;
	plain_arm(r);
	if (plain_send(r) < 0)
		r->owner->abort_now(r);
}

/* The event callback of every plain connection, idle or in use. */
static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct httpc_req *r = c->req;

	if (!r) {
		httpc_idle_closed(c);
		return;
	}

	if (r->pending != HTTPC_OK) {
		r->owner->abort_now(r);
		return;
	}
	if (r->pl->connecting) {
		plain_connected(r);
		return;
	}
	if ((what & EV_WRITE) && r->pl->sending) {
		if (plain_send(r) < 0) {
			r->owner->abort_now(r);
			return;
		}
		if (r->pl->conn != c)
			return; /* sent again on a new connection */
	}
	if (what & EV_READ)
		plain_read(r);
}

void httpc_conn_want(struct conn *c, struct loop *l, short what)
{
	if (c->what == what)
		return;
	if (c->what)
		event_del(&c->ev);
	c->what = what;
	if (!what)
		return;
	event_assign(&c->ev, loop_base(l), c->fd, what | EV_PERSIST, conn_cb, c);
	event_add(&c->ev, NULL);
}

/* A new connection for r (its first, or the one it is sent again on). Failures end r from
 * the loop: this runs inside httpc_start too. */
static void plain_connect(struct httpc_req *r)
{
	struct plain *p = r->pl;
	struct conn *c;
	int fd, one = 1;

	p->sending = true;
	p->st = P_HEAD;
	if (r->check_addr) {
		char why[sizeof(r->refused)] = "";

		if (r->check_addr((struct sockaddr *)&p->sa, p->sa_len, why, sizeof(why),
				  r->check_arg) < 0) {
			snprintf(r->refused, sizeof(r->refused), "%s",
				 why[0] ? why : "address refused");
			r->pending = HTTPC_REFUSED;
			r->error = r->refused;
			r->owner->end_later(r);
			return;
		}
	}
	fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		httpc_fail(r, HTTPC_CONNECT, "socket: %s", strerror(errno));
		r->owner->end_later(r);
		return;
	}
	/* As curl sets them: no Nagle delay for the request, TCP keep-alive probes. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->req = r;
	snprintf(c->key, sizeof(c->key), "%s", p->key);
	p->conn = c;
	p->connecting = true;
	p->connect_deadline_us = now_mono_us() + (int64_t)r->connect_timeout_ms * 1000;
	if (connect(fd, (struct sockaddr *)&p->sa, p->sa_len) < 0 && errno != EINPROGRESS) {
		httpc_fail(r, HTTPC_CONNECT, "Failed to connect to %s: %s", p->key,
			   strerror(errno));
		r->owner->end_later(r);
		return;
	}
	httpc_conn_want(c, r->loop, EV_WRITE);
	plain_arm(r);
}

static void plain_go(struct httpc_req *r)
{
	struct plain *p = r->pl;
	struct conn *c = p->no_pool ? NULL : httpc_pool_take(r->loop, p->key);

	if (!c) {
		plain_connect(r);
		return;
	}
	c->req = r;
	p->conn = c;
	p->reused = true;
	p->sending = true;
	p->st = P_HEAD;
	plain_arm(r);
	httpc_conn_want(c, r->loop, EV_READ);
	if (plain_send(r) < 0)
		r->owner->end_later(r);
}

void httpc_plain_start(struct httpc_req *r, const struct httpc_opts *o, const struct target *t)
{
	const char *method = o->method ? o->method : (o->body ? "POST" : "GET");
	/* Everything but the head's room cleared: it is written before it is read. */
	struct plain *p = httpc_pool_plain(r->loop);

	memset(p, 0, offsetof(struct plain, head_room));
	r->pl = p;
	memcpy(&p->sa, &t->sa, sizeof(p->sa));
	p->sa_len = t->sa_len;
	httpc_pool_key(p->key, t);
	p->keep = true;
	p->idempotent = strcmp(method, "GET") == 0 && !o->body;
	/* With a check, as in curl's path: a connection of its own, not kept. */
	p->no_pool = o->check_addr != NULL;
	r->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000L;
	if (o->body) {
		if (!o->body_take) {
			r->body = xmalloc(o->body_len + 1);
			memcpy(r->body, o->body, o->body_len);
		}
		r->body_len = o->body_len;
	}
	httpc_plain_head(r, o, t, method);
	evtimer_assign(&p->timer, loop_base(r->loop), plain_timeout, r);
	if (o->timeout_ms > 0)
		p->deadline_us = r->start_us + (int64_t)o->timeout_ms * 1000;
	plain_go(r);
}

void httpc_plain_free(struct httpc_req *r)
{
	if (!r->pl)
		return;
	httpc_plain_detach(r, false);
	if (r->pl->head != r->pl->head_room)
		free(r->pl->head);
	httpc_pool_plain_done(r->loop, r->pl);
	r->pl = NULL;
}
