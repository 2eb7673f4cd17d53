/* log: formats one line per call, redacts registered secrets, escapes control characters,
 * writes to stderr and to an optional file that rotates by size (path -> path.1 -> ...).
 *
 * Writes are plain write(2) calls on an O_APPEND descriptor: a log line is small and local
 * disk writes do not stall the loop in practice. A syslog/journald sink was rejected: the
 * static FROM-scratch image has neither, and Kubernetes collects stderr. The write of a line
 * (and a rotation) holds a mutex: the store's checkpoint thread and the cockpit's offload
 * threads (cockpit/ui_*.c) log too, and two writers rotating at once could write into a
 * descriptor the other had just closed.
 */
#include "core/log.h"
#include "core/fileio.h"
#include "core/rotfile.h"
#include "core/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The config's secrets (at most 48) and the access tokens minted while running (a current and
 * a previous one per Google account, at most 64 accounts). */
#define LOG_MAX_SECRETS 256
#define LOG_LINE_MAX	8192

static struct {
	enum log_level level;
	int to_stderr;
	struct rotfile file;
	char *secrets[LOG_MAX_SECRETS];
	size_t secret_len[LOG_MAX_SECRETS];
	size_t n_secrets;
	size_t min_secret_len; /* of the registered secrets; SIZE_MAX with none */
	/* Bit pair_of(a, b) is set for the first two bytes of every secret and for "/b" (of
	 * "/bot<token>"): a text with no such pair of adjacent bytes holds nothing to redact,
	 * found in one pass (the audit trail asks this of a dozen values on every call) instead
	 * of a search per secret. Collisions only send a text to the search. */
	uint64_t pairs[64];
	bool pairs_built; /* "/b" is in pairs from the first use on, secrets or not */
} L = {.level = LOG_INFO, .to_stderr = 1, .file = ROTFILE_CLOSED, .min_secret_len = SIZE_MAX};
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
/* Minted tokens come and go while other threads may redact: the table is read and changed
 * under this lock. */
static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
/* L.min_secret_len as it was when the table last changed, read without the lock: the audit
 * trail asks log_has_secret of a dozen short values on every call, and a value shorter than
 * every secret and without a '/' needs neither the lock nor the table. Stored under the lock
 * after each change, so a check that follows a change (in happens-before order) sees it. */
static _Atomic size_t min_secret_len_seen = SIZE_MAX;

/* Under secrets_lock, after L.min_secret_len changed. */
static void publish_min_len(void)
{
	atomic_store_explicit(&min_secret_len_seen, L.min_secret_len, memory_order_release);
}

static unsigned pair_of(unsigned char a, unsigned char b)
{
	return ((unsigned)a << 4 ^ b) & 4095u;
}

/* Under secrets_lock, after the table changed. */
static void pairs_rebuild(void)
{
	memset(L.pairs, 0, sizeof(L.pairs));
	L.pairs_built = true;
	for (size_t i = 0; i <= L.n_secrets; i++) {
		const unsigned char *t =
			(const unsigned char *)(i < L.n_secrets ? L.secrets[i] : "/b");
		unsigned k = pair_of(t[0], t[1]);

		L.pairs[k >> 6] |= 1ull << (k & 63);
	}
}

/* Under secrets_lock: s[0..n) may hold a secret or a "/bot" (see L.pairs). */
static bool pairs_may_hold(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!L.pairs_built)
		pairs_rebuild();
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned k = pair_of(p[i], p[i + 1]);

		if (L.pairs[k >> 6] >> (k & 63) & 1)
			return true;
	}
	return false;
}

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	return level <= LOG_DEBUG ? level_names[level] : "?";
}

void log_set_level(enum log_level level)
{
	L.level = level;
}

enum log_level log_get_level(void)
{
	return L.level;
}

void log_set_stderr(int enabled)
{
	L.to_stderr = enabled;
}

int log_open_file(const char *path, size_t max_bytes, int keep)
{
	return rotfile_open(&L.file, path, max_bytes, keep);
}

void log_close(void)
{
	rotfile_close(&L.file);
}

void log_forget_secrets(void)
{
	size_t i;

	pthread_mutex_lock(&secrets_lock);
	for (i = 0; i < L.n_secrets; i++)
		free(L.secrets[i]);
	L.n_secrets = 0;
	L.min_secret_len = SIZE_MAX;
	publish_min_len();
	pairs_rebuild();
	pthread_mutex_unlock(&secrets_lock);
}

