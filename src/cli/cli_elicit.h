/* cli_elicit: `hermetic mcp call --elicit ask|defaults|decline`: how a one-shot call answers
 * the questions its server asks (MCP elicitation). ask: one prompt per field on stderr, the
 * answers read as lines from stdin on the loop (booleans y/n, enums by number, value or
 * title, Enter = the field's default, "/decline", "/cancel", end of input = cancel); defaults:
 * accept with the schema's defaults (a required field without one: decline); decline: decline.
 */
#ifndef HERMETIC_CLI_ELICIT_H
#define HERMETIC_CLI_ELICIT_H

#include "mcp/mcp.h"

enum cli_elicit_mode { CLI_ELICIT_AUTO, CLI_ELICIT_ASK, CLI_ELICIT_DEFAULTS, CLI_ELICIT_DECLINE };

struct loop;
struct cli_elicit;

/* Parses "ask", "defaults" or "decline"; -1 for anything else. */
int cli_elicit_mode_parse(const char *s);
/* AUTO becomes ask when stdin is a terminal, else decline. Fills cbs for mcp_set_elicit. */
struct cli_elicit *cli_elicit_create(struct loop *loop, enum cli_elicit_mode mode,
				     struct mcp_elicit_cbs *cbs);
/* Accepts NULL. After mcp_destroy (which withdraws what is still asked). */
void cli_elicit_destroy(struct cli_elicit *e);

#endif
