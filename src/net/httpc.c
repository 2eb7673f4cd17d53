/* httpc: plain http:// requests to a numeric address on its own HTTP/1.1 path (see "plain
 * http:// without curl" below: a socket on the loop, a keep-alive pool per loop); everything
 * else on one easy handle per request (from the loop's pool of reset handles), handed to the
 * loop's multi handle.
 *
 * Bodies are buffered into a capped `struct buf` or passed to a streaming callback. Response
 * headers are kept (capped) for lookups like Retry-After. Cancelling never touches the multi
 * handle directly, because curl forbids that from inside its own callbacks: it marks the
 * request and arms a zero-delay timer that removes the handle and reports the end. Every
 * request is on a list so shutdown can cancel all of them.
 *
 * The optional address check runs in CURLOPT_OPENSOCKETFUNCTION, i.e. on the address curl is
 * about to connect to, so it sees what DNS answered. Rejected: CURLOPT_RESOLVE pinning after a
 * lookup of our own (a second, blocking resolver next to curl's) and CURLOPT_PREREQFUNCTION
 * (it runs once the connection to the refused peer is already open).
 */
#include "net/httpc.h"
#include "config_build.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/offload.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <curl/mprintf.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HEADERS_CAP	 (64 * 1024)
#define DEFAULT_BODY_CAP (8 * 1024 * 1024)

struct httpc_req {
	struct httpc_req *prev, *next;
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
 * for a slightly different size, which tells the wrapper below to let curl free it. */
#define SENDBUF_KEEP 16384L
#define SENDBUF_FREE 17408L

#ifdef HERMETIC_CURL_SENDBUF_NO_SPARES
/* Static builds with curl >= 8.7 (meson links with --wrap=Curl_bufq_init2). curl keeps a
 * drained send buffer as a "spare" chunk for the life of the transfer, and the allocator has
 * written to its first and last page: about 8 KiB resident per open stream, a quarter of what
 * 256 streams cost. BUFQ_OPT_NO_SPARES is curl's own option to free a chunk once it is
 * drained; it only changes when curl frees the buffer, never what it sends. Only the send
 * buffer of streamed transfers gets it (its size is SENDBUF_FREE): freeing after every
 * request costs a 16 KiB calloc per request (~6.7k instructions), which short answers do not
 * need to pay. If a later curl drops Curl_bufq_init2, __real_Curl_bufq_init2 fails the link. */
struct bufq;
void __real_Curl_bufq_init2(struct bufq *q, size_t chunk_size, size_t max_chunks, int opts);
void __wrap_Curl_bufq_init2(struct bufq *q, size_t chunk_size, size_t max_chunks, int opts);
void __wrap_Curl_bufq_init2(struct bufq *q, size_t chunk_size, size_t max_chunks, int opts)
{
	if (chunk_size == (size_t)SENDBUF_FREE)
		opts |= 1 << 1; /* BUFQ_OPT_NO_SPARES */
	__real_Curl_bufq_init2(q, chunk_size, max_chunks, opts);
}
#endif

/* ---- curl's printf, for its request heads ----
 *
 * curl formats the request line, Host, User-Agent, the custom headers and the URL with its own
 * printf, which appends one character at a time (a curlx_dyn_addn call per byte): 38k
 * instructions per proxied request. httpc_vformat() does the directives those formats use
 * (%s %.*s %d %u %ld %lu %lld %llu %zu %c %%, no flags or widths) with curl's rules (a NULL
 * string prints "(nil)", or nothing under a precision below 5; a negative precision counts as
 * none); static builds link curl's curlx_dyn_vprintf and curl_maprintf to wrappers (meson:
 * --wrap) that use it and hand any other format, or a result over 1 KiB, to curl's own. */

/* The next '%' or the end: formats are short, a plain loop beats strchr's setup. */
static const char *next_pct(const char *p)
{
	while (*p && *p != '%')
		p++;
	return p;
}

/* Every directive of fmt is one httpc_vformat() writes. */
bool httpc_format_fast(const char *fmt)
{
	const char *p;

	for (p = next_pct(fmt); *p; p = next_pct(p)) {
		p++;
		if (*p == '%' || *p == 's' || *p == 'd' || *p == 'u' || *p == 'c') {
			p++;
		} else if (strncmp(p, ".*s", 3) == 0 || strncmp(p, "lld", 3) == 0 ||
			   strncmp(p, "llu", 3) == 0) {
			p += 3;
		} else if (strncmp(p, "ld", 2) == 0 || strncmp(p, "lu", 2) == 0 ||
			   strncmp(p, "zu", 2) == 0) {
			p += 2;
		} else {
			return false;
		}
	}
	return true;
}

struct fmt_out {
	char *buf;
	size_t cap, len; /* len counts past cap: what the whole result needs */
};

static void fmt_put(struct fmt_out *o, const char *s, size_t n)
{
	if (o->len < o->cap)
		memcpy(o->buf + o->len, s, n < o->cap - o->len ? n : o->cap - o->len);
	o->len += n;
}

static void fmt_signed(struct fmt_out *o, long long v)
{
	char tmp[INT_TEXT_MAX];

	fmt_put(o, tmp, fmt_int(tmp, v));
}

static void fmt_unsigned(struct fmt_out *o, unsigned long long u)
{
	char tmp[INT_TEXT_MAX];

	fmt_put(o, tmp, fmt_uint(tmp, u, 10));
}

static void fmt_str(struct fmt_out *o, const char *s, int prec)
{
	if (!s)
		fmt_put(o, "(nil)", prec < 0 || prec >= 5 ? 5 : 0);
	else
		fmt_put(o, s, prec < 0 ? strlen(s) : strnlen(s, (size_t)prec));
}

size_t httpc_vformat(char *out, size_t cap, const char *fmt, va_list ap)
{
	struct fmt_out o = {out, cap, 0};
	const char *p = fmt, *pct;
	char c;

	for (pct = next_pct(p); *pct; pct = next_pct(p)) {
		fmt_put(&o, p, (size_t)(pct - p));
		p = pct + 1;
		if (*p == '%') {
			fmt_put(&o, "%", 1);
			p++;
		} else if (*p == 's') {
			fmt_str(&o, va_arg(ap, const char *), -1);
			p++;
		} else if (*p == '.') {
			int prec = va_arg(ap, int);

			fmt_str(&o, va_arg(ap, const char *), prec);
			p += 3;
		} else if (*p == 'd') {
			fmt_signed(&o, va_arg(ap, int));
			p++;
		} else if (*p == 'u') {
			fmt_unsigned(&o, va_arg(ap, unsigned));
			p++;
		} else if (*p == 'c') {
			c = (char)va_arg(ap, int);
			fmt_put(&o, &c, 1);
			p++;
		} else if (*p == 'z') {
			fmt_unsigned(&o, va_arg(ap, size_t));
			p += 2;
		} else if (p[1] == 'l') {
			if (p[2] == 'd')
				fmt_signed(&o, va_arg(ap, long long));
			else
				fmt_unsigned(&o, va_arg(ap, unsigned long long));
			p += 3;
		} else {
			if (p[1] == 'd')
				fmt_signed(&o, va_arg(ap, long));
			else
				fmt_unsigned(&o, va_arg(ap, unsigned long));
			p += 2;
		}
	}
	fmt_put(&o, p, (size_t)(pct - p));
	return o.len;
}

#ifdef HERMETIC_WRAP_CURL_PRINTF
struct dynbuf;
int __real_curlx_dyn_vprintf(struct dynbuf *dyn, const char *fmt, va_list ap);
int __wrap_curlx_dyn_vprintf(struct dynbuf *dyn, const char *fmt, va_list ap);
CURLcode curlx_dyn_addn(struct dynbuf *dyn, const void *mem, size_t len);
void curlx_dyn_free(struct dynbuf *dyn);
char *__wrap_curl_maprintf(const char *fmt, ...);

/* curl: appends to dyn; 0, or on failure frees dyn and returns MERR_TOO_LARGE (2) or
 * MERR_MEM (1). */
int __wrap_curlx_dyn_vprintf(struct dynbuf *dyn, const char *fmt, va_list ap)
{
	char tmp[1024];
	size_t n;
	va_list cp;
	CURLcode rc;

	if (!httpc_format_fast(fmt))
		return __real_curlx_dyn_vprintf(dyn, fmt, ap);
	va_copy(cp, ap);
	n = httpc_vformat(tmp, sizeof(tmp), fmt, cp);
	va_end(cp);
	if (n > sizeof(tmp))
		return __real_curlx_dyn_vprintf(dyn, fmt, ap);
	if (!n)
		return 0;
	rc = curlx_dyn_addn(dyn, tmp, n);
	if (rc == CURLE_OK)
		return 0;
	curlx_dyn_free(dyn);
	return rc == CURLE_TOO_LARGE ? 2 : 1;
}

/* curl: a malloc'd string, "" for an empty result, NULL when out of memory. */
char *__wrap_curl_maprintf(const char *fmt, ...)
{
	va_list ap, cp;
	char *s;
	size_t n;

	va_start(ap, fmt);
	if (!httpc_format_fast(fmt)) {
		s = curl_mvaprintf(fmt, ap);
		va_end(ap);
		return s;
	}
	va_copy(cp, ap);
	n = httpc_vformat(NULL, 0, fmt, cp);
	va_end(cp);
	if (n >= 1024) {
		s = curl_mvaprintf(fmt, ap);
		va_end(ap);
		return s;
	}
	s = malloc(n + 1);
	if (s) {
		httpc_vformat(s, n, fmt, ap);
		s[n] = '\0';
	}
	va_end(ap);
	return s;
}
#endif

static struct httpc_req *all_reqs;
/* > 0 while curl runs one of our callbacks: curl forbids adding transfers from there. */
static int in_curl_callback;

static const char *const result_names[] = {
	"ok",	   "timeout",	"first_byte_timeout", "connect",
	"too_big", "cancelled", "transport",	      "refused",
};

const char *httpc_result_name(enum httpc_result r)
{
	return (size_t)r < ARRAY_LEN(result_names) ? result_names[r] : "?";
}

static void plain_free(struct httpc_req *r);

static void finish(struct httpc_req *r)
{
	if (!r->end_us)
		r->end_us = now_mono_us();
	if (r->prev)
		r->prev->next = r->next;
	else
		all_reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->done(r, r->arg);
	if (r->fb_timer)
		event_free(r->fb_timer);
	if (r->defer)
		event_free(r->defer);
	if (r->start_ev)
		event_free(r->start_ev);
	plain_free(r);
	loop_curl_release(r->loop, r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->tail);
	if (r->upload_fd >= 0)
		close(r->upload_fd);
	free(r->scrubbed);
	buf_finish(&r->resp);
	buf_finish(&r->hdrs);
	free(r);
}

static void mark_first_byte(struct httpc_req *r)
{
	if (r->first_byte_us)
		return;
	r->first_byte_us = now_mono_us();
	if (r->fb_timer)
		evtimer_del(r->fb_timer);
}

static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct httpc_req *r = arg;
	size_t len = size * n;

