/*
 * loadgen.c: HTTP/1.1 load generator for the router benchmark.
 *
 * Open loop (--rate): sends POST requests at a fixed arrival rate (request i is due at
 * t0 + i/rate, whatever happened to earlier requests) over keep-alive connections, so queueing
 * in the server shows up in the numbers instead of slowing the generator down (no coordinated
 * omission). The latency of a request is measured from its *due* time to the last byte of the
 * response; the service time from the moment its first byte was written.
 *
 * Interleaved (--rate with --target NAME=URL, repeated): several targets in that one open loop,
 * on one clock. Request i goes to the target whose slice its due time falls in, target
 * floor((due - t0) / S) mod N (S = --slice-ms): the targets take turns, each at the full rate
 * during its own slices. --duration and --warmup are per target, in its own slices: the first
 * warmup s of a target's slices are its warm-up (not counted), the next duration s are counted,
 * and the run lasts N * (warmup + duration) s (up to N slices more when warmup + duration is
 * not a whole number of slices: every target gets the same time all the same). Each target has its
 * own keep-alive pool (--max-conns each) and its own request: -H, --body, --body-file,
 * --capture-header and --raw after a --target are that target's, before the first --target
 * they are every target's defaults (-H adds to them). Why: targets measured in windows one
 * after the other are compared across windows, and on a shared machine a slow second of the
 * host that lands in one window and not in another decides the comparison; with slices a
 * stretch of noise longer than a few slices lands on every target alike. Rejected: every target
 * at once (N times the load, and the targets compete for the CPUs), one request each in turn
 * (the same, at 1/N of the rate each), one load generator per target (as many clocks, and they
 * compete with each other).
 *
 * Closed loop (--concurrency C --count N, one --url): C requests in flight, each next one sent
 * as soon as an answer is complete (C = 1: one request at a time on one keep-alive connection,
 * the concurrency-1 method of gateway benchmarks). A request is due when it is sent. The first
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
 *   loadgen --rate 1000 --duration 5 [--warmup 1] [--slice-ms 200] [defaults as above]
 *           --target NAME=URL [-H ...] [--body ...] [--capture-header ...] [--raw FILE]
 *           --target NAME=URL ...
 *   loadgen --url ... --concurrency 1 --count 1000 [--warmup-count 50] [--duration 30] ...
 * Prints one JSON object on stdout; interleaved: {"mode":"interleaved", "slice_ms", ...,
 * "targets": {NAME: the object one target alone gets, over that target's requests}}. Bounded:
 * it stops at the last request's due time + timeout + 2 s (closed loop: duration + timeout
 * + 2 s).
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
#define MAX_BODY     (1 << 20)
#define MAX_TARGETS  16

enum { E_NONE, E_CONNECT, E_RESET, E_TIMEOUT, E_PARSE, E_TOOBIG, E_NCOUNT };
static const char *err_names[E_NCOUNT] = {"none",    "connect", "reset",
					  "timeout", "parse",	"too_big"};

struct rec {
	int64_t sched, sent, first, done;
	int status;
	int err;
	double hdr; /* captured header value, NAN if absent */
	int done_marker;
	int tg;	  /* index into targets */
	int warm; /* a warm-up request: not counted */
};

enum { C_FREE, C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
	int fd;
	int state;
	int tg; /* the target whose pool it is in */
	int reused;
	int want_out;
	long req;
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

/* What the command line says of one target (the defaults before the first --target). */
struct topts {
	const char *name, *url, *body, *capture, *raw;
	char *hdrs; /* "Name: value\r\n"... */
	size_t hdrs_len;
};

/* One target: its request, its keep-alive pool and its queue. */
struct target {
	const char *name; /* "" for the one target of --url */
	const char *url, *capture, *raw;
	size_t capture_len;
	struct sockaddr_in addr;
	char *reqbuf;
	size_t reqlen;
	struct conn *conns; /* max_conns of them: its slice of the global array */
	struct conn **idle;
	int n_idle, n_open, conns_opened;
	long *pending; /* FIFO of request indexes waiting for a connection */
	long pend_head, pend_tail;
	long retries;
};

static struct target targets[MAX_TARGETS];
static int n_targets;
static int64_t slice_ns; /* interleaved: the length of a target's turn */

static struct rec *recs;
static long n_total, next_send;
static int64_t t0, interval_ns;
static long concurrency; /* > 0: closed loop */

static struct conn *conns; /* n_targets * max_conns */
static int max_conns;	   /* per target */
static int epfd;
static int64_t timeout_ns;
static long n_done;

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

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		die("out of memory");
	return p;
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
	struct target *t = &targets[c->tg];
	int i = c->idle_idx;
	t->idle[i] = t->idle[--t->n_idle];
	t->idle[i]->idle_idx = i;
}

