/* oauth_dpop: DPoP proofs and nonces (see oauth_dpop.h). A proof is jws_sign_hdr's ES256 with
 * the key's public JWK in the header; the claims are built here as compact JSON. Nonces live in
 * a small table of origins, the least recently set forgotten first: a server hands out a nonce
 * per origin (RFC 9449 8 and 9), and both the sign-in and the transports send it. Rejected:
 * keeping the nonce per MCP server only (the authorization server is another origin, and the
 * sign-in and the transport of one server are different owners).
 */
#include "mcp/oauth_dpop.h"
#include "core/json.h"
#include "core/jws.h"
#include "core/util.h"
#include "mcp/oauth_meta.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *oauth_dpop_htu(const char *url)
{
	return xstrndup(url, strcspn(url, "?#"));
}

char *oauth_dpop_proof(const char *key_pem, const char *method, const char *url,
		       const char *access_token, const char *nonce, char *err, size_t err_len)
{
	char *jwk, *jti, *htu, *hdr, *jwt = NULL;
	struct buf b;

	jwk = jws_ec_public_jwk(key_pem, "the DPoP key", err, err_len);
	if (!jwk)
		return NULL;
	jti = oauth_random_b64url(16);
	htu = oauth_dpop_htu(url);
	buf_init(&b, 0);
	buf_puts(&b, "{\"jti\":\"");
	buf_puts(&b, jti);
	buf_puts(&b, "\",\"htm\":");
	buf_json_str(&b, method, strlen(method));
	buf_puts(&b, ",\"htu\":");
	buf_json_str(&b, htu, strlen(htu));
	buf_printf(&b, ",\"iat\":%lld", (long long)(now_wall_ms() / 1000));
	if (access_token) {
		char *ath =
			oauth_pkce_challenge(access_token); /* base64url(SHA-256), RFC 9449 4.2 */

		buf_puts(&b, ",\"ath\":\"");
		buf_puts(&b, ath);
		buf_puts(&b, "\"");
		free(ath);
	}
	if (nonce) {
		buf_puts(&b, ",\"nonce\":");
		buf_json_str(&b, nonce, strlen(nonce));
	}
	buf_puts(&b, "}");
	hdr = xasprintf("\"jwk\":%s", jwk);
	jwt = jws_sign_hdr("dpop+jwt", hdr, buf_str(&b), key_pem, JWS_ES256, "the DPoP key", err,
			   err_len);
	free(hdr);
	buf_finish(&b);
	free(htu);
	free(jti);
	free(jwk);
	return jwt;
}

char *oauth_dpop_header(const char *key_pem, const char *method, const char *url,
			const char *access_token, char *err, size_t err_len)
{
	char *proof = oauth_dpop_proof(key_pem, method, url, access_token, oauth_dpop_nonce(url),
				       err, err_len);
	char *line;

	if (!proof)
		return NULL;
	line = xasprintf("DPoP: %s", proof);
	free(proof);
	return line;
}

/* nonces */

static struct {
	char *origin, *nonce;
	uint64_t used;
} nonces[OAUTH_DPOP_NONCE_ORIGINS];
static uint64_t clock_n;

/* RFC 9449 8.1: nonce = 1*NQCHAR; NQCHAR = %x21 / %x23-5B / %x5D-7E */
static bool nonce_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i >= OAUTH_DPOP_NONCE_MAX || ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\')
			return false;
	}
	return i > 0;
}

bool oauth_dpop_nonce_set(const char *url, const char *nonce)
{
	char *origin = url ? oauth_origin(url) : NULL;
	size_t i, slot = 0;

	if (!origin || !nonce || !nonce_valid(nonce)) {
		free(origin);
		return false;
	}
	for (i = 0; i < OAUTH_DPOP_NONCE_ORIGINS; i++) {
		if (nonces[i].origin && strcmp(nonces[i].origin, origin) == 0) {
			slot = i;
			break;
		}
		if (nonces[i].used < nonces[slot].used)
			slot = i;
	}
	free(nonces[slot].origin);
	free(nonces[slot].nonce);
	nonces[slot].origin = origin;
	nonces[slot].nonce = xstrdup(nonce);
	nonces[slot].used = ++clock_n;
	return true;
}

const char *oauth_dpop_nonce(const char *url)
{
	char *origin = url ? oauth_origin(url) : NULL;
	const char *out = NULL;
	size_t i;

	for (i = 0; origin && i < OAUTH_DPOP_NONCE_ORIGINS; i++)
		if (nonces[i].origin && strcmp(nonces[i].origin, origin) == 0)
			out = nonces[i].nonce;
	free(origin);
	return out;
}

void oauth_dpop_nonce_reset(void)
{
	size_t i;

	for (i = 0; i < OAUTH_DPOP_NONCE_ORIGINS; i++) {
		free(nonces[i].origin);
		free(nonces[i].nonce);
	}
	memset(nonces, 0, sizeof(nonces));
}

bool oauth_dpop_nonce_asked(const char *www_authenticate)
{
	struct oauth_challenge ch;
	bool asked;

	if (oauth_challenge_parse(www_authenticate, &ch) < 0)
		return false;
	asked = ch.dpop && ch.dpop_error && strcmp(ch.dpop_error, "use_dpop_nonce") == 0;
	oauth_challenge_finish(&ch);
	return asked;
}

bool oauth_dpop_nonce_error(const char *json, size_t len)
{
	cJSON *o = json_parse(json, len, 0, NULL);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
	bool yes = cJSON_IsString(e) && strcmp(e->valuestring, "use_dpop_nonce") == 0;

	cJSON_Delete(o);
	return yes;
}

bool oauth_dpop_alg_ok(const char *algs)
{
	return !algs || oauth_scope_has(algs, "ES256");
}
