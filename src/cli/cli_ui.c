/* cli_ui: `hermetic ui hash-password` reads a password from stdin (one line, its newline
 * dropped; piped or typed, nothing is echoed back) and prints the PBKDF2 hash the cockpit's
 * ui.password_hash takes (gateway/uiauth.h). */
#include "cli/cli_ui.h"
#include "gateway/uiauth.h"

#include <string.h>

int cli_ui_hash_password(FILE *in, FILE *out)
{
	char line[UIAUTH_PASSWORD_MAX + 2], hash[UIAUTH_HASH_MAX];
	size_t n;
	int rc = 1;

	if (!fgets(line, sizeof(line), in))
		line[0] = '\0';
	n = strcspn(line, "\r\n");
	if (line[n] == '\0' && n > UIAUTH_PASSWORD_MAX) {
		fprintf(stderr, "hermetic: the password is longer than %d bytes\n",
			UIAUTH_PASSWORD_MAX);
		goto out;
	}
	line[n] = '\0';
	if (n == 0) {
		fprintf(stderr, "hermetic: no password on stdin (e.g. `hermetic ui hash-password "
				"<<< 'my long passphrase'`)\n");
		goto out;
	}
	if (uiauth_hash_password(line, UIAUTH_ITERATIONS, hash, sizeof(hash)) < 0) {
		fprintf(stderr, "hermetic: could not hash the password (no randomness?)\n");
		goto out;
	}
	fprintf(out, "%s\n", hash);
	rc = 0;
out:
	explicit_bzero(line, sizeof(line));
	return rc;
}
