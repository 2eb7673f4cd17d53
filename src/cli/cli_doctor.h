/* cli_doctor: `hermetic doctor`. */
#ifndef HERMETIC_CLI_DOCTOR_H
#define HERMETIC_CLI_DOCTOR_H

struct config;

/* Checks the config's data directory, the sandbox, every MCP server, the tool count and the
 * OpenRouter keys' limits, printing one line each; exit code 1 if any check failed. */
int cli_doctor(const struct config *cfg);

#endif
