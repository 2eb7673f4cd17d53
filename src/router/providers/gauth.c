/* gauth: Google's service-account OAuth as pure functions (see gauth.h). The signature is
 * RSASSA-PKCS1-v1_5 over SHA-256 (JWS "RS256", RFC 7518 3.3) made by core/jws.c. Rejected: an OAuth
 * client library (a dependency for three small functions) and the access-token cache in here (it
 * does I/O: gtoken.c).
 */
#include "router/providers/gauth.h"
#include "core/json.h"
#include "core/jws.h"
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

char *gauth_jwt(const char *client_email, const char *scope, const char *aud, int64_t now_s,
		const char *pem_key, char *err, size_t err_len)
{
	cJSON *claims = cJSON_CreateObject();
	char *text, *jwt;

	cJSON_AddStringToObject(claims, "iss", client_email);
	cJSON_AddStringToObject(claims, "scope", scope);
	cJSON_AddStringToObject(claims, "aud", aud);
	cJSON_AddNumberToObject(claims, "iat", (double)now_s);
	cJSON_AddNumberToObject(claims, "exp", (double)(now_s + GAUTH_JWT_LIFETIME_S));
	text = cJSON_PrintUnformatted(claims);
	cJSON_Delete(claims);
	jwt = jws_sign("JWT", text, pem_key, JWS_RS256, "the service account's private key", err,
		       err_len);
	free(text);
	return jwt;
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
