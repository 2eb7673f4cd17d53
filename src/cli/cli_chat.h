/* cli_chat: `hermetic chat [-q PROMPT] [-m MODEL]`: one turn with -q, else a line REPL. */
#ifndef HERMETIC_CLI_CHAT_H
#define HERMETIC_CLI_CHAT_H

struct config;

/* prompt NULL = REPL on stdin. model NULL = the session's or cfg->model. Returns the exit
 * code: 0 after an answer (also one cut short by a limit, which says so), 1 when the turn
 * failed or was cancelled, 130 after Ctrl-C at the prompt. */
int cli_chat(const struct config *cfg, const char *prompt, const char *model);

#endif
