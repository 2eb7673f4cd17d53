/* audit: see audit.h. Rejected: a table in state.db (a reader would contend with the daemon's
 * writes, and rows are append-only text that log tooling already reads); the log itself (its
 * lines are for people, levels filter them away, and their format is not a contract). */
#include "core/audit.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/rotfile.h"
#include "core/store.h"

#include <event2/event.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Held lines are written at once past AUDIT_HELD_MAX bytes; a full batch's lines fit. */
_Static_assert(AUDIT_HELD_MAX >= STORE_BATCH_MAX_ROWS * 512, "a batch's lines are held whole");

static struct {
	struct rotfile file;
	bool include_text;
	struct store *store; /* audit_hold_for's */
	struct buf held;     /* lines waiting for the store's open batch to end, then their turn */
	size_t held_off;     /* held's bytes written so far */
	struct event *next;  /* the next piece's turn of the loop */
	struct buf spare;    /* the last line's buffer, for the next (no malloc and free a line) */
} A = {.file = ROTFILE_CLOSED};

/* Every held line, now (a full buffer, a new store, closing). */
static void write_held(void)
{
	if (A.held.len > A.held_off)
		rotfile_write(&A.file, A.held.data + A.held_off, A.held.len - A.held_off);
	buf_reset(&A.held);
	A.held_off = 0;
	if (A.next)
		event_del(A.next);
}

/* One piece of the held lines: whole lines up to AUDIT_PIECE bytes (a longer line alone);
 * the next piece on the loop's next turn. */
static void write_piece(void)
{
	size_t left = A.held.len - A.held_off, n = left;
	const char *p = A.held.data + A.held_off, *nl;

	if (n > AUDIT_PIECE) {
		nl = memrchr(p, '\n', AUDIT_PIECE);
		if (!nl)
			nl = memchr(p, '\n', left); /* every line ends with one */
		n = nl ? (size_t)(nl - p) + 1 : left;
	}
	rotfile_write(&A.file, p, n);
	A.held_off += n;
	if (A.held_off < A.held.len) {
		/* A zero timeout, not event_active: libevent runs what is activated during its
		 * callbacks in the same pass, before the sockets that are ready. */
		static const struct timeval now = {0, 0};

		evtimer_add(A.next, &now);
	} else {
		buf_reset(&A.held);
		A.held_off = 0;
	}
}

static void on_next_piece(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (A.held.len > A.held_off)
		write_piece();
}

static void on_batch_end(void *arg, int rc)
{
	(void)arg;
	(void)rc; /* a rolled-back batch's attempts happened all the same: their lines stay */
	if (!A.next) {
		write_held();
		return;
	}
	/* Pieces already on their way take these lines along. */
	if (A.held.len > A.held_off && !event_pending(A.next, EV_TIMEOUT, NULL))
		write_piece();
}

void audit_hold_for(struct store *s, struct loop *loop)
{
	write_held();
	if (A.next)
		event_free(A.next);
	A.next = s && loop ? event_new(loop_base(loop), -1, 0, on_next_piece, NULL) : NULL;
	A.store = A.next ? s : NULL;
}

int audit_open(const char *path, size_t max_bytes, int keep, bool include_text)
{
	A.include_text = include_text;
	return rotfile_open(&A.file, path, max_bytes, keep);
}

void audit_close(void)
{
	write_held();
	if (A.next)
		event_free(A.next);
	A.next = NULL;
	buf_finish(&A.held);
	buf_finish(&A.spare);
	A.store = NULL;
	rotfile_close(&A.file);
}

bool audit_is_open(void)
{
	return A.file.fd >= 0;
}

/* {"ts":"<time>Z","kind":" up to the kind, in one append: the second's text is kept, so a
 * busy second formats it once, and only the milliseconds are written each time. */
static void put_head(struct buf *b)
{
	static const char lead[] = "{\"ts\":\"", tail[] = "Z\",\"kind\":\"";
	static time_t last = -1;
	static char stamp[24];
	static size_t stamp_len;
	char head[sizeof(lead) + sizeof(stamp) + 4 + sizeof(tail)], *p = head;
	struct timespec ts;
	long m;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != last) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		stamp_len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		last = ts.tv_sec;
	}
	m = ts.tv_nsec / 1000000;
	memcpy(p, lead, sizeof(lead) - 1);
	p += sizeof(lead) - 1;
	memcpy(p, stamp, stamp_len);
	p += stamp_len;
	*p++ = '.';
	*p++ = (char)('0' + m / 100);
	*p++ = (char)('0' + m / 10 % 10);
	*p++ = (char)('0' + m % 10);
	memcpy(p, tail, sizeof(tail) - 1);
	p += sizeof(tail) - 1;
	buf_append(b, head, (size_t)(p - head));
}

void audit_begin(struct audit_line *l, const char *kind)
{
	l->on = audit_is_open();
	if (!l->on)
		return;
	if (A.spare.data) {
		l->b = A.spare;
		buf_init(&A.spare, 0);
		buf_reset(&l->b);
	} else {
		buf_init(&l->b, 0);
		buf_reserve(&l->b, 512); /* a router attempt's line is 300 to 500 bytes */
	}
	put_head(&l->b);
	buf_puts(&l->b, kind); /* a literal of the callers' */
	buf_append(&l->b, "\"", 1);
}

/* Every byte of s[0..len) is ASCII, eight at a time (a name, a group, an id: most strings). */
static bool all_ascii(const char *s, size_t len)
{
	uint64_t w, acc = 0;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		acc |= w;
	}
	for (; i < len; i++)
		acc |= (unsigned char)s[i];
	return !(acc & 0x8080808080808080ULL);
}

