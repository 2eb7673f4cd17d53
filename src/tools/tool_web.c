/* tool_web: web_fetch, an HTTP(S) GET whose answer a model reads as text.
 *
 * The SSRF guard has two layers. Before a request (and before each redirect hop) the URL is
 * parsed by curl's own URL parser, so what we check is what curl fetches (it also turns
 * http://2130706433/ into 127.0.0.1): the scheme, web.allow_hosts, and IP literals. Then the
 * address curl really connects to, after DNS, is checked again in httpc's connect hook, so a
 * name that resolves (or rebinds) to an internal address is refused too, on every hop.
 * The machine's own addresses (every interface's, netcheck_own) count as internal even when
 * public, and a host that is not listed may be fetched on ports 80 and 443 only: a public
 * address is no licence to probe the admin ports of this host or its neighbours.
 * A host matched by web.allow_hosts may be internal (that is what listing one is for), but a
 * cloud metadata address only when the host is listed exactly, not by a wildcard.
 *
 * A tainted turn (docs/security.md, "Trust": it read a page, an MCP result or a hook payload, or
 * runs for a cron job or hook) may fetch only hosts in web.allow_hosts unless its job says
 * `web_fetch: any`: otherwise injected text could send what the turn can read (memory,
 * notes, history) to any host in a URL.
 *
 * Redirects are followed here, not by curl, so every hop passes the same checks; at most 5.
 * The body streams into a buffer capped at web.max_bytes: the model reads the text of that
 * much, with a note. Past it the page goes on streaming into home/tool-output/ (core/toolout,
 * up to agent.tool_output.max_bytes) and the note names the file; with
 * agent.tool_output.keep off the fetch stops there. A type that is not text is refused when its
 * first bytes arrive, without downloading the rest.
 *
 * Rejected: resolving the name ourselves and pinning it (CURLOPT_RESOLVE): a second, blocking
 * resolver, and the check would still not see what curl connects to through a proxy.
 */
#include "tools/tool.h"

#include "core/config.h"
#include "core/loop.h"
#include "core/toolout.h"
#include "net/html_text.h"
#include "net/httpc.h"
#include "net/netcheck.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_REDIRECTS	  5
#define DEFAULT_MAX_CHARS 12000
#define MAX_MAX_CHARS	  1000000
#define HTTP_ERROR_CHARS  600 /* text of an error page shown with the error */

enum body_kind { KIND_UNKNOWN, KIND_HTML, KIND_TEXT, KIND_BINARY };

/* How a host stands in web.allow_hosts. */
enum listing { NOT_LISTED, LISTED_WILDCARD, LISTED_EXACT };

struct tool_job {
	struct loop *loop;
	const struct config_web *web;
	tool_job_cb cb;
	void *arg;
	struct httpc_req *http; /* the hop in flight; never NULL until cb fired */
	char *first_url;	/* as the model gave it */
	char *url;		/* the current hop, normalized by curl's parser */
	enum listing listing;	/* of the current hop's host */
	bool listed_only;	/* a tainted turn: web.allow_hosts only */
	int hops;
	int64_t deadline_ms;
	size_t max_chars;
	size_t max_bytes; /* web.max_bytes: the body's cap */
	struct buf body;
	enum body_kind kind;
	bool cut; /* the body reached web.max_bytes */
	const struct config *cfg;
	struct toolout *whole; /* the page past web.max_bytes, kept whole */
	bool stopped;	       /* we ended the transfer from the data callback */
	bool cancelled;	       /* cancel() was called */
	/* Waiting for the kept page's file work (toolout_close) before reporting: */
	long status;
	char type[128];
};

/* ---- URL policy ---- */

static enum listing host_listing(const struct config_web *w, const char *host)
{
	size_t i, hlen = strlen(host), plen;

	for (i = 0; i < w->n_allow_hosts; i++) {
		const char *p = w->allow_hosts[i];

		if (strncmp(p, "*.", 2) == 0) {
			plen = strlen(p + 1); /* ".example.com" */
			if (hlen > plen && strcmp(host + hlen - plen, p + 1) == 0)
				return LISTED_WILDCARD;
		} else if (strcmp(p, host) == 0) {
			return LISTED_EXACT;
		}
	}
	return NOT_LISTED;
}

