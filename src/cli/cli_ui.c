/* cli_ui: `hermetic ui hash-password` reads a password from stdin (one line, its newline
 * dropped) and prints the PBKDF2 hash the cockpit's ui.password_hash takes (cockpit/uiauth.h).
 * Typed at a terminal, the terminal's echo is off while the line is read (as getpass does;
 * getpass itself is obsolete and reads /dev/tty, not stdin); piped, there is nothing to
 * echo. */
#include "cli/cli_ui.h"
#include "cockpit/uiauth.h"

#include <stdbool.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Turns the echo of in's terminal off; *saved gets what to restore. False when in is not a
 * terminal (nothing changed). */
static bool echo_off(FILE *in, struct termios *saved)
{
	struct termios quiet;
	int fd = fileno(in);

	if (fd < 0 || !isatty(fd) || tcgetattr(fd, saved) < 0)
		return false;
	quiet = *saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	return tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
}

static void echo_restore(FILE *in, const struct termios *saved)
{
	tcsetattr(fileno(in), TCSAFLUSH, saved);
	fputc('\n', stderr); /* the Enter that was not echoed */
}

int cli_ui_hash_password(FILE *in, FILE *out)
{
	char line[UIAUTH_PASSWORD_MAX + 2], hash[UIAUTH_HASH_MAX];
	struct termios saved;
	bool quiet;
	size_t n;
	int rc = 1;

	quiet = echo_off(in, &saved);
	if (quiet)
		fputs("password (not echoed): ", stderr);
	if (!fgets(line, sizeof(line), in))
		line[0] = '\0';
	if (quiet)
		echo_restore(in, &saved);
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
