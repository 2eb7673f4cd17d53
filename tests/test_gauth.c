/* gauth: the service-account JWT (header and claims as Google's token endpoint reads them,
 * the RS256 signature verified with mbedTLS against the key's public half, a changed claim
 * failing it), the token form, the token endpoint's answers and errors, and the refresh time.
 * The keys are generated for this test only (openssl genpkey): they sign nothing else.
 */
#include "test.h"
#include "router/providers/gauth.h"

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_KEY                                                                                   \
	"-----BEGIN PRIVATE KEY-----\n"                                                            \
	"MIICeAIBADANBgkqhkiG9w0BAQEFAASCAmIwggJeAgEAAoGBANuIkVM1xAr6HWVB\n"                       \
	"NuYkjSczc9ZoHeeSaAbecnS8EmXSy+PDSz5K/H6ojX1dXN970SPDd8UXXwyMNfSe\n"                       \
	"TvesIdsHmMPp5cM83folSKKkKzmXPGF1Sb+uyoqs7VUUdc8PVqLW6Nk8FImBJEfv\n"                       \
	"pa2wjz0H3+NozAjQelflDz1W1zRlAgMBAAECgYEAlMowxNbR8iamubPDg6QOTx1e\n"                       \
	"S1jxu7vM6armpBu71GtUaSA55RRpoWaXzvnyMj3292hJyrkWYKi/APYyy0ZNAqZs\n"                       \
	"wqhP0W1/WRJV1fHvlg99haTF22fUE1PUDxF+riXZNRYQD5E53sK6hDQnQmTdVj+p\n"                       \
	"MxPNiUkL8DdHxya4ioECQQD7qYBfzFI+0odFfhWI3E9+wSIzMg5p3+sOLqADZQXn\n"                       \
	"XEXqe7WSrLohhEFY3xRKHmVa6N5x1yz8vDAzk16ovIYVAkEA31FLJBhwpodBZCYe\n"                       \
	"czzi7mY3MAtbkZ6EO5shV0zXvwGwTTAMkOcUAzT4bhyzonN/r3U5A6Hqq5xZ3NkS\n"                       \
	"0yFZEQJBAJ7+xuE/WFLidZ4c+4P9FKhTYsUPgfW4B2xtXqDmaWVzcaSkReIGCI52\n"                       \
	"XUbFoa72JzjZWPh5Zq3CQ33CRJK8kMUCQCrQtjxcZzS2V+YwnMPxV3znogsXEl5P\n"                       \
	"6wBWlMTdGbwoQbn6zV32v9KBlGPgItyxkjh8nArDP2/ZkS0TfVV3XlECQQDuItM9\n"                       \
	"5zooaQ9q0KDi9KsiiyNzYGuUlf+mTz0wPFhwo3fkaXUnP8oM5/hEkVvhd8kKu0M3\n"                       \
	"2dLpXvt9RnutKdEg\n"                                                                       \
	"-----END PRIVATE KEY-----\n"

#define TEST_PUB                                                                                   \
	"-----BEGIN PUBLIC KEY-----\n"                                                             \
	"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDbiJFTNcQK+h1lQTbmJI0nM3PW\n"                       \
	"aB3nkmgG3nJ0vBJl0svjw0s+Svx+qI19XVzfe9Ejw3fFF18MjDX0nk73rCHbB5jD\n"                       \
	"6eXDPN36JUiipCs5lzxhdUm/rsqKrO1VFHXPD1ai1ujZPBSJgSRH76WtsI89B9/j\n"                       \
	"aMwI0HpX5Q89Vtc0ZQIDAQAB\n"                                                               \
	"-----END PUBLIC KEY-----\n"

#define EC_KEY                                                                                     \
	"-----BEGIN PRIVATE KEY-----\n"                                                            \
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7LSuKhArJ/Ns9Te9\n"                       \
	"oFesijR4ggfi5zigIh9xFHCeiXChRANCAAQYOvjSAXQEarUFxBokckdHgUovBDRk\n"                       \
	"dbOWTCOJ+P43Rs1jzIL7VWVBJ7m1ZxPa6Z0Vsy5KPW2h5IYCcCyPqRLn\n"                               \
	"-----END PRIVATE KEY-----\n"

#define EMAIL	  "runner@proj-x.iam.gserviceaccount.com"
#define TOKEN_URI "https://oauth2.googleapis.com/token"
#define NOW	  1764000000

