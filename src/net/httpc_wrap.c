/* httpc_wrap: link-time wrappers of curl internals, for the static builds (meson.build adds
 * the --wrap flags when the linked curl is new enough), and the request-head formatter they
 * use (httpc_format_fast, httpc_vformat: always built, unit-tested). Nothing here runs a
 * request or touches a handle: curl calls these from inside its own transfer code. The send
 * buffer sizes it tells apart (SENDBUF_KEEP, SENDBUF_FREE) are set by httpc.c. */
#include "net/httpc_int.h"

#include <curl/curl.h>
#include <curl/mprintf.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
