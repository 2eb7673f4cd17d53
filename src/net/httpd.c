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
 */
#include "net/httpd.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/netaddr.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS    64
#define OUT_CAP	       (32u << 20) /* answer bytes a client may leave unread */
#define OUT_HIGH       (64 * 1024) /* past it no new request is read or started */
#define IN_MIN	       4096
#define IN_KEEP	       (64 * 1024) /* a larger input buffer is shrunk between requests */
#define LINGER_MS      1000
#define MAX_REFUSING   64
#define ACCEPT_BATCH   32
#define PIPELINE_SLACK 4096

struct route {
	unsigned methods;
	char *path;
	size_t prefix_len; /* 0 = exact match */
	httpd_handler fn;
	void *arg;
};

/* Where a connection is; the deadline runs from conn.t_mark_ms. */
enum conn_state {
	C_NEW,	  /* accepted, no complete head yet: header_timeout_s from the connect */
	C_IDLE,	  /* kept alive after an answer, nothing sent: idle_timeout_s */
	C_HEAD,	  /* a request started: header_timeout_s from its first byte */
	C_BODY,	  /* the head is complete: body_timeout_s */
	C_BUSY,	  /* a handler holds the request: only a stalled write has a deadline */
	C_FLUSH,  /* the last answer is being written, then the connection closes */
	C_LINGER, /* shut for writing; reading until the client closes (LINGER_MS) */
};

enum req_phase {
	P_NONE, /* no request handed out */
	P_HELD, /* a handler holds it, nothing answered */
	P_STREAM,
	P_DONE, /* answered; the connection moves on when the dispatch returns */
};

struct hdr {
	uint32_t name, value; /* offsets into conn.in */
};

struct httpd_req {
	struct conn *c;
	enum req_phase phase;
	unsigned method;
	int minor; /* HTTP/1.minor */
	bool head_only, chunked, close_after, expect, body_dropped;
	bool chunked_in; /* the body comes chunked: decoded in place as it arrives */
	enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER } ch_state;
	size_t ch_pos, ch_left; /* where decoding resumes in the input; data left in the chunk
				   (in the trailer: its bytes so far) */
	size_t ch_raw;		/* chunked bytes decoded and dropped from the input */
	size_t raw_len;		/* the request's bytes in the input: head, body as sent */
	uint32_t uri, query;	/* offsets; query 0 = none */
	char *path;		/* malloc'd only when the target has a query */
	size_t head_len, body_len;
	struct hdr hdrs[MAX_HEADERS];
	unsigned n_hdrs;
	const char *obs; /* the route name the observer is given */
	httpd_close_cb on_close;
	void *close_arg;
};

struct conn {
	struct conn *next, *prev;
	struct conn *next_defer;
	struct httpd *h;
	struct event *ev;
	int fd; /* -1 once closed */
	short watching;
	enum conn_state state;
	bool refused, deferred, close_pending, in_dispatch, keep_alive;
	int in_cb;
	int64_t t_mark_ms, t_write_ms;
	char *in;
	size_t in_len, in_alloc, scan, req_bytes;
	struct buf out;	 /* answer bytes the socket has not taken */
	struct buf hdrs; /* headers added to the current answer */
	struct sockaddr_storage peer;
	char peer_text[INET6_ADDRSTRLEN];
	struct httpd_req req;
};

struct httpd {
	struct event_base *base;
	int lfd;
	struct event *accept_ev, *tick, *defer;
	struct route *routes;
	size_t n_routes;
	int port;
	httpd_observe_cb observe;
	void *observe_arg;
	struct conn *conns, *defer_head;
	size_t n_conns, n_refusing, max_conns, max_body, max_header;
	int64_t idle_ms, header_ms, body_ms, write_ms;
	int64_t warned_ms; /* last "connection cap reached" warning */
	bool accept_paused;
	time_t date_s;
	char date[48]; /* "Date: ...\r\n" of date_s */
	size_t date_len;
};

static const char error_shape[] = "{\"error\":{\"message\":";

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

/* ---- small writers (printf is a tenth of a request's cost in musl) ---- */

static size_t put_str(char *out, const char *s, size_t n)
{
	memcpy(out, s, n);
	return n;
}

#define PUT_LIT(out, lit) put_str(out, lit, sizeof(lit) - 1)

