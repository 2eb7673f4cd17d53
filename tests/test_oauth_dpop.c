/* oauth_dpop: a DPoP proof (RFC 9449 4.2) has the header and claims the resource and the
 * authorization server check, verifies with the jwk it carries (the conformance suite's own
 * check), binds the access token with ath, and is fresh each time; nonces are kept per origin
 * and only when they are nonces; the challenges and errors that ask for one are recognised. */
#include "test.h"
#include "core/json.h"
#include "core/jws.h"
#include "core/util.h"
#include "mcp/oauth_dpop.h"
#include "mcp/oauth_meta.h"

#include <cjson/cJSON.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdlib.h>
#include <string.h>

static size_t b64url_decode(const char *s, size_t len, unsigned char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned v = 0, bits = 0;
	size_t n = 0, i;

	for (i = 0; i < len; i++) {
		const char *at = strchr(a, s[i]);

		assert_non_null(at);
		v = v << 6 | (unsigned)(at - a);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(v >> bits);
		}
	}
	return n;
}

static void sha256(const void *data, size_t len, unsigned char out[32])
{
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256(data, len, out, 0);
#else
	mbedtls_sha256_ret(data, len, out, 0);
#endif
}

/* The JSON of a JWT's part (0 header, 1 claims). */
static cJSON *part(const char *jwt, int which)
{
	const char *p = jwt, *end;
	unsigned char raw[2048];
	size_t n;

	while (which--)
		p = strchr(p, '.') + 1;
	end = strchr(p, '.');
	assert_non_null(end);
	assert_true((size_t)(end - p) < sizeof(raw));
	n = b64url_decode(p, (size_t)(end - p), raw);
	return json_parse((const char *)raw, n, 0, NULL);
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Verifies jwt's ES256 signature with the public key its jwk header names, as a server does. */
static int verify_with_jwk(const char *jwt)
{
	cJSON *h = part(jwt, 0);
	const cJSON *jwk = cJSON_GetObjectItemCaseSensitive(h, "jwk");
	unsigned char point[65], sig[64], hash[32];
	const char *dot2 = strrchr(jwt, '.');
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	mbedtls_mpi r, s;
	int rc;

	assert_int_equal(b64url_decode(str(jwk, "x"), strlen(str(jwk, "x")), point + 1), 32);
	assert_int_equal(b64url_decode(str(jwk, "y"), strlen(str(jwk, "y")), point + 33), 32);
	point[0] = 0x04;
	assert_int_equal(b64url_decode(dot2 + 1, strlen(dot2 + 1), sig), 64);
	sha256(jwt, (size_t)(dot2 - jwt), hash);
	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	assert_int_equal(mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1), 0);
	assert_int_equal(mbedtls_ecp_point_read_binary(&grp, &q, point, sizeof(point)), 0);
	mbedtls_mpi_read_binary(&r, sig, 32);
	mbedtls_mpi_read_binary(&s, sig + 32, 32);
	rc = mbedtls_ecdsa_verify(&grp, hash, 32, &q, &r, &s);
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	cJSON_Delete(h);
	return rc;
}

static void a_token_request_proof_has_the_header_and_claims_and_verifies(void **state)
{
	char err[256] = "", *key = jws_ec_key_create(err, sizeof(err));
	char *jwt = oauth_dpop_proof(key, "POST", "https://as.example:8443/oauth/token?x=1#frag",
				     NULL, NULL, err, sizeof(err));
	cJSON *h, *c, *jwk;
	long long now = now_wall_ms() / 1000;

	(void)state;
	assert_non_null(key);
	assert_non_null(strstr(key, "PRIVATE KEY"));
	assert_non_null(jwt);
	h = part(jwt, 0);
	c = part(jwt, 1);
	assert_string_equal(str(h, "typ"), "dpop+jwt");
	assert_string_equal(str(h, "alg"), "ES256");
	jwk = cJSON_GetObjectItemCaseSensitive(h, "jwk");
	assert_string_equal(str(jwk, "kty"), "EC");
	assert_string_equal(str(jwk, "crv"), "P-256");
	assert_null(cJSON_GetObjectItemCaseSensitive(jwk, "d")); /* never the private part */
	assert_string_equal(str(c, "htm"), "POST");
	assert_string_equal(str(c, "htu"), "https://as.example:8443/oauth/token");
	assert_true(str(c, "jti") && strlen(str(c, "jti")) >= 22);
	assert_true(cJSON_GetObjectItemCaseSensitive(c, "iat")->valuedouble >= (double)now - 1);
	assert_true(cJSON_GetObjectItemCaseSensitive(c, "iat")->valuedouble <= (double)now + 1);
	assert_null(cJSON_GetObjectItemCaseSensitive(c, "ath")); /* no token yet */
	assert_null(cJSON_GetObjectItemCaseSensitive(c, "nonce"));
	assert_int_equal(verify_with_jwk(jwt), 0);
	/* a proof altered after signing does not verify */
	jwt[strlen(jwt) - 3] = jwt[strlen(jwt) - 3] == 'A' ? 'B' : 'A';
	assert_true(verify_with_jwk(jwt) != 0);
	cJSON_Delete(h);
	cJSON_Delete(c);
	free(jwt);
	free(key);
}

