/* httpd: an HTTP/1.1 server on plain libevent events, with a route table and caps.
 *
 * Each accepted socket is non-blocking with one event (read interest while a request may come,
 * write interest while answer bytes wait) and one input buffer: a request is read into it, its
 * head parsed in place (lines cut with NULs, headers kept as offsets), and handed to the route's
 * handler as the `struct httpd_req` embedded in the connection. Answers go out with one
 * sendmsg of {status line and fixed headers from the stack, added headers, body} straight from
 * the reply call; only what the socket does not take is copied into the connection's output
 * buffer. So a keep-alive request costs no allocation in here (the buffers are kept between
 * requests) and about three syscalls (read, sendmsg, and the loop's epoll_wait), where evhttp
 * spent ~30k instructions and a dozen mallocs reading a request and as much answering it
 * (bufferevent chains, a header list of malloc'd pairs, a URI object, printf'd head lines).
 *
 * One request of a connection is handled at a time; pipelined requests wait in the input
 * buffer, in order, and run when the one before is answered (from a deferred event, never
 * from inside the reply call). While a handler holds a request the socket is still read, so a
 * client that goes away is seen at once (read 0 or an error) and its close callback runs from
 * the deferred event; bytes it pipelines meanwhile are kept up to max_header_bytes + 4 KiB,
 * past that reading pauses (and a hang-up is then seen by the next write). While more than
 * OUT_HIGH answer bytes wait for a client, it gets no new request read or started (a client
 * pipelining without reading would queue answers without bound); past OUT_CAP it is dropped.
 * A held request's
 * body is dropped when its handler returns (the handler copies what it keeps), so an open
 * stream holds only its head.
 *
 * Deadlines: a 1 s tick walks the connections (head, body, idle, a write without progress, a
 * closing connection's linger). A connection past the cap is answered 503 from the accept,
 * shut for writing, and read until the client closes (at most 1 s, at most 64 at a time) so
 * the client reads the answer instead of a reset; closing after an error answer does the
 * same. Rejected: bufferevents (an evbuffer chain per read and per write, callbacks for every
 * watermark: the allocations this module exists to avoid) and evhttp (above; it also had no
 * connection cap and only a per-read timeout). Chunked request bodies are decoded in place
 * as they arrive (the OpenAI Node SDK sends its multipart uploads so), capped like others.
 *
 * This file owns the server (listen address, create, destroy), the route table and the
 * dispatch of a parsed request to its handler, and the request accessors. Connections are
 * httpd_conn.c's, parsing httpd_parse.c's, answers httpd_reply.c's (httpd_int.h lists them).
 */
#include "net/httpd_int.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/netaddr.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

int httpd_parse_listen(const char *listen, char *host, size_t host_len, int *port)
{
	const char *colon, *h = listen;
	size_t hlen;
	int64_t p;

	if (!listen || !*listen)
		return -EINVAL;
	if (*listen == '[') {
		const char *close = strchr(listen, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = listen + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - listen);
	}
	if (hlen == 0 || hlen >= host_len || parse_i64(colon + 1, 0, 65535, &p) < 0)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

static const struct route *match(const struct httpd *h, const char *path)
{
	size_t i;

	for (i = 0; i < h->n_routes; i++) {
		const struct route *rt = &h->routes[i];

		if (rt->prefix_len ? strncmp(path, rt->path, rt->prefix_len) == 0
				   : strcmp(path, rt->path) == 0)
			return rt;
	}
	return NULL;
}

/* httpd_cbs.dispatch: the route's handler for the request at the start of c's input. */
static void dispatch(struct conn *c)
{
	struct httpd_req *r = &c->req;
	size_t end = r->head_len + r->body_len, raw = r->raw_len;
	const struct route *rt = match(c->h, httpd_path(r));
	char saved = c->in[end];

	r->phase = P_HELD;
	c->req_bytes = raw;
	httpd_conn_mark(c, C_BUSY);
	c->in[end] = '\0'; /* the body as a string; the byte may start the next request */
	c->in_dispatch = true;
	if (c->h->stopped) {
		r->obs = "refused";
		c->keep_alive = false;
		httpd_reply_error(r, 503, "service_unavailable", "hermetic is shutting down");
	} else if (!rt) {
		r->obs = "unmatched";
		httpd_reply_error(r, 404, "not_found_error", "no such route");
	} else if (!(r->method & rt->methods)) {
		r->obs = rt->path;
		httpd_reply_error(r, 405, "invalid_request_error", "method not allowed here");
	} else {
		r->obs = rt->path;
		rt->fn(r, rt->arg);
	}
	c->in_dispatch = false;
	c->in[end] = saved;
	if (r->phase == P_DONE) {
		httpd_req_end(c);
		return;
	}
	/* Held: drop the body; the handler has copied what it needs. */
	memmove(c->in + r->head_len, c->in + raw, c->in_len - raw);
	c->in_len -= raw - r->head_len;
	c->req_bytes = r->head_len;
	r->body_len = 0;
	r->body_dropped = true;
	/* A held request lasts (a stream): a large body's buffer goes back now, not at its end
	 * (the head stays: the request's strings are offsets into it). */
	httpd_shrink_in(c);
}

static const struct httpd_cbs cbs = {
	.dispatch = dispatch,
	.refuse_request = httpd_refuse_request,
	.refuse_connection = httpd_refuse_connection,
};

/* ---- the server ---- */

static size_t or_default(int v, size_t def)
{
	return v > 0 ? (size_t)v : def;
}

static int bind_listen(const char *host, int port, int *out)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res, *ai;
	char service[16];
	int fd = -1, one = 1, err = EADDRNOTAVAIL;

	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host, service, &hints, &res) != 0)
		return -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -err;
	*out = fd;
	return 0;
}

