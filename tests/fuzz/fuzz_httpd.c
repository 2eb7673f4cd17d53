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
 * Checked on every input: no crash, leak or out-of-bounds access (ASan/UBSan); every answer
 * starts with a well-formed status line "HTTP/1.1 NNN "; the server closes the connection once
 * the client has half-closed and all answers are out (no hang: a deadline aborts); no
 * connection is left open afterwards.
 * Build: meson setup build-fuzz -Dfuzz=true (see tests/run-all.sh); seeds in
 * tests/fuzz/corpus/httpd/.
 */
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

static struct loop *loop;
static struct httpd *server;

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
	bool closed;
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
	httpd_reply_start(hd->req, 200, "text/plain");
	httpd_reply_chunk(hd->req, "held ", 5);
	httpd_reply_chunk(hd->req, "answer\n", 7);
	httpd_reply_end(hd->req);
	event_free(hd->ev);
	free(hd);
}

static void on_hold(struct httpd_req *req, void *arg)
{
	struct held *hd = xcalloc(1, sizeof(*hd));
	struct timeval tv = {0, 1000};

	(void)arg;
	hd->req = req;
	hd->ev = evtimer_new(loop_base(loop), on_held_timer, hd);
	httpd_on_close(req, on_held_close, hd);
	evtimer_add(hd->ev, &tv);
}

static void setup(void)
{
	struct httpd_opts o = {.listen = "127.0.0.1:0",
			       .max_body_bytes = 4096,
			       .max_header_bytes = 1024,
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

/* Reads what the server sent so far; true at EOF (or a reset). */
static bool drain(int fd, struct buf *got)
{
	char tmp[4096];

	for (;;) {
		ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);

		if (n > 0) {
			(void)buf_append(got, tmp, (size_t)n); /* past its cap: dropped */
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

static void spin(void)
{
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
}

/* Each answer in the stream starts with a status line; the first one must be at the start. */
static void check_answers(const struct buf *got)
{
	const char *s = buf_str(got);

	if (!got->len)
		return;
	if (got->len < 13 || memcmp(s, "HTTP/1.1 ", 9) != 0 || s[9] < '1' || s[9] > '5' ||
	    s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' || s[12] != ' ') {
		fprintf(stderr, "fuzz_httpd: bad status line: %.40s\n", s);
		abort();
	}
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
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	buf_init(&got, 64 * 1024);
	while (off < size) {
		size_t n = size - off < step ? size - off : step;
		ssize_t w = send(fd, data + off, n, MSG_NOSIGNAL);

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
		eof = drain(fd, &got);
		if (!eof)
			usleep(100);
	}
	check_answers(&got);
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
	buf_finish(&got);
	return 0;
}
