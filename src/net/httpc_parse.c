/* httpc_parse: the plain path's answer as it arrives: the status line, the header lines
 * (kept under HEADERS_CAP; Content-Length, Transfer-Encoding and Connection read), 1xx interim
 * answers skipped, then the body by Content-Length, chunked (decoded byte by byte, the
 * chunk-size line and the trailer capped) or up to the close, handed to the caller's callback
 * or buffer. State lives in struct plain, so an answer may be cut anywhere. It never reads a
 * socket or ends a request: httpc_plain.c does both with what httpc_parse() returns. */
#include "net/httpc_int.h"
#include "core/util.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#define CHUNK_LINE 1024 /* cap on a chunk-size line with its extensions */

/* An answer this path cannot read: an error (it was sent, so never handed to curl). */
static int bad_answer(struct httpc_req *r, const char *what)
{
	httpc_fail(r, HTTPC_TRANSPORT, "Bad HTTP answer from %s: %s", r->pl->key, what);
	return -1;
}

static int deliver(struct httpc_req *r, const char *d, size_t n)
{
	if (!n)
		return 0;
	if (r->on_data) {
		if (r->on_data(r, d, n, r->arg) < 0 && r->pending == HTTPC_OK) {
			r->pending = HTTPC_CANCELLED;
			r->error = "cancelled";
		}
	} else if (buf_append(&r->resp, d, n) < 0 && r->pending == HTTPC_OK) {
		r->pending = HTTPC_TOO_BIG;
		r->error = "response body over the cap";
	}
	return r->pending == HTTPC_OK ? 0 : -1;
}

static bool name_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' && ascii_case_eq_n(line, name, n);
}

static int status_line(struct httpc_req *r, const char *s, size_t len)
{
	struct plain *p = r->pl;

	if (len < 12 || strncmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') ||
	    s[8] != ' ' || s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' ||
	    s[11] > '9' || (len > 12 && s[12] != ' ')) {
		return bad_answer(r, "status line");
	}
	p->http10 = s[7] == '0';
	r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	return 0;
}

static int header_line(struct httpc_req *r, const char *s, size_t len)
{
	struct plain *p = r->pl;
	const char *v, *colon = memchr(s, ':', len);
	size_t vlen;
	uint64_t n = 0;

	if (!colon || s[0] == ' ' || s[0] == '\t') {
		return bad_answer(r, "header line");
	}
	v = colon + 1;
	while (v < s + len && (*v == ' ' || *v == '\t'))
		v++;
	vlen = (size_t)(s + len - v);
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (name_is(s, len, "Content-Length")) {
		size_t i;

		for (i = 0; i < vlen && v[i] >= '0' && v[i] <= '9' && i < 18; i++)
			n = n * 10 + (uint64_t)(v[i] - '0');
		if (!vlen || i != vlen || (p->has_len && n != p->left)) {
			return bad_answer(r, "Content-Length");
		}
		p->has_len = true;
		p->left = n;
	} else if (name_is(s, len, "Transfer-Encoding")) {
		if (vlen != 7 || !ascii_case_eq_n(v, "chunked", 7)) {
			return bad_answer(r, "Transfer-Encoding");
		}
		p->chunked = true;
	} else if (name_is(s, len, "Connection")) {
		size_t i;

		for (i = 0; i + 5 <= vlen; i++)
			if (ascii_case_eq_n(v + i, "close", 5))
				p->keep = false;
	}
	return 0;
}

/* The blank line: what kind of body follows. */
static int head_end(struct httpc_req *r)
{
	struct plain *p = r->pl;

	if (r->status == 101) {
		return bad_answer(r, "101 Switching Protocols");
	}
	if (r->status < 200) { /* an interim answer: the real one follows */
		buf_reset(&r->hdrs);
		p->line_start = 0;
		p->line_no = 0;
		p->has_len = p->chunked = false;
		p->keep = true;
		return 0;
	}
	if (p->http10 || (p->chunked && p->has_len))
		p->keep = false; /* both lengths: framing is in doubt, never reuse */
	if (r->status == 204 || r->status == 304) {
		p->st = P_DONE;
	} else if (p->chunked) {
		p->st = P_CHUNK_SIZE;
		p->line_len = 0;
		p->left = 0;
		p->digits = 0;
		p->ext = p->cr = false;
	} else if (p->has_len) {
		p->st = p->left ? P_BODY : P_DONE;
		/* One allocation for a body of known length, up to 64 KiB (the cap bounds it
		 * too); a larger one still grows as it arrives, so a lying length costs nothing. */
		if (!r->on_data && p->left)
			buf_reserve(&r->resp, p->left < 65536 ? (size_t)p->left : 65536);
	} else {
		p->st = P_BODY;
		p->until_close = true;
		p->keep = false;
	}
	return 0;
}

