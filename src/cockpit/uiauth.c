/* uiauth: password hashes, sessions, CSRF tokens and the login rate limit of the cockpit (see
 * uiauth.h).
 *
 * PBKDF2 is written here over mbedTLS's HMAC-SHA256 rather than taken from mbedTLS's pkcs5
 * module: the static build's trimmed mbedTLS leaves MBEDTLS_PKCS5_C out (cross/build-deps.sh),
 * and the loop below is the whole of RFC 8018's PBKDF2 (checked against RFC 7914's vectors in
 * tests/test_uiauth.c and against Python's hashlib in tests/e2e/test_ui.py). Rejected: scrypt
 * or Argon2 (not in mbedTLS; a memory-hard hash costs megabytes per attempt on a 4 MiB
 * budget), and a plain salted SHA-256 (no work factor).
 *
 * The session table is a small array scanned whole on every lookup, comparing every slot's
 * id in constant time, so lookup time says nothing about which ids exist.
 *
 * The login limit counts failures per client address (an IPv6 client by its /64, which one
 * subscriber usually holds whole) in a fixed table, each address in a minute window of its
 * own, under a ceiling for the whole process UIAUTH_ALL_FACTOR times higher: a stranger
 * guessing from one address locks out only that address, and guesses from many addresses
 * still meet the ceiling. A full table gives up the slot that matters least: an expired one,
 * else the one with the fewest failures (the oldest of those), so churning through new
 * addresses cannot free a locked-out one. Rejected: one counter for the process (a stranger's
 * five guesses locked the owner out), and an unbounded map (the key is the client's choice).
 */
#include "cockpit/uiauth.h"
#include "core/netaddr.h"
#include "core/util.h"

#include <errno.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define SALT_BYTES 16
#define KEY_BYTES  PWHASH_KEY_BYTES
#define WINDOW_MS  60000

/* ---- PBKDF2 ------------------------------------------------------------------------------ */

int uiauth_pbkdf2_sha256(const void *password, size_t password_len, const void *salt,
			 size_t salt_len, unsigned iterations, unsigned char *out, size_t out_len,
			 bool (*stop)(void))
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	unsigned char u[KEY_BYTES], t[KEY_BYTES], be[4];
	uint32_t block = 1;
	int rc = -EINVAL;

	if (!md || iterations == 0)
		return -EINVAL;
	mbedtls_md_init(&ctx);
	if (mbedtls_md_setup(&ctx, md, 1) != 0 ||
	    mbedtls_md_hmac_starts(&ctx, password, password_len) != 0)
		goto out;
	while (out_len > 0) {
		size_t n = out_len < KEY_BYTES ? out_len : KEY_BYTES;

		be[0] = (unsigned char)(block >> 24);
		be[1] = (unsigned char)(block >> 16);
		be[2] = (unsigned char)(block >> 8);
		be[3] = (unsigned char)block;
		mbedtls_md_hmac_reset(&ctx);
		mbedtls_md_hmac_update(&ctx, salt, salt_len);
		mbedtls_md_hmac_update(&ctx, be, sizeof(be));
		mbedtls_md_hmac_finish(&ctx, u);
		memcpy(t, u, sizeof(t));
		for (unsigned i = 1; i < iterations; i++) {
			if (stop && i % UIAUTH_STOP_EVERY == 0 && stop()) {
				rc = -ECANCELED;
				goto out;
			}
			mbedtls_md_hmac_reset(&ctx);
			mbedtls_md_hmac_update(&ctx, u, sizeof(u));
			mbedtls_md_hmac_finish(&ctx, u);
			for (size_t k = 0; k < sizeof(t); k++)
				t[k] ^= u[k];
		}
		memcpy(out, t, n);
		out += n;
		out_len -= n;
		block++;
	}
	rc = 0;
out:
	/* the last block's intermediate values say as much as the key */
	explicit_bzero(u, sizeof(u));
	explicit_bzero(t, sizeof(t));
	mbedtls_md_free(&ctx);
	return rc;
}

