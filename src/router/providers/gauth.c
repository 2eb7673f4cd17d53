/* gauth: Google's service-account OAuth as pure functions (see gauth.h). The signature is
 * RSASSA-PKCS1-v1_5 over SHA-256 (JWS "RS256", RFC 7518 3.3) made by mbedTLS's pk layer; the
 * random source it asks for (RSA blinding) is getrandom(2), which does not change the
 * signature (PKCS#1 v1.5 is deterministic). Rejected: an OAuth client library (a dependency
 * for three small functions) and the access-token cache in here (it does I/O: gtoken.c).
 */
#include "router/providers/gauth.h"
#include "core/json.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* Appends data as base64url without padding (RFC 7515 2). */
static void put_b64url(struct buf *b, const void *data, size_t len)
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

static void put_json_b64url(struct buf *b, cJSON *obj)
{
	char *s = cJSON_PrintUnformatted(obj);

	put_b64url(b, s, strlen(s));
	free(s);
	cJSON_Delete(obj);
}

static int sign(const char *pem, const unsigned char hash[32], unsigned char *sig, size_t *sig_len,
		char *err, size_t err_len)
{
	mbedtls_pk_context pk;
	int rc;

	mbedtls_pk_init(&pk);
#if MBEDTLS_VERSION_MAJOR >= 3
	rc = mbedtls_pk_parse_key(&pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0,
				  random_fill, NULL);
#else
	rc = mbedtls_pk_parse_key(&pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0);
#endif
	if (rc != 0) {
		snprintf(err, err_len,
			 "the service account's private key does not parse "
			 "(mbedTLS -0x%04x)",
			 (unsigned)-rc);
		goto out;
	}
	if (!mbedtls_pk_can_do(&pk, MBEDTLS_PK_RSA)) {
		snprintf(err, err_len, "the service account's private key is not an RSA key");
		rc = -EINVAL;
		goto out;
	}
#if MBEDTLS_VERSION_MAJOR >= 3
	rc = mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, 32, sig, MBEDTLS_PK_SIGNATURE_MAX_SIZE,
			     sig_len, random_fill, NULL);
#else
	rc = mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, 32, sig, sig_len, random_fill, NULL);
#endif
	if (rc != 0)
		snprintf(err, err_len, "signing the assertion failed (mbedTLS -0x%04x)",
			 (unsigned)-rc);
out:
	mbedtls_pk_free(&pk);
	return rc == 0 ? 0 : -EINVAL;
}

char *gauth_jwt(const char *client_email, const char *scope, const char *aud, int64_t now_s,
		const char *pem_key, char *err, size_t err_len)
{
	cJSON *header = cJSON_CreateObject(), *claims = cJSON_CreateObject();
	unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t sig_len = 0;
	struct buf b;

	cJSON_AddStringToObject(header, "alg", "RS256");
	cJSON_AddStringToObject(header, "typ", "JWT");
	cJSON_AddStringToObject(claims, "iss", client_email);
	cJSON_AddStringToObject(claims, "scope", scope);
	cJSON_AddStringToObject(claims, "aud", aud);
	cJSON_AddNumberToObject(claims, "iat", (double)now_s);
	cJSON_AddNumberToObject(claims, "exp", (double)(now_s + GAUTH_JWT_LIFETIME_S));
	buf_init(&b, 0);
	put_json_b64url(&b, header);
	buf_puts(&b, ".");
	put_json_b64url(&b, claims);
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256((const unsigned char *)b.data, b.len, hash, 0);
#else
	mbedtls_sha256_ret((const unsigned char *)b.data, b.len, hash, 0);
#endif
	if (sign(pem_key, hash, sig, &sig_len, err, err_len) < 0) {
		buf_finish(&b);
		return NULL;
	}
	buf_puts(&b, ".");
	put_b64url(&b, sig, sig_len);
	return buf_steal(&b);
}

char *gauth_form(const char *jwt)
{
	/* a JWT is base64url and dots: nothing in it needs percent-encoding */
	return xasprintf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer"
			 "&assertion=%s",
			 jwt);
}

/* Appends s percent-encoded for a form value (RFC 3986 unreserved characters kept). */
static void put_form_value(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char e[4] = {'%', hex[ch >> 4], hex[ch & 15], '\0'};

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch))
			buf_append(b, s, 1);
		else
			buf_puts(b, e);
	}
}

char *gauth_refresh_form(const char *client_id, const char *client_secret,
			 const char *refresh_token)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "grant_type=refresh_token&client_id=");
	put_form_value(&b, client_id);
	buf_puts(&b, "&client_secret=");
	put_form_value(&b, client_secret);
	buf_puts(&b, "&refresh_token=");
	put_form_value(&b, refresh_token);
	return buf_steal(&b);
}

static const char *str_of(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int gauth_token_answer(long status, const char *body, size_t len, char **token,
		       int64_t *expires_in_s, char *err, size_t err_len)
{
	cJSON *root = json_parse(body, len, 0, NULL);
	const char *tok = str_of(root, "access_token"), *type = str_of(root, "token_type");
	const char *error = str_of(root, "error"), *desc = str_of(root, "error_description");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
	int rc = -EPROTO;

	*token = NULL;
	*expires_in_s = 0;
	if (status != 200 && error)
		snprintf(err, err_len,
			 "the token endpoint refused the credentials (%ld %.64s%s%.200s)", status,
			 error, desc ? ": " : "", desc ? desc : "");
	else if (status != 200)
		snprintf(err, err_len, "the token endpoint answered %ld", status);
	else if (!tok || !*tok || strpbrk(tok, "\r\n") || strlen(tok) > 4096)
		snprintf(err, err_len, "the token endpoint's answer has no usable access_token");
	else if (type && strcasecmp(type, "Bearer") != 0)
		snprintf(err, err_len, "the token endpoint gave a %.32s token, not a Bearer token",
			 type);
	else if (!cJSON_IsNumber(exp) || exp->valuedouble < 1 || exp->valuedouble > 86400 * 7)
		snprintf(err, err_len, "the token endpoint's answer has no usable expires_in");
	else {
		*token = xstrdup(tok);
		*expires_in_s = (int64_t)exp->valuedouble;
		rc = 0;
	}
	cJSON_Delete(root);
	return rc;
}

int64_t gauth_refresh_at_ms(int64_t now_ms, int64_t expires_in_s)
{
	int64_t margin_s = expires_in_s >= 120 ? 60 : expires_in_s / 2;

	return now_ms + (expires_in_s - margin_s) * 1000;
}
