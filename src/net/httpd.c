/* httpd: evhttp with a route table. evhttp enforces the body and header caps itself (it
 * answers 413 and drops the connection) and the no-progress timeout; this module adds
 * routing, method checks, the JSON error shape, and the connection cap and deadlines.
 * Streaming answers (SSE) use evhttp's chunked replies directly from the handler's module.
 *
 * Connections: libevent 2.1's evhttp has no connection cap and only a per-read timeout, which a
 * client sending one header byte every few seconds never trips. So every connection's
 * bufferevent is made here (evhttp_set_bevcb) and tracked in a list: a reference on it keeps
 * the record valid whatever evhttp does, evhttp's close callback reports the end (a handler
 * may replace it while it holds a request; a 1 s tick notices those ends too: evhttp clears a
 * freed bufferevent's callbacks), and a callback on its input buffer sees the request bytes
 * arrive and finds the blank line that ends the head. The tick drops connections past their
 * deadline and answers those over the cap with a raw 503 (evhttp has not parsed anything yet).
 * Rejected: our own accept loop (evhttp 2.1 cannot be handed an accepted socket) and a filter
 * bufferevent (it cannot take the socket evhttp sets on it).
 *
 * evhttp writes every head line with evbuffer_add_printf and a fresh Date with snprintf: musl's
 * printf made that 22k instructions of a proxied request (a tenth of the router's own work).
 * httpd_add_vprintf() writes the few formats evhttp uses for heads and chunk sizes directly,
 * the same bytes, and hands every other format to evbuffer_add_vprintf; static builds link
 * libevent's calls to evbuffer_add_printf and evutil_date_rfc1123 to the wrappers at the end
 * (meson: --wrap), the date formatted once a second.
 */
#include "net/httpd.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

struct route {
	unsigned methods;
	char *path;
	size_t prefix_len; /* 0 = exact match */
	httpd_handler fn;
	void *arg;
};

/* Where a connection is between requests; the deadline runs from conn.t_mark_ms. */
enum conn_state {
	C_NEW,	/* accepted, no complete head yet: header_timeout_s from the connect */
	C_IDLE, /* kept alive after an answer, nothing sent: idle_timeout_s */
	C_HEAD, /* a request started: header_timeout_s from its first byte */
	C_BODY, /* the head is complete: body_timeout_s */
	C_BUSY, /* a handler holds the request: no deadline here */
};

struct conn {
	struct conn *next, *prev;
	struct httpd *h;
	struct bufferevent *bev; /* one reference is ours */
	struct evbuffer_cb_entry *watch;
	struct evhttp_connection *evcon; /* NULL until the first tick or request */
	enum conn_state state;
	int64_t t_mark_ms;
	int line_ends; /* line ends in a row in the head so far: 2 = the blank line */
	bool in_line;  /* a byte other than CR/LF was seen in this request */
	bool refused;  /* over the cap: answered 503 and closed at the next tick */
};

struct httpd {
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct route *routes;
	size_t n_routes;
	int port;
	httpd_observe_cb observe;
	void *observe_arg;
	struct event *tick; /* setup of new connections, deadlines, ends evhttp did not report */
	struct conn *conns;
	size_t n_conns, max_conns;
	int64_t idle_ms, header_ms, body_ms;
	int64_t warned_ms; /* last "connection cap reached" warning */
};

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

/* ---- connections ---- */

/* evhttp clears the callbacks of a bufferevent it frees; ours stays allocated (our
 * reference), so this is how a connection whose close callback was replaced is seen gone. */
static bool conn_alive(const struct conn *c)
{
	bufferevent_event_cb ecb = NULL;
	void *arg = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, &ecb, &arg);
	return ecb && (!c->evcon || arg == c->evcon);
}

static void conn_forget(struct conn *c)
{
	struct httpd *h = c->h;

	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->n_conns--;
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
	bufferevent_decref(c->bev);
	free(c);
}

/* evhttp is freeing the connection (its bufferevent is freed right after). */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	conn_forget(arg);
}