/* ---- the encoded form (parsed by core/pwhash.c) ------------------------------------------ */

/* Whether a and b (n bytes each) are equal, in a time that does not depend on where they
 * differ. */
static bool bytes_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static int encode(unsigned iterations, const unsigned char *salt, size_t salt_len,
		  const unsigned char *key, char *out, size_t out_len)
{
	struct buf b;
	int rc = 0;

	buf_init(&b, UIAUTH_HASH_MAX - 1);
	buf_printf(&b, PWHASH_PREFIX "%u$", iterations);
	buf_base64(&b, salt, salt_len);
	buf_puts(&b, "$");
	if (buf_base64(&b, key, KEY_BYTES) < 0 || b.len >= out_len)
		rc = -EINVAL;
	else
		snprintf(out, out_len, "%s", buf_str(&b));
	buf_finish(&b);
	return rc;
}

int uiauth_hash_password(const char *password, unsigned iterations, char *out, size_t out_len)
{
	unsigned char salt[SALT_BYTES], key[KEY_BYTES];
	size_t len = strlen(password);

	if (iterations < UIAUTH_ITERATIONS_MIN || iterations > UIAUTH_ITERATIONS_MAX ||
	    len > UIAUTH_PASSWORD_MAX)
		return -EINVAL;
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
		return -EIO;
	if (uiauth_pbkdf2_sha256(password, len, salt, sizeof(salt), iterations, key, sizeof(key),
				 NULL) < 0)
		return -EINVAL;
	return encode(iterations, salt, sizeof(salt), key, out, out_len);
}

