/* httpc: plain http:// requests to a numeric address on its own HTTP/1.1 path (see
 * httpc_plain.c: a socket on the loop, a keep-alive pool per loop); everything
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
 *
 * This file owns a request's life (start, cancel, the one end through finish, the accessors)
 * and the curl easy path. The other parts are their own files (httpc_int.h lists them): the
 * plain path's request, answer parser, head and pool, the environment's trust anchors and
 * proxies, mail on a worker thread, what every path notes on a request, and the link-time
 * wrappers of curl. They never call this file: the plain path and the mail worker end a
 * request through r->owner (struct httpc_owner).
 */
#include "net/httpc_int.h"
#include "config_build.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

#include <ctype.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_BODY_CAP (8 * 1024 * 1024)

static struct httpc_req *all_reqs;

/* The answer and header buffers of ended requests, kept for the next ones. Each request grows
 * them by doubling to a few KiB and frees them at its end; at a thousand requests a second
 * musl's mallocng unmapped and mapped those sizes' groups again as requests came and went, two
 * page faults a request on the loop (per-thread minflt, benchmarks/router). A few are kept, of
 * at most SPARE_BUF_MAX each and SPARE_BYTES in all, so what is idle stays small. Loop-only, as
 * all_reqs is; none kept under AddressSanitizer, so a use after the end is still caught. */
#define SPARE_BUFS    8
#define SPARE_BUF_MAX (16 * 1024)
#define SPARE_BYTES   (64 * 1024)

static struct buf spare_bufs[SPARE_BUFS];
static size_t n_spare_bufs, spare_bytes;

/* b (unused, zeroed) gets a kept allocation of at least want bytes if there is one. */
static void buf_from_spare(struct buf *b, size_t cap, size_t want)
{
	buf_init(b, cap);
	for (size_t i = n_spare_bufs; i-- > 0;) {
		if (spare_bufs[i].alloc < want)
			continue;
		b->data = spare_bufs[i].data;
		b->alloc = spare_bufs[i].alloc;
		b->data[0] = '\0';
		spare_bytes -= b->alloc;
		spare_bufs[i] = spare_bufs[--n_spare_bufs];
		return;
	}
}

/* Ends b: its allocation is kept for a later request, or freed. */
static void buf_to_spare(struct buf *b)
{
#if !defined(__SANITIZE_ADDRESS__)
	if (b->data && b->alloc <= SPARE_BUF_MAX && n_spare_bufs < SPARE_BUFS &&
	    spare_bytes + b->alloc <= SPARE_BYTES) {
		spare_bufs[n_spare_bufs++] = *b;
		spare_bytes += b->alloc;
		buf_init(b, 0);
		return;
	}
#endif
	buf_finish(b);
}
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

/* Ends r: off the list, done fires, everything of r is freed (httpc_owner.finish). */
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
	httpc_plain_free(r);
	loop_curl_release(r->loop, r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->tail);
	if (r->upload_fd >= 0)
		close(r->upload_fd);
	free(r->scrubbed);
	buf_to_spare(&r->resp);
	buf_to_spare(&r->hdrs);
	free(r);
}

static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct httpc_req *r = arg;
	size_t len = size * n;

	httpc_mark_first_byte(r);
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

	httpc_mark_first_byte(r);
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

static void on_done(CURL *easy, CURLcode rc, void *arg)
{
	struct httpc_req *r = arg;

	r->in_multi = 0;
	r->end_us = now_mono_us();
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->pending != HTTPC_OK) {
		r->result = r->pending;
	} else {
		r->result = httpc_map_code(rc);
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

/* Runs from the loop for httpc_cancel and the first-byte timer: safe to touch the multi
 * (httpc_owner.abort_now). */
static void abort_now(struct httpc_req *r)
{
	if (r->mail) {
		httpc_mail_abandon(r);
	} else if (r->pl) {
		httpc_plain_detach(r, false);
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

static int valid_scheme(const char *url, bool mail)
{
	if (mail)
		return url && (strncmp(url, "smtp://", 7) == 0 || strncmp(url, "smtps://", 8) == 0);
	return url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
}

static const struct httpc_owner owner = {
	.finish = finish,
	.abort_now = abort_now,
	.end_later = end_later,
};

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
	r->owner = &owner;
	r->loop = l;
	r->done = done;
	r->arg = arg;
	r->on_data = o->on_data;
	r->upload_fd = o->upload_len > 0 ? o->upload_fd : -1;
	if (o->body_take)
		r->body = (char *)o->body; /* freed with r, also on failure below */
	buf_from_spare(&r->hdrs, HEADERS_CAP, 512);
	buf_reserve(&r->hdrs, 512); /* a usual answer's head, without regrowing line by line */
	buf_from_spare(&r->resp, o->max_response_bytes ? o->max_response_bytes : DEFAULT_BODY_CAP,
		       1);
	r->start_us = now_mono_us();
	if (o->mail) {
		if (httpc_mail_start(r, o) < 0)
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
	if (httpc_plain_ok(o, &t)) {
		r->check_addr = o->check_addr;
		r->check_arg = o->check_arg;
		httpc_plain_start(r, o, &t);
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
	httpc_set_trust(r->easy);
	httpc_set_proxy(r->easy, o->url);
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
	unsigned first = (unsigned char)name[0] | 0x20u;

	/* Lines are "Name: value\r\n"; the first line is the status line. The first letter is
	 * compared (ASCII case folded by | 0x20, which never tells two cases of one letter apart)
	 * before the whole name: the router asks for ten rate-limit headers of every answer, most
	 * of which it does not carry. */
	while ((p = strchr(p, '\n'))) {
		const char *end, *v;
		size_t vlen;

		p++;
		if ((n && ((unsigned char)*p | 0x20u) != first) || !ascii_case_eq_n(p, name, n) ||
		    p[n] != ':')
			continue;
		v = p + n + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		/* a byte loop: values are short, and musl's strpbrk builds a table first */
		for (end = v; *end && *end != '\r' && *end != '\n'; end++)
			;
		vlen = (size_t)(end - v);
		if (vlen >= sizeof(value))
			vlen = sizeof(value) - 1;
		memcpy(value, v, vlen);
		value[vlen] = '\0';
		return value;
	}
	return NULL;
}

void httpc_headers_find(const struct httpc_req *r, const char *const *names, size_t n,
			const char **values, size_t *lens)
{
	const char *p = buf_str(&r->hdrs);
	size_t i, left = n;

	for (i = 0; i < n; i++) {
		values[i] = NULL;
		lens[i] = 0;
	}
	/* The lines as httpc_header reads them, each compared with the names not found yet: the
	 * first byte with ASCII case folded (| 0x20) first, which never tells two cases of one
	 * letter apart, so ascii_case_eq_n still decides every match. */
	while (left && (p = strchr(p, '\n'))) {
		unsigned first = (unsigned char)*++p | 0x20u;

		for (i = 0; i < n; i++) {
			size_t nl;
			const char *v, *end;

			if (values[i] || ((unsigned char)names[i][0] | 0x20u) != first)
				continue;
			nl = strlen(names[i]);
			if (!nl || !ascii_case_eq_n(p, names[i], nl) || p[nl] != ':')
				continue;
			v = p + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			end = strpbrk(v, "\r\n");
			values[i] = v;
			lens[i] = end ? (size_t)(end - v) : strlen(v);
			left--;
			break;
		}
	}
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
