/* Fuzz target of mcp_big, the scanner of oversized MCP messages: the first byte picks how the
 * rest is split into feeds; the split scan must give exactly the return value, the reason and
 * the standing message of a scan in one feed, that message must be JSON a parser accepts, and
 * nothing may crash, leak or read out of bounds. Small caps (256-byte excerpts, 1 MiB
 * messages) and agent.tool_output.keep off, so notes and cuts are reached and no file is
 * written. Seeds: tests/fuzz/corpus/mcp_big/.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/json.h"
#include "mcp/mcp_big.h"

#include <cjson/cJSON.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct scan {
	int rc;
	char *msg;
	size_t len;
	char why[160];
};

static void scan(const struct config *cfg, const char *in, size_t len, size_t step, struct scan *s)
{
	struct mcp_big *b = mcp_big_create(cfg, "fuzz");
	size_t at;

	s->rc = 0;
	for (at = 0; at < len && s->rc == 0; at += step)
		s->rc = mcp_big_feed(b, in + at, step < len - at ? step : len - at);
	s->msg = s->rc == 0 ? mcp_big_finish(b, &s->len) : NULL;
	strncpy(s->why, mcp_big_why(b), sizeof(s->why) - 1);
	s->why[sizeof(s->why) - 1] = '\0';
	mcp_big_destroy(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	struct scan whole, split;
	size_t step;

	if (size < 1)
		return 0;
	cfg.home = "/nonexistent";
	cfg.agent.tool_result_max_bytes = 256;
	cfg.agent.tool_output.keep = false;
	cfg.agent.tool_output.max_bytes = 1024 * 1024;
	step = (size_t)data[0] % 17 + 1;
	scan(&cfg, (const char *)data + 1, size - 1, size, &whole);
	scan(&cfg, (const char *)data + 1, size - 1, step, &split);
	if (whole.rc != split.rc || strcmp(whole.why, split.why) != 0 || !whole.msg != !split.msg ||
	    (whole.msg && (whole.len != split.len || memcmp(whole.msg, split.msg, whole.len))))
		abort();
	if (whole.msg) {
		cJSON *j = json_parse(whole.msg, whole.len, 0, NULL);

		if (!j)
			abort();
		cJSON_Delete(j);
	}
	free(whole.msg);
	free(split.msg);
	return 0;
}
