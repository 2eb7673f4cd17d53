/* httpd: a small HTTP/1.1 server on evhttp for the loopback API, the router and /metrics.
 *
 * Caps: request body (413 past it), request headers, open connections (past the cap a new
 * connection gets 503 and is closed), and time: a request's head must arrive within
 * header_timeout_s of its first byte (of the connect, for a new connection), its body within
 * body_timeout_s of the head, and a keep-alive connection may sit idle between requests for
 * idle_timeout_s. None of these runs while a handler holds the request, so long answers and
 * streams are never cut by them; timeout_s bounds a write (or read) that makes no progress.
 * Routes are a table of {methods, path, handler}; a path ending in '*' matches a prefix.
 * Unknown paths get 404 and wrong methods 405, both in OpenAI's error body shape.
 */
#ifndef HERMETIC_HTTPD_H
#define HERMETIC_HTTPD_H

#include <stdarg.h>
#include <stddef.h>

struct loop;
struct httpd;
struct evbuffer;
struct evhttp_request;
struct cJSON;

enum httpd_method {
	HTTPD_GET = 1 << 0,
	HTTPD_POST = 1 << 1,
	HTTPD_DELETE = 1 << 2,
	HTTPD_HEAD = 1 << 3,
};

/* Handlers must answer the request exactly once, now or later (evhttp keeps it alive). */
typedef void (*httpd_handler)(struct evhttp_request *req, void *arg);

struct httpd_opts {
	const char *listen;	 /* "HOST:PORT" or "[V6]:PORT"; port 0 picks a free one */
	size_t max_body_bytes;	 /* 0 = 1 MiB */
	size_t max_header_bytes; /* 0 = 16 KiB */
	int timeout_s;		 /* a read or write without progress; 0 = 60 */
	int max_connections;	 /* open connections; 0 = 256 */
	int idle_timeout_s;	 /* keep-alive connection between requests; 0 = 60 */
	int header_timeout_s;	 /* first byte (or connect) to the end of the head; 0 = 10 */
	int body_timeout_s;	 /* end of the head to the end of the body; 0 = 60 */
};

/* Binds and listens. Returns 0, or -1 with a message in err ("cannot listen on ...: ..."). */
int httpd_create(struct loop *l, const struct httpd_opts *o, struct httpd **out, char *err,
		 size_t err_len);
/* Stops listening and drops open connections. Accepts NULL. */
void httpd_destroy(struct httpd *h);
int httpd_port(const struct httpd *h);
/* Connections open now (also those being refused). */
size_t httpd_connections(const struct httpd *h);
/* Adds a route (path copied). Later routes do not override earlier ones. */
void httpd_route(struct httpd *h, unsigned methods, const char *path, httpd_handler fn, void *arg);
/* Counts answered requests in metrics when set: called after each reply with the route path
 * ("unmatched" for 404s) and the status. */
typedef void (*httpd_observe_cb)(const char *route, int status, void *arg);
void httpd_set_observer(struct httpd *h, httpd_observe_cb cb, void *arg);

/* Helpers for handlers. */
void httpd_reply(struct evhttp_request *req, int status, const char *content_type, const char *body,
		 size_t len);
/* Answers with root printed unformatted as application/json. Takes root (deletes it). The
 * one place a cJSON tree crosses into this module: it is the reply body, not parsed input. */
void httpd_reply_json(struct evhttp_request *req, int status, struct cJSON *root);
/* {"error":{"message":..., "type":..., "param":null, "code":"<status>"}} */
void httpd_reply_error(struct evhttp_request *req, int status, const char *type,
		       const char *message);
/* Copies the request body (already capped by max_body_bytes) into a malloc'd NUL-terminated
 * string; *len gets its length. */
char *httpd_body(struct evhttp_request *req, size_t *len);
/* The bearer token of the Authorization header, or NULL. Borrowed from the request. */
const char *httpd_bearer(struct evhttp_request *req);
const char *httpd_header(struct evhttp_request *req, const char *name);

/* evbuffer_add_vprintf(buf, fmt, ap), the same bytes and result, with the formats evhttp
 * writes heads and chunk sizes with ("%s: %s\r\n", "HTTP/%d.%d %d %s\r\n", "%x\r\n") done
 * without printf. Static builds route libevent's evbuffer_add_printf through it. */
int httpd_add_vprintf(struct evbuffer *buf, const char *fmt, va_list ap);

/* Splits "HOST:PORT" / "[V6]:PORT" into host (copied into host, size host_len) and port.
 * Returns 0 or -EINVAL. */
int httpd_parse_listen(const char *listen, char *host, size_t host_len, int *port);

#endif