static const char *reason(int status)
{
	static const struct {
		int status;
		const char *text;
	} table[] = {
		{100, "Continue"},
		{200, "OK"},
		{201, "Created"},
		{202, "Accepted"},
		{204, "No Content"},
		{301, "Moved Permanently"},
		{302, "Found"},
		{304, "Not Modified"},
		{400, "Bad Request"},
		{401, "Unauthorized"},
		{403, "Forbidden"},
		{404, "Not Found"},
		{405, "Method Not Allowed"},
		{409, "Conflict"},
		{411, "Length Required"},
		{413, "Payload Too Large"},
		{415, "Unsupported Media Type"},
		{417, "Expectation Failed"},
		{422, "Unprocessable Entity"},
		{429, "Too Many Requests"},
		{431, "Request Header Fields Too Large"},
		{499, "Client Closed Request"},
		{500, "Internal Server Error"},
		{501, "Not Implemented"},
		{502, "Bad Gateway"},
		{503, "Service Unavailable"},
		{504, "Gateway Timeout"},
		{505, "HTTP Version Not Supported"},
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(table); i++)
		if (table[i].status == status)
			return table[i].text;
	return "Status";
}

/* "Date: <IMF-fixdate>\r\n", formatted once a second. */
static const char *date_line(struct httpd *h, size_t *len)
{
	time_t t = time(NULL);
	struct tm tm;

	if (t != h->date_s || !h->date_len) {
		gmtime_r(&t, &tm);
		h->date_len = strftime(h->date, sizeof(h->date),
				       "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		h->date_s = t;
	}
	*len = h->date_len;
	return h->date;
}

/* ---- connections: events, deferral, lifetime ---- */

static void on_conn_event(evutil_socket_t fd, short what, void *arg);

static void conn_mark(struct conn *c, enum conn_state state)
{
	c->state = state;
	c->t_mark_ms = now_mono_ms();
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
static void conn_defer(struct conn *c)
{
	struct httpd *h = c->h;

	if (c->deferred)
		return;
	c->deferred = true;
	c->next_defer = h->defer_head;
	h->defer_head = c;
	event_active(h->defer, EV_TIMEOUT, 0);
}

static void conn_free(struct conn *c)
{
	struct httpd *h = c->h;

	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (!h->conns && !h->accept_paused)
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
		conn_defer(c);
	}
}

/* Frees a closed connection nobody uses any more; true when it did. */
static bool conn_reap(struct conn *c)
{
	if (c->fd >= 0 || c->in_cb || c->in_dispatch || c->deferred || c->req.phase != P_NONE)
		return false;
	conn_free(c);
	return true;
}

static void start_linger(struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
	conn_mark(c, C_LINGER);
	conn_watch(c);
}

/* Writes iov now if nothing waits before it; what the socket does not take is queued. A client
 * that left answer bytes unread and would have more than OUT_CAP waiting is dropped (one
 * answer into an empty queue is always taken: it is the handler's, already in memory). */
static void conn_send(struct conn *c, struct iovec *iov, int n)
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
		c->t_write_ms = now_mono_ms();
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
	c->t_write_ms = now_mono_ms();
	/* Reading resumes (conn_watch, conn_process from conn_after): the wait was ours, so the
	 * head or body deadline starts again. */
	if (paused && !backlogged(c) && c->state <= C_BODY)
		conn_mark(c, c->state);
	if (!c->out.len && c->state == C_FLUSH)
		start_linger(c);
}

/* ---- answers ---- */

static void observe(struct httpd *h, const char *route, int status)
{
	if (h->observe && route)
		h->observe(route, status, h->observe_arg);
}

