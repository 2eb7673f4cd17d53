/* uiauth: the cockpit's login, as plain decisions over plain values (tested without a
 * server): password hashes, the session table, CSRF tokens and the login rate limit.
 *
 * Password hashes are PBKDF2-HMAC-SHA256 in the form core/pwhash.h parses
 *   pbkdf2-sha256$<iterations>$<salt, base64>$<32-byte key, base64>
 * (standard padded base64; the config check refuses any other). Sessions live in memory
 * only (a restart logs everyone out): a
 * fixed table of UIAUTH_MAX_SESSIONS, each a random 256-bit id (the cookie) with a random
 * 256-bit CSRF token and an absolute expiry; a new login past the cap replaces the session
 * that expires first. Times are monotonic milliseconds, passed in.
 */
#ifndef HERMETIC_UIAUTH_H
#define HERMETIC_UIAUTH_H

#include "core/netaddr.h"
#include "core/pwhash.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UIAUTH_ITERATIONS     200000 /* `hermetic ui hash-password`: ~0.3 s on a Pi 4 */
#define UIAUTH_ITERATIONS_MIN PWHASH_ITERATIONS_MIN
#define UIAUTH_ITERATIONS_MAX PWHASH_ITERATIONS_MAX
#define UIAUTH_HASH_MAX	      128 /* an encoded hash, with its NUL */
#define UIAUTH_TOKEN_LEN      64  /* hex digits of a session id or CSRF token */
#define UIAUTH_MAX_SESSIONS   16
#define UIAUTH_COOKIE	      "hermetic_ui"
#define UIAUTH_COOKIE_SECURE  "__Host-hermetic_ui" /* the name over TLS */
#define UIAUTH_MAX_CLIENTS    256 /* client addresses whose failed logins are counted */
#define UIAUTH_ALL_FACTOR     20 /* failures of all clients a minute: this x the per-client limit */
#define UIAUTH_PASSWORD_MAX   1024 /* longer passwords are refused, not hashed */

/* PBKDF2-HMAC-SHA256 (RFC 8018) over mbedTLS's HMAC: out_len bytes of key. 0 or -EINVAL;
 * -ECANCELED when stop (NULL: never) said true: it is asked every UIAUTH_STOP_EVERY
 * iterations. */
#define UIAUTH_STOP_EVERY 4096
int uiauth_pbkdf2_sha256(const void *password, size_t password_len, const void *salt,
			 size_t salt_len, unsigned iterations, unsigned char *out, size_t out_len,
			 bool (*stop)(void));
/* Encodes a new hash of password with a random 16-byte salt into out (UIAUTH_HASH_MAX bytes).
 * 0, -EINVAL (iterations out of range, password too long) or -EIO (no randomness). */
int uiauth_hash_password(const char *password, unsigned iterations, char *out, size_t out_len);
/* Whether password matches encoded (false too when encoded is not valid, and when stop, as
 * for uiauth_pbkdf2_sha256, cut the hash short). The final compare takes the same time
 * wherever the keys differ. */
bool uiauth_verify(const char *encoded, const char *password, bool (*stop)(void));

/* ---- sessions and the rate limit */

struct uiauth;

/* ttl_ms: a session's life from login; max_failures: failed logins allowed per client
 * address and minute (from all clients together: UIAUTH_ALL_FACTOR times that). */
struct uiauth *uiauth_create(int64_t ttl_ms, int max_failures);
void uiauth_destroy(struct uiauth *a); /* accepts NULL */

/* The address a login from peer is counted against: peer itself, or, when peer is in
 * proxies (a reverse proxy the config trusts), the rightmost entry of the X-Forwarded-For
 * value xff (NULL: none) that is not in proxies. A garbled entry stops the walk at the proxy
 * that passed it on. */
void uiauth_client(const struct netaddr *peer, const char *xff, const struct netaddr_net *proxies,
		   size_t n_proxies, struct netaddr *out);
/* The key failures are counted under: an IPv4 address, or an IPv6 address's /64. */
void uiauth_client_key(const struct netaddr *addr, struct netaddr *key);
/* Whether a request from peer came over TLS: a proxy in proxies said so
 * (X-Forwarded-Proto: https; xfp NULL: not said). */
bool uiauth_over_tls(const struct netaddr *peer, const char *xfp, const struct netaddr_net *proxies,
		     size_t n_proxies);
/* Whether a login attempt from client may be checked at now_ms: neither client's minute nor
 * everyone's is used up. When not, *retry_s says when to retry. */
bool uiauth_login_allowed(struct uiauth *a, const struct netaddr *client, int64_t now_ms,
			  int64_t *retry_s);
/* Counts a failed attempt of client against its minute and everyone's. */
void uiauth_login_failed(struct uiauth *a, const struct netaddr *client, int64_t now_ms);
/* A new session: its id and CSRF token (hex, NUL-terminated) into id and csrf. 0 or -EIO. */
int uiauth_session_new(struct uiauth *a, int64_t now_ms, char id[UIAUTH_TOKEN_LEN + 1],
		       char csrf[UIAUTH_TOKEN_LEN + 1]);
/* Session lookups read the cookie uiauth_cookie_name(secure) names: a request over TLS
 * reads only the __Host- cookie, a plain one only the plain cookie. */
/* The CSRF token of the live session named by a Cookie header value (NULL allowed), or NULL
 * when there is none (no cookie, unknown, expired). Borrowed until the next uiauth call. */
const char *uiauth_session_csrf(struct uiauth *a, const char *cookie_header, bool secure,
				int64_t now_ms);
/* Whether the Cookie header names a live session whose CSRF token equals csrf_header (the
 * X-CSRF-Token value; NULL: false). */
bool uiauth_csrf_ok(struct uiauth *a, const char *cookie_header, bool secure,
		    const char *csrf_header, int64_t now_ms);
/* Ends the session the Cookie header names, if any. */
void uiauth_session_end(struct uiauth *a, const char *cookie_header, bool secure);
/* Live sessions at now_ms. */
size_t uiauth_sessions(const struct uiauth *a, int64_t now_ms);

/* The value of cookie name in a Cookie header value into out. False when absent or longer
 * than len - 1. */
bool uiauth_cookie_value(const char *cookie_header, const char *name, char *out, size_t len);
/* The session cookie's name: UIAUTH_COOKIE_SECURE over TLS, else UIAUTH_COOKIE. */
const char *uiauth_cookie_name(bool secure);
/* The Set-Cookie value for a session id (max_age_s 0: an expired cookie, for logout); secure:
 * the __Host- name with Secure. */
void uiauth_set_cookie(const char *id, int64_t max_age_s, bool secure, char *out, size_t len);

#endif