static void a_resource_proof_binds_the_token_with_ath_and_carries_the_nonce(void **state)
{
	static const char token[] = "eyJ.an-access-token.sig";
	char err[256] = "", *key = jws_ec_key_create(err, sizeof(err));
	char *a = oauth_dpop_proof(key, "GET", "http://127.0.0.1:9/mcp", token, "n-1", err,
				   sizeof(err));
	char *b = oauth_dpop_proof(key, "GET", "http://127.0.0.1:9/mcp", token, NULL, err,
				   sizeof(err));
	unsigned char hash[32];
	struct buf want;
	cJSON *ca, *cb, *ha, *hb;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	sha256(token, strlen(token), hash);
	buf_init(&want, 0);
	jws_b64url(&want, hash, sizeof(hash));
	ca = part(a, 1);
	cb = part(b, 1);
	ha = part(a, 0);
	hb = part(b, 0);
	assert_string_equal(str(ca, "ath"), buf_str(&want));
	assert_string_equal(str(ca, "htm"), "GET");
	assert_string_equal(str(ca, "nonce"), "n-1");
	assert_null(cJSON_GetObjectItemCaseSensitive(cb, "nonce"));
	/* fresh each time: another jti, the same key */
	assert_string_not_equal(str(ca, "jti"), str(cb, "jti"));
	assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(ha, "jwk"), "x"),
			    str(cJSON_GetObjectItemCaseSensitive(hb, "jwk"), "x"));
	assert_int_equal(verify_with_jwk(a), 0);
	cJSON_Delete(ca);
	cJSON_Delete(cb);
	cJSON_Delete(ha);
	cJSON_Delete(hb);
	buf_finish(&want);
	free(a);
	free(b);
	free(key);
}

static void the_header_line_takes_the_nonce_of_the_origin(void **state)
{
	char err[256] = "", *key = jws_ec_key_create(err, sizeof(err));
	char *line;
	cJSON *c;

	(void)state;
	oauth_dpop_nonce_reset();
	assert_true(oauth_dpop_nonce_set("https://rs.example/other/path", "rs-nonce"));
	line = oauth_dpop_header(key, "POST", "https://rs.example/mcp", "tok", err, sizeof(err));
	assert_non_null(line);
	assert_true(strncmp(line, "DPoP: ", 6) == 0);
	c = part(line + 6, 1);
	assert_string_equal(str(c, "nonce"), "rs-nonce");
	cJSON_Delete(c);
	free(line);
	free(key);
	oauth_dpop_nonce_reset();
}

static void a_key_that_is_not_p256_gives_no_proof(void **state)
{
	char err[256] = "";

	(void)state;
	assert_null(
		oauth_dpop_proof("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
				 "POST", "https://as/token", NULL, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "the DPoP key does not parse"));
}

