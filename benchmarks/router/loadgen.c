/*
 * loadgen.c: HTTP/1.1 load generator for the router benchmark.
 *
 * Open loop (--rate): sends POST requests at a fixed arrival rate (request i is due at
 * t0 + i/rate, whatever happened to earlier requests) over keep-alive connections, so queueing
 * in the server shows up in the numbers instead of slowing the generator down (no coordinated
 * omission). The latency of a request is measured from its *due* time to the last byte of the
 * response; the service time from the moment its first byte was written.
 *
 * Closed loop (--concurrency C --count N): C requests in flight, each next one sent as soon as
 * an answer is complete (C = 1: one request at a time on one keep-alive connection, the
 * concurrency-1 method of gateway benchmarks). A request is due when it is sent. The first
 * --warmup-count requests are not counted; --duration bounds the whole run (the requests not
 * sent by then are left out and "truncated" is true).
 *
 * Raw sockets + epoll + timerfd, single-threaded, IPv4 loopback only, plain HTTP.
 * Understands Content-Length, chunked and read-until-close responses.
 *
 * Usage:
 *   loadgen --url http://127.0.0.1:PORT/v1/chat/completions --rate 1000 --duration 5
 *           [--warmup 1] [-H 'Name: value']... [--body JSON | --body-file F]
 *           [--capture-header NAME] [--max-conns 4096] [--timeout 10] [--raw FILE]
 *   loadgen --url ... --concurrency 1 --count 1000 [--warmup-count 50] [--duration 30] ...
 * Prints one JSON object on stdout. Bounded: it stops at warmup + duration + timeout + 2 s
 * (closed loop: duration + timeout + 2 s).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_RESPONSE (1 << 20)

enum { E_NONE, E_CONNECT, E_RESET, E_TIMEOUT, E_PARSE, E_TOOBIG, E_NCOUNT };
static const char *err_names[E_NCOUNT] = {"none",    "connect", "reset",
					  "timeout", "parse",	"too_big"};

struct rec {
	int64_t sched, sent, first, done;
	int status;
	int err;
	double hdr; /* captured header value, NAN if absent */
	int done_marker;
};

enum { C_FREE, C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
	int fd;
	int state;
	int reused;
	int want_out;
	int req;
	size_t woff;
	char *rbuf;
	size_t rlen, rcap;
	int hdr_done;
	size_t body_start;
	long long clen; /* -1 unknown */
	int chunked;
	int until_close;
	int close_after;
	size_t cpos; /* chunked: parse position */
	int status;
	double hdr;
	int idle_idx;
	uint32_t gen; /* bumped on close: stale epoll events are ignored */
};

static struct sockaddr_in addr;
static char *reqbuf;
static size_t reqlen;
static const char *capture;
static size_t capture_len;

static struct rec *recs;
static long n_total, n_warm, next_send;
static int64_t t0, interval_ns;
static long concurrency; /* > 0: closed loop */

static struct conn *conns;
static int max_conns, n_open, conns_opened;
static struct conn **idle;
static int n_idle;
static long *pending; /* FIFO of request indexes waiting for a connection */
static long pend_head, pend_tail;
static int epfd;
static int64_t timeout_ns;
static long n_done;
static long retries;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *msg)
{
	fprintf(stderr, "loadgen: %s\n", msg);
	exit(2);
}

static void ep_mod(struct conn *c, int op)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (c->want_out ? EPOLLOUT : 0),
				 .data.u64 = ((uint64_t)c->gen << 32) | (uint64_t)(c - conns)};
	if (epoll_ctl(epfd, op, c->fd, &ev) != 0)
		die("epoll_ctl failed");
}

static void idle_remove(struct conn *c)
{
	if (c->state != C_IDLE)
		return;
	int i = c->idle_idx;
	idle[i] = idle[--n_idle];
	idle[i]->idle_idx = i;
}

static void conn_close(struct conn *c)
{
	idle_remove(c);
	close(c->fd);
	c->fd = -1;
	c->state = C_FREE;
	c->req = -1;
	c->gen++;
	n_open--;
}

