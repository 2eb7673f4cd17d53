/* Fuzz target of the HTTP/1.1 server (src/net/httpd.c) over a real loopback connection: the
 * request parser, chunked decoding, pipelining, Expect, the caps and the held-request path.
 *
 * Input: the first byte picks how the rest is cut into writes (1..32 bytes a write, or all at
 * once), so heads, chunk sizes and bodies arrive split at every place. Between writes the loop
 * runs, then the client half-closes and the loop runs until the server has closed the
 * connection. Routes: /echo answers at once with what it parsed (method, path, query, a header,
 * the body's length), /hold answers later from a timer with a chunked reply (the request is
 * held while more input arrives), everything else is a 404.
 *
 * Checked on every input: no crash, leak or out-of-bounds access (ASan/UBSan); every answer,
 * walked by its framing (Content-Length, chunked, none after HEAD, to the close for HTTP/1.0
 * streams), starts with a well-formed status line "HTTP/1.1 NNN "; a held request whose client
 * left before the timer answered got its close callback; the connection never buffers more
 * than max_header + max_body + the 32 MiB output cap; the server closes the connection once
 * the client has half-closed and all answers are out (no hang: a deadline aborts); no
 * connection or held request is left afterwards.
 * Build: meson setup build-fuzz -Dfuzz=true (see tests/run-all.sh); seeds in
 * tests/fuzz/corpus/httpd/.
 */
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/util.h"
#include "net/httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BODY   4096
#define MAX_HEADER 1024
#define OUT_CAP	   (32u << 20)

static struct loop *loop;
static struct httpd *server;
static int n_held; /* held requests not answered yet */

static void on_echo(struct httpd_req *req, void *arg)
{
	size_t len = 0;
	const char *q = httpd_query(req), *h = httpd_header(req, "X-Test");
	char *body;

	(void)arg;
	httpd_body_ref(req, &len);
	body = xasprintf("%u %s %s %s %zu\n", httpd_method(req), httpd_path(req), q ? q : "-",
			 h ? h : "-", len);
	httpd_reply(req, 200, "text/plain", body, strlen(body));
	free(body);
}

struct held {
	struct httpd_req *req;
	struct event *ev;
	bool closed, waited;
};

static void on_held_close(struct httpd_req *req, void *arg)
{
	struct held *hd = arg;

	(void)req;
	hd->closed = true;
}

static void on_held_timer(evutil_socket_t fd, short what, void *arg)
{
	struct held *hd = arg;

	(void)fd;
	(void)what;
	/* One connection at a time: none open means this request's client left, and its close
	 * callback (deferred from the loop) must have run by the timer's second turn. */
	if (!httpd_connections(server) && !hd->closed) {
		struct timeval tv = {0, 1000};

		if (hd->waited) {
			fprintf(stderr, "fuzz_httpd: the client left, no close callback\n");
			abort();
		}
		hd->waited = true;
		evtimer_add(hd->ev, &tv);
		return;
	}
	httpd_reply_start(hd->req, 200, "text/plain");
	httpd_reply_chunk(hd->req, "held ", 5);
	httpd_reply_chunk(hd->req, "answer\n", 7);
	httpd_reply_end(hd->req);
	event_free(hd->ev);
	free(hd);
	n_held--;
}

static void on_hold(struct httpd_req *req, void *arg)
{
	struct held *hd = xcalloc(1, sizeof(*hd));
	struct timeval tv = {0, 1000};

	(void)arg;
	hd->req = req;
	n_held++;
	hd->ev = evtimer_new(loop_base(loop), on_held_timer, hd);
	httpd_on_close(req, on_held_close, hd);
	evtimer_add(hd->ev, &tv);
}