	mark_first_byte(r);
	if (r->pending != HTTPC_OK)
		return 0;
	/* A new status line starts a new response (1xx interim answers come first). The status
	 * is known from here on, so streaming callers can tell an error body from a stream. */
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', len);

		buf_reset(&r->hdrs);
		if (sp && (size_t)(sp - p) + 4 <= len)
			r->status = strtol(sp + 1, NULL, 10);
	}
	if (buf_append(&r->hdrs, p, len) < 0) {
		r->pending = HTTPC_TOO_BIG;
		r->error = "response headers over the cap";
		return 0;
	}
	return len;
}

/* A streamed answer lasts seconds to minutes after its request went out, and a request can be
 * a long prompt: once answer bytes arrive and curl reports the whole body sent, curl never
 * reads it again (it rewinds only to retry a request that got no answer at all), so it is
 * freed here instead of when the stream ends. */
static void drop_sent_body(struct httpc_req *r)
{
	curl_off_t sent = 0;

	if (curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &sent) == CURLE_OK &&
	    sent >= (curl_off_t)r->body_len) {
		free(r->body);
		r->body = NULL;
	}
}

static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct httpc_req *r = arg;
	size_t len = size * n;

	mark_first_byte(r);
	if (r->pending != HTTPC_OK)
		return 0;
	if (r->on_data) {
		if (r->body)
			drop_sent_body(r);
		if (r->on_data(r, p, len, r->arg) < 0 && r->pending == HTTPC_OK)
			r->pending = HTTPC_CANCELLED;
		return r->pending == HTTPC_OK ? len : 0;
	}
	if (buf_append(&r->resp, p, len) < 0) {
		r->pending = HTTPC_TOO_BIG;
		r->error = "response body over the cap";
		return 0;
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	size_t rc;

	in_curl_callback++;
	rc = header_cb(p, size, n, arg);
	in_curl_callback--;
	return rc;
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
	size_t rc;

	in_curl_callback++;
	rc = write_cb(p, size, n, arg);
	in_curl_callback--;
	return rc;
}

static curl_socket_t open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct httpc_req *r = arg;
	char why[sizeof(r->refused)] = "";
	int rc;

	in_curl_callback++;
	rc = r->check_addr(&a->addr, a->addrlen, why, sizeof(why), r->check_arg);
	in_curl_callback--;
	if (rc < 0) {
		snprintf(r->refused, sizeof(r->refused), "%s", why[0] ? why : "address refused");
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* With a check: no proxy (it would be the peer the check sees) and fresh connections only
 * (a pooled one was opened by a request that may have had no check). */
static void set_check(struct httpc_req *r, const struct httpc_opts *o)
{
	if (!o->check_addr)
		return;
	r->check_addr = o->check_addr;
	r->check_arg = o->check_arg;
	curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETFUNCTION, open_checked);
	curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
}

/* Trust anchors: the CA bundle compiled into curl (/etc/ssl/certs/ca-certificates.crt) unless
 * the environment names others, as the curl tool and OpenSSL read it: CURL_CA_BUNDLE, else
 * SSL_CERT_FILE, for a bundle file; SSL_CERT_DIR for a hashed directory. A cluster with its own
 * CA (an in-cluster model server, a corporate proxy) sets one of them. Read once: the
 * environment does not change while we run, and Landlock allows reading these paths. */
static void set_trust(CURL *easy)
{
	static bool read;
	static const char *file, *dir;

	if (!read) {
		file = getenv("CURL_CA_BUNDLE");
		if (!file || !*file)
			file = getenv("SSL_CERT_FILE");
		dir = getenv("SSL_CERT_DIR");
		read = true;
	}
	if (file && *file)
		curl_easy_setopt(easy, CURLOPT_CAINFO, file);
	if (dir && *dir)
		curl_easy_setopt(easy, CURLOPT_CAPATH, dir);
}

