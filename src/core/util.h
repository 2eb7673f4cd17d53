/* util: allocation wrappers that abort on OOM, and a growable byte buffer with a hard cap.
 *
 * Every buffer fed by the network is a `struct buf` with a cap; appends past the cap fail
 * with -E2BIG and leave the buffer unchanged, so a caller can report "too big" instead of
 * growing without bound (curl's dynbuf `toobig`).
 */
#ifndef HERMETIC_UTIL_H
#define HERMETIC_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation: never return NULL; abort the process with a message on OOM. */
void *xmalloc(size_t len);
void *xcalloc(size_t n, size_t len);
void *xrealloc(void *p, size_t len);
char *xstrdup(const char *s); /* xstrdup(NULL) returns NULL */
char *xstrndup(const char *s, size_t len);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Growable buffer. Fields are private: use the functions. Always NUL-terminated
 * after the first append (data may also hold NULs; len counts bytes). */
struct buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t cap; /* maximum len; 0 = unlimited (only for data not fed by the network) */
};

void buf_init(struct buf *b, size_t cap);
void buf_finish(struct buf *b); /* frees the data; accepts a zeroed buf */
void buf_reset(struct buf *b);	/* len = 0, keeps the allocation */
/* Returns 0, or -E2BIG when len + n would exceed the cap (the buffer is unchanged). Inline
 * when at most 16 bytes fit the allocation and the cap: a proxied request makes about 150
 * appends, mostly of a few bytes, and the checks of the full function were a twentieth of it. */
int buf_append_grow(struct buf *b, const void *data, size_t n);
/* memcmp(a, b, n) == 0, inline and eight bytes a step (the last step overlapping): musl's
 * memcmp is a call and a byte loop, and short names are compared on every request. */
static inline bool mem_eq(const void *a, const void *b, size_t n)
{
	const char *x = a, *y = b;
	uint64_t u, v;
	uint32_t u4, v4;

	if (n >= 8) {
		for (size_t i = 0; i + 8 < n; i += 8) {
			memcpy(&u, x + i, 8);
			memcpy(&v, y + i, 8);
			if (u != v)
				return false;
		}
		memcpy(&u, x + n - 8, 8);
		memcpy(&v, y + n - 8, 8);
		return u == v;
	}
	if (n >= 4) {
		memcpy(&u4, x, 4);
		memcpy(&v4, y, 4);
		if (u4 != v4)
			return false;
		memcpy(&u4, x + n - 4, 4);
		memcpy(&v4, y + n - 4, 4);
		return u4 == v4;
	}
	for (; n; n--)
		if (*x++ != *y++)
			return false;
	return true;
}

/* strcasecmp(a, b) == 0 and strncasecmp(a, b, n) == 0 for ASCII, as the C locale folds
 * (A-Z only), inline: musl's call tolower for each byte, and HTTP heads are compared on
 * every request (header names, "Bearer ", "chunked"). */
static inline bool ascii_case_eq_n(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;

		if (x != y) {
			if ((unsigned)(x - 'A') < 26u)
				x += 32;
			if ((unsigned)(y - 'A') < 26u)
				y += 32;
			if (x != y)
				return false;
		}
		if (!x)
			return true;
	}
	return true;
}

static inline bool ascii_case_eq(const char *a, const char *b)
{
	return ascii_case_eq_n(a, b, SIZE_MAX);
}

/* n <= 16 bytes by two overlapping moves of a fixed size (both loads before the stores). A
 * memcpy of a size known only at run time is `rep movsb` at -Os on x86-64, which takes tens of
 * cycles to start: four fifths of buf_append's time in a perf profile of the router. */