static void setup(void)
{
	struct httpd_opts o = {.listen = "127.0.0.1:0",
			       .max_body_bytes = MAX_BODY,
			       .max_header_bytes = MAX_HEADER,
			       .header_timeout_s = 5,
			       .body_timeout_s = 5,
			       .idle_timeout_s = 5};
	char err[256];

	loop = loop_create();
	if (!loop || httpd_create(loop, &o, &server, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_httpd: %s\n", err);
		abort();
	}
	httpd_route(server, HTTPD_GET | HTTPD_POST | HTTPD_HEAD | HTTPD_DELETE, "/echo", on_echo,
		    NULL);
	httpd_route(server, HTTPD_GET | HTTPD_POST, "/hold", on_hold, NULL);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool truncated; /* got reached its cap: the answers are checked up to there */

/* Reads what the server sent so far; true at EOF (or a reset). */
static bool drain(int fd, struct buf *got)
{
	char tmp[4096];

	for (;;) {
		ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);

		if (n > 0) {
			if (buf_append(got, tmp, (size_t)n) < 0)
				truncated = true;
			continue;
		}
		if (n == 0)
			return true;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return false;
		if (errno == EINTR)
			continue;
		return true; /* ECONNRESET: the server refused and closed */
	}
}

static void check_buffered(void)
{
	size_t most = httpd_buffered_max(server);

	if (most > MAX_HEADER + MAX_BODY + OUT_CAP) {
		fprintf(stderr, "fuzz_httpd: a connection buffers %zu bytes\n", most);
		abort();
	}
}

static void spin(void)
{
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	check_buffered();
}

static void bad(const char *what, const char *at, const char *end)
{
	fprintf(stderr, "fuzz_httpd: %s: %.*s\n", what, (int)(end - at < 60 ? end - at : 60), at);
	abort();
}

/* The value of the header name (as the server writes it) in the head [p, e), or NULL. */
static const char *head_field(const char *p, const char *e, const char *name)
{
	size_t n = strlen(name);

	for (; p < e; p++) {
		p = memchr(p, '\n', (size_t)(e - p));
		if (!p || (size_t)(e - p) < n + 1)
			return NULL;
		if (memcmp(p + 1, name, n) == 0)
			return p + 1 + n;
	}
	return NULL;
}

/* Past a chunked body starting at p, or NULL when it did not all arrive. */
static const char *skip_chunked(const char *p, const char *end)
{
	for (;;) {
		size_t size = 0;

		for (; p < end && hex_digit(*p) >= 0; p++)
			size = size * 16 + (size_t)hex_digit(*p);
		if (end - p < 2)
			return NULL;
		if (memcmp(p, "\r\n", 2) != 0)
			bad("bad chunk size line", p, end);
		p += 2;
		if (!size)
			break;
		if ((size_t)(end - p) < size + 2)
			return NULL;
		if (memcmp(p + size, "\r\n", 2) != 0)
			bad("chunk without its CR LF", p, end);
		p += size + 2;
	}
	if (end - p < 2)
		return NULL;
	if (memcmp(p, "\r\n", 2) != 0)
		bad("a trailer in an answer", p, end);
	return p + 2;
}

/* Every answer in the stream, one after the other by its framing, starts with a status line. A
 * Content-Length answer followed at once by the next status line (or the end) is HEAD's:
 * no body here starts with "HTTP/". An answer with neither length nor chunks (HTTP/1.0
 * stream) runs to the close. */
static void check_answers(const struct buf *got)
{
	const char *p = buf_str(got), *end = p + got->len;

	while (p < end) {
		const char *e, *cl, *next;
		int status;

		if (end - p < 13) {
			if (truncated)
				return;
			bad("a short answer", p, end);
		}
		if (memcmp(p, "HTTP/1.1 ", 9) != 0 || p[9] < '1' || p[9] > '5' || p[10] < '0' ||
		    p[10] > '9' || p[11] < '0' || p[11] > '9' || p[12] != ' ')
			bad("bad status line", p, end);
		status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
		e = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (!e) {
			if (truncated)
				return;
			bad("an answer's head never ended", p, end);
		}
		e += 4;
		if (status < 200 || status == 204 || status == 304) {
			p = e;
			continue;
		}
		if (head_field(p, e, "Transfer-Encoding: chunked\r\n")) {
			next = skip_chunked(e, end);
			if (!next) {
				if (truncated)
					return;
				bad("a chunked answer cut short", e, end);
			}
			p = next;
			continue;
		}
		cl = head_field(p, e, "Content-Length: ");
		if (!cl)
			return; /* to the close */
		if (e == end || ((size_t)(end - e) >= 9 && memcmp(e, "HTTP/1.1 ", 9) == 0)) {
			p = e; /* HEAD */
			continue;
		}
		{
			size_t n = strtoul(cl, NULL, 10);

			if ((size_t)(end - e) < n) {
				if (truncated)
					return;
				bad("an answer's body cut short", e, end);
			}
			p = e + n;
		}
	}
}

/* connect, through the EINTR of libFuzzer's SIGALRM (-timeout): the connection goes on. */
static int connect_to(int fd, const struct sockaddr_in *sa)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	socklen_t len = sizeof(int);
	int err = 0;

	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	if (errno != EINTR)
		return -1;
	while (poll(&p, 1, 5000) < 0 && errno == EINTR)
		;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		errno = err ? err : errno;
		return -1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	size_t step, off = 0;
	struct buf got;
	int fd, one = 1;
	bool eof = false;
	int64_t deadline;

	if (!size)
		return 0;
	if (!loop)
		setup();
	step = data[0] % 33;
	if (!step)
		step = size;
	data++;
	size--;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)httpd_port(server));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect_to(fd, &sa) < 0) {
		fprintf(stderr, "fuzz_httpd: cannot connect: %s\n", strerror(errno));
		abort();
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	buf_init(&got, 1024 * 1024);
	truncated = false;
	while (off < size) {
		size_t n = size - off < step ? size - off : step;
		ssize_t w = send(fd, data + off, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break; /* the server refused and closed: the rest is not read */
		off += (size_t)w;
		spin();
		eof = drain(fd, &got);
		if (eof)
			break;
	}
	shutdown(fd, SHUT_WR);
	deadline = now_ms() + 8000;
	while (!eof) {
		if (now_ms() > deadline) {
			fprintf(stderr, "fuzz_httpd: the server never closed the connection\n");
			abort();
		}
		event_base_loop(loop_base(loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
		check_buffered();
		eof = drain(fd, &got);
		if (!eof)
			usleep(100);
	}
	check_answers(&got);
	/* A reset, not a FIN: the client closes last, and ~2,000 runs a second would leave every
	 * ephemeral port in TIME_WAIT within a minute. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0}, sizeof(struct linger));
	close(fd);
	deadline = now_ms() + 8000;
	while (httpd_connections(server)) {
		if (now_ms() > deadline) {
			fprintf(stderr, "fuzz_httpd: a connection stayed open\n");
			abort();
		}
		event_base_loop(loop_base(loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(100);
	}
	/* Held requests are answered within their input: on_held_timer tells a gone client by
	 * the connection count, which the next input's connection would confuse. */
	while (n_held) {
		if (now_ms() > deadline) {
			fprintf(stderr, "fuzz_httpd: a held request was never answered\n");
			abort();
		}
		event_base_loop(loop_base(loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(100);
	}
	buf_finish(&got);
	return 0;
}
