/* pwhash: parsing the cockpit's password hash (see pwhash.h). The base64 is mbedTLS's
 * decoder (MBEDTLS_BASE64_C is in the trimmed static build, cross/build-deps.sh), behind a
 * strict check of the alphabet and the padding first: mbedTLS also takes spaces and line
 * breaks, which a one-line config value should not have. */
#include "core/pwhash.h"
#include "core/util.h"

#include <errno.h>
#include <mbedtls/base64.h>
#include <stdbool.h>
#include <string.h>

/* Standard padded base64: a multiple of 4 of [A-Za-z0-9+/], then at most two '='. */
static bool b64_form(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || len % 4 != 0)
		return false;
	while (i < len && s[i] != '=') {
		char c = s[i++];

		if (!(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') &&
		    c != '+' && c != '/')
			return false;
	}
	if (len - i > 2)
		return false;
	for (; i < len; i++)
		if (s[i] != '=')
			return false;
	return true;
}

/* The bytes of s[0..len) into out (cap bytes), or -1. */
static long b64_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
	size_t n = 0;

	if (!b64_form(s, len) ||
	    mbedtls_base64_decode(out, cap, &n, (const unsigned char *)s, len) != 0)
		return -1;
	return (long)n;
}

static int fail(const char **why, const char *what)
{
	if (why)
		*why = what;
	return -EINVAL;
}

int pwhash_parse(const char *encoded, struct pwhash *out, const char **why)
{
	const char *it, *salt, *key;
	unsigned char k[PWHASH_KEY_BYTES + 3];
	char num[16];
	int64_t n;
	long len;

	if (!encoded || strncmp(encoded, PWHASH_PREFIX, strlen(PWHASH_PREFIX)) != 0)
		return fail(why, "it does not start with " PWHASH_PREFIX);
	it = encoded + strlen(PWHASH_PREFIX);
	salt = strchr(it, '$');
	key = salt ? strchr(salt + 1, '$') : NULL;
	if (!key)
		return fail(why, "it does not have four fields separated by $");
	if ((size_t)(salt - it) >= sizeof(num))
		return fail(why, "the iterations are not a number from 10000 to 5000000");
	memcpy(num, it, (size_t)(salt - it));
	num[salt - it] = '\0';
	if (parse_i64(num, PWHASH_ITERATIONS_MIN, PWHASH_ITERATIONS_MAX, &n) < 0)
		return fail(why, "the iterations are not a number from 10000 to 5000000");
	salt++;
	len = b64_decode(salt, (size_t)(key - salt), out->salt, sizeof(out->salt));
	if (len < PWHASH_SALT_MIN)
		return fail(why, "the salt is not padded base64 of 8 to 64 bytes");
	out->salt_len = (size_t)len;
	key++;
	if (b64_decode(key, strlen(key), k, sizeof(k)) != PWHASH_KEY_BYTES)
		return fail(why, "the key is not padded base64 of 32 bytes");
	memcpy(out->key, k, sizeof(out->key));
	out->iterations = (unsigned)n;
	return 0;
}