static void parse_reset(struct conn *c)
{
	c->rlen = 0;
	c->hdr_done = 0;
	c->body_start = 0;
	c->clen = -1;
	c->chunked = 0;
	c->until_close = 0;
	c->close_after = 0;
	c->cpos = 0;
	c->status = 0;
	c->hdr = NAN;
	c->woff = 0;
}

static void finish(long r, int err, int status, double hdr, int marker)
{
	struct rec *x = &recs[r];
	x->done = now_ns();
	x->err = err;
	x->status = status;
	x->hdr = hdr;
	x->done_marker = marker;
	n_done++;
}

static void pend_push_front(long r)
{
	/* a retry keeps its place: it goes in front of the queue */
	if (pend_head == 0)
		die("pending queue underflow");
	pending[--pend_head] = r;
}

static void dispatch(long r);

static void conn_write(struct conn *c)
{
	while (c->woff < reqlen) {
		ssize_t n = send(c->fd, reqbuf + c->woff, reqlen - c->woff, MSG_NOSIGNAL);
		if (n > 0) {
			if (c->woff == 0)
				recs[c->req].sent = now_ns();
			c->woff += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->want_out) {
				c->want_out = 1;
				ep_mod(c, EPOLL_CTL_MOD);
			}
			return;
		}
		/* write error: a reused connection the server closed; retry once on a new one */
		long r = c->req;
		int reused = c->reused;
		conn_close(c);
		if (reused && recs[r].first == 0) {
			retries++;
			pend_push_front(r);
		} else {
			finish(r, E_RESET, 0, NAN, 0);
		}
		return;
	}
	if (c->want_out) {
		c->want_out = 0;
		ep_mod(c, EPOLL_CTL_MOD);
	}
}

static struct conn *conn_new(void)
{
	struct conn *c = NULL;
	for (int i = 0; i < max_conns; i++)
		if (conns[i].state == C_FREE) {
			c = &conns[i];
			break;
		}
	if (!c)
		return NULL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->reused = 0;
	c->req = -1;
	parse_reset(c);
	n_open++;
	conns_opened++;
	int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	if (rc == 0) {
		c->state = C_BUSY;
		c->want_out = 0;
	} else if (errno == EINPROGRESS) {
		c->state = C_CONNECTING;
		c->want_out = 1;
	} else {
		close(fd);
		c->fd = -1;
		c->state = C_FREE;
		n_open--;
		return NULL;
	}
	ep_mod(c, EPOLL_CTL_ADD);
	return c;
}

static void dispatch(long r)
{
	struct conn *c;
	if (n_idle > 0) {
		c = idle[--n_idle];
		c->state = C_BUSY;
	} else if (n_open < max_conns && (c = conn_new()) != NULL) {
		/* connecting or connected */
	} else {
		pending[pend_tail++] = r;
		return;
	}
	c->req = r;
	parse_reset(c);
	if (c->state == C_BUSY)
		conn_write(c);
}

static void make_idle(struct conn *c)
{
	c->state = C_IDLE;
	c->req = -1;
	c->reused = 1;
	parse_reset(c);
	if (pend_head < pend_tail) {
		long r = pending[pend_head++];
		c->state = C_BUSY;
		c->req = r;
		conn_write(c);
		return;
	}
	c->idle_idx = n_idle;
	idle[n_idle++] = c;
}

/* header value of `name` in [p, end), or NULL */
static const char *hdr_find(const char *p, const char *end, const char *name, size_t nlen,
			    size_t *vlen)
{
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
			const char *v = p + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			return v;
		}
		p = eol + 2;
	}
	return NULL;
}

