/* cli_mcp: the one-shot commands that talk to MCP servers: `hermetic mcp list`,
 * `hermetic mcp call`, and `hermetic doctor`. Each runs a private loop until done. */
#ifndef HERMETIC_CLI_MCP_H
#define HERMETIC_CLI_MCP_H

#include <stdbool.h>

struct config;

/* Exit code 0 when every enabled server connected, else 1. */
int cli_mcp_list(const struct config *cfg, bool json);
/* Exit code 0 on a successful call, 1 on a tool error or an unreachable server. */
int cli_mcp_call(const struct config *cfg, const char *server, const char *tool,
		 const char *args_json);
/* Checks the config's data directory and every MCP server; exit 1 if any check failed. */
int cli_doctor(const struct config *cfg);

#endif
