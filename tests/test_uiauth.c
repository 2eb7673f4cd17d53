/* uiauth and ui's decisions: PBKDF2-HMAC-SHA256 against RFC 7914's vectors and Python's
 * hashlib, the encoded hash's form, sessions (ids, expiry, eviction, logout), CSRF, the login
 * rate limit, cookie parsing and flags; ui's ETag match and query decoding.
 */
#include "test.h"
#include "cockpit/ui.h"
#include "cockpit/uiauth.h"
#include "core/pwhash.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Made by Python: hashlib.pbkdf2_hmac('sha256', b'hunter2-but-longer', b'0123456789abcdef',
 * 10000), encoded as hermetic ui hash-password encodes it. */
#define PY_HASH                                                                                    \
	"pbkdf2-sha256$10000$MDEyMzQ1Njc4OWFiY2RlZg==$"                                            \
	"LX8Fn7vgaDFfCshBTNYEA8GHzW7TjoNQF4nwnW8tOGk="

static bool hash_valid(const char *encoded)
{
	struct pwhash p;
	const char *why = NULL;
	int rc = pwhash_parse(encoded, &p, &why);

	assert_true(rc == 0 ? why == NULL : why != NULL); /* a reason exactly when refused */
	return rc == 0;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void pbkdf2_matches_rfc7914(void **state)
{
	unsigned char k[64];
	char h[129];

	assert_int_equal(uiauth_pbkdf2_sha256("passwd", 6, "salt", 4, 1, k, sizeof(k), NULL), 0);
	hex(k, sizeof(k), h);
	assert_string_equal(h, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
			       "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
	assert_int_equal(uiauth_pbkdf2_sha256("Password", 8, "NaCl", 4, 80000, k, sizeof(k), NULL),
			 0);
	hex(k, sizeof(k), h);
	assert_string_equal(h, "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
			       "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
	assert_int_equal(uiauth_pbkdf2_sha256("x", 1, "s", 1, 0, k, sizeof(k), NULL), -EINVAL);
}

static void verify_takes_pythons_hash_and_refuses_others(void **state)
{
	assert_true(hash_valid(PY_HASH));
	assert_true(uiauth_verify(PY_HASH, "hunter2-but-longer", NULL));
	assert_false(uiauth_verify(PY_HASH, "hunter2-but-longeR", NULL));
	assert_false(uiauth_verify(PY_HASH, "", NULL));
	assert_false(uiauth_verify(PY_HASH, NULL, NULL));
	/* a changed key (a changed last bit: 'k' -> 'm' before the '=' only changes padding
	 * bits, the same key), iterations out of range, a bad form */
	assert_false(uiauth_verify("pbkdf2-sha256$10000$MDEyMzQ1Njc4OWFiY2RlZg==$"
				   "LX8Fn7vgaDFfCshBTNYEA8GHzW7TjoNQF4nwnW8tOGo=",
				   "hunter2-but-longer", NULL));
	assert_false(hash_valid("pbkdf2-sha256$999$MDEyMzQ1Njc4OWFiY2RlZg==$"
				"LX8Fn7vgaDFfCshBTNYEA8GHzW7TjoNQF4nwnW8tOGk="));
	assert_false(hash_valid("pbkdf2-sha256$99999999$MDEyMzQ1Njc4OWFiY2RlZg==$"
				"LX8Fn7vgaDFfCshBTNYEA8GHzW7TjoNQF4nwnW8tOGk="));
	assert_false(hash_valid("pbkdf2-sha1$10000$MDEyMzQ1Njc4OWFiY2RlZg==$"
				"LX8Fn7vgaDFfCshBTNYEA8GHzW7TjoNQF4nwnW8tOGk="));
	assert_false(hash_valid("pbkdf2-sha256$10000$MDEy$"
				"LX8Fn7vgaDFfCshBTNYEA8GHzW7TjoNQF4nwnW8tOGk="));
	assert_false(hash_valid("pbkdf2-sha256$10000$MDEyMzQ1Njc4OWFiY2RlZg==$LX8F"));
	assert_false(hash_valid("pbkdf2-sha256$10000$MDEyMzQ1Njc4OWFiY2RlZg=$"
				"LX8Fn7vgaDFfCshBTNYEA8GHzW7TjoNQF4nwnW8tOGk="));
	assert_false(hash_valid("pbkdf2-sha256$10000$MDEyMzQ1 Njc4OWFiY2RlZg==$"
				"LX8Fn7vgaDFfCshBTNYEA8GHzW7TjoNQF4nwnW8tOGk="));
	assert_false(hash_valid("pbkdf2-sha256$10000$MDEyMzQ1Njc4OWFiY2RlZg==$"
				"LX8Fn7vgaDFfCshBTNYEA8GHzW7TjoNQF4nwnW8tOGk=\n"));
	assert_false(
		hash_valid("pbkdf2-sha256$10000$"
			   "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEy"
			   "MzQ1Njc4OWFiY2RlZjA=$LX8Fn7vgaDFfCshBTNYEA8GHzW7TjoNQF4nwnW8tOGk="));
	assert_false(hash_valid("hunter2-but-longer"));
	assert_false(hash_valid(NULL));
}

static unsigned stop_calls, stop_at;

static bool stop_at_ask(void)
{
	return ++stop_calls >= stop_at;
}

/* A shutdown does not wait for a hash of millions of iterations: the hash asks its stop every
 * UIAUTH_STOP_EVERY iterations and gives up when told to; a verify cut short is a refusal. */
static void a_hash_told_to_stop_stops(void **state)
{
	unsigned char k[32];

	stop_calls = 0;
	stop_at = 3;
	assert_int_equal(
		uiauth_pbkdf2_sha256("pw", 2, "salt", 4, 5000000, k, sizeof(k), stop_at_ask),
		-ECANCELED);
	assert_int_equal(stop_calls, 3); /* after 3 x 4,096 of the 5,000,000 iterations */
	/* PY_HASH's 10,000 iterations ask twice (at 4,096 and 8,192) */
	stop_calls = 0;
	stop_at = 2;
	assert_false(uiauth_verify(PY_HASH, "hunter2-but-longer", stop_at_ask));
	assert_int_equal(stop_calls, 2);
	stop_calls = 0;
	stop_at = 3;
	assert_true(uiauth_verify(PY_HASH, "hunter2-but-longer", stop_at_ask));
	assert_int_equal(stop_calls, 2);
	/* a stop that never says yes changes nothing */
	assert_true(uiauth_verify(PY_HASH, "hunter2-but-longer", NULL));
}

static void a_new_hash_verifies_and_is_salted(void **state)
{
	char a[UIAUTH_HASH_MAX], b[UIAUTH_HASH_MAX];

	assert_int_equal(uiauth_hash_password("pass phrase", UIAUTH_ITERATIONS_MIN, a, sizeof(a)),
			 0);
	assert_int_equal(uiauth_hash_password("pass phrase", UIAUTH_ITERATIONS_MIN, b, sizeof(b)),
			 0);
	assert_string_not_equal(a, b);
	assert_true(uiauth_verify(a, "pass phrase", NULL));
	assert_false(uiauth_verify(a, "pass phrasE", NULL));
	assert_int_equal(uiauth_hash_password("x", 1, a, sizeof(a)), -EINVAL);
}

static void sessions_expire_end_and_are_evicted_oldest_first(void **state)
{
	struct uiauth *a = uiauth_create(1000, 5);
	char id[UIAUTH_TOKEN_LEN + 1], csrf[UIAUTH_TOKEN_LEN + 1], first[UIAUTH_TOKEN_LEN + 1];
	char cookie[200];

	assert_int_equal(uiauth_session_new(a, 0, id, csrf), 0);
	assert_int_equal(strlen(id), UIAUTH_TOKEN_LEN);
	assert_string_not_equal(id, csrf);
	snprintf(cookie, sizeof(cookie), "theme=dark; " UIAUTH_COOKIE "=%s; x=y", id);
	assert_string_equal(uiauth_session_csrf(a, cookie, false, 999), csrf);
	assert_null(uiauth_session_csrf(a, cookie, false, 1000)); /* expired */
	assert_null(uiauth_session_csrf(a, NULL, false, 0));
	assert_null(uiauth_session_csrf(a, UIAUTH_COOKIE "=abc", false, 0));
	/* logout */
	assert_int_equal(uiauth_session_new(a, 0, id, csrf), 0);
	snprintf(cookie, sizeof(cookie), UIAUTH_COOKIE "=%s", id);
	assert_non_null(uiauth_session_csrf(a, cookie, false, 1));
	uiauth_session_end(a, cookie, false);
	assert_null(uiauth_session_csrf(a, cookie, false, 1));
	/* past the cap the session that expires first goes */
	for (int i = 0; i < UIAUTH_MAX_SESSIONS; i++) {
		assert_int_equal(uiauth_session_new(a, 10 + i, id, csrf), 0);
		if (i == 0)
			memcpy(first, id, sizeof(first));
	}
	assert_int_equal(uiauth_sessions(a, 100), UIAUTH_MAX_SESSIONS);
	assert_int_equal(uiauth_session_new(a, 100, id, csrf), 0);
	assert_int_equal(uiauth_sessions(a, 100), UIAUTH_MAX_SESSIONS);
	snprintf(cookie, sizeof(cookie), UIAUTH_COOKIE "=%s", first);
	assert_null(uiauth_session_csrf(a, cookie, false, 100));
	uiauth_destroy(a);
}

static void csrf_must_be_the_sessions_own(void **state)
{
	struct uiauth *a = uiauth_create(60000, 5);
	char id[UIAUTH_TOKEN_LEN + 1], csrf[UIAUTH_TOKEN_LEN + 1];
	char id2[UIAUTH_TOKEN_LEN + 1], csrf2[UIAUTH_TOKEN_LEN + 1], cookie[200];

	assert_int_equal(uiauth_session_new(a, 0, id, csrf), 0);
	assert_int_equal(uiauth_session_new(a, 0, id2, csrf2), 0);
	snprintf(cookie, sizeof(cookie), UIAUTH_COOKIE "=%s", id);
	assert_true(uiauth_csrf_ok(a, cookie, false, csrf, 1));
	assert_false(uiauth_csrf_ok(a, cookie, false, csrf2, 1)); /* another session's token */
	assert_false(uiauth_csrf_ok(a, cookie, false, NULL, 1));
	assert_false(uiauth_csrf_ok(a, cookie, false, "", 1));
	assert_false(uiauth_csrf_ok(a, NULL, false, csrf, 1)); /* no cookie: a cross-site request */
	assert_false(uiauth_csrf_ok(a, cookie, false, csrf, 60000));
	uiauth_destroy(a);
}

static struct netaddr addr(const char *s)
{
	struct netaddr a;

	assert_int_equal(netaddr_parse(s, &a), 0);
	return a;
}

static void failed_logins_are_limited_per_minute(void **state)
{
	struct uiauth *a = uiauth_create(60000, 3);
	struct netaddr c = addr("10.0.0.7");
	int64_t retry = 0;

	for (int i = 0; i < 3; i++) {
		assert_true(uiauth_login_allowed(a, &c, 1000 + i, &retry));
		uiauth_login_failed(a, &c, 1000 + i);
	}
	assert_false(uiauth_login_allowed(a, &c, 2000, &retry));
	assert_int_equal(retry, 59);
	assert_false(uiauth_login_allowed(a, &c, 60999, &retry));
	assert_int_equal(retry, 1);
	assert_true(uiauth_login_allowed(a, &c, 61000, &retry));
	uiauth_destroy(a);
}

static void a_strangers_failures_do_not_lock_out_another_address(void **state)
{
	struct uiauth *a = uiauth_create(60000, 3);
	struct netaddr stranger = addr("203.0.113.9"), owner = addr("192.168.1.20");
	struct netaddr v6 = addr("2001:db8:1:2::1"), v6_same64 = addr("2001:db8:1:2:ffff::9");
	struct netaddr v6_other64 = addr("2001:db8:1:3::1");
	int64_t retry = 0;

	for (int i = 0; i < 10; i++)
		uiauth_login_failed(a, &stranger, 1000);
	assert_false(uiauth_login_allowed(a, &stranger, 1000, &retry));
	assert_true(uiauth_login_allowed(a, &owner, 1000, &retry));
	/* an IPv6 client is counted by its /64 */
	for (int i = 0; i < 3; i++)
		uiauth_login_failed(a, &v6, 1000);
	assert_false(uiauth_login_allowed(a, &v6_same64, 1000, &retry));
	assert_true(uiauth_login_allowed(a, &v6_other64, 1000, &retry));
	uiauth_destroy(a);
}

static void failures_from_everyone_meet_a_ceiling(void **state)
{
	struct uiauth *a = uiauth_create(60000, 2);
	struct netaddr c, owner = addr("192.168.1.20");
	int64_t retry = 0;
	int ceiling = 2 * UIAUTH_ALL_FACTOR;

	for (int i = 0; i < ceiling; i++) {
		c = addr("10.1.0.0");
		c.b[14] = (unsigned char)(i >> 8);
		c.b[15] = (unsigned char)i;
		assert_true(uiauth_login_allowed(a, &c, 1000, &retry));
		uiauth_login_failed(a, &c, 1000);
	}
	assert_false(uiauth_login_allowed(a, &owner, 1500, &retry));
	assert_int_equal(retry, 60);
	assert_true(uiauth_login_allowed(a, &owner, 61000, &retry));
	uiauth_destroy(a);
}

static void a_full_table_keeps_the_locked_out_addresses(void **state)
{
	/* 40 a client: the ceiling (800) stays out of reach of the 552 failures below */
	struct uiauth *a = uiauth_create(60000, 40);
	struct netaddr locked = addr("203.0.113.9"), fresh = addr("198.51.100.1"), c;
	int64_t retry = 0;

	for (int i = 0; i < 40; i++)
		uiauth_login_failed(a, &locked, 0);
	/* twice as many new addresses as the table holds, one failure each */
	for (int i = 0; i < 2 * UIAUTH_MAX_CLIENTS; i++) {
		c = addr("10.2.0.0");
		c.b[14] = (unsigned char)(i >> 8);
		c.b[15] = (unsigned char)i;
		uiauth_login_failed(a, &c, 1 + i / 20);
	}
	assert_false(uiauth_login_allowed(a, &locked, 59999, &retry));
	assert_int_equal(retry, 1);
	assert_true(uiauth_login_allowed(a, &fresh, 59999, &retry));
	assert_true(uiauth_login_allowed(a, &locked, 60000, &retry));
	uiauth_destroy(a);
}

static void the_client_is_the_peer_unless_a_trusted_proxy_names_it(void **state)
{
	struct netaddr_net proxies[2];
	struct netaddr peer = addr("10.42.0.15"), out;
	char text[NETADDR_TEXT_MAX];

	assert_int_equal(netaddr_parse_net("10.42.0.0/16", &proxies[0]), 0);
	assert_int_equal(netaddr_parse_net("fd00::/8", &proxies[1]), 0);
#define CLIENT(p, xff)                                                                             \
	(uiauth_client(&(p), (xff), proxies, 2, &out), netaddr_format(&out, text, sizeof(text)),   \
	 text)
	/* a trusted proxy's peer: the rightmost entry it did not write itself */
	assert_string_equal(CLIENT(peer, "198.51.100.4"), "198.51.100.4");
	assert_string_equal(CLIENT(peer, "1.2.3.4, 198.51.100.4"), "198.51.100.4");
	assert_string_equal(CLIENT(peer, "1.2.3.4,198.51.100.4 , 10.42.3.3"), "198.51.100.4");
	assert_string_equal(CLIENT(peer, "[2001:db8::5]"), "2001:db8::5");
	/* all trusted: the leftmost */
	assert_string_equal(CLIENT(peer, "10.42.9.9, 10.42.3.3"), "10.42.9.9");
	/* garbled or empty: the proxy that passed it on */
	assert_string_equal(CLIENT(peer, "1.2.3.4, junk"), "10.42.0.15");
	assert_string_equal(CLIENT(peer, "junk, 10.42.3.3"), "10.42.3.3");
	assert_string_equal(CLIENT(peer, ""), "10.42.0.15");
	assert_string_equal(CLIENT(peer, "1.2.3.4,"), "10.42.0.15");
	assert_string_equal(CLIENT(peer, NULL), "10.42.0.15");
	/* anyone else's X-Forwarded-For is theirs to choose, so it is not read */
	peer = addr("198.51.100.4");
	assert_string_equal(CLIENT(peer, "1.2.3.4"), "198.51.100.4");
	peer = addr("127.0.0.1");
	assert_string_equal(CLIENT(peer, "1.2.3.4"), "127.0.0.1");
#undef CLIENT
	/* only a trusted proxy says the browser came over TLS */
	peer = addr("10.42.0.15");
	assert_true(uiauth_over_tls(&peer, "https", proxies, 2));
	assert_true(uiauth_over_tls(&peer, "HTTPS", proxies, 2));
	assert_false(uiauth_over_tls(&peer, "http", proxies, 2));
	assert_false(uiauth_over_tls(&peer, NULL, proxies, 2));
	peer = addr("127.0.0.1");
	assert_false(uiauth_over_tls(&peer, "https", proxies, 2));
	assert_false(uiauth_over_tls(&peer, "https", NULL, 0));
}

static void cookies_parse_and_carry_their_flags(void **state)
{
	char v[70], set[200];

	assert_true(uiauth_cookie_value("a=1; hermetic_ui=abc; b=2", "hermetic_ui", v, sizeof(v)));
	assert_string_equal(v, "abc");
	assert_true(uiauth_cookie_value("hermetic_ui=abc ", "hermetic_ui", v, sizeof(v)));
	assert_string_equal(v, "abc");
	assert_false(uiauth_cookie_value("xhermetic_ui=abc", "hermetic_ui", v, sizeof(v)));
	assert_false(uiauth_cookie_value("hermetic_uix=abc", "hermetic_ui", v, sizeof(v)));
	assert_false(uiauth_cookie_value(NULL, "hermetic_ui", v, sizeof(v)));
	assert_false(uiauth_cookie_value("hermetic_ui=abcdef", "hermetic_ui", v, 4));
	uiauth_set_cookie("abc", 600, false, set, sizeof(set));
	assert_string_equal(set, "hermetic_ui=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=600");
	uiauth_set_cookie("abc", 600, true, set, sizeof(set));
	assert_string_equal(set, "__Host-hermetic_ui=abc; Secure; HttpOnly; SameSite=Strict; "
				 "Path=/; Max-Age=600");
}

static void a_secure_request_reads_only_the_host_cookie(void **state)
{
	struct uiauth *a = uiauth_create(60000, 5);
	char id[UIAUTH_TOKEN_LEN + 1], csrf[UIAUTH_TOKEN_LEN + 1], plain[200], host[200];

	assert_int_equal(uiauth_session_new(a, 0, id, csrf), 0);
	snprintf(plain, sizeof(plain), UIAUTH_COOKIE "=%s", id);
	snprintf(host, sizeof(host), UIAUTH_COOKIE_SECURE "=%s", id);
	assert_non_null(uiauth_session_csrf(a, plain, false, 1));
	assert_null(uiauth_session_csrf(a, plain, true, 1));
	assert_non_null(uiauth_session_csrf(a, host, true, 1));
	assert_null(uiauth_session_csrf(a, host, false, 1));
	assert_true(uiauth_csrf_ok(a, host, true, csrf, 1));
	assert_false(uiauth_csrf_ok(a, plain, true, csrf, 1));
	uiauth_destroy(a);
}

static void etags_match_as_if_none_match_says(void **state)
{
	const char *e = "\"0123abcd\"";

	assert_true(ui_etag_match("\"0123abcd\"", e));
	assert_true(ui_etag_match("W/\"0123abcd\"", e));
	assert_true(ui_etag_match("\"x\", \"0123abcd\"", e));
	assert_true(ui_etag_match("*", e));
	assert_false(ui_etag_match("\"0123abc\"", e));
	assert_false(ui_etag_match("0123abcd", e));
	assert_false(ui_etag_match("\"0123abcd", e));
	assert_false(ui_etag_match(NULL, e));
	assert_false(ui_etag_match("", e));
}

static void query_params_decode(void **state)
{
	char v[16];

	assert_true(ui_query_param("q=disk+full&limit=5", "q", v, sizeof(v)));
	assert_string_equal(v, "disk full");
	assert_true(ui_query_param("q=disk+full&limit=5", "limit", v, sizeof(v)));
	assert_string_equal(v, "5");
	assert_true(ui_query_param("q=%C3%A9t%c3%a9", "q", v, sizeof(v)));
	assert_string_equal(v, "\xc3\xa9t\xc3\xa9");
	assert_true(ui_query_param("q=", "q", v, sizeof(v)));
	assert_string_equal(v, "");
	assert_false(ui_query_param("q=%00", "q", v, sizeof(v)));
	assert_false(ui_query_param("q=%4", "q", v, sizeof(v)));
	assert_false(ui_query_param("q=%zz", "q", v, sizeof(v)));
	assert_false(ui_query_param("qq=1", "q", v, sizeof(v)));
	assert_false(ui_query_param(NULL, "q", v, sizeof(v)));
	assert_false(ui_query_param("q=0123456789abcdefg", "q", v, sizeof(v)));
	assert_true(ui_query_param("q=0123456789abcdefg", "q", NULL, 0));
	assert_false(ui_query_param("limit=5", "q", NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pbkdf2_matches_rfc7914),
		cmocka_unit_test(verify_takes_pythons_hash_and_refuses_others),
		cmocka_unit_test(a_new_hash_verifies_and_is_salted),
		cmocka_unit_test(a_hash_told_to_stop_stops),
		cmocka_unit_test(sessions_expire_end_and_are_evicted_oldest_first),
		cmocka_unit_test(csrf_must_be_the_sessions_own),
		cmocka_unit_test(a_strangers_failures_do_not_lock_out_another_address),
		cmocka_unit_test(failures_from_everyone_meet_a_ceiling),
		cmocka_unit_test(a_full_table_keeps_the_locked_out_addresses),
		cmocka_unit_test(the_client_is_the_peer_unless_a_trusted_proxy_names_it),
		cmocka_unit_test(a_secure_request_reads_only_the_host_cookie),
		cmocka_unit_test(failed_logins_are_limited_per_minute),
		cmocka_unit_test(cookies_parse_and_carry_their_flags),
		cmocka_unit_test(etags_match_as_if_none_match_says),
		cmocka_unit_test(query_params_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