/* 1 = complete, 0 = need more, -1 = parse error */
static int parse(struct conn *c)
{
	if (!c->hdr_done) {
		char *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
		if (!e)
			return c->rlen > 65536 ? -1 : 0;
		c->hdr_done = 1;
		c->body_start = (size_t)(e - c->rbuf) + 4;
		if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.", 7) != 0)
			return -1;
		c->status = atoi(c->rbuf + 9);
		int http10 = c->rbuf[7] == '0';
		const char *h = memchr(c->rbuf, '\n', (size_t)(e - c->rbuf));
		if (!h)
			return -1;
		h++;
		const char *he = e + 2;
		size_t vl;
		const char *v;
		if ((v = hdr_find(h, he, "transfer-encoding", 17, &vl)) && vl >= 7 &&
		    strncasecmp(v, "chunked", 7) == 0)
			c->chunked = 1;
		else if ((v = hdr_find(h, he, "content-length", 14, &vl)))
			c->clen = strtoll(v, NULL, 10);
		else
			c->until_close = 1;
		if ((v = hdr_find(h, he, "connection", 10, &vl)))
			c->close_after = vl >= 5 && strncasecmp(v, "close", 5) == 0;
		else
			c->close_after = http10;
		if (c->until_close)
			c->close_after = 1;
		if (capture && (v = hdr_find(h, he, capture, capture_len, &vl)))
			c->hdr = strtod(v, NULL);
		if (c->status == 204 || c->status == 304) {
			c->clen = 0;
			c->chunked = 0;
			c->until_close = 0;
		}
		c->cpos = c->body_start;
	}
	if (c->chunked) {
		for (;;) {
			char *eol = memmem(c->rbuf + c->cpos, c->rlen - c->cpos, "\r\n", 2);
			if (!eol)
				return 0;
			unsigned long sz = strtoul(c->rbuf + c->cpos, NULL, 16);
			if (sz == 0) {
				/* last chunk; trailers end with an empty line */
				char *end =
					memmem(c->rbuf + c->cpos, c->rlen - c->cpos, "\r\n\r\n", 4);
				return end ? 1 : 0;
			}
			size_t need = (size_t)(eol - c->rbuf) + 2 + sz + 2;
			if (c->rlen < need)
				return 0;
			c->cpos = need;
		}
	}
	if (c->clen >= 0)
		return c->rlen - c->body_start >= (size_t)c->clen ? 1 : 0;
	return 0; /* until close */
}

static void complete(struct conn *c, int err)
{
	long r = c->req;
	int marker = c->hdr_done &&
		     memmem(c->rbuf + c->body_start, c->rlen - c->body_start, "[DONE]", 6);
	finish(r, err, err ? 0 : c->status, c->hdr, marker);
	if (err || c->close_after)
		conn_close(c);
	else
		make_idle(c);
}

