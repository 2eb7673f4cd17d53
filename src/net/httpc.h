/* httpc: asynchronous HTTP(S) requests on the loop. Plain http:// to a numeric address with no
 * proxy variable set goes over httpc's own HTTP/1.1 client with a keep-alive pool per loop
 * (HERMETIC_HTTPC_CURL_ONLY=1 in the environment turns that off); everything else, and anything
 * that path does not model exactly (host names, proxies, uploads from a file, Expect), goes
 * through libcurl's multi interface. Both behave the same behind this API.
 *
 * Async contract (libuv's): if httpc_start returns an error, the done callback never fires;
 * otherwise it fires exactly once, on success, error, timeout or cancel, always from the loop
 * (never from inside httpc_start or httpc_cancel). The request is freed after it returns.
 */
#ifndef HERMETIC_HTTPC_H
#define HERMETIC_HTTPC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct loop;
struct httpc_req;

enum httpc_result {
	HTTPC_OK,	  /* a complete HTTP response arrived (any status) */
	HTTPC_TIMEOUT,	  /* whole-request timeout */
	HTTPC_FIRST_BYTE, /* no response byte within first_byte_timeout_ms */
	HTTPC_CONNECT,	  /* could not resolve or connect */
	HTTPC_TOO_BIG,	  /* response body or headers over their cap */
	HTTPC_CANCELLED,  /* httpc_cancel, or the data callback returned < 0 */
	HTTPC_TRANSPORT,  /* anything else curl reported (TLS, reset, truncated body) */
	HTTPC_REFUSED,	  /* check_addr refused every address the host resolved to */
};

/* Streaming: called for each piece of the body as it arrives (the body is then not buffered).
 * Return 0 to continue, < 0 to abort the request (done fires with HTTPC_CANCELLED). */
typedef int (*httpc_data_cb)(struct httpc_req *req, const char *data, size_t len, void *arg);
typedef void (*httpc_done_cb)(struct httpc_req *req, void *arg);
/* Peer address check (an SSRF guard): called with each address curl is about to connect to,
 * after name resolution, so DNS answers cannot get around it. Return 0 to connect, or < 0
 * with a reason in why ("127.0.0.1 is a loopback address"): that address is skipped, and when
 * none is left the request ends with HTTPC_REFUSED and httpc_error gives the last reason. */
typedef int (*httpc_addr_cb)(const struct sockaddr *sa, size_t len, char *why, size_t why_len,
			     void *arg);

/* A mail submission instead of an HTTP request (libcurl's smtp/smtps): url is smtps://host
 * (implicit TLS) or smtp://host (STARTTLS required unless plain is set), body is the RFC 5322
 * message (headers, blank line, text; CRLF line ends), sent after MAIL FROM and one RCPT TO
 * per recipient. Done fires with HTTPC_OK when the server took the message (httpc_status is
 * its last reply code, 250); a refusal is HTTPC_TRANSPORT with curl's reason. A mail runs
 * on a worker thread with its own connection (libcurl's SMTP close waits for QUIT's answer),
 * at most 4 at once: httpc_start fails beyond that. on_data and check_addr are refused. */
struct httpc_mail {
	const char *from;	 /* "a@b", without brackets */
	const char *const *rcpt; /* NULL-terminated "a@b" */
	const char *username;	 /* NULL = no AUTH */
	const char *password;
	bool plain; /* no TLS at all (the caller checked the host is loopback) */
};

struct httpc_opts {
	const char *method;	    /* NULL = GET, or POST when body is set */
	const char *url;	    /* http:// or https://; smtp:// or smtps:// with mail */
	const char *const *headers; /* NULL-terminated "Name: value" lines, copied */
	/* headers checked and laid out once (httpc_headers_prepare(headers)), for a caller that
	 * sends the same lines many times; borrowed. Used only when made from this headers
	 * array; NULL = check and lay them out for this request. */
	const struct httpc_headers *prepared;
	const char *body; /* copied, unless body_take */
	size_t body_len;
	/* body is malloc'd and handed to httpc (freed by it, also when httpc_start fails): no
	 * copy of a large request. */
	bool body_take;
	/* A file streamed after body (POST): upload_len bytes of upload_fd from offset 0, then
	 * body_tail (copied; may be NULL). For uploads too big to hold in memory (a multipart
	 * form's head in body, the file, the closing boundary in body_tail). With upload_len > 0
	 * httpc owns upload_fd: it is closed when the request ends, or by a failing httpc_start. */
	int upload_fd;
	size_t upload_len;
	const char *body_tail;
	long timeout_ms;	    /* whole request; 0 = none */
	long connect_timeout_ms;    /* 0 = 10 s */
	long first_byte_timeout_ms; /* 0 = none */
	size_t max_response_bytes;  /* cap on the buffered body; 0 = 8 MiB */
	httpc_data_cb on_data;	    /* NULL = buffer the body */
	/* NULL = connect anywhere. When set, proxies are not used (the check must see the real
	 * peer) and connections are neither reused nor kept, so every request is checked. */
	httpc_addr_cb check_addr;
	void *check_arg;	       /* borrowed; must outlive the request */
	const struct httpc_mail *mail; /* copied; NULL = HTTP */
};