/* The head: status line and fixed headers on the stack, then the added ones, then the body. */
static void send_head(struct httpd_req *r, int status, bool stream, const char *body, size_t len)
{
	static const char crlf[] = "\r\n";
	struct conn *c = r->c;
	bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
	char head[256];
	const char *text, *date;
	size_t n, tlen, dlen;
	struct iovec iov[4];
	int k = 0;

	if (status < 100 || status > 999)
		status = 500;
	text = reason(status);
	tlen = strlen(text);
	n = PUT_LIT(head, "HTTP/1.1 ");
	n += fmt_uint(head + n, (unsigned)status, 10);
	head[n++] = ' ';
	n += put_str(head + n, text, tlen);
	n += PUT_LIT(head + n, "\r\n");
	date = date_line(c->h, &dlen);
	n += put_str(head + n, date, dlen);
	if (stream && !no_body) {
		if (r->minor >= 1)
			r->chunked = true;
		else
			r->close_after = true;
		if (r->chunked)
			n += PUT_LIT(head + n, "Transfer-Encoding: chunked\r\n");
	} else if (!no_body) {
		n += PUT_LIT(head + n, "Content-Length: ");
		n += fmt_uint(head + n, len, 10);
		n += PUT_LIT(head + n, "\r\n");
	}
	if (r->close_after || !c->keep_alive) {
		r->close_after = true;
		n += PUT_LIT(head + n, "Connection: close\r\n");
	} else if (r->minor == 0) {
		n += PUT_LIT(head + n, "Connection: keep-alive\r\n");
	}
	iov[k++] = (struct iovec){head, n};
	if (c->hdrs.len)
		iov[k++] = (struct iovec){c->hdrs.data, c->hdrs.len};
	iov[k++] = (struct iovec){(void *)crlf, 2};
	if (!stream && !no_body && !r->head_only && len)
		iov[k++] = (struct iovec){(void *)body, len};
	observe(c->h, r->obs, status);
	conn_send(c, iov, k);
	buf_reset(&c->hdrs);
}

static void req_end(struct conn *c);
static void shrink_in(struct conn *c);

/* Called by every answering call when the request is answered: outside a dispatch the
 * connection moves on here (the next pipelined request runs from the deferred event). */
static void req_answered(struct conn *c)
{
	c->req.phase = P_DONE;
	c->close_pending = false;
	if (c->in_dispatch)
		return;
	req_end(c);
	if (c->in_cb)
		return;
	if (c->fd >= 0 && c->in_len && c->state == C_HEAD)
		conn_defer(c);
	conn_reap(c);
}

static bool answerable(const struct httpd_req *r, const char *what)
{
	if (r->phase == P_HELD)
		return true;
	log_warn("http: %s on a request that is %s (a bug)", what,
		 r->phase == P_STREAM ? "streaming" : "answered");
	return false;
}

/* Length of s, or SIZE_MAX when it holds CR, LF or (with colon) ':'. A byte loop: musl's
 * strpbrk builds a table on every call, and this runs for each answer header. */
static size_t header_text_len(const char *s, bool colon)
{
	size_t n;

	for (n = 0; s[n]; n++)
		if (s[n] == '\r' || s[n] == '\n' || (colon && s[n] == ':'))
			return SIZE_MAX;
	return n;
}

void httpd_add_header(struct httpd_req *req, const char *name, const char *value)
{
	struct buf *b = &req->c->hdrs;
	size_t nl = header_text_len(name, true), vl = header_text_len(value, false);

	if (nl == SIZE_MAX || vl == SIZE_MAX || !nl) {
		log_warn("http: dropped an answer header with a line break (%.32s)", name);
		return;
	}
	buf_append(b, name, nl);
	buf_append(b, ": ", 2);
	buf_append(b, value, vl);
	buf_append(b, "\r\n", 2);
}

void httpd_reply(struct httpd_req *req, int status, const char *content_type, const char *body,
		 size_t len)
{
	if (!answerable(req, "httpd_reply"))
		return;
	if (content_type)
		httpd_add_header(req, "Content-Type", content_type);
	send_head(req, status, false, body, len);
	req_answered(req->c);
}

void httpd_reply_start(struct httpd_req *req, int status, const char *content_type)
{
	if (!answerable(req, "httpd_reply_start"))
		return;
	if (content_type)
		httpd_add_header(req, "Content-Type", content_type);
	send_head(req, status, true, NULL, 0);
	req->phase = P_STREAM;
}

void httpd_reply_chunk(struct httpd_req *req, const void *data, size_t len)
{
	struct conn *c = req->c;
	char size[24];
	struct iovec iov[3];
	int k = 0;

	if (req->phase != P_STREAM || c->fd < 0 || req->head_only || !len)
		return;
	if (req->chunked) {
		size_t n = fmt_uint(size, len, 16);

		n += PUT_LIT(size + n, "\r\n");
		iov[k++] = (struct iovec){size, n};
	}
	iov[k++] = (struct iovec){(void *)data, len};
	if (req->chunked)
		iov[k++] = (struct iovec){(void *)"\r\n", 2};
	conn_send(c, iov, k);
}

