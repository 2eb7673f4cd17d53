/* gauth: Google's OAuth 2.0 for service accounts (developers.google.com/identity/protocols/
 * oauth2/service-account) as pure functions: the signed JWT a service account presents
 * (RS256: base64url(header).base64url(claims).base64url(RSASSA-PKCS1-v1_5 SHA-256 signature)
 * with mbedTLS), the form that exchanges it at the account's token_uri (or an authorized
 * user's refresh token), and what the token endpoint (or the metadata server) answers: an
 * access token and its lifetime, or Google's OAuth error. The cache and
 * the asynchronous exchange live in router/gtoken.c.
 */
#ifndef HERMETIC_GAUTH_H
#define HERMETIC_GAUTH_H

#include <stddef.h>
#include <stdint.h>

/* The scope Vertex AI needs. */
#define GAUTH_SCOPE "https://www.googleapis.com/auth/cloud-platform"
/* Google accepts assertions valid for at most an hour. */
#define GAUTH_JWT_LIFETIME_S 3600

/* The assertion of the account client_email (iss) for scope, to aud (the token_uri), issued at
 * now_s (iat) and expiring GAUTH_JWT_LIFETIME_S later (exp), signed with pem_key (a PEM RSA
 * private key, PKCS#8 or PKCS#1). Returns the JWT (malloc'd), or NULL with a reason in err
 * (a key mbedTLS cannot parse, not RSA, a failed signature). */
char *gauth_jwt(const char *client_email, const char *scope, const char *aud, int64_t now_s,
		const char *pem_key, char *err, size_t err_len);

/* The token request's body (application/x-www-form-urlencoded), malloc'd:
 * grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>. */
char *gauth_form(const char *jwt);

/* The refresh-token grant of an authorized_user (gcloud's application-default login), each
 * value percent-encoded: grant_type=refresh_token&client_id=..&client_secret=..&
 * refresh_token=.. (malloc'd). */
char *gauth_refresh_form(const char *client_id, const char *client_secret,
			 const char *refresh_token);

/* Reads a token endpoint's answer with HTTP status. On 200 with {"access_token", "expires_in",
 * "token_type":"Bearer"}: returns 0, *token (malloc'd) and *expires_in_s (> 0). Else returns
 * < 0 and a message for the caller in err: Google's {"error","error_description"} when it
 * sent one, else the status. */
int gauth_token_answer(long status, const char *body, size_t len, char **token,
		       int64_t *expires_in_s, char *err, size_t err_len);

/* When a token that lives expires_in_s from now_ms should be replaced: a minute before it
 * ends, or halfway for a token that lives under two minutes. */
int64_t gauth_refresh_at_ms(int64_t now_ms, int64_t expires_in_s);

#endif