/* The high bit of each byte of x that is below 0x20, at or above 0x80, '"' or '\\' (and maybe
 * of bytes after such a one): zero when the eight are JSON as they are. The "Bit Twiddling
 * Hacks" tests for a byte below n and, after an XOR, a zero byte. */
static uint64_t unplain(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');

	return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | x) & high;
}

static uint64_t unplain8(const char *p)
{
	uint64_t x;

	memcpy(&x, p, 8);
	return unplain(x);
}

/* s[0..len) is JSON as it is: ASCII from ' ' up, neither '"' nor '\\' (a name, an id, a
 * route, an outcome: nearly every value of a line). Eight bytes a step, the last step ending
 * where the string does; from four to seven bytes, the first four and the last four as one
 * step. */
static bool json_plain(const char *s, size_t len)
{
	uint64_t bad = 0;
	uint32_t lo, hi;
	size_t i;

	if (len >= 8) {
		for (i = 0; i + 8 < len; i += 8)
			bad |= unplain8(s + i);
		return !(bad | unplain8(s + len - 8));
	}
	if (len >= 4) {
		memcpy(&lo, s, 4);
		memcpy(&hi, s + len - 4, 4);
		return !unplain((uint64_t)hi << 32 | lo);
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((unsigned char)(c - 0x20) >= 0x60 || c == '"' || c == '\\')
			return false;
	}
	return true;
}

/* "value" for a plain value (json_plain): the quotes buf_json_str would put around it. */
static void put_plain(struct audit_line *l, const char *v, size_t len)
{
	buf_append(&l->b, "\"", 1);
	buf_append(&l->b, v, len);
	buf_append(&l->b, "\"", 1);
}

/* The value of a field whose key is in the line already: redacted, then cut at cap. */
static void add_cut(struct audit_line *l, const char *value, size_t cap)
{
	char *clean = NULL;
	struct buf cut;
	size_t len;

	len = strlen(value);
	if (log_has_secret_n(value, len)) {
		value = clean = log_redact(value);
		len = strlen(value);
	}
	/* ASCII within the cap (a name, a group, a status word): the cut is the value */
	if (len <= cap && json_plain(value, len)) {
		put_plain(l, value, len);
	} else if (len <= cap && all_ascii(value, len)) {
		buf_json_str(&l->b, value, len);
	} else {
		buf_init(&cut, 0);
		utf8_clip(&cut, value, len, cap, false);
		buf_json_str(&l->b, buf_str(&cut), cut.len);
		buf_finish(&cut);
	}
	if (clean)
		free(clean);
}

void audit_value_str(struct audit_line *l, const char *value)
{
	add_cut(l, value, AUDIT_STR_MAX);
}

void audit_value_word(struct audit_line *l, const char *value)
{
	size_t len = strlen(value);

	if (json_plain(value, len))
		put_plain(l, value, len);
	else
		buf_json_str(&l->b, value, len);
}

void audit_put_text(struct audit_line *l, const char *k, size_t k_len, const char *value)
{
	if (A.include_text && l->on && value) {
		buf_append(&l->b, k, k_len);
		add_cut(l, value, AUDIT_TEXT_MAX);
	}
}

void audit_put_record(struct audit_line *l, const char *k, size_t k_len, const char *value)
{
	if (l->on && value) {
		buf_append(&l->b, k, k_len);
		add_cut(l, value, AUDIT_TEXT_MAX);
	}
}

/* The digits written backwards, then one append (buf_put_int's calls were half the cost of
 * each of a line's dozen integers). */
void audit_value_int(struct audit_line *l, int64_t value)
{
	char tmp[INT_TEXT_MAX];
	size_t n = sizeof(tmp);
	uint64_t u = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;

	do {
		tmp[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (value < 0)
		tmp[--n] = '-';
	buf_append(&l->b, tmp + n, sizeof(tmp) - n);
}

/* Dollars and the like: 9 decimals, trailing zeros dropped (printf's %g costs thousands of
 * instructions a number, and this runs on every attempt); outside +-1e9 or not finite, the
 * integer part or null. */
void audit_value_num(struct audit_line *l, double value)
{
	char tmp[FMT_FIXED_TEXT_MAX];
	size_t n;

	if (!isfinite(value)) {
		buf_puts(&l->b, "null");
		return;
	}
	n = fmt_fixed(tmp, value, 9);
	if (n)
		buf_append(&l->b, tmp, n);
	else
		buf_put_int(&l->b, (long long)value); /* 1e9 and over: whole units are plenty */
}

void audit_put_hash(struct audit_line *l, const char *k, size_t k_len, const char *data, size_t len)
{
	char hex[65];

	if (!l->on)
		return;
	sha256_hex(data ? data : "", data ? len : 0, hex);
	hex[16] = '\0';
	audit_put_str(l, k, k_len, hex);
}

void audit_end(struct audit_line *l)
{
	if (!l->on)
		return;
	buf_append(&l->b, "}\n", 2);
	/* Asking again is a no-op while the batch is open (the store keeps one listener a fn). */
	if (store_batch_listen(A.store, on_batch_end, NULL) == 0 || A.held.len > A.held_off) {
		/* Held for the batch, or behind pieces still waiting (in order, then). */
		buf_append(&A.held, l->b.data, l->b.len);
		if (A.held.len - A.held_off >= AUDIT_HELD_MAX)
			write_held();
	} else {
		rotfile_write(&A.file, l->b.data, l->b.len);
	}
	/* Kept whatever its size: the caps on the fields bound a line's. */
	if (!A.spare.data)
		A.spare = l->b;
	else
		buf_finish(&l->b);
	l->on = false;
}
