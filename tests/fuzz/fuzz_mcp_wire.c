/* Fuzz target of the 2026-07-28 wire's header rules (mcp/mcp_wire.c): any bytes, split at the
 * first NUL into a JSON-RPC message and a tool's inputSchema, must never crash, leak or read
 * out of bounds; every header line made is one line (no CR or LF: a value that has them goes
 * as base64), and a schema the check refuses yields no Mcp-Param-* line.
 * Build: meson setup -Dfuzz=true (tests/meson.build).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_exact.h"
#include "mcp/mcp_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, 0, size);
	size_t msg_len = nul ? (size_t)(nul - (const char *)data) : size;
	char *schema = nul ? strndup(nul + 1, size - msg_len - 1) : NULL;
	cJSON *s = schema ? json_exact_parse(schema, strlen(schema)) : NULL;
	char why[200], **h;
	int valid = s && mcp_wire_check_headers(s, why, sizeof(why)) == 0;

	h = mcp_wire_headers((const char *)data, msg_len, schema);
	for (char **p = h; p && *p; p++) {
		if (strpbrk(*p, "\r\n"))
			abort();
		if (!valid && strncmp(*p, "Mcp-Param-", 10) == 0)
			abort();
	}
	mcp_wire_free_headers(h);
	cJSON_Delete(s);
	free(schema);
	return 0;
}