/* The proxy variables, read once the way curl reads them on every transfer (five getenv
 * calls, each a scan of the whole environment: 8k instructions a request): no_proxy, else
 * NO_PROXY; for http only the lower-case http_proxy (curl ignores HTTP_PROXY, which a CGI
 * client could set through a Proxy: header), for https https_proxy, else HTTPS_PROXY; then
 * all_proxy, else ALL_PROXY. An empty variable counts as unset, as in curl_getenv. Handed to
 * curl as CURLOPT_PROXY and CURLOPT_NOPROXY, which it then applies with the same rules (the
 * host in no_proxy: no proxy; "" : none), without looking itself. */
static struct {
	bool read;
	char *no_proxy, *http_proxy, *https_proxy; /* NULL = none */
	bool upper_http_proxy; /* HTTP_PROXY is set: curl ignores it, the plain path leaves it to
				  curl */
} env;

static const char *env_or(const char *a, const char *b)
{
	const char *v = a ? getenv(a) : NULL;

	if (v && *v)
		return v;
	v = b ? getenv(b) : NULL;
	return v && *v ? v : NULL;
}

static char *env_dup_or(const char *a, const char *b, const char *fallback)
{
	const char *v = env_or(a, b);

	v = v ? v : fallback;
	return v ? xstrdup(v) : NULL;
}

void httpc_env_changed(void)
{
	free(env.no_proxy);
	free(env.http_proxy);
	free(env.https_proxy);
	memset(&env, 0, sizeof(env));
}

static void load_env(void)
{
	const char *all;

	if (env.read)
		return;
	all = env_or("all_proxy", "ALL_PROXY");
	env.no_proxy = env_dup_or("no_proxy", "NO_PROXY", NULL);
	env.http_proxy = env_dup_or("http_proxy", NULL, all);
	env.https_proxy = env_dup_or("https_proxy", "HTTPS_PROXY", all);
	env.upper_http_proxy = env_or("HTTP_PROXY", NULL) != NULL;
	env.read = true;
}

static void set_proxy(CURL *easy, const char *url)
{
	const char *proxy;

	load_env();
	proxy = strncmp(url, "https:", 6) == 0 ? env.https_proxy : env.http_proxy;
	curl_easy_setopt(easy, CURLOPT_PROXY, proxy ? proxy : "");
	curl_easy_setopt(easy, CURLOPT_NOPROXY, env.no_proxy ? env.no_proxy : "");
}

static enum httpc_result map_code(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return HTTPC_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTPC_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return HTTPC_CONNECT;
	default:
		return HTTPC_TRANSPORT;
	}
}

static void on_done(CURL *easy, CURLcode rc, void *arg)
{
	struct httpc_req *r = arg;

	r->in_multi = 0;
	r->end_us = now_mono_us();
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->pending != HTTPC_OK) {
		r->result = r->pending;
	} else {
		r->result = map_code(rc);
		if (r->result != HTTPC_OK && r->errbuf[0]) {
			r->scrubbed = log_redact(r->errbuf);
			r->error = r->scrubbed;
		} else if (r->result != HTTPC_OK) {
			r->error = curl_easy_strerror(rc);
		}
		/* No connection, and the check refused at least one address: that is why. */
		if (r->result == HTTPC_CONNECT && r->refused[0]) {
			r->result = HTTPC_REFUSED;
			r->error = r->refused;
		}
	}
	finish(r);
}

/* Runs from the loop for httpc_cancel and the first-byte timer: safe to touch the multi. */
static void plain_detach(struct httpc_req *r, bool keep);
static void mail_abandon(struct httpc_req *r);

static void abort_now(struct httpc_req *r)
{
	if (r->mail) {
		mail_abandon(r);
	} else if (r->pl) {
		plain_detach(r, false);
	} else if (r->in_multi) {
		loop_curl_remove(r->loop, r->easy);
		r->in_multi = 0;
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	}
	r->result = r->pending;
	finish(r);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	abort_now(arg);
}

/* A request started inside a curl callback joins the multi handle from the loop. */
static void on_start(evutil_socket_t fd, short what, void *arg)
{
	struct httpc_req *r = arg;

	if (r->pending != HTTPC_OK)
		return; /* cancelled meanwhile: the defer timer finishes it */
	if (loop_curl_add(r->loop, r->easy, on_done, r) < 0) {
		r->pending = HTTPC_TRANSPORT;
		r->error = "could not start the transfer";
		abort_now(r);
		return;
	}
	r->in_multi = 1;
}

static void on_first_byte_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct httpc_req *r = arg;

	if (r->pending == HTTPC_OK) {
		r->pending = HTTPC_FIRST_BYTE;
		r->error = "no response byte before the first-byte timeout";
	}
	abort_now(r);
}

/* curl asks for the next piece of an upload: the head, the file, the tail, in order. A file
 * that shrank under us ends the transfer (curl reports the short body). */
static size_t upload_read(char *out, size_t size, size_t n, void *arg)
{
	struct httpc_req *r = arg;
	size_t cap = size * n, pos = r->upload_pos, done = 0;
	ssize_t got;

	if (pos < r->head_len) {
		done = r->head_len - pos < cap ? r->head_len - pos : cap;
		memcpy(out, r->body + pos, done);
	} else if (pos < r->head_len + r->upload_len) {
		size_t want = r->head_len + r->upload_len - pos;

		got = pread(r->upload_fd, out, want < cap ? want : cap, (off_t)(pos - r->head_len));
		if (got <= 0)
			return CURL_READFUNC_ABORT;
		done = (size_t)got;
	} else if (pos < r->body_len) {
		size_t at = pos - r->head_len - r->upload_len;

		done = r->tail_len - at < cap ? r->tail_len - at : cap;
		memcpy(out, r->tail + at, done);
	}
	r->upload_pos += done;
	return done;
}

