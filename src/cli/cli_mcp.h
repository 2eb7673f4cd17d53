/* cli_mcp: the one-shot commands that talk to MCP servers: `hermetic mcp list` and
 * `hermetic mcp call`. Each runs a private loop (cli_mcp_run.h) until done. */
#ifndef HERMETIC_CLI_MCP_H
#define HERMETIC_CLI_MCP_H

#include <stdbool.h>

struct config;

/* Prints a server's error and a newline; its further lines (stderr) indented below it. */
void cli_mcp_print_error(const char *error);

/* Exit code 0 when every enabled server connected, else 1. */
int cli_mcp_list(const struct config *cfg, bool json);
/* Exit code 0 on a successful call, 1 on a tool error or an unreachable server. elicit: an
 * enum cli_elicit_mode, how the server's questions are answered (cli_elicit.h). */
int cli_mcp_call(const struct config *cfg, const char *server, const char *tool,
		 const char *args_json, int elicit);

#endif
