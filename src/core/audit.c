/* audit: see audit.h. Rejected: a table in state.db (a reader would contend with the daemon's
 * writes, and rows are append-only text that log tooling already reads); the log itself (its
 * lines are for people, levels filter them away, and their format is not a contract). */
#include "core/audit.h"
#include "core/log.h"
#include "core/rotfile.h"
#include "core/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Held lines are written at once past this many bytes (a batch holds at most
 * STORE_BATCH_MAX_ROWS rows, each with its line of a few hundred bytes). */
#define AUDIT_HELD_MAX (64 * 1024)

static struct {
	struct rotfile file;
	bool include_text;
	struct store *store; /* audit_hold_for's */
	struct buf held;     /* lines waiting for the store's open batch to end */
} A = {.file = ROTFILE_CLOSED};

static void write_held(void)
{
	if (A.held.len)
		rotfile_write(&A.file, A.held.data, A.held.len);
	buf_reset(&A.held);
}

static void on_batch_end(void *arg, int rc)
{
	(void)arg;
	(void)rc; /* a rolled-back batch's attempts happened all the same: their lines stay */
	write_held();
}

void audit_hold_for(struct store *s)
{
	write_held();
	A.store = s;
}

int audit_open(const char *path, size_t max_bytes, int keep, bool include_text)
{
	A.include_text = include_text;
	return rotfile_open(&A.file, path, max_bytes, keep);
}

void audit_close(void)
{
	write_held();
	buf_finish(&A.held);
	A.store = NULL;
	rotfile_close(&A.file);
}

bool audit_is_open(void)
{
	return A.file.fd >= 0;
}

/* The line's time: the second's text is kept, so a busy second formats it once. */
static void put_time(struct buf *b)
{
	static time_t last = -1;
	static char stamp[24];
	struct timespec ts;
	char ms[5] = {'.', 0, 0, 0, 0};
	long m;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != last) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		last = ts.tv_sec;
	}
	m = ts.tv_nsec / 1000000;
	ms[1] = (char)('0' + m / 100);
	ms[2] = (char)('0' + m / 10 % 10);
	ms[3] = (char)('0' + m % 10);
	buf_puts(b, stamp);
	buf_append(b, ms, 4);
}

void audit_begin(struct audit_line *l, const char *kind)
{
	l->on = audit_is_open();
	if (!l->on)
		return;
	buf_init(&l->b, 0);
	buf_reserve(&l->b, 512); /* a router attempt's line is 300 to 500 bytes: no regrowth */
	buf_puts(&l->b, "{\"ts\":\"");
	put_time(&l->b);
	buf_puts(&l->b, "Z\",\"kind\":\"");
	buf_puts(&l->b, kind); /* a literal of the callers' */
	buf_puts(&l->b, "\"");
}

/* ,"k": in one append (keys are the callers' literals: nothing to escape; a dozen a line) */
static void key(struct audit_line *l, const char *k)
{
	char tmp[64];
	size_t n = strlen(k);

	if (n > sizeof(tmp) - 4) {
		buf_puts(&l->b, ",\"");
		buf_puts(&l->b, k);
		buf_puts(&l->b, "\":");
		return;
	}
	tmp[0] = ',';
	tmp[1] = '"';
	memcpy(tmp + 2, k, n);
	tmp[n + 2] = '"';
	tmp[n + 3] = ':';
	buf_append(&l->b, tmp, n + 4);
}

static void add_cut(struct audit_line *l, const char *k, const char *value, size_t cap)
{
	char *clean = NULL;
	struct buf cut;
	size_t len, i;

	if (!l->on || !value)
		return;
	if (log_has_secret(value))
		value = clean = log_redact(value);
	len = strlen(value);
	for (i = 0; i < len && !((unsigned char)value[i] & 0x80); i++)
		;
	key(l, k);
	if (i == len && len <= cap) {
		/* ASCII within the cap (a name, a group, a status word): the cut is the value */
		buf_json_str(&l->b, value, len);
	} else {
		buf_init(&cut, 0);
		utf8_clip(&cut, value, len, cap, false);
		buf_json_str(&l->b, buf_str(&cut), cut.len);
		buf_finish(&cut);
	}
	free(clean);
}

void audit_str(struct audit_line *l, const char *k, const char *value)
{
	add_cut(l, k, value, AUDIT_STR_MAX);
}

void audit_word(struct audit_line *l, const char *k, const char *value)
{
	if (!l->on || !value)
		return;
	key(l, k);
	buf_json_str(&l->b, value, strlen(value));
}

void audit_text(struct audit_line *l, const char *k, const char *value)
{
	if (A.include_text)
		add_cut(l, k, value, AUDIT_TEXT_MAX);
}

void audit_record(struct audit_line *l, const char *k, const char *value)
{
	add_cut(l, k, value, AUDIT_TEXT_MAX);
}

void audit_int(struct audit_line *l, const char *k, int64_t value)
{
	if (!l->on)
		return;
	key(l, k);
	buf_put_int(&l->b, value);
}

/* Dollars and the like: 9 decimals, trailing zeros dropped (printf's %g costs thousands of
 * instructions a number, and this runs on every attempt); outside +-1e9 or not finite, the
 * integer part or null. */
void audit_num(struct audit_line *l, const char *k, double value)
{
	char tmp[FMT_FIXED_TEXT_MAX];
	size_t n;

	if (!l->on)
		return;
	key(l, k);
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

void audit_bool(struct audit_line *l, const char *k, bool value)
{
	if (!l->on)
		return;
	key(l, k);
	buf_puts(&l->b, value ? "true" : "false");
}

void audit_hash(struct audit_line *l, const char *k, const char *data, size_t len)
{
	char hex[65];

	if (!l->on)
		return;
	sha256_hex(data ? data : "", data ? len : 0, hex);
	hex[16] = '\0';
	audit_str(l, k, hex);
}

void audit_end(struct audit_line *l)
{
	if (!l->on)
		return;
	buf_puts(&l->b, "}\n");
	/* Asking again is a no-op while the batch is open (the store keeps one listener a fn). */
	if (store_batch_listen(A.store, on_batch_end, NULL) == 0) {
		buf_append(&A.held, l->b.data, l->b.len);
		if (A.held.len >= AUDIT_HELD_MAX)
			write_held();
	} else {
		rotfile_write(&A.file, l->b.data, l->b.len);
	}
	buf_finish(&l->b);
	l->on = false;
}
