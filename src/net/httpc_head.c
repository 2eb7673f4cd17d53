/* httpc_head: which requests take the plain path, and their request head. A request goes
 * there only when curl would send exactly what this path sends: http:// to a numeric address
 * written as inet_ntop writes it, no proxy variable, no upload from a file, a method and custom
 * headers curl would pass unchanged. The head is written as curl writes it (request line,
 * Host, User-Agent, Accept, the custom lines, Content-Length). Custom lines can be checked and
 * laid out once (httpc_headers_prepare) for requests that share them. Sending the head is
 * httpc_plain.c's. */
#include "net/httpc_int.h"
#include "config_build.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int plain_mode = -1; /* -1 = not read yet; 0 = curl only (HERMETIC_HTTPC_CURL_ONLY=1) */

/* An IPv4 address as inet_ntop writes it (musl's uses snprintf, a tenth of a request). */
static void ipv4_text(const struct in_addr *a, char *out)
{
	const unsigned char *b = (const unsigned char *)&a->s_addr;
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		n += fmt_uint(out + n, b[i], 10);
		out[n++] = i < 3 ? '.' : '\0';
	}
}

/* t->host as a socket address, when it is a numeric one written as inet_ntop writes it. */
static int plain_addr(struct target *t)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t->sa;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&t->sa;
	bool v6 = t->host[0] == '[';
	int af = v6 ? AF_INET6 : AF_INET;
	void *addr = v6 ? (void *)&a6->sin6_addr : (void *)&a4->sin_addr;
	char host[INET6_ADDRSTRLEN], back[INET6_ADDRSTRLEN];
	size_t hl = t->host_len - (v6 ? 2 : 0);

	if (t->host_len < (v6 ? 4u : 1u) || hl >= sizeof(host) || (v6 && t->host[hl + 1] != ']'))
		return -1;
	memcpy(host, t->host + v6, hl);
	host[hl] = '\0';
	memset(&t->sa, 0, sizeof(t->sa));
	if (inet_pton(af, host, addr) != 1)
		return -1;
	if (!v6)
		ipv4_text(addr, back);
	else if (!inet_ntop(af, addr, back, sizeof(back)))
		return -1;
	if (strcmp(host, back) != 0)
		return -1;
	t->sa.ss_family = (sa_family_t)af;
	/* sin_port and sin6_port sit at the same offset */
	a4->sin_port = htons((uint16_t)t->port);
	t->sa_len = v6 ? sizeof(*a6) : sizeof(*a4);
	return 0;
}

/* The last authority ("host[:port]") plain_url accepted and what it read from it, per thread:
 * a router sends every request of a deployment to the same one, and reading the address
 * (inet_pton, then inet_ntop's text to compare, the port) was half of plain_url. */
#define MEMO_MAX 64
static _Thread_local struct {
	char text[MEMO_MAX];
	size_t len; /* 0 = none */
	struct sockaddr_storage sa;
	socklen_t sa_len;
	size_t host_len;
	unsigned port;
} memo;

/* http://<IPv4 or [IPv6], written as inet_ntop writes it>[:port]<path>, nothing curl would
 * rewrite (user info, fragment, dot segments, bytes it would refuse or encode). */
static int plain_url(const char *url, struct target *t)
{
	const char *h = url + 7, *end = NULL, *colon, *s;
	size_t auth_len;
	unsigned long port = 80;

	if (strncmp(url, "http://", 7) != 0)
		return -1;
	/* One pass (it runs on every request): printable ASCII only, no fragment, no "/." in
	 * the path; the authority ends at the first '/', '?' or the string's end. */
	for (s = h; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || c == '#' || (c == '/' && s[1] == '.'))
			return -1;
		if (!end && (c == '/' || c == '?'))
			end = s;
	}
	if (!end)
		end = s;
	auth_len = (size_t)(end - h);
	t->path = end;
	if (auth_len && auth_len == memo.len && memcmp(h, memo.text, auth_len) == 0) {
		memcpy(&t->sa, &memo.sa, sizeof(t->sa));
		t->sa_len = memo.sa_len;
		t->host = h;
		t->host_len = memo.host_len;
		t->port = memo.port;
		return 0;
	}
	if (memchr(h, '@', auth_len))
		return -1;
	colon = h[0] == '[' ? memchr(h, ']', (size_t)(end - h)) : h;
	if (!colon)
		return -1;
	colon = memchr(colon, ':', (size_t)(end - colon));
	t->host = h;
	t->host_len = (size_t)((colon ? colon : end) - h);
	if (colon) {
		char *e;

		if (colon + 1 == end || colon[1] < '0' || colon[1] > '9')
			return -1;
		port = strtoul(colon + 1, &e, 10);
		if (e != end || port == 0 || port > 65535)
			return -1;
	}
	t->port = (unsigned)port;
	if (plain_addr(t) < 0)
		return -1;
	if (auth_len < MEMO_MAX) {
		memcpy(memo.text, h, auth_len);
		memo.len = auth_len;
		memcpy(&memo.sa, &t->sa, sizeof(memo.sa));
		memo.sa_len = t->sa_len;
		memo.host_len = t->host_len;
		memo.port = t->port;
	}
	return 0;
}