void httpd_reply_end(struct httpd_req *req)
{
	struct conn *c = req->c;

	if (req->phase != P_STREAM) {
		log_warn("http: httpd_reply_end without httpd_reply_start (a bug)");
		return;
	}
	if (req->chunked && !req->head_only && c->fd >= 0)
		conn_send(c, &(struct iovec){(void *)"0\r\n\r\n", 5}, 1);
	req_answered(c);
}

static void put_json_string(struct buf *out, const char *s)
{
	buf_json_str(out, s, strlen(s));
}

static void error_body(struct buf *b, int status, const char *type, const char *message)
{
	char code[16];

	buf_init(b, 0);
	buf_puts(b, error_shape);
	put_json_string(b, message);
	buf_puts(b, ",\"type\":");
	put_json_string(b, type);
	buf_puts(b, ",\"param\":null,\"code\":\"");
	buf_append(b, code, fmt_uint(code, (unsigned)status, 10));
	buf_puts(b, "\"}}");
}

void httpd_reply_json(struct httpd_req *req, int status, cJSON *root)
{
	char *s = cJSON_PrintUnformatted(root);

	httpd_reply(req, status, "application/json", s, strlen(s));
	free(s);
	cJSON_Delete(root);
}

void httpd_reply_error(struct httpd_req *req, int status, const char *type, const char *message)
{
	struct buf b;

	error_body(&b, status, type, message);
	httpd_reply(req, status, "application/json", b.data, b.len);
	buf_finish(&b);
}

/* A request the server itself refuses (malformed, too big): answered, then the connection
 * closes; nothing of it reaches a handler or the observer. */
static void refuse_request(struct conn *c, int status, const char *message)
{
	struct httpd_req *r = &c->req;
	struct buf b;

	log_debug("http: refused a request with %d: %s (port %d)", status, message, c->h->port);
	r->phase = P_HELD;
	r->close_after = true;
	r->head_only = false;
	r->obs = NULL;
	buf_reset(&c->hdrs);
	error_body(&b, status, "invalid_request_error", message);
	httpd_add_header(r, "Content-Type", "application/json");
	send_head(r, status, false, b.data, b.len);
	buf_finish(&b);
	r->phase = P_DONE;
	c->in_len = 0;
	c->req_bytes = 0;
	req_end(c);
}

/* ---- requests: the head, dispatch, the end ---- */

static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Offset just past the blank line ending the head, or 0 when it has not arrived (c->scan
 * remembers where to look next). */
static size_t head_end(struct conn *c)
{
	const char *d = c->in, *p;
	size_t k = c->scan, len = c->in_len;

	while (k < len && (p = memchr(d + k, '\n', len - k))) {
		k = (size_t)(p - d);
		if (k + 1 >= len || (d[k + 1] == '\r' && k + 2 >= len)) {
			c->scan = k;
			return 0;
		}
		if (d[k + 1] == '\n')
			return k + 2;
		if (d[k + 1] == '\r' && d[k + 2] == '\n')
			return k + 3;
		k++;
	}
	c->scan = len;
	return 0;
}

/* Cuts the line starting at *pos (ending at LF, CR LF) into a string; returns its start. */
static char *next_line(char *d, size_t *pos, size_t *len)
{
	char *s = d + *pos, *lf = strchr(s, '\n');
	size_t n = (size_t)(lf - s);

	*pos += n + 1;
	if (n && s[n - 1] == '\r')
		n--;
	s[n] = '\0';
	*len = n;
	return s;
}

static unsigned method_of(const char *m, size_t n)
{
	static const struct {
		const char *name;
		unsigned bit;
	} table[] = {{"GET", HTTPD_GET},
		     {"POST", HTTPD_POST},
		     {"DELETE", HTTPD_DELETE},
		     {"HEAD", HTTPD_HEAD}};
	size_t i;

	for (i = 0; i < ARRAY_LEN(table); i++)
		if (strlen(table[i].name) == n && memcmp(table[i].name, m, n) == 0)
			return table[i].bit;
	for (i = 0; i < n; i++)
		if (!is_tchar((unsigned char)m[i]))
			return 0;
	return n ? HTTPD_OTHER : 0;
}

