/* httpd_parse: a request as it arrives, parsed in place in the connection's input buffer: the
 * head (request line, header lines cut with NULs and kept as offsets, the framing headers:
 * Content-Length, Transfer-Encoding, Connection, Expect), refused with the right status when
 * malformed or over the caps (answered through h->cbs, httpd_reply.c's refusal), and a chunked
 * body decoded in place as its chunks arrive. It reads no socket and runs no handler:
 * httpd_conn.c calls it with what has arrived. */
#include "net/httpd_int.h"
#include "core/util.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110's tchar (ALPHA, DIGIT, "!#$%&'*+-.^_`|~"), a byte a lookup: it runs for every
 * byte of every header name (a strchr per byte was a sixth of the head's parse, a bitmap test
 * with the loop's bound a tenth of it). NUL is not one, so a loop over a cut line stops at its
 * end without a bound. */
#define TCHAR_DIGITS                                                                               \
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,    \
	['8'] = 1, ['9'] = 1
#define TCHAR_UPPER                                                                                \
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,    \
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,    \
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,    \
	['Y'] = 1, ['Z'] = 1
#define TCHAR_LOWER                                                                                \
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,    \
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,    \
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,    \
	['y'] = 1, ['z'] = 1
static const unsigned char tchar[256] = {
	TCHAR_DIGITS, TCHAR_UPPER, TCHAR_LOWER, ['!'] = 1, ['#'] = 1, ['$'] = 1,
	['%'] = 1,    ['&'] = 1,   ['\''] = 1,	['*'] = 1, ['+'] = 1, ['-'] = 1,
	['.'] = 1,    ['^'] = 1,   ['_'] = 1,	['`'] = 1, ['|'] = 1, ['~'] = 1,
};

static bool is_tchar(unsigned char ch)
{
	return tchar[ch];
}

/* The first byte equal to ch in [p, end), or NULL: eight bytes a step (the zero-byte test of
 * "Bit Twiddling Hacks" after an XOR; its lowest flagged byte is exact). A head's lines are
 * short, and musl's memchr and strchr, with their alignment prologues, were a quarter of the
 * head's parse, once to find each line's end and again to cut it. */
static inline const char *byte_in(const char *p, const char *end, char ch)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t w, m;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (end - p >= 8) {
		memcpy(&w, p, 8);
		w ^= ones * (unsigned char)ch;
		m = (w - ones) & ~w & high;
		if (m)
			return p + (__builtin_ctzll(m) >> 3);
		p += 8;
	}
#endif
	(void)w, (void)m;
	for (; p < end; p++)
		if (*p == ch)
			return p;
	return NULL;
}

/* Offset just past the blank line ending the head, or 0 when it has not arrived (c->scan
 * remembers where to look next). */
static size_t head_end(struct conn *c)
{
	const char *d = c->in, *p;
	size_t k = c->scan, len = c->in_len;

	while (k < len && (p = byte_in(d + k, d + len, '\n'))) {
		k = (size_t)(p - d);
		if (k + 1 >= len || (d[k + 1] == '\r' && k + 2 >= len)) {
			c->scan = k;
			return 0;
		}
		if (d[k + 1] == '\n')
			return k + 2;
		if (d[k + 1] == '\r' && d[k + 2] == '\n')
			return k + 3;
		k++;
	}
	c->scan = len;
	return 0;
}

/* Cuts the line starting at *pos (ending at LF, CR LF, before d + end: every line of the
 * head has its LF) into a string; returns its start. */
static char *next_line(char *d, size_t end, size_t *pos, size_t *len)
{
	char *s = d + *pos, *lf = (char *)byte_in(s, d + end, '\n');
	size_t n = (size_t)(lf - s);

	*pos += n + 1;
	if (n && s[n - 1] == '\r')
		n--;
	s[n] = '\0';
	*len = n;
	return s;
}

