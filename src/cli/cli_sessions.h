/* cli_sessions: `hermetic sessions list|show ID|search WORDS`, read from home/state.db. */
#ifndef HERMETIC_CLI_SESSIONS_H
#define HERMETIC_CLI_SESSIONS_H

struct config;

/* words: "list", "show ID" or "search WORDS..." (n words). Returns the exit code. */
int cli_sessions(const struct config *cfg, char **words, int n);

#endif