static int parse_head(struct httpc_req *r, const char **d, size_t *n)
{
	struct plain *p = r->pl;

	while (*n && p->st == P_HEAD) {
		const char *nl = memchr(*d, '\n', *n), *line;
		size_t take = nl ? (size_t)(nl - *d) + 1 : *n, len;

		if (buf_append(&r->hdrs, *d, take) < 0) {
			httpc_fail(r, HTTPC_TOO_BIG, "response headers over the cap");
			return -1;
		}
		*d += take;
		*n -= take;
		if (!nl)
			return 0;
		line = buf_str(&r->hdrs) + p->line_start;
		len = r->hdrs.len - p->line_start - 1;
		if (len && line[len - 1] == '\r')
			len--;
		p->line_start = r->hdrs.len;
		if (p->line_no++ == 0) {
			if (status_line(r, line, len) < 0)
				return -1;
		} else if (len == 0) {
			if (head_end(r) < 0)
				return -1;
		} else if (header_line(r, line, len) < 0) {
			return -1;
		}
	}
	return 0;
}

/* One byte of a chunk-size line, the CRLF after a chunk's data, or the trailer. */
static int chunk_byte(struct httpc_req *r, char c)
{
	struct plain *p = r->pl;
	int h;

	if (p->st == P_CHUNK_END) {
		if (c == '\r' && !p->cr) {
			p->cr = true;
			return 0;
		}
		if (c != '\n')
			return -1;
		p->cr = p->ext = false;
		p->digits = 0;
		p->line_len = 0;
		p->st = P_CHUNK_SIZE;
		return 0;
	}
	if (p->st == P_TRAILER) { /* left counts the trailer's bytes */
		if (++p->left > HEADERS_CAP)
			return -1;
		if (c == '\n') {
			if (!p->line_len)
				p->st = P_DONE;
			p->line_len = 0;
		} else if (c != '\r') {
			p->line_len++;
		}
		return 0;
	}
	if (++p->line_len > CHUNK_LINE)
		return -1;
	if (c == '\n') {
		if (!p->digits)
			return -1;
		p->st = p->left ? P_CHUNK_DATA : P_TRAILER;
		p->line_len = 0;
		p->cr = false;
		return 0;
	}
	if (p->cr)
		return -1;
	if (c == '\r') {
		p->cr = true;
		return 0;
	}
	if (p->ext)
		return 0;
	if (c == ';') {
		p->ext = true;
		return 0;
	}
	h = hex_digit(c);
	if (h < 0 || p->left >> 59)
		return -1;
	p->left = p->left * 16 + (uint64_t)h;
	p->digits++;
	return 0;
}

/* Everything that arrived; -1 when the request ended with an error (pending is set). */
int httpc_parse(struct httpc_req *r, const char *d, size_t n)
{
	struct plain *p = r->pl;

	httpc_mark_first_byte(r);
	if (p->st == P_HEAD && parse_head(r, &d, &n) < 0)
		return -1;
	while (n && p->st != P_DONE && p->st != P_HEAD) {
		size_t take;

		if (p->st == P_BODY || p->st == P_CHUNK_DATA) {
			take = p->until_close || p->left > n ? n : (size_t)p->left;
			if (!p->until_close)
				p->left -= take;
			if (deliver(r, d, take) < 0)
				return -1;
			if (!p->left && !p->until_close)
				p->st = p->st == P_BODY ? P_DONE : P_CHUNK_END;
			if (p->st == P_CHUNK_END)
				p->cr = false;
		} else {
			take = 1;
			if (chunk_byte(r, *d) < 0) {
				return bad_answer(r, "chunked encoding");
			}
		}
		d += take;
		n -= take;
	}
	if (p->st == P_DONE && n)
		p->keep = false; /* bytes past the answer: the connection is out of step */
	return 0;
}
