/* cli_mcp_run: the private loop with the MCP client that a one-shot command runs (mcp list,
 * call and skill, doctor). */
#ifndef HERMETIC_CLI_MCP_RUN_H
#define HERMETIC_CLI_MCP_RUN_H

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

#endif