static unsigned method_of(const char *m, size_t n)
{
	static const struct {
		const char *name;
		unsigned bit;
	} table[] = {{"GET", HTTPD_GET},
		     {"POST", HTTPD_POST},
		     {"DELETE", HTTPD_DELETE},
		     {"HEAD", HTTPD_HEAD}};
	size_t i;

	for (i = 0; i < ARRAY_LEN(table); i++)
		if (strlen(table[i].name) == n && memcmp(table[i].name, m, n) == 0)
			return table[i].bit;
	for (i = 0; i < n; i++)
		if (!is_tchar((unsigned char)m[i]))
			return 0;
	return n ? HTTPD_OTHER : 0;
}

/* "METHOD SP target SP HTTP/1.x"; 0 or the status to refuse with. */
static int parse_request_line(struct conn *c, char *line, size_t len, const char **why)
{
	struct httpd_req *r = &c->req;
	char *sp1 = memchr(line, ' ', len), *t, *sp2, *q;
	size_t i;

	*why = "malformed request line";
	if (!sp1)
		return 400;
	r->method = method_of(line, (size_t)(sp1 - line));
	t = sp1 + 1;
	sp2 = strchr(t, ' ');
	if (!r->method || !sp2 || sp2 == t)
		return 400;
	*sp2 = '\0';
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || !strchr("01", sp2[8]) || !sp2[8] || sp2[9]) {
		*why = "only HTTP/1.0 and HTTP/1.1 are served";
		return strncmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
	}
	r->minor = sp2[8] - '0';
	for (i = 0; t[i]; i++)
		if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f)
			return 400;
	/* absolute-form (a proxy's): the path of it */
	if (*t != '/' &&
	    (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0)) {
		char *slash = strchr(strstr(t, "//") + 2, '/');

		if (!slash)
			return 400;
		t = slash;
	}
	if (*t != '/') {
		*why = "the request target must be a path";
		return 400;
	}
	r->uri = (uint32_t)(t - c->in);
	q = strchr(t, '?');
	if (q) {
		r->query = (uint32_t)(q + 1 - c->in);
		r->path = xstrndup(t, (size_t)(q - t));
	}
	r->head_only = r->method == HTTPD_HEAD;
	return 0;
}

static bool has_token(const char *v, const char *token)
{
	size_t n = strlen(token);

	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (ascii_case_eq_n(v, token, n) &&
		    (v[n] == '\0' || v[n] == ',' || v[n] == ' ' || v[n] == '\t'))
			return true;
		while (*v && *v != ',')
			v++;
	}
	return false;
}

/* The 413's words: what was too large, the limit and the key that sets it. len 0: unknown
 * (a chunked body). In c->why. */
static const char *too_large(struct conn *c, uint64_t len)
{
	const struct httpd *h = c->h;
	int n = 0;

	if (len)
		n = snprintf(c->why, sizeof(c->why), "request body too large: %llu bytes, over ",
			     (unsigned long long)len);
	else
		n = snprintf(c->why, sizeof(c->why), "request body too large: over ");
	snprintf(c->why + n, sizeof(c->why) - (size_t)n, "the limit of %zu bytes%s%s%s",
		 h->max_body, *h->max_body_key ? " (" : "", h->max_body_key,
		 *h->max_body_key ? ")" : "");
	return c->why;
}

/* The headers that shape the exchange. 0 or the status to refuse with. */
static int read_framing(struct conn *c, const char **why)
{
	struct httpd_req *r = &c->req;
	bool have_len = false, conn_close_tok = false, conn_keep = false;
	int64_t cl = 0, v;
	unsigned i;

	for (i = 0; i < r->n_hdrs; i++) {
		const char *name = c->in + r->hdrs[i].name, *val = c->in + r->hdrs[i].value;
		char first = (char)(*name | 0x20);

		/* The first letter first: most headers (Host, Authorization, User-Agent...) are
		 * none of these. */
		if (first != 'c' && first != 't' && first != 'e')
			continue;
		if (ascii_case_eq(name, "Content-Length")) {
			if (parse_i64(val, 0, INT64_MAX, &v) < 0 || !(*val >= '0' && *val <= '9') ||
			    (have_len && v != cl)) {
				*why = "invalid Content-Length";
				return 400;
			}
			have_len = true;
			cl = v;
		} else if (ascii_case_eq(name, "Transfer-Encoding")) {
			*why = "only the chunked transfer coding is understood";
			if (!ascii_case_eq(val, "chunked") || r->chunked_in)
				return 501;
			r->chunked_in = true;
		} else if (ascii_case_eq(name, "Connection")) {
			conn_close_tok |= has_token(val, "close");
			conn_keep |= has_token(val, "keep-alive");
		} else if (ascii_case_eq(name, "Expect")) {
			if (!ascii_case_eq(val, "100-continue")) {
				*why = "only Expect: 100-continue is understood";
				return 417;
			}
			r->expect = true;
		}
	}
	if (r->chunked_in && have_len) {
		*why = "both Content-Length and Transfer-Encoding";
		return 400;
	}
	if ((uint64_t)cl > c->h->max_body) {
		*why = too_large(c, (uint64_t)cl);
		return 413;
	}
	r->body_len = (size_t)cl;
	r->raw_len = r->head_len + r->body_len;
	c->keep_alive = r->minor >= 1 ? !conn_close_tok : conn_keep && !conn_close_tok;
	return 0;
}