void log_add_secret(const char *secret)
{
	size_t i;

	if (!secret || strlen(secret) < 4)
		return;
	pthread_mutex_lock(&secrets_lock);
	for (i = 0; i < L.n_secrets; i++)
		if (strcmp(L.secrets[i], secret) == 0)
			break;
	if (i == L.n_secrets && L.n_secrets == LOG_MAX_SECRETS) {
		/* Better to refuse loudly than to leak: this only happens with a pathological
		 * config. */
		fprintf(stderr, "hermetic: too many secrets registered for redaction\n");
		abort();
	}
	if (i == L.n_secrets) {
		L.secret_len[L.n_secrets] = strlen(secret);
		L.secrets[L.n_secrets++] = xstrdup(secret);
		if (L.secret_len[i] < L.min_secret_len)
			L.min_secret_len = L.secret_len[i];
		publish_min_len();
		pairs_rebuild();
	}
	pthread_mutex_unlock(&secrets_lock);
}

void log_drop_secret(const char *secret)
{
	pthread_mutex_lock(&secrets_lock);
	for (size_t i = 0; secret && i < L.n_secrets; i++) {
		if (strcmp(L.secrets[i], secret) != 0)
			continue;
		free(L.secrets[i]);
		L.n_secrets--;
		L.secrets[i] = L.secrets[L.n_secrets];
		L.secret_len[i] = L.secret_len[L.n_secrets];
		L.min_secret_len = SIZE_MAX;
		for (size_t j = 0; j < L.n_secrets; j++)
			if (L.secret_len[j] < L.min_secret_len)
				L.min_secret_len = L.secret_len[j];
		publish_min_len();
		pairs_rebuild();
		break;
	}
	pthread_mutex_unlock(&secrets_lock);
}

/* Length of a Telegram bot token at s ("<digits>:<[A-Za-z0-9_-]+>"), or 0. */
static size_t bot_token_len(const char *s)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || s[n] != ':')
		return 0;
	n++;
	n += strspn(s + n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
	return n;
}

/* The next match of each pattern at or after the scan point. A pattern is searched again only
 * once the scan has passed its match, and never again once it is absent (NULL), so redacting
 * a long text with many hits stays linear in its length: searching every pattern afresh after
 * each hit cost hits x length x secrets, minutes for a megabyte tool result full of them. */
struct scan {
	const char *next[LOG_MAX_SECRETS];
	const char *bot; /* "/bot" followed by a token, or NULL */
	size_t bot_len;	 /* the token's length */
};

/* The first "/bot<token>" at or after p. */
static void find_bot(struct scan *sc, const char *p)
{
	const char *q;

	for (q = strstr(p, "/bot"); q; q = strstr(q + 4, "/bot")) {
		size_t n = bot_token_len(q + 4);

		if (n) {
			sc->bot = q;
			sc->bot_len = n;
			return;
		}
	}
	sc->bot = NULL;
}

/* A secret longer than the text cannot be in it, nor a bot token in fewer than "/bot1:" bytes:
 * most texts checked (model names, ids, paths in the audit trail) are shorter than any key, so
 * they cost one strlen instead of a search per secret. */
static void scan_init(struct scan *sc, const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < L.n_secrets; i++)
		sc->next[i] = L.secret_len[i] <= len ? strstr(s, L.secrets[i]) : NULL;
	if (len >= 6)
		find_bot(sc, s);
	else
		sc->bot = NULL;
}

/* Where the next thing to redact starts at or after p, or NULL: a registered secret or a
 * Bot API path segment "/bot<token>". *len is its length, *repl what replaces it. */
static const char *next_hit(struct scan *sc, const char *p, size_t *len, const char **repl)
{
	const char *best = NULL;
	size_t i, best_len = 0;

	for (i = 0; i < L.n_secrets; i++) {
		size_t n = L.secret_len[i];

		if (sc->next[i] && sc->next[i] < p)
			sc->next[i] = strstr(p, L.secrets[i]);
		if (sc->next[i] &&
		    (!best || sc->next[i] < best || (sc->next[i] == best && n > best_len))) {
			best = sc->next[i];
			best_len = n;
			*repl = "[REDACTED]";
		}
	}
	/* Earliest start wins, then the longer match; a token that is also registered still
	 * reads "/bot<redacted>/" in a URL. */
	if (sc->bot && sc->bot < p)
		find_bot(sc, p);
	if (sc->bot &&
	    (!best || sc->bot + 4 < best || (sc->bot + 4 == best && sc->bot_len >= best_len))) {
		best = sc->bot + 4;
		best_len = sc->bot_len;
		*repl = "<redacted>";
	}
	*len = best_len;
	return best;
}

