/* util: OOM-aborting allocation, the capped `struct buf`, strict number parsing,
 * constant-time comparison, clocks and RFC 3339 stamps, SHA-256 (mbedTLS's, the TLS library
 * we ship) and edit distance for "did you mean" hints.
 */
#include "core/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

static void oom(size_t len)
{
	fprintf(stderr, "hermetic: out of memory allocating %zu bytes\n", len);
	abort();
}

void *xmalloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p)
		oom(len);
	return p;
}

void *xcalloc(size_t n, size_t len)
{
	void *p = calloc(n ? n : 1, len ? len : 1);

	if (!p)
		oom(n * len);
	return p;
}

void *xrealloc(void *p, size_t len)
{
	void *q = realloc(p, len ? len : 1);

	if (!q)
		oom(len);
	return q;
}

char *xstrdup(const char *s)
{
	if (!s)
		return NULL;
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t len)
{
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *p;

	/* UBSan's checks at -O2 make gcc see a path with fmt NULL (-Wformat-truncation) */
	if (fmt == NULL)
		abort();
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		oom(0);
	p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void buf_init(struct buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void buf_finish(struct buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int buf_append_grow(struct buf *b, const void *data, size_t n)
{
	size_t need;

	if (b->cap && (n > b->cap || b->len > b->cap - n))
		return -E2BIG;
	need = b->len + n + 1;
	if (need > b->alloc) {
		size_t alloc = b->alloc ? b->alloc : 64;

		while (alloc < need)
			alloc *= 2;
		b->data = xrealloc(b->data, alloc);
		b->alloc = alloc;
	}
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void buf_reserve(struct buf *b, size_t n)
{
	size_t need = b->len + n + 1;

	if (b->cap && need > b->cap + 1)
		need = b->cap + 1;
	if (need > b->alloc) {
		b->data = xrealloc(b->data, need);
		b->alloc = need;
		b->data[b->len] = '\0';
	}
}

int buf_put_int(struct buf *b, long long v)
{
	char tmp[INT_TEXT_MAX];

	return buf_append(b, tmp, fmt_int(tmp, v));
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int rc;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	rc = buf_puts(b, s);
	free(s);
	return rc;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

char *buf_steal(struct buf *b)
{
	char *p = b->data ? b->data : xstrdup("");

	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}

const char *buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	/* strtoll alone would accept leading blanks and '+': the whole string must be digits. */
	if (!s || !(*s == '-' || (*s >= '0' && *s <= '9')))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_double(const char *s, double *out)
{
	char *end;
	double v;

	/* Plain decimal only: no blanks, '+', hex floats, inf or nan. */
	if (!s || !(*s == '-' || *s == '.' || (*s >= '0' && *s <= '9')) || strpbrk(s, "xXnN"))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || !isfinite(v))
		return -ERANGE;
	*out = v;
	return 0;
}

bool secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char diff = la != lb;

	/* Walk the longer string fully so timing does not reveal the first mismatch. */
	for (i = 0; i < (la > lb ? la : lb); i++) {
		unsigned char ca = i < la ? (unsigned char)a[i] : 0;
		unsigned char cb = i < lb ? (unsigned char)b[i] : 0;

		diff |= ca ^ cb;
	}
	return diff == 0;
}

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t now_mono_ms(void)
{
	return clock_us(CLOCK_MONOTONIC) / 1000;
}

int64_t now_mono_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

int64_t now_wall_ms(void)
{
	return clock_us(CLOCK_REALTIME) / 1000;
}

int64_t now_mono_coarse_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		return now_mono_ms();
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t fmt_uint(char *out, unsigned long long u, unsigned base)
{
	char tmp[INT_TEXT_MAX];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = "0123456789abcdef"[u % base];
		u /= base;
	} while (u);
	memcpy(out, tmp + n, sizeof(tmp) - n);
	return sizeof(tmp) - n;
}

size_t fmt_int(char *out, long long v)
{
	if (v >= 0)
		return fmt_uint(out, (unsigned long long)v, 10);
	out[0] = '-';
	return 1 + fmt_uint(out + 1, 0ULL - (unsigned long long)v, 10);
}

size_t fmt_fixed(char *out, double v, int decimals)
{
	static const double scale[] = {1,   1e1, 1e2, 1e3,  1e4,  1e5, 1e6,
				       1e7, 1e8, 1e9, 1e10, 1e11, 1e12};
	double a = v < 0 ? -v : v;
	uint64_t whole, frac, unit;
	size_t n = 0, len;
	char tmp[INT_TEXT_MAX];

	if (!(a < FMT_FIXED_MAX) || decimals < 0 || decimals > 12) /* NaN fails the first */
		return 0;
	unit = (uint64_t)scale[decimals];
	/* Ties to even, as printf: on the last digit kept, the whole part's when none follow. */
	whole = decimals ? (uint64_t)a : (uint64_t)rint(a);
	frac = decimals ? (uint64_t)rint((a - (double)whole) * scale[decimals]) : 0;
	if (frac >= unit) {
		whole++;
		frac -= unit;
	}
	if (v < 0 && (whole || frac))
		out[n++] = '-';
	n += fmt_uint(out + n, whole, 10);
	if (!frac)
		return n;
	while (frac % 10 == 0) {
		frac /= 10;
		decimals--;
	}
	len = fmt_uint(tmp, frac, 10);
	out[n++] = '.';
	for (int zeros = decimals - (int)len; zeros > 0; zeros--)
		out[n++] = '0';
	memcpy(out + n, tmp, len);
	return n + len;
}

void rfc3339_utc(int64_t ms, bool with_ms, char out[RFC3339_LEN])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(out, RFC3339_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	if (with_ms)
		snprintf(out + n, RFC3339_LEN - n, ".%03dZ", (int)(ms % 1000));
	else
		snprintf(out + n, RFC3339_LEN - n, "Z");
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	size_t i;

#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256(data, len, md, 0);
#else
	mbedtls_sha256_ret(data, len, md, 0);
#endif
	for (i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

size_t edit_distance(const char *a, const char *b, size_t max)
{
	size_t la = strlen(a), lb = strlen(b), i, j, best, *row;

	if (la > 64 || lb > 64)
		return max + 1;
	if ((la > lb ? la - lb : lb - la) > max)
		return max + 1;
	row = xcalloc(lb + 1, sizeof(*row));
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		best = row[0];
		for (j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = diag + cost;

			if (up + 1 < v)
				v = up + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			diag = up;
			if (v < best)
				best = v;
		}
		if (best > max) {
			free(row);
			return max + 1;
		}
	}
	best = row[lb];
	free(row);
	return best > max ? max + 1 : best;
}

size_t utf8_seq(const char *str, size_t left)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return n;
}

int buf_base64(struct buf *b, const void *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char out[4 * 256];
	size_t n = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		out[n++] = alphabet[v >> 18 & 63];
		out[n++] = alphabet[v >> 12 & 63];
		out[n++] = left > 1 ? alphabet[v >> 6 & 63] : '=';
		out[n++] = left > 2 ? alphabet[v & 63] : '=';
		if (n == sizeof(out)) {
			if (buf_append(b, out, n) < 0)
				return -1;
			n = 0;
		}
	}
	return n ? buf_append(b, out, n) : 0;
}

int buf_json_str(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;
	int rc = buf_append(b, "\"", 1);

	while (rc == 0 && i < len) {
		size_t n;

		/* Plain ASCII, nearly every byte, without a call. */
		if (p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\') {
			i++;
			run++;
			continue;
		}
		n = p[i] < 0x80 ? 1 : utf8_seq(s + i, len - i);
		if (n > 1) {
			i += n;
			run += n;
			continue;
		}
		rc = buf_append(b, p + i - run, run);
		run = 0;
		if (rc < 0)
			break;
		if (n == 0)
			rc = buf_puts(b, "\\ufffd");
		else if (p[i] == '"' || p[i] == '\\')
			rc = buf_printf(b, "\\%c", p[i]);
		else if (p[i] == '\n')
			rc = buf_puts(b, "\\n");
		else
			rc = buf_printf(b, "\\u%04x", p[i]);
		i++;
	}
	if (rc == 0)
		rc = buf_append(b, p + i - run, run);
	if (rc == 0)
		rc = buf_append(b, "\"", 1);
	return rc;
}

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t utf8_cut(const char *s, size_t len)
{
	size_t i = len;

	/* Step back over continuation bytes to the start of the last sequence. */
	while (i > 0 && len - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return len;
	if (utf8_seq(s + i - 1, len - i + 1) == len - i + 1)
		return len;
	return ((unsigned char)s[i - 1] & 0xC0) == 0xC0 ? i - 1 : len;
}

/* Bytes s[i..len) starts with, as they are copied (*out: 3 for a replaced byte). */
static size_t clip_seq(const char *s, size_t i, size_t len, size_t *out)
{
	size_t n = s[i] ? utf8_seq(s + i, len - i) : 0;

	*out = n ? n : 3;
	return n ? n : 1;
}

size_t utf8_clip(struct buf *b, const char *s, size_t len, size_t max, bool ellipsis)
{
	static const char fffd[] = "\xEF\xBF\xBD", dots[] = "\xE2\x80\xA6";
	size_t i, n, out, total = 0, room = max;

	for (i = 0; i < len && total <= max; i += n) {
		n = clip_seq(s, i, len, &out);
		total += out;
	}
	if (total > max && ellipsis && max >= 3)
		room = max - 3;
	for (i = 0; i < len; i += n) {
		n = clip_seq(s, i, len, &out);
		if (out > room)
			break;
		buf_append(b, out == n ? s + i : fffd, out);
		room -= out;
	}
	if (i < len && ellipsis && max >= 3)
		buf_append(b, dots, 3);
	return i;
}

char *utf8_clip_dup(const char *s, size_t max, bool ellipsis)
{
	struct buf b;

	buf_init(&b, 0);
	if (s)
		utf8_clip(&b, s, strlen(s), max, ellipsis);
	return buf_steal(&b);
}

size_t utf8_count(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

int64_t clamp_i64(double v, int64_t lo, int64_t hi)
{
	if (!(v >= (double)lo))
		return lo;
	if (v >= (double)hi)
		return hi;
	return (int64_t)v;
}

int random_fill(void *arg, unsigned char *out, size_t len)
{
	size_t got = 0;

	(void)arg;
	while (got < len) {
		ssize_t n = getrandom(out + got, len - got, 0);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}