/* A custom header line's name is name ("Name:" or "Name;"). */
static bool hdr_named(const char *line, const char *name)
{
	size_t n = strlen(name);

	return strncasecmp(line, name, n) == 0 && (line[n] == ':' || line[n] == ';');
}

static bool has_hdr(const char *const *hs, const char *name)
{
	size_t i;

	for (i = 0; hs && hs[i]; i++)
		if (hdr_named(hs[i], name))
			return true;
	return false;
}

/* Custom headers curl would send as they are: no line breaks, a name, and none of the ones
 * curl handles itself (Expect, Transfer-Encoding, Content-Length) or that would change the
 * connection (Connection, Upgrade). */
static bool plain_headers(const char *const *hs)
{
#define OWN(name) name, sizeof(name) - 1 /* a literal and its length */
	static const struct {
		const char *s;
		size_t n;
	} own[] = {{OWN("Expect")},	{OWN("Transfer-Encoding")}, {OWN("Content-Length")},
		   {OWN("Connection")}, {OWN("Upgrade")},	    {OWN("Proxy-Connection")}};
#undef OWN
	size_t i, j;

	for (i = 0; hs && hs[i]; i++) {
		const char *h = hs[i], *semi, *c;
		size_t name = strcspn(h, ":;");

		for (c = h; *c && *c != '\r' && *c != '\n'; c++)
			;
		if (!name || !h[name] || *c || memchr(h, ' ', name))
			return false;
		/* curl looks for ':' first; "Name;" only counts with nothing after it */
		semi = h + name;
		if (*semi == ';' && (strchr(semi, ':') || semi[strspn(semi + 1, " \t") + 1]))
			return false;
		/* hdr_named, with the length compared first (this runs for every request) */
		for (j = 0; j < ARRAY_LEN(own); j++)
			if (name == own[j].n && strncasecmp(h, own[j].s, name) == 0)
				return false;
	}
	return true;
}

/* What httpc_plain_ok and httpc_plain_head work out from a set of custom lines (see
 * httpc_headers_prepare). */
struct httpc_headers {
	const char *const *src;		 /* the lines it was made from */
	bool plain;			 /* plain_headers(src) */
	bool host, agent, accept, ctype; /* has_hdr(src, "Host") ... "Content-Type" */
	char *lines; /* the custom part of the head, as httpc_plain_head writes it */
	size_t lines_len;
};

/* Where a head is written: a fixed room first (the head of a plain request, in its struct
 * plain: no malloc for it), a buffer once the room is too small. */
struct out {
	char *room;
	size_t len, cap; /* in room; cap 0: no room, b from the first byte */
	struct buf b;
	bool grown; /* the bytes are in b */
};

static void put_custom_lines(struct out *o, const char *const *hs);

/* The bytes written, malloc'd (NUL-terminated, never NULL); *len their length. */
static char *out_steal(struct out *o, size_t *len)
{
	if (!o->grown) {
		*len = o->len;
		return xstrndup(o->room ? o->room : "", o->len);
	}
	*len = o->b.len;
	return buf_steal(&o->b);
}

struct httpc_headers *httpc_headers_prepare(const char *const *hs)
{
	struct httpc_headers *h = xcalloc(1, sizeof(*h));
	struct out o = {0};

	h->src = hs;
	h->plain = plain_headers(hs);
	h->host = has_hdr(hs, "Host");
	h->agent = has_hdr(hs, "User-Agent");
	h->accept = has_hdr(hs, "Accept");
	h->ctype = has_hdr(hs, "Content-Type");
	if (h->plain)
		put_custom_lines(&o, hs);
	h->lines = out_steal(&o, &h->lines_len);
	return h;
}

void httpc_headers_free(struct httpc_headers *h)
{
	if (!h)
		return;
	free(h->lines);
	free(h);
}

/* The prepared form of o's lines, when o has one made from them. */
static const struct httpc_headers *prepared_of(const struct httpc_opts *o)
{
	return o->prepared && o->prepared->src == o->headers ? o->prepared : NULL;
}