int httpd_create(struct loop *l, const struct httpd_opts *o, struct httpd **out, char *err,
		 size_t err_len)
{
	struct httpd *h;
	char host[256];
	int port, rc;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (httpd_parse_listen(o->listen, host, sizeof(host), &port) < 0) {
		snprintf(err, err_len, "invalid listen address '%s' (expected HOST:PORT)",
			 o->listen ? o->listen : "");
		return -1;
	}
	h = xcalloc(1, sizeof(*h));
	h->cbs = &cbs;
	h->base = loop_base(l);
	h->lfd = -1;
	rc = bind_listen(host, port, &h->lfd);
	if (rc < 0) {
		snprintf(err, err_len, "cannot listen on %s: %s", o->listen, strerror(-rc));
		free(h);
		return -1;
	}
	h->max_body = o->max_body_bytes ? o->max_body_bytes : 1024 * 1024;
	snprintf(h->max_body_key, sizeof(h->max_body_key), "%s",
		 o->max_body_key ? o->max_body_key : "");
	h->max_header = o->max_header_bytes ? o->max_header_bytes : 16 * 1024;
	h->max_conns = or_default(o->max_connections, 256);
	h->write_ms = 1000 * (int64_t)or_default(o->timeout_s, 60);
	h->idle_ms = 1000 * (int64_t)or_default(o->idle_timeout_s, 60);
	h->header_ms = 1000 * (int64_t)or_default(o->header_timeout_s, 10);
	h->body_ms = 1000 * (int64_t)or_default(o->body_timeout_s, 60);
	h->accept_ev = event_new(h->base, h->lfd, EV_READ | EV_PERSIST, httpd_on_accept, h);
	h->tick = event_new(h->base, -1, EV_PERSIST, httpd_on_tick, h);
	h->defer = event_new(h->base, -1, 0, httpd_on_defer, h);
	if (!h->accept_ev || !h->tick || !h->defer || event_add(h->accept_ev, NULL) < 0) {
		snprintf(err, err_len, "cannot create the HTTP server's events");
		httpd_destroy(h);
		return -1;
	}
	if (getsockname(h->lfd, (struct sockaddr *)&ss, &sl) == 0)
		h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	*out = h;
	return 0;
}

void httpd_stop_serving(struct httpd *h)
{
	if (!h)
		return;
	h->stopped = true;
	h->accept_paused = false; /* the tick must not resume accepting */
	if (h->accept_ev)
		event_del(h->accept_ev);
}