static void conn_close(struct conn *c)
{
	idle_remove(c);
	close(c->fd);
	c->fd = -1;
	c->state = C_FREE;
	c->req = -1;
	c->gen++;
	targets[c->tg].n_open--;
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

static void pend_push_front(struct target *t, long r)
{
	/* a retry keeps its place: it goes in front of the queue */
	if (t->pend_head == 0)
		die("pending queue underflow");
	t->pending[--t->pend_head] = r;
}

static void conn_write(struct conn *c)
{
	struct target *t = &targets[c->tg];
	while (c->woff < t->reqlen) {
		ssize_t n = send(c->fd, t->reqbuf + c->woff, t->reqlen - c->woff, MSG_NOSIGNAL);
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
			t->retries++;
			pend_push_front(t, r);
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

static struct conn *conn_new(struct target *t)
{
	struct conn *c = NULL;
	for (int i = 0; i < max_conns; i++)
		if (t->conns[i].state == C_FREE) {
			c = &t->conns[i];
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
	t->n_open++;
	t->conns_opened++;
	int rc = connect(fd, (struct sockaddr *)&t->addr, sizeof(t->addr));
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
		t->n_open--;
		return NULL;
	}
	ep_mod(c, EPOLL_CTL_ADD);
	return c;
}

static void dispatch(long r)
{
	struct target *t = &targets[recs[r].tg];
	struct conn *c;
	if (t->n_idle > 0) {
		c = t->idle[--t->n_idle];
		c->state = C_BUSY;
	} else if (t->n_open < max_conns && (c = conn_new(t)) != NULL) {
		/* connecting or connected */
	} else {
		t->pending[t->pend_tail++] = r;
		return;
	}
	c->req = r;
	parse_reset(c);
	if (c->state == C_BUSY)
		conn_write(c);
}

static void make_idle(struct conn *c)
{
	struct target *t = &targets[c->tg];
	c->state = C_IDLE;
	c->req = -1;
	c->reused = 1;
	parse_reset(c);
	if (t->pend_head < t->pend_tail) {
		long r = t->pending[t->pend_head++];
		c->state = C_BUSY;
		c->req = r;
		conn_write(c);
		return;
	}
	c->idle_idx = t->n_idle;
	t->idle[t->n_idle++] = c;
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

/* the status line and the headers, once they are all in; 1 = done, 0 = need more, -1 = bad */
static int parse_head(struct conn *c)
{
	char *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	if (!e)
		return c->rlen > 65536 ? -1 : 0;
	c->hdr_done = 1;
	c->body_start = (size_t)(e - c->rbuf) + 4;
	if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.", 7) != 0)
		return -1;
	c->status = (int)strtol(c->rbuf + 9, NULL, 10);
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
	struct target *t = &targets[c->tg];
	if (t->capture && (v = hdr_find(h, he, t->capture, t->capture_len, &vl)))
		c->hdr = strtod(v, NULL);
	if (c->status == 204 || c->status == 304) {
		c->clen = 0;
		c->chunked = 0;
		c->until_close = 0;
	}
	c->cpos = c->body_start;
	return 1;
}

/* 1 = complete, 0 = need more, -1 = parse error */
static int parse(struct conn *c)
{
	if (!c->hdr_done) {
		int rc = parse_head(c);
		if (rc <= 0)
			return rc;
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
	if ((ev & EPOLLOUT) && c->state == C_BUSY && c->woff < targets[c->tg].reqlen) {
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
			struct target *t = &targets[c->tg];
			conn_close(c);
			t->retries++;
			pend_push_front(t, r);
			return;
		}
		complete(c, E_RESET);
		return;
	}
}

/* ---- results ---------------------------------------------------------------------------- */

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

static void print_header_dist(const struct target *t, double *hv, long n_hv)
{
	qsort(hv, (size_t)n_hv, sizeof(*hv), cmp_dbl);
	printf("\"header\":{\"name\":\"%s\",\"n\":%ld,", t->capture ? t->capture : "", n_hv);
	if (!n_hv) {
		printf("\"p50_us\":null}");
		return;
	}
	double s = 0;
	for (long i = 0; i < n_hv; i++)
		s += hv[i];
	long i50 = (long)ceil(0.5 * (double)n_hv) - 1, i90 = (long)ceil(0.9 * (double)n_hv) - 1,
	     i99 = (long)ceil(0.99 * (double)n_hv) - 1;
	print_num("mean_us", s / (double)n_hv, 1);
	print_num("p50_us", hv[i50 < 0 ? 0 : i50], 1);
	print_num("p90_us", hv[i90 < 0 ? 0 : i90], 1);
	print_num("p99_us", hv[i99 < 0 ? 0 : i99], 1);
	print_num("max_us", hv[n_hv - 1], 0);
	printf("}");
}

/* the time in [t0, t0 + d) that falls in target k's slices (one target: all of it) */
static int64_t own_until(int k, int64_t d)
{
	if (d <= 0)
		return 0;
	if (n_targets == 1)
		return d;
	int64_t cycle = slice_ns * n_targets, in = d % cycle - k * slice_ns;
	return d / cycle * slice_ns + (in < 0 ? 0 : in > slice_ns ? slice_ns : in);
}

/* A rate over the requests from a (at ta) to b (at tb), counted in target k's own time: the
   own time between their due times plus how much later b came than a; one target: tb - ta. */
static double rate_between(int k, long n, const struct rec *a, int64_t ta, const struct rec *b,
			   int64_t tb)
{
	if (n < 2 || !a || !b)
		return 0.0;
	int64_t span = own_until(k, b->sched - t0) - own_until(k, a->sched - t0) + (tb - b->sched) -
		       (ta - a->sched);
	return span > 0 ? (double)(n - 1) / ((double)span / 1e9) : 0.0;
}

static void write_raw(int k)
{
	const struct target *t = &targets[k];
	FILE *f = fopen(t->raw, "w");
	if (!f)
		return;
	fprintf(f, "sched_us,sent_us,first_us,done_us,status,err,header\n");
	for (long i = 0; i < n_total; i++) {
		struct rec *x = &recs[i];
		if (x->tg != k || x->warm)
			continue;
		fprintf(f, "%.1f,%.1f,%.1f,%.1f,%d,%s,", (double)(x->sched - t0) / 1e3,
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

/* The counts and distributions of target k's counted requests, as one JSON object's members
   from "requests" on (the caller prints what comes before and the closing brace). */
static void print_target(int k)
{
	const struct target *t = &targets[k];
	long m = 0;
	for (long i = 0; i < n_total; i++)
		m += recs[i].tg == k && !recs[i].warm;
	int64_t *lat = xcalloc((size_t)m + 1, sizeof(int64_t));
	int64_t *svc = xcalloc((size_t)m + 1, sizeof(int64_t));
	int64_t *ttfb = xcalloc((size_t)m + 1, sizeof(int64_t));
	int64_t *late = xcalloc((size_t)m + 1, sizeof(int64_t));
	double *hv = xcalloc((size_t)m + 1, sizeof(double));
	long n_ok = 0, n_late = 0, n_hv = 0, errs[E_NCOUNT] = {0}, st2 = 0, st4 = 0, st5 = 0,
	     sto = 0, markers = 0, n_sent = 0;
	const struct rec *first_sent = NULL, *last_sent = NULL, *first_done = NULL,
			 *last_done = NULL;
	for (long i = 0; i < n_total; i++) {
		const struct rec *x = &recs[i];
		if (x->tg != k || x->warm)
			continue;
		if (x->sent) {
			n_sent++;
			if (!first_sent || x->sent < first_sent->sent)
				first_sent = x;
			if (!last_sent || x->sent > last_sent->sent)
				last_sent = x;
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
		if (!first_done || x->done < first_done->done)
			first_done = x;
		if (!last_done || x->done > last_done->done)
			last_done = x;
		if (!isnan(x->hdr))
			hv[n_hv++] = x->hdr * 1000.0; /* ms -> us */
	}
	printf("\"requests\":%ld,\"ok\":%ld,\"errors\":%ld,\"retries\":%ld,", m, st2, m - st2,
	       t->retries);
	printf("\"status\":{\"2xx\":%ld,\"4xx\":%ld,\"5xx\":%ld,\"other\":%ld},", st2, st4, st5,
	       sto);
	printf("\"transport_errors\":{");
	for (int e = 1; e < E_NCOUNT; e++)
		printf("\"%s\":%ld%s", err_names[e], errs[e], e + 1 < E_NCOUNT ? "," : "");
	printf("},");
	printf("\"achieved_rate\":%.1f,",
	       rate_between(k, n_sent, first_sent, first_sent ? first_sent->sent : 0, last_sent,
			    last_sent ? last_sent->sent : 0));
	printf("\"completion_rate\":%.1f,",
	       rate_between(k, n_ok, first_done, first_done ? first_done->done : 0, last_done,
			    last_done ? last_done->done : 0));
	printf("\"done_markers\":%ld,\"connections_opened\":%d,", markers, t->conns_opened);
	print_dist("latency_us", lat, n_ok, 1);
	print_dist("service_us", svc, n_ok, 1);
	print_dist("ttfb_us", ttfb, n_ok, 1);
	print_dist("send_lateness_us", late, n_late, 1);
	print_header_dist(t, hv, n_hv);
	free(lat);
	free(svc);
	free(ttfb);
	free(late);
	free(hv);
}

static long warmup_requests(int k)
{
	long n = 0;
	for (long i = 0; i < n_total; i++)
		n += recs[i].tg == k && recs[i].warm;
	return n;
}

/* ---- set-up ------------------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --url http://127.0.0.1:PORT/PATH --rate R --duration S "
		"[--warmup S]\n"
		"       [-H 'Name: value']... [--body JSON | --body-file F] "
		"[--capture-header NAME]\n"
		"       [--max-conns N] [--timeout S] [--raw FILE]\n"
		"       loadgen --rate R --duration S [--warmup S] [--slice-ms MS] [defaults...]\n"
		"               --target NAME=URL [-H ...] [--body ...] [--capture-header ...] "
		"[--raw FILE]\n"
		"               --target NAME=URL ...   (duration and warm-up per target)\n"
		"       loadgen --url ... --concurrency C --count N [--warmup-count W] "
		"[--duration S] ...\n");
	exit(2);
}

static char *read_body_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("cannot open --body-file");
	char *b = xcalloc(MAX_BODY, 1);
	size_t n = fread(b, 1, MAX_BODY - 1, f);
	fclose(f);
	b[n] = 0;
	return b;
}

static void add_header(struct topts *o, const char *v)
{
	size_t l = strlen(v);
	char *h = realloc(o->hdrs, o->hdrs_len + l + 3);
	if (!h)
		die("out of memory");
	memcpy(h + o->hdrs_len, v, l);
	memcpy(h + o->hdrs_len + l, "\r\n", 3);
	o->hdrs = h;
	o->hdrs_len += l + 2;
}

/* --target NAME=URL: a new target that starts from the defaults */
static void add_target(struct topts *opts, int *n, const struct topts *defaults, const char *v)
{
	const char *eq = strchr(v, '=');
	if (*n >= MAX_TARGETS)
		die("too many --target (at most 16)");
	if (!eq || eq == v)
		die("--target wants NAME=URL");
	size_t nl = (size_t)(eq - v);
	if (nl > 64 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				 "0123456789._-") < nl)
		die("--target NAME: up to 64 of A-Z a-z 0-9 . _ -");
	char *name = xcalloc(nl + 1, 1);
	memcpy(name, v, nl);
	for (int i = 0; i < *n; i++)
		if (!strcmp(opts[i].name, name))
			die("--target NAME given twice");
	struct topts *o = &opts[(*n)++];
	*o = *defaults;
	o->name = name;
	o->url = eq + 1;
	o->raw = NULL;
	o->hdrs = xcalloc(defaults->hdrs_len + 1, 1);
	if (defaults->hdrs_len)
		memcpy(o->hdrs, defaults->hdrs, defaults->hdrs_len);
}

struct params {
	double rate, duration, warmup, timeout, slice_ms;
	long count, warmup_count;
};

/* one option and its value; 0 = taken, -1 = unknown */
static int parse_opt(const char *a, const char *v, struct params *p, struct topts *cur)
{
	if (!strcmp(a, "--rate"))
		p->rate = atof(v);
	else if (!strcmp(a, "--duration"))
		p->duration = atof(v);
	else if (!strcmp(a, "--warmup"))
		p->warmup = atof(v);
	else if (!strcmp(a, "--timeout"))
		p->timeout = atof(v);
	else if (!strcmp(a, "--slice-ms"))
		p->slice_ms = atof(v);
	else if (!strcmp(a, "--concurrency"))
		concurrency = strtol(v, NULL, 10);
	else if (!strcmp(a, "--count"))
		p->count = strtol(v, NULL, 10);
	else if (!strcmp(a, "--warmup-count"))
		p->warmup_count = strtol(v, NULL, 10);
	else if (!strcmp(a, "--max-conns"))
		max_conns = (int)strtol(v, NULL, 10);
	else if (!strcmp(a, "--capture-header"))
		cur->capture = v;
	else if (!strcmp(a, "--raw"))
		cur->raw = v;
	else if (!strcmp(a, "--body"))
		cur->body = v;
	else if (!strcmp(a, "--body-file"))
		cur->body = read_body_file(v);
	else if (!strcmp(a, "-H"))
		add_header(cur, v);
	else
		return -1;
	return 0;
}

/* http://127.0.0.1:PORT/path -> the target's address and request */
static void target_init(struct target *t, const struct topts *o)
{
	char host[64];
	const char *url = o->url;
	if (strncmp(url, "http://", 7) != 0)
		die("--url/--target must be http://IPV4:PORT/PATH");
	const char *hp = url + 7, *colon = strchr(hp, ':'), *slash = strchr(hp, '/');
	if (!colon || !slash || colon > slash || (size_t)(colon - hp) >= sizeof(host))
		die("--url/--target must be http://IPV4:PORT/PATH");
	memcpy(host, hp, (size_t)(colon - hp));
	host[colon - hp] = 0;
	int port = (int)strtol(colon + 1, NULL, 10);
	const char *path = slash;
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	t->addr.sin_family = AF_INET;
	t->addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &t->addr.sin_addr) != 1)
		die("--url/--target host must be an IPv4 address");
	if ((ntohl(t->addr.sin_addr.s_addr) >> 24) != 127)
		die("--url/--target must be a loopback address");
	const char *body = o->body ? o->body
				   : "{\"model\":\"bench\",\"messages\":[{\"role\":\"user\","
				     "\"content\":\"Hello\"}],\"max_tokens\":16}";
	size_t blen = strlen(body), cap = blen + o->hdrs_len + strlen(path) + 512;
	t->reqbuf = xcalloc(cap, 1);
	int n = snprintf(t->reqbuf, cap,
			 "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
			 "Accept: */*\r\nContent-Length: %zu\r\n%s\r\n%s",
			 path, host, port, blen, o->hdrs ? o->hdrs : "", body);
	if (n < 0 || (size_t)n >= cap)
		die("request does not fit");
	t->reqlen = (size_t)n;
	t->name = o->name ? o->name : "";
	t->url = url;
	t->capture = o->capture;
	t->capture_len = o->capture ? strlen(o->capture) : 0;
	t->raw = o->raw;
}

/* Interleaved: the open loop's grid (due at i * interval from t0), each due time going to the
   target whose slice it falls in while that target's own time (the time of its slices before
   it) is under warmup + duration; the first warmup of it is warm-up. So every target gets the
   same warm-up and the same counted time, whether or not they are whole numbers of slices.
   Fills out (due times as offsets from t0) when not NULL; returns how many requests. */
static long interleave(int64_t warm_ns, int64_t end_ns, struct rec *out)
{
	long n = 0;
	int64_t last = (end_ns / slice_ns + 1) * slice_ns * n_targets; /* all have had end_ns */
	for (int64_t i = 0; i * interval_ns < last; i++) {
		int64_t off = i * interval_ns;
		int k = (int)(off / slice_ns % n_targets);
		int64_t own = own_until(k, off);
		if (own >= end_ns)
			continue;
		if (out) {
			out[n].sched = off;
			out[n].tg = k;
			out[n].warm = own < warm_ns;
		}
		n++;
	}
	return n;
}

/* the schedule: every request's due time (an offset from t0 until run() knows t0), target and
   warm-up mark, and each target's pool and queue */
static void plan(const struct params *p)
{
	interval_ns = (int64_t)(1e9 / p->rate);
	timeout_ns = (int64_t)(p->timeout * 1e9);
	slice_ns = (int64_t)(p->slice_ms * 1e6);
	double planned = concurrency > 0 ? (double)p->warmup_count + (double)p->count
					 : p->rate * (p->warmup + p->duration) * n_targets;
	if (planned > 20000000)
		die("too many requests (rate * (warmup + duration) * targets, or count + "
		    "warmup-count)");
	long n_warm = 0;
	if (concurrency > 0) {
		n_warm = p->warmup_count;
		n_total = p->warmup_count + p->count;
	} else if (!targets[0].name[0]) {
		n_warm = (long)llround(p->rate * p->warmup);
		n_total = n_warm + (long)llround(p->rate * p->duration);
	} else {
		n_total = interleave((int64_t)(p->warmup * 1e9),
				     (int64_t)((p->warmup + p->duration) * 1e9), NULL);
	}
	recs = xcalloc((size_t)n_total, sizeof(*recs));
	if (targets[0].name[0]) {
		interleave((int64_t)(p->warmup * 1e9), (int64_t)((p->warmup + p->duration) * 1e9),
			   recs);
	} else {
		for (long i = 0; i < n_total; i++) {
			recs[i].sched = i * interval_ns;
			recs[i].warm = i < n_warm;
		}
	}
	conns = xcalloc((size_t)n_targets * (size_t)max_conns, sizeof(*conns));
	for (int i = 0; i < n_targets * max_conns; i++) {
		conns[i].fd = -1;
		conns[i].tg = i / max_conns;
	}
	long per[MAX_TARGETS] = {0};
	for (long i = 0; i < n_total; i++)
		per[recs[i].tg]++;
	for (int k = 0; k < n_targets; k++) {
		struct target *t = &targets[k];
		t->conns = conns + (size_t)k * (size_t)max_conns;
		t->idle = xcalloc((size_t)max_conns, sizeof(*t->idle));
		t->pending = xcalloc(2 * (size_t)per[k] + 2, sizeof(*t->pending));
		t->pend_head = t->pend_tail = per[k] + 1; /* room for retries pushed in front */
	}
}

/* ---- the loop ---------------------------------------------------------------------------- */

/* requests in flight or queued past their timeout fail as timeouts */
static void expire(int64_t now)
{
	for (int i = 0; i < n_targets * max_conns; i++) {
		struct conn *c = &conns[i];
		if ((c->state == C_BUSY || c->state == C_CONNECTING) && c->req >= 0 &&
		    now - recs[c->req].sched > timeout_ns) {
			long r = c->req;
			conn_close(c);
			finish(r, E_TIMEOUT, 0, NAN, 0);
		}
	}
	for (int k = 0; k < n_targets; k++) {
		struct target *t = &targets[k];
		while (t->pend_head < t->pend_tail &&
		       now - recs[t->pending[t->pend_head]].sched > timeout_ns)
			finish(t->pending[t->pend_head++], E_TIMEOUT, 0, NAN, 0);
	}
}

/* runs the schedule; returns the stop time, *truncated when the closed loop ran out of time */
static int64_t run(double duration, int *truncated)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (epfd < 0 || tfd < 0)
		die("epoll/timerfd failed");
	struct epoll_event tev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);

	t0 = now_ns() + 1000000; /* 1 ms from now */
	int64_t t_end_sched;
	if (concurrency > 0) {
		t_end_sched = t0 + (int64_t)(duration * 1e9); /* nothing is sent after this */
	} else {
		for (long i = 0; i < n_total; i++)
			recs[i].sched += t0;
		t_end_sched = (n_total ? recs[n_total - 1].sched : t0) + interval_ns;
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
				*truncated = 1;
			}
		} else {
			while (next_send < n_total && recs[next_send].sched <= now)
				dispatch(next_send++);
		}
		if (now - last_scan > 50000000LL) {
			last_scan = now;
			expire(now);
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
	close(tfd);

	/* anything unfinished at the hard end counts as a timeout */
	for (long i = 0; i < n_total; i++)
		if (recs[i].done == 0) {
			recs[i].done = t_stop;
			recs[i].err = E_TIMEOUT;
		}
	return t_stop;
}

static void print_result(const struct params *p, int truncated, int64_t t_stop)
{
	if (concurrency > 0) {
		const struct target *t = &targets[0];
		printf("{\"url\":\"%s\",\"mode\":\"closed\",\"concurrency\":%ld,\"count\":%ld,"
		       "\"warmup_count\":%ld,\"max_duration_s\":%.3f,\"truncated\":%s,"
		       "\"elapsed_s\":%.3f,",
		       t->url, concurrency, p->count, p->warmup_count, p->duration,
		       truncated ? "true" : "false", (double)(t_stop - t0) / 1e9);
		print_target(0);
		printf("}\n");
		return;
	}
	if (!targets[0].name[0]) {
		printf("{\"url\":\"%s\",\"mode\":\"open\",\"rate\":%.1f,\"duration_s\":%.3f,"
		       "\"warmup_s\":%.3f,\"warmup_requests\":%ld,",
		       targets[0].url, p->rate, p->duration, p->warmup, warmup_requests(0));
		print_target(0);
		printf("}\n");
		return;
	}
	printf("{\"mode\":\"interleaved\",\"rate\":%.1f,\"slice_ms\":%.1f,\"duration_s\":%.3f,"
	       "\"warmup_s\":%.3f,\"elapsed_s\":%.3f,\"targets\":{",
	       p->rate, p->slice_ms, p->duration, p->warmup, (double)(t_stop - t0) / 1e9);
	for (int k = 0; k < n_targets; k++) {
		const struct target *t = &targets[k];
		printf("%s\"%s\":{\"url\":\"%s\",\"mode\":\"open\",", k ? "," : "", t->name,
		       t->url);
		printf("\"rate\":%.1f,\"duration_s\":%.3f,\"warmup_s\":%.3f,\"warmup_requests\":%"
		       "ld,",
		       p->rate, p->duration, p->warmup, warmup_requests(k));
		print_target(k);
		printf("}");
	}
	printf("}}\n");
}

int main(int argc, char **argv)
{
	static struct topts defaults, opts[MAX_TARGETS];
	struct params p = {
		.rate = 1000, .duration = 5, .warmup = 1, .timeout = 10, .slice_ms = 200};
	int n_opts = 0;
	struct topts *cur = &defaults;
	max_conns = 4096;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--url")) {
			defaults.url = v;
		} else if (!strcmp(a, "--target")) {
			add_target(opts, &n_opts, &defaults, v);
			cur = &opts[n_opts - 1];
		} else if (parse_opt(a, v, &p, cur) != 0) {
			usage();
		}
	}
	if (p.rate <= 0 || p.duration <= 0 || p.warmup < 0 || max_conns < 1 || p.timeout <= 0 ||
	    concurrency < 0 || (concurrency > 0 && (p.count < 1 || p.warmup_count < 0)) ||
	    (n_opts ? defaults.url != NULL : defaults.url == NULL))
		usage();
	if (n_opts && (concurrency > 0 || defaults.raw || !(p.slice_ms * 1e6 >= 1)))
		die("--target: open loop only, --slice-ms of at least a nanosecond (a request's "
		    "interval: request by request in turn), and --raw after each --target");
	if (concurrency > max_conns)
		max_conns = (int)concurrency;
	n_targets = n_opts ? n_opts : 1;
	for (int k = 0; k < n_targets; k++)
		target_init(&targets[k], n_opts ? &opts[k] : &defaults);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if ((rlim_t)max_conns * (rlim_t)n_targets + 16 > rl.rlim_cur)
			max_conns = (int)((rl.rlim_cur - 16) / (rlim_t)n_targets);
		if (max_conns < 1)
			die("too few file descriptors (RLIMIT_NOFILE)");
	}
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* timers fire within ~1 us, not 50 us */
	signal(SIGPIPE, SIG_IGN);

	plan(&p);
	int truncated = 0;
	int64_t t_stop = run(p.duration, &truncated);
	for (int k = 0; k < n_targets; k++)
		if (targets[k].raw)
			write_raw(k);
	print_result(&p, truncated, t_stop);
	return 0;
}
