/* cli_mcp: the one-shot commands that talk to MCP servers: `hermetic mcp list` and
 * `hermetic mcp call`. Each runs a private loop until done; doctor uses the same loop. */
#ifndef HERMETIC_CLI_MCP_H
#define HERMETIC_CLI_MCP_H

#include <stdbool.h>

struct config;
struct loop;
struct mcp;

/* A private loop with the MCP client of a one-shot command. Fields are the caller's to read. */
struct cli_mcp_run {
	struct loop *loop;
	struct mcp *mcp;
	int rc;
	bool finished;
};

/* Creates the loop and the client and connects every server; returns once all settled (each
 * bounded by its connect_timeout). 0, or -1 when no loop could be made (nothing to finish). */
int cli_mcp_run_start(struct cli_mcp_run *r, const struct config *cfg);
/* Closes the servers gracefully (every child killed and reaped) and frees the loop. */
void cli_mcp_run_finish(struct cli_mcp_run *r);
/* Prints a server's error and a newline; its further lines (stderr) indented below it. */
void cli_mcp_print_error(const char *error);

/* Exit code 0 when every enabled server connected, else 1. */
int cli_mcp_list(const struct config *cfg, bool json);
/* Exit code 0 on a successful call, 1 on a tool error or an unreachable server. elicit: an
 * enum cli_elicit_mode, how the server's questions are answered (cli_elicit.h). */
int cli_mcp_call(const struct config *cfg, const char *server, const char *tool,
		 const char *args_json, int elicit);

#endif
