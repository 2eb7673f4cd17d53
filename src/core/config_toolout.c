/* config_toolout: the `agent.tool_output` section, what becomes of a tool's whole output
 * when the model reads only an excerpt of it (core/toolout.h, docs/agent.md "Large tool
 * output"). Its own file because config_table.c is at the size limit.
 */
#include "core/config_int.h"

#include <stddef.h>

#define FLD(s, f) .off = offsetof(struct s, f)
#define OPTS(v)	  .opts = v, .n_opts = ARRAY_LEN(v)
#define MIB	  (1024LL * 1024)

static const struct opt tool_output_opts[] = {
	{"keep", T_BOOL, FLD(config_tool_output, keep), .def = "true",
	 .text = "keep a tool's whole output in home/tool-output/ when the model reads only an "
		 "excerpt (the excerpt's note names the file); false = keep nothing"},
	{"max_bytes", T_INT, FLD(config_tool_output, max_bytes), .def = "268435456", .min = MIB,
	 .max = 64 * 1024 * MIB,
	 .text = "the most one tool result may stream (an MCP message, a page); past it the "
		 "result is cut, and an MCP server's connection is closed"},
	{"keep_days", T_INT, FLD(config_tool_output, keep_days), .def = "7", .min = 1, .max = 3650,
	 .text = "kept outputs older than this many days are deleted"},
	{"keep_total_bytes", T_INT, FLD(config_tool_output, keep_total_bytes), .def = "1073741824",
	 .min = MIB, .max = 1024 * 1024 * MIB,
	 .text = "kept outputs beyond this total are deleted, oldest first"},
};

const struct table cfg_tool_output_table = {
	"tool_output", "agent.tool_output", OPTS(tool_output_opts),
	.text = "A tool's whole output when the model reads only an excerpt of it."};