/* "METHOD SP target SP HTTP/1.x"; 0 or the status to refuse with. */
static int parse_request_line(struct conn *c, char *line, size_t len, const char **why)
{
	struct httpd_req *r = &c->req;
	char *sp1 = memchr(line, ' ', len), *t, *sp2, *q;
	size_t i;

	*why = "malformed request line";
	if (!sp1)
		return 400;
	r->method = method_of(line, (size_t)(sp1 - line));
	t = sp1 + 1;
	sp2 = strchr(t, ' ');
	if (!r->method || !sp2 || sp2 == t)
		return 400;
	*sp2 = '\0';
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || !strchr("01", sp2[8]) || !sp2[8] || sp2[9]) {
		*why = "only HTTP/1.0 and HTTP/1.1 are served";
		return strncmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
	}
	r->minor = sp2[8] - '0';
	for (i = 0; t[i]; i++)
		if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f)
			return 400;
	/* absolute-form (a proxy's): the path of it */
	if (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0) {
		char *slash = strchr(strstr(t, "//") + 2, '/');

		if (!slash)
			return 400;
		t = slash;
	}
	if (*t != '/') {
		*why = "the request target must be a path";
		return 400;
	}
	r->uri = (uint32_t)(t - c->in);
	q = strchr(t, '?');
	if (q) {
		r->query = (uint32_t)(q + 1 - c->in);
		r->path = xstrndup(t, (size_t)(q - t));
	}
	r->head_only = r->method == HTTPD_HEAD;
	return 0;
}

static bool has_token(const char *v, const char *token)
{
	size_t n = strlen(token);

	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (strncasecmp(v, token, n) == 0 &&
		    (v[n] == '\0' || v[n] == ',' || v[n] == ' ' || v[n] == '\t'))
			return true;
		while (*v && *v != ',')
			v++;
	}
	return false;
}

/* The headers that shape the exchange. 0 or the status to refuse with. */
static int read_framing(struct conn *c, const char **why)
{
	struct httpd_req *r = &c->req;
	bool have_len = false, conn_close_tok = false, conn_keep = false;
	int64_t cl = 0, v;
	unsigned i;

	for (i = 0; i < r->n_hdrs; i++) {
		const char *name = c->in + r->hdrs[i].name, *val = c->in + r->hdrs[i].value;
		char first = (char)(*name | 0x20);

		/* The first letter first: most headers (Host, Authorization, User-Agent...) are
		 * none of these, and musl's strcasecmp calls tolower for every byte. */
		if (first != 'c' && first != 't' && first != 'e')
			continue;
		if (strcasecmp(name, "Content-Length") == 0) {
			if (parse_i64(val, 0, INT64_MAX, &v) < 0 || !(*val >= '0' && *val <= '9') ||
			    (have_len && v != cl)) {
				*why = "invalid Content-Length";
				return 400;
			}
			have_len = true;
			cl = v;
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			*why = "only the chunked transfer coding is understood";
			if (strcasecmp(val, "chunked") != 0 || r->chunked_in)
				return 501;
			r->chunked_in = true;
		} else if (strcasecmp(name, "Connection") == 0) {
			conn_close_tok |= has_token(val, "close");
			conn_keep |= has_token(val, "keep-alive");
		} else if (strcasecmp(name, "Expect") == 0) {
			if (strcasecmp(val, "100-continue") != 0) {
				*why = "only Expect: 100-continue is understood";
				return 417;
			}
			r->expect = true;
		}
	}
	if (r->chunked_in && have_len) {
		*why = "both Content-Length and Transfer-Encoding";
		return 400;
	}
	if ((uint64_t)cl > c->h->max_body) {
		*why = "request body too large";
		return 413;
	}
	r->body_len = (size_t)cl;
	r->raw_len = r->head_len + r->body_len;
	c->keep_alive = r->minor >= 1 ? !conn_close_tok : conn_keep && !conn_close_tok;
	return 0;
}

/* 1: the head of the request at the start of the input is parsed; 0: more bytes are needed;
 * -1: refused (answered, closing). */
