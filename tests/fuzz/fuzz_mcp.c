/* Fuzzes what an MCP server can send us into model text: tools/call results and JSON-RPC
 * errors, with a small cap so the truncation path runs too. The first byte picks the cap. */
#include "mcp_render.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool is_error;
	size_t cap;
	char *s;

	if (size < 1)
		return 0;
	cap = (size_t)data[0] * 4 + 1;
	s = mcp_render_result((const char *)data + 1, size - 1, cap, &is_error);
	free(s);
	s = mcp_render_rpc_error((const char *)data + 1, size - 1, cap);
	free(s);
	return 0;
}