/* 1: the head of the request at the start of the input is parsed; 0: more bytes are needed;
 * -1: refused (answered, closing). */
int httpd_parse_head(struct conn *c)
{
	struct httpd_req *r = &c->req;
	size_t end, pos = 0, i = 0, n;
	const char *why = "malformed header line";
	char *line;
	int status;

	while (i < c->in_len && (c->in[i] == '\r' || c->in[i] == '\n'))
		i++;
	if (i) {
		memmove(c->in, c->in + i, c->in_len - i);
		c->in_len -= i;
		c->scan = 0;
	}
	end = c->in_len ? head_end(c) : 0;
	if (!end || end > c->h->max_header) {
		if (end || c->in_len > c->h->max_header) {
			c->h->cbs->refuse_request(c, 431, "request head too large");
			return -1;
		}
		return 0;
	}
	if (byte_in(c->in, c->in + end, '\0')) {
		c->h->cbs->refuse_request(c, 400, "NUL byte in the request head");
		return -1;
	}
	memset(r, 0, offsetof(struct httpd_req, hdrs));
	r->c = c;
	r->n_hdrs = 0;
	r->head_len = end;
	line = next_line(c->in, end, &pos, &n);
	status = parse_request_line(c, line, n, &why);
	while (!status && pos < end) {
		char *colon, *v, *e;

		line = next_line(c->in, end, &pos, &n);
		if (!n)
			break;
		/* The name's tchars; ':' is not one, so where they stop is the first colon unless
		 * a byte that is neither came first (searched on from there, for the status). */
		for (v = line; is_tchar((unsigned char)*v); v++) /* line[n] is its NUL */
			;
		colon = v < line + n && *v == ':' ? v : memchr(v, ':', (size_t)(line + n - v));
		if (*line == ' ' || *line == '\t' || !colon || colon == line) {
			status = 400;
			break;
		}
		if (colon != v)
			status = 400;
		if (r->n_hdrs == MAX_HEADERS) {
			why = "too many header lines";
			status = 431;
		}
		if (status)
			break;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (e = line + n; e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		r->hdrs[r->n_hdrs].name = (uint32_t)(line - c->in);
		r->hdrs[r->n_hdrs++].value = (uint32_t)(v - c->in);
	}
	if (!status)
		status = read_framing(c, &why);
	if (status) {
		free(r->path);
		r->path = NULL;
		c->h->cbs->refuse_request(c, status, why);
		return -1;
	}
	return 1;
}

/* Offset of the next LF at or after pos, or 0 when none has arrived. */
static size_t lf_at(const struct conn *c, size_t pos)
{
	const char *lf = pos < c->in_len ? memchr(c->in + pos, '\n', c->in_len - pos) : NULL;

	return lf ? (size_t)(lf - c->in) : 0;
}

/* A chunk-size line up to its LF (line[len] is the LF): 1-16 hex digits, then ";ext" or
 * nothing, then CR. Nothing else: no sign, space, "0x" or bare LF (strtoll took them all, and
 * skipped the line's own CR LF into the bytes after it). 0 or -1. */
static int chunk_size(const char *line, size_t len, uint64_t *size)
{
	size_t i;

	if (!len || line[len - 1] != '\r')
		return -1;
	len--;
	*size = 0;
	for (i = 0; i < len; i++) {
		int v = hex_digit(line[i]);

		if (v < 0)
			break;
		if (i == 16)
			return -1;
		*size = *size * 16 + (uint64_t)v;
	}
	if (!i || (i < len && line[i] != ';'))
		return -1;
	return memchr(line + i, '\r', len - i) ? -1 : 0;
}

/* Decodes the chunked body that has arrived so far in place, to just after the head. 1: the
 * body is complete; 0: more bytes are needed; -1: refused (answered, closing). */
static int dechunk_pass(struct conn *c)
{
	struct httpd_req *r = &c->req;
	size_t lf, n;
	uint64_t size;

	for (;;) {
		switch (r->ch_state) {
		case CH_SIZE:
			lf = lf_at(c, r->ch_pos);
			if (!lf) {
				if (c->in_len - r->ch_pos > 1024)
					goto bad;
				return 0;
			}
			if (chunk_size(c->in + r->ch_pos, lf - r->ch_pos, &size) < 0)
				goto bad;
			if (size > c->h->max_body - r->body_len) {
				c->h->cbs->refuse_request(c, 413, too_large(c, 0));
				return -1;
			}
			r->ch_pos = lf + 1;
			r->ch_left = (size_t)size;
			r->ch_state = size ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA:
			n = c->in_len - r->ch_pos;
			if (n > r->ch_left)
				n = r->ch_left;
			memmove(c->in + r->head_len + r->body_len, c->in + r->ch_pos, n);
			r->body_len += n;
			r->ch_pos += n;
			r->ch_left -= n;
			if (r->ch_left)
				return 0;
			r->ch_state = CH_DATA_END;
			break;
		case CH_DATA_END:
			lf = lf_at(c, r->ch_pos);
			if (!lf && c->in_len - r->ch_pos < 2)
				return 0;
			if (!lf || lf - r->ch_pos > 1 ||
			    (lf > r->ch_pos && c->in[r->ch_pos] != '\r'))
				goto bad;
			r->ch_pos = lf + 1;
			r->ch_state = CH_SIZE;
			break;
		case CH_TRAILER:
			lf = lf_at(c, r->ch_pos);
			if (!lf) {
				if (r->ch_left + c->in_len - r->ch_pos > c->h->max_header)
					goto bad;
				return 0;
			}
			n = lf - r->ch_pos;
			r->ch_pos = lf + 1;
			r->ch_left += n + 1;
			if (n == 0 || (n == 1 && c->in[lf - 1] == '\r')) {
				r->raw_len = r->ch_pos;
				return 1;
			}
			if (r->ch_left > c->h->max_header)
				goto bad;
			break;
		}
	}
bad:
	c->h->cbs->refuse_request(c, 400, "malformed chunked body");
	return -1;
}

/* Raw bytes a chunked body may take: 1-byte chunks cost 6 ("1\r\nX\r\n"), so every body
 * within max_body fits; what is past it is chunk extensions (work for nothing). */
static size_t chunked_raw_cap(const struct httpd *h)
{
	return h->max_body > SIZE_MAX / 16 ? SIZE_MAX : 8 * h->max_body + h->max_header;
}

/* dechunk_pass, then the undecoded tail moves down to the end of the decoded body: the input
 * holds the head, the body and at most one chunk line (or the trailer) however the body is cut
 * into chunks. */
int httpd_dechunk(struct conn *c)
{
	struct httpd_req *r = &c->req;
	size_t from = r->ch_pos, to;
	int rc = dechunk_pass(c);

	if (rc)
		return rc;
	r->ch_raw += r->ch_pos - from;
	if (r->ch_raw > chunked_raw_cap(c->h)) {
		c->h->cbs->refuse_request(c, 413, "chunked request body too large on the wire");
		return -1;
	}
	to = r->head_len + r->body_len;
	memmove(c->in + to, c->in + r->ch_pos, c->in_len - r->ch_pos);
	c->in_len = to + c->in_len - r->ch_pos;
	r->ch_pos = to;
	return 0;
}
