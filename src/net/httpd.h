/* httpd: a small HTTP/1.1 server on the libevent loop for the loopback API, the router and
 * /metrics.
 *
 * Caps: request body (413 past it), request head (431 past max_header_bytes or 64 header
 * lines), open connections (past the cap a new connection gets 503 and is closed), and time: a
 * request's head must arrive within header_timeout_s of its first byte (of the connect, for a
 * new connection), its body within body_timeout_s of the head, and a keep-alive connection may
 * sit idle between requests for idle_timeout_s. None of these runs while a handler holds the
 * request, so long answers and streams are never cut by them; timeout_s bounds a write that
 * makes no progress. Routes are a table of {methods, path, handler}; a path ending in '*'
 * matches a prefix. Unknown paths get 404 and wrong methods 405, both in OpenAI's error body
 * shape; a request line or head that is not HTTP/1.x gets 400 and the connection is closed.
 *
 * Requests: HTTP/1.1 and 1.0, keep-alive (1.0 only when asked) and `Connection: close`,
 * pipelined requests answered one after the other in order (while more than 64 KiB of answers
 * wait for a client, its next request is neither read nor started), HEAD (the head of the GET
 * answer, no body), `Expect: 100-continue`, request bodies with a Content-Length or chunked
 * (decoded, trailers ignored; the cap counts the decoded bytes, and the bytes sent for it may be at
 * most 8 times the cap: 413 past that).
 */
#ifndef HERMETIC_HTTPD_H
#define HERMETIC_HTTPD_H

#include <stddef.h>

struct loop;
struct httpd;
struct httpd_req;
struct netaddr;
struct cJSON;

enum httpd_method {
	HTTPD_GET = 1 << 0,
	HTTPD_POST = 1 << 1,
	HTTPD_DELETE = 1 << 2,
	HTTPD_HEAD = 1 << 3,
	HTTPD_OTHER = 1 << 4, /* PUT, OPTIONS, ...: only ever answered 404 or 405 */
	/* Not a method: marks a route whose handler reads a JSON body (with json_parse, so a
	 * repeated member name is a 400). httpd_route logs each route with it at debug level;
	 * tests/e2e/test_json_duplicates.py sends a duplicate to every route so marked and fails
	 * on a POST route that is neither marked nor listed there as taking something else. */
	HTTPD_JSON = 1 << 5,
};

/* Handlers must answer the request exactly once, now or later (httpd_reply*, or
 * httpd_reply_start then httpd_reply_end), also after the client went away: the request stays
 * valid until then. */
typedef void (*httpd_handler)(struct httpd_req *req, void *arg);
/* The client's connection closed (or failed) while its request was held and not answered yet.
 * Fires at most once per request, from the loop, never from inside an httpd_* call; the
 * handler still answers the request (the answer is dropped). */
typedef void (*httpd_close_cb)(struct httpd_req *req, void *arg);

struct httpd_opts {
	const char *listen;	  /* "HOST:PORT" or "[V6]:PORT"; port 0 picks a free one */
	size_t max_body_bytes;	  /* 0 = 1 MiB */
	const char *max_body_key; /* its config key, named in 413 answers; NULL = none */
	size_t max_header_bytes;  /* 0 = 16 KiB */
	int timeout_s;		  /* a write without progress; 0 = 60 */
	int max_connections;	  /* open connections; 0 = 256 */
	int idle_timeout_s;	  /* keep-alive connection between requests; 0 = 60 */
	int header_timeout_s;	  /* first byte (or connect) to the end of the head; 0 = 10 */
	int body_timeout_s;	  /* end of the head to the end of the body; 0 = 60 */
};

/* Binds and listens. Returns 0, or -1 with a message in err ("cannot listen on ...: ..."). */
int httpd_create(struct loop *l, const struct httpd_opts *o, struct httpd **out, char *err,
		 size_t err_len);
/* Stops listening and closes open connections; requests still held are freed (their handlers
 * must not answer them after this). Accepts NULL. */
void httpd_destroy(struct httpd *h);
/* The first step of a shutdown: no new connection is accepted, and every request that comes
 * after this on an open connection is answered 503 without reaching a handler, so the modules
 * behind the routes may be destroyed while answers already started (streams, held requests)
 * still go out. A shutdown that runs the loop to end its work (agent_destroy delivers the
 * turns' cancellations) would otherwise dispatch a request to a module already freed. Accepts
 * NULL. */
void httpd_stop_serving(struct httpd *h);
int httpd_port(const struct httpd *h);
/* Connections open now (also those being refused). */
size_t httpd_connections(const struct httpd *h);
/* The most bytes one open connection holds now in its input and output buffers, for tests and
 * the fuzzer: the caps bound it (max_header_bytes + max_body_bytes + 32 MiB). */
