/* jws: compact JWS with mbedTLS's pk layer (see jws.h). Moved down from router/providers/
 * gauth.c when MCP's OAuth needed the same signature (private_key_jwt) and ES256 besides: the
 * router and the MCP client both sit above core/. The random source mbedTLS asks for (RSA
 * blinding, ECDSA's k) is getrandom(2); PKCS#1 v1.5 signatures stay deterministic.
 */
#include "core/jws.h"
#include "core/util.h"

#include <errno.h>
#include <mbedtls/asn1.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jws_b64url(struct buf *b, const void *data, size_t len)
{
	size_t start = b->len, i;

	buf_base64(b, data, len);
	while (b->len > start && b->data[b->len - 1] == '=')
		b->len--;
	b->data[b->len] = '\0';
	for (i = start; i < b->len; i++) {
		if (b->data[i] == '+')
			b->data[i] = '-';
		else if (b->data[i] == '/')
			b->data[i] = '_';
	}
}

/* An ECDSA signature as DER SEQUENCE { r INTEGER, s INTEGER } -> r || s, 32 bytes each. */
static int der_to_raw(const unsigned char *der, size_t len, unsigned char out[64])
{
	unsigned char *p = (unsigned char *)der, *end = p + len;
	mbedtls_mpi r, s;
	size_t seq;
	int rc;

	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	rc = mbedtls_asn1_get_tag(&p, end, &seq, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
	if (rc == 0)
		rc = mbedtls_asn1_get_mpi(&p, end, &r);
	if (rc == 0)
		rc = mbedtls_asn1_get_mpi(&p, end, &s);
	if (rc == 0)
		rc = mbedtls_mpi_write_binary(&r, out, 32);
	if (rc == 0)
		rc = mbedtls_mpi_write_binary(&s, out + 32, 32);
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return rc == 0 ? 0 : -EINVAL;
}

int jws_parse_key(struct mbedtls_pk_context *pk, const char *pem)
{
#if MBEDTLS_VERSION_MAJOR >= 3
	return mbedtls_pk_parse_key(pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0,
				    random_fill, NULL);
#else
	return mbedtls_pk_parse_key(pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0);
#endif
}

/* Initialises pk and reads pem into it: 0, or -1 with why in err (never the key). pk is to be
 * freed either way. */
static int load_key(mbedtls_pk_context *pk, const char *pem, const char *key_name, char *err,
		    size_t err_len)
{
	int rc;

	mbedtls_pk_init(pk);
	rc = jws_parse_key(pk, pem);
	if (rc == 0)
		return 0;
	snprintf(err, err_len, "%s does not parse (mbedTLS -0x%04x)", key_name, (unsigned)-rc);
	return -1;
}

static int sign_hash(mbedtls_pk_context *pk, const unsigned char hash[32], unsigned char *sig,
		     size_t *sig_len)
{
#if MBEDTLS_VERSION_MAJOR >= 3
	return mbedtls_pk_sign(pk, MBEDTLS_MD_SHA256, hash, 32, sig, MBEDTLS_PK_SIGNATURE_MAX_SIZE,
			       sig_len, random_fill, NULL);
#else
	return mbedtls_pk_sign(pk, MBEDTLS_MD_SHA256, hash, 32, sig, sig_len, random_fill, NULL);
#endif
}

char *jws_sign(const char *typ, const char *claims_json, const char *pem_key, unsigned algs,
	       const char *key_name, char *err, size_t err_len)
{
	return jws_sign_hdr(typ, NULL, claims_json, pem_key, algs, key_name, err, err_len);
}

char *jws_sign_hdr(const char *typ, const char *header_extra, const char *claims_json,
		   const char *pem_key, unsigned algs, const char *key_name, char *err,
		   size_t err_len)
{
	unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE], raw[64];
	mbedtls_pk_context pk;
	const char *alg = NULL;
	size_t sig_len = 0;
	char *header = NULL, *out = NULL;
	struct buf b;
	int rc;

	buf_init(&b, 0);
	if (load_key(&pk, pem_key, key_name, err, err_len) < 0)
		goto out;
	if (mbedtls_pk_can_do(&pk, MBEDTLS_PK_RSA) && (algs & JWS_RS256))
		alg = "RS256";
	else if (mbedtls_pk_can_do(&pk, MBEDTLS_PK_ECDSA) && mbedtls_pk_get_bitlen(&pk) == 256 &&
		 (algs & JWS_ES256))
		alg = "ES256";
	if (!alg) {
		snprintf(err, err_len, "%s is %s", key_name,
			 algs & JWS_ES256 ? "neither an RSA key nor a P-256 EC key"
					  : "not an RSA key");
		goto out;
	}
	header = xasprintf("{\"alg\":\"%s\",\"typ\":\"%s\"%s%s}", alg, typ, header_extra ? "," : "",
			   header_extra ? header_extra : "");
	jws_b64url(&b, header, strlen(header));
	buf_puts(&b, ".");
	jws_b64url(&b, claims_json, strlen(claims_json));
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256((const unsigned char *)b.data, b.len, hash, 0);
#else
	mbedtls_sha256_ret((const unsigned char *)b.data, b.len, hash, 0);
#endif
	rc = sign_hash(&pk, hash, sig, &sig_len);
	if (rc == 0 && alg[0] == 'E')
		rc = der_to_raw(sig, sig_len, raw);
	if (rc != 0) {
		snprintf(err, err_len, "signing with %s failed (mbedTLS -0x%04x)", key_name,
			 (unsigned)-rc);
		goto out;
	}
	buf_puts(&b, ".");
	if (alg[0] == 'E')
		jws_b64url(&b, raw, sizeof(raw));
	else
		jws_b64url(&b, sig, sig_len);
	out = buf_steal(&b);
out:
	buf_finish(&b);
	free(header);
	mbedtls_pk_free(&pk);
	return out;
}