void httpd_destroy(struct httpd *h)
{
	size_t i;

	if (!h)
		return;
	while (h->conns) {
		struct conn *c = h->conns;

		if (c->fd >= 0)
			close(c->fd);
		httpd_conn_free(c);
	}
	if (h->accept_ev)
		event_free(h->accept_ev);
	if (h->tick)
		event_free(h->tick);
	if (h->defer)
		event_free(h->defer);
	if (h->lfd >= 0)
		close(h->lfd);
	for (i = 0; i < h->n_routes; i++)
		free(h->routes[i].path);
	free(h->routes);
	free(h);
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

size_t httpd_connections(const struct httpd *h)
{
	return h->n_conns;
}

size_t httpd_buffered_max(const struct httpd *h)
{
	const struct conn *c;
	size_t most = 0;

	for (c = h->conns; c; c = c->next)
		if (c->fd >= 0 && c->in_len + c->out.len > most)
			most = c->in_len + c->out.len;
	return most;
}

void httpd_route(struct httpd *h, unsigned methods, const char *path, httpd_handler fn, void *arg)
{
	struct route *r;
	size_t n = strlen(path);

	h->routes = xrealloc(h->routes, (h->n_routes + 1) * sizeof(*h->routes));
	r = &h->routes[h->n_routes++];
	r->methods = methods;
	r->path = xstrdup(path);
	r->prefix_len = n && path[n - 1] == '*' ? n - 1 : 0;
	r->fn = fn;
	r->arg = arg;
	log_debug("http: route%s%s%s%s %s%s (port %d)", methods & HTTPD_GET ? " GET" : "",
		  methods & HTTPD_HEAD ? " HEAD" : "", methods & HTTPD_POST ? " POST" : "",
		  methods & HTTPD_DELETE ? " DELETE" : "", path,
		  methods & HTTPD_JSON ? " json" : "", h->port);
}

void httpd_set_observer(struct httpd *h, httpd_observe_cb cb, void *arg)
{
	h->observe = cb;
	h->observe_arg = arg;
}

/* ---- request accessors ---- */

unsigned httpd_method(const struct httpd_req *req)
{
	return req->method;
}

const char *httpd_uri(const struct httpd_req *req)
{
	return req->c->in + req->uri;
}

const char *httpd_path(const struct httpd_req *req)
{
	return req->path ? req->path : httpd_uri(req);
}

const char *httpd_query(const struct httpd_req *req)
{
	return req->query ? req->c->in + req->query : NULL;
}

const char *httpd_header(const struct httpd_req *req, const char *name)
{
	char first = (char)(*name | 0x20);
	unsigned i;

	/* The first byte first, folded as strcasecmp would match it (a request's handlers look
	 * up several headers among a dozen). */
	for (i = 0; i < req->n_hdrs; i++) {
		const char *h = req->c->in + req->hdrs[i].name;

		if ((char)(*h | 0x20) == first && ascii_case_eq(h, name))
			return req->c->in + req->hdrs[i].value;
	}
	return NULL;
}

const char *httpd_bearer(const struct httpd_req *req)
{
	const char *v = httpd_header(req, "Authorization");

	if (!v || !ascii_case_eq_n(v, "Bearer ", 7))
		return NULL;
	v += 7;
	while (*v == ' ')
		v++;
	return *v ? v : NULL;
}

const char *httpd_body_ref(const struct httpd_req *req, size_t *len)
{
	if (len)
		*len = req->body_len;
	return req->body_dropped ? "" : req->c->in + req->head_len;
}

char *httpd_body(const struct httpd_req *req, size_t *len)
{
	size_t n;
	const char *b = httpd_body_ref(req, &n);
	char *s = xmalloc(n + 1);

	memcpy(s, b, n);
	s[n] = '\0';
	if (len)
		*len = n;
	return s;
}

const char *httpd_peer(struct httpd_req *req)
{
	struct conn *c = req->c;
	const void *a = c->peer.ss_family == AF_INET6
				? (const void *)&((struct sockaddr_in6 *)&c->peer)->sin6_addr
				: (const void *)&((struct sockaddr_in *)&c->peer)->sin_addr;

	if (!c->peer_text[0] &&
	    !inet_ntop(c->peer.ss_family, a, c->peer_text, sizeof(c->peer_text)))
		snprintf(c->peer_text, sizeof(c->peer_text), "unknown");
	return c->peer_text;
}

int httpd_peer_addr(struct httpd_req *req, struct netaddr *out)
{
	return netaddr_from_sockaddr((const struct sockaddr *)&req->c->peer, out);
}

int httpd_local_addr(struct httpd_req *req, struct netaddr *out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (req->c->fd < 0)
		return -ENOTCONN;
	if (getsockname(req->c->fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	return netaddr_from_sockaddr((const struct sockaddr *)&ss, out);
}

void *httpd_req_room(struct httpd_req *req, size_t size)
{
	if (size > sizeof(req->room))
		return NULL;
	memset(req->room, 0, size);
	return req->room;
}

void httpd_on_close(struct httpd_req *req, httpd_close_cb cb, void *arg)
{
	req->on_close = cb;
	req->close_arg = arg;
	if (!cb)
		req->c->close_pending = false;
	else if (req->c->fd < 0 && (req->phase == P_HELD || req->phase == P_STREAM)) {
		/* Already gone: still reported, from the loop. */
		req->c->close_pending = true;
		httpd_conn_defer(req->c);
	}
}

size_t httpd_output_len(const struct httpd_req *req)
{
	return req->c->out.len;
}