size_t httpd_buffered_max(const struct httpd *h);
/* Adds a route (path copied). Later routes do not override earlier ones. */
void httpd_route(struct httpd *h, unsigned methods, const char *path, httpd_handler fn, void *arg);
/* Counts answered requests in metrics when set: called from inside the reply call (it must not
 * call httpd) with the route path ("unmatched" for 404s, "refused" for 503s past the
 * connection cap or after httpd_stop_serving) and the status. */
typedef void (*httpd_observe_cb)(const char *route, int status, void *arg);
void httpd_set_observer(struct httpd *h, httpd_observe_cb cb, void *arg);

/* ---- the request; every string is borrowed and valid until control returns to the loop */

/* One of enum httpd_method. */
unsigned httpd_method(const struct httpd_req *req);
/* The request target as sent ("/v1/models?x=1"), its path ("/v1/models") and its query
 * ("x=1", NULL without a '?'). Not percent-decoded. */
const char *httpd_uri(const struct httpd_req *req);
const char *httpd_path(const struct httpd_req *req);
const char *httpd_query(const struct httpd_req *req);
/* The first header of that name (case-insensitive), or NULL. */
const char *httpd_header(const struct httpd_req *req, const char *name);
/* The bearer token of the Authorization header, or NULL. */
const char *httpd_bearer(const struct httpd_req *req);
/* The body (already capped by max_body_bytes), NUL-terminated, and its length. Valid until the
 * handler returns: a request held past that drops its body (an open stream keeps no copy). */
const char *httpd_body_ref(const struct httpd_req *req, size_t *len);
/* The same copied into a malloc'd NUL-terminated string the caller frees. */
char *httpd_body(const struct httpd_req *req, size_t *len);
/* The client's address as text ("127.0.0.1", "::1"). */
const char *httpd_peer(struct httpd_req *req);
/* The client's address, and the address it connected to (this end of the socket). 0, or a
 * negative errno when the connection is gone. */
int httpd_peer_addr(struct httpd_req *req, struct netaddr *out);
int httpd_local_addr(struct httpd_req *req, struct netaddr *out);
/* Sets (cb NULL: clears) the callback for a client that goes away before the answer ends. */
void httpd_on_close(struct httpd_req *req, httpd_close_cb cb, void *arg);
/* Answer bytes queued for the client and not yet taken by its socket (back-pressure). */
size_t httpd_output_len(const struct httpd_req *req);
/* HTTPD_REQ_ROOM zeroed bytes (16-byte aligned) that live as long as the request: until
 * its answer ends, also when the client left before (the connection waits for the answer).
 * For a handler's state of one request instead of a malloc; NULL when size is over. */
#define HTTPD_REQ_ROOM 64
void *httpd_req_room(struct httpd_req *req, size_t size);

/* ---- the answer */

/* Adds a header to the answer (before httpd_reply or httpd_reply_start). Name and value are
 * copied; one holding CR, LF or NUL is dropped. */
void httpd_add_header(struct httpd_req *req, const char *name, const char *value);
/* The same with the lengths known (a formatted number): no strlen. */
void httpd_add_header_n(struct httpd_req *req, const char *name, size_t name_len, const char *value,
			size_t value_len);
/* The same with a string literal as the name, which is not checked (it is in the source). */
void httpd_add_header_lit(struct httpd_req *req, const char *name, size_t name_len,
			  const char *value, size_t value_len);
#define HTTPD_ADD_HEADER_LIT(req, lit, value, value_len)                                           \
	httpd_add_header_lit(req, "" lit "", sizeof(lit) - 1, value, value_len)
/* A whole answer: status, Content-Type (NULL = none), body (copied when the socket does not
 * take it at once). Ends the request. */
void httpd_reply(struct httpd_req *req, int status, const char *content_type, const char *body,
		 size_t len);
/* Answers with root printed unformatted as application/json. Takes root (deletes it). The
 * one place a cJSON tree crosses into this module: it is the reply body, not parsed input. */
void httpd_reply_json(struct httpd_req *req, int status, struct cJSON *root);
/* {"error":{"message":..., "type":..., "param":null, "code":"<status>"}} */
void httpd_reply_error(struct httpd_req *req, int status, const char *type, const char *message);
/* A streamed answer: the head now (chunked for HTTP/1.1; for 1.0 the body ends with the
 * connection), each chunk as it is given (empty chunks are skipped), and the end, which ends
 * the request. A client that leaves answers unread past 32 MiB is dropped (so for every
 * answer). */
void httpd_reply_start(struct httpd_req *req, int status, const char *content_type);
void httpd_reply_chunk(struct httpd_req *req, const void *data, size_t len);
void httpd_reply_end(struct httpd_req *req);

/* Splits "HOST:PORT" / "[V6]:PORT" into host (copied into host, size host_len) and port.
 * Returns 0 or -EINVAL. */
int httpd_parse_listen(const char *listen, char *host, size_t host_len, int *port);

#endif