static bool class_allowed(enum netcheck_class c, enum listing l)
{
	if (c == NETCHECK_PUBLIC)
		return true;
	if (c == NETCHECK_METADATA)
		return l == LISTED_EXACT;
	return l != NOT_LISTED;
}

/* "web_fetch refused URL (redirected from PREV): " */
static void refused_prefix(struct buf *err, const char *url, const char *from)
{
	buf_printf(err, "web_fetch refused %s", url);
	if (from)
		buf_printf(err, " (redirected from %s)", from);
	buf_puts(err, ": ");
}

/* Lowercase, without brackets or a trailing dot: the form allow_hosts patterns use. False
 * when it does not fit: a cut name could match a pattern the whole name does not. */
static bool normal_host(const char *host, char *out, size_t out_len)
{
	size_t n = strlen(host), i;

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n > 0 && host[n - 1] == '.')
		n--;
	if (n >= out_len)
		return false;
	for (i = 0; i < n; i++)
		out[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] | 0x20 : host[i]);
	out[n] = '\0';
	return true;
}

/* A public address of one of our own interfaces is not public for a fetch. */
static enum netcheck_class own_or(enum netcheck_class c, int family, const unsigned char *a)
{
	return c == NETCHECK_PUBLIC && netcheck_own(family, a) ? NETCHECK_OWN : c;
}

/* netcheck_literal, and NETCHECK_OWN for a literal of this machine. */
static bool classify_literal(const char *name, enum netcheck_class *c)
{
	unsigned char a[16];

	if (!netcheck_literal(name, c))
		return false;
	if (inet_pton(AF_INET, name, a) == 1)
		*c = own_or(*c, AF_INET, a);
	else if (inet_pton(AF_INET6, name, a) == 1)
		*c = own_or(*c, AF_INET6, a);
	return true;
}

/* The host's verdict: 0, or -EACCES with the reason appended to err. */
static int check_host(const struct config_web *w, const char *url, const char *from,
		      const char *host, bool listed_only, enum listing *out, struct buf *err)
{
	char name[256];
	enum netcheck_class c;
	bool literal;
	size_t i;

	if (!normal_host(host, name, sizeof(name))) {
		refused_prefix(err, url, from);
		buf_puts(err, "the host name is longer than 255 bytes");
		return -EACCES;
	}
	literal = classify_literal(name, &c);
	*out = host_listing(w, name);
	if (literal && !class_allowed(c, *out)) {
		refused_prefix(err, url, from);
		buf_printf(err, "%s is %s; only public hosts may be fetched", name,
			   netcheck_class_text(c));
		return -EACCES;
	}
	if (w->n_allow_hosts > 0 && *out == NOT_LISTED) {
		refused_prefix(err, url, from);
		buf_printf(err, "%s is not in web.allow_hosts (", name);
		for (i = 0; i < w->n_allow_hosts; i++)
			buf_printf(err, "%s%s", i ? ", " : "", w->allow_hosts[i]);
		buf_puts(err, ")");
		return -EACCES;
	}
	if (listed_only && *out == NOT_LISTED) {
		refused_prefix(err, url, from);
		buf_printf(
			err,
			"this turn has read untrusted content (a web page, an MCP result, other "
			"sessions, a hook payload or a scheduled job's input), so it may fetch "
			"only "
			"hosts in web.allow_hosts, and %s is not listed (none are). A cron job or "
			"hook opts in with web_fetch: any; in a chat, /new starts a clean session",
			name);
		return -EACCES;
	}
	return 0;
}

/* Ports 80 and 443 only, unless the host is listed: 0, or -EACCES with the reason in err. */
static int check_port(const char *url, const char *from, const char *port, enum listing l,
		      struct buf *err)
{
	if (l != NOT_LISTED || strcmp(port, "80") == 0 || strcmp(port, "443") == 0)
		return 0;
	refused_prefix(err, url, from);
	buf_printf(err,
		   "port %s: only ports 80 and 443 may be fetched from a host that is not in "
		   "web.allow_hosts",
		   port);
	return -EACCES;
}

