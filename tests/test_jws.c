/* jws: an ES256 signature is the 64 bytes r || s over header.claims and verifies with the key;
 * an RSA key signs RS256; what a caller does not allow is refused with a reason. */
#include "test.h"
#include "core/jws.h"
#include "core/util.h"

#include <mbedtls/ecdsa.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdlib.h>
#include <string.h>

#define EC_KEY                                                                                     \
	"-----BEGIN PRIVATE KEY-----\n"                                                            \
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7LSuKhArJ/Ns9Te9\n"                       \
	"oFesijR4ggfi5zigIh9xFHCeiXChRANCAAQYOvjSAXQEarUFxBokckdHgUovBDRk\n"                       \
	"dbOWTCOJ+P43Rs1jzIL7VWVBJ7m1ZxPa6Z0Vsy5KPW2h5IYCcCyPqRLn\n"                               \
	"-----END PRIVATE KEY-----"

static size_t b64url_decode(const char *s, size_t len, unsigned char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned v = 0, bits = 0;
	size_t n = 0, i;

	for (i = 0; i < len; i++) {
		v = v << 6 | (unsigned)(strchr(a, s[i]) - a);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(v >> bits);
		}
	}
	return n;
}

static void es256_signatures_are_r_and_s_and_verify(void **state)
{
	char err[200] = "";
	char *jwt = jws_sign("JWT", "{\"iss\":\"c\"}", EC_KEY, JWS_RS256 | JWS_ES256, "k", err,
			     sizeof(err));
	const char *dot2;
	unsigned char sig[128], hash[32];
	mbedtls_pk_context pk;
	mbedtls_mpi r, s;
	mbedtls_ecp_keypair *ec;

	(void)state;
	assert_non_null(jwt);
	assert_true(strncmp(jwt, "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.", 37) == 0);
	dot2 = strrchr(jwt, '.');
	assert_int_equal(strlen(dot2 + 1), 86);
	assert_int_equal(b64url_decode(dot2 + 1, 86, sig), 64);
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256((const unsigned char *)jwt, (size_t)(dot2 - jwt), hash, 0);
#else
	mbedtls_sha256_ret((const unsigned char *)jwt, (size_t)(dot2 - jwt), hash, 0);
#endif
	mbedtls_pk_init(&pk);
	assert_int_equal(
		mbedtls_pk_parse_key(&pk, (const unsigned char *)EC_KEY, sizeof(EC_KEY), NULL, 0),
		0);
	ec = mbedtls_pk_ec(pk);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	mbedtls_mpi_read_binary(&r, sig, 32);
	mbedtls_mpi_read_binary(&s, sig + 32, 32);
	assert_int_equal(mbedtls_ecdsa_verify(&ec->grp, hash, 32, &ec->Q, &r, &s), 0);
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	mbedtls_pk_free(&pk);
	free(jwt);
}

static void a_key_the_caller_does_not_allow_is_refused(void **state)
{
	char err[200] = "";

	(void)state;
	assert_null(jws_sign("JWT", "{}", EC_KEY, JWS_RS256, "the key", err, sizeof(err)));
	assert_string_equal(err, "the key is not an RSA key");
	assert_null(jws_sign("JWT", "{}",
			     "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE "
			     "KEY-----\n",
			     JWS_RS256 | JWS_ES256, "the key", err, sizeof(err)));
	assert_non_null(strstr(err, "the key does not parse"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(es256_signatures_are_r_and_s_and_verify),
		cmocka_unit_test(a_key_the_caller_does_not_allow_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
