/* cli_chat_gw: `hermetic chat` through the running gateway (its rate pools shared). */
#ifndef HERMETIC_CLI_CHAT_GW_H
#define HERMETIC_CLI_CHAT_GW_H

#include <stdbool.h>

struct config;

/* Whether the config's gateway (api.listen, with api.key) answers with this key (2 s at most).
 * A gateway that answers another status (a wrong api.key) is told in one warning line on
 * stderr; false then, and when none answers or api.key is not set. */
bool cli_chat_gw_probe(const struct config *cfg);
/* prompt NULL = REPL on stdin (session "cli:<unix user>"), else one turn in a fresh session.
 * model NULL = the session's. Returns the exit code: 0 after an answer, 1 on failure. */
int cli_chat_gw(const struct config *cfg, const char *prompt, const char *model);

#endif