/* Parses url (relative to base when base is set), checks scheme, host and port, and returns
 * the normalized URL (malloc'd) or NULL with the reason in err. */
static char *check_url(const struct config_web *w, const char *url, const char *base,
		       bool listed_only, enum listing *listing, struct buf *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *full = NULL, *out = NULL;
	CURLUcode rc = CURLUE_OK;

	if (!u)
		abort(); /* out of memory, as xmalloc */
	if (base)
		rc = curl_url_set(u, CURLUPART_URL, base, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (rc != CURLUE_OK) {
		if (base)
			buf_printf(err,
				   "web_fetch: %s (redirected from %s) is not a valid URL (%s)",
				   url, base, curl_url_strerror(rc));
		else
			buf_printf(err,
				   "web_fetch: %s is not a valid URL (%s); pass a full http:// or "
				   "https:// URL",
				   url, curl_url_strerror(rc));
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		buf_printf(err, "web_fetch fetches http:// and https:// URLs only, not %s://",
			   scheme);
		if (base)
			buf_printf(err, " (redirected from %s)", base);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
		buf_printf(err, "web_fetch: %s has no host", url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		buf_printf(err, "web_fetch: %s has no port", url);
		goto out;
	}
	/* Messages name the URL as the model wrote it; a redirect's as resolved. */
	if (check_host(w, base ? full : url, base, host, listed_only, listing, err) == 0 &&
	    check_port(base ? full : url, base, port, *listing, err) == 0)
		out = xstrdup(full);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(full);
	curl_url_cleanup(u);
	return out;
}

/* The connect hook: the address after DNS, on every hop. */
static int check_peer(const struct sockaddr *sa, size_t len, char *why, size_t why_len, void *arg)
{
	const struct tool_job *j = arg;
	enum netcheck_class c = netcheck_sockaddr(sa, len);
	char addr[64];

	if (c == NETCHECK_PUBLIC && netcheck_own_sockaddr(sa, len))
		c = NETCHECK_OWN;
	if (class_allowed(c, j->listing))
		return 0;
	netcheck_sockaddr_str(sa, len, addr, sizeof(addr));
	snprintf(why, why_len, "%s is %s", addr, netcheck_class_text(c));
	return -1;
}

/* ---- body ---- */

static bool type_is(const char *ctype, size_t n, const char *type)
{
	return strlen(type) == n && strncasecmp(ctype, type, n) == 0;
}

static bool suffix_is(const char *ctype, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	return n >= m && strncasecmp(ctype + n - m, suffix, m) == 0;
}

/* From the content type (without parameters) and the first bytes of the body. */
static enum body_kind body_kind(const char *ctype, const char *data, size_t len)
{
	static const char *const text_types[] = {
		"application/json",	"application/xml",     "application/javascript",
		"application/x-ndjson", "application/yaml",    "application/x-yaml",
		"application/toml",	"application/ld+json", "application/rss+xml",
		"application/atom+xml", "application/x-sh",    "application/sql",
	};
	size_t n = ctype ? strcspn(ctype, "; \t") : 0, i;

	/* Unlabelled or generic: look at the bytes. */
	if (n == 0 || type_is(ctype, n, "application/octet-stream") ||
	    type_is(ctype, n, "text/plain")) {
		if (html_text_sniff(data, len))
			return KIND_HTML;
		if (n > 0 && type_is(ctype, n, "text/plain"))
			return KIND_TEXT;
		return memchr(data, '\0', len < 1024 ? len : 1024) ? KIND_BINARY : KIND_TEXT;
	}
	if (type_is(ctype, n, "text/html") || type_is(ctype, n, "application/xhtml+xml"))
		return KIND_HTML;
	if (n > 5 && strncasecmp(ctype, "text/", 5) == 0)
		return KIND_TEXT;
	if (suffix_is(ctype, n, "+json") || suffix_is(ctype, n, "+xml"))
		return KIND_TEXT;
	for (i = 0; i < ARRAY_LEN(text_types); i++)
		if (type_is(ctype, n, text_types[i]))
			return KIND_TEXT;
	return KIND_BINARY;
}

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static int on_body(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	struct tool_job *j = arg;
	size_t room;

	if (is_redirect(httpc_status(req)) && httpc_header(req, "Location")) {
		j->stopped = true; /* a redirect's body is never read */
		return -1;
	}
	if (j->kind == KIND_UNKNOWN)
		j->kind = body_kind(httpc_header(req, "Content-Type"), data, len);
	if (j->kind == KIND_BINARY) {
		j->stopped = true;
		return -1;
	}
	if (j->whole) {
		if (toolout_write(j->whole, data, len) == 0)
			return 0;
		j->stopped = true; /* past agent.tool_output.max_bytes */
		return -1;
	}
	room = j->max_bytes - j->body.len;
	if (len <= room) {
		buf_append(&j->body, data, len);
		return 0;
	}
	buf_append(&j->body, data, room);
	j->cut = true;
	if (j->cfg->agent.tool_output.keep && httpc_status(req) / 100 == 2) {
		j->whole = toolout_create(j->cfg, loop_offload(j->loop), "web-fetch", 0);
		toolout_write(j->whole, j->body.data, j->body.len);
		return on_body(req, data + room, len - room, arg);
	}
	j->stopped = true;
	return -1;
}

/* ---- result ---- */

static void job_free(struct tool_job *j)
{
	buf_finish(&j->body);
	toolout_destroy(j->whole);
	free(j->first_url);
	free(j->url);
	free(j);
}

/* Byte length of the first max_chars characters of s[0..len) (valid UTF-8). */
static size_t utf8_prefix(const char *s, size_t len, size_t max_chars)
{
	size_t i, chars = 0;

	for (i = 0; i < len; i++) {
		if (((unsigned char)s[i] & 0xc0) == 0x80)
			continue;
		if (chars++ == max_chars)
			return i;
	}
	return len;
}

/* Appends the body as text, at most max_chars characters, and a note when it was cut. */
static void body_text(const struct tool_job *j, size_t max_chars, struct buf *out)
{
	struct buf t;
	size_t keep;
	int rc;

	/* Four bytes per character at most: a text over this cap has more than max_chars. */
	buf_init(&t, max_chars * 4);
	if (j->kind == KIND_HTML)
		rc = html_text_reduce(buf_str(&j->body), j->body.len, &t);
	else
		rc = html_text_plain(buf_str(&j->body), j->body.len, &t);
	keep = utf8_prefix(buf_str(&t), t.len, max_chars);
	if (t.len == 0)
		buf_puts(out, "(no readable text)");
	buf_append(out, buf_str(&t), keep);
	if (rc < 0 || keep < t.len)
		buf_printf(out, "\n\n[cut at %zu characters]", max_chars);
	buf_finish(&t);
}

/* "text/html" out of "text/html; charset=utf-8" (borrowed static storage, like the header). */
static const char *short_type(const struct httpc_req *req, char *out, size_t out_len)
{
	const char *ct = httpc_header(req, "Content-Type");
	size_t n;

	if (!ct || !*ct)
		return "no content type";
	n = strcspn(ct, "; \t");
	snprintf(out, out_len, "%.*s", (int)n, ct);
	return out;
}

static void success(const struct tool_job *j, struct buf *out)
{
	buf_printf(out, "%s (%ld, %s, ", j->url, j->status, j->type);
	if (j->cut && j->whole && toolout_path(j->whole))
		buf_printf(
			out,
			"first %zu bytes: the page is larger than web.max_bytes; %s %llu "
			"bytes are in %s",
			j->body.len, j->stopped ? "its first" : "all its",
			(unsigned long long)(j->stopped
						     ? (uint64_t)j->cfg->agent.tool_output.max_bytes
						     : toolout_total(j->whole)),
			toolout_path(j->whole));
	else if (j->cut && j->whole && toolout_error(j->whole))
		buf_printf(out,
			   "first %zu bytes: the page is larger than web.max_bytes; the whole page "
			   "could not be kept: %s",
			   j->body.len, toolout_error(j->whole));
	else if (j->cut)
		buf_printf(out, "first %zu bytes: the page is larger than web.max_bytes",
			   j->body.len);
	else
		buf_printf(out, "%zu bytes", j->body.len);
	if (j->hops > 0)
		buf_printf(out, ", redirected from %s", j->first_url);
	buf_puts(out, ")\n\n");
	body_text(j, j->max_chars, out);
}

static void http_error(const struct tool_job *j, const struct httpc_req *req, struct buf *out)
{
	char type[128];

	buf_printf(out, "web_fetch %s: HTTP %ld (%s)", j->url, httpc_status(req),
		   short_type(req, type, sizeof(type)));
	if (j->kind == KIND_BINARY || j->body.len == 0)
		return;
	buf_puts(out, "\n\n");
	body_text(j, HTTP_ERROR_CHARS, out);
}

static void transport_error(const struct tool_job *j, const struct httpc_req *req, struct buf *out)
{
	switch (httpc_result(req)) {
	case HTTPC_REFUSED:
		refused_prefix(out, j->url, j->hops ? j->first_url : NULL);
		buf_printf(out, "%s; only public hosts may be fetched", httpc_error(req));
		break;
	case HTTPC_TIMEOUT:
		buf_printf(out, "web_fetch %s timed out after %lld s (web.timeout_s)", j->url,
			   (long long)j->web->timeout_s);
		break;
	case HTTPC_CONNECT:
		buf_printf(out, "web_fetch could not reach %s: %s", j->url, httpc_error(req));
		break;
	default:
		buf_printf(out, "web_fetch %s failed: %s", j->url, httpc_error(req));
		break;
	}
}

static int start_hop(struct tool_job *j, struct buf *err);

/* Checks and starts the next hop; 0, or < 0 with the reason in out. */
static int follow(struct tool_job *j, const struct httpc_req *req, struct buf *out)
{
	const char *loc = httpc_header(req, "Location");
	enum listing listing;
	char *next;

	if (j->hops >= MAX_REDIRECTS) {
		buf_printf(out, "web_fetch %s: more than %d redirects", j->first_url,
			   MAX_REDIRECTS);
		return -ELOOP;
	}
	/* httpc_header cuts values at 1023 bytes: a cut URL would be another URL. */
	if (strlen(loc) >= 1023) {
		buf_printf(out, "web_fetch %s: the redirect target is too long", j->url);
		return -E2BIG;
	}
	next = check_url(j->web, loc, j->url, j->listed_only, &listing, out);
	if (!next)
		return -EACCES;
	free(j->url);
	j->url = next;
	j->listing = listing;
	j->hops++;
	return start_hop(j, out);
}

/* The kept page's file work ended (toolout_close): its line can say where it is, or why not. */
static void whole_closed(void *arg)
{
	struct tool_job *j = arg;
	struct buf out;

	buf_init(&out, j->max_chars * 4 + 4096);
	if (j->cancelled)
		buf_puts(&out, "cancelled");
	else
		success(j, &out);
	j->cb(j->cancelled, buf_str(&out), out.len, j->arg);
	buf_finish(&out);
	job_free(j);
}

static void on_done(struct httpc_req *req, void *arg)
{
	struct tool_job *j = arg;
	enum httpc_result res = httpc_result(req);
	long status = httpc_status(req);
	struct buf out;
	bool is_error = true;

	j->http = NULL;
	buf_init(&out, j->max_chars * 4 + 4096);
	if (j->kind == KIND_UNKNOWN)
		j->kind = body_kind(httpc_header(req, "Content-Type"), "", 0);
	if (j->cancelled) {
		buf_puts(&out, "cancelled");
	} else if (res != HTTPC_OK && !(res == HTTPC_CANCELLED && j->stopped)) {
		transport_error(j, req, &out);
	} else if (is_redirect(status) && httpc_header(req, "Location")) {
		if (follow(j, req, &out) == 0) {
			buf_finish(&out);
			return; /* the next hop reports */
		}
	} else if (status >= 400) {
		http_error(j, req, &out);
	} else if (j->kind == KIND_BINARY) {
		char type[128];

		buf_printf(&out,
			   "web_fetch %s: %s is not text; web_fetch reads HTML, JSON, XML "
			   "and text/* only",
			   j->url, short_type(req, type, sizeof(type)));
	} else {
		char type[128];

		j->status = status;
		snprintf(j->type, sizeof(j->type), "%s", short_type(req, type, sizeof(type)));
		if (j->whole && toolout_close(j->whole, whole_closed, j) == 0) {
			buf_finish(&out);
			return; /* reports once the kept page is on disk or failed */
		}
		success(j, &out);
		is_error = false;
	}
	j->cb(is_error, buf_str(&out), out.len, j->arg);
	buf_finish(&out);
	job_free(j);
}

static int start_hop(struct tool_job *j, struct buf *err)
{
	static const char *const headers[] = {
		"Accept: text/html,application/xhtml+xml,application/json;q=0.9,text/*;q=0.8,"
		"*/*;q=0.1",
		NULL,
	};
	int64_t left_ms = j->deadline_ms - now_mono_ms();
	struct httpc_opts o = {
		.url = j->url,
		.headers = headers,
		.timeout_ms = (long)left_ms,
		.max_response_bytes = j->max_bytes,
		.on_data = on_body,
		.check_addr = check_peer,
		.check_arg = j,
	};

	if (left_ms <= 0) {
		buf_printf(err, "web_fetch %s timed out after %lld s (web.timeout_s)", j->url,
			   (long long)j->web->timeout_s);
		return -ETIMEDOUT;
	}
	buf_reset(&j->body);
	j->kind = KIND_UNKNOWN;
	j->stopped = false;
	j->cut = false;
	if (httpc_start(j->loop, &o, on_done, j, &j->http) < 0) {
		buf_printf(err, "web_fetch could not start a request for %s", j->url);
		return -EIO;
	}
	return 0;
}

static int web_start(const struct tool_req *req, tool_job_cb cb, void *arg, struct buf *err,
		     struct tool_job **out)
{
	const struct config_web *web = &req->env->cfg->web;
	const char *url = tool_arg_str(req->args, "url", true, err);
	bool bad = false;
	long long max_chars = tool_arg_int(req->args, "max_chars", DEFAULT_MAX_CHARS, 100,
					   MAX_MAX_CHARS, &bad, err);
	struct tool_job *j;
	enum listing listing;
	char *norm;

	if (!url || bad)
		return -EINVAL;
	norm = check_url(web, url, NULL, req->web_listed_only, &listing, err);
	if (!norm)
		return -EACCES;
	j = xcalloc(1, sizeof(*j));
	j->loop = req->env->loop;
	j->web = web;
	j->cb = cb;
	j->arg = arg;
	j->first_url = xstrdup(url);
	j->url = norm;
	j->listing = listing;
	j->listed_only = req->web_listed_only;
	j->max_chars = (size_t)max_chars;
	j->deadline_ms = now_mono_ms() + web->timeout_s * 1000;
	j->max_bytes = (size_t)web->max_bytes;
	j->cfg = req->env->cfg;
	buf_init(&j->body, j->max_bytes);
	if (start_hop(j, err) < 0) {
		job_free(j);
		return -EIO;
	}
	if (out)
		*out = j;
	return 0;
}

/* A job has a hop in flight, or waits for its kept page's file, until its callback fired:
 * either then reports "cancelled". */
static void web_cancel(struct tool_job *j)
{
	j->cancelled = true;
	if (j->http) /* NULL while the kept page is being closed: that reports "cancelled" */
		httpc_cancel(j->http);
}

const struct tool_def tool_def_web_fetch = {
	.name = "web_fetch",
	.toolset = CONFIG_TOOLSET_WEB,
	.read_only = true,
	.taints = true,
	.description = "Fetch a public http(s) URL as text (HTML made readable, title first).",
	.params_json = "{\"type\":\"object\",\"properties\":{"
		       "\"url\":{\"type\":\"string\"},"
		       "\"max_chars\":{\"type\":\"integer\",\"description\":\"default 12000\"}},"
		       "\"required\":[\"url\"]}",
	.start = web_start,
	.cancel = web_cancel,
};