bool uiauth_verify(const char *encoded, const char *password, bool (*stop)(void))
{
	struct pwhash p;
	unsigned char key[KEY_BYTES];
	bool ok;

	if (!password || strlen(password) > UIAUTH_PASSWORD_MAX ||
	    pwhash_parse(encoded, &p, NULL) < 0)
		return false;
	if (uiauth_pbkdf2_sha256(password, strlen(password), p.salt, p.salt_len, p.iterations, key,
				 sizeof(key), stop) < 0) {
		explicit_bzero(key, sizeof(key));
		return false;
	}
	ok = bytes_equal(key, p.key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	return ok;
}

/* ---- sessions ---------------------------------------------------------------------------- */

struct session {
	char id[UIAUTH_TOKEN_LEN + 1]; /* "" = free */
	char csrf[UIAUTH_TOKEN_LEN + 1];
	int64_t expires_ms;
};

/* One client address's failures in its own minute. */
struct client {
	struct netaddr key;
	int64_t window_ms; /* start of its minute; INT64_MIN / 2: a free slot */
	int failures;
};

struct uiauth {
	struct session s[UIAUTH_MAX_SESSIONS];
	struct client c[UIAUTH_MAX_CLIENTS];
	int64_t ttl_ms;
	int max_failures;  /* per client */
	int64_t window_ms; /* start of the current minute of failures from everyone */
	int failures;
};

struct uiauth *uiauth_create(int64_t ttl_ms, int max_failures)
{
	struct uiauth *a = xcalloc(1, sizeof(*a));

	a->ttl_ms = ttl_ms;
	a->max_failures = max_failures;
	a->window_ms = INT64_MIN / 2; /* the first attempt opens a window */
	for (size_t i = 0; i < UIAUTH_MAX_CLIENTS; i++)
		a->c[i].window_ms = INT64_MIN / 2;
	return a;
}

void uiauth_destroy(struct uiauth *a)
{
	free(a);
}

void uiauth_client_key(const struct netaddr *addr, struct netaddr *key)
{
	*key = *addr;
	if (!netaddr_is_v4(key))
		memset(key->b + 8, 0, 8);
}

static bool expired(int64_t window_ms, int64_t now_ms)
{
	return now_ms - window_ms >= WINDOW_MS;
}

/* The live slot of client's key, or NULL. */
static struct client *client_find(struct uiauth *a, const struct netaddr *client, int64_t now_ms)
{
	struct netaddr key;

	uiauth_client_key(client, &key);
	for (size_t i = 0; i < UIAUTH_MAX_CLIENTS; i++)
		if (!expired(a->c[i].window_ms, now_ms) && netaddr_equal(&a->c[i].key, &key))
			return &a->c[i];
	return NULL;
}

/* The slot to give a new client: a free or expired one, else the fewest failures (oldest on
 * a tie). */
static struct client *client_victim(struct uiauth *a, int64_t now_ms)
{
	struct client *v = &a->c[0];

	for (size_t i = 0; i < UIAUTH_MAX_CLIENTS; i++) {
		struct client *c = &a->c[i];

		if (expired(c->window_ms, now_ms))
			return c;
		if (c->failures < v->failures ||
		    (c->failures == v->failures && c->window_ms < v->window_ms))
			v = c;
	}
	return v;
}

static int64_t retry_after_s(int64_t window_ms, int64_t now_ms)
{
	return (window_ms + WINDOW_MS - now_ms + 999) / 1000;
}

bool uiauth_login_allowed(struct uiauth *a, const struct netaddr *client, int64_t now_ms,
			  int64_t *retry_s)
{
	const struct client *c = client_find(a, client, now_ms);

	if (expired(a->window_ms, now_ms)) {
		a->window_ms = now_ms;
		a->failures = 0;
	}
	if (a->failures >= a->max_failures * UIAUTH_ALL_FACTOR) {
		*retry_s = retry_after_s(a->window_ms, now_ms);
		return false;
	}
	if (c && c->failures >= a->max_failures) {
		*retry_s = retry_after_s(c->window_ms, now_ms);
		return false;
	}
	return true;
}

void uiauth_login_failed(struct uiauth *a, const struct netaddr *client, int64_t now_ms)
{
	struct client *c = client_find(a, client, now_ms);

	if (expired(a->window_ms, now_ms)) {
		a->window_ms = now_ms;
		a->failures = 0;
	}
	a->failures++;
	if (!c) {
		c = client_victim(a, now_ms);
		uiauth_client_key(client, &c->key);
		c->window_ms = now_ms;
		c->failures = 0;
	}
	c->failures++;
}

static bool trusted(const struct netaddr *addr, const struct netaddr_net *proxies, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (netaddr_in(addr, &proxies[i]))
			return true;
	return false;
}

/* One X-Forwarded-For entry s[0..n), spaces around it allowed, into out. 0 or -EINVAL. */
static int xff_entry(const char *s, size_t n, struct netaddr *out)
{
	char entry[NETADDR_TEXT_MAX + 2];

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(entry))
		return -EINVAL;
	memcpy(entry, s, n);
	entry[n] = '\0';
	return netaddr_parse(entry, out);
}

void uiauth_client(const struct netaddr *peer, const char *xff, const struct netaddr_net *proxies,
		   size_t n_proxies, struct netaddr *out)
{
	const char *end;

	*out = *peer;
	if (!xff || !trusted(peer, proxies, n_proxies))
		return;
	/* From the right: each entry was appended by the hop after it, so the first one that no
	 * trusted proxy wrote names the client. A garbled entry stops the walk: the count goes
	 * to the proxy that passed it on. */
	end = xff + strlen(xff);
	for (;;) {
		const char *start = end;
		struct netaddr a;

		while (start > xff && start[-1] != ',')
			start--;
		if (xff_entry(start, (size_t)(end - start), &a) < 0)
			return;
		*out = a;
		if (!trusted(&a, proxies, n_proxies) || start == xff)
			return;
		end = start - 1;
	}
}

bool uiauth_over_tls(const struct netaddr *peer, const char *xfp, const struct netaddr_net *proxies,
		     size_t n_proxies)
{
	return xfp && strcasecmp(xfp, "https") == 0 && trusted(peer, proxies, n_proxies);
}