/* base64url (no padding) -> bytes, through mbedTLS's standard decoder. */
static size_t b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	char tmp[2048];
	size_t i, len = 0;

	assert_true(n + 4 < sizeof(tmp));
	for (i = 0; i < n; i++)
		tmp[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (i % 4)
		tmp[i++] = '=';
	assert_int_equal(mbedtls_base64_decode(out, cap, &len, (const unsigned char *)tmp, i), 0);
	return len;
}

static cJSON *json_part(const char *s, size_t n)
{
	unsigned char raw[1024];
	size_t len = b64url_decode(s, n, raw, sizeof(raw) - 1);
	cJSON *j;

	raw[len] = '\0';
	j = cJSON_Parse((const char *)raw);
	assert_non_null(j);
	return j;
}

/* 0 when sig (base64url) is the RS256 signature of signed_part by TEST_PUB. */
static int verify(const char *signed_part, size_t n, const char *sig_b64, size_t sig_n)
{
	mbedtls_pk_context pk;
	unsigned char sig[512], hash[32];
	size_t sig_len = b64url_decode(sig_b64, sig_n, sig, sizeof(sig));
	int rc;

	mbedtls_pk_init(&pk);
	assert_int_equal(
		mbedtls_pk_parse_public_key(&pk, (const unsigned char *)TEST_PUB, sizeof(TEST_PUB)),
		0);
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256((const unsigned char *)signed_part, n, hash, 0);
#else
	mbedtls_sha256_ret((const unsigned char *)signed_part, n, hash, 0);
#endif
	rc = mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, hash, 32, sig, sig_len);
	mbedtls_pk_free(&pk);
	return rc;
}