static void conn_mark(struct conn *c, enum conn_state state)
{
	c->state = state;
	c->t_mark_ms = now_mono_ms();
	c->line_ends = 0;
	c->in_line = false;
}

/* Finds the blank line that ends a request head in the bytes just added to the input. */
static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	struct evbuffer_ptr pos;
	char tmp[1024];
	size_t left = info->n_added, len = evbuffer_get_length(in), i, n;

	if (!left || c->state == C_BUSY || c->state == C_BODY || left > len)
		return;
	if (c->state == C_IDLE)
		conn_mark(c, C_HEAD);
	if (evbuffer_ptr_set(in, &pos, len - left, EVBUFFER_PTR_SET) < 0)
		return;
	while (left) {
		n = left < sizeof(tmp) ? left : sizeof(tmp);
		if (evbuffer_copyout_from(in, &pos, tmp, n) != (ev_ssize_t)n)
			return;
		for (i = 0; i < n; i++) {
			if (tmp[i] == '\n' && c->in_line) {
				if (++c->line_ends == 2) {
					conn_mark(c, C_BODY);
					return;
				}
			} else if (tmp[i] != '\r') {
				c->line_ends = 0;
				c->in_line = true;
			}
		}
		left -= n;
		evbuffer_ptr_set(in, &pos, n, EVBUFFER_PTR_ADD);
	}
}

/* Called by evhttp for every accepted connection, before it reads anything. */
static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
	static const struct timeval now = {0, 0};
	struct httpd *h = arg;
	struct conn *c, *next;

	if (h->n_conns >= h->max_conns) {
		for (c = h->conns; c; c = next) {
			next = c->next;
			if (!conn_alive(c))
				conn_forget(c);
		}
	}
	c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		free(c);
		return NULL;
	}
	c->watch = evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c);
	if (!c->watch) {
		bufferevent_free(c->bev);
		free(c);
		return NULL;
	}
	bufferevent_incref(c->bev);
	conn_mark(c, C_NEW);
	c->refused = h->n_conns >= h->max_conns;
	if (c->refused && (!h->warned_ms || c->t_mark_ms - h->warned_ms >= 60000)) {
		log_warn(
			"http: %zu connections open, the cap: refusing new ones with 503 (port %d)",
			h->max_conns, h->port);
		h->warned_ms = c->t_mark_ms;
	}
	c->next = h->conns;
	if (c->next)
		c->next->prev = c;
	h->conns = c;
	h->n_conns++;
	/* The tick meets the connection evhttp builds around this bufferevent. */
	evtimer_add(h->tick, &now);
	return c->bev;
}

/* A raw answer: evhttp has read nothing of this connection's request. The bytes the client
 * already sent are discarded first, so that the close is a FIN the client reads the 503
 * before, not a reset that loses it. */
