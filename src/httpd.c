/* httpd: evhttp with a route table. evhttp enforces the body and header caps itself (it
 * answers 413 and drops the connection) and the connection timeout; this module adds
 * routing, method checks and the JSON error shape. Streaming answers (SSE) use evhttp's
 * chunked replies directly from the handler's module.
 */
#include "httpd.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

struct route {
	unsigned methods;
	char *path;
	size_t prefix_len; /* 0 = exact match */
	httpd_handler fn;
	void *arg;
};

struct httpd {
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct route *routes;
	size_t n_routes;
	int port;
	httpd_observe_cb observe;
	void *observe_arg;
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
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
						    EVHTTP_REQ_HEAD);
	evhttp_set_gencb(h->http, dispatch, h);
	h->sock = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
	if (!h->sock) {
		snprintf(err, err_len, "cannot listen on %s: %s", o->listen, strerror(errno));
		evhttp_free(h->http);
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
	evhttp_free(h->http);
	for (i = 0; i < h->n_routes; i++)
		free(h->routes[i].path);
	free(h->routes);
	free(h);
}

int httpd_port(const struct httpd *h)
{
	return h->port;
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
