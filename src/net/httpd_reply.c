/* httpd_reply: answers. The head (status line, Date, framing and Connection headers, the
 * handler's added headers) goes out with the body in one sendmsg through httpd_conn_send;
 * streams are chunked (HTTP/1.1) or closed at the end (HTTP/1.0). Also the JSON error bodies
 * in OpenAI's shape and the refusal of a request the server will not serve. When an answer is
 * complete the connection moves on (httpd_req_end); how its bytes get to the client is
 * httpd_conn.c's. The refusals are what httpd_conn.c and httpd_parse.c reach through h->cbs
 * (httpd_cbs): they never call this file by name. */
#include "net/httpd_int.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

static const char error_shape[] = "{\"error\":{\"message\":";

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

/* ---- answers ---- */

static void observe(struct httpd *h, const char *route, int status)
{
	if (h->observe && route)
		h->observe(route, status, h->observe_arg);
}

/* The head: status line and fixed headers on the stack, then the added ones, then the body. */
void httpd_send_head(struct httpd_req *r, int status, bool stream, const char *body, size_t len)
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
	httpd_conn_send(c, iov, k);
	buf_reset(&c->hdrs);
}

/* Called by every answering call when the request is answered: outside a dispatch the
 * connection moves on here (the next pipelined request runs from the deferred event). */
static void req_answered(struct conn *c)
{
	c->req.phase = P_DONE;
	c->close_pending = false;
	if (c->in_dispatch)
		return;
	httpd_req_end(c);
	if (c->in_cb)
		return;
	if (c->fd >= 0 && c->in_len && c->state == C_HEAD)
		httpd_conn_defer(c);
	httpd_conn_reap(c);
}

static bool answerable(const struct httpd_req *r, const char *what)
{
	if (r->phase == P_HELD)
		return true;
	log_warn("http: %s on a request that is %s (a bug)", what,
		 r->phase == P_STREAM ? "streaming" : "answered");
	return false;
}

static bool bad_byte(char ch, bool colon)
{
	return !ch || ch == '\r' || ch == '\n' || (colon && ch == ':');
}

/* Whether the n bytes at s hold CR, LF, NUL or (with colon) ':'. This runs twice for every
 * answer header, and a byte loop cost about 6 instructions a byte; so eight bytes at a time,
 * with one test for any byte below 14 (NUL, CR and LF are; (v - 14 * 0x01..) & ~v & 0x80..
 * finds them, and a colon as a zero byte of v ^ ':'), and the bytes themselves looked at only
 * in a word that test flags (a tab, say). The last word overlaps the one before it. */
static inline bool has_line_break(const char *s, size_t n, bool colon)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = ones << 7;
	size_t i, k;

	if (n < 8) {
		for (i = 0; i < n; i++)
			if (bad_byte(s[i], colon))
				return true;
		return false;
	}
	for (i = 0;; i += 8) {
		uint64_t v, c, hit;

		if (i + 8 > n)
			i = n - 8;
		memcpy(&v, s + i, 8);
		hit = (v - ones * 14) & ~v & highs;
		if (colon) {
			c = v ^ (ones * ':');
			hit |= (c - ones) & ~c & highs;
		}
		if (hit)
			for (k = i; k < i + 8; k++)
				if (bad_byte(s[k], colon))
					return true;
		if (i + 8 == n)
			return false;
	}
}

static void put_header(struct buf *b, const char *name, size_t name_len, const char *value,
		       size_t value_len)
{
	size_t n = name_len + value_len + 4;
	char *p;

	/* One room check and two copies where there is room (a router reply sets seven headers;
	 * four appends each, most names past buf_append's inline 16 bytes, were 1.0k
	 * instructions of the answer's way back). */
	if (buf_has_room(b, n)) {
		p = b->data + b->len;
		memcpy(p, name, name_len);
		p += name_len;
		*p++ = ':';
		*p++ = ' ';
		memcpy(p, value, value_len);
		p += value_len;
		*p++ = '\r';
		*p++ = '\n';
		*p = '\0';
		b->len += n;
		return;
	}
	buf_append(b, name, name_len);
	buf_append(b, ": ", 2);
	buf_append(b, value, value_len);
	buf_append(b, "\r\n", 2);
}

static void dropped(const char *name, size_t name_len)
{
	log_warn("http: dropped an answer header with a line break (%.*s)",
		 (int)(name_len < 32 ? name_len : 32), name);
}

void httpd_add_header_n(struct httpd_req *req, const char *name, size_t name_len, const char *value,
			size_t value_len)
{
	if (!name_len || has_line_break(name, name_len, true) ||
	    has_line_break(value, value_len, false)) {
		dropped(name, name_len);
		return;
	}
	put_header(&req->c->hdrs, name, name_len, value, value_len);
}

void httpd_add_header_lit(struct httpd_req *req, const char *name, size_t name_len,
			  const char *value, size_t value_len)
{
	if (has_line_break(value, value_len, false)) {
		dropped(name, name_len);
		return;
	}
	put_header(&req->c->hdrs, name, name_len, value, value_len);
}

void httpd_add_header(struct httpd_req *req, const char *name, const char *value)
{
	httpd_add_header_n(req, name, strlen(name), value, strlen(value));
}

void httpd_reply(struct httpd_req *req, int status, const char *content_type, const char *body,
		 size_t len)
{
	if (!answerable(req, "httpd_reply"))
		return;
	if (content_type)
		HTTPD_ADD_HEADER_LIT(req, "Content-Type", content_type, strlen(content_type));
	httpd_send_head(req, status, false, body, len);
	req_answered(req->c);
}

void httpd_reply_start(struct httpd_req *req, int status, const char *content_type)
{
	if (!answerable(req, "httpd_reply_start"))
		return;
	if (content_type)
		httpd_add_header(req, "Content-Type", content_type);
	httpd_send_head(req, status, true, NULL, 0);
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
	httpd_conn_send(c, iov, k);
}

void httpd_reply_end(struct httpd_req *req)
{
	struct conn *c = req->c;

	if (req->phase != P_STREAM) {
		log_warn("http: httpd_reply_end without httpd_reply_start (a bug)");
		return;
	}
	if (req->chunked && !req->head_only && c->fd >= 0)
		httpd_conn_send(c, &(struct iovec){(void *)"0\r\n\r\n", 5}, 1);
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
void httpd_refuse_request(struct conn *c, int status, const char *message)
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
	httpd_send_head(r, status, false, b.data, b.len);
	buf_finish(&b);
	r->phase = P_DONE;
	c->in_len = 0;
	c->req_bytes = 0;
	httpd_req_end(c);
}

/* A connection past the cap (httpd_conn.c accepts it to say so): a 503, then it closes. */
void httpd_refuse_connection(struct conn *c)
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
	httpd_send_head(r, 503, false, body, sizeof(body) - 1);
	r->phase = P_DONE;
	httpd_req_end(c);
}