static void refuse(struct conn *c)
{
	static const char body[] = "{\"error\":{\"message\":\"too many open connections; retry "
				   "later\",\"type\":\"service_unavailable\",\"param\":null,"
				   "\"code\":\"503\"}}";
	char head[256], sink[4096];
	int fd = bufferevent_getfd(c->bev), i, n;

	if (fd >= 0) {
		for (i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
			;
		n = snprintf(
			head, sizeof(head),
			"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
			"Retry-After: 1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n",
			sizeof(body) - 1);
		(void)!send(fd, head, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE);
		(void)!send(fd, body, sizeof(body) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		shutdown(fd, SHUT_WR);
	}
	evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
	evhttp_connection_free(c->evcon);
}

static int64_t deadline_ms(const struct conn *c)
{
	const struct httpd *h = c->h;

	switch (c->state) {
	case C_NEW:
	case C_HEAD:
		return c->t_mark_ms + h->header_ms;
	case C_IDLE:
		return c->t_mark_ms + h->idle_ms;
	case C_BODY:
		return c->t_mark_ms + h->body_ms;
	default:
		return INT64_MAX;
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval second = {1, 0};
	static const char *const names[] = {"no request head", "no new request", "no request head",
					    "no complete body", ""};
	struct httpd *h = arg;
	struct conn *c, *next;
	int64_t t = now_mono_ms();

	for (c = h->conns; c; c = next) {
		next = c->next;
		if (!conn_alive(c)) {
			conn_forget(c);
			continue;
		}
		if (!c->evcon) {
			bufferevent_getcb(c->bev, NULL, NULL, NULL, (void **)&c->evcon);
			if (c->state != C_BUSY)
				evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
		}
		if (c->refused && c->state != C_BUSY) {
			refuse(c);
			continue;
		}
		if (t < deadline_ms(c))
			continue;
		log_debug("http: dropping a connection: %s in %lld s (port %d)", names[c->state],
			  (long long)(t - c->t_mark_ms) / 1000, h->port);
		evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
		evhttp_connection_free(c->evcon);
	}
	if (h->conns)
		evtimer_add(h->tick, &second);
}

static struct conn *conn_of(struct httpd *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	struct conn *c;

	for (c = h->conns; bev && c; c = c->next)
		if (c->bev == bev && conn_alive(c))
			return c;
	return NULL;
}

/* The answer is written: the connection waits for its next request (or evhttp closes it
 * right after this, through on_conn_close). */
static void on_request_done(struct evhttp_request *req, void *arg)
{
	struct conn *c = conn_of(arg, req);

	if (!c)
		return;
	conn_mark(c, C_IDLE);
	evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
}

static size_t or_default(int v, size_t def)
{
	return v > 0 ? (size_t)v : def;
}

static unsigned method_bit(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return HTTPD_GET;
	case EVHTTP_REQ_POST:
		return HTTPD_POST;
	case EVHTTP_REQ_DELETE:
		return HTTPD_DELETE;
	case EVHTTP_REQ_HEAD:
		return HTTPD_HEAD;
	default:
		return 0;
	}
}

static const struct route *match(const struct httpd *h, const char *path)
{
	size_t i;

	for (i = 0; i < h->n_routes; i++) {
		const struct route *r = &h->routes[i];

		if (r->prefix_len ? strncmp(path, r->path, r->prefix_len) == 0
				  : strcmp(path, r->path) == 0)
			return r;
	}
	return NULL;
}

static void observe(struct httpd *h, const char *route, int status)
{
	if (h->observe)
		h->observe(route, status, h->observe_arg);
}

static void dispatch(struct evhttp_request *req, void *arg)
{
	struct httpd *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const struct route *r;
	struct conn *c = conn_of(h, req);

	if (c) {
		if (!c->evcon)
			c->evcon = evhttp_request_get_connection(req);
		c->state = C_BUSY;
		evhttp_request_set_on_complete_cb(req, on_request_done, h);
		if (c->refused) {
			/* Read before the tick could refuse it: answered here, then closed. */
			struct evkeyvalq *out = evhttp_request_get_output_headers(req);

			c->refused = false;
			evhttp_add_header(out, "Connection", "close");
			evhttp_add_header(out, "Retry-After", "1");
			httpd_reply_error(req, 503, "service_unavailable",
					  "too many open connections; retry later");
			observe(h, "refused", 503);
			return;
		}
	}
	if (!path || !*path)
		path = "/";
	r = match(h, path);
	if (!r) {
		httpd_reply_error(req, 404, "not_found_error", "no such route");
		observe(h, "unmatched", 404);
		return;
	}
	if (!(method_bit(evhttp_request_get_command(req)) & r->methods)) {
		httpd_reply_error(req, 405, "invalid_request_error", "method not allowed here");
		observe(h, r->path, 405);
		return;
	}
	r->fn(req, r->arg);
	observe(h, r->path, evhttp_request_get_response_code(req));
}

int httpd_create(struct loop *l, const struct httpd_opts *o, struct httpd **out, char *err,
		 size_t err_len)
{
	struct httpd *h;
	char host[256];
	int port;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (httpd_parse_listen(o->listen, host, sizeof(host), &port) < 0) {
		snprintf(err, err_len, "invalid listen address '%s' (expected HOST:PORT)",
			 o->listen ? o->listen : "");
		return -1;
	}
	h = xcalloc(1, sizeof(*h));
	h->http = evhttp_new(loop_base(l));
	if (!h->http) {
		snprintf(err, err_len, "cannot create the HTTP server");
		free(h);
		return -1;
	}
	evhttp_set_max_body_size(h->http,
				 (ev_ssize_t)(o->max_body_bytes ? o->max_body_bytes : 1024 * 1024));
	evhttp_set_max_headers_size(
		h->http, (ev_ssize_t)(o->max_header_bytes ? o->max_header_bytes : 16 * 1024));
	evhttp_set_timeout(h->http, o->timeout_s > 0 ? o->timeout_s : 60);
	h->tick = evtimer_new(loop_base(l), on_tick, h);
	if (!h->tick) {
		snprintf(err, err_len, "cannot create the HTTP server's timer");
		evhttp_free(h->http);
		free(h);
		return -1;
	}
	h->max_conns = or_default(o->max_connections, 256);
	h->idle_ms = 1000 * (int64_t)or_default(o->idle_timeout_s, 60);
	h->header_ms = 1000 * (int64_t)or_default(o->header_timeout_s, 10);
	h->body_ms = 1000 * (int64_t)or_default(o->body_timeout_s, 60);
	evhttp_set_bevcb(h->http, on_new_conn, h);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
						    EVHTTP_REQ_HEAD);
	evhttp_set_gencb(h->http, dispatch, h);
	h->sock = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
	if (!h->sock) {
		snprintf(err, err_len, "cannot listen on %s: %s", o->listen, strerror(errno));
		evhttp_free(h->http);
		event_free(h->tick);
		free(h);
		return -1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(h->sock), (struct sockaddr *)&ss, &sl) == 0)
		h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	*out = h;
	return 0;
}

