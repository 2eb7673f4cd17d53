/* cli_ui: `hermetic ui hash-password`, the value of ui.password_hash for the cockpit. */
#ifndef HERMETIC_CLI_UI_H
#define HERMETIC_CLI_UI_H

#include <stdio.h>

/* Reads one line (the password) from in and prints its hash to out. Returns the exit status:
 * 0, or 1 after saying what was wrong on stderr (empty or too long, no randomness). */
int cli_ui_hash_password(FILE *in, FILE *out);

#endif