int httpc_start(struct loop *l, const struct httpc_opts *o, httpc_done_cb done, void *arg,
		struct httpc_req **out);
/* The plain path's work on a set of custom header lines, done once: whether it can send them
 * itself, and their text as they go in the request head. hs (borrowed) must stay unchanged
 * and outlive the result, which remembers it. Accepts NULL (no lines); free with
 * httpc_headers_free (accepts NULL). */
struct httpc_headers *httpc_headers_prepare(const char *const *hs);
void httpc_headers_free(struct httpc_headers *h);
/* Aborts the request; done fires later with HTTPC_CANCELLED. Safe from any callback, also
 * this request's own data callback. A no-op after done has fired is not allowed (the request
 * is gone): callers forget the pointer in their done callback. */
void httpc_cancel(struct httpc_req *req);
/* Cancels every outstanding request of the loop (shutdown). */
void httpc_cancel_all(struct loop *l);
/* How long a connection of the plain path's pool may idle before a timer closes it, traffic
 * or not (default 30 s; the tests shorten it). Applies to what is put in the pool later. */
void httpc_set_idle_ms(struct loop *l, long ms);
/* The proxy variables (no_proxy, http_proxy, https_proxy, all_proxy and their upper-case
 * forms, with curl's rules) are read at the first request and kept; a process that changes
 * them later calls this so that the next request reads them again. */
void httpc_env_changed(void);

/* The formats of curl's own printf that httpc writes faster (static builds link curl's
 * request-head formatting to it): httpc_format_fast(fmt) says whether every directive of fmt
 * is one of %s %.*s %d %u %ld %lu %lld %llu %zu %c %%; httpc_vformat then writes what
 * curl_mvsnprintf would write, up to cap bytes (no NUL), and returns the whole length. */
bool httpc_format_fast(const char *fmt);
size_t httpc_vformat(char *out, size_t cap, const char *fmt, va_list ap);

enum httpc_result httpc_result(const struct httpc_req *req);
const char *httpc_result_name(enum httpc_result r);
/* A readable reason for a failure ("Couldn't connect to server", "first byte timeout ..."). */
const char *httpc_error(const struct httpc_req *req);
/* HTTP status of the response, known from its first header line on (also inside the data
 * callback); 0 when no response arrived. */
long httpc_status(const struct httpc_req *req);
/* The buffered body (NUL-terminated; "" when streamed or empty). Borrowed until done returns. */
const char *httpc_body(const struct httpc_req *req, size_t *len);
/* Value of a response header (case-insensitive); NULL if absent. The string is valid until
 * the next httpc_header call. */
const char *httpc_header(const struct httpc_req *req, const char *name);
/* n response headers found in one pass over the lines: values[i] (lens[i] bytes, not
 * NUL-terminated, borrowed until done returns) is what httpc_header(req, names[i]) would give
 * (the first line of that name, before the 1023-byte cut), NULL (0) when absent. */
void httpc_headers_find(const struct httpc_req *req, const char *const *names, size_t n,
			const char **values, size_t *lens);
/* True when the whole request body went out (so the server may be working on it); false when
 * the request failed or was cancelled before that (no connection, refused, still sending). */
bool httpc_request_sent(const struct httpc_req *req);
/* True when the request runs on httpc's own HTTP/1.1 path (plain http:// to a numeric address,
 * no proxy), false when curl carries it. For tests and logs. */
bool httpc_is_plain(const struct httpc_req *req);
/* Milliseconds from start to the first response byte (-1 if none) and to the end. */
long httpc_first_byte_ms(const struct httpc_req *req);
long httpc_total_ms(const struct httpc_req *req);

#endif
