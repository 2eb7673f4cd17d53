/* Fuzzes what an MCP server can send us into model text: tools/call results and JSON-RPC
 * errors, with a small cap so the truncation path runs too. The first byte picks the cap.
 * Also: json_exact's print of its parse is JSON that cJSON reads back as the same tree, and
 * a description cut stays within its cap. */
#include "core/json_exact.h"
#include "mcp/mcp_render.h"
#include "core/util.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exact_roundtrip(const char *text, size_t len)
{
	cJSON *root = json_exact_parse(text, len), *plain, *again;
	char *out, *a, *b;

	if (!root)
		return;
	out = json_exact_print(root);
	again = out ? cJSON_Parse(out) : NULL;
	if (!again)
		abort();
	/* Same tree: cJSON prints both alike (the same number texts give the same doubles). */
	plain = cJSON_ParseWithLength(text, len);
	a = cJSON_PrintUnformatted(plain);
	b = cJSON_PrintUnformatted(again);
	if (strcmp(a, b) != 0)
		abort();
	free(a);
	free(b);
	cJSON_Delete(again);
	cJSON_Delete(plain);
	free(out);
	cJSON_Delete(root);
}

static void description(const char *s, size_t cap)
{
	char *d = mcp_render_description(s, cap);

	if (strlen(d) > (strlen(s) <= cap ? strlen(s) : cap))
		abort();
	free(d);
}

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
	exact_roundtrip((const char *)data + 1, size - 1);
	s = xstrndup((const char *)data + 1, size - 1);
	description(s, cap);
	free(s);
	return 0;
}
