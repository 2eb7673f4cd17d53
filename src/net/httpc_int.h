/* httpc_int: what the files of httpc share: a request's state, the plain http:// path's
 * connection, pool and parser state, and the helpers one file calls in another. Private to
 * src/net/httpc*.c; everyone else sees httpc.h.
 *
 *   httpc.c        a request's life: start, cancel, the end, the curl easy path, accessors
 *   httpc_env.c    trust anchors and proxy variables from the environment
 *   httpc_head.c   which requests take the plain path, and their request head
 *   httpc_plain.c  the plain path's request: connect, send, read, re-send, timeouts
 *   httpc_parse.c  the plain path's answer: status line, headers, body framing, chunked
 *   httpc_pool.c   the plain path's connections: their events and the keep-alive pool
 *   httpc_mail.c   SMTP on a worker thread
 *   httpc_req.c    what every path notes on a request: failure, first byte, timings
 *   httpc_wrap.c   link-time wrappers of curl internals (static builds)
 *
 * Calls go one way: httpc.c -> httpc_mail.c, httpc_plain.c -> httpc_parse.c, httpc_pool.c,
 * httpc_head.c -> httpc_env.c, httpc_req.c (src/net/README.md, "Who calls whom"). The one
 * way back up is r->owner: the request's end, which httpc.c hands every request. */
#ifndef HERMETIC_HTTPC_INT_H
#define HERMETIC_HTTPC_INT_H

#include "net/httpc.h"
#include "core/util.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define HEADERS_CAP (64 * 1024)
#define PLAIN_KEY   64
#define PLAIN_HEAD  512 /* a request head this long is written into struct plain itself */

/* The steps of a request's end that httpc.c owns and the plain path (httpc_plain.c) and the
 * mail worker's end (httpc_mail.c) reach through r->owner: their only way back into httpc.c,
 * which calls them directly. */
struct httpc_owner {
	/* Ends r: off the list, done fires, everything of r is freed. */
	void (*finish)(struct httpc_req *r);
	/* Ends r now with its pending result; only from the loop, never inside curl's
	 * callbacks. */
	void (*abort_now)(struct httpc_req *r);
	/* Ends r from the loop (the defer timer): for failures inside httpc_start. */
	void (*end_later)(struct httpc_req *r);
};

struct httpc_req {
	struct httpc_req *prev, *next;
	const struct httpc_owner *owner; /* httpc.c's, set by httpc_start */
	struct loop *loop;
	CURL *easy;
	struct curl_slist *headers;
	struct mail_job *mail; /* a mail on its worker thread, else NULL */
	char *body;	       /* the request body curl sends from (CURLOPT_POSTFIELDS) */
	size_t body_len;
	/* An upload from a file: head (body), upload_len bytes of upload_fd, then tail. */
	int upload_fd; /* -1 = none */
	size_t head_len, upload_len, upload_pos;
	char *tail;
	size_t tail_len;
	struct buf resp;
	struct buf hdrs;
	httpc_data_cb on_data;
	httpc_addr_cb check_addr;
	void *check_arg;
	char refused[160]; /* why check_addr refused the last address ("" = none refused) */
	httpc_done_cb done;
	void *arg;
	struct event *fb_timer;
	struct event *defer;	/* cancel: finishes from the loop; made on first use */
	struct event *start_ev; /* adds the transfer from the loop when started inside curl */
	enum httpc_result result;
	enum httpc_result pending; /* set when we abort from outside curl's own failure */
	char errbuf[CURL_ERROR_SIZE];
	char *scrubbed; /* errbuf with secrets and /bot<token> cut: curl may quote the URL */
	const char *error;
	long status;
	int64_t start_us, first_byte_us, end_us;
	int in_multi;
	struct plain *pl; /* the plain http:// path (no easy handle), else NULL */
	long connect_timeout_ms;
};

/* curl's send buffer (CURLOPT_UPLOAD_BUFFERSIZE; 16 KiB is its minimum) holds the request
 * while it goes out. A transfer with a short answer keeps it: the pooled handle reuses it for
 * the next request. A streamed transfer lasts seconds after its request went out, so it asks
 * for a slightly different size, which tells the wrapper (httpc_wrap.c) to let curl free it. */
#define SENDBUF_KEEP 16384L
#define SENDBUF_FREE 17408L

/* ---- the plain path (see httpc_plain.c) ---- */

enum pstate { P_HEAD, P_BODY, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_END, P_TRAILER, P_DONE };

struct conn {
	struct conn *next; /* in the pool's idle list */
	int fd;
	short what; /* the events ev waits for (0 = not added) */
	struct event ev;
	struct httpc_req *req; /* NULL while idle */
	struct pool *pool;     /* while idle: the pool whose list holds it */
	int64_t idle_since_us;
	char key[PLAIN_KEY];
};

struct pool {
	struct conn *idle; /* most recently used first */
	size_t n_idle;
	long idle_ms;	      /* IDLE_MS unless httpc_set_idle_ms */
	struct event *prune;  /* closes what idled idle_ms, with or without traffic */
	struct offload *mail; /* mail jobs (see httpc_mail.c); NULL until one */
	struct plain *spare;  /* finished plain requests' states, for the next ones */
	size_t n_spare;	      /* up to SPARE_MAX */
};

