/* sigv4: AWS Signature Version 4, following AWS's "Create a signed AWS API request" steps:
 * canonical request (method, canonical URI, query, sorted lower-case headers with trimmed
 * values, signed header list, hex SHA-256 of the payload), string to sign (algorithm, date,
 * scope, hash of the canonical request), signing key (HMAC-SHA256 chain) and signature. The
 * path is not normalized (no dot segments are removed): callers build their own paths.
 * HMAC and SHA-256 come from mbedTLS's mbedcrypto, which the binary links for TLS anyway.
 */
#include "router/providers/sigv4.h"
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct header {
	char *name;  /* lower case */
	char *value; /* trimmed, inner runs of spaces and tabs collapsed to one space */
	size_t order;
};

static bool unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

char *sigv4_uri_encode(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i, o = 0;
	char *out = xmalloc(3 * n + 1);

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unreserved(c) || (keep_slash && c == '/')) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

void sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hmac(const unsigned char *key, size_t key_len, const char *msg, unsigned char out[32])
{
	mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_len,
			(const unsigned char *)msg, strlen(msg), out);
}

void sigv4_signing_key(const char *secret, const char *date8, const char *region,
		       const char *service, unsigned char out[32])
{
	char *k0 = xasprintf("AWS4%s", secret);
	unsigned char k[32];

	hmac((const unsigned char *)k0, strlen(k0), date8, k);
	hmac(k, sizeof(k), region, k);
	hmac(k, sizeof(k), service, k);
	hmac(k, sizeof(k), "aws4_request", out);
	memset(k, 0, sizeof(k));
	memset(k0, 0, strlen(k0));
	free(k0);
}

static char *trimmed(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		bool space = s[i] == ' ' || s[i] == '\t';

		if (space && (o == 0 || out[o - 1] == ' '))
			continue;
		out[o++] = space ? ' ' : s[i];
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return out;
}

static int by_name(const void *a, const void *b)
{
	const struct header *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* The request's headers, split, canonicalized and sorted by name (stable). */
static int read_headers(const char *const *lines, struct header *h, size_t *n_out)
{
	size_t n = 0, i;

	for (; lines && *lines; lines++) {
		const char *colon = strchr(*lines, ':');

		if (!colon || colon == *lines) {
			*n_out = n;
			return -EINVAL;
		}
		if (n == SIGV4_MAX_HEADERS) {
			*n_out = n;
			return -E2BIG;
		}
		h[n].name = trimmed(*lines, (size_t)(colon - *lines));
		for (i = 0; h[n].name[i]; i++)
			h[n].name[i] = (char)tolower((unsigned char)h[n].name[i]);
		h[n].value = trimmed(colon + 1, strlen(colon + 1));
		h[n].order = n;
		n++;
	}
	qsort(h, n, sizeof(*h), by_name);
	*n_out = n;
	return 0;
}

static bool has_header(const struct header *h, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(h[i].name, name) == 0)
			return true;
	return false;
}

/* "name:v1,v2\n" per distinct name into canon, "name;name2" into signed_names. */
static void canonical_headers(const struct header *h, size_t n, struct buf *canon,
			      struct buf *signed_names)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i && strcmp(h[i].name, h[i - 1].name) == 0) {
			buf_printf(canon, ",%s", h[i].value);
			continue;
		}
		if (i)
			buf_puts(canon, "\n");
		buf_printf(canon, "%s:%s", h[i].name, h[i].value);
		buf_printf(signed_names, "%s%s", signed_names->len ? ";" : "", h[i].name);
	}
	if (n)
		buf_puts(canon, "\n");
}

static bool valid_date(const char *d)
{
	size_t i;

	if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
		return false;
	for (i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)d[i]))
			return false;
	return true;
}

int sigv4_sign(const struct sigv4_request *r, char **authorization, char **canonical_request,
	       char **string_to_sign)
{
	struct header h[SIGV4_MAX_HEADERS];
	struct buf canon = {0}, names = {0}, creq = {0}, sts = {0};
	char payload[65], creq_hash[65], date8[9], *uri = NULL, sig_hex[65];
	unsigned char key[32], sig[32];
	size_t n = 0, i;
	int rc;

	rc = read_headers(r->headers, h, &n);
	if (rc == 0 && (!has_header(h, n, "host") || !has_header(h, n, "x-amz-date") ||
			!valid_date(r->amz_date)))
		rc = -EINVAL;
	if (rc < 0)
		goto out;
	canonical_headers(h, n, &canon, &names);
	sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, payload);
	uri = sigv4_uri_encode(r->path && *r->path ? r->path : "/", true);
	buf_printf(&creq, "%s\n%s\n%s\n%s\n%s\n%s", r->method, uri, r->query ? r->query : "",
		   buf_str(&canon), buf_str(&names), payload);
	sha256_hex(creq.data, creq.len, creq_hash);
	memcpy(date8, r->amz_date, 8);
	date8[8] = '\0';
	buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", r->amz_date, date8,
		   r->region, r->service, creq_hash);
	sigv4_signing_key(r->secret_access_key, date8, r->region, r->service, key);
	mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, sizeof(key),
			(const unsigned char *)sts.data, sts.len, sig);
	for (i = 0; i < sizeof(sig); i++)
		snprintf(sig_hex + 2 * i, 3, "%02x", sig[i]);
	*authorization =
		xasprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
			  "Signature=%s",
			  r->access_key_id, date8, r->region, r->service, buf_str(&names), sig_hex);
	if (canonical_request)
		*canonical_request = buf_steal(&creq);
	if (string_to_sign)
		*string_to_sign = buf_steal(&sts);
	memset(key, 0, sizeof(key));
out:
	for (i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(uri);
	buf_finish(&canon);
	buf_finish(&names);
	buf_finish(&creq);
	buf_finish(&sts);
	return rc;
}
