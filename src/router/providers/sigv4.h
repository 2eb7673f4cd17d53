/* sigv4: AWS Signature Version 4 (AWS4-HMAC-SHA256) for one request, as a pure function of
 * its inputs (method, path, headers, body, time, credentials): the canonical request, the
 * string to sign, the signing key (an HMAC-SHA256 chain over date, region, service) and the
 * Authorization header value. Checked against AWS's published test suite (tests/test_sigv4.c).
 *
 * Not libcurl's CURLOPT_AWS_SIGV4: curl 7.88 (the dev build's) signs the path verbatim, so a
 * Bedrock model id sent as "...v1%3A0" is signed "%3A" where AWS expects "%253A" (403), and
 * the static builds' curl is configured with --disable-aws (the option silently sends Basic
 * auth). docs/providers/bedrock.md has the details.
 */
#ifndef HERMETIC_SIGV4_H
#define HERMETIC_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* One request to sign. Every member is borrowed. */
struct sigv4_request {
	const char *method;	    /* "POST" */
	const char *path;	    /* the absolute path as sent, already percent-encoded */
	const char *query;	    /* the canonical query string (sorted, encoded), or "" */
	const char *const *headers; /* "Name: value" lines to sign, NULL-terminated; must hold
				     * host and x-amz-date */
	const void *body;
	size_t body_len;
	const char *amz_date; /* "YYYYMMDDTHHMMSSZ", the x-amz-date header's value */
	const char *region;
	const char *service; /* "bedrock" for bedrock-runtime */
	const char *access_key_id;
	const char *secret_access_key;
};

/* Most headers one request may sign. */
#define SIGV4_MAX_HEADERS 32

/* s percent-encoded the way SigV4 canonicalizes: every byte but A-Z a-z 0-9 - _ . ~ (and '/'
 * when keep_slash) as %XX with upper-case hex. Applied to an already encoded path it gives
 * the canonical URI of every service but S3 ("%3A" -> "%253A"). Malloc'd. */
char *sigv4_uri_encode(const char *s, bool keep_slash);

/* The x-amz-date value of t: "YYYYMMDDTHHMMSSZ" (UTC). */
void sigv4_amz_date(time_t t, char out[17]);

/* The signing key: HMAC chain "AWS4"+secret -> date (YYYYMMDD) -> region -> service ->
 * "aws4_request". */
void sigv4_signing_key(const char *secret, const char *date8, const char *region,
		       const char *service, unsigned char out[32]);

/* Signs r. On 0, *authorization is the Authorization header's value (malloc'd); the canonical
 * request and string to sign are also given back when their pointers are not NULL. Returns
 * -EINVAL for a header line without a colon, a missing host or x-amz-date header or a bad
 * amz_date, -E2BIG past SIGV4_MAX_HEADERS; then nothing is allocated. */
int sigv4_sign(const struct sigv4_request *r, char **authorization, char **canonical_request,
	       char **string_to_sign);

#endif