static void conn_event(struct conn *c, uint32_t ev)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t sl = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
		if (err) {
			long r = c->req;
			conn_close(c);
			finish(r, E_CONNECT, 0, NAN, 0);
			return;
		}
		if (!(ev & EPOLLOUT))
			return;
		c->state = C_BUSY;
		conn_write(c);
		return;
	}
	if ((ev & EPOLLOUT) && c->state == C_BUSY && c->woff < reqlen) {
		conn_write(c);
		if (c->state != C_BUSY)
			return;
	}
	if (!(ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		if (c->rcap - c->rlen < 16384) {
			size_t cap = c->rcap ? c->rcap * 2 : 32768;
			char *nb = realloc(c->rbuf, cap);
			if (!nb)
				die("out of memory");
			c->rbuf = nb;
			c->rcap = cap;
		}
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
		if (n > 0) {
			if (c->state != C_BUSY) {
				/* data on an idle connection: the server broke the protocol */
				conn_close(c);
				return;
			}
			if (c->rlen == 0 && recs[c->req].first == 0)
				recs[c->req].first = now_ns();
			c->rlen += (size_t)n;
			if (c->rlen > MAX_RESPONSE) {
				complete(c, E_TOOBIG);
				return;
			}
			int p = parse(c);
			if (p < 0) {
				complete(c, E_PARSE);
				return;
			}
			if (p > 0) {
				complete(c, E_NONE);
				return;
			}
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		/* EOF or error */
		if (c->state == C_IDLE) {
			conn_close(c);
			return;
		}
		if (c->hdr_done && c->until_close && n == 0) {
			complete(c, E_NONE);
			return;
		}
		long r = c->req;
		if (c->reused && c->rlen == 0 && recs[r].first == 0) {
			/* keep-alive race: the server closed a connection we just reused */
			conn_close(c);
			retries++;
			pend_push_front(r);
			return;
		}
		complete(c, E_RESET);
		return;
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct_i64(const int64_t *v, long n, double p)
{
	if (n == 0)
		return NAN;
	long i = (long)ceil(p * (double)n) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return (double)v[i] / 1000.0; /* ns -> us */
}

static void print_num(const char *k, double v, int comma)
{
	if (isnan(v))
		printf("\"%s\":null%s", k, comma ? "," : "");
	else
		printf("\"%s\":%.1f%s", k, v, comma ? "," : "");
}

static void print_dist(const char *name, int64_t *v, long n, int comma)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	double sum = 0;
	for (long i = 0; i < n; i++)
		sum += (double)v[i];
	printf("\"%s\":{\"n\":%ld,", name, n);
	print_num("min", n ? (double)v[0] / 1000.0 : NAN, 1);
	print_num("mean", n ? sum / (double)n / 1000.0 : NAN, 1);
	print_num("p50", pct_i64(v, n, 0.50), 1);
	print_num("p90", pct_i64(v, n, 0.90), 1);
	print_num("p99", pct_i64(v, n, 0.99), 1);
	print_num("p999", pct_i64(v, n, 0.999), 1);
	print_num("max", n ? (double)v[n - 1] / 1000.0 : NAN, 0);
	printf("}%s", comma ? "," : "");
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen --url http://127.0.0.1:PORT/PATH --rate R --duration S "
			"[--warmup S]\n"
			"       [-H 'Name: value']... [--body JSON | --body-file F] "
			"[--capture-header NAME]\n"
			"       [--max-conns N] [--timeout S] [--raw FILE]\n"
			"       loadgen --url ... --concurrency C --count N [--warmup-count W] "
			"[--duration S] ...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *url = NULL, *body = NULL, *raw = NULL;
	double rate = 1000, duration = 5, warmup = 1, timeout = 10;
	long count = 0, warmup_count = 0;
	char *hdrs = calloc(1, 1);
	size_t hdrs_len = 0;
	max_conns = 4096;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--url"))
			url = v;
		else if (!strcmp(a, "--rate"))
			rate = atof(v);
		else if (!strcmp(a, "--duration"))
			duration = atof(v);
		else if (!strcmp(a, "--warmup"))
			warmup = atof(v);
		else if (!strcmp(a, "--timeout"))
			timeout = atof(v);
		else if (!strcmp(a, "--concurrency"))
			concurrency = atol(v);
		else if (!strcmp(a, "--count"))
			count = atol(v);
		else if (!strcmp(a, "--warmup-count"))
			warmup_count = atol(v);
		else if (!strcmp(a, "--max-conns"))
			max_conns = atoi(v);
		else if (!strcmp(a, "--capture-header")) {
			capture = v;
			capture_len = strlen(v);
		} else if (!strcmp(a, "--raw"))
			raw = v;
		else if (!strcmp(a, "--body"))
			body = v;
		else if (!strcmp(a, "--body-file")) {
			FILE *f = fopen(v, "rb");
			if (!f)
				die("cannot open --body-file");
			static char bb[1 << 20];
			size_t n = fread(bb, 1, sizeof(bb) - 1, f);
			fclose(f);
			bb[n] = 0;
			body = bb;
		} else if (!strcmp(a, "-H")) {
			size_t l = strlen(v);
			hdrs = realloc(hdrs, hdrs_len + l + 3);
			memcpy(hdrs + hdrs_len, v, l);
			memcpy(hdrs + hdrs_len + l, "\r\n", 3);
			hdrs_len += l + 2;
		} else
			usage();
	}
	if (!url || rate <= 0 || duration <= 0 || warmup < 0 || max_conns < 1 || timeout <= 0 ||
	    concurrency < 0 || (concurrency > 0 && (count < 1 || warmup_count < 0)))
		usage();
	if (concurrency > max_conns)
		max_conns = (int)concurrency;
	if (!body)
		body = "{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":"
		       "\"Hello\"}],"
		       "\"max_tokens\":16}";

	/* http://127.0.0.1:PORT/path */
	char host[64];
	int port = 0;
	const char *path = NULL;
	if (strncmp(url, "http://", 7) != 0)
		die("--url must be http://IPV4:PORT/PATH");
	const char *hp = url + 7, *colon = strchr(hp, ':'), *slash = strchr(hp, '/');
	if (!colon || !slash || colon > slash || (size_t)(colon - hp) >= sizeof(host))
		die("--url must be http://IPV4:PORT/PATH");
	memcpy(host, hp, (size_t)(colon - hp));
	host[colon - hp] = 0;
	port = atoi(colon + 1);
	path = slash;
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
		die("--url host must be an IPv4 address");
	if ((ntohl(addr.sin_addr.s_addr) >> 24) != 127)
		die("--url must be a loopback address");

	size_t blen = strlen(body);
	reqbuf = malloc(blen + hdrs_len + strlen(path) + 512);
	reqlen = (size_t)sprintf(
		reqbuf,
		"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
		"Accept: */*\r\nContent-Length: %zu\r\n%s\r\n%s",
		path, host, port, blen, hdrs, body);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if ((rlim_t)max_conns + 16 > rl.rlim_cur)
			max_conns = (int)rl.rlim_cur - 16;
	}
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* timers fire within ~1 us, not 50 us */
	signal(SIGPIPE, SIG_IGN);

	if (concurrency > 0) {
		n_warm = warmup_count;
		n_total = warmup_count + count;
	} else {
		n_warm = (long)llround(rate * warmup);
		n_total = n_warm + (long)llround(rate * duration);
	}
	if (n_total > 20000000)
		die("too many requests (rate * (warmup + duration), or count + warmup-count)");
	interval_ns = (int64_t)(1e9 / rate);
	timeout_ns = (int64_t)(timeout * 1e9);
	recs = calloc((size_t)n_total, sizeof(*recs));
	pending = calloc(2 * (size_t)n_total + 2, sizeof(*pending));
	conns = calloc((size_t)max_conns, sizeof(*conns));
	idle = calloc((size_t)max_conns, sizeof(*idle));
	if (!recs || !pending || !conns || !idle)
		die("out of memory");
	pend_head = pend_tail = n_total + 1; /* room for retries pushed in front */
	for (int i = 0; i < max_conns; i++)
		conns[i].fd = -1;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (epfd < 0 || tfd < 0)
		die("epoll/timerfd failed");
	struct epoll_event tev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);

	t0 = now_ns() + 1000000; /* 1 ms from now */
	int64_t t_end_sched;
	int truncated = 0;
	if (concurrency > 0) {
		t_end_sched = t0 + (int64_t)(duration * 1e9); /* nothing is sent after this */
	} else {
		for (long i = 0; i < n_total; i++)
			recs[i].sched = t0 + i * interval_ns;
		t_end_sched = t0 + n_total * interval_ns;
	}
	int64_t hard_end = t_end_sched + timeout_ns + 2000000000LL;
	int64_t last_scan = 0;
	struct epoll_event evs[256];

	while (n_done < n_total) {
		int64_t now = now_ns();
		if (now > hard_end)
			break;
		if (concurrency > 0) {
			/* closed loop: the next request as soon as one is answered */
			while (next_send < n_total && next_send - n_done < concurrency &&
			       now < t_end_sched) {
				recs[next_send].sched = now_ns();
				dispatch(next_send++);
			}
			if (next_send < n_total && now >= t_end_sched) {
				n_total = next_send; /* out of time: the rest is never sent */
				truncated = 1;
				if (n_warm > n_total)
					n_warm = n_total;
			}
		} else {
			while (next_send < n_total && recs[next_send].sched <= now)
				dispatch(next_send++);
		}
		if (now - last_scan > 50000000LL) {
			last_scan = now;
			for (int i = 0; i < max_conns; i++) {
				struct conn *c = &conns[i];
				if ((c->state == C_BUSY || c->state == C_CONNECTING) &&
				    c->req >= 0 && now - recs[c->req].sched > timeout_ns) {
					long r = c->req;
					conn_close(c);
					finish(r, E_TIMEOUT, 0, NAN, 0);
				}
			}
			/* requests still queued for a connection past their timeout */
			while (pend_head < pend_tail &&
			       now - recs[pending[pend_head]].sched > timeout_ns)
				finish(pending[pend_head++], E_TIMEOUT, 0, NAN, 0);
		}
		if (concurrency == 0 && next_send < n_total) {
			struct itimerspec its = {0};
			int64_t t = recs[next_send].sched;
			its.it_value.tv_sec = t / 1000000000LL;
			its.it_value.tv_nsec = t % 1000000000LL;
			timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
		}
		int n = epoll_wait(epfd, evs, 256, 50);
		if (n < 0 && errno != EINTR)
			die("epoll_wait failed");
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == UINT64_MAX) {
				uint64_t x;
				ssize_t rr = read(tfd, &x, sizeof(x));
				(void)rr;
				continue;
			}
			struct conn *c = &conns[evs[i].data.u64 & 0xffffffffu];
			if (c->state != C_FREE && c->gen == (uint32_t)(evs[i].data.u64 >> 32))
				conn_event(c, evs[i].events);
		}
	}
	int64_t t_stop = now_ns();

	/* anything unfinished at the hard end counts as a timeout */
	for (long i = 0; i < n_total; i++)
		if (recs[i].done == 0) {
			recs[i].done = t_stop;
			recs[i].err = E_TIMEOUT;
		}

	long m = n_total - n_warm;
	int64_t *lat = malloc(sizeof(int64_t) * (size_t)(m + 1));
	int64_t *svc = malloc(sizeof(int64_t) * (size_t)(m + 1));
	int64_t *ttfb = malloc(sizeof(int64_t) * (size_t)(m + 1));
	int64_t *late = malloc(sizeof(int64_t) * (size_t)(m + 1));
	double *hv = malloc(sizeof(double) * (size_t)(m + 1));
	long n_ok = 0, n_late = 0, n_hv = 0, errs[E_NCOUNT] = {0}, st2 = 0, st4 = 0, st5 = 0,
	     sto = 0;
	long markers = 0;
	int64_t first_done = INT64_MAX, last_done = 0, first_sent = INT64_MAX, last_sent = 0;
	long n_sent = 0;
	for (long i = n_warm; i < n_total; i++) {
		struct rec *x = &recs[i];
		if (x->sent) {
			n_sent++;
			if (x->sent < first_sent)
				first_sent = x->sent;
			if (x->sent > last_sent)
				last_sent = x->sent;
		}
		if (x->err) {
			errs[x->err]++;
			continue;
		}
		if (x->status >= 200 && x->status < 300)
			st2++;
		else if (x->status >= 400 && x->status < 500)
			st4++;
		else if (x->status >= 500)
			st5++;
		else
			sto++;
		if (x->sent)
			late[n_late++] = x->sent - x->sched;
		if (x->status < 200 || x->status >= 300)
			continue;
		markers += x->done_marker;
		lat[n_ok] = x->done - x->sched;
		svc[n_ok] = x->done - (x->sent ? x->sent : x->sched);
		ttfb[n_ok] = (x->first ? x->first : x->done) - x->sched;
		n_ok++;
		if (x->done < first_done)
			first_done = x->done;
		if (x->done > last_done)
			last_done = x->done;
		if (!isnan(x->hdr))
			hv[n_hv++] = x->hdr * 1000.0; /* ms -> us */
	}
	long n_err = m - st2;

	if (raw) {
		FILE *f = fopen(raw, "w");
		if (f) {
			fprintf(f, "sched_us,sent_us,first_us,done_us,status,err,header\n");
			for (long i = n_warm; i < n_total; i++) {
				struct rec *x = &recs[i];
				fprintf(f, "%.1f,%.1f,%.1f,%.1f,%d,%s,",
					(double)(x->sched - t0) / 1e3,
					x->sent ? (double)(x->sent - t0) / 1e3 : -1.0,
					x->first ? (double)(x->first - t0) / 1e3 : -1.0,
					(double)(x->done - t0) / 1e3, x->status, err_names[x->err]);
				if (isnan(x->hdr))
					fprintf(f, "\n");
				else
					fprintf(f, "%.4f\n", x->hdr);
			}
			fclose(f);
		}
	}

	if (concurrency > 0)
		printf("{\"url\":\"%s\",\"mode\":\"closed\",\"concurrency\":%ld,\"count\":%ld,"
		       "\"warmup_count\":%ld,\"max_duration_s\":%.3f,\"truncated\":%s,"
		       "\"elapsed_s\":%.3f,",
		       url, concurrency, count, warmup_count, duration,
		       truncated ? "true" : "false", (double)(t_stop - t0) / 1e9);
	else
		printf("{\"url\":\"%s\",\"mode\":\"open\",\"rate\":%.1f,\"duration_s\":%.3f,"
		       "\"warmup_s\":%.3f,",
		       url, rate, duration, warmup);
	printf("\"requests\":%ld,\"ok\":%ld,\"errors\":%ld,\"retries\":%ld,", m, st2, n_err,
	       retries);
	printf("\"status\":{\"2xx\":%ld,\"4xx\":%ld,\"5xx\":%ld,\"other\":%ld},", st2, st4, st5,
	       sto);
	printf("\"transport_errors\":{");
	for (int e = 1; e < E_NCOUNT; e++)
		printf("\"%s\":%ld%s", err_names[e], errs[e], e + 1 < E_NCOUNT ? "," : "");
	printf("},");
	printf("\"achieved_rate\":%.1f,",
	       n_sent > 1 && last_sent > first_sent
		       ? (double)(n_sent - 1) / ((double)(last_sent - first_sent) / 1e9)
		       : 0.0);
	printf("\"completion_rate\":%.1f,",
	       n_ok > 1 && last_done > first_done
		       ? (double)(n_ok - 1) / ((double)(last_done - first_done) / 1e9)
		       : 0.0);
	printf("\"done_markers\":%ld,\"connections_opened\":%d,", markers, conns_opened);
	print_dist("latency_us", lat, n_ok, 1);
	print_dist("service_us", svc, n_ok, 1);
	print_dist("ttfb_us", ttfb, n_ok, 1);
	print_dist("send_lateness_us", late, n_late, 1);
	qsort(hv, (size_t)n_hv, sizeof(*hv), cmp_dbl);
	printf("\"header\":{\"name\":\"%s\",\"n\":%ld,", capture ? capture : "", n_hv);
	if (n_hv) {
		double s = 0;
		for (long i = 0; i < n_hv; i++)
			s += hv[i];
		long i50 = (long)ceil(0.5 * (double)n_hv) - 1,
		     i90 = (long)ceil(0.9 * (double)n_hv) - 1,
		     i99 = (long)ceil(0.99 * (double)n_hv) - 1;
		print_num("mean_us", s / (double)n_hv, 1);
		print_num("p50_us", hv[i50 < 0 ? 0 : i50], 1);
		print_num("p90_us", hv[i90 < 0 ? 0 : i90], 1);
		print_num("p99_us", hv[i99 < 0 ? 0 : i99], 1);
		print_num("max_us", hv[n_hv - 1], 0);
	} else {
		printf("\"p50_us\":null");
	}
	printf("}}\n");
	return 0;
}
