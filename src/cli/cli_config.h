/* cli_config: the `hermetic config check` summary (see cli_config.c). */
#ifndef HERMETIC_CLI_CONFIG_H
#define HERMETIC_CLI_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

struct config;

/* Prints the `hermetic config check` summary. Secrets appear only as "set"/"not set"; the
 * text goes through log_redact() before it is written. */
void cli_config_print_summary(const struct config *cfg, FILE *out);

/* `hermetic config check`: loads path (strict: unknown keys in LiteLLM's sections are errors),
 * writes the warnings and errors to err, then on success "PATH: ok", the LiteLLM
 * compatibility summary and the summary to out. Returns the exit status: 0, or 1 when the
 * config does not load. */
int cli_config_check(const char *path, bool strict, FILE *out, FILE *err);

#endif
