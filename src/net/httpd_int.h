/* httpd_int: what the files of httpd share: the server, a connection and the request it
 * holds, and the helpers one file calls in another. Private to src/net/httpd*.c; everyone
 * else sees httpd.h.
 *
 *   httpd.c        the server: listen, create, destroy, the route table and dispatch, the
 *                  request accessors
 *   httpd_conn.c   connections: accept, events, reading, the pipeline, deadlines, closing
 *   httpd_parse.c  a request's head and its chunked body, parsed in place
 *   httpd_reply.c  answers: the head, bodies, streams, error bodies, refusals
 *
 * Calls go one way: httpd.c -> httpd_reply.c -> httpd_conn.c -> httpd_parse.c (httpd.c also
 * calls httpd_conn.c). httpd_conn.c and httpd_parse.c reach back up only through h->cbs,
 * the struct httpd_cbs httpd.c hands every server. */
#ifndef HERMETIC_HTTPD_INT_H
#define HERMETIC_HTTPD_INT_H

#include "net/httpd.h"
#include "core/util.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <netinet/in.h>

#define MAX_HEADERS 64

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
	_Alignas(16) unsigned char room[HTTPD_REQ_ROOM]; /* httpd_req_room */
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
	char why[160]; /* a refusal's words when they carry numbers (413) */
	int in_cb;
	int64_t t_mark_ms, t_write_ms; /* now_mono_coarse_ms */
	char *in;
	size_t in_len, in_alloc, scan, req_bytes;
	struct buf out;	 /* answer bytes the socket has not taken */
	struct buf hdrs; /* headers added to the current answer */
	struct sockaddr_storage peer;
	char peer_text[INET6_ADDRSTRLEN];
	struct httpd_req req;
};

/* What the connection side (httpd_conn.c, httpd_parse.c) calls above it: httpd.c fills one
 * static copy and every server points at it (h->cbs). Their only way back into httpd.c and
 * httpd_reply.c, which call them directly. */
struct httpd_cbs {
	/* Hands the parsed request at the start of the input to its route's handler (404 or 405
	 * when none takes it); the body is dropped afterwards if the request is still held. */
	void (*dispatch)(struct conn *c);
	/* A request the server itself refuses (malformed, too big): answered, then the
	 * connection closes; nothing of it reaches a handler or the observer. */
	void (*refuse_request)(struct conn *c, int status, const char *message);
	/* A connection past the cap: a 503 with Retry-After, then it closes. */
	void (*refuse_connection)(struct conn *c);
};

struct httpd {
	const struct httpd_cbs *cbs;
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
	char max_body_key[48]; /* "api.max_body_bytes", named in 413 answers; "" = none */
	int64_t idle_ms, header_ms, body_ms, write_ms;
	int64_t warned_ms; /* last "connection cap reached" warning */
	bool accept_paused;
	bool stopped; /* httpd_stop_serving: new requests get a 503 */
	time_t date_s;
	char date[48]; /* "Date: ...\r\n" of date_s */
	size_t date_len;
};

/* ---- httpd_conn.c ---- */

void httpd_conn_mark(struct conn *c, enum conn_state state);
/* Work for the deferred event: the next pipelined request, a close callback. */
void httpd_conn_defer(struct conn *c);
void httpd_conn_free(struct conn *c);
/* Frees a closed connection nobody uses any more; true when it did. */
bool httpd_conn_reap(struct conn *c);
/* Writes iov now if nothing waits before it; what the socket does not take is queued. */
void httpd_conn_send(struct conn *c, struct iovec *iov, int n);
/* A large input buffer holding little now goes back to its minimum. */
void httpd_shrink_in(struct conn *c);
/* The answer is out (or queued): forget the request, then idle, or close after the answer. */
void httpd_req_end(struct conn *c);
/* The server's events: the listener, the 1 s tick, the deferred work. */
void httpd_on_accept(evutil_socket_t lfd, short what, void *arg);
void httpd_on_tick(evutil_socket_t fd, short what, void *arg);
void httpd_on_defer(evutil_socket_t fd, short what, void *arg);

/* ---- httpd_parse.c ---- */

/* 1: the head of the request at the start of the input is parsed; 0: more bytes are needed;
 * -1: refused (answered through h->cbs, closing). */
int httpd_parse_head(struct conn *c);
/* The chunked body so far, decoded in place. 1: complete; 0: more bytes are needed; -1:
 * refused (answered, closing). */
int httpd_dechunk(struct conn *c);

/* ---- httpd_reply.c ---- */

/* The head: status line and fixed headers, then the added ones, then the body (none when
 * stream: the chunks follow). */
void httpd_send_head(struct httpd_req *r, int status, bool stream, const char *body, size_t len);
/* httpd_cbs.refuse_request and .refuse_connection (see there). */
void httpd_refuse_request(struct conn *c, int status, const char *message);
void httpd_refuse_connection(struct conn *c);

#endif
