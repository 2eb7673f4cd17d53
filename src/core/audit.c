/* audit: see audit.h. Rejected: a table in state.db (a reader would contend with the daemon's
 * writes, and rows are append-only text that log tooling already reads); the log itself (its
 * lines are for people, levels filter them away, and their format is not a contract). */
#include "core/audit.h"
#include "core/log.h"
#include "core/rotfile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
	struct rotfile file;
	bool include_text;
} A = {.file = ROTFILE_CLOSED};

int audit_open(const char *path, size_t max_bytes, int keep, bool include_text)
{
	A.include_text = include_text;
	return rotfile_open(&A.file, path, max_bytes, keep);
}

void audit_close(void)
{
	rotfile_close(&A.file);
}

bool audit_is_open(void)
{
	return A.file.fd >= 0;
}

void audit_begin(struct audit_line *l, const char *kind)
{
	char stamp[32];
	struct timespec ts;
	struct tm tm;

	l->on = audit_is_open();
	if (!l->on)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_init(&l->b, 0);
	buf_printf(&l->b, "{\"ts\":\"%s.%03ldZ\",\"kind\":", stamp, ts.tv_nsec / 1000000);
	buf_json_str(&l->b, kind, strlen(kind));
}

static void key(struct audit_line *l, const char *k)
{
	buf_puts(&l->b, ",");
	buf_json_str(&l->b, k, strlen(k));
	buf_puts(&l->b, ":");
}

static void add_cut(struct audit_line *l, const char *k, const char *value, size_t cap)
{
	char *clean;
	size_t n;

	if (!l->on || !value)
		return;
	clean = log_redact(value);
	n = utf8_cut(clean, strnlen(clean, cap));
	key(l, k);
	buf_json_str(&l->b, clean, n);
	free(clean);
}

void audit_str(struct audit_line *l, const char *k, const char *value)
{
	add_cut(l, k, value, AUDIT_STR_MAX);
}

void audit_text(struct audit_line *l, const char *k, const char *value)
{
	if (A.include_text)
		add_cut(l, k, value, AUDIT_TEXT_MAX);
}

void audit_int(struct audit_line *l, const char *k, int64_t value)
{
	if (!l->on)
		return;
	key(l, k);
	buf_printf(&l->b, "%lld", (long long)value);
}

void audit_num(struct audit_line *l, const char *k, double value)
{
	if (!l->on)
		return;
	key(l, k);
	if (isfinite(value))
		buf_printf(&l->b, "%.9g", value);
	else
		buf_puts(&l->b, "null");
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
	rotfile_write(&A.file, l->b.data, l->b.len);
	buf_finish(&l->b);
	l->on = false;
}
