/* oauth_dpop: DPoP (RFC 9449) for MCP servers with `oauth: dpop: true`: the proof JWT each
 * token request and each request to the server carries (typ dpop+jwt, the public key as the
 * jwk header, htm, htu without query or fragment, iat, jti, ath on resource requests, the
 * server's nonce when it gave one), the nonces servers hand out (the latest per origin), and
 * the checks around them. The key is the server's own P-256 key (ES256), made once by
 * jws_ec_key_create and kept in state.db with its tokens (oauth_store); it is a secret and
 * never logged. tests/test_oauth_dpop.c verifies proofs with the jwk they carry.
 */
#ifndef HERMETIC_OAUTH_DPOP_H
#define HERMETIC_OAUTH_DPOP_H

#include <stdbool.h>
#include <stddef.h>

/* Longest nonce kept (RFC 9449 8.1 sets no limit; ours is generous). */
#define OAUTH_DPOP_NONCE_MAX 512
/* Origins whose nonce is remembered at once; the oldest is forgotten first. */
#define OAUTH_DPOP_NONCE_ORIGINS 32

/* The htu of url: url without its query and fragment, malloc'd. */
char *oauth_dpop_htu(const char *url);

/* A proof for a request of method to url, signed with key_pem (a P-256 PEM key); ath (the
 * base64url SHA-256 of access_token) when access_token is set, nonce when set. Returns the
 * JWT (malloc'd), or NULL with why in err (the key never appears in it). */
char *oauth_dpop_proof(const char *key_pem, const char *method, const char *url,
		       const char *access_token, const char *nonce, char *err, size_t err_len);

/* The header line "DPoP: <proof>" for a request, with the nonce remembered for url's origin;
 * malloc'd, or NULL with why in err. */
char *oauth_dpop_header(const char *key_pem, const char *method, const char *url,
			const char *access_token, char *err, size_t err_len);

/* Remembers nonce (a DPoP-Nonce header's value) as the latest of url's origin. A value that
 * is not a nonce (RFC 9449 8.1: 1*NQCHAR, at most OAUTH_DPOP_NONCE_MAX) is ignored; returns
 * whether it was kept. The memory is the process's, used from the loop's thread only. */
bool oauth_dpop_nonce_set(const char *url, const char *nonce);
/* The latest nonce of url's origin (borrowed until the next set), or NULL. */
const char *oauth_dpop_nonce(const char *url);
/* Forgets every nonce (tests). */
void oauth_dpop_nonce_reset(void);

/* Whether a WWW-Authenticate value is a DPoP challenge with error="use_dpop_nonce" (RFC 9449
 * 9), which the request is retried after with the DPoP-Nonce given. */
bool oauth_dpop_nonce_asked(const char *www_authenticate);

/* Whether a token endpoint's error answer (JSON) is use_dpop_nonce (RFC 9449 8). */
bool oauth_dpop_nonce_error(const char *json, size_t len);

/* Whether an authorization server whose dpop_signing_alg_values_supported is algs (joined
 * with ' '; NULL when the metadata does not say) takes our ES256 proofs. */
bool oauth_dpop_alg_ok(const char *algs);

#endif
