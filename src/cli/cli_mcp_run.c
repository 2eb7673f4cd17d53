/* cli_mcp_run: the private loop a one-shot command runs the MCP client on (`mcp list`,
 * `mcp call`, `mcp skill`, doctor's MCP checks): the loop and the client created, signed in
 * with the stored OAuth tokens, every server connected or failed before it returns; closed
 * gracefully at the end. Apart from cli_mcp.c so that the commands built on it (cli_mcp.c,
 * cli_mcp_skill.c, cli_doctor.c) call it and never each other in a circle.
 */
#include "cli/cli_mcp_run.h"
#include "cli/cli_mcp_oauth.h"
#include "core/loop.h"
#include "mcp/mcp.h"

int cli_mcp_run_start(struct cli_mcp_run *r, const struct config *cfg)
{
	r->loop = loop_create();
	if (!r->loop)
		return -1;
	r->mcp = mcp_create(cfg, r->loop, NULL, false);
	cli_mcp_oauth_prepare(cfg, r->loop, r->mcp);
	mcp_start_and_wait(r->mcp);
	return 0;
}

void cli_mcp_run_finish(struct cli_mcp_run *r)
{
	mcp_destroy(r->mcp);
	loop_destroy(r->loop);
}