static int upload_seek(void *arg, curl_off_t offset, int origin)
{
	struct httpc_req *r = arg;

	if (origin != SEEK_SET || offset < 0 || (size_t)offset > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->upload_pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static void set_upload(struct httpc_req *r, const struct httpc_opts *o)
{
	r->body = xmalloc(o->body_len + 1);
	memcpy(r->body, o->body ? o->body : "", o->body_len);
	r->head_len = o->body_len;
	r->upload_len = o->upload_len;
	r->tail_len = o->body_tail ? strlen(o->body_tail) : 0;
	r->tail = xstrndup(o->body_tail ? o->body_tail : "", r->tail_len);
	r->body_len = r->head_len + r->upload_len + r->tail_len;
	curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(r->easy, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(r->easy, CURLOPT_READDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_SEEKFUNCTION, upload_seek);
	curl_easy_setopt(r->easy, CURLOPT_SEEKDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
}

static void set_method(struct httpc_req *r, const struct httpc_opts *o)
{
	const char *method = o->method ? o->method : (o->body ? "POST" : "GET");

	if (r->upload_fd >= 0) {
		set_upload(r, o);
		if (o->method && strcmp(o->method, "POST") != 0)
			curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, o->method);
		return;
	}
	if (o->body) {
		if (!o->body_take) { /* else taken in httpc_start */
			r->body = xmalloc(o->body_len + 1);
			memcpy(r->body, o->body, o->body_len);
			r->body[o->body_len] = '\0';
		}
		r->body_len = o->body_len;
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
	}
	if (strcmp(method, "GET") == 0 && !o->body)
		curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "POST") != 0)
		curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
	else if (!o->body)
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
}

static int set_headers(struct httpc_req *r, const struct httpc_opts *o)
{
	size_t i;

	/* No 100-continue round trip: our peers answer POSTs directly. */
	r->headers = curl_slist_append(NULL, "Expect:");
	for (i = 0; o->headers && o->headers[i]; i++) {
		struct curl_slist *n = curl_slist_append(r->headers, o->headers[i]);

		if (!n)
			return -1;
		r->headers = n;
	}
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	return 0;
}

/* ---- plain http:// without curl ----
 *
 * curl's transfer machinery costs ~80k instructions per proxied request, most of a request's
 * CPU next to the nginx floor. For http:// URLs it would model exactly (numeric host, no
 * proxy variable, no upload from a file, headers it would send unchanged) httpc speaks
 * HTTP/1.1 itself: a non-blocking socket on the loop, the request head and body in one
 * sendmsg, the answer parsed as it arrives (status line, headers under HEADERS_CAP,
 * Content-Length, chunked, or up to the close), the body handed on de-chunked, and the
 * connection kept in a pool per loop for the next request to the same address.
 *
 * Host names stay with curl: libevent's evdns is not linked into the static binary (about as
 * large as the room left under the 2 MiB budget), and a blocking getaddrinfo() on the loop is
 * out of the question.
 *
 * Re-sending (money: a request that reached the server may have been charged). A pooled
 * connection is probed before use (recv MSG_PEEK: a close the server sent while it idled is
 * seen then, and the connection dropped), as curl probes its own. If a reused connection
 * still fails before any byte of the answer, the request goes out again once on a new
 * connection only when the server cannot have seen it (not one byte of it was accepted by the
 * kernel), or when it is a GET without a body (idempotent, RFC 9110 9.2.2). A POST that went
 * out and got nothing back ends with HTTPC_TRANSPORT and httpc_request_sent() true: the
 * caller decides, knowing the server may have processed it. (curl re-sends in that case too;
 * this path does not.) */

#define IDLE_MS	   30000 /* a pooled connection idle this long is closed (prune timer) */
#define CHUNK_LINE 1024	 /* cap on a chunk-size line with its extensions */
#define IN_BUF	   16384
#define PLAIN_KEY  64

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
	struct offload *mail; /* mail jobs (see "mail, on a worker thread"); NULL until one */
};

struct plain {
	struct conn *conn;
	struct sockaddr_storage sa;
	socklen_t sa_len;
	char key[PLAIN_KEY]; /* "address port": the pool's key and the error texts' peer */
	char *head;
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
};

static int plain_mode = -1; /* -1 = not read yet; 0 = curl only (HERMETIC_HTTPC_CURL_ONLY=1) */

static void plain_fail(struct httpc_req *r, enum httpc_result res, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void abort_now(struct httpc_req *r);

static void plain_fail(struct httpc_req *r, enum httpc_result res, const char *fmt, ...)
{
	va_list ap;

	if (r->pending == HTTPC_OK) {
		va_start(ap, fmt);
		vsnprintf(r->errbuf, sizeof(r->errbuf), fmt, ap);
		va_end(ap);
		free(r->scrubbed);
		r->scrubbed = log_redact(r->errbuf);
		r->error = r->scrubbed;
		r->pending = res;
	}
}

/* An answer this path cannot read: an error (it was sent, so never handed to curl). */
static int bad_answer(struct httpc_req *r, const char *what)
{
	plain_fail(r, HTTPC_TRANSPORT, "Bad HTTP answer from %s: %s", r->pl->key, what);
	return -1;
}

/* From inside httpc_start (or anywhere the request must not end right now): the defer timer
 * ends it from the loop. */
static void end_later(struct httpc_req *r)
{
	if (!r->defer) {
		r->defer = evtimer_new(loop_base(r->loop), on_defer, r);
		if (!r->defer)
			abort();
	}
	event_active(r->defer, EV_TIMEOUT, 1);
}

static void conn_close(struct conn *c);

static void pool_free(void *arg)
{
	struct pool *pl = arg;
	struct conn *c, *next;

	offload_destroy(pl->mail); /* waits for mail still being sent */
	if (pl->prune)
		event_free(pl->prune);
	for (c = pl->idle; c; c = next) {
		next = c->next;
		conn_close(
			c); /* its read event is armed while idle: deleted before the base goes */
	}
	free(pl);
}

static struct pool *pool_of(struct loop *l)
{
	struct pool *pl = loop_user(l);

	if (!pl) {
		pl = xcalloc(1, sizeof(*pl));
		pl->idle_ms = IDLE_MS;
		loop_set_user(l, pl, pool_free);
	}
	return pl;
}

void httpc_set_idle_ms(struct loop *l, long ms)
{
	pool_of(l)->idle_ms = ms > 0 ? ms : IDLE_MS;
}

static void conn_close(struct conn *c)
{
	if (c->what)
		event_del(&c->ev);
	close(c->fd);
	free(c);
}

static void conn_cb(evutil_socket_t fd, short what, void *arg);

static void conn_want(struct conn *c, struct loop *l, short what)
{
	if (c->what == what)
		return;
	if (c->what)
		event_del(&c->ev);
	c->what = what;
	if (!what)
		return;
	event_assign(&c->ev, loop_base(l), c->fd, what | EV_PERSIST, conn_cb, c);
	event_add(&c->ev, NULL);
}

static bool expired(const struct pool *pl, const struct conn *c, int64_t now_us)
{
	return now_us - c->idle_since_us >= (int64_t)pl->idle_ms * 1000;
}

/* Arms the prune timer for when the oldest idle connection (the list's last) expires. */
static void prune_arm(struct pool *pl, int64_t now_us)
{
	const struct conn *c = pl->idle;
	int64_t left_us;
	struct timeval tv;

	if (!c) {
		evtimer_del(pl->prune);
		return;
	}
	while (c->next)
		c = c->next;
	left_us = c->idle_since_us + (int64_t)pl->idle_ms * 1000 - now_us;
	if (left_us < 0)
		left_us = 0;
	tv = (struct timeval){(time_t)(left_us / 1000000), (suseconds_t)(left_us % 1000000)};
	evtimer_add(pl->prune, &tv);
}

/* Without this an idle connection would only be closed when the next request met it. */
static void on_prune(evutil_socket_t fd, short what, void *arg)
{
	struct pool *pl = arg;
	struct conn **pp = &pl->idle, *c;
	int64_t now = now_mono_us();

	while ((c = *pp)) {
		if (!expired(pl, c, now)) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		pl->n_idle--;
		conn_close(c);
	}
	prune_arm(pl, now);
}

/* A pooled connection to key that is young enough (one the server closed, or sent a byte on,
 * while it idled was closed then by conn_cb); expired ones met on the way are closed. */
static struct conn *pool_take(struct loop *l, const char *key)
{
	struct pool *pl = pool_of(l);
	struct conn **pp = &pl->idle, *c;
	int64_t now = now_mono_us();

	while ((c = *pp)) {
		bool old = expired(pl, c, now);

		if (!old && strcmp(c->key, key) != 0) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		pl->n_idle--;
		c->pool = NULL;
		/* Its read event stayed armed while idle (conn_cb closes it at the peer's FIN), so
		 * no peek is needed: a request reuses it without a syscall. */
		if (!old)
			return c;
		conn_close(c);
	}
	return NULL;
}

/* Keeps c for the next request (at most loop_max_connections idle per loop, which also bounds
 * the idle connections to one host), or closes it. */
static void pool_put(struct loop *l, struct conn *c)
{
	struct pool *pl = pool_of(l);

	if ((long)pl->n_idle >= loop_max_connections(l)) {
		conn_close(c);
		return;
	}
	/* Read stays armed (usually already: no epoll_ctl per request): the peer's FIN, an error
	 * or a stray byte on an idle connection closes it at once (conn_cb). The prune timer
	 * keeps loop_run going while anything is idle anyway. */
	conn_want(c, l, EV_READ);
	c->req = NULL;
	c->pool = pl;
	c->idle_since_us = now_mono_us();
	c->next = pl->idle;
	pl->idle = c;
	pl->n_idle++;
	if (!pl->prune) {
		pl->prune = evtimer_new(loop_base(l), on_prune, pl);
		if (!pl->prune)
			abort();
	}
	if (!evtimer_pending(pl->prune, NULL))
		prune_arm(pl, c->idle_since_us);
}

static void plain_detach(struct httpc_req *r, bool keep)
{
	struct plain *p = r->pl;
	struct conn *c = p->conn;

	if (p->timer_added) {
		event_del(&p->timer);
		p->timer_added = false;
	}
	if (!c)
		return;
	p->conn = NULL;
	c->req = NULL;
	if (keep && !p->no_pool)
		pool_put(r->loop, c);
	else
		conn_close(c);
}

static void plain_arm(struct httpc_req *r)
{
	struct plain *p = r->pl;
	int64_t at = p->deadline_us, left;
	struct timeval tv;

	if (p->connecting && (!at || p->connect_deadline_us < at))
		at = p->connect_deadline_us;
	if (p->timer_added) {
		event_del(&p->timer);
		p->timer_added = false;
	}
	if (!at)
		return;
	left = at - now_mono_us();
	if (left < 0)
		left = 0;
	tv.tv_sec = left / 1000000;
	tv.tv_usec = left % 1000000;
	evtimer_add(&p->timer, &tv);
	p->timer_added = true;
}

static void plain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct httpc_req *r = arg;
	struct plain *p = r->pl;

	p->timer_added = false;
	if (p->connecting && (!p->deadline_us || p->connect_deadline_us <= p->deadline_us))
		plain_fail(r, HTTPC_TIMEOUT, "Connection timed out after %ld milliseconds",
			   httpc_total_ms(r));
	else
		plain_fail(r, HTTPC_TIMEOUT,
			   "Operation timed out after %ld milliseconds with %zu bytes received",
			   httpc_total_ms(r), r->resp.len);
	abort_now(r);
}

