/* pwhash: the encoded form of the cockpit's password hash,
 *   pbkdf2-sha256$<iterations>$<salt, base64>$<32-byte key, base64>
 * (standard padded base64), parsed into plain values. It sits in core, not beside the PBKDF2
 * in cockpit/uiauth.c, so that `hermetic config check` (core/config_check.c) refuses exactly
 * what the gateway refuses; no hashing here. */
#ifndef HERMETIC_PWHASH_H
#define HERMETIC_PWHASH_H

#include <stddef.h>

#define PWHASH_PREFIX	      "pbkdf2-sha256$"
#define PWHASH_ITERATIONS_MIN 10000
#define PWHASH_ITERATIONS_MAX 5000000 /* bounds the work one login attempt can cost */
#define PWHASH_SALT_MIN	      8	      /* bytes */
#define PWHASH_SALT_MAX	      64
#define PWHASH_KEY_BYTES      32

struct pwhash {
	unsigned iterations;
	unsigned char salt[PWHASH_SALT_MAX];
	size_t salt_len;
	unsigned char key[PWHASH_KEY_BYTES];
};

/* Parses encoded (NULL allowed) into *out. 0, or -EINVAL with *why (a static phrase for an
 * error message, never quoting the value) set when why is not NULL. */
int pwhash_parse(const char *encoded, struct pwhash *out, const char **why);

#endif