struct plain {
	struct plain *next_spare; /* while kept in the pool's spares */
	struct conn *conn;
	struct sockaddr_storage sa;
	socklen_t sa_len;
	char key[PLAIN_KEY];   /* "address port": the pool's key and the error texts' peer */
	char *head;	       /* head_room, or malloc'd when the head is longer */
	size_t head_len, sent; /* sent counts head and body bytes the kernel took */
	struct event timer;
	bool timer_added, connecting, sending, reused, retried, idempotent, no_pool;
	bool keep, chunked, has_len, until_close, http10;
	int64_t connect_deadline_us, deadline_us;
	enum pstate st;
	uint64_t left; /* Content-Length or chunk bytes still to come */
	size_t line_start, line_len;
	unsigned line_no;
	unsigned digits; /* of the chunk size */
	bool ext, cr;	 /* inside a chunk extension; after its CR */
	/* Last: left uncleared (httpc_plain_start). 512 keeps struct plain under glibc's 1 KiB
	 * tcache sizes (in one allocation with the request it was past them, and dearer than two).
	 */
	char head_room[PLAIN_HEAD];
};

/* Where a plain request goes, read from its URL (httpc_plain_ok). */
struct target {
	struct sockaddr_storage sa;
	socklen_t sa_len;
	const char *host; /* as written in the URL (brackets kept) */
	size_t host_len;
	unsigned port;
	const char *path; /* from the first '/' or '?'; "" = "/" */
};

/* ---- httpc_req.c (httpc.c's own steps are in struct httpc_owner) ---- */

/* Sets r's pending result and error text, unless one is set already. */
void httpc_fail(struct httpc_req *r, enum httpc_result res, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The first answer byte arrived: noted, and the first-byte timer stopped. */
void httpc_mark_first_byte(struct httpc_req *r);
/* The httpc_result of a curl code. */
enum httpc_result httpc_map_code(CURLcode rc);

/* ---- httpc_env.c ---- */

void httpc_set_trust(CURL *easy);
void httpc_set_proxy(CURL *easy, const char *url);
/* An http:// proxy variable is set (http_proxy, all_proxy, or HTTP_PROXY, which curl ignores):
 * plain http:// requests stay with curl. */
bool httpc_http_proxied(void);

/* ---- httpc_head.c ---- */

/* o takes the plain path; t is filled from its URL. */
bool httpc_plain_ok(const struct httpc_opts *o, struct target *t);
/* Writes r->pl->head, the request head curl would write: into r->pl->head_room when it fits,
 * else malloc'd. */
void httpc_plain_head(struct httpc_req *r, const struct httpc_opts *o, const struct target *t,
		      const char *method);
/* "<host> port <n>" into key (PLAIN_KEY bytes). */
void httpc_pool_key(char *key, const struct target *t);

/* ---- httpc_plain.c ---- */

/* Stops r's timer and lets go of its connection: back to the pool (keep) or closed. */
void httpc_plain_detach(struct httpc_req *r, bool keep);
/* Sets the events c waits for (0 = none); one callback for every plain connection, idle or
 * in use (an idle one that turns readable goes to httpc_idle_closed). */
void httpc_conn_want(struct conn *c, struct loop *l, short what);
void httpc_plain_start(struct httpc_req *r, const struct httpc_opts *o, const struct target *t);
/* Frees what r's plain state holds (NULL: nothing); its connection is closed. */
void httpc_plain_free(struct httpc_req *r);

/* ---- httpc_parse.c ---- */

/* Everything that arrived; -1 when the request ended with an error (pending is set). */
int httpc_parse(struct httpc_req *r, const char *d, size_t n);

/* ---- httpc_pool.c ---- */

/* The loop's pool (made on first use, freed with the loop). */
struct pool *httpc_pool_of(struct loop *l);
void httpc_conn_close(struct conn *c);
/* A pooled connection to key that is young enough, or NULL. */
struct conn *httpc_pool_take(struct loop *l, const char *key);
/* Keeps c for the next request, or closes it; its read event is armed already. */
void httpc_pool_put(struct loop *l, struct conn *c);
/* An idle connection became readable: the peer closed it (or broke the protocol). */
void httpc_idle_closed(struct conn *c);
/* The struct plain a finished request left (its contents stale), or a new one (malloc'd). */
struct plain *httpc_pool_plain(struct loop *l);
/* Keeps p (holding nothing) for a next request, or frees it. */
void httpc_pool_plain_done(struct loop *l, struct plain *p);

/* ---- httpc_mail.c ---- */

/* Starts r's mail on a worker thread; 0, or -1 (nothing started). */
int httpc_mail_start(struct httpc_req *r, const struct httpc_opts *o);
/* From httpc.c's abort_now: the request ends now; the job ends its transfer on its own. */
void httpc_mail_abandon(struct httpc_req *r);

#endif
