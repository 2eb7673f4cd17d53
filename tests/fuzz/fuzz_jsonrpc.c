/* Fuzzes the MCP client's JSON-RPC dispatch: whatever a server sends (responses to unknown
 * ids, batches, requests, notifications, garbage) reaches mcp_transport_message() of a server
 * that has no open transport, so every answer path runs and nothing is sent. */
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "mcp/mcp.h"
#include "mcp/transport.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *cfg;
static struct loop *loop;
static struct mcp *mcp;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char yaml[] = "home: /tmp/fuzz-jsonrpc\n"
				   "mcp_servers:\n"
				   "  s: {url: \"http://127.0.0.1:1/mcp\"}\n";
	struct config_diag *d = config_diag_create();

	log_set_level(LOG_ERROR);
	log_set_stderr(0);
	if (config_parse("fuzz.yaml", yaml, strlen(yaml), &cfg, d) < 0)
		return 1;
	config_diag_destroy(d);
	loop = loop_create();
	mcp = mcp_create(cfg, loop, NULL, false);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mcp_transport_message(mcp_server_at(mcp, 0), (const char *)data, size);
	return 0;
}