bool log_has_secret_n(const char *s, size_t n)
{
	struct scan sc;
	size_t len;
	const char *repl;
	bool hit;
	/* Shorter than every secret and without a '/' to start "/bot<token>": nothing to find,
	 * without the scan or the lock (the audit trail asks this of every name and id on a
	 * line, nearly all a few bytes long). */
	bool no_bot = n < 6 || !memchr(s, '/', n);

	if (no_bot && n < atomic_load_explicit(&min_secret_len_seen, memory_order_acquire))
		return false;
	pthread_mutex_lock(&secrets_lock);
	if ((no_bot && n < L.min_secret_len) || !pairs_may_hold(s, n)) {
		hit = false;
	} else {
		scan_init(&sc, s);
		hit = next_hit(&sc, s, &len, &repl) != NULL;
	}
	pthread_mutex_unlock(&secrets_lock);
	return hit;
}

bool log_has_secret(const char *s)
{
	return log_has_secret_n(s, strlen(s));
}

char *log_redact(const char *s)
{
	struct buf out;
	struct scan sc;
	const char *p = s, *hit, *repl = NULL;
	size_t len;

	pthread_mutex_lock(&secrets_lock);
	scan_init(&sc, s);
	hit = next_hit(&sc, p, &len, &repl);
	if (!hit) {
		pthread_mutex_unlock(&secrets_lock);
		return xstrdup(s);
	}
	buf_init(&out, 0);
	while (hit) {
		buf_append(&out, p, (size_t)(hit - p));
		buf_puts(&out, repl);
		p = hit + len;
		hit = next_hit(&sc, p, &len, &repl);
	}
	pthread_mutex_unlock(&secrets_lock);
	buf_puts(&out, p);
	return buf_steal(&out);
}

char *log_redact_with(const char *s, const char *const *extra, size_t n_extra)
{
	char *out = log_redact(s);

	for (size_t i = 0; i < n_extra; i++) {
		size_t n = extra[i] ? strlen(extra[i]) : 0;
		struct buf b;
		const char *p, *hit;

		if (n < 4 || !strstr(out, extra[i]))
			continue;
		buf_init(&b, 0);
		for (p = out; (hit = strstr(p, extra[i])); p = hit + n) {
			buf_append(&b, p, (size_t)(hit - p));
			buf_puts(&b, "[REDACTED]");
		}
		buf_puts(&b, p);
		free(out);
		out = buf_steal(&b);
	}
	return out;
}

/* Escapes control characters except tab so one call is always one line. */
static void escape_into(struct buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n')
			buf_puts(out, "\\n");
		else if (c == '\r')
			buf_puts(out, "\\r");
		else if (c < 0x20 && c != '\t')
			buf_printf(out, "\\x%02x", c);
		else
			buf_append(out, s, 1);
	}
}

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	char stamp[RFC3339_LEN], *msg, *clean;
	const char *base = strrchr(file, '/');
	struct buf out, esc;
	va_list ap;

	if (level > L.level)
		return;
	rfc3339_utc(now_wall_ms(), true, stamp);
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	clean = log_redact(msg);
	buf_init(&out, 0);
	buf_printf(&out, "%s %-5s [%s:%d] ", stamp, level_names[level], base ? base + 1 : file,
		   line);
	buf_init(&esc, 0);
	escape_into(&esc, clean);
	/* Valid UTF-8 and cut between characters: log shippers drop or mangle the rest. */
	if (utf8_clip(&out, buf_str(&esc), esc.len,
		      out.len < LOG_LINE_MAX ? LOG_LINE_MAX - out.len : 0, false) < esc.len)
		buf_puts(&out, "...[truncated]");
	buf_finish(&esc);
	buf_puts(&out, "\n");
	pthread_mutex_lock(&write_lock);
	if (L.to_stderr || level == LOG_ERROR)
		fileio_write_all(STDERR_FILENO, out.data, out.len);
	rotfile_write(&L.file, out.data, out.len);
	pthread_mutex_unlock(&write_lock);
	free(msg);
	free(clean);
	buf_finish(&out);
}