static int parse_head(struct conn *c)
{
	struct httpd_req *r = &c->req;
	size_t end, pos = 0, i = 0, n;
	const char *why = "malformed header line";
	char *line;
	int status;

	while (i < c->in_len && (c->in[i] == '\r' || c->in[i] == '\n'))
		i++;
	if (i) {
		memmove(c->in, c->in + i, c->in_len - i);
		c->in_len -= i;
		c->scan = 0;
	}
	end = c->in_len ? head_end(c) : 0;
	if (!end || end > c->h->max_header) {
		if (end || c->in_len > c->h->max_header) {
			refuse_request(c, 431, "request head too large");
			return -1;
		}
		return 0;
	}
	if (memchr(c->in, '\0', end)) {
		refuse_request(c, 400, "NUL byte in the request head");
		return -1;
	}
	memset(r, 0, offsetof(struct httpd_req, hdrs));
	r->c = c;
	r->n_hdrs = 0;
	r->head_len = end;
	line = next_line(c->in, &pos, &n);
	status = parse_request_line(c, line, n, &why);
	while (!status && pos < end) {
		char *colon, *v, *e;

		line = next_line(c->in, &pos, &n);
		if (!n)
			break;
		colon = memchr(line, ':', n);
		if (*line == ' ' || *line == '\t' || !colon || colon == line) {
			status = 400;
			break;
		}
		for (v = line; v < colon; v++)
			if (!is_tchar((unsigned char)*v))
				status = 400;
		if (r->n_hdrs == MAX_HEADERS) {
			why = "too many header lines";
			status = 431;
		}
		if (status)
			break;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (e = line + n; e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		r->hdrs[r->n_hdrs].name = (uint32_t)(line - c->in);
		r->hdrs[r->n_hdrs++].value = (uint32_t)(v - c->in);
	}
	if (!status)
		status = read_framing(c, &why);
	if (status) {
		free(r->path);
		r->path = NULL;
		refuse_request(c, status, why);
		return -1;
	}
	return 1;
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

static void dispatch(struct conn *c)
{
	struct httpd_req *r = &c->req;
	size_t end = r->head_len + r->body_len, raw = r->raw_len;
	const struct route *rt = match(c->h, httpd_path(r));
	char saved = c->in[end];

	r->phase = P_HELD;
	c->req_bytes = raw;
	conn_mark(c, C_BUSY);
	c->in[end] = '\0'; /* the body as a string; the byte may start the next request */
	c->in_dispatch = true;
	if (!rt) {
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
		req_end(c);
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
	shrink_in(c);
}

/* A large input buffer (a big body came) holding little now goes back to IN_MIN. */
static void shrink_in(struct conn *c)
{
	if (c->in_alloc > IN_KEEP && c->in_len < IN_MIN) {
		c->in = xrealloc(c->in, IN_MIN);
		c->in_alloc = IN_MIN;
	}
}

/* The answer is out (or queued): forget the request, then idle, or close after the answer. */
static void req_end(struct conn *c)
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
	shrink_in(c);
	if (c->fd < 0)
		return;
	if (r->close_after) {
		c->in_len = 0;
		conn_mark(c, C_FLUSH);
		if (!c->out.len)
			start_linger(c);
		return;
	}
	conn_mark(c, c->in_len ? C_HEAD : C_IDLE);
	conn_watch(c);
}

/* Offset of the next LF at or after pos, or 0 when none has arrived. */
static size_t lf_at(const struct conn *c, size_t pos)
{
	const char *lf = pos < c->in_len ? memchr(c->in + pos, '\n', c->in_len - pos) : NULL;

	return lf ? (size_t)(lf - c->in) : 0;
}

/* A chunk-size line up to its LF (line[len] is the LF): 1-16 hex digits, then ";ext" or
 * nothing, then CR. Nothing else: no sign, space, "0x" or bare LF (strtoll took them all, and
 * skipped the line's own CR LF into the bytes after it). 0 or -1. */
static int chunk_size(const char *line, size_t len, uint64_t *size)
{
	size_t i;

	if (!len || line[len - 1] != '\r')
		return -1;
	len--;
	*size = 0;
	for (i = 0; i < len; i++) {
		int v = hex_digit(line[i]);

		if (v < 0)
			break;
		if (i == 16)
			return -1;
		*size = *size * 16 + (uint64_t)v;
	}
	if (!i || (i < len && line[i] != ';'))
		return -1;
	return memchr(line + i, '\r', len - i) ? -1 : 0;
}

/* Decodes the chunked body that has arrived so far in place, to just after the head. 1: the
 * body is complete; 0: more bytes are needed; -1: refused (answered, closing). */
static int dechunk_pass(struct conn *c)
{
	struct httpd_req *r = &c->req;
	size_t lf, n;
	uint64_t size;

	for (;;) {
		switch (r->ch_state) {
		case CH_SIZE:
			lf = lf_at(c, r->ch_pos);
			if (!lf) {
				if (c->in_len - r->ch_pos > 1024)
					goto bad;
				return 0;
			}
			if (chunk_size(c->in + r->ch_pos, lf - r->ch_pos, &size) < 0)
				goto bad;
			if (size > c->h->max_body - r->body_len) {
				refuse_request(c, 413, "request body too large");
				return -1;
			}
			r->ch_pos = lf + 1;
			r->ch_left = (size_t)size;
			r->ch_state = size ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA:
			n = c->in_len - r->ch_pos;
			if (n > r->ch_left)
				n = r->ch_left;
			memmove(c->in + r->head_len + r->body_len, c->in + r->ch_pos, n);
			r->body_len += n;
			r->ch_pos += n;
			r->ch_left -= n;
			if (r->ch_left)
				return 0;
			r->ch_state = CH_DATA_END;
			break;
		case CH_DATA_END:
			lf = lf_at(c, r->ch_pos);
			if (!lf && c->in_len - r->ch_pos < 2)
				return 0;
			if (!lf || lf - r->ch_pos > 1 ||
			    (lf > r->ch_pos && c->in[r->ch_pos] != '\r'))
				goto bad;
			r->ch_pos = lf + 1;
			r->ch_state = CH_SIZE;
			break;
		case CH_TRAILER:
			lf = lf_at(c, r->ch_pos);
			if (!lf) {
				if (r->ch_left + c->in_len - r->ch_pos > c->h->max_header)
					goto bad;
				return 0;
			}
			n = lf - r->ch_pos;
			r->ch_pos = lf + 1;
			r->ch_left += n + 1;
			if (n == 0 || (n == 1 && c->in[lf - 1] == '\r')) {
				r->raw_len = r->ch_pos;
				return 1;
			}
			if (r->ch_left > c->h->max_header)
				goto bad;
			break;
		}
	}
bad:
	refuse_request(c, 400, "malformed chunked body");
	return -1;
}

/* Raw bytes a chunked body may take: 1-byte chunks cost 6 ("1\r\nX\r\n"), so every body
 * within max_body fits; what is past it is chunk extensions (work for nothing). */
static size_t chunked_raw_cap(const struct httpd *h)
{
	return h->max_body > SIZE_MAX / 16 ? SIZE_MAX : 8 * h->max_body + h->max_header;
}

/* dechunk_pass, then the undecoded tail moves down to the end of the decoded body: the input
 * holds the head, the body and at most one chunk line (or the trailer) however the body is cut
 * into chunks. */
static int dechunk(struct conn *c)
{
	struct httpd_req *r = &c->req;
	size_t from = r->ch_pos, to;
	int rc = dechunk_pass(c);

	if (rc)
		return rc;
	r->ch_raw += r->ch_pos - from;
	if (r->ch_raw > chunked_raw_cap(c->h)) {
		refuse_request(c, 413, "chunked request body too large on the wire");
		return -1;
	}
	to = r->head_len + r->body_len;
	memmove(c->in + to, c->in + r->ch_pos, c->in_len - r->ch_pos);
	c->in_len = to + c->in_len - r->ch_pos;
	r->ch_pos = to;
	return 0;
}

/* Runs the requests waiting in the input buffer, one at a time, in order. */
static void conn_process(struct conn *c)
{
	struct httpd_req *r = &c->req;
	int rc;

	while (c->fd >= 0 && r->phase == P_NONE && c->state <= C_BODY && !backlogged(c)) {
		if (c->state != C_BODY) {
			rc = parse_head(c);
			if (rc <= 0)
				return;
			conn_mark(c, C_BODY);
			r->ch_pos = r->head_len;
			if (r->expect && r->minor >= 1 &&
			    c->in_len < r->head_len + (r->chunked_in ? 1 : r->body_len))
				conn_send(c,
					  &(struct iovec){(void *)"HTTP/1.1 100 Continue\r\n\r\n",
							  25},
					  1);
		}
		if (r->chunked_in) {
			if (dechunk(c) <= 0)
				return;
		} else if (c->in_len < r->raw_len) {
			return;
		}
		dispatch(c);
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
			conn_mark(c, C_HEAD);
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
	conn_reap(c);
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

static void on_defer(evutil_socket_t fd, short what, void *arg)
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

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	static const char *const names[] = {"no request head",	       "no new request",
					    "no request head",	       "no complete body",
					    "an answer not read",      "an answer not read",
					    "no close from the client"};
	struct httpd *h = arg;
	struct conn *c, *next;
	int64_t t = now_mono_ms();

	if (h->accept_paused) {
		h->accept_paused = false;
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
		conn_reap(c);
	}
}

static void refuse_connection(struct conn *c)
{
	static const char body[] = "{\"error\":{\"message\":\"too many open connections; retry "
				   "later\",\"type\":\"service_unavailable\",\"param\":null,"
				   "\"code\":\"503\"}}";
	struct httpd_req *r = &c->req;

	c->refused = true;
	c->keep_alive = false;
	r->phase = P_HELD;
	r->minor = 1;
	r->obs = "refused";
	httpd_add_header(r, "Content-Type", "application/json");
	httpd_add_header(r, "Retry-After", "1");
	send_head(r, 503, false, body, sizeof(body) - 1);
	r->phase = P_DONE;
	req_end(c);
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
	conn_mark(c, C_NEW);
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
		refuse_connection(c);
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
	int64_t t = now_mono_ms();

	if (!h->warned_ms || t - h->warned_ms >= 60000) {
		log_warn("http: cannot accept connections: %s (port %d)", strerror(err), h->port);
		h->warned_ms = t;
	}
	event_del(h->accept_ev);
	h->accept_paused = true;
	if (!event_pending(h->tick, EV_TIMEOUT, NULL))
		event_add(h->tick, &second);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
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
	h->base = loop_base(l);
	h->lfd = -1;
	rc = bind_listen(host, port, &h->lfd);
	if (rc < 0) {
		snprintf(err, err_len, "cannot listen on %s: %s", o->listen, strerror(-rc));
		free(h);
		return -1;
	}
	h->max_body = o->max_body_bytes ? o->max_body_bytes : 1024 * 1024;
	h->max_header = o->max_header_bytes ? o->max_header_bytes : 16 * 1024;
	h->max_conns = or_default(o->max_connections, 256);
	h->write_ms = 1000 * (int64_t)or_default(o->timeout_s, 60);
	h->idle_ms = 1000 * (int64_t)or_default(o->idle_timeout_s, 60);
	h->header_ms = 1000 * (int64_t)or_default(o->header_timeout_s, 10);
	h->body_ms = 1000 * (int64_t)or_default(o->body_timeout_s, 60);
	h->accept_ev = event_new(h->base, h->lfd, EV_READ | EV_PERSIST, on_accept, h);
	h->tick = event_new(h->base, -1, EV_PERSIST, on_tick, h);
	h->defer = event_new(h->base, -1, 0, on_defer, h);
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

void httpd_destroy(struct httpd *h)
{
	size_t i;

	if (!h)
		return;
	while (h->conns) {
		struct conn *c = h->conns;

		if (c->fd >= 0)
			close(c->fd);
		conn_free(c);
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
	unsigned i;

	for (i = 0; i < req->n_hdrs; i++)
		if (strcasecmp(req->c->in + req->hdrs[i].name, name) == 0)
			return req->c->in + req->hdrs[i].value;
	return NULL;
}

const char *httpd_bearer(const struct httpd_req *req)
{
	const char *v = httpd_header(req, "Authorization");

	if (!v || strncasecmp(v, "Bearer ", 7) != 0)
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

void httpd_on_close(struct httpd_req *req, httpd_close_cb cb, void *arg)
{
	req->on_close = cb;
	req->close_arg = arg;
	if (!cb)
		req->c->close_pending = false;
	else if (req->c->fd < 0 && (req->phase == P_HELD || req->phase == P_STREAM)) {
		/* Already gone: still reported, from the loop. */
		req->c->close_pending = true;
		conn_defer(req->c);
	}
}

size_t httpd_output_len(const struct httpd_req *req)
{
	return req->c->out.len;
}