void httpd_destroy(struct httpd *h)
{
	size_t i;

	if (!h)
		return;
	/* Frees every connection: their close callbacks forget most records; the rest (a
	 * handler had replaced the callback) are forgotten here. */
	evhttp_free(h->http);
	while (h->conns)
		conn_forget(h->conns);
	event_free(h->tick);
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
}

void httpd_set_observer(struct httpd *h, httpd_observe_cb cb, void *arg)
{
	h->observe = cb;
	h->observe_arg = arg;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Status";
	}
}

void httpd_reply(struct evhttp_request *req, int status, const char *content_type, const char *body,
		 size_t len)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (content_type)
		evhttp_add_header(h, "Content-Type", content_type);
	evbuffer_add(b, body, len);
	evhttp_send_reply(req, status, reason(status), b);
	evbuffer_free(b);
}

static void put_json_string(struct buf *out, const char *s)
{
	buf_puts(out, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_printf(out, "\\%c", c);
		else if (c < 0x20)
			buf_printf(out, "\\u%04x", c);
		else
			buf_append(out, s, 1);
	}
	buf_puts(out, "\"");
}

void httpd_reply_json(struct evhttp_request *req, int status, cJSON *root)
{
	char *s = cJSON_PrintUnformatted(root);

	httpd_reply(req, status, "application/json", s, strlen(s));
	free(s);
	cJSON_Delete(root);
}

void httpd_reply_error(struct evhttp_request *req, int status, const char *type,
		       const char *message)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "{\"error\":{\"message\":");
	put_json_string(&b, message);
	buf_puts(&b, ",\"type\":");
	put_json_string(&b, type);
	buf_printf(&b, ",\"param\":null,\"code\":\"%d\"}}", status);
	httpd_reply(req, status, "application/json", b.data, b.len);
	buf_finish(&b);
}

char *httpd_body(struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *s = xmalloc(n + 1);

	evbuffer_copyout(in, s, n);
	s[n] = '\0';
	if (len)
		*len = n;
	return s;
}