static int random_hex(char out[UIAUTH_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[UIAUTH_TOKEN_LEN / 2];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	for (size_t i = 0; i < sizeof(r); i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[UIAUTH_TOKEN_LEN] = '\0';
	return 0;
}

int uiauth_session_new(struct uiauth *a, int64_t now_ms, char id[UIAUTH_TOKEN_LEN + 1],
		       char csrf[UIAUTH_TOKEN_LEN + 1])
{
	struct session *slot = &a->s[0];

	for (size_t i = 0; i < UIAUTH_MAX_SESSIONS; i++) {
		struct session *s = &a->s[i];

		if (!s->id[0] || s->expires_ms <= now_ms) {
			slot = s;
			break;
		}
		if (s->expires_ms < slot->expires_ms)
			slot = s;
	}
	if (random_hex(id) < 0 || random_hex(csrf) < 0)
		return -EIO;
	memcpy(slot->id, id, sizeof(slot->id));
	memcpy(slot->csrf, csrf, sizeof(slot->csrf));
	slot->expires_ms = now_ms + a->ttl_ms;
	return 0;
}

/* The live session named by the cookie, or NULL. Every slot is compared. */
static struct session *find(struct uiauth *a, const char *cookie_header, bool secure,
			    int64_t now_ms)
{
	char id[UIAUTH_TOKEN_LEN + 1];
	struct session *found = NULL;

	if (!uiauth_cookie_value(cookie_header, uiauth_cookie_name(secure), id, sizeof(id)) ||
	    strlen(id) != UIAUTH_TOKEN_LEN)
		return NULL;
	for (size_t i = 0; i < UIAUTH_MAX_SESSIONS; i++) {
		struct session *s = &a->s[i];

		if (s->id[0] && secret_equal(s->id, id) && s->expires_ms > now_ms)
			found = s;
	}
	return found;
}

const char *uiauth_session_csrf(struct uiauth *a, const char *cookie_header, bool secure,
				int64_t now_ms)
{
	struct session *s = find(a, cookie_header, secure, now_ms);

	return s ? s->csrf : NULL;
}

bool uiauth_csrf_ok(struct uiauth *a, const char *cookie_header, bool secure,
		    const char *csrf_header, int64_t now_ms)
{
	struct session *s = find(a, cookie_header, secure, now_ms);

	return s && csrf_header && secret_equal(s->csrf, csrf_header);
}

void uiauth_session_end(struct uiauth *a, const char *cookie_header, bool secure)
{
	struct session *s = find(a, cookie_header, secure, INT64_MIN);

	if (s)
		memset(s, 0, sizeof(*s));
}

size_t uiauth_sessions(const struct uiauth *a, int64_t now_ms)
{
	size_t n = 0;

	for (size_t i = 0; i < UIAUTH_MAX_SESSIONS; i++)
		if (a->s[i].id[0] && a->s[i].expires_ms > now_ms)
			n++;
	return n;
}

/* ---- cookies ----------------------------------------------------------------------------- */

bool uiauth_cookie_value(const char *cookie_header, const char *name, char *out, size_t len)
{
	const char *p = cookie_header;
	size_t nlen = strlen(name);

	while (p && *p) {
		const char *end;

		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t n = (size_t)(end - (p + nlen + 1));

			while (n > 0 && (p[nlen + n] == ' ' || p[nlen + n] == '\t'))
				n--;
			if (n >= len)
				return false;
			memcpy(out, p + nlen + 1, n);
			out[n] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

const char *uiauth_cookie_name(bool secure)
{
	return secure ? UIAUTH_COOKIE_SECURE : UIAUTH_COOKIE;
}

/* __Host- makes a browser keep the cookie only when it came over HTTPS with Secure, Path=/
 * and no Domain: a page on another subdomain or a plain-HTTP answer cannot set or shadow it. */
void uiauth_set_cookie(const char *id, int64_t max_age_s, bool secure, char *out, size_t len)
{
	snprintf(out, len, "%s=%s; %sHttpOnly; SameSite=Strict; Path=/; Max-Age=%lld",
		 uiauth_cookie_name(secure), id, secure ? "Secure; " : "", (long long)max_age_s);
}