static void jwt_has_googles_header_and_claims(void **state)
{
	char err[256] = "";
	char *jwt = gauth_jwt(EMAIL, GAUTH_SCOPE, TOKEN_URI, NOW, TEST_KEY, err, sizeof(err));
	const char *d1, *d2;
	cJSON *h, *c;

	assert_non_null(jwt);
	assert_string_equal(err, "");
	d1 = strchr(jwt, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	assert_non_null(d2);
	assert_null(strchr(d2 + 1, '.'));
	assert_null(strpbrk(jwt, "+/= \n"));
	h = json_part(jwt, (size_t)(d1 - jwt));
	assert_string_equal(cJSON_GetObjectItem(h, "alg")->valuestring, "RS256");
	assert_string_equal(cJSON_GetObjectItem(h, "typ")->valuestring, "JWT");
	c = json_part(d1 + 1, (size_t)(d2 - d1 - 1));
	assert_string_equal(cJSON_GetObjectItem(c, "iss")->valuestring, EMAIL);
	assert_string_equal(cJSON_GetObjectItem(c, "scope")->valuestring,
			    "https://www.googleapis.com/auth/cloud-platform");
	assert_string_equal(cJSON_GetObjectItem(c, "aud")->valuestring, TOKEN_URI);
	assert_true(cJSON_GetObjectItem(c, "iat")->valuedouble == NOW);
	assert_true(cJSON_GetObjectItem(c, "exp")->valuedouble == NOW + 3600);
	assert_null(cJSON_GetObjectItem(c, "sub"));
	cJSON_Delete(h);
	cJSON_Delete(c);
	free(jwt);
}

static void jwt_signature_verifies_with_the_public_key(void **state)
{
	char err[256] = "";
	char *jwt = gauth_jwt(EMAIL, GAUTH_SCOPE, TOKEN_URI, NOW, TEST_KEY, err, sizeof(err));
	char *again = gauth_jwt(EMAIL, GAUTH_SCOPE, TOKEN_URI, NOW, TEST_KEY, err, sizeof(err));
	const char *sig = strrchr(jwt, '.') + 1;

	assert_int_equal(verify(jwt, (size_t)(sig - 1 - jwt), sig, strlen(sig)), 0);
	/* PKCS#1 v1.5 is deterministic: blinding does not change the signature */
	assert_string_equal(jwt, again);
	free(jwt);
	free(again);
}

static void changed_claims_do_not_verify(void **state)
{
	char err[256] = "";
	char *jwt = gauth_jwt(EMAIL, GAUTH_SCOPE, TOKEN_URI, NOW, TEST_KEY, err, sizeof(err));
	char *other = gauth_jwt(EMAIL, GAUTH_SCOPE, TOKEN_URI, NOW + 1, TEST_KEY, err, sizeof(err));
	const char *sig = strrchr(jwt, '.') + 1, *other_sig = strrchr(other, '.') + 1;

	/* the signature of one claim set over the other's header.claims */
	assert_int_not_equal(verify(other, (size_t)(other_sig - 1 - other), sig, strlen(sig)), 0);
	assert_int_equal(
		verify(other, (size_t)(other_sig - 1 - other), other_sig, strlen(other_sig)), 0);
	free(jwt);
	free(other);
}

static void bad_keys_are_refused_with_a_reason(void **state)
{
	char err[256] = "";

	assert_null(gauth_jwt(EMAIL, GAUTH_SCOPE, TOKEN_URI, NOW,
			      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", err,
			      sizeof(err)));
	assert_non_null(strstr(err, "does not parse"));
	err[0] = '\0';
	assert_null(gauth_jwt(EMAIL, GAUTH_SCOPE, TOKEN_URI, NOW, EC_KEY, err, sizeof(err)));
	assert_non_null(strstr(err, "not an RSA key"));
}

static void form_is_the_jwt_bearer_grant(void **state)
{
	char *f = gauth_form("aa.bb.cc");

	assert_string_equal(f, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&"
			       "assertion=aa.bb.cc");
	free(f);
}

static void refresh_form_encodes_each_value(void **state)
{
	char *f = gauth_refresh_form("764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.x",
				     "d-FL95Q19q7MQmFpd7hHD0Ty", "1//0g&a=b c+d/e");

	assert_string_equal(f,
			    "grant_type=refresh_token&client_id=764086051850-"
			    "6qr4p6gpi6hn506pt8ejuq83di341hur.apps.x&client_secret=d-"
			    "FL95Q19q7MQmFpd7hHD0Ty&refresh_token=1%2F%2F0g%26a%3Db%20c%2Bd%2Fe");
	free(f);
}

static void token_answers_are_read(void **state)
{
	static const struct {
		long status;
		const char *body;
		int rc;
		const char *token;
		int64_t expires_in;
		const char *err_has;
	} cases[] = {
		{200,
		 "{\"access_token\":\"ya29.abc\",\"expires_in\":3599,\"token_type\":\"Bearer\"}", 0,
		 "ya29.abc", 3599, NULL},
		{200, "{\"access_token\":\"ya29.x\",\"expires_in\":60}", 0, "ya29.x", 60, NULL},
		{400,
		 "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}",
		 -1, NULL, 0, "400 invalid_grant: Invalid JWT Signature."},
		{401, "{\"error\":\"invalid_client\"}", -1, NULL, 0, "401 invalid_client"},
		{503, "<html>unavailable</html>", -1, NULL, 0, "answered 503"},
		{200, "{\"expires_in\":3599}", -1, NULL, 0, "no usable access_token"},
		{200, "{\"access_token\":\"a\\r\\nX: y\",\"expires_in\":3599}", -1, NULL, 0,
		 "no usable access_token"},
		{200, "{\"access_token\":\"t\",\"expires_in\":3599,\"token_type\":\"mac\"}", -1,
		 NULL, 0, "not a Bearer token"},
		{200, "{\"access_token\":\"t\"}", -1, NULL, 0, "no usable expires_in"},
		{200, "{\"access_token\":\"t\",\"expires_in\":0}", -1, NULL, 0,
		 "no usable expires_in"},
		{200, "not json", -1, NULL, 0, "no usable access_token"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "", *token = (char *)"untouched";
		int64_t exp = -1;
		int rc = gauth_token_answer(cases[i].status, cases[i].body, strlen(cases[i].body),
					    &token, &exp, err, sizeof(err));

		if (cases[i].rc == 0) {
			assert_int_equal(rc, 0);
			assert_string_equal(token, cases[i].token);
			assert_int_equal(exp, cases[i].expires_in);
			free(token);
			continue;
		}
		assert_true(rc < 0);
		assert_null(token);
		if (!strstr(err, cases[i].err_has))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].err_has);
	}
}

static void tokens_are_refreshed_before_they_end(void **state)
{
	assert_int_equal(gauth_refresh_at_ms(1000, 3600), 1000 + 3540 * 1000);
	assert_int_equal(gauth_refresh_at_ms(0, 120), 60 * 1000);
	assert_int_equal(gauth_refresh_at_ms(0, 119), 60 * 1000);
	assert_int_equal(gauth_refresh_at_ms(0, 4), 2 * 1000);
	assert_int_equal(gauth_refresh_at_ms(0, 1), 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(jwt_has_googles_header_and_claims),
		cmocka_unit_test(jwt_signature_verifies_with_the_public_key),
		cmocka_unit_test(changed_claims_do_not_verify),
		cmocka_unit_test(bad_keys_are_refused_with_a_reason),
		cmocka_unit_test(form_is_the_jwt_bearer_grant),
		cmocka_unit_test(refresh_form_encodes_each_value),
		cmocka_unit_test(token_answers_are_read),
		cmocka_unit_test(tokens_are_refreshed_before_they_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
