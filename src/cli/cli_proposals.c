/* cli_proposals: lists and decides proposals through tools_proposals_list and
 * tools_proposal_decide (src/tools/tool_proposals.c holds the logic, shared with Telegram's
 * /approve and /reject). */
#include "cli/cli_proposals.h"
#include "tools/tools.h"
#include "core/util.h"

#include <stdio.h>
#include <string.h>

int cli_proposals(const struct config *cfg, char **w, int n)
{
	struct buf out;
	FILE *to;
	int rc;

	if (n == 0 || (n == 1 && strcmp(w[0], "list") == 0)) {
		buf_init(&out, 0);
		rc = tools_proposals_list(cfg, &out);
	} else if (n == 2 && (strcmp(w[0], "approve") == 0 || strcmp(w[0], "reject") == 0)) {
		buf_init(&out, 0);
		rc = tools_proposal_decide(cfg, w[1], w[0][0] == 'a', &out);
	} else {
		fprintf(stderr,
			"usage: hermetic proposals [list|approve ID|reject ID] [--config FILE]\n");
		return 2;
	}
	to = rc < 0 ? stderr : stdout;
	fputs(buf_str(&out), to);
	if (out.len && out.data[out.len - 1] != '\n')
		fputc('\n', to);
	buf_finish(&out);
	return rc < 0 ? 1 : 0;
}