static bool plain_method(const char *m)
{
	const char *s;

	if (strcmp(m, "HEAD") == 0 || !*m)
		return false;
	for (s = m; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_'))
			return false;
	return true;
}

bool httpc_plain_ok(const struct httpc_opts *o, struct target *t)
{
	const char *method = o->method ? o->method : (o->body ? "POST" : "GET");

	if (plain_mode < 0) {
		const char *v = getenv("HERMETIC_HTTPC_CURL_ONLY");

		plain_mode = !(v && strcmp(v, "1") == 0);
	}
	if (!plain_mode || o->upload_len > 0 || !plain_method(method) ||
	    (!o->body && strcmp(method, "GET") != 0) ||
	    !(prepared_of(o) ? prepared_of(o)->plain : plain_headers(o->headers)))
		return false;
	if (!o->check_addr && httpc_http_proxied())
		return false;
	return plain_url(o->url, t) == 0;
}

/* put past the room: the bytes so far move to a buffer, which takes the rest. */
static void put_grown(struct out *o, const char *s, size_t n)
{
	if (!o->grown) {
		buf_init(&o->b, 0);
		buf_reserve(&o->b, o->len + n + 256);
		buf_append(&o->b, o->room, o->len);
		o->grown = true;
	}
	buf_append(&o->b, s, n);
}

static inline void put(struct out *o, const char *s, size_t n)
{
	if (!o->grown && n < o->cap - o->len) {
		memcpy(o->room + o->len, s, n);
		o->len += n;
		return;
	}
	put_grown(o, s, n);
}

static void put_s(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* A string literal, its length known. */
#define PUT_LIT(o, lit) put(o, lit, sizeof(lit) - 1)

static void put_u(struct out *o, unsigned long long u)
{
	char tmp[INT_TEXT_MAX];

	put(o, tmp, fmt_uint(tmp, u, 10));
}

/* The custom lines as they go in the head: "Name:" alone drops one of ours (nothing is
 * written), "Name;" sends it empty. */
static void put_custom_lines(struct out *o, const char *const *hs)
{
	size_t i;

	for (i = 0; hs && hs[i]; i++) {
		const char *h = hs[i], *sep = h + strcspn(h, ":;"), *v = sep + 1;

		while (*v == ' ' || *v == '\t')
			v++;
		if (*sep == ':' && !*v)
			continue;
		put(o, h, (size_t)(sep - h));
		if (*sep == ';') {
			PUT_LIT(o, ":\r\n");
			continue;
		}
		put_s(o, sep);
		PUT_LIT(o, "\r\n");
	}
}

/* The head curl would write: request line, Host (no port for 80), User-Agent, Accept, the
 * custom lines ("Name:" alone drops one of ours, "Name;" sends it empty), then Content-Length
 * and curl's default Content-Type for a body. */
void httpc_plain_head(struct httpc_req *r, const struct httpc_opts *o, const struct target *t,
		      const char *method)
{
	const char *const *hs = o->headers;
	const struct httpc_headers *pre = prepared_of(o);
	struct out b = {.room = r->pl->head_room, .cap = sizeof(r->pl->head_room)};

	put_s(&b, method);
	put(&b, " ", 1);
	if (*t->path != '/')
		put(&b, "/", 1);
	put_s(&b, t->path);
	PUT_LIT(&b, " HTTP/1.1\r\n");
	if (!(pre ? pre->host : has_hdr(hs, "Host"))) {
		PUT_LIT(&b, "Host: ");
		put(&b, t->host, t->host_len);
		if (t->port != 80) {
			put(&b, ":", 1);
			put_u(&b, t->port);
		}
		PUT_LIT(&b, "\r\n");
	}
	if (!(pre ? pre->agent : has_hdr(hs, "User-Agent")))
		PUT_LIT(&b, "User-Agent: hermetic/" HERMETIC_VERSION "\r\n");
	if (!(pre ? pre->accept : has_hdr(hs, "Accept")))
		PUT_LIT(&b, "Accept: */*\r\n");
	if (pre)
		put(&b, pre->lines, pre->lines_len);
	else
		put_custom_lines(&b, hs);
	if (o->body) {
		PUT_LIT(&b, "Content-Length: ");
		put_u(&b, o->body_len);
		PUT_LIT(&b, "\r\n");
		if (!(pre ? pre->ctype : has_hdr(hs, "Content-Type")))
			PUT_LIT(&b, "Content-Type: application/x-www-form-urlencoded\r\n");
	}
	PUT_LIT(&b, "\r\n");
	if (b.grown) {
		r->pl->head_len = b.b.len;
		r->pl->head = buf_steal(&b.b);
	} else {
		r->pl->head_len = b.len;
		r->pl->head = b.room;
	}
}

/* "<host> port <n>" into key (PLAIN_KEY bytes), the host cut to fit, as snprintf would write
 * it; without printf, since it runs on every request. */
void httpc_pool_key(char *key, const struct target *t)
{
	char num[INT_TEXT_MAX];
	size_t nn = fmt_int(num, t->port), hl = t->host_len;

	if (hl > PLAIN_KEY - 6 - nn - 1)
		hl = PLAIN_KEY - 6 - nn - 1;
	memcpy(key, t->host, hl);
	memcpy(key + hl, " port ", 6);
	memcpy(key + hl + 6, num, nn);
	key[hl + 6 + nn] = '\0';
}