const char *httpd_header(struct evhttp_request *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

const char *httpd_bearer(struct evhttp_request *req)
{
	const char *v = httpd_header(req, "Authorization");

	if (!v || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	v += 7;
	while (*v == ' ')
		v++;
	return *v ? v : NULL;
}

/* ---- head lines without printf ---- */

static size_t put_int(char *out, long long v, unsigned base)
{
	char tmp[24];
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	size_t n = 0, i = 0;

	do {
		tmp[n++] = "0123456789abcdef"[u % base];
		u /= base;
	} while (u);
	if (v < 0)
		out[i++] = '-';
	while (n)
		out[i++] = tmp[--n];
	return i;
}

static size_t put_str(char *out, const char *s, size_t n)
{
	memcpy(out, s, n);
	return n;
}

int httpd_add_vprintf(struct evbuffer *buf, const char *fmt, va_list ap)
{
	char line[512];
	size_t n = 0, klen, vlen;
	va_list cp;
	int rc = -2;

	va_copy(cp, ap);
	if (strcmp(fmt, "%s: %s\r\n") == 0) {
		const char *k = va_arg(cp, const char *), *v = va_arg(cp, const char *);

		if (k && v && (klen = strlen(k)) + (vlen = strlen(v)) + 4 <= sizeof(line)) {
			n = put_str(line, k, klen);
			n += put_str(line + n, ": ", 2);
			n += put_str(line + n, v, vlen);
			n += put_str(line + n, "\r\n", 2);
			rc = 0;
		}
	} else if (strcmp(fmt, "HTTP/%d.%d %d %s\r\n") == 0) {
		int major = va_arg(cp, int), minor = va_arg(cp, int), code = va_arg(cp, int);
		const char *reason = va_arg(cp, const char *);

		if (reason && (vlen = strlen(reason)) + 48 <= sizeof(line)) {
			n = put_str(line, "HTTP/", 5);
			n += put_int(line + n, major, 10);
			line[n++] = '.';
			n += put_int(line + n, minor, 10);
			line[n++] = ' ';
			n += put_int(line + n, code, 10);
			line[n++] = ' ';
			n += put_str(line + n, reason, vlen);
			n += put_str(line + n, "\r\n", 2);
			rc = 0;
		}
	} else if (strcmp(fmt, "%x\r\n") == 0) {
		n = put_int(line, va_arg(cp, unsigned), 16);
		n += put_str(line + n, "\r\n", 2);
		rc = 0;
	}
	va_end(cp);
	if (rc < 0)
		return evbuffer_add_vprintf(buf, fmt, ap);
	return evbuffer_add(buf, line, n) < 0 ? -1 : (int)n;
}

#ifdef HERMETIC_WRAP_LIBEVENT_PRINTF
int __wrap_evbuffer_add_printf(struct evbuffer *buf, const char *fmt, ...);
int __wrap_evbuffer_add_printf(struct evbuffer *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = httpd_add_vprintf(buf, fmt, ap);
	va_end(ap);
	return n;
}

/* evhttp asks for the current date (tm NULL) once per answer; it changes once a second. If a
 * later libevent drops the function, __real_evutil_date_rfc1123 fails the link. */
int __real_evutil_date_rfc1123(char *date, size_t len, const struct tm *tm);
int __wrap_evutil_date_rfc1123(char *date, size_t len, const struct tm *tm);
int __wrap_evutil_date_rfc1123(char *date, size_t len, const struct tm *tm)
{
	static _Thread_local time_t last = -1;
	static _Thread_local char text[64];
	static _Thread_local int n;
	time_t t;
	struct tm now;

	if (tm)
		return __real_evutil_date_rfc1123(date, len, tm);
	t = time(NULL);
	if (t != last || n < 0 || (size_t)n >= sizeof(text)) {
		gmtime_r(&t, &now);
		n = __real_evutil_date_rfc1123(text, sizeof(text), &now);
		last = t;
		if (n < 0 || (size_t)n >= sizeof(text))
			return __real_evutil_date_rfc1123(date, len, &now);
	}
	if (len) {
		size_t k = (size_t)n < len ? (size_t)n : len - 1;

		memcpy(date, text, k);
		date[k] = '\0';
	}
	return n;
}
#endif
