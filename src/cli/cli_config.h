/* cli_config: the `hermetic config check` summary (see cli_config.c). */
#ifndef HERMETIC_CLI_CONFIG_H
#define HERMETIC_CLI_CONFIG_H

#include <stdio.h>

struct config;

/* Prints the `hermetic config check` summary. Secrets appear only as "set"/"not set"; the
 * text goes through log_redact() before it is written. */
void cli_config_print_summary(const struct config *cfg, FILE *out);

#endif