static void plain_connect(struct httpc_req *r);

/* The rule in the section comment: a new connection once, when the server cannot have
 * taken the request, or it is a GET without a body. */
static bool plain_resend(struct httpc_req *r)
{
	struct plain *p = r->pl;

	if (!p->reused || p->retried || r->hdrs.len > 0 || (p->sent > 0 && !p->idempotent))
		return false;
	plain_detach(r, false);
	p->retried = true;
	p->reused = false;
	p->sent = 0;
	plain_connect(r);
	return true;
}

static int plain_send(struct httpc_req *r)
{
	struct plain *p = r->pl;
	struct msghdr m = {0};
	struct iovec iov[2];
	size_t total = p->head_len + r->body_len;
	ssize_t n;

	while (p->sent < total) {
		m.msg_iov = iov;
		m.msg_iovlen = 0;
		if (p->sent < p->head_len) {
			iov[m.msg_iovlen].iov_base = p->head + p->sent;
			iov[m.msg_iovlen++].iov_len = p->head_len - p->sent;
		}
		if (r->body_len) {
			size_t at = p->sent > p->head_len ? p->sent - p->head_len : 0;

			iov[m.msg_iovlen].iov_base = r->body + at;
			iov[m.msg_iovlen++].iov_len = r->body_len - at;
		}
		n = sendmsg(p->conn->fd, &m, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_want(p->conn, r->loop, EV_READ | EV_WRITE);
			return 0;
		}
		if (n < 0) {
			int e = errno;

			if ((e == EPIPE || e == ECONNRESET) && plain_resend(r))
				return 0;
			plain_fail(r, HTTPC_TRANSPORT, "Send failure: %s", strerror(e));
			return -1;
		}
		p->sent += (size_t)n;
	}
	p->sending = false;
	/* Sent and never re-sent (plain_resend): a long prompt need not stay for a stream. */
	if (!p->idempotent) {
		free(r->body);
		r->body = NULL;
	}
	conn_want(p->conn, r->loop, EV_READ);
	return 0;
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

	return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
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
		if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0) {
			return bad_answer(r, "Transfer-Encoding");
		}
		p->chunked = true;
	} else if (name_is(s, len, "Connection")) {
		size_t i;

		for (i = 0; i + 5 <= vlen; i++)
			if (strncasecmp(v + i, "close", 5) == 0)
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
			plain_fail(r, HTTPC_TOO_BIG, "response headers over the cap");
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
static int parse(struct httpc_req *r, const char *d, size_t n)
{
	struct plain *p = r->pl;

	mark_first_byte(r);
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

static void plain_eof(struct httpc_req *r, int err)
{
	struct plain *p = r->pl;

	if (p->st == P_BODY && p->until_close && !err) {
		p->st = P_DONE;
		return;
	}
	if (p->st == P_HEAD && r->hdrs.len == 0) {
		if (plain_resend(r))
			return;
		if (err)
			plain_fail(r, HTTPC_TRANSPORT, "Recv failure: %s", strerror(err));
		else
			plain_fail(r, HTTPC_TRANSPORT, "Empty reply from server");
		return;
	}
	plain_fail(r, HTTPC_TRANSPORT, "connection to %s closed before the end of the answer%s%s",
		   p->key, err ? ": " : "", err ? strerror(err) : "");
}

static void plain_read(struct httpc_req *r)
{
	struct plain *p = r->pl;
	char in[IN_BUF];
	ssize_t n;

	do
		n = recv(p->conn->fd, in, sizeof(in), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		plain_eof(r, n < 0 ? errno : 0);
		if (p->conn && p->st != P_DONE && r->pending == HTTPC_OK)
			return; /* sent again on a new connection */
	} else if (parse(r, in, (size_t)n) < 0) {
		abort_now(r);
		return;
	}
	if (r->pending != HTTPC_OK) {
		abort_now(r);
	} else if (p->st == P_DONE) {
		plain_detach(r, p->keep && !p->sending);
		r->result = HTTPC_OK;
		finish(r);
	}
}

static void plain_connected(struct httpc_req *r)
{
	struct plain *p = r->pl;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(p->conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		plain_fail(r, HTTPC_CONNECT, "Failed to connect to %s: %s", p->key, strerror(err));
		abort_now(r);
		return;
	}
	p->connecting = false;
	plain_arm(r);
	if (plain_send(r) < 0)
		abort_now(r);
}

/* An idle connection became readable: the peer closed it (or broke the protocol). */
static void idle_closed(struct conn *c)
{
	struct pool *pl = c->pool;

	for (struct conn **pp = &pl->idle; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			pl->n_idle--;
			break;
		}
	conn_close(c);
	prune_arm(pl, now_mono_us());
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct httpc_req *r = c->req;

	if (!r) {
		idle_closed(c);
		return;
	}

	if (r->pending != HTTPC_OK) {
		abort_now(r);
		return;
	}
	if (r->pl->connecting) {
		plain_connected(r);
		return;
	}
	if ((what & EV_WRITE) && r->pl->sending) {
		if (plain_send(r) < 0) {
			abort_now(r);
			return;
		}
		if (r->pl->conn != c)
			return; /* sent again on a new connection */
	}
	if (what & EV_READ)
		plain_read(r);
}

/* A new connection for r (its first, or the one it is sent again on). Failures end r from
 * the loop: this runs inside httpc_start too. */
static void plain_connect(struct httpc_req *r)
{
	struct plain *p = r->pl;
	struct conn *c;
	int fd, one = 1;

	p->sending = true;
	p->st = P_HEAD;
	if (r->check_addr) {
		char why[sizeof(r->refused)] = "";

		if (r->check_addr((struct sockaddr *)&p->sa, p->sa_len, why, sizeof(why),
				  r->check_arg) < 0) {
			snprintf(r->refused, sizeof(r->refused), "%s",
				 why[0] ? why : "address refused");
			r->pending = HTTPC_REFUSED;
			r->error = r->refused;
			end_later(r);
			return;
		}
	}
	fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		plain_fail(r, HTTPC_CONNECT, "socket: %s", strerror(errno));
		end_later(r);
		return;
	}
	/* As curl sets them: no Nagle delay for the request, TCP keep-alive probes. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->req = r;
	snprintf(c->key, sizeof(c->key), "%s", p->key);
	p->conn = c;
	p->connecting = true;
	p->connect_deadline_us = now_mono_us() + (int64_t)r->connect_timeout_ms * 1000;
	if (connect(fd, (struct sockaddr *)&p->sa, p->sa_len) < 0 && errno != EINPROGRESS) {
		plain_fail(r, HTTPC_CONNECT, "Failed to connect to %s: %s", p->key,
			   strerror(errno));
		end_later(r);
		return;
	}
	conn_want(c, r->loop, EV_WRITE);
	plain_arm(r);
}

static void plain_go(struct httpc_req *r)
{
	struct plain *p = r->pl;
	struct conn *c = p->no_pool ? NULL : pool_take(r->loop, p->key);

	if (!c) {
		plain_connect(r);
		return;
	}
	c->req = r;
	p->conn = c;
	p->reused = true;
	p->sending = true;
	p->st = P_HEAD;
	plain_arm(r);
	conn_want(c, r->loop, EV_READ);
	if (plain_send(r) < 0)
		end_later(r);
}

/* ---- which requests take the plain path, and their request head ---- */

struct target {
	struct sockaddr_storage sa;
	socklen_t sa_len;
	const char *host; /* as written in the URL (brackets kept) */
	size_t host_len;
	unsigned port;
	const char *path; /* from the first '/' or '?'; "" = "/" */
};

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

/* http://<IPv4 or [IPv6], written as inet_ntop writes it>[:port]<path>, nothing curl would
 * rewrite (user info, fragment, dot segments, bytes it would refuse or encode). */
static int plain_url(const char *url, struct target *t)
{
	const char *h = url + 7, *end = h + strcspn(h, "/?#"), *colon, *s;
	unsigned long port = 80;

	if (strncmp(url, "http://", 7) != 0 || *end == '#' || strchr(end, '#'))
		return -1;
	for (s = url; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return -1;
	if (strstr(end, "/.") || memchr(h, '@', (size_t)(end - h)))
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
	t->path = end;
	return plain_addr(t);
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

/* What plain_ok and plain_head work out from a set of custom lines (see httpc_headers_prepare). */
struct httpc_headers {
	const char *const *src;		 /* the lines it was made from */
	bool plain;			 /* plain_headers(src) */
	bool host, agent, accept, ctype; /* has_hdr(src, "Host") ... "Content-Type" */
	char *lines;			 /* the custom part of the head, as plain_head writes it */
	size_t lines_len;
};

static void put_custom_lines(struct buf *b, const char *const *hs);

struct httpc_headers *httpc_headers_prepare(const char *const *hs)
{
	struct httpc_headers *h = xcalloc(1, sizeof(*h));
	struct buf b;

	h->src = hs;
	h->plain = plain_headers(hs);
	h->host = has_hdr(hs, "Host");
	h->agent = has_hdr(hs, "User-Agent");
	h->accept = has_hdr(hs, "Accept");
	h->ctype = has_hdr(hs, "Content-Type");
	buf_init(&b, 0);
	if (h->plain)
		put_custom_lines(&b, hs);
	h->lines_len = b.len;
	h->lines = buf_steal(&b);
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

static bool plain_ok(const struct httpc_opts *o, struct target *t)
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
	if (!o->check_addr) {
		load_env();
		if (env.http_proxy || env.upper_http_proxy)
			return false;
	}
	return plain_url(o->url, t) == 0;
}

static void put(struct buf *b, const char *s, size_t n)
{
	buf_append(b, s, n);
}

static void put_s(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static void put_u(struct buf *b, unsigned long long u)
{
	char tmp[INT_TEXT_MAX];

	buf_append(b, tmp, fmt_uint(tmp, u, 10));
}

/* The custom lines as they go in the head: "Name:" alone drops one of ours (nothing is
 * written), "Name;" sends it empty. */
static void put_custom_lines(struct buf *b, const char *const *hs)
{
	size_t i;

	for (i = 0; hs && hs[i]; i++) {
		const char *h = hs[i], *sep = h + strcspn(h, ":;"), *v = sep + 1;

		while (*v == ' ' || *v == '\t')
			v++;
		if (*sep == ':' && !*v)
			continue;
		put(b, h, (size_t)(sep - h));
		if (*sep == ';') {
			put_s(b, ":\r\n");
			continue;
		}
		put_s(b, sep);
		put_s(b, "\r\n");
	}
}

/* The head curl would write: request line, Host (no port for 80), User-Agent, Accept, the
 * custom lines ("Name:" alone drops one of ours, "Name;" sends it empty), then Content-Length
 * and curl's default Content-Type for a body. */
static void plain_head(struct httpc_req *r, const struct httpc_opts *o, const struct target *t,
		       const char *method)
{
	const char *const *hs = o->headers;
	const struct httpc_headers *pre = prepared_of(o);
	struct buf b;

	buf_init(&b, 0);
	buf_reserve(&b, 512);
	put_s(&b, method);
	put(&b, " ", 1);
	if (*t->path != '/')
		put(&b, "/", 1);
	put_s(&b, t->path);
	put_s(&b, " HTTP/1.1\r\n");
	if (!(pre ? pre->host : has_hdr(hs, "Host"))) {
		put_s(&b, "Host: ");
		put(&b, t->host, t->host_len);
		if (t->port != 80) {
			put(&b, ":", 1);
			put_u(&b, t->port);
		}
		put_s(&b, "\r\n");
	}
	if (!(pre ? pre->agent : has_hdr(hs, "User-Agent")))
		put_s(&b, "User-Agent: hermetic/" HERMETIC_VERSION "\r\n");
	if (!(pre ? pre->accept : has_hdr(hs, "Accept")))
		put_s(&b, "Accept: */*\r\n");
	if (pre)
		put(&b, pre->lines, pre->lines_len);
	else
		put_custom_lines(&b, hs);
	if (o->body) {
		put_s(&b, "Content-Length: ");
		put_u(&b, o->body_len);
		put_s(&b, "\r\n");
		if (!(pre ? pre->ctype : has_hdr(hs, "Content-Type")))
			put_s(&b, "Content-Type: application/x-www-form-urlencoded\r\n");
	}
	put_s(&b, "\r\n");
	r->pl->head_len = b.len;
	r->pl->head = buf_steal(&b);
}

/* "<host> port <n>" into key (PLAIN_KEY bytes), the host cut to fit, as snprintf would write
 * it; without printf, since it runs on every request. */
static void pool_key(char *key, const struct target *t)
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

static void plain_start(struct httpc_req *r, const struct httpc_opts *o, const struct target *t)
{
	const char *method = o->method ? o->method : (o->body ? "POST" : "GET");
	struct plain *p = xcalloc(1, sizeof(*p));

	r->pl = p;
	memcpy(&p->sa, &t->sa, sizeof(p->sa));
	p->sa_len = t->sa_len;
	pool_key(p->key, t);
	p->keep = true;
	p->idempotent = strcmp(method, "GET") == 0 && !o->body;
	/* With a check, as in curl's path: a connection of its own, not kept. */
	p->no_pool = o->check_addr != NULL;
	r->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000L;
	if (o->body) {
		if (!o->body_take) {
			r->body = xmalloc(o->body_len + 1);
			memcpy(r->body, o->body, o->body_len);
		}
		r->body_len = o->body_len;
	}
	plain_head(r, o, t, method);
	evtimer_assign(&p->timer, loop_base(r->loop), plain_timeout, r);
	if (o->timeout_ms > 0)
		p->deadline_us = r->start_us + (int64_t)o->timeout_ms * 1000;
	plain_go(r);
}

static void plain_free(struct httpc_req *r)
{
	if (!r->pl)
		return;
	plain_detach(r, false);
	free(r->pl->head);
	free(r->pl);
}

static int valid_scheme(const char *url, bool mail)
{
	if (mail)
		return url && (strncmp(url, "smtp://", 7) == 0 || strncmp(url, "smtps://", 8) == 0);
	return url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
}

/* ---- mail, on a worker thread ----
 *
 * SMTP: MAIL FROM, RCPT TO, AUTH, TLS, and the message. libcurl sends QUIT and waits for its
 * answer synchronously when it closes an SMTP connection (smtp_disconnect), wherever that
 * happens: in multi_done with CURLOPT_FORBID_REUSE, or later when a pooled connection is
 * pruned, to a server that may be gone by then. On the loop that is one blocking round trip
 * per mail (up to the response timeout against a slow or hostile relay). So a mail runs as an
 * offload job (core/offload.h: its own thread, at most MAIL_THREADS) with its own easy handle
 * (curl_easy_perform, nothing shared with the loop's multi handle), and the loop finishes the
 * request when the job is done, so done still fires exactly once, from the loop. A cancel
 * answers at once and sets the job's abort flag: the progress callback ends the transfer (an
 * aborted SMTP connection is closed without QUIT) and the job is freed when it returns. The
 * loop's pool owns the offload, so destroying the loop waits for mail still being sent
 * (after httpc_cancel_all, only for the abort) before curl is cleaned up. No proxy: curl
 * would tunnel mail through an HTTP proxy only when asked to. Credentials are copied by curl
 * and never written to the error buffer. */
#define MAIL_THREADS 4

struct mail_job {
	atomic_bool abort;
	struct httpc_req *r; /* loop side only; NULL once cancelled */
	CURL *easy;
	struct curl_slist *rcpt;
	char *msg;
	size_t len, pos;
	CURLcode rc;
	long status;
	char errbuf[CURL_ERROR_SIZE];
};

static void mail_free(void *arg)
{
	struct mail_job *j = arg;

	if (j->easy)
		curl_easy_cleanup(j->easy);
	curl_slist_free_all(j->rcpt);
	free(j->msg);
	free(j);
}

static size_t mail_read(char *out, size_t size, size_t n, void *arg)
{
	struct mail_job *j = arg;
	size_t cap = size * n, left = j->len - j->pos, take = left < cap ? left : cap;

	if (atomic_load(&j->abort))
		return CURL_READFUNC_ABORT;
	memcpy(out, j->msg + j->pos, take);
	j->pos += take;
	return take;
}

/* SMTP has no body; anything curl hands here is dropped (the default would print it). */
static size_t mail_discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

static int mail_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct mail_job *j = arg;

	return atomic_load(&j->abort) ? 1 : 0;
}

/* On the job's thread. The easy handle goes here, so the QUIT of its connection does too. */
static void mail_work(void *arg)
{
	struct mail_job *j = arg;

	j->rc = curl_easy_perform(j->easy);
	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
	curl_easy_cleanup(j->easy);
	j->easy = NULL;
}

/* On the loop, once the transfer has ended: the request ends, unless it was cancelled. */
static void mail_done(void *arg)
{
	struct mail_job *j = arg;
	struct httpc_req *r = j->r;

	if (r) {
		r->mail = NULL;
		r->end_us = now_mono_us();
		r->status = j->status;
		r->result = map_code(j->rc);
		if (r->result != HTTPC_OK) {
			memcpy(r->errbuf, j->errbuf, sizeof(r->errbuf));
			r->errbuf[sizeof(r->errbuf) - 1] = '\0';
			r->scrubbed =
				log_redact(r->errbuf[0] ? r->errbuf : curl_easy_strerror(j->rc));
			r->error = r->scrubbed;
		}
		finish(r);
	}
	mail_free(j);
}

/* From abort_now (the loop): the request ends now; the job ends its transfer on its own. */
static void mail_abandon(struct httpc_req *r)
{
	struct mail_job *j = r->mail;

	atomic_store(&j->abort, true);
	j->r = NULL;
	r->mail = NULL;
}

static int mail_setup(struct mail_job *j, const struct httpc_opts *o)
{
	const struct httpc_mail *m = o->mail;
	char addr[320];

	curl_easy_setopt(j->easy, CURLOPT_URL, o->url);
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS,
			 o->connect_timeout_ms ? (long)o->connect_timeout_ms : 10000L);
	if (o->timeout_ms > 0)
		curl_easy_setopt(j->easy, CURLOPT_SERVER_RESPONSE_TIMEOUT,
				 (long)(o->timeout_ms + 999) / 1000);
	curl_easy_setopt(j->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(j->easy, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(j->easy, CURLOPT_PROXY, "");
	set_trust(j->easy);
	snprintf(addr, sizeof(addr), "<%s>", m->from);
	curl_easy_setopt(j->easy, CURLOPT_MAIL_FROM, addr);
	for (size_t i = 0; m->rcpt && m->rcpt[i]; i++) {
		struct curl_slist *n;

		snprintf(addr, sizeof(addr), "<%s>", m->rcpt[i]);
		n = curl_slist_append(j->rcpt, addr);
		if (!n)
			return -1;
		j->rcpt = n;
	}
	if (!j->rcpt)
		return -1;
	curl_easy_setopt(j->easy, CURLOPT_MAIL_RCPT, j->rcpt);
	if (m->username) {
		curl_easy_setopt(j->easy, CURLOPT_USERNAME, m->username);
		curl_easy_setopt(j->easy, CURLOPT_PASSWORD, m->password ? m->password : "");
	}
	curl_easy_setopt(j->easy, CURLOPT_USE_SSL, m->plain ? CURLUSESSL_NONE : CURLUSESSL_ALL);
	curl_easy_setopt(j->easy, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(j->easy, CURLOPT_READFUNCTION, mail_read);
	curl_easy_setopt(j->easy, CURLOPT_READDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->len);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, mail_discard);
	curl_easy_setopt(j->easy, CURLOPT_HEADERFUNCTION, mail_discard);
	curl_easy_setopt(j->easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(j->easy, CURLOPT_XFERINFOFUNCTION, mail_progress);
	curl_easy_setopt(j->easy, CURLOPT_XFERINFODATA, j);
	return 0;
}

static int mail_start(struct httpc_req *r, const struct httpc_opts *o)
{
	struct pool *pl = pool_of(r->loop);
	struct mail_job *j = xcalloc(1, sizeof(*j));

	atomic_init(&j->abort, false);
	j->r = r;
	j->len = o->body_len;
	j->msg = xmalloc(o->body_len + 1);
	memcpy(j->msg, o->body ? o->body : "", o->body_len);
	j->easy = curl_easy_init();
	if (!pl->mail)
		pl->mail = offload_create(r->loop, MAIL_THREADS);
	if (!j->easy || mail_setup(j, o) < 0 ||
	    offload_run(pl->mail, mail_work, mail_done, mail_free, j) < 0) {
		mail_free(j);
		return -1;
	}
	r->mail = j;
	return 0;
}

int httpc_start(struct loop *l, const struct httpc_opts *o, httpc_done_cb done, void *arg,
		struct httpc_req **out)
{
	struct httpc_req *r;
	struct target t;

	if (!valid_scheme(o->url, o->mail) ||
	    (o->mail && (o->body_take || o->upload_len || o->on_data || o->check_addr))) {
		if (o->upload_len > 0)
			close(o->upload_fd);
		if (o->body_take)
			free((char *)o->body);
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	r->loop = l;
	r->done = done;
	r->arg = arg;
	r->on_data = o->on_data;
	r->upload_fd = o->upload_len > 0 ? o->upload_fd : -1;
	if (o->body_take)
		r->body = (char *)o->body; /* freed with r, also on failure below */
	buf_init(&r->resp, o->max_response_bytes ? o->max_response_bytes : DEFAULT_BODY_CAP);
	buf_init(&r->hdrs, HEADERS_CAP);
	buf_reserve(&r->hdrs, 512); /* a usual answer's head, without regrowing line by line */
	r->start_us = now_mono_us();
	if (o->mail) {
		if (mail_start(r, o) < 0)
			goto fail;
		goto started;
	}
	if (o->first_byte_timeout_ms > 0) {
		struct timeval tv = {o->first_byte_timeout_ms / 1000,
				     (o->first_byte_timeout_ms % 1000) * 1000};

		r->fb_timer = evtimer_new(loop_base(l), on_first_byte_timeout, r);
		if (!r->fb_timer)
			goto fail;
		evtimer_add(r->fb_timer, &tv);
	}
	if (plain_ok(o, &t)) {
		r->check_addr = o->check_addr;
		r->check_arg = o->check_arg;
		plain_start(r, o, &t);
		goto started;
	}
	r->easy = loop_curl_easy(l);
	if (!r->easy || set_headers(r, o) < 0)
		goto fail;
	curl_easy_setopt(r->easy, CURLOPT_URL, o->url);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "hermetic/" HERMETIC_VERSION);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
			 o->connect_timeout_ms ? o->connect_timeout_ms : 10000L);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	set_trust(r->easy);
	set_proxy(r->easy, o->url);
	/* curl's 16 KiB default receive buffer per transfer adds up with many open streams. */
	curl_easy_setopt(r->easy, CURLOPT_BUFFERSIZE, 8192L);
	/* The send buffer (64 KiB by default, for requests of a few KiB) stays with the handle
	 * while the transfer lasts, so every open stream would hold one (see SENDBUF_FREE). */
	curl_easy_setopt(r->easy, CURLOPT_UPLOAD_BUFFERSIZE,
			 o->on_data ? SENDBUF_FREE : SENDBUF_KEEP);
	set_method(r, o);
	set_check(r, o);
	if (in_curl_callback) {
		r->start_ev = evtimer_new(loop_base(l), on_start, r);
		if (!r->start_ev)
			goto fail;
		event_active(r->start_ev, EV_TIMEOUT, 1);
	} else {
		if (loop_curl_add(l, r->easy, on_done, r) < 0)
			goto fail;
		r->in_multi = 1;
	}
started:
	r->next = all_reqs;
	if (r->next)
		r->next->prev = r;
	all_reqs = r;
	if (out)
		*out = r;
	return 0;
fail:
	if (r->fb_timer)
		event_free(r->fb_timer);
	if (r->defer)
		event_free(r->defer);
	if (r->start_ev)
		event_free(r->start_ev);
	loop_curl_release(l, r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->tail);
	if (r->upload_fd >= 0)
		close(r->upload_fd);
	buf_finish(&r->resp);
	buf_finish(&r->hdrs);
	free(r);
	return -1;
}

void httpc_cancel(struct httpc_req *r)
{
	if (r->pending == HTTPC_OK) {
		r->pending = HTTPC_CANCELLED;
		r->error = "cancelled";
	}
	if (!r->defer) {
		r->defer = evtimer_new(loop_base(r->loop), on_defer, r);
		if (!r->defer)
			abort(); /* out of memory, as xmalloc */
	}
	event_active(r->defer, EV_TIMEOUT, 1);
}

void httpc_cancel_all(struct loop *l)
{
	struct httpc_req *r;

	for (r = all_reqs; r; r = r->next)
		if (r->loop == l)
			httpc_cancel(r);
}

enum httpc_result httpc_result(const struct httpc_req *r)
{
	return r->result;
}

const char *httpc_error(const struct httpc_req *r)
{
	return r->result == HTTPC_OK ? "" : (r->error ? r->error : httpc_result_name(r->result));
}

long httpc_status(const struct httpc_req *r)
{
	return r->status;
}

const char *httpc_body(const struct httpc_req *r, size_t *len)
{
	if (len)
		*len = r->resp.len;
	return buf_str(&r->resp);
}

const char *httpc_header(const struct httpc_req *r, const char *name)
{
	static char value[1024];
	const char *p = buf_str(&r->hdrs);
	size_t n = strlen(name);

	/* Lines are "Name: value\r\n"; the first line is the status line. */
	while ((p = strchr(p, '\n'))) {
		const char *end, *v;
		size_t vlen;

		p++;
		if (strncasecmp(p, name, n) != 0 || p[n] != ':')
			continue;
		v = p + n + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		end = strpbrk(v, "\r\n");
		vlen = end ? (size_t)(end - v) : strlen(v);
		if (vlen >= sizeof(value))
			vlen = sizeof(value) - 1;
		memcpy(value, v, vlen);
		value[vlen] = '\0';
		return value;
	}
	return NULL;
}

bool httpc_request_sent(const struct httpc_req *r)
{
	curl_off_t sent = 0;

	if (r->status > 0)
		return true;
	if (r->pl)
		return r->pl->sent > 0 && r->pl->sent >= r->pl->head_len + r->body_len;
	if (curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &sent) != CURLE_OK)
		return false;
	return sent > 0 && sent >= (curl_off_t)r->body_len;
}

bool httpc_is_plain(const struct httpc_req *r)
{
	return r->pl != NULL;
}

long httpc_first_byte_ms(const struct httpc_req *r)
{
	return r->first_byte_us ? (long)((r->first_byte_us - r->start_us) / 1000) : -1;
}

long httpc_total_ms(const struct httpc_req *r)
{
	int64_t end = r->end_us ? r->end_us : now_mono_us();

	return (long)((end - r->start_us) / 1000);
}
