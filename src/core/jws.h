/* jws: compact JWS signatures (RFC 7515) with mbedTLS, for the JWTs hermetic presents: Google
 * service-account assertions (router/providers/gauth.c) and OAuth client assertions
 * (private_key_jwt, RFC 7523; mcp/oauth.c). The key decides the algorithm: an RSA key signs
 * RS256 (RSASSA-PKCS1-v1_5 over SHA-256), a P-256 EC key ES256 (ECDSA, the signature as the
 * 64 bytes r || s of RFC 7518 3.4).
 */
#ifndef HERMETIC_JWS_H
#define HERMETIC_JWS_H

#include <stddef.h>

enum { JWS_RS256 = 1, JWS_ES256 = 2 };

/* Signs {"alg":ALG,"typ":typ}.claims_json (claims_json a compact JSON object text) with
 * pem_key (PKCS#8, PKCS#1 or SEC1 PEM), the algorithm its type gives if algs (an OR of the
 * JWS_ values) allows it. Returns the JWT (malloc'd), or NULL with a reason in
 * err naming key_name ("the service account's private key"): a key that does not parse, of
 * another type or curve, a failed signature. The key never appears in err. */
char *jws_sign(const char *typ, const char *claims_json, const char *pem_key, unsigned algs,
	       const char *key_name, char *err, size_t err_len);
/* jws_sign with more header members: header_extra is a compact JSON member list (`"jwk":{...}`)
 * appended to the protected header, or NULL. */
char *jws_sign_hdr(const char *typ, const char *header_extra, const char *claims_json,
		   const char *pem_key, unsigned algs, const char *key_name, char *err,
		   size_t err_len);

/* A new P-256 key (ES256) as SEC1 PEM, malloc'd; NULL with why in err. */
char *jws_ec_key_create(char *err, size_t err_len);
/* The public JWK (RFC 7517) of a P-256 PEM key, as compact JSON with its members in the order
 * of RFC 7638's thumbprint ({"crv":"P-256","kty":"EC","x":...,"y":...}), malloc'd; NULL with
 * why in err naming key_name. Never carries the private part. */
char *jws_ec_public_jwk(const char *pem_key, const char *key_name, char *err, size_t err_len);

/* Appends data as base64url without padding (RFC 7515 2). */
struct buf;
void jws_b64url(struct buf *b, const void *data, size_t len);

/* Parses pem (a PEM private key, NUL-terminated) into pk (mbedtls_pk_init'ed by the caller,
 * who frees it): 0 or mbedTLS's negative error. mbedTLS 3 gets getrandom(2) for its blinding. */
struct mbedtls_pk_context;
int jws_parse_key(struct mbedtls_pk_context *pk, const char *pem);

#endif