static inline void copy_small(char *d, const char *s, size_t n)
{
	uint64_t a8, b8;
	uint32_t a4, b4;

	if (n >= 8) {
		memcpy(&a8, s, 8);
		memcpy(&b8, s + n - 8, 8);
		memcpy(d, &a8, 8);
		memcpy(d + n - 8, &b8, 8);
	} else if (n >= 4) {
		memcpy(&a4, s, 4);
		memcpy(&b4, s + n - 4, 4);
		memcpy(d, &a4, 4);
		memcpy(d + n - 4, &b4, 4);
	} else if (n) {
		char x = s[0], y = s[n / 2], z = s[n - 1];

		d[0] = x;
		d[n / 2] = y;
		d[n - 1] = z;
	}
}
/* n more bytes (and the NUL after them) fit the allocation and the cap as it is. */
static inline bool buf_has_room(const struct buf *b, size_t n)
{
	return b->alloc - b->len > n && (!b->cap || b->cap - b->len >= n);
}
static inline int buf_append(struct buf *b, const void *data, size_t n)
{
	/* More than 16 bytes go to the full function, and its memcpy (one copy of the code). */
	if (n <= 16 && buf_has_room(b, n)) {
		copy_small(b->data + b->len, data, n); /* data may be NULL when n is 0 */
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_append_grow(b, data, n);
}
/* v in decimal, without printf (buf_printf costs thousands of instructions a number). */
int buf_put_int(struct buf *b, long long v);
/* Room for n more bytes without a realloc (a buffer whose usual size is known); within cap. */
void buf_reserve(struct buf *b, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Hands the data to the caller (NUL-terminated, never NULL) and resets the buffer. */
char *buf_steal(struct buf *b);
const char *buf_str(const struct buf *b); /* "" when empty */

/* Appends s[0..len) as a JSON string literal (quotes included): ", \\ and control characters
 * escaped, invalid UTF-8 replaced by U+FFFD so the result is always valid JSON. */
int buf_json_str(struct buf *b, const char *s, size_t len);
/* Appends data as standard base64 (RFC 4648, padded). Pieces of one stream may be appended in
 * turn when every piece but the last is a multiple of 3 bytes long. */
int buf_base64(struct buf *b, const void *data, size_t len);
/* Length (1-4) of the valid UTF-8 sequence at s[0..len), or 0 when it is not one (overlong
 * forms, surrogates and code points past U+10FFFF are not). len must be > 0. */
size_t utf8_seq(const char *s, size_t len);
/* Length of the longest prefix of s[0..len) not ending inside a UTF-8 sequence. */
size_t utf8_cut(const char *s, size_t len);
/* The one way text is shortened for a person or a peer (alerts, e-mail, ntfy, webhooks,
 * audit, logs, titles, quotes, the cockpit): appends s[0..len) to b as valid UTF-8 of at most
 * max bytes. Each byte that starts no valid sequence (and each NUL) becomes U+FFFD, three
 * bytes, counted in max; when the text does not fit it is cut at a character boundary and,
 * with ellipsis, "…" (three bytes, counted) ends it (max < 3 leaves the ellipsis out). Returns
 * the bytes of s taken (len when it all fit). */
size_t utf8_clip(struct buf *b, const char *s, size_t len, size_t max, bool ellipsis);
/* utf8_clip of the string s (NULL: "") as a malloc'd string. */
char *utf8_clip_dup(const char *s, size_t max, bool ellipsis);
/* The value of one hex digit (either case), or -1. */
int hex_digit(char c);

/* Parsing helpers that check the whole string and the range; return 0 or -EINVAL/-ERANGE. */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int parse_double(const char *s, double *out);
/* v as a whole number within [lo, hi]: below lo (or NaN) gives lo, above hi gives hi. For
 * numbers that came from the network (a JSON double cast to an integer out of range is
 * undefined behaviour). */
int64_t clamp_i64(double v, int64_t lo, int64_t hi);

/* Integers as text without printf (printf is a tenth of an HTTP request's cost in musl, and
 * a signal handler may not call it): u in base 10 or 16 (lowercase), v in base 10 with a
 * leading '-' when negative, into out (not NUL-terminated). Return the bytes written, at most
 * INT_TEXT_MAX. */
#define INT_TEXT_MAX 21
size_t fmt_uint(char *out, unsigned long long u, unsigned base);
size_t fmt_int(char *out, long long v);
/* v with at most decimals (0..12) digits after the point, rounded, trailing zeros and a
 * trailing point left out, "-" only before a nonzero result: the text of "%.<decimals>f"
 * trimmed, without printf. Writes at most FMT_FIXED_TEXT_MAX bytes (not NUL-terminated) and
 * returns their count, or 0 when |v| >= FMT_FIXED_MAX or v is not finite (use printf then). */
#define FMT_FIXED_MAX	   1e9
#define FMT_FIXED_TEXT_MAX (1 + 10 + 1 + 12)
size_t fmt_fixed(char *out, double v, int decimals);

/* Constant-time comparison of two byte strings (length differences leak only the fact). */
bool secret_equal(const char *a, const char *b);

/* Monotonic and wall clocks. */
int64_t now_mono_ms(void);
int64_t now_mono_us(void);
int64_t now_wall_ms(void);
/* The monotonic clock as of the kernel's last tick (CLOCK_MONOTONIC_COARSE: 1-10 ms behind,
 * never ahead): for marks only compared with each other at a coarser step (the HTTP
 * server's deadlines, checked once a second). A fine read costs a TSC read, which in some
 * VMs traps: about 0.4 µs, against 0.04 µs for this one, and a request made about 25. */
int64_t now_mono_coarse_ms(void);

/* Wall time ms (milliseconds since the epoch, >= 0) as RFC 3339 in UTC into out:
 * "2024-05-01T12:00:00Z", or with_ms "2024-05-01T12:00:00.250Z" (the notifications' time,
 * Alertmanager's silences, the log's stamp). */
#define RFC3339_LEN 32
void rfc3339_utc(int64_t ms, bool with_ms, char out[RFC3339_LEN]);

/* Lowercase hex SHA-256 of data into out (65 bytes with NUL). */
void sha256_hex(const void *data, size_t len, char out[65]);

/* Levenshtein distance capped at max+1 (for did-you-mean). */
size_t edit_distance(const char *a, const char *b, size_t max);

/* Characters (UTF-8 code points) in s[0..len): bytes that do not continue a sequence. */
size_t utf8_count(const char *s, size_t len);

/* Fills out with len bytes of getrandom(2), retrying short reads: 0, or -1. Its signature is
 * mbedTLS's f_rng (arg unused), for the pk layer's blinding. */
int random_fill(void *arg, unsigned char *out, size_t len);

#endif