/* The key as SEC 1 PEM, written here rather than by mbedtls_pk_write_key_pem: the static
 * builds' mbedTLS leaves PEM writing out (MBEDTLS_PEM_WRITE_C), and parsing reads this back. */
static char *ec_key_pem(mbedtls_pk_context *pk, int *rc)
{
	unsigned char der[256];
	struct buf b64, pem;
	char *out = NULL;
	int n = mbedtls_pk_write_key_der(pk, der, sizeof(der));

	if (n < 0) {
		*rc = n;
		return NULL;
	}
	buf_init(&b64, 0);
	buf_init(&pem, 0);
	/* mbedtls_pk_write_key_der writes at the end of der */
	buf_base64(&b64, der + sizeof(der) - (size_t)n, (size_t)n);
	buf_puts(&pem, "-----BEGIN EC PRIVATE KEY-----\n");
	for (size_t i = 0; i < b64.len; i += 64) {
		buf_append(&pem, b64.data + i, b64.len - i < 64 ? b64.len - i : 64);
		buf_puts(&pem, "\n");
	}
	buf_puts(&pem, "-----END EC PRIVATE KEY-----\n");
	out = xstrndup(pem.data, pem.len);
	mbedtls_platform_zeroize(der, sizeof(der));
	mbedtls_platform_zeroize(b64.data, b64.len);
	mbedtls_platform_zeroize(pem.data, pem.len);
	buf_finish(&b64);
	buf_finish(&pem);
	*rc = 0;
	return out;
}

char *jws_ec_key_create(char *err, size_t err_len)
{
	mbedtls_pk_context pk;
	char *out = NULL;
	int rc;

	mbedtls_pk_init(&pk);
	rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (rc == 0)
		rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), random_fill,
					 NULL);
	if (rc == 0)
		out = ec_key_pem(&pk, &rc);
	if (!out)
		snprintf(err, err_len, "could not make a P-256 key (mbedTLS -0x%04x)",
			 (unsigned)-rc);
	mbedtls_pk_free(&pk);
	return out;
}

/* The public point of a P-256 key, portable across mbedTLS 2 and 3 (whose keypair fields are
 * private): the last 65 bytes of its SubjectPublicKeyInfo are 0x04 || x || y. */
char *jws_ec_public_jwk(const char *pem_key, const char *key_name, char *err, size_t err_len)
{
	unsigned char der[200];
	const unsigned char *pt;
	mbedtls_pk_context pk;
	char *out = NULL;
	struct buf b;
	int rc;

	buf_init(&b, 0);
	if (load_key(&pk, pem_key, key_name, err, err_len) < 0)
		goto out;
	if (!mbedtls_pk_can_do(&pk, MBEDTLS_PK_ECKEY) || mbedtls_pk_get_bitlen(&pk) != 256) {
		snprintf(err, err_len, "%s is not a P-256 EC key", key_name);
		goto out;
	}
	rc = mbedtls_pk_write_pubkey_der(&pk, der, sizeof(der));
	pt = rc >= 65 ? der + sizeof(der) - 65 : NULL;
	if (!pt || pt[0] != 0x04) {
		snprintf(err, err_len, "%s has no usable public point", key_name);
		goto out;
	}
	buf_puts(&b, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"");
	jws_b64url(&b, pt + 1, 32);
	buf_puts(&b, "\",\"y\":\"");
	jws_b64url(&b, pt + 33, 32);
	buf_puts(&b, "\"}");
	out = buf_steal(&b);
out:
	buf_finish(&b);
	mbedtls_pk_free(&pk);
	return out;
}