static void nonces_are_kept_per_origin_and_only_when_valid(void **state)
{
	char url[64], want[32];
	int i;

	(void)state;
	oauth_dpop_nonce_reset();
	assert_null(oauth_dpop_nonce("https://as.example/token"));
	assert_true(oauth_dpop_nonce_set("https://as.example/token", "a1"));
	assert_true(oauth_dpop_nonce_set("https://rs.example/mcp", "r1"));
	assert_string_equal(oauth_dpop_nonce("https://as.example/other"), "a1");
	assert_string_equal(oauth_dpop_nonce("https://rs.example/mcp?q"), "r1");
	assert_null(oauth_dpop_nonce("https://as.example:444/token"));	     /* another origin */
	assert_true(oauth_dpop_nonce_set("https://as.example/token", "a2")); /* the latest */
	assert_string_equal(oauth_dpop_nonce("https://as.example/token"), "a2");
	/* not a nonce (RFC 9449 8.1): kept out, the last good one stays */
	assert_false(oauth_dpop_nonce_set("https://as.example/token", "has space"));
	assert_false(oauth_dpop_nonce_set("https://as.example/token", "q\"uote"));
	assert_false(oauth_dpop_nonce_set("https://as.example/token", ""));
	{
		char big[OAUTH_DPOP_NONCE_MAX + 2];

		memset(big, 'n', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_false(oauth_dpop_nonce_set("https://as.example/token", big));
	}
	assert_false(oauth_dpop_nonce_set("not a url", "x"));
	assert_string_equal(oauth_dpop_nonce("https://as.example/token"), "a2");
	/* bounded: the least recently set origin is forgotten first */
	for (i = 0; i < OAUTH_DPOP_NONCE_ORIGINS; i++) {
		snprintf(url, sizeof(url), "https://h%d.example/mcp", i);
		snprintf(want, sizeof(want), "n%d", i);
		assert_true(oauth_dpop_nonce_set(url, want));
	}
	assert_null(oauth_dpop_nonce("https://as.example/token"));
	assert_string_equal(oauth_dpop_nonce("https://h0.example/mcp"), "n0");
	snprintf(url, sizeof(url), "https://h%d.example/mcp", OAUTH_DPOP_NONCE_ORIGINS - 1);
	snprintf(want, sizeof(want), "n%d", OAUTH_DPOP_NONCE_ORIGINS - 1);
	assert_string_equal(oauth_dpop_nonce(url), want);
	oauth_dpop_nonce_reset();
}

static void challenges_and_errors_that_ask_for_a_nonce(void **state)
{
	struct oauth_challenge ch;

	(void)state;
	assert_true(oauth_dpop_nonce_asked("DPoP error=\"use_dpop_nonce\", "
					   "resource_metadata=\"https://rs/.well-known/x\""));
	assert_true(oauth_dpop_nonce_asked("Bearer realm=\"r\", DPoP algs=\"ES256\", "
					   "error=use_dpop_nonce"));
	assert_false(oauth_dpop_nonce_asked("Bearer error=\"use_dpop_nonce\""));
	assert_false(oauth_dpop_nonce_asked("DPoP error=\"invalid_token\""));
	assert_false(oauth_dpop_nonce_asked(NULL));
	/* a DPoP challenge leads discovery as a Bearer one does */
	assert_int_equal(oauth_challenge_parse("DPoP resource_metadata=\"https://rs/prm\", "
					       "scope=\"a b\"",
					       &ch),
			 0);
	assert_true(ch.dpop);
	assert_string_equal(ch.resource_metadata, "https://rs/prm");
	assert_string_equal(ch.scope, "a b");
	oauth_challenge_finish(&ch);
	assert_int_equal(oauth_challenge_parse("Basic realm=\"x\"", &ch), -1);
	assert_true(oauth_dpop_nonce_error("{\"error\":\"use_dpop_nonce\"}", 26));
	assert_false(oauth_dpop_nonce_error("{\"error\":\"invalid_grant\"}", 25));
	assert_false(oauth_dpop_nonce_error("not json", 8));
	/* dpop_signing_alg_values_supported: absent says nothing; listed must have ES256 */
	assert_true(oauth_dpop_alg_ok(NULL));
	assert_true(oauth_dpop_alg_ok("RS256 ES256"));
	assert_false(oauth_dpop_alg_ok("RS256 PS256"));
	assert_false(oauth_dpop_alg_ok("")); /* an empty list */
	{
		static const char meta[] = "{\"issuer\":\"https://as\",\"token_endpoint\":"
					   "\"https://as/token\",\"dpop_signing_alg_values_"
					   "supported\":[]}";
		struct oauth_as as;
		char err[200];

		assert_int_equal(oauth_as_parse(meta, sizeof(meta) - 1, &as, err, sizeof(err)), 0);
		assert_non_null(as.dpop_algs);
		assert_false(oauth_dpop_alg_ok(as.dpop_algs));
		oauth_as_finish(&as);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_token_request_proof_has_the_header_and_claims_and_verifies),
		cmocka_unit_test(a_resource_proof_binds_the_token_with_ath_and_carries_the_nonce),
		cmocka_unit_test(the_header_line_takes_the_nonce_of_the_origin),
		cmocka_unit_test(a_key_that_is_not_p256_gives_no_proof),
		cmocka_unit_test(nonces_are_kept_per_origin_and_only_when_valid),
		cmocka_unit_test(challenges_and_errors_that_ask_for_a_nonce),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
